//! Logging, set up once per process.
//!
//! Logs go to stderr so stdout stays clean for `--json` output. `RUST_LOG`
//! (standard `tracing` filter syntax) overrides `-v`/`-q` when set.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::{LogFormat, LoggingArgs};

/// Installs the global subscriber according to the command-line options.
pub fn init(args: &LoggingArgs) -> anyhow::Result<()> {
    let default_level = match (args.quiet, args.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec)
            .with_context(|| format!("RUST_LOG=`{spec}` is not a valid log filter"))?,
        _ => EnvFilter::new(default_level),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match args.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
    };
    result.map_err(|err| anyhow::anyhow!("could not set up logging: {err}"))
}
