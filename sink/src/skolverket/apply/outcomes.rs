//! Outcome bookkeeping: the [`Emitter`] that forwards every outcome to the
//! engine (counting it, remembering what failed for gating, noting a stop
//! the engine asks for); what gating decided turned into lanes and
//! held-back outcomes; finishing entities, retrying `TemporaryError` and
//! reading a settled job's status.

use std::sync::Mutex;

use serde::Serialize;
use skolsync_model::plan::Blocker;

use super::gating::{Held, ToSend};
use super::*;

/// Forwards outcomes to the engine, counting them and remembering which
/// entities were not accepted (for gating).
pub(super) struct Emitter<'a> {
    callback: OutcomeCallback<'a>,
    state: Mutex<EmitState>,
}

#[derive(Default)]
struct EmitState {
    summary: ApplySummary,
    failed: Failed,
    /// The first stop the engine asked for.
    stop: Option<SinkStop>,
}

impl<'a> Emitter<'a> {
    pub(super) fn new(callback: OutcomeCallback<'a>) -> Self {
        Emitter {
            callback,
            state: Mutex::new(EmitState::default()),
        }
    }

    pub(super) fn emit(&self, outcome: Outcome) {
        if let Ok(mut state) = self.state.lock() {
            state.summary.count(&outcome);
            if !outcome.status.is_accepted() && outcome.action != Action::Delete {
                state.failed[outcome.kind].insert(outcome.id);
            }
        }
        if let Err(stop) = (self.callback)(outcome)
            && let Ok(mut state) = self.state.lock()
        {
            state.stop.get_or_insert(stop);
        }
    }

    /// Why the engine asked the sink to stop, if it did.
    pub(super) fn stop(&self) -> Option<SinkStop> {
        self.state.lock().ok().and_then(|s| s.stop.clone())
    }

    pub(super) fn failed(&self) -> Failed {
        self.state
            .lock()
            .map(|s| s.failed.clone())
            .unwrap_or_default()
    }

    pub(super) fn summary(&self) -> ApplySummary {
        self.state
            .lock()
            .map(|s| s.summary.clone())
            .unwrap_or_default()
    }
}

fn not_found(outcome: &EntityOutcome) -> bool {
    outcome.status_code == Some(404)
        || (!outcome.errors.is_empty() && outcome.errors.iter().all(|e| e.status_code == 404))
}

impl Runner<'_> {
    // ---- what gating decided ------------------------------------------------

    /// Reports what `gated` holds back and queues what it sends.
    pub(super) fn lanes<T: Serialize>(&self, kind: ObjectType, gated: Gated<'_, T>) -> Lanes {
        for held in gated.held {
            self.hold_back(kind, held);
        }
        let mut lanes = Lanes::default();
        for to_send in gated.send {
            let op = to_send.op;
            if let Some(item) = self.item(kind, to_send) {
                lanes.lane(op).push_back(item);
            }
        }
        lanes
    }

    /// The entity serialized for sending; one that cannot be ends `Error`.
    fn item<T: Serialize>(&self, kind: ObjectType, to_send: ToSend<'_, T>) -> Option<Item> {
        let desired = to_send.desired;
        match serde_json::to_vec(to_send.payload()) {
            Ok(json) => {
                let mut item = Item::new(desired.id, json, Some(desired.hash.clone()));
                item.left_out = to_send.left_out;
                item.warnings = to_send.warnings;
                item.detail = to_send.detail;
                Some(item)
            }
            Err(e) => {
                self.emitter.emit(Outcome {
                    kind,
                    id: desired.id,
                    action: to_send.op.action(),
                    status: OutcomeStatus::Error,
                    hash: Some(desired.hash.clone()),
                    left_out: to_send.left_out,
                    messages: Vec::new(),
                    detail: Some(format!("could not serialize the payload: {e}")),
                    blocked_by: None,
                    job_id: None,
                    attempts: 0,
                });
                None
            }
        }
    }

    fn hold_back(&self, kind: ObjectType, held: Held<'_>) {
        let Blocker {
            kind: blocker_kind,
            id: blocker_id,
        } = held.blocker;
        self.emitter.emit(Outcome {
            kind,
            id: held.id,
            action: held.op.action(),
            status: OutcomeStatus::HeldBack,
            hash: Some(held.hash.to_string()),
            left_out: Vec::new(),
            messages: Vec::new(),
            detail: Some(format!(
                "not sent: {blocker_kind} {blocker_id} it depends on was not accepted"
            )),
            blocked_by: Some(held.blocker),
            job_id: None,
            attempts: 0,
        });
    }

    // ---- outcomes ---------------------------------------------------------

    pub(super) fn finish(
        &self,
        kind: ObjectType,
        op: Op,
        item: Item,
        status: OutcomeStatus,
        mut messages: Vec<LogEntry>,
        detail: Option<String>,
    ) {
        let status = if status == OutcomeStatus::Success && !item.warnings.is_empty() {
            OutcomeStatus::Warning
        } else {
            status
        };
        messages.extend(item.warnings);
        let detail = match (item.detail, detail) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        self.emitter.emit(Outcome {
            kind,
            id: item.id,
            action: op.action(),
            status,
            hash: if op == Op::Delete { None } else { item.hash },
            left_out: item.left_out,
            messages,
            detail,
            blocked_by: None,
            job_id: item.job,
            attempts: item.sends,
        });
    }

    /// An entity the run stopped before sending (again): `Error`, "not
    /// sent" with the reason, and none of the notes of a send that did not
    /// happen (members left out).
    pub(super) fn not_sent(&self, kind: ObjectType, op: Op, mut item: Item, reason: &str) {
        item.warnings.clear();
        item.detail = None;
        let detail = format!("not sent: {reason}");
        self.finish(
            kind,
            op,
            item,
            OutcomeStatus::Error,
            Vec::new(),
            Some(detail),
        );
    }

    pub(super) fn fail_all(
        &self,
        kind: ObjectType,
        op: Op,
        items: Vec<Item>,
        messages: &[LogEntry],
        detail: &str,
    ) {
        for item in items {
            self.finish(
                kind,
                op,
                item,
                OutcomeStatus::Error,
                messages.to_vec(),
                Some(detail.to_string()),
            );
        }
    }

    /// A `TemporaryError` (or an entity the status did not list): again
    /// after a backoff, or `Error` when the attempts are used up.
    pub(super) fn again_later(
        &self,
        kind: ObjectType,
        op: Op,
        mut item: Item,
        reason: &str,
        messages: Vec<LogEntry>,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        item.temporary += 1;
        if item.temporary >= self.settings.max_attempts {
            let detail = format!("{reason} {} times; giving up", item.temporary);
            self.finish(kind, op, item, OutcomeStatus::Error, messages, Some(detail));
        } else {
            delayed.push((Instant::now() + backoff(item.temporary), op, item));
        }
    }

    pub(super) fn resolve(
        &self,
        kind: ObjectType,
        job: Job,
        status: AsynchronousResponse,
        lanes: &mut Lanes,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        let mut by_id: HashMap<Uuid, EntityOutcome> = status
            .responses
            .into_iter()
            .map(|r| (r.id, r.response))
            .collect();
        let op = job.op;
        for item in job.items {
            let Some(outcome) = by_id.remove(&item.id) else {
                self.again_later(
                    kind,
                    op,
                    item,
                    "not listed in its job's status",
                    Vec::new(),
                    delayed,
                );
                continue;
            };
            match outcome.status {
                JobEntityStatus::Success => self.finish(
                    kind,
                    op,
                    item,
                    OutcomeStatus::Success,
                    outcome.warnings,
                    None,
                ),
                JobEntityStatus::Warning => self.finish(
                    kind,
                    op,
                    item,
                    OutcomeStatus::Warning,
                    outcome.warnings,
                    None,
                ),
                JobEntityStatus::Error if op == Op::Delete && not_found(&outcome) => self.finish(
                    kind,
                    op,
                    item,
                    OutcomeStatus::Success,
                    Vec::new(),
                    Some("already absent from the service".to_string()),
                ),
                JobEntityStatus::Error
                    if op == Op::Update && not_found(&outcome) && !item.fell_back =>
                {
                    let mut item = item;
                    item.fell_back = true;
                    item.detail =
                        Some("the service did not hold it; sent again as a create".to_string());
                    lanes.create.push_back(item);
                }
                JobEntityStatus::Error => {
                    let mut messages = outcome.errors;
                    messages.extend(outcome.warnings);
                    self.finish(kind, op, item, OutcomeStatus::Error, messages, None);
                }
                JobEntityStatus::TemporaryError | JobEntityStatus::Pending => {
                    let reason = format!("{:?}", outcome.status);
                    self.again_later(kind, op, item, &reason, outcome.errors, delayed);
                }
            }
        }
    }
}
