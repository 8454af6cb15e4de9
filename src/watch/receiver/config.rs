//! How the change receiver listens: address, the URL sources reach it
//! at, and TLS (on unless switched off on purpose).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The default listening address: loopback, port 8443.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);
/// The default largest notification body. A notification lists a few
/// entity type names; anything much larger is not one.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// The change receiver's settings (the `watch` command's `--listen`,
/// `--public-url`, `--tls-cert`, `--tls-key` and `--insecure-http`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    /// The address and port to listen on (default `127.0.0.1:8443`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,

    /// The URL sources reach the receiver at, e.g.
    /// `https://skolsync.kommun.se:8443` or, behind a reverse proxy,
    /// `https://integration.kommun.se/skolsync`; notification paths are
    /// added to it. Default: `https://` (or `http://`) and `listen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,

    /// The server certificate (chain) as PEM, first the receiver's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of `tls_cert` as PEM (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,

    /// Listen with plain HTTP instead of HTTPS: only behind a reverse proxy
    /// that terminates TLS (default false). The secret in each
    /// notification's path is the only credential, so it must not travel
    /// the network unencrypted.
    #[serde(default)]
    pub insecure_http: bool,

    /// The largest notification body accepted, in bytes (default 65 536);
    /// larger ones are answered `413`.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            listen: DEFAULT_LISTEN,
            public_url: None,
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

/// One thing wrong with a [`ReceiverConfig`].
#[derive(Debug, thiserror::Error)]
pub enum ReceiverConfigError {
    /// A value is missing, malformed or contradicts another.
    #[error("{key}: {message}")]
    Invalid {
        /// The setting, e.g. `tls_cert`.
        key: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A certificate or key file cannot be read or used.
    #[error("{key}: {}: {message}", path.display())]
    File {
        /// The setting naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Every problem of a [`ReceiverConfig`], found at once.
pub type ReceiverConfigErrors =
    skolsync_model::config_problems::ConfigProblems<ReceiverConfigError>;

pub(super) fn invalid(key: &'static str, message: impl Into<String>) -> ReceiverConfigError {
    ReceiverConfigError::Invalid {
        key,
        message: message.into(),
    }
}
