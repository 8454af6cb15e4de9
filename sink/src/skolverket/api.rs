//! One call to the Provisioning API, made reliable: paced under the
//! client's limit, with a valid bearer token, repeated when that is safe.
//!
//! - `429`: wait until the server's reset (the pacer blocks every call), then
//!   repeat. Not counted as a failed attempt: a run never loses a request to
//!   the limit.
//! - `401`, or `403` with LogEntry 5002 (invalid token): fetch a new token,
//!   repeat (three times at most in a row).
//! - Network errors, timeouts, `408` and 5xx: repeat after an exponential
//!   backoff with jitter (honouring `Retry-After`), up to `max_attempts`.
//! - `413` and every other 4xx: returned to the caller, who knows what to do
//!   with a batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use skolsync_model::provtjanst::LogEntry;
use tokio::time::Instant;

use super::auth::{TokenProvider, describe_reqwest, excerpt};
use super::rate::Pacers;
use crate::summary::CallStats;

/// `429` answers in a row after which a call is given up (each one waited
/// for the server's reset, so this is minutes of refusals).
const MAX_RATE_LIMITED: u32 = 200;
/// Token refusals in a row after which a call is given up.
const MAX_AUTH_REFUSALS: u32 = 3;
/// First backoff delay; doubles per failure.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest backoff delay.
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// Which limit a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Bulk and job-status calls.
    Bulk,
    /// Reads.
    Read,
}

/// What a call is, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// Bulk create/update/delete.
    Bulk,
    /// Job status.
    Status,
    /// `isCompleted`.
    IsCompleted,
    /// A read.
    Read,
}

/// A call to make.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path below the API base, e.g. `/persons/bulk`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Option<Arc<Vec<u8>>>,
    /// Statistics bucket.
    pub kind: CallKind,
}

impl Call {
    /// A `GET`.
    pub fn get(path: impl Into<String>, kind: CallKind) -> Call {
        Call {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            kind,
        }
    }

    fn class(&self) -> Class {
        match self.kind {
            CallKind::Bulk | CallKind::Status | CallKind::IsCompleted => Class::Bulk,
            CallKind::Read => Class::Read,
        }
    }
}

/// A `2xx` answer.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// When the successful request left.
    pub sent_at: Instant,
    /// Times the request was processed by the service (not refused with 429).
    pub sends: u32,
}

/// A call that did not end with `2xx`.
#[derive(Debug)]
pub enum CallError {
    /// `413`: the body is over the service's limit.
    TooLarge {
        /// Times the request was processed.
        sends: u32,
    },
    /// Another `4xx` the call cannot fix by repeating.
    Refused {
        /// HTTP status.
        status: u16,
        /// The service's log entries, if the body held them.
        entries: Vec<LogEntry>,
        /// A readable summary.
        message: String,
        /// Times the request was processed.
        sends: u32,
    },
    /// Failed for good (network, 5xx, token) after the allowed attempts.
    Failed {
        /// What went wrong the last time.
        message: String,
        /// Times the request was processed.
        sends: u32,
    },
}

impl CallError {
    /// A readable summary.
    pub fn message(&self) -> String {
        match self {
            CallError::TooLarge { .. } => {
                "413: the request body is over the service's limit".to_string()
            }
            CallError::Refused { message, .. } | CallError::Failed { message, .. } => {
                message.clone()
            }
        }
    }

    /// Times the request was processed.
    pub fn sends(&self) -> u32 {
        match self {
            CallError::TooLarge { sends }
            | CallError::Refused { sends, .. }
            | CallError::Failed { sends, .. } => *sends,
        }
    }
}

#[derive(Debug, Default)]
struct Stats {
    bulk_calls: AtomicU64,
    bulk_body_bytes: AtomicU64,
    largest_body: AtomicU64,
    status_calls: AtomicU64,
    is_completed_calls: AtomicU64,
    read_calls: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    too_large: AtomicU64,
}

/// The Provisioning API client.
#[derive(Debug)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    tokens: Arc<TokenProvider>,
    pacers: Arc<Pacers>,
    max_attempts: u32,
    stats: Stats,
}

/// Parses an error body as the spec's list of log entries (or one entry).
pub fn log_entries(body: &[u8]) -> Vec<LogEntry> {
    if let Ok(list) = serde_json::from_slice::<Vec<LogEntry>>(body) {
        return list;
    }
    serde_json::from_slice::<LogEntry>(body)
        .map(|e| vec![e])
        .unwrap_or_default()
}

fn summarise(status: u16, entries: &[LogEntry], body: &[u8]) -> String {
    match entries.first() {
        Some(e) => format!("HTTP {status}, LogEntry {}: {}", e.id, e.message),
        None if body.is_empty() => format!("HTTP {status}"),
        None => format!("HTTP {status}: {}", excerpt(body)),
    }
}

/// Exponential backoff with jitter (×0.5–1.5) for the `failures`-th failure.
pub fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(10));
    exp.min(BACKOFF_MAX).mul_f64(0.5 + rand::random::<f64>())
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    let secs = value.trim().parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(60.0)))
}

impl Api {
    /// A client for the API at `base` (no trailing slash).
    pub fn new(
        http: reqwest::Client,
        base: String,
        tokens: Arc<TokenProvider>,
        pacers: Arc<Pacers>,
        max_attempts: u32,
    ) -> Self {
        Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            pacers,
            max_attempts: max_attempts.max(1),
            stats: Stats::default(),
        }
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The token provider.
    pub fn tokens(&self) -> &TokenProvider {
        &self.tokens
    }

    /// The pacers.
    pub fn pacers(&self) -> &Pacers {
        &self.pacers
    }

    /// Calls so far.
    pub fn stats(&self) -> CallStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = &self.stats;
        CallStats {
            bulk_calls: get(&s.bulk_calls),
            bulk_body_bytes: get(&s.bulk_body_bytes),
            largest_body: get(&s.largest_body),
            body_limit: 0,
            status_calls: get(&s.status_calls),
            is_completed_calls: get(&s.is_completed_calls),
            read_calls: get(&s.read_calls),
            retries: get(&s.retries),
            rate_limited: get(&s.rate_limited),
            too_large: get(&s.too_large),
            tokens_fetched: self.tokens.fetched(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn record_success(&self, call: &Call) {
        let s = &self.stats;
        match call.kind {
            CallKind::Bulk => {
                s.bulk_calls.fetch_add(1, Ordering::Relaxed);
                let len = call.body.as_ref().map_or(0, |b| b.len() as u64);
                s.bulk_body_bytes.fetch_add(len, Ordering::Relaxed);
                s.largest_body.fetch_max(len, Ordering::Relaxed);
            }
            CallKind::Status => {
                s.status_calls.fetch_add(1, Ordering::Relaxed);
            }
            CallKind::IsCompleted => {
                s.is_completed_calls.fetch_add(1, Ordering::Relaxed);
            }
            CallKind::Read => {
                s.read_calls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Makes the call, repeating it as the module doc describes.
    pub async fn call(&self, call: &Call) -> Result<Reply, CallError> {
        let pacer = match call.class() {
            Class::Bulk => &self.pacers.bulk,
            Class::Read => &self.pacers.read,
        };
        let url = self.url(&call.path);
        let mut failures = 0u32;
        let mut auth_refusals = 0u32;
        let mut rate_limited = 0u32;
        let mut sends = 0u32;
        loop {
            let token = match self.tokens.token().await {
                Ok(token) => token,
                Err(err) => {
                    failures += 1;
                    if failures >= self.max_attempts {
                        return Err(CallError::Failed {
                            message: err.to_string(),
                            sends,
                        });
                    }
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            };
            pacer.acquire().await;
            let sent_at = Instant::now();
            let mut request = self
                .http
                .request(call.method.clone(), &url)
                .bearer_auth(token.value());
            if !call.query.is_empty() {
                request = request.query(&call.query);
            }
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.as_ref().clone());
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    pacer.observe(&headers, status, sent_at);
                    response
                        .bytes()
                        .await
                        .map(|body| (status, headers, body.to_vec()))
                        .map_err(|e| describe_reqwest(&e))
                }
                Err(e) => Err(describe_reqwest(&e)),
            };
            let (status, headers, body) = match outcome {
                Ok(answer) => answer,
                Err(message) => {
                    // The request may or may not have been processed; every
                    // call we repeat is safe to repeat (upserts, PUTs, reads,
                    // deletes whose "already gone" counts as done).
                    sends += 1;
                    failures += 1;
                    let message = format!("{} {url}: {message}", call.method);
                    if failures >= self.max_attempts {
                        return Err(CallError::Failed { message, sends });
                    }
                    tracing::debug!(%message, failures, "call failed; repeating");
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(failures)).await;
                    continue;
                }
            };
            if status != 429 {
                sends += 1;
            }
            match status {
                200..=299 => {
                    self.record_success(call);
                    return Ok(Reply {
                        status,
                        body,
                        sent_at,
                        sends,
                    });
                }
                429 => {
                    rate_limited += 1;
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    if rate_limited >= MAX_RATE_LIMITED {
                        return Err(CallError::Failed {
                            message: format!(
                                "{} {url}: refused with 429 {rate_limited} times in a row",
                                call.method
                            ),
                            sends,
                        });
                    }
                    // The pacer already blocks until the server's reset.
                    continue;
                }
                401 | 403 => {
                    let entries = log_entries(&body);
                    let invalid_token = status == 401 || entries.iter().any(|e| e.id == "5002");
                    if !invalid_token {
                        return Err(CallError::Refused {
                            status,
                            message: summarise(status, &entries, &body),
                            entries,
                            sends,
                        });
                    }
                    auth_refusals += 1;
                    if auth_refusals > MAX_AUTH_REFUSALS {
                        return Err(CallError::Failed {
                            message: format!(
                                "{} {url}: fresh access tokens were refused {auth_refusals} times: {}",
                                call.method,
                                summarise(status, &entries, &body)
                            ),
                            sends,
                        });
                    }
                    self.tokens.invalidate(token.generation).await;
                    continue;
                }
                413 => {
                    self.stats.too_large.fetch_add(1, Ordering::Relaxed);
                    return Err(CallError::TooLarge { sends });
                }
                408 | 500..=599 => {
                    failures += 1;
                    let entries = log_entries(&body);
                    let message = format!(
                        "{} {url}: {}",
                        call.method,
                        summarise(status, &entries, &body)
                    );
                    if failures >= self.max_attempts {
                        return Err(CallError::Failed { message, sends });
                    }
                    tracing::debug!(%message, failures, "server error; repeating");
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = backoff(failures).max(retry_after(&headers).unwrap_or_default());
                    tokio::time::sleep(wait).await;
                    continue;
                }
                _ => {
                    let entries = log_entries(&body);
                    return Err(CallError::Refused {
                        status,
                        message: format!(
                            "{} {url}: {}",
                            call.method,
                            summarise(status, &entries, &body)
                        ),
                        entries,
                        sends,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for failures in 1..20 {
            let d = backoff(failures);
            let nominal = BACKOFF_BASE
                .saturating_mul(1 << (failures - 1).min(10))
                .min(BACKOFF_MAX);
            assert!(
                d >= nominal.mul_f64(0.5) && d <= nominal.mul_f64(1.5),
                "{failures}: {d:?}"
            );
        }
    }

    #[test]
    fn log_entries_are_read_from_lists_or_single_objects() {
        let one = br#"{"id":"5002","statusCode":403,"message":"Ogiltigt JWT bearer token.","severityLevel":"Error","timeOfOccurance":"2021-05-12T10:30:00.123+02:00"}"#;
        assert_eq!(log_entries(one)[0].id, "5002");
        let list = format!("[{}]", String::from_utf8_lossy(one));
        assert_eq!(log_entries(list.as_bytes()).len(), 1);
        assert!(log_entries(b"<html>").is_empty());
    }
}
