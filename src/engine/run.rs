//! The run lifecycle: lock, state, report and exit code around the stages.
//!
//! ```text
//! state (lock) → read source → open-data → transform → crosswalk → diff
//!   → deletes only of our own entities → guards → sink (outcomes stored
//!   as they arrive) → crosswalk → run history → report
//! ```
//!
//! The stages live next door: [`prepare`](mod@super::prepare) up to the
//! plan (and why the source is read in full), [`summary`](mod@super::summary)
//! the plan in numbers, [`load`](mod@super::load) the sending loop (and how
//! an interrupted run resumes), [`consistency`](mod@super::consistency) the
//! checks that numbers add up. This file holds [`run`] and what it returns:
//! [`RunOptions`], [`RunResult`] and the exit codes.

use std::collections::HashSet;

use chrono::Utc;
use skolsync_connectors::ReadAnomaly;
use skolsync_model::ObjectType;
use skolsync_sink::file::SnapshotWriter;
use skolsync_sink::{Delivery, Sink};
use uuid::Uuid;

pub use super::prepare::{Prepared, open_store, prepare};
pub use super::summary::{
    EntityRef, PlanResult, PlanSummary, RejectRef, TypeDetails, TypeSummary, plan,
};

use super::consistency::{mark_inconsistent, transform_inconsistencies};
use super::guards::Violation;
use super::interrupt::Interrupt;
use super::load::{confirmed_unchanged, load, record_baselines};
use super::prepare::{
    PrepareOptions, Transformed, checked_guards, plan_for, read_source, transform,
};
use super::progress::Progress;
use super::{EngineError, identity};
use crate::pipeline::Pipeline;
use crate::report::{
    ReportBuilder, ReportPaths, RunOutcome, RunReport, terminal_summary, write_reports,
};
use crate::state::StateStore;

/// Exit code: everything landed (or was already up to date).
pub const EXIT_OK: u8 = 0;
/// Exit code: an error that is not about a run (e.g. an unexpected failure).
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the pipeline file or the command line is wrong.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: the run completed, but some entities were rejected, refused,
/// failed or held back (see the report).
pub const EXIT_PARTIAL: u8 = 3;
/// Exit code: the run was aborted — stopped by a guard, another run holds
/// the lock, the source or the sink failed, or it was interrupted. What was
/// confirmed before is recorded; run again to finish.
pub const EXIT_ABORTED: u8 = 4;

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
    /// Read the whole source whatever the cached copy (`run --full`).
    pub full_read: bool,
    /// Let a sink replace a file it would refuse to write over (`run
    /// --force`; the upload workbook).
    pub force: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            allow_large_changes: false,
            progress: Progress::hidden(),
            interrupt: Interrupt::never(),
            full_read: false,
            force: false,
        }
    }
}

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
    /// The runs of the pipeline's other sinks (a file with several
    /// `[[sink]]`s; each from the same read, with its own report), in the
    /// file's order.
    pub other_sinks: Vec<RunResult>,
}

impl RunResult {
    /// The process exit code: [`EXIT_OK`],
    /// [`EXIT_PARTIAL`] or
    /// [`EXIT_ABORTED`].
    pub fn exit_code(&self) -> u8 {
        // Over several sinks, the worst: a wrong file, then an error, then
        // an aborted run, then a partial one.
        let worst = [EXIT_USAGE, EXIT_ERROR, EXIT_ABORTED, EXIT_PARTIAL];
        let codes: Vec<u8> = std::iter::once(self)
            .chain(&self.other_sinks)
            .map(RunResult::own_exit_code)
            .collect();
        worst
            .into_iter()
            .find(|code| codes.contains(code))
            .unwrap_or(EXIT_OK)
    }

    /// The exit code of this sink's run alone.
    fn own_exit_code(&self) -> u8 {
        if self.usage_error {
            return EXIT_USAGE;
        }
        let code = match self.report.outcome {
            RunOutcome::Success if self.inconsistencies.is_empty() => EXIT_OK,
            RunOutcome::Success | RunOutcome::Partial => EXIT_PARTIAL,
            RunOutcome::Aborted | RunOutcome::Interrupted => EXIT_ABORTED,
        };
        // A run whose report could not be written never says "all well".
        if self.paths.is_none() && code == EXIT_OK {
            EXIT_ERROR
        } else {
            code
        }
    }

    /// The summary for the terminal: the counts, what stopped the run, the
    /// report's path — for each sink, when the pipeline has several.
    pub fn terminal_summary(&self) -> String {
        let mut out = self.own_terminal_summary();
        for other in &self.other_sinks {
            out.push('\n');
            out.push_str(&other.own_terminal_summary());
        }
        out
    }

    /// The results of every sink's run: this one, then
    /// [`other_sinks`](Self::other_sinks).
    pub fn every_sink(&self) -> impl Iterator<Item = &RunResult> {
        std::iter::once(self).chain(&self.other_sinks)
    }

    fn own_terminal_summary(&self) -> String {
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
/// A pipeline file with several `[[sink]]`s reads and transforms the
/// source once and then runs each sink as its own run (own plan, guards,
/// outcomes and report); the first sink's result is returned with the
/// others in [`RunResult::other_sinks`].
///
/// Errors before the run could begin (state store unusable or locked by
/// another run) are `Err`; everything after — including a source that
/// cannot be read or a sink that stops — ends the run as `aborted` with a
/// report, and is `Ok`.
pub async fn run(pipeline: &Pipeline, options: &RunOptions) -> Result<RunResult, EngineError> {
    let views = pipeline.views();
    // One run per provtjänst client on this machine, whatever the state
    // file (held until this function returns; see `crate::lock`).
    let _sink_locks = views
        .iter()
        .map(crate::lock::SinkLock::acquire)
        .collect::<Result<Vec<_>, _>>()?;
    let store = open_store(pipeline).await?;
    let mut runs = Vec::with_capacity(views.len());
    for view in &views {
        runs.push(SinkRun::begin(&store, view).await?);
    }
    let endings = if let ([view], [only]) = (views.as_slice(), runs.as_mut_slice()) {
        vec![execute(view, options, &store, only).await]
    } else {
        execute_shared(&views, options, &store, &mut runs).await
    };
    let mut results = Vec::with_capacity(runs.len());
    for ((run, view), ended) in runs.into_iter().zip(&views).zip(endings) {
        results.push(run.finish(view, ended).await?);
    }
    store.close().await;
    first_with_others(results, |first, others| first.other_sinks = others)
}

/// The first sink's result carrying the others' (`attach`), as [`run`] and
/// [`plan`](super::plan) return them.
pub(super) fn first_with_others<T>(
    results: Vec<T>,
    attach: impl FnOnce(&mut T, Vec<T>),
) -> Result<T, EngineError> {
    let mut results = results.into_iter();
    let mut first = results
        .next()
        .ok_or_else(|| EngineError::Internal("a pipeline without a sink".into()))?;
    attach(&mut first, results.collect());
    Ok(first)
}

/// One sink's run: its entry in the run history, its report and what it
/// learnt.
struct SinkRun {
    guard: crate::state::RunGuard,
    sink_identity: String,
    builder: ReportBuilder,
    state: RunState,
}

impl SinkRun {
    /// Takes the view's run lock and records the start of its run.
    async fn begin(store: &StateStore, view: &Pipeline) -> Result<SinkRun, EngineError> {
        let sink_identity = view.sink_identity();
        let guard = store
            .begin_sink_run(view.name(), &sink_identity, &view.run_lock_key())
            .await?;
        let run_id = guard.run_id().to_string();
        tracing::info!(run_id = %run_id, pipeline = view.name(), sink = %sink_identity, "run started");
        let mut builder = ReportBuilder::new(run_id, view.name(), Utc::now());
        if view.has_several_sinks() {
            builder.set_sink(format!("{}: {sink_identity}", view.sink_label()));
        }
        Ok(SinkRun {
            guard,
            sink_identity,
            builder,
            state: RunState::default(),
        })
    }

    fn run_id(&self) -> String {
        self.guard.run_id().to_string()
    }

    /// Ends the run: the report (checked to add up), the run history, the
    /// report files.
    async fn finish(
        self,
        view: &Pipeline,
        ended: Result<Ended, EngineError>,
    ) -> Result<RunResult, EngineError> {
        let SinkRun {
            guard,
            builder,
            mut state,
            ..
        } = self;
        let ended = ended.unwrap_or_else(|e| Ended::failed(&e));
        let finished = Utc::now();
        let usage_error = matches!(ended, Ended::Failed { usage: true, .. });
        let mut report = match &ended {
            Ended::Completed => builder.finish(finished),
            Ended::Stopped(reason) => builder.finish_aborted(finished, reason),
            Ended::Interrupted(reason) => {
                tracing::warn!("{reason}");
                builder.finish_interrupted(finished, reason)
            }
            Ended::Failed { reason, .. } => {
                tracing::error!("run aborted: {reason}");
                builder.finish_aborted(finished, reason)
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
        if !inconsistencies.is_empty() && report.outcome == RunOutcome::Success {
            // Numbers that do not add up mean something may have been lost:
            // never call that a success.
            report.outcome = RunOutcome::Partial;
        }
        let counts = serde_json::to_value(report.counts).unwrap_or_default();
        guard
            .finish(report.outcome, report.abort_reason.as_deref(), &counts)
            .await?;
        let paths = match write_reports(&report, &view.reports_dir) {
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
        Ok(RunResult {
            report,
            paths,
            plan: state.plan,
            violations: state.violations,
            anomalies: state.anomalies,
            usage_error,
            inconsistencies,
            other_sinks: Vec::new(),
        })
    }
}

/// How a sink's run ended.
#[derive(Debug, Clone)]
pub(super) enum Ended {
    Completed,
    Stopped(String),
    /// A signal stopped it; why and when.
    Interrupted(String),
    /// An error ended it; `usage`: a wrong pipeline file (exit code 2).
    Failed {
        reason: String,
        usage: bool,
    },
}

impl Ended {
    fn failed(error: &EngineError) -> Ended {
        Ended::Failed {
            reason: format!("{error:#}"),
            usage: error.exit_code() == EXIT_USAGE,
        }
    }
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

/// The stages of a one-sink run, from the read to the recorded load;
/// [`run`] wraps them in the lock, the run history and the report.
async fn execute(
    pipeline: &Pipeline,
    options: &RunOptions,
    store: &StateStore,
    run: &mut SinkRun,
) -> Result<Ended, EngineError> {
    // A pipeline that exports the raw source (SS 12000 files) has no plan:
    // write and be done.
    if pipeline.sink().delivery() == Delivery::Snapshot {
        let writer = skolsync_sink::snapshot_writer(pipeline.sink(), &pipeline.build_context())?;
        return write_snapshot(pipeline, &writer, options, &mut run.builder).await;
    }
    // Built once, before the source is read, so a mistake in `[sink]`
    // (a certificate, a URL) is reported first.
    let sink = build_run_sink(pipeline, options, store, run).await?;
    let transformed = match read_and_transform(pipeline, options, store).await? {
        Ok(transformed) => transformed,
        Err(ended) => return Ok(ended),
    };
    deliver(pipeline, options, store, run, sink, transformed).await
}

/// The runs of a pipeline with several sinks: every sink built first (one
/// with a mistake ends its own run, the others go on), then one read and
/// transform, then each sink's plan and delivery in the file's order.
async fn execute_shared(
    views: &[Pipeline],
    options: &RunOptions,
    store: &StateStore,
    runs: &mut [SinkRun],
) -> Vec<Result<Ended, EngineError>> {
    let mut sinks = Vec::with_capacity(runs.len());
    for (view, run) in views.iter().zip(runs.iter_mut()) {
        sinks.push(build_run_sink(view, options, store, run).await);
    }
    let Some(first) = views.first() else {
        return Vec::new();
    };
    let shared = if sinks.iter().any(Result::is_ok) {
        read_and_transform(first, options, store).await
    } else {
        // Nothing to deliver to: no reason to read.
        Ok(Err(Ended::Stopped(
            "stopped before reading: no sink of the pipeline could be set up".into(),
        )))
    };
    // A read that failed or was interrupted ends every sink's run alike.
    let mut shared = match shared.unwrap_or_else(|e| Err(Ended::failed(&e))) {
        Ok(transformed) => Some(transformed),
        Err(ended) => {
            return sinks
                .into_iter()
                .map(|sink| sink.map(|_| ended.clone()))
                .collect();
        }
    };
    let last = sinks.iter().rposition(Result::is_ok);
    let mut endings = Vec::with_capacity(runs.len());
    for (i, ((view, run), sink)) in views.iter().zip(runs.iter_mut()).zip(sinks).enumerate() {
        let ended = match sink {
            Err(e) => Err(e),
            Ok(sink) => {
                // The last sink takes the transformed source; the others a copy.
                let transformed = if Some(i) == last {
                    shared.take()
                } else {
                    shared.clone()
                };
                match transformed {
                    Some(t) => deliver(view, options, store, run, sink, t).await,
                    None => Err(EngineError::Internal("the shared read went missing".into())),
                }
            }
        };
        endings.push(ended);
    }
    endings
}

/// Builds the sink of a run (with the run's id and `--force`).
async fn build_run_sink(
    pipeline: &Pipeline,
    options: &RunOptions,
    store: &StateStore,
    run: &SinkRun,
) -> Result<Box<dyn Sink>, EngineError> {
    let run_id = run.run_id();
    let setup = super::SinkSetup {
        store: Some(store),
        run_id: Some(&run_id),
        overwrite: options.force,
    };
    super::build_sink(pipeline, setup).await
}

/// Reads and transforms the source unless a signal comes first.
async fn read_and_transform(
    pipeline: &Pipeline,
    options: &RunOptions,
    store: &StateStore,
) -> Result<Result<Transformed, Ended>, EngineError> {
    unless_interrupted(
        &options.interrupt,
        "reading and transforming",
        transform(
            pipeline,
            store,
            &options.progress,
            PrepareOptions {
                record: true,
                full_read: options.full_read,
            },
        ),
    )
    .await
}

/// One sink's plan, guards, load and records, from the transformed source.
async fn deliver(
    pipeline: &Pipeline,
    options: &RunOptions,
    store: &StateStore,
    run: &mut SinkRun,
    sink: Box<dyn Sink>,
    transformed: Transformed,
) -> Result<Ended, EngineError> {
    let progress = &options.progress;
    let interrupt = &options.interrupt;
    let run_id = run.run_id();
    let sink_identity = run.sink_identity.as_str();
    let (builder, state) = (&mut run.builder, &mut run.state);
    let prepared = plan_for(pipeline, store, progress, transformed, sink, true).await?;
    builder.set_unit_names(prepared.unit_names.clone());
    builder.set_read(prepared.read_info.clone());
    builder.add_transform_counts(&prepared.counts);
    builder.add_rejects(&prepared.rejects);
    for kept in &prepared.kept_stale {
        let e = &kept.entity;
        builder.add_kept_stale(e.kind, e.id, &e.reject, kept.name.as_deref());
    }
    state.plan = Some(prepared.summary(store, sink_identity, false).await?);
    state.inconsistencies = transform_inconsistencies(&prepared);

    let violations = checked_guards(pipeline, store, &prepared, Some(&run_id)).await?;
    if let Some(reason) = stop_reason(&prepared.anomalies, &violations) {
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

    let mut confirmed: HashSet<(ObjectType, Uuid)> = confirmed_unchanged(&plan);
    let mut stopped = None;
    // A pull sink runs even with nothing to change: a notification an
    // earlier run could not deliver is made good now. So does a sink whose
    // deliveries await confirmation: a file written since the last
    // confirmed one, and now not wanted, is superseded.
    if plan.is_empty() && !sink.serves() && !sink.awaits_confirmation() {
        tracing::info!("0 changes: nothing to send");
    } else {
        stopped = load(
            &plan,
            sink.as_ref(),
            store,
            sink_identity,
            &run_id,
            builder,
            progress,
            interrupt,
            &mut confirmed,
        )
        .await?;
    }
    drop(plan);

    if stopped.is_none() {
        record_baselines(
            store,
            sink_identity,
            &source,
            &read,
            &kept_stale,
            &desired.member_counts,
            &confirmed,
        )
        .await?;
    }
    let keys = identity::record(store, desired.keys, &confirmed).await?;
    tracing::debug!(keys, "crosswalk recorded");
    Ok(stopped.unwrap_or(Ended::Completed))
}

/// A pipeline that exports the raw source (SS 12000 files): read the
/// source and write it, with no plan.
async fn write_snapshot(
    pipeline: &Pipeline,
    writer: &SnapshotWriter,
    options: &RunOptions,
    builder: &mut ReportBuilder,
) -> Result<Ended, EngineError> {
    let progress = &options.progress;
    let read = unless_interrupted(
        &options.interrupt,
        "reading",
        read_source(pipeline, progress),
    )
    .await?;
    let read = match read {
        Ok(read) => read,
        Err(ended) => return Ok(ended),
    };
    builder.add_rejects(&read.rejects);
    let written = writer.write(&read.snapshot).await?;
    for (file, n) in &written.files {
        progress.println(&format!("wrote {n} records to {file}"));
    }
    builder.add_written(written.files.values().sum::<usize>() as u64);
    Ok(Ended::Completed)
}

/// Why the run stops before sending, if it does. Both kinds of stop are
/// worked out, so one stopped run names every reason at once.
fn stop_reason(anomalies: &[ReadAnomaly], violations: &[Violation]) -> Option<String> {
    let mut reasons = Vec::new();
    if !anomalies.is_empty() {
        reasons.push(format!("the read looks broken: {}", joined(anomalies)));
    }
    if !violations.is_empty() {
        reasons.push(format!("stopped by the guards: {}", joined(violations)));
    }
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// `items` as one line, `; `-separated.
fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
