//! Fault knobs: each one reproduces a failure seen on real deployments.
//!
//! Knobs are set with `K=V` strings (CLI `--fault`, control API `POST /__sim/faults`), so the
//! same vocabulary works everywhere. Proxy-shaped knobs act on the HTTP request before it
//! reaches the Socket.IO layer ([`crate::proxy_faults`]); connection knobs act on the TCP
//! stream ([`crate::conn`]); auth knobs act in the connect pipeline ([`crate::auth`]).

use serde::{Deserialize, Serialize};

/// The current set of fault knobs. `Default` is a healthy server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// `/socket.io/` answers 404 with an HTML page: the proxy has no `location /socket.io`.
    pub route_missing: bool,
    /// `/socket.io/` answers 502 Bad Gateway: the proxy is up, the realtime process is not.
    pub bad_gateway: bool,
    /// `/socket.io/` answers 200 with an HTML interstitial (ngrok's free-plan browser
    /// warning) unless the request carries `ngrok-skip-browser-warning`.
    pub interstitial: bool,
    /// WebSocket upgrade requests get a plain 400 (a proxy that strips `Upgrade`/`Connection`),
    /// so clients stay on polling.
    pub upgrade_refused: bool,
    /// WebSocket upgrades get a 101, then nothing: frames are swallowed (a caching proxy).
    pub upgrade_no_probe: bool,
    /// Every polling request that carries a `sid` gets 400 `Session ID unknown` (several
    /// realtime nodes without sticky sessions).
    pub no_sticky: bool,
    /// Close every TCP connection this many seconds after it was accepted (proxy timeouts).
    pub idle_drop_secs: u64,
    /// Connected sockets stop receiving and sending anything: no pings, no pongs. Clients see a
    /// dead link after `pingInterval + pingTimeout`.
    pub freeze: bool,
    /// The web process's socket secret differs: sockets connect with no identity, no rooms
    /// and no handlers ("connected but deaf").
    pub secret_mismatch: bool,
    /// Delay of the auth callback to the web process, in milliseconds.
    pub auth_latency_ms: u64,
    /// Delay of the first `pong` on each socket, in milliseconds (a server too busy to
    /// answer in time once).
    pub first_pong_delay_ms: u64,
    /// Emulate the bench/docker nginx: the client's Origin is replaced with `<scheme>://<Host>`
    /// and `X-Frappe-Site-Name` is forced to the default site.
    pub behind_nginx: bool,
    /// Socket.IO server answers 400 `Unsupported protocol version` to EIO=4 (a v2/EIO3 server).
    pub eio3_only: bool,
    /// The site has no agent progress method (its app is not installed): the progress
    /// endpoint answers 404 with Frappe's HTML page.
    pub progress_missing: bool,
}

/// A `K=V` string that does not name a knob or has a bad value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultError {
    #[error("unknown fault knob {0:?}; known: {known}", known = Faults::KNOBS.join(", "))]
    UnknownKnob(String),
    #[error("bad value {value:?} for fault knob {knob}: {reason}")]
    BadValue { knob: String, value: String, reason: &'static str },
    #[error("fault must be written K=V or K (for K=true), got {0:?}")]
    Syntax(String),
}

impl Faults {
    /// Every knob name accepted by [`Faults::set`].
    pub const KNOBS: &'static [&'static str] = &[
        "route_missing",
        "bad_gateway",
        "interstitial",
        "upgrade_refused",
        "upgrade_no_probe",
        "no_sticky",
        "idle_drop_secs",
        "freeze",
        "secret_mismatch",
        "auth_latency_ms",
        "first_pong_delay_ms",
        "behind_nginx",
        "eio3_only",
        "progress_missing",
    ];

    /// Apply one `K=V` (or bare `K`, meaning `K=true`).
    pub fn set(&mut self, spec: &str) -> Result<(), FaultError> {
        let (knob, value) = match spec.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None if !spec.trim().is_empty() => (spec.trim(), "true"),
            None => return Err(FaultError::Syntax(spec.to_string())),
        };
        let flag = |v: &str| -> Result<bool, FaultError> {
            match v {
                "1" | "true" | "on" | "yes" => Ok(true),
                "0" | "false" | "off" | "no" => Ok(false),
                _ => Err(FaultError::BadValue {
                    knob: knob.into(),
                    value: v.into(),
                    reason: "expected true/false",
                }),
            }
        };
        let number = |v: &str| -> Result<u64, FaultError> {
            v.parse().map_err(|_| FaultError::BadValue {
                knob: knob.into(),
                value: v.into(),
                reason: "expected a non-negative integer",
            })
        };
        match knob {
            "route_missing" => self.route_missing = flag(value)?,
            "bad_gateway" => self.bad_gateway = flag(value)?,
            "interstitial" => self.interstitial = flag(value)?,
            "upgrade_refused" => self.upgrade_refused = flag(value)?,
            "upgrade_no_probe" => self.upgrade_no_probe = flag(value)?,
            "no_sticky" => self.no_sticky = flag(value)?,
            "idle_drop_secs" => self.idle_drop_secs = number(value)?,
            "freeze" => self.freeze = flag(value)?,
            "secret_mismatch" => self.secret_mismatch = flag(value)?,
            "auth_latency_ms" => self.auth_latency_ms = number(value)?,
            "first_pong_delay_ms" => self.first_pong_delay_ms = number(value)?,
            "behind_nginx" => self.behind_nginx = flag(value)?,
            "eio3_only" => self.eio3_only = flag(value)?,
            "progress_missing" => self.progress_missing = flag(value)?,
            other => return Err(FaultError::UnknownKnob(other.into())),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_numbers_and_bare_names() {
        let mut f = Faults::default();
        f.set("route_missing").unwrap();
        f.set("auth_latency_ms=40").unwrap();
        f.set("freeze=off").unwrap();
        assert!(f.route_missing);
        assert_eq!(f.auth_latency_ms, 40);
        assert!(!f.freeze);
    }

    #[test]
    fn rejects_unknown_knobs_and_bad_values_by_name() {
        let mut f = Faults::default();
        let e = f.set("teleport=1").unwrap_err();
        assert!(e.to_string().contains("teleport"), "{e}");
        let e = f.set("auth_latency_ms=soon").unwrap_err();
        assert!(e.to_string().contains("auth_latency_ms"), "{e}");
        assert_eq!(f, Faults::default(), "a bad knob changes nothing");
    }
}
