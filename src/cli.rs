//! The command line: global options and the subcommands.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::confirm_upload::ConfirmUploadArgs;
use crate::commands::extract::ExtractArgs;
use crate::commands::history::HistoryArgs;
use crate::commands::open_data::OpenDataArgs;
use crate::commands::plan::PlanArgs;
use crate::commands::reconcile::ReconcileArgs;
use crate::commands::run::RunArgs;
use crate::commands::sandbox::SandboxArgs;
use crate::commands::serve::ServeArgs;
use crate::commands::status::StatusArgs;
use crate::commands::validate::ValidateArgs;
use crate::commands::watch::WatchArgs;

/// What `skolsync --help` says about the tool as a whole.
const ABOUT: &str = "Provision school data into Skolverket's provtjänst.";

const LONG_ABOUT: &str = "\
skolsync reads school data from SS 12000 sources (IST EduCloud, any SS 12000 v2 API, \
CSV exports), maps it to the profile of Skolverket's provtjänst (the test service for the \
digital national tests) and provisions it through the Provisioning API or into files. \
A declarative pipeline file names the source, the scope and the sink; skolsync sends only \
what changed since the last run, in the order the service requires, within its limits, and \
reports every record that was rejected or held back and why. Personnummer are masked in \
every log and report.

Start with the demo, which needs nothing else installed:

  skolsync run pipelines/demo.toml

Exit codes of run (and of the other commands where they apply):
  0  everything landed, or nothing needed to change
  1  an unexpected error
  2  the pipeline file or the command line is wrong
  3  the run completed, but some records were rejected, refused, failed or held back
     (see the report)
  4  the run was aborted: stopped by a guard, another run holds the lock, the source or
     the sink failed, or it was interrupted; what was confirmed is recorded, run again
     to finish";

/// The parsed command line.
#[derive(Debug, Parser)]
#[command(name = "skolsync", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Logging options, valid before or after the subcommand.
    #[command(flatten)]
    pub logging: LoggingArgs,

    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands. Each arrives with the capability it drives.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a pipeline file (keys, values, files it names); with --online
    /// also get tokens and reach every service it names.
    Validate(ValidateArgs),
    /// Read the source, map it and compare with what was sent before: how
    /// many creates, updates, deletes, unchanged and rejected per type.
    /// Changes nothing.
    Plan(PlanArgs),
    /// Plan, then send the changes: Person → Duty → Group → Activity, every
    /// outcome recorded as it arrives (an interrupted run resumes where it
    /// stopped); writes reports/<pipeline>/<run-id>.json and .html. Exit
    /// codes: 0 all landed, 3 some records rejected/failed/held back, 4
    /// aborted (guard, lock, source or sink failure). A pipeline with several
    /// `[[sink]]`s reads the source once and runs each sink (one report
    /// each); the exit code is the worst of them.
    Run(RunArgs),
    /// Run pipelines continuously until Ctrl-C/SIGTERM: at start, at the
    /// cron times of their `[schedule]`, and when their source notifies a
    /// change (SS 12000 subscriptions, served over HTTPS), one run at a
    /// time per pipeline, one summary line per run.
    Watch(WatchArgs),
    /// Serve pipelines with an `ss12000-pull` sink as SS 12000 APIs for
    /// Skolverket's SS12000 client (the pull method), over HTTPS with its
    /// JWT checked, until Ctrl-C/SIGTERM; one config file names them.
    Serve(ServeArgs),
    /// Record that an upload workbook (a `skolverket-file` sink's file) was
    /// uploaded in Administration provtjänsten: the next file then holds
    /// only what changed after it, with `Ta bort` = Ja for what ended. A
    /// file never confirmed is superseded by the next run's.
    ConfirmUpload(ConfirmUploadArgs),
    /// The pipeline's past runs, newest first.
    History(HistoryArgs),
    /// The last known outcome of one entity: what was sent, what Skolverket
    /// answered.
    Status(StatusArgs),
    /// Rebuild the state from what the provtjänst holds (its read
    /// endpoints), e.g. after losing the state file.
    Reconcile(ReconcileArgs),
    /// Print the JSON Schema of pipeline files.
    Schema,
    /// Skolverket's open-data (school units, programmes, test activities):
    /// `pull` saves a snapshot file for offline runs (`open_data_file`).
    OpenData(OpenDataArgs),
    /// Read the pipeline's source and write what it yields as JSON Lines
    /// (organisations.jsonl, persons.jsonl, …, deleted.jsonl, rejects.jsonl)
    /// into a folder, with the counts, to inspect a source before provisioning.
    Extract(ExtractArgs),
    /// Serve local emulators of Skolverket's provtjänst (authorisation server
    /// with mutual TLS, Provisioning API, Open-data API) and IST EduCloud,
    /// filled with a generated municipality, until Ctrl-C.
    Sandbox(SandboxArgs),
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; coloured on a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Options that control logging.
#[derive(Debug, Args)]
pub struct LoggingArgs {
    /// Log format: `human` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true, env = "SKOLSYNC_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// More detail: -v for debug, -vv for trace. RUST_LOG, when set, wins.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}
