//! The desired provtjänst state, the plan that brings the service there, and
//! what became of each entity.
//!
//! The transform produces [`DesiredState`] and, diffed against what was sent
//! before, a [`Plan`]; the sink carries out the plan and reports one
//! [`Outcome`] per entity as it happens; the engine stores outcomes and
//! builds reports. These types are the contract between those stages.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::ObjectType;
use crate::provtjanst::{Activity, Duty, Group, LogEntry, Person};
use crate::record::record;

pub use crate::hash::content_hash;

/// The provtjänst resource types in the order they must be sent
/// (Person → Duty → Group → Activity); deletes go in reverse.
pub const SEND_ORDER: [ObjectType; 4] = [
    ObjectType::Person,
    ObjectType::Duty,
    ObjectType::Group,
    ObjectType::Activity,
];

record! {
    /// One entity of the desired state: the payload plus what the engine needs
    /// to track it.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Desired<T> {
        /// The provtjänst id (the payload's `id`).
        pub id: Uuid,
        /// The id of the record in the source it came from.
        pub source_id: String,
        /// [`content_hash`] of the payload, for change detection.
        pub hash: String,
        /// The school unit code it belongs to, for reports.
        pub school_unit: Option<String> [optional],
        /// The payload exactly as it will be sent.
        pub payload: T,
    }
}

/// Everything the provtjänst should hold for this pipeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Persons (students and staff).
    pub persons: Vec<Desired<Person>>,
    /// Staff duties.
    pub duties: Vec<Desired<Duty>>,
    /// Classes and teaching groups.
    pub groups: Vec<Desired<Group>>,
    /// Teaching activities tied to test activities.
    pub activities: Vec<Desired<Activity>>,
}

/// What was sent before, per entity: the previous run's view of the service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousState {
    /// Per type: provtjänst id → content hash last confirmed.
    pub hashes: BTreeMap<ObjectType, BTreeMap<Uuid, String>>,
    /// Per type: provtjänst id → the source id it was last sent from, where
    /// known. Lets a plan recognise an entity whose source record is still
    /// there but was rejected this time (kept stale, never deleted).
    #[serde(default)]
    pub source_ids: BTreeMap<ObjectType, BTreeMap<Uuid, String>>,
}

impl PreviousState {
    /// Whether the service holds `id` of `kind` (as far as the state knows).
    pub fn holds(&self, kind: ObjectType, id: &Uuid) -> bool {
        self.hashes.get(&kind).is_some_and(|m| m.contains_key(id))
    }

    /// How many entities of `kind` the service holds.
    pub fn count(&self, kind: ObjectType) -> usize {
        self.hashes.get(&kind).map_or(0, BTreeMap::len)
    }
}

/// A reference the transform left out of a kept entity (a group's member,
/// an activity's group or teacher) because the record it points to is in
/// the source but was rejected. If the service still holds that record's
/// entity (kept stale), the plan puts the reference back: a pupil with a
/// typo in their record stays in their class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LeftOutRef {
    /// The kept entity's type (`Group` or `Activity`).
    pub kind: ObjectType,
    /// The kept entity's source id.
    pub source_id: String,
    /// The type of the rejected record it referenced (`Person`, `Group`, `Duty`).
    pub member_kind: ObjectType,
    /// The rejected record's source id.
    pub member_source_id: String,
}

/// The changes for one resource type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypePlan<T> {
    /// New entities (sent with `POST …/bulk?updateIfExists=true`).
    pub create: Vec<Desired<T>>,
    /// Changed entities (sent, like creates, with `POST …/bulk?updateIfExists=true`).
    pub update: Vec<Desired<T>>,
    /// Entities to remove (ids for `POST …/bulk/delete`).
    pub delete: Vec<Uuid>,
    /// Entities that need nothing.
    pub unchanged: Vec<Uuid>,
    /// Entities the service holds whose source record is present but was
    /// rejected: left as last sent — neither updated nor deleted.
    #[serde(default)]
    pub kept_stale: Vec<Uuid>,
}

impl<T> Default for TypePlan<T> {
    fn default() -> Self {
        TypePlan {
            create: Vec::new(),
            update: Vec::new(),
            delete: Vec::new(),
            unchanged: Vec::new(),
            kept_stale: Vec::new(),
        }
    }
}

impl<T> TypePlan<T> {
    /// Whether nothing is to be sent for this type.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// The changes that bring the service to the desired state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Person changes.
    pub persons: TypePlan<Person>,
    /// Duty changes.
    pub duties: TypePlan<Duty>,
    /// Group changes.
    pub groups: TypePlan<Group>,
    /// Activity changes.
    pub activities: TypePlan<Activity>,
    /// Every school unit the desired state refers to (not only the changed
    /// entities'), by Skolverket's id: the pull method serves them as
    /// `Organisation`s. Push and file sinks do not use them.
    #[serde(default)]
    pub school_units: Vec<SchoolUnitRef>,
    /// The national test activities the desired activities take
    /// (`parentActivity`), by Skolverket's id with their names
    /// (`GRGRMAT01_6`): the upload workbook names them. Others do not use
    /// them.
    #[serde(default)]
    pub test_activities: Vec<TestActivityRef>,
    /// The whole desired state — unchanged entities included — for a sink
    /// that renders it rather than sending changes (the upload workbook,
    /// whose rows join persons, groups and duties); `None` unless the sink
    /// asks for it (the sink crate's `Sink::wants_desired_state`).
    #[serde(skip)]
    pub desired: Option<Arc<DesiredState>>,
}

/// A national test activity the desired state refers to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TestActivityRef {
    /// Skolverket's id (`uuid5(nil, name)`).
    pub id: Uuid,
    /// Its name as open-data gives it (`GRGRMAT01_6`, `MATMAT01a`).
    pub name: String,
}

/// A school unit the desired state refers to (enrolments, duties, groups,
/// activities), as open-data names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchoolUnitRef {
    /// Skolverket's id (`uuid5(nil, schoolUnitCode)`).
    pub id: Uuid,
    /// The school unit code (skolenhetskod).
    pub code: String,
    /// Its name (open-data's `displayName`, else the code).
    pub name: String,
}

impl Plan {
    /// Whether the plan sends nothing at all.
    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
            && self.duties.is_empty()
            && self.groups.is_empty()
            && self.activities.is_empty()
    }
}

/// What the sink did with an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Created (or upserted).
    Create,
    /// Updated.
    Update,
    /// Deleted.
    Delete,
}

/// How an entity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Accepted.
    Success,
    /// Accepted with warnings (kept, with the messages).
    Warning,
    /// Refused by the service (with its LogEntry), or failed for good after retries.
    Error,
    /// Not sent because an entity it depends on did not succeed.
    HeldBack,
}

impl OutcomeStatus {
    /// Whether the service holds the entity now.
    pub const fn is_accepted(self) -> bool {
        matches!(self, OutcomeStatus::Success | OutcomeStatus::Warning)
    }
}

/// The dependency that held an entity back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Blocker {
    /// Its type.
    pub kind: ObjectType,
    /// Its provtjänst id.
    pub id: Uuid,
}

record! {
    /// The final outcome of one entity of a plan, delivered as it happens.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Outcome {
        /// Resource type.
        pub kind: ObjectType,
        /// Provtjänst id.
        pub id: Uuid,
        /// What was attempted.
        pub action: Action,
        /// How it ended.
        pub status: OutcomeStatus,
        /// The desired entity's content hash (for creates and updates). When
        /// `left_out` is not empty, what was sent differs from it.
        pub hash: Option<String> [optional],
        /// For a group sent without some members (their Person was not
        /// accepted): those Persons' ids. The payload sent was
        /// [`group_without`](crate::hash::group_without) of the desired one; the
        /// engine decides which hash that confirms.
        pub left_out: Vec<Uuid> [optional],
        /// The service's errors and warnings, or the sink's own message.
        pub messages: Vec<LogEntry> [optional],
        /// A message of the sink itself (network failure, too large, deadline).
        pub detail: Option<String> [optional],
        /// What held it back, for `HeldBack`.
        pub blocked_by: Option<Blocker> [optional],
        /// The bulk job that carried it, if any.
        pub job_id: Option<Uuid> [optional],
        /// How many times it was sent.
        pub attempts: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hash_ignores_key_order_but_not_values() {
        let a = json!({"id": 1, "name": "x"});
        let b: serde_json::Value = serde_json::from_str(r#"{"name": "x", "id": 1}"#).unwrap();
        assert_eq!(content_hash(&a), content_hash(&b));
        assert_ne!(
            content_hash(&a),
            content_hash(&json!({"id": 1, "name": "y"}))
        );
        assert_eq!(content_hash(&a).len(), 64);
    }

    #[test]
    fn send_order_is_person_duty_group_activity() {
        assert_eq!(
            SEND_ORDER.map(|k| k.as_str()),
            ["Person", "Duty", "Group", "Activity"]
        );
    }
}
