//! `kind = "xlsx"`: an Excel workbook, in Skolverket's upload template
//! (its four sheets) or the flat layout (one sheet per entity type).
//!
//! The workbook is read with calamine (`.xlsx`; `.xls`, `.xlsb` and
//! `.ods` come with it), each worksheet as a [`Sheet`] ([`workbook`]),
//! and mapped by the CSV connector's layouts: the same entities, rejects
//! and read checks as from the same data in CSV files, with locations
//! `<sheet>:<row>` in Excel's row numbers. A workbook carries no
//! modification times per record, so every read is a full read (watermark
//! `None`); the workbook is the one input file.
//!
//! Sheets are found by name (trimmed, case-insensitively; hidden ones
//! too). A sheet the read needs that is not there is one error naming
//! each missing sheet, the key that names it and the sheets the workbook
//! has, before anything is read.

pub mod config;
mod workbook;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use skolsync_model::BuildContext;

pub use config::{TemplateSheetNames, XlsxConfig, XlsxFlatConfig, XlsxTemplateConfig};

use self::workbook::Workbook;
use crate::csv::FlatFiles;
use crate::csv::flat::{self, OpenTable};
use crate::csv::sheet::Sheet;
use crate::csv::template::{self, OpenSheet, TemplateRead, TemplateSheet};
use crate::error::{ConfigError, ConfigErrors, SourceError};
use crate::resolve;
use crate::source::{BatchStream, Emitter, ReadOptions, Source, spawn_blocking_reader};

/// A built workbook source.
pub struct XlsxSource {
    config: XlsxConfig,
    /// The workbook, resolved.
    workbook: PathBuf,
}

impl XlsxSource {
    /// Validates `config`, reporting every problem at once; the workbook
    /// resolves against the pipeline file's folder and is opened when read.
    pub fn new(config: &XlsxConfig, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let mut problems = ConfigErrors::new();
        if config.workbook().as_os_str().is_empty() {
            problems.push(ConfigError::invalid("workbook", "is empty"));
        }
        match config {
            XlsxConfig::SkolverketTemplate(t) => {
                for sheet in TemplateSheet::ALL {
                    if template_sheet(&t.sheets, sheet).is_some_and(|n| n.trim().is_empty()) {
                        problems.push(ConfigError::invalid(
                            format!("sheets.{}", sheet.key()),
                            "is empty; give the sheet's name in the workbook",
                        ));
                    }
                }
                for problem in template::column_problems(&t.columns) {
                    problems.push(problem);
                }
            }
            XlsxConfig::Flat(f) => {
                let tables: Vec<&str> = FlatFiles::default()
                    .tables()
                    .iter()
                    .map(|(table, _)| *table)
                    .collect();
                for (table, name) in &f.sheets {
                    let field = format!("sheets.{table}");
                    if !tables.contains(&table.as_str()) {
                        problems.push(ConfigError::invalid(
                            field,
                            format!(
                                "`{table}` is no table of the flat layout; its tables are: {}",
                                tables.join(", ")
                            ),
                        ));
                    } else if name.trim().is_empty() {
                        problems.push(ConfigError::invalid(
                            field,
                            "is empty; give the sheet's name in the workbook",
                        ));
                    }
                }
            }
        }
        problems.finish(XlsxSource {
            config: config.clone(),
            workbook: resolve(ctx.base_dir(), config.workbook()),
        })
    }
}

/// The name `names` gives the template sheet `sheet`, if any.
fn template_sheet(names: &TemplateSheetNames, sheet: TemplateSheet) -> Option<&String> {
    match sheet {
        TemplateSheet::Classes => names.classes.as_ref(),
        TemplateSheet::SubjectGroups => names.subject_groups.as_ref(),
        TemplateSheet::Students => names.students.as_ref(),
        TemplateSheet::Staff => names.staff.as_ref(),
    }
}

impl Source for XlsxSource {
    fn describe(&self) -> String {
        let layout = match &self.config {
            XlsxConfig::SkolverketTemplate(_) => "skolverket-template",
            XlsxConfig::Flat(_) => "flat",
        };
        format!("xlsx {layout} {}", self.workbook.display())
    }

    fn missing_files(&self) -> Vec<(String, PathBuf)> {
        if self.workbook.is_file() {
            Vec::new()
        } else {
            vec![("workbook".to_string(), self.workbook.clone())]
        }
    }

    /// The workbook: every sheet a read takes is in it.
    fn input_files(&self) -> Vec<PathBuf> {
        vec![self.workbook.clone()]
    }

    fn read(&self, options: ReadOptions) -> BatchStream {
        let config = self.config.clone();
        let path = self.workbook.clone();
        // calamine reads on a blocking thread; a panic in it ends as an
        // error of the read, not of the program.
        spawn_blocking_reader(
            options.progress,
            "workbook reader",
            move |out| match &config {
                XlsxConfig::SkolverketTemplate(t) => read_template(t, &path, out),
                XlsxConfig::Flat(f) => read_flat(f, &path, out),
            },
        )
    }
}

/// Reads the template's four sheets from the workbook at `path`.
fn read_template(
    config: &XlsxTemplateConfig,
    path: &Path,
    emitter: &Emitter,
) -> Result<(), SourceError> {
    let book = Workbook::open(path)?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for sheet in TemplateSheet::ALL {
        let wanted =
            template_sheet(&config.sheets, sheet).map_or(sheet.template_name(), String::as_str);
        match book.find(wanted) {
            Some(name) => found.push((sheet, name)),
            None => missing.push(format!("`{wanted}` (source.sheets.{})", sheet.key())),
        }
    }
    if !missing.is_empty() {
        return Err(book.error(format!(
            "the workbook has no sheet {}; its sheets are: {}. Name each sheet in \
             [source.sheets] if it is called otherwise",
            missing.join(", "),
            book.quoted_names()
        )));
    }
    let book = RefCell::new(book);
    let open = |sheet: TemplateSheet, required: &[&str]| -> Result<Box<dyn Sheet>, SourceError> {
        let name = found
            .iter()
            .find(|(s, _)| *s == sheet)
            .map(|(_, name)| name.as_str())
            .ok_or_else(|| SourceError::Incomplete(format!("no sheet for `{}`", sheet.key())))?;
        Ok(Box::new(book.borrow_mut().sheet(name, required)?))
    };
    let open: &OpenSheet<'_> = &open;
    let read = TemplateRead {
        sheets: TemplateSheet::ALL.to_vec(),
        columns: &config.columns,
    };
    template::read_sheets(&read, open, emitter)
}

/// Reads the flat layout's sheets from the workbook at `path`.
fn read_flat(config: &XlsxFlatConfig, path: &Path, emitter: &Emitter) -> Result<(), SourceError> {
    let book = Workbook::open(path)?;
    let missing: Vec<String> = config
        .sheets
        .iter()
        .filter(|(_, name)| book.find(name).is_none())
        .map(|(table, name)| format!("`{name}` (source.sheets.{table})"))
        .collect();
    if !missing.is_empty() {
        return Err(book.error(format!(
            "the workbook has no sheet {}; its sheets are: {}",
            missing.join(", "),
            book.quoted_names()
        )));
    }
    let nothing = book.error(format!(
        "none of the flat layout's sheets (persons, groups, …) is in the workbook; its sheets \
         are: {}",
        book.quoted_names()
    ));
    let book = RefCell::new(book);
    let open =
        |table: &'static str, required: &[&str]| -> Result<Option<Box<dyn Sheet>>, SourceError> {
            let wanted = config.sheets.get(table).map_or(table, String::as_str);
            let Some(name) = book.borrow().find(wanted) else {
                tracing::info!(sheet = wanted, "no such sheet; nothing of it is read");
                return Ok(None);
            };
            let sheet = book.borrow_mut().sheet(&name, required)?;
            Ok(Some(Box::new(sheet)))
        };
    let open: &OpenTable<'_> = &open;
    flat::read_tables(&config.columns, open, emitter, || nothing)
}
