//! Assembling a [`RunReport`] while a run goes on.
//!
//! The builder keeps counts, the problems found so far and, per planned
//! entity, its source id and school unit (so failed outcomes, which carry
//! only the Skolverket id, can be reported in source terms). Outcomes are
//! taken by reference as they stream in and never stored.
//!
//! Rejected records are counted once each (by source id, else location),
//! however many problem rows they have; every warning row is counted; the
//! transform's read and out-of-scope counts make `source_records`, so the
//! report can show that every source record ended somewhere.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use skolsync_model::civic_no::mask;
use skolsync_model::plan::{Action, Desired, Outcome, OutcomeStatus, Plan, TypePlan};
use skolsync_model::provtjanst::{LogEntry, Person};
use skolsync_model::reject::{Reject, Severity, Stage};
use skolsync_model::{ObjectType, PerType, SecurityMarking};
use uuid::Uuid;

use super::mask::{scrub, value_for_report};
use super::{BlockedBy, Counts, Problem, ProblemSeverity, RunOutcome, RunReport, ServiceMessage};
use skolsync_model::ss12000::EntityKind;

/// What the builder remembers of a planned entity until its outcome arrives.
#[derive(Debug, Clone)]
struct Planned {
    action: Action,
    source_id: Option<String>,
    school_unit: Option<String>,
    /// Masked personnummer (persons only).
    civic_no: Option<String>,
    /// Who or what it is (a person's name, a group's name), for the report.
    name: Option<String>,
}

/// Builds the [`RunReport`] of one run: feed it the plan, the rejects and
/// every outcome, then [`finish`](ReportBuilder::finish) (or
/// [`finish_aborted`](ReportBuilder::finish_aborted)).
#[derive(Debug)]
pub struct ReportBuilder {
    run_id: String,
    pipeline: String,
    started: DateTime<Utc>,
    counts: Counts,
    planned: HashMap<(ObjectType, Uuid), Planned>,
    /// Source ids of entities that failed or were held back, to name
    /// blockers.
    failed: HashMap<(ObjectType, Uuid), Option<String>>,
    problems: Vec<Problem>,
    /// The rejected records counted so far (a record with several rejects
    /// counts once): entity and source id, else location.
    rejected: HashSet<(EntityKind, String)>,
    /// Per type, the records rejected while reading (they never reached
    /// the transform, whose `read` they add to).
    extract_rejected: PerType<u64>,
    /// Per type, what the transform read; `None` until it is known.
    transform_read: Option<PerType<u64>>,
    out_of_scope_reasons: PerType<BTreeMap<String, u64>>,
    plan_added: bool,
    written: Option<u64>,
    read: Option<super::ReadInfo>,
    pull: Option<super::PullReport>,
    upload: Option<skolsync_sink::upload::UploadReport>,
    sink: Option<String>,
    /// School unit names by code, for the problems.
    unit_names: HashMap<String, String>,
}

impl ReportBuilder {
    /// A report of run `run_id` of `pipeline`, begun at `started`.
    pub fn new(
        run_id: impl Into<String>,
        pipeline: impl Into<String>,
        started: DateTime<Utc>,
    ) -> ReportBuilder {
        ReportBuilder {
            run_id: run_id.into(),
            pipeline: pipeline.into(),
            started,
            counts: Counts::default(),
            planned: HashMap::new(),
            failed: HashMap::new(),
            problems: Vec::new(),
            rejected: HashSet::new(),
            extract_rejected: PerType::default(),
            transform_read: None,
            out_of_scope_reasons: PerType::default(),
            plan_added: false,
            written: None,
            read: None,
            pull: None,
            upload: None,
            sink: None,
            unit_names: HashMap::new(),
        }
    }

    /// Takes the transform's counts: per type, what it read and what was
    /// out of scope, with the reasons, so that the report accounts for
    /// every source record (see [`RunReport::assert_consistent`]).
    pub fn add_transform_counts(&mut self, counts: &skolsync_transform::Counts) {
        let mut read = PerType::<u64>::default();
        for (kind, c) in counts.iter() {
            read[kind] = c.read as u64;
            self.counts[kind].out_of_scope = c.out_of_scope as u64;
            self.out_of_scope_reasons[kind] = c
                .out_of_scope_reasons
                .iter()
                .map(|(why, n)| (why.clone(), *n as u64))
                .collect();
        }
        self.transform_read = Some(read);
    }

    /// School unit names by code (from the source's organisations), shown
    /// beside the code in every problem.
    pub fn set_unit_names(&mut self, names: HashMap<String, String>) {
        self.unit_names = names;
    }

    /// What the upload workbook holds (the file method).
    pub fn set_upload(&mut self, upload: skolsync_sink::upload::UploadReport) {
        self.upload = Some(upload);
    }

    /// The pull method's notifications and feedback.
    pub fn set_pull(&mut self, pull: super::PullReport) {
        self.pull = Some(pull);
    }

    /// Names the sink the run delivers to (a pipeline with several sinks).
    pub fn set_sink(&mut self, sink: impl Into<String>) {
        self.sink = Some(sink.into());
    }

    /// How the source was read.
    pub fn set_read(&mut self, read: super::ReadInfo) {
        self.read = Some(read);
    }

    /// Records that a raw SS 12000 file export wrote `records` records.
    pub fn add_written(&mut self, records: u64) {
        *self.written.get_or_insert(0) += records;
    }

    fn unit_name(&self, code: Option<&str>) -> Option<String> {
        code.and_then(|c| self.unit_names.get(c.trim()))
            .map(|n| scrub(n))
    }

    /// Takes the in-scope counts (creates + updates + unchanged) and the
    /// entities to expect outcomes for from the plan.
    pub fn add_plan(&mut self, plan: &Plan) {
        self.plan_added = true;
        self.add_type_plan(ObjectType::Person, &plan.persons, |p: &Person| {
            (Some(p.civic_no.value.clone()), person_name(p))
        });
        self.add_type_plan(ObjectType::Duty, &plan.duties, |_| (None, None));
        self.add_type_plan(ObjectType::Group, &plan.groups, |g| {
            (None, named(&g.display_name))
        });
        self.add_type_plan(ObjectType::Activity, &plan.activities, |a| {
            (None, named(&a.display_name))
        });
    }

    fn add_type_plan<T>(
        &mut self,
        kind: ObjectType,
        plan: &TypePlan<T>,
        who: impl Fn(&T) -> (Option<String>, Option<String>),
    ) {
        for (action, entities) in [
            (Action::Create, &plan.create),
            (Action::Update, &plan.update),
        ] {
            for desired in entities {
                let (civic_no, name) = who(&desired.payload);
                self.add_planned(kind, action, desired, civic_no);
                if let Some(planned) = self.planned.get_mut(&(kind, desired.id)) {
                    planned.name = name;
                }
            }
        }
        for id in &plan.delete {
            self.planned.insert(
                (kind, *id),
                Planned {
                    action: Action::Delete,
                    source_id: None,
                    school_unit: None,
                    civic_no: None,
                    name: None,
                },
            );
        }
        self.add_unchanged(kind, plan.unchanged.len() as u64);
    }

    /// Expects an outcome for `desired` (a create or update of `kind`),
    /// counting it in scope. `civic_no` is its personnummer, if any; only
    /// its masked form is kept.
    pub fn add_planned<T>(
        &mut self,
        kind: ObjectType,
        action: Action,
        desired: &Desired<T>,
        civic_no: Option<String>,
    ) {
        if action != Action::Delete {
            self.counts.get_mut(kind).in_scope += 1;
        }
        self.planned.insert(
            (kind, desired.id),
            Planned {
                action,
                source_id: Some(desired.source_id.clone()),
                school_unit: desired.school_unit.clone(),
                civic_no: civic_no.map(|c| mask(&c)),
                name: None,
            },
        );
    }

    /// Where a planned create or update came from — its source id and
    /// school unit — which the sink's outcomes do not carry. The builder
    /// indexes the plan once; the state store takes the origin from here.
    pub fn origin(&self, kind: ObjectType, id: Uuid) -> (Option<String>, Option<String>) {
        self.planned.get(&(kind, id)).map_or((None, None), |p| {
            (p.source_id.clone(), p.school_unit.clone())
        })
    }

    /// Counts `count` in-scope entities of `kind` that need no change.
    pub fn add_unchanged(&mut self, kind: ObjectType, count: u64) {
        let counts = self.counts.get_mut(kind);
        counts.in_scope += count;
        counts.unchanged += count;
    }

    /// Adds every reject of extract and transform.
    pub fn add_rejects<'a>(&mut self, rejects: impl IntoIterator<Item = &'a Reject>) {
        for reject in rejects {
            self.add_reject(reject);
        }
    }

    /// Adds one reject (or warning) of a stage.
    pub fn add_reject(&mut self, reject: &Reject) {
        let severity = match reject.severity {
            Severity::Rejected => ProblemSeverity::Rejected,
            Severity::Warning => ProblemSeverity::Warning,
        };
        if severity == ProblemSeverity::Rejected
            && let Some(kind) = reject.entity.object_type()
        {
            // A record, not a row: a person with three bad fields is one
            // rejected person (the problems keep all three rows).
            let first = match reject.record_key() {
                Some((entity, key)) => self.rejected.insert((entity, key.to_string())),
                None => true,
            };
            if first {
                self.counts.get_mut(kind).rejected += 1;
                if reject.stage == Stage::Extract {
                    self.extract_rejected[kind] += 1;
                }
            }
        }
        if severity == ProblemSeverity::Warning
            && let Some(kind) = reject.entity.object_type()
        {
            self.counts.get_mut(kind).warning += 1;
        }
        let field = reject.field.as_deref();
        let value = reject.value.as_deref().map(|v| value_for_report(field, v));
        let civic_no = value
            .clone()
            .filter(|_| field.is_some_and(super::mask::is_civic_field))
            .or_else(|| reject.civic_no.as_deref().map(mask));
        self.problems.push(Problem {
            severity,
            stage: reject.stage,
            entity: reject.entity,
            action: None,
            source_id: reject.source_id.as_deref().map(scrub),
            name: reject.subject.as_deref().map(scrub),
            school_unit_name: reject
                .school_unit_name
                .as_deref()
                .map(scrub)
                .or_else(|| self.unit_name(reject.school_unit.as_deref())),
            skolverket_id: None,
            school_unit: reject.school_unit.as_deref().map(scrub),
            civic_no,
            location: reject.location.as_deref().map(scrub),
            field: reject.field.as_deref().map(scrub),
            value,
            reason: scrub(&reject.reason),
            messages: Vec::new(),
            blocked_by: None,
        });
    }

    /// Counts and lists an entity the service keeps as last sent because its
    /// source record was rejected. `name` says who or what it is for a
    /// person reading the report ("Anna Berg (8B)"), when known.
    pub fn add_kept_stale(
        &mut self,
        kind: ObjectType,
        id: Uuid,
        reject: &Reject,
        name: Option<&str>,
    ) {
        self.counts.get_mut(kind).kept_stale += 1;
        let mut reason = match name {
            Some(name) => format!("{} kept as last sent: ", scrub(name)),
            None => "kept as last sent: ".to_string(),
        };
        reason.push_str(&scrub(&reject.reason));
        let field = reject.field.as_deref();
        if let (Some(field), Some(value)) = (field, reject.value.as_deref()) {
            reason.push_str(&format!(
                " [{} = `{}`]",
                scrub(field),
                value_for_report(Some(field), value)
            ));
        }
        if let Some(location) = &reject.location {
            reason.push_str(&format!(" ({})", scrub(location)));
        }
        self.problems.push(Problem {
            severity: ProblemSeverity::KeptStale,
            stage: reject.stage,
            entity: EntityKind::of(kind),
            action: None,
            source_id: reject.source_id.as_deref().map(scrub),
            name: name.map(scrub),
            school_unit_name: reject
                .school_unit_name
                .as_deref()
                .map(scrub)
                .or_else(|| self.unit_name(reject.school_unit.as_deref())),
            skolverket_id: Some(id),
            school_unit: reject.school_unit.as_deref().map(scrub),
            civic_no: reject.civic_no.as_deref().map(mask),
            location: reject.location.as_deref().map(scrub),
            field: reject.field.as_deref().map(scrub),
            value: None,
            reason,
            messages: Vec::new(),
            blocked_by: None,
        });
    }

    /// Counts one outcome of the sink, and lists it if it is a problem.
    pub fn add_outcome(&mut self, outcome: &Outcome) {
        let key = (outcome.kind, outcome.id);
        let planned = self.planned.remove(&key);
        let counts = self.counts.get_mut(outcome.kind);
        match (outcome.action, outcome.status) {
            (Action::Delete, status) if status.is_accepted() => counts.deleted += 1,
            (Action::Delete, _) => counts.delete_failed += 1,
            (Action::Create, status) if status.is_accepted() => counts.created += 1,
            (Action::Update, status) if status.is_accepted() => counts.updated += 1,
            (_, OutcomeStatus::Error) => counts.error += 1,
            (_, _) => counts.held_back += 1,
        }
        // Listed below as a warning problem, so counted with them.
        if outcome.status == OutcomeStatus::Warning && planned.is_some() {
            counts.warning += 1;
        }
        if matches!(
            outcome.status,
            OutcomeStatus::Error | OutcomeStatus::HeldBack
        ) {
            let source_id = planned.as_ref().and_then(|p| p.source_id.clone());
            self.failed.insert(key, source_id);
        }
        if outcome.status == OutcomeStatus::Success && planned.is_some() {
            return;
        }
        let problem = self.outcome_problem(outcome, planned.as_ref());
        self.problems.push(problem);
    }

    fn outcome_problem(&self, outcome: &Outcome, planned: Option<&Planned>) -> Problem {
        let first: Option<&LogEntry> = outcome.messages.first();
        let first_text = first.map(|m| scrub(&m.message));
        let detail = outcome.detail.as_deref().map(scrub);
        let mut reason = match outcome.status {
            OutcomeStatus::Success => "accepted".to_string(),
            OutcomeStatus::Warning => match &first_text {
                Some(text) => format!("accepted with a warning: {text}"),
                None => "accepted with a warning".into(),
            },
            OutcomeStatus::Error => match (&detail, &first_text) {
                (Some(detail), _) => format!("failed: {detail}"),
                (None, Some(text)) => match first.filter(|m| !is_documented(&m.id)) {
                    // Not one of Skolverket's ids (the sandbox's own, say):
                    // the reason does not pass it off as Skolverket's.
                    Some(m) => format!(
                        "refused by the service ({} is not a documented Skolverket id): {text}",
                        scrub(&m.id)
                    ),
                    None => format!("refused by Skolverket: {text}"),
                },
                (None, None) => "refused by Skolverket (no message)".into(),
            },
            OutcomeStatus::HeldBack => match outcome.blocked_by {
                Some(blocker) => {
                    let name = self
                        .failed
                        .get(&(blocker.kind, blocker.id))
                        .cloned()
                        .flatten()
                        .map(|s| scrub(&s))
                        .unwrap_or_else(|| blocker.id.to_string());
                    format!(
                        "not sent: it depends on {} {name}, which did not succeed",
                        EntityKind::of(blocker.kind)
                    )
                }
                None => match &detail {
                    Some(detail) => format!("not sent: {detail}"),
                    None => "not sent: a dependency did not succeed".into(),
                },
            },
        };
        let severity = match (planned, outcome.status) {
            (None, status) => {
                reason = format!(
                    "the sink reported an outcome ({}) for an entity that was not planned, \
                     or reported it twice",
                    status_name(status)
                );
                ProblemSeverity::Unexpected
            }
            (Some(_), OutcomeStatus::Error) => ProblemSeverity::Error,
            (Some(_), OutcomeStatus::HeldBack) => ProblemSeverity::HeldBack,
            (Some(_), _) => ProblemSeverity::Warning,
        };
        let field = first.and_then(|m| {
            m.attribute_name
                .clone()
                .or_else(|| m.parameter_name.clone())
        });
        let value = first
            .and_then(|m| {
                m.attribute_value
                    .as_deref()
                    .or(m.parameter_value.as_deref())
            })
            .map(|v| value_for_report(field.as_deref(), v));
        Problem {
            severity,
            stage: Stage::Load,
            entity: EntityKind::of(outcome.kind),
            action: Some(outcome.action),
            source_id: planned.and_then(|p| p.source_id.as_deref()).map(scrub),
            name: planned.and_then(|p| p.name.as_deref()).map(scrub),
            school_unit_name: self.unit_name(planned.and_then(|p| p.school_unit.as_deref())),
            skolverket_id: Some(outcome.id),
            school_unit: planned.and_then(|p| p.school_unit.clone()),
            civic_no: planned.and_then(|p| p.civic_no.clone()),
            location: outcome.job_id.map(|job| format!("bulk job {job}")),
            field: field.as_deref().map(scrub),
            value,
            reason,
            messages: outcome
                .messages
                .iter()
                .map(|m| ServiceMessage::new(&m.id, scrub(&m.message)))
                .collect(),
            blocked_by: outcome.blocked_by.map(|b| BlockedBy {
                entity: EntityKind::of(b.kind),
                skolverket_id: b.id,
                source_id: self
                    .failed
                    .get(&(b.kind, b.id))
                    .cloned()
                    .flatten()
                    .map(|s| scrub(&s)),
            }),
        }
    }

    /// The report of a run that went to the end: `success`, or `partial`
    /// if anything was rejected, failed or held back. A planned entity
    /// without an outcome is listed as `no_outcome` and left out of the
    /// counts, so [`RunReport::assert_consistent`] reports it.
    pub fn finish(mut self, finished: DateTime<Utc>) -> RunReport {
        let missing: Vec<((ObjectType, Uuid), Planned)> = self.planned.drain().collect();
        for ((kind, id), planned) in missing {
            self.problems.push(Problem {
                severity: ProblemSeverity::NoOutcome,
                stage: Stage::Load,
                entity: EntityKind::of(kind),
                action: Some(planned.action),
                source_id: planned.source_id.as_deref().map(scrub),
                name: planned.name.as_deref().map(scrub),
                school_unit_name: self.unit_name(planned.school_unit.as_deref()),
                skolverket_id: Some(id),
                school_unit: planned.school_unit,
                civic_no: planned.civic_no,
                location: None,
                field: None,
                value: None,
                reason: "the sink reported no outcome: its state in the service is unknown; \
                         the next run sends it again"
                    .into(),
                messages: Vec::new(),
                blocked_by: None,
            });
        }
        // A served change nobody was told of is not fetched: not a success.
        let unnotified = self
            .pull
            .as_ref()
            .is_some_and(|p| p.failed_notifications() > 0);
        let partial = unnotified
            || self
                .problems
                .iter()
                .any(|p| p.severity != ProblemSeverity::Warning);
        let outcome = if partial {
            RunOutcome::Partial
        } else {
            RunOutcome::Success
        };
        self.into_report(finished, outcome, None)
    }

    /// The report of a run that stopped early (a guard, a fatal error):
    /// planned creates and updates without an outcome count as held back by
    /// the abort (not listed one by one; `abort_reason` says why).
    pub fn finish_aborted(mut self, finished: DateTime<Utc>, reason: &str) -> RunReport {
        for ((kind, _), planned) in self.planned.drain() {
            if planned.action != Action::Delete {
                self.counts.get_mut(kind).held_back += 1;
            }
        }
        self.into_report(finished, RunOutcome::Aborted, Some(scrub(reason)))
    }

    /// The report of a run a signal stopped: as [`finish_aborted`](Self::finish_aborted),
    /// with outcome `interrupted`.
    pub fn finish_interrupted(self, finished: DateTime<Utc>, reason: &str) -> RunReport {
        let mut report = self.finish_aborted(finished, reason);
        report.outcome = RunOutcome::Interrupted;
        report
    }

    fn into_report(
        mut self,
        finished: DateTime<Utc>,
        outcome: RunOutcome,
        abort_reason: Option<String>,
    ) -> RunReport {
        // Grouped for the people who fix the source: school unit (unknown
        // last), then reason.
        self.problems.sort_by(|a, b| {
            (
                a.school_unit.is_none(),
                &a.school_unit,
                &a.reason,
                a.entity,
                &a.source_id,
                a.skolverket_id,
            )
                .cmp(&(
                    b.school_unit.is_none(),
                    &b.school_unit,
                    &b.reason,
                    b.entity,
                    &b.source_id,
                    b.skolverket_id,
                ))
        });
        // Every source record of a type: what the transform read plus
        // what was rejected before it (only once both it and the plan are
        // known; a run stopped earlier cannot account for its records).
        let transformed = self.plan_added && self.transform_read.is_some();
        if let Some(read) = self.transform_read.filter(|_| transformed) {
            for (kind, n) in read.iter() {
                self.counts[kind].source_records = n + self.extract_rejected[kind];
            }
        }
        RunReport {
            run_id: self.run_id,
            pipeline: self.pipeline,
            started: self.started,
            finished,
            outcome,
            abort_reason,
            counts: self.counts,
            out_of_scope_reasons: self.out_of_scope_reasons,
            transformed,
            written: self.written,
            read: self.read,
            pull: self.pull,
            upload: self.upload,
            sink: self.sink,
            problems: self.problems,
        }
    }
}

fn is_documented(id: &str) -> bool {
    super::SKOLVERKET_IDS.contains(&id.trim())
}

/// "Given Family" of a person payload; `None` for a protected person (the
/// report never names one) or an empty name.
fn person_name(p: &Person) -> Option<String> {
    if p.security_marking
        .is_some_and(|m| m != SecurityMarking::Ingen)
    {
        return None;
    }
    named(&format!("{} {}", p.given_name.trim(), p.family_name.trim()))
}

fn named(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn status_name(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Success => "success",
        OutcomeStatus::Warning => "warning",
        OutcomeStatus::Error => "error",
        OutcomeStatus::HeldBack => "held back",
    }
}
