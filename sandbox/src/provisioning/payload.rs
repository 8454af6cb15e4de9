//! The sandbox's own types of the four resources, written from the yaml's
//! `components/schemas` (Person, Duty, Group/GroupFragment, Activity and the
//! references they use), not from `skolsync_model::provtjanst`: a body that
//! passed [`schema`](super::schema) is held and answered in these, so what
//! the service stores and reads back is the spec's shape even if the
//! client's types drift.
//!
//! Code-list values are the strings the schema check let through (exactly
//! one of the yaml's `enum` values). Optional lists absent in a request are
//! held empty and left out of answers when empty (not documented which form
//! a read shows; chosen to match what was sent as closely as JSON allows).

use serde::{Deserialize, Serialize};
use skolsync_model::ObjectType;
use uuid::Uuid;

/// `ObjectReference` and every `*Reference` built on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// `id`, required.
    pub id: Uuid,
}

/// `Meta` (read-only): RFC 3339 timestamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Meta {
    /// `created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `modified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
}

/// `Person` (required: id, civicNo, givenName, familyName,
/// eduPersonPrincipalNames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Person {
    /// `id`.
    pub id: Uuid,
    /// `meta` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// `givenName`.
    pub given_name: String,
    /// `middleName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// `familyName`.
    pub family_name: String,
    /// `eduPersonPrincipalNames` (`maxItems: 1`, judged per entity).
    pub edu_person_principal_names: Vec<String>,
    /// `externalIdentifiers`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_identifiers: Vec<ExternalIdentifier>,
    /// `securityMarking` (`Code_SecurityMarking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_marking: Option<String>,
    /// `civicNo`.
    pub civic_no: CivicNo,
    /// `emails`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    /// `enrolments`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrolments: Vec<Enrolment>,
    /// `provisioningStatus` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<bool>,
}

/// `Person.civicNo` (required: value).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CivicNo {
    /// `value`.
    pub value: String,
    /// `nationality`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
}

impl std::fmt::Debug for CivicNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personnummer never in logs, not even debug ones.
        f.debug_struct("CivicNo")
            .field("value", &skolsync_model::civic_no::mask(&self.value))
            .field("nationality", &self.nationality)
            .finish()
    }
}

/// `Person.emails[]` (required: value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// `value`.
    pub value: String,
    /// `type` (`Code_EmailType`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// `Person.externalIdentifiers[]` (required: context, value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalIdentifier {
    /// `value`.
    pub value: String,
    /// `context`.
    pub context: String,
    /// `globallyUnique`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub globally_unique: Option<bool>,
}

/// `Enrolment` (required: enroledAt, schoolType).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Enrolment {
    /// `enroledAt`.
    pub enroled_at: Reference,
    /// `schoolYear` (1–10, judged per entity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<i64>,
    /// `schoolType` (`Code_SchoolType`).
    pub school_type: String,
    /// `cancelled` (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled: Option<bool>,
    /// `educationCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub education_code: Option<String>,
}

/// `Duty` (required: id, person, dutyAt, dutyRole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Duty {
    /// `id`.
    pub id: Uuid,
    /// `meta` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// `person`.
    pub person: Reference,
    /// `dutyAt`.
    pub duty_at: Reference,
    /// `dutyRole` (`Code_DutyRole`).
    pub duty_role: String,
    /// `provisioningStatus` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<bool>,
}

/// `Group` = `GroupFragment` (required: id, displayName, groupType,
/// schoolType, organisation) + `groupMemberships`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Group {
    /// `id`.
    pub id: Uuid,
    /// `meta` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// `displayName`.
    pub display_name: String,
    /// `groupType` (`Code_GroupType`).
    pub group_type: String,
    /// `schoolType` (`Code_SchoolType`).
    pub school_type: String,
    /// `organisation`.
    pub organisation: Reference,
    /// `provisioningStatus` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<bool>,
    /// `groupMemberships`.
    #[serde(default)]
    pub group_memberships: Vec<GroupMembership>,
}

/// `GroupMembership` (`person` not required by the yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMembership {
    /// `person`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Reference>,
}

/// `Activity` (required: id, displayName, activityType, groups,
/// organisation, parentActivity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Activity {
    /// `id`.
    pub id: Uuid,
    /// `meta` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// `displayName`.
    pub display_name: String,
    /// `activityType` (`Code_ActivityType`).
    pub activity_type: String,
    /// `groups`.
    pub groups: Vec<Reference>,
    /// `teachers`.
    #[serde(default)]
    pub teachers: Vec<DutyAssignment>,
    /// `organisation`.
    pub organisation: Reference,
    /// `parentActivity`.
    pub parent_activity: Reference,
    /// `provisioningStatus` (read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_status: Option<bool>,
}

/// `DutyAssignment` (`duty` not required by the yaml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutyAssignment {
    /// `duty`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty: Option<Reference>,
}

/// The body of `POST|PUT /x/bulk`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulk<T> {
    /// `data`.
    pub data: Vec<T>,
}

/// A `GET /x` page.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// `data`.
    pub data: Vec<T>,
    /// `pageToken`: `null` at the end.
    pub page_token: Option<String>,
}

/// The body of a `202 Accepted`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// `jobId`.
    pub job_id: Uuid,
    /// `message`.
    pub message: String,
}

/// What the four resources share.
pub trait Payload:
    Serialize + serde::de::DeserializeOwned + Clone + std::fmt::Debug + PartialEq
{
    /// Which resource.
    const KIND: ObjectType;
    /// Its path segment (`persons`, …).
    const PATH_SEGMENT: &'static str;
    /// Its id.
    fn id(&self) -> Uuid;
    /// Drops `meta` and `provisioningStatus` (read-only; ignored in requests).
    fn clear_read_only(&mut self);
}

macro_rules! payload {
    ($ty:ty, $kind:expr, $segment:literal) => {
        impl Payload for $ty {
            const KIND: ObjectType = $kind;
            const PATH_SEGMENT: &'static str = $segment;

            fn id(&self) -> Uuid {
                self.id
            }

            fn clear_read_only(&mut self) {
                self.meta = None;
                self.provisioning_status = None;
            }
        }
    };
}

payload!(Person, ObjectType::Person, "persons");
payload!(Duty, ObjectType::Duty, "duties");
payload!(Group, ObjectType::Group, "groups");
payload!(Activity, ObjectType::Activity, "activities");

/// The path segment of a resource type.
pub fn path_segment(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::Person => Person::PATH_SEGMENT,
        ObjectType::Duty => Duty::PATH_SEGMENT,
        ObjectType::Group => Group::PATH_SEGMENT,
        ObjectType::Activity => Activity::PATH_SEGMENT,
    }
}

/// The same resource in another type of the same JSON shape (the model's,
/// for the test-facing queries of the store), if it converts.
pub fn convert<From: Serialize, To: serde::de::DeserializeOwned>(value: &From) -> Option<To> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| tracing::warn!(error = %e, "provisioning: a stored resource did not convert"))
        .ok()
}
