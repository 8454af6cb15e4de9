//! Assembling a [`RunReport`] while a run goes on.
//!
//! The builder keeps counts, the problems found so far and, per planned
//! entity, its source id and school unit (so failed outcomes, which carry
//! only the Skolverket id, can be reported in source terms). Outcomes are
//! taken by reference as they stream in and never stored.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use skolsync_model::ObjectType;
use skolsync_model::civic_no::mask;
use skolsync_model::plan::{Action, Desired, Outcome, OutcomeStatus, Plan, TypePlan};
use skolsync_model::provtjanst::{LogEntry, Person};
use skolsync_model::reject::{Reject, Severity, Stage};
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
        }
    }

    /// Takes the in-scope counts (creates + updates + unchanged) and the
    /// entities to expect outcomes for from the plan.
    pub fn add_plan(&mut self, plan: &Plan) {
        self.add_type_plan(ObjectType::Person, &plan.persons, |p: &Person| {
            Some(p.civic_no.value.clone())
        });
        self.add_type_plan(ObjectType::Duty, &plan.duties, |_| None);
        self.add_type_plan(ObjectType::Group, &plan.groups, |_| None);
        self.add_type_plan(ObjectType::Activity, &plan.activities, |_| None);
    }

    fn add_type_plan<T>(
        &mut self,
        kind: ObjectType,
        plan: &TypePlan<T>,
        civic_no: impl Fn(&T) -> Option<String>,
    ) {
        for (action, entities) in [
            (Action::Create, &plan.create),
            (Action::Update, &plan.update),
        ] {
            for desired in entities {
                self.add_planned(kind, action, desired, civic_no(&desired.payload));
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
            self.counts.get_mut(kind).rejected += 1;
        }
        let field = reject.field.as_deref();
        let value = reject.value.as_deref().map(|v| value_for_report(field, v));
        let civic_no = value
            .clone()
            .filter(|_| field.is_some_and(super::mask::is_civic_field));
        self.problems.push(Problem {
            severity,
            stage: reject.stage,
            entity: reject.entity,
            action: None,
            source_id: reject.source_id.as_deref().map(scrub),
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
            skolverket_id: Some(id),
            school_unit: reject.school_unit.as_deref().map(scrub),
            civic_no: None,
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
        if outcome.status == OutcomeStatus::Warning {
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
                (None, Some(text)) => format!("refused by Skolverket: {text}"),
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
                .map(|m| ServiceMessage {
                    id: m.id.clone(),
                    message: scrub(&m.message),
                })
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
        let partial = self
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
        RunReport {
            run_id: self.run_id,
            pipeline: self.pipeline,
            started: self.started,
            finished,
            outcome,
            abort_reason,
            counts: self.counts,
            problems: self.problems,
        }
    }
}

fn status_name(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Success => "success",
        OutcomeStatus::Warning => "warning",
        OutcomeStatus::Error => "error",
        OutcomeStatus::HeldBack => "held back",
    }
}
