//! The TOML config file: profiles and settings. Never holds a secret.
//!
//! Writes are atomic (temp file in the same directory, fsync, rename), so a crash leaves the
//! old file or the new one. A file that does not parse is never overwritten: loading fails
//! with the line, and saving refuses until the user fixes or moves it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::profile::{Profile, ProfileError};

/// Settings beside the profiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Hosts that count as production (`vps_prod`).
    pub production_hosts: Vec<String>,
    /// Name of the profile the app connects first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// Notification toggles and limits (see [`crate::notify::NotifyPolicy`]).
    pub notifications: crate::notify::NotifySettings,
    /// A recording the app's demo replays (looped) instead of its scenarios.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo_recording: Option<PathBuf>,
    /// Size past which the app's recordings rotate (`64M`; `0`: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_max_size: Option<String>,
}

/// Everything in the config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub settings: Settings,
    #[serde(rename = "profile")]
    pub profiles: Vec<Profile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid Sockeye config (the file was left untouched): {message}")]
    Parse { path: PathBuf, line: Option<usize>, message: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("no config directory could be determined; set SOCKEYE_CONFIG")]
    NoConfigDir,
    #[error("profile {0:?} already exists")]
    Duplicate(String),
    #[error("no profile named {0:?}")]
    NotFound(String),
    #[error("invalid profile: {0}")]
    Profile(#[from] ProfileError),
}

/// `SOCKEYE_CONFIG`, else `<platform config dir>/sockeye/config.toml`.
pub fn default_path() -> Result<PathBuf, ConfigError> {
    if let Some(p) = std::env::var_os("SOCKEYE_CONFIG") {
        return Ok(PathBuf::from(p));
    }
    directories::ProjectDirs::from("dev", "sockeye", "sockeye")
        .map(|d| d.config_dir().join("config.toml"))
        .ok_or(ConfigError::NoConfigDir)
}

impl Config {
    /// Parse config text; the error carries the 1-based line when TOML reports one.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            // Counted in bytes: a span may start inside a multi-byte character (found by
            // fuzz_inputs; slicing the text there panicked).
            let line = e.span().map(|s| {
                let before = &text.as_bytes()[..s.start.min(text.len())];
                before.iter().filter(|&&b| b == b'\n').count() + 1
            });
            let message = match line {
                Some(l) => format!("line {l}: {}", e.message()),
                None => e.message().to_string(),
            };
            ConfigError::Parse { path: path.to_path_buf(), line, message }
        })?;
        for p in &config.profiles {
            p.validate().map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                line: None,
                message: format!("profile {:?}: {e}", p.name),
            })?;
        }
        Ok(config)
    }

    /// Load `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path: path.to_path_buf(), source }),
        }
    }

    /// Atomically replace `path` with this config. Refuses to replace a file that does not
    /// parse, so a hand edit with a typo is never lost.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        if path.exists() {
            Config::load(path)?;
        }
        let text = toml::to_string_pretty(self).expect("config always serialises");
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let write_err = |source| ConfigError::Write { path: path.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(write_err)?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("config"),
            std::process::id()
        ));
        let result = (|| {
            use std::io::Write;
            let mut f = crate::private_file::create_owner_only(&tmp)?;
            f.write_all(
                b"# Sockeye environments. Secrets are kept in the OS keyring, never here.\n",
            )?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }

    pub fn get(&self, name: &str) -> Result<&Profile, ConfigError> {
        self.profiles
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ConfigError::NotFound(name.into()))
    }

    pub fn add(&mut self, profile: Profile) -> Result<(), ConfigError> {
        profile.validate()?;
        if self.profiles.iter().any(|p| p.name == profile.name) {
            return Err(ConfigError::Duplicate(profile.name));
        }
        self.profiles.push(profile);
        Ok(())
    }

    /// Replace the profile with the same name (or add it).
    pub fn upsert(&mut self, profile: Profile) -> Result<(), ConfigError> {
        profile.validate()?;
        match self.profiles.iter_mut().find(|p| p.name == profile.name) {
            Some(slot) => *slot = profile,
            None => self.profiles.push(profile),
        }
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<Profile, ConfigError> {
        let i = self
            .profiles
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ConfigError::NotFound(name.into()))?;
        if self.settings.active.as_deref() == Some(name) {
            self.settings.active = None;
        }
        Ok(self.profiles.remove(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::AuthMethod;

    #[test]
    fn round_trip_and_atomic_save() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let mut c = Config::default();
        let mut p = Profile::new(
            "prod",
            "wss://erp.example.com/socket.io/",
            AuthMethod::ApiToken { key: "k".into() },
        )
        .unwrap();
        p.subscriptions.channels = vec!["general".into()];
        c.add(p).unwrap();
        c.save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("https://erp.example.com"), "{text}");
        assert_eq!(Config::load(&path).unwrap(), c);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the config is owner-only");
        }
    }

    #[test]
    fn a_broken_file_names_the_line_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let broken = "[settings]\nproduction_hosts = [\"a\"]\n\n[[profile]]\nname = \"x\nurl = 3\n";
        std::fs::write(&path, broken).unwrap();
        let err = Config::load(&path).unwrap_err();
        match &err {
            ConfigError::Parse { line, .. } => assert_eq!(*line, Some(5), "{err}"),
            other => panic!("expected a parse error, got {other:?}"),
        }
        assert!(err.to_string().contains("line 5"), "{err}");
        let save = Config::default().save(&path);
        assert!(save.is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            broken,
            "the broken file is kept as it was"
        );
    }

    #[test]
    fn duplicates_and_bad_profiles_are_refused() {
        let mut c = Config::default();
        c.add(Profile::new("a", "http://localhost:8000", AuthMethod::Sid).unwrap()).unwrap();
        assert!(matches!(
            c.add(Profile::new("a", "http://localhost:8000", AuthMethod::Sid).unwrap()),
            Err(ConfigError::Duplicate(_))
        ));
        assert!(Profile::new("bad name!", "http://localhost", AuthMethod::Sid).is_err());
        let text =
            "[[profile]]\nname = \"p\"\nurl = \"ftp://x\"\n[profile.auth]\nmethod = \"sid\"\n";
        let e = Config::parse(text, Path::new("c.toml")).unwrap_err();
        assert!(e.to_string().contains("ftp"), "{e}");
    }
}
