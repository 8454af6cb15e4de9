//! The flat layout: one file per entity type, columns named in the
//! pipeline file (defaults: the names the sandbox's flat export writes).
//!
//! Persons, groups and activities are completed from their link files
//! (enrolments, memberships, activity groups and teachers), which are read
//! first and kept as small records until their entity's row comes. Links to
//! an entity that never comes are rejected with their own file and line.
//! Files at their default name may be absent; the types they hold are then
//! not read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use skolsync_model::codes::{EmailType, GroupType, OrganisationType};
use skolsync_model::ss12000::{
    Activity, Duty, Email, Enrolment, EntityKind, ExternalIdentifier, Group, GroupMembership, Meta,
    Organisation, Person, Programme, Reference, SourceId, Syllabus, TeacherAssignment,
};

use super::config::{FlatColumns, FlatConfig};
use super::reader::CsvFile;
use super::sheet::Sheet;
use super::{At, Out, civic_no, list, name_problem, school_type, yes_no};
use crate::error::SourceError;
use crate::resolve;
use crate::source::{Batch, Emitter};

mod table;

use self::table::{Cells, Table};

/// A link row waiting for its entity, with where it came from.
struct Link<T> {
    item: T,
    file: Arc<str>,
    line: u64,
}

/// Opens the flat table `name` (`persons`, …; the second argument names
/// the columns its header holds): `None` when it is not there and need
/// not be (left at its default name).
pub(crate) type OpenTable<'a> =
    dyn Fn(&'static str, &[&str]) -> Result<Option<Box<dyn Sheet>>, SourceError> + 'a;

/// The sources of one flat read: the column names and how a table opens.
struct Flat<'a> {
    columns: &'a FlatColumns,
    open: &'a OpenTable<'a>,
}

/// Reads the flat layout's CSV files.
pub(crate) fn read(
    config: &FlatConfig,
    base_dir: &Path,
    emitter: &Emitter,
) -> Result<(), SourceError> {
    let dir = resolve(base_dir, &config.dir);
    let open = |name: &'static str, _: &[&str]| -> Result<Option<Box<dyn Sheet>>, SourceError> {
        let configured = config
            .files
            .tables()
            .into_iter()
            .find(|(table, _)| *table == name)
            .and_then(|(_, path)| path);
        let path = match configured {
            Some(path) => resolve(&dir, path),
            None => {
                let path = dir.join(format!("{name}.csv"));
                if !path.exists() {
                    tracing::info!(file = %path.display(), "no such file; nothing of it is read");
                    return Ok(None);
                }
                path
            }
        };
        let file = CsvFile::open(&path, config.encoding, config.delimiter)?;
        Ok(Some(Box::new(file)))
    };
    read_tables(&config.columns, &open, emitter, || SourceError::File {
        path: dir.clone(),
        message: "none of the flat layout's files (persons.csv, groups.csv, …) is there"
            .to_string(),
    })
}

/// Maps the flat layout's tables, each opened by `open` (a CSV file, a
/// workbook's worksheet) and read by `columns`; `nothing` is the error
/// when no table is there at all.
pub(crate) fn read_tables(
    columns: &FlatColumns,
    open: &OpenTable<'_>,
    emitter: &Emitter,
    nothing: impl FnOnce() -> SourceError,
) -> Result<(), SourceError> {
    let mut out = Out::new(emitter);
    let flat = Flat { columns, open };
    let c = columns;
    let mut any = read_organisations(&flat, &mut out)?;
    any |= read_programmes(&flat, &mut out)?;
    any |= read_syllabuses(&flat, &mut out)?;

    let mut enrolments = read_enrolments(&flat, &mut out)?;
    any |= read_persons(&flat, &mut out, &mut enrolments)?;
    orphans(
        &mut out,
        enrolments,
        EntityKind::Person,
        &c.enrolments.person_id,
        "the person is not in the persons file",
    )?;
    any |= read_duties(&flat, &mut out)?;

    let mut members = read_memberships(&flat, &mut out)?;
    any |= read_groups(&flat, &mut out, &mut members)?;
    orphans(
        &mut out,
        members,
        EntityKind::Group,
        &c.memberships.group_id,
        "the group is not in the groups file",
    )?;

    let mut activity_groups = read_activity_groups(&flat, &mut out)?;
    let mut activity_teachers = read_activity_teachers(&flat, &mut out)?;
    any |= read_activities(
        &flat,
        &mut out,
        &mut activity_groups,
        &mut activity_teachers,
    )?;
    orphans(
        &mut out,
        activity_groups,
        EntityKind::Activity,
        &c.activity_groups.activity_id,
        "the activity is not in the activities file",
    )?;
    orphans(
        &mut out,
        activity_teachers,
        EntityKind::Activity,
        &c.activity_teachers.activity_id,
        "the activity is not in the activities file",
    )?;

    if !any {
        return Err(nothing());
    }
    out.finish()?;
    Ok(())
}

/// Opens the flat table `$name` if it is there, its rows of `$entity`,
/// each field read from its column in `columns.$name`; the `required`
/// fields must be in the header. The table's name is written once.
macro_rules! open_table {
    ($flat:expr, $name:ident, $entity:expr,
     [$($field:ident),+ $(,)?], required: [$($required:ident),+ $(,)?]) => {
        Table::open(
            $flat,
            stringify!($name),
            $entity,
            &[$((stringify!($field), &$flat.columns.$name.$field)),+],
            &[$(stringify!($required)),+],
        )
    };
}

/// Reads an entity table row by row: `build` reads a row into its id and
/// entity (`None` when a value it needs is bad); the row is rejected if a
/// value was bad; `complete` gets the id and the entity when the row may be
/// used, and gives back what is sent (it takes the entity's link rows,
/// whether or not the entity is sent). `false` when the file is not there.
fn entities<E>(
    table: Option<Table>,
    out: &mut Out<'_>,
    wrap: fn(Vec<E>) -> Batch,
    mut build: impl for<'r> FnMut(&mut Cells<'r>) -> (&'r str, Option<E>),
    mut complete: impl FnMut(&str, Option<E>) -> Option<E>,
) -> Result<bool, SourceError> {
    let Some(mut t) = table else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let (id, entity) = build(&mut r);
        let ok = r.ok(out, id)?;
        if let Some(entity) = complete(id, entity.filter(|_| ok)) {
            out.origin(t.entity(), id, row.at())?;
            out.push(&mut batch, entity, wrap)?;
        }
    }
    out.flush(&mut batch, wrap)?;
    Ok(true)
}

/// An entity table whose rows need nothing from link files.
fn plain<E>(
    table: Option<Table>,
    out: &mut Out<'_>,
    wrap: fn(Vec<E>) -> Batch,
    build: impl for<'r> FnMut(&mut Cells<'r>) -> (&'r str, Option<E>),
) -> Result<bool, SourceError> {
    entities(table, out, wrap, build, |_, entity| entity)
}

/// Link rows by the id of the entity they belong to.
type Links<T> = HashMap<String, Vec<Link<T>>>;

/// Reads a link table: `build` reads a row into the id of the entity it
/// belongs to and its item (`None` when a value it needs is bad); usable
/// rows are kept with their file and line until their entity comes.
fn links<T>(
    table: Option<Table>,
    out: &mut Out<'_>,
    mut build: impl for<'r> FnMut(&mut Cells<'r>) -> (&'r str, Option<T>),
) -> Result<Links<T>, SourceError> {
    let mut links: Links<T> = HashMap::new();
    let Some(mut t) = table else {
        return Ok(links);
    };
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let (key, item) = build(&mut r);
        if r.ok(out, key)?
            && let Some(item) = item
        {
            links.entry(key.to_string()).or_default().push(Link {
                item,
                file: Arc::clone(&row.sheet),
                line: row.line,
            });
        }
    }
    Ok(links)
}

/// Reads the link table `$name`, whose rows name an entity (`$key`), what
/// it links to (`$target`) and the dates the link holds (`start_date`,
/// `end_date`): group memberships and teaching assignments. `$item` makes
/// a link of the target's reference and the dates.
macro_rules! dated_links {
    ($flat:expr, $out:expr, $name:ident, $entity:expr, $key:ident -> $target:ident, $item:expr) => {
        read_dated_links(
            open_table!(
                $flat,
                $name,
                $entity,
                [$key, $target, start_date, end_date],
                required: [$key, $target]
            )?,
            $out,
            (stringify!($key), stringify!($target)),
            $item,
        )
    };
}

/// What [`dated_links!`] reads, once the table is open.
fn read_dated_links<T>(
    table: Option<Table>,
    out: &mut Out<'_>,
    (key, target): (&'static str, &'static str),
    item: impl Fn(Reference, Option<NaiveDate>, Option<NaiveDate>) -> T,
) -> Result<Links<T>, SourceError> {
    links(table, out, |r| {
        let owner = r.required(key);
        let to = r.required(target);
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        (owner, Some(item(Reference::to(to), start_date, end_date)))
    })
}

/// The items of `id`'s link rows, taken out of `links`.
fn take<T>(links: &mut Links<T>, id: &str) -> Vec<T> {
    links
        .remove(id)
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.item)
        .collect()
}

/// `organisations.csv`: organisation elements.
fn read_organisations(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        organisations,
        EntityKind::Organisation,
        [id, organisation_type, display_name, organisation_code, organisation_number,
         school_unit_code, school_types, municipality_code, parent_id, start_date, end_date],
        required: [id, organisation_type]
    )?;
    plain(table, out, Batch::Organisations, |r| {
        let id = r.required("id");
        let organisation_type = r.code::<OrganisationType>("organisation_type");
        if organisation_type.is_none() && r.error.is_none() {
            r.required("organisation_type");
        }
        let school_types = r.with("school_types", |raw| {
            list(raw).map(school_type).collect::<Result<Vec<_>, _>>()
        });
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        let entity = (|| {
            Some(Organisation {
                id: id.into(),
                meta: Meta::default(),
                display_name: r.s("display_name").to_string(),
                organisation_code: r.opt("organisation_code"),
                organisation_type: organisation_type?,
                organisation_number: r.opt("organisation_number"),
                parent_organisation: r.reference("parent_id"),
                school_unit_code: r.opt("school_unit_code"),
                school_types: school_types?,
                municipality_code: r.opt("municipality_code"),
                start_date,
                end_date,
            })
        })();
        (id, entity)
    })
}

/// `programmes.csv`.
fn read_programmes(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        programmes,
        EntityKind::Programme,
        [id, name, code, school_type],
        required: [id]
    )?;
    plain(table, out, Batch::Programmes, |r| {
        let id = r.required("id");
        let school_type = r.with("school_type", optional_school_type).flatten();
        let entity = Programme {
            id: id.into(),
            meta: Meta::default(),
            name: r.s("name").to_string(),
            code: r.opt("code"),
            school_type,
        };
        (id, Some(entity))
    })
}

/// `syllabuses.csv`.
fn read_syllabuses(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        syllabuses,
        EntityKind::Syllabus,
        [id, school_type, subject_code, subject_name, subject_designation, course_code,
         course_name, start_school_year, end_school_year],
        required: [id]
    )?;
    plain(table, out, Batch::Syllabuses, |r| {
        let id = r.required("id");
        let school_type = r.with("school_type", optional_school_type).flatten();
        let start_school_year = r.number("start_school_year");
        let end_school_year = r.number("end_school_year");
        let entity = Syllabus {
            id: id.into(),
            meta: Meta::default(),
            school_type,
            subject_code: r.opt("subject_code"),
            subject_name: r.opt("subject_name"),
            subject_designation: r.opt("subject_designation"),
            course_code: r.opt("course_code"),
            course_name: r.opt("course_name"),
            start_school_year,
            end_school_year,
            official: None,
        };
        (id, Some(entity))
    })
}

/// `enrolments.csv`: enrolments by Person-ID, until their person comes.
fn read_enrolments(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<Links<Enrolment>, SourceError> {
    let table = open_table!(
        flat,
        enrolments,
        EntityKind::Person,
        [person_id, school_unit_id, school_type, school_year, education_code, programme_id,
         start_date, end_date, cancelled],
        required: [person_id, school_unit_id, school_type]
    )?;
    links(table, out, |r| {
        let person = r.required("person_id");
        let unit = r.required("school_unit_id");
        let st = r.with("school_type", optional_school_type).flatten();
        if st.is_none() && r.error.is_none() {
            r.required("school_type");
        }
        let school_year = r.number("school_year");
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        let cancelled = r
            .with("cancelled", |raw| {
                if raw.is_empty() {
                    Ok(None)
                } else {
                    yes_no(raw).map(Some)
                }
            })
            .flatten();
        let entity = st.map(|school_type| Enrolment {
            enroled_at: Reference::to(unit),
            school_year,
            school_type,
            start_date,
            end_date,
            cancelled,
            education_code: r.opt("education_code"),
            programme: r.reference("programme_id"),
        });
        (person, entity)
    })
}

/// `persons.csv`, each with its enrolments (taken from `enrolments`).
fn read_persons(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    enrolments: &mut Links<Enrolment>,
) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        persons,
        EntityKind::Person,
        [id, given_name, middle_name, family_name, civic_no, security_marking, eppn, email,
         email_type, eduid_eppn, person_status],
        required: [id]
    )?;
    // A rejected person's enrolments are left out silently (the person's
    // reject says why).
    entities(table, out, Batch::Persons, person, |id, entity| {
        let taken = take(enrolments, id);
        entity.map(|entity| Person {
            enrolments: taken,
            ..entity
        })
    })
}

/// One row of `persons.csv`, without its enrolments.
fn person<'r>(r: &mut Cells<'r>) -> (&'r str, Option<Person>) {
    let id = r.required("id");
    let civic = match r.s("civic_no") {
        "" => None,
        raw => match civic_no(raw) {
            Ok(c) => Some(c),
            Err((masked, reason)) => {
                r.fail("civic_no", Some(masked), reason);
                None
            }
        },
    };
    for field in ["given_name", "middle_name", "family_name"] {
        let column = r.column_name(field);
        if let Some(reason) = name_problem(column, r.s(field)) {
            r.fail(field, None, reason);
        }
    }
    let security_marking = r.code("security_marking");
    let email_type = r.code::<EmailType>("email_type");
    let person_status = r.code("person_status");
    let entity = Person {
        id: id.into(),
        meta: Meta::default(),
        given_name: r.s("given_name").to_string(),
        middle_name: r.opt("middle_name"),
        family_name: r.s("family_name").to_string(),
        edu_person_principal_names: list(r.s("eppn")).map(str::to_string).collect(),
        external_identifiers: r
            .opt("eduid_eppn")
            .map(|value| ExternalIdentifier {
                value,
                context: "https://eduid.se".to_string(),
                globally_unique: Some(true),
            })
            .into_iter()
            .collect(),
        civic_no: civic,
        security_marking,
        person_status,
        emails: r
            .opt("email")
            .map(|value| Email { value, email_type })
            .into_iter()
            .collect(),
        enrolments: Vec::new(),
    };
    (id, Some(entity))
}

/// `duties.csv`.
fn read_duties(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        duties,
        EntityKind::Duty,
        [id, person_id, school_unit_id, duty_role, signature, start_date, end_date],
        required: [id, school_unit_id, duty_role]
    )?;
    plain(table, out, Batch::Duties, |r| {
        let id = r.required("id");
        let unit = r.required("school_unit_id");
        let role = r.required("duty_role");
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        let entity = Duty {
            id: id.into(),
            meta: Meta::default(),
            person: r.reference("person_id"),
            duty_at: Reference::to(unit),
            duty_role: role.to_string(),
            signature: r.opt("signature"),
            start_date,
            end_date,
        };
        (id, Some(entity))
    })
}

/// `memberships.csv`: memberships by group id, until their group comes.
fn read_memberships(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<Links<GroupMembership>, SourceError> {
    dated_links!(
        flat,
        out,
        memberships,
        EntityKind::Group,
        group_id -> person_id,
        |person, start_date, end_date| GroupMembership {
            person,
            start_date,
            end_date,
        }
    )
}

/// `groups.csv`, each with its members (taken from `members`).
fn read_groups(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    members: &mut Links<GroupMembership>,
) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        groups,
        EntityKind::Group,
        [id, display_name, group_type, school_type, school_unit_id, start_date, end_date],
        required: [id, group_type, school_unit_id]
    )?;
    entities(table, out, Batch::Groups, group, |id, entity| {
        let taken = take(members, id);
        entity.map(|entity| Group {
            group_memberships: taken,
            ..entity
        })
    })
}

/// One row of `groups.csv`, without its members.
fn group<'r>(r: &mut Cells<'r>) -> (&'r str, Option<Group>) {
    let id = r.required("id");
    let group_type = r.code::<GroupType>("group_type");
    if group_type.is_none() && r.error.is_none() {
        r.required("group_type");
    }
    let st = r.with("school_type", optional_school_type).flatten();
    let unit = r.required("school_unit_id");
    let start_date = r.date("start_date");
    let end_date = r.date("end_date");
    let entity = group_type.map(|group_type| Group {
        id: id.into(),
        meta: Meta::default(),
        display_name: r.s("display_name").to_string(),
        start_date,
        end_date,
        group_type,
        school_type: st,
        organisation: Reference::to(unit),
        group_memberships: Vec::new(),
    });
    (id, entity)
}

/// `activity_groups.csv`: groups by activity id.
fn read_activity_groups(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<Links<Reference>, SourceError> {
    let table = open_table!(
        flat,
        activity_groups,
        EntityKind::Activity,
        [activity_id, group_id],
        required: [activity_id, group_id]
    )?;
    links(table, out, |r| {
        let activity = r.required("activity_id");
        let group = r.required("group_id");
        (activity, Some(Reference::to(group)))
    })
}

/// `activity_teachers.csv`: teachers (duties) by activity id.
fn read_activity_teachers(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<Links<TeacherAssignment>, SourceError> {
    dated_links!(
        flat,
        out,
        activity_teachers,
        EntityKind::Activity,
        activity_id -> duty_id,
        |duty, start_date, end_date| TeacherAssignment {
            duty: Some(duty),
            person: None,
            start_date,
            end_date,
        }
    )
}

/// `activities.csv`, each with its groups and teachers.
fn read_activities(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    activity_groups: &mut Links<Reference>,
    activity_teachers: &mut Links<TeacherAssignment>,
) -> Result<bool, SourceError> {
    let table = open_table!(
        flat,
        activities,
        EntityKind::Activity,
        [id, display_name, activity_type, school_unit_id, syllabus_id, parent_activity_id,
         start_date, end_date],
        required: [id, school_unit_id]
    )?;
    entities(table, out, Batch::Activities, activity, |id, entity| {
        let groups = take(activity_groups, id);
        let teachers = take(activity_teachers, id);
        entity.map(|entity| Activity {
            groups,
            teachers,
            ..entity
        })
    })
}

/// One row of `activities.csv`, without its groups and teachers.
fn activity<'r>(r: &mut Cells<'r>) -> (&'r str, Option<Activity>) {
    let id = r.required("id");
    let activity_type = r.code("activity_type");
    let unit = r.required("school_unit_id");
    let start_date = r.date("start_date");
    let end_date = r.date("end_date");
    let entity = Activity {
        id: id.into(),
        meta: Meta::default(),
        display_name: r.s("display_name").to_string(),
        activity_type,
        start_date,
        end_date,
        groups: Vec::new(),
        teachers: Vec::new(),
        syllabus: r.reference("syllabus_id"),
        subject: None,
        organisation: Reference::to(unit),
        parent_activity: list(r.s("parent_activity_id")).map(Reference::to).collect(),
        embedded: None,
    };
    (id, Some(entity))
}

fn optional_school_type(
    raw: &str,
) -> Result<Option<skolsync_model::codes::SourceSchoolType>, String> {
    if raw.is_empty() {
        Ok(None)
    } else {
        school_type(raw).map(Some)
    }
}

/// Rejects link rows whose entity never came.
fn orphans<T>(
    out: &mut Out<'_>,
    left: Links<T>,
    entity: EntityKind,
    column: &str,
    reason: &str,
) -> Result<(), SourceError> {
    let mut left: Vec<(String, Vec<Link<T>>)> = left.into_iter().collect();
    left.sort_by(|a, b| a.0.cmp(&b.0));
    for (id, links) in left {
        for link in links {
            let at = At {
                file: &link.file,
                line: link.line,
            };
            out.reject(at.reject(
                entity,
                SourceId::new(&id).as_str(),
                column,
                Some(id.clone()),
                format!("{reason}; this row is left out"),
            ))?;
        }
    }
    Ok(())
}
