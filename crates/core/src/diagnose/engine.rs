//! P2–P4: the Engine.IO handshake (v4, or v3 for a Socket.IO v2 server), the second poll and
//! the namespace CONNECT.

use std::time::Instant;

use super::eio::NsAnswer;
use super::hints::{self, Finding};
use super::report::{Probe, Status};
use super::{Engine, Runner, causes, eio, ms};
use crate::wire::EioVersion;
use url::Url;

impl Runner<'_> {
    pub(super) async fn handshake_at(
        &self,
        socket_url: &Url,
        version: EioVersion,
        extra: &[(String, String)],
    ) -> Result<eio::HttpAnswer, String> {
        let mut h = self.headers.clone();
        h.extend_from_slice(extra);
        eio::get(&self.http, eio::eio_url(socket_url, version, "polling", None), &h).await
    }

    /// An Engine.IO handshake in either version: v4, or v3 when the server is Socket.IO v2.
    pub(super) async fn any_handshake(
        &self,
        socket_url: &Url,
        extra: &[(String, String)],
    ) -> Option<(EioVersion, eio::HttpAnswer)> {
        for v in [EioVersion::V4, EioVersion::V3] {
            if let Ok(a) = self.handshake_at(socket_url, v, extra).await
                && a.status == 200
                && eio::parse_open(v, &a.body).is_some()
                && (v == EioVersion::V3 || !crate::wire::engine::looks_like_v3(&a.body))
            {
                return Some((v, a));
            }
        }
        None
    }

    /// P2: returns the open engine session.
    pub(super) async fn handshake(&mut self) -> Option<Engine> {
        let t = Instant::now();
        let answer =
            match self.handshake_at(&self.target.socket_url.clone(), EioVersion::V4, &[]).await {
                Ok(a) => a,
                Err(e) => {
                    self.push(Probe::new("handshake", Status::Fail, ms(t)).evidence(e).finding(
                        Finding::new(
                            hints::Symptom::Other,
                            "The Engine.IO handshake got no HTTP answer.",
                        ),
                    ));
                    return None;
                }
            };
        let evidence = format!(
            "GET {}?EIO=4&transport=polling → {} {}",
            self.target.socket_url.path(),
            answer.status,
            eio::excerpt(&answer.body, 100)
        );
        match hints::classify_handshake(answer.status, &answer.body) {
            None => {
                let open = eio::parse_open(EioVersion::V4, &answer.body)?;
                let p = Probe::new("handshake", Status::Pass, ms(t)).evidence(evidence).evidence(
                    format!(
                        "sid {}, upgrades {:?}, pingInterval {}, pingTimeout {}",
                        open.sid, open.upgrades, open.ping_interval, open.ping_timeout
                    ),
                );
                self.push(p);
                Some(Engine::opened(EioVersion::V4, open))
            }
            Some(f) if f.symptom == hints::Symptom::OldProtocol => {
                // A Socket.IO v2 server: speak Engine.IO 3 with it and probe on.
                let retry = self
                    .handshake_at(&self.target.socket_url.clone(), EioVersion::V3, &[])
                    .await
                    .ok();
                let open = retry
                    .as_ref()
                    .filter(|a| a.status == 200)
                    .and_then(|a| eio::parse_open(EioVersion::V3, &a.body));
                match open {
                    Some(open) => {
                        let p = Probe::new("handshake", Status::Pass, ms(t))
                            .evidence(evidence)
                            .evidence(format!("{}: retried with EIO=3 → sid {}, pingInterval {}, pingTimeout {} (the client sends the pings)", EioVersion::V3.server_label(), open.sid, open.ping_interval, open.ping_timeout));
                        self.push(p);
                        Some(Engine::opened(EioVersion::V3, open))
                    }
                    None => {
                        let got = retry
                            .map(|a| format!("{} {}", a.status, eio::excerpt(&a.body, 80)))
                            .unwrap_or_else(|| "no answer".into());
                        self.push(
                            Probe::new("handshake", Status::Fail, ms(t))
                                .evidence(evidence)
                                .evidence(format!("retried with EIO=3 → {got}"))
                                .finding(f),
                        );
                        None
                    }
                }
            }
            Some(f) if f.symptom == hints::Symptom::Interstitial => {
                let skip = [("ngrok-skip-browser-warning".to_string(), "1".to_string())];
                let retry = self
                    .handshake_at(&self.target.socket_url.clone(), EioVersion::V4, &skip)
                    .await
                    .ok()
                    .and_then(|a| eio::parse_open(EioVersion::V4, &a.body));
                let mut p = Probe::new(
                    "handshake",
                    if retry.is_some() { Status::Warn } else { Status::Fail },
                    ms(t),
                )
                .evidence(evidence)
                .finding(f);
                match retry {
                    Some(open) => {
                        p = p.evidence(
                            "retried with ngrok-skip-browser-warning: 1 → Engine.IO open packet",
                        );
                        self.headers.extend(skip);
                        self.push(p);
                        Some(Engine::opened(EioVersion::V4, open))
                    }
                    None => {
                        self.push(p);
                        None
                    }
                }
            }
            Some(f) => {
                self.push(
                    Probe::new("handshake", Status::Fail, ms(t)).evidence(evidence).finding(f),
                );
                None
            }
        }
    }

    /// P3 + P4: POST the namespace CONNECT, then the second poll carries its answer.
    pub(super) async fn namespace(&mut self, engine: &Engine) -> Option<NsAnswer> {
        let t = Instant::now();
        let ns = self.target.namespace.clone();
        let v = engine.version;
        let url = eio::eio_url(&self.target.socket_url, v, "polling", Some(&engine.sid));
        let connect = eio::connect_packet(v, &ns, self.target.auth_payload().as_ref());
        let posted = eio::post(&self.http, url.clone(), &self.headers, v, connect).await;
        let (answer, last_poll) = if matches!(posted, Ok(200)) {
            self.poll_ns_answer(&url, &self.headers, v, &ns).await
        } else {
            (None, None)
        };
        let poll_status = last_poll.as_ref().map(|a| a.status).unwrap_or(0);
        let poll_body = last_poll.as_ref().map(|a| a.body.clone()).unwrap_or_default();
        let (post_status, post_note) = match &posted {
            Ok(s) => (*s, format!("POST 40{ns}, → {s}")),
            Err(e) => (0, format!("POST failed: {e}")),
        };
        let sticky = if post_status == 400 {
            hints::classify_second_poll(400, "Session ID unknown")
        } else {
            hints::classify_second_poll(poll_status, &poll_body)
        };
        match sticky {
            Some(f) => {
                let p = Probe::new("second_poll", Status::Fail, ms(t))
                    .evidence(post_note)
                    .evidence(format!(
                        "GET with sid → {poll_status} {}",
                        eio::excerpt(&poll_body, 80)
                    ))
                    .finding(f);
                self.push(p);
                self.push(Probe::skipped(
                    "namespace",
                    "the engine session does not survive a second request",
                ));
                return None;
            }
            None => {
                self.push(
                    Probe::new("second_poll", Status::Pass, ms(t))
                        .evidence(post_note)
                        .evidence(format!("GET with sid → {poll_status}")),
                );
            }
        }
        let t = Instant::now();
        match &answer {
            Some(NsAnswer::Connected) => {
                self.push(
                    Probe::new("namespace", Status::Pass, ms(t))
                        .evidence(format!("CONNECT {ns} accepted")),
                );
            }
            Some(NsAnswer::Refused(msg)) => {
                let mut f = hints::classify_refusal(msg);
                let mut p = Probe::new("namespace", Status::Fail, ms(t))
                    .evidence(format!("CONNECT {ns} refused: \"{msg}\""));
                if f.symptom == hints::Symptom::Unauthorized && self.target.frappe {
                    let view = self.callback_view().await;
                    f = causes::unauthorized(msg, &view);
                } else if f.symptom == hints::Symptom::InvalidOrigin {
                    let (verdict, tried) = self.origin_verdict(v).await;
                    for e in tried {
                        p = p.evidence(e);
                    }
                    f = causes::invalid_origin(
                        &verdict,
                        self.target.socket_url.scheme() == "https",
                    );
                }
                p.duration_ms = ms(t);
                self.push(p.finding(f));
            }
            None => {
                self.push(Probe::new("namespace", Status::Fail, ms(t)).evidence(format!("no answer to CONNECT {ns} within {:?}", self.opts.probe_timeout)).finding(Finding::new(hints::Symptom::Other, "The namespace CONNECT got no answer: the server may not be Socket.IO v4, or it hangs in its auth middleware (auth callback timing out).")));
            }
        }
        answer
    }

    /// Poll `url` until the answer to the CONNECT for `ns` arrives (or the probe times out);
    /// also returns the last poll, for the sticky-session check.
    pub(super) async fn poll_ns_answer(
        &self,
        url: &Url,
        headers: &[(String, String)],
        v: EioVersion,
        ns: &str,
    ) -> (Option<NsAnswer>, Option<eio::HttpAnswer>) {
        let mut answer = None;
        let mut last_poll = None;
        let deadline = Instant::now() + self.opts.probe_timeout;
        while answer.is_none() && Instant::now() < deadline {
            match eio::get(&self.http, url.clone(), headers).await {
                Ok(a) if a.status == 200 => {
                    answer = eio::packets(v, &a.body).iter().find_map(|p| eio::ns_answer(v, ns, p));
                    last_poll = Some(a);
                }
                Ok(a) => {
                    last_poll = Some(a);
                    break;
                }
                Err(e) => {
                    last_poll = Some(eio::HttpAnswer { status: 0, body: e, content_type: None });
                    break;
                }
            }
        }
        (answer, last_poll)
    }

    pub(super) async fn rest_identity_status(&self) -> Option<u16> {
        let mut u = self.rest_url.clone();
        u.set_path("/api/method/frappe.auth.get_logged_user");
        let h: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("origin"))
            .cloned()
            .collect();
        eio::get(&self.http, u, &h).await.ok().map(|a| a.status)
    }
}
