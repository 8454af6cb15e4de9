//! The cron side of a pipeline: asks its queue for a run at every time
//! its `[schedule]` names.
//!
//! The wait is taken in steps of at most a minute against the wall clock,
//! so a clock that is set (NTP, a suspended machine) does not leave the
//! ticker asleep past a time; and each time is computed from the previous
//! one, so waking a little early never fires the same time twice. A time
//! missed while a run goes on is not lost: the queue runs once more after
//! the run.

use std::time::Duration;

use chrono::Utc;

use super::queue::{RunRequester, Trigger};
use crate::pipeline::Schedule;

/// The longest single sleep before the wall clock is looked at again.
const MAX_STEP: Duration = Duration::from_secs(60);

/// Requests a run at every time of `schedule` until the queue closes.
/// Returns at once for a schedule without times.
pub async fn tick(schedule: Schedule, requester: RunRequester) {
    let mut after = Utc::now();
    while let Some((at, expression)) = schedule.next_after(after) {
        loop {
            let now = Utc::now();
            if now >= at {
                break;
            }
            let left = (at - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(left.min(MAX_STEP)).await;
            if requester.is_closed() {
                return;
            }
        }
        let trigger = Trigger::Schedule {
            expression: expression.to_string(),
        };
        if !requester.request(trigger) {
            return;
        }
        // A clock set far back does not replay old times; one set forward
        // skips to the next time after now.
        after = at.max(Utc::now() - chrono::Duration::seconds(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::ScheduleConfig;
    use crate::watch::queue::RunQueue;

    #[tokio::test]
    async fn an_every_second_schedule_asks_for_runs_on_the_second() {
        let config = ScheduleConfig {
            cron: vec!["* * * * * *".into()],
            timezone: "UTC".into(),
            ..ScheduleConfig::default()
        };
        let schedule = Schedule::new(&config).unwrap();
        let mut queue = RunQueue::new(Duration::from_secs(30));
        let ticker = tokio::spawn(tick(schedule, queue.requester()));
        let mut seconds = Vec::new();
        for _ in 0..2 {
            let request = tokio::time::timeout(Duration::from_secs(10), queue.next())
                .await
                .expect("a tick within 10 s")
                .expect("the queue is open");
            assert_eq!(
                request.trigger,
                Trigger::Schedule {
                    expression: "* * * * * *".into()
                }
            );
            seconds.push(Utc::now().timestamp());
        }
        assert!(seconds[1] > seconds[0], "one time fired twice: {seconds:?}");
        queue.requester().close();
        tokio::time::timeout(Duration::from_secs(5), ticker)
            .await
            .expect("the ticker ends when the queue closes")
            .unwrap();
    }
}
