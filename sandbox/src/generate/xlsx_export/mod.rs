//! The generated municipality as Skolverket's upload template workbook
//! (`.xlsx`), clean as the template is or dirty as schools fill it by hand.
//!
//! The rows are the CSV export's Skolverket layout (`TemplateRows`), so
//! the workbook and the CSV files describe one municipality the same way;
//! only the cells' form differs.
//!
//! **Clean** ([`WorkbookDirt::Clean`]) — exactly the template: the four
//! sheets named and ordered as `template::SHEETS`, each with a title row
//! (one cell merged over the sheet's columns), an instruction row, the
//! header (the `template::*_HEADER` columns) on row
//! [`WORKBOOK_HEADER_ROW`] and the data right below it, every cell text
//! (codes and personnummer too, in text-formatted columns, so nothing is
//! read as a number).
//!
//! **Dirty** ([`WorkbookDirt::Dirty`]) — what hand-filled workbooks hold,
//! each data row still meaning what it means in the clean one:
//!
//! - `Skolenhetskod`, `Personnummer` and `Årskurs` as **number** cells
//!   where the value is all digits (leading zeros would be lost; a
//!   personnummer shows as `2.00901E+11` in Excel);
//! - stray spaces around names and codes (`Förnamn`, `Mellannamn`,
//!   `Efternamn`, `Klass`, `Ämnesgrupp`, `Skolform`, `Skolenhetskod`,
//!   `Studievägskod`, `Provaktivitetsnamn`) in every
//!   [`SPACED_ROW_EVERY`]th data row, starting with the second; a spaced
//!   `Skolenhetskod` stays a text cell, so that column mixes text and
//!   numbers;
//! - the template's example row left in right below the header (its first
//!   cell starts with `template::EXAMPLE_MARKER`);
//! - one empty row in the middle of each sheet with two or more data rows;
//! - `E-postadress` renamed [`DIRTY_EMAIL_HEADER`] (`E-post`) on
//!   *Elevinskrivningar*, the one header a pipeline must map;
//! - a hidden sheet [`VALUE_LIST_SHEET`] after the four, holding the value
//!   lists (`Skolform`, `Sekretessmarkering`, `Personalkategori`,
//!   `Ta bort`) as real templates do.
//!
//! The bytes are a function of the municipality and the options: the
//! document's creation time is the municipality's reference date.
//! Files are written `0600` (they hold personal-looking data) and never
//! over an existing file unless [`WorkbookOptions::overwrite`] says so.

mod dirty;
mod sheets;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rust_xlsxwriter::XlsxError;

use super::Municipality;
use super::csv_export::{CivicNoFormat, TemplateRows};

pub use dirty::{DIRTY_EMAIL_HEADER, SPACED_ROW_EVERY, VALUE_LIST_SHEET};
pub use sheets::WORKBOOK_HEADER_ROW;

/// Whether the workbook is the clean template or a hand-filled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkbookDirt {
    /// Exactly the template, every cell text.
    #[default]
    Clean,
    /// What hand-filled workbooks hold (see the module documentation).
    Dirty,
}

/// How to write the workbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkbookOptions {
    /// Clean or hand-filled.
    pub dirt: WorkbookDirt,
    /// Personnummer form (only all-digit ones become numbers when dirty).
    pub civic_no_format: CivicNoFormat,
    /// Replace a file already at the path (else it is refused).
    pub overwrite: bool,
}

/// Why the workbook could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookExportError {
    /// A file is already at the path and `overwrite` is off.
    #[error("{path} already exists; the workbook export replaces a file only with overwrite set")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Creating the directory or the file, or writing it, failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The workbook writer refused a sheet (or the whole workbook).
    #[error("cannot build the workbook's {part}: {source}")]
    Build {
        /// `sheet "…"` or `workbook`.
        part: String,
        /// The cause.
        source: XlsxError,
    },
}

/// Writes `m` as the template workbook at `path` (its directory created if
/// missing), mode `0600`; returns the path.
pub fn export_template_workbook(
    m: &Municipality,
    path: &Path,
    options: &WorkbookOptions,
) -> Result<PathBuf, WorkbookExportError> {
    let bytes = template_workbook(m, options)?;
    write_private(path, &bytes, options.overwrite)?;
    Ok(path.to_path_buf())
}

/// The template workbook of `m` as `.xlsx` bytes (`options.overwrite` is
/// not used).
pub fn template_workbook(
    m: &Municipality,
    options: &WorkbookOptions,
) -> Result<Vec<u8>, WorkbookExportError> {
    let rows = TemplateRows::build(m, options.civic_no_format);
    sheets::workbook(&rows, m.reference_date, options.dirt)
}

/// Writes `bytes` to `path` readable by the owner only, refusing an
/// existing file unless `overwrite`.
fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), WorkbookExportError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| WorkbookExportError::Io { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let mut open = OpenOptions::new();
    open.write(true);
    if overwrite {
        open.create(true).truncate(true);
    } else {
        open.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut file = open.open(path).map_err(|source| {
        if source.kind() == io::ErrorKind::AlreadyExists {
            WorkbookExportError::Exists {
                path: path.to_path_buf(),
            }
        } else {
            io_err(path)(source)
        }
    })?;
    // The mode applies to new files only; a replaced one keeps its bits.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(path))?;
    }
    file.write_all(bytes).map_err(io_err(path))?;
    file.flush().map_err(io_err(path))
}
