//! The fields of an event payload that the typed views read, taken from its raw JSON text.
//!
//! Two ways in, one answer. [`read`] first walks the text once ([`super::json_walk`]),
//! borrowing the members it wants; the text is a `RawValue`, valid JSON already, so the walk
//! only finds boundaries and validates nothing again. Whenever the walk cannot vouch for what
//! serde would say (not an object, an escaped key, a wanted member twice, a value it does not
//! read itself) it gives up and serde decodes the same structs, with serde's answer and
//! serde's errors. serde's decode parsed every key and validated every skipped value a second
//! time; the view of a Raven message was a quarter of the client's ingest time.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_json::value::RawValue;

use super::json_walk::{Value, members};

/// The typed view decoded from the raw text, one struct per understood event. Only the
/// fields we use are read; the rest is skipped without building anything.
#[derive(Debug, Deserialize, Default)]
pub(super) struct AiWire<'a> {
    #[serde(rename = "type", borrow, default)]
    pub(super) kind: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) message: Loose<'a>,
    #[serde(default)]
    pub(super) step: Loose<'a>,
    #[serde(default)]
    pub(super) total: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) details: Option<Vec<Loose<'a>>>,
    #[serde(borrow, default)]
    pub(super) error: Loose<'a>,
}

/// The correlation fields any event may carry. Read beside a view (`read_both`: one walk, or
/// two serde passes) rather than `#[serde(flatten)]`ed into it: flatten makes serde buffer
/// every other field of the payload as a tree, the very allocation per event the raw path
/// exists to avoid.
#[derive(Debug, Deserialize, Default)]
pub(super) struct Meta<'a> {
    #[serde(borrow, default)]
    pub(super) task_id: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) conversation_id: Loose<'a>,
    #[serde(rename = "workflowId", borrow, default)]
    pub(super) workflow_id: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) run_id: Loose<'a>,
    #[serde(default)]
    pub(super) seq: Loose<'a>,
}

impl Meta<'_> {
    pub(super) fn run_key(&self) -> Option<String> {
        [&self.task_id, &self.conversation_id, &self.workflow_id, &self.run_id]
            .into_iter()
            .find_map(|v| {
                v.as_str().map(str::to_string).or_else(|| v.as_plain_u64().map(|n| n.to_string()))
            })
    }
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct RavenWire<'a> {
    #[serde(borrow, default)]
    pub(super) channel_id: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) sender: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) message_id: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) message_details: Option<DetailsWire<'a>>,
    /// The walk met `message_details` (perhaps `null`): a second one is serde's to refuse.
    #[serde(skip)]
    details_seen: bool,
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct DetailsWire<'a> {
    #[serde(borrow, default)]
    pub(super) content: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) text: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) message_type: Loose<'a>,
    #[serde(default)]
    pub(super) is_bot_message: Loose<'a>,
    #[serde(borrow, default)]
    pub(super) creation: Loose<'a>,
}

#[derive(Deserialize)]
pub(super) struct AgentWire<'a> {
    #[serde(rename = "workflowId", borrow, default)]
    pub(super) workflow_id: Loose<'a>,
    #[serde(default)]
    pub(super) data: Option<Box<RawValue>>,
    #[serde(borrow, default)]
    pub(super) timestamp: Loose<'a>,
}

/// A JSON value seen only as far as a string or a number; anything else is skipped.
#[derive(Debug, Default)]
pub(super) enum Loose<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    U64(u64),
    Bool(bool),
    Null,
    /// A number that is not a u64, an array or an object: its JSON text.
    Other(String),
}

impl<'a> Loose<'a> {
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(super) fn as_plain_u64(&self) -> Option<u64> {
        match self {
            Loose::U64(n) => Some(*n),
            _ => None,
        }
    }
    /// A number, or a string holding one (agents send both).
    pub(super) fn as_u64(&self) -> Option<u64> {
        self.as_plain_u64().or_else(|| self.as_str().and_then(|s| s.parse().ok()))
    }
    pub(super) fn string(&self) -> Option<String> {
        self.as_str().map(str::to_string)
    }
    pub(super) fn text(&self) -> String {
        match self {
            Loose::Str(s) => s.to_string(),
            Loose::U64(n) => n.to_string(),
            Loose::Bool(b) => b.to_string(),
            Loose::Null | Loose::Absent => String::new(),
            Loose::Other(t) => t.clone(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Loose<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Loose<'a>, E> {
                Ok(Loose::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose<'a>, E> {
                Ok(Loose::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Loose<'a>, E> {
                Ok(Loose::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose<'a>, E> {
                Ok(Loose::U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose<'a>, E> {
                Ok(Loose::Other(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose<'a>, E> {
                Ok(Loose::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Loose<'a>, E> {
                Ok(Loose::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Loose<'a>, E> {
                Ok(Loose::Null)
            }
            fn visit_some<D2: serde::Deserializer<'de>>(
                self,
                d: D2,
            ) -> Result<Loose<'a>, D2::Error> {
                Loose::deserialize(d)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Loose<'a>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other("[…]".into()))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Loose<'a>, A::Error> {
                while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                Ok(Loose::Other("{…}".into()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A typed view that the one-pass walk can fill; serde decodes it when the walk gives up.
pub(super) trait Walked<'a>: Deserialize<'a> + Default {
    /// Take one member; `None` when serde must decide (unread value, duplicate member).
    fn take(&mut self, key: &'a str, value: &mut Value<'a>) -> Option<()>;
}

/// Decode a view from a payload's raw JSON text.
pub(super) fn read<'a, T: Walked<'a>>(text: &'a str) -> Result<T, String> {
    let mut view = T::default();
    if members(text, 0, &mut |k, v| view.take(k, v)).is_some() {
        return Ok(view);
    }
    serde_decode(text)
}

/// Two views of one payload (a view and its correlation fields) in one walk.
pub(super) fn read_both<'a, A: Walked<'a>, B: Walked<'a>>(text: &'a str) -> Result<(A, B), String> {
    let (mut a, mut b) = (A::default(), B::default());
    if members(text, 0, &mut |k, v| {
        a.take(k, v)?;
        b.take(k, v)
    })
    .is_some()
    {
        return Ok((a, b));
    }
    Ok((serde_decode(text)?, serde_decode(text)?))
}

pub(super) fn serde_decode<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("payload does not fit: {e}"))
}

impl<'a> Walked<'a> for AiWire<'a> {
    fn take(&mut self, key: &'a str, v: &mut Value<'a>) -> Option<()> {
        match key {
            "type" => once(&mut self.kind, v),
            "message" => once(&mut self.message, v),
            "step" => once(&mut self.step, v),
            "total" => once(&mut self.total, v),
            "error" => once(&mut self.error, v),
            // Step details are a list: serde reads them.
            "details" => None,
            _ => Some(()),
        }
    }
}

/// Fill a slot once: a second member of the same name is an error for serde, so it decides.
fn once<'a>(slot: &mut Loose<'a>, value: &mut Value<'a>) -> Option<()> {
    if !matches!(slot, Loose::Absent) {
        return None;
    }
    *slot = loose(value)?;
    Some(())
}

/// A string without escapes is borrowed, a plain unsigned integer parsed; anything else
/// (escapes, negative or large numbers, literals, arrays, objects) is serde's to say.
fn loose<'a>(value: &mut Value<'a>) -> Option<Loose<'a>> {
    if let Some(s) = value.plain_str() {
        return Some(Loose::Str(Cow::Borrowed(s)));
    }
    let raw = value.raw()?;
    if raw.len() <= 19 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().ok().map(Loose::U64);
    }
    serde_json::from_str(raw).ok()
}

impl<'a> Walked<'a> for Meta<'a> {
    fn take(&mut self, key: &'a str, v: &mut Value<'a>) -> Option<()> {
        match key {
            "task_id" => once(&mut self.task_id, v),
            "conversation_id" => once(&mut self.conversation_id, v),
            "workflowId" => once(&mut self.workflow_id, v),
            "run_id" => once(&mut self.run_id, v),
            "seq" => once(&mut self.seq, v),
            _ => Some(()),
        }
    }
}

impl<'a> Walked<'a> for RavenWire<'a> {
    fn take(&mut self, key: &'a str, v: &mut Value<'a>) -> Option<()> {
        match key {
            "channel_id" => once(&mut self.channel_id, v),
            "sender" => once(&mut self.sender, v),
            "message_id" => once(&mut self.message_id, v),
            "message_details" => {
                if self.details_seen {
                    // A second one is serde's to refuse.
                    return None;
                }
                self.details_seen = true;
                if v.is_null() {
                    // Serde's `None`.
                    return Some(());
                }
                let mut d = DetailsWire::default();
                v.members(&mut |k, x| d.take(k, x))?;
                self.message_details = Some(d);
                Some(())
            }
            _ => Some(()),
        }
    }
}

impl<'a> Walked<'a> for DetailsWire<'a> {
    fn take(&mut self, key: &'a str, v: &mut Value<'a>) -> Option<()> {
        match key {
            "content" => once(&mut self.content, v),
            "text" => once(&mut self.text, v),
            "message_type" => once(&mut self.message_type, v),
            "is_bot_message" => once(&mut self.is_bot_message, v),
            "creation" => once(&mut self.creation, v),
            _ => Some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The walk's view, or `None` where it leaves the payload to serde.
    fn walked<'a, T: Walked<'a>>(text: &'a str) -> Option<T> {
        let mut view = T::default();
        members(text, 0, &mut |k, v| view.take(k, v))?;
        Some(view)
    }

    /// Whatever the walk accepts, serde decodes to the same view.
    fn agrees<'a, T: Walked<'a> + std::fmt::Debug>(text: &'a str, clear: impl Fn(&mut T)) {
        if let Some(mut w) = walked::<T>(text) {
            clear(&mut w);
            let s: T =
                serde_decode(text).unwrap_or_else(|e| panic!("walked but serde: {e}: {text}"));
            assert_eq!(format!("{w:?}"), format!("{s:?}"), "{text}");
        }
    }

    fn check(text: &str) {
        agrees::<RavenWire<'_>>(text, |w| w.details_seen = false);
        agrees::<AiWire<'_>>(text, |_| {});
        agrees::<Meta<'_>>(text, |_| {});
    }

    #[test]
    fn a_raven_message_is_walked_and_borrowed() {
        let text = r#"{"channel_id":"general","sender":"bob@example.com","message_id":"m1",
            "message_details":{"content":"hi","text":"<p>hi</p>","message_type":"Text",
            "is_bot_message":0,"creation":"2026-11-23 10:00:00.000001","file":null,"x":[1,{"a":"}"}]}}"#;
        let w: RavenWire<'_> = walked(text).expect("a plain message is walked");
        let d = w.message_details.as_ref().unwrap();
        assert!(matches!(&d.text, Loose::Str(Cow::Borrowed("<p>hi</p>"))));
        assert_eq!(d.is_bot_message.as_plain_u64(), Some(0));
        assert_eq!(d.creation.as_str(), Some("2026-11-23 10:00:00.000001"));
        check(text);
    }

    #[test]
    fn what_the_walk_cannot_vouch_for_goes_to_serde() {
        for text in [
            r#"{"channel_id":"a","channel_id":"b"}"#,
            r#"{"chann\u0065l_id":"a"}"#,
            r#"["not","an","object"]"#,
            r#"{"message_details":null,"message_details":{}}"#,
            r#"{"type":"step_complete","details":["a",1]}"#,
        ] {
            assert!(
                walked::<RavenWire<'_>>(text).is_none() || walked::<AiWire<'_>>(text).is_none(),
                "{text}"
            );
            check(text);
        }
        // Escapes, negative and large numbers are serde's to read, and read the same.
        check(
            r#"{"channel_id":"a\"b","message_id":-1,"sender":18446744073709551616,"message_details":{"creation":1.5,"content":true}}"#,
        );
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("channel_id"),
            Just("sender"),
            Just("message_id"),
            Just("message_details"),
            Just("content"),
            Just("text"),
            Just("message_type"),
            Just("is_bot_message"),
            Just("creation"),
            Just("type"),
            Just("message"),
            Just("step"),
            Just("total"),
            Just("details"),
            Just("error"),
            Just("task_id"),
            Just("workflowId"),
            Just("seq"),
            Just("x"),
            Just("t\\u0065xt"),
            Just("a\\\"b"),
        ]
        .prop_map(|k| format!("\"{k}\""))
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just(""), Just(" "), Just("\n\t ")]
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z <>}\\]{\\[,:]{0,10}".prop_map(|s| format!("\"{s}\"")),
            Just(r#""a\"b\\""#.to_string()),
            Just(r#""\u00e9\n""#.to_string()),
            Just("0".to_string()),
            Just("42".to_string()),
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("-3".to_string()),
            Just("1.5e3".to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        leaf().prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec((ws(), key(), ws(), inner.clone()), 0..6).prop_map(|m| {
                    let members: Vec<String> =
                        m.into_iter().map(|(a, k, b, v)| format!("{a}{k}{b}:{a}{v}{b}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
                prop::collection::vec(inner, 0..4).prop_map(|v| format!("[{}]", v.join(" , "))),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_walk_and_serde_read_the_same_view(text in value(), pad in ws()) {
            let text = format!("{pad}{text}{pad}");
            prop_assume!(serde_json::from_str::<&RawValue>(&text).is_ok());
            check(&text);
        }

        /// The walk is only handed valid JSON, but broken text must not make it panic or hang.
        #[test]
        fn any_text_is_walked_or_declined(text in r#"[{}\[\]",:\\ a0-9tnul]{0,120}"#) {
            let _ = walked::<RavenWire<'_>>(&text);
            let _ = walked::<AiWire<'_>>(&text);
        }
    }
}
