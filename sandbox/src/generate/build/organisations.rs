//! The municipality's organisations (the huvudman and its school units),
//! the programmes and the syllabuses, all made once and referred to by id.

use chrono::NaiveDate;
use skolsync_model::codes::{OrganisationType, Ss12000SchoolType};
use skolsync_model::open_data;
use skolsync_model::ss12000::{Organisation, Programme, Reference, SourceId, Syllabus};

use super::*;
use crate::generate::curriculum::{self, Course, ORIENTATIONS, Subject};
use crate::generate::names::{self, ascii_fold};

impl Builder<'_> {
    pub(super) fn unit_name(&mut self, kind: UnitKind, index: usize) -> String {
        let prefixes = names::SCHOOL_PREFIX;
        let suffixes = names::SCHOOL_SUFFIX;
        if kind == UnitKind::Gy {
            let p = prefixes[(index * 7 + 3) % prefixes.len()];
            let round = index / prefixes.len();
            return if round == 0 {
                format!("{p}gymnasiet")
            } else {
                format!("{p}gymnasiet {}", round + 1)
            };
        }
        let combos = prefixes.len() * suffixes.len();
        let k = (index * 37) % combos;
        let base = format!(
            "{}{}",
            prefixes[k % prefixes.len()],
            suffixes[(k / prefixes.len()) % suffixes.len()]
        );
        let round = index / combos;
        if round == 0 {
            base
        } else {
            format!("{base} {}", round + 1)
        }
    }

    pub(super) fn organisations(&mut self, plans: &[UnitPlan]) {
        let meta = self.meta();
        self.source.organisations.push(Organisation {
            id: self.huvudman.clone(),
            meta,
            display_name: self.display_name.clone(),
            organisation_code: Some(ascii_fold(&self.cfg.municipality_name).to_uppercase()),
            organisation_type: OrganisationType::Huvudman,
            organisation_number: Some(self.org_number.clone()),
            parent_organisation: None,
            school_unit_code: None,
            school_types: Vec::new(),
            municipality_code: Some(self.cfg.municipality_code.clone()),
            start_date: NaiveDate::from_ymd_opt(1971, 1, 1),
            end_date: None,
        });
        self.counters[Tag::Organisation as usize] = 1;
        let (mut gr_index, mut gy_index) = (0, 0);
        for plan in plans {
            let (name, ordinal) = if plan.kind == UnitKind::Gy {
                gy_index += 1;
                (self.unit_name(UnitKind::Gy, gy_index - 1), gy_index - 1)
            } else {
                gr_index += 1;
                (self.unit_name(plan.kind, gr_index - 1), gr_index - 1)
            };
            let mut unit = self.push_unit(name, plan.kind, None);
            unit.ordinal = ordinal;
            self.units.push(unit);
        }
        // Two units for reject tests: one closed, one not (yet) in the
        // provtjänst. Neither has pupils.
        let closed_name = format!("Gamla {}", self.unit_name(UnitKind::F6, gr_index));
        let closed = self.push_unit(
            closed_name,
            UnitKind::F6,
            NaiveDate::from_ymd_opt(2025, 6, 30),
        );
        self.extra_units
            .push((closed, open_data::Status::Expired, true));
        let new_name = self.unit_name(UnitKind::Y79, gr_index + 1);
        let not_in_dnp = self.push_unit(new_name, UnitKind::Y79, None);
        self.extra_units
            .push((not_in_dnp, open_data::Status::Active, false));
    }

    /// A unit the school system has but open-data does not: the target of
    /// "unknown school unit" dirt. Made last so that the clean part of the
    /// data is the same with and without dirt.
    pub(super) fn ghost_unit(&mut self) {
        let ghost = self.push_unit("Nya Hamnskolan".to_string(), UnitKind::F9, None);
        if let Some(org) = self.source.organisations.last_mut() {
            org.school_types.push(Ss12000SchoolType::Gy.into());
        }
        self.eligible.ghost_units.push(ghost.org);
    }

    pub(super) fn push_unit(
        &mut self,
        name: String,
        kind: UnitKind,
        end_date: Option<NaiveDate>,
    ) -> Unit {
        let id = self.next_id(Tag::Organisation);
        let code = self.next_unit_code();
        let meta = self.meta();
        let short: String = ascii_fold(&name)
            .chars()
            .take(4)
            .collect::<String>()
            .to_uppercase();
        self.source.organisations.push(Organisation {
            id: id.clone(),
            meta,
            display_name: name.clone(),
            organisation_code: Some(format!("{short}{}", &code[code.len() - 2..])),
            organisation_type: OrganisationType::Skolenhet,
            organisation_number: None,
            parent_organisation: Some(Reference::to(self.huvudman.as_str())),
            school_unit_code: Some(code.clone()),
            school_types: ss12000_school_types(kind)
                .into_iter()
                .map(Into::into)
                .collect(),
            municipality_code: Some(self.cfg.municipality_code.clone()),
            start_date: NaiveDate::from_ymd_opt(2011, 7, 1),
            end_date,
        });
        Unit {
            org: id,
            code,
            name,
            kind,
            ordinal: 0,
            teacher_duties: Vec::new(),
            next_teacher: 0,
        }
    }

    pub(super) fn programmes(&mut self) {
        for o in ORIENTATIONS {
            let id = self.next_id(Tag::Programme);
            let meta = self.meta();
            self.source.programmes.push(Programme {
                id: id.clone(),
                meta,
                name: o.name.to_string(),
                code: Some(o.code.to_string()),
                school_type: Some(Ss12000SchoolType::Gy.into()),
            });
            self.programme_ids.insert(o.code, id);
        }
    }

    /// The GR syllabus of `subject` for the stage `year` belongs to.
    pub(super) fn gr_syllabus(&mut self, subject: Subject, year: u8) -> SourceId {
        let (start, end) = curriculum::stage(year);
        self.syllabus((subject.code, start, end), |id, meta| Syllabus {
            id,
            meta,
            school_type: Some(Ss12000SchoolType::Gr.into()),
            subject_code: Some(subject.code.to_string()),
            subject_name: Some(subject.name.to_string()),
            subject_designation: Some(subject.designation.to_string()),
            course_code: None,
            course_name: None,
            start_school_year: Some(start),
            end_school_year: Some(end),
            official: Some(true),
        })
    }

    /// The GY syllabus of `course`.
    pub(super) fn gy_syllabus(&mut self, course: Course) -> SourceId {
        self.syllabus((course.code, 0, 0), |id, meta| Syllabus {
            id,
            meta,
            school_type: Some(Ss12000SchoolType::Gy.into()),
            subject_code: Some(course.subject.to_string()),
            subject_name: Some(course.subject_name.to_string()),
            subject_designation: Some(course.subject.to_string()),
            course_code: Some(course.code.to_string()),
            course_name: Some(course.name.to_string()),
            start_school_year: None,
            end_school_year: None,
            official: Some(true),
        })
    }

    /// The syllabus under `key` (code and stage), made by `make` the first
    /// time it is asked for.
    fn syllabus(
        &mut self,
        key: (&'static str, u8, u8),
        make: impl FnOnce(SourceId, Meta) -> Syllabus,
    ) -> SourceId {
        if let Some(id) = self.syllabuses.get(&key) {
            return id.clone();
        }
        let id = self.next_id(Tag::Syllabus);
        let meta = self.meta();
        self.source.syllabuses.push(make(id.clone(), meta));
        self.syllabuses.insert(key, id.clone());
        id
    }
}

fn ss12000_school_types(kind: UnitKind) -> Vec<Ss12000SchoolType> {
    match kind {
        UnitKind::F6 | UnitKind::F9 => vec![
            Ss12000SchoolType::Fklass,
            Ss12000SchoolType::Gr,
            Ss12000SchoolType::Fth,
        ],
        UnitKind::Y79 => vec![Ss12000SchoolType::Gr],
        UnitKind::Gy => vec![Ss12000SchoolType::Gy],
    }
}
