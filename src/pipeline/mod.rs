//! Pipeline files: the declarative TOML that names one source, the
//! transform, one sink and the engine's settings.
//!
//! - [`config`]: the file's shape ([`PipelineFile`] and the engine's own
//!   sections; the stage sections are the stage crates' config types).
//! - [`load`](mod@load): reading a file ([`Pipeline::load`]) — the order of
//!   the steps, the checks, path resolution.
//! - [`error`]: what can be wrong with a file ([`PipelineError`]).
//! - [`document`]: the file with spans, for messages with line and
//!   suggestion, and `${env:..}`/`${file:..}` expansion of its tree.
//! - [`sandbox`]: the embedded sandbox and pointing the stages at it.
//! - [`expand`]: `${env:NAME}` and `${file:PATH}` in string values.
//! - [`schema`]: the JSON Schema of the format.
//! - [`schedule`]: `[schedule]`, when `skolsync watch` runs the pipeline.
//! - [`sinks`]: one `[sink]` or several `[[sink]]`s fed by one read.

pub mod config;
pub mod document;
pub mod error;
pub mod expand;
pub mod incremental;
pub mod load;
pub mod sandbox;
pub mod schedule;
pub mod schema;
pub mod sinks;

pub use config::{
    GuardsConfig, PipelineFile, ReportConfig, SandboxFaults, SandboxSection, StateConfig,
    TypeGuards,
};
pub use error::{PipelineError, UnknownKey};
pub use incremental::IncrementalConfig;
pub use load::{LoadOptions, Pipeline, StateLocation, resolve};
pub use sandbox::{SandboxChoice, SandboxHandle, inject_sandbox};
pub use schedule::{Schedule, ScheduleConfig};
pub use sinks::Sinks;
