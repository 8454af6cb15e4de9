//! The pull sink's view of the state store (the served dataset), and
//! Skolverket's feedback on it.
//!
//! The `ss12000-pull` sink (in the sink crate) writes the dataset
//! `skolsync serve` serves; the rows live in the pipeline's state store
//! under the sink's identity. The sink sees the store only through
//! [`ServedStore`], implemented here, so neither crate knows the other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use skolsync_model::served::{ServedWrite, ServedWritten};
use skolsync_model::ss12000::EntityKind;
use skolsync_sink::pull::{NotificationAttempt, ServedStore, Subscriber};
use uuid::Uuid;

use crate::report::FeedbackLine;
use crate::report::mask::scrub;
use crate::state::{StateError, StateStore};

/// One pipeline's served dataset in its state store.
#[derive(Debug, Clone)]
pub struct ServedDataset {
    store: StateStore,
    dataset: String,
}

impl ServedDataset {
    /// The dataset `dataset` (the pull sink's identity) of `store`.
    pub fn new(store: StateStore, dataset: impl Into<String>) -> ServedDataset {
        ServedDataset {
            store,
            dataset: dataset.into(),
        }
    }
}

#[async_trait]
impl ServedStore for ServedDataset {
    async fn write(&self, write: &ServedWrite) -> Result<ServedWritten, String> {
        self.store
            .write_served(&self.dataset, write)
            .await
            .map_err(|e| e.to_string())
    }

    async fn served_ids(&self, kind: EntityKind) -> Result<Vec<Uuid>, String> {
        self.store
            .served_ids(&self.dataset, kind)
            .await
            .map_err(|e| e.to_string())
    }

    async fn live_subscriptions(&self) -> Result<Vec<Subscriber>, String> {
        let live = self
            .store
            .live_subscriptions(&self.dataset, Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        Ok(live
            .into_iter()
            .map(|s| Subscriber {
                id: s.id,
                target: s.target,
                resource_types: s.resource_types,
            })
            .collect())
    }

    async fn record_notification(&self, attempt: &NotificationAttempt) -> Result<(), String> {
        self.store
            .record_notification(&self.dataset, attempt)
            .await
            .map_err(|e| e.to_string())
    }

    async fn restamp_missed(&self) -> Result<ServedWritten, String> {
        let live = self.live_subscriptions().await?;
        let mut since: Option<String> = None;
        for subscriber in &live {
            let missed = self
                .store
                .missed_since(&self.dataset, subscriber.id)
                .await
                .map_err(|e| e.to_string())?;
            since = match (since, missed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        match since {
            Some(since) => self
                .store
                .restamp_served_since(&self.dataset, &since)
                .await
                .map_err(|e| e.to_string()),
            None => Ok(ServedWritten::default()),
        }
    }
}

/// The LogEntries Skolverket's client posted to `dataset` at or after
/// `since` (all when `None`), newest first, at most `limit`, each joined to
/// the entity it concerns and that entity's source record.
pub async fn feedback(
    store: &StateStore,
    dataset: &str,
    since: Option<DateTime<Utc>>,
    limit: usize,
) -> Result<Vec<FeedbackLine>, StateError> {
    let entries = store.log_entries(dataset, since, limit).await?;
    let mut lines = Vec::with_capacity(entries.len());
    for entry in entries {
        let record = match entry.resource_id {
            Some(id) => store.entity_status(dataset, id).await?,
            None => None,
        };
        lines.push(FeedbackLine {
            received_at: entry.received_at,
            severity: entry.severity,
            message: scrub(&entry.message),
            message_type: entry.message_type,
            resource_type: entry.resource_type,
            resource_id: entry.resource_id,
            source_id: record.as_ref().and_then(|r| r.source_id.clone()),
            school_unit: record.and_then(|r| r.school_unit),
        });
    }
    Ok(lines)
}

/// What Skolverket's client reported since the previous run began (the
/// current run is the newest in the history), for the run's report.
pub async fn feedback_since_last_run(
    store: &StateStore,
    dataset: &str,
) -> Result<Vec<FeedbackLine>, StateError> {
    let runs = store.history(2).await?;
    let since = runs.get(1).map(|previous| previous.started);
    feedback(store, dataset, since, FEEDBACK_IN_REPORT).await
}

/// At most this many LogEntries go into a run report.
const FEEDBACK_IN_REPORT: usize = 1000;
