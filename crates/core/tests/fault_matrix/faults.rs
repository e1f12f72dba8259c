//! The faults of the matrix, each with how it starts, how long it holds, how it ends and
//! what the session must show meanwhile.

use std::time::{Duration, Instant};

use sockeye_core::state::LinkState;
use sockeye_core::wire::Transport;

use super::{Fault, Rig};

/// The realtime process killed and started again 2 s later (a deploy, a crash).
pub struct Restart;

impl Fault for Restart {
    fn label(&self) -> String {
        "realtime server restarted (killed, back 2 s later)".into()
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.sim.kill();
    }
    async fn hold(&mut self, _rig: &mut Rig) -> Result<String, String> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(String::new())
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.sim.restart();
    }
}

/// SIGSTOP: the process keeps its sockets open and answers nothing (a hung event loop, a VM
/// paused). Only the session's own heartbeat can tell.
pub struct Freeze {
    pub secs: u64,
}

impl Fault for Freeze {
    fn label(&self) -> String {
        format!("realtime server frozen {} s (SIGSTOP, then SIGCONT)", self.secs)
    }
    fn detect_within(&self) -> u64 {
        15
    }
    /// Found by our heartbeat (nothing else can tell: the TCP connection stays open).
    fn shows(&self, s: &LinkState) -> bool {
        matches!(s, LinkState::Reconnecting { last_error, .. } if last_error.contains("no pong"))
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.sim.freeze();
    }
    async fn hold(&mut self, _rig: &mut Rig) -> Result<String, String> {
        tokio::time::sleep(Duration::from_secs(self.secs)).await;
        Ok("dead link found by the session's own ping (every 5 s, 3 s pong timeout)".into())
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.sim.thaw();
    }
}

/// Killed and not restarted for a while: the retries back off to 5 s and stay there (no hot
/// loop), then the session comes back by itself when the server does.
pub struct KilledForGood {
    pub secs: u64,
}

impl Fault for KilledForGood {
    fn label(&self) -> String {
        format!("realtime server killed, not restarted for {} s", self.secs)
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.sim.kill();
    }
    async fn hold(&mut self, rig: &mut Rig) -> Result<String, String> {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(self.secs)).await;
        // Each Reconnecting state announces its delay: next retry minus when it was entered.
        let mut delays = Vec::new();
        for (_, s) in rig.states.since(t) {
            if let LinkState::Reconnecting { next_retry_at_ms, .. } = s {
                delays.push(next_retry_at_ms);
            }
        }
        // The states' `since_ms` are not in StateLog; the announced retry times are: their
        // spacing is the delay plus the attempt's own time (a refused connect: ~ms).
        let gaps: Vec<u64> = delays.windows(2).map(|w| w[1].saturating_sub(w[0])).collect();
        let late: Vec<u64> = gaps.iter().copied().skip(4).collect();
        let attempts = delays.len();
        if !(4..=12).contains(&attempts) {
            return Err(format!("{attempts} retries in {} s (want 4–12): {gaps:?}", self.secs));
        }
        if late.iter().any(|&g| !(3_500..=5_600).contains(&g)) {
            return Err(format!("retry spacing after the 5th not within 4–5 s: {gaps:?}"));
        }
        Ok(format!("{attempts} retries, spacing ms {gaps:?}"))
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.sim.restart();
    }
}

/// A middlebox drops every connection mid-stream and lets new ones through.
pub struct CutMidStream;

impl Fault for CutMidStream {
    fn label(&self) -> String {
        "a proxy cuts every connection mid-stream".into()
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.proxy.cut_all();
    }
    async fn hold(&mut self, _rig: &mut Rig) -> Result<String, String> {
        Ok(String::new())
    }
    async fn end(&mut self, _rig: &mut Rig) {}
}

/// nginx starts answering `code` for `/socket.io/` (404: the route is gone; 502: the
/// realtime upstream is down) while the web app keeps answering.
pub struct ProxyAnswers {
    pub file: &'static str,
    pub code: u16,
}

impl Fault for ProxyAnswers {
    fn label(&self) -> String {
        format!("nginx answers {} for /socket.io/ (the web app still answers)", self.code)
    }
    fn shows(&self, s: &LinkState) -> bool {
        matches!(s, LinkState::Reconnecting { last_error, .. } if last_error.contains(&self.code.to_string()))
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.fault_file(self.file, true);
        rig.ctl.drop_all().await;
    }
    async fn hold(&mut self, _rig: &mut Rig) -> Result<String, String> {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(String::new())
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.fault_file(self.file, false);
    }
}

/// The proxy does not pass Upgrade/Connection: the session falls back to polling and says so;
/// once the proxy is fixed, the session moves back to WebSocket in place (its retry), with
/// no reconnect and nothing lost.
pub struct StripUpgrade;

impl Fault for StripUpgrade {
    fn label(&self) -> String {
        "nginx strips the Upgrade headers".into()
    }
    fn shows(&self, s: &LinkState) -> bool {
        matches!(s, LinkState::Connected { transport: Transport::Polling, fallback: Some(_), .. })
    }
    fn recovered(&self, s: &LinkState) -> bool {
        matches!(s, LinkState::Connected { transport: Transport::Websocket, fallback: None, .. })
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.fault_file("fault-noupgrade", true);
        rig.ctl.drop_all().await;
    }
    async fn hold(&mut self, _rig: &mut Rig) -> Result<String, String> {
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok("events flow over polling meanwhile; back on websocket in place once mended".into())
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.fault_file("fault-noupgrade", false);
    }
}

/// The proxy closes a WebSocket after 3 s without a byte from upstream, shorter than the
/// heartbeat: the link dies at a regular interval. Measured: the interval between drops.
pub struct IdleTimeout {
    pub secs: u64,
}

impl Fault for IdleTimeout {
    fn end_drops(&self) -> bool {
        true
    }
    fn label(&self) -> String {
        "nginx closes idle WebSockets after 3 s (heartbeat: server 25 s, ours 5 s)".into()
    }
    fn quiet(&self) -> bool {
        true
    }
    async fn inject(&mut self, rig: &mut Rig) {
        rig.fault_file("fault-idle", true);
        rig.ctl.drop_all().await;
    }
    async fn hold(&mut self, rig: &mut Rig) -> Result<String, String> {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(self.secs)).await;
        // Drops: a connected state followed by one that is not.
        let seen = rig.states.since(t);
        let mut drops = Vec::new();
        for w in seen.windows(2) {
            if w[0].1.is_connected() && !w[1].1.is_connected() {
                drops.push(w[1].0);
            }
        }
        let gaps: Vec<u128> =
            drops.windows(2).map(|w| w[1].duration_since(w[0]).as_millis()).collect();
        if drops.len() < 2 {
            return Err(format!(
                "{} drops in {} s, expected the link to die repeatedly",
                drops.len(),
                self.secs
            ));
        }
        let mut sorted = gaps.clone();
        sorted.sort();
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        Ok(format!(
            "{} drops in {} s, every {median} ms (median) vs the server's pingInterval 25000 ms",
            drops.len(),
            self.secs
        ))
    }
    async fn end(&mut self, rig: &mut Rig) {
        rig.fault_file("fault-idle", false);
        rig.ctl.drop_all().await;
    }
}

/// The pasted browser session expires on the site: the next connect is Guest. A pasted sid
/// cannot be renewed by us, so the session says so (degraded, never healthy) until the user
/// gives a new one and asks to reconnect.
pub struct SessionExpired;

impl Fault for SessionExpired {
    fn label(&self) -> String {
        "the session (sid) expires mid-session".into()
    }
    fn shows(&self, s: &LinkState) -> bool {
        matches!(s, LinkState::Degraded { reason, .. } if reason.contains("Guest"))
    }
    async fn inject(&mut self, rig: &mut Rig) {
        let body = serde_json::json!({"sid": "good-sid", "expire": true});
        let _ = reqwest::Client::new()
            .post(format!("{}/__sim/sessions", rig.ctl.base))
            .json(&body)
            .send()
            .await;
        rig.ctl.drop_all().await;
    }
    async fn hold(&mut self, rig: &mut Rig) -> Result<String, String> {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_secs(3)).await;
        if rig.states.since(t).iter().any(|(_, s)| s.is_connected()) {
            return Err("shown healthy while Guest".into());
        }
        Ok("degraded (Guest) until a new sid and Reconnect".into())
    }
    async fn end(&mut self, rig: &mut Rig) {
        let body = serde_json::json!({"sid": "good-sid", "user": super::USER});
        let _ = reqwest::Client::new()
            .post(format!("{}/__sim/sessions", rig.ctl.base))
            .json(&body)
            .send()
            .await;
        rig.session.reconnect_now();
    }
}
