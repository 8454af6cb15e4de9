//! The envelopes of SS 12000 list endpoints: a page of entities with the
//! token of the next page, and the ids of `/deletedEntities`.

use serde::{Deserialize, Serialize};

use super::common::SourceId;
use super::kind::EntityKind;
use super::lenient::{empty_as_none, null_as_empty};
use crate::record::record;

record! {
    /// Ids of entities the source has deleted, per type (`/deletedEntities`).
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DeletedEntityIds {
        /// Deleted organisations.
        pub organisations: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted persons.
        pub persons: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted duties.
        pub duties: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted groups.
        pub groups: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted activities. Both SS 12000 specs spell the key `activitites`;
        /// implementations that fixed the typo send `activities`. Accept both, or
        /// activity deletions would be missed without a word.
        #[serde(alias = "activitites")]
        pub activities: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted syllabuses.
        pub syllabuses: Vec<SourceId> [optional, via "null_as_empty"],
        /// Deleted programmes.
        pub programmes: Vec<SourceId> [optional, via "null_as_empty"],
    }
}

impl DeletedEntityIds {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        EntityKind::ALL
            .into_iter()
            .all(|kind| crate::by_kind!(kind, &self, |ids| ids.is_empty()))
    }
}

record! {
    /// The body of `GET /deletedEntities`.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct DeletedEntities {
        /// Deleted ids per type.
        #[serde(default)]
        pub data: DeletedEntityIds,
        /// Token for the next page; `None` at the end.
        pub page_token: Option<String> [optional],
    }
}

record! {
    /// One page of a list endpoint: `data` plus the token of the next page.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
    pub struct Page<T> {
        /// The entities of this page.
        #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
        pub data: Vec<T>,
        /// Token for the next page; `None` (or absent, or empty) at the end.
        pub page_token: Option<String> [optional, via "empty_as_none"],
    }
}
