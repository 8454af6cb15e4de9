//! The two things made after the units are filled: the deletion log the
//! SS 12000 source reports, and the open-data catalogue (organisation,
//! school units, programmes, test activities) Skolverket's side serves.

use chrono::{Datelike, NaiveDate};
use skolsync_model::ids::{EducationCode, OrganisationNumber, SchoolUnitCode, TestActivityName};
use skolsync_model::open_data;
use skolsync_model::ss12000::EntityKind;

use super::*;
use crate::generate::curriculum::{self, ORIENTATIONS};
use crate::generate::{REFERENCE_DATE, TERM_START};
use crate::world::{Catalogue, Deletion};

impl Builder<'_> {
    pub(super) fn deletions(&mut self) {
        let persons = (self.cfg.students / 500).max(1);
        let base = swedish_time(
            NaiveDate::from_ymd_opt(REFERENCE_DATE.year(), 6, 15).unwrap_or(TERM_START),
            18,
        );
        for k in 0..persons {
            let at = base + chrono::Duration::minutes((k as i64 * 97) % (60 * 24 * 60));
            self.source.deleted.push(Deletion {
                kind: EntityKind::Person,
                id: self.ids.id(Tag::DeletedPerson, k as u64),
                at,
            });
        }
        self.source.deleted.push(Deletion {
            kind: EntityKind::Group,
            id: self.ids.id(Tag::DeletedGroup, 0),
            at: base + chrono::Duration::days(3),
        });
        self.source.deleted.sort_by_key(|d| d.at);
    }

    pub(super) fn catalogue(&self) -> Catalogue {
        let org_id = OrganisationNumber::new(&self.org_number).skolverket_id();
        let organisation = open_data::Organisation {
            id: org_id,
            display_name: self.display_name.clone(),
            organisation_number: self.org_number.clone(),
            country_code: Some("SWE".to_string()),
            organisation_type: Some("Huvudman".to_string()),
            legal_form: Some(open_data::Labelled {
                id: Some("82".to_string()),
                display_name: Some("Kommuner".to_string()),
            }),
            organiser_type: Some(open_data::Labelled {
                id: Some("01".to_string()),
                display_name: Some("Kommuner och kommunalförbund".to_string()),
            }),
            status: Some(open_data::Status::Active),
            school_units: None,
            email: Some(format!("kommun@{}", self.domain)),
            phone_number: Some("+46 10 123 45 67".to_string()),
            address: Some(open_data::Address {
                street_address: Some("Stadshustorget 1".to_string()),
                postal_code: Some("123 45".to_string()),
                locality: Some(self.cfg.municipality_name.clone()),
            }),
        };
        let parent = open_data::OrganisationReference {
            id: org_id,
            organisation_number: self.org_number.clone(),
            display_name: Some(self.display_name.clone()),
        };
        let unit_entry = |u: &Unit, status: open_data::Status, dnp: bool| open_data::SchoolUnit {
            id: SchoolUnitCode::new(&u.code).skolverket_id(),
            display_name: u.name.clone(),
            school_unit_code: u.code.clone(),
            school_types: {
                let mut types = open_data_school_types(u.kind, dnp);
                let offers_vux = self.vux_unit.is_some_and(|i| self.units[i].org == u.org);
                if offers_vux {
                    // Adult education has no school years (open-data lists
                    // years only for the forms that have them).
                    types.push(open_data::SchoolUnitSchoolType {
                        school_type: "VUXGY".to_string(),
                        dnp_status: Some(dnp),
                        school_years: Vec::new(),
                    });
                }
                types
            },
            municipality_code: Some(self.cfg.municipality_code.clone()),
            municipality_name: Some(self.cfg.municipality_name.clone()),
            status: Some(status),
            dnp_status: Some(dnp),
            parent_organisation: Some(parent.clone()),
        };
        let mut school_units: Vec<open_data::SchoolUnit> = self
            .units
            .iter()
            .map(|u| unit_entry(u, open_data::Status::Active, true))
            .collect();
        school_units.extend(
            self.extra_units
                .iter()
                .map(|(u, s, dnp)| unit_entry(u, *s, *dnp)),
        );

        let programmes = ORIENTATIONS
            .iter()
            .map(|o| open_data::Programme {
                id: EducationCode::new(o.code).skolverket_id(),
                display_name: o.name.to_string(),
                education_code: o.code.to_string(),
                school_type: Some("GY".to_string()),
                valid_from: Some("2011-07-01T00:00:00+02:00".to_string()),
                status: Some(open_data::Status::Active),
            })
            .collect();

        let mut test_activities: Vec<open_data::TestActivity> = curriculum::gr_test_activities()
            .into_iter()
            .map(|(name, year)| open_data::TestActivity {
                id: TestActivityName::new(&name).skolverket_id(),
                display_name: name,
                activity_type: "Provaktivitet".to_string(),
                school_type: "GR".to_string(),
                school_year: Some(year),
                comment: None,
            })
            .collect();
        test_activities.extend(curriculum::gy_test_activities().map(|name| {
            open_data::TestActivity {
                id: TestActivityName::new(name).skolverket_id(),
                display_name: name.to_string(),
                activity_type: "Provaktivitet".to_string(),
                school_type: "GY".to_string(),
                school_year: None,
                comment: None,
            }
        }));

        Catalogue {
            organisations: vec![organisation],
            school_units,
            programmes,
            test_activities,
        }
    }
}

fn open_data_school_types(kind: UnitKind, dnp: bool) -> Vec<open_data::SchoolUnitSchoolType> {
    let years = |range: std::ops::RangeInclusive<u8>| {
        range
            .map(|y| open_data::SchoolYear {
                school_year: y,
                dnp_status: Some(dnp),
            })
            .collect::<Vec<_>>()
    };
    let outside = |code: &str| open_data::SchoolUnitSchoolType {
        school_type: code.to_string(),
        dnp_status: Some(false),
        school_years: Vec::new(),
    };
    let tested =
        |code: &str, range: std::ops::RangeInclusive<u8>| open_data::SchoolUnitSchoolType {
            school_type: code.to_string(),
            dnp_status: Some(dnp),
            school_years: years(range),
        };
    match kind {
        UnitKind::F6 => vec![outside("FKLASS"), outside("FTH"), tested("GR", 1..=6)],
        UnitKind::F9 => vec![outside("FKLASS"), outside("FTH"), tested("GR", 1..=9)],
        UnitKind::Y79 => vec![tested("GR", 7..=9)],
        UnitKind::Gy => vec![tested("GY", 1..=3)],
    }
}
