//! Organisation elements: the organiser (huvudman), schools, school units and
//! what lies between them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::common::{Meta, Reference, SourceId};
use super::lenient::{lenient_date, lenient_string, null_as_empty};
use crate::codes::{OrganisationType, SourceSchoolType};
use crate::record::record;

record! {
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
        pub organisation_code: Option<String> [optional],
        /// What kind of element this is; school units are `Skolenhet`.
        pub organisation_type: OrganisationType,
        /// Organisation number of a legal person (municipality, company).
        pub organisation_number: Option<String> [optional, via "lenient_string"],
        /// The element above this one.
        pub parent_organisation: Option<Reference> [optional],
        /// Skolverket's school unit code (skolenhetskod).
        pub school_unit_code: Option<String> [optional, via "lenient_string"],
        /// School types offered.
        pub school_types: Vec<SourceSchoolType> [optional, via "null_as_empty"],
        /// Municipality code, e.g. `0580`.
        pub municipality_code: Option<String> [optional, via "lenient_string"],
        /// First day the element is valid (inclusive).
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day the element is valid (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
    }
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
