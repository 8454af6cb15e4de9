//! Transient trouble at the provtjänst is waited out within the retry
//! budget, honouring `Retry-After`; a budget that runs out stops the run
//! with every entity accounted for; permanent errors (a certificate that
//! does not verify, 401, 403) are not retried and are named; certificate
//! files must be regular files.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use skolsync_model::ObjectType;
use skolsync_model::plan::{OutcomeStatus, Plan};
use skolsync_sandbox::{Faults, Outage, Sandbox, SandboxConfig};
use skolsync_sink::skolverket::config::{DEFAULT_RETRY_BUDGET_SECS, SkolverketConfig};
use skolsync_sink::{ApplySummary, ConfigError, SinkError, SkolverketSink};
use support::{
    Collected, assert_one_outcome_each, assert_store_equals_plan, bulk_calls, plan_for, sink,
    sink_config, total,
};

/// One at a time: the timings measured here should not suffer another
/// test's load on a small machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn sandbox(students: usize, outage: Outage) -> Sandbox {
    support::start(SandboxConfig {
        students,
        outage,
        ..SandboxConfig::default()
    })
    .await
}

/// A sandbox plan sent through a sink, and what came of it.
struct Run {
    sandbox: Sandbox,
    plan: Plan,
    collected: Collected,
    result: Result<ApplySummary, SinkError>,
    elapsed: Duration,
}

/// Starts a sandbox of `students` with `outage` and sends its plan through
/// a sink with the sandbox's settings as `tune` changes them.
async fn run(
    students: usize,
    outage: Outage,
    tune: impl FnOnce(SkolverketConfig) -> SkolverketConfig,
) -> Run {
    let sandbox = sandbox(students, outage).await;
    let plan = plan_for(&sandbox);
    let sink = sink(tune(sink_config(&sandbox))).await;
    let collected = Collected::default();
    let started = Instant::now();
    let result = sink.apply(&plan, &collected.callback()).await;
    let elapsed = started.elapsed();
    Run {
        sandbox,
        plan,
        collected,
        result,
        elapsed,
    }
}

impl Run {
    /// Every entity landed, once, as planned; the sink's summary.
    fn landed(self) -> (ApplySummary, Sandbox) {
        let summary = self.result.unwrap();
        assert_one_outcome_each(&self.plan, &self.collected.all());
        assert_eq!(
            self.collected.with_status(OutcomeStatus::Success).len(),
            total(&self.plan)
        );
        assert_store_equals_plan(&self.sandbox.provisioning_store(), &self.plan);
        (summary, self.sandbox)
    }
}

#[test]
fn the_default_budget_is_minutes() {
    assert_eq!(DEFAULT_RETRY_BUDGET_SECS, 300);
    assert_eq!(SkolverketConfig::default().retry_budget_secs, 300);
    let parsed: SkolverketConfig = toml::from_str("retry_budget_secs = 60").unwrap();
    assert_eq!(parsed.retry_budget_secs, 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_is_waited_out_honouring_retry_after_and_everything_lands() {
    let _serial = SERIAL.lock().await;
    let outage = Outage {
        throttle_burst: 4,
        retry_after_secs: 1,
        ..Outage::default()
    };
    let run = run(50, outage, |c| SkolverketConfig {
        max_in_flight: 1,
        ..c
    })
    .await;
    let elapsed = run.elapsed;
    let (summary, sandbox) = run.landed();
    assert_eq!(summary.calls.rate_limited, 4, "{:?}", summary.calls);

    // Every call after a 429 came at least Retry-After (1 s) after it.
    let requests = sandbox.provisioning_store().requests();
    assert!(requests[..4].iter().all(|r| r.status == 429));
    for pair in requests.windows(2).take(4) {
        let answered = pair[0].at + pair[0].elapsed;
        let gap = pair[1].at.duration_since(answered);
        assert!(gap >= Duration::from_millis(990), "{gap:?} after a 429");
    }
    assert!(elapsed >= Duration::from_secs(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_call_burst_on_a_first_load_is_waited_out() {
    let _serial = SERIAL.lock().await;
    let outage = Outage {
        throttle_burst: 200,
        retry_after_secs: 0,
        ..Outage::default()
    };
    // A quicker pacer than the service allows, so the burst passes fast;
    // the service's own limit then answers 429 too, waited out alike.
    let run = run(100, outage, |c| SkolverketConfig {
        bulk_per_second: 40,
        ..c
    })
    .await;
    let (summary, _) = run.landed();
    assert!(summary.calls.rate_limited >= 200, "{:?}", summary.calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_503_outage_is_waited_out() {
    let _serial = SERIAL.lock().await;
    let outage = Outage {
        unavailable_secs: 3,
        retry_after_secs: 1,
        ..Outage::default()
    };
    let (summary, sandbox) = run(50, outage, |c| c).await.landed();
    assert!(summary.calls.retries > 0, "{:?}", summary.calls);
    let requests = sandbox.provisioning_store().requests();
    assert!(requests.iter().any(|r| r.status == 503));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_too_short_for_the_burst_stops_cleanly_with_every_entity_accounted_for() {
    let _serial = SERIAL.lock().await;
    let outage = Outage {
        throttle_burst: 100_000,
        retry_after_secs: 1,
        ..Outage::default()
    };
    let Run {
        sandbox,
        plan,
        collected,
        result,
        elapsed,
    } = run(50, outage, |c| SkolverketConfig {
        retry_budget_secs: 1,
        ..c
    })
    .await;
    let err = result.unwrap_err();
    assert!(elapsed < Duration::from_secs(15));
    let text = err.to_string();
    assert!(matches!(err, SinkError::Aborted(_)), "{text}");
    assert!(text.contains("retry budget exhausted"), "{text}");

    // Nothing landed, nothing is lost: one outcome per entity, each saying why.
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    assert!(sandbox.provisioning_store().persons().is_empty());
    for o in &outcomes {
        let detail = o.detail.as_deref().unwrap_or_default();
        match o.status {
            OutcomeStatus::Error => {
                assert!(detail.contains("retry budget exhausted"), "{o:?}")
            }
            OutcomeStatus::HeldBack => assert!(o.blocked_by.is_some(), "{o:?}"),
            other => panic!("{other:?}: {o:?}"),
        }
    }
    let not_sent = outcomes
        .iter()
        .filter(|o| {
            o.detail
                .as_deref()
                .is_some_and(|d| d.starts_with("not sent: retry budget exhausted"))
        })
        .count();
    assert!(not_sent > 0, "entities never sent say so");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_keeps_failing_stops_the_run_when_the_budget_is_spent() {
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::start(SandboxConfig {
        students: 200,
        faults: Faults {
            server_error_share: 1.0,
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let plan = plan_for(&sandbox);
    let sink = sink(SkolverketConfig {
        retry_budget_secs: 2,
        max_body_bytes: 20_000,
        max_in_flight: 1,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    let err = sink.apply(&plan, &collected.callback()).await.unwrap_err();
    assert!(err.to_string().contains("retry budget exhausted"), "{err}");
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    // Persons and groups fail; duties and activities wait for them.
    for o in &outcomes {
        let expected = match o.kind {
            ObjectType::Duty | ObjectType::Activity => OutcomeStatus::HeldBack,
            _ => OutcomeStatus::Error,
        };
        assert_eq!(o.status, expected, "{o:?}");
    }
    // One batch was tried again and again, then nothing more was sent.
    let requests = sandbox.provisioning_store().requests();
    let bulk = bulk_calls(&requests);
    assert!(bulk.len() >= 2, "{} bulk calls", bulk.len());
    assert!(bulk.iter().all(|r| r.body_bytes == bulk[0].body_bytes));
}

async fn refused_run(outage: Outage) -> (Sandbox, Collected, SinkError, Duration) {
    let run = run(50, outage, |c| c).await;
    assert_one_outcome_each(&run.plan, &run.collected.all());
    (
        run.sandbox,
        run.collected,
        run.result.unwrap_err(),
        run.elapsed,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_or_403_is_not_retried_and_is_named() {
    let _serial = SERIAL.lock().await;
    for (status, named) in [
        (
            401,
            "401 Unauthorized: the client certificate was not accepted",
        ),
        (403, "403 Forbidden"),
    ] {
        let (sandbox, collected, err, elapsed) = refused_run(Outage {
            refuse_calls: 1000,
            refuse_status: status,
            ..Outage::default()
        })
        .await;
        let text = err.to_string();
        assert!(text.contains(named), "{status}: {text}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        // The first call was refused and nothing was tried again.
        let requests = sandbox.provisioning_store().requests();
        assert_eq!(requests.len(), 1, "{status}: {requests:?}");
        assert_eq!(requests[0].status, status);
        assert!(
            collected
                .all()
                .iter()
                .all(|o| o.status != OutcomeStatus::Success)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_the_api_keeps_refusing_end_the_run_after_a_few_renewals() {
    let _serial = SERIAL.lock().await;
    // Tokens stop being accepted before they are even issued.
    let sandbox = Sandbox::start(SandboxConfig {
        students: 50,
        token_lifetime: Duration::from_secs(20),
        faults: Faults {
            token_early_expiry: Duration::from_secs(30),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let plan = plan_for(&sandbox);
    let sink = sink(sink_config(&sandbox)).await;
    let collected = Collected::default();
    let err = sink.apply(&plan, &collected.callback()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("403 Forbidden"), "{text}");
    assert!(text.contains("freshly issued access tokens"), "{text}");
    assert_one_outcome_each(&plan, &collected.all());
    // The call and three renewals, then no more.
    assert_eq!(sandbox.provisioning_store().requests().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_that_does_not_verify_is_named_and_not_retried() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(50, Outage::default()).await;
    let plan = plan_for(&sandbox);
    // Without the sandbox CA the authorisation server's certificate has an
    // unknown issuer.
    let sink = sink(SkolverketConfig {
        ca_cert: None,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    let started = Instant::now();
    let err = sink.apply(&plan, &collected.callback()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SinkError::Auth { .. }), "{text}");
    assert!(
        text.contains("the provtjänst's TLS certificate did not verify"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(collected.all().is_empty());
    assert!(sandbox.provisioning_store().requests().is_empty());
}

/// Builds the sink in a thread, so a read that blocks fails the test
/// instead of hanging it.
fn build_with_timeout(config: SkolverketConfig) -> Result<(), ConfigError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(SkolverketSink::new(&config, Path::new("/")).map(|_| ()));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("building the sink returned instead of blocking on the file")
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_or_device_as_certificate_or_key_is_refused() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(50, Outage::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("client.crt");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());

    let err = build_with_timeout(SkolverketConfig {
        client_cert: Some(fifo.clone()),
        ..sink_config(&sandbox)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("client_cert"), "{err}");
    assert!(err.contains("FIFO"), "{err}");
    assert!(err.contains("regular files only"), "{err}");

    let err = build_with_timeout(SkolverketConfig {
        client_key: Some("/dev/zero".into()),
        ..sink_config(&sandbox)
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("client_key") && err.contains("device"),
        "{err}"
    );

    let err = build_with_timeout(SkolverketConfig {
        ca_cert: Some(fifo),
        ..sink_config(&sandbox)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("ca_cert") && err.contains("FIFO"), "{err}");

    // The same files as regular files are fine.
    build_with_timeout(sink_config(&sandbox)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_budget_is_a_configuration_error() {
    let sandbox = sandbox(50, Outage::default()).await;
    let err = build_with_timeout(SkolverketConfig {
        retry_budget_secs: 0,
        ..sink_config(&sandbox)
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("retry_budget_secs"), "{err}");
}
