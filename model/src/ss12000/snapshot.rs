//! Everything a source yielded in one read.

use serde::{Deserialize, Serialize};

use super::envelope::DeletedEntityIds;
use super::kind::EntityKind;
use super::organisation::Organisation;
use super::person::Person;
use super::syllabus::{Programme, Syllabus};
use super::teaching::{Activity, Duty, Group};

/// Everything a source yielded in one read: the transform's input.
///
/// Connectors stream entities page by page; the engine collects them here.
/// `deleted` holds what the source reported as removed since the last read
/// (incremental reads); a full read leaves it empty and absent entities are
/// found by the diff instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
// Every part may be missing: a source without, say, programmes yields none.
#[serde(default)]
pub struct Snapshot {
    /// Organisation elements, including school units.
    pub organisations: Vec<Organisation>,
    /// Persons with enrolments.
    pub persons: Vec<Person>,
    /// Staff duties.
    pub duties: Vec<Duty>,
    /// Groups with memberships.
    pub groups: Vec<Group>,
    /// Activities.
    pub activities: Vec<Activity>,
    /// Syllabuses.
    pub syllabuses: Vec<Syllabus>,
    /// Programmes.
    pub programmes: Vec<Programme>,
    /// Ids the source reported as deleted.
    pub deleted: DeletedEntityIds,
}

impl Snapshot {
    /// How many entities of `kind` it holds.
    pub fn count(&self, kind: EntityKind) -> usize {
        crate::by_kind!(kind, &self, |list| list.len())
    }
}
