//! TCP-level control: the accept loop and a stream wrapper that can be killed or frozen.
//!
//! Some real failures happen below HTTP: a proxy or a crashed server drops the TCP connection
//! (clients see `transport close`), or a half-dead link stops carrying anything (clients see a
//! ping timeout). socketioxide cannot do either from above (its `disconnect()` sends a polite
//! DISCONNECT packet, which clients treat as `io server disconnect`), so every accepted
//! connection goes through [`ControlledStream`]. WebSocket connections keep this wrapper after
//! hyper hands the upgraded stream to engineioxide, so killing works on them too.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Marks a connection that carried Engine.IO traffic, so "drop the sockets" leaves plain HTTP
/// connections (the control API's own request among them) alone. Put in every request's
/// extensions by the accept loop; set by [`crate::proxy_faults`].
#[derive(Debug, Clone, Default)]
pub struct SocketMark(pub Arc<AtomicBool>);

impl SocketMark {
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Shared switches over every live connection.
#[derive(Debug, Default)]
pub struct ConnHub {
    /// Cancelled to drop every connection accepted so far; replaced by a fresh token after.
    generation: std::sync::Mutex<CancellationToken>,
    /// Cancelled to drop the connections that carry Engine.IO traffic.
    sockets: std::sync::Mutex<CancellationToken>,
    /// While set, bytes read are discarded and bytes written are swallowed.
    frozen: AtomicBool,
}

impl ConnHub {
    pub fn token(&self) -> CancellationToken {
        self.generation.lock().expect("hub lock").clone()
    }

    fn sockets_token(&self) -> CancellationToken {
        self.sockets.lock().expect("hub lock").clone()
    }

    /// Drop the connections that carry Engine.IO traffic (peers see `transport close`).
    pub fn kill_sockets(&self) {
        let mut g = self.sockets.lock().expect("hub lock");
        g.cancel();
        *g = CancellationToken::new();
    }

    /// Drop every connection open right now (their peers see the TCP connection close).
    pub fn kill_all(&self) {
        let mut g = self.generation.lock().expect("hub lock");
        g.cancel();
        *g = CancellationToken::new();
    }

    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    fn frozen(&self) -> bool {
        self.frozen.load(Ordering::Relaxed)
    }
}

/// A TCP stream that fails as soon as its generation is cancelled or its lifetime cap passes.
pub struct ControlledStream {
    inner: TcpStream,
    hub: Arc<ConnHub>,
    mark: SocketMark,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
    sockets_killed: Pin<Box<WaitForCancellationFutureOwned>>,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl ControlledStream {
    pub fn new(
        inner: TcpStream,
        hub: Arc<ConnHub>,
        mark: SocketMark,
        lifetime: Option<Duration>,
    ) -> Self {
        let killed = Box::pin(hub.token().cancelled_owned());
        let sockets_killed = Box::pin(hub.sockets_token().cancelled_owned());
        ControlledStream {
            inner,
            hub,
            mark,
            killed,
            sockets_killed,
            deadline: lifetime.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }

    /// Polls the kill switches; registering their wakers is what lets a connection blocked in
    /// a read notice the kill.
    fn dead(&mut self, cx: &mut Context<'_>) -> bool {
        if self.killed.as_mut().poll(cx).is_ready() {
            return true;
        }
        while self.sockets_killed.as_mut().poll(cx).is_ready() {
            if self.mark.0.load(Ordering::Relaxed) {
                return true;
            }
            // Not a socket connection: wait for the next "drop the sockets" instead.
            self.sockets_killed = Box::pin(self.hub.sockets_token().cancelled_owned());
        }
        self.mark.0.load(Ordering::Relaxed)
            && self.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "dropped by simulator fault")
}

impl AsyncRead for ControlledStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        loop {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            let eof = buf.filled().len() == before;
            if eof || !self.hub.frozen() {
                return Poll::Ready(Ok(()));
            }
            // Frozen: the bytes vanish, as on a link that stopped carrying traffic.
            buf.set_filled(before);
        }
    }
}

impl AsyncWrite for ControlledStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        if self.hub.frozen() {
            return Poll::Ready(Ok(data.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.dead(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accept connections until `stop` is cancelled, serving each with `router`.
/// `lifetime` returns the current per-connection cap (the `idle_drop_secs` knob).
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    hub: Arc<ConnHub>,
    stop: CancellationToken,
    lifetime: impl Fn() -> Option<Duration> + Send + 'static,
) {
    loop {
        let (tcp, _peer): (TcpStream, SocketAddr) = tokio::select! {
            _ = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let mark = SocketMark::default();
        let io = TokioIo::new(ControlledStream::new(tcp, hub.clone(), mark.clone(), lifetime()));
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(mark)));
        tokio::spawn(async move {
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(io, service)
                .await;
        });
    }
}
