//! The plan: what to create, update and delete so the provtjänst matches
//! the desired state, given what was confirmed before.
//!
//! Change detection is by content hash only ([`skolsync_model::hash::content_hash`]),
//! so an unchanged source gives an empty plan. Deletes are every id the
//! previous state holds that the desired state does not — except those
//! whose source record is present but rejected ([`crate::stale`]), which
//! are kept as last sent; the engine keeps only deletes of what this
//! pipeline created.

use std::collections::{BTreeMap, HashSet};

use skolsync_model::ObjectType;
use skolsync_model::plan::{Desired, DesiredState, Plan, PreviousState, TypePlan};
use uuid::Uuid;

use crate::stale::StaleEntity;

/// Creates, updates, deletes and unchanged, per type. Lists follow the
/// desired state's order; deletes are sorted by id.
pub fn diff(desired: &DesiredState, previous: &PreviousState) -> Plan {
    diff_keeping(desired, previous, &[])
}

/// [`diff`], except that the entities in `stale` (the service holds them,
/// their source records were rejected; see [`crate::stale`]) are neither
/// updated nor deleted but listed in each type's `kept_stale`.
pub fn diff_keeping(
    desired: &DesiredState,
    previous: &PreviousState,
    stale: &[StaleEntity],
) -> Plan {
    let prev = |kind| previous.hashes.get(&kind);
    let kept = |kind: ObjectType| -> HashSet<Uuid> {
        stale
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.id)
            .collect()
    };
    Plan {
        persons: type_plan(
            &desired.persons,
            prev(ObjectType::Person),
            &kept(ObjectType::Person),
        ),
        duties: type_plan(
            &desired.duties,
            prev(ObjectType::Duty),
            &kept(ObjectType::Duty),
        ),
        groups: type_plan(
            &desired.groups,
            prev(ObjectType::Group),
            &kept(ObjectType::Group),
        ),
        activities: type_plan(
            &desired.activities,
            prev(ObjectType::Activity),
            &kept(ObjectType::Activity),
        ),
    }
}

fn type_plan<T: Clone>(
    desired: &[Desired<T>],
    previous: Option<&BTreeMap<Uuid, String>>,
    kept: &HashSet<Uuid>,
) -> TypePlan<T> {
    let empty = BTreeMap::new();
    let previous = previous.unwrap_or(&empty);
    let mut plan = TypePlan::default();
    let mut seen = HashSet::with_capacity(desired.len());
    for d in desired {
        if !seen.insert(d.id) {
            continue;
        }
        match previous.get(&d.id) {
            None => plan.create.push(d.clone()),
            Some(hash) if *hash == d.hash => plan.unchanged.push(d.id),
            Some(_) => plan.update.push(d.clone()),
        }
    }
    for id in previous.keys().filter(|id| !seen.contains(id)) {
        if kept.contains(id) {
            plan.kept_stale.push(*id);
        } else {
            plan.delete.push(*id);
        }
    }
    plan
}

/// The previous state a fully successful send of `desired` leaves: every
/// id with its hash. For tests and benchmarks; the engine builds its own
/// from confirmed outcomes.
pub fn previous_state(desired: &DesiredState) -> PreviousState {
    fn hashes<T>(items: &[Desired<T>]) -> BTreeMap<Uuid, String> {
        items.iter().map(|d| (d.id, d.hash.clone())).collect()
    }
    let mut state = PreviousState::default();
    state
        .hashes
        .insert(ObjectType::Person, hashes(&desired.persons));
    state
        .hashes
        .insert(ObjectType::Duty, hashes(&desired.duties));
    state
        .hashes
        .insert(ObjectType::Group, hashes(&desired.groups));
    state
        .hashes
        .insert(ObjectType::Activity, hashes(&desired.activities));
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use skolsync_model::hash::content_hash;
    use skolsync_model::provtjanst::{Duty, ObjectReference};

    fn duty(n: u128, role: skolsync_model::DutyRole) -> Desired<Duty> {
        let payload = Duty {
            id: Uuid::from_u128(n),
            meta: None,
            person: ObjectReference::new(Uuid::from_u128(100)),
            duty_at: ObjectReference::new(Uuid::from_u128(200)),
            duty_role: role,
            provisioning_status: None,
        };
        Desired {
            id: payload.id,
            source_id: n.to_string(),
            hash: content_hash(&payload),
            school_unit: None,
            payload,
        }
    }

    #[test]
    fn creates_updates_deletes_and_unchanged() {
        use skolsync_model::DutyRole::{Larare, Rektor};
        let before = DesiredState {
            duties: vec![duty(1, Larare), duty(2, Larare), duty(3, Larare)],
            ..DesiredState::default()
        };
        let previous = previous_state(&before);
        assert!(diff(&before, &previous).is_empty());

        let after = DesiredState {
            duties: vec![duty(1, Larare), duty(2, Rektor), duty(4, Larare)],
            ..DesiredState::default()
        };
        let plan = diff(&after, &previous);
        assert_eq!(plan.duties.unchanged, vec![Uuid::from_u128(1)]);
        assert_eq!(plan.duties.update.len(), 1);
        assert_eq!(plan.duties.update[0].id, Uuid::from_u128(2));
        assert_eq!(plan.duties.create[0].id, Uuid::from_u128(4));
        assert_eq!(plan.duties.delete, vec![Uuid::from_u128(3)]);
        assert!(plan.persons.is_empty());
    }
}
