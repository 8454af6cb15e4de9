//! Stage 5, test activities: every activity with the national test
//! activity it is for, or why it has none.
//!
//! In order: the activity's own `parentActivity` when it is a known test
//! activity (by id or name); a `[[transform.test_activities]]` rule for the
//! local code; the subject code (after `subject_map`) and school year for
//! GR/SP/SAM; the course code for GY/VUXGY. The year is the syllabus's when
//! it spans one year, else the most common year of the groups' members.
//! No match is out of scope (no national test), except an unknown
//! `parentActivity`, which is rejected. The groups stage uses the result to
//! decide which teaching groups are in scope; the activities stage builds
//! the payloads from it.

use polars::prelude::*;
use skolsync_model::ActivityType;

use super::common::{left, most_common, null_i32, null_str};
use super::enrolments::{E_P, E_YEAR};
use super::groups::{G_FIRST, G_ID};
use super::units::{UNIT_CODE, UNIT_ID, UNIT_KNOWN, UNIT_PROBLEM, UNIT_REF};
use crate::frames::SourceFrames;
use crate::reasons::{code, scope};
use crate::transformer::Run;

/// Position of the activity in the snapshot.
pub(crate) const A: &str = "a";
/// The activity's id in the source.
pub(crate) const A_ID: &str = "a_id";
/// The activity's `parentActivity` as the source gives it.
pub(crate) const A_PARENT: &str = "a_parent";
/// The activity's unit reference.
pub(crate) const A_UNIT_REF: &str = "a_unit_ref";
/// The first position of the activity's id (others are duplicates).
const A_FIRST: &str = "a_first";
/// Ids of the source's activities (a `parentActivity` naming one is the
/// vendor's own structure).
const PA_ID: &str = "pa_id";
const PA_IS_ACTIVITY: &str = "pa_is_activity";
/// The local code: the syllabus's course or subject, or the inline code.
pub(crate) const CODE: &str = "code";
/// The code after `subject_map`.
const CODE_M: &str = "code_m";
/// The syllabus's school year when it spans one year.
const YEAR_SYL: &str = "year_syl";
/// The most common school year of the members of the activity's groups.
const YEAR_DED: &str = "year_ded";
/// Members per deduced year.
/// The school year: the syllabus's, else the deduced one.
pub(crate) const YEAR: &str = "year";
/// The national test activity's name, or null.
pub(crate) const TEST: &str = "test";
/// How the test activity was found (explicit, mapping_table,
/// subject_and_year, course).
const ROUTE: &str = "route";
/// The test activity's school type and year (from open-data).
pub(crate) const TN_STYPE: &str = "tn_stype";
pub(crate) const TN_YEAR: &str = "tn_year";
/// Why the activity is out of scope, or null.
pub(crate) const A_SCOPE: &str = "a_scope";
/// What is wrong with the activity (a reason code), or null.
pub(crate) const A_PROBLEM: &str = "a_problem";

impl Run<'_, '_> {
    /// Step 5: every activity with its test activity (or why none).
    pub(crate) fn resolve_activities(
        &mut self,
        src: &SourceFrames,
        units: &DataFrame,
        enrolments: &DataFrame,
        groups_first: LazyFrame,
    ) -> PolarsResult<DataFrame> {
        let cat = &self.t.catalogue;
        let base = self.activity_base(src, units);
        let deduced = deduced_years(src, &base, enrolments, groups_first);

        let resolved = base
            .left_join(deduced, col(A), col("ag_a"))
            .with_column(col(YEAR_SYL).fill_null(col(YEAR_DED)).alias(YEAR))
            .join(
                cat.rules_by_year.clone().lazy(),
                [col(CODE), col(YEAR)],
                [col("r_code"), col("r_year")],
                left(),
            )
            .left_join(cat.rules_any_year.clone().lazy(), col(CODE), col("ra_code"))
            .join(
                cat.tests_by_subject.clone().lazy(),
                [col(CODE_M), col(YEAR)],
                [col("ts_subject"), col("ts_year")],
                left(),
            )
            .left_join(
                cat.tests_by_course.clone().lazy(),
                col(CODE_M),
                col("tc_name"),
            )
            .with_columns([
                coalesce(&[
                    col("x_name"),
                    col("r_name"),
                    col("ra_name"),
                    col("ts_name"),
                    when(col("tc_hit").fill_null(lit(false)))
                        .then(col(CODE_M))
                        .otherwise(null_str()),
                ])
                .alias(TEST),
                when(col("x_name").is_not_null())
                    .then(lit("explicit"))
                    .when(col("r_name").is_not_null().or(col("ra_name").is_not_null()))
                    .then(lit("mapping_table"))
                    .when(col("ts_name").is_not_null())
                    .then(lit("subject_and_year"))
                    .when(col("tc_hit").fill_null(lit(false)))
                    .then(lit("course"))
                    .otherwise(null_str())
                    .alias(ROUTE),
            ])
            .left_join(cat.tests.clone().lazy(), col(TEST), col("tn_name"))
            .join(
                cat.types.clone().lazy(),
                [col(UNIT_CODE), col(TN_STYPE)],
                [col("t_code"), col("t_type")],
                left(),
            )
            .join(
                cat.years.clone().lazy(),
                [col(UNIT_CODE), col(TN_STYPE), col(TN_YEAR)],
                [col("y_code"), col("y_type"), col("y_year")],
                left(),
            )
            .with_columns([self.activity_scope(), activity_problem()])
            .select([
                col(A),
                col(A_ID),
                col(A_PARENT),
                col(A_UNIT_REF),
                col(UNIT_CODE),
                col(UNIT_ID),
                col(CODE),
                col(YEAR),
                col(TEST),
                col(ROUTE),
                col(TN_STYPE),
                col(TN_YEAR),
                col(A_SCOPE),
                col(A_PROBLEM),
            ])
            .sort([A], SortMultipleOptions::default())
            .collect()?;
        Ok(resolved)
    }

    /// The activity with its first position, unit, local code (after the
    /// subject map), the syllabus's year and the test its
    /// `parentActivity` names, if any.
    fn activity_base(&self, src: &SourceFrames, units: &DataFrame) -> LazyFrame {
        let cat = &self.t.catalogue;
        // A parentActivity that is another activity of the source is the
        // vendor's own structure, not a claim to be a national test.
        let source_activity_ids = src
            .activities
            .clone()
            .lazy()
            .select([col(A_ID).alias(PA_ID)])
            .unique_generic(None, UniqueKeepStrategy::Any)
            .with_column(lit(true).alias(PA_IS_ACTIVITY));
        src.activities
            .clone()
            .lazy()
            .left_join(
                src.activities
                    .clone()
                    .lazy()
                    .group_by([col(A_ID)])
                    .agg([col(A).min().alias(A_FIRST)]),
                col(A_ID),
                col(A_ID),
            )
            .left_join(units.clone().lazy(), col(A_UNIT_REF), col(UNIT_REF))
            .left_join(
                src.syllabuses.clone().lazy(),
                col("a_syllabus_ref"),
                col("s_ref"),
            )
            .with_column(
                coalesce(&[col("s_course"), col("s_subject"), col("a_inline_code")]).alias(CODE),
            )
            .left_join(cat.subject_map.clone().lazy(), col(CODE), col("sm_local"))
            .with_columns([
                col("sm_target").fill_null(col(CODE)).alias(CODE_M),
                when(col("s_start").eq(col("s_end")))
                    .then(col("s_start"))
                    .otherwise(null_i32())
                    .alias(YEAR_SYL),
            ])
            .left_join(cat.tests_by_ref.clone().lazy(), col(A_PARENT), col("x_key"))
            .left_join(source_activity_ids, col(A_PARENT), col(PA_ID))
    }

    /// `a_scope`: why an activity is out of scope, or null.
    fn activity_scope(&self) -> Expr {
        let explicit_given = col(A_PARENT)
            .is_not_null()
            .and(col(PA_IS_ACTIVITY).is_null());
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
            .when(col(TEST).is_null().and(explicit_given.clone().not()))
            .then(lit(scope::NO_TEST))
            .when(
                col(TEST)
                    .is_not_null()
                    .and(self.types_in_scope(TN_STYPE).not()),
            )
            .then(lit(scope::SCHOOL_TYPE_OUT_OF_SCOPE))
            .when(
                col(TN_YEAR)
                    .is_not_null()
                    .and(self.year_in_scope(TN_YEAR).not()),
            )
            .then(lit(scope::SCHOOL_YEAR_OUT_OF_SCOPE))
            .otherwise(null_str())
            .alias(A_SCOPE)
    }
}

/// The school year of activities whose syllabus spans several years and
/// whose `parentActivity` names no test: the most common year among the
/// members of its groups (ties: the higher year, where tests usually sit).
fn deduced_years(
    src: &SourceFrames,
    base: &LazyFrame,
    enrolments: &DataFrame,
    groups_first: LazyFrame,
) -> LazyFrame {
    let need_year = base
        .clone()
        .filter(col(YEAR_SYL).is_null().and(col("x_name").is_null()))
        .select([col(A)]);
    let years = src
        .activity_groups
        .clone()
        .lazy()
        .inner_join(need_year, col("ag_a"), col(A))
        .inner_join(
            groups_first.select([col(G_ID), col(G_FIRST)]),
            col("ag_group_ref"),
            col(G_ID),
        )
        .inner_join(src.members.clone().lazy(), col(G_FIRST), col("m_g"))
        .inner_join(
            enrolments
                .clone()
                .lazy()
                .filter(col(E_YEAR).is_not_null())
                .select([col(E_P), col(E_YEAR)]),
            col("m_p"),
            col(E_P),
        );
    most_common(years, "ag_a", E_YEAR, true, YEAR_DED)
}

/// `a_problem`: the first thing wrong with an activity in scope.
fn activity_problem() -> Expr {
    when(col(A).neq(col(A_FIRST)))
        .then(lit(code::DUPLICATE_ID))
        .when(col(TEST).is_null())
        .then(lit(code::PARENT_UNKNOWN))
        .when(col(UNIT_KNOWN).is_null())
        .then(lit(code::UNIT_REF_MISSING))
        .when(col(UNIT_PROBLEM).is_not_null())
        .then(col(UNIT_PROBLEM))
        .when(col("t_dnp").is_null())
        .then(lit(code::TYPE_NOT_OFFERED))
        .when(col("t_dnp").not())
        .then(lit(code::TYPE_NOT_IN_DNP))
        .when(col(TN_YEAR).is_not_null().and(col("y_dnp").is_null()))
        .then(lit(code::YEAR_NOT_OFFERED))
        .when(col(TN_YEAR).is_not_null().and(col("y_dnp").not()))
        .then(lit(code::YEAR_NOT_IN_DNP))
        .otherwise(null_str())
        .alias(A_PROBLEM)
}
