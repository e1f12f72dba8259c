//! What the session has delivered per channel: the cursor (newest message) and bounded sets
//! of recent message ids, so a message that arrives both live and over REST is shown once.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;

use super::{ChannelCursor, Cursor};
use crate::events::RavenMessage;

/// Ids remembered per channel and kind. A gap is capped at a few hundred messages and the
/// live edge of a reconnect is short, so a few thousand is plenty.
const RECENT_IDS: usize = 2048;
/// Channels tracked at most (a session watches a handful).
const MAX_CHANNELS: usize = 512;

/// Recent ids of one channel, as fingerprints: an id is 128 bits from two independently
/// seeded hashes, so remembering one allocates nothing (a copy of every id, plus the
/// evictions' string compares, made this set a tenth of a polled message's ingest). A false
/// match needs both 64-bit hashes to collide under seeds drawn per process: ids chosen by a
/// server cannot aim for one, and among a few thousand ids chance never finds one.
#[derive(Default)]
struct Recent {
    order: VecDeque<u128>,
    set: HashSet<u128, foldhash::fast::RandomState>,
    seeds: (foldhash::fast::RandomState, foldhash::fast::RandomState),
}

impl Recent {
    fn fingerprint(&self, id: &str) -> u128 {
        let (a, b) = (self.seeds.0.hash_one(id), self.seeds.1.hash_one(id));
        (u128::from(a) << 64) | u128::from(b)
    }

    fn insert(&mut self, id: &str) -> bool {
        let f = self.fingerprint(id);
        if !self.set.insert(f) {
            return false;
        }
        if self.order.len() == RECENT_IDS
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(f);
        true
    }
    fn contains(&self, id: &str) -> bool {
        self.set.contains(&self.fingerprint(id))
    }
}

/// Remember a delivered message's id under its channel (a channel already tracked is looked up
/// by reference: its name is not copied for every message), up to [`MAX_CHANNELS`] channels.
fn note(ids: &mut HashMap<String, Recent>, m: &RavenMessage) {
    if let Some(recent) = ids.get_mut(m.channel_id.as_str()) {
        recent.insert(&m.message_id);
    } else if ids.len() < MAX_CHANNELS {
        ids.entry(m.channel_id.to_string()).or_default().insert(&m.message_id);
    }
}

/// Cursors and delivered ids of one session.
#[derive(Default)]
pub struct Ledger {
    cursors: BTreeMap<String, ChannelCursor>,
    live: HashMap<String, Recent>,
    recovered: HashMap<String, Recent>,
    dirty: bool,
}

impl Ledger {
    /// Start from remembered cursors (app restart).
    pub fn with_cursors(cursors: BTreeMap<String, ChannelCursor>) -> Ledger {
        Ledger { cursors, ..Default::default() }
    }

    pub fn cursor(&self, channel: &str) -> Option<&ChannelCursor> {
        self.cursors.get(channel)
    }

    pub fn cursors(&self) -> &BTreeMap<String, ChannelCursor> {
        &self.cursors
    }

    /// Set a channel's cursor from a priming fetch, unless a message arrived meanwhile.
    pub fn prime(&mut self, channel: &str, cursor: ChannelCursor) {
        if !self.cursors.contains_key(channel) && self.cursors.len() < MAX_CHANNELS {
            self.cursors.insert(channel.to_string(), cursor);
            self.dirty = true;
        }
    }

    /// A live message: false when it was already delivered as recovered (drop it). Live
    /// duplicates are the server's business and are delivered as sent. `advance` moves the
    /// cursor (not while a gap is still open: the gap's messages would be skipped).
    pub fn live(&mut self, m: &RavenMessage, now_ms: u64, advance: bool) -> bool {
        if self.recovered.get(m.channel_id.as_str()).is_some_and(|r| r.contains(&m.message_id)) {
            return false;
        }
        note(&mut self.live, m);
        if advance {
            self.advance(m, now_ms);
        }
        true
    }

    /// A live message held back while its gap is fetched: noted now, so the fetched copy is
    /// not the one shown (it arrived live; it is not "recovered").
    pub fn note_live(&mut self, m: &RavenMessage) {
        note(&mut self.live, m);
    }

    /// A message fetched over REST: false when it was already delivered (live or recovered).
    pub fn recovered(&mut self, m: &RavenMessage, now_ms: u64) -> bool {
        if self.live.get(m.channel_id.as_str()).is_some_and(|r| r.contains(&m.message_id)) {
            return false;
        }
        if matches!(self.cursors.get(m.channel_id.as_str()), Some(ChannelCursor::At(c)) if m.message_id == c.message_id)
        {
            return false;
        }
        if !self.recovered.entry(m.channel_id.to_string()).or_default().insert(&m.message_id) {
            return false;
        }
        self.advance(m, now_ms);
        true
    }

    fn advance(&mut self, m: &RavenMessage, now_ms: u64) {
        let Some(creation) = m.creation.as_deref() else { return };
        // The site's `YYYY-MM-DD HH:MM:SS.ffffff` orders as text; the site compares it too.
        let newer = match self.cursors.get(m.channel_id.as_str()) {
            Some(ChannelCursor::At(c)) => creation >= c.creation.as_str(),
            Some(ChannelCursor::Empty) => true,
            None => self.cursors.len() < MAX_CHANNELS,
        };
        if !newer {
            return;
        }
        self.dirty = true;
        // Moving forward in a channel already tracked (every live message) reuses the
        // cursor's strings instead of allocating three new ones.
        if let Some(ChannelCursor::At(c)) = self.cursors.get_mut(m.channel_id.as_str()) {
            c.message_id.clear();
            c.message_id.push_str(&m.message_id);
            c.creation.clear();
            c.creation.push_str(creation);
            c.seen_at_ms = now_ms;
            return;
        }
        self.cursors.insert(
            m.channel_id.to_string(),
            ChannelCursor::At(Cursor {
                message_id: m.message_id.to_string(),
                creation: creation.to_string(),
                seen_at_ms: now_ms,
            }),
        );
    }

    /// True once after the cursors changed (the store writes then).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: &str, creation: &str) -> RavenMessage {
        RavenMessage {
            channel_id: "general".into(),
            sender: "a@x".into(),
            message_id: id.into(),
            content: Default::default(),
            html: None,
            message_type: "Text".into(),
            is_bot_message: false,
            creation: Some(creation.into()),
        }
    }

    #[test]
    fn live_then_recovered_is_one_and_recovered_then_live_is_one() {
        let mut l = Ledger::default();
        assert!(l.live(&msg("a", "2026-01-01 10:00:00.000001"), 1, true));
        assert!(!l.recovered(&msg("a", "2026-01-01 10:00:00.000001"), 2));
        assert!(l.recovered(&msg("b", "2026-01-01 10:00:01.000000"), 3));
        assert!(!l.recovered(&msg("b", "2026-01-01 10:00:01.000000"), 3));
        assert!(!l.live(&msg("b", "2026-01-01 10:00:01.000000"), 4, true));
        // The server sending the same live message twice is shown as sent.
        assert!(l.live(&msg("c", "2026-01-01 10:00:02.000000"), 5, true));
        assert!(l.live(&msg("c", "2026-01-01 10:00:02.000000"), 5, true));
        // Held live while its gap was fetched: the live copy is the one shown.
        let d = msg("d", "2026-01-01 10:00:03.000000");
        l.note_live(&d);
        assert!(!l.recovered(&d, 6));
        assert!(l.live(&d, 7, true));
    }

    #[test]
    fn the_cursor_only_moves_forward_and_not_while_a_gap_is_open() {
        let mut l = Ledger::default();
        l.live(&msg("a", "2026-01-01 10:00:05.000000"), 1, true);
        l.live(&msg("old", "2026-01-01 09:00:00.000000"), 2, true);
        assert!(matches!(l.cursor("general"), Some(ChannelCursor::At(c)) if c.message_id == "a"));
        l.live(&msg("z", "2026-01-01 11:00:00.000000"), 3, false);
        assert!(matches!(l.cursor("general"), Some(ChannelCursor::At(c)) if c.message_id == "a"));
        assert!(l.take_dirty());
        assert!(!l.take_dirty());
        l.prime("general", ChannelCursor::Empty);
        assert!(matches!(l.cursor("general"), Some(ChannelCursor::At(_))), "prime never overrides");
    }

    #[test]
    fn recent_ids_are_bounded() {
        let mut r = Recent::default();
        for i in 0..RECENT_IDS + 10 {
            r.insert(&i.to_string());
        }
        assert_eq!(r.set.len(), RECENT_IDS);
        assert!(!r.contains("0"));
        assert!(r.contains(&(RECENT_IDS + 9).to_string()));
    }
}
