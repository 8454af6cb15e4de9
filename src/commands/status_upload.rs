//! `skolsync status PIPELINE` of a file-method pipeline (`skolverket-file`):
//! the upload workbooks written, which one awaits upload, which were
//! confirmed, and how many rows Skolverket was given by file.

use std::fmt::Write as _;

use serde::Serialize;
use skolsync::state::{StateError, StateStore, UploadStatus};
use skolsync::terminal::escape;

/// What a file-method pipeline has written and had confirmed.
#[derive(Debug, Serialize)]
pub struct UploadOverview {
    /// Rows of the last confirmed upload, per sheet key.
    pub confirmed_rows: Vec<(String, usize)>,
    /// The files, newest first.
    pub files: Vec<FileLine>,
}

/// One written file.
#[derive(Debug, Serialize)]
pub struct FileLine {
    /// Where it was written.
    pub path: String,
    /// `written` (awaiting upload), `superseded` or `confirmed`.
    pub status: &'static str,
    /// When it was written.
    pub written_at: String,
    /// When it was confirmed.
    pub confirmed_at: Option<String>,
    /// Its rows.
    pub rows: u64,
}

/// Reads the overview of sink `sink`.
pub async fn overview(store: &StateStore, sink: &str) -> Result<UploadOverview, StateError> {
    let mut per_sheet: std::collections::BTreeMap<String, usize> = Default::default();
    for row in store.confirmed_upload_rows(sink).await? {
        *per_sheet.entry(row.sheet.name().to_string()).or_default() += 1;
    }
    let files = store
        .upload_files(sink)
        .await?
        .into_iter()
        .map(|f| FileLine {
            path: f.path.display().to_string(),
            status: match f.status {
                UploadStatus::Written => "written",
                UploadStatus::Superseded => "superseded",
                UploadStatus::Confirmed => "confirmed",
            },
            written_at: f.written_at,
            confirmed_at: f.confirmed_at,
            rows: f.rows,
        })
        .collect();
    Ok(UploadOverview {
        confirmed_rows: per_sheet.into_iter().collect(),
        files,
    })
}

/// The overview as text.
pub fn describe(o: &UploadOverview) -> String {
    let mut out = String::new();
    match o.files.iter().find(|f| f.status == "written") {
        Some(f) => {
            let _ = writeln!(
                out,
                "Awaiting upload: {} ({} rows, written {}); after uploading it, run \
                 `skolsync confirm-upload PIPELINE {}`.",
                escape(&f.path),
                f.rows,
                f.written_at,
                escape(&f.path)
            );
        }
        None => {
            let _ = writeln!(out, "No file awaits upload.");
        }
    }
    if o.confirmed_rows.is_empty() {
        let _ = writeln!(
            out,
            "Nothing confirmed uploaded yet: the next file holds everything."
        );
    } else {
        let parts: Vec<String> = o
            .confirmed_rows
            .iter()
            .map(|(sheet, n)| format!("{sheet}: {n}"))
            .collect();
        let _ = writeln!(out, "Confirmed uploaded rows: {}.", parts.join(", "));
    }
    if !o.files.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<11} {:>6}  {:<28} file",
            "status", "rows", "written"
        );
        for f in &o.files {
            let _ = writeln!(
                out,
                "{:<11} {:>6}  {:<28} {}{}",
                f.status,
                f.rows,
                f.written_at,
                escape(&f.path),
                f.confirmed_at
                    .as_deref()
                    .map(|at| format!(" (confirmed {at})"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
