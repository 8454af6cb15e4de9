//! `kind = "csv"`: file exports, in Skolverket's template layout
//! ([`template`]) or a flat file-per-entity layout ([`flat`]).
//!
//! Files are read row by row on a blocking thread and entities go out in
//! batches of [`CHUNK`]; what must be joined across files (a pupil's class
//! from the pupils file onto the class, enrolments onto persons) is kept as
//! ids until the entity it belongs to is built. Every row that cannot be
//! used becomes a [`Reject`] naming the file, the line, the column, the
//! value (personnummer masked) and the reason; the rest is read. Every
//! entity made also goes out with the file and line of the first row that
//! made it ([`Batch::Origins`]), so that a record the transform rejects
//! later is located the same way. CSV files
//! carry no modification times, so a CSV read is always a full read
//! (watermark `None`).
//!
//! The layouts map columns, not files: they read through the `sheet`
//! seam (rows of named cells, each row knowing its location), which the
//! CSV reader (`reader`) implements; a workbook or a database query can
//! implement it too and feed the same mapping.

pub mod config;
pub(crate) mod flat;
pub(crate) mod lines;
mod reader;
pub(crate) mod sheet;
pub(crate) mod template;

use std::path::PathBuf;

use chrono::NaiveDate;
use skolsync_model::CivicNo;
use skolsync_model::codes::SourceSchoolType;
use skolsync_model::ids::SchoolUnitCode;
use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::{EntityKind, Origins, RawCivicNo};
use uuid::Uuid;

pub use config::{
    CsvConfig, CsvDelimiter, CsvEncoding, FlatColumns, FlatConfig, FlatFiles, TemplateConfig,
};

use self::template::TemplateSheet;
use crate::error::{ConfigError, ConfigErrors};
use crate::resolve;
use crate::source::{
    Batch, BatchStream, Emitter, ReadOptions, Source, Stopped, spawn_blocking_reader,
};
use skolsync_model::BuildContext;

/// Entities per batch.
pub(crate) const CHUNK: usize = 1000;

/// The digits a personnummer has (without century, with it).
pub(crate) const CIVIC_NO_DIGITS: &[usize] = &[10, 12];
/// The digits a school unit code (`Skolenhetskod`) has.
pub(crate) const SCHOOL_UNIT_CODE_DIGITS: &[usize] = &[8];
/// The template's columns of fixed-width codes, whose leading zeros a
/// sheet that stores them as numbers gives back ([`sheet::Sheet::code_columns`]).
pub(crate) const CODE_COLUMNS: [(&str, &[usize]); 2] = [
    (skolsync_model::template::CIVIC_NO, CIVIC_NO_DIGITS),
    (
        skolsync_model::template::SCHOOL_UNIT_CODE,
        SCHOOL_UNIT_CODE_DIGITS,
    ),
];

/// A built CSV source.
pub struct CsvSource {
    config: CsvConfig,
    base_dir: PathBuf,
}

impl CsvSource {
    /// Validates `config`; paths resolve against `base_dir`. Files are
    /// opened when read.
    pub fn new(config: &CsvConfig, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let base_dir = ctx.base_dir();
        let mut problems = ConfigErrors::new();
        if let CsvConfig::SkolverketTemplate(t) = config {
            if TemplateSheet::ALL.iter().all(|s| t.sheet(*s).is_none()) {
                problems.push(ConfigError::invalid(
                    "students",
                    "the skolverket-template layout needs at least one of students, staff, classes, subject_groups",
                ));
            }
            for problem in template::column_problems(&t.columns) {
                problems.push(problem);
            }
        }
        if let CsvConfig::Flat(f) = config
            && f.dir.as_os_str().is_empty()
        {
            problems.push(ConfigError::invalid("dir", "is empty"));
        }
        problems.finish(CsvSource {
            config: config.clone(),
            base_dir: base_dir.to_path_buf(),
        })
    }
}

/// A file the config makes the reader open.
struct InputFile {
    /// The key that names it, e.g. `students` or `files.persons`.
    key: String,
    /// The resolved path.
    path: PathBuf,
    /// Whether the config names it (else it is a default name and may be
    /// absent).
    named: bool,
}

impl CsvSource {
    /// The files of [`Source::missing_files`] and [`Source::input_files`],
    /// listed once.
    fn inputs(&self) -> Vec<InputFile> {
        match &self.config {
            CsvConfig::SkolverketTemplate(t) => TemplateSheet::ALL
                .into_iter()
                .filter_map(|sheet| {
                    Some(InputFile {
                        key: sheet.key().to_string(),
                        path: resolve(&self.base_dir, t.sheet(sheet)?),
                        named: true,
                    })
                })
                .collect(),
            CsvConfig::Flat(f) => {
                let dir = resolve(&self.base_dir, &f.dir);
                f.files
                    .tables()
                    .into_iter()
                    .map(|(key, path)| InputFile {
                        key: format!("files.{key}"),
                        path: match path {
                            Some(path) => resolve(&dir, path),
                            None => dir.join(format!("{key}.csv")),
                        },
                        named: path.is_some(),
                    })
                    .collect()
            }
        }
    }
}

impl Source for CsvSource {
    fn describe(&self) -> String {
        match &self.config {
            CsvConfig::SkolverketTemplate(_) => {
                format!("csv skolverket-template in {}", self.base_dir.display())
            }
            CsvConfig::Flat(f) => {
                format!("csv flat {}", resolve(&self.base_dir, &f.dir).display())
            }
        }
    }

    fn missing_files(&self) -> Vec<(String, PathBuf)> {
        if let CsvConfig::Flat(f) = &self.config {
            let dir = resolve(&self.base_dir, &f.dir);
            if !dir.is_dir() {
                return vec![("dir".to_string(), dir)];
            }
        }
        self.inputs()
            .into_iter()
            // Files left to their default names are optional; a file
            // named in the config is meant to be there.
            .filter(|input| input.named && !input.path.is_file())
            .map(|input| (input.key, input.path))
            .collect()
    }

    /// Every file a read opens, in a fixed order: the template's
    /// configured files, or the flat layout's tables — those the config
    /// names, and those left at their default name that are there now (a
    /// default-named file that appears or goes away changes the list).
    fn input_files(&self) -> Vec<PathBuf> {
        self.inputs()
            .into_iter()
            .filter(|input| input.named || input.path.is_file())
            .map(|input| input.path)
            .collect()
    }

    fn read(&self, options: ReadOptions) -> BatchStream {
        let config = self.config.clone();
        let base_dir = self.base_dir.clone();
        spawn_blocking_reader(options.progress, "CSV reader", move |out| match &config {
            CsvConfig::SkolverketTemplate(t) => template::read(t, &base_dir, out),
            CsvConfig::Flat(f) => flat::read(f, &base_dir, out),
        })
    }
}

// ---------------------------------------------------------------------------
// Helpers shared by the layouts.

/// Where a row is, for rejects.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub file: &'a str,
    pub line: u64,
}

impl At<'_> {
    /// A reject of this row: entity, id, column, value (already masked
    /// where needed) and reason.
    pub(crate) fn reject(
        &self,
        entity: EntityKind,
        id: &str,
        column: &str,
        value: Option<String>,
        reason: impl Into<String>,
    ) -> Reject {
        let mut r = Reject::new(Stage::Extract, entity, reason)
            .at(format!("{}:{}", self.file, self.line))
            .field(column, value.filter(|v| !v.is_empty()));
        if !id.is_empty() {
            r = r.id(id);
        }
        r
    }
}

/// Batches going out: entities gather into chunks, rejects and origins
/// too.
pub(crate) struct Out<'a> {
    emitter: &'a Emitter,
    rejects: Vec<Reject>,
    /// Where the entities made since the last [`Batch::Origins`] came from;
    /// sent in chunks, so a large read never holds them all here too.
    origins: Origins,
}

impl<'a> Out<'a> {
    pub(crate) fn new(emitter: &'a Emitter) -> Self {
        Out {
            emitter,
            rejects: Vec::new(),
            origins: Origins::default(),
        }
    }

    /// Records that the `entity` record `id` was made from the row `at`
    /// (the first row of it that made it: the snapshot keeps the first
    /// location of every record), so that a reject of the record after the
    /// read names the file and line too.
    pub(crate) fn origin(
        &mut self,
        entity: EntityKind,
        id: &str,
        at: At<'_>,
    ) -> Result<(), Stopped> {
        self.origins.record(entity, id, at.file, at.line);
        if self.origins.len() >= CHUNK {
            self.emitter
                .emit_blocking(Batch::Origins(std::mem::take(&mut self.origins)))?;
        }
        Ok(())
    }

    pub(crate) fn reject(&mut self, reject: Reject) -> Result<(), Stopped> {
        self.rejects.push(reject);
        if self.rejects.len() >= CHUNK {
            self.emitter
                .emit_blocking(Batch::Rejects(std::mem::take(&mut self.rejects)))?;
        }
        Ok(())
    }

    /// Adds `entity` to `buffer`, sending the buffer when it is full.
    pub(crate) fn push<T>(
        &self,
        buffer: &mut Vec<T>,
        entity: T,
        wrap: fn(Vec<T>) -> Batch,
    ) -> Result<(), Stopped> {
        buffer.push(entity);
        if buffer.len() >= CHUNK {
            self.emitter.emit_blocking(wrap(std::mem::take(buffer)))?;
        }
        Ok(())
    }

    /// Sends what is left in `buffer`.
    pub(crate) fn flush<T>(
        &self,
        buffer: &mut Vec<T>,
        wrap: fn(Vec<T>) -> Batch,
    ) -> Result<(), Stopped> {
        self.emitter.emit_blocking(wrap(std::mem::take(buffer)))
    }

    /// Sends all of `entities` in chunks.
    pub(crate) fn send_all<T>(
        &self,
        mut entities: Vec<T>,
        wrap: fn(Vec<T>) -> Batch,
    ) -> Result<(), Stopped> {
        while !entities.is_empty() {
            let rest = entities.split_off(CHUNK.min(entities.len()));
            self.emitter.emit_blocking(wrap(entities))?;
            entities = rest;
        }
        Ok(())
    }

    pub(crate) fn emit(&self, batch: Batch) -> Result<(), Stopped> {
        self.emitter.emit_blocking(batch)
    }

    /// Sends the remaining rejects and origins.
    pub(crate) fn finish(mut self) -> Result<(), Stopped> {
        self.emitter
            .emit_blocking(Batch::Origins(std::mem::take(&mut self.origins)))?;
        self.emitter
            .emit_blocking(Batch::Rejects(std::mem::take(&mut self.rejects)))
    }
}

/// The namespace of ids the CSV layouts derive (activities of template
/// subject groups, duties without an id).
fn csv_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::nil(), b"skolsync:csv")
}

/// A stable id derived from `parts`.
pub(crate) fn derived_id(parts: &[&str]) -> String {
    Uuid::new_v5(&csv_namespace(), parts.join("\u{1f}").as_bytes()).to_string()
}

/// The source id of the organisation element of a school unit code: the
/// unit's Skolverket id (UUIDv5 of the code), stable across reads.
pub(crate) fn school_unit_id(code: &str) -> String {
    SchoolUnitCode::new(code).skolverket_id().to_string()
}

/// A school type as exports write it (SS 12000's and Skolverket's codes,
/// `VUXGY` among them). A value in no list is kept as text, so the
/// transform rejects only the enrolment or group that carries it; only a
/// blank value is an error here.
pub(crate) fn school_type(raw: &str) -> Result<SourceSchoolType, String> {
    if raw.trim().is_empty() {
        return Err("the school type is empty".to_string());
    }
    let Ok(value) = raw.parse::<SourceSchoolType>();
    Ok(value)
}

/// A date `YYYY-MM-DD`; empty is none.
pub(crate) fn date(raw: &str) -> Result<Option<NaiveDate>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    let day = raw.get(..10).unwrap_or(raw);
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("`{raw}` is not a date (expected YYYY-MM-DD)"))
}

/// A small whole number; empty is none.
pub(crate) fn small_number(raw: &str) -> Result<Option<u8>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u8>()
        .map(Some)
        .map_err(|_| format!("`{raw}` is not a whole number 0–255"))
}

/// Yes/no as exports write it; empty is no.
pub(crate) fn yes_no(raw: &str) -> Result<bool, String> {
    match raw.trim().to_lowercase().as_str() {
        "" | "nej" | "no" | "n" | "false" | "0" => Ok(false),
        "ja" | "j" | "yes" | "y" | "x" | "true" | "1" => Ok(true),
        _ => Err(format!("`{raw}` is neither Ja nor empty")),
    }
}

/// A list in one field, separated by `,` or `;`.
pub(crate) fn list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split([',', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Why a name cannot be used: it holds a control character (a line
/// break, a tab, an escape…), which no name has and which shows a broken
/// export (or one that would garble a terminal or a report).
pub(crate) fn name_problem(column: &str, value: &str) -> Option<String> {
    let c = value.chars().find(|c| c.is_control())?;
    Some(format!(
        "`{column}` holds a control character (U+{:04X}); a name must be plain text",
        u32::from(c)
    ))
}

/// A personnummer in any accepted form, normalised to its 12 characters.
/// The error carries the masked value and the reason.
pub(crate) fn civic_no(raw: &str) -> Result<RawCivicNo, (String, String)> {
    CivicNo::parse(raw)
        .map(|c| RawCivicNo {
            value: c.as_str().to_string(),
            nationality: None,
        })
        .map_err(|e| (e.masked_input().to_string(), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personnummer_in_every_form_normalise_and_bad_ones_are_masked() {
        for form in ["200901272385", "20090127-2385", "090127-2385", "0901272385"] {
            assert_eq!(civic_no(form).unwrap().value, "200901272385", "{form}");
        }
        let (masked, reason) = civic_no("20090127-2386").unwrap_err();
        assert_eq!(masked, "20090127-****");
        assert!(!reason.contains("2386"), "{reason}");
    }

    #[test]
    fn small_parsers() {
        assert_eq!(
            school_type("vuxgy").unwrap(),
            skolsync_model::codes::Ss12000SchoolType::Vuxgy
        );
        assert_eq!(
            school_type("XX").unwrap(),
            SourceSchoolType::Other("XX".to_string())
        );
        assert!(school_type(" ").is_err());
        assert!(yes_no("Ja").unwrap() && !yes_no("").unwrap());
        assert!(yes_no("kanske").is_err());
        assert_eq!(list("a, b;c,,").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(
            name_problem("Förnamn", "Anna\u{7}")
                .unwrap()
                .contains("U+0007")
        );
        assert!(name_problem("Förnamn", "Anna\nMaria").is_some());
        assert!(name_problem("Förnamn", "Åsa-Lena").is_none());
        assert_eq!(
            school_unit_id("31279295"),
            "fb22448b-b724-5e53-8a2c-d8b339206901"
        );
        assert_eq!(derived_id(&["a", "b"]), derived_id(&["a", "b"]));
        assert_ne!(derived_id(&["a", "b"]), derived_id(&["ab"]));
    }
}
