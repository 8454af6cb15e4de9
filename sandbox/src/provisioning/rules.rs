//! The profile rules: what the provtjänst accepts of each resource, checked
//! per entity when a job settles, against the store as it is at that moment.
//!
//! Each resource type implements [`Resource`]: where it lives in the store,
//! which indexes it feeds, its rules, what blocks its deletion and how its
//! read-only `provisioningStatus` is derived. Interpretations where the spec
//! leaves room are written at the rule.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::Value;
use skolsync_model::civic_no::{CivicNo, CivicNoError, CivicNoKind, mask};
use skolsync_model::eppn;
use skolsync_model::provtjanst::{Activity, Duty, Group, LogEntry, Meta, Payload, Person};
use skolsync_model::{
    ActivityType, DutyRole, EmailType, GroupType, ObjectType, SchoolType, SecurityMarking,
};
use uuid::Uuid;

use super::messages::{self as msg, Entry};
use super::store::{Mode, Table, Tables, Work};
use crate::config::FaultSwitch;
use crate::world::{Catalogue, CatalogueIndex};

/// The only `externalIdentifiers[].context` the provtjänst takes.
const EDUID_CONTEXT: &str = "https://eduid.se";

/// What the rules look things up in: Skolverket's catalogue and the faults.
#[derive(Debug)]
pub struct Rules {
    /// Hash indexes of the school units and test activities Skolverket knows.
    pub index: CatalogueIndex,
    /// Injected faults (TemporaryError share).
    pub faults: Arc<FaultSwitch>,
}

impl Rules {
    /// Rules over `catalogue`.
    pub fn new(catalogue: Arc<Catalogue>, faults: Arc<FaultSwitch>) -> Self {
        Rules {
            index: catalogue.index(),
            faults,
        }
    }

    fn school_unit_known(&self, id: &Uuid) -> bool {
        self.index.school_units.contains_key(id)
    }

    fn test_activity_known(&self, id: &Uuid) -> bool {
        self.index.test_activities.contains_key(id)
    }
}

/// The outcome of the rules for one entity: the entity as it will be stored
/// (a group loses members that do not exist), errors and warnings.
#[derive(Debug)]
pub struct Verdict<T> {
    /// What to store if there are no errors.
    pub entity: T,
    /// Reasons to refuse the entity.
    pub errors: Vec<LogEntry>,
    /// Problems that do not stop it.
    pub warnings: Vec<LogEntry>,
}

/// A resource type the emulator stores and checks.
pub trait Resource: Payload + Send + Sync + 'static {
    /// Its table.
    fn table(t: &Tables) -> &Table<Self>;
    /// Its table, mutably.
    fn table_mut(t: &mut Tables) -> &mut Table<Self>;
    /// Adds the entity to the secondary indexes (before it is stored).
    fn link(_t: &mut Tables, _e: &Self) {}
    /// Removes the entity from the secondary indexes (after it left the table).
    fn unlink(_t: &mut Tables, _e: &Self) {}
    /// Applies the profile rules.
    fn check(e: Self, t: &Tables, rules: &Rules) -> Verdict<Self>;
    /// Why the resource cannot be deleted now (empty: it can).
    fn blockers(_t: &Tables, _id: Uuid) -> Vec<LogEntry> {
        Vec::new()
    }
    /// The read-only `provisioningStatus`.
    fn provisioned(t: &Tables, e: &Self) -> bool;
    /// Sets the read-only fields for an answer.
    fn set_read_only(&mut self, meta: Meta, provisioned: bool);
    /// The attributes `GET /x` lists (all, except for persons).
    fn list_form(self) -> Self {
        self
    }
    /// A code-list value that is not written exactly as the spec's enum
    /// (the model's parser forgives case; the service does not).
    fn inexact_code(item: &Value) -> Option<String>;
    /// The job work for a bulk call with these entities.
    fn work(items: Vec<Self>, mode: Mode) -> Work;
}

fn code_problem(
    item: &Value,
    path: &[&str],
    mut allowed: impl Iterator<Item = &'static str>,
    list: &str,
) -> Option<String> {
    let mut value = item;
    for key in path {
        value = value.get(key)?;
    }
    let text = value.as_str()?;
    if allowed.any(|a| a == text) {
        None
    } else {
        Some(format!(
            "värdet \"{text}\" för <{}> finns inte i kodlistan {list}",
            path.join(".")
        ))
    }
}

fn each<'a>(item: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    item.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn resource_error(
    kind: ObjectType,
    id: Uuid,
    code: &str,
    status: u16,
    message_type: &str,
    message: impl Into<String>,
) -> Entry {
    Entry::new(code, status, message_type, message).resource(kind, id)
}

fn unit_unknown(kind: ObjectType, id: Uuid, code: &str, attribute: &str, unit: Uuid) -> LogEntry {
    resource_error(
        kind,
        id,
        code,
        400,
        "Ogiltigt värde",
        format!(
            "Skolenheten <{attribute}> finns inte i provtjänsten. Värdet ska vara ett UUID som är genererat av Skolverket, se open-data API."
        ),
    )
    .attribute(attribute, unit.to_string())
    .build()
}

/// Why a civicNo value is not what the profile takes, in Swedish.
fn civic_no_problem(value: &str) -> Option<&'static str> {
    if !value.is_ascii() || value.len() != 12 {
        return Some("värdet ska ha 12 tecken utan avskiljare");
    }
    match CivicNo::parse(value) {
        Err(CivicNoError::Luhn { .. }) => Some("kontrollsiffran stämmer inte"),
        Err(CivicNoError::InvalidDate { .. } | CivicNoError::FutureDate { .. }) => {
            Some("datumet är ogiltigt")
        }
        Err(_) => Some("ogiltigt format"),
        Ok(parsed) if parsed.as_str() != value => Some("ogiltigt format"),
        Ok(parsed) if parsed.kind() == CivicNoKind::Temporary && value.get(8..10) != Some("TF") => {
            Some("tillfälligt personnummer ska följa formen ÅÅÅÅMMDDTFxx")
        }
        Ok(_) => None,
    }
}

fn eppn_well_formed(eppn: &str) -> bool {
    let mut parts = eppn.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !eppn.chars().any(char::is_whitespace)
}

fn has_active_enrolment(p: &Person) -> bool {
    p.enrolments.iter().any(|e| e.cancelled != Some(true))
}

fn has_email(p: &Person) -> bool {
    p.emails.iter().any(|e| !e.value.trim().is_empty())
}

fn is_staff(t: &Tables, person: Uuid) -> bool {
    t.duties_by_person
        .get(&person)
        .is_some_and(|d| !d.is_empty())
}

fn student_and_staff(kind: ObjectType, id: Uuid, eppn: Option<&String>) -> LogEntry {
    resource_error(
        kind,
        id,
        msg::STUDENT_AND_STAFF,
        400,
        "Ogiltigt värde",
        "Personen har både inskrivning och tjänstgöring. Olika federationsanvändarnamn (eduPersonPrincipalName) ska skickas för rollen elev och personal, och en person kan bara ha ett.",
    )
    .attribute("eppn", eppn.cloned().unwrap_or_default())
    .build()
}

fn staff_email_missing(kind: ObjectType, id: Uuid) -> LogEntry {
    resource_error(
        kind,
        id,
        msg::STAFF_EMAIL_MISSING,
        400,
        "Värde saknas",
        "E-postadress är obligatoriskt för skolpersonal.",
    )
    .attribute("emails", "")
    .build()
}

impl Resource for Person {
    fn table(t: &Tables) -> &Table<Self> {
        &t.persons
    }

    fn table_mut(t: &mut Tables) -> &mut Table<Self> {
        &mut t.persons
    }

    fn link(t: &mut Tables, e: &Self) {
        t.person_by_civic_no.insert(e.civic_no.value.clone(), e.id);
        for eppn in &e.edu_person_principal_names {
            t.person_by_eppn.insert(eppn.to_lowercase(), e.id);
        }
    }

    fn unlink(t: &mut Tables, e: &Self) {
        if t.person_by_civic_no.get(&e.civic_no.value) == Some(&e.id) {
            t.person_by_civic_no.remove(&e.civic_no.value);
        }
        for eppn in &e.edu_person_principal_names {
            let key = eppn.to_lowercase();
            if t.person_by_eppn.get(&key) == Some(&e.id) {
                t.person_by_eppn.remove(&key);
            }
        }
    }

    fn check(p: Self, t: &Tables, rules: &Rules) -> Verdict<Self> {
        let kind = ObjectType::Person;
        let id = p.id;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        // civicNo: 12 characters, valid date and check digit (or a TF number).
        let civic = p.civic_no.value.as_str();
        if let Some(reason) = civic_no_problem(civic) {
            errors.push(
                resource_error(kind, id, msg::CIVIC_NO_INVALID, 400, "Ogiltigt format", format!(
                    "Ogiltigt format på <civicNo.value>: {reason}. Värdet ska vara ett svenskt personnummer, samordningsnummer eller tillfälligt personnummer med 12 tecken utan avskiljare."
                ))
                .attribute("civicNo.value", mask(civic))
                .build(),
            );
        }
        if let Some(nationality) = p.civic_no.nationality.as_deref()
            && nationality != "SE"
        {
            errors.push(
                resource_error(kind, id, msg::NATIONALITY_NOT_SE, 400, "Ogiltigt värde",
                    "Ogiltigt värde på <civicNo.nationality>. För närvarande tas endast personnummer utfärdade i Sverige emot; värdet ska vara SE.")
                .attribute("civicNo.nationality", nationality)
                .build(),
            );
        }
        // Migration safety: the same human under a new id is refused.
        if let Some(other) = t.person_by_civic_no.get(civic)
            && *other != id
        {
            errors.push(
                resource_error(kind, id, msg::CIVIC_NO_TAKEN, 409, "Ogiltigt värde", format!(
                    "Personnumret används redan av en annan person (id {other}). En person ska ha samma id i alla överföringar."
                ))
                .attribute("civicNo.value", mask(civic))
                .build(),
            );
        }

        // Exactly one EPPN, well formed, not another person's.
        let eppn = match p.edu_person_principal_names.as_slice() {
            [one] => Some(one),
            many => {
                errors.push(
                    resource_error(kind, id, msg::EPPN_COUNT, 400, "Ogiltigt värde", format!(
                        "Personen ska ha exakt ett federationsanvändarnamn (eduPersonPrincipalName), {} skickades.",
                        many.len()
                    ))
                    .attribute("eduPersonPrincipalNames", many.len().to_string())
                    .build(),
                );
                None
            }
        };
        if let Some(eppn) = eppn {
            if !eppn_well_formed(eppn) {
                errors.push(
                    resource_error(kind, id, msg::EPPN_FORMAT, 400, "Ogiltigt format",
                        "Ogiltigt format på Federationsanvändarnamn. Värdet ska bestå av en lokalt unik användaridentifierare, ett '@' och en domän.")
                    .attribute("eppn", eppn.as_str())
                    .build(),
                );
            } else if eppn::resembles_name(eppn, &p.given_name, &p.family_name) {
                warnings.push(
                    Entry::new(msg::EPPN_RESEMBLES_NAME, 400, "Bristfälligt värde",
                        "Bristfälligt värde på Federationsanvändarnamn, värdet innehåller de tre första bokstäverna i efternamnet, eller de två första bokstäverna i efternamnet och de två första bokstäverna i förnamnet. Uppdatera värdet så att det följer Skolverkets riktlinjer för EPPN, se https://www.skolverket.se/skolutveckling/digitala-nationella-prov/overforing-av-uppgifter-till-skolverket/eppn.")
                    .resource(kind, id)
                    .attribute("eppn", eppn.as_str())
                    .warning()
                    .build(),
                );
            }
            if let Some(other) = t.person_by_eppn.get(&eppn.to_lowercase())
                && *other != id
            {
                errors.push(
                    resource_error(kind, id, msg::EPPN_TAKEN, 409, "Ogiltigt värde", format!(
                        "Federationsanvändarnamnet används redan av en annan person (id {other})."
                    ))
                    .attribute("eppn", eppn.as_str())
                    .build(),
                );
            }
        }

        // externalIdentifiers: at most one, an eduID EPPN.
        let bad_context = p
            .external_identifiers
            .iter()
            .find(|x| x.context != EDUID_CONTEXT);
        if p.external_identifiers.len() > 1 || bad_context.is_some() {
            let value = bad_context
                .map(|x| x.context.clone())
                .unwrap_or_else(|| p.external_identifiers.len().to_string());
            errors.push(
                resource_error(kind, id, msg::EXTERNAL_ID_INVALID, 400, "Ogiltigt värde",
                    "externalIdentifiers får innehålla högst ett värde, och ´context´ ska vara https://eduid.se.")
                .attribute("externalIdentifiers", value)
                .build(),
            );
        }

        // Enrolments: Skolverket's school unit ids; year or programme by school type.
        for enrolment in &p.enrolments {
            let unit = enrolment.enroled_at.id;
            if !rules.school_unit_known(&unit) {
                errors.push(unit_unknown(
                    kind,
                    id,
                    msg::ENROLMENT_UNIT_UNKNOWN,
                    "Enrolment.enroledAt.id",
                    unit,
                ));
            }
            let school_type = enrolment.school_type;
            if school_type.requires_school_year() {
                let year = enrolment.school_year;
                if !year.is_some_and(|y| (1..=10).contains(&y)) {
                    errors.push(
                        resource_error(kind, id, msg::SCHOOL_YEAR_INVALID, 400, "Ogiltigt värde", format!(
                            "Värde för <Enrolment.schoolYear> måste anges som ett tal mellan 1 och 10 för skolform {school_type}."
                        ))
                        .attribute("Enrolment.schoolYear", year.map(|y| y.to_string()).unwrap_or_default())
                        .build(),
                    );
                }
            }
            if school_type == SchoolType::Gy
                && enrolment
                    .education_code
                    .as_deref()
                    .is_none_or(|c| c.trim().is_empty())
            {
                errors.push(
                    resource_error(kind, id, msg::EDUCATION_CODE_MISSING, 400, "Värde saknas",
                        "Värde för <Enrolment.educationCode> (studievägskod) måste anges för skolform GY.")
                    .attribute("Enrolment.educationCode", "")
                    .build(),
                );
            }
        }

        // Staff rules for a person who already holds duties.
        if is_staff(t, id) {
            if !has_email(&p) {
                errors.push(staff_email_missing(kind, id));
            }
            if has_active_enrolment(&p) {
                errors.push(student_and_staff(kind, id, eppn));
            }
        }

        Verdict {
            entity: p,
            errors,
            warnings,
        }
    }

    fn blockers(t: &Tables, id: Uuid) -> Vec<LogEntry> {
        let duties = t.duties_by_person.get(&id).map_or(0, |d| d.len());
        if duties == 0 {
            return Vec::new();
        }
        vec![
            resource_error(ObjectType::Person, id, msg::STILL_REFERENCED, 409, "Ogiltigt värde", format!(
                "Person kan inte tas bort eftersom {duties} tjänstgöring(ar) är knutna till personen. Ta bort tjänstgöringarna först."
            ))
            .attribute("id", id.to_string())
            .build(),
        ]
    }

    fn provisioned(t: &Tables, e: &Self) -> bool {
        has_active_enrolment(e) || is_staff(t, e.id)
    }

    fn set_read_only(&mut self, meta: Meta, provisioned: bool) {
        self.meta = Some(meta);
        self.provisioning_status = Some(provisioned);
    }

    /// `GET /persons` returns only id, civicNo, eduPersonPrincipalNames,
    /// givenName, middleName, familyName, provisioningStatus and meta.
    fn list_form(mut self) -> Self {
        self.external_identifiers.clear();
        self.security_marking = None;
        self.emails.clear();
        self.enrolments.clear();
        self
    }

    fn inexact_code(item: &Value) -> Option<String> {
        code_problem(
            item,
            &["securityMarking"],
            SecurityMarking::ALL.iter().map(|c| c.as_str()),
            SecurityMarking::CODE_LIST,
        )
        .or_else(|| {
            each(item, "emails").find_map(|e| {
                code_problem(
                    e,
                    &["type"],
                    EmailType::ALL.iter().map(|c| c.as_str()),
                    EmailType::CODE_LIST,
                )
            })
        })
        .or_else(|| {
            each(item, "enrolments").find_map(|e| {
                code_problem(
                    e,
                    &["schoolType"],
                    SchoolType::ALL.iter().map(|c| c.as_str()),
                    SchoolType::CODE_LIST,
                )
            })
        })
    }

    fn work(items: Vec<Self>, mode: Mode) -> Work {
        Work::Persons(items, mode)
    }
}

impl Resource for Duty {
    fn table(t: &Tables) -> &Table<Self> {
        &t.duties
    }

    fn table_mut(t: &mut Tables) -> &mut Table<Self> {
        &mut t.duties
    }

    fn link(t: &mut Tables, e: &Self) {
        t.duties_by_person
            .entry(e.person.id)
            .or_default()
            .insert(e.id);
    }

    fn unlink(t: &mut Tables, e: &Self) {
        remove_from(&mut t.duties_by_person, e.person.id, e.id);
    }

    /// A duty makes its person staff, so the staff rules of the person are
    /// checked here: the person must exist, have an e-mail address, and not
    /// be enrolled — one Person carries one EPPN, and the profile wants
    /// different EPPNs for the student and the staff role, so the two roles
    /// cannot meet in one Person.
    fn check(d: Self, t: &Tables, rules: &Rules) -> Verdict<Self> {
        let kind = ObjectType::Duty;
        let mut errors = Vec::new();
        match t.persons.rows.get(&d.person.id) {
            None => errors.push(
                resource_error(kind, d.id, msg::DUTY_PERSON_MISSING, 400, "Ogiltigt värde",
                    "Personen som tjänstgöringen är knuten till finns inte i provtjänsten. Överför personen först.")
                .attribute("person.id", d.person.id.to_string())
                .build(),
            ),
            Some(row) => {
                if !has_email(&row.entity) {
                    errors.push(staff_email_missing(kind, d.id));
                }
                if has_active_enrolment(&row.entity) {
                    errors.push(student_and_staff(kind, d.id, row.entity.edu_person_principal_names.first()));
                }
            }
        }
        if !rules.school_unit_known(&d.duty_at.id) {
            errors.push(unit_unknown(
                kind,
                d.id,
                msg::DUTY_UNIT_UNKNOWN,
                "dutyAt.id",
                d.duty_at.id,
            ));
        }
        Verdict {
            entity: d,
            errors,
            warnings: Vec::new(),
        }
    }

    fn blockers(t: &Tables, id: Uuid) -> Vec<LogEntry> {
        referenced_by_activities(ObjectType::Duty, id, t.activities_by_duty.get(&id))
    }

    fn provisioned(_t: &Tables, _e: &Self) -> bool {
        true
    }

    fn set_read_only(&mut self, meta: Meta, provisioned: bool) {
        self.meta = Some(meta);
        self.provisioning_status = Some(provisioned);
    }

    fn inexact_code(item: &Value) -> Option<String> {
        code_problem(
            item,
            &["dutyRole"],
            DutyRole::ALL.iter().map(|c| c.as_str()),
            DutyRole::CODE_LIST,
        )
    }

    fn work(items: Vec<Self>, mode: Mode) -> Work {
        Work::Duties(items, mode)
    }
}

impl Resource for Group {
    fn table(t: &Tables) -> &Table<Self> {
        &t.groups
    }

    fn table_mut(t: &mut Tables) -> &mut Table<Self> {
        &mut t.groups
    }

    /// Members that do not exist are a Warning, not an Error (v1.3.2), and
    /// are left out of the stored group: the CHANGELOG says the group must be
    /// sent again once the pupils exist for them to be included.
    fn check(mut g: Self, t: &Tables, rules: &Rules) -> Verdict<Self> {
        let kind = ObjectType::Group;
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        if !matches!(g.group_type, GroupType::Klass | GroupType::Undervisning) {
            errors.push(
                resource_error(kind, g.id, msg::GROUP_TYPE_NOT_ALLOWED, 400, "Ogiltigt värde", format!(
                    "Grupptypen {} tas inte emot. Endast grupper av typen Klass och Undervisning ska skickas.",
                    g.group_type
                ))
                .attribute("groupType", g.group_type.as_str())
                .build(),
            );
        }
        if !rules.school_unit_known(&g.organisation.id) {
            errors.push(unit_unknown(
                kind,
                g.id,
                msg::ORGANISATION_UNKNOWN,
                "organisation.id",
                g.organisation.id,
            ));
        }
        let mut seen = HashSet::new();
        g.group_memberships.retain(|m| {
            let person = m.person.id;
            if !seen.insert(person) {
                return false;
            }
            let exists = t.persons.rows.contains_key(&person);
            if !exists {
                warnings.push(
                    Entry::new(msg::MEMBER_MISSING, 400, "Bristfälligt värde",
                        "Gruppmedlemmen finns inte i provtjänsten och har inte lagts till i gruppen. Överför personen och därefter gruppen igen.")
                    .resource(kind, g.id)
                    .attribute("groupMemberships.person.id", person.to_string())
                    .warning()
                    .build(),
                );
            }
            exists
        });
        Verdict {
            entity: g,
            errors,
            warnings,
        }
    }

    fn blockers(t: &Tables, id: Uuid) -> Vec<LogEntry> {
        referenced_by_activities(ObjectType::Group, id, t.activities_by_group.get(&id))
    }

    /// A class reaches the test platform by itself; a teaching group only
    /// through an activity (spec: `provisioningStatus` of GroupFragment).
    fn provisioned(t: &Tables, e: &Self) -> bool {
        match e.group_type {
            GroupType::Klass => true,
            _ => t
                .activities_by_group
                .get(&e.id)
                .is_some_and(|a| !a.is_empty()),
        }
    }

    fn set_read_only(&mut self, meta: Meta, provisioned: bool) {
        self.meta = Some(meta);
        self.provisioning_status = Some(provisioned);
    }

    fn inexact_code(item: &Value) -> Option<String> {
        code_problem(
            item,
            &["groupType"],
            GroupType::ALL.iter().map(|c| c.as_str()),
            GroupType::CODE_LIST,
        )
        .or_else(|| {
            code_problem(
                item,
                &["schoolType"],
                SchoolType::ALL.iter().map(|c| c.as_str()),
                SchoolType::CODE_LIST,
            )
        })
    }

    fn work(items: Vec<Self>, mode: Mode) -> Work {
        Work::Groups(items, mode)
    }
}

impl Resource for Activity {
    fn table(t: &Tables) -> &Table<Self> {
        &t.activities
    }

    fn table_mut(t: &mut Tables) -> &mut Table<Self> {
        &mut t.activities
    }

    fn link(t: &mut Tables, e: &Self) {
        for g in &e.groups {
            t.activities_by_group.entry(g.id).or_default().insert(e.id);
        }
        for teacher in &e.teachers {
            t.activities_by_duty
                .entry(teacher.duty.id)
                .or_default()
                .insert(e.id);
        }
    }

    fn unlink(t: &mut Tables, e: &Self) {
        for g in &e.groups {
            remove_from(&mut t.activities_by_group, g.id, e.id);
        }
        for teacher in &e.teachers {
            remove_from(&mut t.activities_by_duty, teacher.duty.id, e.id);
        }
    }

    fn check(a: Self, t: &Tables, rules: &Rules) -> Verdict<Self> {
        let kind = ObjectType::Activity;
        let mut errors = Vec::new();
        if a.activity_type != ActivityType::Undervisning {
            errors.push(
                resource_error(kind, a.id, msg::ACTIVITY_TYPE_NOT_ALLOWED, 400, "Ogiltigt värde", format!(
                    "Aktivitetstypen {} tas inte emot. Endast aktiviteter av typen Undervisning ska skickas.",
                    a.activity_type
                ))
                .attribute("activityType", a.activity_type.as_str())
                .build(),
            );
        }
        if !rules.school_unit_known(&a.organisation.id) {
            errors.push(unit_unknown(
                kind,
                a.id,
                msg::ORGANISATION_UNKNOWN,
                "organisation.id",
                a.organisation.id,
            ));
        }
        if !rules.test_activity_known(&a.parent_activity.id) {
            errors.push(
                resource_error(kind, a.id, msg::PARENT_ACTIVITY_UNKNOWN, 400, "Ogiltigt värde",
                    "Provaktiviteten <parentActivity.id> finns inte. Värdet ska vara ett UUID för en provaktivitet som är genererat av Skolverket, se open-data API.")
                .attribute("parentActivity.id", a.parent_activity.id.to_string())
                .build(),
            );
        }
        if a.groups.is_empty() {
            errors.push(
                resource_error(
                    kind,
                    a.id,
                    msg::ACTIVITY_GROUP_MISSING,
                    400,
                    "Värde saknas",
                    "Aktiviteten ska ha minst en grupp.",
                )
                .attribute("groups", "0")
                .build(),
            );
        }
        for g in &a.groups {
            if !t.groups.rows.contains_key(&g.id) {
                errors.push(
                    resource_error(
                        kind,
                        a.id,
                        msg::ACTIVITY_GROUP_MISSING,
                        400,
                        "Ogiltigt värde",
                        "Gruppen finns inte i provtjänsten. Överför gruppen först.",
                    )
                    .attribute("groups.id", g.id.to_string())
                    .build(),
                );
            }
        }
        for teacher in &a.teachers {
            if !t.duties.rows.contains_key(&teacher.duty.id) {
                errors.push(
                    resource_error(
                        kind,
                        a.id,
                        msg::ACTIVITY_TEACHER_MISSING,
                        400,
                        "Ogiltigt värde",
                        "Tjänstgöringen finns inte i provtjänsten. Överför tjänstgöringen först.",
                    )
                    .attribute("teachers.duty.id", teacher.duty.id.to_string())
                    .build(),
                );
            }
        }
        Verdict {
            entity: a,
            errors,
            warnings: Vec::new(),
        }
    }

    fn provisioned(t: &Tables, e: &Self) -> bool {
        e.groups.iter().any(|g| t.groups.rows.contains_key(&g.id))
    }

    fn set_read_only(&mut self, meta: Meta, provisioned: bool) {
        self.meta = Some(meta);
        self.provisioning_status = Some(provisioned);
    }

    fn inexact_code(item: &Value) -> Option<String> {
        code_problem(
            item,
            &["activityType"],
            ActivityType::ALL.iter().map(|c| c.as_str()),
            ActivityType::CODE_LIST,
        )
    }

    fn work(items: Vec<Self>, mode: Mode) -> Work {
        Work::Activities(items, mode)
    }
}

fn remove_from(
    index: &mut std::collections::HashMap<Uuid, std::collections::BTreeSet<Uuid>>,
    key: Uuid,
    value: Uuid,
) {
    if let Some(set) = index.get_mut(&key) {
        set.remove(&value);
        if set.is_empty() {
            index.remove(&key);
        }
    }
}

fn referenced_by_activities(
    kind: ObjectType,
    id: Uuid,
    activities: Option<&std::collections::BTreeSet<Uuid>>,
) -> Vec<LogEntry> {
    let count = activities.map_or(0, |a| a.len());
    if count == 0 {
        return Vec::new();
    }
    vec![
        resource_error(kind, id, msg::STILL_REFERENCED, 409, "Ogiltigt värde", format!(
            "{kind} kan inte tas bort eftersom {count} aktivitet(er) refererar till den. Ta bort eller uppdatera aktiviteterna först."
        ))
        .attribute("id", id.to_string())
        .build(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civic_no_values_must_be_the_normalised_twelve_characters() {
        assert_eq!(civic_no_problem("200901272385"), None);
        assert_eq!(civic_no_problem("200901872382"), None, "samordningsnummer");
        assert_eq!(civic_no_problem("20090127TF20"), None, "temporary number");
        assert!(civic_no_problem("20090127XY20").is_some(), "only TF");
        assert!(civic_no_problem("20090127tf20").is_some(), "uppercase only");
        assert!(civic_no_problem("0901272385").is_some(), "10 digits");
        assert!(civic_no_problem("20090127-2385").is_some(), "separator");
        assert!(civic_no_problem("200901272386").is_some(), "Luhn");
        assert!(civic_no_problem("200902302381").is_some(), "30 February");
    }

    #[test]
    fn eppn_needs_one_at_and_a_domain() {
        assert!(eppn_well_formed("a@b.se"));
        assert!(!eppn_well_formed("a@b"));
        assert!(!eppn_well_formed("@b.se"));
        assert!(!eppn_well_formed("a@b@c.se"));
        assert!(!eppn_well_formed("a b@c.se"));
    }
}
