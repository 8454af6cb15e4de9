//! Shared test helpers: sandbox municipalities as snapshots and open-data,
//! and small hand-made sources in SS 12000 JSON.

#![allow(dead_code)]

pub mod fixture;
pub mod spec;

use skolsync_model::ss12000::{Entity, Snapshot};
use skolsync_sandbox::generate::{GenerateConfig, Municipality, REFERENCE_DATE, generate};
use skolsync_sandbox::{Catalogue, SourceData};
use skolsync_transform::{OpenData, TransformConfig, TransformOutput, Transformer};

/// What a connector would yield for the sandbox's source. Entities held in
/// `raw_overrides` (unknown enum values) are left out: a connector's
/// `parse_entity` rejects them before the transform ever sees them.
pub fn snapshot_of(source: &SourceData) -> Snapshot {
    Snapshot {
        organisations: source.organisations.clone(),
        persons: parseable(source, &source.persons),
        duties: parseable(source, &source.duties),
        groups: parseable(source, &source.groups),
        activities: parseable(source, &source.activities),
        syllabuses: source.syllabuses.clone(),
        programmes: source.programmes.clone(),
        deleted: Default::default(),
        origins: Default::default(),
    }
}

/// The entities of `list` that are not held in `raw_overrides`.
fn parseable<T: Entity + Clone>(source: &SourceData, list: &[T]) -> Vec<T> {
    list.iter()
        .filter(|e| {
            !source
                .raw_overrides
                .contains_key(&(T::KIND, e.id().clone()))
        })
        .cloned()
        .collect()
}

/// The sandbox's open-data catalogue as the transform reads it.
pub fn open_data_of(catalogue: &Catalogue) -> OpenData {
    OpenData {
        organisations: catalogue.organisations.clone(),
        school_units: catalogue.school_units.clone(),
        programmes: catalogue.programmes.clone(),
        test_activities: catalogue.test_activities.clone(),
        unreadable: Vec::new(),
        fetched_at: None,
        source_url: None,
    }
}

/// A config for the generated data: its reference date, defaults otherwise.
pub fn config() -> TransformConfig {
    TransformConfig {
        reference_date: Some(REFERENCE_DATE.to_string()),
        ..TransformConfig::default()
    }
}

pub fn municipality(students: usize, seed: u64, dirt: f64) -> Municipality {
    generate(&GenerateConfig {
        students,
        seed,
        dirt,
        ..GenerateConfig::default()
    })
}

/// Transforms a municipality with `config`.
pub fn run(m: &Municipality, config: TransformConfig) -> TransformOutput {
    let t = Transformer::new(config, open_data_of(&m.catalogue)).expect("valid config");
    t.run(&snapshot_of(&m.source)).expect("transform runs")
}

/// Asserts `read = out_of_scope + in_scope` and `in_scope = out + rejected`
/// for every type.
pub fn assert_counts_add_up(out: &TransformOutput) {
    for (name, c, len) in [
        ("persons", &out.counts.persons, out.desired.persons.len()),
        ("duties", &out.counts.duties, out.desired.duties.len()),
        ("groups", &out.counts.groups, out.desired.groups.len()),
        (
            "activities",
            &out.counts.activities,
            out.desired.activities.len(),
        ),
    ] {
        assert_eq!(c.read, c.out_of_scope + c.in_scope, "{name}: {c:?}");
        assert_eq!(c.in_scope, c.out + c.rejected, "{name}: {c:?}");
        assert_eq!(c.out, len, "{name}");
        assert_eq!(
            c.out_of_scope,
            c.out_of_scope_reasons.values().sum::<usize>(),
            "{name}"
        );
    }
}

/// The Skolverket ids open-data knows.
pub fn known(open_data: &OpenData) -> spec::Known {
    spec::Known {
        school_units: open_data.school_units.iter().map(|u| u.id).collect(),
        test_activities: open_data.test_activities.iter().map(|t| t.id).collect(),
    }
}

/// Every payload of `out`, serialised, checked against the spec's schemas.
pub fn assert_payloads_match_spec(out: &TransformOutput, known: &spec::Known) {
    // The diff computes each hash once: the model's content hash of
    // exactly the payload it plans to send.
    use skolsync_model::plan::{PreviousState, content_hash};
    let plan = skolsync_transform::diff(out.desired.clone(), &PreviousState::default());
    assert!(
        plan.persons
            .create
            .iter()
            .all(|d| d.hash == content_hash(&d.payload))
    );
    assert!(
        plan.duties
            .create
            .iter()
            .all(|d| d.hash == content_hash(&d.payload))
    );
    assert!(
        plan.groups
            .create
            .iter()
            .all(|d| d.hash == content_hash(&d.payload))
    );
    assert!(
        plan.activities
            .create
            .iter()
            .all(|d| d.hash == content_hash(&d.payload))
    );
    for d in &out.desired.persons {
        spec::person(&serde_json::to_value(&d.payload).unwrap(), known);
    }
    for d in &out.desired.duties {
        spec::duty(&serde_json::to_value(&d.payload).unwrap(), known);
    }
    for d in &out.desired.groups {
        spec::group(&serde_json::to_value(&d.payload).unwrap(), known);
    }
    for d in &out.desired.activities {
        spec::activity(&serde_json::to_value(&d.payload).unwrap(), known);
    }
}

/// Transforms `snapshot` over `open_data` with [`config`].
pub fn run_with(snapshot: &Snapshot, open_data: OpenData) -> TransformOutput {
    Transformer::new(config(), open_data)
        .expect("valid config")
        .run(snapshot)
        .expect("transform runs")
}
