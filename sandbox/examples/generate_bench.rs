//! Times the municipality generator and reports its peak memory.
//!
//! ```text
//! cargo run --release -p skolsync-sandbox --example generate_bench -- --students 1200000
//! ```
//!
//! Options: `--students N` (default 1 200 000), `--seed S`, `--dirt D`
//! (share 0–1), `--csv DIR` (also time the CSV export into DIR),
//! `--layout flat|skolverket` (default flat).
//! Peak memory is the process's high-water mark (`VmHWM` in
//! `/proc/self/status`, Linux only).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use skolsync_sandbox::generate::{self, CsvLayout, CsvOptions, GenerateConfig};

struct Args {
    students: usize,
    seed: u64,
    dirt: f64,
    csv: Option<PathBuf>,
    layout: CsvLayout,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        students: 1_200_000,
        seed: 1,
        dirt: 0.0,
        csv: None,
        layout: CsvLayout::Flat,
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
            "--csv" => args.csv = Some(PathBuf::from(value()?)),
            "--layout" => {
                args.layout = match value()?.as_str() {
                    "flat" => CsvLayout::Flat,
                    "skolverket" => CsvLayout::Skolverket,
                    other => return Err(format!("--layout: unknown layout {other}")),
                }
            }
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

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("generate_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let config = GenerateConfig {
        students: args.students,
        seed: args.seed,
        dirt: args.dirt,
        ..GenerateConfig::default()
    };
    let baseline = proc_status_mib("VmRSS");
    let started = Instant::now();
    let m = generate::generate(&config);
    let elapsed = started.elapsed();

    let s = &m.source;
    let students = s
        .persons
        .iter()
        .filter(|p| !p.enrolments.is_empty())
        .count();
    let memberships: usize = s.groups.iter().map(|g| g.group_memberships.len()).sum();
    println!(
        "generated {} (seed {}, dirt {})",
        m.name, args.seed, args.dirt
    );
    println!("  school units      {}", m.catalogue.school_units.len());
    println!(
        "  persons           {} ({} students, {} staff)",
        s.persons.len(),
        students,
        s.persons.len() - students
    );
    println!("  duties            {}", s.duties.len());
    println!(
        "  groups            {} ({} memberships)",
        s.groups.len(),
        memberships
    );
    println!("  activities        {}", s.activities.len());
    println!("  syllabuses        {}", s.syllabuses.len());
    println!("  dirty records     {}", m.dirty.len());
    println!("time                {:.2} s", elapsed.as_secs_f64());
    println!("memory before       {}", mib(baseline));
    println!("memory after (RSS)  {}", mib(proc_status_mib("VmRSS")));
    println!("peak memory (HWM)   {}", mib(proc_status_mib("VmHWM")));

    if let Some(dir) = args.csv {
        let started = Instant::now();
        let options = CsvOptions {
            layout: args.layout,
            ..CsvOptions::default()
        };
        match generate::export_csv(&m, &dir, &options) {
            Ok(files) => {
                let bytes: u64 = files
                    .iter()
                    .filter_map(|f| std::fs::metadata(f).ok())
                    .map(|m| m.len())
                    .sum();
                println!(
                    "csv export          {:.2} s, {} files, {:.0} MiB",
                    started.elapsed().as_secs_f64(),
                    files.len(),
                    bytes as f64 / (1024.0 * 1024.0)
                );
                println!("peak memory (HWM)   {}", mib(proc_status_mib("VmHWM")));
            }
            Err(e) => {
                eprintln!("generate_bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
