//! Engine.IO packets and polling payloads, v3 and v4, without I/O.
//!
//! Engine.IO carries Socket.IO: every packet is one type digit and its data. Over WebSocket
//! one frame is one packet; over HTTP long-polling one body holds several, framed differently
//! per version (socketio/engine.io-protocol):
//!
//! - v4: text packets joined by the record separator `\x1e`; binary as `b<base64>`.
//! - v3: `<length>:<packet>` repeated, the length counted in UTF-16 code units (JavaScript
//!   string length); binary as `b<type><base64>` in text payloads, or a binary payload
//!   (`application/octet-stream`: `<0|1><length digits as bytes>\xff<data>` repeated).

use base64::Engine as _;

use super::error::FrameError;

/// The Engine.IO protocol revision a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EioVersion {
    /// Socket.IO v2 servers (engine.io 3.x): the client sends the pings.
    V3,
    /// Socket.IO v3/v4 servers (engine.io 4+): the server sends the pings.
    V4,
}

impl EioVersion {
    /// The `EIO` query value.
    pub fn query(self) -> &'static str {
        match self {
            EioVersion::V3 => "3",
            EioVersion::V4 => "4",
        }
    }

    /// How people name the server: "Socket.IO v2 (EIO 3)".
    pub fn server_label(self) -> &'static str {
        match self {
            EioVersion::V3 => "Socket.IO v2 server (EIO 3)",
            EioVersion::V4 => "Socket.IO v3/v4 server (EIO 4)",
        }
    }
}

/// One Engine.IO packet, borrowing its data from the frame it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioPacket<'a> {
    /// `0{json}`: the handshake (sid, upgrades, pingInterval, pingTimeout, maxPayload).
    Open(&'a str),
    /// `1`: the server closes the session.
    Close,
    /// `2` (or `2probe` during an upgrade).
    Ping(&'a str),
    /// `3` (or `3probe`).
    Pong(&'a str),
    /// `4…`: a Socket.IO packet as text.
    Message(&'a str),
    /// A binary message (WebSocket binary frame, or base64 in a polling payload).
    Binary(Vec<u8>),
    /// `5`: the transport upgrade is complete.
    Upgrade,
    /// `6`: nothing (sent to a pending poll during an upgrade).
    Noop,
}

impl<'a> EioPacket<'a> {
    /// Decode one text packet (a WebSocket text frame, or one packet of a payload). The
    /// version matters only for base64 binary: v3 writes the packet type after the `b`.
    pub fn decode(version: EioVersion, text: &'a str) -> Result<EioPacket<'a>, FrameError> {
        let mut chars = text.chars();
        let kind = chars.next().ok_or(FrameError::Empty)?;
        let data = &text[kind.len_utf8()..];
        Ok(match kind {
            '0' => EioPacket::Open(data),
            '1' => EioPacket::Close,
            '2' => EioPacket::Ping(data),
            '3' => EioPacket::Pong(data),
            '4' => EioPacket::Message(data),
            '5' => EioPacket::Upgrade,
            '6' => EioPacket::Noop,
            'b' => EioPacket::Binary(decode_base64(match version {
                EioVersion::V3 => data.strip_prefix('4').ok_or(FrameError::BadBase64)?,
                EioVersion::V4 => data,
            })?),
            other => return Err(FrameError::UnknownType(other)),
        })
    }

    /// Encode for sending (text packets only; Sockeye never sends binary).
    pub fn encode(&self) -> String {
        match self {
            EioPacket::Open(d) => format!("0{d}"),
            EioPacket::Close => "1".into(),
            EioPacket::Ping(d) => format!("2{d}"),
            EioPacket::Pong(d) => format!("3{d}"),
            EioPacket::Message(d) => format!("4{d}"),
            EioPacket::Binary(b) => {
                format!("b{}", base64::engine::general_purpose::STANDARD.encode(b))
            }
            EioPacket::Upgrade => "5".into(),
            EioPacket::Noop => "6".into(),
        }
    }
}

fn decode_base64(data: &str) -> Result<Vec<u8>, FrameError> {
    base64::engine::general_purpose::STANDARD.decode(data).map_err(|_| FrameError::BadBase64)
}

/// A WebSocket binary frame as a packet: v4 sends the bytes as is, v3 prefixes the type byte.
pub fn decode_ws_binary(version: EioVersion, bytes: &[u8]) -> Result<Vec<u8>, FrameError> {
    match version {
        EioVersion::V4 => Ok(bytes.to_vec()),
        EioVersion::V3 => match bytes.split_first() {
            Some((4, rest)) => Ok(rest.to_vec()),
            Some((t, _)) => Err(FrameError::UnknownType(char::from(b'0'.saturating_add(*t)))),
            None => Err(FrameError::Empty),
        },
    }
}

/// The handshake, as advertised in the open packet.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Handshake {
    pub sid: String,
    #[serde(default)]
    pub upgrades: Vec<String>,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    /// Absent on engine.io 3.x and early 4.x servers.
    pub max_payload: Option<u64>,
}

impl Handshake {
    pub fn parse(data: &str) -> Result<Handshake, FrameError> {
        serde_json::from_str(data).map_err(|e| FrameError::BadHandshake(e.to_string()))
    }
}

/// A polling response body split into packets, each still to be decoded. Framing errors end
/// the iteration (the rest of the body cannot be trusted).
pub fn split_payload(version: EioVersion, body: &str) -> Result<Vec<&str>, FrameError> {
    match version {
        EioVersion::V4 => {
            // `memchr`'s vector search: a burst's body is ~100 KB of packets.
            let mut packets = Vec::new();
            let mut start = 0;
            for sep in memchr::memchr_iter(0x1e, body.as_bytes()) {
                packets.push(&body[start..sep]);
                start = sep + 1;
            }
            packets.push(&body[start..]);
            Ok(packets)
        }
        EioVersion::V3 => split_v3(body),
    }
}

/// `<len>:<packet>…` where len counts UTF-16 code units.
fn split_v3(mut body: &str) -> Result<Vec<&str>, FrameError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        let colon = body.find(':').ok_or(FrameError::BadLength)?;
        let len: usize = body[..colon].parse().map_err(|_| FrameError::BadLength)?;
        let rest = &body[colon + 1..];
        let mut units = 0usize;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if units == len {
                end = i;
                break;
            }
            units += c.len_utf16();
        }
        if units < len || (units > len && end == rest.len()) {
            return Err(FrameError::BadLength);
        }
        out.push(&rest[..end]);
        body = &rest[end..];
    }
    Ok(out)
}

/// Whether a body looks like v3 framing (`96:0{…}`), used to detect an engine.io 3 server
/// that ignored `EIO=4`.
pub fn looks_like_v3(body: &str) -> bool {
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && body.as_bytes().get(digits) == Some(&b':')
}

/// A v3 binary payload (`application/octet-stream`) as packets: text packets as strings,
/// binary ones base64-encoded as `b4…` so one decoder handles both.
pub fn split_v3_binary(mut body: &[u8]) -> Result<Vec<String>, FrameError> {
    let mut out = Vec::new();
    while let Some((&kind, rest)) = body.split_first() {
        let sep = rest.iter().position(|&b| b == 0xff).ok_or(FrameError::BadLength)?;
        let mut len = 0usize;
        for &d in &rest[..sep] {
            if d > 9 || len > 100_000_000 {
                return Err(FrameError::BadLength);
            }
            len = len * 10 + d as usize;
        }
        let data = rest.get(sep + 1..sep + 1 + len).ok_or(FrameError::BadLength)?;
        out.push(match kind {
            0 => String::from_utf8(data.to_vec()).map_err(|_| FrameError::NotUtf8)?,
            1 => match data.split_first() {
                Some((4, bin)) => {
                    format!("b4{}", base64::engine::general_purpose::STANDARD.encode(bin))
                }
                _ => return Err(FrameError::BadLength),
            },
            _ => return Err(FrameError::BadLength),
        });
        body = &rest[sep + 1 + len..];
    }
    Ok(out)
}

/// Join packets into one polling request body.
pub fn encode_payload(version: EioVersion, packets: &[String]) -> String {
    match version {
        EioVersion::V4 => packets.join("\u{1e}"),
        EioVersion::V3 => {
            let mut s = String::new();
            for p in packets {
                s.push_str(&p.encode_utf16().count().to_string());
                s.push(':');
                s.push_str(p);
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Encodings from socketio/engine.io-protocol (v4 README, v3 branch).
    #[test]
    fn every_packet_type_round_trips() {
        for (text, packet) in [
            (
                r#"0{"sid":"lv_VI97HAXpY6yYWAAAC"}"#,
                EioPacket::Open(r#"{"sid":"lv_VI97HAXpY6yYWAAAC"}"#),
            ),
            ("1", EioPacket::Close),
            ("2", EioPacket::Ping("")),
            ("2probe", EioPacket::Ping("probe")),
            ("3", EioPacket::Pong("")),
            ("3probe", EioPacket::Pong("probe")),
            ("4hello", EioPacket::Message("hello")),
            ("5", EioPacket::Upgrade),
            ("6", EioPacket::Noop),
            ("bAQIDBA==", EioPacket::Binary(vec![1, 2, 3, 4])),
        ] {
            assert_eq!(EioPacket::decode(EioVersion::V4, text).unwrap(), packet, "{text}");
            assert_eq!(packet.encode(), text);
        }
        assert_eq!(
            EioPacket::decode(EioVersion::V3, "b4AQIDBA==").unwrap(),
            EioPacket::Binary(vec![1, 2, 3, 4]),
            "v3 base64 binary"
        );
        // v4 base64 may itself start with '4': never stripped.
        assert_eq!(
            EioPacket::decode(EioVersion::V4, "b4A==").unwrap(),
            EioPacket::Binary(vec![0xe0])
        );
        assert_eq!(EioPacket::decode(EioVersion::V4, ""), Err(FrameError::Empty));
        assert_eq!(EioPacket::decode(EioVersion::V4, "9"), Err(FrameError::UnknownType('9')));
        assert_eq!(EioPacket::decode(EioVersion::V4, "b!!"), Err(FrameError::BadBase64));
    }

    #[test]
    fn v4_payload() {
        let body = "4hello\u{1e}bAQIDBA==\u{1e}2";
        assert_eq!(split_payload(EioVersion::V4, body).unwrap(), vec!["4hello", "bAQIDBA==", "2"]);
        assert_eq!(encode_payload(EioVersion::V4, &["4a".into(), "4b".into()]), "4a\u{1e}4b");
    }

    #[test]
    fn v3_payload_counts_utf16_units() {
        // "4€" is 2 units; "4😀" is 3 (the emoji is a surrogate pair).
        let body = "6:4hello2:4€3:4😀1:2";
        assert_eq!(split_payload(EioVersion::V3, body).unwrap(), vec!["4hello", "4€", "4😀", "2"]);
        let packets: Vec<String> = vec!["4hello".into(), "4😀".into()];
        assert_eq!(encode_payload(EioVersion::V3, &packets), "6:4hello3:4😀");
        assert!(looks_like_v3("96:0{\"sid\":1}"));
        assert!(!looks_like_v3("0{\"sid\":1}"));
        for bad in ["x:4a", "9:4a", "4a", "2:4😀"] {
            assert_eq!(split_payload(EioVersion::V3, bad), Err(FrameError::BadLength), "{bad}");
        }
    }

    #[test]
    fn v3_binary_payload() {
        let mut body = vec![0u8, 6, 0xff];
        body.extend_from_slice(b"4hello");
        body.extend_from_slice(&[1, 5, 0xff, 4, 1, 2, 3, 4]);
        let p = split_v3_binary(&body).unwrap();
        assert_eq!(p[0], "4hello");
        assert_eq!(
            EioPacket::decode(EioVersion::V3, &p[1]).unwrap(),
            EioPacket::Binary(vec![1, 2, 3, 4])
        );
        assert_eq!(split_v3_binary(&[0, 9, 0xff, b'4']), Err(FrameError::BadLength));
        assert_eq!(decode_ws_binary(EioVersion::V3, &[4, 7]).unwrap(), vec![7]);
        assert_eq!(decode_ws_binary(EioVersion::V4, &[4, 7]).unwrap(), vec![4, 7]);
    }

    #[test]
    fn handshake_fields() {
        let h = Handshake::parse(r#"{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#).unwrap();
        assert_eq!(
            (h.sid.as_str(), h.ping_interval, h.max_payload),
            ("abc", 25000, Some(1_000_000))
        );
        let v3 = Handshake::parse(
            r#"{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":5000}"#,
        )
        .unwrap();
        assert_eq!(v3.max_payload, None);
        assert!(Handshake::parse("<html>").is_err());
    }
}
