//! A profile plus its secret, resolved into what a connection needs: socket URL, namespace,
//! Origin, credentials and handshake headers.

use std::time::Duration;

use url::Url;

use crate::auth::{self, Credentials};
use crate::profile::{AuthMethod, Profile, Subscriptions};
use crate::secrets::{Secret, SecretError, SecretStore};
use crate::url_rules::{is_loopback_host, origin_of};

/// Everything a session needs to reach one environment.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// The site origin, for REST calls.
    pub base_url: Url,
    /// Engine.IO URL including the path (and the socket port when set).
    pub socket_url: Url,
    /// `/<site>` for Frappe sites, `/` (or the override) for generic servers.
    pub namespace: String,
    pub site: Option<String>,
    pub origin: String,
    pub credentials: Credentials,
    pub subscriptions: Subscriptions,
    /// Verification, private CA, client certificate.
    pub tls: crate::tls::TlsSettings,
    /// The proxy every connection of the environment goes through (or the environment
    /// variables' choice).
    pub proxy: crate::proxy::ProxyChoice,
    pub extra_headers: Vec<(String, String)>,
    /// Frappe sites get identity checks and `ping`→`pong`.
    pub frappe: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "profile {profile:?} uses {method} auth but no secret is stored; run `sockeye-cli env set-secret {profile}` or set {env}"
    )]
    MissingSecret { profile: String, method: &'static str, env: String },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

/// Build the credentials for `profile` from `secret`.
pub fn credentials(profile: &Profile, secret: Option<Secret>) -> Result<Credentials, TargetError> {
    if !profile.auth.needs_secret() {
        return Ok(Credentials::None);
    }
    let secret = secret.ok_or_else(|| TargetError::MissingSecret {
        profile: profile.name.clone(),
        method: profile.auth.name(),
        env: crate::secrets::env_var_for(&profile.name),
    })?;
    Ok(match &profile.auth {
        AuthMethod::None => Credentials::None,
        AuthMethod::Login { user } => Credentials::Login { user: user.clone(), password: secret },
        AuthMethod::Sid => Credentials::Sid(secret),
        AuthMethod::ApiToken { key } => Credentials::ApiToken { key: key.clone(), secret },
        AuthMethod::Bearer => Credentials::Bearer(secret),
        AuthMethod::Jwt => Credentials::Jwt(secret),
    })
}

/// Resolve `profile` using `store` for its secret. For loopback hosts without a configured
/// site, the site is asked from the server (a bare IP does not name the site).
pub async fn resolve(profile: &Profile, store: &dyn SecretStore) -> Result<Target, TargetError> {
    let secret = if profile.auth.needs_secret() { store.get(&profile.name)? } else { None };
    let creds = credentials(profile, secret)?;
    let mut target = resolve_with(profile, creds).await;
    if profile.proxy.as_deref().is_some_and(|p| p.contains('@')) {
        target.proxy = profile.proxy_choice(store.get(&proxy_secret_name(&profile.name))?);
    }
    if profile.client_key.is_some() {
        // Only an encrypted key needs it; a missing entry is not an error until then.
        let passphrase = store.get(&key_passphrase_name(&profile.name)).ok().flatten();
        target.tls = profile.tls_settings_with(passphrase);
    }
    Ok(target)
}

/// The keyring entry of an environment's client-key passphrase
/// (`env set-secret NAME --key-passphrase`).
pub fn key_passphrase_name(profile: &str) -> String {
    format!("{profile}.key")
}

/// The keyring entry of an environment's proxy password (`env set-secret NAME --proxy`).
pub fn proxy_secret_name(profile: &str) -> String {
    format!("{profile}.proxy")
}

/// Resolve with credentials already in hand (CLI flags).
pub async fn resolve_with(profile: &Profile, credentials: Credentials) -> Target {
    let frappe = profile.auth.is_frappe();
    let mut site = profile.site.clone();
    if site.is_none() && frappe {
        if is_loopback_host(profile.host()) || profile.host().parse::<std::net::IpAddr>().is_ok() {
            // The URL may be a realtime port, which answers no REST: then the web app is at
            // the Origin (where the realtime server calls back, too).
            let origin = profile.origin.as_deref().and_then(|o| Url::parse(o).ok());
            let mut urls = vec![&profile.url];
            urls.extend(origin.as_ref().filter(|o| o.origin() != profile.url.origin()));
            let http = auth::http_client_for(
                &urls,
                &profile.tls_settings(),
                &profile.proxy_choice(None),
                Duration::from_millis(1500),
            );
            for u in urls {
                site = auth::discover_site(&http, u).await;
                if site.is_some() {
                    break;
                }
            }
        }
        site = site.or_else(|| Some(profile.host().to_string()));
    }
    let namespace = match (&profile.namespace, &site) {
        (Some(ns), _) => format!("/{}", ns.trim_start_matches('/')),
        (None, Some(s)) if frappe => format!("/{s}"),
        _ => "/".to_string(),
    };
    let mut socket_url = profile.url.clone();
    if let Some(port) = profile.socket_port {
        let _ = socket_url.set_port(Some(port));
    }
    socket_url.set_path(&profile.socket_path);
    Target {
        name: profile.name.clone(),
        base_url: profile.url.clone(),
        socket_url,
        namespace,
        site,
        origin: profile.origin.clone().unwrap_or_else(|| origin_of(&profile.url)),
        credentials,
        subscriptions: profile.subscriptions.clone(),
        tls: profile.tls_settings(),
        proxy: profile.proxy_choice(None),
        extra_headers: profile.extra_headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        frappe,
    }
}

impl Target {
    /// Headers for the Engine.IO handshake and the REST identity call.
    ///
    /// `sid` is the session cookie (pasted, or from a login). `cookie_shim` adds a harmless
    /// Cookie for version-15 servers that refuse token auth without one (`No cookie
    /// transmitted.`).
    pub fn headers(&self, sid: Option<&Secret>, cookie_shim: bool) -> Vec<(String, String)> {
        let mut h = vec![("Origin".to_string(), self.origin.clone())];
        let mut cookies = Vec::new();
        if let Some(sid) = sid {
            cookies.push(format!("sid={}", sid.expose()));
        }
        if cookie_shim && sid.is_none() {
            cookies.push("sockeye=1".to_string());
        }
        if !cookies.is_empty() {
            h.push(("Cookie".into(), cookies.join("; ")));
        }
        if let Some(a) = self.credentials.authorization() {
            h.push(("Authorization".into(), a));
        }
        for (k, v) in &self.extra_headers {
            if !h.iter().any(|(hk, _)| hk.eq_ignore_ascii_case(k)) {
                h.push((k.clone(), v.clone()));
            }
        }
        h
    }

    /// The handshake `auth` payload (JWT servers only).
    pub fn auth_payload(&self) -> Option<serde_json::Value> {
        match &self.credentials {
            Credentials::Jwt(t) => Some(serde_json::json!({"token": t.expose()})),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MemoryStore;

    #[tokio::test]
    async fn socket_port_site_and_origin() {
        let mut p = Profile::new(
            "bench",
            "https://erp.example.com",
            AuthMethod::ApiToken { key: "k".into() },
        )
        .unwrap();
        p.socket_port = Some(9000);
        let store = MemoryStore::default();
        let e = resolve(&p, &store).await.unwrap_err();
        assert!(e.to_string().contains("SOCKEYE_SECRET_BENCH"), "{e}");
        store.set("bench", &Secret::new("s")).unwrap();
        let t = resolve(&p, &store).await.unwrap();
        assert_eq!(t.socket_url.as_str(), "https://erp.example.com:9000/socket.io/");
        assert_eq!(t.namespace, "/erp.example.com");
        assert_eq!(t.origin, "https://erp.example.com");
        let h = t.headers(None, false);
        assert!(h.contains(&("Authorization".into(), "token k:s".into())));
        assert!(!h.iter().any(|(k, _)| k == "Cookie"));
        assert!(t.headers(None, true).contains(&("Cookie".into(), "sockeye=1".into())));
    }

    #[tokio::test]
    async fn jwt_profiles_use_the_root_namespace_and_auth_payload() {
        let p = Profile::new("agent", "https://agents.example.com", AuthMethod::Jwt).unwrap();
        let store = MemoryStore::default();
        store.set("agent", &Secret::new("tok")).unwrap();
        let t = resolve(&p, &store).await.unwrap();
        assert_eq!(t.namespace, "/");
        assert_eq!(t.auth_payload().unwrap()["token"], "tok");
        assert!(!t.frappe);
    }
}
