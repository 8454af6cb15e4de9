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

use skolsync_model::codes::{EmailType, GroupType, OrganisationType};
use skolsync_model::ss12000::{
    Activity, Duty, Email, Enrolment, EntityKind, ExternalIdentifier, Group, GroupMembership, Meta,
    Organisation, Person, Programme, Reference, SourceId, Syllabus, TeacherAssignment,
};

use super::config::FlatConfig;
use super::{At, Out, civic_no, list, name_problem, school_type, yes_no};
use crate::error::SourceError;
use crate::resolve;
use crate::source::{Batch, Emitter};

mod table;

use self::table::Table;

/// A link row waiting for its entity, with where it came from.
struct Link<T> {
    item: T,
    file: Arc<str>,
    line: u64,
}

/// The sources of one flat read: its configuration and where paths resolve.
struct Flat<'a> {
    config: &'a FlatConfig,
    base_dir: &'a Path,
}

pub(crate) fn read(
    config: &FlatConfig,
    base_dir: &Path,
    emitter: &Emitter,
) -> Result<(), SourceError> {
    let mut out = Out::new(emitter);
    let flat = Flat { config, base_dir };
    let c = &config.columns;
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
        return Err(SourceError::File {
            path: resolve(base_dir, &config.dir),
            message: "none of the flat layout's files (persons.csv, groups.csv, …) is there"
                .to_string(),
        });
    }
    out.finish()?;
    Ok(())
}

/// `organisations.csv`: organisation elements.
fn read_organisations(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let k = &flat.config.columns.organisations;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.organisations,
        "organisations.csv",
        EntityKind::Organisation,
        &[
            ("id", &k.id),
            ("organisation_type", &k.organisation_type),
            ("display_name", &k.display_name),
            ("organisation_code", &k.organisation_code),
            ("organisation_number", &k.organisation_number),
            ("school_unit_code", &k.school_unit_code),
            ("school_types", &k.school_types),
            ("municipality_code", &k.municipality_code),
            ("parent_id", &k.parent_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["id", "organisation_type"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
                school_types: school_types.clone()?,
                municipality_code: r.opt("municipality_code"),
                start_date,
                end_date,
            })
        })();
        if r.ok(out, id)?
            && let Some(entity) = entity
        {
            out.push(&mut batch, entity, Batch::Organisations)?;
        }
    }
    out.flush(&mut batch, Batch::Organisations)?;
    Ok(true)
}

/// `programmes.csv`.
fn read_programmes(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let k = &flat.config.columns.programmes;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.programmes,
        "programmes.csv",
        EntityKind::Programme,
        &[
            ("id", &k.id),
            ("name", &k.name),
            ("code", &k.code),
            ("school_type", &k.school_type),
        ],
        &["id"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let id = r.required("id");
        let school_type = r.with("school_type", optional_school_type).flatten();
        let entity = Programme {
            id: id.into(),
            meta: Meta::default(),
            name: r.s("name").to_string(),
            code: r.opt("code"),
            school_type,
        };
        if r.ok(out, id)? {
            out.push(&mut batch, entity, Batch::Programmes)?;
        }
    }
    out.flush(&mut batch, Batch::Programmes)?;
    Ok(true)
}

/// `syllabuses.csv`.
fn read_syllabuses(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let k = &flat.config.columns.syllabuses;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.syllabuses,
        "syllabuses.csv",
        EntityKind::Syllabus,
        &[
            ("id", &k.id),
            ("school_type", &k.school_type),
            ("subject_code", &k.subject_code),
            ("subject_name", &k.subject_name),
            ("subject_designation", &k.subject_designation),
            ("course_code", &k.course_code),
            ("course_name", &k.course_name),
            ("start_school_year", &k.start_school_year),
            ("end_school_year", &k.end_school_year),
        ],
        &["id"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
        if r.ok(out, id)? {
            out.push(&mut batch, entity, Batch::Syllabuses)?;
        }
    }
    out.flush(&mut batch, Batch::Syllabuses)?;
    Ok(true)
}

/// `enrolments.csv`: enrolments by Person-ID, until their person comes.
fn read_enrolments(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<HashMap<String, Vec<Link<Enrolment>>>, SourceError> {
    let mut enrolments: HashMap<String, Vec<Link<Enrolment>>> = HashMap::new();
    let k = &flat.config.columns.enrolments;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.enrolments,
        "enrolments.csv",
        EntityKind::Person,
        &[
            ("person_id", &k.person_id),
            ("school_unit_id", &k.school_unit_id),
            ("school_type", &k.school_type),
            ("school_year", &k.school_year),
            ("education_code", &k.education_code),
            ("programme_id", &k.programme_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
            ("cancelled", &k.cancelled),
        ],
        &["person_id", "school_unit_id", "school_type"],
    )?
    else {
        return Ok(enrolments);
    };
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let person = r.required("person_id");
        let unit = r.required("school_unit_id");
        let st = r
            .with("school_type", |raw| {
                if raw.is_empty() {
                    Ok(None)
                } else {
                    school_type(raw).map(Some)
                }
            })
            .flatten();
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
        if r.ok(out, person)?
            && let Some(entity) = entity
        {
            enrolments
                .entry(person.to_string())
                .or_default()
                .push(Link {
                    item: entity,
                    file: Arc::clone(&row.sheet),
                    line: row.line,
                });
        }
    }
    Ok(enrolments)
}

/// `persons.csv`, each with its enrolments (taken from `enrolments`).
fn read_persons(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    enrolments: &mut HashMap<String, Vec<Link<Enrolment>>>,
) -> Result<bool, SourceError> {
    let k = &flat.config.columns.persons;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.persons,
        "persons.csv",
        EntityKind::Person,
        &[
            ("id", &k.id),
            ("given_name", &k.given_name),
            ("middle_name", &k.middle_name),
            ("family_name", &k.family_name),
            ("civic_no", &k.civic_no),
            ("security_marking", &k.security_marking),
            ("eppn", &k.eppn),
            ("email", &k.email),
            ("email_type", &k.email_type),
            ("eduid_eppn", &k.eduid_eppn),
            ("person_status", &k.person_status),
        ],
        &["id"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
            let column = t.column_name(field).to_string();
            if let Some(reason) = name_problem(&column, r.s(field)) {
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
        if r.ok(out, id)? {
            let mut entity = entity;
            entity.enrolments = enrolments
                .remove(id)
                .unwrap_or_default()
                .into_iter()
                .map(|l| l.item)
                .collect();
            out.push(&mut batch, entity, Batch::Persons)?;
        } else {
            // The person is rejected; so are its enrolments, silently
            // (the person's reject says why).
            enrolments.remove(id);
        }
    }
    out.flush(&mut batch, Batch::Persons)?;
    Ok(true)
}

/// `duties.csv`.
fn read_duties(flat: &Flat<'_>, out: &mut Out<'_>) -> Result<bool, SourceError> {
    let k = &flat.config.columns.duties;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.duties,
        "duties.csv",
        EntityKind::Duty,
        &[
            ("id", &k.id),
            ("person_id", &k.person_id),
            ("school_unit_id", &k.school_unit_id),
            ("duty_role", &k.duty_role),
            ("signature", &k.signature),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["id", "school_unit_id", "duty_role"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
        if r.ok(out, id)? {
            out.push(&mut batch, entity, Batch::Duties)?;
        }
    }
    out.flush(&mut batch, Batch::Duties)?;
    Ok(true)
}

/// `memberships.csv`: memberships by group id, until their group comes.
fn read_memberships(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<HashMap<String, Vec<Link<GroupMembership>>>, SourceError> {
    let mut members: HashMap<String, Vec<Link<GroupMembership>>> = HashMap::new();
    let k = &flat.config.columns.memberships;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.memberships,
        "memberships.csv",
        EntityKind::Group,
        &[
            ("group_id", &k.group_id),
            ("person_id", &k.person_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["group_id", "person_id"],
    )?
    else {
        return Ok(members);
    };
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let group = r.required("group_id");
        let person = r.required("person_id");
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        if r.ok(out, group)? {
            members.entry(group.to_string()).or_default().push(Link {
                item: GroupMembership {
                    person: Reference::to(person),
                    start_date,
                    end_date,
                },
                file: Arc::clone(&row.sheet),
                line: row.line,
            });
        }
    }
    Ok(members)
}

/// `groups.csv`, each with its members (taken from `members`).
fn read_groups(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    members: &mut HashMap<String, Vec<Link<GroupMembership>>>,
) -> Result<bool, SourceError> {
    let k = &flat.config.columns.groups;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.groups,
        "groups.csv",
        EntityKind::Group,
        &[
            ("id", &k.id),
            ("display_name", &k.display_name),
            ("group_type", &k.group_type),
            ("school_type", &k.school_type),
            ("school_unit_id", &k.school_unit_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["id", "group_type", "school_unit_id"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
        let ok = r.ok(out, id)?;
        let group_members: Vec<GroupMembership> = members
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .map(|l| l.item)
            .collect();
        if ok && let Some(mut entity) = entity {
            entity.group_memberships = group_members;
            out.push(&mut batch, entity, Batch::Groups)?;
        }
    }
    out.flush(&mut batch, Batch::Groups)?;
    Ok(true)
}

/// `activity_groups.csv`: groups by activity id.
fn read_activity_groups(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<HashMap<String, Vec<Link<Reference>>>, SourceError> {
    let mut activity_groups: HashMap<String, Vec<Link<Reference>>> = HashMap::new();
    let k = &flat.config.columns.activity_groups;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.activity_groups,
        "activity_groups.csv",
        EntityKind::Activity,
        &[("activity_id", &k.activity_id), ("group_id", &k.group_id)],
        &["activity_id", "group_id"],
    )?
    else {
        return Ok(activity_groups);
    };
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let activity = r.required("activity_id");
        let group = r.required("group_id");
        if r.ok(out, activity)? {
            activity_groups
                .entry(activity.to_string())
                .or_default()
                .push(Link {
                    item: Reference::to(group),
                    file: Arc::clone(&row.sheet),
                    line: row.line,
                });
        }
    }
    Ok(activity_groups)
}

/// `activity_teachers.csv`: teachers (duties) by activity id.
fn read_activity_teachers(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
) -> Result<HashMap<String, Vec<Link<TeacherAssignment>>>, SourceError> {
    let mut activity_teachers: HashMap<String, Vec<Link<TeacherAssignment>>> = HashMap::new();
    let k = &flat.config.columns.activity_teachers;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.activity_teachers,
        "activity_teachers.csv",
        EntityKind::Activity,
        &[
            ("activity_id", &k.activity_id),
            ("duty_id", &k.duty_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["activity_id", "duty_id"],
    )?
    else {
        return Ok(activity_teachers);
    };
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
        let activity = r.required("activity_id");
        let duty = r.required("duty_id");
        let start_date = r.date("start_date");
        let end_date = r.date("end_date");
        if r.ok(out, activity)? {
            activity_teachers
                .entry(activity.to_string())
                .or_default()
                .push(Link {
                    item: TeacherAssignment {
                        duty: Some(Reference::to(duty)),
                        person: None,
                        start_date,
                        end_date,
                    },
                    file: Arc::clone(&row.sheet),
                    line: row.line,
                });
        }
    }
    Ok(activity_teachers)
}

/// `activities.csv`, each with its groups and teachers.
fn read_activities(
    flat: &Flat<'_>,
    out: &mut Out<'_>,
    activity_groups: &mut HashMap<String, Vec<Link<Reference>>>,
    activity_teachers: &mut HashMap<String, Vec<Link<TeacherAssignment>>>,
) -> Result<bool, SourceError> {
    let k = &flat.config.columns.activities;
    let Some(mut t) = Table::open(
        flat,
        &flat.config.files.activities,
        "activities.csv",
        EntityKind::Activity,
        &[
            ("id", &k.id),
            ("display_name", &k.display_name),
            ("activity_type", &k.activity_type),
            ("school_unit_id", &k.school_unit_id),
            ("syllabus_id", &k.syllabus_id),
            ("parent_activity_id", &k.parent_activity_id),
            ("start_date", &k.start_date),
            ("end_date", &k.end_date),
        ],
        &["id", "school_unit_id"],
    )?
    else {
        return Ok(false);
    };
    let mut batch = Vec::new();
    while let Some(row) = t.next(out)? {
        let mut r = t.cells(&row);
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
        let ok = r.ok(out, id)?;
        let groups = activity_groups.remove(id).unwrap_or_default();
        let teachers = activity_teachers.remove(id).unwrap_or_default();
        if ok {
            let mut entity = entity;
            entity.groups = groups.into_iter().map(|l| l.item).collect();
            entity.teachers = teachers.into_iter().map(|l| l.item).collect();
            out.push(&mut batch, entity, Batch::Activities)?;
        }
    }
    out.flush(&mut batch, Batch::Activities)?;
    Ok(true)
}

fn optional_school_type(
    raw: &str,
) -> Result<Option<skolsync_model::codes::Ss12000SchoolType>, String> {
    if raw.is_empty() {
        Ok(None)
    } else {
        school_type(raw).map(Some)
    }
}

/// Rejects link rows whose entity never came.
fn orphans<T>(
    out: &mut Out<'_>,
    left: HashMap<String, Vec<Link<T>>>,
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
