//! Reading a pipeline file ([`Pipeline::load`]): TOML → sandbox endpoints
//! (if any) → `${env:..}` and `${file:..}` expanded → typed
//! [`PipelineFile`], checked, with paths resolved against the file's
//! folder.
//!
//! The parts live next door: [`error`](super::error) what can go wrong,
//! [`document`](super::document) the spans behind every message and the
//! expansion, [`sandbox`](super::sandbox) the embedded sandbox and its
//! endpoints. This file holds the order in which they are applied and what
//! a loaded pipeline is.

use std::path::{Path, PathBuf};

use skolsync_model::plan::SEND_ORDER;
use toml::Value;

use super::config::PipelineFile;
use super::document::{Document, Expander};
pub use super::error::{PipelineError, UnknownKey};
pub use super::sandbox::{SandboxChoice, SandboxHandle, inject_sandbox};
use super::sandbox::{placeholder_endpoints, sandbox_section, start_sandbox};

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
    /// Only the `[source]` is used (`skolsync extract`): the sandbox starts
    /// as for a run, but `${env:..}`/`${file:..}` outside `[source]` that
    /// cannot be expanded are left empty (the sink's secrets need not be
    /// set to look at the source).
    pub source_only: bool,
}

/// Where the state store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// An SQLite file.
    Path(PathBuf),
    /// A database URL.
    Url(String),
}

/// A pipeline file, read, expanded, checked and resolved — seen through
/// one of its sinks (the first as loaded; [`Pipeline::views`] gives one
/// view per sink of a file with several `[[sink]]`s).
#[derive(Debug, Clone)]
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
    /// The sandbox the pipeline runs against, if any (shared by the views).
    pub sandbox: Option<std::sync::Arc<SandboxHandle>>,
    /// Which of the file's sinks this view delivers to.
    sink_index: usize,
    /// What the state store calls each sink (see [`Pipeline::sink_identity`]).
    sink_identities: Vec<String>,
}

impl Pipeline {
    /// What the components are built with (the file's folder).
    pub fn build_context(&self) -> skolsync_model::BuildContext {
        skolsync_model::BuildContext::new(&self.base_dir)
    }

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
                Some(SandboxHandle::Attached(endpoints.clone()).into())
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
                    Some(SandboxHandle::Embedded(Box::new(sandbox)).into())
                }
                _ => None,
            },
        };

        let mut expander = Expander {
            doc: &doc,
            base_dir: &base_dir,
            lenient: options.inspect_only || options.source_only,
            strict_section: options.source_only.then_some("source"),
        };
        expander.table(&mut table, &mut Vec::new())?;
        let file: PipelineFile = doc.deserialize(Value::Table(table))?;
        let sink_identities: Vec<String> = file
            .sink
            .all()
            .iter()
            .map(|sink| sink_identity(sink, &file.name, &base_dir, embedded))
            .collect();
        check(&doc, &file, &sink_identities, options.inspect_only)?;

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
        Ok(Pipeline {
            file,
            path: path.to_path_buf(),
            base_dir,
            state,
            reports_dir,
            sandbox,
            sink_index: 0,
            sink_identities,
        })
    }

    /// The sink this view delivers to.
    pub fn sink(&self) -> &skolsync_sink::SinkConfig {
        self.file
            .sink
            .all()
            .get(self.sink_index)
            .unwrap_or_else(|| self.file.sink.first())
    }

    /// One view per sink of the file, in the file's order (one for a file
    /// with one `[sink]`): what runs, plans and status overviews go through
    /// when one read delivers to several sinks.
    pub fn views(&self) -> Vec<Pipeline> {
        (0..self.file.sink.len())
            .map(|sink_index| Pipeline {
                sink_index,
                ..self.clone()
            })
            .collect()
    }

    /// The view on the first sink that `wanted` accepts (`serve` wants the
    /// pull sink, `confirm-upload` the file method's).
    pub fn view_where(
        &self,
        wanted: impl Fn(&skolsync_sink::SinkConfig) -> bool,
    ) -> Option<Pipeline> {
        self.views().into_iter().find(|view| wanted(view.sink()))
    }

    /// Whether the file delivers to more than one sink.
    pub fn has_several_sinks(&self) -> bool {
        self.file.sink.len() > 1
    }

    /// This view's sink as the file names it, for messages: `sink`, or
    /// `sink[2] (ss12000-pull)` in a list.
    pub fn sink_label(&self) -> String {
        if self.has_several_sinks() {
            format!(
                "{} ({})",
                self.file.sink.key(self.sink_index),
                self.sink().kind()
            )
        } else {
            "sink".to_string()
        }
    }

    /// The key of this view's run lock in the state store: the pipeline's
    /// name for the first sink (so a run of the whole file and any other
    /// run of it exclude each other), `<name>#<n>` for the others.
    pub fn run_lock_key(&self) -> String {
        if self.sink_index == 0 {
            self.file.name.clone()
        } else {
            format!("{}#{}", self.file.name, self.sink_index + 1)
        }
    }

    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.file.name
    }

    /// What the state store calls this pipeline's sink, so two sinks never
    /// mix: the Provisioning API URL (`sandbox:embedded` for the embedded
    /// sandbox, whose ports change from run to run), or `<kind>:<folder>`.
    pub fn sink_identity(&self) -> String {
        self.sink_identities
            .get(self.sink_index)
            .cloned()
            .unwrap_or_default()
    }
}

fn sink_identity(
    sink: &skolsync_sink::SinkConfig,
    name: &str,
    base_dir: &Path,
    embedded: bool,
) -> String {
    use skolsync_sink::SinkConfig;
    match sink {
        SinkConfig::Skolverket(_) if embedded => "sandbox:embedded".to_string(),
        SinkConfig::Skolverket(c) => c
            .provisioning_url
            .clone()
            .or_else(|| c.environment.map(|e| e.provisioning_url().to_string()))
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        // The served dataset is the pipeline's own: its name keys it.
        SinkConfig::Ss12000Pull(_) => format!("ss12000-pull:{name}"),
        // What was uploaded is the pipeline's own baseline: its name keys
        // it, not the folder (spelt differently from another working
        // directory, it would lose the baseline).
        SinkConfig::SkolverketFile(_) => format!("skolverket-file:{name}"),
        SinkConfig::Jsonl(c) | SinkConfig::Csv(c) | SinkConfig::Parquet(c) => {
            format!("{}:{}", sink.kind(), resolve(base_dir, &c.dir).display())
        }
    }
}

/// What is wrong with the file's sinks together: two that would deliver
/// to the same place (and so mix their state), and what
/// [`Sinks::problems`](super::Sinks::problems) finds.
fn check_sinks(
    doc: &Document<'_>,
    file: &PipelineFile,
    identities: &[String],
) -> Vec<PipelineError> {
    let names_open_data =
        file.transform.open_data_url.is_some() || file.transform.open_data_file.is_some();
    let mut problems = file.sink.problems(names_open_data);
    for (i, identity) in identities.iter().enumerate() {
        if let Some(first) = identities[..i].iter().position(|other| other == identity) {
            problems.push((
                i,
                format!(
                    "delivers to the same place as {} ({identity}); two sinks of one pipeline \
                     must go to different services or folders",
                    file.sink.key(first)
                ),
            ));
        }
    }
    problems
        .into_iter()
        .map(|(i, message)| PipelineError::Invalid {
            path: doc.path.to_path_buf(),
            // The `kind` line of that `[[sink]]` table.
            line: doc
                .line_of(&["sink", &i.to_string(), "kind"])
                .or_else(|| line_of(doc, "sink")),
            key: file.sink.key(i),
            message,
        })
        .collect()
}

/// `path` taken from `base` unless absolute (the model's one rule).
pub use skolsync_model::build_context::resolve;

/// Checks what the types alone cannot, and everything else that needs no
/// network (the `[transform]` code lists, mappings, EPPN domains and
/// reference date; guard ratios), so that `validate` finds it offline and
/// no run gets as far as reading the source with it. Every problem is
/// reported at once, each with its key and line.
fn check(
    doc: &Document<'_>,
    file: &PipelineFile,
    sink_identities: &[String],
    inspect_only: bool,
) -> Result<(), PipelineError> {
    let mut problems: Vec<PipelineError> = check_sinks(doc, file, sink_identities);
    let mut invalid = |key: &str, message: String| {
        problems.push(PipelineError::Invalid {
            path: doc.path.to_path_buf(),
            line: line_of(doc, key),
            key: key.to_string(),
            message,
        });
    };
    if file.name.is_empty()
        || !file
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || file.name.starts_with('.')
    {
        invalid(
            "name",
            format!(
                "`{}` is not a usable pipeline name: use letters, digits, `-`, `_` and `.` \
                 (it names the state file and the report folder)",
                file.name
            ),
        );
    }
    if let Err(found) = super::schedule::Schedule::new(&file.schedule) {
        for p in found {
            invalid(&p.key, p.message);
        }
    }
    if file.state.path.is_some() && file.state.url.is_some() {
        invalid("state.url", "set either `path` or `url`, not both".into());
    }
    for (key, ratio) in guard_ratios(file) {
        if let Some(message) = ratio_problem(ratio) {
            invalid(&key, message);
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
                invalid(key, "must be between 0.0 and 1.0".into());
            }
        }
    }
    // `history` and `status` only look at what was recorded: a mistake in
    // the mapping must not hide it.
    if !inspect_only && let Err(found) = skolsync_transform::check_offline(&file.transform) {
        for p in found.iter() {
            invalid(&format!("{}.{}", p.section, p.key), p.message.clone());
        }
    }
    // In the order of the file, as people read it.
    problems.sort_by_key(|p| match p {
        PipelineError::Invalid { line, .. } => line.unwrap_or(usize::MAX),
        _ => usize::MAX,
    });
    match problems.len() {
        0 => Ok(()),
        1 => Err(problems.remove(0)),
        _ => Err(PipelineError::Problems {
            path: doc.path.to_path_buf(),
            problems,
        }),
    }
}

/// Every ratio of `[guards]`, by its dotted key.
fn guard_ratios(file: &PipelineFile) -> Vec<(String, f64)> {
    let guards = &file.guards;
    let mut ratios = vec![
        (
            "guards.max_changes_ratio".to_string(),
            guards.max_changes_ratio,
        ),
        (
            "guards.max_shrink_ratio".to_string(),
            guards.max_shrink_ratio,
        ),
        (
            "guards.max_member_loss_ratio".to_string(),
            guards.max_member_loss_ratio,
        ),
    ];
    for kind in SEND_ORDER {
        if let Some(r) = guards.limits(kind).and_then(|t| t.max_changes_ratio) {
            ratios.push((
                format!("guards.{}.max_changes_ratio", kind.as_str().to_lowercase()),
                r,
            ));
        }
    }
    ratios
}

/// What is wrong with a guard ratio, if anything. Not documented by
/// Skolverket (the guards are skolsync's own); a ratio above 1 is refused
/// because at most every held entity (or record, or member) can be
/// deleted or changed, so such a limit can never stop a mass delete — it
/// switches the guard off silently, usually because 25 was meant as 25 %.
/// A change that is intended goes through with `--allow-large-changes`.
fn ratio_problem(ratio: f64) -> Option<String> {
    if !ratio.is_finite() || ratio < 0.0 {
        Some("must be a number of 0 or more, e.g. 0.25".into())
    } else if ratio > 1.0 {
        Some(format!(
            "{ratio} is more than 1 (100 %), which no deletion can exceed, so it would switch the \
             guard off; write a share such as 0.25 for 25 % (an intended large change goes \
             through with `skolsync run --allow-large-changes`)"
        ))
    } else {
        None
    }
}

/// The line of a dotted key (`transform.eppn_domain.student`,
/// `transform.test_activities[1]`), else of the nearest enclosing key.
fn line_of(doc: &Document<'_>, key: &str) -> Option<usize> {
    let normalised = key.replace('[', ".").replace(']', "");
    let mut path: Vec<&str> = normalised.split('.').filter(|p| !p.is_empty()).collect();
    while !path.is_empty() {
        if let Some(line) = doc.line_of(&path) {
            return Some(line);
        }
        path.pop();
    }
    None
}
