//! The `[source]` section for `kind = "csv"`.
//!
//! ```toml
//! [source]
//! kind = "csv"
//! layout = "skolverket-template"
//! students = "export/Elevinskrivningar.csv"
//! staff = "export/Personalstjänstgöringar.csv"
//! classes = "export/Klasser.csv"
//! subject_groups = "export/Ämnesgrupp & provaktiviteter.csv"
//! # encoding = "auto"   # auto | utf-8 | windows-1252
//! # delimiter = "auto"  # auto | ";" | "," | "\t"
//! # [columns]           # a template column → the header the files use
//! # "E-postadress" = "E-post"
//! ```
//!
//! ```toml
//! [source]
//! kind = "csv"
//! layout = "flat"
//! dir = "export"
//! [source.files]
//! persons = "elever.csv"            # default persons.csv
//! [source.columns.persons]
//! given_name = "Förnamn"            # default: the field's own name
//! ```
//!
//! Paths are relative to the pipeline file's folder (flat files: to `dir`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Reading CSV exports, by layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "layout", rename_all = "kebab-case")]
// Read once per run; the size of the flat layout's column table is irrelevant.
#[allow(clippy::large_enum_variant)]
pub enum CsvConfig {
    /// The sheets of Skolverket's file-upload template, one CSV file each.
    SkolverketTemplate(TemplateConfig),
    /// One file per entity type with configurable column names.
    Flat(FlatConfig),
}

impl CsvConfig {
    /// The encoding setting.
    pub fn encoding(&self) -> CsvEncoding {
        match self {
            CsvConfig::SkolverketTemplate(c) => c.encoding,
            CsvConfig::Flat(c) => c.encoding,
        }
    }

    /// The delimiter setting.
    pub fn delimiter(&self) -> CsvDelimiter {
        match self {
            CsvConfig::SkolverketTemplate(c) => c.delimiter,
            CsvConfig::Flat(c) => c.delimiter,
        }
    }
}

/// Character encoding of the files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CsvEncoding {
    /// UTF-8 if the whole file is valid UTF-8 (with or without BOM), else Windows-1252.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// UTF-8, with or without BOM.
    #[serde(rename = "utf-8")]
    Utf8,
    /// Windows-1252 (older Swedish Windows and Excel exports).
    #[serde(rename = "windows-1252")]
    Windows1252,
}

/// Field delimiter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CsvDelimiter {
    /// Whichever of `;`, `,` and tab the header line uses most.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// `;` (Swedish Excel).
    #[serde(rename = ";")]
    Semicolon,
    /// `,`.
    #[serde(rename = ",")]
    Comma,
    /// Tab.
    #[serde(rename = "\t")]
    Tab,
}

/// Skolverket's file-upload template, sheet by sheet. Give at least one
/// sheet; each is read if given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    /// *Klasser*: Klass-ID, Klass, Skolform, Skolenhetskod, Ta bort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<PathBuf>,
    /// *Ämnesgrupp & provaktiviteter*: Grupp-ID, Ämnesgrupp, Skolform,
    /// Provaktivitetsnamn, Skolenhetskod, Ta bort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_groups: Option<PathBuf>,
    /// *Elevinskrivningar*: Person-ID, Federationsanvändarnamn, Personnummer,
    /// Sekretessmarkering, Förnamn, Mellannamn, Efternamn, E-postadress,
    /// Skolform, Skolenhetskod, Årskurs, Studievägskod, Klass, Ämnesgrupper, Ta bort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub students: Option<PathBuf>,
    /// *Personalstjänstgöringar*: Tjänstgörings-ID, Person-ID,
    /// Federationsanvändarnamn, EduID-Federationsanvändarnamn, Personnummer,
    /// Sekretessmarkering, Förnamn, Mellannamn, Efternamn, E-postadress,
    /// Skolenhetskod, Personalkategori, Ämnesgrupper, Ta bort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<PathBuf>,
    /// Character encoding (default `auto`).
    #[serde(default)]
    pub encoding: CsvEncoding,
    /// Field delimiter (default `auto`).
    #[serde(default)]
    pub delimiter: CsvDelimiter,
    /// Columns the files name differently from the template: a template
    /// column (`"E-postadress"`) → the header the files use instead
    /// (`"E-post"`), in every sheet that has the column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub columns: BTreeMap<String, String>,
}

impl TemplateConfig {
    /// The file of `sheet`, if the pipeline names one.
    pub(crate) fn sheet(&self, sheet: super::template::TemplateSheet) -> Option<&PathBuf> {
        use super::template::TemplateSheet;
        match sheet {
            TemplateSheet::Classes => self.classes.as_ref(),
            TemplateSheet::SubjectGroups => self.subject_groups.as_ref(),
            TemplateSheet::Students => self.students.as_ref(),
            TemplateSheet::Staff => self.staff.as_ref(),
        }
    }
}

/// One file per entity type, with configurable file and column names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlatConfig {
    /// The folder holding the files.
    pub dir: PathBuf,
    /// File names (relative to `dir`) where they differ from the defaults.
    /// A file left at its default name may be absent (nothing of that type
    /// is read); a file named here must exist.
    #[serde(default)]
    pub files: FlatFiles,
    /// Column names where they differ from the defaults.
    #[serde(default)]
    pub columns: FlatColumns,
    /// Character encoding (default `auto`).
    #[serde(default)]
    pub encoding: CsvEncoding,
    /// Field delimiter (default `auto`).
    #[serde(default)]
    pub delimiter: CsvDelimiter,
}

/// File names of the flat layout; each defaults to `<table>.csv`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlatFiles {
    /// Organisation elements (default `organisations.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisations: Option<PathBuf>,
    /// Persons (default `persons.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persons: Option<PathBuf>,
    /// Enrolments, one row each (default `enrolments.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrolments: Option<PathBuf>,
    /// Duties (default `duties.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duties: Option<PathBuf>,
    /// Groups (default `groups.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<PathBuf>,
    /// Group memberships, one row each (default `memberships.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memberships: Option<PathBuf>,
    /// Activities (default `activities.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activities: Option<PathBuf>,
    /// Activity → group links (default `activity_groups.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_groups: Option<PathBuf>,
    /// Activity → teacher (duty) links (default `activity_teachers.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_teachers: Option<PathBuf>,
    /// Syllabuses (default `syllabuses.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syllabuses: Option<PathBuf>,
    /// Programmes (default `programmes.csv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programmes: Option<PathBuf>,
}

impl FlatFiles {
    /// The files the config names explicitly, with their keys.
    pub fn named(&self) -> Vec<(&'static str, &PathBuf)> {
        self.tables()
            .into_iter()
            .filter_map(|(key, path)| Some((key, path?)))
            .collect()
    }

    /// Every table of the layout, in a fixed order, with the file the
    /// config names for it (`None`: the default `<table>.csv`).
    pub fn tables(&self) -> [(&'static str, Option<&PathBuf>); 11] {
        [
            ("organisations", &self.organisations),
            ("persons", &self.persons),
            ("enrolments", &self.enrolments),
            ("duties", &self.duties),
            ("groups", &self.groups),
            ("memberships", &self.memberships),
            ("activities", &self.activities),
            ("activity_groups", &self.activity_groups),
            ("activity_teachers", &self.activity_teachers),
            ("syllabuses", &self.syllabuses),
            ("programmes", &self.programmes),
        ]
        .map(|(key, path)| (key, path.as_ref()))
    }
}

/// Defines a column-mapping table whose columns default to the field names.
macro_rules! columns {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$fmeta:meta])* $field:ident ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: String, )+
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: stringify!($field).to_string(), )+ }
            }
        }
    };
}

columns! {
    /// Columns of the organisations file.
    OrganisationColumns {
        /// Source id (required).
        id,
        /// `Code_OrganisationType`, e.g. `Skolenhet` (required).
        organisation_type,
        /// Name.
        display_name,
        /// The source's own code.
        organisation_code,
        /// Organisation number.
        organisation_number,
        /// School unit code.
        school_unit_code,
        /// School types, comma separated.
        school_types,
        /// Municipality code.
        municipality_code,
        /// Id of the parent element.
        parent_id,
        /// First day, `YYYY-MM-DD`.
        start_date,
        /// Last day, `YYYY-MM-DD`.
        end_date,
    }
}

columns! {
    /// Columns of the persons file.
    PersonColumns {
        /// Source id (required).
        id,
        /// Given name.
        given_name,
        /// Middle name.
        middle_name,
        /// Family name.
        family_name,
        /// Personnummer in any common form; normalised to 12 digits.
        civic_no,
        /// `Code_SecurityMarking`.
        security_marking,
        /// EPPNs, comma separated.
        eppn,
        /// E-mail address.
        email,
        /// `Code_EmailType` of `email`.
        email_type,
        /// eduID EPPN (external identifier, context `https://eduid.se`).
        eduid_eppn,
        /// `Code_PersonStatus`.
        person_status,
    }
}

columns! {
    /// Columns of the enrolments file.
    EnrolmentColumns {
        /// The person's id (required).
        person_id,
        /// The school unit's organisation id (required).
        school_unit_id,
        /// `Code_SchoolType` (required).
        school_type,
        /// School year.
        school_year,
        /// Education (programme) code.
        education_code,
        /// Programme id.
        programme_id,
        /// First day.
        start_date,
        /// Last day.
        end_date,
        /// `true` if cancelled.
        cancelled,
    }
}

columns! {
    /// Columns of the duties file.
    DutyColumns {
        /// Source id (required).
        id,
        /// The person's id.
        person_id,
        /// Where the duty is held (required).
        school_unit_id,
        /// The role (required).
        duty_role,
        /// Signature.
        signature,
        /// First day.
        start_date,
        /// Last day.
        end_date,
    }
}

columns! {
    /// Columns of the groups file.
    GroupColumns {
        /// Source id (required).
        id,
        /// Name.
        display_name,
        /// `Code_GroupType` (required).
        group_type,
        /// `Code_SchoolType`.
        school_type,
        /// The school unit's organisation id (required).
        school_unit_id,
        /// First day.
        start_date,
        /// Last day.
        end_date,
    }
}

columns! {
    /// Columns of the memberships file.
    MembershipColumns {
        /// The group's id (required).
        group_id,
        /// The member's id (required).
        person_id,
        /// First day.
        start_date,
        /// Last day.
        end_date,
    }
}

columns! {
    /// Columns of the activities file.
    ActivityColumns {
        /// Source id (required).
        id,
        /// Name.
        display_name,
        /// `Code_ActivityType`.
        activity_type,
        /// The school unit's organisation id (required).
        school_unit_id,
        /// Syllabus id.
        syllabus_id,
        /// Parent activity ids (the national test activity), comma separated.
        parent_activity_id,
        /// First day.
        start_date,
        /// Last day.
        end_date,
    }
}

columns! {
    /// Columns of the activity → group file.
    ActivityGroupColumns {
        /// The activity's id (required).
        activity_id,
        /// The group's id (required).
        group_id,
    }
}

columns! {
    /// Columns of the activity → teacher file.
    ActivityTeacherColumns {
        /// The activity's id (required).
        activity_id,
        /// The teacher's duty id (required).
        duty_id,
        /// First day.
        start_date,
        /// Last day.
        end_date,
    }
}

columns! {
    /// Columns of the syllabuses file.
    SyllabusColumns {
        /// Source id (required).
        id,
        /// `Code_SchoolType`.
        school_type,
        /// Subject code, e.g. `GRGRMAT01`.
        subject_code,
        /// Subject name.
        subject_name,
        /// Subject designation, e.g. `MA`.
        subject_designation,
        /// Course code, e.g. `MATMAT01a`.
        course_code,
        /// Course name.
        course_name,
        /// First school year.
        start_school_year,
        /// Last school year.
        end_school_year,
    }
}

columns! {
    /// Columns of the programmes file.
    ProgrammeColumns {
        /// Source id (required).
        id,
        /// Name.
        name,
        /// Education code.
        code,
        /// `Code_SchoolType`.
        school_type,
    }
}

/// Column names per file of the flat layout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlatColumns {
    /// The organisations file.
    pub organisations: OrganisationColumns,
    /// The persons file.
    pub persons: PersonColumns,
    /// The enrolments file.
    pub enrolments: EnrolmentColumns,
    /// The duties file.
    pub duties: DutyColumns,
    /// The groups file.
    pub groups: GroupColumns,
    /// The memberships file.
    pub memberships: MembershipColumns,
    /// The activities file.
    pub activities: ActivityColumns,
    /// The activity → group file.
    pub activity_groups: ActivityGroupColumns,
    /// The activity → teacher file.
    pub activity_teachers: ActivityTeacherColumns,
    /// The syllabuses file.
    pub syllabuses: SyllabusColumns,
    /// The programmes file.
    pub programmes: ProgrammeColumns,
}

/// CSV files are local: nothing to point at the sandbox.
pub fn sandbox_redirect(
    _: &skolsync_model::sandbox::Endpoints,
) -> Option<skolsync_model::sandbox::Redirect> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_encodings_and_delimiters_read_from_toml() {
        let c: CsvConfig = toml::from_str(
            r#"
            layout = "skolverket-template"
            students = "e.csv"
            encoding = "windows-1252"
            delimiter = ";"
            "#,
        )
        .unwrap();
        assert_eq!(c.encoding(), CsvEncoding::Windows1252);
        assert_eq!(c.delimiter(), CsvDelimiter::Semicolon);
        let c: CsvConfig = toml::from_str(
            r#"
            layout = "flat"
            dir = "x"
            [files]
            persons = "elever.csv"
            [columns.persons]
            given_name = "Förnamn"
            "#,
        )
        .unwrap();
        let CsvConfig::Flat(flat) = c else {
            panic!("flat")
        };
        assert_eq!(flat.columns.persons.given_name, "Förnamn");
        assert_eq!(flat.columns.persons.family_name, "family_name");
        assert_eq!(flat.files.persons, Some(PathBuf::from("elever.csv")));
        let err = toml::from_str::<CsvConfig>(
            "layout = \"flat\"\ndir = \"x\"\n[columns.persons]\ngiven = \"F\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("given"), "{err}");
    }
}
