//! How the source was read ([`ReadInfo`]): full, incremental from which
//! instant, or not at all because its files did not change — in the JSON
//! report as `read`, on the terminal and in the HTML report as one line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use skolsync_model::ss12000::EntityKind;

/// How the source was read, for the report and the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadInfo {
    /// `full`, `incremental` or `unchanged` (files unchanged, not read).
    pub mode: String,
    /// Why the read was full (or why it was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An incremental read: changes after this instant (the last read's
    /// start minus the lookback window), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Where the next incremental read starts (this read's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
    /// Entities this read returned (an incremental read: the changed ones).
    pub entities_read: usize,
    /// Ids the source reported as deleted.
    pub deletions_reported: usize,
    /// An incremental read: types the source sent in full anyway, and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listed_in_full: BTreeMap<EntityKind, String>,
    /// Entities in the merged copy the run worked on.
    pub entities_total: usize,
}

impl ReadInfo {
    /// One line for the terminal and the log.
    pub fn line(&self) -> String {
        let mut line = match self.mode.as_str() {
            "incremental" => format!(
                "incremental read since {}: {} changed entities, {} deletions; {} entities in all",
                self.since.as_deref().unwrap_or("?"),
                self.entities_read,
                self.deletions_reported,
                self.entities_total
            ),
            "unchanged" => format!(
                "not read: {}; {} entities from the cached copy",
                self.reason.as_deref().unwrap_or("the files did not change"),
                self.entities_total
            ),
            _ => format!("full read: {} entities", self.entities_total),
        };
        if self.mode == "full"
            && let Some(reason) = &self.reason
        {
            line.push_str(&format!(" ({reason})"));
        }
        for (kind, why) in &self.listed_in_full {
            line.push_str(&format!("; {} in full: {why}", kind.endpoint()));
        }
        line
    }
}
