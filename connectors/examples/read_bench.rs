//! Reads a whole municipality from the sandbox's EduCloud over loopback and
//! reports entities per second and the reader's peak memory.
//!
//! ```text
//! cargo run --release -p skolsync-connectors --example read_bench -- --students 1200000
//! ```
//!
//! The sandbox runs in a child process (this program started again with
//! `--serve`), so the peak memory printed (`VmHWM` of `/proc/self/status`,
//! Linux only) is the reader's alone, not the emulator's 1.2 million
//! generated students.
//!
//! Options: `--students N` (default 1 200 000), `--page-size N` (1000),
//! `--concurrency N` (3), `--collect` (keep everything in a `Snapshot`, as
//! the engine does, instead of counting and dropping each batch).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use futures::StreamExt;
use skolsync_connectors::{Batch, ReadOptions, SourceConfig, build, collect};
use skolsync_model::ss12000::EntityKind;
use skolsync_sandbox::{Endpoints, Sandbox, SandboxConfig};

struct Args {
    students: usize,
    page_size: u32,
    concurrency: usize,
    collect: bool,
    serve: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        students: 1_200_000,
        page_size: 1000,
        concurrency: 3,
        collect: false,
        serve: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--students" => {
                args.students = value()?.parse().map_err(|e| format!("--students: {e}"))?
            }
            "--page-size" => {
                args.page_size = value()?.parse().map_err(|e| format!("--page-size: {e}"))?
            }
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            "--collect" => args.collect = true,
            "--serve" => args.serve = true,
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

/// The child: serve a sandbox, print its endpoints, run until stdin closes.
async fn serve(students: usize) -> Result<(), String> {
    let sandbox = Sandbox::start(SandboxConfig {
        students,
        ..SandboxConfig::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let line = serde_json::to_string(sandbox.endpoints()).map_err(|e| e.to_string())?;
    println!("{line}");
    // The parent closes our stdin when it is done (or dies).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await
    .map_err(|e| e.to_string())?;
    sandbox.shutdown().await;
    Ok(())
}

async fn bench(args: &Args, endpoints: &Endpoints) -> Result<(), String> {
    let toml_text = format!(
        "kind = \"educloud\"\nbase_url = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n\
         page_size = {}\nconcurrency = {}\nrequests_per_second = 0\n",
        endpoints.educloud_url,
        endpoints.educloud_token_url,
        endpoints.client_id,
        endpoints.client_secret,
        args.page_size,
        args.concurrency
    );
    let config: SourceConfig = toml::from_str(&toml_text).map_err(|e| e.to_string())?;
    let source =
        build(&config, &skolsync_model::BuildContext::new(".")).map_err(|e| e.to_string())?;
    let before = proc_status_mib("VmRSS");
    let started = Instant::now();
    let stream = source.read(ReadOptions::default());
    let mut counts = std::collections::BTreeMap::<EntityKind, usize>::new();
    let mut rejects = 0;
    if args.collect {
        let (snapshot, r, summary) = collect(stream).await.map_err(|e| e.to_string())?;
        counts = summary.counts.clone();
        rejects = r.len();
        // Keep the snapshot alive until the figures are taken.
        std::hint::black_box(&snapshot);
    } else {
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            let batch = item.map_err(|e| e.to_string())?;
            if let Some(kind) = batch.kind() {
                *counts.entry(kind).or_default() += batch.len();
            } else if let Batch::Rejects(r) = &batch {
                rejects += r.len();
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = counts.values().sum();
    println!(
        "read {} ({} mode, page size {}, concurrency {})",
        source.describe(),
        if args.collect { "collect" } else { "stream" },
        args.page_size,
        args.concurrency
    );
    for (kind, n) in &counts {
        println!("  {:<14}{n:>10}", kind.endpoint());
    }
    println!("  {:<14}{rejects:>10}", "rejects");
    println!("entities            {total}");
    println!("time                {elapsed:.1} s");
    println!(
        "entities/s          {:.0}",
        total as f64 / elapsed.max(1e-9)
    );
    println!("memory before       {}", mib(before));
    println!("peak memory (HWM)   {}", mib(proc_status_mib("VmHWM")));
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("read_bench: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("read_bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.serve {
        return match runtime.block_on(serve(args.students)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("read_bench (sandbox): {e}");
                ExitCode::FAILURE
            }
        };
    }

    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("read_bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let generating = Instant::now();
    let mut child = match Command::new(exe)
        .args(["--serve", "--students", &args.students.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("read_bench: cannot start the sandbox process: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut first = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut first);
    }
    let endpoints: Endpoints = match serde_json::from_str(first.trim()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("read_bench: the sandbox did not start: {e}");
            let _ = child.kill();
            return ExitCode::FAILURE;
        }
    };
    println!(
        "sandbox with {} students ready in {:.1} s (separate process)",
        args.students,
        generating.elapsed().as_secs_f64()
    );
    let result = runtime.block_on(bench(&args, &endpoints));
    drop(child.stdin.take());
    let _ = child.wait();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("read_bench: {e}");
            ExitCode::FAILURE
        }
    }
}
