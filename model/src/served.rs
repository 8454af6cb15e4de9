//! The served dataset of the pull method: what a pull sink writes for
//! `skolsync serve` to hand Skolverket's SS12000 client.
//!
//! The sink (which knows the plan) and the state store (which keeps the
//! rows and their `meta` stamps) meet here, so neither depends on the
//! other: the sink builds a [`ServedWrite`], the store applies it and
//! answers with [`ServedWritten`].

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::ss12000::EntityKind;

/// One entity to serve, created or replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedUpsert {
    /// Its type (`Organisation`, `Person`, `Group`, `Duty`, `Activity`).
    pub kind: EntityKind,
    /// Its id (Skolverket's for school units, the provtjänst id otherwise).
    pub id: Uuid,
    /// The entity as served, without `meta` (the store keeps the stamps).
    pub body: serde_json::Value,
    /// The content hash of `body`: an unchanged hash leaves the entity and
    /// its `meta.modified` untouched.
    pub hash: String,
}

/// What one run changes in the served dataset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServedWrite {
    /// Entities created or replaced.
    pub upserts: Vec<ServedUpsert>,
    /// Entities removed (each leaves a tombstone for `/deletedEntities`).
    pub deletes: Vec<(EntityKind, Uuid)>,
}

/// What a [`ServedWrite`] did, per type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedWritten {
    /// New entities.
    pub created: BTreeMap<EntityKind, u64>,
    /// Entities whose content changed.
    pub updated: BTreeMap<EntityKind, u64>,
    /// Upserts whose content was already served.
    pub unchanged: BTreeMap<EntityKind, u64>,
    /// Entities removed.
    pub deleted: BTreeMap<EntityKind, u64>,
}

impl ServedWritten {
    /// The types with created or updated entities (`modifiedEntites` of a
    /// notification), in the order given by `order`.
    pub fn modified_kinds(&self, order: &[EntityKind]) -> Vec<EntityKind> {
        let changed = |kind: &EntityKind| {
            self.created.get(kind).copied().unwrap_or(0)
                + self.updated.get(kind).copied().unwrap_or(0)
                > 0
        };
        order.iter().copied().filter(changed).collect()
    }

    /// Whether anything was removed (`deletedEntities` of a notification).
    pub fn any_deleted(&self) -> bool {
        self.deleted.values().any(|n| *n > 0)
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &ServedWritten) {
        for (mine, theirs) in [
            (&mut self.created, &other.created),
            (&mut self.updated, &other.updated),
            (&mut self.unchanged, &other.unchanged),
            (&mut self.deleted, &other.deleted),
        ] {
            for (kind, n) in theirs {
                *mine.entry(*kind).or_default() += n;
            }
        }
    }
}
