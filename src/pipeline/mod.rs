//! Pipeline files: the declarative TOML that names one source, the
//! transform, one sink and the engine's settings.
//!
//! - [`config`]: the file's shape ([`PipelineFile`] and the engine's own
//!   sections; the stage sections are the stage crates' config types).
//! - [`load`](mod@load): reading a file — errors with line and suggestion,
//!   `${env:..}`/`${file:..}` expansion, the sandbox, path resolution.
//! - [`expand`]: `${env:NAME}` and `${file:PATH}` in string values.
//! - [`schema`]: the JSON Schema of the format.

pub mod config;
pub mod expand;
pub mod load;
pub mod schema;

pub use config::{
    GuardsConfig, PipelineFile, ReportConfig, SandboxFaults, SandboxSection, StateConfig,
    TypeGuards,
};
pub use load::{
    LoadOptions, Pipeline, PipelineError, SandboxChoice, SandboxHandle, StateLocation, UnknownKey,
    inject_sandbox, resolve,
};
