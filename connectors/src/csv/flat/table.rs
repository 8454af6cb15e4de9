//! A sheet of the flat layout (a CSV file, or any [`Sheet`]) with its
//! columns resolved, and the values of one row by field.

use std::fmt::Display;
use std::str::FromStr;

use chrono::NaiveDate;
use skolsync_model::ss12000::{EntityKind, Reference};

use super::super::sheet::{Columns, Line, Row, Sheet};
use super::super::{At, CIVIC_NO_DIGITS, Out, SCHOOL_UNIT_CODE_DIGITS, date, small_number};
use super::Flat;
use crate::error::SourceError;
use crate::source::Batch;

/// A sheet of the layout with its columns resolved.
pub(super) struct Table {
    sheet: Box<dyn Sheet>,
    /// Field → configured column (absent optional columns read as empty).
    columns: Columns,
    entity: EntityKind,
}

impl Table {
    /// Opens the table `name` if it is there. `mapping` pairs each field
    /// with its configured column name; `required` fields must exist.
    pub(super) fn open(
        flat: &Flat<'_>,
        name: &'static str,
        entity: EntityKind,
        mapping: &[(&'static str, &String)],
        required: &[&'static str],
    ) -> Result<Option<Table>, SourceError> {
        let required_columns: Vec<&str> = mapping
            .iter()
            .filter(|(f, _)| required.contains(f))
            .map(|(_, c)| c.as_str())
            .collect();
        match (flat.open)(name, &required_columns)? {
            None => Ok(None),
            Some(sheet) => Table::new(sheet, entity, mapping, required).map(Some),
        }
    }

    /// The table over any sheet.
    pub(super) fn new(
        mut sheet: Box<dyn Sheet>,
        entity: EntityKind,
        mapping: &[(&'static str, &String)],
        required: &[&'static str],
    ) -> Result<Table, SourceError> {
        let mapping: Vec<(&'static str, &str)> =
            mapping.iter().map(|(f, c)| (*f, c.as_str())).collect();
        let columns = Columns::new(sheet.as_mut(), &mapping, required)?;
        let codes: Vec<(&str, &'static [usize])> = mapping
            .iter()
            .filter_map(|(f, c)| Some((*c, code_digits(f)?)))
            .collect();
        sheet.code_columns(&codes);
        // A column named in the pipeline file is one the pipeline means to
        // read: its absence is not "no values".
        let configured: Vec<(&str, &str)> = mapping
            .iter()
            .filter(|(f, c)| c != f)
            .map(|(_, c)| (*c, "named in [source.columns]"))
            .collect();
        sheet.expect(&configured);
        Ok(Table {
            sheet,
            columns,
            entity,
        })
    }

    /// The kind of the records it holds.
    pub(super) fn entity(&self) -> EntityKind {
        self.entity
    }

    /// The column `field` is read from, as configured.
    pub(super) fn column_name<'a>(&'a self, field: &'a str) -> &'a str {
        self.columns.column_name(field)
    }

    /// The next readable row; bad lines are rejected on the way. At the
    /// end the sheet's shape goes out.
    pub(super) fn next(&mut self, out: &mut Out<'_>) -> Result<Option<Row>, SourceError> {
        loop {
            match self.sheet.next_row()? {
                None => {
                    self.columns.check(self.sheet.as_ref())?;
                    out.emit(Batch::Input(self.sheet.shape()))?;
                    return Ok(None);
                }
                Some(Line::Row(row)) => return Ok(Some(row)),
                Some(Line::Bad {
                    line,
                    column,
                    reason,
                }) => {
                    let at = At {
                        file: self.sheet.name(),
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
                Some(Line::Skipped { line, reason }) => {
                    let at = At {
                        file: self.sheet.name(),
                        line,
                    };
                    out.reject(at.reject(self.entity, "", "", None, reason).warning())?;
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

/// The digits of the field `field` if it holds a fixed-width code (whose
/// leading zeros a workbook gives back).
fn code_digits(field: &str) -> Option<&'static [usize]> {
    match field {
        "civic_no" => Some(CIVIC_NO_DIGITS),
        "school_unit_code" => Some(SCHOOL_UNIT_CODE_DIGITS),
        _ => None,
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
        self.table.columns.get(self.row, field)
    }

    /// The column `field` is read from, as configured.
    pub(super) fn column_name(&self, field: &'a str) -> &'a str {
        self.table.column_name(field)
    }

    pub(super) fn opt(&self, field: &str) -> Option<String> {
        Some(self.s(field))
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub(super) fn fail(&mut self, field: &str, value: Option<String>, reason: String) {
        if self.error.is_none() {
            let column = self.table.column_name(field).to_string();
            self.error = Some((column, value, reason));
        }
    }

    pub(super) fn required(&mut self, field: &str) -> &'a str {
        let v = self.s(field);
        if v.is_empty() {
            let column = self.table.column_name(field).to_string();
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
                out.reject(
                    self.row
                        .at()
                        .reject(self.table.entity, id, &column, value, reason),
                )?;
                Ok(false)
            }
        }
    }
}
