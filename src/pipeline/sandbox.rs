//! Sandbox wiring: which sandbox a pipeline runs against
//! ([`SandboxChoice`], [`SandboxHandle`]), starting the embedded one from
//! the file's `[sandbox]` section, and pointing the source, the sink and
//! open-data at its endpoints ([`inject_sandbox`]).
//!
//! Which keys of a section address or authenticate a service is said by
//! each component next to its config (`sandbox_redirect`, a
//! [`Redirect`]); this module only applies those redirects, and the loader
//! only decides when.

use std::path::Path;

use serde::Deserialize;
use skolsync_model::sandbox::Redirect;
use skolsync_sandbox::Endpoints;
use toml::{Table, Value};

use super::config::{SandboxOverMaxPageSize, SandboxSection};
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
        ss12000_client_url: url.into(),
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
        strict_section: None,
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
    let sf = &section.source_faults;
    let so = &section.source;
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
        source_faults: skolsync_sandbox::SourceFaults {
            rate_limit_burst: sf.rate_limit_burst,
            unavailable_calls: sf.unavailable_calls,
            retry_after_secs: sf.retry_after_secs,
            server_error_share: sf.server_error_share,
            slow_ms: sf.slow_ms,
            unserved: sf.unserved.clone(),
            ..skolsync_sandbox::SourceFaults::default()
        },
        source: skolsync_sandbox::SourceOptions {
            max_page_size: so.max_page_size,
            over_max_page_size: match so.over_max_page_size {
                SandboxOverMaxPageSize::Clamp => skolsync_sandbox::OverMaxPageSize::Clamp,
                SandboxOverMaxPageSize::Reject => skolsync_sandbox::OverMaxPageSize::Reject,
            },
            latency: Duration::from_millis(so.latency_ms),
            subscription_lifetime: Duration::from_secs(so.subscription_lifetime_secs),
            // Relative to the pipeline file, like the file's other paths.
            webhook_ca: so
                .webhook_ca
                .as_ref()
                .map(|ca| path.parent().map_or_else(|| ca.clone(), |dir| dir.join(ca))),
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

/// Points the source, the sink and open-data at the sandbox's endpoints.
/// Which keys address or authenticate a service is each component's
/// knowledge (its `sandbox_redirect`, next to its config); the rest of a
/// section (scope, paging, mappings, guards) stays as the file says.
pub fn inject_sandbox(table: &mut Table, e: &Endpoints) {
    let kind_of = |section: &Table| {
        section
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if let Some(Value::Table(source)) = table.get_mut("source")
        && let Some(redirect) =
            kind_of(source).and_then(|k| skolsync_connectors::sandbox_redirect(&k, e))
    {
        apply(source, &redirect);
    }
    // One `[sink]`, or each of several `[[sink]]`s.
    let sinks: Vec<&mut Table> = match table.get_mut("sink") {
        Some(Value::Table(sink)) => vec![sink],
        Some(Value::Array(list)) => list.iter_mut().filter_map(Value::as_table_mut).collect(),
        _ => Vec::new(),
    };
    for sink in sinks {
        if let Some(redirect) =
            kind_of(sink).and_then(|k| skolsync_sink::config::sandbox_redirect(&k, e))
        {
            apply(sink, &redirect);
        }
    }
    if let Value::Table(transform) = table
        .entry("transform")
        .or_insert_with(|| Value::Table(Table::new()))
    {
        apply(transform, &skolsync_transform::config::sandbox_redirect(e));
    }
}

/// Applies one component's redirect to its section: removals, then the
/// (possibly dotted) keys set as strings.
fn apply(section: &mut Table, redirect: &Redirect) {
    for key in &redirect.remove {
        section.remove(*key);
    }
    for (key, value) in &redirect.set {
        let mut table = &mut *section;
        let mut parts = key.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.to_string(), Value::String(value.clone()));
                break;
            }
            let entry = table
                .entry(part.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            let Value::Table(inner) = entry else { break };
            table = inner;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        let mut e = placeholder_endpoints();
        e.ss12000_url = "http://127.0.0.1:1/ss12000".into();
        e.ss12000_token = "sandbox-token".into();
        e.provisioning_url = "http://127.0.0.1:2/prov".into();
        e.open_data_url = "http://127.0.0.1:3/open".into();
        e
    }

    #[test]
    fn each_section_keeps_its_settings_and_loses_what_names_a_real_service() {
        let mut table: Table = toml::from_str(
            r#"
            [source]
            kind = "ss12000"
            base_url = "https://real.example/v2.0"
            client_cert = "real.crt"
            page_size = 50
            auth = { type = "oauth2", token_url = "https://real.example/token", client_id = "x" }
            [sink]
            kind = "skolverket"
            environment = "produktion"
            client_key_id = "https://huvudman.example"
            [transform]
            open_data_file = "open-data.json"
            school_types = ["GR"]
            "#,
        )
        .unwrap();
        inject_sandbox(&mut table, &endpoints());
        let source = table["source"].as_table().unwrap();
        assert_eq!(
            source["base_url"].as_str(),
            Some("http://127.0.0.1:1/ss12000")
        );
        assert_eq!(source["page_size"].as_integer(), Some(50));
        assert!(!source.contains_key("client_cert"));
        let auth = source["auth"].as_table().unwrap();
        assert_eq!(auth.len(), 2, "{auth:?}");
        assert_eq!(auth["type"].as_str(), Some("bearer"));
        assert_eq!(auth["token"].as_str(), Some("sandbox-token"));
        let sink = table["sink"].as_table().unwrap();
        assert!(!sink.contains_key("environment") && !sink.contains_key("client_key_id"));
        assert_eq!(
            sink["provisioning_url"].as_str(),
            Some("http://127.0.0.1:2/prov")
        );
        let transform = table["transform"].as_table().unwrap();
        assert!(!transform.contains_key("open_data_file"));
        assert_eq!(
            transform["open_data_url"].as_str(),
            Some("http://127.0.0.1:3/open")
        );
        assert!(transform.contains_key("school_types"));
    }

    #[test]
    fn local_sources_and_sinks_are_left_alone() {
        let text =
            "[source]\nkind = \"csv\"\ndir = \"export\"\n[sink]\nkind = \"jsonl\"\ndir = \"out\"\n";
        let mut table: Table = toml::from_str(text).unwrap();
        let before = table.clone();
        inject_sandbox(&mut table, &endpoints());
        assert_eq!(table["source"], before["source"]);
        assert_eq!(table["sink"], before["sink"]);
    }
}
