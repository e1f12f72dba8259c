//! The session over TLS (rustls, `src/tls.rs`): a real TLS terminator with a self-signed
//! certificate in front of the simulator. With the environment's verification opt-out the link
//! comes up over wss and over https polling, REST included (site discovery, identity); with
//! verification on, it is refused naming the certificate, and never connects.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use serde_json::json;
use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::state::LinkState;
use sockeye_core::target::resolve_with;
use sockeye_core::wire::Transport;
use sockeye_core::{AuthMethod, Profile};
use tokio::net::{TcpListener, TcpStream};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration with a fresh self-signed certificate.
fn self_signed() -> rustls::ServerConfig {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap()
}

/// Terminates TLS on 127.0.0.1:<port> and forwards the plain bytes to `upstream`.
async fn tls_terminator(upstream: std::net::SocketAddr, config: rustls::ServerConfig) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut plain) = TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// A private CA, a server certificate for 127.0.0.1 and a client certificate it signed, as
/// PEM files in `dir`.
struct PrivatePki {
    /// PEM texts of the server's certificate and key and of the CA, for other TLS servers.
    server_pem: String,
    server_key_pem: String,
    ca_pem: String,
    server: rustls::ServerConfig,
    ca_file: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn private_pki(dir: &std::path::Path, require_client_cert: bool) -> PrivatePki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Sockeye test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["support-laptop".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    let files = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_file = files("ca.pem", ca.pem());
    let client_cert = files("client.pem", client.pem());
    let client_key_file = files("client.key", client_key.serialize_pem());
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if require_client_cert {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider(),
        )
        .build()
        .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
    let server = builder.with_single_cert(vec![server_cert.der().clone()], key).unwrap();
    PrivatePki {
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        ca_pem: ca.pem(),
        server,
        ca_file,
        client_cert,
        client_key: client_key_file,
    }
}

async fn session_over_tls(
    sim: &sockeye_sim::Sim,
    port: u16,
    verify: bool,
    transports: Vec<Transport>,
) -> Session {
    session_with(sim, port, transports, |p| p.verify_tls = verify).await
}

async fn session_with(
    sim: &sockeye_sim::Sim,
    port: u16,
    transports: Vec<Transport>,
    edit: impl FnOnce(&mut Profile),
) -> Session {
    let mut p = Profile::new("tls", &format!("https://127.0.0.1:{port}"), AuthMethod::Sid).unwrap();
    edit(&mut p);
    p.origin = Some(sim.url());
    p.site = Some(sim.site());
    let target = resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    Session::spawn(target, SessionOptions { transports, ..fast_options() })
}

#[tokio::test]
async fn the_link_runs_over_wss_and_https_polling_with_the_opt_out() {
    let sim = sim().await;
    let port = tls_terminator(sim.addr(), self_signed()).await;
    for transport in [Transport::Websocket, Transport::Polling] {
        let s = session_over_tls(&sim, port, false, vec![transport]).await;
        let mut events = s.events();
        match connected(&s).await {
            LinkState::Connected { transport: t, user, .. } => {
                assert_eq!(t, transport);
                assert_eq!(user.as_deref(), Some(USER), "identity checked over https REST");
            }
            other => panic!("{other:?}"),
        }
        let msg = format!("over TLS {transport:?}");
        sim.publish(publish(
            json!({"event":"ai_progress","user":USER,"message":{"type":"thinking","message":msg}}),
        ))
        .await
        .unwrap();
        let e = next_named(&mut events, "ai_progress", 5).await;
        assert_eq!(e.json()["message"], msg);
        s.stop().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_self_signed_certificate_is_refused_when_verifying() {
    let sim = sim().await;
    let port = tls_terminator(sim.addr(), self_signed()).await;
    let s = session_over_tls(&sim, port, true, vec![Transport::Websocket]).await;
    let state = wait_state(&s, "a refusal", 10, |st| {
        matches!(st, LinkState::Reconnecting { .. } | LinkState::Stopped { .. })
    })
    .await;
    let LinkState::Reconnecting { last_error, .. } = &state else { panic!("{state:?}") };
    assert!(last_error.to_lowercase().contains("certificate"), "{last_error}");
    s.stop().await;
    sim.shutdown().await;
}

/// Waits for the first refusal and returns its text.
async fn refusal(s: &Session) -> String {
    let state =
        wait_state(s, "a refusal", 10, |st| matches!(st, LinkState::Reconnecting { .. })).await;
    let LinkState::Reconnecting { last_error, .. } = state else { unreachable!() };
    last_error
}

async fn event_arrives(sim: &sockeye_sim::Sim, s: &Session, msg: &str) {
    let mut events = s.events();
    connected(s).await;
    sim.publish(publish(
        json!({"event":"ai_progress","user":USER,"message":{"type":"thinking","message":msg}}),
    ))
    .await
    .unwrap();
    assert_eq!(next_named(&mut events, "ai_progress", 5).await.json()["message"], msg);
}

#[tokio::test]
async fn a_private_ca_is_trusted_through_ca_file_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_pki(dir.path(), false);
    let sim = sim().await;
    let port = tls_terminator(sim.addr(), pki.server.clone()).await;
    for transport in [Transport::Websocket, Transport::Polling] {
        let s = session_with(&sim, port, vec![transport], |_| {}).await;
        let why = refusal(&s).await;
        assert!(why.to_lowercase().contains("certificate"), "{why}");
        s.stop().await;
        let s =
            session_with(&sim, port, vec![transport], |p| p.ca_file = Some(pki.ca_file.clone()))
                .await;
        event_arrives(&sim, &s, &format!("private CA {transport:?}")).await;
        s.stop().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_the_server_asks() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_pki(dir.path(), true);
    let sim = sim().await;
    let port = tls_terminator(sim.addr(), pki.server.clone()).await;
    for transport in [Transport::Websocket, Transport::Polling] {
        let trusting = |p: &mut Profile| p.ca_file = Some(pki.ca_file.clone());
        let s = session_with(&sim, port, vec![transport], trusting).await;
        let why = refusal(&s).await;
        eprintln!("without a client certificate ({transport:?}): {why}");
        assert!(why.to_lowercase().contains("certificate"), "{why}");
        s.stop().await;
        let s = session_with(&sim, port, vec![transport], |p| {
            trusting(p);
            p.client_cert = Some(pki.client_cert.clone());
            p.client_key = Some(pki.client_key.clone());
        })
        .await;
        event_arrives(&sim, &s, &format!("mTLS {transport:?}")).await;
        s.stop().await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn diagnose_names_a_missing_client_certificate() {
    use sockeye_core::diagnose::report::Status;
    use sockeye_core::diagnose::{DiagnoseOptions, diagnose};
    let dir = tempfile::tempdir().unwrap();
    let pki = private_pki(dir.path(), true);
    let sim = sim().await;
    let port = tls_terminator(sim.addr(), pki.server.clone()).await;
    let opts = DiagnoseOptions {
        deployment: sockeye_core::url_rules::DeploymentType::Local,
        probe_timeout: std::time::Duration::from_secs(2),
        hold: std::time::Duration::from_millis(300),
        scan_ports: vec![],
        ..Default::default()
    };
    let target = |identity: bool| {
        let mut p =
            Profile::new("mtls", &format!("https://127.0.0.1:{port}"), AuthMethod::Sid).unwrap();
        p.site = Some(sim.site());
        p.origin = Some(sim.url());
        p.ca_file = Some(pki.ca_file.clone());
        if identity {
            p.client_cert = Some(pki.client_cert.clone());
            p.client_key = Some(pki.client_key.clone());
        }
        resolve_with_owned(p)
    };
    let r = diagnose(&target(false).await, &opts).await;
    let tls = r.probe("tls").unwrap();
    assert_eq!(tls.status, Status::Fail, "{r:#?}");
    assert!(tls.hint.as_deref().unwrap_or_default().contains("client_cert"), "{tls:#?}");
    let r = diagnose(&target(true).await, &opts).await;
    assert_eq!(r.probe("tls").unwrap().status, Status::Pass, "{r:#?}");
    assert_eq!(r.probe("namespace").unwrap().status, Status::Pass, "{r:#?}");
    sim.shutdown().await;
}

async fn resolve_with_owned(p: Profile) -> sockeye_core::target::Target {
    resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await
}

/// The same checks against nginx (OpenSSL), an independent TLS server: it asks every client for
/// a certificate from the private CA and answers 400 to a connection without one.
#[tokio::test]
async fn nginx_with_a_private_ca_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let pki = private_pki(dir.path(), true);
    let sim = sim().await;
    let rt = sim.addr().port();
    let nginx = common::nginx::start("tls_client_certs.conf", |t, run| {
        std::fs::write(run.join("server.pem"), &pki.server_pem).unwrap();
        std::fs::write(run.join("server.key"), &pki.server_key_pem).unwrap();
        std::fs::write(run.join("ca.pem"), &pki.ca_pem).unwrap();
        t.replace("@REALTIME@", &rt.to_string()).replace("@VERIFY_CLIENT@", "on")
    });
    let port = nginx.port;
    for transport in [Transport::Websocket, Transport::Polling] {
        // Not trusted without the CA.
        let s = session_with(&sim, port, vec![transport], |_| {}).await;
        let why = refusal(&s).await;
        assert!(why.to_lowercase().contains("certificate"), "{why}");
        s.stop().await;
        // Trusted, but no client certificate: nginx's own 400 page, named.
        let trusting = |p: &mut Profile| p.ca_file = Some(pki.ca_file.clone());
        let s = session_with(&sim, port, vec![transport], trusting).await;
        let why = refusal(&s).await;
        assert!(why.contains("400"), "{why}");
        s.stop().await;
        let s = session_with(&sim, port, vec![transport], |p| {
            trusting(p);
            p.client_cert = Some(pki.client_cert.clone());
            p.client_key = Some(pki.client_key.clone());
        })
        .await;
        event_arrives(&sim, &s, &format!("nginx mTLS {transport:?}")).await;
        s.stop().await;
    }
    sim.shutdown().await;
}
