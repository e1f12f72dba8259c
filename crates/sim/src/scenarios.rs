//! Scenarios: scripted sequences of realistic events, human-paced for demos, or as fast as
//! possible for benchmarks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::burst::{BurstTemplate, Verbatim};
use crate::config::{DEFAULT_USER, Mode};
use crate::payloads::{StoredMessage, agent_event, random_name};
use crate::state::SimState;
use crate::web::publish_message;

/// Parameters common to all scenarios; each uses the ones that make sense for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ScenarioParams {
    /// Target user (`ai_progress` goes to `user:<user>`).
    pub user: String,
    /// Raven channel for chat scenarios and bursts of `message_created`.
    pub channel: String,
    /// Steps of an agent run; events of a burst.
    pub n: u64,
    /// Multiplies every human-paced gap (0.01 makes a 20 s run take 0.2 s).
    pub pace: f64,
    /// Event a burst emits: `ai_progress` (default) or `message_created`.
    pub event: String,
    /// Bytes of filler in each burst event, to reach realistic sizes.
    pub pad: usize,
    /// Events per second for a burst; 0 = as fast as possible.
    pub rate: u64,
}

impl Default for ScenarioParams {
    fn default() -> Self {
        ScenarioParams {
            user: DEFAULT_USER.into(),
            channel: "general".into(),
            n: 3,
            pace: 1.0,
            event: "ai_progress".into(),
            pad: 0,
            rate: 0,
        }
    }
}

/// The scenarios `run` knows.
pub const NAMES: &[&str] = &["ai_run", "ai_error", "raven_chat", "agent_run", "burst", "demo"];

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario {0:?}; known: {known}", known = NAMES.join(", "))]
    Unknown(String),
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(1);

async fn gap(p: &ScenarioParams, lo_ms: u64, hi_ms: u64) {
    let ms = rand::thread_rng().gen_range(lo_ms..=hi_ms) as f64 * p.pace;
    if ms >= 1.0 {
        tokio::time::sleep(Duration::from_millis(ms as u64)).await;
    }
}

fn site(st: &SimState) -> String {
    st.config().default_site.clone()
}

/// One update of a run: recorded (the progress endpoint answers from it, realtime up or
/// down), then published to the user's room.
async fn progress(st: &SimState, p: &ScenarioParams, task: &str, body: Value) {
    crate::progress::publish_progress(st, &p.user, task, body).await;
}

const PLAN_STEPS: &[(&str, &str)] = &[
    ("Read the failing test", "tests/test_invoice.py (84 lines)"),
    ("Locate the tax rounding", "erpnext/accounts/taxes.py:212"),
    ("Patch the rounding rule", "1 file changed, 6 insertions"),
    ("Run the test suite", "142 passed in 9.3 s"),
    ("Summarise the change", "PR description drafted"),
];

/// thinking → plan → (working k/n → step_complete)… → complete, or an error at step 2.
pub async fn ai_run(st: Arc<SimState>, p: ScenarioParams, fail: bool) {
    let task = format!("task-{}-{}", RUN_COUNTER.fetch_add(1, Ordering::Relaxed), random_name());
    let n = p.n.clamp(1, PLAN_STEPS.len() as u64) as usize;
    let steps = &PLAN_STEPS[..n];
    progress(&st, &p, &task, json!({"type": "thinking", "message": "Analyzing request..."})).await;
    gap(&p, 600, 1500).await;
    let plan: Vec<String> =
        steps.iter().enumerate().map(|(i, (s, _))| format!("{}. {s}", i + 1)).collect();
    progress(&st, &p, &task, json!({"type": "plan", "message": plan.join("\n")})).await;
    for (i, (label, detail)) in steps.iter().enumerate() {
        let step = i + 1;
        gap(&p, 300, 900).await;
        progress(
            &st,
            &p,
            &task,
            json!({"type": "working", "step": step, "total": n, "message": label}),
        )
        .await;
        gap(&p, 500, 1500).await;
        if fail && step == n.min(2) {
            progress(&st, &p, &task, json!({"type": "step_complete", "step": step, "total": n, "message": label, "error": "Model timed out"})).await;
            gap(&p, 200, 500).await;
            progress(&st, &p, &task, json!({"type": "error", "message": "Model timed out"})).await;
            return;
        }
        progress(&st, &p, &task, json!({"type": "step_complete", "step": step, "total": n, "message": label, "details": [detail]})).await;
    }
    gap(&p, 300, 700).await;
    progress(&st, &p, &task, json!({"type": "complete", "message": "Done"})).await;
}

const CHAT: &[(&str, &str)] = &[
    ("alice@example.com", "<p>Deploy of <strong>v2.4</strong> is on staging.</p>"),
    ("bob@example.com", "<p>Realtime looks good from here &#128077;</p>"),
    (
        "alice@example.com",
        "<p>Can someone check the <code>/socket.io</code> route behind ngrok?</p>",
    ),
    (
        "bob@example.com",
        "<p>On it. <script>alert('x')</script>Payloads like this must render as text.</p>",
    ),
];

/// Typing, a message with its unread update, and a Raven AI reply in one channel.
pub async fn raven_chat(st: Arc<SimState>, p: ScenarioParams) {
    let site = site(&st);
    let rounds = p.n.max(1) as usize;
    for i in 0..rounds {
        let (sender, html) = CHAT[i % CHAT.len()];
        let typers = json!({"channel": p.channel, "users": [sender]});
        st.emit(
            Some(&site),
            Some(&format!("open_doc:Raven Channel/{}", p.channel)),
            "raven_channel_typers",
            &typers,
        )
        .await;
        gap(&p, 400, 1200).await;
        let m = StoredMessage::new(&p.channel, sender, html);
        publish_message(&st, &site, &m).await;
        st.store_message(m);
        let cleared = json!({"channel": p.channel, "users": []});
        st.emit(
            Some(&site),
            Some(&format!("open_doc:Raven Channel/{}", p.channel)),
            "raven_channel_typers",
            &cleared,
        )
        .await;
        gap(&p, 500, 1500).await;
    }
    let room = format!("doc:Raven Channel/{}", p.channel);
    st.emit(
        Some(&site),
        Some(&room),
        "ai_event",
        &json!({"text": "Raven AI is thinking...", "channel_id": p.channel, "bot": "raven-ai"}),
    )
    .await;
    gap(&p, 800, 1600).await;
    st.emit(Some(&site), Some(&room), "ai_event_clear", &json!({"channel_id": p.channel})).await;
    let mut reply = StoredMessage::new(
        &p.channel,
        "raven-ai@example.com",
        "<p>Summary: staging deploy is healthy; one routing check pending.</p>",
    );
    reply.is_bot_message = 1;
    reply.bot = Some("raven-ai".into());
    publish_message(&st, &site, &reply).await;
    st.store_message(reply);
}

/// The agent server's sequence: thoughts, a tool call, then a result (or an error).
pub async fn agent_run(st: Arc<SimState>, p: ScenarioParams, fail: bool) {
    let wf = format!("wf-{}", random_name());
    let room = format!("user:{}", p.user);
    let emit = |kind: &'static str, data: Value| {
        let (st, room, wf) = (st.clone(), room.clone(), wf.clone());
        async move {
            st.emit(None, Some(&room), &format!("agent:{kind}"), &agent_event(&wf, kind, data))
                .await;
        }
    };
    emit("thought", json!({"text": "Planning how to answer the ticket"})).await;
    gap(&p, 400, 1000).await;
    emit("tool_call", json!({"tool": "search_docs", "args": {"query": "socket.io nginx"}})).await;
    gap(&p, 600, 1400).await;
    if fail {
        emit("error", json!({"message": "Tool search_docs timed out"})).await;
    } else {
        emit("thought", json!({"text": "Found the nginx location block"})).await;
        gap(&p, 300, 800).await;
        emit("result", json!({"text": "Add `location /socket.io` with Upgrade headers."})).await;
    }
}

/// How often a burst looks up who listens.
const LISTENERS_EVERY: Duration = Duration::from_millis(10);

/// `n` events as fast as possible (or at `rate`/s), each carrying `seq` and the emit time in
/// microseconds since the epoch, for throughput and latency measurements.
pub async fn burst(st: Arc<SimState>, p: ScenarioParams) -> usize {
    let site = site(&st);
    let tmpl = BurstTemplate::new(&p);
    let start = tokio::time::Instant::now();
    let mut delivered = 0;
    // Who listens is looked up every few milliseconds, not per event: a client that joins
    // the room (or reconnects) during a burst still hears the rest of it.
    let mut listeners = st.listeners(Some(&site), Some(&tmpl.room));
    let mut looked_up = start;
    for seq in 1..=p.n {
        if p.rate > 0 {
            let due = start + Duration::from_secs_f64((seq - 1) as f64 / p.rate as f64);
            tokio::time::sleep_until(due).await;
        }
        if looked_up.elapsed() >= LISTENERS_EVERY {
            listeners = st.listeners(Some(&site), Some(&tmpl.room));
            looked_up = tokio::time::Instant::now();
        }
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        // A 1-tuple: one argument (socketioxide spreads arrays otherwise).
        let text = tmpl.text(seq, now_us);
        let args = (Verbatim(&text),);
        delivered += listeners.iter().filter(|s| s.emit(tmpl.event, &args).is_ok()).count();
        if seq % 256 == 0 {
            // Let the socket tasks drain between batches instead of queueing everything.
            tokio::task::yield_now().await;
        }
    }
    delivered
}

/// Mix everything forever at a pleasant pace; the first agent run starts at once so a new
/// user sees progress within seconds and a completion within twenty.
pub async fn demo(st: Arc<SimState>, p: ScenarioParams) {
    let jwt = st.config().mode == Mode::Jwt;
    let mut round: u64 = 0;
    loop {
        if jwt {
            agent_run(st.clone(), p.clone(), round % 4 == 3).await;
        } else {
            let chat = tokio::spawn(raven_chat(
                st.clone(),
                ScenarioParams {
                    n: 2,
                    channel: ["general", "engineering"][(round % 2) as usize].into(),
                    ..p.clone()
                },
            ));
            ai_run(st.clone(), ScenarioParams { n: 3 + round % 3, ..p.clone() }, round % 5 == 4)
                .await;
            let _ = chat.await;
        }
        round += 1;
        gap(&p, 2000, 4000).await;
    }
}

/// Start scenario `name` in the background on `st`.
pub fn spawn(st: &Arc<SimState>, name: &str, p: ScenarioParams) -> Result<(), ScenarioError> {
    let s = st.clone();
    let handle = match name {
        "ai_run" => tokio::spawn(ai_run(s, p, false)),
        "ai_error" => tokio::spawn(ai_run(s, p, true)),
        "raven_chat" => tokio::spawn(raven_chat(s, p)),
        "agent_run" => tokio::spawn(agent_run(s, p, false)),
        "burst" => tokio::spawn(async move {
            burst(s, p).await;
        }),
        "demo" => tokio::spawn(demo(s, p)),
        other => return Err(ScenarioError::Unknown(other.into())),
    };
    st.track_scenario(handle);
    Ok(())
}
