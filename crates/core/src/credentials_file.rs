//! Secrets for a headless service from a file only its owner can read (mode 0600): where a
//! server has no keyring (no D-Bus session under systemd) and an environment variable per
//! profile is awkward. One TOML table of strings, named as the keyring names its entries:
//!
//! ```toml
//! prod = "the sid, API secret, token or password"
//! "prod.proxy" = "the proxy's password"
//! "prod.key" = "the client key's passphrase"
//! ```
//!
//! Lookup order for a profile: `SOCKEYE_SECRET_<PROFILE>`, then this file, then the keyring.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::secrets::{Secret, SecretError, SecretStore, env_var_for};

#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    #[error("cannot read the credentials file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "the credentials file {path} can be read by others (mode {mode:04o}); run `chmod 600 {path}`"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("the credentials file {path} is not a TOML table of strings: {message}")]
    Parse { path: PathBuf, message: String },
}

/// The secrets of a credentials file.
pub struct CredentialsFile {
    entries: HashMap<String, Secret>,
}

impl std::fmt::Debug for CredentialsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsFile").field("entries", &self.entries.len()).finish()
    }
}

impl CredentialsFile {
    /// Read `path`, refusing it when its group or others may read or write it.
    pub fn load(path: &Path) -> Result<CredentialsFile, CredentialsFileError> {
        let read_err = |source| CredentialsFileError::Read { path: path.into(), source };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(CredentialsFileError::TooOpen { path: path.into(), mode });
            }
        }
        #[cfg(not(unix))]
        let _ = meta;
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        let table: HashMap<String, String> = toml::from_str(&text).map_err(|e| {
            // toml's message quotes the offending line, which may hold a secret: keep only
            // where it is.
            let at = e.span().map(|s| format!("at byte {}", s.start)).unwrap_or_default();
            CredentialsFileError::Parse { path: path.into(), message: at }
        })?;
        Ok(CredentialsFile {
            entries: table.into_iter().map(|(k, v)| (k, Secret::new(v))).collect(),
        })
    }

    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.entries.get(name)
    }
}

/// The environment variable, then the file, then `fallback` (the keyring).
pub struct FileThenStore<'a> {
    pub file: &'a CredentialsFile,
    pub fallback: &'a dyn SecretStore,
}

impl SecretStore for FileThenStore<'_> {
    fn get(&self, profile: &str) -> Result<Option<Secret>, SecretError> {
        if let Ok(v) = std::env::var(env_var_for(profile)) {
            return Ok(Some(Secret::new(v)));
        }
        match self.file.get(profile) {
            Some(s) => Ok(Some(s.clone())),
            None => self.fallback.get(profile),
        }
    }
    fn set(&self, profile: &str, secret: &Secret) -> Result<(), SecretError> {
        self.fallback.set(profile, secret)
    }
    fn delete(&self, profile: &str) -> Result<(), SecretError> {
        self.fallback.delete(profile)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use crate::secrets::MemoryStore;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, text: &str, mode: u32) -> PathBuf {
        let p = dir.join("credentials.toml");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn a_private_file_supplies_secrets_before_the_keyring() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "filed = \"s1\"\n\"filed.proxy\" = \"p1\"\n", 0o600);
        let file = CredentialsFile::load(&p).unwrap();
        let keyring = MemoryStore::default();
        keyring.set("filed", &Secret::new("from keyring")).unwrap();
        keyring.set("other", &Secret::new("k2")).unwrap();
        let store = FileThenStore { file: &file, fallback: &keyring };
        assert_eq!(store.get("filed").unwrap().unwrap().expose(), "s1");
        assert_eq!(store.get("filed.proxy").unwrap().unwrap().expose(), "p1");
        assert_eq!(store.get("other").unwrap().unwrap().expose(), "k2");
        assert_eq!(store.get("none").unwrap(), None);
        assert!(!format!("{file:?}").contains("s1"));
    }

    #[test]
    fn a_file_others_can_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "prod = \"secret-value\"\n", 0o644);
        let e = CredentialsFile::load(&p).unwrap_err();
        assert!(matches!(e, CredentialsFileError::TooOpen { mode: 0o644, .. }), "{e:?}");
        assert!(e.to_string().contains("chmod 600"), "{e}");
        let p = write(dir.path(), "prod = [\"secret-value\"\n", 0o600);
        let e = CredentialsFile::load(&p).unwrap_err();
        assert!(matches!(e, CredentialsFileError::Parse { .. }), "{e:?}");
        assert!(!e.to_string().contains("secret-value"), "{e}");
        let e = CredentialsFile::load(&dir.path().join("missing")).unwrap_err();
        assert!(matches!(e, CredentialsFileError::Read { .. }), "{e:?}");
    }
}
