//! Telling the Origin/Host causes apart: compare what we sent with what the server must have
//! seen. Frappe's middleware compares hostname(Host) with hostname(Origin) on the request that
//! opened the Engine.IO session, so each experiment is one handshake + CONNECT with one header
//! changed, and the refusal changing (or not) says which hop rewrote what.

use std::time::Duration;

use url::Url;

use super::causes::{CallbackView, OriginVerdict};
use super::eio::{self, NsAnswer};
use super::{Runner, net};
use crate::url_rules::is_loopback_host;
use crate::wire::EioVersion;

/// Host names proxies commonly rewrite Host to (bench/upstream templates, frappe_docker's
/// websocket service).
const REWRITTEN_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "websocket"];

fn host_of(u: &str) -> Option<String> {
    Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_string))
}

impl Runner<'_> {
    /// One handshake + namespace CONNECT with `headers`; the answer, if any.
    async fn connect_with(&self, v: EioVersion, headers: &[(String, String)]) -> Option<NsAnswer> {
        let socket_url = &self.target.socket_url;
        let open = eio::get(&self.http, eio::eio_url(socket_url, v, "polling", None), headers)
            .await
            .ok()
            .and_then(|a| eio::parse_open(v, &a.body))?;
        let url = eio::eio_url(socket_url, v, "polling", Some(&open.sid));
        let ns = &self.target.namespace;
        let connect = eio::connect_packet(v, ns, self.target.auth_payload().as_ref());
        if eio::post(&self.http, url.clone(), headers, v, connect).await != Ok(200) {
            return None;
        }
        self.poll_ns_answer(&url, headers, v, ns).await.0
    }

    fn headers_with(&self, name: &str, value: Option<String>) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> =
            self.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case(name)).cloned().collect();
        if let Some(v) = value {
            h.push((name.to_string(), v));
        }
        h
    }

    /// Why the server says `Invalid origin`; the experiments tried, as evidence.
    pub(super) async fn origin_verdict(&self, v: EioVersion) -> (OriginVerdict, Vec<String>) {
        let host = self.target.socket_url.host_str().unwrap_or_default().to_string();
        let ours = host_of(&self.target.origin);
        if ours.as_deref() != Some(host.as_str()) {
            let verdict = OriginVerdict::OursDiffers { origin: self.target.origin.clone(), host };
            return (verdict, Vec::new());
        }
        let passes = |a: &Option<NsAnswer>| {
            !matches!(a, Some(NsAnswer::Refused(m)) if m == "Invalid origin") && a.is_some()
        };
        let mut tried = Vec::new();
        // A Referer with a path: only an Origin built from it changes the answer.
        let referer =
            format!("{}/app/sockeye-origin-check", self.target.origin.trim_end_matches('/'));
        let h = self.headers_with("Referer", Some(referer.clone()));
        let a = self.connect_with(v, &h).await;
        tried.push(format!("with Referer {referer} → {}", describe(&a)));
        if passes(&a) {
            return (OriginVerdict::FromReferer, tried);
        }
        // An Origin naming the host a proxy may have rewritten Host to.
        for seen in REWRITTEN_HOSTS.iter().filter(|h| **h != host) {
            let h = self.headers_with("Origin", Some(format!("http://{seen}")));
            let a = self.connect_with(v, &h).await;
            tried.push(format!("with Origin http://{seen} → {}", describe(&a)));
            if passes(&a) {
                return (OriginVerdict::HostRewritten { seen: seen.to_string() }, tried);
            }
        }
        (OriginVerdict::Replaced, tried)
    }

    /// What we know about the server's callback target (the Origin).
    pub(super) async fn callback_view(&self) -> CallbackView {
        let origin_url = Url::parse(&self.target.origin).ok();
        let origin_host = origin_url.as_ref().and_then(|u| u.host_str()).unwrap_or_default();
        let we_reach_origin = self.web_ok
            && origin_url.as_ref().is_some_and(|o| o.origin() == self.rest_url.origin());
        let mut view = CallbackView {
            origin: self.target.origin.clone(),
            we_reach_origin,
            origin_loopback: is_loopback_host(origin_host),
            localhost_v6_only_refused: false,
            rest_status: self.rest_identity_status().await,
        };
        if origin_host == "localhost"
            && let Some(port) = origin_url.as_ref().and_then(Url::port_or_known_default)
        {
            view.localhost_v6_only_refused = v6_first_and_refused(port).await;
        }
        view
    }
}

/// `localhost` resolves to ::1 first, ::1 refuses `port` and 127.0.0.1 accepts it: what a
/// Node ≥ 17 realtime server without IPv4-first DNS order runs into.
async fn v6_first_and_refused(port: u16) -> bool {
    let t = Duration::from_millis(500);
    let Ok(addrs) = net::resolve("localhost", port, t).await else { return false };
    let Some(first) = addrs.first() else { return false };
    if !first.is_ipv6() {
        return false;
    }
    let v6 = net::connect(&[*first], t).await.is_err();
    let v4: Vec<_> = addrs.iter().filter(|a| a.is_ipv4()).copied().collect();
    v6 && !v4.is_empty() && net::connect(&v4, t).await.is_ok()
}

fn describe(a: &Option<NsAnswer>) -> String {
    match a {
        Some(NsAnswer::Connected) => "connected".into(),
        Some(NsAnswer::Refused(m)) => format!("\"{m}\""),
        None => "no answer".into(),
    }
}
