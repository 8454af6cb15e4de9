//! End to end: what real SS 12000 sources send, and the source failing
//! apart from the sink.
//!
//! - Adult pupils in VUXGY, read from the generic SS 12000 API, land in the
//!   provtjänst (the profile's fifth school type).
//! - A school type in no code list rejects only the enrolment that carries
//!   it: the rest of the person, and a school unit listing such a type, land.
//! - The source emulators' own fault flags fail the read without touching
//!   the Provisioning API, whose faults in turn leave the source alone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use skolsync::report::ProblemSeverity;
use skolsync::state::RunOutcome;
use skolsync_model::codes::{SchoolType, SourceSchoolType, Ss12000SchoolType};
use skolsync_model::ss12000::{Enrolment, EntityKind, Organisation, Person};
use skolsync_model::{ObjectType, SchoolUnitCode};
use skolsync_sandbox::{Faults, Sandbox, SandboxConfig, SourceFaults};
use support::{Harness, SEED, STUDENTS, assert_success};

/// The EduCloud pipeline with its source swapped for the generic SS 12000
/// API (the sandbox points it at its own; `max_retries = 1` so a failing
/// source fails fast).
fn ss12000_pipeline(h: &Harness) -> PathBuf {
    let path = h.copy("educloud-to-skolverket.toml");
    let text = std::fs::read_to_string(&path).expect("read the pipeline file");
    let start = text.find("[source]\n").expect("a [source] section");
    let end = text.find("[transform]\n").expect("a [transform] section");
    let source = "[source]\n\
                  kind = \"ss12000\"\n\
                  base_url = \"https://ss12000.example/v2.0\"\n\
                  max_retries = 1\n\
                  auth = { type = \"bearer\", token = \"replaced-by-the-sandbox\" }\n\n";
    let text = format!("{}{source}{}", &text[..start], &text[end..]);
    std::fs::write(&path, text).expect("write the pipeline file");
    path
}

/// The test municipality plus `vux` adults in VUXGY.
async fn harness_with_vux(vux: usize) -> Harness {
    let sandbox = Sandbox::start(SandboxConfig {
        students: STUDENTS,
        seed: SEED,
        vux_students: vux,
        job_settle_delay: Duration::from_millis(20),
        source: support::quick_source(),
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    Harness {
        sandbox,
        dir: tempfile::tempdir().expect("temporary folder"),
    }
}

fn eppn(p: &Person) -> String {
    p.edu_person_principal_names[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vux_pupil_from_an_ss12000_source_lands() {
    let h = harness_with_vux(3).await;
    let source = h.sandbox.world().source.read().unwrap().clone();
    let vux: Vec<&Person> = source
        .persons
        .iter()
        .filter(|p| {
            p.enrolments
                .iter()
                .any(|e| e.school_type == Ss12000SchoolType::Vuxgy)
        })
        .collect();
    assert_eq!(vux.len(), 3, "the generator made the VUX pupils");
    let unit_ref = &vux[0].enrolments[0].enroled_at.id;
    let unit: &Organisation = source
        .organisations
        .iter()
        .find(|o| &o.id == unit_ref)
        .expect("the VUX unit is in the source");
    assert!(
        unit.school_types.contains(&Ss12000SchoolType::Vuxgy.into()),
        "the unit offers VUXGY in SS 12000"
    );
    let unit_id = SchoolUnitCode::new(unit.school_unit_code.as_deref().unwrap()).skolverket_id();

    let path = ss12000_pipeline(&h);
    let result = h.run(&path).await;
    assert_success(&result);

    let wanted: BTreeSet<String> = vux.iter().map(|p| eppn(p)).collect();
    let landed: Vec<_> = h
        .store()
        .persons()
        .into_iter()
        .filter(|p| {
            p.edu_person_principal_names
                .iter()
                .any(|e| wanted.contains(e))
        })
        .collect();
    assert_eq!(landed.len(), 3, "every VUX pupil landed");
    for p in &landed {
        assert_eq!(p.enrolments.len(), 1, "{p:?}");
        let e = &p.enrolments[0];
        assert_eq!(e.school_type, SchoolType::Vuxgy);
        assert_eq!(e.enroled_at.id, unit_id);
        assert_eq!(e.school_year, None, "adult education has no school year");
    }
    assert!(
        result
            .report
            .problems
            .iter()
            .all(|p| p.severity != ProblemSeverity::Rejected),
        "nothing rejected"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_school_type_rejects_only_that_enrolment() {
    let h = Harness::new().await;
    // A GR pupil gets a second, current enrolment with a school type in no
    // list; another pupil's only enrolment gets one; their unit lists one
    // among its school types.
    let (two, only, unit_code) = {
        let mut source = h.sandbox.world().source.write().unwrap();
        let gr: Vec<usize> = source
            .persons
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.enrolments.len() == 1
                    && p.enrolments[0].school_type == Ss12000SchoolType::Gr
                    && p.enrolments[0].end_date.is_none()
            })
            .map(|(i, _)| i)
            .take(2)
            .collect();
        let unit_ref = source.persons[gr[0]].enrolments[0].enroled_at.id.clone();
        let mut two = source.persons[gr[0]].clone();
        let extra = Enrolment {
            school_type: SourceSchoolType::Other("GRUNDVUX".to_string()),
            ..two.enrolments[0].clone()
        };
        two.enrolments.push(extra);
        source.upsert(two.clone());
        let mut only = source.persons[gr[1]].clone();
        only.enrolments[0].school_type = SourceSchoolType::Other("GRUNDVUX".to_string());
        source.upsert(only.clone());
        let mut unit = source
            .organisations
            .iter()
            .find(|o| o.id == unit_ref)
            .unwrap()
            .clone();
        unit.school_types
            .push(SourceSchoolType::Other("NYFORM".to_string()));
        let unit_code = unit.school_unit_code.clone().unwrap();
        source.upsert(unit);
        (two, only, unit_code)
    };

    let path = ss12000_pipeline(&h);
    let result = h.run(&path).await;
    assert_eq!(result.report.outcome, RunOutcome::Partial);
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );

    // The pupil with two enrolments landed with the good one only.
    let store = h.store();
    let landed = store
        .persons()
        .into_iter()
        .find(|p| p.edu_person_principal_names.contains(&eppn(&two)))
        .expect("the pupil with one good enrolment landed");
    assert_eq!(landed.enrolments.len(), 1);
    assert_eq!(landed.enrolments[0].school_type, SchoolType::Gr);
    // The pupil with only the unknown one did not.
    assert!(
        !store
            .persons()
            .iter()
            .any(|p| p.edu_person_principal_names.contains(&eppn(&only))),
        "a pupil with no placeable enrolment is not sent"
    );
    // Their unit, whose school types include an unknown one, still took
    // its other pupils.
    let unit_id = SchoolUnitCode::new(&unit_code).skolverket_id();
    let at_unit = store
        .persons()
        .iter()
        .filter(|p| p.enrolments.iter().any(|e| e.enroled_at.id == unit_id))
        .count();
    assert!(at_unit > 10, "{at_unit} pupils at the unit");

    // One row per bad enrolment, naming the field and the value: a
    // warning on the pupil who went without it, a reject of the pupil who
    // had nothing else.
    let rows = &result.report.problems;
    for (person, field, severity) in [
        (&two, "enrolments[1].schoolType", ProblemSeverity::Warning),
        (&only, "enrolments[0].schoolType", ProblemSeverity::Rejected),
    ] {
        let row = rows
            .iter()
            .find(|r| r.source_id.as_deref() == Some(person.id.as_str()))
            .unwrap_or_else(|| panic!("a row for {}: {rows:?}", person.id));
        assert_eq!(row.severity, severity);
        assert_eq!(row.entity, EntityKind::Person);
        assert_eq!(row.field.as_deref(), Some(field));
        assert_eq!(row.value.as_deref(), Some("GRUNDVUX"));
        assert!(row.reason.contains("GRUNDVUX"), "{}", row.reason);
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r.entity == EntityKind::Organisation)
            .filter(|r| r.severity == ProblemSeverity::Rejected)
            .count(),
        0,
        "the unit is not rejected: {rows:?}"
    );
    assert_eq!(result.report.counts.get(ObjectType::Person).rejected, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_fault_fails_the_read_but_not_the_sink() {
    let h = Harness::new().await;
    let path = ss12000_pipeline(&h);

    // The source answers 500 to everything: the run stops at the read,
    // naming the source, and the provtjänst sees no call at all.
    h.sandbox.faults().set_source(SourceFaults {
        server_error_share: 1.0,
        ..SourceFaults::default()
    });
    let failed = h.run(&path).await;
    assert_eq!(failed.report.outcome, RunOutcome::Aborted);
    assert_ne!(failed.exit_code(), 0);
    let reason = failed.report.abort_reason.clone().unwrap_or_default();
    assert!(reason.contains("500"), "{reason}");
    assert!(reason.contains("/ss12000/v2.0/"), "{reason}");
    assert!(
        h.store().requests().is_empty(),
        "nothing reached the Provisioning API"
    );

    // The provtjänst's own faults are switched on and the source's off:
    // the read is untouched by them (the run gets as far as the sink).
    h.sandbox.faults().set_source(SourceFaults::default());
    h.sandbox.faults().set(Faults {
        rate_limit_burst: 2,
        ..Faults::default()
    });
    let ok = h.run(&path).await;
    assert_success(&ok);
    assert!(h.store().count(ObjectType::Person) > STUDENTS / 2);
    assert!(
        h.store().requests().iter().any(|r| r.status == 429),
        "the provtjänst's fault hit the provtjänst"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_syllabuses_and_programmes_is_read_with_warnings_in_the_report() {
    let h = Harness::new().await;
    h.sandbox.faults().set_source(SourceFaults {
        unserved: vec!["syllabuses".to_string(), "programmes".to_string()],
        ..SourceFaults::default()
    });
    let path = ss12000_pipeline(&h);
    let result = h.run(&path).await;
    assert_ne!(
        result.report.outcome,
        RunOutcome::Aborted,
        "{:?}",
        result.report.abort_reason
    );
    for endpoint in ["/syllabuses", "/programmes"] {
        let warning = result
            .report
            .problems
            .iter()
            .find(|p| {
                p.severity == ProblemSeverity::Warning
                    && p.location.as_deref().is_some_and(|l| l.ends_with(endpoint))
            })
            .unwrap_or_else(|| panic!("a warning about {endpoint}"));
        assert!(warning.reason.contains("404"), "{}", warning.reason);
    }
    assert!(
        h.store().count(ObjectType::Person) > STUDENTS / 2,
        "the read went on and pupils landed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_persons_stops_the_run_naming_the_resource() {
    let h = Harness::new().await;
    h.sandbox.faults().set_source(SourceFaults {
        unserved: vec!["persons".to_string()],
        ..SourceFaults::default()
    });
    let path = ss12000_pipeline(&h);
    let result = h.run(&path).await;
    assert_eq!(result.report.outcome, RunOutcome::Aborted);
    let reason = result.report.abort_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("`/persons`") && reason.contains("404"),
        "{reason}"
    );
    assert!(h.store().requests().is_empty(), "nothing was sent");
}
