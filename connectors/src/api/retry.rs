//! The one retry helper of the API connectors: a request is sent within
//! the rate limit and sent again after 429, 500, 502, 503, 504, a dropped
//! connection or a timeout — waiting as `Retry-After` asks, else with
//! exponential backoff and jitter — until it gets an answer retrying cannot
//! change, `max_retries` is reached or the retry budget is spent. A TLS
//! failure (a certificate that does not verify) is permanent and never
//! retried; 401/403 come back as answers for the caller to name.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DateTime;
use governor::DefaultDirectRateLimiter;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use super::http::{error_chain, server_message};
use crate::error::SourceError;
use crate::source::ReadProgress;

/// Shortest wait after a `Retry-After`.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);
/// First retry delay; doubled per attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Longest backoff between two attempts (a `Retry-After` is honoured as
/// asked, within the retry budget).
const MAX_BACKOFF: Duration = Duration::from_secs(60);
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
                    // `Retry-After: 0` (or a date gone by) is honoured with a
                    // short pause, so a server that says it on every answer
                    // is not hammered.
                    let wait = retry_after(&reply.headers)
                        .map(|d| d.max(MIN_RETRY_AFTER))
                        .unwrap_or_else(|| backoff(attempt));
                    let failure = SourceError::Http {
                        url: shown_url.to_string(),
                        status: reply.status.as_u16(),
                        attempts: attempt,
                        message: server_message(&reply.body),
                    };
                    (wait, failure)
                }
                Attempt::Transport(err) => (
                    backoff(attempt),
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
            url,
            status,
            attempts,
            message,
        } => SourceError::Http {
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

/// Exponential backoff with jitter: between half and all of
/// `BASE_BACKOFF × 2^(attempt-1)`, capped, so clients that failed together
/// do not retry together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exp = BASE_BACKOFF.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let full = exp.min(MAX_BACKOFF);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis().max(1) as u64);
    half + Duration::from_millis(jitter_ms)
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let now = chrono::Utc::now();
    Some((at.to_utc() - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 1..20 {
            let full = BASE_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            let d = backoff(attempt);
            assert!(
                d >= full / 2 && d <= full + Duration::from_millis(1),
                "{attempt}: {d:?}"
            );
        }
    }

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
