//! File sinks: JSON Lines, CSV and Parquet, one file per entity type in a
//! directory — for audits (what would be sent), migrations (load it
//! elsewhere) and dry runs.
//!
//! With `content = "provtjanst"` [`crate::Sink::apply`] writes the plan:
//! `persons`, `duties`, `groups`, `activities` (the payloads of creates,
//! then updates, exactly as the Provisioning API would receive them) and
//! `deletes` (`kind`, `id`). Every entity is then reported `Success`. With
//! `content = "ss12000"` a [`SnapshotWriter`] writes the source's
//! entities: `organisations`, `persons`, `duties`, `groups`, `activities`,
//! `syllabuses`, `programmes` and `deleted`.
//!
//! JSONL lines are the entities themselves. CSV and Parquet hold one row per
//! entity and one column per top-level attribute (in order of first
//! appearance); nested values (lists, references) are JSON text. Parquet
//! columns are booleans, integers or floats when every value is one, text
//! otherwise.
//!
//! Files are written to a temporary name and renamed into place, so a
//! reader never sees half a file; on Unix they are readable by the owner
//! only, since they carry personal data (personnummer).

pub mod config;
mod jsonl;
mod private;

pub use jsonl::JsonlFiles;
pub use private::{create_private, create_private_dir};

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use polars::prelude::{Column, DataFrame, ParquetWriter, PlSmallStr};
use serde::Serialize;
use serde_json::{Map, Value, json};
use skolsync_model::ObjectType;
use skolsync_model::plan::{Action, OutcomeStatus, Plan, SEND_ORDER, TypePlan};
use skolsync_model::provtjanst::path_segment;
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{by_kind, by_type};

use self::config::{Content, FileConfig};
use crate::error::{ConfigError, SinkError};
use crate::settled::report_settled;
use crate::summary::{ApplySummary, CheckReport, SnapshotSummary};
use crate::{OutcomeCallback, Sink};
use skolsync_model::BuildContext;

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON Lines.
    Jsonl,
    /// CSV with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The file extension and `kind`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

/// A sink writing files.
#[derive(Debug, Clone)]
pub struct FileSink {
    format: Format,
    dir: PathBuf,
    content: Content,
}

/// Rows of one file, flattened to columns.
struct Table {
    columns: Vec<String>,
    rows: Vec<Map<String, Value>>,
}

impl Table {
    fn new(values: Vec<Value>) -> Table {
        let mut columns: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let rows: Vec<Map<String, Value>> = values
            .into_iter()
            .map(|v| match v {
                Value::Object(map) => map,
                other => {
                    let mut map = Map::new();
                    map.insert("value".to_string(), other);
                    map
                }
            })
            .collect();
        for row in &rows {
            for key in row.keys() {
                if seen.insert(key.clone()) {
                    columns.push(key.clone());
                }
            }
        }
        if columns.is_empty() {
            // An empty file still says what it would hold.
            columns.push("id".to_string());
        }
        Table { columns, rows }
    }
}

/// A cell as CSV text: strings as they are, nested values as JSON.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn parquet_column(name: &str, rows: &[Map<String, Value>]) -> Column {
    let values: Vec<Option<&Value>> = rows
        .iter()
        .map(|r| r.get(name).filter(|v| !v.is_null()))
        .collect();
    let present = || values.iter().flatten();
    let name = PlSmallStr::from(name);
    if present().next().is_some() && present().all(|v| v.is_boolean()) {
        let data: Vec<Option<bool>> = values.iter().map(|v| v.and_then(Value::as_bool)).collect();
        Column::new(name, data)
    } else if present().next().is_some() && present().all(|v| v.is_i64()) {
        let data: Vec<Option<i64>> = values.iter().map(|v| v.and_then(Value::as_i64)).collect();
        Column::new(name, data)
    } else if present().next().is_some() && present().all(|v| v.is_number()) {
        let data: Vec<Option<f64>> = values.iter().map(|v| v.and_then(Value::as_f64)).collect();
        Column::new(name, data)
    } else {
        let data: Vec<Option<String>> = values.iter().map(|v| v.map(|v| text(Some(v)))).collect();
        Column::new(name, data)
    }
}

fn to_values<T: Serialize>(items: impl IntoIterator<Item = T>) -> Result<Vec<Value>, String> {
    items
        .into_iter()
        .map(|i| serde_json::to_value(i).map_err(|e| e.to_string()))
        .collect()
}

impl FileSink {
    /// Checks the settings. The directory is created when first written.
    pub fn new(
        format: Format,
        config: &FileConfig,
        ctx: &BuildContext,
    ) -> Result<Self, ConfigError> {
        if config.dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                field: "dir",
                message: "is empty; name the directory to write into".to_string(),
            });
        }
        let dir = ctx.resolve(&config.dir);
        if dir.exists() && !dir.is_dir() {
            return Err(ConfigError::Invalid {
                field: "dir",
                message: format!("{} exists and is not a directory", dir.display()),
            });
        }
        Ok(FileSink {
            format,
            dir,
            content: config.content,
        })
    }

    /// The directory written into.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of the file called `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.{}", self.format.extension()))
    }

    fn write_error(&self, path: &Path, message: impl Into<String>) -> SinkError {
        SinkError::Write {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// Writes `rows` to `<dir>/<name>.<ext>`, replacing the file whole.
    pub fn write(&self, name: &str, rows: Vec<Value>) -> Result<usize, SinkError> {
        let path = self.path(name);
        fs::create_dir_all(&self.dir).map_err(|e| self.write_error(&self.dir, e.to_string()))?;
        let tmp = self
            .dir
            .join(format!(".{name}.{}.tmp", self.format.extension()));
        let count = rows.len();
        let result = self.write_to(&tmp, rows);
        if let Err(message) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.write_error(&path, message));
        }
        fs::rename(&tmp, &path).map_err(|e| self.write_error(&path, e.to_string()))?;
        Ok(count)
    }

    fn write_to(&self, tmp: &Path, rows: Vec<Value>) -> Result<(), String> {
        let file = create_private(tmp).map_err(|e| e.to_string())?;
        match self.format {
            Format::Jsonl => {
                let mut out = BufWriter::new(file);
                for row in &rows {
                    serde_json::to_writer(&mut out, row).map_err(|e| e.to_string())?;
                    out.write_all(b"\n").map_err(|e| e.to_string())?;
                }
                out.flush().map_err(|e| e.to_string())?;
                out.get_ref().sync_all().map_err(|e| e.to_string())
            }
            Format::Csv => {
                let table = Table::new(rows);
                let mut out = csv::Writer::from_writer(BufWriter::new(file));
                out.write_record(&table.columns)
                    .map_err(|e| e.to_string())?;
                for row in &table.rows {
                    out.write_record(table.columns.iter().map(|c| text(row.get(c))))
                        .map_err(|e| e.to_string())?;
                }
                out.flush().map_err(|e| e.to_string())
            }
            Format::Parquet => {
                let table = Table::new(rows);
                let columns: Vec<Column> = table
                    .columns
                    .iter()
                    .map(|c| parquet_column(c, &table.rows))
                    .collect();
                let mut frame =
                    DataFrame::new(table.rows.len(), columns).map_err(|e| e.to_string())?;
                let mut out = BufWriter::new(file);
                ParquetWriter::new(&mut out)
                    .finish(&mut frame)
                    .map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())
            }
        }
    }

    fn payloads<T: Serialize>(plan: &TypePlan<T>) -> Result<Vec<Value>, String> {
        to_values(plan.create.iter().chain(&plan.update).map(|d| &d.payload))
    }
}

/// Outcomes of one type's entities once its file is (or is not) written.
#[async_trait]
impl Sink for FileSink {
    fn kind(&self) -> &'static str {
        self.format.extension()
    }

    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError> {
        if self.content == Content::Ss12000 {
            return Err(SinkError::Unsupported {
                sink: self.kind(),
                what: "plans when `content = \"ss12000\"` (it writes source snapshots)",
            });
        }
        let started = std::time::Instant::now();
        let this = self.clone();
        let plan_owned = plan.clone();
        // File and Parquet writing block; keep them off the async threads.
        let results = tokio::task::spawn_blocking(move || {
            let mut results = BTreeMap::new();
            let mut run = |name: &'static str, rows: Result<Vec<Value>, String>| {
                let result = rows.and_then(|rows| {
                    this.write(name, rows)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                });
                results.insert(name, result);
            };
            let p = &plan_owned;
            for kind in SEND_ORDER {
                let rows = by_type!(kind, &p, |part| FileSink::payloads(part));
                run(path_segment(kind), rows);
            }
            let deletes: Vec<Value> = SEND_ORDER
                .into_iter()
                .flat_map(|kind| {
                    by_type!(kind, &p, |part| &part.delete)
                        .iter()
                        .map(move |id| json!({"kind": kind.as_str(), "id": id}))
                })
                .collect();
            run("deletes", Ok(deletes));
            results
        })
        .await
        .map_err(|e| SinkError::Write {
            path: self.dir.clone(),
            message: format!("the writer stopped: {e}"),
        })?;

        // The files are written; a stop asked for while reporting leaves
        // nothing to hold back, so every outcome is still reported.
        let get = |name: &str| {
            results
                .get(name)
                .cloned()
                .unwrap_or_else(|| Err("not written".to_string()))
        };
        let verdict = |kind: ObjectType, _id, action| {
            let name = if action == Action::Delete {
                "deletes"
            } else {
                path_segment(kind)
            };
            match get(name) {
                Ok(()) => (OutcomeStatus::Success, None),
                Err(e) => (OutcomeStatus::Error, Some(e)),
            }
        };
        let (mut summary, stop) = report_settled(plan, verdict, on_outcome);
        summary.set_elapsed(started.elapsed());
        if let Some(stop) = stop {
            return Err(SinkError::Aborted(stop.to_string()));
        }
        if let Some((name, Err(message))) = results.iter().find(|(_, r)| r.is_err()) {
            return Err(SinkError::Write {
                path: self.path(name),
                message: message.clone(),
            });
        }
        Ok(summary)
    }

    async fn check(&self) -> Result<CheckReport, SinkError> {
        fs::create_dir_all(&self.dir).map_err(|e| self.write_error(&self.dir, e.to_string()))?;
        let probe = self.dir.join(".skolsync-write-check");
        create_private(&probe)
            .and_then(|mut f| f.write_all(b"ok"))
            .map_err(|e| self.write_error(&probe, e.to_string()))?;
        let _ = fs::remove_file(&probe);
        Ok(CheckReport {
            kind: self.kind(),
            target: self.dir.display().to_string(),
            checks: vec![format!("{} is writable", self.dir.display())],
        })
    }
}

/// The order of a snapshot's files (and of its `deleted` rows).
const SNAPSHOT_ORDER: [EntityKind; 7] = [
    EntityKind::Organisation,
    EntityKind::Person,
    EntityKind::Duty,
    EntityKind::Group,
    EntityKind::Activity,
    EntityKind::Syllabus,
    EntityKind::Programme,
];

/// Writes the source's SS 12000 entities as files (a file sink with
/// `content = "ss12000"`, [`crate::Delivery::Snapshot`]): no plan, no
/// outcomes.
#[derive(Debug, Clone)]
pub struct SnapshotWriter {
    files: FileSink,
}

impl SnapshotWriter {
    /// Checks the settings. The directory is created when first written.
    pub fn new(
        format: Format,
        config: &FileConfig,
        ctx: &BuildContext,
    ) -> Result<Self, ConfigError> {
        Ok(SnapshotWriter {
            files: FileSink::new(format, config, ctx)?,
        })
    }

    /// The directory written into.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Writes the source's entities, one file per SS 12000 kind plus
    /// `deleted`, each replaced whole.
    pub async fn write(&self, snapshot: &Snapshot) -> Result<SnapshotSummary, SinkError> {
        let this = self.files.clone();
        let snapshot = snapshot.clone();
        tokio::task::spawn_blocking(move || {
            let s = &snapshot;
            let deleted = &s.deleted;
            let deleted_rows: Vec<Value> = SNAPSHOT_ORDER
                .into_iter()
                .flat_map(|kind| {
                    by_kind!(kind, &deleted, |ids| ids)
                        .iter()
                        .map(move |id| json!({"kind": kind.type_name(), "id": id}))
                })
                .collect();
            let mut files: Vec<(&str, Result<Vec<Value>, String>)> = SNAPSHOT_ORDER
                .into_iter()
                .map(|kind| (kind.endpoint(), by_kind!(kind, &s, |list| to_values(list))))
                .collect();
            files.push(("deleted", Ok(deleted_rows)));
            let mut summary = SnapshotSummary::default();
            for (name, rows) in files {
                let rows = rows.map_err(|message| SinkError::Write {
                    path: this.path(name),
                    message,
                })?;
                let count = this.write(name, rows)?;
                summary
                    .files
                    .insert(format!("{name}.{}", this.format.extension()), count);
            }
            Ok(summary)
        })
        .await
        .map_err(|e| SinkError::Write {
            path: self.files.dir.clone(),
            message: format!("the writer stopped: {e}"),
        })?
    }
}
