//! The EduCloud emulator: the OAuth2 token endpoint as skolid.se behaves, and
//! the SS 12000 v2 read API (EduCloud's and the generic one) with paging,
//! incremental reads, deletions, `expand`, errors in the spec's shape and
//! the injected faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skolsync_model::ss12000::{
    Activity, Duty, EntityKind, Group, Organisation, Person, Programme, SourceId, Syllabus,
};
use skolsync_sandbox::OverMaxPageSize;
use skolsync_sandbox::educloud::{self, EduCloudSettings, SourceCalls, Subscriptions, TokenStore};
use skolsync_sandbox::generate::{GenerateConfig, generate};
use skolsync_sandbox::{FaultSwitch, Faults, SourceData, SourceFaults, World};
use uuid::Uuid;

const CUSTOMER: &str = "SE00100";
const CLIENT_ID: &str = "skolsync-test";
const CLIENT_SECRET: &str = "s3cret";
const STATIC_TOKEN: &str = "static-ss12000-token";
const PERSONS: usize = 250;

fn id(name: &str) -> String {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

fn entity<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn past() -> Value {
    json!({"created": "2024-01-01T08:00:00+01:00", "modified": "2024-06-01T08:00:00+02:00"})
}

/// A small municipality: an organiser, two school units, 250 pupils, two
/// teachers with duties, a class, a teaching group, an activity, a syllabus
/// and a programme.
fn source() -> SourceData {
    let org = id("org");
    let unit = |n: &str| id(&format!("unit-{n}"));
    let mut data = SourceData {
        organisations: vec![
            entity(
                json!({"id": org, "meta": past(), "displayName": "Exempelby kommun",
                "organisationType": "Huvudman", "organisationNumber": "2120001234"}),
            ),
            entity(
                json!({"id": unit("a"), "meta": past(), "displayName": "Åsens skola",
                "organisationType": "Skolenhet", "schoolUnitCode": "31279295", "schoolTypes": ["GR"],
                "parentOrganisation": {"id": org}, "municipalityCode": "0199"}),
            ),
            entity(
                json!({"id": unit("b"), "meta": past(), "displayName": "Bergets gymnasium",
                "organisationType": "Skolenhet", "schoolUnitCode": "40000001", "schoolTypes": ["GY"],
                "parentOrganisation": {"id": org}, "municipalityCode": "0199"}),
            ),
        ],
        ..SourceData::default()
    };
    for i in 0..PERSONS {
        data.persons.push(entity(json!({
            "id": id(&format!("pupil-{i}")), "meta": past(),
            "givenName": format!("Elev{i}"), "familyName": "Åkesson",
            "civicNo": {"value": format!("2012010{:05}", i)},
            "eduPersonPrincipalNames": [format!("p{i}@exempelby.se")],
            "enrolments": [{"enroledAt": {"id": unit("a")}, "schoolType": "GR", "schoolYear": 6,
                            "startDate": "2020-08-17"}]
        })));
    }
    for t in 0..2 {
        data.persons.push(entity(json!({
            "id": id(&format!("teacher-{t}")), "meta": past(),
            "givenName": format!("Lärare{t}"), "familyName": "Öberg",
            "emails": [{"value": format!("t{t}@exempelby.se"), "type": "Skola personal"}]
        })));
        data.duties.push(entity(json!({
            "id": id(&format!("duty-{t}")), "meta": past(),
            "person": {"id": id(&format!("teacher-{t}"))}, "dutyAt": {"id": unit("a")},
            "dutyRole": "Lärare", "startDate": "2020-08-01"
        })));
    }
    let members: Vec<Value> = (0..25)
        .map(|i| json!({"person": {"id": id(&format!("pupil-{i}"))}, "startDate": "2026-08-17"}))
        .collect();
    data.groups.push(entity(json!({
        "id": id("class-6a"), "meta": past(), "displayName": "6A", "groupType": "Klass",
        "schoolType": "GR", "organisation": {"id": unit("a")}, "startDate": "2026-08-17",
        "groupMemberships": members
    })));
    data.groups.push(entity(json!({
        "id": id("ma-6a"), "meta": past(), "displayName": "MA 6A", "groupType": "Undervisning",
        "schoolType": "GR", "organisation": {"id": unit("a")}, "startDate": "2026-08-17",
        "groupMemberships": members
    })));
    data.syllabuses.push(entity(json!({
        "id": id("syl-ma"), "meta": past(), "schoolType": "GR", "subjectCode": "GRGRMAT01",
        "subjectName": "Matematik", "startSchoolYear": 4, "endSchoolYear": 6, "official": true
    })));
    data.activities.push(entity(json!({
        "id": id("act-ma-6a"), "meta": past(), "displayName": "Matematik 6A", "activityType": "Undervisning",
        "startDate": "2026-08-17", "groups": [{"id": id("ma-6a")}],
        "teachers": [{"duty": {"id": id("duty-0")}}], "syllabus": {"id": id("syl-ma")},
        "organisation": {"id": unit("a")},
        "parentActivity": [{"id": "b229977a-7bd3-58ad-b7a2-3fdc774840fd"}]
    })));
    data.programmes.push(entity(json!({
        "id": id("prog-na"), "meta": past(), "name": "Naturvetenskapsprogrammet", "code": "NANAT",
        "schoolType": "GY"
    })));
    data
}

struct Fixture {
    base: String,
    world: World,
    tokens: TokenStore,
    faults: Arc<FaultSwitch>,
    client: reqwest::Client,
}

impl Fixture {
    async fn start() -> Fixture {
        Fixture::with_source(source()).await
    }

    async fn with_source(data: SourceData) -> Fixture {
        let world = World::new(Default::default(), data);
        let tokens = TokenStore::new();
        let settings = EduCloudSettings {
            customer_id: CUSTOMER.to_string(),
            client_id: CLIENT_ID.to_string(),
            client_secret: CLIENT_SECRET.to_string(),
            token_lifetime: Duration::from_secs(3600),
            ss12000_token: STATIC_TOKEN.to_string(),
            default_page_size: 100,
            max_page_size: 500,
            over_max_page_size: OverMaxPageSize::Clamp,
            latency: Duration::ZERO,
            tokens: tokens.clone(),
            calls: SourceCalls::new(),
            subscriptions: Subscriptions::new(Duration::from_secs(3600)),
        };
        let faults = Arc::new(FaultSwitch::new(Faults::default(), 3));
        let router = educloud::router(world.clone(), settings, Arc::clone(&faults));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Fixture {
            base: format!("http://{addr}"),
            world,
            tokens,
            faults,
            client: reqwest::Client::new(),
        }
    }

    fn api(&self) -> String {
        format!("{}{}", self.base, educloud::educloud_base(CUSTOMER))
    }

    fn token_url(&self) -> String {
        format!("{}{}", self.base, educloud::TOKEN_PATH)
    }

    async fn token(&self) -> String {
        let response = self
            .client
            .post(self.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn get(&self, token: &str, url: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(url)
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    async fn get_json(&self, token: &str, url: &str, query: &[(&str, &str)]) -> Value {
        let response = self.get(token, url, query).await;
        assert_eq!(response.status(), 200, "{url} {query:?}");
        response.json().await.unwrap()
    }

    /// Every entity of a list endpoint, page by page; also checks the envelope.
    async fn all_pages(
        &self,
        token: &str,
        resource: &str,
        first: &[(&str, &str)],
        limit: &str,
    ) -> (Vec<Value>, usize) {
        let url = format!("{}/{resource}", self.api());
        let mut query: Vec<(&str, String)> =
            first.iter().map(|(k, v)| (*k, v.to_string())).collect();
        query.push(("limit", limit.to_string()));
        let mut all = Vec::new();
        let mut pages = 0;
        loop {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let page = self.get_json(token, &url, &q).await;
            pages += 1;
            let data = page["data"].as_array().expect("`data` is an array");
            assert!(data.len() <= limit.parse().unwrap());
            all.extend(data.iter().cloned());
            match &page["pageToken"] {
                Value::Null => break,
                Value::String(t) => {
                    query = vec![("pageToken", t.clone()), ("limit", limit.to_string())]
                }
                other => panic!("pageToken must be a string or null, got {other}"),
            }
            assert!(pages < 1000, "paging ends");
        }
        (all, pages)
    }
}

/// The SS 12000 `Error` body: `code` and `message`, both strings.
async fn check_error(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    assert!(body["code"].is_string(), "code is a string: {body}");
    assert!(body["message"].is_string(), "message is a string: {body}");
    body
}

fn ids(entities: &[Value]) -> Vec<String> {
    entities
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Token endpoint.

#[tokio::test]
async fn tokens_are_issued_for_form_and_basic_credentials() {
    let fx = Fixture::start().await;
    let response = fx
        .client
        .post(fx.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("scope", "ss12000v2-api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "ss12000v2-api");
    let form_token = body["access_token"].as_str().unwrap().to_string();
    assert!(form_token.len() >= 32);

    let response = fx
        .client
        .post(fx.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let basic_token = body["access_token"].as_str().unwrap().to_string();
    assert_ne!(form_token, basic_token, "tokens are random");

    for token in [&form_token, &basic_token] {
        let page = fx
            .get_json(token, &format!("{}/organisations", fx.api()), &[])
            .await;
        assert_eq!(page["data"].as_array().unwrap().len(), 3);
    }
}

#[tokio::test]
async fn wrong_credentials_and_grants_are_refused() {
    let fx = Fixture::start().await;
    async fn post(fx: &Fixture, form: Vec<(&str, &str)>) -> reqwest::Result<reqwest::Response> {
        fx.client.post(fx.token_url()).form(&form).send().await
    }
    let invalid_client = [
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "someone"),
            ("client_secret", CLIENT_SECRET),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
        ],
        vec![("grant_type", "client_credentials")],
    ];
    for form in invalid_client {
        let response = post(&fx, form.clone()).await.unwrap();
        assert_eq!(response.status(), 401, "{form:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
    }
    let response = fx
        .client
        .post(fx.token_url())
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let response = post(
        &fx,
        vec![
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let response = post(
        &fx,
        vec![("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)],
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // A JSON body is not what the endpoint takes.
    let response = fx
        .client
        .post(fx.token_url())
        .json(&json!({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(fx.tokens.live(), 0, "no token was issued");
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_get_401() {
    let fx = Fixture::start().await;
    let url = format!("{}/persons", fx.api());
    let response = fx.client.get(&url).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    check_error(response, 401).await;
    check_error(fx.get("made-up", &url, &[]).await, 401).await;
    check_error(fx.get(STATIC_TOKEN, &url, &[]).await, 401).await;

    let token = fx.token().await;
    assert_eq!(fx.get(&token, &url, &[]).await.status(), 200);
    fx.tokens.expire_all();
    let response = fx.get(&token, &url, &[]).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    check_error(response, 401).await;

    // Tokens that expire early: a fresh token is already dead.
    let token = fx.token().await;
    fx.faults.set_source(SourceFaults {
        token_early_expiry_secs: 3600,
        ..SourceFaults::default()
    });
    check_error(fx.get(&token, &url, &[]).await, 401).await;
    fx.faults.set_source(SourceFaults::default());
    assert_eq!(fx.get(&token, &url, &[]).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_customer_is_404() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}{}/persons", fx.base, educloud::educloud_base("SE99999"));
    let body = check_error(fx.get(&token, &url, &[]).await, 404).await;
    assert!(body["message"].as_str().unwrap().contains("SE99999"));
}

#[tokio::test]
async fn the_generic_api_takes_the_static_token_only() {
    let fx = Fixture::start().await;
    let url = format!("{}{}/persons", fx.base, educloud::GENERIC_BASE);
    let page = fx.get_json(STATIC_TOKEN, &url, &[("limit", "5")]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 5);
    check_error(fx.get("wrong", &url, &[]).await, 401).await;
    check_error(fx.client.get(&url).send().await.unwrap(), 401).await;
    let educloud_token = fx.token().await;
    check_error(fx.get(&educloud_token, &url, &[]).await, 401).await;
    // The same data under both bases.
    let generic = fx
        .get_json(
            STATIC_TOKEN,
            &format!("{}{}/groups", fx.base, educloud::GENERIC_BASE),
            &[],
        )
        .await;
    let edu = fx
        .get_json(&educloud_token, &format!("{}/groups", fx.api()), &[])
        .await;
    assert_eq!(generic, edu);
}

// ---------------------------------------------------------------------------
// Lists.

#[tokio::test]
async fn paging_visits_every_entity_exactly_once() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let (persons, pages) = fx.all_pages(&token, "persons", &[], "7").await;
    let total = PERSONS + 2;
    assert_eq!(persons.len(), total);
    assert_eq!(pages, total.div_ceil(7));
    let unique: HashSet<String> = ids(&persons).into_iter().collect();
    assert_eq!(unique.len(), total);

    // Without a limit the server's default page size applies (100 here).
    let first = fx
        .get_json(&token, &format!("{}/persons", fx.api()), &[])
        .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 100);
    assert!(first["pageToken"].is_string());
    // A limit above the maximum gets the maximum and a token, not an error.
    let (all, pages) = fx.all_pages(&token, "persons", &[], "100000").await;
    assert_eq!((all.len(), pages), (total, 1));

    // An exact fit leaves no empty trailing page.
    let (_, pages) = fx
        .all_pages(&token, "persons", &[], &total.to_string())
        .await;
    assert_eq!(pages, 1);
}

#[tokio::test]
async fn invalid_limits_and_tokens_are_400() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}/persons", fx.api());
    for limit in ["0", "-1", "ten", "2.5"] {
        check_error(fx.get(&token, &url, &[("limit", limit)]).await, 400).await;
    }
    check_error(
        fx.get(&token, &url, &[("pageToken", "not-a-token")]).await,
        400,
    )
    .await;
    // A token cannot be combined with new filters, and belongs to its endpoint.
    let first = fx.get_json(&token, &url, &[("limit", "2")]).await;
    let next = first["pageToken"].as_str().unwrap();
    check_error(
        fx.get(
            &token,
            &url,
            &[
                ("pageToken", next),
                ("meta.modified.after", "2024-01-01T00:00:00Z"),
            ],
        )
        .await,
        400,
    )
    .await;
    check_error(
        fx.get(
            &token,
            &format!("{}/groups", fx.api()),
            &[("pageToken", next)],
        )
        .await,
        400,
    )
    .await;
    check_error(
        fx.get(&token, &url, &[("meta.modified.after", "last tuesday")])
            .await,
        400,
    )
    .await;
    check_error(fx.get(&token, &url, &[("expand", "everything")]).await, 400).await;
    check_error(
        fx.get(&token, &url, &[("sortkey", "GivenNameAsc")]).await,
        400,
    )
    .await;
}

#[tokio::test]
async fn modified_after_returns_only_what_changed() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}/persons", fx.api());
    let before_change = Utc::now().to_rfc3339();
    let empty = fx
        .get_json(&token, &url, &[("meta.modified.after", &before_change)])
        .await;
    assert_eq!(empty["data"], json!([]));
    assert_eq!(empty["pageToken"], Value::Null);

    // One pupil renamed, one new pupil, one group changed.
    let mut renamed: Person = fx
        .world
        .source
        .read()
        .unwrap()
        .get::<Person>(&SourceId::new(id("pupil-42")))
        .cloned()
        .unwrap();
    renamed.family_name = "Ärlig".to_string();
    let changed_at = fx.world.upsert(renamed).unwrap();
    let newcomer: Person =
        entity(json!({"id": id("pupil-new"), "givenName": "Ny", "familyName": "Elev"}));
    fx.world.upsert(newcomer).unwrap();

    let (changed, _) = fx
        .all_pages(
            &token,
            "persons",
            &[("meta.modified.after", &before_change)],
            "1",
        )
        .await;
    assert_eq!(ids(&changed), [id("pupil-42"), id("pupil-new")]);
    assert_eq!(changed[0]["familyName"], "Ärlig");
    let modified =
        DateTime::parse_from_rfc3339(changed[0]["meta"]["modified"].as_str().unwrap()).unwrap();
    assert_eq!(modified, changed_at);
    assert_eq!(
        changed[0]["meta"]["created"], "2024-01-01T08:00:00+01:00",
        "created is kept"
    );
    assert!(
        changed[1]["meta"]["created"].is_string(),
        "a new entity gets a creation time"
    );

    // `after` is exclusive: nothing is modified after the last change.
    let last = fx
        .world
        .source
        .read()
        .unwrap()
        .persons
        .iter()
        .filter_map(|p| p.meta.modified)
        .max()
        .unwrap();
    let after_last = fx
        .get_json(&token, &url, &[("meta.modified.after", &last.to_rfc3339())])
        .await;
    assert_eq!(after_last["data"], json!([]));
    // Created-after sees only the newcomer.
    let created = fx
        .get_json(&token, &url, &[("meta.created.after", &before_change)])
        .await;
    assert_eq!(ids(created["data"].as_array().unwrap()), [id("pupil-new")]);
}

#[tokio::test]
async fn deletions_appear_in_deleted_entities_after_their_time() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let deleted_url = format!("{}/deletedEntities", fx.api());
    let before = Utc::now().to_rfc3339();
    let nothing = fx
        .get_json(&token, &deleted_url, &[("after", &before)])
        .await;
    assert_eq!(nothing["data"]["persons"], json!([]));

    assert!(
        fx.world
            .delete(EntityKind::Person, &SourceId::new(id("pupil-7")))
    );
    assert!(
        fx.world
            .delete(EntityKind::Activity, &SourceId::new(id("act-ma-6a")))
    );
    assert!(
        !fx.world
            .delete(EntityKind::Person, &SourceId::new(id("pupil-7"))),
        "already gone"
    );
    let after_deletions = Utc::now().to_rfc3339();

    let all = fx
        .get_json(&token, &deleted_url, &[("after", &before)])
        .await;
    assert_eq!(all["data"]["persons"], json!([id("pupil-7")]));
    // The spec spells the key of deleted activities `activitites`.
    assert_eq!(all["data"]["activitites"], json!([id("act-ma-6a")]));
    assert_eq!(all["pageToken"], Value::Null);

    let only_groups = fx
        .get_json(
            &token,
            &deleted_url,
            &[("after", &before), ("entities", "Group")],
        )
        .await;
    assert_eq!(only_groups["data"], json!({"groups": []}));
    let persons_only = fx
        .get_json(
            &token,
            &deleted_url,
            &[("entities", "Person"), ("entities", "Duty")],
        )
        .await;
    assert_eq!(
        persons_only["data"],
        json!({"persons": [id("pupil-7")], "duties": []})
    );
    let later = fx
        .get_json(&token, &deleted_url, &[("after", &after_deletions)])
        .await;
    assert_eq!(later["data"]["persons"], json!([]));

    // Paged one deletion at a time.
    let first = fx.get_json(&token, &deleted_url, &[("limit", "1")]).await;
    assert_eq!(first["data"]["persons"], json!([id("pupil-7")]));
    let next = first["pageToken"].as_str().unwrap();
    let second = fx
        .get_json(&token, &deleted_url, &[("pageToken", next)])
        .await;
    assert_eq!(second["data"]["activitites"], json!([id("act-ma-6a")]));
    assert_eq!(second["data"]["persons"], json!([]));
    assert_eq!(second["pageToken"], Value::Null);
    check_error(
        fx.get(&token, &deleted_url, &[("entities", "Pupil")]).await,
        400,
    )
    .await;

    // The deleted person is gone from the lists and by id.
    let (persons, _) = fx.all_pages(&token, "persons", &[], "500").await;
    assert!(!ids(&persons).contains(&id("pupil-7")));
    check_error(
        fx.get(
            &token,
            &format!("{}/persons/{}", fx.api(), id("pupil-7")),
            &[],
        )
        .await,
        404,
    )
    .await;
}

#[tokio::test]
async fn paging_survives_deletions_between_pages() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}/persons", fx.api());
    let first = fx.get_json(&token, &url, &[("limit", "10")]).await;
    let first_ids = ids(first["data"].as_array().unwrap());
    // Delete two already-served persons before the next page is asked for.
    for gone in &first_ids[..2] {
        fx.world.delete(EntityKind::Person, &SourceId::new(gone));
    }
    let next = fx
        .get_json(
            &token,
            &url,
            &[
                ("limit", "10"),
                ("pageToken", first["pageToken"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(
        next["data"][0]["id"],
        id("pupil-10"),
        "nothing skipped, nothing repeated"
    );
}

#[tokio::test]
async fn single_entities_by_id() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let person = fx
        .get_json(
            &token,
            &format!("{}/persons/{}", fx.api(), id("pupil-3")),
            &[],
        )
        .await;
    assert_eq!(person["id"], id("pupil-3"));
    assert_eq!(person["civicNo"]["value"], "201201000003");
    let unknown = Uuid::new_v4();
    check_error(
        fx.get(&token, &format!("{}/persons/{unknown}", fx.api()), &[])
            .await,
        404,
    )
    .await;
    check_error(
        fx.get(&token, &format!("{}/groups/not-a-uuid", fx.api()), &[])
            .await,
        400,
    )
    .await;
    for (resource, key) in [
        ("organisations", "org"),
        ("duties", "duty-1"),
        ("groups", "class-6a"),
        ("activities", "act-ma-6a"),
        ("syllabuses", "syl-ma"),
        ("programmes", "prog-na"),
    ] {
        let one = fx
            .get_json(&token, &format!("{}/{resource}/{}", fx.api(), id(key)), &[])
            .await;
        assert_eq!(one["id"], id(key), "{resource}");
    }
}

/// Fields the SS 12000 schemas require, for what the emulator serves.
fn check_required(resource: &str, e: &Value) {
    let required: &[&str] = match resource {
        "organisations" => &["id", "meta", "displayName", "organisationType"],
        "persons" => &["id", "givenName", "familyName"],
        "duties" => &["id", "dutyAt", "dutyRole", "startDate"],
        "groups" => &[
            "id",
            "displayName",
            "groupType",
            "startDate",
            "organisation",
        ],
        "activities" => &[
            "id",
            "displayName",
            "organisation",
            "calendarEventsRequired",
            "startDate",
            "groups",
        ],
        "syllabuses" => &["id", "schoolType", "subjectCode", "subjectName", "official"],
        "programmes" => &["name", "schoolType"],
        _ => unreachable!(),
    };
    for key in required {
        assert!(
            e.get(*key).is_some_and(|v| !v.is_null()),
            "{resource}: `{key}` missing in {e}"
        );
    }
    if resource == "activities" {
        assert!(e["calendarEventsRequired"].is_boolean());
        if let Some(parent) = e.get("parentActivity") {
            assert!(
                parent.is_object() && parent["id"].is_string(),
                "parentActivity is one reference: {parent}"
            );
        }
    }
}

#[tokio::test]
async fn activities_expand_their_syllabus_groups_and_teachers() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}/activities", fx.api());
    let plain = fx.get_json(&token, &url, &[]).await;
    let activity = &plain["data"][0];
    check_required("activities", activity);
    assert_eq!(
        activity["parentActivity"],
        json!({"id": "b229977a-7bd3-58ad-b7a2-3fdc774840fd"})
    );
    assert!(activity.get("_embedded").is_none());

    let expanded = fx.get_json(&token, &url, &[("expand", "syllabus")]).await;
    let embedded = &expanded["data"][0]["_embedded"];
    assert_eq!(embedded["syllabus"]["subjectCode"], "GRGRMAT01");
    assert_eq!(embedded["syllabus"]["id"], id("syl-ma"));
    assert!(embedded.get("groups").is_none());

    let all = fx
        .get_json(
            &token,
            &url,
            &[("expand", "groups"), ("expand", "teachers,syllabus")],
        )
        .await;
    let embedded = &all["data"][0]["_embedded"];
    assert_eq!(embedded["groups"][0]["displayName"], "MA 6A");
    assert_eq!(
        embedded["groups"][0]["groupMemberships"]
            .as_array()
            .unwrap()
            .len(),
        25
    );
    assert_eq!(embedded["teachers"][0]["id"], id("duty-0"));
    assert_eq!(embedded["teachers"][0]["dutyRole"], "Lärare");

    let one = fx
        .get_json(
            &token,
            &format!("{url}/{}", id("act-ma-6a")),
            &[("expand", "syllabus")],
        )
        .await;
    assert_eq!(one["_embedded"]["syllabus"]["subjectName"], "Matematik");
}

#[tokio::test]
async fn persons_and_duties_expand_and_names_are_filled_in() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let teacher = fx
        .get_json(
            &token,
            &format!("{}/persons/{}", fx.api(), id("teacher-0")),
            &[("expand", "duties,groupMemberships")],
        )
        .await;
    assert_eq!(teacher["_embedded"]["duties"][0]["id"], id("duty-0"));
    assert_eq!(teacher["_embedded"]["groupMemberships"], json!([]));
    let pupil = fx
        .get_json(
            &token,
            &format!("{}/persons/{}", fx.api(), id("pupil-1")),
            &[("expand", "groupMemberships")],
        )
        .await;
    let memberships = pupil["_embedded"]["groupMemberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 2);
    assert_eq!(memberships[0]["group"]["displayName"], "6A");
    assert!(
        memberships[0]["group"].get("groupMemberships").is_none(),
        "a group fragment"
    );

    let duty = fx
        .get_json(
            &token,
            &format!("{}/duties/{}", fx.api(), id("duty-1")),
            &[("expand", "person")],
        )
        .await;
    assert_eq!(duty["_embedded"]["person"]["givenName"], "Lärare1");

    let named = fx
        .get_json(
            &token,
            &format!("{}/persons/{}", fx.api(), id("pupil-1")),
            &[("expandReferenceNames", "true")],
        )
        .await;
    assert_eq!(
        named["enrolments"][0]["enroledAt"]["displayName"],
        "Åsens skola"
    );
    let plain = fx
        .get_json(
            &token,
            &format!("{}/persons/{}", fx.api(), id("pupil-1")),
            &[],
        )
        .await;
    assert!(
        plain["enrolments"][0]["enroledAt"]
            .get("displayName")
            .is_none()
    );
    let activity = fx
        .get_json(
            &token,
            &format!("{}/activities", fx.api()),
            &[("expandReferenceNames", "true")],
        )
        .await;
    let a = &activity["data"][0];
    assert_eq!(a["groups"][0]["displayName"], "MA 6A");
    assert_eq!(a["teachers"][0]["duty"]["displayName"], "Lärare0 Öberg");
    assert_eq!(a["syllabus"]["displayName"], "Matematik");
}

#[tokio::test]
async fn filters_of_the_spec_narrow_the_lists() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let api = fx.api();
    let units = fx
        .get_json(
            &token,
            &format!("{api}/organisations"),
            &[("type", "Skolenhet"), ("schoolUnitCode", "31279295")],
        )
        .await;
    assert_eq!(ids(units["data"].as_array().unwrap()), [id("unit-a")]);
    let classes = fx
        .get_json(&token, &format!("{api}/groups"), &[("groupType", "Klass")])
        .await;
    assert_eq!(ids(classes["data"].as_array().unwrap()), [id("class-6a")]);
    check_error(
        fx.get(
            &token,
            &format!("{api}/groups"),
            &[("groupType", "Studiegrupp")],
        )
        .await,
        400,
    )
    .await;
    let by_civic = fx
        .get_json(
            &token,
            &format!("{api}/persons"),
            &[("civicNo", "201201000042")],
        )
        .await;
    assert_eq!(ids(by_civic["data"].as_array().unwrap()), [id("pupil-42")]);
    let teachers = fx
        .get_json(
            &token,
            &format!("{api}/persons"),
            &[("relationship.entity.type", "duty")],
        )
        .await;
    assert_eq!(
        ids(teachers["data"].as_array().unwrap()),
        [id("teacher-0"), id("teacher-1")]
    );
    let of_member = fx
        .get_json(
            &token,
            &format!("{api}/activities"),
            &[("member", &id("pupil-3"))],
        )
        .await;
    assert_eq!(
        ids(of_member["data"].as_array().unwrap()),
        [id("act-ma-6a")]
    );
    let not_member = fx
        .get_json(
            &token,
            &format!("{api}/activities"),
            &[("member", &id("pupil-200"))],
        )
        .await;
    assert_eq!(not_member["data"], json!([]));
    let at_unit = fx
        .get_json(
            &token,
            &format!("{api}/duties"),
            &[("organisation", &id("org"))],
        )
        .await;
    assert_eq!(
        at_unit["data"].as_array().unwrap().len(),
        2,
        "duties under the organiser's units"
    );

    // A filter stays in force across pages.
    let (enrolled, pages) = fx
        .all_pages(
            &token,
            "persons",
            &[("relationship.entity.type", "enrolment")],
            "60",
        )
        .await;
    assert_eq!(enrolled.len(), PERSONS);
    assert_eq!(pages, PERSONS.div_ceil(60));

    let looked_up = fx
        .client
        .post(format!("{api}/persons/lookup"))
        .bearer_auth(&token)
        .json(&json!({"ids": [id("teacher-1")], "civicNos": ["201201000005"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(looked_up.status(), 200);
    let found: Value = looked_up.json().await.unwrap();
    assert_eq!(
        ids(found.as_array().unwrap()),
        [id("pupil-5"), id("teacher-1")]
    );
}

#[tokio::test]
async fn raw_overrides_are_served_in_place_of_the_typed_entity() {
    let mut data = source();
    let dirty = json!({"id": id("class-6a"), "displayName": "6A", "groupType": "Studiegrupp",
        "organisation": {"id": id("unit-a")}, "startDate": "2026-08-17"});
    data.raw_overrides.insert(
        (EntityKind::Group, SourceId::new(id("class-6a"))),
        dirty.clone(),
    );
    let fx = Fixture::with_source(data).await;
    let token = fx.token().await;
    let list = fx
        .get_json(&token, &format!("{}/groups", fx.api()), &[])
        .await;
    assert_eq!(list["data"][0], dirty);
    assert_eq!(list["data"][1]["groupType"], "Undervisning");
    let one = fx
        .get_json(
            &token,
            &format!("{}/groups/{}", fx.api(), id("class-6a")),
            &[],
        )
        .await;
    assert_eq!(one, dirty);

    // An edit replaces the raw JSON.
    let mut edited: Group = fx
        .world
        .source
        .read()
        .unwrap()
        .get::<Group>(&SourceId::new(id("class-6a")))
        .cloned()
        .unwrap();
    edited.display_name = "6A (ny)".to_string();
    fx.world.upsert(edited);
    let one = fx
        .get_json(
            &token,
            &format!("{}/groups/{}", fx.api(), id("class-6a")),
            &[],
        )
        .await;
    assert_eq!(one["groupType"], "Klass");
    assert_eq!(one["displayName"], "6A (ny)");
}

// ---------------------------------------------------------------------------
// Faults.

#[tokio::test]
async fn a_429_burst_carries_retry_after_then_recovers() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    let url = format!("{}/persons", fx.api());
    fx.faults.set_source(SourceFaults {
        rate_limit_burst: 2,
        retry_after_secs: 3,
        ..SourceFaults::default()
    });
    for _ in 0..2 {
        let response = fx.get(&token, &url, &[("limit", "1")]).await;
        assert_eq!(response.headers()["retry-after"], "3");
        check_error(response, 429).await;
    }
    assert_eq!(fx.get(&token, &url, &[("limit", "1")]).await.status(), 200);
}

#[tokio::test]
async fn injected_server_errors_are_counted_503s_then_a_share_of_500s() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    fx.faults.set_source(SourceFaults {
        unavailable_calls: 2,
        retry_after_secs: 1,
        server_error_share: 1.0,
        ..SourceFaults::default()
    });
    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = fx.get(&token, &format!("{}/groups", fx.api()), &[]).await;
        let status = response.status().as_u16();
        seen.push(status);
        check_error(response, status).await;
    }
    assert_eq!(seen, [503, 503, 500, 500]);
    fx.faults.set_source(SourceFaults::default());
    let response = fx.get(&token, &format!("{}/groups", fx.api()), &[]).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_provtjanst_faults_do_not_touch_the_source() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    fx.faults.set(Faults {
        rate_limit_burst: 3,
        server_error_share: 1.0,
        ..Faults::default()
    });
    for _ in 0..4 {
        let response = fx.get(&token, &format!("{}/persons", fx.api()), &[]).await;
        assert_eq!(response.status(), 200);
    }
}

#[tokio::test]
async fn an_unserved_resource_is_404_and_the_others_are_served() {
    let fx = Fixture::start().await;
    let token = fx.token().await;
    fx.faults.set_source(SourceFaults {
        unserved: vec!["syllabuses".to_string(), "programmes".to_string()],
        ..SourceFaults::default()
    });
    let response = fx
        .get(&token, &format!("{}/syllabuses", fx.api()), &[])
        .await;
    check_error(response, 404).await;
    let response = fx
        .get(&token, &format!("{}/programmes", fx.api()), &[])
        .await;
    check_error(response, 404).await;
    let response = fx.get(&token, &format!("{}/persons", fx.api()), &[]).await;
    assert_eq!(response.status(), 200);
}

// ---------------------------------------------------------------------------
// A generated municipality.

#[tokio::test]
async fn a_generated_municipality_is_served_whole_and_within_the_schemas() {
    let municipality = generate(&GenerateConfig {
        students: 300,
        ..GenerateConfig::default()
    });
    let expected = municipality.source.clone();
    let fx = Fixture::with_source(municipality.source).await;
    let token = fx.token().await;
    let counts = [
        ("organisations", expected.organisations.len()),
        ("persons", expected.persons.len()),
        ("duties", expected.duties.len()),
        ("groups", expected.groups.len()),
        ("activities", expected.activities.len()),
        ("syllabuses", expected.syllabuses.len()),
        ("programmes", expected.programmes.len()),
    ];
    for (resource, count) in counts {
        let (all, _) = fx.all_pages(&token, resource, &[], "97").await;
        assert_eq!(all.len(), count, "{resource}");
        for e in &all {
            check_required(resource, e);
        }
    }
    // The typed model reads back what it served.
    let (persons, _) = fx.all_pages(&token, "persons", &[], "500").await;
    let _: Vec<Person> = persons.into_iter().map(entity).collect();
    let (duties, _) = fx.all_pages(&token, "duties", &[], "500").await;
    let _: Vec<Duty> = duties.into_iter().map(entity).collect();
    let (orgs, _) = fx.all_pages(&token, "organisations", &[], "500").await;
    let _: Vec<Organisation> = orgs.into_iter().map(entity).collect();
    let (activities, _) = fx
        .all_pages(&token, "activities", &[("expand", "syllabus")], "500")
        .await;
    assert!(
        activities
            .iter()
            .all(|a| a["_embedded"]["syllabus"].is_object() || a.get("syllabus").is_none())
    );
    let _: Vec<Activity> = activities.into_iter().map(entity).collect();
    let (syllabuses, _) = fx.all_pages(&token, "syllabuses", &[], "500").await;
    let _: Vec<Syllabus> = syllabuses.into_iter().map(entity).collect();
    let (programmes, _) = fx.all_pages(&token, "programmes", &[], "500").await;
    let _: Vec<Programme> = programmes.into_iter().map(entity).collect();
    let deleted = fx
        .get_json(&token, &format!("{}/deletedEntities", fx.api()), &[])
        .await;
    let served: usize = deleted["data"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(served, expected.deleted.len());
}
