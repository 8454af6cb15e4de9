//! Which of the template's sheets a read takes, by the key that configures
//! each, and the columns the pipeline renames.
//!
//! Why here: the CSV files and the workbook's worksheets are the same four
//! sheets under different names; the layout reads them by key, and each
//! source says how a key is opened (a file, a worksheet).

use std::collections::BTreeMap;

use skolsync_model::template::{
    CIVIC_NO, CLASS_ID, CLASSES_HEADER, CLASSES_SHEET, DUTY_ROLE, GROUP_ID, PERSON_ID, SCHOOL_TYPE,
    SCHOOL_UNIT_CODE, STAFF_HEADER, STAFF_SHEET, STUDENTS_HEADER, STUDENTS_SHEET,
    SUBJECT_GROUPS_HEADER, SUBJECT_GROUPS_SHEET,
};

use crate::error::ConfigError;

/// One of the template's four sheets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TemplateSheet {
    /// *Klasser*.
    Classes,
    /// *Ämnesgrupp & provaktiviteter*.
    SubjectGroups,
    /// *Elevinskrivningar*.
    Students,
    /// *Personalstjänstgöringar*.
    Staff,
}

impl TemplateSheet {
    /// The four, in the template's order.
    pub(crate) const ALL: [TemplateSheet; 4] = [
        TemplateSheet::Classes,
        TemplateSheet::SubjectGroups,
        TemplateSheet::Students,
        TemplateSheet::Staff,
    ];

    /// The key that configures it (`students`, …).
    pub(crate) fn key(self) -> &'static str {
        match self {
            TemplateSheet::Classes => "classes",
            TemplateSheet::SubjectGroups => "subject_groups",
            TemplateSheet::Students => "students",
            TemplateSheet::Staff => "staff",
        }
    }

    /// Its name in Skolverket's template.
    pub(crate) fn template_name(self) -> &'static str {
        match self {
            TemplateSheet::Classes => CLASSES_SHEET,
            TemplateSheet::SubjectGroups => SUBJECT_GROUPS_SHEET,
            TemplateSheet::Students => STUDENTS_SHEET,
            TemplateSheet::Staff => STAFF_SHEET,
        }
    }

    /// The columns its header must hold (by the template's names); a
    /// workbook's header row is the first row that holds them.
    pub(crate) fn required(self) -> &'static [&'static str] {
        match self {
            TemplateSheet::Classes => &[CLASS_ID, SCHOOL_TYPE, SCHOOL_UNIT_CODE],
            TemplateSheet::SubjectGroups => &[GROUP_ID, SCHOOL_TYPE, SCHOOL_UNIT_CODE],
            TemplateSheet::Students => &[PERSON_ID, CIVIC_NO, SCHOOL_TYPE, SCHOOL_UNIT_CODE],
            TemplateSheet::Staff => &[PERSON_ID, CIVIC_NO, SCHOOL_UNIT_CODE, DUTY_ROLE],
        }
    }
}

/// What a template read takes.
pub(crate) struct TemplateRead<'a> {
    /// The sheets read; the others are not.
    pub(crate) sheets: Vec<TemplateSheet>,
    /// `[source.columns]`: a template column → the header the sheets use
    /// instead.
    pub(crate) columns: &'a BTreeMap<String, String>,
}

impl TemplateRead<'_> {
    /// Whether `sheet` is read.
    pub(crate) fn reads(&self, sheet: TemplateSheet) -> bool {
        self.sheets.contains(&sheet)
    }
}

/// The problems of a `[source.columns]` table of the template layout: a
/// key that is no column of the template (a typo would otherwise rename
/// nothing, silently), an empty header name.
pub(crate) fn column_problems(columns: &BTreeMap<String, String>) -> Vec<ConfigError> {
    let known: Vec<&str> = CLASSES_HEADER
        .iter()
        .chain(&SUBJECT_GROUPS_HEADER)
        .chain(&STUDENTS_HEADER)
        .chain(&STAFF_HEADER)
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(name) {
                names.push(*name);
            }
            names
        });
    let mut problems = Vec::new();
    for (from, to) in columns {
        let field = format!("columns.\"{from}\"");
        if !known
            .iter()
            .any(|k| k.to_lowercase() == from.trim().to_lowercase())
        {
            problems.push(ConfigError::invalid(
                field.clone(),
                format!(
                    "`{from}` is no column of Skolverket's template; its columns are: {}",
                    super::super::sheet::quoted(&known)
                ),
            ));
        }
        if to.trim().is_empty() {
            problems.push(ConfigError::invalid(
                field,
                "is empty; give the header the sheets use instead",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renamed_columns_must_be_template_columns() {
        let mut columns = BTreeMap::new();
        columns.insert("e-postadress".to_string(), "E-post".to_string());
        assert!(column_problems(&columns).is_empty());
        columns.insert("Epost".to_string(), " ".to_string());
        let problems: Vec<String> = column_problems(&columns)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].contains("columns.\"Epost\"") && problems[0].contains("`Personnummer`"),
            "{problems:?}"
        );
        assert!(problems[1].contains("is empty"), "{problems:?}");
    }
}
