//! The authorisation server as a client meets it: mutual TLS, the access
//! request of the authentication README, the JWT and its JWKS, expiry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use skolsync_sandbox::auth::TokenError;
use skolsync_sandbox::tls::{ClientSubject, Pki};
use skolsync_sandbox::{Faults, ProvisioningOptions, Sandbox, SandboxConfig};

async fn sandbox(token_lifetime: Duration) -> Sandbox {
    Sandbox::start(SandboxConfig {
        students: 50,
        token_lifetime,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

/// A client that trusts the sandbox CA and presents `identity` (cert + key PEM).
fn client(sandbox: &Sandbox, identity: Option<String>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10));
    if let Some(pem) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

fn mtls_client(sandbox: &Sandbox) -> reqwest::Client {
    client(sandbox, Some(sandbox.pki().client_identity_pem()))
}

/// The README's access request for the Provisioning API, certificate form.
fn access_request(sandbox: &Sandbox) -> Value {
    json!({
        "access_token": [{
            "access": [{
                "type": "provisioning-api",
                "locations": [sandbox.endpoints().provisioning_url]
            }],
            "flags": ["bearer"]
        }],
        "client": {
            "key": { "proof": "mtls", "cert#S256": sandbox.client_fingerprint() }
        }
    })
}

fn transaction_url(sandbox: &Sandbox) -> String {
    format!("{}/transaction", sandbox.endpoints().auth_url)
}

async fn post(sandbox: &Sandbox, body: &Value) -> (u16, Value) {
    let response = mtls_client(sandbox)
        .post(transaction_url(sandbox))
        .json(body)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

async fn token(sandbox: &Sandbox) -> String {
    let (status, body) = post(sandbox, &access_request(sandbox)).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"]["value"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_client_without_a_certificate_gets_no_token_but_may_read_the_jwks() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let response = client(&sandbox, None)
        .post(transaction_url(&sandbox))
        .json(&access_request(&sandbox))
        .send()
        .await
        .expect("the handshake lets it in");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_client");
    // The JWKS is public, as the real one is.
    let jwks = client(&sandbox, None)
        .get(format!(
            "{}/.well-known/jwks.json",
            sandbox.endpoints().auth_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    // The server is fine: the same call with the certificate works.
    token(&sandbox).await;
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let stranger = Pki::generate(None, &ClientSubject::default()).unwrap();
    let result = client(&sandbox, Some(stranger.client_identity_pem()))
        .post(transaction_url(&sandbox))
        .json(&access_request(&sandbox))
        .send()
        .await;
    assert!(result.is_err(), "got an answer: {result:?}");
}

#[tokio::test]
async fn the_sandbox_certificate_gets_a_token_shaped_like_the_readme() {
    let lifetime = Duration::from_secs(900);
    let sandbox = sandbox(lifetime).await;
    let (status, body) = post(&sandbox, &access_request(&sandbox)).await;
    assert_eq!(status, 200, "{body}");
    let granted = &body["access_token"];
    assert_eq!(granted["expires_in"], json!(900));
    assert_eq!(granted["flags"], json!(["bearer"]));
    assert_eq!(
        granted["access"],
        json!([{ "type": "provisioning-api", "locations": [sandbox.endpoints().provisioning_url] }])
    );
    let jwt = granted["value"].as_str().unwrap();

    // Header names the key; claims follow the README's example.
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["iss"], json!(sandbox.endpoints().auth_url));
    assert_eq!(claims["aud"], "nutid");
    assert_eq!(claims["version"], 1);
    assert_eq!(claims["auth_source"], "ca");
    let org = claims["organization_id"].as_str().unwrap();
    assert!(
        org.len() == 12 && org.starts_with("SE") && org[2..].bytes().all(|b| b.is_ascii_digit()),
        "{org}"
    );
    assert_eq!(
        claims["requested_access"],
        json!([{ "type": "provisioning-api", "locations": [sandbox.endpoints().provisioning_url] }])
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 900);
    assert!(claims["nbf"].as_u64().unwrap() <= iat);
    assert_eq!(claims["sub"], json!(sandbox.client_fingerprint()));

    // The signature verifies with the key the JWKS publishes under that kid.
    let jwks: Value = mtls_client(&sandbox)
        .get(format!(
            "{}/.well-known/jwks.json",
            sandbox.endpoints().auth_url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is in the JWKS");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["use"], "sig");
    let mut point = vec![0x04];
    point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
    assert_eq!(point.len(), 65);
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let public =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point);
    public
        .verify(signing_input.as_bytes(), &signature)
        .expect("signature verifies against the JWKS key");
    // …and a changed payload does not.
    assert!(public.verify(b"tampered.payload", &signature).is_err());

    // The Provisioning emulator's check accepts it and names the client
    // and its huvudman (the certificate's organisation number).
    let verify = sandbox.token_issuer().bearer_verifier();
    let identity = verify(&format!("Bearer {jwt}")).unwrap();
    assert_eq!(identity.client, sandbox.client_fingerprint());
    let organisation: String = sandbox
        .pki()
        .subject()
        .organisation_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert_eq!(identity.organisation, Some(organisation));
}

#[tokio::test]
async fn an_entity_id_as_client_key_is_the_tls_federation_form() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;
    let mut request = access_request(&sandbox);
    request["client"] = json!({ "key": "https://testhuvudman.se" });
    let (status, body) = post(&sandbox, &request).await;
    assert_eq!(status, 200, "{body}");
    let claims = sandbox
        .token_issuer()
        .verify(body["access_token"]["value"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.auth_source, "tlsfed");
    assert_eq!(claims.entity_id.as_deref(), Some("https://testhuvudman.se"));
    assert_eq!(claims.sub, "https://testhuvudman.se");
}

#[tokio::test]
async fn a_token_past_its_lifetime_is_refused() {
    let sandbox = sandbox(Duration::from_secs(1)).await;
    let (status, body) = post(&sandbox, &access_request(&sandbox)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"]["expires_in"], json!(1));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let jwt = body["access_token"]["value"].as_str().unwrap();
    assert_eq!(sandbox.token_issuer().verify(jwt), Err(TokenError::Expired));
}

#[tokio::test]
async fn the_early_expiry_fault_ends_tokens_before_their_time() {
    let sandbox = sandbox(Duration::from_secs(600)).await;
    let jwt = token(&sandbox).await;
    assert!(sandbox.token_issuer().verify(&jwt).is_ok());
    // Tokens now die 600 s early: this one, with 600 s to live, is gone.
    sandbox.faults().set(Faults {
        token_early_expiry: Duration::from_secs(600),
        ..Faults::default()
    });
    assert_eq!(
        sandbox.token_issuer().verify(&jwt),
        Err(TokenError::Expired)
    );
    sandbox.faults().set(Faults::default());
    assert!(sandbox.token_issuer().verify(&jwt).is_ok());
}

async fn refused(sandbox: &Sandbox, body: &Value, status: u16, code: &str, mention: &str) {
    let (got, answer) = post(sandbox, body).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["error"]["code"], code, "{answer}");
    let description = answer["error"]["description"].as_str().unwrap();
    assert!(description.contains(mention), "{description}");
}

#[tokio::test]
async fn bad_access_requests_get_400_naming_the_problem() {
    let sandbox = sandbox(Duration::from_secs(3600)).await;

    let mut wrong_type = access_request(&sandbox);
    // `ss12000-api` is Skolverket's own client's access, not a huvudman's.
    wrong_type["access_token"][0]["access"][0]["type"] = json!("ss12000-api");
    refused(&sandbox, &wrong_type, 400, "invalid_request", "ss12000-api").await;

    let mut wrong_location = access_request(&sandbox);
    wrong_location["access_token"][0]["access"][0]["locations"] =
        json!(["https://api.skolverket.se/provtjanst/provisioning/v1"]);
    refused(
        &sandbox,
        &wrong_location,
        400,
        "invalid_request",
        "https://api.skolverket.se",
    )
    .await;

    let mut no_location = access_request(&sandbox);
    no_location["access_token"][0]["access"][0]
        .as_object_mut()
        .unwrap()
        .remove("locations");
    refused(&sandbox, &no_location, 400, "invalid_request", "locations").await;

    let mut no_bearer = access_request(&sandbox);
    no_bearer["access_token"][0]["flags"] = json!([]);
    refused(&sandbox, &no_bearer, 400, "invalid_flag", "bearer").await;

    let mut no_client = access_request(&sandbox);
    no_client.as_object_mut().unwrap().remove("client");
    refused(&sandbox, &no_client, 400, "invalid_request", "client").await;

    // A fingerprint of some other certificate: the client is not who it says.
    let mut wrong_fingerprint = access_request(&sandbox);
    wrong_fingerprint["client"]["key"]["cert#S256"] =
        json!("Ct4nIeRScfjAT6ZMn41bWuMEg5Dv7nmg170O8tG1PhI=");
    refused(
        &sandbox,
        &wrong_fingerprint,
        401,
        "invalid_client",
        "cert#S256",
    )
    .await;

    // Not JSON at all.
    let response = mtls_client(&sandbox)
        .post(transaction_url(&sandbox))
        .header("Content-Type", "application/json")
        .body("{\"access_token\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "invalid_request");
    assert!(
        answer["error"]["description"]
            .as_str()
            .unwrap()
            .contains("JSON")
    );

    // A form post (curl -d without a Content-Type) is not an access request.
    let response = mtls_client(&sandbox)
        .post(transaction_url(&sandbox))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(access_request(&sandbox).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // None of these produced a token.
    assert_eq!(sandbox.token_issuer().tokens_issued(), 0);
}

/// A proxy in front of the Provisioning API: the authorisation server
/// grants tokens for the locations it is configured with besides the API's
/// own, and the API takes such a token when the proxy forwards it; any
/// other location is still refused.
#[tokio::test]
async fn tokens_can_be_granted_for_a_configured_proxy_location() {
    let proxy = "http://127.0.0.1:9/recording-proxy/provtjanst/provisioning/v1";
    let sandbox = Sandbox::start(SandboxConfig {
        students: 50,
        provisioning: ProvisioningOptions {
            token_locations: vec![proxy.to_string()],
            ..ProvisioningOptions::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let for_location = |location: &str| {
        let mut request = access_request(&sandbox);
        request["access_token"][0]["access"][0]["locations"] = json!([location]);
        request
    };
    let (status, body) = post(&sandbox, &for_location(proxy)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["access_token"]["access"][0]["locations"],
        json!([proxy])
    );
    let token = body["access_token"]["value"].as_str().unwrap();
    let persons = format!("{}/persons?limit=1", sandbox.endpoints().provisioning_url);
    let answer = client(&sandbox, None)
        .get(&persons)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);

    let (status, body) = post(&sandbox, &for_location("http://127.0.0.1:9/elsewhere")).await;
    assert_eq!(status, 400, "{body}");
}
