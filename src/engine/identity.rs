//! Identity continuity: the desired state takes the Skolverket ids the
//! state store knows for the same real persons, duties, groups and
//! activities, whatever ids the current source system gives them.
//!
//! The transform's [`Crosswalk`] does the rewriting (ids, every reference
//! to them, hashes) from clear-text keys (personnummer, EPPN, natural
//! keys). The store keeps those keys only as keyed hashes (HMAC-SHA256
//! under a key kept outside the state file), so the engine
//! goes the other way round: it computes the keys of the *current* desired
//! state, looks each up in the store, and hands the transform a crosswalk
//! of just the keys that matched. After a run, the keys of everything the
//! service holds are recorded for the next run — only those the store
//! does not hold already with the same id, so a run that changed little
//! writes little.

use std::collections::HashSet;

use skolsync_model::ObjectType;
use skolsync_model::plan::DesiredState;
use skolsync_transform::{Crosswalk, CrosswalkReport};
use uuid::Uuid;

use crate::state::{CrosswalkKey, KeyType, StateError, StateStore};

/// The store key of a person's personnummer as the transform writes it
/// (normalised, 12 characters). A number `CivicNo` cannot parse (which the
/// transform would have rejected) falls back to a natural key.
fn civic_key(civic: &str) -> Option<CrosswalkKey> {
    CrosswalkKey::parse(KeyType::CivicNo, civic)
        .or_else(|_| CrosswalkKey::parse(KeyType::Natural, &format!("civic:{civic}")))
        .ok()
}

fn key(key_type: KeyType, raw: &str) -> Option<CrosswalkKey> {
    CrosswalkKey::parse(key_type, raw).ok()
}

/// The crosswalk as the store holds it, per kind and key type: loaded
/// before the desired state is known (beside the read), then [`apply`]d.
pub struct StoredCrosswalk {
    by_civic: crate::state::Crosswalk,
    by_civic_natural: crate::state::Crosswalk,
    by_eppn: crate::state::Crosswalk,
    duties: crate::state::Crosswalk,
    groups: crate::state::Crosswalk,
    activities: crate::state::Crosswalk,
}

impl StoredCrosswalk {
    /// Reads every key the store holds.
    pub async fn load(store: &StateStore) -> Result<StoredCrosswalk, StateError> {
        let person = |key_type| store.crosswalk(ObjectType::Person, key_type);
        Ok(StoredCrosswalk {
            by_civic: person(KeyType::CivicNo).await?,
            by_civic_natural: person(KeyType::Natural).await?,
            by_eppn: person(KeyType::Eppn).await?,
            duties: store.crosswalk(ObjectType::Duty, KeyType::Natural).await?,
            groups: store.crosswalk(ObjectType::Group, KeyType::Natural).await?,
            activities: store
                .crosswalk(ObjectType::Activity, KeyType::Natural)
                .await?,
        })
    }

    fn is_empty(&self) -> bool {
        [
            &self.by_civic,
            &self.by_civic_natural,
            &self.by_eppn,
            &self.duties,
            &self.groups,
            &self.activities,
        ]
        .iter()
        .all(|table| table.is_empty())
    }
}

/// Gives `desired` the Skolverket ids `stored` knows for its entities.
/// Also returns the keys of `desired` the store holds (with the ids it
/// holds for them): [`record`] need not write those again.
pub fn apply(stored: &StoredCrosswalk, desired: &mut DesiredState) -> (CrosswalkReport, Crosswalk) {
    let mut known = Crosswalk::default();
    if stored.is_empty() {
        return (CrosswalkReport::default(), known);
    }
    let current = Crosswalk::record(desired);
    for civic in current.persons_by_civic_no.keys() {
        let Some(k) = civic_key(civic) else { continue };
        let table = if k.key_type() == KeyType::CivicNo {
            &stored.by_civic
        } else {
            &stored.by_civic_natural
        };
        if let Some(id) = table.get(&k) {
            known.persons_by_civic_no.insert(civic.clone(), id);
        }
    }
    for eppn in current.persons_by_eppn.keys() {
        if let Some(id) = key(KeyType::Eppn, eppn).and_then(|k| stored.by_eppn.get(&k)) {
            known.persons_by_eppn.insert(eppn.clone(), id);
        }
    }
    for (map, from, table) in [
        (&mut known.duties, &current.duties, &stored.duties),
        (&mut known.groups, &current.groups, &stored.groups),
        (
            &mut known.activities,
            &current.activities,
            &stored.activities,
        ),
    ] {
        for natural in from.keys() {
            if let Some(id) = key(KeyType::Natural, natural).and_then(|k| table.get(&k)) {
                map.insert(natural.clone(), id);
            }
        }
    }
    let report = known.apply(desired);
    (report, known)
}

/// Records the keys in `cw` (those of the desired state) of the entities
/// for which `confirmed` holds (the service has them: unchanged or
/// accepted), so the next run — perhaps from another source system —
/// finds their ids.
pub async fn record(
    store: &StateStore,
    mut cw: Crosswalk,
    confirmed: &HashSet<(ObjectType, Uuid)>,
) -> Result<u64, StateError> {
    cw.retain(|kind, id| confirmed.contains(&(kind, id)));

    let mut written = 0;
    let mut civic = Vec::new();
    let mut civic_natural = Vec::new();
    for (raw, id) in &cw.persons_by_civic_no {
        match civic_key(raw) {
            Some(k) if k.key_type() == KeyType::CivicNo => civic.push((k, *id)),
            Some(k) => civic_natural.push((k, *id)),
            None => {}
        }
    }
    written += store.crosswalk_put_many(ObjectType::Person, civic).await?;
    written += store
        .crosswalk_put_many(ObjectType::Person, civic_natural)
        .await?;
    let eppns: Vec<(CrosswalkKey, Uuid)> = cw
        .persons_by_eppn
        .iter()
        .filter_map(|(raw, id)| Some((key(KeyType::Eppn, raw)?, *id)))
        .collect();
    written += store.crosswalk_put_many(ObjectType::Person, eppns).await?;
    for (kind, map) in [
        (ObjectType::Duty, &cw.duties),
        (ObjectType::Group, &cw.groups),
        (ObjectType::Activity, &cw.activities),
    ] {
        let entries: Vec<(CrosswalkKey, Uuid)> = map
            .iter()
            .filter_map(|(raw, id)| Some((key(KeyType::Natural, raw)?, *id)))
            .collect();
        written += store.crosswalk_put_many(kind, entries).await?;
    }
    Ok(written)
}
