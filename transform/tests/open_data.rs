//! The open-data catalogue: the snapshot file that lets a pipeline run
//! offline, and the scope a run reads. Reading it from the API is the
//! connectors' (connectors/tests/open_data.rs).

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use skolsync_transform::{OpenData, Transformer};

#[test]
fn the_catalogue_survives_a_snapshot_file_and_broken_files_are_clear_errors() {
    let m = common::municipality(300, 6, 0.0);
    let catalogue = common::open_data_of(&m.catalogue);

    // Offline: save, load, same data, same result.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open-data.json");
    catalogue.save(&path).unwrap();
    let loaded = OpenData::load(&path).unwrap();
    assert_eq!(loaded, catalogue);
    let snapshot = common::snapshot_of(&m.source);
    let direct = common::run_with(&snapshot, catalogue);
    let via_file = common::run_with(&snapshot, loaded);
    assert_eq!(direct.desired, via_file.desired);

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
fn the_scope_is_the_configured_or_the_source_organisers_and_every_school_unit() {
    let m = common::municipality(300, 6, 0.0);
    let snapshot = common::snapshot_of(&m.source);
    let scope = skolsync_transform::fetch_scope(&common::config(), &snapshot);
    assert_eq!(scope.organisation_numbers.len(), 1, "{scope:?}");
    let units: BTreeSet<&str> = snapshot
        .organisations
        .iter()
        .filter_map(|o| o.school_unit_code.as_deref())
        .collect();
    assert!(!units.is_empty());
    assert!(
        units
            .iter()
            .all(|u| scope.school_unit_codes.iter().any(|c| c == u))
    );
    let mut config = common::config();
    config.organisation_numbers = vec![" 212000-0000 ".into()];
    config.school_units = vec!["99999999".into()];
    let scope = skolsync_transform::fetch_scope(&config, &snapshot);
    assert_eq!(scope.organisation_numbers, ["2120000000"]);
    assert!(scope.school_unit_codes.iter().any(|c| c == "99999999"));
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

#[test]
fn an_unreadable_school_unit_is_named_as_such_and_the_rest_is_used() {
    use skolsync_model::open_data::{EntryKind, UnreadableEntry};
    use skolsync_model::reject::Severity;

    let m = common::municipality(300, 6, 0.0);
    let snapshot = common::snapshot_of(&m.source);
    let mut catalogue = common::open_data_of(&m.catalogue);
    // Open-data sent the first unit with something the reader could not
    // read: it is missing from the units and listed as unreadable.
    let gone = catalogue.school_units.remove(0);
    catalogue.unreadable.push(UnreadableEntry {
        kind: EntryKind::SchoolUnit,
        key: Some(gone.school_unit_code.clone()),
        location: "GET /organisations/code/x: schoolUnits[0]".to_string(),
        message: "field `status`: unknown variant `Vilande`".to_string(),
    });
    let out = common::run_with(&snapshot, catalogue);

    let warning = out
        .rejects
        .iter()
        .find(|r| r.severity == Severity::Warning && r.reason.contains("Vilande"))
        .expect("a warning naming what could not be read");
    assert_eq!(
        warning.school_unit.as_deref(),
        Some(gone.school_unit_code.as_str())
    );
    let at_unit: Vec<_> = out
        .rejects
        .iter()
        .filter(|r| r.severity == Severity::Rejected)
        .filter(|r| r.school_unit.as_deref() == Some(gone.school_unit_code.as_str()))
        .collect();
    assert!(!at_unit.is_empty());
    for r in &at_unit {
        assert!(r.reason.contains("could not be read"), "{}", r.reason);
        assert!(
            !r.reason.contains("not known to Skolverket"),
            "{}",
            r.reason
        );
    }
    // Every other unit's pupils are still sent.
    assert!(
        out.desired.persons.len() > 100,
        "{}",
        out.desired.persons.len()
    );
}
