//! Honest counts and messages (issue 12), end to end: a pipeline file in,
//! the report (JSON and HTML), the summary and the exit code out.
//!
//! Every source record ends counted (in scope, rejected or out of scope,
//! with the reason), a record with several problems counts once, a run
//! whose every record was rejected says so, a file export is not "already
//! up to date", `validate` finds every offline mistake at once, and a
//! problem row names the record the way the school knows it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use skolsync::engine::{self, Progress};
use skolsync::report::{ProblemSeverity, RunReport};
use skolsync_model::ss12000::EntityKind;
use support::Harness;

const STUDENTS_FILE: &str = "Elevinskrivningar.csv";
const STAFF_FILE: &str = "Personalstjänstgöringar.csv";

/// The committed CSV template data copied into the harness's folder (so a
/// test may edit it); `data/` is then not linked by `Harness::copy`.
fn copy_template_data(h: &Harness) -> PathBuf {
    let data = h.dir.path().join("data/csv-template");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(support::pipelines_dir().join("data/csv-template")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    data
}

/// The sheet's rows as cells (header first), and writing them back.
fn read_sheet(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(';').map(str::to_string).collect())
        .collect()
}

fn write_sheet(path: &Path, rows: &[Vec<String>]) {
    let text: Vec<String> = rows.iter().map(|r| r.join(";")).collect();
    std::fs::write(path, text.join("\n") + "\n").unwrap();
}

fn column(rows: &[Vec<String>], name: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h.trim_start_matches('\u{feff}') == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The pipeline file `name` with `extra` lines added to its `[transform]`.
fn with_transform(h: &Harness, name: &str, extra: &str) -> PathBuf {
    let path = h.copy(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("[transform]\n", &format!("[transform]\n{extra}\n"), 1);
    std::fs::write(&path, text).unwrap();
    path
}

fn report_json(result: &engine::RunResult) -> Value {
    let paths = result.paths.as_ref().expect("the report was written");
    serde_json::from_slice(&std::fs::read(&paths.json).unwrap()).unwrap()
}

fn report_html(result: &engine::RunResult) -> String {
    let paths = result.paths.as_ref().expect("the report was written");
    std::fs::read_to_string(&paths.html).unwrap()
}

/// Per type, every source record is in scope, rejected or out of scope,
/// and the out-of-scope reasons add up.
fn assert_every_record_counted(report: &RunReport) {
    assert!(report.transformed, "the run got as far as the transform");
    for (kind, c) in report.counts.iter() {
        assert_eq!(
            c.source_records,
            c.in_scope + c.rejected + c.out_of_scope,
            "{kind:?}: {c:?}"
        );
        let reasons: u64 = report.out_of_scope_reasons.get(kind).values().sum();
        assert_eq!(reasons, c.out_of_scope, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_add_up_with_out_of_scope_in_the_report_and_the_plan() {
    let h = Harness::new().await;
    // Only years 3, 6 and 9: the other pupils, their classes and groups
    // are out of scope, not errors.
    let path = with_transform(
        &h,
        "csv-template-to-skolverket.toml",
        "school_years = [3, 6, 9]",
    );
    let pipeline = h.load(&path).await;

    let plan = engine::plan(&pipeline, true, &Progress::new(false))
        .await
        .expect("the plan");
    let planned_persons = plan.summary.persons.clone();
    assert!(planned_persons.out_of_scope > 0, "{planned_persons:?}");
    assert_eq!(
        planned_persons.out_of_scope_reasons.values().sum::<usize>(),
        planned_persons.out_of_scope
    );
    drop(pipeline);

    let result = h.run(&path).await;
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );
    assert_eq!(result.exit_code(), 0, "{}", result.terminal_summary());
    let report = &result.report;
    assert_every_record_counted(report);
    let persons = report.counts.persons;
    assert_eq!(persons.out_of_scope as usize, planned_persons.out_of_scope);
    assert!(
        persons.in_scope > 0 && persons.out_of_scope > 0,
        "{persons:?}"
    );
    assert!(
        report
            .out_of_scope_reasons
            .persons
            .contains_key("no current enrolment or duty in scope"),
        "{:?}",
        report.out_of_scope_reasons.persons
    );
    // The pupils of other years' classes: the groups are out of scope too.
    assert!(report.counts.groups.out_of_scope > 0);

    // The JSON says the same; the HTML shows the balance and the reasons.
    let json = report_json(&result);
    assert_eq!(
        json["counts"]["person"]["source_records"].as_u64(),
        Some(persons.source_records)
    );
    assert_eq!(
        json["counts"]["person"]["out_of_scope"].as_u64(),
        Some(persons.out_of_scope)
    );
    assert!(json["out_of_scope_reasons"]["group"].is_object());
    let html = report_html(&result);
    assert!(html.contains("Out of scope, by reason"), "no reasons table");
    assert!(html.contains("no current enrolment or duty in scope"));
    assert_eq!(
        html.matches(": adds up</li>").count(),
        4,
        "one balance per type"
    );
    assert!(!html.contains("DOES NOT ADD UP"));
    let summary = result.terminal_summary();
    assert!(summary.contains("out of scope"), "{summary}");
    assert!(
        summary.contains("Every source record is counted"),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_with_three_bad_fields_counts_once_and_every_row_is_listed() {
    let h = Harness::new().await;
    let data = copy_template_data(&h);
    // A teacher with no given name, no family name and an EPPN that is not
    // one: three problems of one record.
    let staff = data.join(STAFF_FILE);
    let mut rows = read_sheet(&staff);
    let (given, family, eppn, person) = (
        column(&rows, "Förnamn"),
        column(&rows, "Efternamn"),
        column(&rows, "Federationsanvändarnamn"),
        column(&rows, "Person-ID"),
    );
    let id = rows[1][person].clone();
    // Every duty row of that person, so the record is the same.
    for row in rows.iter_mut().skip(1).filter(|r| r[person] == id) {
        row[given] = String::new();
        row[family] = String::new();
        row[eppn] = "not an eppn".into();
    }
    write_sheet(&staff, &rows);
    let path = h.copy("csv-template-to-skolverket.toml");

    let result = h.run(&path).await;
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );
    // Rejects make the run partial (exit 3), never a success.
    assert_eq!(result.exit_code(), 3, "{}", result.terminal_summary());
    let report = &result.report;
    assert_every_record_counted(report);
    let rows_about_them: Vec<_> = report
        .problems
        .iter()
        .filter(|p| {
            p.entity == EntityKind::Person
                && p.severity == ProblemSeverity::Rejected
                && p.source_id.as_deref() == Some(id.as_str())
        })
        .collect();
    assert!(
        rows_about_them.len() >= 3,
        "every problem is listed: {rows_about_them:#?}"
    );
    let fields: Vec<_> = rows_about_them
        .iter()
        .filter_map(|p| p.field.as_deref())
        .collect();
    for field in ["givenName", "familyName"] {
        assert!(fields.contains(&field), "{fields:?}");
    }
    // One rejected person.
    assert_eq!(
        report.counts.persons.rejected, 1,
        "{:?}",
        report.counts.persons
    );
    let json = report_json(&result);
    assert_eq!(json["counts"]["person"]["rejected"], 1);
    // The plan counts the same way.
    let pipeline = h.load(&path).await;
    let plan = engine::plan(&pipeline, true, &Progress::new(false))
        .await
        .unwrap();
    assert_eq!(plan.summary.persons.rejected, 1);
    let details = plan.summary.persons.details.as_ref().unwrap();
    assert!(details.rejected.len() >= 3, "{:?}", details.rejected);
    for r in &details.rejected {
        assert!(
            r.location.is_some() && r.school_unit_name.is_some(),
            "{r:?}"
        );
        assert!(
            r.civic_no.as_deref().is_some_and(|c| c.ends_with("-****")),
            "{r:?}"
        );
    }
    // The warning count is the warnings listed.
    for (kind, c) in report.counts.iter() {
        let listed = report
            .problems
            .iter()
            .filter(|p| p.entity == EntityKind::of(kind) && p.severity == ProblemSeverity::Warning)
            .count() as u64;
        assert_eq!(c.warning, listed, "{kind:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_problem_row_names_the_pupil_their_class_unit_and_origin() {
    let h = Harness::new().await;
    let data = copy_template_data(&h);
    let students = data.join(STUDENTS_FILE);
    let mut rows = read_sheet(&students);
    let (eppn, person, class, unit, given, family) = (
        column(&rows, "Federationsanvändarnamn"),
        column(&rows, "Person-ID"),
        column(&rows, "Klass"),
        column(&rows, "Skolenhetskod"),
        column(&rows, "Förnamn"),
        column(&rows, "Efternamn"),
    );
    // A pupil whose EPPN is not one (found by the transform, after the
    // read) …
    let row = rows[1].clone();
    rows[1][eppn] = "not an eppn".into();
    // … and one whose personnummer has a wrong check digit (found while
    // reading, with the file and line).
    let civic = column(&rows, "Personnummer");
    let mut bad = rows[2][civic].clone();
    let last = bad.pop().unwrap().to_digit(10).unwrap();
    bad.push(char::from_digit((last + 1) % 10, 10).unwrap());
    rows[2][civic] = bad;
    let misread = rows[2].clone();
    write_sheet(&students, &rows);
    let classes = read_sheet(&data.join("Klasser.csv"));
    let class_of = |pupil: &[String]| {
        classes
            .iter()
            .find(|r| r[0] == pupil[class])
            .map(|r| r[1].clone())
            .expect("the pupil's class")
    };
    let class_name = class_of(&row);
    let path = h.copy("csv-template-to-skolverket.toml");

    let result = h.run(&path).await;
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );
    assert_eq!(result.exit_code(), 3);
    let report = &result.report;
    let problem = report
        .problems
        .iter()
        .find(|p| {
            p.severity == ProblemSeverity::Rejected && p.source_id.as_deref() == Some(&row[person])
        })
        .expect("the pupil's reject");
    let name = problem.name.as_deref().expect("named");
    assert!(
        name.contains(&row[given]) && name.contains(&row[family]) && name.contains(&class_name),
        "{name}"
    );
    assert_eq!(problem.school_unit.as_deref(), Some(row[unit].as_str()));
    assert!(problem.school_unit_name.is_some(), "{problem:?}");
    // Found after the read, yet located by the row that made the pupil.
    let origin = problem.location.as_deref().expect("where it came from");
    assert_eq!(origin, format!("{STUDENTS_FILE}:2"));
    let masked = problem
        .civic_no
        .as_deref()
        .expect("the personnummer, masked");
    assert!(masked.ends_with("-****"), "{masked}");
    assert!(!masked.contains(&row[civic][8..]), "{masked}");

    let read_reject = report
        .problems
        .iter()
        .find(|p| p.stage == skolsync_model::reject::Stage::Extract)
        .expect("the read's reject");
    let at = read_reject.location.as_deref().unwrap();
    assert!(at.starts_with(&format!("{STUDENTS_FILE}:3")), "{at}");
    // Named with the class the snapshot still knows, at its class's unit.
    let name = read_reject.name.as_deref().expect("named");
    assert!(
        name.contains(&misread[given]) && name.contains(&class_of(&misread)),
        "{name}"
    );
    assert_eq!(
        read_reject.school_unit.as_deref(),
        Some(misread[unit].as_str())
    );
    assert!(read_reject.school_unit_name.is_some());
    assert!(read_reject.civic_no.as_deref().unwrap().ends_with("-****"));

    // The HTML: the name, the unit's name beside its code, the origin; no
    // full personnummer; and a table that fits the page.
    let html = report_html(&result);
    assert!(html.contains(&class_name));
    let unit_name = problem.school_unit_name.as_deref().unwrap();
    assert!(html.contains(&format!("School unit {} {unit_name}", row[unit])));
    assert!(html.contains("table-layout: fixed") && html.contains("overflow-wrap: anywhere"));
    assert!(
        !html.contains(&row[civic]),
        "a full personnummer in the HTML"
    );
    let header = html
        .split("<table class=\"sortable problems\">")
        .nth(1)
        .unwrap();
    let columns = header
        .split("</tr>")
        .next()
        .unwrap()
        .matches("<th>")
        .count();
    assert!(columns <= 4, "{columns} columns do not fit a laptop screen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_pupil_the_transform_rejects_is_located_by_file_and_line() {
    let h = Harness::new().await;
    let data = copy_template_data(&h);
    let students = data.join(STUDENTS_FILE);
    let mut rows = read_sheet(&students);
    let (person, civic, unit) = (
        column(&rows, "Person-ID"),
        column(&rows, "Personnummer"),
        column(&rows, "Skolenhetskod"),
    );
    // Line 5 repeats the personnummer of line 4 (the first holder keeps
    // it); line 7 enrols its pupil at a school unit open-data does not
    // know. The reader reads both fine; the transform rejects them.
    rows[4][civic] = rows[3][civic].clone();
    rows[6][unit] = "99999999".into();
    let (twin, stranger) = (rows[4][person].clone(), rows[6][person].clone());
    write_sheet(&students, &rows);
    let path = h.copy("csv-template-to-skolverket.toml");

    let result = h.run(&path).await;
    assert_eq!(result.exit_code(), 3, "{}", result.terminal_summary());
    assert_every_record_counted(&result.report);
    let json = report_json(&result);
    let problems = json["problems"].as_array().expect("problem rows");
    let rows_of = |id: &str| -> Vec<(String, String)> {
        problems
            .iter()
            .filter(|p| p["source_id"] == id && p["severity"] == "rejected")
            .map(|p| {
                (
                    p["location"].as_str().unwrap_or_default().to_string(),
                    p["reason"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let twin_rows = rows_of(&twin);
    assert_eq!(twin_rows.len(), 1, "{json:#}");
    assert_eq!(
        twin_rows[0].0,
        format!("{STUDENTS_FILE}:5"),
        "{twin_rows:?}"
    );
    let stranger_rows = rows_of(&stranger);
    assert!(!stranger_rows.is_empty(), "{json:#}");
    for (location, reason) in &stranger_rows {
        assert_eq!(location, &format!("{STUDENTS_FILE}:7"), "{reason}");
    }
    // The first holder of the personnummer is no problem row at all.
    assert!(rows_of(&rows[3][person]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everything_is_rejected_the_summary_says_so() {
    let h = Harness::new().await;
    let data = copy_template_data(&h);
    let students = data.join(STUDENTS_FILE);
    let mut rows = read_sheet(&students);
    let eppn = column(&rows, "Federationsanvändarnamn");
    for row in rows.iter_mut().skip(1) {
        row[eppn] = "not an eppn".into();
    }
    write_sheet(&students, &rows);
    // Only the pupils: every one rejected.
    let path = h.dir.path().join("pupils.toml");
    std::fs::write(
        &path,
        "name = \"pupils\"\n[source]\nkind = \"csv\"\nlayout = \"skolverket-template\"\n\
         students = \"data/csv-template/Elevinskrivningar.csv\"\n\
         [sink]\nkind = \"skolverket\"\nenvironment = \"verifieringstest\"\n",
    )
    .unwrap();
    let result = h.run(&path).await;
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );
    assert_eq!(result.exit_code(), 3);
    assert_eq!(h.bulk_sends(), 0);
    let summary = result.terminal_summary();
    assert!(
        summary.contains(
            "nothing could be planned, because every source record in scope was rejected"
        ),
        "{summary}"
    );
    assert!(!summary.contains("already matches"), "{summary}");
    assert_every_record_counted(&result.report);
    assert_eq!(
        result.report.counts.persons.rejected as usize,
        rows.len() - 1
    );

    // `plan` says the same.
    let out = h.cli("plan", &path).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing could be planned"), "{stdout}");
    assert!(!stdout.contains("already matches"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_export_that_wrote_records_does_not_claim_nothing_changed() {
    let h = Harness::new().await;
    let path = h.copy("csv-template-to-skolverket.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let sink_at = text.find("[sink]").unwrap();
    let state_at = text.find("[state]").unwrap();
    let text = format!(
        "{}[sink]\nkind = \"jsonl\"\ndir = \"out\"\ncontent = \"ss12000\"\n\n{}",
        &text[..sink_at],
        &text[state_at..]
    );
    std::fs::write(&path, text).unwrap();
    let result = h.run(&path).await;
    assert_eq!(result.exit_code(), 0, "{}", result.terminal_summary());
    let written = result.report.written.expect("records written");
    assert!(written > 0);
    let summary = result.terminal_summary();
    assert!(
        summary.contains(&format!("Exported {written} records")),
        "{summary}"
    );
    assert!(!summary.contains("0 changes"), "{summary}");
}

/// `skolsync validate` on a pipeline with every offline mistake at once.
#[test]
fn validate_finds_every_offline_problem_at_once_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    let text = "name = \"offline\"\n\
                [source]\n\
                kind = \"csv\"\n\
                layout = \"skolverket-template\"\n\
                students = \"Elevinskrivningar.csv\"\n\
                [transform]\n\
                reference_date = \"2026-02-30\"\n\
                school_types = [\"GR\", \"FANTASY\"]\n\
                subject_map = { MA = \"\" }\n\
                [transform.eppn_domain]\n\
                student = \"edu.exempelby.se\"\n\
                staff = \"EDU.exempelby.se\"\n\
                [sink]\n\
                kind = \"jsonl\"\n\
                dir = \"out\"\n\
                [guards]\n\
                max_changes_ratio = 25\n\
                max_member_loss_ratio = 1.5\n";
    std::fs::write(&path, text).unwrap();
    for command in ["validate", "run"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
            .arg(command)
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        for (line, key) in [
            (7, "transform.reference_date"),
            (8, "transform.school_types"),
            (9, "transform.subject_map"),
            (10, "transform.eppn_domain"),
            (17, "guards.max_changes_ratio"),
            (18, "guards.max_member_loss_ratio"),
        ] {
            assert!(
                err.contains(&format!("p.toml:{line}: {key}")),
                "{command}: {key} not reported at line {line}: {err}"
            );
        }
        assert!(err.contains("FANTASY"), "{err}");
        assert!(err.contains("switch the guard off"), "{err}");
        // Nothing was read: the missing CSV file is not what it complains about.
        assert!(!err.contains("is not there"), "{err}");
    }
}
