//! Skolverket's Open-data API: the reader of the catalogue the transform
//! checks every school unit, programme and test activity against.
//!
//! The catalogue, its snapshot file format and what a run needs read
//! ([`OpenData`], [`FetchScope`]) are the model's; the transform is pure
//! computation over them. Reading it from the network lives here, next to
//! the other readers: [`fetch`].
//!
//! The API has no "all school units" list: school units come from the
//! organisers (`/organisations/code/{orgnr}?expandSchoolUnits=true`) and, for
//! codes the organisers do not cover, one by one (`/schoolUnits/code/{code}`;
//! a 404 just means Skolverket does not know the code, which the transform
//! then reports per record). Programmes and test activities are full lists.
//!
//! Every entry is read on its own ([`UnreadableEntry::read`]): one with an
//! enum value the reader does not know or without a required field is kept
//! as an [`UnreadableEntry`] and the rest of the catalogue is used.

mod client;

use std::collections::BTreeSet;

use chrono::{SecondsFormat, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use skolsync_model::open_data::{EntryKind, FetchScope, OpenData, UnreadableEntry};
use skolsync_model::open_data::{Organisation, SchoolUnit};

use client::Api;
pub use client::{ClientOptions, FetchError};

/// Reads what the transform needs from the Open-data API at `base_url`
/// (production: `https://api.skolverket.se/provtjanst/open-data/v1`): the organisers of `scope` with
/// their school units, the school unit codes they did not cover, all
/// programmes and all test activities.
pub async fn fetch(
    base_url: &str,
    scope: &FetchScope,
    options: &ClientOptions,
) -> Result<OpenData, FetchError> {
    let api = Api::new(base_url, options)?;
    let mut data = OpenData {
        fetched_at: Some(Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)),
        source_url: Some(api.base().to_string()),
        ..OpenData::default()
    };
    let mut covered = BTreeSet::new();
    for number in &scope.organisation_numbers {
        let path = format!("/organisations/code/{number}?expandSchoolUnits=true");
        let Some(raw) = api.get::<Value>(&path).await? else {
            tracing::warn!(
                organisation_number = %number,
                "open-data does not know this organisation number; its school units are looked up one by one"
            );
            continue;
        };
        let (organisation, units) = organisation_entry(raw, &path, &mut data.unreadable);
        for unit in units {
            if covered.insert(unit.school_unit_code.clone()) {
                data.school_units.push(unit);
            }
        }
        data.organisations.extend(organisation);
    }
    for code in &scope.school_unit_codes {
        if covered.contains(code) {
            continue;
        }
        let path = format!("/schoolUnits/code/{code}");
        let Some(raw) = api.get::<Value>(&path).await? else {
            continue;
        };
        if let Some(unit) = UnreadableEntry::read::<SchoolUnit>(
            EntryKind::SchoolUnit,
            raw,
            path,
            &mut data.unreadable,
        ) {
            covered.insert(unit.school_unit_code.clone());
            data.school_units.push(unit);
        } else {
            // Known to Skolverket, only unreadable: not looked up again.
            covered.insert(code.clone());
        }
    }
    data.programmes = list(
        &api,
        "/programmes",
        EntryKind::Programme,
        &mut data.unreadable,
    )
    .await?;
    data.test_activities = list(
        &api,
        "/activities",
        EntryKind::TestActivity,
        &mut data.unreadable,
    )
    .await?;
    for entry in &data.unreadable {
        tracing::warn!(
            location = %entry.location,
            key = entry.key.as_deref().unwrap_or("?"),
            "an open-data entry could not be read: {}",
            entry.message
        );
    }
    Ok(data)
}

/// An organiser with its school units, each read on its own: an organiser
/// that cannot be read still gives its readable units, and one unreadable
/// unit leaves the others.
fn organisation_entry(
    mut raw: Value,
    path: &str,
    unreadable: &mut Vec<UnreadableEntry>,
) -> (Option<Organisation>, Vec<SchoolUnit>) {
    let units = match raw.as_object_mut().and_then(|o| o.remove("schoolUnits")) {
        Some(Value::Array(units)) => units,
        _ => Vec::new(),
    };
    let organisation = UnreadableEntry::read::<Organisation>(
        EntryKind::Organisation,
        raw,
        path.to_string(),
        unreadable,
    );
    let units = units
        .into_iter()
        .enumerate()
        .filter_map(|(i, unit)| {
            UnreadableEntry::read(
                EntryKind::SchoolUnit,
                unit,
                format!("GET {path}: schoolUnits[{i}]"),
                unreadable,
            )
        })
        .collect();
    (organisation, units)
}

/// A full list, entry by entry; a 404 is an empty list.
async fn list<T: DeserializeOwned>(
    api: &Api,
    path: &str,
    kind: EntryKind,
    unreadable: &mut Vec<UnreadableEntry>,
) -> Result<Vec<T>, FetchError> {
    let Some(entries) = api.get::<Vec<Value>>(path).await? else {
        return Ok(Vec::new());
    };
    Ok(entries
        .into_iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            UnreadableEntry::read(kind, raw, format!("GET {path}: [{i}]"), unreadable)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_unreadable_school_unit_leaves_the_others_and_is_named() {
        let raw: Value = serde_json::from_str(
            r#"{"id": "657ae6a4-2978-5fbe-b357-ba353c0f03b5", "displayName": "Exempelby kommun",
                "organisationNumber": "2120001234", "status": "Active",
                "schoolUnits": [
                  {"id": "fb22448b-b724-5e53-8a2c-d8b339206901", "displayName": "Ett",
                   "schoolUnitCode": "11111111", "status": "Active"},
                  {"id": "fb22448b-b724-5e53-8a2c-d8b339206902", "displayName": "Två",
                   "schoolUnitCode": "22222222", "status": "Vilande"},
                  {"id": "fb22448b-b724-5e53-8a2c-d8b339206903", "displayName": "Tre",
                   "schoolUnitCode": "33333333",
                   "schoolTypes": [{"schoolType": "VUXGYAN", "dnpStatus": true}]}
                ]}"#,
        )
        .unwrap();
        let mut unreadable = Vec::new();
        let (organisation, units) =
            organisation_entry(raw, "/organisations/code/x", &mut unreadable);
        assert!(organisation.is_some());
        let codes: Vec<&str> = units.iter().map(|u| u.school_unit_code.as_str()).collect();
        assert_eq!(codes, ["11111111", "33333333"]);
        assert_eq!(unreadable.len(), 1);
        let entry = &unreadable[0];
        assert_eq!(entry.kind, EntryKind::SchoolUnit);
        assert_eq!(entry.key.as_deref(), Some("22222222"));
        assert!(entry.message.contains("status"), "{}", entry.message);
        assert!(
            entry.location.contains("schoolUnits[1]"),
            "{}",
            entry.location
        );
    }

    #[test]
    fn an_organiser_with_an_unknown_status_still_gives_its_units() {
        let raw: Value = serde_json::from_str(
            r#"{"id": "657ae6a4-2978-5fbe-b357-ba353c0f03b5", "displayName": "X",
                "organisationNumber": "2120001234", "status": "Paused",
                "schoolUnits": [{"id": "fb22448b-b724-5e53-8a2c-d8b339206901",
                                 "displayName": "Ett", "schoolUnitCode": "11111111"}]}"#,
        )
        .unwrap();
        let mut unreadable = Vec::new();
        let (organisation, units) = organisation_entry(raw, "/o", &mut unreadable);
        assert!(organisation.is_none());
        assert_eq!(units.len(), 1);
        assert_eq!(unreadable[0].kind, EntryKind::Organisation);
    }
}
