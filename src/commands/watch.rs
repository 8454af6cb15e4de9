//! `skolsync watch PIPELINE…`: run pipelines continuously — at start, at
//! their `[schedule]` cron times, and when their source notifies a change
//! — until Ctrl-C or SIGTERM. The work is [`skolsync::watch::Watch`]'s;
//! this command loads the pipelines, prints one line per run and maps
//! signals and errors to exit codes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use skolsync::engine::{EXIT_ERROR, Interrupt};
use skolsync::pipeline::{Pipeline, SandboxHandle};
use skolsync::watch::receiver::config::DEFAULT_MAX_BODY_BYTES;
use skolsync::watch::{ReceiverConfig, RunRecord, Watch, WatchOptions};

use super::common::{Failure, PipelineArgs};

/// What `skolsync watch --help` adds after the options.
const AFTER_HELP: &str = "\
When a pipeline runs:
  - once at start (unless --no-initial-run), so whatever changed while nothing was watching
    is sent at once;
  - at every time of its [schedule] cron expressions (read in [schedule] timezone, default
    Europe/Stockholm);
  - when its source notifies a change, if the source offers SS 12000 subscriptions and
    [schedule] on_change is true (the default): watch registers a subscription at the
    source (POST /subscriptions) whose target is --public-url plus
    /notifications/<pipeline>/<secret>, renews it before it expires and removes it on exit.
    A notification waits [schedule] debounce_secs (default 30) from the first of a burst,
    so a burst of changes becomes one run. Sources without subscriptions (CSV files) run on
    the cron times only. A pipeline that nothing would run again is refused at start.

One run at a time per pipeline: what asks for a run while one goes on makes exactly one
more run after it. A run that fails is logged and watching goes on; the next trigger runs
the pipeline again. Each run prints one line on stdout: time, pipeline, trigger, outcome,
counts, duration and the report's path (reports are written as by `skolsync run`).

The change receiver (started only when a pipeline subscribes) speaks HTTPS with
--tls-cert and --tls-key (a single pipeline with an embedded [sandbox] gets a certificate
of the sandbox's CA without them). SS 12000 defines no authentication for notifications, so each
subscription's target carries a fresh random secret in its path; anything else is answered
404. Use --insecure-http only behind a reverse proxy that terminates TLS (and give the
proxy's https:// address as --public-url).

Ctrl-C or SIGTERM stops: no new runs start, a running run is interrupted as `skolsync run`
is (what was confirmed is recorded, the report says `interrupted`, the next run resumes),
subscriptions are removed at their sources, and watch exits 0. A second signal ends the
process at once.

Exit codes: 0 stopped by a signal; 1 an unexpected error (e.g. the receiver's address is
taken); 2 a pipeline file or an option is wrong.";

/// Options of `skolsync watch`.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct WatchArgs {
    /// The pipeline files (TOML) to watch, e.g. `pipelines/demo.toml`; each
    /// needs its own `name`.
    #[arg(value_name = "PIPELINE", required = true, num_args = 1..)]
    pub pipelines: Vec<PathBuf>,

    /// Run against a sandbox that is already running: a file holding the
    /// JSON line `skolsync sandbox --json` prints (as for `run`).
    #[arg(long, value_name = "FILE")]
    pub sandbox_endpoints: Option<PathBuf>,

    /// Write reports under this folder instead of each pipeline's
    /// `[report] dir`.
    #[arg(long, value_name = "DIR")]
    pub reports_dir: Option<PathBuf>,

    /// Where the change receiver listens for the sources' notifications.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// The URL sources reach the receiver at (what subscriptions are
    /// given as target, plus /notifications/…), e.g.
    /// `https://skolsync.kommun.se:8443`. Default: https://<--listen>.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,

    /// The receiver's TLS certificate (chain), PEM. A single pipeline with
    /// an embedded [sandbox] gets one of the sandbox's CA when this is not
    /// given.
    #[arg(long, value_name = "FILE", env = "SKOLSYNC_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert, PEM.
    #[arg(long, value_name = "FILE", env = "SKOLSYNC_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Let the receiver speak plain HTTP: only behind a reverse proxy that
    /// terminates TLS.
    #[arg(long)]
    pub insecure_http: bool,

    /// Do not run every pipeline once at start; wait for its first trigger.
    #[arg(long)]
    pub no_initial_run: bool,
}

impl WatchArgs {
    /// The options; `certificate` stands in for --tls-cert and --tls-key
    /// when they are not given.
    fn options(&self, certificate: Option<(PathBuf, PathBuf)>) -> WatchOptions {
        let (tls_cert, tls_key) = match certificate {
            Some((cert, key)) => (Some(cert), Some(key)),
            None => (self.tls_cert.clone(), self.tls_key.clone()),
        };
        WatchOptions {
            receiver: ReceiverConfig {
                listen: self.listen,
                public_url: self.public_url.clone(),
                tls_cert,
                tls_key,
                insecure_http: self.insecure_http,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            },
            initial_run: !self.no_initial_run,
        }
    }
}

/// Carries out `skolsync watch`.
pub async fn execute(args: &WatchArgs) -> Result<ExitCode, Failure> {
    // Signals from the start: one that arrives while the pipelines load
    // (an embedded sandbox takes seconds to start) still ends cleanly.
    let stop = Interrupt::listen();
    let mut pipelines = Vec::new();
    for path in &args.pipelines {
        let load = PipelineArgs {
            pipeline: path.clone(),
            sandbox_endpoints: args.sandbox_endpoints.clone(),
            state: None,
            reports_dir: args.reports_dir.clone(),
        };
        pipelines.push(load.load().await?);
        if stop.received().is_some() {
            return Ok(ExitCode::SUCCESS);
        }
    }
    let names: Vec<String> = pipelines
        .iter()
        .map(|p| format!("`{}`", p.name()))
        .collect();
    let certificate = sandbox_certificate(args, &pipelines).map_err(Failure::Usage)?;
    let watch = Watch::new(pipelines, &args.options(certificate)).map_err(|problems| {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Failure::Usage(anyhow::anyhow!("{}", text.join("\n")))
    })?;
    eprintln!(
        "skolsync: watching {}{}; Ctrl-C or SIGTERM stops",
        names.join(", "),
        if watch.uses_receiver() && args.listen.port() != 0 {
            format!(", change notifications on {}", args.listen)
        } else if watch.uses_receiver() {
            ", change notifications on the receiver (its port is logged)".to_string()
        } else {
            String::new()
        }
    );
    let shutdown = async move {
        let signal = stop.wait().await;
        eprintln!("skolsync: {signal}: stopping");
    };
    match watch.run(shutdown, Interrupt::listen, print_run).await {
        Ok(()) => {
            eprintln!("skolsync: stopped");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "skolsync: {}",
                skolsync::terminal::escape_lines(&e.to_string())
            );
            Ok(ExitCode::from(EXIT_ERROR))
        }
    }
}

/// Without --tls-cert, --tls-key and --insecure-http, a single pipeline
/// that runs against its embedded sandbox gets a receiver certificate of
/// that sandbox's CA, which the sandbox's webhooks trust: `skolsync watch
/// pipelines/demo.toml` needs nothing else. Nothing leaves the machine
/// there (the sandbox and the receiver are on loopback).
fn sandbox_certificate(
    args: &WatchArgs,
    pipelines: &[Pipeline],
) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
    if args.tls_cert.is_some() || args.tls_key.is_some() || args.insecure_http {
        return Ok(None);
    }
    let [pipeline] = pipelines else {
        return Ok(None);
    };
    let Some(SandboxHandle::Embedded(sandbox)) = pipeline.sandbox.as_deref() else {
        return Ok(None);
    };
    let identity = sandbox
        .pki()
        .issue_server_identity("watch-receiver")
        .context("could not issue the change receiver's certificate from the sandbox's CA")?;
    tracing::info!(
        cert = %identity.cert_path.display(),
        "the change receiver uses a certificate of the embedded sandbox's CA"
    );
    Ok(Some((identity.cert_path, identity.key_path)))
}

/// Logs a run and prints its summary line.
fn print_run(record: RunRecord) {
    record.log();
    println!("{record}");
}
