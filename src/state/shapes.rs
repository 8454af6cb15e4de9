//! What the guards compare a run with, beyond the confirmed hashes:
//!
//! - the shape of the last successful read of each source (files and
//!   resources, their columns and record counts), so the next read can be
//!   compared with it before anything is sent;
//! - each group's member count when last confirmed, so a class that loses
//!   most of its members stops the run;
//! - the entities earlier runs tried to send but the service never
//!   confirmed, so finishing a cut-short load is not counted as change.
//!
//! Shapes and member counts are JSON in the `meta` table (`read-shape:<source>`,
//! `group-members:<sink>`), written only after a run completed, so a broken
//! read never becomes the baseline the next one is judged by.

use std::collections::{BTreeMap, BTreeSet};

use skolsync_connectors::InputShape;
use skolsync_model::ObjectType;
use sqlx::Row;
use uuid::Uuid;

use super::entities::parse_kind;
use super::parse_id;
use super::{StateError, StateStore};

fn key(source: &str) -> String {
    format!("read-shape:{source}")
}

fn members_key(sink: &str) -> String {
    format!("group-members:{sink}")
}

impl StateStore {
    /// The inputs of the last successful read of `source`, if any. A stored
    /// value that no longer parses (an older format) counts as none.
    pub async fn read_shape(&self, source: &str) -> Result<Option<Vec<InputShape>>, StateError> {
        let err = StateError::query("read the previous read's shape");
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key(source))
            .fetch_optional(self.pool())
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("value").map_err(err)?;
        Ok(serde_json::from_str(&text).ok())
    }

    /// Records the inputs of a successful read of `source`.
    pub async fn set_read_shape(
        &self,
        source: &str,
        inputs: &[InputShape],
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(inputs).unwrap_or_else(|_| "[]".to_string());
        self.set_meta(&key(source), &text, "record the read's shape")
            .await
    }

    /// Per group id: its member count when last confirmed in `sink`.
    pub async fn member_counts(&self, sink: &str) -> Result<BTreeMap<Uuid, u64>, StateError> {
        let err = StateError::query("read the groups' member counts");
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(members_key(sink))
            .fetch_optional(self.pool())
            .await
            .map_err(err)?;
        let Some(row) = row else {
            return Ok(BTreeMap::new());
        };
        let text: String = row.try_get("value").map_err(err)?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }

    /// Records the member counts of the groups `sink` holds now.
    pub async fn set_member_counts(
        &self,
        sink: &str,
        counts: &BTreeMap<Uuid, u64>,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(counts).unwrap_or_else(|_| "{}".to_string());
        self.set_meta(
            &members_key(sink),
            &text,
            "record the groups' member counts",
        )
        .await
    }

    /// Per type: entities earlier runs tried to create or update in `sink`
    /// that the service has never confirmed.
    pub async fn attempted(
        &self,
        sink: &str,
    ) -> Result<BTreeMap<ObjectType, BTreeSet<Uuid>>, StateError> {
        let err = StateError::query("read the entities tried before");
        let rows = sqlx::query(
            "SELECT kind, id FROM entities WHERE sink = $1 \
             AND confirmed_hash IS NULL AND last_action <> 'delete'",
        )
        .bind(sink)
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        let mut found: BTreeMap<ObjectType, BTreeSet<Uuid>> = BTreeMap::new();
        for row in rows {
            let kind: String = row.try_get("kind").map_err(err)?;
            let id: String = row.try_get("id").map_err(err)?;
            found
                .entry(parse_kind(&kind)?)
                .or_default()
                .insert(parse_id(&id)?);
        }
        Ok(found)
    }

    async fn set_meta(
        &self,
        key: &str,
        value: &str,
        doing: &'static str,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await
        .map_err(StateError::query(doing))?;
        Ok(())
    }
}
