//! Sinks: where a plan's changes go.
//!
//! - [`skolverket`]: Skolverket's Provisioning API (provtjänst). Mutual TLS
//!   to the authorisation server for a JWT, then bulk jobs sent Person →
//!   Duty → Group → Activity (deletes in reverse), packed by bytes under the
//!   body limit, paced under the per-client call limit, confirmed job by job,
//!   with dependency gating, retries and per-entity outcomes as they happen.
//! - [`pull`]: Skolverket's pull method — the DNP profile written into the
//!   state store as the dataset `skolsync serve` serves, then Skolverket's
//!   SS12000 client notified.
//! - [`upload`]: Skolverket's file method — the upload workbook (the Excel
//!   template) for Administration provtjänsten; after the first file only
//!   what changed since the last confirmed upload.
//! - [`file`](mod@file): JSONL, CSV and Parquet files per entity type, for audits,
//!   migrations and dry runs.
//!
//! What a pipeline does is read from its `[sink]` section
//! ([`SinkConfig::delivery`]): carry out a plan, through a [`Sink`] made
//! once per run with [`build`], or export the source as SS 12000 files,
//! through a [`file::SnapshotWriter`] made with [`snapshot_writer`].
//! Reading back what the service holds (reconciliation) is the Skolverket
//! sink's own ([`SkolverketSink::read_all`]).

pub mod config;
pub mod error;
pub mod file;
pub mod pull;
mod settled;
pub mod skolverket;
mod summary;
pub mod upload;

use skolsync_model::BuildContext;

use async_trait::async_trait;
use skolsync_model::plan::{Outcome, Plan};

pub use config::{SinkComponent, SinkConfig};
pub use error::{ConfigError, ConfigErrors, SinkError};
pub use skolverket::{Resources, SkolverketSink};
pub use summary::{ApplySummary, CallStats, CheckReport, KindCounts, SnapshotSummary};

/// Receives every entity's final outcome as soon as it is known, so the
/// engine can persist progress while the sink is still working. An `Err`
/// says the engine cannot take outcomes any more (say, its state store
/// failed): the sink then stops as it does for its own reasons — nothing
/// more is sent and every entity still gets an outcome — and
/// [`Sink::apply`] ends with [`SinkError::Aborted`].
pub type OutcomeCallback<'a> = &'a (dyn Fn(Outcome) -> Result<(), SinkStop> + Send + Sync);

/// Why the engine asks a sink to stop (see [`OutcomeCallback`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SinkStop(pub String);

/// What a pipeline does with what it reads, decided from its `[sink]`
/// section ([`SinkConfig::delivery`]) when the pipeline is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Transform, plan against the state and carry the plan out through a
    /// [`Sink`] ([`build`]).
    Plan,
    /// Write the source's SS 12000 entities as they are, with no transform
    /// and no plan, through a [`file::SnapshotWriter`] ([`snapshot_writer`]).
    Snapshot,
}

/// A configured sink that carries out plans.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// The sink's `kind` in the pipeline file (`skolverket`, `jsonl`, …).
    fn kind(&self) -> &'static str;

    /// Carries out the plan and reports one [`Outcome`] per entity of its
    /// creates, updates and deletes through `on_outcome`, as it happens.
    ///
    /// `Err` means the sink could not start (nothing was sent, no outcome
    /// was reported) or had to stop part-way (also when `on_outcome` asked
    /// it to); in the latter case every entity of the plan has still been
    /// given an outcome before it returns.
    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError>;

    /// Whether the sink serves its data to be fetched (the pull method)
    /// rather than sending it: it then runs even with nothing to change
    /// (to make good a missed notification), and its report has a pull
    /// section.
    fn serves(&self) -> bool {
        false
    }

    /// Whether the sink needs the whole desired state ([`Plan::desired`]),
    /// unchanged entities included, besides the changes: a sink that
    /// renders rows joining several entities (the upload workbook) does.
    fn wants_desired_state(&self) -> bool {
        false
    }

    /// Whether what the sink delivers reaches the service only when a
    /// person confirms it (the upload workbook: an ombud uploads the file
    /// in Administration provtjänsten). Its outcomes then stand as
    /// *unconfirmed* until `skolsync confirm-upload`, and the next run
    /// plans against what was confirmed, so an unconfirmed file is
    /// superseded by the next one rather than stacked under it.
    fn awaits_confirmation(&self) -> bool {
        false
    }

    /// Checks that the sink can work (`validate --online`): for
    /// `skolverket` a token and the API's `/alive`, for files a writable
    /// directory.
    async fn check(&self) -> Result<CheckReport, SinkError>;
}

/// Builds the writer of a `[sink]` section whose [`SinkConfig::delivery`]
/// is [`Delivery::Snapshot`] (a file sink with `content = "ss12000"`).
/// Relative paths are taken from the context's folder.
pub fn snapshot_writer(
    config: &SinkConfig,
    ctx: &BuildContext,
) -> Result<file::SnapshotWriter, ConfigErrors> {
    match config.component() {
        SinkComponent::File(format, c) => Ok(file::SnapshotWriter::new(format, c, ctx)?),
        SinkComponent::Skolverket(_) | SinkComponent::Pull(_) | SinkComponent::Upload(_) => {
            Err(ConfigError::Invalid {
                field: "kind",
                message: format!("`{}` takes plans, not SS 12000 snapshots", config.kind()),
            }
            .into())
        }
    }
}

/// Where the sinks that keep state in the engine's store keep it: the
/// pull sink's served dataset, the upload sink's record of what was
/// uploaded. Others need none.
#[derive(Debug, Clone, Default)]
pub struct SinkStores {
    /// The served dataset (`ss12000-pull`).
    pub served: Option<std::sync::Arc<dyn pull::ServedStore>>,
    /// The uploads (`skolverket-file`).
    pub uploads: Option<std::sync::Arc<dyn upload::UploadStore>>,
}

/// Builds the sink a `[sink]` section describes, reporting every problem
/// of the section at once. Relative paths in it are taken from the
/// context's folder (the pipeline file's). Certificates and keys are read
/// and checked here, so a mistake is reported before a run starts.
///
/// `stores` is where a pull or upload sink keeps its state (the engine's
/// state store); other sinks ignore it. Such a sink without its store only
/// checks its settings: applying or checking it then fails, saying why.
pub async fn build(
    config: &SinkConfig,
    ctx: &BuildContext,
    stores: SinkStores,
) -> Result<Box<dyn Sink>, ConfigErrors> {
    Ok(match config.component() {
        SinkComponent::Skolverket(c) => Box::new(SkolverketSink::new(c, ctx)?),
        SinkComponent::Pull(c) => Box::new(pull::PullSink::new(c, ctx, stores.served)?),
        SinkComponent::Upload(c) => Box::new(upload::UploadSink::new(c, ctx, stores.uploads)?),
        SinkComponent::File(format, c) => Box::new(file::FileSink::new(format, c, ctx)?),
    })
}
