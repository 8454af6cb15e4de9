//! Per-client call-rate limits with a sliding one-second window.
//!
//! The service allows 5 bulk/job calls and 10 read calls per second per
//! client (CHANGELOG v1.3.1). A sliding window is stricter than a fixed one:
//! *any* interval of one second holds at most `limit` accepted calls, so a
//! client that bunches 5 calls at the end of one second and 5 at the start of
//! the next is told off here even if a fixed-window gateway would let it
//! through. Refused calls are not counted, so a client that backs off for
//! `X-RateLimit-Reset` seconds always gets its next call in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Length of the window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// Which limit a call counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateClass {
    /// Bulk create/update/delete, job status and `isCompleted`.
    Bulk,
    /// Lists, by id, lookups, `/alive` and unknown paths.
    Read,
}

/// The state of a client's quota after a call, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Calls allowed per window.
    pub limit: u32,
    /// Calls left in the current window.
    pub remaining: u32,
    /// Time until the oldest counted call leaves the window, i.e. until
    /// `remaining` grows again (zero when nothing is counted).
    pub reset: Duration,
}

impl Quota {
    /// `X-RateLimit-Reset`: seconds, fractional to the millisecond, rounded
    /// up so waiting that long is always enough (`0.5`, `1`, `0.734`).
    pub fn reset_header(&self) -> String {
        let millis = self.reset.as_nanos().div_ceil(1_000_000);
        let text = format!("{}.{:03}", millis / 1000, millis % 1000);
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Sliding-window counters per (client, class).
#[derive(Debug)]
pub struct Limiter {
    bulk_per_second: u32,
    read_per_second: u32,
    windows: Mutex<HashMap<(String, RateClass), VecDeque<Instant>>>,
}

impl Limiter {
    /// A limiter allowing the given calls per second.
    pub fn new(bulk_per_second: u32, read_per_second: u32) -> Self {
        Limiter {
            bulk_per_second,
            read_per_second,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, class: RateClass) -> u32 {
        match class {
            RateClass::Bulk => self.bulk_per_second,
            RateClass::Read => self.read_per_second,
        }
    }

    /// Counts a call at `now` if the quota allows it: `Ok` with the quota
    /// left, or `Err` with the (exhausted) quota when the call must get 429.
    pub fn hit(&self, client: &str, class: RateClass, now: Instant) -> Result<Quota, Quota> {
        let limit = self.limit(class);
        let Ok(mut windows) = self.windows.lock() else {
            // A poisoned lock only means another request panicked; let the
            // call through rather than failing every later one.
            return Ok(Quota {
                limit,
                remaining: limit,
                reset: Duration::ZERO,
            });
        };
        let window = windows.entry((client.to_string(), class)).or_default();
        prune(window, now);
        let allowed = (window.len() as u64) < u64::from(limit);
        if allowed {
            window.push_back(now);
        }
        let quota = Quota {
            limit,
            remaining: limit.saturating_sub(window.len() as u32),
            reset: reset_of(window, now),
        };
        if allowed { Ok(quota) } else { Err(quota) }
    }

    /// The quota without counting a call.
    pub fn peek(&self, client: &str, class: RateClass, now: Instant) -> Quota {
        let limit = self.limit(class);
        let Ok(mut windows) = self.windows.lock() else {
            return Quota {
                limit,
                remaining: limit,
                reset: Duration::ZERO,
            };
        };
        match windows.get_mut(&(client.to_string(), class)) {
            Some(window) => {
                prune(window, now);
                Quota {
                    limit,
                    remaining: limit.saturating_sub(window.len() as u32),
                    reset: reset_of(window, now),
                }
            }
            None => Quota {
                limit,
                remaining: limit,
                reset: Duration::ZERO,
            },
        }
    }
}

fn prune(window: &mut VecDeque<Instant>, now: Instant) {
    while let Some(first) = window.front() {
        if now.saturating_duration_since(*first) >= WINDOW {
            window.pop_front();
        } else {
            break;
        }
    }
}

fn reset_of(window: &VecDeque<Instant>, now: Instant) -> Duration {
    window
        .front()
        .map(|first| (*first + WINDOW).saturating_duration_since(now))
        .unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_call_within_a_second_is_refused_and_counted_calls_expire() {
        let limiter = Limiter::new(5, 10);
        let t0 = Instant::now();
        for i in 0..5u32 {
            let q = limiter
                .hit(
                    "a",
                    RateClass::Bulk,
                    t0 + Duration::from_millis(u64::from(i) * 100),
                )
                .unwrap();
            assert_eq!(q.remaining, 4 - i);
        }
        let refused = limiter
            .hit("a", RateClass::Bulk, t0 + Duration::from_millis(500))
            .unwrap_err();
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset, Duration::from_millis(500));
        // Another client and the other class are counted separately.
        assert!(limiter.hit("b", RateClass::Bulk, t0).is_ok());
        assert!(limiter.hit("a", RateClass::Read, t0).is_ok());
        // Once the first call is a second old, one slot is free again.
        assert!(limiter.hit("a", RateClass::Bulk, t0 + WINDOW).is_ok());
        assert!(limiter.hit("a", RateClass::Bulk, t0 + WINDOW).is_err());
    }

    #[test]
    fn reset_header_is_seconds_rounded_up_to_the_millisecond() {
        let q = |reset| Quota {
            limit: 5,
            remaining: 0,
            reset,
        };
        assert_eq!(q(Duration::from_millis(500)).reset_header(), "0.5");
        assert_eq!(q(Duration::from_secs(1)).reset_header(), "1");
        assert_eq!(q(Duration::from_micros(733_100)).reset_header(), "0.734");
        assert_eq!(q(Duration::ZERO).reset_header(), "0");
    }
}
