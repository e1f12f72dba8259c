//! Every row of the symptom → probe → hint table reproduced on loopback and diagnosed with
//! the right hint: through the simulator's fault knobs, a TLS listener with a self-signed
//! certificate, and (for routing faults) a real nginx with the configs in `tests/nginx`.

mod common;

use std::time::Duration;

use common::*;
use sockeye_core::auth::Credentials;
use sockeye_core::diagnose::hints::Symptom;
use sockeye_core::diagnose::{DiagnoseOptions, Report, Status, diagnose};
use sockeye_core::secrets::Secret;
use sockeye_core::target::{Target, resolve_with};
use sockeye_core::url_rules::DeploymentType;
use sockeye_core::{AuthMethod, Profile};
use sockeye_sim::{Sim, SimConfig};

fn opts() -> DiagnoseOptions {
    DiagnoseOptions {
        deployment: DeploymentType::Local,
        probe_timeout: Duration::from_secs(2),
        hold: Duration::from_millis(500),
        scan_ports: vec![],
        ..Default::default()
    }
}

async fn t(
    url: &str,
    method: AuthMethod,
    creds: Credentials,
    edit: impl FnOnce(&mut Profile),
) -> Target {
    let mut p = Profile::new("diag", url, method).unwrap();
    p.site = Some("raven.test".into());
    edit(&mut p);
    resolve_with(&p, creds).await
}

async fn sid_target(url: &str) -> Target {
    t(url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), |_| {}).await
}

fn assert_symptom(r: &Report, probe: &str, symptom: Symptom, hint_part: &str) {
    let p = r.probe(probe).unwrap_or_else(|| panic!("no {probe} probe: {r:#?}"));
    assert_eq!(p.symptom, Some(symptom), "{probe}: {p:#?}");
    assert!(matches!(p.status, Status::Fail | Status::Warn), "{p:#?}");
    let hint = p.hint.as_deref().unwrap_or_default();
    assert!(hint.contains(hint_part), "hint {hint:?} should mention {hint_part:?}");
    // The report's one hint is the decisive finding's: this probe's when it is the first
    // failure (or, with no failure, the first warning).
    let decisive = r
        .probes
        .iter()
        .find(|q| q.status == Status::Fail)
        .or_else(|| r.probes.iter().find(|q| q.status == Status::Warn))
        .expect("a finding");
    if decisive.name == p.name {
        assert_eq!(r.summary.hint, hint, "the report's hint is the failing probe's: {r:#?}");
    } else {
        assert_eq!(Some(r.summary.hint.as_str()), decisive.hint.as_deref(), "{r:#?}");
    }
    assert!(r.exit_code() >= 1);
}

#[tokio::test]
async fn a_healthy_environment_passes_every_probe_and_exits_0() {
    let sim = sim().await;
    let r = diagnose(&sid_target(&sim.url()).await, &opts()).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
    assert!(r.probes.iter().all(|p| matches!(p.status, Status::Pass | Status::Skipped)), "{r:#?}");
    for name in [
        "dns",
        "tcp",
        "tls",
        "web",
        "handshake",
        "second_poll",
        "namespace",
        "websocket",
        "pong",
        "identity",
    ] {
        assert_eq!(r.probe(name).map(|p| p.status), Some(Status::Pass), "{name}");
    }
    let s = &r.summary;
    assert!(s.external_socketio_ok && s.websocket_ok && s.auth_ok);
    assert_eq!(s.local_socketio_ok, Some(true));
    assert_eq!(s.deployment_type, "local");
    // The JSON summary has the seeds' diagnose_realtime() keys.
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "deployment_type",
        "local_socketio_ok",
        "external_socketio_ok",
        "websocket_ok",
        "auth_ok",
        "hint",
    ] {
        assert!(v["summary"].get(k).is_some(), "{k}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn row_1_port_closed_names_the_port_that_answers() {
    let sim = sim().await;
    let closed = common::peers::free_port();
    let target = sid_target(&format!("http://127.0.0.1:{closed}")).await;
    let o = DiagnoseOptions { scan_ports: vec![sim.addr().port()], ..opts() };
    let r = diagnose(&target, &o).await;
    assert_symptom(&r, "tcp", Symptom::PortClosed, &format!("Port {} answers", sim.addr().port()));
    assert_eq!(r.probe("handshake").unwrap().status, Status::Skipped);
    assert_eq!(r.exit_code(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn rows_2_to_8_proxy_and_engine_faults() {
    let cases: &[(&str, &str, Symptom, &str)] = &[
        ("route_missing", "handshake", Symptom::RouteMissing, "location /socket.io"),
        ("bad_gateway", "handshake", Symptom::UpstreamDown, "supervisorctl"),
        ("interstitial", "handshake", Symptom::Interstitial, "ngrok-skip-browser-warning"),
        ("no_sticky", "second_poll", Symptom::NoStickySessions, "sticky"),
        ("upgrade_refused", "websocket", Symptom::UpgradeBlocked, "Upgrade"),
        ("upgrade_no_probe", "websocket", Symptom::UpgradeSilent, "buffers"),
    ];
    for (knob, probe, symptom, hint) in cases {
        let sim = sim_with(SimConfig::default(), &[knob]).await;
        let r = diagnose(&sid_target(&sim.url()).await, &opts()).await;
        assert_symptom(&r, probe, *symptom, hint);
        if *knob == "interstitial" {
            // Retried with the skip header: the rest of the chain still runs and passes.
            assert_eq!(r.exit_code(), 1, "warning only: {r:#?}");
            assert_eq!(r.probe("namespace").unwrap().status, Status::Pass);
        }
        if *knob == "upgrade_refused" {
            assert!(
                !r.summary.websocket_ok && r.summary.external_socketio_ok,
                "stuck on polling, still connected"
            );
            assert_eq!(r.probe("pong").unwrap().status, Status::Pass, "pong over polling");
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn rows_9_to_12_refusals_map_to_their_hints() {
    let sim = sim().await;
    let url = sim.url();
    let r = diagnose(
        &t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), |p| {
            p.origin = Some("http://evil.example".into())
        })
        .await,
        &opts(),
    )
    .await;
    assert_symptom(&r, "namespace", Symptom::InvalidOrigin, "Origin");
    let r = diagnose(
        &t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), |p| {
            p.site = Some("other.site".into())
        })
        .await,
        &opts(),
    )
    .await;
    assert_symptom(&r, "namespace", Symptom::InvalidNamespace, "X-Frappe-Site-Name");
    let r = diagnose(&t(&url, AuthMethod::None, Credentials::None, |_| {}).await, &opts()).await;
    assert_symptom(&r, "namespace", Symptom::NoCredentials, "Authorization: token");
    assert!(!r.summary.auth_ok);
    // Bad token: the web app answers 401 too → "log in again / new API key".
    let r = diagnose(
        &t(
            &url,
            AuthMethod::ApiToken { key: "key".into() },
            Credentials::ApiToken { key: "key".into(), secret: Secret::new("nope") },
            |_| {},
        )
        .await,
        &opts(),
    )
    .await;
    assert_symptom(&r, "namespace", Symptom::Unauthorized, "Log in again");
    // Good credentials but an Origin whose web process cannot be reached by the realtime
    // server's callback: the web app accepts us → "cannot reach the web process".
    let r = diagnose(
        &t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), |p| {
            p.origin = Some("http://127.0.0.1:1".into())
        })
        .await,
        &opts(),
    )
    .await;
    assert_symptom(&r, "namespace", Symptom::Unauthorized, "the realtime server cannot reach");
    assert_eq!(r.probe("namespace").unwrap().cause, Some("C4"));
    // Expired sid: connects as Guest, identity names it.
    let r = diagnose(
        &t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("expired")), |_| {}).await,
        &opts(),
    )
    .await;
    assert_symptom(&r, "identity", Symptom::GuestSession, "Guest");
    assert!(!r.summary.auth_ok);
    sim.shutdown().await;
    // Secret mismatch: connected but deaf.
    let sim = sim_with(SimConfig::default(), &["secret_mismatch"]).await;
    let r = diagnose(&sid_target(&sim.url()).await, &opts()).await;
    assert_symptom(&r, "pong", Symptom::Deaf, "secret");
    sim.shutdown().await;
}

#[tokio::test]
async fn row_13_connected_but_no_events_and_listen_counts_rooms() {
    let sim = sim().await;
    let target = sid_target(&sim.url()).await;
    let o = DiagnoseOptions { listen: Some(Duration::from_millis(800)), ..opts() };
    let r = diagnose(&target, &o).await;
    assert_symptom(&r, "listen", Symptom::NoEvents, "publish_realtime");
    // With traffic, the events are counted per room.
    let st = sim.state().clone();
    let traffic = tokio::spawn(async move {
        loop {
            sockeye_sim::scenarios::ai_run(
                st.clone(),
                sockeye_sim::ScenarioParams { pace: 0.05, ..Default::default() },
                false,
            )
            .await;
        }
    });
    let o = DiagnoseOptions { listen: Some(Duration::from_secs(2)), ..opts() };
    let r = diagnose(&target, &o).await;
    let p = r.probe("listen").unwrap();
    assert_eq!(p.status, Status::Pass, "{p:#?}");
    assert!(p.evidence.iter().any(|e| e.contains("user:test@example.com (ai_progress)")), "{p:#?}");
    traffic.abort();
    sim.shutdown().await;
}

#[tokio::test]
async fn row_14_proxy_idle_drops() {
    let sim = sim_with(SimConfig::default(), &["idle_drop_secs=1"]).await;
    let o = DiagnoseOptions { hold: Duration::from_secs(3), ..opts() };
    let r = diagnose(&sid_target(&sim.url()).await, &o).await;
    assert_symptom(&r, "websocket", Symptom::IdleDrops, "proxy_read_timeout");
    sim.shutdown().await;
}

#[tokio::test]
async fn row_15_mixed_content() {
    let sim = sim().await;
    let target = sid_target(&sim.url()).await;
    let mut site = target.clone();
    site.base_url = url::Url::parse("https://erp.example.com").unwrap();
    let o = DiagnoseOptions {
        configured_socket_url: Some(url::Url::parse("http://erp.example.com:9000").unwrap()),
        ..opts()
    };
    let r = diagnose(&site, &o).await;
    assert_symptom(&r, "scheme", Symptom::MixedContent, "mixed content");
    sim.shutdown().await;
}

fn server_config(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> rustls::ServerConfig {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap()
}

/// A TLS listener with a fresh self-signed certificate, accepting handshakes only.
async fn self_signed_tls() -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    tls_listener(server_config(&cert.cert, &cert.key_pair)).await
}

/// A TLS listener accepting handshakes only.
async fn tls_listener(config: rustls::ServerConfig) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_private_ca_is_named_with_the_setting_that_fixes_it() {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Intranet CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let port = tls_listener(server_config(&cert, &key)).await;
    let url = format!("https://localhost:{port}");
    let r = diagnose(&sid_target(&url).await, &opts()).await;
    assert_symptom(&r, "tls", Symptom::TlsError, "ca_file");
    let tls = r.probe("tls").unwrap();
    assert!(tls.evidence.iter().any(|e| e.contains("Intranet CA")), "issuer shown: {tls:#?}");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let trusting =
        t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("x")), |p| p.ca_file = Some(ca_file))
            .await;
    let r = diagnose(&trusting, &opts()).await;
    assert_eq!(r.probe("tls").unwrap().status, Status::Pass, "{r:#?}");
}

#[tokio::test]
async fn row_16_self_signed_tls_is_named_and_the_opt_out_is_a_warning() {
    let port = self_signed_tls().await;
    let url = format!("https://localhost:{port}");
    let r = diagnose(&sid_target(&url).await, &opts()).await;
    assert_symptom(&r, "tls", Symptom::TlsError, "self-signed");
    assert!(r.probe("tls").unwrap().evidence.iter().any(|e| e.contains("expires in")), "{r:#?}");
    assert_eq!(r.probe("handshake").unwrap().status, Status::Skipped);
    let insecure =
        t(&url, AuthMethod::Sid, Credentials::Sid(Secret::new("x")), |p| p.verify_tls = false)
            .await;
    let r = diagnose(&insecure, &opts()).await;
    assert_eq!(r.probe("tls").unwrap().status, Status::Warn, "{r:#?}");
    assert_ne!(
        r.probe("handshake").unwrap().status,
        Status::Skipped,
        "the chain goes on with the opt-out"
    );
}

#[tokio::test]
async fn roundtrip_posts_a_real_message_and_times_its_arrival() {
    let sim = sim().await;
    let target = t(
        &sim.url(),
        AuthMethod::ApiToken { key: "key".into() },
        Credentials::ApiToken { key: "key".into(), secret: Secret::new("secret") },
        |_| {},
    )
    .await;
    let o = DiagnoseOptions { roundtrip: Some("general".into()), ..opts() };
    let r = diagnose(&target, &o).await;
    let p = r.probe("roundtrip").unwrap();
    assert_eq!(p.status, Status::Pass, "{p:#?}");
    assert!(p.evidence.iter().any(|e| e.contains("received as message_created in")), "{p:#?}");
    let stored = sim.state().recent_messages("general", 5);
    assert!(stored.iter().any(|m| m.content.contains("Sockeye realtime check")));
    sim.shutdown().await;
}

// ---- through a real nginx -------------------------------------------------------------

/// The realtime server (accepting the proxy's Origin for its callback) and a web-app
/// stand-in whose /socket.io answers Frappe's 404 page, as gunicorn would.
async fn realtime_and_web(nginx_port: u16) -> (Sim, Sim) {
    let mut config = SimConfig::default();
    config
        .extra_web_origins
        .insert("raven.test".into(), vec![format!("http://127.0.0.1:{nginx_port}")]);
    let realtime =
        Sim::start(sockeye_sim::SimOptions { config, ..Default::default() }).await.unwrap();
    let web = sim_with(SimConfig::default(), &["route_missing"]).await;
    (realtime, web)
}

#[tokio::test]
async fn through_nginx_correct_missing_route_and_missing_upgrade_headers() {
    let nginx_port_hint = common::peers::free_port();
    let (realtime, web) = realtime_and_web(nginx_port_hint).await;
    for (conf, expect) in [
        ("correct.conf", None),
        ("no_route.conf", Some(("handshake", Symptom::RouteMissing))),
        ("no_upgrade.conf", Some(("websocket", Symptom::UpgradeBlocked))),
    ] {
        let (rt, web_port) = (realtime.addr().port(), web.addr().port());
        let n = common::nginx::start(conf, |t, _| {
            t.replace("@REALTIME@", &rt.to_string())
                .replace("@WEB@", &web_port.to_string())
                .replace("@SITE@", "raven.test")
        });
        // The callback origin must be the proxy's own: teach the realtime server this port.
        realtime
            .state()
            .config
            .write()
            .unwrap()
            .extra_web_origins
            .insert("raven.test".into(), vec![format!("http://127.0.0.1:{}", n.port)]);
        let target = sid_target(&format!("http://127.0.0.1:{}", n.port)).await;
        let o = DiagnoseOptions { local_port: Some(realtime.addr().port()), ..opts() };
        let r = diagnose(&target, &o).await;
        match expect {
            None => {
                assert_eq!(r.exit_code(), 0, "{conf}: {r:#?}");
                assert!(r.summary.websocket_ok && r.summary.auth_ok);
            }
            Some((probe, symptom)) => {
                let p = r.probe(probe).unwrap();
                assert_eq!(p.symptom, Some(symptom), "{conf}: {r:#?}");
                if symptom == Symptom::RouteMissing {
                    // Local vs external: the realtime port answers, the proxy does not route it.
                    let local = r.probe("local").unwrap();
                    assert_eq!(local.status, Status::Fail, "{local:#?}");
                    assert!(
                        local.hint.as_deref().unwrap().contains("does not map /socket.io/"),
                        "{local:#?}"
                    );
                    assert_eq!(r.summary.local_socketio_ok, Some(true));
                    assert!(!r.summary.external_socketio_ok);
                } else {
                    assert!(r.summary.external_socketio_ok, "polling still works through it");
                }
            }
        }
    }
    realtime.shutdown().await;
    web.shutdown().await;
}

/// Row 5 is no longer a dead end: a Socket.IO v2 server (the real npm `socket.io` 2.x) is
/// probed over Engine.IO 3 through the whole chain.
#[tokio::test]
async fn row_5_a_socket_io_v2_server_is_probed_not_refused() {
    let peer = common::peers::node_frappe_v2(common::peers::free_port(), 25_000, 5_000);
    let r = diagnose(&sid_target(&peer.url()).await, &opts()).await;
    let hs = r.probe("handshake").unwrap();
    assert_eq!(hs.status, Status::Pass, "{hs:#?}");
    assert!(hs.evidence.iter().any(|e| e.contains("Socket.IO v2 server (EIO 3)")), "{hs:#?}");
    for probe in ["second_poll", "namespace", "websocket", "pong", "identity"] {
        assert_eq!(r.probe(probe).unwrap().status, Status::Pass, "{probe}: {r:#?}");
    }
    // A v2 server that refuses us: the refusal (a bare string on the wire) is read verbatim.
    let bad = t(&peer.url(), AuthMethod::Sid, Credentials::Sid(Secret::new("good-sid")), |p| {
        p.origin = Some("http://elsewhere.example".into())
    })
    .await;
    let r = diagnose(&bad, &opts()).await;
    assert_symptom(&r, "namespace", Symptom::InvalidOrigin, "Origin");
}

/// The simulator behaves like a real site for the round trip: the room is joined only after
/// its permission call, and a browser session's post needs the desk page's CSRF token.
#[tokio::test]
async fn roundtrip_on_the_simulator_waits_for_the_join_and_sends_the_csrf_token() {
    let config = SimConfig { permission_delay: Duration::from_millis(300), ..Default::default() };
    let sim = sim_with(config, &[]).await;
    let browser = t(
        &sim.url(),
        AuthMethod::Sid,
        Credentials::Sid(Secret::new(sockeye_sim::config::BROWSER_SID)),
        |_| {},
    )
    .await;
    let o = DiagnoseOptions { roundtrip: Some("general".into()), ..opts() };
    let r = diagnose(&browser, &o).await;
    let p = r.probe("roundtrip").unwrap();
    assert_eq!(p.status, Status::Pass, "{p:#?}");
    assert!(p.evidence.iter().any(|e| e.contains("X-Frappe-CSRF-Token")), "{p:#?}");
    assert!(p.evidence[0].contains("has_permission answered in"), "{p:#?}");
    sim.shutdown().await;
}
