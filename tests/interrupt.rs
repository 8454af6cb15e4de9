//! End to end: a run stops when told to, at any phase.
//!
//! `skolsync run` is started as a process against the sandbox and sent
//! SIGINT while it reads the source, or SIGTERM while it sends: it exits 4,
//! writes its report with outcome `interrupted`, sends nothing after the
//! signal, and the next run finishes the load without flags.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skolsync::state::{RunOutcome, StateStore};
use skolsync_model::ObjectType;
use support::{Harness, assert_success};

const PIPELINE: &str = "educloud-to-skolverket.toml";
const STATE: &str = "state/exempelby.sqlite";

fn start(h: &Harness, path: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("-q")
        .arg("run")
        .arg(path)
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(h.dir.path().join("stderr.txt")).expect("stderr file"))
        .spawn()
        .expect("start skolsync run")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg("-s")
        .arg(name)
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -s {name} failed");
}

fn stderr(h: &Harness) -> String {
    std::fs::read_to_string(h.dir.path().join("stderr.txt")).unwrap_or_default()
}

/// Waits until the child's run has begun reading (it got an EduCloud
/// token). The state file is not opened meanwhile: that would race the
/// run's own schema set-up.
async fn wait_for_run(h: &Harness, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the run never began: {}",
            stderr(h)
        );
        assert!(
            child.try_wait().expect("child status").is_none(),
            "the run ended early: {}",
            stderr(h)
        );
        if h.sandbox.educloud_tokens().issued() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the child to exit and returns its exit code.
async fn exit_code(h: &Harness, child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("child status") {
            return status
                .code()
                .unwrap_or_else(|| panic!("killed by a signal: {}", stderr(h)));
        }
        assert!(
            Instant::now() < deadline,
            "the run did not stop: {}",
            stderr(h)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The JSON reports the runs wrote, in run order.
fn reports(h: &Harness) -> Vec<serde_json::Value> {
    let dir: PathBuf = h.dir.path().join("reports");
    let mut found = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
        .iter()
        .map(|p| {
            serde_json::from_str(&std::fs::read_to_string(p).expect("read the report"))
                .expect("the report is JSON")
        })
        .collect()
}

/// The one JSON report the run wrote.
fn report(h: &Harness) -> serde_json::Value {
    let mut all = reports(h);
    assert_eq!(all.len(), 1, "one report expected\n{}", stderr(h));
    all.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_reading_stops_with_a_report_and_sends_nothing() {
    let h = Harness::new().await;
    // Slow answers, so the read takes seconds.
    let mut faults = h.sandbox.faults().get();
    faults.slow = Duration::from_millis(400);
    h.sandbox.faults().set(faults);
    let path = h.copy(PIPELINE);
    let mut child = start(&h, &path);
    wait_for_run(&h, &mut child).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&child, "INT");

    assert_eq!(exit_code(&h, &mut child).await, 4, "{}", stderr(&h));
    let json = report(&h);
    assert_eq!(json["outcome"], "interrupted", "{json:#}");
    let reason = json["abort_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("SIGINT") && reason.contains("nothing was sent"),
        "{reason}"
    );
    assert_eq!(h.bulk_sends(), 0, "something was sent");
    assert_eq!(h.store().count(ObjectType::Person), 0);

    // The lock is free: the next run goes ahead and lands everything.
    let mut faults = h.sandbox.faults().get();
    faults.slow = Duration::ZERO;
    h.sandbox.faults().set(faults);
    assert_success(&h.run(&path).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_sending_stops_sends_nothing_more_and_the_next_run_finishes() {
    // Slow jobs, so the load takes seconds.
    let h = Harness::with(Duration::from_millis(1500)).await;
    let path = h.copy(PIPELINE);
    let mut child = start(&h, &path);
    // Wait for the first persons to land in the sandbox: the load is on.
    // (The state file is not opened here: opening it would race the run's
    // own schema set-up.)
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the run never sent persons");
        assert!(
            child.try_wait().expect("status").is_none(),
            "the run ended first: {}",
            stderr(&h)
        );
        if h.store().count(ObjectType::Person) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at = Instant::now();
    signal(&child, "TERM");
    assert_eq!(exit_code(&h, &mut child).await, 4, "{}", stderr(&h));
    let json = report(&h);
    assert_eq!(json["outcome"], "interrupted", "{json:#}");
    assert!(
        json["abort_reason"]
            .as_str()
            .unwrap_or_default()
            .contains("SIGTERM"),
        "{json:#}"
    );
    // A call already on its way may land; nothing is started after that.
    let late: Vec<_> = h
        .store()
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/bulk") && !r.path.contains("/jobs"))
        .filter(|r| r.at > at + Duration::from_millis(500))
        .map(|r| r.path)
        .collect();
    assert!(late.is_empty(), "sent after the signal: {late:?}");
    assert_eq!(
        h.store().count(ObjectType::Activity),
        0,
        "the run got to the end"
    );

    // The state knows the run ended; the next run finishes without flags.
    let state = h.dir.path().join(STATE);
    let store = StateStore::open(&state).await.expect("state");
    let history = store.history(10).await.expect("history");
    store.close().await;
    assert_eq!(history[0].outcome, Some(RunOutcome::Interrupted));
    let next = h.run(&path).await;
    assert_success(&next);
    assert!(h.store().count(ObjectType::Activity) > 0);
    // It read only what changed (nothing): the rest came from its plan.
    let read = next.report.read.as_ref().expect("a read");
    assert_eq!(read.mode, "incremental", "{read:?}");
    assert_eq!(read.entities_read, 0);
}

/// A pipeline delivering both ways (`[[sink]]` push, then pull) stopped
/// while its first sink sends: both sinks' runs end interrupted (the second
/// before sending anything), and the next run finishes the push and serves
/// everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_first_of_two_sinks_sends_stops_both_and_the_next_run_finishes() {
    let h = Harness::with(Duration::from_millis(1500)).await;
    let path = h.copy("educloud-to-skolverket-and-pull.toml");
    let mut child = start(&h, &path);
    let deadline = Instant::now() + Duration::from_secs(120);
    while h.store().count(ObjectType::Person) == 0 {
        assert!(Instant::now() < deadline, "the run never sent persons");
        assert!(
            child.try_wait().expect("status").is_none(),
            "the run ended first: {}",
            stderr(&h)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&child, "TERM");
    assert_eq!(exit_code(&h, &mut child).await, 4, "{}", stderr(&h));
    let stopped = reports(&h);
    assert_eq!(stopped.len(), 2, "one report per sink: {}", stderr(&h));
    for json in &stopped {
        assert_eq!(json["outcome"], "interrupted", "{json:#}");
    }
    let served = |json: &serde_json::Value| {
        json["sink"]
            .as_str()
            .is_some_and(|s| s.starts_with("sink[2] (ss12000-pull)"))
    };
    let pull = stopped
        .iter()
        .find(|j| served(j))
        .expect("the pull sink's report");
    assert!(
        pull["abort_reason"]
            .as_str()
            .is_some_and(|r| r.contains("nothing was sent")),
        "{pull:#}"
    );

    let next = h.run(&path).await;
    assert_success(&next);
    let store = StateStore::open(h.dir.path().join("state/exempelby-both.sqlite"))
        .await
        .unwrap();
    let held: std::collections::BTreeSet<_> = h.store().persons().iter().map(|p| p.id).collect();
    let served_persons: std::collections::BTreeSet<_> = store
        .served_ids(
            "ss12000-pull:exempelby-both",
            skolsync_model::ss12000::EntityKind::Person,
        )
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert!(!held.is_empty());
    assert_eq!(served_persons, held, "the pull sink serves what was pushed");
    store.close().await;
}
