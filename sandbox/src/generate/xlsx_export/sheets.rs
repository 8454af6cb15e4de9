//! Lays the template's rows out as a workbook: a title row, an instruction
//! row, the header and the data on each of the four sheets, clean or
//! hand-filled (see the parent module).

use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{
    Color, DocProperties, ExcelDateTime, Format, FormatAlign, FormatBorder, Workbook, Worksheet,
    XlsxError,
};
use skolsync_model::template::{
    CLASSES_SHEET, REMOVE, REMOVE_YES, STAFF_SHEET, STUDENTS_SHEET, SUBJECT_GROUPS_SHEET,
};

use super::dirty::{self, Cell};
use super::{WorkbookDirt, WorkbookExportError};
use crate::generate::csv_export::{TemplateRows, TemplateSheet};

/// The 0-based row of every sheet's header (below the title and the
/// instruction rows); the data, or the example row when dirty, follows.
pub const WORKBOOK_HEADER_ROW: u32 = 2;
const TITLE_ROW: u32 = 0;
const INSTRUCTION_ROW: u32 = 1;

/// The formats every sheet shares.
pub(super) struct Formats {
    title: Format,
    instruction: Format,
    pub(super) header: Format,
    /// Text (`@`): what the template's columns are, so Excel keeps digits
    /// as typed.
    text: Format,
}

impl Formats {
    fn new() -> Self {
        Formats {
            title: Format::new().set_bold().set_font_size(14),
            instruction: Format::new().set_text_wrap().set_align(FormatAlign::Top),
            header: Format::new()
                .set_bold()
                .set_background_color(Color::RGB(0x00D9_E1F2))
                .set_border(FormatBorder::Thin),
            text: Format::new().set_num_format("@"),
        }
    }
}

/// The workbook of `rows`, created (by its document properties) on
/// `created`, as `.xlsx` bytes.
pub(super) fn workbook(
    rows: &TemplateRows,
    created: NaiveDate,
    dirt: WorkbookDirt,
) -> Result<Vec<u8>, WorkbookExportError> {
    let whole = "workbook";
    let mut book = Workbook::new();
    book.set_properties(&properties(created).map_err(build(whole))?);
    let formats = Formats::new();
    for sheet in rows.sheets() {
        let part = format!("sheet {:?}", sheet.name);
        write_sheet(book.add_worksheet(), &sheet, dirt, &formats).map_err(build(&part))?;
    }
    if dirt == WorkbookDirt::Dirty {
        let part = format!("sheet {:?}", dirty::VALUE_LIST_SHEET);
        dirty::value_lists(book.add_worksheet(), &formats.header).map_err(build(&part))?;
    }
    book.save_to_buffer().map_err(build(whole))
}

fn build(part: &str) -> impl FnOnce(XlsxError) -> WorkbookExportError + '_ {
    move |source| WorkbookExportError::Build {
        part: part.to_string(),
        source,
    }
}

/// Title, subject and a creation time fixed to `created` (else the writer
/// takes the clock, and the bytes change with every run).
fn properties(created: NaiveDate) -> Result<DocProperties, XlsxError> {
    let out_of_range = |_| XlsxError::ParameterError(format!("creation date {created}"));
    let at = ExcelDateTime::from_ymd(
        u16::try_from(created.year()).map_err(out_of_range)?,
        u8::try_from(created.month()).map_err(out_of_range)?,
        u8::try_from(created.day()).map_err(out_of_range)?,
    )?;
    Ok(DocProperties::new()
        .set_title("Överföring av uppgifter via filinläsning")
        .set_subject("Skolverkets provtjänst")
        .set_author("skolsync sandbox")
        .set_creation_datetime(&at))
}

fn write_sheet(
    ws: &mut Worksheet,
    sheet: &TemplateSheet<'_>,
    dirt: WorkbookDirt,
    f: &Formats,
) -> Result<(), XlsxError> {
    let clean = dirt == WorkbookDirt::Clean;
    ws.set_name(sheet.name)?;
    let header = if clean {
        sheet.header.to_vec()
    } else {
        dirty::header(sheet.name, sheet.header)
    };
    let last = col(header.len().saturating_sub(1))?;
    ws.merge_range(TITLE_ROW, 0, TITLE_ROW, last, &title(sheet.name), &f.title)?;
    ws.merge_range(
        INSTRUCTION_ROW,
        0,
        INSTRUCTION_ROW,
        last,
        &instruction(sheet.name),
        &f.instruction,
    )?;
    ws.set_row_height(INSTRUCTION_ROW, 48)?;
    for (c, name) in header.iter().enumerate() {
        let c = col(c)?;
        ws.write_string_with_format(WORKBOOK_HEADER_ROW, c, *name, &f.header)?;
        ws.set_column_width(c, width(name))?;
        if clean {
            ws.set_column_format(c, &f.text)?;
        }
    }
    ws.set_freeze_panes(WORKBOOK_HEADER_ROW + 1, 0)?;
    let cells: Vec<Vec<Cell>> = if clean {
        sheet
            .rows
            .iter()
            .map(|r| r.iter().map(|v| Cell::Text(v.clone())).collect())
            .collect()
    } else {
        dirty::hand_filled(sheet.header, sheet.rows)
    };
    let first =
        usize::try_from(WORKBOOK_HEADER_ROW + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
    for (i, row) in cells.iter().enumerate() {
        let r = row_num(first + i)?;
        for (c, cell) in row.iter().enumerate() {
            let c = col(c)?;
            match cell {
                // Left out: an empty cell is no cell.
                Cell::Text(t) if t.is_empty() => {}
                Cell::Text(t) if clean => {
                    ws.write_string_with_format(r, c, t, &f.text)?;
                }
                Cell::Text(t) => {
                    ws.write_string(r, c, t)?;
                }
                Cell::Number(n) => {
                    ws.write_number(r, c, *n)?;
                }
            }
        }
    }
    Ok(())
}

fn row_num(i: usize) -> Result<u32, XlsxError> {
    u32::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)
}

pub(super) fn col(i: usize) -> Result<u16, XlsxError> {
    u16::try_from(i).map_err(|_| XlsxError::RowColumnLimitError)
}

/// A column wide enough for its header (and the usual ids and names).
pub(super) fn width(header: &str) -> f64 {
    let chars = header.chars().count().clamp(12, 36);
    // At most 36, so exact in f64.
    f64::from(u8::try_from(chars).unwrap_or(36)) + 2.0
}

fn title(sheet: &str) -> String {
    format!("{sheet} – uppgifter till Skolverkets provtjänst")
}

/// The sheet's instruction, as the template words it to the school.
fn instruction(sheet: &str) -> String {
    let what = match sheet {
        CLASSES_SHEET => {
            "En rad per klass på en skolenhet som huvudmannen bedriver. \
             Klass-ID är klassens id i ert system."
        }
        SUBJECT_GROUPS_SHEET => {
            "En rad per ämnesgrupp (undervisningsgrupp) och det nationella \
             prov eller bedömningsstöd som gruppen genomför."
        }
        STUDENTS_SHEET => {
            "En rad per elevinskrivning: personuppgifter, skolenhet, klass \
             (Klass-ID) och alla ämnesgrupper (Grupp-ID, åtskilda med \
             kommatecken). Elever i VUXGY kan inte överföras via fil."
        }
        STAFF_SHEET => {
            "En rad per tjänstgöring på en skolenhet som huvudmannen \
             bedriver, med de ämnesgrupper (Grupp-ID) personen undervisar i."
        }
        _ => "",
    };
    format!(
        "{what} Ta bort exempeldata innan filen läses in. Skriv {REMOVE_YES} i \
         kolumnen {REMOVE} för att ta bort en rad som lästs in tidigare."
    )
}
