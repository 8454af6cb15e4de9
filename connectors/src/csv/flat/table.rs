//! A file of the flat layout with its columns resolved, and the values of
//! one row by field.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDate;
use skolsync_model::ss12000::{EntityKind, Reference};

use super::super::config::FlatConfig;
use super::super::reader::{CsvFile, Line, Row};
use super::super::{At, Out, date, small_number};
use crate::error::SourceError;
use crate::resolve;
use crate::source::Batch;

/// An open file of the layout with its columns resolved.
pub(super) struct Table {
    pub(super) file: CsvFile,
    /// Field name → column index (absent optional columns map to `None`).
    columns: HashMap<&'static str, Option<usize>>,
    /// Field name → configured column name, for messages.
    pub(super) names: HashMap<&'static str, String>,
    entity: EntityKind,
}

impl Table {
    /// Opens the table if its file is there. `mapping` pairs each field
    /// with its configured column name; `required` fields must exist.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        config: &FlatConfig,
        base_dir: &Path,
        configured: &Option<PathBuf>,
        default: &str,
        entity: EntityKind,
        mapping: &[(&'static str, &String)],
        required: &[&'static str],
    ) -> Result<Option<Table>, SourceError> {
        let dir = resolve(base_dir, &config.dir);
        let path = match configured {
            Some(p) => resolve(&dir, p),
            None => {
                let path = dir.join(default);
                if !path.exists() {
                    tracing::info!(file = %path.display(), "no such file; nothing of it is read");
                    return Ok(None);
                }
                path
            }
        };
        let mut file = CsvFile::open(&path, config.encoding, config.delimiter)?;
        let required_names: Vec<&str> = mapping
            .iter()
            .filter(|(f, _)| required.contains(f))
            .map(|(_, c)| c.as_str())
            .collect();
        file.require(&required_names)?;
        file.map_columns(mapping.iter().map(|(_, c)| c.as_str()));
        // A column named in the pipeline file is one the pipeline means to
        // read: its absence is not "no values".
        let configured: Vec<(&str, &str)> = mapping
            .iter()
            .filter(|(f, c)| c.as_str() != *f)
            .map(|(_, c)| (c.as_str(), "named in [source.columns]"))
            .collect();
        file.expect(&configured);
        let columns = mapping.iter().map(|(f, c)| (*f, file.column(c))).collect();
        let names = mapping.iter().map(|(f, c)| (*f, (*c).clone())).collect();
        Ok(Some(Table {
            file,
            columns,
            names,
            entity,
        }))
    }

    /// The next readable row; bad lines are rejected on the way.
    pub(super) fn next(&mut self, out: &mut Out<'_>) -> Result<Option<Row>, SourceError> {
        loop {
            match self.file.next_line()? {
                None => {
                    out.emit(Batch::Input(self.file.shape()))?;
                    return Ok(None);
                }
                Some(Line::Row(row)) => return Ok(Some(row)),
                Some(Line::Bad {
                    line,
                    column,
                    reason,
                }) => {
                    let at = At {
                        file: self.file.name(),
                        line,
                    };
                    out.reject(at.reject(
                        self.entity,
                        "",
                        column.as_deref().unwrap_or(""),
                        None,
                        reason,
                    ))?;
                }
            }
        }
    }

    pub(super) fn cells<'a>(&'a self, row: &'a Row) -> Cells<'a> {
        Cells {
            table: self,
            row,
            error: None,
        }
    }
}

/// The values of one row, by field; the first bad value is remembered.
pub(super) struct Cells<'a> {
    table: &'a Table,
    row: &'a Row,
    pub(super) error: Option<(String, Option<String>, String)>,
}

impl<'a> Cells<'a> {
    pub(super) fn s(&self, field: &str) -> &'a str {
        self.row
            .get(self.table.columns.get(field).copied().flatten())
    }

    pub(super) fn opt(&self, field: &str) -> Option<String> {
        Some(self.s(field))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub(super) fn fail(&mut self, field: &str, value: Option<String>, reason: String) {
        if self.error.is_none() {
            let column = self.table.names.get(field).cloned().unwrap_or_default();
            self.error = Some((column, value, reason));
        }
    }

    pub(super) fn required(&mut self, field: &str) -> &'a str {
        let v = self.s(field);
        if v.is_empty() {
            let column = self.table.names.get(field).cloned().unwrap_or_default();
            self.fail(field, None, format!("`{column}` is empty"));
        }
        v
    }

    pub(super) fn with<T>(
        &mut self,
        field: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.s(field);
        match f(raw) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.fail(field, Some(raw.to_string()), reason);
                None
            }
        }
    }

    pub(super) fn code<T: FromStr>(&mut self, field: &str) -> Option<T>
    where
        T::Err: Display,
    {
        self.with(field, |raw| {
            if raw.is_empty() {
                Ok(None)
            } else {
                raw.parse::<T>().map(Some).map_err(|e| e.to_string())
            }
        })
        .flatten()
    }

    pub(super) fn date(&mut self, field: &str) -> Option<NaiveDate> {
        self.with(field, date).flatten()
    }

    pub(super) fn number(&mut self, field: &str) -> Option<u8> {
        self.with(field, small_number).flatten()
    }

    pub(super) fn reference(&self, field: &str) -> Option<Reference> {
        self.opt(field).map(Reference::to)
    }

    /// Rejects the row if a value was bad; `true` if it may be used.
    pub(super) fn ok(self, out: &mut Out<'_>, id: &str) -> Result<bool, SourceError> {
        match self.error {
            None => Ok(true),
            Some((column, value, reason)) => {
                let at = At {
                    file: self.table.file.name(),
                    line: self.row.line,
                };
                out.reject(at.reject(self.table.entity, id, &column, value, reason))?;
                Ok(false)
            }
        }
    }
}
