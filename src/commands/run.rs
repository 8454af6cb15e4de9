//! `skolsync run PIPELINE`: plan, then send the changes.

use std::process::ExitCode;

use clap::Args;
use skolsync::engine::{self, Interrupt, Progress, RunOptions};

use super::common::{Failure, PipelineArgs};

/// Options of `skolsync run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Print the run report as one JSON document on stdout at the end (no
    /// progress bars); a pipeline with several `[[sink]]`s prints a JSON
    /// list of their reports.
    #[arg(long)]
    pub json: bool,

    /// Send even if the plan exceeds the `[guards]` limits (max_deletes,
    /// max_changes_ratio, member losses) or the read looks broken (a
    /// column gone, a file that shrank sharply, a truncated file, a stray
    /// quote). Check the plan first: `skolsync plan`.
    #[arg(long)]
    pub allow_large_changes: bool,

    /// Read the whole source even where an incremental read (only what
    /// changed since the last run) or the cached copy of unchanged files
    /// would do: heals anything the incremental path missed, and renews the
    /// cached copy. Runs also read in full on their own every
    /// `[incremental] full_read_every_hours` (default a week).
    #[arg(long)]
    pub full: bool,

    /// Replace a file the sink would otherwise refuse to write over (the
    /// upload workbook of a `skolverket-file` sink whose `file_name` has
    /// no `{timestamp}`). Without it an existing file is never touched.
    #[arg(long)]
    pub force: bool,
}

/// Carries out `skolsync run`.
pub async fn execute(args: &RunArgs) -> Result<ExitCode, Failure> {
    let pipeline = args.pipeline.load().await?;
    if let Some(sandbox) = &pipeline.sandbox {
        eprintln!(
            "skolsync: running `{}` against the sandbox (provisioning at {})",
            pipeline.name(),
            sandbox.endpoints().provisioning_url
        );
    }
    let options = RunOptions {
        allow_large_changes: args.allow_large_changes,
        progress: Progress::new(!args.json),
        interrupt: Interrupt::listen(),
        full_read: args.full,
        force: args.force,
    };
    let result = engine::run(&pipeline, &options).await?;
    if args.json {
        // One sink: its report; several: a list of them, in the file's order.
        let printed = if result.other_sinks.is_empty() {
            skolsync::report::to_json(&result.report)
        } else {
            let reports: Vec<_> = result.every_sink().map(|r| &r.report).collect();
            serde_json::to_string_pretty(&reports)
        };
        match printed {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("skolsync: could not print the report: {e}"),
        }
    } else {
        print!("{}", result.terminal_summary());
    }
    Ok(ExitCode::from(result.exit_code()))
}
