//! P8–P10: the local realtime port compared with the external URL, and the optional probes
//! that use the real session (`--listen`, `--roundtrip`).

use std::time::{Duration, Instant};

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::{Runner, ms, net};
use crate::auth;
use crate::events::EventKind;
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

    /// P10: post a real message through Raven's REST API and time its arrival.
    pub(super) async fn roundtrip(&mut self, channel: &str) {
        let t = Instant::now();
        let s = match self.session(vec![channel.to_string()]).await {
            Ok(s) => s,
            Err(e) => {
                self.push(Probe::new("roundtrip", Status::Skipped, ms(t)).evidence(e));
                return;
            }
        };
        let mut events = s.events();
        let mut u = self.rest_url.clone();
        u.set_path("/api/method/raven.api.raven_message.send_message");
        let text = format!(
            "Sockeye realtime check ({}): this message verifies that chat events reach subscribers; it can be deleted.",
            crate::events::now_ms()
        );
        let req = crate::wire::http::with_headers(
            self.http.post(u).form(&[
                ("channel_id", channel),
                ("text", text.as_str()),
                ("is_reply", "0"),
            ]),
            &self.headers,
        );
        let sent = Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                s.stop().await;
                self.push(
                    Probe::new("roundtrip", Status::Fail, ms(t))
                        .evidence(crate::error_text::error_chain(&e)),
                );
                return;
            }
        };
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let Some(id) = body.pointer("/message/name").and_then(Value::as_str).map(str::to_string)
        else {
            s.stop().await;
            let m = auth::frappe_message(status, &body.to_string());
            self.push(Probe::new("roundtrip", Status::Fail, ms(t)).evidence(format!("send_message → {status} {m}")).finding(Finding::new(hints::Symptom::Other, format!("Raven refused the test message ({m}): check the channel id and that this user may post there."))));
            return;
        };
        let deadline = tokio::time::Instant::now() + self.opts.probe_timeout * 2;
        let mut arrived = None;
        while let Ok(r) = tokio::time::timeout_at(deadline, events.recv()).await {
            if let Ok(e) = r
                && let EventKind::MessageCreated(m) = &e.kind
                && m.message_id == id
            {
                arrived = Some(sent.elapsed());
                break;
            }
        }
        s.stop().await;
        match arrived {
            Some(d) => {
                self.push(Probe::new("roundtrip", Status::Pass, ms(t)).evidence(format!(
                    "message {id} posted and received as message_created in {} ms",
                    d.as_millis()
                )));
            }
            None => {
                let p = Probe::new("roundtrip", Status::Fail, ms(t)).evidence(format!(
                    "message {id} stored (HTTP {status}) but no message_created within {:?}",
                    self.opts.probe_timeout * 2
                ));
                self.push(p.finding(hints::no_events((self.opts.probe_timeout * 2).as_secs_f64())));
            }
        }
    }
}
