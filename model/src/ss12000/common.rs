//! What every SS 12000 entity is built from: the source's own ids
//! ([`SourceId`]), references to other entities ([`Reference`]) and source
//! timestamps ([`Meta`]).

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::lenient::{StringOrNumber, lenient_datetime};
use crate::codes::SecurityMarking;
use crate::record::record;

/// The id a source system gives an entity: a UUID in SS 12000 APIs, any
/// stable key in file exports.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SourceId(String);

impl SourceId {
    /// Wraps an id, trimming surrounding whitespace.
    pub fn new(id: impl AsRef<str>) -> Self {
        SourceId(id.as_ref().trim().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SourceId {
    fn from(id: &str) -> Self {
        SourceId::new(id)
    }
}

impl<'de> Deserialize<'de> for SourceId {
    /// Accepts a string or a number (some exports number their rows) and
    /// refuses an empty id, which could never be referenced.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = StringOrNumber::deserialize(deserializer)?.0;
        let id = SourceId::new(raw);
        if id.0.is_empty() {
            return Err(de::Error::custom("empty id"));
        }
        Ok(id)
    }
}

record! {
    /// A reference to another entity (`ObjectReference` and its kin).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Reference {
        /// The referenced entity's id.
        pub id: SourceId,
        /// Display name, only present when the source expands reference names.
        pub display_name: Option<String> [optional],
        /// Security marking carried by person references.
        pub security_marking: Option<SecurityMarking> [optional],
    }
}

impl Reference {
    /// A plain reference to `id`.
    pub fn to(id: impl AsRef<str>) -> Self {
        Reference {
            id: SourceId::new(id),
            display_name: None,
            security_marking: None,
        }
    }
}

record! {
    /// When an entity was created and last modified in the source.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Meta {
        /// Creation time.
        pub created: Option<DateTime<FixedOffset>> [optional, via "lenient_datetime"],
        /// Last modification of the entity's own attributes; drives incremental reads.
        pub modified: Option<DateTime<FixedOffset>> [optional, via "lenient_datetime"],
    }
}

/// Whether `day` falls within optional inclusive bounds.
pub(super) fn within(start: Option<NaiveDate>, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start.is_none_or(|s| s <= day) && end.is_none_or(|e| day <= e)
}
