//! The profile rules: what the provtjänst accepts of each resource, checked
//! per entity when a job settles, against the store as it is at that moment.
//!
//! Each resource type implements [`Resource`]: where it lives in the store,
//! which indexes it feeds, its rules, what blocks its deletion and how its
//! read-only `provisioningStatus` is derived. Interpretations where the spec
//! leaves room are written at the rule.
//!
//! This file holds the trait and what the resources share; [`person`]
//! holds the rules of persons and duties (a duty makes its person staff),
//! [`teaching`] those of groups and activities.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::provisioning::envelope::LogEntry;
use skolsync_model::ObjectType;

use super::payload::{Meta, Payload};
use uuid::Uuid;

use super::messages::{self as msg, Entry};
use super::schema::Shape;
use super::store::{Mode, Table, Tables, Work};
use crate::config::FaultSwitch;
use crate::world::{Catalogue, CatalogueIndex};

mod catalogue;
mod person;
mod teaching;

pub use catalogue::Judge;

/// What the rules look things up in: Skolverket's catalogue and the faults.
#[derive(Debug)]
pub struct Rules {
    /// What Skolverket's open-data publishes.
    pub catalogue: Arc<Catalogue>,
    /// Hash indexes of the school units and test activities Skolverket knows.
    pub index: CatalogueIndex,
    /// Injected faults (TemporaryError share).
    pub faults: Arc<FaultSwitch>,
}

impl Rules {
    /// Rules over `catalogue`.
    pub fn new(catalogue: Arc<Catalogue>, faults: Arc<FaultSwitch>) -> Self {
        Rules {
            index: catalogue.index(),
            catalogue,
            faults,
        }
    }
}

/// The outcome of the rules for one entity: the entity as it will be stored
/// (a group loses members that do not exist), errors and warnings.
#[derive(Debug)]
pub struct Verdict<T> {
    /// What to store if there are no errors.
    pub entity: T,
    /// Reasons to refuse the entity.
    pub errors: Vec<LogEntry>,
    /// Problems that do not stop it.
    pub warnings: Vec<LogEntry>,
}

/// A resource type the emulator stores and checks.
pub trait Resource: Payload + Send + Sync + 'static {
    /// Its table.
    fn table(t: &Tables) -> &Table<Self>;
    /// Its table, mutably.
    fn table_mut(t: &mut Tables) -> &mut Table<Self>;
    /// Adds the entity to the secondary indexes (before it is stored).
    fn link(_t: &mut Tables, _e: &Self) {}
    /// Removes the entity from the secondary indexes (after it left the table).
    fn unlink(_t: &mut Tables, _e: &Self) {}
    /// Applies the profile rules, for the huvudman `judge` names.
    fn check(e: Self, t: &Tables, judge: &Judge<'_>) -> Verdict<Self>;
    /// Why the resource cannot be deleted now (empty: it can).
    fn blockers(_t: &Tables, _id: Uuid) -> Vec<LogEntry> {
        Vec::new()
    }
    /// The read-only `provisioningStatus`.
    fn provisioned(t: &Tables, e: &Self) -> bool;
    /// Sets the read-only fields for an answer.
    fn set_read_only(&mut self, meta: Meta, provisioned: bool);
    /// The attributes `GET /x` lists (all, except for persons).
    fn list_form(self) -> Self {
        self
    }
    /// Its schema, as the sandbox reads the spec ([`crate::provisioning::schema`]).
    const SCHEMA: &'static Shape;
    /// The job work for a bulk call with these entities.
    fn work(items: Vec<Self>, mode: Mode) -> Work;
}

/// The parts of a [`Resource`] implementation that differ only in names:
/// its table, its job work variant, and the read-only fields every
/// resource has (`meta`, `provisioningStatus`).
macro_rules! stored_in {
    ($table:ident, $work:ident) => {
        fn table(t: &Tables) -> &Table<Self> {
            &t.$table
        }

        fn table_mut(t: &mut Tables) -> &mut Table<Self> {
            &mut t.$table
        }

        fn set_read_only(&mut self, meta: Meta, provisioned: bool) {
            self.meta = Some(meta);
            self.provisioning_status = Some(provisioned);
        }

        fn work(items: Vec<Self>, mode: Mode) -> Work {
            Work::$work(items, mode)
        }
    };
}
use stored_in;

pub(super) fn resource_error(
    kind: ObjectType,
    id: Uuid,
    code: &str,
    status: u16,
    message_type: &str,
    message: impl Into<String>,
) -> Entry {
    Entry::new(code, status, message_type, message).resource(kind, id)
}

pub(super) fn unit_unknown(
    kind: ObjectType,
    id: Uuid,
    code: &str,
    attribute: &str,
    unit: Uuid,
) -> LogEntry {
    resource_error(
        kind,
        id,
        code,
        400,
        "Ogiltigt värde",
        format!(
            "Skolenheten <{attribute}> finns inte i provtjänsten. Värdet ska vara ett UUID som är genererat av Skolverket, se open-data API."
        ),
    )
    .attribute(attribute, unit.to_string())
    .build()
}

pub(super) fn remove_from(index: &mut HashMap<Uuid, BTreeSet<Uuid>>, key: Uuid, value: Uuid) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(&value);
        if set.is_empty() {
            index.remove(&key);
        }
    }
}

pub(super) fn referenced_by_activities(
    kind: ObjectType,
    id: Uuid,
    activities: Option<&BTreeSet<Uuid>>,
) -> Vec<LogEntry> {
    let count = activities.map_or(0, |a| a.len());
    if count == 0 {
        return Vec::new();
    }
    vec![
        resource_error(kind, id, msg::STILL_REFERENCED, 409, "Ogiltigt värde", format!(
            "{kind} kan inte tas bort eftersom {count} aktivitet(er) refererar till den. Ta bort eller uppdatera aktiviteterna först."
        ))
        .attribute("id", id.to_string())
        .build(),
    ]
}
