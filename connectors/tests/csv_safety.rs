//! CSV exports that would fool a reader: a stray quote, a cut-off file, a
//! stray Windows-1252 byte in UTF-8, a renamed column the pipeline maps,
//! control characters in names, a FIFO instead of a file. Each is reported
//! by file and line (as an anomaly in the file's shape, which stops the run
//! in the engine, or as a reject), and no row is silently lost.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::read_all;
use skolsync_connectors::{InputShape, ReadCheck, ReadOptions, SourceConfig, SourceError, build};
use skolsync_model::reject::Severity;

const STUDENTS: &str = "Elevinskrivningar.csv";
const CLASSES: &str = "Klasser.csv";
const HEADER: &str = "Person-ID;Federationsanvändarnamn;Personnummer;Sekretessmarkering;Förnamn;\
                      Mellannamn;Efternamn;E-postadress;Skolform;Skolenhetskod;Årskurs;\
                      Studievägskod;Klass;Ämnesgrupper;Ta bort";

/// A valid personnummer (12 digits) for pupil `n`.
fn civic_no(n: usize) -> String {
    let nine = format!("100101{:03}", 200 + n);
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("20{nine}{}", (10 - sum % 10) % 10)
}

/// The students file: the header and `n` pupils, one per line (line 2 on).
fn students(n: usize) -> Vec<String> {
    let mut lines = vec![HEADER.to_string()];
    for i in 0..n {
        let class = if i % 2 == 0 { "k1" } else { "k2" };
        lines.push(format!(
            "p{i};p{i}@edu.x;{};;Elev{i};;Ek;;GR;31279295;1;;{class};;",
            civic_no(i)
        ));
    }
    lines
}

fn classes_file() -> String {
    "Klass-ID;Klass;Skolform;Skolenhetskod;Ta bort\nk1;Förskoleklass A;GR;31279295;\n\
     k2;Förskoleklass B;GR;31279295;\n"
        .to_string()
}

fn toml_text() -> String {
    format!(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nstudents = \"{STUDENTS}\"\nclasses = \"{CLASSES}\"\n"
    )
}

async fn read(dir: &Path, toml_text: &str) -> Result<common::Read, SourceError> {
    let config: SourceConfig = toml::from_str(toml_text).unwrap();
    let source = build(&config, &skolsync_model::BuildContext::new(dir)).unwrap();
    read_all(source.as_ref(), ReadOptions::default()).await
}

fn shape<'a>(inputs: &'a [InputShape], name: &str) -> &'a InputShape {
    inputs
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no shape of {name} in {inputs:?}"))
}

fn write_files(dir: &Path, students: &[u8]) {
    std::fs::write(dir.join(STUDENTS), students).unwrap();
    std::fs::write(dir.join(CLASSES), classes_file()).unwrap();
}

#[tokio::test]
async fn a_clean_export_has_a_shape_per_file_and_no_anomalies() {
    let dir = tempfile::tempdir().unwrap();
    let text = students(30).join("\n") + "\n";
    write_files(dir.path(), text.as_bytes());
    let (snap, rejects, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(snap.persons.len(), 30);
    let s = shape(&summary.inputs, STUDENTS);
    assert_eq!(s.records, 30);
    assert_eq!(s.bytes, text.len() as u64);
    assert_eq!(s.columns.len(), 15);
    assert_eq!(s.columns[12], "Klass");
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
    let c = shape(&summary.inputs, CLASSES);
    assert_eq!((c.records, c.anomalies.len()), (2, 0));
}

#[tokio::test]
async fn a_stray_quote_is_named_by_its_line_and_swallows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = students(30);
    // Line 11: a stray quote before a given name.
    lines[10] = lines[10].replace(";Elev9;", ";\"Elev9;");
    write_files(dir.path(), (lines.join("\n") + "\n").as_bytes());
    let (snap, rejects, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert_eq!(snap.persons.len(), 29, "every other pupil is read");
    let s = shape(&summary.inputs, STUDENTS);
    assert_eq!(s.anomalies.len(), 1, "{:?}", s.anomalies);
    let a = &s.anomalies[0];
    assert_eq!(a.check, ReadCheck::RunawayQuote);
    assert_eq!(a.location, "Elevinskrivningar.csv:11");
    assert!(a.message.contains("unterminated quote from line 11"), "{a}");
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(
        rejects[0].location.as_deref(),
        Some("Elevinskrivningar.csv:11")
    );
    // Every class keeps its members but the one on line 11.
    let members: usize = snap.groups.iter().map(|g| g.group_memberships.len()).sum();
    assert_eq!(members, 29);
}

#[tokio::test]
async fn a_quote_that_runs_past_a_sane_length_is_a_runaway_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = students(5);
    lines[3] = lines[3].replace(";Elev2;", &format!(";\"{}\";", "x".repeat(1500)));
    write_files(dir.path(), (lines.join("\n") + "\n").as_bytes());
    let (snap, _, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert_eq!(snap.persons.len(), 4);
    let a = &shape(&summary.inputs, STUDENTS).anomalies;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].check, ReadCheck::RunawayQuote);
    assert_eq!(a[0].location, "Elevinskrivningar.csv:4");
    assert!(a[0].message.contains("1000"), "{}", a[0]);
}

#[tokio::test]
async fn a_cut_off_last_row_is_truncated_and_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = students(20).join("\n");
    // Cut the last row (line 21) after a few fields, without a line end.
    let last = text.rfind('\n').unwrap() + 1;
    text.truncate(last + 20);
    write_files(dir.path(), text.as_bytes());
    let (snap, rejects, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert_eq!(snap.persons.len(), 19);
    let a = &shape(&summary.inputs, STUDENTS).anomalies;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].check, ReadCheck::Truncated);
    assert_eq!(a[0].location, "Elevinskrivningar.csv:21");
    assert_eq!(rejects.len(), 1);
}

#[tokio::test]
async fn a_stray_windows_1252_byte_in_utf8_is_named_and_the_rest_stays_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = students(20)
        .iter()
        .map(|l| l.replace(";Ek;", ";Öberg;"))
        .collect();
    let mut bytes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if i == 13 {
            // Line 14: `ö` typed in a Windows-1252 editor.
            let mut raw = line.replace("Elev12", "Elev").into_bytes();
            let at = line.find("Elev").unwrap() + 4;
            raw.insert(at, 0xF6);
            bytes.extend(raw);
        } else {
            bytes.extend(line.as_bytes());
        }
        bytes.push(b'\n');
    }
    write_files(dir.path(), &bytes);
    let (snap, rejects, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert_eq!(snap.persons.len(), 19);
    // The file was not re-decoded as Windows-1252.
    assert!(snap.persons.iter().all(|p| p.family_name == "Öberg"));
    let mut names: Vec<&str> = snap
        .groups
        .iter()
        .map(|g| g.display_name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["Förskoleklass A", "Förskoleklass B"]);
    let a = &shape(&summary.inputs, STUDENTS).anomalies;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].check, ReadCheck::Encoding);
    assert_eq!(a[0].location, "Elevinskrivningar.csv:14");
    assert!(
        a[0].message.contains("0xF6") && a[0].message.contains("offset"),
        "{}",
        a[0]
    );
    assert_eq!(rejects.len(), 1);
    assert_eq!(
        rejects[0].location.as_deref(),
        Some("Elevinskrivningar.csv:14")
    );
}

#[tokio::test]
async fn a_file_that_is_windows_1252_as_a_whole_is_read_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let text = students(5).join("\r\n").replace("Elev1", "Åsa") + "\r\n";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
    let classes = encoding_rs::WINDOWS_1252
        .encode(&classes_file())
        .0
        .into_owned();
    std::fs::write(dir.path().join(STUDENTS), &bytes).unwrap();
    std::fs::write(dir.path().join(CLASSES), classes).unwrap();
    let (snap, rejects, summary) = read(dir.path(), &toml_text()).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:?}");
    assert!(snap.persons.iter().any(|p| p.given_name == "Åsa"));
    assert!(
        snap.groups
            .iter()
            .all(|g| g.display_name.starts_with("Förskoleklass"))
    );
    assert!(summary.inputs.iter().all(|i| i.anomalies.is_empty()));
}

#[tokio::test]
async fn a_renamed_class_column_is_a_missing_column_not_empty_classes() {
    let dir = tempfile::tempdir().unwrap();
    let text = students(10)
        .join("\n")
        .replacen(";Klass;", ";Klassnamn;", 1)
        + "\n";
    write_files(dir.path(), text.as_bytes());
    let (_, _, summary) = read(dir.path(), &toml_text()).await.unwrap();
    let a = &shape(&summary.inputs, STUDENTS).anomalies;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].check, ReadCheck::MissingColumn);
    assert_eq!(a[0].location, "Elevinskrivningar.csv:1");
    assert!(a[0].message.contains("`Klass`"), "{}", a[0]);

    // Without a classes file the column is not mapped: nothing to report.
    let only_students =
        format!("kind = \"csv\"\nlayout = \"skolverket-template\"\nstudents = \"{STUDENTS}\"\n");
    let (_, _, summary) = read(dir.path(), &only_students).await.unwrap();
    assert!(shape(&summary.inputs, STUDENTS).anomalies.is_empty());

    // A typo in Ämnesgrupper, with a subject groups file configured.
    let text = students(10)
        .join("\n")
        .replacen(";Ämnesgrupper;", ";Ämnesgruper;", 1)
        + "\n";
    write_files(dir.path(), text.as_bytes());
    std::fs::write(
        dir.path().join("g.csv"),
        "Grupp-ID;Ämnesgrupp;Skolform;Provaktivitetsnamn;Skolenhetskod;Ta bort\n",
    )
    .unwrap();
    let (_, _, summary) = read(
        dir.path(),
        &format!("{}subject_groups = \"g.csv\"\n", toml_text()),
    )
    .await
    .unwrap();
    let a = &shape(&summary.inputs, STUDENTS).anomalies;
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(a[0].message.contains("`Ämnesgrupper`"), "{}", a[0]);
}

#[tokio::test]
async fn names_with_control_characters_are_rejected_by_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = students(6);
    lines[4] = lines[4].replace(";Elev3;", ";Elev\u{7}3;");
    lines[5] = lines[5].replace(";Ek;", ";E\u{1b}[31mk;");
    write_files(dir.path(), (lines.join("\n") + "\n").as_bytes());
    let (snap, rejects, _) = read(dir.path(), &toml_text()).await.unwrap();
    assert_eq!(snap.persons.len(), 4);
    let found: Vec<(&str, &str)> = rejects
        .iter()
        .filter(|r| r.severity == Severity::Rejected)
        .map(|r| (r.location.as_deref().unwrap(), r.field.as_deref().unwrap()))
        .collect();
    assert_eq!(
        found,
        [
            ("Elevinskrivningar.csv:5", "Förnamn"),
            ("Elevinskrivningar.csv:6", "Efternamn")
        ]
    );
    assert!(
        rejects[0].reason.contains("control character"),
        "{}",
        rejects[0].reason
    );
}

#[tokio::test]
async fn a_configured_flat_column_that_is_missing_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("persons.csv"),
        "id,Förnamn,family_name\na,Anna,Ek\n",
    )
    .unwrap();
    let text = "kind = \"csv\"\nlayout = \"flat\"\ndir = \".\"\n\
                [columns.persons]\ngiven_name = \"Förnamn\"\neppn = \"Inloggning\"\n";
    let (snap, _, summary) = read(dir.path(), text).await.unwrap();
    assert_eq!(snap.persons[0].given_name, "Anna");
    let s = shape(&summary.inputs, "persons.csv");
    assert_eq!(s.columns, ["id", "Förnamn", "family_name"]);
    assert_eq!(s.anomalies.len(), 1, "{:?}", s.anomalies);
    assert_eq!(s.anomalies[0].check, ReadCheck::MissingColumn);
    assert!(s.anomalies[0].message.contains("`Inloggning`"));
}

#[tokio::test]
async fn a_fifo_or_device_is_refused_as_a_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join(STUDENTS);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    std::fs::write(dir.path().join(CLASSES), classes_file()).unwrap();
    let err = read(dir.path(), &toml_text()).await.unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");

    let device = "kind = \"csv\"\nlayout = \"skolverket-template\"\nstudents = \"/dev/zero\"\n";
    let err = read(dir.path(), device).await.unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
