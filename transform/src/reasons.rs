//! Why a record is left out, in words a school administrator understands.
//!
//! The joins mark problems with short codes (a string column); this module
//! turns a code plus the values around it into the reject's reason. Keeping
//! the wording in one place keeps it consistent across entity types.
//!
//! A reason cites a message id only when it is one of Skolverket's own
//! (documented in the Provisioning API). The sandbox's ids (90xx/91xx)
//! are invented for the emulator and never appear here; a rule Skolverket
//! documents no id for says "(skolsync's own check)".

/// Problem codes the frames carry.
pub(crate) mod code {
    pub const DUPLICATE_ID: &str = "duplicate_id";
    pub const UNIT_REF_MISSING: &str = "unit_ref_missing";
    pub const UNIT_NO_CODE: &str = "unit_no_code";
    pub const UNIT_UNKNOWN: &str = "unit_unknown";
    pub const UNIT_EXPIRED: &str = "unit_expired";
    pub const UNIT_UNREADABLE: &str = "unit_unreadable";
    pub const UNIT_NOT_IN_DNP: &str = "unit_not_in_dnp";
    pub const TYPE_NOT_OFFERED: &str = "type_not_offered";
    pub const TYPE_NOT_IN_DNP: &str = "type_not_in_dnp";
    pub const TYPE_UNKNOWN: &str = "type_unknown";
    pub const TYPE_LEVEL_UNKNOWN: &str = "type_level_unknown";
    pub const YEAR_INVALID: &str = "year_invalid";
    pub const YEAR_NOT_OFFERED: &str = "year_not_offered";
    pub const YEAR_NOT_IN_DNP: &str = "year_not_in_dnp";
    pub const EDU_MISSING: &str = "edu_missing";
    pub const EDU_UNKNOWN: &str = "edu_unknown";
    pub const EDU_EXPIRED: &str = "edu_expired";
    pub const EDU_NOT_YET: &str = "edu_not_yet";
    pub const PERSON_NONE: &str = "person_none";
    pub const PERSON_UNKNOWN: &str = "person_unknown";
    pub const PERSON_REJECTED: &str = "person_rejected";
    pub const PERSON_IS_STUDENT: &str = "person_is_student";
    pub const ROLE_UNKNOWN: &str = "role_unknown";
    pub const NAME_MISSING: &str = "name_missing";
    pub const SCHOOL_TYPE_MISSING: &str = "school_type_missing";
    pub const PARENT_UNKNOWN: &str = "parent_unknown";
}

/// Out-of-scope reasons (counted, not reported per record).
pub(crate) mod scope {
    pub const ENDED: &str = "ended (by its dates)";
    pub const UNIT_OUT_OF_SCOPE: &str = "school unit not in `school_units`";
    pub const SCHOOL_TYPE_OUT_OF_SCOPE: &str = "school type not in `school_types`";
    pub const SCHOOL_YEAR_OUT_OF_SCOPE: &str = "school year not in `school_years`";
    pub const NOT_IN_PROFILE: &str = "school type the provtjänst does not take";
    pub const NO_ROLE: &str = "no current enrolment or duty in scope";
    pub const GROUP_TYPE: &str = "group type other than Klass and Undervisning";
    pub const UNTESTED_GROUP: &str = "teaching group of no in-scope test activity";
    pub const NO_PUPILS: &str = "class without pupils in scope";
    pub const NOT_TEACHING: &str = "activity type other than Undervisning";
    pub const NO_TEST: &str = "no national test activity for its subject/course";
}

/// The values a reason may mention.
#[derive(Debug, Default, Clone)]
pub(crate) struct Details<'a> {
    pub unit_ref: Option<&'a str>,
    pub unit_code: Option<&'a str>,
    pub school_type: Option<&'a str>,
    pub year: Option<i32>,
    pub edu: Option<&'a str>,
    pub valid_from: Option<&'a str>,
    pub other: Option<&'a str>,
    pub role: Option<&'a str>,
    pub parent: Option<&'a str>,
}

/// The reason text for `code`. `what` names the thing at fault ("the
/// enrolment", "the duty", "the group", "the activity").
pub(crate) fn reason(code: &str, what: &str, d: &Details<'_>) -> String {
    let unit = d.unit_code.unwrap_or("?");
    let stype = d.school_type.unwrap_or("?");
    match code {
        code::DUPLICATE_ID => format!(
            "the source delivered this id twice; only the first record is used ({what} is left out)"
        ),
        code::UNIT_REF_MISSING => format!(
            "{what} refers to organisation {}, which the source did not deliver",
            d.unit_ref.unwrap_or("?")
        ),
        code::UNIT_NO_CODE => format!(
            "{what} refers to organisation {}, which is not a school unit (it has no school unit code)",
            d.unit_ref.unwrap_or("?")
        ),
        code::UNIT_UNKNOWN => format!(
            "school unit {unit} of {what} is not known to Skolverket (not in open-data); check the school unit code"
        ),
        code::UNIT_UNREADABLE => format!(
            "Skolverket's open-data entry for school unit {unit} of {what} could not be read (see the open-data warning), so the unit cannot be checked"
        ),
        code::UNIT_EXPIRED => format!(
            "school unit {unit} of {what} has closed (status Expired in Skolverket's register)"
        ),
        code::UNIT_NOT_IN_DNP => format!(
            "school unit {unit} of {what} is not set up in the provtjänst (dnpStatus false in open-data)"
        ),
        code::TYPE_NOT_OFFERED => format!(
            "school unit {unit} does not offer school type {stype} according to Skolverket (open-data)"
        ),
        code::TYPE_NOT_IN_DNP => format!(
            "school type {stype} at school unit {unit} is not set up in the provtjänst (dnpStatus false in open-data)"
        ),
        code::TYPE_UNKNOWN => format!(
            "school type `{stype}` is not a Code_SchoolType value (SS 12000 or Skolverket's list); {what} is left out"
        ),
        code::TYPE_LEVEL_UNKNOWN => format!(
            "school type {stype} does not say whether the adult education is at grundläggande or gymnasial level; the provtjänst takes only VUXGY, so send VUXGY for gymnasial level ({what} is left out)"
        ),
        code::YEAR_INVALID => match d.year {
            Some(y) => format!("school year {y} is not 1–10, which school type {stype} requires"),
            None => {
                format!("school year is missing; it is required (1–10) for school type {stype}")
            }
        },
        code::YEAR_NOT_OFFERED => format!(
            "school unit {unit} does not offer year {} of {stype} according to Skolverket (open-data)",
            d.year.map(|y| y.to_string()).unwrap_or_default()
        ),
        code::YEAR_NOT_IN_DNP => format!(
            "year {} of {stype} at school unit {unit} is not set up in the provtjänst (dnpStatus false)",
            d.year.map(|y| y.to_string()).unwrap_or_default()
        ),
        code::EDU_MISSING => {
            "the GY enrolment has no education code (studievägskod), which the provtjänst requires"
                .to_string()
        }
        code::EDU_UNKNOWN => format!(
            "education code {} is not a programme Skolverket knows (not in open-data)",
            d.edu.unwrap_or("?")
        ),
        code::EDU_EXPIRED => format!(
            "education code {} has ended (status Expired in open-data)",
            d.edu.unwrap_or("?")
        ),
        code::EDU_NOT_YET => format!(
            "education code {} may only be provisioned from {}",
            d.edu.unwrap_or("?"),
            d.valid_from.unwrap_or("?")
        ),
        code::PERSON_NONE => format!("{what} names no person"),
        code::PERSON_UNKNOWN => format!(
            "{what} belongs to person {}, who is not in the source",
            d.other.unwrap_or("?")
        ),
        code::PERSON_REJECTED => format!(
            "{what} belongs to person {}, who was rejected (see that person)",
            d.other.unwrap_or("?")
        ),
        code::PERSON_IS_STUDENT => format!(
            "person {} is also an enrolled pupil in scope; one person in the provtjänst cannot be both pupil and staff (Skolverket wants different EPPNs for the two roles), so the pupil role is kept and this duty is left out (skolsync's own check)",
            d.other.unwrap_or("?")
        ),
        code::ROLE_UNKNOWN => format!(
            "duty role `{}` is not a Code_DutyRole value and has no mapping; add it to [transform.duty_role_map]",
            d.role.unwrap_or("")
        ),
        code::NAME_MISSING => format!("{what} has no name (displayName)"),
        code::SCHOOL_TYPE_MISSING => format!(
            "{what} has no school type and none could be deduced from its members' enrolments"
        ),
        code::PARENT_UNKNOWN => format!(
            "parentActivity {} is not a national test activity known to Skolverket (not in open-data), and no test activity could be derived from the subject or course",
            d.parent.unwrap_or("?")
        ),
        other => format!("{what}: {other}"),
    }
}
