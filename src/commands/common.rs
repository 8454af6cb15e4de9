//! What every pipeline command shares: the pipeline file argument, the
//! overrides, loading, the async runtime and error reporting.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use skolsync::engine::EngineError;
use skolsync::pipeline::{LoadOptions, Pipeline, SandboxChoice};
use skolsync_sandbox::Endpoints;

/// The pipeline file and the overrides every pipeline command takes.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// The pipeline file (TOML), e.g. `pipelines/demo.toml`.
    #[arg(value_name = "PIPELINE")]
    pub pipeline: PathBuf,

    /// Run against a sandbox that is already running: a file holding the
    /// JSON line `skolsync sandbox --json` prints. The source, the sink and
    /// open-data then go to the sandbox whatever the file says (secrets
    /// the file takes from the environment need not be set).
    #[arg(long, value_name = "FILE")]
    pub sandbox_endpoints: Option<PathBuf>,

    /// Use this state file instead of the pipeline's `[state]`.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Write reports under this folder instead of the pipeline's `[report] dir`.
    #[arg(long, value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,
}

impl PipelineArgs {
    /// The load options these arguments describe.
    pub fn options(&self) -> anyhow::Result<LoadOptions> {
        let sandbox = match &self.sandbox_endpoints {
            None => SandboxChoice::FromFile,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                let endpoints: Endpoints = serde_json::from_str(line).with_context(|| {
                    format!(
                        "{} does not hold the endpoints line of `skolsync sandbox --json`",
                        path.display()
                    )
                })?;
                SandboxChoice::Attach(Box::new(endpoints))
            }
        };
        Ok(LoadOptions {
            sandbox,
            state_path: self.state.clone(),
            reports_dir: self.reports_dir.clone(),
            inspect_only: false,
            source_only: false,
        })
    }

    /// Loads the pipeline.
    pub async fn load(&self) -> Result<Pipeline, Failure> {
        let options = self.options().map_err(Failure::Usage)?;
        Pipeline::load(&self.pipeline, &options)
            .await
            .map_err(|e| Failure::Engine(e.into()))
    }
}

/// A command that failed, with the exit code it should end with.
#[derive(Debug)]
pub enum Failure {
    /// A wrong argument.
    Usage(anyhow::Error),
    /// The engine's error.
    Engine(EngineError),
}

impl From<EngineError> for Failure {
    fn from(e: EngineError) -> Self {
        Failure::Engine(e)
    }
}

impl Failure {
    /// Prints the error (with its causes, never a stack trace) and gives
    /// the exit code.
    pub fn report(self) -> ExitCode {
        match self {
            Failure::Usage(e) => {
                let text = format!("{e:#}");
                eprintln!("skolsync: {}", skolsync::terminal::escape_lines(&text));
                ExitCode::from(skolsync::engine::EXIT_USAGE)
            }
            Failure::Engine(e) => {
                // Errors quote files and sources: escaped for the terminal.
                eprintln!("skolsync: {}", skolsync::terminal::escape_lines(&chain(&e)));
                ExitCode::from(e.exit_code())
            }
        }
    }
}

/// An error and its causes on one line (the model's one formatter).
pub use skolsync_model::error_chain as chain;

/// Runs `work` on a multi-threaded runtime and turns its result into an
/// exit code.
pub fn block_on<F>(work: F) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = Result<ExitCode, Failure>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    Ok(match runtime.block_on(work) {
        Ok(code) => code,
        Err(failure) => failure.report(),
    })
}

/// Prints `value` as pretty JSON on stdout; `what` names it in the message
/// if it cannot be printed (the command's work is done either way).
pub fn print_json(value: &impl serde::Serialize, what: &str) {
    match serde_json::to_string_pretty(value) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("skolsync: could not print {what}: {e}"),
    }
}
