//! Shared set-up of the connector tests: a small in-process sandbox and
//! sources built from pipeline-style TOML, as users write them.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use skolsync_connectors::{
    BatchStream, ReadOptions, ReadProgress, ReadSummary, Source, SourceConfig, SourceError, build,
    collect,
};
use skolsync_model::reject::Reject;
use skolsync_model::ss12000::Snapshot;
use skolsync_sandbox::{Sandbox, SandboxConfig};

/// A sandbox with `students` pupils and the given tweaks.
pub async fn sandbox(students: usize, tweak: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig {
        students,
        seed: 7,
        ..SandboxConfig::default()
    };
    tweak(&mut config);
    Sandbox::start(config).await.expect("sandbox starts")
}

/// A source from the body of a `[source]` section.
pub fn source(toml_text: &str) -> Box<dyn Source> {
    let config: SourceConfig = toml::from_str(toml_text).expect("valid [source]");
    build(&config, &skolsync_model::BuildContext::new(".")).expect("source builds")
}

/// The `[source]` body of EduCloud in `sandbox`, plus `extra` lines.
pub fn educloud_toml(sandbox: &Sandbox, extra: &str) -> String {
    let e = sandbox.endpoints();
    format!(
        "kind = \"educloud\"\nbase_url = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nrequests_per_second = 0\n{extra}\n",
        e.educloud_url, e.educloud_token_url, e.client_id, e.client_secret
    )
}

pub type Read = (Snapshot, Vec<Reject>, ReadSummary);

/// Reads everything, with a time limit so a hang fails the test.
pub async fn read_all(source: &dyn Source, options: ReadOptions) -> Result<Read, SourceError> {
    let stream: BatchStream = source.read(options);
    tokio::time::timeout(Duration::from_secs(120), collect(stream))
        .await
        .expect("the read finishes in time")
}

/// Read options that count into `progress`.
pub fn watched(progress: &Arc<ReadProgress>) -> ReadOptions {
    ReadOptions {
        progress: Some(Arc::clone(progress)),
        ..ReadOptions::default()
    }
}

/// Sorted ids of a list of entities.
pub fn ids<T>(list: &[T], id: impl Fn(&T) -> &str) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|e| id(e).to_string()).collect();
    v.sort();
    v
}
