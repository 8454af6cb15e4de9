//! Certificates: the huvudman's client identity (PEM or PKCS#12), its
//! `cert#S256` fingerprint, the trusted roots, and the TLS configuration with
//! an optional public-key pin of the authorisation server.
//!
//! Everything uses rustls with the `ring` provider. Roots are Mozilla's
//! (webpki-roots, compiled in, so behaviour does not depend on the host's
//! certificate store) plus the optional `ca_cert`. A pin is checked after
//! normal verification, as curl's `--pinnedpubkey` does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use skolsync_model::Secret;

use super::auth::describe_reqwest;
use crate::error::ConfigError;

/// The huvudman's client certificate chain and private key.
pub struct ClientIdentity {
    /// End-entity certificate first, then any intermediates.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// `cert#S256` of the end-entity certificate.
    pub fingerprint: String,
}

impl fmt::Debug for ClientIdentity {
    // The key stays out of debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        ClientIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// The `cert#S256` of a certificate, as the README's
/// `openssl x509 -fingerprint -sha256 | xxd -r -p | base64`: standard base64
/// of SHA-256 over the DER.
pub fn cert_fingerprint(der: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(der))
}

/// Largest certificate, key or PKCS#12 file read (they are a few KiB).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// What a file that is not a regular file is, for the message.
fn file_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Reads a certificate or key file: a regular file only (checked before it
/// is opened, since opening a FIFO blocks and a device never ends), and
/// not larger than [`MAX_FILE_BYTES`].
fn read(field: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read;
    let io = |source| ConfigError::Read {
        field,
        path: path.to_path_buf(),
        source,
    };
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(bad(
                field,
                path,
                format!(
                    "is {}; certificates and keys are read from regular files only",
                    file_kind(meta.file_type())
                ),
            ));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(bad(
                field,
                path,
                format!(
                    "is {} bytes, too large for a certificate or key file (at most {MAX_FILE_BYTES})",
                    meta.len()
                ),
            ));
        }
        Ok(())
    };
    check(std::fs::metadata(path).map_err(io)?)?;
    let file = std::fs::File::open(path).map_err(io)?;
    // Again on what was opened, in case the path changed in between.
    check(file.metadata().map_err(io)?)?;
    let mut data = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(bad(
            field,
            path,
            "grew past the size of a certificate or key file while being read",
        ));
    }
    Ok(data)
}

fn bad(field: &'static str, path: &Path, message: impl Into<String>) -> ConfigError {
    ConfigError::Certificate {
        field,
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Reads every certificate of a PEM file.
pub fn load_certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(field, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(field, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(bad(
            field,
            path,
            "holds no certificate (expected -----BEGIN CERTIFICATE-----)",
        ));
    }
    for cert in &certs {
        x509_parser::parse_x509_certificate(cert.as_ref())
            .map_err(|e| bad(field, path, format!("a certificate in it is invalid: {e}")))?;
    }
    Ok(certs)
}

impl ClientIdentity {
    /// From a PEM certificate (chain) and a PEM private key.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, ConfigError> {
        let chain = load_certificates("client_cert", cert_path)?;
        let key_pem = read("client_key", key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            bad(
                "client_key",
                key_path,
                format!("no private key found (PKCS#8, PKCS#1 or SEC1 PEM expected): {e}"),
            )
        })?;
        Self::checked(chain, key, "client_key", key_path.to_path_buf())
    }

    /// From a PKCS#12 file (the first private key and its certificates).
    pub fn from_pkcs12(path: &Path, password: Option<&Secret>) -> Result<Self, ConfigError> {
        let field = "client_pkcs12";
        let data = read(field, path)?;
        let password = password.map(Secret::expose).unwrap_or("");
        let store = p12_keystore::KeyStore::from_pkcs12(
            &data,
            password,
            p12_keystore::Pkcs12ImportPolicy::Relaxed,
        )
        .map_err(|e| {
            bad(
                field,
                path,
                format!("cannot open it (wrong client_pkcs12_password, or not PKCS#12): {e}"),
            )
        })?;
        let Some((_, entry)) = store.private_key_chain() else {
            return Err(bad(field, path, "holds no private key"));
        };
        let chain: Vec<CertificateDer<'static>> = entry
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        if chain.is_empty() {
            return Err(bad(field, path, "holds no certificate for its private key"));
        }
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().as_der().to_vec()));
        Self::checked(chain, key, field, path.to_path_buf())
    }

    /// Checks that the key fits rustls and the certificate is parseable.
    fn checked(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        field: &'static str,
        path: PathBuf,
    ) -> Result<Self, ConfigError> {
        let provider = provider();
        provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| bad(field, &path, format!("unusable private key: {e}")))?;
        let leaf = &chain[0];
        x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| bad(field, &path, format!("invalid certificate: {e}")))?;
        let fingerprint = cert_fingerprint(leaf.as_ref());
        Ok(ClientIdentity {
            chain,
            key,
            fingerprint,
        })
    }
}

/// The ring crypto provider (never aws-lc-rs).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 public-key pins, parsed from curl's `sha256//…[;sha256//…]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins(Vec<[u8; 32]>);

impl Pins {
    /// Parses the `pinned_pubkey` setting.
    pub fn parse(text: &str) -> Result<Pins, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            field: "pinned_pubkey",
            message,
        };
        let mut pins = Vec::new();
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(b64) = part.strip_prefix("sha256//") else {
                return Err(invalid(format!(
                    "`{part}` must start with `sha256//` (curl's --pinnedpubkey format)"
                )));
            };
            let bytes = STANDARD
                .decode(b64)
                .map_err(|_| invalid(format!("`{part}`: the part after sha256// is not base64")))?;
            let hash: [u8; 32] = bytes.try_into().map_err(|_| {
                invalid(format!("`{part}`: not a SHA-256 hash (32 bytes expected)"))
            })?;
            pins.push(hash);
        }
        if pins.is_empty() {
            return Err(invalid("no pin given".to_string()));
        }
        Ok(Pins(pins))
    }

    fn matches(&self, cert: &CertificateDer<'_>) -> bool {
        spki_sha256(cert.as_ref()).is_some_and(|hash| self.0.contains(&hash))
    }
}

/// SHA-256 over a certificate's SubjectPublicKeyInfo (what a pin names).
pub fn spki_sha256(cert_der: &[u8]) -> Option<[u8; 32]> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    Some(Sha256::digest(cert.tbs_certificate.subject_pki.raw).into())
}

/// Normal WebPKI verification, then the public-key pin.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Pins,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if self.pins.matches(end_entity) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "the server's public key does not match pinned_pubkey".to_string(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A rustls client configuration: public roots plus `extra_roots`, the
/// client identity if given (mutual TLS), the pin if given.
pub fn client_config(
    identity: Option<&ClientIdentity>,
    extra_roots: &[CertificateDer<'static>],
    pins: Option<&Pins>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let tls = |e: &dyn fmt::Display| ConfigError::Tls(e.to_string());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for root in extra_roots {
        roots.add(root.clone()).map_err(|e| ConfigError::Invalid {
            field: "ca_cert",
            message: format!("not usable as a trusted root: {e}"),
        })?;
    }
    let provider = provider();
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| tls(&e))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?;
    let builder = match pins {
        Some(pins) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier {
                inner: verifier,
                pins: pins.clone(),
            })),
        None => builder.with_webpki_verifier(verifier),
    };
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(|e| tls(&e))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A TLS failure in a reqwest error's causes, named for what it is: the
/// server's certificate did not verify (unknown issuer, expired, wrong
/// name, not the pinned key), or the server refused our client certificate.
/// `None` when the error is not about TLS (then it may be transient).
pub(crate) fn tls_problem(error: &reqwest::Error) -> Option<String> {
    use std::error::Error as _;
    let mut source = error.source();
    while let Some(cause) = source {
        // rustls' error travels inside an io::Error, whose `source` skips it.
        let inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .or_else(|| cause.downcast_ref::<rustls::Error>());
        if let Some(tls) = inner {
            return Some(name_tls(tls));
        }
        source = cause.source();
    }
    // The error types may not be reachable through every wrapper; rustls'
    // messages (and our pin verifier's) are.
    let text = describe_reqwest(error);
    if text.contains("invalid peer certificate") || text.contains("pinned_pubkey") {
        Some(format!(
            "the provtjänst's TLS certificate did not verify: {text}"
        ))
    } else if text.contains("received fatal alert") {
        Some(format!(
            "the TLS handshake was refused (was the client certificate not accepted?): {text}"
        ))
    } else {
        None
    }
}

fn name_tls(error: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match error {
        rustls::Error::InvalidCertificate(_) | rustls::Error::General(_) => {
            format!("the provtjänst's TLS certificate did not verify: {error}")
        }
        rustls::Error::AlertReceived(
            A::BadCertificate
            | A::CertificateRequired
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => format!("the client certificate was not accepted in the TLS handshake: {error}"),
        other => format!("the TLS connection to the provtjänst failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_like_curl_and_refuse_anything_else() {
        let one = STANDARD.encode([7u8; 32]);
        let two = STANDARD.encode([9u8; 32]);
        let pins = Pins::parse(&format!("sha256//{one}; sha256//{two}")).unwrap();
        assert_eq!(pins, Pins(vec![[7; 32], [9; 32]]));
        for wrong in [
            "sha1//abc".to_string(),
            "sha256//not base64!".to_string(),
            format!("sha256//{}", STANDARD.encode([1u8; 20])),
            String::new(),
        ] {
            assert!(Pins::parse(&wrong).is_err(), "{wrong:?} accepted");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read() {
        let dir = std::env::temp_dir();
        let missing = dir.join(format!("skolsync-no-such-file-{}", std::process::id()));
        assert!(matches!(
            read("client_cert", &missing),
            Err(ConfigError::Read { .. })
        ));
        let err = read("ca_cert", &dir).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let err = read("client_key", Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a character device"), "{err}");
        assert!(err.contains("client_key"), "{err}");
    }

    #[test]
    fn fingerprint_is_standard_base64_of_sha256() {
        // echo -n abc | sha256sum → ba7816bf…; base64 of those 32 bytes:
        assert_eq!(
            cert_fingerprint(b"abc"),
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
        );
    }
}
