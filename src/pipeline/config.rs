//! The pipeline file: one `[source]`, the `[transform]`, one `[sink]` (or
//! several `[[sink]]`s fed by the same read), and
//! the engine's own sections (`[state]`, `[guards]`, `[report]`,
//! `[sandbox]`).
//!
//! The stage sections are the stage crates' own config types; this module
//! adds the engine's sections around them. Every struct refuses unknown keys
//! so a typo is an error, not a silently ignored setting, and derives
//! `JsonSchema` so `skolsync schema` can print the whole format.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_connectors::SourceConfig;
use skolsync_model::ObjectType;
use skolsync_transform::TransformConfig;

/// A pipeline: read a source, map it to the provtjänst profile, send the
/// changes to a sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// The pipeline's name: letters, digits, `-`, `_` and `.`. It names the
    /// run lock, the default state file (`state/<name>.sqlite`) and the
    /// report folder (`reports/<name>/`).
    pub name: String,

    /// Where the school data comes from: one connector, chosen by `kind`
    /// (`educloud`, `ss12000` or `csv`).
    pub source: SourceConfig,

    /// How the source maps to the provtjänst profile: open-data, scope,
    /// subject and role mappings, ids. Every key has a default, so the
    /// section may be left out.
    #[serde(default)]
    pub transform: TransformConfig,

    /// Where the changes go: one sink, chosen by `kind` (`skolverket`,
    /// `ss12000-pull`, `skolverket-file`, `jsonl`, `csv` or `parquet`) — or
    /// several `[[sink]]` tables, which one read of the source delivers to
    /// (e.g. push and pull), each with its own state, run and report.
    pub sink: super::sinks::Sinks,

    /// Where the pipeline keeps what it has sent (default: the SQLite file
    /// `state/<name>.sqlite` next to the pipeline file).
    #[serde(default)]
    pub state: StateConfig,

    /// Limits that stop a run before anything is sent when it would change
    /// unexpectedly much.
    #[serde(default)]
    pub guards: GuardsConfig,

    /// Where run reports are written.
    #[serde(default)]
    pub report: ReportConfig,

    /// Reading only what changed: the cached copy of the source, the
    /// lookback window and the periodic full read.
    #[serde(default)]
    pub incremental: super::incremental::IncrementalConfig,

    /// When `skolsync watch` runs the pipeline: cron expressions and change
    /// notifications (see [`ScheduleConfig`](super::schedule::ScheduleConfig)).
    #[serde(default)]
    pub schedule: super::schedule::ScheduleConfig,

    /// Run against the embedded sandbox instead of the real services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxSection>,
}

/// The `[state]` section: where the state store lives.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// The SQLite state file, relative to the pipeline file's folder.
    /// Default `state/<name>.sqlite`. Created (mode `0600`) if missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,

    /// A database URL instead of `path`: `sqlite://PATH` (PostgreSQL for
    /// shared multi-worker deployments is planned and refused for now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The `[guards]` section: a run whose plan exceeds a limit stops before
/// anything is sent, prints what would have changed and exits with the
/// "aborted" code; `skolsync run --allow-large-changes` lets it through.
/// A pipeline's first load is exempt (an empty state, and until a run has
/// completed, so an interrupted first run can be resumed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardsConfig {
    /// Most deletes a run may send, all types together (default 100).
    #[serde(default = "default_max_deletes")]
    pub max_deletes: u64,

    /// Largest share of changes (creates + updates + deletes) against what
    /// the state holds, all types together, e.g. `0.25` for a quarter
    /// (default 0.25). 0–1: above 1 it could never stop a mass delete, so
    /// it is refused.
    #[serde(default = "default_max_changes_ratio")]
    pub max_changes_ratio: f64,

    /// Limits for persons only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<TypeGuards>,

    /// Limits for duties only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty: Option<TypeGuards>,

    /// Limits for groups only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<TypeGuards>,

    /// Limits for activities only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<TypeGuards>,

    /// Largest share of its records a file or API resource may lose since
    /// the previous successful read before the read counts as broken and
    /// the run stops (default 0.3: 30 % fewer). Inputs that held fewer than
    /// 20 records are not judged.
    #[serde(default = "default_max_shrink_ratio")]
    pub max_shrink_ratio: f64,

    /// Read checks to let through for good, by name: `missing_column`,
    /// `header_changed`, `shrunk`, `truncated`, `runaway_quote`,
    /// `encoding` (default none; `--allow-large-changes` lets every check
    /// through for one run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_read: Vec<skolsync_connectors::ReadCheck>,

    /// Largest share of its members a group that stays may lose in one run
    /// (default 0.5). Checked for groups holding at least 4 members.
    #[serde(default = "default_max_member_loss_ratio")]
    pub max_member_loss_ratio: f64,
}

impl Default for GuardsConfig {
    fn default() -> Self {
        GuardsConfig {
            max_deletes: default_max_deletes(),
            max_changes_ratio: default_max_changes_ratio(),
            person: None,
            duty: None,
            group: None,
            activity: None,
            max_shrink_ratio: default_max_shrink_ratio(),
            allow_read: Vec::new(),
            max_member_loss_ratio: default_max_member_loss_ratio(),
        }
    }
}

impl GuardsConfig {
    /// The limits of one type (`[guards.person]`, …), if the file sets them.
    pub fn limits(&self, kind: ObjectType) -> Option<&TypeGuards> {
        match kind {
            ObjectType::Person => self.person.as_ref(),
            ObjectType::Duty => self.duty.as_ref(),
            ObjectType::Group => self.group.as_ref(),
            ObjectType::Activity => self.activity.as_ref(),
        }
    }
}

fn default_max_shrink_ratio() -> f64 {
    0.3
}

fn default_max_member_loss_ratio() -> f64 {
    0.5
}

/// Limits of one entity type (`[guards.person]`, `[guards.duty]`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeGuards {
    /// Most deletes of this type a run may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deletes: Option<u64>,

    /// Largest share of changes of this type against what the state holds
    /// of it. Not checked while the state holds none of the type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_changes_ratio: Option<f64>,
}

fn default_max_deletes() -> u64 {
    100
}

fn default_max_changes_ratio() -> f64 {
    0.25
}

/// The `[report]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// The folder for reports, relative to the pipeline file's folder;
    /// each run writes `<dir>/<name>/<run-id>.json` and `.html`
    /// (default `reports`).
    #[serde(default = "default_report_dir")]
    pub dir: PathBuf,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            dir: default_report_dir(),
        }
    }
}

fn default_report_dir() -> PathBuf {
    PathBuf::from("reports")
}

/// The `[sandbox]` section: with `enabled = true` the run starts the
/// embedded sandbox (local emulators of Skolverket's services and of IST
/// EduCloud, filled with a generated municipality) and points the source,
/// the sink and the transform's open-data at it. Nothing leaves the
/// machine. The state is kept as usual, so a second run sends nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxSection {
    /// Start the sandbox and use it (default false).
    #[serde(default)]
    pub enabled: bool,

    /// Pupils in the generated municipality (default 3000).
    #[serde(default = "default_students")]
    pub students: usize,

    /// Seed of the generated data; the same seed gives the same data
    /// (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,

    /// Share (0.0–1.0) of deliberately invalid records, to see rejects in
    /// the report (default 0).
    #[serde(default)]
    pub dirt: f64,

    /// Milliseconds a bulk job stays `Pending` before it settles
    /// (default 200).
    #[serde(default = "default_job_settle_ms")]
    pub job_settle_ms: u64,

    /// Faults to inject into the provtjänst (Provisioning API, open-data,
    /// auth server).
    #[serde(default)]
    pub faults: SandboxFaults,

    /// Faults to inject into the source APIs (EduCloud, SS 12000) only, so
    /// a test can fail the source and the sink apart.
    #[serde(default)]
    pub source_faults: SandboxSourceFaults,

    /// How realistically the source APIs (EduCloud, SS 12000) behave: page
    /// size cap, latency, subscriptions.
    #[serde(default)]
    pub source: SandboxSource,
}

impl Default for SandboxSection {
    fn default() -> Self {
        SandboxSection {
            enabled: false,
            students: default_students(),
            seed: default_seed(),
            dirt: 0.0,
            job_settle_ms: default_job_settle_ms(),
            faults: SandboxFaults::default(),
            source_faults: SandboxSourceFaults::default(),
            source: SandboxSource::default(),
        }
    }
}

fn default_students() -> usize {
    3000
}

fn default_seed() -> u64 {
    1
}

fn default_job_settle_ms() -> u64 {
    200
}

/// `[sandbox.faults]`: faults the sandbox injects, to watch skolsync cope.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxFaults {
    /// Answer this many calls in a row with `429`, then recover.
    #[serde(default)]
    pub rate_limit_burst: u32,
    /// Share (0.0–1.0) of Provisioning API calls answered with a 5xx.
    #[serde(default)]
    pub server_error_share: f64,
    /// Share of entities whose first job outcome is `TemporaryError`.
    #[serde(default)]
    pub temporary_error_share: f64,
    /// Milliseconds of extra delay before every answer.
    #[serde(default)]
    pub slow_ms: u64,
    /// Share of connections closed without an answer.
    #[serde(default)]
    pub drop_share: f64,
    /// Milliseconds every job stays `Pending` beyond `job_settle_ms`.
    #[serde(default)]
    pub pending_extra_ms: u64,
    /// Seconds before their `expires_in` that access tokens stop working.
    #[serde(default)]
    pub token_early_expiry_secs: u64,
    /// An outage: the first this-many Provisioning API calls answer `429`
    /// with `Retry-After: retry_after_secs`, then the service recovers.
    #[serde(default)]
    pub throttle_burst: u32,
    /// Seconds an outage's `429` or `503` asks the client to wait.
    #[serde(default)]
    pub retry_after_secs: u64,
    /// An outage: every Provisioning API call answers `503` for this many
    /// seconds after the sandbox starts.
    #[serde(default)]
    pub unavailable_secs: u64,
    /// An outage: the first this-many Provisioning API calls answer `503`.
    #[serde(default)]
    pub unavailable_calls: u32,
}

/// `[sandbox.source_faults]`: faults of the sandbox's EduCloud and SS 12000
/// APIs (the source side); the provtjänst is not touched by them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxSourceFaults {
    /// The first this-many source calls answer `429` with `Retry-After:
    /// retry_after_secs`, then the source recovers.
    #[serde(default)]
    pub rate_limit_burst: u32,
    /// The first this-many source calls answer `503`, then it recovers.
    #[serde(default)]
    pub unavailable_calls: u32,
    /// Seconds a source `429` or `503` asks the client to wait.
    #[serde(default)]
    pub retry_after_secs: u64,
    /// Share (0.0–1.0) of source calls answered `500`; 1 makes the source
    /// unusable.
    #[serde(default)]
    pub server_error_share: f64,
    /// Milliseconds of extra delay before every source answer.
    #[serde(default)]
    pub slow_ms: u64,
    /// Resources the source does not serve at all (every path under them
    /// answers `404`), e.g. `["syllabuses", "programmes"]` for a server
    /// with only Skolverket's SS 12000 subset.
    #[serde(default)]
    pub unserved: Vec<String>,
}

/// `[sandbox.source]`: the sandbox's EduCloud and SS 12000 APIs behave
/// like real servers (small, slow pages; subscriptions that expire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxSource {
    /// Largest page a list serves; a list without `limit` gets this many
    /// (default 100).
    #[serde(default = "default_max_page_size")]
    pub max_page_size: usize,
    /// What a `limit` over `max_page_size` gets: `"clamp"` (the maximum
    /// and a `pageToken`, the default) or `"reject"` (`400` naming `limit`
    /// and the maximum).
    #[serde(default)]
    pub over_max_page_size: SandboxOverMaxPageSize,
    /// Milliseconds every list, lookup and by-id read waits before it
    /// answers (default 150); 0 answers at once.
    #[serde(default = "default_latency_ms")]
    pub latency_ms: u64,
    /// Seconds a subscription lives after it is created or renewed
    /// (default 86400, a day).
    #[serde(default = "default_subscription_lifetime_secs")]
    pub subscription_lifetime_secs: u64,
    /// An extra CA or root certificate (PEM file) that webhook deliveries
    /// trust besides the sandbox's own CA.
    #[serde(default)]
    pub webhook_ca: Option<PathBuf>,
}

impl Default for SandboxSource {
    fn default() -> Self {
        SandboxSource {
            max_page_size: default_max_page_size(),
            over_max_page_size: SandboxOverMaxPageSize::default(),
            latency_ms: default_latency_ms(),
            subscription_lifetime_secs: default_subscription_lifetime_secs(),
            webhook_ca: None,
        }
    }
}

fn default_max_page_size() -> usize {
    skolsync_sandbox::config::DEFAULT_MAX_PAGE_SIZE
}

fn default_latency_ms() -> u64 {
    skolsync_sandbox::config::DEFAULT_LATENCY_MS
}

fn default_subscription_lifetime_secs() -> u64 {
    skolsync_sandbox::config::DEFAULT_SUBSCRIPTION_LIFETIME_SECS
}

/// `[sandbox.source] over_max_page_size`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SandboxOverMaxPageSize {
    /// Serve the maximum and a `pageToken`.
    #[default]
    Clamp,
    /// Answer `400`.
    Reject,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_sections_have_safe_defaults() {
        let guards = GuardsConfig::default();
        assert_eq!(guards.max_deletes, 100);
        assert!((guards.max_changes_ratio - 0.25).abs() < f64::EPSILON);
        assert_eq!(ReportConfig::default().dir, PathBuf::from("reports"));
        let sandbox: SandboxSection = toml::from_str("enabled = true").unwrap();
        assert!(sandbox.enabled);
        assert_eq!(sandbox.students, 3000);
        assert_eq!(sandbox.source.max_page_size, 100);
        assert_eq!(sandbox.source.latency_ms, 150);
        let source: SandboxSource =
            toml::from_str("over_max_page_size = \"reject\"\nlatency_ms = 0").unwrap();
        assert_eq!(source.over_max_page_size, SandboxOverMaxPageSize::Reject);
        assert!(toml::from_str::<SandboxSource>("over_max_page_size = \"drop\"").is_err());
        assert!(toml::from_str::<GuardsConfig>("max_delete = 3").is_err());
    }
}
