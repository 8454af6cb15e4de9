//! What a read looked like: per input (a file, or an API resource) its
//! columns, record count and size, and the signs within the read that it is
//! broken.
//!
//! Why: a broken export must never be taken as the truth. A renamed column
//! reads as empty values, a stray quote swallows the rest of a file, a
//! truncated download ends mid-row — each looks like "these pupils left" or
//! "these classes are empty" to a diff. Connectors describe every input
//! they read as an [`InputShape`] (and flag what they can see on their own
//! as [`ReadAnomaly`]s); the engine compares the shapes with the previous
//! successful read and stops the run before anything is sent when a check
//! fails.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One input of a read: a file, or an API resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputShape {
    /// The file name (`Elevinskrivningar.csv`) or the resource (`/persons`).
    pub name: String,
    /// The header's columns as the file has them, in order (files only;
    /// empty for APIs).
    #[serde(default)]
    pub columns: Vec<String>,
    /// Records (data rows, entities) read from it.
    pub records: u64,
    /// Its size in bytes (a file's size; an API resource's response bytes).
    #[serde(default)]
    pub bytes: u64,
    /// Signs within this read alone that the input is broken.
    #[serde(default)]
    pub anomalies: Vec<ReadAnomaly>,
}

/// A sign that a read is broken: the run stops before sending unless the
/// check is allowed (`--allow-large-changes`, or the check's override in
/// the pipeline file's `[guards]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadAnomaly {
    /// Which check found it.
    pub check: ReadCheck,
    /// Where: `Elevinskrivningar.csv:11`, `GET …/persons`.
    pub location: String,
    /// What is wrong and what changed, for a person.
    pub message: String,
}

impl fmt::Display for ReadAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} [{}]", self.location, self.message, self.check)
    }
}

/// The checks that make a read look broken. Each can be allowed on its own
/// in the pipeline file (`[guards] allow_read = ["shrunk"]`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ReadCheck {
    /// A column the previous successful read had is missing.
    MissingColumn,
    /// The header changed (columns added, renamed or reordered).
    HeaderChanged,
    /// A file or resource holds far fewer records than the previous read.
    Shrunk,
    /// The last row ends early (fewer fields than the header, no line end):
    /// a cut-off file.
    Truncated,
    /// A quoted field runs over line ends or grows past any sane length: a
    /// stray `"` that would swallow the rows after it.
    RunawayQuote,
    /// Text that is not valid in the file's encoding.
    Encoding,
}

impl ReadCheck {
    /// Every check, for help texts and schemas.
    pub const ALL: [ReadCheck; 6] = [
        ReadCheck::MissingColumn,
        ReadCheck::HeaderChanged,
        ReadCheck::Shrunk,
        ReadCheck::Truncated,
        ReadCheck::RunawayQuote,
        ReadCheck::Encoding,
    ];

    /// The name used in pipeline files and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReadCheck::MissingColumn => "missing_column",
            ReadCheck::HeaderChanged => "header_changed",
            ReadCheck::Shrunk => "shrunk",
            ReadCheck::Truncated => "truncated",
            ReadCheck::RunawayQuote => "runaway_quote",
            ReadCheck::Encoding => "encoding",
        }
    }
}

impl fmt::Display for ReadCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
