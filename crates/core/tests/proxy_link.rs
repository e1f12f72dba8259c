//! The link through a real HTTP proxy (Debian's `tinyproxy`): WebSocket through a `CONNECT`
//! tunnel and polling through the proxy's forwarding, to the simulator and to the independent
//! node `socket.io` peer; a proxy that wants Basic credentials refuses without them (407,
//! named) and lets the link through with them. The proxy's own log shows the traffic went
//! through it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::peers::{free_port, node_frappe};
use common::*;
use serde_json::json;
use sockeye_core::auth::Credentials;
use sockeye_core::proxy::{Proxy, ProxyChoice, ProxyError};
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::target::resolve_with;
use sockeye_core::wire::Transport;
use sockeye_core::{AuthMethod, Profile};

struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Start tinyproxy on 127.0.0.1 (with `BasicAuth user password` when given); it is
    /// installed by scripts/setup-deps.
    fn start(basic_auth: Option<(&str, &str)>) -> Tinyproxy {
        let bin = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("tinyproxy is installed (scripts/setup-deps)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 50\nAllow 127.0.0.1\nLogFile \"{}\"\nLogLevel Info\nDisableViaHeader Yes\n",
            log.display()
        );
        if let Some((u, p)) = basic_auth {
            conf.push_str(&format!("BasicAuth {u} {p}\n"));
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut child = Command::new(bin)
            .args(["-d", "-c"])
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy starts");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Tinyproxy { child, port, log, _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("tinyproxy did not listen on {port}");
    }

    fn choice(&self, user: Option<(&str, &str)>) -> ProxyChoice {
        let url = match user {
            Some((u, _)) => format!("http://{u}@127.0.0.1:{}", self.port),
            None => format!("http://127.0.0.1:{}", self.port),
        };
        ProxyChoice::Via(Proxy::parse(&url, user.map(|(_, p)| Secret::new(p))).unwrap())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn session(url: &str, proxy: ProxyChoice, transport: Transport) -> Session {
    let mut p = Profile::new("proxied", url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    p.subscriptions.channels = vec!["general".into()];
    let mut t = resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    t.proxy = proxy;
    let s = Session::spawn(t, SessionOptions { transports: vec![transport], ..fast_options() });
    // Every state change goes to the test's output, shown when a test fails.
    let mut states = s.state();
    let started = std::time::Instant::now();
    tokio::spawn(async move {
        loop {
            eprintln!(
                "{:?} {transport:?}: {:?}",
                started.elapsed(),
                states.borrow_and_update().state
            );
            if states.changed().await.is_err() {
                return;
            }
        }
    });
    s
}

#[tokio::test]
async fn the_simulator_through_tinyproxy_over_websocket_and_polling() {
    let proxy = Tinyproxy::start(None);
    let sim = sim().await;
    for transport in [Transport::Websocket, Transport::Polling] {
        let s = session(&sim.url(), proxy.choice(None), transport).await;
        let mut events = s.events();
        match connected(&s).await {
            LinkState::Connected { transport: t, .. } => assert_eq!(t, transport),
            other => panic!("{other:?}"),
        }
        let msg = format!("via the proxy over {transport:?}");
        sim.publish(publish(
            json!({"event":"ai_progress","user":USER,"message":{"type":"thinking","message":msg}}),
        ))
        .await
        .unwrap();
        assert_eq!(next_named(&mut events, "ai_progress", 5).await.json()["message"], msg);
        s.stop().await;
    }
    let log = proxy.log();
    let port = sim.addr().port();
    assert!(log.contains(&format!("CONNECT 127.0.0.1:{port}")), "WebSocket tunnelled: {log}");
    assert!(log.contains("/socket.io/?EIO=4&transport=polling"), "polling forwarded: {log}");
    sim.shutdown().await;
}

#[tokio::test]
async fn the_node_peer_through_tinyproxy_with_basic_auth() {
    let proxy = Tinyproxy::start(Some(("sockeye", "s3cret")));
    let peer = node_frappe(free_port());
    let url = peer.url();

    // Without credentials the tunnel is refused with a 407, named as such (and with wrong
    // ones, tinyproxy's 401).
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    let refused = sockeye_core::proxy::tunnel(
        match &proxy.choice(None) {
            ProxyChoice::Via(p) => p,
            _ => unreachable!(),
        },
        "127.0.0.1",
        port,
        Duration::from_secs(5),
    )
    .await
    .unwrap_err();
    assert!(matches!(refused, ProxyError::AuthRequired { .. }), "{refused}");
    let s = session(&url, proxy.choice(Some(("sockeye", "wrong"))), Transport::Websocket).await;
    let state =
        wait_state(&s, "a refusal", 10, |st| matches!(st, LinkState::Reconnecting { .. })).await;
    let LinkState::Reconnecting { last_error, .. } = state else { unreachable!() };
    assert!(last_error.contains("wants credentials"), "{last_error}");
    assert!(!last_error.contains("wrong"), "no password in messages: {last_error}");
    s.stop().await;

    // With them, both transports carry events from the peer.
    for transport in [Transport::Websocket, Transport::Polling] {
        let s = session(&url, proxy.choice(Some(("sockeye", "s3cret"))), transport).await;
        let mut events = s.events();
        connected(&s).await;
        // The channel subscription is emitted on connect; the peer may join the room a moment
        // after `connected`, so a message posted before that is not the link's fault: post
        // again (at most 5 times, 1 s apart) until one arrives.
        let mut arrived = None;
        for attempt in 0..5 {
            let text = format!("hello through the proxy over {transport:?} #{attempt}");
            reqwest::Client::new()
                .post(format!("{url}/__test/message"))
                .json(&json!({"channel_id": "general", "text": text}))
                .send()
                .await
                .unwrap();
            let wait = tokio::time::timeout(Duration::from_secs(1), async {
                loop {
                    match events.recv().await {
                        Ok(e) if e.name == "message_created" => return e,
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(e) => panic!("event stream ended: {e}"),
                    }
                }
            });
            if let Ok(e) = wait.await {
                arrived = Some(e);
                break;
            }
        }
        let e = arrived.expect("a message through the proxy within 5 attempts");
        assert!(e.payload.get().contains("hello through the proxy"), "{}", e.payload.get());
        s.stop().await;
    }
    assert!(proxy.log().contains(&format!("CONNECT 127.0.0.1:{port}")));
}

#[tokio::test]
async fn diagnose_goes_through_the_proxy_and_names_what_stops_it() {
    use sockeye_core::diagnose::report::Status;
    use sockeye_core::diagnose::{DiagnoseOptions, diagnose};
    let proxy = Tinyproxy::start(Some(("sockeye", "s3cret")));
    let sim = sim().await;
    let opts = DiagnoseOptions {
        deployment: sockeye_core::url_rules::DeploymentType::Local,
        probe_timeout: Duration::from_secs(2),
        hold: Duration::from_millis(300),
        scan_ports: vec![],
        ..Default::default()
    };
    let mut p = Profile::new("diag", &sim.url(), AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    let mut t = resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    t.proxy = proxy.choice(Some(("sockeye", "s3cret")));
    let r = diagnose(&t, &opts).await;
    let hop = r.probe("proxy").expect("a proxy probe");
    assert_eq!(hop.status, Status::Pass, "{r:#?}");
    assert_eq!(r.probe("dns").unwrap().status, Status::Skipped);
    assert_eq!(r.probe("namespace").unwrap().status, Status::Pass, "{r:#?}");
    assert_eq!(r.probe("websocket").unwrap().status, Status::Pass, "{r:#?}");

    t.proxy = proxy.choice(None);
    let r = diagnose(&t, &opts).await;
    let hop = r.probe("proxy").unwrap();
    assert_eq!(hop.status, Status::Fail);
    assert!(
        hop.hint.as_deref().unwrap_or_default().contains("set-secret NAME --proxy"),
        "{hop:#?}"
    );
    assert!(r.exit_code() >= 1);
    sim.shutdown().await;
}
