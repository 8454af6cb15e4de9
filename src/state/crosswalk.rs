//! The id crosswalk: identity continuity when the source system changes.
//!
//! When a municipality moves from school system A to B, B's records must
//! map to the Skolverket ids A's records were given, or the provtjänst
//! sees everyone as new people. The crosswalk keeps, per entity type, a
//! natural key (personnummer, EPPN, …) → Skolverket id. Keys are never
//! stored in clear: the state file holds an HMAC-SHA256 of each normalised
//! key, under a secret key that is **not** in the state file. Whoever holds
//! the state file (or a backup of it) without the key cannot test
//! personnummer against it, which a plain or salted hash of a number from
//! so small a space would allow.
//!
//! # Where the key lives
//!
//! 1. `SKOLSYNC_CROSSWALK_KEY`, if set: at least 32 characters (e.g. the
//!    output of `openssl rand -hex 32`), used as they are. For deployments
//!    that keep secrets in a vault rather than on the disk.
//! 2. Otherwise the file `<state file>.key` beside the state file (e.g.
//!    `state/demo.sqlite.key`), created on first use with 32 random bytes
//!    in hex and mode `0600`. Back it up with the state file, but keep it
//!    out of places the state file goes alone (tickets, shared drives).
//!
//! The state file records only the key's id (an HMAC of a fixed text), so a
//! run with the wrong or a lost key is refused with a clear message instead
//! of silently giving everyone new ids in a migration.
//!
//! # Rotating the key
//!
//! Move `<state file>.key` to `<state file>.key.old` (or set the old value
//! as `SKOLSYNC_CROSSWALK_OLD_KEY`) and run the pipeline: a new key is made
//! (or taken from `SKOLSYNC_CROSSWALK_KEY`), keys are looked up under both,
//! and everything the run confirms is written again under the new one. After
//! one successful run, delete the old key. Keys of entities that run did not
//! see stay under the old key and are not found once it is gone (they only
//! matter if those entities come back from another system).
//!
//! # Older state files
//!
//! State files written before keyed hashes hold SHA-256 hashes salted with a
//! value stored in the file itself. They are migrated transparently: those
//! hashes are still found, each key a run confirms is written again keyed
//! (and its old hash removed), and the salt is dropped once no old hash is
//! left.

mod key;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use skolsync_model::{CivicNo, ObjectType};
use sqlx::Row;
use uuid::Uuid;

pub use key::{KEY_ENV, OLD_KEY_ENV, key_file};
pub(crate) use key::{KeyHashes, KeySource, load_keys};

use super::entities::EntityRecord;
use super::parse_id;
use super::{StateError, StateStore, now_text};

/// What a crosswalk key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// A personnummer, samordningsnummer or temporary number (normalised to
    /// its 12 characters).
    CivicNo,
    /// A federated user name (compared without case).
    Eppn,
    /// An e-mail address (compared without case).
    Email,
    /// The record's id in the source system.
    SourceId,
    /// A natural key the caller composes, e.g. school unit + group name.
    Natural,
}

impl KeyType {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyType::CivicNo => "civic_no",
            KeyType::Eppn => "eppn",
            KeyType::Email => "email",
            KeyType::SourceId => "source_id",
            KeyType::Natural => "natural",
        }
    }
}

/// A normalised crosswalk key. `Debug` never shows a personnummer.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CrosswalkKey {
    key_type: KeyType,
    normalized: String,
}

impl CrosswalkKey {
    /// The key of a (validated) personal identity number.
    pub fn civic_no(civic_no: &CivicNo) -> CrosswalkKey {
        CrosswalkKey {
            key_type: KeyType::CivicNo,
            normalized: civic_no.normalized().to_string(),
        }
    }

    /// Normalises `raw` as a key of `key_type`: personnummer are parsed and
    /// normalised (an invalid one is an error, masked), EPPNs and e-mail
    /// addresses lower-cased, everything trimmed; empty keys are errors.
    pub fn parse(key_type: KeyType, raw: &str) -> Result<CrosswalkKey, StateError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(StateError::InvalidKey(format!(
                "empty {} key",
                key_type.as_str()
            )));
        }
        let normalized = match key_type {
            KeyType::CivicNo => {
                let civic_no =
                    CivicNo::parse(trimmed).map_err(|e| StateError::InvalidKey(e.to_string()))?;
                return Ok(CrosswalkKey::civic_no(&civic_no));
            }
            KeyType::Eppn | KeyType::Email => trimmed.to_lowercase(),
            KeyType::SourceId | KeyType::Natural => trimmed.to_string(),
        };
        Ok(CrosswalkKey {
            key_type,
            normalized,
        })
    }

    /// What the key is.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The text hashed: the key type, a separator, the normalised key.
    fn message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(self.normalized.len() + 12);
        message.extend_from_slice(self.key_type.as_str().as_bytes());
        message.push(0x1f);
        message.extend_from_slice(self.normalized.as_bytes());
        message
    }
}

impl fmt::Debug for CrosswalkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match self.key_type {
            KeyType::CivicNo => skolsync_model::civic_no::mask(&self.normalized),
            _ => self.normalized.clone(),
        };
        write!(f, "CrosswalkKey({}: {shown})", self.key_type.as_str())
    }
}

/// One type's crosswalk for one key type, loaded whole for a run.
#[derive(Debug, Clone)]
pub struct Crosswalk {
    hashes: Arc<KeyHashes>,
    key_type: KeyType,
    ids: HashMap<String, Uuid>,
}

impl Crosswalk {
    /// The Skolverket id recorded for `key`, if any.
    pub fn get(&self, key: &CrosswalkKey) -> Option<Uuid> {
        if key.key_type != self.key_type {
            return None;
        }
        self.hashes
            .all(key)
            .iter()
            .find_map(|h| self.ids.get(h))
            .copied()
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

const PUT: &str = "INSERT INTO crosswalk (kind, key_type, key_hash, skolverket_id, updated_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (kind, key_type, key_hash) DO UPDATE SET \
     skolverket_id = excluded.skolverket_id, updated_at = excluded.updated_at";

impl StateStore {
    /// Records that `key` of an entity of `kind` maps to Skolverket id `id`.
    pub async fn crosswalk_put(
        &self,
        kind: ObjectType,
        key: &CrosswalkKey,
        id: Uuid,
    ) -> Result<(), StateError> {
        self.crosswalk_put_many(kind, [(key.clone(), id)]).await?;
        Ok(())
    }

    /// Records many keys of `kind` in one transaction; returns how many.
    pub async fn crosswalk_put_many(
        &self,
        kind: ObjectType,
        entries: impl IntoIterator<Item = (CrosswalkKey, Uuid)>,
    ) -> Result<u64, StateError> {
        self.keys.usable()?;
        let err = StateError::query("record crosswalk keys");
        let now = now_text();
        let mut tx = self.pool().begin().await.map_err(err)?;
        let mut count = 0;
        for (key, id) in entries {
            let mut forms = self.keys.all(&key).into_iter();
            let Some(current) = forms.next() else {
                continue;
            };
            sqlx::query(PUT)
                .bind(kind.as_str())
                .bind(key.key_type.as_str())
                .bind(current)
                .bind(id.to_string())
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            // Migration: the same key in an older form goes.
            for old in forms {
                sqlx::query(
                    "DELETE FROM crosswalk WHERE kind = $1 AND key_type = $2 AND key_hash = $3",
                )
                .bind(kind.as_str())
                .bind(key.key_type.as_str())
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            count += 1;
        }
        tx.commit().await.map_err(err)?;
        Ok(count)
    }

    /// The Skolverket id recorded for `key` of an entity of `kind`.
    pub async fn crosswalk_get(
        &self,
        kind: ObjectType,
        key: &CrosswalkKey,
    ) -> Result<Option<Uuid>, StateError> {
        self.keys.usable()?;
        let err = StateError::query("read the crosswalk");
        for hash in self.keys.all(key) {
            let row = sqlx::query(
                "SELECT skolverket_id FROM crosswalk WHERE kind = $1 AND key_type = $2 AND key_hash = $3",
            )
            .bind(kind.as_str())
            .bind(key.key_type.as_str())
            .bind(hash)
            .fetch_optional(self.pool())
            .await
            .map_err(err)?;
            if let Some(row) = row {
                let id: String = row.try_get("skolverket_id").map_err(err)?;
                return parse_id(&id).map(Some);
            }
        }
        Ok(None)
    }

    /// The whole crosswalk of `kind` for keys of `key_type`, for lookups
    /// during a transform.
    pub async fn crosswalk(
        &self,
        kind: ObjectType,
        key_type: KeyType,
    ) -> Result<Crosswalk, StateError> {
        self.keys.usable()?;
        let err = StateError::query("read the crosswalk");
        let rows = sqlx::query(
            "SELECT key_hash, skolverket_id FROM crosswalk WHERE kind = $1 AND key_type = $2",
        )
        .bind(kind.as_str())
        .bind(key_type.as_str())
        .fetch_all(self.pool())
        .await
        .map_err(err)?;
        let mut ids = HashMap::with_capacity(rows.len());
        for row in rows {
            let hash: String = row.try_get("key_hash").map_err(err)?;
            let id: String = row.try_get("skolverket_id").map_err(err)?;
            ids.insert(hash, parse_id(&id)?);
        }
        Ok(Crosswalk {
            hashes: self.keys.clone(),
            key_type,
            ids,
        })
    }

    /// The last known state of the person with this personal identity
    /// number in `sink`, through the crosswalk (for `skolsync status
    /// --civic-no`).
    pub async fn find_by_civic_no(
        &self,
        sink: &str,
        civic_no: &CivicNo,
    ) -> Result<Option<EntityRecord>, StateError> {
        let key = CrosswalkKey::civic_no(civic_no);
        match self.crosswalk_get(ObjectType::Person, &key).await? {
            Some(id) => self.entity_status(sink, id).await,
            None => Ok(None),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.is_empty() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
