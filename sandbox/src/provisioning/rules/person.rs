//! The rules of persons and of duties: a duty makes its person staff, so
//! both sides of the staff rules live here.

use crate::provisioning::envelope::LogEntry;
use skolsync_model::ObjectType;
use skolsync_model::civic_no::{CivicNo, CivicNoError, CivicNoKind, mask};
use skolsync_model::eppn;
use uuid::Uuid;

use super::catalogue::At;
use super::{
    Judge, Resource, Verdict, referenced_by_activities, remove_from, resource_error, stored_in,
};
use crate::provisioning::messages::{self as msg, Entry};
use crate::provisioning::payload::{Duty, Email, Meta, Person};
use crate::provisioning::schema::{self, Shape};
use crate::provisioning::store::{Mode, Table, Tables, Work};

/// The only `externalIdentifiers[].context` the provtjänst takes.
const EDUID_CONTEXT: &str = "https://eduid.se";

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

/// The e-mail types the provtjänst supports: Person.emails "endast "Skola
/// elev" och "Skola personal" stöds i provtjänsten".
const SUPPORTED_EMAIL_TYPES: [&str; 2] = ["Skola elev", "Skola personal"];

fn supported_email_type(e: &Email) -> bool {
    // An address without `type` counts: not documented; chosen because
    // `type` is optional in the schema.
    e.kind
        .as_deref()
        .is_none_or(|t| SUPPORTED_EMAIL_TYPES.contains(&t))
}

/// An address the staff rule counts: not empty, of a supported type.
fn has_email(p: &Person) -> bool {
    p.emails
        .iter()
        .any(|e| !e.value.trim().is_empty() && supported_email_type(e))
}

/// A Warning for each address of a type the provtjänst does not support
/// (kept out of what the staff rule counts; the person is still accepted).
fn unsupported_email_warnings(p: &Person) -> Vec<LogEntry> {
    p.emails
        .iter()
        .filter(|e| !supported_email_type(e))
        .map(|e| {
            let shown = e.kind.clone().unwrap_or_default();
            Entry::new(msg::EMAIL_TYPE_UNSUPPORTED, 400, "Bristfälligt värde", format!(
                "E-postadresser av typen {shown} stöds inte i provtjänsten; endast Skola elev och Skola personal används."
            ))
            .resource(ObjectType::Person, p.id)
            .attribute("emails.type", shown)
            .warning()
            .build()
        })
        .collect()
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
    stored_in!(persons, Persons);

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

    fn check(p: Self, t: &Tables, judge: &Judge<'_>) -> Verdict<Self> {
        let mut errors = civic_no_errors(&p, t);
        let mut warnings = Vec::new();
        let eppn = check_eppn(&p, t, &mut errors, &mut warnings);
        errors.extend(external_identifier_errors(&p));
        errors.extend(enrolment_errors(&p, judge));
        warnings.extend(unsupported_email_warnings(&p));
        let (kind, id) = (ObjectType::Person, p.id);

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

    /// `GET /persons` returns only id, civicNo, eduPersonPrincipalNames,
    /// givenName, middleName, familyName, provisioningStatus and meta.
    fn list_form(mut self) -> Self {
        self.external_identifiers.clear();
        self.security_marking = None;
        self.emails.clear();
        self.enrolments.clear();
        self
    }

    const SCHEMA: &'static Shape = &schema::PERSON;
}

/// civicNo: 12 characters, valid date and check digit (or a TF number),
/// issued in Sweden, and not another person's.
fn civic_no_errors(p: &Person, t: &Tables) -> Vec<LogEntry> {
    let kind = ObjectType::Person;
    let id = p.id;
    let mut errors = Vec::new();
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
    errors
}

/// Exactly one EPPN, well formed, not another person's; a name in it is a
/// warning. Returns the one EPPN, if there is one.
fn check_eppn<'p>(
    p: &'p Person,
    t: &Tables,
    errors: &mut Vec<LogEntry>,
    warnings: &mut Vec<LogEntry>,
) -> Option<&'p String> {
    let kind = ObjectType::Person;
    let id = p.id;
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
                resource_error(
                    kind,
                    id,
                    msg::EPPN_TAKEN,
                    409,
                    "Ogiltigt värde",
                    format!(
                        "Federationsanvändarnamnet används redan av en annan person (id {other})."
                    ),
                )
                .attribute("eppn", eppn.as_str())
                .build(),
            );
        }
    }
    eppn
}

/// externalIdentifiers: at most one, an eduID EPPN, and only for staff.
///
/// Spec (Person.externalIdentifiers): "`externalIdentifiers` ska skickas
/// endast för skolpersonal". A Person is sent before its Duty (README,
/// "Ordningsföljd"), so a new staff member holds no Duty yet; what marks a
/// person as *not* staff is an active enrolment. Not documented how the
/// service tells; chosen because it is the only sign available when the
/// Person arrives.
fn external_identifier_errors(p: &Person) -> Vec<LogEntry> {
    let kind = ObjectType::Person;
    let id = p.id;
    let mut errors = Vec::new();
    if !p.external_identifiers.is_empty() && has_active_enrolment(p) {
        errors.push(
            resource_error(kind, id, msg::EXTERNAL_ID_NOT_STAFF, 400, "Ogiltigt värde",
                "externalIdentifiers ska skickas endast för skolpersonal, men personen är inskriven som elev.")
            .attribute("externalIdentifiers", p.external_identifiers.len().to_string())
            .build(),
        );
    }
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
    errors
}

/// Enrolments: Skolverket's school unit ids, active, in the provtjänst and
/// the huvudman's, offering the school type and year; year or programme by
/// school type, the programme one of open-data's.
fn enrolment_errors(p: &Person, judge: &Judge<'_>) -> Vec<LogEntry> {
    let kind = ObjectType::Person;
    let id = p.id;
    let mut errors = Vec::new();
    for enrolment in &p.enrolments {
        let unit = enrolment.enroled_at.id;
        let at = At {
            kind,
            id,
            attribute: "Enrolment.enroledAt.id",
            unknown_code: msg::ENROLMENT_UNIT_UNKNOWN,
        };
        errors.extend(judge.unit_errors(at, unit));
        let school_type = enrolment.school_type.as_str();
        let year = enrolment.school_year;
        // Enrolment.schoolYear: "Värde måste anges för utbildningsformerna
        // `GR`, `SP` och `SAM`" (minimum 1, maximum 10).
        let needs_year = ["GR", "SP", "SAM"].contains(&school_type);
        let in_range = year.is_some_and(|y| (1..=10).contains(&y));
        if !in_range && (needs_year || year.is_some()) {
            errors.push(
                resource_error(kind, id, msg::SCHOOL_YEAR_INVALID, 400, "Ogiltigt värde", format!(
                    "Värde för <Enrolment.schoolYear> måste anges som ett tal mellan 1 och 10 för skolform {school_type}."
                ))
                .attribute("Enrolment.schoolYear", year.map(|y| y.to_string()).unwrap_or_default())
                .build(),
            );
        } else {
            let year = year.and_then(|y| u8::try_from(y).ok());
            errors.extend(judge.offer_errors(at, unit, school_type, year));
        }
        let code = enrolment
            .education_code
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        match code {
            None if school_type == "GY" => errors.push(
                resource_error(kind, id, msg::EDUCATION_CODE_MISSING, 400, "Värde saknas",
                    "Värde för <Enrolment.educationCode> (studievägskod) måste anges för skolform GY.")
                .attribute("Enrolment.educationCode", "")
                .build(),
            ),
            // Checklist step 2: "hämta studievägs- … information från
            // open-data-api för att sedan kontrollera uppgifter".
            Some(code) if !judge.education_code_known(code) => errors.push(
                resource_error(kind, id, msg::EDUCATION_CODE_UNKNOWN, 400, "Ogiltigt värde", format!(
                    "Studievägskoden {code} finns inte bland provtjänstens studievägar (se open-data API /programmes)."
                ))
                .attribute("Enrolment.educationCode", code)
                .build(),
            ),
            _ => {}
        }
    }
    errors
}

impl Resource for Duty {
    stored_in!(duties, Duties);

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
    fn check(d: Self, t: &Tables, judge: &Judge<'_>) -> Verdict<Self> {
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
        errors.extend(judge.unit_errors(
            At {
                kind,
                id: d.id,
                attribute: "dutyAt.id",
                unknown_code: msg::DUTY_UNIT_UNKNOWN,
            },
            d.duty_at.id,
        ));
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

    const SCHEMA: &'static Shape = &schema::DUTY;
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
