//! The data the emulators share: what Skolverket knows (the open-data
//! catalogue) and what the school system holds (SS 12000 entities).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, FixedOffset, Utc};
use skolsync_model::open_data;
use skolsync_model::ss12000::{
    Activity, Duty, Entity, EntityKind, Group, Meta, Organisation, Person, Programme, SourceId,
    Syllabus,
};
use uuid::Uuid;

/// What Skolverket's open-data publishes for the generated municipality.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    /// The organiser(s) (huvudman).
    pub organisations: Vec<open_data::Organisation>,
    /// School units with status, dnpStatus, school types and years.
    pub school_units: Vec<open_data::SchoolUnit>,
    /// Programmes (GY).
    pub programmes: Vec<open_data::Programme>,
    /// National test activities, ids = UUIDv5(nil, displayName).
    pub test_activities: Vec<open_data::TestActivity>,
}

impl Catalogue {
    /// Index of school units by Skolverket id.
    pub fn school_unit(&self, id: &Uuid) -> Option<&open_data::SchoolUnit> {
        self.school_units.iter().find(|u| &u.id == id)
    }

    /// Test activity by Skolverket id.
    pub fn test_activity(&self, id: &Uuid) -> Option<&open_data::TestActivity> {
        self.test_activities.iter().find(|a| &a.id == id)
    }

    /// Lookup tables for hot paths (the provisioning rules check every entity).
    pub fn index(&self) -> CatalogueIndex {
        CatalogueIndex {
            school_units: self
                .school_units
                .iter()
                .enumerate()
                .map(|(i, u)| (u.id, i))
                .collect(),
            test_activities: self
                .test_activities
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id, i))
                .collect(),
            programmes_by_code: self
                .programmes
                .iter()
                .enumerate()
                .map(|(i, p)| (p.education_code.clone(), i))
                .collect(),
        }
    }
}

/// Hash indexes into a [`Catalogue`] (positions in its vectors).
#[derive(Debug, Clone, Default)]
pub struct CatalogueIndex {
    /// School unit id → position.
    pub school_units: HashMap<Uuid, usize>,
    /// Test activity id → position.
    pub test_activities: HashMap<Uuid, usize>,
    /// Education code → position in programmes.
    pub programmes_by_code: HashMap<String, usize>,
}

/// A deletion in the source, served by `/deletedEntities`.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletion {
    /// Type of the deleted entity.
    pub kind: EntityKind,
    /// Its id.
    pub id: SourceId,
    /// When it was deleted.
    pub at: DateTime<FixedOffset>,
}

/// What the school system (EduCloud or a generic SS 12000 API) holds.
#[derive(Debug, Clone, Default)]
pub struct SourceData {
    /// Organisation elements: the organiser and its school units.
    pub organisations: Vec<Organisation>,
    /// Persons with enrolments (students and staff).
    pub persons: Vec<Person>,
    /// Staff duties.
    pub duties: Vec<Duty>,
    /// Classes and teaching groups with memberships.
    pub groups: Vec<Group>,
    /// Activities linking groups, teachers and syllabuses.
    pub activities: Vec<Activity>,
    /// Syllabuses.
    pub syllabuses: Vec<Syllabus>,
    /// Programmes.
    pub programmes: Vec<Programme>,
    /// Deletions, oldest first.
    pub deleted: Vec<Deletion>,
    /// Raw JSON to serve *instead of* the typed entity with this kind and id.
    ///
    /// Some dirt cannot be held by the typed model (an unknown enum value
    /// such as `groupType: "Studiegrupp"`), so the generator keeps a valid
    /// typed entity in its list (same position, same id) and puts the broken
    /// JSON here. SS 12000 emulators must serve the override in the entity's
    /// place. It replaces the entity wholesale: remove the override when a
    /// test edits that entity.
    pub raw_overrides: HashMap<(EntityKind, SourceId), serde_json::Value>,
    /// How far the source's clock runs ahead of the machine's: its
    /// `meta` stamps, deletion times and the `Date` of its answers (zero
    /// unless a benchmark lets time pass with [`SourceData::advance_clock`]).
    pub clock_offset: chrono::Duration,
}

/// Everything the services share at run time.
#[derive(Debug, Clone)]
pub struct World {
    /// Skolverket's side; fixed for the sandbox's life.
    pub catalogue: Arc<Catalogue>,
    /// The school system's side; tests change it to simulate a new term.
    pub source: Arc<RwLock<SourceData>>,
}

impl World {
    /// Wraps generated data for sharing between services.
    pub fn new(catalogue: Catalogue, source: SourceData) -> Self {
        World {
            catalogue: Arc::new(catalogue),
            source: Arc::new(RwLock::new(source)),
        }
    }
}

/// An SS 12000 entity type that [`SourceData`] stores, so tests and services
/// can reach its list generically.
pub trait StoredEntity: Entity + Clone {
    /// The stored entities of this type, in serving order.
    fn list(data: &SourceData) -> &Vec<Self>;
    /// The same, for changes.
    fn list_mut(data: &mut SourceData) -> &mut Vec<Self>;
    /// Source timestamps, for changes.
    fn meta_mut(&mut self) -> &mut Meta;
}

macro_rules! impl_stored {
    ($($ty:ident => $field:ident),+ $(,)?) => {
        $(
            impl StoredEntity for $ty {
                fn list(data: &SourceData) -> &Vec<Self> {
                    &data.$field
                }
                fn list_mut(data: &mut SourceData) -> &mut Vec<Self> {
                    &mut data.$field
                }
                fn meta_mut(&mut self) -> &mut Meta {
                    &mut self.meta
                }
            }
        )+
    };
}

impl_stored! {
    Organisation => organisations,
    Person => persons,
    Duty => duties,
    Group => groups,
    Activity => activities,
    Syllabus => syllabuses,
    Programme => programmes,
}

impl SourceData {
    /// The source's current time, as its SS 12000 stamps and the `Date` of
    /// its answers carry it: the machine's clock plus
    /// [`clock_offset`](SourceData::clock_offset).
    pub fn now(&self) -> DateTime<FixedOffset> {
        (Utc::now() + self.clock_offset).fixed_offset()
    }

    /// Moves the source's clock `by` forward, as if that much time passed
    /// (a benchmark compresses a day of changes and nightly runs into
    /// minutes; without it, the lookback of an incremental read would
    /// reach back over changes made minutes, not a day, before).
    pub fn advance_clock(&mut self, by: chrono::Duration) {
        self.clock_offset += by;
    }

    /// The entity of type `T` with `id`, if stored.
    pub fn get<T: StoredEntity>(&self, id: &SourceId) -> Option<&T> {
        T::list(self).iter().find(|e| e.id() == id)
    }

    /// Creates or replaces an entity the way a school system records an edit:
    /// `meta.modified` becomes now, `meta.created` is kept from the stored
    /// version (or set to now for a new entity). A replaced entity keeps its
    /// position; a new one is appended. A raw override of the entity is
    /// dropped, since the edit replaces it. Returns the modification time.
    pub fn upsert<T: StoredEntity>(&mut self, mut entity: T) -> DateTime<FixedOffset> {
        let at = self.now();
        let list = T::list_mut(self);
        let existing = list.iter().position(|e| e.id() == entity.id());
        let created = existing
            .and_then(|i| list[i].meta().created)
            .or(entity.meta().created)
            .unwrap_or(at);
        let meta = entity.meta_mut();
        meta.created = Some(created);
        meta.modified = Some(at);
        let key = (T::KIND, entity.id().clone());
        match existing {
            Some(i) => list[i] = entity,
            None => list.push(entity),
        }
        // The edit replaces whatever raw JSON stood in for the entity.
        self.raw_overrides.remove(&key);
        at
    }

    /// Deletes an entity and records the deletion for `/deletedEntities`.
    /// Returns false (and records nothing) when no such entity is stored.
    /// References to it from other entities are left as they are, as in a
    /// source that deletes a person before updating the groups.
    pub fn delete(&mut self, kind: EntityKind, id: &SourceId) -> bool {
        fn remove<T: StoredEntity>(data: &mut SourceData, id: &SourceId) -> bool {
            let list = T::list_mut(data);
            let before = list.len();
            list.retain(|e| e.id() != id);
            list.len() != before
        }
        let removed = match kind {
            EntityKind::Organisation => remove::<Organisation>(self, id),
            EntityKind::Person => remove::<Person>(self, id),
            EntityKind::Duty => remove::<Duty>(self, id),
            EntityKind::Group => remove::<Group>(self, id),
            EntityKind::Activity => remove::<Activity>(self, id),
            EntityKind::Syllabus => remove::<Syllabus>(self, id),
            EntityKind::Programme => remove::<Programme>(self, id),
        };
        if removed {
            self.raw_overrides.remove(&(kind, id.clone()));
            let at = self.now();
            self.deleted.push(Deletion {
                kind,
                id: id.clone(),
                at,
            });
        }
        removed
    }
}

impl World {
    /// [`SourceData::upsert`] under the write lock; `None` if the lock is poisoned.
    pub fn upsert<T: StoredEntity>(&self, entity: T) -> Option<DateTime<FixedOffset>> {
        self.source.write().ok().map(|mut data| data.upsert(entity))
    }

    /// [`SourceData::delete`] under the write lock; false if the lock is poisoned.
    pub fn delete(&self, kind: EntityKind, id: &SourceId) -> bool {
        self.source
            .write()
            .map(|mut data| data.delete(kind, id))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_clock_stamps_edits_and_deletions_later() {
        let mut data = SourceData::default();
        let person: Person = serde_json::from_value(serde_json::json!({
            "id": "p1", "givenName": "Ada", "familyName": "Test"
        }))
        .unwrap();
        let before = data.upsert(person.clone());
        data.advance_clock(chrono::Duration::hours(1));
        let after = data.upsert(person);
        assert!(
            after - before >= chrono::Duration::minutes(59),
            "{before} {after}"
        );
        let stored = data.get::<Person>(&SourceId::from("p1")).unwrap();
        assert_eq!(stored.meta.created, Some(before), "created stays");
        assert_eq!(stored.meta.modified, Some(after));
        assert!(data.delete(EntityKind::Person, &SourceId::from("p1")));
        assert!(data.deleted[0].at >= after);
    }
}
