//! Emulator of IST EduCloud: an OAuth2 token endpoint and the SS 12000 v2
//! read API, and the same API as a "generic SS 12000" source.
//!
//! - `POST /connect/token` behaves as `https://skolid.se/connect/token`:
//!   client credentials grant, credentials as form fields or HTTP Basic,
//!   `{"access_token", "token_type": "Bearer", "expires_in"}`; a wrong client
//!   is `401 invalid_client`, another grant `400 unsupported_grant_type`.
//!   Tokens are opaque and expire after [`EduCloudSettings::token_lifetime`]
//!   (minus the source fault `token_early_expiry_secs`); [`TokenStore`] lets tests expire them.
//! - `/ss12000v2-api/source/{customerId}/v2.0/…` serves [`SourceData`] with
//!   those tokens; an unknown customer id is `404`.
//! - `/ss12000/v2.0/…` ([`GENERIC_BASE`]) serves the same with the static
//!   bearer token [`EduCloudSettings::ss12000_token`].
//!
//! Under both bases: `organisations`, `persons`, `duties`, `groups`,
//! `activities`, `syllabuses`, `programmes` (list, `/{id}`, `POST /lookup`)
//! and `deletedEntities`. Lists page with `limit` + an opaque `pageToken` that
//! carries the filters and the position in the stored list, so each page costs
//! the entities it scans, never the whole list; a token cannot be combined
//! with new filters (`400`, as the spec says). `meta.created.*` and
//! `meta.modified.*` (`after` exclusive, `before` inclusive), the spec's
//! filters per resource, `expand` and `expandReferenceNames` are supported;
//! `sortkey` is refused with `400` (lists come in stored order). Activities
//! are served in the spec's shape: `parentActivity` is one reference and
//! `calendarEventsRequired` is always present. Errors use the spec's `Error`
//! body (`code`, `message`, both strings).
//!
//! [`SourceData::raw_overrides`] replace the served JSON of single entities,
//! so a "dirty" source sends what the typed model cannot hold (an unknown
//! enum value): the typed entity with the same kind and id still decides
//! filtering and order, and its JSON is swapped for the raw one on the way
//! out. Copies embedded by `expand` are the typed ones.
//!
//! Like a real server, lists serve at most
//! [`SourceOptions::max_page_size`](crate::config::SourceOptions) entities a
//! page (a larger `limit` is clamped or refused, as configured) and every
//! data read waits [`EduCloudSettings::latency`] before it answers. Both APIs
//! take subscriptions ([`subscriptions`]); [`SourceCalls`] counts every call
//! received, so tests can assert how much a client read.
//!
//! The source faults ([`crate::config::SourceFaults`]: slowness, a 429 burst
//! and 503s with `Retry-After`, a share of 500s) apply to every route, the
//! token endpoint included; resources it lists as `unserved` answer `404`
//! as on a server without them. The provtjänst's faults
//! ([`crate::config::Faults`]) never touch these APIs, so a test can fail
//! the source and the sink apart.

mod calls;
mod error;
mod query;
mod resources;
mod subscriptions;
mod token;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{RawPathParams, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use skolsync_model::ss12000::{
    Activity, Duty, EntityKind, Group, Organisation, Person, Programme, Syllabus,
};

pub use calls::{CallCounts, SourceCalls};
use error::ApiError;
pub use subscriptions::{Subscription, Subscriptions};
pub use token::TokenStore;

use crate::config::{FaultSwitch, OverMaxPageSize, SandboxConfig, SourceAnswer};
use crate::world::{SourceData, World};
use query::{ListRequest, Params, parse_bool, parse_datetime, parse_urlencoded};
use resources::{Embeds, LookupBody, LookupContext, Names, Resource, Wanted};

/// Path of the OAuth2 token endpoint.
pub const TOKEN_PATH: &str = "/connect/token";

/// Base path of the generic SS 12000 API (static bearer token).
pub const GENERIC_BASE: &str = "/ss12000/v2.0";

/// Base path of EduCloud's SS 12000 API for a customer (org identifier).
pub fn educloud_base(customer_id: &str) -> String {
    format!("/ss12000v2-api/source/{customer_id}/v2.0")
}

/// How the EduCloud emulator is set up.
#[derive(Debug, Clone)]
pub struct EduCloudSettings {
    /// The one customer (org identifier, e.g. `SE00100`) served.
    pub customer_id: String,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret.
    pub client_secret: String,
    /// Lifetime of issued tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Static bearer token of the generic SS 12000 API.
    pub ss12000_token: String,
    /// Page size when a list request gives no `limit` (the spec leaves it to
    /// the server: "så många poster som möjligt").
    pub default_page_size: usize,
    /// Largest page served.
    pub max_page_size: usize,
    /// What a `limit` over `max_page_size` gets: that many and a
    /// `pageToken`, or `400`.
    pub over_max_page_size: OverMaxPageSize,
    /// Time every list, lookup and by-id read (and `/deletedEntities`)
    /// waits before answering.
    pub latency: Duration,
    /// Issued tokens; keep a clone to expire them from a test.
    pub tokens: TokenStore,
    /// Counts every call received; keep a clone to read it.
    pub calls: SourceCalls,
    /// The subscriptions made through either API; keep a clone to notify them.
    pub subscriptions: Subscriptions,
}

impl EduCloudSettings {
    /// The settings a sandbox's configuration implies.
    pub fn from_config(config: &SandboxConfig) -> Self {
        EduCloudSettings {
            customer_id: config.educloud_customer_id.clone(),
            client_id: config.educloud_client_id.clone(),
            client_secret: config.educloud_client_secret.clone(),
            token_lifetime: config.educloud_token_lifetime,
            ss12000_token: config.ss12000_token.clone(),
            // The cap is also the default, as on servers that answer a
            // request without `limit` with one full page.
            default_page_size: config.source.max_page_size,
            max_page_size: config.source.max_page_size,
            over_max_page_size: config.source.over_max_page_size,
            latency: config.source.latency,
            tokens: TokenStore::new(),
            calls: SourceCalls::new(),
            subscriptions: Subscriptions::new(config.source.subscription_lifetime),
        }
    }

    /// The page size of a request asking for `limit` entities.
    fn page_limit(&self, limit: Option<usize>) -> Result<usize, ApiError> {
        let max = self.max_page_size.max(1);
        match limit {
            None => Ok(self.default_page_size.clamp(1, max)),
            Some(asked) if asked > max && self.over_max_page_size == OverMaxPageSize::Reject => {
                Err(ApiError::LimitTooLarge { asked, max })
            }
            Some(asked) => Ok(asked.clamp(1, max)),
        }
    }
}

/// State shared by every route.
#[derive(Debug)]
struct Shared {
    world: World,
    settings: EduCloudSettings,
    faults: Arc<FaultSwitch>,
}

/// Which of the two source APIs a route belongs to; they differ only in
/// how the caller is authorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceApi {
    /// IST EduCloud (OAuth2 client credentials, customer in the path).
    EduCloud,
    /// The generic SS 12000 API (static bearer token).
    Generic,
}

type Api = SourceApi;

/// The EduCloud emulator: token endpoint, EduCloud API and generic API.
pub fn router(world: World, config: EduCloudSettings, faults: Arc<FaultSwitch>) -> Router {
    let calls = config.calls.clone();
    let shared = Arc::new(Shared {
        world,
        settings: config,
        faults: Arc::clone(&faults),
    });
    let mut router = Router::new().route(TOKEN_PATH, post(token::token));
    for api in [Api::EduCloud, Api::Generic] {
        router = api_routes(router, api);
    }
    router
        .fallback(|| async { ApiError::UnknownPath })
        .with_state(shared)
        .layer(middleware::from_fn_with_state(faults, apply_faults))
        // Outermost: a call refused by a fault still reached the source.
        .layer(middleware::from_fn_with_state(calls, calls::count))
}

/// Calls the generic `handler` with the resource type of `kind`.
macro_rules! per_kind {
    ($kind:expr, $handler:ident($($arg:expr),* $(,)?)) => {
        match $kind {
            EntityKind::Organisation => $handler::<Organisation>($($arg),*),
            EntityKind::Person => $handler::<Person>($($arg),*),
            EntityKind::Duty => $handler::<Duty>($($arg),*),
            EntityKind::Group => $handler::<Group>($($arg),*),
            EntityKind::Activity => $handler::<Activity>($($arg),*),
            EntityKind::Syllabus => $handler::<Syllabus>($($arg),*),
            EntityKind::Programme => $handler::<Programme>($($arg),*),
        }
    };
}

/// The routes of one API, all resources.
fn api_routes(mut router: Router<Arc<Shared>>, api: Api) -> Router<Arc<Shared>> {
    let prefix = match api {
        Api::EduCloud => "/ss12000v2-api/source/{customer_id}/v2.0",
        Api::Generic => GENERIC_BASE,
    };
    for kind in EntityKind::ALL {
        let base = format!("{prefix}/{}", kind.endpoint());
        router = router
            .route(
                &base,
                get(
                    move |State(shared): State<Arc<Shared>>,
                          params: Result<RawPathParams, RawPathParamsRejection>,
                          headers: HeaderMap,
                          RawQuery(query): RawQuery| async move {
                        let customer = customer_param(params.ok());
                        guarded(shared, api, customer, headers, move |shared| {
                            per_kind!(kind, list(&shared, query.as_deref()))
                        })
                        .await
                    },
                ),
            )
            .route(
                &format!("{base}/lookup"),
                post(
                    move |State(shared): State<Arc<Shared>>,
                          params: Result<RawPathParams, RawPathParamsRejection>,
                          headers: HeaderMap,
                          RawQuery(query): RawQuery,
                          body: Bytes| async move {
                        let customer = customer_param(params.ok());
                        guarded(shared, api, customer, headers, move |shared| {
                            per_kind!(kind, lookup(&shared, query.as_deref(), &body))
                        })
                        .await
                    },
                ),
            )
            .route(
                &format!("{base}/{{id}}"),
                get(
                    move |State(shared): State<Arc<Shared>>,
                          params: Result<RawPathParams, RawPathParamsRejection>,
                          headers: HeaderMap,
                          RawQuery(query): RawQuery| async move {
                        let params = params.ok();
                        let id = path_param(params.as_ref(), "id").unwrap_or_default();
                        let customer = customer_param(params);
                        guarded(shared, api, customer, headers, move |shared| {
                            per_kind!(kind, one(&shared, &id, query.as_deref()))
                        })
                        .await
                    },
                ),
            );
    }
    let router = subscriptions::routes(router, api, prefix);
    router.route(
        &format!("{prefix}/deletedEntities"),
        get(
            move |State(shared): State<Arc<Shared>>,
                  params: Result<RawPathParams, RawPathParamsRejection>,
                  headers: HeaderMap,
                  RawQuery(query): RawQuery| async move {
                let customer = customer_param(params.ok());
                guarded(shared, api, customer, headers, move |shared| {
                    deleted_entities(&shared, query.as_deref())
                })
                .await
            },
        ),
    )
}

fn path_param(params: Option<&RawPathParams>, name: &str) -> Option<String> {
    params?
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn customer_param(params: Option<RawPathParams>) -> Option<String> {
    path_param(params.as_ref(), "customer_id")
}

/// Waits the configured latency, authorises the caller, checks the
/// customer and runs `work` off the async threads (a filtered page of a
/// national-scale list may scan a while).
async fn guarded<F>(
    shared: Arc<Shared>,
    api: Api,
    customer: Option<String>,
    headers: HeaderMap,
    work: F,
) -> Response
where
    F: FnOnce(Arc<Shared>) -> Result<Response, ApiError> + Send + 'static,
{
    if !shared.settings.latency.is_zero() {
        tokio::time::sleep(shared.settings.latency).await;
    }
    if let Err(err) = check_access(&shared, api, customer, &headers) {
        return err.into_response();
    }
    let date = source_date(&shared);
    let mut response = match tokio::task::spawn_blocking(move || work(shared)).await {
        Ok(Ok(response)) => response,
        Ok(Err(err)) => err.into_response(),
        Err(_) => ApiError::Internal.into_response(),
    };
    if let Some(date) = date {
        response.headers_mut().insert(header::DATE, date);
    }
    response
}

/// The `Date` of an answer when the source's clock was moved
/// ([`SourceData::advance_clock`](crate::world::SourceData::advance_clock)):
/// a client takes its watermark from it. `None` (the server's own `Date`)
/// otherwise.
fn source_date(shared: &Shared) -> Option<header::HeaderValue> {
    let data = shared.world.source.read().ok()?;
    if data.clock_offset.is_zero() {
        return None;
    }
    let now = data.now().with_timezone(&chrono::Utc);
    header::HeaderValue::from_str(&now.format("%a, %d %b %Y %H:%M:%S GMT").to_string()).ok()
}

/// Authorises the caller and checks the customer of an EduCloud path.
fn check_access(
    shared: &Shared,
    api: Api,
    customer: Option<String>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    authorise(shared, api, headers)?;
    match customer {
        Some(customer) if customer != shared.settings.customer_id => {
            Err(ApiError::UnknownCustomer(customer))
        }
        _ => Ok(()),
    }
}

/// The bearer token of the request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn authorise(shared: &Shared, api: Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let valid = match api {
        Api::Generic => token == shared.settings.ss12000_token,
        Api::EduCloud => shared.settings.tokens.is_valid(
            token,
            Duration::from_secs(shared.faults.source().token_early_expiry_secs),
        ),
    };
    if valid {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "the access token is invalid or has expired",
        ))
    }
}

/// The source faults as configured at the moment of the call: slow
/// answers, 429 bursts, 503s, 500s, and unserved resources.
async fn apply_faults(
    State(faults): State<Arc<FaultSwitch>>,
    request: Request,
    next: Next,
) -> Response {
    let answer = faults.take_source().await;
    let (error, wait) = match answer {
        Some(SourceAnswer::Throttled(secs)) => (ApiError::RateLimited, Some(secs)),
        Some(SourceAnswer::Unavailable(secs)) => (ApiError::Unavailable, Some(secs)),
        Some(SourceAnswer::Internal) => (ApiError::Internal, None),
        None => {
            let unserved = faults.source().unserved;
            if let Some(resource) = resource_of(request.uri().path())
                && unserved.iter().any(|u| u.trim() == resource)
            {
                return ApiError::UnknownPath.into_response();
            }
            return next.run(request).await;
        }
    };
    let mut response = error.into_response();
    if let Some(secs) = wait
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The resource a path under either API base names (`persons` of
/// `/ss12000/v2.0/persons/{id}`), if any.
fn resource_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/').skip_while(|s| *s != "v2.0");
    segments.next()?;
    segments.next().filter(|s| !s.is_empty())
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn read_source(shared: &Shared) -> Result<std::sync::RwLockReadGuard<'_, SourceData>, ApiError> {
    shared.world.source.read().map_err(|_| ApiError::Internal)
}

// ---------------------------------------------------------------------------
// Lists, single entities and lookups.

/// Checks `expand` values against what the resource takes.
fn check_expand<T: Resource>(expand: &BTreeSet<String>) -> Result<(), ApiError> {
    match expand.iter().find(|e| !T::EXPANDS.contains(&e.as_str())) {
        Some(bad) => Err(ApiError::InvalidFilter(format!(
            "`expand`: unknown value `{bad}` for {} (expected one of: {})",
            T::KIND.endpoint(),
            T::EXPANDS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// How the entities of one answer are rendered.
struct Render<'a> {
    shared: &'a Shared,
    data: &'a SourceData,
    expand: &'a BTreeSet<String>,
    names: bool,
}

impl Render<'_> {
    /// Writes `entities` as a JSON array into `out`.
    fn array<T: Resource>(&self, entities: &[&T], out: &mut Vec<u8>) -> Result<(), ApiError> {
        let names = self.names.then(|| {
            let mut wanted = Wanted::default();
            for e in entities {
                e.references(&mut wanted);
            }
            Names::resolve(self.data, &self.shared.world.catalogue, wanted)
        });
        let mut embeds: Embeds = T::embed(entities, self.data, self.expand);
        out.push(b'[');
        for (i, entity) in entities.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let id = entity.id().as_str();
            let embedded = embeds.remove(id);
            self.entity(*entity, names.as_ref(), embedded, out)?;
        }
        out.push(b']');
        Ok(())
    }

    fn entity<T: Resource>(
        &self,
        entity: &T,
        names: Option<&Names>,
        embedded: Option<Map<String, Value>>,
        out: &mut Vec<u8>,
    ) -> Result<(), ApiError> {
        if !self.data.raw_overrides.is_empty()
            && let Some(raw) = self.data.raw_overrides.get(&(T::KIND, entity.id().clone()))
        {
            return write_json(out, raw);
        }
        let named;
        let entity = match names {
            Some(names) => {
                let mut copy = entity.clone();
                copy.set_names(names);
                named = copy;
                &named
            }
            None => entity,
        };
        if !T::NEEDS_FINISH && embedded.is_none() {
            return write_json(out, entity);
        }
        let mut value = serde_json::to_value(entity).map_err(|_| ApiError::Internal)?;
        T::finish(&mut value);
        if let (Some(embedded), Value::Object(map)) = (embedded, &mut value) {
            map.insert("_embedded".to_string(), Value::Object(embedded));
        }
        write_json(out, &value)
    }
}

fn write_json<S: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &S) -> Result<(), ApiError> {
    serde_json::to_writer(out, value).map_err(|_| ApiError::Internal)
}

/// Every list takes `sortkey`, but this server serves one stable order
/// only; asking for another is refused rather than silently ignored.
fn unsupported_sortkey(params: Params<'_>) -> Result<(), ApiError> {
    match params.one("sortkey") {
        Some(key) => Err(ApiError::InvalidFilter(format!(
            "sortkey `{key}` is not supported by this server; lists come in a stable order"
        ))),
        None => Ok(()),
    }
}

/// One page of a list endpoint.
fn list<T: Resource>(shared: &Shared, query: Option<&str>) -> Result<Response, ApiError> {
    let resource = T::KIND.endpoint();
    let request = ListRequest::parse(query, resource, T::FILTERS)?;
    check_expand::<T>(&request.expand)?;
    let limit = shared.settings.page_limit(request.limit)?;

    let data = read_source(shared)?;
    let params = Params::new(&request.filters);
    let meta = query::MetaFilter::parse(params)?;
    unsupported_sortkey(params)?;
    let predicate = T::predicate(params, &data)?;
    let all = T::list(&data);

    // Resume where the previous page ended; if entities before that point
    // were deleted meanwhile, find the last served entity again by id.
    let mut start = request.offset.min(all.len());
    if let Some(last) = request.last_id.as_deref() {
        let in_place = start > 0 && all[start - 1].id().as_str() == last;
        if !in_place && let Some(pos) = all.iter().position(|e| e.id().as_str() == last) {
            start = pos + 1;
        }
    }
    let mut page: Vec<&T> = Vec::with_capacity(limit.min(all.len().saturating_sub(start)));
    let mut next = None;
    for (i, entity) in all.iter().enumerate().skip(start) {
        if !(meta.matches(entity.meta()) && predicate(entity)) {
            continue;
        }
        if page.len() == limit {
            // Looking one match ahead means the last page has no token, and
            // the next page starts right at its first entity.
            next = Some(i);
            break;
        }
        page.push(entity);
    }

    let mut out = Vec::with_capacity(page.len() * 512 + 64);
    out.extend_from_slice(b"{\"data\":");
    Render {
        shared,
        data: &data,
        expand: &request.expand,
        names: request.names,
    }
    .array(&page, &mut out)?;
    out.extend_from_slice(b",\"pageToken\":");
    match next {
        Some(i) => {
            let last = all[i - 1].id().as_str().to_string();
            let token = request.next_token(resource, i, Some(last));
            serde_json::to_writer(&mut out, &token).map_err(|_| ApiError::Internal)?;
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
    Ok(json_response(out))
}

/// `expand` and `expandReferenceNames` of a by-id or lookup request.
fn render_options<T: Resource>(query: Option<&str>) -> Result<(BTreeSet<String>, bool), ApiError> {
    let pairs = parse_urlencoded(query.unwrap_or(""))
        .map_err(|_| ApiError::InvalidFilter("malformed query string".to_string()))?;
    let mut expand = BTreeSet::new();
    let mut names = false;
    for (key, value) in pairs {
        match key.as_str() {
            "expand" => expand.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            ),
            "expandReferenceNames" => names = parse_bool("expandReferenceNames", &value)?,
            _ => {}
        }
    }
    check_expand::<T>(&expand)?;
    Ok((expand, names))
}

/// `GET /{resource}/{id}`.
fn one<T: Resource>(shared: &Shared, id: &str, query: Option<&str>) -> Result<Response, ApiError> {
    let (expand, names) = render_options::<T>(query)?;
    let data = read_source(shared)?;
    let Some(entity) = T::list(&data).iter().find(|e| e.id().as_str() == id) else {
        // Ids are UUIDs in SS 12000; anything else is a malformed request,
        // unless the source really holds such an id (then it was served above).
        return Err(if resources::is_uuid(id) {
            ApiError::NotFound(T::KIND.type_name(), id.to_string())
        } else {
            ApiError::InvalidId(id.to_string())
        });
    };
    let mut out = Vec::with_capacity(1024);
    let render = Render {
        shared,
        data: &data,
        expand: &expand,
        names,
    };
    // Render a one-entity array and strip the brackets, so single entities
    // get exactly the same treatment as list entries.
    render.array(&[entity], &mut out)?;
    let inner = out
        .get(1..out.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec();
    Ok(json_response(inner))
}

/// `POST /{resource}/lookup`: the entities matching any list of the body, as an array.
fn lookup<T: Resource>(
    shared: &Shared,
    query: Option<&str>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let (expand, names) = render_options::<T>(query)?;
    let body: LookupBody = serde_json::from_slice(body)
        .map_err(|err| ApiError::InvalidBody(format!("lookup body is not valid JSON: {err}")))?;
    let data = read_source(shared)?;
    let ctx = LookupContext::new(&body, &data);
    let found: Vec<&T> = T::list(&data)
        .iter()
        .filter(|e| e.looked_up(&body, &ctx))
        .collect();
    let mut out = Vec::with_capacity(found.len() * 512 + 2);
    Render {
        shared,
        data: &data,
        expand: &expand,
        names,
    }
    .array(&found, &mut out)?;
    Ok(json_response(out))
}

// ---------------------------------------------------------------------------
// Deleted entities.

/// `GET /deletedEntities`: deletions after `after` (exclusive) of the
/// requested `entities` types, oldest first, paged like the lists.
fn deleted_entities(shared: &Shared, query: Option<&str>) -> Result<Response, ApiError> {
    const RESOURCE: &str = "deletedEntities";
    const FILTERS: [&str; 2] = ["after", "entities"];
    let request = ListRequest::parse(query, RESOURCE, &FILTERS)?;
    let params = Params::new(&request.filters);
    let after = params
        .one("after")
        .map(|v| parse_datetime("after", v))
        .transpose()?;
    let types = params.many("entities");
    if let Some(bad) = types.iter().find(|t| !resources::OBJECT_TYPES.contains(t)) {
        return Err(ApiError::InvalidFilter(format!(
            "`entities`: unknown value `{bad}`"
        )));
    }
    let kinds: Vec<EntityKind> = EntityKind::ALL
        .into_iter()
        .filter(|k| types.is_empty() || types.contains(&k.type_name()))
        .collect();
    let limit = shared.settings.page_limit(request.limit)?;

    let data = read_source(shared)?;
    let mut ids: HashMap<EntityKind, Vec<&str>> = kinds.iter().map(|k| (*k, Vec::new())).collect();
    let mut taken = 0;
    let mut next = None;
    // Deletions are only ever appended, so a position stays valid.
    for (i, deletion) in data.deleted.iter().enumerate().skip(request.offset) {
        if after.is_some_and(|t| deletion.at <= t) || !kinds.contains(&deletion.kind) {
            continue;
        }
        if taken == limit {
            next = Some(i);
            break;
        }
        if let Some(list) = ids.get_mut(&deletion.kind) {
            list.push(deletion.id.as_str());
            taken += 1;
        }
    }
    let mut body = Map::new();
    for kind in &kinds {
        let list = ids.remove(kind).unwrap_or_default();
        body.insert(resources::deleted_key(*kind).to_string(), json!(list));
    }
    let token = next.map(|i| request.next_token(RESOURCE, i, None));
    let answer = json!({ "data": body, "pageToken": token });
    serde_json::to_vec(&answer)
        .map(json_response)
        .map_err(|_| ApiError::Internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}
