//! Diagnostics: turn "realtime events are not working" into one sentence with the fix.
//!
//! A chain of probes (`client-and-diagnostics.md` §2), cheapest first, each with a timeout
//! and evidence; a probe that an earlier failure makes meaningless is skipped with the
//! reason. The optional `listen` and `roundtrip` probes use the real [`Session`], so they see
//! exactly what the app sees.

pub mod causes;
pub mod eio;
mod engine;
pub mod fixes;
pub mod hints;
mod hop;
pub mod net;
mod network;
mod origin;
pub mod report;
mod roundtrip;
mod session;
mod socket;
mod web;

use std::time::{Duration, Instant};

use url::Url;

use crate::auth::{self, Credentials};
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
    /// Where REST goes: the web app (the site URL, or the Origin when the URL is a realtime
    /// port), decided by the `web` probe.
    rest_url: Url,
    /// The web app answered; REST probes are meaningless otherwise.
    web_ok: bool,
    /// pingInterval + pingTimeout of the server, once the handshake told us (seconds).
    heartbeat_secs: u64,
    /// Ports that answered Socket.IO when the configured one did not.
    alternatives: Vec<u16>,
}

/// The polling session the handshake opened, shared by the later probes.
struct Engine {
    version: EioVersion,
    sid: String,
    ping_interval: u64,
    ping_timeout: u64,
}

impl Engine {
    /// The session a handshake's open packet describes.
    fn opened(version: EioVersion, open: crate::wire::engine::Handshake) -> Engine {
        Engine {
            version,
            sid: open.sid,
            ping_interval: open.ping_interval,
            ping_timeout: open.ping_timeout,
        }
    }
}

impl Runner<'_> {
    /// Record a probe; a finding gets its ready-to-paste fixes here, where the detected
    /// values are known.
    fn push(&mut self, p: Probe) -> Status {
        let p = self.with_fixes(p);
        let s = p.status;
        self.probes.push(p);
        s
    }

    /// A finding's ready-to-paste fixes, filled in with the detected values.
    fn with_fixes(&self, mut p: Probe) -> Probe {
        if let Some(symptom) = p.symptom
            && p.fixes.is_empty()
            && matches!(p.status, Status::Fail | Status::Warn)
        {
            p.fixes = fixes::fixes_for(symptom, p.cause, &self.fix_context());
        }
        p
    }

    fn fix_context(&self) -> fixes::FixContext {
        let t = self.target;
        let site_url = Url::parse(&t.origin).unwrap_or_else(|_| t.base_url.clone());
        let host = site_url.host_str().unwrap_or_default().to_string();
        let socket_port =
            t.socket_url.port().filter(|_| t.socket_url.origin() != self.rest_url.origin());
        let local_rest = self.rest_url.host_str().is_some_and(crate::url_rules::is_loopback_host);
        fixes::FixContext {
            site: t.site.clone().unwrap_or_else(|| t.namespace.trim_start_matches('/').to_string()),
            host,
            site_url: crate::url_rules::origin_of(&site_url),
            realtime_port: self.opts.local_port.or(socket_port).unwrap_or(9000),
            web_port: self.rest_url.port().filter(|_| local_rest).unwrap_or(8000),
            alternatives: self.alternatives.clone(),
            heartbeat_secs: self.heartbeat_secs,
            deployment: self.opts.deployment,
            channel: self.opts.roundtrip.clone(),
        }
    }

    /// The session cookie: pasted, or from a login (`Login` credentials) at the web app.
    async fn login(&mut self) -> Option<crate::secrets::Secret> {
        let (user, password) = match &self.target.credentials {
            Credentials::Sid(s) => return Some(s.clone()),
            Credentials::Login { user, password } => (user, password),
            _ => return None,
        };
        let t = Instant::now();
        match auth::frappe_login(&self.http, &self.rest_url, &self.target.origin, user, password)
            .await
        {
            Ok(s) => {
                self.push(Probe::new("login", Status::Pass, ms(t)).evidence(format!(
                    "POST {}/api/method/login as {user} → sid",
                    self.rest_url.as_str().trim_end_matches('/')
                )));
                Some(s)
            }
            Err(e) => {
                let p = Probe::new("login", Status::Fail, ms(t)).evidence(e.to_string());
                self.push(p.finding(Finding::new(
                    hints::Symptom::Unauthorized,
                    format!("Login failed: \"{e}\"."),
                )));
                None
            }
        }
    }

    fn skip_rest(&mut self, names: &[&'static str], why: &str) {
        for n in names {
            self.probes.push(Probe::skipped(n, why));
        }
    }
}

/// Run the probe chain against `target`.
pub async fn diagnose(target: &Target, opts: &DiagnoseOptions) -> Report {
    let started = Instant::now();
    let origin_url = Url::parse(&target.origin).ok();
    let mut urls = vec![&target.base_url, &target.socket_url];
    urls.extend(origin_url.as_ref());
    let http =
        crate::auth::http_client_builder(&urls, &target.tls, &target.proxy, opts.probe_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sockeye-diagnose/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("static client settings");
    let mut r = Runner {
        target,
        opts,
        http,
        headers: Vec::new(),
        probes: Vec::new(),
        rest_url: target.base_url.clone(),
        web_ok: false,
        heartbeat_secs: 45,
        alternatives: Vec::new(),
    };

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
        r.web_ok = r.web().await;
    }
    let sid = r.login().await;
    r.headers = target.headers(sid.as_ref(), false);

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
                r.heartbeat_secs = (engine.ping_interval + engine.ping_timeout) / 1000;
                let ns = r.namespace(&engine).await;
                let ns_ok = ns == Some(NsAnswer::Connected);
                external_ok = ns_ok;
                let hold = if ns_ok { opts.hold } else { Duration::ZERO };
                let ws = r.websocket(&engine, hold).await;
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
