//! One logging set-up for the app and the CLI: `SOCKEYE_LOG` (an `EnvFilter` string) or the
//! caller's default, with the crates that log raw wire bytes capped below trace.
//!
//! At trace level tungstenite prints the WebSocket handshake request whole (the `Cookie`,
//! `Authorization` and every extra header), and the HTTP stack logs header maps: a user who
//! turns logging up to send us a log would send their session with it. Sockeye's own wire
//! layer logs what a trace needs (packet types, sizes, states) without credentials, so these
//! crates are held at debug whatever the filter asks.

use tracing_subscriber::EnvFilter;

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

/// `spec` if given and valid, else `default`; [`WIRE_CRATES`] capped at debug.
fn filter_from(spec: Option<&str>, default: &str) -> EnvFilter {
    let mut f =
        spec.and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new(default));
    for c in WIRE_CRATES {
        f = f.add_directive(format!("{c}=debug").parse().expect("a valid directive"));
    }
    f
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
}
