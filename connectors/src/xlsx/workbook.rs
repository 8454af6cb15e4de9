//! A workbook read with calamine, and each of its worksheets as a
//! [`Sheet`], so that the template and flat layouts read it as they read
//! CSV files.
//!
//! Hand-filled workbooks are not tidy tables, and the sheet hides that
//! from the layouts:
//! - the header row is found by name: the first row (of the first
//!   [`HEADER_SEARCH_ROWS`]) that holds the columns the layout requires;
//!   title rows above it (the template's merged titles) are ignored;
//! - cells come as Excel stores them and are turned into the text a CSV
//!   export would hold: strings trimmed, whole numbers without `.0` or an
//!   exponent, dates as `YYYY-MM-DD`, booleans as `TRUE`/`FALSE`; a code
//!   column ([`Sheet::code_columns`]) gets the leading zeros a number lost
//!   back, and a number too long for it rejects the row;
//! - an error cell (`#N/A`, `#REF!`) rejects its row, naming the column
//!   and the error;
//! - empty rows (in the middle too) are skipped; the template's leftover
//!   example row (first cell starting with [`EXAMPLE_MARKER`]) is left out
//!   with a warning;
//! - a value under no header rejects its row, as in a CSV file.
//!
//! Locations are `<sheet>:<row>` with Excel's row numbers, as the user
//! sees them (`Elevinskrivningar:14`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use calamine::{Data, Range, Reader, Sheets, open_workbook_auto};
use skolsync_model::template::EXAMPLE_MARKER;

use crate::csv::lines::regular_file;
use crate::csv::sheet::{Line, Row, Sheet, quoted};
use crate::error::SourceError;
use crate::shape::{InputShape, ReadAnomaly, ReadCheck};

/// How many rows from the top the header row may be on.
pub(crate) const HEADER_SEARCH_ROWS: u32 = 20;

/// The first bytes of an OLE compound file: an old `.xls`, or an
/// encrypted (password-protected) `.xlsx`.
const COMPOUND_FILE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// An open workbook.
pub(crate) struct Workbook {
    path: PathBuf,
    book: Sheets<BufReader<File>>,
}

impl Workbook {
    /// Opens the workbook at `path` (a regular file only); a file that is
    /// not a readable workbook is an error naming it and saying why.
    pub(crate) fn open(path: &Path) -> Result<Workbook, SourceError> {
        regular_file(path)?;
        let book = open_workbook_auto(path).map_err(|err| SourceError::File {
            path: path.to_path_buf(),
            message: unreadable(path, &err),
        })?;
        Ok(Workbook {
            path: path.to_path_buf(),
            book,
        })
    }

    /// The workbook's sheets, in its order (hidden ones too).
    pub(crate) fn sheet_names(&self) -> Vec<String> {
        self.book.sheet_names()
    }

    /// The name of the sheet `wanted` in the workbook: the same name, or
    /// the same trimmed and case-insensitively (Excel keeps sheet names
    /// unique regardless of case).
    pub(crate) fn find(&self, wanted: &str) -> Option<String> {
        let names = self.sheet_names();
        if let Some(exact) = names.iter().find(|n| *n == wanted) {
            return Some(exact.clone());
        }
        let key = wanted.trim().to_lowercase();
        names.into_iter().find(|n| n.trim().to_lowercase() == key)
    }

    /// An error about the workbook as a whole.
    pub(crate) fn error(&self, message: String) -> SourceError {
        SourceError::File {
            path: self.path.clone(),
            message,
        }
    }

    /// The sheets it has, quoted, for messages.
    pub(crate) fn quoted_names(&self) -> String {
        let names = self.sheet_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        quoted(&names)
    }

    /// The sheet `name` (as [`Self::find`] gave it), its header the first
    /// row that holds the columns `required`.
    pub(crate) fn sheet(
        &mut self,
        name: &str,
        required: &[&str],
    ) -> Result<WorkSheet, SourceError> {
        let range = self
            .book
            .worksheet_range(name)
            .map_err(|err| self.error(format!("cannot read the sheet `{name}`: {err}")))?;
        WorkSheet::new(&self.path, name, range, required)
    }
}

/// Why a workbook cannot be opened, for a person.
fn unreadable(path: &Path, err: &calamine::Error) -> String {
    let password = matches!(
        err,
        calamine::Error::Xls(calamine::XlsError::Password)
            | calamine::Error::Ods(calamine::OdsError::Password)
    );
    let mut magic = [0u8; 8];
    let compound = File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == COMPOUND_FILE_MAGIC;
    let xls = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xls"));
    if password || (compound && !xls) {
        "the workbook is password-protected (encrypted), or an old binary .xls under another \
         name; remove the password in Excel (or save it as .xlsx) and read it again"
            .to_string()
    } else {
        format!(
            "not a readable workbook ({err}); is it an Excel file (.xlsx), and whole (not cut \
             off while copying)?"
        )
    }
}

/// One worksheet, read row by row below its header.
pub(crate) struct WorkSheet {
    /// The workbook, for errors.
    workbook: PathBuf,
    /// The sheet's name, for locations.
    name: Arc<str>,
    range: Range<Data>,
    /// The range's first row and column (0-based, absolute).
    origin: (u32, u32),
    /// The header row, relative to the range.
    header_row: usize,
    /// The next row to read, relative to the range.
    next: usize,
    header: Vec<String>,
    columns: HashMap<String, usize>,
    /// Code columns by index, with the digits they may have.
    codes: HashMap<usize, &'static [usize]>,
    records: u64,
    anomalies: Vec<ReadAnomaly>,
}

impl WorkSheet {
    fn new(
        workbook: &Path,
        name: &str,
        range: Range<Data>,
        required: &[&str],
    ) -> Result<WorkSheet, SourceError> {
        let Some(origin) = range.start() else {
            return Err(SourceError::File {
                path: workbook.to_path_buf(),
                message: format!("sheet `{name}`: the sheet is empty (no header row)"),
            });
        };
        let header_row = find_header(&range, origin.0, required);
        let mut header: Vec<String> = cells(&range, header_row)
            .unwrap_or_default()
            .into_iter()
            .map(|cell| cell_text(cell, None).unwrap_or_default())
            .collect();
        let width = header
            .iter()
            .rposition(|h| !h.is_empty())
            .map_or(0, |i| i + 1);
        header.truncate(width);
        let mut columns = HashMap::new();
        for (i, h) in header.iter().enumerate() {
            if !h.is_empty() {
                columns.entry(h.to_lowercase()).or_insert(i);
            }
        }
        Ok(WorkSheet {
            workbook: workbook.to_path_buf(),
            name: Arc::from(name),
            range,
            origin,
            header_row,
            next: header_row + 1,
            header,
            columns,
            codes: HashMap::new(),
            records: 0,
            anomalies: Vec::new(),
        })
    }

    /// Excel's number (1-based) of the range's row `index`.
    fn excel_row(&self, index: usize) -> u64 {
        u64::from(self.origin.0) + index as u64 + 1
    }

    /// The next row that is not empty, as a row, a bad row or a skipped
    /// example row.
    fn next_line(&mut self) -> Option<Line> {
        loop {
            let index = self.next;
            let row = cells(&self.range, index)?;
            self.next += 1;
            let line = self.excel_row(index);
            let texts: Vec<Result<String, String>> = row
                .into_iter()
                .enumerate()
                .map(|(i, cell)| cell_text(cell, self.codes.get(&i).copied()))
                .collect();
            if texts.iter().all(|t| t.as_ref().is_ok_and(String::is_empty)) {
                continue;
            }
            if let Some(Ok(first)) = texts
                .iter()
                .find(|t| t.as_ref().map_or(true, |t| !t.is_empty()))
                && first
                    .to_lowercase()
                    .starts_with(&EXAMPLE_MARKER.to_lowercase())
            {
                return Some(Line::Skipped {
                    line,
                    reason: format!(
                        "the template's example row (its first cell begins with `{EXAMPLE_MARKER}`) \
                         is left out; delete it from the sheet"
                    ),
                });
            }
            self.records += 1;
            return Some(self.row(line, texts));
        }
    }

    /// A non-empty row's cells as a row, or why it is bad.
    fn row(&self, line: u64, texts: Vec<Result<String, String>>) -> Line {
        let mut fields = Vec::with_capacity(self.header.len());
        for (i, text) in texts.into_iter().enumerate() {
            let column = self.header.get(i).filter(|h| !h.is_empty());
            let letter = column_letter(self.origin.1 + i as u32);
            match (text, column) {
                (Err(reason), Some(column)) => {
                    return Line::Bad {
                        line,
                        column: Some(column.clone()),
                        reason: format!("`{column}` (column {letter}): {reason}"),
                    };
                }
                (Err(reason), None) => {
                    return Line::Bad {
                        line,
                        column: None,
                        reason: format!("column {letter}: {reason}"),
                    };
                }
                (Ok(text), None) if !text.is_empty() => {
                    return Line::Bad {
                        line,
                        column: None,
                        reason: format!(
                            "the row has a value in column {letter}, under no header (the header \
                             is row {}); is the row shifted?",
                            self.header_line()
                        ),
                    };
                }
                (Ok(text), _) => fields.push(text),
            }
        }
        Line::Row(Row {
            sheet: Arc::clone(&self.name),
            line,
            fields,
        })
    }
}

/// The cells of the range's row `index` (relative); `None` past its end.
fn cells(range: &Range<Data>, index: usize) -> Option<Vec<&Data>> {
    if index >= range.height() {
        return None;
    }
    (0..range.width())
        .map(|col| range.get((index, col)))
        .collect()
}

/// The header row (relative to the range): the first of the sheet's top
/// rows holding every `required` column; failing that the one holding most
/// of them, or the first row, so that the layout's check names what is
/// missing and what the header has.
fn find_header(range: &Range<Data>, first_row: u32, required: &[&str]) -> usize {
    let wanted: Vec<String> = required.iter().map(|r| r.trim().to_lowercase()).collect();
    let searched = HEADER_SEARCH_ROWS.saturating_sub(first_row) as usize;
    let mut best = (0usize, 0usize);
    for (i, row) in range.rows().take(searched).enumerate() {
        let names: Vec<String> = row
            .iter()
            .map(|cell| cell_text(cell, None).unwrap_or_default().to_lowercase())
            .collect();
        let found = wanted.iter().filter(|w| names.contains(w)).count();
        if found == wanted.len() {
            return i;
        }
        if found > best.1 {
            best = (i, found);
        }
    }
    best.0
}

/// A cell as text: what a CSV export of it would hold. `digits`: the
/// widths of a code column, whose numbers get their leading zeros back.
/// `Err` says why the cell cannot be used.
fn cell_text(cell: &Data, digits: Option<&[usize]>) -> Result<String, String> {
    match cell {
        Data::Empty => Ok(String::new()),
        Data::String(s) => Ok(s.trim().to_string()),
        Data::Bool(b) => Ok(if *b { "TRUE" } else { "FALSE" }.to_string()),
        Data::Int(i) => number(i.to_string(), digits),
        Data::Float(f) => float(*f, digits),
        Data::DateTime(dt) if dt.is_datetime() => dt
            .as_datetime()
            .map(|d| d.date().format("%Y-%m-%d").to_string())
            .ok_or_else(|| "the date is out of range".to_string()),
        Data::DateTime(dt) => float(dt.as_f64(), digits),
        Data::DateTimeIso(s) => Ok(s
            .get(..10)
            .filter(|d| d.len() == 10 && s.len() > 10)
            .unwrap_or(s)
            .to_string()),
        Data::DurationIso(s) => Ok(s.clone()),
        Data::Error(e) => Err(format!("the cell holds the error `{e}`")),
    }
}

/// A number cell's value: whole numbers without `.0` or an exponent.
fn float(f: f64, digits: Option<&[usize]>) -> Result<String, String> {
    if f.is_finite() && f.fract() == 0.0 {
        // `{:.0}` writes every digit of a whole number, never an exponent.
        let whole = if f == 0.0 {
            "0".to_string()
        } else {
            format!("{f:.0}")
        };
        return number(whole, digits);
    }
    if digits.is_some() {
        return Err("a code must be a whole number, or text".to_string());
    }
    Ok(f.to_string())
}

/// A whole number; in a code column, padded with the leading zeros a
/// number cell dropped to the shortest width it may have. Never cut: a
/// number too long for the column is an error (it names only the length,
/// since it may be a personnummer).
fn number(whole: String, digits: Option<&[usize]>) -> Result<String, String> {
    let Some(widths) = digits else {
        return Ok(whole);
    };
    if whole.starts_with('-') {
        return Err("a code cannot be a negative number".to_string());
    }
    match widths.iter().find(|w| **w >= whole.len()) {
        Some(&width) => Ok(format!("{whole:0>width$}")),
        None => {
            let allowed: Vec<String> = widths.iter().map(ToString::to_string).collect();
            Err(format!(
                "a number of {} digits, longer than the {} digits the column holds",
                whole.len(),
                allowed.join(" or ")
            ))
        }
    }
}

/// Excel's letter of the 0-based column `index` (`A`, …, `Z`, `AA`, …).
fn column_letter(index: u32) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

impl Sheet for WorkSheet {
    fn name(&self) -> &str {
        &self.name
    }

    fn header(&self) -> &[String] {
        &self.header
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(&name.trim().to_lowercase()).copied()
    }

    fn next_row(&mut self) -> Result<Option<Line>, SourceError> {
        Ok(self.next_line())
    }

    fn anomaly(&mut self, check: ReadCheck, line: u64, message: String) {
        self.anomalies.push(ReadAnomaly {
            check,
            location: format!("{}:{line}", self.name),
            message,
        });
    }

    /// A worksheet has no size of its own: `bytes` is 0.
    fn shape(&self) -> InputShape {
        InputShape {
            name: self.name.to_string(),
            columns: self.header.clone(),
            records: self.records,
            bytes: 0,
            anomalies: self.anomalies.clone(),
        }
    }

    fn error(&self, message: String) -> SourceError {
        SourceError::File {
            path: self.workbook.clone(),
            message: format!(
                "sheet `{}` (header on row {}): {message}",
                self.name,
                self.header_line()
            ),
        }
    }

    fn code_columns(&mut self, codes: &[(&str, &'static [usize])]) {
        for (name, widths) in codes {
            if let Some(i) = self.column(name) {
                self.codes.insert(i, widths);
            }
        }
    }

    fn header_line(&self) -> u64 {
        self.excel_row(self.header_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_the_text_a_user_typed() {
        assert_eq!(float(20050101.0, None).unwrap(), "20050101");
        assert_eq!(float(1.2345e11, None).unwrap(), "123450000000");
        assert_eq!(float(6.5, None).unwrap(), "6.5");
        assert_eq!(float(-0.0, None).unwrap(), "0");
        assert_eq!(cell_text(&Data::Int(6), None).unwrap(), "6");
        assert_eq!(
            cell_text(&Data::String("  Anna ".into()), None).unwrap(),
            "Anna"
        );
        assert_eq!(cell_text(&Data::Bool(true), None).unwrap(), "TRUE");
        assert_eq!(
            cell_text(&Data::DateTimeIso("2025-08-18T00:00:00".into()), None).unwrap(),
            "2025-08-18"
        );
        let err = cell_text(&Data::Error(calamine::CellErrorType::NA), None).unwrap_err();
        assert!(err.contains("#N/A"), "{err}");
    }

    #[test]
    fn codes_get_their_leading_zeros_back_and_are_never_cut() {
        let unit: &[usize] = &[8];
        let civic: &[usize] = &[10, 12];
        assert_eq!(float(1279295.0, Some(unit)).unwrap(), "01279295");
        assert_eq!(float(901272385.0, Some(civic)).unwrap(), "0901272385");
        assert_eq!(float(200901272385.0, Some(civic)).unwrap(), "200901272385");
        assert_eq!(number("12345".into(), Some(unit)).unwrap(), "00012345");
        let err = float(123456789.0, Some(unit)).unwrap_err();
        assert!(err.contains("9 digits") && err.contains('8'), "{err}");
        assert!(!err.contains("123456789"), "the value stays out: {err}");
        assert!(float(-5.0, Some(unit)).is_err());
        assert!(float(1.5, Some(unit)).is_err());
    }

    #[test]
    fn column_letters_are_excels() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn the_header_is_the_first_top_row_with_the_required_columns() {
        let mut range: Range<Data> = Range::new((0, 0), (4, 2));
        range.set_value((0, 0), Data::String("Elevinskrivningar".into()));
        range.set_value((2, 0), Data::String("Person-ID".into()));
        range.set_value((2, 1), Data::String(" Personnummer ".into()));
        range.set_value((3, 0), Data::String("p1".into()));
        assert_eq!(find_header(&range, 0, &["Person-ID", "personnummer"]), 2);
        // None holds all: the row holding most, for the layout's message.
        assert_eq!(find_header(&range, 0, &["Person-ID", "Skolform"]), 2);
        assert_eq!(find_header(&range, 0, &["Skolform"]), 0);
    }
}
