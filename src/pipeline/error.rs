//! Why a pipeline file cannot be used: [`PipelineError`] and, for a typo
//! in a key, [`UnknownKey`].
//!
//! Errors name the file, the line and the key. An unknown key also names
//! the closest valid key, because the usual cause is a typo
//! (`enviroment`), and a typo that is silently ignored is a setting that
//! silently does not apply. The types live apart from the loader because
//! the engine and the commands match on them without loading anything.

use std::path::PathBuf;

/// Why a pipeline file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The file cannot be read.
    #[error("cannot read the pipeline file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{}:{line}:{column}: not valid TOML: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A key that no section has.
    #[error(transparent)]
    UnknownKey(Box<UnknownKey>),
    /// A value or a missing key.
    #[error("{}{}: {key}: {message}", path.display(), line_text(*line))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The dotted key, e.g. `guards.max_deletes`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `${env:..}` or `${file:..}` could not be expanded.
    #[error("{}{}: {key}: {message}", path.display(), line_text(*line))]
    Expand {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// The dotted key whose value could not be expanded.
        key: String,
        /// What is wrong (never the secret itself).
        message: String,
    },
    /// Several problems, each with its key and line, reported at once.
    #[error("{}: {} problems:{}", path.display(), problems.len(), list(problems))]
    Problems {
        /// The file.
        path: PathBuf,
        /// Each problem (`Invalid` ones).
        problems: Vec<PipelineError>,
    },
    /// The embedded sandbox could not start.
    #[error("{}: [sandbox]: could not start the embedded sandbox: {message}", path.display())]
    Sandbox {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// A key that no section has, with the closest valid one.
#[derive(Debug, thiserror::Error)]
#[error(
    "{}{}: unknown key `{key}` in {table}{}",
    path.display(),
    line_text(*line),
    suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default()
)]
pub struct UnknownKey {
    /// The file.
    pub path: PathBuf,
    /// 1-based line of the key, when found.
    pub line: Option<usize>,
    /// The key as written.
    pub key: String,
    /// The table it is in, e.g. `[sink]`.
    pub table: String,
    /// The closest valid key.
    pub suggestion: Option<String>,
    /// Every valid key there.
    pub valid: Vec<String>,
}

fn list(problems: &[PipelineError]) -> String {
    problems.iter().map(|p| format!("\n  - {p}")).collect()
}

fn line_text(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}
