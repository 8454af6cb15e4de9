//! Outages of the Provisioning API a client must wait out (`Outage`: a 429
//! burst and 503s with `Retry-After`), and the documented `students` range.
//! The answers are read here as plain HTTP: status, headers, LogEntry ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use skolsync_sandbox::{Outage, STUDENTS_MAX, STUDENTS_MIN, Sandbox, SandboxConfig, SandboxError};

async fn start(outage: Outage) -> Sandbox {
    Sandbox::start(SandboxConfig {
        students: 50,
        outage,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

struct Answer {
    status: StatusCode,
    retry_after: Option<String>,
    remaining: Option<String>,
    log_id: Option<String>,
}

async fn call(sandbox: &Sandbox) -> Answer {
    let url = format!("{}/persons?limit=1", sandbox.endpoints().provisioning_url);
    // The Provisioning API speaks HTTPS with a certificate of the sandbox CA.
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let response = client.get(&url).send().await.expect("the sandbox answers");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = response.status();
    let retry_after = header("retry-after");
    let remaining = header("x-ratelimit-remaining");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let log_id = body
        .get(0)
        .and_then(|e| e.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Answer {
        status,
        retry_after,
        remaining,
        log_id,
    }
}

#[tokio::test]
async fn a_throttle_burst_answers_429_with_retry_after_then_recovers() {
    let sandbox = start(Outage {
        throttle_burst: 3,
        retry_after_secs: 2,
        ..Outage::default()
    })
    .await;
    for _ in 0..3 {
        let a = call(&sandbox).await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(a.retry_after.as_deref(), Some("2"));
        assert_eq!(a.remaining.as_deref(), Some("0"));
        assert_eq!(a.log_id.as_deref(), Some("5021"));
    }
    // Recovered: without a token the service now says so (403, 5002).
    let a = call(&sandbox).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(a.log_id.as_deref(), Some("5002"));
    assert_eq!(a.retry_after, None);
    let log = sandbox.provisioning_store().requests();
    assert_eq!(log.iter().filter(|r| r.status == 429).count(), 3);
}

#[tokio::test]
async fn counted_503s_come_first_then_the_burst_and_can_be_rearmed() {
    let sandbox = start(Outage {
        unavailable_calls: 2,
        throttle_burst: 1,
        retry_after_secs: 0,
        ..Outage::default()
    })
    .await;
    let statuses: Vec<(StatusCode, Option<String>)> = {
        let mut out = Vec::new();
        for _ in 0..4 {
            let a = call(&sandbox).await;
            if a.status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(a.log_id.as_deref(), Some("5022"));
            }
            out.push((a.status, a.retry_after));
        }
        out
    };
    let zero = Some("0".to_string());
    assert_eq!(
        statuses,
        vec![
            (StatusCode::SERVICE_UNAVAILABLE, zero.clone()),
            (StatusCode::SERVICE_UNAVAILABLE, zero.clone()),
            (StatusCode::TOO_MANY_REQUESTS, zero),
            (StatusCode::FORBIDDEN, None),
        ]
    );
    sandbox.faults().set_outage(Outage {
        unavailable_calls: 1,
        retry_after_secs: 5,
        ..Outage::default()
    });
    assert_eq!(sandbox.faults().outage().unavailable_calls, 1);
    let a = call(&sandbox).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.retry_after.as_deref(), Some("5"));
    assert_eq!(call(&sandbox).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_503_window_lasts_its_seconds_from_start() {
    let sandbox = start(Outage {
        unavailable_secs: 1,
        retry_after_secs: 1,
        ..Outage::default()
    })
    .await;
    let a = call(&sandbox).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.retry_after.as_deref(), Some("1"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(call(&sandbox).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn refusals_answer_401_or_403_without_retry_after() {
    let sandbox = start(Outage {
        refuse_calls: 1,
        refuse_status: 401,
        ..Outage::default()
    })
    .await;
    let a = call(&sandbox).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.log_id.as_deref(), Some("9005"));
    assert_eq!(a.retry_after, None);
    // Then the normal answer to a call without a token: 403, 5002.
    assert_eq!(call(&sandbox).await.log_id.as_deref(), Some("5002"));
    sandbox.faults().set_outage(Outage {
        refuse_calls: 2,
        refuse_status: 418,
        ..Outage::default()
    });
    for _ in 0..2 {
        let a = call(&sandbox).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(a.log_id.as_deref(), Some("9005"));
    }
}

#[test]
fn outage_settings_read_from_a_config_table_and_refuse_unknown_keys() {
    let outage: Outage =
        serde_json::from_str(r#"{"throttle_burst": 200, "retry_after_secs": 1}"#).unwrap();
    assert_eq!(
        outage,
        Outage {
            throttle_burst: 200,
            retry_after_secs: 1,
            ..Outage::default()
        }
    );
    assert_eq!(
        serde_json::from_str::<Outage>("{}").unwrap(),
        Outage::default()
    );
    assert!(serde_json::from_str::<Outage>(r#"{"throttle_brust": 1}"#).is_err());
}

#[tokio::test]
async fn students_outside_the_documented_range_are_refused() {
    assert_eq!((STUDENTS_MIN, STUDENTS_MAX), (50, 1_200_000));
    for students in [0, STUDENTS_MIN - 1, STUDENTS_MAX + 1, usize::MAX] {
        let result = Sandbox::start(SandboxConfig {
            students,
            ..SandboxConfig::default()
        })
        .await;
        match result {
            Err(SandboxError::Students(n)) => {
                assert_eq!(n, students);
                let text = SandboxError::Students(n).to_string();
                assert!(text.contains("50 to 1200000"), "{text}");
            }
            Err(other) => panic!("{students}: wrong error {other}"),
            Ok(_) => panic!("{students} students were accepted"),
        }
    }
}
