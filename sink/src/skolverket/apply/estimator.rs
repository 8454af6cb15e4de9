//! When to check a bulk job first: learnt from the jobs seen so far.

use std::time::Duration;

/// Learns from job statuses how long jobs take to settle, so the first
/// check of a job comes when it has probably settled: neither a wasted call
/// too early nor idle waiting too late.
///
/// `lo` is the oldest age at which a job was seen pending, `hi` the youngest
/// at which one was seen complete. While they are far apart the next first
/// check probes halfway (bisection); once close, it comes at `hi`. A job
/// pending past `hi` means the service slowed down: `hi` is forgotten.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimator {
    lo: Duration,
    hi: Option<Duration>,
}

impl Estimator {
    /// First guess, before any job was seen.
    const INITIAL: Duration = Duration::from_millis(500);
    /// Precision worth probing for.
    const RESOLUTION: Duration = Duration::from_millis(40);

    /// Age at which to check a new job first.
    pub fn first_check(&self) -> Duration {
        match self.hi {
            None if self.lo.is_zero() => Self::INITIAL,
            None => (self.lo * 3 / 2).max(self.lo + Self::RESOLUTION),
            Some(hi) if hi > self.lo + Self::RESOLUTION.max(hi / 5) => (self.lo + hi) / 2,
            Some(hi) => hi,
        }
    }

    /// A job was still pending at `age`.
    pub fn pending(&mut self, age: Duration) {
        self.lo = self.lo.max(age);
        if self.hi.is_some_and(|hi| hi <= self.lo) {
            self.hi = None;
        }
    }

    /// A job had settled at `age`.
    pub fn complete(&mut self, age: Duration) {
        if age > self.lo {
            self.hi = Some(self.hi.map_or(age, |hi| hi.min(age)));
        }
    }

    /// Time until a job found pending at `age` is asked again.
    pub(super) fn poll_gap(age: Duration) -> Duration {
        (age / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn estimator_bisects_towards_the_settle_time() {
        let settle = ms(200);
        let mut e = Estimator::default();
        let mut wasted = 0;
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            let at = e.first_check();
            if at >= settle {
                e.complete(at);
            } else {
                wasted += 1;
                e.pending(at);
            }
            last = at;
        }
        assert!(wasted <= 4, "{wasted} wasted checks");
        assert!(
            last >= settle && last <= settle + ms(80),
            "settled on {last:?}"
        );
    }

    #[test]
    fn estimator_forgets_a_bound_the_service_no_longer_keeps() {
        let mut e = Estimator::default();
        e.complete(ms(300));
        e.pending(ms(150));
        e.pending(ms(400));
        assert!(e.first_check() > ms(400));
    }
}
