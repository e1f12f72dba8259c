//! Hints that name the cause behind a refusal (`realworld-failures.md` C1–C23), not just the
//! symptom: which hop rewrote the Origin or the Host, and why the realtime server's callback
//! to the web app failed. Pure functions over what the probes saw; unit tested.

use super::hints::{Finding, Symptom};

/// What the `Invalid origin` experiments showed (see `origin.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// Our own Origin's host is not the host we connect to.
    OursDiffers { origin: String, host: String },
    /// With an Origin of `http://<seen>` the check passed: the proxy sends `Host: <seen>`.
    HostRewritten { seen: String },
    /// With a `Referer` the check passed: the proxy builds Origin from the Referer.
    FromReferer,
    /// Whatever Origin we send, the server sees another (or none).
    Replaced,
}

pub fn invalid_origin(v: &OriginVerdict, https_site: bool) -> Finding {
    match v {
        OriginVerdict::OursDiffers { origin, host } => Finding::new(
            Symptom::InvalidOrigin,
            format!(
                "\"Invalid origin\": this environment sends Origin {origin} but connects to {host}; Frappe's realtime server requires the same host name in both (a single-page app on another origin cannot connect without a same-origin proxy). Set the Origin to the site URL."
            ),
        )
        .cause("C18"),
        OriginVerdict::HostRewritten { seen } => Finding::new(
            Symptom::InvalidOrigin,
            format!(
                "\"Invalid origin\" because the proxy rewrites the Host header: the realtime server sees Host {seen} (an Origin of http://{seen} passes its check), not the site's host. Pass the browser's Host through: nginx `proxy_set_header Host $host;`, Caddy `header_up Host {{host}}`."
            ),
        )
        .cause("C1"),
        OriginVerdict::FromReferer => Finding::new(
            Symptom::InvalidOrigin,
            "\"Invalid origin\" because the proxy builds the Origin from the Referer (`proxy_set_header Origin $http_referer`): requests without a Referer arrive with no Origin, and with one the realtime server calls back to a URL with the page's path in it (/app/…/api/method/…). Use `proxy_set_header Origin $scheme://$http_host;`.",
        )
        .cause("C19"),
        OriginVerdict::Replaced if https_site => Finding::new(
            Symptom::InvalidOrigin,
            "\"Invalid origin\" whatever Origin we send: a hop between us and the realtime server replaces it (or drops it). Behind a TLS terminator nginx's $scheme is http: build it as `proxy_set_header Origin $http_x_forwarded_proto://$http_host;`, and make sure no template sets a fixed site name (frappe_docker FRAPPE_SITE_NAME_HEADER).",
        )
        .cause("C20"),
        OriginVerdict::Replaced => Finding::new(
            Symptom::InvalidOrigin,
            "\"Invalid origin\" whatever Origin we send: a hop between us and the realtime server replaces the Origin (e.g. a template's `proxy_set_header Origin $scheme://<fixed name>`, frappe_docker's FRAPPE_SITE_NAME_HEADER) or drops it. Set `proxy_set_header Origin $scheme://$http_host;` so its host is the Host's.",
        )
        .cause("C2"),
    }
}

/// What we know about the callback target when the server says `Unauthorized: …`.
#[derive(Debug, Clone, Default)]
pub struct CallbackView {
    /// The Origin we sent (the base of the server's callback URL).
    pub origin: String,
    /// Our own request to the web app at the Origin answered.
    pub we_reach_origin: bool,
    /// The Origin's host is a loopback name.
    pub origin_loopback: bool,
    /// `localhost` resolves to ::1 first here while the web port answers on 127.0.0.1 only.
    pub localhost_v6_only_refused: bool,
    /// Our identity check (REST) status, when it ran.
    pub rest_status: Option<u16>,
}

fn callback_url(v: &CallbackView) -> String {
    format!("{}/api/method/frappe.realtime.get_user_info", v.origin.trim_end_matches('/'))
}

/// Classify an `Unauthorized: <error>` refusal: the realtime server's callback failed.
pub fn unauthorized(message: &str, v: &CallbackView) -> Finding {
    let at = callback_url(v);
    let html = message.contains("SyntaxError")
        && (message.contains("Unexpected token") || message.contains("not valid JSON"));
    if html {
        let ours = match v.rest_status {
            Some(200) => {
                " Our own request to the web app passes, so the front door lets browsers through but not the realtime server's request."
            }
            _ => "",
        };
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": the realtime server's callback to {at} got an HTML page instead of JSON. A front door — an SSO/app proxy, an IP allow-list, auth_basic or a login page — answers /api/method/frappe.realtime.* for the server's own request.{ours} Exempt /api/method/frappe.realtime.* from it (allow the server's IP), or set server_ip so the callback goes straight to the web process."
            ),
        )
        .cause("C7");
    }
    if message.contains("Failed to parse URL") {
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": the realtime server got no usable Origin to call back to (a hop dropped or mangled it). Set `proxy_set_header Origin $scheme://$http_host;`."
            ),
        )
        .cause("C2");
    }
    if matches!(v.rest_status, Some(401) | Some(403)) {
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\" and the web app answers {} to our credentials: the sid expired or the token is wrong. Log in again or create a new API key.",
                v.rest_status.unwrap_or_default()
            ),
        )
        .cause("C8");
    }
    let unreachable = ["fetch failed", "ECONNREFUSED", "ENOTFOUND", "getaddrinfo", "ETIMEDOUT"]
        .iter()
        .any(|m| message.contains(m));
    if !unreachable {
        return super::hints::refine_unauthorized(message, v.rest_status);
    }
    if v.origin.starts_with("https://")
        && ["certificate", "self-signed", "self signed", "CERT"].iter().any(|m| message.contains(m))
    {
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": the realtime server does not trust the TLS certificate of {at} (a private CA or self-signed). Give Node the CA (NODE_EXTRA_CA_CERTS) or let it call the web process over plain http (server_ip)."
            ),
        )
        .cause("C6");
    }
    if v.localhost_v6_only_refused {
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": the Origin says localhost, which resolves to ::1 first, but the web process listens on 127.0.0.1 only, so the realtime server's callback to {at} is refused. Use 127.0.0.1 in the Origin/host_name, run Node with --dns-result-order=ipv4first, or bind the web process on ::1 too."
            ),
        )
        .cause("C21");
    }
    if v.we_reach_origin && v.origin_loopback {
        return Finding::new(
            Symptom::Unauthorized,
            format!(
                "\"{message}\": we reach the web app at {} but the realtime server on the same host cannot call it back. With developer_mode set in common_site_config.json it replaces the Origin's port with webserver_port (wrong here?); in a container, localhost is the container itself (use server_ip or extra_hosts).",
                v.origin
            ),
        )
        .cause("C5");
    }
    Finding::new(
        Symptom::Unauthorized,
        format!(
            "\"{message}\": the realtime server cannot reach {at}, its callback to the web app at the Origin URL. The server must resolve and reach the public name itself (DNS, hairpin NAT, a container's own localhost): run `bench add-to-hosts`, set server_ip in common_site_config.json, or add extra_hosts to the realtime container."
        ),
    )
    .cause("C4")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> CallbackView {
        CallbackView {
            origin: "https://erp.example.com".into(),
            rest_status: Some(200),
            ..Default::default()
        }
    }

    #[test]
    fn callback_failures_name_their_cause() {
        let html = "Unauthorized: SyntaxError: Unexpected token '<', \"<html>\r\n<h\"... is not valid JSON";
        let f = unauthorized(html, &view());
        assert_eq!(f.cause, Some("C7"));
        assert!(f.hint.contains("front door") && f.hint.contains("server_ip"), "{}", f.hint);
        let f = unauthorized("Unauthorized: TypeError: fetch failed", &view());
        assert_eq!(f.cause, Some("C4"));
        assert!(f.hint.contains("bench add-to-hosts"));
        let local = CallbackView {
            origin: "http://127.0.0.1:8000".into(),
            we_reach_origin: true,
            origin_loopback: true,
            ..view()
        };
        assert_eq!(unauthorized("Unauthorized: TypeError: fetch failed", &local).cause, Some("C5"));
        let v6 = CallbackView { localhost_v6_only_refused: true, ..local };
        assert_eq!(unauthorized("Unauthorized: TypeError: fetch failed", &v6).cause, Some("C21"));
        let tls = "Unauthorized: TypeError: fetch failed (self-signed certificate)";
        assert_eq!(unauthorized(tls, &view()).cause, Some("C6"));
        let bad = CallbackView { rest_status: Some(401), ..view() };
        assert_eq!(unauthorized("Unauthorized: TypeError: x", &bad).cause, Some("C8"));
        assert_eq!(
            unauthorized("Unauthorized: TypeError: Failed to parse URL from /api", &view()).cause,
            Some("C2")
        );
    }

    #[test]
    fn origin_verdicts_name_the_hop() {
        let f = invalid_origin(&OriginVerdict::HostRewritten { seen: "127.0.0.1".into() }, false);
        assert_eq!(f.cause, Some("C1"));
        assert!(f.hint.contains("proxy_set_header Host $host"));
        assert_eq!(invalid_origin(&OriginVerdict::Replaced, false).cause, Some("C2"));
        assert_eq!(invalid_origin(&OriginVerdict::Replaced, true).cause, Some("C20"));
        assert_eq!(invalid_origin(&OriginVerdict::FromReferer, false).cause, Some("C19"));
        let f = invalid_origin(
            &OriginVerdict::OursDiffers { origin: "http://spa.test".into(), host: "erp".into() },
            false,
        );
        assert_eq!(f.cause, Some("C18"));
    }
}
