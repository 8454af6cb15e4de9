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
pub struct Snapshot {
    /// Organisation elements, including school units.
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    /// Persons with enrolments.
    #[serde(default)]
    pub persons: Vec<Person>,
    /// Staff duties.
    #[serde(default)]
    pub duties: Vec<Duty>,
    /// Groups with memberships.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Activities.
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Syllabuses.
    #[serde(default)]
    pub syllabuses: Vec<Syllabus>,
    /// Programmes.
    #[serde(default)]
    pub programmes: Vec<Programme>,
    /// Ids the source reported as deleted.
    #[serde(default)]
    pub deleted: DeletedEntityIds,
}

impl Snapshot {
    /// How many entities of `kind` it holds.
    pub fn count(&self, kind: EntityKind) -> usize {
        match kind {
            EntityKind::Organisation => self.organisations.len(),
            EntityKind::Person => self.persons.len(),
            EntityKind::Duty => self.duties.len(),
            EntityKind::Group => self.groups.len(),
            EntityKind::Activity => self.activities.len(),
            EntityKind::Syllabus => self.syllabuses.len(),
            EntityKind::Programme => self.programmes.len(),
        }
    }
}
