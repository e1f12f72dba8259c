//! Proxy-shaped faults: what sits in front of `/socket.io/` on broken deployments.
//!
//! Runs before the Socket.IO layer, so the engine never sees a request a broken proxy would
//! not have forwarded. Also applies `behind_nginx`, which rewrites headers the way the bench
//! and frappe_docker nginx templates do.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use crate::state::SimState;

const NOT_FOUND_HTML: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Page Not Found</title></head>\n<body><div class=\"page-container\"><h1>Page Not Found</h1><p>The page you are looking for has gone missing.</p></div></body></html>\n";
const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const NGROK_HTML: &str = "<!DOCTYPE html><html><head><title>ngrok</title></head><body><div id=\"root\">You are about to visit 127.0.0.1: ... This website is served for free through ngrok.com. <button>Visit Site</button> ERR_NGROK_6024</div></body></html>";

/// Frappe's "Page Not Found" page, as a site answers a path (or method) it does not have.
pub fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, Html(NOT_FOUND_HTML)).into_response()
}

fn query_has(req: &Request, key: &str, value: Option<&str>) -> bool {
    req.uri().query().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .any(|(k, v)| k == key && value.is_none_or(|want| v == want))
    })
}

fn engine_error(code: u8, message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{{\"code\":{code},\"message\":\"{message}\"}}"),
    )
        .into_response()
}

pub async fn layer(State(st): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/socket.io") {
        return next.run(req).await;
    }
    if let Some(mark) = req.extensions().get::<crate::conn::SocketMark>() {
        mark.set();
    }
    let f = st.faults();
    if f.route_missing {
        return not_found_page();
    }
    if f.bad_gateway {
        return (StatusCode::BAD_GATEWAY, Html(BAD_GATEWAY_HTML)).into_response();
    }
    if f.interstitial && !req.headers().contains_key("ngrok-skip-browser-warning") {
        return (StatusCode::OK, Html(NGROK_HTML)).into_response();
    }
    if f.eio3_only {
        // A Socket.IO v2 server ignores EIO=4 and answers with an EIO3-framed payload.
        let open = r#"0{"sid":"eio3-session-0000000","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}"#;
        return (StatusCode::OK, format!("{}:{}2:40", open.len(), open)).into_response();
    }
    // engine.io answers these with integer codes; engineioxide uses strings. Answer like Node.
    if !query_has(&req, "EIO", Some("4")) {
        return engine_error(5, "Unsupported protocol version");
    }
    if !query_has(&req, "transport", Some("polling"))
        && !query_has(&req, "transport", Some("websocket"))
    {
        return engine_error(0, "Transport unknown");
    }
    let websocket = query_has(&req, "transport", Some("websocket"));
    let upgrade_header = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if websocket && !upgrade_header {
        // Node hands only requests with `Upgrade: websocket` to the WebSocket server; engine.io
        // answers any other request for the websocket transport 400 code 3. engineioxide would
        // answer 101 without checking, which behind a proxy that strips `Upgrade` (nginx
        // without `proxy_http_version 1.1` and the Upgrade headers) cannot be honoured.
        return engine_error(3, "Bad request");
    }
    if f.upgrade_refused && websocket {
        // A proxy without `Upgrade`/`Connection` forwarding hands the engine a plain GET.
        return engine_error(3, "Bad request");
    }
    if f.upgrade_no_probe && websocket {
        let (mut parts, _body) = req.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            // Accept, then swallow everything: the probe never gets its answer.
            Ok(ws) => ws.on_upgrade(|mut socket| async move {
                let deadline = tokio::time::sleep(Duration::from_secs(120));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        _ = &mut deadline => break,
                        msg = socket.recv() => if msg.is_none() { break },
                    }
                }
            }),
            Err(e) => e.into_response(),
        };
    }
    if f.no_sticky && !websocket && query_has(&req, "sid", None) {
        return engine_error(1, "Session ID unknown");
    }
    let mut req = req;
    if f.behind_nginx {
        let host =
            req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_string();
        let site = st.config().default_site.clone();
        let h = req.headers_mut();
        if let Ok(origin) = HeaderValue::from_str(&format!("http://{host}")) {
            h.insert(header::ORIGIN, origin);
        }
        if let Ok(site) = HeaderValue::from_str(&site) {
            h.insert("x-frappe-site-name", site);
        }
    }
    integer_error_codes(next.run(req).await).await
}

/// engineioxide writes `{"code":"1","message":"Session ID unknown"}`; engine.io writes the
/// code as a number. Rewrite small 400 bodies so clients and probes see what Node sends.
async fn integer_error_codes(resp: Response) -> Response {
    if resp.status() != StatusCode::BAD_REQUEST {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 4096).await else {
        return (StatusCode::BAD_REQUEST, "").into_response();
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if let Some(v) = serde_json::from_str::<serde_json::Value>(&text).ok()
        && let Some(code) =
            v.get("code").and_then(|c| c.as_str()).and_then(|c| c.parse::<u8>().ok())
    {
        let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
        text = format!(
            "{{\"code\":{code},\"message\":{}}}",
            serde_json::Value::String(message.into())
        );
    }
    let mut resp = Response::from_parts(parts, axum::body::Body::from(text));
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}
