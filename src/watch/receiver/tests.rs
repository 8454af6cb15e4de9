//! The receiver over real HTTPS: a client posts notifications as a source
//! would, and the run queue of the pipeline sees (or does not see) them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::watch::queue::{RunQueue, Trigger};

/// A self-signed certificate for 127.0.0.1 and its key, as PEM files.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_path = dir.join("receiver.crt");
    let key_path = dir.join("receiver.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.pem())
}

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn client(trusted_pem: Option<&str>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(pem) = trusted_pem {
        builder =
            builder.add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

struct Setup {
    receiver: RunningReceiver,
    queue: RunQueue,
    secret: Secret,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn start(insecure_http: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = certificate(dir.path());
    let config = ReceiverConfig {
        listen: loopback(),
        tls_cert: Some(cert),
        tls_key: Some(key),
        insecure_http,
        max_body_bytes: 1024,
        ..ReceiverConfig::default()
    };
    let receiver = Receiver::new(&config).unwrap();
    assert_eq!(receiver.is_tls(), !insecure_http);
    let queue = RunQueue::new(Duration::ZERO);
    let targets = Targets::new();
    targets.add_pipeline("demo", queue.requester());
    let secret = targets.issue("demo").unwrap();
    let running = receiver
        .start(router(targets, receiver.max_body_bytes()))
        .unwrap();
    Setup {
        receiver: running,
        queue,
        secret,
        client: client(Some(&pem)),
        _dir: dir,
    }
}

async fn post(setup: &Setup, url: &str, body: &'static [u8]) -> (u16, String) {
    let answer = setup.client.post(url).body(body).send().await.unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// The next run request, if one arrives within a second.
async fn requested(queue: &mut RunQueue) -> Option<Trigger> {
    tokio::time::timeout(Duration::from_secs(1), queue.next())
        .await
        .ok()
        .flatten()
        .map(|r| r.trigger)
}

#[tokio::test]
async fn a_notification_with_the_right_secret_over_https_requests_a_run() {
    let mut s = start(false).await;
    let target = s.receiver.urls().target("demo", &s.secret);
    assert!(target.starts_with("https://127.0.0.1:"), "{target}");
    let body = br#"{"modifiedEntites": ["Person"], "deletedEntities": true}"#;
    assert_eq!(post(&s, &target, body).await.0, 200);
    assert_eq!(
        requested(&mut s.queue).await,
        Some(Trigger::Change {
            modified: ["Person".to_string()].into(),
            deleted: true
        })
    );
    // An empty body still says that something changed.
    assert_eq!(post(&s, &target, b"").await.0, 200);
    assert!(requested(&mut s.queue).await.is_some());
    s.receiver.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_or_pipeline_is_a_404_that_does_not_say_which() {
    let mut s = start(false).await;
    let base = s
        .receiver
        .urls()
        .base()
        .as_str()
        .trim_end_matches('/')
        .to_string();
    let wrong_secret = format!("{base}/notifications/demo/{}", "0".repeat(64));
    let wrong_pipeline = format!("{base}/notifications/other/{}", s.secret.expose());
    let (status_a, text_a) = post(&s, &wrong_secret, b"{}").await;
    let (status_b, text_b) = post(&s, &wrong_pipeline, b"{}").await;
    assert_eq!((status_a, status_b), (404, 404));
    assert_eq!(text_a, text_b, "the answers tell the cases apart");
    // Authentication comes first: garbage with a wrong secret is a 404 too.
    assert_eq!(post(&s, &wrong_secret, b"garbage").await.0, 404);
    assert_eq!(requested(&mut s.queue).await, None);
    s.receiver.shutdown().await;
}

#[tokio::test]
async fn garbage_is_a_400_and_a_huge_body_a_413_and_neither_runs() {
    let mut s = start(false).await;
    let target = s.receiver.urls().target("demo", &s.secret);
    assert_eq!(post(&s, &target, b"modifiedEntites=Person").await.0, 400);
    let huge: &'static [u8] = Box::leak(vec![b' '; 4096].into_boxed_slice());
    assert_eq!(post(&s, &target, huge).await.0, 413);
    assert_eq!(requested(&mut s.queue).await, None);
    s.receiver.shutdown().await;
}

#[tokio::test]
async fn plain_http_is_refused_unless_switched_on() {
    let s = start(false).await;
    let plain = format!(
        "http://{}/notifications/demo/{}",
        s.receiver.local_addr(),
        s.secret.expose()
    );
    let refused = s.client.post(&plain).body("{}").send().await;
    assert!(refused.is_err(), "plain HTTP got an answer: {refused:?}");
    s.receiver.shutdown().await;

    let mut s = start(true).await;
    let target = s.receiver.urls().target("demo", &s.secret);
    assert!(target.starts_with("http://127.0.0.1:"), "{target}");
    assert_eq!(post(&s, &target, b"{}").await.0, 200);
    assert!(requested(&mut s.queue).await.is_some());
    s.receiver.shutdown().await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_certificate_gets_nothing_through() {
    let mut s = start(false).await;
    let target = s.receiver.urls().target("demo", &s.secret);
    let untrusting = client(None);
    assert!(untrusting.post(&target).body("{}").send().await.is_err());
    assert_eq!(requested(&mut s.queue).await, None);
    s.receiver.shutdown().await;
}

#[test]
fn every_problem_of_the_config_is_reported_at_once() {
    let config = ReceiverConfig {
        listen: "0.0.0.0:8443".parse().unwrap(),
        ..ReceiverConfig::default()
    };
    let text = Receiver::new(&config).unwrap_err().to_string();
    for expected in ["public_url", "tls_cert: missing", "tls_key: missing"] {
        assert!(text.contains(expected), "{text}");
    }

    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let config = ReceiverConfig {
        public_url: Some("http://skolsync.example.se/hooks".into()),
        tls_cert: Some(garbage.clone()),
        tls_key: Some(garbage),
        ..ReceiverConfig::default()
    };
    let text = Receiver::new(&config).unwrap_err().to_string();
    assert!(text.contains("3 problems"), "{text}");
    assert!(text.contains("unencrypted"), "{text}");
    assert!(
        text.contains("tls_cert") && text.contains("tls_key"),
        "{text}"
    );

    // Behind a proxy: plain HTTP and a public https URL with a path.
    let config = ReceiverConfig {
        public_url: Some("https://integration.example.se/skolsync/".into()),
        insecure_http: true,
        ..ReceiverConfig::default()
    };
    assert!(Receiver::new(&config).is_ok());
    let urls =
        NotificationUrls::new(Url::parse("https://integration.example.se/skolsync/").unwrap());
    let targets = Targets::new();
    targets.add_pipeline("demo", RunQueue::new(Duration::ZERO).requester());
    let secret = targets.issue("demo").unwrap();
    assert_eq!(
        urls.target("demo", &secret),
        format!(
            "https://integration.example.se/skolsync/notifications/demo/{}",
            secret.expose()
        )
    );
}
