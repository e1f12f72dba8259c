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

// ---- through a real nginx ---------------------------------------------------------------

const UPGRADE: &str = "proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection \"upgrade\";";

/// nginx from `frappe_variant.conf` in front of `split`: `socketio` is the body of `location
/// /socket.io` (after X-Frappe-Site-Name), `server` more locations, `upstream` http-level.
fn nginx(split: &Split, socketio: &str, server: &str, upstream: &str) -> common::nginx::Nginx {
    let (rt, web) = (split.realtime.port.to_string(), split.web_port.to_string());
    common::nginx::start("frappe_variant.conf", |t, dir| {
        std::fs::write(dir.join("htpasswd"), "").unwrap();
        t.replace("@SOCKETIO@", socketio)
            .replace("@SERVER@", server)
            .replace("@UPSTREAM@", upstream)
            .replace("@REALTIME@", &rt)
            .replace("@WEB@", &web)
            .replace("@SITE@", "raven.test")
            .replace("@HTPASSWD@", dir.join("htpasswd").to_str().unwrap())
    })
}

fn proxied(rest: &str) -> String {
    format!("{UPGRADE}\n            {rest}\n            proxy_pass http://127.0.0.1:@REALTIME@;")
}

fn assert_cause(r: &Report, probe: &str, cause: &str, hint_part: &str) {
    let p = r.probe(probe).unwrap_or_else(|| panic!("no {probe}: {r:#?}"));
    assert_eq!(p.cause, Some(cause), "{probe}: {r:#?}");
    let hint = p.hint.as_deref().unwrap_or_default();
    assert!(hint.contains(hint_part), "hint {hint:?} should mention {hint_part:?}");
    assert!(!p.fixes.is_empty(), "a finding carries its fix: {p:#?}");
    assert!(r.exit_code() >= 1);
}

#[tokio::test]
async fn the_correct_bench_template_passes() {
    let split = node_frappe_split(&[]);
    let n = nginx(
        &split,
        &proxied(
            "proxy_set_header Origin $scheme://$http_host;\n            proxy_set_header Host $host;",
        ),
        "",
        "",
    );
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    assert_eq!(r.exit_code(), 0, "{r:#?}");
}

#[tokio::test]
async fn c1_host_rewritten_by_the_proxy_is_told_from_c2_origin_replaced() {
    let split = node_frappe_split(&[]);
    // C1: Host becomes the upstream address; the browser's Origin passes through.
    let n = nginx(&split, &proxied("proxy_set_header Host 127.0.0.1:@REALTIME@;"), "", "");
    let url = format!("http://localhost:{}", n.port);
    let mut t = target(&url, &url, "good-sid").await;
    t.namespace = "/raven.test".into();
    let r = diagnose(&t, &opts()).await;
    assert_cause(&r, "namespace", "C1", "proxy_set_header Host $host");
    assert!(hint_of(&r, "namespace").contains("Host 127.0.0.1"), "{r:#?}");
    drop(n);
    // C2: a template sets a fixed Origin; Host passes through.
    let n = nginx(
        &split,
        &proxied(
            "proxy_set_header Origin $scheme://frontend;\n            proxy_set_header Host $host;",
        ),
        "",
        "",
    );
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    assert_cause(&r, "namespace", "C2", "replaces the Origin");
    let fix = &r.probe("namespace").unwrap().fixes[0];
    assert!(fix.snippet.contains("proxy_set_header Origin $scheme://$http_host;"), "{fix:#?}");
    drop(n);
    // C19: Origin built from the Referer.
    let n = nginx(
        &split,
        &proxied(
            "proxy_set_header Origin $http_referer;\n            proxy_set_header Host $host;",
        ),
        "",
        "",
    );
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    assert_cause(&r, "namespace", "C19", "$http_referer");
}

#[tokio::test]
async fn c7_a_front_door_answering_the_callback_with_html() {
    let split = node_frappe_split(&[]);
    let front_door = "location ^~ /api/method/frappe.realtime. {
            auth_basic \"Company SSO\";
            auth_basic_user_file @HTPASSWD@;
            proxy_pass http://127.0.0.1:@WEB@;
        }";
    let n = nginx(
        &split,
        &proxied(
            "proxy_set_header Origin $scheme://$http_host;\n            proxy_set_header Host $host;",
        ),
        front_door,
        "",
    );
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    let ns = r.probe("namespace").unwrap();
    assert!(
        ns.evidence[0].contains("Unauthorized: SyntaxError: Unexpected token '<'"),
        "the server's words verbatim: {ns:#?}"
    );
    assert_cause(&r, "namespace", "C7", "front door");
    assert!(hint_of(&r, "namespace").contains("Our own request to the web app passes"));
    assert!(ns.fixes[0].snippet.contains("location ^~ /api/method/frappe.realtime."), "{ns:#?}");
}

#[tokio::test]
async fn c5_the_callback_cannot_reach_the_web_app_we_reach() {
    // developer_mode makes the callback use webserver_port, where nothing listens.
    let closed = free_port().to_string();
    let split = node_frappe_split(&[("DEVELOPER_MODE", "1"), ("WEBSERVER_PORT", &closed)]);
    let r = diagnose(&bench_target(&split).await, &opts()).await;
    let ns = r.probe("namespace").unwrap();
    assert!(ns.evidence[0].contains("Unauthorized: TypeError: fetch failed"), "{ns:#?}");
    assert_cause(&r, "namespace", "C5", "developer_mode");
    assert!(ns.fixes.iter().any(|f| f.snippet.contains("\"developer_mode\": 0")), "{ns:#?}");
}

// ---- the round trip on a real-like site ---------------------------------------------------

fn roundtrip(channel: &str) -> DiagnoseOptions {
    DiagnoseOptions { roundtrip: Some(channel.into()), ..opts() }
}

#[tokio::test]
async fn roundtrip_waits_for_the_asynchronous_join_and_fetches_the_csrf_token() {
    // has_permission answers after 300 ms: a post made at once would miss the room.
    let split = node_frappe_split(&[("PERMISSION_DELAY_MS", "300")]);
    let mut p =
        Profile::new("rt", &split.realtime.url(), AuthMethod::ApiToken { key: "key".into() })
            .unwrap();
    p.origin = Some(split.web_url());
    let creds = Credentials::ApiToken { key: "key".into(), secret: Secret::new("secret") };
    let t = resolve_with(&p, creds).await;
    let r = diagnose(&t, &roundtrip("general")).await;
    let rt = r.probe("roundtrip").unwrap();
    assert_eq!(rt.status, Status::Pass, "{rt:#?}");
    assert!(rt.evidence[0].contains("settle (has_permission answered in"), "{rt:#?}");
    assert!(rt.evidence.iter().any(|e| e.contains("received as message_created")), "{rt:#?}");

    // A session pasted from a browser: the post needs X-Frappe-CSRF-Token, read from /app.
    let t = target(&split.realtime.url(), &split.web_url(), "browser-sid").await;
    let r = diagnose(&t, &roundtrip("general")).await;
    let rt = r.probe("roundtrip").unwrap();
    assert_eq!(rt.status, Status::Pass, "{rt:#?}");
    assert!(rt.evidence.iter().any(|e| e.contains("CSRFTokenError")), "{rt:#?}");
}

#[tokio::test]
async fn roundtrip_names_a_refused_join_c23_and_a_redis_split_c11() {
    let split = node_frappe_split(&[("NO_PUBLISH", "1")]);
    let t = bench_target(&split).await;
    let r = diagnose(&t, &roundtrip("engineering")).await;
    assert_cause(&r, "roundtrip", "C23", "silently ignored");
    let quick =
        DiagnoseOptions { probe_timeout: Duration::from_millis(1500), ..roundtrip("general") };
    let r = diagnose(&t, &quick).await;
    assert_cause(&r, "roundtrip", "C11", "redis");
    let fixes = &r.probe("roundtrip").unwrap().fixes;
    assert!(fixes.iter().any(|f| f.snippet.contains("PUBSUB NUMSUB events")), "{fixes:#?}");
}

/// Every nginx snippet any finding can carry passes `nginx -t`, each in a config of its own
/// (server-level snippets inside a server block, http-level ones beside it).
#[test]
fn every_nginx_fix_snippet_passes_nginx_t() {
    use sockeye_core::diagnose::fixes::{FixContext, FixKind, fixes_for};
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for deployment in [DeploymentType::VpsProd, DeploymentType::Sandbox] {
        let c = FixContext {
            site: "erp.example.com".into(),
            host: "erp.example.com".into(),
            site_url: "https://erp.example.com".into(),
            realtime_port: 9000,
            web_port: 8000,
            alternatives: vec![9001],
            heartbeat_secs: 45,
            deployment,
            channel: Some("general".into()),
        };
        let symptoms = [
            Symptom::RouteMissing,
            Symptom::UpgradeBlocked,
            Symptom::InvalidOrigin,
            Symptom::NoStickySessions,
            Symptom::IdleDrops,
            Symptom::InvalidNamespace,
            Symptom::Unauthorized,
        ];
        let causes = [None, Some("C1"), Some("C2"), Some("C7"), Some("C19"), Some("C20")];
        for s in symptoms {
            for cause in causes {
                for f in fixes_for(s, cause, &c) {
                    let (server, http) = match f.kind {
                        FixKind::NginxServer => (f.snippet.as_str(), ""),
                        FixKind::NginxHttp => ("", f.snippet.as_str()),
                        _ => continue,
                    };
                    let prefix = dir.path().to_str().unwrap();
                    let conf = format!(
                        "pid {prefix}/nginx.pid;\nevents {{}}\nhttp {{\n    client_body_temp_path {prefix};\n    proxy_temp_path {prefix};\n    {http}\n    server {{\n        listen 127.0.0.1:1;\n        {server}\n    }}\n}}\n"
                    );
                    let path = dir.path().join("t.conf");
                    std::fs::write(&path, &conf).unwrap();
                    let o = std::process::Command::new("nginx")
                        .args(["-t", "-p", prefix, "-e", "stderr", "-c", path.to_str().unwrap()])
                        .output()
                        .expect("nginx is installed by scripts/setup-deps");
                    assert!(
                        o.status.success(),
                        "{s:?} {cause:?} {}:\n{}\n{}",
                        f.title,
                        f.snippet,
                        String::from_utf8_lossy(&o.stderr)
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} snippets checked");
}

#[tokio::test]
async fn c9_c10_c14_c17_deaf_socket_realtime_down_no_sticky_sessions_idle_timeout() {
    // C9: get_user_info without installed_apps (socket secret mismatch): connected but deaf.
    let split = node_frappe_split(&[("SECRET_MISMATCH", "1")]);
    let r = diagnose(&bench_target(&split).await, &opts()).await;
    assert_cause(&r, "pong", "C9", "secret");
    drop(split);
    let split = node_frappe_split(&[]);
    let correct = proxied(
        "proxy_set_header Origin $scheme://$http_host;\n            proxy_set_header Host $host;",
    );
    // C10: nginx up, the realtime process behind it down → 502.
    let dead = correct.replace("@REALTIME@", &free_port().to_string());
    let n = nginx(&split, &dead, "", "");
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    assert_cause(&r, "handshake", "C10", "supervisorctl");
    drop(n);
    // C14: two realtime servers round-robin without sticky sessions.
    let second = node_frappe_split(&[]);
    let upstream = format!(
        "upstream realtime {{ server 127.0.0.1:{}; server 127.0.0.1:{}; }}",
        split.realtime.port, second.realtime.port
    );
    let rr = correct.replace("http://127.0.0.1:@REALTIME@", "http://realtime");
    let n = nginx(&split, &rr, "", &upstream);
    let url = format!("http://127.0.0.1:{}", n.port);
    let r = diagnose(&target(&url, &url, "good-sid").await, &opts()).await;
    assert_cause(&r, "second_poll", "C14", "sticky");
    assert!(r.probe("second_poll").unwrap().fixes[0].snippet.contains("ip_hash;"));
    drop(n);
    // C17: proxy_read_timeout 5s kills the idle WebSocket; --deep holds past it.
    let short = format!("{correct}\n            proxy_read_timeout 5s;");
    let n = nginx(&split, &short, "", "");
    let url = format!("http://127.0.0.1:{}", n.port);
    let deep = DiagnoseOptions { hold: Duration::from_secs(8), ..opts() };
    let r = diagnose(&target(&url, &url, "good-sid").await, &deep).await;
    assert_cause(&r, "websocket", "C17", "proxy_read_timeout");
    let ws = r.probe("websocket").unwrap();
    assert!(ws.evidence.iter().any(|e| e.contains("after 5.")), "measured interval: {ws:#?}");
    assert!(hint_of(&r, "websocket").contains("pingInterval 25 s"), "{r:#?}");
}
