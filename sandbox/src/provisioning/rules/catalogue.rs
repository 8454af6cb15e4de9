//! The checks against Skolverket's own register (the open-data catalogue the
//! sandbox also serves): a school unit must be known, active, in the
//! provtjänst (`dnpStatus`), belong to the huvudman whose certificate the
//! token was issued for, and offer the school type and year an enrolment or
//! group names; an `educationCode` must be one of the programmes.
//!
//! Why these checks: the checklist (`checklist-provisioning-api.md`, step 2)
//! recommends fetching "studievägs- och skolenhetsinformation från
//! open-data-api för att sedan kontrollera uppgifter innan överföring",
//! and the open-data spec says what the flags mean (`dnpStatus`: "finns i
//! provtjänsten" for the unit, "utbildningsformen finns för den specifika
//! skolenheten i provtjänsten", "årskursen finns under specifika
//! skolenheten och utbildningsformen"). The Provisioning API's own spec
//! does not list the LogEntries it answers for them, so every id here is
//! the sandbox's own (91xx, listed in the module table).

use crate::provisioning::envelope::LogEntry;
use skolsync_model::ObjectType;
use skolsync_model::open_data::{SchoolUnit, Status};
use uuid::Uuid;

use super::{Rules, resource_error, unit_unknown};
use crate::provisioning::messages as msg;

/// The rules as one job is judged: the shared catalogue and faults, and the
/// huvudman the job's token was issued for.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    /// Catalogue and faults.
    pub rules: &'a Rules,
    /// The caller's organisation number (digits only), from the token's
    /// `organization_id`; `None` for a caller without one (in-process
    /// tests), whose units are not checked for ownership.
    pub organisation: Option<&'a str>,
}

/// Who is being judged and where, for the LogEntry.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// Resource type.
    pub kind: ObjectType,
    /// Resource id.
    pub id: Uuid,
    /// The attribute that names the unit (`dutyAt.id`, …).
    pub attribute: &'a str,
    /// The id of "unknown school unit" for this attribute.
    pub unknown_code: &'a str,
}

impl Judge<'_> {
    pub(super) fn school_unit(&self, id: &Uuid) -> Option<&SchoolUnit> {
        let i = *self.rules.index.school_units.get(id)?;
        self.rules.catalogue.school_units.get(i)
    }

    pub(super) fn test_activity_known(&self, id: &Uuid) -> bool {
        self.rules.index.test_activities.contains_key(id)
    }

    /// Everything wrong with `unit` as the school unit named at `at`:
    /// unknown; or expired, outside the provtjänst, another huvudman's.
    pub(super) fn unit_errors(&self, at: At<'_>, unit: Uuid) -> Vec<LogEntry> {
        let Some(found) = self.school_unit(&unit) else {
            return vec![unit_unknown(
                at.kind,
                at.id,
                at.unknown_code,
                at.attribute,
                unit,
            )];
        };
        let error = |code: &str, message: String| {
            resource_error(at.kind, at.id, code, 400, "Ogiltigt värde", message)
                .attribute(at.attribute, unit.to_string())
                .build()
        };
        let name = &found.display_name;
        let mut errors = Vec::new();
        // open-data `Code_Status`: "Expired - Skolenheten har upphört att
        // bedriva verksamhet". A `New` unit is accepted: not documented;
        // chosen because pupils are transferred before a new unit opens.
        if found.status == Some(Status::Expired) {
            errors.push(error(
                msg::UNIT_EXPIRED,
                format!(
                    "Skolenheten {name} ({}) har upphört (status Expired) och tar inte emot uppgifter.",
                    found.school_unit_code
                ),
            ));
        }
        // open-data `dnpStatus` of SchoolUnit: "finns i provtjänsten". A
        // missing flag is taken as true (not documented; chosen because the
        // field is optional in the open-data schema).
        if found.dnp_status == Some(false) {
            errors.push(error(
                msg::UNIT_NOT_IN_DNP,
                format!(
                    "Skolenheten {name} ({}) finns inte i provtjänsten (dnpStatus false).",
                    found.school_unit_code
                ),
            ));
        }
        if let Some(own) = self.organisation {
            let owner: Option<String> = found
                .parent_organisation
                .as_ref()
                .map(|p| digits(&p.organisation_number));
            if owner.as_deref().is_some_and(|o| o != own) {
                errors.push(error(
                    msg::UNIT_OTHER_HUVUDMAN,
                    format!(
                        "Skolenheten {name} ({}) tillhör inte huvudmannen som klientcertifikatet är utfärdat för.",
                        found.school_unit_code
                    ),
                ));
            }
        }
        errors
    }

    /// Whether `unit` offers `school_type` (and `year`, when given) in the
    /// provtjänst. Only judged for units that list their school types (an
    /// empty list: not documented; chosen because open-data's
    /// `schoolTypes` is optional, so its absence says nothing).
    pub(super) fn offer_errors(
        &self,
        at: At<'_>,
        unit: Uuid,
        school_type: &str,
        year: Option<u8>,
    ) -> Vec<LogEntry> {
        let Some(found) = self.school_unit(&unit) else {
            return Vec::new();
        };
        if found.school_types.is_empty() {
            return Vec::new();
        }
        let name = &found.display_name;
        let offered = found
            .school_types
            .iter()
            .find(|t| t.school_type == school_type && t.dnp_status != Some(false));
        let Some(offered) = offered else {
            return vec![
                resource_error(
                    at.kind,
                    at.id,
                    msg::SCHOOL_TYPE_NOT_OFFERED,
                    400,
                    "Ogiltigt värde",
                    format!(
                        "Skolenheten {name} ({}) har inte skolformen {school_type} i provtjänsten.",
                        found.school_unit_code
                    ),
                )
                .attribute("schoolType", school_type)
                .build(),
            ];
        };
        let Some(year) = year else {
            return Vec::new();
        };
        if offered.school_years.is_empty()
            || offered
                .school_years
                .iter()
                .any(|y| y.school_year == year && y.dnp_status != Some(false))
        {
            return Vec::new();
        }
        vec![
            resource_error(at.kind, at.id, msg::SCHOOL_YEAR_NOT_OFFERED, 400, "Ogiltigt värde", format!(
                "Skolenheten {name} ({}) har inte årskurs {year} i skolformen {school_type} i provtjänsten.",
                found.school_unit_code
            ))
            .attribute("Enrolment.schoolYear", year.to_string())
            .build(),
        ]
    }

    /// Whether `code` is a programme (studieväg) of the catalogue.
    pub(super) fn education_code_known(&self, code: &str) -> bool {
        self.rules.index.programmes_by_code.contains_key(code)
    }
}

/// The digits of an organisation number (`SE2120000000`, `212000-0000`).
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}
