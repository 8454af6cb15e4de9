//! Stage 6, groups: every group's scope and its own problems, decided
//! before the activities are.
//!
//! Classes are in scope when they have pupils; teaching groups only when an
//! activity in scope tests them (the test activity stage ran first). A
//! group without a school type takes its members' most common one. Whether
//! a kept teaching group is finally sent depends on its activities: see
//! `memberships`.

use polars::prelude::*;
use skolsync_model::GroupType;
use skolsync_model::reject::{Reject, Stage};
use skolsync_model::ss12000::EntityKind;

use super::common::{left, most_common, null_str};
use super::enrolments::{E_P, E_PROBLEM, E_TYPE};
use super::persons::{P_ROLE, PS_P};
use super::test_activities::{A, A_SCOPE};
use super::units::{UNIT_CODE, UNIT_ID, UNIT_KNOWN, UNIT_PROBLEM, UNIT_REF};
use crate::frames::SourceFrames;
use crate::reasons::{code, scope};
use crate::transformer::Run;

/// Position of the group in the snapshot.
pub(crate) const G: &str = "g";
/// The group's id in the source.
pub(crate) const G_ID: &str = "g_id";
/// The first position of the group's id (others are duplicates).
pub(crate) const G_FIRST: &str = "g_first";

/// The group's type (Klass, Undervisning, …).
pub(crate) const G_TYPE: &str = "g_type";
/// The group's unit reference.
pub(crate) const G_UNIT_REF: &str = "g_unit_ref";
/// The school type its members most often have (for groups without one).
const DED_TYPE: &str = "ded_type";
/// Members per school type.
/// The school type: the group's own, else the deduced one.
pub(crate) const STYPE: &str = "stype";
/// Set when an activity in scope tests the group.
const G_REFERENCED: &str = "g_referenced";
/// Members that are persons of the source.
const G_N_KNOWN: &str = "g_n_known";
/// Members that are pupils in scope (kept or rejected).
const G_N_STUDENTS: &str = "g_n_students";
/// Members that are not in the source.
const G_N_MISSING: &str = "g_n_missing";
/// All members.
const G_N_MEMBERS: &str = "g_n_members";
/// Members that make a class relevant: pupils and unknown persons.
const G_N_RELEVANT: &str = "g_n_relevant";
/// Why the group is out of scope, or null.
pub(crate) const G_SCOPE: &str = "g_scope";
/// What is wrong with the group (a reason code), or null.
pub(crate) const G_PROBLEM: &str = "g_problem";

impl Run<'_, '_> {
    /// Step 6: every group's scope and own problems (before activities).
    pub(crate) fn groups(
        &mut self,
        src: &SourceFrames,
        units: &DataFrame,
        ps: &DataFrame,
        enrolments: &DataFrame,
        acts: &DataFrame,
        groups_first: LazyFrame,
    ) -> PolarsResult<DataFrame> {
        self.warn_ignored_school_types();
        let cat = &self.t.catalogue;
        let base = src
            .groups
            .clone()
            .lazy()
            .left_join(groups_first, col(G_ID), col(G_ID))
            .left_join(units.clone().lazy(), col(G_UNIT_REF), col(UNIT_REF));

        let deduced = deduced_types(src, &base, enrolments);
        let referenced = referenced_groups(src, acts);
        let (member_stats, missing_stats) = member_stats(src, ps);
        base.left_join(deduced, col(G), col("m_g"))
            .with_column(col("g_stype").fill_null(col(DED_TYPE)).alias(STYPE))
            .left_join(referenced, col(G_ID), col("ag_group_ref"))
            .left_join(member_stats, col(G), col("m_g"))
            .left_join(missing_stats, col(G), col("mm_g"))
            .with_columns([
                (col(G_N_KNOWN).fill_null(lit(0u32)) + col(G_N_MISSING).fill_null(lit(0u32)))
                    .alias(G_N_MEMBERS),
                (col(G_N_STUDENTS).fill_null(lit(0u32)) + col(G_N_MISSING).fill_null(lit(0u32)))
                    .alias(G_N_RELEVANT),
            ])
            .join(
                cat.types.clone().lazy(),
                [col(UNIT_CODE), col(STYPE)],
                [col("t_code"), col("t_type")],
                left(),
            )
            .with_columns([self.group_scope(), group_problem()])
            .select([
                col(G),
                col(G_FIRST),
                col(G_ID),
                col(G_TYPE),
                col(STYPE),
                col(G_UNIT_REF),
                col(UNIT_CODE),
                col(UNIT_ID),
                col(G_SCOPE),
                col(G_PROBLEM),
            ])
            .sort([G], SortMultipleOptions::default())
            .collect()
    }

    /// `g_scope`: why a group is out of scope, or null. Teaching groups are
    /// in scope when an in-scope activity tests them; classes when they have
    /// pupils (or members not in the source).
    fn group_scope(&self) -> Expr {
        let undervisning = col(G_TYPE).eq(lit(GroupType::Undervisning.as_str()));
        let klass = col(G_TYPE).eq(lit(GroupType::Klass.as_str()));
        when(col("g_active").not())
            .then(lit(scope::ENDED))
            .when(klass.clone().or(undervisning.clone()).not())
            .then(lit(scope::GROUP_TYPE))
            .when(undervisning.and(col(G_REFERENCED).is_null()))
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
                col(STYPE)
                    .is_not_null()
                    .and(self.types_in_scope(STYPE).not()),
            )
            .then(lit(scope::SCHOOL_TYPE_OUT_OF_SCOPE))
            .when(
                klass
                    .and(col(G_N_MEMBERS).fill_null(lit(0u32)).gt(lit(0u32)))
                    .and(col(G_N_RELEVANT).fill_null(lit(0u32)).eq(lit(0u32))),
            )
            .then(lit(scope::NO_PUPILS))
            .otherwise(null_str())
            .alias(G_SCOPE)
    }
}

/// The first position of each group id (`g_id`, `g_first`): later records
/// with the same id are duplicates.
impl Run<'_, '_> {
    /// A class or teaching group whose school type names no known type, or
    /// adult education without a level (`KOMVUX`, `VUX`), is read as if it
    /// had none ([`crate::frames`]: its type comes from its members'
    /// enrolments); a warning says so, so the source can be fixed.
    fn warn_ignored_school_types(&mut self) {
        let sent = [GroupType::Klass, GroupType::Undervisning];
        for group in &self.s.groups {
            let Some(stype) = group.school_type.as_ref() else {
                continue;
            };
            if !sent.contains(&group.group_type) || crate::frames::type_problem(stype).is_none() {
                continue;
            }
            self.rejects.push(
                Reject::new(
                    Stage::Transform,
                    EntityKind::Group,
                    format!(
                        "the group's school type `{}` is not one the provtjänst can use; it is ignored and the type is taken from the members' enrolments",
                        stype.as_str()
                    ),
                )
                .warning()
                .id(group.id.as_str())
                .subject(group.display_name.as_str())
                .field("schoolType", Some(stype.as_str().to_string())),
            );
        }
    }
}

pub(crate) fn groups_first(src: &SourceFrames) -> LazyFrame {
    src.groups
        .clone()
        .lazy()
        .group_by([col(G_ID)])
        .agg([col(G).min().alias(G_FIRST)])
}

/// A group without a school type takes its members' most common one
/// (`m_g`, `ded_type`).
fn deduced_types(src: &SourceFrames, base: &LazyFrame, enrolments: &DataFrame) -> LazyFrame {
    let typed = src
        .members
        .clone()
        .lazy()
        .inner_join(
            base.clone()
                .filter(col("g_stype_src").is_null())
                .select([col(G)]),
            col("m_g"),
            col(G),
        )
        .inner_join(
            enrolments
                .clone()
                .lazy()
                .filter(col(E_PROBLEM).is_null())
                .select([col(E_P), col(E_TYPE)]),
            col("m_p"),
            col(E_P),
        );
    most_common(typed, "m_g", E_TYPE, false, DED_TYPE)
}

/// Teaching groups tested by an activity in scope (`ag_group_ref`,
/// `g_referenced`).
fn referenced_groups(src: &SourceFrames, acts: &DataFrame) -> LazyFrame {
    src.activity_groups
        .clone()
        .lazy()
        .inner_join(
            acts.clone()
                .lazy()
                .filter(col(A_SCOPE).is_null())
                .select([col(A)]),
            col("ag_a"),
            col(A),
        )
        .select([col("ag_group_ref")])
        .unique_generic(None, UniqueKeepStrategy::Any)
        .with_column(lit(true).alias(G_REFERENCED))
}

/// Members per group: how many, and how many are pupils in scope (kept or
/// rejected); and how many members are not in the source (which are
/// reported).
fn member_stats(src: &SourceFrames, ps: &DataFrame) -> (LazyFrame, LazyFrame) {
    let member_stats = src
        .members
        .clone()
        .lazy()
        .left_join(
            ps.clone().lazy().select([col(PS_P), col(P_ROLE)]),
            col("m_p"),
            col(PS_P),
        )
        .group_by([col("m_g")])
        .agg([
            len().alias(G_N_KNOWN),
            col(P_ROLE)
                .eq(lit("student"))
                .fill_null(lit(false))
                .sum()
                .cast(DataType::UInt32)
                .alias(G_N_STUDENTS),
        ]);
    let missing_stats = src
        .members_missing
        .clone()
        .lazy()
        .group_by([col("mm_g")])
        .agg([len().alias(G_N_MISSING)]);
    (member_stats, missing_stats)
}

/// `g_problem`: the first thing wrong with a group.
fn group_problem() -> Expr {
    when(col(G).neq(col(G_FIRST)))
        .then(lit(code::DUPLICATE_ID))
        .when(col(UNIT_KNOWN).is_null())
        .then(lit(code::UNIT_REF_MISSING))
        .when(col(UNIT_PROBLEM).is_not_null())
        .then(col(UNIT_PROBLEM))
        .when(col("g_named").not())
        .then(lit(code::NAME_MISSING))
        .when(col(STYPE).is_null())
        .then(lit(code::SCHOOL_TYPE_MISSING))
        .when(col("t_dnp").is_null())
        .then(lit(code::TYPE_NOT_OFFERED))
        .when(col("t_dnp").not())
        .then(lit(code::TYPE_NOT_IN_DNP))
        .otherwise(null_str())
        .alias(G_PROBLEM)
}
