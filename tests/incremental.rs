//! Incremental reads end to end: the cached copy of the source, reads of
//! only what changed, deletions, fall-backs to a full read and the
//! periodic full read that heals what the incremental path missed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use skolsync_model::ss12000::{Entity, parse_entity};
use skolsync_sandbox::generate::{GenerateConfig, generate};

/// The cached copy stores each entity as the JSON of the typed model and
/// reads it back with the connectors' parser: nothing may change on the way
/// (dirty data included, which is where a lossy field would hide).
#[test]
fn every_generated_entity_survives_the_cached_copy() {
    fn round_trip<T: Entity + PartialEq + std::fmt::Debug>(list: &[T]) -> usize {
        for entity in list {
            let json = serde_json::to_string(entity).unwrap();
            let back: T = parse_entity(json.as_bytes()).unwrap_or_else(|e| {
                panic!(
                    "{} {} does not read back: {}",
                    T::KIND,
                    entity.id().as_str(),
                    e.message
                )
            });
            assert_eq!(&back, entity, "{} {}", T::KIND, entity.id().as_str());
        }
        list.len()
    }
    let municipality = generate(&GenerateConfig {
        students: 400,
        seed: 11,
        dirt: 0.05,
        ..GenerateConfig::default()
    });
    let s = &municipality.source;
    let n = round_trip(&s.organisations)
        + round_trip(&s.persons)
        + round_trip(&s.duties)
        + round_trip(&s.groups)
        + round_trip(&s.activities)
        + round_trip(&s.syllabuses)
        + round_trip(&s.programmes);
    assert!(n > 500, "only {n} entities generated");
}
