//! The worker of one pipeline: takes the next due request from its
//! [`RunQueue`], runs the pipeline as `skolsync run` would
//! ([`engine::run`]), and hands over a [`RunRecord`] per run.
//!
//! A run that fails (the source is down, another run holds the lock, a
//! guard stops it) is recorded and logged, and the worker goes on: the
//! next trigger runs the pipeline again.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use tokio::time::Instant;

use super::queue::{Request, RunQueue};
use crate::engine::{self, EngineError, Interrupt, RunOptions, RunResult};
use crate::pipeline::Pipeline;
use crate::report::{RunOutcome, TypeCounts};

/// How one run ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// The run got as far as a report.
    Ran {
        /// `success`, `partial`, `aborted` or `interrupted`.
        outcome: RunOutcome,
        /// What `skolsync run` would have exited with.
        exit_code: u8,
        /// All types together.
        counts: TypeCounts,
        /// Why it was aborted or interrupted.
        reason: Option<String>,
        /// The JSON report, if written.
        report: Option<PathBuf>,
    },
    /// The run could not begin (state store unusable, locked by another
    /// run, …).
    Failed {
        /// Why, with its causes.
        error: String,
    },
}

/// One run of a watched pipeline, for the summary line and the log.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The pipeline.
    pub pipeline: String,
    /// What asked for the run.
    pub request: Request,
    /// When it ended.
    pub finished: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// How it ended.
    pub ended: Ended,
}

/// How bad an outcome is, for the worst of several sinks' runs.
fn outcome_rank(outcome: crate::report::RunOutcome) -> u8 {
    use crate::report::RunOutcome;
    match outcome {
        RunOutcome::Success => 0,
        RunOutcome::Partial => 1,
        RunOutcome::Interrupted => 2,
        RunOutcome::Aborted => 3,
    }
}

impl RunRecord {
    fn new(
        pipeline: &str,
        request: Request,
        duration: Duration,
        result: Result<RunResult, EngineError>,
    ) -> RunRecord {
        let ended = match result {
            Ok(result) => {
                // Several sinks: the worst outcome and the first reason; the
                // counts and report are the first sink's (each sink's report
                // is written beside it).
                let outcome = result
                    .every_sink()
                    .map(|r| r.report.outcome)
                    .max_by_key(|o| outcome_rank(*o))
                    .unwrap_or(result.report.outcome);
                let reason = result
                    .every_sink()
                    .find_map(|r| r.report.abort_reason.clone());
                Ended::Ran {
                    outcome,
                    exit_code: result.exit_code(),
                    counts: result.report.counts.sum(),
                    reason,
                    report: result.paths.map(|p| p.json),
                }
            }
            Err(e) => Ended::Failed {
                error: crate::report::mask::scrub(&skolsync_model::error_chain(&e)),
            },
        };
        RunRecord {
            pipeline: pipeline.to_string(),
            request,
            finished: Utc::now(),
            duration,
            ended,
        }
    }

    /// Whether the run landed everything (exit code 0).
    pub fn succeeded(&self) -> bool {
        matches!(self.ended, Ended::Ran { exit_code: 0, .. })
    }

    /// Logs the run: info when it succeeded, a warning when it did not
    /// finish cleanly, an error when it could not begin.
    pub fn log(&self) {
        let pipeline = self.pipeline.as_str();
        let trigger = self.request.trigger.to_string();
        match &self.ended {
            Ended::Ran { exit_code: 0, .. } => {
                tracing::info!(pipeline, trigger, "run finished: {self}");
            }
            Ended::Ran { .. } => tracing::warn!(pipeline, trigger, "run finished: {self}"),
            Ended::Failed { .. } => tracing::error!(pipeline, trigger, "run failed: {self}"),
        }
    }
}

/// One line: when, pipeline, trigger, outcome, counts, duration, report.
impl fmt::Display for RunRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} trigger=\"{}\"",
            self.finished.to_rfc3339_opts(SecondsFormat::Secs, true),
            self.pipeline,
            self.request.trigger
        )?;
        if self.request.coalesced > 0 {
            write!(f, " (+{} coalesced)", self.request.coalesced)?;
        }
        match &self.ended {
            Ended::Ran {
                outcome,
                counts: c,
                reason,
                report,
                ..
            } => {
                write!(
                    f,
                    " outcome={} created={} updated={} deleted={} unchanged={} rejected={} \
                     failed={} held_back={}",
                    outcome.as_str(),
                    c.created,
                    c.updated,
                    c.deleted,
                    c.unchanged,
                    c.rejected,
                    c.error + c.delete_failed,
                    c.held_back
                )?;
                write!(f, " duration={:.1}s", self.duration.as_secs_f64())?;
                if let Some(reason) = reason {
                    write!(f, " reason=\"{}\"", crate::terminal::escape(reason))?;
                }
                if let Some(report) = report {
                    write!(f, " report={}", report.display())?;
                }
                Ok(())
            }
            Ended::Failed { error } => write!(
                f,
                " outcome=error duration={:.1}s error=\"{}\"",
                self.duration.as_secs_f64(),
                crate::terminal::escape(error)
            ),
        }
    }
}

/// Runs `pipeline` whenever its queue has a run due, until the queue is
/// closed. `interrupt` makes what stops each run early (the CLI listens
/// for SIGINT/SIGTERM); `on_run` gets every run's record.
pub async fn work(
    pipeline: &Pipeline,
    mut queue: RunQueue,
    interrupt: impl Fn() -> Interrupt,
    mut on_run: impl FnMut(RunRecord),
) {
    while let Some(request) = queue.next().await {
        // Listen before the last look at the queue: a signal from here on
        // reaches the run, one before it has closed the queue.
        let interrupt = interrupt();
        if queue.is_closed() {
            break;
        }
        tracing::info!(
            pipeline = pipeline.name(),
            trigger = %request.trigger,
            "run starting"
        );
        let started = Instant::now();
        let options = RunOptions {
            interrupt,
            ..RunOptions::default()
        };
        let result = engine::run(pipeline, &options).await;
        on_run(RunRecord::new(
            pipeline.name(),
            request,
            started.elapsed(),
            result,
        ));
    }
}
