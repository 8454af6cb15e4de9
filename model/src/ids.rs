//! Skolverket's identifiers for the things the provtjänst already knows.
//!
//! Skolverket derives the UUIDs of school units, test activities, programmes
//! and organisations as UUIDv5 in the nil namespace over a public code, so a
//! pipeline can compute them without a network call. Open-data then confirms
//! that the target exists and is active. Each kind of code has its own type so
//! a school unit code can never be passed where a test activity name belongs.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The UUIDv5 Skolverket uses for a code: nil namespace, the code's bytes.
pub fn skolverket_uuid(code: &str) -> Uuid {
    Uuid::new_v5(&Uuid::nil(), code.as_bytes())
}

macro_rules! code_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a code, trimming the whitespace exports tend to carry.
            pub fn new(code: impl AsRef<str>) -> Self {
                $name(code.as_ref().trim().to_string())
            }

            /// The code as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Skolverket's UUID for this code.
            pub fn skolverket_id(&self) -> Uuid {
                skolverket_uuid(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(code: &str) -> Self {
                $name::new(code)
            }
        }
    };
}

code_type! {
    /// A school unit code (skolenhetskod), e.g. `31279295`.
    SchoolUnitCode
}

code_type! {
    /// The display name of a national test activity, e.g. `GRGRMAT01_6`
    /// (subject + school year for GR/SP/SAM) or `MATMAT01a` (a GY course).
    TestActivityName
}

code_type! {
    /// An education (programme) code (studievägskod), e.g. `EKJURV`.
    EducationCode
}

code_type! {
    /// An organisation number (organisationsnummer), e.g. `5567044268`.
    OrganisationNumber
}

impl TestActivityName {
    /// The test activity for a GR/SP/SAM subject in a school year:
    /// `GRGRMAT01` + 6 → `GRGRMAT01_6`.
    pub fn for_subject_and_year(subject_code: &str, school_year: u8) -> Self {
        TestActivityName::new(format!("{}_{}", subject_code.trim(), school_year))
    }

    /// The test activity for a GY/VUXGY course: the course code itself.
    pub fn for_course(course_code: &str) -> Self {
        TestActivityName::new(course_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_skolverkets_published_examples() {
        let cases = [
            (
                SchoolUnitCode::new("31279295").skolverket_id(),
                "fb22448b-b724-5e53-8a2c-d8b339206901",
            ),
            (
                TestActivityName::new("GRGRMAT01_6").skolverket_id(),
                "b229977a-7bd3-58ad-b7a2-3fdc774840fd",
            ),
            (
                OrganisationNumber::new("5567044268").skolverket_id(),
                "657ae6a4-2978-5fbe-b357-ba353c0f03b5",
            ),
            (
                EducationCode::new("EKJURV").skolverket_id(),
                "f8bd4423-9693-51ed-a854-6e9984e6c2f7",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.to_string(), want);
        }
    }

    #[test]
    fn codes_are_trimmed_before_hashing() {
        assert_eq!(
            SchoolUnitCode::new(" 31279295\t")
                .skolverket_id()
                .to_string(),
            "fb22448b-b724-5e53-8a2c-d8b339206901"
        );
    }

    #[test]
    fn test_activity_names_are_built_from_subject_and_year_or_course() {
        assert_eq!(
            TestActivityName::for_subject_and_year("GRGRMAT01", 6).as_str(),
            "GRGRMAT01_6"
        );
        assert_eq!(
            TestActivityName::for_subject_and_year("GRGRMAT01", 6)
                .skolverket_id()
                .to_string(),
            "b229977a-7bd3-58ad-b7a2-3fdc774840fd"
        );
        assert_eq!(
            TestActivityName::for_course("MATMAT01a").as_str(),
            "MATMAT01a"
        );
    }
}
