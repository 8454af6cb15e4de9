//! The pipeline engine: plan and run a loaded [`Pipeline`](crate::pipeline::Pipeline).
//!
//! - [`run`](mod@run): the run lifecycle — lock, run history, the stages
//!   wired together, report, exit codes ([`RunOptions`], [`RunResult`]).
//! - [`prepare`](mod@prepare): read, transform, crosswalk, keep stale, diff
//!   ([`Prepared`]); its module docs explain why every run reads the source
//!   in full.
//! - [`summary`]: the plan in numbers ([`PlanSummary`]) and `skolsync plan`.
//! - [`load`](mod@load): the sending loop with outcomes stored as they
//!   arrive; its module docs explain how an interrupted run resumes.
//! - [`consistency`]: the checks that a run's numbers add up.
//! - [`guards`]: the limits that stop an unexpectedly large change.
//! - [`identity`]: Skolverket ids kept across a change of source system.
//! - [`reconcile`]: rebuilding the state from what the provtjänst holds.
//! - [`progress`]: progress bars on a terminal.
//! - [`sink`](mod@sink): building a pipeline's sink with the state it keeps.
//! - [`pull`](mod@pull): the pull sink's view of the state store (the served
//!   dataset), Skolverket's feedback.
//! - [`upload`](mod@upload): the file method's uploads in the state store,
//!   and confirming one.

pub mod consistency;
pub mod guards;
pub mod identity;
pub mod incremental;
pub mod interrupt;
pub mod kept;
pub mod load;
pub mod prepare;
pub mod progress;
pub mod pull;
pub mod read_checks;
pub mod reconcile;
pub mod run;
pub mod sink;
pub mod summary;
pub mod upload;

pub use guards::Violation;
pub use interrupt::Interrupt;
pub use prepare::{PrepareOptions, Prepared, open_store, prepare};
pub use progress::Progress;
pub use reconcile::{ReconcileResult, reconcile};
pub use run::{
    EXIT_ABORTED, EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, RunOptions, RunResult, run,
};
pub use sink::{SinkSetup, build_sink};
pub use summary::{PlanResult, PlanSummary, TypeSummary, plan};

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
    SourceConfig(#[from] skolsync_connectors::ConfigErrors),
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
    SinkConfig(#[from] skolsync_sink::ConfigErrors),
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
