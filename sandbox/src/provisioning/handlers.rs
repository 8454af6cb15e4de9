//! The endpoints of the Provisioning API, one generic set per resource.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use skolsync_model::ObjectType;
use uuid::Uuid;

use super::ProvisioningState;
use super::gate::Caller;
use super::messages::{self as msg, Entry, mask_digit_runs, single};
use super::payload::{Accepted, Activity, Bulk, Duty, Group, Page, Person, path_segment};
use super::rules::Resource;
use super::schema;
use super::store::{Mode, Submission, Work};

/// The `message` of a `202 Accepted` (spec example).
pub const ACCEPTED_MESSAGE: &str = "Anropet har tagits emot. Återkoppling görs asynkront. Kontrollera status av asynkrona processen genom att följa URL-adressen i ’Location’-header.";

/// `components/parameters/Limit`: `default: 50`.
const PAGE_LIMIT_DEFAULT: usize = 50;
/// `components/parameters/Limit`: `minimum: 1, maximum: 100`.
const PAGE_LIMIT_MAX: usize = 100;

/// All paths of the spec.
pub fn routes() -> Router<ProvisioningState> {
    let router = Router::new()
        .route("/alive", get(alive))
        .route("/persons/lookup", post(lookup_persons))
        .route("/duties/lookup", post(lookup_ids::<Duty>))
        .route("/groups/lookup", post(lookup_ids::<Group>))
        .route("/activities/lookup", post(lookup_ids::<Activity>));
    let router = resource::<Person>(router);
    let router = resource::<Duty>(router);
    let router = resource::<Group>(router);
    resource::<Activity>(router)
        .fallback(unknown_path)
        .method_not_allowed_fallback(wrong_method)
}

fn resource<T: Resource>(router: Router<ProvisioningState>) -> Router<ProvisioningState> {
    let segment = T::PATH_SEGMENT;
    router
        .route(&format!("/{segment}"), get(list::<T>))
        .route(&format!("/{segment}/{{id}}"), get(by_id::<T>))
        .route(
            &format!("/{segment}/bulk"),
            post(create::<T>).put(update::<T>),
        )
        .route(&format!("/{segment}/bulk/delete"), post(delete::<T>))
        .route(&format!("/{segment}/bulk/jobs/{{id}}"), get(job::<T>))
        .route(
            &format!("/{segment}/bulk/jobs/{{id}}/isCompleted"),
            get(completed::<T>),
        )
}

async fn alive() -> StatusCode {
    StatusCode::OK
}

async fn unknown_path(uri: Uri) -> Response {
    single(msg::unknown_path(uri.path()))
}

async fn wrong_method(method: Method) -> Response {
    single(msg::method_not_allowed(method.as_str()))
}

// ---- parameters -----------------------------------------------------------

/// A refused request: the LogEntry to answer with (boxed: it is large).
#[derive(Debug)]
struct Refusal(Box<Entry>);

impl From<Entry> for Refusal {
    fn from(entry: Entry) -> Self {
        Refusal(Box::new(entry))
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        single(*self.0)
    }
}

type Answer = Result<Response, Refusal>;

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .ok()?
        .0
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// A boolean query parameter: absent is `false`; `true`/`false` in any case.
fn boolean(uri: &Uri, name: &str) -> Result<bool, Refusal> {
    match query_value(uri, name) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(msg::invalid_boolean(name, &v).into()),
    }
}

/// A UUID in the RFC 4122 text form (36 characters with hyphens).
fn uuid(text: &str) -> Option<Uuid> {
    (text.len() == 36)
        .then(|| Uuid::parse_str(text).ok())
        .flatten()
}

fn path_id(kind: ObjectType, id: &str) -> Result<Uuid, Refusal> {
    uuid(id).ok_or_else(|| msg::invalid_path_id(Some(kind), id).into())
}

fn encode_token(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::json!({ "position": seq }).to_string())
}

fn decode_token(token: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.get("position")?.as_u64()
}

// ---- bulk -------------------------------------------------------------------

fn utf8<T: Resource>(body: &[u8]) -> Result<&str, Refusal> {
    std::str::from_utf8(body)
        .map_err(|_| msg::invalid_body(Some(T::KIND), "innehållet är inte UTF-8").into())
}

/// The body as JSON, judged against the sandbox's own reading of the
/// spec's schema ([`schema`]): every problem named at once.
fn checked_json<T: Resource>(body: &[u8], shape: Checked) -> Result<Value, Refusal> {
    let bad = |detail: &str| Refusal::from(msg::invalid_body(Some(T::KIND), detail));
    let text = utf8::<T>(body)?;
    let value: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let problems = match shape {
        Checked::Bulk => schema::bulk_problems(&value, T::SCHEMA),
        Checked::Delete => schema::problems(&value, &schema::DELETE, ""),
    };
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(bad(&problems.join("; ")))
    }
}

/// Which body a bulk call takes.
#[derive(Debug, Clone, Copy)]
enum Checked {
    /// `{data: [resource]}`.
    Bulk,
    /// `{data: [uuid]}`.
    Delete,
}

fn parse_bulk<T: Resource>(body: &[u8]) -> Result<Vec<T>, Refusal> {
    let value = checked_json::<T>(body, Checked::Bulk)?;
    // The body passed the sandbox's own schema, so its own types hold it;
    // if they cannot, the two readings of the spec disagree: said so.
    let request: Bulk<T> = serde_json::from_value(value).map_err(|e| {
        Refusal::from(msg::invalid_body(
            Some(T::KIND),
            &format!("giltigt enligt schemat men kunde inte läsas: {e}"),
        ))
    })?;
    Ok(request.data)
}

fn accept(
    state: &ProvisioningState,
    caller: &Caller,
    kind: ObjectType,
    work: Work,
    ids: Vec<Uuid>,
) -> Response {
    let settle_in = state.inner.settle_delay + state.inner.faults.get().pending_extra;
    let count = ids.len();
    let submission = Submission {
        kind,
        base_url: caller.base_url.clone(),
        organisation: caller.organisation.clone(),
        settle_in,
        settling: state.inner.settling,
    };
    let job_id = state.inner.store.submit(submission, work, ids);
    tracing::debug!(%kind, %job_id, count, client = %caller.client, "provisioning: bulk job accepted");
    let location = format!(
        "{}/{}/bulk/jobs/{job_id}",
        caller.base_url,
        path_segment(kind)
    );
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            job_id,
            message: ACCEPTED_MESSAGE.to_string(),
        }),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

async fn create<T: Resource>(
    State(state): State<ProvisioningState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Bytes,
) -> Answer {
    let upsert = boolean(&uri, "updateIfExists")?;
    let items = parse_bulk::<T>(&body)?;
    let ids = items.iter().map(|e| e.id()).collect();
    let mode = if upsert { Mode::Upsert } else { Mode::Create };
    Ok(accept(&state, &caller, T::KIND, T::work(items, mode), ids))
}

async fn update<T: Resource>(
    State(state): State<ProvisioningState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Answer {
    let items = parse_bulk::<T>(&body)?;
    let ids = items.iter().map(|e| e.id()).collect();
    Ok(accept(
        &state,
        &caller,
        T::KIND,
        T::work(items, Mode::Update),
        ids,
    ))
}

async fn delete<T: Resource>(
    State(state): State<ProvisioningState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Answer {
    let value = checked_json::<T>(&body, Checked::Delete)?;
    // Checked above: `data` is a list of UUIDs.
    let ids: Vec<Uuid> = value
        .get("data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().and_then(uuid))
        .collect();
    Ok(accept(
        &state,
        &caller,
        T::KIND,
        Work::Delete(ids.clone()),
        ids,
    ))
}

async fn job<T: Resource>(
    State(state): State<ProvisioningState>,
    Path(id): Path<String>,
    uri: Uri,
) -> Answer {
    let job_id = path_id(T::KIND, &id)?;
    let only_errors = boolean(&uri, "showOnlyError")?;
    match state
        .inner
        .store
        .job_status(Some(T::KIND), job_id, only_errors)
    {
        Some(status) => Ok(Json(status).into_response()),
        None => Err(msg::not_found("Bulk-jobb", T::KIND, &id).into()),
    }
}

async fn completed<T: Resource>(
    State(state): State<ProvisioningState>,
    Path(id): Path<String>,
) -> Answer {
    let job_id = path_id(T::KIND, &id)?;
    match state.inner.store.job_completed(T::KIND, job_id) {
        Some(done) => Ok(Json(done).into_response()),
        None => Err(msg::not_found("Bulk-jobb", T::KIND, &id).into()),
    }
}

// ---- reads ------------------------------------------------------------------

async fn list<T: Resource>(State(state): State<ProvisioningState>, uri: Uri) -> Answer {
    let limit = match query_value(&uri, "limit") {
        None => PAGE_LIMIT_DEFAULT,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=PAGE_LIMIT_MAX).contains(&n) => n,
            _ => return Err(msg::invalid_limit().into()),
        },
    };
    let after = match query_value(&uri, "pageToken").filter(|t| !t.trim().is_empty()) {
        None => 0,
        Some(token) => decode_token(&token).ok_or_else(|| msg::invalid_page_token(&token))?,
    };
    let (data, next) = state.inner.store.page::<T>(after, limit);
    Ok(Json(Page {
        data,
        page_token: next.map(encode_token),
    })
    .into_response())
}

async fn by_id<T: Resource>(
    State(state): State<ProvisioningState>,
    Path(id): Path<String>,
) -> Answer {
    let uuid = path_id(T::KIND, &id)?;
    match state.inner.store.get::<T>(uuid) {
        Some(entity) => Ok(Json(entity).into_response()),
        None => Err(msg::not_found(T::KIND.as_str(), T::KIND, &id).into()),
    }
}

fn lookup_body(body: &[u8]) -> Result<Value, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => Ok(value),
        _ => Err(Entry::new(
            msg::INVALID_LOOKUP,
            400,
            "Ogiltigt format",
            "Ogiltigt format på ´body´. Innehållet ska vara ett JSON-objekt.",
        )
        .parameter("body", None)
        .into()),
    }
}

/// A list of strings under `key` (absent or `null`: empty).
fn strings(value: &Value, key: &str, expected: &str) -> Result<Vec<String>, Refusal> {
    let invalid = |v: &Value| {
        let shown = match v {
            Value::String(s) => mask_digit_runs(s),
            other => mask_digit_runs(&other.to_string()),
        };
        Refusal::from(msg::invalid_lookup(key, &shown, expected))
    };
    match value.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| invalid(item))
            })
            .collect(),
        Some(other) => Err(invalid(other)),
    }
}

fn ids(value: &Value) -> Result<Vec<Uuid>, Refusal> {
    strings(value, "ids", msg::UUID_FORMAT)?
        .into_iter()
        .map(|text| {
            uuid(&text).ok_or_else(|| {
                msg::invalid_lookup("ids", &mask_digit_runs(&text), msg::UUID_FORMAT).into()
            })
        })
        .collect()
}

async fn lookup_persons(State(state): State<ProvisioningState>, body: Bytes) -> Answer {
    let value = lookup_body(&body)?;
    let ids = ids(&value)?;
    let civic_nos = strings(&value, "civicNos", "Format ska vara text.")?;
    let eppns = strings(&value, "eduPersonPrincipalNames", "Format ska vara text.")?;
    let found = state.inner.store.lookup_persons(&ids, &civic_nos, &eppns);
    Ok(Json(found).into_response())
}

async fn lookup_ids<T: Resource>(State(state): State<ProvisioningState>, body: Bytes) -> Answer {
    let ids = ids(&lookup_body(&body)?)?;
    Ok(Json(state.inner.store.lookup::<T>(&ids)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_garbage_is_refused() {
        assert_eq!(decode_token(&encode_token(42)), Some(42));
        assert_eq!(decode_token("not-a-token"), None);
        assert_eq!(decode_token(&URL_SAFE_NO_PAD.encode("{}")), None);
    }

    #[test]
    fn only_hyphenated_uuids_are_ids() {
        assert!(uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6").is_some());
        assert!(uuid("3fa85f6457174562b3fc2c963f66afa6").is_none());
        assert!(uuid("xxx").is_none());
    }
}
