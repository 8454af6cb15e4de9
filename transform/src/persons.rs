//! The rules of one person record that need no other record: personnummer,
//! names, EPPN, e-mail addresses and external identifiers, by role.
//!
//! These are per-row computations (Luhn digits, string shapes) that are far
//! clearer in plain Rust than as frame expressions; everything that relates
//! a person to other records (roles, duplicates, references) is done with
//! joins in [`crate::transformer`].

use chrono::NaiveDate;
use skolsync_model::civic_no::CivicNoKind;
use skolsync_model::provtjanst::{Email, ExternalIdentifier};
use skolsync_model::ss12000::Person;
use skolsync_model::{CivicNo, EmailType};

use crate::config::{EppnDomain, EppnMode};
use crate::ids::IdScheme;

/// The only `externalIdentifiers[].context` the provtjänst takes.
pub(crate) const EDUID_CONTEXT: &str = "https://eduid.se";

/// Which role a person has in this pipeline's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Has a current enrolment in scope.
    Student,
    /// Holds a current duty in scope and has no enrolment in scope.
    Staff,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Staff => "staff",
        }
    }
}

/// One finding about a person: the field, its (masked) value and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub field: String,
    pub value: Option<String>,
    pub reason: String,
}

fn finding(field: &str, value: Option<String>, reason: impl Into<String>) -> Finding {
    Finding {
        field: field.to_string(),
        value,
        reason: reason.into(),
    }
}

/// A person record that passed its own rules.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The normalised 12 characters.
    pub civic_no: String,
    /// The one EPPN to send.
    pub eppn: String,
    /// The addresses to send, typed for the role.
    pub emails: Vec<Email>,
    /// The eduID identifier of a staff member, if any.
    pub external_identifiers: Vec<ExternalIdentifier>,
    /// Things to fix that do not stop the person.
    pub warnings: Vec<Finding>,
}

/// What the person rules need from the config.
#[derive(Debug, Clone)]
pub(crate) struct PersonRules {
    pub day: NaiveDate,
    pub eppn: Option<EppnDomain>,
    pub ids: IdScheme,
}

impl PersonRules {
    /// Checks `person` in `role`; every failed rule is one finding.
    pub(crate) fn check(&self, person: &Person, role: Role) -> Result<Checked, Vec<Finding>> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();

        let civic_no = match &person.civic_no {
            None => {
                errors.push(finding(
                    "civicNo",
                    None,
                    "the person has no personnummer; the provtjänst requires one",
                ));
                None
            }
            Some(raw) if !raw.is_swedish() => {
                errors.push(finding(
                    "civicNo.nationality",
                    raw.nationality.clone(),
                    "only Swedish personnummer, samordningsnummer or temporary numbers are taken (nationality SE)",
                ));
                None
            }
            Some(raw) => match CivicNo::parse_at(&raw.value, self.day) {
                Err(e) => {
                    let masked = e.masked_input().to_string();
                    errors.push(finding(
                        "civicNo",
                        (!masked.is_empty()).then_some(masked),
                        e.to_string(),
                    ));
                    None
                }
                Ok(c)
                    if c.kind() == CivicNoKind::Temporary
                        && c.as_str().get(8..10) != Some("TF") =>
                {
                    errors.push(finding(
                        "civicNo",
                        Some(c.masked()),
                        "a temporary number must be written YYYYMMDDTFNN (with the letters TF)",
                    ));
                    None
                }
                Ok(c) => Some(c.as_str().to_string()),
            },
        };

        if person.given_name.trim().is_empty() {
            errors.push(finding("givenName", None, "the person has no given name"));
        }
        if person.family_name.trim().is_empty() {
            errors.push(finding("familyName", None, "the person has no family name"));
        }

        let eppn = self.eppn(person, role, &mut errors, &mut warnings);

        let (wanted, label) = match role {
            Role::Student => (EmailType::SkolaElev, "Skola elev"),
            Role::Staff => (EmailType::SkolaPersonal, "Skola personal"),
        };
        let mut emails: Vec<Email> = Vec::new();
        for e in &person.emails {
            let value = e.value.trim();
            let typed_for_role = e.email_type.is_none_or(|t| t == wanted);
            if !typed_for_role {
                continue;
            }
            if !email_well_formed(value) {
                warnings.push(finding(
                    "emails",
                    Some(value.to_string()),
                    "not a valid e-mail address; left out",
                ));
                continue;
            }
            if emails.iter().any(|x| x.value.eq_ignore_ascii_case(value)) {
                continue;
            }
            emails.push(Email {
                value: value.to_string(),
                email_type: Some(wanted),
            });
        }
        if role == Role::Staff && emails.is_empty() {
            errors.push(finding(
                "emails",
                None,
                format!(
                    "staff must have a school e-mail address (type {label}, or untyped); the provtjänst requires one"
                ),
            ));
        }

        let external_identifiers = match role {
            Role::Student => Vec::new(),
            Role::Staff => person
                .external_identifiers
                .iter()
                .find(|x| {
                    x.context
                        .trim()
                        .trim_end_matches('/')
                        .eq_ignore_ascii_case(EDUID_CONTEXT)
                        && !x.value.trim().is_empty()
                })
                .map(|x| ExternalIdentifier {
                    value: x.value.trim().to_string(),
                    context: EDUID_CONTEXT.to_string(),
                    globally_unique: x.globally_unique,
                })
                .into_iter()
                .collect(),
        };

        match (civic_no, eppn) {
            (Some(civic_no), Some(eppn)) if errors.is_empty() => Ok(Checked {
                civic_no,
                eppn,
                emails,
                external_identifiers,
                warnings,
            }),
            _ => Err(errors),
        }
    }

    /// The EPPN to send: derived when configured for the role (and missing,
    /// or always), else the source's one and only.
    fn eppn(
        &self,
        person: &Person,
        role: Role,
        errors: &mut Vec<Finding>,
        warnings: &mut Vec<Finding>,
    ) -> Option<String> {
        let mut own: Vec<&str> = Vec::new();
        for e in &person.edu_person_principal_names {
            let e = e.trim();
            if !e.is_empty() && !own.iter().any(|x| x.eq_ignore_ascii_case(e)) {
                own.push(e);
            }
        }
        let domain = self.eppn.as_ref().and_then(|d| {
            let domain = match role {
                Role::Student => d.student.as_deref(),
                Role::Staff => d.staff.as_deref(),
            };
            domain.map(|dom| (dom, d.mode))
        });
        if let Some((domain, mode)) = domain
            && (mode == EppnMode::Always || own.is_empty())
        {
            return Some(format!(
                "{}@{}",
                self.ids.eppn_local_part(person.id.as_str()),
                domain.trim()
            ));
        }
        match own.as_slice() {
            [] => {
                errors.push(finding(
                    "eduPersonPrincipalNames",
                    None,
                    "the person has no EPPN (eduPersonPrincipalName); the provtjänst requires exactly one (or configure [transform.eppn_domain])",
                ));
                None
            }
            [one] if !eppn_well_formed(one) => {
                errors.push(finding(
                    "eduPersonPrincipalNames",
                    Some(one.to_string()),
                    "the EPPN must be a local user id, one '@' and a domain, e.g. 3fa85f64@edu.kommun.se",
                ));
                None
            }
            [one] => {
                if skolsync_model::eppn::resembles_name(
                    one,
                    &person.given_name,
                    &person.family_name,
                ) {
                    warnings.push(finding(
                        "eduPersonPrincipalNames",
                        Some(one.to_string()),
                        "the EPPN contains letters of the person's name; Skolverket warns about this (3047) — use an id that does not reveal the name",
                    ));
                }
                Some(one.to_string())
            }
            many => {
                errors.push(finding(
                    "eduPersonPrincipalNames",
                    Some(many.join(", ")),
                    format!(
                        "the person has {} EPPNs; the provtjänst takes exactly one",
                        many.len()
                    ),
                ));
                None
            }
        }
    }
}

/// `local@domain.tld`, no spaces.
pub(crate) fn eppn_well_formed(eppn: &str) -> bool {
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

/// An e-mail address of the simple shape the service accepts.
fn email_well_formed(email: &str) -> bool {
    eppn_well_formed(email)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::IdStrategy;
    use skolsync_model::ss12000::{Email as SrcEmail, RawCivicNo};

    fn person(civic: &str) -> Person {
        serde_json::from_value(serde_json::json!({
            "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "givenName": "Pippi", "familyName": "Långstrump",
            "eduPersonPrincipalNames": ["x1f3@edu.kommun.se"],
            "civicNo": {"value": civic, "nationality": "SE"},
            "emails": [{"value": "p@elev.kommun.se", "type": "Skola elev"},
                       {"value": "p@privat.se", "type": "Privat"}]
        }))
        .unwrap()
    }

    fn rules(eppn: Option<EppnDomain>) -> PersonRules {
        PersonRules {
            day: NaiveDate::from_ymd_opt(2026, 8, 20).unwrap(),
            eppn,
            ids: IdScheme::new(None, IdStrategy::SourceUuid),
        }
    }

    #[test]
    fn the_ten_digit_form_is_normalised_and_private_mail_dropped() {
        let ok = rules(None)
            .check(&person("090127-2385"), Role::Student)
            .unwrap();
        assert_eq!(ok.civic_no, "200901272385");
        assert_eq!(ok.emails.len(), 1);
        assert_eq!(ok.emails[0].email_type, Some(EmailType::SkolaElev));
    }

    #[test]
    fn bad_check_digit_is_a_masked_finding() {
        let err = rules(None)
            .check(&person("200901272386"), Role::Student)
            .unwrap_err();
        assert_eq!(err[0].field, "civicNo");
        assert_eq!(err[0].value.as_deref(), Some("20090127-****"));
        assert!(err[0].reason.contains("check digit"), "{}", err[0].reason);
    }

    #[test]
    fn staff_need_a_staff_address_and_untyped_ones_count() {
        let mut p = person("200901272385");
        let err = rules(None).check(&p, Role::Staff).unwrap_err();
        assert_eq!(err[0].field, "emails");
        p.emails = vec![SrcEmail {
            value: "pippi@kommun.se".into(),
            email_type: None,
        }];
        let ok = rules(None).check(&p, Role::Staff).unwrap();
        assert_eq!(ok.emails[0].email_type, Some(EmailType::SkolaPersonal));
    }

    #[test]
    fn eppn_is_derived_per_role_from_the_id_never_the_name() {
        let mut p = person("200901272385");
        p.edu_person_principal_names.clear();
        assert_eq!(
            rules(None).check(&p, Role::Student).unwrap_err()[0].field,
            "eduPersonPrincipalNames"
        );
        let domains = EppnDomain {
            student: Some("elev.kommun.se".into()),
            staff: Some("kommun.se".into()),
            mode: EppnMode::Missing,
        };
        let ok = rules(Some(domains)).check(&p, Role::Student).unwrap();
        assert_eq!(
            ok.eppn,
            "3fa85f64-5717-4562-b3fc-2c963f66afa6@elev.kommun.se"
        );
        p.edu_person_principal_names = vec!["a@x.se".into(), "b@x.se".into()];
        let err = rules(None).check(&p, Role::Student).unwrap_err();
        assert!(err[0].reason.contains("2 EPPNs"), "{}", err[0].reason);
    }

    #[test]
    fn foreign_and_missing_numbers_are_refused() {
        let mut p = person("200901272385");
        p.civic_no = Some(RawCivicNo {
            value: "200901272385".into(),
            nationality: Some("NO".into()),
        });
        assert_eq!(
            rules(None).check(&p, Role::Student).unwrap_err()[0].field,
            "civicNo.nationality"
        );
        p.civic_no = None;
        assert_eq!(
            rules(None).check(&p, Role::Student).unwrap_err()[0].field,
            "civicNo"
        );
    }

    #[test]
    fn name_in_eppn_is_only_a_warning() {
        let mut p = person("200901272385");
        p.edu_person_principal_names = vec!["langstrump9@edu.kommun.se".into()];
        let ok = rules(None).check(&p, Role::Student).unwrap();
        assert_eq!(ok.warnings.len(), 1);
    }
}
