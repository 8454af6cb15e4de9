//! The `[source]` section for `kind = "xlsx"`.
//!
//! ```toml
//! [source]
//! kind = "xlsx"
//! layout = "skolverket-template"
//! workbook = "data/Överföring.xlsx"
//! # [source.sheets]               # where sheets differ from the template's names
//! # students = "Elever"
//! # [source.columns]              # a template column → the header used instead
//! # "E-postadress" = "E-post"
//! ```
//!
//! ```toml
//! [source]
//! kind = "xlsx"
//! layout = "flat"
//! workbook = "data/export.xlsx"
//! [source.sheets]
//! persons = "Personer"            # default: the table's name
//! [source.columns.persons]
//! given_name = "Förnamn"          # as the CSV flat layout
//! ```
//!
//! The workbook's path is relative to the pipeline file's folder.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::csv::FlatColumns;

/// Reading an Excel workbook (`.xlsx`; `.xls`, `.xlsb` and `.ods` too), by
/// layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "layout", rename_all = "kebab-case")]
// Read once per run; the size of the flat layout's column table is irrelevant.
#[allow(clippy::large_enum_variant)]
pub enum XlsxConfig {
    /// Skolverket's upload template: its four sheets in one workbook.
    SkolverketTemplate(XlsxTemplateConfig),
    /// One sheet per entity type with configurable column names.
    Flat(XlsxFlatConfig),
}

impl XlsxConfig {
    /// The workbook's path as configured.
    pub fn workbook(&self) -> &PathBuf {
        match self {
            XlsxConfig::SkolverketTemplate(c) => &c.workbook,
            XlsxConfig::Flat(c) => &c.workbook,
        }
    }
}

/// Skolverket's upload template as a workbook. All four sheets are read;
/// each must be there (an empty sheet with its header is fine).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XlsxTemplateConfig {
    /// The workbook, relative to the pipeline file's folder.
    pub workbook: PathBuf,
    /// Sheet names where they differ from the template's (matched trimmed
    /// and case-insensitively).
    #[serde(default)]
    pub sheets: TemplateSheetNames,
    /// Columns the sheets name differently from the template: a template
    /// column (`"E-postadress"`) → the header the workbook uses instead
    /// (`"E-post"`), in every sheet that has the column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}

/// The names of the template's sheets in the workbook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TemplateSheetNames {
    /// *Klasser* (default `Klasser`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classes: Option<String>,
    /// *Ämnesgrupp & provaktiviteter* (default `Ämnesgrupp & provaktiviteter`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_groups: Option<String>,
    /// *Elevinskrivningar* (default `Elevinskrivningar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub students: Option<String>,
    /// *Personalstjänstgöringar* (default `Personalstjänstgöringar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
}

/// One sheet per entity type of the flat layout, in one workbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct XlsxFlatConfig {
    /// The workbook, relative to the pipeline file's folder.
    pub workbook: PathBuf,
    /// Sheet names by table (`persons`, `enrolments`, `duties`, `groups`,
    /// `memberships`, `activities`, `activity_groups`, `activity_teachers`,
    /// `organisations`, `syllabuses`, `programmes`) where they differ from
    /// the table's name. A sheet left at its default name may be absent
    /// (nothing of that type is read); a sheet named here must exist.
    #[serde(default)]
    pub sheets: BTreeMap<String, String>,
    /// Column names where they differ from the defaults (as the CSV flat
    /// layout's `[source.columns.*]`).
    #[serde(default)]
    pub columns: FlatColumns,
}

/// Workbooks are local: nothing to point at the sandbox.
pub fn sandbox_redirect(
    _: &skolsync_model::sandbox::Endpoints,
) -> Option<skolsync_model::sandbox::Redirect> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_read_from_toml_and_unknown_keys_are_refused() {
        let c: XlsxConfig = toml::from_str(
            "layout = \"skolverket-template\"\nworkbook = \"a.xlsx\"\n[sheets]\nstudents = \"Elever\"\n[columns]\n\"E-postadress\" = \"E-post\"\n",
        )
        .unwrap();
        let XlsxConfig::SkolverketTemplate(t) = &c else {
            panic!("template")
        };
        assert_eq!(t.sheets.students.as_deref(), Some("Elever"));
        assert_eq!(t.columns["E-postadress"], "E-post");
        assert_eq!(c.workbook(), &PathBuf::from("a.xlsx"));
        let c: XlsxConfig = toml::from_str(
            "layout = \"flat\"\nworkbook = \"b.xlsx\"\n[sheets]\npersons = \"P\"\n[columns.persons]\ngiven_name = \"Förnamn\"\n",
        )
        .unwrap();
        let XlsxConfig::Flat(f) = c else {
            panic!("flat")
        };
        assert_eq!(f.sheets["persons"], "P");
        assert_eq!(f.columns.persons.given_name, "Förnamn");
        let err = toml::from_str::<XlsxConfig>(
            "layout = \"skolverket-template\"\nworkbook = \"a.xlsx\"\n[sheets]\npupils = \"E\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pupils"), "{err}");
    }
}
