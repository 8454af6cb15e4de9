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

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
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
    counts_table(&mut html, report);
    problems(&mut html, report);
    let _ = write!(html, "<script>{SORT_SCRIPT}</script>\n</body>\n</html>\n");
    html
}

const COUNT_COLUMNS: [&str; 12] = [
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
    "delete failed",
];

fn count_cells(c: &TypeCounts) -> [u64; 11] {
    [
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
        "<h2>Counts</h2>\n<p>in scope = unchanged + created + updated + error + held back; \
         warnings are included in created/updated; rejected records were left out before \
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
}

const PROBLEM_COLUMNS: [&str; 12] = [
    "reason",
    "severity",
    "type",
    "source id",
    "personnummer",
    "field",
    "value",
    "Skolverket message",
    "stage",
    "action",
    "location",
    "Skolverket id",
];

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
        let heading = match unit {
            Some(code) => format!("School unit {code}"),
            None => "No school unit".to_string(),
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
        html.push_str("</ul>\n<table class=\"sortable\">\n<thead><tr>");
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

fn problem_row(html: &mut String, p: &Problem) {
    let messages = p
        .messages
        .iter()
        .map(|m| format!("{}: {}", m.id, m.message))
        .collect::<Vec<_>>()
        .join("\n");
    let cells: [String; 12] = [
        p.reason.clone(),
        p.severity.to_string(),
        p.entity.to_string().to_lowercase(),
        p.source_id.clone().unwrap_or_default(),
        p.civic_no.clone().unwrap_or_default(),
        p.field.clone().unwrap_or_default(),
        p.value.clone().unwrap_or_default(),
        messages,
        format!("{:?}", p.stage).to_lowercase(),
        p.action
            .map(|a| format!("{a:?}").to_lowercase())
            .unwrap_or_default(),
        p.location.clone().unwrap_or_default(),
        p.skolverket_id.map(|id| id.to_string()).unwrap_or_default(),
    ];
    html.push_str("<tr>");
    for cell in cells {
        let _ = write!(html, "<td>{}</td>", esc(&cell).replace('\n', "<br>"));
    }
    html.push_str("</tr>\n");
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
