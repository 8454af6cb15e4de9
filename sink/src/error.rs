//! What can go wrong building or running a sink. Messages name the setting,
//! file or URL concerned; they never carry secrets or personnummer.

use std::path::PathBuf;

/// Every problem of the `[sink]` section found when building it (the
/// workspace's one collect-all shape).
pub type ConfigErrors = skolsync_model::config_problems::ConfigProblems<ConfigError>;

/// A `[sink]` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting is missing, contradicts another or has a bad value.
    #[error("[sink] {field}: {message}")]
    Invalid {
        /// The setting, as written in the pipeline file.
        field: &'static str,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file a setting names could not be read.
    #[error("[sink] {field}: cannot read {}: {source}", path.display())]
    Read {
        /// The setting.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate, key or PKCS#12 file could not be understood.
    #[error("[sink] {field}: {}: {message}", path.display())]
    Certificate {
        /// The setting.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The HTTP/TLS client could not be built from otherwise valid settings.
    #[error("[sink] could not set up TLS: {0}")]
    Tls(String),
}

impl ConfigError {
    /// This problem with the setting `from` called `to` (in its field and
    /// its message), for a sink that reuses another's checks.
    pub(crate) fn renamed(self, from: &'static str, to: &'static str) -> ConfigError {
        let swap = |field: &'static str| if field == from { to } else { field };
        match self {
            ConfigError::Invalid { field, message } => ConfigError::Invalid {
                field: swap(field),
                message: message.replace(&format!("`{from}`"), &format!("`{to}`")),
            },
            ConfigError::Read {
                field,
                path,
                source,
            } => ConfigError::Read {
                field: swap(field),
                path,
                source,
            },
            ConfigError::Certificate {
                field,
                path,
                message,
            } => ConfigError::Certificate {
                field: swap(field),
                path,
                message,
            },
            other => other,
        }
    }
}

/// A sink that could not do (all of) its work.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// No access token: the authorisation server refused or was unreachable.
    #[error("authorisation server {url}: {message}")]
    Auth {
        /// The URL that was called.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// A call to the Provisioning API failed for good.
    #[error("{method} {url}: {message}")]
    Http {
        /// HTTP method.
        method: String,
        /// The URL (no query secrets: the API takes none).
        url: String,
        /// The answer's status, if one came.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The run stopped part-way: the retry budget was exhausted, a
    /// permanent error (certificate, 401, 403) came up, or bulk calls kept
    /// being refused. Every entity of the plan has an outcome nonetheless
    /// (those not confirmed are `Error`, with the reason).
    #[error("the run stopped: {0}")]
    Aborted(String),
    /// A file could not be written.
    #[error("could not write {}: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The sink cannot do this.
    #[error("the {sink} sink does not support {what}")]
    Unsupported {
        /// The sink's kind.
        sink: &'static str,
        /// What was asked for.
        what: &'static str,
    },
}
