//! Times the transform and the diff over a generated municipality and
//! reports peak memory.
//!
//! ```text
//! cargo run --release -p skolsync-transform --example transform_bench -- --students 1200000
//! ```
//!
//! Options: `--students N` (default 1 200 000), `--seed S`, `--dirt D`
//! (share 0–1, default 0), `--stages` (print the time of each transform
//! stage). Generation is timed separately and not part of
//! the transform figure. Memory is the process's high-water mark (`VmHWM`
//! in `/proc/self/status`, Linux only): once after generation, and once for
//! the transform and diffs, after resetting the mark (`clear_refs`), so the
//! second figure is the peak while the source snapshot is held and
//! transformed — the situation of a real run. As in the engine, the
//! snapshot is dropped once transformed, before the diffs.

use std::process::ExitCode;
use std::time::Instant;

use skolsync_model::plan::{DesiredState, PreviousState};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_sandbox::generate::{self, GenerateConfig, Municipality, REFERENCE_DATE};
use skolsync_transform::{OpenData, TransformConfig, Transformer, diff, previous_state};

struct Args {
    students: usize,
    seed: u64,
    dirt: f64,
    stages: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        students: 1_200_000,
        seed: 1,
        dirt: 0.0,
        stages: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--students" => {
                args.students = value()?.parse().map_err(|e| format!("--students: {e}"))?
            }
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--dirt" => args.dirt = value()?.parse().map_err(|e| format!("--dirt: {e}"))?,
            "--stages" => args.stages = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

/// A line of `/proc/self/status` in MiB, e.g. `VmHWM`.
fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn mib(value: Option<f64>) -> String {
    value.map_or_else(|| "n/a".to_string(), |v| format!("{v:.0} MiB"))
}

/// Resets `VmHWM` to the current RSS (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// What a connector would yield and what open-data would hold, moved out
/// of the generated municipality (not copied).
fn source_snapshot(m: &mut Municipality) -> (Snapshot, OpenData) {
    // What a connector would yield: the source's entities, moved (not
    // copied); entities with unknown enum values never get this far.
    let source = &mut m.source;
    let overrides = std::mem::take(&mut source.raw_overrides);
    let keep = |kind: EntityKind, id: &skolsync_model::ss12000::SourceId| {
        !overrides.contains_key(&(kind, id.clone()))
    };
    let mut snapshot = Snapshot {
        organisations: std::mem::take(&mut source.organisations),
        persons: std::mem::take(&mut source.persons),
        duties: std::mem::take(&mut source.duties),
        groups: std::mem::take(&mut source.groups),
        activities: std::mem::take(&mut source.activities),
        syllabuses: std::mem::take(&mut source.syllabuses),
        programmes: std::mem::take(&mut source.programmes),
        deleted: Default::default(),
        origins: Default::default(),
    };
    snapshot.groups.retain(|g| keep(EntityKind::Group, &g.id));
    snapshot
        .activities
        .retain(|a| keep(EntityKind::Activity, &a.id));
    let catalogue = std::mem::take(&mut m.catalogue);
    let open_data = OpenData {
        organisations: catalogue.organisations,
        school_units: catalogue.school_units,
        programmes: catalogue.programmes,
        test_activities: catalogue.test_activities,
        unreadable: Vec::new(),
        fetched_at: None,
        source_url: None,
    };
    (snapshot, open_data)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("transform_bench: {e}");
            return ExitCode::from(2);
        }
    };

    if args.stages {
        tracing_subscriber::fmt()
            .with_env_filter("skolsync_transform::timing=debug")
            .with_writer(std::io::stderr)
            .init();
    }

    let started = Instant::now();
    let mut m = generate::generate(&GenerateConfig {
        students: args.students,
        seed: args.seed,
        dirt: args.dirt,
        ..GenerateConfig::default()
    });
    println!(
        "generated {} students (seed {}, dirt {}) in {:.2} s, peak memory {}",
        args.students,
        args.seed,
        args.dirt,
        started.elapsed().as_secs_f64(),
        mib(proc_status_mib("VmHWM"))
    );

    let (snapshot, open_data) = source_snapshot(&mut m);
    let memberships: usize = snapshot
        .groups
        .iter()
        .map(|g| g.group_memberships.len())
        .sum();
    println!(
        "snapshot: {} persons, {} duties, {} groups ({} memberships), {} activities",
        snapshot.persons.len(),
        snapshot.duties.len(),
        snapshot.groups.len(),
        memberships,
        snapshot.activities.len()
    );
    let resident = proc_status_mib("VmRSS");
    let reset = reset_peak();

    let config = TransformConfig {
        reference_date: Some(REFERENCE_DATE.to_string()),
        ..TransformConfig::default()
    };
    let transformer = match Transformer::new(config, open_data) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("transform_bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let out = match transformer.run(&snapshot) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("transform_bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let transform_time = started.elapsed();
    let peak_transform = proc_status_mib("VmHWM");
    // The engine drops the source once it is transformed; so does the bench.
    drop(snapshot);
    let c = &out.counts;
    for (name, t) in [
        ("persons", &c.persons),
        ("duties", &c.duties),
        ("groups", &c.groups),
        ("activities", &c.activities),
    ] {
        println!(
            "  {name:<11} read {:>9}  out of scope {:>8}  out {:>9}  rejected {:>6}  warnings {:>6}",
            t.read, t.out_of_scope, t.out, t.rejected, t.warnings
        );
    }

    // What a later run would hold as confirmed (hashes computed here,
    // outside the timings).
    let previous = previous_state(&out.desired);

    // First load: everything is a create. The diff computes every content
    // hash (once, after the transform) and moves the payloads into the plan.
    let started = Instant::now();
    let plan = diff(out.desired, &PreviousState::default());
    let first_diff = started.elapsed();
    let creates = plan.persons.create.len()
        + plan.duties.create.len()
        + plan.groups.create.len()
        + plan.activities.create.len();
    // The same desired state again, taken back from the plan (no copy).
    let desired = DesiredState {
        persons: plan.persons.create,
        duties: plan.duties.create,
        groups: plan.groups.create,
        activities: plan.activities.create,
    };

    // Nightly run: nothing changed.
    let started = Instant::now();
    let plan = diff(desired, &previous);
    let nightly_diff = started.elapsed();
    let unchanged = plan.persons.unchanged.len()
        + plan.duties.unchanged.len()
        + plan.groups.unchanged.len()
        + plan.activities.unchanged.len();

    println!("transform           {:.2} s", transform_time.as_secs_f64());
    println!(
        "diff, first load    {:.2} s ({creates} creates)",
        first_diff.as_secs_f64()
    );
    println!(
        "diff, unchanged     {:.2} s ({unchanged} unchanged, empty: {})",
        nightly_diff.as_secs_f64(),
        plan.is_empty()
    );
    println!(
        "first-load run      {:.2} s (transform + first-load diff)",
        (transform_time + first_diff).as_secs_f64()
    );
    println!(
        "nightly run         {:.2} s (transform + unchanged diff)",
        (transform_time + nightly_diff).as_secs_f64()
    );
    println!(
        "memory before run   {} (the snapshot, resident)",
        mib(resident)
    );
    if reset {
        println!(
            "peak memory (HWM)   {} during the transform (snapshot held)",
            mib(peak_transform)
        );
        println!(
            "peak memory (HWM)   {} during transform and diffs",
            mib(proc_status_mib("VmHWM"))
        );
    } else {
        println!(
            "peak memory (HWM)   {} (whole process; clear_refs unavailable)",
            mib(proc_status_mib("VmHWM"))
        );
    }
    ExitCode::SUCCESS
}
