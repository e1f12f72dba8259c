use super::*;
use crate::wire::{EioVersion, Transport};

fn snap(env: &str, state: LinkState, at: u64) -> StateSnapshot {
    StateSnapshot { profile: env.into(), state, since_ms: at }
}

fn up(rtt_ms: Option<u64>) -> LinkState {
    LinkState::Connected {
        transport: Transport::Websocket,
        user: Some("u".into()),
        rtt_ms,
        eio: EioVersion::V4,
        fallback: None,
        malformed: 0,
    }
}

fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.lines().find(|l| l.starts_with(prefix))
}

#[test]
fn every_state_name_is_exported() {
    let states = [
        LinkState::Idle,
        LinkState::Connecting { attempt: 0 },
        LinkState::Authenticating { step: "x".into() },
        up(None),
        LinkState::Degraded {
            transport: Transport::Polling,
            user: None,
            reason: "r".into(),
            eio: EioVersion::V4,
            fallback: None,
            malformed: 0,
        },
        LinkState::Reconnecting { attempt: 1, next_retry_at_ms: 0, last_error: "e".into() },
        LinkState::AuthFailed { message: "m".into() },
        LinkState::Stopped { reason: "s".into() },
    ];
    let names: Vec<&str> = states.iter().map(LinkState::name).collect();
    assert_eq!(names, LinkState::NAMES);
}

#[test]
fn states_set_up_state_rtt_and_count_losses() {
    let mut m = FleetMetrics::new(["prod", "sandbox"], 1_000);
    let t = m.encode(1_000);
    assert!(t.ends_with("# EOF\n"), "{t}");
    assert_eq!(
        line(&t, r#"sockeye_link_up{env="prod"}"#),
        Some(r#"sockeye_link_up{env="prod"} 0"#)
    );
    assert!(t.contains(r#"sockeye_link_state{env="sandbox",state="idle"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_reconnects_total{env="prod"} 0"#), "{t}");

    m.on_state(&snap("prod", LinkState::Connecting { attempt: 0 }, 1_100));
    m.on_state(&snap("prod", up(Some(12)), 1_200));
    let t = m.encode(2_000);
    assert!(t.contains(r#"sockeye_link_up{env="prod"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_link_state{env="prod",state="connected"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_link_state{env="prod",state="idle"} 0"#), "{t}");
    assert!(t.contains(r#"sockeye_rtt_seconds{env="prod"} 0.012"#), "{t}");
    assert!(t.contains(r#"sockeye_since_last_event_seconds{env="prod"} 1.0"#), "{t}");

    let lost = LinkState::Reconnecting { attempt: 1, next_retry_at_ms: 0, last_error: "x".into() };
    m.on_state(&snap("prod", lost.clone(), 3_000));
    m.on_state(&snap("prod", up(None), 4_000));
    m.on_state(&snap("prod", lost, 5_000));
    let t = m.encode(5_000);
    assert!(t.contains(r#"sockeye_reconnects_total{env="prod"} 2"#), "{t}");
    assert!(t.contains(r#"sockeye_link_up{env="prod"} 0"#), "{t}");
    assert!(!t.contains(r#"sockeye_rtt_seconds{env="prod"}"#), "no rtt while down: {t}");
    assert!(t.contains(r#"sockeye_reconnects_total{env="sandbox"} 0"#), "{t}");
}

#[test]
fn events_by_name_malformed_recovered_and_the_name_cap() {
    let mut m = FleetMetrics::new(["prod"], 0);
    let ev = |name: &str| {
        let mut e = RealtimeEvent::from_args(name, vec![serde_json::json!({})], None);
        e.received_at_ms = 10_000;
        e
    };
    m.on_event("prod", &ev("ai_progress"));
    m.on_event("prod", &ev("ai_progress"));
    let mut note = ev(MALFORMED_EVENT);
    note.received_at_ms = 11_000;
    m.on_event("prod", &note);
    let mut recovered = ev("message_created");
    recovered.recovered = true;
    m.on_event("prod", &recovered);
    m.on_event("unknown-env", &ev("ai_progress"));
    let t = m.encode(12_500);
    assert!(t.contains(r#"sockeye_events_total{env="prod",event="ai_progress"} 2"#), "{t}");
    assert!(t.contains(r#"sockeye_events_total{env="prod",event="message_created"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_malformed_packets_total{env="prod"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_backfill_recovered_messages_total{env="prod"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_since_last_event_seconds{env="prod"} 2.5"#), "{t}");
    assert!(!t.contains("unknown-env"), "{t}");

    for i in 0..EVENT_NAMES_MAX + 5 {
        m.on_event("prod", &ev(&format!("n{i}")));
    }
    let t = m.encode(12_500);
    assert_eq!(t.matches("sockeye_events_total{").count(), EVENT_NAMES_MAX + 1, "{t}");
    assert!(t.contains(r#"sockeye_events_total{env="prod",event="other"} 8"#), "{t}");
}

#[test]
fn degraded_reason_is_labelled_and_removed_when_healthy() {
    let mut m = FleetMetrics::new(["prod"], 0);
    let degraded = LinkState::Degraded {
        transport: Transport::Websocket,
        user: Some("Guest".into()),
        reason: "connected as Guest".into(),
        eio: EioVersion::V4,
        fallback: None,
        malformed: 0,
    };
    m.on_state(&snap("prod", degraded, 1));
    let t = m.encode(1);
    assert!(t.contains(r#"sockeye_degraded{env="prod",reason="connected as Guest"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_link_up{env="prod"} 0"#), "{t}");
    m.on_state(&snap("prod", up(None), 2));
    let t = m.encode(2);
    assert!(!t.contains("sockeye_degraded{"), "{t}");
}

#[test]
fn a_report_exports_each_probe_result_and_duration() {
    let mut m = FleetMetrics::new(["prod"], 0);
    let summary = crate::diagnose::Summary {
        deployment_type: "local".into(),
        local_socketio_ok: None,
        external_socketio_ok: false,
        websocket_ok: false,
        auth_ok: false,
        hint: "h".into(),
    };
    let report = Report {
        env: "prod".into(),
        url: "http://127.0.0.1:1".into(),
        namespace: "/".into(),
        probes: vec![
            crate::diagnose::Probe::new("dns", crate::diagnose::Status::Pass, 4),
            crate::diagnose::Probe::new("tcp", crate::diagnose::Status::Fail, 1500),
        ],
        summary,
        total_ms: 1504,
    };
    m.on_report(&report, 60_000);
    let t = m.encode(60_000);
    assert!(t.contains(r#"sockeye_probe_status{env="prod",probe="dns",status="pass"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_probe_status{env="prod",probe="dns",status="fail"} 0"#), "{t}");
    assert!(t.contains(r#"sockeye_probe_status{env="prod",probe="tcp",status="fail"} 1"#), "{t}");
    assert!(t.contains(r#"sockeye_probe_duration_seconds{env="prod",probe="tcp"} 1.5"#), "{t}");
    assert!(t.contains(r#"sockeye_diagnosed_timestamp_seconds{env="prod"} 60.0"#), "{t}");
}

#[test]
fn the_classic_text_format_names_counters_by_their_samples() {
    let mut m = FleetMetrics::new(["prod"], 0);
    let text = to_prometheus_text(&m.encode(0));
    assert!(text.contains("# TYPE sockeye_reconnects_total counter\n"), "{text}");
    assert!(text.contains("# HELP sockeye_reconnects_total Times"), "{text}");
    assert!(text.contains("# TYPE sockeye_link_up gauge\n"), "{text}");
    assert!(!text.contains("# UNIT") && !text.contains("# EOF"), "{text}");
    assert!(text.contains("# TYPE sockeye_since_last_event_seconds gauge\n"), "{text}");
}
