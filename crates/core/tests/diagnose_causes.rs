//! The catalogue's causes (`realworld-failures.md` C1–C23) reproduced with real components on
//! 127.0.0.1 — a realtime server that calls the web app back as Frappe's does
//! (`tests/peers/frappe_split_server.mjs`), real nginx in front of it — and diagnosed with the
//! hint that names the cause and the fix that removes it.

mod common;

use std::time::Duration;

use common::peers::{Split, free_port, node_frappe_split};
use sockeye_core::auth::Credentials;
use sockeye_core::diagnose::hints::Symptom;
use sockeye_core::diagnose::{DiagnoseOptions, Report, Status, diagnose};
use sockeye_core::secrets::Secret;
use sockeye_core::target::{Target, resolve_with};
use sockeye_core::url_rules::DeploymentType;
use sockeye_core::{AuthMethod, Profile};

fn opts() -> DiagnoseOptions {
    DiagnoseOptions {
        deployment: DeploymentType::Local,
        probe_timeout: Duration::from_secs(3),
        hold: Duration::from_millis(300),
        scan_ports: vec![],
        ..Default::default()
    }
}

/// A sid profile at `url` with `origin`; the site is discovered, as the CLI does.
async fn target(url: &str, origin: &str, sid: &str) -> Target {
    let mut p = Profile::new("causes", url, AuthMethod::Sid).unwrap();
    p.origin = Some(origin.into());
    resolve_with(&p, Credentials::Sid(Secret::new(sid))).await
}

/// The bench addressed the seeds' way: the realtime port as URL, the web app as Origin.
async fn bench_target(split: &Split) -> Target {
    target(&split.realtime.url(), &split.web_url(), "good-sid").await
}

fn hint_of<'a>(r: &'a Report, probe: &str) -> &'a str {
    r.probe(probe)
        .and_then(|p| p.hint.as_deref())
        .unwrap_or_else(|| panic!("{probe} has no hint: {r:#?}"))
}

#[tokio::test]
async fn rest_goes_to_the_origin_when_the_url_is_a_realtime_port() {
    let split = node_frappe_split(&[]);
    let t = bench_target(&split).await;
    assert_eq!(t.namespace, "/raven.test", "the site is asked from the web app at the Origin");
    let r = diagnose(&t, &opts()).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    let web = r.probe("web").unwrap();
    assert!(web.evidence[0].starts_with(&format!("GET {}/api/method/ping", split.web_url())));
    assert!(web.evidence.iter().any(|e| e.contains("REST goes to the Origin")), "{web:#?}");
    assert_eq!(r.probe("identity").unwrap().status, Status::Pass, "{r:#?}");
    assert!(r.summary.auth_ok && r.summary.external_socketio_ok && r.summary.websocket_ok);

    // Neither the URL nor the Origin answers REST: both are named.
    let closed = format!("http://127.0.0.1:{}", free_port());
    let mut t = bench_target(&split).await;
    t.origin = closed.clone();
    let r = diagnose(&t, &opts()).await;
    let web = r.probe("web").unwrap();
    assert_eq!((web.status, web.symptom), (Status::Warn, Some(Symptom::WebUnreachable)));
    let hint = hint_of(&r, "web");
    assert!(hint.contains(&split.realtime.url()) && hint.contains(&closed), "{hint}");
    assert_eq!(r.probe("identity").map(|p| p.status), Some(Status::Skipped), "{r:#?}");
}
