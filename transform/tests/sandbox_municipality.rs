//! The transform over sandbox-generated municipalities: clean data goes
//! through whole, every deliberately broken record is rejected (or warned
//! about) with the right reason, counts add up, and what comes out is what
//! the Provisioning API's schemas and the profile allow.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};

use skolsync_model::reject::Severity;
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{CivicNo, GroupType, SchoolUnitCode, Ss12000SchoolType, TestActivityName};
use skolsync_sandbox::generate::{DirtKind, DirtyRecord, Municipality, REFERENCE_DATE};
use skolsync_transform::TransformOutput;

/// The test activity an activity of the generated data leads to, worked out
/// from its syllabus alone: the course for GY, the subject + the last year
/// of the syllabus's stage for GR (the generator only tests in those years).
fn expected_test(s: &Snapshot, activity: usize) -> Option<String> {
    let a = &s.activities[activity];
    let syllabus = s
        .syllabuses
        .iter()
        .find(|x| Some(&x.id) == a.syllabus.as_ref().map(|r| &r.id))?;
    match (
        &syllabus.course_code,
        &syllabus.subject_code,
        syllabus.end_school_year,
    ) {
        (Some(course), _, _) => Some(course.clone()),
        (None, Some(subject), Some(end)) => Some(format!("{subject}_{end}")),
        _ => None,
    }
}

fn ids<T>(items: &[skolsync_model::plan::Desired<T>]) -> BTreeSet<String> {
    items.iter().map(|d| d.source_id.clone()).collect()
}

#[test]
fn clean_municipality_goes_through_whole_and_nothing_is_rejected() {
    let m = common::municipality(1500, 11, 0.0);
    let out = common::run(&m, common::config());
    let s = common::snapshot_of(&m.source);
    let day = REFERENCE_DATE;

    let problems: Vec<String> = out.rejects.iter().map(|r| r.to_string()).collect();
    assert!(
        problems.is_empty(),
        "clean data gave rejects/warnings:\n{}",
        problems.join("\n")
    );
    common::assert_counts_add_up(&out);
    common::assert_payloads_match_spec(&out, &common::known(&common::open_data_of(&m.catalogue)));

    // Persons: pupils of GR and GY, and staff with a current duty.
    let staff: HashSet<&str> = s
        .duties
        .iter()
        .filter(|d| d.is_active_on(day))
        .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str()))
        .collect();
    let expected: BTreeSet<String> = s
        .persons
        .iter()
        .filter(|p| {
            p.enrolments.iter().any(|e| {
                e.is_active_on(day)
                    && matches!(
                        e.school_type.known(),
                        Some(Ss12000SchoolType::Gr | Ss12000SchoolType::Gy)
                    )
            }) || staff.contains(p.id.as_str())
        })
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(ids(&out.desired.persons), expected);
    assert!(
        out.counts.persons.out_of_scope > 0,
        "förskoleklass pupils are out of scope"
    );

    // Duties: every current one.
    let expected: BTreeSet<String> = s
        .duties
        .iter()
        .filter(|d| d.is_active_on(day))
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(ids(&out.desired.duties), expected);

    // Activities: those whose subject/course has a national test, each
    // with that test activity as parent.
    let names: HashSet<&str> = m
        .catalogue
        .test_activities
        .iter()
        .map(|t| t.display_name.as_str())
        .collect();
    let mut tested: HashMap<String, String> = HashMap::new();
    for (i, a) in s.activities.iter().enumerate() {
        if let Some(name) = expected_test(&s, i).filter(|n| names.contains(n.as_str())) {
            tested.insert(a.id.to_string(), name);
        }
    }
    assert_eq!(
        ids(&out.desired.activities),
        tested.keys().cloned().collect::<BTreeSet<_>>()
    );
    for d in &out.desired.activities {
        assert_eq!(
            d.payload.parent_activity.id,
            TestActivityName::new(&tested[&d.source_id]).skolverket_id(),
            "activity {}",
            d.source_id
        );
        let a = s
            .activities
            .iter()
            .find(|a| a.id.as_str() == d.source_id)
            .unwrap();
        assert_eq!(
            d.payload.teachers.len(),
            a.teachers.len(),
            "every teacher kept"
        );
    }

    // Groups: GR/GY classes, and the teaching groups of tested activities.
    let taught: HashSet<&str> = s
        .activities
        .iter()
        .filter(|a| tested.contains_key(a.id.as_str()))
        .flat_map(|a| a.groups.iter().map(|g| g.id.as_str()))
        .collect();
    let expected: BTreeSet<String> = s
        .groups
        .iter()
        .filter(|g| match g.group_type {
            GroupType::Klass => matches!(
                g.school_type.as_ref().and_then(|t| t.known()),
                Some(Ss12000SchoolType::Gr | Ss12000SchoolType::Gy)
            ),
            GroupType::Undervisning => taught.contains(g.id.as_str()),
            _ => false,
        })
        .map(|g| g.id.to_string())
        .collect();
    assert_eq!(ids(&out.desired.groups), expected);
    for d in &out.desired.groups {
        let g = s
            .groups
            .iter()
            .find(|g| g.id.as_str() == d.source_id)
            .unwrap();
        let current: HashSet<&str> = g
            .group_memberships
            .iter()
            .filter(|ms| ms.is_active_on(day))
            .map(|ms| ms.person.id.as_str())
            .collect();
        assert_eq!(
            d.payload.group_memberships.len(),
            current.len(),
            "group {}",
            g.display_name
        );
    }

    // Payload content of the pupils: normalised personnummer, Skolverket's
    // school unit id, the year.
    let codes: HashMap<&str, &str> = s
        .organisations
        .iter()
        .filter_map(|o| o.school_unit_code.as_deref().map(|c| (o.id.as_str(), c)))
        .collect();
    for d in &out.desired.persons {
        let p = s
            .persons
            .iter()
            .find(|p| p.id.as_str() == d.source_id)
            .unwrap();
        let civic = CivicNo::parse(&p.civic_no.as_ref().unwrap().value).unwrap();
        assert_eq!(d.payload.civic_no.value, civic.as_str());
        for e in &d.payload.enrolments {
            let src = p
                .enrolments
                .iter()
                .find(|x| {
                    x.is_active_on(day)
                        && SchoolUnitCode::new(codes[x.enroled_at.id.as_str()]).skolverket_id()
                            == e.enroled_at.id
                })
                .expect("enrolment from a current source enrolment");
            assert_eq!(e.school_year, src.school_year);
        }
    }
}

/// The reject for `id` whose field satisfies `field`, if any.
fn find<'a>(
    out: &'a TransformOutput,
    kind: EntityKind,
    id: &str,
    severity: Severity,
) -> Vec<&'a skolsync_model::reject::Reject> {
    out.rejects
        .iter()
        .filter(|r| {
            r.entity == kind && r.source_id.as_deref() == Some(id) && r.severity == severity
        })
        .collect()
}

/// `d` is reported as its fault says (or, for a group that lost its
/// activity before the transform, not sent and not reported).
fn assert_reported(out: &TransformOutput, d: &DirtyRecord, lost_activity: &HashSet<&str>) {
    let id = d.id.as_str();
    let rejected = find(out, d.kind, id, Severity::Rejected);
    let warned = find(out, d.kind, id, Severity::Warning);
    let field_of = |rs: &[&skolsync_model::reject::Reject]| -> Vec<String> {
        rs.iter().filter_map(|r| r.field.clone()).collect()
    };
    let has = |rs: &[&skolsync_model::reject::Reject], field: &str, words: &str| {
        rs.iter().any(|r| {
            r.field.as_deref().is_some_and(|f| f.contains(field)) && r.reason.contains(words)
        })
    };
    match d.fault {
        DirtKind::InvalidCivicNo => {
            assert!(
                has(&rejected, "civicNo", "check digit"),
                "{d:?}: {rejected:?}"
            );
            let value = rejected[0].value.as_deref().unwrap_or_default();
            assert!(value.ends_with("-****"), "masked: {value}");
        }
        DirtKind::InvalidCivicNoDate => {
            assert!(
                has(&rejected, "civicNo", "real date"),
                "{d:?}: {rejected:?}"
            )
        }
        DirtKind::StaffWithoutEmail => {
            assert!(has(&rejected, "emails", "e-mail"), "{d:?}: {rejected:?}")
        }
        DirtKind::MissingEppn => assert!(
            has(&rejected, "eduPersonPrincipalNames", "no EPPN"),
            "{d:?}: {rejected:?}"
        ),
        DirtKind::DuplicateEppn => assert!(
            has(&rejected, "eduPersonPrincipalNames", "same EPPN"),
            "{d:?}: {rejected:?}"
        ),
        DirtKind::UnknownSchoolUnit => {
            let field = match d.kind {
                EntityKind::Person => "enroledAt",
                EntityKind::Duty => "dutyAt",
                _ => "organisation",
            };
            assert!(
                has(&rejected, field, "not known to Skolverket"),
                "{d:?}: {:?}",
                field_of(&rejected)
            );
        }
        DirtKind::DanglingMembership if lost_activity.contains(id) => {
            assert!(rejected.is_empty() && warned.is_empty(), "{d:?}");
            assert!(!ids(&out.desired.groups).contains(id));
        }
        DirtKind::DanglingMembership => {
            // Sent without the unknown member, with a warning naming it.
            assert!(rejected.is_empty(), "{d:?}: {rejected:?}");
            assert!(
                has(&warned, "groupMemberships.person", "not in the source"),
                "{d:?}: {warned:?}"
            );
            let ghost = warned
                .iter()
                .find(|r| r.reason.contains("not in the source"))
                .and_then(|r| r.value.clone())
                .unwrap();
            let sent = out
                .desired
                .groups
                .iter()
                .find(|g| g.source_id == id)
                .unwrap();
            let ghost_id = skolsync_transform::IdScheme::new(None, Default::default())
                .id(skolsync_model::ObjectType::Person, &ghost);
            assert!(
                sent.payload
                    .group_memberships
                    .iter()
                    .all(|x| x.person.id != ghost_id)
            );
        }
        DirtKind::DanglingTeacher => {
            assert!(rejected.is_empty(), "{d:?}: {rejected:?}");
            assert!(
                has(&warned, "teachers", "not in the source"),
                "{d:?}: {warned:?}"
            );
            assert!(out.desired.activities.iter().any(|a| a.source_id == id));
        }
        DirtKind::UnknownEnumValue => {
            // Refused by the connector's parser; never reaches the transform.
            assert!(rejected.is_empty() && warned.is_empty());
            let kind_ids = match d.kind {
                EntityKind::Group => ids(&out.desired.groups),
                _ => ids(&out.desired.activities),
            };
            assert!(!kind_ids.contains(id));
        }
    }
}

#[test]
fn every_dirty_record_is_reported_with_its_reason_and_the_rest_goes_through() {
    let (students, seed) = (1500, 11);
    let m: Municipality = common::municipality(students, seed, 0.05);
    let clean = common::run(&common::municipality(students, seed, 0.0), common::config());
    let out = common::run(&m, common::config());
    common::assert_counts_add_up(&out);
    common::assert_payloads_match_spec(&out, &common::known(&common::open_data_of(&m.catalogue)));
    assert!(m.dirty.len() > 50, "{} dirty records", m.dirty.len());

    // Teaching groups whose activity carried an unknown activity type lost
    // that activity before the transform (the connector refuses it), so
    // they are out of scope.
    let lost_activity: HashSet<&str> = m
        .dirty
        .iter()
        .filter(|d| d.fault == DirtKind::UnknownEnumValue && d.kind == EntityKind::Activity)
        .filter_map(|d| m.source.activities.iter().find(|a| a.id == d.id))
        .flat_map(|a| a.groups.iter().map(|g| g.id.as_str()))
        .collect();
    let mut dirty_persons: HashSet<&str> = HashSet::new();
    let mut dirty: HashSet<(EntityKind, &str)> = HashSet::new();
    for d in &m.dirty {
        let id = d.id.as_str();
        dirty.insert((d.kind, id));
        if d.kind == EntityKind::Person {
            dirty_persons.insert(id);
        }
        assert_reported(&out, d, &lost_activity);
    }

    // Every Rejected record is a dirty one, or a duty of a dirty person
    // (its consequence, reported as such).
    let duty_person: HashMap<&str, &str> = m
        .source
        .duties
        .iter()
        .filter_map(|d| d.person.as_ref().map(|p| (d.id.as_str(), p.id.as_str())))
        .collect();
    for r in out
        .rejects
        .iter()
        .filter(|r| r.severity == Severity::Rejected)
    {
        let id = r.source_id.as_deref().unwrap();
        if dirty.contains(&(r.entity, id)) {
            continue;
        }
        assert_eq!(r.entity, EntityKind::Duty, "unexpected reject {r}");
        let person = duty_person[id];
        assert!(dirty_persons.contains(person), "unexpected reject {r}");
        assert!(r.reason.contains("was rejected"), "{r}");
        assert_eq!(r.field.as_deref(), Some("person"));
    }

    // Every record the clean run sent is sent again unless it is dirty or
    // such a consequence; groups whose members were rejected carry warnings.
    let consequence = |id: &str| {
        duty_person
            .get(id)
            .is_some_and(|p| dirty_persons.contains(p))
    };
    for (kind, before, after) in [
        (
            EntityKind::Person,
            ids(&clean.desired.persons),
            ids(&out.desired.persons),
        ),
        (
            EntityKind::Duty,
            ids(&clean.desired.duties),
            ids(&out.desired.duties),
        ),
        (
            EntityKind::Group,
            ids(&clean.desired.groups),
            ids(&out.desired.groups),
        ),
        (
            EntityKind::Activity,
            ids(&clean.desired.activities),
            ids(&out.desired.activities),
        ),
    ] {
        for id in before.difference(&after) {
            let explained = dirty.contains(&(kind, id.as_str()))
                || (kind == EntityKind::Duty && consequence(id));
            let lost = kind == EntityKind::Group && lost_activity.contains(id.as_str());
            assert!(explained || lost, "{kind} {id} went missing");
        }
    }
    let warned_groups: HashSet<&str> = out
        .rejects
        .iter()
        .filter(|r| r.entity == EntityKind::Group && r.severity == Severity::Warning)
        .filter_map(|r| r.source_id.as_deref())
        .collect();
    for g in &m.source.groups {
        let has_dirty_member = g
            .group_memberships
            .iter()
            .any(|ms| dirty_persons.contains(ms.person.id.as_str()));
        if has_dirty_member
            && out
                .desired
                .groups
                .iter()
                .any(|d| d.source_id == g.id.as_str())
        {
            assert!(
                warned_groups.contains(g.id.as_str()),
                "group {} not warned",
                g.display_name
            );
        }
    }
}

#[test]
fn rejects_name_entity_id_field_value_unit_and_never_show_a_personnummer() {
    let m = common::municipality(600, 5, 0.05);
    let out = common::run(&m, common::config());
    let numbers: Vec<String> = m
        .source
        .persons
        .iter()
        .filter_map(|p| p.civic_no.as_ref().map(|c| c.value.clone()))
        .collect();
    assert!(!out.rejects.is_empty());
    for r in &out.rejects {
        assert!(r.source_id.is_some(), "{r}");
        assert!(r.field.is_some(), "{r}");
        assert!(!r.reason.is_empty());
        let text = format!("{r} {:?}", r.value);
        for n in &numbers {
            assert!(!text.contains(n.as_str()), "personnummer in {text}");
        }
    }
    // Person rejects carry the school unit, for grouping in reports.
    assert!(
        out.rejects
            .iter()
            .filter(|r| r.entity == EntityKind::Person)
            .all(|r| r.school_unit.is_some()),
        "person rejects without a school unit"
    );
}
