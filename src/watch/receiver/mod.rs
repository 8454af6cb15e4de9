//! The change receiver: the HTTPS endpoint SS 12000 sources POST their
//! change notifications to, turning each into a run request of its
//! pipeline.
//!
//! - [`config`]: [`ReceiverConfig`], how it listens.
//! - [`targets`]: [`Targets`], the pipelines served and the secrets of
//!   their subscriptions (the only credential: SS 12000 defines none for
//!   webhooks).
//! - [`routes`]: the axum [`router`], which a larger service can mount.
//! - [`Receiver`] (here): the config checked, TLS loaded; started, it
//!   serves the routes until shut down.
//!
//! TLS is on unless `insecure_http` says otherwise (for a reverse proxy
//! that terminates TLS): the secret travels in the URL's path. Handshakes
//! run off the accept loop with a time limit, and a connection that sends
//! no request in time is closed, so a slow or hostile peer cannot hold the
//! listener. The receiver answers at its root (`/notifications/…`); a proxy
//! that publishes it under a prefix strips the prefix.

pub mod config;
pub mod routes;
pub mod targets;
pub(crate) mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rustls::ServerConfig;
use tokio::task::JoinHandle;
use url::Url;

pub use config::{ReceiverConfig, ReceiverConfigError, ReceiverConfigErrors};
pub use routes::{NOTIFICATION_ROUTE, parse_notification, router};
pub use targets::{Secret, Targets};

use config::invalid;

/// How long shutdown waits for answers in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a checked receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The address could not be listened on.
    #[error("the change receiver cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

/// A change receiver, checked and ready to start.
#[derive(Debug, Clone)]
pub struct Receiver {
    listen: SocketAddr,
    public_url: Option<Url>,
    tls: Option<Arc<ServerConfig>>,
    max_body_bytes: usize,
}

impl Receiver {
    /// Checks `config` and loads its certificate, reporting every problem.
    pub fn new(config: &ReceiverConfig) -> Result<Receiver, ReceiverConfigErrors> {
        let mut problems = ReceiverConfigErrors::new();
        let public_url = config
            .public_url
            .as_deref()
            .and_then(|text| problems.take(public_url(text, config.insecure_http)));
        if public_url.is_none() && config.listen.ip().is_unspecified() {
            problems.push(invalid(
                "public_url",
                format!(
                    "listening on {} (every interface), the URL sources reach the receiver at \
                     cannot be guessed: set it, e.g. https://skolsync.example.se:{}",
                    config.listen,
                    config.listen.port()
                ),
            ));
        }
        if config.max_body_bytes == 0 {
            problems.push(invalid("max_body_bytes", "must be more than 0"));
        }
        let tls = match (&config.tls_cert, &config.tls_key, config.insecure_http) {
            (_, _, true) => None,
            (Some(cert), Some(key), false) => problems.take(tls::server_config(cert, key)),
            (cert, key, false) => {
                for (name, missing) in [("tls_cert", cert.is_none()), ("tls_key", key.is_none())] {
                    if missing {
                        problems.push(invalid(
                            name,
                            "missing: the change receiver speaks HTTPS, so it needs a server \
                             certificate and its key (PEM); plain HTTP only behind a proxy that \
                             terminates TLS, with insecure_http",
                        ));
                    }
                }
                None
            }
        };
        problems.finish(Receiver {
            listen: config.listen,
            public_url,
            tls,
            max_body_bytes: config.max_body_bytes,
        })
    }

    /// The largest notification body accepted.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Whether it speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Listens and serves `router` (usually [`router`]) until
    /// [`RunningReceiver::shutdown`]. Must be called inside the tokio
    /// runtime.
    pub fn start(&self, router: Router) -> Result<RunningReceiver, ReceiverError> {
        let bind_error = |source| ReceiverError::Bind {
            addr: self.listen,
            source,
        };
        let crate::listener::Listening {
            local_addr,
            handle,
            task,
        } = crate::listener::listen(self.listen, self.tls.as_ref(), router).map_err(bind_error)?;
        let scheme = if self.is_tls() { "https" } else { "http" };
        let base = match &self.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("{scheme}://{local_addr}/")).map_err(|e| {
                bind_error(std::io::Error::other(format!(
                    "no URL for {local_addr}: {e}"
                )))
            })?,
        };
        tracing::info!(
            listen = %local_addr,
            public_url = %base,
            tls = self.is_tls(),
            "the change receiver is listening"
        );
        Ok(RunningReceiver {
            local_addr,
            urls: NotificationUrls { base },
            handle,
            task,
        })
    }
}

/// Checks a public URL: absolute http(s), no query or fragment; `https`
/// unless TLS is off on purpose (the secret is in the path).
fn public_url(text: &str, insecure_http: bool) -> Result<Url, ReceiverConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|e| invalid("public_url", format!("`{text}` is not a URL: {e}")))?;
    let problem = match url.scheme() {
        "https" => None,
        "http" if insecure_http => None,
        "http" => Some(
            "uses http://: the secret in each notification's path would cross the network \
             unencrypted; use https:// (TLS at the receiver or at a proxy in front of it)",
        ),
        _ => Some("must start with https://"),
    };
    let problem = problem.or_else(|| {
        (url.query().is_some() || url.fragment().is_some())
            .then_some("must have no query (`?…`) or fragment (`#…`)")
    });
    match problem {
        Some(p) => Err(invalid("public_url", format!("`{text}` {p}"))),
        None => Ok(url),
    }
}

/// The URLs sources are given: the public URL plus the notification path.
#[derive(Debug, Clone)]
pub struct NotificationUrls {
    base: Url,
}

impl NotificationUrls {
    /// URLs under `base` (the receiver's public URL).
    pub fn new(base: Url) -> NotificationUrls {
        NotificationUrls { base }
    }

    /// The public URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The target of a subscription of `pipeline`. Holds the secret: give
    /// it to the source only, never to a log.
    pub fn target(&self, pipeline: &str, secret: &Secret) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}/notifications/{pipeline}/{}", secret.expose())
    }
}

/// A receiver that listens; stops with [`shutdown`](Self::shutdown) or
/// when dropped.
#[derive(Debug)]
pub struct RunningReceiver {
    local_addr: SocketAddr,
    urls: NotificationUrls,
    handle: axum_server::Handle<SocketAddr>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningReceiver {
    /// The address it listens on (the port chosen when `listen` said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The URLs to give sources.
    pub fn urls(&self) -> &NotificationUrls {
        &self.urls
    }

    /// Stops listening, lets answers in progress finish (a few seconds at
    /// most) and returns.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("the change receiver stopped with an error: {e}"),
            Err(e) => tracing::warn!("the change receiver's task failed: {e}"),
        }
    }
}

impl Drop for RunningReceiver {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

#[cfg(test)]
mod tests;
