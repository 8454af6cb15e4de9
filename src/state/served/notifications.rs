//! Notification attempts of a served dataset: every try to tell a
//! subscriber (Skolverket's SS12000 client) that the data changed.

use std::collections::BTreeMap;

use skolsync_model::served::ServedWritten;
use skolsync_sink::pull::NotificationAttempt;
use sqlx::Row;
use uuid::Uuid;

use super::served_kind;
use crate::state::{StateError, StateStore, now_text, parse_id};

/// One recorded attempt, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedNotification {
    /// The subscription notified.
    pub subscription: Uuid,
    /// Its target URL.
    pub target: String,
    /// The body sent (JSON text).
    pub body: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// When (store timestamp).
    pub attempted_at: String,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// Why it failed.
    pub error: Option<String>,
    /// Whether the target took it.
    pub delivered: bool,
}

impl StateStore {
    /// Records one notification attempt of `dataset`.
    pub async fn record_notification(
        &self,
        dataset: &str,
        attempt: &NotificationAttempt,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO served_notifications \
             (dataset, id, subscription, target, body, attempt, attempted_at, status, error, delivered, changes_since) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(dataset)
        .bind(Uuid::new_v4().to_string())
        .bind(attempt.subscription.to_string())
        .bind(&attempt.target)
        .bind(attempt.body.to_string())
        .bind(i64::from(attempt.attempt))
        .bind(now_text())
        .bind(attempt.status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.delivered))
        .bind(&attempt.changes_since)
        .execute(self.pool())
        .await
        .map_err(StateError::query("record a notification attempt"))?;
        Ok(())
    }

    /// The latest `limit` notification attempts of `dataset`, newest first.
    pub async fn notifications(
        &self,
        dataset: &str,
        limit: usize,
    ) -> Result<Vec<RecordedNotification>, StateError> {
        let err = StateError::query("read notification attempts");
        let rows = sqlx::query(
            "SELECT subscription, target, body, attempt, attempted_at, status, error, delivered \
             FROM served_notifications WHERE dataset = $1 \
             ORDER BY attempted_at DESC LIMIT $2",
        )
        .bind(dataset)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        rows.iter()
            .map(|row| {
                let subscription: String = row.try_get("subscription").map_err(err)?;
                let status: Option<i64> = row.try_get("status").map_err(err)?;
                let attempt: i64 = row.try_get("attempt").map_err(err)?;
                let delivered: i64 = row.try_get("delivered").map_err(err)?;
                Ok(RecordedNotification {
                    subscription: parse_id(&subscription)?,
                    target: row.try_get("target").map_err(err)?,
                    body: row.try_get("body").map_err(err)?,
                    attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                    attempted_at: row.try_get("attempted_at").map_err(err)?,
                    status: status.and_then(|s| u16::try_from(s).ok()),
                    error: row.try_get("error").map_err(err)?,
                    delivered: delivered != 0,
                })
            })
            .collect()
    }

    /// The earliest change `subscription` of `dataset` was never told of:
    /// the oldest `changes_since` of the attempts not taken since the last
    /// one that was; `None` when its last notification was taken (or none
    /// was sent).
    pub async fn missed_since(
        &self,
        dataset: &str,
        subscription: Uuid,
    ) -> Result<Option<String>, StateError> {
        let err = StateError::query("read missed notifications");
        let subscription = subscription.to_string();
        let last_taken: Option<String> = sqlx::query_scalar(
            "SELECT MAX(attempted_at) FROM served_notifications \
             WHERE dataset = $1 AND subscription = $2 AND delivered = 1",
        )
        .bind(dataset)
        .bind(&subscription)
        .fetch_one(self.pool())
        .await
        .map_err(err)?;
        sqlx::query_scalar(
            "SELECT MIN(changes_since) FROM served_notifications \
             WHERE dataset = $1 AND subscription = $2 AND delivered = 0 AND attempted_at > $3",
        )
        .bind(dataset)
        .bind(&subscription)
        .bind(last_taken.unwrap_or_default())
        .fetch_one(self.pool())
        .await
        .map_err(err)
    }

    /// Stamps anew, at now, every entity of `dataset` modified at or after
    /// `since` and every tombstone from then on, so that a notification
    /// sent now — and the client's fetch from five minutes before it —
    /// covers them. Counts them per type (`updated`, `deleted`).
    pub async fn restamp_served_since(
        &self,
        dataset: &str,
        since: &str,
    ) -> Result<ServedWritten, StateError> {
        let err = StateError::query("re-stamp served entities");
        let now = now_text();
        let mut tx = self.pool().begin().await.map_err(err)?;
        let mut written = ServedWritten::default();
        let statements: [(&'static str, &'static str, &mut BTreeMap<_, u64>); 2] = [
            (
                "SELECT kind, COUNT(*) FROM served_entities \
                 WHERE dataset = $1 AND modified >= $2 AND modified < $3 GROUP BY kind",
                "UPDATE served_entities SET modified = $3 \
                 WHERE dataset = $1 AND modified >= $2 AND modified < $3",
                &mut written.updated,
            ),
            (
                "SELECT kind, COUNT(*) FROM served_tombstones \
                 WHERE dataset = $1 AND deleted_at >= $2 AND deleted_at < $3 GROUP BY kind",
                "UPDATE served_tombstones SET deleted_at = $3 \
                 WHERE dataset = $1 AND deleted_at >= $2 AND deleted_at < $3",
                &mut written.deleted,
            ),
        ];
        for (count, update, counts) in statements {
            let rows: Vec<(String, i64)> = sqlx::query_as(count)
                .bind(dataset)
                .bind(since)
                .bind(&now)
                .fetch_all(&mut *tx)
                .await
                .map_err(err)?;
            sqlx::query(update)
                .bind(dataset)
                .bind(since)
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            for (kind, n) in rows {
                let kind = served_kind(&kind)
                    .ok_or_else(|| StateError::Corrupt(format!("served kind `{kind}`")))?;
                counts.insert(kind, u64::try_from(n).unwrap_or(0));
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(written)
    }
}
