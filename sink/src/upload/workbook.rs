//! The upload workbook on disk: Skolverket's four sheets with the
//! template's headers, every cell text.
//!
//! Text cells (and a text number format on every column) keep what Excel
//! would otherwise turn into numbers — school unit codes and personnummer
//! with their leading zeros, `Årskurs` — as the template's cells are
//! meant to hold them. The file is written under a temporary name in its
//! folder and renamed into place, readable by its owner only (it holds
//! personnummer); an existing file is never replaced unless asked.

use std::io::Write;
use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, Workbook, XlsxError};
use sha2::{Digest, Sha256};
use skolsync_model::template::REMOVE_YES;

use super::delta::{DeltaRow, RowChange};
use super::rows::SheetKind;
use crate::file::{create_private, create_private_dir};

/// Why a workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    /// The workbook could not be built.
    #[error("building the workbook: {0}")]
    Build(#[from] XlsxError),
    /// The file is there already.
    #[error(
        "{} exists; skolsync never writes over an upload file (run with --force to replace it)",
        .0.display()
    )]
    Exists(PathBuf),
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A written workbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Where it is.
    pub path: PathBuf,
    /// SHA-256 of its bytes, hex: what `confirm-upload` checks the
    /// uploaded file against.
    pub sha256: String,
}

/// The workbook of `rows` as bytes: the four sheets in the template's
/// order (each with its header, even when it has no rows), rows as given.
pub fn build(rows: &[DeltaRow]) -> Result<Vec<u8>, XlsxError> {
    let mut workbook = Workbook::new();
    let header_format = Format::new().set_bold().set_num_format("@");
    let text = Format::new().set_num_format("@");
    for sheet in SheetKind::ALL {
        let header = sheet.header();
        let worksheet = workbook.add_worksheet();
        worksheet.set_name(sheet.name())?;
        for (col, name) in (0u16..).zip(header) {
            worksheet.set_column_format(col, &text)?;
            worksheet.set_column_width(col, column_width(name))?;
            worksheet.write_string_with_format(0, col, *name, &header_format)?;
        }
        worksheet.set_freeze_panes(1, 0)?;
        let remove_col = u16::try_from(header.len() - 1).unwrap_or(u16::MAX);
        for (row_no, d) in (1u32..).zip(rows.iter().filter(|d| d.row.sheet == sheet)) {
            for (col, cell) in (0u16..).zip(&d.row.cells) {
                if !cell.is_empty() {
                    worksheet.write_string_with_format(row_no, col, cell, &text)?;
                }
            }
            if d.change == RowChange::Removed {
                worksheet.write_string_with_format(row_no, remove_col, REMOVE_YES, &text)?;
            }
        }
    }
    workbook.save_to_buffer()
}

/// A column wide enough for its header and typical values (ids are UUIDs).
fn column_width(header: &str) -> f64 {
    let chars = header.chars().count();
    let wide = header.ends_with("-ID") || header.starts_with("Ämnesgrupper");
    let width = if wide { 38 } else { chars.max(12) + 2 };
    width as f64
}

/// Writes `bytes` to `path`, only its owner may read it, via a temporary
/// file renamed into place; `path` must not exist unless `overwrite`.
pub fn write(path: &Path, bytes: &[u8], overwrite: bool) -> Result<Written, WorkbookError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkbookError::Io { path, source }
    };
    if let Some(dir) = path.parent() {
        create_private_dir(dir).map_err(io(dir))?;
    }
    if !overwrite && std::fs::symlink_metadata(path).is_ok() {
        return Err(WorkbookError::Exists(path.to_path_buf()));
    }
    let tmp = path.with_extension("xlsx.tmp");
    let mut file = create_private(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(Written {
        path: path.to_path_buf(),
        sha256: sha256_hex(bytes),
    })
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload::rows::UploadRow;

    #[test]
    fn refuses_an_existing_file_and_writes_privately() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("upload/f.xlsx");
        let bytes = build(&[DeltaRow {
            row: UploadRow {
                sheet: SheetKind::Classes,
                key: "c".into(),
                cells: vec!["c".into(), "7A".into(), "GR".into(), "01234567".into()],
            },
            change: RowChange::Removed,
        }])
        .unwrap();
        let written = write(&path, &bytes, false).unwrap();
        assert_eq!(written.sha256, sha256_hex(&std::fs::read(&path).unwrap()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = write(&path, &bytes, false).unwrap_err().to_string();
        assert!(again.contains("--force"), "{again}");
        assert!(write(&path, &bytes, true).is_ok());
    }
}
