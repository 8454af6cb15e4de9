//! Changing the municipality while the sandbox serves it, the way a school
//! system records edits: tests and benchmarks add, move and remove pupils,
//! add staff, end duties and rename groups, and the source then serves
//! exactly those changes to incremental reads.
//!
//! Every entity an edit touches gets `meta.modified` = the change set's
//! time (and `meta.created` the same when it is new); removals are logged
//! for `/deletedEntities`. A move touches the pupil (when the enrolment
//! changes) and the groups it leaves and joins, since a group's
//! memberships are part of the group. [`Changes`] runs one change set
//! under the source's write lock and returns what it touched
//! ([`Changed`]), by kind and id, so a test can compare it with what a
//! client read; [`crate::Sandbox::change`] also notifies subscriptions once
//! per change set.
//!
//! New pupils are modelled on a classmate (same unit, year, programme and
//! groups) with a new identity that is valid for the provtjänst (a unique
//! personnummer with a correct check digit, a name from the generator's
//! lists, an EPPN that does not reveal the name), so the generator's
//! guarantees hold for them too.

mod people;
mod share;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, FixedOffset};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skolsync_model::ss12000::{EntityKind, SourceId};

use crate::world::{SourceData, StoredEntity};

/// What a change set touched, by kind and id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changed {
    /// Entities created.
    pub created: BTreeMap<EntityKind, BTreeSet<SourceId>>,
    /// Entities modified that existed before the change set.
    pub modified: BTreeMap<EntityKind, BTreeSet<SourceId>>,
    /// Entities removed (logged for `/deletedEntities`).
    pub deleted: BTreeMap<EntityKind, BTreeSet<SourceId>>,
}

impl Changed {
    /// Created and modified ids of `kind`: what `meta.modified.after` a
    /// moment before the change set returns.
    pub fn touched(&self, kind: EntityKind) -> BTreeSet<SourceId> {
        let mut ids = self.created.get(&kind).cloned().unwrap_or_default();
        ids.extend(self.modified.get(&kind).into_iter().flatten().cloned());
        ids
    }

    /// Deleted ids of `kind`.
    pub fn deleted(&self, kind: EntityKind) -> BTreeSet<SourceId> {
        self.deleted.get(&kind).cloned().unwrap_or_default()
    }

    /// Kinds with a created or modified entity.
    pub fn modified_kinds(&self) -> BTreeSet<EntityKind> {
        non_empty_kinds(&self.created)
            .chain(non_empty_kinds(&self.modified))
            .collect()
    }

    /// Kinds with a deleted entity.
    pub fn deleted_kinds(&self) -> BTreeSet<EntityKind> {
        non_empty_kinds(&self.deleted).collect()
    }

    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.modified_kinds().is_empty() && self.deleted_kinds().is_empty()
    }
}

fn non_empty_kinds(
    map: &BTreeMap<EntityKind, BTreeSet<SourceId>>,
) -> impl Iterator<Item = EntityKind> + '_ {
    map.iter()
        .filter(|(_, ids)| !ids.is_empty())
        .map(|(kind, _)| *kind)
}

/// Why an edit could not be made; edits before it in the change set stay.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// No entity of that kind and id.
    #[error("no {kind} with id `{id}` in the source")]
    NotFound {
        /// The entity type (`Person`).
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The person is no pupil: no class group has them as a member.
    #[error("person `{0}` is in no class (Klass group), so is no pupil")]
    NotAPupil(String),
    /// The group is not a class or has no pupil to model a newcomer on.
    #[error("group `{0}` is not a class with at least one pupil")]
    NotAClass(String),
    /// The organisation element has no staff to model a newcomer on.
    #[error("organisation `{0}` is not a school unit with staff")]
    NotASchoolUnit(String),
    /// `change_share_of_pupils` was given a share outside 0–1.
    #[error("share {0} is not between 0 and 1")]
    Share(String),
    /// The source's lock was poisoned by a panic elsewhere.
    #[error("the source data is unavailable (a writer panicked)")]
    Poisoned,
}

/// Where entities stand in the source's lists, built on first use.
#[derive(Debug, Default)]
struct Index {
    persons: Option<HashMap<SourceId, usize>>,
    groups: Option<HashMap<SourceId, usize>>,
    /// Group positions by member id (any membership, ended or not).
    member_of: Option<HashMap<SourceId, Vec<usize>>>,
    civic_nos: Option<HashSet<String>>,
}

/// One change set under the source's write lock.
#[derive(Debug)]
pub struct Changes<'a> {
    data: &'a mut SourceData,
    at: DateTime<FixedOffset>,
    changed: Changed,
    rng: ChaCha8Rng,
    index: Index,
}

impl<'a> Changes<'a> {
    /// A change set stamped now; `seed` drives the new names and numbers.
    pub fn new(data: &'a mut SourceData, seed: u64) -> Self {
        Changes {
            at: data.now(),
            data,
            changed: Changed::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            index: Index::default(),
        }
    }

    /// The time every touched entity is stamped with.
    pub fn at(&self) -> DateTime<FixedOffset> {
        self.at
    }

    /// The data as changed so far.
    pub fn data(&self) -> &SourceData {
        self.data
    }

    /// What was touched so far.
    pub fn changed(&self) -> &Changed {
        &self.changed
    }

    /// Ends the change set, returning what it touched.
    pub fn finish(self) -> Changed {
        self.changed
    }

    /// Stamps the entity of type `T` at `pos` as modified now (and records
    /// it), dropping any raw JSON that stood in for it.
    fn touch<T: StoredEntity>(&mut self, pos: usize) {
        let Some(entity) = T::list_mut(self.data).get_mut(pos) else {
            return;
        };
        let meta = entity.meta_mut();
        meta.modified = Some(self.at);
        meta.created.get_or_insert(self.at);
        let id = entity.id().clone();
        self.data.raw_overrides.remove(&(T::KIND, id.clone()));
        let created = self
            .changed
            .created
            .get(&T::KIND)
            .is_some_and(|ids| ids.contains(&id));
        if !created {
            self.changed.modified.entry(T::KIND).or_default().insert(id);
        }
    }

    /// Appends a new entity stamped created and modified now.
    fn create<T: StoredEntity>(&mut self, mut entity: T) -> usize {
        let meta = entity.meta_mut();
        meta.created = Some(self.at);
        meta.modified = Some(self.at);
        let id = entity.id().clone();
        let list = T::list_mut(self.data);
        list.push(entity);
        let pos = list.len() - 1;
        self.changed.created.entry(T::KIND).or_default().insert(id);
        pos
    }

    /// Deletes an entity (logged for `/deletedEntities`) and records it.
    fn remove(&mut self, kind: EntityKind, id: &SourceId) {
        if self.data.delete(kind, id) {
            if let Some(ids) = self.changed.created.get_mut(&kind) {
                ids.remove(id);
            }
            if let Some(ids) = self.changed.modified.get_mut(&kind) {
                ids.remove(id);
            }
            self.changed
                .deleted
                .entry(kind)
                .or_default()
                .insert(id.clone());
            // Positions after it moved.
            match kind {
                EntityKind::Person => self.index.persons = None,
                EntityKind::Group => {
                    self.index.groups = None;
                    self.index.member_of = None;
                }
                _ => {}
            }
        }
    }

    fn person_pos(&mut self, id: &SourceId) -> Result<usize, ChangeError> {
        let data = &*self.data;
        let index = self.index.persons.get_or_insert_with(|| {
            data.persons
                .iter()
                .enumerate()
                .map(|(i, p)| (p.id.clone(), i))
                .collect()
        });
        index.get(id).copied().ok_or_else(|| ChangeError::NotFound {
            kind: "Person",
            id: id.as_str().to_string(),
        })
    }

    fn group_pos(&mut self, id: &SourceId) -> Result<usize, ChangeError> {
        let data = &*self.data;
        let index = self.index.groups.get_or_insert_with(|| {
            data.groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.id.clone(), i))
                .collect()
        });
        index.get(id).copied().ok_or_else(|| ChangeError::NotFound {
            kind: "Group",
            id: id.as_str().to_string(),
        })
    }

    /// Positions of the groups `person` has a membership of.
    fn groups_of(&mut self, person: &SourceId) -> Vec<usize> {
        let data = &*self.data;
        let index = self.index.member_of.get_or_insert_with(|| {
            let mut map: HashMap<SourceId, Vec<usize>> = HashMap::new();
            for (i, group) in data.groups.iter().enumerate() {
                for m in &group.group_memberships {
                    let entry = map.entry(m.person.id.clone()).or_default();
                    if entry.last() != Some(&i) {
                        entry.push(i);
                    }
                }
            }
            map
        });
        index.get(person).cloned().unwrap_or_default()
    }

    /// Records that `person` is now a member of the group at `pos`.
    fn note_membership(&mut self, person: &SourceId, pos: usize) {
        if let Some(index) = &mut self.index.member_of {
            let entry = index.entry(person.clone()).or_default();
            if !entry.contains(&pos) {
                entry.push(pos);
            }
        }
    }

    /// Whether `civic_no` is free; if so, it is taken.
    fn take_civic_no(&mut self, civic_no: &str) -> bool {
        let data = &*self.data;
        let used = self.index.civic_nos.get_or_insert_with(|| {
            data.persons
                .iter()
                .filter_map(|p| p.civic_no.as_ref().map(|c| c.value.clone()))
                .collect()
        });
        used.insert(civic_no.to_string())
    }
}

impl crate::world::World {
    /// Runs one change set `edit` under the source's write lock, with new
    /// names and numbers drawn from `seed`. Returns what it touched, and
    /// the edit's error if it stopped early (the edits before the error
    /// stay, as in a school system).
    pub fn change_set<F>(&self, seed: u64, edit: F) -> (Changed, Result<(), ChangeError>)
    where
        F: FnOnce(&mut Changes<'_>) -> Result<(), ChangeError>,
    {
        let Ok(mut data) = self.source.write() else {
            return (Changed::default(), Err(ChangeError::Poisoned));
        };
        let mut changes = Changes::new(&mut data, seed);
        let result = edit(&mut changes);
        (changes.finish(), result)
    }

    /// [`World::change_set`], failing on the edit's error.
    pub fn change<F>(&self, seed: u64, edit: F) -> Result<Changed, ChangeError>
    where
        F: FnOnce(&mut Changes<'_>) -> Result<(), ChangeError>,
    {
        let (changed, result) = self.change_set(seed, edit);
        result.map(|()| changed)
    }
}
