//! Plan and run: the stages of a pipeline, wired together.
//!
//! ```text
//! state (lock) → read source → open-data → transform → crosswalk → diff
//!   → deletes only of our own entities → guards → sink (outcomes stored
//!   as they arrive) → crosswalk → run history → report
//! ```
//!
//! # Why the source is read in full
//!
//! The diff compares everything the source holds now with everything the
//! state says the service holds. An incremental read (`meta.modified.after`)
//! returns only what changed, and everything it does not return would look
//! deleted — one run would remove every unchanged pupil from the
//! provtjänst. So every run reads the whole source; the watermark the
//! source hands back is stored all the same, for a later incremental mode
//! that merges changes into a cached snapshot.
//!
//! # Resuming
//!
//! Every outcome is written to the state store as it arrives (in batches of
//! at most a second, see [`crate::state::OutcomeWriter`]). The next plan is
//! made from what the store holds, so a run killed at any moment leaves a
//! store from which the next run sends exactly what was not confirmed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::pin;

use chrono::Utc;
use serde::Serialize;
use skolsync_connectors::{ReadAnomaly, ReadOptions, ReadProgress, ReadSummary};
use skolsync_model::ObjectType;
use skolsync_model::civic_no::mask;
use skolsync_model::plan::{
    Action, Desired, DesiredState, Outcome, Plan, PreviousState, SEND_ORDER, TypePlan,
};
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_sink::{Sink, SinkError};
use skolsync_transform::{
    ClientOptions, CrosswalkReport, FetchScope, OpenData, PRODUCTION_OPEN_DATA_URL, Transformer,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::guards::{self, GuardBase, Violation};
use super::interrupt::Interrupt;
use super::kept::{self, KeptStale};
use super::progress::Progress;
use super::read_checks;
use super::{EngineError, identity};
use crate::pipeline::{Pipeline, StateLocation, resolve};
use crate::report::{
    ReportBuilder, ReportPaths, RunOutcome, RunReport, terminal_summary, write_reports,
};
use crate::state::StateStore;

/// How to run.
#[derive(Debug)]
pub struct RunOptions {
    /// Send even if a guard or a read check would stop the run.
    pub allow_large_changes: bool,
    /// Progress display.
    pub progress: Progress,
    /// What stops the run early: [`Interrupt::listen`] for SIGINT and
    /// SIGTERM (the CLI), [`Interrupt::never`] by default.
    pub interrupt: Interrupt,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            allow_large_changes: false,
            progress: Progress::hidden(),
            interrupt: Interrupt::never(),
        }
    }
}

/// Opens the pipeline's state store.
pub async fn open_store(pipeline: &Pipeline) -> Result<StateStore, EngineError> {
    let store = match &pipeline.state {
        StateLocation::Path(path) => StateStore::open(path).await?,
        StateLocation::Url(url) => StateStore::open_url(url).await?,
    };
    Ok(store)
}

// ---------------------------------------------------------------------------
// The plan summary (`skolsync plan`, and what a guard prints).

/// Counts of one type in a plan, as `skolsync plan --json` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeSummary {
    /// New entities.
    pub create: usize,
    /// Changed entities.
    pub update: usize,
    /// Entities to remove (only ones this pipeline created).
    pub delete: usize,
    /// Entities already up to date.
    pub unchanged: usize,
    /// Source records left out (extract and transform).
    pub rejected: usize,
    /// Entities the service holds whose source record was rejected: left
    /// as last sent, neither updated nor deleted.
    pub kept_stale: usize,
    /// Which, with `--details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<TypeDetails>,
}

/// The entities behind a [`TypeSummary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeDetails {
    /// Creates.
    pub create: Vec<EntityRef>,
    /// Updates.
    pub update: Vec<EntityRef>,
    /// Deletes.
    pub delete: Vec<EntityRef>,
    /// Rejected source records.
    pub rejected: Vec<RejectRef>,
}

/// One entity of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityRef {
    /// Skolverket id.
    pub id: Uuid,
    /// Source id, when known.
    pub source_id: Option<String>,
    /// School unit code, when known.
    pub school_unit: Option<String>,
    /// Masked personnummer (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub civic_no: Option<String>,
}

/// One rejected record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRef {
    /// Source id.
    pub source_id: Option<String>,
    /// School unit code.
    pub school_unit: Option<String>,
    /// The field at fault.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// A plan in numbers, per type (keys `person`, `duty`, `group`, `activity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PlanSummary {
    /// Persons.
    pub person: TypeSummary,
    /// Duties.
    pub duty: TypeSummary,
    /// Groups.
    pub group: TypeSummary,
    /// Activities.
    pub activity: TypeSummary,
}

impl PlanSummary {
    /// The counts of `kind`.
    pub fn get(&self, kind: ObjectType) -> &TypeSummary {
        match kind {
            ObjectType::Person => &self.person,
            ObjectType::Duty => &self.duty,
            ObjectType::Group => &self.group,
            ObjectType::Activity => &self.activity,
        }
    }

    fn get_mut(&mut self, kind: ObjectType) -> &mut TypeSummary {
        match kind {
            ObjectType::Person => &mut self.person,
            ObjectType::Duty => &mut self.duty,
            ObjectType::Group => &mut self.group,
            ObjectType::Activity => &mut self.activity,
        }
    }

    /// Creates + updates + deletes over all types.
    pub fn changes(&self) -> usize {
        SEND_ORDER
            .iter()
            .map(|k| {
                let t = self.get(*k);
                t.create + t.update + t.delete
            })
            .sum()
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<10} {:>8} {:>8} {:>8} {:>10} {:>9} {:>11}\n",
            "type", "create", "update", "delete", "unchanged", "rejected", "kept stale"
        );
        for kind in SEND_ORDER {
            let t = self.get(kind);
            out.push_str(&format!(
                "{:<10} {:>8} {:>8} {:>8} {:>10} {:>9} {:>11}\n",
                kind.as_str().to_lowercase(),
                t.create,
                t.update,
                t.delete,
                t.unchanged,
                t.rejected,
                t.kept_stale
            ));
        }
        out
    }
}

/// The provtjänst type of an SS 12000 entity kind, if provisioned.
fn object_type(kind: EntityKind) -> Option<ObjectType> {
    match kind {
        EntityKind::Person => Some(ObjectType::Person),
        EntityKind::Duty => Some(ObjectType::Duty),
        EntityKind::Group => Some(ObjectType::Group),
        EntityKind::Activity => Some(ObjectType::Activity),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Preparing: read, transform, crosswalk, diff.

/// Everything up to the plan.
pub struct Prepared {
    /// What the source yielded.
    pub read: ReadSummary,
    /// Rejects of extract and transform.
    pub rejects: Vec<Reject>,
    /// Entities the service holds whose source record was rejected: left
    /// as last sent.
    pub kept_stale: Vec<KeptStale>,
    /// What makes the read look broken (the run stops before sending).
    pub anomalies: Vec<ReadAnomaly>,
    /// Where every record went in the transform.
    pub counts: skolsync_transform::Counts,
    /// The desired state (crosswalk applied).
    pub desired: DesiredState,
    /// What the state holds.
    pub previous: PreviousState,
    /// The changes (deletes only of entities this pipeline created).
    pub plan: Plan,
    /// Ids taken over from the crosswalk.
    pub crosswalk: CrosswalkReport,
    /// Per type: entities gone from the source that this pipeline did not
    /// create, left alone.
    pub not_ours: BTreeMap<ObjectType, usize>,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// The source, for logs.
    pub source: String,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("source", &self.source)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

impl Prepared {
    /// The plan in numbers (with `details`, which entities).
    pub async fn summary(
        &self,
        store: &StateStore,
        sink_identity: &str,
        details: bool,
    ) -> Result<PlanSummary, EngineError> {
        let mut summary = PlanSummary::default();
        fill(&mut summary.person, &self.plan.persons, details, |p| {
            Some(mask(&p.civic_no.value))
        });
        fill(&mut summary.duty, &self.plan.duties, details, |_| None);
        fill(&mut summary.group, &self.plan.groups, details, |_| None);
        fill(
            &mut summary.activity,
            &self.plan.activities,
            details,
            |_| None,
        );
        for reject in &self.rejects {
            if reject.severity != Severity::Rejected {
                continue;
            }
            let Some(kind) = object_type(reject.entity) else {
                continue;
            };
            let t = summary.get_mut(kind);
            t.rejected += 1;
            if let Some(d) = &mut t.details {
                d.rejected.push(RejectRef {
                    source_id: reject.source_id.clone(),
                    school_unit: reject.school_unit.clone(),
                    field: reject.field.clone(),
                    reason: crate::report::mask::scrub(&reject.reason),
                });
            }
        }
        if details {
            for kind in SEND_ORDER {
                let ids = match kind {
                    ObjectType::Person => &self.plan.persons.delete,
                    ObjectType::Duty => &self.plan.duties.delete,
                    ObjectType::Group => &self.plan.groups.delete,
                    ObjectType::Activity => &self.plan.activities.delete,
                };
                let mut refs = Vec::with_capacity(ids.len());
                for id in ids {
                    let known = store.entity_status(sink_identity, *id).await?;
                    refs.push(EntityRef {
                        id: *id,
                        source_id: known.as_ref().and_then(|k| k.source_id.clone()),
                        school_unit: known.and_then(|k| k.school_unit),
                        civic_no: None,
                    });
                }
                if let Some(d) = &mut summary.get_mut(kind).details {
                    d.delete = refs;
                }
            }
        }
        Ok(summary)
    }
}

fn fill<T>(
    t: &mut TypeSummary,
    plan: &TypePlan<T>,
    details: bool,
    civic: impl Fn(&T) -> Option<String>,
) {
    t.create = plan.create.len();
    t.update = plan.update.len();
    t.delete = plan.delete.len();
    t.unchanged = plan.unchanged.len();
    t.kept_stale = plan.kept_stale.len();
    if details {
        let refs = |list: &[Desired<T>]| -> Vec<EntityRef> {
            list.iter()
                .map(|d| EntityRef {
                    id: d.id,
                    source_id: Some(d.source_id.clone()),
                    school_unit: d.school_unit.clone(),
                    civic_no: civic(&d.payload),
                })
                .collect()
        };
        t.details = Some(TypeDetails {
            create: refs(&plan.create),
            update: refs(&plan.update),
            delete: Vec::new(),
            rejected: Vec::new(),
        });
    }
}

/// Reads the whole source (see the module docs for why in full).
async fn read_source(
    pipeline: &Pipeline,
    progress: &Progress,
) -> Result<(Snapshot, Vec<Reject>, ReadSummary, String), EngineError> {
    let source = skolsync_connectors::build(&pipeline.file.source, &pipeline.base_dir)?;
    let description = source.describe();
    tracing::info!(source = %description, "reading the source");
    let counters = ReadProgress::new();
    let stage = progress.read(counters.clone());
    let stream = source.read(ReadOptions {
        modified_after: None,
        progress: Some(counters),
    });
    match skolsync_connectors::collect(stream).await {
        Ok((snapshot, rejects, summary)) => {
            stage.done(true);
            Ok((snapshot, rejects, summary, description))
        }
        Err(e) => {
            stage.done(false);
            Err(EngineError::Source {
                source_name: description,
                error: e,
            })
        }
    }
}

/// Reads open-data as the transform config says, else from the sink's
/// environment, else production.
async fn open_data(
    pipeline: &Pipeline,
    snapshot: &Snapshot,
    sink: &dyn Sink,
) -> Result<OpenData, EngineError> {
    let config = &pipeline.file.transform;
    if let Some(file) = &config.open_data_file {
        return Ok(OpenData::load(&resolve(&pipeline.base_dir, file))?);
    }
    let url = config
        .open_data_url
        .as_deref()
        .or_else(|| sink.open_data_url())
        .unwrap_or(PRODUCTION_OPEN_DATA_URL);
    tracing::info!(url, "reading open-data");
    Ok(OpenData::fetch(
        url,
        &FetchScope::for_snapshot(config, snapshot),
        &ClientOptions::default(),
    )
    .await?)
}

/// Read, transform, apply the crosswalk, diff, keep deletes to our own.
pub async fn prepare(
    pipeline: &Pipeline,
    store: &StateStore,
    progress: &Progress,
) -> Result<Prepared, EngineError> {
    let sink = skolsync_sink::build(&pipeline.file.sink, &pipeline.base_dir).await?;
    let (snapshot, rejects_so_far, read, source) = read_source(pipeline, progress).await?;

    let stage = progress.stage("transform");
    stage.message("reading open-data");
    let open_data = open_data(pipeline, &snapshot, sink.as_ref()).await?;
    stage.message("mapping to the provtjänst profile");
    let transformer = Transformer::new(pipeline.file.transform.clone(), open_data)?;
    let ids = transformer.ids();
    let (output, names) = tokio::task::spawn_blocking(move || {
        let output = transformer.run(&snapshot)?;
        // Names for the report's kept-stale lines, before the snapshot goes.
        let mut all = rejects_so_far;
        all.extend(output.rejects.iter().cloned());
        let names = kept::rejected_names(&snapshot, &all);
        Ok::<_, skolsync_transform::TransformError>((output, (names, all)))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("the transform stopped: {e}")))??;
    let (names, mut rejects) = names;
    stage.done(format!(
        "{} persons, {} duties, {} groups, {} activities; {} rejected",
        output.desired.persons.len(),
        output.desired.duties.len(),
        output.desired.groups.len(),
        output.desired.activities.len(),
        output
            .rejects
            .iter()
            .filter(|r| r.severity == Severity::Rejected)
            .count()
    ));
    let mut desired = output.desired;
    rejects.shrink_to_fit();

    let stage = progress.stage("plan");
    let crosswalk = identity::apply(store, &mut desired).await?;
    if crosswalk.persons + crosswalk.duties + crosswalk.groups + crosswalk.activities > 0 {
        tracing::info!(
            persons = crosswalk.persons,
            duties = crosswalk.duties,
            groups = crosswalk.groups,
            activities = crosswalk.activities,
            "kept the Skolverket ids of entities known under other source ids"
        );
    }
    for conflict in &crosswalk.conflicts {
        tracing::warn!("crosswalk: {conflict}");
    }
    let sink_identity = pipeline.sink_identity();
    let previous = store.previous_state(&sink_identity).await?;
    // Rejected is not absent: what the service holds of a rejected record
    // stays as last sent (see `skolsync_transform::stale`).
    let stale =
        skolsync_transform::keep_stale(&mut desired, &previous, &rejects, &output.left_out, &ids);
    let mut plan = skolsync_transform::diff_keeping(&desired, &previous, &stale);
    let kept_stale: Vec<KeptStale> = stale
        .into_iter()
        .map(|entity| {
            let name = names
                .get(&(entity.reject.entity, entity.source_id.clone()))
                .cloned();
            KeptStale { entity, name }
        })
        .collect();
    if !kept_stale.is_empty() {
        tracing::warn!(
            count = kept_stale.len(),
            "kept as last sent: entities whose source record was rejected (see the report)"
        );
    }

    // Deletes only of what this pipeline created: an entity another
    // system (or Skolverket's own file upload) put there is not ours.
    let mut not_ours = BTreeMap::new();
    for kind in SEND_ORDER {
        let deletes = match kind {
            ObjectType::Person => &mut plan.persons.delete,
            ObjectType::Duty => &mut plan.duties.delete,
            ObjectType::Group => &mut plan.groups.delete,
            ObjectType::Activity => &mut plan.activities.delete,
        };
        if deletes.is_empty() {
            continue;
        }
        let ours = store.deletable(&sink_identity, kind).await?;
        let before = deletes.len();
        deletes.retain(|id| ours.contains(id));
        if deletes.len() < before {
            not_ours.insert(kind, before - deletes.len());
            tracing::info!(
                kind = %kind,
                count = before - deletes.len(),
                "left alone: gone from the source, but not created by this pipeline"
            );
        }
    }
    stage.done(format!(
        "{} changes",
        SEND_ORDER
            .iter()
            .map(|k| super::progress::planned(&plan, *k))
            .sum::<usize>()
    ));
    let previous_shape = store.read_shape(&source).await?;
    let anomalies = read_checks::check(
        previous_shape.as_deref(),
        &read.inputs,
        &pipeline.file.guards,
    );
    for anomaly in &anomalies {
        tracing::warn!("the read looks broken: {anomaly}");
    }
    Ok(Prepared {
        read,
        rejects,
        kept_stale,
        anomalies,
        counts: output.counts,
        desired,
        previous,
        plan,
        crosswalk,
        not_ours,
        sink,
        source,
    })
}

/// The limits the plan exceeds — none while the pipeline's first load has
/// not completed (an empty state, or a first run that was interrupted and
/// is being resumed: everything is new then).
async fn checked_guards(
    pipeline: &Pipeline,
    store: &StateStore,
    prepared: &Prepared,
    current_run: Option<&str>,
) -> Result<Vec<Violation>, EngineError> {
    let completed = store.history(u32::MAX).await?.iter().any(|r| {
        Some(r.run_id.as_str()) != current_run
            && matches!(r.outcome, Some(RunOutcome::Success | RunOutcome::Partial))
    });
    if !completed {
        return Ok(Vec::new());
    }
    let sink = pipeline.sink_identity();
    let base = GuardBase {
        attempted: store.attempted(&sink).await?,
        members: store.member_counts(&sink).await?,
    };
    Ok(guards::check(
        &pipeline.file.guards,
        &prepared.plan,
        &prepared.previous,
        &base,
    ))
}

/// What `skolsync plan` found.
#[derive(Debug)]
pub struct PlanResult {
    /// The plan in numbers.
    pub summary: PlanSummary,
    /// The limits the plan exceeds (a run would stop).
    pub violations: Vec<Violation>,
    /// What makes the read look broken (a run would stop).
    pub anomalies: Vec<ReadAnomaly>,
    /// Ids kept through the crosswalk.
    pub crosswalk: CrosswalkReport,
}

/// Extract, transform and diff; changes nothing.
pub async fn plan(
    pipeline: &Pipeline,
    details: bool,
    progress: &Progress,
) -> Result<PlanResult, EngineError> {
    let store = open_store(pipeline).await?;
    let prepared = prepare(pipeline, &store, progress).await?;
    let summary = prepared
        .summary(&store, &pipeline.sink_identity(), details)
        .await?;
    let violations = checked_guards(pipeline, &store, &prepared, None).await?;
    store.close().await;
    Ok(PlanResult {
        summary,
        violations,
        anomalies: prepared.anomalies,
        crosswalk: prepared.crosswalk,
    })
}

// ---------------------------------------------------------------------------
// Running.

/// What a run did.
#[derive(Debug)]
pub struct RunResult {
    /// The report (also written to `paths`).
    pub report: RunReport,
    /// Where the report files are, if they could be written.
    pub paths: Option<ReportPaths>,
    /// The plan in numbers.
    pub plan: Option<PlanSummary>,
    /// The limits that stopped the run, if any.
    pub violations: Vec<Violation>,
    /// What made the read look broken, if that stopped the run.
    pub anomalies: Vec<ReadAnomaly>,
    /// The run stopped on a wrong pipeline file (a section found invalid
    /// only when it was built): exit code 2, as for any usage error.
    pub usage_error: bool,
    /// Numbers that do not add up (never expected; logged as errors).
    pub inconsistencies: Vec<String>,
}

impl RunResult {
    /// The process exit code: [`EXIT_OK`](super::EXIT_OK),
    /// [`EXIT_PARTIAL`](super::EXIT_PARTIAL) or
    /// [`EXIT_ABORTED`](super::EXIT_ABORTED).
    pub fn exit_code(&self) -> u8 {
        if self.usage_error {
            return super::EXIT_USAGE;
        }
        let code = match self.report.outcome {
            RunOutcome::Success if self.inconsistencies.is_empty() => super::EXIT_OK,
            RunOutcome::Success | RunOutcome::Partial => super::EXIT_PARTIAL,
            RunOutcome::Aborted | RunOutcome::Interrupted => super::EXIT_ABORTED,
        };
        // A run whose report could not be written never says "all well".
        if self.paths.is_none() && code == super::EXIT_OK {
            super::EXIT_ERROR
        } else {
            code
        }
    }

    /// The summary for the terminal: the counts, what stopped the run, the
    /// report's path.
    pub fn terminal_summary(&self) -> String {
        let mut out = String::new();
        if !self.anomalies.is_empty() {
            out.push_str("Stopped before anything was sent: the read looks broken.\n");
            for a in &self.anomalies {
                out.push_str(&format!(
                    "  - {}\n",
                    crate::report::mask::scrub(&a.to_string())
                ));
            }
            out.push_str(
                "\nCheck the source files; if this is intended, run again with --allow-large-changes \
                 (or allow the check in [guards] allow_read).\n\n",
            );
        }
        if !self.violations.is_empty() {
            out.push_str("Stopped by the guards before anything was sent:\n");
            for v in &self.violations {
                out.push_str(&format!("  - {v}\n"));
            }
            if let Some(plan) = &self.plan {
                out.push_str("\nWhat the run would have changed:\n");
                out.push_str(&plan.table());
            }
            out.push_str(
                "\nCheck the source; if the change is intended, run again with --allow-large-changes.\n\n",
            );
        }
        out.push_str(&terminal_summary(&self.report, self.paths.as_ref()));
        if !self.inconsistencies.is_empty() {
            out.push_str("\nERROR: the counts of this run do not add up:\n");
            for i in &self.inconsistencies {
                out.push_str(&format!("  - {i}\n"));
            }
        }
        out
    }
}

/// Runs the pipeline: plan, guards, apply, record, report.
///
/// Errors before the run could begin (state store unusable or locked by
/// another run) are `Err`; everything after — including a source that
/// cannot be read or a sink that stops — ends the run as `aborted` with a
/// report, and is `Ok`.
pub async fn run(pipeline: &Pipeline, options: &RunOptions) -> Result<RunResult, EngineError> {
    // One run per provtjänst client on this machine, whatever the state
    // file (held until this function returns; see `crate::lock`).
    let _sink_lock = crate::lock::SinkLock::acquire(pipeline)?;
    let store = open_store(pipeline).await?;
    let sink_identity = pipeline.sink_identity();
    let guard = store.begin_run(pipeline.name(), &sink_identity).await?;
    let run_id = guard.run_id().to_string();
    tracing::info!(run_id = %run_id, pipeline = pipeline.name(), "run started");
    let mut builder = ReportBuilder::new(run_id.clone(), pipeline.name(), Utc::now());
    let mut state = RunState::default();

    let ended = execute(
        pipeline,
        options,
        &store,
        &sink_identity,
        &run_id,
        &mut builder,
        &mut state,
    )
    .await;
    let finished = Utc::now();
    let usage_error = matches!(&ended, Err(e) if e.exit_code() == super::EXIT_USAGE);
    let report = match &ended {
        Ok(Ended::Completed) => builder.finish(finished),
        Ok(Ended::Stopped(reason)) => builder.finish_aborted(finished, reason),
        Ok(Ended::Interrupted(reason)) => {
            tracing::warn!("{reason}");
            builder.finish_interrupted(finished, reason)
        }
        Err(e) => {
            let reason = format!("{e:#}");
            tracing::error!("run aborted: {reason}");
            builder.finish_aborted(finished, &reason)
        }
    };
    let mut inconsistencies = Vec::new();
    if let Err(e) = report.assert_consistent() {
        inconsistencies.extend(e.mismatches);
    }
    inconsistencies.extend(std::mem::take(&mut state.inconsistencies));
    for i in &inconsistencies {
        tracing::error!("REPORT INCONSISTENCY — something was lost or counted twice: {i}");
    }
    let mut report = report;
    if !inconsistencies.is_empty() && report.outcome == RunOutcome::Success {
        // Numbers that do not add up mean something may have been lost:
        // never call that a success.
        report.outcome = RunOutcome::Partial;
    }
    let counts = serde_json::to_value(report.counts).unwrap_or_default();
    guard
        .finish(report.outcome, report.abort_reason.as_deref(), &counts)
        .await?;
    let paths = match write_reports(&report, &pipeline.reports_dir) {
        Ok(paths) => {
            if !inconsistencies.is_empty() {
                mark_inconsistent(&paths, &inconsistencies);
            }
            Some(paths)
        }
        Err(e) => {
            tracing::error!("could not write the report: {e}");
            None
        }
    };
    store.close().await;
    Ok(RunResult {
        report,
        paths,
        plan: state.plan,
        violations: state.violations,
        anomalies: state.anomalies,
        usage_error,
        inconsistencies,
    })
}

/// Adds the list of inconsistencies to the JSON report as
/// `"inconsistencies": [...]`, so a script reading the report sees them.
fn mark_inconsistent(paths: &ReportPaths, inconsistencies: &[String]) {
    let marked = std::fs::read_to_string(&paths.json)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|mut json| {
            json.as_object_mut()?.insert(
                "inconsistencies".into(),
                serde_json::Value::from(inconsistencies.to_vec()),
            );
            serde_json::to_string_pretty(&json).ok()
        });
    match marked {
        Some(text) => {
            if let Err(e) = std::fs::write(&paths.json, text + "\n") {
                tracing::error!("could not mark the report as inconsistent: {e}");
            }
        }
        None => tracing::error!("could not mark the report as inconsistent"),
    }
}

/// How [`execute`] ended (apart from an error).
enum Ended {
    Completed,
    Stopped(String),
    /// A signal stopped it; why and when.
    Interrupted(String),
}

/// Runs `work` unless a signal comes first; then `work` is dropped (it has
/// sent nothing: reading, transforming and planning only).
async fn unless_interrupted<T>(
    interrupt: &Interrupt,
    phase: &str,
    work: impl std::future::Future<Output = Result<T, EngineError>>,
) -> Result<Result<T, Ended>, EngineError> {
    tokio::select! {
        result = work => result.map(Ok),
        signal = interrupt.wait() => Ok(Err(Ended::Interrupted(format!(
            "interrupted ({signal}) while {phase}; nothing was sent"
        )))),
    }
}

/// What [`execute`] learnt, for the result.
#[derive(Default)]
struct RunState {
    plan: Option<PlanSummary>,
    violations: Vec<Violation>,
    anomalies: Vec<ReadAnomaly>,
    inconsistencies: Vec<String>,
}

async fn execute(
    pipeline: &Pipeline,
    options: &RunOptions,
    store: &StateStore,
    sink_identity: &str,
    run_id: &str,
    builder: &mut ReportBuilder,
    state: &mut RunState,
) -> Result<Ended, EngineError> {
    let progress = &options.progress;
    let interrupt = &options.interrupt;

    // A sink that wants the raw source (a file export of SS 12000) has no
    // plan: write and be done.
    let probe = skolsync_sink::build(&pipeline.file.sink, &pipeline.base_dir).await?;
    if probe.wants_snapshot() {
        let read =
            unless_interrupted(interrupt, "reading", read_source(pipeline, progress)).await?;
        let (snapshot, rejects, _read, _source) = match read {
            Ok(read) => read,
            Err(ended) => return Ok(ended),
        };
        builder.add_rejects(&rejects);
        let written = probe.write_snapshot(&snapshot).await?;
        for (file, n) in &written.files {
            progress.println(&format!("wrote {n} records to {file}"));
        }
        return Ok(Ended::Completed);
    }
    drop(probe);

    let prepared = match unless_interrupted(
        interrupt,
        "reading and transforming",
        prepare(pipeline, store, progress),
    )
    .await?
    {
        Ok(prepared) => prepared,
        Err(ended) => return Ok(ended),
    };
    builder.add_rejects(&prepared.rejects);
    for kept in &prepared.kept_stale {
        let e = &kept.entity;
        builder.add_kept_stale(e.kind, e.id, &e.reject, kept.name.as_deref());
    }
    state.plan = Some(prepared.summary(store, sink_identity, false).await?);
    state.inconsistencies = transform_inconsistencies(&prepared);

    // Both kinds of stop are worked out, so one stopped run names every
    // reason at once.
    let violations = checked_guards(pipeline, store, &prepared, Some(run_id)).await?;
    let mut reasons = Vec::new();
    if !prepared.anomalies.is_empty() {
        reasons.push(format!(
            "the read looks broken: {}",
            joined(&prepared.anomalies)
        ));
    }
    if !violations.is_empty() {
        reasons.push(format!("stopped by the guards: {}", joined(&violations)));
    }
    if !reasons.is_empty() {
        let reason = reasons.join("; ");
        if options.allow_large_changes {
            tracing::warn!("going ahead as --allow-large-changes says: {reason}");
        } else {
            builder.add_plan(&prepared.plan);
            state.anomalies = prepared.anomalies.clone();
            state.violations = violations;
            return Ok(Ended::Stopped(format!(
                "stopped before anything was sent: {reason}"
            )));
        }
    }
    builder.add_plan(&prepared.plan);
    if let Some(signal) = interrupt.received() {
        return Ok(Ended::Interrupted(format!(
            "interrupted ({signal}) before sending; nothing was sent"
        )));
    }

    let Prepared {
        plan,
        desired,
        sink,
        read,
        source,
        kept_stale,
        ..
    } = prepared;

    let mut confirmed: HashSet<(ObjectType, Uuid)> = HashSet::new();
    for (kind, ids) in [
        (ObjectType::Person, &plan.persons.unchanged),
        (ObjectType::Duty, &plan.duties.unchanged),
        (ObjectType::Group, &plan.groups.unchanged),
        (ObjectType::Activity, &plan.activities.unchanged),
    ] {
        confirmed.extend(ids.iter().map(|id| (kind, *id)));
    }

    let mut stopped = None;
    if plan.is_empty() {
        tracing::info!("0 changes: nothing to send");
    } else {
        stopped = load(
            &plan,
            sink.as_ref(),
            store,
            sink_identity,
            run_id,
            builder,
            progress,
            interrupt,
            &mut confirmed,
        )
        .await?;
    }
    drop(plan);

    if stopped.is_none() {
        // The baselines the next run is judged by: only from a run that went
        // to the end.
        store.set_read_shape(&source, &read.inputs).await?;
        let before = store.member_counts(sink_identity).await?;
        let kept: HashSet<Uuid> = kept_stale
            .iter()
            .filter(|k| k.entity.kind == ObjectType::Group)
            .map(|k| k.entity.id)
            .collect();
        let mut counts = BTreeMap::new();
        for g in &desired.groups {
            if confirmed.contains(&(ObjectType::Group, g.id)) {
                counts.insert(g.id, g.payload.group_memberships.len() as u64);
            } else if let Some(n) = before.get(&g.id) {
                counts.insert(g.id, *n);
            }
        }
        for id in kept {
            if let Some(n) = before.get(&id) {
                counts.insert(id, *n);
            }
        }
        store.set_member_counts(sink_identity, &counts).await?;
    }
    let keys = identity::record(store, desired, &confirmed).await?;
    tracing::debug!(keys, "crosswalk recorded");
    if stopped.is_none()
        && let Some(watermark) = read.watermark
    {
        store
            .set_watermark(&source, &watermark.to_rfc3339())
            .await?;
    }
    Ok(stopped.unwrap_or(Ended::Completed))
}

/// Sends the plan, storing and reporting every outcome as it arrives.
/// Returns why it stopped early, if it did.
#[allow(clippy::too_many_arguments)]
async fn load(
    plan: &Plan,
    sink: &dyn Sink,
    store: &StateStore,
    sink_identity: &str,
    run_id: &str,
    builder: &mut ReportBuilder,
    progress: &Progress,
    interrupt: &Interrupt,
    confirmed: &mut HashSet<(ObjectType, Uuid)>,
) -> Result<Option<Ended>, EngineError> {
    // What the sink's outcomes do not carry: source id and school unit.
    let mut origin: HashMap<(ObjectType, Uuid), (String, Option<String>)> = HashMap::new();
    fn index<T>(
        origin: &mut HashMap<(ObjectType, Uuid), (String, Option<String>)>,
        kind: ObjectType,
        p: &TypePlan<T>,
    ) {
        for d in p.create.iter().chain(&p.update) {
            origin.insert((kind, d.id), (d.source_id.clone(), d.school_unit.clone()));
        }
    }
    index(&mut origin, ObjectType::Person, &plan.persons);
    index(&mut origin, ObjectType::Duty, &plan.duties);
    index(&mut origin, ObjectType::Group, &plan.groups);
    index(&mut origin, ObjectType::Activity, &plan.activities);

    let bars = progress.load(plan);
    let mut writer = store.outcome_writer(run_id, sink_identity).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let apply = async move {
        let send = move |o: Outcome| {
            let _ = tx.send(o);
        };
        sink.apply(plan, &send).await
    };
    let mut apply = pin!(apply);
    let mut applied: Option<Result<skolsync_sink::ApplySummary, SinkError>> = None;
    let mut stopped: Option<Ended> = None;
    loop {
        tokio::select! {
            result = &mut apply, if applied.is_none() => {
                applied = Some(result);
            }
            outcome = rx.recv() => {
                let Some(outcome) = outcome else { break };
                let (source_id, school_unit) = origin
                    .remove(&(outcome.kind, outcome.id))
                    .map_or((None, None), |(s, u)| (Some(s), u));
                bars.inc(outcome.kind, !outcome.status.is_accepted());
                if outcome.status.is_accepted() && outcome.action != Action::Delete {
                    confirmed.insert((outcome.kind, outcome.id));
                }
                builder.add_outcome(&outcome);
                if let Err(e) = writer.record(outcome, source_id, school_unit).await {
                    // Sending more without recording it would make the next
                    // run send it again; stop here.
                    stopped = Some(Ended::Stopped(format!(
                        "the state store failed, so the run stopped: {e}"
                    )));
                    break;
                }
            }
            signal = interrupt.wait(), if stopped.is_none() => {
                // Dropping `apply` below stops the sink: nothing more is sent.
                stopped = Some(Ended::Interrupted(format!(
                    "interrupted ({signal}) while sending; what was confirmed is recorded, run again to finish"
                )));
                break;
            }
        }
    }
    bars.finish();
    // Whatever happened, what was received is committed.
    if let Err(e) = writer.finish().await {
        stopped.get_or_insert_with(|| Ended::Stopped(format!("the state store failed: {e}")));
    }
    if stopped.is_some() {
        return Ok(stopped);
    }
    match applied {
        Some(Ok(summary)) => {
            let c = summary.calls;
            tracing::info!(
                bulk_calls = c.bulk_calls,
                status_calls = c.status_calls + c.is_completed_calls,
                retries = c.retries,
                rate_limited = c.rate_limited,
                elapsed_ms = summary.elapsed_ms,
                "sink done"
            );
            Ok(None)
        }
        Some(Err(e)) => Ok(Some(Ended::Stopped(format!("the sink stopped: {e}")))),
        None => Ok(Some(Ended::Stopped(
            "the sink ended without a result".into(),
        ))),
    }
}

/// Checks the transform's own balance: per type, every record read is out
/// of scope or in scope, and every record in scope is in the desired state
/// or rejected.
fn transform_inconsistencies(prepared: &Prepared) -> Vec<String> {
    let c = &prepared.counts;
    let mut found = Vec::new();
    for (kind, t, desired) in [
        (
            ObjectType::Person,
            &c.persons,
            prepared.desired.persons.len(),
        ),
        (ObjectType::Duty, &c.duties, prepared.desired.duties.len()),
        (ObjectType::Group, &c.groups, prepared.desired.groups.len()),
        (
            ObjectType::Activity,
            &c.activities,
            prepared.desired.activities.len(),
        ),
    ] {
        let name = kind.as_str().to_lowercase();
        if t.read != t.out_of_scope + t.in_scope {
            found.push(format!(
                "{name}: transform read {} ≠ out of scope {} + in scope {}",
                t.read, t.out_of_scope, t.in_scope
            ));
        }
        if t.in_scope != t.out + t.rejected {
            found.push(format!(
                "{name}: transform in scope {} ≠ out {} + rejected {}",
                t.in_scope, t.out, t.rejected
            ));
        }
        if t.out != desired {
            found.push(format!(
                "{name}: the transform counted {} out but the desired state holds {desired}",
                t.out
            ));
        }
        let planned = {
            let s = super::progress::planned(&prepared.plan, kind);
            let (unchanged, deletes) = match kind {
                ObjectType::Person => (
                    prepared.plan.persons.unchanged.len(),
                    prepared.plan.persons.delete.len(),
                ),
                ObjectType::Duty => (
                    prepared.plan.duties.unchanged.len(),
                    prepared.plan.duties.delete.len(),
                ),
                ObjectType::Group => (
                    prepared.plan.groups.unchanged.len(),
                    prepared.plan.groups.delete.len(),
                ),
                ObjectType::Activity => (
                    prepared.plan.activities.unchanged.len(),
                    prepared.plan.activities.delete.len(),
                ),
            };
            s - deletes + unchanged
        };
        if planned != desired {
            found.push(format!(
                "{name}: the plan covers {planned} entities but the desired state holds {desired} (duplicate ids?)"
            ));
        }
    }
    found
}

/// `items` as one line, `; `-separated.
fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
