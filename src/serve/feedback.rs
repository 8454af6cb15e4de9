//! `POST /log` and `POST /statistics`: what Skolverket's SS12000 client
//! reports back — a LogEntry for each object it could not take (and why),
//! a StatisticsEntry with the counts of what it took.
//!
//! Both are stored as received (see `state::served::feedback`) and
//! answered `201`. A LogEntry is also logged at warn, with its type, id and
//! message; the message is scrubbed of anything that looks like a
//! personnummer first (Skolverket's carry none, but a log is no place to
//! find out). Checked: the required fields; `severityLevel` one of `Info`,
//! `Warning`, `Error`; `resourceId` a UUID; `resourceType` an SS 12000 type
//! name — `EndPointsEnum`'s five, and also the others the spec's own
//! example uses (`Syllabus`), so no report of Skolverket's is lost; counts
//! not negative. `timeOfOccurance` and `resourceUrl` are kept as written.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use super::error::ApiError;
use super::state::ApiState;
use crate::report::mask::scrub;
use crate::state::now_text;
use crate::state::served::{ReceivedLogEntry, ReceivedStatistics};

/// How much of a LogEntry's message goes into the service's log.
const LOGGED_MESSAGE_CHARS: usize = 500;

/// The routes, relative to the API's path.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/log", post(post_log))
        .route("/statistics", post(post_statistics))
}

/// The body as `T`: `413` when over the limit, `400` with serde's message
/// and the path of the offending field when it is not the expected JSON.
pub(super) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                status,
                code: "payload_too_large",
                message: "the request body is larger than this service accepts".to_string(),
            }
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let message = if path == "." {
            message
        } else {
            format!("{path}: {message}")
        };
        ApiError::bad_request("invalid_body", message)
    })
}

/// `LogEntry`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntryBody {
    message: String,
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    resource_type: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    resource_url: Option<String>,
    severity_level: String,
    #[serde(default)]
    time_of_occurance: Option<String>,
}

/// `StatisticsEntry`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatisticsBody {
    resource_type: String,
    new_count: i64,
    updated_count: i64,
    deleted_count: i64,
    #[serde(default)]
    resource_url: Option<String>,
    #[serde(default)]
    time_of_occurance: Option<String>,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::bad_request("invalid_body", format!("{field}: {message}"))
}

/// The SS 12000 type named `name` (any case), in its spelling.
fn resource_type(field: &str, name: &str) -> Result<String, ApiError> {
    EntityKind::ALL
        .iter()
        .find(|k| k.type_name().eq_ignore_ascii_case(name.trim()))
        .map(|k| k.type_name().to_string())
        .ok_or_else(|| {
            invalid(
                field,
                format!(
                    "`{name}` is not an SS 12000 type (Organisation, Person, Group, Duty, \
                     Activity, …)"
                ),
            )
        })
}

async fn post_log(
    State(api): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body: LogEntryBody = json_body(body)?;
    let severity = ["Info", "Warning", "Error"]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(body.severity_level.trim()))
        .ok_or_else(|| {
            invalid(
                "severityLevel",
                format!("`{}` is not Info, Warning or Error", body.severity_level),
            )
        })?;
    let resource_type = body
        .resource_type
        .as_deref()
        .map(|t| resource_type("resourceType", t))
        .transpose()?;
    let resource_id = body
        .resource_id
        .as_deref()
        .map(|id| {
            Uuid::parse_str(id.trim())
                .map_err(|_| invalid("resourceId", format!("`{}` is not a UUID", scrub(id))))
        })
        .transpose()?;
    let entry = ReceivedLogEntry {
        id: Uuid::new_v4(),
        received_at: now_text(),
        message: body.message,
        message_type: body.message_type,
        resource_type,
        resource_id,
        resource_url: body.resource_url,
        severity: severity.to_string(),
        time_of_occurance: body.time_of_occurance,
    };
    api.store
        .record_log_entry(&api.dataset, &entry)
        .await
        .map_err(ApiError::internal)?;
    let message: String = scrub(&entry.message)
        .chars()
        .take(LOGGED_MESSAGE_CHARS)
        .collect();
    tracing::warn!(
        pipeline = %api.pipeline,
        severity = %entry.severity,
        resource_type = entry.resource_type.as_deref().unwrap_or("-"),
        resource_id = %entry.resource_id.map(|id| id.to_string()).unwrap_or_else(|| "-".into()),
        message_type = entry.message_type.as_deref().map(scrub).unwrap_or_default(),
        "Skolverket's client reports: {message}"
    );
    Ok(StatusCode::CREATED)
}

async fn post_statistics(
    State(api): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body: StatisticsBody = json_body(body)?;
    let resource_type = resource_type("resourceType", &body.resource_type)?;
    for (field, count) in [
        ("newCount", body.new_count),
        ("updatedCount", body.updated_count),
        ("deletedCount", body.deleted_count),
    ] {
        if count < 0 {
            return Err(invalid(field, format!("{count} is negative")));
        }
    }
    let entry = ReceivedStatistics {
        id: Uuid::new_v4(),
        received_at: now_text(),
        resource_type,
        new_count: body.new_count,
        updated_count: body.updated_count,
        deleted_count: body.deleted_count,
        resource_url: body.resource_url,
        time_of_occurance: body.time_of_occurance,
    };
    api.store
        .record_statistics(&api.dataset, &entry)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        pipeline = %api.pipeline,
        resource_type = %entry.resource_type,
        new = entry.new_count,
        updated = entry.updated_count,
        deleted = entry.deleted_count,
        "Skolverket's client took data"
    );
    Ok(StatusCode::CREATED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_bodies_name_the_field() {
        let parse = |text: &'static str| json_body::<StatisticsBody>(Ok(Bytes::from(text)));
        let err = parse(
            r#"{"resourceType": "Person", "newCount": "x", "updatedCount": 1, "deletedCount": 0}"#,
        )
        .unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("newCount"), "{}", err.message);
        let err = parse(r#"{"resourceType": "Person"}"#).unwrap_err();
        assert!(err.message.contains("newCount"), "{}", err.message);
        let err = parse("{not json").unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn resource_types_are_ss12000_type_names() {
        assert_eq!(resource_type("f", "person").unwrap(), "Person");
        assert_eq!(resource_type("f", "Syllabus").unwrap(), "Syllabus");
        assert!(resource_type("f", "Pupil").is_err());
    }
}
