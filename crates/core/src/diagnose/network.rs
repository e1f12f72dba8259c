//! P1: DNS, TCP and TLS to the socket host, and the ports that answer when the configured
//! one refuses.

use std::time::Instant;

use super::hints::{self, Finding};
use super::report::{Probe, Status};
use super::{ENGINE_CHAIN, Runner, ms, net};
use crate::url_rules::DeploymentType;

impl Runner<'_> {
    pub(super) async fn answering_ports(&mut self, except: u16) -> Vec<u16> {
        let mut found = Vec::new();
        for &p in &self.opts.scan_ports {
            if p == except {
                continue;
            }
            let mut u = self.target.socket_url.clone();
            if u.set_port(Some(p)).is_err() {
                continue;
            }
            if self.any_handshake(&u, &[]).await.is_some() {
                found.push(p);
            }
        }
        self.alternatives.clone_from(&found);
        found
    }

    pub(super) async fn network(&mut self) -> bool {
        let url = self.target.socket_url.clone();
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        if let Some(proxy) = crate::proxy::proxy_for(&url, &self.target.proxy) {
            return self.proxy_hop(&proxy, &host, port).await;
        }
        let t = Instant::now();
        let addrs = match net::resolve(&host, port, self.opts.probe_timeout).await {
            Ok(a) => {
                let shown: Vec<String> = a.iter().map(|x| x.ip().to_string()).collect();
                self.push(
                    Probe::new("dns", Status::Pass, ms(t))
                        .evidence(format!("{host} → {}", shown.join(", "))),
                );
                a
            }
            Err(e) => {
                self.push(Probe::new("dns", Status::Fail, ms(t)).evidence(e.clone()).finding(Finding::new(hints::Symptom::Other, format!("The host name does not resolve ({e}): check the URL, DNS, or the ngrok tunnel name."))));
                self.skip_rest(&["tcp", "tls"], "no DNS answer");
                self.skip_rest(&ENGINE_CHAIN, "no DNS answer");
                return false;
            }
        };
        let t = Instant::now();
        let addr = match net::connect(&addrs, self.opts.probe_timeout).await {
            Ok((a, _)) => {
                self.push(
                    Probe::new("tcp", Status::Pass, ms(t)).evidence(format!("connected to {a}")),
                );
                a
            }
            Err(e) => {
                let alternatives = self.answering_ports(port).await;
                let p = Probe::new("tcp", Status::Fail, ms(t))
                    .evidence(e)
                    .finding(hints::port_closed(port, &alternatives));
                self.push(p);
                self.skip_rest(&["tls"], "no TCP connection");
                self.skip_rest(&ENGINE_CHAIN, "no TCP connection");
                return false;
            }
        };
        if url.scheme() != "https" {
            let local =
                matches!(self.opts.deployment, DeploymentType::Local) || addr.ip().is_loopback();
            let (status, why) = if local {
                (Status::Pass, "plain http on a local host")
            } else {
                (Status::Warn, "plain http: credentials cross the network unencrypted")
            };
            self.push(Probe::new("tls", status, 0).evidence(why));
            return true;
        }
        let t = Instant::now();
        match net::tls(addr, &host, &self.target.tls, self.opts.probe_timeout).await {
            Ok(info) => {
                let mut p = Probe::new("tls", Status::Pass, ms(t));
                if let Some(s) = &info.subject {
                    p = p.evidence(format!("subject {s}"));
                }
                if let Some(i) = info.issuer.as_ref().filter(|_| !info.self_signed) {
                    p = p.evidence(format!("issuer {i}"));
                }
                if let Some(d) = info.days_to_expiry {
                    p = p.evidence(format!("expires in {d} days"));
                }
                if info.self_signed {
                    p = p.evidence("self-signed");
                }
                if let Some(problem) = &info.client_cert {
                    // The server's certificate may be fine; ours is what stops the link.
                    p.status = Status::Fail;
                    p = p.evidence(problem.to_string()).finding(hints::client_certificate(problem));
                    self.push(p);
                    self.skip_rest(&ENGINE_CHAIN, "the server refuses the TLS session");
                    return false;
                }
                match (&info.verify_error, self.target.tls.verify) {
                    (None, _) if info.days_to_expiry.is_some_and(|d| d < 14) => {
                        p.status = Status::Warn;
                        p = p.finding(Finding::new(
                            hints::Symptom::TlsError,
                            format!(
                                "The certificate expires in {} days: renew it.",
                                info.days_to_expiry.unwrap_or(0)
                            ),
                        ));
                    }
                    (None, _) => {}
                    (Some(e), true) => {
                        p.status = Status::Fail;
                        p = p
                            .evidence(e.to_string())
                            .finding(hints::tls_error(e, info.self_signed));
                        self.push(p);
                        self.skip_rest(&ENGINE_CHAIN, "TLS does not verify");
                        return false;
                    }
                    (Some(e), false) => {
                        p.status = Status::Warn;
                        p = p.evidence(e.to_string()).finding(Finding::new(hints::Symptom::TlsError, "TLS verification is turned off for this environment and the certificate does not verify: acceptable for a sandbox only."));
                    }
                }
                self.push(p);
                true
            }
            Err(e) => {
                self.push(
                    Probe::new("tls", Status::Fail, ms(t))
                        .evidence(e.clone())
                        .finding(hints::tls_error(&net::CertProblem::Other(e.clone()), false)),
                );
                self.skip_rest(&ENGINE_CHAIN, "no TLS session");
                false
            }
        }
    }
}
