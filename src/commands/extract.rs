//! `skolsync extract PIPELINE --out DIR`: read the pipeline's source and
//! write what it yields as JSON Lines, one file per entity type plus the
//! deletions and the rejects, so people can inspect a source before
//! provisioning anything.
//!
//! The file is loaded as every command loads it (line numbers and
//! suggestions in errors, `[sandbox]` started when enabled), but only the
//! `[source]` is used: references elsewhere need not expand, so the sink's
//! secrets need not be set. Relative paths are taken from the file's folder.
//! Batches are written as they arrive, so memory stays at a few pages. The
//! files hold personal data (personnummer) in full: treat them like the
//! source itself.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use skolsync::engine::{EXIT_ABORTED, EXIT_USAGE};
use skolsync::pipeline::Pipeline;
use skolsync::terminal::{escape, scrubbed};
use skolsync_connectors::{Batch, EntityVisitor, ReadOptions, ReadProgress};
use skolsync_model::by_kind;
use skolsync_model::ss12000::{EntityKind, SourceId};
use skolsync_sink::file::JsonlFiles;

use super::common::{Failure, PipelineArgs};

/// Options of `skolsync extract`.
#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// The pipeline file; only its `[source]` is used.
    #[arg(value_name = "PIPELINE")]
    pub pipeline: PathBuf,

    /// Read from a sandbox that is already running: a file holding the JSON
    /// line `skolsync sandbox --json` prints.
    #[arg(long, value_name = "FILE")]
    pub sandbox_endpoints: Option<PathBuf>,

    /// Folder for the `.jsonl` files (created if missing; files are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Incremental read: only what changed after this RFC 3339 instant
    /// (e.g. 2026-08-20T00:00:00+02:00), plus deletions since then.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub modified_after: Option<DateTime<FixedOffset>>,
}

fn parse_time(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e})"))
}

/// The files written, in the order they are listed.
const FILES: [&str; 9] = [
    "organisations",
    "persons",
    "duties",
    "groups",
    "activities",
    "syllabuses",
    "programmes",
    "deleted",
    "rejects",
];

/// Carries out `skolsync extract`.
pub async fn execute(args: &ExtractArgs) -> Result<ExitCode, Failure> {
    let pipeline_args = PipelineArgs {
        pipeline: args.pipeline.clone(),
        sandbox_endpoints: args.sandbox_endpoints.clone(),
        state: None,
        reports_dir: None,
    };
    let mut options = pipeline_args.options().map_err(Failure::Usage)?;
    options.source_only = true;
    let pipeline = Pipeline::load(&args.pipeline, &options)
        .await
        .map_err(|e| Failure::Engine(e.into()))?;
    extract(args, &pipeline).await.map_err(Failure::Usage)
}

/// The nine output files, written through the file sink's JSON Lines
/// writer (owner-only files and folder).
struct Outputs(JsonlFiles);

impl Outputs {
    fn create(dir: &Path) -> anyhow::Result<Outputs> {
        Ok(Outputs(JsonlFiles::create(dir, &FILES)?))
    }

    fn write<T: Serialize>(&mut self, name: &'static str, items: &[T]) -> anyhow::Result<()> {
        Ok(self.0.write(name, items)?)
    }

    fn batch(&mut self, batch: &Batch) -> anyhow::Result<()> {
        // Each kind goes to the file named as its endpoint (`persons`, …).
        if let Some(written) = batch.visit_entities(self) {
            return written;
        }
        match batch {
            Batch::Rejects(v) => self.write("rejects", v),
            Batch::Deleted(d) => {
                for kind in EntityKind::ALL {
                    let ids: &Vec<SourceId> = by_kind!(kind, &d, |list| list);
                    let lines: Vec<Deleted<'_>> = ids
                        .iter()
                        .map(|id| Deleted {
                            entity: kind.type_name(),
                            id: id.as_str(),
                        })
                        .collect();
                    self.write("deleted", &lines)?;
                }
                Ok(())
            }
            Batch::Input(shape) => {
                for anomaly in &shape.anomalies {
                    tracing::warn!("{}", scrubbed(&anomaly.to_string()));
                }
                Ok(())
            }
            // Entity batches were written above; the extract's files carry
            // no locations (its rejects have theirs); `Complete` carries
            // nothing.
            _ => Ok(()),
        }
    }

    fn finish(self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        Ok(self.0.finish()?)
    }
}

impl EntityVisitor for Outputs {
    type Error = anyhow::Error;

    fn visit<T: Serialize>(&mut self, kind: EntityKind, entities: &[T]) -> anyhow::Result<()> {
        self.write(kind.endpoint(), entities)
    }
}

/// One line of `deleted.jsonl`.
#[derive(Serialize)]
struct Deleted<'a> {
    entity: &'a str,
    id: &'a str,
}

async fn extract(args: &ExtractArgs, pipeline: &Pipeline) -> anyhow::Result<ExitCode> {
    let source = match skolsync_connectors::build(&pipeline.file.source, &pipeline.build_context())
    {
        Ok(s) => s,
        Err(err) => {
            eprintln!(
                "skolsync: {}",
                scrubbed(&format!("{}: {err}", args.pipeline.display()))
            );
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut outputs = Outputs::create(&args.out)?;
    let progress = ReadProgress::new();
    let bar = progress_bar(Arc::clone(&progress), source.describe());
    let mut stream = source.read(ReadOptions {
        modified_after: args.modified_after,
        progress: Some(Arc::clone(&progress)),
    });
    let mut watermark = None;
    let mut complete = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(Batch::Complete { watermark: w }) => {
                watermark = w;
                complete = true;
            }
            Ok(batch) => outputs.batch(&batch)?,
            Err(err) => {
                bar.abandon();
                let _ = outputs.finish();
                eprintln!(
                    "skolsync: {}",
                    scrubbed(&format!("reading {} failed: {err}", source.describe()))
                );
                return Ok(ExitCode::from(EXIT_ABORTED));
            }
        }
    }
    bar.finish_and_clear();
    let counts = outputs.finish()?;
    if !complete {
        eprintln!("skolsync: the source stopped before the read was complete");
        return Ok(ExitCode::from(EXIT_ABORTED));
    }
    println!(
        "Read {} into {}",
        escape(&source.describe()),
        escape(&args.out.display().to_string())
    );
    for name in FILES {
        println!(
            "  {:<16}{:>10}",
            format!("{name}.jsonl"),
            counts.get(name).copied().unwrap_or(0)
        );
    }
    if let Some(w) = watermark {
        println!(
            "Watermark for the next incremental read: {}",
            w.to_rfc3339()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A spinner with the counts per type on a terminal; nothing otherwise.
fn progress_bar(progress: Arc<ReadProgress>, what: String) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(format!("reading {what}"));
    let ticker = bar.clone();
    tokio::spawn(async move {
        while !ticker.is_finished() {
            let p = &progress;
            ticker.set_message(format!(
                "organisations {} · persons {} · duties {} · groups {} · activities {} · rejects {}",
                p.entities(EntityKind::Organisation),
                p.entities(EntityKind::Person),
                p.entities(EntityKind::Duty),
                p.entities(EntityKind::Group),
                p.entities(EntityKind::Activity),
                p.rejects()
            ));
            ticker.tick();
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    });
    bar
}
