//! The file method in a run report: which workbook was written, what it
//! holds per sheet, and what to do with it.

use skolsync_sink::upload::UploadReport;

/// At most this many left-out lines on a terminal; the report files hold
/// them all.
pub(crate) const LEFT_OUT_SHOWN: usize = 20;

/// One line: the file, its rows per sheet, the next step.
pub fn upload_line(upload: &UploadReport) -> String {
    let left_out = match upload.left_out.len() {
        0 => String::new(),
        n => format!("; {n} thing(s) left out of the file (listed)"),
    };
    let Some(file) = &upload.file else {
        return format!(
            "nothing in the template changed since the last confirmed upload: no file written{left_out}"
        );
    };
    let sheets: Vec<String> = upload
        .rows
        .iter()
        .filter(|r| r.total() > 0)
        .map(|r| {
            let parts: Vec<String> = [
                (r.new, "new"),
                (r.changed, "changed"),
                (r.removed, "Ta bort = Ja"),
            ]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
            format!("{}: {}", r.sheet, parts.join(", "))
        })
        .collect();
    format!(
        "{} — {} row(s) ({}); upload it in Administration provtjänsten, then \
         `skolsync confirm-upload PIPELINE {}` so the next file starts from it{left_out}",
        file.display(),
        upload.total_rows(),
        sheets.join("; "),
        file.display(),
    )
}
