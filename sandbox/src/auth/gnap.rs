//! The authorisation server's HTTP side: `POST /transaction` with its
//! GNAP-style grant request, read field by field so every mistake names
//! its field, and answered with a token or an RFC 9635 error object;
//! `GET /.well-known/jwks.json`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    BEARER_FLAG, ClientKey, MAX_REQUEST_BYTES, PROVISIONING_ACCESS_TYPE, PeerCertificate,
    RequestedAccess, SS12000_CLIENT_ACCESS_TYPE, TokenIssuer,
};
use crate::tls::{cert_fingerprint, fingerprint_matches};

impl TokenIssuer {
    /// Validates an access request sent over a connection whose client
    /// presented `peer`, and answers it (`Ok`) or says why not (`Err`).
    pub fn grant(
        &self,
        request: &Value,
        peer: Option<&PeerCertificate>,
    ) -> Result<GrantResponse, GnapError> {
        let Some(peer) = peer else {
            return Err(GnapError::client(
                "no client certificate was presented over TLS".to_string(),
            ));
        };
        let grant = parse_grant(request)?;
        for item in &grant.access {
            self.check_access_item(item)?;
        }
        if let Some(flag) = grant.flags.iter().find(|f| f.as_str() != BEARER_FLAG) {
            return Err(GnapError::flag(format!(
                "flag `{flag}` is not supported; request [\"{BEARER_FLAG}\"]"
            )));
        }
        if !grant.flags.iter().any(|f| f == BEARER_FLAG) {
            return Err(GnapError::flag(format!(
                "the `{BEARER_FLAG}` flag is required: the Provisioning API takes bearer tokens"
            )));
        }
        let client = match grant.client_key {
            RequestedKey::EntityId(id) => ClientKey::EntityId(id),
            RequestedKey::Fingerprint(sent) => {
                if !fingerprint_matches(&sent, &peer.fingerprint) {
                    return Err(GnapError::client(format!(
                        "`client.key.cert#S256` ({sent}) does not match the client certificate presented over TLS"
                    )));
                }
                ClientKey::Certificate {
                    fingerprint: peer.fingerprint.clone(),
                }
            }
        };
        let access: Vec<RequestedAccess> = grant
            .access
            .into_iter()
            .map(|a| RequestedAccess {
                access_type: a.access_type,
                locations: a.locations,
            })
            .collect();
        let value = self
            .issue(&client, access.clone())
            .map_err(|e| GnapError::server(e.to_string()))?;
        Ok(GrantResponse {
            access_token: GrantedToken {
                value,
                access,
                expires_in: self.lifetime.as_secs(),
                flags: vec![BEARER_FLAG.to_string()],
            },
        })
    }
}

impl TokenIssuer {
    /// Whether one requested access item is one this server grants: the
    /// Provisioning API at its location, or the SS12000 client (webhooks,
    /// `ss12000-client`) at its base URL.
    fn check_access_item(&self, item: &AccessItem) -> Result<(), GnapError> {
        let provisioning = item.access_type == PROVISIONING_ACCESS_TYPE;
        let client =
            item.access_type == SS12000_CLIENT_ACCESS_TYPE && !self.ss12000_client_url().is_empty();
        let (what, url) = if provisioning {
            ("the Provisioning API base URL", self.location.as_str())
        } else if client {
            ("the SS12000 client base URL", self.ss12000_client_url())
        } else {
            return Err(GnapError::request(format!(
                "access type `{}` is not served by this authorisation server; request `{PROVISIONING_ACCESS_TYPE}` or `{SS12000_CLIENT_ACCESS_TYPE}`",
                item.access_type
            )));
        };
        let location_ok = |l: &str| {
            if provisioning {
                self.grants_location(l)
            } else {
                l.trim().trim_end_matches('/') == url
            }
        };
        if item.locations.is_empty() {
            return Err(GnapError::request(format!(
                "`locations` must name {what} `{url}`"
            )));
        }
        if let Some(other) = item.locations.iter().find(|l| !location_ok(l)) {
            return Err(GnapError::request(format!(
                "location `{other}` is not {what} of this sandbox; use `{url}`"
            )));
        }
        Ok(())
    }
}

/// The answer to a successful access request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantResponse {
    /// The token.
    pub access_token: GrantedToken,
}

/// `access_token` of the answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantedToken {
    /// The JWT.
    pub value: String,
    /// What it grants.
    pub access: Vec<RequestedAccess>,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// `["bearer"]`.
    pub flags: Vec<String>,
}

/// An RFC 9635 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GnapError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error code (`invalid_request`, `invalid_flag`, `invalid_client`, …).
    pub code: &'static str,
    /// What was wrong, for people.
    pub description: String,
}

impl GnapError {
    fn new(status: StatusCode, code: &'static str, description: String) -> Self {
        GnapError {
            status,
            code,
            description,
        }
    }

    fn request(description: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn flag(description: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_flag", description)
    }

    fn client(description: String) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description)
    }

    fn server(description: String) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "request_denied",
            description,
        )
    }
}

impl IntoResponse for GnapError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": { "code": self.code, "description": self.description }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The authorisation server's routes: `POST /transaction` and
/// `GET /.well-known/jwks.json`. The listener asks for a client certificate
/// but does not require one (the JWKS is public, as the real one is); it
/// puts a [`PeerCertificate`] into each request that came with one, and
/// `/transaction` refuses the requests without (`401 invalid_client`).
pub fn router(issuer: Arc<TokenIssuer>) -> Router {
    Router::new()
        .route("/transaction", post(transaction))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(issuer)
}

async fn jwks(State(issuer): State<Arc<TokenIssuer>>) -> Response {
    axum::Json(issuer.jwks()).into_response()
}

async fn transaction(State(issuer): State<Arc<TokenIssuer>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if let Err(err) = check_content_type(&parts.headers) {
        return err.into_response();
    }
    let peer = parts.extensions.get::<PeerCertificate>().cloned();
    if peer.is_none() {
        // The listener lets certificate-less clients in for the public
        // JWKS; access requests still need the certificate.
        return GnapError::client("no client certificate was presented over TLS".to_string())
            .into_response();
    }
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_REQUEST_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return GnapError::request(format!(
                "the request body could not be read (at most {MAX_REQUEST_BYTES} bytes)"
            ))
            .into_response();
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(err) => {
            return GnapError::request(format!("the request body is not valid JSON: {err}"))
                .into_response();
        }
    };
    match issuer.grant(&value, peer.as_ref()) {
        Ok(answer) => {
            tracing::debug!(kid = issuer.kid(), "issued an access token");
            axum::Json(answer).into_response()
        }
        Err(err) => {
            tracing::info!(code = err.code, description = %err.description, "refused an access request");
            err.into_response()
        }
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), GnapError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let value = value.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(GnapError::request(format!(
            "Content-Type must be application/json, not `{essence}`"
        )))
    }
}

struct AccessItem {
    access_type: String,
    locations: Vec<String>,
}

enum RequestedKey {
    EntityId(String),
    Fingerprint(String),
}

struct Grant {
    access: Vec<AccessItem>,
    flags: Vec<String>,
    client_key: RequestedKey,
}

/// Reads the grant request field by field, so each mistake gets a message
/// that names the field.
fn parse_grant(request: &Value) -> Result<Grant, GnapError> {
    let bad = |msg: &str| GnapError::request(msg.to_string());
    let Some(object) = request.as_object() else {
        return Err(bad("the access request must be a JSON object"));
    };
    let token = match object.get("access_token") {
        None => return Err(bad("`access_token` is required")),
        Some(Value::Array(items)) => match items.as_slice() {
            [] => return Err(bad("`access_token` must hold one access token request")),
            [one] => one,
            _ => {
                return Err(bad(
                    "`access_token` holds several requests; the Provisioning API needs one",
                ));
            }
        },
        Some(one @ Value::Object(_)) => one,
        Some(_) => return Err(bad("`access_token` must be an object or a list of one")),
    };
    let access = match token.get("access") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(bad(
                "`access_token.access` must list the requested access (type `provisioning-api`)",
            ));
        }
    };
    let mut items = Vec::with_capacity(access.len());
    for item in access {
        let Some(access_type) = item.get("type").and_then(Value::as_str) else {
            return Err(bad("every `access` entry needs a string `type`"));
        };
        let locations = string_list(item.get("locations"), || {
            bad("`locations` must be a list of URLs")
        })?;
        items.push(AccessItem {
            access_type: access_type.to_string(),
            locations,
        });
    }
    let flags = string_list(token.get("flags"), || {
        GnapError::flag("`flags` must be a list of strings".to_string())
    })?;
    let client_key = parse_client_key(object.get("client"))?;
    Ok(Grant {
        access: items,
        flags,
        client_key,
    })
}

/// `client`: an entity id, or an mTLS key named by its certificate's
/// fingerprint (or the certificate itself).
fn parse_client_key(client: Option<&Value>) -> Result<RequestedKey, GnapError> {
    let bad = |msg: &str| GnapError::request(msg.to_string());
    let key = match client {
        None => return Err(bad("`client` is required")),
        Some(Value::String(_)) => {
            return Err(GnapError::client(
                "client instance references are not known here; send `client.key`".to_string(),
            ));
        }
        Some(client) => match client.get("key") {
            Some(Value::String(id)) if !id.trim().is_empty() => {
                RequestedKey::EntityId(id.trim().to_string())
            }
            Some(Value::Object(key)) => {
                match key.get("proof").and_then(Value::as_str) {
                    Some("mtls") => {}
                    Some(other) => {
                        return Err(bad(&format!(
                            "proof method `{other}` is not supported; use `mtls`"
                        )));
                    }
                    None => return Err(bad("`client.key.proof` is required (`mtls`)")),
                }
                if let Some(fp) = key.get("cert#S256").and_then(Value::as_str) {
                    RequestedKey::Fingerprint(fp.to_string())
                } else if let Some(cert) = key.get("cert").and_then(Value::as_str) {
                    // GNAP also allows the certificate itself (base64 DER).
                    let der = STANDARD
                        .decode(cert.trim())
                        .map_err(|_| bad("`client.key.cert` must be base64 DER"))?;
                    RequestedKey::Fingerprint(cert_fingerprint(&der))
                } else {
                    return Err(bad(
                        "`client.key` needs `cert#S256` (the certificate's SHA-256 fingerprint)",
                    ));
                }
            }
            _ => {
                return Err(bad(
                    "`client.key` must be an entity id or {\"proof\": \"mtls\", \"cert#S256\": …}",
                ));
            }
        },
    };
    Ok(key)
}

/// A list of strings, absent meaning empty; anything else is `error`.
fn string_list(
    value: Option<&Value>,
    error: impl Fn() -> GnapError,
) -> Result<Vec<String>, GnapError> {
    match value {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(&error))
            .collect(),
        Some(_) => Err(error()),
    }
}
