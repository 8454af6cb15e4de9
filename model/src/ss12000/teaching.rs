//! Teaching: staff duties, groups with their memberships, and activities
//! that tie groups and teachers to a syllabus.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::common::{Meta, Reference, SourceId, within};
use super::lenient::{
    lenient_date, lenient_string, null_as_empty, one_or_many, required_lenient_string,
};
use super::syllabus::Syllabus;
use crate::codes::{ActivityType, GroupType, SourceSchoolType};
use crate::record::record;

record! {
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
        pub person: Option<Reference> [optional],
        /// Where the duty is held, usually a school unit.
        pub duty_at: Reference,
        /// The role as the source names it. Kept as text because vendors use
        /// their own vocabularies (SS 12000's six roles, Skolverket's seventeen,
        /// IST codes); the transform maps it to `Code_DutyRole`.
        #[serde(deserialize_with = "required_lenient_string")]
        pub duty_role: String,
        /// Staff signature (initials).
        pub signature: Option<String> [optional],
        /// First day (inclusive).
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
    }
}

impl Duty {
    /// Whether the duty is held on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        within(self.start_date, self.end_date, day)
    }
}

record! {
    /// A person's membership of a group over a period.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct GroupMembership {
        /// The member.
        pub person: Reference,
        /// First day (inclusive).
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
    }
}

impl GroupMembership {
    /// Whether the membership holds on `day`.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        within(self.start_date, self.end_date, day)
    }
}

record! {
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
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// What the group is for; the provtjänst takes `Klass` and `Undervisning`.
        pub group_type: GroupType,
        /// School type of the group.
        pub school_type: Option<SourceSchoolType> [optional],
        /// The organisation element (school unit) the group belongs to.
        pub organisation: Reference,
        /// Members with their periods.
        pub group_memberships: Vec<GroupMembership> [optional, via "null_as_empty"],
    }
}

record! {
    /// A teacher's part in an activity (`DutyAssignment`).
    ///
    /// SS 12000 references the teacher's duty; some systems reference the person
    /// instead, so both are optional and the transform resolves whichever is set.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TeacherAssignment {
        /// The teacher's duty.
        pub duty: Option<Reference> [optional],
        /// The teacher as a person (non-standard, seen in the wild).
        pub person: Option<Reference> [optional],
        /// First day (inclusive).
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day (inclusive).
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
    }
}

record! {
    /// A subject given inline on an activity instead of through a syllabus
    /// (non-standard, seen in the wild).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct InlineSubject {
        /// Subject or course code, e.g. `GRGRMAT01` or a local `MA`.
        pub code: Option<String> [optional, via "lenient_string"],
        /// Subject name.
        pub name: Option<String> [optional],
    }
}

record! {
    /// Entities a source embedded in an activity when asked to `expand`.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ActivityEmbedded {
        /// The activity's syllabus.
        pub syllabus: Option<Syllabus> [optional],
    }
}

record! {
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
        pub activity_type: Option<ActivityType> [optional],
        /// First day.
        pub start_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// Last day.
        pub end_date: Option<NaiveDate> [optional, via "lenient_date"],
        /// The groups taught.
        pub groups: Vec<Reference> [optional, via "null_as_empty"],
        /// The teachers.
        pub teachers: Vec<TeacherAssignment> [optional, via "null_as_empty"],
        /// The syllabus (subject or course).
        pub syllabus: Option<Reference> [optional],
        /// A subject given inline instead of a syllabus.
        pub subject: Option<InlineSubject> [optional],
        /// The school unit the activity belongs to.
        pub organisation: Reference,
        /// Parent activities; SS 12000 allows one or several, and the
        /// provtjänst uses exactly one: the national test activity.
        pub parent_activity: Vec<Reference> [optional, via "one_or_many"],
        /// Entities embedded by `expand`.
        #[serde(rename = "_embedded")]
        pub embedded: Option<ActivityEmbedded> [optional],
    }
}
