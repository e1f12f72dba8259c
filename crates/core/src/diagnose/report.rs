//! The diagnostics report: one row per probe, a summary shaped like the seeds'
//! `diagnose_realtime()` dict, and the exit code.

use serde::Serialize;

use super::fixes::Fix;
use super::hints::{Finding, Symptom};

/// How a probe came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not run: an earlier probe made it meaningless, or it was not asked for.
    Skipped,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Pass, Status::Warn, Status::Fail, Status::Skipped];

    /// The name the JSON report uses (`pass`, `warn`, `fail`, `skipped`).
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }

    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✔",
            Status::Warn => "!",
            Status::Fail => "✘",
            Status::Skipped => "-",
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub name: &'static str,
    pub status: Status,
    pub duration_ms: u64,
    /// Status codes, headers, body excerpts, refusal texts: what the probe saw.
    pub evidence: Vec<String>,
    pub symptom: Option<Symptom>,
    /// Table row (1–16) of `client-and-diagnostics.md` §2.
    pub row: Option<u8>,
    /// Cause in `realworld-failures.md` (C1–C23), when the evidence names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
    pub hint: Option<String>,
    /// Ready-to-paste fixes, with the detected values filled in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fixes: Vec<Fix>,
}

impl Probe {
    pub fn new(name: &'static str, status: Status, duration_ms: u64) -> Probe {
        Probe {
            name,
            status,
            duration_ms,
            evidence: Vec::new(),
            symptom: None,
            row: None,
            cause: None,
            hint: None,
            fixes: Vec::new(),
        }
    }

    pub fn evidence(mut self, e: impl Into<String>) -> Probe {
        self.evidence.push(e.into());
        self
    }

    pub fn finding(mut self, f: Finding) -> Probe {
        self.row = f.symptom.row();
        self.symptom = Some(f.symptom);
        self.cause = f.cause;
        self.hint = Some(f.hint);
        self
    }

    pub fn skipped(name: &'static str, why: impl Into<String>) -> Probe {
        Probe::new(name, Status::Skipped, 0).evidence(why)
    }
}

/// The summary, shaped like the seeds' `diagnose_realtime()`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub deployment_type: String,
    /// `None` when no local probe ran (not on the server host and no `--local-port`).
    pub local_socketio_ok: Option<bool>,
    pub external_socketio_ok: bool,
    pub websocket_ok: bool,
    pub auth_ok: bool,
    pub hint: String,
}

/// A full report for one environment.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub env: String,
    pub url: String,
    pub namespace: String,
    pub probes: Vec<Probe>,
    pub summary: Summary,
    pub total_ms: u64,
}

impl Report {
    /// 0 all pass, 1 warnings only, 2 a failure.
    pub fn exit_code(&self) -> i32 {
        if self.probes.iter().any(|p| p.status == Status::Fail) {
            2
        } else if self.probes.iter().any(|p| p.status == Status::Warn) {
            1
        } else {
            0
        }
    }

    /// The single most important hint: the first failure's, else the first warning's.
    pub fn top_hint(&self) -> Option<&str> {
        let first = |s: Status| {
            self.probes
                .iter()
                .find(|p| p.status == s && p.hint.is_some())
                .and_then(|p| p.hint.as_deref())
        };
        first(Status::Fail).or_else(|| first(Status::Warn))
    }

    pub fn probe(&self, name: &str) -> Option<&Probe> {
        self.probes.iter().find(|p| p.name == name)
    }

    /// Symptoms found, in probe order.
    pub fn symptoms(&self) -> Vec<Symptom> {
        self.probes
            .iter()
            .filter(|p| matches!(p.status, Status::Fail | Status::Warn))
            .filter_map(|p| p.symptom)
            .collect()
    }
}
