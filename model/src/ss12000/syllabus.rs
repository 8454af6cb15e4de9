//! What is taught: syllabuses (subjects and courses) and programmes.

use serde::{Deserialize, Serialize};

use super::common::{Meta, SourceId};
use super::lenient::{lenient_bool, lenient_string, lenient_u8};
use crate::codes::SourceSchoolType;
use crate::record::record;

record! {
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
        pub school_type: Option<SourceSchoolType> [optional],
        /// Subject code, e.g. `GRGRMAT01`.
        pub subject_code: Option<String> [optional, via "lenient_string"],
        /// Subject name.
        pub subject_name: Option<String> [optional],
        /// Short subject designation, e.g. `MA`.
        pub subject_designation: Option<String> [optional],
        /// Course code, e.g. `MATMAT01a`.
        pub course_code: Option<String> [optional, via "lenient_string"],
        /// Course name.
        pub course_name: Option<String> [optional],
        /// First school year the syllabus covers.
        pub start_school_year: Option<u8> [optional, via "lenient_u8"],
        /// Last school year the syllabus covers.
        pub end_school_year: Option<u8> [optional, via "lenient_u8"],
        /// Whether Skolverket defines the subject/course.
        pub official: Option<bool> [optional, via "lenient_bool"],
    }
}

record! {
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
        pub code: Option<String> [optional, via "lenient_string"],
        /// School type.
        pub school_type: Option<SourceSchoolType> [optional],
    }
}
