//! The run queue of one pipeline: what asks for a run (start-up, a cron
//! time, a change notification) and when the run starts.
//!
//! - One run at a time: the worker takes the next request only when its
//!   run has ended ([`RunQueue::next`]).
//! - Requests that arrive while a run goes on, or while one waits, fold
//!   into one pending request: however many arrive, exactly one more run
//!   follows (a run reads the source as it is when it starts, so one run
//!   covers every change made before it).
//! - A change notification waits `debounce` (default 30 s) from the first
//!   notification of a burst — later ones do not push the start back — so
//!   a burst becomes one run that starts at most `debounce` after the
//!   first change was announced. Start-up and cron times are due at once,
//!   and take a waiting notification along.
//! - [`RunRequester::close`] stops the queue: a request that waits is
//!   dropped and [`RunQueue::next`] returns `None` (shutting down).
//!
//! Times are tokio's, so the tests drive the queue with a paused clock.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// What asked for a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `watch` started.
    Startup,
    /// A cron expression of `[schedule]` named this time.
    Schedule {
        /// The expression, as written.
        expression: String,
    },
    /// The source notified a change (SS 12000 subscription webhook).
    Change {
        /// The entity types it named (`modifiedEntites`), as sent; empty
        /// when it named none.
        modified: BTreeSet<String>,
        /// Whether it announced deletions (`deletedEntities`).
        deleted: bool,
    },
}

impl Trigger {
    /// Whether the run waits the debounce time.
    fn debounced(&self) -> bool {
        matches!(self, Trigger::Change { .. })
    }

    /// Folds `other`, which arrived later, into this trigger: notifications
    /// add up; otherwise the one that is due first names the run.
    fn absorb(&mut self, other: Trigger, other_is_due_first: bool) {
        match (&mut *self, other) {
            (
                Trigger::Change { modified, deleted },
                Trigger::Change {
                    modified: more,
                    deleted: more_deleted,
                },
            ) => {
                modified.extend(more);
                *deleted |= more_deleted;
            }
            (_, other) if other_is_due_first => *self = other,
            _ => {}
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Startup => f.write_str("start-up"),
            Trigger::Schedule { expression } => write!(f, "schedule `{expression}`"),
            Trigger::Change { modified, deleted } => {
                f.write_str("change")?;
                let mut parts: Vec<&str> = modified.iter().map(String::as_str).collect();
                if *deleted {
                    parts.push("deletions");
                }
                if !parts.is_empty() {
                    write!(f, " ({})", parts.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

/// A run to start: what asked for it first, and how many more requests
/// were folded into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What the run is for.
    pub trigger: Trigger,
    /// Further requests folded into this run.
    pub coalesced: u32,
    /// When the first of them arrived.
    pub requested: Instant,
}

#[derive(Debug)]
struct Pending {
    request: Request,
    due: Instant,
}

#[derive(Debug, Default)]
struct State {
    pending: Option<Pending>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Notify,
    debounce: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent after every statement: a panic elsewhere
        // while it was held leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The worker's side of a pipeline's queue: the next run to start.
#[derive(Debug)]
pub struct RunQueue {
    shared: Arc<Shared>,
}

/// Asks for runs of one pipeline; cheap to clone, one per trigger source.
#[derive(Debug, Clone)]
pub struct RunRequester {
    shared: Arc<Shared>,
}

impl RunQueue {
    /// A queue whose change notifications wait `debounce`.
    pub fn new(debounce: Duration) -> RunQueue {
        RunQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                debounce,
            }),
        }
    }

    /// A handle that asks for runs.
    pub fn requester(&self) -> RunRequester {
        RunRequester {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Waits for the next run to be due and returns it; `None` once the
    /// queue is closed.
    pub async fn next(&mut self) -> Option<Request> {
        loop {
            let due = {
                let mut state = self.shared.lock();
                if state.closed {
                    return None;
                }
                match &state.pending {
                    None => None,
                    Some(p) if p.due <= Instant::now() => {
                        return state.pending.take().map(|p| p.request);
                    }
                    Some(p) => Some(p.due),
                }
            };
            // `notify_one` keeps a permit when nobody waits, so a request
            // made between the check above and this wait is not missed.
            match due {
                None => self.shared.wake.notified().await,
                Some(due) => {
                    tokio::select! {
                        () = self.shared.wake.notified() => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
            }
        }
    }
}

impl RunQueue {
    /// Whether the queue was closed (shutting down): a run taken just
    /// before should not start.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl RunRequester {
    /// Asks for a run; `false` if the queue is closed (shutting down).
    pub fn request(&self, trigger: Trigger) -> bool {
        let now = Instant::now();
        let due = if trigger.debounced() {
            now + self.shared.debounce
        } else {
            now
        };
        {
            let mut state = self.shared.lock();
            if state.closed {
                return false;
            }
            match &mut state.pending {
                None => {
                    state.pending = Some(Pending {
                        request: Request {
                            trigger,
                            coalesced: 0,
                            requested: now,
                        },
                        due,
                    });
                }
                Some(pending) => {
                    let first = due < pending.due;
                    pending.request.trigger.absorb(trigger, first);
                    pending.request.coalesced += 1;
                    pending.due = pending.due.min(due);
                }
            }
        }
        self.shared.wake.notify_one();
        true
    }

    /// Closes the queue: nothing more is taken, a waiting request is
    /// dropped, and the worker's [`RunQueue::next`] returns `None`.
    pub fn close(&self) {
        {
            let mut state = self.shared.lock();
            state.closed = true;
            state.pending = None;
        }
        self.shared.wake.notify_one();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

#[cfg(test)]
mod tests {
    //! On tokio's paused clock: time moves only when every task waits, so
    //! the waits are exact and the tests take no time.

    use super::*;

    const DEBOUNCE: Duration = Duration::from_secs(30);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn change(kinds: &[&str], deleted: bool) -> Trigger {
        Trigger::Change {
            modified: kinds.iter().map(|k| k.to_string()).collect(),
            deleted,
        }
    }

    fn tick() -> Trigger {
        Trigger::Schedule {
            expression: "*/15 * * * *".into(),
        }
    }

    /// The next request and how long after `since` it came.
    async fn next_after(queue: &mut RunQueue, since: Instant) -> (Request, Duration) {
        let request = queue.next().await.expect("the queue is open");
        (request, since.elapsed())
    }

    /// Asserts that no run is due within an hour.
    async fn assert_idle(queue: &mut RunQueue) {
        let more = tokio::time::timeout(secs(3600), queue.next()).await;
        assert!(more.is_err(), "another run followed: {more:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_notifications_becomes_one_run_thirty_seconds_after_the_first() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        let start = Instant::now();
        let burst = tokio::spawn(async move {
            for (kinds, deleted) in [
                (&["Person"][..], false),
                (&["Group"], true),
                (&["Person"], false),
            ] {
                requester.request(change(kinds, deleted));
                tokio::time::sleep(secs(12)).await;
            }
            requester
        });
        let (request, waited) = next_after(&mut queue, start).await;
        // 30 s after the first (at 0 s), not after the last (at 24 s).
        assert_eq!(waited, DEBOUNCE);
        assert_eq!(request.coalesced, 2);
        assert_eq!(request.trigger, change(&["Group", "Person"], true));
        assert_eq!(
            request.trigger.to_string(),
            "change (Group, Person, deletions)"
        );
        let _requester = burst.await.unwrap();
        assert_idle(&mut queue).await;
    }

    #[tokio::test(start_paused = true)]
    async fn cron_times_and_start_up_are_not_debounced() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        let start = Instant::now();
        assert!(requester.request(Trigger::Startup));
        let (request, waited) = next_after(&mut queue, start).await;
        assert_eq!(
            (request.trigger, waited),
            (Trigger::Startup, Duration::ZERO)
        );
        assert!(requester.request(tick()));
        let (request, waited) = next_after(&mut queue, start).await;
        assert_eq!((request.trigger, waited), (tick(), Duration::ZERO));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cron_time_takes_a_waiting_notification_along() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        let start = Instant::now();
        requester.request(change(&["Person"], false));
        tokio::time::sleep(secs(5)).await;
        requester.request(tick());
        let (request, waited) = next_after(&mut queue, start).await;
        assert_eq!(waited, secs(5));
        assert_eq!((request.trigger, request.coalesced), (tick(), 1));
        assert_idle(&mut queue).await;
    }

    #[tokio::test(start_paused = true)]
    async fn requests_during_a_run_make_exactly_one_more_run_after_it() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        requester.request(Trigger::Startup);
        let first = queue.next().await.unwrap();
        assert_eq!(first.trigger, Trigger::Startup);
        // The "run" takes two minutes; meanwhile three cron times and a change.
        for _ in 0..3 {
            tokio::time::sleep(secs(20)).await;
            requester.request(tick());
        }
        requester.request(change(&["Duty"], false));
        tokio::time::sleep(secs(60)).await;
        // The run ended: one more run, at once (the cron times were due).
        let run_ended = Instant::now();
        let (second, waited) = next_after(&mut queue, run_ended).await;
        assert_eq!(waited, Duration::ZERO);
        assert_eq!((second.trigger, second.coalesced), (tick(), 3));
        assert_idle(&mut queue).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_notification_during_a_run_still_waits_its_debounce() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        requester.request(Trigger::Startup);
        queue.next().await.unwrap();
        let notified = Instant::now();
        requester.request(change(&[], true));
        tokio::time::sleep(secs(10)).await; // the run ends
        let (request, waited) = next_after(&mut queue, notified).await;
        assert_eq!(waited, DEBOUNCE);
        assert_eq!(request.trigger.to_string(), "change (deletions)");
    }

    #[tokio::test(start_paused = true)]
    async fn closing_drops_what_waits_and_refuses_more() {
        let mut queue = RunQueue::new(DEBOUNCE);
        let requester = queue.requester();
        requester.request(change(&["Person"], false));
        let closer = requester.clone();
        tokio::spawn(async move {
            tokio::time::sleep(secs(5)).await;
            closer.close();
        });
        let start = Instant::now();
        assert_eq!(queue.next().await, None);
        assert_eq!(start.elapsed(), secs(5), "the waiting run started");
        assert!(requester.is_closed() && queue.is_closed());
        assert!(!requester.request(Trigger::Startup));
        assert_eq!(queue.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_debounce_runs_a_notification_at_once() {
        let mut queue = RunQueue::new(Duration::ZERO);
        let requester = queue.requester();
        let start = Instant::now();
        requester.request(change(&["Group"], false));
        let (request, waited) = next_after(&mut queue, start).await;
        assert_eq!(waited, Duration::ZERO);
        assert_eq!(request.trigger.to_string(), "change (Group)");
    }
}
