//! Stage 3, persons: each person's role, the person rules, duplicates, and
//! the person table every reference is resolved against.
//!
//! A person's role follows from their enrolments and duties in scope (the
//! pupil role wins: the provtjänst refuses a Person with both). The
//! per-person rules (personnummer, EPPN, e-mail; [`crate::persons`]) run in
//! parallel; a pupil none of whose enrolments can be sent is rejected with
//! those enrolments' problems. Then duplicate personnummer and EPPNs are
//! found as group-bys: the first holder (pupils before staff, then source
//! order) keeps it, the service would refuse the others (9112/9115).

use std::collections::HashMap;

use polars::prelude::*;
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::EntityKind;

use super::common::{Cols, Stopwatch, usize_of};
use super::duties::{D_PERSON_REF, D_SCOPE};
use super::enrolments::{
    E_EDU, E_N, E_P, E_PROBLEM, E_TYPE, E_TYPE_SRC, E_UNIT_REF, E_YEAR, PR_VALID_FROM,
};
use super::units::UNIT_CODE;
use crate::persons::{Checked, Finding, Role};
use crate::reasons::{Details, code, reason, scope};
use crate::transformer::Run;

/// The person's id in the source.
pub(crate) const PERSON_ID: &str = "person_id";
/// Position of the person record in the snapshot.
const P: &str = "p";
/// The first position of the record's id (others are duplicates).
const P_FIRST: &str = "p_first";
/// Enrolments in scope.
const N_ENR: &str = "n_enr";
/// Enrolments in scope without a problem.
const N_ENR_OK: &str = "n_enr_ok";
/// Duties in scope.
const N_DUTY: &str = "n_duty";
/// Person table: position of the person record.
pub(crate) const PS_P: &str = "ps_p";
/// Person table: kept, rejected or out.
pub(crate) const P_STATUS: &str = "p_status";
/// Person table: student, staff, or null.
pub(crate) const P_ROLE: &str = "p_role";
/// Duplicate check: the person's position.
const K_P: &str = "k_p";
/// Duplicate check: the key (personnummer or lowercased EPPN).
const K_KEY: &str = "k_key";
/// Duplicate check: staff after pupils, then source order.
const K_RANK: &str = "k_rank";
/// Duplicate check: the best rank holding the key.
const K_FIRST_RANK: &str = "k_first_rank";
/// Duplicate check: how many hold the key.
const K_N: &str = "k_n";
/// Duplicate check: the position of the holder that keeps the key.
const K_FIRST: &str = "k_first";

impl Run<'_, '_> {
    /// Every person record with its first position for its id and how
    /// many enrolments (and good ones) and duties in scope it has: the
    /// role follows from those (pupil wins).
    pub(crate) fn person_roles(
        &self,
        source_persons: DataFrame,
        enrolments: &DataFrame,
        duties: &DataFrame,
    ) -> PolarsResult<DataFrame> {
        source_persons
            .clone()
            .lazy()
            .left_join(
                source_persons
                    .lazy()
                    .group_by([col(PERSON_ID)])
                    .agg([col(P).min().alias(P_FIRST)]),
                col(PERSON_ID),
                col(PERSON_ID),
            )
            .left_join(
                enrolments.clone().lazy().group_by([col(E_P)]).agg([
                    len().alias(N_ENR),
                    col(E_PROBLEM)
                        .is_null()
                        .sum()
                        .cast(DataType::UInt32)
                        .alias(N_ENR_OK),
                ]),
                col(P),
                col(E_P),
            )
            .left_join(
                duties
                    .clone()
                    .lazy()
                    .filter(col(D_SCOPE).is_null().and(col(D_PERSON_REF).is_not_null()))
                    .group_by([col(D_PERSON_REF)])
                    .agg([len().alias(N_DUTY)]),
                col(PERSON_ID),
                col(D_PERSON_REF),
            )
            .sort([P], SortMultipleOptions::default())
            .collect()
    }

    /// The person table every reference is resolved against: one row per
    /// distinct person id (its first record), with `ps_p`, `p_status`
    /// (kept, rejected, out) and `p_role`.
    pub(crate) fn person_table(
        &self,
        persons: &DataFrame,
        outcomes: &[PersonOutcome],
    ) -> PolarsResult<DataFrame> {
        let c = Cols(persons);
        let ids = c.s(PERSON_ID)?;
        let p = c.u(P)?;
        let first = c.u(P_FIRST)?;
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
                Some(PersonOutcome::Rejected) => ("rejected", self.role_of(persons, i)),
                _ => ("out", None),
            };
            status.push(s);
            role.push(r);
        }
        DataFrame::new_infer_height(vec![
            Column::new(PERSON_ID.into(), id_col),
            Column::new(PS_P.into(), p_col),
            Column::new(P_STATUS.into(), status),
            Column::new(P_ROLE.into(), role),
        ])
    }

    /// The role a person would have had (for rejected persons in `ps`).
    fn role_of(&self, persons: &DataFrame, i: usize) -> Option<&'static str> {
        let n_enr = persons.column(N_ENR).ok()?.u32().ok()?.get(i);
        let n_duty = persons.column(N_DUTY).ok()?.u32().ok()?.get(i);
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
    pub(crate) fn persons<'f>(
        &mut self,
        persons: &DataFrame,
        enrolments: &'f DataFrame,
        enrolment_problems: &'f DataFrame,
        duties: &'f DataFrame,
    ) -> PolarsResult<(Vec<PersonOutcome>, Vec<Option<&'f str>>)> {
        let mut watch = Stopwatch::start();
        let duty_units = duty_units(duties)?;
        let mut person_units = first_units(enrolments, self.s.persons.len())?;
        let problems = problems_by_person(enrolment_problems)?;
        watch.lap("person rules: enrolment problems");
        let mut outcomes = self.person_outcomes(
            persons,
            &problems,
            &duty_units,
            &mut person_units,
            &mut watch,
        )?;
        watch.lap("person rules: outcomes");
        self.reject_duplicates(&mut outcomes, &person_units)?;
        watch.lap("person rules: duplicates");
        Ok((outcomes, person_units))
    }

    /// Every person's outcome from the person rules and their enrolment
    /// problems (a pupil none of whose enrolments can be sent is rejected).
    fn person_outcomes<'f>(
        &mut self,
        persons: &DataFrame,
        problems: &EnrolmentProblems<'f>,
        duty_units: &HashMap<&'f str, &'f str>,
        person_units: &mut [Option<&'f str>],
        watch: &mut Stopwatch,
    ) -> PolarsResult<Vec<PersonOutcome>> {
        let c = Cols(persons);
        let (p_idx, p_first, n_enr, n_enr_ok, n_duty) = (
            c.u(P)?,
            c.u(P_FIRST)?,
            c.u(N_ENR)?,
            c.u(N_ENR_OK)?,
            c.u(N_DUTY)?,
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
            outcomes[i] = match checked {
                Err(findings) => {
                    for f in findings {
                        self.finding(Severity::Rejected, p, id, unit, f);
                    }
                    if all_enrolments_bad {
                        self.enrolment_problems(p, id, enrolment_problems, Severity::Rejected);
                    }
                    PersonOutcome::Rejected
                }
                Ok(_) if all_enrolments_bad => {
                    self.enrolment_problems(p, id, enrolment_problems, Severity::Rejected);
                    PersonOutcome::Rejected
                }
                Ok(checked) => {
                    if role == Role::Student {
                        self.enrolment_problems(p, id, enrolment_problems, Severity::Warning);
                    }
                    PersonOutcome::Kept(role, Box::new(checked))
                }
            };
        }
        Ok(outcomes)
    }

    /// Reports a person's enrolment problems: as reasons for rejecting the
    /// person, or as warnings that the enrolment is left out.
    fn enrolment_problems(
        &mut self,
        p: u32,
        id: &str,
        problems: Option<&Vec<EnrolmentProblem<'_>>>,
        severity: Severity,
    ) {
        for (field, value, u, why) in problems.into_iter().flatten() {
            let why = if severity == Severity::Warning {
                format!("{why}; this enrolment is left out")
            } else {
                why.clone()
            };
            self.push(
                severity,
                EntityKind::Person,
                p,
                id,
                field,
                value.clone(),
                *u,
                why,
            );
        }
    }

    /// Duplicate personnummer, then duplicate EPPNs among the rest: the
    /// first holder (pupils before staff, then source order) keeps it.
    fn reject_duplicates(
        &mut self,
        outcomes: &mut [PersonOutcome],
        person_units: &[Option<&str>],
    ) -> PolarsResult<()> {
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
                Column::new(K_P.into(), p_col),
                Column::new(K_KEY.into(), key),
                Column::new(K_RANK.into(), rank),
            ])?;
            let dups = frame
                .clone()
                .lazy()
                .left_join(
                    frame
                        .lazy()
                        .group_by([col(K_KEY)])
                        .agg([col(K_RANK).min().alias(K_FIRST_RANK), len().alias(K_N)]),
                    col(K_KEY),
                    col(K_KEY),
                )
                .filter(
                    col(K_N)
                        .gt(lit(1u32))
                        .and(col(K_RANK).neq(col(K_FIRST_RANK))),
                )
                // The rank's low 32 bits are the winner's position.
                .select([
                    col(K_P),
                    (col(K_FIRST_RANK) % lit(1i64 << 32))
                        .cast(DataType::UInt32)
                        .alias(K_FIRST),
                ])
                .sort([K_P], SortMultipleOptions::default())
                .collect()?;
            let dc = Cols(&dups);
            for (p, first) in dc.u(K_P)?.into_iter().zip(dc.u(K_FIRST)?) {
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
                        // skolsync's own rule: Skolverket's documents give
                        // no error id for a second person with one
                        // personnummer, so none is cited.
                        "person {} has the same personnummer; the provtjänst holds one person per personnummer, so only that one is sent (skolsync's own check)",
                        holder.id
                    )
                } else {
                    format!(
                        // skolsync's own rule, as above (no documented id).
                        "person {} has the same EPPN; an EPPN identifies one person, so only that one is sent (skolsync's own check)",
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
        Ok(())
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
        crate::parallel::for_each_mut(&mut results, |row, slot| *slot = check(row));
        results
    }

    pub(crate) fn finding(
        &mut self,
        severity: Severity,
        p: u32,
        id: &str,
        unit: Option<&str>,
        f: Finding,
    ) {
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
}

/// What became of a person record.
pub(crate) enum PersonOutcome {
    Out,
    Rejected,
    Kept(Role, Box<Checked>),
}

/// One enrolment problem: field, value, unit code, reason.
type EnrolmentProblem<'f> = (String, Option<String>, Option<&'f str>, String);

/// Enrolment problems per person position.
type EnrolmentProblems<'f> = HashMap<u32, Vec<EnrolmentProblem<'f>>>;

/// Staff belong to the unit of their first duty in scope.
fn duty_units(duties: &DataFrame) -> PolarsResult<HashMap<&str, &str>> {
    let mut duty_units = HashMap::new();
    let c = Cols(duties);
    for ((person, code), scope) in c
        .s(D_PERSON_REF)?
        .into_iter()
        .zip(c.s(UNIT_CODE)?)
        .zip(c.s(D_SCOPE)?)
    {
        if let (Some(person), Some(code), None) = (person, code, scope) {
            duty_units.entry(person).or_insert(code);
        }
    }
    Ok(duty_units)
}

/// The first good unit per person (for reports), streaming over the
/// enrolments so no column is copied.
fn first_units(enrolments: &DataFrame, n: usize) -> PolarsResult<Vec<Option<&str>>> {
    let mut person_units: Vec<Option<&str>> = vec![None; n];
    for ((p, code), problem) in enrolments
        .column(E_P)?
        .u32()?
        .iter()
        .zip(enrolments.column(UNIT_CODE)?.str()?.iter())
        .zip(enrolments.column(E_PROBLEM)?.str()?.iter())
    {
        if let (Some(p), Some(code), None) = (p, code, problem)
            && let Some(slot) = person_units.get_mut(p as usize)
        {
            slot.get_or_insert(code);
        }
    }
    Ok(person_units)
}

/// Enrolment problems, per person.
fn problems_by_person(enrolment_problems: &DataFrame) -> PolarsResult<EnrolmentProblems<'_>> {
    let ec = Cols(enrolment_problems);
    let (e_p, e_n, e_unit_ref, e_code, e_type, e_year, e_edu, e_from, e_problem) = (
        ec.u(E_P)?,
        ec.u(E_N)?,
        ec.s(E_UNIT_REF)?,
        ec.s(UNIT_CODE)?,
        ec.s(E_TYPE)?,
        ec.i(E_YEAR)?,
        ec.s(E_EDU)?,
        ec.s(PR_VALID_FROM)?,
        ec.s(E_PROBLEM)?,
    );
    let e_type_src = ec.s(E_TYPE_SRC)?;
    let mut problems = EnrolmentProblems::new();
    for i in 0..e_p.len() {
        let (Some(p), Some(problem)) = (e_p[i], e_problem[i]) else {
            continue;
        };
        let unit_code = e_code[i];
        let n = e_n[i].unwrap_or(0);
        let d = Details {
            unit_ref: e_unit_ref[i],
            unit_code,
            school_type: e_type[i].or(e_type_src[i]),
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
            code::TYPE_UNKNOWN | code::TYPE_LEVEL_UNKNOWN => (
                format!("enrolments[{n}].schoolType"),
                e_type_src[i].map(str::to_string),
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

    Ok(problems)
}
