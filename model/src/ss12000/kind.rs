//! The seven SS 12000 entity kinds skolsync reads, and what each is called
//! (endpoint, type name, provtjänst type).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The SS 12000 entity types skolsync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    /// Organisation elements, including school units.
    Organisation,
    /// Persons with enrolments.
    Person,
    /// Staff duties.
    Duty,
    /// Groups with memberships.
    Group,
    /// Activities with groups and teachers.
    Activity,
    /// Syllabuses.
    Syllabus,
    /// Programmes.
    Programme,
}

impl EntityKind {
    /// The SS 12000 kind a provtjänst type is provisioned from.
    pub fn of(kind: crate::codes::ObjectType) -> EntityKind {
        use crate::codes::ObjectType;
        match kind {
            ObjectType::Person => EntityKind::Person,
            ObjectType::Duty => EntityKind::Duty,
            ObjectType::Group => EntityKind::Group,
            ObjectType::Activity => EntityKind::Activity,
        }
    }

    /// The provtjänst type this kind is provisioned as, if it is.
    pub fn object_type(self) -> Option<crate::codes::ObjectType> {
        use crate::codes::ObjectType;
        match self {
            EntityKind::Person => Some(ObjectType::Person),
            EntityKind::Duty => Some(ObjectType::Duty),
            EntityKind::Group => Some(ObjectType::Group),
            EntityKind::Activity => Some(ObjectType::Activity),
            EntityKind::Organisation | EntityKind::Syllabus | EntityKind::Programme => None,
        }
    }

    /// Every kind, in the order a source is best read (referenced before referencing).
    pub const ALL: [EntityKind; 7] = [
        EntityKind::Organisation,
        EntityKind::Programme,
        EntityKind::Syllabus,
        EntityKind::Person,
        EntityKind::Duty,
        EntityKind::Group,
        EntityKind::Activity,
    ];

    /// The list endpoint, e.g. `persons`; also the key in `deletedEntities`.
    pub const fn endpoint(self) -> &'static str {
        match self {
            EntityKind::Organisation => "organisations",
            EntityKind::Person => "persons",
            EntityKind::Duty => "duties",
            EntityKind::Group => "groups",
            EntityKind::Activity => "activities",
            EntityKind::Syllabus => "syllabuses",
            EntityKind::Programme => "programmes",
        }
    }

    /// The SS 12000 type name, e.g. `Person` (as in `Code_ObjectType`).
    pub const fn type_name(self) -> &'static str {
        match self {
            EntityKind::Organisation => "Organisation",
            EntityKind::Person => "Person",
            EntityKind::Duty => "Duty",
            EntityKind::Group => "Group",
            EntityKind::Activity => "Activity",
            EntityKind::Syllabus => "Syllabus",
            EntityKind::Programme => "Programme",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}
