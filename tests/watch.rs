//! `skolsync watch` as an operator meets it: the real binary, against an
//! in-process sandbox, runs a pipeline at start and at its cron times,
//! prints one line per run, records every run in the history, and stops
//! cleanly on SIGTERM — interrupting a running run as `skolsync run` does
//! and exiting 0. Pipelines that nothing would run again, and schedules
//! that are wrong, are refused before anything starts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::Harness;

const PIPELINE: &str = "educloud-to-skolverket.toml";
const NAME: &str = "exempelby-dnp";

fn skolsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skolsync"))
}

/// The pipeline copied into the harness's folder with `schedule` appended.
fn pipeline_with(h: &Harness, schedule: &str) -> PathBuf {
    let path = h.copy(PIPELINE);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("\n[schedule]\n");
    text.push_str(schedule);
    std::fs::write(&path, text).unwrap();
    path
}

/// A running `skolsync watch`, its stdout lines arriving on a channel.
struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Watcher {
    fn start(h: &Harness, path: &Path) -> Watcher {
        Watcher::start_with(h, path, &[])
    }

    fn start_with(h: &Harness, path: &Path, extra: &[&std::ffi::OsStr]) -> Watcher {
        let endpoints = h.endpoints_file();
        let mut args = vec![
            path.as_os_str(),
            "--sandbox-endpoints".as_ref(),
            endpoints.as_os_str(),
        ];
        args.extend_from_slice(extra);
        Watcher::spawn(h.dir.path(), &args)
    }

    /// `skolsync watch ARGS…`, its stderr in a file in `dir`.
    fn spawn(dir: &Path, args: &[&std::ffi::OsStr]) -> Watcher {
        let stderr = dir.join("watch-stderr.txt");
        let mut child = skolsync()
            .arg("watch")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start skolsync watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher {
            child,
            lines,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The next summary line, within `limit`.
    fn next_run(&mut self, limit: Duration) -> String {
        match self.lines.recv_timeout(limit) {
            Ok(line) => line,
            Err(e) => panic!("no run line within {limit:?} ({e}): {}", self.stderr()),
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg("-s")
            .arg(name)
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    /// Waits for the process to end; its exit code.
    async fn exit_code(&mut self, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status
                    .code()
                    .unwrap_or_else(|| panic!("killed by a signal: {}", self.stderr()));
            }
            assert!(
                Instant::now() < deadline,
                "watch did not stop: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // A failed assertion must not leave the process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `key=value` of a summary line (values without spaces).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|part| part.strip_prefix(&format!("{key}=")))
}

fn count(line: &str, key: &str) -> u64 {
    field(line, key)
        .unwrap_or_else(|| panic!("no {key}= in {line}"))
        .parse()
        .unwrap()
}

/// `skolsync history --json` of the pipeline.
fn history(h: &Harness, path: &Path) -> Vec<serde_json::Value> {
    let out = skolsync()
        .arg("history")
        .arg(path)
        .arg("--json")
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_at_start_and_at_cron_times_then_stops_cleanly_on_sigterm() {
    let h = Harness::new().await;
    let path = pipeline_with(
        &h,
        "cron = [\"*/2 * * * * *\"]\ntimezone = \"UTC\"\non_change = false\n",
    );
    let mut watch = Watcher::start(&h, &path);

    let first = watch.next_run(Duration::from_secs(120));
    assert!(first.contains(NAME), "{first}");
    assert!(first.contains("trigger=\"start-up\""), "{first}");
    assert_eq!(field(&first, "outcome"), Some("success"), "{first}");
    assert!(count(&first, "created") > 0, "{first}");
    let report = PathBuf::from(field(&first, "report").expect("the report's path"));
    assert!(report.is_file(), "{first}");

    // The cron time: a second run, which finds nothing to change.
    let second = watch.next_run(Duration::from_secs(60));
    assert!(
        second.contains("trigger=\"schedule `*/2 * * * * *`\""),
        "{second}"
    );
    assert_eq!(field(&second, "outcome"), Some("success"), "{second}");
    for key in ["created", "updated", "deleted", "failed"] {
        assert_eq!(count(&second, key), 0, "{second}");
    }
    let sends = h.bulk_sends();

    watch.signal("TERM");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
    assert!(watch.stderr().contains("stopped"), "{}", watch.stderr());
    assert_eq!(
        h.bulk_sends(),
        sends,
        "something was sent after the second run"
    );

    // Every run is in the history, each finished.
    let runs = history(&h, &path);
    assert!(runs.len() >= 2, "{runs:#?}");
    for run in &runs {
        assert!(
            matches!(run["outcome"].as_str(), Some("success" | "interrupted")),
            "{run:#}"
        );
        assert_eq!(run["pipeline"], NAME);
    }
    assert_eq!(runs.last().unwrap()["outcome"], "success", "{runs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_run_interrupts_it_and_watch_exits_0() {
    let h = Harness::new().await;
    // Slow source answers, so the first run is still reading when told to stop.
    let mut faults = h.sandbox.faults().get();
    faults.slow = Duration::from_millis(400);
    h.sandbox.faults().set(faults);
    let path = pipeline_with(&h, "cron = [\"0 3 * * *\"]\non_change = false\n");
    let mut watch = Watcher::start(&h, &path);

    let deadline = Instant::now() + Duration::from_secs(120);
    while h.sandbox.educloud_tokens().issued() == 0 {
        assert!(
            Instant::now() < deadline,
            "no run began: {}",
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    watch.signal("TERM");

    let line = watch.next_run(Duration::from_secs(60));
    assert_eq!(field(&line, "outcome"), Some("interrupted"), "{line}");
    assert!(line.contains("SIGTERM"), "{line}");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
    assert_eq!(h.bulk_sends(), 0, "the interrupted read sent something");
    let runs = history(&h, &path);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["outcome"], "interrupted", "{runs:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_nothing_would_run_again_is_refused() {
    let h = Harness::new().await;
    let path = pipeline_with(&h, "on_change = false\n");
    let out = skolsync()
        .arg("watch")
        .arg(&path)
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nothing would run") && err.contains(NAME),
        "{err}"
    );
    assert!(history(&h, &path).is_empty(), "it ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_cron_expressions_are_named_with_their_line_at_load() {
    let h = Harness::new().await;
    let path = pipeline_with(
        &h,
        "cron = [\"0 2 * * *\", \"0 25 * * *\"]\ntimezone = \"Europe/Stokholm\"\n",
    );
    let line = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("cron"))
        .unwrap()
        + 1;
    for command in ["validate", "watch"] {
        let out = skolsync()
            .arg(command)
            .arg(&path)
            .arg("--sandbox-endpoints")
            .arg(h.endpoints_file())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains(&format!(":{line}: schedule.cron[1]: `0 25 * * *`")),
            "{command}: {err}"
        );
        assert!(err.contains("Europe/Stokholm"), "{command}: {err}");
    }
}

#[test]
fn watch_help_explains_triggers_the_receiver_and_stopping() {
    let out = skolsync().args(["watch", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "--public-url",
        "--tls-cert",
        "--tls-key",
        "--insecure-http",
        "--no-initial-run",
        "[schedule]",
        "debounce_secs",
        "exactly one",
        "SIGTERM",
        "/notifications/",
    ] {
        assert!(text.contains(needle), "`{needle}` missing:\n{text}");
    }
    let out = skolsync().args(["watch"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a pipeline is required");
}

/// The end-to-end promise of continuous sync: `watch` subscribes at the
/// source (the sandbox's EduCloud), a burst of changes there becomes one
/// run through the HTTPS change receiver, the change lands at the
/// provtjänst within 60 s of the first change, and on SIGTERM the
/// subscription is removed at the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_source_changes_becomes_one_run_within_60_seconds() {
    let h = Harness::new().await;
    let identity = h.sandbox.pki().issue_server_identity("receiver").unwrap();
    // The default debounce (30 s): the guarantee is for what users get.
    let path = pipeline_with(&h, "on_change = true\n");
    let mut watch = Watcher::start_with(
        &h,
        &path,
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--tls-cert".as_ref(),
            identity.cert_path.as_os_str(),
            "--tls-key".as_ref(),
            identity.key_path.as_os_str(),
        ],
    );
    let first = watch.next_run(Duration::from_secs(120));
    assert!(first.contains("trigger=\"start-up\""), "{first}");
    assert_eq!(field(&first, "outcome"), Some("success"), "{first}");

    // Subscribed, with a target on the receiver and the types read.
    let deadline = Instant::now() + Duration::from_secs(30);
    let subscription = loop {
        if let Some(s) = h.sandbox.subscriptions().into_iter().next() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no subscription: {}",
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        subscription.target.starts_with("https://127.0.0.1:")
            && subscription
                .target
                .contains(&format!("/notifications/{NAME}/")),
        "{}",
        subscription.target
    );
    assert!(subscription.resource_types.iter().any(|t| t == "Person"));
    assert!(
        !watch
            .stderr()
            .contains(subscription.target.rsplit('/').next().unwrap()),
        "the secret was logged"
    );

    // A burst: three change sets, one notification each.
    let changes_before = h.store().changes().len();
    let changed_at = Instant::now();
    for _ in 0..3 {
        h.sandbox.change_share_of_pupils(0.01).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let line = watch.next_run(Duration::from_secs(60));
    let took = changed_at.elapsed();
    assert!(line.contains("trigger=\"change"), "{line}");
    assert!(
        line.contains("(+2 coalesced)"),
        "one run per notification: {line}"
    );
    assert_eq!(field(&line, "outcome"), Some("success"), "{line}");
    assert!(count(&line, "updated") > 0, "{line}");
    assert!(h.store().changes().len() > changes_before, "nothing landed");
    assert!(
        took < Duration::from_secs(60),
        "the change took {took:?} to land"
    );
    println!("a burst of changes landed {took:?} after the first change");

    // The burst was one run: nothing more within the next debounce.
    assert!(
        watch.lines.recv_timeout(Duration::from_secs(35)).is_err(),
        "another run followed the burst"
    );

    watch.signal("TERM");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
    assert!(
        h.sandbox.subscriptions().is_empty(),
        "the subscription was not removed: {:?}",
        h.sandbox.subscriptions()
    );
}

/// Forgets a subscription as a source that lost it would: `DELETE` through
/// the sandbox's EduCloud API with a token of its own.
async fn forget_at_the_source(h: &Harness, id: &str) {
    let e = h.sandbox.endpoints();
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(&e.educloud_token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let status = http
        .delete(format!("{}/subscriptions/{id}", e.educloud_url))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
}

/// The keeper against a source whose subscriptions live three seconds: it
/// renews before they expire (the same subscription stays live), and when
/// the source forgets it, subscribes again with a fresh target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_renewed_in_time_and_recreated_when_forgotten() {
    let sandbox = skolsync_sandbox::Sandbox::start(skolsync_sandbox::SandboxConfig {
        students: support::STUDENTS,
        seed: support::SEED,
        source: skolsync_sandbox::SourceOptions {
            subscription_lifetime: Duration::from_secs(3),
            latency: Duration::ZERO,
            ..skolsync_sandbox::SourceOptions::default()
        },
        ..skolsync_sandbox::SandboxConfig::default()
    })
    .await
    .unwrap();
    let h = Harness {
        sandbox,
        dir: tempfile::tempdir().unwrap(),
    };
    let identity = h.sandbox.pki().issue_server_identity("receiver").unwrap();
    let path = pipeline_with(&h, "debounce_secs = 1\n");
    let mut watch = Watcher::start_with(
        &h,
        &path,
        &[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--tls-cert".as_ref(),
            identity.cert_path.as_os_str(),
            "--tls-key".as_ref(),
            identity.key_path.as_os_str(),
        ],
    );
    watch.next_run(Duration::from_secs(120));
    let live = || {
        let now = chrono::Utc::now();
        h.sandbox
            .subscriptions()
            .into_iter()
            .filter(|s| s.is_live(now))
            .collect::<Vec<_>>()
    };
    let first = live().into_iter().next().expect("subscribed");

    // Three lifetimes later the same subscription is still live.
    tokio::time::sleep(Duration::from_secs(9)).await;
    let now = live();
    assert_eq!(now.len(), 1, "{now:?}\n{}", watch.stderr());
    assert_eq!(now[0].id, first.id, "renewal replaced the subscription");
    assert!(now[0].expires > first.expires);

    // Forgotten at the source: the next renewal subscribes again, with a
    // fresh secret in the target.
    forget_at_the_source(&h, &first.id.to_string()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let second = loop {
        if let Some(s) = live().into_iter().find(|s| s.id != first.id) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "not subscribed again: {}",
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_ne!(second.target, first.target, "the secret was reused");
    assert!(
        watch.stderr().contains("no longer knows the subscription"),
        "{}",
        watch.stderr()
    );

    // The new subscription works: a change runs the pipeline.
    h.sandbox.change_share_of_pupils(0.01).unwrap();
    let line = watch.next_run(Duration::from_secs(60));
    assert!(line.contains("trigger=\"change"), "{line}");

    watch.signal("TERM");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
}

/// A source that offers subscriptions needs the receiver, and the receiver
/// needs TLS: without a certificate `watch` refuses to start, saying which
/// pipeline needs it and how to do without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribing_pipeline_without_a_certificate_is_refused_with_the_way_out() {
    let h = Harness::new().await;
    let path = pipeline_with(&h, "");
    let out = skolsync()
        .arg("watch")
        .arg(&path)
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        NAME,
        "tls_cert: missing",
        "tls_key: missing",
        "on_change = false",
    ] {
        assert!(err.contains(needle), "`{needle}` missing: {err}");
    }
    assert!(history(&h, &path).is_empty(), "it ran");
    assert!(h.sandbox.subscriptions().is_empty(), "it subscribed");
}

/// The demo as a user runs it: one pipeline with an embedded sandbox needs
/// no certificate — the receiver gets one of the sandbox's CA — subscribes
/// at start and removes the subscription on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_sandbox_demo_subscribes_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let demo = std::fs::read_to_string(support::pipelines_dir().join("demo.toml")).unwrap();
    let path = dir.path().join("demo.toml");
    std::fs::write(&path, demo.replace("students = 3000", "students = 150")).unwrap();
    let mut watch = Watcher::spawn(
        dir.path(),
        &[
            path.as_os_str(),
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
        ],
    );
    let first = watch.next_run(Duration::from_secs(120));
    assert!(first.contains("trigger=\"start-up\""), "{first}");
    assert_eq!(field(&first, "outcome"), Some("success"), "{first}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !watch
        .stderr()
        .contains("subscribed to the source's changes")
    {
        assert!(
            Instant::now() < deadline,
            "not subscribed: {}",
            watch.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watch.signal("TERM");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
    assert!(
        watch
            .stderr()
            .contains("subscription removed at the source"),
        "{}",
        watch.stderr()
    );
}

/// A run that fails is reported and watching goes on: the source does not
/// serve persons at first (every run aborts), then recovers, and the next
/// cron time's run lands everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_does_not_stop_watching() {
    let h = Harness::new().await;
    let faults = h.sandbox.faults();
    faults.set_source(skolsync_sandbox::config::SourceFaults {
        unserved: vec!["persons".into()],
        ..faults.source()
    });
    let path = pipeline_with(
        &h,
        "cron = [\"*/2 * * * * *\"]\ntimezone = \"UTC\"\non_change = false\n",
    );
    let mut watch = Watcher::start(&h, &path);
    let failed = watch.next_run(Duration::from_secs(120));
    assert!(failed.contains("trigger=\"start-up\""), "{failed}");
    assert_eq!(field(&failed, "outcome"), Some("aborted"), "{failed}");
    assert!(
        failed.contains("persons"),
        "the reason is missing: {failed}"
    );

    faults.set_source(skolsync_sandbox::config::SourceFaults {
        unserved: Vec::new(),
        ..faults.source()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let landed = loop {
        let line = watch.next_run(Duration::from_secs(60));
        if field(&line, "outcome") == Some("success") {
            break line;
        }
        assert!(Instant::now() < deadline, "never recovered: {line}");
    };
    assert!(landed.contains("trigger=\"schedule"), "{landed}");
    assert!(count(&landed, "created") > 0, "{landed}");
    watch.signal("TERM");
    assert_eq!(
        watch.exit_code(Duration::from_secs(60)).await,
        0,
        "{}",
        watch.stderr()
    );
}
