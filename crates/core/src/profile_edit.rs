//! The one way to create or change a profile, for the app's form and `sockeye-cli env`
//! alike: a [`ProfileEdit`] names only what changes, every field it leaves `None` keeps its
//! value, and the result is validated (URL rules, name, path, headers) before it is stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use crate::config_file::{Config, ConfigError};
use crate::profile::{AuthMethod, Profile, ProfileError};
use crate::url_rules::DeploymentType;

/// The authentication choice as users write it (`--auth`, the form's select).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AuthChoice {
    /// `none`, `login`, `sid`, `token` (or `api_token`), `bearer`, `jwt`.
    pub method: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// A change to a profile. `None` keeps the current value; for optional fields `Some(None)`
/// (JSON `null`) clears it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileEdit {
    pub url: Option<String>,
    pub auth: Option<AuthChoice>,
    pub socket_path: Option<String>,
    #[serde(deserialize_with = "present")]
    pub socket_port: Option<Option<u16>>,
    #[serde(deserialize_with = "present")]
    pub site: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub namespace: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub origin: Option<Option<String>>,
    pub verify_tls: Option<bool>,
    /// A proxy URL, `direct`, or `null`/"" for the environment variables.
    #[serde(deserialize_with = "present")]
    pub proxy: Option<Option<String>>,
    /// PEM bundle of more trusted roots; `null` or "" clears.
    #[serde(deserialize_with = "present")]
    pub ca_file: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub client_cert: Option<Option<String>>,
    #[serde(deserialize_with = "present")]
    pub client_key: Option<Option<String>>,
    pub channels: Option<Vec<String>>,
    pub doctypes: Option<Vec<String>>,
    pub tasks: Option<Vec<String>>,
    pub extra_headers: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "present")]
    pub deployment: Option<Option<DeploymentType>>,
    /// The progress endpoint polled while realtime is down; `null` (or blank) turns it off.
    #[serde(deserialize_with = "present")]
    pub progress_endpoint: Option<Option<String>>,
    pub backfill_enabled: Option<bool>,
    pub backfill_max_per_gap: Option<usize>,
    pub backfill_startup_window_hours: Option<u32>,
}

/// A present field (even `null`) is `Some(..)`; an absent one stays `None` via `default`.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("unknown auth method {0:?}: use none, login, sid, token, bearer or jwt")]
    UnknownAuth(String),
    #[error("login authentication needs a user")]
    LoginNeedsUser,
    #[error("token authentication needs an API key")]
    TokenNeedsKey,
    #[error("a new environment needs a URL")]
    NeedsUrl,
    #[error("a new environment needs an authentication method")]
    NeedsAuth,
    #[error("header {0:?}: write it as `Name: value`")]
    BadHeaderLine(String),
    /// Extra headers are saved in the config file in plain text; credentials never are.
    #[error(
        "header {0:?} carries a credential and would be saved in plain text: use the auth \
         options (--sid, --token, --bearer, --user) instead, kept in the OS keyring"
    )]
    SecretHeader(String),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    /// A certificate or key file the profile names cannot be used (checked on save).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

fn blank(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn clean_list(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

impl AuthChoice {
    /// The method, keeping the current user/key when switching is not asked and none is given.
    pub fn resolve(&self, current: Option<&AuthMethod>) -> Result<AuthMethod, EditError> {
        let user = blank(self.user.clone()).or_else(|| match current {
            Some(AuthMethod::Login { user }) => Some(user.clone()),
            _ => None,
        });
        let key = blank(self.key.clone()).or_else(|| match current {
            Some(AuthMethod::ApiToken { key }) => Some(key.clone()),
            _ => None,
        });
        Ok(match self.method.trim() {
            "none" => AuthMethod::None,
            "login" => AuthMethod::Login { user: user.ok_or(EditError::LoginNeedsUser)? },
            "sid" => AuthMethod::Sid,
            "token" | "api_token" => {
                AuthMethod::ApiToken { key: key.ok_or(EditError::TokenNeedsKey)? }
            }
            "bearer" => AuthMethod::Bearer,
            "jwt" => AuthMethod::Jwt,
            other => return Err(EditError::UnknownAuth(other.into())),
        })
    }
}

/// `Name: value` lines (CLI `--header`) as a map.
pub fn parse_header_lines(lines: &[String]) -> Result<BTreeMap<String, String>, EditError> {
    lines
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| EditError::BadHeaderLine(h.clone()))
        })
        .collect()
}

/// Headers that carry credentials (case-insensitive): never kept as plain profile headers.
pub fn is_credential_header(name: &str) -> bool {
    const SECRET: [&str; 7] = [
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-frappe-csrf-token",
        "x-api-key",
        "x-auth-token",
        "x-access-token",
    ];
    SECRET.iter().any(|s| name.eq_ignore_ascii_case(s))
}

impl ProfileEdit {
    /// Apply to `current` (or build a new profile named `name`), validate, and return it.
    pub fn apply(self, name: &str, current: Option<&Profile>) -> Result<Profile, EditError> {
        let mut p = match current {
            Some(p) => p.clone(),
            None => {
                let url = self.url.as_deref().ok_or(EditError::NeedsUrl)?;
                let auth = self.auth.as_ref().ok_or(EditError::NeedsAuth)?.resolve(None)?;
                Profile::new(name.trim(), url.trim(), auth)?
            }
        };
        if let Some(url) = &self.url {
            p.url = crate::url_rules::normalize_base_url(url.trim()).map_err(ProfileError::from)?;
        }
        if let Some(a) = &self.auth {
            p.auth = a.resolve(Some(&p.auth))?;
        }
        if let Some(path) = blank(self.socket_path) {
            p.socket_path = path;
        }
        if let Some(v) = self.socket_port {
            p.socket_port = v;
        }
        if let Some(v) = self.site {
            p.site = blank(v);
        }
        if let Some(v) = self.namespace {
            p.namespace = blank(v);
        }
        if let Some(v) = self.origin {
            p.origin = blank(v).map(|o| o.trim_end_matches('/').to_string());
        }
        if let Some(v) = self.verify_tls {
            p.verify_tls = v;
        }
        if let Some(v) = self.proxy {
            p.proxy = blank(v);
        }
        let path = |v: Option<String>| blank(v).map(std::path::PathBuf::from);
        let tls_files_changed =
            self.ca_file.is_some() || self.client_cert.is_some() || self.client_key.is_some();
        if let Some(v) = self.ca_file {
            p.ca_file = path(v);
        }
        if let Some(v) = self.client_cert {
            p.client_cert = path(v);
        }
        if let Some(v) = self.client_key {
            p.client_key = path(v);
        }
        if let Some(v) = self.channels {
            p.subscriptions.channels = clean_list(v);
        }
        if let Some(v) = self.doctypes {
            p.subscriptions.doctypes = clean_list(v);
        }
        if let Some(v) = self.tasks {
            p.subscriptions.tasks = clean_list(v);
        }
        if let Some(v) = self.extra_headers {
            if let Some(k) = v.keys().find(|k| is_credential_header(k.trim())) {
                return Err(EditError::SecretHeader(k.trim().to_string()));
            }
            p.extra_headers = v
                .into_iter()
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .collect();
        }
        if let Some(v) = self.deployment {
            p.deployment = v;
        }
        if let Some(v) = self.progress_endpoint {
            p.progress_endpoint = blank(v);
        }
        if let Some(v) = self.backfill_enabled {
            p.backfill.enabled = v;
        }
        if let Some(v) = self.backfill_max_per_gap {
            p.backfill.max_per_gap = v;
        }
        if let Some(v) = self.backfill_startup_window_hours {
            p.backfill.startup_window_hours = v;
        }
        p.validate()?;
        if tls_files_changed {
            // Read and parsed now, so a wrong path is named when saved, not at the first
            // https connection.
            p.tls_settings().check_files()?;
        }
        Ok(p)
    }
}

/// Whether [`edit_profile`] may create, change, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditMode {
    /// `env add`: refuse an existing name.
    Create,
    /// `env edit`: refuse an unknown name.
    Change,
    /// The app's form: either.
    Upsert,
}

/// A refused edit of the config.
#[derive(Debug, thiserror::Error)]
pub enum EditConfigError {
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Edit profile `name` in `config` (in memory; the caller saves). Returns the new profile.
pub fn edit_profile(
    config: &mut Config,
    name: &str,
    edit: ProfileEdit,
    mode: EditMode,
) -> Result<Profile, EditConfigError> {
    let current = config.profiles.iter().find(|p| p.name == name).cloned();
    match (mode, &current) {
        (EditMode::Create, Some(_)) => return Err(ConfigError::Duplicate(name.into()).into()),
        (EditMode::Change, None) => return Err(ConfigError::NotFound(name.into()).into()),
        _ => {}
    }
    let p = edit.apply(name, current.as_ref())?;
    config.upsert(p.clone())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli_profile() -> Profile {
        let mut p = Profile::new(
            "prod",
            "https://erp.example.com",
            AuthMethod::ApiToken { key: "k".into() },
        )
        .unwrap();
        p.socket_path = "/rt/socket.io/".into();
        p.origin = Some("https://www.example.com".into());
        p.namespace = Some("custom".into());
        p.extra_headers.insert("X-Frappe-Site-Name".into(), "erp".into());
        p.subscriptions.doctypes = vec!["Raven User".into()];
        p.subscriptions.tasks = vec!["t1".into()];
        p.deployment = Some(DeploymentType::VpsProd);
        p
    }

    #[test]
    fn an_edit_keeps_every_field_it_does_not_name() {
        let before = cli_profile();
        let edit: ProfileEdit = serde_json::from_str(
            r#"{"channels": ["general", " general ", "eng"], "verify_tls": false}"#,
        )
        .unwrap();
        let after = edit.apply("prod", Some(&before)).unwrap();
        let mut expected = before.clone();
        expected.subscriptions.channels = vec!["general".into(), "eng".into()];
        expected.verify_tls = false;
        assert_eq!(after, expected);
        let edit: ProfileEdit = serde_json::from_str(
            r#"{"progress_endpoint": " ai_assistant.api.get_progress ", "backfill_max_per_gap": 50}"#,
        )
        .unwrap();
        let after = edit.apply("prod", Some(&expected)).unwrap();
        assert_eq!(after.progress_endpoint.as_deref(), Some("ai_assistant.api.get_progress"));
        assert_eq!((after.backfill.max_per_gap, after.backfill.enabled), (50, true));
        let off: ProfileEdit =
            serde_json::from_str(r#"{"progress_endpoint": null, "backfill_enabled": false}"#)
                .unwrap();
        let after = off.apply("prod", Some(&after)).unwrap();
        assert_eq!((after.progress_endpoint, after.backfill.enabled), (None, false));
        assert_eq!(after.backfill.max_per_gap, 50, "kept");
        let bad: ProfileEdit =
            serde_json::from_str(r#"{"progress_endpoint": "/api/method/x"}"#).unwrap();
        assert!(matches!(
            bad.apply("prod", Some(&expected)),
            Err(EditError::Profile(ProfileError::BadProgressEndpoint(_)))
        ));
    }

    #[test]
    fn null_clears_absent_keeps_and_auth_keeps_its_key() {
        let before = cli_profile();
        let edit: ProfileEdit =
            serde_json::from_str(r#"{"origin": null, "auth": {"method": "api_token"}}"#).unwrap();
        let after = edit.apply("prod", Some(&before)).unwrap();
        assert_eq!(after.origin, None);
        assert_eq!(after.namespace.as_deref(), Some("custom"));
        assert_eq!(after.auth, AuthMethod::ApiToken { key: "k".into() });
        let e = AuthChoice { method: "login".into(), ..Default::default() }
            .resolve(Some(&before.auth))
            .unwrap_err();
        assert_eq!(e, EditError::LoginNeedsUser);
        assert!(
            serde_json::from_str::<ProfileEdit>(r#"{"nope": 1}"#).is_err(),
            "unknown fields are refused, not dropped"
        );
    }

    #[test]
    fn the_url_rules_and_validation_apply() {
        let edit = ProfileEdit {
            url: Some("wss://erp.example.com/socket.io/".into()),
            auth: Some(AuthChoice { method: "sid".into(), ..Default::default() }),
            ..Default::default()
        };
        let p = edit.apply("new", None).unwrap();
        assert_eq!(p.url.as_str(), "https://erp.example.com/");
        let bad = ProfileEdit {
            extra_headers: Some(BTreeMap::from([("Bad Header".into(), "x".into())])),
            ..Default::default()
        };
        assert!(matches!(
            bad.apply("prod", Some(&cli_profile())),
            Err(EditError::Profile(ProfileError::BadHeader(_)))
        ));
        let mut c = Config::default();
        let add = || ProfileEdit {
            url: Some("https://h.example".into()),
            auth: Some(AuthChoice { method: "sid".into(), ..Default::default() }),
            ..Default::default()
        };
        edit_profile(&mut c, "a", add(), EditMode::Create).unwrap();
        assert!(matches!(
            edit_profile(&mut c, "a", add(), EditMode::Create),
            Err(EditConfigError::Config(ConfigError::Duplicate(_)))
        ));
        assert!(matches!(
            edit_profile(&mut c, "b", ProfileEdit::default(), EditMode::Change),
            Err(EditConfigError::Config(ConfigError::NotFound(_)))
        ));
    }

    #[test]
    fn credential_headers_are_refused_not_saved_in_plain_text() {
        for name in ["Authorization", "cookie", " X-Frappe-CSRF-Token "] {
            let edit = ProfileEdit {
                extra_headers: Some(BTreeMap::from([(name.to_string(), "token k:s".into())])),
                ..Default::default()
            };
            let base = Profile::new("p", "https://erp.example.com", AuthMethod::Sid).unwrap();
            match edit.apply("p", Some(&base)) {
                Err(EditError::SecretHeader(h)) => assert_eq!(h, name.trim()),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
