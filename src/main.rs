//! `skolsync`: provision SS 12000 school data into Skolverket's provtjänst.
//!
//! The binary parses the command line, sets up logging once, and hands the
//! chosen command to the engine. Errors reach the user as one readable
//! message with its causes, never as a panic or a stack trace.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(err) = logging::init(&cli.logging) {
        eprintln!("skolsync: {err:#}");
        return ExitCode::from(skolsync::engine::EXIT_USAGE);
    }
    match cli.command {
        None => {
            // No command yet: show what the tool is and how to use it, and
            // say so in the exit code so scripts do not mistake it for work.
            let mut cmd = <cli::Cli as clap::CommandFactory>::command();
            let _ = cmd.print_help();
            ExitCode::from(skolsync::engine::EXIT_USAGE)
        }
        Some(cli::Command::Sandbox(args)) => report(commands::sandbox::run(&args)),
        Some(cli::Command::Extract(args)) => report(commands::common::block_on(
            commands::extract::execute(&args),
        )),
        Some(cli::Command::Validate(args)) => report(commands::common::block_on(
            commands::validate::execute(&args),
        )),
        Some(cli::Command::Plan(args)) => {
            report(commands::common::block_on(commands::plan::execute(&args)))
        }
        Some(cli::Command::Run(args)) => {
            report(commands::common::block_on(commands::run::execute(&args)))
        }
        Some(cli::Command::Watch(args)) => {
            report(commands::common::block_on(commands::watch::execute(&args)))
        }
        Some(cli::Command::Serve(args)) => {
            report(commands::common::block_on(commands::serve::execute(&args)))
        }
        Some(cli::Command::ConfirmUpload(args)) => report(commands::common::block_on(
            commands::confirm_upload::execute(&args),
        )),
        Some(cli::Command::History(args)) => report(commands::common::block_on(
            commands::history::execute(&args),
        )),
        Some(cli::Command::Status(args)) => {
            report(commands::common::block_on(commands::status::execute(&args)))
        }
        Some(cli::Command::Reconcile(args)) => report(commands::common::block_on(
            commands::reconcile::execute(&args),
        )),
        Some(cli::Command::Schema) => report(commands::schema::run()),
        Some(cli::Command::OpenData(args)) => report(commands::open_data::run(&args)),
    }
}

/// Turns a command's outcome into the exit code, printing an error with its
/// causes (never a stack trace).
fn report(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("skolsync: {err:#}");
            ExitCode::from(skolsync::engine::EXIT_ERROR)
        }
    }
}
