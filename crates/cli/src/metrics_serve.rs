//! `watch --metrics ADDR`: core's [`FleetMetrics`] served at `/metrics` for Prometheus, and
//! `--diagnose-every`: the probe chain run now and then with its results exported.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use sockeye_core::diagnose::{self, DiagnoseOptions, Status};
use sockeye_core::events::now_ms;
use sockeye_core::metrics::{CONTENT_TYPE, CONTENT_TYPE_TEXT, FleetMetrics, to_prometheus_text};
use sockeye_core::target::Target;

use crate::CliError;

pub type SharedMetrics = Arc<Mutex<FleetMetrics>>;

/// The shortest `--diagnose-every`: each diagnosis makes a few requests to the site, and a
/// monitor must not turn into load.
pub const DIAGNOSE_MIN: Duration = Duration::from_secs(60);

/// `--metrics`: an address with a port (`127.0.0.1:9464`, `[::1]:9464`).
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("{s:?} is not HOST:PORT with an IP address (e.g. 127.0.0.1:9464 or [::1]:9464)")
    })
}

/// `--diagnose-every`: `90s`, `10m`, `1h`, or seconds; at least [`DIAGNOSE_MIN`].
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let scale = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("{s:?}: expected a number with s, m or h (e.g. 10m)")),
    };
    let secs: f64 = num.parse().map_err(|_| format!("{s:?}: expected a number such as 10m"))?;
    let d = Duration::try_from_secs_f64(secs * scale).map_err(|e| format!("{s:?}: {e}"))?;
    if d < DIAGNOSE_MIN {
        return Err(format!("{s:?}: at least {}s between diagnoses", DIAGNOSE_MIN.as_secs()));
    }
    Ok(d)
}

/// Bind `addr` now, so a taken port or a foreign address fails the command before any
/// session starts; then serve `/metrics` until the process ends.
pub async fn serve(addr: SocketAddr, metrics: SharedMetrics) -> Result<SocketAddr, CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| CliError::Listen { addr, source })?;
    let bound = listener.local_addr().map_err(|source| CliError::Listen { addr, source })?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let metrics = metrics.clone();
            async move {
                let text = metrics.lock().map(|mut m| m.encode(now_ms())).unwrap_or_default();
                // Prometheus asks for OpenMetrics; curl and promtool get the classic format.
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
                if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
                    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text)
                } else {
                    ([(header::CONTENT_TYPE, CONTENT_TYPE_TEXT)], to_prometheus_text(&text))
                }
            }
        }),
    );
    let app = app.fallback(|| async { (StatusCode::NOT_FOUND, "see /metrics\n").into_response() });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics endpoint stopped: {e}");
        }
    });
    Ok(bound)
}

/// Diagnose every target now and then every `every`, one after the other (never several
/// at once against one server), exporting each probe's result and logging the summary.
pub fn diagnose_every(
    targets: Vec<(Target, DiagnoseOptions)>,
    every: Duration,
    metrics: SharedMetrics,
) {
    tokio::spawn(async move {
        loop {
            for (target, opts) in &targets {
                let report = diagnose::diagnose(target, opts).await;
                if let Ok(mut m) = metrics.lock() {
                    m.on_report(&report, now_ms());
                }
                let failed: Vec<&str> = report
                    .probes
                    .iter()
                    .filter(|p| matches!(p.status, Status::Fail | Status::Warn))
                    .map(|p| p.name)
                    .collect();
                match report.exit_code() {
                    0 => {
                        tracing::info!("{}: diagnosis passed ({} ms)", report.env, report.total_ms)
                    }
                    1 => tracing::warn!(
                        "{}: diagnosis warns ({}): {}",
                        report.env,
                        failed.join(", "),
                        report.summary.hint
                    ),
                    _ => tracing::error!(
                        "{}: diagnosis fails ({}): {}",
                        report.env,
                        failed.join(", "),
                        report.summary.hint
                    ),
                }
            }
            tokio::time::sleep(every).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_addresses() {
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("90"), Ok(Duration::from_secs(90)));
        assert!(parse_interval("5s").unwrap_err().contains("at least 60s"));
        assert!(parse_interval("ten").is_err());
        assert!(parse_interval("10d").unwrap_err().contains("s, m or h"));
        assert_eq!(parse_addr("127.0.0.1:9464"), Ok(SocketAddr::from(([127, 0, 0, 1], 9464))));
        assert!(parse_addr("localhost:9464").unwrap_err().contains("127.0.0.1:9464"));
        assert!(parse_addr("127.0.0.1").is_err());
    }
}
