//! The file sinks write what the plan (or the source) holds, per type.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::fs::File;
use std::path::Path;

use polars::prelude::{ParquetReader, SerReader};
use skolsync_model::plan::{OutcomeStatus, Plan};
use skolsync_model::provtjanst::Person;
use skolsync_model::ss12000::Snapshot;
use skolsync_sandbox::generate::{GenerateConfig, generate};
use skolsync_sink::file::config::{Content, FileConfig};
use skolsync_sink::{Delivery, Sink, SinkConfig, SinkError, build, snapshot_writer};
use support::{Collected, assert_one_outcome_each, plan_from};
use uuid::Uuid;

fn plan() -> (Plan, Snapshot) {
    let m = generate(&GenerateConfig {
        students: 150,
        ..GenerateConfig::default()
    });
    let mut plan = plan_from(&m.catalogue, &m.source);
    plan.groups.delete = vec![Uuid::new_v4()];
    let s = &m.source;
    let snapshot = Snapshot {
        organisations: s.organisations.clone(),
        persons: s.persons.clone(),
        duties: s.duties.clone(),
        groups: s.groups.clone(),
        activities: s.activities.clone(),
        syllabuses: s.syllabuses.clone(),
        programmes: s.programmes.clone(),
        ..Snapshot::default()
    };
    (plan, snapshot)
}

fn file_config(kind: &str, content: Content) -> SinkConfig {
    let config = FileConfig {
        dir: "out".into(),
        content,
    };
    match kind {
        "jsonl" => SinkConfig::Jsonl(config),
        "csv" => SinkConfig::Csv(config),
        _ => SinkConfig::Parquet(config),
    }
}

async fn file_sink(kind: &str, dir: &Path, content: Content) -> Box<dyn Sink> {
    build(
        &file_config(kind, content),
        &skolsync_model::BuildContext::new(dir),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn jsonl_holds_the_payloads_exactly_and_every_entity_is_a_success() {
    let (plan, _) = plan();
    let dir = tempfile::tempdir().unwrap();
    let sink = file_sink("jsonl", dir.path(), Content::Provtjanst).await;
    let collected = Collected::default();
    let summary = sink.apply(&plan, &collected.callback()).await.unwrap();
    assert_one_outcome_each(&plan, &collected.all());
    assert!(
        collected
            .all()
            .iter()
            .all(|o| o.status == OutcomeStatus::Success && o.attempts == 1)
    );
    assert_eq!(summary.overall().success, collected.all().len());

    let text = std::fs::read_to_string(dir.path().join("out/persons.jsonl")).unwrap();
    let persons: Vec<Person> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let planned: Vec<&Person> = plan.persons.create.iter().map(|d| &d.payload).collect();
    assert_eq!(persons.iter().collect::<Vec<_>>(), planned);
    let deletes = std::fs::read_to_string(dir.path().join("out/deletes.jsonl")).unwrap();
    assert!(deletes.contains("\"kind\":\"Group\""), "{deletes}");
    for name in ["duties", "groups", "activities"] {
        let lines = std::fs::read_to_string(dir.path().join(format!("out/{name}.jsonl"))).unwrap();
        assert!(lines.lines().count() > 0, "{name}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("out/persons.jsonl"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "personal data is readable by the owner only"
        );
    }
    assert_eq!(sink.check().await.unwrap().kind, "jsonl");
}

#[tokio::test]
async fn csv_and_parquet_have_a_row_per_entity_and_a_column_per_attribute() {
    let (plan, _) = plan();
    let dir = tempfile::tempdir().unwrap();
    let csv_sink = file_sink("csv", dir.path(), Content::Provtjanst).await;
    csv_sink.apply(&plan, &|_| Ok(())).await.unwrap();
    let mut reader = csv::Reader::from_path(dir.path().join("out/persons.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    for column in ["id", "givenName", "familyName", "civicNo", "enrolments"] {
        assert!(
            headers.iter().any(|h| h == column),
            "{column} in {headers:?}"
        );
    }
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), plan.persons.create.len());
    let civic = headers.iter().position(|h| h == "civicNo").unwrap();
    let first: serde_json::Value = serde_json::from_str(&rows[0][civic]).unwrap();
    assert_eq!(
        first["value"],
        plan.persons.create[0].payload.civic_no.value
    );

    let dir = tempfile::tempdir().unwrap();
    let parquet_sink = file_sink("parquet", dir.path(), Content::Provtjanst).await;
    parquet_sink.apply(&plan, &|_| Ok(())).await.unwrap();
    for (name, count) in [
        ("persons", plan.persons.create.len()),
        ("groups", plan.groups.create.len()),
        ("deletes", 1),
    ] {
        let file = File::open(dir.path().join(format!("out/{name}.parquet"))).unwrap();
        let frame = ParquetReader::new(file).finish().unwrap();
        assert_eq!(frame.height(), count, "{name}");
        assert!(frame.column("id").is_ok(), "{name} has an id column");
    }
}

#[tokio::test]
async fn ss12000_content_writes_the_source_entities_and_refuses_plans() {
    let (plan, snapshot) = plan();
    let dir = tempfile::tempdir().unwrap();
    let config = file_config("parquet", Content::Ss12000);
    assert_eq!(config.delivery(), Delivery::Snapshot);
    let summary = snapshot_writer(&config, &skolsync_model::BuildContext::new(dir.path()))
        .unwrap()
        .write(&snapshot)
        .await
        .unwrap();
    assert_eq!(summary.files["persons.parquet"], snapshot.persons.len());
    assert_eq!(
        summary.files["syllabuses.parquet"],
        snapshot.syllabuses.len()
    );
    assert_eq!(summary.files["deleted.parquet"], 0);
    let file = File::open(dir.path().join("out/organisations.parquet")).unwrap();
    assert_eq!(
        ParquetReader::new(file).finish().unwrap().height(),
        snapshot.organisations.len()
    );

    let sink = file_sink("parquet", dir.path(), Content::Ss12000).await;
    let err = sink.apply(&plan, &|_| Ok(())).await.unwrap_err();
    assert!(matches!(err, SinkError::Unsupported { .. }), "{err}");
}

#[tokio::test]
async fn a_directory_that_is_a_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out"), "not a directory").unwrap();
    let err = build(
        &SinkConfig::Csv(FileConfig {
            dir: "out".into(),
            content: Content::Provtjanst,
        }),
        &skolsync_model::BuildContext::new(dir.path()),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("dir") && err.contains("not a directory"),
        "{err}"
    );
}

/// Every file in `dir` (output and leftovers alike) is `0600`.
#[cfg(unix)]
fn assert_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", entry.path().display());
        seen += 1;
    }
    assert!(seen > 0, "files were written");
}

#[cfg(unix)]
#[tokio::test]
async fn output_files_are_0600_even_over_leftovers_with_a_wider_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (plan, snapshot) = plan();
    for (kind, content) in [
        ("jsonl", Content::Provtjanst),
        ("csv", Content::Provtjanst),
        ("parquet", Content::Provtjanst),
        ("jsonl", Content::Ss12000),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // A crash left a temporary file behind, and an earlier tool wrote
        // the output world-readable.
        for name in [format!(".persons.{kind}.tmp"), format!("persons.{kind}")] {
            let path = out.join(name);
            std::fs::write(&path, "old").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        if content == Content::Ss12000 {
            let config = file_config(kind, content);
            let writer =
                snapshot_writer(&config, &skolsync_model::BuildContext::new(dir.path())).unwrap();
            writer.write(&snapshot).await.unwrap();
        } else {
            let sink = file_sink(kind, dir.path(), content).await;
            sink.apply(&plan, &|_| Ok(())).await.unwrap();
        }
        assert_private(&out);
    }
}
