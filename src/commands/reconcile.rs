//! `skolsync reconcile PIPELINE`: rebuild the state from what the
//! provtjänst holds.

use std::process::ExitCode;

use clap::Args;
use skolsync::engine::{self, Progress};

use super::common::{Failure, PipelineArgs, print_json};

/// Options of `skolsync reconcile`.
#[derive(Debug, Clone, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Count everything the service holds as created by this pipeline, so
    /// it is deleted when it leaves the source. Only when no other system
    /// (or Skolverket's file upload) provisions for this client.
    #[arg(long)]
    pub adopt: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Carries out `skolsync reconcile`.
pub async fn execute(args: &ReconcileArgs) -> Result<ExitCode, Failure> {
    let pipeline = args.pipeline.load().await?;
    // Of a pipeline with several sinks, the Provisioning API's (the only
    // one that can say what the service holds).
    let pipeline = pipeline
        .view_where(|sink| matches!(sink, skolsync_sink::SinkConfig::Skolverket(_)))
        .unwrap_or(pipeline);
    let result = engine::reconcile(&pipeline, args.adopt, &Progress::new(!args.json)).await?;
    if args.json {
        print_json(&result, "the result");
    } else {
        println!("Reconciled `{}` (run {}):", pipeline.name(), result.run_id);
        println!(
            "{:<10} {:>8} {:>8} {:>8} {:>10}",
            "type", "held", "new", "changed", "forgotten"
        );
        for (kind, c) in &result.counts {
            println!(
                "{kind:<10} {:>8} {:>8} {:>8} {:>10}",
                c.held, c.new, c.changed, c.forgotten
            );
        }
        println!("\nThe next `skolsync plan` shows what differs from the source.");
    }
    Ok(ExitCode::SUCCESS)
}
