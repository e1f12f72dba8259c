//! What the simulated Frappe bench knows: sites, users, sessions, tokens, permissions.
//!
//! Mirrors the configuration model of `simulator-spec.md` §2. Everything here can change at
//! runtime through the control API (expire a sid, revoke a token), so it lives behind the
//! state's lock rather than being baked into the server.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which Frappe realtime server generation the simulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Frappe develop / v16: Authorization or Cookie accepted, token preferred over sid.
    #[default]
    V16,
    /// version-15-hotfix as of Dec 2024: a Cookie header is mandatory, the sid wins over a token.
    V15,
    /// Not Frappe: the FastAPI + python-socketio agent server pattern, a JWT in the handshake
    /// `auth` payload on the root namespace, `agent:*` events.
    Jwt,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "v16" => Ok(Mode::V16),
            "v15" => Ok(Mode::V15),
            "jwt" => Ok(Mode::Jwt),
            other => Err(format!("unknown mode {other:?} (expected v16, v15 or jwt)")),
        }
    }
}

/// A user record, as `frappe.realtime.get_user_info` would describe it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub user_type: String,
    pub full_name: String,
    /// Login password for `POST /api/method/login`; `None` means the user cannot log in.
    #[serde(skip_serializing)]
    pub password: Option<String>,
}

/// One Raven channel the simulated site serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub channel_name: String,
    pub workspace: String,
    pub is_direct_message: u8,
}

/// The full simulator configuration (sites, identities, permissions and transport timing).
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mode: Mode,
    /// Each site is one namespace `/<site>`.
    pub sites: Vec<String>,
    /// Used when the Host header is `localhost` / `127.0.0.1` (site resolution step 2).
    pub default_site: String,
    /// Extra web origins (scheme://host:port) the auth callback can reach, per site, on top of
    /// the simulator's own listening origins (which are always valid).
    pub extra_web_origins: BTreeMap<String, Vec<String>>,
    pub users: BTreeMap<String, User>,
    /// sid → user.
    pub sessions: BTreeMap<String, String>,
    /// `key:secret` → user (used by `token key:secret` and `Basic base64(key:secret)`).
    pub api_tokens: BTreeMap<String, String>,
    /// Bearer token → user.
    pub bearer_tokens: BTreeMap<String, String>,
    pub installed_apps: Vec<String>,
    /// user → set of (doctype, name or "*").
    pub permissions: BTreeMap<String, BTreeSet<(String, String)>>,
    pub channels: Vec<Channel>,
    /// HS256 secret for [`Mode::Jwt`].
    pub jwt_secret: String,
    /// Engine.IO heartbeat advertised in the open packet (real Frappe: 25 s / 20 s). Tests lower
    /// these to observe dead-link detection without waiting 45 s.
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// How long the web app's permission check takes. As on the real server, `doc_subscribe`,
    /// `doctype_subscribe` and `doc_open` join their room only after it answered, so a
    /// message published right after the emit misses the room. Zero (a synchronous join) by
    /// default, which the session tests' publish-after-connect timing relies on;
    /// `sockeye-cli sim --permission-delay-ms` and the round-trip tests set it.
    pub permission_delay: Duration,
    /// sid → CSRF token of sessions that came from a browser (the desk page carries the
    /// token): their unsafe REST calls need `X-Frappe-CSRF-Token`. API logins have none.
    pub csrf_tokens: BTreeMap<String, String>,
}

pub const DEFAULT_SITE: &str = "raven.test";
pub const DEFAULT_USER: &str = "test@example.com";
pub const DEFAULT_SID: &str = "good-sid";
/// A session pasted from a browser: it has a CSRF token.
pub const BROWSER_SID: &str = "browser-sid";
pub const BROWSER_CSRF_TOKEN: &str = "sim-csrf-token";
pub const DEFAULT_TOKEN: &str = "key:secret";
pub const DEFAULT_BEARER: &str = "good-bearer";
pub const DEFAULT_PASSWORD: &str = "admin";
pub const DEFAULT_JWT_SECRET: &str = "sockeye-dev-secret";

impl Default for SimConfig {
    fn default() -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            DEFAULT_USER.to_string(),
            User {
                user_type: "System User".into(),
                full_name: "Test User".into(),
                password: Some(DEFAULT_PASSWORD.into()),
            },
        );
        for (email, name) in
            [("alice@example.com", "Alice Martin"), ("bob@example.com", "Bob Okafor")]
        {
            users.insert(
                email.to_string(),
                User {
                    user_type: "System User".into(),
                    full_name: name.into(),
                    password: Some(DEFAULT_PASSWORD.into()),
                },
            );
        }
        users.insert(
            "website@example.com".to_string(),
            User {
                user_type: "Website User".into(),
                full_name: "Web Visitor".into(),
                password: Some(DEFAULT_PASSWORD.into()),
            },
        );
        let channels: Vec<Channel> = ["general", "engineering", "random"]
            .iter()
            .map(|c| Channel {
                name: c.to_string(),
                channel_name: c.to_string(),
                workspace: "Raven".into(),
                is_direct_message: 0,
            })
            .collect();
        let mut permissions = BTreeMap::new();
        for user in [DEFAULT_USER, "alice@example.com", "bob@example.com"] {
            let mut set: BTreeSet<(String, String)> =
                channels.iter().map(|c| ("Raven Channel".to_string(), c.name.clone())).collect();
            set.insert(("Raven User".into(), "*".into()));
            set.insert(("Raven Message".into(), "*".into()));
            permissions.insert(user.to_string(), set);
        }
        SimConfig {
            mode: Mode::V16,
            sites: vec![DEFAULT_SITE.into()],
            default_site: DEFAULT_SITE.into(),
            extra_web_origins: BTreeMap::new(),
            users,
            sessions: [
                (DEFAULT_SID.to_string(), DEFAULT_USER.to_string()),
                (BROWSER_SID.to_string(), DEFAULT_USER.to_string()),
            ]
            .into(),
            api_tokens: [(DEFAULT_TOKEN.to_string(), DEFAULT_USER.to_string())].into(),
            bearer_tokens: [(DEFAULT_BEARER.to_string(), DEFAULT_USER.to_string())].into(),
            installed_apps: vec!["frappe".into(), "raven".into()],
            permissions,
            channels,
            jwt_secret: DEFAULT_JWT_SECRET.into(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            permission_delay: Duration::ZERO,
            csrf_tokens: [(BROWSER_SID.to_string(), BROWSER_CSRF_TOKEN.to_string())].into(),
        }
    }
}

impl SimConfig {
    /// Would Frappe's permission check let `user` subscribe to `(doctype, name)`?
    /// Guest never may.
    pub fn permitted(&self, user: &str, doctype: &str, name: &str) -> bool {
        if user == "Guest" {
            return false;
        }
        self.permissions.get(user).is_some_and(|set| {
            set.contains(&(doctype.to_string(), name.to_string()))
                || set.contains(&(doctype.to_string(), "*".to_string()))
        })
    }

    /// Add a channel (idempotent) and grant it to every user with Raven access.
    pub fn ensure_channel(&mut self, name: &str) {
        if self.channels.iter().any(|c| c.name == name) {
            return;
        }
        self.channels.push(Channel {
            name: name.into(),
            channel_name: name.into(),
            workspace: "Raven".into(),
            is_direct_message: 0,
        });
        for set in self.permissions.values_mut() {
            if set.contains(&("Raven User".into(), "*".into())) {
                set.insert(("Raven Channel".into(), name.into()));
            }
        }
    }

    /// Add (or replace) a logged-in session for `user`.
    pub fn add_session(&mut self, sid: &str, user: &str) {
        self.sessions.insert(sid.into(), user.into());
    }

    pub fn user_type(&self, user: &str) -> Option<String> {
        self.users.get(user).map(|u| u.user_type.clone())
    }

    pub fn full_name(&self, user: &str) -> String {
        self.users.get(user).map(|u| u.full_name.clone()).unwrap_or_else(|| user.to_string())
    }

    pub fn has_app(&self, app: &str) -> bool {
        self.installed_apps.iter().any(|a| a == app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_is_never_permitted_and_wildcards_apply() {
        let c = SimConfig::default();
        assert!(!c.permitted("Guest", "Raven Channel", "general"));
        assert!(c.permitted(DEFAULT_USER, "Raven Channel", "general"));
        assert!(!c.permitted(DEFAULT_USER, "Raven Channel", "secret-room"));
        assert!(c.permitted(DEFAULT_USER, "Raven User", "anything"));
        assert!(!c.permitted("website@example.com", "Raven Channel", "general"));
    }
}
