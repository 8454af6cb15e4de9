//! What the stages share: null literals and comparisons for expressions,
//! typed access to a collected frame's columns, a stopwatch for timing
//! logs, and the `Run` methods every stage uses to test scope and record
//! rejects and out-of-scope counts.
//!
//! They live here so that each stage file holds only its own step.

use polars::prelude::*;
use skolsync_model::reject::{Reject, Severity, Stage};
use skolsync_model::ss12000::EntityKind;

use super::units::UNIT_IN_SCOPE;
use crate::transformer::{Run, TypeCounts};

// ---------------------------------------------------------------------------
// Expressions shared by the stages.

pub(crate) fn null_str() -> Expr {
    lit(NULL).cast(DataType::String)
}

pub(crate) fn null_i32() -> Expr {
    lit(NULL).cast(DataType::Int32)
}

/// `column` equals one of `values` (false for null).
pub(crate) fn any_eq(column: &str, values: &[&str]) -> Expr {
    values
        .iter()
        .fold(lit(false), |acc, v| acc.or(col(column).eq(lit(*v))))
        .fill_null(lit(false))
}

pub(crate) fn any_eq_i32(column: &str, values: &[i32]) -> Expr {
    values
        .iter()
        .fold(lit(false), |acc, v| acc.or(col(column).eq(lit(*v))))
        .fill_null(lit(false))
}

pub(crate) fn left() -> JoinArgs {
    JoinArgs::new(JoinType::Left)
}

/// Per `key`, the most frequent `value` of `frame`, as `alias`: a group's
/// school type deduced from its members' enrolments, an activity's school
/// year from its groups' members. Ties go to the greater value when
/// `ties_to_greater`, else to the lesser, so the result never depends on
/// row order.
pub(crate) fn most_common(
    frame: LazyFrame,
    key: &str,
    value: &str,
    ties_to_greater: bool,
    alias: &str,
) -> LazyFrame {
    const COUNT: &str = "n";
    frame
        .group_by([col(key), col(value)])
        .agg([len().alias(COUNT)])
        .group_by([col(key)])
        .agg([col(value)
            .sort_by(
                [col(COUNT), col(value)],
                SortMultipleOptions::default().with_order_descending_multi([true, ties_to_greater]),
            )
            .first()
            .alias(alias)])
}

/// Typed access to the columns of a collected frame.
pub(crate) struct Cols<'a>(pub(crate) &'a DataFrame);

impl<'a> Cols<'a> {
    pub(crate) fn s(&self, name: &str) -> PolarsResult<Vec<Option<&'a str>>> {
        Ok(self.0.column(name)?.str()?.iter().collect())
    }
    pub(crate) fn u(&self, name: &str) -> PolarsResult<Vec<Option<u32>>> {
        Ok(self.0.column(name)?.u32()?.iter().collect())
    }
    pub(crate) fn i(&self, name: &str) -> PolarsResult<Vec<Option<i32>>> {
        Ok(self.0.column(name)?.i32()?.iter().collect())
    }
}

pub(crate) fn usize_of(v: Option<u32>) -> usize {
    v.map_or(usize::MAX, |v| v as usize)
}

/// Logs how long each stage took (debug level, target
/// `skolsync_transform::timing`), for finding what dominates on big sources.
pub(crate) struct Stopwatch(std::time::Instant);

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub(crate) fn lap(&mut self, stage: &str) {
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

impl Run<'_, '_> {
    pub(crate) fn scope_all(&self) -> bool {
        self.t.config.school_units.is_empty()
    }

    /// `unit_in_scope` after a join with the units frame (unknown references
    /// are in scope only when no unit scope is configured).
    pub(crate) fn unit_in_scope(&self) -> Expr {
        col(UNIT_IN_SCOPE).fill_null(lit(self.scope_all()))
    }

    pub(crate) fn types_in_scope(&self, column: &str) -> Expr {
        any_eq(column, &self.t.school_types)
    }

    /// A school year passes the configured years (or none are configured).
    pub(crate) fn year_in_scope(&self, column: &str) -> Expr {
        if self.t.school_years.is_empty() {
            lit(true)
        } else {
            any_eq_i32(column, &self.t.school_years)
        }
    }

    pub(crate) fn out_of_scope(counts: &mut TypeCounts, why: &str) {
        counts.out_of_scope += 1;
        *counts
            .out_of_scope_reasons
            .entry(why.to_string())
            .or_insert(0) += 1;
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
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
}
