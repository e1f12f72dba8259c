//! Property tests (a stable-Rust fuzzer) for what users type and files they keep: the config
//! file parser, the URL rules and the recording reader. Any input is a value or a clear error, never a panic; what
//! is accepted is stable when written back. A longer run: `PROPTEST_CASES=1000000 cargo test
//! -p sockeye-core --release --test fuzz_inputs`.

use std::path::Path;

use proptest::prelude::*;
use sockeye_core::config_file::Config;
use sockeye_core::recording::Recording;
use sockeye_core::url_rules::{normalize_base_url, origin_of};

const GOOD_CONFIG: &str = r#"[settings]
production_hosts = ["erp.example.com"]

[[profile]]
name = "prod"
url = "https://erp.example.com"
[profile.auth]
method = "api_token"
key = "k"
[profile.subscriptions]
channels = ["general"]

[[profile]]
name = "bench"
url = "http://127.0.0.1:8000"
socket_port = 9000
[profile.auth]
method = "sid"
"#;

/// A real recording (`watch --record` against the simulator), the UI test's fixture.
const GOOD_RECORDING: &str = include_str!("../../../tests/ui/fixtures/site-10s.jsonl");

/// The good config with bytes cut, repeated or replaced (char boundaries kept).
fn mangled_config() -> impl Strategy<Value = String> {
    mangled(GOOD_CONFIG)
}

/// `good` with a span cut, repeated or replaced (char boundaries kept).
fn mangled(good: &'static str) -> impl Strategy<Value = String> {
    let n = good.chars().count();
    (0..n, 0..n, ".{0,12}", 0u8..3).prop_map(move |(a, b, insert, op)| {
        let chars: Vec<char> = good.chars().collect();
        let (lo, hi) = (a.min(b), a.max(b));
        let head: String = chars[..lo].iter().collect();
        let tail: String = chars[hi..].iter().collect();
        let middle: String = chars[lo..hi].iter().collect();
        match op {
            0 => format!("{head}{tail}"),
            1 => format!("{head}{middle}{middle}{tail}"),
            _ => format!("{head}{insert}{tail}"),
        }
    })
}

fn parse_and_round_trip(text: &str) -> Result<(), TestCaseError> {
    if let Ok(c) = Config::parse(text, Path::new("fuzz.toml")) {
        // What was accepted is written back and read again unchanged.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        c.save(&path).map_err(|e| TestCaseError::fail(format!("save: {e}")))?;
        let again = Config::load(&path).map_err(|e| TestCaseError::fail(format!("reload: {e}")))?;
        prop_assert_eq!(again, c);
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_good_config_parses(_x in 0..1u8) {
        prop_assert!(Config::parse(GOOD_CONFIG, Path::new("good.toml")).is_ok());
    }

    #[test]
    fn any_text_is_a_config_or_an_error(text in ".{0,300}") {
        parse_and_round_trip(&text)?;
    }

    #[test]
    fn mangled_configs_are_a_config_or_an_error(text in mangled_config()) {
        parse_and_round_trip(&text)?;
    }

    #[test]
    fn any_url_text_normalises_or_errs_and_is_stable(text in prop_oneof![
        ".{0,60}",
        "(wss?|https?|ftp)://[a-z0-9.:\\[\\]@%-]{0,30}(/[a-z.]{0,12}){0,3}/?",
        "[a-z0-9.-]{1,20}(:[0-9]{1,6})?(/socket\\.io/?)?",
    ]) {
        if let Ok(url) = normalize_base_url(&text) {
            let _ = origin_of(&url);
            let again = normalize_base_url(url.as_str())
                .map_err(|e| TestCaseError::fail(format!("{url} refused on the second pass: {e}")))?;
            prop_assert_eq!(again, url);
        }
    }

    #[test]
    fn the_good_recording_reads(_x in 0..1u8) {
        let r = Recording::read(GOOD_RECORDING.as_bytes(), false);
        prop_assert!(r.is_ok_and(|r| r.events().count() > 0));
    }

    #[test]
    fn any_text_is_a_recording_or_an_error(text in ".{0,300}", skip_bad in any::<bool>()) {
        let _ = Recording::read(text.as_bytes(), skip_bad);
    }

    #[test]
    fn mangled_recordings_are_read_or_refused(text in mangled(GOOD_RECORDING), skip_bad in any::<bool>()) {
        if let Ok(r) = Recording::read(text.as_bytes(), skip_bad) {
            // Whatever was read is usable for a replay.
            let _ = r.replay_events();
            let _ = r.describe();
        }
    }

    #[test]
    fn any_bytes_are_a_recording_or_an_error(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Recording::read(&bytes[..], true);
    }
}
