//! Cursors kept across app restarts: one small JSON file per environment beside the config
//! (`<config dir>/state/<env>.cursors.json`). Message ids and timestamps only, no secrets.
//! Writes are atomic (temp file, rename) so a crash leaves the old file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ChannelCursor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remembered {
    /// When the session last wrote (about when the app last saw the link alive).
    pub saved_at_ms: u64,
    pub channels: BTreeMap<String, ChannelCursor>,
}

/// The state file of environment `env` next to the config file `config`.
pub fn path_for(config: &Path, env: &str) -> PathBuf {
    let dir = config.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // Profile names are `[A-Za-z0-9._-]`; anything else is replaced so the name stays a file.
    let safe: String = env
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    dir.join("state").join(format!("{safe}.cursors.json"))
}

/// The remembered cursors, minus those older than `lookback`. A missing or unreadable file
/// is no cursors (the next session primes them again).
pub fn load(path: &Path, lookback: Duration, now_ms: u64) -> Option<Remembered> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut r: Remembered = serde_json::from_str(&text).ok()?;
    let oldest = now_ms.saturating_sub(lookback.as_millis() as u64);
    if r.saved_at_ms < oldest {
        return None;
    }
    r.channels.retain(|_, c| match c {
        ChannelCursor::At(c) => c.seen_at_ms >= oldest,
        ChannelCursor::Empty => true,
    });
    (!r.channels.is_empty()).then_some(r)
}

pub fn save(
    path: &Path,
    channels: &BTreeMap<String, ChannelCursor>,
    now_ms: u64,
) -> std::io::Result<()> {
    let r = Remembered { saved_at_ms: now_ms, channels: channels.clone() };
    let text = serde_json::to_string_pretty(&r).expect("cursors serialise");
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("cursors"),
        std::process::id()
    ));
    let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backfill::Cursor;

    #[test]
    fn round_trip_and_the_lookback_bound() {
        let dir = std::env::temp_dir().join(format!("sockeye-cursors-{}", std::process::id()));
        let path = path_for(&dir.join("config.toml"), "prod/eu");
        assert!(path.ends_with("state/prod_eu.cursors.json"));
        let mut ch = BTreeMap::new();
        let at = |id: &str, seen| {
            ChannelCursor::At(Cursor {
                message_id: id.into(),
                creation: "2026-01-01 10:00:00.000000".into(),
                seen_at_ms: seen,
            })
        };
        ch.insert("general".to_string(), at("a", 9_000_000));
        ch.insert("stale".to_string(), at("b", 1_000));
        ch.insert("empty".to_string(), ChannelCursor::Empty);
        save(&path, &ch, 9_500_000).unwrap();
        let r = load(&path, Duration::from_secs(3600), 10_000_000).unwrap();
        assert_eq!(r.saved_at_ms, 9_500_000);
        assert_eq!(r.channels.keys().collect::<Vec<_>>(), ["empty", "general"]);
        assert!(load(&path, Duration::from_secs(1), 20_000_000).is_none(), "too old");
        std::fs::write(&path, "not json").unwrap();
        assert!(load(&path, Duration::from_secs(3600), 10_000_000).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
