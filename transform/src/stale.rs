//! Rejected is not absent: entities whose source record is still there but
//! was rejected keep their last confirmed state in the service.
//!
//! The diff deletes every entity the service holds that is missing from the
//! desired state. A record that was rejected (a typo in a personnummer, a
//! school year `42`, an unknown school unit code, a duplicate EPPN) is
//! missing from the desired state too — yet the pupil has not left. Taking
//! that as a removal would delete a pupil from the provtjänst days before a
//! national test because of one wrong digit.
//!
//! So before the diff, [`keep_stale`] finds the entities the service holds
//! whose source record was rejected — matched by the source id the state
//! recorded when the entity was last sent, or by the id this pipeline
//! derives from the rejected record's source id — and returns them as
//! [`StaleEntity`]s: the diff neither updates nor deletes them
//! ([`diff_keeping`](crate::diff::diff_keeping)), and the report lists them
//! as *kept stale* with the reject's reason. References the transform left
//! out because they pointed at a rejected record (a group's member, an
//! activity's group or teacher) are put back when that record's entity is
//! kept stale, so a pupil with a typo stays in their class.
//!
//! Not covered: a record that is both re-keyed (its source id changed, as in
//! a migration between school systems) *and* rejected in the same run has
//! no source id the state knows and no crosswalk keys (the crosswalk needs
//! a record that passed the transform); it is treated as absent, and the
//! change-size guards are the safety net for that case.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use skolsync_model::ObjectType;
use skolsync_model::plan::{Desired, DesiredState, LeftOutRef, PreviousState, SEND_ORDER};
use skolsync_model::provtjanst::{DutyAssignment, GroupMembership, ObjectReference};
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use crate::ids::IdScheme;

/// An entity the service holds that stays as last sent, because its source
/// record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleEntity {
    /// Its type.
    pub kind: ObjectType,
    /// Its provtjänst id.
    pub id: Uuid,
    /// The source id of the rejected record.
    pub source_id: String,
    /// Why the record was rejected (the first reject found for it).
    pub reject: Reject,
}

/// Finds the entities to keep stale (see the module docs) and puts the
/// references to them back into `desired` (re-hashing what changed).
///
/// `previous` is what the service holds; `rejects` are the rejects of
/// extract and transform (warnings are ignored); `left_out` is the
/// transform's list of references dropped because of a rejected record;
/// `ids` is the pipeline's id scheme.
pub fn keep_stale(
    desired: &mut DesiredState,
    previous: &PreviousState,
    rejects: &[Reject],
    left_out: &[LeftOutRef],
    ids: &IdScheme,
) -> Vec<StaleEntity> {
    let mut stale = Vec::new();
    // Per type: rejected source id → the entity kept stale for it.
    let mut by_source: HashMap<ObjectType, HashMap<&str, Uuid>> = HashMap::new();
    let gone = orphans(desired, rejects);
    for kind in SEND_ORDER {
        let mut rejected = rejected_records(rejects, kind);
        rejected.retain(|source_id, r| !gone.contains(&(r.entity, *source_id)));
        if rejected.is_empty() {
            continue;
        }
        let Some(held) = previous.hashes.get(&kind) else {
            continue;
        };
        let present = desired_ids(desired, kind);
        let recorded = previous.source_ids.get(&kind);
        let derived: HashMap<Uuid, &str> = rejected
            .keys()
            .map(|source_id| (ids.id(kind, source_id), *source_id))
            .collect();
        for id in held.keys() {
            if present.contains(id) {
                continue;
            }
            let source_id = recorded
                .and_then(|m| m.get(id))
                .map(String::as_str)
                .filter(|s| rejected.contains_key(s))
                .or_else(|| derived.get(id).copied());
            let Some(source_id) = source_id else {
                continue;
            };
            let Some(reject) = rejected.get(source_id) else {
                continue;
            };
            by_source.entry(kind).or_default().insert(source_id, *id);
            stale.push(StaleEntity {
                kind,
                id: *id,
                source_id: source_id.to_string(),
                reject: (*reject).clone(),
            });
        }
    }
    restore_references(desired, left_out, &by_source);
    stale
}

/// The records rejected because the person they belong to is absent from
/// the source (a duty of a teacher who left): they go with that person,
/// rather than keep them in the service. A person who is present, or
/// rejected (kept stale), does not make an orphan.
fn orphans<'a>(desired: &DesiredState, rejects: &'a [Reject]) -> HashSet<(EntityKind, &'a str)> {
    let present: HashSet<&str> = desired
        .persons
        .iter()
        .map(|p| p.source_id.as_str())
        .chain(
            rejects
                .iter()
                .filter(|r| r.severity == Severity::Rejected && r.entity == EntityKind::Person)
                .filter_map(|r| r.source_id.as_deref().map(str::trim)),
        )
        .collect();
    rejects
        .iter()
        .filter(|r| r.severity == Severity::Rejected && r.entity != EntityKind::Person)
        .filter(|r| r.field.as_deref() == Some("person"))
        .filter(|r| {
            r.value
                .as_deref()
                .is_some_and(|person| !present.contains(person.trim()))
        })
        .filter_map(|r| Some((r.entity, r.source_id.as_deref()?.trim())))
        .collect()
}

/// The first rejection per source id of the records of `kind`.
fn rejected_records(rejects: &[Reject], kind: ObjectType) -> BTreeMap<&str, &Reject> {
    let entity = EntityKind::of(kind);
    let mut found = BTreeMap::new();
    for r in rejects {
        if r.severity != Severity::Rejected || r.entity != entity {
            continue;
        }
        if let Some(source_id) = r.source_id.as_deref().map(str::trim)
            && !source_id.is_empty()
        {
            found.entry(source_id).or_insert(r);
        }
    }
    found
}

fn desired_ids(desired: &DesiredState, kind: ObjectType) -> HashSet<Uuid> {
    fn ids<T>(list: &[Desired<T>]) -> HashSet<Uuid> {
        list.iter().map(|d| d.id).collect()
    }
    skolsync_model::by_type!(kind, &desired, |list| ids(list))
}

/// Puts back the references to kept-stale entities that the transform left
/// out, and re-hashes the entities that got one back.
fn restore_references(
    desired: &mut DesiredState,
    left_out: &[LeftOutRef],
    by_source: &HashMap<ObjectType, HashMap<&str, Uuid>>,
) {
    // Per container (type, source id): the stale ids to put back.
    let mut back: HashMap<(ObjectType, &str), Vec<(ObjectType, Uuid)>> = HashMap::new();
    for r in left_out {
        let Some(id) = by_source
            .get(&r.member_kind)
            .and_then(|m| m.get(r.member_source_id.trim()))
        else {
            continue;
        };
        back.entry((r.kind, r.source_id.as_str()))
            .or_default()
            .push((r.member_kind, *id));
    }
    if back.is_empty() {
        return;
    }
    for group in &mut desired.groups {
        let Some(members) = back.get(&(ObjectType::Group, group.source_id.as_str())) else {
            continue;
        };
        let list = &mut group.payload.group_memberships;
        for (kind, id) in members {
            if *kind == ObjectType::Person {
                list.push(GroupMembership {
                    person: ObjectReference::new(*id),
                });
            }
        }
        list.sort_by_key(|m| m.person);
        list.dedup();
    }
    for activity in &mut desired.activities {
        let Some(refs) = back.get(&(ObjectType::Activity, activity.source_id.as_str())) else {
            continue;
        };
        let payload = &mut activity.payload;
        for (kind, id) in refs {
            match kind {
                ObjectType::Group => payload.groups.push(ObjectReference::new(*id)),
                ObjectType::Duty => payload.teachers.push(DutyAssignment {
                    duty: ObjectReference::new(*id),
                }),
                ObjectType::Person | ObjectType::Activity => {}
            }
        }
        payload.groups.sort();
        payload.groups.dedup();
        payload.teachers.sort_by_key(|t| t.duty);
        payload.teachers.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdStrategy;
    use crate::diff::{diff_keeping, previous_state};
    use skolsync_model::reject::Stage;
    use skolsync_model::{GroupType, SchoolType};

    fn scheme() -> IdScheme {
        IdScheme::new(None, IdStrategy::default())
    }

    fn group(
        ids: &IdScheme,
        source: &str,
        members: &[&str],
    ) -> Desired<skolsync_model::provtjanst::Group> {
        let id = ids.id(ObjectType::Group, source);
        let payload = skolsync_model::provtjanst::Group {
            id,
            meta: None,
            display_name: "8B".into(),
            group_type: GroupType::Klass,
            school_type: SchoolType::Gr,
            organisation: ObjectReference::new(Uuid::from_u128(7)),
            provisioning_status: None,
            group_memberships: {
                // Sorted by person, as the transform sends them.
                let mut list: Vec<_> = members
                    .iter()
                    .map(|m| GroupMembership {
                        person: ObjectReference::new(ids.id(ObjectType::Person, m)),
                    })
                    .collect();
                list.sort_by_key(|m| m.person);
                list
            },
        };
        Desired {
            id,
            source_id: source.into(),
            hash: skolsync_model::hash::content_hash(&payload),
            school_unit: None,
            payload,
        }
    }

    #[test]
    fn a_rejected_pupil_is_kept_and_stays_in_the_class() {
        let ids = scheme();
        let before = DesiredState {
            groups: vec![group(&ids, "g1", &["anna", "bo"])],
            ..DesiredState::default()
        };
        let mut previous = previous_state(&before);
        previous.hashes.insert(
            ObjectType::Person,
            // Bo is in the class but not sent by this pipeline (only his
            // membership matters here).
            [(ids.id(ObjectType::Person, "anna"), "h".to_string())].into(),
        );
        // Anna's record is rejected: the transform left her out of g1.
        let mut now = DesiredState {
            groups: vec![group(&ids, "g1", &["bo"])],
            ..DesiredState::default()
        };
        let rejects =
            vec![Reject::new(Stage::Transform, EntityKind::Person, "check digit wrong").id("anna")];
        let left_out = vec![LeftOutRef {
            kind: ObjectType::Group,
            source_id: "g1".into(),
            member_kind: ObjectType::Person,
            member_source_id: "anna".into(),
        }];
        let stale = keep_stale(&mut now, &previous, &rejects, &left_out, &ids);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].source_id, "anna");
        let plan = diff_keeping(now.clone(), &previous, &stale);
        assert!(plan.persons.delete.is_empty(), "{plan:?}");
        assert_eq!(
            plan.persons.kept_stale,
            vec![ids.id(ObjectType::Person, "anna")]
        );
        assert!(
            plan.groups.update.is_empty(),
            "the class keeps Anna: {plan:?}"
        );
        assert_eq!(plan.groups.unchanged.len(), 1);
    }

    #[test]
    fn a_pupil_who_left_is_deleted_and_a_new_rejected_one_is_not_put_in_groups() {
        let ids = scheme();
        let mut previous = PreviousState::default();
        previous.hashes.insert(
            ObjectType::Person,
            [(ids.id(ObjectType::Person, "gone"), "h".to_string())].into(),
        );
        let mut now = DesiredState {
            groups: vec![group(&ids, "g1", &[])],
            ..DesiredState::default()
        };
        let rejects = vec![Reject::new(Stage::Transform, EntityKind::Person, "bad").id("new")];
        let left_out = vec![LeftOutRef {
            kind: ObjectType::Group,
            source_id: "g1".into(),
            member_kind: ObjectType::Person,
            member_source_id: "new".into(),
        }];
        let stale = keep_stale(&mut now, &previous, &rejects, &left_out, &ids);
        assert!(stale.is_empty());
        assert!(now.groups[0].payload.group_memberships.is_empty());
        let plan = diff_keeping(now.clone(), &previous, &stale);
        assert_eq!(plan.persons.delete.len(), 1);
    }

    #[test]
    fn a_duty_of_a_teacher_who_left_goes_with_them() {
        let ids = scheme();
        let mut previous = PreviousState::default();
        previous.hashes.insert(
            ObjectType::Duty,
            [
                (ids.id(ObjectType::Duty, "d-left"), "h".to_string()),
                (ids.id(ObjectType::Duty, "d-typo"), "h".to_string()),
            ]
            .into(),
        );
        let rejects = vec![
            Reject::new(
                Stage::Transform,
                EntityKind::Duty,
                "person not in the source",
            )
            .id("d-left")
            .field("person", Some("t-left".into())),
            Reject::new(Stage::Transform, EntityKind::Duty, "person rejected")
                .id("d-typo")
                .field("person", Some("t-typo".into())),
            Reject::new(Stage::Extract, EntityKind::Person, "check digit").id("t-typo"),
        ];
        let mut now = DesiredState::default();
        let stale = keep_stale(&mut now, &previous, &rejects, &[], &ids);
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!(stale[0].source_id, "d-typo");
        let plan = diff_keeping(now.clone(), &previous, &stale);
        assert_eq!(plan.duties.delete, vec![ids.id(ObjectType::Duty, "d-left")]);
    }

    #[test]
    fn the_recorded_source_id_matches_when_the_id_was_crosswalked() {
        let ids = scheme();
        let kept_id = Uuid::from_u128(42);
        let mut previous = PreviousState::default();
        previous
            .hashes
            .insert(ObjectType::Person, [(kept_id, "h".to_string())].into());
        previous
            .source_ids
            .insert(ObjectType::Person, [(kept_id, "p-9".to_string())].into());
        let rejects = vec![
            Reject::new(Stage::Extract, EntityKind::Person, "bad").id("p-9"),
            Reject::new(Stage::Extract, EntityKind::Person, "warned")
                .id("p-8")
                .warning(),
        ];
        let mut now = DesiredState::default();
        let stale = keep_stale(&mut now, &previous, &rejects, &[], &ids);
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].id, kept_id);
    }
}
