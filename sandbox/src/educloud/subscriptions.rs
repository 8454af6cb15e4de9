//! SS 12000 subscriptions (`paths/subscriptions.yaml`, `Subscription.yaml`):
//! a client registers a `target` URL and the resource types it cares
//! about, and the source POSTs a notification there when such data changes
//! (delivery: [`crate::webhooks`]).
//!
//! - `POST /subscriptions` with `name`, `target`, `resourceTypes:
//!   [{"resource": "Person"}, …]` → `201` with the subscription (`id`,
//!   `expires` and the request's fields).
//! - `GET /subscriptions` (paged like the lists), `GET /subscriptions/{id}`.
//! - `PATCH /subscriptions/{id}` moves `expires` to now plus the lifetime
//!   (the spec: "Uppdatera expire time") → `200` with the subscription.
//! - `DELETE /subscriptions/{id}` → `204`; an unknown id `404`, an id that
//!   is not a UUID `400`.
//!
//! The body is read with the sandbox's own reading of the spec, not the
//! product's types, and every problem of it is reported at once. The spec's
//! request example lists `resourceTypes` as plain strings while its schema
//! wants objects; the schema wins (a server that follows it refuses
//! strings). Each API sees only the subscriptions made through it.
//! Expired subscriptions stay listed with their past `expires` (a client
//! can see they lapsed) and can be renewed; they get no notifications.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::query::ListRequest;
use super::{
    Api, ApiError, Shared, SourceApi, check_access, customer_param, json_response, path_param,
};

/// One registered subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id, given by the source.
    pub id: Uuid,
    /// The API it was made through (and is seen by).
    pub api: SourceApi,
    /// The client's name for it.
    pub name: String,
    /// Where notifications are POSTed.
    pub target: String,
    /// The `Code_ObjectType`s it asked for (`Person`, `Group`, …).
    pub resource_types: Vec<String>,
    /// When it stops receiving notifications unless renewed.
    pub expires: DateTime<Utc>,
}

impl Subscription {
    /// Whether it still receives notifications at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.expires > now
    }

    /// Whether it asked for the type `type_name` (`"Person"`).
    pub fn wants(&self, type_name: &str) -> bool {
        self.resource_types.iter().any(|t| t == type_name)
    }

    /// The spec's `Subscription` JSON.
    pub fn to_json(&self) -> Value {
        let types: Vec<Value> = self
            .resource_types
            .iter()
            .map(|t| json!({ "resource": t }))
            .collect();
        json!({
            "id": self.id.to_string(),
            "expires": self.expires.to_rfc3339_opts(SecondsFormat::Secs, true),
            "name": self.name,
            "target": self.target,
            "resourceTypes": types,
        })
    }
}

/// The subscriptions of a running source; clones share them.
#[derive(Debug, Clone)]
pub struct Subscriptions {
    all: Arc<Mutex<Vec<Subscription>>>,
    lifetime: Duration,
}

impl Subscriptions {
    /// None yet; each lives `lifetime` after creation or renewal.
    pub fn new(lifetime: Duration) -> Self {
        Subscriptions {
            all: Arc::new(Mutex::new(Vec::new())),
            lifetime,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Subscription>> {
        match self.all.lock() {
            Ok(all) => all,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Every subscription of both APIs, oldest first.
    pub fn list(&self) -> Vec<Subscription> {
        self.lock().clone()
    }

    /// Those that receive notifications now.
    pub fn live(&self) -> Vec<Subscription> {
        let now = Utc::now();
        self.lock()
            .iter()
            .filter(|s| s.is_live(now))
            .cloned()
            .collect()
    }

    fn expiry(&self) -> DateTime<Utc> {
        let lifetime = chrono::Duration::from_std(self.lifetime).unwrap_or(chrono::Duration::MAX);
        Utc::now()
            .checked_add_signed(lifetime)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    fn create(&self, api: SourceApi, request: CreateRequest) -> Subscription {
        let subscription = Subscription {
            id: Uuid::new_v4(),
            api,
            name: request.name,
            target: request.target,
            resource_types: request.resource_types,
            expires: self.expiry(),
        };
        self.lock().push(subscription.clone());
        subscription
    }

    fn get(&self, api: SourceApi, id: &Uuid) -> Option<Subscription> {
        self.lock()
            .iter()
            .find(|s| s.api == api && &s.id == id)
            .cloned()
    }

    fn renew(&self, api: SourceApi, id: &Uuid) -> Option<Subscription> {
        let expires = self.expiry();
        let mut all = self.lock();
        let found = all.iter_mut().find(|s| s.api == api && &s.id == id)?;
        found.expires = expires;
        Some(found.clone())
    }

    fn remove(&self, api: SourceApi, id: &Uuid) -> bool {
        let mut all = self.lock();
        let before = all.len();
        all.retain(|s| !(s.api == api && &s.id == id));
        all.len() != before
    }
}

/// A `CreateSubscription` body that passed validation.
#[derive(Debug)]
struct CreateRequest {
    name: String,
    target: String,
    resource_types: Vec<String>,
}

/// Reads a `CreateSubscription` body, reporting every problem at once.
fn parse_create(body: &[u8]) -> Result<CreateRequest, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::InvalidBody(format!("subscription body is not valid JSON: {err}"))
    })?;
    let Value::Object(map) = value else {
        return Err(ApiError::InvalidBody(
            "subscription body must be a JSON object".to_string(),
        ));
    };
    let mut problems = Vec::new();
    let mut text = |key: &str| match map.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            problems.push(format!("`{key}` must not be empty"));
            None
        }
        Some(_) => {
            problems.push(format!("`{key}` must be a string"));
            None
        }
        None => {
            problems.push(format!("`{key}` is required"));
            None
        }
    };
    let name = text("name");
    let target = text("target");
    if let Some(target) = &target
        && let Err(problem) = check_target(target)
    {
        problems.push(problem);
    }
    let resource_types = resource_types(map.get("resourceTypes"), &mut problems);
    match (name, target) {
        (Some(name), Some(target)) if problems.is_empty() => Ok(CreateRequest {
            name,
            target,
            resource_types,
        }),
        _ => Err(ApiError::InvalidBody(problems.join("; "))),
    }
}

/// A target must be an absolute `http` or `https` URL with a host.
fn check_target(target: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(target)
        .map_err(|err| format!("`target` `{target}` is not a URL: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`target` `{target}`: the scheme must be https (or http), not `{}`",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("`target` `{target}` has no host"));
    }
    Ok(())
}

/// `resourceTypes`: a non-empty array of `{"resource": <Code_ObjectType>}`.
fn resource_types(value: Option<&Value>, problems: &mut Vec<String>) -> Vec<String> {
    let items = match value {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            problems.push("`resourceTypes` must name at least one resource type".to_string());
            return Vec::new();
        }
        Some(_) => {
            problems.push("`resourceTypes` must be an array".to_string());
            return Vec::new();
        }
        None => {
            problems.push("`resourceTypes` is required".to_string());
            return Vec::new();
        }
    };
    let mut types = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.get("resource") {
            Some(Value::String(t)) if super::resources::OBJECT_TYPES.contains(&t.as_str()) => {
                if !types.contains(t) {
                    types.push(t.clone());
                }
            }
            Some(Value::String(t)) => problems.push(format!(
                "`resourceTypes[{i}].resource`: unknown value `{t}` (expected one of: {})",
                super::resources::OBJECT_TYPES.join(", ")
            )),
            _ => problems.push(format!(
                "`resourceTypes[{i}]` must be an object such as {{\"resource\": \"Person\"}}"
            )),
        }
    }
    types
}

/// The subscription id of a path: a UUID, or `400` as the spec says.
fn subscription_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::InvalidId(raw.to_string()))
}

fn not_found(id: &Uuid) -> ApiError {
    ApiError::NotFound("Subscription", id.to_string())
}

fn json_body(status: StatusCode, value: &Value) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, json_response(body)).into_response(),
        Err(_) => ApiError::Internal.into_response(),
    }
}

/// `GET /subscriptions`: this API's subscriptions, paged like the lists.
fn list(shared: &Shared, api: SourceApi, query: Option<&str>) -> Result<Response, ApiError> {
    const RESOURCE: &str = "subscriptions";
    let request = ListRequest::parse(query, RESOURCE, &[])?;
    let limit = shared.settings.page_limit(request.limit)?;
    let mine: Vec<Subscription> = shared
        .settings
        .subscriptions
        .list()
        .into_iter()
        .filter(|s| s.api == api)
        .collect();
    let start = request.offset.min(mine.len());
    let end = start.saturating_add(limit).min(mine.len());
    let data: Vec<Value> = mine[start..end].iter().map(Subscription::to_json).collect();
    let token = (end < mine.len()).then(|| request.next_token(RESOURCE, end, None));
    Ok(json_body(
        StatusCode::OK,
        &json!({ "data": data, "pageToken": token }),
    ))
}

/// The subscription routes of one API under `prefix`.
pub(super) fn routes(router: Router<Arc<Shared>>, api: Api, prefix: &str) -> Router<Arc<Shared>> {
    let collection = get(
        move |State(shared): State<Arc<Shared>>,
              params: Result<RawPathParams, RawPathParamsRejection>,
              headers: HeaderMap,
              RawQuery(query): RawQuery| async move {
            check_access(&shared, api, customer_param(params.ok()), &headers)
                .and_then(|()| list(&shared, api, query.as_deref()))
                .unwrap_or_else(IntoResponse::into_response)
        },
    )
    .post(
        move |State(shared): State<Arc<Shared>>,
              params: Result<RawPathParams, RawPathParamsRejection>,
              headers: HeaderMap,
              body: Bytes| async move {
            check_access(&shared, api, customer_param(params.ok()), &headers)
                .and_then(|()| parse_create(&body))
                .map(|request| {
                    let created = shared.settings.subscriptions.create(api, request);
                    json_body(StatusCode::CREATED, &created.to_json())
                })
                .unwrap_or_else(IntoResponse::into_response)
        },
    );
    let one = move |verb: Verb| {
        move |State(shared): State<Arc<Shared>>,
              params: Result<RawPathParams, RawPathParamsRejection>,
              headers: HeaderMap| async move {
            let params = params.ok();
            let raw = path_param(params.as_ref(), "id").unwrap_or_default();
            check_access(&shared, api, customer_param(params), &headers)
                .and_then(|()| subscription_id(&raw))
                .and_then(|id| by_id(&shared, api, &id, verb))
                .unwrap_or_else(IntoResponse::into_response)
        }
    };
    router
        .route(&format!("{prefix}/subscriptions"), collection)
        .route(
            &format!("{prefix}/subscriptions/{{id}}"),
            get(one(Verb::Get))
                .patch(one(Verb::Renew))
                .delete(one(Verb::Delete)),
        )
}

/// What a request on one subscription does.
#[derive(Debug, Clone, Copy)]
enum Verb {
    Get,
    Renew,
    Delete,
}

fn by_id(shared: &Shared, api: SourceApi, id: &Uuid, verb: Verb) -> Result<Response, ApiError> {
    let store = &shared.settings.subscriptions;
    match verb {
        Verb::Get => store
            .get(api, id)
            .map(|s| json_body(StatusCode::OK, &s.to_json()))
            .ok_or_else(|| not_found(id)),
        Verb::Renew => store
            .renew(api, id)
            .map(|s| json_body(StatusCode::OK, &s.to_json()))
            .ok_or_else(|| not_found(id)),
        Verb::Delete => {
            if store.remove(api, id) {
                Ok(StatusCode::NO_CONTENT.into_response())
            } else {
                Err(not_found(id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_with_many_problems_names_them_all() {
        let body = br#"{"name": "", "target": "ftp://x", "resourceTypes": ["Person", {"resource": "Pupil"}]}"#;
        let Err(ApiError::InvalidBody(message)) = parse_create(body) else {
            panic!("accepted");
        };
        for part in [
            "`name` must not be empty",
            "scheme must be https",
            "`resourceTypes[0]` must be an object",
            "unknown value `Pupil`",
        ] {
            assert!(message.contains(part), "{message}");
        }
        assert!(matches!(
            parse_create(b"[1]"),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(matches!(parse_create(b"{"), Err(ApiError::InvalidBody(_))));
    }

    #[test]
    fn a_valid_body_keeps_its_fields_and_drops_repeated_types() {
        let body = br#"{"name": "n", "target": "https://127.0.0.1:9/hook",
            "resourceTypes": [{"resource": "Person"}, {"resource": "Person"}, {"resource": "Group"}]}"#;
        let request = parse_create(body).unwrap();
        assert_eq!(request.resource_types, vec!["Person", "Group"]);
        let store = Subscriptions::new(Duration::from_secs(60));
        let made = store.create(Api::Generic, request);
        assert!(made.is_live(Utc::now()));
        assert!(store.get(Api::EduCloud, &made.id).is_none());
        assert_eq!(made.to_json()["resourceTypes"][1]["resource"], "Group");
    }
}
