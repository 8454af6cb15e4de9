//! Teaching: staff duties, groups with their memberships, and activities
//! that tie groups and teachers to a syllabus.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::common::{Meta, Reference, SourceId, within};
use super::lenient::{
    lenient_date, lenient_string, null_as_empty, one_or_many, required_lenient_string,
};
use super::syllabus::Syllabus;
use crate::codes::{ActivityType, GroupType, Ss12000SchoolType};

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
