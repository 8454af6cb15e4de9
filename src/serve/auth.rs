//! Inbound authentication of the pull API: every call carries
//! `Authorization: Bearer <JWT>` from Skolverket's SS12000 client, checked
//! as `authentication-api_README.md` ("Verifiering av JWT som skickas från
//! Provtjänstens SS12000-Klient") says:
//!
//! 1. ES256 signature by the key of the authorisation server's JWKS named
//!    by the token's `kid`, and `exp`/`nbf` (60 s skew) — the sink's
//!    [`verify_signature_and_time`], written once for both directions;
//! 2. `iss`, when an issuer is configured;
//! 3. `organization_id` = the configured one (Skolverket's `SE2021004185`);
//! 4. `requested_access` has an `ss12000-api` entry whose `locations`
//!    include this API's location. Trailing `/` are ignored, and a token
//!    location that extends ours by a path (`ours + "/…"`) is accepted too,
//!    as Skolverket's reference API does ("If `requested_access.locations`
//!    contains `https://localhost/abc/123` and the current location is
//!    configured to `https://localhost` the request is allowed"); the
//!    config refuses APIs nested inside each other, so such a token never
//!    opens a sibling API.
//!
//! No token, a malformed one, a bad signature, `iss`, expired or not yet
//! valid: `401`. A valid token for another organisation, another location
//! or another access type: `403`. Refusals are logged with their reason,
//! never with the token. The JWKS is fetched at start, on a timer
//! ([`Verifier::refresher`]), and again when a token names an unknown
//! `kid` (key rotation) — at most every 30 s, so a flood of forged `kid`s
//! cannot make us hammer the authorisation server.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use skolsync_model::error_chain::error_chain;
use skolsync_sink::skolverket::auth::{
    Claims, Jwks, JwtProblem, SS12000_API_ACCESS_TYPE, verify_signature_and_time,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::ApiError;
use super::host::ShutdownSignal;

/// The shortest time between two JWKS fetches caused by unknown `kid`s.
pub const JWKS_REFETCH_MIN_INTERVAL: Duration = Duration::from_secs(30);
/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// How long one JWKS fetch may take.
const JWKS_TIMEOUT: Duration = Duration::from_secs(10);

/// How tokens are checked.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The authorisation server's JWKS.
    pub jwks_url: String,
    /// The required `iss`, if any.
    pub issuer: Option<String>,
    /// The required `organization_id`.
    pub organization_id: String,
    /// An extra root certificate (PEM) trusted when fetching the JWKS.
    pub extra_root_pem: Option<Vec<u8>>,
    /// How often the JWKS is fetched on a timer.
    pub refresh_every: Duration,
    /// The shortest time between fetches caused by unknown `kid`s
    /// ([`JWKS_REFETCH_MIN_INTERVAL`]; shorter in tests).
    pub refetch_min_interval: Duration,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("organization_id", &self.organization_id)
            .field("extra_root", &self.extra_root_pem.is_some())
            .field("refresh_every", &self.refresh_every)
            .finish_non_exhaustive()
    }
}

/// Why a verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    /// The extra root certificate is not usable.
    #[error("auth.ca_cert: not a usable PEM certificate: {0}")]
    Root(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client that fetches the JWKS: {0}")]
    Client(String),
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid token: `401`.
    Unauthenticated(String),
    /// A valid token that does not grant this API: `403`.
    Forbidden(String),
    /// The JWKS cannot be had, so no token can be checked: `503`.
    Unavailable(String),
}

impl Refusal {
    /// The answer to the caller.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Refusal::Unauthenticated(why) => ApiError::unauthorized(why.clone()),
            Refusal::Forbidden(why) => ApiError::forbidden(why.clone()),
            Refusal::Unavailable(_) => ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                message: "the token cannot be checked now (the authorisation server's keys are \
                          unavailable); try again later"
                    .to_string(),
            },
        }
    }

    fn reason(&self) -> &str {
        match self {
            Refusal::Unauthenticated(why) | Refusal::Forbidden(why) | Refusal::Unavailable(why) => {
                why
            }
        }
    }
}

/// The keys known now and when they were last fetched.
#[derive(Default)]
struct KeyState {
    jwks: Option<Arc<Jwks>>,
    /// When a fetch was last tried (successful or not).
    tried: Option<Instant>,
    /// Bumped on every successful fetch.
    generation: u64,
}

struct Inner {
    settings: AuthSettings,
    http: reqwest::Client,
    keys: Mutex<KeyState>,
    fetches: AtomicU64,
}

/// Checks tokens against the authorisation server's JWKS (cached). Cheap
/// to clone; one per service, shared by every API.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier; fetches nothing yet.
    pub fn new(settings: AuthSettings) -> Result<Verifier, AuthSetupError> {
        let mut builder = reqwest::Client::builder()
            .timeout(JWKS_TIMEOUT)
            .connect_timeout(JWKS_TIMEOUT);
        if let Some(pem) = &settings.extra_root_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| AuthSetupError::Root(error_chain(&e)))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AuthSetupError::Client(error_chain(&e)))?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                settings,
                http,
                keys: Mutex::new(KeyState::default()),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// How many times the JWKS was fetched (tried) so far.
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the JWKS now and keeps it; on failure the keys held stay.
    pub async fn refresh(&self) -> Result<(), String> {
        let mut keys = self.inner.keys.lock().await;
        self.fetch_into(&mut keys).await
    }

    /// The background task that fetches the JWKS at start (unless a call
    /// already did; a failure is only a warning, the next call tries
    /// again) and then every [`AuthSettings::refresh_every`] until
    /// `shutdown`.
    pub async fn refresher(self, mut shutdown: ShutdownSignal) {
        {
            let mut keys = self.inner.keys.lock().await;
            if keys.jwks.is_none()
                && let Err(e) = self.fetch_into(&mut keys).await
            {
                tracing::warn!("{e}: tokens cannot be checked until it can be fetched");
            }
        }
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.inner.settings.refresh_every) => {}
                () = shutdown.wait() => return,
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!("scheduled JWKS fetch failed, keeping the keys held: {e}");
            }
        }
    }

    /// Checks the `Authorization` header's token for the API at `location`.
    pub async fn verify(
        &self,
        authorization: Option<&str>,
        location: &str,
    ) -> Result<Claims, Refusal> {
        let token = bearer(authorization)?;
        let claims = self.verify_signature(token).await?;
        let settings = &self.inner.settings;
        check_claims(
            &claims,
            settings.issuer.as_deref(),
            &settings.organization_id,
            location,
        )?;
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<Claims, Refusal> {
        let (jwks, generation) = self.current_keys().await?;
        match verify_signature_and_time(token, &jwks, unix_now()) {
            Ok(claims) => Ok(claims),
            Err(JwtProblem::UnknownKey(kid)) => {
                let jwks = self.keys_after_rotation(generation).await.ok_or_else(|| {
                    Refusal::Unauthenticated(format!(
                        "the token is signed with key `{kid}`, which the authorisation \
                         server's JWKS does not hold"
                    ))
                })?;
                verify_signature_and_time(token, &jwks, unix_now())
                    .map_err(|p| Refusal::Unauthenticated(p.to_string()))
            }
            Err(problem) => Err(Refusal::Unauthenticated(problem.to_string())),
        }
    }

    /// The keys held, fetched first if there are none (a failed fetch is
    /// retried at most every `refetch_min_interval`).
    async fn current_keys(&self) -> Result<(Arc<Jwks>, u64), Refusal> {
        let mut keys = self.inner.keys.lock().await;
        if let Some(jwks) = &keys.jwks {
            return Ok((jwks.clone(), keys.generation));
        }
        if self.may_fetch(&keys)
            && let Err(e) = self.fetch_into(&mut keys).await
        {
            tracing::warn!("{e}");
        }
        match &keys.jwks {
            Some(jwks) => Ok((jwks.clone(), keys.generation)),
            None => Err(Refusal::Unavailable(
                "the authorisation server's JWKS could not be fetched".to_string(),
            )),
        }
    }

    /// Newer keys than those of `generation`: fetched by another call
    /// meanwhile, or fetched now unless the last fetch was too recent.
    async fn keys_after_rotation(&self, generation: u64) -> Option<Arc<Jwks>> {
        let mut keys = self.inner.keys.lock().await;
        if keys.generation == generation {
            if !self.may_fetch(&keys) {
                return None;
            }
            if let Err(e) = self.fetch_into(&mut keys).await {
                tracing::warn!("{e}");
                return None;
            }
        }
        keys.jwks.clone()
    }

    fn may_fetch(&self, keys: &KeyState) -> bool {
        keys.tried
            .is_none_or(|t| t.elapsed() >= self.inner.settings.refetch_min_interval)
    }

    async fn fetch_into(&self, keys: &mut KeyState) -> Result<(), String> {
        keys.tried = Some(Instant::now());
        self.inner.fetches.fetch_add(1, Ordering::Relaxed);
        let jwks = self.fetch().await?;
        keys.jwks = Some(Arc::new(jwks));
        keys.generation += 1;
        tracing::debug!(url = %self.inner.settings.jwks_url, "fetched the JWKS");
        Ok(())
    }

    async fn fetch(&self) -> Result<Jwks, String> {
        let url = &self.inner.settings.jwks_url;
        let failed = |what: String| format!("cannot fetch the JWKS {url}: {what}");
        let answer = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| failed(error_chain(&e)))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(failed(format!("it answered {status}")));
        }
        if answer
            .content_length()
            .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
        {
            return Err(failed("the document is too large".to_string()));
        }
        let body = answer.bytes().await.map_err(|e| failed(error_chain(&e)))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err(failed("the document is too large".to_string()));
        }
        let document: Value =
            serde_json::from_slice(&body).map_err(|e| failed(format!("not JSON: {e}")))?;
        Jwks::parse(&document).map_err(failed)
    }
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(authorization: Option<&str>) -> Result<&str, Refusal> {
    let Some(value) = authorization else {
        return Err(Refusal::Unauthenticated(
            "no token: send `Authorization: Bearer <JWT>`".to_string(),
        ));
    };
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|t| !t.is_empty());
    token.ok_or_else(|| {
        Refusal::Unauthenticated("the Authorization header is not `Bearer <JWT>`".to_string())
    })
}

fn normalise(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

/// Whether a token location grants `ours`: the same URL, or ours extended
/// by a path (as the reference API accepts).
pub fn location_grants(token_location: &str, ours: &str) -> bool {
    let (theirs, ours) = (normalise(token_location), normalise(ours));
    theirs == ours
        || theirs
            .strip_prefix(ours)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Checks what the signature does not: the issuer (`401`), the
/// organisation and the access granted (`403`).
pub fn check_claims(
    claims: &Claims,
    issuer: Option<&str>,
    organization_id: &str,
    location: &str,
) -> Result<(), Refusal> {
    if let Some(issuer) = issuer {
        match claims.iss.as_deref() {
            Some(iss) if normalise(iss) == normalise(issuer) => {}
            Some(iss) => {
                return Err(Refusal::Unauthenticated(format!(
                    "the token was issued by `{iss}`, not by {issuer}"
                )));
            }
            None => {
                return Err(Refusal::Unauthenticated(
                    "the token names no issuer (`iss`)".to_string(),
                ));
            }
        }
    }
    match claims.organization_id.as_deref() {
        Some(org) if org.trim().eq_ignore_ascii_case(organization_id) => {}
        Some(org) => {
            return Err(Refusal::Forbidden(format!(
                "the token is for organisation `{org}`, not {organization_id}"
            )));
        }
        None => {
            return Err(Refusal::Forbidden(
                "the token names no organisation (`organization_id`)".to_string(),
            ));
        }
    }
    let granted = claims.requested_access.iter().flatten().any(|access| {
        access.access_type == SS12000_API_ACCESS_TYPE
            && access
                .locations
                .iter()
                .any(|l| location_grants(l, location))
    });
    if !granted {
        return Err(Refusal::Forbidden(format!(
            "the token does not grant `{SS12000_API_ACCESS_TYPE}` access to {location}"
        )));
    }
    Ok(())
}

/// What the auth layer of one API needs.
#[derive(Debug, Clone)]
pub struct ApiGuard {
    /// The shared verifier.
    pub verifier: Verifier,
    /// The API's location.
    pub location: String,
    /// The pipeline, for logs.
    pub pipeline: String,
}

/// The middleware in front of every route of a pull API: the call goes on
/// only with a token that grants this API.
pub async fn require_token(
    State(guard): State<ApiGuard>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match guard.verifier.verify(header, &guard.location).await {
        Ok(_) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(
                pipeline = %guard.pipeline,
                method = %request.method(),
                path = %request.uri().path(),
                "refused a call: {}",
                refusal.reason()
            );
            let mut response = refusal.to_api_error().into_response();
            if matches!(refusal, Refusal::Unauthenticated(_)) {
                // RFC 6750: a 401 names the scheme it wants.
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer"),
                );
            }
            response
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use skolsync_sink::skolverket::auth::Access;

    use super::*;

    const API: &str = "https://skolsync.example.se/ss12000/linkoping";

    fn claims(org: &str, access_type: &str, location: &str) -> Claims {
        Claims {
            exp: 0.0,
            nbf: None,
            iss: Some("https://nutid-auth.sunet.se".into()),
            requested_access: Some(vec![Access {
                access_type: access_type.into(),
                locations: vec![location.into()],
            }]),
            organization_id: Some(org.into()),
        }
    }

    fn check(c: &Claims) -> Result<(), Refusal> {
        check_claims(c, Some("https://nutid-auth.sunet.se/"), "SE2021004185", API)
    }

    #[test]
    fn a_token_for_this_api_passes() {
        assert_eq!(check(&claims("SE2021004185", "ss12000-api", API)), Ok(()));
        let trailing = format!("{API}/");
        assert_eq!(
            check(&claims("SE2021004185", "ss12000-api", &trailing)),
            Ok(())
        );
        let longer = format!("{API}/v2.0");
        assert_eq!(
            check(&claims("SE2021004185", "ss12000-api", &longer)),
            Ok(())
        );
    }

    #[test]
    fn other_organisation_location_or_type_is_forbidden() {
        let forbidden = |c: Claims| matches!(check(&c), Err(Refusal::Forbidden(_)));
        assert!(forbidden(claims("SE5560000000", "ss12000-api", API)));
        assert!(forbidden(claims("SE2021004185", "provisioning-api", API)));
        assert!(forbidden(claims(
            "SE2021004185",
            "ss12000-api",
            "https://other.se/ss12000/linkoping"
        )));
        assert!(forbidden(claims(
            "SE2021004185",
            "ss12000-api",
            "https://skolsync.example.se/ss12000/linkopingx"
        )));
        assert!(forbidden(claims(
            "SE2021004185",
            "ss12000-api",
            "https://skolsync.example.se/ss12000"
        )));
        let mut none = claims("SE2021004185", "ss12000-api", API);
        none.requested_access = None;
        assert!(forbidden(none));
    }

    #[test]
    fn another_issuer_is_unauthenticated() {
        let mut c = claims("SE2021004185", "ss12000-api", API);
        c.iss = Some("https://evil.example".into());
        assert!(matches!(check(&c), Err(Refusal::Unauthenticated(_))));
        c.iss = None;
        assert!(matches!(check(&c), Err(Refusal::Unauthenticated(_))));
        // Without a configured issuer, iss is not checked.
        assert_eq!(check_claims(&c, None, "SE2021004185", API), Ok(()));
    }

    #[test]
    fn only_bearer_headers_carry_a_token() {
        assert_eq!(bearer(Some("Bearer a.b.c")), Ok("a.b.c"));
        assert_eq!(bearer(Some("bearer  a.b.c ")), Ok("a.b.c"));
        assert!(bearer(None).is_err());
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(Some("Bearer ")).is_err());
    }
}
