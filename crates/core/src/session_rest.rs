//! REST calls that ride on a session's login: the headers (Cookie sid, Authorization,
//! Origin) the session used for its latest connection, so a REST call never logs in on its
//! own. One login per session: the session logs in when it starts and when the site says the
//! sid expired; everything else reuses that sid.
//!
//! The headers are tapped from the session's [`Connector`]: every connection attempt passes
//! through [`TapConnector`], which records the headers it was asked to send.
//!
//! TODO(lead): once `Session::rest_headers()` exists, [`RestAuth::headers`] should call it
//! and the tap can go; the rest of this module (expiry → one reconnect, bounded wait) stays.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{Notify, mpsc};

use crate::session::Session;
use crate::transport::{ConnectSpec, Connector, Inbound, Link, TransportError};

/// The latest handshake headers of one session.
#[derive(Default)]
struct Tapped {
    headers: Mutex<Option<Vec<(String, String)>>>,
    /// Bumped on every connection attempt (a new sid after a re-login shows up here).
    generation: Mutex<u64>,
    changed: Notify,
}

/// Wraps the session's connector and keeps the headers of the latest attempt.
pub struct TapConnector {
    inner: Arc<dyn Connector>,
    tapped: Arc<Tapped>,
}

impl Connector for TapConnector {
    fn connect(
        &self,
        spec: ConnectSpec,
        inbound: mpsc::Sender<Inbound>,
    ) -> BoxFuture<'static, Result<Box<dyn Link>, TransportError>> {
        *self.tapped.headers.lock().expect("tap") = Some(spec.headers.clone());
        *self.tapped.generation.lock().expect("tap") += 1;
        self.tapped.changed.notify_waiters();
        self.inner.connect(spec, inbound)
    }
}

/// The REST side of one session: its headers, and the one way to recover from an expired sid.
#[derive(Clone)]
pub struct RestAuth {
    tapped: Arc<Tapped>,
}

/// Why no REST headers could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestAuthError {
    #[error("the session has not connected yet (or its login failed); no credentials to reuse")]
    NotConnected,
    #[error("the session did not reconnect within {0:?} after the site said the login expired")]
    NoRelogin(Duration),
}

/// A connector for [`Session::spawn`] and the [`RestAuth`] that reads what it sends.
pub fn tap(inner: Arc<dyn Connector>) -> (Arc<dyn Connector>, RestAuth) {
    let tapped = Arc::new(Tapped::default());
    (Arc::new(TapConnector { inner, tapped: tapped.clone() }), RestAuth { tapped })
}

impl RestAuth {
    /// Headers for a REST call to the site: the session's current credentials. `Origin` is
    /// kept (Frappe's CSRF check for cookie sessions wants it).
    pub fn headers(&self) -> Result<Vec<(String, String)>, RestAuthError> {
        self.tapped.headers.lock().expect("tap").clone().ok_or(RestAuthError::NotConnected)
    }

    fn generation(&self) -> u64 {
        *self.tapped.generation.lock().expect("tap")
    }

    /// The site answered 401/403 with the session's headers: ask the session to reconnect (a
    /// login session then finds itself Guest and logs in once) and wait, bounded, for the
    /// next attempt's headers. Never logs in itself.
    pub async fn renew(
        &self,
        session: &Session,
        within: Duration,
    ) -> Result<Vec<(String, String)>, RestAuthError> {
        let before = self.generation();
        let mut states = session.state();
        session.reconnect_now();
        let deadline = tokio::time::Instant::now() + within;
        // Wait for a new attempt, then for that attempt to settle (connected or not).
        loop {
            let notified = self.tapped.changed.notified();
            if self.generation() > before {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(RestAuthError::NoRelogin(within));
            }
        }
        let settled = tokio::time::timeout_at(
            deadline,
            states.wait_for(|s| {
                !matches!(
                    s.state,
                    crate::LinkState::Connecting { .. } | crate::LinkState::Authenticating { .. }
                )
            }),
        )
        .await;
        if settled.is_err() {
            return Err(RestAuthError::NoRelogin(within));
        }
        self.headers()
    }
}
