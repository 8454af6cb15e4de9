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

use serde::Serialize;
use skolsync_model::hash::content_hash;
use skolsync_model::plan::{
    Action, Desired, DesiredState, Plan, PreviousState, SEND_ORDER, TypePlan,
};
use skolsync_model::{ObjectType, by_type};
use uuid::Uuid;

use crate::stale::StaleEntity;

/// Creates, updates, deletes and unchanged, per type. Lists follow the
/// desired state's order; deletes are sorted by id.
pub fn diff(desired: DesiredState, previous: &PreviousState) -> Plan {
    diff_keeping(desired, previous, &[])
}

/// [`diff`], except that the entities in `stale` (the service holds them,
/// their source records were rejected; see [`crate::stale`]) are neither
/// updated nor deleted but listed in each type's `kept_stale`.
///
/// This is where every content hash is computed, once: after the
/// transform, the crosswalk's id rewriting and the stale entities' changes,
/// so the hash is of exactly what is sent. The desired entities move into
/// the plan (the unchanged ones are dropped), so no payload is held twice.
pub fn diff_keeping(
    desired: DesiredState,
    previous: &PreviousState,
    stale: &[StaleEntity],
) -> Plan {
    let previous = |kind| previous.hashes.get(&kind);
    let kept = |kind: ObjectType| -> HashSet<Uuid> {
        stale
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.id)
            .collect()
    };
    let part = |kind| (previous(kind), kept(kind));
    let (persons, p) = type_plan(desired.persons, part(ObjectType::Person));
    let (duties, d) = type_plan(desired.duties, part(ObjectType::Duty));
    let (groups, g) = type_plan(desired.groups, part(ObjectType::Group));
    let (activities, a) = type_plan(desired.activities, part(ObjectType::Activity));
    drop_in_background((p, d, g, a));
    Plan {
        persons,
        duties,
        groups,
        activities,
        ..Plan::default()
    }
}

/// The plan of one type from its desired entities, the hashes the state
/// holds of it and the ids kept as last sent; and the entities the plan
/// does not need (unchanged, or a repeated id), for the caller to free.
fn type_plan<T: Serialize + Send + Sync>(
    mut desired: Vec<Desired<T>>,
    (previous, kept): (Option<&BTreeMap<Uuid, String>>, HashSet<Uuid>),
) -> (TypePlan<T>, Vec<Desired<T>>) {
    hash_all(&mut desired);
    let empty = BTreeMap::new();
    let previous = previous.unwrap_or(&empty);
    let mut plan = TypePlan::default();
    let mut seen = HashSet::with_capacity(desired.len());
    // Decided in place first, then only what is sent is taken out: on a
    // nightly run nearly everything is unchanged and stays where it is, for
    // the caller to free, instead of being moved once more.
    let mut decisions: Vec<Option<Action>> = Vec::with_capacity(desired.len());
    for d in &desired {
        let decision = if !seen.insert(d.id) {
            // A repeated id: the first one stands.
            None
        } else {
            match previous.get(&d.id) {
                None => Some(Action::Create),
                Some(hash) if *hash == d.hash => {
                    plan.unchanged.push(d.id);
                    None
                }
                Some(_) => Some(Action::Update),
            }
        };
        decisions.push(decision);
    }
    let count = |action| decisions.iter().filter(|d| **d == Some(action)).count();
    let (creates, updates) = (count(Action::Create), count(Action::Update));
    plan.create.reserve_exact(creates);
    plan.update.reserve_exact(updates);
    let mut next = decisions.iter();
    let mut actions = decisions.iter().flatten();
    for d in desired.extract_if(.., |_| matches!(next.next(), Some(Some(_)))) {
        match actions.next() {
            Some(Action::Update) => plan.update.push(d),
            _ => plan.create.push(d),
        }
    }
    for id in previous.keys().filter(|id| !seen.contains(id)) {
        if kept.contains(id) {
            plan.kept_stale.push(*id);
        } else {
            plan.delete.push(*id);
        }
    }
    (plan, desired)
}

/// Frees `items` on another thread, once every type is planned (so it does
/// not compete with the hashing): on a nightly run nearly every payload is
/// unchanged, and freeing a million of them is time the plan need not
/// wait for. Freed here when no thread can be started.
fn drop_in_background<T: Send + 'static>(items: T) {
    let _ = std::thread::Builder::new()
        .name("diff-free".into())
        .spawn(move || drop(items));
}

/// Fills `hash` of every entity with the model's [`content_hash`], spread
/// over the available cores (hashing serialises every payload, a costly
/// step for big sources).
fn hash_all<T: Serialize + Sync + Send>(items: &mut [Desired<T>]) {
    crate::parallel::for_each_mut(items, |_, d| d.hash = content_hash(&d.payload));
}

/// The previous state a fully successful send of `desired` leaves: every
/// id with its content hash. For tests and benchmarks; the engine builds
/// its own from confirmed outcomes.
pub fn previous_state(desired: &DesiredState) -> PreviousState {
    fn hashes<T: Serialize>(items: &[Desired<T>]) -> BTreeMap<Uuid, String> {
        items
            .iter()
            .map(|d| (d.id, content_hash(&d.payload)))
            .collect()
    }
    let mut state = PreviousState::default();
    for kind in SEND_ORDER {
        let hashes = by_type!(kind, &desired, |list| hashes(list));
        state.hashes.insert(kind, hashes);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(diff(before, &previous).is_empty());

        let after = DesiredState {
            duties: vec![duty(1, Larare), duty(2, Rektor), duty(4, Larare)],
            ..DesiredState::default()
        };
        let plan = diff(after, &previous);
        assert_eq!(plan.duties.unchanged, vec![Uuid::from_u128(1)]);
        assert_eq!(plan.duties.update.len(), 1);
        assert_eq!(plan.duties.update[0].id, Uuid::from_u128(2));
        assert_eq!(plan.duties.create[0].id, Uuid::from_u128(4));
        assert_eq!(plan.duties.delete, vec![Uuid::from_u128(3)]);
        assert!(plan.persons.is_empty());
    }
}
