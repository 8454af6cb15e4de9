//! The transform's public face and its orchestrator: frames in, the
//! stages, payloads out.
//!
//! [`Transformer::new`] checks the `[transform]` config against the code
//! lists and open-data and prepares open-data as frames. [`Transformer::run`]
//! then works through one snapshot in dependency order, one stage per file
//! under [`crate::stages`]:
//!
//! 1. school units: source organisations ⋈ open-data (unknown, Expired,
//!    dnpStatus false) ⋈ the configured scope;
//! 2. enrolments ⋈ units ⋈ the units' school types and years ⋈ programmes;
//!    duties ⋈ units; a person's role follows from both (pupil wins);
//! 3. persons: their own rules (personnummer, EPPN, e-mail), then duplicate
//!    personnummer and EPPNs as group-bys;
//! 4. duties ⋈ persons ⋈ the role table;
//! 5. activities ⋈ syllabuses ⋈ subject map ⋈ deduced years (activity ⋈
//!    groups ⋈ members ⋈ enrolments, most common year) ⋈ test activities by
//!    reference, rule, subject + year, or course;
//! 6. groups ⋈ units ⋈ the activities that test them ⋈ member statistics;
//! 7. activities ⋈ their groups and teachers; groups ⋈ members;
//!
//! and re-nests the survivors into payloads. Every record ends as kept,
//! rejected (with a [`Reject`]) or out of scope (counted with its reason).
//!
//! This file keeps the public types, the config checks and [`Run`], the
//! state every stage reads and adds its rejects and counts to; `execute`
//! calls the stages in order and drops each frame once no later stage
//! needs it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Local, NaiveDate};
use polars::prelude::PolarsError;
use serde::{Deserialize, Serialize};
use skolsync_model::config_problems::{ConfigProblems, KeyProblem};
use skolsync_model::plan::SEND_ORDER;
use skolsync_model::plan::{DesiredState, LeftOutRef};
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{DutyRole, PerType, SchoolType, by_type};
use uuid::Uuid;

use crate::config::{EppnDomain, TransformConfig};
use crate::frames::{CatalogueFrames, CatalogueInput, SourceFrames, split_subject_year};
use crate::ids::IdScheme;
use crate::open_data::OpenData;
use crate::persons::PersonRules;
use crate::roles::RoleMap;
use crate::stages::common::Stopwatch;
use crate::stages::groups::groups_first;

/// A `[transform]` section that cannot work, with every problem found
/// (the workspace's one collect-all shape, each problem naming its key).
pub type ConfigError = ConfigProblems<KeyProblem>;

/// The transform failed as a whole. Bad records never cause this (they are
/// rejects); only an internal inconsistency of the frames does.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A frame operation failed.
    #[error("internal error in the transform's frames: {0}")]
    Frames(#[from] PolarsError),
    /// The transform's worker thread panicked (a bug; please report it).
    #[error("internal error: the transform stopped unexpectedly")]
    Panicked,
}

/// How many records of one type went where.
///
/// `read = out_of_scope + in_scope` and `in_scope = out + rejected`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    /// Records in the snapshot.
    pub read: usize,
    /// Records outside the pipeline's scope (not errors).
    pub out_of_scope: usize,
    /// Records in scope: the transform's input proper.
    pub in_scope: usize,
    /// Records in the desired state.
    pub out: usize,
    /// Records left out with a reject.
    pub rejected: usize,
    /// Warnings about records that were kept.
    pub warnings: usize,
    /// Out-of-scope records per reason.
    pub out_of_scope_reasons: BTreeMap<String, usize>,
}

/// Counts per provtjänst resource type.
pub type Counts = PerType<TypeCounts>;

/// What one run produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransformOutput {
    /// The payloads to provision, each list in the order of the source's
    /// records (deterministic for a given source).
    pub desired: DesiredState,
    /// Rejected records and warnings, sorted by entity and source id.
    pub rejects: Vec<Reject>,
    /// Where every record went.
    pub counts: Counts,
    /// References left out of kept groups and activities because the
    /// record they point to was rejected (the engine puts them back when
    /// the service still holds that record's entity).
    pub left_out: Vec<LeftOutRef>,
}

/// The transform of one pipeline, ready to run over snapshots.
pub struct Transformer {
    pub(crate) config: TransformConfig,
    pub(crate) open_data: OpenData,
    pub(crate) day: NaiveDate,
    pub(crate) ids: IdScheme,
    pub(crate) roles: RoleMap,
    pub(crate) school_types: Vec<&'static str>,
    pub(crate) school_years: Vec<i32>,
    pub(crate) person_rules: PersonRules,
    pub(crate) catalogue: CatalogueFrames,
    /// Skolverket's id per school unit code open-data knows.
    pub(crate) unit_ids: HashMap<String, Uuid>,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer")
            .field("config", &self.config)
            .field("day", &self.day)
            .finish_non_exhaustive()
    }
}

impl Transformer {
    /// Checks `config` against the code lists and `open_data`, and prepares
    /// the run. Every problem is reported at once.
    pub fn new(config: TransformConfig, open_data: OpenData) -> Result<Self, ConfigError> {
        let mut problems = Problems::default();
        if config.open_data_url.is_some() && config.open_data_file.is_some() {
            problems.add(
                "open_data_file",
                "set either open_data_url or open_data_file, not both".into(),
            );
        }
        let school_types = check_school_types(&config, &mut problems);
        let school_years = check_school_years(&config, &mut problems);
        let scope_units = check_school_units(&config, &open_data, &mut problems);
        let (subject_map, rules) = check_test_mapping(&config, &open_data, &mut problems);
        let configured_roles = check_duty_roles(&config, &mut problems);
        check_eppn_domain(&config, &mut problems);
        let day = reference_day(&config, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }

        let catalogue = CatalogueFrames::build(CatalogueInput {
            open_data: &open_data,
            day,
            scope_units: &scope_units,
            subject_map: &subject_map,
            rules: &rules,
        })
        .map_err(|e| {
            let mut problems = Problems::default();
            problems.add("open-data", format!("cannot index open-data: {e}"));
            problems
        })?;
        let ids = IdScheme::new(config.id_namespace.as_deref(), config.id_strategy);
        let unit_ids = open_data
            .school_units
            .iter()
            .map(|u| (u.school_unit_code.trim().to_string(), u.id))
            .collect();
        Ok(Transformer {
            unit_ids,
            person_rules: PersonRules {
                day,
                eppn: config.eppn_domain.clone(),
                ids,
            },
            roles: RoleMap::new(configured_roles),
            config,
            open_data,
            day,
            ids,
            school_types,
            school_years,
            catalogue,
        })
    }

    /// The reference date in use.
    pub fn reference_date(&self) -> NaiveDate {
        self.day
    }

    /// The id scheme in use (for tools that need a person's provtjänst id).
    pub fn ids(&self) -> IdScheme {
        self.ids
    }

    /// The open-data the transform checks against.
    pub fn open_data(&self) -> &OpenData {
        &self.open_data
    }

    /// Maps `snapshot` to the desired provtjänst state.
    ///
    /// CPU-bound (seconds for a large municipality). Safe to call from
    /// async code: inside a tokio runtime the work moves to a plain thread,
    /// because polars blocks on (and panics inside a current-thread) tokio
    /// runtime. An async caller should still prefer `spawn_blocking`.
    pub fn run(&self, snapshot: &Snapshot) -> Result<TransformOutput, TransformError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return std::thread::scope(|scope| {
                scope
                    .spawn(|| Run::new(self, snapshot).execute())
                    .join()
                    .unwrap_or(Err(TransformError::Panicked))
            });
        }
        Run::new(self, snapshot).execute()
    }
}

/// Checks everything in `config` that needs no network and no open-data:
/// the code lists, the school years and unit codes' form, the mappings'
/// shape, the EPPN domains (different for the two roles) and the
/// reference date. `skolsync validate` reports these offline, and every
/// command before it reads a source; [`Transformer::new`] checks them
/// again, with open-data. Every problem is reported at once.
pub fn check_offline(config: &TransformConfig) -> Result<(), ConfigError> {
    let mut problems = Problems::default();
    if config.open_data_url.is_some() && config.open_data_file.is_some() {
        problems.add(
            "open_data_file",
            "set either open_data_url or open_data_file, not both".into(),
        );
    }
    check_school_types(config, &mut problems);
    check_school_years(config, &mut problems);
    for code in &config.school_units {
        if unit_code_form(code.trim()).is_err() {
            problems.add(
                "school_units",
                format!("`{}` is not a school unit code (8 digits)", code.trim()),
            );
        }
    }
    check_mapping_shape(config, &mut problems);
    check_duty_roles(config, &mut problems);
    check_eppn_domain(config, &mut problems);
    reference_day(config, &mut problems);
    problems.check()
}

// ---------------------------------------------------------------------------
// Checks of the `[transform]` section, in the order they are reported.

/// `(key, what is wrong)` per problem found so far.
type Problems = ConfigError;

/// Recording a problem of `[transform]` by its key.
trait AddProblem {
    fn add(&mut self, key: &str, message: String);
}

impl AddProblem for Problems {
    fn add(&mut self, key: &str, message: String) {
        self.push(KeyProblem {
            section: "transform",
            key: key.to_string(),
            message,
        });
    }
}

/// `school_types`: profile school types, each once.
fn check_school_types(config: &TransformConfig, problems: &mut Problems) -> Vec<&'static str> {
    let mut school_types = Vec::new();
    for t in &config.school_types {
        match t.parse::<SchoolType>() {
            Ok(st) if !school_types.contains(&st.as_str()) => school_types.push(st.as_str()),
            Ok(_) => {}
            Err(_) => problems.add(
                "school_types",
                format!("unknown school type `{t}` (the provtjänst takes GR, SP, SAM, GY, VUXGY)"),
            ),
        }
    }
    if config.school_types.is_empty() {
        problems.add(
            "school_types",
            "must name at least one school type (or be left out for all)".into(),
        );
    }
    school_types
}

/// `school_years`: 1–10.
fn check_school_years(config: &TransformConfig, problems: &mut Problems) -> Vec<i32> {
    let mut school_years = Vec::new();
    for y in &config.school_years {
        if (1..=10).contains(y) {
            school_years.push(i32::from(*y));
        } else {
            problems.add("school_years", format!("school year {y} is not 1–10"));
        }
    }
    school_years
}

/// `school_units`: codes open-data knows.
fn check_school_units(
    config: &TransformConfig,
    open_data: &OpenData,
    problems: &mut Problems,
) -> Vec<String> {
    let known_units: HashSet<&str> = open_data
        .school_units
        .iter()
        .map(|u| u.school_unit_code.as_str())
        .collect();
    let mut scope_units = Vec::new();
    for code in &config.school_units {
        let code = code.trim();
        if unit_code_form(code).is_err() {
            problems.add(
                "school_units",
                format!("`{code}` is not a school unit code (8 digits)"),
            );
        } else if !known_units.contains(code) {
            problems.add(
                "school_units",
                format!("school unit {code} is not known to Skolverket (not in open-data)"),
            );
        } else {
            scope_units.push(code.to_string());
        }
    }
    scope_units
}

/// Whether `code` has the form of a school unit code: digits only (the
/// register's codes are 8 digits; shorter ones are not refused here
/// because open-data decides which exist).
fn unit_code_form(code: &str) -> Result<(), ()> {
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
        Err(())
    } else {
        Ok(())
    }
}

/// `subject_map` and `test_activities` without open-data: no mapping to
/// nothing, no rule without a code, a test activity or a valid year.
fn check_mapping_shape(config: &TransformConfig, problems: &mut Problems) {
    for (local, target) in &config.subject_map {
        if local.trim().is_empty() || target.trim().is_empty() {
            problems.add(
                "subject_map",
                format!(
                    "`{}` = `{}` maps a code to nothing: both sides must name a code (e.g. MA = \"GRGRMAT01\")",
                    local.trim(),
                    target.trim()
                ),
            );
        }
    }
    for (i, rule) in config.test_activities.iter().enumerate() {
        let key = format!("test_activities[{i}]");
        if rule.code.trim().is_empty() {
            problems.add(&key, "`code` is empty".into());
        }
        if rule.school_year.is_some_and(|y| !(1..=10).contains(&y)) {
            problems.add(&key, "`school_year` must be 1–10".into());
        }
        if rule.test_activity.trim().is_empty() {
            problems.add(&key, "`test_activity` is empty".into());
        }
    }
}

/// A rule of `[[transform.test_activities]]`: code, school year, test
/// activity name.
type TestRule = (String, Option<u8>, String);

/// `subject_map` and `test_activities`: targets that lead to a national
/// test activity in open-data.
fn check_test_mapping(
    config: &TransformConfig,
    open_data: &OpenData,
    problems: &mut Problems,
) -> (Vec<(String, String)>, Vec<TestRule>) {
    let test_names: HashSet<&str> = open_data
        .test_activities
        .iter()
        .map(|t| t.display_name.trim())
        .collect();
    let test_subjects: HashSet<&str> = open_data
        .test_activities
        .iter()
        .filter_map(|t| split_subject_year(t.display_name.trim()).map(|(s, _)| s))
        .collect();
    let mut subject_map = Vec::new();
    for (local, target) in &config.subject_map {
        let (local, target) = (local.trim(), target.trim());
        if local.is_empty() || target.is_empty() {
            problems.add(
                "subject_map",
                format!("empty code in `{local}` = `{target}`"),
            );
        } else if !test_names.contains(target) && !test_subjects.contains(target) {
            problems.add(
                "subject_map",
                format!(
                    "`{local}` = `{target}`: `{target}` leads to no national test activity in open-data (expected a subject code such as GRGRMAT01 or a course code such as MATMAT01c)"
                ),
            );
        } else {
            subject_map.push((local.to_string(), target.to_string()));
        }
    }

    let mut rules = Vec::new();
    for (i, rule) in config.test_activities.iter().enumerate() {
        let key = format!("test_activities[{i}]");
        let name = rule.test_activity.trim();
        if rule.code.trim().is_empty() {
            problems.add(&key, "`code` is empty".into());
        } else if rule.school_year.is_some_and(|y| !(1..=10).contains(&y)) {
            problems.add(&key, "`school_year` must be 1–10".into());
        } else if !test_names.contains(name) {
            problems.add(&key, format!("test activity `{name}` is not in open-data"));
        } else {
            rules.push((
                rule.code.trim().to_string(),
                rule.school_year,
                name.to_string(),
            ));
        }
    }
    (subject_map, rules)
}

/// `duty_role_map`: targets that are `Code_DutyRole` values.
fn check_duty_roles(config: &TransformConfig, problems: &mut Problems) -> Vec<(String, DutyRole)> {
    let mut configured_roles = Vec::new();
    for (source, role) in &config.duty_role_map {
        match role.parse::<DutyRole>() {
            Ok(r) => configured_roles.push((source.clone(), r)),
            Err(e) => problems.add("duty_role_map", format!("`{source}` = `{role}`: {e}")),
        }
    }
    configured_roles
}

/// `eppn_domain`: domains, different for the two roles.
fn check_eppn_domain(config: &TransformConfig, problems: &mut Problems) {
    let Some(EppnDomain { student, staff, .. }) = &config.eppn_domain else {
        return;
    };
    for (which, domain) in [("student", student), ("staff", staff)] {
        if let Some(d) = domain
            && (d.contains('@')
                || !d.contains('.')
                || d.starts_with('.')
                || d.ends_with('.')
                || d.chars().any(char::is_whitespace))
        {
            problems.add(
                &format!("eppn_domain.{which}"),
                format!("`{d}` is not a domain such as edu.kommun.se"),
            );
        }
    }
    if let (Some(a), Some(b)) = (student, staff)
        && a.trim().eq_ignore_ascii_case(b.trim())
    {
        problems.add(
            "eppn_domain",
            "student and staff domains must differ: Skolverket wants different EPPNs for the two roles".into(),
        );
    }
    if student.is_none() && staff.is_none() {
        problems.add("eppn_domain", "set `student`, `staff` or both".into());
    }
}

/// `reference_date`: a date, or today.
fn reference_day(config: &TransformConfig, problems: &mut Problems) -> NaiveDate {
    match &config.reference_date {
        None => Local::now().date_naive(),
        Some(text) => match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
            Ok(d) => d,
            Err(_) => {
                problems.add(
                    "reference_date",
                    format!("`{text}` is not a day that exists, written YYYY-MM-DD"),
                );
                Local::now().date_naive()
            }
        },
    }
}

/// The state of one run. Each stage is an `impl Run` block in its own file
/// under [`crate::stages`].
pub(crate) struct Run<'t, 's> {
    /// The pipeline's transform: config, catalogue frames, ids.
    pub(crate) t: &'t Transformer,
    /// The snapshot being transformed.
    pub(crate) s: &'s Snapshot,
    /// Rejects and warnings so far.
    pub(crate) rejects: Vec<Reject>,
    /// Rejected records per type, by position in the snapshot.
    pub(crate) rejected: HashMap<EntityKind, HashSet<u32>>,
    /// Where the records went (completed when the run finishes).
    pub(crate) counts: Counts,
    /// References left out of kept groups and activities.
    pub(crate) left_out: Vec<LeftOutRef>,
}

impl<'t, 's> Run<'t, 's> {
    fn new(t: &'t Transformer, s: &'s Snapshot) -> Self {
        let mut counts = Counts::default();
        for kind in SEND_ORDER {
            counts[kind].read = by_type!(kind, &s, |list| list.len());
        }
        Run {
            t,
            s,
            rejects: Vec::new(),
            rejected: HashMap::new(),
            counts,
            left_out: Vec::new(),
        }
    }

    /// Runs the stages in dependency order (see [`crate::stages`]). Frames
    /// are taken or dropped where they are last used, so big sources free
    /// them as early as possible.
    fn execute(mut self) -> Result<TransformOutput, TransformError> {
        let mut watch = Stopwatch::start();
        let mut src = SourceFrames::build(self.s, &self.t.open_data, self.t.day)?;
        watch.lap("frames");
        // 1. School units.
        let units = self.units(&src)?;
        watch.lap("units");
        // 2a. Enrolments in scope, with what is wrong with them.
        let (enrolments, enrolment_problems) =
            self.enrolments(std::mem::take(&mut src.enrolments), &src.programmes, &units)?;
        watch.lap("enrolments");
        // 2b. Duties: current and at a unit in scope, else out of scope.
        let duties = self.duty_scope(&src.duties, &units)?;
        watch.lap("duty scope");
        // 3. Persons: role from enrolments and duties in scope, then rules.
        let persons = self.person_roles(std::mem::take(&mut src.persons), &enrolments, &duties)?;
        watch.lap("person roles");
        let (outcomes, person_units) =
            self.persons(&persons, &enrolments, &enrolment_problems, &duties)?;
        watch.lap("person rules");
        // The person table every reference is resolved against.
        let ps = self.person_table(&persons, &outcomes)?;
        drop(persons);
        watch.lap("person table");
        // 4. Duties.
        let (kept_duties, duty_status) = self.duties(&duties, &ps)?;
        watch.lap("duties");
        // 5. Activities: resolve the national test activity.
        let groups_first = groups_first(&src);
        let acts = self.resolve_activities(&src, &units, &enrolments, groups_first.clone())?;
        watch.lap("test activities");
        // 6. Groups.
        let groups = self.groups(&src, &units, &ps, &enrolments, &acts, groups_first)?;
        watch.lap("groups");
        // 7. Activities with their groups and teachers, then the groups that
        // lost every activity, then members.
        let (activities, kept_undervisning) =
            self.activities(&src, &acts, &groups, &duty_status, &kept_duties)?;
        watch.lap("activities");
        let groups_out = self.finish_groups(&src, &groups, &ps, &kept_undervisning)?;
        watch.lap("memberships");
        // Persons last, when every frame they do not need is gone: their
        // payloads are most of the desired state.
        drop((src, units, ps, acts, groups, duty_status));
        let persons_out = self.nest_persons(outcomes, &enrolments, &person_units)?;
        watch.lap("persons");
        let desired = DesiredState {
            persons: persons_out,
            duties: kept_duties.into_iter().map(|k| k.desired).collect(),
            groups: groups_out,
            activities,
        };
        Ok(self.finish(desired))
    }

    /// The output: counts completed, rejects sorted.
    fn finish(mut self, desired: DesiredState) -> TransformOutput {
        for kind in SEND_ORDER {
            self.counts[kind].out = by_type!(kind, &desired, |list| list.len());
        }
        self.finish_counts();
        self.rejects.sort_by(|a, b| {
            (a.entity, &a.source_id, a.severity, &a.field).cmp(&(
                b.entity,
                &b.source_id,
                b.severity,
                &b.field,
            ))
        });
        TransformOutput {
            desired,
            rejects: self.rejects,
            counts: self.counts,
            left_out: self.left_out,
        }
    }

    /// `in_scope`, `rejected` and `warnings` from the rejects.
    fn finish_counts(&mut self) {
        let mut warnings: HashMap<EntityKind, usize> = HashMap::new();
        for r in &self.rejects {
            if r.severity == Severity::Warning {
                *warnings.entry(r.entity).or_insert(0) += 1;
            }
        }
        let rejected = &self.rejected;
        for object_type in SEND_ORDER {
            let kind = EntityKind::of(object_type);
            let counts = &mut self.counts[object_type];
            counts.in_scope = counts.read - counts.out_of_scope;
            counts.rejected = rejected.get(&kind).map_or(0, HashSet::len);
            counts.warnings = warnings.get(&kind).copied().unwrap_or(0);
        }
    }
}
