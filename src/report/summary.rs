//! The terminal summary: the report's counts as a compact table, what went
//! wrong in one line, and where the full report is.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{ReportPaths, RunOutcome, RunReport, TypeCounts};
use skolsync_model::ss12000::EntityKind;

const COLUMNS: [&str; 12] = [
    "type",
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

fn cells(name: String, c: &TypeCounts) -> [String; 12] {
    [
        name,
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

/// The summary printed at the end of a run (plain text, no colour).
pub fn terminal_summary(report: &RunReport, paths: Option<&ReportPaths>) -> String {
    let mut out = String::new();
    let seconds = (report.finished - report.started).num_milliseconds().max(0) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "Run {} of `{}`: {} in {seconds:.1} s",
        report.run_id, report.pipeline, report.outcome
    );
    if let Some(reason) = &report.abort_reason {
        let _ = writeln!(out, "Aborted: {}", crate::terminal::escape_lines(reason));
    }
    out.push('\n');

    let mut rows: Vec<[String; 12]> = vec![COLUMNS.map(str::to_string)];
    for (kind, c) in report.counts.iter() {
        rows.push(cells(EntityKind::of(kind).to_string().to_lowercase(), c));
    }
    let total = report.counts.sum();
    rows.push(cells("total".into(), &total));
    let mut widths = [0usize; 12];
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

    if report.nothing_sent() && report.outcome != RunOutcome::Aborted {
        let _ = writeln!(
            out,
            "0 changes: the service already matches the source ({} unchanged).",
            total.unchanged
        );
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
        let _ = writeln!(
            out,
            "Problems: {} (by school unit and reason in the report).",
            list.join(", ")
        );
    }
    if let Some(paths) = paths {
        let _ = writeln!(out, "Report: {}", paths.html.display());
        let _ = writeln!(out, "        {}", paths.json.display());
    }
    out
}
