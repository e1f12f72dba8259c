//! The one REST call of the progress fallback:
//! `GET /api/method/<endpoint>?conversation_id=<run>` with the session's headers, answering
//! `{"message": {"updates": [<ai_progress payload>, ...]}}`. A read with no side effects.

use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use crate::auth::frappe_message;
use crate::wire::http::{self, HttpFailure};

/// Why a poll brought nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    /// The site refused the call (404: no such method or app, 403: not permitted, 417:
    /// Frappe's validation error, 401: credentials): asking again would not help.
    #[error("HTTP {status}: {message}")]
    Refused { status: u16, message: String },
    /// A 200 that is not `{"message": {"updates": [...]}}` (an HTML page, another shape).
    #[error("the answer is not {{\"message\": {{\"updates\": [...]}}}}: {0}")]
    NotProgress(String),
    /// The answer outgrew the limit (and would only grow).
    #[error("the answer is over the {0}-byte limit")]
    TooLarge(usize),
    /// Network, timeout, 5xx, 408, 429: worth another try later.
    #[error("{0}")]
    Unavailable(String),
}

impl PollError {
    /// The endpoint should not be asked again in this session.
    pub fn is_permanent(&self) -> bool {
        !matches!(self, PollError::Unavailable(_))
    }
}

#[derive(Deserialize)]
struct Answer {
    message: Progress,
}

#[derive(Deserialize)]
struct Progress {
    updates: Vec<Box<RawValue>>,
}

/// The URL polled for `run`.
pub fn progress_url(base: &Url, endpoint: &str, run: &str) -> Url {
    let mut u = base.clone();
    u.set_path(&format!("/api/method/{endpoint}"));
    u.set_query(None);
    u.query_pairs_mut().append_pair("conversation_id", run);
    u
}

/// What an answer means: the updates, or why there are none.
pub fn read_answer(status: u16, body: &str) -> Result<Vec<Box<RawValue>>, PollError> {
    match status {
        200 => serde_json::from_str::<Answer>(body).map(|a| a.message.updates).map_err(|e| {
            PollError::NotProgress(
                html_page(body).unwrap_or_else(|| format!("{e} ({})", http::excerpt(body, 80))),
            )
        }),
        408 | 429 | 500..=599 => Err(PollError::Unavailable(describe(status, body))),
        _ => Err(PollError::Refused { status, message: describe(status, body) }),
    }
}

/// Frappe's error message, or what the body is.
fn describe(status: u16, body: &str) -> String {
    if let Some(page) = html_page(body) {
        return page;
    }
    let m = frappe_message(status, body);
    m.strip_prefix(&format!("HTTP {status}: ")).map(str::to_string).unwrap_or(m)
}

/// "an HTML page (<title>)" when the body is one: a site's error page, a proxy's, a login.
fn html_page(body: &str) -> Option<String> {
    let head = body.trim_start().get(..body.trim_start().len().min(15))?.to_ascii_lowercase();
    if !(head.starts_with("<!doctype html") || head.starts_with("<html")) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let title = lower
        .find("<title>")
        .map(|i| i + "<title>".len())
        .and_then(|start| lower[start..].find("</title>").map(|len| &body[start..start + len]))
        .map(|t| http::excerpt(t, 80))
        .filter(|t| !t.is_empty());
    Some(match title {
        Some(t) => format!("an HTML page ({t})"),
        None => "an HTML page".into(),
    })
}

/// Ask for `run`'s updates so far.
pub async fn fetch_updates(
    http_client: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    limit: usize,
    timeout: Duration,
) -> Result<Vec<Box<RawValue>>, PollError> {
    let answer = tokio::time::timeout(timeout, http::get(http_client, url, headers, limit, None))
        .await
        .map_err(|_| PollError::Unavailable(format!("no answer within {timeout:?}")))?;
    match answer {
        Ok(a) => read_answer(a.status, &a.body.text()),
        Err(HttpFailure::TooLarge(n)) => Err(PollError::TooLarge(n)),
        Err(HttpFailure::Network(e)) => Err(PollError::Unavailable(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_updates_refusals_or_retries() {
        let ok = read_answer(200, r#"{"message": {"updates": [{"type": "thinking"}, 3]}}"#);
        assert_eq!(ok.unwrap().len(), 2);
        for (status, body) in [
            (404, "<html>Page Not Found</html>"),
            (403, r#"{"exc_type": "PermissionError", "message": "Not permitted"}"#),
            (417, r#"{"exc_type": "ValidationError"}"#),
            (401, ""),
        ] {
            let e = read_answer(status, body).unwrap_err();
            assert!(e.is_permanent() && matches!(e, PollError::Refused { .. }), "{status}: {e}");
        }
        assert_eq!(
            read_answer(403, r#"{"message": "Not permitted"}"#).unwrap_err().to_string(),
            "HTTP 403: Not permitted"
        );
        let html =
            read_answer(200, "<!DOCTYPE html><html><title>Login</title></html>").unwrap_err();
        assert!(matches!(html, PollError::NotProgress(_)) && html.is_permanent(), "{html}");
        assert!(html.to_string().ends_with("an HTML page (Login)"), "{html}");
        assert_eq!(
            read_answer(404, "<!DOCTYPE html>\n<html><head><title>Page Not Found</title>")
                .unwrap_err()
                .to_string(),
            "HTTP 404: an HTML page (Page Not Found)"
        );
        assert_eq!(read_answer(502, "<html>bad</html>").unwrap_err().to_string(), "an HTML page");
        assert!(read_answer(200, r#"{"message": null}"#).unwrap_err().is_permanent());
        for status in [502, 503, 429, 408] {
            assert!(!read_answer(status, "busy").unwrap_err().is_permanent());
        }
    }

    #[test]
    fn the_run_is_a_query_parameter_and_nothing_else_is_kept() {
        let base = Url::parse("https://erp.example.com/desk?x=1").unwrap();
        let u = progress_url(&base, "ai_assistant.api.get_progress", "conv 1&x");
        assert_eq!(
            u.as_str(),
            "https://erp.example.com/api/method/ai_assistant.api.get_progress?conversation_id=conv+1%26x"
        );
    }
}
