//! The CSV connector: every encoding/delimiter/line-ending/personnummer
//! variant of an export reads to the same entities, and dirty files give a
//! reject per bad row (file, line, column, masked value, reason) while
//! every clean row is read.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::read_all;
use skolsync_connectors::{ReadOptions, SourceConfig, build};
use skolsync_model::codes::GroupType;
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::EntityKind;
use skolsync_sandbox::generate::{
    self, CivicNoFormat, CsvEncoding, CsvLayout, CsvOptions, GenerateConfig,
};

const CLASSES: &str = "Klasser.csv";
const GROUPS: &str = "Ämnesgrupp & provaktiviteter.csv";
const STUDENTS: &str = "Elevinskrivningar.csv";
const STAFF: &str = "Personalstjänstgöringar.csv";

fn template_toml(extra: &str) -> String {
    format!(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nclasses = \"{CLASSES}\"\nsubject_groups = \"{GROUPS}\"\n\
         students = \"{STUDENTS}\"\nstaff = \"{STAFF}\"\n{extra}"
    )
}

async fn read_dir(dir: &Path, toml_text: &str) -> common::Read {
    let config: SourceConfig = toml::from_str(toml_text).unwrap();
    let source = build(&config, &skolsync_model::BuildContext::new(dir)).unwrap();
    read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_encoding_delimiter_and_personnummer_form_reads_the_same() {
    let m = generate::generate(&GenerateConfig {
        students: 150,
        seed: 3,
        ..GenerateConfig::default()
    });
    let base = tempfile::tempdir().unwrap();
    generate::export_csv(&m, base.path(), &CsvOptions::default()).unwrap();
    let (baseline, rejects, summary) = read_dir(base.path(), &template_toml("")).await;
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert!(summary.count(EntityKind::Person) > 150);
    assert!(summary.count(EntityKind::Group) > 5);
    assert!(summary.count(EntityKind::Activity) > 0);
    assert!(
        summary.watermark.is_none(),
        "files have no modification times"
    );

    let variants = [
        (b',', CsvEncoding::Utf8Bom, true, CivicNoFormat::Dashed),
        (b';', CsvEncoding::Windows1252, true, CivicNoFormat::Short),
        (
            b',',
            CsvEncoding::Windows1252,
            false,
            CivicNoFormat::Compact,
        ),
        (b';', CsvEncoding::Utf8Bom, false, CivicNoFormat::Short),
        (b',', CsvEncoding::Utf8, true, CivicNoFormat::Short),
    ];
    for (delimiter, encoding, crlf, civic_no_format) in variants {
        let dir = tempfile::tempdir().unwrap();
        let options = CsvOptions {
            layout: CsvLayout::Skolverket,
            delimiter,
            encoding,
            crlf,
            civic_no_format,
        };
        generate::export_csv(&m, dir.path(), &options).unwrap();
        let (snap, rejects, _) = read_dir(dir.path(), &template_toml("")).await;
        assert!(rejects.is_empty(), "{options:?}: {rejects:#?}");
        assert_eq!(snap, baseline, "{options:?} reads differently");
        // Configured instead of detected gives the same.
        let explicit = format!(
            "encoding = \"{}\"\ndelimiter = \"{}\"\n",
            if encoding == CsvEncoding::Windows1252 {
                "windows-1252"
            } else {
                "utf-8"
            },
            char::from(delimiter)
        );
        let (snap, _, _) = read_dir(dir.path(), &template_toml(&explicit)).await;
        assert_eq!(snap, baseline, "{options:?} configured");
    }

    // The flat layout in a Windows-1252, comma, CRLF variant holds the full source.
    let flat = tempfile::tempdir().unwrap();
    let options = CsvOptions {
        layout: CsvLayout::Flat,
        delimiter: b',',
        encoding: CsvEncoding::Windows1252,
        crlf: true,
        civic_no_format: CivicNoFormat::Short,
    };
    generate::export_csv(&m, flat.path(), &options).unwrap();
    let (snap, rejects, _) = read_dir(
        flat.path(),
        "kind = \"csv\"\nlayout = \"flat\"\ndir = \".\"\n",
    )
    .await;
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert_eq!(snap.persons.len(), m.source.persons.len());
    assert_eq!(
        snap.groups,
        m.source
            .groups
            .iter()
            .map(|g| {
                let mut g = g.clone();
                g.meta = Default::default();
                g
            })
            .collect::<Vec<_>>()
    );
}

/// Writes `text` as a UTF-8 file with BOM and CRLF line ends, as Excel does.
fn write_excel(dir: &Path, name: &str, text: &str) {
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(text.replace('\n', "\r\n").as_bytes());
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[tokio::test]
async fn dirty_template_rows_are_rejected_by_line_and_column_and_clean_rows_read() {
    let dir = tempfile::tempdir().unwrap();
    let header = "Person-ID;Federationsanvändarnamn;Personnummer;Sekretessmarkering;Förnamn;Mellannamn;Efternamn;\
                  E-postadress;Skolform;Skolenhetskod;Årskurs;Studievägskod;Klass;Ämnesgrupper;Ta bort;;";
    let students = [
        header,
        "p1;p1@edu.x;200901272385;Ingen;Anna;;Ek;;GR;31279295;6;;k1;g1,g2;;;", // 2 ok
        "p2;p2@edu.x;20090127-2386;;Bo;;Ek;;GR;31279295;6;;k1;;;;",            // 3 Luhn
        "p3;p3@edu.x;20090230-1233;;Cia;;Ek;;GR;31279295;6;;k1;;;;",           // 4 date
        ";p4@edu.x;200901272385;;Dan;;Ek;;GR;31279295;6;;k1;;;;",              // 5 no id
        "p5;p5@edu.x;091105-4567;;\"Eva\nMaria\";;Ek;;XX;31279295;6;;k1;;;;",  // 6-7 quote
        "p6;p6@edu.x;20100315-6781;;Fia;;Ek;;GR;31279295;sex;;k1;;;;",         // 8 Årskurs
        "p7;p7@edu.x;080808-0808;;Gun;;Ek;;GR;31279295;6;;k1;;;x;",            // 9 extra value
        "p8;p8@edu.x;121212+1212;;Hans;;Ek;;GY;31279295;;NAT;;;;;",            // 10 ok (100+)
        "p9;;;;;;;;;;;;;;Ja;;",                                                // 11 removal
        ";;;;;;;;;;;;;;;;",                                                    // 12 blank
        "p1;p1@edu.x;20090127-2385;Ingen;Anna;;Ek;;GR;22222222;6;;;;;;",       // 13 2nd enrolment
        "p10;x@edu.x;0911054567;Hemlig;Ida;;Ek;;GR;31279295;6;;k1;;;;",        // 14 marking
        "p11;p11@edu.x;20090187-3455;;Jan;;Ek;;GR;31279295;6;;k1;;;;", // 15 ok (samordningsnr)
    ];
    write_excel(dir.path(), STUDENTS, &(students.join("\n") + "\n"));
    write_excel(
        dir.path(),
        CLASSES,
        "Klass-ID;Klass;Skolform;Skolenhetskod;Ta bort\nk1;6A;GR;31279295;\nk2;6B;GR;31279295;Ja\n",
    );
    write_excel(
        dir.path(),
        GROUPS,
        "Grupp-ID;Ämnesgrupp;Skolform;Provaktivitetsnamn;Skolenhetskod;Ta bort\ng1;Ma 6A;GR;GRGRMAT01_6;31279295;\n",
    );
    let toml_text = format!(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nstudents = \"{STUDENTS}\"\nclasses = \"{CLASSES}\"\nsubject_groups = \"{GROUPS}\"\n"
    );
    let (snap, rejects, summary) = read_dir(dir.path(), &toml_text).await;

    let mut persons: Vec<&str> = snap.persons.iter().map(|p| p.id.as_str()).collect();
    persons.sort();
    assert_eq!(persons, ["p1", "p11", "p8"], "every clean row is read");
    let p1 = snap.persons.iter().find(|p| p.id.as_str() == "p1").unwrap();
    assert_eq!(p1.enrolments.len(), 2, "rows of one person merge");
    assert_eq!(p1.civic_no.as_ref().unwrap().value, "200901272385");
    let p8 = snap.persons.iter().find(|p| p.id.as_str() == "p8").unwrap();
    assert_eq!(p8.civic_no.as_ref().unwrap().value, "191212121212");
    assert_eq!(snap.deleted.persons, vec!["p9".into()]);
    assert_eq!(snap.deleted.groups, vec!["k2".into()]);

    let rejected: Vec<(u64, &str)> = rejects
        .iter()
        .filter(|r| r.severity == Severity::Rejected)
        .map(|r| {
            let loc = r.location.as_deref().unwrap();
            let line = loc.rsplit(':').next().unwrap().parse().unwrap();
            assert!(loc.starts_with(STUDENTS), "{loc}");
            (line, r.field.as_deref().unwrap_or(""))
        })
        .collect();
    assert_eq!(
        rejected,
        [
            (3, "Personnummer"),
            (4, "Personnummer"),
            (5, "Person-ID"),
            // A line break cannot belong in a name: the quote runs away,
            // its row is left out and the next line is read as a row.
            (6, "Förnamn"),
            (7, "Skolenhetskod"),
            (8, "Årskurs"),
            (9, ""),
            (14, "Sekretessmarkering"),
        ]
    );
    let luhn = &rejects[0];
    assert_eq!(luhn.value.as_deref(), Some("20090127-****"));
    assert!(luhn.reason.contains("check digit"), "{}", luhn.reason);
    assert!(rejects[1].reason.contains("date"), "{}", rejects[1].reason);
    for r in &rejects {
        let text = format!("{r} {r:?}");
        for secret in ["2386", "1233", "4567", "6781", "0808"] {
            assert!(!text.contains(&format!("-{secret}")), "unmasked: {text}");
        }
    }
    // The membership of a group not in the groups file is a warning.
    let warnings: Vec<_> = rejects
        .iter()
        .filter(|r| r.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].value.as_deref(), Some("g2"));
    assert_eq!(
        warnings[0].location.as_deref(),
        Some("Elevinskrivningar.csv:2")
    );
    assert_eq!((summary.rejected, summary.warnings), (8, 1));
    let students = summary
        .inputs
        .iter()
        .find(|i| i.name == STUDENTS)
        .expect("a shape per file");
    assert_eq!(students.columns.len(), 17);
    assert_eq!(students.anomalies.len(), 1, "{:?}", students.anomalies);
    assert_eq!(students.anomalies[0].location, "Elevinskrivningar.csv:6");

    let class = snap
        .groups
        .iter()
        .find(|g| g.group_type == GroupType::Klass)
        .unwrap();
    let mut members: Vec<&str> = class
        .group_memberships
        .iter()
        .map(|m| m.person.id.as_str())
        .collect();
    members.sort();
    // Rejected rows keep their memberships in the snapshot: a pupil the
    // service already holds is then kept stale and stays in the class (the
    // transform leaves out members that are not in the source).
    assert_eq!(members, ["p1", "p10", "p11", "p2", "p3", "p6"]);
    let activity = &snap.activities[0];
    assert_eq!(
        activity.parent_activity[0].id.as_str(),
        "b229977a-7bd3-58ad-b7a2-3fdc774840fd",
        "GRGRMAT01_6's Skolverket id"
    );
    let unit = snap
        .organisations
        .iter()
        .find(|o| o.school_unit_code.as_deref() == Some("31279295"))
        .unwrap();
    assert_eq!(unit.id.as_str(), "fb22448b-b724-5e53-8a2c-d8b339206901");
}

#[tokio::test]
async fn dirty_flat_rows_and_dangling_links_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("elever.csv"),
        "Id,Förnamn,Efternamn,Pnr\n\
         a,Anna,Ek,200901272385\n\
         b,Bo,Ek,20090127-2386\n\
         c,Cia,Ek,\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("enrolments.csv"),
        "person_id,school_unit_id,school_type,school_year\n\
         a,u1,GR,6\n\
         b,u1,GR,6\n\
         zz,u1,GR,6\n\
         c,u1,GR,sju\n",
    )
    .unwrap();
    let toml_text = "kind = \"csv\"\nlayout = \"flat\"\ndir = \".\"\n\
                     [files]\npersons = \"elever.csv\"\n\
                     [columns.persons]\nid = \"Id\"\ngiven_name = \"Förnamn\"\nfamily_name = \"Efternamn\"\ncivic_no = \"Pnr\"\n";
    let (snap, rejects, _) = read_dir(dir.path(), toml_text).await;
    let ids: Vec<&str> = snap.persons.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(snap.persons[0].enrolments.len(), 1);
    assert_eq!(snap.persons[0].given_name, "Anna");
    let found: Vec<(String, Option<String>)> = rejects
        .iter()
        .map(|r| (r.location.clone().unwrap(), r.field.clone()))
        .collect();
    assert_eq!(
        found,
        [
            (
                "enrolments.csv:5".to_string(),
                Some("school_year".to_string())
            ),
            ("elever.csv:3".to_string(), Some("Pnr".to_string())),
            (
                "enrolments.csv:4".to_string(),
                Some("person_id".to_string())
            ),
        ]
    );

    // A missing required column stops the read with the file named.
    std::fs::write(dir.path().join("elever.csv"), "Förnamn\nAnna\n").unwrap();
    let config: SourceConfig = toml::from_str(toml_text).unwrap();
    let err = read_all(
        build(&config, &skolsync_model::BuildContext::new(dir.path()))
            .unwrap()
            .as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("elever.csv") && err.contains("`Id`"), "{err}");
}

#[test]
fn a_flat_layout_names_its_missing_folder_or_named_files() {
    let dir = tempfile::tempdir().unwrap();
    let config: SourceConfig = toml::from_str(
        "kind = \"csv\"\nlayout = \"flat\"\ndir = \"export\"\n[files]\npersons = \"people.csv\"\n",
    )
    .unwrap();
    let source = build(&config, &skolsync_model::BuildContext::new(dir.path())).unwrap();
    let missing = source.missing_files();
    assert_eq!(
        missing,
        vec![("dir".to_string(), dir.path().join("export"))]
    );

    std::fs::create_dir(dir.path().join("export")).unwrap();
    let missing = source.missing_files();
    // Files left to their default names are optional; the named one is not.
    assert_eq!(
        missing,
        vec![(
            "files.persons".to_string(),
            dir.path().join("export/people.csv")
        )]
    );
    std::fs::write(dir.path().join("export/people.csv"), "id\n").unwrap();
    assert!(source.missing_files().is_empty());
}

#[test]
fn a_csv_source_lists_every_file_it_reads_in_a_stable_order() {
    let dir = tempfile::tempdir().unwrap();
    let flat: SourceConfig = toml::from_str(
        "kind = \"csv\"\nlayout = \"flat\"\ndir = \"export\"\n[files]\npersons = \"people.csv\"\n",
    )
    .unwrap();
    let source = build(&flat, &skolsync_model::BuildContext::new(dir.path())).unwrap();
    assert!(!source.reads_incrementally());
    let export = dir.path().join("export");
    // Named files count whether or not they are there (a read fails
    // without them); default-named ones when they are there.
    assert_eq!(source.input_files(), vec![export.join("people.csv")]);
    std::fs::create_dir(&export).unwrap();
    for name in ["groups.csv", "organisations.csv", "activity_teachers.csv"] {
        std::fs::write(export.join(name), "id\n").unwrap();
    }
    let files = source.input_files();
    assert_eq!(
        files,
        vec![
            export.join("organisations.csv"),
            export.join("people.csv"),
            export.join("groups.csv"),
            export.join("activity_teachers.csv"),
        ],
        "in the layout's fixed order"
    );
    assert_eq!(source.input_files(), files, "the same order every time");

    let template: SourceConfig = toml::from_str(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nstaff = \"in/personal.csv\"\nstudents = \"in/elever.csv\"\n",
    )
    .unwrap();
    let source = build(&template, &skolsync_model::BuildContext::new(dir.path())).unwrap();
    assert_eq!(
        source.input_files(),
        vec![
            dir.path().join("in/elever.csv"),
            dir.path().join("in/personal.csv")
        ]
    );
    assert!(source.subscriptions().is_none());
}

#[tokio::test]
async fn every_record_of_a_csv_read_knows_its_file_and_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let students = "Person-ID;Federationsanvändarnamn;Personnummer;Förnamn;Efternamn;Skolform;Skolenhetskod;Årskurs;Klass;Ämnesgrupper\n\
                    p1;p1@edu.x;20090127-2386;Anna;Ek;GR;31279295;6;k1;g1\n\
                    p1;p1@edu.x;200901272385;Anna;Ek;GR;31279295;6;k1;g1\n\
                    p2;p2@edu.x;20100315-6781;Bo;Ek;GR;31279295;6;k1;\n\
                    p1;p1@edu.x;200901272385;Anna;Ek;GR;22222222;6;;\n";
    write_excel(dir.path(), STUDENTS, students);
    write_excel(
        dir.path(),
        STAFF,
        "Person-ID;Tjänstgörings-ID;Personnummer;Förnamn;Efternamn;Federationsanvändarnamn;Skolenhetskod;Personalkategori;Ämnesgrupper\n\
         t1;d1;19121212-1212;Tea;Ek;t1@edu.x;31279295;Lärare;g1\n",
    );
    write_excel(
        dir.path(),
        CLASSES,
        "Klass-ID;Klass;Skolform;Skolenhetskod\nk1;6A;GR;31279295\n",
    );
    write_excel(
        dir.path(),
        GROUPS,
        "Grupp-ID;Ämnesgrupp;Skolform;Provaktivitetsnamn;Skolenhetskod\nx;x;;;\ng1;Ma 6A;GR;GRGRMAT01_6;31279295\n",
    );
    let (snap, rejects, _) = read_dir(dir.path(), &template_toml("")).await;
    assert_eq!(snap.persons.len(), 3, "{rejects:?}");
    assert_eq!(snap.activities.len(), 1, "{rejects:?}");
    let origin = |kind: EntityKind, id: &str| snap.origins.get(kind, id);
    let unit = |code: &str| {
        skolsync_model::ids::SchoolUnitCode::new(code)
            .skolverket_id()
            .to_string()
    };
    // p1's first row is rejected (check digit): the first row that made
    // the person is line 3, not the later enrolment on line 5.
    assert_eq!(
        origin(EntityKind::Person, "p1").as_deref(),
        Some("Elevinskrivningar.csv:3")
    );
    assert_eq!(
        origin(EntityKind::Person, "p2").as_deref(),
        Some("Elevinskrivningar.csv:4")
    );
    assert_eq!(
        origin(EntityKind::Person, "t1").as_deref(),
        Some("Personalstjänstgöringar.csv:2")
    );
    assert_eq!(
        origin(EntityKind::Duty, "d1").as_deref(),
        Some("Personalstjänstgöringar.csv:2")
    );
    assert_eq!(
        origin(EntityKind::Group, "k1").as_deref(),
        Some("Klasser.csv:2")
    );
    assert_eq!(
        origin(EntityKind::Group, "g1").as_deref(),
        Some("Ämnesgrupp & provaktiviteter.csv:3")
    );
    let activity = snap.activities[0].id.as_str();
    assert_eq!(
        origin(EntityKind::Activity, activity).as_deref(),
        Some("Ämnesgrupp & provaktiviteter.csv:3")
    );
    assert_eq!(
        origin(EntityKind::Organisation, &unit("22222222")).as_deref(),
        Some("Elevinskrivningar.csv:5")
    );
    assert_eq!(
        origin(EntityKind::Organisation, &unit("31279295")).as_deref(),
        Some("Elevinskrivningar.csv:3")
    );
    let entities: usize = EntityKind::ALL.iter().map(|k| snap.count(*k)).sum();
    assert_eq!(snap.origins.len(), entities, "every entity is located");

    // The flat layout locates its records the same way.
    let flat = tempfile::tempdir().unwrap();
    std::fs::write(
        flat.path().join("persons.csv"),
        "id,given_name,family_name,civic_no\nb,Bo,Ek,20090127-2386\na,Anna,Ek,200901272385\n",
    )
    .unwrap();
    let (snap, _, _) = read_dir(
        flat.path(),
        "kind = \"csv\"\nlayout = \"flat\"\ndir = \".\"\n",
    )
    .await;
    assert_eq!(
        snap.origins.get(EntityKind::Person, "a").as_deref(),
        Some("persons.csv:3")
    );
    assert_eq!(snap.origins.get(EntityKind::Person, "b"), None, "rejected");
}

#[tokio::test]
async fn api_sources_locate_records_by_endpoint_not_by_origin() {
    let sandbox = common::sandbox(50, |_| {}).await;
    let source = common::source(&common::educloud_toml(&sandbox, ""));
    let (snap, _, _) = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert!(!snap.persons.is_empty());
    assert!(snap.origins.is_empty());
}
