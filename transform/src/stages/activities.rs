//! Stage 7, activities: each activity in scope with the groups and
//! teachers that can be sent with it.
//!
//! The test activity was resolved before (see `test_activities`); here an
//! activity's references are checked against what the groups and duties
//! stages decided. A reference to a group or duty that is not sent is left
//! out with a warning and the activity is still sent, unless none of its
//! groups is left (the provtjänst requires one), when it is rejected.
//! References left out because their record was rejected are noted as
//! [`LeftOutRef`]s, so the engine can put them back when the service still
//! holds that record.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use skolsync_model::plan::{Desired, LeftOutRef};
use skolsync_model::provtjanst::{self as pt, DutyAssignment, ObjectReference};
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::EntityKind;
use skolsync_model::{ActivityType, DutyRole, ObjectType, TestActivityName};
use uuid::Uuid;

use super::common::{Cols, left};
use super::duties::{DS_ID, DS_STATUS, DS_WHY, KeptDuty};
use super::groups::{G, G_FIRST, G_ID, G_PROBLEM, G_SCOPE, G_TYPE};
use super::test_activities::{
    A, A_ID, A_PARENT, A_PROBLEM, A_SCOPE, A_UNIT_REF, CODE, TEST, TN_STYPE, TN_YEAR, YEAR,
};
use super::units::{UNIT_CODE, UNIT_ID};
use crate::frames::SourceFrames;
use crate::reasons::{Details, code, reason};
use crate::transformer::Run;

/// Group status table (before activities decide): the group's source id.
const GS_ID: &str = "gs_id";
/// Group status table: kept, rejected or out.
const GS_STATUS: &str = "gs_status";
/// Group status table: why not kept.
const GS_WHY: &str = "gs_why";
/// Group status table: the group's type.
const GS_TYPE: &str = "gs_type";
/// The unit code of an activity in scope.
const A_UNIT_CODE: &str = "a_unit_code";
/// Kept duties (for teachers given as persons): the person reference.
const KD_PERSON: &str = "kd_person";
/// Kept duties: the unit code.
const KD_UNIT: &str = "kd_unit";
/// Kept duties: the duty's source id.
const KD_ID: &str = "kd_id";
/// Kept duties: 0 for a teacher's duty (preferred), else 1.
const KD_RANK: &str = "kd_rank";

impl Run<'_, '_> {
    /// Step 7: activities with the groups and teachers that can be sent.
    /// Returns the kept activities and the teaching groups they keep.
    pub(crate) fn activities(
        &mut self,
        src: &SourceFrames,
        acts: &DataFrame,
        groups: &DataFrame,
        duty_status: &DataFrame,
        kept_duties: &[KeptDuty],
    ) -> PolarsResult<(Vec<Desired<pt::Activity>>, HashSet<String>)> {
        let mut refs = activity_refs(src, acts, groups, duty_status, kept_duties)?;
        let c = ActivityCols::read(acts)?;
        let mut kept = Vec::new();
        let mut kept_groups: HashSet<String> = HashSet::new();
        for i in 0..c.a.len() {
            let Some(a) = c.a[i] else { continue };
            let id = c.a_id[i].unwrap_or("");
            if let Some(why) = c.scope[i] {
                Self::out_of_scope(&mut self.counts.activities, why);
                continue;
            }
            if let Some(problem) = c.problem[i] {
                self.reject_activity(&c, i, a, id, problem);
                continue;
            }
            if let Some(activity) = self.keep_activity(&c, i, a, id, &mut refs, &mut kept_groups) {
                kept.push(activity);
            }
        }
        Ok((kept, kept_groups))
    }

    /// Rejects an activity with a problem of its own.
    fn reject_activity(&mut self, c: &ActivityCols<'_>, i: usize, a: u32, id: &str, problem: &str) {
        let unit = c.unit_code[i];
        let det = Details {
            unit_ref: c.unit_ref[i],
            unit_code: unit,
            school_type: c.tn_stype[i],
            year: c.tn_year[i],
            parent: c.a_parent[i],
            ..Details::default()
        };
        let (field, value) = match problem {
            code::DUPLICATE_ID => ("id", Some(id.to_string())),
            code::PARENT_UNKNOWN => ("parentActivity", c.a_parent[i].map(str::to_string)),
            code::TYPE_NOT_OFFERED
            | code::TYPE_NOT_IN_DNP
            | code::YEAR_NOT_OFFERED
            | code::YEAR_NOT_IN_DNP => ("parentActivity", c.test[i].map(str::to_string)),
            _ => ("organisation", unit.or(c.unit_ref[i]).map(str::to_string)),
        };
        let mut why = reason(problem, "the activity", &det);
        if problem == code::PARENT_UNKNOWN
            && let Some(local) = c.code[i]
        {
            why.push_str(&format!(
                " (code `{local}`, school year {})",
                c.year[i].map_or("unknown".to_string(), |y| y.to_string())
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
    }

    /// An activity in scope without problems of its own: rejected when
    /// none of its groups can be sent, else its payload (with warnings for
    /// the references left out).
    fn keep_activity(
        &mut self,
        c: &ActivityCols<'_>,
        i: usize,
        a: u32,
        id: &str,
        refs: &mut Refs,
        kept_groups: &mut HashSet<String>,
    ) -> Option<Desired<pt::Activity>> {
        let unit = c.unit_code[i];
        let group_refs = refs.groups_of.remove(&a).unwrap_or_default();
        let good: Vec<&String> = group_refs
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(g, _)| g)
            .collect();
        if good.is_empty() {
            let listed: Vec<String> = group_refs
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
            return None;
        }
        let (Some(unit_id), Some(test_name)) = (
            c.unit_id[i].and_then(|u| Uuid::try_parse(u).ok()),
            c.test[i],
        ) else {
            return None;
        };
        for (gref, p) in &group_refs {
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
        let teachers = self.teachers(refs.teachers_of.remove(&a).unwrap_or_default(), a, id, unit);
        let activity = self.s.activities.get(a as usize);
        let display_name = activity
            .map(|x| x.display_name.trim())
            .filter(|n| !n.is_empty())
            .unwrap_or(test_name)
            .to_string();
        let activity_id = self.t.ids.id(ObjectType::Activity, id);
        for (member_kind, member) in refs.rejected.remove(&a).unwrap_or_default() {
            self.left_out.push(LeftOutRef {
                kind: ObjectType::Activity,
                source_id: id.to_string(),
                member_kind,
                member_source_id: member,
            });
        }
        Some(Desired {
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
        })
    }

    /// The teachers sent with an activity (sorted), with a warning for
    /// each one left out.
    fn teachers(
        &mut self,
        refs: TeacherRefs,
        a: u32,
        id: &str,
        unit: Option<&str>,
    ) -> Vec<DutyAssignment> {
        let mut teachers: Vec<DutyAssignment> = Vec::new();
        for (duty, warning) in refs {
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
        teachers
    }
}

/// The columns of the resolved activities frame this stage reads.
struct ActivityCols<'a> {
    a: Vec<Option<u32>>,
    a_id: Vec<Option<&'a str>>,
    a_parent: Vec<Option<&'a str>>,
    unit_ref: Vec<Option<&'a str>>,
    unit_code: Vec<Option<&'a str>>,
    unit_id: Vec<Option<&'a str>>,
    code: Vec<Option<&'a str>>,
    year: Vec<Option<i32>>,
    test: Vec<Option<&'a str>>,
    scope: Vec<Option<&'a str>>,
    problem: Vec<Option<&'a str>>,
    tn_stype: Vec<Option<&'a str>>,
    tn_year: Vec<Option<i32>>,
}

impl<'a> ActivityCols<'a> {
    fn read(acts: &'a DataFrame) -> PolarsResult<Self> {
        let c = Cols(acts);
        Ok(ActivityCols {
            a: c.u(A)?,
            a_id: c.s(A_ID)?,
            a_parent: c.s(A_PARENT)?,
            unit_ref: c.s(A_UNIT_REF)?,
            unit_code: c.s(UNIT_CODE)?,
            unit_id: c.s(UNIT_ID)?,
            code: c.s(CODE)?,
            year: c.i(YEAR)?,
            test: c.s(TEST)?,
            scope: c.s(A_SCOPE)?,
            problem: c.s(A_PROBLEM)?,
            tn_stype: c.s(TN_STYPE)?,
            tn_year: c.i(TN_YEAR)?,
        })
    }
}

/// An activity's group references: the reference, and why it is left out
/// (message, field) if it is.
type GroupRefs = Vec<(String, Option<(String, &'static str)>)>;

/// An activity's teachers: the duty's source id if it is sent, a warning
/// if not.
type TeacherRefs = Vec<(Option<String>, Option<String>)>;

/// Per activity: references left out because their record was rejected
/// (see [`LeftOutRef`]).
type RejectedRefs = HashMap<u32, Vec<(ObjectType, String)>>;

/// What the activities in scope refer to, per activity position.
struct Refs {
    groups_of: HashMap<u32, GroupRefs>,
    teachers_of: HashMap<u32, TeacherRefs>,
    rejected: RejectedRefs,
}

/// The group and teacher references of the activities in scope, each with
/// the status of what it points to.
fn activity_refs(
    src: &SourceFrames,
    acts: &DataFrame,
    groups: &DataFrame,
    duty_status: &DataFrame,
    kept_duties: &[KeptDuty],
) -> PolarsResult<Refs> {
    let in_scope = acts
        .clone()
        .lazy()
        .filter(col(A_SCOPE).is_null())
        .select([col(A), col(UNIT_CODE).alias(A_UNIT_CODE)]);
    let ag = src
        .activity_groups
        .clone()
        .lazy()
        .inner_join(in_scope.clone(), col("ag_a"), col(A))
        .left_join(
            group_status(groups)?.lazy(),
            col("ag_group_ref"),
            col(GS_ID),
        )
        .sort(["ag_a", "ag_n"], SortMultipleOptions::default())
        .collect()?;
    let teachers_by_duty = src
        .activity_teachers
        .clone()
        .lazy()
        .filter(col("at_duty_ref").is_not_null())
        .inner_join(in_scope.clone(), col("at_a"), col(A))
        .left_join(duty_status.clone().lazy(), col("at_duty_ref"), col(DS_ID))
        .sort(["at_a", "at_n"], SortMultipleOptions::default())
        .collect()?;
    // Teachers given as persons: that person's duty at the activity's
    // unit, a teacher's duty first.
    let teachers_by_person = src
        .activity_teachers
        .clone()
        .lazy()
        .filter(col("at_duty_ref").is_null())
        .inner_join(in_scope, col("at_a"), col(A))
        .join(
            kept_duty_frame(kept_duties)?.lazy(),
            [col("at_person_ref"), col(A_UNIT_CODE)],
            [col(KD_PERSON), col(KD_UNIT)],
            left(),
        )
        .group_by([col("at_a"), col("at_n"), col("at_person_ref")])
        .agg([col(KD_ID)
            .sort_by([col(KD_RANK), col(KD_ID)], SortMultipleOptions::default())
            .first()
            .alias(KD_ID)])
        .sort(["at_a", "at_n"], SortMultipleOptions::default())
        .collect()?;

    let mut rejected = RejectedRefs::new();
    let groups_of = group_refs(&ag, &mut rejected)?;
    let mut teachers_of = HashMap::new();
    teacher_duty_refs(&teachers_by_duty, &mut teachers_of, &mut rejected)?;
    teacher_person_refs(&teachers_by_person, &mut teachers_of)?;
    Ok(Refs {
        groups_of,
        teachers_of,
        rejected,
    })
}

/// Group status before activities decide: kept unless rejected or out of
/// scope (`gs_id`, `gs_status`, `gs_why`, `gs_type`).
fn group_status(groups: &DataFrame) -> PolarsResult<DataFrame> {
    let gc = Cols(groups);
    let (g_first_col, g_idx) = (gc.u(G_FIRST)?, gc.u(G)?);
    let (g_id, g_scope, g_problem, g_type) =
        (gc.s(G_ID)?, gc.s(G_SCOPE)?, gc.s(G_PROBLEM)?, gc.s(G_TYPE)?);
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
    DataFrame::new_infer_height(vec![
        Column::new(GS_ID.into(), gs_id),
        Column::new(GS_STATUS.into(), gs_status),
        Column::new(GS_WHY.into(), gs_why),
        Column::new(GS_TYPE.into(), gs_type),
    ])
}

/// The kept duties as a frame (`kd_person`, `kd_unit`, `kd_id`, `kd_rank`),
/// for teachers given as persons.
fn kept_duty_frame(kept_duties: &[KeptDuty]) -> PolarsResult<DataFrame> {
    DataFrame::new_infer_height(vec![
        Column::new(
            KD_PERSON.into(),
            kept_duties
                .iter()
                .map(|k| k.person_ref.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            KD_UNIT.into(),
            kept_duties
                .iter()
                .map(|k| k.unit_code.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            KD_ID.into(),
            kept_duties
                .iter()
                .map(|k| k.desired.source_id.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            KD_RANK.into(),
            kept_duties
                .iter()
                .map(|k| u32::from(k.role != DutyRole::Larare))
                .collect::<Vec<_>>(),
        ),
    ])
}

/// Per activity: its group references, each with why it is left out.
fn group_refs(
    ag: &DataFrame,
    rejected: &mut RejectedRefs,
) -> PolarsResult<HashMap<u32, GroupRefs>> {
    let mut groups_of: HashMap<u32, GroupRefs> = HashMap::new();
    let c = Cols(ag);
    let (a, gref, status, why, gtype) = (
        c.u("ag_a")?,
        c.s("ag_group_ref")?,
        c.s(GS_STATUS)?,
        c.s(GS_WHY)?,
        c.s(GS_TYPE)?,
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
                rejected
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
    Ok(groups_of)
}

/// Teachers given as duties: kept, or left out with a warning.
fn teacher_duty_refs(
    teachers_by_duty: &DataFrame,
    teachers_of: &mut HashMap<u32, TeacherRefs>,
    rejected: &mut RejectedRefs,
) -> PolarsResult<()> {
    let c = Cols(teachers_by_duty);
    let (a, dref, status, why) = (
        c.u("at_a")?,
        c.s("at_duty_ref")?,
        c.s(DS_STATUS)?,
        c.s(DS_WHY)?,
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
                rejected
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
    Ok(())
}

/// Teachers given as persons: their duty found, or left out with a warning.
fn teacher_person_refs(
    teachers_by_person: &DataFrame,
    teachers_of: &mut HashMap<u32, TeacherRefs>,
) -> PolarsResult<()> {
    let c = Cols(teachers_by_person);
    let (a, pref, kd_id) = (c.u("at_a")?, c.s("at_person_ref")?, c.s(KD_ID)?);
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
    Ok(())
}
