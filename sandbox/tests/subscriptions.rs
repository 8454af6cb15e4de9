//! SS 12000 subscriptions at the sandbox's source: created, listed,
//! renewed, deleted and expired, and webhook notifications delivered over
//! HTTPS to a receiver with a certificate of the sandbox's PKI, once per
//! change set, retried when they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skolsync_model::ss12000::{EntityKind, Group};
use skolsync_sandbox::webhooks::Outcome;
use skolsync_sandbox::{Sandbox, SourceOptions};
use support::{Client, options, pupil_with_parallel_class, start};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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

#[tokio::test]
async fn educloud_takes_subscriptions_with_its_oauth_token_and_notifies_them_too() {
    let sandbox = start(options()).await;
    let e = sandbox.endpoints();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(&e.educloud_token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let educloud = Client {
        http,
        base: e.educloud_url.clone(),
        token: token["access_token"].as_str().unwrap().to_string(),
    };
    let (url, received) = receiver(&sandbox, true, Vec::new()).await;
    let id = subscribe(&educloud, &url, &["Duty"]).await;
    let listed = educloud.json("/subscriptions", &[]).await;
    assert_eq!(listed["data"][0]["id"], json!(id));
    // Each API sees only its own subscriptions.
    let generic = Client::of(&sandbox);
    let listed = generic.json("/subscriptions", &[]).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(
        generic
            .get(&format!("/subscriptions/{id}"), &[])
            .await
            .status(),
        404
    );

    let duty = sandbox.world().source.read().unwrap().duties[0].id.clone();
    let changed = sandbox
        .change(|m| {
            m.end_duty(
                &duty,
                chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(
        changed
            .touched(EntityKind::Duty)
            .into_iter()
            .collect::<Vec<_>>(),
        vec![duty]
    );
    let bodies = received.wait_for(1).await;
    assert_eq!(bodies[0], json!({ "modifiedEntites": ["Duty"] }));
}
