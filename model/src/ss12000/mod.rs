//! SS 12000 v2 entities as school systems deliver them.
//!
//! These types follow the SS 12000 v2 OpenAPI schemas (Organisation, Person,
//! Enrolment, Duty, Group, Activity, Syllabus, Programme, deletedEntities and
//! the paged list envelope) but read what real systems send, not only what the
//! standard says: unknown fields are ignored, dates may carry a time part,
//! school years may be strings, `parentActivity` may be one reference or a
//! list, teachers may be person references instead of duties and subjects may
//! come as `subject.code` instead of a syllabus. What cannot be understood is
//! an error that names the field and the value, produced per entity by
//! [`parse_entity`] so one bad record never spoils a whole page.
//!
//! Source ids are kept as opaque strings ([`SourceId`]): SS 12000 says UUID,
//! but CSV exports use their own keys, and the transform decides which
//! Skolverket id each entity gets.
//!
//! The types live in one file per domain and are re-exported here, so they
//! are named `ss12000::Person`, not `ss12000::person::Person`:
//! `common` (ids, references, timestamps), `organisation`, `person`
//! (with enrolments), `teaching` (duties, groups, activities), `syllabus`
//! (syllabuses and programmes), `envelope` (list pages, deleted ids), `kind`
//! ([`EntityKind`]), `snapshot` ([`Snapshot`]) and `lenient` (the
//! deserialisers behind the tolerant reading). This file holds what spans
//! them: the [`Entity`] trait and per-entity parsing.

mod common;
mod envelope;
mod kind;
mod lenient;
mod organisation;
mod person;
mod snapshot;
mod syllabus;
mod teaching;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use common::{Meta, Reference, SourceId};
pub use envelope::{DeletedEntities, DeletedEntityIds, Page};
pub use kind::EntityKind;
pub use organisation::Organisation;
pub use person::{Email, Enrolment, ExternalIdentifier, Person, RawCivicNo};
pub use snapshot::{Origins, Snapshot};
pub use syllabus::{Programme, Syllabus};
pub use teaching::{
    Activity, ActivityEmbedded, Duty, Group, GroupMembership, InlineSubject, TeacherAssignment,
};

use lenient::StringOrNumber;

/// What every SS 12000 entity type has in common.
pub trait Entity: DeserializeOwned + Serialize {
    /// Which type this is.
    const KIND: EntityKind;
    /// The source id.
    fn id(&self) -> &SourceId;
    /// Source timestamps.
    fn meta(&self) -> &Meta;
}

macro_rules! impl_entity {
    ($($ty:ident => $kind:ident),+ $(,)?) => {
        $(
            impl Entity for $ty {
                const KIND: EntityKind = EntityKind::$kind;
                fn id(&self) -> &SourceId {
                    &self.id
                }
                fn meta(&self) -> &Meta {
                    &self.meta
                }
            }
        )+
    };
}

impl_entity! {
    Organisation => Organisation,
    Person => Person,
    Duty => Duty,
    Group => Group,
    Activity => Activity,
    Syllabus => Syllabus,
    Programme => Programme,
}

/// An entity that could not be read, with the field path and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {}: field `{path}`: {message}", id.as_deref().unwrap_or("(no id)"))]
pub struct EntityParseError {
    /// The entity type being read.
    pub kind: EntityKind,
    /// The entity's id, when it could be found in the raw JSON.
    pub id: Option<String>,
    /// The path of the offending field, e.g. `enrolments[0].schoolType`.
    pub path: String,
    /// What was wrong, naming the value where it is safe to (never a personnummer).
    pub message: String,
}

/// Reads one entity from its JSON, reporting the exact field that failed.
///
/// Connectors call this per entity of a page so a bad record becomes a reject
/// and the rest of the page is still read.
pub fn parse_entity<T: Entity>(json: &[u8]) -> Result<T, EntityParseError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // A civicNo error must not echo the number: the civic_no module masks
        // its own errors, but serde's generic messages may quote input.
        let message = if path.starts_with("civicNo") {
            "not a readable personal identity number".to_string()
        } else {
            message
        };
        EntityParseError {
            kind: T::KIND,
            id: extract_id(json),
            path,
            message,
        }
    })
}

/// Best-effort id of a JSON object that failed to parse, for the reject.
fn extract_id(json: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: StringOrNumber,
    }
    serde_json::from_slice::<IdOnly>(json).ok().map(|v| v.id.0)
}
