//! `sockeye-cli env`: manage saved environments. Secrets go to the keyring only.

use std::io::Read;

use clap::{Args, Subcommand};
use sockeye_core::config_file::{self, Config};
use sockeye_core::profile_edit::{
    AuthChoice, EditConfigError, EditMode, ProfileEdit, edit_profile, parse_header_lines,
};
use sockeye_core::secrets::{KeyringStore, Secret, SecretStore};
use sockeye_core::url_rules::DeploymentType;

use crate::CliError;

#[derive(Debug, Subcommand)]
pub enum EnvCmd {
    /// Add an environment.
    Add {
        name: String,
        #[command(flatten)]
        args: EditArgs,
    },
    /// Change an environment: only the flags given change (lists given replace the old).
    Edit {
        name: String,
        #[command(flatten)]
        args: EditArgs,
    },
    /// List environments.
    List,
    /// Show one environment (never its secret).
    Show { name: String },
    /// Remove an environment and its secret.
    Remove { name: String },
    /// Store the environment's secret (password, sid, API secret, token) read from stdin.
    SetSecret {
        name: String,
        /// Store the password of the environment's proxy instead.
        #[arg(long, conflicts_with = "key_passphrase")]
        proxy: bool,
        /// Store the passphrase of the environment's (encrypted) client key instead.
        #[arg(long)]
        key_passphrase: bool,
    },
}

fn parse_deployment(s: &str) -> Result<DeploymentType, CliError> {
    serde_json::from_value(serde_json::Value::String(s.into())).map_err(|_| {
        CliError::Usage(format!("unknown deployment {s:?}: use vps_prod, sandbox, local or custom"))
    })
}

fn usage(e: impl std::fmt::Display) -> CliError {
    CliError::Usage(e.to_string())
}

/// The flags `add` and `edit` share, as the core's one edit: with `edit`, only what is given
/// changes.
#[derive(Debug, Args)]
pub struct EditArgs {
    #[arg(long)]
    url: Option<String>,
    /// none | login | sid | token | bearer | jwt
    #[arg(long)]
    auth: Option<String>,
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
    #[arg(long)]
    socket_path: Option<String>,
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
    /// Verify TLS again (`edit` only).
    #[arg(long, conflicts_with = "insecure")]
    secure: bool,
    #[command(flatten)]
    tls: crate::conn_args::TlsFiles,
    /// `http://[user@]host:port` (password: `env set-secret NAME --proxy`), `direct`, or ""
    /// for the HTTPS_PROXY/HTTP_PROXY/NO_PROXY variables (the default).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// vps_prod | sandbox | local | custom (default: inferred from the host).
    #[arg(long)]
    deployment: Option<String>,
    /// A method answering agent progress (`ai_assistant.api.get_progress`), polled while
    /// realtime is down; "" turns polling off.
    #[arg(long, value_name = "METHOD")]
    progress_endpoint: Option<String>,
    /// Do not fetch the Raven messages missed while the link was down.
    #[arg(long)]
    no_backfill: bool,
    /// Fetch missed Raven messages again (`edit` only).
    #[arg(long, conflicts_with = "no_backfill")]
    backfill: bool,
    /// At most this many missed messages per channel per gap (the newest are kept).
    #[arg(long, value_name = "N")]
    backfill_max: Option<usize>,
    /// At start, backfill the time the app was closed up to this many hours back (0: never).
    #[arg(long, value_name = "HOURS")]
    backfill_startup_hours: Option<u32>,
}

impl EditArgs {
    fn into_edit(self, adding: bool) -> Result<ProfileEdit, CliError> {
        let list = |v: Vec<String>| if v.is_empty() && !adding { None } else { Some(v) };
        let auth = match (self.auth, adding) {
            (Some(method), _) => Some(AuthChoice { method, user: self.user, key: self.key }),
            (None, true) => {
                Some(AuthChoice { method: "sid".into(), user: self.user, key: self.key })
            }
            (None, false) if self.user.is_some() || self.key.is_some() => {
                return Err(CliError::Usage("--user and --key go with --auth".into()));
            }
            (None, false) => None,
        };
        Ok(ProfileEdit {
            url: self.url,
            auth,
            socket_path: self.socket_path,
            socket_port: self.socket_port.map(Some),
            site: self.site.map(Some),
            origin: self.origin.map(Some),
            verify_tls: if self.insecure {
                Some(false)
            } else if self.secure || adding {
                Some(true)
            } else {
                None
            },
            channels: list(self.channels),
            doctypes: list(self.doctypes),
            tasks: list(self.tasks),
            extra_headers: if self.headers.is_empty() && !adding {
                None
            } else {
                Some(parse_header_lines(&self.headers).map_err(usage)?)
            },
            deployment: self.deployment.as_deref().map(parse_deployment).transpose()?.map(Some),
            proxy: self.proxy.map(Some),
            ca_file: self.tls.ca_file.map(Some),
            client_cert: self.tls.client_cert.map(Some),
            client_key: self.tls.client_key.map(Some),
            progress_endpoint: self.progress_endpoint.map(Some),
            backfill_enabled: if self.no_backfill {
                Some(false)
            } else if self.backfill {
                Some(true)
            } else {
                None
            },
            backfill_max_per_gap: self.backfill_max,
            backfill_startup_window_hours: self.backfill_startup_hours,
            ..Default::default()
        })
    }
}

/// Bad input is a usage error (exit 3), as is a config problem.
fn edit_error(e: EditConfigError) -> CliError {
    match e {
        EditConfigError::Config(c) => c.into(),
        EditConfigError::Edit(e) => usage(e),
    }
}

pub fn run(cmd: EnvCmd) -> Result<(), CliError> {
    let path = config_file::default_path()?;
    let mut config = Config::load(&path)?;
    match cmd {
        EnvCmd::Add { name, args } => {
            if args.url.is_none() {
                return Err(CliError::Usage("env add needs --url".into()));
            }
            let p = edit_profile(&mut config, &name, args.into_edit(true)?, EditMode::Create)
                .map_err(edit_error)?;
            config.save(&path)?;
            println!("added {name} to {}", path.display());
            if p.auth.needs_secret() {
                println!(
                    "store its secret with: sockeye-cli env set-secret {name}   (reads stdin)"
                );
            }
        }
        EnvCmd::Edit { name, args } => {
            edit_profile(&mut config, &name, args.into_edit(false)?, EditMode::Change)
                .map_err(edit_error)?;
            config.save(&path)?;
            println!("saved {name} in {}", path.display());
        }
        EnvCmd::List => {
            if config.profiles.is_empty() {
                println!("no environments in {}", path.display());
            }
            for p in &config.profiles {
                println!(
                    "{:<16} {:<10} {:<40} auth={}",
                    p.name,
                    p.deployment_type(&config.settings.production_hosts).as_str(),
                    p.url.as_str().trim_end_matches('/'),
                    p.auth.name()
                );
            }
        }
        EnvCmd::Show { name } => {
            let p = config.get(&name)?;
            let text = toml::to_string_pretty(p).expect("profile serialises");
            println!(
                "{text}deployment = {:?}",
                p.deployment_type(&config.settings.production_hosts).as_str()
            );
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
        EnvCmd::SetSecret { name, proxy, key_passphrase } => {
            config.get(&name)?;
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
            let s = s.trim_end_matches(['\n', '\r']);
            if s.is_empty() {
                return Err(CliError::Usage("stdin was empty; pipe the secret in".into()));
            }
            let (entry, what) = if proxy {
                (sockeye_core::target::proxy_secret_name(&name), "proxy password")
            } else if key_passphrase {
                (sockeye_core::target::key_passphrase_name(&name), "client key passphrase")
            } else {
                (name.clone(), "secret")
            };
            KeyringStore.set(&entry, &Secret::new(s))?;
            println!("{what} for {name} stored in the OS keyring");
        }
    }
    Ok(())
}
