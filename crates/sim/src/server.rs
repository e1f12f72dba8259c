//! Starting, restarting and stopping a simulator instance.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::SimConfig;
use crate::conn::{ConnHub, accept_loop};
use crate::faults::Faults;
use crate::publish::{self, PublishError, PublishRequest};
use crate::scenarios::{self, ScenarioError, ScenarioParams};
use crate::state::SimState;
use crate::{control, handlers, progress, proxy_faults, resource, web};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Where to listen; port 0 picks a free one. Loopback by default.
    pub addr: SocketAddr,
    pub config: SimConfig,
    pub faults: Faults,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: SimConfig::default(),
            faults: Faults::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A running simulator. Dropping it without [`Sim::shutdown`] leaves the task running until
/// the runtime ends.
pub struct Sim {
    addr: SocketAddr,
    state: Arc<SimState>,
    task: JoinHandle<()>,
}

fn cors() -> CorsLayer {
    // Frappe: `cors: {origin: true, credentials: true}`: any Origin is echoed, never rejected.
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
}

/// A poll is answered with every packet buffered (up to `max_payload`), as node's engine.io
/// flushes its whole write buffer. socketioxide's encoder takes packets while its channel
/// answers at once, and tokio's cooperative budget makes the channel say "not yet" after
/// ~128 receives in one turn of a task: a burst went out 128 packets a round trip, which no
/// Frappe site does. Outside the budget the encoder drains the buffer; `max_payload` bounds
/// the work.
async fn whole_buffer_per_poll(req: Request, next: Next) -> Response {
    tokio::task::unconstrained(next.run(req)).await
}

impl Sim {
    pub async fn start(opts: SimOptions) -> Result<Sim, SimError> {
        let listener = TcpListener::bind(opts.addr)
            .await
            .map_err(|source| SimError::Bind { addr: opts.addr, source })?;
        let addr =
            listener.local_addr().map_err(|source| SimError::Bind { addr: opts.addr, source })?;
        let (layer, io) = SocketIo::builder()
            .ping_interval(opts.config.ping_interval)
            .ping_timeout(opts.config.ping_timeout)
            .max_payload(1_000_000)
            // The Node server buffers without limit; socketioxide drops emits past this
            // (default 128), which would lose events of any burst. Slots are allocated lazily.
            .max_buffer_size(1 << 20)
            .build_layer();
        let (restart_tx, restart_rx) = mpsc::unbounded_channel();
        let hub = Arc::new(ConnHub::default());
        hub.set_frozen(opts.faults.freeze);
        let state = Arc::new(SimState {
            config: RwLock::new(opts.config),
            faults: RwLock::new(opts.faults),
            io,
            hub,
            messages: Mutex::new(Default::default()),
            own_origins: RwLock::new(vec![
                format!("http://127.0.0.1:{}", addr.port()),
                format!("http://localhost:{}", addr.port()),
            ]),
            scenarios: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
            restart_tx,
            runs: Mutex::new(Default::default()),
            progress_polls: Default::default(),
        });
        handlers::register(&state);
        let router = Router::new()
            .merge(web::routes())
            .merge(resource::routes())
            .merge(progress::routes())
            .merge(control::routes())
            .fallback(|| async { (StatusCode::NOT_FOUND, "Not Found") })
            .layer(layer)
            .layer(from_fn(whole_buffer_per_poll))
            .layer(from_fn_with_state(state.clone(), proxy_faults::layer))
            .layer(cors())
            .with_state(state.clone());
        let task = tokio::spawn(serve(listener, addr, router, state.clone(), restart_rx));
        Ok(Sim { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the site URL, the valid Origin and the Socket.IO base.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    pub fn site(&self) -> String {
        self.state.config().default_site.clone()
    }

    /// Publish with `publish_realtime` semantics; returns the room and how many sockets got it.
    pub async fn publish(
        &self,
        req: PublishRequest,
    ) -> Result<(Option<String>, usize), PublishError> {
        let r = publish::resolve(&req)?;
        let site = req.site.clone().unwrap_or_else(|| self.site());
        let n = self.state.emit(Some(&site), r.room.as_deref(), &r.event, &r.message).await;
        Ok((r.room, n))
    }

    /// A Raven message sent on `channel` by `sender`: stored (REST lists it) and published.
    pub async fn send_message(
        &self,
        channel: &str,
        sender: &str,
        html: &str,
    ) -> crate::payloads::StoredMessage {
        let m = crate::payloads::StoredMessage::new(channel, sender, html);
        self.state.store_message(m.clone());
        crate::web::publish_message(&self.state, &self.site(), &m).await;
        m
    }

    /// The next `ai_progress` update of agent run `run` for the default user: recorded (the
    /// progress endpoint lists it, with its `seq`) and published. Returns the payload sent.
    pub async fn send_progress(&self, run: &str, body: serde_json::Value) -> serde_json::Value {
        let user = crate::config::DEFAULT_USER;
        crate::progress::publish_progress(&self.state, user, run, body).await.0
    }

    /// How many times the progress endpoint was called.
    pub fn progress_polls(&self) -> u64 {
        self.state.progress_polls.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_faults(&self, specs: &[&str]) -> Result<Faults, crate::faults::FaultError> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        self.state.update_faults(false, &specs)
    }

    pub fn run_scenario(&self, name: &str, params: ScenarioParams) -> Result<(), ScenarioError> {
        scenarios::spawn(&self.state, name, params)
    }

    /// Drop every Engine.IO connection now (clients see `transport close`).
    /// Serve a recording's events (see [`crate::replay`]); the answer is how many were
    /// served once the replay ends (never with `looped`). Stopped with the simulator.
    pub fn replay(
        &self,
        events: Vec<crate::replay::ReplayEvent>,
        opts: crate::replay::ReplayOptions,
    ) -> tokio::sync::oneshot::Receiver<u64> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let st = self.state.clone();
        self.state.track_scenario(tokio::spawn(async move {
            let _ = tx.send(crate::replay::run(st, events, opts).await);
        }));
        rx
    }

    pub fn drop_connections(&self) {
        self.state.hub.kill_sockets();
    }

    /// Restart: everything dropped, port closed for `down`, then serving again.
    pub fn restart(&self, down: Duration) {
        let _ = self.state.restart_tx.send(down);
    }

    pub async fn shutdown(self) {
        self.state.stop_scenarios();
        self.state.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Listen on `addr` again after a restart. The port can stay taken for a while: a client
/// that connected to itself there while we were down (loopback, ephemeral-range port) leaves
/// a TIME_WAIT socket that blocks the bind for up to a minute. Keep trying that long.
async fn bind_again(addr: SocketAddr) -> Option<TcpListener> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(75);
    let mut warned = false;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return Some(l),
            Err(e) if tokio::time::Instant::now() >= give_up => {
                tracing::error!("simulator could not listen on {addr} again: {e}");
                return None;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!("simulator cannot listen on {addr} yet ({e}); retrying");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serve until shutdown, handling restarts by closing and reopening the listener.
async fn serve(
    first: TcpListener,
    addr: SocketAddr,
    router: Router,
    st: Arc<SimState>,
    mut restarts: mpsc::UnboundedReceiver<Duration>,
) {
    let mut listener = Some(first);
    loop {
        let Some(l) = listener.take() else {
            tracing::error!("simulator could not listen on {addr} again after a restart");
            return;
        };
        let stop = CancellationToken::new();
        let faults_state = st.clone();
        let accept =
            tokio::spawn(accept_loop(l, router.clone(), st.hub.clone(), stop.clone(), move || {
                let secs = faults_state.faults().idle_drop_secs;
                (secs > 0).then(|| Duration::from_secs(secs))
            }));
        let down = tokio::select! {
            _ = st.shutdown.cancelled() => None,
            d = restarts.recv() => {
                // Let the control API's own "restarting" answer reach its caller first.
                tokio::time::sleep(Duration::from_millis(20)).await;
                d
            }
        };
        stop.cancel();
        let _ = accept.await;
        st.hub.kill_all();
        for s in st.all_sockets() {
            let _ = s.disconnect();
        }
        let Some(down) = down else { return };
        tokio::select! {
            _ = st.shutdown.cancelled() => return,
            _ = tokio::time::sleep(down) => {}
        }
        listener = bind_again(addr).await;
    }
}
