//! What each sink holds, per entity: the hash it last accepted and the last
//! outcome.
//!
//! `confirmed_hash` moves only on accepted outcomes (Success, Warning), so a
//! failed or held-back update leaves the previous one and the next plan
//! sends the entity again; an accepted delete removes the row. Rows are
//! keyed by (sink, type, Skolverket id): two sinks never mix.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use skolsync_model::ObjectType;
use skolsync_model::plan::{Action, Outcome, OutcomeStatus, PreviousState};
use skolsync_model::provtjanst::LogEntry;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};
use uuid::Uuid;

use super::{StateError, StateStore, now_text, parse_id, parse_stored, parse_time};

/// The columns of an entity row, and how an outcome written over an
/// existing row merges into it (`ON CONFLICT … DO UPDATE SET …`): one text
/// for [`UPSERT`] and for promoting an unconfirmed layer ([`PROMOTE`]).
macro_rules! entity_upsert {
    (columns) => {
        "sink, kind, id, source_id, school_unit, confirmed_hash, last_hash, \
         last_action, last_status, messages, detail, run_id, updated_at, created_by_us"
    };
    (merge) => {
        " ON CONFLICT (sink, kind, id) DO UPDATE SET \
    source_id = COALESCE(excluded.source_id, entities.source_id), \
    school_unit = COALESCE(excluded.school_unit, entities.school_unit), \
    confirmed_hash = COALESCE(excluded.confirmed_hash, entities.confirmed_hash), \
    last_hash = COALESCE(excluded.last_hash, entities.last_hash), \
    last_action = excluded.last_action, \
    last_status = excluded.last_status, \
    messages = excluded.messages, \
    detail = excluded.detail, \
    run_id = excluded.run_id, \
    updated_at = excluded.updated_at, \
    created_by_us = CASE \
        WHEN excluded.created_by_us = 1 AND entities.confirmed_hash IS NULL THEN 1 \
        ELSE entities.created_by_us END"
    };
}

/// The upsert of one outcome (create/update, or a failed delete).
pub(crate) const UPSERT: &str = concat!(
    "INSERT INTO entities (",
    entity_upsert!(columns),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    entity_upsert!(merge)
);

/// The removal of an entity the service confirmed deleted.
pub(crate) const DELETE: &str = "DELETE FROM entities WHERE sink = $1 AND kind = $2 AND id = $3";

/// `SELECT <every column of an entity row> FROM entities <rest>`.
macro_rules! select_entities {
    ($rest:literal) => {
        concat!(
            "SELECT sink, kind, id, source_id, school_unit, confirmed_hash, last_hash, ",
            "last_action, last_status, messages, detail, run_id, updated_at, created_by_us ",
            "FROM entities ",
            $rest
        )
    };
}

/// The last known state of one entity in one sink (for `skolsync status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityRecord {
    /// The sink identity.
    pub sink: String,
    /// Resource type.
    pub kind: ObjectType,
    /// Skolverket id.
    pub id: Uuid,
    /// Id of the source record it came from.
    pub source_id: Option<String>,
    /// School unit code.
    pub school_unit: Option<String>,
    /// Content hash the service last accepted (`None`: it holds nothing of ours).
    pub confirmed_hash: Option<String>,
    /// Content hash of the last create/update attempted.
    pub last_hash: Option<String>,
    /// What was last attempted.
    pub last_action: Action,
    /// How that ended.
    pub last_status: OutcomeStatus,
    /// The service's errors and warnings from then.
    pub messages: Vec<LogEntry>,
    /// The sink's own message from then (network failure, blocker, …).
    pub detail: Option<String>,
    /// The run that did it.
    pub run_id: String,
    /// When the outcome arrived.
    pub updated: DateTime<Utc>,
    /// Whether this pipeline created it (only those are ever deleted).
    pub created_by_us: bool,
}

/// What marks the identity of a sink's *unconfirmed* outcomes (a sink
/// that [awaits confirmation](skolsync_sink::Sink::awaits_confirmation)):
/// `<sink identity>#unconfirmed`. Rows there are kept apart from what the
/// service holds until [`StateStore::promote_unconfirmed`] moves them over;
/// an accepted delete is kept as a row (not applied) so that it can be.
const UNCONFIRMED: &str = "#unconfirmed";

/// The identity under which a sink's unconfirmed outcomes are recorded.
pub fn unconfirmed_layer(sink: &str) -> String {
    format!("{sink}{UNCONFIRMED}")
}

/// Moves an unconfirmed layer's rows onto the sink (accepted deletes
/// remove the entity there, everything else is upserted), then empties
/// the layer. `$1` the sink, `$2` its layer.
pub(crate) const PROMOTE: [&str; 3] = [
    "DELETE FROM entities WHERE sink = $1 AND EXISTS (SELECT 1 FROM entities AS layer \
     WHERE layer.sink = $2 AND layer.kind = entities.kind AND layer.id = entities.id \
     AND layer.last_action = 'delete' AND layer.last_status IN ('success', 'warning'))",
    concat!(
        "INSERT INTO entities (",
        entity_upsert!(columns),
        ") SELECT $1, kind, id, source_id, school_unit, confirmed_hash, last_hash, \
            last_action, last_status, messages, detail, run_id, updated_at, created_by_us \
         FROM entities WHERE sink = $2 AND NOT (last_action = 'delete' \
            AND last_status IN ('success', 'warning'))",
        entity_upsert!(merge)
    ),
    "DELETE FROM entities WHERE sink = $2",
];

/// One outcome, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct PendingOutcome {
    pub outcome: Outcome,
    pub source_id: Option<String>,
    pub school_unit: Option<String>,
    pub at: String,
}

/// Writes one outcome with `executor` (a pool or an open transaction).
pub(crate) async fn write_outcome<'e, E>(
    executor: E,
    run_id: &str,
    sink: &str,
    pending: &PendingOutcome,
) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let o = &pending.outcome;
    let accepted = o.status.is_accepted();
    if o.action == Action::Delete && accepted && !sink.ends_with(UNCONFIRMED) {
        sqlx::query(DELETE)
            .bind(sink)
            .bind(o.kind.as_str())
            .bind(o.id.to_string())
            .execute(executor)
            .await?;
        return Ok(());
    }
    let sent_hash = if o.action == Action::Delete {
        None
    } else {
        o.hash.as_deref()
    };
    let detail = o.detail.clone().or_else(|| {
        o.blocked_by
            .map(|b| format!("held back: {} {} did not succeed", b.kind, b.id))
    });
    let messages = serde_json::to_string(&o.messages).unwrap_or_else(|_| "[]".into());
    sqlx::query(UPSERT)
        .bind(sink)
        .bind(o.kind.as_str())
        .bind(o.id.to_string())
        .bind(pending.source_id.as_deref())
        .bind(pending.school_unit.as_deref())
        .bind(sent_hash.filter(|_| accepted))
        .bind(sent_hash)
        .bind(action_str(o.action))
        .bind(status_str(o.status))
        .bind(messages)
        .bind(detail)
        .bind(run_id)
        .bind(&pending.at)
        .bind(i64::from(accepted && o.action == Action::Create))
        .execute(executor)
        .await?;
    Ok(())
}

impl StateStore {
    /// What the sink holds of ours, as far as we know: per type, every
    /// entity the service has accepted, with the content hash it accepted
    /// last. An entity whose last update failed keeps its previous hash
    /// (so the plan updates it again, or deletes it if it left the source);
    /// one never accepted is absent (so the plan creates it again).
    pub async fn previous_state(&self, sink: &str) -> Result<PreviousState, StateError> {
        let rows = sqlx::query(
            "SELECT kind, id, confirmed_hash, source_id FROM entities \
             WHERE sink = $1 AND confirmed_hash IS NOT NULL",
        )
        .bind(sink)
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("read the previous state"))?;
        let mut state = PreviousState::default();
        let err = StateError::query("read the previous state");
        for row in rows {
            let kind: String = row.try_get("kind").map_err(err)?;
            let id: String = row.try_get("id").map_err(err)?;
            let hash: String = row.try_get("confirmed_hash").map_err(err)?;
            let source_id: Option<String> = row.try_get("source_id").map_err(err)?;
            let (kind, id) = (parse_kind(&kind)?, parse_id(&id)?);
            state.hashes.entry(kind).or_default().insert(id, hash);
            if let Some(source_id) = source_id {
                state
                    .source_ids
                    .entry(kind)
                    .or_default()
                    .insert(id, source_id);
            }
        }
        Ok(state)
    }

    /// Records one outcome at once, in its own transaction. For the stream
    /// of a run use [`StateStore::outcome_writer`], which batches.
    pub async fn record_outcome(
        &self,
        run_id: &str,
        sink: &str,
        outcome: &Outcome,
        source_id: Option<&str>,
        school_unit: Option<&str>,
    ) -> Result<(), StateError> {
        let pending = PendingOutcome {
            outcome: outcome.clone(),
            source_id: source_id.map(str::to_string),
            school_unit: school_unit.map(str::to_string),
            at: now_text(),
        };
        write_outcome(self.pool(), run_id, sink, &pending)
            .await
            .map_err(StateError::query("record an outcome"))
    }

    /// The entities of `kind` this pipeline created in `sink` and the
    /// service still holds: the only ones a plan may delete.
    pub async fn deletable(
        &self,
        sink: &str,
        kind: ObjectType,
    ) -> Result<BTreeSet<Uuid>, StateError> {
        let rows = sqlx::query(
            "SELECT id FROM entities WHERE sink = $1 AND kind = $2 \
             AND created_by_us = 1 AND confirmed_hash IS NOT NULL",
        )
        .bind(sink)
        .bind(kind.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("read deletable entities"))?;
        rows.iter()
            .map(|row| {
                let id: String = row
                    .try_get("id")
                    .map_err(StateError::query("read deletable entities"))?;
                parse_id(&id)
            })
            .collect()
    }

    /// The last known state of the entity with Skolverket id `id` in `sink`.
    pub async fn entity_status(
        &self,
        sink: &str,
        id: Uuid,
    ) -> Result<Option<EntityRecord>, StateError> {
        let row = sqlx::query(select_entities!(
            "WHERE sink = $1 AND id = $2 ORDER BY kind LIMIT 1"
        ))
        .bind(sink)
        .bind(id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(StateError::query("read an entity's status"))?;
        row.as_ref().map(entity_record).transpose()
    }

    /// The entities in `sink` that came from the source record `source_id`.
    pub async fn find_by_source_id(
        &self,
        sink: &str,
        source_id: &str,
    ) -> Result<Vec<EntityRecord>, StateError> {
        let rows = sqlx::query(select_entities!(
            "WHERE sink = $1 AND source_id = $2 ORDER BY kind, id"
        ))
        .bind(sink)
        .bind(source_id)
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("find entities by source id"))?;
        rows.iter().map(entity_record).collect()
    }

    /// Records what `reconcile` read back from the service: the entity is
    /// held with content hash `hash`. Creates the row if missing (with
    /// `created_by_us` as given) and never clears an existing
    /// `created_by_us`.
    pub async fn record_reconciled(
        &self,
        run_id: &str,
        sink: &str,
        kind: ObjectType,
        id: Uuid,
        hash: &str,
        created_by_us: bool,
    ) -> Result<(), StateError> {
        sqlx::query(
            "INSERT INTO entities (sink, kind, id, source_id, school_unit, confirmed_hash, last_hash, \
                 last_action, last_status, messages, detail, run_id, updated_at, created_by_us) \
             VALUES ($1, $2, $3, NULL, NULL, $4, $4, 'create', 'success', '[]', 'reconciled', $5, $6, $7) \
             ON CONFLICT (sink, kind, id) DO UPDATE SET \
                 confirmed_hash = excluded.confirmed_hash, \
                 detail = excluded.detail, run_id = excluded.run_id, updated_at = excluded.updated_at, \
                 created_by_us = CASE WHEN excluded.created_by_us = 1 THEN 1 ELSE entities.created_by_us END",
        )
        .bind(sink)
        .bind(kind.as_str())
        .bind(id.to_string())
        .bind(hash)
        .bind(run_id)
        .bind(now_text())
        .bind(i64::from(created_by_us))
        .execute(self.pool())
        .await
        .map_err(StateError::query("record a reconciled entity"))?;
        Ok(())
    }

    /// Forgets an entity (for `reconcile`, when the service no longer holds it).
    pub async fn forget_entity(
        &self,
        sink: &str,
        kind: ObjectType,
        id: Uuid,
    ) -> Result<(), StateError> {
        sqlx::query(DELETE)
            .bind(sink)
            .bind(kind.as_str())
            .bind(id.to_string())
            .execute(self.pool())
            .await
            .map_err(StateError::query("forget an entity"))?;
        Ok(())
    }
}

fn entity_record(row: &SqliteRow) -> Result<EntityRecord, StateError> {
    let err = StateError::query("read an entity");
    let text = |column: &str| row.try_get::<String, _>(column).map_err(err);
    let optional = |column: &str| row.try_get::<Option<String>, _>(column).map_err(err);
    let messages = text("messages")?;
    Ok(EntityRecord {
        sink: text("sink")?,
        kind: parse_kind(&text("kind")?)?,
        id: parse_id(&text("id")?)?,
        source_id: optional("source_id")?,
        school_unit: optional("school_unit")?,
        confirmed_hash: optional("confirmed_hash")?,
        last_hash: optional("last_hash")?,
        last_action: parse_action(&text("last_action")?)?,
        last_status: parse_status(&text("last_status")?)?,
        messages: serde_json::from_str(&messages)
            .map_err(|e| StateError::Corrupt(format!("entity messages: {e}")))?,
        detail: optional("detail")?,
        run_id: text("run_id")?,
        updated: parse_time(&text("updated_at")?)?,
        created_by_us: row.try_get::<i64, _>("created_by_us").map_err(err)? != 0,
    })
}

pub(crate) fn parse_kind(text: &str) -> Result<ObjectType, StateError> {
    text.parse()
        .map_err(|_| StateError::Corrupt(format!("entity type `{text}`")))
}

const fn action_str(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

fn parse_action(text: &str) -> Result<Action, StateError> {
    let all = [Action::Create, Action::Update, Action::Delete];
    parse_stored(text, &all, action_str, "entity action")
}

const fn status_str(status: OutcomeStatus) -> &'static str {
    match status {
        OutcomeStatus::Success => "success",
        OutcomeStatus::Warning => "warning",
        OutcomeStatus::Error => "error",
        OutcomeStatus::HeldBack => "held_back",
    }
}

fn parse_status(text: &str) -> Result<OutcomeStatus, StateError> {
    let all = [
        OutcomeStatus::Success,
        OutcomeStatus::Warning,
        OutcomeStatus::Error,
        OutcomeStatus::HeldBack,
    ];
    parse_stored(text, &all, status_str, "entity status")
}
