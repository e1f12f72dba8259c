//! Connection flags shared by `watch` and `diagnose`: a saved profile, or a URL with
//! credentials given on the command line (or in environment variables, to keep them out of
//! `ps`).

use std::io::Read;

use clap::Args;
use sockeye_core::auth::Credentials;
use sockeye_core::config_file::{self, Config};
use sockeye_core::credentials_file::{CredentialsFile, FileThenStore};
use sockeye_core::profile::Profile;
use sockeye_core::secrets::{KeyringStore, Secret, SecretStore};
use sockeye_core::target::{self, Target};
use sockeye_core::{AuthMethod, Transport};

use crate::CliError;

#[derive(Args, Clone, Default)]
pub struct ConnArgs {
    /// A saved environment (see `sockeye-cli env`).
    #[arg(long = "env", value_name = "NAME", conflicts_with = "url")]
    pub env: Vec<String>,
    /// Site URL (or a realtime port, or a wss://…/socket.io URL: the URL rules apply).
    #[arg(long)]
    pub url: Option<String>,
    /// Site name, i.e. the namespace `/<site>` (default: the host, or asked from the server).
    #[arg(long)]
    pub site: Option<String>,
    /// Origin header to send (default: the site origin).
    #[arg(long)]
    pub origin: Option<String>,
    /// Socket.IO port when it differs from the site's (local bench: 9000).
    #[arg(long)]
    pub socket_port: Option<u16>,
    /// A pasted `sid` cookie.
    #[arg(long, env = "SOCKEYE_SID", hide_env_values = true, group = "cred")]
    pub sid: Option<String>,
    /// API token `KEY:SECRET`.
    #[arg(long, env = "SOCKEYE_TOKEN", hide_env_values = true, group = "cred")]
    pub token: Option<String>,
    /// Bearer token.
    #[arg(long, env = "SOCKEYE_BEARER", hide_env_values = true, group = "cred")]
    pub bearer: Option<String>,
    /// Frappe login user (the password is read from stdin with --password-stdin).
    #[arg(long, group = "cred", requires = "password_stdin")]
    pub user: Option<String>,
    #[arg(long)]
    pub password_stdin: bool,
    /// JWT for generic Socket.IO servers (sent as handshake auth `{token}`).
    #[arg(long, env = "SOCKEYE_JWT", hide_env_values = true, group = "cred")]
    pub jwt: Option<String>,
    /// Do not verify TLS certificates (self-signed sandboxes only).
    #[arg(long)]
    pub insecure: bool,
    #[command(flatten)]
    pub tls: TlsFiles,
    /// Through this HTTP proxy (`http://[user@]host:port`; the password from
    /// SOCKEYE_PROXY_PASSWORD). Default: HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as curl.
    #[arg(long, value_name = "URL", conflicts_with = "no_proxy")]
    pub proxy: Option<String>,
    /// Straight to the server, whatever the proxy variables say.
    #[arg(long)]
    pub no_proxy: bool,
    /// Restrict to one transport (default: websocket, falling back to polling).
    #[arg(long, value_parser = ["websocket", "polling"])]
    pub transport: Option<String>,
    /// Raven channel ids to subscribe to.
    #[arg(long = "channel", value_name = "ID")]
    pub channels: Vec<String>,
    /// Doctypes to subscribe to (`doctype_subscribe`).
    #[arg(long = "doctype", value_name = "DT")]
    pub doctypes: Vec<String>,
    /// Secrets of saved environments from this file (TOML `name = "secret"`, mode 0600), for
    /// services without a keyring. SOCKEYE_SECRET_<NAME> still comes first, the keyring last.
    #[arg(long, value_name = "FILE", env = "SOCKEYE_CREDENTIALS", conflicts_with = "url")]
    pub credentials: Option<std::path::PathBuf>,
}

/// Credentials are shown as `<redacted>`: a `{:?}` of the arguments (a log line, a panic
/// message) must not carry a session or a token.
impl std::fmt::Debug for ConnArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConnArgs")
            .field("env", &self.env)
            .field("url", &self.url)
            .field("site", &self.site)
            .field("origin", &self.origin)
            .field("socket_port", &self.socket_port)
            .field("sid", &hide(&self.sid))
            .field("token", &hide(&self.token))
            .field("bearer", &hide(&self.bearer))
            .field("user", &self.user)
            .field("password_stdin", &self.password_stdin)
            .field("jwt", &hide(&self.jwt))
            .field("insecure", &self.insecure)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("no_proxy", &self.no_proxy)
            .field("transport", &self.transport)
            .field("channels", &self.channels)
            .field("doctypes", &self.doctypes)
            .finish()
    }
}

/// The TLS files of an environment, as flags (`env add|edit` and every connecting command).
#[derive(Debug, Args, Clone, Default)]
pub struct TlsFiles {
    /// PEM bundle of more trusted roots (a private CA), on top of the system's ("" clears).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<String>,
    /// Client certificate (PEM) presented on every TLS connection; needs --client-key.
    #[arg(long, value_name = "PEM")]
    pub client_cert: Option<String>,
    /// The client certificate's private key (PEM; if encrypted, its passphrase from the keyring or SOCKEYE_KEY_PASSPHRASE).
    #[arg(long, value_name = "PEM")]
    pub client_key: Option<String>,
}

impl TlsFiles {
    /// Lay the given files over `p` and check them: a file that cannot be read or parsed is
    /// a usage error naming it.
    fn apply(&self, mut p: Profile) -> Result<Profile, CliError> {
        let path = |s: &String| (!s.trim().is_empty()).then(|| s.trim().into());
        if let Some(v) = &self.ca_file {
            p.ca_file = path(v);
        }
        if let Some(v) = &self.client_cert {
            p.client_cert = path(v);
        }
        if let Some(v) = &self.client_key {
            p.client_key = path(v);
        }
        p.validate().map_err(|e| CliError::Usage(e.to_string()))?;
        p.tls_settings().check_files().map_err(|e| CliError::Usage(e.to_string()))?;
        Ok(p)
    }
}

impl ConnArgs {
    pub fn transports(&self) -> Vec<Transport> {
        match self.transport.as_deref() {
            Some("websocket") => vec![Transport::Websocket],
            Some("polling") => vec![Transport::Polling],
            _ => vec![Transport::Websocket, Transport::Polling],
        }
    }

    fn read_password() -> Result<Secret, CliError> {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
        let s = s.trim_end_matches(['\n', '\r']).to_string();
        if s.is_empty() {
            return Err(CliError::Usage("--password-stdin: stdin was empty".into()));
        }
        Ok(Secret::new(s))
    }

    /// The ad-hoc profile and credentials of `--url` mode.
    fn profile_from_flags(&self, url: &str) -> Result<(Profile, Credentials), CliError> {
        let (method, creds) = if let Some(sid) = &self.sid {
            (AuthMethod::Sid, Credentials::Sid(Secret::new(sid.clone())))
        } else if let Some(tok) = &self.token {
            let (key, secret) = tok
                .split_once(':')
                .ok_or_else(|| CliError::Usage("--token must be KEY:SECRET".into()))?;
            (
                AuthMethod::ApiToken { key: key.into() },
                Credentials::ApiToken { key: key.into(), secret: Secret::new(secret) },
            )
        } else if let Some(b) = &self.bearer {
            (AuthMethod::Bearer, Credentials::Bearer(Secret::new(b.clone())))
        } else if let Some(user) = &self.user {
            (
                AuthMethod::Login { user: user.clone() },
                Credentials::Login { user: user.clone(), password: Self::read_password()? },
            )
        } else if let Some(j) = &self.jwt {
            (AuthMethod::Jwt, Credentials::Jwt(Secret::new(j.clone())))
        } else {
            (AuthMethod::None, Credentials::None)
        };
        let mut p = Profile::new("cli", url, method).map_err(|e| CliError::Usage(e.to_string()))?;
        p.site = self.site.clone();
        p.origin = self.origin.clone();
        p.socket_port = self.socket_port;
        p.verify_tls = !self.insecure;
        Ok((self.tls.apply(self.proxy_overlay(p))?, creds))
    }

    /// Apply the overriding flags to a saved profile.
    fn overlay(&self, mut p: Profile) -> Result<Profile, CliError> {
        if self.site.is_some() {
            p.site = self.site.clone();
        }
        if self.origin.is_some() {
            p.origin = self.origin.clone();
        }
        if self.socket_port.is_some() {
            p.socket_port = self.socket_port;
        }
        if self.insecure {
            p.verify_tls = false;
        }
        self.tls.apply(self.proxy_overlay(p))
    }

    fn proxy_overlay(&self, mut p: Profile) -> Profile {
        if self.no_proxy {
            p.proxy = Some("direct".into());
        } else if self.proxy.is_some() {
            p.proxy = self.proxy.clone();
        }
        p
    }

    /// The proxy of `--proxy`, with its password from SOCKEYE_PROXY_PASSWORD (never a flag:
    /// it would show in `ps`).
    fn flag_proxy(&self, p: &Profile, target: &mut Target) {
        if self.proxy.is_some() {
            let password = std::env::var("SOCKEYE_PROXY_PASSWORD").ok().map(Secret::new);
            target.proxy = p.proxy_choice(password);
        }
        // An encrypted client key's passphrase, for headless use (never a flag).
        if p.client_key.is_some()
            && let Ok(passphrase) = std::env::var("SOCKEYE_KEY_PASSPHRASE")
        {
            target.tls = p.tls_settings_with(Some(Secret::new(passphrase)));
        }
    }

    /// Every target these flags name (several with `--env A --env B`), plus the deployment
    /// settings of the config file.
    pub async fn targets(&self, all: bool) -> Result<(Vec<(Profile, Target)>, Config), CliError> {
        let mut out = Vec::new();
        if let Some(url) = &self.url {
            let (mut p, creds) = self.profile_from_flags(url)?;
            self.add_subscriptions(&mut p);
            let mut t = target::resolve_with(&p, creds).await;
            self.flag_proxy(&p, &mut t);
            return Ok((vec![(p, t)], Config::default()));
        }
        let path = config_file::default_path()?;
        let config = Config::load(&path)?;
        let names: Vec<String> = if all {
            config.profiles.iter().map(|p| p.name.clone()).collect()
        } else {
            self.env.clone()
        };
        if names.is_empty() {
            return Err(CliError::Usage(if all {
                format!("no environments in {}", path.display())
            } else {
                "give --url URL or --env NAME".into()
            }));
        }
        let file = self.credentials.as_deref().map(CredentialsFile::load).transpose()?;
        let with_file = file.as_ref().map(|file| FileThenStore { file, fallback: &KeyringStore });
        let store: &dyn SecretStore = match &with_file {
            Some(s) => s,
            None => &KeyringStore,
        };
        for name in names {
            let mut p = self.overlay(config.get(&name)?.clone())?;
            self.add_subscriptions(&mut p);
            let mut t = target::resolve(&p, store).await?;
            self.flag_proxy(&p, &mut t);
            out.push((p, t));
        }
        Ok((out, config))
    }

    fn add_subscriptions(&self, p: &mut Profile) {
        for c in &self.channels {
            if !p.subscriptions.channels.contains(c) {
                p.subscriptions.channels.push(c.clone());
            }
        }
        for d in &self.doctypes {
            if !p.subscriptions.doctypes.contains(d) {
                p.subscriptions.doctypes.push(d.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_credentials() {
        let a = ConnArgs {
            url: Some("https://erp.example.com".into()),
            sid: Some("sid-5ecret".into()),
            token: Some("key:tok-5ecret".into()),
            bearer: Some("bear-5ecret".into()),
            jwt: Some("jwt-5ecret".into()),
            ..Default::default()
        };
        let shown = format!("{a:?} {a:#?}");
        assert!(!shown.contains("5ecret"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("erp.example.com"), "{shown}");
    }
}
