//! The stored resources: one table per kind (rows by id, ids in creation
//! order) and the indexes the rules look things up by.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::provisioning::payload::{Activity, Duty, Group, Meta, Person};
use uuid::Uuid;

use crate::provisioning::rules::Resource;

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

impl Tables {
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
