//! The Skolverket layout: the four sheets of Skolverket's file-upload
//! template, holding only what the provtjänst takes and what is current on
//! the reference date (see the parent module for the columns).
//!
//! The rows are built once, as text ([`TemplateRows`]), and written either
//! as CSV files here or as the template workbook (`xlsx_export`), so both
//! describe one municipality the same way.
//!
//! Built in three steps: which test activity each teaching group leads to
//! (and which groups each teacher teaches), then the class and group rows
//! (noting each pupil's class and groups), then the enrolment and duty rows
//! that refer to them.

use skolsync_model::ss12000::Syllabus;
use skolsync_model::template::{
    CLASSES_HEADER, CLASSES_SHEET, STAFF_HEADER, STAFF_SHEET, STUDENTS_HEADER, STUDENTS_SHEET,
    SUBJECT_GROUPS_HEADER, SUBJECT_GROUPS_SHEET,
};
use uuid::Uuid;

use super::*;

/// The data rows of the template's four sheets, each row in its sheet's
/// header order, every field as the text a school would type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateRows {
    /// *Klasser*.
    pub classes: Vec<Vec<String>>,
    /// *Ämnesgrupp & provaktiviteter*.
    pub subject_groups: Vec<Vec<String>>,
    /// *Elevinskrivningar*.
    pub students: Vec<Vec<String>>,
    /// *Personalstjänstgöringar*.
    pub staff: Vec<Vec<String>>,
}

/// One sheet of [`TemplateRows`]: its name, header and rows.
pub(crate) struct TemplateSheet<'r> {
    pub name: &'static str,
    pub header: &'static [&'static str],
    pub rows: &'r [Vec<String>],
}

impl TemplateRows {
    /// The rows of `m` with personnummer in `civic_no_format`.
    pub(crate) fn build(m: &Municipality, civic_no_format: CivicNoFormat) -> Self {
        let unit_code: HashMap<&str, &str> = m
            .source
            .organisations
            .iter()
            .filter_map(|o| Some((o.id.as_str(), o.school_unit_code.as_deref()?)))
            .collect();
        let cx = Context {
            m,
            civic_no_format,
            unit_code,
            tests: TestLinks::new(m),
        };
        let (classes, subject_groups, members) = cx.groups();
        TemplateRows {
            classes,
            subject_groups,
            students: cx.enrolments(&members),
            staff: cx.duties(),
        }
    }

    /// The four sheets in the template's order (`template::SHEETS`).
    pub(crate) fn sheets(&self) -> [TemplateSheet<'_>; 4] {
        [
            TemplateSheet {
                name: CLASSES_SHEET,
                header: &CLASSES_HEADER,
                rows: &self.classes,
            },
            TemplateSheet {
                name: SUBJECT_GROUPS_SHEET,
                header: &SUBJECT_GROUPS_HEADER,
                rows: &self.subject_groups,
            },
            TemplateSheet {
                name: STUDENTS_SHEET,
                header: &STUDENTS_HEADER,
                rows: &self.students,
            },
            TemplateSheet {
                name: STAFF_SHEET,
                header: &STAFF_HEADER,
                rows: &self.staff,
            },
        ]
    }
}

/// Writes the Skolverket layout: one CSV file per sheet, named after it.
pub(super) fn skolverket(
    m: &Municipality,
    dir: &Path,
    options: &CsvOptions,
) -> Result<Vec<PathBuf>, CsvExportError> {
    let rows = TemplateRows::build(m, options.civic_no_format);
    let files = [
        SKOLVERKET_CLASSES_FILE,
        SKOLVERKET_GROUPS_FILE,
        SKOLVERKET_ENROLMENTS_FILE,
        SKOLVERKET_DUTIES_FILE,
    ];
    let mut written = Vec::with_capacity(files.len());
    for (file, sheet) in files.into_iter().zip(rows.sheets()) {
        let mut out = Sheet::create(dir, file, sheet.header, options)?;
        for row in sheet.rows {
            out.row(row)?;
        }
        written.push(out.finish()?);
    }
    Ok(written)
}

/// Which test activity each teaching group leads to, and which groups each
/// duty teaches, read off the activities.
struct TestLinks<'m> {
    group_test: HashMap<&'m str, String>,
    duty_groups: HashMap<&'m str, Vec<&'m str>>,
}

impl<'m> TestLinks<'m> {
    fn new(m: &'m Municipality) -> Self {
        let test_by_id: HashMap<Uuid, &str> = m
            .catalogue
            .test_activities
            .iter()
            .map(|a| (a.id, a.display_name.as_str()))
            .collect();
        let test_names: HashSet<&str> = test_by_id.values().copied().collect();
        let syllabuses: HashMap<&str, &Syllabus> = m
            .source
            .syllabuses
            .iter()
            .map(|s| (s.id.as_str(), s))
            .collect();
        let mut links = TestLinks {
            group_test: HashMap::new(),
            duty_groups: HashMap::new(),
        };
        for a in &m.source.activities {
            let from_parent = a
                .parent_activity
                .iter()
                .find_map(|p| {
                    Uuid::parse_str(p.id.as_str())
                        .ok()
                        .and_then(|id| test_by_id.get(&id))
                })
                .map(|name| (*name).to_string());
            let from_syllabus = || {
                let s = syllabuses.get(a.syllabus.as_ref()?.id.as_str())?;
                let name = match (&s.course_code, &s.subject_code, s.end_school_year) {
                    (Some(course), _, _) => course.clone(),
                    (None, Some(subject), Some(year)) => format!("{subject}_{year}"),
                    _ => return None,
                };
                test_names.contains(name.as_str()).then_some(name)
            };
            let Some(test) = from_parent.or_else(from_syllabus) else {
                continue;
            };
            for g in &a.groups {
                links
                    .group_test
                    .entry(g.id.as_str())
                    .or_insert_with(|| test.clone());
            }
            for t in &a.teachers {
                if let Some(d) = &t.duty {
                    let list = links.duty_groups.entry(d.id.as_str()).or_default();
                    list.extend(a.groups.iter().map(|g| g.id.as_str()));
                }
            }
        }
        links
    }
}

/// Per person: active memberships of exported classes (with the unit) and
/// of exported teaching groups.
#[derive(Default)]
struct Memberships<'m> {
    class_of: HashMap<&'m str, Vec<(&'m str, &'m str)>>,
    groups_of: HashMap<&'m str, Vec<&'m str>>,
}

/// The rows of one sheet.
type Rows = Vec<Vec<String>>;

fn row(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| (*f).to_string()).collect()
}

/// What every sheet of the layout needs.
struct Context<'m> {
    m: &'m Municipality,
    civic_no_format: CivicNoFormat,
    unit_code: HashMap<&'m str, &'m str>,
    tests: TestLinks<'m>,
}

impl<'m> Context<'m> {
    fn code_of(&self, org: &SourceId) -> &'m str {
        self.unit_code.get(org.as_str()).copied().unwrap_or("")
    }

    /// The class and teaching-group rows.
    fn groups(&self) -> (Rows, Rows, Memberships<'m>) {
        let day = self.m.reference_date;
        let mut classes = Rows::new();
        let mut groups = Rows::new();
        let mut of = Memberships::default();
        for g in &self.m.source.groups {
            let Some(school_type) = g.school_type.clone().filter(in_profile) else {
                continue;
            };
            let active =
                g.start_date.is_none_or(|s| s <= day) && g.end_date.is_none_or(|e| day <= e);
            if !active {
                continue;
            }
            let members = g.group_memberships.iter().filter(|ms| ms.is_active_on(day));
            let unit = self.code_of(&g.organisation.id);
            match g.group_type {
                GroupType::Klass => {
                    classes.push(row(&[
                        g.id.as_str(),
                        &g.display_name,
                        school_type.as_str(),
                        unit,
                        "",
                    ]));
                    for ms in members {
                        of.class_of
                            .entry(ms.person.id.as_str())
                            .or_default()
                            .push((g.id.as_str(), g.organisation.id.as_str()));
                    }
                }
                GroupType::Undervisning => {
                    let Some(test) = self.tests.group_test.get(g.id.as_str()) else {
                        continue;
                    };
                    groups.push(row(&[
                        g.id.as_str(),
                        &g.display_name,
                        school_type.as_str(),
                        test,
                        unit,
                        "",
                    ]));
                    for ms in members {
                        of.groups_of
                            .entry(ms.person.id.as_str())
                            .or_default()
                            .push(g.id.as_str());
                    }
                }
                _ => {}
            }
        }
        (classes, groups, of)
    }

    /// The enrolment rows: one per active enrolment in the profile.
    fn enrolments(&self, of: &Memberships<'m>) -> Rows {
        let day = self.m.reference_date;
        let mut enrolments = Rows::new();
        for p in &self.m.source.persons {
            for e in p
                .enrolments
                .iter()
                .filter(|e| e.is_active_on(day) && in_profile(&e.school_type))
            {
                let unit = e.enroled_at.id.as_str();
                let classes = of.class_of.get(p.id.as_str());
                let class = classes
                    .and_then(|c| c.iter().find(|(_, u)| *u == unit).or_else(|| c.first()))
                    .map(|(g, _)| *g)
                    .unwrap_or("");
                let subject_groups = of
                    .groups_of
                    .get(p.id.as_str())
                    .map(|g| g.join(","))
                    .unwrap_or_default();
                enrolments.push(row(&[
                    p.id.as_str(),
                    &p.edu_person_principal_names.join(","),
                    &person_civic_no(Some(p), self.civic_no_format),
                    &opt(p.security_marking),
                    &p.given_name,
                    p.middle_name.as_deref().unwrap_or(""),
                    &p.family_name,
                    first_email(p),
                    e.school_type.as_str(),
                    self.code_of(&e.enroled_at.id),
                    &opt(e
                        .school_year
                        .filter(|_| e.school_type != Ss12000SchoolType::Gy)),
                    e.education_code.as_deref().unwrap_or(""),
                    class,
                    &subject_groups,
                    "",
                ]));
            }
        }
        enrolments
    }

    /// The duty rows: one per active duty, with its person's details and
    /// the exported groups it teaches.
    fn duties(&self) -> Rows {
        let day = self.m.reference_date;
        let persons: HashMap<&str, &Person> = self
            .m
            .source
            .persons
            .iter()
            .map(|p| (p.id.as_str(), p))
            .collect();
        let mut duties = Rows::new();
        for d in self.m.source.duties.iter().filter(|d| d.is_active_on(day)) {
            let person = d
                .person
                .as_ref()
                .and_then(|r| persons.get(r.id.as_str()).copied());
            let person_id = d.person.as_ref().map(|r| r.id.as_str()).unwrap_or("");
            let mut taught: Vec<&str> = self
                .tests
                .duty_groups
                .get(d.id.as_str())
                .cloned()
                .unwrap_or_default();
            taught.dedup();
            let field = |f: fn(&Person) -> String| person.map(f).unwrap_or_default();
            duties.push(row(&[
                d.id.as_str(),
                person_id,
                &field(|p| p.edu_person_principal_names.join(",")),
                &field(|p| eduid(p).to_string()),
                &person_civic_no(person, self.civic_no_format),
                &field(|p| opt(p.security_marking)),
                &field(|p| p.given_name.clone()),
                &field(|p| p.middle_name.clone().unwrap_or_default()),
                &field(|p| p.family_name.clone()),
                &field(|p| first_email(p).to_string()),
                self.code_of(&d.duty_at.id),
                &d.duty_role,
                &taught.join(","),
                "",
            ]));
        }
        duties
    }
}
