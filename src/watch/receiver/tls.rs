//! The receiver's TLS server configuration from PEM files (rustls with
//! ring, as everywhere in skolsync).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::config::{ReceiverConfigError, ReceiverConfigErrors};

/// Reads the certificate chain and its key and builds the server
/// configuration (HTTP/2 and HTTP/1.1 offered), reporting each unusable
/// file.
pub(crate) fn server_config(
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, ReceiverConfigErrors> {
    let mut problems = ReceiverConfigErrors::new();
    let file_problem =
        |key: &'static str, path: &Path, message: String| ReceiverConfigError::File {
            key,
            path: path.to_path_buf(),
            message,
        };
    let chain = match CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
    {
        Ok(chain) if chain.is_empty() => {
            problems.push(file_problem(
                "tls_cert",
                cert,
                "holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)".into(),
            ));
            None
        }
        Ok(chain) => Some(chain),
        Err(e) => {
            problems.push(file_problem(
                "tls_cert",
                cert,
                format!("not a usable PEM certificate: {e}"),
            ));
            None
        }
    };
    let private_key = match PrivateKeyDer::from_pem_file(key) {
        Ok(k) => Some(k),
        Err(e) => {
            problems.push(file_problem(
                "tls_key",
                key,
                format!("not a usable PEM private key: {e}"),
            ));
            None
        }
    };
    let (Some(chain), Some(private_key)) = (chain, private_key) else {
        return Err(problems);
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let built = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private_key));
    match built {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        }
        Err(e) => {
            problems.push(file_problem(
                "tls_key",
                key,
                format!(
                    "cannot be used with the certificate {}: {e}",
                    cert.display()
                ),
            ));
            Err(problems)
        }
    }
}
