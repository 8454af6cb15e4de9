//! The template workbook export: read back with calamine, it holds the
//! CSV template export's rows, clean as the template or dirty as schools
//! fill it by hand, in the same bytes every time, written privately and
//! never over a file by accident.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use calamine::{Data, Reader, SheetVisible, Xlsx, open_workbook};
use skolsync_model::template::{
    CIVIC_NO, CLASSES_HEADER, EMAIL, EXAMPLE_MARKER, GIVEN_NAME, SCHOOL_UNIT_CODE, SHEETS,
    STAFF_HEADER, STUDENTS_HEADER, STUDENTS_SHEET, SUBJECT_GROUPS_HEADER,
};
use skolsync_sandbox::generate::xlsx_export::{
    DIRTY_EMAIL_HEADER, VALUE_LIST_SHEET, WORKBOOK_HEADER_ROW,
};
use skolsync_sandbox::generate::{
    CsvOptions, GenerateConfig, Municipality, WorkbookDirt, WorkbookExportError, WorkbookOptions,
    export_csv, export_template_workbook, generate, template_workbook,
};

const HEADERS: [&[&str]; 4] = [
    &CLASSES_HEADER,
    &SUBJECT_GROUPS_HEADER,
    &STUDENTS_HEADER,
    &STAFF_HEADER,
];

fn municipality(students: usize, seed: u64) -> Municipality {
    generate(&GenerateConfig {
        students,
        seed,
        ..GenerateConfig::default()
    })
}

/// The CSV template export's rows, sheet by sheet in `SHEETS` order.
fn csv_rows(m: &Municipality, dir: &Path) -> Vec<Vec<Vec<String>>> {
    let files = export_csv(m, dir, &CsvOptions::default()).unwrap();
    assert_eq!(files.len(), SHEETS.len());
    SHEETS
        .iter()
        .map(|sheet| {
            let path = dir.join(format!("{sheet}.csv"));
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(b';')
                .from_path(&path)
                .unwrap();
            reader
                .records()
                .map(|r| r.unwrap().iter().map(String::from).collect())
                .collect()
        })
        .collect()
}

fn open(path: &Path) -> Xlsx<std::io::BufReader<std::fs::File>> {
    open_workbook(path).unwrap()
}

/// Row `row` of `range` as `width` cells (absolute positions).
fn row(range: &calamine::Range<Data>, row: u32, width: usize) -> Vec<Data> {
    (0..width)
        .map(|c| {
            range
                .get_value((row, u32::try_from(c).unwrap()))
                .cloned()
                .unwrap_or(Data::Empty)
        })
        .collect()
}

/// What a cell means: text trimmed, whole numbers as their digits.
fn meaning(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.trim().to_string(),
        Data::Float(f) if f.fract() == 0.0 => format!("{f:.0}"),
        Data::Int(i) => i.to_string(),
        other => panic!("unexpected cell {other:?}"),
    }
}

fn last_row(range: &calamine::Range<Data>) -> u32 {
    range.end().unwrap().0
}

#[test]
fn clean_workbook_is_the_template_holding_every_csv_row_as_text() {
    let mut m = municipality(500, 31);
    // A school unit code with a leading zero must keep it.
    let unit = m
        .source
        .organisations
        .iter_mut()
        .find(|o| o.school_unit_code.is_some())
        .unwrap();
    unit.school_unit_code = Some("01234567".to_string());
    let tmp = tempdir();
    let expected = csv_rows(&m, &tmp.join("csv"));
    let path =
        export_template_workbook(&m, &tmp.join("mall.xlsx"), &WorkbookOptions::default()).unwrap();

    let mut book = open(&path);
    assert_eq!(book.sheet_names(), SHEETS.map(String::from).to_vec());
    assert!(
        book.sheets_metadata()
            .iter()
            .all(|s| s.visible == SheetVisible::Visible)
    );
    let mut zero_kept = false;
    for ((sheet, header), rows) in SHEETS.iter().zip(HEADERS).zip(&expected) {
        let range = book.worksheet_range(sheet).unwrap();
        let width = header.len();
        // Title, merged over the columns, and the instruction above the header.
        let merged = book.merge_cells_by_sheet_name(sheet).unwrap();
        assert!(
            merged
                .iter()
                .any(|d| d.start == (0, 0) && d.end == (0, u32::try_from(width - 1).unwrap())),
            "{sheet}: title merged over the columns, got {merged:?}"
        );
        assert!(matches!(range.get_value((0, 0)), Some(Data::String(t)) if t.contains(sheet)));
        assert!(matches!(
            range.get_value((WORKBOOK_HEADER_ROW - 1, 0)),
            Some(Data::String(t)) if !t.is_empty()
        ));
        let got_header = row(&range, WORKBOOK_HEADER_ROW, width);
        assert_eq!(
            got_header,
            header
                .iter()
                .map(|h| Data::String((*h).to_string()))
                .collect::<Vec<_>>(),
            "{sheet} header"
        );
        assert!(!rows.is_empty(), "{sheet} has rows");
        assert_eq!(
            last_row(&range),
            WORKBOOK_HEADER_ROW + u32::try_from(rows.len()).unwrap()
        );
        for (i, want) in rows.iter().enumerate() {
            let got = row(
                &range,
                WORKBOOK_HEADER_ROW + 1 + u32::try_from(i).unwrap(),
                width,
            );
            let text: Vec<String> = got
                .iter()
                .map(|c| match c {
                    Data::Empty => String::new(),
                    Data::String(s) => s.clone(),
                    other => panic!("{sheet} row {i}: a clean cell is text, got {other:?}"),
                })
                .collect();
            assert_eq!(&text, want, "{sheet} row {i}");
            zero_kept |= text.iter().any(|t| t == "01234567");
        }
        // Codes and personnummer are text cells (checked above for every
        // cell); make sure the sheets have them at all.
        for column in [SCHOOL_UNIT_CODE, CIVIC_NO] {
            if let Some(c) = header.iter().position(|h| *h == column) {
                assert!(rows.iter().all(|r| !r[c].is_empty()), "{sheet} {column}");
            }
        }
    }
    assert!(zero_kept, "the code 01234567 keeps its leading zero");
}

#[test]
fn dirty_workbook_is_hand_filled_but_holds_the_same_rows() {
    let m = municipality(500, 32);
    let tmp = tempdir();
    let expected = csv_rows(&m, &tmp.join("csv"));
    let options = WorkbookOptions {
        dirt: WorkbookDirt::Dirty,
        ..WorkbookOptions::default()
    };
    let path = export_template_workbook(&m, &tmp.join("ifylld.xlsx"), &options).unwrap();

    let mut book = open(&path);
    let mut names = SHEETS.map(String::from).to_vec();
    names.push(VALUE_LIST_SHEET.to_string());
    assert_eq!(book.sheet_names(), names);
    let hidden: Vec<&str> = book
        .sheets_metadata()
        .iter()
        .filter(|s| s.visible != SheetVisible::Visible)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(hidden, [VALUE_LIST_SHEET]);

    for ((sheet, header), rows) in SHEETS.iter().zip(HEADERS).zip(&expected) {
        let range = book.worksheet_range(sheet).unwrap();
        let width = header.len();
        let want_header: Vec<Data> = header
            .iter()
            .map(|h| {
                let h = if *sheet == STUDENTS_SHEET && *h == EMAIL {
                    DIRTY_EMAIL_HEADER
                } else {
                    h
                };
                Data::String(h.to_string())
            })
            .collect();
        assert_eq!(row(&range, WORKBOOK_HEADER_ROW, width), want_header);

        // The example row right under the header.
        let example = row(&range, WORKBOOK_HEADER_ROW + 1, width);
        assert!(
            matches!(&example[0], Data::String(s) if s.starts_with(EXAMPLE_MARKER)),
            "{sheet}: example row, got {example:?}"
        );

        // The data: the CSV rows, once trimmed and read as digits, with an
        // empty row between two of them.
        let mut data = Vec::new();
        let mut empty_at = Vec::new();
        for r in WORKBOOK_HEADER_ROW + 2..=last_row(&range) {
            let cells = row(&range, r, width);
            if cells.iter().all(|c| *c == Data::Empty) {
                empty_at.push(data.len());
            } else {
                data.push(cells);
            }
        }
        assert_eq!(
            data.len(),
            rows.len(),
            "{sheet}: as many data rows as the CSV"
        );
        assert_eq!(empty_at.len(), 1, "{sheet}: one empty row");
        assert!(
            empty_at[0] > 0 && empty_at[0] < data.len(),
            "{sheet}: between data rows"
        );
        let meant: Vec<Vec<String>> = data
            .iter()
            .map(|r| r.iter().map(meaning).collect())
            .collect();
        assert_eq!(&meant, rows, "{sheet}");

        // Codes and personnummer are numbers; some text has stray spaces.
        let numbers = |column: &str| {
            let c = header.iter().position(|h| *h == column).unwrap();
            data.iter()
                .filter(|r| matches!(r[c], Data::Float(_)))
                .count()
        };
        assert!(numbers(SCHOOL_UNIT_CODE) > data.len() / 2, "{sheet}");
        if header.contains(&CIVIC_NO) {
            assert!(numbers(CIVIC_NO) > data.len() / 2, "{sheet}");
        }
        let spaced = data
            .iter()
            .flatten()
            .filter(|c| matches!(c, Data::String(s) if s.trim() != s))
            .count();
        assert!(spaced > 0, "{sheet}: stray spaces");
        if let Some(c) = header.iter().position(|h| *h == GIVEN_NAME) {
            assert!(
                data.iter()
                    .any(|r| matches!(&r[c], Data::String(s) if s.starts_with(' ')))
            );
        }
    }

    let lists = book.worksheet_range(VALUE_LIST_SHEET).unwrap();
    let values: Vec<String> = lists.rows().flatten().map(meaning).collect();
    for v in ["GR", "GY", "Ingen", "Lärare", "Ja"] {
        assert!(values.iter().any(|x| x == v), "value list holds {v}");
    }
}

#[test]
fn same_municipality_and_options_give_the_same_bytes() {
    let m = municipality(200, 33);
    let tmp = tempdir();
    for dirt in [WorkbookDirt::Clean, WorkbookDirt::Dirty] {
        let options = WorkbookOptions {
            dirt,
            ..WorkbookOptions::default()
        };
        let a =
            export_template_workbook(&m, &tmp.join(format!("{dirt:?}-a.xlsx")), &options).unwrap();
        let b =
            export_template_workbook(&m, &tmp.join(format!("{dirt:?}-b.xlsx")), &options).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap(), "{dirt:?}");
        assert_eq!(bytes, template_workbook(&m, &options).unwrap());
    }
    let clean = template_workbook(&m, &WorkbookOptions::default()).unwrap();
    let other = template_workbook(&municipality(200, 34), &WorkbookOptions::default()).unwrap();
    assert_ne!(clean, other, "another municipality, another workbook");
}

#[test]
fn an_existing_file_is_kept_unless_overwrite_and_the_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let m = municipality(100, 35);
    let tmp = tempdir();
    let path = tmp.join("sub").join("mall.xlsx");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"not a workbook").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

    let err = export_template_workbook(&m, &path, &WorkbookOptions::default()).unwrap_err();
    assert!(
        matches!(&err, WorkbookExportError::Exists { path: p } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("mall.xlsx"));
    assert_eq!(std::fs::read(&path).unwrap(), b"not a workbook");

    let options = WorkbookOptions {
        overwrite: true,
        ..WorkbookOptions::default()
    };
    export_template_workbook(&m, &path, &options).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        template_workbook(&m, &options).unwrap()
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "a replaced file becomes private");

    let fresh = tmp.join("new").join("mall.xlsx");
    export_template_workbook(&m, &fresh, &WorkbookOptions::default()).unwrap();
    assert_eq!(mode(&fresh), 0o600);
}

/// A fresh directory under the temp dir, unique per test.
fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "skolsync-workbook-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
