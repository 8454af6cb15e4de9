//! The transform itself: frames in, joins and filters, payloads out.
//!
//! [`Transformer::new`] checks the `[transform]` config against the code
//! lists and open-data and prepares open-data as frames. [`Transformer::run`]
//! then works through one snapshot in dependency order:
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

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{Local, NaiveDate};
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use skolsync_model::plan::{Desired, DesiredState, LeftOutRef};
use skolsync_model::provtjanst::{self as pt, DutyAssignment, GroupMembership, ObjectReference};
use skolsync_model::reject::{Reject, Severity, Stage};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{ActivityType, DutyRole, GroupType, ObjectType, SchoolType, TestActivityName};
use uuid::Uuid;

use crate::config::{EppnDomain, TransformConfig};
use crate::frames::{CatalogueFrames, CatalogueInput, SourceFrames, split_subject_year};
use crate::ids::IdScheme;
use crate::open_data::OpenData;
use crate::persons::{Checked, Finding, PersonRules, Role};
use crate::reasons::{Details, code, reason, scope};
use crate::roles::RoleMap;

/// A `[transform]` section that cannot work, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid [transform] configuration:\n{}", .problems.iter().map(|(k, m)| format!("  - {k}: {m}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// `(key, what is wrong)` per problem, e.g. `("school_types", "unknown school type `FSK` …")`.
    pub problems: Vec<(String, String)>,
}

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Persons.
    pub persons: TypeCounts,
    /// Duties.
    pub duties: TypeCounts,
    /// Groups.
    pub groups: TypeCounts,
    /// Activities.
    pub activities: TypeCounts,
}

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
    config: TransformConfig,
    open_data: OpenData,
    day: NaiveDate,
    ids: IdScheme,
    roles: RoleMap,
    school_types: Vec<&'static str>,
    school_years: Vec<i32>,
    person_rules: PersonRules,
    catalogue: CatalogueFrames,
    /// Skolverket's id per school unit code open-data knows.
    unit_ids: HashMap<String, Uuid>,
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
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut problem = |key: &str, msg: String| problems.push((key.to_string(), msg));

        if config.open_data_url.is_some() && config.open_data_file.is_some() {
            problem(
                "open_data_file",
                "set either open_data_url or open_data_file, not both".into(),
            );
        }

        let mut school_types = Vec::new();
        for t in &config.school_types {
            match t.parse::<SchoolType>() {
                Ok(st) if !school_types.contains(&st.as_str()) => school_types.push(st.as_str()),
                Ok(_) => {}
                Err(_) => problem(
                    "school_types",
                    format!(
                        "unknown school type `{t}` (the provtjänst takes GR, SP, SAM, GY, VUXGY)"
                    ),
                ),
            }
        }
        if config.school_types.is_empty() {
            problem(
                "school_types",
                "must name at least one school type (or be left out for all)".into(),
            );
        }

        let mut school_years = Vec::new();
        for y in &config.school_years {
            if (1..=10).contains(y) {
                school_years.push(i32::from(*y));
            } else {
                problem("school_years", format!("school year {y} is not 1–10"));
            }
        }

        let known_units: HashSet<&str> = open_data
            .school_units
            .iter()
            .map(|u| u.school_unit_code.as_str())
            .collect();
        let mut scope_units = Vec::new();
        for code in &config.school_units {
            let code = code.trim();
            if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
                problem(
                    "school_units",
                    format!("`{code}` is not a school unit code (8 digits)"),
                );
            } else if !known_units.contains(code) {
                problem(
                    "school_units",
                    format!("school unit {code} is not known to Skolverket (not in open-data)"),
                );
            } else {
                scope_units.push(code.to_string());
            }
        }

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
                problem(
                    "subject_map",
                    format!("empty code in `{local}` = `{target}`"),
                );
            } else if !test_names.contains(target) && !test_subjects.contains(target) {
                problem(
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
                problem(&key, "`code` is empty".into());
            } else if rule.school_year.is_some_and(|y| !(1..=10).contains(&y)) {
                problem(&key, "`school_year` must be 1–10".into());
            } else if !test_names.contains(name) {
                problem(&key, format!("test activity `{name}` is not in open-data"));
            } else {
                rules.push((
                    rule.code.trim().to_string(),
                    rule.school_year,
                    name.to_string(),
                ));
            }
        }

        let mut configured_roles = Vec::new();
        for (source, role) in &config.duty_role_map {
            match role.parse::<DutyRole>() {
                Ok(r) => configured_roles.push((source.clone(), r)),
                Err(e) => problem("duty_role_map", format!("`{source}` = `{role}`: {e}")),
            }
        }

        if let Some(EppnDomain { student, staff, .. }) = &config.eppn_domain {
            for (which, domain) in [("student", student), ("staff", staff)] {
                if let Some(d) = domain
                    && (d.contains('@')
                        || !d.contains('.')
                        || d.starts_with('.')
                        || d.ends_with('.')
                        || d.chars().any(char::is_whitespace))
                {
                    problem(
                        &format!("eppn_domain.{which}"),
                        format!("`{d}` is not a domain such as edu.kommun.se"),
                    );
                }
            }
            if let (Some(a), Some(b)) = (student, staff)
                && a.trim().eq_ignore_ascii_case(b.trim())
            {
                problem(
                    "eppn_domain",
                    "student and staff domains must differ: Skolverket wants different EPPNs for the two roles".into(),
                );
            }
            if student.is_none() && staff.is_none() {
                problem("eppn_domain", "set `student`, `staff` or both".into());
            }
        }

        let day = match &config.reference_date {
            None => Local::now().date_naive(),
            Some(text) => match NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
                Ok(d) => d,
                Err(_) => {
                    problem(
                        "reference_date",
                        format!("`{text}` is not a date YYYY-MM-DD"),
                    );
                    Local::now().date_naive()
                }
            },
        };

        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }

        let catalogue = CatalogueFrames::build(CatalogueInput {
            open_data: &open_data,
            day,
            scope_units: &scope_units,
            subject_map: &subject_map,
            rules: &rules,
        })
        .map_err(|e| ConfigError {
            problems: vec![("open-data".into(), format!("cannot index open-data: {e}"))],
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

// ---------------------------------------------------------------------------
// Expressions shared by the stages.

fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

fn null_i32() -> Expr {
    lit(NULL).cast(DataType::Int32)
}

/// `column` equals one of `values` (false for null).
fn any_eq(column: &str, values: &[&str]) -> Expr {
    values
        .iter()
        .fold(lit(false), |acc, v| acc.or(col(column).eq(lit(*v))))
        .fill_null(lit(false))
}

fn any_eq_i32(column: &str, values: &[i32]) -> Expr {
    values
        .iter()
        .fold(lit(false), |acc, v| acc.or(col(column).eq(lit(*v))))
        .fill_null(lit(false))
}

fn left() -> JoinArgs {
    JoinArgs::new(JoinType::Left)
}

/// Typed access to the columns of a collected frame.
struct Cols<'a>(&'a DataFrame);

impl<'a> Cols<'a> {
    fn s(&self, name: &str) -> PolarsResult<Vec<Option<&'a str>>> {
        Ok(self.0.column(name)?.str()?.iter().collect())
    }
    fn u(&self, name: &str) -> PolarsResult<Vec<Option<u32>>> {
        Ok(self.0.column(name)?.u32()?.iter().collect())
    }
    fn i(&self, name: &str) -> PolarsResult<Vec<Option<i32>>> {
        Ok(self.0.column(name)?.i32()?.iter().collect())
    }
}

fn usize_of(v: Option<u32>) -> usize {
    v.map_or(usize::MAX, |v| v as usize)
}

/// What became of a person record.
enum PersonOutcome {
    Out,
    Rejected,
    Kept(Role, Box<Checked>),
}

/// A kept entity on its way into the desired state.
struct KeptEnrolment {
    unit_id: Uuid,
    school_type: SchoolType,
    school_year: Option<u8>,
    education_code: Option<String>,
}

/// The state of one run.
struct Run<'t, 's> {
    t: &'t Transformer,
    s: &'s Snapshot,
    rejects: Vec<Reject>,
    /// Rejected records per type, by position in the snapshot.
    rejected: HashMap<EntityKind, HashSet<u32>>,
    counts: Counts,
    left_out: Vec<LeftOutRef>,
}

impl<'t, 's> Run<'t, 's> {
    fn new(t: &'t Transformer, s: &'s Snapshot) -> Self {
        let mut counts = Counts::default();
        counts.persons.read = s.persons.len();
        counts.duties.read = s.duties.len();
        counts.groups.read = s.groups.len();
        counts.activities.read = s.activities.len();
        Run {
            t,
            s,
            rejects: Vec::new(),
            rejected: HashMap::new(),
            counts,
            left_out: Vec::new(),
        }
    }

    fn scope_all(&self) -> bool {
        self.t.config.school_units.is_empty()
    }

    /// `unit_in_scope` after a join with the units frame (unknown references
    /// are in scope only when no unit scope is configured).
    fn unit_in_scope(&self) -> Expr {
        col("unit_in_scope").fill_null(lit(self.scope_all()))
    }

    fn types_in_scope(&self, column: &str) -> Expr {
        any_eq(column, &self.t.school_types)
    }

    /// A school year passes the configured years (or none are configured).
    fn year_in_scope(&self, column: &str) -> Expr {
        if self.t.school_years.is_empty() {
            lit(true)
        } else {
            any_eq_i32(column, &self.t.school_years)
        }
    }

    fn out_of_scope(counts: &mut TypeCounts, why: &str) {
        counts.out_of_scope += 1;
        *counts
            .out_of_scope_reasons
            .entry(why.to_string())
            .or_insert(0) += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        severity: Severity,
        entity: EntityKind,
        record: u32,
        id: &str,
        field: &str,
        value: Option<String>,
        unit: Option<&str>,
        why: String,
    ) {
        if severity == Severity::Rejected {
            self.rejected.entry(entity).or_default().insert(record);
        }
        let mut r = Reject::new(Stage::Transform, entity, why)
            .id(id)
            .field(field, value);
        r.severity = severity;
        if let Some(u) = unit {
            r = r.school_unit(u);
        }
        self.rejects.push(r);
    }

    fn execute(mut self) -> Result<TransformOutput, TransformError> {
        let t = self.t;
        let cat = &t.catalogue;
        let mut watch = Stopwatch::start();
        let mut src = SourceFrames::build(self.s, &t.open_data, t.day)?;
        watch.lap("frames");

        // 1. School units: the source's organisations checked against
        // open-data and the configured scope.
        let units = src
            .units
            .clone()
            .lazy()
            .left_join(cat.units.clone().lazy(), col("unit_code"), col("od_code"))
            .left_join(
                cat.scope_units.clone().lazy(),
                col("unit_code"),
                col("scope_code"),
            )
            .with_columns([
                lit(self.scope_all())
                    .or(col("scoped").fill_null(lit(false)))
                    .alias("unit_in_scope"),
                when(col("unit_code").is_null())
                    .then(lit(code::UNIT_NO_CODE))
                    .when(col("unit_id").is_null())
                    .then(lit(code::UNIT_UNKNOWN))
                    .when(col("unit_status").eq(lit("Expired")).fill_null(lit(false)))
                    .then(lit(code::UNIT_EXPIRED))
                    .when(col("unit_dnp").not().fill_null(lit(false)))
                    .then(lit(code::UNIT_NOT_IN_DNP))
                    .otherwise(null_str())
                    .alias("unit_problem"),
            ])
            .select([
                col("unit_ref"),
                col("unit_code"),
                col("unit_id"),
                col("unit_known"),
                col("unit_in_scope"),
                col("unit_problem"),
            ])
            .collect()?;

        watch.lap("units");
        // 2a. Enrolments in scope, with what is wrong with them.
        // Frames are taken (not cloned) where they are last used, so big
        // sources free them as early as possible.
        let enrolments = std::mem::take(&mut src.enrolments)
            .lazy()
            .left_join(units.clone().lazy(), col("e_unit_ref"), col("unit_ref"))
            .left_join(
                src.programmes.clone().lazy(),
                col("e_prog_ref"),
                col("prog_ref"),
            )
            .with_column(col("e_edu_own").fill_null(col("prog_code")).alias("e_edu"))
            .join(
                cat.types.clone().lazy(),
                [col("unit_code"), col("e_type")],
                [col("t_code"), col("t_type")],
                left(),
            )
            .join(
                cat.years.clone().lazy(),
                [col("unit_code"), col("e_type"), col("e_year")],
                [col("y_code"), col("y_type"), col("y_year")],
                left(),
            )
            .left_join(cat.programmes.clone().lazy(), col("e_edu"), col("pr_code"))
            .with_columns([
                col("e_type")
                    .is_not_null()
                    .and(self.types_in_scope("e_type"))
                    .and(self.unit_in_scope())
                    .and(
                        col("e_needs_year")
                            .not()
                            .or(col("e_year").is_null())
                            .or(self.year_in_scope("e_year")),
                    )
                    .fill_null(lit(false))
                    .alias("e_scope"),
                {
                    let needs_year = col("e_needs_year");
                    let gy = col("e_type").eq(lit("GY")).fill_null(lit(false));
                    when(col("unit_known").is_null())
                        .then(lit(code::UNIT_REF_MISSING))
                        .when(col("unit_problem").is_not_null())
                        .then(col("unit_problem"))
                        .when(col("t_dnp").is_null())
                        .then(lit(code::TYPE_NOT_OFFERED))
                        .when(col("t_dnp").not())
                        .then(lit(code::TYPE_NOT_IN_DNP))
                        .when(
                            needs_year.clone().and(
                                col("e_year")
                                    .is_null()
                                    .or(col("e_year").lt(lit(1i32)))
                                    .or(col("e_year").gt(lit(10i32))),
                            ),
                        )
                        .then(lit(code::YEAR_INVALID))
                        .when(needs_year.clone().and(col("y_dnp").is_null()))
                        .then(lit(code::YEAR_NOT_OFFERED))
                        .when(needs_year.and(col("y_dnp").not()))
                        .then(lit(code::YEAR_NOT_IN_DNP))
                        .when(gy.clone().and(col("e_edu").is_null()))
                        .then(lit(code::EDU_MISSING))
                        .when(gy.clone().and(col("pr_usable").is_null()))
                        .then(lit(code::EDU_UNKNOWN))
                        .when(
                            gy.clone()
                                .and(col("pr_status").eq(lit("Expired")).fill_null(lit(false))),
                        )
                        .then(lit(code::EDU_EXPIRED))
                        .when(gy.and(col("pr_usable").not()))
                        .then(lit(code::EDU_NOT_YET))
                        .otherwise(null_str())
                        .alias("e_problem")
                },
            ])
            .filter(col("e_scope"))
            .select([
                col("e_p"),
                col("e_n"),
                col("e_unit_ref"),
                col("unit_code"),
                col("e_type"),
                col("e_year"),
                col("e_edu"),
                col("pr_valid_from"),
                col("e_problem"),
            ])
            .sort(["e_p", "e_n"], SortMultipleOptions::default())
            .collect()?;
        // What is wrong (few rows, every detail), and what the later stages
        // need of all rows (few columns).
        let enrolment_problems = enrolments
            .clone()
            .lazy()
            .filter(col("e_problem").is_not_null())
            .collect()?;
        let enrolments = enrolments
            .lazy()
            .select([
                col("e_p"),
                col("e_n"),
                col("unit_code"),
                col("e_type"),
                col("e_year"),
                col("e_edu"),
                col("e_problem"),
            ])
            .collect()?;

        watch.lap("enrolments");
        // 2b. Duties: current and at a unit in scope, else out of scope.
        let duties = src
            .duties
            .clone()
            .lazy()
            .left_join(units.clone().lazy(), col("d_unit_ref"), col("unit_ref"))
            .with_column(
                when(col("d_active").not())
                    .then(lit(scope::ENDED))
                    .when(self.unit_in_scope().not())
                    .then(lit(scope::UNIT_OUT_OF_SCOPE))
                    .otherwise(null_str())
                    .alias("d_scope"),
            )
            .collect()?;

        watch.lap("duty scope");
        // 3. Persons: role from enrolments and duties in scope.
        let source_persons = std::mem::take(&mut src.persons);
        let persons = source_persons
            .clone()
            .lazy()
            .left_join(
                source_persons
                    .lazy()
                    .group_by([col("person_id")])
                    .agg([col("p").min().alias("p_first")]),
                col("person_id"),
                col("person_id"),
            )
            .left_join(
                enrolments.clone().lazy().group_by([col("e_p")]).agg([
                    len().alias("n_enr"),
                    col("e_problem")
                        .is_null()
                        .sum()
                        .cast(DataType::UInt32)
                        .alias("n_enr_ok"),
                ]),
                col("p"),
                col("e_p"),
            )
            .left_join(
                duties
                    .clone()
                    .lazy()
                    .filter(
                        col("d_scope")
                            .is_null()
                            .and(col("d_person_ref").is_not_null()),
                    )
                    .group_by([col("d_person_ref")])
                    .agg([len().alias("n_duty")]),
                col("person_id"),
                col("d_person_ref"),
            )
            .sort(["p"], SortMultipleOptions::default())
            .collect()?;
        watch.lap("person roles");
        let (outcomes, person_units) =
            self.persons(&persons, &enrolments, &enrolment_problems, &duties)?;

        watch.lap("person rules");
        // The person table every reference is resolved against.
        let ps = {
            let c = Cols(&persons);
            let ids = c.s("person_id")?;
            let p = c.u("p")?;
            let first = c.u("p_first")?;
            let mut id_col = Vec::new();
            let mut p_col = Vec::new();
            let mut status = Vec::new();
            let mut role: Vec<Option<&str>> = Vec::new();
            for ((id, p), first) in ids.iter().zip(&p).zip(&first) {
                if p != first {
                    continue;
                }
                let i = usize_of(*p);
                id_col.push(*id);
                p_col.push(*p);
                let (s, r) = match outcomes.get(i) {
                    Some(PersonOutcome::Kept(r, _)) => ("kept", Some(r.as_str())),
                    Some(PersonOutcome::Rejected) => ("rejected", self.role_of(&persons, i)),
                    _ => ("out", None),
                };
                status.push(s);
                role.push(r);
            }
            DataFrame::new_infer_height(vec![
                Column::new("person_id".into(), id_col),
                Column::new("ps_p".into(), p_col),
                Column::new("p_status".into(), status),
                Column::new("p_role".into(), role),
            ])?
        };

        drop(persons);
        watch.lap("person table");
        // 4. Duties.
        let (kept_duties, duty_status) = self.duties(&duties, &ps)?;

        watch.lap("duties");
        // 5. Activities: resolve the national test activity.
        let groups_first = src
            .groups
            .clone()
            .lazy()
            .group_by([col("g_id")])
            .agg([col("g").min().alias("g_first")]);
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
        let mut desired = DesiredState {
            persons: persons_out,
            duties: kept_duties.into_iter().map(|k| k.desired).collect(),
            groups: groups_out,
            activities,
        };
        hash_desired(&mut desired);
        watch.lap("hashes");

        self.counts.persons.out = desired.persons.len();
        self.counts.duties.out = desired.duties.len();
        self.counts.groups.out = desired.groups.len();
        self.counts.activities.out = desired.activities.len();
        self.finish_counts();
        self.rejects.sort_by(|a, b| {
            (a.entity, &a.source_id, a.severity, &a.field).cmp(&(
                b.entity,
                &b.source_id,
                b.severity,
                &b.field,
            ))
        });
        Ok(TransformOutput {
            desired,
            rejects: self.rejects,
            counts: self.counts,
            left_out: self.left_out,
        })
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
        for (kind, counts) in [
            (EntityKind::Person, &mut self.counts.persons),
            (EntityKind::Duty, &mut self.counts.duties),
            (EntityKind::Group, &mut self.counts.groups),
            (EntityKind::Activity, &mut self.counts.activities),
        ] {
            counts.in_scope = counts.read - counts.out_of_scope;
            counts.rejected = rejected.get(&kind).map_or(0, HashSet::len);
            counts.warnings = warnings.get(&kind).copied().unwrap_or(0);
        }
    }

    /// The role a person would have had (for rejected persons in `ps`).
    fn role_of(&self, persons: &DataFrame, i: usize) -> Option<&'static str> {
        let n_enr = persons.column("n_enr").ok()?.u32().ok()?.get(i);
        let n_duty = persons.column("n_duty").ok()?.u32().ok()?.get(i);
        if n_enr.unwrap_or(0) > 0 {
            Some(Role::Student.as_str())
        } else if n_duty.unwrap_or(0) > 0 {
            Some(Role::Staff.as_str())
        } else {
            None
        }
    }

    /// Person rules, then duplicate personnummer and EPPNs. Returns the
    /// outcome per person index and the unit code per person (first kept
    /// enrolment, for reports).
    fn persons<'f>(
        &mut self,
        persons: &DataFrame,
        enrolments: &'f DataFrame,
        enrolment_problems: &'f DataFrame,
        duties: &'f DataFrame,
    ) -> PolarsResult<(Vec<PersonOutcome>, Vec<Option<&'f str>>)> {
        let mut watch = Stopwatch::start();
        // Staff belong to the unit of their first duty in scope.
        let mut duty_units: HashMap<&'f str, &'f str> = HashMap::new();
        {
            let c = Cols(duties);
            for ((person, code), scope) in c
                .s("d_person_ref")?
                .into_iter()
                .zip(c.s("unit_code")?)
                .zip(c.s("d_scope")?)
            {
                if let (Some(person), Some(code), None) = (person, code, scope) {
                    duty_units.entry(person).or_insert(code);
                }
            }
        }
        // The first good unit per person (for reports), streaming over the
        // enrolments so no column is copied.
        let mut person_units: Vec<Option<&'f str>> = vec![None; self.s.persons.len()];
        for ((p, code), problem) in enrolments
            .column("e_p")?
            .u32()?
            .iter()
            .zip(enrolments.column("unit_code")?.str()?.iter())
            .zip(enrolments.column("e_problem")?.str()?.iter())
        {
            if let (Some(p), Some(code), None) = (p, code, problem)
                && let Some(slot) = person_units.get_mut(p as usize)
            {
                slot.get_or_insert(code);
            }
        }
        // Enrolment problems, per person.
        let ec = Cols(enrolment_problems);
        let (e_p, e_n, e_unit_ref, e_code, e_type, e_year, e_edu, e_from, e_problem) = (
            ec.u("e_p")?,
            ec.u("e_n")?,
            ec.s("e_unit_ref")?,
            ec.s("unit_code")?,
            ec.s("e_type")?,
            ec.i("e_year")?,
            ec.s("e_edu")?,
            ec.s("pr_valid_from")?,
            ec.s("e_problem")?,
        );
        #[allow(clippy::type_complexity)]
        let mut problems: HashMap<
            u32,
            Vec<(String, Option<String>, Option<&'f str>, String)>,
        > = HashMap::new();
        for i in 0..e_p.len() {
            let (Some(p), Some(problem)) = (e_p[i], e_problem[i]) else {
                continue;
            };
            let unit_code = e_code[i];
            let n = e_n[i].unwrap_or(0);
            let d = Details {
                unit_ref: e_unit_ref[i],
                unit_code,
                school_type: e_type[i],
                year: e_year[i],
                edu: e_edu[i],
                valid_from: e_from[i],
                ..Details::default()
            };
            let (field, value) = match problem {
                code::YEAR_INVALID | code::YEAR_NOT_OFFERED | code::YEAR_NOT_IN_DNP => (
                    format!("enrolments[{n}].schoolYear"),
                    e_year[i].map(|y| y.to_string()),
                ),
                code::TYPE_NOT_OFFERED | code::TYPE_NOT_IN_DNP => (
                    format!("enrolments[{n}].schoolType"),
                    e_type[i].map(str::to_string),
                ),
                code::EDU_MISSING | code::EDU_UNKNOWN | code::EDU_EXPIRED | code::EDU_NOT_YET => (
                    format!("enrolments[{n}].educationCode"),
                    e_edu[i].map(str::to_string),
                ),
                _ => (
                    format!("enrolments[{n}].enroledAt"),
                    unit_code.or(e_unit_ref[i]).map(str::to_string),
                ),
            };
            problems.entry(p).or_default().push((
                field,
                value,
                unit_code,
                reason(problem, "the enrolment", &d),
            ));
        }

        watch.lap("person rules: enrolment problems");
        let c = Cols(persons);
        let (p_idx, p_first, n_enr, n_enr_ok, n_duty) = (
            c.u("p")?,
            c.u("p_first")?,
            c.u("n_enr")?,
            c.u("n_enr_ok")?,
            c.u("n_duty")?,
        );
        let mut outcomes: Vec<PersonOutcome> = (0..self.s.persons.len())
            .map(|_| PersonOutcome::Out)
            .collect();
        let roles: Vec<Option<Role>> = (0..p_idx.len())
            .map(|row| {
                if n_enr[row].unwrap_or(0) > 0 {
                    Some(Role::Student)
                } else if n_duty[row].unwrap_or(0) > 0 {
                    Some(Role::Staff)
                } else {
                    None
                }
            })
            .collect();
        // The per-person rules are independent of each other: spread them
        // over the cores.
        let mut checks = self.check_persons(&p_idx, &roles);
        watch.lap("person rules: checks");
        for row in 0..p_idx.len() {
            let Some(p) = p_idx[row] else { continue };
            let i = p as usize;
            let Some(person) = self.s.persons.get(i) else {
                continue;
            };
            let id = person.id.as_str();
            let Some(role) = roles[row] else {
                Self::out_of_scope(&mut self.counts.persons, scope::NO_ROLE);
                continue;
            };
            let unit: Option<&'f str> = person_units[i]
                .or_else(|| problems.get(&p).and_then(|v| v.first()).and_then(|x| x.2))
                .or_else(|| duty_units.get(id).copied());
            person_units[i] = unit;
            if p_first[row] != Some(p) {
                self.push(
                    Severity::Rejected,
                    EntityKind::Person,
                    p,
                    id,
                    "id",
                    Some(id.to_string()),
                    unit,
                    reason(code::DUPLICATE_ID, "the person", &Details::default()),
                );
                outcomes[i] = PersonOutcome::Rejected;
                continue;
            }
            let Some(checked) = checks[row].take() else {
                continue;
            };
            let all_enrolments_bad = role == Role::Student && n_enr_ok[row].unwrap_or(0) == 0;
            let enrolment_problems = problems.get(&p);
            match checked {
                Err(findings) => {
                    for f in findings {
                        self.finding(Severity::Rejected, p, id, unit, f);
                    }
                    if all_enrolments_bad {
                        for (field, value, u, why) in enrolment_problems.into_iter().flatten() {
                            self.push(
                                Severity::Rejected,
                                EntityKind::Person,
                                p,
                                id,
                                field,
                                value.clone(),
                                *u,
                                why.clone(),
                            );
                        }
                    }
                    outcomes[i] = PersonOutcome::Rejected;
                }
                Ok(_) if all_enrolments_bad => {
                    for (field, value, u, why) in enrolment_problems.into_iter().flatten() {
                        self.push(
                            Severity::Rejected,
                            EntityKind::Person,
                            p,
                            id,
                            field,
                            value.clone(),
                            *u,
                            why.clone(),
                        );
                    }
                    outcomes[i] = PersonOutcome::Rejected;
                }
                Ok(checked) => {
                    if role == Role::Student {
                        for (field, value, u, why) in enrolment_problems.into_iter().flatten() {
                            self.push(
                                Severity::Warning,
                                EntityKind::Person,
                                p,
                                id,
                                field,
                                value.clone(),
                                *u,
                                format!("{why}; this enrolment is left out"),
                            );
                        }
                    }
                    outcomes[i] = PersonOutcome::Kept(role, Box::new(checked));
                }
            }
        }

        watch.lap("person rules: outcomes");
        // Duplicate personnummer, then duplicate EPPNs among the rest: the
        // first holder (pupils before staff, then source order) keeps it.
        for (key_name, field) in [("civic", "civicNo"), ("eppn", "eduPersonPrincipalNames")] {
            let mut p_col = Vec::new();
            let mut key = Vec::new();
            let mut rank = Vec::new();
            for (i, o) in outcomes.iter().enumerate() {
                if let PersonOutcome::Kept(role, c) = o {
                    p_col.push(crate::frames::idx(i));
                    key.push(if key_name == "civic" {
                        c.civic_no.clone()
                    } else {
                        c.eppn.to_lowercase()
                    });
                    rank.push((i64::from(*role == Role::Staff) << 32) + i as i64);
                }
            }
            let frame = DataFrame::new_infer_height(vec![
                Column::new("k_p".into(), p_col),
                Column::new("k_key".into(), key),
                Column::new("k_rank".into(), rank),
            ])?;
            let dups = frame
                .clone()
                .lazy()
                .left_join(
                    frame.lazy().group_by([col("k_key")]).agg([
                        col("k_rank").min().alias("k_first_rank"),
                        len().alias("k_n"),
                    ]),
                    col("k_key"),
                    col("k_key"),
                )
                .filter(
                    col("k_n")
                        .gt(lit(1u32))
                        .and(col("k_rank").neq(col("k_first_rank"))),
                )
                // The rank's low 32 bits are the winner's position.
                .select([
                    col("k_p"),
                    (col("k_first_rank") % lit(1i64 << 32))
                        .cast(DataType::UInt32)
                        .alias("k_first"),
                ])
                .sort(["k_p"], SortMultipleOptions::default())
                .collect()?;
            let dc = Cols(&dups);
            for (p, first) in dc.u("k_p")?.into_iter().zip(dc.u("k_first")?) {
                let (Some(p), Some(first)) = (p, first) else {
                    continue;
                };
                let (i, f) = (p as usize, first as usize);
                let (Some(person), Some(holder)) = (self.s.persons.get(i), self.s.persons.get(f))
                else {
                    continue;
                };
                let value = match &outcomes[i] {
                    PersonOutcome::Kept(_, c) if key_name == "civic" => {
                        Some(skolsync_model::civic_no::mask(&c.civic_no))
                    }
                    PersonOutcome::Kept(_, c) => Some(c.eppn.clone()),
                    _ => None,
                };
                let why = if key_name == "civic" {
                    format!(
                        "person {} has the same personnummer; the provtjänst holds one person per personnummer (error 9112), so only that one is sent",
                        holder.id
                    )
                } else {
                    format!(
                        "person {} has the same EPPN; an EPPN identifies one person (error 9115), so only that one is sent",
                        holder.id
                    )
                };
                let unit = person_units.get(i).copied().flatten();
                self.push(
                    Severity::Rejected,
                    EntityKind::Person,
                    p,
                    person.id.as_str(),
                    field,
                    value,
                    unit,
                    why,
                );
                outcomes[i] = PersonOutcome::Rejected;
            }
        }
        watch.lap("person rules: duplicates");
        Ok((outcomes, person_units))
    }

    /// [`PersonRules::check`] for every row with a role, in parallel.
    fn check_persons(
        &self,
        p_idx: &[Option<u32>],
        roles: &[Option<Role>],
    ) -> Vec<Option<Result<Checked, Vec<Finding>>>> {
        let rules = &self.t.person_rules;
        let persons = &self.s.persons;
        let check = |row: usize| {
            let person = persons.get(p_idx[row]? as usize)?;
            Some(rules.check(person, roles[row]?))
        };
        let mut results: Vec<Option<Result<Checked, Vec<Finding>>>> =
            (0..p_idx.len()).map(|_| None).collect();
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .max(1);
        let chunk = results.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for (k, part) in results.chunks_mut(chunk).enumerate() {
                let check = &check;
                scope.spawn(move || {
                    for (j, slot) in part.iter_mut().enumerate() {
                        *slot = check(k * chunk + j);
                    }
                });
            }
        });
        results
    }

    fn finding(&mut self, severity: Severity, p: u32, id: &str, unit: Option<&str>, f: Finding) {
        self.push(
            severity,
            EntityKind::Person,
            p,
            id,
            &f.field,
            f.value,
            unit,
            f.reason,
        );
    }

    /// Duties of persons kept as staff, with a role and a unit open-data
    /// knows. Returns the kept duties and a status table for teacher
    /// references.
    fn duties(
        &mut self,
        duties: &DataFrame,
        ps: &DataFrame,
    ) -> PolarsResult<(Vec<KeptDuty>, DataFrame)> {
        // The role table: each distinct source text once.
        let distinct: Vec<&str> = {
            let mut seen = HashSet::new();
            Cols(duties)
                .s("d_role_src")?
                .into_iter()
                .flatten()
                .filter(|r| seen.insert(*r))
                .collect()
        };
        let mapped: Vec<Option<&str>> = distinct
            .iter()
            .map(|r| self.t.roles.resolve(r).map(DutyRole::as_str))
            .collect();
        let role_table = DataFrame::new_infer_height(vec![
            Column::new("rm_src".into(), distinct),
            Column::new("rm_role".into(), mapped),
        ])?;

        let checked = duties
            .clone()
            .lazy()
            .left_join(
                duties
                    .clone()
                    .lazy()
                    .group_by([col("d_id")])
                    .agg([col("d").min().alias("d_first")]),
                col("d_id"),
                col("d_id"),
            )
            .left_join(role_table.lazy(), col("d_role_src"), col("rm_src"))
            .left_join(ps.clone().lazy(), col("d_person_ref"), col("person_id"))
            // Each kind of problem in its own column, so an administrator
            // sees all of them at once.
            .with_columns([
                when(col("d").neq(col("d_first")))
                    .then(lit(code::DUPLICATE_ID))
                    .otherwise(null_str())
                    .alias("d_problem_id"),
                when(col("d_person_ref").is_null())
                    .then(lit(code::PERSON_NONE))
                    .when(col("p_status").is_null())
                    .then(lit(code::PERSON_UNKNOWN))
                    .when(col("p_status").eq(lit("rejected")))
                    .then(lit(code::PERSON_REJECTED))
                    .when(col("p_role").eq(lit("student")).fill_null(lit(false)))
                    .then(lit(code::PERSON_IS_STUDENT))
                    .otherwise(null_str())
                    .alias("d_problem_person"),
                when(col("rm_role").is_null())
                    .then(lit(code::ROLE_UNKNOWN))
                    .otherwise(null_str())
                    .alias("d_problem_role"),
                when(col("unit_known").is_null())
                    .then(lit(code::UNIT_REF_MISSING))
                    .otherwise(col("unit_problem"))
                    .alias("d_problem_unit"),
            ])
            .sort(["d"], SortMultipleOptions::default())
            .collect()?;

        let c = Cols(&checked);
        let (
            d,
            d_first,
            d_id,
            person_ref,
            unit_ref,
            unit_code,
            unit_id,
            role_src,
            role,
            scope_r,
            problem,
        ) = (
            c.u("d")?,
            c.u("d_first")?,
            c.s("d_id")?,
            c.s("d_person_ref")?,
            c.s("d_unit_ref")?,
            c.s("unit_code")?,
            c.s("unit_id")?,
            c.s("d_role_src")?,
            c.s("rm_role")?,
            c.s("d_scope")?,
            [
                c.s("d_problem_id")?,
                c.s("d_problem_person")?,
                c.s("d_problem_role")?,
                c.s("d_problem_unit")?,
            ],
        );
        let mut kept = Vec::new();
        let (mut st_id, mut st_status, mut st_why): (Vec<&str>, Vec<&str>, Vec<Option<String>>) =
            (Vec::new(), Vec::new(), Vec::new());
        for i in 0..d.len() {
            let id = d_id[i].unwrap_or("");
            let first = d[i] == d_first[i];
            if let Some(why) = scope_r[i] {
                Self::out_of_scope(&mut self.counts.duties, why);
                if first {
                    st_id.push(id);
                    st_status.push("out");
                    st_why.push(Some(why.to_string()));
                }
                continue;
            }
            let found: Vec<&str> = problem.iter().filter_map(|col| col[i]).collect();
            if !found.is_empty() {
                let det = Details {
                    unit_ref: unit_ref[i],
                    unit_code: unit_code[i],
                    other: person_ref[i],
                    role: role_src[i],
                    ..Details::default()
                };
                let mut first_why = None;
                for problem in found {
                    let (field, value) = match problem {
                        code::DUPLICATE_ID => ("id", Some(id.to_string())),
                        code::PERSON_NONE
                        | code::PERSON_UNKNOWN
                        | code::PERSON_REJECTED
                        | code::PERSON_IS_STUDENT => ("person", person_ref[i].map(str::to_string)),
                        code::ROLE_UNKNOWN => ("dutyRole", role_src[i].map(str::to_string)),
                        _ => ("dutyAt", unit_code[i].or(unit_ref[i]).map(str::to_string)),
                    };
                    let why = reason(problem, "the duty", &det);
                    first_why.get_or_insert_with(|| why.clone());
                    self.push(
                        Severity::Rejected,
                        EntityKind::Duty,
                        d[i].unwrap_or(0),
                        id,
                        field,
                        value,
                        unit_code[i],
                        why,
                    );
                }
                if first {
                    st_id.push(id);
                    st_status.push("rejected");
                    st_why.push(first_why);
                }
                continue;
            }
            let (Some(person), Some(unit_id), Some(role)) = (
                person_ref[i],
                unit_id[i].and_then(|u| Uuid::try_parse(u).ok()),
                role[i].and_then(|r| r.parse::<DutyRole>().ok()),
            ) else {
                continue;
            };
            let code_s = unit_code[i].unwrap_or_default().to_string();
            let duty_id = self.t.ids.id(ObjectType::Duty, id);
            let payload = pt::Duty {
                id: duty_id,
                meta: None,
                person: ObjectReference::new(self.t.ids.id(ObjectType::Person, person)),
                duty_at: ObjectReference::new(unit_id),
                duty_role: role,
                provisioning_status: None,
            };
            kept.push(KeptDuty {
                person_ref: person.to_string(),
                unit_code: code_s.clone(),
                role,
                desired: Desired {
                    id: duty_id,
                    source_id: id.to_string(),
                    hash: String::new(),
                    school_unit: Some(code_s),
                    payload,
                },
            });
            st_id.push(id);
            st_status.push("kept");
            st_why.push(None);
        }
        let status = DataFrame::new_infer_height(vec![
            Column::new("ds_id".into(), st_id),
            Column::new("ds_status".into(), st_status),
            Column::new("ds_why".into(), st_why),
        ])?;
        Ok((kept, status))
    }

    /// Step 5: every activity with its test activity (or why none).
    fn resolve_activities(
        &mut self,
        src: &SourceFrames,
        units: &DataFrame,
        enrolments: &DataFrame,
        groups_first: LazyFrame,
    ) -> PolarsResult<DataFrame> {
        let cat = &self.t.catalogue;
        // A parentActivity that is another activity of the source is the
        // vendor's own structure, not a claim to be a national test.
        let source_activity_ids = src
            .activities
            .clone()
            .lazy()
            .select([col("a_id").alias("pa_id")])
            .unique_generic(None, UniqueKeepStrategy::Any)
            .with_column(lit(true).alias("pa_is_activity"));
        let base = src
            .activities
            .clone()
            .lazy()
            .left_join(
                src.activities
                    .clone()
                    .lazy()
                    .group_by([col("a_id")])
                    .agg([col("a").min().alias("a_first")]),
                col("a_id"),
                col("a_id"),
            )
            .left_join(units.clone().lazy(), col("a_unit_ref"), col("unit_ref"))
            .left_join(
                src.syllabuses.clone().lazy(),
                col("a_syllabus_ref"),
                col("s_ref"),
            )
            .with_column(
                coalesce(&[col("s_course"), col("s_subject"), col("a_inline_code")]).alias("code"),
            )
            .left_join(cat.subject_map.clone().lazy(), col("code"), col("sm_local"))
            .with_columns([
                col("sm_target").fill_null(col("code")).alias("code_m"),
                when(col("s_start").eq(col("s_end")))
                    .then(col("s_start"))
                    .otherwise(null_i32())
                    .alias("year_syl"),
            ])
            .left_join(
                cat.tests_by_ref.clone().lazy(),
                col("a_parent"),
                col("x_key"),
            )
            .left_join(source_activity_ids, col("a_parent"), col("pa_id"));

        // The school year of activities whose syllabus spans several years:
        // the most common year among the members of its groups (ties: the
        // higher year, where tests usually sit).
        let need_year = base
            .clone()
            .filter(col("year_syl").is_null().and(col("x_name").is_null()))
            .select([col("a")]);
        let deduced = src
            .activity_groups
            .clone()
            .lazy()
            .inner_join(need_year, col("ag_a"), col("a"))
            .inner_join(
                groups_first.select([col("g_id"), col("g_first")]),
                col("ag_group_ref"),
                col("g_id"),
            )
            .inner_join(src.members.clone().lazy(), col("g_first"), col("m_g"))
            .inner_join(
                enrolments
                    .clone()
                    .lazy()
                    .filter(col("e_year").is_not_null())
                    .select([col("e_p"), col("e_year")]),
                col("m_p"),
                col("e_p"),
            )
            .group_by([col("ag_a"), col("e_year")])
            .agg([len().alias("n")])
            .group_by([col("ag_a")])
            .agg([col("e_year")
                .sort_by(
                    [col("n"), col("e_year")],
                    SortMultipleOptions::default().with_order_descending_multi([true, true]),
                )
                .first()
                .alias("year_ded")]);

        let explicit_given = col("a_parent")
            .is_not_null()
            .and(col("pa_is_activity").is_null());
        let resolved = base
            .left_join(deduced, col("a"), col("ag_a"))
            .with_column(col("year_syl").fill_null(col("year_ded")).alias("year"))
            .join(
                cat.rules_by_year.clone().lazy(),
                [col("code"), col("year")],
                [col("r_code"), col("r_year")],
                left(),
            )
            .left_join(
                cat.rules_any_year.clone().lazy(),
                col("code"),
                col("ra_code"),
            )
            .join(
                cat.tests_by_subject.clone().lazy(),
                [col("code_m"), col("year")],
                [col("ts_subject"), col("ts_year")],
                left(),
            )
            .left_join(
                cat.tests_by_course.clone().lazy(),
                col("code_m"),
                col("tc_name"),
            )
            .with_columns([
                coalesce(&[
                    col("x_name"),
                    col("r_name"),
                    col("ra_name"),
                    col("ts_name"),
                    when(col("tc_hit").fill_null(lit(false)))
                        .then(col("code_m"))
                        .otherwise(null_str()),
                ])
                .alias("test"),
                when(col("x_name").is_not_null())
                    .then(lit("explicit"))
                    .when(col("r_name").is_not_null().or(col("ra_name").is_not_null()))
                    .then(lit("mapping_table"))
                    .when(col("ts_name").is_not_null())
                    .then(lit("subject_and_year"))
                    .when(col("tc_hit").fill_null(lit(false)))
                    .then(lit("course"))
                    .otherwise(null_str())
                    .alias("route"),
            ])
            .left_join(cat.tests.clone().lazy(), col("test"), col("tn_name"))
            .join(
                cat.types.clone().lazy(),
                [col("unit_code"), col("tn_stype")],
                [col("t_code"), col("t_type")],
                left(),
            )
            .join(
                cat.years.clone().lazy(),
                [col("unit_code"), col("tn_stype"), col("tn_year")],
                [col("y_code"), col("y_type"), col("y_year")],
                left(),
            )
            .with_columns([
                when(col("a_active").not())
                    .then(lit(scope::ENDED))
                    .when(
                        col("a_type")
                            .is_not_null()
                            .and(col("a_type").neq(lit(ActivityType::Undervisning.as_str()))),
                    )
                    .then(lit(scope::NOT_TEACHING))
                    .when(self.unit_in_scope().not())
                    .then(lit(scope::UNIT_OUT_OF_SCOPE))
                    .when(col("test").is_null().and(explicit_given.clone().not()))
                    .then(lit(scope::NO_TEST))
                    .when(
                        col("test")
                            .is_not_null()
                            .and(self.types_in_scope("tn_stype").not()),
                    )
                    .then(lit(scope::SCHOOL_TYPE_OUT_OF_SCOPE))
                    .when(
                        col("tn_year")
                            .is_not_null()
                            .and(self.year_in_scope("tn_year").not()),
                    )
                    .then(lit(scope::SCHOOL_YEAR_OUT_OF_SCOPE))
                    .otherwise(null_str())
                    .alias("a_scope"),
                when(col("a").neq(col("a_first")))
                    .then(lit(code::DUPLICATE_ID))
                    .when(col("test").is_null())
                    .then(lit(code::PARENT_UNKNOWN))
                    .when(col("unit_known").is_null())
                    .then(lit(code::UNIT_REF_MISSING))
                    .when(col("unit_problem").is_not_null())
                    .then(col("unit_problem"))
                    .when(col("t_dnp").is_null())
                    .then(lit(code::TYPE_NOT_OFFERED))
                    .when(col("t_dnp").not())
                    .then(lit(code::TYPE_NOT_IN_DNP))
                    .when(col("tn_year").is_not_null().and(col("y_dnp").is_null()))
                    .then(lit(code::YEAR_NOT_OFFERED))
                    .when(col("tn_year").is_not_null().and(col("y_dnp").not()))
                    .then(lit(code::YEAR_NOT_IN_DNP))
                    .otherwise(null_str())
                    .alias("a_problem"),
            ])
            .select([
                col("a"),
                col("a_id"),
                col("a_parent"),
                col("a_unit_ref"),
                col("unit_code"),
                col("unit_id"),
                col("code"),
                col("year"),
                col("test"),
                col("route"),
                col("tn_stype"),
                col("tn_year"),
                col("a_scope"),
                col("a_problem"),
            ])
            .sort(["a"], SortMultipleOptions::default())
            .collect()?;
        Ok(resolved)
    }

    /// Step 6: every group's scope and own problems (before activities).
    fn groups(
        &mut self,
        src: &SourceFrames,
        units: &DataFrame,
        ps: &DataFrame,
        enrolments: &DataFrame,
        acts: &DataFrame,
        groups_first: LazyFrame,
    ) -> PolarsResult<DataFrame> {
        let cat = &self.t.catalogue;
        let base = src
            .groups
            .clone()
            .lazy()
            .left_join(groups_first, col("g_id"), col("g_id"))
            .left_join(units.clone().lazy(), col("g_unit_ref"), col("unit_ref"));

        // A group without a school type takes its members' most common one.
        let deduced = src
            .members
            .clone()
            .lazy()
            .inner_join(
                base.clone()
                    .filter(col("g_stype_src").is_null())
                    .select([col("g")]),
                col("m_g"),
                col("g"),
            )
            .inner_join(
                enrolments
                    .clone()
                    .lazy()
                    .filter(col("e_problem").is_null())
                    .select([col("e_p"), col("e_type")]),
                col("m_p"),
                col("e_p"),
            )
            .group_by([col("m_g"), col("e_type")])
            .agg([len().alias("n")])
            .group_by([col("m_g")])
            .agg([col("e_type")
                .sort_by(
                    [col("n"), col("e_type")],
                    SortMultipleOptions::default().with_order_descending_multi([true, false]),
                )
                .first()
                .alias("ded_type")]);

        // Teaching groups are in scope when an in-scope activity tests them.
        let referenced = src
            .activity_groups
            .clone()
            .lazy()
            .inner_join(
                acts.clone()
                    .lazy()
                    .filter(col("a_scope").is_null())
                    .select([col("a")]),
                col("ag_a"),
                col("a"),
            )
            .select([col("ag_group_ref")])
            .unique_generic(None, UniqueKeepStrategy::Any)
            .with_column(lit(true).alias("g_referenced"));

        // Members: how many, and how many are pupils in scope (kept or
        // rejected) or unknown persons (which are reported).
        let member_stats = src
            .members
            .clone()
            .lazy()
            .left_join(
                ps.clone().lazy().select([col("ps_p"), col("p_role")]),
                col("m_p"),
                col("ps_p"),
            )
            .group_by([col("m_g")])
            .agg([
                len().alias("g_n_known"),
                col("p_role")
                    .eq(lit("student"))
                    .fill_null(lit(false))
                    .sum()
                    .cast(DataType::UInt32)
                    .alias("g_n_students"),
            ]);
        let missing_stats = src
            .members_missing
            .clone()
            .lazy()
            .group_by([col("mm_g")])
            .agg([len().alias("g_n_missing")]);

        let undervisning = col("g_type").eq(lit(GroupType::Undervisning.as_str()));
        let klass = col("g_type").eq(lit(GroupType::Klass.as_str()));
        base.left_join(deduced, col("g"), col("m_g"))
            .with_column(col("g_stype").fill_null(col("ded_type")).alias("stype"))
            .left_join(referenced, col("g_id"), col("ag_group_ref"))
            .left_join(member_stats, col("g"), col("m_g"))
            .left_join(missing_stats, col("g"), col("mm_g"))
            .with_columns([
                (col("g_n_known").fill_null(lit(0u32)) + col("g_n_missing").fill_null(lit(0u32)))
                    .alias("g_n_members"),
                (col("g_n_students").fill_null(lit(0u32))
                    + col("g_n_missing").fill_null(lit(0u32)))
                .alias("g_n_relevant"),
            ])
            .join(
                cat.types.clone().lazy(),
                [col("unit_code"), col("stype")],
                [col("t_code"), col("t_type")],
                left(),
            )
            .with_columns([
                when(col("g_active").not())
                    .then(lit(scope::ENDED))
                    .when(klass.clone().or(undervisning.clone()).not())
                    .then(lit(scope::GROUP_TYPE))
                    .when(undervisning.and(col("g_referenced").is_null()))
                    .then(lit(scope::UNTESTED_GROUP))
                    .when(
                        col("g_stype_src")
                            .is_not_null()
                            .and(col("g_stype").is_null()),
                    )
                    .then(lit(scope::NOT_IN_PROFILE))
                    .when(self.unit_in_scope().not())
                    .then(lit(scope::UNIT_OUT_OF_SCOPE))
                    .when(
                        col("stype")
                            .is_not_null()
                            .and(self.types_in_scope("stype").not()),
                    )
                    .then(lit(scope::SCHOOL_TYPE_OUT_OF_SCOPE))
                    .when(
                        klass
                            .and(col("g_n_members").fill_null(lit(0u32)).gt(lit(0u32)))
                            .and(col("g_n_relevant").fill_null(lit(0u32)).eq(lit(0u32))),
                    )
                    .then(lit(scope::NO_PUPILS))
                    .otherwise(null_str())
                    .alias("g_scope"),
                when(col("g").neq(col("g_first")))
                    .then(lit(code::DUPLICATE_ID))
                    .when(col("unit_known").is_null())
                    .then(lit(code::UNIT_REF_MISSING))
                    .when(col("unit_problem").is_not_null())
                    .then(col("unit_problem"))
                    .when(col("g_named").not())
                    .then(lit(code::NAME_MISSING))
                    .when(col("stype").is_null())
                    .then(lit(code::SCHOOL_TYPE_MISSING))
                    .when(col("t_dnp").is_null())
                    .then(lit(code::TYPE_NOT_OFFERED))
                    .when(col("t_dnp").not())
                    .then(lit(code::TYPE_NOT_IN_DNP))
                    .otherwise(null_str())
                    .alias("g_problem"),
            ])
            .select([
                col("g"),
                col("g_first"),
                col("g_id"),
                col("g_type"),
                col("stype"),
                col("g_unit_ref"),
                col("unit_code"),
                col("unit_id"),
                col("g_scope"),
                col("g_problem"),
            ])
            .sort(["g"], SortMultipleOptions::default())
            .collect()
    }

    /// Step 7: activities with the groups and teachers that can be sent.
    /// Returns the kept activities and the teaching groups they keep.
    fn activities(
        &mut self,
        src: &SourceFrames,
        acts: &DataFrame,
        groups: &DataFrame,
        duty_status: &DataFrame,
        kept_duties: &[KeptDuty],
    ) -> PolarsResult<(Vec<Desired<pt::Activity>>, HashSet<String>)> {
        // Group status before activities decide: kept unless rejected or
        // out of scope.
        let gc = Cols(groups);
        let (g_first_col, g_idx) = (gc.u("g_first")?, gc.u("g")?);
        let (g_id, g_scope, g_problem, g_type) = (
            gc.s("g_id")?,
            gc.s("g_scope")?,
            gc.s("g_problem")?,
            gc.s("g_type")?,
        );
        let mut gs_id = Vec::new();
        let mut gs_status = Vec::new();
        let mut gs_why: Vec<Option<&str>> = Vec::new();
        let mut gs_type = Vec::new();
        for i in 0..g_idx.len() {
            if g_idx[i] != g_first_col[i] {
                continue;
            }
            gs_id.push(g_id[i].unwrap_or(""));
            let (status, why) = match (g_scope[i], g_problem[i]) {
                (Some(why), _) => ("out", Some(why)),
                (None, Some(p)) => ("rejected", Some(p)),
                (None, None) => ("kept", None),
            };
            gs_status.push(status);
            gs_why.push(why);
            gs_type.push(g_type[i].unwrap_or(""));
        }
        let gs = DataFrame::new_infer_height(vec![
            Column::new("gs_id".into(), gs_id),
            Column::new("gs_status".into(), gs_status),
            Column::new("gs_why".into(), gs_why),
            Column::new("gs_type".into(), gs_type),
        ])?;

        let in_scope = acts
            .clone()
            .lazy()
            .filter(col("a_scope").is_null())
            .select([col("a"), col("unit_code").alias("a_unit_code")]);
        let ag = src
            .activity_groups
            .clone()
            .lazy()
            .inner_join(in_scope.clone(), col("ag_a"), col("a"))
            .left_join(gs.lazy(), col("ag_group_ref"), col("gs_id"))
            .sort(["ag_a", "ag_n"], SortMultipleOptions::default())
            .collect()?;
        let teachers_by_duty = src
            .activity_teachers
            .clone()
            .lazy()
            .filter(col("at_duty_ref").is_not_null())
            .inner_join(in_scope.clone(), col("at_a"), col("a"))
            .left_join(duty_status.clone().lazy(), col("at_duty_ref"), col("ds_id"))
            .sort(["at_a", "at_n"], SortMultipleOptions::default())
            .collect()?;
        // Teachers given as persons: that person's duty at the activity's
        // unit, a teacher's duty first.
        let kd = DataFrame::new_infer_height(vec![
            Column::new(
                "kd_person".into(),
                kept_duties
                    .iter()
                    .map(|k| k.person_ref.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "kd_unit".into(),
                kept_duties
                    .iter()
                    .map(|k| k.unit_code.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "kd_id".into(),
                kept_duties
                    .iter()
                    .map(|k| k.desired.source_id.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "kd_rank".into(),
                kept_duties
                    .iter()
                    .map(|k| u32::from(k.role != DutyRole::Larare))
                    .collect::<Vec<_>>(),
            ),
        ])?;
        let teachers_by_person = src
            .activity_teachers
            .clone()
            .lazy()
            .filter(col("at_duty_ref").is_null())
            .inner_join(in_scope, col("at_a"), col("a"))
            .join(
                kd.lazy(),
                [col("at_person_ref"), col("a_unit_code")],
                [col("kd_person"), col("kd_unit")],
                left(),
            )
            .group_by([col("at_a"), col("at_n"), col("at_person_ref")])
            .agg([col("kd_id")
                .sort_by(
                    [col("kd_rank"), col("kd_id")],
                    SortMultipleOptions::default(),
                )
                .first()
                .alias("kd_id")])
            .sort(["at_a", "at_n"], SortMultipleOptions::default())
            .collect()?;

        // Per activity: kept group refs with warnings, teachers with warnings.
        let mut groups_of: HashMap<u32, GroupRefs> = HashMap::new();
        // Per activity: references left out because their record was
        // rejected (see `LeftOutRef`).
        let mut rejected_refs: HashMap<u32, Vec<(ObjectType, String)>> = HashMap::new();
        {
            let c = Cols(&ag);
            let (a, gref, status, why, gtype) = (
                c.u("ag_a")?,
                c.s("ag_group_ref")?,
                c.s("gs_status")?,
                c.s("gs_why")?,
                c.s("gs_type")?,
            );
            for i in 0..a.len() {
                let Some(a) = a[i] else { continue };
                let gref = gref[i].unwrap_or("").to_string();
                let problem = match (status[i], gtype[i]) {
                    (None, _) => Some((format!("group {gref} is not in the source"), "groups")),
                    (Some("kept"), Some("Klass" | "Undervisning")) => None,
                    (Some("kept"), t) => Some((
                        format!(
                            "group {gref} is of type {}; only Klass and Undervisning groups are sent",
                            t.unwrap_or("?")
                        ),
                        "groups",
                    )),
                    (Some("rejected"), _) => {
                        rejected_refs
                            .entry(a)
                            .or_default()
                            .push((ObjectType::Group, gref.clone()));
                        Some((
                            format!("group {gref} was rejected (see that group)"),
                            "groups",
                        ))
                    }
                    (Some(_), _) => Some((
                        format!(
                            "group {gref} is not sent ({})",
                            why[i].unwrap_or("out of scope")
                        ),
                        "groups",
                    )),
                };
                groups_of.entry(a).or_default().push((gref, problem));
            }
        }
        let mut teachers_of: HashMap<u32, TeacherRefs> = HashMap::new();
        {
            let c = Cols(&teachers_by_duty);
            let (a, dref, status, why) = (
                c.u("at_a")?,
                c.s("at_duty_ref")?,
                c.s("ds_status")?,
                c.s("ds_why")?,
            );
            for i in 0..a.len() {
                let Some(a) = a[i] else { continue };
                let dref = dref[i].unwrap_or("");
                let entry = match status[i] {
                    Some("kept") => (Some(dref.to_string()), None),
                    None => (
                        None,
                        Some(format!(
                            "teacher duty {dref} is not in the source; the teacher is left out"
                        )),
                    ),
                    Some("rejected") => {
                        rejected_refs
                            .entry(a)
                            .or_default()
                            .push((ObjectType::Duty, dref.to_string()));
                        (
                            None,
                            Some(format!(
                                "teacher duty {dref} was rejected ({}); the teacher is left out",
                                why[i].unwrap_or("see that duty")
                            )),
                        )
                    }
                    Some(_) => (
                        None,
                        Some(format!(
                            "teacher duty {dref} is not sent ({}); the teacher is left out",
                            why[i].unwrap_or("out of scope")
                        )),
                    ),
                };
                teachers_of.entry(a).or_default().push(entry);
            }
            let c = Cols(&teachers_by_person);
            let (a, pref, kd_id) = (c.u("at_a")?, c.s("at_person_ref")?, c.s("kd_id")?);
            for i in 0..a.len() {
                let Some(a) = a[i] else { continue };
                let entry = match kd_id[i] {
                    Some(d) => (Some(d.to_string()), None),
                    None => (
                        None,
                        Some(format!(
                            "teacher {} holds no duty that is sent at this activity's school unit; the teacher is left out",
                            pref[i].unwrap_or("?")
                        )),
                    ),
                };
                teachers_of.entry(a).or_default().push(entry);
            }
        }

        let c = Cols(acts);
        let (
            a_idx,
            a_id,
            a_parent,
            unit_ref,
            unit_code,
            unit_id,
            code_col,
            year,
            test,
            scope_r,
            problem,
        ) = (
            c.u("a")?,
            c.s("a_id")?,
            c.s("a_parent")?,
            c.s("a_unit_ref")?,
            c.s("unit_code")?,
            c.s("unit_id")?,
            c.s("code")?,
            c.i("year")?,
            c.s("test")?,
            c.s("a_scope")?,
            c.s("a_problem")?,
        );
        let tn_stype = c.s("tn_stype")?;
        let tn_year = c.i("tn_year")?;
        let mut kept = Vec::new();
        let mut kept_groups: HashSet<String> = HashSet::new();
        for i in 0..a_idx.len() {
            let Some(a) = a_idx[i] else { continue };
            let id = a_id[i].unwrap_or("");
            if let Some(why) = scope_r[i] {
                Self::out_of_scope(&mut self.counts.activities, why);
                continue;
            }
            let unit = unit_code[i];
            if let Some(problem) = problem[i] {
                let det = Details {
                    unit_ref: unit_ref[i],
                    unit_code: unit,
                    school_type: tn_stype[i],
                    year: tn_year[i],
                    parent: a_parent[i],
                    ..Details::default()
                };
                let (field, value) = match problem {
                    code::DUPLICATE_ID => ("id", Some(id.to_string())),
                    code::PARENT_UNKNOWN => ("parentActivity", a_parent[i].map(str::to_string)),
                    code::TYPE_NOT_OFFERED
                    | code::TYPE_NOT_IN_DNP
                    | code::YEAR_NOT_OFFERED
                    | code::YEAR_NOT_IN_DNP => ("parentActivity", test[i].map(str::to_string)),
                    _ => ("organisation", unit.or(unit_ref[i]).map(str::to_string)),
                };
                let mut why = reason(problem, "the activity", &det);
                if problem == code::PARENT_UNKNOWN
                    && let Some(c) = code_col[i]
                {
                    why.push_str(&format!(
                        " (code `{c}`, school year {})",
                        year[i].map_or("unknown".to_string(), |y| y.to_string())
                    ));
                }
                self.push(
                    Severity::Rejected,
                    EntityKind::Activity,
                    a,
                    id,
                    field,
                    value,
                    unit,
                    why,
                );
                continue;
            }
            let refs = groups_of.remove(&a).unwrap_or_default();
            let good: Vec<&String> = refs
                .iter()
                .filter(|(_, p)| p.is_none())
                .map(|(g, _)| g)
                .collect();
            if good.is_empty() {
                let listed: Vec<String> = refs
                    .iter()
                    .filter_map(|(_, p)| p.as_ref().map(|(m, _)| m.clone()))
                    .collect();
                let why = if listed.is_empty() {
                    "the activity has no groups; the provtjänst requires at least one".to_string()
                } else {
                    format!(
                        "none of the activity's groups can be sent: {}",
                        listed.join("; ")
                    )
                };
                self.push(
                    Severity::Rejected,
                    EntityKind::Activity,
                    a,
                    id,
                    "groups",
                    None,
                    unit,
                    why,
                );
                continue;
            }
            let (Some(unit_id), Some(test_name)) =
                (unit_id[i].and_then(|u| Uuid::try_parse(u).ok()), test[i])
            else {
                continue;
            };
            for (gref, p) in &refs {
                match p {
                    None => {
                        kept_groups.insert(gref.clone());
                    }
                    Some((why, field)) => self.push(
                        Severity::Warning,
                        EntityKind::Activity,
                        a,
                        id,
                        field,
                        Some(gref.clone()),
                        unit,
                        format!("{why}; the activity is sent without it"),
                    ),
                }
            }
            let mut groups_payload: Vec<ObjectReference> = good
                .iter()
                .map(|g| ObjectReference::new(self.t.ids.id(ObjectType::Group, g)))
                .collect();
            groups_payload.sort();
            groups_payload.dedup();
            let mut teachers: Vec<DutyAssignment> = Vec::new();
            for (duty, warning) in teachers_of.remove(&a).unwrap_or_default() {
                if let Some(d) = duty {
                    teachers.push(DutyAssignment {
                        duty: ObjectReference::new(self.t.ids.id(ObjectType::Duty, &d)),
                    });
                }
                if let Some(w) = warning {
                    self.push(
                        Severity::Warning,
                        EntityKind::Activity,
                        a,
                        id,
                        "teachers",
                        None,
                        unit,
                        w,
                    );
                }
            }
            teachers.sort_by_key(|t| t.duty);
            teachers.dedup();
            let activity = self.s.activities.get(a as usize);
            let display_name = activity
                .map(|x| x.display_name.trim())
                .filter(|n| !n.is_empty())
                .unwrap_or(test_name)
                .to_string();
            let activity_id = self.t.ids.id(ObjectType::Activity, id);
            for (member_kind, member) in rejected_refs.remove(&a).unwrap_or_default() {
                self.left_out.push(LeftOutRef {
                    kind: ObjectType::Activity,
                    source_id: id.to_string(),
                    member_kind,
                    member_source_id: member,
                });
            }
            kept.push(Desired {
                id: activity_id,
                source_id: id.to_string(),
                hash: String::new(),
                school_unit: unit.map(str::to_string),
                payload: pt::Activity {
                    id: activity_id,
                    meta: None,
                    display_name,
                    activity_type: ActivityType::Undervisning,
                    groups: groups_payload,
                    teachers,
                    organisation: ObjectReference::new(unit_id),
                    parent_activity: ObjectReference::new(
                        TestActivityName::new(test_name).skolverket_id(),
                    ),
                    provisioning_status: None,
                },
            });
        }
        Ok((kept, kept_groups))
    }

    /// Groups: out of scope, rejected, or kept with their members. A
    /// teaching group none of whose activities is kept is rejected too.
    fn finish_groups(
        &mut self,
        src: &SourceFrames,
        groups: &DataFrame,
        ps: &DataFrame,
        kept_undervisning: &HashSet<String>,
    ) -> PolarsResult<Vec<Desired<pt::Group>>> {
        let c = Cols(groups);
        let (g_idx, g_id, g_type, stype, unit_ref, unit_code, unit_id, scope_r, problem) = (
            c.u("g")?,
            c.s("g_id")?,
            c.s("g_type")?,
            c.s("stype")?,
            c.s("g_unit_ref")?,
            c.s("unit_code")?,
            c.s("unit_id")?,
            c.s("g_scope")?,
            c.s("g_problem")?,
        );
        let mut keep: Vec<u32> = Vec::new();
        let mut meta: HashMap<u32, (Uuid, SchoolType, GroupType, Option<&str>, Uuid)> =
            HashMap::new();
        for i in 0..g_idx.len() {
            let Some(g) = g_idx[i] else { continue };
            let id = g_id[i].unwrap_or("");
            if let Some(why) = scope_r[i] {
                Self::out_of_scope(&mut self.counts.groups, why);
                continue;
            }
            let unit = unit_code[i];
            if let Some(problem) = problem[i] {
                let det = Details {
                    unit_ref: unit_ref[i],
                    unit_code: unit,
                    school_type: stype[i],
                    ..Details::default()
                };
                let (field, value) = match problem {
                    code::DUPLICATE_ID => ("id", Some(id.to_string())),
                    code::NAME_MISSING => ("displayName", None),
                    code::SCHOOL_TYPE_MISSING | code::TYPE_NOT_OFFERED | code::TYPE_NOT_IN_DNP => {
                        ("schoolType", stype[i].map(str::to_string))
                    }
                    _ => ("organisation", unit.or(unit_ref[i]).map(str::to_string)),
                };
                self.push(
                    Severity::Rejected,
                    EntityKind::Group,
                    g,
                    id,
                    field,
                    value,
                    unit,
                    reason(problem, "the group", &det),
                );
                continue;
            }
            let group_type = g_type[i].and_then(|t| t.parse::<GroupType>().ok());
            if group_type == Some(GroupType::Undervisning) && !kept_undervisning.contains(id) {
                self.push(
                    Severity::Rejected,
                    EntityKind::Group,
                    g,
                    id,
                    "activities",
                    None,
                    unit,
                    "a teaching group is only sent with its national-test activity, and every activity of this group was rejected (see those activities)".to_string(),
                );
                continue;
            }
            let (Some(unit_id), Some(school_type), Some(group_type)) = (
                unit_id[i].and_then(|u| Uuid::try_parse(u).ok()),
                stype[i].and_then(|t| t.parse::<SchoolType>().ok()),
                group_type,
            ) else {
                continue;
            };
            keep.push(g);
            meta.insert(
                g,
                (
                    self.t.ids.id(ObjectType::Group, id),
                    school_type,
                    group_type,
                    unit,
                    unit_id,
                ),
            );
        }

        // Members of the kept groups, resolved against the person table.
        let kept_frame = DataFrame::new_infer_height(vec![Column::new("kg".into(), keep.clone())])?;
        let members = src
            .members
            .clone()
            .lazy()
            .inner_join(kept_frame.clone().lazy(), col("m_g"), col("kg"))
            .left_join(
                ps.clone()
                    .lazy()
                    .select([col("ps_p"), col("p_status"), col("p_role")]),
                col("m_p"),
                col("ps_p"),
            )
            .collect()?;
        let missing = src
            .members_missing
            .clone()
            .lazy()
            .inner_join(kept_frame.lazy(), col("mm_g"), col("kg"))
            .collect()?;
        let mut memberships: HashMap<u32, Vec<GroupMembership>> = HashMap::new();
        let mut warnings: Vec<(u32, &str, &'static str)> = Vec::new();
        for (((g, p), status), role) in members
            .column("m_g")?
            .u32()?
            .iter()
            .zip(members.column("m_p")?.u32()?.iter())
            .zip(members.column("p_status")?.str()?.iter())
            .zip(members.column("p_role")?.str()?.iter())
        {
            let (Some(g), Some(person)) = (g, p.and_then(|p| self.s.persons.get(p as usize)))
            else {
                continue;
            };
            let person = person.id.as_str();
            let warning = match (status, role) {
                (Some("kept"), Some("student")) => {
                    memberships.entry(g).or_default().push(GroupMembership {
                        person: ObjectReference::new(self.t.ids.id(ObjectType::Person, person)),
                    });
                    None
                }
                (Some("out"), _) => None,
                (Some("rejected"), _) => {
                    if let Some(group) = self.s.groups.get(g as usize) {
                        self.left_out.push(LeftOutRef {
                            kind: ObjectType::Group,
                            source_id: group.id.as_str().to_string(),
                            member_kind: ObjectType::Person,
                            member_source_id: person.to_string(),
                        });
                    }
                    Some(
                        "the member was rejected (see that person) and is left out of the group; send the group again once the person is fixed",
                    )
                }
                (None, _) => Some("the member is not in the source; left out of the group"),
                (Some(_), _) => Some("the member is staff, not a pupil; left out of the group"),
            };
            if let Some(why) = warning {
                warnings.push((g, person, why));
            }
        }
        for (g, person) in missing
            .column("mm_g")?
            .u32()?
            .iter()
            .zip(missing.column("mm_person_ref")?.str()?.iter())
        {
            if let (Some(g), Some(person)) = (g, person) {
                // The person may be missing because their record was
                // rejected at extract; if the service holds them, the plan
                // keeps them stale and puts the membership back.
                if let Some(group) = self.s.groups.get(g as usize) {
                    self.left_out.push(LeftOutRef {
                        kind: ObjectType::Group,
                        source_id: group.id.as_str().to_string(),
                        member_kind: ObjectType::Person,
                        member_source_id: person.to_string(),
                    });
                }
                warnings.push((
                    g,
                    person,
                    "the member is not in the source; left out of the group",
                ));
            }
        }
        for (g, person, why) in warnings {
            let unit = meta.get(&g).and_then(|m| m.3);
            let gid = self
                .s
                .groups
                .get(g as usize)
                .map(|x| x.id.as_str())
                .unwrap_or("");
            self.push(
                Severity::Warning,
                EntityKind::Group,
                g,
                gid,
                "groupMemberships.person",
                Some(person.to_string()),
                unit,
                why.to_string(),
            );
        }

        let mut out = Vec::with_capacity(meta.len());
        for g in keep {
            let (Some(group), Some(&(id, school_type, group_type, unit, unit_id))) =
                (self.s.groups.get(g as usize), meta.get(&g))
            else {
                continue;
            };
            let mut members = memberships.remove(&g).unwrap_or_default();
            members.sort_by_key(|m| m.person);
            members.dedup();
            out.push(Desired {
                id,
                source_id: group.id.as_str().to_string(),
                hash: String::new(),
                school_unit: unit.map(str::to_string),
                payload: pt::Group {
                    id,
                    meta: None,
                    display_name: group.display_name.trim().to_string(),
                    group_type,
                    school_type,
                    organisation: ObjectReference::new(unit_id),
                    provisioning_status: None,
                    group_memberships: members,
                },
            });
        }
        Ok(out)
    }

    /// Persons kept: payloads with their kept enrolments.
    fn nest_persons(
        &mut self,
        outcomes: Vec<PersonOutcome>,
        enrolments: &DataFrame,
        person_units: &[Option<&str>],
    ) -> PolarsResult<Vec<Desired<pt::Person>>> {
        // Kept enrolments, by person: the frame is sorted by person, so one
        // pass over its columns (no copies) serves every person in turn.
        let mut rows = enrolments
            .column("e_p")?
            .u32()?
            .iter()
            .zip(enrolments.column("unit_code")?.str()?.iter())
            .zip(enrolments.column("e_type")?.str()?.iter())
            .zip(enrolments.column("e_year")?.i32()?.iter())
            .zip(enrolments.column("e_edu")?.str()?.iter())
            .zip(enrolments.column("e_problem")?.str()?.iter())
            .peekable();
        // Exactly as many as are kept: a growing vector of a million big
        // payloads would hold up to twice that while it doubles.
        let kept = outcomes
            .iter()
            .filter(|o| matches!(o, PersonOutcome::Kept(..)))
            .count();
        let mut out = Vec::with_capacity(kept);
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let p = crate::frames::idx(i);
            let mut mine: Vec<KeptEnrolment> = Vec::new();
            while let Some((((((e_p, code), e_type), e_year), e_edu), problem)) = rows.peek() {
                let e_p = *e_p;
                if e_p.is_some_and(|x| x > p) {
                    break;
                }
                let (code, e_type, e_year, e_edu, problem) =
                    (*code, *e_type, *e_year, *e_edu, *problem);
                rows.next();
                if e_p != Some(p) || problem.is_some() {
                    continue;
                }
                let (Some(unit_id), Some(school_type)) = (
                    code.and_then(|c| self.t.unit_ids.get(c).copied()),
                    e_type.and_then(|t| t.parse::<SchoolType>().ok()),
                ) else {
                    continue;
                };
                mine.push(KeptEnrolment {
                    unit_id,
                    school_type,
                    school_year: e_year
                        .and_then(|y| u8::try_from(y).ok())
                        .filter(|y| (1..=10).contains(y)),
                    education_code: if school_type == SchoolType::Gy {
                        e_edu.map(|e| e.trim().to_string())
                    } else {
                        None
                    },
                });
            }
            let PersonOutcome::Kept(role, checked) = outcome else {
                continue;
            };
            let Some(person) = self.s.persons.get(i) else {
                continue;
            };
            let checked = *checked;
            let unit = person_units.get(i).copied().flatten();
            for w in checked.warnings.clone() {
                self.finding(Severity::Warning, p, person.id.as_str(), unit, w);
            }
            let mut enrolments: Vec<pt::Enrolment> = Vec::new();
            if role == Role::Student {
                mine.sort_by(|a, b| {
                    (a.unit_id, a.school_type, a.school_year, &a.education_code).cmp(&(
                        b.unit_id,
                        b.school_type,
                        b.school_year,
                        &b.education_code,
                    ))
                });
                mine.dedup_by(|a, b| {
                    a.unit_id == b.unit_id
                        && a.school_type == b.school_type
                        && a.school_year == b.school_year
                        && a.education_code == b.education_code
                });
                enrolments = mine
                    .into_iter()
                    .map(|e| pt::Enrolment {
                        enroled_at: ObjectReference::new(e.unit_id),
                        school_year: e.school_year,
                        school_type: e.school_type,
                        cancelled: None,
                        education_code: e.education_code,
                    })
                    .collect();
            }
            let id = self.t.ids.id(ObjectType::Person, person.id.as_str());
            out.push(Desired {
                id,
                source_id: person.id.as_str().to_string(),
                hash: String::new(),
                school_unit: unit.map(str::to_string),
                payload: pt::Person {
                    id,
                    meta: None,
                    given_name: person.given_name.trim().to_string(),
                    middle_name: person
                        .middle_name
                        .as_deref()
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_string),
                    family_name: person.family_name.trim().to_string(),
                    edu_person_principal_names: vec![checked.eppn],
                    external_identifiers: checked.external_identifiers,
                    security_marking: person.security_marking,
                    civic_no: pt::CivicNoValue::swedish(checked.civic_no),
                    emails: checked.emails,
                    enrolments,
                    provisioning_status: None,
                },
            });
        }
        Ok(out)
    }
}

/// Logs how long each stage took (debug level, target
/// `skolsync_transform::timing`), for finding what dominates on big sources.
struct Stopwatch(std::time::Instant);

impl Stopwatch {
    fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    fn lap(&mut self, stage: &str) {
        if tracing::enabled!(target: "skolsync_transform::timing", tracing::Level::DEBUG) {
            let ms = u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX);
            // Resident memory, where the platform tells (Linux).
            let rss_mib = std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| {
                    let line = s.lines().find(|l| l.starts_with("VmRSS"))?;
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                })
                .map_or(0, |kib| kib / 1024);
            tracing::debug!(target: "skolsync_transform::timing", stage, ms, rss_mib, "transform stage done");
        }
        self.0 = std::time::Instant::now();
    }
}

/// An activity's group references: the reference, and why it is left out
/// (message, field) if it is.
type GroupRefs = Vec<(String, Option<(String, &'static str)>)>;

/// An activity's teachers: the duty's source id if it is sent, a warning
/// if not.
type TeacherRefs = Vec<(Option<String>, Option<String>)>;

/// A kept duty and what teacher references need of it.
struct KeptDuty {
    person_ref: String,
    unit_code: String,
    role: DutyRole,
    desired: Desired<pt::Duty>,
}

/// Computes the content hashes, in parallel (hashing serialises every
/// payload, a costly step for big sources).
pub(crate) fn hash_desired(desired: &mut DesiredState) {
    hash_all(&mut desired.persons);
    hash_all(&mut desired.duties);
    hash_all(&mut desired.groups);
    hash_all(&mut desired.activities);
}

/// Fills `hash` of every entity, spread over the available cores.
pub(crate) fn hash_all<T: Serialize + Sync + Send>(items: &mut [Desired<T>]) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in items.chunks_mut(chunk) {
            scope.spawn(move || {
                for d in part {
                    d.hash = crate::canonical::content_hash(&d.payload);
                }
            });
        }
    });
}
