//! The `[transform]` section of a pipeline file.
//!
//! Everything here is plain text as people write it; [`crate::Transformer::new`]
//! checks it against the code lists and open-data and says exactly which key
//! is wrong. Defaults are chosen so that an empty section works: every school
//! unit and year of the profile's school types, SS 12000's duty roles, ids
//! taken from the source where they are UUIDs.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::sandbox::{Endpoints, Redirect};

/// The production Open-data API (see Skolverket's `environments.md`).
pub const PRODUCTION_OPEN_DATA_URL: &str = "https://api.skolverket.se/provtjanst/open-data/v1";

/// The verification-test Open-data API (`verifieringstest`).
pub const VERIFICATION_OPEN_DATA_URL: &str =
    "https://apigw-pre.skolverket.se/provtjanst/verifieringstest/open-data/v1";

/// The school types the provtjänst takes, the default scope.
pub const DEFAULT_SCHOOL_TYPES: [&str; 5] = ["GR", "SP", "SAM", "GY", "VUXGY"];

/// How the transform maps a source to the provtjänst profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// Base URL of Skolverket's Open-data API, read at the start of a run.
    /// Default: production, `https://api.skolverket.se/provtjanst/open-data/v1`.
    /// Leave it out and set `open_data_file` to run offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_data_url: Option<String>,

    /// A snapshot of open-data written by `skolsync open-data pull`; when set,
    /// the run reads it instead of the API (no network). Set either this or
    /// `open_data_url`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_data_file: Option<PathBuf>,

    /// Organisation numbers (organisationsnummer) of the organisers whose
    /// school units are read from open-data. Default: the organisation
    /// numbers of the source's `Huvudman` organisations. School unit codes
    /// the organisers do not cover are looked up one by one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organisation_numbers: Vec<String>,

    /// Only these school units (skolenhetskoder, 8 digits). Empty: every
    /// school unit the source has. Each must be known to open-data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub school_units: Vec<String>,

    /// Only these school types. Allowed: GR, SP, SAM, GY, VUXGY (the
    /// default is all five). SS 12000's `KOMVUX` is read as VUXGY.
    #[serde(default = "default_school_types")]
    pub school_types: Vec<String>,

    /// Only these school years (1–10) of GR, SP and SAM, e.g. `[3, 6, 9]`.
    /// Empty: every year. GY and VUXGY have no years and are not filtered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub school_years: Vec<u8>,

    /// Local subject or course codes → Skolverket's codes, e.g.
    /// `MA = "GRGRMAT01"` or `MA1C = "MATMAT01c"`. Applied to an activity's
    /// syllabus course code, else its subject code, else its inline
    /// `subject.code`, before the test activity is looked up. Each target
    /// must lead to at least one national test activity in open-data.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub subject_map: BTreeMap<String, String>,

    /// Explicit test activities for local codes, taking precedence over
    /// `subject_map` and the derived name (only an activity's own, known
    /// `parentActivity` comes first). Each target must exist in open-data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_activities: Vec<TestActivityRule>,

    /// Source duty roles → `Code_DutyRole`, e.g. `"Lärare i fritidshem" =
    /// "Fritidspedagog"`. Consulted before the built-in table (see the crate
    /// documentation); matching ignores case and surrounding spaces. Values
    /// must be exact `Code_DutyRole` values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub duty_role_map: BTreeMap<String, String>,

    /// Derive an EPPN (eduPersonPrincipalName) for persons whose source
    /// record has none, from the person's stable source id — never from the
    /// name (Skolverket warns about names in EPPNs, 3047).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eppn_domain: Option<EppnDomain>,

    /// The day that decides which enrolments, memberships, duties, groups
    /// and activities are current, as `"YYYY-MM-DD"`. Default: today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_date: Option<String>,

    /// Namespace of the provtjänst ids skolsync derives (UUIDv5), as a UUID
    /// or any text (hashed to one). Use one per pipeline, e.g. its name, so
    /// two pipelines never derive the same id. Changing it changes every
    /// derived id, so keep it once data has been sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_namespace: Option<String>,

    /// How provtjänst ids of persons, duties, groups and activities are
    /// chosen. `source_uuid` (default): the source id when it is a UUID,
    /// else UUIDv5(namespace, kind + source id). `derived`: always the UUIDv5.
    #[serde(default)]
    pub id_strategy: IdStrategy,
}

fn default_school_types() -> Vec<String> {
    DEFAULT_SCHOOL_TYPES.iter().map(|s| s.to_string()).collect()
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            open_data_url: None,
            open_data_file: None,
            organisation_numbers: Vec::new(),
            school_units: Vec::new(),
            school_types: default_school_types(),
            school_years: Vec::new(),
            subject_map: BTreeMap::new(),
            test_activities: Vec::new(),
            duty_role_map: BTreeMap::new(),
            eppn_domain: None,
            reference_date: None,
            id_namespace: None,
            id_strategy: IdStrategy::default(),
        }
    }
}

/// One explicit test activity for a local subject or course code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestActivityRule {
    /// The code as the source writes it: the syllabus course code, else its
    /// subject code, else the activity's inline `subject.code` (e.g. `MA`).
    pub code: String,
    /// Only for this school year (1–10); leave out to match every year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school_year: Option<u8>,
    /// The national test activity's display name, e.g. `GRGRMAT01_6`.
    pub test_activity: String,
}

/// Domains of derived EPPNs, per role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EppnDomain {
    /// Domain for pupils, e.g. `elev.exempelby.se`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student: Option<String>,
    /// Domain for staff, e.g. `exempelby.se`. Must differ from `student`:
    /// Skolverket wants different EPPNs for the two roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff: Option<String>,
    /// `missing` (default): derive only when the source has no EPPN.
    /// `always`: replace the source's EPPN by the derived one.
    #[serde(default)]
    pub mode: EppnMode,
}

/// When an EPPN is derived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EppnMode {
    /// Only for persons whose source record has no EPPN.
    #[default]
    Missing,
    /// For every person of a role with a domain.
    Always,
}

/// How provtjänst ids are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdStrategy {
    /// The source id when it is a UUID (SS 12000 APIs), else UUIDv5.
    #[default]
    SourceUuid,
    /// Always UUIDv5(namespace, kind + source id).
    Derived,
}

/// Points the `[transform]` at the sandbox's Open-data API, which knows
/// the generated school units (a snapshot file of the real open-data would
/// not).
pub fn sandbox_redirect(e: &Endpoints) -> Redirect {
    Redirect::removing(&["open_data_file"]).set("open_data_url", &e.open_data_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gets_the_defaults_and_unknown_keys_are_refused() {
        let config: TransformConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, TransformConfig::default());
        assert_eq!(config.school_types, DEFAULT_SCHOOL_TYPES);
        let err = serde_json::from_str::<TransformConfig>(r#"{"school_unit": ["1"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("school_unit"), "{err}");
    }
}
