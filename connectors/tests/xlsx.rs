//! The workbook source: Skolverket's template as an Excel workbook reads to
//! the same entities as the same data in CSV files, and the dirt of
//! hand-filled workbooks (codes typed as numbers, stray spaces, the
//! example row, empty rows, hidden and renamed sheets, renamed columns,
//! error cells, broken files) is read through or named by sheet, row and
//! column — never a panic.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::read_all;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook};
use skolsync_connectors::{ReadCheck, ReadOptions, SourceConfig, SourceError, build};
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::{EntityKind, SourceId};
use skolsync_model::template::{
    CLASSES_HEADER, CLASSES_SHEET, EMAIL, STAFF_HEADER, STAFF_SHEET, STUDENTS_HEADER,
    STUDENTS_SHEET, SUBJECT_GROUPS_HEADER, SUBJECT_GROUPS_SHEET,
};

/// A cell as a hand-filled workbook holds it.
#[derive(Clone)]
enum C {
    /// Text.
    S(&'static str),
    /// A number.
    N(f64),
    /// A date.
    D(u16, u8, u8),
    /// A formula whose value is an error (`#N/A`).
    E(&'static str),
}

use C::{D, E, N, S};

/// A sheet to write: its name, whether hidden, its header and rows.
struct SheetSpec {
    name: &'static str,
    hidden: bool,
    header: Vec<&'static str>,
    rows: Vec<Vec<C>>,
}

fn sheet(name: &'static str, header: &[&'static str], rows: Vec<Vec<C>>) -> SheetSpec {
    SheetSpec {
        name,
        hidden: false,
        header: header.to_vec(),
        rows,
    }
}

/// Text rows of `cells`.
fn texts(rows: &[&[&'static str]]) -> Vec<Vec<C>> {
    rows.iter()
        .map(|r| r.iter().map(|c| S(c)).collect())
        .collect()
}

/// Writes a workbook at `path`: each sheet with the template's title rows
/// (a merged title, a note, an empty row) above its header when `titles`.
fn write_workbook(path: &Path, sheets: &[SheetSpec], titles: bool) {
    let mut book = Workbook::new();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    for spec in sheets {
        let ws = book.add_worksheet();
        ws.set_name(spec.name).unwrap();
        if spec.hidden {
            ws.set_hidden(true);
        }
        let mut row = 0;
        if titles {
            let last = u16::try_from(spec.header.len() - 1).unwrap();
            if last > 0 {
                ws.merge_range(0, 0, 0, last, spec.name, &Format::new().set_bold())
                    .unwrap();
            } else {
                ws.write_string(0, 0, spec.name).unwrap();
            }
            ws.write_string(1, 0, "Fyll i en rad per post. Ta bort exempelraden.")
                .unwrap();
            row = 3;
        }
        for (col, name) in spec.header.iter().enumerate() {
            ws.write_string(row, u16::try_from(col).unwrap(), *name)
                .unwrap();
        }
        for cells in &spec.rows {
            row += 1;
            for (col, cell) in cells.iter().enumerate() {
                let col = u16::try_from(col).unwrap();
                match cell {
                    S("") => {}
                    S(s) => {
                        ws.write_string(row, col, *s).unwrap();
                    }
                    N(n) => {
                        ws.write_number(row, col, *n).unwrap();
                    }
                    D(y, m, d) => {
                        let day = ExcelDateTime::from_ymd(*y, *m, *d).unwrap();
                        ws.write_datetime_with_format(row, col, day, &date).unwrap();
                    }
                    E(e) => {
                        ws.write_formula(row, col, Formula::new("=NA()").set_result(*e))
                            .unwrap();
                    }
                }
            }
        }
    }
    book.save(path).unwrap();
}

/// The template's four sheets of one small school, as text.
fn template_sheets() -> Vec<SheetSpec> {
    vec![
        sheet(
            CLASSES_SHEET,
            &CLASSES_HEADER,
            texts(&[
                &["k1", "7A", "GR", "31279295", ""],
                &["k2", "8B", "GR", "01279295", ""],
            ]),
        ),
        sheet(
            SUBJECT_GROUPS_SHEET,
            &SUBJECT_GROUPS_HEADER,
            texts(&[&["g1", "Matematik 6A", "GR", "GRGRMAT01_6", "31279295", ""]]),
        ),
        sheet(
            STUDENTS_SHEET,
            &STUDENTS_HEADER,
            texts(&[
                &[
                    "p1",
                    "p1@edu.x",
                    "200901272385",
                    "",
                    "Anna",
                    "",
                    "Ek",
                    "anna@x.se",
                    "GR",
                    "31279295",
                    "6",
                    "",
                    "k1",
                    "g1",
                    "",
                ],
                &[
                    "p2",
                    "p2@edu.x",
                    "0805052388",
                    "",
                    "Bo",
                    "",
                    "Berg",
                    "",
                    "GR",
                    "01279295",
                    "7",
                    "",
                    "k2",
                    "",
                    "",
                ],
                &[
                    "p3",
                    "p3@edu.x",
                    "201003156781",
                    "",
                    "Cia",
                    "",
                    "Dahl",
                    "",
                    "GR",
                    "31279295",
                    "6",
                    "",
                    "k1",
                    "g1",
                    "",
                ],
            ]),
        ),
        sheet(
            STAFF_SHEET,
            &STAFF_HEADER,
            texts(&[&[
                "d1",
                "t1",
                "t1@edu.x",
                "",
                "191212121212",
                "",
                "Tea",
                "",
                "Lind",
                "tea@x.se",
                "31279295",
                "Lärare",
                "g1",
                "",
            ]]),
        ),
    ]
}

/// Writes `sheets` as the template's CSV files (`;`, UTF-8) into `dir`.
fn write_csv(dir: &Path, sheets: &[SheetSpec]) {
    for spec in sheets {
        let mut text = spec.header.join(";") + "\n";
        for row in &spec.rows {
            let cells: Vec<&str> = row
                .iter()
                .map(|c| match c {
                    S(s) => *s,
                    _ => panic!("CSV cells are text"),
                })
                .collect();
            text += &(cells.join(";") + "\n");
        }
        std::fs::write(dir.join(format!("{}.csv", spec.name)), text).unwrap();
    }
}

fn xlsx_toml(extra: &str) -> String {
    format!(
        "kind = \"xlsx\"\nlayout = \"skolverket-template\"\nworkbook = \"data/Överföring.xlsx\"\n{extra}"
    )
}

fn workbook_path(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    data.join("Överföring.xlsx")
}

async fn read(dir: &Path, toml_text: &str) -> Result<common::Read, SourceError> {
    let config: SourceConfig = toml::from_str(toml_text).unwrap();
    let source = build(&config, &skolsync_model::BuildContext::new(dir)).unwrap();
    read_all(source.as_ref(), ReadOptions::default()).await
}

#[tokio::test]
async fn a_clean_template_workbook_reads_as_the_same_data_in_csv_files() {
    let csv = tempfile::tempdir().unwrap();
    write_csv(csv.path(), &template_sheets());
    let csv_toml = format!(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nclasses = \"{CLASSES_SHEET}.csv\"\n\
         subject_groups = \"{SUBJECT_GROUPS_SHEET}.csv\"\nstudents = \"{STUDENTS_SHEET}.csv\"\n\
         staff = \"{STAFF_SHEET}.csv\"\n"
    );
    let (mut from_csv, rejects, _) = read(csv.path(), &csv_toml).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:#?}");

    let dir = tempfile::tempdir().unwrap();
    write_workbook(&workbook_path(dir.path()), &template_sheets(), true);
    let (mut from_xlsx, rejects, summary) = read(dir.path(), &xlsx_toml("")).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert_eq!(from_xlsx.persons.len(), 4);
    assert_eq!(from_xlsx.groups.len(), 3);
    assert_eq!(from_xlsx.activities.len(), 1);
    assert!(summary.watermark.is_none());

    // Locations are the sheet and Excel's row: title rows 1–3, header 4.
    assert_eq!(
        from_xlsx.origins.get(EntityKind::Person, "p2").as_deref(),
        Some("Elevinskrivningar:6")
    );
    let students = summary
        .inputs
        .iter()
        .find(|i| i.name == STUDENTS_SHEET)
        .unwrap();
    assert_eq!(students.records, 3);
    assert_eq!(students.columns, STUDENTS_HEADER);
    assert!(students.anomalies.is_empty(), "{:?}", students.anomalies);

    from_csv.origins = Default::default();
    from_xlsx.origins = Default::default();
    assert_eq!(from_xlsx, from_csv, "the workbook reads as the CSV files");
}

/// The students sheet as a hand-filled one: the example row left in,
/// codes and personnummer typed as numbers, stray spaces, an empty row,
/// `E-postadress` renamed `E-post`.
fn dirty_students() -> SheetSpec {
    let header: Vec<&'static str> = STUDENTS_HEADER
        .iter()
        .map(|h| if *h == EMAIL { "E-post" } else { *h })
        .collect();
    let row = |id, civic: C, given, unit: C, year: C| {
        vec![
            S(id),
            S(""),
            civic,
            S(""),
            S(given),
            S(""),
            S("Ek"),
            S("  anna@x.se "),
            S(" GR "),
            unit,
            year,
            S(""),
            S("k1"),
            S(""),
            S(""),
        ]
    };
    SheetSpec {
        // Another case than the template's: matched case-insensitively.
        name: "elevinskrivningar",
        hidden: false,
        header,
        rows: vec![
            row(
                "Exempel: p0",
                S("191212121212"),
                "Exempel",
                S("12345678"),
                S("6"),
            ),
            row("  p1 ", N(805_052_388.0), " Anna  ", N(1_279_295.0), N(6.0)),
            vec![S("")],
            row("p2", N(201_003_156_781.0), "Bo", S("31279295"), S("7")),
            row("p3", N(1.2345e11), "Cia", N(123_456_789.0), S("7")),
        ],
    }
}

#[tokio::test]
async fn a_hand_filled_workbook_reads_through_its_dirt() {
    let dir = tempfile::tempdir().unwrap();
    let mut sheets = template_sheets();
    sheets[2] = dirty_students();
    // A hidden template sheet is read; a hidden extra sheet is not.
    sheets[1].hidden = true;
    sheets.push(SheetSpec {
        name: "Listor",
        hidden: true,
        header: vec!["Skolform"],
        rows: texts(&[&["GR"], &["GY"]]),
    });
    // An error cell in the staff sheet.
    sheets[3].rows.push(vec![
        S("d2"),
        S("t2"),
        S(""),
        S(""),
        S("191212121212"),
        S(""),
        S("Ture"),
        S(""),
        S("Lind"),
        S(""),
        N(31_279_295.0),
        E("#N/A"),
    ]);
    write_workbook(&workbook_path(dir.path()), &sheets, true);

    let (snap, rejects, summary) = read(
        dir.path(),
        &xlsx_toml("[columns]\n\"E-postadress\" = \"E-post\"\n"),
    )
    .await
    .unwrap();

    let p1 = snap.persons.iter().find(|p| p.id.as_str() == "p1").unwrap();
    assert_eq!(p1.given_name, "Anna", "trimmed");
    assert_eq!(
        p1.civic_no.as_ref().unwrap().value,
        "200805052388",
        "the number 805052388 is 0805052388 again"
    );
    assert_eq!(
        p1.emails[0].value, "anna@x.se",
        "read from the renamed column"
    );
    assert_eq!(p1.enrolments[0].school_year, Some(6));
    assert!(
        snap.organisations
            .iter()
            .any(|o| o.school_unit_code.as_deref() == Some("01279295")),
        "the unit code 1279295 is 01279295 again: {:?}",
        snap.organisations
    );
    let p2 = snap.persons.iter().find(|p| p.id.as_str() == "p2").unwrap();
    assert_eq!(p2.civic_no.as_ref().unwrap().value, "201003156781");
    assert!(snap.persons.iter().all(|p| p.given_name != "Exempel"));
    // The hidden subject groups sheet was read.
    assert!(snap.groups.iter().any(|g| g.id.as_str() == "g1"));
    let k1 = snap.groups.iter().find(|g| g.id.as_str() == "k1").unwrap();
    assert!(
        k1.group_memberships
            .iter()
            .any(|m| m.person.id == SourceId::new("p1"))
    );

    let at = |location: &str| {
        rejects
            .iter()
            .find(|r| r.location.as_deref() == Some(location))
            .unwrap_or_else(|| panic!("no reject at {location}: {rejects:#?}"))
    };
    // Title rows 1–3, header 4: the example row is 5, p3 is 9.
    let example = at("elevinskrivningar:5");
    assert_eq!(example.severity, Severity::Warning);
    assert!(example.reason.contains("example"), "{}", example.reason);
    let p3 = at("elevinskrivningar:9");
    assert_eq!(p3.severity, Severity::Rejected);
    assert_eq!(p3.field.as_deref(), Some("Skolenhetskod"));
    assert!(p3.reason.contains("9 digits"), "{}", p3.reason);
    let error_cell = at("Personalstjänstgöringar:6");
    assert_eq!(error_cell.field.as_deref(), Some("Personalkategori"));
    assert!(
        error_cell.reason.contains("#N/A") && error_cell.reason.contains("column L"),
        "{}",
        error_cell.reason
    );
    assert_eq!(rejects.len(), 3, "{rejects:#?}");

    let students = summary
        .inputs
        .iter()
        .find(|i| i.name == "elevinskrivningar")
        .unwrap();
    assert_eq!(students.records, 3, "neither the empty nor the example row");
    assert!(students.anomalies.is_empty(), "{:?}", students.anomalies);
    assert!(summary.inputs.iter().all(|i| i.name != "Listor"));
}

#[tokio::test]
async fn a_renamed_column_or_sheet_is_named_with_what_the_workbook_has() {
    // A required column renamed and not mapped.
    let dir = tempfile::tempdir().unwrap();
    let mut sheets = template_sheets();
    sheets[2].header[2] = "Personnr";
    write_workbook(&workbook_path(dir.path()), &sheets, true);
    let err = read(dir.path(), &xlsx_toml(""))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Överföring.xlsx")
            && err.contains("sheet `Elevinskrivningar`")
            && err.contains("`Personnummer`")
            && err.contains("`Personnr`"),
        "{err}"
    );
    // Mapped, it reads.
    let (snap, rejects, _) = read(
        dir.path(),
        &xlsx_toml("[columns]\n\"Personnummer\" = \"Personnr\"\n"),
    )
    .await
    .unwrap();
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert_eq!(snap.persons.len(), 4);

    // An expected column missing is a read check at the header's row.
    let dir = tempfile::tempdir().unwrap();
    let mut sheets = template_sheets();
    sheets[2].header[4] = "Tilltalsnamn";
    write_workbook(&workbook_path(dir.path()), &sheets, true);
    let (_, _, summary) = read(dir.path(), &xlsx_toml("")).await.unwrap();
    let students = summary
        .inputs
        .iter()
        .find(|i| i.name == STUDENTS_SHEET)
        .unwrap();
    assert_eq!(students.anomalies.len(), 1, "{:?}", students.anomalies);
    assert_eq!(students.anomalies[0].check, ReadCheck::MissingColumn);
    assert_eq!(students.anomalies[0].location, "Elevinskrivningar:4");

    // A sheet renamed: the error names the sheet wanted, its key and the
    // workbook's sheets.
    let dir = tempfile::tempdir().unwrap();
    let mut sheets = template_sheets();
    sheets[3].name = "Personal";
    write_workbook(&workbook_path(dir.path()), &sheets, false);
    let err = read(dir.path(), &xlsx_toml(""))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`Personalstjänstgöringar`")
            && err.contains("source.sheets.staff")
            && err.contains("`Personal`")
            && err.contains("`Klasser`"),
        "{err}"
    );
    let (snap, _, _) = read(dir.path(), &xlsx_toml("[sheets]\nstaff = \"personal\"\n"))
        .await
        .unwrap();
    assert_eq!(snap.duties.len(), 1);
}

#[tokio::test]
async fn a_broken_workbook_is_an_error_naming_it_never_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook_path(dir.path());
    write_workbook(&path, &template_sheets(), true);
    let whole = std::fs::read(&path).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "cut off",
            whole[..whole.len() / 2].to_vec(),
            "not a readable workbook",
        ),
        (
            "not a workbook",
            b"Person-ID;Personnummer\n".to_vec(),
            "not a readable workbook",
        ),
        (
            "encrypted",
            [
                &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
                &[0u8; 600][..],
            ]
            .concat(),
            "password-protected",
        ),
    ];
    for (what, bytes, says) in cases {
        std::fs::write(&path, bytes).unwrap();
        let err = read(dir.path(), &xlsx_toml("")).await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, SourceError::File { .. })
                && text.contains("Överföring.xlsx")
                && text.contains(says),
            "{what}: {text}"
        );
    }
}

#[tokio::test]
async fn the_flat_layout_reads_a_workbook_with_a_sheet_per_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = workbook_path(dir.path());
    let sheets = vec![
        sheet(
            "organisations",
            &[
                "id",
                "organisation_type",
                "display_name",
                "school_unit_code",
            ],
            vec![vec![
                S("u1"),
                S("Skolenhet"),
                S("Norrskolan"),
                N(1_279_295.0),
            ]],
        ),
        sheet(
            "Personer",
            &["id", "Förnamn", "family_name", "civic_no"],
            vec![
                vec![S("p1"), S(" Anna "), S("Ek"), N(901_272_385.0)],
                vec![S("")],
                vec![S("p2"), S("Bo"), S("Berg"), S("20100315-6781")],
            ],
        ),
        sheet(
            "enrolments",
            &["person_id", "school_unit_id", "school_type", "start_date"],
            vec![vec![S("p1"), S("u1"), S("GR"), D(2025, 8, 18)]],
        ),
    ];
    write_workbook(&path, &sheets, false);
    let flat = "kind = \"xlsx\"\nlayout = \"flat\"\nworkbook = \"data/Överföring.xlsx\"\n\
                [sheets]\npersons = \"personer\"\n[columns.persons]\ngiven_name = \"Förnamn\"\n";
    let (snap, rejects, summary) = read(dir.path(), flat).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert_eq!(
        snap.organisations[0].school_unit_code.as_deref(),
        Some("01279295")
    );
    assert_eq!(snap.persons.len(), 2);
    let p1 = snap.persons.iter().find(|p| p.id.as_str() == "p1").unwrap();
    assert_eq!(p1.given_name, "Anna");
    assert_eq!(p1.civic_no.as_ref().unwrap().value, "200901272385");
    assert_eq!(
        p1.enrolments[0].start_date,
        chrono::NaiveDate::from_ymd_opt(2025, 8, 18),
        "a date cell reads as its day"
    );
    assert_eq!(
        snap.origins.get(EntityKind::Person, "p2").as_deref(),
        Some("Personer:4")
    );
    let names: Vec<&str> = summary.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["organisations", "enrolments", "Personer"]);

    // A sheet named in the pipeline must be there.
    let named = flat.replace(
        "persons = \"personer\"",
        "persons = \"personer\"\ngroups = \"Grupper\"",
    );
    let err = read(dir.path(), &named).await.unwrap_err().to_string();
    assert!(
        err.contains("`Grupper` (source.sheets.groups)") && err.contains("`Personer`"),
        "{err}"
    );
}

#[test]
fn a_workbook_source_names_the_workbook_as_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let config: SourceConfig = toml::from_str(&xlsx_toml("")).unwrap();
    let source = build(&config, &skolsync_model::BuildContext::new(dir.path())).unwrap();
    let path = dir.path().join("data/Överföring.xlsx");
    assert_eq!(source.input_files(), vec![path.clone()]);
    assert_eq!(
        source.missing_files(),
        vec![("workbook".to_string(), path.clone())]
    );
    assert!(!source.reads_incrementally());
    assert!(source.describe().contains("xlsx"), "{}", source.describe());
    write_workbook(&workbook_path(dir.path()), &template_sheets(), false);
    assert!(source.missing_files().is_empty());
    assert_eq!(source.input_files(), vec![path]);

    // Every problem of the section at once.
    let config: SourceConfig = toml::from_str(
        "kind = \"xlsx\"\nlayout = \"skolverket-template\"\nworkbook = \"\"\n[sheets]\nstaff = \" \"\n[columns]\nEpost = \"E-post\"\n",
    )
    .unwrap();
    let err = build(&config, &skolsync_model::BuildContext::new(dir.path()))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("workbook") && err.contains("sheets.staff") && err.contains("Epost"),
        "{err}"
    );
}
