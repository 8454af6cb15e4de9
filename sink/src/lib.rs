//! Sinks: where a plan's changes go.
//!
//! - [`skolverket`]: Skolverket's Provisioning API (provtjänst). Mutual TLS
//!   to the authorisation server for a JWT, then bulk jobs sent Person →
//!   Duty → Group → Activity (deletes in reverse), packed by bytes under the
//!   body limit, paced under the per-client call limit, confirmed job by job,
//!   with dependency gating, retries and per-entity outcomes as they happen.
//! - [`file`]: JSONL, CSV and Parquet files per entity type, for audits,
//!   migrations and dry runs.
//!
//! The engine builds a sink from the `[sink]` section of a pipeline file
//! with [`build`] and drives it through the [`Sink`] trait.

pub mod config;
pub mod error;
pub mod file;
pub mod skolverket;
mod summary;

use std::path::Path;

use async_trait::async_trait;
use skolsync_model::ObjectType;
use skolsync_model::plan::{Outcome, Plan};
use skolsync_model::ss12000::Snapshot;

pub use config::SinkConfig;
pub use error::{ConfigError, SinkError};
pub use skolverket::{Resources, SkolverketSink};
pub use summary::{ApplySummary, CallStats, CheckReport, KindCounts, SnapshotSummary};

/// Receives every entity's final outcome as soon as it is known, so the
/// engine can persist progress while the sink is still working.
pub type OutcomeCallback<'a> = &'a (dyn Fn(Outcome) + Send + Sync);

/// A configured sink.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// The sink's `kind` in the pipeline file (`skolverket`, `jsonl`, …).
    fn kind(&self) -> &'static str;

    /// Carries out the plan and reports one [`Outcome`] per entity of its
    /// creates, updates and deletes through `on_outcome`, as it happens.
    ///
    /// `Err` means the sink could not start (nothing was sent, no outcome
    /// was reported) or had to stop part-way; in the latter case every
    /// entity of the plan has still been given an outcome before it returns.
    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError>;

    /// Whether this sink wants the raw source entities ([`Sink::write_snapshot`])
    /// instead of a plan (a file sink with `content = "ss12000"`).
    fn wants_snapshot(&self) -> bool {
        false
    }

    /// Writes raw SS 12000 entities (file sinks with `content = "ss12000"`).
    async fn write_snapshot(&self, _snapshot: &Snapshot) -> Result<SnapshotSummary, SinkError> {
        Err(SinkError::Unsupported {
            sink: self.kind(),
            what: "writing SS 12000 snapshots",
        })
    }

    /// The Open-data API of the sink's environment, for a transform that
    /// names none (only the `skolverket` sink has one).
    fn open_data_url(&self) -> Option<&str> {
        None
    }

    /// Checks that the sink can work (`validate --online`): for
    /// `skolverket` a token and the API's `/alive`, for files a writable
    /// directory.
    async fn check(&self) -> Result<CheckReport, SinkError>;

    /// Everything the service holds of one type, for reconciliation (only
    /// the `skolverket` sink).
    async fn read_all(&self, _kind: ObjectType) -> Result<Resources, SinkError> {
        Err(SinkError::Unsupported {
            sink: self.kind(),
            what: "reading back what the service holds",
        })
    }
}

/// Builds the sink a `[sink]` section describes. Relative paths in it are
/// taken from `base_dir` (the pipeline file's folder). Certificates and keys
/// are read and checked here, so a mistake is reported before a run starts.
pub async fn build(config: &SinkConfig, base_dir: &Path) -> Result<Box<dyn Sink>, ConfigError> {
    match config {
        SinkConfig::Skolverket(c) => Ok(Box::new(SkolverketSink::new(c, base_dir)?)),
        SinkConfig::Jsonl(c) => Ok(Box::new(file::FileSink::new(
            file::Format::Jsonl,
            c,
            base_dir,
        )?)),
        SinkConfig::Csv(c) => Ok(Box::new(file::FileSink::new(
            file::Format::Csv,
            c,
            base_dir,
        )?)),
        SinkConfig::Parquet(c) => Ok(Box::new(file::FileSink::new(
            file::Format::Parquet,
            c,
            base_dir,
        )?)),
    }
}
