//! How long to wait before trying a call again: the one backoff and the one
//! reading of `Retry-After` shared by every HTTP client of skolsync (the API
//! connectors, the open-data reader and the Skolverket sink).
//!
//! Callers differ only in numbers — how fast the backoff grows and where it
//! stops, how widely it is spread, how short or long a server's
//! `Retry-After` may make a wait — so those are parameters ([`Backoff`],
//! [`RetryAfter`]) and the arithmetic is written once. Nothing here knows
//! HTTP types: the header arrives as text and the clock as `now`, which keeps
//! the model crate free of an HTTP dependency and the tests deterministic.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How the backoff is spread around its nominal delay, so that clients that
/// failed together do not all retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Between half and all of the nominal delay: never longer than the cap.
    UpToNominal,
    /// Between half and one and a half times the nominal delay.
    AroundNominal,
}

/// Exponential backoff with jitter: the `attempt`-th retry waits around
/// `base × 2^(attempt-1)`, at most `max` before jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay; doubled per attempt.
    pub base: Duration,
    /// The longest nominal delay.
    pub max: Duration,
    /// How the delay is spread.
    pub jitter: Jitter,
}

impl Backoff {
    /// The delay before the `attempt`-th retry (1 for the first), without
    /// jitter: `base × 2^(attempt-1)`, capped at `max`.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before the `attempt`-th retry, with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_at(attempt, rand::random::<f64>())
    }

    /// The delay before the `attempt`-th retry, with the jitter `unit`
    /// (0 for the shortest delay, 1 for the longest; clamped to that range).
    pub fn delay_at(&self, attempt: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = match self.jitter {
            Jitter::UpToNominal => 0.5 + unit / 2.0,
            Jitter::AroundNominal => 0.5 + unit,
        };
        let nominal = self.nominal(attempt);
        Duration::try_from_secs_f64(nominal.as_secs_f64() * factor).unwrap_or(nominal)
    }
}

/// How a server's `Retry-After` is honoured: within `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter {
    /// The shortest wait: a `Retry-After: 0` (or a date gone by) from a
    /// server that says it on every answer must not make a client hammer it.
    pub min: Duration,
    /// The longest wait one `Retry-After` can impose at once.
    pub max: Duration,
}

impl RetryAfter {
    /// Honoured as asked: no shortest and no longest wait.
    pub const AS_ASKED: RetryAfter = RetryAfter {
        min: Duration::ZERO,
        max: Duration::MAX,
    };

    /// The wait a `Retry-After` header value asks for at `now`, kept within
    /// `min..=max`; `None` without a header or with one that is neither
    /// seconds nor an HTTP date.
    pub fn wait(&self, value: Option<&str>, now: DateTime<Utc>) -> Option<Duration> {
        retry_after(value?, now).map(|wait| wait.clamp(self.min, self.max.max(self.min)))
    }
}

/// A retry policy: the server's `Retry-After` when it sent one, else the
/// backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// The backoff without a `Retry-After`.
    pub backoff: Backoff,
    /// How a `Retry-After` is honoured.
    pub retry_after: RetryAfter,
}

impl Retry {
    /// The wait before the `attempt`-th retry (1 for the first), after an
    /// answer whose `Retry-After` header is `retry_after` (`None` when
    /// there was none, or no answer at all).
    pub fn wait(&self, attempt: u32, retry_after: Option<&str>, now: DateTime<Utc>) -> Duration {
        self.retry_after
            .wait(retry_after, now)
            .unwrap_or_else(|| self.backoff.delay(attempt))
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3) read at `now`: seconds
/// (fractions are accepted, as some servers send them) or an HTTP date; a
/// date gone by is no wait. `None` for anything else, negative seconds
/// included.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::try_from_secs_f64(secs).ok())
            .flatten();
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.to_utc() - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .to_utc()
    }

    const BACKOFF: Backoff = Backoff {
        base: Duration::from_millis(500),
        max: Duration::from_secs(60),
        jitter: Jitter::UpToNominal,
    };

    #[test]
    fn backoff_doubles_until_the_cap() {
        assert_eq!(BACKOFF.nominal(0), Duration::from_millis(500));
        assert_eq!(BACKOFF.nominal(1), Duration::from_millis(500));
        assert_eq!(BACKOFF.nominal(2), Duration::from_secs(1));
        assert_eq!(BACKOFF.nominal(4), Duration::from_secs(4));
        assert_eq!(BACKOFF.nominal(8), Duration::from_secs(60));
        assert_eq!(BACKOFF.nominal(u32::MAX), Duration::from_secs(60));
    }

    #[test]
    fn jitter_spreads_the_delay_as_asked() {
        let around = Backoff {
            jitter: Jitter::AroundNominal,
            ..BACKOFF
        };
        assert_eq!(BACKOFF.delay_at(3, 0.0), Duration::from_secs(1));
        assert_eq!(BACKOFF.delay_at(3, 1.0), Duration::from_secs(2));
        assert_eq!(around.delay_at(3, 0.0), Duration::from_secs(1));
        assert_eq!(around.delay_at(3, 1.0), Duration::from_secs(3));
        assert_eq!(BACKOFF.delay_at(3, 7.0), Duration::from_secs(2));
        assert_eq!(BACKOFF.delay_at(3, f64::NAN), Duration::from_secs(1));
        for attempt in 1..40 {
            let nominal = BACKOFF.nominal(attempt);
            let d = BACKOFF.delay(attempt);
            assert!(d >= nominal / 2 && d <= nominal, "{attempt}: {d:?}");
            let d = around.delay(attempt);
            assert!(
                d >= nominal / 2 && d <= nominal.mul_f64(1.5),
                "{attempt}: {d:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let at = now();
        assert_eq!(retry_after("7", at), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(" 0.5 ", at), Some(Duration::from_millis(500)));
        assert_eq!(retry_after("0", at), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:30 GMT", at),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:27:00 GMT", at),
            Some(Duration::ZERO)
        );
        for nonsense in ["soon", "-3", "NaN", "inf", "", "1e400"] {
            assert_eq!(retry_after(nonsense, at), None, "{nonsense}");
        }
    }

    #[test]
    fn retry_after_is_kept_within_bounds_and_else_the_backoff_applies() {
        let bounded = RetryAfter {
            min: Duration::from_millis(100),
            max: Duration::from_secs(120),
        };
        assert_eq!(bounded.wait(None, now()), None);
        assert_eq!(bounded.wait(Some("x"), now()), None);
        assert_eq!(
            bounded.wait(Some("0"), now()),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            bounded.wait(Some("86400"), now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            RetryAfter::AS_ASKED.wait(Some("86400"), now()),
            Some(Duration::from_secs(86400))
        );
        let retry = Retry {
            backoff: BACKOFF,
            retry_after: bounded,
        };
        assert_eq!(retry.wait(1, Some("3"), now()), Duration::from_secs(3));
        let d = retry.wait(2, None, now());
        assert!(
            d >= Duration::from_millis(500) && d <= Duration::from_secs(1),
            "{d:?}"
        );
    }
}
