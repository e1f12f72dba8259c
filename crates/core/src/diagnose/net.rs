//! P1: DNS, TCP connect and TLS (certificate validity and days to expiry).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::tls::TlsSettings;

/// DNS lookup of `host:port`.
pub async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(format!("no DNS answer within {timeout:?}")),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Ok(Ok(addrs)) => {
            let v: Vec<SocketAddr> = addrs.collect();
            if v.is_empty() { Err(format!("{host} resolves to no address")) } else { Ok(v) }
        }
    }
}

/// TCP connect to the first address that accepts.
pub async fn connect(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(SocketAddr, TcpStream), String> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok((*a, s)),
            Ok(Err(e)) => last = format!("{a}: {e}"),
            Err(_) => last = format!("{a}: no answer within {timeout:?}"),
        }
    }
    Err(last)
}

/// Why a certificate did not verify, as the hints tell the cases apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertProblem {
    /// Not signed by a trusted root: self-signed, or a private CA this machine does not trust.
    #[error("certificate issuer not trusted")]
    UnknownIssuer,
    #[error("certificate expired")]
    Expired,
    #[error("certificate not valid for this host name")]
    WrongHost,
    /// Anything else rustls refused (revoked, bad signature, no roots on this machine, ...).
    #[error("{0}")]
    Other(String),
}

/// What the server made of our client certificate (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientCertProblem {
    /// The server asked for a client certificate and the environment has none.
    #[error("the server asks for a client certificate and none is configured")]
    Missing,
    /// We presented one and the server ended the connection with this alert.
    #[error("the server refused our client certificate ({0})")]
    Refused(String),
}

/// What the TLS probe learnt.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// `None` when verification passed.
    pub verify_error: Option<CertProblem>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub days_to_expiry: Option<i64>,
    pub self_signed: bool,
    pub client_cert: Option<ClientCertProblem>,
}

fn cert_facts(der: &[u8]) -> (Option<String>, Option<String>, Option<i64>) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => {
            let not_after = cert.validity().not_after.timestamp();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            (
                Some(cert.subject().to_string()),
                Some(cert.issuer().to_string()),
                Some((not_after - now).div_euclid(86_400)),
            )
        }
        Err(_) => (None, None, None),
    }
}

type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A handshake on the same TLS configuration the session uses.
async fn handshake(
    tcp: TcpStream,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsStream, CertProblem> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| CertProblem::Other(format!("{host}: {e}")))?;
    let connecting = tokio_rustls::TlsConnector::from(config).connect(name, tcp);
    connecting.await.map_err(|e| {
        use rustls::CertificateError as C;
        match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::InvalidCertificate(c)) => match c {
                C::UnknownIssuer => CertProblem::UnknownIssuer,
                C::Expired | C::ExpiredContext { .. } => CertProblem::Expired,
                C::NotValidForName | C::NotValidForNameContext { .. } => CertProblem::WrongHost,
                other => CertProblem::Other(format!("{other:?}")),
            },
            Some(other) => CertProblem::Other(other.to_string()),
            None => CertProblem::Other(e.to_string()),
        }
    })
}

/// Verify the server's certificate; when it does not verify, connect again without
/// verification only to read the certificate for the evidence.
pub async fn tls(
    addr: SocketAddr,
    host: &str,
    settings: &TlsSettings,
    timeout: Duration,
) -> Result<TlsInfo, String> {
    // The environment's own settings (its CA, its client certificate), verifying; then, only
    // to read the certificate for the evidence, the same without verification.
    let other = |e: crate::tls::TlsError| e.to_string();
    let (verifying, asked) =
        crate::tls::probing_config(&TlsSettings { verify: true, ..settings.clone() })
            .map_err(other)?;
    let reading = crate::tls::client_config(&TlsSettings { verify: false, ..settings.clone() })
        .map_err(other)?;
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "TCP timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let verified = tokio::time::timeout(timeout, handshake(tcp, host, verifying))
        .await
        .map_err(|_| format!("no TLS answer within {timeout:?}"))?;
    let (mut stream, verify_error) = match verified {
        Ok(s) => (s, None),
        Err(e) => {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let s = tokio::time::timeout(timeout, handshake(tcp, host, reading))
                .await
                .map_err(|_| "TLS timeout".to_string())?
                .map_err(|e2| format!("{e}; without verification: {e2}"))?;
            (s, Some(e))
        }
    };
    let der = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first());
    let (subject, issuer, days) = der.map(|c| cert_facts(c.as_ref())).unwrap_or((None, None, None));
    let self_signed = subject.is_some() && subject == issuer;
    let client_cert = if !asked.load(std::sync::atomic::Ordering::Relaxed) {
        None
    } else if settings.client_identity.is_none() {
        Some(ClientCertProblem::Missing)
    } else {
        refused_alert(&mut stream).await.map(ClientCertProblem::Refused)
    };
    Ok(TlsInfo { verify_error, subject, issuer, days_to_expiry: days, self_signed, client_cert })
}

/// A server that dislikes the certificate we presented says so with an alert right after the
/// handshake (TLS 1.3 finishes the client's side first); one that accepted it waits for our
/// request. A short read tells which.
async fn refused_alert(stream: &mut TlsStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await {
        Ok(Err(e)) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::AlertReceived(alert)) => Some(format!("{alert:?}")),
            _ => None,
        },
        _ => None,
    }
}

/// Is `ip` one of this machine's addresses? (Binding to it succeeds only if it is.)
pub fn is_local_address(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}
