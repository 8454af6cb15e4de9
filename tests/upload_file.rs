//! End to end: Skolverket's file method. An EduCloud pipeline with the
//! `skolverket-file` sink writes the upload workbook (the template's four
//! sheets and headers, text cells, 0600); the next file after a confirmed
//! upload holds exactly the rows that changed, with `Ta bort` = Ja for what
//! ended; an unconfirmed file is superseded, not stacked; LibreOffice opens
//! the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader, open_workbook_auto};
use skolsync::engine::upload::{ConfirmError, confirm_upload};
use skolsync::state::RunOutcome;
use skolsync_model::codes::GroupType;
use skolsync_model::ss12000::{Duty, Group, SourceId};
use skolsync_model::template::{
    CLASSES_HEADER, REMOVE_YES, SHEETS, STAFF_HEADER, STUDENTS_HEADER, SUBJECT_GROUPS_HEADER,
};
use support::{Harness, assert_success};

const PIPELINE: &str = "educloud-to-upload-file.toml";

/// A sheet as text: the header, then the rows; `numeric` counts the cells
/// that were not text.
struct Sheet {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    numeric: usize,
}

fn read_workbook(path: &Path) -> (Vec<String>, BTreeMap<String, Sheet>) {
    let mut book = open_workbook_auto(path).unwrap();
    let names = book.sheet_names().to_vec();
    let mut sheets = BTreeMap::new();
    for name in &names {
        let range = book.worksheet_range(name).unwrap();
        let mut numeric = 0;
        let mut rows: Vec<Vec<String>> = range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::String(s) => s.clone(),
                        Data::Empty => String::new(),
                        other => {
                            numeric += 1;
                            other.to_string()
                        }
                    })
                    .collect()
            })
            .collect();
        let header = if rows.is_empty() {
            Vec::new()
        } else {
            rows.remove(0)
        };
        sheets.insert(
            name.clone(),
            Sheet {
                header,
                rows,
                numeric,
            },
        );
    }
    (names, sheets)
}

fn header_of(sheet: &str) -> Vec<String> {
    let header: &[&str] = match sheet {
        "Klasser" => &CLASSES_HEADER,
        "Ämnesgrupp & provaktiviteter" => &SUBJECT_GROUPS_HEADER,
        "Elevinskrivningar" => &STUDENTS_HEADER,
        _ => &STAFF_HEADER,
    };
    header.iter().map(|h| h.to_string()).collect()
}

fn written_file(result: &skolsync::engine::RunResult) -> PathBuf {
    result
        .report
        .upload
        .as_ref()
        .unwrap_or_else(|| panic!("no upload section: {}", result.terminal_summary()))
        .file
        .clone()
        .unwrap_or_else(|| panic!("no file written: {}", result.terminal_summary()))
}

/// A class with pupils, another class of the same unit and type, and a
/// duty of a teacher at some unit.
struct Chosen {
    class: SourceId,
    other: SourceId,
    moved: SourceId,
    duty: SourceId,
}

fn choose(h: &Harness) -> Chosen {
    let data = h.sandbox.world().source.read().unwrap();
    let classes: Vec<&Group> = data
        .groups
        .iter()
        .filter(|g| {
            g.group_type == GroupType::Klass
                && g.group_memberships.len() >= 4
                && g.school_type
                    .as_ref()
                    .is_some_and(|t| t.to_string() == "GR")
        })
        .collect();
    let (a, b) = classes
        .iter()
        .find_map(|a| {
            classes
                .iter()
                .find(|b| b.id != a.id && b.organisation.id == a.organisation.id)
                .map(|b| (a, b))
        })
        .expect("two classes at one unit");
    let duty: &Duty = data
        .duties
        .iter()
        .find(|d| d.end_date.is_none() && d.duty_role == "Lärare")
        .expect("a teacher's duty");
    Chosen {
        class: a.id.clone(),
        other: b.id.clone(),
        moved: a.group_memberships[0].person.id.clone(),
        duty: duty.id.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_file_holds_everything_then_exactly_what_changed() {
    let h = Harness::new().await;
    let path = h.copy(PIPELINE);
    let pipeline = h.load(&path).await;

    // First run: everything, in the template's shape; nothing is sent.
    let first = h.run(&path).await;
    assert_success(&first);
    let first_file = written_file(&first);
    assert!(first_file.starts_with(h.dir.path().join("upload")));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds personnummer");
    }
    assert_eq!(
        h.store().persons().len(),
        0,
        "the file method sends nothing"
    );
    let (names, sheets) = read_workbook(&first_file);
    assert_eq!(names, SHEETS.map(str::to_string).to_vec());
    for (name, sheet) in &sheets {
        assert_eq!(
            sheet.header,
            header_of(name),
            "{name}: the template's header"
        );
        assert_eq!(sheet.numeric, 0, "{name}: every cell is text");
        assert!(!sheet.rows.is_empty(), "{name}: has rows");
        let remove = sheet.header.len() - 1;
        assert!(
            sheet
                .rows
                .iter()
                .all(|r| r.get(remove).is_none_or(String::is_empty)),
            "{name}: the first file removes nothing"
        );
    }
    let counts = &first.report.counts;
    // Person-ID: the first column of pupils, the second of staff.
    let people: std::collections::BTreeSet<&String> = sheets["Elevinskrivningar"]
        .rows
        .iter()
        .map(|r| &r[0])
        .chain(sheets["Personalstjänstgöringar"].rows.iter().map(|r| &r[1]))
        .collect();
    assert!(people.len() as u64 <= counts.persons.created);
    assert_eq!(
        sheets["Personalstjänstgöringar"].rows.len() as u64,
        counts.duties.created,
        "one row per duty"
    );
    let line = first.terminal_summary();
    assert!(
        line.contains("Upload file:") && line.contains("confirm-upload"),
        "{line}"
    );

    // Not confirmed, and a class renamed since: the next run supersedes
    // the file with one that holds everything again (the new name
    // included); the first can no longer be confirmed.
    let chosen = choose(&h);
    h.sandbox
        .change(|m| m.rename_group(&chosen.other, "9Ö"))
        .unwrap();
    let second = h.run(&path).await;
    assert_success(&second);
    let second_file = written_file(&second);
    assert_ne!(first_file, second_file);
    let (_, again) = read_workbook(&second_file);
    for (name, sheet) in &sheets {
        assert_eq!(
            again[name].rows.len(),
            sheet.rows.len(),
            "{name}: the same rows"
        );
    }
    assert!(
        again["Klasser"].rows.iter().any(|r| r[1] == "9Ö"),
        "the renamed class"
    );
    let err = confirm_upload(&pipeline, &first_file).await.unwrap_err();
    assert!(matches!(err, ConfirmError::Superseded { .. }), "{err}");
    assert!(
        err.to_string().contains(&second_file.display().to_string()),
        "{err}"
    );
    let confirmed = confirm_upload(&pipeline, &second_file).await.unwrap();
    assert_eq!(confirmed.file.path, second_file);
    let twice = confirm_upload(&pipeline, &second_file).await.unwrap_err();
    assert!(
        matches!(twice, ConfirmError::AlreadyConfirmed { .. }),
        "{twice}"
    );

    // Confirmed and unchanged: no file.
    let quiet = h.run(&path).await;
    assert_success(&quiet);
    let summary = quiet.terminal_summary();
    assert!(
        quiet
            .report
            .upload
            .as_ref()
            .is_some_and(|u| u.file.is_none()),
        "{summary}"
    );
    assert!(summary.contains("no file written"), "{summary}");

    // A new pupil, a pupil moved to another class, an ended duty.
    let mut added = None;
    h.sandbox
        .change(|m| {
            added = Some(m.add_pupil(&chosen.class)?);
            m.move_pupil(&chosen.moved, &chosen.other)?;
            m.end_duty(
                &chosen.duty,
                chrono::Utc::now().date_naive() - chrono::Days::new(2),
            )
        })
        .unwrap();
    let changed = h.run(&path).await;
    assert_eq!(
        changed.report.outcome,
        RunOutcome::Success,
        "{}",
        changed.terminal_summary()
    );
    let delta_file = written_file(&changed);
    let (_, delta) = read_workbook(&delta_file);
    let store = skolsync::engine::open_store(&pipeline).await.unwrap();
    let sink = pipeline.sink_identity();
    let id_of = async |source: &SourceId, kind| {
        store
            .find_by_source_id(&skolsync::state::unconfirmed_layer(&sink), source.as_str())
            .await
            .unwrap()
            .into_iter()
            .chain(
                store
                    .find_by_source_id(&sink, source.as_str())
                    .await
                    .unwrap(),
            )
            .find(|r| r.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} from {source:?}"))
            .id
            .to_string()
    };
    let added_id = id_of(&added.unwrap(), skolsync_model::ObjectType::Person).await;
    let moved_id = id_of(&chosen.moved, skolsync_model::ObjectType::Person).await;
    let duty_id = id_of(&chosen.duty, skolsync_model::ObjectType::Duty).await;
    let other_class = id_of(&chosen.other, skolsync_model::ObjectType::Group).await;
    let students = &delta["Elevinskrivningar"].rows;
    let staff = &delta["Personalstjänstgöringar"].rows;
    assert!(delta["Klasser"].rows.is_empty(), "no class changed");
    assert!(delta["Ämnesgrupp & provaktiviteter"].rows.is_empty());
    assert_eq!(
        students.len(),
        2,
        "the new and the moved pupil: {students:?}"
    );
    let row_of = |id: &str| {
        students
            .iter()
            .find(|r| r[0] == id)
            .unwrap_or_else(|| panic!("no row of {id}"))
    };
    let klass = STUDENTS_HEADER.iter().position(|h| *h == "Klass").unwrap();
    let remove = STUDENTS_HEADER.len() - 1;
    assert_eq!(
        row_of(&moved_id)[klass],
        other_class,
        "the moved pupil's new class"
    );
    assert!(row_of(&added_id).get(remove).is_none_or(String::is_empty));
    assert!(row_of(&moved_id).get(remove).is_none_or(String::is_empty));
    assert_eq!(staff.len(), 1, "the ended duty: {staff:?}");
    assert_eq!(staff[0][0], duty_id);
    assert_eq!(staff[0][STAFF_HEADER.len() - 1], REMOVE_YES);
    let upload = changed.report.upload.as_ref().unwrap();
    assert_eq!(upload.total_rows(), 3);

    // The command line: status names the file awaiting upload; confirming
    // it leaves none.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
            .args(args)
            .arg(&path)
            .arg("--sandbox-endpoints")
            .arg(h.endpoints_file())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, status) = cli(&["status"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(
        status.contains("Awaiting upload:") && status.contains(&*delta_file.to_string_lossy()),
        "{status}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("confirm-upload")
        .arg(&path)
        .arg(&delta_file)
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (_, status) = cli(&["status"]);
    assert!(status.contains("No file awaits upload."), "{status}");
}

/// Converts `file` with LibreOffice, one CSV per sheet: LibreOffice opens
/// it without repair and sees the template's headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libreoffice_opens_the_upload_file_and_sees_the_templates_headers() {
    let Some(soffice) = ["soffice", "libreoffice"].into_iter().find(|p| {
        std::process::Command::new(p)
            .arg("--version")
            .output()
            .is_ok()
    }) else {
        assert!(
            std::env::var_os("SKOLSYNC_SKIP_LIBREOFFICE").is_some(),
            "LibreOffice is needed for this test (apt-get install libreoffice-calc-nogui; \
             .ci/run installs it), or set SKOLSYNC_SKIP_LIBREOFFICE=1 to skip it"
        );
        return;
    };
    let h = Harness::new().await;
    let path = h.copy(PIPELINE);
    let result = h.run(&path).await;
    assert_success(&result);
    let file = written_file(&result);
    let out = h.dir.path().join("csv");
    std::fs::create_dir_all(&out).unwrap();
    let profile = h.dir.path().join("lo-profile");
    let status = std::process::Command::new(soffice)
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(["--headless", "--convert-to"])
        // UTF-8 (76), every sheet to its own file (-1).
        .arg("csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1")
        .arg("--outdir")
        .arg(&out)
        .arg(&file)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
    let (_, sheets) = read_workbook(&file);
    for sheet in SHEETS {
        let csv = out.join(format!("{stem}-{sheet}.csv"));
        let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; LibreOffice wrote {:?}",
                csv.display(),
                std::fs::read_dir(&out)
                    .unwrap()
                    .map(|e| e.unwrap().file_name())
                    .collect::<Vec<_>>()
            )
        });
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), header_of(sheet).join(","), "{sheet}");
        assert_eq!(
            lines.count(),
            sheets[sheet].rows.len(),
            "{sheet}: every row"
        );
    }
}

/// VUXGY pupils cannot be sent by file (Skolverket's checklist): with VUXGY
/// in scope, their enrolments are left out with that reason, a pupil with
/// nothing else ends `error` saying so, and the rest of the file is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vuxgy_pupils_are_left_out_of_the_file_with_the_reason() {
    let h = Harness {
        sandbox: skolsync_sandbox::Sandbox::start(skolsync_sandbox::SandboxConfig {
            students: 60,
            vux_students: 6,
            seed: support::SEED,
            source: support::quick_source(),
            ..skolsync_sandbox::SandboxConfig::default()
        })
        .await
        .unwrap(),
        dir: tempfile::tempdir().unwrap(),
    };
    let path = h.copy(PIPELINE);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        r#"school_types = ["GR", "SP", "SAM", "GY"]"#,
        r#"school_types = ["GR", "SP", "SAM", "GY", "VUXGY"]"#,
    );
    std::fs::write(&path, text).unwrap();
    let result = h.run(&path).await;
    let upload = result.report.upload.as_ref().unwrap();
    let vuxgy: Vec<_> = upload
        .left_out
        .iter()
        .filter(|l| l.reason.contains("VUXGY"))
        .collect();
    assert!(!vuxgy.is_empty(), "{}", result.terminal_summary());
    let (_, sheets) = read_workbook(upload.file.as_ref().unwrap());
    let school_type = STUDENTS_HEADER
        .iter()
        .position(|h| *h == "Skolform")
        .unwrap();
    assert!(
        sheets["Elevinskrivningar"]
            .rows
            .iter()
            .all(|r| r[school_type] != "VUXGY"),
        "no VUXGY row"
    );
    let persons = result.report.counts.persons;
    assert_eq!(
        persons.error as usize,
        vuxgy.len(),
        "{}",
        result.terminal_summary()
    );
    assert_eq!(result.report.outcome, RunOutcome::Partial);
    let problems = result
        .report
        .problems
        .iter()
        .filter(|p| p.reason.contains("VUXGY"))
        .count();
    assert_eq!(problems, vuxgy.len());
}

/// The desired state of a pipeline file with a fresh state (a file sink
/// asks for the whole state).
async fn desired_state(
    h: &Harness,
    path: &Path,
    state: &str,
) -> skolsync_model::plan::DesiredState {
    let options = skolsync::pipeline::LoadOptions {
        sandbox: skolsync::pipeline::SandboxChoice::Attach(Box::new(h.sandbox.endpoints().clone())),
        state_path: Some(h.dir.path().join(state)),
        ..Default::default()
    };
    let pipeline = skolsync::pipeline::Pipeline::load(path, &options)
        .await
        .unwrap();
    let store = skolsync::engine::open_store(&pipeline).await.unwrap();
    let prepared =
        skolsync::engine::prepare(&pipeline, &store, &skolsync::engine::Progress::hidden())
            .await
            .unwrap();
    prepared.plan.desired.as_deref().unwrap().clone()
}

/// A file written by the file method, read back through the workbook
/// source: the same persons, duties and groups (ids and payloads), and the
/// same activities up to what the template cannot carry (an activity's own
/// id and name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_file_read_back_through_the_workbook_source_gives_the_same_desired_state() {
    use skolsync_model::plan::DesiredState;
    use std::collections::BTreeSet;

    let h = Harness::new().await;
    let path = h.copy(PIPELINE);
    let result = h.run(&path).await;
    assert_success(&result);
    let file = written_file(&result);
    let back_path = h.dir.path().join("read-back.toml");
    std::fs::write(
        &back_path,
        format!(
            "name = \"read-back\"\n\n[source]\nkind = \"xlsx\"\nlayout = \"skolverket-template\"\n\
             workbook = \"{}\"\n\n[transform]\nschool_types = [\"GR\", \"SP\", \"SAM\", \"GY\"]\n\n\
             [sink]\nkind = \"skolverket-file\"\ndir = \"back\"\n",
            file.display()
        ),
    )
    .unwrap();
    let original = desired_state(&h, &path, "original.sqlite").await;
    let back = desired_state(&h, &back_path, "back.sqlite").await;

    fn normalised(mut d: DesiredState) -> DesiredState {
        for p in &mut d.persons {
            p.source_id = String::new();
            p.hash = String::new();
            p.school_unit = None;
            // The template has one e-mail column and no e-mail type.
            p.payload.emails.truncate(1);
            for e in &mut p.payload.emails {
                e.email_type = None;
            }
            p.payload
                .enrolments
                .sort_by_key(|e| (e.enroled_at.id, e.school_type));
        }
        for x in &mut d.duties {
            (x.source_id, x.hash, x.school_unit) = (String::new(), String::new(), None);
        }
        for g in &mut d.groups {
            (g.source_id, g.hash, g.school_unit) = (String::new(), String::new(), None);
            g.payload.group_memberships.sort_by_key(|m| m.person.id);
        }
        d.persons.sort_by_key(|p| p.id);
        d.duties.sort_by_key(|x| x.id);
        d.groups.sort_by_key(|g| g.id);
        d
    }
    let activities =
        |d: &DesiredState| -> BTreeSet<(Vec<uuid::Uuid>, uuid::Uuid, Vec<uuid::Uuid>, uuid::Uuid)> {
            d.activities
                .iter()
                .map(|a| {
                    let mut groups: Vec<_> = a.payload.groups.iter().map(|g| g.id).collect();
                    groups.sort();
                    let mut teachers: Vec<_> =
                        a.payload.teachers.iter().map(|t| t.duty.id).collect();
                    teachers.sort();
                    (
                        groups,
                        a.payload.parent_activity.id,
                        teachers,
                        a.payload.organisation.id,
                    )
                })
                .collect()
        };
    assert!(
        !original.persons.is_empty()
            && !original.duties.is_empty()
            && !original.groups.is_empty()
            && !original.activities.is_empty(),
        "a whole municipality is compared"
    );
    assert_eq!(activities(&back), activities(&original), "activities");
    let (original, back) = (normalised(original), normalised(back));
    assert_eq!(back.persons.len(), original.persons.len());
    for (b, o) in back.persons.iter().zip(&original.persons) {
        assert_eq!(b.payload, o.payload, "person {}", o.id);
    }
    assert_eq!(back.duties, original.duties, "duties");
    assert_eq!(back.groups.len(), original.groups.len());
    for (b, o) in back.groups.iter().zip(&original.groups) {
        assert_eq!(b.payload, o.payload, "group {}", o.id);
    }
}

/// A pipeline that pushes and writes the upload file from one read (two
/// `[[sink]]`s): a mistake in one sink's section ends that sink's run —
/// named, exit code 2 — while the other delivers; once fixed, the file
/// sink makes its first delivery (no guard holds it back: its first load)
/// and the push sink has nothing left to send.
#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_sink_of_a_list_fails_alone_and_the_others_deliver() {
    let h = Harness::new().await;
    let both = |file_name: &str| {
        format!(
            r#"name = "push-and-file"

[source]
kind = "educloud"
org_identifier = "SE00100"
client_id = "x"
client_secret = "x"

[transform]
school_types = ["GR", "SP", "SAM", "GY"]

[[sink]]
kind = "skolverket"
environment = "verifieringstest"
client_cert = "x"
client_key = "x"

[[sink]]
kind = "skolverket-file"
dir = "upload"
file_name = "{file_name}"

[guards]
max_changes_ratio = 0.10
"#
        )
    };
    let path = h.dir.path().join("push-and-file.toml");
    std::fs::write(&path, both("provtjanst.csv")).unwrap();
    let first = h.run(&path).await;
    assert_eq!(
        first.report.outcome,
        RunOutcome::Success,
        "{}",
        first.terminal_summary()
    );
    assert!(first.report.counts.persons.created > 0);
    assert_eq!(
        h.store().persons().len() as u64,
        first.report.counts.persons.created
    );
    let file_run = &first.other_sinks[0];
    assert_eq!(file_run.report.outcome, RunOutcome::Aborted);
    let reason = file_run.report.abort_reason.clone().unwrap_or_default();
    assert!(
        reason.contains("file_name") && reason.contains(".xlsx"),
        "{reason}"
    );
    assert_eq!(first.exit_code(), 2, "the worst of the two: a wrong file");
    assert!(
        first
            .terminal_summary()
            .contains("Sink: sink[2] (skolverket-file)")
    );

    std::fs::write(&path, both("provtjanst.xlsx")).unwrap();
    let second = h.run(&path).await;
    assert_success(&second);
    let pushed = &second.report.counts;
    assert_eq!(
        pushed.persons.created + pushed.persons.updated + pushed.groups.created,
        0,
        "{}",
        second.terminal_summary()
    );
    let file_run = &second.other_sinks[0];
    let (_, sheets) = read_workbook(&written_file(file_run));
    let students = file_run
        .report
        .upload
        .as_ref()
        .unwrap()
        .rows
        .iter()
        .find(|r| r.sheet == "Elevinskrivningar")
        .map(|r| r.new)
        .unwrap();
    assert!(students > 0);
    assert_eq!(sheets["Elevinskrivningar"].rows.len(), students);
    assert!(file_run.report.counts.persons.created > 0);
}
