//! SS 12000 APIs that misbehave: page tokens that come back, servers that
//! page or answer without end, rate limits and outages to wait out, answers
//! that must not be retried, and configs that would send credentials in
//! clear. Each against a tiny local HTTP server that does exactly that.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{read_all, sandbox, watched};
use skolsync_connectors::{ReadOptions, ReadProgress, SourceConfig, SourceError, build};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server answers the `n`th request (0-based) for `target`:
/// status, extra headers and body; `None` drops the connection unanswered.
type Answer = Option<(u16, Vec<(&'static str, String)>, String)>;

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve(answer: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let answer = Arc::new(answer);
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let answer = Arc::clone(&answer);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                let target = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let Some((status, headers, body)) = answer(&target, n) else {
                    return; // dropped: the connection closes unanswered
                };
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(body.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    Server {
        base: format!("http://127.0.0.1:{port}/v2.0"),
        hits,
    }
}

/// A page of `n` persons numbered from `from`, with `token` for the next page.
fn page(from: usize, n: usize, token: Option<&str>) -> String {
    let data: Vec<String> = (from..from + n)
        .map(|i| format!(r#"{{"id":"p{i}","givenName":"A","familyName":"B"}}"#))
        .collect();
    let token = token
        .map(|t| format!(r#","pageToken":"{t}""#))
        .unwrap_or_default();
    format!(r#"{{"data":[{}]{token}}}"#, data.join(","))
}

fn ok(body: String) -> Answer {
    Some((200, Vec::new(), body))
}

fn config(server: &Server, extra: &str) -> SourceConfig {
    let text = format!(
        "kind = \"ss12000\"\nbase_url = \"{}\"\nresources = [\"persons\"]\nrequests_per_second = 0\n{extra}\n",
        server.base
    );
    toml::from_str(&text).unwrap()
}

async fn read(config: &SourceConfig) -> Result<common::Read, SourceError> {
    let source = build(config, &skolsync_model::BuildContext::new(".")).unwrap();
    read_all(source.as_ref(), ReadOptions::default()).await
}

#[tokio::test]
async fn a_page_token_seen_before_ends_the_read() {
    // a → b → a: not the same token twice in a row, but a loop all the same.
    let server = serve(|target, _| {
        let next = if target.contains("pageToken=a") {
            "b"
        } else {
            "a"
        };
        ok(page(0, 1, Some(next)))
    })
    .await;
    let err = read(&config(&server, "")).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Protocol { message, .. } if message.contains("already sent")),
        "{err:?}"
    );
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn caps_on_pages_entities_and_bytes_end_an_endless_read() {
    let endless = || serve(|_, n| ok(page(n * 2, 2, Some(&format!("t{n}")))));
    let server = endless().await;
    let err = read(&config(&server, "max_pages = 4")).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Limit { message, .. } if message.contains("max_pages")),
        "{err:?}"
    );
    assert_eq!(server.hits(), 4);

    let server = endless().await;
    let err = read(&config(&server, "max_entities = 5"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_entities"), "{err}");
    assert_eq!(server.hits(), 3);

    let server = endless().await;
    let one = page(0, 2, Some("t0")).len();
    let cap = one * 2 + one / 2;
    let err = read(&config(&server, &format!("max_response_bytes = {cap}")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("max_response_bytes"), "{err}");
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn each_resource_read_is_described_by_its_shape() {
    let server = serve(|target, _| {
        if target.contains("pageToken=2") {
            ok(page(4, 1, None))
        } else if target.contains("pageToken=1") {
            ok(page(2, 2, Some("2")))
        } else {
            ok(page(0, 2, Some("1")))
        }
    })
    .await;
    let (snap, _, summary) = read(&config(&server, "")).await.unwrap();
    assert_eq!(snap.persons.len(), 5);
    assert_eq!(summary.inputs.len(), 1, "{:?}", summary.inputs);
    let shape = &summary.inputs[0];
    assert_eq!(shape.name, "/persons");
    assert_eq!(shape.records, 5);
    let bytes = page(0, 2, Some("1")).len() + page(2, 2, Some("2")).len() + page(4, 1, None).len();
    assert_eq!(shape.bytes, bytes as u64);
    assert!(shape.anomalies.is_empty());
}

#[tokio::test]
async fn rate_limits_outages_and_dropped_connections_are_waited_out() {
    // A dropped connection, two 429s asking for a second each, a 503, then the page.
    let server = serve(|_, n| match n {
        0 => None,
        1 | 2 => Some((429, vec![("retry-after", "1".to_string())], String::new())),
        3 => Some((503, vec![("retry-after", "0".to_string())], String::new())),
        _ => ok(page(0, 3, None)),
    })
    .await;
    let source = build(
        &config(&server, ""),
        &skolsync_model::BuildContext::new("."),
    )
    .unwrap();
    let progress = ReadProgress::new();
    let started = Instant::now();
    let (snap, _, _) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    assert_eq!(snap.persons.len(), 3);
    assert_eq!(server.hits(), 5);
    assert_eq!(progress.retries(), 4);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After was not honoured: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retrying_stops_when_the_budget_is_spent() {
    let server =
        serve(|_, _| Some((503, vec![("retry-after", "30".to_string())], String::new()))).await;
    let started = Instant::now();
    let err = read(&config(&server, "retry_budget_secs = 2"))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        matches!(&err, SourceError::Http { status: 503, message, .. } if message.contains("retry_budget_secs")),
        "{err:?}"
    );
    // A wait that would end past the budget is not begun.
    assert_eq!(server.hits(), 1);

    // Backoff without Retry-After: several tries, then the budget ends it.
    let server = serve(|_, _| Some((502, Vec::new(), String::new()))).await;
    let err = read(&config(&server, "retry_budget_secs = 3"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SourceError::Http { status: 502, .. }),
        "{err:?}"
    );
    assert!(server.hits() >= 2, "{} attempts", server.hits());
}

#[tokio::test]
async fn refused_credentials_are_not_retried_and_are_named() {
    for status in [401u16, 403] {
        let server =
            serve(move |_, _| Some((status, Vec::new(), r#"{"message":"no"}"#.into()))).await;
        let err = read(&config(
            &server,
            "[auth]\ntype = \"bearer\"\ntoken = \"t0k3n\"\n",
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth { status: Some(s), .. } if *s == status),
            "{err:?}"
        );
        assert!(!err.to_string().contains("t0k3n"));
        assert_eq!(server.hits(), 1, "HTTP {status} was retried");
    }
}

fn build_err(text: &str) -> String {
    let config: SourceConfig = toml::from_str(text).unwrap();
    match build(&config, &skolsync_model::BuildContext::new(".")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn credentials_never_go_over_plain_http_to_another_machine() {
    let bearer = "[auth]\ntype = \"bearer\"\ntoken = \"t\"\n";
    let err = build_err(&format!(
        "kind = \"ss12000\"\nbase_url = \"http://skola.example/v2.0\"\n{bearer}"
    ));
    assert!(
        err.contains("base_url") && err.contains("allow_insecure_http"),
        "{err}"
    );
    // Loopback, https, no credentials, or an explicit opt-in are fine.
    for ok in [
        format!("kind = \"ss12000\"\nbase_url = \"http://127.0.0.1:9/v2.0\"\n{bearer}"),
        format!("kind = \"ss12000\"\nbase_url = \"http://localhost:9/v2.0\"\n{bearer}"),
        format!("kind = \"ss12000\"\nbase_url = \"http://[::1]:9/v2.0\"\n{bearer}"),
        format!("kind = \"ss12000\"\nbase_url = \"https://skola.example/v2.0\"\n{bearer}"),
        "kind = \"ss12000\"\nbase_url = \"http://skola.example/v2.0\"\n".to_string(),
        format!(
            "kind = \"ss12000\"\nbase_url = \"http://skola.example/v2.0\"\nallow_insecure_http = true\n{bearer}"
        ),
    ] {
        assert_eq!(build_err(&ok), "", "{ok}");
    }
    // Both problems of an OAuth2 client are listed.
    let err = build_err(
        "kind = \"educloud\"\nbase_url = \"http://api.example/v2.0\"\n\
         token_url = \"http://idp.example/token\"\nclient_id = \"i\"\nclient_secret = \"s\"\n",
    );
    assert!(
        err.contains("token_url") && err.contains("base_url") && err.contains("client secret"),
        "{err}"
    );
    assert!(!err.contains("\"s\""), "{err}");
}

#[test]
fn a_fifo_is_refused_as_a_certificate_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("client.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let err = build_err(&format!(
        "kind = \"ss12000\"\nbase_url = \"https://x.example/v2.0\"\nclient_cert = \"{0}\"\nclient_key = \"{0}\"\n",
        fifo.display()
    ));
    assert!(
        err.contains("client_cert") && err.contains("not a regular file"),
        "{err}"
    );
    let err = build_err(
        "kind = \"ss12000\"\nbase_url = \"https://x.example/v2.0\"\nca_cert = \"/dev/zero\"\n",
    );
    assert!(err.contains("not a regular file"), "{err}");
}

#[tokio::test]
async fn sandbox_reads_describe_every_resource() {
    let sandbox = sandbox(60, |_| {}).await;
    let e = sandbox.endpoints();
    let text = format!(
        "kind = \"ss12000\"\nbase_url = \"{}\"\n[auth]\ntype = \"bearer\"\ntoken = \"{}\"\n",
        e.ss12000_url, e.ss12000_token
    );
    let config: SourceConfig = toml::from_str(&text).unwrap();
    let (snap, _, summary) = read(&config).await.unwrap();
    let mut names: Vec<&str> = summary.inputs.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "/activities",
            "/duties",
            "/groups",
            "/organisations",
            "/persons",
            "/programmes",
            "/syllabuses"
        ]
    );
    let persons = summary
        .inputs
        .iter()
        .find(|i| i.name == "/persons")
        .unwrap();
    assert_eq!(persons.records as usize, snap.persons.len());
    assert!(persons.bytes > 100);
}
