//! Last stage, nesting: the kept persons' payloads with their kept
//! enrolments.
//!
//! It runs last, after every frame it does not need is dropped, because
//! person payloads are most of the desired state; the enrolments frame is
//! sorted by person, so one pass over its columns serves every person in
//! turn without copying them.

use polars::prelude::*;
use skolsync_model::plan::Desired;
use skolsync_model::provtjanst::{self as pt, ObjectReference};
use skolsync_model::reject::Severity;
use skolsync_model::{ObjectType, SchoolType};
use uuid::Uuid;

use super::enrolments::{E_EDU, E_P, E_PROBLEM, E_TYPE, E_YEAR};
use super::persons::PersonOutcome;
use super::units::UNIT_CODE;
use crate::persons::Role;
use crate::transformer::Run;

impl Run<'_, '_> {
    /// Persons kept: payloads with their kept enrolments.
    pub(crate) fn nest_persons(
        &mut self,
        outcomes: Vec<PersonOutcome>,
        enrolments: &DataFrame,
        person_units: &[Option<&str>],
    ) -> PolarsResult<Vec<Desired<pt::Person>>> {
        // Kept enrolments, by person: the frame is sorted by person, so one
        // pass over its columns (no copies) serves every person in turn.
        let mut rows = enrolments
            .column(E_P)?
            .u32()?
            .iter()
            .zip(enrolments.column(UNIT_CODE)?.str()?.iter())
            .zip(enrolments.column(E_TYPE)?.str()?.iter())
            .zip(enrolments.column(E_YEAR)?.i32()?.iter())
            .zip(enrolments.column(E_EDU)?.str()?.iter())
            .zip(enrolments.column(E_PROBLEM)?.str()?.iter())
            .peekable();
        // Exactly as many as are kept: a growing vector of a million big
        // payloads would hold up to twice that while it doubles.
        let kept = outcomes
            .iter()
            .filter(|o| matches!(o, PersonOutcome::Kept(..)))
            .count();
        let mut out = Vec::with_capacity(kept);
        for (i, outcome) in outcomes.into_iter().enumerate() {
            let p = crate::frames::idx(i);
            let mut mine: Vec<KeptEnrolment> = Vec::new();
            while let Some((((((e_p, code), e_type), e_year), e_edu), problem)) = rows.peek() {
                let e_p = *e_p;
                if e_p.is_some_and(|x| x > p) {
                    break;
                }
                let (code, e_type, e_year, e_edu, problem) =
                    (*code, *e_type, *e_year, *e_edu, *problem);
                rows.next();
                if e_p != Some(p) || problem.is_some() {
                    continue;
                }
                let (Some(unit_id), Some(school_type)) = (
                    code.and_then(|c| self.t.unit_ids.get(c).copied()),
                    e_type.and_then(|t| t.parse::<SchoolType>().ok()),
                ) else {
                    continue;
                };
                mine.push(KeptEnrolment {
                    unit_id,
                    school_type,
                    school_year: e_year
                        .and_then(|y| u8::try_from(y).ok())
                        .filter(|y| (1..=10).contains(y)),
                    education_code: if school_type == SchoolType::Gy {
                        e_edu.map(|e| e.trim().to_string())
                    } else {
                        None
                    },
                });
            }
            let PersonOutcome::Kept(role, checked) = outcome else {
                continue;
            };
            let Some(person) = self.s.persons.get(i) else {
                continue;
            };
            let checked = *checked;
            let unit = person_units.get(i).copied().flatten();
            for w in checked.warnings.clone() {
                self.finding(Severity::Warning, p, person.id.as_str(), unit, w);
            }
            let mut enrolments: Vec<pt::Enrolment> = Vec::new();
            if role == Role::Student {
                mine.sort_by(|a, b| {
                    (a.unit_id, a.school_type, a.school_year, &a.education_code).cmp(&(
                        b.unit_id,
                        b.school_type,
                        b.school_year,
                        &b.education_code,
                    ))
                });
                mine.dedup_by(|a, b| {
                    a.unit_id == b.unit_id
                        && a.school_type == b.school_type
                        && a.school_year == b.school_year
                        && a.education_code == b.education_code
                });
                enrolments = mine
                    .into_iter()
                    .map(|e| pt::Enrolment {
                        enroled_at: ObjectReference::new(e.unit_id),
                        school_year: e.school_year,
                        school_type: e.school_type,
                        cancelled: None,
                        education_code: e.education_code,
                    })
                    .collect();
            }
            let id = self.t.ids.id(ObjectType::Person, person.id.as_str());
            out.push(Desired {
                id,
                source_id: person.id.as_str().to_string(),
                hash: String::new(),
                school_unit: unit.map(str::to_string),
                payload: pt::Person {
                    id,
                    meta: None,
                    given_name: person.given_name.trim().to_string(),
                    middle_name: person
                        .middle_name
                        .as_deref()
                        .map(str::trim)
                        .filter(|m| !m.is_empty())
                        .map(str::to_string),
                    family_name: person.family_name.trim().to_string(),
                    edu_person_principal_names: vec![checked.eppn],
                    external_identifiers: checked.external_identifiers,
                    security_marking: person.security_marking,
                    civic_no: pt::CivicNoValue::swedish(checked.civic_no),
                    emails: checked.emails,
                    enrolments,
                    provisioning_status: None,
                },
            });
        }
        Ok(out)
    }
}

/// A kept entity on its way into the desired state.
pub(crate) struct KeptEnrolment {
    unit_id: Uuid,
    school_type: SchoolType,
    school_year: Option<u8>,
    education_code: Option<String>,
}
