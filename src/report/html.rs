//! The HTML report: one self-contained page a school administrator can
//! open offline — the counts first, then the problems grouped by school
//! unit (and, within a unit, by reason), in tables sortable by clicking a
//! column header. No external assets, no links out; every text escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Problem, RunReport, TypeCounts};
use skolsync_model::ss12000::EntityKind;

/// Sorts a table by the clicked column (numbers numerically), toggling the
/// direction; `tfoot` rows (totals) stay put.
const SORT_SCRIPT: &str = r#"
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Array.prototype.indexOf.call(th.parentNode.children, th);
    var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
    th.setAttribute("data-dir", dir);
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].textContent.trim(), y = b.cells[col].textContent.trim();
      var nx = Number(x), ny = Number(y);
      var r = (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, "sv");
      return dir === "asc" ? r : -r;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"#;

/// Readable on a laptop screen: no table is wider than the page (the
/// problems table has three columns of fixed shares and wraps long texts,
/// ids and messages included, inside its cells).
const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 100%; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; max-width: 100%; }
table.problems { width: 100%; table-layout: fixed; }
table.problems th:nth-child(1) { width: 30%; } table.problems th:nth-child(2) { width: 45%; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
.muted { color: #666; font-size: 0.9em; }
th { background: #eee; cursor: pointer; user-select: none; }
th[data-dir=asc]::after { content: ' \\25B2'; }
th[data-dir=desc]::after { content: ' \\25BC'; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: bold; }
.success { color: #1a7f37; } .partial { color: #9a6700; } .aborted, .interrupted { color: #cf222e; }
code { font-size: 0.9em; }
";

/// The report as a self-contained HTML page.
pub fn to_html(report: &RunReport) -> String {
    let mut html = String::with_capacity(16 * 1024 + report.problems.len() * 512);
    let title = format!("skolsync run {} ({})", report.run_id, report.pipeline);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let _ = write!(
        html,
        "<p>Outcome: <strong class=\"{o}\">{o}</strong>{reason}<br>\nStarted {} UTC, finished {} UTC.</p>\n",
        esc(&report.started.format("%Y-%m-%d %H:%M:%S").to_string()),
        esc(&report.finished.format("%Y-%m-%d %H:%M:%S").to_string()),
        o = report.outcome.as_str(),
        reason = report
            .abort_reason
            .as_deref()
            .map(|r| format!(" — {}", esc(r)))
            .unwrap_or_default(),
    );
    if let Some(sink) = &report.sink {
        let _ = writeln!(html, "<p>Sink: {}</p>", esc(sink));
    }
    if let Some(read) = &report.read {
        let _ = writeln!(html, "<p>Source: {}</p>", esc(&read.line()));
    }
    if let Some(pull) = &report.pull {
        let _ = writeln!(html, "<p>Pull: {}</p>", esc(&pull.line()));
        feedback(&mut html, &pull.feedback);
    }
    if let Some(upload) = &report.upload {
        let line = super::upload_line(upload);
        let _ = writeln!(html, "<p>Upload file: {}</p>", esc(&line));
        left_out(&mut html, &upload.left_out);
    }
    counts_table(&mut html, report);
    problems(&mut html, report);
    let _ = write!(html, "<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n");
    html
}

const COUNT_COLUMNS: [&str; 14] = [
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
    "delete failed",
];

fn count_cells(c: &TypeCounts) -> [u64; 13] {
    [
        c.source_records,
        c.out_of_scope,
        c.in_scope,
        c.unchanged,
        c.created,
        c.updated,
        c.error,
        c.held_back,
        c.warning,
        c.rejected,
        c.kept_stale,
        c.deleted,
        c.delete_failed,
    ]
}

fn counts_table(html: &mut String, report: &RunReport) {
    html.push_str(
        "<h2>Counts</h2>\n<p>source = in scope + rejected + out of scope: every record the \
         source delivered ends in one of the three; out of scope is not an error (reasons \
         below). in scope = unchanged + created + updated + error + held back; \
         warnings are listed among the problems (the service's are included in \
         created/updated); rejected records (a record with several problems once) were left out before \
         sending; kept stale entities are held by the service but their source record was \
         rejected, so they were left as last sent (never deleted); deletes are outside the scope.</p>\n<table class=\"sortable\" id=\"counts\">\n<thead><tr>",
    );
    for column in COUNT_COLUMNS {
        let _ = write!(html, "<th>{column}</th>");
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    let row = |html: &mut String, name: &str, c: &TypeCounts| {
        let _ = write!(html, "<tr><td>{}</td>", esc(name));
        for n in count_cells(c) {
            let _ = write!(html, "<td class=\"n\">{n}</td>");
        }
        html.push_str("</tr>\n");
    };
    for (kind, c) in report.counts.iter() {
        row(html, &EntityKind::of(kind).to_string().to_lowercase(), c);
    }
    html.push_str("</tbody>\n<tfoot>\n");
    row(html, "total", &report.counts.sum());
    html.push_str("</tfoot>\n</table>\n");
    balance(html, report);
}

/// Whether the numbers add up per type, and the out-of-scope reasons.
fn balance(html: &mut String, report: &RunReport) {
    if !report.transformed {
        html.push_str(
            "<p class=\"muted\">The run stopped before the source was transformed: \
             source and out-of-scope records are not known.</p>\n",
        );
        return;
    }
    html.push_str("<ul id=\"balance\">\n");
    for (kind, c) in report.counts.iter() {
        let ended = c.in_scope + c.rejected + c.out_of_scope;
        let verdict = if ended == c.source_records {
            "adds up"
        } else {
            "DOES NOT ADD UP"
        };
        let _ = writeln!(
            html,
            "<li>{}: {} source records = {} in scope + {} rejected + {} out of scope: {verdict}</li>",
            EntityKind::of(kind).to_string().to_lowercase(),
            c.source_records,
            c.in_scope,
            c.rejected,
            c.out_of_scope
        );
    }
    html.push_str("</ul>\n");
    if report
        .out_of_scope_reasons
        .iter()
        .all(|(_, r)| r.is_empty())
    {
        return;
    }
    html.push_str(
        "<h3>Out of scope, by reason</h3>\n<table class=\"sortable\" id=\"out-of-scope\">\n\
         <thead><tr><th>type</th><th>reason</th><th>records</th></tr></thead>\n<tbody>\n",
    );
    for (kind, reasons) in report.out_of_scope_reasons.iter() {
        for (reason, n) in reasons {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
                EntityKind::of(kind).to_string().to_lowercase(),
                esc(reason)
            );
        }
    }
    html.push_str("</tbody>\n</table>\n");
}

/// Three columns, so the table fits the page: who the record is, what is
/// wrong, where it came from.
const PROBLEM_COLUMNS: [&str; 3] = ["record", "problem", "where from"];

fn problems(html: &mut String, report: &RunReport) {
    let _ = writeln!(html, "<h2>Problems ({})</h2>", report.problems.len());
    if report.problems.is_empty() {
        html.push_str("<p>None.</p>\n");
        return;
    }
    let mut by_unit: BTreeMap<Option<&str>, Vec<&Problem>> = BTreeMap::new();
    for problem in &report.problems {
        by_unit
            .entry(problem.school_unit.as_deref())
            .or_default()
            .push(problem);
    }
    // Known school units first, in code order; then those without one.
    let units = by_unit
        .iter()
        .filter(|(unit, _)| unit.is_some())
        .chain(by_unit.iter().filter(|(unit, _)| unit.is_none()));
    for (unit, problems) in units {
        let unit_name = problems.iter().find_map(|p| p.school_unit_name.as_deref());
        let heading = match (unit, unit_name) {
            (Some(code), Some(name)) => format!("School unit {code} {name}"),
            (Some(code), None) => format!("School unit {code}"),
            (None, _) => "No school unit".to_string(),
        };
        let _ = writeln!(
            html,
            "<section>\n<h3>{} ({} problems)</h3>\n<ul>",
            esc(&heading),
            problems.len()
        );
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for p in problems {
            *reasons.entry(p.reason.as_str()).or_default() += 1;
        }
        for (reason, count) in reasons {
            let _ = writeln!(html, "<li>{} ({count})</li>", esc(reason));
        }
        html.push_str("</ul>\n<table class=\"sortable problems\">\n<thead><tr>");
        for column in PROBLEM_COLUMNS {
            let _ = write!(html, "<th>{column}</th>");
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for p in problems {
            problem_row(html, p);
        }
        html.push_str("</tbody>\n</table>\n</section>\n");
    }
}

/// `label value` lines of a cell, escaped, the empty ones left out.
fn lines(parts: &[(&str, Option<String>)]) -> String {
    parts
        .iter()
        .filter_map(|(label, value)| {
            let value = value.as_deref().filter(|v| !v.is_empty())?;
            Some(if label.is_empty() {
                esc(value)
            } else {
                format!("<span class=\"muted\">{label}</span> {}", esc(value))
            })
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

fn problem_row(html: &mut String, p: &Problem) {
    let entity = p.entity.to_string().to_lowercase();
    let unit = match (&p.school_unit, &p.school_unit_name) {
        (Some(code), Some(name)) => Some(format!("{code} {name}")),
        (code, _) => code.clone(),
    };
    let record = lines(&[
        (
            "",
            Some(
                format!("{entity} {}", p.name.as_deref().unwrap_or(""))
                    .trim()
                    .to_string(),
            ),
        ),
        ("source id", p.source_id.clone()),
        ("personnummer", p.civic_no.clone()),
        ("school unit", unit),
        ("Skolverket id", p.skolverket_id.map(|id| id.to_string())),
    ]);
    let field = p.field.as_deref().map(|f| match &p.value {
        Some(v) => format!("{f} = {v}"),
        None => f.to_string(),
    });
    let mut problem = lines(&[
        (p.severity.as_str(), Some(p.reason.clone())),
        ("field", field),
    ]);
    for m in &p.messages {
        let _ = write!(
            problem,
            "<br><span class=\"muted\">{}</span> {}",
            esc(&m.label()),
            esc(&m.message)
        );
    }
    let stage = format!("{:?}", p.stage).to_lowercase();
    let origin = lines(&[
        ("", p.location.clone()),
        ("stage", Some(stage)),
        ("action", p.action.map(|a| format!("{a:?}").to_lowercase())),
    ]);
    let _ = writeln!(
        html,
        "<tr><td>{record}</td><td>{problem}</td><td>{origin}</td></tr>"
    );
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Skolverket's LogEntries, each against its source record: what to fix.
fn left_out(html: &mut String, lines: &[skolsync_sink::upload::rows::LeftOut]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        html,
        "<h2>Left out of the upload file</h2>\n<table>\n<tr><th>type</th><th>source record</th><th>Skolverket id</th><th>why</th></tr>"
    );
    for l in lines {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            l.kind,
            esc(&l.source_id),
            l.id,
            esc(&l.reason),
        );
    }
    let _ = writeln!(html, "</table>");
}

fn feedback(html: &mut String, lines: &[super::FeedbackLine]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        html,
        "<h2>What Skolverket reported</h2>\n<table>\n<tr><th>received</th><th>severity</th><th>type</th><th>source record</th><th>school unit</th><th>Skolverket id</th><th>message</th></tr>"
    );
    for f in lines {
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&f.received_at),
            esc(&f.severity),
            esc(f.resource_type.as_deref().unwrap_or("–")),
            esc(f.source_id.as_deref().unwrap_or("–")),
            esc(f.school_unit.as_deref().unwrap_or("–")),
            f.resource_id
                .map(|id| id.to_string())
                .unwrap_or_else(|| "–".into()),
            esc(&f.message),
            f.message_type
                .as_deref()
                .map(|t| format!(" ({})", esc(t)))
                .unwrap_or_default(),
        );
    }
    let _ = writeln!(html, "</table>");
}
