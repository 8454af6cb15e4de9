//! The LogEntry messages the emulator answers with: ids, status codes and
//! Swedish texts in the shape of the spec's examples.
//!
//! Skolverket's own ids are used where the spec shows them (the constants
//! whose doc says "spec"); the `9xxx` ids are the sandbox's own, listed in the
//! table of the module above. Everything that builds a LogEntry goes through
//! [`Entry`] so the required fields (`id`, `statusCode`, `message`,
//! `severityLevel`, `timeOfOccurance`) are always there.

use super::envelope::{LogEntry, Severity};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Local;
use skolsync_model::ObjectType;
use skolsync_model::civic_no;
use uuid::Uuid;

/// spec `400_invalid_lookup`: a lookup body value is not in the right format.
pub const INVALID_LOOKUP: &str = "2010";
/// spec `400_invalid_id`: a path id is not a UUID.
pub const INVALID_PATH_ID: &str = "2011";
/// spec `400_invalid_parameter` (`updateIfExists`): a boolean query parameter
/// is not `true`/`false`. Also used for `showOnlyError`.
pub const INVALID_BOOLEAN: &str = "2025";
/// spec `200_job_status` example: the EPPN resembles the person's name.
pub const EPPN_RESEMBLES_NAME: &str = "3047";
/// spec `400_invalid_parameter` (`limit`): limit outside 1–100.
pub const INVALID_LIMIT: &str = "3085";
/// spec `404_not_found`.
pub const NOT_FOUND: &str = "4001";
/// spec `403_not_authorised`.
pub const NOT_AUTHORISED: &str = "5002";
/// spec `default_error`.
pub const UNKNOWN_ERROR: &str = "5004";
/// spec `413_payload_too_large`.
pub const PAYLOAD_TOO_LARGE: &str = "5020";
/// spec `429_too_many_requests`.
pub const TOO_MANY_REQUESTS: &str = "5021";
/// spec `503_service_unavailable`.
pub const SERVICE_UNAVAILABLE: &str = "5022";

/// Sandbox: the body is not JSON of the resource's schema.
pub const INVALID_BODY: &str = "9000";
/// Sandbox: a body was sent without `Content-Type: application/json`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "9001";
/// Sandbox: `pageToken` is not one the service gave out.
pub const INVALID_PAGE_TOKEN: &str = "9002";
/// Sandbox: no such path.
pub const UNKNOWN_PATH: &str = "9003";
/// Sandbox: the path exists but not with this method.
pub const METHOD_NOT_ALLOWED: &str = "9004";
/// Sandbox: an injected refusal (401/403) of the client.
pub const INJECTED_REFUSAL: &str = "9005";
/// Sandbox: create (without `updateIfExists`) of an id that exists.
pub const ALREADY_EXISTS: &str = "9101";
/// Sandbox: update or delete of an id that does not exist.
pub const DOES_NOT_EXIST: &str = "9102";
/// Sandbox: delete of a resource other resources still reference.
pub const STILL_REFERENCED: &str = "9103";
/// Sandbox: civicNo is not a valid 12-character personnummer,
/// samordningsnummer or temporary number.
pub const CIVIC_NO_INVALID: &str = "9110";
/// Sandbox: civicNo nationality other than `SE`.
pub const NATIONALITY_NOT_SE: &str = "9111";
/// Sandbox: another person id already holds this civicNo.
pub const CIVIC_NO_TAKEN: &str = "9112";
/// Sandbox: not exactly one eduPersonPrincipalName.
pub const EPPN_COUNT: &str = "9113";
/// Sandbox: the EPPN is not `local@domain`.
pub const EPPN_FORMAT: &str = "9114";
/// Sandbox: another person id already holds this EPPN.
pub const EPPN_TAKEN: &str = "9115";
/// Sandbox: externalIdentifiers has more than one entry or a context other
/// than `https://eduid.se`.
pub const EXTERNAL_ID_INVALID: &str = "9116";
/// Sandbox: one person would hold the student and the staff role with the
/// same (only) EPPN.
pub const STUDENT_AND_STAFF: &str = "9117";
/// Sandbox: a staff member without e-mail.
pub const STAFF_EMAIL_MISSING: &str = "9118";
/// Sandbox: an e-mail address of a type other than "Skola elev"/"Skola
/// personal" (Warning; spec Person.emails: only those are supported).
pub const EMAIL_TYPE_UNSUPPORTED: &str = "9119";
/// Sandbox: enrolment at a school unit id Skolverket does not know.
pub const ENROLMENT_UNIT_UNKNOWN: &str = "9120";
/// Sandbox: schoolYear missing or outside 1–10 for GR/SP/SAM.
pub const SCHOOL_YEAR_INVALID: &str = "9121";
/// Sandbox: educationCode missing for GY.
pub const EDUCATION_CODE_MISSING: &str = "9122";
/// Sandbox: educationCode is not a programme of open-data's `/programmes`.
pub const EDUCATION_CODE_UNKNOWN: &str = "9123";
/// Sandbox: the school unit has status `Expired` in open-data.
pub const UNIT_EXPIRED: &str = "9124";
/// Sandbox: the school unit's `dnpStatus` is false (not in the provtjänst).
pub const UNIT_NOT_IN_DNP: &str = "9125";
/// Sandbox: the school unit belongs to another huvudman than the one the
/// token's client certificate was issued for.
pub const UNIT_OTHER_HUVUDMAN: &str = "9126";
/// Sandbox: the unit does not offer the school type in the provtjänst.
pub const SCHOOL_TYPE_NOT_OFFERED: &str = "9127";
/// Sandbox: the unit does not offer the school year for the school type.
pub const SCHOOL_YEAR_NOT_OFFERED: &str = "9128";
/// Sandbox: externalIdentifiers for an enrolled person (only for staff).
pub const EXTERNAL_ID_NOT_STAFF: &str = "9129";
/// Sandbox: the duty's person does not exist.
pub const DUTY_PERSON_MISSING: &str = "9130";
/// Sandbox: `dutyAt` is not a school unit id Skolverket knows.
pub const DUTY_UNIT_UNKNOWN: &str = "9131";
/// Sandbox: a group type other than `Klass`/`Undervisning`.
pub const GROUP_TYPE_NOT_ALLOWED: &str = "9140";
/// Sandbox: a group's or activity's organisation is not a known school unit.
pub const ORGANISATION_UNKNOWN: &str = "9141";
/// Sandbox (Warning): a group member that does not exist; left out.
pub const MEMBER_MISSING: &str = "9142";
/// Sandbox: an activity type other than `Undervisning`.
pub const ACTIVITY_TYPE_NOT_ALLOWED: &str = "9150";
/// Sandbox: parentActivity is not a known test activity.
pub const PARENT_ACTIVITY_UNKNOWN: &str = "9151";
/// Sandbox: an activity without groups, or with a group that does not exist.
pub const ACTIVITY_GROUP_MISSING: &str = "9152";
/// Sandbox: an activity teacher's duty does not exist.
pub const ACTIVITY_TEACHER_MISSING: &str = "9153";
/// Sandbox: injected temporary failure of one entity.
pub const TEMPORARY_ERROR: &str = "9190";

/// The current time as the spec writes it: `2021-05-12T10:30:00.123+02:00`.
pub fn timestamp() -> String {
    Local::now().format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
}

/// A LogEntry under construction; starts as an `Error`.
#[derive(Debug, Clone)]
pub struct Entry(LogEntry);

impl Entry {
    /// An error entry with the required fields, stamped now.
    pub fn new(id: &str, status: u16, message_type: &str, message: impl Into<String>) -> Self {
        Entry(LogEntry {
            id: id.to_string(),
            status_code: status,
            message_type: Some(message_type.to_string()),
            message: message.into(),
            parameter_name: None,
            parameter_value: None,
            resource_type: None,
            resource_id: None,
            attribute_name: None,
            attribute_value: None,
            severity_level: Severity::Error,
            time_of_occurance: timestamp(),
        })
    }

    /// Names the query/path/body parameter at fault (and its value).
    pub fn parameter(mut self, name: &str, value: Option<&str>) -> Self {
        self.0.parameter_name = Some(name.to_string());
        self.0.parameter_value = value.map(str::to_string);
        self
    }

    /// The kind of resource the entry is about.
    pub fn resource_type(mut self, kind: ObjectType) -> Self {
        self.0.resource_type = Some(kind);
        self
    }

    /// The resource the entry is about.
    pub fn resource(mut self, kind: ObjectType, id: Uuid) -> Self {
        self.0.resource_type = Some(kind);
        self.0.resource_id = Some(id.to_string());
        self
    }

    /// The attribute at fault and its value (already masked if sensitive).
    pub fn attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.attribute_name = Some(name.to_string());
        self.0.attribute_value = Some(value.into());
        self
    }

    /// Makes it a warning (accepted, but should be fixed).
    pub fn warning(mut self) -> Self {
        self.0.severity_level = Severity::Warning;
        self
    }

    /// The finished entry.
    pub fn build(self) -> LogEntry {
        self.0
    }
}

/// An error answer: the spec's JSON array of LogEntry with `status`.
pub fn error_response(status: StatusCode, entries: Vec<LogEntry>) -> Response {
    (status, Json(entries)).into_response()
}

/// One-entry error answer whose HTTP status is the entry's `statusCode`.
pub fn single(entry: Entry) -> Response {
    let entry = entry.build();
    let status =
        StatusCode::from_u16(entry.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response(status, vec![entry])
}

/// 403 — spec example, word for word.
pub fn not_authorised() -> Entry {
    Entry::new(
        NOT_AUTHORISED,
        403,
        "Behörighet saknas",
        "Ogiltigt JWT bearer token.",
    )
}

/// 429 — spec example, word for word.
pub fn too_many_requests() -> Entry {
    Entry::new(
        TOO_MANY_REQUESTS,
        429,
        "Teknisk begränsning",
        "Den högsta tillåtna antal förfrågningar har uppnåtts för den specifika URL:en.",
    )
}

/// 413 — spec example, word for word.
pub fn payload_too_large() -> Entry {
    Entry::new(
        PAYLOAD_TOO_LARGE,
        413,
        "Teknisk begränsning",
        "Provisionerade uppgifter överstiger tillåten datamängd.",
    )
}

/// 503 — spec example, word for word.
pub fn service_unavailable() -> Entry {
    Entry::new(
        SERVICE_UNAVAILABLE,
        503,
        "Teknisk begränsning",
        "Tjänsten är inte tillgänglig. Försök igen senare.",
    )
}

/// 401 or 403 of an injected refusal (`Outage::refuse_calls`).
pub fn refused(status: u16) -> Entry {
    Entry::new(
        INJECTED_REFUSAL,
        status,
        "Behörighet saknas",
        "Klienten har inte behörighet till tjänsten (injicerat fel).",
    )
}

/// 500 — spec example, word for word.
pub fn unknown_error() -> Entry {
    Entry::new(UNKNOWN_ERROR, 500, "Okänt fel", "Ett okänt fel inträffade.")
}

/// 400 for a boolean query parameter (spec's `updateIfExists` example).
pub fn invalid_boolean(name: &str, value: &str) -> Entry {
    Entry::new(
        INVALID_BOOLEAN,
        400,
        "Ogiltigt format",
        format!(
            "Ogiltigt format på ´query´ parameter <{name}>. Format ska vara boolean (true/false)."
        ),
    )
    .parameter(name, Some(value))
}

/// 400 for `limit` outside 1–100 (spec example: no parameterValue).
pub fn invalid_limit() -> Entry {
    Entry::new(
        INVALID_LIMIT,
        400,
        "Ogiltigt värde",
        "Värdet för <limit> måste vara ett tal mellan 1 och 100 (inklusive).",
    )
    .parameter("limit", None)
}

/// 400 for a path id that is not a UUID.
pub fn invalid_path_id(kind: Option<ObjectType>, value: &str) -> Entry {
    let entry = Entry::new(
        INVALID_PATH_ID,
        400,
        "Ogiltigt format",
        "Ogiltigt format på ´path´ parameter <id>. Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt.",
    )
    .parameter("id", Some(value));
    match kind {
        Some(kind) => entry.resource_type(kind),
        None => entry,
    }
}

/// 400 for a malformed lookup body value.
pub fn invalid_lookup(parameter: &str, value: &str, expected: &str) -> Entry {
    Entry::new(
        INVALID_LOOKUP,
        400,
        "Ogiltigt format",
        format!("Ogiltigt format på ´body´ parameter <{parameter}>. {expected}"),
    )
    .parameter(parameter, Some(value))
}

/// The lookup `expected` text for ids.
pub const UUID_FORMAT: &str =
    "Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt.";

/// 404 for `GET /x/{id}` or a job (`what` = "Person", "Bulk-jobb", …).
pub fn not_found(what: &str, kind: ObjectType, id: &str) -> Entry {
    Entry::new(
        NOT_FOUND,
        404,
        "Ogiltigt värde",
        format!("{what} identifierats av angivet värden i `path` parameter <id> hittades inte."),
    )
    .parameter("id", Some(id))
    .resource_type(kind)
}

/// 400 for a body that is not JSON of the expected schema.
pub fn invalid_body(kind: Option<ObjectType>, detail: &str) -> Entry {
    let entry = Entry::new(
        INVALID_BODY,
        400,
        "Ogiltigt format",
        format!("Ogiltigt format på ´body´: {}", mask_digit_runs(detail)),
    )
    .parameter("body", None);
    match kind {
        Some(kind) => entry.resource_type(kind),
        None => entry,
    }
}

/// 415 for a body without a JSON content type.
pub fn unsupported_media_type() -> Entry {
    Entry::new(
        UNSUPPORTED_MEDIA_TYPE,
        415,
        "Ogiltigt format",
        "Anropets innehåll ska skickas med ´Content-Type: application/json´.",
    )
    .parameter("Content-Type", None)
}

/// 400 for a pageToken the service never gave out.
pub fn invalid_page_token(value: &str) -> Entry {
    Entry::new(
        INVALID_PAGE_TOKEN,
        400,
        "Ogiltigt värde",
        "Ogiltigt värde på ´query´ parameter <pageToken>. Använd värdet från ett tidigare svar.",
    )
    .parameter("pageToken", Some(value))
}

/// 404 for a path the API does not have.
pub fn unknown_path(path: &str) -> Entry {
    Entry::new(
        UNKNOWN_PATH,
        404,
        "Ogiltigt värde",
        format!("Sökvägen {path} finns inte."),
    )
}

/// 405 for a known path with the wrong method.
pub fn method_not_allowed(method: &str) -> Entry {
    Entry::new(
        METHOD_NOT_ALLOWED,
        405,
        "Ogiltigt anrop",
        format!("Metoden {method} stöds inte för denna sökväg."),
    )
}

/// Replaces runs of 8 or more digits (possibly personnummer echoed by a
/// parser message) with their masked form.
pub fn mask_digit_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 8 {
            out.push_str(&civic_no::mask(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_that_could_be_personnummer_are_masked() {
        assert_eq!(
            mask_digit_runs("invalid value: \"200901272385\" at line 1 column 42"),
            "invalid value: \"20090127-****\" at line 1 column 42"
        );
    }

    #[test]
    fn timestamps_have_milliseconds_and_an_offset() {
        let t = timestamp();
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t}");
        assert_eq!(t.len(), "2021-05-12T10:30:00.123+02:00".len(), "{t}");
    }
}
