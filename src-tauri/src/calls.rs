//! The page's commands by name: what the window process passes on (see
//! `sockeye_core::window_link`) is read here into each command's arguments — named as the
//! page names them, camelCase as Tauri's `invoke` does — run, and answered as JSON text.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use sockeye_core::profile_edit::ProfileEdit;
use sockeye_core::window_link;

use crate::app_state::Manager;
use crate::commands::{self as c, Settings};
use crate::commands_link as l;
use crate::error::{AppError, Result};

#[derive(Deserialize)]
struct Name {
    name: String,
}

#[derive(Deserialize)]
struct Mark {
    name: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct ViewState {
    state: serde_json::Value,
}

#[derive(Deserialize)]
struct Pull {
    window: u64,
}

#[derive(Deserialize)]
struct RunKey {
    env: String,
    id: String,
}

#[derive(Deserialize)]
struct Input {
    input: String,
}

#[derive(Deserialize)]
struct Save {
    name: String,
    edit: ProfileEdit,
    secret: Option<String>,
}

#[derive(Deserialize)]
struct Diagnose {
    names: Vec<String>,
    deep: bool,
}

#[derive(Deserialize)]
struct Channels {
    name: String,
    refresh: bool,
}

#[derive(Deserialize)]
struct Watch {
    name: String,
    channel: String,
}

#[derive(Deserialize)]
struct SettingsArg {
    settings: Settings,
}

#[derive(Deserialize)]
struct Url {
    url: String,
}

#[derive(Deserialize)]
struct Query {
    name: String,
    text: String,
    limit: usize,
}

#[derive(Deserialize)]
struct Record {
    name: String,
    path: Option<String>,
}

#[derive(Deserialize)]
struct Text {
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Emit {
    name: String,
    event: String,
    args: String,
    ack_secs: Option<f64>,
    confirmed: bool,
}

/// Run the page's command `cmd` with `args` (a JSON object); its result as JSON text, or
/// the error's message.
pub async fn call(m: &Arc<Manager>, cmd: &str, args: &RawValue) -> Result<Box<RawValue>> {
    match cmd {
        "app_info" => out(c::app_info(m).await?),
        "bench_mark" => {
            let a: Mark = read(cmd, args)?;
            c::bench_mark(a.name, a.data);
            out(())
        }
        "set_view_state" => {
            c::set_view_state(m, read::<ViewState>(cmd, args)?.state);
            out(())
        }
        "subscribe" => out(c::subscribe(m).await?),
        "next_batch" => {
            // A new page pulls once it has restored the last view: a navigation asked for
            // while the window was being built goes now, and is not undone by that restore.
            m.window.navigate_pending();
            c::next_batch(m, read::<Pull>(cmd, args)?.window).await
        }
        "run_view" => {
            let a: RunKey = read(cmd, args)?;
            out(c::run_view(m, a.env, a.id).await?)
        }
        "list_envs" => out(c::list_envs(m).await?),
        "set_active" => out(c::set_active(m, read::<Name>(cmd, args)?.name)?),
        "reconnect" => out(c::reconnect(m, read::<Name>(cmd, args)?.name)?),
        "normalize_url" => out(c::normalize_url(read::<Input>(cmd, args)?.input)?),
        "save_env" => {
            let a: Save = read(cmd, args)?;
            out(c::save_env(m, a.name, a.edit, a.secret).await?)
        }
        "remove_env" => out(c::remove_env(m, read::<Name>(cmd, args)?.name)?),
        "run_diagnostics" => {
            let a: Diagnose = read(cmd, args)?;
            out(c::run_diagnostics(m, a.names, a.deep).await?)
        }
        "list_channels" => {
            let a: Channels = read(cmd, args)?;
            out(c::list_channels(m, a.name, a.refresh).await?)
        }
        "watch_channel" => {
            let a: Watch = read(cmd, args)?;
            out(c::watch_channel(m, a.name, a.channel)?)
        }
        "get_settings" => out(c::get_settings(m)),
        "set_settings" => out(c::set_settings(m, read::<SettingsArg>(cmd, args)?.settings)?),
        "open_link" => out(c::open_link(read::<Url>(cmd, args)?.url)?),
        "query_log" => {
            let a: Query = read(cmd, args)?;
            out(c::query_log(m, a.name, a.text, a.limit).await?)
        }
        "clear_log" => out(c::clear_log(m)),
        "export_log" => out(c::export_log(m).await?),
        "record_start" => {
            let a: Record = read(cmd, args)?;
            out(l::record_start(m, a.name, a.path)?)
        }
        "record_stop" => out(l::record_stop(m, read::<Name>(cmd, args)?.name)),
        "recordings" => out(l::recordings(m)),
        "check_emit_args" => out(l::check_emit_args(read::<Text>(cmd, args)?.text)),
        "emit" => {
            let a: Emit = read(cmd, args)?;
            out(l::emit(m, a.name, a.event, a.args, a.ack_secs, a.confirmed).await?)
        }
        "emit_history" => out(l::emit_history(m)),
        other => Err(AppError::Invalid(format!("no command named {other:?}"))),
    }
}

fn read<T: DeserializeOwned>(cmd: &str, args: &RawValue) -> Result<T> {
    serde_json::from_str(args.get())
        .map_err(|e| AppError::Invalid(format!("{cmd}: arguments that do not read: {e}")))
}

fn out<T: serde::Serialize>(value: T) -> Result<Box<RawValue>> {
    window_link::json(&value).map_err(|e| AppError::Invalid(format!("an answer: {e}")))
}

#[cfg(test)]
mod tests {
    /// Every command the page invokes has its arm in [`super::call`] (a name mistyped on
    /// either side would only show as an error in the window).
    #[test]
    fn every_command_the_page_invokes_is_routed() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui");
        let mut files = vec![root.join("app.js"), root.join("store.js"), root.join("bench.js")];
        for e in std::fs::read_dir(root.join("views")).unwrap() {
            files.push(e.unwrap().path());
        }
        let routes = include_str!("calls.rs");
        let mut seen = 0;
        for f in files {
            let js = std::fs::read_to_string(&f).unwrap();
            for part in js.split("invoke(").skip(1) {
                // `invoke("name", …)`, or `invoke(cond ? "a" : "b", …)`.
                let call = &part[..part.find([',', ')']).unwrap_or(part.len())];
                for name in call.split('"').skip(1).step_by(2) {
                    seen += 1;
                    assert!(
                        routes.contains(&format!("\"{name}\" =>")),
                        "{}: the page invokes {name:?}, which `call` does not route",
                        f.display()
                    );
                }
            }
        }
        assert!(seen >= 25, "only {seen} invocations found: has the page's code moved?");
    }
}
