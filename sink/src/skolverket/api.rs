//! One call to the Provisioning API, made reliable: paced under the
//! client's limit, with a valid bearer token, repeated when that is safe.
//!
//! - `429`: every call waits until the server's `Retry-After` (or
//!   `X-RateLimit-Reset`; the pacer blocks them all), then the call is
//!   repeated.
//! - `408`, 5xx, timeouts and dropped connections: repeated after the
//!   server's `Retry-After`, or an exponential backoff with jitter.
//! - Both only within the retry budget ([`super::retry`]); past it the call
//!   ends [`CallError::Exhausted`].
//! - `403` with LogEntry 5002 (invalid token): a new token is fetched and
//!   the call repeated (three times at most in a row).
//! - Permanent, never repeated, named ([`CallError::Fatal`]): a TLS
//!   certificate that does not verify, `401`, any other `403`, a token the
//!   authorisation server will not give.
//! - `413` and every other 4xx: returned to the caller, who knows what to do
//!   with a batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use skolsync_model::provtjanst::LogEntry;
use tokio::time::Instant;

use super::auth::{Token, TokenProvider, describe_reqwest, excerpt};
use super::rate::{Pacer, Pacers};
use super::retry::{Decision, RetryBudget, retry_after};
use super::tls::tls_problem;
use crate::error::SinkError;
use crate::summary::CallStats;

pub use super::retry::backoff;

/// Token refusals (LogEntry 5002) in a row after which a call is given up.
const MAX_AUTH_REFUSALS: u32 = 3;

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
    /// The `Location` header, if any (a bulk call's job URL).
    pub location: Option<String>,
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
    /// Transient trouble (429, 5xx, network) outlasted the retry budget.
    Exhausted {
        /// What went wrong, the last failure included.
        message: String,
        /// Times the request was processed.
        sends: u32,
    },
    /// A permanent error no call can get past: a certificate that does not
    /// verify, `401`, `403`, no token. The run cannot go on.
    Fatal {
        /// HTTP status, if an answer came.
        status: Option<u16>,
        /// What it is, named.
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
            CallError::Refused { message, .. }
            | CallError::Exhausted { message, .. }
            | CallError::Fatal { message, .. } => message.clone(),
        }
    }

    /// Times the request was processed.
    pub fn sends(&self) -> u32 {
        match self {
            CallError::TooLarge { sends }
            | CallError::Refused { sends, .. }
            | CallError::Exhausted { sends, .. }
            | CallError::Fatal { sends, .. } => *sends,
        }
    }

    /// Whether no later call can succeed either (the run must stop).
    pub fn stops_the_run(&self) -> bool {
        matches!(self, CallError::Exhausted { .. } | CallError::Fatal { .. })
    }
}

/// One attempt at a call, as the retry loop sees it.
enum Attempt {
    /// `2xx`.
    Done(Reply),
    /// Try again at once (a new token).
    Again,
    /// Transient trouble: wait `wait` (already waited by the pacer when
    /// `paced`), within the budget.
    Transient {
        message: String,
        wait: Duration,
        paced: bool,
    },
    /// The call ends.
    Stop(CallError),
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
    retry: RetryBudget,
    stats: Stats,
}

/// Parses an error body as the spec's list of log entries (or one entry),
/// tolerantly ([`super::readback::log_entries`]).
pub use super::readback::log_entries;

fn summarise(status: u16, entries: &[LogEntry], body: &[u8]) -> String {
    match entries.first() {
        Some(e) => format!("HTTP {status}, LogEntry {}: {}", e.id, e.message),
        None if body.is_empty() => format!("HTTP {status}"),
        None => format!("HTTP {status}: {}", excerpt(body)),
    }
}

impl Api {
    /// A client for the API at `base` (no trailing slash).
    pub fn new(
        http: reqwest::Client,
        base: String,
        tokens: Arc<TokenProvider>,
        pacers: Arc<Pacers>,
        retry_budget: Duration,
    ) -> Self {
        Api {
            http,
            base: base.trim_end_matches('/').to_string(),
            tokens,
            pacers,
            retry: RetryBudget::new(retry_budget),
            stats: Stats::default(),
        }
    }

    /// The retry budget.
    pub fn retry(&self) -> &RetryBudget {
        &self.retry
    }

    /// A valid token, waiting out transient trouble at the authorisation
    /// server within the retry budget. Permanent failures return at once.
    pub async fn token(&self) -> Result<Arc<Token>, SinkError> {
        let mut trouble: Option<Instant> = None;
        let mut failures = 0u32;
        loop {
            match self.tokens.token().await {
                Ok(token) => return Ok(token),
                Err(failure) if failure.transient => {
                    failures += 1;
                    let since = *trouble.get_or_insert_with(Instant::now);
                    let wait = failure.retry_after.unwrap_or_else(|| backoff(failures));
                    match self.retry.decide(since, wait) {
                        Decision::Wait(wait) => {
                            tracing::debug!(error = %failure.error, failures, "no access token yet; trying again");
                            self.stats.retries.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(wait).await;
                        }
                        Decision::GiveUp => {
                            return Err(match failure.error {
                                SinkError::Auth { url, message } => SinkError::Auth {
                                    url,
                                    message: self.retry.exhausted_message(&message),
                                },
                                other => other,
                            });
                        }
                    }
                }
                Err(failure) => return Err(failure.error),
            }
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
        let mut sends = 0u32;
        let mut trouble: Option<Instant> = None;
        loop {
            let attempt = self
                .attempt(call, &url, pacer, failures, &mut sends, &mut auth_refusals)
                .await;
            match attempt {
                Attempt::Done(reply) => {
                    self.record_success(call);
                    return Ok(reply);
                }
                Attempt::Again => continue,
                Attempt::Stop(error) => return Err(error),
                Attempt::Transient {
                    message,
                    wait,
                    paced,
                } => {
                    failures += 1;
                    let since = *trouble.get_or_insert_with(Instant::now);
                    match self.retry.decide(since, wait) {
                        Decision::Wait(wait) => {
                            tracing::debug!(%message, failures, ?wait, "transient trouble; repeating the call");
                            if !paced {
                                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                                tokio::time::sleep(wait).await;
                            }
                        }
                        Decision::GiveUp => {
                            return Err(CallError::Exhausted {
                                message: self.retry.exhausted_message(&message),
                                sends,
                            });
                        }
                    }
                }
            }
        }
    }

    /// The request, sent at `sent_at` with `token`, and its answer (which
    /// the pacer observes).
    async fn send(
        &self,
        call: &Call,
        url: &str,
        token: &str,
        pacer: &Pacer,
        sent_at: Instant,
    ) -> reqwest::Result<(u16, HeaderMap, Vec<u8>)> {
        let mut request = self
            .http
            .request(call.method.clone(), url)
            .bearer_auth(token);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.as_ref().clone());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        pacer.observe(&headers, status, sent_at);
        let body = response.bytes().await?;
        Ok((status, headers, body.to_vec()))
    }

    /// One attempt: a token, a turn of the pacer, the request, its answer
    /// classified.
    async fn attempt(
        &self,
        call: &Call,
        url: &str,
        pacer: &Pacer,
        failures: u32,
        sends: &mut u32,
        auth_refusals: &mut u32,
    ) -> Attempt {
        let token = match self.tokens.token().await {
            Ok(token) => token,
            Err(failure) if failure.transient => {
                return Attempt::Transient {
                    message: failure.error.to_string(),
                    wait: failure.retry_after.unwrap_or_else(|| backoff(failures + 1)),
                    paced: false,
                };
            }
            Err(failure) => {
                return Attempt::Stop(CallError::Fatal {
                    status: None,
                    message: failure.error.to_string(),
                    sends: *sends,
                });
            }
        };
        pacer.acquire().await;
        let sent_at = Instant::now();
        let (status, headers, body) =
            match self.send(call, url, token.value(), pacer, sent_at).await {
                Ok(answer) => answer,
                Err(error) => {
                    // The request may or may not have been processed; every
                    // call we repeat is safe to repeat (upserts, reads,
                    // deletes whose "already gone" counts as done).
                    *sends += 1;
                    if let Some(problem) = tls_problem(&error) {
                        return Attempt::Stop(CallError::Fatal {
                            status: None,
                            message: format!("{} {url}: {problem}", call.method),
                            sends: *sends,
                        });
                    }
                    return Attempt::Transient {
                        message: format!("{} {url}: {}", call.method, describe_reqwest(&error)),
                        wait: backoff(failures + 1),
                        paced: false,
                    };
                }
            };
        if status != 429 {
            *sends += 1;
        }
        let entries = || log_entries(&body);
        let what = |entries: &[LogEntry]| {
            format!(
                "{} {url}: {}",
                call.method,
                summarise(status, entries, &body)
            )
        };
        match status {
            200..=299 => Attempt::Done(Reply {
                status,
                body,
                sent_at,
                sends: *sends,
                location: headers
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            }),
            429 => {
                self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                // The pacer holds every call back until the server's reset
                // (at least one pacing interval, see `Pacer::observe`); a
                // Retry-After holds them at least that long.
                let wait =
                    super::rate::after_429(&headers, retry_after(&headers), pacer.interval());
                pacer.block_until(Instant::now(), wait);
                Attempt::Transient {
                    message: what(&entries()),
                    wait,
                    paced: true,
                }
            }
            401 => Attempt::Stop(CallError::Fatal {
                status: Some(401),
                message: format!(
                    "401 Unauthorized: the client certificate was not accepted ({})",
                    what(&entries())
                ),
                sends: *sends,
            }),
            403 => {
                let entries = entries();
                let invalid_token = entries.iter().any(|e| e.id == "5002");
                if invalid_token && *auth_refusals < MAX_AUTH_REFUSALS {
                    *auth_refusals += 1;
                    self.tokens.invalidate(token.generation).await;
                    return Attempt::Again;
                }
                let message = if invalid_token {
                    format!(
                        "403 Forbidden: the Provisioning API refused {} freshly issued access tokens ({})",
                        *auth_refusals + 1,
                        what(&entries)
                    )
                } else {
                    format!(
                        "403 Forbidden: the Provisioning API refused this client access ({})",
                        what(&entries)
                    )
                };
                Attempt::Stop(CallError::Fatal {
                    status: Some(403),
                    message,
                    sends: *sends,
                })
            }
            413 => {
                self.stats.too_large.fetch_add(1, Ordering::Relaxed);
                Attempt::Stop(CallError::TooLarge { sends: *sends })
            }
            408 | 500..=599 => {
                let wait = match retry_after(&headers) {
                    Some(wait) => {
                        // The service asked every caller to hold off.
                        pacer.block_until(Instant::now(), wait);
                        wait
                    }
                    None => backoff(failures + 1),
                };
                Attempt::Transient {
                    message: what(&entries()),
                    wait,
                    paced: false,
                }
            }
            _ => {
                let entries = entries();
                Attempt::Stop(CallError::Refused {
                    status,
                    message: what(&entries),
                    entries,
                    sends: *sends,
                })
            }
        }
    }
}
