//! P5–P7: the WebSocket upgrade and hold, `ping`→`pong`, and who the web process says we are.

use std::time::Instant;

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use super::{Engine, Runner, eio, ms};
use crate::auth::{self, WhoAmI};

impl Runner<'_> {
    /// P5: upgrade, probe, hold (no hold when the namespace refused us: nothing will use it). Returns the upgraded socket when it held.
    pub(super) async fn websocket(
        &mut self,
        engine: &Engine,
        hold: std::time::Duration,
    ) -> Option<Box<eio::Ws>> {
        let t = Instant::now();
        let url =
            eio::eio_url(&self.target.socket_url, engine.version, "websocket", Some(&engine.sid));
        match eio::ws_upgrade(
            url,
            &self.headers,
            &self.target.tls,
            &self.target.proxy,
            self.opts.probe_timeout,
        )
        .await
        {
            Err(eio::UpgradeError::Refused { status, body }) => {
                let p = Probe::new("websocket", Status::Fail, ms(t))
                    .evidence(format!("upgrade → HTTP {status} {}", eio::excerpt(&body, 80)))
                    .finding(hints::upgrade_blocked(status));
                self.push(p);
                None
            }
            Err(e) => {
                self.push(
                    Probe::new("websocket", Status::Fail, ms(t))
                        .evidence(e.to_string())
                        .finding(hints::upgrade_blocked(0)),
                );
                None
            }
            Ok(ws) => {
                let mut ws = Box::new(ws);
                let probe_ok = eio::ws_send(&mut ws, "2probe".into()).await.is_ok()
                    && matches!(eio::ws_next(&mut ws, self.opts.probe_timeout).await, Ok(Some(ref m)) if m == "3probe");
                if !probe_ok {
                    self.push(
                        Probe::new("websocket", Status::Fail, ms(t))
                            .evidence("101 Switching Protocols, then no 3probe")
                            .finding(hints::upgrade_silent()),
                    );
                    return None;
                }
                let _ = eio::ws_send(&mut ws, "5".into()).await;
                let upgraded = ms(t);
                let held = Instant::now();
                let closed = loop {
                    let left = hold.saturating_sub(held.elapsed());
                    if left.is_zero() {
                        break None;
                    }
                    match eio::ws_next(&mut ws, left).await {
                        Ok(_) => continue,
                        Err(e) => break Some(e),
                    }
                };
                match closed {
                    None => {
                        self.push(Probe::new("websocket", Status::Pass, ms(t)).evidence(format!(
                            "101, 2probe → 3probe in {upgraded} ms, held {:.1} s",
                            hold.as_secs_f64()
                        )));
                        Some(ws)
                    }
                    Some(e) => {
                        let after = held.elapsed().as_secs_f64();
                        let p = Probe::new("websocket", Status::Fail, ms(t))
                            .evidence(format!("upgraded, then {e} after {after:.1} s"))
                            .finding(hints::idle_drop(
                                after,
                                engine.ping_interval,
                                engine.ping_timeout,
                            ));
                        self.push(p);
                        None
                    }
                }
            }
        }
    }

    /// P6 + P7: `ping`→`pong` on the socket, and who the web process says we are.
    pub(super) async fn pong_and_identity(
        &mut self,
        engine: &Engine,
        ws: Option<Box<eio::Ws>>,
    ) -> bool {
        let ns = self.target.namespace.clone();
        let t = Instant::now();
        let pong = match ws {
            Some(mut ws) => {
                let mut got = false;
                if eio::ws_send(&mut ws, eio::event_packet(&ns, "ping")).await.is_ok() {
                    let deadline = Instant::now() + self.opts.probe_timeout;
                    while let Ok(Some(m)) =
                        eio::ws_next(&mut ws, deadline.saturating_duration_since(Instant::now()))
                            .await
                    {
                        if eio::event_name(engine.version, &ns, &m).as_deref() == Some("pong") {
                            got = true;
                            break;
                        }
                    }
                }
                let _ = ws.close(None).await;
                got
            }
            None => {
                let url = eio::eio_url(
                    &self.target.socket_url,
                    engine.version,
                    "polling",
                    Some(&engine.sid),
                );
                let mut got = false;
                if let Ok(200) = eio::post(
                    &self.http,
                    url.clone(),
                    &self.headers,
                    engine.version,
                    eio::event_packet(&ns, "ping"),
                )
                .await
                {
                    let deadline = Instant::now() + self.opts.probe_timeout;
                    while !got && Instant::now() < deadline {
                        match tokio::time::timeout(
                            self.opts.probe_timeout,
                            eio::get(&self.http, url.clone(), &self.headers),
                        )
                        .await
                        {
                            Ok(Ok(a)) if a.status == 200 => {
                                got = eio::packets(engine.version, &a.body).iter().any(|p| {
                                    eio::event_name(engine.version, &ns, p).as_deref()
                                        == Some("pong")
                                })
                            }
                            _ => break,
                        }
                    }
                }
                got
            }
        };
        let rtt = ms(t);
        if !self.web_ok {
            self.push(Probe::skipped("identity", "no web app answered (see the web probe)"));
            return self.pong_verdict(pong, rtt, pong);
        }
        let t2 = Instant::now();
        let who = auth::who_am_i(&self.http, &self.rest_url, &self.headers).await;
        let identity_ms = ms(t2);
        let mut auth_ok = false;
        match &who {
            Ok(WhoAmI::User(u)) => {
                auth_ok = true;
                self.push(
                    Probe::new("identity", Status::Pass, identity_ms)
                        .evidence(format!("get_logged_user → {u}")),
                );
            }
            Ok(WhoAmI::Guest) => {
                self.push(
                    Probe::new("identity", Status::Fail, identity_ms)
                        .evidence("get_logged_user → Guest (403)")
                        .finding(hints::guest()),
                );
            }
            Ok(WhoAmI::Rejected(m)) => {
                self.push(Probe::new("identity", Status::Fail, identity_ms).evidence(format!("get_logged_user → 401 {m}")).finding(Finding::new(hints::Symptom::Unauthorized, "The web app rejects these credentials (HTTP 401): the API key/secret or token is wrong or revoked.")));
            }
            Err(e) => {
                let p = Probe::new("identity", Status::Warn, identity_ms).evidence(e.to_string());
                self.push(p.finding(Finding::new(hints::Symptom::Other, "Who we are could not be confirmed over REST (the URL may be a bare realtime port); Guest sessions cannot be told apart here.")));
                auth_ok = pong;
            }
        }
        self.pong_verdict(pong, rtt, auth_ok)
    }

    /// Put the pong row before the identity row; no pong means no working link.
    fn pong_verdict(&mut self, pong: bool, rtt: u64, auth_ok: bool) -> bool {
        if pong {
            self.probes.insert(
                self.probes.len() - 1,
                Probe::new("pong", Status::Pass, rtt).evidence(format!("ping → pong in {rtt} ms")),
            );
        } else {
            let deaf = Probe::new("pong", Status::Fail, rtt)
                .evidence(format!("no pong within {:?}", self.opts.probe_timeout))
                .finding(hints::deaf());
            let deaf = self.with_fixes(deaf);
            self.probes.insert(self.probes.len() - 1, deaf);
            return false;
        }
        auth_ok
    }
}
