//! A sandbox municipality read over the EduCloud API, and the same
//! municipality exported to CSV (Skolverket's template and the flat layout)
//! and read back, yield the same entities — compared as the provtjänst
//! profile needs them (see [`View`]).

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use common::*;
use skolsync_connectors::{ReadOptions, SourceConfig, build};
use skolsync_model::codes::{GroupType, SourceSchoolType, Ss12000SchoolType};
use skolsync_model::reject::Severity;
use skolsync_model::ss12000::{Group, Snapshot};
use skolsync_model::{CivicNo, TestActivityName};
use skolsync_sandbox::Catalogue;
use skolsync_sandbox::generate::{self, CsvLayout, CsvOptions, GenerateConfig, REFERENCE_DATE};

/// What the provtjänst profile takes from a source, on the reference day,
/// keyed by what a person recognises rather than by source ids:
///
/// - persons (pupils with an enrolment of a profile school type, and staff
///   with a duty) by normalised personnummer, with given/middle/family
///   name, security marking, EPPNs, first e-mail address, and enrolments
///   as (school unit code, school type, school year except for GY,
///   education code); eduID only for staff;
/// - duties as (personnummer, school unit code, role);
/// - classes, and teaching groups that lead to a national test, as (name,
///   school unit code, type, school type, test activity name, the members'
///   personnummer, the teachers' personnummer).
///
/// Left out because the template has no column for them: ids, timestamps,
/// dates (only what is current is exported), ended records, school types
/// outside the profile, groups without a test, e-mail addresses after the
/// first and their types, programme references, syllabuses and programmes.
#[derive(Debug, PartialEq, Eq)]
struct View {
    persons: Vec<PersonView>,
    duties: Vec<(String, String, String)>,
    groups: Vec<GroupView>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PersonView {
    civic_no: String,
    given: String,
    middle: Option<String>,
    family: String,
    marking: Option<String>,
    eppns: BTreeSet<String>,
    email: Option<String>,
    eduid: Option<String>,
    enrolments: BTreeSet<(String, String, Option<u8>, Option<String>)>,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct GroupView {
    name: String,
    unit: String,
    group_type: String,
    school_type: String,
    test: Option<String>,
    members: BTreeSet<String>,
    teachers: BTreeSet<String>,
}

fn in_profile(t: &SourceSchoolType) -> bool {
    t.profile().is_some()
}

fn active(start: Option<NaiveDate>, end: Option<NaiveDate>, day: NaiveDate) -> bool {
    start.is_none_or(|s| s <= day) && end.is_none_or(|e| day <= e)
}

/// The test activity of each teaching group and the teachers (personnummer)
/// of its activities, as the export finds them.
fn group_tests<'s>(
    s: &'s Snapshot,
    catalogue: &Catalogue,
    civic: &HashMap<&str, String>,
    duty_active: &HashMap<&str, &str>,
) -> (HashMap<&'s str, String>, HashMap<&'s str, BTreeSet<String>>) {
    let tests: HashMap<String, &str> = catalogue
        .test_activities
        .iter()
        .map(|a| (a.id.to_string(), a.display_name.as_str()))
        .collect();
    let syllabus: HashMap<&str, _> = s.syllabuses.iter().map(|y| (y.id.as_str(), y)).collect();
    let mut group_test: HashMap<&str, String> = HashMap::new();
    let mut group_teachers: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for a in &s.activities {
        let from_parent = a
            .parent_activity
            .iter()
            .find_map(|p| tests.get(p.id.as_str()).map(|n| n.to_string()));
        let from_syllabus = || {
            let y = syllabus.get(a.syllabus.as_ref()?.id.as_str())?;
            let name = match (&y.course_code, &y.subject_code, y.end_school_year) {
                (Some(c), _, _) => TestActivityName::for_course(c),
                (None, Some(sub), Some(year)) => TestActivityName::for_subject_and_year(sub, year),
                _ => return None,
            };
            tests
                .values()
                .any(|t| *t == name.as_str())
                .then(|| name.as_str().to_string())
        };
        let Some(test) = from_parent.or_else(from_syllabus) else {
            continue;
        };
        for g in &a.groups {
            group_test
                .entry(g.id.as_str())
                .or_insert_with(|| test.clone());
            let teachers = group_teachers.entry(g.id.as_str()).or_default();
            for t in &a.teachers {
                let person = t.duty.as_ref().and_then(|d| duty_active.get(d.id.as_str()));
                if let Some(c) = person.and_then(|p| civic.get(p)) {
                    teachers.insert(c.clone());
                }
            }
        }
    }
    (group_test, group_teachers)
}

fn view(s: &Snapshot, catalogue: &Catalogue) -> View {
    let day = REFERENCE_DATE;
    let unit: HashMap<&str, &str> = s
        .organisations
        .iter()
        .filter_map(|o| Some((o.id.as_str(), o.school_unit_code.as_deref()?)))
        .collect();
    let unit_of = |id: &str| unit.get(id).copied().unwrap_or("?").to_string();
    let civic: HashMap<&str, String> = s
        .persons
        .iter()
        .filter_map(|p| {
            let c = CivicNo::parse(&p.civic_no.as_ref()?.value).ok()?;
            Some((p.id.as_str(), c.as_str().to_string()))
        })
        .collect();
    let duty_active: HashMap<&str, &str> = s
        .duties
        .iter()
        .filter(|d| d.is_active_on(day))
        .filter_map(|d| Some((d.id.as_str(), d.person.as_ref()?.id.as_str())))
        .collect();

    let (group_test, group_teachers) = group_tests(s, catalogue, &civic, &duty_active);

    let mut students = BTreeSet::new();
    let mut persons = Vec::new();
    let holders: BTreeSet<&str> = duty_active.values().copied().collect();
    for p in &s.persons {
        let enrolments: BTreeSet<_> = p
            .enrolments
            .iter()
            .filter(|e| e.is_active_on(day) && in_profile(&e.school_type))
            .map(|e| {
                (
                    unit_of(e.enroled_at.id.as_str()),
                    e.school_type.as_str().to_string(),
                    e.school_year
                        .filter(|_| e.school_type != Ss12000SchoolType::Gy),
                    e.education_code.clone(),
                )
            })
            .collect();
        let staff = holders.contains(p.id.as_str());
        if enrolments.is_empty() && !staff {
            continue;
        }
        if !enrolments.is_empty() {
            students.insert(p.id.as_str());
        }
        persons.push(PersonView {
            civic_no: civic.get(p.id.as_str()).cloned().unwrap_or_default(),
            given: p.given_name.clone(),
            middle: p.middle_name.clone(),
            family: p.family_name.clone(),
            marking: p.security_marking.map(|m| m.as_str().to_string()),
            eppns: p.edu_person_principal_names.iter().cloned().collect(),
            email: p.emails.first().map(|e| e.value.clone()),
            eduid: staff
                .then(|| {
                    p.external_identifiers
                        .iter()
                        .find(|x| x.context.trim_end_matches('/') == "https://eduid.se")
                        .map(|x| x.value.clone())
                })
                .flatten(),
            enrolments,
        });
    }
    persons.sort();

    let mut duties: Vec<_> = s
        .duties
        .iter()
        .filter(|d| d.is_active_on(day))
        .filter_map(|d| {
            let c = civic.get(d.person.as_ref()?.id.as_str())?;
            Some((
                c.clone(),
                unit_of(d.duty_at.id.as_str()),
                d.duty_role.clone(),
            ))
        })
        .collect();
    duties.sort();

    let keep = |g: &Group| {
        let typed = match g.group_type {
            GroupType::Klass => true,
            GroupType::Undervisning => group_test.contains_key(g.id.as_str()),
            _ => false,
        };
        typed
            && active(g.start_date, g.end_date, day)
            && g.school_type.as_ref().is_some_and(in_profile)
    };
    let mut groups: Vec<GroupView> = s
        .groups
        .iter()
        .filter(|g| keep(g))
        .map(|g| GroupView {
            name: g.display_name.clone(),
            unit: unit_of(g.organisation.id.as_str()),
            group_type: g.group_type.as_str().to_string(),
            school_type: g
                .school_type
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            test: group_test.get(g.id.as_str()).cloned(),
            members: g
                .group_memberships
                .iter()
                .filter(|m| m.is_active_on(day) && students.contains(m.person.id.as_str()))
                .filter_map(|m| civic.get(m.person.id.as_str()).cloned())
                .collect(),
            teachers: if g.group_type == GroupType::Undervisning {
                group_teachers
                    .get(g.id.as_str())
                    .cloned()
                    .unwrap_or_default()
            } else {
                BTreeSet::new()
            },
        })
        .collect();
    groups.sort();
    View {
        persons,
        duties,
        groups,
    }
}

#[tokio::test]
async fn csv_exports_read_back_the_same_as_the_educloud_api() {
    let sandbox = sandbox(400, |c| c.seed = 11).await;
    let (api, rejects, _) = read_all(
        source(&educloud_toml(&sandbox, "page_size = 150")).as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap();
    assert!(rejects.is_empty());
    let catalogue = sandbox.world().catalogue.clone();
    let expected = view(&api, &catalogue);
    assert!(expected.persons.len() > 400 && expected.duties.len() > 10);
    assert!(
        expected
            .groups
            .iter()
            .any(|g| g.test.is_some() && !g.teachers.is_empty())
    );

    // The same municipality (same seed and size) as files.
    let m = generate::generate(&GenerateConfig {
        students: 400,
        seed: 11,
        ..GenerateConfig::default()
    });
    let template = tempfile::tempdir().unwrap();
    generate::export_csv(&m, template.path(), &CsvOptions::default()).unwrap();
    let config: SourceConfig = toml::from_str(
        "kind = \"csv\"\nlayout = \"skolverket-template\"\nclasses = \"Klasser.csv\"\n\
         subject_groups = \"Ämnesgrupp & provaktiviteter.csv\"\nstudents = \"Elevinskrivningar.csv\"\n\
         staff = \"Personalstjänstgöringar.csv\"\n",
    )
    .unwrap();
    let (from_template, rejects, _) = read_all(
        build(&config, &skolsync_model::BuildContext::new(template.path()))
            .unwrap()
            .as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        rejects.iter().all(|r| r.severity == Severity::Warning),
        "{rejects:#?}"
    );
    let got = view(&from_template, &catalogue);
    assert_eq!(got.persons, expected.persons);
    assert_eq!(got.duties, expected.duties);
    assert_eq!(got.groups, expected.groups);

    let flat = tempfile::tempdir().unwrap();
    generate::export_csv(
        &m,
        flat.path(),
        &CsvOptions {
            layout: CsvLayout::Flat,
            ..CsvOptions::default()
        },
    )
    .unwrap();
    let config: SourceConfig =
        toml::from_str("kind = \"csv\"\nlayout = \"flat\"\ndir = \".\"\n").unwrap();
    let (from_flat, rejects, _) = read_all(
        build(&config, &skolsync_model::BuildContext::new(flat.path()))
            .unwrap()
            .as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap();
    assert!(rejects.is_empty(), "{rejects:#?}");
    assert_eq!(view(&from_flat, &catalogue), expected);
    // The flat layout holds everything, not only the profile's share.
    assert_eq!(from_flat.persons.len(), api.persons.len());
    assert_eq!(from_flat.activities.len(), api.activities.len());
}
