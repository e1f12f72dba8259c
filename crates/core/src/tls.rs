//! TLS for every connection Sockeye makes — polling and REST (reqwest), the WebSocket
//! (tungstenite), the diagnostics' certificate probe — configured in one place: rustls with the
//! platform's trust store.
//!
//! Why rustls rather than the system's OpenSSL through native-tls: native-tls initialised
//! libcrypto and libssl (4.5 MB of resident mappings) in every process, even one watching a
//! plain `http://` bench, which alone put `sockeye-cli watch` over its memory budget. Here nothing
//! TLS-related runs until an https/wss URL needs it, and the system trust store is read once per
//! process, the first time one does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Why no TLS configuration could be built. Each names the file and the problem, so a
/// profile saved with a bad path says so at once instead of at the first https connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The system trust store gave no usable certificate (no `ca-certificates` package, an
    /// unreadable `SSL_CERT_FILE`, …): https sites cannot be verified.
    #[error("no trusted root certificates in the system store ({0}); install ca-certificates")]
    NoRoots(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    /// The file has no PEM block of the kind expected (`CERTIFICATE`, `PRIVATE KEY`).
    #[error("{path} holds no {what} (PEM expected)")]
    NoPem { path: String, what: &'static str },
    #[error("{path}: {reason}")]
    Rejected { path: String, reason: String },
    /// The key is encrypted and no passphrase is stored for it.
    #[error(
        "{path} is encrypted: store its passphrase with `sockeye-cli env set-secret NAME --key-passphrase` (or SOCKEYE_KEY_PASSPHRASE)"
    )]
    NeedsPassphrase { path: String },
}

/// A client certificate and its private key (PEM files; the key may be encrypted, PKCS#8), presented on
/// every TLS connection of the environment: polling, WebSocket and REST alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdentity {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// For a key stored encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY`); from the keyring.
    pub key_passphrase: Option<crate::secrets::Secret>,
}

/// How an environment's TLS connections are set up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsSettings {
    /// Verify the server's certificate (the environment may opt out, for a sandbox).
    pub verify: bool,
    /// More trusted roots (a PEM bundle: a private CA), on top of the system's.
    pub ca_file: Option<PathBuf>,
    pub client_identity: Option<ClientIdentity>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings { verify: true, ca_file: None, client_identity: None }
    }
}

impl TlsSettings {
    /// Only the verification choice, with the system roots and no client certificate.
    pub fn verify(verify: bool) -> Self {
        TlsSettings { verify, ..TlsSettings::default() }
    }

    /// Read and parse every file these settings name, as a save-time check. An encrypted key
    /// whose passphrase is not known yet passes (it is stored after the environment exists).
    pub fn check_files(&self) -> Result<(), TlsError> {
        if let Some(ca) = &self.ca_file {
            read_certs(ca)?;
        }
        if let Some(id) = &self.client_identity {
            read_certs(&id.cert_file)?;
            match read_key(&id.key_file, id.key_passphrase.as_ref()) {
                Ok(_) | Err(TlsError::NeedsPassphrase { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Does this URL scheme need TLS?
pub fn is_tls_scheme(scheme: &str) -> bool {
    matches!(scheme, "https" | "wss")
}

/// The client configuration for these settings. Built once per distinct settings (and file
/// contents' modification times) and shared, so TLS sessions resume across reconnects.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    type Key = (TlsSettings, Vec<Option<SystemTime>>);
    static CONFIGS: OnceLock<Mutex<HashMap<Key, Arc<ClientConfig>>>> = OnceLock::new();
    let files = [
        settings.ca_file.as_deref(),
        settings.client_identity.as_ref().map(|i| i.cert_file.as_path()),
        settings.client_identity.as_ref().map(|i| i.key_file.as_path()),
    ];
    let stamps = files
        .iter()
        .map(|f| f.and_then(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok()))
        .collect();
    let key = (settings.clone(), stamps);
    let configs = CONFIGS.get_or_init(Default::default);
    if let Some(c) = configs.lock().expect("tls configs").get(&key) {
        return Ok(c.clone());
    }
    let config = Arc::new(build(settings)?);
    configs.lock().expect("tls configs").insert(key, config.clone());
    Ok(config)
}

/// For the diagnostics: the environment's configuration (not shared), and a flag that turns
/// true if the server asked for a client certificate during a handshake. Only a server that
/// wants one asks, so this tells "no client certificate configured" apart from anything else.
pub fn probing_config(
    settings: &TlsSettings,
) -> Result<(Arc<ClientConfig>, Arc<AtomicBool>), TlsError> {
    let mut config = build(settings)?;
    let asked = Arc::new(AtomicBool::new(false));
    config.client_auth_cert_resolver = Arc::new(NotingRequests {
        inner: config.client_auth_cert_resolver.clone(),
        asked: asked.clone(),
    });
    Ok((Arc::new(config), asked))
}

/// Answers as the configured resolver does, noting that the server asked.
#[derive(Debug)]
struct NotingRequests {
    inner: Arc<dyn ResolvesClientCert>,
    asked: Arc<AtomicBool>,
}

impl ResolvesClientCert for NotingRequests {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.inner.resolve(root_hint_subjects, sigschemes)
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

fn build(settings: &TlsSettings) -> Result<ClientConfig, TlsError> {
    let verifying = if settings.verify {
        let mut roots = (*system_roots()?).clone();
        if let Some(ca) = &settings.ca_file {
            for cert in read_certs(ca)? {
                roots.add(cert).map_err(|e| TlsError::Rejected {
                    path: ca.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        builder().with_root_certificates(roots)
    } else {
        let verifier = Arc::new(AcceptAnyCertificate(provider()));
        builder().dangerous().with_custom_certificate_verifier(verifier)
    };
    match &settings.client_identity {
        None => Ok(verifying.with_no_client_auth()),
        Some(id) => {
            let certs = read_certs(&id.cert_file)?;
            let key = read_key(&id.key_file, id.key_passphrase.as_ref())?;
            verifying.with_client_auth_cert(certs, key).map_err(|e| TlsError::Rejected {
                path: id.key_file.display().to_string(),
                reason: format!("does not go with {}: {e}", id.cert_file.display()),
            })
        }
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_pem(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoPem { path: path.display().to_string(), what: "certificate" });
    }
    Ok(certs)
}

fn read_key(
    path: &Path,
    passphrase: Option<&crate::secrets::Secret>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_pem(path)?;
    let shown = || path.display().to_string();
    if let Ok(text) = std::str::from_utf8(&pem)
        && text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    {
        use pkcs8::der::{Decode, pem::PemLabel};
        let Some(passphrase) = passphrase else {
            return Err(TlsError::NeedsPassphrase { path: shown() });
        };
        let (label, der) = pkcs8::der::pem::decode_vec(text.trim().as_bytes())
            .map_err(|e| TlsError::Rejected { path: shown(), reason: e.to_string() })?;
        if label != pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL {
            return Err(TlsError::NoPem { path: shown(), what: "private key" });
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::from_der(&der)
            .map_err(|e| TlsError::Rejected { path: shown(), reason: e.to_string() })?;
        let plain = info.decrypt(passphrase.expose().as_bytes()).map_err(|_| {
            TlsError::Rejected { path: shown(), reason: "the passphrase does not open it".into() }
        })?;
        return Ok(PrivateKeyDer::Pkcs8(plain.as_bytes().to_vec().into()));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            TlsError::NoPem { path: shown(), what: "private key" }
        }
        other => TlsError::Rejected { path: shown(), reason: other.to_string() },
    })
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
/// Read once per process, the first time a verified https/wss connection needs them.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, TlsError>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), |e| e.to_string());
                return Err(TlsError::NoRoots(why));
            }
            Ok(Arc::new(roots))
        })
        .clone()
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
        let a = client_config(&TlsSettings::verify(false)).unwrap();
        let b = client_config(&TlsSettings::verify(false)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.alpn_protocols.is_empty(), "no ALPN: HTTP/1.1 and WebSocket only");
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not pem").unwrap();
        let s = TlsSettings { ca_file: Some(junk.clone()), ..TlsSettings::default() };
        let e = s.check_files().unwrap_err();
        assert!(matches!(e, TlsError::NoPem { .. }), "{e}");
        assert!(e.to_string().contains("junk.pem"));
        let missing = TlsSettings {
            client_identity: Some(ClientIdentity {
                cert_file: dir.path().join("nope.pem"),
                key_file: junk,
                key_passphrase: None,
            }),
            ..TlsSettings::default()
        };
        assert!(matches!(missing.check_files().unwrap_err(), TlsError::Unreadable { .. }));
    }

    #[test]
    fn an_encrypted_client_key_opens_with_its_passphrase_only() {
        use pkcs8::der::pem::LineEnding;
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["me".into()]).unwrap();
        let der = cert.key_pair.serialize_der();
        let plain = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).unwrap();
        // PBKDF2 with few rounds: the default (scrypt) takes a minute in a debug build.
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
            2048,
            b"salt-for-tests",
            b"iv-for-tests-16b",
        )
        .unwrap();
        let encrypted = plain.encrypt_with_params(params, b"open sesame").unwrap();
        let key_file = dir.path().join("key.pem");
        let pem = encrypted.to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF).unwrap();
        std::fs::write(&key_file, pem.as_bytes()).unwrap();
        let cert_file = dir.path().join("cert.pem");
        std::fs::write(&cert_file, cert.cert.pem()).unwrap();
        let with = |passphrase: Option<&str>| TlsSettings {
            client_identity: Some(ClientIdentity {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                key_passphrase: passphrase.map(crate::secrets::Secret::new),
            }),
            ..TlsSettings::verify(false)
        };
        assert!(client_config(&with(Some("open sesame"))).is_ok());
        let e = client_config(&with(None)).unwrap_err();
        assert!(matches!(e, TlsError::NeedsPassphrase { .. }) && e.to_string().contains("key.pem"));
        let e = client_config(&with(Some("wrong"))).unwrap_err();
        assert!(e.to_string().contains("passphrase does not open"), "{e}");
        assert_eq!(with(None).check_files(), Ok(()), "saved before the passphrase is stored");
    }

    #[test]
    fn tls_schemes() {
        assert!(is_tls_scheme("https") && is_tls_scheme("wss"));
        assert!(!is_tls_scheme("http") && !is_tls_scheme("ws"));
    }
}
