//! A deterministic synthetic municipality: the data every emulator serves.
//!
//! [`generate`] builds, from a seed and a number of students, both sides of
//! what skolsync connects:
//!
//! - [`Municipality::catalogue`], Skolverket's open-data view: the organiser
//!   (id = UUIDv5 of its organisation number), every school unit (`Active`,
//!   `dnpStatus: true`, school types and years), two extra units for reject
//!   tests (one `Expired`, one with `dnpStatus: false`, both without pupils),
//!   the GY programmes and the national test activities (GR years 3/6/9,
//!   GY courses) with ids = UUIDv5(nil, displayName).
//! - [`Municipality::source`], the school system's SS 12000 view: the
//!   organiser and its school units (F–6, 7–9, F–9, GY; about one per 350
//!   pupils), pupils with valid unique personnummer (some samordningsnummer
//!   and temporary `TF` numbers), Swedish names, protected identities, EPPNs
//!   that do not reveal the name, enrolments, classes, teaching groups for
//!   tested subjects and courses and groups without a test, staff with
//!   duties, activities with teachers and syllabuses (some already carrying
//!   the test activity as `parentActivity`), a few ended memberships and
//!   enrolments, and a few deletions; with `vux_students`, adults enrolled
//!   in VUXGY at a GY unit that offers it.
//!
//! Everything is a function of [`GenerateConfig`]: the random source is a
//! ChaCha8 generator seeded with `seed`, ids are UUIDv5 over a namespace
//! derived from the seed, and all dates hang off the fixed
//! [`REFERENCE_DATE`] — never the wall clock. Records that are current have
//! no end date, so the data stays current as real time passes; ended records
//! end before the reference date.
//!
//! # Dirt
//!
//! With `dirt > 0` that share of the records of each eligible category (at
//! least one per fault kind of the category) gets exactly one fault of
//! [`DirtKind`], and [`Municipality::dirty`] lists each broken record with
//! its fault. Only the broken record itself is listed, not its consequences
//! (a group whose member was rejected gets a `Warning`; an activity whose
//! teacher's duty was rejected is held back). Faults are put where their
//! consequences stay small: staff faults on non-teaching staff, unknown
//! school units on classes and non-teaching duties, and never on pupils of
//! förskoleklass (out of scope, so they would never be rejected).
//!
//! Faults the typed SS 12000 model cannot hold (an unknown enum value such
//! as `groupType: "Studiegrupp"` or `activityType: "Lektion"`) are stored as
//! raw JSON in [`SourceData::raw_overrides`], keyed by kind and id: the typed
//! entity stays in its list with a valid value, and **SS 12000 emulators
//! must serve the override in its place**. The CSV export's flat layout
//! writes the override's value too.
//!
//! With `dirt = 0` every record satisfies the provtjänst profile rules;
//! records outside the profile's scope (förskoleklass, mentor groups,
//! teaching groups of untested subjects) are there so scope filters can be
//! tested.
//!
//! [`csv_export`] writes the same data as Skolverket's file-upload template
//! sheets or as a flat one-file-per-entity layout; [`xlsx_export`] writes
//! the template sheets' same rows as Skolverket's upload workbook, clean or
//! as hand-filled workbooks are.

mod build;
pub(crate) mod civic;
pub mod csv_export;
mod curriculum;
mod dirt;
pub(crate) mod names;
pub mod xlsx_export;

use chrono::NaiveDate;
use skolsync_model::ss12000::{EntityKind, SourceId};

use crate::world::{Catalogue, SourceData, World};

pub use csv_export::{
    CivicNoFormat, CsvEncoding, CsvExportError, CsvLayout, CsvOptions, export_csv,
};
pub use dirt::{UNKNOWN_ACTIVITY_TYPE, UNKNOWN_GROUP_TYPE};
pub use xlsx_export::{
    WorkbookDirt, WorkbookExportError, WorkbookOptions, export_template_workbook, template_workbook,
};

/// A date for the constants below; it only runs at compile time, where an
/// invalid date stops the build.
#[expect(
    clippy::panic,
    reason = "evaluated in const items only, so an invalid date is a build error, never a runtime one"
)]
const fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => d,
        None => panic!("invalid constant date"),
    }
}

/// The "today" of the generated data (the first week of the autumn term
/// 2026): everything current is active on it, everything ended ended before.
pub const REFERENCE_DATE: NaiveDate = date(2026, 8, 20);

/// First day of the autumn term: start date of groups, activities and
/// most memberships.
pub const TERM_START: NaiveDate = date(2026, 8, 17);

/// How the municipality is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// Number of pupils (förskoleklass to GY year 3).
    pub students: usize,
    /// Seed of every random choice and of the ids.
    pub seed: u64,
    /// Share (0.0–1.0) of records in each eligible category made invalid.
    pub dirt: f64,
    /// Name of the municipality, without "kommun".
    pub municipality_name: String,
    /// Four-digit municipality code (kommunkod).
    pub municipality_code: String,
    /// Share of test teaching activities that already carry their
    /// `parentActivity`; the others must be resolved from their syllabus.
    pub parent_activity_share: f64,
    /// Pupils per compulsory school unit, roughly (GY units take about
    /// half as many again).
    pub students_per_unit: usize,
    /// Adults in municipal adult education at gymnasial level, on top of
    /// `students`. With any, the first GY unit also offers `VUXGY` (in its
    /// SS 12000 `schoolTypes` and in open-data, `dnpStatus: true`, no
    /// years) and these adults are enrolled there with `schoolType: VUXGY`,
    /// no school year and no education code (the Provisioning API requires
    /// one for `GY` only). They belong to no group.
    pub vux_students: usize,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            students: 2000,
            seed: 1,
            dirt: 0.0,
            municipality_name: "Exempelby".to_string(),
            // Not a real municipality code (county 01 ends at 0192).
            municipality_code: "0199".to_string(),
            parent_activity_share: 0.3,
            students_per_unit: 350,
            vux_students: 0,
        }
    }
}

/// A kind of deliberately invalid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DirtKind {
    /// A personnummer whose Luhn check digit is wrong (Person).
    InvalidCivicNo,
    /// A personnummer with an impossible date (`…0230…`, `…1301…`) but a
    /// correct check digit for it (Person).
    InvalidCivicNoDate,
    /// A staff member without any e-mail address (Person).
    StaffWithoutEmail,
    /// An enrolment (Person), duty (Duty) or class (Group) at a school unit
    /// that exists in the source but whose code open-data does not know.
    UnknownSchoolUnit,
    /// A group membership of a person id that does not exist (Group).
    DanglingMembership,
    /// An activity teacher whose duty id does not exist (Activity).
    DanglingTeacher,
    /// An enum value outside the code list, served from
    /// [`SourceData::raw_overrides`]: `groupType: "Studiegrupp"` (Group) or
    /// `activityType: "Lektion"` (Activity).
    UnknownEnumValue,
    /// A person without any EPPN (Person).
    MissingEppn,
    /// A person whose EPPN another person, earlier in `source.persons`,
    /// already holds (Person); for staff the earlier holder may be a pupil,
    /// which also breaks "different EPPNs for the student and staff roles".
    DuplicateEppn,
}

impl DirtKind {
    /// Every kind.
    pub const ALL: [DirtKind; 9] = [
        DirtKind::InvalidCivicNo,
        DirtKind::InvalidCivicNoDate,
        DirtKind::StaffWithoutEmail,
        DirtKind::UnknownSchoolUnit,
        DirtKind::DanglingMembership,
        DirtKind::DanglingTeacher,
        DirtKind::UnknownEnumValue,
        DirtKind::MissingEppn,
        DirtKind::DuplicateEppn,
    ];
}

/// One deliberately broken record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DirtyRecord {
    /// The entity type.
    pub kind: EntityKind,
    /// The entity's source id.
    pub id: SourceId,
    /// What is wrong with it.
    pub fault: DirtKind,
}

/// A generated municipality: both the open-data and the school-system view.
#[derive(Debug, Clone)]
pub struct Municipality {
    /// Name of the organiser, e.g. `Exempelby kommun`.
    pub name: String,
    /// The organiser's organisation number (10 digits, Luhn-valid).
    pub organisation_number: String,
    /// Four-digit municipality code.
    pub municipality_code: String,
    /// Internet domain; EPPNs are `…@edu.<domain>`.
    pub domain: String,
    /// The "today" of the data ([`REFERENCE_DATE`]).
    pub reference_date: NaiveDate,
    /// Skolverket's open-data view.
    pub catalogue: Catalogue,
    /// The school system's SS 12000 view.
    pub source: SourceData,
    /// Every deliberately broken record (empty when `dirt` is 0).
    pub dirty: Vec<DirtyRecord>,
}

impl Municipality {
    /// Wraps the data for the emulators.
    pub fn into_world(self) -> World {
        World::new(self.catalogue, self.source)
    }

    /// The school unit code of a source organisation id, if it is a unit.
    pub fn school_unit_code(&self, organisation: &SourceId) -> Option<&str> {
        self.source
            .organisations
            .iter()
            .find(|o| &o.id == organisation)
            .and_then(|o| o.school_unit_code.as_deref())
    }
}

/// Generates the municipality `config` describes. Same config, same data.
pub fn generate(config: &GenerateConfig) -> Municipality {
    let (mut municipality, eligible) = build::build(config);
    if config.dirt > 0.0 {
        dirt::apply(config, &mut municipality, &eligible);
    }
    municipality
}
