//! Single rules on small hand-made sources: open-data checks of school
//! units and programmes, roles, e-mail, EPPNs, duplicates, scope, and the
//! variations real sources send.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixture::{self, CENTRAL, CLOSED, GHOST, GYMNASIET, NOT_IN_DNP, SMALL, pnr};
use serde_json::json;
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{DutyRole, EmailType, ObjectType, SchoolUnitCode};
use skolsync_transform::{EppnDomain, EppnMode, IdScheme, TransformOutput, Transformer};

fn rejected<'a>(out: &'a TransformOutput, kind: EntityKind, id: &str) -> Vec<&'a Reject> {
    out.rejects
        .iter()
        .filter(|r| {
            r.entity == kind
                && r.source_id.as_deref() == Some(id)
                && r.severity == Severity::Rejected
        })
        .collect()
}

fn kept(out: &TransformOutput, id: &str) -> bool {
    out.desired.persons.iter().any(|p| p.source_id == id)
}

fn pupils(list: Vec<skolsync_model::ss12000::Person>) -> Snapshot {
    let mut s = fixture::snapshot();
    s.persons = list;
    s
}

#[test]
fn personnummer_in_the_forms_sources_use_become_twelve_digits() {
    let a = pnr("20140305", 101);
    let b = pnr("19120101", 5);
    let ten_dash = format!("{}-{}", &a[2..8], &a[8..]);
    let ten_plus = format!("{}+{}", &b[2..8], &b[8..]);
    let mut old = fixture::staff("old", &ten_plus);
    old.emails[0].email_type = None;
    let mut s = pupils(vec![
        fixture::pupil("p1", &ten_dash, CENTRAL, "GR", Some(6)),
        old,
    ]);
    s.duties.push(fixture::duty("d1", "old", CENTRAL, "Rektor"));
    let out = fixture::run(&s, fixture::config());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let civic = |id: &str| {
        out.desired
            .persons
            .iter()
            .find(|p| p.source_id == id)
            .map(|p| p.payload.civic_no.value.clone())
    };
    assert_eq!(civic("p1").as_deref(), Some(a.as_str()));
    assert_eq!(civic("old").as_deref(), Some(b.as_str()));
    // An untyped staff address is sent as the staff type.
    let staff = out
        .desired
        .persons
        .iter()
        .find(|p| p.source_id == "old")
        .unwrap();
    assert_eq!(
        staff.payload.emails[0].email_type,
        Some(EmailType::SkolaPersonal)
    );
}

#[test]
fn school_units_years_and_programmes_are_checked_against_open_data() {
    let mut gy_none = fixture::pupil("gy-none", &pnr("20090101", 11), GYMNASIET, "GY", Some(1));
    gy_none.enrolments[0].education_code = None;
    let mut gy_old = fixture::pupil("gy-old", &pnr("20090101", 12), GYMNASIET, "GY", Some(1));
    gy_old.enrolments[0].education_code = Some("GAMMAL".into());
    let mut gy_future = fixture::pupil("gy-future", &pnr("20090101", 13), GYMNASIET, "GY", Some(1));
    gy_future.enrolments[0].education_code = Some("FRAMTID".into());
    let mut gy_unknown =
        fixture::pupil("gy-unknown", &pnr("20090101", 14), GYMNASIET, "GY", Some(1));
    gy_unknown.enrolments[0].education_code = Some("XYZ".into());
    let s = pupils(vec![
        fixture::pupil("ok", &pnr("20140305", 1), CENTRAL, "GR", Some(6)),
        fixture::pupil("closed", &pnr("20140305", 2), CLOSED, "GR", Some(6)),
        fixture::pupil("no-dnp", &pnr("20140305", 3), NOT_IN_DNP, "GR", Some(6)),
        fixture::pupil("ghost", &pnr("20140305", 4), GHOST, "GR", Some(6)),
        fixture::pupil("year", &pnr("20140305", 5), SMALL, "GR", Some(6)),
        fixture::pupil("sp", &pnr("20140305", 6), SMALL, "SP", Some(6)),
        fixture::pupil("no-year", &pnr("20140305", 7), CENTRAL, "GR", None),
        fixture::pupil("gy-ok", &pnr("20090101", 10), GYMNASIET, "GY", Some(1)),
        gy_none,
        gy_old,
        gy_future,
        gy_unknown,
    ]);
    let out = fixture::run(&s, fixture::config());
    common::assert_counts_add_up(&out);
    assert!(kept(&out, "ok") && kept(&out, "gy-ok"));
    for (id, field, words) in [
        (
            "closed",
            "enrolments[0].enroledAt",
            "10000003 of the enrolment has closed",
        ),
        (
            "no-dnp",
            "enrolments[0].enroledAt",
            "10000004 of the enrolment is not set up in the provtjänst",
        ),
        (
            "ghost",
            "enrolments[0].enroledAt",
            "10000009 of the enrolment is not known to Skolverket",
        ),
        (
            "year",
            "enrolments[0].schoolYear",
            "10000005 does not offer year 6 of GR",
        ),
        (
            "sp",
            "enrolments[0].schoolType",
            "school type SP at school unit 10000005 is not set up",
        ),
        (
            "no-year",
            "enrolments[0].schoolYear",
            "school year is missing",
        ),
        (
            "gy-none",
            "enrolments[0].educationCode",
            "no education code",
        ),
        ("gy-old", "enrolments[0].educationCode", "GAMMAL has ended"),
        (
            "gy-future",
            "enrolments[0].educationCode",
            "FRAMTID may only be provisioned from 2030-07-01",
        ),
        (
            "gy-unknown",
            "enrolments[0].educationCode",
            "XYZ is not a programme Skolverket knows",
        ),
    ] {
        let r = rejected(&out, EntityKind::Person, id);
        assert!(!kept(&out, id), "{id} kept");
        assert!(
            r.iter()
                .any(|r| r.field.as_deref() == Some(field) && r.reason.contains(words)),
            "{id}: {r:?}"
        );
    }
    // The unit code is attached for reports.
    assert_eq!(
        rejected(&out, EntityKind::Person, "closed")[0]
            .school_unit
            .as_deref(),
        Some(CLOSED)
    );
}

#[test]
fn a_person_who_is_pupil_and_staff_keeps_the_pupil_role() {
    let civic = pnr("20080808", 21);
    let mut s = pupils(vec![fixture::pupil(
        "both",
        &civic,
        GYMNASIET,
        "GY",
        Some(3),
    )]);
    s.duties
        .push(fixture::duty("d-both", "both", CENTRAL, "Lärarassistent"));
    let out = fixture::run(&s, fixture::config());
    let person = out
        .desired
        .persons
        .iter()
        .find(|p| p.source_id == "both")
        .unwrap();
    assert_eq!(person.payload.enrolments.len(), 1);
    assert_eq!(
        person.payload.emails[0].email_type,
        Some(EmailType::SkolaElev)
    );
    assert!(out.desired.duties.is_empty());
    let r = rejected(&out, EntityKind::Duty, "d-both");
    // skolsync's own rule: no id is cited (9117 is only the sandbox's).
    assert!(r[0].reason.contains("skolsync's own check"), "{}", r[0]);
    assert!(!r[0].reason.contains("9117"), "{}", r[0]);
    common::assert_counts_add_up(&out);
}

#[test]
fn staff_need_a_school_address_and_their_duties_follow_them() {
    let mut s = pupils(vec![fixture::staff("t1", &pnr("19750505", 31))]);
    s.persons[0].emails[0].email_type = Some(EmailType::Privat);
    s.duties.push(fixture::duty("d1", "t1", CENTRAL, "Lärare"));
    let out = fixture::run(&s, fixture::config());
    assert!(rejected(&out, EntityKind::Person, "t1")[0].field.as_deref() == Some("emails"));
    let duty = rejected(&out, EntityKind::Duty, "d1");
    assert!(duty[0].reason.contains("was rejected"), "{}", duty[0]);
    assert!(out.desired.persons.is_empty() && out.desired.duties.is_empty());
}

#[test]
fn duty_roles_are_mapped_and_unknown_ones_refused() {
    let mut s = pupils(vec![
        fixture::staff("t1", &pnr("19750505", 31)),
        fixture::staff("t2", &pnr("19750505", 32)),
        fixture::staff("t3", &pnr("19750505", 33)),
    ]);
    s.duties.push(fixture::duty(
        "d1",
        "t1",
        CENTRAL,
        "Övrig pedagogisk personal",
    ));
    s.duties.push(fixture::duty("d2", "t2", CENTRAL, "lärare"));
    s.duties
        .push(fixture::duty("d3", "t3", CENTRAL, "Vaktmästare"));
    let out = fixture::run(&s, fixture::config());
    let role = |out: &TransformOutput, id: &str| {
        out.desired
            .duties
            .iter()
            .find(|d| d.source_id == id)
            .map(|d| d.payload.duty_role)
    };
    assert_eq!(role(&out, "d1"), Some(DutyRole::AnnanPersonal));
    assert_eq!(role(&out, "d2"), Some(DutyRole::Larare));
    let r = rejected(&out, EntityKind::Duty, "d3");
    assert_eq!(r[0].field.as_deref(), Some("dutyRole"));
    assert_eq!(r[0].value.as_deref(), Some("Vaktmästare"));
    // The person still goes (staff by their duty in scope); the engine's
    // report shows the duty.
    assert!(kept(&out, "t3"));

    let mut config = fixture::config();
    config
        .duty_role_map
        .insert("Vaktmästare".into(), "Annan personal".into());
    let out = fixture::run(&s, config);
    assert_eq!(role(&out, "d3"), Some(DutyRole::AnnanPersonal));
}

#[test]
fn teachers_given_as_persons_get_their_duty_at_the_activitys_unit() {
    let mut s = pupils(vec![
        fixture::pupil("p1", &pnr("20140305", 41), CENTRAL, "GR", Some(6)),
        fixture::staff("t1", &pnr("19750505", 42)),
        fixture::staff("t2", &pnr("19750505", 43)),
    ]);
    s.duties
        .push(fixture::duty("d-small", "t1", SMALL, "Lärare"));
    s.duties
        .push(fixture::duty("d-central", "t1", CENTRAL, "Lärare"));
    s.duties.push(fixture::duty("d-t2", "t2", SMALL, "Lärare"));
    s.groups.push(fixture::group(
        "tg",
        "Undervisning",
        Some("GR"),
        CENTRAL,
        &["p1"],
    ));
    let mut a = fixture::activity_json("a1", CENTRAL, &["tg"], &[]);
    a["teachers"] = json!([{"person": {"id": "t1"}}, {"person": {"id": "t2"}}]);
    a["parentActivity"] = json!({"id": "GRGRMAT01_6"});
    s.activities.push(fixture::activity(a));
    let out = fixture::run(&s, fixture::config());
    let ids = IdScheme::new(None, Default::default());
    let activity = &out.desired.activities[0].payload;
    assert_eq!(activity.teachers.len(), 1);
    assert_eq!(
        activity.teachers[0].duty.id,
        ids.id(ObjectType::Duty, "d-central")
    );
    let warning = out
        .rejects
        .iter()
        .find(|r| r.severity == Severity::Warning && r.entity == EntityKind::Activity)
        .expect("warning about t2");
    assert!(warning.reason.contains("t2 holds no duty"), "{warning}");
}

#[test]
fn eppn_is_derived_from_the_source_id_when_configured() {
    let mut p = fixture::pupil(
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        &pnr("20140305", 51),
        CENTRAL,
        "GR",
        Some(6),
    );
    p.edu_person_principal_names.clear();
    let mut q = fixture::pupil("elev-17", &pnr("20140305", 52), CENTRAL, "GR", Some(6));
    q.edu_person_principal_names.clear();
    let s = pupils(vec![p, q]);
    let out = fixture::run(&s, fixture::config());
    assert_eq!(out.counts.persons.rejected, 2);

    let mut config = fixture::config();
    config.eppn_domain = Some(EppnDomain {
        student: Some("elev.testby.se".into()),
        staff: Some("testby.se".into()),
        mode: EppnMode::Missing,
    });
    let out = fixture::run(&s, config.clone());
    let eppn = |id: &str| {
        out.desired
            .persons
            .iter()
            .find(|p| p.source_id == id)
            .map(|p| p.payload.edu_person_principal_names.clone())
    };
    assert_eq!(
        eppn("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        Some(vec![
            "3fa85f64-5717-4562-b3fc-2c963f66afa6@elev.testby.se".to_string()
        ])
    );
    let derived = eppn("elev-17").unwrap().remove(0);
    assert!(
        derived.ends_with("@elev.testby.se") && !derived.contains("elev-17"),
        "{derived}"
    );
    assert!(
        !derived.to_lowercase().contains("num"),
        "no part of the name: {derived}"
    );
    // Stable from run to run.
    assert_eq!(eppn("elev-17").unwrap()[0], derived);

    config.eppn_domain = Some(EppnDomain {
        student: Some("testby.se".into()),
        staff: Some("TESTBY.se".into()),
        mode: EppnMode::Missing,
    });
    let err = Transformer::new(config, fixture::open_data()).unwrap_err();
    assert!(err.to_string().contains("must differ"), "{err}");
}

#[test]
fn one_personnummer_one_person_pupils_first() {
    let civic = pnr("20050505", 61);
    let mut staff = fixture::staff("staff-record", &civic);
    staff.edu_person_principal_names = vec!["s1@testby.se".into()];
    let mut s = pupils(vec![
        staff,
        fixture::pupil("pupil-record", &civic, GYMNASIET, "GY", Some(3)),
    ]);
    s.duties.push(fixture::duty(
        "d1",
        "staff-record",
        CENTRAL,
        "Lärarassistent",
    ));
    let out = fixture::run(&s, fixture::config());
    assert!(kept(&out, "pupil-record"));
    let r = rejected(&out, EntityKind::Person, "staff-record");
    assert!(
        r[0].reason.contains("same personnummer") && r[0].reason.contains("pupil-record"),
        "{}",
        r[0]
    );
    assert!(r[0].value.as_deref().is_some_and(|v| v.ends_with("-****")));
    common::assert_counts_add_up(&out);
}

#[test]
fn scope_by_dates_units_types_and_years() {
    let mut cancelled = fixture::pupil("cancelled", &pnr("20140305", 71), CENTRAL, "GR", Some(6));
    cancelled.enrolments[0].cancelled = Some(true);
    let mut s = pupils(vec![
        fixture::pupil("y6", &pnr("20140305", 72), CENTRAL, "GR", Some(6)),
        fixture::pupil("y3", &pnr("20170305", 73), CENTRAL, "GR", Some(3)),
        fixture::pupil("gy", &pnr("20090305", 74), GYMNASIET, "GY", Some(1)),
        cancelled,
    ]);
    let mut klass = fixture::group("6a", "Klass", Some("GR"), CENTRAL, &["y6", "cancelled"]);
    klass.group_memberships.push(
        serde_json::from_value(json!({
            "person": {"id": "y3"}, "endDate": "2026-06-10"
        }))
        .unwrap(),
    );
    s.groups.push(klass);
    s.groups
        .push(fixture::group("3a", "Klass", Some("GR"), CENTRAL, &["y3"]));
    s.groups.push(fixture::group(
        "mentor",
        "Mentor",
        Some("GR"),
        CENTRAL,
        &["y6"],
    ));
    let out = fixture::run(&s, fixture::config());
    assert!(
        !kept(&out, "cancelled"),
        "cancelled enrolment: out of scope"
    );
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let class = out
        .desired
        .groups
        .iter()
        .find(|g| g.source_id == "6a")
        .unwrap();
    assert_eq!(
        class.payload.group_memberships.len(),
        1,
        "ended and out-of-scope members left out"
    );
    assert!(!out.desired.groups.iter().any(|g| g.source_id == "mentor"));

    let mut config = fixture::config();
    config.school_years = vec![6];
    config.school_units = vec![CENTRAL.into()];
    let out = fixture::run(&s, config);
    let ids: Vec<&str> = out
        .desired
        .persons
        .iter()
        .map(|p| p.source_id.as_str())
        .collect();
    assert_eq!(ids, ["y6"]);
    let groups: Vec<&str> = out
        .desired
        .groups
        .iter()
        .map(|g| g.source_id.as_str())
        .collect();
    assert_eq!(groups, ["6a"], "the year-3 class has no pupils in scope");
    common::assert_counts_add_up(&out);

    let mut config = fixture::config();
    config.school_types = vec!["GY".into()];
    let out = fixture::run(&s, config);
    let ids: Vec<&str> = out
        .desired
        .persons
        .iter()
        .map(|p| p.source_id.as_str())
        .collect();
    assert_eq!(ids, ["gy"]);
}

#[test]
fn sources_that_reference_units_by_skolverket_id_or_as_other_organisation_types() {
    let mut s = pupils(vec![
        fixture::pupil("direct", &pnr("20140305", 81), CENTRAL, "GR", Some(6)),
        fixture::pupil("skola", &pnr("20140305", 82), CENTRAL, "GR", Some(6)),
        fixture::pupil("nocode", &pnr("20140305", 83), CENTRAL, "GR", Some(6)),
    ]);
    s.persons[0].enrolments[0].enroled_at.id = SchoolUnitCode::new(CENTRAL)
        .skolverket_id()
        .to_string()
        .as_str()
        .into();
    s.organisations
        .push(fixture::org("skola-org", Some(CENTRAL), "Skola"));
    s.organisations
        .push(fixture::org("rektorsomrade", None, "Rektorsområde"));
    s.persons[1].enrolments[0].enroled_at.id = "skola-org".into();
    s.persons[2].enrolments[0].enroled_at.id = "rektorsomrade".into();
    let out = fixture::run(&s, fixture::config());
    assert!(kept(&out, "direct") && kept(&out, "skola"));
    let r = rejected(&out, EntityKind::Person, "nocode");
    assert!(r[0].reason.contains("not a school unit"), "{}", r[0]);
}

#[test]
fn group_without_school_type_takes_its_members_and_duplicate_ids_are_refused() {
    let mut s = pupils(vec![
        fixture::pupil("p1", &pnr("20140305", 91), CENTRAL, "GR", Some(6)),
        fixture::pupil("p1", &pnr("20140305", 92), CENTRAL, "GR", Some(6)),
    ]);
    s.groups
        .push(fixture::group("6b", "Klass", None, CENTRAL, &["p1"]));
    let out = fixture::run(&s, fixture::config());
    assert_eq!(out.desired.groups[0].payload.school_type.as_str(), "GR");
    assert_eq!(out.desired.persons.len(), 1);
    assert_eq!(out.counts.persons.rejected, 1);
    assert!(
        out.rejects[0].reason.contains("twice"),
        "{}",
        out.rejects[0]
    );
    common::assert_counts_add_up(&out);
}
