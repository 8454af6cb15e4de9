//! Pupils and staff: names, civic numbers, EPPNs, e-mail addresses,
//! enrolments and duties, each drawn from the builder's one random stream.

use chrono::{Datelike, NaiveDate};
use rand::Rng;
use skolsync_model::codes::{
    DutyRole, EmailType, PersonStatus, SecurityMarking, Ss12000SchoolType,
};
use skolsync_model::ss12000::{
    Duty, Email, Enrolment, ExternalIdentifier, Person, RawCivicNo, Reference, SourceId,
};
use uuid::Uuid;

use super::*;
use crate::generate::civic;
use crate::generate::curriculum::Orientation;
use crate::generate::names::{self, ascii_fold, eppn_reveals_name};
use crate::generate::{REFERENCE_DATE, TERM_START};

impl Builder<'_> {
    pub(super) fn names(&mut self, male: bool) -> (String, Option<String>, String) {
        let pool = if male {
            names::MALE_GIVEN
        } else {
            names::FEMALE_GIVEN
        };
        let given = pool[self.rng.random_range(0..pool.len())];
        let family = names::FAMILY[self.rng.random_range(0..names::FAMILY.len())];
        let middle = if self.rng.random_bool(MIDDLE_NAME_SHARE) {
            Some(names::MIDDLE[self.rng.random_range(0..names::MIDDLE.len())].to_string())
        } else {
            None
        };
        (given.to_string(), middle, family.to_string())
    }

    /// An EPPN for person number `index` that does not reveal the name.
    pub(super) fn eppn(&self, index: u64, given: &str, family: &str) -> String {
        let mut buf = Uuid::encode_buffer();
        for attempt in 0..64u64 {
            let uuid = self.ids.uuid(Tag::Eppn, index * 64 + attempt);
            let eppn = format!(
                "{}@edu.{}",
                uuid.hyphenated().encode_lower(&mut buf),
                self.domain
            );
            if !eppn_reveals_name(&eppn, given, family) {
                return eppn;
            }
        }
        // 64 hex strings in a row containing the name cannot happen for
        // names with a letter past `f`; digits only as a last resort.
        format!("{index:012}@edu.{}", self.domain)
    }

    pub(super) fn security_marking(&mut self) -> SecurityMarking {
        let r: f64 = self.rng.random();
        if r < SKYDDAD_SHARE {
            SecurityMarking::SkyddadFolkbokforing
        } else if r < SKYDDAD_SHARE + SEKRETESS_SHARE {
            SecurityMarking::Sekretessmarkering
        } else {
            SecurityMarking::Ingen
        }
    }

    pub(super) fn random_day_in(&mut self, year: i32) -> NaiveDate {
        let days = if NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
            366
        } else {
            365
        };
        let ordinal = self.rng.random_range(1..=days);
        NaiveDate::from_yo_opt(year, ordinal).unwrap_or(TERM_START)
    }

    /// A pupil of `cohort` at `unit`; returns its position and whether it
    /// reads Swedish as a second language.
    pub(super) fn student(
        &mut self,
        unit: usize,
        cohort: Cohort,
        orientation: Option<&Orientation>,
    ) -> (usize, bool) {
        let index = self.source.persons.len();
        let id = self.next_id(Tag::Person);
        let meta = self.meta();
        // Year 1 pupils turn 7 in the reference year; a few are a year
        // older or younger than their cohort.
        let mut birth_year = REFERENCE_DATE.year() - 6 - cohort.age_step();
        let r: f64 = self.rng.random();
        if r < 0.02 {
            birth_year -= 1;
        } else if r < 0.03 {
            birth_year += 1;
        }
        let birth = self.random_day_in(birth_year);
        let r: f64 = self.rng.random();
        let kind = if r < TEMPORARY_SHARE {
            civic::Kind::Temporary
        } else if r < TEMPORARY_SHARE + SAMORDNINGSNUMMER_SHARE {
            civic::Kind::Samordningsnummer
        } else {
            civic::Kind::Personnummer
        };
        let who = self.identity(index, birth, kind);
        let email = format!(
            "{}.{}{}@elev.{}",
            ascii_fold(&who.given),
            ascii_fold(&who.family),
            index,
            self.domain
        );
        let marking = self.security_marking();
        let sva = !matches!(cohort, Cohort::Fklass) && self.rng.random_bool(SVA_SHARE);

        let u = &self.units[unit];
        let (school_type, school_year) = match cohort {
            Cohort::Fklass => (Ss12000SchoolType::Fklass, 0),
            Cohort::Gr(y) => (Ss12000SchoolType::Gr, y),
            Cohort::Gy(y) => (Ss12000SchoolType::Gy, y),
        };
        // The pupil has been at this unit since its first year there.
        let first_year = match (u.kind, cohort) {
            (UnitKind::Y79, Cohort::Gr(y)) => i32::from(y) - 7,
            (UnitKind::Gy, Cohort::Gy(y)) => i32::from(y) - 1,
            (_, c) => c.age_step(),
        };
        let mut enrolments = Vec::with_capacity(1);
        let moved_here = match cohort {
            Cohort::Gr(y) => (y >= 2 && u.kind != UnitKind::Y79) || y >= 8,
            Cohort::Gy(y) => y >= 2,
            Cohort::Fklass => false,
        };
        if moved_here && self.rng.random_bool(ENDED_ENROLMENT_SHARE) {
            // Moved here over the summer from a unit of the same kind, where
            // the pupil did the previous year.
            if let Some(other) = self.other_unit_like(unit) {
                enrolments.push(Enrolment {
                    school_year: Some(school_year - 1),
                    start_date: Some(term_start_of(REFERENCE_DATE.year() - 1)),
                    end_date: NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 12),
                    ..self.enrolment(other, school_type, orientation)
                });
            }
        }
        enrolments.push(Enrolment {
            school_year: Some(school_year),
            start_date: Some(term_start_of(REFERENCE_DATE.year() - first_year.max(0))),
            ..self.enrolment(unit, school_type, orientation)
        });

        self.source.persons.push(Person {
            enrolments,
            ..person_record(id, meta, who, marking, email, EmailType::SkolaElev)
        });
        if cohort != Cohort::Fklass && kind != civic::Kind::Temporary {
            self.eligible.students.push(index);
        }
        (index, sva)
    }

    /// Adults in VUXGY at the first GY unit, which then offers it
    /// (`vux_students`; see [`crate::generate::GenerateConfig`]).
    pub(super) fn adult_education(&mut self) {
        if self.cfg.vux_students == 0 {
            return;
        }
        let Some(unit) = self.units.iter().position(|u| u.kind == UnitKind::Gy) else {
            return;
        };
        self.vux_unit = Some(unit);
        let org = self.units[unit].org.clone();
        if let Some(o) = self.source.organisations.iter_mut().find(|o| o.id == org) {
            o.school_types.push(Ss12000SchoolType::Vuxgy.into());
        }
        for _ in 0..self.cfg.vux_students {
            let index = self.source.persons.len();
            let id = self.next_id(Tag::Person);
            let meta = self.meta();
            let age = self.rng.random_range(20..=45);
            let birth = self.random_day_in(REFERENCE_DATE.year() - age);
            let who = self.identity(index, birth, civic::Kind::Personnummer);
            let email = format!(
                "{}.{}{}@vux.{}",
                ascii_fold(&who.given),
                ascii_fold(&who.family),
                index,
                self.domain
            );
            let marking = self.security_marking();
            let enrolment = Enrolment {
                start_date: Some(TERM_START),
                ..self.enrolment(unit, Ss12000SchoolType::Vuxgy, None)
            };
            self.source.persons.push(Person {
                enrolments: vec![enrolment],
                ..person_record(id, meta, who, marking, email, EmailType::SkolaElev)
            });
        }
    }

    /// Draws who person number `index` is: the civic number of `birth`
    /// and `kind`, names that go with its sex, and an EPPN.
    fn identity(&mut self, index: usize, birth: NaiveDate, kind: civic::Kind) -> Identity {
        let number = self.civic.next(birth, kind);
        let (given, middle, family) = self.names(number.male);
        let eppn = self.eppn(index as u64, &given, &family);
        Identity {
            civic_no: number.value,
            given,
            middle,
            family,
            eppn,
        }
    }

    /// A current enrolment at `unit` (no year, no dates), with the
    /// programme of `orientation` if it has one.
    fn enrolment(
        &self,
        unit: usize,
        school_type: Ss12000SchoolType,
        orientation: Option<&Orientation>,
    ) -> Enrolment {
        Enrolment {
            enroled_at: Reference::to(self.units[unit].org.as_str()),
            school_year: None,
            school_type: school_type.into(),
            start_date: None,
            end_date: None,
            cancelled: None,
            education_code: orientation.map(|o| o.code.to_string()),
            programme: orientation
                .and_then(|o| self.programme_ids.get(o.code))
                .map(|p| Reference::to(p.as_str())),
        }
    }

    /// Another unit of the same kind, if there is one.
    pub(super) fn other_unit_like(&mut self, unit: usize) -> Option<usize> {
        let kind = self.units[unit].kind;
        let n = self.units.len();
        let start = self.rng.random_range(0..n);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&k| k != unit && self.units[k].kind == kind)
    }

    pub(super) fn eduid(&mut self) -> String {
        const CONSONANTS: &[u8] = b"bdfghjklmnprstv";
        const VOWELS: &[u8] = b"aeiou";
        loop {
            let mut word = String::with_capacity(11);
            for part in 0..2 {
                if part == 1 {
                    word.push('-');
                }
                for i in 0..5 {
                    let set = if i % 2 == 0 { CONSONANTS } else { VOWELS };
                    word.push(char::from(set[self.rng.random_range(0..set.len())]));
                }
            }
            if self.eduids.insert(word.clone()) {
                return format!("{word}@eduid.se");
            }
        }
    }

    /// A staff member with one duty at `unit`; returns the duty's position.
    pub(super) fn staff(&mut self, unit: usize, role: DutyRole) -> usize {
        let index = self.source.persons.len();
        let id = self.next_id(Tag::Person);
        let meta = self.meta();
        let birth_year = self.rng.random_range(1958..=2001);
        let birth = self.random_day_in(birth_year);
        let kind = if self.rng.random_bool(STAFF_SAMORDNINGSNUMMER_SHARE) {
            civic::Kind::Samordningsnummer
        } else {
            civic::Kind::Personnummer
        };
        let who = self.identity(index, birth, kind);
        let local = format!("{}.{}", ascii_fold(&who.given), ascii_fold(&who.family));
        let seen = self.staff_emails.entry(local.clone()).or_insert(0);
        *seen += 1;
        let email = if *seen == 1 {
            format!("{local}@{}", self.domain)
        } else {
            format!("{local}{seen}@{}", self.domain)
        };
        let external_identifiers = if self.rng.random_bool(EDUID_SHARE) {
            vec![ExternalIdentifier {
                value: self.eduid(),
                context: "https://eduid.se".to_string(),
                globally_unique: Some(true),
            }]
        } else {
            Vec::new()
        };
        let marking = self.security_marking();
        let signature: String = who
            .given
            .chars()
            .take(2)
            .chain(who.family.chars().take(1))
            .flat_map(char::to_uppercase)
            .collect();
        self.source.persons.push(Person {
            external_identifiers,
            ..person_record(
                id.clone(),
                meta,
                who,
                marking,
                email,
                EmailType::SkolaPersonal,
            )
        });
        let started = self.rng.random_range(2005..=REFERENCE_DATE.year());
        let duty = self.duty(unit, &id, role, signature, term_start_of(started), None);
        if !matches!(role, DutyRole::Larare | DutyRole::Rektor) {
            self.eligible.staff.push(index);
            self.eligible.duties.push(duty);
        }
        duty
    }

    pub(super) fn duty(
        &mut self,
        unit: usize,
        person: &SourceId,
        role: DutyRole,
        signature: String,
        start: NaiveDate,
        end: Option<NaiveDate>,
    ) -> usize {
        let id = self.next_id(Tag::Duty);
        let meta = self.meta();
        let at = self.units[unit].org.clone();
        self.source.duties.push(Duty {
            id,
            meta,
            person: Some(Reference::to(person.as_str())),
            duty_at: Reference::to(at.as_str()),
            duty_role: role.as_str().to_string(),
            signature: Some(signature),
            start_date: Some(start),
            end_date: end,
        });
        self.source.duties.len() - 1
    }

    /// Some teachers also work at a second unit; half of those stopped
    /// there before the summer.
    pub(super) fn second_duties(&mut self) {
        if self.units.len() < 2 {
            return;
        }
        for u in 0..self.units.len() {
            let duties = self.units[u].teacher_duties.clone();
            for d in duties {
                if !self.rng.random_bool(SECOND_DUTY_SHARE) {
                    continue;
                }
                let other = (u + self.rng.random_range(1..self.units.len())) % self.units.len();
                let Some(first) = self.source.duties.get(d) else {
                    continue;
                };
                let Some(person) = first.person.as_ref().map(|p| p.id.clone()) else {
                    continue;
                };
                let signature = first.signature.clone().unwrap_or_default();
                let end = if self.rng.random_bool(0.5) {
                    NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 30)
                } else {
                    None
                };
                self.duty(
                    other,
                    &person,
                    DutyRole::Larare,
                    signature,
                    term_start_of(2024),
                    end,
                );
            }
        }
    }
}

/// Who a generated person is.
struct Identity {
    civic_no: String,
    given: String,
    middle: Option<String>,
    family: String,
    eppn: String,
}

/// The record of an active person with one e-mail address; external
/// identifiers and enrolments are the caller's to add.
fn person_record(
    id: SourceId,
    meta: Meta,
    who: Identity,
    marking: SecurityMarking,
    email: String,
    email_type: EmailType,
) -> Person {
    Person {
        id,
        meta,
        given_name: who.given,
        middle_name: who.middle,
        family_name: who.family,
        edu_person_principal_names: vec![who.eppn],
        external_identifiers: Vec::new(),
        civic_no: Some(RawCivicNo {
            value: who.civic_no,
            nationality: Some("SE".to_string()),
        }),
        security_marking: Some(marking),
        person_status: Some(PersonStatus::Aktiv),
        emails: vec![Email {
            value: email,
            email_type: Some(email_type),
        }],
        enrolments: Vec::new(),
    }
}
