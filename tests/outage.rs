//! End to end: a 429 storm at the provtjänst during the first load.
//!
//! A short storm is waited out (`Retry-After` honoured, nothing lost). A
//! storm longer than the sink's `retry_budget_secs` stops the load cleanly
//! with what was confirmed recorded; the next run finishes it without
//! `--allow-large-changes`: what the first run tried to send is not counted
//! as change.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use skolsync::state::RunOutcome;
use skolsync_model::ObjectType;
use skolsync_sandbox::Outage;
use support::{Harness, assert_success};

const PIPELINE: &str = "educloud-to-skolverket.toml";

/// The pipeline copied with the sink's retry budget set to `secs`.
fn with_retry_budget(h: &Harness, secs: u64) -> PathBuf {
    let path = h.copy(PIPELINE);
    let text = std::fs::read_to_string(&path).expect("read the pipeline file");
    let text = text.replacen(
        "kind = \"skolverket\"\n",
        &format!("kind = \"skolverket\"\nretry_budget_secs = {secs}\n"),
        1,
    );
    assert!(text.contains("retry_budget_secs"), "no [sink] to change");
    std::fs::write(&path, text).expect("write the pipeline file");
    path
}

/// Calls the Provisioning API answered 429 since the log was cleared.
fn throttled(h: &Harness) -> usize {
    h.store()
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_on_the_first_load_is_waited_out() {
    let h = Harness::new().await;
    h.sandbox.faults().set_outage(Outage {
        throttle_burst: 200,
        retry_after_secs: 0,
        ..Outage::default()
    });
    let path = h.copy(PIPELINE);
    let first = h.run(&path).await;
    assert_success(&first);
    assert!(throttled(&h) >= 200, "the burst never happened");
    assert_eq!(
        h.store().count(ObjectType::Person) as u64,
        first.report.counts.persons.created,
        "{}",
        first.terminal_summary()
    );
    assert!(h.store().count(ObjectType::Activity) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_load_cut_short_by_a_429_burst_is_finished_by_the_next_run() {
    let h = Harness::new().await;
    let path = with_retry_budget(&h, 1);

    // The storm starts once the first persons have landed, and outlasts
    // the 1 s budget (each 429 asks for 2 s).
    let storm = async {
        while h.store().count(ObjectType::Person) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        h.sandbox.faults().set_outage(Outage {
            throttle_burst: 200,
            retry_after_secs: 2,
            ..Outage::default()
        });
    };
    let (first, ()) = tokio::join!(h.run(&path), storm);
    assert_ne!(
        first.report.outcome,
        RunOutcome::Success,
        "the storm did not cut the load short: {}",
        first.terminal_summary()
    );
    assert!(
        first.inconsistencies.is_empty(),
        "{:?}",
        first.inconsistencies
    );
    assert_eq!(first.exit_code(), 4, "{}", first.terminal_summary());
    let landed = held(&h);
    assert!(landed > 0);
    assert_eq!(
        h.store().count(ObjectType::Activity),
        0,
        "the load went to the end"
    );

    // The storm is over; the next run, without flags, finishes the load.
    h.sandbox.faults().set_outage(Outage::default());
    let second = run_plain(&h, &path).await;
    assert_success(&second);
    assert!(second.violations.is_empty(), "{:?}", second.violations);
    assert!(held(&h) > landed);
    assert!(h.store().count(ObjectType::Activity) > 0);
    // And a third run has nothing left to do.
    let third = run_plain(&h, &path).await;
    assert_success(&third);
    assert!(third.report.nothing_sent(), "{}", third.terminal_summary());
}

/// Entities of every type the provtjänst holds.
fn held(h: &Harness) -> usize {
    [
        ObjectType::Person,
        ObjectType::Duty,
        ObjectType::Group,
        ObjectType::Activity,
    ]
    .into_iter()
    .map(|kind| h.store().count(kind))
    .sum()
}

/// A run without `--allow-large-changes`.
async fn run_plain(h: &Harness, path: &Path) -> skolsync::engine::RunResult {
    h.store().clear_requests();
    h.run_with(path, false).await
}
