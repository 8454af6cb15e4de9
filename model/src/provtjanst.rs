//! Payloads of Skolverket's Provisioning API (provtjänst, v1.3.x).
//!
//! These types mirror `components.schemas`, `components.responses` and the
//! request bodies of the API's OpenAPI spec field for field: JSON names are the
//! spec's (`civicNo`, `enroledAt`, `timeOfOccurance`), code lists are the
//! Swedish values from [`crate::codes`], required fields are not `Option`.
//! What we send never contains `null`: absent optional values and empty
//! optional lists are left out. What we read back is parsed tolerantly:
//! unknown fields are ignored, missing optional lists become empty, and a
//! few fields the service fills inconsistently (log entry ids, attribute
//! values) accept numbers as well as strings.
//!
//! The profile's extra rules (exactly one eduPersonPrincipalName, separate
//! EPPNs for pupil and staff roles, only `Klass`/`Undervisning` groups, only
//! `Undervisning` activities, Skolverket-generated UUIDs for school units and
//! test activities, ...) live in the spec's tags. They are enforced by the
//! transform stage and by the sandbox, not by these types, so that payloads
//! read back from the service always deserialize.

use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::{
    ActivityType, DutyRole, EmailType, GroupType, JobEntityStatus, ObjectType, SchoolType,
    SecurityMarking, SeverityLevel,
};
use crate::record::record;

/// The order in which the service wants resources provisioned: persons
/// first, then duties, groups and finally activities, each kind only after
/// the kinds it references have been accepted.
pub const PROVISIONING_ORDER: [ObjectType; 4] = [
    ObjectType::Person,
    ObjectType::Duty,
    ObjectType::Group,
    ObjectType::Activity,
];

/// The largest `limit` a paged list (`GET /persons` etc.) accepts.
pub const PAGE_LIMIT_MAX: u8 = 100;

/// The page size the service uses when `limit` is left out.
pub const PAGE_LIMIT_DEFAULT: u8 = 50;

/// The URL path segment of a resource kind: `persons`, `duties`, `groups`,
/// `activities` (as in `/persons/bulk`, `/duties/bulk/jobs/{id}`).
pub const fn path_segment(kind: ObjectType) -> &'static str {
    match kind {
        ObjectType::Person => "persons",
        ObjectType::Duty => "duties",
        ObjectType::Group => "groups",
        ObjectType::Activity => "activities",
    }
}

/// A resource the service provisions: [`Person`], [`Duty`], [`Group`] or
/// [`Activity`].
pub trait Payload: Serialize + DeserializeOwned + Clone + fmt::Debug + PartialEq {
    /// Which kind of resource this is.
    const KIND: ObjectType;

    /// The URL path segment of this kind of resource.
    const PATH_SEGMENT: &'static str = path_segment(Self::KIND);

    /// The resource's identifier.
    fn id(&self) -> Uuid;

    /// The read-only `meta` the service returns, if any.
    fn meta(&self) -> Option<&Meta>;

    /// The read-only `provisioningStatus` the service returns, if any.
    fn provisioning_status(&self) -> Option<bool>;

    /// Drops the read-only fields (`meta`, `provisioningStatus`), e.g. before
    /// sending back a resource that was read from the service.
    fn clear_read_only(&mut self);

    /// The JSON sent to the service for this resource: its serialization,
    /// except where a type must say "none left" explicitly (see
    /// [`Person::to_wire`]). The content hash is of the serialization, not
    /// of this.
    fn to_wire(&self) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(self)
    }
}

macro_rules! impl_payload {
    ($ty:ty, $kind:expr $(, $wire:ident)?) => {
        impl Payload for $ty {
            const KIND: ObjectType = $kind;

            $(
                fn to_wire(&self) -> serde_json::Result<Vec<u8>> {
                    self.$wire()
                }
            )?

            fn id(&self) -> Uuid {
                self.id
            }

            fn meta(&self) -> Option<&Meta> {
                self.meta.as_ref()
            }

            fn provisioning_status(&self) -> Option<bool> {
                self.provisioning_status
            }

            fn clear_read_only(&mut self) {
                self.meta = None;
                self.provisioning_status = None;
            }
        }
    };
}

impl_payload!(Person, ObjectType::Person, to_wire);
impl_payload!(Duty, ObjectType::Duty);
impl_payload!(Group, ObjectType::Group);
impl_payload!(Activity, ObjectType::Activity);

/// A reference to another resource by its identifier (`ObjectReference`, and
/// the `PersonReference`, `DutyReference`, `GroupReference`,
/// `ActivityReference`, `OrganisationReference` and `SchoolUnitReference`
/// built on it). School units and test activities are referenced by the
/// UUIDs Skolverket generates (see [`crate::ids`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectReference {
    /// The referenced resource's identifier.
    pub id: Uuid,
}

impl ObjectReference {
    /// A reference to the resource with this identifier.
    pub const fn new(id: Uuid) -> Self {
        ObjectReference { id }
    }
}

impl From<Uuid> for ObjectReference {
    fn from(id: Uuid) -> Self {
        ObjectReference { id }
    }
}

record! {
    /// When the service created and last modified a resource (`Meta`, read-only).
    ///
    /// Timestamps are RFC 3339 strings such as `2015-12-12T10:30:00.123+02:00`,
    /// kept as text so a differently formatted timestamp never fails a payload.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Meta {
        /// When the resource was created.
        pub created: Option<String> [optional],
        /// When an attribute that belongs directly to the resource last changed.
        pub modified: Option<String> [optional],
    }
}

record! {
    /// A person: pupil or staff member (`Person`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Person {
        /// The object identifier, shared by all systems the person passes
        /// through and persistent between processes.
        pub id: Uuid,
        /// Created and modified timestamps (read-only, set by the service).
        pub meta: Option<Meta> [optional],
        /// Given name.
        pub given_name: String,
        /// Middle name as registered with Skatteverket.
        pub middle_name: Option<String> [optional],
        /// Family name.
        pub family_name: String,
        /// The federated user names (eduPersonPrincipalName, `local@domain`)
        /// that identify the user across e-services. The profile takes exactly
        /// one; always serialized because the spec requires it.
        pub edu_person_principal_names: Vec<String>,
        /// Identifiers of the person at external services; the provtjänst only
        /// takes a staff member's eduID EPPN (context `https://eduid.se`).
        pub external_identifiers: Vec<ExternalIdentifier> [optional],
        /// Security marking as recorded in the population register.
        pub security_marking: Option<SecurityMarking> [optional],
        /// The Swedish personal identity number (personnummer, samordningsnummer
        /// or temporary number).
        pub civic_no: CivicNoValue,
        /// The person's e-mail addresses; required for staff. Only "Skola elev"
        /// and "Skola personal" are used by the provtjänst.
        pub emails: Vec<Email> [optional],
        /// The person's enrolments (placements at school units).
        pub enrolments: Vec<Enrolment> [optional],
        /// Whether the person has an account in the test platform (read-only).
        /// A person needs an enrolment or a duty to get one.
        pub provisioning_status: Option<bool> [optional],
    }
}

/// The lists of a Person that are always sent, even empty.
const PERSON_LISTS_SENT: [&str; 3] = ["enrolments", "emails", "externalIdentifiers"];

impl Person {
    /// The JSON sent for this person: its serialization with `enrolments`,
    /// `emails` and `externalIdentifiers` present even when empty, so an
    /// update says "none left" (a pupil who left every school unit, a
    /// staff member whose eduID was withdrawn). Not documented: whether the
    /// service keeps a list an update leaves out; chosen: never leave the
    /// answer to it, as groups (`groupMemberships`) and activities
    /// (`teachers`) already do. The serialization itself leaves empty lists
    /// out, so the content hash of a person is what it always was, and a
    /// person read back with `[]` hashes as one read back without the list.
    pub fn to_wire(&self) -> serde_json::Result<Vec<u8>> {
        let mut json = serde_json::to_vec(self)?;
        let missing = [
            self.enrolments.is_empty(),
            self.emails.is_empty(),
            self.external_identifiers.is_empty(),
        ];
        // The serialization is one object: add each missing list before its
        // closing brace (`id` always precedes, so a comma is right).
        if json.last() == Some(&b'}') {
            json.pop();
            for (key, missing) in PERSON_LISTS_SENT.iter().zip(missing) {
                if missing {
                    json.extend_from_slice(b",\"");
                    json.extend_from_slice(key.as_bytes());
                    json.extend_from_slice(b"\":[]");
                }
            }
            json.push(b'}');
        }
        Ok(json)
    }
}

record! {
    /// A person's civic number as the payload carries it (`Person.civicNo`).
    ///
    /// The value is plain text, not a validated [`crate::civic_no`] type, so
    /// that whatever the service returns deserializes. `Debug` masks it.
    #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CivicNoValue {
        /// Twelve characters without separators: `200901272385` (personnummer),
        /// day + 60 for a samordningsnummer (`200901872385`), or `ÅÅÅÅMMDDTFxx`
        /// for a temporary number (`20090127TF20`). A JSON number is accepted
        /// on input and kept as text.
        #[serde(deserialize_with = "lenient_string")]
        pub value: String,
        /// ISO 3166-1 alpha-2 country code of the issuing country; the
        /// provtjänst only takes `SE` (the spec's default).
        pub nationality: Option<String> [optional],
    }
}

impl CivicNoValue {
    /// A Swedish civic number (`nationality: "SE"`).
    pub fn swedish(value: impl Into<String>) -> Self {
        CivicNoValue {
            value: value.into(),
            nationality: Some("SE".to_string()),
        }
    }
}

impl fmt::Debug for CivicNoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CivicNoValue")
            .field("value", &Masked(&self.value))
            .field("nationality", &self.nationality)
            .finish()
    }
}

/// Shows a civic number as its first 8 characters (the date of birth) and
/// `-****`. Values shorter than 12 characters (e.g. the 10-digit form,
/// whose first 8 characters would include serial digits) show only `****`.
struct Masked<'a>(&'a str);

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.chars().count() >= 12 {
            let head: String = self.0.chars().take(8).collect();
            write!(f, "\"{head}-****\"")
        } else {
            f.write_str("\"****\"")
        }
    }
}

record! {
    /// One e-mail address of a person (`Email`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Email {
        /// The address.
        pub value: String,
        /// What the address is used for (`Code_EmailType`).
        #[serde(rename = "type")]
        pub email_type: Option<EmailType> [optional],
    }
}

record! {
    /// A person's identifier at an external service (`externalIdentifier`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ExternalIdentifier {
        /// The identifier; for the provtjänst a staff member's eduID EPPN,
        /// e.g. `movip-eiral@eduid.se`.
        pub value: String,
        /// A URI naming the context the identifier belongs to; for the
        /// provtjänst always `https://eduid.se`.
        pub context: String,
        /// Whether the identifier is globally unique (the spec's default is
        /// `true`).
        pub globally_unique: Option<bool> [optional],
    }
}

record! {
    /// A pupil's enrolment at a school unit (`Enrolment`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Enrolment {
        /// The school unit, by the UUID Skolverket generates for it.
        pub enroled_at: ObjectReference,
        /// The school year (årskurs, 1–10) the pupil follows; required for GR,
        /// SP and SAM.
        pub school_year: Option<u8> [optional],
        /// The school type (skolform) of the enrolment.
        pub school_type: SchoolType,
        /// Whether the enrolment was cancelled in advance (the spec's default is
        /// `false`).
        pub cancelled: Option<bool> [optional],
        /// The programme code (studievägskod) of the enrolment, e.g. `RLKOK11`;
        /// required for GY.
        pub education_code: Option<String> [optional],
    }
}

record! {
    /// A staff member's duty at a school unit (`Duty`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Duty {
        /// The duty's identifier.
        pub id: Uuid,
        /// Created and modified timestamps (read-only, set by the service).
        pub meta: Option<Meta> [optional],
        /// The person who holds the duty.
        pub person: ObjectReference,
        /// The school unit, by the UUID Skolverket generates for it.
        pub duty_at: ObjectReference,
        /// The role the duty is for, e.g. teacher or principal.
        pub duty_role: DutyRole,
        /// Whether the duty exists in the test platform (read-only).
        pub provisioning_status: Option<bool> [optional],
    }
}

record! {
    /// A group of pupils, possibly still empty (`Group` = `GroupFragment` plus
    /// memberships). Its link to subjects/courses and teachers is made by an
    /// [`Activity`].
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Group {
        /// The group's identifier.
        pub id: Uuid,
        /// Created and modified timestamps (read-only, set by the service).
        pub meta: Option<Meta> [optional],
        /// The group's name.
        pub display_name: String,
        /// What the group is used for; the profile takes `Klass` and
        /// `Undervisning`.
        pub group_type: GroupType,
        /// The school type of the group.
        pub school_type: SchoolType,
        /// The school unit the group belongs to.
        pub organisation: ObjectReference,
        /// Whether the group exists in the test platform (read-only). A group of
        /// type `Undervisning` only gets there through an activity.
        pub provisioning_status: Option<bool> [optional],
        /// The persons who are members of the group. Always sent, even empty:
        /// an update must be able to say "no members left", and an absent list
        /// does not say that.
        #[serde(default)]
        pub group_memberships: Vec<GroupMembership>,
    }
}

/// A person's membership of a group (`GroupMembership`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembership {
    /// The member.
    pub person: ObjectReference,
}

record! {
    /// Teaching that ties groups and teachers to a national test activity
    /// (`Activity`).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Activity {
        /// The activity's identifier.
        pub id: Uuid,
        /// Created and modified timestamps (read-only, set by the service).
        pub meta: Option<Meta> [optional],
        /// The activity's name, for display.
        pub display_name: String,
        /// The kind of activity; the profile takes only `Undervisning`.
        pub activity_type: ActivityType,
        /// The groups taking part (at least one).
        pub groups: Vec<ObjectReference>,
        /// The teachers (duties) of the activity. The service takes every
        /// teacher to teach every group of the activity, and grants access to
        /// those pupils' results accordingly. Always sent, even empty, so an
        /// update can remove the last teacher.
        #[serde(default)]
        pub teachers: Vec<DutyAssignment>,
        /// The school unit the activity belongs to.
        pub organisation: ObjectReference,
        /// The national test activity (subject + school year for GR/SP/SAM, a
        /// course for GY/VUXGY), by the UUID Skolverket generates for it.
        pub parent_activity: ObjectReference,
        /// Whether any teaching group of the activity exists in the test
        /// platform (read-only).
        pub provisioning_status: Option<bool> [optional],
    }
}

/// A teacher's assignment to an activity (`DutyAssignment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DutyAssignment {
    /// The teacher's duty.
    pub duty: ObjectReference,
}

/// The body of a bulk create/update (`POST /{kind}/bulk`; `PUT` takes the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkRequest<T> {
    /// The resources to create or update.
    pub data: Vec<T>,
}

/// The body of a bulk delete (`POST /{kind}/bulk/delete`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// The identifiers of the resources to delete.
    pub data: Vec<Uuid>,
}

record! {
    /// The body of `POST /persons/lookup`: persons by id, civic number and/or
    /// eduPersonPrincipalName. Empty lists are left out. `Debug` masks the
    /// civic numbers.
    #[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct PersonLookup {
        /// Person identifiers.
        pub ids: Vec<Uuid> [optional],
        /// Swedish personnummer, samordningsnummer or temporary numbers.
        pub civic_nos: Vec<String> [optional],
        /// eduPersonPrincipalNames.
        pub edu_person_principal_names: Vec<String> [optional],
    }
}

impl fmt::Debug for PersonLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let civic_nos: Vec<Masked<'_>> = self.civic_nos.iter().map(|c| Masked(c)).collect();
        f.debug_struct("PersonLookup")
            .field("ids", &self.ids)
            .field("civic_nos", &civic_nos)
            .field(
                "edu_person_principal_names",
                &self.edu_person_principal_names,
            )
            .finish()
    }
}

/// The body of `POST /{duties,groups,activities}/lookup` (`IdLookup`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdLookup {
    /// The identifiers to look up.
    #[serde(default)]
    pub ids: Vec<Uuid>,
}

/// One page of `GET /{kind}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    /// The resources on this page. `GET /persons` returns only `id`,
    /// `civicNo`, `eduPersonPrincipalNames`, the names, `provisioningStatus`
    /// and `meta` of each person.
    pub data: Vec<T>,
    /// The opaque token for the next page; `null` when there is nothing more
    /// to fetch (serialized as `null`, as the spec's nullable field).
    #[serde(default)]
    pub page_token: Option<String>,
}

record! {
    /// The `202 Accepted` body of a bulk call.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Accepted {
        /// The bulk job to poll at `/{kind}/bulk/jobs/{jobId}`.
        pub job_id: Uuid,
        /// A human-readable confirmation.
        pub message: Option<String> [optional],
    }
}

/// The status of a bulk job (`AsynchronousResponse`,
/// `GET /{kind}/bulk/jobs/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsynchronousResponse {
    /// The bulk job's identifier.
    pub job_id: Uuid,
    /// One outcome per resource of the job.
    pub responses: Vec<EntityResponse>,
}

impl AsynchronousResponse {
    /// Whether every resource of the job has an outcome (none is `Pending`).
    pub fn is_completed(&self) -> bool {
        self.responses.iter().all(|r| r.response.status.is_final())
    }
}

record! {
    /// The outcome for one resource of a bulk job.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EntityResponse {
        /// The identifier of the resource the outcome is about.
        pub id: Uuid,
        /// The outcome.
        pub response: EntityOutcome,
        /// Created and modified timestamps of the resource (required by the
        /// spec, but tolerated when missing).
        pub meta: Option<Meta> [optional],
    }
}

record! {
    /// What the service did with one resource of a bulk job.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct EntityOutcome {
        /// `Pending`, `Success`, `Error`, `Warning` (accepted, but something
        /// should be fixed) or `TemporaryError` (send again later).
        pub status: JobEntityStatus,
        /// The HTTP status code of the outcome, e.g. `201`.
        pub status_code: Option<u16> [optional],
        /// The URL of the created resource; only when one was created.
        pub location: Option<String> [optional],
        /// Why the resource was not accepted.
        #[serde(default)]
        pub errors: Vec<LogEntry>,
        /// What should be fixed although the resource was accepted.
        #[serde(default)]
        pub warnings: Vec<LogEntry>,
    }
}

record! {
    /// A message from the service about an event, to help troubleshooting
    /// (`LogEntry`). Error responses are arrays of these.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct LogEntry {
        /// The message's code, e.g. `"2011"` (a JSON number is accepted too).
        #[serde(deserialize_with = "lenient_string")]
        pub id: String,
        /// The HTTP status code.
        pub status_code: u16,
        /// The message category, e.g. `Ogiltigt format`.
        pub message_type: Option<String> [optional],
        /// The situation-specific text.
        pub message: String,
        /// The name of the path, header or query parameter at fault.
        pub parameter_name: Option<String> [optional],
        /// The value of the parameter at fault (a JSON number is accepted too).
        pub parameter_value: Option<String> [optional, via "lenient_opt_string"],
        /// The kind of resource the message is about.
        pub resource_type: Option<ObjectType> [optional],
        /// The identifier of the resource the message is about.
        pub resource_id: Option<String> [optional, via "lenient_opt_string"],
        /// The attribute at fault, e.g. `Enrolment.schoolYear`.
        pub attribute_name: Option<String> [optional],
        /// The value of the attribute at fault; a string in the spec, but its
        /// own example is the number `0`, so numbers are accepted and kept as
        /// text.
        pub attribute_value: Option<String> [optional, via "lenient_opt_string"],
        /// `Warning` (needs attention) or `Error` (needs action).
        pub severity_level: SeverityLevel,
        /// When the event happened (RFC 3339), under the spec's spelling.
        pub time_of_occurance: String,
    }
}

/// A JSON string, number or boolean, kept as text.
struct LenientString;

impl<'de> Visitor<'de> for LenientString {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// [`LenientString`], or `None` for `null`.
struct LenientOptString;

impl<'de> Visitor<'de> for LenientOptString {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_any(LenientString).map(Some)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(LenientString)
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(LenientOptString)
}

/// A response body that does not match the model.
#[derive(Debug, thiserror::Error)]
#[error("invalid provtjänst payload at `{path}`: {source}")]
pub struct PayloadError {
    /// Where in the document parsing failed, e.g. `responses[0].response.status`.
    pub path: String,
    /// What was wrong there.
    #[source]
    pub source: serde_json::Error,
}

/// Parses a JSON body into a model type, naming the path of the first
/// problem on failure.
pub fn from_json<T: DeserializeOwned>(body: &str) -> Result<T, PayloadError> {
    let mut de = serde_json::Deserializer::from_str(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| PayloadError {
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    de.end().map_err(|source| PayloadError {
        path: ".".to_string(),
        source,
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::hash::content_hash;

    fn person(extra: Value) -> Person {
        let mut base = json!({
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "givenName": "Pippi", "familyName": "Långstrump",
            "eduPersonPrincipalNames": ["pippi@edu.huvudman.se"],
            "civicNo": {"value": "200901272385", "nationality": "SE"},
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            base.extend(extra.clone());
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn a_person_is_sent_with_its_emptied_lists_and_hashed_as_before() {
        let bare = person(json!({}));
        let wire: Value = serde_json::from_slice(&bare.to_wire().unwrap()).unwrap();
        for key in ["enrolments", "emails", "externalIdentifiers"] {
            assert_eq!(wire[key], json!([]), "{key} in {wire}");
        }
        // The serialization (and so the content hash) leaves them out.
        let plain = serde_json::to_value(&bare).unwrap();
        assert!(plain.get("emails").is_none());
        // Read back with explicit empty lists, the person hashes the same.
        let read_back: Person = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(content_hash(&read_back), content_hash(&bare));

        // Lists with content are sent as they are, once each.
        let full = person(json!({
            "emails": [{"value": "pippi@skola.se", "type": "Skola elev"}],
        }));
        let text = String::from_utf8(full.to_wire().unwrap()).unwrap();
        assert_eq!(text.matches("\"emails\"").count(), 1, "{text}");
        let wire: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(wire["emails"][0]["value"], "pippi@skola.se");
        assert_eq!(wire["enrolments"], json!([]));
        assert_eq!(
            Payload::to_wire(&full).unwrap(),
            full.to_wire().unwrap(),
            "the trait sends the same"
        );
    }
}
