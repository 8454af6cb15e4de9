//! The seven SS 12000 entity kinds skolsync reads, and what each is called
//! (endpoint, type name, provtjänst type).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares [`EntityKind`] and its names from one list: each kind's type name
/// is its variant's name (as in `Code_ObjectType`), written next to its list
/// endpoint, so the two names of a kind cannot drift apart.
macro_rules! entity_kinds {
    ($($(#[$doc:meta])* $kind:ident => $endpoint:literal,)+) => {
        /// The SS 12000 entity types skolsync reads.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(rename_all = "lowercase")]
        pub enum EntityKind {
            $($(#[$doc])* $kind,)+
        }

        impl EntityKind {
            /// The list endpoint, e.g. `persons`; also the key in `deletedEntities`.
            pub const fn endpoint(self) -> &'static str {
                match self {
                    $(EntityKind::$kind => $endpoint,)+
                }
            }

            /// The SS 12000 type name, e.g. `Person` (as in `Code_ObjectType`).
            pub const fn type_name(self) -> &'static str {
                match self {
                    $(EntityKind::$kind => stringify!($kind),)+
                }
            }
        }
    };
}

entity_kinds! {
    /// Organisation elements, including school units.
    Organisation => "organisations",
    /// Persons with enrolments.
    Person => "persons",
    /// Staff duties.
    Duty => "duties",
    /// Groups with memberships.
    Group => "groups",
    /// Activities with groups and teachers.
    Activity => "activities",
    /// Syllabuses.
    Syllabus => "syllabuses",
    /// Programmes.
    Programme => "programmes",
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
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}
