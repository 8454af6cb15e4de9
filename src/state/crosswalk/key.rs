//! The crosswalk's key: where it lives, how keys are hashed with it, how
//! older hashes are still found (see the parent module for the rules).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool};

use super::{CrosswalkKey, hex, unhex};
use crate::state::StateError;

/// The `meta` key of the salt of old (unkeyed) crosswalk hashes.
const SALT_KEY: &str = "crosswalk_salt";
/// The `meta` key of the id of the key the crosswalk is written with.
const KEY_ID_KEY: &str = "crosswalk_key_id";
/// The environment variable that holds the crosswalk key.
pub const KEY_ENV: &str = "SKOLSYNC_CROSSWALK_KEY";
/// The environment variable that holds the previous key while rotating.
pub const OLD_KEY_ENV: &str = "SKOLSYNC_CROSSWALK_OLD_KEY";
/// The shortest key accepted.
const MIN_KEY_LEN: usize = 32;
/// The longest key file read.
const MAX_KEY_FILE: u64 = 4096;

/// One way of turning a key into its stored form.
#[derive(Clone)]
enum Hasher {
    /// HMAC-SHA256 under a secret key: stored as `<key id>:<hex>`.
    Keyed { id: String, key: Arc<[u8]> },
    /// The old form: SHA-256 over a salt kept in the state file, as `<hex>`.
    Salted(Arc<[u8]>),
}

impl Hasher {
    fn keyed(key: &[u8]) -> Hasher {
        Hasher::Keyed {
            id: key_id(key),
            key: key.into(),
        }
    }

    fn hash(&self, key: &CrosswalkKey) -> String {
        match self {
            Hasher::Keyed { id, key: secret } => {
                format!("{id}:{}", hmac_hex(secret, &key.message()))
            }
            Hasher::Salted(salt) => {
                let mut hasher = Sha256::new();
                hasher.update(salt);
                hasher.update(key.message());
                hex(&hasher.finalize())
            }
        }
    }
}

/// HMAC-SHA256 of `message` under `key`, in hex.
fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    // HMAC takes keys of any length; the error case cannot happen.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            hex(&mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The id of a key as the state file records it: 16 hex characters of an
/// HMAC of a fixed text, which tells keys apart without revealing them.
fn key_id(key: &[u8]) -> String {
    let mut id = hmac_hex(key, b"skolsync crosswalk key id");
    id.truncate(16);
    id
}

/// How the store hashes crosswalk keys: the current key, and the forms
/// older rows may still be in (a previous key while rotating, the salted
/// hashes of older state files).
#[derive(Clone)]
pub(crate) struct KeyHashes {
    current: Hasher,
    previous: Vec<Hasher>,
    /// Why the crosswalk cannot be used (a key that does not fit the rows).
    unusable: Option<String>,
}

impl fmt::Debug for KeyHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHashes { .. }")
    }
}

impl KeyHashes {
    /// Every stored form of `key`, the current one first.
    pub(super) fn all(&self, key: &CrosswalkKey) -> Vec<String> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .map(|h| h.hash(key))
            .collect()
    }

    pub(super) fn usable(&self) -> Result<(), StateError> {
        match &self.unusable {
            Some(why) => Err(StateError::CrosswalkKey(why.clone())),
            None => Ok(()),
        }
    }
}

/// Where the key comes from; `env` is `SKOLSYNC_CROSSWALK_KEY` and
/// `old_env` `SKOLSYNC_CROSSWALK_OLD_KEY` (passed in so tests need not set
/// the process environment).
#[derive(Clone, Default)]
pub(crate) struct KeySource {
    pub env: Option<String>,
    pub old_env: Option<String>,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys themselves.
        f.debug_struct("KeySource")
            .field("env", &self.env.is_some())
            .field("old_env", &self.old_env.is_some())
            .finish()
    }
}

impl KeySource {
    /// From the process environment.
    pub(crate) fn from_env() -> KeySource {
        let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        KeySource {
            env: var(KEY_ENV),
            old_env: var(OLD_KEY_ENV),
        }
    }
}

/// The key file of the state file at `state`: `<state>.key`.
pub fn key_file(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// The hashes of the store at `state`: its key (made on first use), the
/// forms older rows are in, and whether the key fits the rows.
pub(crate) async fn load_keys(
    pool: &SqlitePool,
    state: &Path,
    source: &KeySource,
) -> Result<KeyHashes, StateError> {
    let file = key_file(state);
    let mut old_file = file.clone().into_os_string();
    old_file.push(".old");
    let old_file = PathBuf::from(old_file);
    let old = match &source.old_env {
        Some(value) => Some(check_key(value.trim(), OLD_KEY_ENV)?),
        None if old_file.exists() => Some(read_key(&old_file)?),
        None => None,
    };
    let old_id = old.as_deref().map(|k| key_id(k.as_bytes()));
    let stored = meta(pool, KEY_ID_KEY).await?;
    let stored_rows = match &stored {
        Some(id) => rows_with_key_id(pool, id).await?,
        None => 0,
    };
    let hint = || {
        format!(
            "Restore the key file that belongs to this state file (or set {KEY_ENV} to its \
             value); to rotate keys, put the old key in {} or {OLD_KEY_ENV}",
            old_file.display()
        )
    };
    let (current, from) = match &source.env {
        Some(value) => (check_key(value.trim(), KEY_ENV)?, KEY_ENV.to_string()),
        None if !file.exists() && stored_rows > 0 && stored != old_id => {
            // Never make a new key for a crosswalk written with a lost one.
            return Ok(KeyHashes {
                current: Hasher::keyed(b"unusable"),
                previous: Vec::new(),
                unusable: Some(format!(
                    "the crosswalk key file {} is missing, and the crosswalk in {} was written \
                     with it. {}",
                    file.display(),
                    state.display(),
                    hint()
                )),
            });
        }
        None => (read_or_create_key(&file)?, file.display().to_string()),
    };
    let current = Hasher::keyed(current.as_bytes());
    let current_id = key_id_of(&current);
    let mut previous: Vec<Hasher> = old.iter().map(|k| Hasher::keyed(k.as_bytes())).collect();
    let salt = meta(pool, SALT_KEY).await?;
    if let Some(salt) = &salt {
        let salt = unhex(salt)
            .ok_or_else(|| StateError::Corrupt("the crosswalk salt is not hex".into()))?;
        previous.push(Hasher::Salted(salt.into()));
    }
    let mut unusable = None;
    match stored {
        Some(stored) if stored == current_id => {}
        Some(stored) if stored_rows > 0 && Some(&stored) != old_id.as_ref() => {
            unusable = Some(format!(
                "the crosswalk in {} was written with another key (id {stored}) than the one \
                 from {from} (id {current_id}). {}",
                state.display(),
                hint()
            ));
        }
        // New, older (salted) or rotating: the current key from now on.
        _ => set_meta(pool, KEY_ID_KEY, &current_id).await?,
    }
    // The salt of old hashes goes once no old hash is left.
    if salt.is_some() && unusable.is_none() {
        let old_rows: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM crosswalk WHERE key_hash NOT LIKE '%:%'")
                .fetch_one(pool)
                .await
                .and_then(|row| row.try_get("n"))
                .map_err(StateError::query("read the crosswalk"))?;
        if old_rows == 0 {
            sqlx::query("DELETE FROM meta WHERE key = $1")
                .bind(SALT_KEY)
                .execute(pool)
                .await
                .map_err(StateError::query("drop the crosswalk salt"))?;
            previous.retain(|h| matches!(h, Hasher::Keyed { .. }));
        }
    }
    Ok(KeyHashes {
        current,
        previous,
        unusable,
    })
}

fn key_id_of(hasher: &Hasher) -> String {
    match hasher {
        Hasher::Keyed { id, .. } => id.clone(),
        Hasher::Salted(_) => String::new(),
    }
}

async fn meta(pool: &SqlitePool, key: &str) -> Result<Option<String>, StateError> {
    let err = StateError::query("read the state's settings");
    let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .map_err(err)?;
    row.map(|row| row.try_get("value").map_err(err)).transpose()
}

async fn set_meta(pool: &SqlitePool, key: &str, value: &str) -> Result<(), StateError> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(pool)
    .await
    .map_err(StateError::query("record the crosswalk key id"))?;
    Ok(())
}

async fn rows_with_key_id(pool: &SqlitePool, id: &str) -> Result<i64, StateError> {
    sqlx::query("SELECT COUNT(*) AS n FROM crosswalk WHERE key_hash LIKE $1")
        .bind(format!("{id}:%"))
        .fetch_one(pool)
        .await
        .and_then(|row| row.try_get("n"))
        .map_err(StateError::query("read the crosswalk"))
}

/// A key as given: long enough, or an error naming where it came from.
fn check_key(key: &str, from: &str) -> Result<String, StateError> {
    if key.len() < MIN_KEY_LEN {
        return Err(StateError::CrosswalkKey(format!(
            "the crosswalk key in {from} is too short ({} characters; at least \
             {MIN_KEY_LEN}, e.g. from `openssl rand -hex 32`)",
            key.len()
        )));
    }
    Ok(key.to_string())
}

/// Reads a key file: a regular file of at most 4 KiB; its mode is
/// tightened to `0600` if it was looser.
fn read_key(path: &Path) -> Result<String, StateError> {
    let err = |e: std::io::Error| {
        StateError::CrosswalkKey(format!("cannot read the key file {}: {e}", path.display()))
    };
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_file() {
        return Err(StateError::CrosswalkKey(format!(
            "the key file {} is not a regular file",
            path.display()
        )));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(StateError::CrosswalkKey(format!(
            "the key file {} is larger than {MAX_KEY_FILE} bytes",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "the crosswalk key file was readable by others; made it 0600");
            crate::state::restrict_mode(path).map_err(err)?;
        }
    }
    let text = std::fs::read_to_string(path).map_err(err)?;
    check_key(text.trim(), &path.display().to_string())
}

/// Reads the key file at `path`, or creates it (32 random bytes in hex,
/// mode `0600`) if there is none. Creation is atomic: a complete file is
/// linked into place, so two processes starting at once agree on one key.
fn read_or_create_key(path: &Path) -> Result<String, StateError> {
    if path.exists() {
        return read_key(path);
    }
    let err = |e: std::io::Error| {
        StateError::CrosswalkKey(format!(
            "cannot create the key file {}: {e}",
            path.display()
        ))
    };
    let bytes: [u8; 32] = rand::random();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    let tmp = PathBuf::from(tmp);
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp).map_err(err)?;
        file.write_all(format!("{}\n", hex(&bytes)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(err)?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(file = %path.display(), "created the crosswalk key");
            read_key(path)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateStore;
    use crate::state::crosswalk::KeyType;
    use skolsync_model::ObjectType;
    use uuid::Uuid;

    const KEY_A: &str = "0123456789abcdef0123456789abcdef-a";
    const KEY_B: &str = "0123456789abcdef0123456789abcdef-b";

    fn anna() -> CrosswalkKey {
        CrosswalkKey::parse(KeyType::CivicNo, "200901272385").unwrap()
    }

    fn env(key: &str) -> KeySource {
        KeySource {
            env: Some(key.into()),
            old_env: None,
        }
    }

    async fn open(path: &Path, source: &KeySource) -> Result<StateStore, StateError> {
        StateStore::open_with(path, source).await
    }

    async fn hashes(store: &StateStore) -> Vec<String> {
        sqlx::query("SELECT key_hash FROM crosswalk ORDER BY key_hash")
            .fetch_all(store.pool())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.get::<String, _>("key_hash"))
            .collect()
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[tokio::test]
    async fn keys_are_keyed_hashes_and_the_wrong_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = open(&path, &env(KEY_A)).await.unwrap();
        store
            .crosswalk_put(ObjectType::Person, &anna(), id(1))
            .await
            .unwrap();
        let stored = hashes(&store).await;
        let expected = format!(
            "{}:{}",
            key_id(KEY_A.as_bytes()),
            hmac_hex(KEY_A.as_bytes(), &anna().message())
        );
        assert_eq!(stored, vec![expected]);
        // With the key from the environment no key file is made.
        assert!(!key_file(&path).exists());
        store.close().await;

        let again = open(&path, &env(KEY_A)).await.unwrap();
        assert_eq!(
            again
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
        again.close().await;

        // Another key: refused when the crosswalk is used, naming what to do.
        let other = open(&path, &env(KEY_B)).await.unwrap();
        let err = other
            .crosswalk(ObjectType::Person, KeyType::CivicNo)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("another key") && err.contains(KEY_ENV),
            "{err}"
        );
        assert!(!err.contains(KEY_A) && !err.contains(KEY_B), "{err}");
        assert!(
            other
                .crosswalk_put(ObjectType::Person, &anna(), id(2))
                .await
                .is_err()
        );
        // Too short a key is refused outright.
        let err = open(&path, &env("short")).await.unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_key_file_is_made_private_beside_the_state_and_never_remade() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let none = KeySource::default();
        let store = open(&path, &none).await.unwrap();
        let file = key_file(&path);
        assert_eq!(file, dir.path().join("s.sqlite.key"));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        let key = std::fs::read_to_string(&file).unwrap();
        assert_eq!(key.trim().len(), 64);
        store
            .crosswalk_put(ObjectType::Person, &anna(), id(1))
            .await
            .unwrap();
        store.close().await;
        // The key is not in the state file.
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.windows(64).any(|w| w == key.trim().as_bytes()));

        // A loose mode is tightened; the same key finds the same id.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = open(&path, &none).await.unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            store
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
        store.close().await;

        // A lost key file is an error, and no new key is made silently.
        std::fs::remove_file(&file).unwrap();
        let store = open(&path, &none).await.unwrap();
        let err = store
            .crosswalk_get(ObjectType::Person, &anna())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
        assert!(!file.exists());
        // The same key given in the environment works.
        let store = open(&path, &env(key.trim())).await.unwrap();
        assert_eq!(
            store
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
    }

    #[tokio::test]
    async fn a_key_file_that_is_not_a_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        std::fs::create_dir(key_file(&path)).unwrap();
        let err = open(&path, &KeySource::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[tokio::test]
    async fn rotating_moves_every_confirmed_key_to_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = open(&path, &env(KEY_A)).await.unwrap();
        let bo = CrosswalkKey::parse(KeyType::Eppn, "bo@skola.se").unwrap();
        store
            .crosswalk_put_many(ObjectType::Person, [(anna(), id(1)), (bo.clone(), id(2))])
            .await
            .unwrap();
        store.close().await;

        let rotating = KeySource {
            env: Some(KEY_B.into()),
            old_env: Some(KEY_A.into()),
        };
        let store = open(&path, &rotating).await.unwrap();
        let map = store
            .crosswalk(ObjectType::Person, KeyType::CivicNo)
            .await
            .unwrap();
        assert_eq!(map.get(&anna()), Some(id(1)), "found under the old key");
        // The run confirms Anna: written under the new key, the old row gone.
        store
            .crosswalk_put(ObjectType::Person, &anna(), id(1))
            .await
            .unwrap();
        let new_id = key_id(KEY_B.as_bytes());
        let rows = hashes(&store).await;
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows.iter().filter(|h| h.starts_with(&new_id)).count(),
            1,
            "{rows:?}"
        );
        store.close().await;

        // Without the old key: Anna is found, Bo (not seen) is not.
        let store = open(&path, &env(KEY_B)).await.unwrap();
        assert_eq!(
            store
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
        assert_eq!(
            store.crosswalk_get(ObjectType::Person, &bo).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn older_salted_hashes_are_found_and_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let store = open(&path, &env(KEY_A)).await.unwrap();
        // A state file of an earlier skolsync: a salt in meta, salted rows,
        // no key id.
        let salt = [7u8; 32];
        let legacy = Hasher::Salted(salt.to_vec().into()).hash(&anna());
        sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
            .bind(SALT_KEY)
            .bind(hex(&salt))
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(KEY_ID_KEY)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO crosswalk VALUES ('Person', 'civic_no', $1, $2, 'x')")
            .bind(&legacy)
            .bind(id(1).to_string())
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;

        let store = open(&path, &env(KEY_A)).await.unwrap();
        assert_eq!(
            store
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
        store
            .crosswalk_put(ObjectType::Person, &anna(), id(1))
            .await
            .unwrap();
        assert!(hashes(&store).await.iter().all(|h| h.contains(':')));
        store.close().await;
        // No salted hash left: the salt goes.
        let store = open(&path, &env(KEY_A)).await.unwrap();
        assert_eq!(meta(store.pool(), SALT_KEY).await.unwrap(), None);
        assert_eq!(
            store
                .crosswalk_get(ObjectType::Person, &anna())
                .await
                .unwrap(),
            Some(id(1))
        );
    }
}
