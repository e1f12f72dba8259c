//! `sockeye-cli env`: manage saved environments. Secrets go to the keyring only.

use std::io::Read;

use clap::Subcommand;
use sockeye_core::config_file::{self, Config};
use sockeye_core::profile::{AuthMethod, Profile};
use sockeye_core::secrets::{KeyringStore, Secret, SecretStore};
use sockeye_core::url_rules::DeploymentType;

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    /// Add an environment.
    Add {
        name: String,
        #[arg(long)]
        url: String,
        /// none | login | sid | token | bearer | jwt
        #[arg(long, default_value = "sid")]
        auth: String,
        /// Login user (auth login).
        #[arg(long)]
        user: Option<String>,
        /// API key (auth token); the secret goes in with `env set-secret`.
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        site: Option<String>,
        #[arg(long)]
        socket_port: Option<u16>,
        #[arg(long, default_value = "/socket.io/")]
        socket_path: String,
        #[arg(long)]
        origin: Option<String>,
        #[arg(long = "channel")]
        channels: Vec<String>,
        #[arg(long = "doctype")]
        doctypes: Vec<String>,
        #[arg(long = "task")]
        tasks: Vec<String>,
        /// `Name: value` header sent on every handshake.
        #[arg(long = "header")]
        headers: Vec<String>,
        /// Skip TLS verification (self-signed sandboxes).
        #[arg(long)]
        insecure: bool,
        /// vps_prod | sandbox | local | custom (default: inferred from the host).
        #[arg(long)]
        deployment: Option<String>,
    },
    /// List environments.
    List,
    /// Show one environment (never its secret).
    Show { name: String },
    /// Remove an environment and its secret.
    Remove { name: String },
    /// Store the environment's secret (password, sid, API secret, token) read from stdin.
    SetSecret { name: String },
}

fn parse_auth(auth: &str, user: Option<String>, key: Option<String>) -> Result<AuthMethod, CliError> {
    Ok(match auth {
        "none" => AuthMethod::None,
        "login" => AuthMethod::Login { user: user.ok_or_else(|| CliError::Usage("--auth login needs --user".into()))? },
        "sid" => AuthMethod::Sid,
        "token" | "api_token" => AuthMethod::ApiToken { key: key.ok_or_else(|| CliError::Usage("--auth token needs --key".into()))? },
        "bearer" => AuthMethod::Bearer,
        "jwt" => AuthMethod::Jwt,
        other => return Err(CliError::Usage(format!("unknown auth method {other:?}: use none, login, sid, token, bearer or jwt"))),
    })
}

fn parse_deployment(s: &str) -> Result<DeploymentType, CliError> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| CliError::Usage(format!("unknown deployment {s:?}: use vps_prod, sandbox, local or custom")))
}

pub fn run(cmd: EnvCmd) -> Result<(), CliError> {
    let path = config_file::default_path()?;
    let mut config = Config::load(&path)?;
    match cmd {
        EnvCmd::Add { name, url, auth, user, key, site, socket_port, socket_path, origin, channels, doctypes, tasks, headers, insecure, deployment } => {
            let mut p = Profile::new(&name, &url, parse_auth(&auth, user, key)?).map_err(|e| CliError::Usage(e.to_string()))?;
            p.site = site;
            p.socket_port = socket_port;
            p.socket_path = socket_path;
            p.origin = origin;
            p.subscriptions.channels = channels;
            p.subscriptions.doctypes = doctypes;
            p.subscriptions.tasks = tasks;
            p.verify_tls = !insecure;
            p.deployment = deployment.as_deref().map(parse_deployment).transpose()?;
            for h in headers {
                let (k, v) = h.split_once(':').ok_or_else(|| CliError::Usage(format!("--header {h:?}: write it as Name: value")))?;
                p.extra_headers.insert(k.trim().into(), v.trim().into());
            }
            let needs_secret = p.auth.needs_secret();
            config.add(p)?;
            config.save(&path)?;
            println!("added {name} to {}", path.display());
            if needs_secret {
                println!("store its secret with: sockeye-cli env set-secret {name}   (reads stdin)");
            }
        }
        EnvCmd::List => {
            if config.profiles.is_empty() {
                println!("no environments in {}", path.display());
            }
            for p in &config.profiles {
                println!("{:<16} {:<10} {:<40} auth={}", p.name, p.deployment_type(&config.settings.production_hosts).as_str(), p.url.as_str().trim_end_matches('/'), p.auth.name());
            }
        }
        EnvCmd::Show { name } => {
            let p = config.get(&name)?;
            let text = toml::to_string_pretty(p).expect("profile serialises");
            println!("{text}deployment = {:?}", p.deployment_type(&config.settings.production_hosts).as_str());
            let secret = match KeyringStore.get(&name) {
                Ok(Some(_)) => "stored".to_string(),
                Ok(None) => "not stored".to_string(),
                Err(e) => format!("unknown ({e})"),
            };
            println!("secret = {secret:?}");
        }
        EnvCmd::Remove { name } => {
            config.remove(&name)?;
            config.save(&path)?;
            if let Err(e) = KeyringStore.delete(&name) {
                eprintln!("warning: the keyring entry could not be removed: {e}");
            }
            println!("removed {name}");
        }
        EnvCmd::SetSecret { name } => {
            config.get(&name)?;
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
            let s = s.trim_end_matches(['\n', '\r']);
            if s.is_empty() {
                return Err(CliError::Usage("stdin was empty; pipe the secret in".into()));
            }
            KeyringStore.set(&name, &Secret::new(s))?;
            println!("secret for {name} stored in the OS keyring");
        }
    }
    Ok(())
}
