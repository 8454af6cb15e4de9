//! Reading one CSV file the way real exports come: UTF-8 with or without
//! BOM or Windows-1252 (detected by checking the whole file for valid
//! UTF-8, in chunks, or as configured), `;`, `,` or tab (detected from the
//! header line), CRLF, quoted fields with newlines, empty trailing columns,
//! blank rows. Rows come one at a time with the line they start on; a row
//! that cannot be read (a field that is not text in the encoding, more
//! values than the header has columns) comes as a [`Line::Bad`] so the
//! caller can reject it and go on.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use encoding_rs::{Decoder, WINDOWS_1252};

use super::config::{CsvDelimiter, CsvEncoding};
use crate::error::SourceError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Bytes read at a time when scanning and decoding.
const CHUNK: usize = 1 << 16;

/// An open CSV file with its header.
pub(crate) struct CsvFile {
    path: PathBuf,
    /// The file name, for reject locations (`Elevinskrivningar.csv:17`).
    name: String,
    reader: csv::Reader<LineCounter<Decode<BufReader<File>>>>,
    newlines: Newlines,
    /// Newlines before the current record.
    lines_before: u64,
    header: Vec<String>,
    columns: HashMap<String, usize>,
    record: csv::ByteRecord,
    delimiter: u8,
}

/// One data row.
pub(crate) struct Row {
    /// The line the row starts on (the header is line 1).
    pub line: u64,
    fields: Vec<String>,
}

impl Row {
    /// The trimmed value at `index` (empty when the row is short).
    pub(crate) fn get(&self, index: Option<usize>) -> &str {
        index
            .and_then(|i| self.fields.get(i))
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// What the next line holds.
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
}

fn file_error(path: &Path, err: impl std::fmt::Display) -> SourceError {
    SourceError::File {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// Normalised header name: trimmed, lower case.
fn key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl CsvFile {
    /// Opens `path`, detecting what `encoding`/`delimiter` leave to `auto`,
    /// and reads the header.
    pub(crate) fn open(
        path: &Path,
        encoding: CsvEncoding,
        delimiter: CsvDelimiter,
    ) -> Result<CsvFile, SourceError> {
        let windows_1252 = match encoding {
            CsvEncoding::Utf8 => false,
            CsvEncoding::Windows1252 => true,
            CsvEncoding::Auto => !is_utf8_file(path)?,
        };
        let delimiter = match delimiter {
            CsvDelimiter::Semicolon => b';',
            CsvDelimiter::Comma => b',',
            CsvDelimiter::Tab => b'\t',
            CsvDelimiter::Auto => sniff_delimiter(path)?,
        };
        let file = File::open(path).map_err(|e| file_error(path, e))?;
        let decode = Decode::new(BufReader::with_capacity(CHUNK, file), windows_1252);
        let newlines = Newlines::default();
        let counter = LineCounter {
            inner: decode,
            offset: 0,
            newlines: newlines.clone(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(counter);
        let mut record = csv::ByteRecord::new();
        let has_header = reader
            .read_byte_record(&mut record)
            .map_err(|e| file_error(path, e))?;
        if !has_header {
            return Err(SourceError::CsvFile {
                path: path.to_path_buf(),
                message: "the file is empty (no header line)".to_string(),
            });
        }
        let header: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect();
        let mut columns = HashMap::new();
        for (i, name) in header.iter().enumerate() {
            if !name.is_empty() {
                columns.entry(key(name)).or_insert(i);
            }
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Ok(CsvFile {
            path: path.to_path_buf(),
            name,
            reader,
            newlines,
            lines_before: 0,
            header,
            columns,
            record,
            delimiter,
        })
    }

    /// The file name, for locations.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The index of a column, matched case-insensitively.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.columns.get(&key(name)).copied()
    }

    /// The indexes of `names`, all of which must be present.
    pub(crate) fn require(&self, names: &[&str]) -> Result<Vec<usize>, SourceError> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| self.column(n).is_none())
            .collect();
        if !missing.is_empty() {
            let found: Vec<&str> = self
                .header
                .iter()
                .map(String::as_str)
                .filter(|h| !h.is_empty())
                .collect();
            return Err(SourceError::CsvFile {
                path: self.path.clone(),
                message: format!(
                    "the header lacks the column(s) {}; it has: {}",
                    quoted(&missing),
                    quoted(&found)
                ),
            });
        }
        Ok(names.iter().filter_map(|n| self.column(n)).collect())
    }

    /// The next non-blank row, `None` at the end; `Err` if the file cannot be read on.
    pub(crate) fn next_line(&mut self) -> Result<Option<Line>, SourceError> {
        loop {
            let more = self
                .reader
                .read_byte_record(&mut self.record)
                .map_err(|e| file_error(&self.path, e))?;
            if !more {
                return Ok(None);
            }
            let start = self.record.position().map(|p| p.byte()).unwrap_or(0);
            let line = self.line_at(start);
            if self
                .record
                .iter()
                .all(|f| f.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            let width = self.header.len();
            let mut fields = Vec::with_capacity(width);
            for (i, raw) in self.record.iter().enumerate() {
                let column = self.header.get(i).filter(|h| !h.is_empty()).cloned();
                let Ok(text) = std::str::from_utf8(raw) else {
                    return Ok(Some(Line::Bad {
                        line,
                        column,
                        reason: "the value is not valid UTF-8 text; if the file is Windows-1252 \
                                 set encoding = \"windows-1252\""
                            .to_string(),
                    }));
                };
                let text = text.trim();
                if i >= width || column.is_none() {
                    if !text.is_empty() {
                        return Ok(Some(Line::Bad {
                            line,
                            column: None,
                            reason: format!(
                                "the row has a value in column {} but the header names only {} \
                                 column(s); is a `{}` inside a value unquoted?",
                                i + 1,
                                self.header.iter().filter(|h| !h.is_empty()).count(),
                                char::from(self.delimiter)
                            ),
                        }));
                    }
                    // Empty trailing columns of spreadsheet exports.
                    fields.push(String::new());
                    continue;
                }
                fields.push(text.to_string());
            }
            return Ok(Some(Line::Row(Row { line, fields })));
        }
    }
}

impl CsvFile {
    /// The line of the byte at `offset` (1-based). The csv parser's own
    /// line count runs one behind after CRLF (a record "starts" at the `\n`
    /// of the previous CRLF), so lines are counted here.
    fn line_at(&mut self, offset: u64) -> u64 {
        if let Ok(mut queue) = self.newlines.0.lock() {
            while queue.front().is_some_and(|&n| n <= offset) {
                queue.pop_front();
                self.lines_before += 1;
            }
        }
        self.lines_before + 1
    }
}

/// Offsets of newlines read but not yet passed by the parser.
#[derive(Clone, Default)]
struct Newlines(Arc<Mutex<VecDeque<u64>>>);

/// Notes where the newlines are in the text the parser reads.
struct LineCounter<R> {
    inner: R,
    offset: u64,
    newlines: Newlines,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut queue) = self.newlines.0.lock() {
            for (i, b) in buf[..n].iter().enumerate() {
                if *b == b'\n' {
                    queue.push_back(self.offset + i as u64);
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the whole file is valid UTF-8 (checked chunk by chunk, so
/// memory stays small). A UTF-16 BOM is refused with a clear message.
fn is_utf8_file(path: &Path) -> Result<bool, SourceError> {
    let mut file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut buf = vec![0u8; CHUNK];
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let n = file.read(&mut buf).map_err(|e| file_error(path, e))?;
        if n == 0 {
            // A file ending inside a character is not UTF-8.
            return Ok(carry.is_empty());
        }
        if first {
            first = false;
            if buf[..n].starts_with(b"\xFF\xFE") || buf[..n].starts_with(b"\xFE\xFF") {
                return Err(SourceError::CsvFile {
                    path: path.to_path_buf(),
                    message: "the file is UTF-16, which is not supported; save it as UTF-8 \
                              (\"CSV UTF-8\" in Excel)"
                        .to_string(),
                });
            }
        }
        carry.extend_from_slice(&buf[..n]);
        match std::str::from_utf8(&carry) {
            Ok(_) => carry.clear(),
            Err(e) if e.error_len().is_none() => {
                // Cut inside a character: keep its start for the next chunk.
                let rest = carry.split_off(e.valid_up_to());
                carry = rest;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// The delimiter of the header line: the most frequent of `;`, `,` and tab
/// outside quotes; `;` if none occurs (a one-column file).
fn sniff_delimiter(path: &Path) -> Result<u8, SourceError> {
    let mut file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut buf = vec![0u8; CHUNK];
    let mut len = 0;
    while len < buf.len() {
        let n = file
            .read(&mut buf[len..])
            .map_err(|e| file_error(path, e))?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].contains(&b'\n') {
            break;
        }
    }
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in &buf[..len] {
        match b {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => break,
            _ if !quoted => {
                for (d, c) in counts.iter_mut() {
                    if *d == b {
                        *c += 1;
                    }
                }
            }
            _ => {}
        }
    }
    let best = counts
        .iter()
        .copied()
        .max_by_key(|(d, c)| (*c, *d == b';'))
        .unwrap_or((b';', 0));
    Ok(if best.1 == 0 { b';' } else { best.0 })
}

/// Hands the csv parser UTF-8: drops a UTF-8 BOM, and transcodes
/// Windows-1252 on the fly.
pub(crate) struct Decode<R: Read> {
    inner: R,
    decoder: Option<Decoder>,
    started: bool,
    input: Vec<u8>,
    output: Vec<u8>,
    out_pos: usize,
    done: bool,
}

impl<R: Read> Decode<R> {
    fn new(inner: R, windows_1252: bool) -> Self {
        Decode {
            inner,
            decoder: windows_1252.then(|| WINDOWS_1252.new_decoder_without_bom_handling()),
            started: false,
            input: vec![0u8; CHUNK],
            output: Vec::with_capacity(CHUNK * 3),
            out_pos: 0,
            done: false,
        }
    }

    /// Reads the first bytes and drops a UTF-8 BOM, whatever the encoding
    /// (a BOM means the file is UTF-8; Excel writes it).
    fn start(&mut self) -> io::Result<()> {
        self.started = true;
        let mut head = [0u8; 3];
        let mut got = 0;
        while got < 3 {
            let n = self.inner.read(&mut head[got..])?;
            if n == 0 {
                break;
            }
            got += n;
        }
        if got == 3 && head == UTF8_BOM {
            // A BOM settles it: the text is UTF-8.
            self.decoder = None;
            return Ok(());
        }
        self.push(&head[..got], got < 3)
    }

    /// Adds raw bytes to the output, decoded if needed.
    fn push(&mut self, raw: &[u8], last: bool) -> io::Result<()> {
        match &mut self.decoder {
            None => self.output.extend_from_slice(raw),
            Some(decoder) => {
                let mut src = raw;
                loop {
                    let needed = decoder
                        .max_utf8_buffer_length(src.len())
                        .unwrap_or(src.len() * 3 + 16);
                    let start = self.output.len();
                    self.output.resize(start + needed, 0);
                    let (result, read, written, _) =
                        decoder.decode_to_utf8(src, &mut self.output[start..], last);
                    self.output.truncate(start + written);
                    src = &src[read..];
                    if matches!(result, encoding_rs::CoderResult::InputEmpty) {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Decode<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            self.start()?;
        }
        while self.out_pos >= self.output.len() && !self.done {
            self.output.clear();
            self.out_pos = 0;
            let n = self.inner.read(&mut self.input)?;
            if n == 0 {
                self.done = true;
                let decoder_left = self.decoder.is_some();
                if decoder_left {
                    self.push(&[], true)?;
                }
                break;
            }
            let chunk = self.input[..n].to_vec();
            self.push(&chunk, false)?;
        }
        let available = &self.output[self.out_pos..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.out_pos += n;
        Ok(n)
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
        // Declared UTF-8, the same bytes make a bad row naming the column.
        let mut f = CsvFile::open(&path, CsvEncoding::Utf8, CsvDelimiter::Auto).unwrap();
        match f.next_line().unwrap() {
            Some(Line::Bad { line, column, .. }) => {
                assert_eq!((line, column.as_deref()), (2, Some("Namn")))
            }
            _ => panic!("expected a bad row"),
        }
    }

    #[test]
    fn bom_comma_quoted_newlines_trailing_columns_and_blank_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            "u.csv",
            "\u{feff}Id,Namn,,\n1,\"Anna\nMaria\",,\n,,,\n2,\"Ö, Å\",,\n3,x,,extra\n".as_bytes(),
        );
        let mut f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        assert_eq!(f.column("id"), Some(0));
        let got = rows(&mut f);
        assert_eq!(
            got[0],
            (
                2,
                vec!["1".into(), "Anna\nMaria".into(), "".into(), "".into()]
            )
        );
        assert_eq!(got[1].0, 5);
        assert_eq!(got[1].1[1], "Ö, Å");
        assert_eq!(got[2].0, 6);
        assert!(got[2].1[0].starts_with("BAD"), "{:?}", got[2]);
    }

    #[test]
    fn delimiters_are_sniffed_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let semi = write(dir.path(), "s.csv", b"a;b;\"c,d\"\n");
        assert_eq!(sniff_delimiter(&semi).unwrap(), b';');
        let comma = write(dir.path(), "c.csv", b"a,b,c\n");
        assert_eq!(sniff_delimiter(&comma).unwrap(), b',');
        let one = write(dir.path(), "o.csv", b"a\n");
        assert_eq!(sniff_delimiter(&one).unwrap(), b';');
    }

    #[test]
    fn missing_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "h.csv", b"Klass-ID;Klass\n");
        let f = CsvFile::open(&path, CsvEncoding::Auto, CsvDelimiter::Auto).unwrap();
        let err = f
            .require(&["Klass-ID", "Skolenhetskod"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`Skolenhetskod`") && err.contains("h.csv"),
            "{err}"
        );
    }

    #[test]
    fn utf8_split_across_chunks_is_still_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = "a\n".to_string();
        while text.len() < CHUNK - 1 {
            text.push('x');
        }
        text.push_str("ÅÄÖ\n");
        let path = write(dir.path(), "big.csv", text.as_bytes());
        assert!(is_utf8_file(&path).unwrap());
        let utf16 = write(dir.path(), "w16.csv", b"\xFF\xFEa\x00");
        assert!(is_utf8_file(&utf16).is_err());
    }
}
