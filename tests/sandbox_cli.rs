//! `skolsync sandbox` as scripts drive it: `--json` puts one JSON object with
//! the endpoints on the first stdout line, then the sandbox serves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const KEYS: [&str; 13] = [
    "auth_url",
    "provisioning_url",
    "open_data_url",
    "educloud_url",
    "educloud_token_url",
    "client_id",
    "client_secret",
    "ss12000_url",
    "ss12000_token",
    "client_cert",
    "client_key",
    "ca_cert",
    "ss12000_client_url",
];

#[test]
fn json_mode_prints_the_endpoints_first_and_keeps_serving() {
    let cert_dir =
        std::env::temp_dir().join(format!("skolsync-cli-sandbox-{}", std::process::id()));
    let mut base = 30_000 + (std::process::id() % 1000) as u16 * 16;
    // Ports may be taken by parallel tests: move on to the next block.
    for _ in 0..20 {
        let mut child = Running(
            Command::new(env!("CARGO_BIN_EXE_skolsync"))
                .args(["-q", "sandbox", "--json", "--students", "50", "--port-base"])
                .arg(base.to_string())
                .arg("--cert-dir")
                .arg(&cert_dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run skolsync"),
        );
        let stdout = child.0.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        if line.is_empty() {
            // It exited: most likely a port of this block was taken.
            base += 5;
            continue;
        }
        let endpoints: serde_json::Value = serde_json::from_str(&line).expect("first line is JSON");
        let object = endpoints.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected = KEYS.to_vec();
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(
            object["auth_url"].as_str().unwrap(),
            format!("https://127.0.0.1:{base}")
        );
        assert!(
            object["provisioning_url"]
                .as_str()
                .unwrap()
                .starts_with(&format!("https://127.0.0.1:{}/", base + 1))
        );
        let ca = object["ca_cert"].as_str().unwrap();
        assert!(
            std::fs::read_to_string(ca)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
        // Still serving after printing.
        assert!(child.0.try_wait().unwrap().is_none());
        drop(child);
        let _ = std::fs::remove_dir_all(&cert_dir);
        return;
    }
    panic!("skolsync sandbox never started");
}

#[test]
fn help_explains_the_sandbox_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .args(["sandbox", "--help"])
        .output()
        .expect("run skolsync");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--students",
        "--seed",
        "--port-base",
        "--dirt",
        "--cert-dir",
        "--token-lifetime",
        "--job-delay-ms",
        "--fault-429-burst",
        "--fault-5xx",
        "--fault-temporary-error",
        "--fault-slow-ms",
        "--fault-drop",
        "--fault-pending-ms",
        "--fault-token-early-expiry",
        "--json",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
}

#[test]
fn a_share_outside_0_to_1_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .args(["sandbox", "--fault-5xx", "1.5"])
        .output()
        .expect("run skolsync");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("between 0 and 1"), "{err}");
}
