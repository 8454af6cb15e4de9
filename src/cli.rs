//! The command line: global options and the subcommands.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::sandbox::SandboxArgs;

/// What `skolsync --help` says about the tool as a whole.
const ABOUT: &str = "Provision school data into Skolverket's provtjänst.";

const LONG_ABOUT: &str = "\
skolsync reads school data from SS 12000 sources (IST EduCloud, any SS 12000 v2 API, \
CSV exports), maps it to the profile of Skolverket's provtjänst (the test service for the \
digital national tests) and provisions it through the Provisioning API or into files. \
A declarative pipeline file names the source, the scope and the sink; skolsync sends only \
what changed since the last run, in the order the service requires, within its limits, and \
reports every record that was rejected or held back and why. Personnummer are masked in \
every log and report.";

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
