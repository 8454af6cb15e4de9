//! `skolsync extract PIPELINE --out DIR`: read the pipeline's source and
//! write what it yields as JSON Lines, one file per entity type plus the
//! deletions and the rejects, so people can inspect a source before
//! provisioning anything.
//!
//! Only the `[source]` section is used (with `${env:..}`/`${file:..}`
//! expanded and relative paths taken from the pipeline file's folder).
//! Batches are written as they arrive, so memory stays at a few pages. The
//! files hold personal data (personnummer) in full: treat them like the
//! source itself.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use clap::Args;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use skolsync::pipeline::expand::expand_tree;
use skolsync::terminal::{escape, scrubbed};
use skolsync_connectors::{Batch, ReadOptions, ReadProgress, SourceConfig};
use skolsync_model::ss12000::{EntityKind, SourceId};
use skolsync_sink::file::JsonlFiles;

/// Exit code when the pipeline file is wrong.
const EXIT_CONFIG: u8 = 2;
/// Exit code when the source failed.
const EXIT_SOURCE: u8 = 4;

/// Options of `skolsync extract`.
#[derive(Debug, Clone, Args)]
pub struct ExtractArgs {
    /// The pipeline file; only its `[source]` section is read.
    #[arg(value_name = "PIPELINE")]
    pub pipeline: PathBuf,

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

/// Runs the command.
pub fn run(args: &ExtractArgs) -> anyhow::Result<ExitCode> {
    let (config, base_dir) = match load_source(&args.pipeline) {
        Ok(found) => found,
        Err(err) => {
            eprintln!("skolsync: {}", scrubbed(&format!("{err:#}")));
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(extract(args, &config, &base_dir))
}

/// The `[source]` section of `path`, expanded, and the folder paths in it
/// are relative to.
pub fn load_source(path: &Path) -> anyhow::Result<(SourceConfig, PathBuf)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the pipeline file {}", path.display()))?;
    let mut table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let base_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut section = table
        .remove("source")
        .with_context(|| format!("{} has no [source] section", path.display()))?;
    expand_tree(&mut section, &base_dir, "source")
        .with_context(|| format!("{}", path.display()))?;
    let config: SourceConfig = serde_path_to_error::deserialize(section).map_err(|err| {
        let at = err.path().to_string();
        let key = if at == "." || at.is_empty() {
            "source".to_string()
        } else {
            format!("source.{at}")
        };
        anyhow::anyhow!("{}: {key}: {}", path.display(), err.into_inner())
    })?;
    Ok((config, base_dir))
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
        match batch {
            Batch::Organisations(v) => self.write("organisations", v),
            Batch::Persons(v) => self.write("persons", v),
            Batch::Duties(v) => self.write("duties", v),
            Batch::Groups(v) => self.write("groups", v),
            Batch::Activities(v) => self.write("activities", v),
            Batch::Syllabuses(v) => self.write("syllabuses", v),
            Batch::Programmes(v) => self.write("programmes", v),
            Batch::Rejects(v) => self.write("rejects", v),
            Batch::Deleted(d) => {
                let lists: [(EntityKind, &Vec<SourceId>); 7] = [
                    (EntityKind::Organisation, &d.organisations),
                    (EntityKind::Person, &d.persons),
                    (EntityKind::Duty, &d.duties),
                    (EntityKind::Group, &d.groups),
                    (EntityKind::Activity, &d.activities),
                    (EntityKind::Syllabus, &d.syllabuses),
                    (EntityKind::Programme, &d.programmes),
                ];
                for (kind, ids) in lists {
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
            Batch::Complete { .. } => Ok(()),
        }
    }

    fn finish(self) -> anyhow::Result<BTreeMap<&'static str, u64>> {
        Ok(self.0.finish()?)
    }
}

/// One line of `deleted.jsonl`.
#[derive(Serialize)]
struct Deleted<'a> {
    entity: &'a str,
    id: &'a str,
}

async fn extract(
    args: &ExtractArgs,
    config: &SourceConfig,
    base_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let source =
        match skolsync_connectors::build(config, &skolsync_model::BuildContext::new(base_dir)) {
            Ok(s) => s,
            Err(err) => {
                eprintln!(
                    "skolsync: {}",
                    scrubbed(&format!("{}: {err}", args.pipeline.display()))
                );
                return Ok(ExitCode::from(EXIT_CONFIG));
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
                return Ok(ExitCode::from(EXIT_SOURCE));
            }
        }
    }
    bar.finish_and_clear();
    let counts = outputs.finish()?;
    if !complete {
        eprintln!("skolsync: the source stopped before the read was complete");
        return Ok(ExitCode::from(EXIT_SOURCE));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_source_section_is_expanded_and_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "s3cret\n").unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "name = \"x\"\n[source]\nkind = \"educloud\"\norg_identifier = \"SE00100\"\n\
             client_id = \"id\"\nclient_secret = \"${file:secret}\"\n[sink]\nkind = \"jsonl\"\n",
        )
        .unwrap();
        let (config, base) = load_source(&path).unwrap();
        assert_eq!(base, dir.path());
        let SourceConfig::Educloud(c) = config else {
            panic!("educloud expected")
        };
        assert_eq!(c.client_secret.expose(), "s3cret");
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            "[source]\nkind = \"educloud\"\norg_identifier = \"SE00100\"\n\
             client_id = \"${env:SKOLSYNC_SURELY_UNSET}\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        let err = format!("{:#}", load_source(&path).unwrap_err());
        assert!(
            err.contains("p.toml") && err.contains("source.client_id"),
            "{err}"
        );
        std::fs::write(&path, "[source]\nkind = \"ftp\"\n").unwrap();
        let err = format!("{:#}", load_source(&path).unwrap_err());
        assert!(err.contains("ftp"), "{err}");
        std::fs::write(&path, "name = \"x\"\n").unwrap();
        let err = format!("{:#}", load_source(&path).unwrap_err());
        assert!(err.contains("no [source] section"), "{err}");
    }
}
