//! `sockeye-cli diagnose` against a bench split as the real one is: a node realtime server that
//! answers no REST on its port and calls the web app back at the Origin.

mod common;
#[path = "../../core/tests/common/peers.rs"]
mod peers;

use common::{cli, text};

#[test]
fn a_local_bench_addressed_by_its_realtime_port_and_origin_passes() {
    let split = peers::node_frappe_split(&[]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("none.toml");
    let (rt, web) = (split.realtime.url(), split.web_url());
    let o = cli(&["diagnose", "--url", &rt, "--origin", &web, "--sid", "good-sid"], &cfg, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("All probes passed"), "{}", text(&o));
    let o = cli(
        &["diagnose", "--url", &rt, "--origin", &web, "--sid", "good-sid", "--json"],
        &cfg,
        None,
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for k in ["deployment_type", "local_socketio_ok", "external_socketio_ok", "hint"] {
        assert!(v["summary"].get(k).is_some(), "{k}: {v:#}");
    }
    assert_eq!(v["summary"]["external_socketio_ok"], true);
}
