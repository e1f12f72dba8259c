//! P10 (`--roundtrip CHANNEL`): post a real Raven message and time its `message_created`.
//!
//! On a real site two things stand between the post and its event. `doc_subscribe` is
//! asynchronous: the realtime server first asks the web app's `has_permission`, then joins the
//! room, so a message posted at once is published to a room we are not in yet. We ask the
//! same permission question ourselves (its answer says whether the join will ever happen,
//! C23, and its time is what the server's join waits for), `doc_open` the channel (its
//! `doc_viewers` confirms the join when the server sends one), and post only once the join
//! has taken effect. And a session pasted from a browser carries a CSRF token, so Frappe
//! refuses the post with 400 `CSRFTokenError` unless it sends `X-Frappe-CSRF-Token`, which the
//! desk page (`/app`) carries as `frappe.csrf_token`.

use std::time::{Duration, Instant};

use serde_json::Value;
use serde_json::value::RawValue;

use super::hints::{Finding, Symptom};
use super::report::{Probe, Status};
use super::{Runner, eio, ms};
use crate::auth;
use crate::events::EventKind;
use crate::session::Session;

const DOCTYPE: &str = "Raven Channel";

/// Why Frappe refused the post, from its answer.
fn refused_post(status: u16, body: &str, channel: &str) -> Finding {
    let m = auth::frappe_message(status, body);
    let (cause, hint) = if body.contains("CSRFTokenError") {
        (
            None,
            format!(
                "send_message was refused with CSRFTokenError (\"Invalid Request\", HTTP {status}): this sid comes from a browser session, which Frappe protects with a CSRF token, and none could be read from the desk page (/app). Send X-Frappe-CSRF-Token (the page's frappe.csrf_token), or use an API token or Sockeye's own login, which need none."
            ),
        )
    } else if status == 403 || body.contains("PermissionError") {
        (
            Some("C23"),
            format!(
                "send_message was refused with PermissionError (HTTP {status}): this user may not post in {DOCTYPE} {channel} (and its doc_subscribe is refused the same way, silently). Add the user to the channel or use one it belongs to."
            ),
        )
    } else if status == 404 || body.contains("DoesNotExistError") {
        (
            None,
            format!(
                "send_message was refused with DoesNotExistError (HTTP {status}): there is no {DOCTYPE} {channel:?}. Channel ids are <workspace>-<channel name> in lower case with dashes (e.g. general)."
            ),
        )
    } else if status == 401 || body.contains("AuthenticationError") {
        (
            Some("C8"),
            format!(
                "send_message was refused with AuthenticationError (HTTP {status}): the credentials are wrong or expired."
            ),
        )
    } else {
        (None, format!("Raven refused the test message (HTTP {status}: {m})."))
    };
    let f = Finding::new(Symptom::Other, hint);
    match cause {
        Some(c) => f.cause(c),
        None => f,
    }
}

/// `frappe.csrf_token = "…"` in the desk page.
pub(super) fn csrf_from_page(html: &str) -> Option<String> {
    let i = html.find("csrf_token")?;
    let rest = &html[i + "csrf_token".len()..];
    let rest =
        rest.trim_start().strip_prefix('=').or_else(|| rest.trim_start().strip_prefix(':'))?;
    let rest = rest.trim_start().strip_prefix('"')?;
    let token = &rest[..rest.find('"')?];
    (!token.is_empty() && token.len() < 200).then(|| token.to_string())
}

fn json_arg(s: &str) -> Box<RawValue> {
    serde_json::value::to_raw_value(s).expect("a string is JSON")
}

impl Runner<'_> {
    fn rest(&self, path: &str) -> url::Url {
        let mut u = self.rest_url.clone();
        u.set_path(path);
        u
    }

    /// Ask the web app what the realtime server will ask before joining the room: whether
    /// this user may read the channel (develop: has_permission; v15: can_subscribe_doc).
    async fn may_join(&self, channel: &str) -> (Option<bool>, Duration) {
        let t = Instant::now();
        for (method, name_key) in [
            ("frappe.realtime.has_permission", "name"),
            ("frappe.realtime.can_subscribe_doc", "docname"),
        ] {
            let mut u = self.rest(&format!("/api/method/{method}"));
            u.query_pairs_mut().append_pair("doctype", DOCTYPE).append_pair(name_key, channel);
            let Ok(a) = eio::get(&self.http, u, &self.headers).await else { break };
            match a.status {
                200 => return (Some(!a.body.contains("false")), t.elapsed()),
                403 => return (Some(false), t.elapsed()),
                404 => continue,
                _ => break,
            }
        }
        (None, t.elapsed())
    }

    /// Wait until the join took effect: `doc_viewers` for our channel, or a settle of twice
    /// the permission call. Returns what confirmed it.
    async fn await_join(&self, s: &Session, channel: &str, permission_rtt: Duration) -> String {
        let mut events = s.events();
        let t = Instant::now();
        let _ = s.emit("doc_open", vec![json_arg(DOCTYPE), json_arg(channel)], None).await;
        let settle = (permission_rtt * 2 + Duration::from_millis(100)).min(self.opts.probe_timeout);
        let deadline = tokio::time::Instant::now() + self.opts.probe_timeout;
        while let Ok(Ok(e)) = tokio::time::timeout_at(deadline, events.recv()).await {
            if e.name == "doc_viewers" && e.payload.get().contains(channel) {
                return format!("room joined in {} ms (doc_viewers)", t.elapsed().as_millis());
            }
            if t.elapsed() >= settle * 3 {
                break;
            }
        }
        let left = settle.saturating_sub(t.elapsed());
        tokio::time::sleep(left).await;
        format!(
            "no doc_viewers; posted after a {} ms settle (has_permission answered in {} ms)",
            t.elapsed().as_millis(),
            permission_rtt.as_millis()
        )
    }

    async fn post_message(
        &self,
        channel: &str,
        text: &str,
        csrf: Option<&str>,
    ) -> Result<(u16, String), String> {
        let mut h = self.headers.clone();
        if let Some(c) = csrf {
            h.push(("X-Frappe-CSRF-Token".into(), c.to_string()));
        }
        let req =
            crate::wire::http::with_headers(
                self.http
                    .post(self.rest("/api/method/raven.api.raven_message.send_message"))
                    .form(&[("channel_id", channel), ("text", text), ("is_reply", "0")]),
                &h,
            );
        let resp = req.send().await.map_err(|e| crate::error_text::error_chain(&e))?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await.unwrap_or_default()))
    }

    /// The CSRF token of a browser session, read from the desk page as the desk reads it.
    async fn csrf_token(&self) -> Option<String> {
        let a = eio::get(&self.http, self.rest("/app"), &self.headers).await.ok()?;
        (a.status == 200).then(|| csrf_from_page(&a.body)).flatten()
    }

    pub(super) async fn roundtrip(&mut self, channel: &str) {
        let t = Instant::now();
        let (permitted, permission_rtt) = self.may_join(channel).await;
        if permitted == Some(false) {
            self.push(Probe::new("roundtrip", Status::Fail, ms(t))
                .evidence(format!("has_permission({DOCTYPE}, {channel}) → refused"))
                .finding(Finding::new(Symptom::NoEvents, format!("The realtime server will never join this user to doc:{DOCTYPE}/{channel}: the web app refuses it read permission, and a refused doc_subscribe is silently ignored (connected, no events). Add the user to the channel.")).cause("C23")));
            return;
        }
        let s = match self.session(vec![channel.to_string()]).await {
            Ok(s) => s,
            Err(e) => {
                self.push(Probe::new("roundtrip", Status::Skipped, ms(t)).evidence(e));
                return;
            }
        };
        let joined = self.await_join(&s, channel, permission_rtt).await;
        let mut events = s.events();
        let text = format!(
            "Sockeye realtime check ({}): this message verifies that chat events reach subscribers; it can be deleted.",
            crate::events::now_ms()
        );
        let mut p = Probe::new("roundtrip", Status::Pass, 0).evidence(joined);
        let sent = Instant::now();
        let mut answer = self.post_message(channel, &text, None).await;
        if matches!(&answer, Ok((_, body)) if body.contains("CSRFTokenError"))
            && let Some(token) = self.csrf_token().await
        {
            p = p.evidence("send_message → CSRFTokenError: a browser session; retried with X-Frappe-CSRF-Token from /app");
            answer = self.post_message(channel, &text, Some(&token)).await;
        }
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                s.stop().await;
                p.status = Status::Fail;
                p.duration_ms = ms(t);
                self.push(p.evidence(e));
                return;
            }
        };
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let Some(id) = parsed.pointer("/message/name").and_then(Value::as_str).map(str::to_string)
        else {
            s.stop().await;
            p.status = Status::Fail;
            p.duration_ms = ms(t);
            let p = p.evidence(format!("send_message → {status} {}", eio::excerpt(&body, 120)));
            self.push(p.finding(refused_post(status, &body, channel)));
            return;
        };
        let wait = self.opts.probe_timeout * 2;
        let deadline = tokio::time::Instant::now() + wait;
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
        p.duration_ms = ms(t);
        match arrived {
            Some(d) => {
                self.push(p.evidence(format!(
                    "message {id} posted and received as message_created in {} ms",
                    d.as_millis()
                )));
            }
            None => {
                p.status = Status::Fail;
                let p = p.evidence(format!(
                    "message {id} stored (HTTP {status}) but no message_created within {wait:?}"
                ));
                self.push(p.finding(Finding::new(Symptom::NoEvents, format!("The message was stored and the room join was permitted, but its message_created never arrived within {:.0} s: the web workers publish to a redis the realtime server does not listen on (different redis_queue in common_site_config.json, or redis down: Frappe drops publishes silently).", wait.as_secs_f64())).cause("C11")));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_desk_page_token_and_the_refusals() {
        let page = r#"<script>frappe.csrf_token = "abc123";</script>"#;
        assert_eq!(csrf_from_page(page).as_deref(), Some("abc123"));
        assert_eq!(csrf_from_page("<html>no token</html>"), None);
        let csrf = r#"{"exc_type":"CSRFTokenError","exception":"frappe.exceptions.CSRFTokenError: Invalid Request"}"#;
        assert!(refused_post(400, csrf, "general").hint.contains("CSRFTokenError"));
        let perm = refused_post(403, r#"{"exc_type":"PermissionError"}"#, "engineering");
        assert_eq!(perm.cause, Some("C23"));
        assert!(
            refused_post(404, r#"{"exc_type":"DoesNotExistError"}"#, "x")
                .hint
                .contains("DoesNotExistError")
        );
    }
}
