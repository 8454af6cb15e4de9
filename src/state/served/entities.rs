//! The served entities of a pull sink and their tombstones.
//!
//! A pull run writes the DNP profile here ([`StateStore::write_served`]);
//! `skolsync serve` reads it back a page at a time. The store, not the
//! sink, keeps `meta.created` / `meta.modified`: an entity's stamps move
//! only when its content hash changes, so Skolverket's client, which
//! re-reads with `meta.modified.after`, gets what changed and nothing else.
//! A removed entity leaves a tombstone for `/deletedEntities`.
//!
//! Pages are keyset reads (`id > last id`, in id order, on the primary
//! key; tombstones on `(deleted_at, kind, id)`), never `OFFSET`s: each page
//! of a 130 000-entity dataset is one indexed range scan, and a page token
//! stays valid while runs write — an entity changed during a paged read is
//! read once with its newest content, or picked up by the next
//! `meta.modified.after` read since its stamp moved.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skolsync_model::served::{ServedUpsert, ServedWrite, ServedWritten};
use skolsync_model::ss12000::EntityKind;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::state::{StateError, StateStore, now_text, parse_id, parse_stored, time_text};

/// Rows per multi-row statement (7 parameters each, well under SQLite's
/// and PostgreSQL's limits).
const CHUNK: usize = 500;

/// One served entity, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedEntity {
    /// Its type.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
    /// The entity's JSON without `meta`.
    pub body: Value,
    /// `meta.created`: when the store first served it (RFC 3339 UTC).
    pub created: String,
    /// `meta.modified`: when its content last changed (RFC 3339 UTC).
    pub modified: String,
}

impl ServedEntity {
    /// The entity as served: the body with `meta: {created, modified}`.
    pub fn to_json(&self) -> Value {
        self.clone().into_json()
    }

    /// [`to_json`](ServedEntity::to_json) without copying the body.
    pub fn into_json(self) -> Value {
        let mut json = self.body;
        if let Some(object) = json.as_object_mut() {
            object.insert(
                "meta".to_string(),
                json!({ "created": self.created, "modified": self.modified }),
            );
        }
        json
    }
}

/// The `meta.*` filters of a list call; each bound is inclusive ("on or
/// before", "on or after"), as SS 12000 defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServedFilter {
    /// `meta.created.before`.
    pub created_before: Option<DateTime<Utc>>,
    /// `meta.created.after`.
    pub created_after: Option<DateTime<Utc>>,
    /// `meta.modified.before`.
    pub modified_before: Option<DateTime<Utc>>,
    /// `meta.modified.after`.
    pub modified_after: Option<DateTime<Utc>>,
}

impl ServedFilter {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == ServedFilter::default()
    }
}

/// A removed entity, for `/deletedEntities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Its type.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
    /// When it was removed (RFC 3339 UTC, the store's form).
    pub deleted_at: String,
}

impl Tombstone {
    /// The cursor that continues a [`StateStore::deleted_page`] after this
    /// tombstone.
    pub fn cursor(&self) -> TombstoneCursor {
        TombstoneCursor {
            deleted_at: self.deleted_at.clone(),
            kind: self.kind,
            id: self.id,
        }
    }
}

/// Where a read of tombstones stands: the last one read, in
/// `(deleted_at, kind, id)` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombstoneCursor {
    /// The last tombstone's time, in the store's form.
    pub deleted_at: String,
    /// Its type.
    pub kind: EntityKind,
    /// Its id.
    pub id: Uuid,
}

impl StateStore {
    /// Applies one run's changes to `dataset`, in one transaction.
    ///
    /// Deletes come first, then upserts (an id both removed and upserted
    /// ends up served, re-created). A new entity gets `created = modified =
    /// now`; a changed hash replaces body and hash and moves `modified`
    /// (never backwards, whatever the clock does); the same hash leaves the
    /// row untouched. Removing a served entity leaves a tombstone; removing
    /// one that is not served does nothing. A re-created entity loses its
    /// tombstone. An id given twice counts once, its last upsert winning.
    pub async fn write_served(
        &self,
        dataset: &str,
        write: &ServedWrite,
    ) -> Result<ServedWritten, StateError> {
        let err = StateError::query("write the served dataset");
        let now = now_text();
        let mut written = ServedWritten::default();
        let mut tx = self.pool().begin().await.map_err(err)?;
        let mut deletes: BTreeMap<EntityKind, BTreeSet<Uuid>> = BTreeMap::new();
        for (kind, id) in &write.deletes {
            deletes.entry(*kind).or_default().insert(*id);
        }
        for (kind, ids) in deletes {
            let ids: Vec<Uuid> = ids.into_iter().collect();
            for chunk in ids.chunks(CHUNK) {
                let removed = delete_chunk(&mut tx, dataset, kind, chunk, &now).await?;
                add(&mut written.deleted, kind, removed);
            }
        }
        let mut upserts: BTreeMap<EntityKind, BTreeMap<Uuid, &ServedUpsert>> = BTreeMap::new();
        for upsert in &write.upserts {
            upserts
                .entry(upsert.kind)
                .or_default()
                .insert(upsert.id, upsert);
        }
        for (kind, by_id) in upserts {
            let list: Vec<&ServedUpsert> = by_id.into_values().collect();
            for chunk in list.chunks(CHUNK) {
                upsert_chunk(&mut tx, dataset, kind, chunk, &now, &mut written).await?;
            }
        }
        tx.commit().await.map_err(err)?;
        Ok(written)
    }

    /// The ids of `kind` served in `dataset`, in id order.
    pub async fn served_ids(
        &self,
        dataset: &str,
        kind: EntityKind,
    ) -> Result<Vec<Uuid>, StateError> {
        let err = StateError::query("read the served ids");
        let rows = sqlx::query(
            "SELECT id FROM served_entities WHERE dataset = $1 AND kind = $2 ORDER BY id",
        )
        .bind(dataset)
        .bind(kind.type_name())
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        rows.iter()
            .map(|row| parse_id(&row.try_get::<String, _>("id").map_err(err)?))
            .collect()
    }

    /// Up to `limit` served entities of `kind` that pass `filter`, in id
    /// order, after `after_id` (exclusive) when given: one range scan.
    pub async fn served_page(
        &self,
        dataset: &str,
        kind: EntityKind,
        filter: &ServedFilter,
        after_id: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<ServedEntity>, StateError> {
        let err = StateError::query("read a page of the served dataset");
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT kind, id, body, created, modified FROM served_entities WHERE dataset = ",
        );
        query.push_bind(dataset);
        query.push(" AND kind = ").push_bind(kind.type_name());
        if let Some(after) = after_id {
            query.push(" AND id > ").push_bind(after.to_string());
        }
        let bounds = [
            ("created <= ", filter.created_before.map(floor_text)),
            ("created >= ", filter.created_after.map(ceil_text)),
            ("modified <= ", filter.modified_before.map(floor_text)),
            ("modified >= ", filter.modified_after.map(ceil_text)),
        ];
        for (condition, value) in bounds {
            if let Some(value) = value {
                query.push(" AND ").push(condition).push_bind(value);
            }
        }
        query
            .push(" ORDER BY id LIMIT ")
            .push_bind(sql_limit(limit));
        let rows = query.build().fetch_all(self.pool()).await.map_err(err)?;
        rows.iter().map(|row| entity_row(row, err)).collect()
    }

    /// The served entity `kind`/`id` of `dataset`, if served.
    pub async fn served_one(
        &self,
        dataset: &str,
        kind: EntityKind,
        id: Uuid,
    ) -> Result<Option<ServedEntity>, StateError> {
        let err = StateError::query("read a served entity");
        let row = sqlx::query(
            "SELECT kind, id, body, created, modified FROM served_entities \
             WHERE dataset = $1 AND kind = $2 AND id = $3",
        )
        .bind(dataset)
        .bind(kind.type_name())
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(err)?;
        row.map(|row| entity_row(&row, err)).transpose()
    }

    /// Up to `limit` tombstones of `dataset` removed on or after `after`,
    /// of `kinds` (all types when empty), in `(deleted_at, kind, id)` order,
    /// after `cursor` (exclusive) when given.
    pub async fn deleted_page(
        &self,
        dataset: &str,
        after: Option<DateTime<Utc>>,
        kinds: &[EntityKind],
        cursor: Option<&TombstoneCursor>,
        limit: usize,
    ) -> Result<Vec<Tombstone>, StateError> {
        let err = StateError::query("read a page of the deleted entities");
        let mut query: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT kind, id, deleted_at FROM served_tombstones WHERE dataset = ",
        );
        query.push_bind(dataset);
        if !kinds.is_empty() {
            query.push(" AND kind IN (");
            let mut list = query.separated(", ");
            for kind in kinds {
                list.push_bind(kind.type_name());
            }
            query.push(")");
        }
        if let Some(after) = after {
            query
                .push(" AND deleted_at >= ")
                .push_bind(ceil_text(after));
        }
        if let Some(cursor) = cursor {
            query
                .push(" AND (deleted_at, kind, id) > (")
                .push_bind(cursor.deleted_at.clone())
                .push(", ")
                .push_bind(cursor.kind.type_name())
                .push(", ")
                .push_bind(cursor.id.to_string())
                .push(")");
        }
        query
            .push(" ORDER BY deleted_at, kind, id LIMIT ")
            .push_bind(sql_limit(limit));
        let rows = query.build().fetch_all(self.pool()).await.map_err(err)?;
        rows.iter()
            .map(|row| {
                Ok(Tombstone {
                    kind: parse_kind(&row.try_get::<String, _>("kind").map_err(err)?)?,
                    id: parse_id(&row.try_get::<String, _>("id").map_err(err)?)?,
                    deleted_at: row.try_get("deleted_at").map_err(err)?,
                })
            })
            .collect()
    }

    /// How many entities of each type `dataset` serves (types with none
    /// are left out).
    pub async fn served_counts(
        &self,
        dataset: &str,
    ) -> Result<BTreeMap<EntityKind, u64>, StateError> {
        let err = StateError::query("count the served entities");
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) AS n FROM served_entities WHERE dataset = $1 GROUP BY kind",
        )
        .bind(dataset)
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        let mut counts = BTreeMap::new();
        for row in rows {
            let kind = parse_kind(&row.try_get::<String, _>("kind").map_err(err)?)?;
            let n: i64 = row.try_get("n").map_err(err)?;
            counts.insert(kind, u64::try_from(n).unwrap_or(0));
        }
        Ok(counts)
    }
}

/// Removes the served `ids` of `kind` and leaves a tombstone for each one
/// that was served; returns how many were.
async fn delete_chunk(
    tx: &mut SqliteConnection,
    dataset: &str,
    kind: EntityKind,
    ids: &[Uuid],
    now: &str,
) -> Result<u64, StateError> {
    let err = StateError::query("remove served entities");
    let mut delete: QueryBuilder<Sqlite> =
        QueryBuilder::new("DELETE FROM served_entities WHERE dataset = ");
    delete.push_bind(dataset);
    delete.push(" AND kind = ").push_bind(kind.type_name());
    push_id_list(&mut delete, ids);
    delete.push(" RETURNING id");
    let removed: Vec<String> = delete
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(err)?
        .iter()
        .map(|row| row.try_get("id").map_err(err))
        .collect::<Result<_, _>>()?;
    if removed.is_empty() {
        return Ok(0);
    }
    let mut insert: QueryBuilder<Sqlite> =
        QueryBuilder::new("INSERT INTO served_tombstones (dataset, kind, id, deleted_at) ");
    insert.push_values(&removed, |mut row, id| {
        row.push_bind(dataset)
            .push_bind(kind.type_name())
            .push_bind(id.as_str())
            .push_bind(now);
    });
    insert.push(
        " ON CONFLICT (dataset, kind, id) DO UPDATE SET deleted_at = CASE \
         WHEN served_tombstones.deleted_at > excluded.deleted_at \
         THEN served_tombstones.deleted_at ELSE excluded.deleted_at END",
    );
    insert.build().execute(&mut *tx).await.map_err(err)?;
    Ok(removed.len() as u64)
}

/// Creates or replaces one chunk of `kind`'s upserts (distinct ids),
/// counting what each did.
async fn upsert_chunk(
    tx: &mut SqliteConnection,
    dataset: &str,
    kind: EntityKind,
    chunk: &[&ServedUpsert],
    now: &str,
    written: &mut ServedWritten,
) -> Result<(), StateError> {
    let err = StateError::query("write served entities");
    let ids: Vec<Uuid> = chunk.iter().map(|u| u.id).collect();
    let mut select: QueryBuilder<Sqlite> =
        QueryBuilder::new("SELECT id, hash FROM served_entities WHERE dataset = ");
    select.push_bind(dataset);
    select.push(" AND kind = ").push_bind(kind.type_name());
    push_id_list(&mut select, &ids);
    let mut served: HashMap<String, String> = HashMap::new();
    for row in select.build().fetch_all(&mut *tx).await.map_err(err)? {
        served.insert(
            row.try_get("id").map_err(err)?,
            row.try_get("hash").map_err(err)?,
        );
    }
    let mut rows = Vec::new();
    let mut created = Vec::new();
    for upsert in chunk {
        let id = upsert.id.to_string();
        match served.get(&id) {
            Some(hash) if *hash == upsert.hash => add(&mut written.unchanged, kind, 1),
            Some(_) => add(&mut written.updated, kind, 1),
            None => {
                add(&mut written.created, kind, 1);
                created.push(upsert.id);
            }
        }
        if served.get(&id) != Some(&upsert.hash) {
            let body = serde_json::to_string(&upsert.body).map_err(|e| {
                StateError::Corrupt(format!("cannot serve {kind} {}: {e}", upsert.id))
            })?;
            rows.push((id, body, upsert.hash.as_str()));
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO served_entities (dataset, kind, id, body, hash, created, modified) ",
    );
    insert.push_values(&rows, |mut row, (id, body, hash)| {
        row.push_bind(dataset)
            .push_bind(kind.type_name())
            .push_bind(id.as_str())
            .push_bind(body.as_str())
            .push_bind(*hash)
            .push_bind(now)
            .push_bind(now);
    });
    // `modified` never goes backwards, even if the clock does.
    insert.push(
        " ON CONFLICT (dataset, kind, id) DO UPDATE SET body = excluded.body, \
         hash = excluded.hash, modified = CASE \
         WHEN served_entities.modified > excluded.modified \
         THEN served_entities.modified ELSE excluded.modified END \
         WHERE served_entities.hash <> excluded.hash",
    );
    insert.build().execute(&mut *tx).await.map_err(err)?;
    if !created.is_empty() {
        let mut clear: QueryBuilder<Sqlite> =
            QueryBuilder::new("DELETE FROM served_tombstones WHERE dataset = ");
        clear.push_bind(dataset);
        clear.push(" AND kind = ").push_bind(kind.type_name());
        push_id_list(&mut clear, &created);
        clear.build().execute(&mut *tx).await.map_err(err)?;
    }
    Ok(())
}

/// Appends ` AND id IN (…)` with `ids` bound.
fn push_id_list(query: &mut QueryBuilder<Sqlite>, ids: &[Uuid]) {
    query.push(" AND id IN (");
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id.to_string());
    }
    query.push(")");
}

/// Adds `n` to `kind`'s count.
fn add(counts: &mut BTreeMap<EntityKind, u64>, kind: EntityKind, n: u64) {
    *counts.entry(kind).or_default() += n;
}

/// A page size as SQL wants it.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// An upper bound in the store's microsecond form: rounding down keeps
/// "on or before" exact.
fn floor_text(time: DateTime<Utc>) -> String {
    time_text(time)
}

/// A lower bound in the store's microsecond form: rounding a sub-
/// microsecond bound up keeps "on or after" exact.
fn ceil_text(time: DateTime<Utc>) -> String {
    let rest = i64::from(time.timestamp_subsec_nanos() % 1000);
    let rounded = if rest == 0 {
        time
    } else {
        time + chrono::Duration::nanoseconds(1000 - rest)
    };
    time_text(rounded)
}

/// One row of `served_entities` read back.
fn entity_row(
    row: &SqliteRow,
    err: impl Fn(sqlx::Error) -> StateError + Copy,
) -> Result<ServedEntity, StateError> {
    let id = parse_id(&row.try_get::<String, _>("id").map_err(err)?)?;
    let body: String = row.try_get("body").map_err(err)?;
    let body = serde_json::from_str(&body)
        .map_err(|e| StateError::Corrupt(format!("served entity {id}: {e}")))?;
    Ok(ServedEntity {
        kind: parse_kind(&row.try_get::<String, _>("kind").map_err(err)?)?,
        id,
        body,
        created: row.try_get("created").map_err(err)?,
        modified: row.try_get("modified").map_err(err)?,
    })
}

/// A stored type name read back.
fn parse_kind(text: &str) -> Result<EntityKind, StateError> {
    parse_stored(text, &EntityKind::ALL, EntityKind::type_name, "served type")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::state::parse_time;

    const DATASET: &str = "pull-sink";

    async fn store() -> (tempfile::TempDir, StateStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path().join("s.sqlite")).await.unwrap();
        (dir, store)
    }

    fn upsert(kind: EntityKind, n: u128, content: &str) -> ServedUpsert {
        ServedUpsert {
            kind,
            id: Uuid::from_u128(n),
            body: json!({ "id": Uuid::from_u128(n), "content": content }),
            hash: content.to_string(),
        }
    }

    fn upserts(list: Vec<ServedUpsert>) -> ServedWrite {
        ServedWrite {
            upserts: list,
            deletes: Vec::new(),
        }
    }

    fn deletes(list: &[(EntityKind, u128)]) -> ServedWrite {
        ServedWrite {
            upserts: Vec::new(),
            deletes: list
                .iter()
                .map(|(k, n)| (*k, Uuid::from_u128(*n)))
                .collect(),
        }
    }

    async fn one(store: &StateStore, kind: EntityKind, n: u128) -> Option<ServedEntity> {
        store
            .served_one(DATASET, kind, Uuid::from_u128(n))
            .await
            .unwrap()
    }

    /// A pause long enough for the clock to move a microsecond.
    async fn tick() {
        tokio::time::sleep(Duration::from_millis(3)).await;
    }

    #[tokio::test]
    async fn created_stays_and_modified_moves_only_on_change() {
        let (_dir, store) = store().await;
        let person = EntityKind::Person;
        let written = store
            .write_served(
                DATASET,
                &upserts(vec![upsert(person, 1, "a"), upsert(person, 2, "b")]),
            )
            .await
            .unwrap();
        assert_eq!(written.created.get(&person), Some(&2));
        let first = one(&store, person, 1).await.unwrap();
        assert_eq!(first.created, first.modified);
        assert_eq!(first.to_json()["meta"]["created"], json!(first.created));
        assert_eq!(first.to_json()["content"], "a");
        tick().await;
        let written = store
            .write_served(
                DATASET,
                &upserts(vec![upsert(person, 1, "a2"), upsert(person, 2, "b")]),
            )
            .await
            .unwrap();
        assert_eq!(written.updated.get(&person), Some(&1));
        assert_eq!(written.unchanged.get(&person), Some(&1));
        assert_eq!(written.created.get(&person), None);
        let changed = one(&store, person, 1).await.unwrap();
        assert_eq!(changed.created, first.created);
        assert!(changed.modified > first.modified, "{changed:?}");
        assert_eq!(changed.body["content"], "a2");
        let same = one(&store, person, 2).await.unwrap();
        assert_eq!(same.modified, same.created);
        // Another dataset in the same file is apart.
        assert!(store.served_ids("other", person).await.unwrap().is_empty());
        assert_eq!(
            store.served_counts(DATASET).await.unwrap(),
            BTreeMap::from([(person, 2)])
        );
    }

    #[tokio::test]
    async fn modified_never_goes_backwards_when_the_clock_does() {
        let (_dir, store) = store().await;
        let duty = EntityKind::Duty;
        store
            .write_served(DATASET, &upserts(vec![upsert(duty, 1, "a")]))
            .await
            .unwrap();
        // As if the last write had happened with a clock far ahead.
        let ahead = "2999-01-01T00:00:00.000000Z";
        sqlx::query("UPDATE served_entities SET modified = $1")
            .bind(ahead)
            .execute(store.pool())
            .await
            .unwrap();
        store
            .write_served(DATASET, &upserts(vec![upsert(duty, 1, "b")]))
            .await
            .unwrap();
        let entity = one(&store, duty, 1).await.unwrap();
        assert_eq!(entity.body["content"], "b");
        assert_eq!(entity.modified, ahead);
    }

    #[tokio::test]
    async fn deletes_leave_tombstones_and_re_creation_clears_them() {
        let (_dir, store) = store().await;
        let group = EntityKind::Group;
        store
            .write_served(
                DATASET,
                &upserts((1..=3).map(|n| upsert(group, n, "g")).collect()),
            )
            .await
            .unwrap();
        let written = store
            .write_served(DATASET, &deletes(&[(group, 1), (group, 2), (group, 9)]))
            .await
            .unwrap();
        assert_eq!(written.deleted.get(&group), Some(&2));
        assert_eq!(
            store.served_ids(DATASET, group).await.unwrap(),
            [Uuid::from_u128(3)]
        );
        let tombs = store
            .deleted_page(DATASET, None, &[], None, 10)
            .await
            .unwrap();
        let ids: Vec<Uuid> = tombs.iter().map(|t| t.id).collect();
        assert_eq!(ids, [Uuid::from_u128(1), Uuid::from_u128(2)]);
        // Re-created: served again, new created stamp, no tombstone.
        tick().await;
        store
            .write_served(DATASET, &upserts(vec![upsert(group, 1, "g")]))
            .await
            .unwrap();
        let again = one(&store, group, 1).await.unwrap();
        assert!(again.created > tombs[0].deleted_at);
        let tombs = store
            .deleted_page(DATASET, None, &[], None, 10)
            .await
            .unwrap();
        assert_eq!(
            tombs.iter().map(|t| t.id).collect::<Vec<_>>(),
            [Uuid::from_u128(2)]
        );
        // Re-deleted: a new, later tombstone.
        tick().await;
        store
            .write_served(DATASET, &deletes(&[(group, 1)]))
            .await
            .unwrap();
        let tombs = store
            .deleted_page(DATASET, None, &[], None, 10)
            .await
            .unwrap();
        assert_eq!(tombs.len(), 2);
        assert_eq!(tombs[1].id, Uuid::from_u128(1));
        assert!(tombs[1].deleted_at > again.created);
        // `after` and the type filter.
        let later = parse_time(&tombs[1].deleted_at).unwrap();
        let after = store
            .deleted_page(DATASET, Some(later), &[], None, 10)
            .await
            .unwrap();
        assert_eq!(after.len(), 1);
        let persons = store
            .deleted_page(DATASET, None, &[EntityKind::Person], None, 10)
            .await
            .unwrap();
        assert!(persons.is_empty());
    }

    #[tokio::test]
    async fn tombstone_pages_continue_after_the_cursor() {
        let (_dir, store) = store().await;
        let kinds = [EntityKind::Person, EntityKind::Duty];
        let mut all = Vec::new();
        for kind in kinds {
            all.extend((1..=5).map(|n| upsert(kind, n, "x")));
        }
        store.write_served(DATASET, &upserts(all)).await.unwrap();
        let gone: Vec<_> = kinds
            .iter()
            .flat_map(|k| (1..=5).map(|n| (*k, n)))
            .collect();
        store.write_served(DATASET, &deletes(&gone)).await.unwrap();
        let mut read = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .deleted_page(DATASET, None, &kinds, cursor.as_ref(), 3)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            cursor = Some(last.cursor());
            read.extend(page.iter().map(|t| (t.kind, t.id)));
        }
        assert_eq!(read.len(), 10);
        let distinct: BTreeSet<_> = read.iter().collect();
        assert_eq!(distinct.len(), 10);
    }

    #[tokio::test]
    async fn pages_are_keyset_range_scans() {
        let (_dir, store) = store().await;
        let all = (1..=1200)
            .map(|n| upsert(EntityKind::Person, n, "p"))
            .collect();
        let written = store.write_served(DATASET, &upserts(all)).await.unwrap();
        assert_eq!(written.created.get(&EntityKind::Person), Some(&1200));
        let page = store
            .served_page(
                DATASET,
                EntityKind::Person,
                &ServedFilter::default(),
                Some(Uuid::from_u128(1000)),
                500,
            )
            .await
            .unwrap();
        assert_eq!(page.len(), 200);
        assert_eq!(page[0].id, Uuid::from_u128(1001));
        // The plan: the primary key, in order, no sort and no full scan.
        let plan: Vec<String> = sqlx::query(
            "EXPLAIN QUERY PLAN SELECT kind, id, body, created, modified FROM served_entities \
             WHERE dataset = $1 AND kind = $2 AND id > $3 AND modified >= $4 ORDER BY id LIMIT 1001",
        )
        .bind(DATASET)
        .bind("Person")
        .bind("x")
        .bind("2020-01-01T00:00:00.000000Z")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect();
        let plan = plan.join("; ");
        assert!(
            plan.contains("USING INDEX sqlite_autoindex_served_entities_1"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }

    #[test]
    fn lower_bounds_round_up_to_the_microsecond() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.0000001Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ceil_text(t), "2026-01-01T00:00:00.000001Z");
        assert_eq!(floor_text(t), "2026-01-01T00:00:00.000000Z");
    }
}
