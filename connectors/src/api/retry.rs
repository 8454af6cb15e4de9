//! The one retry helper of the API connectors: a request is sent within
//! the rate limit and sent again after 429, 500, 502, 503, 504, a dropped
//! connection or a timeout — waiting as `Retry-After` asks, else with
//! exponential backoff and jitter — until it gets an answer retrying cannot
//! change, `max_retries` is reached or the retry budget is spent. A TLS
//! failure (a certificate that does not verify) is permanent and never
//! retried; 401/403 come back as answers for the caller to name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::DefaultDirectRateLimiter;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use skolsync_model::error_chain;
use skolsync_model::retry::{Backoff, Jitter, Retry, RetryAfter};

use super::http::server_message;
use crate::error::SourceError;
use crate::source::ReadProgress;

/// Exponential backoff (500 ms doubled per attempt, at most 60 s, between
/// half and all of that) unless the server sent a `Retry-After`, honoured
/// as asked (within the retry budget) but with a 100 ms pause at least, so
/// a server that says `0` on every answer is not hammered.
const RETRY: Retry = Retry {
    backoff: Backoff {
        base: Duration::from_millis(500),
        max: Duration::from_secs(60),
        jitter: Jitter::UpToNominal,
    },
    retry_after: RetryAfter {
        min: Duration::from_millis(100),
        max: Duration::MAX,
    },
};

/// An answer of any status, read in full.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Sends requests within the rate limit, retrying what retrying can cure.
#[derive(Clone)]
pub(crate) struct Sender {
    pub limiter: Option<Arc<DefaultDirectRateLimiter>>,
    pub max_retries: u32,
    pub budget: Duration,
}

/// How one attempt went.
enum Attempt {
    /// An answer, read in full.
    Reply(Reply),
    /// No answer, or one cut off: worth another try.
    Transport(reqwest::Error),
    /// The TLS connection cannot be trusted: not worth another try.
    Tls(String),
    /// The answer is larger than allowed.
    TooLarge(u64),
}

impl Sender {
    /// Sends the request `make` builds until it gets an answer that
    /// retrying cannot change (any status but 429, 500, 502, 503, 504), or
    /// retrying is over: `max_retries` retries, or the retry budget spent
    /// (a wait that would end past it is not begun). Waits as long as
    /// `Retry-After` asks, else backs off exponentially. Every attempt waits
    /// for the rate limiter. A TLS failure is not retried.
    pub(crate) async fn send<F>(
        &self,
        method: &reqwest::Method,
        shown_url: &str,
        progress: Option<&Arc<ReadProgress>>,
        max_body: u64,
        make: F,
    ) -> Result<Reply, SourceError>
    where
        F: Fn() -> reqwest::RequestBuilder,
    {
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            if let Some(p) = progress {
                p.count_request();
            }
            let outcome = match make().send().await {
                Ok(response) => read_reply(response, max_body).await,
                Err(err) => classify(err),
            };
            let (wait, failure) = match outcome {
                Attempt::Reply(reply) if !is_retryable(reply.status) => return Ok(reply),
                Attempt::Tls(message) => {
                    return Err(SourceError::Tls {
                        url: shown_url.to_string(),
                        message,
                    });
                }
                Attempt::TooLarge(limit) => {
                    return Err(SourceError::Limit {
                        url: shown_url.to_string(),
                        message: format!(
                            "the answer is larger than {limit} bytes, what is left of this                              resource's max_response_bytes; stopping"
                        ),
                    });
                }
                Attempt::Reply(reply) => {
                    let retry_after = reply
                        .headers
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok());
                    let wait = RETRY.wait(attempt, retry_after, chrono::Utc::now());
                    let failure = SourceError::Http {
                        method: method.to_string(),
                        url: shown_url.to_string(),
                        status: reply.status.as_u16(),
                        attempts: attempt,
                        message: server_message(&reply.body),
                    };
                    (wait, failure)
                }
                Attempt::Transport(err) => (
                    RETRY.backoff.delay(attempt),
                    SourceError::Unreachable {
                        url: shown_url.to_string(),
                        attempts: attempt,
                        message: error_chain(&err),
                    },
                ),
            };
            let spent = started.elapsed();
            if attempt > self.max_retries || spent + wait > self.budget {
                if attempt > 1 && spent + wait > self.budget {
                    tracing::warn!(
                        url = %shown_url,
                        attempts = attempt,
                        "giving up: the retry budget of {} s is spent",
                        self.budget.as_secs()
                    );
                }
                return Err(with_budget_note(failure, self.budget, spent + wait));
            }
            tracing::debug!(url = %shown_url, error = %failure, ?wait, "retrying");
            if let Some(p) = progress {
                p.count_retry();
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Says in the error that the retry budget ended retrying, when it did.
fn with_budget_note(failure: SourceError, budget: Duration, needed: Duration) -> SourceError {
    if needed <= budget {
        return failure;
    }
    let note = format!(
        " (retrying stopped: the retry budget is {} s, retry_budget_secs)",
        budget.as_secs()
    );
    match failure {
        SourceError::Http {
            method,
            url,
            status,
            attempts,
            message,
        } => SourceError::Http {
            method,
            url,
            status,
            attempts,
            message: message + &note,
        },
        SourceError::Unreachable {
            url,
            attempts,
            message,
        } => SourceError::Unreachable {
            url,
            attempts,
            message: message + &note,
        },
        other => other,
    }
}

/// Reads an answer's body, at most `max_body` bytes of it.
async fn read_reply(mut response: reqwest::Response, max_body: u64) -> Attempt {
    let status = response.status();
    let headers = response.headers().clone();
    if response.content_length().is_some_and(|n| n > max_body) {
        return Attempt::TooLarge(max_body);
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > max_body {
                    return Attempt::TooLarge(max_body);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => {
                return Attempt::Reply(Reply {
                    status,
                    headers,
                    body,
                });
            }
            Err(err) => return classify(err),
        }
    }
}

/// A transport error: a TLS failure (a certificate that does not verify,
/// a handshake the server refused) is permanent, anything else is worth
/// another try.
fn classify(err: reqwest::Error) -> Attempt {
    let text = error_chain(&err);
    let lower = text.to_lowercase();
    if ["certificate", "unknownissuer", "received fatal alert"]
        .iter()
        .any(|w| lower.contains(w))
    {
        Attempt::Tls(text)
    } else {
        Attempt::Transport(err)
    }
}

fn is_retryable(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::INTERNAL_SERVER_ERROR
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_failures_about_certificates_are_permanent() {
        assert!(is_retryable(StatusCode::TOO_MANY_REQUESTS));
        assert!(is_retryable(StatusCode::BAD_GATEWAY));
        assert!(!is_retryable(StatusCode::UNAUTHORIZED));
        assert!(!is_retryable(StatusCode::FORBIDDEN));
        let over = with_budget_note(
            SourceError::Unreachable {
                url: "u".into(),
                attempts: 3,
                message: "reset".into(),
            },
            Duration::from_secs(5),
            Duration::from_secs(9),
        );
        assert!(over.to_string().contains("retry_budget_secs"), "{over}");
    }
}
