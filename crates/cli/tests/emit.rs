//! `sockeye-cli emit` against independent servers: an ack handler that returns its
//! arguments (node socket.io 4, python-socketio), an emit without ack, an ack that never
//! comes, a refused namespace; and Frappe's `pong` from the simulator.

mod common;
#[path = "../../core/tests/common/peers.rs"]
mod peers;

use common::*;

fn emit(conn: &[&str], rest: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec!["emit".into()];
    v.extend(conn.iter().chain(rest).map(|s| s.to_string()));
    v
}

fn check(o: &std::process::Output, code: i32, has: &str) {
    assert_eq!(o.status.code(), Some(code), "{}", text(o));
    assert!(text(o).contains(has), "{has:?} not in:\n{}", text(o));
}

#[tokio::test]
async fn node_socketio_acks_times_out_and_refuses() {
    let peer = peers::node_frappe(0);
    let url = peer.url();
    let conn = ["--url", &url, "--site", "raven.test", "--sid", "good-sid"];
    let o = watch(emit(&conn, &["echo_ack", "1", r#"{"a":"b"}"#, "[2,3]", "--ack", "5"])).await;
    check(&o, 0, r#"ack [1,{"a":"b"},[2,3]]"#);
    let o = watch(emit(&conn, &["echo_ack", "--ack", "5"])).await;
    check(&o, 0, "ack []");
    let o = watch(emit(&conn, &["some_event", r#"{"x":1}"#])).await;
    check(&o, 0, "sent some_event");
    let o = watch(emit(&conn, &["no_such_handler", "--ack", "0.5"])).await;
    check(&o, 1, "no ack in 0.5 s");
    let wrong = ["--url", &url, "--site", "other.site", "--sid", "good-sid"];
    let o = watch(emit(&wrong, &["echo_ack", "--ack", "1"])).await;
    check(&o, 2, "not connected: auth failed: Invalid namespace");
}

#[tokio::test]
async fn python_socketio_acks_times_out_and_refuses() {
    let secret = "py-emit-secret";
    let peer = peers::python_agent(peers::free_port(), secret);
    let url = peer.url();
    let token = sockeye_sim::jwt::mint(Some("agent-user"), secret, 3600);
    let conn = ["--url", &url, "--jwt", &token];
    let o = watch(emit(&conn, &["echo_ack", r#""x""#, "2", "--ack", "5"])).await;
    check(&o, 0, r#"ack ["x",2]"#);
    let o = watch(emit(&conn, &["some_event", "1"])).await;
    check(&o, 0, "sent some_event");
    let o = watch(emit(&conn, &["no_such_handler", "--ack", "0.5"])).await;
    check(&o, 1, "no ack in 0.5 s");
    let forged = sockeye_sim::jwt::mint(Some("agent-user"), "not-the-secret", 3600);
    let o = watch(emit(&["--url", &url, "--jwt", &forged], &["echo_ack", "--ack", "1"])).await;
    check(&o, 2, "not connected: auth failed: Invalid or expired token");
}

#[tokio::test]
async fn ping_on_the_simulator_prints_frappes_pong() {
    let sim = sockeye_sim::Sim::start(Default::default()).await.unwrap();
    let url = sim.url();
    let o = watch(emit(&["--url", &url, "--sid", "good-sid"], &["ping", "--listen", "1"])).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).lines().any(|l| l == "pong null"), "{}", text(&o));
}
