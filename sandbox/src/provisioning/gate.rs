//! The checks every request passes before it reaches an endpoint, in the
//! order a gateway in front of the real service would apply them, plus the
//! request log and the rate-limit headers on every answer.
//!
//! Order: read the whole body (counting its size, keeping at most the
//! limit) → injected slowness → injected outage (refusals, the 503 window
//! or counted 503s, then the `throttle_burst` 429s, all with `Retry-After`; a gateway
//! answers these before it looks at the token) → bearer token (`/alive` is
//! open) → injected 429 burst → rate limit → injected 5xx → body size (413)
//! → JSON content type (415) → the endpoint.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tracing::debug;

use super::ProvisioningState;
use super::limiter::{Quota, RateClass};
use super::messages::{self as msg, single};
use super::store::RequestRecord;
use crate::config::OutageAnswer;

/// Bodies are drained up to this size to answer 413 cleanly; a client
/// sending more than this gets its connection closed after the 413.
const DRAIN_CAP: usize = 64 * 1024 * 1024;

/// The rate-limit bucket of calls without a valid token.
const ANONYMOUS: &str = "anonymous";

/// Who is calling and how the service's own URLs look to them; put into the
/// request extensions for the endpoints.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Client identity from the bearer token.
    pub client: String,
    /// The huvudman's organisation number (digits) the token names.
    pub organisation: Option<String>,
    /// `scheme://host[:port]` under which this API is reached.
    pub base_url: String,
}

/// Which limit a request counts against: anything under `/x/bulk` is a
/// bulk/job call, everything else a read.
pub fn classify(path: &str) -> RateClass {
    let mut segments = path.trim_start_matches('/').split('/');
    let _resource = segments.next();
    if segments.next() == Some("bulk") {
        RateClass::Bulk
    } else {
        RateClass::Read
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            essence == "application/json" || essence.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Reads the body to its end: the bytes if they fit in `max`, and the total size.
async fn read_body(mut body: Body, max: usize) -> (Option<Bytes>, usize) {
    let mut kept: Vec<u8> = Vec::new();
    let mut fits = true;
    let mut total = 0usize;
    while let Some(frame) = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let Ok(frame) = frame else {
            // The client broke off; answer with what arrived.
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if fits {
            if total > max {
                fits = false;
                kept = Vec::new();
            } else {
                kept.extend_from_slice(&data);
            }
        }
        if total > DRAIN_CAP {
            break;
        }
    }
    (fits.then(|| Bytes::from(kept)), total)
}

fn base_url(state: &ProvisioningState, headers: &HeaderMap) -> String {
    if let Some(base) = state.base_url.as_deref() {
        return base.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn set_rate_headers(response: &mut Response, quota: &Quota) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(quota.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(quota.remaining));
    if let Ok(reset) = HeaderValue::from_str(&quota.reset_header()) {
        headers.insert("x-ratelimit-reset", reset);
    }
}

/// The answer to a call an outage refuses: a 429 or 503 with `Retry-After`
/// (and, for a 429, the rate headers saying nothing is left until then), or
/// a plain 401/403.
fn outage_response(answer: OutageAnswer, quota: Quota) -> (Quota, Response) {
    let (mut response, wait, quota) = match answer {
        OutageAnswer::Throttled(wait) => {
            let quota = Quota {
                remaining: 0,
                reset: Duration::from_secs(wait),
                ..quota
            };
            (single(msg::too_many_requests()), wait, quota)
        }
        OutageAnswer::Unavailable(wait) => (single(msg::service_unavailable()), wait, quota),
        OutageAnswer::Refused(status) => return (quota, single(msg::refused(status))),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    (quota, response)
}

/// The middleware: see the module doc for the order of checks.
pub async fn gate(
    State(state): State<ProvisioningState>,
    request: Request,
    next: Next,
) -> Response {
    let at = Instant::now();
    let received_at = SystemTime::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let class = classify(&path);
    let limits = state.inner.limits;
    let (bytes, body_bytes) = read_body(body, limits.max_body_bytes).await;

    let faults = state.inner.faults.wait_slow().await;

    let open = path == "/alive";
    let identity = match bearer(&parts.headers) {
        Some(token) => match (state.inner.token_check)(token) {
            Ok(identity) => Some(identity),
            Err(reason) => {
                debug!(%reason, "provisioning: bearer token refused");
                None
            }
        },
        None => None,
    };
    let key = identity
        .as_ref()
        .map_or(ANONYMOUS, |i| i.client.as_str())
        .to_string();
    let limiter = &state.inner.limiter;
    let switch = &state.inner.faults;

    let (quota, mut response) = if let Some(answer) = switch.take_outage() {
        outage_response(answer, limiter.peek(&key, class, Instant::now()))
    } else if identity.is_none() && !open {
        match limiter.hit(&key, class, Instant::now()) {
            Ok(quota) => (quota, single(msg::not_authorised())),
            Err(quota) => (quota, single(msg::too_many_requests())),
        }
    } else if switch.take_burst() {
        let mut quota = limiter.peek(&key, class, Instant::now());
        quota.remaining = 0;
        if quota.reset.is_zero() {
            quota.reset = super::limiter::WINDOW;
        }
        (quota, single(msg::too_many_requests()))
    } else {
        match limiter.hit(&key, class, Instant::now()) {
            Err(quota) => (quota, single(msg::too_many_requests())),
            Ok(quota) => {
                let needs_json = method == Method::POST || method == Method::PUT;
                let response = if switch.chance(faults.server_error_share) {
                    if switch.chance(0.5) {
                        single(msg::service_unavailable())
                    } else {
                        single(msg::unknown_error())
                    }
                } else if let Some(bytes) = bytes {
                    if needs_json && !is_json(&parts.headers) {
                        single(msg::unsupported_media_type())
                    } else {
                        let caller = Caller {
                            client: key.clone(),
                            organisation: identity.as_ref().and_then(|i| i.organisation.clone()),
                            base_url: base_url(&state, &parts.headers),
                        };
                        let mut request = Request::from_parts(parts, Body::from(bytes));
                        request.extensions_mut().insert(caller);
                        next.run(request).await
                    }
                } else {
                    single(msg::payload_too_large())
                };
                (quota, response)
            }
        }
    };

    set_rate_headers(&mut response, &quota);
    state.inner.store.record(RequestRecord {
        method: method.to_string(),
        path,
        query,
        client: identity.map(|i| i.client),
        class,
        body_bytes,
        at,
        received_at,
        status: response.status().as_u16(),
        elapsed: at.elapsed(),
    });
    response
}
