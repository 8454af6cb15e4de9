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

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize};

use crate::civic_no::{self, CivicNo, CivicNoError};
use crate::codes::{
    ActivityType, EmailType, GroupType, OrganisationType, PersonStatus, SecurityMarking,
    Ss12000SchoolType,
};

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

/// A reference to another entity (`ObjectReference` and its kin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// The referenced entity's id.
    pub id: SourceId,
    /// Display name, only present when the source expands reference names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Security marking carried by person references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_marking: Option<SecurityMarking>,
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

/// When an entity was created and last modified in the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Creation time.
    #[serde(
        default,
        deserialize_with = "lenient_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub created: Option<DateTime<FixedOffset>>,
    /// Last modification of the entity's own attributes; drives incremental reads.
    #[serde(
        default,
        deserialize_with = "lenient_datetime",
        skip_serializing_if = "Option::is_none"
    )]
    pub modified: Option<DateTime<FixedOffset>>,
}

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

/// A person's e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The address.
    pub value: String,
    /// What the address is for; the provtjänst takes `Skola elev` and `Skola personal`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub email_type: Option<EmailType>,
}

/// An identifier of the person in an external service (e.g. eduID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalIdentifier {
    /// The identifier.
    pub value: String,
    /// A URI naming the context, e.g. `https://eduid.se`.
    pub context: String,
    /// Whether the identifier is globally unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globally_unique: Option<bool>,
}

/// A person's enrolment at a school unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Enrolment {
    /// The school unit.
    pub enroled_at: Reference,
    /// School year (årskurs), 0–10.
    #[serde(
        default,
        deserialize_with = "lenient_u8",
        skip_serializing_if = "Option::is_none"
    )]
    pub school_year: Option<u8>,
    /// School type of the enrolment.
    pub school_type: Ss12000SchoolType,
    /// First day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
    /// The enrolment was cancelled before it started.
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub cancelled: Option<bool>,
    /// Education (programme) code, required by the provtjänst for GY.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub education_code: Option<String>,
    /// The programme, orientation or exit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<Reference>,
}

impl Enrolment {
    /// Whether the enrolment counts on `day`: not cancelled and within its dates.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.cancelled != Some(true) && within(self.start_date, self.end_date, day)
    }
}

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: String,
    /// Federated user names (EPPN).
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub edu_person_principal_names: Vec<String>,
    /// Identifiers in external services.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_identifiers: Vec<ExternalIdentifier>,
    /// Personal identity number, unparsed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civic_no: Option<RawCivicNo>,
    /// Security marking from the population register.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_marking: Option<SecurityMarking>,
    /// Whether the person is active, emigrated or deceased.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_status: Option<PersonStatus>,
    /// E-mail addresses.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub emails: Vec<Email>,
    /// Enrolments at school units.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub enrolments: Vec<Enrolment>,
}

/// A staff member's duty (tjänstgöring) at an organisation element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Duty {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// The person holding the duty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Reference>,
    /// Where the duty is held, usually a school unit.
    pub duty_at: Reference,
    /// The role as the source names it. Kept as text because vendors use
    /// their own vocabularies (SS 12000's six roles, Skolverket's seventeen,
    /// IST codes); the transform maps it to `Code_DutyRole`.
    #[serde(deserialize_with = "required_lenient_string")]
    pub duty_role: String,
    /// Staff signature (initials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// First day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
}

impl Duty {
    /// Whether the duty is held on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        within(self.start_date, self.end_date, day)
    }
}

/// A person's membership of a group over a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembership {
    /// The member.
    pub person: Reference,
    /// First day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
}

impl GroupMembership {
    /// Whether the membership holds on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        within(self.start_date, self.end_date, day)
    }
}

/// A group of persons: a class, a teaching group, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// The group's name.
    #[serde(default)]
    pub display_name: String,
    /// First day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
    /// What the group is for; the provtjänst takes `Klass` and `Undervisning`.
    pub group_type: GroupType,
    /// School type of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_type: Option<Ss12000SchoolType>,
    /// The organisation element (school unit) the group belongs to.
    pub organisation: Reference,
    /// Members with their periods.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_memberships: Vec<GroupMembership>,
}

/// A teacher's part in an activity (`DutyAssignment`).
///
/// SS 12000 references the teacher's duty; some systems reference the person
/// instead, so both are optional and the transform resolves whichever is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TeacherAssignment {
    /// The teacher's duty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty: Option<Reference>,
    /// The teacher as a person (non-standard, seen in the wild).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Reference>,
    /// First day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day (inclusive).
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
}

/// A subject given inline on an activity instead of through a syllabus
/// (non-standard, seen in the wild).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InlineSubject {
    /// Subject or course code, e.g. `GRGRMAT01` or a local `MA`.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub code: Option<String>,
    /// Subject name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Entities a source embedded in an activity when asked to `expand`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityEmbedded {
    /// The activity's syllabus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syllabus: Option<Syllabus>,
}

/// An activity: teaching that links groups and teachers with a syllabus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Source id.
    pub id: SourceId,
    /// Source timestamps.
    #[serde(default)]
    pub meta: Meta,
    /// Name for display.
    #[serde(default)]
    pub display_name: String,
    /// Kind of activity; the provtjänst takes `Undervisning` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_type: Option<ActivityType>,
    /// First day.
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_date: Option<NaiveDate>,
    /// Last day.
    #[serde(
        default,
        deserialize_with = "lenient_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_date: Option<NaiveDate>,
    /// The groups taught.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<Reference>,
    /// The teachers.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub teachers: Vec<TeacherAssignment>,
    /// The syllabus (subject or course).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syllabus: Option<Reference>,
    /// A subject given inline instead of a syllabus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<InlineSubject>,
    /// The school unit the activity belongs to.
    pub organisation: Reference,
    /// Parent activities; SS 12000 allows one or several, and the
    /// provtjänst uses exactly one: the national test activity.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub parent_activity: Vec<Reference>,
    /// Entities embedded by `expand`.
    #[serde(rename = "_embedded", default, skip_serializing_if = "Option::is_none")]
    pub embedded: Option<ActivityEmbedded>,
}

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

/// Ids of entities the source has deleted, per type (`/deletedEntities`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedEntityIds {
    /// Deleted organisations.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub organisations: Vec<SourceId>,
    /// Deleted persons.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub persons: Vec<SourceId>,
    /// Deleted duties.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub duties: Vec<SourceId>,
    /// Deleted groups.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<SourceId>,
    /// Deleted activities. Both SS 12000 specs spell the key `activitites`;
    /// implementations that fixed the typo send `activities`. Accept both, or
    /// activity deletions would be missed without a word.
    #[serde(
        default,
        alias = "activitites",
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub activities: Vec<SourceId>,
    /// Deleted syllabuses.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub syllabuses: Vec<SourceId>,
    /// Deleted programmes.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub programmes: Vec<SourceId>,
}

impl DeletedEntityIds {
    /// Whether nothing was deleted.
    pub fn is_empty(&self) -> bool {
        self.organisations.is_empty()
            && self.persons.is_empty()
            && self.duties.is_empty()
            && self.groups.is_empty()
            && self.activities.is_empty()
            && self.syllabuses.is_empty()
            && self.programmes.is_empty()
    }
}

/// The body of `GET /deletedEntities`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedEntities {
    /// Deleted ids per type.
    #[serde(default)]
    pub data: DeletedEntityIds,
    /// Token for the next page; `None` at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_token: Option<String>,
}

/// One page of a list endpoint: `data` plus the token of the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "T: Deserialize<'de>"))]
pub struct Page<T> {
    /// The entities of this page.
    #[serde(default = "Vec::new", deserialize_with = "null_as_empty")]
    pub data: Vec<T>,
    /// Token for the next page; `None` (or absent, or empty) at the end.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub page_token: Option<String>,
}

/// The SS 12000 entity types skolsync reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntityKind {
    /// Organisation elements, including school units.
    Organisation,
    /// Persons with enrolments.
    Person,
    /// Staff duties.
    Duty,
    /// Groups with memberships.
    Group,
    /// Activities with groups and teachers.
    Activity,
    /// Syllabuses.
    Syllabus,
    /// Programmes.
    Programme,
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

    /// The list endpoint, e.g. `persons`; also the key in `deletedEntities`.
    pub const fn endpoint(self) -> &'static str {
        match self {
            EntityKind::Organisation => "organisations",
            EntityKind::Person => "persons",
            EntityKind::Duty => "duties",
            EntityKind::Group => "groups",
            EntityKind::Activity => "activities",
            EntityKind::Syllabus => "syllabuses",
            EntityKind::Programme => "programmes",
        }
    }

    /// The SS 12000 type name, e.g. `Person` (as in `Code_ObjectType`).
    pub const fn type_name(self) -> &'static str {
        match self {
            EntityKind::Organisation => "Organisation",
            EntityKind::Person => "Person",
            EntityKind::Duty => "Duty",
            EntityKind::Group => "Group",
            EntityKind::Activity => "Activity",
            EntityKind::Syllabus => "Syllabus",
            EntityKind::Programme => "Programme",
        }
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name())
    }
}

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

/// Whether `day` falls within optional inclusive bounds.
fn within(start: Option<NaiveDate>, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start.is_none_or(|s| s <= day) && end.is_none_or(|e| day <= e)
}

// ---------------------------------------------------------------------------
// Lenient deserialisers for what real systems send.

/// A string that may arrive as a JSON number.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            S(String),
            U(u64),
            I(i64),
        }
        match Shape::deserialize(deserializer) {
            Ok(Shape::S(s)) => Ok(StringOrNumber(s)),
            Ok(Shape::U(n)) => Ok(StringOrNumber(n.to_string())),
            Ok(Shape::I(n)) => Ok(StringOrNumber(n.to_string())),
            Err(_) => Err(de::Error::custom("expected a string or a number")),
        }
    }
}

/// `null` and a missing list both mean "none".
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// An optional string where numbers are accepted and blank means absent.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<StringOrNumber>::deserialize(deserializer)?;
    Ok(raw
        .map(|s| s.0.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// A required string where numbers are accepted.
fn required_lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(StringOrNumber::deserialize(deserializer)?
        .0
        .trim()
        .to_string())
}

/// A page token where `""` means "no more pages" (seen in the wild).
fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.trim().is_empty()))
}

/// A small unsigned number that may arrive as a string (`"6"`) or be blank.
fn lenient_u8<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u8>, D::Error> {
    match Option::<StringOrNumber>::deserialize(deserializer)? {
        None => Ok(None),
        Some(StringOrNumber(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u8>()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("`{s}` is not a whole number 0–255")))
        }
    }
}

/// A boolean that may arrive as `"true"`/`"false"`.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        B(bool),
        S(String),
    }
    match Option::<Shape>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Shape::B(b)) => Ok(Some(b)),
        Some(Shape::S(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(de::Error::custom(format!("`{other}` is not true or false"))),
        },
    }
}

/// A date as `YYYY-MM-DD`; a date-time is cut to its date, blank is absent.
fn lenient_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<NaiveDate>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let date_part = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| de::Error::custom(format!("`{s}` is not a date (expected YYYY-MM-DD)")))
}

/// An RFC 3339 date-time; one without an offset is taken as UTC.
fn lenient_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(dt));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(naive.and_utc().fixed_offset()));
        }
    }
    Err(de::Error::custom(format!(
        "`{s}` is not a date-time (expected RFC 3339, e.g. 2024-08-15T10:30:00+02:00)"
    )))
}

/// One reference or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Reference>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(Reference),
        Many(Vec<Reference>),
    }
    match Option::<Shape>::deserialize(deserializer) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(Shape::One(r))) => Ok(vec![r]),
        Ok(Some(Shape::Many(v))) => Ok(v),
        Err(_) => Err(de::Error::custom(
            "expected a reference `{\"id\": …}` or a list of them",
        )),
    }
}

/// Everything a source yielded in one read: the transform's input.
///
/// Connectors stream entities page by page; the engine collects them here.
/// `deleted` holds what the source reported as removed since the last read
/// (incremental reads); a full read leaves it empty and absent entities are
/// found by the diff instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Organisation elements, including school units.
    #[serde(default)]
    pub organisations: Vec<Organisation>,
    /// Persons with enrolments.
    #[serde(default)]
    pub persons: Vec<Person>,
    /// Staff duties.
    #[serde(default)]
    pub duties: Vec<Duty>,
    /// Groups with memberships.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Activities.
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// Syllabuses.
    #[serde(default)]
    pub syllabuses: Vec<Syllabus>,
    /// Programmes.
    #[serde(default)]
    pub programmes: Vec<Programme>,
    /// Ids the source reported as deleted.
    #[serde(default)]
    pub deleted: DeletedEntityIds,
}

impl Snapshot {
    /// How many entities of `kind` it holds.
    pub fn count(&self, kind: EntityKind) -> usize {
        match kind {
            EntityKind::Organisation => self.organisations.len(),
            EntityKind::Person => self.persons.len(),
            EntityKind::Duty => self.duties.len(),
            EntityKind::Group => self.groups.len(),
            EntityKind::Activity => self.activities.len(),
            EntityKind::Syllabus => self.syllabuses.len(),
            EntityKind::Programme => self.programmes.len(),
        }
    }
}
