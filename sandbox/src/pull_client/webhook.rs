//! `POST {base}/webhooks/{urlId}`: the huvudman's notification. The JWT
//! must be the sandbox authorisation server's, valid now, and grant
//! `ss12000-client` for this client's base URL (checklist step 9.3);
//! otherwise `401` (no, malformed, foreign, expired token) or `403` (a
//! valid token for something else). Every receipt is recorded with its
//! answer; an accepted one is queued for the registration's worker and
//! answered `200` at once.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Job, RegistrationId, ResourceType, Ss12000Client, WebhookReceipt};
use crate::auth::{SS12000_CLIENT_ACCESS_TYPE, TokenError};

/// The client's routes, relative to its base URL.
pub fn router(client: Arc<Ss12000Client>) -> Router {
    Router::new()
        .route("/webhooks/{url_id}", post(receive))
        .with_state(client)
}

/// A refusal: status and reason.
type Refusal = (StatusCode, String);

async fn receive(
    State(client): State<Arc<Ss12000Client>>,
    Path(url_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Utc::now();
    let registration = Uuid::parse_str(&url_id)
        .ok()
        .and_then(|id| client.registration(RegistrationId(id)).ok());
    let Some(registration) = registration else {
        return answer(
            StatusCode::NOT_FOUND,
            Some(format!("no subscription has the target id `{url_id}`")),
        );
    };
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let verdict = check_token(&client, &headers).and_then(|()| read_body(parsed.as_ref()));
    let (status, reason, job) = match verdict {
        Ok((types, deleted)) => (
            StatusCode::OK,
            None,
            Some(Job::Webhook {
                received_at,
                types,
                deleted,
            }),
        ),
        Err((status, reason)) => {
            tracing::info!(registration = %registration.id, %status, "webhook refused: {reason}");
            (status, Some(reason), None)
        }
    };
    registration.lock().webhooks.push(WebhookReceipt {
        received_at,
        status: status.as_u16(),
        reason: reason.clone(),
        body: parsed,
    });
    if let Some(job) = job {
        registration.enqueue(job);
    }
    answer(status, reason)
}

fn answer(status: StatusCode, reason: Option<String>) -> Response {
    match reason {
        None => status.into_response(),
        Some(message) => {
            let code = status.canonical_reason().unwrap_or("error");
            (
                status,
                axum::Json(json!({ "code": code, "message": message })),
            )
                .into_response()
        }
    }
}

/// The bearer token: the issuer's, in time, for `ss12000-client` here.
fn check_token(client: &Ss12000Client, headers: &HeaderMap) -> Result<(), Refusal> {
    let unauthorised = |m: String| (StatusCode::UNAUTHORIZED, m);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorised(
            "no Authorization header: a Bearer JWT is required".into(),
        ));
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorised("the Authorization header is not text".into()))?;
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return Err(unauthorised(
            "the Authorization header is not `Bearer <JWT>`".into(),
        ));
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(unauthorised(format!("scheme `{scheme}` is not Bearer")));
    }
    let base = client.base_url();
    client
        .context
        .issuer
        .verify_access(token, SS12000_CLIENT_ACCESS_TYPE, |l| {
            l.trim().trim_end_matches('/') == base
        })
        .map(|_| ())
        .map_err(|e| match e {
            TokenError::NoAccess(_) => (
                StatusCode::FORBIDDEN,
                format!("the token does not grant `{SS12000_CLIENT_ACCESS_TYPE}` access to {base}"),
            ),
            other => unauthorised(other.to_string()),
        })
}

/// `{"modifiedEntites": [types], "deletedEntities": bool}` (the spec's
/// spelling; `modifiedEntities` also taken). Unknown type names are
/// ignored; wrong JSON types are a `400`.
fn read_body(body: Option<&Value>) -> Result<(Vec<ResourceType>, bool), Refusal> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    let Some(Value::Object(body)) = body else {
        return Err(bad("the body is not a JSON object"));
    };
    let modified = body
        .get("modifiedEntites")
        .or_else(|| body.get("modifiedEntities"));
    let types = match modified {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let mut types = Vec::new();
            for item in items {
                let Some(name) = item.as_str() else {
                    return Err(bad("`modifiedEntites` must list type names (strings)"));
                };
                if let Some(t) = ResourceType::from_name(name)
                    && !types.contains(&t)
                {
                    types.push(t);
                }
            }
            types
        }
        Some(_) => return Err(bad("`modifiedEntites` must be a list")),
    };
    let deleted = match body.get("deletedEntities") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("`deletedEntities` must be true or false")),
    };
    Ok((types, deleted))
}
