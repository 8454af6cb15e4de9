//! The bytes of a CSV file as numbered text lines: what the encoding is
//! (decided for the file as a whole), and each line decoded with where its
//! undecodable bytes are.
//!
//! A file is read as Windows-1252 only when it is that as a whole: it has
//! bytes above 127 and not one valid UTF-8 multi-byte sequence. A UTF-8
//! file with a stray Windows-1252 byte stays UTF-8 (re-decoding it all
//! would turn every `ö` into `Ã¶`); its bad bytes are reported by line and
//! offset instead.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use encoding_rs::WINDOWS_1252;

use super::config::CsvEncoding;
use crate::error::SourceError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// Buffer size of the readers.
const BUFFER: usize = 1 << 16;
/// Longest line read; a longer one is not a CSV export.
const MAX_LINE_BYTES: u64 = 16 << 20;

/// Refuses anything but a regular file (a FIFO would block the read
/// forever, a device would never end), before it is opened.
pub(crate) fn regular_file(path: &Path) -> Result<u64, SourceError> {
    let meta = std::fs::metadata(path).map_err(|e| file_error(path, e))?;
    if !meta.is_file() {
        return Err(SourceError::File {
            path: path.to_path_buf(),
            message: "is not a regular file (a folder, FIFO, socket or device); give the path \
                      of a CSV file"
                .to_string(),
        });
    }
    Ok(meta.len())
}

pub(crate) fn file_error(path: &Path, err: impl std::fmt::Display) -> SourceError {
    SourceError::File {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

/// What a scan of the whole file found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// At least one byte above 127.
    pub high_bytes: bool,
    /// At least one valid UTF-8 multi-byte sequence (a BOM counts).
    pub utf8_sequences: bool,
    /// At least one byte that is not valid UTF-8.
    pub invalid: bool,
}

impl Scan {
    /// Whether the file is Windows-1252 as a whole.
    pub(crate) fn is_windows_1252(&self) -> bool {
        self.high_bytes && self.invalid && !self.utf8_sequences
    }
}

/// Scans the whole file line by line (a line end never falls inside a
/// UTF-8 sequence). A UTF-16 BOM is refused with a clear message.
pub(crate) fn scan(path: &Path) -> Result<Scan, SourceError> {
    let file = File::open(path).map_err(|e| file_error(path, e))?;
    let mut reader = BufReader::with_capacity(BUFFER, file);
    let mut scan = Scan::default();
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| file_error(path, e))?;
        if n == 0 {
            return Ok(scan);
        }
        if first {
            first = false;
            if line.starts_with(b"\xFF\xFE") || line.starts_with(b"\xFE\xFF") {
                return Err(SourceError::CsvFile {
                    path: path.to_path_buf(),
                    message: "the file is UTF-16, which is not supported; save it as UTF-8 \
                              (\"CSV UTF-8\" in Excel)"
                        .to_string(),
                });
            }
        }
        scan_line(&line, &mut scan);
    }
}

fn scan_line(mut bytes: &[u8], scan: &mut Scan) {
    if bytes.iter().all(u8::is_ascii) {
        return;
    }
    scan.high_bytes = true;
    loop {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                if !text.is_ascii() {
                    scan.utf8_sequences = true;
                }
                return;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                if !valid.is_ascii() {
                    scan.utf8_sequences = true;
                }
                scan.invalid = true;
                let skip = e.error_len().unwrap_or(rest.len()).max(1);
                bytes = rest.get(skip..).unwrap_or(&[]);
                if bytes.is_empty() {
                    return;
                }
            }
        }
    }
}

/// Decides the encoding of `path` as configured; `auto` scans the file and
/// says in the log when it reads it as Windows-1252 or finds stray bytes.
pub(crate) fn decide(path: &Path, name: &str, encoding: CsvEncoding) -> Result<bool, SourceError> {
    Ok(match encoding {
        CsvEncoding::Utf8 => false,
        CsvEncoding::Windows1252 => true,
        CsvEncoding::Auto => {
            let scan = scan(path)?;
            if scan.is_windows_1252() {
                tracing::info!(
                    file = name,
                    "no UTF-8 anywhere in the file and bytes that are not: reading it as \
                     Windows-1252"
                );
                true
            } else {
                if scan.invalid {
                    tracing::warn!(
                        file = name,
                        "the file is UTF-8 with bytes that are not; it stays UTF-8 and the lines \
                         with those bytes are reported"
                    );
                }
                false
            }
        }
    })
}

/// A line of the file, decoded.
pub(crate) struct TextLine {
    /// 1-based line number.
    pub no: u64,
    /// The text without its line end.
    pub text: String,
    /// Whether a line end followed (the last line of a cut-off file has none).
    pub ended: bool,
    /// The first byte that is not text in the encoding: (byte within the
    /// line, 0-based; offset in the file; the byte).
    pub bad_byte: Option<(usize, u64, u8)>,
}

/// Numbered, decoded lines of a file.
pub(crate) struct Lines {
    reader: BufReader<File>,
    windows_1252: bool,
    no: u64,
    offset: u64,
    raw: Vec<u8>,
}

impl Lines {
    pub(crate) fn open(path: &Path, windows_1252: bool) -> Result<Lines, SourceError> {
        let file = File::open(path).map_err(|e| file_error(path, e))?;
        Ok(Lines {
            reader: BufReader::with_capacity(BUFFER, file),
            windows_1252,
            no: 0,
            offset: 0,
            raw: Vec::new(),
        })
    }

    /// The next line, `None` at the end of the file.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<TextLine>> {
        self.raw.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut self.raw)?;
        if n == 0 {
            return Ok(None);
        }
        self.no += 1;
        if n as u64 == MAX_LINE_BYTES && !self.raw.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {} is longer than {} MiB; is this a CSV file?",
                    self.no,
                    MAX_LINE_BYTES >> 20
                ),
            ));
        }
        let start = self.offset;
        self.offset += n as u64;
        let mut bytes: &[u8] = &self.raw;
        let mut skipped = 0usize;
        if self.no == 1 && bytes.starts_with(UTF8_BOM) {
            // A BOM settles it: the text is UTF-8.
            bytes = &bytes[UTF8_BOM.len()..];
            skipped = UTF8_BOM.len();
            self.windows_1252 = false;
        }
        let ended = bytes.ends_with(b"\n");
        if ended {
            bytes = &bytes[..bytes.len() - 1];
        }
        if bytes.ends_with(b"\r") {
            bytes = &bytes[..bytes.len() - 1];
        }
        let (text, bad_byte) = if self.windows_1252 {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(bytes);
            (text.into_owned(), None)
        } else {
            match std::str::from_utf8(bytes) {
                Ok(text) => (text.to_string(), None),
                Err(e) => {
                    let at = e.valid_up_to();
                    let byte = bytes.get(at).copied().unwrap_or(0);
                    (
                        String::from_utf8_lossy(bytes).into_owned(),
                        Some((at + skipped, start + (at + skipped) as u64, byte)),
                    )
                }
            }
        };
        Ok(Some(TextLine {
            no: self.no,
            text,
            ended,
            bad_byte,
        }))
    }
}

/// The delimiter of the header line: the most frequent of `;`, `,` and tab
/// outside quotes; `;` if none occurs (a one-column file).
pub(crate) fn sniff_delimiter(path: &Path) -> Result<char, SourceError> {
    let mut lines = Lines::open(path, true)?;
    let first = lines.next_line().map_err(|e| file_error(path, e))?;
    let text = first.map(|l| l.text).unwrap_or_default();
    let mut counts = [(';', 0usize), (',', 0), ('\t', 0)];
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == c {
                    *n += 1;
                }
            }
        }
    }
    let best = counts
        .iter()
        .copied()
        .max_by_key(|(d, n)| (*n, *d == ';'))
        .unwrap_or((';', 0));
    Ok(if best.1 == 0 { ';' } else { best.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanned(bytes: &[u8]) -> Scan {
        let mut s = Scan::default();
        scan_line(bytes, &mut s);
        s
    }

    #[test]
    fn windows_1252_only_when_no_utf8_sequence_is_there() {
        assert!(scanned(b"\xC5sa;G\xF6teborg").is_windows_1252());
        // One stray byte in UTF-8 text: UTF-8 with an error.
        let s = scanned("Förskoleklass;\u{f6}".as_bytes());
        assert!(!s.invalid && s.utf8_sequences);
        let s = scanned(b"F\xC3\xB6rskoleklass;\xF6");
        assert!(s.invalid && s.utf8_sequences && !s.is_windows_1252());
        assert!(!scanned(b"plain ascii").high_bytes);
    }

    #[test]
    fn delimiters_are_sniffed_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        assert_eq!(sniff_delimiter(&write("s", b"a;b;\"c,d\"\n")).unwrap(), ';');
        assert_eq!(sniff_delimiter(&write("c", b"a,b,c\n")).unwrap(), ',');
        assert_eq!(sniff_delimiter(&write("o", b"a\n")).unwrap(), ';');
    }

    #[test]
    fn lines_report_their_bad_bytes_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.csv");
        std::fs::write(&p, b"\xEF\xBB\xBFa;b\r\nx;\xF6y\nlast").unwrap();
        let mut lines = Lines::open(&p, false).unwrap();
        let l1 = lines.next_line().unwrap().unwrap();
        assert_eq!((l1.no, l1.text.as_str(), l1.ended), (1, "a;b", true));
        let l2 = lines.next_line().unwrap().unwrap();
        assert_eq!(l2.bad_byte, Some((2, 10, 0xF6)));
        let l3 = lines.next_line().unwrap().unwrap();
        assert_eq!((l3.no, l3.text.as_str(), l3.ended), (3, "last", false));
        assert!(lines.next_line().unwrap().is_none());
    }
}
