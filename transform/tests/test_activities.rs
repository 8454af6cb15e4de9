//! Each route to an activity's national test activity: its own
//! `parentActivity`, the subject code + school year (from the syllabus, or
//! the most common year of the members), the course code, the pipeline's
//! subject map and test-activity table, and what happens when no name is
//! known.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::fixture::{self, CENTRAL, GYMNASIET, pnr};
use serde_json::json;
use skolsync_model::TestActivityName;
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_transform::{TestActivityRule, TransformConfig, TransformOutput};
use uuid::Uuid;

/// Four pupils at Centralskolan (years given), a teacher, a teaching group
/// `tg` of them and one activity `a1` built from `activity`.
fn source(years: &[u8], activity: serde_json::Value) -> Snapshot {
    let mut s = fixture::snapshot();
    let mut members = Vec::new();
    for (i, y) in years.iter().enumerate() {
        let id = format!("elev{i}");
        s.persons.push(fixture::pupil(
            &id,
            &pnr("20140305", 100 + i as u32),
            CENTRAL,
            "GR",
            Some(*y),
        ));
        members.push(id);
    }
    s.persons
        .push(fixture::staff("larare", &pnr("19800101", 200)));
    s.duties
        .push(fixture::duty("tjanst", "larare", CENTRAL, "Lärare"));
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    s.groups.push(fixture::group(
        "tg",
        "Undervisning",
        Some("GR"),
        CENTRAL,
        &refs,
    ));
    s.activities.push(fixture::activity(activity));
    s
}

fn base() -> serde_json::Value {
    fixture::activity_json("a1", CENTRAL, &["tg"], &["tjanst"])
}

fn parent_of(out: &TransformOutput) -> Option<Uuid> {
    out.desired
        .activities
        .iter()
        .find(|a| a.source_id == "a1")
        .map(|a| a.payload.parent_activity.id)
}

fn test_id(name: &str) -> Option<Uuid> {
    Some(TestActivityName::new(name).skolverket_id())
}

fn syllabus(
    s: &mut Snapshot,
    subject: Option<&str>,
    course: Option<&str>,
    stype: &str,
    years: Option<(u8, u8)>,
) {
    s.syllabuses
        .push(fixture::syllabus("syl", stype, subject, course, years));
}

#[test]
fn explicit_parent_activity_by_skolverket_id_or_name() {
    let mut a = base();
    a["parentActivity"] = json!({"id": TestActivityName::new("GRGRMAT01_6").skolverket_id()});
    let out = fixture::run(&source(&[6, 6], a), fixture::config());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_6"));
    // The test group comes along with its members and the teacher.
    let group = &out.desired.groups[0];
    assert_eq!(group.payload.group_memberships.len(), 2);
    assert_eq!(out.desired.activities[0].payload.teachers.len(), 1);

    // Skolverket's file template names the test activity instead.
    let mut a = base();
    a["parentActivity"] = json!([{"id": "GRGRMAT01_9"}]);
    let out = fixture::run(&source(&[6, 6], a), fixture::config());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_9"));
}

#[test]
fn subject_code_and_the_syllabus_year() {
    let mut a = base();
    a["syllabus"] = json!({"id": "syl"});
    // The members are in year 3, but a one-year syllabus decides.
    let mut s = source(&[3, 3], a);
    syllabus(&mut s, Some("GRGRMAT01"), None, "GR", Some((6, 6)));
    let out = fixture::run(&s, fixture::config());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_6"));
}

#[test]
fn school_year_deduced_from_the_members_most_common_year() {
    let mut a = base();
    a["syllabus"] = json!({"id": "syl"});
    let mut s = source(&[6, 5, 6, 6], a.clone());
    syllabus(&mut s, Some("GRGRMAT01"), None, "GR", Some((4, 6)));
    let out = fixture::run(&s, fixture::config());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_6"));

    let mut s = source(&[3, 3, 6], a);
    syllabus(&mut s, Some("GRGRMAT01"), None, "GR", None);
    let out = fixture::run(&s, fixture::config());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_3"));
}

#[test]
fn course_code_for_gy() {
    let mut s = fixture::snapshot();
    for i in 0..2 {
        s.persons.push(fixture::pupil(
            &format!("gy{i}"),
            &pnr("20090412", 300 + i),
            GYMNASIET,
            "GY",
            Some(1),
        ));
    }
    s.groups.push(fixture::group(
        "tg",
        "Undervisning",
        Some("GY"),
        GYMNASIET,
        &["gy0", "gy1"],
    ));
    let mut a = fixture::activity_json("a1", GYMNASIET, &["tg"], &[]);
    a["syllabus"] = json!({"id": "syl"});
    s.activities.push(fixture::activity(a));
    syllabus(&mut s, Some("MAT"), Some("MATMAT01c"), "GY", None);
    let out = fixture::run(&s, fixture::config());
    assert_eq!(parent_of(&out), test_id("MATMAT01c"));
    let enrolment = &out.desired.persons[0].payload.enrolments[0];
    assert_eq!(enrolment.education_code.as_deref(), Some("NANAT"));
}

#[test]
fn local_codes_through_the_subject_map_and_the_test_activity_table() {
    // Inline `subject.code` instead of a syllabus, a local code.
    let mut a = base();
    a["subject"] = json!({"code": "MA", "name": "Matte"});
    let s = source(&[6, 6, 5], a);

    // Unmapped, a local code leads nowhere: out of scope.
    let out = fixture::run(&s, fixture::config());
    assert_eq!(parent_of(&out), None);
    assert_eq!(out.counts.activities.out_of_scope, 1);

    let mut config = fixture::config();
    config.subject_map.insert("MA".into(), "GRGRMAT01".into());
    let out = fixture::run(&s, config.clone());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_6"));

    // The table wins over the map.
    config.test_activities.push(TestActivityRule {
        code: "MA".into(),
        school_year: None,
        test_activity: "GRGRMAT01_9".into(),
    });
    let out = fixture::run(&s, config.clone());
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_9"));

    // A rule for the deduced year wins over one for every year.
    config.test_activities.push(TestActivityRule {
        code: "MA".into(),
        school_year: Some(6),
        test_activity: "GRGRSVE01_6".into(),
    });
    let out = fixture::run(&s, config);
    assert_eq!(parent_of(&out), test_id("GRGRSVE01_6"));
}

#[test]
fn unknown_names_are_rejected_or_out_of_scope() {
    // An explicit parentActivity Skolverket does not know, nothing else.
    let mut a = base();
    let unknown = Uuid::from_u128(0x1234);
    a["parentActivity"] = json!({"id": unknown});
    let out = fixture::run(&source(&[6, 6], a), fixture::config());
    assert_eq!(parent_of(&out), None);
    let r = out
        .rejects
        .iter()
        .find(|r| r.entity == EntityKind::Activity && r.severity == Severity::Rejected)
        .expect("rejected");
    assert_eq!(r.field.as_deref(), Some("parentActivity"));
    assert_eq!(r.value.as_deref(), Some(unknown.to_string().as_str()));
    assert!(r.reason.contains("not a national test activity"), "{r}");
    // Its teaching group goes nowhere without it.
    assert!(out.desired.groups.is_empty());
    assert!(
        out.rejects
            .iter()
            .any(|r| r.entity == EntityKind::Group && r.source_id.as_deref() == Some("tg"))
    );
    common::assert_counts_add_up(&out);

    // A subject without a national test (PE): out of scope, not an error.
    let mut a = base();
    a["syllabus"] = json!({"id": "syl"});
    let mut s = source(&[6, 6], a);
    syllabus(&mut s, Some("GRGRIDH01"), None, "GR", Some((4, 6)));
    let out = fixture::run(&s, fixture::config());
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(parent_of(&out), None);
    assert_eq!(
        out.counts
            .activities
            .out_of_scope_reasons
            .keys()
            .collect::<Vec<_>>(),
        ["no national test activity for its subject/course"]
    );
    assert!(
        out.desired.groups.is_empty(),
        "untested teaching group not sent"
    );
    common::assert_counts_add_up(&out);

    // Mapping to a name open-data does not have is refused up front.
    let mut config = fixture::config();
    config.test_activities.push(TestActivityRule {
        code: "MA".into(),
        school_year: None,
        test_activity: "GRGRMAT01_7".into(),
    });
    let err = skolsync_transform::Transformer::new(config, fixture::open_data()).unwrap_err();
    assert!(err.to_string().contains("GRGRMAT01_7"), "{err}");
}

#[test]
fn a_parent_that_is_another_source_activity_is_the_vendors_structure() {
    let mut a = base();
    a["parentActivity"] = json!({"id": "kursinstans"});
    a["syllabus"] = json!({"id": "syl"});
    let mut s = source(&[9, 9], a);
    s.activities.push(fixture::activity(json!({
        "id": "kursinstans", "displayName": "Matematik åk 9", "activityType": "Övrigt",
        "organisation": {"id": fixture::unit(CENTRAL)}, "groups": []
    })));
    syllabus(&mut s, Some("GRGRMAT01"), None, "GR", Some((7, 9)));
    let out = fixture::run(
        &s,
        TransformConfig {
            ..fixture::config()
        },
    );
    assert_eq!(parent_of(&out), test_id("GRGRMAT01_9"));
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
}
