//! Command errors, serialised as their message so they cross IPC as plain text.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] sockeye_core::config_file::ConfigError),
    #[error(transparent)]
    Profile(#[from] sockeye_core::profile::ProfileError),
    #[error(transparent)]
    Url(#[from] sockeye_core::url_rules::UrlError),
    #[error(transparent)]
    Secret(#[from] sockeye_core::secrets::SecretError),
    #[error(transparent)]
    Edit(#[from] sockeye_core::profile_edit::EditConfigError),
    #[error(transparent)]
    Target(#[from] sockeye_core::target::TargetError),
    #[error("no environment named {0:?}")]
    UnknownEnv(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

pub type Result<T> = std::result::Result<T, AppError>;
