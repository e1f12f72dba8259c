//! P8–P10: the local realtime port compared with the external URL, and the optional probes
//! that use the real session (`--listen`, `--roundtrip`).

use std::time::{Duration, Instant};

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use std::collections::BTreeMap;

use url::Url;

use super::{Runner, ms, net};
use crate::session::{Session, SessionOptions};

impl Runner<'_> {
    /// P8: compare with the realtime port on this host.
    pub(super) async fn local(&mut self, external_ok: bool) -> Option<bool> {
        let host_is_local = match self.target.socket_url.host_str() {
            Some(h) => net::resolve(
                h.trim_start_matches('[').trim_end_matches(']'),
                0,
                Duration::from_secs(1),
            )
            .await
            .map(|a| a.iter().all(|x| net::is_local_address(x.ip())))
            .unwrap_or(false),
            None => false,
        };
        let loopback_target =
            self.target.socket_url.host_str().is_some_and(crate::url_rules::is_loopback_host);
        let same_port = self
            .opts
            .local_port
            .is_none_or(|p| Some(p) == self.target.socket_url.port_or_known_default());
        if loopback_target && same_port {
            self.push(Probe::skipped("local", "the target is already this host's loopback"));
            return Some(external_ok);
        }
        let port = match (self.opts.local_port, host_is_local) {
            (Some(p), _) => p,
            (None, true) => 9000,
            (None, false) => {
                self.push(Probe::skipped("local", "not on the server host (use --local-port)"));
                return None;
            }
        };
        let t = Instant::now();
        let url = Url::parse(&format!("http://127.0.0.1:{port}{}", self.target.socket_url.path()))
            .ok()?;
        let local_ok = self.any_handshake(&url, &[]).await.is_some();
        let mut p = Probe::new("local", if local_ok { Status::Pass } else { Status::Warn }, ms(t))
            .evidence(format!(
                "http://127.0.0.1:{port} → {}",
                if local_ok { "Engine.IO open packet" } else { "no Socket.IO" }
            ));
        if local_ok && !external_ok {
            let ext = self
                .probes
                .iter()
                .find(|p| p.name == "handshake")
                .and_then(|p| p.evidence.first().cloned())
                .unwrap_or_default();
            p.status = Status::Fail;
            p = p.finding(Finding::new(hints::Symptom::RouteMissing, format!("Local OK, external broken ({ext}): the proxy does not map /socket.io/ to port {port}.")));
        } else if !local_ok {
            let alternatives = self.answering_ports(port).await;
            p = p.finding(hints::port_closed(port, &alternatives));
        }
        self.push(p);
        Some(local_ok)
    }

    pub(super) async fn session(&self, channels: Vec<String>) -> Result<Session, String> {
        let mut t = self.target.clone();
        t.subscriptions.channels.extend(channels);
        let opts = SessionOptions {
            connect_timeout: self.opts.probe_timeout,
            pong_timeout: self.opts.probe_timeout,
            ..Default::default()
        };
        let s = Session::spawn(t, opts);
        let mut rx = s.state();
        let deadline = tokio::time::Instant::now() + self.opts.probe_timeout * 2;
        loop {
            let st = rx.borrow_and_update().state.clone();
            if st.is_connected() {
                return Ok(s);
            }
            if tokio::time::timeout_at(deadline, rx.changed()).await.is_err() {
                s.stop().await;
                return Err(format!("the session did not get healthy: {}", st.describe()));
            }
        }
    }

    /// P9: stay subscribed and count events per room.
    pub(super) async fn listen(&mut self, secs: Duration) {
        let t = Instant::now();
        let s = match self.session(Vec::new()).await {
            Ok(s) => s,
            Err(e) => {
                self.push(Probe::new("listen", Status::Skipped, ms(t)).evidence(e));
                return;
            }
        };
        let mut events = s.events();
        let mut per_room: BTreeMap<String, u64> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + secs;
        while let Ok(r) = tokio::time::timeout_at(deadline, events.recv()).await {
            if let Ok(e) = r {
                *per_room
                    .entry(format!(
                        "{} ({})",
                        e.room_hint.clone().unwrap_or_else(|| "?".into()),
                        e.name
                    ))
                    .or_default() += 1;
            }
        }
        s.stop().await;
        if per_room.is_empty() {
            self.push(
                Probe::new("listen", Status::Warn, ms(t))
                    .evidence(format!("0 events in {:.0} s", secs.as_secs_f64()))
                    .finding(hints::no_events(secs.as_secs_f64())),
            );
        } else {
            let mut p = Probe::new("listen", Status::Pass, ms(t));
            for (room, n) in per_room {
                p = p.evidence(format!("{n} × {room}"));
            }
            self.push(p);
        }
    }
}
