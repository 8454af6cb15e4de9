//! Stage 2a, enrolments: each active enrolment joined with its unit, the
//! unit's school types and years in open-data, and its programme.
//!
//! Enrolments outside the scope (school type, unit, year) are dropped here;
//! those in scope carry what is wrong with them (`e_problem`), which the
//! persons stage reports and the nesting stage uses to leave them out.

use polars::prelude::*;
use skolsync_model::SchoolType;

use super::common::{left, null_str};
use super::units::{UNIT_CODE, UNIT_KNOWN, UNIT_PROBLEM, UNIT_REF};
use crate::reasons::code;
use crate::transformer::Run;

/// Position of the enrolment's person in the snapshot.
pub(crate) const E_P: &str = "e_p";
/// Position of the enrolment within its person.
pub(crate) const E_N: &str = "e_n";
/// The enrolment's unit reference.
pub(crate) const E_UNIT_REF: &str = "e_unit_ref";
/// The enrolment's profile school type.
pub(crate) const E_TYPE: &str = "e_type";
/// The enrolment's school type as the source wrote it.
pub(crate) const E_TYPE_SRC: &str = "e_type_src";
/// Why the source's school type cannot be placed (unknown value, adult
/// education without a level), or null.
const E_TYPE_PROBLEM: &str = "e_type_problem";
/// The enrolment's school year.
pub(crate) const E_YEAR: &str = "e_year";
/// The education code: the enrolment's own, else its programme's.
pub(crate) const E_EDU: &str = "e_edu";
/// Whether the enrolment is in scope (only those are kept).
const E_SCOPE: &str = "e_scope";
/// What is wrong with the enrolment (a reason code), or null.
pub(crate) const E_PROBLEM: &str = "e_problem";
/// The programme's first valid date (for reports).
pub(crate) const PR_VALID_FROM: &str = "pr_valid_from";

impl Run<'_, '_> {
    /// Enrolments in scope, sorted by person, and those of them with a
    /// problem (few rows, every detail). Takes the source's enrolment frame
    /// so big sources free it as early as possible.
    pub(crate) fn enrolments(
        &self,
        source: DataFrame,
        programmes: &DataFrame,
        units: &DataFrame,
    ) -> PolarsResult<(DataFrame, DataFrame)> {
        let cat = &self.t.catalogue;
        // An enrolment whose school type cannot be placed is in scope (and
        // rejected) unless the unit or year puts it out: an unknown value
        // always, adult education of unknown level when VUXGY is wanted.
        let vuxgy_wanted = self.t.school_types.contains(&SchoolType::Vuxgy.as_str());
        let unplaced_in_scope = col(E_TYPE_PROBLEM)
            .eq(lit(code::TYPE_UNKNOWN))
            .or(col(E_TYPE_PROBLEM)
                .eq(lit(code::TYPE_LEVEL_UNKNOWN))
                .and(lit(vuxgy_wanted)))
            .fill_null(lit(false));
        let enrolments = source
            .lazy()
            .left_join(units.clone().lazy(), col(E_UNIT_REF), col(UNIT_REF))
            .left_join(
                programmes.clone().lazy(),
                col("e_prog_ref"),
                col("prog_ref"),
            )
            .with_column(col("e_edu_own").fill_null(col("prog_code")).alias(E_EDU))
            .join(
                cat.types.clone().lazy(),
                [col(UNIT_CODE), col(E_TYPE)],
                [col("t_code"), col("t_type")],
                left(),
            )
            .join(
                cat.years.clone().lazy(),
                [col(UNIT_CODE), col(E_TYPE), col(E_YEAR)],
                [col("y_code"), col("y_type"), col("y_year")],
                left(),
            )
            .left_join(cat.programmes.clone().lazy(), col(E_EDU), col("pr_code"))
            .with_columns([
                col(E_TYPE)
                    .is_not_null()
                    .and(self.types_in_scope(E_TYPE))
                    .or(unplaced_in_scope)
                    .and(self.unit_in_scope())
                    .and(
                        col("e_needs_year")
                            .not()
                            .or(col(E_YEAR).is_null())
                            .or(self.year_in_scope(E_YEAR)),
                    )
                    .fill_null(lit(false))
                    .alias(E_SCOPE),
                enrolment_problem(),
            ])
            .filter(col(E_SCOPE))
            .select([
                col(E_P),
                col(E_N),
                col(E_UNIT_REF),
                col(UNIT_CODE),
                col(E_TYPE),
                col(E_TYPE_SRC),
                col(E_YEAR),
                col(E_EDU),
                col(PR_VALID_FROM),
                col(E_PROBLEM),
            ])
            .sort([E_P, E_N], SortMultipleOptions::default())
            .collect()?;
        // What is wrong (few rows, every detail), and what the later stages
        // need of all rows (few columns).
        let problems = enrolments
            .clone()
            .lazy()
            .filter(col(E_PROBLEM).is_not_null())
            .collect()?;
        let enrolments = enrolments
            .lazy()
            .select([
                col(E_P),
                col(E_N),
                col(UNIT_CODE),
                col(E_TYPE),
                col(E_YEAR),
                col(E_EDU),
                col(E_PROBLEM),
            ])
            .collect()?;
        Ok((enrolments, problems))
    }
}

/// `e_problem`: the first thing wrong with an enrolment, in the order a
/// reader would fix them (unit, school type, year, education code).
/// The education code is required for GY only: "Värde måste anges för
/// utbildningsformen `GY`" (Provisioning API, `Enrolment.educationCode`),
/// so a VUXGY enrolment goes without one.
fn enrolment_problem() -> Expr {
    let needs_year = col("e_needs_year");
    let gy = col(E_TYPE).eq(lit("GY")).fill_null(lit(false));
    when(col(UNIT_KNOWN).is_null())
        .then(lit(code::UNIT_REF_MISSING))
        .when(col(UNIT_PROBLEM).is_not_null())
        .then(col(UNIT_PROBLEM))
        .when(col(E_TYPE_PROBLEM).is_not_null())
        .then(col(E_TYPE_PROBLEM))
        .when(col("t_dnp").is_null())
        .then(lit(code::TYPE_NOT_OFFERED))
        .when(col("t_dnp").not())
        .then(lit(code::TYPE_NOT_IN_DNP))
        .when(
            needs_year.clone().and(
                col(E_YEAR)
                    .is_null()
                    .or(col(E_YEAR).lt(lit(1i32)))
                    .or(col(E_YEAR).gt(lit(10i32))),
            ),
        )
        .then(lit(code::YEAR_INVALID))
        .when(needs_year.clone().and(col("y_dnp").is_null()))
        .then(lit(code::YEAR_NOT_OFFERED))
        .when(needs_year.and(col("y_dnp").not()))
        .then(lit(code::YEAR_NOT_IN_DNP))
        .when(gy.clone().and(col(E_EDU).is_null()))
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
        .alias(E_PROBLEM)
}
