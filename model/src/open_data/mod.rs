//! Types of Skolverket's provtjänst Open-data API.
//!
//! Open-data publishes what the provtjänst already knows: organisers
//! (huvudmän), school units with their school types and years, programmes and
//! the national test activities. skolsync reads it (or a snapshot of it) to
//! confirm that every school unit, programme and test activity it is about to
//! reference exists and is active. School types are kept as text here:
//! open-data lists 34 of them (more than SS 12000 and far more than the
//! profile), and a new one must not make the whole catalogue unreadable.

mod catalogue;

pub use catalogue::{EntryKind, FetchScope, OpenData, OpenDataError, UnreadableEntry};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codes::SchoolType;
use crate::record::record;

/// Life-cycle state of an organisation, school unit or programme (`Code_Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Registered, not active yet.
    New,
    /// Active.
    Active,
    /// Ended.
    Expired,
}

record! {
    /// A reference to an organiser.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct OrganisationReference {
        /// UUIDv5 of the organisation number.
        pub id: Uuid,
        /// The organisation number.
        pub organisation_number: String,
        /// Name for display.
        pub display_name: Option<String> [optional],
    }
}

record! {
    /// An id + name pair (legal form, organiser type).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Labelled {
        /// Code.
        pub id: Option<String> [optional],
        /// Name.
        pub display_name: Option<String> [optional],
    }
}

record! {
    /// A postal address.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Address {
        /// Street address (the spec spells it `streetAdress`).
        #[serde(rename = "streetAdress")]
        pub street_address: Option<String> [optional],
        /// Postal code.
        pub postal_code: Option<String> [optional],
        /// Locality.
        pub locality: Option<String> [optional],
    }
}

record! {
    /// An organiser (huvudman).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Organisation {
        /// UUIDv5 of the organisation number.
        pub id: Uuid,
        /// Name.
        pub display_name: String,
        /// Organisation number.
        pub organisation_number: String,
        /// ISO 3166-1 alpha-3 country of the number, `SWE` by default.
        pub country_code: Option<String> [optional],
        /// Always `Huvudman`.
        pub organisation_type: Option<String> [optional],
        /// Legal form.
        pub legal_form: Option<Labelled> [optional],
        /// Organiser type (municipal, independent …).
        pub organiser_type: Option<Labelled> [optional],
        /// Life-cycle state.
        pub status: Option<Status> [optional],
        /// School units, when asked for with `expandSchoolUnits=true`.
        pub school_units: Option<Vec<SchoolUnit>> [optional],
        /// E-mail.
        pub email: Option<String> [optional],
        /// Phone.
        pub phone_number: Option<String> [optional],
        /// Address.
        pub address: Option<Address> [optional],
    }
}

record! {
    /// A school year offered by a school unit in a school type.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SchoolYear {
        /// The year.
        pub school_year: u8,
        /// Whether the year exists for the unit in the provtjänst.
        pub dnp_status: Option<bool> [optional],
    }
}

record! {
    /// A school type offered by a school unit, with its years.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SchoolUnitSchoolType {
        /// School type code (open-data's value set).
        pub school_type: String,
        /// Whether the school type exists for the unit in the provtjänst.
        pub dnp_status: Option<bool> [optional],
        /// Years offered.
        pub school_years: Vec<SchoolYear> [optional],
    }
}

impl SchoolUnitSchoolType {
    /// The profile school type, if this is one of GR, SP, SAM, GY, VUXGY.
    pub fn profile_school_type(&self) -> Option<SchoolType> {
        self.school_type.parse().ok()
    }
}

record! {
    /// A school unit (skolenhet).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct SchoolUnit {
        /// UUIDv5 of the school unit code.
        pub id: Uuid,
        /// Name.
        pub display_name: String,
        /// School unit code.
        pub school_unit_code: String,
        /// School types and years.
        pub school_types: Vec<SchoolUnitSchoolType> [optional],
        /// Municipality code.
        pub municipality_code: Option<String> [optional],
        /// Municipality name.
        pub municipality_name: Option<String> [optional],
        /// Life-cycle state.
        pub status: Option<Status> [optional],
        /// Whether the unit exists in the provtjänst.
        pub dnp_status: Option<bool> [optional],
        /// The organiser.
        pub parent_organisation: Option<OrganisationReference> [optional],
    }
}

record! {
    /// A programme (studieväg).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Programme {
        /// UUIDv5 of the education code.
        pub id: Uuid,
        /// Name.
        pub display_name: String,
        /// Education code.
        pub education_code: String,
        /// School type (only GY has programmes with national tests).
        pub school_type: Option<String> [optional],
        /// From when the programme may be provisioned (RFC 3339).
        pub valid_from: Option<String> [optional],
        /// Life-cycle state.
        pub status: Option<Status> [optional],
    }
}

record! {
    /// A national test activity (provaktivitet), the `parentActivity` of teaching.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct TestActivity {
        /// UUIDv5 of the display name.
        pub id: Uuid,
        /// Name, e.g. `GRGRMAT01_6` or `MATMAT01a`.
        pub display_name: String,
        /// Always `Provaktivitet`.
        pub activity_type: String,
        /// School type.
        pub school_type: String,
        /// School year, for GR/SP/SAM.
        pub school_year: Option<u8> [optional],
        /// Free-text comment.
        pub comment: Option<String> [optional],
    }
}

/// The error body of the Open-data API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    /// HTTP status code.
    pub code: u16,
    /// What went wrong.
    pub message: String,
    /// When (RFC 3339).
    pub time_stamp: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_shapes_parse() {
        let unit: SchoolUnit = serde_json::from_str(
            r#"{"id": "fb22448b-b724-5e53-8a2c-d8b339206901", "displayName": "Testskolan",
                "schoolUnitCode": "31279295", "municipalityCode": "0180", "municipalityName": "Stockholm",
                "status": "Active", "dnpStatus": true,
                "schoolTypes": [{"schoolType": "GR", "dnpStatus": true,
                                 "schoolYears": [{"schoolYear": 3, "dnpStatus": true}]},
                                {"schoolType": "GRAN", "dnpStatus": false}],
                "parentOrganisation": {"id": "657ae6a4-2978-5fbe-b357-ba353c0f03b5", "organisationNumber": "5567044268"}}"#,
        )
        .unwrap();
        assert_eq!(
            unit.school_types[0].profile_school_type(),
            Some(SchoolType::Gr)
        );
        assert_eq!(unit.school_types[1].profile_school_type(), None);
        let err: Error = serde_json::from_str(
            r#"{"code": 404, "message": "School unit not found", "timeStamp": "2021-06-10T17:39:38+02:00"}"#,
        )
        .unwrap();
        assert_eq!(err.code, 404);
    }
}
