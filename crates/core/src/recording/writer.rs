//! The recorder: lines go through a buffer that the owner flushes on a short interval
//! ([`Recorder::flush_if_due`]) and at the end ([`Recorder::finish`]). A write error stops
//! the recording (saying why, once) and nothing else: the link it records stays up. Past the
//! size cap the file is rotated (`FILE` → `FILE.1` → `FILE.2` …, the oldest dropped) and the
//! new file starts with the header again (`part` counts).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Header, Redactor, event_line, header_line};
use crate::events::RealtimeEvent;
use crate::state::StateSnapshot;

/// Settings of a recording.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// Rotate when the file would grow past this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept next to the current one.
    pub keep: usize,
    /// How long a line may sit in the buffer.
    pub flush_every: Duration,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions { max_bytes: 64 << 20, keep: 3, flush_every: Duration::from_millis(250) }
    }
}

/// A size as people write it: `512K`, `64M`, `1G`, or bytes (`0`: no cap).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let mult = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'B' => 1,
                _ => return Err(format!("{s:?}: write a size like 512K, 64M or 1G")),
            };
            (&t[..i], mult)
        }
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("{s:?}: write a size like 512K, 64M or 1G"))
}

/// Why a recording could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot create the recording {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("recording to {path} stopped: {source} (the link stays up)")]
    Write { path: PathBuf, source: std::io::Error },
}

/// What the app shows of a recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordingStatus {
    pub path: PathBuf,
    /// Bytes written (all parts).
    pub bytes: u64,
    /// Event lines written.
    pub events: u64,
    /// Files rotated away so far.
    pub rotations: u32,
    pub recording: bool,
    /// Why it stopped, when a write failed.
    pub error: Option<String>,
}

pub struct Recorder {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    header: Header,
    redactor: Redactor,
    options: RecorderOptions,
    start: Instant,
    last_flush: Instant,
    /// Bytes in the current file.
    file_bytes: u64,
    status: RecordingStatus,
    /// A failure not yet taken by the owner (to print it once).
    unreported: Option<RecordError>,
}

impl Recorder {
    /// Create (truncate) `path` and write the header.
    pub fn create(
        path: &Path,
        header: Header,
        redactor: Redactor,
        options: RecorderOptions,
    ) -> Result<Recorder, RecordError> {
        let file = crate::private_file::create_owner_only(path)
            .map_err(|source| RecordError::Create { path: path.to_path_buf(), source })?;
        let mut r = Recorder {
            path: path.to_path_buf(),
            out: Some(BufWriter::with_capacity(64 << 10, file)),
            header,
            redactor,
            options,
            start: Instant::now(),
            last_flush: Instant::now(),
            file_bytes: 0,
            status: RecordingStatus {
                path: path.to_path_buf(),
                bytes: 0,
                events: 0,
                rotations: 0,
                recording: true,
                error: None,
            },
            unreported: None,
        };
        let line = header_line(&r.header);
        r.write(&line);
        // A header that cannot be written is a recording that cannot start.
        r.flush();
        match r.unreported.take() {
            Some(RecordError::Write { source, .. }) => {
                Err(RecordError::Create { path: path.to_path_buf(), source })
            }
            _ => Ok(r),
        }
    }

    fn t_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Learn a secret after the start (the sid of a login), to redact it too.
    pub fn redact_also(&mut self, secret: &str) {
        self.redactor.add(secret);
    }

    pub fn state(&mut self, snap: &StateSnapshot) {
        #[derive(Serialize)]
        struct StateLine<'a> {
            kind: &'static str,
            t_ms: u64,
            at_ms: u64,
            #[serde(flatten)]
            state: &'a crate::state::LinkState,
        }
        let line = StateLine {
            kind: "state",
            t_ms: self.t_ms(),
            at_ms: snap.since_ms,
            state: &snap.state,
        };
        let text = serde_json::to_string(&line).expect("a state serialises");
        self.write(&text);
    }

    pub fn event(&mut self, e: &RealtimeEvent) {
        let text = event_line(e, self.t_ms(), None, self.header.namespace.as_deref());
        if self.write(&text) {
            self.status.events += 1;
        }
    }

    /// Flush when the buffer is older than the interval (call it on a timer).
    pub fn flush_if_due(&mut self) {
        if self.last_flush.elapsed() >= self.options.flush_every {
            self.flush();
        }
    }

    pub fn flush(&mut self) {
        self.last_flush = Instant::now();
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }

    /// A write failure the owner has not seen yet (taken once).
    pub fn take_failure(&mut self) -> Option<RecordError> {
        self.unreported.take()
    }

    pub fn status(&self) -> &RecordingStatus {
        &self.status
    }

    /// Write the `end` line and flush; the final status.
    pub fn finish(mut self, reason: &str) -> RecordingStatus {
        #[derive(Serialize)]
        struct EndLine<'a> {
            kind: &'static str,
            t_ms: u64,
            events: u64,
            reason: &'a str,
        }
        let end = EndLine { kind: "end", t_ms: self.t_ms(), events: self.status.events, reason };
        let text = serde_json::to_string(&end).expect("an end line serialises");
        self.write(&text);
        self.flush();
        self.out = None;
        self.status.recording = false;
        self.status.clone()
    }

    fn fail(&mut self, source: std::io::Error) {
        let e = RecordError::Write { path: self.path.clone(), source };
        self.status.error = Some(e.to_string());
        self.status.recording = false;
        self.out = None;
        self.unreported = Some(e);
    }

    /// Redact and write one line; false when the recording is stopped.
    fn write(&mut self, line: &str) -> bool {
        let line = self.redactor.line(line);
        let len = line.len() as u64 + 1;
        if self.options.max_bytes > 0
            && self.file_bytes > 0
            && self.file_bytes + len > self.options.max_bytes
            && self.out.is_some()
            && let Err(e) = self.rotate()
        {
            self.fail(e);
        }
        let Some(out) = self.out.as_mut() else { return false };
        let written = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
        if let Err(e) = written {
            self.fail(e);
            return false;
        }
        self.file_bytes += len;
        self.status.bytes += len;
        true
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        p.into()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(mut out) = self.out.take() {
            out.flush()?;
        }
        let keep = self.options.keep.max(1);
        let _ = std::fs::remove_file(self.rotated(keep));
        for n in (1..keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        let file = crate::private_file::create_owner_only(&self.path)?;
        self.out = Some(BufWriter::with_capacity(64 << 10, file));
        self.file_bytes = 0;
        self.status.rotations += 1;
        self.header.part += 1;
        let line = header_line(&self.header);
        self.write(&line);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_written() {
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("0"), Ok(0));
        assert!(parse_size("12X").unwrap_err().contains("512K"));
        assert!(parse_size("").is_err());
    }
}
