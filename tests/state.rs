//! The state store: outcomes become the next run's previous state, failed
//! updates are retried, only our own entities are deletable, runs lock each
//! other out (and stale locks are taken over), the file is private and
//! holds no personnummer, and a crash loses at most the last batch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

use std::time::Duration;

use skolsync::state::{CrosswalkKey, KeyType, RunOutcome, StateError, StateStore, WriterConfig};
use skolsync_model::plan::{Action, Blocker, Outcome, OutcomeStatus};
use skolsync_model::provtjanst::LogEntry;
use skolsync_model::{CivicNo, ObjectType, SeverityLevel};
use uuid::Uuid;

const SINK: &str = "https://provisioning.example/v1";

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn outcome(
    kind: ObjectType,
    id: Uuid,
    action: Action,
    status: OutcomeStatus,
    hash: Option<&str>,
) -> Outcome {
    Outcome {
        kind,
        id,
        action,
        status,
        hash: hash.map(str::to_string),
        left_out: Vec::new(),
        messages: Vec::new(),
        detail: None,
        blocked_by: None,
        job_id: None,
        attempts: 1,
    }
}

fn log_entry(id: &str, message: &str) -> LogEntry {
    LogEntry {
        id: id.into(),
        status_code: 400,
        message_type: Some("Ogiltigt format".into()),
        message: message.into(),
        parameter_name: None,
        parameter_value: None,
        resource_type: Some(ObjectType::Person),
        resource_id: None,
        attribute_name: Some("Enrolment.schoolYear".into()),
        attribute_value: Some("12".into()),
        severity_level: SeverityLevel::Error,
        time_of_occurance: "2026-11-04T02:15:00Z".into(),
    }
}

async fn open(dir: &tempfile::TempDir) -> StateStore {
    StateStore::open(dir.path().join("state/demo.sqlite"))
        .await
        .expect("open the state store")
}

/// Records `outcomes` through a batching writer in one finished run.
/// One run in which the service confirmed creating person `id` with
/// content hash `hash`, read from source record `source_id`.
async fn created_person(store: &StateStore, id: Uuid, hash: &str, source_id: &str) -> String {
    let created = outcome(
        ObjectType::Person,
        id,
        Action::Create,
        OutcomeStatus::Success,
        Some(hash),
    );
    run_with(store, vec![(created, Some(source_id))]).await
}

async fn run_with(store: &StateStore, outcomes: Vec<(Outcome, Option<&str>)>) -> String {
    let run = store.begin_run("demo", SINK).await.expect("begin run");
    let mut writer = store.outcome_writer(run.run_id(), SINK).await;
    for (outcome, source_id) in outcomes {
        writer
            .record(
                outcome,
                source_id.map(str::to_string),
                Some("46165416".into()),
            )
            .await
            .expect("record");
    }
    writer.finish().await.expect("finish writer");
    let run_id = run.run_id().to_string();
    run.finish(RunOutcome::Success, None, &serde_json::json!({}))
        .await
        .expect("finish run");
    run_id
}

#[tokio::test]
async fn accepted_outcomes_become_the_next_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let mut error = outcome(
        ObjectType::Person,
        id(3),
        Action::Create,
        OutcomeStatus::Error,
        Some("h3"),
    );
    error
        .messages
        .push(log_entry("2011", "schoolYear must be 1-10"));
    let mut held = outcome(
        ObjectType::Duty,
        id(4),
        Action::Create,
        OutcomeStatus::HeldBack,
        Some("h4"),
    );
    held.blocked_by = Some(Blocker {
        kind: ObjectType::Person,
        id: id(3),
    });
    run_with(
        &store,
        vec![
            (
                outcome(
                    ObjectType::Person,
                    id(1),
                    Action::Create,
                    OutcomeStatus::Success,
                    Some("h1"),
                ),
                Some("p-1"),
            ),
            (
                outcome(
                    ObjectType::Person,
                    id(2),
                    Action::Create,
                    OutcomeStatus::Warning,
                    Some("h2"),
                ),
                Some("p-2"),
            ),
            (error, Some("p-3")),
            (held, Some("d-4")),
            (
                outcome(
                    ObjectType::Group,
                    id(5),
                    Action::Create,
                    OutcomeStatus::Success,
                    Some("g5"),
                ),
                Some("g-5"),
            ),
        ],
    )
    .await;

    let previous = store.previous_state(SINK).await.unwrap();
    let persons = &previous.hashes[&ObjectType::Person];
    assert_eq!(persons.len(), 2, "only accepted entities: {previous:?}");
    assert_eq!(persons[&id(1)], "h1");
    assert_eq!(persons[&id(2)], "h2");
    assert_eq!(previous.hashes[&ObjectType::Group][&id(5)], "g5");
    assert!(!previous.hashes.contains_key(&ObjectType::Duty));
    // Another sink sees nothing of this one.
    assert!(
        store
            .previous_state("other-sink")
            .await
            .unwrap()
            .hashes
            .is_empty()
    );

    // What `skolsync status` shows: what was sent and what Skolverket said.
    let failed = store
        .entity_status(SINK, id(3))
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(failed.last_status, OutcomeStatus::Error);
    assert_eq!(failed.confirmed_hash, None);
    assert_eq!(failed.last_hash.as_deref(), Some("h3"));
    assert_eq!(failed.messages[0].id, "2011");
    assert_eq!(failed.school_unit.as_deref(), Some("46165416"));
    let held = store.find_by_source_id(SINK, "d-4").await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].last_status, OutcomeStatus::HeldBack);
    assert!(
        held[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("held back")
    );
}

#[tokio::test]
async fn a_failed_update_keeps_the_confirmed_hash_so_the_next_run_retries() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    created_person(&store, id(1), "old", "p-1").await;
    run_with(
        &store,
        vec![(
            outcome(
                ObjectType::Person,
                id(1),
                Action::Update,
                OutcomeStatus::Error,
                Some("new"),
            ),
            None,
        )],
    )
    .await;
    let previous = store.previous_state(SINK).await.unwrap();
    assert_eq!(previous.hashes[&ObjectType::Person][&id(1)], "old");
    let record = store.entity_status(SINK, id(1)).await.unwrap().unwrap();
    assert_eq!(record.last_status, OutcomeStatus::Error);
    assert_eq!(record.last_hash.as_deref(), Some("new"));
    assert_eq!(
        record.source_id.as_deref(),
        Some("p-1"),
        "a None source id keeps the known one"
    );

    // Held back is no better; success finally moves the hash.
    for (status, confirmed) in [
        (OutcomeStatus::HeldBack, "old"),
        (OutcomeStatus::Success, "new"),
    ] {
        let update = outcome(
            ObjectType::Person,
            id(1),
            Action::Update,
            status,
            Some("new"),
        );
        run_with(&store, vec![(update, None)]).await;
        assert_eq!(
            store.previous_state(SINK).await.unwrap().hashes[&ObjectType::Person][&id(1)],
            confirmed,
            "after {status:?}"
        );
    }
}

#[tokio::test]
async fn only_entities_this_pipeline_created_are_deletable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let run_id = run_with(
        &store,
        vec![
            (
                outcome(
                    ObjectType::Group,
                    id(1),
                    Action::Create,
                    OutcomeStatus::Success,
                    Some("a"),
                ),
                Some("g-1"),
            ),
            (
                outcome(
                    ObjectType::Group,
                    id(2),
                    Action::Create,
                    OutcomeStatus::Error,
                    Some("b"),
                ),
                Some("g-2"),
            ),
            (
                outcome(
                    ObjectType::Person,
                    id(9),
                    Action::Create,
                    OutcomeStatus::Success,
                    Some("p"),
                ),
                Some("p-9"),
            ),
        ],
    )
    .await;
    // Found in the service by `reconcile`, made by someone else.
    store
        .record_reconciled(&run_id, SINK, ObjectType::Group, id(3), "c", false)
        .await
        .unwrap();
    let deletable = store.deletable(SINK, ObjectType::Group).await.unwrap();
    assert_eq!(deletable.into_iter().collect::<Vec<_>>(), vec![id(1)]);
    assert!(
        store.previous_state(SINK).await.unwrap().hashes[&ObjectType::Group].contains_key(&id(3))
    );

    // An update of someone else's entity does not make it ours.
    run_with(
        &store,
        vec![(
            outcome(
                ObjectType::Group,
                id(3),
                Action::Create,
                OutcomeStatus::Success,
                Some("c2"),
            ),
            None,
        )],
    )
    .await;
    assert!(
        !store
            .deletable(SINK, ObjectType::Group)
            .await
            .unwrap()
            .contains(&id(3))
    );

    // A failed delete keeps the entity (retried next time); an accepted one removes it.
    run_with(
        &store,
        vec![(
            outcome(
                ObjectType::Group,
                id(1),
                Action::Delete,
                OutcomeStatus::Error,
                None,
            ),
            None,
        )],
    )
    .await;
    assert!(
        store
            .deletable(SINK, ObjectType::Group)
            .await
            .unwrap()
            .contains(&id(1))
    );
    assert_eq!(
        store.previous_state(SINK).await.unwrap().hashes[&ObjectType::Group][&id(1)],
        "a"
    );
    run_with(
        &store,
        vec![(
            outcome(
                ObjectType::Group,
                id(1),
                Action::Delete,
                OutcomeStatus::Success,
                None,
            ),
            None,
        )],
    )
    .await;
    assert!(
        store
            .deletable(SINK, ObjectType::Group)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store.previous_state(SINK).await.unwrap().hashes[&ObjectType::Group].contains_key(&id(1))
    );
    assert!(store.entity_status(SINK, id(1)).await.unwrap().is_none());
}

#[tokio::test]
async fn a_second_concurrent_run_refuses_and_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    // A second process would open its own connection to the same file.
    let other = open(&dir).await;
    let first = store.begin_run("demo", SINK).await.unwrap();
    let err = other
        .begin_run("demo", SINK)
        .await
        .expect_err("must refuse");
    assert!(matches!(err, StateError::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("`demo` is already running"), "{message}");
    assert!(message.contains(first.run_id()), "{message}");
    assert!(
        message.contains(&format!("process {}", std::process::id())),
        "{message}"
    );
    assert!(message.contains("on host"), "{message}");

    // Another pipeline in the same store is independent.
    let unrelated = other.begin_run("other", SINK).await.unwrap();
    unrelated
        .finish(RunOutcome::Success, None, &serde_json::json!({}))
        .await
        .unwrap();

    // Released on finish…
    first
        .finish(
            RunOutcome::Partial,
            None,
            &serde_json::json!({"person": {"error": 1}}),
        )
        .await
        .unwrap();
    let second = other
        .begin_run("demo", SINK)
        .await
        .expect("free after finish");
    // …and on drop.
    let second_id = second.run_id().to_string();
    drop(second);
    let third = store
        .begin_run("demo", SINK)
        .await
        .expect("free after drop");
    assert!(third.took_over().is_none() || third.took_over().unwrap().run_id == second_id);
    third
        .finish(
            RunOutcome::Aborted,
            Some("guard: 80 deletes > 50"),
            &serde_json::json!({}),
        )
        .await
        .unwrap();

    let history = store.history(10).await.unwrap();
    assert_eq!(history.len(), 4);
    assert_eq!(
        history[0].outcome,
        Some(RunOutcome::Aborted),
        "newest first: {history:?}"
    );
    assert_eq!(history[0].reason.as_deref(), Some("guard: 80 deletes > 50"));
    assert!(
        history
            .iter()
            .any(|r| r.run_id == second_id && r.outcome == Some(RunOutcome::Interrupted))
    );
    let partial = history
        .iter()
        .find(|r| r.outcome == Some(RunOutcome::Partial))
        .unwrap();
    assert_eq!(partial.counts.as_ref().unwrap()["person"]["error"], 1);
    assert!(partial.finished.is_some());
    assert_eq!(store.history(1).await.unwrap().len(), 1);
}

/// Rewrites the lock row as another process would have left it.
async fn tamper_lock(path: &std::path::Path, sql: &'static str) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let changed = sqlx::query(sql)
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(changed, 1);
    pool.close().await;
}

#[tokio::test]
async fn a_lock_of_a_dead_process_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let crashed = store.begin_run("demo", SINK).await.unwrap();
    let crashed_id = crashed.run_id().to_string();
    std::mem::forget(crashed); // no release: the process "died"
    // A pid above Linux's pid_max (2^22) never exists.
    tamper_lock(store.path(), "UPDATE run_lock SET pid = 999999999").await;
    let run = store
        .begin_run("demo", SINK)
        .await
        .expect("stale lock taken over");
    assert_eq!(
        run.took_over().map(|h| h.run_id.as_str()),
        Some(crashed_id.as_str())
    );
    assert_eq!(run.took_over().map(|h| h.pid), Some(999_999_999));
    let history = store.history(10).await.unwrap();
    let old = history.iter().find(|r| r.run_id == crashed_id).unwrap();
    assert_eq!(old.outcome, Some(RunOutcome::Interrupted));
    // The new holder is live: still refused.
    assert!(matches!(
        store.begin_run("demo", SINK).await,
        Err(StateError::Locked { .. })
    ));
}

#[tokio::test]
async fn a_lock_older_than_the_limit_is_taken_over_even_if_its_process_lives() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let hung = store.begin_run("demo", SINK).await.unwrap();
    let hung_id = hung.run_id().to_string();
    std::mem::forget(hung);
    // pid 1 is alive; only the age can make this lock stale.
    tamper_lock(
        store.path(),
        "UPDATE run_lock SET pid = 1, since = '2020-01-01T00:00:00.000000Z'",
    )
    .await;
    let store = store.with_stale_after(Duration::from_secs(3600));
    let run = store
        .begin_run("demo", SINK)
        .await
        .expect("old lock taken over");
    assert_eq!(
        run.took_over().map(|h| h.run_id.as_str()),
        Some(hung_id.as_str())
    );
}

#[cfg(unix)]
#[tokio::test]
async fn the_state_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    created_person(&store, id(1), "h", "p").await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(mode(&dir.path().join("state/demo.sqlite-wal")), 0o600);
    assert_eq!(mode(&dir.path().join("state")), 0o700);

    // An existing file with a loose mode is tightened on open.
    store.close().await;
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let reopened = open(&dir).await;
    assert_eq!(mode(reopened.path()), 0o600);
}

#[tokio::test]
async fn the_crosswalk_round_trips_without_storing_personnummer() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let anna = CivicNo::parse("200901272385").unwrap();
    let key = CrosswalkKey::civic_no(&anna);
    store
        .crosswalk_put(ObjectType::Person, &key, id(7))
        .await
        .unwrap();
    store
        .crosswalk_put_many(
            ObjectType::Person,
            [(
                CrosswalkKey::parse(KeyType::Eppn, "Anna.A@Skola.SE").unwrap(),
                id(7),
            )],
        )
        .await
        .unwrap();

    // The same number written differently finds the same id.
    let written_short = CrosswalkKey::parse(KeyType::CivicNo, " 090127-2385 ").unwrap();
    assert_eq!(
        store
            .crosswalk_get(ObjectType::Person, &written_short)
            .await
            .unwrap(),
        Some(id(7))
    );
    assert_eq!(
        store
            .crosswalk_get(ObjectType::Duty, &written_short)
            .await
            .unwrap(),
        None
    );
    let map = store
        .crosswalk(ObjectType::Person, KeyType::CivicNo)
        .await
        .unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(map.get(&written_short), Some(id(7)));
    assert_eq!(
        map.get(&CrosswalkKey::parse(KeyType::Eppn, "anna.a@skola.se").unwrap()),
        None
    );
    let eppn = store
        .crosswalk(ObjectType::Person, KeyType::Eppn)
        .await
        .unwrap();
    assert_eq!(
        eppn.get(&CrosswalkKey::parse(KeyType::Eppn, "anna.a@skola.se").unwrap()),
        Some(id(7))
    );

    // An invalid number is refused with a masked message.
    let err = CrosswalkKey::parse(KeyType::CivicNo, "200901272386")
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("200901272386") && err.contains("20090127"),
        "{err}"
    );
    assert!(!format!("{key:?}").contains("2385"));

    // `status --civic-no` goes through the crosswalk.
    created_person(&store, id(7), "h", "p-7").await;
    let found = store
        .find_by_civic_no(SINK, &anna)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.source_id.as_deref(), Some("p-7"));

    // No form of the number anywhere in the files, WAL included.
    let path = store.path().to_path_buf();
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm"] {
        if let Ok(b) = std::fs::read(format!("{}{suffix}", path.display())) {
            bytes.extend(b);
        }
    }
    assert!(bytes.len() > 4096);
    for needle in ["200901272385", "0901272385", "090127-2385", "20090127-2385"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} found in the state file"
        );
    }
    // …but the EPPN's hash is there, not the EPPN.
    assert!(!bytes.windows(15).any(|w| w == b"anna.a@skola.se"));
}

#[tokio::test]
async fn watermarks_round_trip_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    assert_eq!(store.watermark("educloud").await.unwrap(), None);
    store
        .set_watermark("educloud", "2026-11-04T02:15:00Z")
        .await
        .unwrap();
    store.set_watermark("csv", "x").await.unwrap();
    store
        .set_watermark("educloud", "2026-11-05T02:15:00Z")
        .await
        .unwrap();
    store.close().await;
    let store = open(&dir).await;
    assert_eq!(
        store.watermark("educloud").await.unwrap().as_deref(),
        Some("2026-11-05T02:15:00Z")
    );
    assert_eq!(store.watermark("csv").await.unwrap().as_deref(), Some("x"));
}

#[tokio::test]
async fn urls_open_sqlite_and_refuse_postgres_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("by-url.sqlite").display());
    let store = StateStore::open_url(&url).await.expect("sqlite url");
    assert!(store.path().ends_with("by-url.sqlite"));
    let err = StateStore::open_url("postgres://skolsync:hunter2@db/state")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("PostgreSQL state stores are not supported yet"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
    let err = StateStore::open_url("mysql://root:hunter2@db")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown scheme `mysql`") && !err.contains("hunter2"),
        "{err}"
    );
}

/// Simulates `kill -9` mid-run: the runtime (and with it the writer task)
/// vanishes without flushing. Committed batches survive; at most the last,
/// unflushed outcomes are lost; the next run takes the lock over.
#[test]
fn a_crash_loses_at_most_the_unflushed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state/demo.sqlite");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let crashed_id = runtime.block_on(async {
        let store = StateStore::open(&path).await.unwrap();
        let run = store.begin_run("demo", SINK).await.unwrap();
        let config = WriterConfig {
            max_batch: 4,
            max_delay: Duration::from_millis(50),
        };
        let mut writer = store.outcome_writer_with(run.run_id(), SINK, config).await;
        // 4 fill a batch, 2 more are committed by the deadline.
        for n in 0..6 {
            let o = outcome(
                ObjectType::Person,
                id(n),
                Action::Create,
                OutcomeStatus::Success,
                Some("h"),
            );
            writer
                .record(o, Some(format!("p-{n}")), None)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        // These two are still buffered when the process dies.
        for n in 6..8 {
            let o = outcome(
                ObjectType::Person,
                id(n),
                Action::Create,
                OutcomeStatus::Success,
                Some("h"),
            );
            writer
                .record(o, Some(format!("p-{n}")), None)
                .await
                .unwrap();
        }
        let run_id = run.run_id().to_string();
        std::mem::forget(writer);
        drop(run);
        run_id
    });
    runtime.shutdown_background();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let store = StateStore::open(&path).await.unwrap();
        let persons = store.previous_state(SINK).await.unwrap().hashes[&ObjectType::Person].clone();
        assert_eq!(
            persons.keys().copied().collect::<Vec<_>>(),
            (0..6).map(id).collect::<Vec<_>>()
        );
        let run = store
            .begin_run("demo", SINK)
            .await
            .expect("the dead run's lock is free");
        let history = store.history(5).await.unwrap();
        let old = history.iter().find(|r| r.run_id == crashed_id).unwrap();
        assert!(
            matches!(old.outcome, None | Some(RunOutcome::Interrupted)),
            "{old:?}"
        );
        run.finish(RunOutcome::Success, None, &serde_json::json!({}))
            .await
            .unwrap();
    });
}
