//! Call pacing under the service's per-client limits (CHANGELOG v1.3.1):
//! 5 calls/s for bulk and job-status calls together, 10/s for reads.
//!
//! Each class has one `governor` limiter per client identity, shared by every
//! sink built for that identity in this process (see [`pacers_for`]). The
//! limiter allows no burst and spaces calls `(1 s + JITTER_MARGIN) / limit`
//! apart: the service may count calls in a sliding window by arrival time,
//! and with calls exactly 1/limit apart a few milliseconds of network jitter
//! would put limit + 1 calls into one second. Waiters are served in order.
//!
//! The limiter also follows the server: a `429`, or `X-RateLimit-Remaining:
//! 0`, blocks every call until `X-RateLimit-Reset` seconds have passed. The
//! spec is ambiguous about the header's form — `x-ratelimit-reset` is
//! "schema: type: integer" yet "`0.5` innebär att kvoten återställs om en
//! halv sekund (500 millisekunder)", example `0.5` — so both integer and
//! fractional seconds are read.
//!
//! After a `429` every call waits at least one pacing interval, even when
//! the server says the quota resets in `0` seconds (or sends `Retry-After:
//! 0`). Not documented; chosen because a refused call repeated at once is
//! refused again (a reset rounded down to an integer reads `0` for most of
//! a second), and one interval is what the client's own limit demands
//! between two calls anyway.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::HeaderMap;
use tokio::time::Instant;

/// Extra spacing per second of calls, absorbing arrival jitter.
pub const JITTER_MARGIN: Duration = Duration::from_millis(50);

/// Added to a wait the server's headers impose, for arrival jitter.
const HEADER_MARGIN: Duration = Duration::from_millis(10);

/// The longest wait a `X-RateLimit-Reset` header can impose.
const MAX_RESET: Duration = Duration::from_secs(60);

/// Paces one class of calls.
pub struct Pacer {
    limiter: DefaultDirectRateLimiter,
    clock: DefaultClock,
    interval: Duration,
    turn: tokio::sync::Mutex<()>,
    blocked_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Pacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pacer")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl Pacer {
    /// A pacer for `per_second` calls per second (at least 1).
    pub fn new(per_second: u32) -> Pacer {
        let per_second = per_second.max(1);
        let interval = (Duration::from_secs(1) + JITTER_MARGIN) / per_second;
        // `with_period` only refuses a zero period, which cannot occur here.
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Pacer {
            limiter: RateLimiter::direct(quota),
            clock: DefaultClock::default(),
            interval,
            turn: tokio::sync::Mutex::new(()),
            blocked_until: Mutex::new(None),
        }
    }

    /// Time between two calls.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this caller's turn to make one call.
    pub async fn acquire(&self) {
        // tokio's mutex is fair: callers get their turn in arrival order.
        let _turn = self.turn.lock().await;
        loop {
            let blocked = self.blocked_until.lock().ok().and_then(|b| *b);
            if let Some(until) = blocked
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match self.limiter.check() {
                Ok(()) => return,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
        }
    }

    /// Blocks every call until `from + wait` (if that is later than any
    /// block already in place).
    pub fn block_until(&self, from: Instant, wait: Duration) {
        let until = from + wait.min(MAX_RESET) + HEADER_MARGIN;
        if let Ok(mut blocked) = self.blocked_until.lock()
            && blocked.is_none_or(|b| b < until)
        {
            *blocked = Some(until);
        }
    }

    /// Reads the rate-limit headers of the answer to a call sent at
    /// `sent_at`: with nothing left in the window, wait for the reset.
    ///
    /// After a `429` the wait counts from now, to be safe. After an accepted
    /// call with `Remaining: 0` it counts from when the call was sent: the
    /// server counted the call (and computed the reset) when it arrived, not
    /// when it answered, and counting from the answer would idle for the
    /// time the server spent on the call.
    pub fn observe(&self, headers: &HeaderMap, status: u16, sent_at: Instant) {
        let limits = RateHeaders::read(headers);
        if status == 429 {
            self.block_until(Instant::now(), after_429(headers, None, self.interval));
        } else if limits.remaining == Some(0)
            && let Some(reset) = limits.reset
        {
            self.block_until(sent_at, reset);
        }
    }
}

/// How long every call waits after a `429`: the server's `Retry-After`
/// (`retry_after`, already read), else its `X-RateLimit-Reset`, else a
/// whole window (1 s, always enough) — and never less than `interval`, the
/// pacer's own spacing (see the module doc).
pub fn after_429(
    headers: &HeaderMap,
    retry_after: Option<Duration>,
    interval: Duration,
) -> Duration {
    retry_after
        .or_else(|| RateHeaders::read(headers).reset)
        .unwrap_or(Duration::from_secs(1))
        .max(interval)
}

/// `X-RateLimit-Remaining` and `X-RateLimit-Reset` of an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateHeaders {
    /// Calls left in the window.
    pub remaining: Option<u64>,
    /// Time until the window resets.
    pub reset: Option<Duration>,
}

impl RateHeaders {
    /// Reads the headers; values that are not numbers are ignored.
    pub fn read(headers: &HeaderMap) -> RateHeaders {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let remaining = text("x-ratelimit-remaining")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64);
        let reset = text("x-ratelimit-reset").and_then(parse_reset);
        RateHeaders { remaining, reset }
    }
}

/// `X-RateLimit-Reset`: seconds, possibly fractional (`0.5`). A value that
/// looks like a Unix timestamp is taken as one.
pub fn parse_reset(value: &str) -> Option<Duration> {
    let seconds = value.trim().parse::<f64>().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    if seconds > 1e9 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        return Some(Duration::from_secs_f64((seconds - now).clamp(0.0, 60.0)));
    }
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RESET.as_secs_f64()),
    ))
}

/// The two pacers of one client identity.
#[derive(Debug)]
pub struct Pacers {
    /// Bulk and job-status calls.
    pub bulk: Pacer,
    /// Reads.
    pub read: Pacer,
}

/// The pacers of a client identity at a Provisioning API, created on first
/// use and shared by every sink of this process with the same identity, so
/// two pipelines with one certificate never exceed the limit together.
pub fn pacers_for(identity: &str, api: &str, bulk: u32, read: u32) -> Arc<Pacers> {
    /// (identity, API URL, bulk limit, read limit).
    type Key = (String, String, u32, u32);
    static REGISTRY: OnceLock<Mutex<HashMap<Key, Arc<Pacers>>>> = OnceLock::new();
    let key = (identity.to_string(), api.to_string(), bulk, read);
    let registry = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = match registry.lock() {
        Ok(map) => map,
        Err(poisoned) => poisoned.into_inner(),
    };
    Arc::clone(map.entry(key).or_insert_with(|| {
        Arc::new(Pacers {
            bulk: Pacer::new(bulk),
            read: Pacer::new(read),
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reset_accepts_integers_fractions_and_timestamps() {
        assert_eq!(parse_reset("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_reset("1"), Some(Duration::from_secs(1)));
        assert_eq!(parse_reset(" 0.734 "), Some(Duration::from_millis(734)));
        assert_eq!(parse_reset("3600"), Some(MAX_RESET));
        assert_eq!(parse_reset("-1"), None);
        assert_eq!(parse_reset("soon"), None);
        let in_two = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 2;
        let wait = parse_reset(&in_two.to_string()).unwrap();
        assert!(
            wait <= Duration::from_secs(2) && wait >= Duration::from_secs(1),
            "{wait:?}"
        );
    }

    #[test]
    fn headers_are_read_leniently() {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from_static("0.25"));
        assert_eq!(
            RateHeaders::read(&h),
            RateHeaders {
                remaining: Some(0),
                reset: Some(Duration::from_millis(250))
            }
        );
        assert_eq!(RateHeaders::read(&HeaderMap::new()), RateHeaders::default());
    }

    #[test]
    fn after_a_429_the_wait_is_never_below_the_pacing_interval() {
        let interval = Pacer::new(5).interval();
        let reset = |value: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-reset", HeaderValue::from_static(value));
            h
        };
        // A reset of 0, in either form, still waits one interval.
        assert_eq!(after_429(&reset("0"), None, interval), interval);
        assert_eq!(after_429(&reset("0.0"), None, interval), interval);
        assert_eq!(
            after_429(&reset("0"), Some(Duration::ZERO), interval),
            interval
        );
        // Integer and fractional seconds above the interval are honoured.
        assert_eq!(
            after_429(&reset("2"), None, interval),
            Duration::from_secs(2)
        );
        assert_eq!(
            after_429(&reset("0.75"), None, interval),
            Duration::from_millis(750)
        );
        // Retry-After wins over the reset header; nothing at all: 1 s.
        assert_eq!(
            after_429(&reset("0.75"), Some(Duration::from_secs(3)), interval),
            Duration::from_secs(3)
        );
        assert_eq!(
            after_429(&HeaderMap::new(), None, interval),
            Duration::from_secs(1)
        );
    }

    #[tokio::test]
    async fn a_429_with_a_zero_reset_still_holds_calls_one_interval() {
        let pacer = Pacer::new(5);
        pacer.acquire().await;
        tokio::time::sleep(pacer.interval()).await;
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("0"));
        pacer.observe(&h, 429, Instant::now());
        let blocked = Instant::now();
        pacer.acquire().await;
        assert!(
            blocked.elapsed() >= pacer.interval(),
            "{:?} < {:?}",
            blocked.elapsed(),
            pacer.interval()
        );
    }

    #[tokio::test]
    async fn calls_are_spaced_and_a_429_blocks_until_the_reset() {
        let pacer = Pacer::new(20);
        let start = Instant::now();
        for _ in 0..5 {
            pacer.acquire().await;
        }
        // Four gaps of (1 s + margin) / 20.
        let spent = start.elapsed();
        assert!(spent >= pacer.interval() * 4, "{spent:?}");
        assert!(
            spent < pacer.interval() * 4 + Duration::from_millis(150),
            "{spent:?}"
        );

        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("0.3"));
        pacer.observe(&h, 429, Instant::now());
        let blocked = Instant::now();
        pacer.acquire().await;
        assert!(
            blocked.elapsed() >= Duration::from_millis(290),
            "{:?}",
            blocked.elapsed()
        );
    }
}
