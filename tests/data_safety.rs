//! End to end: a bad export never deletes, empties or silently drops
//! anything.
//!
//! Each test is a second run after a good first load of the CSV template
//! pipeline against the sandbox, with one realistic mistake in the export:
//! a typo'd personnummer, a school year `42`, an unknown school unit, a
//! duplicate EPPN (the pupil stays in the provtjänst and in their class,
//! reported as kept stale), a renamed column, a stray quote, a truncated
//! file, a stray Windows-1252 byte (the run stops before sending, naming
//! the file and line, and every membership is still there).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::path::{Path, PathBuf};

use skolsync::engine::RunResult;
use skolsync::report::ProblemSeverity;
use skolsync::state::{RunOutcome, StateStore};
use skolsync_model::ObjectType;
use skolsync_sandbox::provisioning::ChangeKind;
use support::{Harness, pipelines_dir};
use uuid::Uuid;

const PIPELINE: &str = "csv-template-to-skolverket.toml";
const STUDENTS_FILE: &str = "Elevinskrivningar.csv";
const STATE: &str = "state/csv-template-dnp.sqlite";

/// The template pipeline after a good first load, with its own copy of the
/// CSV files to break.
struct Loaded {
    h: Harness,
    path: PathBuf,
    data: PathBuf,
}

impl Loaded {
    async fn new() -> Loaded {
        let h = Harness::new().await;
        let path = h.dir.path().join(PIPELINE);
        std::fs::copy(pipelines_dir().join(PIPELINE), &path).expect("copy the pipeline file");
        let data = h.dir.path().join("data/csv-template");
        std::fs::create_dir_all(&data).expect("data folder");
        for entry in std::fs::read_dir(pipelines_dir().join("data/csv-template")).expect("data") {
            let entry = entry.expect("data file");
            std::fs::copy(entry.path(), data.join(entry.file_name())).expect("copy a data file");
        }
        let first = h.run(&path).await;
        assert!(
            first.inconsistencies.is_empty() && matches!(first.exit_code(), 0 | 3),
            "the first load did not land: {}",
            first.terminal_summary()
        );
        assert!(h.store().count(ObjectType::Person) > 100);
        Loaded { h, path, data }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.data.join(name)
    }

    async fn run(&self) -> RunResult {
        self.h.store().clear_requests();
        self.h.run(&self.path).await
    }

    /// The Skolverket id the state knows for a source record of `kind`.
    async fn id_of(&self, kind: ObjectType, source_id: &str) -> Option<Uuid> {
        let store = StateStore::open(self.h.dir.path().join(STATE))
            .await
            .expect("state opens");
        let sink = self.h.load(&self.path).await.sink_identity();
        let found = store
            .find_by_source_id(&sink, source_id)
            .await
            .expect("state reads");
        store.close().await;
        found
            .into_iter()
            .find(|e| e.kind == kind && e.confirmed_hash.is_some())
            .map(|e| e.id)
    }

    /// A pupil the service holds, with one row in the students file, in a
    /// class the service holds with them as a member: (row, source id,
    /// Skolverket id, the class's Skolverket id).
    async fn pupil(&self, rows: &Table, skip: usize) -> (usize, String, Uuid, Uuid) {
        let (id_col, class_col) = (rows.col("Person-ID"), rows.col("Klass"));
        let mut skipped = 0;
        for (i, row) in rows.rows.iter().enumerate() {
            let source_id = &row[id_col];
            if rows.rows.iter().filter(|r| &r[id_col] == source_id).count() != 1
                || row[class_col].is_empty()
            {
                continue;
            }
            let Some(person) = self.id_of(ObjectType::Person, source_id).await else {
                continue;
            };
            let Some(class) = self.id_of(ObjectType::Group, &row[class_col]).await else {
                continue;
            };
            let in_class = self
                .h
                .store()
                .group(class)
                .is_some_and(|g| g.group_memberships.iter().any(|m| m.person.id == person));
            if self.h.store().person(person).is_some() && in_class {
                if skipped == skip {
                    return (i, source_id.clone(), person, class);
                }
                skipped += 1;
            }
        }
        panic!("no pupil of the first load fits the test");
    }
}

/// A `;`-separated file as a header and rows (the committed data quotes
/// nothing).
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let text = std::fs::read_to_string(path).expect("read the CSV file");
        let mut lines = text.lines().filter(|l| !l.is_empty());
        let split = |l: &str| l.split(';').map(str::to_string).collect::<Vec<_>>();
        let header = split(lines.next().expect("a header"));
        Table {
            header,
            rows: lines.map(split).collect(),
        }
    }

    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn text(&self) -> String {
        let mut out = self.header.join(";");
        out.push('\n');
        for row in &self.rows {
            out.push_str(&row.join(";"));
            out.push('\n');
        }
        out
    }

    fn write(&self, path: &Path) {
        std::fs::write(path, self.text()).expect("write the CSV file");
    }
}

/// The second run after `edit` of one pupil's row: the pupil and their
/// class membership are still in the service, nothing was deleted, and the
/// report lists them as kept stale with the reason.
async fn pupil_is_kept(edit: impl Fn(&mut Table, usize), reason_part: &str) {
    let l = Loaded::new().await;
    let path = l.file(STUDENTS_FILE);
    let mut table = Table::read(&path);
    let (row, source_id, person, class) = l.pupil(&table, 3).await;
    let given = table.rows[row][table.col("Förnamn")].clone();
    edit(&mut table, row);
    table.write(&path);
    let at = l.h.store().changes().len();

    let second = l.run().await;
    assert!(
        second.inconsistencies.is_empty(),
        "{}",
        second.terminal_summary()
    );
    assert_eq!(second.exit_code(), 3, "{}", second.terminal_summary());
    assert!(
        l.h.store().person(person).is_some(),
        "the pupil was deleted"
    );
    let class_now = l.h.store().group(class).expect("the class is still there");
    assert!(
        class_now
            .group_memberships
            .iter()
            .any(|m| m.person.id == person),
        "the pupil was taken out of the class"
    );
    let deleted: Vec<_> =
        l.h.store()
            .changes()
            .into_iter()
            .skip(at)
            .filter(|c| c.change == ChangeKind::Deleted)
            .collect();
    assert!(deleted.is_empty(), "deleted: {deleted:?}");
    assert!(second.report.counts.persons.kept_stale >= 1);
    let kept = second
        .report
        .problems
        .iter()
        .find(|p| {
            p.severity == ProblemSeverity::KeptStale && p.source_id.as_deref() == Some(&source_id)
        })
        .unwrap_or_else(|| {
            panic!(
                "no kept-stale line for {source_id}: {:#?}",
                second.report.problems
            )
        });
    assert_eq!(kept.skolverket_id, Some(person));
    assert!(
        kept.reason.contains(&given) && kept.reason.contains("kept as last sent"),
        "{}",
        kept.reason
    );
    assert!(
        kept.reason.to_lowercase().contains(reason_part),
        "`{reason_part}` not in: {}",
        kept.reason
    );
    // The terminal summary and the JSON report say so too.
    assert!(second.terminal_summary().contains("kept stale"));
    let json = std::fs::read_to_string(&second.paths.as_ref().expect("report").json).unwrap();
    assert!(json.contains("\"kept_stale\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_a_personnummer_keeps_the_pupil() {
    pupil_is_kept(
        |t, row| {
            let c = t.col("Personnummer");
            let civic = &mut t.rows[row][c];
            let last = civic.pop().and_then(|d| d.to_digit(10)).unwrap_or(0);
            civic.push(char::from_digit((last + 1) % 10, 10).unwrap_or('0'));
        },
        "check digit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_year_42_keeps_the_pupil() {
    pupil_is_kept(
        |t, row| {
            let c = t.col("Årskurs");
            t.rows[row][c] = "42".into();
        },
        "42",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_school_unit_keeps_the_pupil() {
    pupil_is_kept(
        |t, row| {
            let c = t.col("Skolenhetskod");
            t.rows[row][c] = "99999999".into();
        },
        "99999999",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_eppn_keeps_the_pupil() {
    pupil_is_kept(
        |t, row| {
            let c = t.col("Federationsanvändarnamn");
            let other = t.rows[0][c].clone();
            assert!(row > 0);
            t.rows[row][c] = other;
        },
        "eppn",
    )
    .await;
}

/// The second run after breaking the students file: stopped before
/// anything was sent, with a message naming `needle`, and every membership
/// still in the service.
async fn stops_before_sending(break_it: impl Fn(&Path), needle: &str) {
    let l = Loaded::new().await;
    let memberships = |l: &Loaded| -> usize {
        l.h.store()
            .groups()
            .iter()
            .map(|g| g.group_memberships.len())
            .sum()
    };
    let before = memberships(&l);
    let changes = l.h.store().changes().len();
    break_it(&l.file(STUDENTS_FILE));

    let second = l.run().await;
    assert_eq!(second.exit_code(), 4, "{}", second.terminal_summary());
    assert_eq!(second.report.outcome, RunOutcome::Aborted);
    assert_eq!(l.h.bulk_sends(), 0, "something was sent");
    assert_eq!(l.h.store().changes().len(), changes);
    assert_eq!(memberships(&l), before, "memberships changed");
    let reason = second.report.abort_reason.clone().unwrap_or_default();
    assert!(reason.contains(needle), "`{needle}` not in: {reason}");
    assert!(second.paths.is_some(), "the report was written");
}

fn rename_column(from: &'static str, to: &'static str) -> impl Fn(&Path) {
    move |path| {
        let mut t = Table::read(path);
        let c = t.col(from);
        t.header[c] = to.into();
        t.write(path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_class_column_stops_the_run() {
    stops_before_sending(rename_column("Klass", "Klassnamn"), "Klass").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_in_the_subject_groups_column_stops_the_run() {
    stops_before_sending(rename_column("Ämnesgrupper", "Ämnesgruper"), "Ämnesgrupper").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_quote_stops_the_run_naming_the_line() {
    stops_before_sending(
        |path| {
            let mut t = Table::read(path);
            let c = t.col("Förnamn");
            // Line 11 of the file: the header is line 1.
            t.rows[9][c] = format!("\"{}", t.rows[9][c]);
            t.write(path);
        },
        ":11",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_stops_the_run_naming_the_line() {
    stops_before_sending(
        |path| {
            let t = Table::read(path);
            let mut text = t.text();
            // Cut the last row in half, without its line end.
            let last_start = text.trim_end().rfind('\n').map_or(0, |i| i + 1);
            let cut = last_start + (text.len() - last_start) / 3;
            text.truncate(cut);
            std::fs::write(path, text).expect("write");
        },
        &format!(
            ":{}",
            Table::read(
                &pipelines_dir()
                    .join("data/csv-template")
                    .join(STUDENTS_FILE)
            )
            .rows
            .len()
                + 1
        ),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stray_windows_1252_byte_stops_the_run_naming_the_line() {
    stops_before_sending(
        |path| {
            let t = Table::read(path);
            let mut bytes = Vec::new();
            for (i, line) in t.text().lines().enumerate() {
                if i == 13 {
                    // Line 14: a name typed in a Windows-1252 editor.
                    let mut line = line.as_bytes().to_vec();
                    let at = line.iter().position(|b| *b == b';').unwrap_or(0) + 1;
                    line.insert(at, 0xF6);
                    bytes.extend(line);
                } else {
                    bytes.extend_from_slice(line.as_bytes());
                }
                bytes.push(b'\n');
            }
            std::fs::write(path, bytes).expect("write");
        },
        ":14",
    )
    .await;
}
