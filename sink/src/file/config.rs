//! `[sink]` with `kind = "jsonl"`, `"csv"` or `"parquet"`.
//!
//! ```toml
//! [sink]
//! kind = "parquet"
//! dir = "out/linkoping"      # relative to the pipeline file's folder
//! content = "provtjanst"     # or "ss12000": the raw source entities
//! ```

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a file sink writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Content {
    /// The provtjänst payloads of the plan's creates and updates per type
    /// (`persons`, `duties`, `groups`, `activities`) and its deletes.
    #[default]
    Provtjanst,
    /// The SS 12000 entities as the source delivered them, per type.
    Ss12000,
}

/// Settings of the file sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The directory to write into (created if missing); relative paths are
    /// taken from the pipeline file's folder. Files of an earlier run are
    /// replaced.
    pub dir: PathBuf,
    /// `provtjanst` (default) or `ss12000`.
    #[serde(default)]
    pub content: Content,
}
