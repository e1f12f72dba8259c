//! REST calls that ride on a session's login: the headers (Cookie sid, Authorization,
//! Origin) of the session's own credentials, so a REST call never logs in on its own. One
//! login per session: the session logs in when it starts and when the site says the sid
//! expired; everything else reuses that sid.

use std::time::Duration;

use crate::session::Session;

/// The REST side of one session: its headers, and the one way to recover from an expired sid.
#[derive(Clone)]
pub struct RestAuth {
    session: Session,
}

/// Why no REST headers could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestAuthError {
    #[error("the session has not connected yet (or its login failed); no credentials to reuse")]
    NotConnected,
    #[error("the session did not reconnect within {0:?} after the site said the login expired")]
    NoRelogin(Duration),
}

/// The [`RestAuth`] of `session`.
pub fn for_session(session: &Session) -> RestAuth {
    RestAuth { session: session.clone() }
}

impl RestAuth {
    /// Headers for a REST call to the site: the session's current credentials. `Origin` is
    /// kept (Frappe's CSRF check for cookie sessions wants it).
    pub fn headers(&self) -> Result<Vec<(String, String)>, RestAuthError> {
        self.session.rest_credentials().ok_or(RestAuthError::NotConnected)
    }

    /// The site answered 401/403 with the session's headers: ask the session to reconnect (a
    /// login session then finds itself Guest and logs in once) and wait, bounded, for that
    /// attempt to settle. Never logs in itself.
    pub async fn renew(
        &self,
        session: &Session,
        within: Duration,
    ) -> Result<Vec<(String, String)>, RestAuthError> {
        let before = session.attempts();
        let mut states = session.state();
        session.reconnect_now();
        let deadline = tokio::time::Instant::now() + within;
        if !session.next_attempt(before, within).await {
            return Err(RestAuthError::NoRelogin(within));
        }
        // `wait_for` returns a read guard on the state: keep only whether it came, or the
        // session could not publish its next state while we hold it.
        let settled = tokio::time::timeout_at(
            deadline,
            states.wait_for(|s| {
                !matches!(
                    s.state,
                    crate::LinkState::Connecting { .. } | crate::LinkState::Authenticating { .. }
                )
            }),
        )
        .await
        .map(|r| r.is_ok());
        if !matches!(settled, Ok(true)) {
            return Err(RestAuthError::NoRelogin(within));
        }
        self.headers()
    }
}
