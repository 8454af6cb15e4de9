//! The Provisioning API emulator, proven over HTTP: every profile rule with
//! its LogEntry id, the asynchronous jobs, paging, lookups, auth, the rate
//! and body limits with their headers, injected faults, the request log, and
//! every response body against the spec's schemas (written out below, not
//! read from the spec files).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use skolsync_model::ObjectType;
use skolsync_model::open_data::{SchoolUnit, Status, TestActivity};
use skolsync_model::{SchoolUnitCode, TestActivityName};
use skolsync_sandbox::provisioning::{
    ClientIdentity, ProvisioningState, RateClass, Store, TokenCheck, router,
};
use skolsync_sandbox::{Catalogue, FaultSwitch, Faults, Limits};
use uuid::Uuid;

// ---- fixtures ----------------------------------------------------------------

const TOKEN: &str = "good-token";
const OTHER_TOKEN: &str = "other-token";
const UNIT_A: &str = "31279295";
const UNIT_B: &str = "46165416";
const UNIT_GY: &str = "46987524";
const UNKNOWN_UNIT: &str = "99999999";
const SETTLE: Duration = Duration::from_millis(20);

fn unit(code: &str) -> Uuid {
    SchoolUnitCode::new(code).skolverket_id()
}

fn test_activity(name: &str) -> Uuid {
    TestActivityName::new(name).skolverket_id()
}

fn catalogue() -> Catalogue {
    let school_unit = |code: &str, name: &str| SchoolUnit {
        id: unit(code),
        display_name: name.to_string(),
        school_unit_code: code.to_string(),
        school_types: Vec::new(),
        municipality_code: Some("0580".to_string()),
        municipality_name: Some("Linköping".to_string()),
        status: Some(Status::Active),
        dnp_status: Some(true),
        parent_organisation: None,
    };
    let activity = |name: &str, school_type: &str, year: Option<u8>| TestActivity {
        id: test_activity(name),
        display_name: name.to_string(),
        activity_type: "Provaktivitet".to_string(),
        school_type: school_type.to_string(),
        school_year: year,
        comment: None,
    };
    Catalogue {
        organisations: Vec::new(),
        school_units: vec![
            school_unit(UNIT_A, "Ekskolan"),
            school_unit(UNIT_B, "Björkskolan"),
            school_unit(UNIT_GY, "Lindgymnasiet"),
        ],
        programmes: vec![skolsync_model::open_data::Programme {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, b"NA"),
            display_name: "Naturvetenskapsprogrammet".to_string(),
            education_code: "NA".to_string(),
            school_type: Some("GY".to_string()),
            valid_from: None,
            status: Some(Status::Active),
        }],
        test_activities: vec![
            activity("GRGRMAT01_6", "GR", Some(6)),
            activity("GRGRSVE01_9", "GR", Some(9)),
            activity("MATMAT01a", "GY", None),
        ],
    }
}

/// A valid personnummer for `date` (YYYYMMDD; day + 60 for a
/// samordningsnummer) and a three-digit serial.
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

fn student(id: Uuid, civic: &str, eppn: &str, unit_code: &str, year: u8) -> Value {
    json!({
        "id": id,
        "givenName": "Maja",
        "familyName": "Ek",
        "eduPersonPrincipalNames": [eppn],
        "civicNo": {"value": civic, "nationality": "SE"},
        "emails": [{"value": "maja@elev.skola.se", "type": "Skola elev"}],
        "enrolments": [{"enroledAt": {"id": unit(unit_code)}, "schoolYear": year, "schoolType": "GR"}]
    })
}

fn staff(id: Uuid, civic: &str, eppn: &str, email: Option<&str>) -> Value {
    let mut person = json!({
        "id": id,
        "givenName": "Sven",
        "familyName": "Berg",
        "eduPersonPrincipalNames": [eppn],
        "civicNo": {"value": civic}
    });
    if let Some(email) = email {
        person["emails"] = json!([{"value": email, "type": "Skola personal"}]);
    }
    person
}

fn duty(id: Uuid, person: Uuid, unit_code: &str) -> Value {
    json!({"id": id, "person": {"id": person}, "dutyAt": {"id": unit(unit_code)}, "dutyRole": "Lärare"})
}

fn group(id: Uuid, group_type: &str, unit_code: &str, members: &[Uuid]) -> Value {
    let memberships: Vec<Value> = members
        .iter()
        .map(|m| json!({"person": {"id": m}}))
        .collect();
    json!({
        "id": id, "displayName": "6A", "groupType": group_type, "schoolType": "GR",
        "organisation": {"id": unit(unit_code)}, "groupMemberships": memberships
    })
}

fn activity(id: Uuid, groups: &[Uuid], duties: &[Uuid], parent: Uuid) -> Value {
    let groups: Vec<Value> = groups.iter().map(|g| json!({"id": g})).collect();
    let teachers: Vec<Value> = duties.iter().map(|d| json!({"duty": {"id": d}})).collect();
    json!({
        "id": id, "displayName": "Matematik 6A", "activityType": "Undervisning",
        "groups": groups, "teachers": teachers,
        "organisation": {"id": unit(UNIT_A)}, "parentActivity": {"id": parent}
    })
}

fn data(items: Vec<Value>) -> Value {
    json!({ "data": items })
}

// ---- the emulator under test ---------------------------------------------------

struct Api {
    base: String,
    http: reqwest::Client,
    store: Store,
    faults: Arc<FaultSwitch>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("header {name} missing"))
            .to_str()
            .unwrap()
    }
}

/// Limits high enough that only the rate-limit tests meet them.
fn roomy() -> Limits {
    Limits {
        bulk_per_second: 100_000,
        read_per_second: 100_000,
        ..Limits::default()
    }
}

impl Api {
    async fn start(limits: Limits, faults: Faults, settle: Duration) -> Api {
        let switch = Arc::new(FaultSwitch::new(faults, 7));
        let check: TokenCheck = Arc::new(|token: &str| match token {
            TOKEN => Ok(ClientIdentity::client("client-a")),
            OTHER_TOKEN => Ok(ClientIdentity::client("client-b")),
            _ => Err("unknown token".to_string()),
        });
        let state = ProvisioningState::new(
            Arc::new(catalogue()),
            Arc::clone(&switch),
            limits,
            settle,
            check,
        );
        let store = state.store();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router(state)).await.unwrap();
        });
        Api {
            base,
            http: reqwest::Client::new(),
            store,
            faults: switch,
        }
    }

    async fn quick() -> Api {
        Api::start(roomy(), Faults::default(), SETTLE).await
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(Vec<u8>, &str)>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some((bytes, content_type)) = body {
            request = request.header("content-type", content_type).body(bytes);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(|b| (serde_json::to_vec(b).unwrap(), "application/json"));
        self.raw(method, path, Some(TOKEN), body).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Submits a bulk call, checks the 202, and returns the job id.
    async fn submit(&self, method: Method, path: &str, body: &Value) -> (String, Uuid) {
        let reply = self.call(method, path, Some(body)).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{path}: {}", reply.body);
        assert_accepted(&reply.body);
        let job_id: Uuid = reply.body["jobId"].as_str().unwrap().parse().unwrap();
        let resource = path
            .trim_start_matches('/')
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let location = reply.header("location");
        assert_eq!(
            location,
            format!("{}/{resource}/bulk/jobs/{job_id}", self.base),
            "Location points at the job"
        );
        (resource, job_id)
    }

    /// Waits until the job is completed (via isCompleted) and returns its status.
    async fn settle(&self, resource: &str, job_id: Uuid) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let done = self
                .get(&format!("/{resource}/bulk/jobs/{job_id}/isCompleted"))
                .await;
            assert_eq!(done.status, StatusCode::OK);
            assert!(done.body.is_boolean(), "isCompleted is a JSON boolean");
            if done.body == json!(true) {
                break;
            }
            assert!(Instant::now() < deadline, "job {job_id} never completed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let status = self.get(&format!("/{resource}/bulk/jobs/{job_id}")).await;
        assert_eq!(status.status, StatusCode::OK);
        assert_async_response(&status.body);
        assert_eq!(status.body["jobId"], json!(job_id.to_string()));
        status.body
    }

    /// Submits and waits for the outcome.
    async fn run(&self, method: Method, path: &str, body: &Value) -> Value {
        let (resource, job_id) = self.submit(method, path, body).await;
        self.settle(&resource, job_id).await
    }
}

fn outcome(job: &Value, id: Uuid) -> &Value {
    job["responses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == json!(id.to_string()))
        .unwrap_or_else(|| panic!("no response for {id} in {job}"))
}

fn status_of(job: &Value, id: Uuid) -> &str {
    outcome(job, id)["response"]["status"].as_str().unwrap()
}

fn ids_in(entries: &Value) -> Vec<String> {
    entries
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn error_ids(job: &Value, id: Uuid) -> Vec<String> {
    ids_in(&outcome(job, id)["response"]["errors"])
}

fn warning_ids(job: &Value, id: Uuid) -> Vec<String> {
    ids_in(&outcome(job, id)["response"]["warnings"])
}

fn assert_error(job: &Value, id: Uuid, log_id: &str) {
    assert_eq!(status_of(job, id), "Error", "{}", outcome(job, id));
    let ids = error_ids(job, id);
    assert!(
        ids.iter().any(|i| i == log_id),
        "expected {log_id} in {ids:?}"
    );
}

/// A one-entry LogEntry array answer with this status and id.
fn assert_log_answer(reply: &Reply, status: u16, id: &str) -> Value {
    assert_eq!(reply.status.as_u16(), status, "{}", reply.body);
    assert_log_entries(&reply.body);
    let entry = reply.body[0].clone();
    assert_eq!(entry["id"], json!(id), "{entry}");
    assert_eq!(entry["statusCode"], json!(status));
    assert_eq!(entry["severityLevel"], json!("Error"));
    entry
}

fn assert_rate_headers(reply: &Reply) {
    for name in ["x-ratelimit-limit", "x-ratelimit-remaining"] {
        reply.header(name).parse::<u32>().unwrap();
    }
    let reset: f64 = reply.header("x-ratelimit-reset").parse().unwrap();
    assert!((0.0..=1.0).contains(&reset), "reset {reset}");
}

// ---- the spec's schemas, written out ------------------------------------------

fn assert_keys(value: &Value, required: &[&str], allowed: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    for key in required {
        assert!(
            object.contains_key(*key),
            "required `{key}` missing in {value}"
        );
    }
    for key in object.keys() {
        assert!(
            required.contains(&key.as_str()) || allowed.contains(&key.as_str()),
            "`{key}` is not in the schema: {value}"
        );
    }
}

fn assert_uuid(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("uuid is not a string: {value}"));
    assert_eq!(text.len(), 36, "{text}");
    Uuid::parse_str(text).unwrap();
}

fn assert_datetime(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("date-time not a string: {value}"));
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
}

fn assert_enum(value: &Value, allowed: &[&str]) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("enum not a string: {value}"));
    assert!(allowed.contains(&text), "{text} not in {allowed:?}");
}

fn assert_reference(value: &Value) {
    assert_keys(value, &["id"], &[]);
    assert_uuid(&value["id"]);
}

const OBJECT_TYPES: [&str; 4] = ["Person", "Duty", "Group", "Activity"];
const SCHOOL_TYPES: [&str; 5] = ["GR", "SP", "SAM", "GY", "VUXGY"];

/// `LogEntry`: required id, statusCode, message, severityLevel, timeOfOccurance.
fn assert_log_entry(entry: &Value) {
    assert_keys(
        entry,
        &[
            "id",
            "statusCode",
            "message",
            "severityLevel",
            "timeOfOccurance",
        ],
        &[
            "messageType",
            "parameterName",
            "parameterValue",
            "resourceType",
            "resourceId",
            "attributeName",
            "attributeValue",
        ],
    );
    assert!(entry["id"].is_string());
    assert!(entry["statusCode"].is_u64());
    assert!(entry["message"].is_string());
    assert_enum(&entry["severityLevel"], &["Warning", "Error"]);
    assert_datetime(&entry["timeOfOccurance"]);
    for key in [
        "messageType",
        "parameterName",
        "parameterValue",
        "resourceId",
        "attributeName",
        "attributeValue",
    ] {
        if let Some(v) = entry.get(key) {
            assert!(v.is_string(), "{key} is a string: {entry}");
        }
    }
    if let Some(kind) = entry.get("resourceType") {
        assert_enum(kind, &OBJECT_TYPES);
    }
}

/// Error answers: a non-empty array of LogEntry.
fn assert_log_entries(body: &Value) {
    let entries = body
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {body}"));
    assert!(!entries.is_empty());
    entries.iter().for_each(assert_log_entry);
}

fn assert_meta(meta: &Value) {
    assert_keys(meta, &[], &["created", "modified"]);
    for key in ["created", "modified"] {
        if let Some(v) = meta.get(key) {
            assert_datetime(v);
        }
    }
}

/// `202_accepted`: jobId (uuid) and message.
fn assert_accepted(body: &Value) {
    assert_keys(body, &["jobId"], &["message"]);
    assert_uuid(&body["jobId"]);
    assert!(body["message"].is_string());
}

/// `AsynchronousResponse`: jobId + responses, each with id, response (status
/// in the five values), meta.
fn assert_async_response(body: &Value) {
    assert_keys(body, &["jobId", "responses"], &[]);
    assert_uuid(&body["jobId"]);
    for item in body["responses"].as_array().unwrap() {
        assert_keys(item, &["id", "response", "meta"], &[]);
        assert_uuid(&item["id"]);
        assert_meta(&item["meta"]);
        let response = &item["response"];
        assert_keys(
            response,
            &["status"],
            &["statusCode", "location", "errors", "warnings"],
        );
        assert_enum(
            &response["status"],
            &["Pending", "Success", "Error", "Warning", "TemporaryError"],
        );
        if let Some(code) = response.get("statusCode") {
            assert!(code.is_u64());
        }
        if let Some(location) = response.get("location") {
            assert!(location.as_str().unwrap().starts_with("http"));
        }
        for list in ["errors", "warnings"] {
            if let Some(entries) = response.get(list) {
                entries
                    .as_array()
                    .unwrap()
                    .iter()
                    .for_each(assert_log_entry);
            }
        }
    }
}

const PERSON_LIST_KEYS: [&str; 8] = [
    "id",
    "civicNo",
    "eduPersonPrincipalNames",
    "givenName",
    "middleName",
    "familyName",
    "provisioningStatus",
    "meta",
];

/// `Person`; `listed` restricts to the attributes `GET /persons` returns.
fn assert_person(person: &Value, listed: bool) {
    let required = [
        "id",
        "civicNo",
        "givenName",
        "familyName",
        "eduPersonPrincipalNames",
    ];
    let full = [
        "meta",
        "middleName",
        "externalIdentifiers",
        "securityMarking",
        "emails",
        "enrolments",
        "provisioningStatus",
    ];
    if listed {
        assert_keys(person, &required, &PERSON_LIST_KEYS);
    } else {
        assert_keys(person, &required, &full);
    }
    assert_uuid(&person["id"]);
    assert!(person["givenName"].is_string() && person["familyName"].is_string());
    let eppns = person["eduPersonPrincipalNames"].as_array().unwrap();
    assert!(eppns.len() <= 1 && eppns.iter().all(Value::is_string));
    assert_keys(&person["civicNo"], &["value"], &["nationality"]);
    assert!(person["civicNo"]["value"].is_string());
    assert_meta(&person["meta"]);
    assert!(person["provisioningStatus"].is_boolean());
    if let Some(marking) = person.get("securityMarking") {
        assert_enum(
            marking,
            &["Ingen", "Sekretessmarkering", "Skyddad folkbokföring"],
        );
    }
    for email in person
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_keys(email, &["value"], &["type"]);
        if let Some(t) = email.get("type") {
            assert_enum(
                t,
                &["Privat", "Skola elev", "Skola personal", "Arbete övrigt"],
            );
        }
    }
    for enrolment in person
        .get("enrolments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_keys(
            enrolment,
            &["enroledAt", "schoolType"],
            &["schoolYear", "cancelled", "educationCode"],
        );
        assert_reference(&enrolment["enroledAt"]);
        assert_enum(&enrolment["schoolType"], &SCHOOL_TYPES);
    }
}

const DUTY_ROLES: [&str; 17] = [
    "Rektor",
    "Lärare",
    "Förskollärare",
    "Barnskötare",
    "Bibliotekarie",
    "Lärarassistent",
    "Fritidspedagog",
    "Annan personal",
    "Studie- och yrkesvägledare",
    "Förstelärare",
    "Kurator",
    "Skolsköterska",
    "Skolläkare",
    "Skolpsykolog",
    "Speciallärare/specialpedagog",
    "Skoladministratör",
    "Övrig arbetsledning",
];

fn assert_duty(duty: &Value) {
    assert_keys(
        duty,
        &["id", "person", "dutyAt", "dutyRole"],
        &["meta", "provisioningStatus"],
    );
    assert_uuid(&duty["id"]);
    assert_reference(&duty["person"]);
    assert_reference(&duty["dutyAt"]);
    assert_enum(&duty["dutyRole"], &DUTY_ROLES);
    assert_meta(&duty["meta"]);
    assert!(duty["provisioningStatus"].is_boolean());
}

fn assert_group(group: &Value) {
    assert_keys(
        group,
        &[
            "id",
            "displayName",
            "groupType",
            "schoolType",
            "organisation",
        ],
        &["meta", "provisioningStatus", "groupMemberships"],
    );
    assert_uuid(&group["id"]);
    assert!(group["displayName"].is_string());
    assert_enum(
        &group["groupType"],
        &[
            "Undervisning",
            "Klass",
            "Mentor",
            "Provgrupp",
            "Schema",
            "Avdelning",
            "Personalgrupp",
            "Övrigt",
        ],
    );
    assert_enum(&group["schoolType"], &SCHOOL_TYPES);
    assert_reference(&group["organisation"]);
    for m in group
        .get("groupMemberships")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_keys(m, &["person"], &[]);
        assert_reference(&m["person"]);
    }
    assert_meta(&group["meta"]);
    assert!(group["provisioningStatus"].is_boolean());
}

fn assert_activity(activity: &Value) {
    assert_keys(
        activity,
        &[
            "id",
            "displayName",
            "activityType",
            "groups",
            "organisation",
            "parentActivity",
        ],
        &["meta", "teachers", "provisioningStatus"],
    );
    assert_uuid(&activity["id"]);
    assert_enum(
        &activity["activityType"],
        &[
            "Undervisning",
            "Elevaktivitet",
            "Provaktivitet",
            "Läraraktivitet",
            "Övrigt",
        ],
    );
    let groups = activity["groups"].as_array().unwrap();
    assert!(!groups.is_empty(), "groups has minItems 1");
    groups.iter().for_each(assert_reference);
    for t in activity
        .get("teachers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_keys(t, &[], &["duty"]);
        assert_reference(&t["duty"]);
    }
    assert_reference(&activity["organisation"]);
    assert_reference(&activity["parentActivity"]);
    assert_meta(&activity["meta"]);
    assert!(activity["provisioningStatus"].is_boolean());
}

/// A `GET /x` page: data (required) and pageToken (string or null).
fn assert_page(body: &Value, item: fn(&Value)) {
    assert_keys(body, &["data"], &["pageToken"]);
    body["data"].as_array().unwrap().iter().for_each(item);
    let token = &body["pageToken"];
    assert!(token.is_null() || token.is_string(), "{token}");
}

// ---- auth and fallbacks --------------------------------------------------------

#[tokio::test]
async fn alive_is_open_and_every_other_path_needs_a_valid_bearer_token() {
    let api = Api::quick().await;
    let alive = api.raw(Method::GET, "/alive", None, None).await;
    assert_eq!(alive.status, StatusCode::OK);
    assert_rate_headers(&alive);

    let cases: [(&str, Option<&str>); 3] = [
        ("/persons", None),
        ("/persons", Some("forged-token")),
        (
            "/duties/bulk/jobs/3fa85f64-5717-4562-b3fc-2c963f66afa5",
            Some(""),
        ),
    ];
    for (path, token) in cases {
        let reply = api.raw(Method::GET, path, token, None).await;
        let entry = assert_log_answer(&reply, 403, "5002");
        assert_eq!(entry["messageType"], json!("Behörighet saknas"));
        assert_eq!(entry["message"], json!("Ogiltigt JWT bearer token."));
        assert_rate_headers(&reply);
    }
    // A scheme other than Bearer is refused too.
    let response = api
        .http
        .get(format!("{}/persons", api.base))
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let ok = api.get("/persons").await;
    assert_eq!(ok.status, StatusCode::OK);
    let refused_bulk = api
        .raw(
            Method::POST,
            "/persons/bulk",
            None,
            Some((b"{\"data\":[]}".to_vec(), "application/json")),
        )
        .await;
    assert_eq!(refused_bulk.status, StatusCode::FORBIDDEN);
    assert_eq!(api.store.pending_jobs(), 0, "no job without a token");
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_with_log_entries() {
    let api = Api::quick().await;
    let reply = api.get("/pupils").await;
    assert_log_answer(&reply, 404, "9003");
    assert_rate_headers(&reply);
    let reply = api.call(Method::DELETE, "/persons/bulk", None).await;
    assert_log_answer(&reply, 405, "9004");
}

// ---- jobs ----------------------------------------------------------------------

#[tokio::test]
async fn bulk_create_answers_202_then_pending_then_settles_with_location_and_meta() {
    let api = Api::start(roomy(), Faults::default(), Duration::from_millis(400)).await;
    let id = Uuid::new_v4();
    let civic = pnr("20090127", 238);
    let body = data(vec![student(id, &civic, "u1@edu.ekskolan.se", UNIT_A, 6)]);
    let (resource, job_id) = api.submit(Method::POST, "/persons/bulk", &body).await;
    assert_eq!(resource, "persons");

    let pending = api.get(&format!("/persons/bulk/jobs/{job_id}")).await;
    assert_eq!(pending.status, StatusCode::OK);
    assert_async_response(&pending.body);
    assert_eq!(status_of(&pending.body, id), "Pending");
    assert_rate_headers(&pending);
    let done = api
        .get(&format!("/persons/bulk/jobs/{job_id}/isCompleted"))
        .await;
    assert_eq!(done.body, json!(false));
    assert!(
        api.store.persons().is_empty(),
        "nothing stored before the job settles"
    );
    assert_eq!(
        api.get(&format!("/persons/{id}")).await.status,
        StatusCode::NOT_FOUND
    );

    let job = api.settle("persons", job_id).await;
    let response = &outcome(&job, id)["response"];
    assert_eq!(response["status"], json!("Success"));
    assert_eq!(response["statusCode"], json!(201));
    assert_eq!(
        response["location"],
        json!(format!("{}/persons/{id}", api.base))
    );
    assert_eq!(api.store.created(ObjectType::Person), vec![id]);

    let stored = api.get(&format!("/persons/{id}")).await;
    assert_eq!(stored.status, StatusCode::OK);
    assert_person(&stored.body, false);
    assert_eq!(stored.body["civicNo"]["value"], json!(civic));
    assert_eq!(stored.body["provisioningStatus"], json!(true), "enrolled");
    assert_eq!(stored.body["enrolments"][0]["schoolYear"], json!(6));
}

#[tokio::test]
async fn update_if_exists_decides_between_error_and_upsert_and_put_needs_an_existing_id() {
    let api = Api::quick().await;
    let id = Uuid::new_v4();
    let civic = pnr("20100305", 112);
    let original = student(id, &civic, "u2@edu.ekskolan.se", UNIT_A, 6);
    api.run(Method::POST, "/persons/bulk", &data(vec![original.clone()]))
        .await;

    // Again without updateIfExists: the existing id is an Error.
    let mut renamed = original.clone();
    renamed["givenName"] = json!("Majken");
    let job = api
        .run(Method::POST, "/persons/bulk", &data(vec![renamed.clone()]))
        .await;
    assert_error(&job, id, "9101");
    assert_eq!(outcome(&job, id)["response"]["statusCode"], json!(409));
    assert_eq!(api.store.person(id).unwrap().given_name, "Maja");

    let job = api
        .run(
            Method::POST,
            "/persons/bulk?updateIfExists=false",
            &data(vec![renamed.clone()]),
        )
        .await;
    assert_error(&job, id, "9101");

    // With updateIfExists=true it is updated: 200, no location.
    let job = api
        .run(
            Method::POST,
            "/persons/bulk?updateIfExists=true",
            &data(vec![renamed.clone()]),
        )
        .await;
    let response = &outcome(&job, id)["response"];
    assert_eq!(response["status"], json!("Success"));
    assert_eq!(response["statusCode"], json!(200));
    assert!(response.get("location").is_none());
    assert_eq!(api.store.person(id).unwrap().given_name, "Majken");
    assert_eq!(api.store.updated(ObjectType::Person), vec![id]);

    // updateIfExists=true also creates.
    let new_id = Uuid::new_v4();
    let fresh = student(
        new_id,
        &pnr("20100305", 128),
        "u3@edu.ekskolan.se",
        UNIT_A,
        6,
    );
    let job = api
        .run(
            Method::POST,
            "/persons/bulk?updateIfExists=TRUE",
            &data(vec![fresh]),
        )
        .await;
    assert_eq!(outcome(&job, new_id)["response"]["statusCode"], json!(201));

    // An invalid value: the spec's 2025 example, and no job.
    let reply = api
        .post(
            "/persons/bulk?updateIfExists=xxxxx",
            &data(vec![renamed.clone()]),
        )
        .await;
    let entry = assert_log_answer(&reply, 400, "2025");
    assert_eq!(entry["messageType"], json!("Ogiltigt format"));
    assert_eq!(
        entry["message"],
        json!(
            "Ogiltigt format på ´query´ parameter <updateIfExists>. Format ska vara boolean (true/false)."
        )
    );
    assert_eq!(entry["parameterName"], json!("updateIfExists"));
    assert_eq!(entry["parameterValue"], json!("xxxxx"));
    assert_rate_headers(&reply);

    // PUT: existing ids are updated, unknown ids are an Error.
    let unknown = Uuid::new_v4();
    let mut again = renamed.clone();
    again["familyName"] = json!("Ekström");
    let job = api
        .run(
            Method::PUT,
            "/persons/bulk",
            &data(vec![
                again,
                student(
                    unknown,
                    &pnr("20100305", 136),
                    "u4@edu.ekskolan.se",
                    UNIT_A,
                    6,
                ),
            ]),
        )
        .await;
    assert_eq!(status_of(&job, id), "Success");
    assert_error(&job, unknown, "9102");
    assert_eq!(outcome(&job, unknown)["response"]["statusCode"], json!(404));
    assert_eq!(api.store.person(id).unwrap().family_name, "Ekström");
    assert!(api.store.person(unknown).is_none());
}

#[tokio::test]
async fn meta_modified_moves_only_when_the_content_changes() {
    let api = Api::quick().await;
    let id = Uuid::new_v4();
    let body = data(vec![student(
        id,
        &pnr("20100407", 222),
        "u5@edu.ekskolan.se",
        UNIT_A,
        6,
    )]);
    api.run(Method::POST, "/persons/bulk", &body).await;
    let before = api.store.person(id).unwrap().meta.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    api.run(Method::PUT, "/persons/bulk", &body).await;
    assert_eq!(
        api.store.person(id).unwrap().meta.unwrap(),
        before,
        "same content"
    );
    let mut changed = body.clone();
    changed["data"][0]["givenName"] = json!("Mia");
    api.run(Method::PUT, "/persons/bulk", &changed).await;
    let after = api.store.person(id).unwrap().meta.unwrap();
    assert_eq!(after.created, before.created);
    assert_ne!(after.modified, before.modified);
}

#[tokio::test]
async fn job_endpoints_check_ids_and_show_only_errors_on_request() {
    let api = Api::quick().await;
    let good = Uuid::new_v4();
    let bad = Uuid::new_v4();
    let body = data(vec![
        student(good, &pnr("20090127", 246), "g@edu.ekskolan.se", UNIT_A, 6),
        student(
            bad,
            &pnr("20090127", 254),
            "b@edu.ekskolan.se",
            UNKNOWN_UNIT,
            6,
        ),
    ]);
    let (_, job_id) = api.submit(Method::POST, "/persons/bulk", &body).await;
    let all = api.settle("persons", job_id).await;
    assert_eq!(all["responses"].as_array().unwrap().len(), 2);
    // Submission order is kept.
    assert_eq!(all["responses"][0]["id"], json!(good.to_string()));

    let only = api
        .get(&format!("/persons/bulk/jobs/{job_id}?showOnlyError=true"))
        .await;
    assert_async_response(&only.body);
    let responses = only.body["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["id"], json!(bad.to_string()));
    let not_only = api
        .get(&format!("/persons/bulk/jobs/{job_id}?showOnlyError=false"))
        .await;
    assert_eq!(not_only.body["responses"].as_array().unwrap().len(), 2);

    let reply = api
        .get(&format!("/persons/bulk/jobs/{job_id}?showOnlyError=kanske"))
        .await;
    let entry = assert_log_answer(&reply, 400, "2025");
    assert_eq!(entry["parameterName"], json!("showOnlyError"));

    let reply = api.get("/persons/bulk/jobs/xxxxx").await;
    let entry = assert_log_answer(&reply, 400, "2011");
    assert_eq!(
        entry["message"],
        json!(
            "Ogiltigt format på ´path´ parameter <id>. Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt."
        )
    );
    assert_eq!(entry["parameterValue"], json!("xxxxx"));
    let reply = api.get("/persons/bulk/jobs/xxxxx/isCompleted").await;
    assert_log_answer(&reply, 400, "2011");

    let unknown = Uuid::new_v4();
    let reply = api.get(&format!("/groups/bulk/jobs/{unknown}")).await;
    assert_log_answer(&reply, 404, "4001");
    let reply = api
        .get(&format!("/groups/bulk/jobs/{unknown}/isCompleted"))
        .await;
    assert_log_answer(&reply, 404, "4001");
    // A persons job is not a duties job.
    let reply = api.get(&format!("/duties/bulk/jobs/{job_id}")).await;
    assert_log_answer(&reply, 404, "4001");
}

#[tokio::test]
async fn bodies_that_are_not_the_resource_schema_are_400_without_a_job() {
    let api = Api::quick().await;
    let valid = student(Uuid::new_v4(), &pnr("20090127", 262), "x@edu.se", UNIT_A, 6);
    let mut missing_civic = valid.clone();
    missing_civic.as_object_mut().unwrap().remove("civicNo");
    let mut lower_case_type = group(Uuid::new_v4(), "Klass", UNIT_A, &[]);
    lower_case_type["groupType"] = json!("klass");
    let mut unknown_role = duty(Uuid::new_v4(), Uuid::new_v4(), UNIT_A);
    unknown_role["dutyRole"] = json!("Vaktmästare");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/persons/bulk", b"not json".to_vec()),
        ("/persons/bulk", b"{\"items\": []}".to_vec()),
        (
            "/persons/bulk",
            serde_json::to_vec(&data(vec![missing_civic])).unwrap(),
        ),
        (
            "/groups/bulk",
            serde_json::to_vec(&data(vec![lower_case_type])).unwrap(),
        ),
        (
            "/duties/bulk",
            serde_json::to_vec(&data(vec![unknown_role])).unwrap(),
        ),
        (
            "/persons/bulk/delete",
            b"{\"data\": [\"not-a-uuid\"]}".to_vec(),
        ),
    ];
    for (path, body) in cases {
        let reply = api
            .raw(
                Method::POST,
                path,
                Some(TOKEN),
                Some((body, "application/json")),
            )
            .await;
        let entry = assert_log_answer(&reply, 400, "9000");
        assert!(
            entry["message"]
                .as_str()
                .unwrap()
                .starts_with("Ogiltigt format")
        );
    }
    // The message names where the problem is.
    let reply = api
        .raw(
            Method::POST,
            "/persons/bulk",
            Some(TOKEN),
            Some((
                serde_json::to_vec(&data(vec![valid.clone(), json!({"id": Uuid::new_v4()})]))
                    .unwrap(),
                "application/json",
            )),
        )
        .await;
    assert!(
        reply.body[0]["message"]
            .as_str()
            .unwrap()
            .contains("data[1]"),
        "{}",
        reply.body
    );

    // A body without a JSON content type.
    let reply = api
        .raw(
            Method::POST,
            "/persons/bulk",
            Some(TOKEN),
            Some((
                serde_json::to_vec(&data(vec![valid])).unwrap(),
                "text/plain",
            )),
        )
        .await;
    assert_log_answer(&reply, 415, "9001");
    assert_eq!(api.store.pending_jobs(), 0);
    assert!(api.store.changes().is_empty());
}

// ---- profile rules ---------------------------------------------------------------

/// One person of [`person_rules_give_their_log_entries`]: its name, the
/// person, the expected status and the expected LogEntry id.
type PersonCase = (&'static str, Value, &'static str, Option<&'static str>);

/// The persons the person rules are tried on, one rule each; the fourth
/// has the check digit `bad_luhn` gets wrong, the thirteenth an EPPN with
/// the family name in it.
fn person_rule_cases(bad_luhn: &str) -> Vec<PersonCase> {
    let base = |eppn: &str, civic: &str| student(Uuid::new_v4(), civic, eppn, UNIT_A, 6);
    let mut cases: Vec<PersonCase> = Vec::new();
    cases.push((
        "valid personnummer",
        base("p1@edu.se", &pnr("20090127", 308)),
        "Success",
        None,
    ));
    cases.push((
        "samordningsnummer",
        base("p2@edu.se", &pnr("20090187", 316)),
        "Success",
        None,
    ));
    cases.push((
        "temporary number",
        base("p3@edu.se", "20090127TF20"),
        "Success",
        None,
    ));
    cases.push((
        "bad check digit",
        base("p4@edu.se", bad_luhn),
        "Error",
        Some("9110"),
    ));
    cases.push((
        "ten digits",
        base("p5@edu.se", &pnr("20090127", 324)[2..]),
        "Error",
        Some("9110"),
    ));
    cases.push((
        "with separator",
        base(
            "p6@edu.se",
            &format!("20090127-{}", &pnr("20090127", 332)[8..]),
        ),
        "Error",
        Some("9110"),
    ));
    cases.push((
        "impossible date",
        base("p7@edu.se", &pnr("20090230", 340)),
        "Error",
        Some("9110"),
    ));
    cases.push((
        "letters other than TF",
        base("p8@edu.se", "20090127XY20"),
        "Error",
        Some("9110"),
    ));
    let mut norwegian = base("p9@edu.se", &pnr("20090127", 359));
    norwegian["civicNo"]["nationality"] = json!("NO");
    cases.push(("nationality NO", norwegian, "Error", Some("9111")));
    let mut no_eppn = base("p10@edu.se", &pnr("20090127", 367));
    no_eppn["eduPersonPrincipalNames"] = json!([]);
    cases.push(("no EPPN", no_eppn, "Error", Some("9113")));
    let mut two_eppns = base("p11@edu.se", &pnr("20090127", 375));
    two_eppns["eduPersonPrincipalNames"] = json!(["p11@edu.se", "p11b@edu.se"]);
    cases.push(("two EPPNs", two_eppns, "Error", Some("9113")));
    cases.push((
        "EPPN without domain",
        base("p12", &pnr("20090127", 383)),
        "Error",
        Some("9114"),
    ));
    let mut named = base("ekmaja12@edu.se", &pnr("20090127", 391));
    named["familyName"] = json!("Ekström");
    cases.push(("EPPN with family name", named, "Warning", Some("3047")));
    let mut unknown_unit = base("p14@edu.se", &pnr("20090127", 405));
    unknown_unit["enrolments"][0]["enroledAt"]["id"] = json!(unit(UNKNOWN_UNIT));
    cases.push(("unknown school unit", unknown_unit, "Error", Some("9120")));
    let mut no_year = base("p15@edu.se", &pnr("20090127", 413));
    no_year["enrolments"][0]
        .as_object_mut()
        .unwrap()
        .remove("schoolYear");
    cases.push(("GR without schoolYear", no_year, "Error", Some("9121")));
    let mut year_11 = base("p16@edu.se", &pnr("20090127", 421));
    year_11["enrolments"][0]["schoolYear"] = json!(11);
    cases.push(("schoolYear 11", year_11, "Error", Some("9121")));
    let mut sp_year_0 = base("p17@edu.se", &pnr("20090127", 439));
    sp_year_0["enrolments"][0]["schoolYear"] = json!(0);
    sp_year_0["enrolments"][0]["schoolType"] = json!("SP");
    cases.push(("SP schoolYear 0", sp_year_0, "Error", Some("9121")));
    let mut gy = base("p18@edu.se", &pnr("20070127", 447));
    gy["enrolments"] =
        json!([{"enroledAt": {"id": unit(UNIT_GY)}, "schoolType": "GY", "educationCode": "NA"}]);
    cases.push(("GY with educationCode", gy, "Success", None));
    let mut gy_without = base("p19@edu.se", &pnr("20070127", 455));
    gy_without["enrolments"] =
        json!([{"enroledAt": {"id": unit(UNIT_GY)}, "schoolType": "GY", "schoolYear": 1}]);
    cases.push((
        "GY without educationCode",
        gy_without,
        "Error",
        Some("9122"),
    ));
    let mut vux = base("p20@edu.se", &pnr("19900127", 463));
    vux["enrolments"] = json!([{"enroledAt": {"id": unit(UNIT_GY)}, "schoolType": "VUXGY"}]);
    cases.push(("VUXGY needs neither", vux, "Success", None));
    let mut external = base("p21@edu.se", &pnr("20090127", 471));
    // externalIdentifiers are for staff only: these persons are not enrolled.
    external["enrolments"] = json!([]);
    external["externalIdentifiers"] =
        json!([{"value": "movip-eiral@eduid.se", "context": "https://example.org"}]);
    cases.push((
        "externalIdentifier context",
        external,
        "Error",
        Some("9116"),
    ));
    let mut eduid = base("p22@edu.se", &pnr("20090127", 489));
    eduid["enrolments"] = json!([]);
    eduid["externalIdentifiers"] =
        json!([{"value": "movip-eiral@eduid.se", "context": "https://eduid.se"}]);
    cases.push(("eduID externalIdentifier", eduid, "Success", None));
    cases
}

#[tokio::test]
async fn person_rules_give_their_log_entries() {
    let api = Api::quick().await;
    let bad_luhn = {
        let good = pnr("20090127", 300);
        let last = good.as_bytes()[11] - b'0';
        format!("{}{}", &good[..11], (last + 1) % 10)
    };
    let cases = person_rule_cases(&bad_luhn);

    let body = data(cases.iter().map(|(_, p, _, _)| p.clone()).collect());
    let job = api.run(Method::POST, "/persons/bulk", &body).await;
    for (name, person, status, log_id) in &cases {
        let id: Uuid = person["id"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            status_of(&job, id),
            *status,
            "{name}: {}",
            outcome(&job, id)
        );
        let stored = api.store.person(id).is_some();
        assert_eq!(
            stored,
            *status != "Error",
            "{name}: stored only when accepted"
        );
        match (status, log_id) {
            (&"Error", Some(log_id)) => assert_error(&job, id, log_id),
            (&"Warning", Some(log_id)) => {
                assert_eq!(warning_ids(&job, id), vec![log_id.to_string()], "{name}");
                assert_eq!(outcome(&job, id)["response"]["statusCode"], json!(201));
            }
            _ => assert!(
                error_ids(&job, id).is_empty() && warning_ids(&job, id).is_empty(),
                "{name}"
            ),
        }
        for entry in outcome(&job, id)["response"]["errors"].as_array().unwrap() {
            assert_eq!(entry["resourceType"], json!("Person"), "{name}");
            assert_eq!(entry["resourceId"], json!(id.to_string()), "{name}");
            assert!(entry["attributeName"].is_string(), "{name}");
        }
    }

    // The bad personnummer is masked in attributeValue.
    let luhn_id: Uuid = cases[3].1["id"].as_str().unwrap().parse().unwrap();
    let entry = &outcome(&job, luhn_id)["response"]["errors"][0];
    assert_eq!(entry["attributeName"], json!("civicNo.value"));
    assert_eq!(entry["attributeValue"], json!("20090127-****"));
    assert!(
        !job.to_string().contains(&bad_luhn),
        "no full personnummer in the job status"
    );

    // The 3047 warning exactly as the spec's example.
    let named_id: Uuid = cases[12].1["id"].as_str().unwrap().parse().unwrap();
    let warning = &outcome(&job, named_id)["response"]["warnings"][0];
    assert_eq!(warning["statusCode"], json!(400));
    assert_eq!(warning["messageType"], json!("Bristfälligt värde"));
    assert_eq!(warning["severityLevel"], json!("Warning"));
    assert_eq!(warning["attributeName"], json!("eppn"));
    assert_eq!(warning["attributeValue"], json!("ekmaja12@edu.se"));
    assert!(warning["message"].as_str().unwrap().starts_with(
        "Bristfälligt värde på Federationsanvändarnamn, värdet innehåller de tre första bokstäverna i efternamnet"
    ));
}

#[tokio::test]
async fn a_civic_no_or_eppn_another_person_id_holds_is_an_error_in_submission_order() {
    let api = Api::quick().await;
    let first = Uuid::new_v4();
    let civic = pnr("20080515", 123);
    let migrated = Uuid::new_v4();
    let same_eppn = Uuid::new_v4();
    // The same human under a new id in the same job: the first one wins.
    let job = api
        .run(
            Method::POST,
            "/persons/bulk",
            &data(vec![
                student(first, &civic, "anna@edu.se", UNIT_A, 6),
                student(migrated, &civic, "anna2@edu.se", UNIT_A, 6),
            ]),
        )
        .await;
    assert_eq!(status_of(&job, first), "Success");
    assert_error(&job, migrated, "9112");
    let entry = &outcome(&job, migrated)["response"]["errors"][0];
    assert_eq!(entry["attributeValue"], json!("20080515-****"));
    assert_eq!(entry["statusCode"], json!(409));

    // A later job: an EPPN held by another id (case does not matter).
    let job = api
        .run(
            Method::POST,
            "/persons/bulk",
            &data(vec![student(
                same_eppn,
                &pnr("20080515", 131),
                "ANNA@edu.se",
                UNIT_A,
                6,
            )]),
        )
        .await;
    assert_error(&job, same_eppn, "9115");
    // The person itself may be sent again with its own civicNo and EPPN.
    let job = api
        .run(
            Method::POST,
            "/persons/bulk?updateIfExists=true",
            &data(vec![student(first, &civic, "anna@edu.se", UNIT_A, 7)]),
        )
        .await;
    assert_eq!(status_of(&job, first), "Success");
    assert_eq!(api.store.persons().len(), 1);
}

#[tokio::test]
async fn duty_rules_see_persons_of_earlier_jobs_and_enforce_staff_rules() {
    let api = Api::quick().await;
    let teacher = Uuid::new_v4();
    let no_email = Uuid::new_v4();
    let pupil = Uuid::new_v4();
    let persons = data(vec![
        staff(
            teacher,
            &pnr("19800101", 234),
            "t1@edu.se",
            Some("t1@skola.se"),
        ),
        staff(no_email, &pnr("19800101", 242), "t2@edu.se", None),
        student(pupil, &pnr("20090127", 497), "s1@edu.se", UNIT_A, 6),
    ]);
    // Submit the Duty job right after the Person job, without waiting: it
    // settles later, so it sees the persons.
    let (_, person_job) = api.submit(Method::POST, "/persons/bulk", &persons).await;
    let ok = Uuid::new_v4();
    let ghost = Uuid::new_v4();
    let mailless = Uuid::new_v4();
    let enrolled = Uuid::new_v4();
    let elsewhere = Uuid::new_v4();
    let duties = data(vec![
        duty(ok, teacher, UNIT_A),
        duty(ghost, Uuid::new_v4(), UNIT_A),
        duty(mailless, no_email, UNIT_A),
        duty(enrolled, pupil, UNIT_A),
        duty(elsewhere, teacher, UNKNOWN_UNIT),
    ]);
    let (_, duty_job) = api.submit(Method::POST, "/duties/bulk", &duties).await;
    let persons_done = api.settle("persons", person_job).await;
    assert_eq!(
        status_of(&persons_done, no_email),
        "Success",
        "e-mail is checked with the duty"
    );
    let job = api.settle("duties", duty_job).await;
    assert_eq!(status_of(&job, ok), "Success");
    assert_error(&job, ghost, "9130");
    assert_error(&job, mailless, "9118");
    assert_error(&job, enrolled, "9117");
    assert_error(&job, elsewhere, "9131");
    assert_eq!(api.store.duties().len(), 1);

    // Staff rules on person updates: e-mail cannot go, enrolments cannot come.
    let mut without_email = staff(teacher, &pnr("19800101", 234), "t1@edu.se", None);
    let job = api
        .run(
            Method::PUT,
            "/persons/bulk",
            &data(vec![without_email.clone()]),
        )
        .await;
    assert_error(&job, teacher, "9118");
    without_email["emails"] = json!([{"value": "t1@skola.se"}]);
    without_email["enrolments"] =
        json!([{"enroledAt": {"id": unit(UNIT_A)}, "schoolType": "GR", "schoolYear": 9}]);
    let job = api
        .run(Method::PUT, "/persons/bulk", &data(vec![without_email]))
        .await;
    assert_error(&job, teacher, "9117");

    let listed = api.get(&format!("/duties/{ok}")).await;
    assert_duty(&listed.body);
    let person = api.get(&format!("/persons/{no_email}")).await;
    assert_eq!(
        person.body["provisioningStatus"],
        json!(false),
        "no enrolment, no duty"
    );
}

#[tokio::test]
async fn group_rules_allow_two_types_and_warn_about_missing_members() {
    let api = Api::quick().await;
    let pupil = Uuid::new_v4();
    api.run(
        Method::POST,
        "/persons/bulk",
        &data(vec![student(
            pupil,
            &pnr("20090127", 500),
            "g1@edu.se",
            UNIT_A,
            6,
        )]),
    )
    .await;
    let class = Uuid::new_v4();
    let teaching = Uuid::new_v4();
    let mentor = Uuid::new_v4();
    let elsewhere = Uuid::new_v4();
    let partial = Uuid::new_v4();
    let missing = Uuid::new_v4();
    let job = api
        .run(
            Method::POST,
            "/groups/bulk",
            &data(vec![
                group(class, "Klass", UNIT_A, &[pupil]),
                group(teaching, "Undervisning", UNIT_B, &[pupil]),
                group(mentor, "Mentor", UNIT_A, &[pupil]),
                group(elsewhere, "Klass", UNKNOWN_UNIT, &[]),
                group(partial, "Klass", UNIT_A, &[pupil, missing]),
            ]),
        )
        .await;
    assert_eq!(status_of(&job, class), "Success");
    assert_eq!(status_of(&job, teaching), "Success");
    assert_error(&job, mentor, "9140");
    assert_error(&job, elsewhere, "9141");
    assert_eq!(status_of(&job, partial), "Warning");
    assert_eq!(warning_ids(&job, partial), vec!["9142".to_string()]);
    let warning = &outcome(&job, partial)["response"]["warnings"][0];
    assert_eq!(warning["attributeValue"], json!(missing.to_string()));
    assert_eq!(warning["severityLevel"], json!("Warning"));

    // The group is stored, without the member that does not exist.
    let stored = api.get(&format!("/groups/{partial}")).await;
    assert_group(&stored.body);
    assert_eq!(
        stored.body["groupMemberships"],
        json!([{"person": {"id": pupil}}])
    );
    let class_read = api.get(&format!("/groups/{class}")).await;
    assert_eq!(class_read.body["provisioningStatus"], json!(true));
    let teaching_read = api.get(&format!("/groups/{teaching}")).await;
    assert_eq!(
        teaching_read.body["provisioningStatus"],
        json!(false),
        "needs an activity"
    );
}

#[tokio::test]
async fn activity_rules_need_undervisning_known_units_test_activities_groups_and_duties() {
    let api = Api::quick().await;
    let teacher = Uuid::new_v4();
    let pupil = Uuid::new_v4();
    api.run(
        Method::POST,
        "/persons/bulk",
        &data(vec![
            staff(
                teacher,
                &pnr("19750303", 111),
                "a1@edu.se",
                Some("a1@skola.se"),
            ),
            student(pupil, &pnr("20090127", 518), "a2@edu.se", UNIT_A, 6),
        ]),
    )
    .await;
    let teacher_duty = Uuid::new_v4();
    api.run(
        Method::POST,
        "/duties/bulk",
        &data(vec![duty(teacher_duty, teacher, UNIT_A)]),
    )
    .await;
    let group_id = Uuid::new_v4();
    api.run(
        Method::POST,
        "/groups/bulk",
        &data(vec![group(group_id, "Undervisning", UNIT_A, &[pupil])]),
    )
    .await;

    let math = test_activity("GRGRMAT01_6");
    let ok = Uuid::new_v4();
    let wrong_type = Uuid::new_v4();
    let wrong_unit = Uuid::new_v4();
    let wrong_parent = Uuid::new_v4();
    let missing_group = Uuid::new_v4();
    let no_groups = Uuid::new_v4();
    let missing_teacher = Uuid::new_v4();
    let mut elev = activity(wrong_type, &[group_id], &[teacher_duty], math);
    elev["activityType"] = json!("Elevaktivitet");
    let mut unknown_org = activity(wrong_unit, &[group_id], &[], math);
    unknown_org["organisation"]["id"] = json!(unit(UNKNOWN_UNIT));
    let job = api
        .run(
            Method::POST,
            "/activities/bulk",
            &data(vec![
                activity(ok, &[group_id], &[teacher_duty], math),
                elev,
                unknown_org,
                activity(wrong_parent, &[group_id], &[], unit(UNIT_A)),
                activity(missing_group, &[Uuid::new_v4()], &[], math),
                activity(no_groups, &[], &[], math),
                activity(missing_teacher, &[group_id], &[Uuid::new_v4()], math),
            ]),
        )
        .await;
    assert_eq!(status_of(&job, ok), "Success");
    assert_error(&job, wrong_type, "9150");
    assert_error(&job, wrong_unit, "9141");
    assert_error(&job, wrong_parent, "9151");
    assert_error(&job, missing_group, "9152");
    assert_error(&job, no_groups, "9152");
    assert_error(&job, missing_teacher, "9153");

    let stored = api.get(&format!("/activities/{ok}")).await;
    assert_activity(&stored.body);
    assert_eq!(stored.body["provisioningStatus"], json!(true));
    let group_read = api.get(&format!("/groups/{group_id}")).await;
    assert_eq!(
        group_read.body["provisioningStatus"],
        json!(true),
        "now used by an activity"
    );

    // Lists and lookups of duties, groups and activities in the spec's shapes.
    type SchemaCheck = fn(&Value);
    let checks: [(&str, Uuid, SchemaCheck); 3] = [
        ("duties", teacher_duty, assert_duty),
        ("groups", group_id, assert_group),
        ("activities", ok, assert_activity),
    ];
    for (resource, id, check) in checks {
        let page = api.get(&format!("/{resource}?limit=10")).await;
        assert_page(&page.body, check);
        assert_eq!(page.body["data"].as_array().unwrap().len(), 1, "{resource}");
        assert_eq!(page.body["pageToken"], Value::Null);
        let found = api
            .post(
                &format!("/{resource}/lookup"),
                &json!({"ids": [id, Uuid::new_v4()]}),
            )
            .await;
        assert_eq!(found.status, StatusCode::OK);
        let found = found.body.as_array().unwrap();
        assert_eq!(found.len(), 1, "{resource}");
        check(&found[0]);
        assert_eq!(found[0]["id"], json!(id.to_string()));
    }

    // Deletes: referenced resources are blocked until the referrers are gone.
    let job = api
        .run(
            Method::POST,
            "/groups/bulk/delete",
            &json!({"data": [group_id]}),
        )
        .await;
    assert_error(&job, group_id, "9103");
    let job = api
        .run(
            Method::POST,
            "/duties/bulk/delete",
            &json!({"data": [teacher_duty]}),
        )
        .await;
    assert_error(&job, teacher_duty, "9103");
    let job = api
        .run(
            Method::POST,
            "/persons/bulk/delete",
            &json!({"data": [teacher]}),
        )
        .await;
    assert_error(&job, teacher, "9103");
    let unknown = Uuid::new_v4();
    let job = api
        .run(
            Method::POST,
            "/activities/bulk/delete",
            &json!({"data": [ok, unknown]}),
        )
        .await;
    assert_eq!(status_of(&job, ok), "Success");
    assert_error(&job, unknown, "9102");
    for (path, id) in [
        ("/groups/bulk/delete", group_id),
        ("/duties/bulk/delete", teacher_duty),
        ("/persons/bulk/delete", teacher),
    ] {
        let job = api.run(Method::POST, path, &json!({"data": [id]})).await;
        assert_eq!(status_of(&job, id), "Success", "{path}");
    }
    assert_eq!(api.store.deleted(ObjectType::Activity), vec![ok]);
    assert_eq!(api.store.deleted(ObjectType::Person), vec![teacher]);
    assert_eq!(
        api.get(&format!("/persons/{teacher}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.store.count(ObjectType::Group), 0);
}

// ---- reads -----------------------------------------------------------------------

#[tokio::test]
async fn lists_page_with_limit_and_page_token_until_null() {
    let api = Api::quick().await;
    let ids: Vec<Uuid> = (0..7).map(|_| Uuid::new_v4()).collect();
    let persons = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            student(
                *id,
                &pnr("20090127", 600 + i as u32 * 8),
                &format!("l{i}@edu.se"),
                UNIT_A,
                6,
            )
        })
        .collect();
    api.run(Method::POST, "/persons/bulk", &data(persons)).await;

    let mut seen = Vec::new();
    let mut path = "/persons?limit=3".to_string();
    let mut pages = 0;
    loop {
        let page = api.get(&path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_page(&page.body, |p| assert_person(p, true));
        assert!(
            page.body.as_object().unwrap().contains_key("pageToken"),
            "pageToken is always there"
        );
        for person in page.body["data"].as_array().unwrap() {
            assert!(person.get("enrolments").is_none() && person.get("emails").is_none());
            seen.push(person["id"].as_str().unwrap().parse::<Uuid>().unwrap());
        }
        pages += 1;
        match page.body["pageToken"].as_str() {
            Some(token) => path = format!("/persons?limit=3&pageToken={token}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every person once, in creation order");

    let all = api.get("/persons").await;
    assert_eq!(
        all.body["data"].as_array().unwrap().len(),
        7,
        "default limit 50"
    );
    assert_eq!(all.body["pageToken"], Value::Null);

    for bad in ["0", "101", "abc", "-1"] {
        let reply = api.get(&format!("/groups?limit={bad}")).await;
        let entry = assert_log_answer(&reply, 400, "3085");
        assert_eq!(entry["messageType"], json!("Ogiltigt värde"));
        assert_eq!(
            entry["message"],
            json!("Värdet för <limit> måste vara ett tal mellan 1 och 100 (inklusive).")
        );
        assert_eq!(entry["parameterName"], json!("limit"));
    }
    assert_eq!(api.get("/persons?limit=100").await.status, StatusCode::OK);
    assert_eq!(api.get("/persons?limit=1").await.status, StatusCode::OK);
    let reply = api.get("/persons?pageToken=garbage").await;
    assert_log_answer(&reply, 400, "9002");

    for path in ["/duties", "/groups", "/activities"] {
        let page = api.get(path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body, json!({"data": [], "pageToken": null}));
    }
}

#[tokio::test]
async fn reading_by_id_checks_the_uuid_and_answers_404_with_4001() {
    let api = Api::quick().await;
    let reply = api.get("/persons/xxx").await;
    let entry = assert_log_answer(&reply, 400, "2011");
    assert_eq!(entry["resourceType"], json!("Person"));
    assert_eq!(entry["parameterName"], json!("id"));
    let missing = "3fa85f64-5717-4562-b3fc-2c963f66afa7";
    let reply = api.get(&format!("/persons/{missing}")).await;
    let entry = assert_log_answer(&reply, 404, "4001");
    assert_eq!(
        entry["message"],
        json!("Person identifierats av angivet värden i `path` parameter <id> hittades inte.")
    );
    assert_eq!(entry["parameterValue"], json!(missing));
    assert_eq!(entry["resourceType"], json!("Person"));
    for (path, kind) in [
        ("/duties", "Duty"),
        ("/groups", "Group"),
        ("/activities", "Activity"),
    ] {
        let reply = api.get(&format!("{path}/{missing}")).await;
        let entry = assert_log_answer(&reply, 404, "4001");
        assert_eq!(entry["resourceType"], json!(kind));
    }
}

#[tokio::test]
async fn lookups_find_persons_by_id_civic_no_and_eppn_and_refuse_malformed_bodies() {
    let api = Api::quick().await;
    let a = Uuid::new_v4();
    let b = Uuid::new_v4();
    let c = Uuid::new_v4();
    let civic_b = pnr("20090127", 700);
    api.run(
        Method::POST,
        "/persons/bulk",
        &data(vec![
            student(a, &pnr("20090127", 708), "la@edu.se", UNIT_A, 6),
            student(b, &civic_b, "lb@edu.se", UNIT_A, 6),
            student(c, &pnr("20090127", 716), "lc@edu.se", UNIT_A, 6),
        ]),
    )
    .await;
    let reply = api
        .post(
            "/persons/lookup",
            &json!({"ids": [a, Uuid::new_v4()], "civicNos": [civic_b], "eduPersonPrincipalNames": ["LC@edu.se"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let found = reply.body.as_array().unwrap();
    found.iter().for_each(|p| assert_person(p, false));
    let found: BTreeSet<String> = found
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(found, [a, b, c].iter().map(Uuid::to_string).collect());
    // Full persons, unlike the list.
    let by_civic = api
        .post("/persons/lookup", &json!({"civicNos": [civic_b]}))
        .await;
    assert_eq!(by_civic.body.as_array().unwrap().len(), 1);
    assert!(by_civic.body[0]["enrolments"].is_array());
    assert_eq!(
        api.post("/persons/lookup", &json!({})).await.body,
        json!([])
    );

    let reply = api
        .post("/persons/lookup", &json!({"ids": ["xxxxx"]}))
        .await;
    let entry = assert_log_answer(&reply, 400, "2010");
    assert_eq!(
        entry["message"],
        json!(
            "Ogiltigt format på ´body´ parameter <ids>. Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt."
        )
    );
    assert_eq!(entry["parameterName"], json!("ids"));
    assert_eq!(entry["parameterValue"], json!("xxxxx"));
    for bad in [
        json!({"ids": "x"}),
        json!([1, 2]),
        json!({"civicNos": [200901272385u64]}),
    ] {
        let reply = api.post("/persons/lookup", &bad).await;
        assert_log_answer(&reply, 400, "2010");
        assert!(!reply.body.to_string().contains("200901272385"), "masked");
    }
    for path in ["/duties/lookup", "/groups/lookup", "/activities/lookup"] {
        let reply = api.post(path, &json!({"ids": [Uuid::new_v4()]})).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, json!([]));
        let reply = api.post(path, &json!({"ids": ["nope"]})).await;
        assert_log_answer(&reply, 400, "2010");
    }
}

// ---- limits ----------------------------------------------------------------------

#[tokio::test]
async fn the_sixth_bulk_call_within_a_second_gets_429_with_headers_counting_down() {
    let api = Api::start(Limits::default(), Faults::default(), SETTLE).await;
    let body = data(vec![]);
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let reply = api.post("/persons/bulk", &body).await;
        assert_eq!(reply.status, StatusCode::ACCEPTED);
        assert_rate_headers(&reply);
        assert_eq!(reply.header("x-ratelimit-limit"), "5");
        remaining.push(
            reply
                .header("x-ratelimit-remaining")
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    // Job status calls count against the same limit.
    let refused = api
        .get(&format!("/persons/bulk/jobs/{}", Uuid::new_v4()))
        .await;
    let entry = assert_log_answer(&refused, 429, "5021");
    assert_eq!(entry["messageType"], json!("Teknisk begränsning"));
    assert_eq!(
        entry["message"],
        json!("Den högsta tillåtna antal förfrågningar har uppnåtts för den specifika URL:en.")
    );
    assert_eq!(refused.header("x-ratelimit-remaining"), "0");
    let reset: f64 = refused.header("x-ratelimit-reset").parse().unwrap();
    assert!(reset > 0.0 && reset <= 1.0, "{reset}");

    // Reads and other clients have their own quota meanwhile.
    assert_eq!(api.get("/persons").await.status, StatusCode::OK);
    let other = api
        .raw(
            Method::POST,
            "/persons/bulk",
            Some(OTHER_TOKEN),
            Some((b"{\"data\":[]}".to_vec(), "application/json")),
        )
        .await;
    assert_eq!(other.status, StatusCode::ACCEPTED);

    // Waiting X-RateLimit-Reset seconds is enough.
    tokio::time::sleep(Duration::from_secs_f64(reset) + Duration::from_millis(5)).await;
    assert_eq!(
        api.post("/persons/bulk", &body).await.status,
        StatusCode::ACCEPTED
    );

    let log = api.store.requests();
    let refused_calls = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(refused_calls, 1);
    assert!(
        log.iter()
            .all(|r| r.class == RateClass::Bulk || r.path == "/persons")
    );
}

#[tokio::test]
async fn reads_allow_ten_calls_a_second() {
    let api = Api::start(Limits::default(), Faults::default(), SETTLE).await;
    for i in 0..10u32 {
        let reply = api.get("/groups").await;
        assert_eq!(reply.status, StatusCode::OK, "call {i}");
        assert_eq!(reply.header("x-ratelimit-limit"), "10");
        assert_eq!(reply.header("x-ratelimit-remaining"), (9 - i).to_string());
    }
    let reply = api.post("/persons/lookup", &json!({})).await;
    assert_log_answer(&reply, 429, "5021");
    assert_rate_headers(&reply);
    // Bulk calls are still allowed.
    assert_eq!(
        api.post("/groups/bulk", &data(vec![])).await.status,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn bodies_up_to_the_limit_are_accepted_and_larger_ones_get_413() {
    let api = Api::quick().await;
    let max = Limits::default().max_body_bytes;
    let person = student(
        Uuid::new_v4(),
        &pnr("20090127", 800),
        "big@edu.se",
        UNIT_A,
        6,
    );
    let mut exact = serde_json::to_vec(&data(vec![person])).unwrap();
    exact.resize(max, b' ');
    let reply = api
        .raw(
            Method::POST,
            "/persons/bulk",
            Some(TOKEN),
            Some((exact.clone(), "application/json")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);

    let mut over = exact.clone();
    over.push(b' ');
    let reply = api
        .raw(
            Method::POST,
            "/persons/bulk",
            Some(TOKEN),
            Some((over, "application/json")),
        )
        .await;
    let entry = assert_log_answer(&reply, 413, "5020");
    assert_eq!(entry["messageType"], json!("Teknisk begränsning"));
    assert_eq!(
        entry["message"],
        json!("Provisionerade uppgifter överstiger tillåten datamängd.")
    );
    assert_rate_headers(&reply);
    assert_eq!(
        api.store.pending_jobs() + api.store.count(ObjectType::Person),
        1,
        "only the first job"
    );

    let reply = api
        .raw(
            Method::POST,
            "/persons/lookup",
            Some(TOKEN),
            Some((vec![b' '; max * 3], "application/json")),
        )
        .await;
    assert_log_answer(&reply, 413, "5020");

    let sizes: Vec<(u16, usize)> = api
        .store
        .requests()
        .iter()
        .map(|r| (r.status, r.body_bytes))
        .collect();
    assert_eq!(sizes, vec![(202, max), (413, max + 1), (413, max * 3)]);
}

#[tokio::test]
async fn the_request_log_records_every_call_with_client_size_time_and_status() {
    let api = Api::quick().await;
    let started = Instant::now();
    let body = data(vec![student(
        Uuid::new_v4(),
        &pnr("20090127", 819),
        "r@edu.se",
        UNIT_A,
        6,
    )]);
    let size = serde_json::to_vec(&body).unwrap().len();
    let (_, job_id) = api
        .submit(Method::POST, "/persons/bulk?updateIfExists=true", &body)
        .await;
    api.raw(Method::GET, "/persons", None, None).await;
    api.raw(Method::GET, "/alive", None, None).await;
    api.get(&format!("/persons/bulk/jobs/{job_id}")).await;

    let log = api.store.requests();
    assert_eq!(log.len(), 4);
    let first = &log[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/persons/bulk");
    assert_eq!(first.query.as_deref(), Some("updateIfExists=true"));
    assert_eq!(first.client.as_deref(), Some("client-a"));
    assert_eq!(first.body_bytes, size);
    assert_eq!(first.status, 202);
    assert_eq!(first.class, RateClass::Bulk);
    assert!(first.at >= started);
    assert_eq!((log[1].status, log[1].client.as_deref()), (403, None));
    assert_eq!((log[2].path.as_str(), log[2].status), ("/alive", 200));
    assert_eq!(log[3].class, RateClass::Bulk);
    assert_eq!(log[3].body_bytes, 0);
    assert!(
        log.windows(2).all(|w| w[0].at <= w[1].at),
        "in arrival order"
    );
    api.store.clear_requests();
    assert!(api.store.requests().is_empty());
}

// ---- faults ----------------------------------------------------------------------

#[tokio::test]
async fn temporary_errors_hit_entities_once_and_the_retry_settles_them() {
    let faults = Faults {
        temporary_error_share: 1.0,
        ..Faults::default()
    };
    let api = Api::start(roomy(), faults, SETTLE).await;
    let id = Uuid::new_v4();
    let body = data(vec![student(
        id,
        &pnr("20090127", 827),
        "t@edu.se",
        UNIT_A,
        6,
    )]);
    let job = api.run(Method::POST, "/persons/bulk", &body).await;
    let response = &outcome(&job, id)["response"];
    assert_eq!(response["status"], json!("TemporaryError"));
    assert_eq!(response["statusCode"], json!(503));
    assert_eq!(ids_in(&response["errors"]), vec!["9190".to_string()]);
    assert!(api.store.person(id).is_none());
    // showOnlyError keeps to status Error.
    let job_id = job["jobId"].as_str().unwrap();
    let only = api
        .get(&format!("/persons/bulk/jobs/{job_id}?showOnlyError=true"))
        .await;
    assert_eq!(only.body["responses"], json!([]));

    let job = api.run(Method::POST, "/persons/bulk", &body).await;
    assert_eq!(status_of(&job, id), "Success");
    assert!(api.store.person(id).is_some());
}

#[tokio::test]
async fn injected_bursts_server_errors_slowness_and_long_pending_jobs() {
    let faults = Faults {
        rate_limit_burst: 2,
        ..Faults::default()
    };
    let api = Api::start(roomy(), faults, SETTLE).await;
    for _ in 0..2 {
        let reply = api.get("/persons").await;
        assert_log_answer(&reply, 429, "5021");
        assert_eq!(reply.header("x-ratelimit-remaining"), "0");
        assert_rate_headers(&reply);
    }
    assert_eq!(api.get("/persons").await.status, StatusCode::OK);

    api.faults.set(Faults {
        server_error_share: 1.0,
        ..Faults::default()
    });
    let mut seen = HashSet::new();
    for _ in 0..12 {
        let reply = api.post("/persons/bulk", &data(vec![])).await;
        let code = reply.status.as_u16();
        let id = match code {
            503 => "5022",
            500 => "5004",
            other => panic!("expected 5xx, got {other}"),
        };
        assert_log_answer(&reply, code, id);
        assert_rate_headers(&reply);
        seen.insert(code);
    }
    assert_eq!(seen.len(), 2, "both 503 and 500 occur");
    assert_eq!(api.store.pending_jobs(), 0);

    api.faults.set(Faults {
        slow: Duration::from_millis(150),
        pending_extra: Duration::from_millis(300),
        ..Faults::default()
    });
    let started = Instant::now();
    let id = Uuid::new_v4();
    let body = data(vec![student(
        id,
        &pnr("20090127", 835),
        "slow@edu.se",
        UNIT_A,
        6,
    )]);
    let (_, job_id) = api.submit(Method::POST, "/persons/bulk", &body).await;
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "slow answers"
    );
    tokio::time::sleep(SETTLE).await;
    let pending = api.get(&format!("/persons/bulk/jobs/{job_id}")).await;
    assert_eq!(
        status_of(&pending.body, id),
        "Pending",
        "still pending after the settle delay"
    );
    let job = api.settle("persons", job_id).await;
    assert_eq!(status_of(&job, id), "Success");
}
