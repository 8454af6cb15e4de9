//! The upload workbooks of Skolverket's file method: which file was
//! written, which one a person confirmed uploaded, and the rows of the
//! last confirmed upload — the baseline the next file is the difference
//! from.
//!
//! At most one file per sink awaits confirmation: recording a new one
//! supersedes the one before (and empties the sink's unconfirmed layer of
//! outcomes, which the new run fills anew). Confirming the awaited file
//! makes its rows the baseline and moves the unconfirmed outcomes onto the
//! sink, in one transaction.

use std::path::PathBuf;

use skolsync_sink::upload::WrittenFile;
use skolsync_sink::upload::delta::RowChange;
use skolsync_sink::upload::rows::{SheetKind, UploadRow};
use sqlx::Row;
use uuid::Uuid;

use super::entities::{PROMOTE, unconfirmed_layer};
use super::{StateError, StateStore, now_text};

/// Where a written file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStatus {
    /// Written, awaiting `confirm-upload`.
    Written,
    /// A later file holds everything it did; never to be confirmed.
    Superseded,
    /// Confirmed uploaded.
    Confirmed,
}

impl UploadStatus {
    const fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Written => "written",
            UploadStatus::Superseded => "superseded",
            UploadStatus::Confirmed => "confirmed",
        }
    }

    fn parse(raw: &str) -> Result<UploadStatus, StateError> {
        [
            UploadStatus::Written,
            UploadStatus::Superseded,
            UploadStatus::Confirmed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
        .ok_or_else(|| StateError::Corrupt(format!("unknown upload status `{raw}`")))
    }
}

/// A written file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadFile {
    /// Its id.
    pub file_id: Uuid,
    /// Where it was written.
    pub path: PathBuf,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// The run that wrote it.
    pub run_id: String,
    /// When (store timestamp).
    pub written_at: String,
    /// Where it stands.
    pub status: UploadStatus,
    /// Rows in it.
    pub rows: u64,
    /// When it was confirmed.
    pub confirmed_at: Option<String>,
}

fn change_str(change: RowChange) -> &'static str {
    match change {
        RowChange::New => "new",
        RowChange::Changed => "changed",
        RowChange::Removed => "removed",
    }
}

fn corrupt(what: &str) -> impl Fn(sqlx::Error) -> StateError + '_ {
    move |e| StateError::Corrupt(format!("{what}: {e}"))
}

/// A stored row back as an [`UploadRow`].
fn stored_row(sheet: &str, key: String, cells: &str) -> Result<UploadRow, StateError> {
    let sheet = SheetKind::from_key(sheet)
        .ok_or_else(|| StateError::Corrupt(format!("unknown upload sheet `{sheet}`")))?;
    let cells: Vec<String> = serde_json::from_str(cells)
        .map_err(|e| StateError::Corrupt(format!("upload row {key}: {e}")))?;
    Ok(UploadRow { sheet, key, cells })
}

impl StateStore {
    /// The rows of `sink`'s last confirmed upload (none before the first).
    pub async fn confirmed_upload_rows(&self, sink: &str) -> Result<Vec<UploadRow>, StateError> {
        let rows = sqlx::query(
            "SELECT sheet, row_key, cells FROM upload_confirmed_rows WHERE sink = $1 \
             ORDER BY sheet, row_key",
        )
        .bind(sink)
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("read the confirmed upload rows"))?;
        let read = corrupt("read the confirmed upload rows");
        rows.iter()
            .map(|r| {
                let sheet: String = r.try_get("sheet").map_err(&read)?;
                let key: String = r.try_get("row_key").map_err(&read)?;
                let cells: String = r.try_get("cells").map_err(&read)?;
                stored_row(&sheet, key, &cells)
            })
            .collect()
    }

    /// Records what run `run_id` wrote for `sink` (`None`: no file, nothing
    /// in the template changed): any file still awaiting confirmation is
    /// superseded, and the sink's unconfirmed outcomes are emptied for
    /// this run's.
    pub async fn record_upload(
        &self,
        sink: &str,
        run_id: &str,
        file: Option<&WrittenFile>,
    ) -> Result<(), StateError> {
        let err = StateError::query("record the upload file");
        let mut tx = self.pool().begin().await.map_err(err)?;
        sqlx::query(
            "UPDATE upload_files SET status = 'superseded' WHERE sink = $1 AND status = 'written'",
        )
        .bind(sink)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        for statement in [
            "DELETE FROM upload_file_rows WHERE sink = $1",
            "DELETE FROM entities WHERE sink = $1",
        ] {
            let target = if statement.contains("entities") {
                unconfirmed_layer(sink)
            } else {
                sink.to_string()
            };
            sqlx::query(statement)
                .bind(target)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if let Some(file) = file {
            let file_id = Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO upload_files (sink, file_id, path, sha256, run_id, written_at, status, row_count) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'written', $7)",
            )
            .bind(sink)
            .bind(&file_id)
            .bind(file.path.to_string_lossy().into_owned())
            .bind(&file.sha256)
            .bind(run_id)
            .bind(now_text())
            .bind(i64::try_from(file.rows.len()).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
            for d in &file.rows {
                let cells = serde_json::to_string(&d.row.cells)
                    .map_err(|e| StateError::Corrupt(format!("upload row: {e}")))?;
                sqlx::query(
                    "INSERT INTO upload_file_rows (sink, file_id, sheet, row_key, change, cells) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(sink)
                .bind(&file_id)
                .bind(d.row.sheet.key())
                .bind(&d.row.key)
                .bind(change_str(d.change))
                .bind(cells)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    /// The files written for `sink`, newest first.
    pub async fn upload_files(&self, sink: &str) -> Result<Vec<UploadFile>, StateError> {
        let rows = sqlx::query(
            "SELECT file_id, path, sha256, run_id, written_at, status, row_count, confirmed_at \
             FROM upload_files WHERE sink = $1 ORDER BY written_at DESC",
        )
        .bind(sink)
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("read the upload files"))?;
        let read = corrupt("read the upload files");
        rows.iter()
            .map(|r| {
                let file_id: String = r.try_get("file_id").map_err(&read)?;
                let path: String = r.try_get("path").map_err(&read)?;
                let status: String = r.try_get("status").map_err(&read)?;
                let rows: i64 = r.try_get("row_count").map_err(&read)?;
                Ok(UploadFile {
                    file_id: super::parse_id(&file_id)?,
                    path: PathBuf::from(path),
                    sha256: r.try_get("sha256").map_err(&read)?,
                    run_id: r.try_get("run_id").map_err(&read)?,
                    written_at: r.try_get("written_at").map_err(&read)?,
                    status: UploadStatus::parse(&status)?,
                    rows: u64::try_from(rows).unwrap_or(0),
                    confirmed_at: r.try_get("confirmed_at").map_err(&read)?,
                })
            })
            .collect()
    }

    /// Confirms that file `file_id` of `sink` (the one awaiting
    /// confirmation) was uploaded: its rows become the baseline, the
    /// unconfirmed outcomes move onto the sink. `Ok(false)` when it is not
    /// awaiting confirmation (nothing changes).
    pub async fn confirm_upload(&self, sink: &str, file_id: Uuid) -> Result<bool, StateError> {
        let err = StateError::query("confirm the upload");
        let mut tx = self.pool().begin().await.map_err(err)?;
        let file_id = file_id.to_string();
        let marked = sqlx::query(
            "UPDATE upload_files SET status = 'confirmed', confirmed_at = $3 \
             WHERE sink = $1 AND file_id = $2 AND status = 'written'",
        )
        .bind(sink)
        .bind(&file_id)
        .bind(now_text())
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if marked.rows_affected() == 0 {
            return Ok(false);
        }
        for statement in [
            "DELETE FROM upload_confirmed_rows WHERE sink = $1 AND EXISTS (SELECT 1 FROM upload_file_rows AS f \
             WHERE f.sink = upload_confirmed_rows.sink AND f.file_id = $2 AND f.change = 'removed' \
             AND f.sheet = upload_confirmed_rows.sheet AND f.row_key = upload_confirmed_rows.row_key)",
            "INSERT INTO upload_confirmed_rows (sink, sheet, row_key, cells) \
             SELECT sink, sheet, row_key, cells FROM upload_file_rows \
             WHERE sink = $1 AND file_id = $2 AND change <> 'removed' \
             ON CONFLICT (sink, sheet, row_key) DO UPDATE SET cells = excluded.cells",
            "DELETE FROM upload_file_rows WHERE sink = $1 AND file_id = $2",
        ] {
            sqlx::query(statement)
                .bind(sink)
                .bind(&file_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        promote(&mut tx, sink).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    /// Moves `sink`'s unconfirmed outcomes onto it at once (a run of a sink
    /// awaiting confirmation that wrote no file: nothing is left to
    /// upload).
    pub async fn promote_unconfirmed(&self, sink: &str) -> Result<(), StateError> {
        let err = StateError::query("record the outcomes");
        let mut tx = self.pool().begin().await.map_err(err)?;
        promote(&mut tx, sink).await.map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

async fn promote(tx: &mut sqlx::SqliteConnection, sink: &str) -> Result<(), sqlx::Error> {
    let layer = unconfirmed_layer(sink);
    for statement in PROMOTE {
        sqlx::query(statement)
            .bind(sink)
            .bind(&layer)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
