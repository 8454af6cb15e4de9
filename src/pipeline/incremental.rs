//! The `[incremental]` section: reading only what changed.
//!
//! A source that can (an SS 12000 API with `meta.modified.after`,
//! `meta.created.after` and `/deletedEntities`) is read from the last
//! read's watermark minus `lookback_secs`, and what it returns is merged
//! into the cached copy of the source in the state store; every
//! `full_read_every_hours` (and with `run --full`) the whole source is
//! read again to heal whatever the incremental path missed. A file source
//! whose files did not change (size, modification time, content hash) is
//! not read again: the cached copy stands in for it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `[incremental]` section. Every key has a default, so the section
/// may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// Keep a copy of the source in the state store and read only what
    /// changed since the last run where the source supports it (default
    /// true). `false`: every run reads the whole source and nothing of it
    /// is stored.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How far before the last read's start an incremental read begins, in
    /// seconds (default 300): changes stamped by a server whose clock lags,
    /// or in the same second as the last read, are read again rather than
    /// missed. Reading a change twice is harmless.
    #[serde(default = "default_lookback_secs")]
    pub lookback_secs: u64,
    /// Read the whole source at least this often, in hours (default 168, a
    /// week), so that a change the incremental path missed (a server that
    /// did not stamp it, a deletion it did not log) is healed. 0: every run
    /// reads in full.
    #[serde(default = "default_full_read_every_hours")]
    pub full_read_every_hours: u64,
}

impl Default for IncrementalConfig {
    fn default() -> Self {
        IncrementalConfig {
            enabled: true,
            lookback_secs: default_lookback_secs(),
            full_read_every_hours: default_full_read_every_hours(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_lookback_secs() -> u64 {
    300
}

fn default_full_read_every_hours() -> u64 {
    168
}
