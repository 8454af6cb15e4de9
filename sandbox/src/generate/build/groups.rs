//! Filling a unit: its staff, then cohort by cohort the classes, mentor and
//! teaching groups and the activities that teach them (with the test
//! activities they lead to).

use chrono::Datelike;
use rand::Rng;
use skolsync_model::codes::{ActivityType, DutyRole, GroupType, Ss12000SchoolType};
use skolsync_model::ids::TestActivityName;
use skolsync_model::ss12000::{
    Activity, Group, GroupMembership, Reference, SourceId, TeacherAssignment,
};
use std::collections::HashMap;
use uuid::Uuid;

use super::*;
use crate::generate::curriculum::{self, Course, ORIENTATIONS, Orientation, Subject};
use crate::generate::names;
use crate::generate::{REFERENCE_DATE, TERM_START};

impl Builder<'_> {
    pub(super) fn group(
        &mut self,
        unit: usize,
        name: String,
        group_type: GroupType,
        school_type: Ss12000SchoolType,
        members: &[usize],
    ) -> usize {
        let id = self.next_id(Tag::Group);
        let meta = self.meta();
        let memberships = members
            .iter()
            .map(|&p| GroupMembership {
                person: Reference {
                    id: self.source.persons[p].id.clone(),
                    display_name: None,
                    security_marking: None,
                },
                start_date: Some(TERM_START),
                end_date: None,
            })
            .collect();
        self.source.groups.push(Group {
            id,
            meta,
            display_name: name,
            start_date: Some(TERM_START),
            end_date: None,
            group_type,
            school_type: Some(school_type.into()),
            organisation: Reference::to(self.units[unit].org.as_str()),
            group_memberships: memberships,
        });
        self.source.groups.len() - 1
    }

    pub(super) fn pick_teacher(&mut self, unit: usize) -> Option<usize> {
        let u = &mut self.units[unit];
        if u.teacher_duties.is_empty() {
            return None;
        }
        let d = u.teacher_duties[u.next_teacher % u.teacher_duties.len()];
        u.next_teacher += 1;
        Some(d)
    }

    /// An activity teaching `group` with 1–2 teachers; `test` is the test
    /// activity the subject leads to, if any.
    pub(super) fn activity(
        &mut self,
        unit: usize,
        name: String,
        group: usize,
        syllabus: SourceId,
        test: Option<TestActivityName>,
    ) -> usize {
        let id = self.next_id(Tag::Activity);
        let meta = self.meta();
        let mut teachers = Vec::with_capacity(2);
        if let Some(d) = self.pick_teacher(unit) {
            teachers.push(d);
        }
        if self.units[unit].teacher_duties.len() > 1
            && self.rng.random_bool(SECOND_TEACHER_SHARE)
            && let Some(d) = self.pick_teacher(unit)
        {
            teachers.push(d);
        }
        let parent_activity = match &test {
            Some(name)
                if self
                    .rng
                    .random_bool(self.cfg.parent_activity_share.clamp(0.0, 1.0)) =>
            {
                let mut buf = Uuid::encode_buffer();
                vec![Reference::to(
                    name.skolverket_id().hyphenated().encode_lower(&mut buf),
                )]
            }
            _ => Vec::new(),
        };
        let teachers = teachers
            .into_iter()
            .map(|d| TeacherAssignment {
                duty: Some(Reference {
                    id: self.source.duties[d].id.clone(),
                    display_name: None,
                    security_marking: None,
                }),
                person: None,
                start_date: None,
                end_date: None,
            })
            .collect();
        self.source.activities.push(Activity {
            id,
            meta,
            display_name: name,
            activity_type: Some(ActivityType::Undervisning),
            start_date: Some(TERM_START),
            end_date: None,
            groups: vec![Reference {
                id: self.source.groups[group].id.clone(),
                display_name: None,
                security_marking: None,
            }],
            teachers,
            syllabus: Some(Reference::to(syllabus.as_str())),
            subject: None,
            organisation: Reference::to(self.units[unit].org.as_str()),
            parent_activity,
            embedded: None,
        });
        let index = self.source.activities.len() - 1;
        if test.is_some() {
            self.eligible.test_groups.push(group);
            self.eligible.test_activities.push(index);
        }
        index
    }

    /// A class group whose members mostly joined at term start; a few
    /// moved in from a parallel class (their old membership has ended).
    pub(super) fn classes(
        &mut self,
        unit: usize,
        names: &[String],
        members: &[Vec<usize>],
        school_type: Ss12000SchoolType,
        eligible: bool,
    ) -> Vec<usize> {
        let groups: Vec<usize> = names
            .iter()
            .zip(members)
            .map(|(name, m)| self.group(unit, name.clone(), GroupType::Klass, school_type, m))
            .collect();
        if groups.len() > 1 {
            for (ci, &g) in groups.iter().enumerate() {
                let other = groups[(ci + 1) % groups.len()];
                for mi in 0..self.source.groups[g].group_memberships.len() {
                    if !self.rng.random_bool(MOVED_CLASS_SHARE) {
                        continue;
                    }
                    let left = REFERENCE_DATE.pred_opt().unwrap_or(REFERENCE_DATE);
                    let membership = &mut self.source.groups[g].group_memberships[mi];
                    membership.start_date = Some(REFERENCE_DATE);
                    let ended = GroupMembership {
                        person: membership.person.clone(),
                        start_date: Some(TERM_START),
                        end_date: Some(left),
                    };
                    self.source.groups[other].group_memberships.push(ended);
                }
            }
        }
        if eligible {
            self.eligible.classes.extend(&groups);
        }
        groups
    }

    pub(super) fn fill_unit(&mut self, unit: usize, plan: &UnitPlan) {
        let students = plan.students();
        // Staff first, as school systems list them.
        self.staff(unit, DutyRole::Rektor);
        self.staff(unit, DutyRole::Skoladministrator);
        if students >= 150 {
            self.staff(unit, DutyRole::Kurator);
        }
        if students >= 250 {
            self.staff(unit, DutyRole::Speciallarare);
        }
        if students >= 600 {
            self.staff(unit, DutyRole::OvrigArbetsledning);
        }
        for _ in 0..(1 + students / 400) {
            self.staff(unit, DutyRole::AnnanPersonal);
        }
        let teachers = (students.div_ceil(STUDENTS_PER_TEACHER)).max(2);
        for _ in 0..teachers {
            let d = self.staff(unit, DutyRole::Larare);
            self.units[unit].teacher_duties.push(d);
        }

        // Each school tests one natural-science and one social-science
        // subject in year 9.
        let no = curriculum::NO_SUBJECTS[self.rng.random_range(0..curriculum::NO_SUBJECTS.len())];
        let so = curriculum::SO_SUBJECTS[self.rng.random_range(0..curriculum::SO_SUBJECTS.len())];

        for &(cohort, count) in &plan.cohorts {
            if count == 0 {
                continue;
            }
            match cohort {
                Cohort::Gy(year) => self.gy_cohort(unit, year, count, students),
                _ => self.gr_cohort(unit, cohort, count, no, so),
            }
        }
    }

    pub(super) fn gr_cohort(
        &mut self,
        unit: usize,
        cohort: Cohort,
        count: usize,
        no: Subject,
        so: Subject,
    ) {
        let year = match cohort {
            Cohort::Gr(y) => y,
            _ => 0,
        };
        let n_classes = count.div_ceil(GR_CLASS_SIZE).max(1);
        let sizes = split_even(count, n_classes);
        let mut class_names = Vec::with_capacity(n_classes);
        let mut class_members: Vec<Vec<usize>> = Vec::with_capacity(n_classes);
        let mut class_sva: Vec<Vec<bool>> = Vec::with_capacity(n_classes);
        for (ci, &size) in sizes.iter().enumerate() {
            let prefix = if year == 0 {
                "F".to_string()
            } else {
                year.to_string()
            };
            class_names.push(format!("{prefix}{}", names::class_letter(ci)));
            let mut members = Vec::with_capacity(size);
            let mut sva = Vec::with_capacity(size);
            for _ in 0..size {
                let (p, s) = self.student(unit, cohort, None);
                members.push(p);
                sva.push(s);
            }
            class_members.push(members);
            class_sva.push(sva);
        }
        let school_type = if year == 0 {
            Ss12000SchoolType::Fklass
        } else {
            Ss12000SchoolType::Gr
        };
        self.classes(unit, &class_names, &class_members, school_type, year > 0);
        if year == 0 {
            return;
        }

        let tested: Vec<Subject> = curriculum::gr_test_subjects(year)
            .iter()
            .copied()
            .filter(|s| {
                year != 9
                    || !(curriculum::NO_SUBJECTS.contains(s) || curriculum::SO_SUBJECTS.contains(s))
                    || *s == no
                    || *s == so
            })
            .collect();
        let mut sva_members = Vec::new();
        for ci in 0..class_names.len() {
            let class = class_names[ci].clone();
            let all = class_members[ci].clone();
            let not_sva: Vec<usize> = all
                .iter()
                .zip(&class_sva[ci])
                .filter(|(_, s)| !**s)
                .map(|(p, _)| *p)
                .collect();
            sva_members.extend(
                all.iter()
                    .zip(&class_sva[ci])
                    .filter(|(_, s)| **s)
                    .map(|(p, _)| *p),
            );

            // Untested subjects: PE for everyone, crafts in years 5–6, and
            // mentor groups (no activity) in years 7–9.
            self.untested_gr_group(unit, &class, curriculum::IDH, year, &all);
            if (5..=6).contains(&year) {
                self.untested_gr_group(unit, &class, curriculum::SLJ, year, &all);
            }
            if year >= 7 {
                self.group(
                    unit,
                    format!("Mentorsgrupp {class}"),
                    GroupType::Mentor,
                    Ss12000SchoolType::Gr,
                    &all,
                );
            }
            for subject in &tested {
                if *subject == curriculum::SVA {
                    continue;
                }
                let members = if *subject == curriculum::SVE {
                    &not_sva
                } else {
                    &all
                };
                self.tested_gr_group(
                    unit,
                    format!("{class} {}", subject.designation),
                    *subject,
                    year,
                    members,
                );
            }
        }
        if tested.contains(&curriculum::SVA) && !sva_members.is_empty() {
            self.tested_gr_group(
                unit,
                format!("{year} SVA"),
                curriculum::SVA,
                year,
                &sva_members,
            );
        }
    }

    pub(super) fn untested_gr_group(
        &mut self,
        unit: usize,
        class: &str,
        subject: Subject,
        year: u8,
        members: &[usize],
    ) {
        let g = self.group(
            unit,
            format!("{class} {}", subject.designation),
            GroupType::Undervisning,
            Ss12000SchoolType::Gr,
            members,
        );
        let syllabus = self.gr_syllabus(subject, year);
        self.activity(unit, format!("{} {class}", subject.name), g, syllabus, None);
    }

    pub(super) fn tested_gr_group(
        &mut self,
        unit: usize,
        name: String,
        subject: Subject,
        year: u8,
        members: &[usize],
    ) {
        let g = self.group(
            unit,
            name.clone(),
            GroupType::Undervisning,
            Ss12000SchoolType::Gr,
            members,
        );
        let syllabus = self.gr_syllabus(subject, year);
        let test = TestActivityName::for_subject_and_year(subject.code, year);
        self.activity(
            unit,
            format!("{} {name}", subject.name),
            g,
            syllabus,
            Some(test),
        );
    }

    pub(super) fn gy_cohort(&mut self, unit: usize, year: u8, count: usize, unit_students: usize) {
        // A unit offers a handful of orientations, more the larger it is;
        // the first unit has the largest programmes.
        let offered_count = (unit_students / 80).clamp(3, ORIENTATIONS.len());
        let start = self.units[unit].ordinal * 3;
        let offered: Vec<&Orientation> = (0..offered_count)
            .map(|i| &ORIENTATIONS[(start + i) % ORIENTATIONS.len()])
            .collect();
        let weights: Vec<f64> = offered.iter().map(|o| f64::from(o.weight)).collect();
        let parts = apportion(count, &weights);
        // Class names carry the programme and the start year: NA26A.
        let start_year = (REFERENCE_DATE.year() - i32::from(year) + 1) % 100;
        let mut letters: HashMap<&str, usize> = HashMap::new();
        let mut sva_groups: Vec<(Course, Vec<usize>)> = Vec::new();
        for (o, &n) in offered.iter().zip(&parts) {
            if n == 0 {
                continue;
            }
            let n_classes = n.div_ceil(GY_CLASS_SIZE).max(1);
            for size in split_even(n, n_classes) {
                if size == 0 {
                    continue;
                }
                let letter_index = letters.entry(o.programme).or_insert(0);
                let class = format!(
                    "{}{start_year:02}{}",
                    o.programme,
                    names::class_letter(*letter_index)
                );
                *letter_index += 1;
                let mut members = Vec::with_capacity(size);
                let mut not_sva = Vec::with_capacity(size);
                let mut sva = Vec::new();
                for _ in 0..size {
                    let (p, s) = self.student(unit, Cohort::Gy(year), Some(o));
                    members.push(p);
                    if s { sva.push(p) } else { not_sva.push(p) }
                }
                self.classes(
                    unit,
                    std::slice::from_ref(&class),
                    std::slice::from_ref(&members),
                    Ss12000SchoolType::Gy,
                    true,
                );
                self.group(
                    unit,
                    format!("Mentorsgrupp {class}"),
                    GroupType::Mentor,
                    Ss12000SchoolType::Gy,
                    &members,
                );
                for (course, sva_course) in curriculum::gy_courses(o, year) {
                    let group_members = if sva_course.is_some() {
                        &not_sva
                    } else {
                        &members
                    };
                    self.gy_group(
                        unit,
                        format!("{class} {}", course.code),
                        course,
                        group_members,
                    );
                    if let Some(alt) = sva_course {
                        match sva_groups.iter_mut().find(|(c, _)| *c == alt) {
                            Some((_, m)) => m.extend(&sva),
                            None => sva_groups.push((alt, sva.clone())),
                        }
                    }
                }
            }
        }
        for (course, members) in sva_groups {
            if !members.is_empty() {
                self.gy_group(
                    unit,
                    format!("{} {start_year:02}", course.code),
                    course,
                    &members,
                );
            }
        }
    }

    pub(super) fn gy_group(
        &mut self,
        unit: usize,
        name: String,
        course: Course,
        members: &[usize],
    ) {
        let g = self.group(
            unit,
            name,
            GroupType::Undervisning,
            Ss12000SchoolType::Gy,
            members,
        );
        let syllabus = self.gy_syllabus(course);
        let test = course
            .tested
            .then(|| TestActivityName::for_course(course.code));
        let activity_name = format!("{} {}", course.name, self.source.groups[g].display_name);
        self.activity(unit, activity_name, g, syllabus, test);
    }
}
