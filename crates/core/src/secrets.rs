//! Secrets (passwords, sids, API secrets, bearer tokens, JWTs) live in the OS keyring under
//! the profile's name, never in the config file or a log.
//!
//! [`Secret`] wraps the value so that `Debug` and `Display` never print it.

use std::collections::HashMap;
use std::sync::Mutex;

const SERVICE: &str = "sockeye";

/// A secret value that does not print itself.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the OS keyring is unavailable ({0}); for headless use set {1}")]
    Unavailable(String, String),
    #[error("keyring error for profile {profile:?}: {message}")]
    Keyring { profile: String, message: String },
}

/// Where secrets are kept. The app and CLI use [`KeyringStore`]; tests use [`MemoryStore`].
pub trait SecretStore: Send + Sync {
    fn get(&self, profile: &str) -> Result<Option<Secret>, SecretError>;
    fn set(&self, profile: &str, secret: &Secret) -> Result<(), SecretError>;
    fn delete(&self, profile: &str) -> Result<(), SecretError>;
}

/// Name of the environment variable that can supply a profile's secret on headless machines
/// (CI, SSH sessions without a keyring): `SOCKEYE_SECRET_<PROFILE>`, upper-cased, with every
/// character that is not a letter or digit turned into `_`.
pub fn env_var_for(profile: &str) -> String {
    let tail: String = profile
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect();
    format!("SOCKEYE_SECRET_{tail}")
}

/// The OS keyring (Secret Service on Linux, Keychain, Credential Manager), with the
/// per-profile environment variable taking precedence when set.
#[derive(Debug, Default)]
pub struct KeyringStore;

impl KeyringStore {
    fn entry(profile: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(SERVICE, profile)
            .map_err(|e| SecretError::Keyring { profile: profile.into(), message: e.to_string() })
    }

    fn map_err(profile: &str, e: keyring::Error) -> SecretError {
        match e {
            keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
                SecretError::Unavailable(inner.to_string(), env_var_for(profile))
            }
            other => SecretError::Keyring { profile: profile.into(), message: other.to_string() },
        }
    }
}

impl SecretStore for KeyringStore {
    fn get(&self, profile: &str) -> Result<Option<Secret>, SecretError> {
        if let Ok(v) = std::env::var(env_var_for(profile)) {
            return Ok(Some(Secret(v)));
        }
        match Self::entry(profile)?.get_password() {
            Ok(v) => Ok(Some(Secret(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(Self::map_err(profile, e)),
        }
    }

    fn set(&self, profile: &str, secret: &Secret) -> Result<(), SecretError> {
        Self::entry(profile)?.set_password(secret.expose()).map_err(|e| Self::map_err(profile, e))
    }

    fn delete(&self, profile: &str) -> Result<(), SecretError> {
        match Self::entry(profile)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(Self::map_err(profile, e)),
        }
    }
}

/// In-memory store for tests and for the embedded demo.
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<HashMap<String, Secret>>);

impl SecretStore for MemoryStore {
    fn get(&self, profile: &str) -> Result<Option<Secret>, SecretError> {
        Ok(self.0.lock().expect("secret lock").get(profile).cloned())
    }
    fn set(&self, profile: &str, secret: &Secret) -> Result<(), SecretError> {
        self.0.lock().expect("secret lock").insert(profile.into(), secret.clone());
        Ok(())
    }
    fn delete(&self, profile: &str) -> Result<(), SecretError> {
        self.0.lock().expect("secret lock").remove(profile);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert!(!format!("{:?}", Some(s)).contains("hunter2"));
    }

    #[test]
    fn memory_store_round_trip() {
        let m = MemoryStore::default();
        assert_eq!(m.get("p").unwrap(), None);
        m.set("p", &Secret::new("x")).unwrap();
        assert_eq!(m.get("p").unwrap().unwrap().expose(), "x");
        m.delete("p").unwrap();
        assert_eq!(m.get("p").unwrap(), None);
    }

    #[test]
    fn env_var_names_are_shell_safe() {
        assert_eq!(env_var_for("prod-eu.1"), "SOCKEYE_SECRET_PROD_EU_1");
    }
}
