//! The generated municipality as CSV files, the way schools export them.
//!
//! Two layouts ([`CsvLayout`]):
//!
//! **Skolverket** — the sheets of Skolverket's file-upload template, each
//! exported to its own file named after the sheet:
//!
//! | file | columns |
//! |---|---|
//! | `Klasser.csv` | Klass-ID, Klass, Skolform, Skolenhetskod, Ta bort |
//! | `Ämnesgrupp & provaktiviteter.csv` | Grupp-ID, Ämnesgrupp, Skolform, Provaktivitetsnamn, Skolenhetskod, Ta bort |
//! | `Elevinskrivningar.csv` | Person-ID, Federationsanvändarnamn, Personnummer, Sekretessmarkering, Förnamn, Mellannamn, Efternamn, E-postadress, Skolform, Skolenhetskod, Årskurs, Studievägskod, Klass, Ämnesgrupper, Ta bort |
//! | `Personalstjänstgöringar.csv` | Tjänstgörings-ID, Person-ID, Federationsanvändarnamn, EduID-Federationsanvändarnamn, Personnummer, Sekretessmarkering, Förnamn, Mellannamn, Efternamn, E-postadress, Skolenhetskod, Personalkategori, Ämnesgrupper, Ta bort |
//!
//! As a school fills in the template, it holds only what the provtjänst
//! takes: classes and enrolments of the profile's school types (GR, SP,
//! SAM, GY, VUXGY; förskoleklass is left out), teaching groups that lead to
//! a test activity (`Provaktivitetsnamn`, from `parentActivity` or else the
//! syllabus: `GRGRMAT01` years 4–6 → `GRGRMAT01_6`, course `MATMAT01c` →
//! `MATMAT01c`), duties, and only what is current on the reference date.
//! `Klass` holds the Klass-ID of the pupil's class at that unit;
//! `Ämnesgrupper` holds Grupp-IDs separated by `,` (the field is quoted when
//! `,` is also the delimiter); `Sekretessmarkering` holds the
//! `Code_SecurityMarking` value (`Ingen`, `Sekretessmarkering`,
//! `Skyddad folkbokföring`); `Ta bort` is empty (`Ja` would delete). Dirt
//! the template cannot express (unknown enum values, dangling references)
//! does not show in this layout.
//!
//! **Flat** — one file per entity type with English column names, lists
//! separated by `,`, dates as `YYYY-MM-DD`, references by source id:
//!
//! | file | columns |
//! |---|---|
//! | `organisations.csv` | id, organisation_type, display_name, organisation_code, organisation_number, school_unit_code, school_types, municipality_code, parent_id, start_date, end_date |
//! | `persons.csv` | id, given_name, middle_name, family_name, civic_no, security_marking, eppn, email, email_type, eduid_eppn, person_status |
//! | `enrolments.csv` | person_id, school_unit_id, school_type, school_year, education_code, programme_id, start_date, end_date, cancelled |
//! | `duties.csv` | id, person_id, school_unit_id, duty_role, signature, start_date, end_date |
//! | `groups.csv` | id, display_name, group_type, school_type, school_unit_id, start_date, end_date |
//! | `memberships.csv` | group_id, person_id, start_date, end_date |
//! | `activities.csv` | id, display_name, activity_type, school_unit_id, syllabus_id, parent_activity_id, start_date, end_date |
//! | `activity_groups.csv` | activity_id, group_id |
//! | `activity_teachers.csv` | activity_id, duty_id, start_date, end_date |
//! | `syllabuses.csv` | id, school_type, subject_code, subject_name, subject_designation, course_code, course_name, start_school_year, end_school_year |
//! | `programmes.csv` | id, name, code, school_type |
//!
//! It holds everything, including ended records, out-of-scope ones and all
//! dirt: `group_type`/`activity_type` come from a raw override when there is
//! one. `email` is the person's first address, `eppn` the EPPNs joined.
//!
//! The Skolverket layout's rows are built once (`TemplateRows`); the
//! workbook export (`xlsx_export`) writes the same rows as the template's
//! Excel workbook.
//!
//! Options: delimiter (`;` or `,`), UTF-8 with or without BOM or
//! Windows-1252, LF or CRLF, and the personnummer form.

mod flat;
mod skolverket;

pub(crate) use skolverket::{TemplateRows, TemplateSheet};

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use skolsync_model::codes::{GroupType, SourceSchoolType, Ss12000SchoolType};
use skolsync_model::ss12000::{EntityKind, Person, SourceId};

use super::Municipality;

/// Which set of files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvLayout {
    /// Skolverket's file-upload template, sheet by sheet.
    #[default]
    Skolverket,
    /// One file per entity type.
    Flat,
}

/// Character encoding of the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvEncoding {
    /// UTF-8 without byte-order mark.
    #[default]
    Utf8,
    /// UTF-8 with a byte-order mark (what Excel writes).
    Utf8Bom,
    /// Windows-1252 (older Swedish Windows exports).
    Windows1252,
}

/// How personnummer are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CivicNoFormat {
    /// `YYYYMMDDNNNN`, what the provtjänst takes.
    #[default]
    Compact,
    /// `YYYYMMDD-NNNN`.
    Dashed,
    /// `YYMMDD-NNNN` (`+` for people of 100 or more); temporary numbers,
    /// which need the full year, stay `YYYYMMDD-TFNN`.
    Short,
}

/// How to write the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Which files.
    pub layout: CsvLayout,
    /// Field delimiter, usually `b';'` or `b','`.
    pub delimiter: u8,
    /// Character encoding.
    pub encoding: CsvEncoding,
    /// End lines with CRLF instead of LF.
    pub crlf: bool,
    /// Personnummer form.
    pub civic_no_format: CivicNoFormat,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            layout: CsvLayout::Skolverket,
            delimiter: b';',
            encoding: CsvEncoding::Utf8,
            crlf: false,
            civic_no_format: CivicNoFormat::Compact,
        }
    }
}

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CsvExportError {
    /// Creating the directory or a file, or writing it, failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The CSV writer failed (including text the encoding cannot hold).
    #[error("cannot write {path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
}

/// The *Klasser* sheet of the Skolverket layout.
pub const SKOLVERKET_CLASSES_FILE: &str = "Klasser.csv";
/// The *Ämnesgrupp & provaktiviteter* sheet of the Skolverket layout.
pub const SKOLVERKET_GROUPS_FILE: &str = "Ämnesgrupp & provaktiviteter.csv";
/// The *Elevinskrivningar* sheet of the Skolverket layout.
pub const SKOLVERKET_ENROLMENTS_FILE: &str = "Elevinskrivningar.csv";
/// The *Personalstjänstgöringar* sheet of the Skolverket layout.
pub const SKOLVERKET_DUTIES_FILE: &str = "Personalstjänstgöringar.csv";

/// Writes `m` into `dir` (created if missing) in the layout and form of
/// `options`; returns the files written.
pub fn export_csv(
    m: &Municipality,
    dir: &Path,
    options: &CsvOptions,
) -> Result<Vec<PathBuf>, CsvExportError> {
    std::fs::create_dir_all(dir).map_err(|source| CsvExportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    match options.layout {
        CsvLayout::Skolverket => skolverket::skolverket(m, dir, options),
        CsvLayout::Flat => flat::flat(m, dir, options),
    }
}

// ---------------------------------------------------------------------------
// Files and encodings

/// One CSV file being written.
struct Sheet {
    path: PathBuf,
    writer: csv::Writer<Encoder<BufWriter<File>>>,
}

impl Sheet {
    fn create(
        dir: &Path,
        name: &str,
        header: &[&str],
        options: &CsvOptions,
    ) -> Result<Self, CsvExportError> {
        let path = dir.join(name);
        let file = File::create(&path).map_err(|source| CsvExportError::Io {
            path: path.clone(),
            source,
        })?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        if options.encoding == CsvEncoding::Utf8Bom {
            out.write_all(b"\xEF\xBB\xBF")
                .map_err(|source| CsvExportError::Io {
                    path: path.clone(),
                    source,
                })?;
        }
        let writer = csv::WriterBuilder::new()
            .delimiter(options.delimiter)
            .terminator(if options.crlf {
                csv::Terminator::CRLF
            } else {
                csv::Terminator::Any(b'\n')
            })
            .from_writer(Encoder::new(
                out,
                options.encoding == CsvEncoding::Windows1252,
            ));
        let mut sheet = Sheet { path, writer };
        sheet.row(header)?;
        Ok(sheet)
    }

    fn row<T: AsRef<[u8]>>(&mut self, fields: &[T]) -> Result<(), CsvExportError> {
        self.writer
            .write_record(fields)
            .map_err(|source| CsvExportError::Csv {
                path: self.path.clone(),
                source,
            })
    }

    fn finish(self) -> Result<PathBuf, CsvExportError> {
        let Sheet { path, writer } = self;
        let encoder = writer.into_inner().map_err(|e| CsvExportError::Io {
            path: path.clone(),
            source: io::Error::other(e.to_string()),
        })?;
        let mut out = encoder.finish().map_err(|source| CsvExportError::Io {
            path: path.clone(),
            source,
        })?;
        out.flush().map_err(|source| CsvExportError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// Passes UTF-8 through, or re-encodes it as Windows-1252 on the fly
/// (keeping a split multi-byte character until its end arrives).
struct Encoder<W: Write> {
    inner: W,
    windows_1252: bool,
    pending: Vec<u8>,
    scratch: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    fn new(inner: W, windows_1252: bool) -> Self {
        Encoder {
            inner,
            windows_1252,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn finish(self) -> io::Result<W> {
        if !self.pending.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "text ends inside a UTF-8 character",
            ));
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.windows_1252 {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        let valid_up_to = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the text is not UTF-8",
                ));
            }
        };
        self.scratch.clear();
        let text = std::str::from_utf8(&self.pending[..valid_up_to]).unwrap_or_default();
        for c in text.chars() {
            let byte = windows_1252_byte(c).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the character {c:?} (U+{:04X}) cannot be written in Windows-1252",
                        u32::from(c)
                    ),
                )
            })?;
            self.scratch.push(byte);
        }
        self.inner.write_all(&self.scratch)?;
        self.pending.drain(..valid_up_to);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The Windows-1252 byte of `c`, if it has one: ASCII and Latin-1 map to
/// themselves, 0x80–0x9F hold typographic characters.
fn windows_1252_byte(c: char) -> Option<u8> {
    const HIGH: [(char, u8); 27] = [
        ('€', 0x80),
        ('‚', 0x82),
        ('ƒ', 0x83),
        ('„', 0x84),
        ('…', 0x85),
        ('†', 0x86),
        ('‡', 0x87),
        ('ˆ', 0x88),
        ('‰', 0x89),
        ('Š', 0x8A),
        ('‹', 0x8B),
        ('Œ', 0x8C),
        ('Ž', 0x8E),
        ('\u{2018}', 0x91),
        ('\u{2019}', 0x92),
        ('\u{201C}', 0x93),
        ('\u{201D}', 0x94),
        ('•', 0x95),
        ('–', 0x96),
        ('—', 0x97),
        ('˜', 0x98),
        ('™', 0x99),
        ('š', 0x9A),
        ('›', 0x9B),
        ('œ', 0x9C),
        ('ž', 0x9E),
        ('Ÿ', 0x9F),
    ];
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    HIGH.iter().find(|(h, _)| *h == c).map(|(_, b)| *b)
}

// ---------------------------------------------------------------------------
// Field formatting

fn civic_no(value: &str, format: CivicNoFormat) -> String {
    let value = value.trim();
    if value.len() != 12 || !value.is_ascii() {
        return value.to_string();
    }
    let (date, serial) = value.split_at(8);
    match format {
        CivicNoFormat::Compact => value.to_string(),
        CivicNoFormat::Dashed => format!("{date}-{serial}"),
        CivicNoFormat::Short => {
            if !serial.bytes().all(|b| b.is_ascii_digit()) {
                // A temporary number needs its four-digit year.
                return format!("{date}-{serial}");
            }
            // Nobody generated is 100 or older on the reference date; a
            // birth year more than a century back would take '+'.
            let old = date[..4].parse::<i32>().is_ok_and(|y| y <= 1926);
            format!("{}{}{serial}", &date[2..], if old { '+' } else { '-' })
        }
    }
}

fn date(d: Option<chrono::NaiveDate>) -> String {
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A person's civic number in the form asked for, or an empty field.
fn person_civic_no(p: Option<&Person>, format: CivicNoFormat) -> String {
    p.and_then(|p| p.civic_no.as_ref())
        .map(|c| civic_no(&c.value, format))
        .unwrap_or_default()
}

fn first_email(p: &Person) -> &str {
    p.emails.first().map(|e| e.value.as_str()).unwrap_or("")
}

fn eduid(p: &Person) -> &str {
    p.external_identifiers
        .iter()
        .find(|e| e.context.trim_end_matches('/') == "https://eduid.se")
        .map(|e| e.value.as_str())
        .unwrap_or("")
}

fn in_profile(school_type: &SourceSchoolType) -> bool {
    school_type.profile().is_some()
}

/// A string field of a raw override, if the entity has one.
fn override_field<'a>(
    m: &'a Municipality,
    kind: EntityKind,
    id: &SourceId,
    field: &str,
) -> Option<&'a str> {
    m.source
        .raw_overrides
        .get(&(kind, id.clone()))?
        .get(field)?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civic_numbers_take_each_form() {
        assert_eq!(
            civic_no("200901272385", CivicNoFormat::Compact),
            "200901272385"
        );
        assert_eq!(
            civic_no("200901272385", CivicNoFormat::Dashed),
            "20090127-2385"
        );
        assert_eq!(
            civic_no("200901272385", CivicNoFormat::Short),
            "090127-2385"
        );
        assert_eq!(
            civic_no("20090127TF20", CivicNoFormat::Short),
            "20090127-TF20"
        );
        assert_eq!(
            civic_no("192001272385", CivicNoFormat::Short),
            "200127+2385"
        );
    }

    #[test]
    fn windows_1252_holds_swedish_letters_and_refuses_the_rest() {
        let mut out = Encoder::new(Vec::new(), true);
        // Write "Åsa Öberg €" split inside the two-byte "Å".
        let text = "Åsa Öberg €".as_bytes();
        out.write_all(&text[..1]).unwrap();
        out.write_all(&text[1..]).unwrap();
        let bytes = out.finish().unwrap();
        assert_eq!(bytes, b"\xC5sa \xD6berg \x80");
        let mut out = Encoder::new(Vec::new(), true);
        assert!(out.write_all("Jovanović".as_bytes()).is_err());
    }
}
