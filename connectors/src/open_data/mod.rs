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

mod client;

use std::collections::BTreeSet;

use chrono::{SecondsFormat, Utc};
use skolsync_model::open_data::{FetchScope, OpenData};
use skolsync_model::open_data::{Organisation, Programme, SchoolUnit, TestActivity};

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
        let Some(mut organisation) = api.get::<Organisation>(&path).await? else {
            tracing::warn!(
                organisation_number = %number,
                "open-data does not know this organisation number; its school units are looked up one by one"
            );
            continue;
        };
        for unit in organisation.school_units.take().unwrap_or_default() {
            if covered.insert(unit.school_unit_code.clone()) {
                data.school_units.push(unit);
            }
        }
        data.organisations.push(organisation);
    }
    for code in &scope.school_unit_codes {
        if covered.contains(code) {
            continue;
        }
        if let Some(unit) = api
            .get::<SchoolUnit>(&format!("/schoolUnits/code/{code}"))
            .await?
        {
            covered.insert(unit.school_unit_code.clone());
            data.school_units.push(unit);
        }
    }
    data.programmes = api
        .get::<Vec<Programme>>("/programmes")
        .await?
        .unwrap_or_default();
    data.test_activities = api
        .get::<Vec<TestActivity>>("/activities")
        .await?
        .unwrap_or_default();
    Ok(data)
}
