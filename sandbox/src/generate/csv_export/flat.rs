//! The flat layout of the CSV export: one file per entity type, the
//! columns skolsync's `layout = "flat"` reads by default.
//!
//! Each file is one pass over one source list ([`SHEETS`]); a child file
//! (enrolments, memberships, an activity's groups and teachers) makes its
//! own pass over the parents, so its rows come in the parents' order.

use skolsync_model::ss12000::Reference;

use super::*;

/// A file of the layout: its name, header and rows.
type Writer = fn(&Municipality, &mut Sheet, &CsvOptions) -> Result<(), CsvExportError>;

/// The files, in the order they are written.
const SHEETS: [(&str, &[&str], Writer); 11] = [
    (
        "organisations.csv",
        &[
            "id",
            "organisation_type",
            "display_name",
            "organisation_code",
            "organisation_number",
            "school_unit_code",
            "school_types",
            "municipality_code",
            "parent_id",
            "start_date",
            "end_date",
        ],
        organisations,
    ),
    (
        "persons.csv",
        &[
            "id",
            "given_name",
            "middle_name",
            "family_name",
            "civic_no",
            "security_marking",
            "eppn",
            "email",
            "email_type",
            "eduid_eppn",
            "person_status",
        ],
        persons,
    ),
    (
        "enrolments.csv",
        &[
            "person_id",
            "school_unit_id",
            "school_type",
            "school_year",
            "education_code",
            "programme_id",
            "start_date",
            "end_date",
            "cancelled",
        ],
        enrolments,
    ),
    (
        "duties.csv",
        &[
            "id",
            "person_id",
            "school_unit_id",
            "duty_role",
            "signature",
            "start_date",
            "end_date",
        ],
        duties,
    ),
    (
        "groups.csv",
        &[
            "id",
            "display_name",
            "group_type",
            "school_type",
            "school_unit_id",
            "start_date",
            "end_date",
        ],
        groups,
    ),
    (
        "memberships.csv",
        &["group_id", "person_id", "start_date", "end_date"],
        memberships,
    ),
    (
        "activities.csv",
        &[
            "id",
            "display_name",
            "activity_type",
            "school_unit_id",
            "syllabus_id",
            "parent_activity_id",
            "start_date",
            "end_date",
        ],
        activities,
    ),
    (
        "activity_groups.csv",
        &["activity_id", "group_id"],
        activity_groups,
    ),
    (
        "activity_teachers.csv",
        &["activity_id", "duty_id", "start_date", "end_date"],
        activity_teachers,
    ),
    (
        "syllabuses.csv",
        &[
            "id",
            "school_type",
            "subject_code",
            "subject_name",
            "subject_designation",
            "course_code",
            "course_name",
            "start_school_year",
            "end_school_year",
        ],
        syllabuses,
    ),
    (
        "programmes.csv",
        &["id", "name", "code", "school_type"],
        programmes,
    ),
];

pub(super) fn flat(
    m: &Municipality,
    dir: &Path,
    options: &CsvOptions,
) -> Result<Vec<PathBuf>, CsvExportError> {
    SHEETS
        .iter()
        .map(|(name, header, write)| {
            let mut sheet = Sheet::create(dir, name, header, options)?;
            write(m, &mut sheet, options)?;
            sheet.finish()
        })
        .collect()
}

/// The id of an optional reference, or an empty field.
fn id_of(r: Option<&Reference>) -> &str {
    r.map(|r| r.id.as_str()).unwrap_or("")
}

fn organisations(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for o in &m.source.organisations {
        let types: Vec<&str> = o.school_types.iter().map(|t| t.as_str()).collect();
        f.row(&[
            o.id.as_str(),
            o.organisation_type.as_str(),
            &o.display_name,
            o.organisation_code.as_deref().unwrap_or(""),
            o.organisation_number.as_deref().unwrap_or(""),
            o.school_unit_code.as_deref().unwrap_or(""),
            &types.join(","),
            o.municipality_code.as_deref().unwrap_or(""),
            id_of(o.parent_organisation.as_ref()),
            &date(o.start_date),
            &date(o.end_date),
        ])?;
    }
    Ok(())
}

fn persons(m: &Municipality, f: &mut Sheet, options: &CsvOptions) -> Result<(), CsvExportError> {
    for p in &m.source.persons {
        let email = p.emails.first();
        f.row(&[
            p.id.as_str(),
            &p.given_name,
            p.middle_name.as_deref().unwrap_or(""),
            &p.family_name,
            &person_civic_no(Some(p), options.civic_no_format),
            &opt(p.security_marking),
            &p.edu_person_principal_names.join(","),
            email.map(|e| e.value.as_str()).unwrap_or(""),
            email
                .and_then(|e| e.email_type)
                .map(|t| t.as_str())
                .unwrap_or(""),
            eduid(p),
            &opt(p.person_status),
        ])?;
    }
    Ok(())
}

fn enrolments(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for p in &m.source.persons {
        for e in &p.enrolments {
            f.row(&[
                p.id.as_str(),
                e.enroled_at.id.as_str(),
                e.school_type.as_str(),
                &opt(e.school_year),
                e.education_code.as_deref().unwrap_or(""),
                id_of(e.programme.as_ref()),
                &date(e.start_date),
                &date(e.end_date),
                &opt(e.cancelled),
            ])?;
        }
    }
    Ok(())
}

fn duties(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for d in &m.source.duties {
        f.row(&[
            d.id.as_str(),
            id_of(d.person.as_ref()),
            d.duty_at.id.as_str(),
            &d.duty_role,
            d.signature.as_deref().unwrap_or(""),
            &date(d.start_date),
            &date(d.end_date),
        ])?;
    }
    Ok(())
}

fn groups(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for g in &m.source.groups {
        let group_type = override_field(m, EntityKind::Group, &g.id, "groupType")
            .unwrap_or(g.group_type.as_str());
        f.row(&[
            g.id.as_str(),
            &g.display_name,
            group_type,
            g.school_type.as_ref().map(|t| t.as_str()).unwrap_or(""),
            g.organisation.id.as_str(),
            &date(g.start_date),
            &date(g.end_date),
        ])?;
    }
    Ok(())
}

fn memberships(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for g in &m.source.groups {
        for ms in &g.group_memberships {
            f.row(&[
                g.id.as_str(),
                ms.person.id.as_str(),
                &date(ms.start_date),
                &date(ms.end_date),
            ])?;
        }
    }
    Ok(())
}

fn activities(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for a in &m.source.activities {
        let activity_type = override_field(m, EntityKind::Activity, &a.id, "activityType")
            .or(a.activity_type.map(|t| t.as_str()))
            .unwrap_or("");
        let parents: Vec<&str> = a.parent_activity.iter().map(|r| r.id.as_str()).collect();
        f.row(&[
            a.id.as_str(),
            &a.display_name,
            activity_type,
            a.organisation.id.as_str(),
            id_of(a.syllabus.as_ref()),
            &parents.join(","),
            &date(a.start_date),
            &date(a.end_date),
        ])?;
    }
    Ok(())
}

fn activity_groups(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for a in &m.source.activities {
        for g in &a.groups {
            f.row(&[a.id.as_str(), g.id.as_str()])?;
        }
    }
    Ok(())
}

fn activity_teachers(
    m: &Municipality,
    f: &mut Sheet,
    _: &CsvOptions,
) -> Result<(), CsvExportError> {
    for a in &m.source.activities {
        for t in &a.teachers {
            let Some(duty) = &t.duty else { continue };
            f.row(&[
                a.id.as_str(),
                duty.id.as_str(),
                &date(t.start_date),
                &date(t.end_date),
            ])?;
        }
    }
    Ok(())
}

fn syllabuses(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for sy in &m.source.syllabuses {
        f.row(&[
            sy.id.as_str(),
            sy.school_type.as_ref().map(|t| t.as_str()).unwrap_or(""),
            sy.subject_code.as_deref().unwrap_or(""),
            sy.subject_name.as_deref().unwrap_or(""),
            sy.subject_designation.as_deref().unwrap_or(""),
            sy.course_code.as_deref().unwrap_or(""),
            sy.course_name.as_deref().unwrap_or(""),
            &opt(sy.start_school_year),
            &opt(sy.end_school_year),
        ])?;
    }
    Ok(())
}

fn programmes(m: &Municipality, f: &mut Sheet, _: &CsvOptions) -> Result<(), CsvExportError> {
    for p in &m.source.programmes {
        f.row(&[
            p.id.as_str(),
            &p.name,
            p.code.as_deref().unwrap_or(""),
            p.school_type.as_ref().map(|t| t.as_str()).unwrap_or(""),
        ])?;
    }
    Ok(())
}
