//! Outcome bookkeeping: the [`Emitter`] that forwards every outcome to the
//! engine (counting it, remembering what failed for gating, noting a stop
//! the engine asks for); what gating decided turned into lanes and
//! held-back outcomes; finishing entities, retrying `TemporaryError` and
//! reading a settled job's status.

use std::sync::Mutex;

use skolsync_model::plan::Blocker;
use skolsync_model::provtjanst::{Group, Payload};

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
    pub(super) fn lanes<T: Payload>(&self, kind: ObjectType, gated: Gated<'_, T>) -> Lanes {
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
    fn item<T: Payload>(&self, kind: ObjectType, to_send: ToSend<'_, T>) -> Option<Item> {
        let desired = to_send.desired;
        match to_send.payload().to_wire() {
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

    /// Ends `item` as `Error` with `detail` and no service messages: what
    /// skolsync itself decided (not sent, unreadable status, too large).
    pub(super) fn error(&self, kind: ObjectType, op: Op, item: Item, detail: String) {
        self.finish(
            kind,
            op,
            item,
            OutcomeStatus::Error,
            Vec::new(),
            Some(detail),
        );
    }

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
        self.error(kind, op, item, detail);
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

    /// Resolves the entities of a job that have their final status.
    pub(super) fn resolve(
        &mut self,
        kind: ObjectType,
        op: Op,
        resolved: Vec<(Item, Result<EntityOutcome, String>)>,
        delayed: &mut Vec<(Instant, Op, Item)>,
    ) {
        for (item, read) in resolved {
            let outcome = match read {
                Ok(outcome) => outcome,
                Err(problem) => {
                    // Not confirmed, so a later run sends it again (an
                    // upsert: harmless if it did land).
                    let detail =
                        format!("its outcome in the job status could not be read: {problem}");
                    self.error(kind, op, item, detail);
                    continue;
                }
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
                JobEntityStatus::Warning if kind == ObjectType::Group && op != Op::Delete => {
                    self.group_warning(op, item, outcome.warnings);
                }
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

    /// A group accepted with warnings: when they name members the service
    /// left out, the group waits for [`Runner::regroup`] after the phase;
    /// otherwise it ends `Warning` here.
    fn group_warning(&mut self, op: Op, item: Item, warnings: Vec<LogEntry>) {
        let members: Vec<Uuid> = serde_json::from_slice::<Group>(&item.json)
            .map(|g| g.group_memberships.iter().map(|m| m.person.id).collect())
            .unwrap_or_default();
        let dropped = members_dropped(&members, &warnings);
        if dropped.is_empty() {
            self.finish(
                ObjectType::Group,
                op,
                item,
                OutcomeStatus::Warning,
                warnings,
                None,
            );
        } else {
            self.dropped.push(Dropped {
                op,
                item,
                members: dropped,
                warnings,
            });
        }
    }

    /// After the group phase: the groups the service accepted without some
    /// members. Those whose missing members all landed in this run are sent
    /// again whole, once (the returned lanes); the rest end `Warning` with
    /// the members in `left_out`, so the engine confirms the hash of the
    /// group without them and the next run sends it again. CHANGELOG
    /// v1.3.2: "Efter eleverna har lagts till i provtjänsten behöver
    /// gruppen överföras igen för att eleverna ska inkluderas i gruppen."
    pub(super) fn regroup(&mut self, plan: &Plan) -> Lanes {
        let dropped = std::mem::take(&mut self.dropped);
        let mut lanes = Lanes::default();
        if dropped.is_empty() {
            return lanes;
        }
        let wanted: HashSet<Uuid> = dropped
            .iter()
            .flat_map(|d| d.members.iter().copied())
            .collect();
        let failed = self.emitter.failed();
        // Persons of this plan that were not refused landed in this run.
        let landed: HashSet<Uuid> = plan
            .persons
            .create
            .iter()
            .chain(&plan.persons.update)
            .map(|d| d.id)
            .filter(|id| wanted.contains(id) && !failed[ObjectType::Person].contains(id))
            .collect();
        let (again, done) = resend_whole(dropped, &landed);
        for Dropped {
            op,
            mut item,
            members,
            warnings,
        } in done
        {
            let note = format!(
                "the service left out {} member(s) it does not hold; the group is sent again once they are there",
                members.len()
            );
            for member in members {
                if !item.left_out.contains(&member) {
                    item.left_out.push(member);
                }
            }
            self.finish(
                ObjectType::Group,
                op,
                item,
                OutcomeStatus::Warning,
                warnings,
                Some(note),
            );
        }
        for Dropped {
            op,
            mut item,
            members,
            ..
        } in again
        {
            item.resent_whole = true;
            item.temporary = 0;
            tracing::info!(group = %item.id, members = members.len(), "the service left out members that landed in this run; sending the group again");
            item.detail = Some(format!(
                "sent again: the service had left out {} member(s) that landed in this run",
                members.len()
            ));
            lanes.lane(op).push_back(item);
        }
        lanes
    }
}

/// A group the service accepted without some of the members it was sent.
pub(super) struct Dropped {
    /// Create or update.
    pub op: Op,
    /// The group as sent.
    pub item: Item,
    /// The members (Person ids) the service's warnings name.
    pub members: Vec<Uuid>,
    /// The service's warnings.
    pub warnings: Vec<LogEntry>,
}

/// Splits the groups the service accepted without some members into those
/// sent again whole now (every missing member landed in this run, and the
/// group was not already sent again) and those that end as they are.
pub(super) fn resend_whole(
    dropped: Vec<Dropped>,
    landed: &HashSet<Uuid>,
) -> (Vec<Dropped>, Vec<Dropped>) {
    dropped
        .into_iter()
        .partition(|d| !d.item.resent_whole && d.members.iter().all(|m| landed.contains(m)))
}

/// The members of `members` that the service's `warnings` on their group
/// name. Not documented: the spec shows no LogEntry for "Elevgrupp kan nu
/// överföras även om vissa elever i gruppen inte finns i provtjänsten"
/// (CHANGELOG v1.3.2). Chosen: a warning names a member when its
/// `attributeValue` or `resourceId` is the member's id, or its message
/// contains it — any of them, because the service's wording is unknown,
/// and a member id in a group's warning can only be about that member.
pub(super) fn members_dropped(members: &[Uuid], warnings: &[LogEntry]) -> Vec<Uuid> {
    let named = |member: &Uuid| {
        let text = member.to_string();
        let is_member = |v: &Option<String>| {
            v.as_deref()
                .and_then(|v| Uuid::parse_str(v.trim()).ok())
                .is_some_and(|id| id == *member)
        };
        warnings.iter().any(|w| {
            is_member(&w.attribute_value)
                || is_member(&w.resource_id)
                || w.message.to_ascii_lowercase().contains(&text)
        })
    };
    let mut out: Vec<Uuid> = Vec::new();
    for member in members {
        if named(member) && !out.contains(member) {
            out.push(*member);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use skolsync_model::SeverityLevel;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn warning(
        attribute_value: Option<Uuid>,
        resource_id: Option<Uuid>,
        message: &str,
    ) -> LogEntry {
        LogEntry {
            id: "9142".to_string(),
            status_code: 400,
            message_type: None,
            message: message.to_string(),
            parameter_name: None,
            parameter_value: None,
            resource_type: None,
            resource_id: resource_id.map(|i| i.to_string()),
            attribute_name: None,
            attribute_value: attribute_value.map(|i| i.to_string()),
            severity_level: SeverityLevel::Warning,
            time_of_occurance: String::new(),
        }
    }

    #[test]
    fn warnings_that_name_members_say_which_were_left_out() {
        let members = [id(1), id(2), id(3), id(4)];
        let warnings = [
            // The sandbox's form: the group as resource, the member as value.
            warning(Some(id(1)), Some(id(100)), "Gruppmedlemmen finns inte"),
            // The member as the resource.
            warning(None, Some(id(2)), "Personen saknas"),
            // Only in the text (upper case, as some services print UUIDs).
            warning(
                None,
                None,
                &format!("Elev {} saknas", id(3).to_string().to_uppercase()),
            ),
            // About the group itself (EPPN-like warnings): names no member.
            warning(None, Some(id(100)), "Något annat"),
        ];
        assert_eq!(members_dropped(&members, &warnings), [id(1), id(2), id(3)]);
        assert!(members_dropped(&members, &warnings[3..]).is_empty());
        assert!(members_dropped(&members, &[]).is_empty());
    }

    fn dropped(group: u128, members: &[u128], resent: bool) -> Dropped {
        let mut item = Item::new(id(group), b"{}".to_vec(), None);
        item.resent_whole = resent;
        Dropped {
            op: Op::Create,
            item,
            members: members.iter().map(|m| id(*m)).collect(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_group_is_sent_again_whole_only_when_all_its_missing_members_landed() {
        let landed: HashSet<Uuid> = [id(1), id(2)].into_iter().collect();
        let (again, done) = resend_whole(
            vec![
                dropped(10, &[1, 2], false),
                dropped(11, &[1, 3], false),
                dropped(12, &[2], true),
            ],
            &landed,
        );
        let ids = |v: &[Dropped]| v.iter().map(|d| d.item.id).collect::<Vec<_>>();
        assert_eq!(ids(&again), [id(10)]);
        // A member that did not land (the next run sends the group again),
        // and a group already sent again once: they end as they are.
        assert_eq!(ids(&done), [id(11), id(12)]);
    }
}
