//! `skolsync confirm-upload PIPELINE FILE`: record that an upload workbook
//! was uploaded in Administration provtjänsten, so the next file holds
//! only what changed after it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use skolsync::engine::upload::{ConfirmError, confirm_upload};

use super::common::{Failure, PipelineArgs, print_json};

/// Options of `skolsync confirm-upload`.
#[derive(Debug, Clone, Args)]
pub struct ConfirmUploadArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// The workbook that was uploaded, as a run wrote it (found by its
    /// content, so a copy or a moved file will do; an edited one will not).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Carries out `skolsync confirm-upload`.
pub async fn execute(args: &ConfirmUploadArgs) -> Result<ExitCode, Failure> {
    let pipeline = args.pipeline.load().await?;
    // Of a pipeline with several sinks, the file method's.
    let pipeline = pipeline
        .view_where(|sink| matches!(sink, skolsync_sink::SinkConfig::SkolverketFile(_)))
        .unwrap_or(pipeline);
    match confirm_upload(&pipeline, &args.file).await {
        Ok(confirmed) => {
            let f = &confirmed.file;
            if args.json {
                print_json(
                    &serde_json::json!({
                        "file": f.path,
                        "sha256": f.sha256,
                        "rows": f.rows,
                        "written_at": f.written_at,
                        "confirmed_at": f.confirmed_at,
                        "run_id": f.run_id,
                    }),
                    "the result",
                );
            } else {
                println!(
                    "Confirmed {} ({} row(s), written by run {}): the next file of `{}` holds only what changes after it.",
                    f.path.display(),
                    f.rows,
                    f.run_id,
                    pipeline.name()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ConfirmError::Engine(e)) => Err(Failure::Engine(e)),
        Err(e) => Err(Failure::Usage(anyhow::Error::new(e))),
    }
}
