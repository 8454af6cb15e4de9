//! The OAuth2 client-credentials token endpoint, as `https://skolid.se/connect/token`
//! behaves (RFC 6749 §4.4): client credentials as form fields or HTTP Basic,
//! opaque bearer tokens that expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use serde_json::json;

use super::Shared;
use super::query::{decode_component, parse_urlencoded};

/// The access tokens the token endpoint has issued, shared with the API
/// routes that check them. Cloning shares the store, so a test can keep a
/// clone and expire tokens while the sandbox runs.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    inner: Arc<Mutex<HashMap<String, Issued>>>,
}

#[derive(Debug, Clone)]
struct Issued {
    expires: Instant,
}

impl TokenStore {
    /// An empty store.
    pub fn new() -> Self {
        TokenStore::default()
    }

    /// Issues a random opaque token valid for `lifetime`.
    pub(crate) fn issue(&self, lifetime: Duration) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        if let Ok(mut tokens) = self.inner.lock() {
            // Forget expired tokens so a long-running sandbox does not grow.
            tokens.retain(|_, t| t.expires > now);
            tokens.insert(
                token.clone(),
                Issued {
                    expires: now + lifetime,
                },
            );
        }
        token
    }

    /// Whether `token` was issued here and is still valid, treating it as
    /// expired `early` before its real end (the source fault `token_early_expiry_secs`).
    pub fn is_valid(&self, token: &str, early: Duration) -> bool {
        let now = Instant::now();
        self.inner
            .lock()
            .ok()
            .and_then(|tokens| tokens.get(token).map(|t| now + early < t.expires))
            .unwrap_or(false)
    }

    /// How many tokens were issued here: a client has begun reading once
    /// this is above zero.
    pub fn issued(&self) -> usize {
        self.inner.lock().map(|tokens| tokens.len()).unwrap_or(0)
    }

    /// Makes every issued token expire now.
    pub fn expire_all(&self) {
        let now = Instant::now();
        if let Ok(mut tokens) = self.inner.lock() {
            for issued in tokens.values_mut() {
                issued.expires = now;
            }
        }
    }

    /// Makes one token expire now; false if it was never issued here.
    pub fn expire(&self, token: &str) -> bool {
        let now = Instant::now();
        self.inner
            .lock()
            .ok()
            .and_then(|mut tokens| tokens.get_mut(token).map(|t| t.expires = now))
            .is_some()
    }

    /// Number of tokens still valid.
    pub fn live(&self) -> usize {
        let now = Instant::now();
        self.inner
            .lock()
            .map(|tokens| tokens.values().filter(|t| t.expires > now).count())
            .unwrap_or(0)
    }
}

/// An OAuth2 error answer (`{"error": …}`).
fn oauth_error(status: StatusCode, error: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "error": error }))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"skolid\""),
        );
    }
    response
}

/// Credentials from `Authorization: Basic`, form-urlencoded before base64 as
/// RFC 6749 §2.3.1 says. `Some(Err)` when the header is Basic but unreadable.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some(decoded) = decoded else {
        return Some(Err(()));
    };
    let Some((id, secret)) = decoded.split_once(':') else {
        return Some(Err(()));
    };
    match (decode_component(id), decode_component(secret)) {
        (Ok(id), Ok(secret)) => Some(Ok((id, secret))),
        _ => Some(Err(())),
    }
}

/// Compares secrets without an early exit, so timing reveals nothing.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `POST /connect/token`.
pub(super) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Ok(form) = parse_urlencoded(text) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let field = |name: &str| {
        form.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    let form_id = field("client_id");
    let form_secret = field("client_secret");
    let (client_id, client_secret) = match basic_credentials(&headers) {
        Some(Err(())) => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        Some(Ok((id, secret))) => {
            // One authentication method per request (RFC 6749 §2.3); a
            // client_id in the body is tolerated only if it agrees.
            if form_secret.is_some() || form_id.is_some_and(|f| f != id) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
            }
            (id, secret)
        }
        None => match (form_id, form_secret) {
            (Some(id), Some(secret)) => (id.to_string(), secret.to_string()),
            _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        },
    };
    let settings = &shared.settings;
    if client_id != settings.client_id || !same_secret(&client_secret, &settings.client_secret) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    match field("grant_type") {
        None => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request"),
        Some("client_credentials") => {}
        Some(_) => return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    }
    let access_token = settings.tokens.issue(settings.token_lifetime);
    let mut answer = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": settings.token_lifetime.as_secs(),
    });
    if let Some(scope) = field("scope").map(str::trim).filter(|s| !s.is_empty()) {
        answer["scope"] = json!(scope);
    }
    let mut response = (StatusCode::OK, axum::Json(answer)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_early_expiry_shortens_them() {
        let store = TokenStore::new();
        let token = store.issue(Duration::from_secs(60));
        assert!(store.is_valid(&token, Duration::ZERO));
        assert!(!store.is_valid(&token, Duration::from_secs(61)));
        assert!(!store.is_valid("not-issued", Duration::ZERO));
        assert!(store.expire(&token));
        assert!(!store.is_valid(&token, Duration::ZERO));
        assert_eq!(store.live(), 0);
    }

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = STANDARD.encode("my%20client:s%3Acret");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {encoded}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(Ok(("my client".to_string(), "s:cret".to_string())))
        );
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&headers), Some(Err(())));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(basic_credentials(&headers), None);
    }
}
