//! Raven's REST calls (the channel list), with the session's credentials (see
//! [`crate::session_rest`]) and a per-environment cache: the list is fetched when a user
//! asks for it (opening the picker, adding an environment, a manual refresh), never on a
//! timer, and kept for [`CHANNELS_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::auth::frappe_message;
use crate::session::Session;
use crate::session_rest::{RestAuth, RestAuthError};

/// How long a fetched channel list is served from the cache.
pub const CHANNELS_TTL: Duration = Duration::from_secs(600);

/// How long to wait for the session to log in again after the site said the sid expired.
pub const RELOGIN_WAIT: Duration = Duration::from_secs(15);

/// One Raven channel the user can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelInfo {
    pub id: String,
    pub label: String,
}

/// A REST call that did not produce an answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestError {
    /// 401/403: the credentials are not (or no longer) accepted.
    #[error("the site refused our session: {0}")]
    Expired(String),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Auth(#[from] RestAuthError),
}

/// `GET raven.api.raven_channel.get_all_channels` with `headers`.
pub async fn get_all_channels(
    http: &reqwest::Client,
    base: &Url,
    headers: &[(String, String)],
) -> Result<Vec<ChannelInfo>, RestError> {
    let mut url = base.clone();
    url.set_path("/api/method/raven.api.raven_channel.get_all_channels");
    let req = crate::wire::http::with_headers(http.get(url), headers);
    let resp = req.send().await.map_err(|e| RestError::Failed(format!("channel list: {e}")))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    match status {
        200 => {}
        401 | 403 => return Err(RestError::Expired(frappe_message(status, &body))),
        _ => {
            return Err(RestError::Failed(format!(
                "channel list: {}",
                frappe_message(status, &body)
            )));
        }
    }
    let v: Value = serde_json::from_str(&body).map_err(|_| {
        RestError::Failed(format!("channel list: {}", frappe_message(status, &body)))
    })?;
    let list =
        v.pointer("/message/channels").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|c| {
            let id = c.get("name")?.as_str()?.to_string();
            let label = c.get("channel_name").and_then(Value::as_str).unwrap_or(&id).to_string();
            Some(ChannelInfo { id, label })
        })
        .collect())
}

/// Channel lists per environment, fetched on demand with the session's credentials.
#[derive(Default)]
pub struct ChannelCache {
    lists: Mutex<HashMap<String, (Instant, Vec<ChannelInfo>)>>,
}

impl ChannelCache {
    /// The cached list when fresh (and `refresh` is false), else fetched. An expired login
    /// is renewed once through the session (one re-login), then the call is retried once.
    pub async fn get(
        &self,
        env: &str,
        refresh: bool,
        http: &reqwest::Client,
        base: &Url,
        session: &Session,
        rest: &RestAuth,
    ) -> Result<Vec<ChannelInfo>, RestError> {
        if !refresh
            && let Some((at, list)) = self.lists.lock().expect("channel cache").get(env)
            && at.elapsed() < CHANNELS_TTL
        {
            return Ok(list.clone());
        }
        let list = match get_all_channels(http, base, &rest.headers()?).await {
            Err(RestError::Expired(_)) => {
                let headers = rest.renew(session, RELOGIN_WAIT).await?;
                get_all_channels(http, base, &headers).await?
            }
            other => other?,
        };
        self.lists
            .lock()
            .expect("channel cache")
            .insert(env.to_string(), (Instant::now(), list.clone()));
        Ok(list)
    }

    /// Forget an environment's list (edited or removed).
    pub fn forget(&self, env: &str) {
        self.lists.lock().expect("channel cache").remove(env);
    }
}
