//! Stage 7 (end), memberships: the groups' final decision and their
//! members.
//!
//! A group is out of scope, rejected for a problem of its own, rejected
//! because every activity of a teaching group was rejected (a teaching
//! group is only sent with its national-test activity), or kept. A kept
//! group's members are resolved against the person table: kept pupils are
//! sent; members that are rejected, unknown or staff are left out with a
//! warning, and rejected or missing ones are noted as [`LeftOutRef`]s.

use std::collections::{HashMap, HashSet};

use polars::prelude::*;
use skolsync_model::plan::{Desired, LeftOutRef};
use skolsync_model::provtjanst::{self as pt, GroupMembership, ObjectReference};
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::EntityKind;
use skolsync_model::{GroupType, ObjectType, SchoolType};
use uuid::Uuid;

use super::common::Cols;
use super::groups::{G, G_ID, G_PROBLEM, G_SCOPE, G_TYPE, G_UNIT_REF, STYPE};
use super::persons::{P_ROLE, P_STATUS, PS_P};
use super::units::{UNIT_CODE, UNIT_ID};
use crate::frames::SourceFrames;
use crate::reasons::{Details, code, reason};
use crate::transformer::Run;

/// The kept groups' positions.
const KG: &str = "kg";

impl Run<'_, '_> {
    /// Groups: out of scope, rejected, or kept with their members. A
    /// teaching group none of whose activities is kept is rejected too.
    pub(crate) fn finish_groups(
        &mut self,
        src: &SourceFrames,
        groups: &DataFrame,
        ps: &DataFrame,
        kept_undervisning: &HashSet<String>,
    ) -> PolarsResult<Vec<Desired<pt::Group>>> {
        let (keep, meta) = self.decide_groups(groups, kept_undervisning)?;
        let mut memberships = self.memberships(src, ps, &keep, &meta)?;
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

    /// Each group out of scope, rejected, or kept: the kept ones in order,
    /// with what their payload needs.
    fn decide_groups<'g>(
        &mut self,
        groups: &'g DataFrame,
        kept_undervisning: &HashSet<String>,
    ) -> PolarsResult<(Vec<u32>, HashMap<u32, GroupMeta<'g>>)> {
        let c = Cols(groups);
        let (g_idx, g_id, g_type, stype, unit_ref, unit_code, unit_id, scope_r, problem) = (
            c.u(G)?,
            c.s(G_ID)?,
            c.s(G_TYPE)?,
            c.s(STYPE)?,
            c.s(G_UNIT_REF)?,
            c.s(UNIT_CODE)?,
            c.s(UNIT_ID)?,
            c.s(G_SCOPE)?,
            c.s(G_PROBLEM)?,
        );
        let mut keep: Vec<u32> = Vec::new();
        let mut meta: HashMap<u32, GroupMeta<'g>> = HashMap::new();
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
        Ok((keep, meta))
    }

    /// Members of the kept groups, resolved against the person table:
    /// the memberships sent, and a warning for each member left out.
    fn memberships(
        &mut self,
        src: &SourceFrames,
        ps: &DataFrame,
        keep: &[u32],
        meta: &HashMap<u32, GroupMeta<'_>>,
    ) -> PolarsResult<HashMap<u32, Vec<GroupMembership>>> {
        // Members of the kept groups, resolved against the person table.
        let kept_frame = DataFrame::new_infer_height(vec![Column::new(KG.into(), keep.to_vec())])?;
        let members = src
            .members
            .clone()
            .lazy()
            .inner_join(kept_frame.clone().lazy(), col("m_g"), col(KG))
            .left_join(
                ps.clone()
                    .lazy()
                    .select([col(PS_P), col(P_STATUS), col(P_ROLE)]),
                col("m_p"),
                col(PS_P),
            )
            .collect()?;
        let missing = src
            .members_missing
            .clone()
            .lazy()
            .inner_join(kept_frame.lazy(), col("mm_g"), col(KG))
            .collect()?;
        let mut memberships: HashMap<u32, Vec<GroupMembership>> = HashMap::new();
        let mut warnings: Vec<(u32, &str, &'static str)> = Vec::new();
        for (((g, p), status), role) in members
            .column("m_g")?
            .u32()?
            .iter()
            .zip(members.column("m_p")?.u32()?.iter())
            .zip(members.column(P_STATUS)?.str()?.iter())
            .zip(members.column(P_ROLE)?.str()?.iter())
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
        Ok(memberships)
    }
}

/// A kept group: its provtjänst id, school type, group type, unit code and
/// Skolverket's id of the unit.
type GroupMeta<'g> = (Uuid, SchoolType, GroupType, Option<&'g str>, Uuid);
