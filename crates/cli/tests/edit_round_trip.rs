//! One edit model, round trip through the config file: an environment written by
//! `sockeye-cli env add` with every flag, then saved by the app's form (the same JSON the page
//! sends to `save_env`, applied by the same core function), then edited again by
//! `sockeye-cli env edit`: each step keeps what it was not asked to change.

use std::process::{Command, Output};

use sockeye_core::AuthMethod;
use sockeye_core::config_file::Config;
use sockeye_core::profile_edit::{EditMode, ProfileEdit, edit_profile};
use sockeye_core::url_rules::DeploymentType;

fn cli(args: &[&str], config: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sockeye-cli"))
        .args(args)
        .env("SOCKEYE_CONFIG", config)
        .env("NO_COLOR", "1")
        .output()
        .expect("binary runs")
}

fn ok(o: Output) {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn cli_app_cli_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    ok(cli(
        &[
            "env",
            "add",
            "prod",
            "--url",
            "https://erp.example.com",
            "--auth",
            "login",
            "--user",
            "me@example.com",
            "--site",
            "erp.example.com",
            "--socket-path",
            "/rt/socket.io/",
            "--origin",
            "https://www.example.com",
            "--channel",
            "general",
            "--doctype",
            "Raven User",
            "--task",
            "t-1",
            "--header",
            "X-Frappe-Site-Name: erp",
            "--deployment",
            "vps_prod",
            "--progress-endpoint",
            "ai_assistant.api.get_progress",
            "--backfill-max",
            "50",
            "--backfill-startup-hours",
            "6",
        ],
        &cfg,
    ));
    // A field no form shows, set by hand in the file.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[profile.auth]", "namespace = \"custom-ns\"\n\n[profile.auth]");
    std::fs::write(&cfg, text).unwrap();
    let before = Config::load(&cfg).unwrap().get("prod").unwrap().clone();
    assert_eq!(before.namespace.as_deref(), Some("custom-ns"));
    assert_eq!(before.progress_endpoint.as_deref(), Some("ai_assistant.api.get_progress"));
    assert_eq!((before.backfill.max_per_gap, before.backfill.startup_window_hours), (50, 6));

    // The app's form: what the page sends (ui/views/envs.js `formEdit`), with a new channel
    // list and TLS unchanged; namespace is not on the form.
    let form = r#"{"url": "https://erp.example.com", "auth": {"method": "login", "user": "me@example.com", "key": null},
        "site": "erp.example.com", "socket_port": null, "socket_path": "/rt/socket.io/", "origin": "https://www.example.com",
        "channels": ["general", "engineering"], "doctypes": ["Raven User"], "tasks": ["t-1"],
        "extra_headers": {"X-Frappe-Site-Name": "erp"}, "verify_tls": true, "deployment": "vps_prod",
        "backfill_enabled": true, "backfill_max_per_gap": 50, "backfill_startup_window_hours": null,
        "progress_endpoint": "ai_assistant.api.get_progress"}"#;
    let edit: ProfileEdit = serde_json::from_str(form).unwrap();
    let mut c = Config::load(&cfg).unwrap();
    edit_profile(&mut c, "prod", edit, EditMode::Upsert).unwrap();
    c.save(&cfg).unwrap();
    let after_app = Config::load(&cfg).unwrap().get("prod").unwrap().clone();
    let mut expected = before.clone();
    expected.subscriptions.channels = vec!["general".into(), "engineering".into()];
    assert_eq!(after_app, expected, "the app's save changed only the channels");

    // The CLI changes one thing; everything else, including the app's channels, stays.
    ok(cli(&["env", "edit", "prod", "--insecure"], &cfg));
    let after_cli = Config::load(&cfg).unwrap().get("prod").unwrap().clone();
    expected.verify_tls = false;
    assert_eq!(after_cli, expected);
    ok(cli(&["env", "edit", "prod", "--no-backfill", "--progress-endpoint", ""], &cfg));
    let after_off = Config::load(&cfg).unwrap().get("prod").unwrap().clone();
    expected.backfill.enabled = false;
    expected.progress_endpoint = None;
    assert_eq!(after_off, expected, "backfill off and polling off; the rest kept");
    let o = cli(&["env", "edit", "prod", "--progress-endpoint", "/api/method/x"], &cfg);
    assert_eq!(o.status.code(), Some(3), "a path is not a method name");
    assert_eq!(after_cli.auth, AuthMethod::Login { user: "me@example.com".into() });
    assert_eq!(after_cli.deployment, Some(DeploymentType::VpsProd));

    let o = cli(&["env", "edit", "nope", "--insecure"], &cfg);
    assert_eq!(o.status.code(), Some(3), "an unknown name is refused");
    let o = cli(&["env", "edit", "prod", "--auth", "login"], &cfg);
    assert!(o.status.success(), "switching to login keeps the stored user");
    let o = cli(&["env", "edit", "prod", "--auth", "token"], &cfg);
    assert_eq!(
        o.status.code(),
        Some(3),
        "token needs a key: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn tls_files_are_checked_when_saved_and_kept_by_later_edits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    let base = ["env", "add", "edge", "--url", "https://edge.example.com", "--auth", "sid"];
    // A missing file: refused as a usage error naming it, nothing written.
    let missing = dir.path().join("no-such-ca.pem");
    let o = cli(&[&base[..], &["--ca-file", missing.to_str().unwrap()]].concat(), &cfg);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-ca.pem"), "{o:?}");
    assert!(!cfg.exists() || !std::fs::read_to_string(&cfg).unwrap().contains("edge"));
    // A file that is not PEM: named too.
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let o = cli(&[&base[..], &["--ca-file", junk.to_str().unwrap()]].concat(), &cfg);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("junk.pem"), "{o:?}");
    // A real certificate: saved, and kept by an edit that does not mention it.
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap().cert.pem())
        .unwrap();
    ok(cli(&[&base[..], &["--ca-file", ca.to_str().unwrap()]].concat(), &cfg));
    ok(cli(&["env", "edit", "edge", "--site", "edge"], &cfg));
    let config = Config::load(&cfg).unwrap();
    assert_eq!(config.get("edge").unwrap().ca_file.as_deref(), Some(ca.as_path()));
    // Half a client identity is refused.
    let o = cli(&["env", "edit", "edge", "--client-cert", ca.to_str().unwrap()], &cfg);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("client_key"), "{o:?}");
}
