//! The pipeline commands as a user meets them: errors in a pipeline file
//! name the line and the likely intended key, `plan --json` has the
//! documented shape, `run` exits 0 and a second plan is empty, `history`
//! and `status` show what happened, and the documented format covers every
//! key of the schema.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::Harness;

fn skolsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skolsync"))
}

async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run skolsync"))
        .await
        .expect("join")
}

/// `skolsync COMMAND PIPELINE EXTRA…`, run to the end.
fn on_file(command: &str, path: &Path, extra: &[&std::ffi::OsStr]) -> Output {
    skolsync()
        .arg(command)
        .arg(path)
        .args(extra)
        .output()
        .expect("run skolsync")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_pipeline(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("p.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const VALID_HEAD: &str = r#"name = "typos"

[source]
kind = "csv"
layout = "skolverket-template"
students = "Elevinskrivningar.csv"
"#;

#[test]
fn a_typo_names_the_line_and_the_intended_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, line, key, suggestion, table) in [
        (
            format!("{VALID_HEAD}\n[sink]\nkind = \"skolverket\"\nenviroment = \"production\"\n"),
            10,
            "enviroment",
            "environment",
            "[sink]",
        ),
        (
            format!(
                "{VALID_HEAD}\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n\n[guards]\nmax_delete = 5\n"
            ),
            13,
            "max_delete",
            "max_deletes",
            "[guards]",
        ),
        (
            format!("{VALID_HEAD}student = \"x\"\n\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n"),
            7,
            "student",
            "students",
            "[source]",
        ),
        (
            format!(
                "{VALID_HEAD}\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n\n[gaurds]\nmax_deletes = 5\n"
            ),
            12,
            "gaurds",
            "guards",
            "the top level",
        ),
        (
            format!(
                "{VALID_HEAD}\n[[sink]]\nkind = \"jsonl\"\ndir = \"out\"\n\n\
                 [[sink]]\nkind = \"ss12000-pull\"\nnotify = false\nnotfy_retry_secs = 5\n"
            ),
            15,
            "notfy_retry_secs",
            "notify_retry_secs",
            "[[sink]] #2",
        ),
    ] {
        let path = write_pipeline(dir.path(), &text);
        let out = on_file("validate", &path, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!(
                "p.toml:{line}: unknown key `{key}` in {table}; did you mean `{suggestion}`?"
            )),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn bad_values_and_missing_secrets_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_pipeline(
        dir.path(),
        &format!(
            "{VALID_HEAD}\n[sink]\nkind = \"skolverket\"\nclient_key = \"${{env:SKOLSYNC_TEST_SURELY_UNSET}}\"\n"
        ),
    );
    let out = on_file("plan", &path, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("p.toml:10: sink.client_key: environment variable `SKOLSYNC_TEST_SURELY_UNSET` is not set"),
        "{err}"
    );

    let path = write_pipeline(
        dir.path(),
        &format!("{VALID_HEAD}\n[sink]\nkind = \"ftp\"\n"),
    );
    let out = on_file("run", &path, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unknown value `ftp`"), "{err}");
    assert!(err.contains("`skolverket`"), "{err}");

    let path = write_pipeline(
        dir.path(),
        &format!(
            "{VALID_HEAD}\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n[guards]\nmax_deletes = \"ten\"\n"
        ),
    );
    let out = on_file("validate", &path, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("p.toml:12: guards.max_deletes"), "{err}");
}

#[test]
fn several_sinks_that_cannot_share_a_read_are_named_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{VALID_HEAD}\n[[sink]]\nkind = \"jsonl\"\ndir = \"out\"\n\n\
         [[sink]]\nkind = \"jsonl\"\ndir = \"out\"\n\n\
         [[sink]]\nkind = \"skolverket\"\nenvironment = \"verifieringstest\"\n\
         client_cert = \"c.pem\"\nclient_key = \"k.pem\"\n\n\
         [[sink]]\nkind = \"ss12000-pull\"\nnotify = false\nenvironment = \"production\"\n"
    );
    let path = write_pipeline(dir.path(), &text);
    let out = on_file("validate", &path, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    // The second `jsonl` sink writes where the first does; the pull sink's
    // environment implies another open-data than the push sink's. Each
    // names its own `[[sink]]` table's line.
    assert!(
        err.contains("p.toml:13: sink[2]: delivers to the same place as sink[1]"),
        "{err}"
    );
    assert!(
        err.contains("p.toml:23: sink[4]: its environment's open-data")
            && err.contains("`[transform] open_data_url`"),
        "{err}"
    );
    // Named, the open-data settles it; two different folders are fine.
    let text = text
        .replacen("dir = \"out\"", "dir = \"out2\"", 1)
        .replacen(
            "\n[[sink]]",
            "\n[transform]\nopen_data_url = \"http://127.0.0.1:9/od\"\n\n[[sink]]",
            1,
        );
    let path = write_pipeline(dir.path(), &text);
    let out = on_file("validate", &path, &[]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!all.contains("delivers to the same place"), "{all}");
    assert!(!all.contains("its environment's open-data"), "{all}");
    assert!(
        all.contains("sink[2] (jsonl)") && all.contains("sink[4] (ss12000-pull)"),
        "each sink is checked and named: {all}"
    );
}

#[test]
fn every_key_of_the_schema_is_documented() {
    let out = skolsync().arg("schema").output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    let keys = skolsync::pipeline::schema::keys(&schema);
    assert!(keys.len() > 100, "suspiciously few keys: {}", keys.len());
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/pipeline-format.md"),
    )
    .expect("docs/pipeline-format.md");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from docs/pipeline-format.md: {missing:?}"
    );
}

#[test]
fn run_help_documents_the_exit_codes() {
    let out = skolsync().args(["run", "--help"]).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("--allow-large-changes"), "{text}");
    assert!(text.contains("Exit"), "{text}");
    let out = skolsync().arg("--help").output().unwrap();
    let text = stdout(&out);
    for code in [
        "0  everything landed",
        "3  the run completed",
        "4  the run was aborted",
    ] {
        assert!(text.contains(code), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_run_history_and_status_from_the_command_line() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    let endpoints = h.endpoints_file();
    let pipeline_cmd = |args: &[&str]| {
        let mut c = skolsync();
        c.args(args)
            .arg(&path)
            .arg("--sandbox-endpoints")
            .arg(&endpoints)
            .env_remove("EDUCLOUD_CLIENT_SECRET");
        c
    };

    let out = output(pipeline_cmd(&["validate", "--online"])).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("The pipeline is valid."));

    let out = output(pipeline_cmd(&["plan", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("plan JSON");
    let object = plan.as_object().unwrap();
    assert_eq!(
        object.keys().map(String::as_str).collect::<Vec<_>>(),
        ["activity", "duty", "group", "person"]
    );
    for (kind, counts) in object {
        let counts = counts.as_object().unwrap();
        assert_eq!(
            counts.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "create",
                "delete",
                "kept_stale",
                "out_of_scope",
                "out_of_scope_reasons",
                "rejected",
                "unchanged",
                "update"
            ],
            "{kind}"
        );
        assert!(counts["create"].as_u64().unwrap() > 0, "{kind}");
    }
    assert_eq!(h.bulk_sends(), 0, "plan sent something");

    let out = output(pipeline_cmd(&["plan", "--json", "--details"])).await;
    let details: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &details["person"]["details"]["create"][0];
    assert!(first["id"].is_string() && first["source_id"].is_string());
    let civic = first["civic_no"].as_str().unwrap();
    assert!(
        civic.ends_with("****"),
        "unmasked personnummer in plan --details: {civic}"
    );

    let out = output(pipeline_cmd(&["run", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(report["outcome"], "success");
    let created = report["counts"]["person"]["created"].as_u64().unwrap();
    assert_eq!(created, plan["person"]["create"].as_u64().unwrap());

    let out = output(pipeline_cmd(&["plan"])).await;
    assert!(stdout(&out).contains("0 changes"), "{}", stdout(&out));

    let out = output(pipeline_cmd(&["run"])).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("0 changes"), "{}", stdout(&out));

    let out = output(pipeline_cmd(&["history"])).await;
    let text = stdout(&out);
    assert_eq!(text.matches("success").count(), 2, "{text}");

    let person = h.store().persons()[0].clone();
    let out = output(pipeline_cmd(&["status", "--id", &person.id.to_string()])).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("answer          success"), "{text}");
    let out = output(pipeline_cmd(&[
        "status",
        "--civic-no",
        &person.civic_no.value,
    ]))
    .await;
    let text = stdout(&out);
    assert!(text.contains(&person.id.to_string()), "{text}");
    assert!(
        !text.contains(&person.civic_no.value),
        "status printed a personnummer"
    );
}

#[test]
fn validate_names_every_csv_file_that_is_not_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_pipeline(
        dir.path(),
        &format!(
            "{VALID_HEAD}staff = \"Personal.csv\"\n\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n"
        ),
    );
    let out = on_file("validate", &path, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}{}", stderr(&out));
    for (key, file) in [
        ("students", "Elevinskrivningar.csv"),
        ("staff", "Personal.csv"),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("source.{key}:")))
            .unwrap_or_else(|| panic!("no line for {key}: {text}"));
        assert!(line.starts_with("FAILED") && line.contains(file), "{line}");
        assert!(line.contains("is not there"), "{line}");
    }

    // Once the files are there, the source passes.
    for file in ["Elevinskrivningar.csv", "Personal.csv"] {
        std::fs::write(dir.path().join(file), "").unwrap();
    }
    let out = on_file("validate", &path, &[]);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("ok") && l.contains("source")),
        "{text}"
    );
    assert!(!text.contains("is not there"), "{text}");
}

#[test]
fn extract_loads_the_file_like_every_command_but_needs_only_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    // A typo in [source]: the line and the intended key, as for `run`.
    let path = write_pipeline(
        dir.path(),
        "name = \"x\"\n[source]\nkind = \"csv\"\nlayout = \"skolverket-template\"\nstudnets = \"e.csv\"\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n",
    );
    let out = on_file("extract", &path, &["--out".as_ref(), out_dir.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("p.toml:5: unknown key `studnets`"), "{err}");
    assert!(err.contains("did you mean `students`?"), "{err}");

    // The sink's secret is not needed to look at the source: the run gets
    // as far as reading (the file is missing), not stopped by the sink.
    let path = write_pipeline(
        dir.path(),
        &format!(
            "{VALID_HEAD}\n[sink]\nkind = \"skolverket\"\nclient_key = \"${{env:SKOLSYNC_TEST_SURELY_UNSET}}\"\n"
        ),
    );
    let out = on_file("extract", &path, &["--out".as_ref(), out_dir.as_os_str()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(!err.contains("SKOLSYNC_TEST_SURELY_UNSET"), "{err}");
    assert!(err.contains("Elevinskrivningar.csv"), "{err}");
}

/// `[sandbox.source_faults]` in a pipeline file fails only the source side:
/// an SS 12000 server without `/syllabuses` and `/programmes` (Skolverket's
/// subset) is read with a warning each and the run lands the rest; a
/// source without `/persons` stops the run naming it, before anything is
/// sent.
#[test]
fn source_faults_in_the_pipeline_file_hit_only_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = |faults: &str| {
        format!(
            "name = \"faults\"\n\n[source]\nkind = \"educloud\"\n\n[transform]\n\n\
             [sink]\nkind = \"skolverket\"\n\n[sandbox]\nenabled = true\nstudents = 150\n\n\
             [sandbox.source_faults]\n{faults}\n"
        )
    };
    let run = |name: &str, faults: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, pipeline(faults)).unwrap();
        let reports = dir.path().join(format!("{name}-reports"));
        let out = on_file(
            "run",
            &path,
            &[
                "--state".as_ref(),
                dir.path().join(format!("{name}.sqlite")).as_os_str(),
                "--reports-dir".as_ref(),
                reports.as_os_str(),
            ],
        );
        let mut report = String::new();
        // Reports are written to `<reports-dir>/<pipeline name>/`.
        for entry in std::fs::read_dir(reports.join("faults"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "json") {
                report.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        (out, report)
    };

    let (out, report) = run("subset", "unserved = [\"syllabuses\", \"programmes\"]");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(report.contains("syllabuses"), "{report}");
    assert!(report.contains("programmes"), "{report}");
    // The table has no type for them, and the summary says why its
    // warning column does not show them.
    assert!(
        stdout(&out).contains("2 of the warnings concern the read"),
        "{}",
        stdout(&out)
    );

    let (out, report) = run("down", "unserved = [\"persons\"]");
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    let said = format!("{}{}{report}", stdout(&out), stderr(&out));
    assert!(said.contains("persons"), "{said}");
    assert!(!report.contains("\"outcome\": \"success\""), "{report}");
}
