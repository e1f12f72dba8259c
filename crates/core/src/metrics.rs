//! Per-environment metrics in the OpenMetrics text format (`prometheus-client`), computed from
//! what a session already publishes: its state snapshots and its events. No HTTP here: a
//! shell (the CLI's `watch --metrics`) serves [`FleetMetrics::encode`]; the app could too.
//!
//! What is counted where it already has a meaning in core: "link lost" is the fold's
//! [`Trigger::LinkLost`], malformed packets are the session's [`MALFORMED_EVENT`],
//! recovered messages are events the session marked `recovered`, the state label is
//! [`LinkState::name`].

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::diagnose::Report;
use crate::events::RealtimeEvent;
use crate::fold::EnvFold;
use crate::notify::Trigger;
use crate::session::MALFORMED_EVENT;
use crate::state::{LinkState, StateSnapshot};

/// The content type of [`FleetMetrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`to_prometheus_text`]'s text (what `curl` and `promtool` read).
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus' classic text format (0.0.4) of an OpenMetrics exposition made of gauges and
/// counters, for clients that did not ask for OpenMetrics: a counter family is named after
/// its `_total` samples there, and there are no `# UNIT` or `# EOF` lines.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters: Vec<&str> = Vec::new();
    for line in openmetrics.lines() {
        if let Some(name) = line.strip_prefix("# TYPE ").and_then(|t| t.strip_suffix(" counter")) {
            counters.push(name);
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find(|p| line.starts_with(p));
        match meta {
            Some(prefix) => {
                let rest = &line[prefix.len()..];
                let name = rest.split(' ').next().unwrap_or_default();
                if counters.contains(&name) {
                    out.push_str(prefix);
                    out.push_str(name);
                    out.push_str("_total");
                    out.push_str(&rest[name.len()..]);
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Distinct event names counted per environment; the rest are counted as `event="other"`,
/// so a server inventing names cannot grow the exposition without bound.
pub const EVENT_NAMES_MAX: usize = 200;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvLabel {
    env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    env: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    env: String,
    event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    env: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabel {
    env: String,
    probe: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeStatusLabel {
    env: String,
    probe: String,
    status: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// The metric families, registered once.
#[derive(Default)]
struct Families {
    link_up: Family<EnvLabel, Gauge>,
    link_state: Family<StateLabel, Gauge>,
    rtt: Family<EnvLabel, FloatGauge>,
    link_lost: Family<EnvLabel, Counter>,
    since_event: Family<EnvLabel, FloatGauge>,
    events: Family<EventLabel, Counter>,
    malformed: Family<EnvLabel, Counter>,
    recovered: Family<EnvLabel, Counter>,
    degraded: Family<ReasonLabel, Gauge>,
    probe_status: Family<ProbeStatusLabel, Gauge>,
    probe_duration: Family<ProbeLabel, FloatGauge>,
    diagnosed_at: Family<EnvLabel, FloatGauge>,
}

impl Families {
    fn register(r: &mut Registry) -> Families {
        let f = Families::default();
        r.register(
            "sockeye_link_up",
            "1 while the link is connected (identity confirmed, pong answered), else 0",
            f.link_up.clone(),
        );
        r.register(
            "sockeye_link_state",
            "The link's state: 1 for the current one, 0 for the others",
            f.link_state.clone(),
        );
        r.register_with_unit(
            "sockeye_rtt",
            "Round-trip time of the last ping/pong while connected",
            Unit::Seconds,
            f.rtt.clone(),
        );
        r.register(
            "sockeye_reconnects",
            "Times the link was lost after being up (each starts a reconnect)",
            f.link_lost.clone(),
        );
        r.register_with_unit(
            "sockeye_since_last_event",
            "Time since the last event was received (since the watcher started, before any)",
            Unit::Seconds,
            f.since_event.clone(),
        );
        r.register("sockeye_events", "Events received, by event name", f.events.clone());
        r.register(
            "sockeye_malformed_packets",
            "Packets from the server that were malformed and skipped",
            f.malformed.clone(),
        );
        r.register(
            "sockeye_backfill_recovered_messages",
            "Raven messages missed while the link was down and fetched over REST",
            f.recovered.clone(),
        );
        r.register(
            "sockeye_degraded",
            "1 while the link is connected but not healthy, labelled with why",
            f.degraded.clone(),
        );
        r.register(
            "sockeye_probe_status",
            "The last periodic diagnosis: 1 for each probe's result, 0 for the other results",
            f.probe_status.clone(),
        );
        r.register_with_unit(
            "sockeye_probe_duration",
            "How long each probe of the last periodic diagnosis took",
            Unit::Seconds,
            f.probe_duration.clone(),
        );
        r.register_with_unit(
            "sockeye_diagnosed_timestamp",
            "When the last periodic diagnosis finished (Unix time)",
            Unit::Seconds,
            f.diagnosed_at.clone(),
        );
        f
    }
}

/// One environment's running facts.
struct EnvMetrics {
    label: EnvLabel,
    fold: EnvFold,
    /// Counters by event name (looked up by `&str`: no allocation per event).
    events: HashMap<String, Counter>,
    other_events: Counter,
    last_event_ms: u64,
    degraded_reason: Option<String>,
}

/// Every watched environment's metrics and the registry that encodes them.
pub struct FleetMetrics {
    registry: Registry,
    f: Families,
    envs: HashMap<String, EnvMetrics>,
}

impl FleetMetrics {
    /// Metrics for `envs`, each starting idle, its "since last event" clock at `now_ms`.
    pub fn new<'a>(envs: impl IntoIterator<Item = &'a str>, now_ms: u64) -> FleetMetrics {
        let mut registry = Registry::default();
        let f = Families::register(&mut registry);
        let mut m = FleetMetrics { registry, f, envs: HashMap::new() };
        for env in envs {
            let label = EnvLabel { env: env.into() };
            let other = EventLabel { env: env.into(), event: "other".into() };
            let e = EnvMetrics {
                fold: EnvFold::new(env),
                events: HashMap::new(),
                other_events: m.f.events.get_or_create_owned(&other),
                last_event_ms: now_ms,
                degraded_reason: None,
                label,
            };
            // Zero series from the start, so `rate()` and absence alerts see them.
            let _ = m.f.link_lost.get_or_create(&e.label);
            let _ = m.f.malformed.get_or_create(&e.label);
            let _ = m.f.recovered.get_or_create(&e.label);
            m.envs.insert(env.into(), e);
        }
        for env in m.envs.keys().cloned().collect::<Vec<_>>() {
            let idle = StateSnapshot { profile: env, state: LinkState::Idle, since_ms: now_ms };
            m.on_state(&idle);
        }
        m
    }

    fn env(&mut self, name: &str) -> Option<&mut EnvMetrics> {
        self.envs.get_mut(name)
    }

    /// A state the session published.
    pub fn on_state(&mut self, snap: &StateSnapshot) {
        let f = &self.f;
        let Some(e) = self.envs.get_mut(&snap.profile) else { return };
        let (_, trigger) = e.fold.on_state(snap);
        if matches!(trigger, Some(Trigger::LinkLost { .. })) {
            f.link_lost.get_or_create(&e.label).inc();
        }
        let current = snap.state.name();
        f.link_up.get_or_create(&e.label).set(i64::from(snap.state.is_connected()));
        for name in LinkState::NAMES {
            let l = StateLabel { env: e.label.env.clone(), state: name.into() };
            f.link_state.get_or_create(&l).set(i64::from(name == current));
        }
        match &snap.state {
            LinkState::Connected { rtt_ms: Some(ms), .. } => {
                f.rtt.get_or_create(&e.label).set(*ms as f64 / 1000.0);
            }
            LinkState::Connected { .. } => {}
            _ => {
                f.rtt.remove(&e.label);
            }
        }
        let reason = match &snap.state {
            LinkState::Degraded { reason, .. } => Some(reason.clone()),
            _ => None,
        };
        if reason != e.degraded_reason {
            if let Some(old) = e.degraded_reason.take() {
                f.degraded.remove(&ReasonLabel { env: e.label.env.clone(), reason: old });
            }
            if let Some(new) = &reason {
                f.degraded
                    .get_or_create(&ReasonLabel { env: e.label.env.clone(), reason: new.clone() })
                    .set(1);
            }
            e.degraded_reason = reason;
        }
    }

    /// An event the session delivered to `env`.
    pub fn on_event(&mut self, env: &str, ev: &RealtimeEvent) {
        let f = &self.f;
        let Some(e) = self.envs.get_mut(env) else { return };
        // Sockeye's own notes (`sockeye:gap`, `sockeye:malformed`, …) are not news from the
        // site: "no events while connected" must not be reset by them.
        if !ev.name.starts_with("sockeye:") {
            e.last_event_ms = ev.received_at_ms;
        }
        if ev.name == MALFORMED_EVENT {
            f.malformed.get_or_create(&e.label).inc();
        }
        if ev.recovered {
            f.recovered.get_or_create(&e.label).inc();
        }
        match e.events.get(ev.name.as_str()) {
            Some(c) => {
                c.inc();
            }
            None if e.events.len() < EVENT_NAMES_MAX => {
                let l = EventLabel { env: env.into(), event: ev.name.clone() };
                let c = f.events.get_or_create_owned(&l);
                c.inc();
                e.events.insert(ev.name.clone(), c);
            }
            None => {
                e.other_events.inc();
            }
        }
    }

    /// A diagnosis of `report.env` finished at `now_ms`: each probe's result and duration.
    pub fn on_report(&mut self, report: &Report, now_ms: u64) {
        let f = &self.f;
        let env = report.env.clone();
        for p in &report.probes {
            let probe = ProbeLabel { env: env.clone(), probe: p.name.into() };
            f.probe_duration.get_or_create(&probe).set(p.duration_ms as f64 / 1000.0);
            for status in crate::diagnose::Status::ALL {
                let l = ProbeStatusLabel {
                    env: env.clone(),
                    probe: p.name.into(),
                    status: status.name().into(),
                };
                f.probe_status.get_or_create(&l).set(i64::from(status == p.status));
            }
        }
        f.diagnosed_at.get_or_create(&EnvLabel { env }).set(now_ms as f64 / 1000.0);
    }

    /// The exposition as of `now_ms` (OpenMetrics text, ending in `# EOF`).
    pub fn encode(&mut self, now_ms: u64) -> String {
        let names: Vec<String> = self.envs.keys().cloned().collect();
        for name in names {
            if let Some(e) = self.env(&name) {
                let since = now_ms.saturating_sub(e.last_event_ms) as f64 / 1000.0;
                let label = e.label.clone();
                self.f.since_event.get_or_create(&label).set(since);
            }
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
