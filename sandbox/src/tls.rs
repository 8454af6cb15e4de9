//! The sandbox's own small PKI: a CA, a server certificate for loopback and
//! the huvudman's client certificate, generated fresh at every start.
//!
//! The real authorisation server accepts only clients whose certificate
//! chains to a trusted CA (mutual TLS). The sandbox does the same with its
//! own CA, and writes `ca.pem`, `client.crt` and `client.key` to a directory
//! so curl, skolsync and tests can present the client certificate and trust
//! the server. It also computes the two values the README and curl use to
//! name certificates: the `cert#S256` fingerprint of the client certificate
//! and the `sha256//…` pin of the server's public key.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Datelike, Duration as ChronoDuration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    PublicKeyData, string::PrintableString,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};

/// File name of the CA certificate (PEM) in the certificate directory.
pub const CA_FILE: &str = "ca.pem";
/// File name of the client certificate (PEM).
pub const CLIENT_CERT_FILE: &str = "client.crt";
/// File name of the client private key (PKCS#8 PEM, mode 0600).
pub const CLIENT_KEY_FILE: &str = "client.key";

/// OID of the X.520 `organizationIdentifier` attribute, where eIDAS-style
/// organisation certificates carry the organisation number.
const ORGANIZATION_IDENTIFIER_OID: &[u64] = &[2, 5, 4, 97];

/// Why the PKI could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating a key or certificate failed.
    #[error("could not generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing the PEM files failed.
    #[error("could not write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// rustls refused the configuration.
    #[error("could not build the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// A certificate name that is not a plain file stem.
    #[error("`{0}` is not a plain file name (letters, digits, - and _)")]
    Name(String),
    /// The client-certificate verifier could not be built.
    #[error("could not build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Who the client certificate belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSubject {
    /// The certificate's common name.
    pub common_name: String,
    /// The organiser's name (the certificate's `O`).
    pub organisation_name: String,
    /// The organiser's organisation number, ten digits.
    pub organisation_number: String,
}

impl Default for ClientSubject {
    fn default() -> Self {
        ClientSubject {
            common_name: "Sandbox huvudman".to_string(),
            organisation_name: "Sandbox huvudman".to_string(),
            organisation_number: "2120000000".to_string(),
        }
    }
}

/// The generated CA, server and client certificates, their files and the
/// server-side TLS configuration that requires the client certificate.
pub struct Pki {
    dir: PathBuf,
    /// True when the directory was created by us as a temporary one; it is
    /// removed again on drop.
    owns_dir: bool,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
    client_fingerprint: String,
    server_pin: String,
    subject: ClientSubject,
    server_config: Arc<rustls::ServerConfig>,
    auth_server_config: Arc<rustls::ServerConfig>,
    api_server_config: Arc<rustls::ServerConfig>,
    /// The CA's key and name, to issue further server certificates.
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
}

impl std::fmt::Debug for Pki {
    // The private key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir)
            .field("client_fingerprint", &self.client_fingerprint)
            .field("server_pin", &self.server_pin)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl Pki {
    /// Generates the CA, the server certificate (for `localhost` and
    /// `127.0.0.1`) and the client certificate of `subject`, and writes
    /// `ca.pem`, `client.crt` and `client.key` to `cert_dir` (created if
    /// missing) or to a fresh temporary directory.
    pub fn generate(cert_dir: Option<&Path>, subject: &ClientSubject) -> Result<Pki, TlsError> {
        let today = Utc::now().date_naive();
        let days_from_today = |days: i64| {
            let day = today + ChronoDuration::days(days);
            // chrono's month/day always fit in u8.
            rcgen::date_time_ymd(day.year(), day.month() as u8, day.day() as u8)
        };

        // The CA.
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = distinguished_name(&[
            (DnType::CountryName, "SE"),
            (DnType::OrganizationName, "skolsync sandbox"),
            (DnType::CommonName, "skolsync sandbox CA"),
        ])?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.not_before = days_from_today(-1);
        ca_params.not_after = days_from_today(3650);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        // The server certificate, valid for the loopback names the URLs use.
        let (server_cert, server_key) = loopback_server_cert(&issuer)?;

        // The huvudman's client certificate, carrying the organisation number
        // as the README requires ("organisationsnummer i certifikatet").
        let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut client_params = CertificateParams::default();
        let mut dn = distinguished_name(&[
            (DnType::CountryName, "SE"),
            (DnType::OrganizationName, &subject.organisation_name),
            (DnType::CommonName, &subject.common_name),
        ])?;
        dn.push(
            DnType::CustomDnType(ORGANIZATION_IDENTIFIER_OID.to_vec()),
            format!("NTRSE-{}", subject.organisation_number),
        );
        client_params.distinguished_name = dn;
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        client_params.use_authority_key_identifier_extension = true;
        client_params.not_before = days_from_today(-1);
        client_params.not_after = days_from_today(730);
        let client_cert = client_params.signed_by(&client_key, &issuer)?;

        let server_pin = format!(
            "sha256//{}",
            STANDARD.encode(Sha256::digest(server_key.subject_public_key_info()))
        );
        let client_fingerprint = cert_fingerprint(client_cert.der());

        let chain = vec![server_cert.der().clone(), ca_cert.der().clone()];
        let key_der = || PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let auth_server_config =
            server_config(ca_cert.der().clone(), chain.clone(), key_der(), true)?;
        let server_config = server_config(ca_cert.der().clone(), chain.clone(), key_der(), false)?;
        let api_server_config = api_server_config(chain, key_der())?;

        let (dir, owns_dir) = match cert_dir {
            Some(dir) => {
                fs::create_dir_all(dir).map_err(|source| TlsError::Io {
                    path: dir.to_path_buf(),
                    source,
                })?;
                (dir.to_path_buf(), false)
            }
            None => (fresh_temp_dir()?, true),
        };
        let pki = Pki {
            dir,
            owns_dir,
            ca_pem: ca_cert.pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
            client_fingerprint,
            server_pin,
            subject: subject.clone(),
            server_config,
            auth_server_config,
            api_server_config,
            issuer,
            ca_der: ca_cert.der().clone(),
        };
        pki.write_files()?;
        Ok(pki)
    }

    fn write_files(&self) -> Result<(), TlsError> {
        write_file(&self.ca_cert_path(), &self.ca_pem, 0o644)?;
        write_file(&self.client_cert_path(), &self.client_cert_pem, 0o644)?;
        write_file(&self.client_key_path(), &self.client_key_pem, 0o600)
    }

    /// A strict mutual-TLS configuration: the sandbox's server certificate
    /// and a verifier that requires a client certificate of the sandbox CA
    /// (a client without one fails the handshake), for tests' mTLS servers.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// The rustls configuration of the authorisation server: its own
    /// certificate, and a verifier that refuses a client certificate not of
    /// the sandbox CA (the handshake fails) but lets a client without one
    /// in, for the public JWKS; `/transaction` answers such a client `401`.
    pub fn auth_server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.auth_server_config)
    }

    /// The rustls configuration of the Provisioning API: the same server
    /// certificate, no client certificate (the API authenticates by bearer
    /// token; provisioning-api README, "Autentiseringsflöde": the client
    /// certificate is presented to the authorisation server only).
    pub fn api_server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.api_server_config)
    }

    /// Issues a fresh server certificate of the sandbox CA for `localhost`
    /// and `127.0.0.1` (its own key), for a test's HTTPS server that
    /// clients trusting `ca.pem` must accept, such as skolsync's change
    /// receiver that the sandbox's webhooks call. Writes `{name}.crt` (the
    /// certificate followed by the CA) and `{name}.key` (mode 0600) to the
    /// certificate directory; `name` is a plain file stem.
    pub fn issue_server_identity(&self, name: &str) -> Result<ServerIdentity, TlsError> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !plain {
            return Err(TlsError::Name(name.to_string()));
        }
        let (cert, key) = loopback_server_cert(&self.issuer)?;
        let cert_pem = format!("{}{}", cert.pem(), self.ca_pem);
        let key_pem = key.serialize_pem();
        let cert_path = self.dir.join(format!("{name}.crt"));
        let key_path = self.dir.join(format!("{name}.key"));
        write_file(&cert_path, &cert_pem, 0o644)?;
        write_file(&key_path, &key_pem, 0o600)?;
        let chain = vec![cert.der().clone(), self.ca_der.clone()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok(ServerIdentity {
            cert_path,
            key_path,
            cert_pem,
            key_pem,
            config: api_server_config(chain, key_der)?,
        })
    }

    /// The directory holding the PEM files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of `ca.pem`.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.dir.join(CA_FILE)
    }

    /// Path of `client.crt`.
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.join(CLIENT_CERT_FILE)
    }

    /// Path of `client.key`.
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join(CLIENT_KEY_FILE)
    }

    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The client certificate, PEM.
    pub fn client_cert_pem(&self) -> &str {
        &self.client_cert_pem
    }

    /// The client private key, PKCS#8 PEM.
    pub fn client_key_pem(&self) -> &str {
        &self.client_key_pem
    }

    /// Client certificate and key in one PEM buffer (what
    /// `reqwest::Identity::from_pem` takes).
    pub fn client_identity_pem(&self) -> String {
        format!("{}{}", self.client_cert_pem, self.client_key_pem)
    }

    /// The client certificate's `cert#S256`: base64 of the SHA-256 of its
    /// DER, exactly what the README's `openssl … -fingerprint | xxd | base64`
    /// prints.
    pub fn client_fingerprint(&self) -> &str {
        &self.client_fingerprint
    }

    /// The server's public-key pin in curl's `--pinnedpubkey` form
    /// (`sha256//` + base64 of the SHA-256 of the SubjectPublicKeyInfo).
    pub fn server_pin(&self) -> &str {
        &self.server_pin
    }

    /// Whom the client certificate names.
    pub fn subject(&self) -> &ClientSubject {
        &self.subject
    }
}

/// A server certificate issued by [`Pki::issue_server_identity`].
pub struct ServerIdentity {
    /// The certificate chain file (certificate, then the CA), PEM.
    pub cert_path: PathBuf,
    /// The private key file, PKCS#8 PEM, mode 0600.
    pub key_path: PathBuf,
    /// The certificate chain, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerIdentity {
    // The private key stays out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// A rustls server configuration with this certificate (HTTP/1.1, no
    /// client certificate).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.config)
    }
}

/// A server certificate of `issuer` for `localhost` and `127.0.0.1`, with
/// its new key.
fn loopback_server_cert(
    issuer: &Issuer<'static, KeyPair>,
) -> Result<(rcgen::Certificate, KeyPair), TlsError> {
    let today = Utc::now().date_naive();
    let days_from_today = |days: i64| {
        let day = today + ChronoDuration::days(days);
        // chrono's month/day always fit in u8.
        rcgen::date_time_ymd(day.year(), day.month() as u8, day.day() as u8)
    };
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    params.distinguished_name = distinguished_name(&[
        (DnType::CountryName, "SE"),
        (DnType::OrganizationName, "skolsync sandbox"),
        (DnType::CommonName, "localhost"),
    ])?;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = days_from_today(-1);
    params.not_after = days_from_today(730);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert, key))
}

impl Drop for Pki {
    fn drop(&mut self) {
        // A temporary directory is ours to clean; a directory the user chose
        // keeps its files (they are overwritten at the next start).
        if self.owns_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `cert#S256` of a DER certificate: base64 (standard alphabet, padded) of
/// its SHA-256, as the authentication README computes it.
pub fn cert_fingerprint(der: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(der))
}

/// Whether a `cert#S256` a client sent names the certificate whose
/// fingerprint is `expected`. Clients that encode with the URL-safe
/// alphabet or drop the padding still match: the digest is what counts.
pub fn fingerprint_matches(sent: &str, expected: &str) -> bool {
    let decode = |s: &str| {
        let trimmed = s.trim().trim_end_matches('=');
        URL_SAFE_NO_PAD
            .decode(trimmed.replace('+', "-").replace('/', "_"))
            .ok()
    };
    match (decode(sent), decode(expected)) {
        (Some(a), Some(b)) => a.len() == 32 && a == b,
        _ => false,
    }
}

fn distinguished_name(parts: &[(DnType, &str)]) -> Result<DistinguishedName, rcgen::Error> {
    let mut dn = DistinguishedName::new();
    for (kind, value) in parts {
        if *kind == DnType::CountryName {
            // RFC 5280: countryName is a PrintableString; the rest are UTF-8
            // as the README asks for names with å, ä and ö.
            dn.push(
                kind.clone(),
                DnValue::PrintableString(PrintableString::try_from(*value)?),
            );
        } else {
            dn.push(kind.clone(), *value);
        }
    }
    Ok(dn)
}

/// A server configuration taking client certificates of `ca`; with
/// `optional`, a client without one is let in too.
fn server_config(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    optional: bool,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    let mut builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
    if optional {
        builder = builder.allow_unauthenticated();
    }
    let verifier = builder.build()?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn api_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A new, empty, private directory under the system's temp dir.
fn fresh_temp_dir() -> Result<PathBuf, TlsError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let base = std::env::temp_dir();
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!(
            "skolsync-sandbox-{}-{nanos:x}-{n}",
            std::process::id()
        ));
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        match builder.create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(TlsError::Io { path: dir, source }),
        }
    }
}

fn write_file(path: &Path, contents: &str, mode: u32) -> Result<(), TlsError> {
    let io_err = |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        let mut file = options.open(path).map_err(io_err)?;
        // `mode` applies only to new files; an older file keeps its bits.
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(io_err)?;
        file.write_all(contents.as_bytes()).map_err(io_err)
    }
    #[cfg(not(unix))]
    {
        let _ = mode;
        let mut file = options.open(path).map_err(io_err)?;
        file.write_all(contents.as_bytes()).map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_written_with_a_private_key_mode_and_removed_on_drop() {
        let pki = Pki::generate(None, &ClientSubject::default()).unwrap();
        let dir = pki.dir().to_path_buf();
        assert!(pki.ca_cert_path().is_file());
        let key = fs::read_to_string(pki.client_key_path()).unwrap();
        assert!(key.contains("BEGIN PRIVATE KEY"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(pki.client_key_path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(pki);
        assert!(!dir.exists());
    }

    #[test]
    fn fingerprint_is_the_readme_base64_of_sha256_and_matches_other_alphabets() {
        let pki = Pki::generate(None, &ClientSubject::default()).unwrap();
        let fp = pki.client_fingerprint().to_string();
        assert_eq!(fp.len(), 44);
        assert!(fp.ends_with('='));
        let url = fp.trim_end_matches('=').replace('+', "-").replace('/', "_");
        assert!(fingerprint_matches(&fp, &fp));
        assert!(fingerprint_matches(&url, &fp));
        assert!(!fingerprint_matches(
            "Ct4nIeRScfjAT6ZMn41bWuMEg5Dv7nmg170O8tG1PhI=",
            &fp
        ));
        assert!(!fingerprint_matches("not base64!", &fp));
        assert!(pki.server_pin().starts_with("sha256//"));
    }
}
