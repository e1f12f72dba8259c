//! Reading a recording back: the header checked first (a newer format is refused, naming
//! it), then every line; a damaged line is an error naming its number, or skipped and counted
//! when the caller asks for that.

use std::io::BufRead;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{FORMAT, Header};
use crate::events::Direction;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("line 1: not a Sockeye recording (no header line): {excerpt}")]
    NoHeader { excerpt: String },
    #[error(
        "line 1: recording format {found} is newer than this Sockeye reads ({FORMAT}); update Sockeye"
    )]
    NewerFormat { found: u32 },
    #[error("line {line}: damaged ({why}); --skip-bad skips such lines")]
    Damaged { line: usize, why: String },
}

/// A recorded event.
#[derive(Debug, Clone, Deserialize)]
pub struct EventRecord {
    pub t_ms: u64,
    #[serde(default)]
    pub at_ms: Option<u64>,
    pub dir: Direction,
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub ns: Option<String>,
    pub name: String,
    #[serde(default)]
    pub room: Option<String>,
    /// The arguments, a JSON array, each as recorded.
    pub args: Box<RawValue>,
    #[serde(default)]
    pub via: Option<String>,
}

impl EventRecord {
    /// Received live from the server (what a replay serves): not a send, an ack, a REST
    /// recovery or one of Sockeye's own reports (`sockeye:*`).
    pub fn is_live_in(&self) -> bool {
        self.dir == Direction::In && self.via.is_none() && !self.name.starts_with("sockeye:")
    }

    /// The arguments one by one (the array checked when the line was read).
    pub fn args(&self) -> Vec<&RawValue> {
        serde_json::from_str(self.args.get()).unwrap_or_default()
    }
}

/// What a replay needs of an event: `(t_ms, room, name, arguments)`.
pub type ReplayItem = (u64, Option<String>, String, Vec<Box<RawValue>>);

/// A recorded state change.
#[derive(Debug, Clone, Deserialize)]
pub struct StateRecord {
    pub t_ms: u64,
    pub state: String,
}

/// One line after the header.
#[derive(Debug, Clone)]
pub enum Entry {
    State(StateRecord),
    Event(EventRecord),
    /// A rotated file's next header, or the `end` line.
    Marker,
}

/// A whole recording, read.
#[derive(Debug)]
pub struct Recording {
    pub header: Header,
    pub entries: Vec<Entry>,
    /// Damaged lines skipped (only with `skip_bad`), by number.
    pub skipped: Vec<usize>,
}

impl Recording {
    pub fn open(path: &Path, skip_bad: bool) -> Result<Recording, ReadError> {
        let io = |source| ReadError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        Recording::read(std::io::BufReader::new(file), skip_bad).map_err(|e| match e {
            ReadError::Io { source, .. } => io(source),
            other => other,
        })
    }

    pub fn read(input: impl BufRead, skip_bad: bool) -> Result<Recording, ReadError> {
        let mut lines = input.lines();
        let first = match lines.next() {
            Some(l) => l.map_err(|source| ReadError::Io { path: String::new(), source })?,
            None => return Err(ReadError::NoHeader { excerpt: "(empty file)".into() }),
        };
        let header = parse_header(&first)?;
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for (i, line) in lines.enumerate() {
            let number = i + 2;
            let line = line.map_err(|source| ReadError::Io { path: String::new(), source })?;
            if line.trim().is_empty() {
                continue;
            }
            match parse_entry(&line) {
                Ok(e) => entries.push(e),
                Err(why) if skip_bad => {
                    tracing::warn!(line = number, %why, "damaged recording line skipped");
                    skipped.push(number);
                }
                Err(why) => return Err(ReadError::Damaged { line: number, why }),
            }
        }
        Ok(Recording { header, entries, skipped })
    }

    /// The events a replay serves (received live), in order.
    pub fn live_events(&self) -> impl Iterator<Item = &EventRecord> {
        self.events().filter(|e| e.is_live_in())
    }

    /// What a replay serves, one `(t_ms, room, name, arguments)` per live event, in order.
    pub fn replay_events(&self) -> Vec<ReplayItem> {
        self.live_events()
            .map(|e| {
                let args = e.args().into_iter().map(ToOwned::to_owned).collect();
                (e.t_ms, e.room.clone(), e.name.clone(), args)
            })
            .collect()
    }

    /// One line about the recording (`N events of ENV recorded AT`).
    pub fn describe(&self) -> String {
        format!(
            "{} events of {} recorded {}",
            self.live_events().count(),
            self.header.env.as_deref().unwrap_or("several environments"),
            self.header.started_at
        )
    }

    /// The events, in order.
    pub fn events(&self) -> impl Iterator<Item = &EventRecord> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Event(ev) => Some(ev),
            _ => None,
        })
    }
}

fn excerpt(s: &str) -> String {
    s.chars().take(80).collect()
}

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    format: Option<u32>,
}

fn parse_header(line: &str) -> Result<Header, ReadError> {
    let no_header = || ReadError::NoHeader { excerpt: excerpt(line) };
    let kind: Kind<'_> = serde_json::from_str(line).map_err(|_| no_header())?;
    if kind.kind != "header" {
        return Err(no_header());
    }
    // Checked before the rest: a newer format may have changed any other field.
    if let Some(found) = kind.format
        && found > FORMAT
    {
        return Err(ReadError::NewerFormat { found });
    }
    serde_json::from_str(line).map_err(|e| ReadError::Damaged { line: 1, why: e.to_string() })
}

fn parse_entry(line: &str) -> Result<Entry, String> {
    let kind: Kind<'_> = serde_json::from_str(line).map_err(|e| e.to_string())?;
    match &*kind.kind {
        "event" => {
            let e: EventRecord = serde_json::from_str(line).map_err(|e| e.to_string())?;
            serde_json::from_str::<Vec<&RawValue>>(e.args.get())
                .map_err(|_| "args is not an array".to_string())?;
            Ok(Entry::Event(e))
        }
        "state" => serde_json::from_str(line).map(Entry::State).map_err(|e| e.to_string()),
        "header" | "end" => Ok(Entry::Marker),
        other => Err(format!("unknown line kind {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"{"kind":"header","format":1,"sockeye":"0.1.0","env":"e","url":null,"namespace":"/s","started_at":"x","started_at_ms":1,"source":"watch"}"#;

    #[test]
    fn reads_events_in_order_and_names_damaged_lines() {
        let good = format!(
            "{HEAD}\n{}\n{}\n",
            r#"{"kind":"state","t_ms":0,"state":"connecting","attempt":0}"#,
            r#"{"kind":"event","t_ms":5,"dir":"in","name":"a","args":[1, {"x" : 2}]}"#
        );
        let r = Recording::read(good.as_bytes(), false).unwrap();
        let ev: Vec<_> = r.events().collect();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].args.get(), r#"[1, {"x" : 2}]"#, "as recorded");
        assert_eq!(ev[0].args().len(), 2);
        let bad = format!("{good}{{\"kind\":\"event\",\"t_ms\":9,\"dir\":\"in\",\"na\n");
        let e = Recording::read(bad.as_bytes(), false).unwrap_err();
        assert!(matches!(e, ReadError::Damaged { line: 4, .. }), "{e}");
        assert!(e.to_string().starts_with("line 4: damaged"), "{e}");
        let r = Recording::read(bad.as_bytes(), true).unwrap();
        assert_eq!((r.events().count(), r.skipped.clone()), (1, vec![4]));
        let not_array =
            format!("{HEAD}\n{}\n", r#"{"kind":"event","t_ms":5,"dir":"in","name":"a","args":7}"#);
        let e = Recording::read(not_array.as_bytes(), false).unwrap_err();
        assert!(e.to_string().contains("line 2: damaged (args is not an array)"), "{e}");
    }

    #[test]
    fn newer_formats_and_missing_headers_are_refused() {
        let newer = HEAD.replace(r#""format":1"#, r#""format":7,"new_field":{}"#);
        let e = Recording::read(newer.as_bytes(), false).unwrap_err();
        assert!(matches!(e, ReadError::NewerFormat { found: 7 }), "{e}");
        assert!(e.to_string().contains("line 1: recording format 7 is newer"), "{e}");
        let e = Recording::read(r#"{"kind":"event"}"#.as_bytes(), false).unwrap_err();
        assert!(matches!(e, ReadError::NoHeader { .. }), "{e}");
        let e = Recording::read("".as_bytes(), false).unwrap_err();
        assert!(matches!(e, ReadError::NoHeader { .. }), "{e}");
    }
}
