//! Organisation elements: the organiser (huvudman), schools, school units and
//! what lies between them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::common::{Meta, Reference, SourceId};
use super::lenient::{lenient_date, lenient_string, null_as_empty};
use crate::codes::{OrganisationType, Ss12000SchoolType};

/// An organisation element: the organiser (huvudman), a school, a school unit…
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organisation {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// Name for display.
    #[serde(default)]
    pub display_name: String,
    /// The source's own short code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_code: Option<String>,
    /// What kind of element this is; school units are `Skolenhet`.
    pub organisation_type: OrganisationType,
    /// Organisation number of a legal person (municipality, company).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub organisation_number: Option<String>,
    /// The element above this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_organisation: Option<Reference>,
    /// Skolverket's school unit code (skolenhetskod).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub school_unit_code: Option<String>,
    /// School types offered.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub school_types: Vec<Ss12000SchoolType>,
    /// Municipality code, e.g. `0580`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub municipality_code: Option<String>,
    /// First day the element is valid (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day the element is valid (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
}

impl Organisation {
    /// Whether this element is a school unit. Some systems leave the type
    /// vague but do carry a school unit code, which only school units have.
    pub fn is_school_unit(&self) -> bool {
        self.organisation_type == OrganisationType::Skolenhet
            || self
                .school_unit_code
                .as_deref()
                .is_some_and(|c| !c.trim().is_empty())
    }
}
