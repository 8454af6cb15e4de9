//! Measures the state store and the report builder at municipality scale:
//! outcomes recorded per second (batched writer vs one transaction each),
//! loading the previous state, and building a report.
//!
//! `cargo run --release --example state_bench [ENTITIES]` (default 20 000).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

use std::time::Instant;

use chrono::Utc;
use skolsync::report::ReportBuilder;
use skolsync::state::{RunOutcome, StateStore};
use skolsync_model::ObjectType;
use skolsync_model::plan::{Action, Desired, Outcome, OutcomeStatus};
use uuid::Uuid;

const SINK: &str = "https://provisioning.example/v1";

fn outcome(n: u64) -> Outcome {
    Outcome {
        kind: ObjectType::Person,
        id: Uuid::from_u128(u128::from(n)),
        action: Action::Create,
        status: if n.is_multiple_of(50) {
            OutcomeStatus::Error
        } else {
            OutcomeStatus::Success
        },
        hash: Some(format!("{n:064x}")),
        left_out: Vec::new(),
        messages: Vec::new(),
        detail: None,
        blocked_by: None,
        job_id: None,
        attempts: 1,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let entities: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let dir = tempfile::tempdir()?;
    let store = StateStore::open(dir.path().join("bench.sqlite")).await?;
    let run = store.begin_run("bench", SINK).await?;

    let start = Instant::now();
    let mut writer = store.outcome_writer(run.run_id(), SINK).await;
    let mut report = ReportBuilder::new(run.run_id(), "bench", Utc::now());
    for n in 0..entities {
        let desired = Desired {
            id: Uuid::from_u128(u128::from(n)),
            source_id: format!("p-{n}"),
            hash: String::new(),
            school_unit: Some("46165416".into()),
            payload: (),
        };
        report.add_planned(ObjectType::Person, Action::Create, &desired, None);
    }
    for n in 0..entities {
        let o = outcome(n);
        report.add_outcome(&o);
        writer
            .record(o, Some(format!("p-{n}")), Some("46165416".into()))
            .await?;
    }
    let written = writer.finish().await?;
    let batched = start.elapsed();
    println!(
        "batched writer:      {written} outcomes in {:>7.1} ms = {:>9.0} outcomes/s (report builder included)",
        batched.as_secs_f64() * 1e3,
        written as f64 / batched.as_secs_f64()
    );

    let single = entities.min(2_000);
    let start = Instant::now();
    for n in 0..single {
        let o = outcome(entities + n);
        store
            .record_outcome(run.run_id(), SINK, &o, Some("p"), None)
            .await?;
    }
    let unbatched = start.elapsed();
    println!(
        "one commit each:     {single} outcomes in {:>7.1} ms = {:>9.0} outcomes/s",
        unbatched.as_secs_f64() * 1e3,
        single as f64 / unbatched.as_secs_f64()
    );

    let start = Instant::now();
    let previous = store.previous_state(SINK).await?;
    let loaded: usize = previous.hashes.values().map(|m| m.len()).sum();
    println!(
        "previous_state:      {loaded} entities in {:>7.1} ms",
        start.elapsed().as_secs_f64() * 1e3
    );

    let start = Instant::now();
    let report = report.finish(Utc::now());
    let html = skolsync::report::to_html(&report);
    println!(
        "report finish + html: {} problems, {} KB HTML in {:>7.1} ms",
        report.problems.len(),
        html.len() / 1024,
        start.elapsed().as_secs_f64() * 1e3
    );
    run.finish(RunOutcome::Success, None, &serde_json::json!({}))
        .await?;
    println!(
        "state file: {} KB",
        std::fs::metadata(store.path())?.len() / 1024
    );
    Ok(())
}
