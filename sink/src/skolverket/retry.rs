//! Waiting out transient trouble: the sink's one retry policy.
//!
//! `429`, `408`, 5xx answers, timeouts and dropped connections, at the
//! Provisioning API or the authorisation server, are *transient*: the call
//! is made again after the server's `Retry-After` (or, without one, an
//! exponential backoff with jitter), for as long as the trouble of that call
//! has lasted less than the budget (`retry_budget_secs`, minutes by
//! default), so a short outage never aborts a nightly run.
//!
//! When one call's trouble outlasts the budget the budget is *exhausted*:
//! that call gives up, and so does every other call at its next transient
//! failure (the service is evidently down; waiting a budget per call would
//! multiply the wait). The run then stops cleanly and every entity not
//! confirmed is reported with the reason. [`RetryBudget::reset`] starts a
//! new run with a fresh budget.
//!
//! Permanent errors never come here: a TLS certificate that does not
//! verify, `401`, `403` (other than an expired token, which is renewed) and
//! other `4xx` are returned at once, named for what they are.
//!
//! The arithmetic of the waits is the shared [`skolsync_model::retry`]
//! helper; this module holds the sink's numbers and its budget.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use skolsync_model::retry::{Backoff, Jitter, Retry, RetryAfter};
use tokio::time::Instant;

/// Exponential backoff (250 ms doubled per failure, at most 15 s, ×0.5–1.5
/// jitter) unless the server sent a `Retry-After`: honoured as asked (`0`
/// retries at once), at most 120 s at a time.
const RETRY: Retry = Retry {
    backoff: Backoff {
        base: Duration::from_millis(250),
        max: Duration::from_secs(15),
        jitter: Jitter::AroundNominal,
    },
    retry_after: RetryAfter {
        min: Duration::ZERO,
        max: Duration::from_secs(120),
    },
};

/// Exponential backoff with jitter for the `failures`-th failure.
pub fn backoff(failures: u32) -> Duration {
    RETRY.backoff.delay(failures)
}

/// The wait a `Retry-After` header asks for (seconds, possibly fractional,
/// or an HTTP date), capped; anything else is ignored.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    RETRY.retry_after.wait(value, chrono::Utc::now())
}

/// What to do after a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    Wait(Duration),
    /// Stop: the budget is used up.
    GiveUp,
}

/// The time budget for transient trouble, shared by every call of a sink.
#[derive(Debug)]
pub struct RetryBudget {
    budget: Duration,
    exhausted: AtomicBool,
}

impl RetryBudget {
    /// A budget of `budget` per spell of trouble.
    pub fn new(budget: Duration) -> Self {
        RetryBudget {
            budget,
            exhausted: AtomicBool::new(false),
        }
    }

    /// The budget.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// A fresh budget (a new run).
    pub fn reset(&self) {
        self.exhausted.store(false, Ordering::SeqCst);
    }

    /// Whether a call has used the budget up (since the last reset).
    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::SeqCst)
    }

    /// After a transient failure of a call whose trouble began
    /// at `since`: wait `wait` (the server's `Retry-After`, or a backoff)
    /// and try again, or give up when that would take the call past the
    /// budget, or the budget is already exhausted.
    pub fn decide(&self, since: Instant, wait: Duration) -> Decision {
        if self.is_exhausted() {
            return Decision::GiveUp;
        }
        if since.elapsed() + wait > self.budget {
            self.exhausted.store(true, Ordering::SeqCst);
            return Decision::GiveUp;
        }
        Decision::Wait(wait)
    }

    /// The message of a call that gave up with `trouble` as its last failure.
    pub fn exhausted_message(&self, trouble: &str) -> String {
        format!(
            "retry budget exhausted: the provtjänst was still failing after the {} s budget (retry_budget_secs); last: {trouble}",
            self.budget.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for failures in 1..20 {
            let d = backoff(failures);
            let nominal = RETRY.backoff.nominal(failures);
            assert!(nominal <= Duration::from_secs(15));
            assert!(
                d >= nominal.mul_f64(0.5) && d <= nominal.mul_f64(1.5),
                "{failures}: {d:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates_and_ignores_the_rest() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        // A date gone by: no wait.
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn a_call_waits_within_the_budget_and_once_exhausted_everyone_gives_up() {
        let budget = RetryBudget::new(Duration::from_secs(10));
        let now = Instant::now();
        assert_eq!(
            budget.decide(now, Duration::from_secs(3)),
            Decision::Wait(Duration::from_secs(3))
        );
        assert!(!budget.is_exhausted());
        // Waiting 11 s would overrun the budget.
        assert_eq!(
            budget.decide(now, Duration::from_secs(11)),
            Decision::GiveUp
        );
        assert!(budget.is_exhausted());
        // Another call, fresh trouble: gives up too.
        assert_eq!(
            budget.decide(Instant::now(), Duration::from_millis(1)),
            Decision::GiveUp
        );
        assert!(
            budget
                .exhausted_message("HTTP 503")
                .starts_with("retry budget exhausted")
        );
        budget.reset();
        assert!(!budget.is_exhausted());
        assert_eq!(
            budget.decide(Instant::now(), Duration::from_millis(1)),
            Decision::Wait(Duration::from_millis(1))
        );
    }
}
