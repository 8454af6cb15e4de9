//! Stage 2b and 4, duties: which duties are in scope, then which of those
//! can be sent.
//!
//! A duty is sent when its person is kept as staff (a person who is also a
//! pupil keeps the pupil role, and the provtjänst refuses a Person with
//! both), its role maps to a `Code_DutyRole` and open-data knows its unit.
//! The stage also builds the duty status table that activities resolve
//! their teacher references against.

use std::collections::HashSet;

use polars::prelude::*;
use skolsync_model::plan::Desired;
use skolsync_model::provtjanst::{self as pt, ObjectReference};
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::EntityKind;
use skolsync_model::{DutyRole, ObjectType};
use uuid::Uuid;

use super::common::{Cols, null_str};
use super::persons::{P_ROLE, P_STATUS, PERSON_ID};
use super::units::{UNIT_CODE, UNIT_ID, UNIT_KNOWN, UNIT_PROBLEM, UNIT_REF};
use crate::reasons::{Details, code, reason, scope};
use crate::transformer::Run;

/// Position of the duty in the snapshot.
const D: &str = "d";
/// The duty's id in the source.
const D_ID: &str = "d_id";
/// The duty's person reference.
pub(crate) const D_PERSON_REF: &str = "d_person_ref";
/// The duty's unit reference.
const D_UNIT_REF: &str = "d_unit_ref";
/// The duty role as the source writes it.
const D_ROLE_SRC: &str = "d_role_src";
/// Why the duty is out of scope, or null.
pub(crate) const D_SCOPE: &str = "d_scope";
/// The first position of the duty's id (others are duplicates).
const D_FIRST: &str = "d_first";
/// Role table: the source's text.
const RM_SRC: &str = "rm_src";
/// Role table: the `Code_DutyRole` it maps to, or null.
const RM_ROLE: &str = "rm_role";
/// Problems, one column per kind so all of them are reported.
const D_PROBLEM_ID: &str = "d_problem_id";
const D_PROBLEM_PERSON: &str = "d_problem_person";
const D_PROBLEM_ROLE: &str = "d_problem_role";
const D_PROBLEM_UNIT: &str = "d_problem_unit";
/// Duty status table (for teacher references): the duty's source id.
pub(crate) const DS_ID: &str = "ds_id";
/// Duty status table: kept, rejected or out.
pub(crate) const DS_STATUS: &str = "ds_status";
/// Duty status table: why not kept.
pub(crate) const DS_WHY: &str = "ds_why";

impl Run<'_, '_> {
    /// The source's duties with their unit and `d_scope`: why a duty is
    /// out of scope (ended, unit out of scope), or null.
    pub(crate) fn duty_scope(
        &self,
        duties: &DataFrame,
        units: &DataFrame,
    ) -> PolarsResult<DataFrame> {
        duties
            .clone()
            .lazy()
            .left_join(units.clone().lazy(), col(D_UNIT_REF), col(UNIT_REF))
            .with_column(
                when(col("d_active").not())
                    .then(lit(scope::ENDED))
                    .when(self.unit_in_scope().not())
                    .then(lit(scope::UNIT_OUT_OF_SCOPE))
                    .otherwise(null_str())
                    .alias(D_SCOPE),
            )
            .collect()
    }

    /// Every duty with its first position, mapped role, person status and
    /// one problem column per kind (so an administrator sees all of them
    /// at once).
    fn checked_duties(&self, duties: &DataFrame, ps: &DataFrame) -> PolarsResult<DataFrame> {
        // The role table: each distinct source text once.
        let distinct: Vec<&str> = {
            let mut seen = HashSet::new();
            Cols(duties)
                .s(D_ROLE_SRC)?
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
            Column::new(RM_SRC.into(), distinct),
            Column::new(RM_ROLE.into(), mapped),
        ])?;

        duties
            .clone()
            .lazy()
            .left_join(
                duties
                    .clone()
                    .lazy()
                    .group_by([col(D_ID)])
                    .agg([col(D).min().alias(D_FIRST)]),
                col(D_ID),
                col(D_ID),
            )
            .left_join(role_table.lazy(), col(D_ROLE_SRC), col(RM_SRC))
            .left_join(ps.clone().lazy(), col(D_PERSON_REF), col(PERSON_ID))
            // Each kind of problem in its own column, so an administrator
            // sees all of them at once.
            .with_columns([
                when(col(D).neq(col(D_FIRST)))
                    .then(lit(code::DUPLICATE_ID))
                    .otherwise(null_str())
                    .alias(D_PROBLEM_ID),
                when(col(D_PERSON_REF).is_null())
                    .then(lit(code::PERSON_NONE))
                    .when(col(P_STATUS).is_null())
                    .then(lit(code::PERSON_UNKNOWN))
                    .when(col(P_STATUS).eq(lit("rejected")))
                    .then(lit(code::PERSON_REJECTED))
                    .when(col(P_ROLE).eq(lit("student")).fill_null(lit(false)))
                    .then(lit(code::PERSON_IS_STUDENT))
                    .otherwise(null_str())
                    .alias(D_PROBLEM_PERSON),
                when(col(RM_ROLE).is_null())
                    .then(lit(code::ROLE_UNKNOWN))
                    .otherwise(null_str())
                    .alias(D_PROBLEM_ROLE),
                when(col(UNIT_KNOWN).is_null())
                    .then(lit(code::UNIT_REF_MISSING))
                    .otherwise(col(UNIT_PROBLEM))
                    .alias(D_PROBLEM_UNIT),
            ])
            .sort([D], SortMultipleOptions::default())
            .collect()
    }

    /// Duties of persons kept as staff, with a role and a unit open-data
    /// knows. Returns the kept duties and a status table for teacher
    /// references.
    pub(crate) fn duties(
        &mut self,
        duties: &DataFrame,
        ps: &DataFrame,
    ) -> PolarsResult<(Vec<KeptDuty>, DataFrame)> {
        let checked = self.checked_duties(duties, ps)?;
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
            c.u(D)?,
            c.u(D_FIRST)?,
            c.s(D_ID)?,
            c.s(D_PERSON_REF)?,
            c.s(D_UNIT_REF)?,
            c.s(UNIT_CODE)?,
            c.s(UNIT_ID)?,
            c.s(D_ROLE_SRC)?,
            c.s(RM_ROLE)?,
            c.s(D_SCOPE)?,
            [
                c.s(D_PROBLEM_ID)?,
                c.s(D_PROBLEM_PERSON)?,
                c.s(D_PROBLEM_ROLE)?,
                c.s(D_PROBLEM_UNIT)?,
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
            Column::new(DS_ID.into(), st_id),
            Column::new(DS_STATUS.into(), st_status),
            Column::new(DS_WHY.into(), st_why),
        ])?;
        Ok((kept, status))
    }
}

/// A kept duty and what teacher references need of it.
pub(crate) struct KeptDuty {
    pub(crate) person_ref: String,
    pub(crate) unit_code: String,
    pub(crate) role: DutyRole,
    pub(crate) desired: Desired<pt::Duty>,
}
