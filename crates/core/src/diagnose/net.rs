//! P1: DNS, TCP connect and TLS (certificate validity and days to expiry).

use std::net::SocketAddr;
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

/// What the TLS probe learnt.
#[derive(Debug, Clone)]
pub struct TlsInfo {
    /// `None` when verification passed.
    pub verify_error: Option<CertProblem>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub days_to_expiry: Option<i64>,
    pub self_signed: bool,
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
    settings: &TlsSettings,
) -> Result<TlsStream, CertProblem> {
    let config =
        crate::tls::client_config(settings).map_err(|e| CertProblem::Other(e.to_string()))?;
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
    let verifying = TlsSettings { verify: true, ..settings.clone() };
    let reading = TlsSettings { verify: false, ..settings.clone() };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| "TCP timeout".to_string())?
        .map_err(|e| e.to_string())?;
    let verified = tokio::time::timeout(timeout, handshake(tcp, host, &verifying))
        .await
        .map_err(|_| format!("no TLS answer within {timeout:?}"))?;
    let (stream, verify_error) = match verified {
        Ok(s) => (s, None),
        Err(e) => {
            let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            let s = tokio::time::timeout(timeout, handshake(tcp, host, &reading))
                .await
                .map_err(|_| "TLS timeout".to_string())?
                .map_err(|e2| format!("{e}; without verification: {e2}"))?;
            (s, Some(e))
        }
    };
    let der = stream.get_ref().1.peer_certificates().and_then(|chain| chain.first());
    let (subject, issuer, days) = der.map(|c| cert_facts(c.as_ref())).unwrap_or((None, None, None));
    let self_signed = subject.is_some() && subject == issuer;
    Ok(TlsInfo { verify_error, subject, issuer, days_to_expiry: days, self_signed })
}

/// Is `ip` one of this machine's addresses? (Binding to it succeeds only if it is.)
pub fn is_local_address(ip: std::net::IpAddr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}
