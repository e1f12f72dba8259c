//! Property tests (a stable-Rust fuzzer) for the wire codec and the typed event views: any
//! input is an error value or a packet, never a panic; what we encode decodes to itself.
//! CI runs the default case count; a longer run: `PROPTEST_CASES=200000 cargo test -p
//! sockeye-core --release --test fuzz_codec`.

use proptest::prelude::*;
use serde_json::value::RawValue;
use sockeye_core::events::RealtimeEvent;
use sockeye_core::wire::engine::{self, EioPacket, EioVersion};
use sockeye_core::wire::json_check;
use sockeye_core::wire::packet::{self, Packet};

fn versions() -> impl Strategy<Value = EioVersion> {
    prop_oneof![Just(EioVersion::V3), Just(EioVersion::V4)]
}

/// Valid JSON values, nested a little.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,20}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(".{0,8}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Texts near valid packets: real encodings with bytes cut, repeated or replaced.
fn mangled() -> impl Strategy<Value = String> {
    let seeds = prop_oneof![
        Just(r#"42/site,["message_created",{"channel_id":"general","message_details":{"content":"hi"}}]"#.to_string()),
        Just(r#"451-/site,["bin",{"_placeholder":true,"num":0}]"#.to_string()),
        Just(r#"43/site,12[{"ok":true}]"#.to_string()),
        Just(r#"44/site,{"message":"Invalid origin"}"#.to_string()),
        Just(r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}"#.to_string()),
        Just("77:0{\"sid\":\"x\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":5000}2:40".to_string()),
        Just("4a\u{1e}bAQID\u{1e}2probe".to_string()),
    ];
    (seeds, any::<usize>(), any::<usize>(), ".{0,4}").prop_map(|(s, a, b, ins)| {
        let chars: Vec<char> = s.chars().collect();
        let (i, j) = (a % (chars.len() + 1), b % (chars.len() + 1));
        let (lo, hi) = (i.min(j), i.max(j));
        let mut out: String = chars[..lo].iter().collect();
        out.push_str(&ins);
        out.extend(&chars[hi..]);
        out
    })
}

fn decode_everything(v: EioVersion, text: &str) {
    let _ = EioPacket::decode(v, text);
    if let Ok(parts) = engine::split_payload(v, text) {
        for p in parts {
            if let Ok(EioPacket::Message(m)) = EioPacket::decode(v, p) {
                decode_socketio(m);
            }
        }
    }
    let _ = engine::looks_like_v3(text);
    decode_socketio(text);
}

fn decode_socketio(text: &str) {
    if let Ok(p) = Packet::decode(text) {
        let _ = p.event();
        let _ = p.ack_args();
        let _ = p.refusal();
    }
}

/// Texts near JSON: valid values with a span cut and a few JSON-ish characters put in.
fn near_json() -> impl Strategy<Value = String> {
    let noise = prop::collection::vec(
        prop_oneof![
            Just("\""),
            Just("\\"),
            Just("\\u"),
            Just("{"),
            Just("}"),
            Just("["),
            Just("]"),
            Just(","),
            Just(":"),
            Just(" "),
            Just("0"),
            Just("-"),
            Just("."),
            Just("e"),
            Just("+"),
            Just("1"),
            Just("t"),
            Just("null"),
            Just("\u{1}"),
            Just("\n"),
            Just("é"),
            Just("a"),
            Just("F"),
        ],
        0..4,
    )
    .prop_map(|v| v.concat());
    (json(), any::<usize>(), any::<usize>(), noise).prop_map(|(v, a, b, ins)| {
        let chars: Vec<char> = serde_json::to_string(&v).unwrap().chars().collect();
        let (i, j) = (a % (chars.len() + 1), b % (chars.len() + 1));
        let (lo, hi) = (i.min(j), i.max(j));
        let hi = hi.min(lo + 3);
        let mut out: String = chars[..lo].iter().collect();
        out.push_str(&ins);
        out.extend(&chars[hi..]);
        out
    })
}

/// Short texts of JSON tokens and near-tokens, most of them a few edits from valid.
fn json_tokens() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("0"),
        Just("01"),
        Just("-"),
        Just("-0"),
        Just("1."),
        Just(".5"),
        Just("1e5"),
        Just("2E-3"),
        Just("1e"),
        Just("12"),
        Just("\"a\""),
        Just("\"\\u12\""),
        Just("\"\\u00e9\""),
        Just("\"\\x\""),
        Just("\"\n\""),
        Just("\""),
        Just("["),
        Just("]"),
        Just("{"),
        Just("}"),
        Just(","),
        Just(":"),
        Just("true"),
        Just("nul"),
        Just("null"),
        Just(" "),
        Just("\t"),
    ];
    prop::collection::vec(token, 1..8).prop_map(|v| v.concat())
}

/// What serde_json says of `text` as one value (the reference for our own check).
fn serde_accepts(text: &str) -> bool {
    serde_json::from_str::<&RawValue>(text).is_ok()
}

proptest! {
    /// Our one-pass check accepts exactly what serde_json accepts (nothing here nests deeper
    /// than the limit), and an event array splits into the arguments serde finds.
    #[test]
    fn json_check_agrees_with_serde(text in prop_oneof![near_json(), json_tokens(), "[\\[\\]{}\",:0-9a-z .+\\\\-]{0,30}"]) {
        prop_assert_eq!(json_check::value(&text, 128).is_ok(), serde_accepts(&text), "{:?}", text);
        let event = format!(r#"["e",{text}]"#);
        let ours = json_check::event_array(&event, 128).ok().map(|e| e.args);
        let theirs = serde_json::from_str::<Vec<&RawValue>>(&event)
            .ok()
            .map(|v| v[1..].iter().map(|r| r.get()).collect::<Vec<_>>());
        prop_assert_eq!(ours, theirs, "{:?}", event);
    }

    #[test]
    fn any_text_decodes_or_errs(v in versions(), text in ".{0,200}") {
        decode_everything(v, &text);
    }

    #[test]
    fn mangled_packets_decode_or_err(v in versions(), text in mangled()) {
        decode_everything(v, &text);
    }

    #[test]
    fn any_bytes_as_binary_payloads(bytes in prop::collection::vec(any::<u8>(), 0..200), v in versions()) {
        let _ = engine::split_v3_binary(&bytes);
        let _ = engine::decode_ws_binary(v, &bytes);
    }

    #[test]
    fn payloads_round_trip(v in versions(), packets in prop::collection::vec("[^\u{1e}]{1,40}", 1..8)) {
        let body = engine::encode_payload(v, &packets);
        let split = engine::split_payload(v, &body).unwrap();
        prop_assert_eq!(split, packets.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn events_round_trip(ns in prop_oneof![Just("/".to_string()), "/[a-z.]{1,12}"], id in proptest::option::of(any::<u32>()), name in ".{0,16}", args in prop::collection::vec(json(), 0..4)) {
        let raws: Vec<Box<RawValue>> = args.iter().map(|a| serde_json::value::to_raw_value(a).unwrap()).collect();
        let refs: Vec<&RawValue> = raws.iter().map(|r| r.as_ref()).collect();
        let text = packet::encode_event(&ns, id.map(u64::from), &name, &refs);
        let p = Packet::decode(&text).unwrap();
        prop_assert_eq!(p.namespace, ns.as_str());
        prop_assert_eq!(p.ack_id, id.map(u64::from));
        let e = p.event().unwrap();
        prop_assert_eq!(e.name.as_ref(), name.as_str());
        // Byte for byte: the arguments are never re-serialised.
        let got: Vec<&str> = e.args.iter().map(|a| a.get()).collect();
        let want: Vec<String> = args.iter().map(|a| serde_json::to_string(a).unwrap()).collect();
        prop_assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn typed_views_never_fail_on_any_payload(name in prop_oneof![Just("ai_progress"), Just("message_created"), Just("message_edited"), Just("agent:thought"), Just("message_deleted"), Just("ai_event"), Just("task_progress"), Just("doc_update"), Just("list_update")], payload in json()) {
        let text = serde_json::to_string(&payload).unwrap();
        let e = RealtimeEvent::from_raw(name, RawValue::from_string(text.clone()).unwrap(), Some("u@x"));
        prop_assert_eq!(e.payload.get(), text.as_str(), "the raw payload is kept byte for byte");
    }
}
