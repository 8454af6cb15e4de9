//! The run report: counts add up (and say so loudly when they do not), the
//! JSON has exactly the documented keys, the HTML is self-contained,
//! escaped and lists every problem, and personnummer appear only masked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

use std::collections::BTreeSet;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use skolsync::report::{
    ProblemSeverity, ReportBuilder, RunOutcome, RunReport, terminal_summary, to_html, to_json,
    write_reports,
};
use skolsync_model::plan::{Action, Blocker, Desired, Outcome, OutcomeStatus, Plan};
use skolsync_model::provtjanst::{LogEntry, Person};
use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::EntityKind;
use skolsync_model::{ObjectType, SeverityLevel};
use uuid::Uuid;

const RAW_CIVIC_NO: &str = "200901272385";
const RAW_FORMS: [&str; 3] = ["200901272385", "090127-2385", "0901272385"];
const MASKED: &str = "20090127-****";

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn person(n: u128, source_id: &str, unit: &str, civic_no: &str) -> Desired<Person> {
    let payload: Person = serde_json::from_value(json!({
        "id": id(n),
        "givenName": "Anna",
        "familyName": "Andersson",
        "eduPersonPrincipalNames": [format!("{source_id}@skola.example")],
        "civicNo": {"value": civic_no, "nationality": "SE"},
    }))
    .expect("a valid person payload");
    Desired {
        id: id(n),
        source_id: source_id.into(),
        hash: format!("hash-{n}"),
        school_unit: Some(unit.into()),
        payload,
    }
}

fn other(n: u128, source_id: &str, unit: &str) -> Desired<Value> {
    Desired {
        id: id(n),
        source_id: source_id.into(),
        hash: format!("hash-{n}"),
        school_unit: Some(unit.into()),
        payload: json!({}),
    }
}

fn outcome(kind: ObjectType, n: u128, action: Action, status: OutcomeStatus) -> Outcome {
    Outcome {
        kind,
        id: id(n),
        action,
        status,
        hash: (action != Action::Delete).then(|| format!("hash-{n}")),
        left_out: Vec::new(),
        messages: Vec::new(),
        detail: None,
        blocked_by: None,
        job_id: None,
        attempts: 1,
    }
}

fn log_entry(code: &str, message: &str, severity: SeverityLevel) -> LogEntry {
    LogEntry {
        id: code.into(),
        status_code: 400,
        message_type: Some("Ogiltigt format".into()),
        message: message.into(),
        parameter_name: None,
        parameter_value: None,
        resource_type: Some(ObjectType::Person),
        resource_id: None,
        attribute_name: Some("civicNo.value".into()),
        attribute_value: Some(RAW_CIVIC_NO.into()),
        severity_level: severity,
        time_of_occurance: "2026-11-04T02:15:00Z".into(),
    }
}

fn started() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 4, 2, 15, 0).unwrap()
}

/// A builder fed a mixed run: every kind of outcome and reject, persons
/// through `add_plan`, the other types through `add_planned`.
fn mixed_run() -> ReportBuilder {
    let mut b = ReportBuilder::new("20261104T021500Z-abc123", "demo", started());
    let mut plan = Plan::default();
    plan.persons.create = vec![
        person(1, "p-1", "46165416", "200901012380"),
        person(2, "p-2", "46165416", "200901022389"),
        person(3, "p-3", "46987524", RAW_CIVIC_NO),
    ];
    plan.persons.update = vec![person(4, "p-4", "46165416", "200901042387")];
    plan.persons.unchanged = vec![id(5), id(6)];
    plan.groups.delete = vec![id(31)];
    b.add_plan(&plan);
    b.add_planned(
        ObjectType::Duty,
        Action::Create,
        &other(11, "d-11", "46987524"),
        None,
    );
    b.add_planned(
        ObjectType::Group,
        Action::Create,
        &other(21, "g-21", "46165416"),
        None,
    );
    b.add_unchanged(ObjectType::Activity, 3);

    b.add_rejects(&[
        Reject::new(
            Stage::Extract,
            EntityKind::Person,
            "invalid check digit (Luhn)",
        )
        .id("p-7")
        .at("elever.csv:17")
        .field("civicNo", Some(RAW_CIVIC_NO.into()))
        .school_unit("46165416"),
        Reject::new(
            Stage::Transform,
            EntityKind::Person,
            format!("duplicate of the pupil with personnummer {}", RAW_FORMS[1]),
        )
        .id("p-8")
        .school_unit("46165416"),
        Reject::new(
            Stage::Transform,
            EntityKind::Organisation,
            "school unit is not active",
        )
        .id("su-9")
        .field("schoolUnitCode", Some("12345678".into())),
        Reject::new(
            Stage::Transform,
            EntityKind::Group,
            "member p-7 was left out",
        )
        .id("g-21")
        .school_unit("46165416")
        .warning(),
    ]);

    b.add_outcome(&outcome(
        ObjectType::Person,
        1,
        Action::Create,
        OutcomeStatus::Success,
    ));
    let mut warned = outcome(
        ObjectType::Person,
        2,
        Action::Create,
        OutcomeStatus::Warning,
    );
    warned
        .messages
        .push(log_entry("3001", "e-mail missing", SeverityLevel::Warning));
    b.add_outcome(&warned);
    let mut refused = outcome(ObjectType::Person, 3, Action::Create, OutcomeStatus::Error);
    refused.messages.push(log_entry(
        "2011",
        &format!("civicNo {RAW_CIVIC_NO} already belongs to another person"),
        SeverityLevel::Error,
    ));
    b.add_outcome(&refused);
    b.add_outcome(&outcome(
        ObjectType::Person,
        4,
        Action::Update,
        OutcomeStatus::Success,
    ));
    let mut held = outcome(
        ObjectType::Duty,
        11,
        Action::Create,
        OutcomeStatus::HeldBack,
    );
    held.blocked_by = Some(Blocker {
        kind: ObjectType::Person,
        id: id(3),
    });
    b.add_outcome(&held);
    b.add_outcome(&outcome(
        ObjectType::Group,
        21,
        Action::Create,
        OutcomeStatus::Success,
    ));
    b.add_outcome(&outcome(
        ObjectType::Group,
        31,
        Action::Delete,
        OutcomeStatus::Success,
    ));
    b
}

#[test]
fn counts_add_up_for_a_mixed_run() {
    let report = mixed_run().finish(started() + chrono::Duration::seconds(12));
    report.assert_consistent().expect("consistent");
    assert_eq!(report.outcome, RunOutcome::Partial);
    let p = report.counts.persons;
    assert_eq!(
        (
            p.in_scope,
            p.unchanged,
            p.created,
            p.updated,
            p.error,
            p.held_back,
            p.warning,
            p.rejected
        ),
        (6, 2, 2, 1, 1, 0, 1, 2)
    );
    let d = report.counts.duties;
    assert_eq!((d.in_scope, d.held_back), (1, 1));
    let g = report.counts.groups;
    assert_eq!((g.in_scope, g.created, g.deleted, g.rejected), (1, 1, 1, 0));
    assert_eq!(
        (
            report.counts.activities.in_scope,
            report.counts.activities.unchanged
        ),
        (3, 3)
    );
    // 2 person rejects, the organisation, the group warning, the person
    // warning, the refusal and the held-back duty.
    assert_eq!(report.problems.len(), 7);
    let held = report
        .problems
        .iter()
        .find(|p| p.severity == ProblemSeverity::HeldBack)
        .unwrap();
    assert!(held.reason.contains("Person p-3"), "{}", held.reason);
    assert_eq!(
        held.blocked_by.as_ref().unwrap().source_id.as_deref(),
        Some("p-3")
    );
    let refused = report
        .problems
        .iter()
        .find(|p| p.severity == ProblemSeverity::Error)
        .unwrap();
    assert_eq!(refused.messages[0].id, "2011");
    assert_eq!(refused.school_unit.as_deref(), Some("46987524"));
    assert_eq!(refused.civic_no.as_deref(), Some(MASKED));
    // Grouped: school units in order, unknown last.
    let units: Vec<Option<&str>> = report
        .problems
        .iter()
        .map(|p| p.school_unit.as_deref())
        .collect();
    let mut sorted = units.clone();
    sorted.sort_by_key(|u| (u.is_none(), *u));
    assert_eq!(units, sorted);
    assert_eq!(units.last().unwrap(), &None);
}

#[test]
fn a_lost_or_doubled_outcome_is_reported_not_hidden() {
    // Lost: the planned update of p-4 never gets an outcome.
    let mut b = ReportBuilder::new("r", "demo", started());
    let mut plan = Plan::default();
    plan.persons.create = vec![person(1, "p-1", "46165416", "200901012380")];
    plan.persons.update = vec![person(4, "p-4", "46165416", "200901042387")];
    b.add_plan(&plan);
    b.add_outcome(&outcome(
        ObjectType::Person,
        1,
        Action::Create,
        OutcomeStatus::Success,
    ));
    let report = b.finish(started());
    let err = report
        .assert_consistent()
        .expect_err("a lost entity must not pass");
    let message = err.to_string();
    assert!(message.contains("person: in_scope 2"), "{message}");
    assert!(
        message.contains("no outcome") && message.contains("p-4"),
        "{message}"
    );
    assert_eq!(report.outcome, RunOutcome::Partial);

    // Doubled: the same outcome twice.
    let mut b = ReportBuilder::new("r", "demo", started());
    b.add_plan(&plan);
    for n in [1, 1, 4] {
        let action = if n == 1 {
            Action::Create
        } else {
            Action::Update
        };
        b.add_outcome(&outcome(
            ObjectType::Person,
            n,
            action,
            OutcomeStatus::Success,
        ));
    }
    let message = b
        .finish(started())
        .assert_consistent()
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("not planned (or a second one)"),
        "{message}"
    );

    // Aborted: what was not sent is held back by the abort, and adds up.
    let mut b = ReportBuilder::new("r", "demo", started());
    b.add_plan(&plan);
    let report = b.finish_aborted(started(), "guard: 2 changes of 2 (100 %) > 10 %");
    report.assert_consistent().expect("an abort adds up");
    assert_eq!(report.outcome, RunOutcome::Aborted);
    assert_eq!(report.counts.persons.held_back, 2);
    assert_eq!(
        report.abort_reason.as_deref(),
        Some("guard: 2 changes of 2 (100 %) > 10 %")
    );
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn the_json_has_exactly_the_documented_keys() {
    let report = mixed_run().finish(started());
    let value: Value = serde_json::from_str(&to_json(&report).unwrap()).unwrap();
    assert_eq!(
        keys(&value),
        BTreeSet::from([
            "run_id",
            "pipeline",
            "started",
            "finished",
            "outcome",
            "abort_reason",
            "counts",
            "out_of_scope_reasons",
            "transformed",
            "written",
            "problems",
        ])
    );
    assert_eq!(value["outcome"], "partial");
    assert_eq!(value["abort_reason"], Value::Null);
    assert_eq!(value["started"], "2026-11-04T02:15:00Z");
    assert_eq!(
        keys(&value["counts"]),
        BTreeSet::from(["person", "duty", "group", "activity"])
    );
    for kind in ["person", "duty", "group", "activity"] {
        assert_eq!(
            keys(&value["counts"][kind]),
            BTreeSet::from([
                "source_records",
                "out_of_scope",
                "in_scope",
                "unchanged",
                "created",
                "updated",
                "deleted",
                "delete_failed",
                "warning",
                "error",
                "rejected",
                "kept_stale",
                "held_back",
            ]),
            "{kind}"
        );
    }
    let problems = value["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 7);
    for problem in problems {
        assert_eq!(
            keys(problem),
            BTreeSet::from([
                "severity",
                "stage",
                "entity",
                "action",
                "source_id",
                "name",
                "school_unit_name",
                "skolverket_id",
                "school_unit",
                "civic_no",
                "location",
                "field",
                "value",
                "reason",
                "messages",
                "blocked_by",
            ])
        );
    }
    let held = problems
        .iter()
        .find(|p| p["severity"] == "held_back")
        .unwrap();
    assert_eq!(held["entity"], "duty");
    assert_eq!(held["blocked_by"]["entity"], "person");
    // It reads back as the same report.
    let back: RunReport = serde_json::from_value(value).unwrap();
    assert_eq!(back, report);
}

#[test]
fn the_html_is_escaped_self_contained_and_lists_every_problem() {
    let mut b = mixed_run();
    b.add_reject(
        &Reject::new(
            Stage::Transform,
            EntityKind::Group,
            "<script>alert('x')</script> & more",
        )
        .id("g-<b>99</b>")
        .school_unit("46165416"),
    );
    let report = b.finish(started());
    let html = to_html(&report);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script>alert"), "unescaped reason");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(html.contains("g-&lt;b&gt;99&lt;/b&gt;"));
    assert_eq!(html.matches("<script>").count(), 1, "only the sort script");
    assert!(!html.contains("http"), "no external references");
    assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("<link"));
    // The counts table comes before the problems.
    assert!(html.find("id=\"counts\"").unwrap() < html.find("Problems (8)").unwrap());
    // Every problem is listed, in its school unit's section.
    for p in &report.problems {
        let source_id = p.source_id.as_deref().unwrap();
        let escaped = source_id.replace('<', "&lt;").replace('>', "&gt;");
        assert!(
            html.contains(&format!("source id</span> {escaped}")),
            "{source_id} missing"
        );
    }
    let rows = html.matches("<tr><td>").count();
    assert_eq!(
        rows,
        5 + report.problems.len(),
        "4 types + total, then one row per problem"
    );
    let first_unit = html.find("School unit 46165416").unwrap();
    let second_unit = html.find("School unit 46987524").unwrap();
    let no_unit = html.find("No school unit").unwrap();
    assert!(first_unit < second_unit && second_unit < no_unit);
}

#[test]
fn personnummer_appear_only_masked() {
    let report = mixed_run().finish(started());
    let json = to_json(&report).unwrap();
    let html = to_html(&report);
    let summary = terminal_summary(&report, None);
    for (name, text) in [("json", &json), ("html", &html), ("summary", &summary)] {
        for raw in RAW_FORMS {
            assert!(!text.contains(raw), "{raw} in the {name} report");
        }
    }
    assert!(json.contains(MASKED) && html.contains(MASKED));
    let reject = report
        .problems
        .iter()
        .find(|p| p.source_id.as_deref() == Some("p-7"))
        .unwrap();
    assert_eq!(reject.value.as_deref(), Some(MASKED));
    assert_eq!(reject.civic_no.as_deref(), Some(MASKED));
    let duplicate = report
        .problems
        .iter()
        .find(|p| p.source_id.as_deref() == Some("p-8"))
        .unwrap();
    assert!(
        duplicate.reason.contains("090127-****"),
        "{}",
        duplicate.reason
    );
}

#[test]
fn reports_are_written_where_documented_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let report = mixed_run().finish(started() + chrono::Duration::seconds(12));
    let paths = write_reports(&report, &dir.path().join("reports")).unwrap();
    assert_eq!(
        paths.json,
        dir.path().join("reports/demo/20261104T021500Z-abc123.json")
    );
    assert_eq!(
        paths.html,
        dir.path().join("reports/demo/20261104T021500Z-abc123.html")
    );
    let back: RunReport = serde_json::from_slice(&std::fs::read(&paths.json).unwrap()).unwrap();
    assert_eq!(back, report);
    assert_eq!(
        std::fs::read_to_string(&paths.html).unwrap(),
        to_html(&report)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&paths.json).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let summary = terminal_summary(&report, Some(&paths));
    assert!(
        summary.starts_with("Run 20261104T021500Z-abc123 of `demo`: partial in 12.0 s"),
        "{summary}"
    );
    let person_row = summary.lines().find(|l| l.starts_with("person")).unwrap();
    let numbers: Vec<&str> = person_row.split_whitespace().skip(1).collect();
    assert_eq!(
        numbers,
        // Source and out of scope are unknown: no transform in this run.
        [
            "-", "-", "6", "2", "2", "1", "1", "0", "1", "2", "0", "0", "0"
        ],
        "{summary}"
    );
    assert!(summary.lines().any(|l| l.starts_with("total")));
    assert!(
        summary.contains("1 error, 1 held back, 3 rejected, 2 warnings"),
        "{summary}"
    );
    assert!(summary.contains(&paths.html.display().to_string()));
    assert!(!summary.contains("0 changes"));

    // A second run with nothing to do says so.
    let mut b = ReportBuilder::new("r2", "demo", started());
    b.add_unchanged(ObjectType::Person, 3000);
    b.add_unchanged(ObjectType::Group, 120);
    let quiet = b.finish(started());
    quiet.assert_consistent().unwrap();
    assert_eq!(quiet.outcome, RunOutcome::Success);
    let summary = terminal_summary(&quiet, None);
    assert!(
        summary.contains("0 changes: the service already matches the source (3120 unchanged)."),
        "{summary}"
    );
    assert!(summary.contains("No problems."));
}

/// Issue 12: a reason never passes an id off as Skolverket's. The
/// sandbox's invented ids (91xx) are labelled; Skolverket's are not.
#[test]
fn only_skolverkets_documented_ids_are_cited_as_skolverkets() {
    let mut b = ReportBuilder::new("r", "demo", started());
    let mut plan = Plan::default();
    plan.persons.create = vec![
        person(1, "p-1", "46165416", "200901012380"),
        person(2, "p-2", "46165416", "200901022389"),
    ];
    b.add_plan(&plan);
    let mut invented = outcome(ObjectType::Person, 1, Action::Create, OutcomeStatus::Error);
    invented.messages.push(log_entry(
        "9121",
        "schoolYear missing",
        SeverityLevel::Error,
    ));
    b.add_outcome(&invented);
    let mut real = outcome(ObjectType::Person, 2, Action::Create, OutcomeStatus::Error);
    real.messages
        .push(log_entry("2011", "not a UUID", SeverityLevel::Error));
    b.add_outcome(&real);
    let report = b.finish(started());
    report.assert_consistent().unwrap();
    let by_id = |id: &str| {
        report
            .problems
            .iter()
            .find(|p| p.messages.first().is_some_and(|m| m.id == id))
            .unwrap()
    };
    let sandbox = by_id("9121");
    assert!(!sandbox.messages[0].documented);
    assert!(
        sandbox
            .reason
            .contains("9121 is not a documented Skolverket id")
            && !sandbox.reason.contains("refused by Skolverket"),
        "{}",
        sandbox.reason
    );
    let skolverket = by_id("2011");
    assert!(skolverket.messages[0].documented);
    assert!(skolverket.reason.starts_with("refused by Skolverket"));
    let html = to_html(&report);
    assert!(html.contains("9121 (not a documented Skolverket id)"));
    assert!(html.contains("Skolverket 2011"));
}
