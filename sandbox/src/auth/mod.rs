//! Skolverket's authorisation server, emulated: the client presents its
//! certificate over mutual TLS (checked by the listener, see
//! [`crate::tls`]; `/transaction` refuses a request that came without
//! one), POSTs a JSON access request to `/transaction` and gets an
//! ES256-signed JWT to use as a bearer token at the Provisioning API
//! (`provisioning-api`) or at Skolverket's SS12000 client's webhooks
//! (`ss12000-client`). The signing key is published, without a client
//! certificate, at `/.well-known/jwks.json`; [`TokenIssuer::issue_ss12000_api_token`]
//! mints the tokens Skolverket's own SS12000 client sends to a huvudman's
//! SS12000 API.
//!
//! The request is the GNAP-style grant request of `authentication-api_README.md`;
//! the token's claims follow the README's example (`iss`, `aud`, `exp`, `iat`,
//! `nbf`, `organization_id`, `requested_access`, `auth_source`, …). Errors
//! answer with the RFC 9635 error object the real server (SUNET's auth
//! server) uses: `{"error": {"code": "invalid_request", "description": "…"}}`.
//!
//! [`TokenIssuer::verify`] is what the Provisioning API emulator uses to check
//! bearer tokens, honouring the early-expiry fault.
//!
//! This file holds the token issuer (keys, claims, signing, checking);
//! [`gnap`] the HTTP side: the routes, the grant request and its answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::FaultSwitch;
use crate::provisioning::{ClientIdentity, TokenCheck};
use crate::tls::cert_fingerprint;

mod gnap;

pub use gnap::{GnapError, GrantResponse, GrantedToken, router};

/// The access type a token for the Provisioning API must request.
pub const PROVISIONING_ACCESS_TYPE: &str = "provisioning-api";
/// The access type of a huvudman's token for Skolverket's SS12000 client
/// (its webhooks; authentication README, access types).
pub const SS12000_CLIENT_ACCESS_TYPE: &str = "ss12000-client";
/// The access type of Skolverket's SS12000 client's token for a
/// huvudman's SS12000 API.
pub const SS12000_API_ACCESS_TYPE: &str = "ss12000-api";
/// Skolverket's organisation number as `organization_id` carries it
/// (authentication README, "Verifiering av JWT").
pub const SKOLVERKET_ORGANIZATION_ID: &str = "SE2021004185";
/// The only token flag the sandbox issues (and requires).
pub const BEARER_FLAG: &str = "bearer";
/// `aud` of every token, as in the README's example.
pub const AUDIENCE: &str = "nutid";
/// Largest access request the server reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The TLS client certificate of the connection a request came over; the
/// listener puts it into every request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// `cert#S256` of the end-entity certificate.
    pub fingerprint: String,
}

impl PeerCertificate {
    /// From the DER of the certificate the client presented.
    pub fn from_der(der: &[u8]) -> Self {
        PeerCertificate {
            fingerprint: cert_fingerprint(der),
        }
    }
}

/// Why the token issuer could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// ring could not generate or load the signing key.
    #[error("could not create the token signing key: {0}")]
    Key(String),
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or not JSON where JSON belongs.
    #[error("the access token is malformed: {0}")]
    Malformed(String),
    /// Not ES256 or a `kid` this server does not publish.
    #[error("the access token is not signed with this server's key ({0})")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("the access token's signature is invalid")]
    BadSignature,
    /// Issued by another server.
    #[error("the access token was issued by `{0}`, not this authorisation server")]
    WrongIssuer(String),
    /// Its `nbf` lies in the future.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// Past its `exp` (or past the early-expiry fault's cut-off).
    #[error("the access token has expired")]
    Expired,
    /// It does not grant the needed access type for this location
    /// (`type` at location).
    #[error("the access token does not grant {0}")]
    NoAccess(String),
}

/// One entry of `requested_access` (and of the answer's `access`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedAccess {
    /// Access type, e.g. `provisioning-api`.
    #[serde(rename = "type")]
    pub access_type: String,
    /// Base URLs the token is good for.
    pub locations: Vec<String>,
}

/// The claims of a sandbox access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// Audience, `nutid`.
    pub aud: String,
    /// How the client was authenticated: `tlsfed` (entity id) or `ca`
    /// (certificate fingerprint).
    pub auth_source: String,
    /// The client's entity id, when it sent one as `client.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// The certificate's common name (certificate flow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// The authorisation server's URL.
    pub iss: String,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// The huvudman's organisation number with country prefix (`SE2120000000`).
    pub organization_id: String,
    /// What the token grants.
    pub requested_access: Vec<RequestedAccess>,
    /// Where the client's registration came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The client identity (entity id, or `cert#S256` fingerprint).
    pub sub: String,
    /// Claim-set version, 1.
    pub version: u32,
}

/// How the client named itself in `client.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientKey {
    /// An entity id (TLS federation).
    EntityId(String),
    /// `{proof: "mtls", "cert#S256": …}`: the certificate itself.
    Certificate {
        /// Its fingerprint.
        fingerprint: String,
    },
}

impl ClientKey {
    /// The identity rate limits and stores are keyed by.
    pub fn identity(&self) -> &str {
        match self {
            ClientKey::EntityId(id) => id,
            ClientKey::Certificate { fingerprint } => fingerprint,
        }
    }
}

/// Issues and verifies the sandbox's access tokens.
pub struct TokenIssuer {
    key: EcdsaKeyPair,
    public_key: Vec<u8>,
    rng: SystemRandom,
    kid: String,
    issuer: String,
    location: String,
    extra_locations: Vec<String>,
    organization_id: String,
    common_name: String,
    lifetime: Duration,
    ss12000_client_url: String,
    faults: Arc<FaultSwitch>,
    issued: AtomicU64,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("location", &self.location)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// What the issuer needs to know about the sandbox it serves.
#[derive(Debug, Clone)]
pub struct IssuerSettings {
    /// The authorisation server's base URL (`iss`).
    pub issuer: String,
    /// The Provisioning API base URL: the location tokens are for.
    pub provisioning_url: String,
    /// Further locations tokens may be granted for (a recording or
    /// validating proxy in front of the Provisioning API); a token for any
    /// of them is accepted by the API.
    pub extra_locations: Vec<String>,
    /// The huvudman's organisation number (ten digits, dash allowed).
    pub organisation_number: String,
    /// The client certificate's common name.
    pub common_name: String,
    /// `expires_in` of every token.
    pub lifetime: Duration,
    /// The base URL of the sandbox's SS12000 client (pull method): the
    /// location `ss12000-client` tokens are granted for; empty when none.
    pub ss12000_client_url: String,
}

impl TokenIssuer {
    /// A new issuer with a freshly generated P-256 signing key.
    pub fn new(settings: IssuerSettings, faults: Arc<FaultSwitch>) -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| AuthError::Key(e.to_string()))?;
        let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .map_err(|e| AuthError::Key(e.to_string()))?;
        let public_key = key.public_key().as_ref().to_vec();
        // A kid in the style of the real one (`nutid_auth_202201`), unique per key.
        let digest = Sha256::digest(&public_key);
        let kid = format!(
            "sandbox_auth_{}",
            digest[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        let digits: String = settings
            .organisation_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        Ok(TokenIssuer {
            key,
            public_key,
            rng,
            kid,
            issuer: settings.issuer.trim_end_matches('/').to_string(),
            location: normalise_location(&settings.provisioning_url),
            extra_locations: settings
                .extra_locations
                .iter()
                .map(|l| normalise_location(l))
                .collect(),
            organization_id: format!("SE{digits}"),
            common_name: settings.common_name,
            lifetime: settings.lifetime,
            ss12000_client_url: normalise_location(&settings.ss12000_client_url),
            faults,
            issued: AtomicU64::new(0),
        })
    }

    /// The key id in every token header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The `iss` of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The Provisioning API URL tokens are issued for.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether tokens are granted for `location` (the API's own URL or one
    /// of the configured extra ones; compared without a trailing slash).
    pub fn grants_location(&self, location: &str) -> bool {
        let location = normalise_location(location);
        location == self.location || self.extra_locations.contains(&location)
    }

    /// The SS12000 client's base URL `ss12000-client` tokens are for
    /// (empty when the sandbox has none).
    pub fn ss12000_client_url(&self) -> &str {
        &self.ss12000_client_url
    }

    /// `expires_in` of every token.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// `organization_id` of every token.
    pub fn organization_id(&self) -> &str {
        &self.organization_id
    }

    /// How many tokens were issued so far (tests check token reuse).
    pub fn tokens_issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// The JSON Web Key Set with the signing key.
    pub fn jwks(&self) -> Value {
        // ring's public key is the uncompressed point 0x04 ‖ x ‖ y.
        let (x, y) = self.public_key[1..].split_at(32);
        serde_json::json!({
            "keys": [{
                "kty": "EC",
                "kid": self.kid,
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
                "alg": "ES256",
                "use": "sig",
            }]
        })
    }

    /// Signs a token for `client`, granting `access`.
    pub fn issue(
        &self,
        client: &ClientKey,
        access: Vec<RequestedAccess>,
    ) -> Result<String, AuthError> {
        let now = unix_now().as_secs();
        let (auth_source, entity_id, common_name, source) = match client {
            ClientKey::EntityId(id) => (
                "tlsfed",
                Some(id.clone()),
                None,
                Some(format!("{}/metadata", self.issuer)),
            ),
            ClientKey::Certificate { .. } => (
                "ca",
                None,
                Some(self.common_name.clone()),
                Some("skolsync sandbox CA".to_string()),
            ),
        };
        let claims = TokenClaims {
            aud: AUDIENCE.to_string(),
            auth_source: auth_source.to_string(),
            entity_id,
            common_name,
            exp: now + self.lifetime.as_secs(),
            iat: now,
            iss: self.issuer.clone(),
            nbf: now,
            organization_id: self.organization_id.clone(),
            requested_access: access,
            source,
            sub: client.identity().to_string(),
            version: 1,
        };
        self.sign(&claims)
    }

    /// Signs a token for Skolverket's SS12000 client (`entity_id` =
    /// `client_url`) to call the huvudman's SS12000 API at `api_url`,
    /// shaped like the authentication README's example: `tlsfed`,
    /// Skolverket's `organization_id`, `requested_access` of type
    /// `ss12000-api` for that one location.
    pub fn issue_ss12000_api_token(
        &self,
        client_url: &str,
        api_url: &str,
    ) -> Result<String, AuthError> {
        let now = unix_now().as_secs();
        let claims = TokenClaims {
            aud: AUDIENCE.to_string(),
            auth_source: "tlsfed".to_string(),
            entity_id: Some(client_url.to_string()),
            common_name: None,
            exp: now + self.lifetime.as_secs(),
            iat: now,
            iss: self.issuer.clone(),
            nbf: now,
            organization_id: SKOLVERKET_ORGANIZATION_ID.to_string(),
            requested_access: vec![RequestedAccess {
                access_type: SS12000_API_ACCESS_TYPE.to_string(),
                locations: vec![api_url.to_string()],
            }],
            source: Some(format!("{}/metadata", self.issuer)),
            sub: client_url.to_string(),
            version: 1,
        };
        self.sign(&claims)
    }

    /// Signs `claims` with the ES256 key (header names the `kid`).
    pub fn sign(&self, claims: &TokenClaims) -> Result<String, AuthError> {
        let header = serde_json::json!({ "alg": "ES256", "kid": self.kid, "typ": "JWT" });
        let signing_input = format!("{}.{}", b64_json(&header), b64_json(claims));
        let sig = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|e| AuthError::Key(e.to_string()))?;
        self.issued.fetch_add(1, Ordering::Relaxed);
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// Checks a bearer token (with or without the `Bearer ` prefix): our
    /// signature, our issuer, inside `nbf`..`exp` (less the early-expiry
    /// fault), and granting `provisioning-api` for this sandbox's location.
    pub fn verify(&self, bearer: &str) -> Result<TokenClaims, TokenError> {
        self.verify_access(bearer, PROVISIONING_ACCESS_TYPE, |l| {
            self.grants_location(l)
        })
        .map_err(|e| match e {
            TokenError::NoAccess(_) => TokenError::NoAccess(format!(
                "`{PROVISIONING_ACCESS_TYPE}` access to {}",
                self.location
            )),
            other => other,
        })
    }

    /// Checks a bearer token as [`TokenIssuer::verify`] does, but for
    /// `access_type` at a location `location_ok` accepts (the SS12000
    /// client checks `ss12000-client` for its own base URL).
    pub fn verify_access(
        &self,
        bearer: &str,
        access_type: &str,
        location_ok: impl Fn(&str) -> bool,
    ) -> Result<TokenClaims, TokenError> {
        let token = strip_bearer(bearer);
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed(
                "expected three dot-separated parts".to_string(),
            ));
        };
        let header: Value = decode_json(header, "header")?;
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Err(TokenError::UnknownKey("alg is not ES256".to_string()));
        }
        match header.get("kid").and_then(Value::as_str) {
            Some(kid) if kid == self.kid => {}
            Some(kid) => return Err(TokenError::UnknownKey(format!("unknown kid `{kid}`"))),
            None => return Err(TokenError::UnknownKey("no kid".to_string())),
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed("signature is not base64url".to_string()))?;
        let signing_input_len = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.public_key)
            .verify(&token.as_bytes()[..signing_input_len], &sig)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: TokenClaims = decode_json(payload, "claims")?;
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        let now = unix_now();
        if claims.nbf > now.as_secs() + 1 {
            return Err(TokenError::NotYetValid);
        }
        let early = self.faults.get().token_early_expiry;
        if now + early >= Duration::from_secs(claims.exp) {
            return Err(TokenError::Expired);
        }
        let grants = claims
            .requested_access
            .iter()
            .any(|a| a.access_type == access_type && a.locations.iter().any(|l| location_ok(l)));
        if !grants {
            return Err(TokenError::NoAccess(format!("`{access_type}` access")));
        }
        Ok(claims)
    }

    /// A closure for the Provisioning API emulator: verifies a bearer token
    /// and returns the client identity (`sub`: entity id or certificate
    /// fingerprint; the huvudman of `organization_id`), or the reason it
    /// was refused.
    pub fn bearer_verifier(self: &Arc<Self>) -> TokenCheck {
        let issuer = Arc::clone(self);
        Arc::new(move |bearer: &str| {
            issuer
                .verify(bearer)
                .map(|claims| {
                    let digits: String = claims
                        .organization_id
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect();
                    ClientIdentity {
                        client: claims.sub,
                        organisation: (!digits.is_empty()).then_some(digits),
                    }
                })
                .map_err(|err| err.to_string())
        })
    }
}

/// Locations compare without a trailing slash.
fn normalise_location(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str, what: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(format!("{what} is not base64url")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TokenError::Malformed(format!("{what} is not the expected JSON: {e}")))
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Base64url of the JSON of `value` (a JWT part).
fn b64_json<T: Serialize>(value: &T) -> String {
    // Serialising plain structs and `Value`s to a Vec cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Faults;

    fn issuer(lifetime: Duration) -> TokenIssuer {
        TokenIssuer::new(
            IssuerSettings {
                issuer: "https://127.0.0.1:1".to_string(),
                provisioning_url: "http://127.0.0.1:2/provtjanst/provisioning/v1".to_string(),
                extra_locations: vec!["http://127.0.0.1:3/proxy/".to_string()],
                organisation_number: "212000-0000".to_string(),
                common_name: "Sandbox huvudman".to_string(),
                lifetime,
                ss12000_client_url: "https://127.0.0.1:5/provtjanst/ss12000/klient/v1".to_string(),
            },
            Arc::new(FaultSwitch::new(Faults::default(), 1)),
        )
        .unwrap()
    }

    fn grant_access() -> Vec<RequestedAccess> {
        vec![RequestedAccess {
            access_type: PROVISIONING_ACCESS_TYPE.to_string(),
            locations: vec!["http://127.0.0.1:2/provtjanst/provisioning/v1".to_string()],
        }]
    }

    #[test]
    fn issued_tokens_verify_and_tampered_ones_do_not() {
        let issuer = issuer(Duration::from_secs(60));
        let client = ClientKey::EntityId("https://testhuvudman.se".to_string());
        let token = issuer.issue(&client, grant_access()).unwrap();
        let claims = issuer.verify(&format!("Bearer {token}")).unwrap();
        assert_eq!(claims.organization_id, "SE2120000000");
        assert_eq!(claims.sub, "https://testhuvudman.se");
        assert_eq!(claims.exp - claims.iat, 60);

        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let mut forged = claims.clone();
        forged.sub = "someone else".to_string();
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            issuer.verify(&parts.join(".")),
            Err(TokenError::BadSignature)
        );
        assert!(matches!(
            issuer.verify("abc"),
            Err(TokenError::Malformed(_))
        ));

        let other = self::issuer(Duration::from_secs(60));
        let foreign = other.issue(&client, grant_access()).unwrap();
        assert!(matches!(
            issuer.verify(&foreign),
            Err(TokenError::UnknownKey(_))
        ));
    }

    #[test]
    fn tokens_for_another_location_grant_nothing_here() {
        let issuer = issuer(Duration::from_secs(60));
        let client = ClientKey::EntityId("x".to_string());
        let token = issuer
            .issue(
                &client,
                vec![RequestedAccess {
                    access_type: PROVISIONING_ACCESS_TYPE.to_string(),
                    locations: vec!["https://api.skolverket.se/provtjanst/provisioning/v1".into()],
                }],
            )
            .unwrap();
        assert!(matches!(
            issuer.verify(&token),
            Err(TokenError::NoAccess(_))
        ));
    }

    #[test]
    fn verifier_closure_returns_the_client_identity() {
        let issuer = Arc::new(issuer(Duration::from_secs(60)));
        let client = ClientKey::Certificate {
            fingerprint: "abc=".to_string(),
        };
        let token = issuer.issue(&client, grant_access()).unwrap();
        let verify = issuer.bearer_verifier();
        assert_eq!(
            verify(&token),
            Ok(ClientIdentity {
                client: "abc=".to_string(),
                organisation: Some("2120000000".to_string()),
            })
        );
        assert!(verify("Bearer nonsense").is_err());
    }

    #[test]
    fn tokens_for_a_configured_proxy_location_are_granted_and_accepted() {
        let issuer = Arc::new(issuer(Duration::from_secs(60)));
        assert!(issuer.grants_location("http://127.0.0.1:3/proxy"));
        assert!(!issuer.grants_location("http://127.0.0.1:4/elsewhere"));
        let client = ClientKey::EntityId("https://kommun.se/skolsync".to_string());
        let access = |location: &str| {
            vec![RequestedAccess {
                access_type: PROVISIONING_ACCESS_TYPE.to_string(),
                locations: vec![location.to_string()],
            }]
        };
        let proxied = issuer
            .issue(&client, access("http://127.0.0.1:3/proxy"))
            .unwrap();
        assert!(issuer.verify(&proxied).is_ok());
        let elsewhere = issuer
            .issue(&client, access("http://127.0.0.1:4/elsewhere"))
            .unwrap();
        assert!(matches!(
            issuer.verify(&elsewhere),
            Err(TokenError::NoAccess(_))
        ));
    }
}
