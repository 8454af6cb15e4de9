//! The Provisioning API's schemas (dnp-provisioning-api.yaml v1.3.x),
//! written out: properties, required properties, code lists and the
//! profile's extra rules. Payloads are checked as the JSON they serialise to.

use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

const CODE_SCHOOL_TYPE: &[&str] = &["GR", "SP", "SAM", "GY", "VUXGY"];
const CODE_GROUP_TYPE: &[&str] = &[
    "Undervisning",
    "Klass",
    "Mentor",
    "Provgrupp",
    "Schema",
    "Avdelning",
    "Personalgrupp",
    "Övrigt",
];
const CODE_ACTIVITY_TYPE: &[&str] = &[
    "Undervisning",
    "Elevaktivitet",
    "Provaktivitet",
    "Läraraktivitet",
    "Övrigt",
];
const CODE_DUTY_ROLE: &[&str] = &[
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
];
const CODE_EMAIL_TYPE: &[&str] = &["Privat", "Skola elev", "Skola personal", "Arbete övrigt"];
const CODE_SECURITY_MARKING: &[&str] = &["Ingen", "Sekretessmarkering", "Skyddad folkbokföring"];

/// What the referenced Skolverket ids must belong to.
pub struct Known {
    pub school_units: HashSet<Uuid>,
    pub test_activities: HashSet<Uuid>,
}

fn object<'a>(
    v: &'a Value,
    at: &str,
    properties: &[&str],
    required: &[&str],
) -> &'a serde_json::Map<String, Value> {
    let map = v
        .as_object()
        .unwrap_or_else(|| panic!("{at}: not an object: {v}"));
    for key in map.keys() {
        assert!(
            properties.contains(&key.as_str()),
            "{at}: `{key}` is not a property of the schema"
        );
    }
    for key in required {
        assert!(
            map.contains_key(*key),
            "{at}: required `{key}` missing in {v}"
        );
    }
    map
}

fn uuid(v: &Value, at: &str) -> Uuid {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{at}: not a string: {v}"));
    let u = Uuid::parse_str(s).unwrap_or_else(|_| panic!("{at}: not a UUID: {s}"));
    assert_eq!(
        s,
        u.hyphenated().to_string(),
        "{at}: UUID not in canonical form"
    );
    u
}

fn reference(v: &Value, at: &str) -> Uuid {
    let map = object(v, at, &["id"], &["id"]);
    uuid(&map["id"], &format!("{at}.id"))
}

fn code(v: &Value, at: &str, list: &[&str]) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{at}: not a string: {v}"));
    assert!(list.contains(&s), "{at}: `{s}` not in the code list");
}

fn non_empty_string(v: &Value, at: &str) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{at}: not a string: {v}"));
    assert!(!s.trim().is_empty(), "{at}: empty");
}

/// `Person`, and the profile: exactly one EPPN, a 12-character civicNo,
/// e-mail only `Skola elev`/`Skola personal`, Skolverket school unit ids.
pub fn person(v: &Value, known: &Known) {
    let at = "Person";
    let p = object(
        v,
        at,
        &[
            "id",
            "meta",
            "givenName",
            "middleName",
            "familyName",
            "eduPersonPrincipalNames",
            "externalIdentifiers",
            "securityMarking",
            "civicNo",
            "emails",
            "enrolments",
            "provisioningStatus",
        ],
        &[
            "id",
            "civicNo",
            "givenName",
            "familyName",
            "eduPersonPrincipalNames",
        ],
    );
    assert!(
        !p.contains_key("meta") && !p.contains_key("provisioningStatus"),
        "read-only sent"
    );
    uuid(&p["id"], "Person.id");
    non_empty_string(&p["givenName"], "Person.givenName");
    non_empty_string(&p["familyName"], "Person.familyName");
    let eppns = p["eduPersonPrincipalNames"].as_array().expect("EPPN array");
    assert_eq!(eppns.len(), 1, "exactly one EPPN");
    let eppn = eppns[0].as_str().expect("EPPN string");
    assert_eq!(eppn.matches('@').count(), 1, "EPPN local@domain: {eppn}");
    let civic = object(
        &p["civicNo"],
        "Person.civicNo",
        &["value", "nationality"],
        &["value"],
    );
    let value = civic["value"].as_str().expect("civicNo string");
    assert_eq!(value.len(), 12, "civicNo has 12 characters");
    assert!(
        value.bytes().all(|b| b.is_ascii_digit()) || &value[8..10] == "TF",
        "civicNo digits or TF"
    );
    if let Some(n) = civic.get("nationality") {
        assert_eq!(n, "SE");
    }
    if let Some(m) = p.get("securityMarking") {
        code(m, "Person.securityMarking", CODE_SECURITY_MARKING);
    }
    for e in p
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let e = object(e, "Person.emails[]", &["value", "type"], &["value"]);
        non_empty_string(&e["value"], "Person.emails[].value");
        if let Some(t) = e.get("type") {
            code(t, "Person.emails[].type", CODE_EMAIL_TYPE);
            code(
                t,
                "Person.emails[].type (profile)",
                &["Skola elev", "Skola personal"],
            );
        }
    }
    let external = p.get("externalIdentifiers").and_then(Value::as_array);
    assert!(
        external.is_none_or(|x| x.len() <= 1),
        "externalIdentifiers maxItems 1"
    );
    for x in external.into_iter().flatten() {
        let x = object(
            x,
            "Person.externalIdentifiers[]",
            &["value", "context", "globallyUnique"],
            &["context", "value"],
        );
        assert_eq!(x["context"], "https://eduid.se");
    }
    for e in p
        .get("enrolments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let e = object(
            e,
            "Person.enrolments[]",
            &[
                "enroledAt",
                "schoolYear",
                "schoolType",
                "cancelled",
                "educationCode",
            ],
            &["enroledAt", "schoolType"],
        );
        let unit = reference(&e["enroledAt"], "Enrolment.enroledAt");
        assert!(
            known.school_units.contains(&unit),
            "enroledAt is a Skolverket school unit id"
        );
        code(&e["schoolType"], "Enrolment.schoolType", CODE_SCHOOL_TYPE);
        let st = e["schoolType"].as_str().unwrap_or_default();
        if let Some(y) = e.get("schoolYear") {
            let y = y.as_u64().expect("schoolYear integer");
            assert!((1..=10).contains(&y), "schoolYear 1–10");
        }
        if ["GR", "SP", "SAM"].contains(&st) {
            assert!(e.contains_key("schoolYear"), "schoolYear required for {st}");
        }
        if st == "GY" {
            non_empty_string(&e["educationCode"], "Enrolment.educationCode (GY)");
        }
    }
}

/// `Duty`.
pub fn duty(v: &Value, known: &Known) {
    let d = object(
        v,
        "Duty",
        &[
            "id",
            "meta",
            "person",
            "dutyAt",
            "dutyRole",
            "provisioningStatus",
        ],
        &["id", "person", "dutyAt", "dutyRole"],
    );
    uuid(&d["id"], "Duty.id");
    reference(&d["person"], "Duty.person");
    let unit = reference(&d["dutyAt"], "Duty.dutyAt");
    assert!(
        known.school_units.contains(&unit),
        "dutyAt is a Skolverket school unit id"
    );
    code(&d["dutyRole"], "Duty.dutyRole", CODE_DUTY_ROLE);
}

/// `Group` (GroupFragment + memberships), and the profile: Klass or Undervisning.
pub fn group(v: &Value, known: &Known) {
    let g = object(
        v,
        "Group",
        &[
            "id",
            "meta",
            "displayName",
            "groupType",
            "schoolType",
            "organisation",
            "provisioningStatus",
            "groupMemberships",
        ],
        &[
            "id",
            "displayName",
            "groupType",
            "schoolType",
            "organisation",
        ],
    );
    uuid(&g["id"], "Group.id");
    non_empty_string(&g["displayName"], "Group.displayName");
    code(&g["groupType"], "Group.groupType", CODE_GROUP_TYPE);
    code(
        &g["groupType"],
        "Group.groupType (profile)",
        &["Klass", "Undervisning"],
    );
    code(&g["schoolType"], "Group.schoolType", CODE_SCHOOL_TYPE);
    let unit = reference(&g["organisation"], "Group.organisation");
    assert!(
        known.school_units.contains(&unit),
        "organisation is a Skolverket school unit id"
    );
    for m in g["groupMemberships"].as_array().expect("memberships sent") {
        let m = object(m, "GroupMembership", &["person"], &[]);
        reference(&m["person"], "GroupMembership.person");
    }
}

/// `Activity`, and the profile: Undervisning, a Skolverket test activity.
pub fn activity(v: &Value, known: &Known) {
    let a = object(
        v,
        "Activity",
        &[
            "id",
            "meta",
            "displayName",
            "activityType",
            "groups",
            "teachers",
            "organisation",
            "parentActivity",
            "provisioningStatus",
        ],
        &[
            "id",
            "displayName",
            "activityType",
            "groups",
            "organisation",
            "parentActivity",
        ],
    );
    uuid(&a["id"], "Activity.id");
    non_empty_string(&a["displayName"], "Activity.displayName");
    code(
        &a["activityType"],
        "Activity.activityType",
        CODE_ACTIVITY_TYPE,
    );
    assert_eq!(
        a["activityType"], "Undervisning",
        "profile: Undervisning only"
    );
    let groups = a["groups"].as_array().expect("groups array");
    assert!(!groups.is_empty(), "groups minItems 1");
    for g in groups {
        reference(g, "Activity.groups[]");
    }
    for t in a["teachers"].as_array().expect("teachers sent") {
        let t = object(t, "DutyAssignment", &["duty"], &[]);
        reference(&t["duty"], "DutyAssignment.duty");
    }
    let unit = reference(&a["organisation"], "Activity.organisation");
    assert!(
        known.school_units.contains(&unit),
        "organisation is a Skolverket school unit id"
    );
    let parent = reference(&a["parentActivity"], "Activity.parentActivity");
    assert!(
        known.test_activities.contains(&parent),
        "parentActivity is a Skolverket test activity id"
    );
}
