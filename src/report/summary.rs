//! The terminal summary: the report's counts as a compact table, what went
//! wrong in one line, and where the full report is.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{ReportPaths, RunOutcome, RunReport, TypeCounts};
use skolsync_model::ss12000::EntityKind;

const COLUMNS: [&str; 14] = [
    "type",
    "source",
    "out of scope",
    "in scope",
    "unchanged",
    "created",
    "updated",
    "error",
    "held back",
    "warning",
    "rejected",
    "kept stale",
    "deleted",
    "del. failed",
];

fn cells(name: String, c: &TypeCounts, transformed: bool) -> [String; 14] {
    let unknown = |n: u64| {
        if transformed {
            n.to_string()
        } else {
            "-".to_string()
        }
    };
    [
        name,
        unknown(c.source_records),
        unknown(c.out_of_scope),
        c.in_scope.to_string(),
        c.unchanged.to_string(),
        c.created.to_string(),
        c.updated.to_string(),
        c.error.to_string(),
        c.held_back.to_string(),
        c.warning.to_string(),
        c.rejected.to_string(),
        c.kept_stale.to_string(),
        c.deleted.to_string(),
        c.delete_failed.to_string(),
    ]
}

/// Why a run sent nothing, honestly: everything in scope was rejected,
/// nothing was in scope, or the service already matched the source.
pub(crate) fn nothing_sent_line(report: &RunReport) -> String {
    let total = report.counts.sum();
    if report.all_rejected() {
        format!(
            "0 changes: nothing could be planned, because every source record in scope was \
             rejected ({} rejected; see the problems). The service was not brought up to date.",
            total.rejected
        )
    } else if total.in_scope == 0 && report.transformed {
        format!(
            "0 changes: no source record is in scope ({} out of scope; see the reasons in the report).",
            total.out_of_scope
        )
    } else {
        format!(
            "0 changes: the service already matches the source ({} unchanged).",
            total.unchanged
        )
    }
}

/// The summary printed at the end of a run (plain text, no colour).
pub fn terminal_summary(report: &RunReport, paths: Option<&ReportPaths>) -> String {
    let mut out = String::new();
    let seconds = (report.finished - report.started).num_milliseconds().max(0) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "Run {} of `{}`: {} in {seconds:.1} s",
        report.run_id, report.pipeline, report.outcome
    );
    if let Some(sink) = &report.sink {
        let _ = writeln!(out, "Sink: {}", crate::terminal::escape_lines(sink));
    }
    if let Some(reason) = &report.abort_reason {
        let _ = writeln!(out, "Aborted: {}", crate::terminal::escape_lines(reason));
    }
    if let Some(read) = &report.read {
        let _ = writeln!(
            out,
            "Source: {}",
            crate::terminal::escape_lines(&read.line())
        );
    }
    if let Some(pull) = &report.pull {
        let _ = writeln!(out, "Pull: {}", crate::terminal::escape_lines(&pull.line()));
    }
    if let Some(upload) = &report.upload {
        let line = super::upload_line(upload);
        let _ = writeln!(out, "Upload file: {}", crate::terminal::escape_lines(&line));
        for left in upload.left_out.iter().take(super::upload::LEFT_OUT_SHOWN) {
            let _ = writeln!(
                out,
                "  left out of the file: {} {} ({}): {}",
                left.kind,
                crate::terminal::escape_lines(&left.source_id),
                left.id,
                crate::terminal::escape_lines(&left.reason)
            );
        }
        if upload.left_out.len() > super::upload::LEFT_OUT_SHOWN {
            let _ = writeln!(
                out,
                "  … and {} more left out (the report files list them all)",
                upload.left_out.len() - super::upload::LEFT_OUT_SHOWN
            );
        }
    }
    out.push('\n');

    let mut rows: Vec<[String; 14]> = vec![COLUMNS.map(str::to_string)];
    let transformed = report.transformed;
    for (kind, c) in report.counts.iter() {
        rows.push(cells(
            EntityKind::of(kind).to_string().to_lowercase(),
            c,
            transformed,
        ));
    }
    let total = report.counts.sum();
    rows.push(cells("total".into(), &total, transformed));
    let mut widths = [0usize; 14];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i == 0 {
                let _ = write!(line, "{cell:<width$}");
            } else {
                let _ = write!(line, "  {cell:>width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');

    if transformed {
        let _ = writeln!(
            out,
            "Every source record is counted: source = in scope + rejected + out of scope{}.",
            if report
                .out_of_scope_reasons
                .iter()
                .any(|(_, r)| !r.is_empty())
            {
                " (out-of-scope reasons in the report)"
            } else {
                ""
            }
        );
    }
    if let Some(written) = report.written {
        let _ = writeln!(
            out,
            "Exported {written} records to files (a raw SS 12000 export: nothing is compared \
             with or sent to a service)."
        );
    } else if report.nothing_sent()
        && !matches!(
            report.outcome,
            RunOutcome::Aborted | RunOutcome::Interrupted
        )
    {
        // A stopped run sent nothing because it stopped, not because the
        // service matched the source.
        let _ = writeln!(out, "{}", nothing_sent_line(report));
    }
    let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
    for problem in &report.problems {
        *by_severity.entry(problem.severity.as_str()).or_default() += 1;
    }
    if by_severity.is_empty() {
        out.push_str("No problems.\n");
    } else {
        let list: Vec<String> = by_severity
            .iter()
            .map(|(severity, n)| {
                let plural = *n != 1 && matches!(*severity, "error" | "warning");
                format!(
                    "{n} {}{}",
                    severity.replace('_', " "),
                    if plural { "s" } else { "" }
                )
            })
            .collect();
        // The table counts warnings per type; a warning about the read
        // itself (a resource the server lacks, open-data) belongs to none.
        let listed = by_severity.get("warning").copied().unwrap_or(0) as u64;
        let per_type: u64 = report.counts.iter().map(|(_, c)| c.warning).sum();
        let outside = if listed > per_type {
            format!(
                "; {} of the warnings concern the read, not a record of the table",
                listed - per_type
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "Problems: {}{outside} (by school unit and reason in the report).",
            list.join(", ")
        );
    }
    if let Some(paths) = paths {
        let _ = writeln!(out, "Report: {}", paths.html.display());
        let _ = writeln!(out, "        {}", paths.json.display());
    }
    out
}
