//! What a sink reports back besides the per-entity outcomes: counts per type
//! and status, and what it cost in calls and bytes.

use std::collections::BTreeMap;

use serde::Serialize;
use skolsync_model::ObjectType;
use skolsync_model::plan::{Outcome, OutcomeStatus};

/// Outcomes of one entity type, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Accepted.
    pub success: usize,
    /// Accepted with warnings.
    pub warning: usize,
    /// Refused, or failed for good.
    pub error: usize,
    /// Not sent because a dependency failed.
    pub held_back: usize,
}

impl KindCounts {
    /// All outcomes.
    pub fn total(&self) -> usize {
        self.success + self.warning + self.error + self.held_back
    }
}

/// Calls the sink made and what they carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Bulk create/update/delete calls answered `202`.
    pub bulk_calls: u64,
    /// Request bodies of those calls, in bytes.
    pub bulk_body_bytes: u64,
    /// The largest of those bodies.
    pub largest_body: u64,
    /// The body limit packing aimed at, at the end of the run (it shrinks if
    /// the service answers `413` below the configured limit).
    pub body_limit: u64,
    /// `GET …/bulk/jobs/{id}` calls.
    pub status_calls: u64,
    /// `GET …/bulk/jobs/{id}/isCompleted` calls.
    pub is_completed_calls: u64,
    /// Read calls (lists, lookups, `/alive`).
    pub read_calls: u64,
    /// Calls repeated after a network error, timeout or 5xx.
    pub retries: u64,
    /// `429` answers (the call was repeated after the reset).
    pub rate_limited: u64,
    /// `413` answers (the batch was split).
    pub too_large: u64,
    /// Access tokens fetched.
    pub tokens_fetched: u64,
}

/// What [`crate::Sink::apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplySummary {
    /// Outcomes per entity type.
    pub kinds: BTreeMap<ObjectType, KindCounts>,
    /// Calls and bytes (zero for file sinks).
    pub calls: CallStats,
    /// Wall time of the run, in milliseconds.
    pub elapsed_ms: u64,
    /// The notifications of the pull method (empty for other sinks).
    #[serde(skip_serializing_if = "is_default")]
    pub notifications: crate::pull::notify::NotifyReport,
    /// What the upload workbook holds (the file method; `None` for other
    /// sinks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload: Option<crate::upload::UploadReport>,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

impl ApplySummary {
    /// Sets [`elapsed_ms`](Self::elapsed_ms) from the run's wall time.
    pub fn set_elapsed(&mut self, elapsed: std::time::Duration) {
        self.elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    }

    /// Counts an outcome.
    pub(crate) fn count(&mut self, outcome: &Outcome) {
        let counts = self.kinds.entry(outcome.kind).or_default();
        match outcome.status {
            OutcomeStatus::Success => counts.success += 1,
            OutcomeStatus::Warning => counts.warning += 1,
            OutcomeStatus::Error => counts.error += 1,
            OutcomeStatus::HeldBack => counts.held_back += 1,
        }
    }

    /// All outcomes of all types.
    pub fn total(&self) -> usize {
        self.kinds.values().map(KindCounts::total).sum()
    }

    /// Counts summed over the types.
    pub fn overall(&self) -> KindCounts {
        self.kinds
            .values()
            .fold(KindCounts::default(), |a, k| KindCounts {
                success: a.success + k.success,
                warning: a.warning + k.warning,
                error: a.error + k.error,
                held_back: a.held_back + k.held_back,
            })
    }
}

/// What [`crate::file::SnapshotWriter::write`] wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SnapshotSummary {
    /// Records written per file name (`persons.jsonl` → 1234).
    pub files: BTreeMap<String, usize>,
}

/// What [`crate::Sink::check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The sink's kind.
    pub kind: &'static str,
    /// Where it writes: the Provisioning API URL or the directory.
    pub target: String,
    /// What was checked, one line each (`access token valid for 864000 s`).
    pub checks: Vec<String>,
}
