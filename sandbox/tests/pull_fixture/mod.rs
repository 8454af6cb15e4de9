//! The fixture SS 12000 API of the SS12000 client tests: serves a few DNP
//! entities over several pages, records every call and checks every
//! Bearer token against the sandbox's public JWKS on its own (ring, not
//! the sandbox's verifier); and the clients and tokens the tests use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use skolsync_sandbox::pull_client::{ClientOptions, RegistrationId};
use skolsync_sandbox::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use uuid::Uuid;

pub const SKOLVERKET: &str = "SE2021004185";
pub const WAIT: Duration = Duration::from_secs(20);

/// One request the fixture received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: &'static str,
    pub path: String,
    pub query: HashMap<String, String>,
    /// `None`: the token verified; otherwise why not.
    pub token_problem: Option<String>,
    pub body: Option<Value>,
}

/// What the fixture serves and has seen.
#[derive(Default)]
pub struct Fixture {
    pub api_url: String,
    pub jwks: Value,
    /// Resource path (`persons`) → entities in order.
    pub data: Mutex<HashMap<String, Vec<Value>>>,
    /// `deletedEntities.data`.
    pub deleted: Mutex<Value>,
    pub seen: Mutex<Vec<Seen>>,
    /// Path → how many 503s to answer before serving.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Paths answered with a body that is not JSON.
    pub garbage: Mutex<Vec<String>>,
    pub subscription_status: Mutex<u16>,
}

impl Fixture {
    pub fn record(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn gets(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "GET")
            .collect()
    }

    pub fn posted(&self, path: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path == path)
            .filter_map(|s| s.body)
            .collect()
    }
}

/// Checks the JWT as a huvudman's API must (authentication README, last
/// section): signature by the JWKS key of its `kid`, Skolverket's
/// `organization_id`, `ss12000-api` for this API, inside `nbf`..`exp`.
pub fn token_problem(jwks: &Value, api_url: &str, headers: &HeaderMap) -> Option<String> {
    let Some(auth) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return Some("no Authorization".into());
    };
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return Some("not Bearer".into());
    };
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Some("not a JWT".into());
    }
    let decode =
        |p: &str| -> Value { serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap() };
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"]);
    let Some(key) = key else {
        return Some("unknown kid".into());
    };
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    if ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(signed.as_bytes(), &sig)
        .is_err()
    {
        return Some("bad signature".into());
    }
    if claims["organization_id"] != SKOLVERKET {
        return Some(format!("organization_id {}", claims["organization_id"]));
    }
    let grants = claims["requested_access"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| {
            a["type"] == "ss12000-api"
                && a["locations"].as_array().unwrap().contains(&json!(api_url))
        });
    if !grants {
        return Some("no ss12000-api access to this API".into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if claims["nbf"].as_u64().unwrap() > now || claims["exp"].as_u64().unwrap() <= now {
        return Some("outside nbf..exp".into());
    }
    None
}

pub fn modified(entity: &Value) -> DateTime<Utc> {
    entity["meta"]["modified"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap()
}

/// `GET /{resource}` and `GET /deletedEntities`, paged by `limit` with
/// tokens `offset|after|limit` that carry the query.
pub async fn list(
    State(fx): State<Arc<Fixture>>,
    Path(resource): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let problem = token_problem(&fx.jwks, &fx.api_url, &headers);
    fx.record(Seen {
        method: "GET",
        path: format!("/{resource}"),
        query: query.clone(),
        token_problem: problem.clone(),
        body: None,
    });
    if let Some(problem) = problem {
        return (StatusCode::UNAUTHORIZED, problem).into_response();
    }
    if let Some(left) = fx.failures.lock().unwrap().get_mut(&resource)
        && *left > 0
    {
        *left -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    if fx.garbage.lock().unwrap().contains(&resource) {
        return (StatusCode::OK, "<html>not json</html>").into_response();
    }
    if resource == "deletedEntities" {
        let data = fx.deleted.lock().unwrap().clone();
        return axum::Json(json!({"data": data, "pageToken": null})).into_response();
    }
    let (offset, after, limit) = match query.get("pageToken") {
        Some(token) => {
            if query.len() > 1 {
                return (StatusCode::BAD_REQUEST, "filters with a pageToken").into_response();
            }
            let mut parts = token.split('|');
            let offset: usize = parts.next().unwrap().parse().unwrap();
            let after = parts.next().unwrap().to_string();
            let limit: usize = parts.next().unwrap().parse().unwrap();
            (offset, after, limit)
        }
        None => (
            0,
            query
                .get("meta.modified.after")
                .cloned()
                .unwrap_or_default(),
            query.get("limit").map_or(100, |l| l.parse().unwrap()),
        ),
    };
    let all = fx
        .data
        .lock()
        .unwrap()
        .get(&resource)
        .cloned()
        .unwrap_or_default();
    let matching: Vec<Value> = if after.is_empty() {
        all
    } else {
        let after: DateTime<Utc> = after.parse().unwrap();
        all.into_iter().filter(|e| modified(e) >= after).collect()
    };
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    let next =
        (offset + limit < matching.len()).then(|| format!("{}|{after}|{limit}", offset + limit));
    axum::Json(json!({"data": page, "pageToken": next})).into_response()
}

pub async fn subscriptions(
    State(fx): State<Arc<Fixture>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let problem = token_problem(&fx.jwks, &fx.api_url, &headers);
    fx.record(Seen {
        method: "POST",
        path: "/subscriptions".into(),
        query: HashMap::new(),
        token_problem: problem,
        body: Some(body.clone()),
    });
    let status = *fx.subscription_status.lock().unwrap();
    if status != 201 {
        return (StatusCode::from_u16(status).unwrap(), "no").into_response();
    }
    let mut answer = body;
    answer["id"] = json!(Uuid::new_v4());
    answer["expires"] = json!("2027-03-01T00:00:00Z");
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub async fn feedback(
    State(fx): State<Arc<Fixture>>,
    Path(what): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let problem = token_problem(&fx.jwks, &fx.api_url, &headers);
    fx.record(Seen {
        method: "POST",
        path: format!("/{what}"),
        query: HashMap::new(),
        token_problem: problem,
        body: Some(body),
    });
    StatusCode::CREATED.into_response()
}

/// A valid personnummer born on `date` (YYYYMMDD) with a serial.
pub fn pnr(date: &str, serial: u32) -> String {
    let nine = format!("{}{serial:03}", &date[2..]);
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{date}{serial:03}{}", (10 - sum % 10) % 10)
}

/// The ids of the fixture's entities.
pub struct Ids {
    pub unit: Uuid,
    pub persons: [Uuid; 4],
    pub group: Uuid,
    pub activities: [Uuid; 2],
}

pub fn stamp(minutes_ago: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn meta(minutes_ago: i64) -> Value {
    json!({"created": stamp(600), "modified": stamp(minutes_ago)})
}

/// A school unit of the sandbox's huvudman in the provtjänst offering GR
/// with a year in it, and a test activity.
pub fn register_values(sandbox: &Sandbox) -> (Uuid, u8, Uuid) {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let org = digits(&sandbox.pki().subject().organisation_number);
    let catalogue = &sandbox.world().catalogue;
    for unit in &catalogue.school_units {
        let ours = unit
            .parent_organisation
            .as_ref()
            .is_some_and(|p| digits(&p.organisation_number) == org);
        if !ours || unit.dnp_status != Some(true) {
            continue;
        }
        if unit.status != Some(skolsync_model::open_data::Status::Active) {
            continue;
        }
        for t in &unit.school_types {
            if t.school_type != "GR" || t.dnp_status != Some(true) {
                continue;
            }
            if let Some(y) = t.school_years.iter().find(|y| y.dnp_status == Some(true)) {
                return (unit.id, y.school_year, catalogue.test_activities[0].id);
            }
        }
    }
    panic!("no GR unit of the huvudman in the catalogue");
}

/// Fills the fixture: 1 organisation; 4 persons (two valid, one without
/// EPPN, one enrolled at a unit Skolverket does not know); 1 class; no
/// duties; 2 activities (one on the class, one on a group not served).
pub fn fill(fx: &Fixture, sandbox: &Sandbox) -> Ids {
    let (unit, year, test_activity) = register_values(sandbox);
    let persons = [(); 4].map(|()| Uuid::new_v4());
    let group = Uuid::new_v4();
    let activities = [Uuid::new_v4(), Uuid::new_v4()];
    let pupil = |i: usize, at: Uuid| {
        json!({
            "id": persons[i],
            "meta": meta(60),
            "givenName": "Maja",
            "familyName": "Ek",
            "eduPersonPrincipalNames": [format!("elev{i}@edu.kommun.se")],
            "civicNo": {"value": pnr("20120315", 100 + i as u32), "nationality": "SE"},
            "emails": [{"value": format!("elev{i}@elev.kommun.se"), "type": "Skola elev"}],
            "enrolments": [{"enroledAt": {"id": at, "displayName": "Skolan"}, "schoolType": "GR", "schoolYear": year}]
        })
    };
    let mut without_eppn = pupil(2, unit);
    without_eppn
        .as_object_mut()
        .unwrap()
        .remove("eduPersonPrincipalNames");
    let data = HashMap::from([
        (
            "organisations".to_string(),
            vec![
                json!({"id": unit, "meta": meta(60), "displayName": "Skolan", "schoolUnitCode": "12345678"}),
            ],
        ),
        (
            "persons".to_string(),
            vec![
                pupil(0, unit),
                pupil(1, unit),
                without_eppn,
                pupil(3, Uuid::new_v4()),
            ],
        ),
        (
            "groups".to_string(),
            vec![json!({
                "id": group, "meta": meta(60), "displayName": "7A", "groupType": "Klass",
                "schoolType": "GR", "organisation": {"id": unit},
                "groupMemberships": [{"person": {"id": persons[0]}}, {"person": {"id": persons[1]}}]
            })],
        ),
        ("duties".to_string(), Vec::new()),
        (
            "activities".to_string(),
            vec![
                json!({"id": activities[0], "meta": meta(60), "displayName": "Matematik 7A",
                       "activityType": "Undervisning", "groups": [{"id": group}],
                       "organisation": {"id": unit}, "parentActivity": {"id": test_activity}}),
                json!({"id": activities[1], "meta": meta(60), "displayName": "Svenska 7B",
                       "activityType": "Undervisning", "groups": [{"id": Uuid::new_v4()}],
                       "organisation": {"id": unit}, "parentActivity": {"id": test_activity}}),
            ],
        ),
    ]);
    *fx.data.lock().unwrap() = data;
    *fx.deleted.lock().unwrap() = json!({});
    Ids {
        unit,
        persons,
        group,
        activities,
    }
}

pub async fn start() -> (Sandbox, Arc<Fixture>) {
    let sandbox = Sandbox::start(SandboxConfig {
        students: 200,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    // The JWKS is public: fetched without a client certificate.
    let jwks: Value = plain_client(&sandbox)
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_url = format!("http://{}/ss12000", listener.local_addr().unwrap());
    let fx = Arc::new(Fixture {
        api_url,
        jwks,
        subscription_status: Mutex::new(201),
        ..Fixture::default()
    });
    let app = Router::new().nest(
        "/ss12000",
        Router::new()
            .route("/subscriptions", post(subscriptions))
            .route("/{resource}", get(list).post(feedback))
            .with_state(Arc::clone(&fx)),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    sandbox.ss12000_client().set_options(ClientOptions {
        page_limit: 2,
        retry_delay: Duration::from_millis(10),
        ..ClientOptions::default()
    });
    (sandbox, fx)
}

/// Trusts the sandbox CA; presents no certificate.
pub fn plain_client(sandbox: &Sandbox) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn mtls_client(sandbox: &Sandbox) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let identity = reqwest::Identity::from_pem(sandbox.pki().client_identity_pem().as_bytes());
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(identity.unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The access request skolsync's notifier sends for `location`.
pub fn client_access_request(sandbox: &Sandbox, location: &str) -> Value {
    json!({
        "access_token": [{
            "access": [{"type": "ss12000-client", "locations": [location]}],
            "flags": ["bearer"]
        }],
        "client": {"key": {"proof": "mtls", "cert#S256": sandbox.client_fingerprint()}}
    })
}

/// A webhook token the way skolsync gets one: `/transaction` over mTLS.
pub async fn webhook_token(sandbox: &Sandbox) -> String {
    let url = sandbox.endpoints().ss12000_client_url.clone();
    let response = mtls_client(sandbox)
        .post(format!("{}/transaction", sandbox.endpoints().auth_url))
        .json(&client_access_request(sandbox, &url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"]["value"].as_str().unwrap().to_string()
}

pub async fn registered(sandbox: &Sandbox, fx: &Fixture) -> RegistrationId {
    let client = sandbox.ss12000_client();
    let id = client.register(&fx.api_url, None).await.unwrap();
    client.wait_idle(id, WAIT).await.unwrap();
    id
}

pub async fn send_webhook(
    sandbox: &Sandbox,
    id: RegistrationId,
    token: Option<&str>,
    body: &Value,
) -> u16 {
    let url = format!("{}/webhooks/{id}", sandbox.endpoints().ss12000_client_url);
    let mut request = plain_client(sandbox).post(url).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().status().as_u16()
}
