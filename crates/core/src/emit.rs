//! Emitting by hand (`sockeye-cli emit`, the app's emit panel): arguments checked with the
//! error's position, what the server answered as one outcome, the last sends remembered, and
//! the once-per-session confirmation a production environment asks for.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::session::EmitReply;
use crate::wire::EmitError;

/// Arguments that are not JSON, and where.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{what} is not JSON: {message} at line {line}, column {column}")]
pub struct ArgsError {
    /// `arguments` (the panel's text) or `argument N` (the CLI's).
    pub what: String,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

fn args_error(what: String, e: &serde_json::Error) -> ArgsError {
    // serde_json's message ends with " at line L column C"; the fields say it already.
    let text = e.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text).to_string();
    ArgsError { what, message, line: e.line(), column: e.column() }
}

/// The panel's text: a JSON array of the arguments (`[1, "a"]`); empty for none.
pub fn parse_args_text(text: &str) -> Result<Vec<Box<RawValue>>, ArgsError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let what = || "arguments".to_string();
    let args: Vec<&RawValue> = serde_json::from_str(text).map_err(|e| {
        let not_array = e.is_data() && e.line() == 1 && e.column() <= text.trim_start().len();
        let mut err = args_error(what(), &e);
        if not_array && !text.trim_start().starts_with('[') {
            err.message = "write the arguments as a JSON array, e.g. [1, \"a\"]".into();
        }
        err
    })?;
    Ok(args.into_iter().map(ToOwned::to_owned).collect())
}

/// The CLI's arguments: each one JSON value.
pub fn parse_each(args: &[String]) -> Result<Vec<Box<RawValue>>, ArgsError> {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            RawValue::from_string(a.clone())
                .map_err(|e| args_error(format!("argument {}", i + 1), &e))
        })
        .collect()
}

/// What came of one emit.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EmitOutcome {
    /// Sent; no ack asked for.
    Sent,
    /// The server's ack: its arguments as a JSON array.
    Acked {
        args: String,
    },
    NoAck {
        secs: f64,
    },
    Failed {
        message: String,
    },
}

impl EmitOutcome {
    pub fn of(reply: EmitReply) -> EmitOutcome {
        match reply {
            Ok(None) => EmitOutcome::Sent,
            Ok(Some(args)) => EmitOutcome::Acked { args: args.get().to_string() },
            Err(EmitError::AckTimeout(d)) => EmitOutcome::NoAck { secs: d.as_secs_f64() },
            Err(EmitError::Closed) => EmitOutcome::Failed { message: "the link is not up".into() },
            Err(e) => EmitOutcome::Failed { message: e.to_string() },
        }
    }

    /// One line: `ack [..]`, `sent NAME`, `no ack in N s`, `emit failed: …`.
    pub fn summary(&self, event: &str) -> String {
        match self {
            EmitOutcome::Sent => format!("sent {event}"),
            EmitOutcome::Acked { args } => format!("ack {args}"),
            EmitOutcome::NoAck { secs } => format!("no ack in {secs} s"),
            EmitOutcome::Failed { message } => format!("emit failed: {message}"),
        }
    }

    /// The CLI's exit code: 0 sent or acked, 1 an expected ack did not come, 2 failed.
    pub fn exit_code(&self) -> i32 {
        match self {
            EmitOutcome::Sent | EmitOutcome::Acked { .. } => 0,
            EmitOutcome::NoAck { .. } => 1,
            EmitOutcome::Failed { .. } => 2,
        }
    }
}

/// One send as the panel's history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SentRecord {
    pub env: String,
    pub event: String,
    /// The arguments as sent (a JSON array).
    pub args: String,
    pub ack: Option<f64>,
    pub at_ms: u64,
    #[serde(flatten)]
    pub outcome: EmitOutcome,
    pub summary: String,
}

/// The last sends, newest first, and which environments the user confirmed emitting to.
#[derive(Debug, Default)]
pub struct EmitDesk {
    history: VecDeque<SentRecord>,
    confirmed: BTreeSet<String>,
}

/// Sends the panel remembers.
pub const HISTORY: usize = 20;

impl EmitDesk {
    /// Whether emitting to `env` must be confirmed first: a production environment, once
    /// per run of the app.
    pub fn needs_confirmation(&self, env: &str, production: bool) -> bool {
        production && !self.confirmed.contains(env)
    }

    pub fn confirm(&mut self, env: &str) {
        self.confirmed.insert(env.to_string());
    }

    pub fn record(
        &mut self,
        env: &str,
        event: &str,
        args: &[Box<RawValue>],
        ack: Option<Duration>,
        outcome: EmitOutcome,
    ) -> SentRecord {
        let text = args.iter().map(|a| a.get()).collect::<Vec<_>>().join(",");
        let r = SentRecord {
            env: env.into(),
            event: event.into(),
            args: format!("[{text}]"),
            ack: ack.map(|d| d.as_secs_f64()),
            at_ms: crate::events::now_ms(),
            summary: outcome.summary(event),
            outcome,
        };
        self.history.push_front(r.clone());
        self.history.truncate(HISTORY);
        r
    }

    /// Newest first.
    pub fn history(&self) -> Vec<SentRecord> {
        self.history.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_errors_say_where() {
        assert_eq!(parse_args_text("").unwrap().len(), 0);
        let a = parse_args_text(r#"[1, {"a": "b"}]"#).unwrap();
        assert_eq!(a.iter().map(|r| r.get()).collect::<Vec<_>>(), ["1", r#"{"a": "b"}"#]);
        let e = parse_args_text("[1,\n {\"a\" 2}]").unwrap_err();
        assert_eq!((e.line, e.column), (2, 7), "{e}");
        assert!(e.to_string().starts_with("arguments is not JSON: expected `:`"), "{e}");
        let e = parse_args_text(r#"{"a": 1}"#).unwrap_err();
        assert!(e.message.contains("JSON array"), "{e}");
        let e = parse_each(&["1".into(), "{x".into()]).unwrap_err();
        assert_eq!((e.what.as_str(), e.line, e.column), ("argument 2", 1, 2), "{e}");
    }

    #[test]
    fn outcomes_and_the_confirmation_once_per_environment() {
        let o = EmitOutcome::of(Err(EmitError::AckTimeout(Duration::from_millis(500))));
        assert_eq!((o.summary("x"), o.exit_code()), ("no ack in 0.5 s".into(), 1));
        let mut desk = EmitDesk::default();
        assert!(desk.needs_confirmation("prod", true));
        assert!(!desk.needs_confirmation("sandbox", false));
        desk.confirm("prod");
        assert!(!desk.needs_confirmation("prod", true));
        for i in 0..HISTORY + 3 {
            desk.record("prod", &format!("e{i}"), &[], None, EmitOutcome::Sent);
        }
        let h = desk.history();
        assert_eq!((h.len(), h[0].event.as_str(), h[0].args.as_str()), (HISTORY, "e22", "[]"));
    }
}
