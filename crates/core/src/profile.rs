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
    /// The client certificate's private key (PEM, unencrypted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_headers: BTreeMap<String, String>,
    /// Overrides the inferred deployment type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentType>,
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
            extra_headers: BTreeMap::new(),
            deployment: None,
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
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(ProfileError::HalfClientIdentity);
        }
        Ok(())
    }

    /// How this environment's TLS connections are made (polling, WebSocket, REST alike).
    pub fn tls_settings(&self) -> crate::tls::TlsSettings {
        crate::tls::TlsSettings {
            verify: self.verify_tls,
            ca_file: self.ca_file.clone(),
            client_identity: match (&self.client_cert, &self.client_key) {
                (Some(cert), Some(key)) => Some(crate::tls::ClientIdentity {
                    cert_file: cert.clone(),
                    key_file: key.clone(),
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
