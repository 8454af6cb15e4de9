//! Persons with their identity number, e-mail addresses, external
//! identifiers and enrolments.

use std::fmt;

use chrono::NaiveDate;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::common::{Meta, Reference, SourceId, within};
use super::lenient::{
    StringOrNumber, lenient_bool, lenient_date, lenient_string, lenient_u8, null_as_empty,
};
use crate::civic_no::{self, CivicNo, CivicNoError};
use crate::codes::{EmailType, PersonStatus, SecurityMarking, SourceSchoolType};
use crate::record::record;

/// A personal identity number exactly as the source sent it.
///
/// Kept unparsed so that an invalid number becomes a reject in the transform
/// (naming the person and the field) instead of a lost record. `Debug` masks
/// it; only [`RawCivicNo::parse`] gets at a usable value.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct RawCivicNo {
    /// The number in whatever form the source used.
    pub value: String,
    /// ISO 3166-1 alpha-2 country code; `SE` when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
}

impl RawCivicNo {
    /// Parses and validates the number (forms, date, Luhn digit).
    pub fn parse(&self) -> Result<CivicNo, CivicNoError> {
        CivicNo::parse(&self.value)
    }

    /// Whether the number is Swedish (the only kind the provtjänst takes).
    pub fn is_swedish(&self) -> bool {
        self.nationality
            .as_deref()
            .is_none_or(|n| n.trim().eq_ignore_ascii_case("SE"))
    }
}

impl fmt::Debug for RawCivicNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCivicNo")
            .field("value", &civic_no::mask(&self.value))
            .field("nationality", &self.nationality)
            .finish()
    }
}

impl<'de> Deserialize<'de> for RawCivicNo {
    /// SS 12000 sends `{"value": "…", "nationality": "SE"}`; some systems
    /// send the bare string.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Object {
                value: StringOrNumber,
                #[serde(default)]
                nationality: Option<String>,
            },
            Bare(StringOrNumber),
        }
        match Shape::deserialize(deserializer) {
            Ok(Shape::Object { value, nationality }) => Ok(RawCivicNo {
                value: value.0,
                nationality,
            }),
            Ok(Shape::Bare(value)) => Ok(RawCivicNo {
                value: value.0,
                nationality: None,
            }),
            Err(_) => Err(de::Error::custom(
                "civicNo must be a string or an object with `value`",
            )),
        }
    }
}

record! {
    /// A person's e-mail address.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Email {
        /// The address.
        pub value: String,
        /// What the address is for; the provtjänst takes `Skola elev` and `Skola personal`.
        #[serde(rename = "type")]
        pub email_type: Option<EmailType> [optional],
    }
}

record! {
    /// An identifier of the person in an external service (e.g. eduID).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ExternalIdentifier {
        /// The identifier.
        pub value: String,
        /// A URI naming the context, e.g. `https://eduid.se`.
        pub context: String,
        /// Whether the identifier is globally unique.
        pub globally_unique: Option<bool> [optional],
    }
}

record! {
    /// A person's enrolment at a school unit.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Enrolment {
        /// The school unit.
        pub enroled_at: Reference,
        /// School year (årskurs), 0–10.
        pub school_year: Option<u8> [optional, via "lenient_u8"],
        /// School type of the enrolment; a value in no list is kept as text,
        /// so only this enrolment is rejected, never the person.
        pub school_type: SourceSchoolType,
        /// First day (inclusive).
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// The enrolment was cancelled before it started.
        pub cancelled: Option<bool> [optional, via "lenient_bool"],
        /// Education (programme) code, required by the provtjänst for GY.
        pub education_code: Option<String> [optional, via "lenient_string"],
        /// The programme, orientation or exit.
        pub programme: Option<Reference> [optional],
    }
}

impl Enrolment {
    /// Whether the enrolment counts on `day`: not cancelled and within its dates.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.cancelled != Some(true) && within(self.start_date, self.end_date, day)
    }
}

record! {
    /// A person: pupil, staff member or both.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Person {
        /// Source id.
        pub id: SourceId,
        /// Source timestamps.
        #[serde(default)]
        pub meta: Meta,
        /// Given name.
        #[serde(default)]
        pub given_name: String,
        /// Middle name as registered by Skatteverket.
        pub middle_name: Option<String> [optional],
        /// Family name.
        #[serde(default)]
        pub family_name: String,
        /// Federated user names (EPPN).
        pub edu_person_principal_names: Vec<String> [optional, via "null_as_empty"],
        /// Identifiers in external services.
        pub external_identifiers: Vec<ExternalIdentifier> [optional, via "null_as_empty"],
        /// Personal identity number, unparsed.
        pub civic_no: Option<RawCivicNo> [optional],
        /// Security marking from the population register.
        pub security_marking: Option<SecurityMarking> [optional],
        /// Whether the person is active, emigrated or deceased.
        pub person_status: Option<PersonStatus> [optional],
        /// E-mail addresses.
        pub emails: Vec<Email> [optional, via "null_as_empty"],
        /// Enrolments at school units.
        pub enrolments: Vec<Enrolment> [optional, via "null_as_empty"],
    }
}
