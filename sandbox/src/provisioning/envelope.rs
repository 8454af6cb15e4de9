//! The sandbox's own types of what the Provisioning API answers around the
//! resources: `LogEntry` (error bodies and job outcomes) and the job status
//! `AsynchronousResponse`, written from the yaml (`components/schemas` and
//! `responses/200_job_status`), not from `skolsync_model::provtjanst`.

use serde::Serialize;
use skolsync_model::ObjectType;
use uuid::Uuid;

use super::payload::Meta;

/// `LogEntry.severityLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Severity {
    /// The entity (or request) was refused.
    Error,
    /// Accepted with a problem to fix.
    Warning,
}

/// `LogEntry`: information about one event, for troubleshooting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// `id` (Skolverket's, or the sandbox's own 9xxx).
    pub id: String,
    /// `statusCode`.
    pub status_code: u16,
    /// `messageType`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// `message`.
    pub message: String,
    /// `parameterName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_name: Option<String>,
    /// `parameterValue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter_value: Option<String>,
    /// `resourceType` (`Code_ObjectType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<ObjectType>,
    /// `resourceId`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    /// `attributeName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    /// `attributeValue`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
    /// `severityLevel`.
    pub severity_level: Severity,
    /// `timeOfOccurance` (sic, as the spec spells it).
    pub time_of_occurance: String,
}

/// `AsynchronousResponse.responses[].response.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobStatus {
    /// "Den asynkrona processen är inte klar ännu."
    Pending,
    /// Done, accepted.
    Success,
    /// Done, refused.
    Error,
    /// Done, accepted with warnings (v1.3.0: instead of `Success`).
    Warning,
    /// Interrupted by a temporary fault; send again later.
    TemporaryError,
}

/// `AsynchronousResponse.responses[].response` (required: status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityOutcome {
    /// `status`.
    pub status: JobStatus,
    /// `statusCode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// `location`: only when the resource was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `errors` (the spec's example lists an empty one too).
    pub errors: Vec<LogEntry>,
    /// `warnings`.
    pub warnings: Vec<LogEntry>,
}

/// `AsynchronousResponse.responses[]` (required: id, response, meta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityResponse {
    /// `id`.
    pub id: Uuid,
    /// `response`.
    pub response: EntityOutcome,
    /// `meta`.
    pub meta: Meta,
}

/// `AsynchronousResponse` (required: jobId, responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AsynchronousResponse {
    /// `jobId`.
    pub job_id: Uuid,
    /// `responses`.
    pub responses: Vec<EntityResponse>,
}
