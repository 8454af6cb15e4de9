//! Dependency gating, as a pure decision: from one type's plan and the ids
//! that were not accepted so far in this run, what is sent (groups without
//! the members whose Person was not accepted, with one warning per member
//! left out) and what is held back, with the dependency that blocks it.
//!
//! What each type depends on is said once, by [`Dependent`] on its payload;
//! [`gate`] applies it to a whole [`TypePlan`]. Nothing here calls the
//! service or reports an outcome: the [`Runner`](super::Runner) does that
//! with the result, so the rules are tested without HTTP.

use std::collections::HashSet;

use skolsync_model::hash::group_without;
use skolsync_model::plan::{Blocker, Desired, TypePlan};
use skolsync_model::provtjanst::{Activity, Duty, Group, LogEntry, Person};
use skolsync_model::{ObjectType, PerType, SeverityLevel};
use uuid::Uuid;

use super::{MEMBER_LEFT_OUT, Op};

/// Per type, the ids of entities created or updated in this run that did
/// not end `Success`/`Warning` (refused, or themselves held back).
pub(super) type Failed = PerType<HashSet<Uuid>>;

/// What becomes of one entity given what failed before it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict<T> {
    /// Sent as planned.
    Send,
    /// Sent as `payload`, without the group members in `left_out`.
    SendWithout {
        /// What is sent instead of the planned payload.
        payload: T,
        /// The members (Person ids) left out.
        left_out: Vec<Uuid>,
    },
    /// Not sent: a dependency was not accepted.
    HoldBack(Blocker),
}

/// What an entity of a type depends on, and so when it is held back or
/// sent reduced.
pub(super) trait Dependent: Sized {
    /// The verdict for this payload given what failed so far.
    fn verdict(&self, failed: &Failed) -> Verdict<Self>;
}

/// The first id of `ids` that failed as `kind`, as the entity's blocker.
fn first_failed(
    failed: &Failed,
    kind: ObjectType,
    mut ids: impl Iterator<Item = Uuid>,
) -> Option<Blocker> {
    ids.find(|id| failed[kind].contains(id))
        .map(|id| Blocker { kind, id })
}

fn hold_back_if<T>(blocker: Option<Blocker>) -> Verdict<T> {
    blocker.map_or(Verdict::Send, Verdict::HoldBack)
}

impl Dependent for Person {
    fn verdict(&self, _failed: &Failed) -> Verdict<Self> {
        Verdict::Send
    }
}

impl Dependent for Duty {
    /// Held back when its Person failed.
    fn verdict(&self, failed: &Failed) -> Verdict<Self> {
        hold_back_if(first_failed(
            failed,
            ObjectType::Person,
            std::iter::once(self.person.id),
        ))
    }
}

impl Dependent for Group {
    /// Sent without the members whose Person failed: the service would
    /// drop them with a warning anyway (CHANGELOG v1.3.2).
    fn verdict(&self, failed: &Failed) -> Verdict<Self> {
        let left_out: Vec<Uuid> = self
            .group_memberships
            .iter()
            .map(|m| m.person.id)
            .filter(|p| failed[ObjectType::Person].contains(p))
            .collect();
        if left_out.is_empty() {
            Verdict::Send
        } else {
            Verdict::SendWithout {
                payload: group_without(self, &left_out),
                left_out,
            }
        }
    }
}

impl Dependent for Activity {
    /// Held back by the first failed Group, else the first failed teacher's
    /// Duty.
    fn verdict(&self, failed: &Failed) -> Verdict<Self> {
        hold_back_if(
            first_failed(failed, ObjectType::Group, self.groups.iter().map(|g| g.id)).or_else(
                || {
                    first_failed(
                        failed,
                        ObjectType::Duty,
                        self.teachers.iter().map(|t| t.duty.id),
                    )
                },
            ),
        )
    }
}

/// One entity to send.
#[derive(Debug)]
pub(super) struct ToSend<'p, T> {
    /// Create or update.
    pub op: Op,
    /// The planned entity (its id and hash are what the outcome carries).
    pub desired: &'p Desired<T>,
    /// What is sent instead of the planned payload (members left out).
    pub reduced: Option<T>,
    /// The members left out of a group.
    pub left_out: Vec<Uuid>,
    /// One `skolsync-member-left-out` warning per member left out.
    pub warnings: Vec<LogEntry>,
    /// The sink's note for the outcome.
    pub detail: Option<String>,
}

impl<T> ToSend<'_, T> {
    /// The payload to serialize.
    pub fn payload(&self) -> &T {
        self.reduced.as_ref().unwrap_or(&self.desired.payload)
    }
}

/// One entity held back.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Held<'p> {
    /// Create or update.
    pub op: Op,
    /// Its id.
    pub id: Uuid,
    /// The planned content hash.
    pub hash: &'p str,
    /// The dependency that was not accepted.
    pub blocker: Blocker,
}

/// What [`gate`] decided for one type's creates and updates, each list in
/// plan order, creates before updates.
#[derive(Debug)]
pub(super) struct Gated<'p, T> {
    /// What is sent.
    pub send: Vec<ToSend<'p, T>>,
    /// What is held back.
    pub held: Vec<Held<'p>>,
}

/// Applies each entity's [`Dependent::verdict`] to a type's creates and
/// updates.
pub(super) fn gate<'p, T: Dependent>(plan: &'p TypePlan<T>, failed: &Failed) -> Gated<'p, T> {
    let mut out = Gated {
        send: Vec::new(),
        held: Vec::new(),
    };
    for (op, list) in [(Op::Create, &plan.create), (Op::Update, &plan.update)] {
        for desired in list {
            let to_send = |reduced, left_out: Vec<Uuid>| {
                let warnings = left_out
                    .iter()
                    .map(|p| member_left_out(desired.id, *p))
                    .collect();
                let detail = (!left_out.is_empty()).then(|| {
                    format!(
                        "sent without {} member(s) whose Person was not accepted",
                        left_out.len()
                    )
                });
                ToSend {
                    op,
                    desired,
                    reduced,
                    left_out,
                    warnings,
                    detail,
                }
            };
            match desired.payload.verdict(failed) {
                Verdict::Send => out.send.push(to_send(None, Vec::new())),
                Verdict::SendWithout { payload, left_out } => {
                    out.send.push(to_send(Some(payload), left_out));
                }
                Verdict::HoldBack(blocker) => out.held.push(Held {
                    op,
                    id: desired.id,
                    hash: &desired.hash,
                    blocker,
                }),
            }
        }
    }
    out
}

fn now_rfc3339() -> String {
    chrono::Local::now()
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// The warning for a member left out of `group`.
fn member_left_out(group: Uuid, person: Uuid) -> LogEntry {
    LogEntry {
        id: MEMBER_LEFT_OUT.to_string(),
        status_code: 424,
        message_type: Some("Beroende saknas".to_string()),
        message: format!(
            "Member {person} was left out of group {group}: its Person was not accepted by the \
             service in this run. The group is sent again with the member once the Person has landed."
        ),
        parameter_name: None,
        parameter_value: None,
        resource_type: Some(ObjectType::Person),
        resource_id: Some(person.to_string()),
        attribute_name: Some("groupMemberships.person.id".to_string()),
        attribute_value: Some(person.to_string()),
        severity_level: SeverityLevel::Warning,
        time_of_occurance: now_rfc3339(),
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn desired<T: DeserializeOwned>(payload: serde_json::Value) -> Desired<T> {
        let id = payload["id"].as_str().and_then(|s| s.parse().ok()).unwrap();
        Desired {
            id,
            source_id: format!("src-{id}"),
            hash: format!("hash-{id}"),
            school_unit: None,
            payload: serde_json::from_value(payload).unwrap(),
        }
    }

    fn duty(n: u128, person: u128) -> Desired<Duty> {
        desired(json!({
            "id": id(n), "person": {"id": id(person)}, "dutyAt": {"id": id(900)},
            "dutyRole": "Lärare",
        }))
    }

    fn group(n: u128, members: &[u128]) -> Desired<Group> {
        let memberships: Vec<_> = members
            .iter()
            .map(|m| json!({"person": {"id": id(*m)}}))
            .collect();
        desired(json!({
            "id": id(n), "displayName": "7A", "groupType": "Klass", "schoolType": "GR",
            "organisation": {"id": id(900)}, "groupMemberships": memberships,
        }))
    }

    fn activity(n: u128, groups: &[u128], duties: &[u128]) -> Desired<Activity> {
        let groups: Vec<_> = groups.iter().map(|g| json!({"id": id(*g)})).collect();
        let teachers: Vec<_> = duties
            .iter()
            .map(|d| json!({"duty": {"id": id(*d)}}))
            .collect();
        desired(json!({
            "id": id(n), "displayName": "Ma 7A", "activityType": "Undervisning",
            "groups": groups, "teachers": teachers, "organisation": {"id": id(900)},
            "parentActivity": {"id": id(901)},
        }))
    }

    fn plan<T>(create: Vec<Desired<T>>, update: Vec<Desired<T>>) -> TypePlan<T> {
        TypePlan {
            create,
            update,
            ..TypePlan::default()
        }
    }

    fn failed(kind: ObjectType, ids: &[u128]) -> Failed {
        let mut failed = Failed::default();
        failed[kind].extend(ids.iter().map(|n| id(*n)));
        failed
    }

    fn sent_ids<T>(gated: &Gated<'_, T>) -> Vec<(Op, Uuid)> {
        gated.send.iter().map(|s| (s.op, s.desired.id)).collect()
    }

    #[test]
    fn a_duty_is_held_back_when_its_person_failed() {
        let plan = plan(vec![duty(10, 1)], vec![duty(11, 2)]);
        let gated = gate(&plan, &failed(ObjectType::Person, &[2]));
        assert_eq!(sent_ids(&gated), vec![(Op::Create, id(10))]);
        assert_eq!(
            gated.held,
            vec![Held {
                op: Op::Update,
                id: id(11),
                hash: "hash-00000000-0000-0000-0000-00000000000b",
                blocker: Blocker {
                    kind: ObjectType::Person,
                    id: id(2)
                },
            }]
        );
    }

    #[test]
    fn a_group_is_sent_without_its_failed_members() {
        let plan = plan(vec![group(20, &[1, 2, 3])], Vec::new());
        let gated = gate(&plan, &failed(ObjectType::Person, &[1, 3]));
        assert!(gated.held.is_empty());
        let [sent] = gated.send.as_slice() else {
            panic!("one group sent, got {}", gated.send.len());
        };
        assert_eq!(sent.left_out, vec![id(1), id(3)]);
        let members: Vec<Uuid> = sent
            .payload()
            .group_memberships
            .iter()
            .map(|m| m.person.id)
            .collect();
        assert_eq!(members, vec![id(2)]);
        // The planned payload and hash are untouched: the engine decides
        // what hash the reduced group confirms.
        assert_eq!(sent.desired.payload.group_memberships.len(), 3);
        assert_eq!(sent.warnings.len(), 2);
        for (warning, person) in sent.warnings.iter().zip([1, 3]) {
            assert_eq!(warning.id, MEMBER_LEFT_OUT);
            assert_eq!(warning.severity_level, SeverityLevel::Warning);
            assert_eq!(warning.resource_id, Some(id(person).to_string()));
        }
        assert!(
            sent.detail
                .as_deref()
                .is_some_and(|d| d.contains("2 member"))
        );
    }

    #[test]
    fn an_activity_is_held_back_by_a_failed_group_or_duty() {
        let plan = plan(
            vec![
                activity(30, &[20], &[10]),
                activity(31, &[21], &[11]),
                activity(32, &[21], &[10]),
            ],
            Vec::new(),
        );
        let mut failed = failed(ObjectType::Group, &[20]);
        failed[ObjectType::Duty].insert(id(11));
        let gated = gate(&plan, &failed);
        assert_eq!(sent_ids(&gated), vec![(Op::Create, id(32))]);
        let blockers: Vec<(Uuid, Blocker)> = gated.held.iter().map(|h| (h.id, h.blocker)).collect();
        assert_eq!(
            blockers,
            vec![
                (
                    id(30),
                    Blocker {
                        kind: ObjectType::Group,
                        id: id(20)
                    }
                ),
                (
                    id(31),
                    Blocker {
                        kind: ObjectType::Duty,
                        id: id(11)
                    }
                ),
            ]
        );
    }

    #[test]
    fn nothing_is_held_when_nothing_failed() {
        let none = Failed::default();
        let duties = plan(vec![duty(10, 1)], vec![duty(11, 2)]);
        let groups = plan(vec![group(20, &[1, 2])], Vec::new());
        let activities = plan(Vec::new(), vec![activity(30, &[20], &[10])]);
        let gated = gate(&duties, &none);
        assert!(gated.held.is_empty());
        assert_eq!(
            sent_ids(&gated),
            vec![(Op::Create, id(10)), (Op::Update, id(11))]
        );
        let gated = gate(&groups, &none);
        assert!(gated.held.is_empty());
        assert!(gated.send.iter().all(|s| s.reduced.is_none()
            && s.left_out.is_empty()
            && s.warnings.is_empty()
            && s.detail.is_none()));
        let gated = gate(&activities, &none);
        assert!(gated.held.is_empty());
        assert_eq!(sent_ids(&gated), vec![(Op::Update, id(30))]);
    }
}
