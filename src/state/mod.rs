//! The state store: what this pipeline has done and what each sink holds.
//!
//! One embedded SQLite file per pipeline (created `0600`, WAL journal)
//! keeps the run history and the run lock ([`runs`]), per sink and entity
//! the content hash the service last accepted and the last outcome
//! ([`entities`], written in batches by [`OutcomeWriter`]), the id crosswalk
//! that keeps Skolverket ids across a change of source system
//! ([`crosswalk`]) and the watermarks of incremental reads ([`watermark`]).
//! The schema lives in `migrations/` in SQL that PostgreSQL shares, so a
//! server backend for multi-worker deployments can follow.
//!
//! Durability: the journal is WAL with `synchronous = NORMAL`, so every
//! committed transaction survives the process being killed at any moment;
//! only a power failure can lose the last few commits. Either way the next
//! run re-sends at most what was not recorded, which the provtjänst takes
//! idempotently (`updateIfExists`).

mod crosswalk;
mod entities;
mod error;
mod runs;
pub mod served;
mod shapes;
mod source_cache;
mod uploads;
mod watermark;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use crosswalk::{Crosswalk, CrosswalkKey, KEY_ENV, KeyType, OLD_KEY_ENV, key_file};
pub use entities::{EntityRecord, unconfirmed_layer};
pub use error::StateError;
pub use runs::{LockHolder, RunGuard, RunOutcome, RunRecord};
pub use source_cache::{CacheInfo, CacheWrite, CachedSource, FileStamp, cache_row};
pub use uploads::{UploadFile, UploadStatus};
pub use writer::{OutcomeWriter, WriterConfig};

/// The schema, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How long another process may wait for a write lock held by a run before
/// giving up (SQLite `busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Default age after which a run lock counts as stale whatever its process.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

/// A connection to one state store. Cheap to clone (a shared pool).
#[derive(Clone)]
pub struct StateStore {
    pool: SqlitePool,
    path: PathBuf,
    /// How crosswalk keys are hashed (the key lives outside the file).
    keys: Arc<crosswalk::KeyHashes>,
    stale_after: Duration,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateStore")
            .field("path", &self.path)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

impl StateStore {
    /// Opens the SQLite state file at `path`, creating it (mode `0600`, and
    /// missing directories `0700`) and bringing its schema up to date.
    /// The crosswalk's key is read from `SKOLSYNC_CROSSWALK_KEY` or
    /// `<path>.key` (see [`key_file`]; the crosswalk module says how to rotate it).
    pub async fn open(path: impl AsRef<Path>) -> Result<StateStore, StateError> {
        StateStore::open_with(path.as_ref(), &crosswalk::KeySource::from_env()).await
    }

    /// [`open`](StateStore::open) with the crosswalk key from `keys`.
    pub(crate) async fn open_with(
        path: &Path,
        keys: &crosswalk::KeySource,
    ) -> Result<StateStore, StateError> {
        let path = path.to_path_buf();
        create_private_file(&path)?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StateError::Open {
                path: path.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StateError::Migrate {
                path: path.clone(),
                source,
            })?;
        // SQLite gives the journal files the database file's mode; make sure.
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            let side = PathBuf::from(side);
            if side.exists() {
                restrict_mode(&side).map_err(|source| StateError::Create {
                    path: side.clone(),
                    source,
                })?;
            }
        }
        let keys = crosswalk::load_keys(&pool, &path, keys).await?;
        Ok(StateStore {
            pool,
            path,
            keys: Arc::new(keys),
            stale_after: DEFAULT_STALE_AFTER,
        })
    }

    /// Opens a store by URL: `sqlite://PATH` (or `sqlite:PATH`). PostgreSQL
    /// URLs are recognised and refused with a clear "not supported yet".
    pub async fn open_url(url: &str) -> Result<StateStore, StateError> {
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(StateError::InvalidUrl {
                reason: "no scheme".into(),
            });
        };
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => {
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                // Connection parameters (`?mode=…`) are ours to choose.
                let path = rest.split('?').next().unwrap_or_default();
                if path.is_empty() || path.starts_with(":memory:") {
                    return Err(StateError::InvalidUrl {
                        reason: "a state store needs a file path".into(),
                    });
                }
                StateStore::open(path).await
            }
            "postgres" | "postgresql" => Err(StateError::Unsupported {
                scheme: "PostgreSQL".into(),
            }),
            other => Err(StateError::InvalidUrl {
                // Only the scheme: the rest may hold a password.
                reason: format!("unknown scheme `{other}`"),
            }),
        }
    }

    /// Sets the age after which a run lock is stale even if its process
    /// may still be alive (default [`DEFAULT_STALE_AFTER`]).
    pub fn with_stale_after(mut self, age: Duration) -> StateStore {
        self.stale_after = age;
        self
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections, waiting for them to finish (dropping the
    /// store closes them too, in the background).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Creates `path` with mode `0600` if missing (its directory `0700`), and
/// tightens the mode of an existing file: the store names pupils' ids.
fn create_private_file(path: &Path) -> Result<(), StateError> {
    let err = |source| StateError::Create {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(err)?;
    restrict_mode(path).map_err(err)
}

/// Sets mode `0600` (a no-op off Unix).
fn restrict_mode(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Now, in the store's timestamp form: fixed-width RFC 3339 UTC with
/// microseconds, so timestamps sort as text.
pub(crate) fn now_text() -> String {
    time_text(Utc::now())
}

/// A timestamp in the store's form.
pub(crate) fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads back a name the store wrote with `name`: the one of `all` whose
/// name it is; any other text means the state file is corrupt (`what` names
/// the column in the error).
pub(crate) fn parse_stored<T: Copy>(
    text: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
    what: &str,
) -> Result<T, StateError> {
    all.iter()
        .copied()
        .find(|value| name(*value) == text)
        .ok_or_else(|| StateError::Corrupt(format!("{what} `{text}`")))
}

/// Reads a stored id (a UUID in text) back; anything else means the
/// state file is corrupt.
pub(crate) fn parse_id(text: &str) -> Result<uuid::Uuid, StateError> {
    uuid::Uuid::parse_str(text).map_err(|_| StateError::Corrupt(format!("id `{text}`")))
}

/// Reads a stored timestamp back.
pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, StateError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StateError::Corrupt(format!("timestamp `{text}`: {e}")))
}
