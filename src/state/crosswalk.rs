//! The id crosswalk: identity continuity when the source system changes.
//!
//! When a municipality moves from school system A to B, B's records must
//! map to the Skolverket ids A's records were given, or the provtjänst
//! sees everyone as new people. The crosswalk keeps, per entity type, a
//! natural key (personnummer, EPPN, …) → Skolverket id. Keys are stored as
//! a SHA-256 over a per-store random salt and the normalised key, never in
//! clear: no personnummer sits in the state file, its backups or a grep of
//! them. (A salted hash of a number from a small space is no defence against
//! someone who holds the file and brute-forces it; the file's `0600` mode
//! is.)

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use skolsync_model::{CivicNo, ObjectType};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use super::entities::{EntityRecord, parse_id};
use super::{StateError, StateStore, now_text};

/// The `meta` key of the crosswalk salt.
const SALT_KEY: &str = "crosswalk_salt";

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

    /// The salted hash stored for this key.
    fn hash(&self, salt: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(salt);
        hasher.update(self.key_type.as_str().as_bytes());
        hasher.update([0x1f]);
        hasher.update(self.normalized.as_bytes());
        hex(&hasher.finalize())
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
    salt: Arc<[u8]>,
    key_type: KeyType,
    ids: HashMap<String, Uuid>,
}

impl Crosswalk {
    /// The Skolverket id recorded for `key`, if any.
    pub fn get(&self, key: &CrosswalkKey) -> Option<Uuid> {
        if key.key_type != self.key_type {
            return None;
        }
        self.ids.get(&key.hash(&self.salt)).copied()
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
        let err = StateError::query("record crosswalk keys");
        let now = now_text();
        let mut tx = self.pool().begin().await.map_err(err)?;
        let mut count = 0;
        for (key, id) in entries {
            sqlx::query(PUT)
                .bind(kind.as_str())
                .bind(key.key_type.as_str())
                .bind(key.hash(&self.salt))
                .bind(id.to_string())
                .bind(&now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
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
        let row = sqlx::query(
            "SELECT skolverket_id FROM crosswalk WHERE kind = $1 AND key_type = $2 AND key_hash = $3",
        )
        .bind(kind.as_str())
        .bind(key.key_type.as_str())
        .bind(key.hash(&self.salt))
        .fetch_optional(self.pool())
        .await
        .map_err(StateError::query("read the crosswalk"))?;
        row.map(|row| {
            let id: String = row
                .try_get("skolverket_id")
                .map_err(StateError::query("read the crosswalk"))?;
            parse_id(&id)
        })
        .transpose()
    }

    /// The whole crosswalk of `kind` for keys of `key_type`, for lookups
    /// during a transform.
    pub async fn crosswalk(
        &self,
        kind: ObjectType,
        key_type: KeyType,
    ) -> Result<Crosswalk, StateError> {
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
            salt: self.salt.clone(),
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

/// The store's crosswalk salt, created (32 random bytes) on first use.
pub(crate) async fn load_or_create_salt(pool: &SqlitePool) -> Result<Vec<u8>, StateError> {
    let err = StateError::query("read the crosswalk salt");
    let fresh: [u8; 32] = rand::random();
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(SALT_KEY)
        .bind(hex(&fresh))
        .execute(pool)
        .await
        .map_err(err)?;
    let stored: String = sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(SALT_KEY)
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("value"))
        .map_err(err)?;
    unhex(&stored).ok_or_else(|| StateError::Corrupt("the crosswalk salt is not hex".into()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || text.is_empty() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}
