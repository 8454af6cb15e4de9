//! Notification attempts of a served dataset: every try to tell a
//! subscriber (Skolverket's SS12000 client) that the data changed.

use skolsync_sink::pull::NotificationAttempt;
use sqlx::Row;
use uuid::Uuid;

use crate::state::{StateError, StateStore, now_text};

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
             (dataset, id, subscription, target, body, attempt, attempted_at, status, error, delivered) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
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
                    subscription: Uuid::parse_str(&subscription).map_err(|e| {
                        StateError::Corrupt(format!("subscription id `{subscription}`: {e}"))
                    })?,
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
}
