//! One logging set-up for the app and the CLI: `SOCKEYE_LOG` (an `EnvFilter` string) or the
//! caller's default, with the crates that log raw wire bytes capped below trace.
//!
//! At trace level tungstenite prints the WebSocket handshake request whole (the `Cookie`,
//! `Authorization` and every extra header), and the HTTP stack logs header maps: a user who
//! turns logging up to send us a log would send their session with it. Sockeye's own wire
//! layer logs what a trace needs (packet types, sizes, states) without credentials, so these
//! crates are held at debug whatever the filter asks.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The crates whose trace output carries request headers or raw frames.
const WIRE_CRATES: [&str; 8] = [
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "reqwest",
    "h2",
    "rustls",
    "tokio_rustls",
];

/// `SOCKEYE_LOG` if set and valid, else `default`; [`WIRE_CRATES`] capped at debug.
fn filter(default: &str) -> EnvFilter {
    filter_from(std::env::var("SOCKEYE_LOG").ok().as_deref(), default)
}

/// `spec` if given and valid, else `default`; [`WIRE_CRATES`] capped at debug. Capped, not
/// set: a crate the filter leaves at info stays at info.
fn filter_from(spec: Option<&str>, default: &str) -> EnvFilter {
    let spec = spec.filter(|s| EnvFilter::try_new(s).is_ok()).unwrap_or(default);
    let mut f = EnvFilter::new(spec);
    for c in WIRE_CRATES {
        if level_for(spec, c).is_some_and(|l| l == LevelFilter::TRACE) {
            f = f.add_directive(format!("{c}=debug").parse().expect("a valid directive"));
        }
    }
    f
}

/// The level `spec` gives events of `target`: the directive with the longest matching target
/// wins, as in `EnvFilter` (directives with span or field filters are not counted: they
/// only narrow).
fn level_for(spec: &str, target: &str) -> Option<LevelFilter> {
    let mut best: Option<(usize, LevelFilter)> = None;
    for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty() && !d.contains('[')) {
        let (t, level) = match d.rsplit_once('=') {
            Some((t, l)) => (t, l.parse().ok()?),
            None => match d.parse::<LevelFilter>() {
                Ok(l) => ("", l),
                Err(_) => (d, LevelFilter::TRACE), // a bare target: everything of it
            },
        };
        let matches = t.is_empty() || target == t || target.starts_with(&format!("{t}::"));
        if matches && best.is_none_or(|(len, _)| t.len() >= len) {
            best = Some((t.len(), level));
        }
    }
    best.map(|(_, l)| l)
}

/// Log to stderr through [`filter`] (colours only on a terminal).
pub fn init(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(filter(default))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_crates_stay_below_trace_whatever_the_filter_says() {
        let text = filter_from(Some("trace,tungstenite=trace"), "warn").to_string();
        assert!(text.contains("tungstenite=debug"), "{text}");
        assert!(!text.contains("tungstenite=trace"), "{text}");
        assert!(text.split(',').any(|d| d == "trace"), "the rest as asked: {text}");
        let fallback = filter_from(Some("not a [filter"), "warn").to_string();
        assert!(fallback.split(',').any(|d| d == "warn"), "a bad spec: the default: {fallback}");
    }

    /// Whether `filter` lets an event of `target` at `level` through (a macro: a target must
    /// be a constant).
    macro_rules! passes {
        ($filter:expr, $target:literal, $level:ident) => {{
            use tracing_subscriber::layer::SubscriberExt;
            let sub = tracing_subscriber::registry().with($filter);
            tracing::subscriber::with_default(sub, || {
                tracing::enabled!(target: $target, tracing::Level::$level)
            })
        }};
    }

    #[test]
    fn a_cap_never_raises_a_crate_above_what_the_filter_gives_it() {
        // The CLI's default: reqwest's debug lines stay out (they were printed once).
        assert!(!passes!(filter_from(None, "info"), "reqwest::connect", DEBUG));
        assert!(passes!(filter_from(None, "info"), "sockeye_cli::watch", INFO));
        // Our crates at trace, the rest at info: hyper stays at info.
        let ours = || filter_from(Some("info,sockeye_core=trace"), "warn");
        assert!(!passes!(ours(), "hyper_util::client", DEBUG));
        assert!(passes!(ours(), "sockeye_core::wire", TRACE));
        // Everything at trace: the wire crates stop at debug.
        assert!(!passes!(filter_from(Some("trace"), "info"), "tungstenite::handshake", TRACE));
        assert!(passes!(filter_from(Some("trace"), "info"), "tungstenite::handshake", DEBUG));
        assert!(!passes!(filter_from(Some("hyper"), "info"), "hyper::proto", TRACE));
        assert_eq!(
            level_for("info,hyper=warn,hyper::proto=trace", "hyper::proto::h1"),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(level_for("info,hyper=warn", "hyper_util"), Some(LevelFilter::INFO));
    }
}
