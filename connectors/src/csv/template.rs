//! Skolverket's file-upload template, sheet by sheet, as SS 12000 entities.
//!
//! - *Elevinskrivningar* (one row per enrolment) → a [`Person`] per
//!   Person-ID with an [`Enrolment`] per row; `Klass` and `Ämnesgrupper`
//!   become the person's memberships of those groups.
//! - *Personalstjänstgöringar* (one row per duty) → the [`Person`] (merged
//!   with a pupil of the same Person-ID) and a [`Duty`] (`Personalkategori`
//!   is the role); `Ämnesgrupper` makes the duty a teacher of the groups'
//!   activities.
//! - *Klasser* → a [`Group`] of type `Klass`.
//! - *Ämnesgrupp & provaktiviteter* → a [`Group`] of type `Undervisning`
//!   and, with a `Provaktivitetsnamn`, an [`Activity`] of that group whose
//!   `parentActivity` is the test activity's Skolverket id (UUIDv5 of the
//!   name). The activity's id is derived from the Grupp-ID.
//! - Every school unit code → an [`Organisation`] of type `Skolenhet` whose
//!   id is the unit's Skolverket id, with the school types seen there.
//! - `Ta bort = Ja` → the row's ids go out as deleted (a person only when
//!   no other row keeps them).
//!
//! Personnummer are required and normalised; an invalid one rejects the row,
//! and so does a name with a control character. Optional columns the
//! pipeline relies on are expected: `Förnamn`, `Efternamn` and
//! `Federationsanvändarnamn` in both person sheets, `Klass` when the classes
//! file is read, `Ämnesgrupper` when the subject groups file is, `Klass` in
//! *Klasser*, `Ämnesgrupp` and `Provaktivitetsnamn` in the subject groups
//! file. One the header lacks is a `missing_column` anomaly of the file,
//! which stops the run, instead of empty values.
//! A membership of a group that is not in the groups' sheet is left out
//! with a warning.
//!
//! The mapping reads [`Sheet`]s, cells by the column names of
//! [`skolsync_model::template`] (which the sandbox's export writes); the
//! CSV files are one kind of sheet.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use skolsync_model::codes::{EmailType, OrganisationType, SecurityMarking, SourceSchoolType};
use skolsync_model::ss12000::{
    DeletedEntityIds, Duty, Email, Enrolment, EntityKind, ExternalIdentifier, Meta, Organisation,
    Person, Reference,
};
use skolsync_model::template::{
    CIVIC_NO, CLASS, DUTY_ID, DUTY_ROLE, EDUCATION_CODE, EDUID_EPPN, EMAIL, EPPN, FAMILY_NAME,
    GIVEN_NAME, MIDDLE_NAME, PERSON_ID, REMOVE, SCHOOL_TYPE, SCHOOL_UNIT_CODE, SCHOOL_YEAR,
    SECURITY_MARKING, SUBJECT_GROUP, SUBJECT_GROUPS, TEST_ACTIVITY,
};

use super::config::TemplateConfig;
use super::reader::CsvFile;
use super::sheet::{Columns, Line, Renamed, Row, Sheet, renamed};
use super::{
    At, CODE_COLUMNS, Out, civic_no, derived_id, list, name_problem, school_type, school_unit_id,
    small_number, yes_no,
};
use crate::error::SourceError;
use crate::resolve;
use crate::source::{Batch, Emitter};

/// Columns of both person sheets that the pipeline maps and expects: a
/// missing one would read as empty names or logins for everyone.
const EXPECT_NAMES: [(&str, &str); 3] = [
    (GIVEN_NAME, "given names"),
    (FAMILY_NAME, "family names"),
    (EPPN, "the logins (EPPN)"),
];
/// The memberships column, expected when the subject groups file is read.
const EXPECT_SUBJECT_GROUPS: (&str, &str) = (
    SUBJECT_GROUPS,
    "subject group memberships; the subject groups file is read",
);

mod groups;
mod sheets;

use self::groups::{read_classes, read_subject_groups, warn_dangling};
pub(crate) use self::sheets::{TemplateRead, TemplateSheet, column_problems};

/// The eduID context of `EduID-Federationsanvändarnamn`.
const EDUID_CONTEXT: &str = "https://eduid.se";

/// A membership (or teaching assignment) waiting for its group.
struct Pending {
    /// Person-ID (members) or duty id (teachers).
    id: String,
    line: u64,
}

#[derive(Default)]
struct State {
    persons: Vec<Person>,
    person_index: HashMap<String, usize>,
    /// Person-IDs of removal rows.
    removed_persons: HashSet<String>,
    class_members: HashMap<String, Vec<Pending>>,
    group_members: HashMap<String, Vec<Pending>>,
    teachers: HashMap<String, Vec<Pending>>,
    units: BTreeMap<String, BTreeSet<SourceSchoolType>>,
    deleted: DeletedEntityIds,
}

/// Reads the template's CSV files.
pub(crate) fn read(
    config: &TemplateConfig,
    base_dir: &Path,
    emitter: &Emitter,
) -> Result<(), SourceError> {
    let open = |sheet: TemplateSheet, _: &[&str]| -> Result<Box<dyn Sheet>, SourceError> {
        let Some(path) = config.sheet(sheet) else {
            return Err(SourceError::Incomplete(format!(
                "the layout read `{}`, which the pipeline does not name",
                sheet.key()
            )));
        };
        let file = CsvFile::open(&resolve(base_dir, path), config.encoding, config.delimiter)?;
        Ok(Box::new(file))
    };
    let read = TemplateRead {
        sheets: TemplateSheet::ALL
            .into_iter()
            .filter(|sheet| config.sheet(*sheet).is_some())
            .collect(),
        columns: &config.columns,
    };
    read_sheets(&read, &open, emitter)
}

/// Opens a sheet of the template; the second argument names the columns
/// its header holds (the header's own names), by which a workbook finds
/// its header row below title rows.
pub(crate) type OpenSheet<'a> =
    dyn Fn(TemplateSheet, &[&str]) -> Result<Box<dyn Sheet>, SourceError> + 'a;

/// Maps the template's sheets that `read` takes, each opened by `open`
/// (a CSV file, a workbook's worksheet) and seen through the pipeline's
/// renamed columns.
pub(crate) fn read_sheets(
    read: &TemplateRead<'_>,
    open: &OpenSheet<'_>,
    emitter: &Emitter,
) -> Result<(), SourceError> {
    let mut out = Out::new(emitter);
    let mut state = State::default();
    let open = |sheet: TemplateSheet| -> Result<Box<dyn Sheet + '_>, SourceError> {
        let required: Vec<&str> = sheet
            .required()
            .iter()
            .map(|c| renamed(read.columns, c))
            .collect();
        Ok(Box::new(Renamed::new(
            open(sheet, &required)?,
            read.columns,
        )))
    };

    let students = if read.reads(TemplateSheet::Students) {
        let mut file = open(TemplateSheet::Students)?;
        let mut expected = EXPECT_NAMES.to_vec();
        if read.reads(TemplateSheet::Classes) {
            expected.push((CLASS, "the pupils' classes; the classes file is read"));
        }
        if read.reads(TemplateSheet::SubjectGroups) {
            expected.push(EXPECT_SUBJECT_GROUPS);
        }
        file.expect(&expected);
        let name = read_students(file.as_mut(), &mut state, &mut out)?;
        out.emit(Batch::Input(file.shape()))?;
        Some(name)
    } else {
        None
    };
    let staff = if read.reads(TemplateSheet::Staff) {
        let mut file = open(TemplateSheet::Staff)?;
        let mut expected = EXPECT_NAMES.to_vec();
        if read.reads(TemplateSheet::SubjectGroups) {
            expected.push(EXPECT_SUBJECT_GROUPS);
        }
        file.expect(&expected);
        let name = read_staff(file.as_mut(), &mut state, &mut out)?;
        out.emit(Batch::Input(file.shape()))?;
        Some(name)
    } else {
        None
    };
    // Everyone is known now: persons go out, and removals without a kept row.
    let persons = std::mem::take(&mut state.persons);
    for id in std::mem::take(&mut state.removed_persons) {
        if !state.person_index.contains_key(&id) {
            state.deleted.persons.push(id.as_str().into());
        }
    }
    out.send_all(persons, Batch::Persons)?;

    if read.reads(TemplateSheet::Classes) {
        let mut file = open(TemplateSheet::Classes)?;
        file.expect(&[(CLASS, "the classes' names")]);
        read_classes(file.as_mut(), &mut state, &mut out)?;
        out.emit(Batch::Input(file.shape()))?;
        if let Some(file) = &students {
            warn_dangling(
                &mut out,
                &mut state.class_members,
                EntityKind::Person,
                file,
                CLASS,
                "the classes file (Klasser)",
            )?;
        }
    }
    if read.reads(TemplateSheet::SubjectGroups) {
        let mut file = open(TemplateSheet::SubjectGroups)?;
        file.expect(&[
            (SUBJECT_GROUP, "the groups' names"),
            (
                TEST_ACTIVITY,
                "the groups' national tests; without it every test activity goes",
            ),
        ]);
        read_subject_groups(file.as_mut(), &mut state, &mut out)?;
        out.emit(Batch::Input(file.shape()))?;
        if let Some(file) = &students {
            warn_dangling(
                &mut out,
                &mut state.group_members,
                EntityKind::Person,
                file,
                SUBJECT_GROUPS,
                "the subject groups file (Ämnesgrupp & provaktiviteter)",
            )?;
        }
        if let Some(file) = &staff {
            warn_dangling(
                &mut out,
                &mut state.teachers,
                EntityKind::Duty,
                file,
                SUBJECT_GROUPS,
                "the subject groups file (Ämnesgrupp & provaktiviteter), or has no Provaktivitetsnamn",
            )?;
        }
    }

    let organisations: Vec<Organisation> = std::mem::take(&mut state.units)
        .into_iter()
        .map(|(code, types)| Organisation {
            id: school_unit_id(&code).as_str().into(),
            meta: Meta::default(),
            display_name: format!("Skolenhet {code}"),
            organisation_code: None,
            organisation_type: OrganisationType::Skolenhet,
            organisation_number: None,
            parent_organisation: None,
            school_unit_code: Some(code),
            school_types: types.into_iter().collect(),
            municipality_code: None,
            start_date: None,
            end_date: None,
        })
        .collect();
    out.send_all(organisations, Batch::Organisations)?;
    out.emit(Batch::Deleted(std::mem::take(&mut state.deleted)))?;
    out.finish()?;
    Ok(())
}

/// Reads a sheet row by row: its columns (`required` ones must be in the
/// header), lines the reader could not split rejected on the way, `each`
/// called with every other row, and at the end the columns the pipeline
/// expects checked. Returns the sheet's name.
fn each_row<'o>(
    sheet: &mut dyn Sheet,
    out: &mut Out<'o>,
    entity: EntityKind,
    (required, optional): (&[&'static str], &[&'static str]),
    mut each: impl FnMut(&mut Out<'o>, &Columns, &Row) -> Result<(), SourceError>,
) -> Result<String, SourceError> {
    let cols = Columns::named(sheet, required, optional)?;
    sheet.code_columns(&CODE_COLUMNS);
    let name = sheet.name().to_string();
    while let Some(line) = sheet.next_row()? {
        match line {
            Line::Row(row) => each(out, &cols, &row)?,
            Line::Bad {
                line,
                column,
                reason,
            } => {
                let at = At { file: &name, line };
                out.reject(at.reject(entity, "", column.as_deref().unwrap_or(""), None, reason))?;
            }
            Line::Skipped { line, reason } => {
                let at = At { file: &name, line };
                out.reject(at.reject(entity, "", "", None, reason).warning())?;
            }
        }
    }
    cols.check(sheet)?;
    Ok(name)
}

/// `raw` parsed by `parse`; a value it refuses rejects the row (`None`).
fn parsed<T>(
    out: &mut Out<'_>,
    at: At<'_>,
    (entity, id): (EntityKind, &str),
    column: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, SourceError> {
    match parse(raw) {
        Ok(value) => Ok(Some(value)),
        Err(reason) => {
            out.reject(at.reject(entity, id, column, Some(raw.to_string()), reason))?;
            Ok(None)
        }
    }
}

/// A row's removal flag; `None` when it is not one (the row is rejected).
fn removal(
    out: &mut Out<'_>,
    at: At<'_>,
    entity: EntityKind,
    id: &str,
    raw: &str,
) -> Result<Option<bool>, SourceError> {
    parsed(out, at, (entity, id), REMOVE, raw, yes_no)
}

/// The optional columns of a person sheet: those [`person_fields`] reads
/// (besides the required Person-ID and personnummer), then `more`.
fn person_columns(more: &[&'static str]) -> Vec<&'static str> {
    [
        EPPN,
        SECURITY_MARKING,
        GIVEN_NAME,
        MIDDLE_NAME,
        FAMILY_NAME,
        EMAIL,
    ]
    .iter()
    .chain(more)
    .copied()
    .collect()
}

/// What persons in both sheets share.
struct PersonFields<'r> {
    id: &'r str,
    civic: skolsync_model::ss12000::RawCivicNo,
    given: &'r str,
    middle: &'r str,
    family: &'r str,
    eppns: Vec<&'r str>,
    email: &'r str,
    email_type: EmailType,
    eduid: &'r str,
    marking: Option<SecurityMarking>,
}

/// Reads the columns persons share, rejecting the row on a bad one.
fn person_fields<'r>(
    out: &mut Out<'_>,
    cols: &Columns,
    row: &'r Row,
    at: At<'_>,
    email_type: EmailType,
) -> Result<Option<PersonFields<'r>>, SourceError> {
    let id = cols.get(row, PERSON_ID);
    // Who the row is, for a report line about a pupil the service keeps
    // as last sent; never for a protected person.
    let raw_marking = cols.get(row, SECURITY_MARKING);
    let subject = if raw_marking.is_empty() || raw_marking.eq_ignore_ascii_case("Ingen") {
        format!(
            "{} {}",
            cols.get(row, GIVEN_NAME).trim(),
            cols.get(row, FAMILY_NAME).trim()
        )
    } else {
        String::new()
    };
    let raw_civic = cols.get(row, CIVIC_NO);
    if raw_civic.is_empty() {
        out.reject(
            at.reject(
                EntityKind::Person,
                id,
                CIVIC_NO,
                None,
                "personnummer is missing",
            )
            .subject(subject),
        )?;
        return Ok(None);
    }
    let civic = match civic_no(raw_civic) {
        Ok(c) => c,
        Err((masked, reason)) => {
            out.reject(
                at.reject(EntityKind::Person, id, CIVIC_NO, Some(masked), reason)
                    .subject(subject),
            )?;
            return Ok(None);
        }
    };
    for column in [GIVEN_NAME, MIDDLE_NAME, FAMILY_NAME] {
        if let Some(reason) = name_problem(column, cols.get(row, column)) {
            out.reject(at.reject(EntityKind::Person, id, column, None, reason))?;
            return Ok(None);
        }
    }
    let marking = if raw_marking.is_empty() {
        None
    } else {
        match raw_marking.parse::<SecurityMarking>() {
            Ok(m) => Some(m),
            Err(e) => {
                out.reject(at.reject(
                    EntityKind::Person,
                    id,
                    SECURITY_MARKING,
                    Some(raw_marking.to_string()),
                    e.to_string(),
                ))?;
                return Ok(None);
            }
        }
    };
    Ok(Some(PersonFields {
        id,
        civic,
        given: cols.get(row, GIVEN_NAME),
        middle: cols.get(row, MIDDLE_NAME),
        family: cols.get(row, FAMILY_NAME),
        eppns: list(cols.get(row, EPPN)).collect(),
        email: cols.get(row, EMAIL),
        email_type,
        // Only the staff sheet has an eduID column.
        eduid: if cols.maps(EDUID_EPPN) {
            cols.get(row, EDUID_EPPN)
        } else {
            ""
        },
        marking,
    }))
}

impl State {
    /// Adds or merges a person; `Err` (reported) when the Person-ID is
    /// already taken by another personnummer.
    fn merge_person(
        &mut self,
        out: &mut Out<'_>,
        at: At<'_>,
        f: PersonFields<'_>,
    ) -> Result<Option<usize>, SourceError> {
        if let Some(&i) = self.person_index.get(f.id) {
            let p = &mut self.persons[i];
            if p.civic_no.as_ref().map(|c| c.value.as_str()) != Some(f.civic.value.as_str()) {
                out.reject(at.reject(
                    EntityKind::Person,
                    f.id,
                    CIVIC_NO,
                    Some(skolsync_model::civic_no::mask(&f.civic.value)),
                    "this Person-ID appears on an earlier row with a different personnummer",
                ))?;
                return Ok(None);
            }
            for e in f.eppns {
                if !p.edu_person_principal_names.iter().any(|x| x == e) {
                    p.edu_person_principal_names.push(e.to_string());
                }
            }
            if !f.email.is_empty() && !p.emails.iter().any(|x| x.value == f.email) {
                p.emails.push(Email {
                    value: f.email.to_string(),
                    email_type: Some(f.email_type),
                });
            }
            if !f.eduid.is_empty() && !p.external_identifiers.iter().any(|x| x.value == f.eduid) {
                p.external_identifiers.push(eduid(f.eduid));
            }
            return Ok(Some(i));
        }
        let person = Person {
            id: f.id.into(),
            meta: Meta::default(),
            given_name: f.given.to_string(),
            middle_name: (!f.middle.is_empty()).then(|| f.middle.to_string()),
            family_name: f.family.to_string(),
            edu_person_principal_names: f.eppns.iter().map(|e| e.to_string()).collect(),
            external_identifiers: if f.eduid.is_empty() {
                Vec::new()
            } else {
                vec![eduid(f.eduid)]
            },
            civic_no: Some(f.civic),
            security_marking: f.marking,
            person_status: None,
            emails: if f.email.is_empty() {
                Vec::new()
            } else {
                vec![Email {
                    value: f.email.to_string(),
                    email_type: Some(f.email_type),
                }]
            },
            enrolments: Vec::new(),
        };
        out.origin(EntityKind::Person, f.id, at)?;
        let i = self.persons.len();
        self.persons.push(person);
        self.person_index.insert(f.id.to_string(), i);
        Ok(Some(i))
    }
}

impl State {
    /// The school types seen at unit `code`, named on the row `at`; the
    /// first row naming a unit locates its organisation element.
    fn unit(
        &mut self,
        out: &mut Out<'_>,
        at: At<'_>,
        code: &str,
    ) -> Result<&mut BTreeSet<SourceSchoolType>, SourceError> {
        if !self.units.contains_key(code) {
            out.origin(EntityKind::Organisation, &school_unit_id(code), at)?;
        }
        Ok(self.units.entry(code.to_string()).or_default())
    }
}

fn eduid(value: &str) -> ExternalIdentifier {
    ExternalIdentifier {
        value: value.to_string(),
        context: EDUID_CONTEXT.to_string(),
        globally_unique: Some(true),
    }
}

/// Required, non-empty; reports and returns `None` when empty.
fn required<'r>(
    out: &mut Out<'_>,
    at: At<'_>,
    entity: EntityKind,
    id: &str,
    column: &str,
    value: &'r str,
) -> Result<Option<&'r str>, SourceError> {
    if value.is_empty() {
        out.reject(at.reject(entity, id, column, None, format!("{column} is empty")))?;
        return Ok(None);
    }
    Ok(Some(value))
}

/// *Elevinskrivningar*: pupils and their enrolments.
fn read_students(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<String, SourceError> {
    each_row(
        sheet,
        out,
        EntityKind::Person,
        (
            TemplateSheet::Students.required(),
            &person_columns(&[SCHOOL_YEAR, EDUCATION_CODE, CLASS, SUBJECT_GROUPS, REMOVE]),
        ),
        |out, cols, row| student(state, out, cols, row),
    )
}

/// One row of *Elevinskrivningar*.
fn student(
    state: &mut State,
    out: &mut Out<'_>,
    cols: &Columns,
    row: &Row,
) -> Result<(), SourceError> {
    let at = row.at();
    let Some(id) = required(
        out,
        at,
        EntityKind::Person,
        "",
        PERSON_ID,
        cols.get(row, PERSON_ID),
    )?
    else {
        return Ok(());
    };
    let Some(remove) = removal(out, at, EntityKind::Person, id, cols.get(row, REMOVE))? else {
        return Ok(());
    };
    if remove {
        state.removed_persons.insert(id.to_string());
        return Ok(());
    }
    // Memberships are recorded before the row's other fields are
    // checked: a pupil whose row is rejected (a typo in the
    // personnummer) but whom the service holds is kept stale, and stays
    // in their class and groups.
    let class = cols.get(row, CLASS);
    if !class.is_empty() {
        state
            .class_members
            .entry(class.to_string())
            .or_default()
            .push(Pending {
                id: id.to_string(),
                line: row.line,
            });
    }
    for group in list(cols.get(row, SUBJECT_GROUPS)) {
        let members = state.group_members.entry(group.to_string()).or_default();
        // One membership per person and group, however many rows list it.
        if !members.iter().any(|m| m.id == id) {
            members.push(Pending {
                id: id.to_string(),
                line: row.line,
            });
        }
    }
    let Some(code) = required(
        out,
        at,
        EntityKind::Person,
        id,
        SCHOOL_UNIT_CODE,
        cols.get(row, SCHOOL_UNIT_CODE),
    )?
    else {
        return Ok(());
    };
    let raw_type = cols.get(row, SCHOOL_TYPE);
    let Some(raw_type) = required(out, at, EntityKind::Person, id, SCHOOL_TYPE, raw_type)? else {
        return Ok(());
    };
    let who = (EntityKind::Person, id);
    let Some(school_type) = parsed(out, at, who, SCHOOL_TYPE, raw_type, school_type)? else {
        return Ok(());
    };
    let raw_year = cols.get(row, SCHOOL_YEAR);
    let Some(school_year) = parsed(out, at, who, SCHOOL_YEAR, raw_year, small_number)? else {
        return Ok(());
    };
    let Some(fields) = person_fields(out, cols, row, at, EmailType::SkolaElev)? else {
        return Ok(());
    };
    let Some(i) = state.merge_person(out, at, fields)? else {
        return Ok(());
    };
    let education_code = cols.get(row, EDUCATION_CODE);
    state.persons[i].enrolments.push(Enrolment {
        enroled_at: Reference::to(school_unit_id(code)),
        school_year,
        school_type: school_type.clone(),
        start_date: None,
        end_date: None,
        cancelled: None,
        education_code: (!education_code.is_empty()).then(|| education_code.to_string()),
        programme: None,
    });
    state.unit(out, at, code)?.insert(school_type);
    Ok(())
}

/// *Personalstjänstgöringar*: staff and their duties.
fn read_staff(
    sheet: &mut dyn Sheet,
    state: &mut State,
    out: &mut Out<'_>,
) -> Result<String, SourceError> {
    let mut duties = Vec::new();
    let mut seen: HashMap<String, u64> = HashMap::new();
    let name = each_row(
        sheet,
        out,
        EntityKind::Duty,
        (
            TemplateSheet::Staff.required(),
            &person_columns(&[DUTY_ID, EDUID_EPPN, SUBJECT_GROUPS, REMOVE]),
        ),
        |out, cols, row| {
            if let Some(duty) = duty(state, out, cols, row, &mut seen)? {
                out.push(&mut duties, duty, Batch::Duties)?;
            }
            Ok(())
        },
    )?;
    out.flush(&mut duties, Batch::Duties)?;
    Ok(name)
}

/// One row of *Personalstjänstgöringar*: its duty, unless the row is
/// rejected or a removal; `seen` holds the duty ids read so far.
fn duty(
    state: &mut State,
    out: &mut Out<'_>,
    cols: &Columns,
    row: &Row,
    seen: &mut HashMap<String, u64>,
) -> Result<Option<Duty>, SourceError> {
    let at = row.at();
    let Some(person_id) = required(
        out,
        at,
        EntityKind::Duty,
        cols.get(row, DUTY_ID),
        PERSON_ID,
        cols.get(row, PERSON_ID),
    )?
    else {
        return Ok(None);
    };
    let code = cols.get(row, SCHOOL_UNIT_CODE);
    let role = cols.get(row, DUTY_ROLE);
    let duty_id = match cols.get(row, DUTY_ID) {
        "" => derived_id(&["duty", person_id, code, role]),
        given => given.to_string(),
    };
    let Some(remove) = removal(out, at, EntityKind::Duty, &duty_id, cols.get(row, REMOVE))? else {
        return Ok(None);
    };
    if remove {
        state.deleted.duties.push(duty_id.as_str().into());
        state.removed_persons.insert(person_id.to_string());
        return Ok(None);
    }
    if let Some(first) = seen.get(&duty_id) {
        out.reject(at.reject(
            EntityKind::Duty,
            &duty_id,
            DUTY_ID,
            Some(duty_id.clone()),
            format!("the same duty id is on line {first} already"),
        ))?;
        return Ok(None);
    }
    let Some(code) = required(out, at, EntityKind::Duty, &duty_id, SCHOOL_UNIT_CODE, code)? else {
        return Ok(None);
    };
    let Some(role) = required(out, at, EntityKind::Duty, &duty_id, DUTY_ROLE, role)? else {
        return Ok(None);
    };
    let Some(fields) = person_fields(out, cols, row, at, EmailType::SkolaPersonal)? else {
        return Ok(None);
    };
    if state.merge_person(out, at, fields)?.is_none() {
        return Ok(None);
    }
    seen.insert(duty_id.clone(), row.line);
    out.origin(EntityKind::Duty, &duty_id, at)?;
    state.unit(out, at, code)?;
    for group in list(cols.get(row, SUBJECT_GROUPS)) {
        state
            .teachers
            .entry(group.to_string())
            .or_default()
            .push(Pending {
                id: duty_id.clone(),
                line: row.line,
            });
    }
    let duty = Duty {
        id: duty_id.as_str().into(),
        meta: Meta::default(),
        person: Some(Reference::to(person_id)),
        duty_at: Reference::to(school_unit_id(code)),
        duty_role: role.to_string(),
        signature: None,
        start_date: None,
        end_date: None,
    };
    Ok(Some(duty))
}
