//! Shared by the end-to-end tests: a sandbox with the test municipality,
//! pipeline files copied into a temporary folder, and the CSV data the
//! CSV pipelines read.
//!
//! Every pipeline file in `pipelines/` is run as it is, against an
//! in-process sandbox: the file is copied into a temporary folder (so its
//! state, reports and output files land there; `data/` is linked next to
//! it) and loaded with [`SandboxChoice::Attach`], which points the source,
//! the sink and open-data at the sandbox — the same mechanism as
//! `skolsync run --sandbox-endpoints`.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use skolsync::engine::{self, RunOptions, RunResult};
use skolsync::pipeline::{LoadOptions, Pipeline, SandboxChoice};
use skolsync_model::ObjectType;
use skolsync_sandbox::generate::csv_export::{CsvOptions, export_csv};
use skolsync_sandbox::generate::{
    GenerateConfig, WorkbookDirt, WorkbookOptions, export_template_workbook, generate,
};
use skolsync_sandbox::provisioning::{ChangeKind, Store};
use skolsync_sandbox::{Sandbox, SandboxConfig, SourceOptions};
use uuid::Uuid;

/// Pupils of the test municipality (and of the committed CSV data).
pub const STUDENTS: usize = 300;
/// Seed of the test municipality.
pub const SEED: u64 = 7;

/// The repository's `pipelines/` folder.
pub fn pipelines_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines")
}

/// The sandbox's source with real pages (100 at most) but no wait per
/// page: these tests are about what is read, not how long it takes.
pub fn quick_source() -> SourceOptions {
    SourceOptions {
        latency: Duration::ZERO,
        ..SourceOptions::default()
    }
}

/// A sandbox serving the test municipality, and a temporary folder.
pub struct Harness {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// The test municipality with quick jobs.
    pub async fn new() -> Harness {
        Harness::with(Duration::from_millis(20)).await
    }

    /// The test municipality whose bulk jobs settle after `job_settle`.
    pub async fn with(job_settle: Duration) -> Harness {
        let sandbox = Sandbox::start(SandboxConfig {
            students: STUDENTS,
            seed: SEED,
            job_settle_delay: job_settle,
            source: quick_source(),
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox starts");
        Harness {
            sandbox,
            dir: tempfile::tempdir().expect("temporary folder"),
        }
    }

    /// Copies `pipelines/<name>` into the temporary folder (with `data/`
    /// linked next to it) and returns the copy's path.
    pub fn copy(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(name);
        std::fs::copy(pipelines_dir().join(name), &to).expect("copy the pipeline file");
        let data = self.dir.path().join("data");
        if !data.exists() {
            std::os::unix::fs::symlink(pipelines_dir().join("data"), &data).expect("link data/");
        }
        to
    }

    /// Loads a copied pipeline file against the sandbox.
    pub async fn load(&self, path: &Path) -> Pipeline {
        let options = LoadOptions {
            sandbox: SandboxChoice::Attach(Box::new(self.sandbox.endpoints().clone())),
            ..LoadOptions::default()
        };
        Pipeline::load(path, &options)
            .await
            .expect("the pipeline loads")
    }

    /// Runs a copied pipeline file against the sandbox.
    pub async fn run(&self, path: &Path) -> RunResult {
        self.run_with(path, false).await
    }

    /// Runs, optionally past the guards.
    pub async fn run_with(&self, path: &Path, allow_large_changes: bool) -> RunResult {
        let pipeline = self.load(path).await;
        engine::run(
            &pipeline,
            &RunOptions {
                allow_large_changes,
                ..RunOptions::default()
            },
        )
        .await
        .expect("the run runs")
    }

    /// `skolsync COMMAND PIPELINE --sandbox-endpoints …` against this
    /// sandbox, run to the end.
    pub async fn cli(&self, command: &str, pipeline: &Path) -> std::process::Output {
        let endpoints = self.endpoints_file();
        let (command, pipeline) = (command.to_string(), pipeline.to_path_buf());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
                .arg(command)
                .arg(pipeline)
                .arg("--sandbox-endpoints")
                .arg(endpoints)
                .output()
                .expect("run skolsync")
        })
        .await
        .expect("join")
    }

    /// The Provisioning API emulator.
    pub fn store(&self) -> Store {
        self.sandbox.provisioning_store()
    }

    /// Bulk create/update/delete calls received since the log was cleared.
    pub fn bulk_sends(&self) -> usize {
        self.store()
            .requests()
            .iter()
            .filter(|r| {
                (r.method == "POST" || r.method == "PUT")
                    && r.path.contains("/bulk")
                    && !r.path.contains("/jobs")
                    && r.status == 202
            })
            .count()
    }

    /// The endpoints as the JSON line `skolsync sandbox --json` prints,
    /// written to a file for `--sandbox-endpoints`.
    pub fn endpoints_file(&self) -> PathBuf {
        let path = self.dir.path().join("endpoints.json");
        let line = serde_json::to_string(self.sandbox.endpoints()).expect("endpoints as JSON");
        std::fs::write(&path, line).expect("write endpoints");
        path
    }
}

/// The changes the emulator recorded from index `from` on, per type and kind.
pub fn changes_since(store: &Store, from: usize) -> HashMap<(ObjectType, ChangeKind), Vec<Uuid>> {
    let mut out: HashMap<(ObjectType, ChangeKind), Vec<Uuid>> = HashMap::new();
    for c in store.changes().into_iter().skip(from) {
        out.entry((c.kind, c.change)).or_default().push(c.id);
    }
    out
}

/// Asserts a run's report adds up and says `success`.
pub fn assert_success(result: &RunResult) {
    // Every sink's run, when the pipeline has several.
    for run in result.every_sink() {
        assert!(
            run.inconsistencies.is_empty(),
            "inconsistent: {:?}",
            run.inconsistencies
        );
        assert_eq!(
            run.report.outcome,
            skolsync::state::RunOutcome::Success,
            "{}",
            result.terminal_summary()
        );
    }
    assert_eq!(result.exit_code(), 0);
}

// ---------------------------------------------------------------------------
// The committed CSV data.

/// Where each data set lives under `pipelines/data/`.
pub const CSV_TEMPLATE_DIR: &str = "csv-template";
/// The "other school system" of the migration.
pub const OTHER_SYSTEM_DIR: &str = "other-system";
/// The template as a hand-filled workbook.
pub const XLSX_TEMPLATE_DIR: &str = "xlsx-template";
/// The workbook's file name.
pub const XLSX_TEMPLATE_FILE: &str = "Överföring.xlsx";

/// Writes the data sets the pipelines read into `root`
/// (`root/csv-template/…`, `root/other-system/…`, and the hand-filled
/// template workbook `root/xlsx-template/Överföring.xlsx`).
pub fn write_csv_data(root: &Path) {
    let municipality = generate(&GenerateConfig {
        students: STUDENTS,
        seed: SEED,
        ..GenerateConfig::default()
    });
    let template = root.join(CSV_TEMPLATE_DIR);
    export_csv(&municipality, &template, &CsvOptions::default()).expect("export the template");
    let other = root.join(OTHER_SYSTEM_DIR);
    std::fs::create_dir_all(&other).expect("create other-system/");
    rewrite_ids(&template, &other);
    let workbook = WorkbookOptions {
        dirt: WorkbookDirt::Dirty,
        overwrite: true,
        ..WorkbookOptions::default()
    };
    export_template_workbook(
        &municipality,
        &root.join(XLSX_TEMPLATE_DIR).join(XLSX_TEMPLATE_FILE),
        &workbook,
    )
    .expect("export the template workbook");
}

/// The template export as another school system would write it: the same
/// people and groups under entirely different ids.
fn rewrite_ids(from: &Path, to: &Path) {
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut counters: HashMap<char, usize> = HashMap::new();
    let mut new_id = |prefix: char, old: &str| -> String {
        if old.trim().is_empty() {
            return String::new();
        }
        ids.entry(format!("{prefix}{old}"))
            .or_insert_with(|| {
                let n = counters.entry(prefix).or_default();
                *n += 1;
                format!("{prefix}{:05}", *n)
            })
            .clone()
    };
    // Per file: (column, id prefix, whether it holds a list) to rewrite.
    type Columns<'a> = &'a [(&'a str, char, bool)];
    let files: [(&str, Columns); 4] = [
        ("Klasser.csv", &[("Klass-ID", 'K', false)]),
        (
            "Ämnesgrupp & provaktiviteter.csv",
            &[("Grupp-ID", 'G', false)],
        ),
        (
            "Elevinskrivningar.csv",
            &[
                ("Person-ID", 'P', false),
                ("Klass", 'K', false),
                ("Ämnesgrupper", 'G', true),
            ],
        ),
        (
            "Personalstjänstgöringar.csv",
            &[
                ("Tjänstgörings-ID", 'T', false),
                ("Person-ID", 'P', false),
                ("Ämnesgrupper", 'G', true),
            ],
        ),
    ];
    for (file, columns) in files {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_path(from.join(file))
            .expect("read the export");
        let header = reader.headers().expect("header").clone();
        let mut writer = csv::WriterBuilder::new()
            .delimiter(b';')
            .from_path(to.join(file))
            .expect("write the rewritten export");
        writer.write_record(&header).expect("header");
        for row in reader.records() {
            let row = row.expect("row");
            let mut out: Vec<String> = row.iter().map(str::to_string).collect();
            for (column, prefix, list) in columns {
                let Some(i) = header.iter().position(|h| h == *column) else {
                    continue;
                };
                out[i] = if *list {
                    out[i]
                        .split(',')
                        .filter(|s| !s.trim().is_empty())
                        .map(|s| new_id(*prefix, s.trim()))
                        .collect::<Vec<_>>()
                        .join(",")
                } else {
                    new_id(*prefix, &out[i])
                };
            }
            writer.write_record(&out).expect("row");
        }
        writer.flush().expect("flush");
    }
}
