//! The `skolverket-file` sink: Skolverket's file method.
//!
//! An ombud of the huvudman uploads Skolverket's Excel template in
//! Administration provtjänsten. After the first file Skolverket wants only
//! what changed, with `Ta bort` = "Ja" for ended enrolments and duties
//! (checklist for the file method). This sink writes that file: it renders
//! the whole desired state — transformed and validated as for push — into
//! the template's rows ([`rows`]), compares them with the rows of the last
//! upload someone confirmed ([`delta`]) and writes the difference as a
//! workbook ([`workbook`]). The first file holds everything.
//!
//! Nothing reaches Skolverket until a person uploads the file, so what a
//! run writes stands as *unconfirmed* ([`crate::Sink::awaits_confirmation`]):
//! the engine keeps its outcomes apart, and `skolsync confirm-upload`
//! makes them (and the file's rows) the baseline of the next file. A file
//! never confirmed is superseded by the next run's, which again holds
//! everything since the last confirmed upload.
//!
//! Every entity of the plan gets an outcome: `Success` when its rows are in
//! the file (or nothing of it shows in the template), `Error` with the
//! reason when it has no place in the template at all (a VUXGY pupil, a
//! group type the template lacks).

pub mod config;
pub mod delta;
pub mod rows;
pub mod workbook;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use skolsync_model::plan::{Action, OutcomeStatus, Plan};
use skolsync_model::{BuildContext, ObjectType};
use uuid::Uuid;

use self::config::{TIMESTAMP, UploadConfig};
use self::delta::{DeltaRow, RowChange};
use self::rows::{LeftOut, SheetKind, UploadRow};
use crate::error::{ConfigError, ConfigErrors, SinkError};
use crate::settled::report_settled;
use crate::summary::{ApplySummary, CheckReport};
use crate::{OutcomeCallback, Sink};

/// A file the sink wrote, as the store records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    /// Where it is.
    pub path: PathBuf,
    /// SHA-256 of its bytes (hex).
    pub sha256: String,
    /// Its rows.
    pub rows: Vec<DeltaRow>,
}

/// Where the sink keeps what was uploaded: the pipeline's state store,
/// seen from the sink. Errors are the store's messages.
#[async_trait]
pub trait UploadStore: Send + Sync + std::fmt::Debug {
    /// The rows as of the last confirmed upload (none before the first).
    async fn confirmed_rows(&self) -> Result<Vec<UploadRow>, String>;
    /// Records what this run wrote (`None`: no file, nothing in the
    /// template changed): the file awaits confirmation; a file written
    /// earlier and never confirmed is superseded by it.
    async fn record_written(&self, file: Option<&WrittenFile>) -> Result<(), String>;
}

/// What a run put in the upload file, for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UploadReport {
    /// The file written (`None`: nothing in the template changed, so no
    /// file).
    pub file: Option<PathBuf>,
    /// Its SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Rows per sheet, in the template's order (sheets without rows too).
    pub rows: Vec<SheetRows>,
    /// What the file cannot hold, with the reason.
    pub left_out: Vec<LeftOut>,
}

/// The rows of one sheet of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetRows {
    /// The sheet's name (`Elevinskrivningar`).
    pub sheet: String,
    /// Rows not in the last confirmed upload.
    pub new: usize,
    /// Rows whose values changed.
    pub changed: usize,
    /// Rows that ended: `Ta bort` = Ja.
    pub removed: usize,
}

impl SheetRows {
    /// All rows of the sheet.
    pub fn total(&self) -> usize {
        self.new + self.changed + self.removed
    }
}

impl UploadReport {
    /// Rows in the file.
    pub fn total_rows(&self) -> usize {
        self.rows.iter().map(SheetRows::total).sum()
    }
}

/// The upload-workbook sink.
#[derive(Debug)]
pub struct UploadSink {
    dir: PathBuf,
    file_name: String,
    overwrite: bool,
    /// `None` only for a sink built to check its settings.
    store: Option<Arc<dyn UploadStore>>,
}

impl UploadSink {
    /// Checks the settings, every problem at once.
    pub fn new(
        config: &UploadConfig,
        ctx: &BuildContext,
        store: Option<Arc<dyn UploadStore>>,
    ) -> Result<Self, ConfigErrors> {
        let mut problems = ConfigErrors::new();
        if config.dir.as_os_str().is_empty() {
            problems.push(invalid("dir", "is empty"));
        }
        let name = config.file_name.trim();
        if name.is_empty() || name.contains('/') || name.contains('\\') {
            problems.push(invalid(
                "file_name",
                "must be a file name (no folders; `dir` says where)",
            ));
        } else if !name.to_ascii_lowercase().ends_with(".xlsx") {
            problems.push(invalid(
                "file_name",
                "must end in .xlsx (Administration provtjänsten takes the Excel template)",
            ));
        }
        problems.finish(UploadSink {
            dir: ctx.resolve(&config.dir),
            file_name: name.to_string(),
            overwrite: ctx.overwrite(),
            store,
        })
    }

    fn store(&self) -> Result<&dyn UploadStore, SinkError> {
        self.store.as_deref().ok_or(SinkError::Unsupported {
            sink: "skolverket-file",
            what: "running without the pipeline's state store (it holds what was uploaded)",
        })
    }

    /// The path of a file written now. A timestamped name that is taken
    /// (two runs within a second) gets `-2`, `-3`, … after the stamp; a
    /// fixed name is what it is (the write refuses to replace it).
    fn next_path(&self) -> PathBuf {
        let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
        let first = self.dir.join(self.file_name.replace(TIMESTAMP, &stamp));
        let taken = |p: &PathBuf| std::fs::symlink_metadata(p).is_ok();
        if !self.file_name.contains(TIMESTAMP) || !taken(&first) {
            return first;
        }
        (2..100)
            .map(|n| {
                self.dir
                    .join(self.file_name.replace(TIMESTAMP, &format!("{stamp}-{n}")))
            })
            .find(|p| !taken(p))
            .unwrap_or(first)
    }

    /// Renders, diffs and writes; the report and the entities without rows.
    async fn write_file(
        &self,
        plan: &Plan,
    ) -> Result<(UploadReport, HashMap<(ObjectType, Uuid), String>), SinkError> {
        let store = self.store()?;
        let whole = plan.desired.as_deref().ok_or(SinkError::Unsupported {
            sink: "skolverket-file",
            what: "a plan without the whole desired state",
        })?;
        let rendered = rows::render(plan, whole);
        let confirmed = store.confirmed_rows().await.map_err(|e| {
            SinkError::Aborted(format!("the last confirmed upload could not be read: {e}"))
        })?;
        let rows = delta::delta(rendered.rows, confirmed);
        let mut report = UploadReport {
            left_out: rendered.left_out,
            rows: SheetKind::ALL
                .iter()
                .map(|s| SheetRows {
                    sheet: s.name().to_string(),
                    ..SheetRows::default()
                })
                .collect(),
            ..UploadReport::default()
        };
        for d in &rows {
            let Some(sheet) = SheetKind::ALL.iter().position(|s| *s == d.row.sheet) else {
                continue;
            };
            let counts = &mut report.rows[sheet];
            match d.change {
                RowChange::New => counts.new += 1,
                RowChange::Changed => counts.changed += 1,
                RowChange::Removed => counts.removed += 1,
            }
        }
        let without = rendered.without_rows;
        if rows.is_empty() {
            store.record_written(None).await.map_err(|e| {
                SinkError::Aborted(format!("the upload record could not be written: {e}"))
            })?;
            return Ok((report, without));
        }
        let bytes = workbook::build(&rows)
            .map_err(|e| SinkError::Aborted(format!("the upload workbook: {e}")))?;
        let path = self.next_path();
        let overwrite = self.overwrite;
        let written =
            tokio::task::spawn_blocking(move || workbook::write(&path, &bytes, overwrite))
                .await
                .map_err(|e| SinkError::Aborted(format!("writing the upload workbook: {e}")))?
                .map_err(|e| SinkError::Write {
                    path: self.dir.clone(),
                    message: e.to_string(),
                })?;
        store
            .record_written(Some(&WrittenFile {
                path: written.path.clone(),
                sha256: written.sha256.clone(),
                rows,
            }))
            .await
            .map_err(|e| {
                SinkError::Aborted(format!(
                    "{} was written but could not be recorded: {e}",
                    written.path.display()
                ))
            })?;
        report.file = Some(written.path);
        report.sha256 = Some(written.sha256);
        Ok((report, without))
    }
}

fn invalid(field: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.to_string(),
    }
}

#[async_trait]
impl Sink for UploadSink {
    fn kind(&self) -> &'static str {
        "skolverket-file"
    }

    fn wants_desired_state(&self) -> bool {
        true
    }

    fn awaits_confirmation(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError> {
        let started = Instant::now();
        let (report, without) = self.write_file(plan).await?;
        let detail = match &report.file {
            Some(path) => format!(
                "in {}, awaiting upload",
                path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            None => "nothing the template shows changed; no file needed".to_string(),
        };
        // An entity with nothing in the file failed; everything else is in
        // it (or shows nowhere in the template).
        let verdict = |kind, id, action| match without.get(&(kind, id)) {
            Some(reason) if action != Action::Delete => (
                OutcomeStatus::Error,
                Some(format!("not in the file: {reason}")),
            ),
            _ => (OutcomeStatus::Success, Some(detail.clone())),
        };
        let (mut summary, stop) = report_settled(plan, verdict, on_outcome);
        if let Some(stop) = stop {
            return Err(SinkError::Aborted(stop.to_string()));
        }
        summary.upload = Some(report);
        summary.set_elapsed(started.elapsed());
        Ok(summary)
    }

    async fn check(&self) -> Result<CheckReport, SinkError> {
        let mut checks = Vec::new();
        let confirmed = self
            .store()?
            .confirmed_rows()
            .await
            .map_err(SinkError::Aborted)?;
        checks.push(format!(
            "the state store is readable ({} row(s) confirmed uploaded)",
            confirmed.len()
        ));
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || crate::file::create_private_dir(&dir))
            .await
            .map_err(|e| SinkError::Aborted(e.to_string()))?
            .map_err(|e| SinkError::Write {
                path: self.dir.clone(),
                message: e.to_string(),
            })?;
        checks.push(format!(
            "{} is a folder skolsync can write",
            self.dir.display()
        ));
        Ok(CheckReport {
            kind: self.kind(),
            target: self.dir.display().to_string(),
            checks,
        })
    }
}
