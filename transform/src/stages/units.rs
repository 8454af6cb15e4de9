//! Stage 1, school units: the source's organisations checked against
//! open-data (unknown, Expired, dnpStatus false) and the configured scope.
//!
//! Every later stage joins its unit references against this frame, so a
//! unit's problem is worked out once and reported on each record that
//! points to it.

use std::collections::BTreeSet;

use polars::prelude::*;
use skolsync_model::open_data::EntryKind;
use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::EntityKind;

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
    ///
    /// Open-data entries that could not be read are listed as warnings
    /// here, once per run, and a unit whose entry is one of them gets
    /// `unit_unreadable` rather than "not known to Skolverket".
    pub(crate) fn units(&mut self, src: &SourceFrames) -> PolarsResult<DataFrame> {
        self.warn_unreadable_open_data();
        let unreadable: BTreeSet<&str> = self
            .t
            .open_data
            .unreadable
            .iter()
            .filter(|e| e.kind == EntryKind::SchoolUnit)
            .filter_map(|e| e.key.as_deref())
            .collect();
        let flags = vec![true; unreadable.len()];
        let unreadable = DataFrame::new_infer_height(vec![
            Column::new("ur_code".into(), unreadable.into_iter().collect::<Vec<_>>()),
            Column::new("ur_flag".into(), flags),
        ])?;
        let cat = &self.t.catalogue;
        src.units
            .clone()
            .lazy()
            .left_join(cat.units.clone().lazy(), col(UNIT_CODE), col("od_code"))
            .left_join(unreadable.lazy(), col(UNIT_CODE), col("ur_code"))
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
                    .when(col("ur_flag").fill_null(lit(false)))
                    .then(lit(code::UNIT_UNREADABLE))
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

    /// One warning per open-data entry that could not be read.
    fn warn_unreadable_open_data(&mut self) {
        for entry in &self.t.open_data.unreadable {
            let (entity, what) = match entry.kind {
                EntryKind::Organisation => (EntityKind::Organisation, "organiser"),
                EntryKind::SchoolUnit => (EntityKind::Organisation, "school unit"),
                EntryKind::Programme => (EntityKind::Programme, "programme"),
                // Not an SS 12000 entity; a test activity is closest to
                // the syllabus whose test it is.
                EntryKind::TestActivity => (EntityKind::Syllabus, "test activity"),
            };
            let key = entry.key.as_deref().unwrap_or("?");
            let mut warning = Reject::new(
                Stage::Transform,
                entity,
                format!(
                    "Skolverket's open-data {what} {key} could not be read ({}); it is left out of the checks and the rest of open-data is used",
                    entry.message
                ),
            )
            .warning()
            .at(format!("open-data {}", entry.location));
            if entry.kind == EntryKind::SchoolUnit
                && let Some(code) = entry.key.as_deref()
            {
                warning = warning.school_unit(code);
            }
            self.rejects.push(warning);
        }
    }
}
