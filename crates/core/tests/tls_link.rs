//! The session over TLS (rustls, `src/tls.rs`): a real TLS terminator with a self-signed
//! certificate in front of the simulator. With the environment's verification opt-out the link
//! comes up over wss and over https polling, REST included (site discovery, identity); with
//! verification on, it is refused naming the certificate, and never connects.

mod common;

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

/// Terminates TLS on 127.0.0.1:<port> and forwards the plain bytes to `upstream`.
async fn tls_terminator(upstream: std::net::SocketAddr) -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
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

async fn session_over_tls(
    sim: &sockeye_sim::Sim,
    port: u16,
    verify: bool,
    transports: Vec<Transport>,
) -> Session {
    let mut p = Profile::new("tls", &format!("https://127.0.0.1:{port}"), AuthMethod::Sid).unwrap();
    p.verify_tls = verify;
    p.origin = Some(sim.url());
    p.site = Some(sim.site());
    let target = resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await;
    Session::spawn(target, SessionOptions { transports, ..fast_options() })
}

#[tokio::test]
async fn the_link_runs_over_wss_and_https_polling_with_the_opt_out() {
    let sim = sim().await;
    let port = tls_terminator(sim.addr()).await;
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
    let port = tls_terminator(sim.addr()).await;
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
