//! What is taught: syllabuses (subjects and courses) and programmes.

use serde::{Deserialize, Serialize};

use super::common::{Meta, SourceId};
use super::lenient::{lenient_bool, lenient_string, lenient_u8};
use crate::codes::Ss12000SchoolType;

/// A syllabus: a subject or course with school type and years.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syllabus {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// School type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_type: Option<Ss12000SchoolType>,
    /// Subject code, e.g. `GRGRMAT01`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub subject_code: Option<String>,
    /// Subject name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_name: Option<String>,
    /// Short subject designation, e.g. `MA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_designation: Option<String>,
    /// Course code, e.g. `MATMAT01a`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub course_code: Option<String>,
    /// Course name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_name: Option<String>,
    /// First school year the syllabus covers.
    #[serde(
        default,
        deserialize_with = "lenient_u8",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_school_year: Option<u8>,
    /// Last school year the syllabus covers.
    #[serde(
        default,
        deserialize_with = "lenient_u8",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_school_year: Option<u8>,
    /// Whether Skolverket defines the subject/course.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub official: Option<bool>,
}

/// A programme (study path) with its education code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Programme {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// Programme name.
    #[serde(default)]
    pub name: String,
    /// Education code (studievägskod), e.g. `EKJURV`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    /// School type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_type: Option<Ss12000SchoolType>,
}
