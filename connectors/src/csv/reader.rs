//! Reading one CSV file the way real exports come, without being fooled by
//! them: UTF-8 with or without BOM or Windows-1252 (see [`super::lines`]),
//! `;`, `,` or tab (detected from the header line), CRLF, quoted fields,
//! empty trailing columns, blank rows.
//!
//! What a broken export looks like is reported, never read as data:
//! - a quote that does not close on its line in a column the pipeline maps
//!   (names, codes, class names cannot hold a line break), or that runs past
//!   [`MAX_QUOTED`] characters anywhere, is a *runaway quote*: its row is
//!   bad, a [`ReadCheck::RunawayQuote`] names the line where the quote
//!   opened, and the lines after it are read as the rows they are;
//! - a last row with fewer fields than the header and no line end is a
//!   cut-off file ([`ReadCheck::Truncated`]);
//! - a byte that is not text in the file's encoding makes its row bad and
//!   is a [`ReadCheck::Encoding`] naming line and byte offset;
//! - a column the layout maps but the header lacks is a
//!   [`ReadCheck::MissingColumn`] (see [`Sheet::expect`]).
//!
//! Rows come one at a time with the line they start on; a row that cannot
//! be read comes as a [`Line::Bad`] so the caller can reject it and go on.
//! When the file is done, [`Sheet::shape`] describes it. A [`CsvFile`] is
//! a [`Sheet`]: the layouts read it through that seam only.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{CsvDelimiter, CsvEncoding};
use super::lines::{self, Lines, TextLine, file_error};
use super::sheet::{Line, Row, Sheet};
use crate::error::SourceError;
use crate::shape::{InputShape, ReadAnomaly, ReadCheck};

/// Longest quoted value, in characters, before it counts as a quote that
/// swallows what follows.
pub(crate) const MAX_QUOTED: usize = 1000;
/// Anomalies of one check kept per file; more are counted in the last one.
const MAX_ANOMALIES_PER_CHECK: usize = 10;

/// An open CSV file with its header.
pub(crate) struct CsvFile {
    path: PathBuf,
    /// The file name, for locations (`Elevinskrivningar.csv:17`).
    name: Arc<str>,
    lines: Lines,
    /// Lines taken back after a runaway quote, to be read again as rows.
    pending: VecDeque<TextLine>,
    header: Vec<String>,
    columns: HashMap<String, usize>,
    /// Columns the layout maps; a line break inside a quoted value is
    /// allowed only outside them. `None`: every column is mapped.
    mapped: Option<HashSet<usize>>,
    delimiter: char,
    bytes: u64,
    records: u64,
    anomalies: Vec<ReadAnomaly>,
    /// Anomalies per check beyond [`MAX_ANOMALIES_PER_CHECK`].
    more: HashMap<ReadCheck, u64>,
}

/// Normalised header name: trimmed, lower case.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A record as split from one or more lines.
struct Record {
    line: u64,
    fields: Vec<String>,
    /// Whether the record's last line had a line end.
    ended: bool,
    /// The first undecodable byte: (line, byte in line, file offset, byte).
    bad_byte: Option<(u64, usize, u64, u8)>,
}

/// Why a record could not be split.
struct Runaway {
    line: u64,
    quote_line: u64,
    column: usize,
    too_long: bool,
}

impl CsvFile {
    /// Opens `path` (a regular file only), detecting what
    /// `encoding`/`delimiter` leave to `auto`, and reads the header.
    pub(crate) fn open(
        path: &Path,
        encoding: CsvEncoding,
        delimiter: CsvDelimiter,
    ) -> Result<CsvFile, SourceError> {
        let bytes = lines::regular_file(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let windows_1252 = lines::decide(path, &name, encoding)?;
        let delimiter = match delimiter {
            CsvDelimiter::Semicolon => ';',
            CsvDelimiter::Comma => ',',
            CsvDelimiter::Tab => '\t',
            CsvDelimiter::Auto => lines::sniff_delimiter(path)?,
        };
        let mut file = CsvFile {
            path: path.to_path_buf(),
            name: Arc::from(name.as_str()),
            lines: Lines::open(path, windows_1252)?,
            pending: VecDeque::new(),
            header: Vec::new(),
            columns: HashMap::new(),
            mapped: None,
            delimiter,
            bytes,
            records: 0,
            anomalies: Vec::new(),
            more: HashMap::new(),
        };
        let header = match file.record()? {
            None => {
                return Err(SourceError::CsvFile {
                    path: path.to_path_buf(),
                    message: "the file is empty (no header line)".to_string(),
                });
            }
            Some(Err(runaway)) => {
                return Err(SourceError::CsvFile {
                    path: path.to_path_buf(),
                    message: format!(
                        "unterminated quote from line {} in the header",
                        runaway.quote_line
                    ),
                });
            }
            Some(Ok(record)) => record,
        };
        if let Some((line, at, offset, byte)) = header.bad_byte {
            file.note(
                ReadCheck::Encoding,
                line,
                format!(
                    "byte 0x{byte:02X} at byte {} of the header line (offset {offset}) is not text in the file's encoding",
                    at + 1
                ),
            );
        }
        file.header = header.fields.iter().map(|f| f.trim().to_string()).collect();
        for (i, name) in file.header.iter().enumerate() {
            if !name.is_empty() {
                file.columns.entry(key(name)).or_insert(i);
            }
        }
        Ok(file)
    }

    /// Records an anomaly at `line`.
    fn note(&mut self, check: ReadCheck, line: u64, message: String) {
        let kept = self.anomalies.iter().filter(|a| a.check == check).count();
        if kept >= MAX_ANOMALIES_PER_CHECK {
            *self.more.entry(check).or_default() += 1;
            return;
        }
        self.anomalies.push(ReadAnomaly {
            check,
            location: format!("{}:{line}", self.name),
            message,
        });
    }

    fn take_line(&mut self) -> Result<Option<TextLine>, SourceError> {
        if let Some(line) = self.pending.pop_front() {
            return Ok(Some(line));
        }
        self.lines
            .next_line()
            .map_err(|e| file_error(&self.path, e))
    }

    /// Whether `text` has as many fields as the header names (a row of
    /// its own, not the continuation of a value).
    fn looks_like_a_row(&self, text: &str) -> bool {
        let width = self.header.iter().filter(|h| !h.is_empty()).count();
        width > 1 && text.matches(self.delimiter).count() + 1 >= width
    }

    fn line_breaks_allowed(&self, column: usize) -> bool {
        self.mapped.as_ref().is_some_and(|m| !m.contains(&column))
    }

    /// Splits the next record off the lines; `Err` for a runaway quote
    /// (the lines after the one it opened on are put back).
    fn record(&mut self) -> Result<Option<Result<Record, Runaway>>, SourceError> {
        let Some(first) = self.take_line()? else {
            return Ok(None);
        };
        let delimiter = self.delimiter;
        let mut record = Record {
            line: first.no,
            fields: Vec::new(),
            ended: first.ended,
            bad_byte: None,
        };
        let mut taken: Vec<TextLine> = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut at_start = true;
        let mut quote_line = first.no;
        let mut quoted_len = 0usize;
        let mut current = first;
        loop {
            if record.bad_byte.is_none()
                && let Some((at, offset, byte)) = current.bad_byte
            {
                record.bad_byte = Some((current.no, at, offset, byte));
            }
            let mut too_long = false;
            let mut chars = current.text.chars().peekable();
            while let Some(c) = chars.next() {
                if quoted {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            field.push('"');
                        } else {
                            quoted = false;
                        }
                    } else {
                        field.push(c);
                        quoted_len += 1;
                        if quoted_len > MAX_QUOTED {
                            too_long = true;
                            break;
                        }
                    }
                } else if c == delimiter {
                    record.fields.push(std::mem::take(&mut field));
                    at_start = true;
                } else if c == '"' && at_start && field.trim().is_empty() {
                    field.clear();
                    quoted = true;
                    quote_line = current.no;
                    quoted_len = 0;
                    at_start = false;
                } else {
                    field.push(c);
                    if !c.is_whitespace() {
                        at_start = false;
                    }
                }
            }
            if too_long {
                let runaway = Runaway {
                    line: record.line,
                    quote_line,
                    column: record.fields.len(),
                    too_long: true,
                };
                return Ok(Some(Err(self.put_back(runaway, taken, Some(current)))));
            }
            if !quoted {
                record.fields.push(field);
                record.ended = current.ended;
                return Ok(Some(Ok(record)));
            }
            // A quoted value runs over the line end.
            let column = record.fields.len();
            let next = if current.ended && self.line_breaks_allowed(column) {
                self.take_line()?
            } else {
                None
            };
            let Some(next) = next else {
                let runaway = Runaway {
                    line: record.line,
                    quote_line,
                    column,
                    too_long: false,
                };
                return Ok(Some(Err(self.put_back(runaway, taken, Some(current)))));
            };
            if self.looks_like_a_row(&next.text) {
                // Even where a line break may belong, a value does not
                // hold a whole row of the file: the quote is swallowing it.
                let runaway = Runaway {
                    line: record.line,
                    quote_line,
                    column,
                    too_long: false,
                };
                taken.push(current);
                taken.push(next);
                return Ok(Some(Err(self.put_back(runaway, taken, None))));
            }
            field.push('\n');
            quoted_len += 1;
            taken.push(current);
            current = next;
        }
    }

    /// Puts the lines after the quote's line back to be read as rows.
    fn put_back(
        &mut self,
        runaway: Runaway,
        taken: Vec<TextLine>,
        current: Option<TextLine>,
    ) -> Runaway {
        let mut back: Vec<TextLine> = taken
            .into_iter()
            .chain(current)
            .filter(|l| l.no > runaway.quote_line)
            .collect();
        while let Some(line) = back.pop() {
            self.pending.push_front(line);
        }
        runaway
    }

    /// The next non-blank row, `None` at the end; `Err` if the file cannot be read on.
    fn next_line(&mut self) -> Result<Option<Line>, SourceError> {
        loop {
            let record = match self.record()? {
                None => return Ok(None),
                Some(Ok(record)) => record,
                Some(Err(r)) => {
                    self.records += 1;
                    let column = self.header.get(r.column).filter(|h| !h.is_empty()).cloned();
                    let what = column
                        .as_deref()
                        .map(|c| format!("in column `{c}`"))
                        .unwrap_or_else(|| format!("in column {}", r.column + 1));
                    let how = if r.too_long {
                        format!("the quoted value runs past {MAX_QUOTED} characters")
                    } else {
                        "the quote does not close on its line, and a line break cannot belong \
                         there (a column the pipeline maps, or before a whole row)"
                            .to_string()
                    };
                    let reason = format!(
                        "unterminated quote from line {} ({what}): {how}; a stray `\"` would \
                         swallow the rows after it, so this row is left out and the next lines \
                         are read as rows",
                        r.quote_line
                    );
                    self.note(ReadCheck::RunawayQuote, r.quote_line, reason.clone());
                    return Ok(Some(Line::Bad {
                        line: r.line,
                        column,
                        reason,
                    }));
                }
            };
            if record.fields.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            self.records += 1;
            return Ok(Some(self.check(record)));
        }
    }

    /// Turns a split record into a row, or a bad line.
    fn check(&mut self, record: Record) -> Line {
        let line = record.line;
        if let Some((at_line, at, offset, byte)) = record.bad_byte {
            let reason = format!(
                "byte 0x{byte:02X} at byte {} of line {at_line} (file offset {offset}) is not \
                 valid UTF-8; the rest of the file is UTF-8, so it was not re-read as \
                 Windows-1252 — fix the value, or set encoding = \"windows-1252\" if the whole \
                 file is",
                at + 1
            );
            self.note(ReadCheck::Encoding, at_line, reason.clone());
            return Line::Bad {
                line,
                column: None,
                reason,
            };
        }
        let width = self
            .header
            .iter()
            .rposition(|h| !h.is_empty())
            .map_or(0, |i| i + 1);
        if !record.ended && record.fields.len() < width {
            let reason = format!(
                "the last row has {} of the header's {width} fields and no line end: the file \
                 looks cut off",
                record.fields.len()
            );
            self.note(ReadCheck::Truncated, line, reason.clone());
            return Line::Bad {
                line,
                column: None,
                reason,
            };
        }
        let mut fields = Vec::with_capacity(self.header.len());
        for (i, raw) in record.fields.into_iter().enumerate() {
            let text = raw.trim();
            let named = self.header.get(i).is_some_and(|h| !h.is_empty());
            if !named {
                if !text.is_empty() {
                    return Line::Bad {
                        line,
                        column: None,
                        reason: format!(
                            "the row has a value in column {} but the header names only {} \
                             column(s); is a `{}` inside a value unquoted?",
                            i + 1,
                            self.header.iter().filter(|h| !h.is_empty()).count(),
                            self.delimiter
                        ),
                    };
                }
                // Empty trailing columns of spreadsheet exports.
                fields.push(String::new());
                continue;
            }
            let trimmed = (text.len() != raw.len()).then(|| text.to_string());
            fields.push(trimmed.unwrap_or(raw));
        }
        Line::Row(Row {
            sheet: Arc::clone(&self.name),
            line,
            fields,
        })
    }
}

impl Sheet for CsvFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn header(&self) -> &[String] {
        &self.header
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(&key(name)).copied()
    }

    fn next_row(&mut self) -> Result<Option<Line>, SourceError> {
        self.next_line()
    }

    fn anomaly(&mut self, check: ReadCheck, line: u64, message: String) {
        self.note(check, line, message);
    }

    fn shape(&self) -> InputShape {
        let mut anomalies = self.anomalies.clone();
        let mut more: Vec<(&ReadCheck, &u64)> = self.more.iter().collect();
        more.sort();
        for (check, n) in more {
            anomalies.push(ReadAnomaly {
                check: *check,
                location: self.name.to_string(),
                message: format!("{n} more like the above in this file"),
            });
        }
        InputShape {
            name: self.name.to_string(),
            columns: self.header.clone(),
            records: self.records,
            bytes: self.bytes,
            anomalies,
        }
    }

    fn error(&self, message: String) -> SourceError {
        SourceError::CsvFile {
            path: self.path.clone(),
            message,
        }
    }

    /// A quoted value may run over a line end only outside these columns.
    fn map_columns(&mut self, names: &[&str]) {
        let mapped = names.iter().filter_map(|n| self.column(n)).collect();
        self.mapped = Some(mapped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn rows(file: &mut CsvFile) -> Vec<(u64, Vec<String>)> {
        let mut out = Vec::new();
        while let Some(line) = file.next_line().unwrap() {
            match line {
                Line::Row(r) => out.push((r.line, r.fields)),
                Line::Bad { line, reason, .. } => out.push((line, vec![format!("BAD {reason}")])),
                Line::Skipped { line, reason } => out.push((line, vec![format!("SKIP {reason}")])),
            }
        }
        out
    }

    #[test]
    fn windows_1252_is_detected_and_transcoded() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "w.csv", b"Namn;Ort\r\n\xC5sa;G\xF6teborg\r\n");
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        assert_eq!(
            rows(&mut f),
            vec![(2, vec!["Åsa".into(), "Göteborg".into()])]
        );
        assert!(f.shape().anomalies.is_empty());
        // Declared UTF-8, the same bytes make a bad row and an anomaly.
        let mut f = CsvFile::open(&path, CsvEncoding::Utf8, CsvDelimiter::Auto).unwrap();
        let got = rows(&mut f);
        assert!(got[0].1[0].contains("0xC5"), "{got:?}");
        let shape = f.shape();
        assert_eq!(shape.anomalies[0].check, ReadCheck::Encoding);
        assert_eq!(shape.anomalies[0].location, "w.csv:2");
    }

    #[test]
    fn bom_comma_quotes_trailing_columns_and_blank_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "u.csv",
            "\u{feff}Id,Namn,,\n1,\"Anna \"\"A\"\"\",,\n,,,\n2,\"Ö, Å\",,\n3,x,,extra\n".as_bytes(),
        );
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        assert_eq!(f.column("id"), Some(0));
        let got = rows(&mut f);
        assert_eq!(
            got[0],
            (
                2,
                vec!["1".into(), "Anna \"A\"".into(), "".into(), "".into()]
            )
        );
        assert_eq!(got[1].0, 4);
        assert_eq!(got[1].1[1], "Ö, Å");
        assert_eq!(got[2].0, 5);
        assert!(got[2].1[0].starts_with("BAD"), "{:?}", got[2]);
        let shape = f.shape();
        assert_eq!(shape.records, 3);
        assert_eq!(shape.columns, ["Id", "Namn", "", ""]);
    }

    #[test]
    fn line_breaks_are_allowed_only_in_unmapped_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "m.csv",
            b"Id;Namn;Note\n1;A;\"two\nlines\"\n2;\"B\n3;C;x\n",
        );
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        f.map_columns(&["Id", "Namn"]);
        let got = rows(&mut f);
        assert_eq!(
            got[0],
            (2, vec!["1".into(), "A".into(), "two\nlines".into()])
        );
        assert_eq!(got[1].0, 4);
        assert!(
            got[1].1[0].contains("unterminated quote from line 4"),
            "{got:?}"
        );
        assert_eq!(got[2], (5, vec!["3".into(), "C".into(), "x".into()]));
        let shape = f.shape();
        assert_eq!(shape.anomalies.len(), 1);
        assert_eq!(shape.anomalies[0].check, ReadCheck::RunawayQuote);
        assert_eq!(shape.anomalies[0].location, "m.csv:4");
    }

    #[test]
    fn a_quote_in_a_free_text_column_does_not_swallow_whole_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "n.csv",
            b"Id;Namn;Note\n1;A;\"stray\n2;B;x\n3;C;\"y\n",
        );
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        f.map_columns(&["Id", "Namn"]);
        let got = rows(&mut f);
        assert!(got[0].1[0].contains("from line 2"), "{got:?}");
        assert_eq!(got[1], (3, vec!["2".into(), "B".into(), "x".into()]));
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(f.shape().anomalies.len(), 2);
    }

    #[test]
    fn a_cut_off_last_row_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "t.csv", b"a;b;c\n1;2;3\n4;5");
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        let got = rows(&mut f);
        assert_eq!(got.len(), 2);
        assert!(got[1].1[0].contains("cut off"), "{got:?}");
        let a = &f.shape().anomalies;
        assert_eq!(
            (a[0].check, a[0].location.as_str()),
            (ReadCheck::Truncated, "t.csv:3")
        );
        // A complete last row without a line end is fine.
        let path = write(dir.path(), "ok.csv", b"a;b;c\n1;2;3");
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        assert_eq!(rows(&mut f).len(), 1);
        assert!(f.shape().anomalies.is_empty());
    }

    #[test]
    fn missing_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "h.csv", b"Klass-ID;Klass\n");
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        let err = f
            .require(&["Klass-ID", "Skolenhetskod"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`Skolenhetskod`") && err.contains("h.csv"),
            "{err}"
        );
        f.expect(&[("Klass", "names"), ("Ämnesgrupper", "memberships")]);
        let a = &f.shape().anomalies;
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].check, ReadCheck::MissingColumn);
        assert!(a[0].message.contains("`Ämnesgrupper`"), "{}", a[0].message);
    }
}
