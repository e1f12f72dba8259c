//! One sweep for secrets. Every auth method (sid, API token, Bearer, login, JWT) goes through
//! every CLI path that touches it — `watch --json --record`, `diagnose --json`, `diagnose
//! --fix`, `emit`, and a saved environment (`env add`, `env show`, `env list`, `env
//! set-secret`, `watch --env` with the secret from `SOCKEYE_SECRET_<NAME>` and from a
//! credentials file) — with logging at trace level for every crate (`SOCKEYE_LOG=trace`).
//! Then every stdout, every stderr log, the config file and every recording is searched for
//! each secret, and for the sids the site handed out at login: none may appear.
//!
//! The app's side of the same sweep is in `tests/ui/citizen.mjs`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{joined, left};
use sockeye_sim::config::{DEFAULT_USER, Mode, SimConfig};
use sockeye_sim::{Sim, SimOptions};

const SID: &str = "sweep-sid-5f1c9e";
const API_KEY: &str = "sweepkey";
const API_SECRET: &str = "sweep-api-secret-83b2";
const BEARER: &str = "sweep-bearer-a41d";
const PASSWORD: &str = "sweep-pass-77e0";
const JWT_SIGNING: &str = "sweep-jwt-signing-9c3f";

/// Every output of the sweep, labelled for the failure message.
#[derive(Default)]
struct Outputs(Vec<(String, String)>);

impl Outputs {
    fn add(&mut self, what: &str, o: &Output) {
        self.0.push((format!("{what} (stdout)"), String::from_utf8_lossy(&o.stdout).into()));
        self.0.push((format!("{what} (stderr)"), String::from_utf8_lossy(&o.stderr).into()));
    }

    fn file(&mut self, what: &str, path: &Path) {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{what}: {} unreadable: {e}", path.display()));
        self.0.push((format!("{what} ({})", path.display()), text));
    }

    fn assert_free_of(&self, secrets: &[String]) {
        let total: usize = self.0.iter().map(|(_, t)| t.len()).sum();
        assert!(total > 100_000, "trace logging was on: {total} bytes of output only");
        for (what, text) in &self.0 {
            for s in secrets {
                if let Some(at) = text.find(s.as_str()) {
                    let from = text[..at].char_indices().rev().nth(200).map_or(0, |(i, _)| i);
                    let to = (at + s.len() + 200).min(text.len());
                    let to = (to..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap();
                    panic!("secret {s:?} in {what}:\n…{}…", &text[from..to]);
                }
            }
        }
    }
}

/// `sockeye-cli` at trace level, with `config` as its config file.
fn run(args: &[&str], config: &Path, env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut all = vec![("SOCKEYE_LOG", "trace")];
    all.extend_from_slice(env);
    common::cli_env(args, config, &all, stdin)
}

async fn run_async(
    args: Vec<String>,
    config: PathBuf,
    env: Vec<(String, String)>,
    stdin: Option<String>,
) -> Output {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run(&a, &config, &e, stdin.as_deref())
    })
    .await
    .unwrap()
}

/// One auth method: its command-line flags, stdin, the saved profile's flags and secret.
struct Method {
    name: &'static str,
    flags: Vec<String>,
    stdin: Option<String>,
    profile: Vec<String>,
    secret: String,
}

fn frappe_methods() -> Vec<Method> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let token = format!("{API_KEY}:{API_SECRET}");
    vec![
        Method {
            name: "sid",
            flags: s(&["--sid", SID]),
            stdin: None,
            profile: s(&["--auth", "sid"]),
            secret: SID.into(),
        },
        Method {
            name: "token",
            flags: s(&["--token", &token]),
            stdin: None,
            profile: s(&["--auth", "token", "--key", API_KEY]),
            secret: API_SECRET.into(),
        },
        Method {
            name: "bearer",
            flags: s(&["--bearer", BEARER]),
            stdin: None,
            profile: s(&["--auth", "bearer"]),
            secret: BEARER.into(),
        },
        Method {
            name: "login",
            flags: s(&["--user", DEFAULT_USER, "--password-stdin"]),
            stdin: Some(format!("{PASSWORD}\n")),
            profile: s(&["--auth", "login", "--user", DEFAULT_USER]),
            secret: PASSWORD.into(),
        },
    ]
}

fn frappe_sim_config() -> SimConfig {
    let mut c = SimConfig::default();
    c.add_session(SID, DEFAULT_USER);
    c.api_tokens.insert(format!("{API_KEY}:{API_SECRET}"), DEFAULT_USER.into());
    c.bearer_tokens.insert(BEARER.into(), DEFAULT_USER.into());
    c.users.get_mut(DEFAULT_USER).unwrap().password = Some(PASSWORD.into());
    c
}

/// A `watch` run: what it is called in a failure, its arguments, environment and stdin.
struct WatchRun {
    what: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
}

/// `watch --json --record` until one event arrived; `publish` sends it once the watcher is
/// in `room`.
async fn watch_one<R>(
    out: &mut Outputs,
    config: &Path,
    sim: &Sim,
    room: &str,
    w: WatchRun,
    publish: impl AsyncFnOnce() -> R,
) {
    let WatchRun { what, mut args, env, stdin } = w;
    let rec = config.with_file_name(format!("{}.jsonl", what.replace([' ', '(', ')'], "-")));
    let tail = ["--json", "--count", "1", "--timeout", "30", "--record", rec.to_str().unwrap()];
    args.extend(tail.iter().map(|s| s.to_string()));
    // The last run's socket may still be leaving: publish only to this run's.
    left(sim, room).await;
    let w = tokio::spawn(run_async(args, config.to_path_buf(), env, stdin));
    joined(sim, room, 1).await;
    publish().await;
    let o = w.await.unwrap();
    assert_eq!(o.status.code(), Some(0), "{what}: {}", String::from_utf8_lossy(&o.stderr));
    out.add(&what, &o);
    out.file(&format!("{what} recording"), &rec);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_any_auth_method_reaches_an_output_a_log_a_config_or_a_recording() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let mut out = Outputs::default();
    let mut secrets: Vec<String> =
        vec![SID.into(), API_SECRET.into(), BEARER.into(), PASSWORD.into(), JWT_SIGNING.into()];

    let sim =
        Sim::start(SimOptions { config: frappe_sim_config(), ..Default::default() }).await.unwrap();
    let url = sim.url();
    let room = "doc:Raven Channel/general";
    for m in frappe_methods() {
        let mut args: Vec<String> = vec!["watch".into(), "--url".into(), url.clone()];
        args.extend(["--channel".into(), "general".into()]);
        args.extend(m.flags.iter().cloned());
        let send = async || sim.send_message("general", "bob@example.com", "<p>hi</p>").await;
        let w = WatchRun {
            what: format!("watch {}", m.name),
            args,
            env: vec![],
            stdin: m.stdin.clone(),
        };
        watch_one(&mut out, &config, &sim, room, w, send).await;

        let with = |cmd: &[&str]| {
            let mut a: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            a.extend(["--url".into(), url.clone()]);
            a.extend(m.flags.iter().cloned());
            a
        };
        for (what, args) in [
            ("diagnose --json", with(&["diagnose", "--json"])),
            ("diagnose --fix", with(&["diagnose", "--fix"])),
            ("emit", {
                let mut a = with(&["emit"]);
                a.extend(["ping".into(), "--listen".into(), "1".into()]);
                a
            }),
        ] {
            let o = run_async(args, config.clone(), vec![], m.stdin.clone()).await;
            let said = String::from_utf8_lossy(&o.stdout);
            let ran = match what {
                "diagnose --json" => serde_json::from_str::<serde_json::Value>(&said).is_ok(),
                "emit" => said.contains("pong"),
                _ => o.status.code() == Some(0),
            };
            assert!(ran, "{what} {}: {said}{}", m.name, String::from_utf8_lossy(&o.stderr));
            out.add(&format!("{what} {}", m.name), &o);
        }

        // A saved environment: the secret from the environment variable, then from a
        // credentials file; whatever `set-secret` says (here, usually: no keyring) is searched.
        let env_name = format!("sweep-{}", m.name);
        let mut add = vec!["env", "add", &env_name, "--url", &url, "--channel", "general"];
        add.extend(m.profile.iter().map(String::as_str));
        let o = run(&add, &config, &[], None);
        assert!(o.status.success(), "env add {}: {}", m.name, String::from_utf8_lossy(&o.stderr));
        out.add(&format!("env add {}", m.name), &o);
        let o = run(&["env", "set-secret", &env_name], &config, &[], Some(&m.secret));
        out.add(&format!("env set-secret {}", m.name), &o);
        let var = sockeye_core::secrets::env_var_for(&env_name);
        let by_env = vec!["watch".to_string(), "--env".into(), env_name.clone()];
        let send = async || sim.send_message("general", "bob@example.com", "<p>hi</p>").await;
        let what = format!("watch --env {} (variable)", m.name);
        let env = vec![(var, m.secret.clone())];
        let w = WatchRun { what, args: by_env.clone(), env, stdin: None };
        watch_one(&mut out, &config, &sim, room, w, send).await;

        let creds = dir.path().join(format!("{env_name}.credentials"));
        std::fs::write(&creds, format!("{env_name:?} = {:?}\n", m.secret)).unwrap();
        std::fs::set_permissions(&creds, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut by_file = by_env;
        by_file.extend(["--credentials".into(), creds.to_str().unwrap().into()]);
        let what = format!("watch --env {} (credentials file)", m.name);
        let send = async || sim.send_message("general", "bob@example.com", "<p>hi</p>").await;
        let w = WatchRun { what, args: by_file, env: vec![], stdin: None };
        watch_one(&mut out, &config, &sim, room, w, send).await;
    }
    // A credential as an extra header is refused, and the refusal does not repeat it.
    let hdr = format!("Authorization: Bearer {BEARER}");
    let o =
        run(&["env", "add", "sweep-header", "--url", &url, "--header", &hdr], &config, &[], None);
    assert!(!o.status.success(), "a credential header is refused");
    out.add("env add --header", &o);
    for args in
        [["env", "list"].as_slice(), &["env", "show", "sweep-login"], &["env", "show", "sweep-sid"]]
    {
        let o = run(args, &config, &[], None);
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        out.add(&args.join(" "), &o);
    }
    out.file("the config file", &config);
    // The sessions the site created for our logins are secrets too.
    let handed_out: Vec<String> = sim
        .state()
        .config()
        .sessions
        .keys()
        .filter(|s| !SimConfig::default().sessions.contains_key(*s))
        .cloned()
        .collect();
    assert!(handed_out.len() > 1, "logins made sessions: {handed_out:?}");
    secrets.extend(handed_out);
    sim.shutdown().await;

    // A generic Socket.IO server with a JWT `auth` payload.
    let jwt_config =
        SimConfig { mode: Mode::Jwt, jwt_secret: JWT_SIGNING.into(), ..Default::default() };
    let sim = Sim::start(SimOptions { config: jwt_config, ..Default::default() }).await.unwrap();
    let token = sockeye_sim::jwt::mint(Some("agent-user"), JWT_SIGNING, 3600);
    let url = sim.url();
    let args: Vec<String> =
        ["watch", "--url", &url, "--jwt", &token].iter().map(|s| s.to_string()).collect();
    let send = async || {
        let _ = sim.state().emit_args(None, Some("user:agent-user"), "agent:step", &[]).await;
    };
    let w = WatchRun { what: "watch jwt".into(), args, env: vec![], stdin: None };
    watch_one(&mut out, &config, &sim, "user:agent-user", w, send).await;
    let o = run_async(
        ["diagnose", "--json", "--url", &url, "--jwt", &token]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        config.clone(),
        vec![],
        None,
    )
    .await;
    out.add("diagnose jwt", &o);
    // The token whole, and its signature (the part that proves it).
    secrets.push(token.clone());
    secrets.push(token.rsplit('.').next().unwrap().to_string());
    sim.shutdown().await;

    out.assert_free_of(&secrets);
}
