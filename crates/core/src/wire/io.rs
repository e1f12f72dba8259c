//! The two halves of a transport once the handshake is done: a reader that yields what the
//! server sent (cancel-safe, so the connection task can `select!` on it) and a writer task
//! fed by a queue, so sending never waits on receiving.

use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt, future};
use std::future::Future;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::engine::{self, EioVersion};
use super::http::{self, Body};
use super::websocket::{FRAME_CEILING, Ws};

/// What the reader got.
pub enum Incoming {
    /// One Engine.IO packet (a WebSocket text frame).
    Text(String),
    /// A WebSocket binary frame.
    Binary(Vec<u8>),
    /// A polling body: several packets.
    Body(Body),
    /// The transport ended cleanly (close frame, end of stream); the peer's reason if any.
    Closed(Option<String>),
    /// The transport failed.
    Failed(String),
}

/// Where frames come from.
pub enum Reader {
    Ws(SplitStream<Ws>),
    /// Bodies from the long-poll task, and the token that stops it after the GET in flight
    /// (an upgrade in place: the server answers that GET with a `noop`).
    Polling {
        bodies: mpsc::Receiver<Incoming>,
        pause: CancellationToken,
    },
}

impl Reader {
    /// The next thing the server sent. Cancel-safe: WebSocket reads and channel receives lose
    /// nothing when dropped before completion.
    pub async fn next(&mut self) -> Incoming {
        match self {
            Reader::Ws(ws) => loop {
                return match ws.next().await {
                    None => Incoming::Closed(None),
                    Some(Err(e)) => Incoming::Failed(crate::error_text::error_chain(&e)),
                    Some(Ok(Message::Text(t))) => Incoming::Text(t.as_str().to_owned()),
                    Some(Ok(Message::Binary(b))) => Incoming::Binary(b.to_vec()),
                    Some(Ok(Message::Close(frame))) => Incoming::Closed(frame.map(|f| {
                        format!("WebSocket close {} {}", u16::from(f.code), f.reason)
                            .trim_end()
                            .to_string()
                    })),
                    // Control frames are answered by tungstenite itself.
                    Some(Ok(_)) => continue,
                };
            },
            Reader::Polling { bodies, .. } => bodies.recv().await.unwrap_or(Incoming::Closed(None)),
        }
    }
}

/// What the connection asks the writer to do.
pub enum Out {
    /// One Engine.IO packet as text.
    Packet(String),
    /// Flush what is queued, close the transport and stop.
    Close,
    /// Send what was queued before this, then give the queue back: the session moves to
    /// another transport (an upgrade in place) and nothing queued is lost or reordered.
    Handover(oneshot::Sender<WriterParts>),
}

/// What a writer task owns: the queue and the signals. Passed from one transport's writer
/// to the next on [`Out::Handover`], so senders keep the same queue across an upgrade.
pub struct WriterParts {
    rx: mpsc::UnboundedReceiver<Out>,
    failed: watch::Sender<Option<String>>,
    done: watch::Sender<bool>,
}

/// A polling session's fixed request parts.
#[derive(Clone)]
pub struct PollTarget {
    pub http: reqwest::Client,
    pub socket_url: Url,
    pub version: EioVersion,
    pub sid: String,
    pub headers: Vec<(String, String)>,
    /// How long the server may hold a GET before answering (its heartbeat, and a margin).
    pub hold: Duration,
}

impl PollTarget {
    fn url(&self) -> Url {
        http::eio_url(&self.socket_url, self.version, "polling", Some(&self.sid))
    }

    /// One long poll.
    async fn get(&self) -> Result<http::HttpAnswer, http::HttpFailure> {
        http::get(&self.http, self.url(), &self.headers, FRAME_CEILING, Some(self.hold)).await
    }
}

/// Long-poll until the reader is dropped, a request fails, or it is paused (the GET in
/// flight then completes and is delivered: what the server sent in it is not lost). `bound`
/// bodies may wait for the connection task; beyond that the next GET waits, so a slow
/// consumer slows the server down instead of filling memory. The next GET is sent as soon
/// as a body has arrived, before the body is handed over (one GET at a time, as Engine.IO
/// requires).
pub fn spawn_poller(target: PollTarget, bound: usize) -> Reader {
    let (tx, rx) = mpsc::channel(bound);
    let pause = CancellationToken::new();
    let paused = pause.clone();
    tokio::spawn(async move {
        let get = || Box::pin(future::maybe_done(target.get()));
        let mut in_flight = get();
        loop {
            tokio::select! {
                _ = &mut in_flight => {}
                _ = tx.closed() => return,
            }
            let item = match in_flight.as_mut().take_output().expect("answered") {
                Ok(a) if a.status == 200 => Incoming::Body(a.body),
                Ok(a) => Incoming::Failed(format!(
                    "poll answered HTTP {}: {}",
                    a.status,
                    http::excerpt(&a.body.text(), 200)
                )),
                Err(e) => Incoming::Failed(format!("poll failed: {e}")),
            };
            let mut last = matches!(item, Incoming::Failed(_));
            if !last {
                // The next GET goes out before this body is handed over, so the server
                // answers it while the connection task reads this one (one thread runs
                // both; asking after the read made every body wait a round trip). First a
                // turn for the HTTP client's own task, which puts the connection back in its
                // pool (asked sooner, the client races a new connection); then one poll
                // hands the request to that connection, whose task is then woken ahead of
                // the connection task the send below wakes.
                tokio::task::yield_now().await;
                last = paused.is_cancelled();
                if !last {
                    in_flight = get();
                    std::future::poll_fn(|cx| {
                        let _ = in_flight.as_mut().poll(cx);
                        std::task::Poll::Ready(())
                    })
                    .await;
                }
            }
            if tx.send(item).await.is_err() || last {
                return;
            }
        }
    });
    Reader::Polling { bodies: rx, pause }
}

/// Start the writer for a WebSocket half on `parts` (a new queue, or the one polling handed
/// over). Failures are published on the `failed` watch; `done` turns true when it stopped.
pub fn spawn_ws_writer(mut sink: SplitSink<Ws, Message>, parts: WriterParts) {
    tokio::spawn(async move {
        let WriterParts { mut rx, failed, done } = parts;
        'outer: while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            // Feed everything queued, then flush once: one syscall for a burst of emits.
            while let Some(out) = next.take() {
                match out {
                    Out::Packet(p) => {
                        if let Err(e) = sink.feed(Message::Text(p.into())).await {
                            let _ = failed.send(Some(format!("send failed: {e}")));
                            break 'outer;
                        }
                    }
                    Out::Close => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
                        break 'outer;
                    }
                    Out::Handover(reply) => {
                        if sink.flush().await.is_ok() {
                            let _ = reply.send(WriterParts { rx, failed, done });
                            return;
                        }
                        break 'outer;
                    }
                }
                next = rx.try_recv().ok();
            }
            if let Err(e) = sink.flush().await {
                let _ = failed.send(Some(format!("send failed: {e}")));
                break;
            }
        }
        let _ = done.send(true);
    });
}

/// Start the writer for a polling session on `parts`: queued packets go out as one POST
/// payload.
pub fn spawn_poll_writer(target: PollTarget, parts: WriterParts) {
    tokio::spawn(async move {
        let WriterParts { mut rx, failed, done } = parts;
        let mut closing = false;
        while !closing {
            let Some(first) = rx.recv().await else { break };
            let mut packets = Vec::new();
            let mut handover = None;
            let mut next = Some(first);
            while let Some(out) = next.take() {
                match out {
                    Out::Packet(p) => packets.push(p),
                    Out::Close => {
                        packets.push("1".into());
                        closing = true;
                        break;
                    }
                    Out::Handover(reply) => {
                        handover = Some(reply);
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            if !packets.is_empty()
                && let Some(p) = post_payload(&target, &packets, closing).await
                && !closing
            {
                let _ = failed.send(Some(p));
                break;
            }
            if let Some(reply) = handover {
                let _ = reply.send(WriterParts { rx, failed, done });
                return;
            }
        }
        let _ = done.send(true);
    });
}

/// One POST of `packets`; what went wrong, if anything.
async fn post_payload(target: &PollTarget, packets: &[String], closing: bool) -> Option<String> {
    let body = engine::encode_payload(target.version, packets);
    let sent = tokio::time::timeout(
        Duration::from_secs(if closing { 1 } else { 30 }),
        http::post(&target.http, target.url(), &target.headers, body, 64 << 10),
    )
    .await;
    match sent {
        Ok(Ok(a)) if a.status == 200 => None,
        Ok(Ok(a)) => {
            Some(format!("POST answered HTTP {}: {}", a.status, http::excerpt(&a.body.text(), 200)))
        }
        Ok(Err(e)) => Some(format!("POST failed: {e}")),
        Err(_) => Some("POST got no answer within 30 s".into()),
    }
}

/// The sending half as the connection sees it.
pub struct Writer {
    pub tx: mpsc::UnboundedSender<Out>,
    /// `Some(reason)` once a send failed.
    pub failed: watch::Receiver<Option<String>>,
    /// True once the writer stopped.
    pub done: watch::Receiver<bool>,
}

impl Writer {
    /// A queue and its signals: the sending side for the connection, the parts for the
    /// transport's writer task.
    pub fn channel() -> (Writer, WriterParts) {
        let (tx, rx) = mpsc::unbounded_channel::<Out>();
        let (failed_tx, failed) = watch::channel(None);
        let (done_tx, done) = watch::channel(false);
        (Writer { tx, failed, done }, WriterParts { rx, failed: failed_tx, done: done_tx })
    }
}
