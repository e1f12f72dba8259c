//! Probe steps on the wire's codec and transports. The probes make each Engine.IO request
//! on its own (not through a [`crate::wire::Connection`]) so that every step's status and
//! body can be shown as evidence; the framing, packets and upgrade are the client's own.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

use crate::wire::engine::{self, EioPacket, EioVersion, Handshake};
use crate::wire::packet::{self, Packet, PacketKind};
use crate::wire::{http, websocket};

pub use crate::wire::http::excerpt;
pub use crate::wire::websocket::{UpgradeError, Ws};

/// Bodies larger than this are not evidence, they are a problem of their own.
const BODY_LIMIT: usize = 4 << 20;

/// A plain HTTP answer, the body as text.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
    pub content_type: Option<String>,
}

pub fn eio_url(socket_url: &Url, version: EioVersion, transport: &str, sid: Option<&str>) -> Url {
    http::eio_url(socket_url, version, transport, sid)
}

pub async fn get(
    client: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
) -> Result<HttpAnswer, String> {
    let a = http::get(client, url, headers, BODY_LIMIT, None).await.map_err(|e| e.to_string())?;
    Ok(HttpAnswer {
        status: a.status,
        body: a.body.text().into_owned(),
        content_type: a.content_type,
    })
}

/// POST one Engine.IO packet, framed as a payload of `version`.
pub async fn post(
    client: &reqwest::Client,
    url: Url,
    headers: &[(String, String)],
    version: EioVersion,
    packet: String,
) -> Result<u16, String> {
    let body = engine::encode_payload(version, &[packet]);
    http::post(client, url, headers, body, BODY_LIMIT)
        .await
        .map(|a| a.status)
        .map_err(|e| e.to_string())
}

/// The packets of a polling body.
pub fn packets(version: EioVersion, body: &str) -> Vec<String> {
    engine::split_payload(version, body)
        .map(|p| p.into_iter().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The handshake in a polling body.
pub fn parse_open(version: EioVersion, body: &str) -> Option<Handshake> {
    let first = packets(version, body.trim_start()).into_iter().next()?;
    match EioPacket::decode(version, &first) {
        Ok(EioPacket::Open(data)) => Handshake::parse(data).ok(),
        _ => None,
    }
}

/// The namespace CONNECT as an Engine.IO message (v2 servers take no auth payload).
pub fn connect_packet(version: EioVersion, namespace: &str, auth: Option<&Value>) -> String {
    let auth = auth
        .filter(|_| version == EioVersion::V4)
        .and_then(|a| serde_json::value::to_raw_value(a).ok());
    EioPacket::Message(&packet::encode_connect(namespace, auth.as_deref())).encode()
}

/// What came back for a namespace CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub enum NsAnswer {
    Connected,
    Refused(String),
}

fn socketio<'a>(version: EioVersion, namespace: &str, text: &'a str) -> Option<Packet<'a>> {
    match EioPacket::decode(version, text) {
        Ok(EioPacket::Message(m)) => Packet::decode(m).ok().filter(|p| p.namespace == namespace),
        _ => None,
    }
}

/// CONNECT / CONNECT_ERROR for `namespace` in one Engine.IO packet.
pub fn ns_answer(version: EioVersion, namespace: &str, text: &str) -> Option<NsAnswer> {
    let p = socketio(version, namespace, text)?;
    match p.kind {
        PacketKind::Connect => Some(NsAnswer::Connected),
        PacketKind::ConnectError => Some(NsAnswer::Refused(p.refusal())),
        _ => None,
    }
}

/// The name of an EVENT for `namespace` in one Engine.IO packet.
pub fn event_name(version: EioVersion, namespace: &str, text: &str) -> Option<String> {
    let p = socketio(version, namespace, text)?;
    matches!(p.kind, PacketKind::Event)
        .then(|| p.event().ok().map(|e| e.name.into_owned()))
        .flatten()
}

/// An argument-less EVENT as an Engine.IO message.
pub fn event_packet(namespace: &str, name: &str) -> String {
    EioPacket::Message(&packet::encode_event(namespace, None, name, &[])).encode()
}

pub async fn ws_upgrade(
    url: Url,
    headers: &[(String, String)],
    tls: &crate::tls::TlsSettings,
    proxy: &crate::proxy::ProxyChoice,
    timeout: Duration,
) -> Result<Ws, UpgradeError> {
    websocket::connect(&url, headers, tls, proxy, timeout).await
}

/// Next text frame within `timeout`, answering Engine.IO pings on the way. `Err` when the
/// socket closed.
pub async fn ws_next(ws: &mut Ws, timeout: Duration) -> Result<Option<String>, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Ok(None),
            Ok(None) => return Err("closed".into()),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(Message::Text(t)))) => {
                if t.as_str() == "2" {
                    ws.send(Message::Text("3".into())).await.map_err(|e| e.to_string())?;
                    continue;
                }
                return Ok(Some(t.to_string()));
            }
            Ok(Some(Ok(Message::Close(_)))) => return Err("closed by the peer".into()),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

pub async fn ws_send(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(Message::Text(text.into())).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_steps_use_the_wire_codec() {
        let o = parse_open(EioVersion::V4, r#"0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#).unwrap();
        assert_eq!((o.sid.as_str(), o.ping_interval), ("abc", 25000));
        let v3 = parse_open(EioVersion::V3, r#"77:0{"sid":"x","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}2:40"#).unwrap();
        assert_eq!(v3.ping_timeout, 5000);
        assert_eq!(parse_open(EioVersion::V4, "<html>"), None);
        assert_eq!(connect_packet(EioVersion::V4, "/raven.test", None), "40/raven.test,");
        assert_eq!(
            connect_packet(EioVersion::V4, "/", Some(&serde_json::json!({"token":"t"}))),
            r#"40{"token":"t"}"#
        );
        assert_eq!(
            connect_packet(EioVersion::V3, "/", Some(&serde_json::json!({"token":"t"}))),
            "40"
        );
        let v4 = EioVersion::V4;
        assert_eq!(
            ns_answer(v4, "/raven.test", r#"44/raven.test,{"message":"Invalid origin"}"#),
            Some(NsAnswer::Refused("Invalid origin".into()))
        );
        assert_eq!(
            ns_answer(EioVersion::V3, "/raven.test", r#"44/raven.test,"Invalid origin""#),
            Some(NsAnswer::Refused("Invalid origin".into()))
        );
        assert_eq!(
            ns_answer(v4, "/raven.test", r#"40/raven.test,{"sid":"x"}"#),
            Some(NsAnswer::Connected)
        );
        assert_eq!(ns_answer(v4, "/raven.test", "40"), None, "another namespace");
        assert_eq!(
            ns_answer(v4, "/", r#"44{"message":"Authentication required"}"#),
            Some(NsAnswer::Refused("Authentication required".into()))
        );
        assert_eq!(
            event_name(v4, "/raven.test", r#"42/raven.test,["pong"]"#).as_deref(),
            Some("pong")
        );
        assert_eq!(event_packet("/raven.test", "ping"), r#"42/raven.test,["ping"]"#);
        assert_eq!(packets(v4, "2\u{1e}40/a,{}"), vec!["2", "40/a,{}"]);
    }
}
