//! The desired state as the rows of Skolverket's upload template.
//!
//! The template is not the Provisioning API's shape: a pupil is one row
//! per enrolment carrying the person, the school unit, the class and the
//! subject groups; a teacher one row per duty with the subject groups
//! taught; a subject group one row with the national test it takes. So
//! the rows join entities — which is why the sink asks for the whole
//! desired state — and some of the state has no place in them (an
//! activity's own name and id, a group of another type, a second test for
//! one group, VUXGY pupils, which Skolverket's checklist says cannot be
//! sent by file). Those are listed as [`LeftOut`], with the reason, for
//! the report.
//!
//! Ids in the file are Skolverket's ids (the UUIDs push and pull would
//! send), so a file read back through the template source gives the same
//! ids for persons, duties and groups.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use skolsync_model::ObjectType;
use skolsync_model::codes::{GroupType, SchoolType};
use skolsync_model::plan::{Desired, DesiredState, Plan};
use skolsync_model::provtjanst::{Duty, Group, Person};
use skolsync_model::template::{
    CLASSES_HEADER, CLASSES_SHEET, STAFF_HEADER, STAFF_SHEET, STUDENTS_HEADER, STUDENTS_SHEET,
    SUBJECT_GROUPS_HEADER, SUBJECT_GROUPS_SHEET,
};
use uuid::Uuid;

/// The eduID context of an external identifier (the staff sheet's
/// `EduID-Federationsanvändarnamn`).
const EDUID_CONTEXT: &str = "https://eduid.se";

/// A sheet of the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    /// *Klasser*.
    Classes,
    /// *Ämnesgrupp & provaktiviteter*.
    SubjectGroups,
    /// *Elevinskrivningar*.
    Students,
    /// *Personalstjänstgöringar*.
    Staff,
}

impl SheetKind {
    /// The sheets in the template's order.
    pub const ALL: [SheetKind; 4] = [
        SheetKind::Classes,
        SheetKind::SubjectGroups,
        SheetKind::Students,
        SheetKind::Staff,
    ];

    /// The sheet's name in the workbook.
    pub const fn name(self) -> &'static str {
        match self {
            SheetKind::Classes => CLASSES_SHEET,
            SheetKind::SubjectGroups => SUBJECT_GROUPS_SHEET,
            SheetKind::Students => STUDENTS_SHEET,
            SheetKind::Staff => STAFF_SHEET,
        }
    }

    /// The template's header, `Ta bort` last.
    pub fn header(self) -> &'static [&'static str] {
        match self {
            SheetKind::Classes => &CLASSES_HEADER,
            SheetKind::SubjectGroups => &SUBJECT_GROUPS_HEADER,
            SheetKind::Students => &STUDENTS_HEADER,
            SheetKind::Staff => &STAFF_HEADER,
        }
    }

    /// The `snake_case` name used in the state store and reports.
    pub const fn key(self) -> &'static str {
        match self {
            SheetKind::Classes => "classes",
            SheetKind::SubjectGroups => "subject_groups",
            SheetKind::Students => "students",
            SheetKind::Staff => "staff",
        }
    }

    /// The sheet of a [`Self::key`].
    pub fn from_key(key: &str) -> Option<SheetKind> {
        SheetKind::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// One row of the workbook, `Ta bort` aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRow {
    /// Its sheet.
    pub sheet: SheetKind,
    /// What the row is about, stable across files: the Klass-ID, the
    /// Grupp-ID, the Tjänstgörings-ID, or for an enrolment the Person-ID,
    /// Skolenhetskod and Skolform together.
    pub key: String,
    /// The cells in the header's order, without `Ta bort`.
    pub cells: Vec<String>,
}

/// Something of the desired state the file cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// The entity it belongs to.
    pub kind: ObjectType,
    /// Its Skolverket id.
    pub id: Uuid,
    /// The source record's id.
    pub source_id: String,
    /// Why.
    pub reason: String,
}

/// The rows of a desired state and what could not be put in them.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The rows, sheet by sheet in the template's order.
    pub rows: Vec<UploadRow>,
    /// What has no place in the file.
    pub left_out: Vec<LeftOut>,
    /// Entities that have no row at all (every part of them left out),
    /// with the reason: their outcome says so.
    pub without_rows: HashMap<(ObjectType, Uuid), String>,
}

/// What the rows are joined through.
struct Joins<'a> {
    units: HashMap<Uuid, &'a str>,
    persons: HashMap<Uuid, &'a Desired<Person>>,
    /// (person, school unit) → the class's id.
    class_of: HashMap<(Uuid, Uuid), Uuid>,
    /// (person, school unit) → the subject groups written.
    subject_groups_of: HashMap<(Uuid, Uuid), BTreeSet<Uuid>>,
    /// duty → the subject groups of the activities it teaches.
    taught_by: HashMap<Uuid, BTreeSet<Uuid>>,
    /// Persons with a duty (they have a staff row).
    on_duty: HashSet<Uuid>,
}

/// Renders `plan`'s whole desired state (`whole`) into rows.
pub fn render(plan: &Plan, whole: &DesiredState) -> Rendered {
    let mut out = Rendered::default();
    let units: HashMap<Uuid, &str> = plan
        .school_units
        .iter()
        .map(|u| (u.id, u.code.as_str()))
        .collect();
    let tests: HashMap<Uuid, &str> = plan
        .test_activities
        .iter()
        .map(|t| (t.id, t.name.as_str()))
        .collect();
    let mut joins = Joins {
        units,
        persons: whole.persons.iter().map(|p| (p.id, p)).collect(),
        class_of: HashMap::new(),
        subject_groups_of: HashMap::new(),
        taught_by: HashMap::new(),
        on_duty: whole.duties.iter().map(|d| d.payload.person.id).collect(),
    };
    let written_groups = group_rows(whole, &tests, &mut joins, &mut out);
    for activity in &whole.activities {
        let groups: Vec<Uuid> = activity
            .payload
            .groups
            .iter()
            .map(|g| g.id)
            .filter(|g| written_groups.contains(g))
            .collect();
        for teacher in &activity.payload.teachers {
            joins
                .taught_by
                .entry(teacher.duty.id)
                .or_default()
                .extend(groups.iter().copied());
        }
    }
    student_rows(whole, &joins, &mut out);
    staff_rows(whole, &joins, &mut out);
    out.rows
        .sort_by(|a, b| (a.sheet, &a.key).cmp(&(b.sheet, &b.key)));
    out
}

/// The rows of both group sheets; the ids of the groups written. Fills the
/// memberships the person rows name.
fn group_rows(
    whole: &DesiredState,
    tests: &HashMap<Uuid, &str>,
    joins: &mut Joins<'_>,
    out: &mut Rendered,
) -> BTreeSet<Uuid> {
    // group → the tests of its activities, sorted.
    let mut tests_of: HashMap<Uuid, BTreeSet<&str>> = HashMap::new();
    for activity in &whole.activities {
        let Some(test) = tests.get(&activity.payload.parent_activity.id) else {
            left_out(
                out,
                activity,
                ObjectType::Activity,
                "open-data does not name its test activity, so the file cannot say which test",
            );
            continue;
        };
        for group in &activity.payload.groups {
            tests_of.entry(group.id).or_default().insert(test);
        }
    }
    let mut written = BTreeSet::new();
    for group in &whole.groups {
        let g = &group.payload;
        let Some(code) = joins.units.get(&g.organisation.id).copied() else {
            no_row(
                out,
                group,
                ObjectType::Group,
                "its school unit is not known to open-data",
            );
            continue;
        };
        let (sheet, test) = match g.group_type {
            GroupType::Klass => (SheetKind::Classes, None),
            GroupType::Undervisning => {
                let mut names = tests_of.remove(&group.id).unwrap_or_default().into_iter();
                let Some(first) = names.next() else {
                    no_row(
                        out,
                        group,
                        ObjectType::Group,
                        "a subject group without a test activity has no place in the template",
                    );
                    continue;
                };
                let rest: Vec<&str> = names.collect();
                if !rest.is_empty() {
                    left_out(
                        out,
                        group,
                        ObjectType::Group,
                        &format!(
                            "the template holds one test activity per subject group: {first} is \
                             written, {} left out",
                            rest.join(", ")
                        ),
                    );
                }
                (SheetKind::SubjectGroups, Some(first))
            }
            other => {
                no_row(
                    out,
                    group,
                    ObjectType::Group,
                    &format!("the template has no sheet for groups of type {other}"),
                );
                continue;
            }
        };
        written.insert(group.id);
        memberships(g, sheet, joins, out, group);
        let id = group.id.to_string();
        let cells = match test {
            None => vec![
                id.clone(),
                text(&g.display_name),
                g.school_type.to_string(),
                code.into(),
            ],
            Some(test) => vec![
                id.clone(),
                text(&g.display_name),
                g.school_type.to_string(),
                test.to_string(),
                code.into(),
            ],
        };
        out.rows.push(UploadRow {
            sheet,
            key: id,
            cells,
        });
    }
    written
}

/// Records a written group's members for their enrolment rows.
fn memberships(
    g: &Group,
    sheet: SheetKind,
    joins: &mut Joins<'_>,
    out: &mut Rendered,
    group: &Desired<Group>,
) {
    let unit = g.organisation.id;
    for member in &g.group_memberships {
        let key = (member.person.id, unit);
        if sheet == SheetKind::SubjectGroups {
            joins.subject_groups_of.entry(key).or_default().insert(g.id);
            continue;
        }
        match joins.class_of.get(&key) {
            Some(first) if *first != g.id => left_out(
                out,
                group,
                ObjectType::Group,
                &format!(
                    "the template holds one class per enrolment: person {} is in class {first} \
                     at the same school unit already",
                    member.person.id
                ),
            ),
            _ => {
                joins.class_of.insert(key, g.id);
            }
        }
    }
}

/// One *Elevinskrivningar* row per enrolment.
fn student_rows(whole: &DesiredState, joins: &Joins<'_>, out: &mut Rendered) {
    for person in &whole.persons {
        let p = &person.payload;
        let mut rows = 0;
        // Why the enrolments without a row have none.
        let mut skipped: Option<&str> = None;
        for enrolment in &p.enrolments {
            let school_type = enrolment.school_type;
            if school_type == SchoolType::Vuxgy {
                let why = "VUXGY enrolments cannot be sent by file (Skolverket's checklist for the file method)";
                left_out(out, person, ObjectType::Person, why);
                skipped.get_or_insert(why);
                continue;
            }
            if enrolment.cancelled == Some(true) {
                continue;
            }
            let unit = enrolment.enroled_at.id;
            let Some(code) = joins.units.get(&unit).copied() else {
                let why = "an enrolment's school unit is not known to open-data";
                left_out(out, person, ObjectType::Person, why);
                skipped.get_or_insert(why);
                continue;
            };
            let key = (person.id, unit);
            let class = joins
                .class_of
                .get(&key)
                .map(Uuid::to_string)
                .unwrap_or_default();
            let groups = joins
                .subject_groups_of
                .get(&key)
                .map(joined)
                .unwrap_or_default();
            let mut cells = person_cells(p, false);
            cells.extend([
                school_type.to_string(),
                code.to_string(),
                enrolment
                    .school_year
                    .map(|y| y.to_string())
                    .unwrap_or_default(),
                enrolment.education_code.clone().unwrap_or_default(),
                class,
                groups,
            ]);
            out.rows.push(UploadRow {
                sheet: SheetKind::Students,
                key: format!("{}|{code}|{school_type}", person.id),
                cells,
            });
            rows += 1;
        }
        if rows == 0 && !joins.on_duty.contains(&person.id) {
            let why = skipped.unwrap_or(
                "a person with neither a current enrolment nor a duty has no row in the template",
            );
            out.without_rows
                .insert((ObjectType::Person, person.id), why.to_string());
        }
    }
}

/// One *Personalstjänstgöringar* row per duty.
fn staff_rows(whole: &DesiredState, joins: &Joins<'_>, out: &mut Rendered) {
    for duty in &whole.duties {
        let d: &Duty = &duty.payload;
        let Some(person) = joins.persons.get(&d.person.id) else {
            no_row(out, duty, ObjectType::Duty, "its person is not in the data");
            continue;
        };
        let Some(code) = joins.units.get(&d.duty_at.id).copied() else {
            no_row(
                out,
                duty,
                ObjectType::Duty,
                "its school unit is not known to open-data",
            );
            continue;
        };
        let mut cells = vec![duty.id.to_string()];
        cells.extend(person_cells(&person.payload, true));
        cells.extend([
            code.to_string(),
            d.duty_role.to_string(),
            joins
                .taught_by
                .get(&duty.id)
                .map(joined)
                .unwrap_or_default(),
        ]);
        out.rows.push(UploadRow {
            sheet: SheetKind::Staff,
            key: duty.id.to_string(),
            cells,
        });
    }
}

/// The person columns both person sheets share, from `Person-ID` to
/// `E-postadress` (with `EduID-Federationsanvändarnamn` on the staff
/// sheet).
fn person_cells(p: &Person, staff: bool) -> Vec<String> {
    let mut cells = vec![p.id.to_string(), p.edu_person_principal_names.join(",")];
    if staff {
        cells.push(
            p.external_identifiers
                .iter()
                .find(|e| e.context == EDUID_CONTEXT)
                .map(|e| e.value.clone())
                .unwrap_or_default(),
        );
    }
    cells.extend([
        p.civic_no.value.clone(),
        p.security_marking
            .map(|m| m.to_string())
            .unwrap_or_default(),
        text(&p.given_name),
        p.middle_name.as_deref().map(text).unwrap_or_default(),
        text(&p.family_name),
        p.emails
            .first()
            .map(|e| e.value.clone())
            .unwrap_or_default(),
    ]);
    cells
}

/// Ids joined as the template's list columns take them.
fn joined(ids: &BTreeSet<Uuid>) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn text(value: &str) -> String {
    value.trim().to_string()
}

fn left_out<T>(out: &mut Rendered, entity: &Desired<T>, kind: ObjectType, reason: &str) {
    out.left_out.push(LeftOut {
        kind,
        id: entity.id,
        source_id: entity.source_id.clone(),
        reason: reason.to_string(),
    });
}

/// An entity that gets no row: left out, and its outcome says why.
fn no_row<T>(out: &mut Rendered, entity: &Desired<T>, kind: ObjectType, reason: &str) {
    left_out(out, entity, kind, reason);
    out.without_rows
        .insert((kind, entity.id), reason.to_string());
}

/// The rows by sheet and key, for the diff.
pub fn by_key(rows: Vec<UploadRow>) -> BTreeMap<(SheetKind, String), UploadRow> {
    rows.into_iter()
        .map(|r| ((r.sheet, r.key.clone()), r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use skolsync_model::codes::{ActivityType, DutyRole};
    use skolsync_model::plan::{SchoolUnitRef, TestActivityRef};
    use skolsync_model::provtjanst::{
        Activity, CivicNoValue, DutyAssignment, Enrolment, GroupMembership, ObjectReference,
    };

    fn desired<T>(id: Uuid, payload: T) -> Desired<T> {
        Desired {
            id,
            source_id: format!("src-{id}"),
            hash: String::new(),
            school_unit: None,
            payload,
        }
    }

    fn person(id: Uuid, enrolments: Vec<(Uuid, SchoolType)>) -> Desired<Person> {
        desired(
            id,
            Person {
                id,
                meta: None,
                given_name: " Anna ".into(),
                middle_name: None,
                family_name: "Berg".into(),
                edu_person_principal_names: vec!["a@x".into(), "b@x".into()],
                external_identifiers: Vec::new(),
                security_marking: None,
                civic_no: CivicNoValue::swedish("200501012384"),
                emails: Vec::new(),
                enrolments: enrolments
                    .into_iter()
                    .map(|(unit, school_type)| Enrolment {
                        enroled_at: ObjectReference::new(unit),
                        school_year: Some(6),
                        school_type,
                        cancelled: None,
                        education_code: None,
                    })
                    .collect(),
                provisioning_status: None,
            },
        )
    }

    fn group(id: Uuid, kind: GroupType, unit: Uuid, members: &[Uuid]) -> Desired<Group> {
        desired(
            id,
            Group {
                id,
                meta: None,
                display_name: "6A".into(),
                group_type: kind,
                school_type: SchoolType::Gr,
                organisation: ObjectReference::new(unit),
                provisioning_status: None,
                group_memberships: members
                    .iter()
                    .map(|m| GroupMembership {
                        person: ObjectReference::new(*m),
                    })
                    .collect(),
            },
        )
    }

    fn activity(group: Uuid, test: Uuid, unit: Uuid, teacher: Uuid) -> Desired<Activity> {
        let id = Uuid::new_v4();
        desired(
            id,
            Activity {
                id,
                meta: None,
                display_name: "Matte".into(),
                activity_type: ActivityType::Undervisning,
                groups: vec![ObjectReference::new(group)],
                teachers: vec![DutyAssignment {
                    duty: ObjectReference::new(teacher),
                }],
                organisation: ObjectReference::new(unit),
                parent_activity: ObjectReference::new(test),
                provisioning_status: None,
            },
        )
    }

    #[test]
    fn rows_join_classes_groups_and_teachers_and_say_what_is_left_out() {
        let unit = Uuid::new_v4();
        let (pupil, adult, teacher) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (class, maths, mentor) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let duty = Uuid::new_v4();
        let (test6, test_other) = (Uuid::new_v4(), Uuid::new_v4());
        let whole = DesiredState {
            persons: vec![
                person(pupil, vec![(unit, SchoolType::Gr)]),
                person(adult, vec![(unit, SchoolType::Vuxgy)]),
                person(teacher, Vec::new()),
            ],
            duties: vec![desired(
                duty,
                Duty {
                    id: duty,
                    meta: None,
                    person: ObjectReference::new(teacher),
                    duty_at: ObjectReference::new(unit),
                    duty_role: DutyRole::Larare,
                    provisioning_status: None,
                },
            )],
            groups: vec![
                group(class, GroupType::Klass, unit, &[pupil]),
                group(maths, GroupType::Undervisning, unit, &[pupil]),
                group(mentor, GroupType::Mentor, unit, &[pupil]),
            ],
            activities: vec![
                activity(maths, test6, unit, duty),
                activity(maths, test_other, unit, duty),
            ],
        };
        let plan = Plan {
            school_units: vec![SchoolUnitRef {
                id: unit,
                code: "01234567".into(),
                name: "Skolan".into(),
            }],
            test_activities: vec![
                TestActivityRef {
                    id: test6,
                    name: "GRGRMAT01_6".into(),
                },
                TestActivityRef {
                    id: test_other,
                    name: "GRGRSVE01_6".into(),
                },
            ],
            ..Plan::default()
        };
        let out = render(&plan, &whole);
        let sheet = |s: SheetKind| -> Vec<&UploadRow> {
            out.rows.iter().filter(|r| r.sheet == s).collect()
        };
        assert_eq!(
            sheet(SheetKind::Classes)[0].cells,
            [
                class.to_string(),
                "6A".into(),
                "GR".into(),
                "01234567".into()
            ]
        );
        let subject = &sheet(SheetKind::SubjectGroups)[0].cells;
        assert_eq!(subject[3], "GRGRMAT01_6", "the first test, by name");
        let students = sheet(SheetKind::Students);
        assert_eq!(students.len(), 1, "no VUXGY row");
        let cells = &students[0].cells;
        assert_eq!(cells.len(), STUDENTS_HEADER.len() - 1);
        assert_eq!(cells[0], pupil.to_string());
        assert_eq!(cells[1], "a@x,b@x");
        assert_eq!(cells[2], "200501012384");
        assert_eq!(cells[4], "Anna", "trimmed");
        assert_eq!(cells[9], "01234567");
        assert_eq!(cells[10], "6");
        assert_eq!(cells[12], class.to_string(), "Klass: the class's id");
        assert_eq!(
            cells[13],
            maths.to_string(),
            "Ämnesgrupper: the subject group"
        );
        let staff = sheet(SheetKind::Staff);
        assert_eq!(staff[0].cells.len(), STAFF_HEADER.len() - 1);
        assert_eq!(staff[0].cells[11], "Lärare");
        assert_eq!(staff[0].cells[12], maths.to_string(), "the groups taught");

        let reasons: Vec<&str> = out.left_out.iter().map(|l| l.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains("VUXGY")), "{reasons:?}");
        assert!(
            reasons.iter().any(|r| r.contains("GRGRSVE01_6 left out")),
            "{reasons:?}"
        );
        assert!(reasons.iter().any(|r| r.contains("Mentor")), "{reasons:?}");
        assert!(out.without_rows[&(ObjectType::Person, adult)].contains("VUXGY"));
        assert!(out.without_rows.contains_key(&(ObjectType::Group, mentor)));
        assert!(
            !out.without_rows
                .contains_key(&(ObjectType::Person, teacher)),
            "a teacher has the duty's row"
        );
    }
}
