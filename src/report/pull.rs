//! The pull method's part of a run report ([`PullReport`], `pull` in the
//! JSON): whom the run notified and how that went, and what Skolverket's
//! SS12000 client has reported back (its LogEntries, joined to the entity
//! and the source record they concern).
//!
//! A notification that was not delivered makes the run `partial`: the
//! data is served, but Skolverket's client does not know to fetch it, and
//! it fetches only what changed in the five minutes before a notification.

use serde::{Deserialize, Serialize};
use skolsync_sink::pull::notify::NotifyReport;
use uuid::Uuid;

/// The pull method's part of a run report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PullReport {
    /// The notifications sent after the served dataset was written.
    pub notifications: NotifyReport,
    /// What Skolverket's SS12000 client reported (LogEntries) since the
    /// previous run, newest first, each with the entity and source record
    /// it concerns where known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feedback: Vec<FeedbackLine>,
}

/// One LogEntry of Skolverket's SS12000 client, joined to what it concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackLine {
    /// When skolsync received it.
    pub received_at: String,
    /// `Info`, `Warning` or `Error`.
    pub severity: String,
    /// Skolverket's message (personnummer masked).
    pub message: String,
    /// Skolverket's code for it (`messageType`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// The resource type (`Person`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The entity's id, as the client named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<Uuid>,
    /// The entity's record in the source, when the state knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The entity's school unit code, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_unit: Option<String>,
}

impl PullReport {
    /// Subscriptions that did not take their notification (and 1 when none
    /// could be read).
    pub fn failed_notifications(&self) -> usize {
        self.notifications.failed() + usize::from(self.notifications.error.is_some())
    }

    /// One line for the terminal and the HTML report.
    pub fn line(&self) -> String {
        let n = &self.notifications;
        let mut line = if let Some(error) = &n.error {
            format!("Skolverket's SS12000 client NOT notified: {error}")
        } else if n.live == 0 {
            "no subscription to notify (has the API been registered in Administration provtjänsten?)"
                .to_string()
        } else if n.subscriptions.is_empty() {
            format!(
                "nothing changed for the {} subscription(s): no notification needed",
                n.live
            )
        } else {
            let delivered = n.subscriptions.len() - n.failed();
            let mut line = format!(
                "notified {delivered} of {} subscription(s)",
                n.subscriptions.len()
            );
            for failed in n.subscriptions.iter().filter(|s| !s.delivered) {
                line.push_str(&format!(
                    "; NOT notified {} after {} tries: {}",
                    failed.target,
                    failed.attempts,
                    failed.error.as_deref().unwrap_or("unknown")
                ));
            }
            line
        };
        if !self.feedback.is_empty() {
            let errors = self
                .feedback
                .iter()
                .filter(|f| f.severity == "Error")
                .count();
            line.push_str(&format!(
                "; Skolverket reported {} problem(s) since the last run ({errors} errors; `skolsync status` lists them)",
                self.feedback.len()
            ));
        }
        line
    }
}
