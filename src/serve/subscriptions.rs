//! `POST /subscriptions`, `PATCH /subscriptions/{id}` and
//! `DELETE /subscriptions/{id}`: how Skolverket's SS12000 client asks to
//! be notified when the served data changes (its target is
//! `…/webhooks/{urlId}` at the client).
//!
//! A subscription lives `subscription_days` (default 90) from its creation
//! or last renewal; an expired one cannot be renewed (`404`: the client
//! subscribes anew). The target must be an absolute `https://` URL — plain
//! `http://` only to a loopback host (a local sandbox or test), since the
//! notifications carry our token. An empty `resourceTypes` list means
//! every type (the notifier's reading too).

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use skolsync_model::ss12000::EntityKind;
use url::Url;
use uuid::Uuid;

use super::config::is_loopback;
use super::error::ApiError;
use super::feedback::json_body;
use super::state::ApiState;
use crate::state::served::{Subscription, served_kind};

/// The longest `name` kept.
const MAX_NAME_CHARS: usize = 500;
/// The longest `target` accepted.
const MAX_TARGET_CHARS: usize = 2000;

/// The routes, relative to the API's path.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/subscriptions", post(create))
        .route("/subscriptions/{id}", patch(renew).delete(remove))
}

/// `Subscription_post`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewSubscription {
    name: String,
    target: String,
    resource_types: Vec<ResourceType>,
}

/// `CreateSubscription_resourceTypes_inner`.
#[derive(Debug, Deserialize)]
struct ResourceType {
    resource: String,
}

async fn create(
    State(api): State<ApiState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let new: NewSubscription = json_body(body)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(
            "invalid_subscription",
            format!("name: must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    let target = check_target(&new.target)?;
    let kinds = new
        .resource_types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            served_kind(&t.resource).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_subscription",
                    format!(
                        "resourceTypes[{i}].resource: `{}` is not one of Organisation, Person, \
                         Group, Duty, Activity",
                        t.resource
                    ),
                )
            })
        })
        .collect::<Result<Vec<EntityKind>, _>>()?;
    let expires = expiry(&api)?;
    let subscription = api
        .store
        .create_subscription(&api.dataset, name, target.as_str(), &kinds, expires)
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(
        pipeline = %api.pipeline,
        subscription = %subscription.id,
        target_host = target.host_str().unwrap_or(""),
        expires = %subscription.expires,
        "subscription created"
    );
    Ok((StatusCode::CREATED, axum::Json(answer(&subscription))).into_response())
}

async fn renew(State(api): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = subscription_id(&id)?;
    let expires = expiry(&api)?;
    let renewed = api
        .store
        .renew_subscription(&api.dataset, id, expires)
        .await
        .map_err(ApiError::internal)?;
    let Some(subscription) = renewed else {
        return Err(ApiError::not_found(format!(
            "no live subscription {id} (unknown or expired: subscribe anew)"
        )));
    };
    tracing::info!(
        pipeline = %api.pipeline,
        subscription = %id,
        target_host = target_host(&subscription.target),
        expires = %subscription.expires,
        "subscription renewed"
    );
    Ok((StatusCode::OK, axum::Json(answer(&subscription))).into_response())
}

async fn remove(State(api): State<ApiState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = subscription_id(&id)?;
    let deleted = api
        .store
        .delete_subscription(&api.dataset, id)
        .await
        .map_err(ApiError::internal)?;
    if !deleted {
        return Err(ApiError::not_found(format!("no subscription {id}")));
    }
    tracing::info!(pipeline = %api.pipeline, subscription = %id, "subscription deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The `Subscription` answer.
fn answer(subscription: &Subscription) -> serde_json::Value {
    let types: Vec<_> = subscription
        .resource_types
        .iter()
        .map(|k| json!({ "resource": k.type_name() }))
        .collect();
    json!({
        "id": subscription.id,
        "name": subscription.name,
        "target": subscription.target,
        "resourceTypes": types,
        "expires": subscription.expires,
    })
}

fn expiry(api: &ApiState) -> Result<chrono::DateTime<Utc>, ApiError> {
    chrono::Duration::from_std(api.subscription_lifetime)
        .ok()
        .and_then(|lifetime| Utc::now().checked_add_signed(lifetime))
        .ok_or_else(|| ApiError::internal("the subscription lifetime is out of range"))
}

fn subscription_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("subscriptionId: `{text}` is not a UUID"),
        )
    })
}

/// An absolute `https://` URL (or `http://` to a loopback host).
fn check_target(text: &str) -> Result<Url, ApiError> {
    let bad = |why: String| ApiError::bad_request("invalid_subscription", format!("target: {why}"));
    if text.chars().count() > MAX_TARGET_CHARS {
        return Err(bad(format!("longer than {MAX_TARGET_CHARS} characters")));
    }
    let url = Url::parse(text.trim()).map_err(|e| bad(format!("not an absolute URL: {e}")))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(bad(format!("`{}` must be an https:// URL", url.as_str()))),
    }
}

fn target_host(target: &str) -> String {
    Url::parse(target)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_https_or_loopback_http() {
        assert!(check_target("https://klient.skolverket.se/webhooks/1").is_ok());
        assert!(check_target("http://127.0.0.1:9000/webhooks/1").is_ok());
        assert!(check_target("http://localhost/w").is_ok());
        assert!(check_target("http://klient.skolverket.se/webhooks/1").is_err());
        assert!(check_target("/webhooks/1").is_err());
        assert!(check_target("ftp://x.se/").is_err());
    }
}
