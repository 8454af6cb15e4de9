//! Watermarks: where the last incremental read of each source ended.
//!
//! The value is opaque to the store (typically the RFC 3339 time of the
//! newest `meta.modified` seen, for `meta.modified.after` next time). A
//! connector sets it only after the run that read up to it has recorded
//! its outcomes, so a crash re-reads rather than skips.

use sqlx::Row;

use super::{StateError, StateStore, now_text};

impl StateStore {
    /// The watermark of `source_id`, if one was set.
    pub async fn watermark(&self, source_id: &str) -> Result<Option<String>, StateError> {
        let err = StateError::query("read a watermark");
        let row = sqlx::query("SELECT value FROM watermarks WHERE source_id = $1")
            .bind(source_id)
            .fetch_optional(self.pool())
            .await
            .map_err(err)?;
        row.map(|row| row.try_get("value").map_err(err)).transpose()
    }

    /// Sets the watermark of `source_id`.
    pub async fn set_watermark(&self, source_id: &str, value: &str) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO watermarks (source_id, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (source_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(source_id)
        .bind(value)
        .bind(now_text())
        .execute(self.pool())
        .await
        .map_err(StateError::query("set a watermark"))?;
        Ok(())
    }
}
