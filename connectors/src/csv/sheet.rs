//! The tabular seam: a [`Sheet`] is a header and then rows whose cells
//! are fetched by column name, each row knowing where it is
//! (`Elevinskrivningar.csv:14`).
//!
//! Why: the template and flat layouts map *columns* to SS 12000 entities;
//! where the rows come from is not their business. The CSV reader
//! ([`super::reader::CsvFile`]) is one sheet; a workbook's worksheet or a
//! database query can be another and feed the same mapping without copying
//! it. A sheet supplies only the primitives (its name, header, rows, what
//! it noticed); what a mapping demands of a header — columns it requires
//! ([`Sheet::require`]), columns it expects ([`Sheet::expect`], a
//! [`ReadCheck::MissingColumn`] when absent) — is decided here, once, for
//! every kind of sheet. A [`Columns`] is a mapping resolved against one
//! sheet; asking it for a column the mapping does not name is an error of
//! the read, never a silently empty value.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::At;
use crate::error::SourceError;
use crate::shape::{InputShape, ReadCheck};

/// Rows of named cells.
pub(crate) trait Sheet {
    /// The sheet's name in locations (`Elevinskrivningar.csv`).
    fn name(&self) -> &str;

    /// The header as the sheet names its columns (empty names included,
    /// at their positions).
    fn header(&self) -> &[String];

    /// The index of the column `name`, matched case-insensitively.
    fn column(&self, name: &str) -> Option<usize>;

    /// The next non-blank row, or a row that could not be read; `None` at
    /// the end.
    fn next_row(&mut self) -> Result<Option<Line>, SourceError>;

    /// Records something wrong with the sheet as a whole, at `line`.
    fn anomaly(&mut self, check: ReadCheck, line: u64, message: String);

    /// What the sheet looked like so far (in full once
    /// [`Self::next_row`] returned `None`).
    fn shape(&self) -> InputShape;

    /// An error naming the sheet.
    fn error(&self, message: String) -> SourceError;

    /// Declares the columns the mapping reads (those present). A CSV file
    /// lets a quoted value run over a line end only in the others.
    fn map_columns(&mut self, _names: &[&str]) {}

    /// Declares the columns that hold codes of a fixed number of digits
    /// (`Skolenhetskod`: 8; personnummer: 10 or 12), each with the widths
    /// it may have. A sheet that stores numbers as numbers (a workbook)
    /// gives such a cell its leading zeros back; text sheets (CSV) have
    /// them as written.
    fn code_columns(&mut self, _codes: &[(&str, &'static [usize])]) {}

    /// The line the header is on, for locations (a CSV file's first; a
    /// workbook's header may sit below title rows).
    fn header_line(&self) -> u64 {
        1
    }

    /// The indexes of `names`, all of which must be present.
    fn require(&self, names: &[&str]) -> Result<Vec<usize>, SourceError> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| self.column(n).is_none())
            .collect();
        if !missing.is_empty() {
            let found: Vec<&str> = self
                .header()
                .iter()
                .map(String::as_str)
                .filter(|h| !h.is_empty())
                .collect();
            return Err(self.error(format!(
                "the header lacks the column(s) {}; it has: {}",
                quoted(&missing),
                quoted(&found)
            )));
        }
        Ok(names.iter().filter_map(|n| self.column(n)).collect())
    }

    /// Columns the pipeline maps and expects: each one the header lacks is
    /// a [`ReadCheck::MissingColumn`] (its values would read as empty).
    /// `why` says what the column is for.
    fn expect(&mut self, names: &[(&str, &str)]) {
        for (name, why) in names {
            if self.column(name).is_none() {
                let message = format!(
                    "the header has no column `{name}`, which the pipeline maps ({why}); its \
                     values would all read as empty"
                );
                let line = self.header_line();
                self.anomaly(ReadCheck::MissingColumn, line, message);
            }
        }
    }
}

/// One data row.
pub(crate) struct Row {
    /// The sheet it is in, for locations.
    pub(crate) sheet: Arc<str>,
    /// The line the row starts on (the header is line 1).
    pub(crate) line: u64,
    /// The trimmed values, by column index.
    pub(crate) fields: Vec<String>,
}

impl Row {
    /// The trimmed value at `index` (empty when the row is short or the
    /// column absent).
    pub(crate) fn get(&self, index: Option<usize>) -> &str {
        index
            .and_then(|i| self.fields.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Where the row is, for rejects.
    pub(crate) fn at(&self) -> At<'_> {
        At {
            file: &self.sheet,
            line: self.line,
        }
    }
}

/// What the next row holds.
pub(crate) enum Line {
    /// A readable row.
    Row(Row),
    /// A row that could not be read.
    Bad {
        /// Its line.
        line: u64,
        /// The column at fault, when one is.
        column: Option<String>,
        /// Why.
        reason: String,
    },
    /// A row that is not data and is left out with a warning (a
    /// workbook's leftover example row).
    Skipped {
        /// Its line.
        line: u64,
        /// Why it is left out.
        reason: String,
    },
}

/// A mapping resolved against one sheet: each field the layout reads, the
/// column it is read from (as configured, for messages) and where that
/// column is in the header (`None`: an optional column the sheet lacks,
/// whose cells are empty).
pub(crate) struct Columns {
    fields: HashMap<&'static str, (String, Option<usize>)>,
    /// The first field asked for that the mapping does not name.
    unknown: RefCell<Option<String>>,
}

impl Columns {
    /// Resolves `mapping` (field → column) against `sheet`: the columns of
    /// `required` fields must be in its header; every mapped column is
    /// declared to the sheet ([`Sheet::map_columns`]).
    pub(crate) fn new(
        sheet: &mut dyn Sheet,
        mapping: &[(&'static str, &str)],
        required: &[&'static str],
    ) -> Result<Columns, SourceError> {
        let required_columns: Vec<&str> = mapping
            .iter()
            .filter(|(f, _)| required.contains(f))
            .map(|(_, c)| *c)
            .collect();
        sheet.require(&required_columns)?;
        let mapped: Vec<&str> = mapping.iter().map(|(_, c)| *c).collect();
        sheet.map_columns(&mapped);
        Ok(Columns {
            fields: mapping
                .iter()
                .map(|(f, c)| (*f, ((*c).to_string(), sheet.column(c))))
                .collect(),
            unknown: RefCell::new(None),
        })
    }

    /// A mapping where each field is read from the column of its own name
    /// (the template's sheets).
    pub(crate) fn named(
        sheet: &mut dyn Sheet,
        required: &[&'static str],
        optional: &[&'static str],
    ) -> Result<Columns, SourceError> {
        let mapping: Vec<(&'static str, &str)> =
            required.iter().chain(optional).map(|n| (*n, *n)).collect();
        Columns::new(sheet, &mapping, required)
    }

    /// The cell of `field` in `row`. A field the mapping does not name
    /// reads as empty here and fails the read at [`Self::check`],
    /// which the layout calls when the sheet is done.
    pub(crate) fn get<'r>(&self, row: &'r Row, field: &str) -> &'r str {
        match self.fields.get(field) {
            Some((_, index)) => row.get(*index),
            None => {
                self.unknown
                    .borrow_mut()
                    .get_or_insert_with(|| field.to_string());
                ""
            }
        }
    }

    /// Whether the mapping names `field` (a layout whose sheets differ
    /// asks before reading a column only some of them have).
    pub(crate) fn maps(&self, field: &str) -> bool {
        self.fields.contains_key(field)
    }

    /// The column `field` is read from, as configured.
    pub(crate) fn column_name<'a>(&'a self, field: &'a str) -> &'a str {
        self.fields.get(field).map_or(field, |(c, _)| c.as_str())
    }

    /// `Err` if a cell was asked for by a field the mapping does not name:
    /// the layout reads a column it never mapped, which must not pass as
    /// a column of empty values.
    pub(crate) fn check(&self, sheet: &dyn Sheet) -> Result<(), SourceError> {
        match self.unknown.borrow().as_deref() {
            None => Ok(()),
            Some(field) => Err(sheet.error(format!(
                "the layout reads `{field}`, which its column mapping does not name"
            ))),
        }
    }
}

/// The header's name for the layout's column `name`: the name `renames`
/// gives it (keys matched trimmed and case-insensitively), else `name`.
pub(crate) fn renamed<'a>(renames: &'a BTreeMap<String, String>, name: &'a str) -> &'a str {
    renames
        .iter()
        .find(|(from, _)| from.trim().to_lowercase() == name.trim().to_lowercase())
        .map_or(name, |(_, to)| to.trim())
}

/// A sheet whose header names some of the layout's columns differently
/// (the template layout's `[source.columns]`: `"E-postadress" = "E-post"`).
/// The layout asks for its own names and gets the header's renamed column,
/// or the column of the layout's name where a sheet kept it (the renaming
/// holds for every sheet, and not every sheet need have been renamed);
/// messages about a missing column name the header's name, as configured.
pub(crate) struct Renamed<'r> {
    sheet: Box<dyn Sheet + 'r>,
    renames: &'r BTreeMap<String, String>,
}

impl<'r> Renamed<'r> {
    pub(crate) fn new(sheet: Box<dyn Sheet + 'r>, renames: &'r BTreeMap<String, String>) -> Self {
        Renamed { sheet, renames }
    }

    /// The name the sheet's header has for the layout's `name`: the
    /// renamed one unless only the layout's own is there.
    fn in_sheet<'a>(&'a self, name: &'a str) -> &'a str {
        let to = renamed(self.renames, name);
        if self.sheet.column(to).is_none() && self.sheet.column(name).is_some() {
            name
        } else {
            to
        }
    }
}

impl Sheet for Renamed<'_> {
    fn name(&self) -> &str {
        self.sheet.name()
    }

    fn header(&self) -> &[String] {
        self.sheet.header()
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.sheet.column(self.in_sheet(name))
    }

    fn next_row(&mut self) -> Result<Option<Line>, SourceError> {
        self.sheet.next_row()
    }

    fn anomaly(&mut self, check: ReadCheck, line: u64, message: String) {
        self.sheet.anomaly(check, line, message);
    }

    fn shape(&self) -> InputShape {
        self.sheet.shape()
    }

    fn error(&self, message: String) -> SourceError {
        self.sheet.error(message)
    }

    fn map_columns(&mut self, names: &[&str]) {
        let names: Vec<String> = names.iter().map(|n| self.in_sheet(n).to_string()).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        self.sheet.map_columns(&names);
    }

    fn code_columns(&mut self, codes: &[(&str, &'static [usize])]) {
        let codes: Vec<(String, &'static [usize])> = codes
            .iter()
            .map(|(n, widths)| (self.in_sheet(n).to_string(), *widths))
            .collect();
        let codes: Vec<(&str, &'static [usize])> =
            codes.iter().map(|(n, w)| (n.as_str(), *w)).collect();
        self.sheet.code_columns(&codes);
    }

    fn header_line(&self) -> u64 {
        self.sheet.header_line()
    }

    fn require(&self, names: &[&str]) -> Result<Vec<usize>, SourceError> {
        let missing: Vec<&str> = names
            .iter()
            .filter(|n| self.column(n).is_none())
            .map(|n| renamed(self.renames, n))
            .collect();
        if !missing.is_empty() {
            // Neither name is there: the sheet's own check says so.
            self.sheet.require(&missing)?;
        }
        Ok(names.iter().filter_map(|n| self.column(n)).collect())
    }

    fn expect(&mut self, names: &[(&str, &str)]) {
        let missing: Vec<(String, &str)> = names
            .iter()
            .filter(|(n, _)| self.column(n).is_none())
            .map(|(n, why)| (renamed(self.renames, n).to_string(), *why))
            .collect();
        let missing: Vec<(&str, &str)> = missing.iter().map(|(n, w)| (n.as_str(), *w)).collect();
        self.sheet.expect(&missing);
    }
}

pub(crate) fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sheet in memory: what a workbook or a query would look like.
    struct Memory {
        header: Vec<String>,
        rows: std::vec::IntoIter<Vec<String>>,
        line: u64,
        anomalies: Vec<(ReadCheck, u64, String)>,
    }

    impl Memory {
        fn new(header: &[&str], rows: &[&[&str]]) -> Memory {
            Memory {
                header: header.iter().map(|h| h.to_string()).collect(),
                rows: rows
                    .iter()
                    .map(|r| r.iter().map(|c| c.to_string()).collect())
                    .collect::<Vec<_>>()
                    .into_iter(),
                line: 1,
                anomalies: Vec::new(),
            }
        }
    }

    impl Sheet for Memory {
        fn name(&self) -> &str {
            "Blad1"
        }
        fn header(&self) -> &[String] {
            &self.header
        }
        fn column(&self, name: &str) -> Option<usize> {
            self.header
                .iter()
                .position(|h| h.eq_ignore_ascii_case(name))
        }
        fn next_row(&mut self) -> Result<Option<Line>, SourceError> {
            self.line += 1;
            Ok(self.rows.next().map(|fields| {
                Line::Row(Row {
                    sheet: Arc::from("Blad1"),
                    line: self.line,
                    fields,
                })
            }))
        }
        fn anomaly(&mut self, check: ReadCheck, line: u64, message: String) {
            self.anomalies.push((check, line, message));
        }
        fn shape(&self) -> InputShape {
            InputShape {
                name: "Blad1".to_string(),
                columns: self.header.clone(),
                records: self.line - 1,
                bytes: 0,
                anomalies: Vec::new(),
            }
        }
        fn error(&self, message: String) -> SourceError {
            SourceError::Incomplete(format!("Blad1: {message}"))
        }
    }

    #[test]
    fn cells_by_field_with_locations_from_any_sheet() {
        let mut sheet = Memory::new(&["Id", "Namn"], &[&["1", "Anna"], &["2", "Bo"]]);
        let cols = Columns::new(&mut sheet, &[("id", "ID"), ("name", "Namn")], &["id"]).unwrap();
        let Some(Line::Row(row)) = sheet.next_row().unwrap() else {
            panic!("a row");
        };
        assert_eq!(cols.get(&row, "id"), "1");
        assert_eq!(cols.get(&row, "name"), "Anna");
        assert_eq!(cols.column_name("id"), "ID");
        let at = row.at();
        assert_eq!((at.file, at.line), ("Blad1", 2));
        assert!(cols.check(&sheet).is_ok());
    }

    #[test]
    fn a_field_the_mapping_does_not_name_is_an_error_not_an_empty_column() {
        let mut sheet = Memory::new(&["Id"], &[&["1"]]);
        let cols = Columns::named(&mut sheet, &["Id"], &[]).unwrap();
        let Some(Line::Row(row)) = sheet.next_row().unwrap() else {
            panic!("a row");
        };
        assert_eq!(cols.get(&row, "Klass"), "");
        let err = cols.check(&sheet).unwrap_err().to_string();
        assert!(err.contains("`Klass`") && err.contains("Blad1"), "{err}");
    }

    #[test]
    fn required_and_expected_columns() {
        let mut sheet = Memory::new(&["Id", "Namn"], &[]);
        let err = Columns::named(&mut sheet, &["Id", "Skolenhetskod"], &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("`Skolenhetskod`") && err.contains("`Id`, `Namn`"),
            "{err}"
        );
        sheet.expect(&[("Namn", "names"), ("Klass", "classes")]);
        assert_eq!(sheet.anomalies.len(), 1);
        assert_eq!(sheet.anomalies[0].0, ReadCheck::MissingColumn);
        assert!(sheet.anomalies[0].2.contains("`Klass`"));
    }

    #[test]
    fn a_renamed_column_reads_under_the_layouts_name_in_any_sheet() {
        let renames: BTreeMap<String, String> =
            [("e-postadress".to_string(), "E-post".to_string())].into();
        let renamed_sheet = Memory::new(&["Id", "E-post"], &[&["1", "a@x.se"]]);
        let mut sheet = Renamed::new(Box::new(renamed_sheet), &renames);
        let cols = Columns::named(&mut sheet, &["Id", "E-postadress"], &[]).unwrap();
        let Some(Line::Row(row)) = sheet.next_row().unwrap() else {
            panic!("a row");
        };
        assert_eq!(cols.get(&row, "E-postadress"), "a@x.se");
        // A sheet that kept the template's name reads it too.
        let kept = Memory::new(&["E-postadress"], &[]);
        let sheet = Renamed::new(Box::new(kept), &renames);
        assert_eq!(sheet.column("E-postadress"), Some(0));
        // Neither there: the message names the header's name, as configured.
        let neither = Memory::new(&["Id"], &[]);
        let sheet = Renamed::new(Box::new(neither), &renames);
        let err = sheet.require(&["E-postadress"]).unwrap_err().to_string();
        assert!(err.contains("`E-post`"), "{err}");
    }
}
