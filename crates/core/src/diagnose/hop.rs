//! The proxy as a hop of its own: when the environment's connections go through an HTTP
//! proxy, the direct DNS/TCP/TLS probes say nothing about what the link will do (the proxy
//! resolves and connects), so the chain opens the same `CONNECT` tunnel the WebSocket uses and
//! names what stops it: the proxy unreachable, credentials (407), a policy refusal (403).

use std::time::Instant;

use super::hints::{Finding, Symptom};
use super::report::{Probe, Status};
use super::{ENGINE_CHAIN, Runner, ms};
use crate::proxy::{Proxy, ProxyError};

impl Runner<'_> {
    /// Returns whether the tunnel opened; the direct probes it replaces are marked skipped.
    pub(super) async fn proxy_hop(&mut self, proxy: &Proxy, host: &str, port: u16) -> bool {
        let t = Instant::now();
        let tunnel = crate::proxy::tunnel(proxy, host, port, self.opts.probe_timeout).await;
        let shown = proxy.url.as_str().trim_end_matches('/').to_string();
        let replaced = ["dns", "tcp", "tls"];
        match tunnel {
            Ok(_) => {
                self.push(
                    Probe::new("proxy", Status::Pass, ms(t))
                        .evidence(format!("CONNECT {host}:{port} through {shown}: tunnel open")),
                );
                self.skip_rest(&replaced, "the proxy resolves and connects");
                true
            }
            Err(e) => {
                let hint = match &e {
                    ProxyError::Unreachable { .. } => format!(
                        "The proxy {shown} does not answer: check the proxy URL (the environment's proxy, or HTTPS_PROXY / HTTP_PROXY), or add {host} to NO_PROXY if it is reachable directly."
                    ),
                    ProxyError::AuthRequired { .. } => format!(
                        "The proxy {shown} wants credentials: put the user in the proxy URL (http://user@host:port) and store its password with `sockeye-cli env set-secret NAME --proxy`."
                    ),
                    ProxyError::Refused { status: 403, .. } => format!(
                        "The proxy's policy refuses tunnels to {host}:{port}: ask for it to be allowed (CONNECT to this port), or reach the site without the proxy (--no-proxy / NO_PROXY) if the network allows."
                    ),
                    ProxyError::Refused { status, .. } => format!(
                        "The proxy could not open a tunnel to {host}:{port} (HTTP {status}): the proxy cannot reach the site, or refuses this port."
                    ),
                    ProxyError::BadAnswer { .. } => format!(
                        "{shown} does not answer like an HTTP proxy: check the proxy URL and port."
                    ),
                };
                self.push(
                    Probe::new("proxy", Status::Fail, ms(t))
                        .evidence(e.to_string())
                        .finding(Finding::new(Symptom::Other, hint)),
                );
                self.skip_rest(&replaced, "no tunnel through the proxy");
                self.skip_rest(&ENGINE_CHAIN, "no tunnel through the proxy");
                false
            }
        }
    }
}
