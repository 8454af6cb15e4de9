//! A small client of the Open-data API: GET and parse, with retries.

use std::time::Duration;

use reqwest::header;
use serde::de::DeserializeOwned;
use skolsync_model::open_data::OpenDataError;
use skolsync_model::retry::{Backoff, Jitter, Retry, RetryAfter};

/// The longest backoff, and the longest wait a `Retry-After` may impose at
/// once: open-data is read before anything is sent, so a long outage
/// should fail the run rather than stall it.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// The shortest wait after a `Retry-After`, so a `0` does not hammer.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);

/// Why the Open-data API could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The HTTP client could not be built (TLS setup).
    #[error("cannot set up the HTTP client for open-data")]
    Client(#[source] reqwest::Error),
    /// The request failed (network, timeout) even after retries.
    #[error("open-data request GET {url} failed")]
    Request {
        /// The URL.
        url: String,
        /// What went wrong.
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error status.
    #[error("open-data GET {url} answered {status}: {message}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The body's message, or the body itself, shortened.
        message: String,
    },
    /// The body was not what the spec describes.
    #[error("open-data GET {url}: unexpected answer at `{path}`: {message}")]
    Parse {
        /// The URL.
        url: String,
        /// Where in the JSON.
        path: String,
        /// What was wrong.
        message: String,
    },
}

impl From<FetchError> for OpenDataError {
    fn from(error: FetchError) -> Self {
        OpenDataError::Fetch(Box::new(error))
    }
}

/// HTTP client settings for reading open-data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Timeout of each request.
    pub timeout: Duration,
    /// Extra attempts after a network error, 429 or 5xx: after the
    /// server's `Retry-After` when it sent one, else with backoff.
    pub retries: u32,
    /// First backoff; doubled per attempt (with jitter, between half and
    /// all of it; at most a minute).
    pub backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

impl ClientOptions {
    /// The retry policy these options describe.
    fn retry(&self) -> Retry {
        Retry {
            backoff: Backoff {
                base: self.backoff,
                max: MAX_WAIT,
                jitter: Jitter::UpToNominal,
            },
            retry_after: RetryAfter {
                min: MIN_RETRY_AFTER,
                max: MAX_WAIT,
            },
        }
    }
}

/// A client of the Open-data API at one base URL.
pub(super) struct Api {
    client: reqwest::Client,
    base: String,
    retries: u32,
    retry: Retry,
}

impl Api {
    /// A client of the API at `base_url`.
    pub(super) fn new(base_url: &str, options: &ClientOptions) -> Result<Api, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(options.timeout)
            .user_agent(concat!("skolsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(FetchError::Client)?;
        Ok(Api {
            client,
            base: base_url.trim_end_matches('/').to_string(),
            retries: options.retries,
            retry: options.retry(),
        })
    }

    /// The base URL, without a trailing `/`.
    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path` and parses it; `Ok(None)` for a 404.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, FetchError> {
        let url = format!("{}{path}", self.base);
        let mut attempt = 0u32;
        loop {
            let retry = attempt < self.retries;
            attempt += 1;
            let backoff = || self.retry.backoff.delay(attempt);
            let response = match self.client.get(&url).send().await {
                Ok(r) => r,
                Err(source) if retry => {
                    tracing::debug!(%url, error = %source, "open-data request failed; retrying");
                    tokio::time::sleep(backoff()).await;
                    continue;
                }
                Err(source) => return Err(FetchError::Request { url, source }),
            };
            let status = response.status();
            if status.as_u16() == 404 {
                return Ok(None);
            }
            if (status.as_u16() == 429 || status.is_server_error()) && retry {
                tracing::debug!(%url, status = status.as_u16(), "open-data busy; retrying");
                let retry_after = response
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                let wait = self.retry.wait(attempt, retry_after, chrono::Utc::now());
                tokio::time::sleep(wait).await;
                continue;
            }
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(source) if retry => {
                    tracing::debug!(%url, error = %source, "open-data body failed; retrying");
                    tokio::time::sleep(backoff()).await;
                    continue;
                }
                Err(source) => return Err(FetchError::Request { url, source }),
            };
            if !status.is_success() {
                let message = serde_json::from_slice::<skolsync_model::open_data::Error>(&body)
                    .map(|e| e.message)
                    .unwrap_or_else(|_| String::from_utf8_lossy(&body).chars().take(200).collect());
                return Err(FetchError::Status {
                    url,
                    status: status.as_u16(),
                    message,
                });
            }
            return serde_json::from_slice::<T>(&body)
                .map(Some)
                .map_err(|e| FetchError::Parse {
                    url,
                    path: format!("line {} column {}", e.line(), e.column()),
                    message: e.to_string(),
                });
        }
    }
}
