//! The hand-filled workbook's dirt: cells typed as numbers, stray spaces,
//! the template's example row left in, an empty row, a renamed column and
//! a hidden value-list sheet (see the parent module for the list).
//!
//! Every change keeps the row's meaning: a reader that trims text, reads
//! whole numbers as their digits, skips the example and empty rows and
//! maps [`DIRTY_EMAIL_HEADER`] gets the clean workbook's rows back.

use rust_xlsxwriter::{Format, Worksheet, XlsxError};
use skolsync_model::codes::{DutyRole, SchoolType, SecurityMarking};
use skolsync_model::template::{
    CIVIC_NO, CLASS, CLASS_ID, DUTY_ID, DUTY_ROLE, EDUCATION_CODE, EMAIL, EPPN, EXAMPLE_MARKER,
    FAMILY_NAME, GIVEN_NAME, GROUP_ID, MIDDLE_NAME, PERSON_ID, REMOVE, REMOVE_YES, SCHOOL_TYPE,
    SCHOOL_UNIT_CODE, SCHOOL_YEAR, SECURITY_MARKING, STUDENTS_SHEET, SUBJECT_GROUP, SUBJECT_GROUPS,
    TEST_ACTIVITY,
};

use super::sheets::{col, width};

/// The header the dirty workbook gives `E-postadress` on
/// *Elevinskrivningar*: a column a school renamed, which a pipeline maps
/// back to `template::EMAIL`.
pub const DIRTY_EMAIL_HEADER: &str = "E-post";

/// The hidden sheet of value lists after the four template sheets of the
/// dirty workbook.
pub const VALUE_LIST_SHEET: &str = "Värdelistor";

/// Every this many data rows, starting with the second (index 1), one has
/// stray spaces around its names and codes.
pub const SPACED_ROW_EVERY: usize = 6;

/// One cell of a sheet.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Cell {
    /// A text cell (nothing is written for an empty one).
    Text(String),
    /// A number cell.
    Number(f64),
}

/// The dirty workbook's header of `sheet`.
pub(super) fn header(sheet: &str, header: &[&'static str]) -> Vec<&'static str> {
    header
        .iter()
        .map(|h| {
            if sheet == STUDENTS_SHEET && *h == EMAIL {
                DIRTY_EMAIL_HEADER
            } else {
                *h
            }
        })
        .collect()
}

/// The rows below the header of a hand-filled sheet: the example row, then
/// `rows` with an empty row (no cells) in the middle when there are two or
/// more.
pub(super) fn hand_filled(header: &[&str], rows: &[Vec<String>]) -> Vec<Vec<Cell>> {
    let middle = (rows.len() >= 2).then_some(rows.len() / 2);
    let mut out = Vec::with_capacity(rows.len() + 2);
    out.push(example_row(header));
    for (i, row) in rows.iter().enumerate() {
        if Some(i) == middle {
            out.push(Vec::new());
        }
        let spaced = i % SPACED_ROW_EVERY == 1;
        out.push(
            header
                .iter()
                .zip(row)
                .map(|(column, value)| cell(column, value, spaced))
                .collect(),
        );
    }
    out
}

/// How a school's hand typed `value` of `column` lands in the cell.
fn cell(column: &str, value: &str, spaced: bool) -> Cell {
    let padded = matches!(
        column,
        GIVEN_NAME
            | MIDDLE_NAME
            | FAMILY_NAME
            | CLASS
            | SUBJECT_GROUP
            | SCHOOL_TYPE
            | SCHOOL_UNIT_CODE
            | EDUCATION_CODE
            | TEST_ACTIVITY
    );
    if spaced && padded && !value.is_empty() {
        // Text with spaces stays text, even in a column of numbers.
        return Cell::Text(format!(" {value}  "));
    }
    let numeric = matches!(column, SCHOOL_UNIT_CODE | CIVIC_NO | SCHOOL_YEAR);
    // Up to 15 digits an f64 holds the number exactly.
    let digits =
        !value.is_empty() && value.len() <= 15 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<f64>() {
        Ok(n) if numeric && digits => Cell::Number(n),
        _ => Cell::Text(value.to_string()),
    }
}

/// The template's example row, as schools forget to remove it: its first
/// cell starts with `EXAMPLE_MARKER`, the others look like data.
fn example_row(header: &[&str]) -> Vec<Cell> {
    header
        .iter()
        .map(|column| {
            let value = match *column {
                CLASS_ID | CLASS => format!("{EXAMPLE_MARKER}-klass-1"),
                GROUP_ID | SUBJECT_GROUPS => format!("{EXAMPLE_MARKER}-grupp-1"),
                PERSON_ID => format!("{EXAMPLE_MARKER}-person-1"),
                DUTY_ID => format!("{EXAMPLE_MARKER}-tjänstgöring-1"),
                SUBJECT_GROUP => "Matematik 9A".to_string(),
                SCHOOL_TYPE => SchoolType::Gr.as_str().to_string(),
                SCHOOL_UNIT_CODE => "12345678".to_string(),
                TEST_ACTIVITY => "GRGRMAT01_9".to_string(),
                EPPN => "exempel123@edu.skola.example".to_string(),
                EMAIL => "exempel@skola.example".to_string(),
                CIVIC_NO => "ÅÅÅÅMMDDNNNN".to_string(),
                SECURITY_MARKING => SecurityMarking::Ingen.as_str().to_string(),
                GIVEN_NAME => EXAMPLE_MARKER.to_string(),
                FAMILY_NAME => format!("{EXAMPLE_MARKER}sson"),
                SCHOOL_YEAR => "9".to_string(),
                DUTY_ROLE => DutyRole::Larare.as_str().to_string(),
                _ => String::new(),
            };
            Cell::Text(value)
        })
        .collect()
}

/// The hidden sheet of the values the template's drop-down lists offer.
pub(super) fn value_lists(ws: &mut Worksheet, header_format: &Format) -> Result<(), XlsxError> {
    ws.set_name(VALUE_LIST_SHEET)?;
    ws.set_hidden(true);
    let lists: [(&str, Vec<&str>); 4] = [
        (
            SCHOOL_TYPE,
            SchoolType::ALL.iter().map(|t| t.as_str()).collect(),
        ),
        (
            SECURITY_MARKING,
            SecurityMarking::ALL.iter().map(|t| t.as_str()).collect(),
        ),
        (
            DUTY_ROLE,
            DutyRole::ALL.iter().map(|t| t.as_str()).collect(),
        ),
        (REMOVE, vec![REMOVE_YES]),
    ];
    for (c, (name, values)) in lists.iter().enumerate() {
        let c = col(c)?;
        ws.write_string_with_format(0, c, *name, header_format)?;
        ws.set_column_width(c, width(name))?;
        for (r, value) in (1u32..).zip(values) {
            ws.write_string(r, c, *value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_numbers_become_numbers_unless_spaced() {
        assert_eq!(
            cell(SCHOOL_UNIT_CODE, "12345678", false),
            Cell::Number(12_345_678.0)
        );
        assert_eq!(
            cell(CIVIC_NO, "200901272385", false),
            Cell::Number(200_901_272_385.0)
        );
        assert_eq!(cell(SCHOOL_YEAR, "7", false), Cell::Number(7.0));
        // Temporary and dashed numbers are not all digits: they stay text.
        assert_eq!(
            cell(CIVIC_NO, "20090127TF20", false),
            Cell::Text("20090127TF20".into())
        );
        assert_eq!(
            cell(CIVIC_NO, "20090127-2385", true),
            Cell::Text("20090127-2385".into())
        );
        assert_eq!(
            cell(SCHOOL_UNIT_CODE, "12345678", true),
            Cell::Text(" 12345678  ".into())
        );
        assert_eq!(cell(GIVEN_NAME, "Åsa", true), Cell::Text(" Åsa  ".into()));
        assert_eq!(cell(GIVEN_NAME, "Åsa", false), Cell::Text("Åsa".into()));
        assert_eq!(cell(MIDDLE_NAME, "", true), Cell::Text(String::new()));
        assert_eq!(cell(PERSON_ID, "123", true), Cell::Text("123".into()));
    }

    #[test]
    fn hand_filled_rows_start_with_the_example_and_hold_one_empty_row() {
        let header = [CLASS_ID, CLASS, SCHOOL_TYPE, SCHOOL_UNIT_CODE, REMOVE];
        let rows: Vec<Vec<String>> = (0..4)
            .map(|i| {
                vec![
                    format!("k{i}"),
                    format!("{i}A"),
                    "GR".into(),
                    "12345678".into(),
                    String::new(),
                ]
            })
            .collect();
        let out = hand_filled(&header, &rows);
        assert_eq!(out.len(), 6);
        assert!(matches!(&out[0][0], Cell::Text(t) if t.starts_with(EXAMPLE_MARKER)));
        assert!(out[3].is_empty(), "the empty row sits in the middle");
        assert_eq!(out[1][0], Cell::Text("k0".into()));
        assert_eq!(out[2][1], Cell::Text(" 1A  ".into()));
        assert_eq!(out[5][3], Cell::Number(12_345_678.0));
        assert_eq!(hand_filled(&header, &rows[..1]).len(), 2);
    }

    #[test]
    fn only_the_students_email_header_is_renamed() {
        assert!(header(STUDENTS_SHEET, &[PERSON_ID, EMAIL]).contains(&DIRTY_EMAIL_HEADER));
        assert!(
            header(skolsync_model::template::STAFF_SHEET, &[PERSON_ID, EMAIL]).contains(&EMAIL)
        );
    }
}
