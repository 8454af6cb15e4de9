//! `skolsync history PIPELINE`: the pipeline's past runs.

use std::process::ExitCode;

use clap::Args;
use skolsync::engine;

use super::common::{Failure, PipelineArgs, print_json};

/// Options of `skolsync history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// How many runs, newest first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub limit: u32,

    /// Print the runs as a JSON array.
    #[arg(long)]
    pub json: bool,
}

fn count(counts: Option<&serde_json::Value>, key: &str) -> u64 {
    let Some(serde_json::Value::Object(types)) = counts else {
        return 0;
    };
    types
        .values()
        .filter_map(|t| t.get(key).and_then(serde_json::Value::as_u64))
        .sum()
}

/// Carries out `skolsync history`.
pub async fn execute(args: &HistoryArgs) -> Result<ExitCode, Failure> {
    let mut options = args.pipeline.options().map_err(Failure::Usage)?;
    options.inspect_only = true;
    let pipeline = skolsync::pipeline::Pipeline::load(&args.pipeline.pipeline, &options)
        .await
        .map_err(|e| Failure::Engine(e.into()))?;
    let store = engine::open_store(&pipeline).await?;
    let runs = store
        .history(args.limit)
        .await
        .map_err(|e| Failure::Engine(e.into()))?;
    store.close().await;
    if args.json {
        print_json(&runs, "the history");
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("No runs of `{}` yet.", pipeline.name());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<20} {:>8} {:<11} {:>7} {:>7} {:>7} {:>6} {:>8} {:>8}",
        "run",
        "started (UTC)",
        "seconds",
        "outcome",
        "created",
        "updated",
        "deleted",
        "errors",
        "held bk",
        "rejected"
    );
    let views = pipeline.views();
    for r in &runs {
        let seconds = r
            .finished
            .map(|f| format!("{:.1}", (f - r.started).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        let outcome = r
            .outcome
            .map(|o| o.to_string())
            .unwrap_or_else(|| "running".into());
        let c = r.counts.as_ref();
        println!(
            "{:<24} {:<20} {:>8} {:<11} {:>7} {:>7} {:>7} {:>6} {:>8} {:>8}",
            r.run_id,
            r.started.format("%Y-%m-%d %H:%M:%S"),
            seconds,
            outcome,
            count(c, "created"),
            count(c, "updated"),
            count(c, "deleted"),
            count(c, "error"),
            count(c, "held_back"),
            count(c, "rejected"),
        );
        if pipeline.has_several_sinks() {
            // Each sink's run is a row of its own: say which.
            let label = views
                .iter()
                .find(|v| v.sink_identity() == r.sink)
                .map_or_else(|| r.sink.clone(), |v| v.sink_label());
            println!("    into {}", skolsync::terminal::escape(&label));
        }
        if let Some(reason) = &r.reason {
            println!("    {}", skolsync::terminal::escape_lines(reason));
        }
    }
    Ok(ExitCode::SUCCESS)
}
