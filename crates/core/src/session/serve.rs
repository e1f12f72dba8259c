//! Serving a live connection: subscriptions, the identity check, `ping`→`pong`, events to
//! consumers, malformed packets reported, and how the link ended.

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::Command;
use super::supervisor::{LinkEnd, Live, Supervisor};
use crate::auth::{self, Credentials, WhoAmI};
use crate::events::{Direction, RealtimeEvent};
use crate::state::LinkState;
use crate::wire::{
    Disconnect, EioVersion, EmitError, Handle, Inbound, Malformed, Transport, WireEvent,
};

/// What the identity checks found so far.
#[derive(Debug, Clone, PartialEq)]
enum Identity {
    Pending,
    User(String),
    Guest,
    Rejected(String),
    /// The web process could not be asked (URL is a bare realtime port, network…).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pong {
    NotUsed,
    Waiting {
        sent: Instant,
        first: bool,
    },
    Answered,
    /// No pong within the timeout to the ping sent at `sent`: deaf, unless one still comes
    /// (a late pong, or the answer to a later ping, heals it).
    Missing {
        sent: Instant,
    },
}

/// The facts about the link that every state shows.
struct Facts {
    transport: Transport,
    eio: EioVersion,
    fallback: Option<String>,
    malformed: u64,
    identity: Identity,
    pong: Pong,
    rtt: Option<u64>,
}

/// How long events wait for the identity check, and how many (`serve`).
const IDENTITY_HOLD: Duration = Duration::from_secs(2);
const IDENTITY_HOLD_MAX: usize = 4096;

/// The synthetic event that reports a skipped packet to every consumer (event log, watch).
pub const MALFORMED_EVENT: &str = "sockeye:malformed";

fn malformed_event(m: &Malformed) -> RealtimeEvent {
    RealtimeEvent::from_args(
        MALFORMED_EVENT,
        vec![serde_json::json!({"raw": m.raw, "reason": m.error.to_string()})],
        None,
    )
}

/// A received event with its room hint and argument count.
fn live_event(e: WireEvent, user: Option<&str>) -> RealtimeEvent {
    RealtimeEvent::from_raw(e.name, e.payload, user).with_arg_count(e.arg_count)
}

/// Closing can wait on a dead peer: bounded, never forever.
async fn close(handle: &Handle) {
    let _ = tokio::time::timeout(Duration::from_secs(2), handle.close()).await;
}

impl Supervisor {
    fn live_state(&self, f: &Facts) -> LinkState {
        let user = match &f.identity {
            Identity::User(u) => Some(u.clone()),
            Identity::Guest => Some("Guest".into()),
            _ => self.target.credentials.jwt_subject(),
        };
        let (transport, eio, fallback, malformed) =
            (f.transport, f.eio, f.fallback.clone(), f.malformed);
        let degraded = |reason: String| LinkState::Degraded {
            transport,
            user: user.clone(),
            reason,
            eio,
            fallback: fallback.clone(),
            malformed,
        };
        if !self.target.frappe {
            return LinkState::Connected {
                transport,
                user,
                rtt_ms: f.rtt,
                eio,
                fallback,
                malformed,
            };
        }
        match (&f.identity, f.pong) {
            (Identity::Guest, _) => degraded("connected as Guest: the site does not accept our session (sid expired or invalid); log in again".into()),
            (Identity::Rejected(m), _) => degraded(format!("the site rejects our credentials over REST ({m})")),
            (_, Pong::Missing { .. }) => degraded(format!(
                "connected but deaf: no pong to ping within {:?}; the realtime server did not verify us with the web process (socket secret mismatch?)",
                self.options.pong_timeout
            )),
            (Identity::Pending, _) | (_, Pong::Waiting { first: true, .. }) => LinkState::Authenticating { step: "confirming identity (get_logged_user, ping→pong)".into() },
            _ => LinkState::Connected { transport, user, rtt_ms: f.rtt, eio, fallback, malformed },
        }
    }

    /// Hand an event to every consumer; the lossless one is awaited (backpressure).
    pub(super) async fn publish(&self, event: RealtimeEvent) {
        let event = Arc::new(event);
        if let Some(sink) = &self.options.lossless {
            let _ = sink.send(event.clone()).await;
        }
        // No receivers is fine: events are live-only.
        let _ = self.events.send(event);
    }

    /// Serve a connection; whatever ended it, the events it held are let through and the
    /// time until the next one counts as a gap (unless stopping).
    /// Deliver the events held for the identity check, in order.
    async fn release(&mut self, held: &mut Vec<WireEvent>, user: Option<&str>) {
        for e in held.drain(..) {
            self.deliver_live(live_event(e, user)).await;
        }
    }

    /// Emit on the link; with `echo_sent`, the send is published as an outgoing event.
    async fn send(&self, handle: &Handle, name: &str, args: &[&RawValue]) -> Result<(), EmitError> {
        handle.emit(name, args)?;
        if self.options.echo_sent {
            self.publish(RealtimeEvent::sent(name, args, Direction::Out)).await;
        }
        Ok(())
    }

    async fn emit_subscriptions(&self, handle: &Handle) {
        for sub in &self.subscriptions {
            let (event, args) = sub.emit_args();
            let refs: Vec<&RawValue> = args.iter().map(|a| a.as_ref()).collect();
            let _ = self.send(handle, event, &refs).await;
        }
    }

    /// The user's emit. An ack is awaited off the serve loop (events keep flowing) and, with
    /// `echo_sent`, published as an `Ack` event when it comes.
    async fn user_emit(
        &self,
        handle: &Handle,
        name: String,
        args: Vec<Box<RawValue>>,
        ack: Option<Duration>,
        reply: oneshot::Sender<super::EmitReply>,
    ) {
        let refs: Vec<&RawValue> = args.iter().map(|a| a.as_ref()).collect();
        let Some(timeout) = ack else {
            let _ = reply.send(self.send(handle, &name, &refs).await.map(|()| None));
            return;
        };
        if self.options.echo_sent {
            self.publish(RealtimeEvent::sent(&name, &refs, Direction::Out)).await;
        }
        let handle = handle.clone();
        let echo =
            self.options.echo_sent.then(|| (self.options.lossless.clone(), self.events.clone()));
        tokio::spawn(async move {
            let refs: Vec<&RawValue> = args.iter().map(|a| a.as_ref()).collect();
            let answer = handle.emit_with_ack(&name, &refs, timeout).await;
            if let (Ok(acked), Some((lossless, events))) = (&answer, echo) {
                // The ack's arguments, one value each, as a received event carries them.
                let args: Vec<&RawValue> = serde_json::from_str(acked.get()).unwrap_or_default();
                let e = std::sync::Arc::new(RealtimeEvent::sent(&name, &args, Direction::Ack));
                if let Some(sink) = lossless {
                    let _ = sink.send(e.clone()).await;
                }
                let _ = events.send(e);
            }
            let _ = reply.send(answer.map(Some));
        });
    }

    pub(super) async fn serve(&mut self, live: Live, relogged: bool) -> LinkEnd {
        let end = self.serve_link(live, relogged).await;
        self.link_ended(matches!(end, LinkEnd::Stop(_))).await;
        end
    }

    async fn serve_link(&mut self, live: Live, relogged: bool) -> LinkEnd {
        let Live { conn, fallback } = live;
        let (handle, mut inbound) = (conn.handle, conn.inbound);
        self.emit_subscriptions(&handle).await;
        let mut f = Facts {
            transport: conn.info.transport,
            eio: conn.info.eio,
            fallback,
            malformed: 0,
            identity: Identity::Pending,
            pong: Pong::NotUsed,
            rtt: None,
        };
        let (who_tx, mut who_rx) = oneshot::channel();
        if self.target.frappe {
            let (http, base, headers) = (
                self.http.clone(),
                self.target.base_url.clone(),
                self.target.headers(self.sid(), self.cookie_shim),
            );
            tokio::spawn(async move {
                let _ = who_tx.send(auth::who_am_i(&http, &base, &headers).await);
            });
            let _ = handle.emit("ping", &[]);
            f.pong = Pong::Waiting { sent: Instant::now(), first: true };
        } else {
            drop(who_tx);
            f.identity = Identity::Unknown;
        }
        let user_label = |identity: &Identity| match identity {
            Identity::User(u) => Some(u.clone()),
            _ => None,
        };
        self.set(self.live_state(&f));
        let mut ticker =
            tokio::time::interval(Duration::from_millis(250).min(self.options.pong_timeout / 4));
        let mut next_ping = Instant::now() + self.options.ping_every;
        // Under a flood the server queues our `pong` behind thousands of events: a late pong
        // while events keep arriving is a busy link, not a dead or deaf one.
        let mut last_inbound = Instant::now();
        // Events that arrive before the web process said who we are wait, briefly and
        // bounded, so that they carry their room (`user:<user>` is known only then).
        let mut held: Vec<WireEvent> = Vec::new();
        let hold_until = Instant::now() + IDENTITY_HOLD;
        let end = loop {
            // Backfill starts once the identity is settled: the REST calls then use
            // credentials the site has just accepted, and the subscriptions had time to land.
            let settled = !self.target.frappe
                || (f.identity != Identity::Pending
                    && !matches!(f.pong, Pong::Waiting { first: true, .. }));
            if !self.bf.started && settled {
                let refused = match &f.identity {
                    Identity::Guest => {
                        Some("connected as Guest: the site shows Guest no messages".to_string())
                    }
                    Identity::Rejected(m) => {
                        Some(format!("the site rejects our credentials ({m})"))
                    }
                    _ => None,
                };
                self.start_backfill(refused, user_label(&f.identity).as_deref()).await;
            }
            tokio::select! {
                done = async { (&mut self.bf.fetch.as_mut().expect("guarded").0).await }, if self.bf.fetch.is_some() => {
                    let fetched = done.unwrap_or_else(|e| super::gap::Fetched::failed(format!("backfill task: {e}")));
                    self.finish_backfill(fetched, user_label(&f.identity).as_deref()).await;
                }
                polled = super::progress::next_polled(&mut self.progress) => self.deliver_polled(polled).await,
                msg = inbound.recv() => match msg {
                    None => {
                        close(&handle).await;
                        break LinkEnd::Lost("connection closed".into());
                    }
                    Some(Inbound::Event(e)) => {
                        last_inbound = Instant::now();
                        // Frappe answers `ping` with an argument-less `pong`; a `pong` with
                        // arguments is some app's event and is delivered like any other.
                        if e.name == "pong" && e.arg_count == 0 && let Pong::Waiting { sent, .. } | Pong::Missing { sent } = f.pong {
                            if matches!(f.pong, Pong::Missing { .. }) {
                                // What was deaf may have dropped our first packets with the
                                // ping: join the rooms again (joining twice is harmless).
                                self.emit_subscriptions(&handle).await;
                            }
                            f.rtt = Some(sent.elapsed().as_millis() as u64);
                            f.pong = Pong::Answered;
                            self.set(self.live_state(&f));
                            continue;
                        }
                        if f.identity == Identity::Pending && held.len() < IDENTITY_HOLD_MAX && Instant::now() < hold_until {
                            held.push(e);
                            continue;
                        }
                        self.release(&mut held, user_label(&f.identity).as_deref()).await;
                        let event = live_event(e, user_label(&f.identity).as_deref());
                        self.deliver_live(event).await;
                    }
                    Some(Inbound::Malformed(m)) => {
                        last_inbound = Instant::now();
                        f.malformed += 1;
                        self.publish(malformed_event(&m)).await;
                        self.set(self.live_state(&f));
                    }
                    Some(Inbound::Upgraded) => {
                        // The proxy was mended (or the network changed): off the fallback.
                        f.transport = Transport::Websocket;
                        f.fallback = None;
                        self.set(self.live_state(&f));
                    }
                    Some(Inbound::Closed(Disconnect::ServerDisconnect)) => break LinkEnd::ServerDisconnect,
                    Some(Inbound::Closed(d)) => break LinkEnd::Lost(d.to_string()),
                },
                who = &mut who_rx, if f.identity == Identity::Pending => {
                    f.identity = match who {
                        Ok(Ok(WhoAmI::User(u))) => Identity::User(u),
                        Ok(Ok(WhoAmI::Guest)) => Identity::Guest,
                        Ok(Ok(WhoAmI::Rejected(m))) => Identity::Rejected(m),
                        _ => Identity::Unknown,
                    };
                    self.release(&mut held, user_label(&f.identity).as_deref()).await;
                    if f.identity == Identity::Guest && matches!(self.target.credentials, Credentials::Login { .. }) && !relogged {
                        close(&handle).await;
                        break LinkEnd::Relogin;
                    }
                    self.set(self.live_state(&f));
                }
                _ = ticker.tick() => {
                    self.bf.save(false);
                    if !held.is_empty() && Instant::now() >= hold_until {
                        self.release(&mut held, None).await;
                    }
                    if let Pong::Waiting { sent, first } = f.pong
                        && sent.elapsed() > self.options.pong_timeout
                        && last_inbound.elapsed() > self.options.pong_timeout
                    {
                        if first {
                            f.pong = Pong::Missing { sent };
                            self.set(self.live_state(&f));
                        } else {
                            close(&handle).await;
                            break LinkEnd::Lost(format!("no pong within {:?}: the link is dead", self.options.pong_timeout));
                        }
                    }
                    if self.target.frappe && Instant::now() >= next_ping && matches!(f.pong, Pong::Answered | Pong::Missing { .. }) {
                        next_ping = Instant::now() + self.options.ping_every;
                        let _ = handle.emit("ping", &[]);
                        f.pong = match f.pong {
                            // A deaf link is asked again (a busy machine can miss the first
                            // deadline); it stays deaf until a pong comes, never "dead".
                            Pong::Missing { .. } => Pong::Missing { sent: Instant::now() },
                            _ => Pong::Waiting { sent: Instant::now(), first: false },
                        };
                    }
                }
                cmd = self.commands.recv() => match cmd {
                    None => {
                        close(&handle).await;
                        break LinkEnd::Lost("session dropped".into());
                    }
                    Some(Command::ReconnectNow) => {
                        close(&handle).await;
                        break LinkEnd::ReconnectNow;
                    }
                    Some(Command::Stop(done)) => {
                        close(&handle).await;
                        break LinkEnd::Stop(done);
                    }
                    Some(Command::Subscribe(sub)) => {
                        let (event, args) = sub.emit_args();
                        let refs: Vec<&RawValue> = args.iter().map(|a| a.as_ref()).collect();
                        let _ = self.send(&handle, event, &refs).await;
                        self.subscriptions.insert(sub);
                    }
                    Some(Command::Emit { name, args, ack, reply }) => self.user_emit(&handle, name, args, ack, reply).await,
                }
            }
        };
        // However the link ended, what was held is delivered.
        self.release(&mut held, user_label(&f.identity).as_deref()).await;
        end
    }
}
