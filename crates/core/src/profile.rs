//! Environment profiles: everything needed to reach one realtime server, minus secrets.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::url_rules::{DeploymentType, UrlError, normalize_base_url};

/// How Sockeye authenticates. The secret for each lives in the keyring, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum AuthMethod {
    /// No credentials (public servers, or to see what the server refuses).
    None,
    /// Frappe login (`POST /api/method/login`); the secret is the password.
    Login { user: String },
    /// A pasted `sid` cookie; the secret is the sid.
    Sid,
    /// `Authorization: token <key>:<secret>`; the secret is the API secret.
    ApiToken { key: String },
    /// `Authorization: Bearer <token>`; the secret is the token.
    Bearer,
    /// A generic Socket.IO server with `{ "token": <jwt> }` in the handshake `auth` payload.
    Jwt,
}

impl AuthMethod {
    pub fn name(&self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Login { .. } => "login",
            AuthMethod::Sid => "sid",
            AuthMethod::ApiToken { .. } => "api_token",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Jwt => "jwt",
        }
    }

    /// Frappe sites use a site namespace, REST identity checks and `ping`→`pong`; generic
    /// JWT servers do not.
    pub fn is_frappe(&self) -> bool {
        !matches!(self, AuthMethod::Jwt)
    }

    pub fn needs_secret(&self) -> bool {
        !matches!(self, AuthMethod::None)
    }
}

/// Rooms to (re)join after every connect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Subscriptions {
    /// Raven channel ids → `doc_subscribe("Raven Channel", id)`.
    pub channels: Vec<String>,
    /// Doctypes → `doctype_subscribe(dt)` (e.g. `Raven User` for unread counts).
    pub doctypes: Vec<String>,
    /// Task ids → `task_subscribe(id)`.
    pub tasks: Vec<String>,
}

/// Raven messages fetched over REST after a gap in the link (see [`crate::backfill`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackfillSettings {
    /// Fetch the messages missed while the link was down (the gap is marked either way).
    pub enabled: bool,
    /// At most this many messages per channel per gap; the newest are kept.
    pub max_per_gap: usize,
    /// When the app starts, the time it was closed is backfilled up to this many hours back
    /// (0: not at all).
    pub startup_window_hours: u32,
}

impl BackfillSettings {
    /// Bounds that keep one gap from flooding the feed or the site.
    pub const MAX_PER_GAP: usize = 5_000;
    pub const MAX_STARTUP_WINDOW_HOURS: u32 = 24 * 30;
}

impl Default for BackfillSettings {
    fn default() -> Self {
        BackfillSettings { enabled: true, max_per_gap: 200, startup_window_hours: 24 }
    }
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    /// Site origin (`https://host[:port]`), normalised by the URL rules.
    pub url: Url,
    /// Socket.IO HTTP path.
    #[serde(default = "default_path")]
    pub socket_path: String,
    /// Port of the realtime server when it is not behind the site origin (local bench: 9000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_port: Option<u16>,
    /// Site name = namespace `/<site>`; default: the host name (or asked from the server for
    /// loopback hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Namespace override for non-Frappe servers (JWT servers default to `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `Origin` override; default: the site origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    pub auth: AuthMethod,
    #[serde(default)]
    pub subscriptions: Subscriptions,
    /// TLS certificate verification. Off only by explicit opt-out (self-signed sandboxes).
    #[serde(default = "yes")]
    pub verify_tls: bool,
    /// More trusted roots for this environment (a PEM bundle: a private CA), on top of the
    /// system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A client certificate (PEM) presented on every TLS connection; goes with `client_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM; an encrypted one opens with the passphrase in the keyring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// `http://[user@]host:port` (the password in the keyring), or `direct`; unset: the
    /// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables decide, as for curl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_headers: BTreeMap<String, String>,
    /// Overrides the inferred deployment type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentType>,
    /// A whitelisted method answering an agent run's progress over REST
    /// (`ai_assistant.api.get_progress`), polled while realtime is down (see
    /// [`crate::progress`]). None: no polling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_endpoint: Option<String>,
    #[serde(default)]
    pub backfill: BackfillSettings,
}

/// `app.module.function`: what Frappe routes under `/api/method/`. Nothing else goes into
/// the path (no `/`, `?` or `..`), so the name cannot point the poll anywhere else.
fn is_method_name(s: &str) -> bool {
    s.len() <= 200
        && s.split('.').count() >= 2
        && s.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn default_path() -> String {
    "/socket.io/".into()
}

fn yes() -> bool {
    true
}

/// A profile that cannot be used as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("profile name must be 1-64 characters of letters, digits, '-', '_' or '.', got {0:?}")]
    BadName(String),
    #[error(transparent)]
    Url(#[from] UrlError),
    #[error("socket path must start with '/', got {0:?}")]
    BadPath(String),
    #[error("header {0:?} is not a valid HTTP header name or value")]
    BadHeader(String),
    #[error("client_cert and client_key go together: set both or neither")]
    HalfClientIdentity,
    #[error(transparent)]
    Proxy(#[from] crate::proxy::ProxyUrlError),
    #[error(
        "progress endpoint must be a dotted method name like ai_assistant.api.get_progress, got {0:?}"
    )]
    BadProgressEndpoint(String),
    #[error("backfill: at most {max} messages per gap can be asked for, and at least 1 (turn backfill off instead), got {0}", max = BackfillSettings::MAX_PER_GAP)]
    BadBackfillMax(usize),
    #[error("backfill: the startup window is at most {max} hours, got {0}", max = BackfillSettings::MAX_STARTUP_WINDOW_HOURS)]
    BadStartupWindow(u32),
}

impl Profile {
    /// A profile with defaults for everything but name, URL and auth.
    pub fn new(name: &str, url: &str, auth: AuthMethod) -> Result<Profile, ProfileError> {
        let p = Profile {
            name: name.to_string(),
            url: normalize_base_url(url)?,
            socket_path: default_path(),
            socket_port: None,
            site: None,
            namespace: None,
            origin: None,
            auth,
            subscriptions: Subscriptions::default(),
            verify_tls: true,
            ca_file: None,
            client_cert: None,
            client_key: None,
            proxy: None,
            extra_headers: BTreeMap::new(),
            deployment: None,
            progress_endpoint: None,
            backfill: BackfillSettings::default(),
        };
        p.validate()?;
        Ok(p)
    }

    pub fn validate(&self) -> Result<(), ProfileError> {
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok_name {
            return Err(ProfileError::BadName(self.name.clone()));
        }
        normalize_base_url(self.url.as_str())?;
        if !self.socket_path.starts_with('/') {
            return Err(ProfileError::BadPath(self.socket_path.clone()));
        }
        for (k, v) in &self.extra_headers {
            if http::HeaderName::try_from(k.as_str()).is_err()
                || http::HeaderValue::try_from(v.as_str()).is_err()
            {
                return Err(ProfileError::BadHeader(k.clone()));
            }
        }
        if let Some(p) = self.proxy.as_deref().filter(|p| *p != "direct") {
            crate::proxy::Proxy::parse(p, None)?;
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(ProfileError::HalfClientIdentity);
        }
        if let Some(e) = &self.progress_endpoint
            && !is_method_name(e)
        {
            return Err(ProfileError::BadProgressEndpoint(e.clone()));
        }
        let b = &self.backfill;
        if b.max_per_gap == 0 || b.max_per_gap > BackfillSettings::MAX_PER_GAP {
            return Err(ProfileError::BadBackfillMax(b.max_per_gap));
        }
        if b.startup_window_hours > BackfillSettings::MAX_STARTUP_WINDOW_HOURS {
            return Err(ProfileError::BadStartupWindow(b.startup_window_hours));
        }
        Ok(())
    }

    /// Which proxy this environment's connections take; `password` is the proxy's, from the
    /// keyring.
    pub fn proxy_choice(
        &self,
        password: Option<crate::secrets::Secret>,
    ) -> crate::proxy::ProxyChoice {
        use crate::proxy::{Proxy, ProxyChoice};
        match self.proxy.as_deref().map(str::trim) {
            None | Some("") => ProxyChoice::FromEnvironment,
            Some("direct") => ProxyChoice::Direct,
            // Checked by `validate`; a bad one here goes direct rather than nowhere.
            Some(url) => Proxy::parse(url, password).map_or(ProxyChoice::Direct, ProxyChoice::Via),
        }
    }

    /// How this environment's TLS connections are made (polling, WebSocket, REST alike),
    /// without a passphrase for an encrypted client key (see [`Self::tls_settings_with`]).
    pub fn tls_settings(&self) -> crate::tls::TlsSettings {
        self.tls_settings_with(None)
    }

    /// The same, with the client key's passphrase (from the keyring).
    pub fn tls_settings_with(
        &self,
        key_passphrase: Option<crate::secrets::Secret>,
    ) -> crate::tls::TlsSettings {
        crate::tls::TlsSettings {
            verify: self.verify_tls,
            ca_file: self.ca_file.clone(),
            client_identity: match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => Some(crate::tls::ClientIdentity {
                    cert_file: cert.clone(),
                    key_file: key.clone(),
                    key_passphrase,
                }),
                _ => None,
            },
        }
    }

    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    pub fn deployment_type(&self, production_hosts: &[String]) -> DeploymentType {
        self.deployment.unwrap_or_else(|| DeploymentType::infer(self.host(), production_hosts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_settings_are_validated_and_old_files_get_defaults() {
        let mut p = Profile::new("p", "https://erp.example.com", AuthMethod::Sid).unwrap();
        assert_eq!(p.backfill, BackfillSettings::default());
        p.progress_endpoint = Some("ai_assistant.api.get_progress".into());
        assert!(p.validate().is_ok());
        for bad in ["get_progress", "a..b", "a.b/../c", "a.b?x=1", "a.b c", ""] {
            p.progress_endpoint = Some(bad.into());
            assert!(
                matches!(p.validate(), Err(ProfileError::BadProgressEndpoint(_))),
                "{bad:?} accepted"
            );
        }
        p.progress_endpoint = None;
        p.backfill.max_per_gap = 0;
        assert!(matches!(p.validate(), Err(ProfileError::BadBackfillMax(0))));
        p.backfill.max_per_gap = 50;
        p.backfill.startup_window_hours = 10_000;
        assert!(matches!(p.validate(), Err(ProfileError::BadStartupWindow(_))));
        let old: Profile = toml::from_str(
            "name = \"p\"\nurl = \"https://erp.example.com/\"\n[auth]\nmethod = \"sid\"\n",
        )
        .unwrap();
        assert_eq!((old.backfill, old.progress_endpoint), (BackfillSettings::default(), None));
    }
}
