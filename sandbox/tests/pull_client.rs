//! Skolverket's SS12000 client emulator (pull method) against a small
//! fixture SS 12000 API written here: the fixture serves a few DNP
//! entities over several pages, records every call and checks every
//! Bearer token against the sandbox's public JWKS on its own (ring, not
//! the sandbox's verifier).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

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
use skolsync_sandbox::auth::{ClientKey, RequestedAccess, SS12000_CLIENT_ACCESS_TYPE};
use skolsync_sandbox::pull_client::{ClientError, ClientOptions, JobTrigger, RegistrationId};
use skolsync_sandbox::{Sandbox, SandboxConfig};
use tokio::net::TcpListener;
use uuid::Uuid;

const SKOLVERKET: &str = "SE2021004185";
const WAIT: Duration = Duration::from_secs(20);

/// One request the fixture received.
#[derive(Debug, Clone)]
struct Seen {
    method: &'static str,
    path: String,
    query: HashMap<String, String>,
    /// `None`: the token verified; otherwise why not.
    token_problem: Option<String>,
    body: Option<Value>,
}

/// What the fixture serves and has seen.
#[derive(Default)]
struct Fixture {
    api_url: String,
    jwks: Value,
    /// Resource path (`persons`) → entities in order.
    data: Mutex<HashMap<String, Vec<Value>>>,
    /// `deletedEntities.data`.
    deleted: Mutex<Value>,
    seen: Mutex<Vec<Seen>>,
    /// Path → how many 503s to answer before serving.
    failures: Mutex<HashMap<String, u32>>,
    /// Paths answered with a body that is not JSON.
    garbage: Mutex<Vec<String>>,
    subscription_status: Mutex<u16>,
}

impl Fixture {
    fn record(&self, seen: Seen) {
        self.seen.lock().unwrap().push(seen);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn gets(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "GET")
            .collect()
    }

    fn posted(&self, path: &str) -> Vec<Value> {
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
fn token_problem(jwks: &Value, api_url: &str, headers: &HeaderMap) -> Option<String> {
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

fn modified(entity: &Value) -> DateTime<Utc> {
    entity["meta"]["modified"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap()
}

/// `GET /{resource}` and `GET /deletedEntities`, paged by `limit` with
/// tokens `offset|after|limit` that carry the query.
async fn list(
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

async fn subscriptions(
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

async fn feedback(
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
fn pnr(date: &str, serial: u32) -> String {
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
struct Ids {
    unit: Uuid,
    persons: [Uuid; 4],
    group: Uuid,
    activities: [Uuid; 2],
}

fn stamp(minutes_ago: i64) -> String {
    (Utc::now() - chrono::Duration::minutes(minutes_ago))
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn meta(minutes_ago: i64) -> Value {
    json!({"created": stamp(600), "modified": stamp(minutes_ago)})
}

/// A school unit of the sandbox's huvudman in the provtjänst offering GR
/// with a year in it, and a test activity.
fn register_values(sandbox: &Sandbox) -> (Uuid, u8, Uuid) {
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
fn fill(fx: &Fixture, sandbox: &Sandbox) -> Ids {
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

async fn start() -> (Sandbox, Arc<Fixture>) {
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
fn plain_client(sandbox: &Sandbox) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn mtls_client(sandbox: &Sandbox) -> reqwest::Client {
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
fn client_access_request(sandbox: &Sandbox, location: &str) -> Value {
    json!({
        "access_token": [{
            "access": [{"type": "ss12000-client", "locations": [location]}],
            "flags": ["bearer"]
        }],
        "client": {"key": {"proof": "mtls", "cert#S256": sandbox.client_fingerprint()}}
    })
}

/// A webhook token the way skolsync gets one: `/transaction` over mTLS.
async fn webhook_token(sandbox: &Sandbox) -> String {
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

async fn registered(sandbox: &Sandbox, fx: &Fixture) -> RegistrationId {
    let client = sandbox.ss12000_client();
    let id = client.register(&fx.api_url, None).await.unwrap();
    client.wait_idle(id, WAIT).await.unwrap();
    id
}

async fn send_webhook(
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

#[tokio::test]
async fn registration_subscribes_then_fetches_all_types_in_order_page_by_page_and_judges_them() {
    let (sandbox, fx) = start().await;
    let ids = fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;

    // The subscription: a target of this client with the urlId, all five types.
    let subscribe = fx.posted("/subscriptions");
    assert_eq!(subscribe.len(), 1);
    let target = format!("{}/webhooks/{id}", sandbox.endpoints().ss12000_client_url);
    assert_eq!(subscribe[0]["target"], json!(target));
    assert!(!subscribe[0]["name"].as_str().unwrap().is_empty());
    assert_eq!(
        subscribe[0]["resourceTypes"],
        json!([{"resource": "Organisation"}, {"resource": "Person"}, {"resource": "Group"},
               {"resource": "Duty"}, {"resource": "Activity"}])
    );
    assert_eq!(
        client.subscription(id).unwrap().expires,
        "2027-03-01T00:00:00Z"
    );

    // Every call carried a token that verifies for this API.
    let seen = fx.seen();
    assert!(seen.iter().all(|s| s.token_problem.is_none()), "{seen:#?}");

    // Order and paging: limit on first pages, the token alone after.
    let gets: Vec<(String, Option<String>, Option<String>)> = fx
        .gets()
        .into_iter()
        .map(|s| {
            (
                s.path,
                s.query.get("limit").cloned(),
                s.query.get("pageToken").cloned(),
            )
        })
        .collect();
    let two = Some("2".to_string());
    assert_eq!(
        gets,
        vec![
            ("/organisations".into(), two.clone(), None),
            ("/persons".into(), two.clone(), None),
            ("/persons".into(), None, Some("2||2".into())),
            ("/groups".into(), two.clone(), None),
            ("/duties".into(), two.clone(), None),
            ("/activities".into(), two.clone(), None),
        ]
    );
    // No deletions on a first load.
    assert!(fx.gets().iter().all(|s| s.path != "/deletedEntities"));

    // Holdings: the valid ones, as received.
    let held = client.holdings(id).unwrap();
    assert_eq!(
        held.organisations.keys().collect::<Vec<_>>(),
        vec![&ids.unit]
    );
    let mut persons: Vec<Uuid> = held.persons.keys().copied().collect();
    persons.sort();
    let mut want = vec![ids.persons[0], ids.persons[1]];
    want.sort();
    assert_eq!(persons, want);
    assert_eq!(
        held.persons[&ids.persons[0]]["enrolments"][0]["enroledAt"]["displayName"],
        "Skolan"
    );
    assert_eq!(held.groups.keys().collect::<Vec<_>>(), vec![&ids.group]);
    assert_eq!(
        held.activities.keys().collect::<Vec<_>>(),
        vec![&ids.activities[0]]
    );

    // LogEntries for the refused ones, with the rule's id.
    let logs = fx.posted("/log");
    let errors: Vec<(String, String, String)> = logs
        .iter()
        .filter(|l| l["severityLevel"] == "Error")
        .map(|l| {
            (
                l["resourceType"].as_str().unwrap().to_string(),
                l["resourceId"].as_str().unwrap().to_string(),
                l["messageType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("Person".into(), ids.persons[2].to_string(), "9000".into()),
            ("Person".into(), ids.persons[3].to_string(), "9120".into()),
            (
                "Activity".into(),
                ids.activities[1].to_string(),
                "9152".into()
            ),
        ]
    );
    for l in &logs {
        assert!(l["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            l["timeOfOccurance"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .is_ok()
        );
        assert!(l["resourceUrl"].as_str().unwrap().starts_with(&fx.api_url));
    }
    // Personnummer never in a LogEntry.
    let text = serde_json::to_string(&logs).unwrap();
    assert!(!text.contains(&pnr("20120315", 102)));
    assert_eq!(client.log_entries_posted(id).unwrap(), logs);

    // A StatisticsEntry per type, only updatedCount used.
    let stats: Vec<(String, u64, u64)> = fx
        .posted("/statistics")
        .iter()
        .map(|s| {
            assert_eq!(s["newCount"], 0);
            (
                s["resourceType"].as_str().unwrap().to_string(),
                s["updatedCount"].as_u64().unwrap(),
                s["deletedCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stats,
        vec![
            ("Organisation".into(), 1, 0),
            ("Person".into(), 2, 0),
            ("Group".into(), 1, 0),
            ("Duty".into(), 0, 0),
            ("Activity".into(), 1, 0),
        ]
    );
    let jobs = client.jobs(id).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].trigger, JobTrigger::Registration);
    assert_eq!(jobs[0].outcome, Ok(()));
}

#[tokio::test]
async fn webhooks_without_a_valid_token_are_refused_and_fetch_nothing() {
    let (sandbox, fx) = start().await;
    fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;
    let before = fx.seen().len();
    let body = json!({"modifiedEntites": ["Person"]});
    let issuer = sandbox.token_issuer();

    assert_eq!(send_webhook(&sandbox, id, None, &body).await, 401);
    assert_eq!(
        send_webhook(&sandbox, id, Some("not.a.jwt"), &body).await,
        401
    );
    // Valid signature, but for another client location.
    let elsewhere = issuer
        .issue(
            &ClientKey::EntityId("https://kommun.se".into()),
            vec![RequestedAccess {
                access_type: SS12000_CLIENT_ACCESS_TYPE.into(),
                locations: vec!["https://api.skolverket.se/provtjanst/ss12000/klient/v1".into()],
            }],
        )
        .unwrap();
    assert_eq!(
        send_webhook(&sandbox, id, Some(&elsewhere), &body).await,
        403
    );
    // Expired.
    let good = webhook_token(&sandbox).await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut old: skolsync_sandbox::auth::TokenClaims = serde_json::from_value(claims).unwrap();
    old.iat -= 7200;
    old.nbf -= 7200;
    old.exp = old.iat + 60;
    let expired = issuer.sign(&old).unwrap();
    assert_eq!(send_webhook(&sandbox, id, Some(&expired), &body).await, 401);
    // Signed by another authorisation server.
    let other = Sandbox::start(SandboxConfig {
        students: 50,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let foreign = webhook_token(&other).await;
    assert_eq!(send_webhook(&sandbox, id, Some(&foreign), &body).await, 401);

    client.wait_idle(id, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fx.seen().len(),
        before,
        "a refused webhook fetched something"
    );
    let receipts = client.webhooks(id).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 403, 401, 401]
    );
    assert!(receipts.iter().all(|r| r.reason.is_some()));
    assert!(
        receipts[3].reason.as_deref().unwrap().contains("expired"),
        "{receipts:?}"
    );
    assert_eq!(client.jobs(id).unwrap().len(), 1);
}

#[tokio::test]
async fn a_valid_webhook_refetches_from_five_minutes_before_then_removes_deletions() {
    let (sandbox, fx) = start().await;
    let ids = fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;
    let stats_before = fx.posted("/statistics").len();
    let gets_before = fx.gets().len();

    // Person 1 renamed just now; person 0 removed at the source.
    {
        let mut data = fx.data.lock().unwrap();
        let persons = data.get_mut("persons").unwrap();
        persons[1]["familyName"] = json!("Lind");
        persons[1]["meta"] = meta(0);
        persons.remove(0);
    }
    *fx.deleted.lock().unwrap() = json!({"persons": [ids.persons[0]], "activitites": []});

    let token = webhook_token(&sandbox).await;
    let body = json!({"modifiedEntites": ["Person", "Syllabus"], "deletedEntities": true});
    assert_eq!(send_webhook(&sandbox, id, Some(&token), &body).await, 200);
    client.wait_idle(id, WAIT).await.unwrap();

    let receipt = client.webhooks(id).unwrap().pop().unwrap();
    assert_eq!((receipt.status, receipt.reason), (200, None));
    let after = (receipt.received_at - chrono::Duration::minutes(5))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let gets: Vec<Seen> = fx.gets().into_iter().skip(gets_before).collect();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0].path, "/persons");
    assert_eq!(gets[0].query.get("meta.modified.after"), Some(&after));
    assert_eq!(gets[1].path, "/deletedEntities");
    assert_eq!(gets[1].query.get("after"), Some(&after));
    assert!(gets.iter().all(|s| s.token_problem.is_none()));

    let held = client.holdings(id).unwrap();
    assert!(!held.persons.contains_key(&ids.persons[0]));
    assert_eq!(held.persons[&ids.persons[1]]["familyName"], "Lind");

    let stats: Vec<Value> = fx
        .posted("/statistics")
        .into_iter()
        .skip(stats_before)
        .collect();
    assert_eq!(stats.len(), 2, "{stats:#?}");
    assert_eq!(
        (
            stats[0]["resourceType"].clone(),
            stats[0]["updatedCount"].clone()
        ),
        (json!("Person"), json!(1))
    );
    assert_eq!(
        (
            stats[1]["resourceType"].clone(),
            stats[1]["deletedCount"].clone()
        ),
        (json!("Person"), json!(1))
    );
    let jobs = client.jobs(id).unwrap();
    assert_eq!(
        jobs.last().unwrap().trigger,
        JobTrigger::Webhook(receipt.received_at)
    );
    assert_eq!(jobs.last().unwrap().outcome, Ok(()));
}

#[tokio::test]
async fn a_get_failing_twice_is_retried_and_a_third_failure_or_garbage_fails_the_job() {
    let (sandbox, fx) = start().await;
    fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();

    fx.failures
        .lock()
        .unwrap()
        .insert("organisations".into(), 2);
    let id = registered(&sandbox, &fx).await;
    let statuses: Vec<Option<u16>> = client
        .calls(id)
        .unwrap()
        .into_iter()
        .filter(|c| c.path_and_query.starts_with("/ss12000/organisations"))
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);
    assert_eq!(client.jobs(id).unwrap()[0].outcome, Ok(()));

    fx.failures
        .lock()
        .unwrap()
        .insert("organisations".into(), 3);
    let failed = registered(&sandbox, &fx).await;
    let outcome = client.jobs(failed).unwrap()[0].outcome.clone();
    let reason = outcome.unwrap_err();
    assert!(
        reason.contains("/organisations") && reason.contains("503"),
        "{reason}"
    );
    let paths: Vec<String> = client
        .calls(failed)
        .unwrap()
        .into_iter()
        .filter(|c| c.method == "GET")
        .map(|c| c.path_and_query)
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}: nothing after the failed type");

    fx.garbage.lock().unwrap().push("persons".into());
    let garbled = registered(&sandbox, &fx).await;
    let reason = client.jobs(garbled).unwrap()[0]
        .outcome
        .clone()
        .unwrap_err();
    assert!(
        reason.contains("/persons") && reason.contains("not JSON"),
        "{reason}"
    );
    assert!(client.holdings(garbled).unwrap().persons.is_empty());
}

#[tokio::test]
async fn a_registration_the_api_does_not_answer_201_fails_clearly() {
    let (sandbox, fx) = start().await;
    *fx.subscription_status.lock().unwrap() = 500;
    let err = sandbox
        .ss12000_client()
        .register(&fx.api_url, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { status: 500, .. }),
        "{err}"
    );
    assert!(fx.gets().is_empty());
}

#[tokio::test]
async fn transaction_grants_ss12000_client_to_the_sandbox_certificate_and_jwks_is_public() {
    let (sandbox, _fx) = start().await;
    let auth = &sandbox.endpoints().auth_url;
    let client_url = sandbox.endpoints().ss12000_client_url.clone();
    assert!(client_url.starts_with("https://127.0.0.1:"));
    assert!(client_url.ends_with("/provtjanst/ss12000/klient/v1"));

    let jwks: Value = plain_client(&sandbox)
        .get(format!("{auth}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], json!(sandbox.token_issuer().kid()));

    // Without a certificate: no token, an RFC 9635 error.
    let response = plain_client(&sandbox)
        .post(format!("{auth}/transaction"))
        .json(&client_access_request(&sandbox, &client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_client");

    // With it: granted for the client's base URL.
    let token = webhook_token(&sandbox).await;
    let claims = sandbox
        .token_issuer()
        .verify_access(&token, SS12000_CLIENT_ACCESS_TYPE, |l| l == client_url)
        .unwrap();
    assert_eq!(
        claims.requested_access[0].locations,
        vec![client_url.clone()]
    );

    // Another location is not granted.
    let response = mtls_client(&sandbox)
        .post(format!("{auth}/transaction"))
        .json(&client_access_request(
            &sandbox,
            "https://elsewhere.example/klient",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
