//! Socket.IO packets (protocol v5, and v4 as spoken by Socket.IO v2 servers), without I/O.
//!
//! A packet is `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`
//! (socketio/socket.io-protocol). Decoding slices the header and keeps the JSON as the text it
//! arrived as: an event's arguments are `&RawValue`s and its name is borrowed from the frame
//! unless it contains escapes. No JSON tree is built.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::PacketError;
use super::json_check::{self, JsonError};

/// The seven Socket.IO packet types. Lifecycle comes from these, never from event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `0`: join a namespace (client, with `auth` in v5) / joined (server, `{"sid"}` in v5).
    Connect,
    /// `1`: leave a namespace (either side).
    Disconnect,
    /// `2`: an event, `["name", args…]`, with an ack id when the sender wants an answer.
    Event,
    /// `3`: the answer to an event sent with an ack id.
    Ack,
    /// `4`: the namespace refused us (`{"message"}` in v5, a bare string from v2 servers).
    ConnectError,
    /// `5`: an event whose arguments hold binary placeholders; attachments follow.
    BinaryEvent,
    /// `6`: an ack with binary attachments.
    BinaryAck,
}

impl PacketKind {
    fn from_digit(c: u8) -> Option<PacketKind> {
        Some(match c {
            b'0' => PacketKind::Connect,
            b'1' => PacketKind::Disconnect,
            b'2' => PacketKind::Event,
            b'3' => PacketKind::Ack,
            b'4' => PacketKind::ConnectError,
            b'5' => PacketKind::BinaryEvent,
            b'6' => PacketKind::BinaryAck,
            _ => return None,
        })
    }

    fn digit(self) -> char {
        match self {
            PacketKind::Connect => '0',
            PacketKind::Disconnect => '1',
            PacketKind::Event => '2',
            PacketKind::Ack => '3',
            PacketKind::ConnectError => '4',
            PacketKind::BinaryEvent => '5',
            PacketKind::BinaryAck => '6',
        }
    }
}

/// A decoded packet header with its JSON still as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub kind: PacketKind,
    /// `/` when the packet names none.
    pub namespace: &'a str,
    pub ack_id: Option<u64>,
    /// Binary attachments that follow (binary kinds only).
    pub attachments: usize,
    /// The JSON part, unvalidated (None when empty).
    pub data: Option<&'a str>,
}

/// Most attachments one binary packet may announce (socket.io-parser has no limit; a bogus
/// count would otherwise make us wait for frames that never come).
pub const MAX_ATTACHMENTS: usize = 64;

impl<'a> Packet<'a> {
    /// Slice the header. Checks the JSON only where the type requires it (events and acks).
    pub fn decode(text: &'a str) -> Result<Packet<'a>, PacketError> {
        let bytes = text.as_bytes();
        let kind = bytes
            .first()
            .and_then(|&c| PacketKind::from_digit(c))
            .ok_or(PacketError::UnknownType)?;
        let mut rest = &text[1..];
        let mut attachments = 0;
        if matches!(kind, PacketKind::BinaryEvent | PacketKind::BinaryAck) {
            let dash = rest.find('-').ok_or(PacketError::BadAttachments)?;
            attachments = rest[..dash].parse().map_err(|_| PacketError::BadAttachments)?;
            if attachments > MAX_ATTACHMENTS {
                return Err(PacketError::TooManyAttachments(attachments));
            }
            rest = &rest[dash + 1..];
        }
        let mut namespace = "/";
        if rest.starts_with('/') {
            match rest.find(',') {
                Some(comma) => {
                    namespace = &rest[..comma];
                    rest = &rest[comma + 1..];
                }
                None => {
                    namespace = rest;
                    rest = "";
                }
            }
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack_id = if digits > 0 {
            Some(rest[..digits].parse().map_err(|_| PacketError::BadAckId)?)
        } else {
            None
        };
        rest = &rest[digits..];
        let data = if rest.is_empty() { None } else { Some(rest) };
        if matches!(
            kind,
            PacketKind::Event | PacketKind::BinaryEvent | PacketKind::Ack | PacketKind::BinaryAck
        ) && data.is_none()
        {
            return Err(PacketError::MissingData);
        }
        Ok(Packet { kind, namespace, ack_id, attachments, data })
    }

    /// An event's name and arguments (EVENT and BINARY_EVENT), validated, nesting limited,
    /// and sliced in one pass ([`json_check`]).
    pub fn event(&self) -> Result<EventArgs<'a>, PacketError> {
        let data = self.data.ok_or(PacketError::MissingData)?;
        let e = json_check::event_array(data, MAX_DEPTH).map_err(bad_json)?;
        Ok(EventArgs {
            name: e.name,
            args: e.args.into_iter().map(json_check::raw_value).collect(),
        })
    }

    /// An ack's arguments as one raw JSON array (ACK and BINARY_ACK).
    pub fn ack_args(&self) -> Result<&'a RawValue, PacketError> {
        let data = self.data.ok_or(PacketError::MissingData)?;
        let text = json_check::value(data, MAX_DEPTH).map_err(bad_json)?;
        if !text.starts_with('[') {
            return Err(PacketError::NotAnArray);
        }
        Ok(json_check::raw_value(text))
    }

    /// The refusal text of a CONNECT_ERROR: `{"message": …}` (v5) or a bare string (v2
    /// servers), verbatim; anything else as its raw text.
    pub fn refusal(&self) -> String {
        #[derive(Deserialize)]
        struct WithMessage {
            message: String,
        }
        let Some(data) = self.data else { return "no error message".into() };
        if let Ok(m) = serde_json::from_str::<WithMessage>(data) {
            return m.message;
        }
        serde_json::from_str::<String>(data).unwrap_or_else(|_| data.to_string())
    }
}

/// Deepest JSON nesting accepted (serde_json's own limit for trees), the packet's own array
/// included. Raw values are kept without recursion, so the limit is checked here: every
/// consumer that later builds a tree (a viewer, a tool) can then do so safely.
pub const MAX_DEPTH: usize = 128;

fn bad_json(e: JsonError) -> PacketError {
    match e {
        JsonError::TooDeep(_) => PacketError::TooDeep(MAX_DEPTH),
        JsonError::Syntax { .. } => PacketError::BadJson(e.to_string()),
    }
}

/// An event's name and its arguments, each still raw JSON.
#[derive(Debug)]
pub struct EventArgs<'a> {
    pub name: Cow<'a, str>,
    pub args: Vec<&'a RawValue>,
}

fn header(kind: PacketKind, namespace: &str, ack_id: Option<u64>) -> String {
    let mut s = String::with_capacity(32);
    s.push(kind.digit());
    if namespace != "/" {
        s.push_str(namespace);
        s.push(',');
    }
    if let Some(id) = ack_id {
        s.push_str(&id.to_string());
    }
    s
}

/// CONNECT for `namespace`, with the `auth` payload (v5 only; v2 servers take no payload).
pub fn encode_connect(namespace: &str, auth: Option<&RawValue>) -> String {
    let mut s = header(PacketKind::Connect, namespace, None);
    if let Some(a) = auth {
        s.push_str(a.get());
    }
    s
}

pub fn encode_disconnect(namespace: &str) -> String {
    header(PacketKind::Disconnect, namespace, None)
}

/// EVENT `name` with `args` (each a JSON value's text).
pub fn encode_event(
    namespace: &str,
    ack_id: Option<u64>,
    name: &str,
    args: &[&RawValue],
) -> String {
    let mut s = header(PacketKind::Event, namespace, ack_id);
    s.push('[');
    s.push_str(&serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into()));
    for a in args {
        s.push(',');
        s.push_str(a.get());
    }
    s.push(']');
    s
}

/// ACK `id` with `args` (each a JSON value's text).
pub fn encode_ack(namespace: &str, id: u64, args: &[&RawValue]) -> String {
    let mut s = header(PacketKind::Ack, namespace, Some(id));
    s.push('[');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(a.get());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    // Encodings from socketio/socket.io-protocol (v5 README; v4 for Socket.IO v2 servers).
    #[test]
    fn spec_examples_decode() {
        let p = Packet::decode("0").unwrap();
        assert_eq!((p.kind, p.namespace, p.data), (PacketKind::Connect, "/", None));
        let p = Packet::decode(r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#).unwrap();
        assert_eq!(
            (p.kind, p.namespace, p.data),
            (PacketKind::Connect, "/admin", Some(r#"{"sid":"oSO0OpakMV_3jnilAAAA"}"#))
        );
        let p = Packet::decode("0/admin").unwrap();
        assert_eq!((p.namespace, p.data), ("/admin", None), "v4 servers omit the trailing comma");
        let p = Packet::decode("1/admin,").unwrap();
        assert_eq!((p.kind, p.namespace), (PacketKind::Disconnect, "/admin"));
        let p = Packet::decode(r#"2["hello",1]"#).unwrap();
        let e = p.event().unwrap();
        assert_eq!((e.name.as_ref(), e.args.len(), e.args[0].get()), ("hello", 1, "1"));
        assert!(matches!(e.name, Cow::Borrowed(_)), "name borrowed from the frame");
        let p = Packet::decode(r#"2/admin,456["project:delete",123]"#).unwrap();
        assert_eq!((p.namespace, p.ack_id), ("/admin", Some(456)));
        let p = Packet::decode(r#"3/admin,456[]"#).unwrap();
        assert_eq!(
            (p.kind, p.ack_id, p.ack_args().unwrap().get()),
            (PacketKind::Ack, Some(456), "[]")
        );
        let p = Packet::decode(r#"4{"message":"Not authorized"}"#).unwrap();
        assert_eq!((p.kind, p.refusal()), (PacketKind::ConnectError, "Not authorized".to_string()));
        let p = Packet::decode(r#"4/site,"Invalid origin""#).unwrap();
        assert_eq!(p.refusal(), "Invalid origin", "v2 servers send a bare string");
        let p = Packet::decode(r#"51-["hello",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!((p.kind, p.attachments), (PacketKind::BinaryEvent, 1));
        let p = Packet::decode(r#"61-/admin,456[{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(
            (p.kind, p.attachments, p.namespace, p.ack_id),
            (PacketKind::BinaryAck, 1, "/admin", Some(456))
        );
    }

    #[test]
    fn names_with_escapes_and_lifecycle_names_are_plain_events() {
        let p = Packet::decode(r#"2/s,["a\"b",{"x":[1,2]},"t"]"#).unwrap();
        let e = p.event().unwrap();
        assert_eq!(e.name, "a\"b");
        assert_eq!(
            e.args.iter().map(|a| a.get()).collect::<Vec<_>>(),
            vec![r#"{"x":[1,2]}"#, r#""t""#]
        );
        for name in ["message", "error", "open", "close", "connect", "disconnect", "connect_error"]
        {
            let text = format!(r#"2/s,["{name}",{{"seq":1}}]"#);
            let p = Packet::decode(&text).unwrap();
            assert_eq!((p.kind, p.event().unwrap().name.as_ref()), (PacketKind::Event, name));
        }
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        for bad in [
            "",
            "9",
            "7[]",
            "2",
            "2/s,",
            "5[]",
            "5x-[]",
            "565-[]",
            "2/s,99999999999999999999999[\"a\"]",
        ] {
            assert!(Packet::decode(bad).is_err(), "{bad:?} should not decode");
        }
        for bad in [r#"2/s,["#, r#"2/s,[1,2]"#, r#"2/s,[]"#, r#"2/s,{"a":1}"#, r#"2/s,["a",]"#] {
            let p = Packet::decode(bad).unwrap();
            assert!(p.event().is_err(), "{bad:?} should not give an event");
        }
        let deep = format!(r#"2["deep",{}{}]"#, "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            Packet::decode(&deep).unwrap().event().unwrap_err(),
            PacketError::TooDeep(MAX_DEPTH),
            "nesting is limited"
        );
        let ok = format!(r#"2["deep",{}{}]"#, "[".repeat(MAX_DEPTH - 1), "]".repeat(MAX_DEPTH - 1));
        assert!(Packet::decode(&ok).unwrap().event().is_ok(), "up to the limit is fine");
        let quoted = format!(r#"2["s","{}\"{}"]"#, "[".repeat(500), "{".repeat(500));
        assert!(
            Packet::decode(&quoted).unwrap().event().is_ok(),
            "brackets inside strings do not count"
        );
        // An escaped backslash ends right before the closing quote: what follows is counted.
        let after_escape =
            format!(r#"2["s\\",{}{}]"#, "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            Packet::decode(&after_escape).unwrap().event().unwrap_err(),
            PacketError::TooDeep(MAX_DEPTH)
        );
        assert_eq!(
            Packet::decode("3/s,1{}").unwrap().ack_args().unwrap_err(),
            PacketError::NotAnArray
        );
    }

    #[test]
    fn encodings() {
        assert_eq!(encode_connect("/", None), "0");
        assert_eq!(encode_connect("/site", None), "0/site,");
        assert_eq!(encode_connect("/", Some(raw(r#"{"token":"t"}"#))), r#"0{"token":"t"}"#);
        assert_eq!(encode_disconnect("/site"), "1/site,");
        assert_eq!(encode_event("/site", None, "ping", &[]), r#"2/site,["ping"]"#);
        assert_eq!(
            encode_event(
                "/",
                Some(7),
                "doc_subscribe",
                &[raw(r#""Raven Channel""#), raw(r#""general""#)]
            ),
            r#"27["doc_subscribe","Raven Channel","general"]"#
        );
        assert_eq!(encode_ack("/s", 3, &[raw("1")]), "3/s,3[1]");
        let text = encode_event("/s", Some(12), "x\"y", &[raw(r#"{"a":1}"#)]);
        let p = Packet::decode(&text).unwrap();
        assert_eq!((p.ack_id, p.event().unwrap().name.as_ref()), (Some(12), "x\"y"));
    }
}
