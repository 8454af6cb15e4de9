//! Sandbox wiring: which sandbox a pipeline runs against
//! ([`SandboxChoice`], [`SandboxHandle`]), starting the embedded one from
//! the file's `[sandbox]` section, and pointing the source, the sink and
//! open-data at its endpoints ([`inject_sandbox`]).
//!
//! Apart from the loader because it is the one place that knows the other
//! components' keys that address or authenticate a service; the loader
//! only decides when to call it.

use std::path::Path;

use serde::Deserialize;
use skolsync_sandbox::Endpoints;
use toml::{Table, Value};

use super::config::SandboxSection;
use super::document::{Document, Expander};
use super::error::PipelineError;

/// Which sandbox, if any, the pipeline runs against.
#[derive(Debug, Clone, Default)]
pub enum SandboxChoice {
    /// As the file says: the embedded sandbox when `[sandbox] enabled = true`,
    /// else the real services.
    #[default]
    FromFile,
    /// A sandbox that is already running (`skolsync sandbox --json`, or a
    /// test's): the source, sink and open-data go to these endpoints
    /// whatever the file says, and the file's `[sandbox]` is ignored.
    Attach(Box<Endpoints>),
}

/// The sandbox a loaded pipeline runs against.
pub enum SandboxHandle {
    /// Started by the loader; stops when the pipeline is dropped.
    Embedded(Box<skolsync_sandbox::Sandbox>),
    /// Started by someone else.
    Attached(Box<Endpoints>),
}

impl SandboxHandle {
    /// The sandbox's endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        match self {
            SandboxHandle::Embedded(s) => s.endpoints(),
            SandboxHandle::Attached(e) => e,
        }
    }
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxHandle::Embedded(_) => f.write_str("SandboxHandle::Embedded"),
            SandboxHandle::Attached(e) => {
                write!(f, "SandboxHandle::Attached({})", e.provisioning_url)
            }
        }
    }
}

/// Stand-in endpoints for looking at a sandbox pipeline without starting
/// the sandbox: nothing is ever called at them.
pub(super) fn placeholder_endpoints() -> Endpoints {
    let url = "http://127.0.0.1:9/not-started";
    Endpoints {
        auth_url: url.into(),
        provisioning_url: url.into(),
        open_data_url: url.into(),
        educloud_url: url.into(),
        educloud_token_url: url.into(),
        client_id: "not-started".into(),
        client_secret: "not-started".into(),
        ss12000_url: url.into(),
        ss12000_token: "not-started".into(),
        client_cert: "not-started".into(),
        client_key: "not-started".into(),
        ca_cert: "not-started".into(),
    }
}

/// The `[sandbox]` section, expanded and typed, if present.
pub(super) fn sandbox_section(
    doc: &Document<'_>,
    table: &Table,
    base_dir: &Path,
) -> Result<Option<SandboxSection>, PipelineError> {
    let Some(Value::Table(section)) = table.get("sandbox") else {
        return Ok(None);
    };
    let mut section = section.clone();
    let mut at = vec!["sandbox".to_string()];
    Expander {
        doc,
        base_dir,
        lenient: false,
    }
    .table(&mut section, &mut at)?;
    let mut wrapper = Table::new();
    wrapper.insert("sandbox".into(), Value::Table(section));
    #[derive(Deserialize)]
    struct Only {
        sandbox: SandboxSection,
    }
    let only: Only = doc.deserialize(Value::Table(wrapper))?;
    Ok(Some(only.sandbox))
}

pub(super) async fn start_sandbox(
    path: &Path,
    section: &SandboxSection,
) -> Result<skolsync_sandbox::Sandbox, PipelineError> {
    use std::time::Duration;
    let f = &section.faults;
    let config = skolsync_sandbox::SandboxConfig {
        students: section.students,
        seed: section.seed,
        dirt: section.dirt,
        job_settle_delay: Duration::from_millis(section.job_settle_ms),
        faults: skolsync_sandbox::Faults {
            rate_limit_burst: f.rate_limit_burst,
            server_error_share: f.server_error_share,
            temporary_error_share: f.temporary_error_share,
            slow: Duration::from_millis(f.slow_ms),
            drop_share: f.drop_share,
            pending_extra: Duration::from_millis(f.pending_extra_ms),
            token_early_expiry: Duration::from_secs(f.token_early_expiry_secs),
        },
        outage: skolsync_sandbox::Outage {
            throttle_burst: f.throttle_burst,
            retry_after_secs: f.retry_after_secs,
            unavailable_secs: f.unavailable_secs,
            unavailable_calls: f.unavailable_calls,
            ..skolsync_sandbox::Outage::default()
        },
        ..skolsync_sandbox::SandboxConfig::default()
    };
    skolsync_sandbox::Sandbox::start(config)
        .await
        .map_err(|e| PipelineError::Sandbox {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn set(table: &mut Table, key: &str, value: &str) {
    table.insert(key.to_string(), Value::String(value.to_string()));
}

/// Points the source, the sink and open-data at the sandbox's endpoints.
/// Only what addresses or authenticates a service is replaced; the rest
/// (scope, paging, mappings, guards) stays as the file says.
pub fn inject_sandbox(table: &mut Table, e: &Endpoints) {
    if let Some(Value::Table(source)) = table.get_mut("source") {
        match source.get("kind").and_then(Value::as_str) {
            Some("educloud") => {
                source.remove("org_identifier");
                source.remove("ca_cert");
                set(source, "base_url", &e.educloud_url);
                set(source, "token_url", &e.educloud_token_url);
                set(source, "client_id", &e.client_id);
                set(source, "client_secret", &e.client_secret);
            }
            Some("ss12000") => {
                for key in ["client_cert", "client_key", "ca_cert"] {
                    source.remove(key);
                }
                set(source, "base_url", &e.ss12000_url);
                let mut auth = Table::new();
                set(&mut auth, "type", "bearer");
                set(&mut auth, "token", &e.ss12000_token);
                source.insert("auth".into(), Value::Table(auth));
            }
            // CSV files are local already.
            _ => {}
        }
    }
    if let Some(Value::Table(sink)) = table.get_mut("sink")
        && sink.get("kind").and_then(Value::as_str) == Some("skolverket")
    {
        for key in [
            "environment",
            "jwks_url",
            "client_pkcs12",
            "client_pkcs12_password",
            "client_key_id",
            "pinned_pubkey",
        ] {
            sink.remove(key);
        }
        set(sink, "auth_url", &e.auth_url);
        set(sink, "provisioning_url", &e.provisioning_url);
        set(sink, "open_data_url", &e.open_data_url);
        set(sink, "client_cert", &e.client_cert);
        set(sink, "client_key", &e.client_key);
        set(sink, "ca_cert", &e.ca_cert);
    }
    // Open-data must be the sandbox's, which knows the generated school
    // units; a snapshot file of the real open-data would not.
    let transform = table
        .entry("transform")
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(transform) = transform {
        transform.remove("open_data_file");
        set(transform, "open_data_url", &e.open_data_url);
    }
}
