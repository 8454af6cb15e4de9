//! What Skolverket's SS12000 client posts back to a pull API: LogEntries
//! (`POST /log`, an object it could not take and why) and
//! StatisticsEntries (`POST /statistics`, counts of what it took).
//!
//! Stored as received, newest first when listed; `status`, `history` and
//! the reports join log entries to entities by `resource_id`.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::state::{StateError, StateStore, parse_id, time_text};

/// A LogEntry as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedLogEntry {
    /// Our id for it.
    pub id: Uuid,
    /// When it arrived (RFC 3339, UTC).
    pub received_at: String,
    /// What the client says is wrong.
    pub message: String,
    /// The client's message id (`messageType`).
    pub message_type: Option<String>,
    /// The type of the object concerned (`Person`, …).
    pub resource_type: Option<String>,
    /// The object concerned.
    pub resource_id: Option<Uuid>,
    /// The URL concerned.
    pub resource_url: Option<String>,
    /// `Info`, `Warning` or `Error`.
    pub severity: String,
    /// When it happened, as the client wrote it.
    pub time_of_occurance: Option<String>,
}

/// A StatisticsEntry as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedStatistics {
    /// Our id for it.
    pub id: Uuid,
    /// When it arrived (RFC 3339, UTC).
    pub received_at: String,
    /// The type counted (`Person`, …).
    pub resource_type: String,
    /// Created objects.
    pub new_count: i64,
    /// Updated objects (the client counts creations here too).
    pub updated_count: i64,
    /// Deleted objects.
    pub deleted_count: i64,
    /// The URL the counts are about.
    pub resource_url: Option<String>,
    /// When it happened, as the client wrote it.
    pub time_of_occurance: Option<String>,
}

impl StateStore {
    /// Keeps a LogEntry of `dataset`.
    pub async fn record_log_entry(
        &self,
        dataset: &str,
        entry: &ReceivedLogEntry,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO served_log_entries (dataset, id, received_at, message, message_type, \
             resource_type, resource_id, resource_url, severity, time_of_occurance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(dataset)
        .bind(entry.id.to_string())
        .bind(&entry.received_at)
        .bind(&entry.message)
        .bind(&entry.message_type)
        .bind(&entry.resource_type)
        .bind(entry.resource_id.map(|id| id.to_string()))
        .bind(&entry.resource_url)
        .bind(&entry.severity)
        .bind(&entry.time_of_occurance)
        .execute(self.pool())
        .await
        .map_err(StateError::query("record a log entry"))?;
        Ok(())
    }

    /// The LogEntries of `dataset` received at or after `since` (all when
    /// `None`), newest first, at most `limit`.
    pub async fn log_entries(
        &self,
        dataset: &str,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<ReceivedLogEntry>, StateError> {
        let since = since.map(time_text).unwrap_or_default();
        let rows = sqlx::query(
            "SELECT id, received_at, message, message_type, resource_type, resource_id, \
             resource_url, severity, time_of_occurance FROM served_log_entries \
             WHERE dataset = $1 AND received_at >= $2 \
             ORDER BY received_at DESC, rowid DESC LIMIT $3",
        )
        .bind(dataset)
        .bind(since)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("list log entries"))?;
        rows.iter().map(log_entry_from_row).collect()
    }

    /// The LogEntries of `dataset` about `resource_id`, newest first.
    pub async fn log_entries_for(
        &self,
        dataset: &str,
        resource_id: Uuid,
    ) -> Result<Vec<ReceivedLogEntry>, StateError> {
        let rows = sqlx::query(
            "SELECT id, received_at, message, message_type, resource_type, resource_id, \
             resource_url, severity, time_of_occurance FROM served_log_entries \
             WHERE dataset = $1 AND resource_id = $2 \
             ORDER BY received_at DESC, rowid DESC",
        )
        .bind(dataset)
        .bind(resource_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("list log entries"))?;
        rows.iter().map(log_entry_from_row).collect()
    }

    /// Keeps a StatisticsEntry of `dataset`.
    pub async fn record_statistics(
        &self,
        dataset: &str,
        entry: &ReceivedStatistics,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO served_statistics (dataset, id, received_at, resource_type, new_count, \
             updated_count, deleted_count, resource_url, time_of_occurance) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(dataset)
        .bind(entry.id.to_string())
        .bind(&entry.received_at)
        .bind(&entry.resource_type)
        .bind(entry.new_count)
        .bind(entry.updated_count)
        .bind(entry.deleted_count)
        .bind(&entry.resource_url)
        .bind(&entry.time_of_occurance)
        .execute(self.pool())
        .await
        .map_err(StateError::query("record statistics"))?;
        Ok(())
    }

    /// The StatisticsEntries of `dataset`, newest first, at most `limit`.
    pub async fn statistics(
        &self,
        dataset: &str,
        limit: usize,
    ) -> Result<Vec<ReceivedStatistics>, StateError> {
        let err = StateError::query("list statistics");
        let rows = sqlx::query(
            "SELECT id, received_at, resource_type, new_count, updated_count, deleted_count, \
             resource_url, time_of_occurance FROM served_statistics WHERE dataset = $1 \
             ORDER BY received_at DESC, rowid DESC LIMIT $2",
        )
        .bind(dataset)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        rows.iter()
            .map(|row| {
                Ok(ReceivedStatistics {
                    id: uuid_column(row, "id")?,
                    received_at: row.try_get("received_at").map_err(err)?,
                    resource_type: row.try_get("resource_type").map_err(err)?,
                    new_count: row.try_get("new_count").map_err(err)?,
                    updated_count: row.try_get("updated_count").map_err(err)?,
                    deleted_count: row.try_get("deleted_count").map_err(err)?,
                    resource_url: row.try_get("resource_url").map_err(err)?,
                    time_of_occurance: row.try_get("time_of_occurance").map_err(err)?,
                })
            })
            .collect()
    }
}

fn uuid_column(row: &SqliteRow, column: &'static str) -> Result<Uuid, StateError> {
    let text: String = row
        .try_get(column)
        .map_err(StateError::query("read feedback"))?;
    parse_id(&text)
}

fn log_entry_from_row(row: &SqliteRow) -> Result<ReceivedLogEntry, StateError> {
    let err = StateError::query("read a log entry");
    let resource_id: Option<String> = row.try_get("resource_id").map_err(err)?;
    let resource_id = resource_id.map(|text| parse_id(&text)).transpose()?;
    Ok(ReceivedLogEntry {
        id: uuid_column(row, "id")?,
        received_at: row.try_get("received_at").map_err(err)?,
        message: row.try_get("message").map_err(err)?,
        message_type: row.try_get("message_type").map_err(err)?,
        resource_type: row.try_get("resource_type").map_err(err)?,
        resource_id,
        resource_url: row.try_get("resource_url").map_err(err)?,
        severity: row.try_get("severity").map_err(err)?,
        time_of_occurance: row.try_get("time_of_occurance").map_err(err)?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn entry(
        received: DateTime<Utc>,
        resource_id: Option<Uuid>,
        message: &str,
    ) -> ReceivedLogEntry {
        ReceivedLogEntry {
            id: Uuid::new_v4(),
            received_at: time_text(received),
            message: message.to_string(),
            message_type: Some("ValueMapping".into()),
            resource_type: Some("Person".into()),
            resource_id,
            resource_url: None,
            severity: "Warning".into(),
            time_of_occurance: None,
        }
    }

    #[tokio::test]
    async fn log_entries_list_newest_first_since_and_by_resource() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.sqlite")).await.unwrap();
        let t0 = Utc::now() - Duration::hours(2);
        let person = Uuid::new_v4();
        let old = entry(t0, Some(person), "old");
        let new = entry(t0 + Duration::hours(1), Some(person), "new");
        let other = entry(t0 + Duration::minutes(30), None, "other");
        for e in [&old, &new, &other] {
            store.record_log_entry("d", e).await.unwrap();
        }
        store
            .record_log_entry("elsewhere", &entry(t0, Some(person), "x"))
            .await
            .unwrap();

        let all = store.log_entries("d", None, 10).await.unwrap();
        assert_eq!(all, vec![new.clone(), other.clone(), old.clone()]);
        assert_eq!(
            store.log_entries("d", None, 1).await.unwrap(),
            vec![new.clone()]
        );
        let since = store
            .log_entries("d", Some(t0 + Duration::minutes(30)), 10)
            .await
            .unwrap();
        assert_eq!(since, vec![new.clone(), other]);
        assert_eq!(
            store.log_entries_for("d", person).await.unwrap(),
            vec![new, old]
        );
    }

    #[tokio::test]
    async fn statistics_read_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.sqlite")).await.unwrap();
        let stats = |at: DateTime<Utc>, updated| ReceivedStatistics {
            id: Uuid::new_v4(),
            received_at: time_text(at),
            resource_type: "Activity".into(),
            new_count: 0,
            updated_count: updated,
            deleted_count: 1,
            resource_url: Some("https://x.se/activities".into()),
            time_of_occurance: Some("2020-04-08T12:51:31.322Z".into()),
        };
        let first = stats(Utc::now() - Duration::minutes(1), 234);
        let second = stats(Utc::now(), 5);
        store.record_statistics("d", &first).await.unwrap();
        store.record_statistics("d", &second).await.unwrap();
        assert_eq!(
            store.statistics("d", 10).await.unwrap(),
            vec![second, first]
        );
        assert!(store.statistics("other", 10).await.unwrap().is_empty());
    }
}
