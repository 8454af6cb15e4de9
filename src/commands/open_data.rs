//! `skolsync open-data pull`: save Skolverket's open-data (school units,
//! programmes, national test activities) to a snapshot file, so pipelines
//! can run offline with `open_data_file` in their `[transform]` section.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use skolsync_connectors::open_data::{self, ClientOptions};
use skolsync_transform::{FetchScope, PRODUCTION_OPEN_DATA_URL};

/// Options of `skolsync open-data`.
#[derive(Debug, Args)]
pub struct OpenDataArgs {
    /// What to do with open-data.
    #[command(subcommand)]
    pub command: OpenDataCommand,
}

/// The `open-data` subcommands.
#[derive(Debug, Subcommand)]
pub enum OpenDataCommand {
    /// Read open-data from the API and write it to a snapshot file.
    Pull(PullArgs),
}

/// Options of `skolsync open-data pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Base URL of the Open-data API (the verification-test one is
    /// https://apigw-pre.skolverket.se/provtjanst/verifieringstest/open-data/v1).
    #[arg(long, value_name = "URL", default_value = PRODUCTION_OPEN_DATA_URL)]
    pub url: String,

    /// The snapshot file to write (JSON).
    #[arg(long, value_name = "FILE", default_value = "open-data.json")]
    pub out: PathBuf,

    /// Organisation number of an organiser (huvudman) whose school units to
    /// include; repeat for several.
    #[arg(long = "organisation", value_name = "ORGNR")]
    pub organisations: Vec<String>,

    /// A school unit code to include; repeat for several.
    #[arg(long = "school-unit", value_name = "CODE")]
    pub school_units: Vec<String>,
}

/// Runs `skolsync open-data …`.
pub fn run(args: &OpenDataArgs) -> anyhow::Result<ExitCode> {
    match &args.command {
        OpenDataCommand::Pull(pull) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("could not start the async runtime")?;
            runtime.block_on(pull_snapshot(pull))
        }
    }
}

async fn pull_snapshot(args: &PullArgs) -> anyhow::Result<ExitCode> {
    let scope = FetchScope {
        organisation_numbers: args
            .organisations
            .iter()
            .map(|n| n.trim().replace('-', ""))
            .collect(),
        school_unit_codes: args
            .school_units
            .iter()
            .map(|c| c.trim().to_string())
            .collect(),
    };
    if scope.organisation_numbers.is_empty() && scope.school_unit_codes.is_empty() {
        tracing::warn!(
            "no --organisation or --school-unit given: the snapshot holds programmes and test activities but no school units"
        );
    }
    let data = open_data::fetch(&args.url, &scope, &ClientOptions::default())
        .await
        .with_context(|| format!("could not read open-data from {}", args.url))?;
    data.save(&args.out)
        .with_context(|| format!("could not write {}", args.out.display()))?;
    println!(
        "wrote {}: {} organisations, {} school units, {} programmes, {} test activities",
        args.out.display(),
        data.organisations.len(),
        data.school_units.len(),
        data.programmes.len(),
        data.test_activities.len()
    );
    Ok(ExitCode::SUCCESS)
}
