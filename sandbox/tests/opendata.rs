//! The Open-data emulator answers as Skolverket's `provisioning-data-api`
//! v1.0.0 specifies: every path, every body in the spec's schemas (field
//! names, JSON types, enums, required fields, nothing else), the spec's
//! error bodies, and the injected faults.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use skolsync_model::ids::{EducationCode, OrganisationNumber, SchoolUnitCode, TestActivityName};
use skolsync_model::open_data::{
    Address, Labelled, Organisation, OrganisationReference, Programme, SchoolUnit,
    SchoolUnitSchoolType, SchoolYear, Status, TestActivity,
};
use skolsync_sandbox::generate::{GenerateConfig, generate};
use skolsync_sandbox::{Catalogue, FaultSwitch, Faults, opendata};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// The spec's schemas, written out.

/// `Code_SchoolType` of the open-data spec (34 values).
const SCHOOL_TYPES: [&str; 34] = [
    "FS", "FKLASS", "FTH", "OPPFTH", "GR", "GRAN", "GRS", "TR", "SP", "SAM", "GY", "GYAN", "GYS",
    "VUX", "VUXSFI", "VUXGR", "VUXGY", "VUXGRAN", "VUXSARGR", "VUXSARTR", "VUXGYAN", "VUXSARGY",
    "SFI", "SARVUX", "SARVUXGR", "SARVUXGY", "KU", "YH", "FHS", "STF", "KKU", "HS", "ABU", "AU",
];
const STATUSES: [&str; 3] = ["New", "Active", "Expired"];

fn object<'a>(v: &'a Value, what: &str) -> &'a Map<String, Value> {
    v.as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"))
}

/// Fails on a field the schema does not define, or a missing required one.
fn fields(map: &Map<String, Value>, what: &str, required: &[&str], optional: &[&str]) {
    for r in required {
        assert!(
            map.contains_key(*r),
            "{what}: required `{r}` missing in {map:?}"
        );
    }
    for key in map.keys() {
        assert!(
            required.contains(&key.as_str()) || optional.contains(&key.as_str()),
            "{what}: `{key}` is not in the schema"
        );
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).map(|v| {
        v.as_str()
            .unwrap_or_else(|| panic!("`{key}` is not a string: {v}"))
    })
}

fn uuid(map: &Map<String, Value>, key: &str) {
    if let Some(s) = string(map, key) {
        Uuid::parse_str(s).unwrap_or_else(|_| panic!("`{key}` is not a uuid: {s}"));
    }
}

fn boolean(map: &Map<String, Value>, key: &str) {
    if let Some(v) = map.get(key) {
        assert!(v.is_boolean(), "`{key}` is not a boolean: {v}");
    }
}

fn integer(map: &Map<String, Value>, key: &str) {
    if let Some(v) = map.get(key) {
        assert!(v.is_i64() || v.is_u64(), "`{key}` is not an integer: {v}");
    }
}

fn one_of(map: &Map<String, Value>, key: &str, allowed: &[&str]) {
    if let Some(s) = string(map, key) {
        assert!(
            allowed.contains(&s),
            "`{key}` = `{s}` is not one of {allowed:?}"
        );
    }
}

fn date_time(map: &Map<String, Value>, key: &str) {
    if let Some(s) = string(map, key) {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|_| panic!("`{key}` is not RFC 3339: {s}"));
    }
}

fn check_school_unit(v: &Value) {
    let m = object(v, "SchoolUnit");
    fields(
        m,
        "SchoolUnit",
        &["id", "displayName", "schoolUnitCode"],
        &[
            "schoolTypes",
            "municipalityCode",
            "municipalityName",
            "status",
            "dnpStatus",
            "parentOrganisation",
        ],
    );
    uuid(m, "id");
    string(m, "displayName");
    string(m, "schoolUnitCode");
    string(m, "municipalityCode");
    string(m, "municipalityName");
    one_of(m, "status", &STATUSES);
    boolean(m, "dnpStatus");
    if let Some(types) = m.get("schoolTypes") {
        for t in types.as_array().expect("schoolTypes is an array") {
            let t = object(t, "SchoolType");
            fields(
                t,
                "SchoolType",
                &[],
                &["schoolType", "dnpStatus", "schoolYears"],
            );
            one_of(t, "schoolType", &SCHOOL_TYPES);
            boolean(t, "dnpStatus");
            if let Some(years) = t.get("schoolYears") {
                for y in years.as_array().expect("schoolYears is an array") {
                    let y = object(y, "SchoolYear");
                    fields(y, "SchoolYear", &[], &["schoolYear", "dnpStatus"]);
                    integer(y, "schoolYear");
                    boolean(y, "dnpStatus");
                }
            }
        }
    }
    if let Some(parent) = m.get("parentOrganisation") {
        let p = object(parent, "OrganisationReference");
        fields(
            p,
            "OrganisationReference",
            &["id", "organisationNumber"],
            &["displayName"],
        );
        uuid(p, "id");
        string(p, "organisationNumber");
        string(p, "displayName");
    }
    // Skolverket's ids are UUIDv5 of the code.
    let code = string(m, "schoolUnitCode").unwrap();
    assert_eq!(
        string(m, "id").unwrap(),
        SchoolUnitCode::new(code).skolverket_id().to_string()
    );
}

fn check_organisation(v: &Value) {
    let m = object(v, "Organisation");
    fields(
        m,
        "Organisation",
        &["id", "displayName", "organisationNumber"],
        &[
            "countryCode",
            "organisationType",
            "legalForm",
            "organiserType",
            "status",
            "schoolUnits",
            "email",
            "phoneNumber",
            "address",
        ],
    );
    uuid(m, "id");
    string(m, "displayName");
    string(m, "countryCode");
    one_of(m, "organisationType", &["Huvudman"]);
    one_of(m, "status", &STATUSES);
    string(m, "email");
    string(m, "phoneNumber");
    for key in ["legalForm", "organiserType"] {
        if let Some(l) = m.get(key) {
            let l = object(l, key);
            fields(l, key, &[], &["id", "displayName"]);
            string(l, "id");
            string(l, "displayName");
        }
    }
    if let Some(a) = m.get("address") {
        let a = object(a, "Address");
        fields(
            a,
            "Address",
            &[],
            &["streetAdress", "postalCode", "locality"],
        );
        string(a, "streetAdress");
        string(a, "postalCode");
        string(a, "locality");
    }
    if let Some(units) = m.get("schoolUnits") {
        for u in units.as_array().expect("schoolUnits is an array") {
            check_school_unit(u);
        }
    }
    let number = string(m, "organisationNumber").unwrap();
    assert_eq!(
        string(m, "id").unwrap(),
        OrganisationNumber::new(number).skolverket_id().to_string()
    );
}

fn check_programme(v: &Value) {
    let m = object(v, "Programme");
    fields(
        m,
        "Programme",
        &["id", "displayName", "educationCode"],
        &["schoolType", "validFrom", "status"],
    );
    uuid(m, "id");
    string(m, "displayName");
    one_of(m, "schoolType", &SCHOOL_TYPES);
    date_time(m, "validFrom");
    one_of(m, "status", &STATUSES);
    let code = string(m, "educationCode").unwrap();
    assert_eq!(
        string(m, "id").unwrap(),
        EducationCode::new(code).skolverket_id().to_string()
    );
}

fn check_activity(v: &Value) {
    let m = object(v, "Activity");
    fields(
        m,
        "Activity",
        &["id", "displayName", "activityType", "schoolType"],
        &["schoolYear", "comment"],
    );
    uuid(m, "id");
    one_of(m, "activityType", &["Provaktivitet"]);
    one_of(m, "schoolType", &SCHOOL_TYPES);
    integer(m, "schoolYear");
    string(m, "comment");
    let name = string(m, "displayName").unwrap();
    assert_eq!(
        string(m, "id").unwrap(),
        TestActivityName::new(name).skolverket_id().to_string()
    );
}

/// The spec's `Error`: `code` (integer) = the status, `message`, `timeStamp`.
async fn check_error(response: reqwest::Response, status: u16, message: &str) {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("error body is JSON");
    let m = object(&body, "Error");
    fields(m, "Error", &["code", "message", "timeStamp"], &[]);
    assert_eq!(
        m["code"].as_u64(),
        Some(u64::from(status)),
        "code is the status as an integer"
    );
    assert_eq!(string(m, "message"), Some(message));
    date_time(m, "timeStamp");
}

/// Checks the error answer of each `(path, status, message)` under `base`.
async fn check_errors(base: &str, cases: &[(String, u16, &str)]) {
    for (path, status, message) in cases {
        check_error(get(format!("{base}{path}")).await, *status, message).await;
    }
}

// ---------------------------------------------------------------------------
// Fixture.

const ORG_NUMBER: &str = "2120001234";
const OTHER_ORG_NUMBER: &str = "5567044268";
const ACTIVE_UNIT: &str = "31279295";
const EXPIRED_UNIT: &str = "40000002";
const OTHER_ORGS_UNIT: &str = "40000003";

fn reference(number: &str, name: &str) -> OrganisationReference {
    OrganisationReference {
        id: OrganisationNumber::new(number).skolverket_id(),
        organisation_number: number.to_string(),
        display_name: Some(name.to_string()),
    }
}

fn unit(code: &str, name: &str, status: Status, dnp: bool, org: &str) -> SchoolUnit {
    SchoolUnit {
        id: SchoolUnitCode::new(code).skolverket_id(),
        display_name: name.to_string(),
        school_unit_code: code.to_string(),
        school_types: vec![
            SchoolUnitSchoolType {
                school_type: "GR".to_string(),
                dnp_status: Some(dnp),
                school_years: [3, 6, 9]
                    .into_iter()
                    .map(|y| SchoolYear {
                        school_year: y,
                        dnp_status: Some(dnp),
                    })
                    .collect(),
            },
            SchoolUnitSchoolType {
                school_type: "FKLASS".to_string(),
                dnp_status: Some(false),
                school_years: Vec::new(),
            },
        ],
        municipality_code: Some("0199".to_string()),
        municipality_name: Some("Exempelby".to_string()),
        status: Some(status),
        dnp_status: Some(dnp),
        parent_organisation: Some(reference(org, "Exempelby kommun")),
    }
}

fn catalogue() -> Catalogue {
    let organisation = |number: &str, name: &str| Organisation {
        id: OrganisationNumber::new(number).skolverket_id(),
        display_name: name.to_string(),
        organisation_number: number.to_string(),
        country_code: Some("SWE".to_string()),
        organisation_type: Some("Huvudman".to_string()),
        legal_form: Some(Labelled {
            id: Some("81".to_string()),
            display_name: Some("Kommuner".to_string()),
        }),
        organiser_type: Some(Labelled {
            id: Some("01".to_string()),
            display_name: Some("Kommuner och kommunalförbund".to_string()),
        }),
        status: Some(Status::Active),
        school_units: None,
        email: Some("info@exempelby.se".to_string()),
        phone_number: Some("+46 8 123 456 78".to_string()),
        address: Some(Address {
            street_address: Some("Storgatan 1".to_string()),
            postal_code: Some("123 45".to_string()),
            locality: Some("Exempelby".to_string()),
        }),
    };
    let programme = |code: &str, name: &str, status: Status| Programme {
        id: EducationCode::new(code).skolverket_id(),
        display_name: name.to_string(),
        education_code: code.to_string(),
        school_type: Some("GY".to_string()),
        valid_from: Some("2011-07-01T00:00:00+02:00".to_string()),
        status: Some(status),
    };
    let activity = |name: &str, school_type: &str, year: Option<u8>| TestActivity {
        id: TestActivityName::new(name).skolverket_id(),
        display_name: name.to_string(),
        activity_type: "Provaktivitet".to_string(),
        school_type: school_type.to_string(),
        school_year: year,
        comment: None,
    };
    Catalogue {
        organisations: vec![
            organisation(ORG_NUMBER, "Exempelby kommun"),
            organisation(OTHER_ORG_NUMBER, "Testorganisation AB"),
        ],
        school_units: vec![
            unit(ACTIVE_UNIT, "Åsens skola", Status::Active, true, ORG_NUMBER),
            unit(
                EXPIRED_UNIT,
                "Gamla skolan",
                Status::Expired,
                false,
                ORG_NUMBER,
            ),
            unit(
                OTHER_ORGS_UNIT,
                "Friskolan",
                Status::New,
                true,
                OTHER_ORG_NUMBER,
            ),
        ],
        programmes: vec![
            programme("EKJURV", "Ekonomiprogrammet, Juridik", Status::Active),
            programme(
                "NANAT",
                "Naturvetenskapsprogrammet, Naturvetenskap",
                Status::Expired,
            ),
        ],
        test_activities: vec![
            activity("GRGRMAT01_6", "GR", Some(6)),
            activity("GRGRSVE01_9", "GR", Some(9)),
            activity("MATMAT01a", "GY", None),
        ],
    }
}

async fn serve(catalogue: Catalogue, faults: Faults) -> (String, Arc<FaultSwitch>) {
    let faults = Arc::new(FaultSwitch::new(faults, 7));
    let router = opendata::router(Arc::new(catalogue), Arc::clone(&faults));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), faults)
}

async fn get(url: String) -> reqwest::Response {
    reqwest::get(url).await.expect("request is answered")
}

async fn get_json(url: String) -> Value {
    let response = get(url.clone()).await;
    assert_eq!(response.status(), 200, "{url}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{url} answers JSON"
    );
    response.json().await.unwrap()
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn alive_answers_200() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    assert_eq!(get(format!("{base}/alive")).await.status(), 200);
}

#[tokio::test]
async fn school_units_by_id_and_by_code_match_the_schema() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let id = SchoolUnitCode::new(ACTIVE_UNIT).skolverket_id();
    let by_id = get_json(format!("{base}/schoolUnits/{id}")).await;
    check_school_unit(&by_id);
    assert_eq!(by_id["schoolUnitCode"], ACTIVE_UNIT);
    assert_eq!(by_id["displayName"], "Åsens skola");
    assert_eq!(by_id["status"], "Active");
    assert_eq!(by_id["dnpStatus"], true);
    assert_eq!(by_id["schoolTypes"][0]["schoolYears"][1]["schoolYear"], 6);
    let by_code = get_json(format!("{base}/schoolUnits/code/{ACTIVE_UNIT}")).await;
    assert_eq!(by_id, by_code);

    let expired = get_json(format!("{base}/schoolUnits/code/{EXPIRED_UNIT}")).await;
    check_school_unit(&expired);
    assert_eq!(expired["status"], "Expired");
    assert_eq!(expired["dnpStatus"], false);
}

#[tokio::test]
async fn school_unit_errors_are_the_specs() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let unknown = SchoolUnitCode::new("99999999").skolverket_id();
    check_errors(
        &base,
        &[
            (
                format!("/schoolUnits/{unknown}"),
                404,
                "School unit not found",
            ),
            (
                "/schoolUnits/code/99999999".to_string(),
                404,
                "School unit not found",
            ),
            (
                "/schoolUnits/not-a-uuid".to_string(),
                400,
                "Invalid parameter: id",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn organisations_expand_their_school_units_only_when_asked() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let id = OrganisationNumber::new(ORG_NUMBER).skolverket_id();

    let plain = get_json(format!("{base}/organisations/{id}")).await;
    check_organisation(&plain);
    assert!(plain.get("schoolUnits").is_none());
    assert_eq!(plain["organisationType"], "Huvudman");
    assert_eq!(plain["address"]["streetAdress"], "Storgatan 1");

    let expanded = get_json(format!("{base}/organisations/{id}?expandSchoolUnits=true")).await;
    check_organisation(&expanded);
    let codes: Vec<&str> = expanded["schoolUnits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["schoolUnitCode"].as_str().unwrap())
        .collect();
    // Only this organiser's units, the expired one included.
    assert_eq!(codes, [ACTIVE_UNIT, EXPIRED_UNIT]);

    let by_code = get_json(format!(
        "{base}/organisations/code/{ORG_NUMBER}?expandSchoolUnits=true"
    ))
    .await;
    assert_eq!(by_code, expanded);
    let not_expanded = get_json(format!(
        "{base}/organisations/code/{ORG_NUMBER}?expandSchoolUnits=false"
    ))
    .await;
    assert_eq!(not_expanded, plain);

    let other = get_json(format!(
        "{base}/organisations/code/{OTHER_ORG_NUMBER}?expandSchoolUnits=true"
    ))
    .await;
    check_organisation(&other);
    assert_eq!(other["schoolUnits"][0]["schoolUnitCode"], OTHER_ORGS_UNIT);
}

#[tokio::test]
async fn organisation_errors_are_the_specs() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let unknown = OrganisationNumber::new("1234567890").skolverket_id();
    check_errors(
        &base,
        &[
            (
                format!("/organisations/{unknown}"),
                404,
                "Organisation not found",
            ),
            (
                "/organisations/code/1234567890".to_string(),
                404,
                "Organisation not found",
            ),
            (
                "/organisations/123".to_string(),
                400,
                "Invalid parameter: id",
            ),
        ],
    )
    .await;
    let id = OrganisationNumber::new(ORG_NUMBER).skolverket_id();
    check_error(
        get(format!("{base}/organisations/{id}?expandSchoolUnits=maybe")).await,
        400,
        "Invalid parameter: expandSchoolUnits",
    )
    .await;
}

#[tokio::test]
async fn programmes_are_listed_and_found_by_id_and_code() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let list = get_json(format!("{base}/programmes")).await;
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 2);
    for p in list {
        check_programme(p);
    }
    assert_eq!(list[1]["status"], "Expired");

    let id = EducationCode::new("EKJURV").skolverket_id();
    assert_eq!(id.to_string(), "f8bd4423-9693-51ed-a854-6e9984e6c2f7");
    let by_id = get_json(format!("{base}/programmes/{id}")).await;
    check_programme(&by_id);
    assert_eq!(by_id["educationCode"], "EKJURV");
    assert_eq!(
        get_json(format!("{base}/programmes/code/EKJURV")).await,
        by_id
    );

    check_error(
        get(format!("{base}/programmes/code/XXXXX")).await,
        404,
        "Programme not found",
    )
    .await;
    let unknown = EducationCode::new("XXXXX").skolverket_id();
    check_errors(
        &base,
        &[
            (format!("/programmes/{unknown}"), 404, "Programme not found"),
            (
                "/programmes/EKJURV".to_string(),
                400,
                "Invalid parameter: id",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn test_activities_are_listed_and_found_by_id() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    let list = get_json(format!("{base}/activities")).await;
    let list = list.as_array().expect("a JSON array");
    assert_eq!(list.len(), 3);
    for a in list {
        check_activity(a);
    }
    let id = TestActivityName::new("GRGRMAT01_6").skolverket_id();
    assert_eq!(id.to_string(), "b229977a-7bd3-58ad-b7a2-3fdc774840fd");
    let one = get_json(format!("{base}/activities/{id}")).await;
    check_activity(&one);
    assert_eq!(one["displayName"], "GRGRMAT01_6");
    assert_eq!(one["schoolYear"], 6);
    assert_eq!(one["schoolType"], "GR");

    let gy = TestActivityName::new("MATMAT01a").skolverket_id();
    let course = get_json(format!("{base}/activities/{gy}")).await;
    assert!(
        course.get("schoolYear").is_none(),
        "GY courses have no school year"
    );

    let unknown = TestActivityName::new("GRGRMAT01_5").skolverket_id();
    check_errors(
        &base,
        &[
            (format!("/activities/{unknown}"), 404, "Activity not found"),
            (
                "/activities/GRGRMAT01_6".to_string(),
                400,
                "Invalid parameter: id",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_paths_get_the_error_body() {
    let (base, _) = serve(catalogue(), Faults::default()).await;
    check_error(get(format!("{base}/schools")).await, 404, "Not found").await;
}

#[tokio::test]
async fn injected_server_errors_and_slowness_apply() {
    let (base, faults) = serve(
        catalogue(),
        Faults {
            server_error_share: 1.0,
            ..Faults::default()
        },
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..12 {
        let response = get(format!("{base}/alive")).await;
        let status = response.status().as_u16();
        assert!(status == 500 || status == 503, "got {status}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"].as_u64(), Some(u64::from(status)));
        seen.push(status);
    }
    assert!(
        seen.contains(&500) && seen.contains(&503),
        "both 5xx kinds occur: {seen:?}"
    );

    faults.set(Faults {
        slow: Duration::from_millis(150),
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(get(format!("{base}/alive")).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(150));

    faults.set(Faults::default());
    let started = Instant::now();
    assert_eq!(get(format!("{base}/alive")).await.status(), 200);
    assert!(started.elapsed() < Duration::from_millis(150));
}

/// The generated municipality's whole catalogue, served, fits the schemas.
#[tokio::test]
async fn a_generated_catalogue_is_served_within_the_schemas() {
    let municipality = generate(&GenerateConfig {
        students: 300,
        ..GenerateConfig::default()
    });
    let catalogue = municipality.catalogue.clone();
    let (base, _) = serve(municipality.catalogue, Faults::default()).await;
    for org in &catalogue.organisations {
        let served = get_json(format!(
            "{base}/organisations/{}?expandSchoolUnits=true",
            org.id
        ))
        .await;
        check_organisation(&served);
    }
    for unit in &catalogue.school_units {
        check_school_unit(&get_json(format!("{base}/schoolUnits/{}", unit.id)).await);
    }
    let programmes = get_json(format!("{base}/programmes")).await;
    assert_eq!(
        programmes.as_array().unwrap().len(),
        catalogue.programmes.len()
    );
    programmes
        .as_array()
        .unwrap()
        .iter()
        .for_each(check_programme);
    let activities = get_json(format!("{base}/activities")).await;
    let names: Vec<&str> = activities
        .as_array()
        .unwrap()
        .iter()
        .inspect(|a| check_activity(a))
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    for expected in ["GRGRMAT01_6", "GRGRSVE01_9", "GRGRENG01_9", "MATMAT01a"] {
        assert!(names.contains(&expected), "{expected} is a test activity");
    }
}
