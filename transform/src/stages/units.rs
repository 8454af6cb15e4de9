//! Stage 1, school units: the source's organisations checked against
//! open-data (unknown, Expired, dnpStatus false) and the configured scope.
//!
//! Every later stage joins its unit references against this frame, so a
//! unit's problem is worked out once and reported on each record that
//! points to it.

use polars::prelude::*;

use super::common::null_str;
use crate::frames::SourceFrames;
use crate::reasons::code;
use crate::transformer::Run;

/// The source's reference to the unit (organisation id).
pub(crate) const UNIT_REF: &str = "unit_ref";
/// The unit's school unit code.
pub(crate) const UNIT_CODE: &str = "unit_code";
/// Skolverket's id of the unit (from open-data; null if unknown).
pub(crate) const UNIT_ID: &str = "unit_id";
/// Set when open-data knows the unit (null after a join: no such unit).
pub(crate) const UNIT_KNOWN: &str = "unit_known";
/// Whether the unit is in the configured scope.
pub(crate) const UNIT_IN_SCOPE: &str = "unit_in_scope";
/// What is wrong with the unit (a reason code), or null.
pub(crate) const UNIT_PROBLEM: &str = "unit_problem";

impl Run<'_, '_> {
    /// The units frame: `unit_ref`, `unit_code`, `unit_id`, `unit_known`,
    /// `unit_in_scope`, `unit_problem`.
    pub(crate) fn units(&self, src: &SourceFrames) -> PolarsResult<DataFrame> {
        let cat = &self.t.catalogue;
        src.units
            .clone()
            .lazy()
            .left_join(cat.units.clone().lazy(), col(UNIT_CODE), col("od_code"))
            .left_join(
                cat.scope_units.clone().lazy(),
                col(UNIT_CODE),
                col("scope_code"),
            )
            .with_columns([
                lit(self.scope_all())
                    .or(col("scoped").fill_null(lit(false)))
                    .alias(UNIT_IN_SCOPE),
                when(col(UNIT_CODE).is_null())
                    .then(lit(code::UNIT_NO_CODE))
                    .when(col(UNIT_ID).is_null())
                    .then(lit(code::UNIT_UNKNOWN))
                    .when(col("unit_status").eq(lit("Expired")).fill_null(lit(false)))
                    .then(lit(code::UNIT_EXPIRED))
                    .when(col("unit_dnp").not().fill_null(lit(false)))
                    .then(lit(code::UNIT_NOT_IN_DNP))
                    .otherwise(null_str())
                    .alias(UNIT_PROBLEM),
            ])
            .select([
                col(UNIT_REF),
                col(UNIT_CODE),
                col(UNIT_ID),
                col(UNIT_KNOWN),
                col(UNIT_IN_SCOPE),
                col(UNIT_PROBLEM),
            ])
            .collect()
    }
}
