//! The run report: what happened to every record, in numbers that add up,
//! and every problem with what a school administrator needs to fix it.
//!
//! [`ReportBuilder`] assembles a [`RunReport`] from the plan, the rejects of
//! extract and transform, and the sink's outcomes as they stream in.
//! [`RunReport::assert_consistent`] checks that the numbers add up and
//! names what does not (the runner logs that loudly). The report is written
//! as JSON and as a self-contained HTML page ([`write_reports`]) and
//! summarised on the terminal ([`terminal_summary`]). Personnummer appear
//! only masked ([`mask`]).
//!
//! # Counts, per type (`person`, `duty`, `group`, `activity`)
//!
//! | key | meaning |
//! |---|---|
//! | `source_records` | records of the type the source delivered (read by the transform, plus those rejected while reading) |
//! | `out_of_scope` | source records outside the pipeline's scope (a school unit, school type or year not configured, not a national-test group, ended, …): not errors, counted per reason in `out_of_scope_reasons` |
//! | `in_scope` | entities of the desired state (after transform): planned creates + updates + unchanged |
//! | `unchanged` | in scope and already up to date: not sent |
//! | `created` | created (or upserted) and accepted, with or without warnings |
//! | `updated` | updated and accepted, with or without warnings |
//! | `error` | refused by Skolverket, or failed for good after retries |
//! | `held_back` | not sent because an entity it depends on did not succeed (for an aborted run: also everything the abort left unsent) |
//! | `warning` | warnings listed among the problems: the service's (accepted with warnings; already counted in `created`/`updated`/`deleted`) and skolsync's own about records it kept |
//! | `rejected` | source records left out by extract/transform (not in scope); a record with several problems counts once, the problems list every one |
//! | `kept_stale` | entities the service holds whose source record was rejected: left as last sent, neither updated nor deleted (their records are among `rejected`) |
//! | `deleted` | deleted and accepted (outside `in_scope`: no longer in the source) |
//! | `delete_failed` | deletes refused, failed or held back (outside `in_scope`) |
//!
//! so that `in_scope = unchanged + created + updated + error + held_back`
//! and, once the source was transformed, `source_records = in_scope +
//! rejected + out_of_scope`: every source record of a provisioned type
//! ends counted. (Records of other types, e.g. an organisation, that are
//! rejected appear among the problems only.)
//!
//! # JSON keys
//!
//! `run_id`, `pipeline`, `started`, `finished` (RFC 3339), `outcome`
//! (`success` | `partial` | `aborted`), `abort_reason` (text, or null
//! unless aborted), `counts` (the four types above), `out_of_scope_reasons`
//! (per type: reason → records), `transformed` (whether the source got as
//! far as the transform, so that `source_records` is known), `written`
//! (records a raw SS 12000 file export wrote, null for other sinks),
//! `read` (how the source was read: `mode` `full` | `incremental` |
//! `unchanged`, `reason`, `since`, `watermark`, `entities_read`,
//! `deletions_reported`, `listed_in_full`, `entities_total`; absent when
//! the run stopped before reading),
//! `problems` (a list of [`Problem`], sorted by school unit, then reason,
//! so that it reads grouped).

mod builder;
mod html;
pub mod mask;
mod pull;
mod read;
mod summary;
mod upload;
mod write;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use skolsync_model::PerType;
use skolsync_model::plan::Action;
use skolsync_model::reject::Stage;
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

pub use crate::state::RunOutcome;
pub use builder::ReportBuilder;
pub use html::to_html;
pub use pull::{FeedbackLine, PullReport};
pub use read::ReadInfo;
pub use summary::terminal_summary;
pub use upload::upload_line;
pub use write::{ReportError, ReportPaths, to_json, write_reports};

/// The report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The run id (also the report's file name).
    pub run_id: String,
    /// The pipeline name.
    pub pipeline: String,
    /// Which sink the run delivered to, when the pipeline file lists
    /// several (`[[sink]]`, one run and report each from one read): its key
    /// and kind, and where it delivers (`null` for a single `[sink]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// When the run began.
    pub started: DateTime<Utc>,
    /// When it ended.
    pub finished: DateTime<Utc>,
    /// `success`, `partial` (some entities failed, were held back or were
    /// rejected) or `aborted`.
    pub outcome: RunOutcome,
    /// Why the run was aborted; `null` otherwise.
    pub abort_reason: Option<String>,
    /// What happened, per type.
    pub counts: Counts,
    /// Per type, the out-of-scope records by reason (they add up to
    /// `out_of_scope`).
    #[serde(default)]
    pub out_of_scope_reasons: PerType<BTreeMap<String, u64>>,
    /// Whether the source got as far as the transform: only then are
    /// `source_records` and `out_of_scope` known and checked.
    #[serde(default)]
    pub transformed: bool,
    /// Records a raw SS 12000 file export wrote (`null` for other sinks).
    #[serde(default)]
    pub written: Option<u64>,
    /// How the source was read (`null` when the run stopped before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<ReadInfo>,
    /// The pull method: notifications sent and Skolverket's feedback
    /// (`null` for other sinks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullReport>,
    /// The file method: the upload workbook written, its rows per sheet and
    /// what it could not hold (`null` for other sinks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload: Option<skolsync_sink::upload::UploadReport>,
    /// Every reject and every entity that failed, was held back or got a
    /// warning, sorted by school unit and reason.
    pub problems: Vec<Problem>,
}

/// The counts of the four provtjänst types (keys `person`, `duty`, `group`,
/// `activity`).
pub type Counts = PerType<TypeCounts>;

/// What happened to the entities of one type (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    /// Records of the type the source delivered: in_scope + rejected +
    /// out_of_scope (once transformed).
    #[serde(default)]
    pub source_records: u64,
    /// Source records outside the pipeline's scope (not errors).
    #[serde(default)]
    pub out_of_scope: u64,
    /// Entities of the desired state: unchanged + created + updated + error + held_back.
    pub in_scope: u64,
    /// Up to date already; not sent.
    pub unchanged: u64,
    /// Created and accepted (warnings included).
    pub created: u64,
    /// Updated and accepted (warnings included).
    pub updated: u64,
    /// Deleted and accepted (outside `in_scope`).
    pub deleted: u64,
    /// Deletes refused, failed or held back (outside `in_scope`).
    pub delete_failed: u64,
    /// Warnings listed among the problems (the service's are also counted
    /// in created/updated/deleted).
    pub warning: u64,
    /// Refused or failed for good.
    pub error: u64,
    /// Source records left out by extract or transform (a record with
    /// several problems once).
    pub rejected: u64,
    /// Not sent because a dependency did not succeed (or the run aborted).
    pub held_back: u64,
    /// Held by the service, source record rejected: left as last sent.
    #[serde(default)]
    pub kept_stale: u64,
}

impl TypeCounts {
    /// Whether nothing was sent or attempted: no creates, updates, deletes,
    /// errors or held-back entities.
    pub fn nothing_sent(&self) -> bool {
        self.created
            + self.updated
            + self.deleted
            + self.delete_failed
            + self.error
            + self.held_back
            == 0
    }
}

impl std::ops::Add for TypeCounts {
    type Output = TypeCounts;

    fn add(self, o: TypeCounts) -> TypeCounts {
        TypeCounts {
            source_records: self.source_records + o.source_records,
            out_of_scope: self.out_of_scope + o.out_of_scope,
            in_scope: self.in_scope + o.in_scope,
            unchanged: self.unchanged + o.unchanged,
            created: self.created + o.created,
            updated: self.updated + o.updated,
            deleted: self.deleted + o.deleted,
            delete_failed: self.delete_failed + o.delete_failed,
            warning: self.warning + o.warning,
            error: self.error + o.error,
            rejected: self.rejected + o.rejected,
            held_back: self.held_back + o.held_back,
            kept_stale: self.kept_stale + o.kept_stale,
        }
    }
}

/// What kind of problem a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemSeverity {
    /// Left out by extract or transform (counted in `rejected`, once per
    /// record however many rows it has).
    Rejected,
    /// Refused by Skolverket or failed for good (counted in `error` or
    /// `delete_failed`).
    Error,
    /// Not sent because a dependency failed (counted in `held_back` or
    /// `delete_failed`).
    HeldBack,
    /// Accepted, or kept, with something to fix (counted in `warning`).
    Warning,
    /// Held by the service, but its source record was rejected: left as
    /// last sent (counted in `kept_stale`).
    KeptStale,
    /// Planned, but the sink reported no outcome: its state is unknown.
    /// Never expected; makes the report inconsistent.
    NoOutcome,
    /// An outcome for an entity that was not planned, or a second one.
    /// Never expected; makes the report inconsistent.
    Unexpected,
}

impl ProblemSeverity {
    /// The serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProblemSeverity::Rejected => "rejected",
            ProblemSeverity::Error => "error",
            ProblemSeverity::HeldBack => "held_back",
            ProblemSeverity::Warning => "warning",
            ProblemSeverity::KeptStale => "kept_stale",
            ProblemSeverity::NoOutcome => "no_outcome",
            ProblemSeverity::Unexpected => "unexpected",
        }
    }
}

impl fmt::Display for ProblemSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record that needs attention, with what is needed to fix the source.
/// Every key is always present (`null` when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// What kind of problem.
    pub severity: ProblemSeverity,
    /// The stage that found it: `extract`, `transform` or `load`.
    pub stage: Stage,
    /// The entity type (`person`, `duty`, `group`, `activity`, or another
    /// SS 12000 type for rejects).
    pub entity: EntityKind,
    /// What was attempted (load problems): `create`, `update`, `delete`.
    pub action: Option<Action>,
    /// The record's id in the source.
    pub source_id: Option<String>,
    /// Who or what the record is, as the people who fix it know it: a
    /// person's name and class ("Anna Berg (8B)"; never for a person with
    /// a security marking), a group's or activity's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The school unit's name beside its code.
    #[serde(default)]
    pub school_unit_name: Option<String>,
    /// The Skolverket id (load problems).
    pub skolverket_id: Option<Uuid>,
    /// The school unit code, for grouping.
    pub school_unit: Option<String>,
    /// The person's personnummer, masked (`20090127-****`), where relevant.
    pub civic_no: Option<String>,
    /// Where the record came from (`elever.csv:17`, an endpoint and page).
    pub location: Option<String>,
    /// The field at fault.
    pub field: Option<String>,
    /// The offending value (personnummer masked).
    pub value: Option<String>,
    /// What is wrong, in words a school administrator understands.
    pub reason: String,
    /// Skolverket's messages (LogEntry id and text).
    pub messages: Vec<ServiceMessage>,
    /// The dependency that held it back.
    pub blocked_by: Option<BlockedBy>,
}

/// One of Skolverket's messages about an entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceMessage {
    /// The LogEntry id, e.g. `2011`.
    pub id: String,
    /// Its text (personnummer masked).
    pub message: String,
    /// Whether the id is one Skolverket documents ([`SKOLVERKET_IDS`]);
    /// `false` for the sandbox's invented ids (90xx/91xx) and any other
    /// id, so a report never passes one off as Skolverket's.
    #[serde(default)]
    pub documented: bool,
}

/// The LogEntry ids Skolverket's Provisioning API document shows
/// (`provisioning-api_dnp-provisioning-api.yaml`, the examples of its
/// responses: 2010, 2011, 2025, 3047, 3085, 4001, 5002, 5004, 5020, 5021,
/// 5022, 6001). Any other id a service returns — the sandbox's 90xx/91xx,
/// which it invents for checks the spec gives no id for — is labelled as
/// not documented in the reports.
pub const SKOLVERKET_IDS: [&str; 12] = [
    "2010", "2011", "2025", "3047", "3085", "4001", "5002", "5004", "5020", "5021", "5022", "6001",
];

impl ServiceMessage {
    /// A message of the service, masked, labelled documented or not.
    pub fn new(id: &str, message: String) -> ServiceMessage {
        ServiceMessage {
            id: id.to_string(),
            message,
            documented: SKOLVERKET_IDS.contains(&id.trim()),
        }
    }

    /// The id as the reports show it: `2011`, or `9121 (not a documented
    /// Skolverket id)`.
    pub fn label(&self) -> String {
        if self.documented {
            format!("Skolverket {}", self.id)
        } else {
            format!("{} (not a documented Skolverket id)", self.id)
        }
    }
}

/// The entity whose failure held another back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedBy {
    /// Its type.
    pub entity: EntityKind,
    /// Its Skolverket id.
    pub skolverket_id: Uuid,
    /// Its source id, when known.
    pub source_id: Option<String>,
}

/// Counts that do not add up, or entities unaccounted for: something was
/// lost or counted twice between plan, sink and report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the run report does not add up: {}", .mismatches.join("; "))]
pub struct ConsistencyError {
    /// Each mismatch, described.
    pub mismatches: Vec<String>,
}

/// How many examples an inconsistency message names.
const EXAMPLES: usize = 5;

impl RunReport {
    /// Checks that, per type, `in_scope = unchanged + created + updated +
    /// error + held_back`, that warnings do not exceed accepted entities,
    /// that every counted error, rejection and held-back entity is listed
    /// among the problems, and that every planned entity got exactly one
    /// outcome. Describes every mismatch.
    pub fn assert_consistent(&self) -> Result<(), ConsistencyError> {
        let mut mismatches = Vec::new();
        for (kind, c) in self.counts.iter() {
            let name = EntityKind::of(kind);
            let label = name.to_string().to_lowercase();
            let sum = c.unchanged + c.created + c.updated + c.error + c.held_back;
            if c.in_scope != sum {
                mismatches.push(format!(
                    "{label}: in_scope {} ≠ unchanged {} + created {} + updated {} + error {} + held_back {} = {sum}",
                    c.in_scope, c.unchanged, c.created, c.updated, c.error, c.held_back
                ));
            }
            let listed = |severity: ProblemSeverity, deletes: bool| {
                self.problems
                    .iter()
                    .filter(|p| {
                        p.entity == name
                            && p.severity == severity
                            && (p.action == Some(Action::Delete)) == deletes
                    })
                    .count() as u64
            };
            let service_warnings = self
                .problems
                .iter()
                .filter(|p| {
                    p.entity == name && p.severity == ProblemSeverity::Warning && p.action.is_some()
                })
                .count() as u64;
            if service_warnings > c.created + c.updated + c.deleted {
                mismatches.push(format!(
                    "{label}: {service_warnings} service warnings but only {} accepted entities",
                    c.created + c.updated + c.deleted
                ));
            }
            if c.kept_stale > c.rejected {
                mismatches.push(format!(
                    "{label}: {} kept stale but only {} rejected source records",
                    c.kept_stale, c.rejected
                ));
            }
            if self.transformed {
                let ended = c.in_scope + c.rejected + c.out_of_scope;
                if c.source_records != ended {
                    mismatches.push(format!(
                        "{label}: source records {} ≠ in_scope {} + rejected {} + out_of_scope {} = {ended}",
                        c.source_records, c.in_scope, c.rejected, c.out_of_scope
                    ));
                }
                let reasons: u64 = self.out_of_scope_reasons.get(kind).values().sum();
                if reasons != c.out_of_scope {
                    mismatches.push(format!(
                        "{label}: out_of_scope {} but its reasons add up to {reasons}",
                        c.out_of_scope
                    ));
                }
            }
            let mut compare = |what: &str, counted: u64, listed: u64| {
                if counted != listed {
                    mismatches.push(format!(
                        "{label}: {counted} {what} counted but {listed} listed among the problems"
                    ));
                }
            };
            compare("errors", c.error, listed(ProblemSeverity::Error, false));
            compare("rejected records", c.rejected, self.rejected_records(name));
            compare(
                "warnings",
                c.warning,
                listed(ProblemSeverity::Warning, false) + listed(ProblemSeverity::Warning, true),
            );
            compare(
                "kept stale",
                c.kept_stale,
                listed(ProblemSeverity::KeptStale, false),
            );
            compare(
                "failed deletes",
                c.delete_failed,
                listed(ProblemSeverity::Error, true) + listed(ProblemSeverity::HeldBack, true),
            );
            // An abort holds back what it did not send without listing it.
            if !matches!(self.outcome, RunOutcome::Aborted | RunOutcome::Interrupted) {
                compare(
                    "held back",
                    c.held_back,
                    listed(ProblemSeverity::HeldBack, false),
                );
            }
        }
        for (severity, what) in [
            (
                ProblemSeverity::NoOutcome,
                "planned but got no outcome from the sink",
            ),
            (
                ProblemSeverity::Unexpected,
                "got an outcome that was not planned (or a second one)",
            ),
        ] {
            let found: Vec<&Problem> = self
                .problems
                .iter()
                .filter(|p| p.severity == severity)
                .collect();
            if !found.is_empty() {
                let examples: Vec<String> =
                    found.iter().take(EXAMPLES).map(|p| describe(p)).collect();
                mismatches.push(format!(
                    "{} entities {what}: {}{}",
                    found.len(),
                    examples.join(", "),
                    if found.len() > EXAMPLES { ", …" } else { "" }
                ));
            }
        }
        if mismatches.is_empty() {
            Ok(())
        } else {
            Err(ConsistencyError { mismatches })
        }
    }

    /// How many records of `entity` the rejected problems are about: rows
    /// about one record (by source id, else location) count once.
    fn rejected_records(&self, entity: EntityKind) -> u64 {
        let mut keys = std::collections::HashSet::new();
        let mut without_key = 0;
        for p in &self.problems {
            if p.entity != entity || p.severity != ProblemSeverity::Rejected {
                continue;
            }
            match p.source_id.as_deref().or(p.location.as_deref()) {
                Some(key) => {
                    keys.insert(key);
                }
                None => without_key += 1,
            }
        }
        keys.len() as u64 + without_key
    }

    /// Whether every source record in scope was rejected, so that nothing
    /// could be planned: not "the service already matches the source".
    pub fn all_rejected(&self) -> bool {
        let total = self.counts.sum();
        total.in_scope == 0 && total.rejected > 0 && total.deleted + total.delete_failed == 0
    }

    /// Whether the run sent nothing (no creates, updates, deletes, errors or
    /// held-back entities): the service already matched the source.
    pub fn nothing_sent(&self) -> bool {
        self.counts.sum().nothing_sent()
    }
}

/// `person p-1 (<uuid>)`.
fn describe(p: &Problem) -> String {
    let mut text = p.entity.to_string().to_lowercase();
    if let Some(source_id) = &p.source_id {
        text.push(' ');
        text.push_str(source_id);
    }
    if let Some(id) = p.skolverket_id {
        text.push_str(&format!(" ({id})"));
    }
    text
}
