//! `skolsync sandbox`: serve the local emulators of Skolverket's provtjänst
//! and IST EduCloud, filled with a generated municipality, until Ctrl-C.
//!
//! People get the URLs, certificate paths and credentials printed; scripts
//! pass `--json` and read the first stdout line, one JSON object with the
//! endpoints. Logs go to stderr so stdout stays parseable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use skolsync_sandbox::config::{
    DEFAULT_LATENCY_MS, DEFAULT_MAX_PAGE_SIZE, DEFAULT_SUBSCRIPTION_LIFETIME_SECS,
};
use skolsync_sandbox::{
    Endpoints, Faults, OverMaxPageSize, ProvisioningOptions, Sandbox, SandboxConfig, SourceFaults,
    SourceOptions, UnsettledListing,
};

/// Options of `skolsync sandbox`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Number of students in the generated municipality (50 to 1 200 000).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub students: usize,

    /// Seed of the generator and of fault injection: the same seed gives the
    /// same municipality and the same fault draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Serve on five consecutive ports from PORT (auth, provisioning,
    /// open-data, EduCloud, Skolverket's SS12000 client) instead of free
    /// ones, for reproducible URLs.
    #[arg(long, value_name = "PORT")]
    pub port_base: Option<u16>,

    /// Share (0–1) of generated records that are deliberately invalid
    /// (bad personnummer, staff without e-mail, unknown school units, …).
    #[arg(long, default_value_t = 0.0, value_name = "SHARE", value_parser = share)]
    pub dirt: f64,

    /// Write ca.pem, client.crt and client.key here (default: a fresh
    /// temporary directory, removed again on exit).
    #[arg(long, value_name = "DIR")]
    pub cert_dir: Option<PathBuf>,

    /// Lifetime of provtjänst access tokens, in seconds (`expires_in`).
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub token_lifetime: u64,

    /// How long bulk-job entities stay `Pending` before they settle, in ms.
    #[arg(long, default_value_t = 200, value_name = "MS")]
    pub job_delay_ms: u64,

    /// Time between two entities of one bulk job settling, in ms: a job
    /// status read mid-way is partial. 0 settles a whole job at once.
    #[arg(long, default_value_t = 1, value_name = "MS")]
    pub job_entity_interval_ms: u64,

    /// Leave entities that have not settled out of a job status instead of
    /// listing them as `Pending`.
    #[arg(long)]
    pub job_status_omits_pending: bool,

    /// `isCompleted` says `true` as soon as a job's first entity settled
    /// (an eventually consistent service), so clients must wait for the
    /// entities a job status does not list yet.
    #[arg(long)]
    pub job_completed_early: bool,

    /// Serve the Provisioning API over plain HTTP instead of HTTPS (with a
    /// certificate of the sandbox CA, `ca_cert`).
    #[arg(long)]
    pub provisioning_plain_http: bool,

    /// A further Provisioning API location the authorisation server grants
    /// tokens for (a proxy in front of the API); repeatable.
    #[arg(long = "token-location", value_name = "URL")]
    pub token_locations: Vec<String>,

    /// Fault: answer this many provisioning calls in a row with 429, then recover.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub fault_429_burst: u32,

    /// Fault (provtjänst: Provisioning API and open-data): share (0–1) of
    /// calls answered with a 5xx.
    #[arg(long = "fault-5xx", default_value_t = 0.0, value_name = "SHARE", value_parser = share)]
    pub fault_5xx: f64,

    /// Fault: share (0–1) of entities whose first job outcome is `TemporaryError`.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE", value_parser = share)]
    pub fault_temporary_error: f64,

    /// Fault (provtjänst: Provisioning API and open-data): extra delay
    /// before every answer, in ms.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub fault_slow_ms: u64,

    /// Fault: share (0–1) of provisioning requests answered by closing the
    /// connection without a response.
    #[arg(long, default_value_t = 0.0, value_name = "SHARE", value_parser = share)]
    pub fault_drop: f64,

    /// Fault: extra time every bulk job stays `Pending`, in ms.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub fault_pending_ms: u64,

    /// Fault: provtjänst access tokens stop being accepted this many seconds
    /// before their `expires_in` runs out (the source's tokens are not
    /// touched).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub fault_token_early_expiry: u64,

    /// Source side (EduCloud and SS 12000 APIs only): the first N calls
    /// answer `429` with `Retry-After`, then the source recovers.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub source_fault_429_burst: u32,

    /// Source side: the first N calls answer `503`, then it recovers.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub source_fault_503_calls: u32,

    /// Source side: share (0–1) of calls answered `500`.
    #[arg(long = "source-fault-5xx", default_value_t = 0.0, value_name = "SHARE", value_parser = share)]
    pub source_fault_5xx: f64,

    /// Source side: extra delay before every answer, in ms.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub source_fault_slow_ms: u64,

    /// Source side: a resource the source APIs do not serve at all (404),
    /// e.g. `syllabuses`; repeat for more.
    #[arg(long = "source-unserved", value_name = "RESOURCE")]
    pub source_unserved: Vec<String>,

    /// Source APIs (EduCloud and SS 12000): the largest page a list serves;
    /// a list without `limit` gets this many.
    #[arg(long, default_value_t = DEFAULT_MAX_PAGE_SIZE as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub source_max_page_size: u64,

    /// Source APIs: what a `limit` over the maximum page size gets:
    /// `clamp` (the maximum and a pageToken) or `reject` (400 naming
    /// `limit` and the maximum).
    #[arg(long, default_value = "clamp", value_name = "clamp|reject")]
    pub source_over_max_page_size: OverMaxPageSize,

    /// Source APIs: time every list, lookup and by-id read waits before it
    /// answers, in ms (real servers page slowly); 0 answers at once.
    #[arg(long, default_value_t = DEFAULT_LATENCY_MS, value_name = "MS")]
    pub source_latency_ms: u64,

    /// Source APIs: how long a subscription (`POST /subscriptions`) lives
    /// after it is created or renewed (`PATCH`), in seconds.
    #[arg(long, default_value_t = DEFAULT_SUBSCRIPTION_LIFETIME_SECS, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub subscription_lifetime_secs: u64,

    /// An extra CA or root certificate (PEM) that webhook deliveries to
    /// subscription targets trust besides the sandbox's own CA.
    #[arg(long, value_name = "FILE")]
    pub webhook_ca: Option<PathBuf>,

    /// Print the endpoints as one JSON object on the first stdout line
    /// (keys: auth_url, provisioning_url, open_data_url, educloud_url,
    /// educloud_token_url, client_id, client_secret, ss12000_url,
    /// ss12000_token, client_cert, client_key, ca_cert), then serve.
    #[arg(long)]
    pub json: bool,
}

fn share(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("`{text}` is not a share between 0 and 1"))
    }
}

impl SandboxArgs {
    /// The library configuration these options describe.
    pub fn config(&self) -> SandboxConfig {
        SandboxConfig {
            students: self.students,
            seed: self.seed,
            dirt: self.dirt,
            port_base: self.port_base,
            cert_dir: self.cert_dir.clone(),
            token_lifetime: Duration::from_secs(self.token_lifetime),
            job_settle_delay: Duration::from_millis(self.job_delay_ms),
            provisioning: ProvisioningOptions {
                tls: !self.provisioning_plain_http,
                entity_interval: Duration::from_millis(self.job_entity_interval_ms),
                unsettled: if self.job_status_omits_pending {
                    UnsettledListing::Absent
                } else {
                    UnsettledListing::Pending
                },
                token_locations: self.token_locations.clone(),
                completed_early: self.job_completed_early,
            },
            faults: Faults {
                rate_limit_burst: self.fault_429_burst,
                server_error_share: self.fault_5xx,
                temporary_error_share: self.fault_temporary_error,
                slow: Duration::from_millis(self.fault_slow_ms),
                drop_share: self.fault_drop,
                pending_extra: Duration::from_millis(self.fault_pending_ms),
                token_early_expiry: Duration::from_secs(self.fault_token_early_expiry),
            },
            source_faults: SourceFaults {
                rate_limit_burst: self.source_fault_429_burst,
                unavailable_calls: self.source_fault_503_calls,
                server_error_share: self.source_fault_5xx,
                slow_ms: self.source_fault_slow_ms,
                unserved: self.source_unserved.clone(),
                ..SourceFaults::default()
            },
            source: SourceOptions {
                max_page_size: usize::try_from(self.source_max_page_size).unwrap_or(usize::MAX),
                over_max_page_size: self.source_over_max_page_size,
                latency: Duration::from_millis(self.source_latency_ms),
                subscription_lifetime: Duration::from_secs(self.subscription_lifetime_secs),
                webhook_ca: self.webhook_ca.clone(),
            },
            ..SandboxConfig::default()
        }
    }
}

/// Runs the sandbox until Ctrl-C (or SIGTERM), then shuts it down gracefully.
pub fn run(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &SandboxArgs) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::start(args.config())
        .await
        .context("could not start the sandbox")?;
    if args.json {
        let line = serde_json::to_string(sandbox.endpoints())
            .context("could not serialise the endpoints")?;
        println!("{line}");
    } else {
        print!("{}", describe(&sandbox, args));
    }
    wait_for_stop().await?;
    tracing::info!("stopping the sandbox");
    sandbox.shutdown().await;
    tracing::info!("sandbox stopped");
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("could not watch SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("could not watch Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("could not watch Ctrl-C")
    }
}

/// The human-readable summary: what runs where and how to talk to it.
fn describe(sandbox: &Sandbox, args: &SandboxArgs) -> String {
    let e: &Endpoints = sandbox.endpoints();
    format!(
        "\
skolsync sandbox: {students} students, seed {seed}, on loopback

Skolverket provtjänst
  Authorisation server  {auth}  (POST /transaction, mutual TLS)
  Provisioning API      {prov}  (Authorization: Bearer <token>)
  Open-data API         {open}

IST EduCloud
  SS 12000 API          {edu}
  Token endpoint        {token}
  Client id             {id}
  Client secret         {secret}

Generic SS 12000 API    {ss}  (Authorization: Bearer {ss_token})
  Both source APIs serve at most {page} per page ({over} a larger limit),
  wait {latency} ms per read and take POST /subscriptions (webhooks to the
  target trust the CA below).

Client certificate      {cert}
Client key              {key}
CA certificate          {ca}
cert#S256               {fp}
Server pin              {pin}

Get a token:
  curl --cert {cert} --key {key} --cacert {ca} \\
    -H 'Content-Type: application/json' -X POST {auth}/transaction \\
    -d '{{\"access_token\":[{{\"access\":[{{\"type\":\"provisioning-api\",\"locations\":[\"{prov}\"]}}],\"flags\":[\"bearer\"]}}],\"client\":{{\"key\":{{\"proof\":\"mtls\",\"cert#S256\":\"{fp}\"}}}}}}'

Call the Provisioning API with it (HTTPS unless --provisioning-plain-http;
the server certificate is signed by the CA above):
  curl --cacert {ca} -H 'Authorization: Bearer <token>' {prov}/persons?limit=1

Press Ctrl-C to stop.
",
        students = args.students,
        seed = args.seed,
        auth = e.auth_url,
        prov = e.provisioning_url,
        open = e.open_data_url,
        edu = e.educloud_url,
        token = e.educloud_token_url,
        id = e.client_id,
        secret = e.client_secret,
        ss = e.ss12000_url,
        ss_token = e.ss12000_token,
        page = args.source_max_page_size,
        over = match args.source_over_max_page_size {
            OverMaxPageSize::Clamp => "clamping",
            OverMaxPageSize::Reject => "refusing with 400",
        },
        latency = args.source_latency_ms,
        cert = e.client_cert,
        key = e.client_key,
        ca = e.ca_cert,
        fp = sandbox.client_fingerprint(),
        pin = sandbox.server_pin(),
    )
}
