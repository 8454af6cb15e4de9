//! Reading a pipeline file: TOML → sandbox endpoints (if any) → `${env:..}`
//! and `${file:..}` expanded → typed [`PipelineFile`], with paths resolved
//! against the file's folder.
//!
//! Errors name the file, the line and the key. An unknown key also names
//! the closest valid key, because the usual cause is a typo
//! (`enviroment`), and a typo that is silently ignored is a setting that
//! silently does not apply.
//!
//! The file is parsed twice: once with spans (to find lines) and once into
//! a plain value tree that is changed (sandbox endpoints, expansion) and
//! then deserialized. Deserialization goes through the tree because
//! expansion must happen per string value, after parsing: a secret that
//! contains a quote must not be able to change the file's structure.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use skolsync_sandbox::Endpoints;
use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::config::{PipelineFile, SandboxSection};
use super::expand;

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

fn line_text(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Which sandbox, if any, the pipeline runs against.
#[derive(Debug, Clone, Default)]
pub enum SandboxChoice {
    /// As the file says: the embedded sandbox when `[sandbox] enabled = true`,
    /// else the real services.
    #[default]
    FromFile,
    /// A sandbox that is already running (`skolsync sandbox --json`, or a
    /// test's): the source, sink and open-data go to these endpoints
    /// whatever the file says, and the file's `[sandbox]` is ignored.
    Attach(Box<Endpoints>),
}

/// How to load a pipeline file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Which sandbox, if any.
    pub sandbox: SandboxChoice,
    /// Use this state file instead of the file's `[state]`.
    pub state_path: Option<PathBuf>,
    /// Write reports here instead of the file's `[report] dir`.
    pub reports_dir: Option<PathBuf>,
    /// Only look at the pipeline (`history`, `status`): start no sandbox,
    /// and let `${env:..}`/`${file:..}` that cannot be expanded be empty
    /// rather than an error, since no service is called.
    pub inspect_only: bool,
}

/// Where the state store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// An SQLite file.
    Path(PathBuf),
    /// A database URL.
    Url(String),
}

/// The sandbox a loaded pipeline runs against.
pub enum SandboxHandle {
    /// Started by the loader; stops when the pipeline is dropped.
    Embedded(Box<skolsync_sandbox::Sandbox>),
    /// Started by someone else.
    Attached(Box<Endpoints>),
}

impl SandboxHandle {
    /// The sandbox's endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        match self {
            SandboxHandle::Embedded(s) => s.endpoints(),
            SandboxHandle::Attached(e) => e,
        }
    }
}

impl std::fmt::Debug for SandboxHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxHandle::Embedded(_) => f.write_str("SandboxHandle::Embedded"),
            SandboxHandle::Attached(e) => {
                write!(f, "SandboxHandle::Attached({})", e.provisioning_url)
            }
        }
    }
}

/// A pipeline file, read, expanded, checked and resolved.
#[derive(Debug)]
pub struct Pipeline {
    /// The file's content (secrets expanded, sandbox endpoints filled in).
    pub file: PipelineFile,
    /// The pipeline file.
    pub path: PathBuf,
    /// Its folder: relative paths in it start here.
    pub base_dir: PathBuf,
    /// The state store.
    pub state: StateLocation,
    /// The reports folder (reports go to `<reports_dir>/<name>/`).
    pub reports_dir: PathBuf,
    /// The sandbox the pipeline runs against, if any.
    pub sandbox: Option<SandboxHandle>,
    /// What the state store calls the sink (see [`Pipeline::sink_identity`]).
    sink_identity: String,
}

impl Pipeline {
    /// Reads and checks the pipeline file at `path`; starts the embedded
    /// sandbox if the file (or `options`) asks for one.
    pub async fn load(path: &Path, options: &LoadOptions) -> Result<Pipeline, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|source| PipelineError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let doc = Document::parse(path, &text)?;
        let mut table = doc.table.clone();
        let mut embedded = false;

        // The sandbox first: its endpoints replace values (including secrets
        // the file takes from the environment, which then need not be set).
        let sandbox = match &options.sandbox {
            SandboxChoice::Attach(endpoints) => {
                table.remove("sandbox");
                inject_sandbox(&mut table, endpoints);
                Some(SandboxHandle::Attached(endpoints.clone()))
            }
            SandboxChoice::FromFile => match sandbox_section(&doc, &table, &base_dir)? {
                Some(section) if section.enabled && options.inspect_only => {
                    embedded = true;
                    inject_sandbox(&mut table, &placeholder_endpoints());
                    None
                }
                Some(section) if section.enabled => {
                    embedded = true;
                    let sandbox = start_sandbox(path, &section).await?;
                    inject_sandbox(&mut table, sandbox.endpoints());
                    Some(SandboxHandle::Embedded(Box::new(sandbox)))
                }
                _ => None,
            },
        };

        let mut expander = Expander {
            doc: &doc,
            base_dir: &base_dir,
            lenient: options.inspect_only,
        };
        expander.table(&mut table, &mut Vec::new())?;
        let file: PipelineFile = doc.deserialize(Value::Table(table))?;
        check(&doc, &file)?;

        let state = match (&options.state_path, &file.state.url, &file.state.path) {
            (Some(p), _, _) => StateLocation::Path(p.clone()),
            (None, Some(url), _) => StateLocation::Url(url.clone()),
            (None, None, Some(p)) => StateLocation::Path(resolve(&base_dir, p)),
            (None, None, None) => {
                StateLocation::Path(base_dir.join("state").join(format!("{}.sqlite", file.name)))
            }
        };
        let reports_dir = options
            .reports_dir
            .clone()
            .unwrap_or_else(|| resolve(&base_dir, &file.report.dir));
        let sink_identity = sink_identity(&file, &base_dir, embedded);
        Ok(Pipeline {
            file,
            path: path.to_path_buf(),
            base_dir,
            state,
            reports_dir,
            sandbox,
            sink_identity,
        })
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// What the state store calls this pipeline's sink, so two sinks never
    /// mix: the Provisioning API URL (`sandbox:embedded` for the embedded
    /// sandbox, whose ports change from run to run), or `<kind>:<folder>`.
    pub fn sink_identity(&self) -> String {
        self.sink_identity.clone()
    }
}

fn sink_identity(file: &PipelineFile, base_dir: &Path, embedded: bool) -> String {
    use skolsync_sink::SinkConfig;
    match &file.sink {
        SinkConfig::Skolverket(_) if embedded => "sandbox:embedded".to_string(),
        SinkConfig::Skolverket(c) => c
            .provisioning_url
            .clone()
            .or_else(|| c.environment.map(|e| e.provisioning_url().to_string()))
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        SinkConfig::Jsonl(c) | SinkConfig::Csv(c) | SinkConfig::Parquet(c) => {
            format!(
                "{}:{}",
                file.sink.kind(),
                resolve(base_dir, &c.dir).display()
            )
        }
    }
}

/// Stand-in endpoints for looking at a sandbox pipeline without starting
/// the sandbox: nothing is ever called at them.
fn placeholder_endpoints() -> Endpoints {
    let url = "http://127.0.0.1:9/not-started";
    Endpoints {
        auth_url: url.into(),
        provisioning_url: url.into(),
        open_data_url: url.into(),
        educloud_url: url.into(),
        educloud_token_url: url.into(),
        client_id: "not-started".into(),
        client_secret: "not-started".into(),
        ss12000_url: url.into(),
        ss12000_token: "not-started".into(),
        client_cert: "not-started".into(),
        client_key: "not-started".into(),
        ca_cert: "not-started".into(),
    }
}

/// `path` taken from `base` unless absolute.
pub fn resolve(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// Checks what the types alone cannot.
fn check(doc: &Document<'_>, file: &PipelineFile) -> Result<(), PipelineError> {
    let invalid = |key: &str, message: String| PipelineError::Invalid {
        path: doc.path.to_path_buf(),
        line: doc.line_of(&key.split('.').collect::<Vec<_>>()),
        key: key.to_string(),
        message,
    };
    if file.name.is_empty()
        || !file
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || file.name.starts_with('.')
    {
        return Err(invalid(
            "name",
            format!(
                "`{}` is not a usable pipeline name: use letters, digits, `-`, `_` and `.` \
                 (it names the state file and the report folder)",
                file.name
            ),
        ));
    }
    if file.state.path.is_some() && file.state.url.is_some() {
        return Err(invalid(
            "state.url",
            "set either `path` or `url`, not both".into(),
        ));
    }
    let ratio_ok = |r: f64| r.is_finite() && r >= 0.0;
    if !ratio_ok(file.guards.max_changes_ratio) {
        return Err(invalid(
            "guards.max_changes_ratio",
            "must be a number of 0 or more, e.g. 0.25".into(),
        ));
    }
    for (name, t) in [
        ("person", &file.guards.person),
        ("duty", &file.guards.duty),
        ("group", &file.guards.group),
        ("activity", &file.guards.activity),
    ] {
        if let Some(r) = t.as_ref().and_then(|t| t.max_changes_ratio)
            && !ratio_ok(r)
        {
            return Err(invalid(
                &format!("guards.{name}.max_changes_ratio"),
                "must be a number of 0 or more, e.g. 0.25".into(),
            ));
        }
    }
    if let Some(s) = &file.sandbox {
        for (key, share) in [
            ("sandbox.dirt", s.dirt),
            (
                "sandbox.faults.server_error_share",
                s.faults.server_error_share,
            ),
            (
                "sandbox.faults.temporary_error_share",
                s.faults.temporary_error_share,
            ),
            ("sandbox.faults.drop_share", s.faults.drop_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(invalid(key, "must be between 0.0 and 1.0".into()));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The sandbox.

/// The `[sandbox]` section, expanded and typed, if present.
fn sandbox_section(
    doc: &Document<'_>,
    table: &Table,
    base_dir: &Path,
) -> Result<Option<SandboxSection>, PipelineError> {
    let Some(Value::Table(section)) = table.get("sandbox") else {
        return Ok(None);
    };
    let mut section = section.clone();
    let mut at = vec!["sandbox".to_string()];
    Expander {
        doc,
        base_dir,
        lenient: false,
    }
    .table(&mut section, &mut at)?;
    let mut wrapper = Table::new();
    wrapper.insert("sandbox".into(), Value::Table(section));
    #[derive(Deserialize)]
    struct Only {
        sandbox: SandboxSection,
    }
    let only: Only = doc.deserialize(Value::Table(wrapper))?;
    Ok(Some(only.sandbox))
}

async fn start_sandbox(
    path: &Path,
    section: &SandboxSection,
) -> Result<skolsync_sandbox::Sandbox, PipelineError> {
    use std::time::Duration;
    let f = &section.faults;
    let config = skolsync_sandbox::SandboxConfig {
        students: section.students,
        seed: section.seed,
        dirt: section.dirt,
        job_settle_delay: Duration::from_millis(section.job_settle_ms),
        faults: skolsync_sandbox::Faults {
            rate_limit_burst: f.rate_limit_burst,
            server_error_share: f.server_error_share,
            temporary_error_share: f.temporary_error_share,
            slow: Duration::from_millis(f.slow_ms),
            drop_share: f.drop_share,
            pending_extra: Duration::from_millis(f.pending_extra_ms),
            token_early_expiry: Duration::from_secs(f.token_early_expiry_secs),
        },
        outage: skolsync_sandbox::Outage {
            throttle_burst: f.throttle_burst,
            retry_after_secs: f.retry_after_secs,
            unavailable_secs: f.unavailable_secs,
            unavailable_calls: f.unavailable_calls,
            ..skolsync_sandbox::Outage::default()
        },
        ..skolsync_sandbox::SandboxConfig::default()
    };
    skolsync_sandbox::Sandbox::start(config)
        .await
        .map_err(|e| PipelineError::Sandbox {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

fn set(table: &mut Table, key: &str, value: &str) {
    table.insert(key.to_string(), Value::String(value.to_string()));
}

/// Points the source, the sink and open-data at the sandbox's endpoints.
/// Only what addresses or authenticates a service is replaced; the rest
/// (scope, paging, mappings, guards) stays as the file says.
pub fn inject_sandbox(table: &mut Table, e: &Endpoints) {
    if let Some(Value::Table(source)) = table.get_mut("source") {
        match source.get("kind").and_then(Value::as_str) {
            Some("educloud") => {
                source.remove("org_identifier");
                source.remove("ca_cert");
                set(source, "base_url", &e.educloud_url);
                set(source, "token_url", &e.educloud_token_url);
                set(source, "client_id", &e.client_id);
                set(source, "client_secret", &e.client_secret);
            }
            Some("ss12000") => {
                for key in ["client_cert", "client_key", "ca_cert"] {
                    source.remove(key);
                }
                set(source, "base_url", &e.ss12000_url);
                let mut auth = Table::new();
                set(&mut auth, "type", "bearer");
                set(&mut auth, "token", &e.ss12000_token);
                source.insert("auth".into(), Value::Table(auth));
            }
            // CSV files are local already.
            _ => {}
        }
    }
    if let Some(Value::Table(sink)) = table.get_mut("sink")
        && sink.get("kind").and_then(Value::as_str) == Some("skolverket")
    {
        for key in [
            "environment",
            "jwks_url",
            "client_pkcs12",
            "client_pkcs12_password",
            "client_key_id",
            "pinned_pubkey",
        ] {
            sink.remove(key);
        }
        set(sink, "auth_url", &e.auth_url);
        set(sink, "provisioning_url", &e.provisioning_url);
        set(sink, "open_data_url", &e.open_data_url);
        set(sink, "client_cert", &e.client_cert);
        set(sink, "client_key", &e.client_key);
        set(sink, "ca_cert", &e.ca_cert);
    }
    // Open-data must be the sandbox's, which knows the generated school
    // units; a snapshot file of the real open-data would not.
    let transform = table
        .entry("transform")
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(transform) = transform {
        transform.remove("open_data_file");
        set(transform, "open_data_url", &e.open_data_url);
    }
}

// ---------------------------------------------------------------------------
// Expansion.

/// Expands `${env:..}` and `${file:..}` in every string of a tree.
struct Expander<'d, 'a> {
    doc: &'d Document<'a>,
    base_dir: &'d Path,
    /// Unexpandable references become empty instead of an error.
    lenient: bool,
}

impl Expander<'_, '_> {
    fn table(&mut self, table: &mut Table, at: &mut Vec<String>) -> Result<(), PipelineError> {
        for (key, value) in table.iter_mut() {
            at.push(key.clone());
            self.value(value, at)?;
            at.pop();
        }
        Ok(())
    }

    fn value(&mut self, value: &mut Value, at: &mut Vec<String>) -> Result<(), PipelineError> {
        match value {
            Value::String(s) if s.contains("${") => match expand::expand(s, self.base_dir) {
                Ok(expanded) => *s = expanded,
                Err(_) if self.lenient => s.clear(),
                Err(e) => {
                    let key_path: Vec<&str> = at.iter().map(String::as_str).collect();
                    return Err(PipelineError::Expand {
                        path: self.doc.path.to_path_buf(),
                        line: self.doc.line_of(&key_path),
                        key: at.join("."),
                        message: e.to_string(),
                    });
                }
            },
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    at.push(i.to_string());
                    self.value(item, at)?;
                    at.pop();
                }
            }
            Value::Table(t) => self.table(t, at)?,
            _ => {}
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The document, with spans, for messages.

/// The parsed file: a value tree to work on, and spans to name lines.
struct Document<'a> {
    path: &'a Path,
    text: &'a str,
    spanned: DeTable<'a>,
    table: Table,
}

impl<'a> Document<'a> {
    fn parse(path: &'a Path, text: &'a str) -> Result<Document<'a>, PipelineError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            PipelineError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        };
        let spanned = DeTable::parse(text).map_err(syntax)?.into_inner();
        let table: Table = text.parse().map_err(syntax)?;
        Ok(Document {
            path,
            text,
            spanned,
            table,
        })
    }

    /// The line of the key at `path` (dotted segments), if it is written.
    fn line_of(&self, path: &[&str]) -> Option<usize> {
        let (last, parents) = path.split_last()?;
        let table = self.table_at(parents)?;
        let (key, _) = table.get_key_value(*last)?;
        Some(line_col(self.text, key.span().start).0)
    }

    /// The table at `path`, following array indices.
    fn table_at(&self, path: &[&str]) -> Option<&DeTable<'a>> {
        let mut table = &self.spanned;
        let mut value: Option<&DeValue<'a>> = None;
        for segment in path {
            let next = match value {
                Some(DeValue::Array(items)) => items.get(segment.parse::<usize>().ok()?)?,
                _ => table.get(*segment)?,
            };
            match next.get_ref() {
                DeValue::Table(t) => {
                    table = t;
                    value = None;
                }
                v @ DeValue::Array(_) => value = Some(v),
                _ => return None,
            }
        }
        if value.is_some() {
            return None;
        }
        Some(table)
    }

    /// Finds `key` anywhere under the table at `path` (breadth first):
    /// its dotted path and line.
    fn find_key(&self, path: &[&str], key: &str) -> Option<(Vec<String>, usize)> {
        let start = self.table_at(path)?;
        let mut queue: std::collections::VecDeque<(Vec<String>, &DeTable<'a>)> =
            [(path.iter().map(|s| s.to_string()).collect(), start)].into();
        while let Some((at, table)) = queue.pop_front() {
            for (k, v) in table.iter() {
                if k.get_ref() == key {
                    return Some((at.clone(), line_col(self.text, k.span().start).0));
                }
                let mut child = at.clone();
                child.push(k.get_ref().to_string());
                match v.get_ref() {
                    DeValue::Table(t) => queue.push_back((child, t)),
                    DeValue::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            if let DeValue::Table(t) = item.get_ref() {
                                let mut c = child.clone();
                                c.push(i.to_string());
                                queue.push_back((c, t));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Finds a key under `path` whose value is the string `value`.
    fn find_string_value(&self, path: &[&str], value: &str) -> Option<(String, usize)> {
        let start = self.table_at(path)?;
        let mut queue: std::collections::VecDeque<&DeTable<'a>> = [start].into();
        while let Some(table) = queue.pop_front() {
            for (k, v) in table.iter() {
                match v.get_ref() {
                    DeValue::String(s) if s.as_ref() == value => {
                        return Some((
                            k.get_ref().to_string(),
                            line_col(self.text, k.span().start).0,
                        ));
                    }
                    DeValue::Table(t) => queue.push_back(t),
                    _ => {}
                }
            }
        }
        None
    }

    /// Deserializes `value`, turning serde's message into one that names
    /// the key, its line and, for a typo, the closest valid key.
    fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        value: Value,
    ) -> Result<T, PipelineError> {
        serde_path_to_error::deserialize(value).map_err(|e| self.explain(e))
    }

    fn explain(&self, error: serde_path_to_error::Error<toml::de::Error>) -> PipelineError {
        let segments: Vec<String> = error
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let message = error.inner().message().trim().to_string();
        let at: Vec<&str> = segments.iter().map(String::as_str).collect();
        let path = self.path.to_path_buf();

        if let Some(key) = between(&message, "unknown field `", "`") {
            // The path ends at the unknown key, or (inside an internally
            // tagged section such as [sink]) at the section.
            let parent: &[&str] = match at.split_last() {
                Some((last, parents)) if *last == key => parents,
                _ => &at,
            };
            let (table_path, line) = match self.find_key(parent, key) {
                Some((p, line)) => (p, Some(line)),
                None => (parent.iter().map(|s| s.to_string()).collect(), None),
            };
            let valid = backticked(message.split_once("expected").map_or("", |(_, r)| r));
            let suggestion = closest(key, &valid);
            let table = if table_path.is_empty() {
                "the top level".to_string()
            } else {
                format!("[{}]", table_path.join("."))
            };
            return PipelineError::UnknownKey(Box::new(UnknownKey {
                path,
                line,
                key: key.to_string(),
                table,
                suggestion,
                valid,
            }));
        }
        if let Some(variant) = between(&message, "unknown variant `", "`") {
            let found = self.find_string_value(&at, variant);
            let key = match (&found, at.is_empty()) {
                (Some((k, _)), false) => format!("{}.{k}", at.join(".")),
                (Some((k, _)), true) => k.clone(),
                (None, _) => at.join("."),
            };
            let valid = backticked(message.split_once("expected").map_or("", |(_, r)| r));
            let hint = closest(variant, &valid)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return PipelineError::Invalid {
                path,
                line: found.map(|(_, l)| l).or_else(|| self.line_of(&at)),
                key,
                message: format!(
                    "unknown value `{variant}`, expected one of {}{hint}",
                    valid
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        if let Some(field) = between(&message, "missing field `", "`") {
            let key = if at.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", at.join("."))
            };
            let table = if at.is_empty() {
                "the top level".to_string()
            } else {
                format!("[{}]", at.join("."))
            };
            return PipelineError::Invalid {
                path,
                line: self.line_of(&at),
                key,
                message: format!("missing; {table} needs `{field}`"),
            };
        }
        PipelineError::Invalid {
            path,
            line: self.line_of(&at),
            key: if at.is_empty() {
                "(file)".to_string()
            } else {
                at.join(".")
            },
            message,
        }
    }
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}

/// The text between `start` and the next `end`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Every `…` quoted name in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The valid name closest to `typo`, if any is close enough to be the
/// likely intent.
fn closest(typo: &str, valid: &[String]) -> Option<String> {
    let typo_l = typo.to_lowercase();
    valid
        .iter()
        .map(|v| {
            let distance = strsim::damerau_levenshtein(&typo_l, &v.to_lowercase());
            let similarity = strsim::jaro_winkler(&typo_l, &v.to_lowercase());
            (v, distance, similarity)
        })
        .filter(|(v, distance, similarity)| {
            *distance <= (v.len().max(typo.len()) / 3).max(2) || *similarity >= 0.85
        })
        .min_by(|a, b| {
            a.1.cmp(&b.1)
                .then(b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal))
        })
        .map(|(v, _, _)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_find_the_intended_key() {
        let valid: Vec<String> = ["environment", "auth_url", "client_cert"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            closest("enviroment", &valid).as_deref(),
            Some("environment")
        );
        assert_eq!(
            closest("clientcert", &valid).as_deref(),
            Some("client_cert")
        );
        assert_eq!(closest("zzzzzz", &valid), None);
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }
}
