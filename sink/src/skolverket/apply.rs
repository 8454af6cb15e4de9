//! Carrying out a plan against the Provisioning API.
//!
//! **Order.** Creates and updates go Person → Duty → Group → Activity, then
//! deletes Activity → Group → Duty → Person. Each type is a phase: its
//! batches are sent back to back (the service queues jobs) and every job of
//! the phase settles before the next phase starts, so the next type is
//! gated on final statuses.
//!
//! **Gating.** An entity whose dependency was refused in this run is not
//! sent whole:
//! - a Duty whose Person did not end `Success`/`Warning` is `HeldBack`,
//!   blocked by that Person;
//! - an Activity is sent without the groups and teachers' duties that did
//!   not end `Success`/`Warning` (refused or themselves held back), with
//!   one LogEntry `skolsync-reference-left-out` each, and ends `Warning`;
//!   it is `HeldBack` only when no group is left (`groups` has
//!   `minItems: 1`), blocked by the first failed group;
//! - a Group is sent without the members whose Person was refused (the
//!   service would drop them with a warning anyway, CHANGELOG v1.3.2) and
//!   ends `Warning` with one LogEntry `skolsync-member-left-out` per member
//!   left out.
//!
//! Such outcomes carry the desired entity's hash and name what was left
//! out (`Outcome::left_out`); the engine confirms the hash of what was
//! sent, so the next run sends the entity again whole once what it refers
//! to has landed. The sink computes no hash. Entities that are not in the
//! plan (unchanged) count as present.
//!
//! **Members the service left out.** A Group the service accepts with
//! warnings that name some of the members sent (CHANGELOG v1.3.2: "Efter
//! eleverna har lagts till i provtjänsten behöver gruppen överföras igen")
//! is sent again whole in the same run when every such member's Person
//! landed in this run (once); otherwise it ends `Warning` with those
//! members in `left_out`, and the next run sends it again.
//!
//! **Confirmation.** A job's first check fetches its full status directly:
//! it costs one call like `isCompleted` does, and when the job has settled
//! (the usual case, see [`Estimator`]) nothing else is needed. Only a job
//! found still pending is then polled with the cheap `isCompleted` until it
//! says `true`, and its status fetched once more. A job is complete only
//! when every entity it carried is listed with a final status; entities
//! listed final are resolved at once, the others (listed `Pending`, or not
//! listed yet) are waited for until the job deadline and never sent again
//! meanwhile ([`jobs`]). The status is read entity by entity
//! ([`super::readback`]): one unreadable entity ends `Error` with the
//! problem, the rest is used. `showOnlyError=true` is never used: it lists
//! only `Error` entities, so the `Warning` messages and `TemporaryError`
//! entities this sink must keep would be lost.
//!
//! **Outcomes** per entity status: `Success`/`Warning` are kept with their
//! messages; `Error` keeps Skolverket's LogEntries; `TemporaryError` is sent
//! again after a backoff, up to `max_attempts` times. Creates and updates
//! are both `POST /{kind}/bulk?updateIfExists=true`, the spec's upsert, so
//! an update of an entity the service no longer holds simply creates it. A
//! delete the service answers "not found" ends `Success` (the entity is
//! gone, which is what was asked): not documented how a bulk delete of an
//! unknown id is answered; chosen: an entity `Error` whose `statusCode` is
//! 404, or whose LogEntries are all 404 (the spec's `404_not_found`, "Posten
//! hittades inte"), means absent. A batch answered `413` goes back to the
//! queue and is packed again under a lower limit (90 % of the refused
//! body); a single entity over the limit ends `Error` alone. A batch the
//! service refuses outright (another 4xx) ends `Error` for its entities;
//! three such batches in a row stop the run.
//!
//! **Layout.** This file holds the order and the event loop of a phase;
//! `gating` decides what is sent and what is held back (pure, no HTTP),
//! `jobs` reads bulk answers and job checks, `outcomes` keeps the books
//! and forwards outcomes to the engine, [`Estimator`] times job checks.
//!
//! **Stopping.** Transient trouble (429, 5xx, dropped connections) is waited
//! out by [`Api::call`] within the retry budget. A call that gives up —
//! the budget exhausted, or a permanent error such as a TLS certificate
//! that does not verify, `401` or `403` — stops the run at once: its batch
//! ends `Error` with that reason, a job whose status can no longer be
//! fetched ends `Error` ("outcome could not be confirmed"), and every
//! entity not yet sent ends `Error` ("not sent: …"). Nothing is left
//! without an outcome, and what was confirmed before stays confirmed. The
//! engine stops the run the same way when its outcome callback answers
//! `Err` (it can no longer record outcomes).

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use reqwest::Method;
use skolsync_model::plan::{Action, Outcome, OutcomeStatus, Plan, SEND_ORDER};
use skolsync_model::provtjanst::{Accepted, EntityOutcome, LogEntry, from_json, path_segment};
use skolsync_model::{JobEntityStatus, ObjectType, by_type};
use tokio::time::Instant;
use uuid::Uuid;

use super::api::{Api, Call, CallError, CallKind, Reply, backoff};
use super::batch::{self, Item};
use super::readback;
use crate::error::SinkError;
use crate::summary::ApplySummary;
use crate::{OutcomeCallback, SinkStop};

/// The sink's own LogEntry id for a group member left out because its
/// Person was not accepted.
pub const MEMBER_LEFT_OUT: &str = "skolsync-member-left-out";

/// The sink's own LogEntry id for an activity's group or teacher's duty
/// left out because that Group or Duty was not accepted.
pub const REFERENCE_LEFT_OUT: &str = "skolsync-reference-left-out";

mod estimator;
mod gating;
mod jobs;
mod outcomes;

pub use estimator::Estimator;
use gating::{Failed, Gated, gate};
use outcomes::{Dropped, Emitter};

/// Whole-batch failures in a row that stop the run.
const ABORT_AFTER: u32 = 3;

/// How a run is tuned.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Calls under way at once.
    pub max_in_flight: usize,
    /// Attempts per call and per entity.
    pub max_attempts: u32,
    /// How long a job may stay incomplete.
    pub job_deadline: Duration,
    /// Largest body to send.
    pub body_limit: usize,
}

/// What a batch does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    fn action(self) -> Action {
        match self {
            Op::Create => Action::Create,
            Op::Update => Action::Update,
            Op::Delete => Action::Delete,
        }
    }

    fn call(self, kind: ObjectType, body: Vec<u8>) -> Call {
        let segment = path_segment(kind);
        let (method, path, query) = match self {
            // Creates and updates are both the spec's own upsert: `POST
            // /{kind}/bulk` "Det går att skapa/uppdatera en eller flera
            // personer via denna operation", with `updateIfExists` "Om
            // denna parameter sätts till `true` kommer resurserna
            // uppdateras". So a run repeated after a crash is idempotent, and
            // an update of something the service no longer holds creates it
            // (no fallback on an undocumented per-entity 404 of `PUT`).
            Op::Create | Op::Update => (
                Method::POST,
                format!("/{segment}/bulk"),
                vec![("updateIfExists", "true".to_string())],
            ),
            Op::Delete => (Method::POST, format!("/{segment}/bulk/delete"), Vec::new()),
        };
        Call {
            method,
            path,
            query,
            body: Some(std::sync::Arc::new(body)),
            kind: CallKind::Bulk,
        }
    }
}

/// Entities waiting to be sent in one phase.
#[derive(Default)]
struct Lanes {
    create: VecDeque<Item>,
    update: VecDeque<Item>,
    delete: VecDeque<Item>,
}

impl Lanes {
    fn lane(&mut self, op: Op) -> &mut VecDeque<Item> {
        match op {
            Op::Create => &mut self.create,
            Op::Update => &mut self.update,
            Op::Delete => &mut self.delete,
        }
    }

    fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }

    fn drain(&mut self) -> Vec<(Op, Item)> {
        let mut out = Vec::new();
        for op in [Op::Create, Op::Update, Op::Delete] {
            out.extend(self.lane(op).drain(..).map(|i| (op, i)));
        }
        out
    }
}

struct Batch {
    op: Op,
    items: Vec<Item>,
    body_len: usize,
}

struct Job {
    id: Uuid,
    op: Op,
    items: Vec<Item>,
    /// Entities of this job already resolved by an earlier, partial status:
    /// a later status lists them again, and they are neither strangers nor
    /// resolved twice.
    resolved: HashSet<Uuid>,
    accepted_at: Instant,
    next_check: Instant,
    checked: bool,
    ready: bool,
    polls: u32,
    busy: bool,
}

enum Event {
    Sent(Batch, Result<Reply, CallError>),
    Checked {
        job: Uuid,
        full: bool,
        result: Result<Reply, CallError>,
    },
}

/// Carries out plans; one per [`Runner::run`].
pub struct Runner<'a> {
    api: &'a Api,
    settings: RunSettings,
    emitter: Emitter<'a>,
    estimator: Estimator,
    body_limit: usize,
    failures_in_row: u32,
    aborted: Option<String>,
    /// Groups of this phase the service accepted without some members,
    /// waiting for [`Runner::regroup`].
    dropped: Vec<Dropped>,
}

impl<'a> Runner<'a> {
    /// A runner over `api`.
    pub fn new(api: &'a Api, settings: RunSettings, callback: OutcomeCallback<'a>) -> Self {
        let body_limit = settings.body_limit;
        Runner {
            api,
            settings,
            emitter: Emitter::new(callback),
            estimator: Estimator::default(),
            body_limit,
            failures_in_row: 0,
            aborted: None,
            dropped: Vec::new(),
        }
    }

    /// Carries out `plan`; see the module doc.
    pub async fn run(mut self, plan: &Plan) -> Result<ApplySummary, SinkError> {
        let started = Instant::now();
        if plan.is_empty() {
            return Ok(self.summary(started));
        }
        self.api.retry().reset();
        // Fail before anything is sent when no token can be had.
        self.api.token().await?;

        for kind in SEND_ORDER {
            let failed = self.emitter.failed();
            let lanes = by_type!(kind, &plan, |part| self.lanes(kind, gate(part, &failed)));
            self.phase(kind, lanes).await;
            // Groups the service accepted without members that landed in
            // this run go again whole (once each), before the activities.
            loop {
                let again = self.regroup(plan);
                if again.is_empty() {
                    break;
                }
                self.phase(kind, again).await;
            }
        }
        for kind in SEND_ORDER.iter().rev().copied() {
            let ids = by_type!(kind, &plan, |part| &part.delete);
            let mut lanes = Lanes::default();
            lanes.delete.extend(
                ids.iter()
                    .map(|id| Item::new(*id, format!("\"{id}\"").into_bytes(), None)),
            );
            self.phase(kind, lanes).await;
        }
        self.heed_stop();
        match self.aborted.take() {
            Some(reason) => Err(SinkError::Aborted(reason)),
            None => Ok(self.summary(started)),
        }
    }

    /// Stops the run when the engine asked for it through the callback.
    fn heed_stop(&mut self) {
        if self.aborted.is_none()
            && let Some(stop) = self.emitter.stop()
        {
            tracing::error!(%stop, "the engine asked the sink to stop");
            self.aborted = Some(format!("the engine asked the sink to stop: {stop}"));
        }
    }

    fn summary(&self, started: Instant) -> ApplySummary {
        let mut summary = self.emitter.summary();
        summary.calls = self.api.stats();
        summary.calls.body_limit = self.body_limit as u64;
        summary.set_elapsed(started.elapsed());
        summary
    }

    // ---- one phase ----------------------------------------------------------

    /// The next batch to send, packed under the current limit. Entities
    /// too large to send alone end `Error` here.
    fn next_batch(&self, kind: ObjectType, lanes: &mut Lanes) -> Option<Batch> {
        for op in [Op::Create, Op::Update, Op::Delete] {
            let limit = self.body_limit;
            let lane = lanes.lane(op);
            while let Some(front) = lane.front() {
                if batch::single_len(front) <= limit {
                    break;
                }
                if let Some(item) = lane.pop_front() {
                    let detail = format!(
                        "its payload alone makes a {}-byte request body, over the {limit}-byte limit",
                        batch::single_len(&item)
                    );
                    self.error(kind, op, item, detail);
                }
            }
            let items = batch::take_batch(lane, limit);
            if !items.is_empty() {
                let body_len = batch::body_len(&items);
                return Some(Batch {
                    op,
                    items,
                    body_len,
                });
            }
        }
        None
    }

    async fn phase(&mut self, kind: ObjectType, mut lanes: Lanes) {
        if lanes.is_empty() {
            return;
        }
        self.heed_stop();
        if let Some(reason) = self.aborted.clone() {
            for (op, item) in lanes.drain() {
                self.not_sent(kind, op, item, &reason);
            }
            return;
        }
        let api = self.api;
        let max_in_flight = self.settings.max_in_flight.max(1);
        let mut in_flight: FuturesUnordered<BoxFuture<'a, Event>> = FuturesUnordered::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut delayed: Vec<(Instant, Op, Item)> = Vec::new();
        loop {
            let now = Instant::now();
            // Entities whose backoff is over join their lane again.
            let mut i = 0;
            while i < delayed.len() {
                if delayed[i].0 <= now {
                    let (_, op, item) = delayed.swap_remove(i);
                    lanes.lane(op).push_back(item);
                } else {
                    i += 1;
                }
            }
            // Jobs past their deadline.
            let deadline = self.settings.job_deadline;
            let mut j = 0;
            while j < jobs.len() {
                if !jobs[j].busy && now >= jobs[j].accepted_at + deadline {
                    let job = jobs.swap_remove(j);
                    let detail = format!(
                        "its job {} did not list it with a final status within {} s (job_deadline_secs)",
                        job.id,
                        deadline.as_secs()
                    );
                    self.fail_all(kind, job.op, job.items, &[], &detail);
                } else {
                    j += 1;
                }
            }
            self.heed_stop();
            if let Some(reason) = &self.aborted {
                for (op, item) in lanes.drain() {
                    self.not_sent(kind, op, item, reason);
                }
                for (_, op, item) in delayed.drain(..) {
                    self.not_sent(kind, op, item, reason);
                }
            }

            // Start calls: due job checks first, then batches.
            while in_flight.len() < max_in_flight {
                let due = jobs
                    .iter_mut()
                    .filter(|j| !j.busy && j.next_check <= now)
                    .min_by_key(|j| j.next_check);
                if let Some(job) = due {
                    job.busy = true;
                    let full = !job.checked || job.ready;
                    let segment = path_segment(kind);
                    let call = if full {
                        Call::get(format!("/{segment}/bulk/jobs/{}", job.id), CallKind::Status)
                    } else {
                        Call::get(
                            format!("/{segment}/bulk/jobs/{}/isCompleted", job.id),
                            CallKind::IsCompleted,
                        )
                    };
                    let id = job.id;
                    in_flight.push(Box::pin(async move {
                        let result = api.call(&call).await;
                        Event::Checked {
                            job: id,
                            full,
                            result,
                        }
                    }));
                    continue;
                }
                if self.aborted.is_some() {
                    break;
                }
                let Some(batch) = self.next_batch(kind, &mut lanes) else {
                    break;
                };
                let call = batch.op.call(kind, batch::body(&batch.items));
                in_flight.push(Box::pin(async move {
                    let result = api.call(&call).await;
                    Event::Sent(batch, result)
                }));
            }

            if in_flight.is_empty() && jobs.is_empty() && delayed.is_empty() && lanes.is_empty() {
                return;
            }
            let wake = jobs
                .iter()
                .filter(|j| !j.busy)
                .map(|j| j.next_check.min(j.accepted_at + deadline))
                .chain(delayed.iter().map(|d| d.0))
                .min();
            tokio::select! {
                Some(event) = in_flight.next(), if !in_flight.is_empty() => {
                    self.handle(kind, event, &mut lanes, &mut jobs, &mut delayed);
                }
                _ = sleep_until_opt(wake) => {}
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
