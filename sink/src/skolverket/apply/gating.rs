//! Dependency gating, as a pure decision: from one type's plan and the ids
//! that were not accepted so far in this run, what is sent (groups without
//! the members whose Person was not accepted, activities without the groups
//! and teachers' duties that were not, with one warning per reference left
//! out) and what is held back, with the dependency that blocks it.
//!
//! What each type depends on is said once, by [`Dependent`] on its payload;
//! [`gate`] applies it to a whole [`TypePlan`]. Nothing here calls the
//! service or reports an outcome: the [`Runner`](super::Runner) does that
//! with the result, so the rules are tested without HTTP.

use std::collections::HashSet;

use skolsync_model::hash::{activity_without, group_without};
use skolsync_model::plan::{Blocker, Desired, TypePlan};
use skolsync_model::provtjanst::{Activity, Duty, Group, LogEntry, Person};
use skolsync_model::{ObjectType, PerType, SeverityLevel};
use uuid::Uuid;

use super::{MEMBER_LEFT_OUT, Op, REFERENCE_LEFT_OUT};

/// Per type, the ids of entities created or updated in this run that did
/// not end `Success`/`Warning` (refused, or themselves held back).
pub(super) type Failed = PerType<HashSet<Uuid>>;

/// What becomes of one entity given what failed before it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict<T> {
    /// Sent as planned.
    Send,
    /// Sent as `payload`, without the references in `left_out` (a
    /// group's members, an activity's groups and teachers' duties).
    SendWithout {
        /// What is sent instead of the planned payload.
        payload: T,
        /// What was left out, each with its type.
        left_out: Vec<Blocker>,
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
                left_out: left_out
                    .into_iter()
                    .map(|id| Blocker {
                        kind: ObjectType::Person,
                        id,
                    })
                    .collect(),
            }
        }
    }
}

impl Dependent for Activity {
    /// Sent without the groups and teachers' duties that failed, with a
    /// warning each; held back (by the first failed group) only when no
    /// group is left. The spec's `Activity.groups` has `minItems: 1`, and
    /// `teachers` "alla lärare som finns i en aktivitet undervisar i alla
    /// elevgrupper": an activity without one teacher or one group still
    /// gives the others their access. Not documented whether the service
    /// would take the activity with a reference it does not hold; chosen:
    /// never send one (the service's answer is unknown, and the activity
    /// is sent again whole once the reference lands, as the engine
    /// confirms only the hash of what was sent).
    fn verdict(&self, failed: &Failed) -> Verdict<Self> {
        let groups: Vec<Uuid> = self
            .groups
            .iter()
            .map(|g| g.id)
            .filter(|g| failed[ObjectType::Group].contains(g))
            .collect();
        let duties = self
            .teachers
            .iter()
            .map(|t| t.duty.id)
            .filter(|d| failed[ObjectType::Duty].contains(d));
        let left_out: Vec<Blocker> = groups
            .iter()
            .map(|id| Blocker {
                kind: ObjectType::Group,
                id: *id,
            })
            .chain(duties.map(|id| Blocker {
                kind: ObjectType::Duty,
                id,
            }))
            .collect();
        if left_out.is_empty() {
            return Verdict::Send;
        }
        let ids: Vec<Uuid> = left_out.iter().map(|b| b.id).collect();
        let payload = activity_without(self, &ids);
        match groups.first() {
            Some(first) if payload.groups.is_empty() => Verdict::HoldBack(Blocker {
                kind: ObjectType::Group,
                id: *first,
            }),
            _ => Verdict::SendWithout { payload, left_out },
        }
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
            let to_send = |reduced, left_out: Vec<Blocker>| {
                let warnings = left_out
                    .iter()
                    .map(|b| left_out_warning(desired.id, *b))
                    .collect();
                let detail = left_out_detail(&left_out);
                ToSend {
                    op,
                    desired,
                    reduced,
                    left_out: left_out.iter().map(|b| b.id).collect(),
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

/// The sink's note on what an entity was sent without.
fn left_out_detail(left_out: &[Blocker]) -> Option<String> {
    if left_out.is_empty() {
        return None;
    }
    let count = |kind| left_out.iter().filter(|b| b.kind == kind).count();
    let parts: Vec<String> = [
        (ObjectType::Person, "member(s) whose Person"),
        (ObjectType::Group, "group(s) whose Group"),
        (ObjectType::Duty, "teacher(s) whose Duty"),
    ]
    .into_iter()
    .filter(|(kind, _)| count(*kind) > 0)
    .map(|(kind, what)| format!("{} {what}", count(kind)))
    .collect();
    Some(format!(
        "sent without {} was not accepted",
        parts.join(" and ")
    ))
}

/// The warning for a reference left out of `entity`: a member of a group
/// (`skolsync-member-left-out`), or a group or teacher of an activity
/// (`skolsync-reference-left-out`). Ids and texts are skolsync's own.
fn left_out_warning(entity: Uuid, left_out: Blocker) -> LogEntry {
    let Blocker { kind, id } = left_out;
    let (entry_id, message, attribute) = match kind {
        ObjectType::Person => (
            MEMBER_LEFT_OUT,
            format!(
                "Member {id} was left out of group {entity}: its Person was not accepted by the \
                 service in this run. The group is sent again with the member once the Person has landed."
            ),
            "groupMemberships.person.id",
        ),
        ObjectType::Group => (
            REFERENCE_LEFT_OUT,
            format!(
                "Group {id} was left out of activity {entity}: the Group was not accepted by the \
                 service in this run. The activity is sent again with it once the Group has landed."
            ),
            "groups.id",
        ),
        _ => (
            REFERENCE_LEFT_OUT,
            format!(
                "Teacher duty {id} was left out of activity {entity}: the Duty was not accepted by \
                 the service in this run. The activity is sent again with it once the Duty has landed."
            ),
            "teachers.duty.id",
        ),
    };
    LogEntry {
        id: entry_id.to_string(),
        status_code: 424,
        message_type: Some("Beroende saknas".to_string()),
        message,
        parameter_name: None,
        parameter_value: None,
        resource_type: Some(kind),
        resource_id: Some(id.to_string()),
        attribute_name: Some(attribute.to_string()),
        attribute_value: Some(id.to_string()),
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
    fn an_activity_goes_without_a_failed_group_or_duty_and_is_held_only_without_groups() {
        let plan = plan(
            vec![
                activity(30, &[20], &[10]),
                activity(31, &[21], &[11, 10]),
                activity(32, &[20, 21], &[10]),
                activity(33, &[21], &[10]),
                activity(34, &[20], &[11]),
            ],
            Vec::new(),
        );
        let mut failed = failed(ObjectType::Group, &[20]);
        failed[ObjectType::Duty].insert(id(11));
        let gated = gate(&plan, &failed);

        // Held back only when no group is left, by the first failed group.
        let blockers: Vec<(Uuid, Blocker)> = gated.held.iter().map(|h| (h.id, h.blocker)).collect();
        let by_group_20 = Blocker {
            kind: ObjectType::Group,
            id: id(20),
        };
        assert_eq!(blockers, vec![(id(30), by_group_20), (id(34), by_group_20)]);

        assert_eq!(
            sent_ids(&gated),
            vec![
                (Op::Create, id(31)),
                (Op::Create, id(32)),
                (Op::Create, id(33))
            ]
        );
        let sent = |n| gated.send.iter().find(|s| s.desired.id == id(n)).unwrap();
        // Without the failed teacher, the other teacher stays.
        let without_teacher = sent(31);
        assert_eq!(without_teacher.left_out, vec![id(11)]);
        let teachers: Vec<Uuid> = without_teacher
            .payload()
            .teachers
            .iter()
            .map(|t| t.duty.id)
            .collect();
        assert_eq!(teachers, vec![id(10)]);
        assert_eq!(without_teacher.payload().groups.len(), 1);
        let [warning] = without_teacher.warnings.as_slice() else {
            panic!("one warning, got {:?}", without_teacher.warnings);
        };
        assert_eq!(warning.id, REFERENCE_LEFT_OUT);
        assert_eq!(warning.resource_type, Some(ObjectType::Duty));
        assert_eq!(warning.severity_level, SeverityLevel::Warning);
        assert!(
            without_teacher
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("1 teacher(s) whose Duty"))
        );
        // Without the failed group, the other group stays.
        let without_group = sent(32);
        assert_eq!(without_group.left_out, vec![id(20)]);
        let groups: Vec<Uuid> = without_group
            .payload()
            .groups
            .iter()
            .map(|g| g.id)
            .collect();
        assert_eq!(groups, vec![id(21)]);
        assert_eq!(
            without_group.warnings[0].resource_type,
            Some(ObjectType::Group)
        );
        // The planned payload is untouched (the engine decides the hash).
        assert_eq!(without_group.desired.payload.groups.len(), 2);
        // Nothing failed that it uses: sent as planned.
        let whole = sent(33);
        assert!(whole.reduced.is_none() && whole.left_out.is_empty() && whole.warnings.is_empty());
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
