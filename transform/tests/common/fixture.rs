//! A small hand-made source and open-data, written as the JSON real
//! systems send, for tests of single rules.

use serde_json::{Value, json};
use skolsync_model::ss12000::{Activity, Duty, Group, Organisation, Person, Snapshot, Syllabus};
use skolsync_model::{EducationCode, OrganisationNumber, SchoolUnitCode, TestActivityName};
use skolsync_transform::{OpenData, TransformConfig, TransformOutput, Transformer};

/// Centralskolan: GR 1–9.
pub const CENTRAL: &str = "10000001";
/// Gymnasiet: GY 1–3.
pub const GYMNASIET: &str = "10000002";
/// Closed (Expired).
pub const CLOSED: &str = "10000003";
/// Not in the provtjänst (dnpStatus false).
pub const NOT_IN_DNP: &str = "10000004";
/// GR years 1–5 only; SP with dnpStatus false.
pub const SMALL: &str = "10000005";
/// Known to the source, unknown to open-data.
pub const GHOST: &str = "10000009";

pub const ORG_NUMBER: &str = "2120000142";

/// A Luhn-valid personnummer `YYYYMMDDNNNC` for a date and serial.
pub fn pnr(date: &str, serial: u32) -> String {
    let body = format!("{}{:03}", &date[2..], serial);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{date}{:03}{}", serial, (10 - sum % 10) % 10)
}

fn unit_json(code: &str, name: &str, status: &str, dnp: bool, types: Value) -> Value {
    json!({
        "id": SchoolUnitCode::new(code).skolverket_id(),
        "displayName": name,
        "schoolUnitCode": code,
        "status": status,
        "dnpStatus": dnp,
        "schoolTypes": types,
        "parentOrganisation": {
            "id": OrganisationNumber::new(ORG_NUMBER).skolverket_id(),
            "organisationNumber": ORG_NUMBER
        }
    })
}

fn years(range: std::ops::RangeInclusive<u8>, dnp: bool) -> Value {
    Value::Array(
        range
            .map(|y| json!({"schoolYear": y, "dnpStatus": dnp}))
            .collect(),
    )
}

fn test_activity(name: &str, school_type: &str, year: Option<u8>) -> Value {
    let mut v = json!({
        "id": TestActivityName::new(name).skolverket_id(),
        "displayName": name,
        "activityType": "Provaktivitet",
        "schoolType": school_type,
    });
    if let Some(y) = year {
        v["schoolYear"] = json!(y);
    }
    v
}

fn programme(code: &str, status: &str, valid_from: &str) -> Value {
    json!({
        "id": EducationCode::new(code).skolverket_id(),
        "displayName": code,
        "educationCode": code,
        "schoolType": "GY",
        "validFrom": valid_from,
        "status": status
    })
}

/// Open-data for the fixture.
pub fn open_data() -> OpenData {
    let data = json!({
        "organisations": [{
            "id": OrganisationNumber::new(ORG_NUMBER).skolverket_id(),
            "displayName": "Testby kommun",
            "organisationNumber": ORG_NUMBER,
            "status": "Active"
        }],
        "school_units": [
            unit_json(CENTRAL, "Centralskolan", "Active", true,
                json!([{"schoolType": "GR", "dnpStatus": true, "schoolYears": years(1..=9, true)},
                       {"schoolType": "FKLASS", "dnpStatus": false}])),
            unit_json(GYMNASIET, "Gymnasiet", "Active", true,
                json!([{"schoolType": "GY", "dnpStatus": true, "schoolYears": years(1..=3, true)}])),
            unit_json(CLOSED, "Gamla skolan", "Expired", true,
                json!([{"schoolType": "GR", "dnpStatus": true, "schoolYears": years(1..=6, true)}])),
            unit_json(NOT_IN_DNP, "Nya skolan", "Active", false,
                json!([{"schoolType": "GR", "dnpStatus": false, "schoolYears": years(1..=9, false)}])),
            unit_json(SMALL, "Lillskolan", "Active", true,
                json!([{"schoolType": "GR", "dnpStatus": true, "schoolYears": years(1..=5, true)},
                       {"schoolType": "SP", "dnpStatus": false, "schoolYears": years(1..=10, false)}])),
        ],
        "programmes": [
            programme("NANAT", "Active", "2011-07-01T00:00:00+02:00"),
            programme("GAMMAL", "Expired", "2011-07-01T00:00:00+02:00"),
            programme("FRAMTID", "New", "2030-07-01T00:00:00+02:00"),
        ],
        "test_activities": [
            test_activity("GRGRMAT01_3", "GR", Some(3)),
            test_activity("GRGRMAT01_6", "GR", Some(6)),
            test_activity("GRGRMAT01_9", "GR", Some(9)),
            test_activity("GRGRSVE01_6", "GR", Some(6)),
            test_activity("MATMAT01c", "GY", None),
            test_activity("ENGENG05", "GY", None),
        ]
    });
    serde_json::from_value(data).expect("fixture open-data")
}

pub fn org(id: &str, code: Option<&str>, org_type: &str) -> Organisation {
    let mut v = json!({"id": id, "displayName": id, "organisationType": org_type});
    if let Some(c) = code {
        v["schoolUnitCode"] = json!(c);
    }
    serde_json::from_value(v).expect("organisation")
}

/// The organiser and one organisation per unit code (`u-<code>`).
pub fn organisations() -> Vec<Organisation> {
    let mut orgs = vec![
        serde_json::from_value(json!({
            "id": "huvudman", "displayName": "Testby kommun", "organisationType": "Huvudman",
            "organisationNumber": ORG_NUMBER
        }))
        .expect("huvudman"),
    ];
    for code in [CENTRAL, GYMNASIET, CLOSED, NOT_IN_DNP, SMALL, GHOST] {
        orgs.push(org(&format!("u-{code}"), Some(code), "Skolenhet"));
    }
    orgs
}

pub fn unit(code: &str) -> String {
    format!("u-{code}")
}

/// A pupil with one enrolment.
pub fn pupil(
    id: &str,
    civic: &str,
    unit_code: &str,
    school_type: &str,
    year: Option<u8>,
) -> Person {
    let mut enrolment = json!({"enroledAt": {"id": unit(unit_code)}, "schoolType": school_type});
    if let Some(y) = year {
        enrolment["schoolYear"] = json!(y);
    }
    if school_type == "GY" {
        enrolment["educationCode"] = json!("NANAT");
    }
    serde_json::from_value(json!({
        "id": id,
        "givenName": "Elev",
        "familyName": format!("Nummer{id}"),
        "eduPersonPrincipalNames": [format!("{id}@edu.testby.se")],
        "civicNo": {"value": civic, "nationality": "SE"},
        "emails": [{"value": format!("{id}@elev.testby.se"), "type": "Skola elev"}],
        "enrolments": [enrolment]
    }))
    .expect("pupil")
}

/// A staff member (no enrolments).
pub fn staff(id: &str, civic: &str) -> Person {
    serde_json::from_value(json!({
        "id": id,
        "givenName": "Lärar",
        "familyName": format!("Nummer{id}"),
        "eduPersonPrincipalNames": [format!("{id}@testby.se")],
        "civicNo": civic,
        "emails": [{"value": format!("{id}@testby.se"), "type": "Skola personal"}]
    }))
    .expect("staff")
}

pub fn duty(id: &str, person: &str, unit_code: &str, role: &str) -> Duty {
    serde_json::from_value(json!({
        "id": id, "person": {"id": person}, "dutyAt": {"id": unit(unit_code)}, "dutyRole": role
    }))
    .expect("duty")
}

pub fn group(
    id: &str,
    group_type: &str,
    school_type: Option<&str>,
    unit_code: &str,
    members: &[&str],
) -> Group {
    let mut v = json!({
        "id": id, "displayName": format!("Grupp {id}"), "groupType": group_type,
        "organisation": {"id": unit(unit_code)},
        "groupMemberships": members.iter().map(|m| json!({"person": {"id": m}})).collect::<Vec<_>>()
    });
    if let Some(t) = school_type {
        v["schoolType"] = json!(t);
    }
    serde_json::from_value(v).expect("group")
}

pub fn syllabus(
    id: &str,
    school_type: &str,
    subject: Option<&str>,
    course: Option<&str>,
    years: Option<(u8, u8)>,
) -> Syllabus {
    let mut v = json!({"id": id, "schoolType": school_type});
    if let Some(s) = subject {
        v["subjectCode"] = json!(s);
    }
    if let Some(c) = course {
        v["courseCode"] = json!(c);
    }
    if let Some((a, b)) = years {
        v["startSchoolYear"] = json!(a);
        v["endSchoolYear"] = json!(b);
    }
    serde_json::from_value(v).expect("syllabus")
}

/// An activity as JSON, to be adjusted by the test and then parsed.
pub fn activity_json(id: &str, unit_code: &str, groups: &[&str], teacher_duties: &[&str]) -> Value {
    json!({
        "id": id,
        "displayName": format!("Aktivitet {id}"),
        "activityType": "Undervisning",
        "organisation": {"id": unit(unit_code)},
        "groups": groups.iter().map(|g| json!({"id": g})).collect::<Vec<_>>(),
        "teachers": teacher_duties.iter().map(|d| json!({"duty": {"id": d}})).collect::<Vec<_>>()
    })
}

pub fn activity(v: Value) -> Activity {
    serde_json::from_value(v).expect("activity")
}

/// An empty snapshot with the fixture's organisations.
pub fn snapshot() -> Snapshot {
    Snapshot {
        organisations: organisations(),
        ..Snapshot::default()
    }
}

pub fn config() -> TransformConfig {
    TransformConfig {
        reference_date: Some("2026-08-20".into()),
        ..TransformConfig::default()
    }
}

pub fn run(snapshot: &Snapshot, config: TransformConfig) -> TransformOutput {
    Transformer::new(config, open_data())
        .expect("valid config")
        .run(snapshot)
        .expect("transform runs")
}
