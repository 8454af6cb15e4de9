//! `skolsync serve CONFIG`: run the long-lived service — today the pull
//! APIs Skolverket's SS12000 client calls — until Ctrl-C or SIGTERM. The
//! work is [`skolsync::serve`]'s; this command loads the config, prints
//! where each API is reached and maps errors to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use skolsync::engine::{EXIT_ERROR, EXIT_USAGE, EngineError, Interrupt};
use skolsync::serve::config::ServeConfig;
use skolsync::serve::host::pull_host;

use super::common::Failure;

/// What `skolsync serve --help` adds after the options.
const AFTER_HELP: &str = "\
skolsync serve is the huvudman's SS 12000 API of Skolverket's pull method. Each [[pull]]
pipeline of the config (its [sink] kind = \"ss12000-pull\") is served under its own path:
`skolsync run` writes the transformed DNP profile into the pipeline's state store, and
serve hands it to Skolverket's SS12000 client, which
  - subscribes (POST/PATCH/DELETE /subscriptions) once the municipality registers the API's
    location (printed at start) in Administration provtjänsten,
  - fetches /organisations, /persons, /groups, /duties, /activities and /deletedEntities
    when a run notifies it of changes,
  - posts back what it could not take (POST /log) and what it took (POST /statistics).

Every call must carry Skolverket's JWT: signed by a key of the authorisation server's JWKS,
valid now, organization_id SE2021004185, and granting ss12000-api access to the API's
location. Anything else is answered 401 or 403 and nothing is served. /healthz answers
without a token (no data).

The config file (TOML):

  [server]
  listen = \"0.0.0.0:8443\"
  public_url = \"https://skolsync.example.se\"   # location = public_url + path
  tls_cert = \"/etc/skolsync/server.crt\"        # PEM chain
  tls_key = \"/etc/skolsync/server.key\"
  # plain_http = true                          # only behind a TLS-terminating proxy

  [auth]
  environment = \"production\"                   # Skolverket's authorisation server

  [watch]                                      # only for pipelines with run = true
  listen = \"0.0.0.0:8444\"                      # their sources' change notifications

  [[pull]]
  pipeline = \"pipelines/linkoping.toml\"        # relative to the config file
  path = \"/ss12000/linkoping\"                  # default \"/\" + the pipeline's name
  subscription_days = 90
  # run = true      # also run the pipeline here, as `skolsync watch` does (at start, on its
                    # [schedule], on source changes); its secrets must then be set

Exit codes: 0 stopped by a signal (or --check found nothing wrong); 1 the service could not
start or failed (e.g. the port is taken); 2 the config file is wrong.";

/// Options of `skolsync serve`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct ServeArgs {
    /// The serve config file (TOML), e.g. `serve.toml`.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// Check the config file (and the pipelines and certificate it names),
    /// print what would be served, and exit.
    #[arg(long)]
    pub check: bool,
}

/// Runs the command.
pub async fn execute(args: &ServeArgs) -> Result<ExitCode, Failure> {
    let config = match ServeConfig::load(&args.config).await {
        Ok(config) => config,
        Err(problems) => {
            let text = format!("{}: {problems}", args.config.display());
            eprintln!("skolsync: {}", skolsync::terminal::escape_lines(&text));
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    for api in &config.apis {
        println!(
            "pipeline {}: {} (subscriptions live {} days)",
            api.pipeline.name(),
            api.location,
            api.subscription_lifetime.as_secs() / 86_400
        );
    }
    if args.check {
        println!("{}: OK", args.config.display());
        return Ok(ExitCode::SUCCESS);
    }
    let host = match pull_host(&config).await {
        Ok(host) => host,
        Err(e) => {
            eprintln!("skolsync: {}", skolsync_model::error_chain(&e));
            return Ok(ExitCode::from(EXIT_ERROR));
        }
    };
    let running = match host.start() {
        Ok(running) => running,
        Err(e) => {
            eprintln!("skolsync: {}", skolsync_model::error_chain(&e));
            return Ok(ExitCode::from(EXIT_ERROR));
        }
    };
    let scheme = if running.is_tls() { "https" } else { "http" };
    println!("listening on {scheme}://{}", running.local_addr());
    let stop = Interrupt::listen();
    running
        .run_until(async {
            let signal = stop.wait().await;
            eprintln!("skolsync: {signal}: stopping");
        })
        .await
        .map_err(|e| Failure::Engine(EngineError::Internal(skolsync_model::error_chain(&e))))?;
    Ok(ExitCode::SUCCESS)
}
