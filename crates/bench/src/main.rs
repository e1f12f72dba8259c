//! `sockeye-bench`: Sockeye's realtime core against the reference clients (node
//! `socket.io-client`, python-socketio) on the same loopback simulator, in one run.
//! Writes `docs/benchmarks.md` and `docs/benchmarks.json`.
//!
//! The server runs as its own process (`sockeye-cli sim`) so clients and server do not share
//! a runtime; reference clients run as child processes from `tests/peers`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod ui_report;

use clap::Parser;
use serde_json::{Value, json};
use sockeye_core::auth::Credentials;
use sockeye_core::secrets::Secret;
use sockeye_core::session::{Session, SessionOptions};
use sockeye_core::{AuthMethod, Profile, Transport};

#[derive(Parser, Debug)]
#[command(about = "Benchmark Sockeye against node socket.io-client and python-socketio")]
struct Args {
    /// Events per ingest workload.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Events for the memory workload.
    #[arg(long, default_value_t = 1_000_000)]
    memory_events: u64,
    /// Seconds of idle connection for the CPU figure.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Server restarts for the reconnect figure.
    #[arg(long, default_value_t = 20)]
    restarts: u32,
    /// Repeats of each ingest run (medians reported with min–max).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Sections to run (comma-separated): ingest, latency, memory (with idle CPU), reconnect,
    /// diagnostics, ui.
    #[arg(long, value_delimiter = ',', default_value = "ingest,latency,memory,reconnect,diagnostics,ui", value_parser = ["ingest", "latency", "memory", "reconnect", "diagnostics", "ui"])]
    sections: Vec<String>,
    /// Start from this earlier benchmarks.json and replace only the sections run now.
    #[arg(long)]
    merge: Option<PathBuf>,
    /// Clients to run (comma-separated: sockeye, node, python).
    #[arg(long, value_delimiter = ',', default_value = "sockeye,node,python", value_parser = ["sockeye", "node", "python"])]
    clients: Vec<String>,
    /// Ingest workloads to run (comma-separated: ai_progress, message_created).
    #[arg(long, value_delimiter = ',', default_value = "ai_progress,message_created", value_parser = ["ai_progress", "message_created"])]
    workloads: Vec<String>,
    /// Ingest transports to run (comma-separated: websocket, polling).
    #[arg(long, value_delimiter = ',', default_value = "websocket,polling", value_parser = ["websocket", "polling"])]
    transports: Vec<String>,
    /// Do not pin the server and the clients to separate CPUs.
    #[arg(long)]
    no_pin: bool,
    /// Only re-render benchmarks.md from this earlier benchmarks.json (after editing the notes).
    #[arg(long)]
    render: Option<PathBuf>,
    /// Where to write benchmarks.md and benchmarks.json.
    #[arg(long, default_value = "docs")]
    out: PathBuf,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repo root")
}

fn bin_dir() -> PathBuf {
    std::env::current_exe().expect("exe").parent().expect("dir").to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bench's environment on the simulator: site namespace, test user's sid, and the Raven
/// channel when the workload is `message_created`.
async fn bench_target(url: &str, channel: Option<&str>) -> sockeye_core::target::Target {
    let mut p = Profile::new("bench", url, AuthMethod::Sid).unwrap();
    p.site = Some("raven.test".into());
    p.subscriptions.channels = channel.into_iter().map(String::from).collect();
    sockeye_core::target::resolve_with(&p, Credentials::Sid(Secret::new("good-sid"))).await
}

/// Pins every thread of `pid` to `cpus` (taskset list syntax). Threads and processes started
/// later inherit it, so pinning the bench pins the reference clients it spawns as well.
fn pin(pid: u32, cpus: &str) -> bool {
    Command::new("taskset")
        .args(["-a", "-cp", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// On a shared machine the server and the client under test fight for the same cores, and
/// whoever wins the scheduler wins the figure. Giving the server CPU 0 and the clients the
/// rest makes runs repeatable and gives every client the same budget (one core here).
fn pin_server_and_clients(server: &Server) -> Option<String> {
    let n = cpu_count();
    if n < 2 {
        return None;
    }
    let clients = if n == 2 { "1".to_string() } else { format!("1-{}", n - 1) };
    (pin(server.child.id(), "0") && pin(std::process::id(), &clients))
        .then(|| format!("server on CPU 0, clients on CPU {clients}"))
}

/// CPUs of the machine (not of this process's affinity mask, which pinning narrows).
fn cpu_count() -> usize {
    let n = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().filter(|l| l.starts_with("processor")).count())
        .unwrap_or(0);
    if n > 0 { n } else { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) }
}

/// Gives the server and this process every CPU again.
fn unpin(server: &Server) {
    let all = format!("0-{}", cpu_count() - 1);
    pin(server.child.id(), &all);
    pin(std::process::id(), &all);
}

fn start_server() -> Server {
    let port = free_port();
    let mut child = Command::new(bin_dir().join("sockeye-cli"))
        .args(["sim", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sockeye-cli sim (build it with: cargo build --release -p sockeye-cli)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Server { child, url: format!("http://127.0.0.1:{port}") };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("simulator did not start");
}

async fn post(url: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("control API")
        .json()
        .await
        .unwrap_or(Value::Null)
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

/// What one client saw of one workload.
#[derive(Debug, Clone, Default)]
struct Run {
    count: u64,
    rate: f64,
    lat_us: Vec<u64>,
    /// CPU time per event from the first event to the last, in µs (the client's thread for
    /// Sockeye, whose session runs on one current-thread runtime like `sockeye-cli watch`;
    /// the whole process, every thread, for the reference clients).
    cpu_us_per_event: f64,
}

/// CPU time of the calling thread so far, in µs (`/proc/thread-self/schedstat`, ns on CPU).
fn thread_cpu_us() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |ns| ns / 1000)
}

/// CPU µs per event over the `count - 1` events after the first (as [`steady_rate`]).
fn cpu_per_event(count: u64, cpu_us: u64) -> f64 {
    cpu_us as f64 / count.saturating_sub(1).max(1) as f64
}

/// Events per second from the first event received to the last. The time before the first
/// event (posting the burst, the first poll's round trip) is the same fixed cost for every
/// client, but it weighed ~0.2 s against a client that takes half a second for the whole
/// burst and nothing against one that takes seven.
fn steady_rate(count: u64, first_us: u64, last_us: u64) -> f64 {
    count.saturating_sub(1) as f64 / (last_us.saturating_sub(first_us) as f64 / 1e6).max(1e-9)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// The burst body for a workload; `rate` 0 = as fast as possible.
fn burst(event: &str, n: u64, rate: u64) -> Value {
    // Padding brings ai_progress to ~300 bytes and message_created to ~1.2 KB on the wire.
    let pad = if event == "message_created" { 250 } else { 170 };
    json!({"n": n, "event": event, "pad": pad, "rate": rate, "channel": "general", "user": "test@example.com"})
}

async fn sockeye_client(
    url: &str,
    transport: Transport,
    event: &str,
    n: u64,
    body: Value,
) -> (Run, Value) {
    let t = bench_target(url, (event == "message_created").then_some("general")).await;
    // The lossless queue, as `sockeye-cli watch --json` reads it, and the same output work as
    // the reference clients: one JSON line per event into a buffered sink.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let opts =
        SessionOptions { transports: vec![transport], lossless: Some(tx), ..Default::default() };
    let s = Session::spawn(t, opts);
    let mut st = s.state();
    let _ = tokio::time::timeout(Duration::from_secs(10), st.wait_for(|x| x.state.is_connected()))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while rx.try_recv().is_ok() {}
    let mut sink = std::io::BufWriter::with_capacity(
        1 << 16,
        std::fs::File::create("/dev/null").expect("/dev/null"),
    );
    let burst_url = format!("{url}/__sim/burst");
    let server = tokio::spawn(async move { post(&burst_url, body).await });
    let mut run = Run::default();
    let (mut first, mut last, mut cpu_first) = (0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    // Taken from the queue as they come, a batch at a time: one timeout per batch (a timer
    // per event was the harness's own cost; `sockeye-cli watch` arms none per event).
    let mut batch = Vec::with_capacity(256);
    'run: while run.count < n {
        match tokio::time::timeout_at(deadline, rx.recv_many(&mut batch, 256)).await {
            Ok(got) if got > 0 => {}
            _ => break,
        }
        for e in batch.drain(..) {
            if e.name != event {
                continue;
            }
            let now = now_us();
            let _ = sockeye_core::event_line::write_line(&mut sink, &e);
            if let Some(at) = emitted_at_us(e.payload.raw()) {
                run.lat_us.push(now.saturating_sub(at));
            }
            if run.count == 0 {
                first = now;
                cpu_first = thread_cpu_us();
            }
            run.count += 1;
            last = now;
            if run.count == n {
                break 'run;
            }
        }
    }
    run.rate = steady_rate(run.count, first, last);
    run.cpu_us_per_event = cpu_per_event(run.count, thread_cpu_us().saturating_sub(cpu_first));
    let server = server.await.unwrap_or(Value::Null);
    s.stop().await;
    (run, server)
}

/// A reference client as a child process; returns once it printed "ready".
fn reference(
    kind: &str,
    url: &str,
    transport: Transport,
    event: &str,
    n: u64,
) -> (Child, BufReader<std::process::ChildStdout>) {
    let peers = root().join("tests/peers");
    let channel = if event == "message_created" { "general" } else { "" };
    let mut cmd = match kind {
        "node" => {
            let mut c = Command::new("node");
            c.arg("bench_client.mjs");
            c
        }
        _ => {
            let mut c = Command::new(peers.join(".venv/bin/python"));
            c.arg("bench_client.py");
            c
        }
    };
    cmd.current_dir(&peers).args([url, &transport.to_string(), event, &n.to_string()]);
    if !channel.is_empty() {
        cmd.arg(channel);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("reference client (run scripts/setup-deps)");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // In stream mode (n = 0) events may be printed before "ready".
    let mut line = String::new();
    loop {
        line.clear();
        out.read_line(&mut line).unwrap();
        if !(n == 0 && line.starts_with("e ")) {
            break;
        }
    }
    assert_eq!(line.trim(), "ready", "{kind} client did not get ready");
    (child, out)
}

async fn reference_client(
    kind: &str,
    url: &str,
    transport: Transport,
    event: &str,
    n: u64,
    body: Value,
) -> (Run, Value) {
    let (mut child, mut out) = reference(kind, url, transport, event, n);
    let t0 = now_us();
    let server = post(&format!("{url}/__sim/burst"), body).await;
    let result = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let _ = child.wait();
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(180), result)
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
    let count = v["count"].as_u64().unwrap_or(0);
    let first = v["first_us"].as_u64().unwrap_or(t0);
    let last = v["last_us"].as_u64().unwrap_or(t0);
    let lat_us = v["lat_us"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).map(|x| x.max(0.0) as u64).collect())
        .unwrap_or_default();
    let cpu_us_per_event = cpu_per_event(count, v["cpu_us"].as_u64().unwrap_or(0));
    (Run { count, rate: steady_rate(count, first, last), lat_us, cpu_us_per_event }, server)
}

/// Wait until the previous client's socket has left the server. A polling client that exits
/// without a word stays a socket until its ping timeout (45 s), and every burst meanwhile is
/// emitted to it too: node's client did, and whichever client ran next shared the server
/// with a ghost (polling rounds of the same client ranged 31k–171k events/s). Bounded: after
/// 3 s the server drops what is left.
async fn quiet_server(url: &str) {
    let sockets = || async {
        reqwest::get(format!("{url}/__sim/sockets"))
            .await
            .ok()?
            .json::<Value>()
            .await
            .ok()?
            .as_array()
            .map(Vec::len)
    };
    for _ in 0..30 {
        if sockets().await == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = sockets().await.unwrap_or(0);
    eprintln!("{left} socket(s) of an earlier client still connected: dropping them");
    post(&format!("{url}/__sim/disconnect"), json!({"reason": "server disconnect"})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn client_run(
    kind: &str,
    url: &str,
    transport: Transport,
    event: &str,
    n: u64,
    rate: u64,
) -> (Run, Value) {
    quiet_server(url).await;
    let body = burst(event, n, rate);
    if kind == "sockeye" {
        // On its own single-threaded runtime, as `sockeye-cli watch` runs it.
        let (url, event) = (url.to_string(), event.to_string());
        tokio::task::spawn_blocking(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(sockeye_client(&url, transport, &event, n, body))
        })
        .await
        .expect("sockeye client thread")
    } else {
        reference_client(kind, url, transport, event, n, body).await
    }
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `RssAnon`, ...); 0 once the process is gone.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS")
}

fn cpu_ticks(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

/// Restarts the simulator `restarts` times (down 500 ms) under one client and returns, for
/// each restart, the time from the server listening again to the client's first event after
/// it (`None`: not back within 15 s).
async fn reconnect_times(kind: &str, url: &str, restarts: u32) -> Vec<Option<f64>> {
    // Wall-clock µs of every event the client received, from whichever client it is.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let mut child = None;
    let mut session = None;
    if kind == "sockeye" {
        let t = bench_target(url, None).await;
        let s = Session::spawn(t, SessionOptions::default());
        let _ = tokio::time::timeout(
            Duration::from_secs(10),
            s.state().wait_for(|x| x.state.is_connected()),
        )
        .await;
        let mut rx = s.events();
        let sink = seen.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) if e.name == "ai_progress" => sink.lock().unwrap().push(now_us()),
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
        session = Some(s);
    } else {
        let (c, out) = reference(kind, url, Transport::Websocket, "ai_progress", 0);
        let sink = seen.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Some(us) = line.strip_prefix("e ").and_then(|t| t.trim().parse().ok()) {
                    sink.lock().unwrap().push(us);
                }
            }
        });
        child = Some(c);
    }
    let mut back = Vec::new();
    for _ in 0..restarts {
        tokio::time::sleep(Duration::from_millis(300)).await;
        post(&format!("{url}/__sim/restart"), json!({"down_ms": 500})).await;
        let up = now_us() + 520_000;
        let deadline = Instant::now() + Duration::from_millis(520) + Duration::from_secs(15);
        let mut got = None;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
            if let Some(&t) = seen.lock().unwrap().iter().rev().take_while(|&&t| t > up).last() {
                got = Some((t - up) as f64 / 1000.0);
                break;
            }
        }
        back.push(got);
    }
    if let Some(s) = session {
        s.stop().await;
    }
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    back
}

fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// A long-running watcher process for memory and CPU: Sockeye's CLI or a reference client.
fn watcher(kind: &str, url: &str, n: u64) -> Child {
    if kind == "sockeye" {
        let child = Command::new(bin_dir().join("sockeye-cli"))
            .args(["watch", "--url", url, "--sid", "good-sid", "--json", "--count", &n.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sockeye-cli");
        std::thread::sleep(Duration::from_millis(800));
        child
    } else {
        let (child, mut out) = reference(kind, url, Transport::Websocket, "ai_progress", n);
        // Drain the client's stdout: its result line carries every latency sample (~8 MB
        // after a million events) and a pipe nobody reads blocks it forever, which once
        // looked like a stalled flood.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        child
    }
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0) / 1024 / 1024
            })
        })
        .unwrap_or(0);
    let ver = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "cpu": cpu, "cores": cpu_count(), "mem_gib": mem,
        "kernel": ver("uname", "-r"), "node": ver("node", "--version"),
        "python": Command::new(root().join("tests/peers/.venv/bin/python")).arg("--version").output().ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default(),
        "rustc": ver("rustc", "--version"),
    })
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    if let Some(json) = &a.render {
        let text =
            std::fs::read_to_string(json).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        let report: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", json.display()));
        write_report(&a.out, &report);
        return;
    }
    // Before pinning: the machine, not the CPU set this process is about to be confined to.
    let machine = machine();
    let server = start_server();
    let url = server.url.clone();
    let pinning = if a.no_pin { None } else { pin_server_and_clients(&server) };
    eprintln!("pinning: {}", pinning.as_deref().unwrap_or("none"));
    let clients: Vec<&str> = a.clients.iter().map(String::as_str).collect();
    let clients = clients.as_slice();
    let has = |section: &str| a.sections.iter().any(|s| s == section);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let mut report = match &a.merge {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let mut r: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let earlier = r["command"].as_str().unwrap_or("").to_string();
            r["command"] =
                json!(format!("{earlier}; then {command} (sections: {})", a.sections.join(", ")));
            r
        }
        None => json!({"command": command}),
    };
    report["date"] = json!(time::OffsetDateTime::now_utc().date().to_string());
    report["machine"] = machine;
    report["pinning"] = json!(pinning);

    // 1. Ingest throughput.
    let mut ingest = Vec::new();
    let workloads: &[String] = if has("ingest") { &a.workloads } else { &[] };
    let transports: Vec<Transport> = a
        .transports
        .iter()
        .map(|t| if t == "polling" { Transport::Polling } else { Transport::Websocket })
        .collect();
    for event in workloads.iter().map(String::as_str) {
        for &transport in &transports {
            // Rounds interleave the clients (sockeye, node, python, sockeye, ...) so a noisy
            // neighbour on the shared machine hits every client alike; the ratios are taken
            // within each round.
            let mut rates: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
            let mut server_rates: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
            let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
            let mut complete = vec![true; clients.len()];
            for _ in 0..a.repeats {
                for (i, &kind) in clients.iter().enumerate() {
                    let (run, srv) = client_run(kind, &url, transport, event, a.events, 0).await;
                    complete[i] &= run.count == a.events;
                    rates[i].push(run.rate);
                    cpus[i].push(run.cpu_us_per_event);
                    server_rates[i].push(srv["emit_rate"].as_f64().unwrap_or(f64::NAN));
                }
            }
            let ours = clients.iter().position(|&k| k == "sockeye");
            for (i, &kind) in clients.iter().enumerate() {
                let r = &rates[i];
                let (lo, hi) = (
                    r.iter().cloned().fold(f64::INFINITY, f64::min),
                    r.iter().cloned().fold(0.0, f64::max),
                );
                // Sockeye's rate over this client's, round by round.
                let mut ratio: Vec<f64> = ours
                    .map(|o| rates[o].iter().zip(r).map(|(s, x)| s / x).collect())
                    .unwrap_or_default();
                // This client's CPU per event over Sockeye's, round by round: what each
                // event costs, which the machine's noise moves far less than the rate.
                let mut cpu_ratio: Vec<f64> = ours
                    .map(|o| cpus[i].iter().zip(&cpus[o]).map(|(x, s)| x / s).collect())
                    .unwrap_or_default();
                let row = json!({"event": event, "transport": transport.to_string(), "client": kind, "events": a.events, "complete": complete[i], "rates": r, "rate_median": median(&mut r.clone()), "rate_min": lo, "rate_max": hi, "server_emit_rate_median": median(&mut server_rates[i].clone()), "sockeye_ratio_median": median(&mut ratio), "sockeye_ratios": ratio, "cpu_us_per_event": cpus[i], "cpu_us_per_event_median": median(&mut cpus[i].clone()), "cpu_ratio_median": median(&mut cpu_ratio), "cpu_ratios": cpu_ratio});
                eprintln!("ingest {row}");
                ingest.push(row);
            }
        }
    }
    if has("ingest") {
        report["ingest"] = json!(ingest);
    }

    // 2. Latency at fixed rates: unpinned. At these rates nobody competes for a core, and a
    // client confined to one CPU waits behind whatever else the kernel runs there (loopback
    // softirqs, this process's own threads): p99 of 10–26 ms for every client when pinned.
    if pinning.is_some() {
        unpin(&server);
    }
    let mut latency = Vec::new();
    // Interleaved rounds again; each figure is the median over the rounds (one stall on the
    // shared machine moves one round's p99, not the result).
    let rates: &[(u64, u64)] =
        if has("latency") { &[(1_000, 5_000), (10_000, 30_000)] } else { &[] };
    for &(rate, n) in rates {
        let mut per: Vec<Vec<(f64, f64, f64, u64)>> = vec![Vec::new(); clients.len()];
        for _ in 0..a.repeats {
            for (i, &kind) in clients.iter().enumerate() {
                let (mut run, _) =
                    client_run(kind, &url, Transport::Websocket, "ai_progress", n, rate).await;
                run.lat_us.sort_unstable();
                per[i].push((
                    percentile(&run.lat_us, 0.5) / 1000.0,
                    percentile(&run.lat_us, 0.99) / 1000.0,
                    run.lat_us.last().copied().unwrap_or(0) as f64 / 1000.0,
                    run.count,
                ));
            }
        }
        for (i, &kind) in clients.iter().enumerate() {
            let col =
                |f: fn(&(f64, f64, f64, u64)) -> f64| per[i].iter().map(f).collect::<Vec<f64>>();
            let p99s = col(|x| x.1);
            let row = json!({"rate": rate, "client": kind, "events": per[i].iter().map(|x| x.3).min().unwrap_or(0), "rounds": a.repeats,
                "p50_ms": median(&mut col(|x| x.0)), "p99_ms": median(&mut p99s.clone()), "max_ms": median(&mut col(|x| x.2)),
                "p99_ms_min": p99s.iter().cloned().fold(f64::INFINITY, f64::min), "p99_ms_max": p99s.iter().cloned().fold(0.0, f64::max)});
            eprintln!("latency {row}");
            latency.push(row);
        }
    }
    if has("latency") {
        report["latency"] = json!(latency);
    }

    // 3. Memory: idle, then after the memory workload. 4. Idle CPU.
    let tck = clk_tck();
    let mut memory = Vec::new();
    for &kind in clients.iter().filter(|_| has("memory")) {
        let mut child = watcher(kind, &url, a.memory_events);
        let pid = child.id();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_kb = rss_kb(pid);
        let idle_anon_kb = status_kb(pid, "RssAnon");
        let mut peak_kb = idle_kb;
        let burst_url = format!("{url}/__sim/burst");
        let events = a.memory_events;
        let sender =
            tokio::spawn(async move { post(&burst_url, burst("ai_progress", events, 0)).await });
        let started = Instant::now();
        let mut samples = Vec::new();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            let r = rss_kb(pid);
            if r > 0 {
                peak_kb = peak_kb.max(r);
                samples.push(r);
            }
            if started.elapsed() > Duration::from_secs(300) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let secs_for_events = started.elapsed().as_secs_f64();
        let completed = matches!(child.try_wait(), Ok(Some(st)) if st.success());
        let _ = sender.await;
        let last_kb = samples.iter().rev().nth(1).or(samples.last()).copied().unwrap_or(peak_kb);
        let _ = child.kill();
        let _ = child.wait();
        // Idle CPU: a fresh watcher, connected, pings only.
        let mut idle_child = watcher(kind, &url, u64::MAX / 2);
        let ipid = idle_child.id();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let c0 = cpu_ticks(ipid);
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
        let cpu_pct = (cpu_ticks(ipid) - c0) as f64 / tck / t.elapsed().as_secs_f64() * 100.0;
        let _ = idle_child.kill();
        let _ = idle_child.wait();
        let row = json!({"client": kind, "process": if kind == "sockeye" { "sockeye-cli watch --json" } else { "bench_client" }, "idle_rss_mb": idle_kb as f64 / 1024.0, "idle_anon_mb": idle_anon_kb as f64 / 1024.0, "peak_rss_mb": peak_kb as f64 / 1024.0, "last_rss_mb": last_kb as f64 / 1024.0, "events": a.memory_events, "completed": completed, "secs_for_events": secs_for_events, "idle_cpu_pct": cpu_pct, "idle_secs": a.idle_secs});
        eprintln!("memory {row}");
        memory.push(row);
    }
    if has("memory") {
        report["memory"] = json!(memory);
    }

    // 5. Reconnect after a restart, server down 500 ms each time, for every client: each runs
    // with its library's own reconnection (Sockeye's supervisor; socket.io-client and
    // python-socketio defaults: 1 s first delay, ±50 % jitter) while events stream at 200/s.
    if a.restarts > 0 && has("reconnect") {
        // A steady stream for the whole test (simulator scenarios outlive restarts).
        post(&format!("{url}/__sim/scenario/burst"), burst("ai_progress", 10_000_000, 200)).await;
        let mut rows = Vec::new();
        for &kind in clients {
            let back = reconnect_times(kind, &url, a.restarts).await;
            let mut sorted: Vec<f64> = back.iter().flatten().copied().collect();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let row = json!({"client": kind, "restarts": a.restarts, "down_ms": 500, "ms": back, "recovered": sorted.len(), "p50_ms": sorted.get(sorted.len() / 2), "max_ms": sorted.last(), "min_ms": sorted.first()});
            eprintln!("reconnect {row}");
            rows.push(row);
        }
        report["reconnect"] = json!(rows);
    }

    // 6. Diagnostics wall time on the healthy loopback environment.
    if has("diagnostics") {
        let t = bench_target(&url, None).await;
        let mut times = Vec::new();
        for _ in 0..5 {
            let r = sockeye_core::diagnose::diagnose(
                &t,
                &sockeye_core::diagnose::DiagnoseOptions::default(),
            )
            .await;
            times.push(r.total_ms as f64);
        }
        let (lo, hi) = (
            times.iter().cloned().fold(f64::INFINITY, f64::min),
            times.iter().cloned().fold(0.0, f64::max),
        );
        report["diagnostics"] = json!({"runs": 5, "median_ms": median(&mut times), "min_ms": lo, "max_ms": hi, "websocket_hold_ms": 1000});
    }
    drop(server);

    // 7. UI path: the release app under Xvfb, marks taken in the webview.
    if has("ui") {
        // Runs after `unpin` above: the app, its webview and Xvfb get every CPU.
        let out = Command::new(root().join("tests/ui/run.sh"))
            .env("UI_SCRIPT", "bench_ui.mjs")
            .env("SOCKEYE_DEMO_SCENARIO", "none")
            .env(
                "SOCKEYE_BUILD",
                std::env::var("SOCKEYE_UI_BUILD").unwrap_or_else(|_| "release".into()),
            )
            .stderr(Stdio::inherit())
            .output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        report["ui"] = ui_report::parse(&text);
        eprintln!("ui {}", report["ui"]);
    }
    write_report(&a.out, &report);
}

fn write_report(dir: &Path, r: &Value) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("benchmarks.json"), serde_json::to_string_pretty(r).unwrap()).unwrap();
    let f = |v: &Value| {
        v.as_f64()
            .map(|x| if x >= 100.0 { format!("{x:.0}") } else { format!("{x:.2}") })
            .unwrap_or_else(|| "–".into())
    };
    let mut md = String::new();
    md.push_str("# Benchmarks\n\nGenerated by `sockeye-bench` (see the command below); numbers are from one run on the machine described. ");
    md.push_str(
        "Ratios, not absolute times, are the headline: the machine is shared and noisy.\n\n",
    );
    md.push_str(&format!(
        "- Date: {}\n- Machine: {}\n- Reference clients: {}\n- Command: `{}`\n- CPU pinning: {}\n\n",
        r["date"].as_str().unwrap_or(""),
        r["machine"],
        reference_clients(),
        r["command"].as_str().unwrap_or(""),
        r["pinning"].as_str().unwrap_or("none")
    ));
    md.push_str("## 1. Ingest throughput (events/s, median of interleaved rounds, min–max)\n\nEach client's rate runs from the first event it received to the last. The next column is Sockeye's rate divided by this client's, taken round by round (median). The last two: CPU time per event over the same span (Sockeye: its client's thread; the reference clients: their whole process), and this client's CPU per event divided by Sockeye's, round by round (median) — what an event costs each client, which the machine's noise moves far less than the rates.\n\n| event | transport | client | events/s | min–max | all received | server emit rate | Sockeye ÷ client | CPU µs/event | CPU client ÷ Sockeye |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for row in r["ingest"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {}–{} | {} | {} | {} | {} | {} |\n",
            row["event"].as_str().unwrap_or(""),
            row["transport"].as_str().unwrap_or(""),
            row["client"].as_str().unwrap_or(""),
            f(&row["rate_median"]),
            f(&row["rate_min"]),
            f(&row["rate_max"]),
            row["complete"],
            f(&row["server_emit_rate_median"]),
            f(&row["sockeye_ratio_median"]),
            f(&row["cpu_us_per_event_median"]),
            f(&row["cpu_ratio_median"])
        ));
    }
    md.push_str("\n## 2. Latency, emit → client callback (ms, WebSocket; timestamps in the payload, same host clock)\n\nMedians over interleaved rounds; the last column is the spread of the rounds' p99.\n\n| rate | client | events per round | p50 | p99 | max | p99 over rounds |\n|---|---|---|---|---|---|---|\n");
    for row in r["latency"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {}/s | {} | {} | {} | {} | {} | {}–{} |\n",
            row["rate"],
            row["client"].as_str().unwrap_or(""),
            row["events"],
            f(&row["p50_ms"]),
            f(&row["p99_ms"]),
            f(&row["max_ms"]),
            f(&row["p99_ms_min"]),
            f(&row["p99_ms_max"])
        ));
    }
    md.push_str("\n## 3–4. Memory (RSS) and idle CPU\n\nRSS counts the pages of the executable and shared libraries mapped in; the anonymous part (heap, stacks) is the process's own.\n\n| client | process | idle RSS MB (anonymous) | peak RSS MB | RSS at end MB | events | seconds for them | idle CPU % of a core |\n|---|---|---|---|---|---|---|---|\n");
    for row in r["memory"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} ({}) | {} | {} | {} (all received: {}) | {} | {} (over {} s) |\n",
            row["client"].as_str().unwrap_or(""),
            row["process"].as_str().unwrap_or(""),
            f(&row["idle_rss_mb"]),
            f(&row["idle_anon_mb"]),
            f(&row["peak_rss_mb"]),
            f(&row["last_rss_mb"]),
            row["events"],
            row["completed"],
            f(&row["secs_for_events"]),
            f(&row["idle_cpu_pct"]),
            row["idle_secs"]
        ));
    }
    md.push_str("\n## 5. Reconnect after a server restart\n\nThe simulator restarts (down 500 ms) while events stream at 200/s; each client reconnects with its own library's policy. Time from the server listening again to the client's first event after it (ms):\n\n| client | restarts | back within 15 s | p50 | min | max | all (in order) |\n|---|---|---|---|---|---|---|\n");
    for rc in r["reconnect"].as_array().into_iter().flatten() {
        let all: Vec<String> = rc["ms"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_f64().map(|x| format!("{x:.0}")).unwrap_or_else(|| "–".into()))
            .collect();
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            rc["client"].as_str().unwrap_or(""),
            rc["restarts"],
            rc["recovered"],
            f(&rc["p50_ms"]),
            f(&rc["min_ms"]),
            f(&rc["max_ms"]),
            all.join(", ")
        ));
    }
    let d = &r["diagnostics"];
    md.push_str(&format!("\n## 6. Diagnostics\n\nFull healthy probe chain on loopback (including a {} ms WebSocket hold): median {} ms (min {}, max {}) over {} runs.\n", d["websocket_hold_ms"], f(&d["median_ms"]), f(&d["min_ms"]), f(&d["max_ms"]), d["runs"]));
    md.push_str(&ui_report::markdown(&r["ui"]));
    md.push_str(&targets(r));
    // The analysis (profiles, where the time goes) is written by hand and kept across reruns.
    if let Ok(notes) = std::fs::read_to_string(root().join("docs/benchmarks-notes.md")) {
        md.push('\n');
        md.push_str(&notes);
    }
    std::fs::write(dir.join("benchmarks.md"), md).unwrap();
}

/// The issue's targets against this run's figures, each with the figure that decides it.
fn targets(r: &Value) -> String {
    let ok = |b: bool| if b { "**met**" } else { "**not met**" };
    let mut t = String::from(
        "\n## Against the targets\n\n| target | this run | verdict |\n|---|---|---|\n",
    );
    for (client, want) in [("node", 2.0), ("python", 10.0)] {
        let rows: Vec<&Value> = r["ingest"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["client"] == client)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let parts: Vec<String> = rows
            .iter()
            .map(|x| {
                let cpu = x["cpu_ratio_median"]
                    .as_f64()
                    .map(|c| format!(" (CPU per event {c:.1}×)"))
                    .unwrap_or_default();
                format!(
                    "{} {} {:.2}×{cpu}",
                    x["event"].as_str().unwrap_or(""),
                    x["transport"].as_str().unwrap_or(""),
                    x["sockeye_ratio_median"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        let all =
            rows.iter().all(|x| x["sockeye_ratio_median"].as_f64().is_some_and(|v| v >= want));
        t.push_str(&format!(
            "| ingest ≥ {want}× {client} | {} | {} |\n",
            parts.join("; "),
            ok(all)
        ));
    }
    if let Some(l) = r["latency"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|x| x["client"] == "sockeye" && x["rate"] == 1000)
    {
        let p99 = l["p99_ms"].as_f64().unwrap_or(f64::NAN);
        t.push_str(&format!(
            "| emit→callback p99 ≤ 1 ms at 1,000/s | {p99:.2} ms | {} |\n",
            ok(p99 <= 1.0)
        ));
    }
    t.push_str(&ui_report::targets(&r["ui"], ok));
    if let Some(m) = r["memory"].as_array().into_iter().flatten().find(|x| x["client"] == "sockeye")
    {
        let (idle, peak, last) = (
            m["idle_rss_mb"].as_f64().unwrap_or(f64::NAN),
            m["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
            m["last_rss_mb"].as_f64().unwrap_or(f64::NAN),
        );
        t.push_str(&format!(
            "| `sockeye-cli watch` RSS ≤ 12 MB (issue 10) | idle {idle:.1} MB, peak {peak:.1} MB | {} |\n",
            ok(peak <= 12.0)
        ));
        t.push_str(&format!("| RSS flat after {} events | {last:.1} MB at the end vs {idle:.1} MB idle (all received: {}) | {} |\n", m["events"], m["completed"], ok(m["completed"] == true && last <= idle + 2.0)));
        let cpu = m["idle_cpu_pct"].as_f64().unwrap_or(f64::NAN);
        t.push_str(&format!(
            "| idle CPU ≤ 0.2 % of a core | {cpu:.2} % over {} s | {} |\n",
            m["idle_secs"],
            ok(cpu <= 0.2)
        ));
    }
    if let Some(rc) =
        r["reconnect"].as_array().into_iter().flatten().find(|x| x["client"] == "sockeye")
        && let Some(max) = rc["max_ms"].as_f64()
    {
        let all_back = rc["recovered"] == rc["restarts"];
        t.push_str(&format!("| back online ≤ 1.5 s after a restart | p50 {:.0} ms, max {max:.0} ms, {}/{} restarts | {} |\n", rc["p50_ms"].as_f64().unwrap_or(f64::NAN), rc["recovered"], rc["restarts"], ok(all_back && max <= 1500.0)));
    }
    if let Some(med) = r["diagnostics"]["median_ms"].as_f64() {
        t.push_str(&format!(
            "| full diagnostics ≤ 1.5 s | median {med:.0} ms | {} |\n",
            ok(med <= 1500.0)
        ));
    }
    t
}

/// The simulator's send timestamp, read from the raw payload: a key lookup, as the reference
/// clients do in the object their library already parsed. (Deserializing a struct for it
/// scanned the whole payload a second time: ~10 % of Sockeye's time per event was the
/// benchmark's own instrumentation.)
fn emitted_at_us(payload: &serde_json::value::RawValue) -> Option<u64> {
    const KEY: &str = "\"emitted_at_us\":";
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let text = payload.get().as_bytes();
    let at = FINDER.find(text)? + KEY.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&text[at..at + digits]).ok()?.parse().ok()
}

/// The reference client libraries and their versions, as installed in `tests/peers`.
fn reference_clients() -> String {
    let peers = root().join("tests/peers");
    let node = std::fs::read_to_string(peers.join("node_modules/socket.io-client/package.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let pinned = std::fs::read_to_string(peers.join("requirements.txt")).unwrap_or_default();
    let python = pinned
        .lines()
        .find_map(|l| {
            l.split_once("==")
                .filter(|(k, _)| k.starts_with("python-socketio"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    format!(
        "node socket.io-client {node}; python-socketio {python} (asyncio client, aiohttp); each writes one JSON line per event, as `sockeye-cli watch --json` does"
    )
}
