//! The file method's view of the state store, and confirming an upload.
//!
//! The `skolverket-file` sink (in the sink crate) writes the upload
//! workbook; what was written and what a person confirmed uploaded live in
//! the pipeline's state store under the sink's identity. The sink sees the
//! store through [`UploadStore`], implemented here. A run's outcomes for
//! that sink are recorded in its *unconfirmed layer*
//! ([`crate::state::unconfirmed_layer`]); [`confirm_upload`] (the
//! `confirm-upload` command) moves them onto the sink together with the
//! file's rows, so the next run plans, and the next file is the
//! difference, from what Skolverket was actually given.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use skolsync_sink::upload::rows::UploadRow;
use skolsync_sink::upload::workbook::sha256_hex;
use skolsync_sink::upload::{UploadStore, WrittenFile};
use skolsync_sink::{ApplySummary, SinkComponent};

use super::EngineError;
use crate::pipeline::Pipeline;
use crate::report::ReportBuilder;
use crate::state::{StateStore, UploadFile, UploadStatus};

/// One pipeline's uploads in its state store, for one run.
#[derive(Debug, Clone)]
pub struct UploadRecords {
    store: StateStore,
    sink: String,
    run_id: String,
}

impl UploadRecords {
    /// The uploads of sink identity `sink` in `store`, recorded by run
    /// `run_id`.
    pub fn new(store: StateStore, sink: impl Into<String>, run_id: &str) -> UploadRecords {
        UploadRecords {
            store,
            sink: sink.into(),
            run_id: run_id.to_string(),
        }
    }
}

#[async_trait]
impl UploadStore for UploadRecords {
    async fn confirmed_rows(&self) -> Result<Vec<UploadRow>, String> {
        self.store
            .confirmed_upload_rows(&self.sink)
            .await
            .map_err(|e| e.to_string())
    }

    async fn record_written(&self, file: Option<&WrittenFile>) -> Result<(), String> {
        if self.run_id.is_empty() {
            return Err("an upload file is recorded only by a run".into());
        }
        self.store
            .record_upload(&self.sink, &self.run_id, file)
            .await
            .map_err(|e| e.to_string())
    }
}

/// After a sink awaiting confirmation applied a plan: its report section,
/// and — when it wrote no file (nothing in the template changed) — its
/// outcomes stand at once, since nothing is left to upload.
pub(super) async fn settle(
    store: &StateStore,
    sink_identity: &str,
    summary: &ApplySummary,
    builder: &mut ReportBuilder,
) -> Result<(), EngineError> {
    let Some(upload) = &summary.upload else {
        return Ok(());
    };
    builder.set_upload(upload.clone());
    if upload.file.is_none() {
        store.promote_unconfirmed(sink_identity).await?;
    }
    Ok(())
}

/// What [`confirm_upload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    /// The file confirmed, as recorded.
    pub file: UploadFile,
}

/// Why a file cannot be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// The pipeline's sink is not the file method.
    #[error("the pipeline's sink is `{0}`; only a `skolverket-file` sink writes upload files")]
    NotAnUploadSink(&'static str),
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No run of this pipeline wrote a file with these bytes.
    #[error(
        "{} is not a file this pipeline wrote (no written file has its content){}",
        path.display(),
        .awaiting.as_ref().map(|a| format!("; the file awaiting upload is {}", a.display())).unwrap_or_default()
    )]
    Unknown {
        /// The file given.
        path: PathBuf,
        /// The file awaiting confirmation, if any.
        awaiting: Option<PathBuf>,
    },
    /// The file was superseded by a later one.
    #[error(
        "{} was superseded by a later file{}: that one holds everything it did and more — upload and confirm that one instead",
        path.display(),
        .awaiting.as_ref().map(|a| format!(" ({})", a.display())).unwrap_or_default()
    )]
    Superseded {
        /// The file given.
        path: PathBuf,
        /// The file awaiting confirmation, if any.
        awaiting: Option<PathBuf>,
    },
    /// The file was confirmed before.
    #[error("{} was confirmed already (at {at})", path.display())]
    AlreadyConfirmed {
        /// The file given.
        path: PathBuf,
        /// When.
        at: String,
    },
    /// The store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<crate::state::StateError> for ConfirmError {
    fn from(e: crate::state::StateError) -> Self {
        ConfirmError::Engine(e.into())
    }
}

/// Records that `file` (an upload workbook a run of `pipeline` wrote, found
/// by its content, wherever it is now) was uploaded in Administration
/// provtjänsten: its rows become the baseline of the next file, and the
/// run's outcomes stand as delivered.
pub async fn confirm_upload(pipeline: &Pipeline, file: &Path) -> Result<Confirmed, ConfirmError> {
    if !matches!(pipeline.sink().component(), SinkComponent::Upload(_)) {
        return Err(ConfirmError::NotAnUploadSink(pipeline.sink().kind()));
    }
    let bytes = tokio::fs::read(file)
        .await
        .map_err(|source| ConfirmError::Read {
            path: file.to_path_buf(),
            source,
        })?;
    let sha256 = sha256_hex(&bytes);
    let store = super::open_store(pipeline).await?;
    let sink = pipeline.sink_identity();
    let files = store.upload_files(&sink).await?;
    let awaiting = files
        .iter()
        .find(|f| f.status == UploadStatus::Written)
        .map(|f| f.path.clone());
    let Some(found) = files.into_iter().find(|f| f.sha256 == sha256) else {
        return Err(ConfirmError::Unknown {
            path: file.to_path_buf(),
            awaiting,
        });
    };
    match found.status {
        UploadStatus::Superseded => Err(ConfirmError::Superseded {
            path: file.to_path_buf(),
            awaiting,
        }),
        UploadStatus::Confirmed => Err(ConfirmError::AlreadyConfirmed {
            path: file.to_path_buf(),
            at: found.confirmed_at.clone().unwrap_or_default(),
        }),
        UploadStatus::Written => {
            if !store.confirm_upload(&sink, found.file_id).await? {
                // A run superseded it between the read and the update.
                return Err(ConfirmError::Superseded {
                    path: file.to_path_buf(),
                    awaiting: None,
                });
            }
            let file = store
                .upload_files(&sink)
                .await?
                .into_iter()
                .find(|f| f.file_id == found.file_id)
                .unwrap_or(found);
            Ok(Confirmed { file })
        }
    }
}
