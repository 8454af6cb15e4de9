//! Open-data from the (sandbox's) API, and the snapshot file that lets a
//! pipeline run offline.

mod common;

use std::collections::BTreeSet;

use skolsync_sandbox::{Sandbox, SandboxConfig};
use skolsync_transform::{ClientOptions, FetchScope, OpenData, OpenDataError, Transformer};

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
    let snapshot = common::snapshot_of(&world.source.read().unwrap());

    let scope = FetchScope::for_snapshot(&common::config(), &snapshot);
    assert_eq!(scope.organisation_numbers.len(), 1, "{scope:?}");
    let fetched = OpenData::fetch(
        &sandbox.endpoints().open_data_url,
        &scope,
        &ClientOptions::default(),
    )
    .await
    .expect("fetch");

    let codes = |units: &[skolsync_model::open_data::SchoolUnit]| -> BTreeSet<String> {
        units.iter().map(|u| u.school_unit_code.clone()).collect()
    };
    assert_eq!(codes(&fetched.school_units), codes(&catalogue.school_units));
    assert_eq!(fetched.programmes, catalogue.programmes);
    assert_eq!(fetched.test_activities, catalogue.test_activities);
    assert_eq!(fetched.organisations.len(), 1);
    assert!(
        fetched.organisations[0].school_units.is_none(),
        "units moved out"
    );
    assert!(fetched.fetched_at.is_some());

    // The transform gives the same result over the fetched data.
    let direct = common::run_with(&snapshot, common::open_data_of(&catalogue));
    let via_api = common::run_with(&snapshot, fetched.clone());
    assert_eq!(direct.desired, via_api.desired);

    // Offline: save, load, same data.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open-data.json");
    fetched.save(&path).unwrap();
    let loaded = OpenData::load(&path).unwrap();
    assert_eq!(loaded, fetched);

    // A config naming the file reads it without the network.
    let mut config = common::config();
    config.open_data_file = Some(path.clone());
    let obtained = OpenData::obtain(&config, &snapshot, &ClientOptions::default())
        .await
        .unwrap();
    assert_eq!(obtained, fetched);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn unreachable_api_and_broken_files_are_clear_errors() {
    let options = ClientOptions {
        timeout: std::time::Duration::from_secs(2),
        retries: 1,
        backoff: std::time::Duration::from_millis(10),
    };
    // Nothing listens on port 9 of loopback.
    let err = OpenData::fetch(
        "http://127.0.0.1:9/open-data/v1",
        &FetchScope::default(),
        &options,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpenDataError::Request { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("127.0.0.1:9/open-data/v1/programmes"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    std::fs::write(&path, br#"{"school_units": [{"id": "not-a-uuid"}]}"#).unwrap();
    let err = OpenData::load(&path).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("broken.json") && text.contains("line 1"),
        "{text}"
    );
    let err = OpenData::load(&dir.path().join("missing.json")).unwrap_err();
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn config_problems_are_all_reported_with_their_keys() {
    let mut config = common::config();
    config.school_types = vec!["GR".into(), "FSK".into()];
    config.school_years = vec![0, 6, 11];
    config.school_units = vec!["12345678".into(), "abc".into()];
    config.subject_map.insert("MA".into(), "GRGRMATTE".into());
    config
        .duty_role_map
        .insert("Vakt".into(), "Vaktmästare".into());
    config.reference_date = Some("20 augusti".into());
    config.open_data_url = Some("https://x".into());
    config.open_data_file = Some("x.json".into());
    let err = Transformer::new(config, common::fixture::open_data()).unwrap_err();
    let keys: BTreeSet<&str> = err.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "duty_role_map",
            "open_data_file",
            "reference_date",
            "school_types",
            "school_units",
            "school_years",
            "subject_map"
        ])
    );
    let text = err.to_string();
    for needle in [
        "FSK",
        "11",
        "12345678",
        "abc",
        "GRGRMATTE",
        "Vaktmästare",
        "20 augusti",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    assert!(
        !text.contains("school year 6"),
        "valid values are not problems"
    );
}
