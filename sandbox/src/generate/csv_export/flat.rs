//! The flat layout of the CSV export: one file per entity type, the
//! columns skolsync's `layout = "flat"` reads by default.

use super::*;

pub(super) fn flat(
    m: &Municipality,
    dir: &Path,
    options: &CsvOptions,
) -> Result<Vec<PathBuf>, CsvExportError> {
    let s = &m.source;
    let mut files = Vec::with_capacity(11);

    let mut f = Sheet::create(
        dir,
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
        options,
    )?;
    for o in &s.organisations {
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
            o.parent_organisation
                .as_ref()
                .map(|r| r.id.as_str())
                .unwrap_or(""),
            &date(o.start_date),
            &date(o.end_date),
        ])?;
    }
    files.push(f.finish()?);

    let mut persons = Sheet::create(
        dir,
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
        options,
    )?;
    let mut enrolments = Sheet::create(
        dir,
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
        options,
    )?;
    for p in &s.persons {
        let email = p.emails.first();
        persons.row(&[
            p.id.as_str(),
            &p.given_name,
            p.middle_name.as_deref().unwrap_or(""),
            &p.family_name,
            &p.civic_no
                .as_ref()
                .map(|c| civic_no(&c.value, options.civic_no_format))
                .unwrap_or_default(),
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
        for e in &p.enrolments {
            enrolments.row(&[
                p.id.as_str(),
                e.enroled_at.id.as_str(),
                e.school_type.as_str(),
                &opt(e.school_year),
                e.education_code.as_deref().unwrap_or(""),
                e.programme.as_ref().map(|r| r.id.as_str()).unwrap_or(""),
                &date(e.start_date),
                &date(e.end_date),
                &opt(e.cancelled),
            ])?;
        }
    }
    files.push(persons.finish()?);
    files.push(enrolments.finish()?);

    let mut f = Sheet::create(
        dir,
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
        options,
    )?;
    for d in &s.duties {
        f.row(&[
            d.id.as_str(),
            d.person.as_ref().map(|r| r.id.as_str()).unwrap_or(""),
            d.duty_at.id.as_str(),
            &d.duty_role,
            d.signature.as_deref().unwrap_or(""),
            &date(d.start_date),
            &date(d.end_date),
        ])?;
    }
    files.push(f.finish()?);

    let mut groups = Sheet::create(
        dir,
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
        options,
    )?;
    let mut memberships = Sheet::create(
        dir,
        "memberships.csv",
        &["group_id", "person_id", "start_date", "end_date"],
        options,
    )?;
    for g in &s.groups {
        let group_type = override_field(m, EntityKind::Group, &g.id, "groupType")
            .unwrap_or(g.group_type.as_str());
        groups.row(&[
            g.id.as_str(),
            &g.display_name,
            group_type,
            g.school_type.map(|t| t.as_str()).unwrap_or(""),
            g.organisation.id.as_str(),
            &date(g.start_date),
            &date(g.end_date),
        ])?;
        for ms in &g.group_memberships {
            memberships.row(&[
                g.id.as_str(),
                ms.person.id.as_str(),
                &date(ms.start_date),
                &date(ms.end_date),
            ])?;
        }
    }
    files.push(groups.finish()?);
    files.push(memberships.finish()?);

    let mut activities = Sheet::create(
        dir,
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
        options,
    )?;
    let mut activity_groups = Sheet::create(
        dir,
        "activity_groups.csv",
        &["activity_id", "group_id"],
        options,
    )?;
    let mut activity_teachers = Sheet::create(
        dir,
        "activity_teachers.csv",
        &["activity_id", "duty_id", "start_date", "end_date"],
        options,
    )?;
    for a in &s.activities {
        let activity_type = override_field(m, EntityKind::Activity, &a.id, "activityType")
            .or(a.activity_type.map(|t| t.as_str()))
            .unwrap_or("");
        let parents: Vec<&str> = a.parent_activity.iter().map(|r| r.id.as_str()).collect();
        activities.row(&[
            a.id.as_str(),
            &a.display_name,
            activity_type,
            a.organisation.id.as_str(),
            a.syllabus.as_ref().map(|r| r.id.as_str()).unwrap_or(""),
            &parents.join(","),
            &date(a.start_date),
            &date(a.end_date),
        ])?;
        for g in &a.groups {
            activity_groups.row(&[a.id.as_str(), g.id.as_str()])?;
        }
        for t in &a.teachers {
            let Some(duty) = &t.duty else { continue };
            activity_teachers.row(&[
                a.id.as_str(),
                duty.id.as_str(),
                &date(t.start_date),
                &date(t.end_date),
            ])?;
        }
    }
    files.push(activities.finish()?);
    files.push(activity_groups.finish()?);
    files.push(activity_teachers.finish()?);

    let mut f = Sheet::create(
        dir,
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
        options,
    )?;
    for sy in &s.syllabuses {
        f.row(&[
            sy.id.as_str(),
            sy.school_type.map(|t| t.as_str()).unwrap_or(""),
            sy.subject_code.as_deref().unwrap_or(""),
            sy.subject_name.as_deref().unwrap_or(""),
            sy.subject_designation.as_deref().unwrap_or(""),
            sy.course_code.as_deref().unwrap_or(""),
            sy.course_name.as_deref().unwrap_or(""),
            &opt(sy.start_school_year),
            &opt(sy.end_school_year),
        ])?;
    }
    files.push(f.finish()?);

    let mut f = Sheet::create(
        dir,
        "programmes.csv",
        &["id", "name", "code", "school_type"],
        options,
    )?;
    for p in &s.programmes {
        f.row(&[
            p.id.as_str(),
            &p.name,
            p.code.as_deref().unwrap_or(""),
            p.school_type.map(|t| t.as_str()).unwrap_or(""),
        ])?;
    }
    files.push(f.finish()?);
    Ok(files)
}
