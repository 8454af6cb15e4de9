//! The provtjänst payload model against the Provisioning API spec (v1.3.x):
//! every example body the spec gives is parsed, re-serialised and compared,
//! built payloads carry exactly the spec's field names, and every code list
//! value of the spec exists. The spec's examples are copied verbatim below,
//! so the tests never read the spec itself.

// Tests assert by unwrapping; outside `#[test]` functions clippy.toml does not see that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use skolsync_model::provtjanst::{
    Accepted, Activity, AsynchronousResponse, BulkRequest, CivicNoValue, DeleteRequest, Duty,
    DutyAssignment, Email, Enrolment, ExternalIdentifier, Group, GroupMembership, IdLookup,
    LogEntry, Meta, ObjectReference, PROVISIONING_ORDER, Page, Payload, Person, PersonLookup,
    from_json, path_segment,
};
use skolsync_model::{
    ActivityType, DutyRole, EmailType, GroupType, JobEntityStatus, ObjectType, SchoolType,
    SecurityMarking, SeverityLevel, skolverket_uuid,
};
use uuid::Uuid;

// ---------------------------------------------------------------------------
// Examples copied verbatim from provisioning-api_dnp-provisioning-api.yaml
// ---------------------------------------------------------------------------

/// `GET /persons` 200: the example of an item of `data` (a single person).
const GET_PERSONS_DATA_EXAMPLE: &str = r#"{
  "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
  "meta": {
    "created": "2021-05-12T10:30:00.123+02:00",
    "modified": "2021-05-12T10:30:00.123+02:00"
  },
  "givenName": "Pippilotta Viktualia Rullgardina Krusmynta",
  "middleName": "Efraimsdotter",
  "familyName": "Långstrump",
  "eduPersonPrincipalNames": [
    "fc79e369-18a3-40c4-aa33-d92057bfff65@edu.huvudman.se"
  ],
  "civicNo": {
    "value": "200901272385",
    "nationality": "SE"
  },
  "provisioningStatus": true
}"#;

/// `GET /persons` 200: the example of `pageToken`.
const PAGE_TOKEN_EXAMPLE: &str = "eyJpZCI6IjAzMzEwMmQ4LWUyYjYtNDQzZS1iYzUwLWIzMjNkM2EwYWU1NSIsImNyZWF0ZWQiOiIyMDI1LTA5LTIyVDA5OjAwOjQ4LjE3OTQxNyJ9";

/// `POST /persons/lookup` request body example (given as YAML in the spec, here as JSON).
const PERSONS_LOOKUP_EXAMPLE: &str = r#"{
  "ids": [
    "d544563a-747a-42d3-8d37-415a101537fa"
  ],
  "civicNos": [
    "200901272385"
  ],
  "eduPersonPrincipalNames": [
    "fc79e369-18a3-40c4-aa33-d92057bfff65@edu.huvudman.se"
  ]
}"#;

/// `200_job_status` example (`AsynchronousResponse`).
const JOB_STATUS_EXAMPLE: &str = r#"{
  "jobId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
  "responses": [
    {
      "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
      "response": {
        "status": "Warning",
        "statusCode": 201,
        "location": "https://api.skolverket.se/dnp/iga/provisioning/v1/persons/3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "errors": [],
        "warnings": [
          {
              "id": "3047",
              "statusCode": 400,
              "messageType": "Bristfälligt värde",
              "message": "Bristfälligt värde på Federationsanvändarnamn, värdet innehåller de tre första bokstäverna i efternamnet, eller de två första bokstäverna i efternamnet och de två första bokstäverna i förnamnet. Uppdatera värdet så att det följer Skolverkets riktlinjer för EPPN, se https://www.skolverket.se/skolutveckling/digitala-nationella-prov/overforing-av-uppgifter-till-skolverket/eppn.",
              "resourceType": "Person",
              "resourceId": "1282f516-d087-47fc-b82e-481e6663ba02",
              "attributeName": "eppn",
              "attributeValue": "efraimsdotter09@edu.huvudman.se",
              "severityLevel": "Warning",
              "timeOfOccurance": "2025-08-14T16:17:42.048+02:00"
          }
        ]
      },
      "meta": {
        "created": "2021-05-12T10:30:00.123+02:00",
        "modified": "2021-05-12T10:30:00.123+02:00"
      }
    }
  ]
}"#;

/// `202_accepted` body, assembled from the examples of its `jobId` and `message` properties (the spec has no whole-body example).
const ACCEPTED_EXAMPLE: &str = r#"{
  "jobId": "3fa85f64-5717-4562-b3fc-2c963f66afa7",
  "message": "Anropet har tagits emot. Återkoppling görs asynkront. Kontrollera status av asynkrona processen genom att följa URL-adressen i ’Location’-header."
}"#;

/// Every error response example: `(LogEntry id, body)`.
const ERROR_EXAMPLES: &[(&str, &str)] = &[
    // 400_invalid_parameter / invalid_updateIfExists
    (
        "2025",
        r#"[
  {
    "id": "2025",
    "statusCode": 400,
    "messageType": "Ogiltigt format",
    "message": "Ogiltigt format på ´query´ parameter <updateIfExists>. Format ska vara boolean (true/false).",
    "parameterName": "updateIfExists",
    "parameterValue": "xxxxx",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 400_invalid_parameter / invalid_limit
    (
        "3085",
        r#"[
  {
    "id": "3085",
    "statusCode": 400,
    "messageType": "Ogiltigt värde",
    "message": "Värdet för <limit> måste vara ett tal mellan 1 och 100 (inklusive).",
    "parameterName": "limit",
    "severityLevel": "Error",
    "timeOfOccurance": "2025-11-13T08:56:22.844+01:00"
  }
]"#,
    ),
    // 400_invalid_lookup / invalid_ids
    (
        "2010",
        r#"[
  {
    "id": "2010",
    "statusCode": 400,
    "messageType": "Ogiltigt format",
    "message": "Ogiltigt format på ´body´ parameter <ids>. Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt.",
    "parameterName": "ids",
    "parameterValue": "xxxxx",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 400_invalid_id
    (
        "2011",
        r#"[
  {
    "id": "2011",
    "statusCode": 400,
    "messageType": "Ogiltigt format",
    "message": "Ogiltigt format på ´path´ parameter <id>. Format ska vara UUID enligt RFC4122. Se https://www.ietf.org/rfc/rfc4122.txt.",
    "parameterName": "id",
    "parameterValue": "xxxxx",
    "resourceType": "Person",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 403_not_authorised
    (
        "5002",
        r#"[
  {
    "id": "5002",
    "statusCode": 403,
    "messageType": "Behörighet saknas",
    "message": "Ogiltigt JWT bearer token.",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 404_not_found
    (
        "4001",
        r#"[
  {
    "id": "4001",
    "statusCode": 404,
    "messageType": "Ogiltigt värde",
    "message": "Person identifierats av angivet värden i `path` parameter <id> hittades inte.",
    "parameterName": "id",
    "parameterValue": "3fa85f64-5717-4562-b3fc-2c963f66afa7",
    "resourceType": "Person",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 413_payload_too_large
    (
        "5020",
        r#"[
  {
    "id": "5020",
    "statusCode": 413,
    "messageType": "Teknisk begränsning",
    "message": "Provisionerade uppgifter överstiger tillåten datamängd.",
    "severityLevel": "Error",
    "timeOfOccurance": "2025-03-06T16:10:01.431+01:00"
  }
]"#,
    ),
    // 429_too_many_requests
    (
        "5021",
        r#"[
  {
    "id": "5021",
    "statusCode": 429,
    "messageType": "Teknisk begränsning",
    "message": "Den högsta tillåtna antal förfrågningar har uppnåtts för den specifika URL:en.",
    "severityLevel": "Error",
    "timeOfOccurance": "2025-03-06T16:10:01.431+01:00"
  }
]"#,
    ),
    // 503_overload
    (
        "6001",
        r#"[
  {
    "id": "6001",
    "statusCode": 503,
    "messageType": "Overload",
    "message": "Svaret är för stort för servern att hantera.",
    "resourceType": "Person",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
    // 503_service_unavailable
    (
        "5022",
        r#"[
  {
    "id": "5022",
    "statusCode": 503,
    "messageType": "Teknisk begränsning",
    "message": "Tjänsten är inte tillgänglig. Försök igen senare.",
    "severityLevel": "Error",
    "timeOfOccurance": "2025-03-06T16:10:01.431+01:00"
  }
]"#,
    ),
    // default_error
    (
        "5004",
        r#"[
  {
    "id": "5004",
    "statusCode": 500,
    "messageType": "Okänt fel",
    "message": "Ett okänt fel inträffade.",
    "severityLevel": "Error",
    "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
  }
]"#,
    ),
];

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Parses `json`, re-serialises the value, parses that again and checks the
/// two parsed values are equal.
fn round_trip<T>(json: &str) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let parsed: T = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}\n{json}"));
    let again = serde_json::to_string(&parsed).unwrap();
    let reparsed: T = serde_json::from_str(&again).unwrap_or_else(|e| panic!("{e}\n{again}"));
    assert_eq!(parsed, reparsed);
    parsed
}

/// Asserts `value` serialises to exactly the JSON document `json`.
fn assert_same_json<T: Serialize>(value: &T, json: &str) {
    let original: Value = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_value(value).unwrap(), original);
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

/// Panics with the JSON path of the first `null` in `value`.
fn assert_no_null(value: &Value, path: &str) {
    match value {
        Value::Null => panic!("null at {path}"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_no_null(item, &format!("{path}[{i}]"));
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                assert_no_null(v, &format!("{path}.{k}"));
            }
        }
        _ => {}
    }
}

fn uuid(s: &str) -> Uuid {
    Uuid::parse_str(s).unwrap()
}

fn school_unit() -> ObjectReference {
    ObjectReference::new(skolverket_uuid("31279295"))
}

fn pupil() -> Person {
    Person {
        id: uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"),
        meta: None,
        given_name: "Pippilotta Viktualia Rullgardina Krusmynta".into(),
        middle_name: Some("Efraimsdotter".into()),
        family_name: "Långstrump".into(),
        edu_person_principal_names: vec![
            "fc79e369-18a3-40c4-aa33-d92057bfff65@edu.huvudman.se".into(),
        ],
        external_identifiers: vec![ExternalIdentifier {
            value: "movip-eiral@eduid.se".into(),
            context: "https://eduid.se".into(),
            globally_unique: Some(true),
        }],
        security_marking: Some(SecurityMarking::Ingen),
        civic_no: CivicNoValue::swedish("200901272385"),
        emails: vec![Email {
            value: "piplan145@soderhavetsgymnasium.se".into(),
            email_type: Some(EmailType::SkolaElev),
        }],
        enrolments: vec![Enrolment {
            enroled_at: school_unit(),
            school_year: Some(6),
            school_type: SchoolType::Gr,
            cancelled: Some(false),
            education_code: Some("RLKOK11".into()),
        }],
        provisioning_status: None,
    }
}

fn teacher_duty() -> Duty {
    Duty {
        id: uuid("0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a01"),
        meta: None,
        person: ObjectReference::new(uuid("0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a02")),
        duty_at: school_unit(),
        duty_role: DutyRole::Larare,
        provisioning_status: None,
    }
}

fn teaching_group() -> Group {
    Group {
        id: uuid("0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a03"),
        meta: None,
        display_name: "6A Matematik".into(),
        group_type: GroupType::Undervisning,
        school_type: SchoolType::Gr,
        organisation: school_unit(),
        provisioning_status: None,
        group_memberships: vec![GroupMembership {
            person: ObjectReference::new(uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6")),
        }],
    }
}

fn maths_activity() -> Activity {
    Activity {
        id: uuid("0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a04"),
        meta: None,
        display_name: "Matematik 6A".into(),
        activity_type: ActivityType::Undervisning,
        groups: vec![ObjectReference::new(teaching_group().id)],
        teachers: vec![DutyAssignment {
            duty: ObjectReference::new(teacher_duty().id),
        }],
        organisation: school_unit(),
        parent_activity: ObjectReference::new(skolverket_uuid("GRGRMAT01_6")),
        provisioning_status: None,
    }
}

// ---------------------------------------------------------------------------
// The spec's examples
// ---------------------------------------------------------------------------

#[test]
fn get_persons_example_person_round_trips_exactly() {
    let person: Person = round_trip(GET_PERSONS_DATA_EXAMPLE);
    assert_same_json(&person, GET_PERSONS_DATA_EXAMPLE);
    assert_eq!(person.id, uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    assert_eq!(person.civic_no.value, "200901272385");
    assert_eq!(person.civic_no.nationality.as_deref(), Some("SE"));
    assert_eq!(person.middle_name.as_deref(), Some("Efraimsdotter"));
    assert_eq!(person.family_name, "Långstrump");
    assert_eq!(
        person.edu_person_principal_names,
        ["fc79e369-18a3-40c4-aa33-d92057bfff65@edu.huvudman.se"]
    );
    assert_eq!(person.provisioning_status, Some(true));
    assert_eq!(
        person.meta,
        Some(Meta {
            created: Some("2021-05-12T10:30:00.123+02:00".into()),
            modified: Some("2021-05-12T10:30:00.123+02:00".into()),
        })
    );
    // GET /persons returns a subset of attributes: missing lists are empty.
    assert!(person.emails.is_empty());
    assert!(person.enrolments.is_empty());
    assert!(person.external_identifiers.is_empty());
}

#[test]
fn get_persons_page_parses_with_a_token_with_null_and_without() {
    let with_token =
        format!(r#"{{"data": [{GET_PERSONS_DATA_EXAMPLE}], "pageToken": "{PAGE_TOKEN_EXAMPLE}"}}"#);
    let page: Page<Person> = round_trip(&with_token);
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.page_token.as_deref(), Some(PAGE_TOKEN_EXAMPLE));
    assert_same_json(&page, &with_token);

    let last = format!(r#"{{"data": [{GET_PERSONS_DATA_EXAMPLE}], "pageToken": null}}"#);
    let page: Page<Person> = round_trip(&last);
    assert_eq!(page.page_token, None);
    // The spec's field is nullable: the last page says so explicitly.
    assert_same_json(&page, &last);

    let page: Page<Duty> = round_trip(r#"{"data": []}"#);
    assert!(page.data.is_empty());
    assert_eq!(page.page_token, None);
}

#[test]
fn persons_lookup_example_round_trips_exactly() {
    let lookup: PersonLookup = round_trip(PERSONS_LOOKUP_EXAMPLE);
    assert_same_json(&lookup, PERSONS_LOOKUP_EXAMPLE);
    assert_eq!(lookup.ids, [uuid("d544563a-747a-42d3-8d37-415a101537fa")]);
    assert_eq!(lookup.civic_nos, ["200901272385"]);
    assert_eq!(
        lookup.edu_person_principal_names,
        ["fc79e369-18a3-40c4-aa33-d92057bfff65@edu.huvudman.se"]
    );
}

#[test]
fn job_status_example_round_trips_exactly() {
    let status: AsynchronousResponse = round_trip(JOB_STATUS_EXAMPLE);
    assert_same_json(&status, JOB_STATUS_EXAMPLE);
    assert_eq!(status.job_id, uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    assert!(status.is_completed());
    let [entity] = status.responses.as_slice() else {
        panic!("one response expected: {status:?}");
    };
    assert_eq!(entity.id, uuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
    assert_eq!(entity.response.status, JobEntityStatus::Warning);
    assert!(entity.response.status.is_accepted());
    assert_eq!(entity.response.status_code, Some(201));
    assert_eq!(
        entity.response.location.as_deref(),
        Some(
            "https://api.skolverket.se/dnp/iga/provisioning/v1/persons/3fa85f64-5717-4562-b3fc-2c963f66afa6"
        )
    );
    assert!(entity.response.errors.is_empty());
    let [warning] = entity.response.warnings.as_slice() else {
        panic!("one warning expected: {entity:?}");
    };
    assert_eq!(warning.id, "3047");
    assert_eq!(warning.status_code, 400);
    assert_eq!(warning.message_type.as_deref(), Some("Bristfälligt värde"));
    assert_eq!(warning.resource_type, Some(ObjectType::Person));
    assert_eq!(
        warning.resource_id.as_deref(),
        Some("1282f516-d087-47fc-b82e-481e6663ba02")
    );
    assert_eq!(warning.attribute_name.as_deref(), Some("eppn"));
    assert_eq!(
        warning.attribute_value.as_deref(),
        Some("efraimsdotter09@edu.huvudman.se")
    );
    assert_eq!(warning.severity_level, SeverityLevel::Warning);
    assert_eq!(warning.time_of_occurance, "2025-08-14T16:17:42.048+02:00");
    assert!(entity.meta.is_some());
}

#[test]
fn accepted_example_round_trips_exactly() {
    let accepted: Accepted = round_trip(ACCEPTED_EXAMPLE);
    assert_same_json(&accepted, ACCEPTED_EXAMPLE);
    assert_eq!(
        accepted.job_id,
        uuid("3fa85f64-5717-4562-b3fc-2c963f66afa7")
    );
    assert!(
        accepted
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("Anropet har tagits emot."))
    );
    let bare: Accepted = round_trip(r#"{"jobId": "3fa85f64-5717-4562-b3fc-2c963f66afa7"}"#);
    assert_eq!(bare.message, None);
}

#[test]
fn every_error_example_round_trips_exactly() {
    assert_eq!(ERROR_EXAMPLES.len(), 11);
    for (code, json) in ERROR_EXAMPLES {
        let entries: Vec<LogEntry> = round_trip(json);
        assert_same_json(&entries, json);
        let [entry] = entries.as_slice() else {
            panic!("{code}: one entry expected: {entries:?}");
        };
        assert_eq!(entry.id, *code);
        assert_eq!(entry.severity_level, SeverityLevel::Error, "{code}");
        let raw: Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            Some(u64::from(entry.status_code)),
            raw[0]["statusCode"].as_u64(),
            "{code}"
        );
        assert!(!entry.message.is_empty(), "{code}");
    }
}

#[test]
fn log_entry_schema_example_with_numeric_values_is_accepted() {
    // Assembled from the LogEntry schema's property examples; the spec gives
    // `attributeValue` as the number 0 although the type is string. The id
    // is given as a number too, as a lenient service might send it.
    let json = r#"{
      "id": 2011,
      "statusCode": 400,
      "messageType": "Ogiltigt format",
      "message": "Ogiltigt format på <schoolYear>.",
      "parameterName": "id",
      "parameterValue": "xxx",
      "resourceType": "Person",
      "resourceId": "3fa85f64-5717-4562-b3fc-2c963f66afa7",
      "attributeName": "Enrolment.schoolYear",
      "attributeValue": 0,
      "severityLevel": "Error",
      "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"
    }"#;
    let entry: LogEntry = round_trip(json);
    assert_eq!(entry.id, "2011");
    assert_eq!(entry.attribute_value.as_deref(), Some("0"));
    assert_eq!(
        entry.attribute_name.as_deref(),
        Some("Enrolment.schoolYear")
    );
    let out = serde_json::to_value(&entry).unwrap();
    assert_eq!(out["id"], "2011");
    assert_eq!(out["attributeValue"], "0");

    let with_null: LogEntry = serde_json::from_str(
        r#"{"id": "5004", "statusCode": 500, "message": "x", "attributeValue": null,
            "severityLevel": "Error", "timeOfOccurance": "2021-05-12T10:30:00.123+02:00"}"#,
    )
    .unwrap();
    assert_eq!(with_null.attribute_value, None);
}

// ---------------------------------------------------------------------------
// Payloads we build
// ---------------------------------------------------------------------------

#[test]
fn person_serialises_with_the_specs_field_names_and_swedish_values() {
    let json = serde_json::to_value(pupil()).unwrap();
    assert_no_null(&json, "$");
    assert_eq!(
        keys(&json),
        set(&[
            "id",
            "givenName",
            "middleName",
            "familyName",
            "eduPersonPrincipalNames",
            "externalIdentifiers",
            "securityMarking",
            "civicNo",
            "emails",
            "enrolments",
        ])
    );
    assert_eq!(keys(&json["civicNo"]), set(&["value", "nationality"]));
    assert_eq!(json["civicNo"]["value"], "200901272385");
    assert_eq!(json["civicNo"]["nationality"], "SE");
    assert_eq!(keys(&json["emails"][0]), set(&["value", "type"]));
    assert_eq!(json["emails"][0]["type"], "Skola elev");
    assert_eq!(
        keys(&json["externalIdentifiers"][0]),
        set(&["value", "context", "globallyUnique"])
    );
    assert_eq!(
        keys(&json["enrolments"][0]),
        set(&[
            "enroledAt",
            "schoolYear",
            "schoolType",
            "cancelled",
            "educationCode"
        ])
    );
    assert_eq!(keys(&json["enrolments"][0]["enroledAt"]), set(&["id"]));
    assert_eq!(
        json["enrolments"][0]["enroledAt"]["id"],
        "fb22448b-b724-5e53-8a2c-d8b339206901"
    );
    assert_eq!(json["enrolments"][0]["schoolYear"], 6);
    assert_eq!(json["enrolments"][0]["schoolType"], "GR");
    assert_eq!(json["securityMarking"], "Ingen");
    assert_eq!(round_trip::<Person>(&json.to_string()), pupil());
}

#[test]
fn minimal_person_leaves_out_optional_fields_but_keeps_the_eppn_list() {
    let person = Person {
        middle_name: None,
        external_identifiers: vec![],
        security_marking: None,
        civic_no: CivicNoValue {
            value: "200901272385".into(),
            nationality: None,
        },
        emails: vec![],
        enrolments: vec![],
        edu_person_principal_names: vec![],
        ..pupil()
    };
    let json = serde_json::to_value(&person).unwrap();
    assert_no_null(&json, "$");
    assert_eq!(
        keys(&json),
        set(&[
            "id",
            "givenName",
            "familyName",
            "eduPersonPrincipalNames",
            "civicNo"
        ])
    );
    assert_eq!(json["eduPersonPrincipalNames"], Value::Array(vec![]));
    assert_eq!(keys(&json["civicNo"]), set(&["value"]));

    let enrolment = Enrolment {
        enroled_at: school_unit(),
        school_year: None,
        school_type: SchoolType::Gy,
        cancelled: None,
        education_code: None,
    };
    let json = serde_json::to_value(enrolment).unwrap();
    assert_eq!(keys(&json), set(&["enroledAt", "schoolType"]));
    assert_eq!(json["schoolType"], "GY");
}

#[test]
fn duty_serialises_with_the_specs_field_names_and_swedish_values() {
    let json = serde_json::to_value(teacher_duty()).unwrap();
    assert_no_null(&json, "$");
    assert_eq!(keys(&json), set(&["id", "person", "dutyAt", "dutyRole"]));
    assert_eq!(keys(&json["person"]), set(&["id"]));
    assert_eq!(keys(&json["dutyAt"]), set(&["id"]));
    assert_eq!(json["dutyRole"], "Lärare");
    let json = serde_json::to_value(Duty {
        duty_role: DutyRole::Speciallarare,
        ..teacher_duty()
    })
    .unwrap();
    assert_eq!(json["dutyRole"], "Speciallärare/specialpedagog");
}

#[test]
fn group_serialises_with_the_specs_field_names_and_swedish_values() {
    let json = serde_json::to_value(teaching_group()).unwrap();
    assert_no_null(&json, "$");
    assert_eq!(
        keys(&json),
        set(&[
            "id",
            "displayName",
            "groupType",
            "schoolType",
            "organisation",
            "groupMemberships",
        ])
    );
    assert_eq!(json["groupType"], "Undervisning");
    assert_eq!(json["schoolType"], "GR");
    assert_eq!(keys(&json["groupMemberships"][0]), set(&["person"]));
    assert_eq!(keys(&json["groupMemberships"][0]["person"]), set(&["id"]));

    let empty = Group {
        group_memberships: vec![],
        group_type: GroupType::Klass,
        ..teaching_group()
    };
    let json = serde_json::to_value(empty).unwrap();
    // An emptied group says so explicitly, so an update clears its members.
    assert_eq!(json["groupMemberships"], serde_json::json!([]), "{json}");
    assert_eq!(json["groupType"], "Klass");
}

#[test]
fn activity_serialises_with_the_specs_field_names_and_swedish_values() {
    let json = serde_json::to_value(maths_activity()).unwrap();
    assert_no_null(&json, "$");
    assert_eq!(
        keys(&json),
        set(&[
            "id",
            "displayName",
            "activityType",
            "groups",
            "teachers",
            "organisation",
            "parentActivity",
        ])
    );
    assert_eq!(json["activityType"], "Undervisning");
    assert_eq!(keys(&json["groups"][0]), set(&["id"]));
    assert_eq!(keys(&json["teachers"][0]), set(&["duty"]));
    assert_eq!(keys(&json["teachers"][0]["duty"]), set(&["id"]));
    assert_eq!(
        json["parentActivity"]["id"],
        "b229977a-7bd3-58ad-b7a2-3fdc774840fd"
    );

    let without_teachers = Activity {
        teachers: vec![],
        ..maths_activity()
    };
    let json = serde_json::to_value(without_teachers).unwrap();
    assert_eq!(json["teachers"], serde_json::json!([]), "{json}");
    assert!(json.get("groups").is_some(), "{json}");
}

#[test]
fn read_back_payloads_tolerate_unknown_fields_and_missing_lists() {
    let group: Group = serde_json::from_str(
        r#"{
          "id": "0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a03",
          "displayName": "6A",
          "groupType": "Klass",
          "schoolType": "GR",
          "organisation": {"id": "fb22448b-b724-5e53-8a2c-d8b339206901", "extra": 1},
          "provisioningStatus": false,
          "somethingNew": {"nested": [1, 2, 3]}
        }"#,
    )
    .unwrap();
    assert!(group.group_memberships.is_empty());
    assert_eq!(group.provisioning_status, Some(false));

    let activity: Activity = serde_json::from_str(
        r#"{
          "id": "0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a04",
          "displayName": "Matematik 6A",
          "activityType": "Undervisning",
          "groups": [{"id": "0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a03"}],
          "organisation": {"id": "fb22448b-b724-5e53-8a2c-d8b339206901"},
          "parentActivity": {"id": "b229977a-7bd3-58ad-b7a2-3fdc774840fd"}
        }"#,
    )
    .unwrap();
    assert!(activity.teachers.is_empty());

    // A civic number our validator would reject still deserializes.
    let person: Person = serde_json::from_str(
        r#"{"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "givenName": "A", "familyName": "B",
            "eduPersonPrincipalNames": [], "civicNo": {"value": "not-a-number"}}"#,
    )
    .unwrap();
    assert_eq!(person.civic_no.value, "not-a-number");

    // Required fields are required.
    let err = serde_json::from_str::<Person>(
        r#"{"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "givenName": "A", "familyName": "B",
            "eduPersonPrincipalNames": []}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("civicNo"), "{err}");
}

#[test]
fn request_envelopes_have_the_specs_shape() {
    let bulk = serde_json::to_value(BulkRequest {
        data: vec![teacher_duty()],
    })
    .unwrap();
    assert_eq!(keys(&bulk), set(&["data"]));
    assert_eq!(bulk["data"][0]["dutyRole"], "Lärare");

    let delete = serde_json::to_value(DeleteRequest {
        data: vec![teacher_duty().id],
    })
    .unwrap();
    assert_eq!(
        delete,
        serde_json::json!({"data": ["0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a01"]})
    );

    let lookup = serde_json::to_value(IdLookup {
        ids: vec![teacher_duty().id],
    })
    .unwrap();
    assert_eq!(
        lookup,
        serde_json::json!({"ids": ["0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a01"]})
    );

    let by_eppn = serde_json::to_value(PersonLookup {
        edu_person_principal_names: vec!["a@edu.huvudman.se".into()],
        ..PersonLookup::default()
    })
    .unwrap();
    assert_eq!(
        by_eppn,
        serde_json::json!({"eduPersonPrincipalNames": ["a@edu.huvudman.se"]})
    );
}

#[test]
fn payload_kinds_paths_and_read_only_fields() {
    assert_eq!(Person::KIND, ObjectType::Person);
    assert_eq!(Duty::KIND, ObjectType::Duty);
    assert_eq!(Group::KIND, ObjectType::Group);
    assert_eq!(Activity::KIND, ObjectType::Activity);
    assert_eq!(
        [
            Person::PATH_SEGMENT,
            Duty::PATH_SEGMENT,
            Group::PATH_SEGMENT,
            Activity::PATH_SEGMENT
        ],
        ["persons", "duties", "groups", "activities"]
    );
    assert_eq!(
        PROVISIONING_ORDER.map(path_segment),
        ["persons", "duties", "groups", "activities"]
    );
    assert_eq!(
        maths_activity().id(),
        uuid("0b6c7f0e-49a4-4c55-9b0e-7f9f1c1e6a04")
    );

    let mut person: Person = serde_json::from_str(GET_PERSONS_DATA_EXAMPLE).unwrap();
    assert_eq!(person.provisioning_status(), Some(true));
    assert!(person.meta().is_some());
    person.clear_read_only();
    let json = serde_json::to_value(&person).unwrap();
    assert!(json.get("meta").is_none(), "{json}");
    assert!(json.get("provisioningStatus").is_none(), "{json}");
}

// ---------------------------------------------------------------------------
// Code lists
// ---------------------------------------------------------------------------

fn values<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| as_str(*v)).collect()
}

#[test]
fn every_code_list_value_of_the_spec_exists() {
    assert_eq!(
        values(DutyRole::ALL, DutyRole::as_str),
        [
            "Rektor",
            "Lärare",
            "Förskollärare",
            "Barnskötare",
            "Bibliotekarie",
            "Lärarassistent",
            "Fritidspedagog",
            "Annan personal",
            "Studie- och yrkesvägledare",
            "Förstelärare",
            "Kurator",
            "Skolsköterska",
            "Skolläkare",
            "Skolpsykolog",
            "Speciallärare/specialpedagog",
            "Skoladministratör",
            "Övrig arbetsledning",
        ]
    );
    assert_eq!(
        values(GroupType::ALL, GroupType::as_str),
        [
            "Undervisning",
            "Klass",
            "Mentor",
            "Provgrupp",
            "Schema",
            "Avdelning",
            "Personalgrupp",
            "Övrigt",
        ]
    );
    assert_eq!(
        values(ActivityType::ALL, ActivityType::as_str),
        [
            "Undervisning",
            "Elevaktivitet",
            "Provaktivitet",
            "Läraraktivitet",
            "Övrigt",
        ]
    );
    assert_eq!(
        values(SchoolType::ALL, SchoolType::as_str),
        ["GR", "SP", "SAM", "GY", "VUXGY"]
    );
    assert_eq!(
        values(EmailType::ALL, EmailType::as_str),
        ["Privat", "Skola elev", "Skola personal", "Arbete övrigt"]
    );
    assert_eq!(
        values(SecurityMarking::ALL, SecurityMarking::as_str),
        ["Ingen", "Sekretessmarkering", "Skyddad folkbokföring"]
    );
    assert_eq!(
        values(ObjectType::ALL, ObjectType::as_str),
        ["Person", "Duty", "Group", "Activity"]
    );
    assert_eq!(
        values(SeverityLevel::ALL, SeverityLevel::as_str),
        ["Warning", "Error"]
    );
    assert_eq!(
        values(JobEntityStatus::ALL, JobEntityStatus::as_str),
        ["Pending", "Success", "Error", "Warning", "TemporaryError"]
    );
}

// ---------------------------------------------------------------------------
// Personal data and errors
// ---------------------------------------------------------------------------

#[test]
fn debug_of_a_person_masks_the_civic_number() {
    let debug = format!("{:?}", pupil());
    assert!(!debug.contains("2385"), "{debug}");
    assert!(debug.contains("20090127-****"), "{debug}");
    let pretty = format!("{:#?}", pupil());
    assert!(!pretty.contains("2385"), "{pretty}");

    let temporary = format!("{:?}", CivicNoValue::swedish("20090127TF20"));
    assert!(!temporary.contains("TF20"), "{temporary}");
    assert!(temporary.contains("20090127-****"), "{temporary}");

    // Shorter forms would leak serial digits in their first 8 characters.
    for short in ["0901272385", "090127-2385", "2385"] {
        let debug = format!("{:?}", CivicNoValue::swedish(short));
        assert!(!debug.contains("2385"), "{debug}");
        assert!(!debug.contains("27-2"), "{debug}");
        assert!(debug.contains("****"), "{debug}");
    }

    let lookup: PersonLookup = serde_json::from_str(PERSONS_LOOKUP_EXAMPLE).unwrap();
    let debug = format!("{lookup:?}");
    assert!(!debug.contains("2385"), "{debug}");
}

#[test]
fn unknown_job_status_is_an_error_naming_the_value() {
    let done = JOB_STATUS_EXAMPLE.replace(r#""status": "Warning""#, r#""status": "Done""#);
    assert_ne!(done, JOB_STATUS_EXAMPLE);
    let err = serde_json::from_str::<AsynchronousResponse>(&done).unwrap_err();
    assert!(err.to_string().contains("Done"), "{err}");

    let err = from_json::<AsynchronousResponse>(&done).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("Done"), "{msg}");
    assert!(msg.contains("responses[0].response.status"), "{msg}");

    let ok: AsynchronousResponse = from_json(JOB_STATUS_EXAMPLE).unwrap();
    assert_eq!(ok.responses[0].response.status, JobEntityStatus::Warning);
}
