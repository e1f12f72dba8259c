//! The spec's conformance checklist (simulator-spec.md §10), every item, run by two
//! independent clients against the simulator: node `socket.io-client` (npm) and
//! python-socketio (PyPI). Their dependencies are installed by `scripts/test`.

use std::path::PathBuf;
use std::process::Command;

use sockeye_sim::{Mode, Sim, SimConfig, SimOptions};

fn peers() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers").canonicalize().unwrap()
}

async fn sims() -> (Sim, Sim) {
    let v16 =
        SimConfig { sites: vec!["raven.test".into(), "other.test".into()], ..SimConfig::default() };
    let v15 = SimConfig { mode: Mode::V15, ..SimConfig::default() };
    (
        Sim::start(SimOptions { config: v16, ..Default::default() }).await.unwrap(),
        Sim::start(SimOptions { config: v15, ..Default::default() }).await.unwrap(),
    )
}

async fn run(mut cmd: Command) -> (bool, String) {
    let out =
        tokio::task::spawn_blocking(move || cmd.output().expect("client runs")).await.unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_socket_io_client_passes_every_item() {
    assert!(
        peers().join("node_modules/socket.io-client").exists(),
        "run scripts/test to install the node peers"
    );
    let (v16, v15) = sims().await;
    let mut c = Command::new("node");
    c.current_dir(peers()).arg("conformance.mjs").arg(v16.url()).arg(v15.url());
    let (ok, text) = run(c).await;
    println!("{text}");
    assert!(ok, "{text}");
    assert!(text.contains("14/14 conformance items passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_socketio_client_passes_every_item() {
    let py = peers().join(".venv/bin/python");
    assert!(py.exists(), "run scripts/test to install the python peers");
    let (v16, v15) = sims().await;
    let mut c = Command::new(py);
    c.current_dir(peers()).arg("conformance.py").arg(v16.url()).arg(v15.url());
    let (ok, text) = run(c).await;
    println!("{text}");
    assert!(ok, "{text}");
    assert!(text.contains("14/14 conformance items passed"), "{text}");
}
