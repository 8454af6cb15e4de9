//! The Provisioning API emulator judges for itself, over HTTP: bodies by
//! its own reading of the spec's schemas (not by the client's types), each
//! entity against Skolverket's register (unit status, `dnpStatus`, school
//! types and years offered, programmes, the huvudman of the token), the
//! staff-only attributes, and jobs that settle entity by entity.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use skolsync_model::SchoolUnitCode;
use skolsync_model::open_data::{
    OrganisationReference, Programme, SchoolUnit, SchoolUnitSchoolType, SchoolYear, Status,
};
use skolsync_sandbox::provisioning::{ClientIdentity, ProvisioningState, TokenCheck, router};
use skolsync_sandbox::{
    Catalogue, FaultSwitch, Faults, Limits, ProvisioningOptions, UnsettledListing,
};
use uuid::Uuid;

const TOKEN: &str = "own-huvudman";
const OWN_ORG: &str = "2120000142";
const OTHER_ORG: &str = "2120000159";
/// F–6 school, ours.
const F6: &str = "31279295";
/// Gymnasium with programme NA, ours.
const GY: &str = "46987524";
/// Closed (Expired).
const CLOSED: &str = "55512345";
/// Active but not in the provtjänst.
const OUTSIDE: &str = "55554321";
/// Another huvudman's.
const FOREIGN: &str = "77712345";

fn unit(code: &str) -> Uuid {
    SchoolUnitCode::new(code).skolverket_id()
}

fn catalogue() -> Catalogue {
    let types = |school_type: &str, years: std::ops::RangeInclusive<u8>| SchoolUnitSchoolType {
        school_type: school_type.to_string(),
        dnp_status: Some(true),
        school_years: years
            .map(|y| SchoolYear {
                school_year: y,
                dnp_status: Some(true),
            })
            .collect(),
    };
    let school_unit =
        |code: &str, org: &str, status: Status, dnp: bool, t: SchoolUnitSchoolType| SchoolUnit {
            id: unit(code),
            display_name: format!("Skola {code}"),
            school_unit_code: code.to_string(),
            school_types: vec![t],
            municipality_code: None,
            municipality_name: None,
            status: Some(status),
            dnp_status: Some(dnp),
            parent_organisation: Some(OrganisationReference {
                id: Uuid::new_v5(&Uuid::NAMESPACE_OID, org.as_bytes()),
                organisation_number: format!("{}-{}", &org[..6], &org[6..]),
                display_name: None,
            }),
        };
    Catalogue {
        organisations: Vec::new(),
        school_units: vec![
            school_unit(F6, OWN_ORG, Status::Active, true, types("GR", 1..=6)),
            school_unit(GY, OWN_ORG, Status::Active, true, types("GY", 1..=3)),
            school_unit(CLOSED, OWN_ORG, Status::Expired, true, types("GR", 1..=6)),
            school_unit(OUTSIDE, OWN_ORG, Status::Active, false, types("GR", 7..=9)),
            school_unit(FOREIGN, OTHER_ORG, Status::Active, true, types("GR", 1..=9)),
        ],
        programmes: vec![Programme {
            id: Uuid::new_v5(&Uuid::NAMESPACE_OID, b"NA"),
            display_name: "Naturvetenskapsprogrammet".to_string(),
            education_code: "NA".to_string(),
            school_type: Some("GY".to_string()),
            valid_from: None,
            status: Some(Status::Active),
        }],
        test_activities: Vec::new(),
    }
}

/// A valid personnummer born on `date` (YYYYMMDD) with a serial.
fn pnr(date: &str, serial: u32) -> String {
    let nine = format!("{}{serial:03}", &date[2..]);
    let sum: u32 = nine
        .bytes()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0') * if i % 2 == 0 { 2 } else { 1 };
            d / 10 + d % 10
        })
        .sum();
    format!("{date}{serial:03}{}", (10 - sum % 10) % 10)
}

fn pupil(n: u32, enrolment: Value) -> (Uuid, Value) {
    let id = Uuid::new_v4();
    let body = json!({
        "id": id,
        "givenName": "Maja",
        "familyName": "Ek",
        "eduPersonPrincipalNames": [format!("p{n}@edu.kommun.se")],
        "civicNo": {"value": pnr("20120315", n), "nationality": "SE"},
        "emails": [{"value": format!("p{n}@elev.kommun.se"), "type": "Skola elev"}],
        "enrolments": [enrolment]
    });
    (id, body)
}

fn gr(code: &str, year: u8) -> Value {
    json!({"enroledAt": {"id": unit(code)}, "schoolType": "GR", "schoolYear": year})
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn start(interval: Duration, unsettled: UnsettledListing) -> Api {
        let check: TokenCheck = Arc::new(|token: &str| match token {
            TOKEN => Ok(ClientIdentity {
                client: "own".to_string(),
                organisation: Some(OWN_ORG.to_string()),
            }),
            _ => Err("unknown token".to_string()),
        });
        let state = ProvisioningState::new(
            Arc::new(catalogue()),
            Arc::new(FaultSwitch::new(Faults::default(), 3)),
            Limits {
                bulk_per_second: 100_000,
                read_per_second: 100_000,
                ..Limits::default()
            },
            Duration::from_millis(100),
            check,
        )
        .with_settling(&ProvisioningOptions {
            entity_interval: interval,
            unsettled,
            ..ProvisioningOptions::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, router(state)).await.unwrap();
        });
        Api {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn quick() -> Api {
        Api::start(Duration::ZERO, UnsettledListing::Pending).await
    }

    async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    /// Sends `items` to `/{segment}/bulk` and returns the job id.
    async fn submit(&self, segment: &str, items: Vec<Value>) -> String {
        let (status, body) = self
            .post(&format!("/{segment}/bulk"), &json!({ "data": items }))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        body["jobId"].as_str().unwrap().to_string()
    }

    /// The job's status once it is complete.
    async fn settled(&self, segment: &str, job: &str) -> Value {
        for _ in 0..200 {
            let done = self
                .get(&format!("/{segment}/bulk/jobs/{job}/isCompleted"))
                .await;
            if done == json!(true) {
                return self.get(&format!("/{segment}/bulk/jobs/{job}")).await;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("job {job} never completed");
    }

    /// Sends one entity and returns its settled outcome.
    async fn outcome(&self, segment: &str, item: Value) -> Value {
        let job = self.submit(segment, vec![item]).await;
        let status = self.settled(segment, &job).await;
        status["responses"][0]["response"].clone()
    }
}

/// The ids of the LogEntries under `list` ("errors"/"warnings").
fn ids(outcome: &Value, list: &str) -> Vec<String> {
    outcome[list]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

// ---- independent parsing --------------------------------------------------------

/// A 400 with LogEntry 9000 whose message names every place in `places`.
async fn refused(api: &Api, path: &str, body: Value, places: &[&str]) {
    let (status, answer) = api.post(path, &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer[0]["id"], "9000", "{answer}");
    let message = answer[0]["message"].as_str().unwrap();
    for place in places {
        assert!(message.contains(place), "{place} not named in: {message}");
    }
}

#[tokio::test]
async fn bodies_are_judged_by_the_spec_and_each_problem_is_named() {
    let api = Api::quick().await;
    let (_, mut person) = pupil(1, gr(F6, 3));

    // A misspelt required name: missing, and unknown to the schema.
    let value = person
        .as_object_mut()
        .unwrap()
        .remove("familyName")
        .unwrap();
    person["familyname"] = value.clone();
    refused(
        &api,
        "/persons/bulk",
        json!({ "data": [person.clone()] }),
        &[
            "<data[0].familyName> saknas",
            "<data[0].familyname> finns inte i schemat",
        ],
    )
    .await;
    person.as_object_mut().unwrap().remove("familyname");
    person["familyName"] = value;

    // A misspelt optional name would silently drop data: refused too.
    let mut typo = person.clone();
    typo["securitymarking"] = json!("Ingen");
    refused(
        &api,
        "/persons/bulk",
        json!({ "data": [typo] }),
        &["<data[0].securitymarking>"],
    )
    .await;

    // Code lists are exact, and only the Provisioning API's own values.
    let mut case = person.clone();
    case["enrolments"][0]["schoolType"] = json!("Gr");
    case["emails"][0]["type"] = json!("skola elev");
    refused(
        &api,
        "/persons/bulk",
        json!({ "data": [case] }),
        &[
            "<data[0].enrolments[0].schoolType>",
            "<data[0].emails[0].type>",
            "Code_SchoolType",
        ],
    )
    .await;
    let mut vux = person.clone();
    vux["enrolments"][0]["schoolType"] = json!("VUX");
    refused(
        &api,
        "/persons/bulk",
        json!({ "data": [vux] }),
        &["\"VUX\""],
    )
    .await;

    // A Duty without its required dutyRole; a delete of something not a UUID.
    let duty =
        json!({"id": Uuid::new_v4(), "person": {"id": Uuid::new_v4()}, "dutyAt": {"id": unit(F6)}});
    refused(
        &api,
        "/duties/bulk",
        json!({ "data": [duty] }),
        &["<data[0].dutyRole> saknas"],
    )
    .await;
    refused(
        &api,
        "/persons/bulk/delete",
        json!({ "data": ["42"] }),
        &["<data[0]>", "UUID"],
    )
    .await;
    refused(
        &api,
        "/groups/bulk",
        json!({ "items": [] }),
        &["<data> saknas"],
    )
    .await;

    // And the spec's own shape passes, read-only fields included.
    person["meta"] = json!({"created": "2021-05-12T10:30:00.123+02:00"});
    person["provisioningStatus"] = json!(false);
    let outcome = api.outcome("persons", person).await;
    assert_eq!(outcome["status"], "Success", "{outcome}");
}

/// An attribute read back as it was sent; an empty list may come back
/// absent (the spec does not say which a read shows).
fn same(read: &Value, sent: &Value) -> bool {
    read == sent || (read.is_null() && sent.as_array().is_some_and(Vec::is_empty))
}

#[tokio::test]
async fn every_optional_attribute_the_spec_names_is_taken() {
    let api = Api::quick().await;
    // A staff member with every optional Person attribute the yaml lists,
    // each in a form it allows (an untyped address, `globallyUnique`,
    // `middleName`, `securityMarking`, empty lists).
    let staff = json!({
        "id": Uuid::new_v4(), "givenName": "Sven", "middleName": "Olof", "familyName": "Berg",
        "eduPersonPrincipalNames": ["s.o.b@edu.kommun.se"],
        "civicNo": {"value": pnr("19800101", 9), "nationality": "SE"},
        "securityMarking": "Skyddad folkbokföring",
        "emails": [{"value": "sob@kommun.se"}],
        "externalIdentifiers": [{"value": "sob@eduid.se", "context": "https://eduid.se", "globallyUnique": true}],
        "enrolments": []
    });
    let outcome = api.outcome("persons", staff.clone()).await;
    assert_eq!(outcome["status"], "Success", "{outcome}");
    // …and kept: what is read back holds every attribute as it was sent
    // (a stored form that dropped one would show here).
    let stored = api
        .get(&format!("/persons/{}", staff["id"].as_str().unwrap()))
        .await;
    for (key, sent) in staff.as_object().unwrap() {
        assert!(
            same(&stored[key], sent),
            "{key} read back as {}",
            stored[key]
        );
    }
    // A pupil with a cancelled enrolment besides the active one.
    let (_, mut pupil) = pupil(70, gr(F6, 1));
    pupil["enrolments"] = json!([
        {"enroledAt": {"id": unit(F6)}, "schoolType": "GR", "schoolYear": 2, "cancelled": false},
        {"enroledAt": {"id": unit(F6)}, "schoolType": "GR", "schoolYear": 1, "cancelled": true}
    ]);
    let outcome = api.outcome("persons", pupil).await;
    assert_eq!(outcome["status"], "Success", "{outcome}");
    // A group without members.
    let group = Uuid::new_v4();
    let sent = json!({"id": group, "displayName": "1A", "groupType": "Klass", "schoolType": "GR",
                      "organisation": {"id": unit(F6)}, "groupMemberships": []});
    let outcome = api.outcome("groups", sent.clone()).await;
    assert_eq!(outcome["status"], "Success", "{outcome}");
    let stored = api.get(&format!("/groups/{group}")).await;
    for (key, value) in sent.as_object().unwrap() {
        assert!(
            same(&stored[key], value),
            "{key} read back as {}",
            stored[key]
        );
    }
}

// ---- the register ------------------------------------------------------------------

#[tokio::test]
async fn enrolments_are_judged_against_the_register() {
    let api = Api::quick().await;
    let cases = [
        (gr(CLOSED, 3), "9124", "har upphört"),
        (gr(OUTSIDE, 8), "9125", "finns inte i provtjänsten"),
        (gr(FOREIGN, 3), "9126", "tillhör inte huvudmannen"),
        (
            json!({"enroledAt": {"id": unit(F6)}, "schoolType": "GY", "educationCode": "NA"}),
            "9127",
            "har inte skolformen GY",
        ),
        (gr(F6, 8), "9128", "har inte årskurs 8"),
        (
            json!({"enroledAt": {"id": unit(GY)}, "schoolType": "GY", "educationCode": "XX99"}),
            "9123",
            "Studievägskoden XX99",
        ),
    ];
    for (n, (enrolment, id, text)) in cases.into_iter().enumerate() {
        let (_, person) = pupil(10 + u32::try_from(n).unwrap(), enrolment);
        let outcome = api.outcome("persons", person).await;
        assert_eq!(outcome["status"], "Error", "{id}: {outcome}");
        assert_eq!(ids(&outcome, "errors"), vec![id.to_string()], "{outcome}");
        let message = outcome["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(text), "{id}: {message}");
    }
    // The same pupil at a unit that offers it all is taken.
    let (_, ok) = pupil(
        30,
        json!({"enroledAt": {"id": unit(GY)}, "schoolType": "GY", "schoolYear": 2, "educationCode": "NA"}),
    );
    assert_eq!(api.outcome("persons", ok).await["status"], "Success");
}

#[tokio::test]
async fn groups_duties_and_the_huvudman_are_judged_too() {
    let api = Api::quick().await;
    let group = |code: &str, school_type: &str| {
        json!({"id": Uuid::new_v4(), "displayName": "7A", "groupType": "Klass",
               "schoolType": school_type, "organisation": {"id": unit(code)}})
    };
    let outcome = api.outcome("groups", group(F6, "GY")).await;
    assert_eq!(
        ids(&outcome, "errors"),
        vec!["9127".to_string()],
        "{outcome}"
    );
    let outcome = api.outcome("groups", group(FOREIGN, "GR")).await;
    assert_eq!(
        ids(&outcome, "errors"),
        vec!["9126".to_string()],
        "{outcome}"
    );
    let outcome = api.outcome("groups", group(F6, "GR")).await;
    assert_eq!(outcome["status"], "Success", "{outcome}");

    // Staff: no pupil enrolment, a school e-mail, a duty at an own unit.
    let staff = Uuid::new_v4();
    let person = json!({
        "id": staff, "givenName": "Sven", "familyName": "Berg",
        "eduPersonPrincipalNames": ["sven@edu.kommun.se"],
        "civicNo": {"value": pnr("19800101", 5)},
        "emails": [{"value": "sven@kommun.se", "type": "Skola personal"}],
        "externalIdentifiers": [{"value": "sven@eduid.se", "context": "https://eduid.se"}]
    });
    assert_eq!(api.outcome("persons", person).await["status"], "Success");
    let duty = |code: &str| json!({"id": Uuid::new_v4(), "person": {"id": staff}, "dutyAt": {"id": unit(code)}, "dutyRole": "Lärare"});
    let outcome = api.outcome("duties", duty(CLOSED)).await;
    assert_eq!(
        ids(&outcome, "errors"),
        vec!["9124".to_string()],
        "{outcome}"
    );
    assert_eq!(api.outcome("duties", duty(F6)).await["status"], "Success");
}

#[tokio::test]
async fn staff_attributes_only_for_staff_and_email_only_of_supported_types() {
    let api = Api::quick().await;
    // externalIdentifiers on an enrolled pupil: Error 9129.
    let (_, mut with_eduid) = pupil(40, gr(F6, 4));
    with_eduid["externalIdentifiers"] =
        json!([{"value": "maja@eduid.se", "context": "https://eduid.se"}]);
    let outcome = api.outcome("persons", with_eduid).await;
    assert_eq!(
        ids(&outcome, "errors"),
        vec!["9129".to_string()],
        "{outcome}"
    );

    // Staff whose only address is private: the person is taken with a
    // Warning (9119); the Duty is refused for want of a school address.
    let staff = Uuid::new_v4();
    let person = json!({
        "id": staff, "givenName": "Sven", "familyName": "Berg",
        "eduPersonPrincipalNames": ["sven.b@edu.kommun.se"],
        "civicNo": {"value": pnr("19800101", 7)},
        "emails": [{"value": "sven@example.se", "type": "Privat"}]
    });
    let outcome = api.outcome("persons", person).await;
    assert_eq!(outcome["status"], "Warning", "{outcome}");
    assert_eq!(
        ids(&outcome, "warnings"),
        vec!["9119".to_string()],
        "{outcome}"
    );
    let duty = json!({"id": Uuid::new_v4(), "person": {"id": staff}, "dutyAt": {"id": unit(F6)}, "dutyRole": "Lärare"});
    let outcome = api.outcome("duties", duty).await;
    assert_eq!(
        ids(&outcome, "errors"),
        vec!["9118".to_string()],
        "{outcome}"
    );
}

// ---- jobs settle entity by entity ---------------------------------------------------

fn statuses(job: &Value) -> Vec<String> {
    job["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["response"]["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_job_read_mid_way_is_partial_and_not_completed() {
    let api = Api::start(Duration::from_millis(400), UnsettledListing::Pending).await;
    let items: Vec<Value> = (0..4).map(|n| pupil(50 + n, gr(F6, 2)).1).collect();
    let job = api.submit("persons", items).await;
    // After the settle delay and before the second entity's turn.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mid = api.get(&format!("/persons/bulk/jobs/{job}")).await;
    assert_eq!(
        statuses(&mid),
        ["Success", "Pending", "Pending", "Pending"],
        "{mid}"
    );
    assert_eq!(
        api.get(&format!("/persons/bulk/jobs/{job}/isCompleted"))
            .await,
        json!(false)
    );
    let done = api.settled("persons", &job).await;
    assert_eq!(statuses(&done), ["Success"; 4], "{done}");
}

#[tokio::test]
async fn a_job_can_leave_unsettled_entities_out_of_its_status() {
    let api = Api::start(Duration::from_millis(400), UnsettledListing::Absent).await;
    let items: Vec<Value> = (0..3).map(|n| pupil(60 + n, gr(F6, 5)).1).collect();
    let job = api.submit("persons", items).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mid = api.get(&format!("/persons/bulk/jobs/{job}")).await;
    assert_eq!(statuses(&mid), ["Success"], "{mid}");
    assert_eq!(
        api.get(&format!("/persons/bulk/jobs/{job}/isCompleted"))
            .await,
        json!(false)
    );
    let done = api.settled("persons", &job).await;
    assert_eq!(statuses(&done), ["Success"; 3], "{done}");
}
