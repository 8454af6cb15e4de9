//! The two ways a source can fail as a whole: a config that cannot work
//! ([`ConfigError`], found when the source is built) and a read that cannot
//! go on ([`SourceError`], which ends the stream). A single bad record is
//! neither: it becomes a `Reject` and the read goes on.

use std::path::PathBuf;

/// The `[source]` section cannot be used as written.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value is missing, malformed or contradicts another.
    #[error("source.{field}: {message}")]
    Invalid {
        /// The key, e.g. `base_url` or `auth.token_url`.
        field: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file named in the config cannot be read.
    #[error("source.{field}: cannot read {}: {source}", path.display())]
    File {
        /// The key naming the file.
        field: String,
        /// The resolved path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A certificate or key file is not usable PEM.
    #[error("source.{field}: {} is not a usable PEM certificate/key: {message}", path.display())]
    Pem {
        /// The key naming the file.
        field: String,
        /// The resolved path.
        path: PathBuf,
        /// What the TLS library said.
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every problem of the `[source]` section found when building it (the
/// workspace's one collect-all shape).
pub type ConfigErrors = skolsync_model::config_problems::ConfigProblems<ConfigError>;

/// A read that cannot go on. URLs never carry secrets (credentials and
/// token-like query values are removed before they get here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The credentials were refused (token endpoint or API).
    #[error("authentication failed at {url}{}: {message}", status_text(*status))]
    Auth {
        /// The endpoint that refused.
        url: String,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// What the server said and what to check.
        message: String,
    },
    /// The server answered with an error that retrying does not cure, or
    /// still failed after every retry.
    #[error("{method} {url} failed with HTTP {status}{}: {message}", attempts_text(*attempts))]
    Http {
        /// The request method, e.g. `GET`.
        method: String,
        /// The request URL.
        url: String,
        /// HTTP status of the last answer.
        status: u16,
        /// How many times the request was sent.
        attempts: u32,
        /// The server's message, if any.
        message: String,
    },
    /// No answer at all (connection refused, TLS failure, timeout) after every retry.
    #[error("{url} is unreachable after {attempts} attempt(s): {message}")]
    Unreachable {
        /// The request URL.
        url: String,
        /// How many times the request was sent.
        attempts: u32,
        /// The transport error.
        message: String,
    },
    /// The server's TLS certificate does not verify (unknown issuer,
    /// expired, wrong name), or the TLS handshake was refused: a setup
    /// problem, never retried.
    #[error("{url}: the TLS connection cannot be trusted or was refused (not retried): {message}")]
    Tls {
        /// The request URL.
        url: String,
        /// What the TLS library said.
        message: String,
    },
    /// A resource went past a configured cap (pages, entities, response
    /// bytes): a server that would otherwise be read forever.
    #[error("{url}: {message}")]
    Limit {
        /// The request URL.
        url: String,
        /// Which cap, its value and the key that sets it.
        message: String,
    },
    /// The server's answer is not what SS 12000 defines (not a page, a
    /// repeated page token, …).
    #[error("{url}: {message}")]
    Protocol {
        /// The request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The server does not offer a resource the read needs (`404` on its
    /// first page).
    #[error(
        "GET {url} answered HTTP 404: the server does not offer `/{resource}`, which skolsync needs \
         (Skolverket's SS 12000 profile lists it); check `base_url`, and that the API serves {resource}: {message}"
    )]
    ResourceMissing {
        /// The request URL.
        url: String,
        /// The resource, e.g. `persons`.
        resource: String,
        /// The server's message, if any.
        message: String,
    },
    /// An incremental read is not possible: the server refuses a change
    /// filter (`meta.modified.after`, `meta.created.after`) or has no
    /// `/deletedEntities`. The caller reads in full instead.
    #[error("{url} cannot be read incrementally: {reason}")]
    IncrementalUnsupported {
        /// The request URL.
        url: String,
        /// What the server refused, and how.
        reason: String,
    },
    /// The configured scope names something the source does not have.
    #[error("{0}")]
    Scope(String),
    /// A file cannot be opened or read.
    #[error("cannot read {}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A CSV file's header lacks a column the layout needs, or the file is
    /// not CSV at all.
    #[error("{}: {message}", path.display())]
    CsvFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The stream ended before the source said it was complete.
    #[error("the source stopped before the read was complete: {0}")]
    Incomplete(String),
}

fn status_text(status: Option<u16>) -> String {
    status.map(|s| format!(" (HTTP {s})")).unwrap_or_default()
}

fn attempts_text(attempts: u32) -> String {
    if attempts > 1 {
        format!(" after {attempts} attempts")
    } else {
        String::new()
    }
}
