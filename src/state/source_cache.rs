//! The cached copy of a source: every entity its last read left, as SS
//! 12000 JSON, with the extract rejects, the records' origins and the
//! inputs' shapes of that read, and [`CacheInfo`] (what the copy belongs to
//! and how it was filled).
//!
//! An incremental read returns only what changed; merged into this copy it
//! gives the whole picture the plan compares with the service (see
//! `crate::engine::incremental`). A file source whose files did not change
//! is not read at all: the copy stands in for it.
//!
//! The copy holds personal data as the source does (names, personnummer):
//! the state file is `0600` in a `0700` directory. It is written in one
//! transaction together with the watermark, so a killed run leaves the
//! copy and the watermark of the same read.

use serde::{Deserialize, Serialize};
use skolsync_connectors::InputShape;
use skolsync_model::by_kind;
use skolsync_model::reject::Reject;
use skolsync_model::ss12000::{Entity, EntityKind, Origins, Snapshot, parse_entity};
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{StateError, StateStore, now_text};

/// Rows per multi-row `INSERT` (4 parameters each, well under SQLite's limit).
const INSERT_CHUNK: usize = 500;

/// What a cached copy belongs to and how it was filled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheInfo {
    /// Fingerprint of the `[source]` section the copy was read with; another
    /// section (URL, school unit filter, resources, files) needs a full read.
    pub config: String,
    /// When the last full read completed (RFC 3339).
    pub full_read_at: String,
    /// The input files of a file source as last read.
    #[serde(default)]
    pub files: Vec<FileStamp>,
    /// The source refused an incremental read: why and when (RFC 3339);
    /// reads are full until the next periodic full read.
    #[serde(default)]
    pub refused: Option<(String, String)>,
}

/// An input file as last read: enough to tell that it did not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    /// The path as the source resolves it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: i128,
    /// SHA-256 of the content, hex.
    pub sha256: String,
}

/// A cached copy, loaded.
#[derive(Debug, Default)]
pub struct CachedSource {
    /// What it belongs to.
    pub info: CacheInfo,
    /// Every cached entity (and the origins of file sources).
    pub snapshot: Snapshot,
    /// The extract rejects and warnings of the records as last read.
    pub rejects: Vec<Reject>,
    /// The inputs' shapes of the last full read.
    pub inputs: Vec<InputShape>,
}

/// What to write into a source's cached copy.
#[derive(Debug, Default)]
pub struct CacheWrite<'a> {
    /// The copy's info after this read.
    pub info: CacheInfo,
    /// Every extract reject of the merged copy.
    pub rejects: &'a [Reject],
    /// The records' origins (file sources).
    pub origins: Option<&'a Origins>,
    /// The inputs' shapes (only a full read changes them).
    pub inputs: Option<&'a [InputShape]>,
    /// Drop every cached entity first (a full read).
    pub replace_all: bool,
    /// Drop the cached entities of these types first (listed in full).
    pub replace_kinds: Vec<EntityKind>,
    /// Entities to remove: type, id.
    pub removes: Vec<(EntityKind, String)>,
    /// The watermark to store with the copy (the read's start).
    pub watermark: Option<String>,
}

/// The SS 12000 JSON of `entity`, for [`CacheWrite::upserts`].
pub fn cache_row<T: Entity>(entity: &T) -> Result<(EntityKind, String, String), StateError> {
    let body = serde_json::to_string(entity).map_err(|e| {
        StateError::Corrupt(format!(
            "cannot cache {} {}: {e}",
            T::KIND,
            entity.id().as_str()
        ))
    })?;
    Ok((T::KIND, entity.id().as_str().to_string(), body))
}

impl StateStore {
    /// The info of `source`'s cached copy, if there is one.
    pub async fn source_cache_info(&self, source: &str) -> Result<Option<CacheInfo>, StateError> {
        let err = StateError::query("read the source cache");
        let row = sqlx::query("SELECT info FROM source_cache WHERE source_id = $1")
            .bind(source)
            .fetch_optional(self.pool())
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get("info").map_err(err)?;
        // An info this version cannot read means a full read, not a failure.
        Ok(serde_json::from_str(&text).ok())
    }

    /// Loads `source`'s cached copy. `Ok(None)` when there is none or it
    /// cannot be read back (written by another version): read in full then.
    pub async fn load_source_cache(
        &self,
        source: &str,
    ) -> Result<Option<CachedSource>, StateError> {
        let err = StateError::query("load the source cache");
        let row = sqlx::query(
            "SELECT info, rejects, origins, inputs FROM source_cache WHERE source_id = $1",
        )
        .bind(source)
        .fetch_optional(self.pool())
        .await
        .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let text = |column: &str| row.try_get::<String, _>(column).map_err(err);
        let (Ok(info), Ok(rejects), Ok(origins), Ok(inputs)) = (
            serde_json::from_str::<CacheInfo>(&text("info")?),
            serde_json::from_str::<Vec<Reject>>(&text("rejects")?),
            serde_json::from_str::<Origins>(&text("origins")?),
            serde_json::from_str::<Vec<InputShape>>(&text("inputs")?),
        ) else {
            tracing::warn!("the cached copy of the source cannot be read back; reading in full");
            return Ok(None);
        };
        // In the order written, by a scan of the table: through the key's
        // index SQLite would sort every row (bodies included) by rowid in a
        // temporary B-tree, three times slower for a large municipality; a
        // state file holds one source or few.
        let rows = sqlx::query(
            "SELECT kind, body FROM source_cache_entities NOT INDEXED \
             WHERE source_id = $1 ORDER BY rowid",
        )
        .bind(source)
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        let mut bodies = Vec::with_capacity(rows.len());
        for row in rows {
            let kind: String = row.try_get("kind").map_err(err)?;
            let body: String = row.try_get("body").map_err(err)?;
            bodies.push((kind, body));
        }
        // Parsing a large municipality's copy takes a while: off the async
        // threads, so that the incremental read it waits beside goes on.
        let parsed = tokio::task::spawn_blocking(move || parse_cached(bodies, origins))
            .await
            .map_err(|e| StateError::Corrupt(format!("reading the source cache stopped: {e}")))?;
        Ok(parsed.map(|snapshot| CachedSource {
            info,
            snapshot,
            rejects,
            inputs,
        }))
    }

    /// Writes `write` into `source`'s cached copy, with the watermark, in
    /// one transaction; `upserts` are the entities to insert or replace
    /// (type, id, SS 12000 JSON; see [`cache_row`]), serialised as they are
    /// written so that a full read's copy is never held twice.
    pub async fn write_source_cache(
        &self,
        source: &str,
        write: &CacheWrite<'_>,
        upserts: impl Iterator<Item = Result<(EntityKind, String, String), StateError>> + Send,
    ) -> Result<(), StateError> {
        let err = StateError::query("write the source cache");
        let mut tx = self.pool().begin().await.map_err(err)?;
        if write.replace_all {
            sqlx::query("DELETE FROM source_cache_entities WHERE source_id = $1")
                .bind(source)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for kind in &write.replace_kinds {
            sqlx::query("DELETE FROM source_cache_entities WHERE source_id = $1 AND kind = $2")
                .bind(source)
                .bind(kind.type_name())
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        for (kind, id) in &write.removes {
            sqlx::query(
                "DELETE FROM source_cache_entities WHERE source_id = $1 AND kind = $2 AND id = $3",
            )
            .bind(source)
            .bind(kind.type_name())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        let mut upserts = upserts.peekable();
        while upserts.peek().is_some() {
            let chunk = upserts
                .by_ref()
                .take(INSERT_CHUNK)
                .collect::<Result<Vec<_>, _>>()?;
            let mut insert: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO source_cache_entities (source_id, kind, id, body) ");
            insert.push_values(&chunk, |mut row, (kind, id, body)| {
                row.push_bind(source)
                    .push_bind(kind.type_name())
                    .push_bind(id.as_str())
                    .push_bind(body.as_str());
            });
            insert.push(" ON CONFLICT (source_id, kind, id) DO UPDATE SET body = excluded.body");
            insert.build().execute(&mut *tx).await.map_err(err)?;
        }
        let json = |value: Result<String, serde_json::Error>| {
            value.map_err(|e| StateError::Corrupt(format!("cannot write the source cache: {e}")))
        };
        let info = json(serde_json::to_string(&write.info))?;
        let rejects = json(serde_json::to_string(write.rejects))?;
        let origins = json(serde_json::to_string(
            &write.origins.cloned().unwrap_or_default(),
        ))?;
        let inputs = json(serde_json::to_string(&write.inputs.unwrap_or_default()))?;
        // Origins and inputs stay as they were unless this read has new ones.
        sqlx::query(
            "INSERT INTO source_cache (source_id, info, rejects, origins, inputs, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (source_id) DO UPDATE SET info = excluded.info, rejects = excluded.rejects, \
             origins = CASE WHEN $7 = 1 THEN excluded.origins ELSE source_cache.origins END, \
             inputs = CASE WHEN $8 = 1 THEN excluded.inputs ELSE source_cache.inputs END, \
             updated_at = excluded.updated_at",
        )
        .bind(source)
        .bind(info)
        .bind(rejects)
        .bind(origins)
        .bind(inputs)
        .bind(now_text())
        .bind(i64::from(write.origins.is_some()))
        .bind(i64::from(write.inputs.is_some()))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if let Some(watermark) = &write.watermark {
            sqlx::query(
                "INSERT INTO watermarks (source_id, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (source_id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(source)
            .bind(watermark)
            .bind(now_text())
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }

    /// Replaces the info of `source`'s cached copy (new file times, same
    /// content).
    pub async fn set_source_cache_info(
        &self,
        source: &str,
        info: &CacheInfo,
    ) -> Result<(), StateError> {
        let text = serde_json::to_string(info)
            .map_err(|e| StateError::Corrupt(format!("cannot write the source cache: {e}")))?;
        sqlx::query("UPDATE source_cache SET info = $2, updated_at = $3 WHERE source_id = $1")
            .bind(source)
            .bind(text)
            .bind(now_text())
            .execute(self.pool())
            .await
            .map_err(StateError::query("update the source cache"))?;
        Ok(())
    }

    /// Forgets `source`'s cached copy and watermark (the next read is full).
    pub async fn clear_source_cache(&self, source: &str) -> Result<(), StateError> {
        let err = StateError::query("clear the source cache");
        let mut tx = self.pool().begin().await.map_err(err)?;
        for statement in [
            "DELETE FROM source_cache_entities WHERE source_id = $1",
            "DELETE FROM source_cache WHERE source_id = $1",
            "DELETE FROM watermarks WHERE source_id = $1",
        ] {
            sqlx::query(statement)
                .bind(source)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        Ok(())
    }
}

/// The snapshot of a cached copy's rows (type name, SS 12000 JSON), in
/// order; `None` (logged) when a row cannot be read back.
fn parse_cached(rows: Vec<(String, String)>, origins: Origins) -> Option<Snapshot> {
    let mut snapshot = Snapshot {
        origins,
        ..Snapshot::default()
    };
    for (kind, body) in rows {
        let Some(kind) = EntityKind::ALL.into_iter().find(|k| k.type_name() == kind) else {
            tracing::warn!(
                kind,
                "the source cache holds an unknown type; reading in full"
            );
            return None;
        };
        if let Err(reason) = by_kind!(kind, &mut snapshot, |list| push_parsed(list, &body)) {
            tracing::warn!(%kind, reason, "a cached entity cannot be read back; reading in full");
            return None;
        }
    }
    Some(snapshot)
}

/// Parses one cached entity onto `list`.
fn push_parsed<T: Entity>(list: &mut Vec<T>, body: &str) -> Result<(), String> {
    let entity = parse_entity::<T>(body.as_bytes()).map_err(|e| e.message)?;
    list.push(entity);
    Ok(())
}
