//! Diagnostics: turn "realtime events are not working" into one sentence with the fix.
//!
//! A chain of probes (`client-and-diagnostics.md` §2), cheapest first, each with a timeout
//! and evidence; a probe that an earlier failure makes meaningless is skipped with the
//! reason. The optional `listen` and `roundtrip` probes use the real [`Session`], so they see
//! exactly what the app sees.

pub mod eio;
pub mod hints;
mod hop;
pub mod net;
pub mod report;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use url::Url;

use crate::auth::{self, Credentials, WhoAmI};
use crate::events::EventKind;
use crate::session::{Session, SessionOptions};
use crate::target::Target;
use crate::url_rules::DeploymentType;
use crate::wire::EioVersion;
use eio::NsAnswer;
use hints::Finding;
pub use report::{Probe, Report, Status, Summary};

/// What to run and how long to wait.
#[derive(Debug, Clone)]
pub struct DiagnoseOptions {
    pub deployment: DeploymentType,
    /// Timeout of each network step.
    pub probe_timeout: Duration,
    /// How long the upgraded WebSocket is held open to catch proxies that close it.
    pub hold: Duration,
    /// Also probe `http://127.0.0.1:<port>` (run on the server host).
    pub local_port: Option<u16>,
    /// Ports to try when the configured one refuses (Node 9000, Python 9001).
    pub scan_ports: Vec<u16>,
    /// Stay subscribed this long and count events per room.
    pub listen: Option<Duration>,
    /// Post a real Raven message to this channel and time its arrival.
    pub roundtrip: Option<String>,
    /// The socket URL the site's own config uses, when known (mixed-content check).
    pub configured_socket_url: Option<Url>,
}

impl Default for DiagnoseOptions {
    fn default() -> Self {
        DiagnoseOptions {
            deployment: DeploymentType::Custom,
            probe_timeout: Duration::from_secs(3),
            hold: Duration::from_secs(1),
            local_port: None,
            scan_ports: vec![9000, 9001],
            listen: None,
            roundtrip: None,
            configured_socket_url: None,
        }
    }
}

/// The probes that need an Engine.IO session, in chain order: skipped together when the
/// network below them fails.
const ENGINE_CHAIN: [&str; 6] =
    ["handshake", "second_poll", "namespace", "websocket", "pong", "identity"];

fn ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

struct Runner<'a> {
    target: &'a Target,
    opts: &'a DiagnoseOptions,
    http: reqwest::Client,
    headers: Vec<(String, String)>,
    probes: Vec<Probe>,
}

/// The polling session the handshake opened, shared by the later probes.
struct Engine {
    version: EioVersion,
    sid: String,
    ping_interval: u64,
    ping_timeout: u64,
}

impl Runner<'_> {
    fn push(&mut self, p: Probe) -> Status {
        let s = p.status;
        self.probes.push(p);
        s
    }

    fn skip_rest(&mut self, names: &[&'static str], why: &str) {
        for n in names {
            self.probes.push(Probe::skipped(n, why));
        }
    }

    async fn handshake_at(
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
    async fn any_handshake(
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

    /// Ports among `scan_ports` on the socket host that answer an Engine.IO handshake.
    async fn answering_ports(&self, except: u16) -> Vec<u16> {
        let mut found = Vec::new();
        for &p in &self.opts.scan_ports {
            if p == except {
                continue;
            }
            let mut u = self.target.socket_url.clone();
            if u.set_port(Some(p)).is_err() {
                continue;
            }
            if self.any_handshake(&u, &[]).await.is_some() {
                found.push(p);
            }
        }
        found
    }

    async fn network(&mut self) -> bool {
        let url = self.target.socket_url.clone();
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        if let Some(proxy) = crate::proxy::proxy_for(&url, &self.target.proxy) {
            return self.proxy_hop(&proxy, &host, port).await;
        }
        let t = Instant::now();
        let addrs = match net::resolve(&host, port, self.opts.probe_timeout).await {
            Ok(a) => {
                let shown: Vec<String> = a.iter().map(|x| x.ip().to_string()).collect();
                self.push(
                    Probe::new("dns", Status::Pass, ms(t))
                        .evidence(format!("{host} → {}", shown.join(", "))),
                );
                a
            }
            Err(e) => {
                self.push(Probe::new("dns", Status::Fail, ms(t)).evidence(e.clone()).finding(Finding { symptom: hints::Symptom::Other, hint: format!("The host name does not resolve ({e}): check the URL, DNS, or the ngrok tunnel name.") }));
                self.skip_rest(&["tcp", "tls"], "no DNS answer");
                self.skip_rest(&ENGINE_CHAIN, "no DNS answer");
                return false;
            }
        };
        let t = Instant::now();
        let addr = match net::connect(&addrs, self.opts.probe_timeout).await {
            Ok((a, _)) => {
                self.push(
                    Probe::new("tcp", Status::Pass, ms(t)).evidence(format!("connected to {a}")),
                );
                a
            }
            Err(e) => {
                let alternatives = self.answering_ports(port).await;
                let p = Probe::new("tcp", Status::Fail, ms(t))
                    .evidence(e)
                    .finding(hints::port_closed(port, &alternatives));
                self.push(p);
                self.skip_rest(&["tls"], "no TCP connection");
                self.skip_rest(&ENGINE_CHAIN, "no TCP connection");
                return false;
            }
        };
        if url.scheme() != "https" {
            let local =
                matches!(self.opts.deployment, DeploymentType::Local) || addr.ip().is_loopback();
            let (status, why) = if local {
                (Status::Pass, "plain http on a local host")
            } else {
                (Status::Warn, "plain http: credentials cross the network unencrypted")
            };
            self.push(Probe::new("tls", status, 0).evidence(why));
            return true;
        }
        let t = Instant::now();
        match net::tls(addr, &host, &self.target.tls, self.opts.probe_timeout).await {
            Ok(info) => {
                let mut p = Probe::new("tls", Status::Pass, ms(t));
                if let Some(s) = &info.subject {
                    p = p.evidence(format!("subject {s}"));
                }
                if let Some(i) = info.issuer.as_ref().filter(|_| !info.self_signed) {
                    p = p.evidence(format!("issuer {i}"));
                }
                if let Some(d) = info.days_to_expiry {
                    p = p.evidence(format!("expires in {d} days"));
                }
                if info.self_signed {
                    p = p.evidence("self-signed");
                }
                if let Some(problem) = &info.client_cert {
                    // The server's certificate may be fine; ours is what stops the link.
                    p.status = Status::Fail;
                    p = p.evidence(problem.to_string()).finding(hints::client_certificate(problem));
                    self.push(p);
                    self.skip_rest(&ENGINE_CHAIN, "the server refuses the TLS session");
                    return false;
                }
                match (&info.verify_error, self.target.tls.verify) {
                    (None, _) if info.days_to_expiry.is_some_and(|d| d < 14) => {
                        p.status = Status::Warn;
                        p = p.finding(Finding {
                            symptom: hints::Symptom::TlsError,
                            hint: format!(
                                "The certificate expires in {} days: renew it.",
                                info.days_to_expiry.unwrap_or(0)
                            ),
                        });
                    }
                    (None, _) => {}
                    (Some(e), true) => {
                        p.status = Status::Fail;
                        p = p
                            .evidence(e.to_string())
                            .finding(hints::tls_error(e, info.self_signed));
                        self.push(p);
                        self.skip_rest(&ENGINE_CHAIN, "TLS does not verify");
                        return false;
                    }
                    (Some(e), false) => {
                        p.status = Status::Warn;
                        p = p.evidence(e.to_string()).finding(Finding { symptom: hints::Symptom::TlsError, hint: "TLS verification is turned off for this environment and the certificate does not verify: acceptable for a sandbox only.".into() });
                    }
                }
                self.push(p);
                true
            }
            Err(e) => {
                self.push(
                    Probe::new("tls", Status::Fail, ms(t))
                        .evidence(e.clone())
                        .finding(hints::tls_error(&net::CertProblem::Other(e.clone()), false)),
                );
                self.skip_rest(&ENGINE_CHAIN, "no TLS session");
                false
            }
        }
    }

    async fn web(&mut self) {
        let t = Instant::now();
        let mut u = self.target.base_url.clone();
        u.set_path("/api/method/ping");
        match eio::get(&self.http, u, &[]).await {
            Ok(a) if a.status == 200 && a.body.contains("pong") => {
                self.push(
                    Probe::new("web", Status::Pass, ms(t))
                        .evidence("GET /api/method/ping → 200 pong"),
                );
            }
            Ok(a) => {
                let p = Probe::new("web", Status::Warn, ms(t)).evidence(format!(
                    "GET /api/method/ping → {}: {}",
                    a.status,
                    eio::excerpt(&a.body, 80)
                ));
                self.push(p.finding(Finding { symptom: hints::Symptom::Other, hint: "The web app does not answer /api/method/ping at this URL (fine if the URL is a realtime port; otherwise check the site URL).".into() }));
            }
            Err(e) => {
                let p = Probe::new("web", Status::Warn, ms(t)).evidence(e);
                self.push(p.finding(Finding { symptom: hints::Symptom::Other, hint: "The web app is not reachable at this URL (fine if the URL is a realtime port).".into() }));
            }
        }
    }

    /// P2: returns the open engine session.
    async fn handshake(&mut self) -> Option<Engine> {
        let t = Instant::now();
        let answer =
            match self.handshake_at(&self.target.socket_url.clone(), EioVersion::V4, &[]).await {
                Ok(a) => a,
                Err(e) => {
                    self.push(Probe::new("handshake", Status::Fail, ms(t)).evidence(e).finding(
                        Finding {
                            symptom: hints::Symptom::Other,
                            hint: "The Engine.IO handshake got no HTTP answer.".into(),
                        },
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
                Some(Engine {
                    version: EioVersion::V4,
                    sid: open.sid,
                    ping_interval: open.ping_interval,
                    ping_timeout: open.ping_timeout,
                })
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
                        Some(Engine {
                            version: EioVersion::V3,
                            sid: open.sid,
                            ping_interval: open.ping_interval,
                            ping_timeout: open.ping_timeout,
                        })
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
                        Some(Engine {
                            version: EioVersion::V4,
                            sid: open.sid,
                            ping_interval: open.ping_interval,
                            ping_timeout: open.ping_timeout,
                        })
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
    async fn namespace(&mut self, engine: &Engine) -> Option<NsAnswer> {
        let t = Instant::now();
        let ns = self.target.namespace.clone();
        let v = engine.version;
        let url = eio::eio_url(&self.target.socket_url, v, "polling", Some(&engine.sid));
        let connect = eio::connect_packet(v, &ns, self.target.auth_payload().as_ref());
        let posted = eio::post(&self.http, url.clone(), &self.headers, v, connect).await;
        let mut answer = None;
        let mut last_poll = None;
        if matches!(posted, Ok(200)) {
            let deadline = Instant::now() + self.opts.probe_timeout;
            while answer.is_none() && Instant::now() < deadline {
                match eio::get(&self.http, url.clone(), &self.headers).await {
                    Ok(a) if a.status == 200 => {
                        answer =
                            eio::packets(v, &a.body).iter().find_map(|p| eio::ns_answer(v, &ns, p));
                        last_poll = Some(a);
                    }
                    Ok(a) => {
                        last_poll = Some(a);
                        break;
                    }
                    Err(e) => {
                        last_poll =
                            Some(eio::HttpAnswer { status: 0, body: e, content_type: None });
                        break;
                    }
                }
            }
        }
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
                if f.symptom == hints::Symptom::Unauthorized && self.target.frappe {
                    let status = self.rest_identity_status().await;
                    f = hints::refine_unauthorized(msg, status);
                }
                self.push(
                    Probe::new("namespace", Status::Fail, ms(t))
                        .evidence(format!("CONNECT {ns} refused: \"{msg}\""))
                        .finding(f),
                );
            }
            None => {
                self.push(Probe::new("namespace", Status::Fail, ms(t)).evidence(format!("no answer to CONNECT {ns} within {:?}", self.opts.probe_timeout)).finding(Finding { symptom: hints::Symptom::Other, hint: "The namespace CONNECT got no answer: the server may not be Socket.IO v4, or it hangs in its auth middleware (auth callback timing out).".into() }));
            }
        }
        answer
    }

    async fn rest_identity_status(&self) -> Option<u16> {
        let mut u = self.target.base_url.clone();
        u.set_path("/api/method/frappe.auth.get_logged_user");
        let h: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("origin"))
            .cloned()
            .collect();
        eio::get(&self.http, u, &h).await.ok().map(|a| a.status)
    }

    /// P5: upgrade, probe, hold. Returns the upgraded socket when it held.
    async fn websocket(&mut self, engine: &Engine) -> Option<Box<eio::Ws>> {
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
                    let left = self.opts.hold.saturating_sub(held.elapsed());
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
                            self.opts.hold.as_secs_f64()
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
    async fn pong_and_identity(&mut self, engine: &Engine, ws: Option<Box<eio::Ws>>) -> bool {
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
        let mut u = self.target.base_url.clone();
        u.set_path("/api/method/frappe.auth.get_logged_user");
        let t2 = Instant::now();
        let who = auth::who_am_i(&self.http, &self.target.base_url, &self.headers).await;
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
                self.push(Probe::new("identity", Status::Fail, identity_ms).evidence(format!("get_logged_user → 401 {m}")).finding(Finding { symptom: hints::Symptom::Unauthorized, hint: "The web app rejects these credentials (HTTP 401): the API key/secret or token is wrong or revoked.".into() }));
            }
            Err(e) => {
                let p = Probe::new("identity", Status::Warn, identity_ms).evidence(e.to_string());
                self.push(p.finding(Finding { symptom: hints::Symptom::Other, hint: "Who we are could not be confirmed over REST (the URL may be a bare realtime port); Guest sessions cannot be told apart here.".into() }));
                auth_ok = pong;
            }
        }
        if pong {
            self.probes.insert(
                self.probes.len() - 1,
                Probe::new("pong", Status::Pass, rtt).evidence(format!("ping → pong in {rtt} ms")),
            );
        } else {
            self.probes.insert(
                self.probes.len() - 1,
                Probe::new("pong", Status::Fail, rtt)
                    .evidence(format!("no pong within {:?}", self.opts.probe_timeout))
                    .finding(hints::deaf()),
            );
            auth_ok = false;
        }
        auth_ok
    }

    /// P8: compare with the realtime port on this host.
    async fn local(&mut self, external_ok: bool) -> Option<bool> {
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
            p = p.finding(Finding { symptom: hints::Symptom::RouteMissing, hint: format!("Local OK, external broken ({ext}): the proxy does not map /socket.io/ to port {port}.") });
        } else if !local_ok {
            let alternatives = self.answering_ports(port).await;
            p = p.finding(hints::port_closed(port, &alternatives));
        }
        self.push(p);
        Some(local_ok)
    }

    async fn session(&self, channels: Vec<String>) -> Result<Session, String> {
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
    async fn listen(&mut self, secs: Duration) {
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
    async fn roundtrip(&mut self, channel: &str) {
        let t = Instant::now();
        let s = match self.session(vec![channel.to_string()]).await {
            Ok(s) => s,
            Err(e) => {
                self.push(Probe::new("roundtrip", Status::Skipped, ms(t)).evidence(e));
                return;
            }
        };
        let mut events = s.events();
        let mut u = self.target.base_url.clone();
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
            self.push(Probe::new("roundtrip", Status::Fail, ms(t)).evidence(format!("send_message → {status} {m}")).finding(Finding { symptom: hints::Symptom::Other, hint: format!("Raven refused the test message ({m}): check the channel id and that this user may post there.") }));
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

/// Run the probe chain against `target`.
pub async fn diagnose(target: &Target, opts: &DiagnoseOptions) -> Report {
    let started = Instant::now();
    let urls = [&target.base_url, &target.socket_url];
    let http =
        crate::auth::http_client_builder(&urls, &target.tls, &target.proxy, opts.probe_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sockeye-diagnose/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("static client settings");
    let mut r = Runner { target, opts, http, headers: Vec::new(), probes: Vec::new() };

    let mut sid = match &target.credentials {
        Credentials::Sid(s) => Some(s.clone()),
        _ => None,
    };
    if let Credentials::Login { user, password } = &target.credentials {
        let t = Instant::now();
        match auth::frappe_login(&r.http, &target.base_url, &target.origin, user, password).await {
            Ok(s) => {
                sid = Some(s);
                r.push(
                    Probe::new("login", Status::Pass, ms(t))
                        .evidence(format!("POST /api/method/login as {user} → sid")),
                );
            }
            Err(e) => {
                let p = Probe::new("login", Status::Fail, ms(t)).evidence(e.to_string());
                r.push(p.finding(Finding {
                    symptom: hints::Symptom::Unauthorized,
                    hint: format!("Login failed: \"{e}\"."),
                }));
            }
        }
    }
    r.headers = target.headers(sid.as_ref(), false);

    if let Some(configured) = &opts.configured_socket_url
        && target.base_url.scheme() == "https"
        && configured.scheme() == "http"
    {
        r.push(
            Probe::new("scheme", Status::Warn, 0)
                .evidence(format!("site {} vs socket {}", target.base_url, configured))
                .finding(hints::mixed_content(target.base_url.as_str(), configured.as_str())),
        );
    }

    let reachable = r.network().await;
    if target.frappe {
        r.web().await;
    }
    let mut external_ok = false;
    let mut websocket_ok = false;
    let mut auth_ok = false;
    if reachable {
        match r.handshake().await {
            None => r.skip_rest(
                &["second_poll", "namespace", "websocket", "pong", "identity"],
                "no Engine.IO session",
            ),
            Some(engine) => {
                let ns = r.namespace(&engine).await;
                let ns_ok = ns == Some(NsAnswer::Connected);
                external_ok = ns_ok;
                let ws = r.websocket(&engine).await;
                websocket_ok = ws.is_some();
                if ns_ok && target.frappe {
                    auth_ok = r.pong_and_identity(&engine, ws).await;
                } else if ns_ok {
                    auth_ok = true;
                    r.skip_rest(&["pong", "identity"], "not a Frappe site");
                } else {
                    r.skip_rest(&["pong", "identity"], "the namespace refused us");
                }
            }
        }
    }
    let local_ok = r.local(external_ok).await;
    if let Some(secs) = opts.listen {
        if auth_ok {
            r.listen(secs).await;
        } else {
            r.push(Probe::skipped("listen", "the link is not healthy"));
        }
    }
    if let Some(ch) = opts.roundtrip.clone() {
        if auth_ok {
            r.roundtrip(&ch).await;
        } else {
            r.push(Probe::skipped("roundtrip", "the link is not healthy"));
        }
    }

    let mut report = Report {
        env: target.name.clone(),
        url: target.base_url.as_str().trim_end_matches('/').to_string(),
        namespace: target.namespace.clone(),
        probes: r.probes,
        summary: Summary {
            deployment_type: opts.deployment.as_str().into(),
            local_socketio_ok: local_ok,
            external_socketio_ok: external_ok,
            websocket_ok,
            auth_ok,
            hint: String::new(),
        },
        total_ms: ms(started),
    };
    report.summary.hint = report
        .top_hint()
        .map(str::to_string)
        .unwrap_or_else(|| "All probes passed: the realtime link is healthy.".into());
    report
}
