//! The pipeline engine: plan and run a loaded [`Pipeline`](crate::pipeline::Pipeline).
//!
//! - [`run`](mod@run): the stages wired together — read, transform,
//!   crosswalk, diff, guards, load with outcomes stored as they arrive,
//!   report. Its module docs explain why every run reads the source in full
//!   and how an interrupted run resumes.
//! - [`guards`]: the limits that stop an unexpectedly large change.
//! - [`identity`]: Skolverket ids kept across a change of source system.
//! - [`reconcile`]: rebuilding the state from what the provtjänst holds.
//! - [`progress`]: progress bars on a terminal.

pub mod guards;
pub mod identity;
pub mod interrupt;
pub mod kept;
pub mod progress;
pub mod read_checks;
pub mod reconcile;
pub mod run;

pub use guards::Violation;
pub use interrupt::Interrupt;
pub use progress::Progress;
pub use reconcile::{ReconcileResult, reconcile};
pub use run::{
    PlanResult, PlanSummary, Prepared, RunOptions, RunResult, TypeSummary, open_store, plan,
    prepare, run,
};

/// Exit code: everything landed (or was already up to date).
pub const EXIT_OK: u8 = 0;
/// Exit code: an error that is not about a run (e.g. an unexpected failure).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the pipeline file or the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run completed, but some entities were rejected, refused,
/// failed or held back (see the report).
pub const EXIT_PARTIAL: u8 = 3;
/// Exit code: the run was aborted — stopped by a guard, another run holds
/// the lock, the source or the sink failed, or it was interrupted. What was
/// confirmed before is recorded; run again to finish.
pub const EXIT_ABORTED: u8 = 4;

/// Why the engine could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The pipeline file.
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    /// The state store.
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    /// The `[source]` section.
    #[error(transparent)]
    SourceConfig(#[from] skolsync_connectors::ConfigError),
    /// The source could not be read.
    #[error("reading {source_name}: {error}")]
    Source {
        /// What was read.
        source_name: String,
        /// Why it failed.
        error: skolsync_connectors::SourceError,
    },
    /// Open-data could not be read.
    #[error(transparent)]
    OpenData(#[from] skolsync_transform::OpenDataError),
    /// The `[transform]` section.
    #[error(transparent)]
    TransformConfig(#[from] skolsync_transform::ConfigError),
    /// The transform failed as a whole.
    #[error(transparent)]
    Transform(#[from] skolsync_transform::TransformError),
    /// The `[sink]` section.
    #[error(transparent)]
    SinkConfig(#[from] skolsync_sink::ConfigError),
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] skolsync_sink::SinkError),
    /// Something that should not happen.
    #[error("internal error: {0}")]
    Internal(String),
}

impl EngineError {
    /// The exit code this error ends the process with.
    pub fn exit_code(&self) -> u8 {
        match self {
            EngineError::Pipeline(_)
            | EngineError::SourceConfig(_)
            | EngineError::TransformConfig(_)
            | EngineError::SinkConfig(_) => EXIT_USAGE,
            EngineError::Internal(_) => EXIT_ERROR,
            _ => EXIT_ABORTED,
        }
    }
}
