//! The tray icon: aggregate state at a glance, and a menu to switch, reconnect, diagnose,
//! mute, show and quit. A StatusNotifierItem on the session bus (ksni), which is what GNOME's
//! AppIndicator extension, KDE, XFCE and the wlroots bars show — and no GTK in this process.
//! Linux shows no tooltips everywhere, so the state is also in the title. Labels and tones
//! come from the core's view models.

use std::sync::Arc;

use ksni::menu::{CheckmarkItem, StandardItem};
use ksni::{Icon, MenuItem, TrayMethods};
use sockeye_core::views::{self, Tone};
use tokio::sync::{Notify, mpsc};

use crate::app_state::{EnvView, Manager};

/// What a menu item asks for (handled on the runtime, with the manager).
#[derive(Debug)]
enum Action {
    Activate(String),
    Reconnect,
    Diagnose,
    Mute,
    Show,
    Quit,
}

/// What the tray shows; ksni reads it on the bus's request.
struct Model {
    envs: Vec<(String, String, bool)>,
    muted: bool,
    tone: Tone,
    title: String,
    icons: Arc<[(Tone, Icon)]>,
    actions: mpsc::UnboundedSender<Action>,
}

fn decode(png: &[u8]) -> Icon {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().expect("bundled PNG");
    let mut rgba = vec![0; reader.output_buffer_size().expect("bundled PNG size")];
    let info = reader.next_frame(&mut rgba).expect("bundled PNG");
    let channels = info.color_type.samples();
    // StatusNotifierItem pixmaps are ARGB32 in network byte order.
    let data = rgba[..info.buffer_size()]
        .chunks_exact(channels)
        .flat_map(|p| match p {
            [g, a] => [*a, *g, *g, *g],
            [r, g, b, a] => [*a, *r, *g, *b],
            _ => [0, 0, 0, 0],
        })
        .collect();
    Icon { width: info.width as i32, height: info.height as i32, data }
}

fn icons() -> Arc<[(Tone, Icon)]> {
    [
        (Tone::Ok, &include_bytes!("../../icons/tray-connected.png")[..]),
        (Tone::Busy, &include_bytes!("../../icons/tray-connecting.png")[..]),
        (Tone::Degraded, &include_bytes!("../../icons/tray-degraded.png")[..]),
        (Tone::Down, &include_bytes!("../../icons/tray-down.png")[..]),
        (Tone::Muted, &include_bytes!("../../icons/tray-muted.png")[..]),
    ]
    .into_iter()
    .map(|(t, png)| (t, decode(png)))
    .collect()
}

impl Model {
    fn item(&self, label: impl Into<String>, action: fn() -> Action) -> MenuItem<Model> {
        StandardItem {
            label: label.into(),
            activate: Box::new(move |m: &mut Model| {
                let _ = m.actions.send(action());
            }),
            ..Default::default()
        }
        .into()
    }
}

impl ksni::Tray for Model {
    // A click opens the menu, as the menu is the tray's whole interface.
    const MENU_ON_ACTIVATE: bool = true;

    fn id(&self) -> String {
        "sockeye".into()
    }

    fn title(&self) -> String {
        self.title.clone()
    }

    fn icon_pixmap(&self) -> Vec<Icon> {
        self.icons.iter().filter(|(t, _)| *t == self.tone).map(|(_, i)| i.clone()).collect()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip { title: format!("Sockeye — {}", self.title), ..Default::default() }
    }

    fn menu(&self) -> Vec<MenuItem<Self>> {
        let mut items: Vec<MenuItem<Self>> = self
            .envs
            .iter()
            .map(|(name, line, active)| {
                let mark = if *active { "● " } else { "   " };
                let name = name.clone();
                StandardItem {
                    label: format!("{mark}{name} — {line}"),
                    activate: Box::new(move |m: &mut Model| {
                        let _ = m.actions.send(Action::Activate(name.clone()));
                    }),
                    ..Default::default()
                }
                .into()
            })
            .collect();
        items.push(MenuItem::Separator);
        items.push(self.item("Reconnect now", || Action::Reconnect));
        items.push(self.item("Run diagnostics", || Action::Diagnose));
        items.push(
            CheckmarkItem {
                label: "Mute notifications".into(),
                checked: self.muted,
                activate: Box::new(|m: &mut Model| {
                    let _ = m.actions.send(Action::Mute);
                }),
                ..Default::default()
            }
            .into(),
        );
        items.push(MenuItem::Separator);
        items.push(self.item("Show window", || Action::Show));
        items.push(self.item("Quit", || Action::Quit));
        items
    }
}

fn line(e: &EnvView) -> String {
    e.link.as_ref().map(|l| l.short()).unwrap_or_else(|| "starting".into())
}

async fn on_action(m: &Arc<Manager>, action: Action) {
    match action {
        Action::Reconnect => {
            if let Some(a) = m.active()
                && let Ok(s) = m.session(&a)
            {
                s.reconnect_now();
            }
        }
        Action::Diagnose => m.window.show_view(m, "diagnostics"),
        Action::Mute => {
            let settings = m.with_config(|c| {
                c.settings.notifications.muted = !c.settings.notifications.muted;
                c.settings.notifications.clone()
            });
            m.notifier.settings(settings);
            // Muting works for this run either way; only keeping it for the next can fail
            // (a config file that does not read is never overwritten).
            if let Err(e) = m.save_config() {
                tracing::warn!("mute is not kept for the next start: {e:#}");
            }
            m.window.emit("sockeye://settings", &crate::commands::settings_of(m));
            m.pipe.state_changed();
        }
        Action::Show => {
            m.window.show(m);
        }
        Action::Quit => crate::quit(m.clone()).await,
        Action::Activate(name) => {
            let _ = m.set_active(&name);
        }
    }
}

/// Run the tray: the icon, title and menu follow every state change (`changed` is notified
/// by the pipeline; bursts of changes make one redraw). Without a StatusNotifierItem host
/// (no desktop yet, or none that shows them) Sockeye runs on, and the icon appears when a
/// host does.
pub fn spawn(m: Arc<Manager>, changed: Arc<Notify>) {
    let (actions, mut actions_rx) = mpsc::unbounded_channel();
    let model = Model {
        envs: Vec::new(),
        muted: false,
        tone: Tone::Busy,
        title: crate::APP_NAME.into(),
        icons: icons(),
        actions,
    };
    let m2 = m.clone();
    tokio::spawn(async move {
        while let Some(a) = actions_rx.recv().await {
            on_action(&m2, a).await;
        }
    });
    tokio::spawn(async move {
        let tray = match model.assume_sni_available(true).spawn().await {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!("no tray icon: {e}");
                None
            }
        };
        loop {
            let envs = m.views();
            let muted = m.with_config(|c| c.settings.notifications.muted);
            let tone = views::aggregate(envs.iter().filter_map(|e| e.link.as_ref()), muted);
            let active =
                envs.iter().find(|e| e.active).map(|e| format!("{}: {}", e.profile.name, line(e)));
            m.window.set_title(&window_title(active.as_deref()));
            let title = active.unwrap_or_else(|| crate::APP_NAME.into());
            if let Some(tray) = &tray {
                let envs = envs.iter().map(|e| (e.profile.name.clone(), line(e), e.active));
                let envs: Vec<_> = envs.collect();
                tray.update(move |t: &mut Model| {
                    t.envs = envs;
                    t.muted = muted;
                    t.tone = tone;
                    t.title = title;
                })
                .await;
            }
            changed.notified().await;
        }
    });
}

/// "Sockeye — prod: connected" for the active environment's line, or just "Sockeye".
fn window_title(active: Option<&str>) -> String {
    match active {
        Some(a) => format!("{} — {a}", crate::APP_NAME),
        None => crate::APP_NAME.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::window_title;

    #[test]
    fn the_window_title_names_the_app_once() {
        assert_eq!(window_title(Some("prod: connected")), "Sockeye — prod: connected");
        assert_eq!(window_title(None), "Sockeye", "not \"Sockeye — Sockeye\"");
    }
}
