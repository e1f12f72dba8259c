//! Commands that act on a live link: recording it (the Record button) and emitting on it
//! (the emit panel). Thin: the files are the core's `Recorder`, the checks and outcomes the
//! core's `emit`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use sockeye_core::emit::{ArgsError, EmitOutcome, SentRecord, parse_args_text};
use sockeye_core::recording::{RecordingStatus, parse_size};

use crate::app_state::Manager;
use crate::error::{AppError, Result};

type M<'a> = &'a std::sync::Arc<Manager>;

/// Start recording an environment to `path` (default: the download directory).
pub fn record_start(m: M<'_>, name: String, path: Option<String>) -> Result<RecordingStatus> {
    let (_, target) = m.target(&name)?;
    let path = match path.filter(|p| !p.trim().is_empty()) {
        Some(p) => std::path::PathBuf::from(p.trim()),
        None => {
            let safe: String =
                name.chars().map(|c| if c.is_alphanumeric() { c } else { '-' }).collect();
            let file = format!("sockeye-{safe}-{}.jsonl", sockeye_core::events::now_ms());
            crate::commands::download_path(&file)?
        }
    };
    let size = m.with_config(|c| c.settings.record_max_size.clone());
    let max_bytes = match size {
        Some(s) => parse_size(&s).map_err(AppError::Invalid)?,
        None => sockeye_core::recording::RecorderOptions::default().max_bytes,
    };
    let current = m.session(&name)?.state().borrow().clone();
    m.pipe
        .recordings
        .start(&target, &path, max_bytes, &current)
        .map_err(|e| AppError::Invalid(e.to_string()))
}

pub fn record_stop(m: M<'_>, name: String) -> Option<RecordingStatus> {
    m.pipe.recordings.stop(&name)
}

/// Every environment's recording (running, or the last one and why it ended).
pub fn recordings(m: M<'_>) -> BTreeMap<String, RecordingStatus> {
    m.pipe.recordings.statuses()
}

/// The emit panel's arguments as typed: `null` when they are JSON, else where they are not.
pub fn check_emit_args(text: String) -> Option<ArgsError> {
    parse_args_text(&text).err()
}

/// What an emit from the panel answers.
#[derive(Debug, Serialize)]
pub struct EmitAnswer {
    /// A production environment not yet confirmed this run: nothing was sent; ask the user,
    /// then send again with `confirmed`.
    pub needs_confirmation: bool,
    pub sent: Option<SentRecord>,
}

pub async fn emit(
    m: M<'_>,
    name: String,
    event: String,
    args: String,
    ack_secs: Option<f64>,
    confirmed: bool,
) -> Result<EmitAnswer> {
    let event = event.trim().to_string();
    if event.is_empty() {
        return Err(AppError::Invalid("give the event's name".into()));
    }
    let values = parse_args_text(&args).map_err(|e| AppError::Invalid(e.to_string()))?;
    let ack = match ack_secs {
        Some(s) => Some(
            Duration::try_from_secs_f64(s)
                .map_err(|_| AppError::Invalid(format!("ack timeout {s}: not a duration")))?,
        ),
        None => None,
    };
    let production = m.is_production(&name)?;
    {
        let mut desk = m.emit_desk.lock().expect("emit desk");
        if confirmed {
            desk.confirm(&name);
        } else if desk.needs_confirmation(&name, production) {
            return Ok(EmitAnswer { needs_confirmation: true, sent: None });
        }
    }
    let session = m.session(&name)?;
    let outcome = EmitOutcome::of(session.emit(&event, values.clone(), ack).await);
    let record =
        m.emit_desk.lock().expect("emit desk").record(&name, &event, &values, ack, outcome);
    Ok(EmitAnswer { needs_confirmation: false, sent: Some(record) })
}

/// The last sends, newest first.
pub fn emit_history(m: M<'_>) -> Vec<SentRecord> {
    m.emit_desk.lock().expect("emit desk").history()
}
