//! The synthetic municipality: determinism, scale, validity by the
//! provtjänst profile rules, dirt that is exactly what it claims, and the
//! CSV layouts.
//!
//! Expected values (header columns, Skolverket's UUIDs) are written out here
//! rather than taken from the generator, so the tests check it against the
//! specs, not against itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

use skolsync_model::civic_no::{CivicNo, CivicNoError, CivicNoKind};
use skolsync_model::codes::{EmailType, GroupType, SecurityMarking, Ss12000SchoolType};
use skolsync_model::open_data::Status;
use skolsync_model::ss12000::{self, EntityKind, Person, SourceId};
use skolsync_sandbox::generate::{
    CivicNoFormat, CsvEncoding, CsvLayout, CsvOptions, DirtKind, DirtyRecord, GenerateConfig,
    Municipality, REFERENCE_DATE, export_csv, generate,
};
use uuid::Uuid;

fn config(students: usize, seed: u64, dirt: f64) -> GenerateConfig {
    GenerateConfig {
        students,
        seed,
        dirt,
        ..GenerateConfig::default()
    }
}

fn nil_v5(name: &str) -> Uuid {
    Uuid::new_v5(&Uuid::nil(), name.as_bytes())
}

/// Everything generated, as JSON text (civic numbers in full).
fn fingerprint(m: &Municipality) -> String {
    let s = &m.source;
    let mut overrides: Vec<String> = s
        .raw_overrides
        .iter()
        .map(|((k, id), v)| format!("{k}/{id}/{v}"))
        .collect();
    overrides.sort();
    serde_json::json!({
        "name": m.name,
        "orgNumber": m.organisation_number,
        "organisations": s.organisations,
        "persons": s.persons,
        "duties": s.duties,
        "groups": s.groups,
        "activities": s.activities,
        "syllabuses": s.syllabuses,
        "programmes": s.programmes,
        "deleted": s.deleted.iter().map(|d| format!("{}/{}/{}", d.kind, d.id, d.at)).collect::<Vec<_>>(),
        "overrides": overrides,
        "catalogue": {
            "organisations": m.catalogue.organisations,
            "schoolUnits": m.catalogue.school_units,
            "programmes": m.catalogue.programmes,
            "testActivities": m.catalogue.test_activities,
        },
        "dirty": m.dirty.iter().map(|d| format!("{}/{}/{:?}", d.kind, d.id, d.fault)).collect::<Vec<_>>(),
    })
    .to_string()
}

fn is_student(p: &Person) -> bool {
    !p.enrolments.is_empty()
}

fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                (d * 2) / 10 + (d * 2) % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Skolverket's EPPN check (error 3047): the first three letters of the
/// family name, or the first two of the family name and of the given name.
fn eppn_reveals_name(eppn: &str, given: &str, family: &str) -> bool {
    let eppn = eppn.to_lowercase();
    let f: Vec<char> = family.to_lowercase().chars().collect();
    let g: Vec<char> = given.to_lowercase().chars().collect();
    (f.len() >= 3 && eppn.contains(&f[..3].iter().collect::<String>()))
        || (f.len() >= 2
            && g.len() >= 2
            && eppn.contains(&f[..2].iter().chain(&g[..2]).collect::<String>()))
}

// ---------------------------------------------------------------------------
// Determinism and scale

#[test]
fn same_seed_gives_identical_data_and_another_seed_does_not() {
    let a = generate(&config(600, 42, 0.05));
    let b = generate(&config(600, 42, 0.05));
    assert_eq!(fingerprint(&a), fingerprint(&b));

    let c = generate(&config(600, 43, 0.05));
    assert_ne!(fingerprint(&a), fingerprint(&c));
    let ids_a: HashSet<&str> = a.source.persons.iter().map(|p| p.id.as_str()).collect();
    assert!(
        c.source
            .persons
            .iter()
            .all(|p| !ids_a.contains(p.id.as_str()))
    );
}

#[test]
fn dirt_leaves_the_clean_records_as_they_were() {
    let clean = generate(&config(500, 7, 0.0));
    let dirty = generate(&config(500, 7, 0.1));
    let broken: HashSet<&str> = dirty.dirty.iter().map(|d| d.id.as_str()).collect();
    assert!(!broken.is_empty());
    for (c, d) in clean.source.persons.iter().zip(&dirty.source.persons) {
        if !broken.contains(c.id.as_str()) {
            assert_eq!(c, d);
        }
    }
    assert_eq!(clean.source.persons.len(), dirty.source.persons.len());
}

#[test]
fn counts_follow_the_number_of_students() {
    for n in [50, 400, 1600] {
        let m = generate(&config(n, 1, 0.0));
        let students = m.source.persons.iter().filter(|p| is_student(p)).count();
        assert_eq!(students, n, "students for {n}");
        let staff: HashSet<&str> = m
            .source
            .duties
            .iter()
            .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str()))
            .collect();
        assert_eq!(staff.len() + students, m.source.persons.len());
        assert!(staff.len() >= n / 15, "teachers for {n}: {}", staff.len());
    }
    let small = generate(&config(200, 1, 0.0));
    let large = generate(&config(2000, 1, 0.0));
    let units = |m: &Municipality| {
        m.source
            .organisations
            .iter()
            .filter(|o| o.school_unit_code.is_some())
            .count()
    };
    assert!(
        units(&large) > units(&small),
        "{} vs {}",
        units(&large),
        units(&small)
    );
    // Small units still have one class per year, so groups grow slower
    // than pupils; memberships grow with them.
    assert!(large.source.groups.len() > 3 * small.source.groups.len());
    assert!(large.source.activities.len() > 3 * small.source.activities.len());
    let memberships = |m: &Municipality| {
        m.source
            .groups
            .iter()
            .map(|g| g.group_memberships.len())
            .sum::<usize>()
    };
    let ratio = memberships(&large) as f64 / memberships(&small) as f64;
    assert!((8.0..12.0).contains(&ratio), "memberships grew {ratio}×");
    // Roughly one unit per 300–400 pupils (plus two extra catalogue units).
    let n = units(&large) - 2;
    assert!((4..=8).contains(&n), "{n} units for 2000 pupils");
}

#[test]
fn school_types_units_and_programmes_look_like_a_municipality() {
    let m = generate(&config(2000, 3, 0.0));
    let codes: Vec<&str> = m
        .source
        .organisations
        .iter()
        .filter_map(|o| o.school_unit_code.as_deref())
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_digit()))
    );
    assert_eq!(codes.len(), codes.iter().collect::<HashSet<_>>().len());

    let mut years: HashMap<Ss12000SchoolType, BTreeSet<u8>> = HashMap::new();
    for p in &m.source.persons {
        for e in &p.enrolments {
            years
                .entry(e.school_type.known().expect("a known school type"))
                .or_default()
                .extend(e.school_year);
        }
    }
    assert_eq!(years[&Ss12000SchoolType::Fklass], BTreeSet::from([0]));
    assert_eq!(years[&Ss12000SchoolType::Gr], (1..=9).collect());
    assert_eq!(years[&Ss12000SchoolType::Gy], (1..=3).collect());

    let education_codes: HashSet<&str> = m
        .source
        .persons
        .iter()
        .flat_map(|p| &p.enrolments)
        .filter_map(|e| e.education_code.as_deref())
        .collect();
    for code in ["NANAT", "SASAM", "EKEKO", "TETEK"] {
        assert!(
            education_codes.contains(code),
            "{code} missing in {education_codes:?}"
        );
    }
    let class_names: HashSet<&str> = m
        .source
        .groups
        .iter()
        .filter(|g| g.group_type == GroupType::Klass)
        .map(|g| g.display_name.as_str())
        .collect();
    assert!(class_names.contains("6B"), "{class_names:?}");
    assert!(class_names.contains("FA"));
    assert!(class_names.contains("NA26A"));
}

// ---------------------------------------------------------------------------
// Persons

#[test]
fn civic_numbers_are_valid_unique_and_match_the_school_year() {
    let m = generate(&config(2000, 11, 0.0));
    let mut seen = HashSet::new();
    let mut kinds: HashMap<CivicNoKind, usize> = HashMap::new();
    for p in &m.source.persons {
        let raw = p
            .civic_no
            .as_ref()
            .expect("every person has a civic number");
        assert_eq!(raw.nationality.as_deref(), Some("SE"));
        assert_eq!(raw.value.len(), 12);
        let civic = CivicNo::parse(&raw.value).unwrap_or_else(|e| panic!("{}: {e}", p.id));
        assert_eq!(civic.as_str(), raw.value, "already normalised");
        assert!(seen.insert(raw.value.clone()), "duplicate civic number");
        *kinds.entry(civic.kind()).or_default() += 1;
        if civic.kind() == CivicNoKind::Temporary {
            assert_eq!(&raw.value[8..10], "TF");
        }
        // Year 1 pupils turn 7 in 2026, give or take a year.
        for e in p
            .enrolments
            .iter()
            .filter(|e| e.is_active_on(REFERENCE_DATE))
        {
            let step = match e.school_type.known().expect("a known school type") {
                Ss12000SchoolType::Gy => 9 + i32::from(e.school_year.unwrap_or(0)),
                _ => i32::from(e.school_year.unwrap_or(0)),
            };
            let expected = 2020 - step;
            let born = chrono::Datelike::year(&civic.birth_date());
            assert!(
                (expected - 1..=expected + 1).contains(&born),
                "born {born}, expected about {expected}"
            );
        }
    }
    assert!(kinds[&CivicNoKind::Samordningsnummer] >= 5, "{kinds:?}");
    assert!(kinds[&CivicNoKind::Temporary] >= 1, "{kinds:?}");
    assert!(kinds[&CivicNoKind::Personnummer] > 2000);
}

#[test]
fn names_markings_eppns_and_emails_follow_the_profile() {
    let m = generate(&config(2000, 5, 0.0));
    let staff: HashSet<&str> = m
        .source
        .duties
        .iter()
        .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str()))
        .collect();
    let mut eppns = HashSet::new();
    let mut letters = String::new();
    let (mut middle, mut protected, mut confidential, mut eduid) = (0, 0, 0, 0);
    for p in &m.source.persons {
        assert_eq!(p.edu_person_principal_names.len(), 1, "exactly one EPPN");
        let eppn = &p.edu_person_principal_names[0];
        assert!(eppn.ends_with("@edu.exempelby.se"), "{eppn}");
        assert!(eppns.insert(eppn.clone()), "EPPN used twice");
        assert!(
            !eppn_reveals_name(eppn, &p.given_name, &p.family_name),
            "{eppn} reveals the name"
        );
        let is_staff = staff.contains(p.id.as_str());
        assert_ne!(is_staff, is_student(p), "a person is either pupil or staff");
        let wanted = if is_staff {
            EmailType::SkolaPersonal
        } else {
            EmailType::SkolaElev
        };
        assert_eq!(p.emails.len(), 1);
        assert_eq!(p.emails[0].email_type, Some(wanted));
        assert!(p.emails[0].value.contains('@') && p.emails[0].value.is_ascii());
        middle += usize::from(p.middle_name.is_some());
        protected += usize::from(p.security_marking == Some(SecurityMarking::SkyddadFolkbokforing));
        confidential +=
            usize::from(p.security_marking == Some(SecurityMarking::Sekretessmarkering));
        if let Some(e) = p.external_identifiers.first() {
            assert!(is_staff);
            assert_eq!(e.context, "https://eduid.se");
            assert!(e.value.ends_with("@eduid.se"));
            eduid += 1;
        }
        letters.push_str(&p.given_name);
        letters.push_str(&p.family_name);
    }
    for c in ['å', 'ä', 'ö', 'Å', 'Ö'] {
        assert!(letters.contains(c), "no {c} in any name");
    }
    assert!(middle > 50 && protected >= 1 && confidential >= 5 && eduid >= 1);
}

// ---------------------------------------------------------------------------
// References and the catalogue

#[test]
fn every_reference_resolves_and_every_code_is_known_without_dirt() {
    let m = generate(&config(1500, 9, 0.0));
    let s = &m.source;
    assert!(m.dirty.is_empty());
    assert!(s.raw_overrides.is_empty());
    let persons: HashSet<&str> = s.persons.iter().map(|p| p.id.as_str()).collect();
    let duties: HashSet<&str> = s.duties.iter().map(|d| d.id.as_str()).collect();
    let groups: HashSet<&str> = s.groups.iter().map(|g| g.id.as_str()).collect();
    let syllabuses: HashSet<&str> = s.syllabuses.iter().map(|x| x.id.as_str()).collect();
    let programmes: HashSet<&str> = s.programmes.iter().map(|x| x.id.as_str()).collect();
    let orgs: HashMap<&str, &ss12000::Organisation> =
        s.organisations.iter().map(|o| (o.id.as_str(), o)).collect();
    let catalogue_units: HashMap<String, &skolsync_model::open_data::SchoolUnit> = m
        .catalogue
        .school_units
        .iter()
        .map(|u| (u.id.to_string(), u))
        .collect();
    let tests: HashSet<String> = m
        .catalogue
        .test_activities
        .iter()
        .map(|a| a.id.to_string())
        .collect();
    let programme_codes: HashSet<&str> = m
        .catalogue
        .programmes
        .iter()
        .map(|p| p.education_code.as_str())
        .collect();

    // A source organisation reference must be a school unit that open-data
    // lists as active and in the provtjänst.
    let active_unit = |id: &SourceId| {
        let org = orgs
            .get(id.as_str())
            .unwrap_or_else(|| panic!("no organisation {id}"));
        let code = org.school_unit_code.as_deref().expect("a school unit");
        let unit = catalogue_units[&nil_v5(code).to_string()];
        assert_eq!(unit.school_unit_code, code);
        assert_eq!(unit.status, Some(Status::Active));
        assert_eq!(unit.dnp_status, Some(true));
    };

    for p in &s.persons {
        for e in p
            .enrolments
            .iter()
            .filter(|e| e.is_active_on(REFERENCE_DATE))
        {
            active_unit(&e.enroled_at.id);
            match e.school_type.known().expect("a known school type") {
                Ss12000SchoolType::Gr => assert!((1..=9).contains(&e.school_year.unwrap())),
                Ss12000SchoolType::Gy => {
                    assert!(programme_codes.contains(e.education_code.as_deref().unwrap()));
                    assert!(programmes.contains(e.programme.as_ref().unwrap().id.as_str()));
                }
                Ss12000SchoolType::Fklass => assert_eq!(e.school_year, Some(0)),
                other => panic!("unexpected school type {other}"),
            }
        }
    }
    for d in &s.duties {
        assert!(persons.contains(d.person.as_ref().unwrap().id.as_str()));
        active_unit(&d.duty_at.id);
        assert!(
            d.duty_role
                .parse::<skolsync_model::codes::DutyRole>()
                .is_ok(),
            "{}",
            d.duty_role
        );
    }
    let mut ended = 0;
    for g in &s.groups {
        active_unit(&g.organisation.id);
        for ms in &g.group_memberships {
            assert!(persons.contains(ms.person.id.as_str()));
            if ms.end_date.is_some_and(|e| e < REFERENCE_DATE) {
                ended += 1;
            }
        }
    }
    assert!(ended >= 1, "some memberships have ended");
    let mut with_parent = 0;
    for a in &s.activities {
        active_unit(&a.organisation.id);
        assert!(a.groups.iter().all(|g| groups.contains(g.id.as_str())));
        assert!(!a.teachers.is_empty());
        assert!(
            a.teachers
                .iter()
                .all(|t| duties.contains(t.duty.as_ref().unwrap().id.as_str()))
        );
        assert!(syllabuses.contains(a.syllabus.as_ref().unwrap().id.as_str()));
        for p in &a.parent_activity {
            assert!(
                tests.contains(p.id.as_str()),
                "parentActivity {} is not a test activity",
                p.id
            );
            with_parent += 1;
        }
    }
    assert!(with_parent > 0);
}

#[test]
fn catalogue_ids_are_skolverkets_uuids() {
    let m = generate(&config(800, 2, 0.0));
    let names: HashMap<&str, &skolsync_model::open_data::TestActivity> = m
        .catalogue
        .test_activities
        .iter()
        .map(|a| (a.display_name.as_str(), a))
        .collect();
    assert_eq!(
        names["GRGRMAT01_6"].id.to_string(),
        "b229977a-7bd3-58ad-b7a2-3fdc774840fd"
    );
    for name in [
        "GRGRMAT01_3",
        "GRGRSVE01_3",
        "GRGRMAT01_6",
        "GRGRSVE01_6",
        "GRGRENG01_6",
        "GRGRMAT01_9",
        "GRGRSVE01_9",
        "GRGRENG01_9",
        "MATMAT01a",
        "MATMAT01b",
        "MATMAT01c",
        "SVESVE01",
        "SVESVE03",
        "ENGENG05",
        "ENGENG06",
    ] {
        let a = names
            .get(name)
            .unwrap_or_else(|| panic!("test activity {name} missing"));
        assert_eq!(a.id, nil_v5(name));
        assert_eq!(a.activity_type, "Provaktivitet");
    }
    for a in &m.catalogue.test_activities {
        assert_eq!(a.id, nil_v5(&a.display_name));
        match a.school_type.as_str() {
            "GR" => assert!(
                matches!(a.school_year, Some(3 | 6 | 9)),
                "{}",
                a.display_name
            ),
            "GY" => assert_eq!(a.school_year, None),
            other => panic!("school type {other}"),
        }
    }
    for u in &m.catalogue.school_units {
        assert_eq!(u.id, nil_v5(&u.school_unit_code));
    }
    let statuses: Vec<(Option<Status>, Option<bool>)> = m
        .catalogue
        .school_units
        .iter()
        .map(|u| (u.status, u.dnp_status))
        .collect();
    assert!(statuses.contains(&(Some(Status::Expired), Some(true))));
    assert!(statuses.contains(&(Some(Status::Active), Some(false))));
    for p in &m.catalogue.programmes {
        assert_eq!(p.id, nil_v5(&p.education_code));
    }
    assert!(
        m.catalogue
            .programmes
            .iter()
            .any(|p| p.education_code == "EKJURV"
                && p.id.to_string() == "f8bd4423-9693-51ed-a854-6e9984e6c2f7")
    );
    let org = &m.catalogue.organisations[0];
    assert_eq!(org.id, nil_v5(&org.organisation_number));
    assert_eq!(org.organisation_number, m.organisation_number);
    assert!(
        luhn_ok(&org.organisation_number),
        "{}",
        org.organisation_number
    );
    assert_eq!(org.display_name, "Exempelby kommun");
}

#[test]
fn scope_filters_have_something_to_filter() {
    let m = generate(&config(1000, 4, 0.0));
    let s = &m.source;
    let tested_syllabus: HashSet<&str> = s
        .syllabuses
        .iter()
        .filter(|x| {
            let name = match (&x.course_code, &x.subject_code, x.end_school_year) {
                (Some(c), _, _) => c.clone(),
                (None, Some(subject), Some(end)) => format!("{subject}_{end}"),
                _ => return false,
            };
            m.catalogue
                .test_activities
                .iter()
                .any(|a| a.display_name == name)
        })
        .map(|x| x.id.as_str())
        .collect();
    let untested = s
        .activities
        .iter()
        .filter(|a| !tested_syllabus.contains(a.syllabus.as_ref().unwrap().id.as_str()))
        .count();
    assert!(untested > 0, "activities of subjects without a test");
    let tested = s.activities.len() - untested;
    let with_parent: Vec<_> = s
        .activities
        .iter()
        .filter(|a| !a.parent_activity.is_empty())
        .collect();
    assert!(
        with_parent
            .iter()
            .all(|a| tested_syllabus.contains(a.syllabus.as_ref().unwrap().id.as_str()))
    );
    // About 30 % carry their test activity already; the rest must be resolved.
    let share = with_parent.len() as f64 / tested as f64;
    assert!((0.2..0.4).contains(&share), "{share}");
    assert!(s.groups.iter().any(|g| g.group_type == GroupType::Mentor));
    assert!(
        s.groups
            .iter()
            .any(|g| g.school_type == Some(Ss12000SchoolType::Fklass.into()))
    );
}

// ---------------------------------------------------------------------------
// Dirt

/// What is wrong with each record, judged independently of the generator.
fn broken_records(m: &Municipality) -> BTreeSet<DirtyRecord> {
    let s = &m.source;
    let known_codes: HashSet<&str> = m
        .catalogue
        .school_units
        .iter()
        .map(|u| u.school_unit_code.as_str())
        .collect();
    let unit_known = |id: &SourceId| {
        s.organisations
            .iter()
            .find(|o| &o.id == id)
            .and_then(|o| o.school_unit_code.as_deref())
            .is_some_and(|c| known_codes.contains(c))
    };
    let persons: HashSet<&str> = s.persons.iter().map(|p| p.id.as_str()).collect();
    let duties: HashSet<&str> = s.duties.iter().map(|d| d.id.as_str()).collect();
    let staff: HashSet<&str> = s
        .duties
        .iter()
        .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str()))
        .collect();
    let mut out = BTreeSet::new();
    let mut push = |kind, id: &SourceId, fault| {
        out.insert(DirtyRecord {
            kind,
            id: id.clone(),
            fault,
        });
    };
    let mut eppns_seen = HashSet::new();
    for p in &s.persons {
        match CivicNo::parse(&p.civic_no.as_ref().unwrap().value) {
            Ok(_) => {}
            Err(CivicNoError::Luhn { .. }) => {
                push(EntityKind::Person, &p.id, DirtKind::InvalidCivicNo)
            }
            Err(CivicNoError::InvalidDate { .. }) => {
                push(EntityKind::Person, &p.id, DirtKind::InvalidCivicNoDate)
            }
            Err(other) => panic!("unexpected civic number error {other}"),
        }
        if staff.contains(p.id.as_str()) && p.emails.is_empty() {
            push(EntityKind::Person, &p.id, DirtKind::StaffWithoutEmail);
        }
        match p.edu_person_principal_names.first() {
            None => push(EntityKind::Person, &p.id, DirtKind::MissingEppn),
            Some(e) if !eppns_seen.insert(e.clone()) => {
                push(EntityKind::Person, &p.id, DirtKind::DuplicateEppn)
            }
            Some(_) => {}
        }
        if p.enrolments
            .iter()
            .any(|e| e.is_active_on(REFERENCE_DATE) && !unit_known(&e.enroled_at.id))
        {
            push(EntityKind::Person, &p.id, DirtKind::UnknownSchoolUnit);
        }
    }
    for d in &s.duties {
        if !unit_known(&d.duty_at.id) {
            push(EntityKind::Duty, &d.id, DirtKind::UnknownSchoolUnit);
        }
    }
    for g in &s.groups {
        if !unit_known(&g.organisation.id) {
            push(EntityKind::Group, &g.id, DirtKind::UnknownSchoolUnit);
        }
        if g.group_memberships
            .iter()
            .any(|ms| !persons.contains(ms.person.id.as_str()))
        {
            push(EntityKind::Group, &g.id, DirtKind::DanglingMembership);
        }
    }
    for a in &s.activities {
        if a.teachers
            .iter()
            .any(|t| !duties.contains(t.duty.as_ref().unwrap().id.as_str()))
        {
            push(EntityKind::Activity, &a.id, DirtKind::DanglingTeacher);
        }
    }
    // What a reader of the served JSON sees.
    for ((kind, id), json) in &s.raw_overrides {
        let bytes = serde_json::to_vec(json).unwrap();
        let (path, parsed_id) = match kind {
            EntityKind::Group => {
                let e = ss12000::parse_entity::<ss12000::Group>(&bytes).unwrap_err();
                (e.path, e.id)
            }
            EntityKind::Activity => {
                let e = ss12000::parse_entity::<ss12000::Activity>(&bytes).unwrap_err();
                (e.path, e.id)
            }
            other => panic!("override of {other}"),
        };
        assert!(path == "groupType" || path == "activityType", "{path}");
        assert_eq!(parsed_id.as_deref(), Some(id.as_str()));
        push(*kind, id, DirtKind::UnknownEnumValue);
    }
    out
}

#[test]
fn dirt_lists_exactly_the_broken_records_and_covers_every_kind() {
    let m = generate(&config(1500, 21, 0.03));
    let listed: BTreeSet<DirtyRecord> = m.dirty.iter().cloned().collect();
    assert_eq!(listed.len(), m.dirty.len(), "each record listed once");
    let found = broken_records(&m);
    let missing: Vec<_> = listed.difference(&found).collect();
    let unlisted: Vec<_> = found.difference(&listed).collect();
    assert!(
        missing.is_empty() && unlisted.is_empty(),
        "listed but fine: {missing:?}\nbroken but unlisted: {unlisted:?}"
    );
    let kinds: HashSet<DirtKind> = m.dirty.iter().map(|d| d.fault).collect();
    for kind in DirtKind::ALL {
        assert!(kinds.contains(&kind), "{kind:?} never injected");
    }
    // About 3 % of the pupils, not all of them.
    let persons = m
        .dirty
        .iter()
        .filter(|d| d.kind == EntityKind::Person)
        .count();
    assert!((30..=80).contains(&persons), "{persons} dirty persons");
}

#[test]
fn even_tiny_dirt_injects_every_kind_and_no_dirt_none() {
    let m = generate(&config(300, 8, 0.001));
    let kinds: HashSet<DirtKind> = m.dirty.iter().map(|d| d.fault).collect();
    assert_eq!(kinds.len(), DirtKind::ALL.len(), "{kinds:?}");
    assert_eq!(broken_records(&m), m.dirty.iter().cloned().collect());

    let clean = generate(&config(300, 8, 0.0));
    assert!(clean.dirty.is_empty());
    assert!(broken_records(&clean).is_empty());
}

// ---------------------------------------------------------------------------
// CSV

/// Decodes Windows-1252 for the characters the generator uses (ASCII and
/// Latin-1; the test fails on anything in 0x80–0x9F).
fn decode_windows_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            assert!(!(0x80..0xA0).contains(&b), "unexpected byte {b:#x}");
            char::from(b)
        })
        .collect()
}

fn read_csv(text: &str, delimiter: u8) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let header = reader.headers().unwrap().iter().map(String::from).collect();
    let rows = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

const SKOLVERKET_FILES: [(&str, &[&str]); 4] = [
    (
        "Klasser.csv",
        &["Klass-ID", "Klass", "Skolform", "Skolenhetskod", "Ta bort"],
    ),
    (
        "Ämnesgrupp & provaktiviteter.csv",
        &[
            "Grupp-ID",
            "Ämnesgrupp",
            "Skolform",
            "Provaktivitetsnamn",
            "Skolenhetskod",
            "Ta bort",
        ],
    ),
    (
        "Elevinskrivningar.csv",
        &[
            "Person-ID",
            "Federationsanvändarnamn",
            "Personnummer",
            "Sekretessmarkering",
            "Förnamn",
            "Mellannamn",
            "Efternamn",
            "E-postadress",
            "Skolform",
            "Skolenhetskod",
            "Årskurs",
            "Studievägskod",
            "Klass",
            "Ämnesgrupper",
            "Ta bort",
        ],
    ),
    (
        "Personalstjänstgöringar.csv",
        &[
            "Tjänstgörings-ID",
            "Person-ID",
            "Federationsanvändarnamn",
            "EduID-Federationsanvändarnamn",
            "Personnummer",
            "Sekretessmarkering",
            "Förnamn",
            "Mellannamn",
            "Efternamn",
            "E-postadress",
            "Skolenhetskod",
            "Personalkategori",
            "Ämnesgrupper",
            "Ta bort",
        ],
    ),
];

const FLAT_FILES: [(&str, &[&str]); 11] = [
    (
        "organisations.csv",
        &[
            "id",
            "organisation_type",
            "display_name",
            "organisation_code",
            "organisation_number",
            "school_unit_code",
            "school_types",
            "municipality_code",
            "parent_id",
            "start_date",
            "end_date",
        ],
    ),
    (
        "persons.csv",
        &[
            "id",
            "given_name",
            "middle_name",
            "family_name",
            "civic_no",
            "security_marking",
            "eppn",
            "email",
            "email_type",
            "eduid_eppn",
            "person_status",
        ],
    ),
    (
        "enrolments.csv",
        &[
            "person_id",
            "school_unit_id",
            "school_type",
            "school_year",
            "education_code",
            "programme_id",
            "start_date",
            "end_date",
            "cancelled",
        ],
    ),
    (
        "duties.csv",
        &[
            "id",
            "person_id",
            "school_unit_id",
            "duty_role",
            "signature",
            "start_date",
            "end_date",
        ],
    ),
    (
        "groups.csv",
        &[
            "id",
            "display_name",
            "group_type",
            "school_type",
            "school_unit_id",
            "start_date",
            "end_date",
        ],
    ),
    (
        "memberships.csv",
        &["group_id", "person_id", "start_date", "end_date"],
    ),
    (
        "activities.csv",
        &[
            "id",
            "display_name",
            "activity_type",
            "school_unit_id",
            "syllabus_id",
            "parent_activity_id",
            "start_date",
            "end_date",
        ],
    ),
    ("activity_groups.csv", &["activity_id", "group_id"]),
    (
        "activity_teachers.csv",
        &["activity_id", "duty_id", "start_date", "end_date"],
    ),
    (
        "syllabuses.csv",
        &[
            "id",
            "school_type",
            "subject_code",
            "subject_name",
            "subject_designation",
            "course_code",
            "course_name",
            "start_school_year",
            "end_school_year",
        ],
    ),
    ("programmes.csv", &["id", "name", "code", "school_type"]),
];

/// Exports with `options` and returns each file's decoded text by name.
fn export(m: &Municipality, dir: &Path, options: &CsvOptions) -> HashMap<String, String> {
    let files = export_csv(m, dir, options).unwrap();
    files
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap();
            let bom = bytes.starts_with(b"\xEF\xBB\xBF");
            assert_eq!(
                bom,
                options.encoding == CsvEncoding::Utf8Bom,
                "{}",
                path.display()
            );
            let text = match options.encoding {
                CsvEncoding::Windows1252 => {
                    assert!(
                        std::str::from_utf8(&bytes).is_err() || bytes.is_ascii(),
                        "not UTF-8"
                    );
                    decode_windows_1252(&bytes)
                }
                CsvEncoding::Utf8 => String::from_utf8(bytes).unwrap(),
                CsvEncoding::Utf8Bom => String::from_utf8(bytes[3..].to_vec()).unwrap(),
            };
            if options.crlf {
                assert!(
                    text.lines().count() > 0
                        && text.matches('\n').count() == text.matches("\r\n").count()
                );
            } else {
                assert!(!text.contains('\r'));
            }
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                text,
            )
        })
        .collect()
}

#[test]
fn csv_layouts_have_the_documented_headers_in_every_form() {
    let m = generate(&config(300, 6, 0.02));
    let tmp = tempdir();
    let forms = [
        (b';', CsvEncoding::Utf8, false),
        (b',', CsvEncoding::Utf8Bom, true),
        (b';', CsvEncoding::Windows1252, true),
        (b',', CsvEncoding::Windows1252, false),
    ];
    for (i, (delimiter, encoding, crlf)) in forms.into_iter().enumerate() {
        for (layout, expected) in [
            (CsvLayout::Skolverket, &SKOLVERKET_FILES[..]),
            (CsvLayout::Flat, &FLAT_FILES[..]),
        ] {
            let options = CsvOptions {
                layout,
                delimiter,
                encoding,
                crlf,
                civic_no_format: CivicNoFormat::Compact,
            };
            let files = export(&m, &tmp.join(format!("{i}-{layout:?}")), &options);
            assert_eq!(files.len(), expected.len());
            for (name, header) in expected {
                let text = files
                    .get(*name)
                    .unwrap_or_else(|| panic!("{name} not written"));
                let (got, rows) = read_csv(text, delimiter);
                assert_eq!(got, *header, "{name} in {options:?}");
                assert!(!rows.is_empty(), "{name} has no rows");
                assert!(rows.iter().all(|r| r.len() == header.len()));
            }
        }
    }
}

#[test]
fn windows_1252_export_keeps_swedish_letters() {
    let m = generate(&config(400, 12, 0.0));
    let tmp = tempdir();
    let options = CsvOptions {
        layout: CsvLayout::Skolverket,
        encoding: CsvEncoding::Windows1252,
        ..CsvOptions::default()
    };
    export_csv(&m, &tmp, &options).unwrap();
    let bytes = std::fs::read(tmp.join("Elevinskrivningar.csv")).unwrap();
    // å, ä, ö are single bytes E5, E4, F6, and the header's "Förnamn" too.
    assert!(bytes.windows(7).any(|w| w == b"F\xF6rnamn"));
    assert!(
        !bytes.windows(2).any(|w| w == "ö".as_bytes()),
        "UTF-8 leaked into a Windows-1252 file"
    );
    let text = decode_windows_1252(&bytes);
    let (_, rows) = read_csv(&text, b';');
    let names: String = rows
        .iter()
        .flat_map(|r| [r[4].clone(), r[6].clone()])
        .collect();
    for c in ['å', 'ä', 'ö'] {
        assert!(names.contains(c), "no {c} among the names");
    }
    let originals: HashSet<String> = m
        .source
        .persons
        .iter()
        .map(|p| format!("{} {}", p.given_name, p.family_name))
        .collect();
    assert!(
        rows.iter()
            .all(|r| originals.contains(&format!("{} {}", r[4], r[6])))
    );
}

#[test]
fn skolverket_layout_holds_the_current_tested_data() {
    let m = generate(&config(800, 13, 0.0));
    let tmp = tempdir();
    let options = CsvOptions {
        civic_no_format: CivicNoFormat::Dashed,
        delimiter: b',',
        ..CsvOptions::default()
    };
    let files = export(&m, &tmp, &options);
    let (_, classes) = read_csv(&files["Klasser.csv"], b',');
    let (_, groups) = read_csv(&files["Ämnesgrupp & provaktiviteter.csv"], b',');
    let (_, enrolments) = read_csv(&files["Elevinskrivningar.csv"], b',');
    let (_, duties) = read_csv(&files["Personalstjänstgöringar.csv"], b',');

    let class_ids: HashSet<&str> = classes.iter().map(|r| r[0].as_str()).collect();
    let group_ids: HashSet<&str> = groups.iter().map(|r| r[0].as_str()).collect();
    let test_names: HashSet<&str> = m
        .catalogue
        .test_activities
        .iter()
        .map(|a| a.display_name.as_str())
        .collect();
    assert!(
        classes.iter().all(|r| r[2] == "GR" || r[2] == "GY"),
        "no förskoleklass"
    );
    assert!(groups.iter().all(|r| test_names.contains(r[3].as_str())));
    assert!(
        groups.iter().any(|r| r[3] == "GRGRMAT01_6")
            && groups.iter().any(|r| r[3].starts_with("MATMAT01"))
    );

    let persons: HashMap<&str, &Person> = m
        .source
        .persons
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();
    let in_scope = m
        .source
        .persons
        .iter()
        .flat_map(|p| &p.enrolments)
        .filter(|e| e.is_active_on(REFERENCE_DATE) && e.school_type != Ss12000SchoolType::Fklass)
        .count();
    assert_eq!(enrolments.len(), in_scope);
    let mut with_groups = 0;
    for r in &enrolments {
        let p = persons[r[0].as_str()];
        let civic = &p.civic_no.as_ref().unwrap().value;
        assert_eq!(r[2], format!("{}-{}", &civic[..8], &civic[8..]));
        assert_eq!(r[1], p.edu_person_principal_names[0]);
        assert!(
            class_ids.contains(r[12].as_str()),
            "Klass {} is a Klass-ID",
            r[12]
        );
        if !r[13].is_empty() {
            with_groups += 1;
            assert!(r[13].split(',').all(|g| group_ids.contains(g)));
        }
        match r[8].as_str() {
            "GR" => assert!(!r[10].is_empty() && r[11].is_empty()),
            "GY" => assert!(r[10].is_empty() && !r[11].is_empty()),
            other => panic!("Skolform {other}"),
        }
        assert_eq!(r[14], "");
    }
    assert!(with_groups > enrolments.len() / 4);
    assert!(duties.iter().any(|r| r[11] == "Rektor") && duties.iter().any(|r| r[11] == "Lärare"));
    assert!(
        duties
            .iter()
            .filter(|r| !r[12].is_empty())
            .all(|r| r[12].split(',').all(|g| group_ids.contains(g)))
    );
    assert!(
        duties.iter().any(|r| !r[3].is_empty()),
        "some staff have an eduID EPPN"
    );
}

#[test]
fn flat_layout_holds_everything_including_dirt() {
    let m = generate(&config(400, 14, 0.05));
    let tmp = tempdir();
    let options = CsvOptions {
        layout: CsvLayout::Flat,
        civic_no_format: CivicNoFormat::Short,
        ..CsvOptions::default()
    };
    let files = export(&m, &tmp, &options);
    let rows = |name: &str| read_csv(&files[name], b';').1;
    assert_eq!(rows("persons.csv").len(), m.source.persons.len());
    assert_eq!(rows("groups.csv").len(), m.source.groups.len());
    assert_eq!(
        rows("memberships.csv").len(),
        m.source
            .groups
            .iter()
            .map(|g| g.group_memberships.len())
            .sum::<usize>()
    );
    assert_eq!(rows("activities.csv").len(), m.source.activities.len());
    // Unknown enum values come from the raw overrides.
    assert!(rows("groups.csv").iter().any(|r| r[2] == "Studiegrupp"));
    assert!(rows("activities.csv").iter().any(|r| r[2] == "Lektion"));
    // Short personnummer: YYMMDD-NNNN, temporary numbers keep their year.
    for r in rows("persons.csv") {
        let c = &r[4];
        assert!(
            c.len() == 11 && &c[6..7] == "-" || c.len() == 13 && &c[8..11] == "-TF",
            "{c}"
        );
    }
}

/// A fresh directory under the target's temp dir, unique per test.
fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "skolsync-generate-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
