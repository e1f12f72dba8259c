//! HTTP long-polling requests: the Engine.IO URL, headers on every request, bodies read with
//! a size limit, and failures as status + body excerpt. Used by the client's polling transport
//! and by the diagnostics, which show these answers as evidence.

use std::time::Duration;

use url::Url;

use super::engine::EioVersion;

/// A plain HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Body,
}

/// A polling body: text, or an engine.io 3 binary payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

impl Body {
    /// The body as text (binary shown lossily), for evidence and matching.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Body::Text(t) => t.as_str().into(),
            Body::Binary(b) => String::from_utf8_lossy(b),
        }
    }
}

/// A request that produced no usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpFailure {
    /// No HTTP answer (DNS, connection refused, TLS, reset, timeout); the cause chain.
    #[error("{0}")]
    Network(String),
    /// The body was larger than the limit.
    #[error("answer over the {0}-byte limit")]
    TooLarge(usize),
}

/// The Engine.IO endpoint URL: `EIO`, `transport`, a cache buster, the `sid` once known;
/// v3 also asks for base64 binary (`b64=1`) so payloads stay text.
pub fn eio_url(socket_url: &Url, version: EioVersion, transport: &str, sid: Option<&str>) -> Url {
    let mut u = socket_url.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("EIO", version.query()).append_pair("transport", transport);
        if transport == "polling" {
            q.append_pair("t", &cache_buster());
            if version == EioVersion::V3 {
                q.append_pair("b64", "1");
            }
        }
        if let Some(s) = sid {
            q.append_pair("sid", s);
        }
    }
    u
}

/// Proxies and browsers cache GETs; every poll gets a fresh `t` (as engine.io-client does).
fn cache_buster() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{:x}{:x}", crate::events::now_ms(), N.fetch_add(1, Ordering::Relaxed))
}

/// `req` with every header of `headers`: the one place a request gets the session's
/// credentials, Origin and extra headers (polling, REST, probes).
pub fn with_headers(
    mut req: reqwest::RequestBuilder,
    headers: &[(String, String)],
) -> reqwest::RequestBuilder {
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req
}

/// GET `url` with `headers`; the body is read up to `limit` bytes. `hold`: the server may
/// hold the answer back (a long poll) this long, beyond the client's own request timeout,
/// which is sized for answers that come at once.
///
/// Sent once more on a new connection if the first fails before any answer
/// ([`once_more_if_unanswered`]).
pub async fn get(
    http: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    limit: usize,
    hold: Option<Duration>,
) -> Result<HttpAnswer, HttpFailure> {
    let send = || {
        let req = with_headers(http.get(url.clone()), headers);
        match hold {
            Some(t) => req.timeout(t),
            None => req,
        }
        .send()
    };
    read(once_more_if_unanswered(send).await?, limit).await
}

/// Send a request, and once more if the connection closed before any byte of an answer.
///
/// A kept-alive connection the other side closed just as it was reused fails that way:
/// proxies such as tinyproxy close theirs without saying so, and whether the close or the
/// next request wins depends on timing (a loaded machine loses the race every time). Browsers
/// send the request again on a new connection — for POSTs too (Chromium resends any request
/// that fails before an answer on a reused connection), which is what socket.io-client's
/// polling does in a browser. Nothing was answered, so nothing is lost; a server that took a
/// POST and closed without answering would see its packets twice, as it would from a browser.
async fn once_more_if_unanswered<F, Fut>(send: F) -> Result<reqwest::Response, HttpFailure>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    match send().await {
        Err(e) if closed_before_answer(&e) => send().await,
        other => other,
    }
    .map_err(|e| HttpFailure::Network(crate::error_text::error_chain(&e)))
}

/// hyper's "connection closed before message completed": no byte of an answer arrived.
fn closed_before_answer(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
            return true;
        }
        source = s.source();
    }
    false
}

/// POST `body` (a text payload) to `url`; sent once more on a new connection if the first
/// fails before any answer ([`once_more_if_unanswered`]).
pub async fn post(
    http: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    body: String,
    limit: usize,
) -> Result<HttpAnswer, HttpFailure> {
    let send = || {
        let req = http
            .post(url.clone())
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body.clone());
        with_headers(req, headers).send()
    };
    read(once_more_if_unanswered(send).await?, limit).await
}

async fn read(mut resp: reqwest::Response, limit: usize) -> Result<HttpAnswer, HttpFailure> {
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    if resp.content_length().is_some_and(|n| n as usize > limit) {
        return Err(HttpFailure::TooLarge(limit));
    }
    let mut buf = Vec::with_capacity(resp.content_length().unwrap_or(256).min(1 << 20) as usize);
    while let Some(chunk) =
        resp.chunk().await.map_err(|e| HttpFailure::Network(crate::error_text::error_chain(&e)))?
    {
        if buf.len() + chunk.len() > limit {
            return Err(HttpFailure::TooLarge(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    let binary = content_type.as_deref().is_some_and(|c| c.starts_with("application/octet-stream"));
    let body = if binary {
        Body::Binary(buf)
    } else {
        match String::from_utf8(buf) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    Ok(HttpAnswer { status, content_type, body })
}

/// One line of at most `n` characters, for evidence and error messages.
pub fn excerpt(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > n {
        format!("{}…", one_line.chars().take(n).collect::<String>())
    } else {
        one_line
    }
}

/// Engine.IO's own refusal: `{"code":5,"message":"Unsupported protocol version"}` (the code
/// is a number from node, a string from socketioxide).
pub fn engine_error_code(body: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Code {
        N(u64),
        S(String),
    }
    #[derive(serde::Deserialize)]
    struct E {
        code: Code,
    }
    match serde_json::from_str::<E>(body.trim()).ok()?.code {
        Code::N(n) => Some(n),
        Code::S(s) => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_codes() {
        let base = Url::parse("http://h:9000/socket.io/").unwrap();
        let u = eio_url(&base, EioVersion::V3, "polling", Some("abc"));
        let q: Vec<_> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(q, vec!["EIO", "transport", "t", "b64", "sid"]);
        assert!(u.as_str().contains("EIO=3&transport=polling"));
        let w = eio_url(&base, EioVersion::V4, "websocket", None);
        assert_eq!(w.query(), Some("EIO=4&transport=websocket"));
        assert_ne!(
            eio_url(&base, EioVersion::V4, "polling", None),
            eio_url(&base, EioVersion::V4, "polling", None),
            "cache buster"
        );
        assert_eq!(
            engine_error_code(r#"{"code":5,"message":"Unsupported protocol version"}"#),
            Some(5)
        );
        assert_eq!(engine_error_code(r#"{"code":"1","message":"Session ID unknown"}"#), Some(1));
        assert_eq!(engine_error_code("<html>"), None);
        assert_eq!(excerpt("a\n  b   c", 3), "a b…");
    }
}
