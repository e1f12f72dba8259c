//! One login per session, against the independent node `socket.io` server (which counts the
//! logins and channel-list calls it answers): REST calls reuse the session's sid, the channel
//! list is cached, an expired sid costs exactly one re-login, and a wrong password is tried
//! once and never again until the user acts.

mod common;

use std::time::Duration;

use common::peers::{Peer, free_port, node_frappe};
use common::*;
use serde_json::Value;
use sockeye_core::AuthMethod;
use sockeye_core::auth::{Credentials, http_client_for};
use sockeye_core::raven_api::ChannelCache;
use sockeye_core::secrets::Secret;
use sockeye_core::session::Session;
use sockeye_core::session_rest;
use sockeye_core::state::LinkState;

async fn stats(peer: &Peer) -> Value {
    reqwest::get(format!("{}/__test/stats", peer.url())).await.unwrap().json().await.unwrap()
}

async fn login_session(
    peer: &Peer,
    password: &str,
) -> (Session, session_rest::RestAuth, sockeye_core::target::Target) {
    let mut p =
        sockeye_core::Profile::new("login", &peer.url(), AuthMethod::Login { user: USER.into() })
            .unwrap();
    p.site = Some("raven.test".into());
    let t = sockeye_core::target::resolve_with(
        &p,
        Credentials::Login { user: USER.into(), password: Secret::new(password) },
    )
    .await;
    let session = Session::spawn(t.clone(), fast_options());
    let rest = session_rest::for_session(&session);
    (session, rest, t)
}

#[tokio::test]
async fn rest_calls_reuse_the_login_and_an_expired_sid_costs_one_relogin() {
    let peer = node_frappe(free_port());
    let (session, rest, target) = login_session(&peer, "admin").await;
    connected(&session).await;
    let http =
        http_client_for(&[], &Default::default(), &Default::default(), Duration::from_secs(5));
    let cache = ChannelCache::default();
    for _ in 0..5 {
        let list =
            cache.get("login", false, &http, &target.base_url, &session, &rest).await.unwrap();
        assert_eq!(
            list.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["general", "engineering"]
        );
    }
    let s = stats(&peer).await;
    assert_eq!((s["logins"].as_u64(), s["channel_lists"].as_u64()), (Some(1), Some(1)), "{s}");

    // The site forgets every session: the next REST call is refused, the session logs in
    // again exactly once, and the call succeeds with the new sid.
    reqwest::Client::new().post(format!("{}/__test/expire", peer.url())).send().await.unwrap();
    let list = cache.get("login", true, &http, &target.base_url, &session, &rest).await.unwrap();
    assert_eq!(list.len(), 2);
    connected(&session).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = stats(&peer).await;
    assert_eq!(s["logins"].as_u64(), Some(2), "exactly one re-login: {s}");
    assert_eq!(s["channel_lists"].as_u64(), Some(3), "refused call + retry: {s}");
    session.stop().await;
}

#[tokio::test]
async fn a_wrong_password_is_tried_once_and_not_retried_until_asked() {
    let peer = node_frappe(free_port());
    let (session, rest, _) = login_session(&peer, "wrong").await;
    let state =
        wait_state(&session, "auth failed", 10, |s| matches!(s, LinkState::AuthFailed { .. }))
            .await;
    assert_eq!(state, LinkState::AuthFailed { message: "Invalid login credentials".into() });
    // Longer than several backoff rounds: nothing is retried behind the user's back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let s = stats(&peer).await;
    assert_eq!((s["logins"].as_u64(), s["failed_logins"].as_u64()), (Some(1), Some(1)), "{s}");
    assert!(rest.headers().is_err(), "no credentials to reuse before a connection");
    session.stop().await;
}
