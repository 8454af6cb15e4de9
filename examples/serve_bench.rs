//! Serving a large municipality to Skolverket's SS12000 client (the pull
//! method): how fast `skolsync serve` hands over a full fetch, and how
//! much memory it needs.
//!
//! 1. The sandbox generates the municipality; a pipeline with the
//!    `ss12000-pull` sink reads it from the sandbox's EduCloud and writes
//!    the served dataset (timed, but not the subject).
//! 2. `skolsync serve` starts as its own process (the release binary next
//!    to this example), over TLS, checking tokens against the sandbox's
//!    JWKS.
//! 3. A client fetches everything the way Skolverket's client does a first
//!    load — organisations, persons, groups, duties, activities, page by
//!    page at `limit=1000` following `pageToken` — with a token of the
//!    sandbox's authorisation server.
//!
//! Printed: pages, entities, bytes, total time and pages per second of the
//! fetch, and the server's peak resident memory (`VmHWM` of its process)
//! after starting and after the fetch.
//!
//! `cargo build --release --workspace --bins --examples && target/release/examples/serve_bench [--students 100000] [--limit 1000]`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // a benchmark reports by unwrapping; the scenario reads top to bottom

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use skolsync::engine::{self, RunOptions};
use skolsync::pipeline::{LoadOptions, Pipeline, SandboxChoice};
use skolsync_sandbox::{Sandbox, SandboxConfig, SourceOptions};

const PIPELINE: &str = r#"
name = "bench-pull"

[source]
kind = "educloud"
org_identifier = "SE00100"
client_id = "replaced-by-the-sandbox"
client_secret = "replaced-by-the-sandbox"

[transform]
school_types = ["GR", "SP", "SAM", "GY", "VUXGY"]

[sink]
kind = "ss12000-pull"
environment = "production"
client_cert = "replaced-by-the-sandbox"
client_key = "replaced-by-the-sandbox"

[state]
path = "state/bench-pull.sqlite"
"#;

const ORDER: [&str; 5] = ["organisations", "persons", "groups", "duties", "activities"];

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().ok().expect("a number"))
        .unwrap_or(default)
}

/// Peak resident memory of a process, in MiB (`VmHWM`).
fn peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn skolsync_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("skolsync"))
        .unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let students: usize = arg("--students", 100_000);
    let limit: usize = arg("--limit", 1000);
    println!("generating {students} pupils");
    let sandbox = Sandbox::start(SandboxConfig {
        students,
        source: SourceOptions {
            latency: Duration::ZERO,
            max_page_size: 1000,
            ..SourceOptions::default()
        },
        ..SandboxConfig::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench-pull.toml");
    std::fs::write(&path, PIPELINE)?;
    let pipeline = Pipeline::load(
        &path,
        &LoadOptions {
            sandbox: SandboxChoice::Attach(Box::new(sandbox.endpoints().clone())),
            ..LoadOptions::default()
        },
    )
    .await?;
    let start = Instant::now();
    let result = engine::run(&pipeline, &RunOptions::default()).await?;
    let c = result.report.counts.sum();
    println!(
        "pull run: {} entities written to the served dataset in {:.1} s ({})",
        c.created,
        start.elapsed().as_secs_f64(),
        result.report.outcome
    );

    let identity = sandbox.pki().issue_server_identity("serve-bench")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let e = sandbox.endpoints();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "https://127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"

[auth]
jwks_url = "{auth}/.well-known/jwks.json"
issuer = "{auth}"
ca_cert = "{ca}"

[[pull]]
pipeline = "{pipeline}"
path = "/ss12000/bench"
"#,
            cert = identity.cert_path.display(),
            key = identity.key_path.display(),
            auth = e.auth_url,
            ca = e.ca_cert,
            pipeline = path.display(),
        ),
    )?;
    let server = Server(
        Command::new(skolsync_binary())
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let pid = server.0.id();
    let api = format!("https://127.0.0.1:{port}/ss12000/bench");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&e.ca_cert)?)?;
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()?;
    let ready = Instant::now();
    loop {
        if http
            .get(format!("https://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        anyhow::ensure!(
            ready.elapsed() < Duration::from_secs(30),
            "serve did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let idle_mib = peak_mib(pid);
    let token = sandbox
        .token_issuer()
        .issue_ss12000_api_token(&e.ss12000_client_url, &api)?;

    let started = Instant::now();
    let (mut pages, mut entities, mut bytes) = (0u64, 0u64, 0u64);
    for resource in ORDER {
        let mut url = format!("{api}/{resource}?limit={limit}");
        loop {
            let response = http.get(&url).bearer_auth(&token).send().await?;
            anyhow::ensure!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            let body = response.bytes().await?;
            bytes += body.len() as u64;
            pages += 1;
            let page: serde_json::Value = serde_json::from_slice(&body)?;
            entities += page["data"].as_array().map_or(0, Vec::len) as u64;
            match page["pageToken"].as_str() {
                Some(next) => url = format!("{api}/{resource}?pageToken={next}"),
                None => break,
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let peak = peak_mib(pid);
    println!(
        "full fetch at limit={limit}: {pages} pages, {entities} entities, {:.1} MB in {seconds:.1} s = {:.1} pages/s, {:.0} entities/s",
        bytes as f64 / 1e6,
        pages as f64 / seconds,
        entities as f64 / seconds
    );
    println!("server peak memory: {idle_mib:.0} MiB after start, {peak:.0} MiB after the fetch");
    drop(server);
    Ok(())
}
