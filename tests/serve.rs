//! `skolsync serve` over real HTTPS: a host built from a config file, a
//! JWKS served by a tiny server from sandbox token issuers, and a client
//! calling as Skolverket's SS12000 client would — with good tokens and
//! with every kind of wrong one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use serde_json::{Value, json};
use skolsync::serve::config::ServeConfig;
use skolsync::serve::host::{RunningHost, pull_host};
use skolsync::state::StateStore;
use skolsync_sandbox::auth::{ClientKey, IssuerSettings, RequestedAccess, TokenIssuer};
use skolsync_sandbox::{FaultSwitch, Faults};
use uuid::Uuid;

const ISSUER: &str = "https://auth.test";
const PUBLIC_URL: &str = "https://skolsync.test";
const API_PATH: &str = "/ss12000/test";
const LOCATION: &str = "https://skolsync.test/ss12000/test";

fn issuer(organisation_number: &str, lifetime: Duration) -> TokenIssuer {
    TokenIssuer::new(
        IssuerSettings {
            issuer: ISSUER.to_string(),
            provisioning_url: LOCATION.to_string(),
            extra_locations: Vec::new(),
            organisation_number: organisation_number.to_string(),
            common_name: "SS12000-klient".to_string(),
            lifetime,
            ss12000_client_url: "https://api.skolverket.se/provtjanst/ss12000/klient/v1"
                .to_string(),
        },
        Arc::new(FaultSwitch::new(Faults::default(), 0)),
    )
    .unwrap()
}

fn token(issuer: &TokenIssuer, access_type: &str, location: &str) -> String {
    issuer
        .issue(
            &ClientKey::EntityId("https://api.skolverket.se/provtjanst/ss12000/klient/v1".into()),
            vec![RequestedAccess {
                access_type: access_type.to_string(),
                locations: vec![location.to_string()],
            }],
        )
        .unwrap()
}

/// The authorisation server's JWKS endpoint: a document the test can
/// change (key rotation), and a count of fetches.
#[derive(Clone)]
struct JwksServer {
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicU64>,
    url: String,
}

impl JwksServer {
    async fn start(issuers: &[&TokenIssuer]) -> JwksServer {
        let document = Arc::new(Mutex::new(keys_of(issuers)));
        let fetches = Arc::new(AtomicU64::new(0));
        let (doc, count) = (document.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            get(move || {
                let (doc, count) = (doc.clone(), count.clone());
                async move {
                    count.fetch_add(1, Ordering::SeqCst);
                    axum::Json(doc.lock().unwrap().clone())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer {
            document,
            fetches,
            url: format!("http://{addr}/.well-known/jwks.json"),
        }
    }

    fn publish(&self, issuers: &[&TokenIssuer]) {
        *self.document.lock().unwrap() = keys_of(issuers);
    }

    fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn keys_of(issuers: &[&TokenIssuer]) -> Value {
    let keys: Vec<Value> = issuers
        .iter()
        .flat_map(|i| i.jwks()["keys"].as_array().unwrap().clone())
        .collect();
    json!({ "keys": keys })
}

/// A self-signed certificate for 127.0.0.1 and localhost, as PEM files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_path = dir.join("server.crt");
    let key_path = dir.join("server.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.pem())
}

/// A pipeline file with the given `[sink]` kind (secrets from the
/// environment, which serve need not have).
fn pipeline(dir: &Path, name: &str, sink_kind: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "{name}"

[source]
kind = "educloud"
org_identifier = "SE00100"
client_id = "${{env:SERVE_TEST_UNSET_ID}}"
client_secret = "${{env:SERVE_TEST_UNSET_SECRET}}"

[transform]
school_types = ["GR"]

[sink]
kind = "{sink_kind}"
environment = "production"
client_cert = "${{env:SERVE_TEST_UNSET_CERT}}"
client_key = "${{env:SERVE_TEST_UNSET_KEY}}"

[state]
path = "state/{name}.sqlite"
"#
    );
    std::fs::write(&path, text).unwrap();
    path
}

struct Setup {
    host: Option<RunningHost>,
    base: String,
    client: reqwest::Client,
    jwks: JwksServer,
    good: TokenIssuer,
    store: StateStore,
    dataset: String,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn start(server_extra: &str, refetch_after: Duration) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key, pem) = certificate(dir.path());
        pipeline(dir.path(), "test", "ss12000-pull");
        let good = issuer("2021004185", Duration::from_secs(600));
        let jwks = JwksServer::start(&[&good]).await;
        let config_path = dir.path().join("serve.toml");
        std::fs::write(
            &config_path,
            format!(
                r#"[server]
listen = "127.0.0.1:0"
public_url = "{PUBLIC_URL}"
tls_cert = "{}"
tls_key = "{}"
{server_extra}

[auth]
jwks_url = "{}"
issuer = "{ISSUER}"

[[pull]]
pipeline = "test.toml"
path = "{API_PATH}"
subscription_days = 30
"#,
                cert.display(),
                key.display(),
                jwks.url
            ),
        )
        .unwrap();
        let mut config = ServeConfig::load(&config_path).await.unwrap();
        config.auth.refetch_min_interval = refetch_after;
        assert_eq!(config.apis[0].location, LOCATION);
        let dataset = config.apis[0].dataset.clone();
        let running = pull_host(&config).await.unwrap().start().unwrap();
        let scheme = if running.is_tls() { "https" } else { "http" };
        let base = format!("{scheme}://{}", running.local_addr());
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let store = StateStore::open(dir.path().join("state/test.sqlite"))
            .await
            .unwrap();
        Setup {
            host: Some(running),
            base,
            client,
            jwks,
            good,
            store,
            dataset,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{API_PATH}{path}", self.base)
    }

    fn valid(&self) -> String {
        token(&self.good, "ss12000-api", LOCATION)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.shutdown().await;
        }
    }
}

const LOG_ENTRY: &str = r#"{"message": "courseCode MAT101 kan inte mappas", "messageType": "ValueMapping",
  "resourceType": "Person", "resourceId": "5e10f18c-6d0d-450b-a4b8-fa99e1053f78",
  "severityLevel": "Warning", "timeOfOccurance": "2020-04-08T12:51:31.322Z"}"#;

#[tokio::test]
async fn tokens_are_checked_before_anything_is_served() {
    // Keys published after start are fetched at once (no minimum interval).
    let setup = Setup::start("", Duration::ZERO).await;
    let other_org = issuer("5560000000", Duration::from_secs(600));
    let expired = issuer("2021004185", Duration::ZERO);
    setup.jwks.publish(&[&setup.good, &other_org, &expired]);

    let refused = [
        (None, 401, "no token"),
        (Some("not-a-jwt".to_string()), 401, "malformed"),
        (
            Some(token(&expired, "ss12000-api", LOCATION)),
            401,
            "expired",
        ),
        (
            Some(token(&other_org, "ss12000-api", LOCATION)),
            403,
            "other organisation",
        ),
        (
            Some(token(
                &setup.good,
                "ss12000-api",
                "https://skolsync.test/ss12000/other",
            )),
            403,
            "other location",
        ),
        (
            Some(token(&setup.good, "provisioning-api", LOCATION)),
            403,
            "wrong type",
        ),
    ];
    for (bearer, status, what) in &refused {
        let (got, body) = setup.post("/log", bearer.as_deref(), LOG_ENTRY).await;
        assert_eq!(got, *status, "{what}: {body}");
        assert!(
            body["code"].is_string() && body.get("data").is_none(),
            "{what}: {body}"
        );
        let (got, _) = setup
            .call(
                reqwest::Method::DELETE,
                &format!("/subscriptions/{}", Uuid::new_v4()),
                bearer.as_deref(),
                None,
            )
            .await;
        assert_eq!(got, *status, "{what} (subscriptions)");
    }
    let answer = setup
        .client
        .post(setup.url("/log"))
        .body(LOG_ENTRY)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["www-authenticate"], "Bearer");
    // Nothing refused reached the store.
    let stored = setup
        .store
        .log_entries(&setup.dataset, None, 10)
        .await
        .unwrap();
    assert!(stored.is_empty(), "{stored:?}");

    // A token for a location that extends ours by a path is accepted (as the
    // reference API does), as is the exact location.
    for location in [LOCATION.to_string(), format!("{LOCATION}/v2.0")] {
        let t = token(&setup.good, "ss12000-api", &location);
        let (got, body) = setup.post("/log", Some(&t), LOG_ENTRY).await;
        assert_eq!(got, 201, "{location}: {body}");
    }
    assert_eq!(
        setup
            .store
            .log_entries(&setup.dataset, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );

    // The health check needs no token and says nothing of the data.
    let health = setup
        .client
        .get(format!("{}/healthz", setup.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(
        health.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    // An unknown resource needs a token too, then answers 400 naming it;
    // wrong methods answer in the Error shape.
    let (got, _) = setup
        .call(reqwest::Method::GET, "/syllabuses", None, None)
        .await;
    assert_eq!(got, 401);
    let (got, body) = setup
        .call(
            reqwest::Method::GET,
            "/syllabuses",
            Some(&setup.valid()),
            None,
        )
        .await;
    assert_eq!(
        (got, body["code"].as_str()),
        (400, Some("unknown_resource"))
    );
    assert!(
        body["message"].as_str().unwrap().contains("/syllabuses"),
        "{body}"
    );
    let (got, body) = setup
        .call(reqwest::Method::PUT, "/log", Some(&setup.valid()), None)
        .await;
    assert_eq!(
        (got, body["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
    setup.stop().await;
}

#[tokio::test]
async fn an_unknown_key_fetches_the_jwks_again_at_most_every_interval() {
    let setup = Setup::start("", Duration::from_secs(3)).await;
    let (got, _) = setup.post("/log", Some(&setup.valid()), LOG_ENTRY).await;
    assert_eq!(got, 201);
    assert_eq!(setup.jwks.fetches(), 1);

    // The authorisation server rotates to a new key.
    let rotated = issuer("2021004185", Duration::from_secs(600));
    setup.jwks.publish(&[&setup.good, &rotated]);
    let new_token = token(&rotated, "ss12000-api", LOCATION);
    // Too soon after the last fetch: not fetched again, refused.
    let (got, _) = setup.post("/log", Some(&new_token), LOG_ENTRY).await;
    assert_eq!(got, 401);
    assert_eq!(setup.jwks.fetches(), 1);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (got, body) = setup.post("/log", Some(&new_token), LOG_ENTRY).await;
    assert_eq!(got, 201, "{body}");
    assert_eq!(setup.jwks.fetches(), 2, "one fetch for the rotated key");
    let (got, _) = setup.post("/log", Some(&new_token), LOG_ENTRY).await;
    assert_eq!(got, 201);
    assert_eq!(setup.jwks.fetches(), 2, "the new key is cached");

    // A kid the server never published: refused, and no fetch storm.
    let stranger = issuer("2021004185", Duration::from_secs(600));
    for _ in 0..3 {
        let (got, _) = setup
            .post(
                "/log",
                Some(&token(&stranger, "ss12000-api", LOCATION)),
                LOG_ENTRY,
            )
            .await;
        assert_eq!(got, 401);
    }
    assert_eq!(setup.jwks.fetches(), 2);
    setup.stop().await;
}

#[tokio::test]
async fn subscriptions_are_created_renewed_and_deleted() {
    let setup = Setup::start("", Duration::from_secs(30)).await;
    let t = setup.valid();
    let body = r#"{"name": "Webhook for ABC123",
        "target": "https://klient.skolverket.test/webhooks/547050e7-efc9-48f8-9cab-4356a89ae418",
        "resourceTypes": [{"resource": "Person"}, {"resource": "Group"}]}"#;
    let (got, created) = setup.post("/subscriptions", Some(&t), body).await;
    assert_eq!(got, 201, "{created}");
    assert_eq!(created["name"], "Webhook for ABC123");
    assert_eq!(
        created["resourceTypes"],
        json!([{"resource": "Person"}, {"resource": "Group"}])
    );
    let id: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["expires"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days} days");
    let live = setup
        .store
        .live_subscriptions(&setup.dataset, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id, id);

    let (got, renewed) = setup
        .call(
            reqwest::Method::PATCH,
            &format!("/subscriptions/{id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(got, 200, "{renewed}");
    assert_eq!(renewed["id"], created["id"]);
    assert!(renewed["expires"].as_str().unwrap() > created["expires"].as_str().unwrap());

    let (got, _) = setup
        .call(
            reqwest::Method::DELETE,
            &format!("/subscriptions/{id}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(got, 204);
    for method in [reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let (got, body) = setup
            .call(method, &format!("/subscriptions/{id}"), Some(&t), None)
            .await;
        assert_eq!(got, 404, "{body}");
    }

    // An expired subscription cannot be renewed.
    let old = setup
        .store
        .create_subscription(
            &setup.dataset,
            "old",
            "https://x.test/w",
            &[],
            chrono::Utc::now() - chrono::Duration::seconds(5),
        )
        .await
        .unwrap();
    let (got, _) = setup
        .call(
            reqwest::Method::PATCH,
            &format!("/subscriptions/{}", old.id),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(got, 404);

    let bad = [
        (
            r#"{"name": "x", "target": "https://k.test/w", "resourceTypes": [{"resource": "Pupil"}]}"#,
            "resourceTypes[0]",
        ),
        (r#"{"name": "x", "resourceTypes": []}"#, "target"),
        (
            r#"{"name": "x", "target": "http://k.test/w", "resourceTypes": []}"#,
            "target",
        ),
        (
            r#"{"name": "x", "target": "https://k.test/w"}"#,
            "resourceTypes",
        ),
    ];
    for (body, field) in bad {
        let (got, answer) = setup.post("/subscriptions", Some(&t), body).await;
        assert_eq!(got, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    setup.stop().await;
}

#[tokio::test]
async fn feedback_is_stored_and_bad_bodies_are_refused() {
    let setup = Setup::start("max_body_bytes = 4096", Duration::from_secs(30)).await;
    let t = setup.valid();
    let (got, _) = setup.post("/log", Some(&t), LOG_ENTRY).await;
    assert_eq!(got, 201);
    let entries = setup
        .store
        .log_entries(&setup.dataset, None, 10)
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.message, "courseCode MAT101 kan inte mappas");
    assert_eq!(entry.severity, "Warning");
    assert_eq!(entry.resource_type.as_deref(), Some("Person"));
    let person: Uuid = "5e10f18c-6d0d-450b-a4b8-fa99e1053f78".parse().unwrap();
    assert_eq!(entry.resource_id, Some(person));
    assert_eq!(
        setup
            .store
            .log_entries_for(&setup.dataset, person)
            .await
            .unwrap()
            .len(),
        1
    );

    let stats = r#"{"resourceType": "Activity", "resourceUrl": "https://skolsync.test/ss12000/test/activities",
        "newCount": 0, "updatedCount": 234, "deletedCount": 1, "timeOfOccurance": "2020-04-08T12:51:31.322Z"}"#;
    let (got, _) = setup.post("/statistics", Some(&t), stats).await;
    assert_eq!(got, 201);
    let stored = setup.store.statistics(&setup.dataset, 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0].resource_type.as_str(),
            stored[0].updated_count,
            stored[0].deleted_count
        ),
        ("Activity", 234, 1)
    );

    let bad = [
        (
            "/log",
            r#"{"message": "x", "severityLevel": "Fatal"}"#,
            "severityLevel",
        ),
        (
            "/log",
            r#"{"message": "x", "severityLevel": "Error", "resourceId": "nope"}"#,
            "resourceId",
        ),
        (
            "/log",
            r#"{"message": "x", "severityLevel": "Error", "resourceType": "Pupil"}"#,
            "resourceType",
        ),
        ("/log", r#"{"severityLevel": "Error"}"#, "message"),
        (
            "/log",
            r#"{"message": 5, "severityLevel": "Error"}"#,
            "message",
        ),
        ("/log", "{not json", "key must be a string"),
        (
            "/statistics",
            r#"{"resourceType": "Person", "newCount": 1, "updatedCount": 2}"#,
            "deletedCount",
        ),
        (
            "/statistics",
            r#"{"resourceType": "Person", "newCount": -1, "updatedCount": 2, "deletedCount": 0}"#,
            "newCount",
        ),
    ];
    for (path, body, field) in bad {
        let (got, answer) = setup.post(path, Some(&t), body).await;
        assert_eq!(got, 400, "{body}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{field}: {answer}"
        );
    }
    let huge = format!(
        r#"{{"message": "{}", "severityLevel": "Info"}}"#,
        "x".repeat(8000)
    );
    let (got, _) = setup.post("/log", Some(&t), &huge).await;
    assert_eq!(got, 413);
    // Only the two good bodies were stored.
    assert_eq!(
        setup
            .store
            .log_entries(&setup.dataset, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        setup
            .store
            .statistics(&setup.dataset, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    setup.stop().await;
}

#[tokio::test]
async fn plain_http_only_when_configured() {
    // TLS host: a plain-HTTP request gets no answer.
    let setup = Setup::start("", Duration::from_secs(30)).await;
    assert!(setup.base.starts_with("https://"));
    let plain = setup.base.replace("https://", "http://");
    let answer = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(answer.is_err() || !answer.unwrap().status().is_success());
    setup.stop().await;

    // With plain_http = true it speaks HTTP (and still checks tokens).
    let setup = Setup::start("plain_http = true", Duration::from_secs(30)).await;
    assert!(setup.base.starts_with("http://"));
    let (got, _) = setup.post("/log", None, LOG_ENTRY).await;
    assert_eq!(got, 401);
    let (got, _) = setup.post("/log", Some(&setup.valid()), LOG_ENTRY).await;
    assert_eq!(got, 201);
    setup.stop().await;
}

#[tokio::test]
async fn config_problems_are_reported_together() {
    let dir = tempfile::tempdir().unwrap();
    pipeline(dir.path(), "pull-a", "ss12000-pull");
    pipeline(dir.path(), "pull-b", "ss12000-pull");
    pipeline(dir.path(), "push", "skolverket");
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        r#"[server]
public_url = "http://skolsync.example.se"

[auth]
organization_id = "2021004185"

[[pull]]
pipeline = "pull-a.toml"
path = "/ss12000"

[[pull]]
pipeline = "pull-b.toml"
path = "/ss12000/b"

[[pull]]
pipeline = "push.toml"

[[pull]]
pipeline = "missing.toml"
"#,
    )
    .unwrap();
    let text = ServeConfig::load(&path).await.unwrap_err().to_string();
    for expected in [
        "server.public_url",
        "server.tls_cert",
        "server.tls_key",
        "auth.jwks_url",
        "auth.organization_id",
        "pull[1].path",
        "pull[2].pipeline",
        "`skolverket` sink",
        "pull[3].pipeline",
    ] {
        assert!(
            text.contains(expected),
            "`{expected}` missing from:\n{text}"
        );
    }

    // An unreadable certificate is named.
    let unreadable = dir.path().join("unreadable.toml");
    std::fs::write(
        &unreadable,
        "[server]\npublic_url = \"https://x.test\"\ntls_cert = \"nope.crt\"\ntls_key = \"nope.key\"\n\
         [auth]\nenvironment = \"production\"\n[[pull]]\npipeline = \"pull-a.toml\"\n",
    )
    .unwrap();
    let text = ServeConfig::load(&unreadable)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("server.tls_cert") && text.contains("nope.crt"),
        "{text}"
    );

    // The command exits 2 with the same report.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .args(["serve", "--check"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.jwks_url"));
}

#[tokio::test]
async fn the_command_checks_a_good_config_and_refuses_a_taken_port() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path());
    pipeline(dir.path(), "test", "ss12000-pull");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let path = dir.path().join("serve.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]
listen = "{}"
public_url = "{PUBLIC_URL}"
tls_cert = "{}"
tls_key = "{}"

[auth]
environment = "production"

[[pull]]
pipeline = "test.toml"
"#,
            taken.local_addr().unwrap(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let run = |check: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"));
        cmd.arg("serve");
        if check {
            cmd.arg("--check");
        }
        cmd.arg(&path).output().unwrap()
    };
    let out = run(true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("https://skolsync.test/test"));
    let out = run(false);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen on"), "{stderr}");
}
