//! The sandbox's source behaving like a real SS 12000 server: capped and
//! slow pages, counted calls, subscriptions with webhooks, and a
//! municipality that changes while it is served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use skolsync_model::codes::{DutyRole, GroupType};
use skolsync_model::ss12000::{EntityKind, Group, Person, SourceId};
use skolsync_sandbox::change::Changed;
use skolsync_sandbox::webhooks::Outcome;
use skolsync_sandbox::{OverMaxPageSize, Sandbox, SandboxConfig, SourceOptions};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn options() -> SourceOptions {
    SourceOptions {
        latency: Duration::ZERO,
        ..SourceOptions::default()
    }
}

async fn start(source: SourceOptions) -> Sandbox {
    Sandbox::start(SandboxConfig {
        students: 1500,
        source,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// A client of the generic SS 12000 API.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn of(sandbox: &Sandbox) -> Client {
        let e = sandbox.endpoints();
        Client {
            http: reqwest::Client::new(),
            base: e.ss12000_url.clone(),
            token: e.ss12000_token.clone(),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self.get(path, query).await;
        assert_eq!(response.status(), 200, "{path} {query:?}");
        response.json().await.unwrap()
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Ids of every entity a list returns with `query`, page by page.
    async fn ids(&self, path: &str, query: &[(&str, &str)]) -> BTreeSet<SourceId> {
        let mut ids = BTreeSet::new();
        let mut page = self.json(path, query).await;
        loop {
            for entity in page["data"].as_array().unwrap() {
                ids.insert(SourceId::new(entity["id"].as_str().unwrap()));
            }
            match page["pageToken"].as_str() {
                Some(token) => page = self.json(path, &[("pageToken", token)]).await,
                None => return ids,
            }
        }
    }
}

#[tokio::test]
async fn a_limit_over_the_maximum_is_clamped_and_no_limit_gets_the_maximum() {
    let sandbox = start(SourceOptions {
        max_page_size: 7,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    for query in [&[("limit", "500")][..], &[]] {
        let page = client.json("/persons", query).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 7, "{query:?}");
        let token = page["pageToken"].as_str().expect("a token for the rest");
        let next = client
            .json("/persons", &[("pageToken", token), ("limit", "500")])
            .await;
        assert_eq!(next["data"].as_array().unwrap().len(), 7);
    }
    let page = client.json("/persons", &[("limit", "3")]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let deleted = client.json("/deletedEntities", &[("limit", "500")]).await;
    assert!(deleted["data"].is_object());
}

#[tokio::test]
async fn a_limit_over_the_maximum_is_refused_with_400_when_configured() {
    let sandbox = start(SourceOptions {
        max_page_size: 20,
        over_max_page_size: OverMaxPageSize::Reject,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    for path in ["/persons", "/groups", "/deletedEntities", "/subscriptions"] {
        let response = client.get(path, &[("limit", "21")]).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["code"].is_string(), "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("`limit`") && message.contains("21") && message.contains("20"),
            "{message}"
        );
    }
    let page = client.json("/persons", &[("limit", "20")]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 20);
    // Without a limit the maximum applies, which is never refused.
    let page = client.json("/persons", &[]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn every_data_read_waits_at_least_the_configured_latency() {
    let latency = Duration::from_millis(120);
    let sandbox = start(SourceOptions {
        latency,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let person = sandbox.world().source.read().unwrap().persons[0].id.clone();
    let started = Instant::now();
    client.json("/persons", &[("limit", "2")]).await;
    assert!(started.elapsed() >= latency, "list");
    let started = Instant::now();
    client
        .json(&format!("/persons/{}", person.as_str()), &[])
        .await;
    assert!(started.elapsed() >= latency, "by id");
    let started = Instant::now();
    let (status, _) = client
        .send(
            reqwest::Method::POST,
            "/persons/lookup",
            Some(json!({ "ids": [person.as_str()] })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= latency, "lookup");
    let started = Instant::now();
    client.json("/deletedEntities", &[]).await;
    assert!(started.elapsed() >= latency, "deletedEntities");
}

#[tokio::test]
async fn source_calls_are_counted_per_endpoint_and_query_kind_and_can_be_reset() {
    let sandbox = start(SourceOptions {
        max_page_size: 50,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let persons = sandbox.world().source.read().unwrap().persons.len();
    let ids = client.ids("/persons", &[("limit", "50")]).await;
    assert_eq!(ids.len(), persons);
    let pages = persons.div_ceil(50) as u64;
    client
        .json(
            "/groups",
            &[("meta.modified.after", "2020-01-01T00:00:00Z")],
        )
        .await;
    let first = ids.iter().next().unwrap().as_str().to_string();
    client.json(&format!("/persons/{first}"), &[]).await;
    // Refused calls count too: the source received them.
    assert_eq!(
        client.get("/persons", &[("limit", "0")]).await.status(),
        400
    );

    let counts = sandbox.source_calls();
    assert_eq!(counts.endpoint("GET /persons"), pages + 1);
    assert_eq!(counts.by_query["GET /persons?pageToken"], pages - 1);
    assert_eq!(counts.by_query["GET /persons?limit"], 2);
    assert_eq!(counts.with_param("GET /groups", "meta.modified.after"), 1);
    assert_eq!(counts.endpoint("GET /persons/{id}"), 1);
    assert_eq!(counts.total, pages + 3);
    assert_eq!(counts.data_reads(), pages + 3);

    let before = sandbox.reset_source_calls();
    assert_eq!(before, counts);
    assert_eq!(sandbox.source_calls().total, 0);
    client.json("/duties", &[("limit", "1")]).await;
    assert_eq!(sandbox.source_calls().total, 1);
}

fn subscription_body(target: &str, types: &[&str]) -> Value {
    let types: Vec<Value> = types.iter().map(|t| json!({ "resource": t })).collect();
    json!({ "name": "skolsync", "target": target, "resourceTypes": types })
}

fn expires(subscription: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(subscription["expires"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn subscriptions_are_created_listed_renewed_and_deleted() {
    let sandbox = start(SourceOptions {
        subscription_lifetime: Duration::from_secs(2),
        max_page_size: 2,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let post = reqwest::Method::POST;
    let body = subscription_body("https://127.0.0.1:9/hook", &["Person", "Group"]);
    let (status, created) = client
        .send(post.clone(), "/subscriptions", Some(body.clone()))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    for key in ["name", "target", "resourceTypes"] {
        assert_eq!(created[key], body[key], "{key}");
    }
    let lifetime = expires(&created) - Utc::now();
    assert!(lifetime <= chrono::Duration::seconds(2) && lifetime > chrono::Duration::zero());

    // Listed, paged like the lists.
    for _ in 0..2 {
        client
            .send(post.clone(), "/subscriptions", Some(body.clone()))
            .await;
    }
    let page = client.json("/subscriptions", &[]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let rest = client
        .json(
            "/subscriptions",
            &[("pageToken", page["pageToken"].as_str().unwrap())],
        )
        .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert!(rest["pageToken"].is_null());
    let one = client.json(&format!("/subscriptions/{id}"), &[]).await;
    assert_eq!(one, created);

    // Renewing moves `expires` on by the lifetime from now.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, renewed) = client
        .send(
            reqwest::Method::PATCH,
            &format!("/subscriptions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(expires(&renewed) > expires(&created));
    assert_eq!(renewed["target"], body["target"]);

    let path = format!("/subscriptions/{id}");
    let (status, _) = client.send(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::GET,
        reqwest::Method::PATCH,
    ] {
        let (status, error) = client.send(method.clone(), &path, None).await;
        assert_eq!(status, 404, "{method}");
        assert!(error["message"].as_str().unwrap().contains(&id));
    }
    let (status, _) = client
        .send(reqwest::Method::GET, "/subscriptions/not-a-uuid", None)
        .await;
    assert_eq!(status, 400);
    assert_eq!(sandbox.subscriptions().len(), 2);
}

#[tokio::test]
async fn subscriptions_need_the_apis_own_authorisation_and_a_valid_body() {
    let sandbox = start(options()).await;
    let client = Client::of(&sandbox);
    let e = sandbox.endpoints();
    let body = subscription_body("https://127.0.0.1:9/hook", &["Person"]);
    let anonymous = reqwest::Client::new()
        .post(format!("{}/subscriptions", e.ss12000_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let educloud = reqwest::Client::new()
        .post(format!("{}/subscriptions", e.educloud_url))
        .bearer_auth(&e.ss12000_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        educloud.status(),
        401,
        "the generic token is not EduCloud's"
    );

    let bad = json!({
        "target": "mailto:x@example.org",
        "resourceTypes": [{"resource": "Pupil"}, "Person"]
    });
    let (status, error) = client
        .send(reqwest::Method::POST, "/subscriptions", Some(bad))
        .await;
    assert_eq!(status, 400);
    let message = error["message"].as_str().unwrap();
    for part in [
        "`name` is required",
        "`target`",
        "`Pupil`",
        "resourceTypes[1]",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert!(sandbox.subscriptions().is_empty());
}

/// What a test's webhook receiver got.
#[derive(Clone, Default)]
struct Received {
    bodies: Arc<Mutex<Vec<Value>>>,
    /// Statuses to answer with, in order; 200 once they run out.
    answers: Arc<Mutex<Vec<u16>>>,
}

impl Received {
    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Waits until `n` bodies arrived (or fails after ten seconds).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let bodies = self.bodies();
            if bodies.len() >= n {
                return bodies;
            }
            assert!(
                Instant::now() < deadline,
                "only {} bodies arrived",
                bodies.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn hook(State(received): State<Received>, body: axum::body::Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received.bodies.lock().unwrap().push(value);
    let mut answers = received.answers.lock().unwrap();
    let status = if answers.is_empty() {
        200
    } else {
        answers.remove(0)
    };
    StatusCode::from_u16(status).unwrap()
}

/// A webhook receiver on a free port: HTTPS with a certificate the
/// sandbox's PKI issued, or plain HTTP. Returns its URL.
async fn receiver(sandbox: &Sandbox, tls: bool, answers: Vec<u16>) -> (String, Received) {
    let received = Received {
        answers: Arc::new(Mutex::new(answers)),
        ..Received::default()
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(received.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    if !tls {
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        return (format!("http://{addr}/hook"), received);
    }
    let identity = sandbox.pki().issue_server_identity("receiver").unwrap();
    assert!(identity.cert_path.is_file() && identity.key_path.is_file());
    let acceptor = TlsAcceptor::from(identity.server_config());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{}/hook", addr.port()), received)
}

async fn subscribe(client: &Client, target: &str, types: &[&str]) -> String {
    let (status, created) = client
        .send(
            reqwest::Method::POST,
            "/subscriptions",
            Some(subscription_body(target, types)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// A pupil, their class, and a parallel class of the same unit and year.
fn pupil_with_parallel_class(sandbox: &Sandbox) -> (SourceId, SourceId, SourceId) {
    let data = sandbox.world().source.read().unwrap();
    let classes: Vec<&Group> = data
        .groups
        .iter()
        .filter(|g| g.group_type == GroupType::Klass && !g.group_memberships.is_empty())
        .collect();
    for a in &classes {
        let year = |g: &Group| {
            g.display_name
                .trim_end_matches(char::is_alphabetic)
                .to_string()
        };
        if let Some(b) = classes
            .iter()
            .find(|b| b.id != a.id && b.organisation.id == a.organisation.id && year(b) == year(a))
        {
            let pupil = a
                .group_memberships
                .iter()
                .find(|m| m.end_date.is_none())
                .unwrap()
                .person
                .id
                .clone();
            return (pupil, a.id.clone(), b.id.clone());
        }
    }
    panic!("no two parallel classes in the municipality");
}

#[tokio::test]
async fn one_change_set_sends_one_notification_over_https_with_the_wanted_types() {
    let sandbox = start(options()).await;
    let client = Client::of(&sandbox);
    let (url, received) = receiver(&sandbox, true, Vec::new()).await;
    let wants_all = subscribe(&client, &url, &["Person", "Group", "Duty"]).await;
    let (groups_url, groups_only) = receiver(&sandbox, true, Vec::new()).await;
    subscribe(&client, &groups_url, &["Group"]).await;
    let (_, untouched) = receiver(&sandbox, true, Vec::new()).await;
    subscribe(
        &client,
        &groups_url.replace("/hook", "/never"),
        &["Syllabus"],
    )
    .await;

    let (pupil, from, to) = pupil_with_parallel_class(&sandbox);
    let classmate = sandbox
        .world()
        .source
        .read()
        .unwrap()
        .get::<Group>(&from)
        .unwrap()
        .group_memberships
        .iter()
        .map(|m| m.person.id.clone())
        .find(|id| id != &pupil)
        .unwrap();
    let changed = sandbox
        .change(|m| {
            m.move_pupil(&pupil, &to)?;
            m.remove_pupil(&classmate)
        })
        .unwrap();
    assert!(!changed.deleted(EntityKind::Person).is_empty());

    let bodies = received.wait_for(1).await;
    // Persons are listed when someone was created or an enrolment changed;
    // groups always (memberships moved).
    let wanted: Vec<&str> = changed
        .modified_kinds()
        .iter()
        .map(|k| k.type_name())
        .filter(|t| ["Person", "Group", "Duty"].contains(t))
        .collect();
    assert!(wanted.contains(&"Group"));
    assert_eq!(bodies[0]["modifiedEntites"], json!(wanted));
    assert_eq!(bodies[0]["deletedEntities"], json!(true));
    let only_groups = groups_only.wait_for(1).await;
    assert_eq!(only_groups[0], json!({ "modifiedEntites": ["Group"] }));
    // One notification per change set, not one per entity.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(received.bodies().len(), 1);
    assert_eq!(groups_only.bodies().len(), 1);
    assert!(untouched.bodies().is_empty());

    let deliveries: Vec<_> = sandbox
        .webhook_deliveries()
        .into_iter()
        .filter(|d| d.subscription.to_string() == wants_all)
        .collect();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].outcome, Outcome::Status(200));
    assert_eq!(deliveries[0].attempt, 1);
    assert_eq!(deliveries[0].target, url);
    assert_eq!(deliveries[0].body, bodies[0]);
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_backoff_and_logged() {
    let sandbox = start(options()).await;
    let client = Client::of(&sandbox);
    // Plain http is used for an http target; the receiver fails twice.
    let (url, received) = receiver(&sandbox, false, vec![503, 500]).await;
    subscribe(&client, &url, &["Group"]).await;
    let group = sandbox.world().source.read().unwrap().groups[0].id.clone();
    sandbox
        .change(|m| m.rename_group(&group, "Renamed"))
        .unwrap();
    received.wait_for(3).await;
    let log = sandbox.webhook_deliveries();
    let outcomes: Vec<_> = log.iter().map(|d| (d.attempt, d.outcome.clone())).collect();
    assert_eq!(
        outcomes,
        vec![
            (1, Outcome::Status(503)),
            (2, Outcome::Status(500)),
            (3, Outcome::Status(200))
        ]
    );
    assert!(log[1].at - log[0].at >= chrono::Duration::milliseconds(200));
    assert!(log[2].at - log[1].at > log[1].at - log[0].at);

    // A target whose certificate is not of a trusted CA gets no body.
    let other = skolsync_sandbox::tls::Pki::generate(None, &Default::default()).unwrap();
    let identity = other.issue_server_identity("stranger").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = TlsAcceptor::from(identity.server_config());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = acceptor.accept(tcp).await;
        }
    });
    let stranger = subscribe(
        &client,
        &format!("https://localhost:{port}/hook"),
        &["Group"],
    )
    .await;
    sandbox.change(|m| m.rename_group(&group, "Again")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let failures = loop {
        let failures: Vec<_> = sandbox
            .webhook_deliveries()
            .into_iter()
            .filter(|d| d.subscription.to_string() == stranger)
            .collect();
        if failures.len() == skolsync_sandbox::webhooks::ATTEMPTS as usize {
            break failures;
        }
        assert!(Instant::now() < deadline, "{failures:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        failures.iter().all(|d| matches!(
            &d.outcome,
            Outcome::Error(e) if e.to_lowercase().contains("certificate")
        )),
        "{failures:?}"
    );
}

#[tokio::test]
async fn expired_subscriptions_get_nothing_until_renewed() {
    let sandbox = start(SourceOptions {
        subscription_lifetime: Duration::from_secs(1),
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let (url, received) = receiver(&sandbox, true, Vec::new()).await;
    let id = subscribe(&client, &url, &["Group"]).await;
    let group = sandbox.world().source.read().unwrap().groups[0].id.clone();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sandbox
        .change(|m| m.rename_group(&group, "Lapsed"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(received.bodies().is_empty());
    // Still listed, with its past expiry.
    let listed = client.json(&format!("/subscriptions/{id}"), &[]).await;
    assert!(expires(&listed) < Utc::now());

    let (status, _) = client
        .send(
            reqwest::Method::PATCH,
            &format!("/subscriptions/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    sandbox
        .change(|m| m.rename_group(&group, "Renewed"))
        .unwrap();
    assert_eq!(received.wait_for(1).await.len(), 1);
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Checks that the filters return exactly what `changed` touched.
async fn assert_filters_match(client: &Client, since: &str, changed: &Changed) {
    for kind in [
        EntityKind::Person,
        EntityKind::Group,
        EntityKind::Duty,
        EntityKind::Activity,
    ] {
        let path = format!("/{}", kind.endpoint());
        let modified = client.ids(&path, &[("meta.modified.after", since)]).await;
        assert_eq!(modified, changed.touched(kind), "{kind:?} modified");
        let created = client.ids(&path, &[("meta.created.after", since)]).await;
        let expected = changed.created.get(&kind).cloned().unwrap_or_default();
        assert_eq!(created, expected, "{kind:?} created");
    }
    let deleted = client
        .json("/deletedEntities", &[("after", since), ("limit", "100")])
        .await;
    for kind in [EntityKind::Person, EntityKind::Duty] {
        let ids: BTreeSet<SourceId> = deleted["data"][kind.endpoint()]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| SourceId::new(id.as_str().unwrap()))
            .collect();
        assert_eq!(ids, changed.deleted(kind), "{kind:?} deleted");
    }
}

#[tokio::test]
async fn incremental_filters_return_exactly_the_entities_a_change_set_touched() {
    let sandbox = start(options()).await;
    let client = Client::of(&sandbox);
    let since = rfc3339(Utc::now());
    let shared = sandbox.change_share_of_pupils(0.05).unwrap();
    let persons = shared.touched(EntityKind::Person);
    assert!(!persons.is_empty());
    assert_filters_match(&client, &since, &shared).await;

    let since = rfc3339(Utc::now());
    let (pupil, class, _) = pupil_with_parallel_class(&sandbox);
    let unit = sandbox
        .world()
        .source
        .read()
        .unwrap()
        .groups
        .iter()
        .find(|g| g.id == class)
        .unwrap()
        .organisation
        .id
        .clone();
    let duty = sandbox.world().source.read().unwrap().duties[0].id.clone();
    let mut added = None;
    let changed = sandbox
        .change(|m| {
            added = Some(m.add_pupil(&class)?);
            m.add_staff(&unit, DutyRole::Larare)?;
            m.end_duty(&duty, chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap())?;
            m.remove_pupil(&pupil)
        })
        .unwrap();
    assert_eq!(changed.created[&EntityKind::Person].len(), 2);
    assert_eq!(changed.created[&EntityKind::Duty].len(), 1);
    assert_eq!(
        changed.deleted(EntityKind::Person),
        BTreeSet::from([pupil.clone()])
    );
    assert_filters_match(&client, &since, &changed).await;

    // The newcomer sits in the class with a valid, unique personnummer.
    let added = added.unwrap();
    let data = sandbox.world().source.read().unwrap();
    let class_group = data.get::<Group>(&class).unwrap();
    assert!(
        class_group
            .group_memberships
            .iter()
            .any(|m| m.person.id == added)
    );
    assert!(
        !class_group
            .group_memberships
            .iter()
            .any(|m| m.person.id == pupil)
    );
    let person = data.get::<Person>(&added).unwrap();
    let number = &person.civic_no.as_ref().unwrap().value;
    assert!(luhn_valid(number), "{number}");
    let holders = data
        .persons
        .iter()
        .filter(|p| p.civic_no.as_ref().is_some_and(|c| &c.value == number))
        .count();
    assert_eq!(holders, 1);
    assert!(!person.enrolments.is_empty());
    let eppn = &person.edu_person_principal_names[0].to_lowercase();
    assert!(!eppn.contains(&person.family_name.to_lowercase()));
}

#[tokio::test]
async fn a_move_touches_the_groups_left_and_joined_and_an_edit_error_names_the_id() {
    let sandbox = start(options()).await;
    let (pupil, from, to) = pupil_with_parallel_class(&sandbox);
    let changed = sandbox.change(|m| m.move_pupil(&pupil, &to)).unwrap();
    let groups = changed.touched(EntityKind::Group);
    assert!(groups.contains(&from) && groups.contains(&to), "{groups:?}");
    let data = sandbox.world().source.read().unwrap();
    let member = |id: &SourceId| {
        data.get::<Group>(id)
            .unwrap()
            .group_memberships
            .iter()
            .any(|m| m.person.id == pupil)
    };
    assert!(member(&to) && !member(&from));
    drop(data);

    let ghost = SourceId::new("00000000-0000-4000-8000-000000000000");
    let err = sandbox.change(|m| m.remove_pupil(&ghost)).unwrap_err();
    assert!(err.to_string().contains(ghost.as_str()), "{err}");
}

/// The Luhn check over the ten digits of a twelve-digit personnummer.
fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number[2..].chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = if i % 2 == 0 { d * 2 } else { *d };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    sum.is_multiple_of(10)
}
