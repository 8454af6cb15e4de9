//! Full versus incremental reads of a large municipality behind the
//! sandbox's realistic source (at most 100 entities a page, 150 ms a page),
//! end to end through `engine::run` into the sandbox's Provisioning API.
//!
//! 1. A first run loads everything (not measured: the initial load).
//! 2. Scenario "moves": 1 % of the pupils change (half move to a parallel
//!    class, which touches every group they leave and join; half get a new
//!    family name); `run --full`; another 1 % change; a plain run, which
//!    reads incrementally.
//! 3. Scenario "renames": the same with 1 % of the pupils renamed only.
//!
//! In each scenario the two runs send the same kind and amount of change,
//! so the difference between them is the read.
//!
//! Time: changes come during the day and runs at night, hours apart; the
//! bench compresses that into minutes by moving the sandbox source's clock
//! (its `meta` stamps and the `Date` of its answers, whence the watermark)
//! an hour forward before every change set and every run. Without it the
//! five-minute lookback of an incremental read would reach back over the
//! change set made just before the previous read (and the previous
//! scenario's), which a real night's run does not: it would re-read those
//! too. The engine's own clock is the machine's, so the periodic full read
//! (a week) is not affected. Log lines (stderr, `INFO`)
//! give the phases. Printed: source calls (data reads: lists,
//! `/deletedEntities`), wall time and what was sent, and the ratios.
//!
//! `cargo run --release --example incremental_bench -- [--students N]
//! [--share 0.01] [--latency-ms 150] [--page 100]` (default 100 000 pupils).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // a benchmark reports by unwrapping; the scenario reads top to bottom

use std::time::{Duration, Instant};

use skolsync::engine::{self, RunOptions, RunResult};
use skolsync::pipeline::{LoadOptions, Pipeline, SandboxChoice};
use skolsync_model::ss12000::{EntityKind, SourceId};
use skolsync_sandbox::change::Changed;
use skolsync_sandbox::{Sandbox, SandboxConfig, SourceOptions};

const PIPELINE: &str = r#"
name = "bench"

[source]
kind = "educloud"
org_identifier = "SE00100"
client_id = "replaced-by-the-sandbox"
client_secret = "replaced-by-the-sandbox"

[transform]
school_types = ["GR", "SP", "SAM", "GY", "VUXGY"]

[sink]
kind = "skolverket"
environment = "verifieringstest"
client_cert = "replaced-by-the-sandbox"
client_key = "replaced-by-the-sandbox"

[guards]
max_changes_ratio = 0.5
"#;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().ok().expect("a number"))
        .unwrap_or(default)
}

struct Measured {
    calls: u64,
    pages_persons: u64,
    seconds: f64,
    sent: u64,
    mode: String,
}

async fn measured_run(sandbox: &Sandbox, pipeline: &Pipeline, full: bool) -> Measured {
    sandbox.reset_source_calls();
    let start = Instant::now();
    let result: RunResult = engine::run(
        pipeline,
        &RunOptions {
            full_read: full,
            allow_large_changes: true,
            ..RunOptions::default()
        },
    )
    .await
    .expect("the run runs");
    let seconds = start.elapsed().as_secs_f64();
    let calls = sandbox.source_calls();
    let c = result.report.counts.sum();
    assert!(
        result.inconsistencies.is_empty(),
        "{}",
        result.terminal_summary()
    );
    Measured {
        calls: calls.data_reads(),
        pages_persons: calls.endpoint("GET /persons"),
        seconds,
        sent: c.created + c.updated + c.deleted,
        mode: result
            .report
            .read
            .as_ref()
            .map(|r| r.line())
            .unwrap_or_default(),
    }
}

/// Renames `share` of the pupils (persons with an enrolment), every
/// `1/share`-th one starting at `round` (so rounds rename other pupils),
/// as one change set.
fn rename_share(sandbox: &Sandbox, share: f64, round: usize) -> anyhow::Result<Changed> {
    let pupils: Vec<(SourceId, String)> = {
        let data = sandbox
            .world()
            .source
            .read()
            .map_err(|_| anyhow::anyhow!("the source lock is poisoned"))?;
        data.persons
            .iter()
            .filter(|p| !p.enrolments.is_empty())
            .map(|p| (p.id.clone(), p.given_name.clone()))
            .collect()
    };
    let step = (1.0 / share).round().max(1.0) as usize;
    Ok(sandbox.change(|m| {
        for (id, given) in pupils.iter().skip(round).step_by(step) {
            m.rename_person(id, given, "Bytesson")?;
        }
        Ok(())
    })?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let students: usize = arg("--students", 100_000);
    let share: f64 = arg("--share", 0.01);
    let latency_ms: u64 = arg("--latency-ms", 150);
    let page: usize = arg("--page", 100);
    println!(
        "generating {students} pupils; source: {page} a page, {latency_ms} ms a page; {:.1} % changed per step",
        share * 100.0
    );
    let sandbox = Sandbox::start(SandboxConfig {
        students,
        job_settle_delay: Duration::from_millis(50),
        source: SourceOptions {
            max_page_size: page,
            latency: Duration::from_millis(latency_ms),
            ..SourceOptions::default()
        },
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, PIPELINE)?;
    let pipeline = Pipeline::load(
        &path,
        &LoadOptions {
            sandbox: SandboxChoice::Attach(Box::new(sandbox.endpoints().clone())),
            ..LoadOptions::default()
        },
    )
    .await?;

    let start = Instant::now();
    let initial = measured_run(&sandbox, &pipeline, false).await;
    println!(
        "initial load: {} entities sent in {:.1} s ({} source calls)",
        initial.sent,
        start.elapsed().as_secs_f64(),
        initial.calls
    );

    // An hour passes (see the module docs).
    let hour_passes = |sandbox: &Sandbox| {
        sandbox
            .advance_source_clock(chrono::Duration::hours(1))
            .expect("the source's clock moves")
    };
    for scenario in ["moves", "renames"] {
        let change = |sandbox: &Sandbox, round: usize| -> anyhow::Result<()> {
            let changed = if scenario == "moves" {
                sandbox.change_share_of_pupils(share)?
            } else {
                rename_share(sandbox, share, round)?
            };
            eprintln!(
                "changed {} persons, {} groups",
                changed.touched(EntityKind::Person).len(),
                changed.touched(EntityKind::Group).len()
            );
            Ok(())
        };
        hour_passes(&sandbox);
        change(&sandbox, 1)?;
        hour_passes(&sandbox);
        let full = measured_run(&sandbox, &pipeline, true).await;
        hour_passes(&sandbox);
        change(&sandbox, 2)?;
        hour_passes(&sandbox);
        let incremental = measured_run(&sandbox, &pipeline, false).await;

        println!();
        println!("scenario {scenario}:");
        println!("| run | source calls | of which GET /persons | wall time | entities sent |");
        println!("|---|---|---|---|---|");
        for (name, m) in [
            ("full (`run --full`)", &full),
            ("incremental", &incremental),
        ] {
            println!(
                "| {name} | {} | {} | {:.1} s | {} |",
                m.calls, m.pages_persons, m.seconds, m.sent
            );
        }
        println!("full: {}", full.mode);
        println!("incremental: {}", incremental.mode);
        println!(
            "incremental / full: source calls {:.1} %, wall time {:.1} %",
            100.0 * incremental.calls as f64 / full.calls.max(1) as f64,
            100.0 * incremental.seconds / full.seconds.max(f64::EPSILON)
        );
    }
    sandbox.shutdown().await;
    Ok(())
}
