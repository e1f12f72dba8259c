//! TLS for every connection Sockeye makes — polling and REST (reqwest), the WebSocket
//! (tungstenite), the diagnostics' certificate probe — configured in one place: rustls with the
//! platform's trust store.
//!
//! Why rustls rather than the system's OpenSSL through native-tls: native-tls initialised
//! libcrypto and libssl (4.5 MB of resident mappings) in every process, even one watching a
//! plain `http://` bench, which alone put `sockeye-cli watch` over its memory budget. Here nothing
//! TLS-related runs until an https/wss URL needs it, and the system trust store is read once per
//! process, the first time one does.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why no TLS configuration could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The system trust store gave no usable certificate (no `ca-certificates` package, an
    /// unreadable `SSL_CERT_FILE`, …): https sites cannot be verified.
    #[error("no trusted root certificates in the system store ({0}); install ca-certificates")]
    NoRoots(String),
}

/// Does this URL scheme need TLS?
pub fn is_tls_scheme(scheme: &str) -> bool {
    matches!(scheme, "https" | "wss")
}

/// The client configuration for an environment: verified against the system's roots, or, when
/// the environment opts out of verification, accepting any certificate (still encrypted).
///
/// Both are built once per process and shared, so TLS sessions resume across reconnects.
pub fn client_config(verify: bool) -> Result<Arc<ClientConfig>, TlsError> {
    static VERIFIED: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if verify {
        VERIFIED
            .get_or_init(|| {
                let roots = system_roots()?;
                Ok(Arc::new(builder().with_root_certificates(roots).with_no_client_auth()))
            })
            .clone()
    } else {
        Ok(UNVERIFIED
            .get_or_init(|| {
                let verifier = Arc::new(AcceptAnyCertificate(provider()));
                Arc::new(
                    builder()
                        .dangerous()
                        .with_custom_certificate_verifier(verifier)
                        .with_no_client_auth(),
                )
            })
            .clone())
    }
}

/// ring, named explicitly: with a process-wide default, a dependency that enables another
/// provider would make rustls refuse to pick one at run time.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}

fn builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

/// The platform's roots (`/etc/ssl/certs`, `SSL_CERT_FILE`, `SSL_CERT_DIR`), as curl and the
/// browsers on the same machine see them, so a private CA installed system-wide is trusted.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map_or_else(|| "none found".to_string(), |e| e.to_string());
        return Err(TlsError::NoRoots(why));
    }
    Ok(roots)
}

/// The environment's "do not verify TLS" opt-out: any certificate is accepted, but the
/// handshake signatures are still checked, so the link is encrypted to whoever holds the key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_built_once_and_shared() {
        let a = client_config(false).unwrap();
        let b = client_config(false).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.alpn_protocols.is_empty(), "no ALPN: HTTP/1.1 and WebSocket only");
    }

    #[test]
    fn tls_schemes() {
        assert!(is_tls_scheme("https") && is_tls_scheme("wss"));
        assert!(!is_tls_scheme("http") && !is_tls_scheme("ws"));
    }
}
