//! Access tokens from the authorisation server (`authentication-api_README.md`).
//!
//! The client presents its certificate over mutual TLS and POSTs the JSON
//! access request: `provisioning-api` for the Provisioning API's base URL,
//! flag `bearer`, and `client.key` = the entity id or
//! `{"proof": "mtls", "cert#S256": …}`. The JWT in `access_token.value` is
//! verified before use: ES256 signature against the server's JWKS (the key
//! named by the token's `kid`; the JWKS is fetched again once when the kid is
//! unknown, for key rotation), `exp`/`nbf`, `iss` when present, and that it
//! grants `provisioning-api` for our Provisioning API URL (`requested_access`
//! in the token, or the answer's `access` when the token has no such claim).
//! When the pipeline names the huvudman's organisation number
//! (`organisation_number`), the token's `organization_id` must be it
//! ([`check_organisation`]).
//!
//! A token is cached until shortly before it expires (a tenth of its life,
//! at most a minute) and fetched anew when the API says it is invalid
//! (LogEntry 5002), see [`TokenProvider::invalidate`].
//!
//! A failed fetch is an [`AuthFailure`] that says whether it is transient
//! (`429`, 5xx, network trouble: [`super::api::Api::token`] waits it out
//! within the retry budget) or permanent, and then names it: a server
//! certificate that does not verify, `401 Unauthorized` (the client
//! certificate was not accepted), `403 Forbidden`, a token that does not
//! verify.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Value, json};
use skolsync_model::error_chain::with_causes;
use tokio::sync::Mutex;
use tokio::time::Instant;

mod organisation;

pub use organisation::{check_organisation, organisation_digits};

use super::retry::retry_after;
use super::tls::tls_problem;
use crate::error::SinkError;

/// A token could not be had.
#[derive(Debug)]
pub struct AuthFailure {
    /// What went wrong, naming the URL.
    pub error: SinkError,
    /// Whether trying again later may help (429, 5xx, network trouble).
    pub transient: bool,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

impl From<AuthFailure> for SinkError {
    fn from(failure: AuthFailure) -> SinkError {
        failure.error
    }
}

/// The access type the Provisioning API needs.
pub const PROVISIONING_ACCESS_TYPE: &str = "provisioning-api";

/// The access type of a token for notifying Skolverket's SS12000 client
/// (the pull method's webhooks).
pub const SS12000_CLIENT_ACCESS_TYPE: &str = "ss12000-client";

/// The access type of the token Skolverket's SS12000 client presents to a
/// huvudman's SS 12000 API.
pub const SS12000_API_ACCESS_TYPE: &str = "ss12000-api";

/// Allowed difference between our clock and the server's for `nbf`.
const CLOCK_SKEW: u64 = 60;

/// How the access request names the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    /// An entity id from the client's TLS-federation metadata.
    EntityId(String),
    /// The certificate itself, by its `cert#S256` fingerprint.
    Certificate(String),
}

impl ClientKey {
    fn to_json(&self) -> Value {
        match self {
            ClientKey::EntityId(id) => Value::String(id.clone()),
            ClientKey::Certificate(fingerprint) => json!({
                "proof": "mtls",
                "cert#S256": fingerprint,
            }),
        }
    }

    /// The identity the service keys its rate limits by.
    pub fn identity(&self) -> &str {
        match self {
            ClientKey::EntityId(id) | ClientKey::Certificate(id) => id,
        }
    }
}

/// Where and how to ask for tokens.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `POST` here (`…/transaction`).
    pub transaction_url: String,
    /// The JWKS.
    pub jwks_url: String,
    /// The authorisation server's base URL, compared with `iss`.
    pub issuer: String,
    /// The base URL the token must grant (`locations`): the Provisioning
    /// API's, or for pull notifications the SS12000 client's.
    pub provisioning_url: String,
    /// The access type asked for and checked: [`PROVISIONING_ACCESS_TYPE`],
    /// or [`SS12000_CLIENT_ACCESS_TYPE`] for webhooks to Skolverket's
    /// SS12000 client.
    pub access_type: &'static str,
    /// `client.key`.
    pub client_key: ClientKey,
    /// The huvudman's organisation number (ten digits), when the pipeline
    /// names it: the token's `organization_id` must be this one.
    pub organisation_number: Option<String>,
}

/// A verified access token.
pub struct Token {
    value: String,
    /// Fetch a new one from here on.
    pub renew_at: Instant,
    /// Seconds the server said it lives (`expires_in`).
    pub lifetime: Duration,
    /// Counts tokens, so a stale one is invalidated only once.
    pub generation: u64,
}

impl Token {
    /// The JWT, for the `Authorization: Bearer` header.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"***")
            .field("renew_at", &self.renew_at)
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    generation: u64,
    jwks: Option<Jwks>,
}

/// Fetches, verifies and caches access tokens.
pub struct TokenProvider {
    http: reqwest::Client,
    settings: AuthSettings,
    state: Mutex<State>,
    fetched: AtomicU64,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("settings", &self.settings)
            .field("fetched", &self.fetched)
            .finish_non_exhaustive()
    }
}

/// `access_token` of the server's answer.
#[derive(Debug, Deserialize)]
struct Grant {
    access_token: GrantedToken,
}

#[derive(Debug, Deserialize)]
struct GrantedToken {
    value: String,
    #[serde(default)]
    access: Vec<Access>,
    #[serde(default)]
    expires_in: Option<f64>,
}

/// One granted access: a type and the URLs it is good for.
#[derive(Debug, Clone, Deserialize)]
pub struct Access {
    /// `provisioning-api`.
    #[serde(rename = "type")]
    pub access_type: String,
    /// Base URLs.
    #[serde(default)]
    pub locations: Vec<String>,
}

/// The claims we check; others are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// Expiry, seconds since the epoch.
    pub exp: f64,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<f64>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
    /// What the token grants.
    #[serde(default)]
    pub requested_access: Option<Vec<Access>>,
    /// The organisation the certificate belongs to, `SE` + its number
    /// (`"organization_id": "SE2021004185"` in the spec's example token).
    #[serde(default)]
    pub organization_id: Option<String>,
}

/// The signing keys of the authorisation server, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, Vec<u8>>,
}

impl Jwks {
    /// Reads the P-256 keys of a JWKS document; other keys are skipped.
    pub fn parse(document: &Value) -> Result<Jwks, String> {
        let Some(keys) = document.get("keys").and_then(Value::as_array) else {
            return Err("the JWKS has no `keys` list".to_string());
        };
        let mut out = HashMap::new();
        for key in keys {
            let text = |name: &str| key.get(name).and_then(Value::as_str);
            if text("kty") != Some("EC") || text("crv") != Some("P-256") {
                continue;
            }
            let (Some(kid), Some(x), Some(y)) = (text("kid"), text("x"), text("y")) else {
                continue;
            };
            let (Ok(x), Ok(y)) = (URL_SAFE_NO_PAD.decode(x), URL_SAFE_NO_PAD.decode(y)) else {
                continue;
            };
            if x.len() != 32 || y.len() != 32 {
                continue;
            }
            // Uncompressed point: 0x04 ‖ x ‖ y, what ring verifies against.
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            out.insert(kid.to_string(), point);
        }
        if out.is_empty() {
            return Err("the JWKS holds no P-256 (ES256) key".to_string());
        }
        Ok(Jwks { keys: out })
    }

    fn has(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// Why a token is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtProblem {
    /// The `kid` is not in the JWKS (fetch it again, then give up).
    UnknownKey(String),
    /// Anything else.
    Invalid(String),
}

impl fmt::Display for JwtProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtProblem::UnknownKey(kid) => {
                write!(
                    f,
                    "the token is signed with key `{kid}`, which the JWKS does not hold"
                )
            }
            JwtProblem::Invalid(why) => f.write_str(why),
        }
    }
}

fn normalise_url(url: &str) -> &str {
    url.trim().trim_end_matches('/')
}

fn decode_part<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, JwtProblem> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| JwtProblem::Invalid(format!("the token's {what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        JwtProblem::Invalid(format!("the token's {what} is not the expected JSON: {e}"))
    })
}

/// Verifies a JWT: ES256 signature by a key of `jwks`, `exp` after `now`,
/// `nbf` not after `now` (with clock skew), `iss` = `issuer` when present,
/// and `access_type` granted for `location` — by the token's
/// `requested_access`, or, if it has none, by `granted` (the answer's list).
pub fn verify_jwt(
    jwt: &str,
    jwks: &Jwks,
    issuer: &str,
    (access_type, location): (&str, &str),
    granted: &[Access],
    now: u64,
) -> Result<Claims, JwtProblem> {
    let claims = verify_signature_and_time(jwt, jwks, now)?;
    if let Some(iss) = &claims.iss
        && normalise_url(iss) != normalise_url(issuer)
    {
        return Err(JwtProblem::Invalid(format!(
            "the token was issued by `{iss}`, not by {issuer}"
        )));
    }
    let grants = |list: &[Access]| {
        list.iter().any(|a| {
            a.access_type == access_type
                && a.locations
                    .iter()
                    .any(|l| normalise_url(l) == normalise_url(location))
        })
    };
    let granted_here = match &claims.requested_access {
        Some(list) => grants(list),
        None => grants(granted),
    };
    if !granted_here {
        return Err(JwtProblem::Invalid(format!(
            "the token does not grant `{access_type}` for {location}"
        )));
    }
    Ok(claims)
}

/// Verifies what every JWT of the authorisation server must satisfy, and
/// nothing else: ES256 signature by a key of `jwks`, `exp` after `now`,
/// `nbf` not after `now` (with clock skew). What it grants, and to whom,
/// is the caller's to check on the returned claims.
pub fn verify_signature_and_time(jwt: &str, jwks: &Jwks, now: u64) -> Result<Claims, JwtProblem> {
    let invalid = |m: &str| JwtProblem::Invalid(m.to_string());
    let mut parts = jwt.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(
            "the token is not a JWT (three dot-separated parts)",
        ));
    };
    let header: Value = decode_part(header, "header")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "ES256" {
        return Err(JwtProblem::Invalid(format!(
            "the token is signed with `{alg}`; only ES256 is accepted"
        )));
    }
    let Some(kid) = header.get("kid").and_then(Value::as_str) else {
        return Err(invalid("the token's header names no key (`kid`)"));
    };
    let Some(key) = jwks.keys.get(kid) else {
        return Err(JwtProblem::UnknownKey(kid.to_string()));
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| invalid("the token's signature is not base64url"))?;
    let signed = &jwt.as_bytes()[..header_and_payload_len(jwt)];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key)
        .verify(signed, &signature)
        .map_err(|_| invalid("the token's signature does not verify against the JWKS"))?;
    let claims: Claims = decode_part(payload, "claims")?;
    let now = now as f64;
    if claims.exp <= now {
        return Err(invalid(
            "the token has already expired (is this machine's clock right?)",
        ));
    }
    if claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW as f64) {
        return Err(invalid(
            "the token is not valid yet (is this machine's clock right?)",
        ));
    }
    Ok(claims)
}

fn header_and_payload_len(jwt: &str) -> usize {
    jwt.rfind('.').unwrap_or(jwt.len())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A short, single-line excerpt of an error body for messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 {
        let cut: String = line.chars().take(300).collect();
        format!("{cut}…")
    } else {
        line
    }
}

impl TokenProvider {
    /// A provider calling the authorisation server with `http` (which must
    /// present the client certificate).
    pub fn new(http: reqwest::Client, settings: AuthSettings) -> Self {
        TokenProvider {
            http,
            settings,
            state: Mutex::new(State::default()),
            fetched: AtomicU64::new(0),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// How many tokens were fetched so far.
    pub fn fetched(&self) -> u64 {
        self.fetched.load(Ordering::Relaxed)
    }

    /// A valid token: the cached one, or a freshly fetched and verified one.
    /// Concurrent callers wait for one fetch.
    pub async fn token(&self) -> Result<Arc<Token>, AuthFailure> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.current
            && Instant::now() < token.renew_at
        {
            return Ok(Arc::clone(token));
        }
        state.current = None;
        let token = Arc::new(self.fetch(&mut state).await?);
        state.current = Some(Arc::clone(&token));
        Ok(token)
    }

    /// Drops the token of `generation` (the API refused it), so the next
    /// [`TokenProvider::token`] fetches a new one. A newer token is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|t| t.generation == generation)
        {
            tracing::info!("the Provisioning API refused the access token; fetching a new one");
            state.current = None;
        }
    }

    /// A permanent failure at `url`.
    fn auth_error(&self, url: &str, message: impl Into<String>) -> AuthFailure {
        AuthFailure {
            error: SinkError::Auth {
                url: url.to_string(),
                message: message.into(),
            },
            transient: false,
            retry_after: None,
        }
    }

    /// A request that got no answer: transient, unless TLS failed.
    /// Sends `request` to `url` and reads the whole answer; a request that
    /// got no (complete) answer is [`Self::unanswered`].
    async fn exchange(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), AuthFailure> {
        let response = request.send().await.map_err(|e| self.unanswered(url, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| self.unanswered(url, &e))?;
        // Token and JWKS answers are small; owning them keeps callers simple.
        Ok((status, headers, body.to_vec()))
    }

    fn unanswered(&self, url: &str, error: &reqwest::Error) -> AuthFailure {
        match tls_problem(error) {
            Some(problem) => self.auth_error(url, problem),
            None => AuthFailure {
                transient: true,
                ..self.auth_error(url, describe_reqwest(error))
            },
        }
    }

    /// A refusal: transient for 408, 429 and 5xx, named for 401 and 403.
    fn refused(
        &self,
        url: &str,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
        detail: &str,
    ) -> AuthFailure {
        let code = status.as_u16();
        let message = match code {
            401 => format!("401 Unauthorized: the client certificate was not accepted ({detail})"),
            403 => format!(
                "403 Forbidden: the authorisation server refused this client access ({detail})"
            ),
            _ => format!("the access request was refused ({status}): {detail}"),
        };
        AuthFailure {
            transient: matches!(code, 408 | 429 | 500..=599),
            retry_after: retry_after(headers),
            ..self.auth_error(url, message)
        }
    }

    async fn fetch(&self, state: &mut State) -> Result<Token, AuthFailure> {
        let url = &self.settings.transaction_url;
        let request = json!({
            "access_token": [{
                "access": [{
                    "type": self.settings.access_type,
                    "locations": [self.settings.provisioning_url],
                }],
                "flags": ["bearer"],
            }],
            "client": { "key": self.settings.client_key.to_json() },
        });
        let started = Instant::now();
        let (status, headers, body) = self
            .exchange(url, self.http.post(url).json(&request))
            .await?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| {
                    let error = v.get("error")?;
                    let code = error.get("code").and_then(Value::as_str).unwrap_or("");
                    let description = error
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    Some(format!("{code}: {description}"))
                })
                .unwrap_or_else(|| excerpt(&body));
            return Err(self.refused(url, status, &headers, &detail));
        }
        let grant: Grant = serde_json::from_slice(&body).map_err(|e| {
            self.auth_error(
                url,
                format!("the answer is not an access token (`access_token.value`): {e}"),
            )
        })?;
        let granted = grant.access_token;
        let claims = self.verify(state, &granted).await?;
        self.fetched.fetch_add(1, Ordering::Relaxed);
        state.generation += 1;

        let now = unix_now() as f64;
        let by_claim = (claims.exp - now).max(0.0);
        let lifetime = granted
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .map_or(by_claim, |s| s.min(by_claim));
        let lifetime = Duration::from_secs_f64(lifetime);
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        tracing::debug!(
            lifetime_secs = lifetime.as_secs(),
            "fetched an access token for the Provisioning API"
        );
        Ok(Token {
            value: granted.value,
            renew_at: started + lifetime.saturating_sub(margin),
            lifetime,
            generation: state.generation,
        })
    }

    async fn verify(
        &self,
        state: &mut State,
        granted: &GrantedToken,
    ) -> Result<Claims, AuthFailure> {
        let settings = &self.settings;
        let mut refetched = false;
        loop {
            if state.jwks.is_none() {
                state.jwks = Some(self.fetch_jwks().await?);
                refetched = true;
            }
            let jwks = state.jwks.as_ref().cloned().unwrap_or_default();
            match verify_jwt(
                &granted.value,
                &jwks,
                &settings.issuer,
                (settings.access_type, &settings.provisioning_url),
                &granted.access,
                unix_now(),
            ) {
                Ok(claims) => {
                    return check_organisation(&claims, settings.organisation_number.as_deref())
                        .map(|()| claims)
                        .map_err(|problem| {
                            self.auth_error(
                                &settings.transaction_url,
                                format!("the access token was not accepted: {problem}"),
                            )
                        });
                }
                Err(JwtProblem::UnknownKey(kid)) if !refetched && !jwks.has(&kid) => {
                    // The server may have rotated its key since we cached the JWKS.
                    state.jwks = None;
                }
                Err(problem) => {
                    return Err(self.auth_error(
                        &settings.transaction_url,
                        format!("the access token was not accepted: {problem}"),
                    ));
                }
            }
        }
    }

    async fn fetch_jwks(&self) -> Result<Jwks, AuthFailure> {
        let url = &self.settings.jwks_url;
        let (status, headers, body) = self.exchange(url, self.http.get(url)).await?;
        if !status.is_success() {
            let detail = format!("JWKS answered {status}: {}", excerpt(&body));
            return Err(self.refused(url, status, &headers, &detail));
        }
        let document: Value = serde_json::from_slice(&body)
            .map_err(|e| self.auth_error(url, format!("the JWKS is not JSON: {e}")))?;
        Jwks::parse(&document).map_err(|m| self.auth_error(url, m))
    }
}

/// A reqwest error with its causes (TLS problems hide in the chain), worded
/// by what failed: a timeout, a connection, or the request.
pub(crate) fn describe_reqwest(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    with_causes(what.to_string(), error.source())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    struct Signer {
        key: EcdsaKeyPair,
        rng: SystemRandom,
    }

    impl Signer {
        fn new() -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            Signer { key, rng }
        }

        fn jwks(&self, kid: &str) -> Jwks {
            let point = self.key.public_key().as_ref();
            Jwks::parse(&json!({"keys": [{
                "kty": "EC", "kid": kid, "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }]}))
            .unwrap()
        }

        fn sign(&self, header: Value, claims: Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let sig = self.key.sign(&self.rng, input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }

    const ISS: &str = "https://nutid-auth.sunet.se";
    const API: &str = "https://api.skolverket.se/provtjanst/provisioning/v1";

    fn claims(exp: u64, location: &str) -> Value {
        json!({
            "aud": "nutid", "exp": exp, "iat": 1000, "nbf": 1000, "iss": ISS,
            "requested_access": [{"type": "provisioning-api", "locations": [location]}],
        })
    }

    #[test]
    fn a_token_is_accepted_only_with_our_key_time_issuer_and_grant() {
        let signer = Signer::new();
        let jwks = signer.jwks("k1");
        let header = json!({"alg": "ES256", "kid": "k1"});
        let good = signer.sign(header.clone(), claims(5000, &format!("{API}/")));
        assert!(
            verify_jwt(
                &good,
                &jwks,
                ISS,
                (PROVISIONING_ACCESS_TYPE, API),
                &[],
                2000
            )
            .is_ok()
        );

        // Expired, not yet valid, other issuer, other location.
        let err = |jwt: &str, now| {
            verify_jwt(jwt, &jwks, ISS, (PROVISIONING_ACCESS_TYPE, API), &[], now).unwrap_err()
        };
        assert!(err(&good, 5000).to_string().contains("expired"));
        assert!(err(&good, 100).to_string().contains("not valid yet"));
        let mut other = claims(5000, API);
        other["iss"] = json!("https://evil.example");
        assert!(
            err(&signer.sign(header.clone(), other), 2000)
                .to_string()
                .contains("issued by")
        );
        let elsewhere = signer.sign(header.clone(), claims(5000, "https://elsewhere/v1"));
        assert!(err(&elsewhere, 2000).to_string().contains("does not grant"));

        // Another key, an unknown kid, a tampered payload, another algorithm.
        let forged = Signer::new().sign(header.clone(), claims(5000, API));
        assert!(err(&forged, 2000).to_string().contains("signature"));
        let unknown = signer.sign(json!({"alg": "ES256", "kid": "k2"}), claims(5000, API));
        assert_eq!(
            err(&unknown, 2000),
            JwtProblem::UnknownKey("k2".to_string())
        );
        let mut parts: Vec<&str> = good.split('.').collect();
        let tampered_claims = URL_SAFE_NO_PAD.encode(claims(9999, API).to_string());
        parts[1] = &tampered_claims;
        assert!(
            err(&parts.join("."), 2000)
                .to_string()
                .contains("signature")
        );
        let hs = signer.sign(json!({"alg": "HS256", "kid": "k1"}), claims(5000, API));
        assert!(err(&hs, 2000).to_string().contains("ES256"));
    }

    #[test]
    fn without_requested_access_the_answer_must_grant_it() {
        let signer = Signer::new();
        let jwks = signer.jwks("k1");
        let jwt = signer.sign(
            json!({"alg": "ES256", "kid": "k1"}),
            json!({"exp": 5000, "iss": ISS}),
        );
        let granted = vec![Access {
            access_type: "provisioning-api".to_string(),
            locations: vec![API.to_string()],
        }];
        assert!(
            verify_jwt(
                &jwt,
                &jwks,
                ISS,
                (PROVISIONING_ACCESS_TYPE, API),
                &granted,
                2000
            )
            .is_ok()
        );
        assert!(verify_jwt(&jwt, &jwks, ISS, (PROVISIONING_ACCESS_TYPE, API), &[], 2000).is_err());
    }

    #[test]
    fn jwks_keeps_only_p256_keys() {
        assert!(
            Jwks::parse(&json!({"keys": [{"kty": "RSA", "kid": "r", "n": "x", "e": "AQAB"}]}))
                .is_err()
        );
        assert!(Jwks::parse(&json!({"nokeys": []})).is_err());
    }
}
