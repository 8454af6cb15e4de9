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

mod support;

use std::path::{Path, PathBuf};

use skolsync::engine::{self, RunOptions, RunResult};
use skolsync::report::ReadInfo;
use skolsync_model::ObjectType;
use skolsync_model::ss12000::{EntityKind, Group, SourceId};
use skolsync_sandbox::provisioning::ChangeKind;
use support::{Harness, assert_success, changes_since, pipelines_dir};

/// The EduCloud pipeline's state file, as the copied pipeline names it.
fn state_file(h: &Harness) -> PathBuf {
    h.dir.path().join("state/exempelby.sqlite")
}

/// How a run read its source.
fn read_of(result: &RunResult) -> &ReadInfo {
    result
        .report
        .read
        .as_ref()
        .unwrap_or_else(|| panic!("no read in the report: {}", result.terminal_summary()))
}

/// Source ids of the persons the provtjänst holds for this pipeline.
async fn delivered_persons(h: &Harness) -> Vec<String> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", state_file(h).display()))
        .await
        .unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT source_id FROM entities WHERE kind = 'Person' AND source_id IS NOT NULL ORDER BY source_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.into_iter().map(|(id,)| id).collect()
}

/// Renames `ids` in the source the way a school system records an edit
/// (`meta.modified` stamped now).
fn rename(h: &Harness, ids: &[String]) {
    let world = h.sandbox.world();
    for id in ids {
        let mut person = {
            let data = world.source.read().unwrap();
            data.get::<skolsync_model::ss12000::Person>(&SourceId::from(id.as_str()))
                .cloned()
                .unwrap()
        };
        person.given_name = format!("{}a", person.given_name);
        world.upsert(person).unwrap();
    }
}

/// The state's cached copy, as if its last full read were long ago.
async fn backdate_full_read(h: &Harness) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", state_file(h).display()))
        .await
        .unwrap();
    sqlx::query("UPDATE source_cache SET info = json_set(info, '$.full_read_at', '2020-01-01T00:00:00+00:00')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_reads_only_what_changed_and_sends_exactly_that() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    let first = h.run(&path).await;
    assert_success(&first);
    assert_eq!(read_of(&first).mode, "full");

    let delivered = delivered_persons(&h).await;
    let changed: Vec<String> = delivered.iter().step_by(100).cloned().collect::<Vec<_>>();
    assert!(changed.len() >= 3, "{} persons delivered", delivered.len());
    rename(&h, &changed);
    let from = h.store().changes().len();
    h.sandbox.reset_source_calls();

    let second = h.run(&path).await;
    // Every list was asked only for what changed (both filters, one page
    // each), never in full. (At this size that is no fewer calls than a
    // full read; the benchmark measures a municipality.)
    let calls = h.sandbox.source_calls();
    for resource in ["organisations", "persons", "duties", "groups", "activities"] {
        let endpoint = format!("GET /{resource}");
        let filtered = calls.with_param(&endpoint, "meta.modified.after")
            + calls.with_param(&endpoint, "meta.created.after");
        assert_eq!(filtered, calls.endpoint(&endpoint), "{endpoint}: {calls:?}");
        assert_eq!(filtered, 2, "{endpoint}: one page per filter: {calls:?}");
    }
    assert_eq!(calls.endpoint("GET /deletedEntities"), 1);

    assert_success(&second);
    let read = read_of(&second);
    assert_eq!(read.mode, "incremental", "{read:?}");
    assert_eq!(read.entities_read, changed.len(), "{read:?}");
    assert_eq!(read.entities_total, read_of(&first).entities_total);
    let counts = &second.report.counts;
    assert_eq!(counts[ObjectType::Person].updated, changed.len() as u64);
    assert_eq!(counts.sum().created + counts.sum().deleted, 0);
    let sent = changes_since(&h.store(), from);
    assert_eq!(
        sent.get(&(ObjectType::Person, ChangeKind::Updated))
            .map(Vec::len),
        Some(changed.len())
    );
    assert_eq!(sent.len(), 1, "only persons were updated: {sent:?}");
    assert!(
        second
            .terminal_summary()
            .contains("Source: incremental read since")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removal_found_through_deleted_entities_ends_as_a_delete() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    assert_success(&h.run(&path).await);
    let gone = delivered_persons(&h).await[7].clone();
    let gone_id = SourceId::from(gone.as_str());
    // The school system takes the pupil out of its groups, then removes it.
    let world = h.sandbox.world();
    let groups: Vec<Group> = world
        .source
        .read()
        .unwrap()
        .groups
        .iter()
        .filter(|g| g.group_memberships.iter().any(|m| m.person.id == gone_id))
        .cloned()
        .collect();
    assert!(!groups.is_empty());
    for mut g in groups.clone() {
        g.group_memberships.retain(|m| m.person.id != gone_id);
        world.upsert(g).unwrap();
    }
    assert!(world.delete(EntityKind::Person, &gone_id));
    let from = h.store().changes().len();

    let second = h.run(&path).await;
    assert_success(&second);
    let read = read_of(&second);
    assert_eq!(read.mode, "incremental");
    assert_eq!(read.deletions_reported, 1, "{read:?}");
    let counts = &second.report.counts;
    assert_eq!(counts[ObjectType::Person].deleted, 1);
    let sent = changes_since(&h.store(), from);
    assert_eq!(
        sent.get(&(ObjectType::Person, ChangeKind::Deleted))
            .map(Vec::len),
        Some(1)
    );
    assert!(!delivered_persons(&h).await.contains(&gone));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_full_read_heals_a_change_the_incremental_path_missed() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    assert_success(&h.run(&path).await);
    let missed = delivered_persons(&h).await[3].clone();
    // An edit the server forgot to stamp: no filter can find it.
    {
        let world = h.sandbox.world();
        let mut data = world.source.write().unwrap();
        let p = data
            .persons
            .iter_mut()
            .find(|p| p.id.as_str() == missed)
            .unwrap();
        p.given_name = format!("{}o", p.given_name);
    }
    let blind = h.run(&path).await;
    assert_success(&blind);
    assert_eq!(read_of(&blind).mode, "incremental");
    assert_eq!(blind.report.counts[ObjectType::Person].updated, 0);

    backdate_full_read(&h).await;
    let healed = h.run(&path).await;
    assert_success(&healed);
    let read = read_of(&healed);
    assert_eq!(read.mode, "full");
    assert!(
        read.reason
            .as_deref()
            .unwrap_or_default()
            .contains("periodic"),
        "{read:?}"
    );
    assert_eq!(healed.report.counts[ObjectType::Person].updated, 1);

    // The next run is incremental again, and `--full` forces a full one.
    let after = h.run(&path).await;
    assert_eq!(read_of(&after).mode, "incremental");
    let pipeline = h.load(&path).await;
    let forced = engine::run(
        &pipeline,
        &RunOptions {
            full_read: true,
            ..RunOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(read_of(&forced).mode, "full");
    assert!(
        read_of(&forced)
            .reason
            .as_deref()
            .unwrap_or_default()
            .contains("--full")
    );
}

/// The CSV template pipeline with its own copy of the files.
fn csv_pipeline(h: &Harness) -> (PathBuf, PathBuf) {
    let name = "csv-template-to-skolverket.toml";
    let path = h.dir.path().join(name);
    std::fs::copy(pipelines_dir().join(name), &path).unwrap();
    let data = h.dir.path().join("data/csv-template");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(pipelines_dir().join("data/csv-template")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    (path, data)
}

fn rewrite(file: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(file).unwrap();
    std::fs::write(file, edit(text)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_csv_files_are_not_read_again() {
    let h = Harness::new().await;
    let (path, data) = csv_pipeline(&h);
    let first = h.run(&path).await;
    assert_eq!(read_of(&first).mode, "full");
    let totals = first.report.counts.sum();

    let second = h.run(&path).await;
    assert_eq!(read_of(&second).mode, "unchanged", "{:?}", read_of(&second));
    assert_eq!(
        second.report.counts.sum().source_records,
        totals.source_records
    );
    assert_eq!(second.report.counts.sum().rejected, totals.rejected);
    assert!(second.inconsistencies.is_empty());

    // Written again with the same content: a new time, the same hash.
    let students = data.join("Elevinskrivningar.csv");
    rewrite(&students, |t| t);
    let third = h.run(&path).await;
    assert_eq!(read_of(&third).mode, "unchanged");

    // A real change is read.
    let staff = data.join("Personalstjänstgöringar.csv");
    rewrite(&staff, |t| t.trim_end().to_string() + "\n\n");
    let fourth = h.run(&path).await;
    assert_eq!(read_of(&fourth).mode, "full", "{:?}", read_of(&fourth));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_without_deleted_entities_falls_back_to_a_full_read() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    assert_success(&h.run(&path).await);
    let mut faults = h.sandbox.faults().source();
    faults.unserved = vec!["deletedEntities".to_string()];
    h.sandbox.faults().set_source(faults);
    let renamed = delivered_persons(&h).await[5..6].to_vec();
    rename(&h, &renamed);

    let second = h.run(&path).await;
    assert_success(&second);
    let read = read_of(&second);
    assert_eq!(read.mode, "full", "{read:?}");
    let reason = read.reason.clone().unwrap_or_default();
    assert!(
        reason.contains("refused an incremental read") && reason.contains("deletedEntities"),
        "{reason}"
    );
    assert_eq!(second.report.counts[ObjectType::Person].updated, 1);
    // Remembered: the next run reads in full at once, saying why.
    let third = h.run(&path).await;
    let read = read_of(&third);
    assert_eq!(read.mode, "full");
    assert!(
        read.reason
            .clone()
            .unwrap_or_default()
            .contains("refused incremental reads")
    );
}

/// Reads `sandbox`'s EduCloud, everything (`after` = `None`) or what changed
/// after `after`, with `concurrency` listings at once.
async fn read_educloud(
    sandbox: &skolsync_sandbox::Sandbox,
    concurrency: usize,
    after: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> (
    skolsync_model::ss12000::Snapshot,
    skolsync_connectors::ReadSummary,
) {
    let e = sandbox.endpoints();
    let text = format!(
        "kind = \"educloud\"\nbase_url = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\n\
         client_secret = \"{}\"\nrequests_per_second = 0\nconcurrency = {concurrency}\n",
        e.educloud_url, e.educloud_token_url, e.client_id, e.client_secret
    );
    let config: skolsync_connectors::SourceConfig = toml::from_str(&text).unwrap();
    let source =
        skolsync_connectors::build(&config, &skolsync_model::BuildContext::new(".")).unwrap();
    let stream = source.read(skolsync_connectors::ReadOptions {
        modified_after: after,
        progress: None,
    });
    let (snapshot, _, summary) = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        skolsync_connectors::collect(stream),
    )
    .await
    .expect("the read ends in time")
    .unwrap();
    (snapshot, summary)
}

fn sorted_ids<T: Entity>(list: &[T]) -> Vec<String> {
    let mut ids: Vec<String> = list.iter().map(|e| e.id().as_str().to_string()).collect();
    ids.sort();
    ids
}

/// Listings read at once (each change filter of each resource, and
/// `/deletedEntities`) return exactly what one listing at a time does: each
/// changed entity once, every deletion, nothing listed in full — and that
/// is what the source changed.
#[tokio::test(flavor = "multi_thread")]
async fn listings_read_at_once_return_exactly_the_changes_one_at_a_time_does() {
    let h = Harness::new().await;
    let (_, full) = read_educloud(&h.sandbox, 3, None).await;
    let watermark = full.watermark.expect("a full read has a watermark");
    // An hour passes on the source's clock, so that the changes lie after
    // the watermark by more than a second (the stamp grace).
    h.sandbox
        .advance_source_clock(chrono::Duration::hours(1))
        .unwrap();
    let changed = h.sandbox.change_share_of_pupils(0.1).unwrap();
    let gone = SourceId::from("removed-for-the-test");
    let world = h.sandbox.world();
    let mut removed = world.source.read().unwrap().duties[0].clone();
    removed.id = gone.clone();
    world.upsert(removed).unwrap();
    assert!(world.delete(EntityKind::Duty, &gone));
    let persons: Vec<String> = changed
        .touched(EntityKind::Person)
        .iter()
        .map(|id| id.as_str().to_string())
        .collect();
    let groups: Vec<String> = changed
        .touched(EntityKind::Group)
        .iter()
        .map(|id| id.as_str().to_string())
        .collect();
    assert!(persons.len() >= 5 && groups.len() >= 5, "{changed:?}");

    let mut reads = Vec::new();
    for concurrency in [1, 16] {
        h.sandbox.reset_source_calls();
        let (snapshot, summary) = read_educloud(&h.sandbox, concurrency, Some(watermark)).await;
        let calls = h.sandbox.source_calls();
        assert!(summary.listed_in_full.is_empty(), "{summary:?}");
        assert_eq!(sorted_ids(&snapshot.persons), persons, "{concurrency}");
        assert_eq!(sorted_ids(&snapshot.groups), groups, "{concurrency}");
        assert!(snapshot.organisations.is_empty() && snapshot.activities.is_empty());
        assert_eq!(snapshot.deleted.duties, vec![gone.clone()], "{concurrency}");
        for filter in ["meta.modified.after", "meta.created.after"] {
            assert!(
                calls.with_param("GET /groups", filter) >= 1,
                "{filter}: {calls:?}"
            );
        }
        reads.push((snapshot, calls.data_reads()));
    }
    // The moved clock is the clock of the source's answers too (a
    // watermark is taken from their `Date`).
    let (_, later) = read_educloud(&h.sandbox, 3, None).await;
    let later = later.watermark.unwrap();
    assert!(
        later - watermark >= chrono::Duration::minutes(59),
        "{later}"
    );

    let (mut one, mut many) = (reads.remove(0), reads.remove(0));
    for snapshot in [&mut one.0, &mut many.0] {
        snapshot
            .persons
            .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        snapshot
            .groups
            .sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    }
    assert_eq!(one.0.persons, many.0.persons, "the same persons");
    assert_eq!(one.0.groups, many.0.groups, "the same groups");
    assert_eq!(one.1, many.1, "the same calls");
}
