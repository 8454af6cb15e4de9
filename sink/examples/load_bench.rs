//! Provisions a generated municipality into the in-process sandbox, with the
//! service's real limits (5 bulk/job calls per second, 200 KB bodies), and
//! compares the run with the floor those limits set.
//!
//! ```text
//! cargo run --release -p skolsync-sink --example load_bench -- --students 100000
//! ```
//!
//! Options: `--students N` (default 100 000), `--seed S` (default 1).
//!
//! The floor: with perfect packing the payload needs
//! `total payload bytes / body limit` bulk calls, each making one job that
//! needs one status call; at 5 calls per second that takes
//! `2 × total bytes / limit / 5` seconds. Targets: mean body fill ≥ 90 % of
//! the limit, wall time ≤ 1.15 × the floor.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use skolsync_model::plan::{OutcomeStatus, Plan, TypePlan};
use skolsync_sandbox::provisioning::RateClass;
use skolsync_sandbox::{Limits, Sandbox, SandboxConfig};
use skolsync_sink::{SinkConfig, build};

struct Args {
    students: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        students: 100_000,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--students" => {
                args.students = value()?.parse().map_err(|e| format!("--students: {e}"))?
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

/// Serialized bytes of every entity (each with the comma that separates it
/// in a body).
fn payload_bytes<T: serde::Serialize>(plan: &TypePlan<T>) -> usize {
    plan.create
        .iter()
        .chain(&plan.update)
        .map(|d| serde_json::to_vec(&d.payload).map_or(0, |v| v.len() + 1))
        .sum()
}

fn total_bytes(plan: &Plan) -> usize {
    payload_bytes(&plan.persons)
        + payload_bytes(&plan.duties)
        + payload_bytes(&plan.groups)
        + payload_bytes(&plan.activities)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("load_bench: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load_bench: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let limits = Limits::default();
    let sandbox = match Sandbox::start(SandboxConfig {
        students: args.students,
        seed: args.seed,
        limits,
        ..SandboxConfig::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load_bench: sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    let plan = support::plan_for(&sandbox);
    let entities = plan.persons.create.len()
        + plan.duties.create.len()
        + plan.groups.create.len()
        + plan.activities.create.len();
    let bytes = total_bytes(&plan);
    let limit = limits.max_body_bytes;
    let config = support::sink_config(&sandbox);
    let packing_limit = config.max_body_bytes;
    let sink = match build(
        &SinkConfig::Skolverket(config),
        &skolsync_model::BuildContext::new("."),
        skolsync_sink::SinkStores::default(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load_bench: sink: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "students {}: {} persons, {} duties, {} groups, {} activities ({} entities, {:.1} MB of payload)",
        args.students,
        plan.persons.create.len(),
        plan.duties.create.len(),
        plan.groups.create.len(),
        plan.activities.create.len(),
        entities,
        bytes as f64 / 1e6
    );

    let started = Instant::now();
    let collected = support::Collected::default();
    let result = sink.apply(&plan, &collected.callback()).await;
    let wall = started.elapsed();
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            eprintln!("load_bench: apply failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcomes = collected.all();
    let ok = outcomes
        .iter()
        .filter(|o| o.status == OutcomeStatus::Success)
        .count();

    let store = sandbox.provisioning_store();
    let requests = store.requests();
    let bulk = support::bulk_calls(&requests);
    let status = requests
        .iter()
        .filter(|r| r.path.contains("/bulk/jobs/"))
        .count();
    let mean_body =
        bulk.iter().map(|r| r.body_bytes).sum::<usize>() as f64 / bulk.len().max(1) as f64;
    let first = requests.iter().map(|r| r.at).min();
    let last = requests.iter().map(|r| r.at).max();
    let span = match (first, last) {
        (Some(a), Some(b)) => b.duration_since(a),
        _ => Duration::ZERO,
    };
    let mut times: Vec<_> = requests
        .iter()
        .filter(|r| r.class == RateClass::Bulk)
        .map(|r| r.at)
        .collect();
    times.sort();
    let busiest = (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|t| t.duration_since(times[i]) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0);
    let floor_bulk = bytes.div_ceil(limit);
    let floor_calls = 2 * floor_bulk;
    let floor = Duration::from_secs_f64(floor_calls as f64 / f64::from(limits.bulk_per_second));

    println!("outcomes: {ok} Success of {} entities", outcomes.len());
    println!(
        "requests sent: {} ({} bulk, {} job status/isCompleted, {} answered 429)",
        requests.len(),
        bulk.len(),
        status,
        requests.iter().filter(|r| r.status == 429).count()
    );
    println!(
        "mean body fill: {:.1} % of the {limit}-byte limit ({:.1} % of the sink's {packing_limit}-byte packing limit); largest body {} bytes",
        100.0 * mean_body / limit as f64,
        100.0 * mean_body / packing_limit as f64,
        bulk.iter().map(|r| r.body_bytes).max().unwrap_or(0)
    );
    println!(
        "achieved: {:.2} calls/s over the run ({:.2} over the span of calls); busiest second held {busiest} calls",
        requests.len() as f64 / wall.as_secs_f64(),
        requests.len() as f64 / span.as_secs_f64().max(1e-9),
    );
    println!(
        "wall time: {:.1} s; floor {:.1} s ({floor_bulk} bulk calls at perfect packing + {floor_bulk} status calls, at {}/s); ratio {:.3}",
        wall.as_secs_f64(),
        floor.as_secs_f64(),
        limits.bulk_per_second,
        wall.as_secs_f64() / floor.as_secs_f64()
    );
    println!("sink's own count: {:?}", summary.calls);
    if ok != outcomes.len() || outcomes.len() != entities {
        eprintln!("load_bench: not every entity landed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
