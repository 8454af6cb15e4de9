//! Why a state-store operation failed.

use std::path::PathBuf;

use super::runs::LockHolder;

/// An error of the state store. Messages name the file and what was being
/// done; none of them carries a personnummer or a secret.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The state file or its directory could not be created or secured.
    #[error("cannot create the state file {}: {source}", path.display())]
    Create {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite could not open the file.
    #[error("cannot open the state store {}: {source}", path.display())]
    Open {
        /// The state file.
        path: PathBuf,
        /// The database error.
        source: sqlx::Error,
    },
    /// The schema migrations failed (e.g. a file from a newer skolsync).
    #[error("cannot bring the state store {} up to date: {source}", path.display())]
    Migrate {
        /// The state file.
        path: PathBuf,
        /// The migration error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("state store: cannot {doing}: {source}")]
    Query {
        /// What was being done, e.g. `record outcomes`.
        doing: &'static str,
        /// The database error.
        source: sqlx::Error,
    },
    /// Another run of the same pipeline holds the lock.
    #[error(
        "pipeline `{pipeline}` is already running: {holder}. Wait for it to finish; \
         a lock whose process is gone (on this host) or older than {stale_hours} h is taken over automatically"
    )]
    Locked {
        /// The pipeline.
        pipeline: String,
        /// Who holds it.
        holder: LockHolder,
        /// After how many hours a lock counts as stale.
        stale_hours: u64,
    },
    /// Another run writes to the same provtjänst client on this machine
    /// (whatever its state file): see [`crate::lock`].
    #[error(
        "another run is already running against the same provtjänst client ({sink}): {holder}. \
         Only one run at a time may write to a client, whatever their state files; wait for \
         it to finish (lock file {})",
        lock.display()
    )]
    SinkLocked {
        /// The sink (URL and client identity).
        sink: String,
        /// Who holds it, as the holder wrote it (escaped).
        holder: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// A sink lock file could not be created, opened or locked.
    #[error("cannot use the lock file {}: {source}", path.display())]
    LockFile {
        /// The lock file (or its folder).
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A database URL of a backend that does not exist yet.
    #[error(
        "{scheme} state stores are not supported yet; use an embedded SQLite file \
         ([state] path = \"state/<pipeline>.sqlite\" or url = \"sqlite://…\")"
    )]
    Unsupported {
        /// The URL scheme, e.g. `postgres` (never the rest: it may hold a password).
        scheme: String,
    },
    /// A database URL that is not understood.
    #[error("invalid state store URL: {reason} (expected sqlite://PATH)")]
    InvalidUrl {
        /// What is wrong.
        reason: String,
    },
    /// A row that does not read back as what was written (a damaged or
    /// foreign file).
    #[error("the state store holds invalid data: {0}")]
    Corrupt(String),
    /// A crosswalk key that cannot be normalised (the message is masked).
    #[error("invalid crosswalk key: {0}")]
    InvalidKey(String),
    /// The crosswalk's key is missing, unreadable, too short or not the
    /// one the crosswalk was written with (the message says which and what
    /// to do; it never shows a key).
    #[error("crosswalk key: {0}")]
    CrosswalkKey(String),
    /// The background outcome writer has stopped (after an earlier error,
    /// which [`OutcomeWriter::finish`](super::OutcomeWriter::finish) returns).
    #[error("the state store's outcome writer has stopped")]
    WriterStopped,
}

impl StateError {
    /// A [`StateError::Query`] for `doing`.
    pub(crate) fn query(doing: &'static str) -> impl Fn(sqlx::Error) -> StateError + Copy {
        move |source| StateError::Query { doing, source }
    }
}
