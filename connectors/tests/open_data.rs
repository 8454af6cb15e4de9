//! Open-data from the (sandbox's) API: the catalogue as the sandbox
//! publishes it, read as a transform config says, and clear errors.

use std::collections::BTreeSet;

use skolsync_connectors::open_data::{self, ClientOptions, FetchError};
use skolsync_model::open_data::SchoolUnit;
use skolsync_model::open_data::{FetchScope, OpenData};
use skolsync_model::ss12000::Snapshot;
use skolsync_sandbox::{Sandbox, SandboxConfig};

#[tokio::test]
async fn fetched_open_data_is_the_catalogue_and_survives_a_snapshot_file() {
    let sandbox = Sandbox::start(SandboxConfig {
        students: 300,
        seed: 6,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let world = sandbox.world().clone();
    let catalogue = world.catalogue.clone();
    let snapshot = Snapshot {
        organisations: world.source.read().unwrap().organisations.clone(),
        ..Snapshot::default()
    };

    let scope = FetchScope::for_snapshot(&[], &[], &snapshot);
    assert_eq!(scope.organisation_numbers.len(), 1, "{scope:?}");
    let fetched = open_data::fetch(
        &sandbox.endpoints().open_data_url,
        &scope,
        &ClientOptions::default(),
    )
    .await
    .expect("fetch");

    let codes = |units: &[SchoolUnit]| -> BTreeSet<String> {
        units.iter().map(|u| u.school_unit_code.clone()).collect()
    };
    assert_eq!(codes(&fetched.school_units), codes(&catalogue.school_units));
    // Unit by unit as published, so the transform sees the same catalogue.
    let by_code = |units: &[SchoolUnit]| {
        let mut units = units.to_vec();
        units.sort_by(|a, b| a.school_unit_code.cmp(&b.school_unit_code));
        units
    };
    assert_eq!(
        by_code(&fetched.school_units),
        by_code(&catalogue.school_units)
    );
    assert_eq!(fetched.programmes, catalogue.programmes);
    assert_eq!(fetched.test_activities, catalogue.test_activities);
    assert_eq!(fetched.organisations.len(), 1);
    assert!(
        fetched.organisations[0].school_units.is_none(),
        "units moved out"
    );
    assert!(fetched.fetched_at.is_some());

    // Offline: save, load, same data.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open-data.json");
    fetched.save(&path).unwrap();
    let loaded = OpenData::load(&path).unwrap();
    assert_eq!(loaded, fetched);

    sandbox.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_api_is_a_clear_error() {
    let options = ClientOptions {
        timeout: std::time::Duration::from_secs(2),
        retries: 1,
        backoff: std::time::Duration::from_millis(10),
    };
    // Nothing listens on port 9 of loopback.
    let err = open_data::fetch(
        "http://127.0.0.1:9/open-data/v1",
        &FetchScope::default(),
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, FetchError::Request { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("127.0.0.1:9/open-data/v1/programmes"),
        "{err}"
    );
}
