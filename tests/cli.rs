//! The command line as a user meets it: help, version, logging options.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

use std::process::Command;

fn skolsync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skolsync"))
}

#[test]
fn help_describes_the_tool_and_the_logging_options() {
    let out = skolsync().arg("--help").output().expect("run skolsync");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("provtjänst"), "{text}");
    assert!(text.contains("SS 12000"), "{text}");
    assert!(text.contains("--log-format"), "{text}");
    assert!(text.contains("--verbose"), "{text}");
}

#[test]
fn version_prints_the_package_version() {
    let out = skolsync().arg("--version").output().expect("run skolsync");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("skolsync {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn without_a_command_it_prints_help_and_fails() {
    let out = skolsync().output().expect("run skolsync");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
}

#[test]
fn an_unknown_log_format_is_refused_with_the_valid_choices() {
    let out = skolsync()
        .args(["--log-format", "xml", "--help"])
        .output()
        .expect("run skolsync");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("human") && err.contains("json"), "{err}");
}

#[test]
fn a_broken_rust_log_filter_is_a_clear_error_not_a_panic() {
    let out = skolsync()
        .env("RUST_LOG", "skolsync=[[[")
        .output()
        .expect("run skolsync");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RUST_LOG"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
