//! The sandbox's own reading of the request bodies of
//! `dnp-provisioning-api.yaml` (`components/schemas` Person, Duty, Group,
//! Activity and the `{data: [...]}` envelopes of the bulk calls), written
//! out here field by field from the yaml — deliberately *not* from
//! `skolsync_model::provtjanst`, so that a client type that drifts from the
//! spec fails a sandbox test instead of agreeing with itself.
//!
//! A body is checked as JSON against these shapes before anything else
//! reads it; every problem is reported at once, each naming its place
//! (`data[3].enrolments[0].schoolType`). What is judged here, per request
//! (answer `400`, LogEntry 9000):
//! - JSON types of every property (string, integer, boolean, array, object);
//! - `required` properties (a misspelt required name is a missing one);
//! - code-list values exactly as the yaml's `enum` lists them (case too);
//! - `format: uuid` in the 36-character RFC 4122 text form;
//! - properties the schema does not name. The yaml does not close its
//!   schemas (`additionalProperties` is absent); not documented; chosen
//!   because a misspelt optional name (`emial`) would otherwise silently
//!   drop data, which is the mistake a test sandbox exists to show.
//!
//! Not judged here but per entity when the job settles (their LogEntries
//! in the job status): `minimum`/`maximum` (`schoolYear`), `maxItems`
//! (`eduPersonPrincipalNames`, `externalIdentifiers`) and the value rules
//! the descriptions state. Not documented where the real service draws
//! this line; chosen because the spec's only `400` examples for the bulk
//! calls are about query parameters, and one entity's bad value should not
//! refuse the whole batch.
//!
//! The read-only properties (`meta`, `provisioningStatus`) are accepted and
//! ignored in requests (OpenAPI 3: readOnly properties "SHOULD NOT be sent"
//! — a should, so not refused).

use serde_json::Value;

/// The shape of a JSON value, as the yaml states it.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// `type: string`.
    Text,
    /// `type: string, format: uuid`.
    Uuid,
    /// `type: integer` (range judged per entity).
    Integer,
    /// `type: boolean`.
    Boolean,
    /// `type: string` with an `enum` (the code list's title and values).
    Code(&'static str, &'static [&'static str]),
    /// `type: array` of the item shape.
    List(&'static Shape),
    /// `type: object` with these properties.
    Object(&'static [Field]),
    /// A read-only property: accepted and not looked into.
    ReadOnly,
}

/// One property of an object schema.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name, exactly as the yaml spells it.
    pub name: &'static str,
    /// Whether the schema lists it under `required`.
    pub required: bool,
    /// Its shape.
    pub shape: Shape,
}

const fn req(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        required: true,
        shape,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        required: false,
        shape,
    }
}

/// `ObjectReference` (and every `*Reference` built on it): `id` required.
const REFERENCE: Shape = Shape::Object(&[req("id", Shape::Uuid)]);
const META: Field = opt("meta", Shape::ReadOnly);
const PROVISIONING_STATUS: Field = opt("provisioningStatus", Shape::ReadOnly);

/// `Code_SchoolType` of the Provisioning API: five values only.
pub const SCHOOL_TYPES: &[&str] = &["GR", "SP", "SAM", "GY", "VUXGY"];
/// `Code_EmailType`.
pub const EMAIL_TYPES: &[&str] = &["Privat", "Skola elev", "Skola personal", "Arbete övrigt"];
/// `Code_SecurityMarking`.
const SECURITY_MARKINGS: &[&str] = &["Ingen", "Sekretessmarkering", "Skyddad folkbokföring"];
/// `Code_DutyRole`.
const DUTY_ROLES: &[&str] = &[
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
/// `Code_GroupType`.
const GROUP_TYPES: &[&str] = &[
    "Undervisning",
    "Klass",
    "Mentor",
    "Provgrupp",
    "Schema",
    "Avdelning",
    "Personalgrupp",
    "Övrigt",
];
/// `Code_ActivityType`.
const ACTIVITY_TYPES: &[&str] = &[
    "Undervisning",
    "Elevaktivitet",
    "Provaktivitet",
    "Läraraktivitet",
    "Övrigt",
];

const SCHOOL_TYPE: Shape = Shape::Code("Code_SchoolType", SCHOOL_TYPES);

/// `Enrolment`: `enroledAt` and `schoolType` required.
const ENROLMENT: Shape = Shape::Object(&[
    req("enroledAt", REFERENCE),
    opt("schoolYear", Shape::Integer),
    req("schoolType", SCHOOL_TYPE),
    opt("cancelled", Shape::Boolean),
    opt("educationCode", Shape::Text),
]);

/// `Person` (`required: id, civicNo, givenName, familyName,
/// eduPersonPrincipalNames`).
pub const PERSON: Shape = Shape::Object(&[
    req("id", Shape::Uuid),
    META,
    req("givenName", Shape::Text),
    opt("middleName", Shape::Text),
    req("familyName", Shape::Text),
    req("eduPersonPrincipalNames", Shape::List(&Shape::Text)),
    opt(
        "externalIdentifiers",
        Shape::List(&Shape::Object(&[
            req("value", Shape::Text),
            req("context", Shape::Text),
            opt("globallyUnique", Shape::Boolean),
        ])),
    ),
    opt(
        "securityMarking",
        Shape::Code("Code_SecurityMarking", SECURITY_MARKINGS),
    ),
    req(
        "civicNo",
        Shape::Object(&[req("value", Shape::Text), opt("nationality", Shape::Text)]),
    ),
    opt(
        "emails",
        Shape::List(&Shape::Object(&[
            req("value", Shape::Text),
            opt("type", Shape::Code("Code_EmailType", EMAIL_TYPES)),
        ])),
    ),
    opt("enrolments", Shape::List(&ENROLMENT)),
    PROVISIONING_STATUS,
]);

/// `Duty` (`required: id, person, dutyAt, dutyRole`).
pub const DUTY: Shape = Shape::Object(&[
    req("id", Shape::Uuid),
    META,
    req("person", REFERENCE),
    req("dutyAt", REFERENCE),
    req("dutyRole", Shape::Code("Code_DutyRole", DUTY_ROLES)),
    PROVISIONING_STATUS,
]);

/// `Group` = `GroupFragment` (`required: id, displayName, groupType,
/// schoolType, organisation`) + `groupMemberships`.
pub const GROUP: Shape = Shape::Object(&[
    req("id", Shape::Uuid),
    META,
    req("displayName", Shape::Text),
    req("groupType", Shape::Code("Code_GroupType", GROUP_TYPES)),
    req("schoolType", SCHOOL_TYPE),
    req("organisation", REFERENCE),
    PROVISIONING_STATUS,
    opt(
        "groupMemberships",
        Shape::List(&Shape::Object(&[opt("person", REFERENCE)])),
    ),
]);

/// `Activity` (`required: id, displayName, activityType, groups,
/// organisation, parentActivity`).
pub const ACTIVITY: Shape = Shape::Object(&[
    req("id", Shape::Uuid),
    META,
    req("displayName", Shape::Text),
    req(
        "activityType",
        Shape::Code("Code_ActivityType", ACTIVITY_TYPES),
    ),
    req("groups", Shape::List(&REFERENCE)),
    opt(
        "teachers",
        Shape::List(&Shape::Object(&[opt("duty", REFERENCE)])),
    ),
    req("organisation", REFERENCE),
    req("parentActivity", REFERENCE),
    PROVISIONING_STATUS,
]);

/// The body of `POST /x/bulk/delete`: `{data: [uuid]}`, `data` required.
pub const DELETE: Shape = Shape::Object(&[req("data", Shape::List(&Shape::Uuid))]);

/// The envelope of `POST|PUT /x/bulk` around the resource's shape.
pub fn bulk(resource: &'static Shape) -> [Field; 1] {
    [req("data", Shape::List(resource))]
}

/// Every way `value` differs from `shape`, each as `place: problem`
/// (Swedish, as the service's messages).
pub fn problems(value: &Value, shape: &Shape, at: &str) -> Vec<String> {
    let mut found = Vec::new();
    check(value, shape, at, &mut found);
    found
}

/// [`problems`] of a bulk body against the envelope of `resource`.
pub fn bulk_problems(value: &Value, resource: &'static Shape) -> Vec<String> {
    let envelope = bulk(resource);
    let mut found = Vec::new();
    check_object(value, &envelope, "", &mut found);
    found
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}

fn place(at: &str) -> &str {
    if at.is_empty() { "body" } else { at }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "tal",
        Value::String(_) => "text",
        Value::Array(_) => "lista",
        Value::Object(_) => "objekt",
    }
}

fn check(value: &Value, shape: &Shape, at: &str, found: &mut Vec<String>) {
    let wrong = |expected: &str, found: &mut Vec<String>| {
        found.push(format!(
            "<{}> ska vara {expected}, inte {}",
            place(at),
            type_name(value)
        ));
    };
    match shape {
        Shape::ReadOnly => {}
        Shape::Text => {
            if !value.is_string() {
                wrong("text", found);
            }
        }
        Shape::Uuid => match value.as_str() {
            Some(text) if is_uuid(text) => {}
            Some(_) => found.push(format!(
                "<{}> ska vara ett UUID enligt RFC4122 (36 tecken med bindestreck)",
                place(at)
            )),
            None => wrong("ett UUID som text", found),
        },
        Shape::Integer => {
            if !(value.is_i64() || value.is_u64()) {
                wrong("ett heltal", found);
            }
        }
        Shape::Boolean => {
            if !value.is_boolean() {
                wrong("true eller false", found);
            }
        }
        Shape::Code(list, values) => match value.as_str() {
            Some(text) if values.contains(&text) => {}
            Some(text) => found.push(format!(
                "värdet \"{text}\" för <{}> finns inte i kodlistan {list} ({})",
                place(at),
                values.join(", ")
            )),
            None => wrong("text ur kodlistan", found),
        },
        Shape::List(item) => match value.as_array() {
            Some(items) => {
                for (i, v) in items.iter().enumerate() {
                    check(v, item, &format!("{at}[{i}]"), found);
                }
            }
            None => wrong("en lista", found),
        },
        Shape::Object(fields) => check_object(value, fields, at, found),
    }
}

fn check_object(value: &Value, fields: &[Field], at: &str, found: &mut Vec<String>) {
    let Some(object) = value.as_object() else {
        found.push(format!(
            "<{}> ska vara ett objekt, inte {}",
            place(at),
            type_name(value)
        ));
        return;
    };
    for field in fields {
        match object.get(field.name) {
            None if field.required => {
                found.push(format!(
                    "<{}> saknas men är obligatoriskt",
                    join(at, field.name)
                ));
            }
            None => {}
            Some(v) => check(v, &field.shape, &join(at, field.name), found),
        }
    }
    for name in object.keys() {
        if !fields.iter().any(|f| f.name == name) {
            let known: Vec<&str> = fields.iter().map(|f| f.name).collect();
            found.push(format!(
                "<{}> finns inte i schemat (kända attribut: {})",
                join(at, name),
                known.join(", ")
            ));
        }
    }
}

/// A UUID in the RFC 4122 text form (36 characters with hyphens).
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::parse_str(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person() -> Value {
        json!({
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "givenName": "Pippi",
            "familyName": "Långstrump",
            "eduPersonPrincipalNames": ["pippi@edu.huvudman.se"],
            "civicNo": { "value": "200901272385", "nationality": "SE" },
            "emails": [{ "value": "pippi@skola.se", "type": "Skola elev" }],
            "enrolments": [{
                "enroledAt": { "id": "3fa85f64-5717-4562-b3fc-2c963f66afa5" },
                "schoolType": "GR",
                "schoolYear": 4
            }],
            "meta": { "created": "2021-05-12T10:30:00.123+02:00" },
            "provisioningStatus": true
        })
    }

    #[test]
    fn a_person_as_the_spec_writes_it_passes() {
        assert_eq!(
            problems(&person(), &PERSON, "data[0]"),
            Vec::<String>::new()
        );
        assert!(bulk_problems(&json!({ "data": [person()] }), &PERSON).is_empty());
    }

    #[test]
    fn a_misspelt_name_is_both_unknown_and_missing() {
        let mut p = person();
        let obj = p.as_object_mut().unwrap();
        let v = obj.remove("familyName").unwrap();
        obj.insert("familyname".into(), v);
        let found = problems(&p, &PERSON, "data[0]");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].contains("<data[0].familyName> saknas"),
            "{found:?}"
        );
        assert!(
            found[1].contains("<data[0].familyname> finns inte"),
            "{found:?}"
        );
    }

    #[test]
    fn code_list_values_are_exact_and_only_the_apis_own() {
        let mut p = person();
        p["enrolments"][0]["schoolType"] = json!("gr");
        p["emails"][0]["type"] = json!("Skola Elev");
        let found = problems(&p, &PERSON, "data[0]");
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found
                .iter()
                .any(|f| f.contains("<data[0].enrolments[0].schoolType>"))
        );
        assert!(found.iter().any(|f| f.contains("<data[0].emails[0].type>")));
        // SS 12000 has VUX; the Provisioning API's Code_SchoolType does not.
        p["enrolments"][0]["schoolType"] = json!("VUX");
        p["emails"][0]["type"] = json!("Skola elev");
        let found = problems(&p, &PERSON, "data[0]");
        assert!(found[0].contains("Code_SchoolType"), "{found:?}");
    }

    #[test]
    fn types_and_uuids_are_checked_everywhere() {
        let mut p = person();
        p["id"] = json!("3fa85f6457174562b3fc2c963f66afa6");
        p["enrolments"][0]["schoolYear"] = json!("4");
        p["civicNo"] = json!("200901272385");
        let found = problems(&p, &PERSON, "");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("<id>"));
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("<civicNo> ska vara ett objekt"))
        );
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("<enrolments[0].schoolYear> ska vara ett heltal"))
        );
    }

    #[test]
    fn envelopes_need_data() {
        let found = bulk_problems(&json!({ "items": [] }), &DUTY);
        assert!(
            found
                .iter()
                .any(|f| f == "<data> saknas men är obligatoriskt"),
            "{found:?}"
        );
        let found = problems(&json!({ "data": ["x"] }), &DELETE, "");
        assert!(
            found[0].starts_with("<data[0]> ska vara ett UUID"),
            "{found:?}"
        );
        let found = problems(&json!([]), &DELETE, "");
        assert!(
            found[0].starts_with("<body> ska vara ett objekt"),
            "{found:?}"
        );
    }

    #[test]
    fn activities_need_their_references() {
        let found = problems(
            &json!({
                "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
                "displayName": "Ma 6A",
                "activityType": "Undervisning",
                "groups": [{ "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6" }],
                "teachers": [{ "duty": { "uuid": "x" } }],
                "organisation": { "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6" }
            }),
            &ACTIVITY,
            "",
        );
        assert!(
            found.contains(&"<parentActivity> saknas men är obligatoriskt".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"<teachers[0].duty.id> saknas men är obligatoriskt".to_string()),
            "{found:?}"
        );
    }
}
