//! The stored resources: one table per kind (rows by id, ids in creation
//! order) and the indexes the rules look things up by.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::provisioning::envelope::LogEntry;
use crate::provisioning::payload::{Activity, Duty, Group, Meta, Person};
use uuid::Uuid;

use crate::provisioning::rules::{Judge, Resource};

/// One stored resource with its service-side metadata.
#[derive(Debug, Clone)]
pub struct Row<T> {
    /// Creation order; list paging follows it.
    pub seq: u64,
    /// The resource as accepted (read-only fields cleared).
    pub entity: T,
    /// `meta.created`.
    pub created: String,
    /// `meta.modified`: changes only when the content changes.
    pub modified: String,
}

/// The resources of one kind.
#[derive(Debug)]
pub struct Table<T> {
    /// By id.
    pub rows: HashMap<Uuid, Row<T>>,
    /// Ids by creation order.
    pub order: BTreeMap<u64, Uuid>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: HashMap::new(),
            order: BTreeMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub(super) fn insert(&mut self, id: Uuid, row: Row<T>) {
        self.order.insert(row.seq, id);
        self.rows.insert(id, row);
    }

    pub(super) fn remove(&mut self, id: &Uuid) -> Option<Row<T>> {
        let row = self.rows.remove(id)?;
        self.order.remove(&row.seq);
        Some(row)
    }
}

/// All four tables and the indexes the rules need.
#[derive(Debug, Default)]
pub struct Tables {
    /// Persons.
    pub persons: Table<Person>,
    /// Duties.
    pub duties: Table<Duty>,
    /// Groups.
    pub groups: Table<Group>,
    /// Activities.
    pub activities: Table<Activity>,
    /// civicNo value → person id.
    pub person_by_civic_no: HashMap<String, Uuid>,
    /// Lowercased EPPN → person id.
    pub person_by_eppn: HashMap<String, Uuid>,
    /// Person id → its duties.
    pub duties_by_person: HashMap<Uuid, BTreeSet<Uuid>>,
    /// Group id → activities referencing it.
    pub activities_by_group: HashMap<Uuid, BTreeSet<Uuid>>,
    /// Duty id → activities referencing it as teacher.
    pub activities_by_duty: HashMap<Uuid, BTreeSet<Uuid>>,
    next_seq: u64,
}

/// How [`Tables::judge_and_store`] stored an accepted entity.
#[derive(Debug)]
pub struct Stored {
    /// `meta.created`.
    pub created: String,
    /// `meta.modified` (unchanged when the content is).
    pub modified: String,
    /// The id was not held before.
    pub new: bool,
    /// Problems that did not stop it.
    pub warnings: Vec<LogEntry>,
}

impl Tables {
    /// Judges `entity` by the profile rules against what is held now and,
    /// when it passes, stores it in place of the row of its id (indexes
    /// too), stamped `at`; otherwise says why not. The one implementation
    /// of "accept an entity" that the Provisioning API's jobs and the
    /// SS12000 client emulator share.
    pub fn judge_and_store<T: Resource>(
        &mut self,
        mut entity: T,
        judge: &Judge<'_>,
        at: &str,
    ) -> Result<Stored, Vec<LogEntry>> {
        let id = entity.id();
        entity.clear_read_only();
        let verdict = T::check(entity, self, judge);
        if !verdict.errors.is_empty() {
            return Err(verdict.errors);
        }
        let entity = verdict.entity;
        let (seq, created, modified, new) = match T::table_mut(self).remove(&id) {
            Some(old) => {
                T::unlink(self, &old.entity);
                let modified = if old.entity == entity {
                    old.modified
                } else {
                    at.to_string()
                };
                (old.seq, old.created, modified, false)
            }
            None => (self.next_seq(), at.to_string(), at.to_string(), true),
        };
        T::link(self, &entity);
        T::table_mut(self).insert(
            id,
            Row {
                seq,
                entity,
                created: created.clone(),
                modified: modified.clone(),
            },
        );
        Ok(Stored {
            created,
            modified,
            new,
            warnings: verdict.warnings,
        })
    }

    /// Removes the entity of `id` and its index entries; the row it had.
    pub fn forget<T: Resource>(&mut self, id: Uuid) -> Option<Row<T>> {
        let row = T::table_mut(self).remove(&id)?;
        T::unlink(self, &row.entity);
        Some(row)
    }

    pub(super) fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub(super) fn render<T: Resource>(&self, row: &Row<T>) -> T {
        let mut entity = row.entity.clone();
        let provisioned = T::provisioned(self, &entity);
        entity.set_read_only(
            Meta {
                created: Some(row.created.clone()),
                modified: Some(row.modified.clone()),
            },
            provisioned,
        );
        entity
    }
}
