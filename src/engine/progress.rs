//! Progress bars: one line per stage (read, transform, plan) and, while
//! loading, one bar per entity type, on stderr. Hidden when stderr is not
//! a terminal (cron, CI, pipes) and in `--json` mode, so logs and machine
//! output stay clean.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skolsync_connectors::ReadProgress;
use skolsync_model::ObjectType;
use skolsync_model::by_type;
use skolsync_model::plan::{Plan, SEND_ORDER};
use skolsync_model::ss12000::EntityKind;

/// The progress display of one command.
#[derive(Debug, Clone)]
pub struct Progress {
    multi: MultiProgress,
}

impl Progress {
    /// Bars on stderr if `wanted` and stderr is a terminal; hidden otherwise.
    pub fn new(wanted: bool) -> Progress {
        let target = if wanted && std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// No bars at all (tests, `--json`).
    pub fn hidden() -> Progress {
        Progress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    /// Whether anything is drawn.
    pub fn is_hidden(&self) -> bool {
        self.multi.is_hidden()
    }

    /// A spinner for a stage, e.g. `transform`.
    pub fn stage(&self, name: &str) -> Stage {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<10} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Stage { bar }
    }

    /// Watches a source read: a spinner counting entities per type.
    pub fn read(&self, counters: Arc<ReadProgress>) -> ReadStage {
        let stage = self.stage("read");
        let bar = stage.bar.clone();
        let watcher = counters.clone();
        let ticker = tokio::spawn(async move {
            loop {
                bar.set_message(read_message(&watcher));
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        });
        ReadStage {
            stage: Some(stage),
            counters,
            ticker,
        }
    }

    /// One bar per entity type with something to send.
    pub fn load(&self, plan: &Plan) -> LoadBars {
        let style =
            ProgressStyle::with_template("  {prefix:<10} [{bar:30}] {pos:>6}/{len:<6} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        let mut bars = BTreeMap::new();
        for kind in SEND_ORDER {
            let len = planned(plan, kind);
            if len == 0 {
                continue;
            }
            let bar = self.multi.add(ProgressBar::new(len as u64));
            bar.set_style(style.clone());
            bar.set_prefix(kind.as_str().to_lowercase());
            bars.insert(kind, bar);
        }
        LoadBars { bars }
    }

    /// Prints a line above the bars (or plainly when hidden, to stderr).
    pub fn println(&self, line: &str) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

/// Creates + updates + deletes of `kind`.
pub(crate) fn planned(plan: &Plan, kind: ObjectType) -> usize {
    by_type!(kind, &plan, |p| p.create.len()
        + p.update.len()
        + p.delete.len())
}

fn read_message(p: &ReadProgress) -> String {
    let parts: Vec<String> = [
        (EntityKind::Organisation, "organisations"),
        (EntityKind::Person, "persons"),
        (EntityKind::Duty, "duties"),
        (EntityKind::Group, "groups"),
        (EntityKind::Activity, "activities"),
    ]
    .into_iter()
    .map(|(kind, name)| format!("{} {name}", p.entities(kind)))
    .collect();
    let mut text = parts.join(", ");
    if p.rejects() > 0 {
        text.push_str(&format!(", {} rejected", p.rejects()));
    }
    text
}

/// A stage's spinner.
#[derive(Debug)]
pub struct Stage {
    bar: ProgressBar,
}

impl Stage {
    /// Updates the message.
    pub fn message(&self, text: impl Into<String>) {
        self.bar.set_message(text.into());
    }

    /// Ends the stage with a final message, left on screen.
    pub fn done(self, text: impl Into<String>) {
        self.bar.finish_with_message(text.into());
    }

    /// Ends the stage as failed.
    pub fn failed(self, text: impl Into<String>) {
        self.bar.abandon_with_message(text.into());
    }
}

/// The read stage's spinner and its ticker.
#[derive(Debug)]
pub struct ReadStage {
    stage: Option<Stage>,
    counters: Arc<ReadProgress>,
    ticker: tokio::task::JoinHandle<()>,
}

impl ReadStage {
    /// Ends the read stage.
    pub fn done(mut self, ok: bool) {
        self.ticker.abort();
        let text = read_message(&self.counters);
        match self.stage.take() {
            Some(stage) if ok => stage.done(text),
            Some(stage) => stage.failed(format!("{text} — failed")),
            None => {}
        }
    }
}

impl Drop for ReadStage {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

/// The load stage's bars.
#[derive(Debug)]
pub struct LoadBars {
    bars: BTreeMap<ObjectType, ProgressBar>,
}

impl LoadBars {
    /// One more outcome of `kind`.
    pub fn inc(&self, kind: ObjectType, failed: bool) {
        if let Some(bar) = self.bars.get(&kind) {
            bar.inc(1);
            if failed {
                bar.set_message("with problems");
            }
        }
    }

    /// Leaves the bars on screen, finished.
    pub fn finish(self) {
        for bar in self.bars.values() {
            bar.finish();
        }
    }
}
