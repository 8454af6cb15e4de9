//! Reading what the service answers about jobs and errors, tolerantly.
//!
//! A job status (`AsynchronousResponse`) answers for many entities at once.
//! Read strictly, one unexpected value — a status the spec does not list, a
//! LogEntry without its `timeOfOccurance`, a `severityLevel` spelt another
//! way — would make the whole answer unreadable, and every entity of the job
//! would wait for a status that never parses. Here each entity is read on
//! its own: an entity whose outcome cannot be read gets a problem that names
//! what was wrong, and the rest of the job is used as it is. LogEntries are
//! read field by field with the spec's required fields defaulted when
//! missing, so a message is never lost for want of a field.

use std::str::FromStr;

use serde_json::Value;
use skolsync_model::provtjanst::{EntityOutcome, LogEntry};
use skolsync_model::{JobEntityStatus, ObjectType, SeverityLevel};
use uuid::Uuid;

/// One entity of a job status, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityStatus {
    /// The entity's id.
    pub id: Uuid,
    /// Its outcome, or why it could not be read.
    pub read: Result<EntityOutcome, String>,
}

/// A job status, read entity by entity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobStatus {
    /// The entities listed with a readable id, in the service's order.
    pub entities: Vec<EntityStatus>,
    /// Entries that could not be tied to an id (for the log).
    pub problems: Vec<String>,
}

/// A JSON string, number or boolean as text.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A status code given as a number or as numeric text.
fn status_code(value: Option<&Value>) -> Option<u16> {
    match value? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One LogEntry read field by field. Missing required fields become empty
/// (`statusCode` 0); a `severityLevel` the spec does not list (or none)
/// becomes `default_severity` — the list it came in says what it is.
pub fn log_entry(value: &Value, default_severity: SeverityLevel) -> LogEntry {
    if let Ok(entry) = serde_json::from_value::<LogEntry>(value.clone()) {
        return entry;
    }
    let field = |name: &str| value.get(name);
    LogEntry {
        id: text(field("id")).unwrap_or_default(),
        status_code: status_code(field("statusCode")).unwrap_or(0),
        message_type: text(field("messageType")),
        message: text(field("message")).unwrap_or_default(),
        parameter_name: text(field("parameterName")),
        parameter_value: text(field("parameterValue")),
        resource_type: text(field("resourceType")).and_then(|t| ObjectType::from_str(&t).ok()),
        resource_id: text(field("resourceId")),
        attribute_name: text(field("attributeName")),
        attribute_value: text(field("attributeValue")),
        severity_level: text(field("severityLevel"))
            .and_then(|s| SeverityLevel::from_str(&s).ok())
            .unwrap_or(default_severity),
        time_of_occurance: text(field("timeOfOccurance")).unwrap_or_default(),
    }
}

fn log_list(value: Option<&Value>, severity: SeverityLevel) -> Vec<LogEntry> {
    match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter(|v| v.is_object())
            .map(|v| log_entry(v, severity))
            .collect(),
        Some(v @ Value::Object(_)) => vec![log_entry(v, severity)],
        _ => Vec::new(),
    }
}

/// An error body: the spec's list of LogEntries (or a single one).
/// Anything else gives none.
pub fn log_entries(body: &[u8]) -> Vec<LogEntry> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    log_list(Some(&value), SeverityLevel::Error)
}

/// The answer of `GET …/bulk/jobs/{id}/isCompleted`: the spec's
/// `schema: type: boolean`; `"true"` as text and an object with an
/// `isCompleted` field are read too. `None` when it says neither.
pub fn is_completed(body: &[u8]) -> Option<bool> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let answer = match &value {
        Value::Object(fields) => fields.get("isCompleted")?,
        other => other,
    };
    match answer {
        Value::Bool(done) => Some(*done),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// One entity's `response`.
fn entity_outcome(response: Option<&Value>) -> Result<EntityOutcome, String> {
    let Some(response) = response.filter(|r| r.is_object()) else {
        return Err("its status lists no `response` object".to_string());
    };
    // The spec's `status` "default: Pending": an entity without one is
    // not processed yet.
    let status = match response.get("status") {
        None | Some(Value::Null) => JobEntityStatus::Pending,
        Some(raw) => {
            let raw = text(Some(raw)).unwrap_or_else(|| raw.to_string());
            JobEntityStatus::from_str(raw.trim()).map_err(|_| {
                format!(
                    "the service gave it the status `{raw}`, which the spec does not list \
                     (Pending, Success, Error, Warning, TemporaryError); its outcome is unknown"
                )
            })?
        }
    };
    Ok(EntityOutcome {
        status,
        status_code: status_code(response.get("statusCode")),
        location: text(response.get("location")),
        errors: log_list(response.get("errors"), SeverityLevel::Error),
        warnings: log_list(response.get("warnings"), SeverityLevel::Warning),
    })
}

/// Reads a job status body. Only a body that is not a JSON object with a
/// `responses` list is unreadable as a whole.
pub fn job_status(body: &[u8]) -> Result<JobStatus, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the job status is not JSON: {e}"))?;
    let Some(responses) = value.get("responses").and_then(Value::as_array) else {
        return Err("the job status has no `responses` list".to_string());
    };
    let mut out = JobStatus::default();
    for (i, entry) in responses.iter().enumerate() {
        let id = text(entry.get("id")).and_then(|id| Uuid::parse_str(id.trim()).ok());
        let Some(id) = id else {
            out.problems.push(format!(
                "responses[{i}] has no readable `id` ({}), so it answers for no entity",
                entry
                    .get("id")
                    .map_or("missing".to_string(), Value::to_string)
            ));
            continue;
        };
        out.entities.push(EntityStatus {
            id,
            read: entity_outcome(entry.get("response")),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn one_unknown_status_spoils_only_its_own_entity() {
        let body = json!({
            "jobId": id(99),
            "responses": [
                {"id": id(1), "response": {"status": "Success", "statusCode": 201}, "meta": {}},
                {"id": id(2), "response": {"status": "Queued"}},
                {"id": id(3), "response": {"status": "Error", "errors": [
                    {"id": 2011, "statusCode": "400", "message": "Ogiltigt format",
                     "severityLevel": "Fatal", "resourceType": "Elev"}
                ]}},
                {"id": "not-a-uuid", "response": {"status": "Success"}},
                {"id": id(4), "response": {}},
                {"id": id(5)},
            ]
        });
        let status = job_status(body.to_string().as_bytes()).unwrap();
        let by_id = |n| {
            status
                .entities
                .iter()
                .find(|e| e.id == id(n))
                .unwrap()
                .read
                .clone()
        };
        assert_eq!(by_id(1).unwrap().status, JobEntityStatus::Success);
        assert_eq!(by_id(1).unwrap().status_code, Some(201));
        let unknown = by_id(2).unwrap_err();
        assert!(unknown.contains("`Queued`"), "{unknown}");
        // A LogEntry with an unknown severity, a numeric id and text status
        // code, an unknown resource type and no time is still read.
        let error = by_id(3).unwrap();
        assert_eq!(error.status, JobEntityStatus::Error);
        let entry = &error.errors[0];
        assert_eq!(entry.id, "2011");
        assert_eq!(entry.status_code, 400);
        assert_eq!(entry.message, "Ogiltigt format");
        assert_eq!(entry.severity_level, SeverityLevel::Error);
        assert_eq!(entry.resource_type, None);
        assert_eq!(entry.time_of_occurance, "");
        // No status: the spec's default, Pending.
        assert_eq!(by_id(4).unwrap().status, JobEntityStatus::Pending);
        assert!(by_id(5).unwrap_err().contains("no `response`"));
        assert_eq!(status.problems.len(), 1, "{:?}", status.problems);
        assert!(status.problems[0].contains("responses[3]"));
    }

    #[test]
    fn a_warning_without_severity_stays_a_warning() {
        let body = json!({"responses": [{"id": id(1), "response": {
            "status": "Warning", "warnings": [{"id": "3047", "message": "EPPN"}]
        }}]});
        let status = job_status(body.to_string().as_bytes()).unwrap();
        let outcome = status.entities[0].read.clone().unwrap();
        assert_eq!(outcome.warnings[0].severity_level, SeverityLevel::Warning);
        assert_eq!(outcome.warnings[0].id, "3047");
    }

    #[test]
    fn is_completed_reads_the_boolean_in_its_usual_forms() {
        assert_eq!(is_completed(b"true"), Some(true));
        assert_eq!(is_completed(b" false\n"), Some(false));
        assert_eq!(is_completed(br#""true""#), Some(true));
        assert_eq!(is_completed(br#"{"isCompleted": true}"#), Some(true));
        assert_eq!(is_completed(b"<html>"), None);
        assert_eq!(is_completed(b"1"), None);
    }

    #[test]
    fn only_a_body_without_responses_is_unreadable() {
        assert!(job_status(b"<html>").is_err());
        assert!(job_status(br#"{"jobId": "x"}"#).is_err());
        assert_eq!(
            job_status(br#"{"responses": []}"#).unwrap(),
            JobStatus::default()
        );
    }

    #[test]
    fn error_bodies_are_read_from_lists_or_single_objects() {
        let one = br#"{"id":"5002","statusCode":403,"message":"Ogiltigt JWT bearer token.","severityLevel":"Error","timeOfOccurance":"2021-05-12T10:30:00.123+02:00"}"#;
        assert_eq!(log_entries(one)[0].id, "5002");
        let list = format!("[{}]", String::from_utf8_lossy(one));
        assert_eq!(log_entries(list.as_bytes()).len(), 1);
        assert!(log_entries(b"<html>").is_empty());
        // Without the time the spec requires, the entry is still read.
        let partial = br#"[{"id":"5021","statusCode":429,"message":"Too many"}]"#;
        assert_eq!(log_entries(partial)[0].status_code, 429);
    }
}
