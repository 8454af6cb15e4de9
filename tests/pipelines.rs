//! End to end: every pipeline file in `pipelines/` against the sandbox.
//!
//! A first run lands everything, a second sends nothing, a change in the
//! source sends exactly that change, a run killed mid-load finishes on the
//! next run without sending confirmed entities again, guards stop a mass
//! deletion, and a change of source system keeps the Skolverket ids.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use skolsync::engine::{self, RunOptions};
use skolsync::pipeline::{LoadOptions, Pipeline};
use skolsync::state::{RunOutcome, StateStore};
use skolsync_model::ObjectType;
use skolsync_model::ss12000::{EntityKind, Group, GroupMembership, Person, Reference, SourceId};
use skolsync_sandbox::provisioning::ChangeKind;
use support::{Harness, assert_success, changes_since};
use uuid::Uuid;

const KINDS: [ObjectType; 4] = [
    ObjectType::Person,
    ObjectType::Duty,
    ObjectType::Group,
    ObjectType::Activity,
];

/// A first run lands everything the transform produced: the emulator holds
/// exactly the in-scope entities, and the report adds up.
async fn first_run_lands_everything(h: &Harness, file: &str) -> std::path::PathBuf {
    let path = h.copy(file);
    let result = h.run(&path).await;
    assert_success(&result);
    let counts = result.report.counts;
    for kind in KINDS {
        let c = counts.get(kind);
        assert!(c.in_scope > 0, "{file}: no {kind} in scope");
        assert_eq!(c.created, c.in_scope, "{file}: {kind} not all created");
        assert_eq!(
            h.store().count(kind) as u64,
            c.created,
            "{file}: the service holds a different number of {kind}s"
        );
    }
    let paths = result.paths.as_ref().expect("report files");
    assert!(paths.json.exists() && paths.html.exists());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&paths.json).unwrap()).unwrap();
    for key in [
        "run_id", "pipeline", "started", "finished", "outcome", "counts",
    ] {
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
    assert_eq!(
        json["counts"]["person"]["in_scope"],
        counts.persons.in_scope
    );
    path
}

/// A second run sends nothing: no bulk call at all, "0 changes".
async fn second_run_sends_nothing(h: &Harness, path: &std::path::Path) {
    h.store().clear_requests();
    let result = h.run(path).await;
    assert_success(&result);
    assert!(
        result.report.nothing_sent(),
        "{}",
        result.terminal_summary()
    );
    assert!(result.terminal_summary().contains("0 changes"));
    assert_eq!(h.bulk_sends(), 0, "the second run sent bulk calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn educloud_pipeline_lands_then_sends_only_changes() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "educloud-to-skolverket.toml").await;
    second_run_sends_nothing(&h, &path).await;

    // One new pupil, one moved to another school, one removed.
    let world = h.sandbox.world();
    let provisioned: HashSet<Uuid> = h.store().persons().iter().map(|p| p.id).collect();
    let (newcomer, moved, removed, touched_groups) = {
        let data = world.source.read().unwrap();
        // Compulsory-school pupils the service holds.
        let pupils: Vec<&Person> = data
            .persons
            .iter()
            .filter(|p| {
                p.enrolments.len() == 1
                    && p.enrolments[0].school_type == skolsync_model::Ss12000SchoolType::Gr
                    && Uuid::parse_str(p.id.as_str()).is_ok_and(|id| provisioned.contains(&id))
            })
            .collect();
        // The moved pupil goes to another active unit, in the same year
        // if it offers that, else in the next (from year 6 to a 7–9 school).
        let catalogue = &world.catalogue;
        let offers = |code: &str, year: u8| {
            catalogue.school_units.iter().any(|u| {
                u.school_unit_code == code
                    && u.status == Some(skolsync_model::open_data::Status::Active)
                    && u.school_types.iter().any(|t| {
                        t.school_type == "GR"
                            && t.school_years
                                .iter()
                                .any(|y| y.school_year == year && y.dnp_status == Some(true))
                    })
            })
        };
        let (moved, target_unit, new_year) = pupils
            .iter()
            .find_map(|p| {
                let e = &p.enrolments[0];
                let year = e.school_year?;
                data.organisations.iter().find_map(|o| {
                    let code = o.school_unit_code.as_deref()?;
                    if o.id == e.enroled_at.id {
                        return None;
                    }
                    [year, year + 1]
                        .into_iter()
                        .find(|y| offers(code, *y))
                        .map(|y| ((*p).clone(), o.id.clone(), y))
                })
            })
            .expect("a pupil and another unit to move to");
        let target: Option<&Group> = data.groups.iter().find(|g| {
            g.group_type == skolsync_model::GroupType::Klass && g.organisation.id == target_unit
        });
        let original = *pupils.iter().find(|p| p.id != moved.id).unwrap();
        let removed = (*pupils
            .iter()
            .find(|p| p.id != moved.id && p.id != original.id)
            .unwrap())
        .clone();

        let mut newcomer = original.clone();
        newcomer.id = SourceId::new(Uuid::new_v4().to_string());
        newcomer.given_name = "Nyinflyttad".into();
        newcomer.edu_person_principal_names = vec![format!(
            "ny.{}@edu.exempelby.se",
            &newcomer.id.as_str()[..8]
        )];
        for e in &mut newcomer.emails {
            e.value = format!("ny.{}@exempelby.se", &newcomer.id.as_str()[..8]);
        }
        let taken: HashSet<String> = data
            .persons
            .iter()
            .filter_map(|p| p.civic_no.as_ref().map(|c| c.value.clone()))
            .collect();
        let mut civic = newcomer.civic_no.clone().unwrap();
        civic.value = fresh_civic_no(&civic.value, &taken);
        newcomer.civic_no = Some(civic);

        // The new pupil joins the original's groups; the moved one leaves
        // theirs for a class at another unit; the removed one's groups
        // lose them.
        let mut groups: Vec<Group> = Vec::new();
        for g in &data.groups {
            let has = |p: &Person| g.group_memberships.iter().any(|m| m.person.id == p.id);
            let mut changed = g.clone();
            let mut touched = false;
            if has(original) {
                let mut m = g
                    .group_memberships
                    .iter()
                    .find(|m| m.person.id == original.id)
                    .unwrap()
                    .clone();
                m.person = Reference::to(newcomer.id.as_str());
                changed.group_memberships.push(m);
                touched = true;
            }
            if has(&moved) || has(&removed) {
                changed
                    .group_memberships
                    .retain(|m| m.person.id != moved.id && m.person.id != removed.id);
                touched = true;
            }
            if target.is_some_and(|t| t.id == g.id) {
                changed.group_memberships.push(GroupMembership {
                    person: Reference::to(moved.id.as_str()),
                    ..g.group_memberships[0].clone()
                });
                touched = true;
            }
            if touched {
                groups.push(changed);
            }
        }
        let mut moved = moved;
        moved.enrolments[0].enroled_at = Reference::to(target_unit.as_str());
        moved.enrolments[0].school_year = Some(new_year);
        (newcomer, moved, removed, groups)
    };
    world.upsert(newcomer.clone()).unwrap();
    world.upsert(moved.clone()).unwrap();
    for g in touched_groups.iter().cloned() {
        world.upsert(g).unwrap();
    }
    assert!(world.delete(EntityKind::Person, &removed.id));

    let before = h.store().changes().len();
    let result = h.run(&path).await;
    if result.report.outcome != RunOutcome::Success {
        eprintln!("{:#?}", result.report.problems);
    }
    assert_success(&result);
    let changes = changes_since(&h.store(), before);
    let id = |p: &Person| Uuid::parse_str(p.id.as_str()).unwrap();
    assert_eq!(
        changes.get(&(ObjectType::Person, ChangeKind::Created)),
        Some(&vec![id(&newcomer)])
    );
    assert_eq!(
        changes.get(&(ObjectType::Person, ChangeKind::Updated)),
        Some(&vec![id(&moved)])
    );
    assert_eq!(
        changes.get(&(ObjectType::Person, ChangeKind::Deleted)),
        Some(&vec![id(&removed)])
    );
    let touched: BTreeSet<Uuid> = touched_groups
        .iter()
        .map(|g| Uuid::parse_str(g.id.as_str()).unwrap())
        .collect();
    let updated_groups: BTreeSet<Uuid> = changes
        .get(&(ObjectType::Group, ChangeKind::Updated))
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .collect();
    assert!(!updated_groups.is_empty());
    assert!(
        updated_groups.is_subset(&touched),
        "groups the change did not touch were sent: {:?}",
        updated_groups.difference(&touched).collect::<Vec<_>>()
    );
    for (kind, change) in changes.keys() {
        assert!(
            matches!(kind, ObjectType::Person | ObjectType::Group),
            "unexpected {kind} {change:?}"
        );
    }
    let c = result.report.counts;
    assert_eq!(
        (c.persons.created, c.persons.updated, c.persons.deleted),
        (1, 1, 1)
    );
    second_run_sends_nothing(&h, &path).await;
}

/// A personnummer not in `taken`, from `like` with another serial and a
/// correct check digit.
fn fresh_civic_no(like: &str, taken: &HashSet<String>) -> String {
    let date = &like[..8];
    for serial in 900..999 {
        for check in 0..10 {
            let candidate = format!("{date}{serial}{check}");
            if !taken.contains(&candidate) && skolsync_model::CivicNo::parse(&candidate).is_ok() {
                return candidate;
            }
        }
    }
    panic!("no free personnummer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ss12000_pipeline_lands_then_sends_nothing() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "ss12000-to-skolverket.toml").await;
    second_run_sends_nothing(&h, &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_template_pipeline_lands_then_sends_nothing() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "csv-template-to-skolverket.toml").await;
    second_run_sends_nothing(&h, &path).await;
}

/// The template as a hand-filled workbook (codes typed as numbers, stray
/// spaces, the example row left in, an empty row, a renamed column mapped
/// in the pipeline file) lands everything, as the same data as CSV does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xlsx_template_pipeline_lands_then_sends_nothing() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "xlsx-template-to-skolverket.toml").await;
    second_run_sends_nothing(&h, &path).await;
    // The same municipality as the CSV template: the same people.
    let persons = h.store().count(ObjectType::Person);
    let csv = Harness::new().await;
    first_run_lands_everything(&csv, "csv-template-to-skolverket.toml").await;
    assert_eq!(persons, csv.store().count(ObjectType::Person));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_pipeline_writes_parquet_then_nothing() {
    let h = Harness::new().await;
    let path = h.copy("export-to-parquet.toml");
    let result = h.run(&path).await;
    assert_success(&result);
    let out = h.dir.path().join("out/exempelby");
    for file in ["persons", "duties", "groups", "activities"] {
        let file = out.join(format!("{file}.parquet"));
        assert!(file.exists(), "{} missing", file.display());
    }
    assert!(result.report.counts.persons.created > 0);
    let written = std::fs::metadata(out.join("persons.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    // Nothing changed: nothing written, the export of the first run stays.
    let again = h.run(&path).await;
    assert_success(&again);
    assert!(again.report.nothing_sent());
    let after = std::fs::metadata(out.join("persons.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(written, after);
    assert_eq!(h.bulk_sends(), 0, "a file pipeline called the provtjänst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_pipeline_runs_on_its_embedded_sandbox() {
    // The demo file as it is, with a smaller municipality for speed.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(support::pipelines_dir().join("demo.toml")).unwrap();
    assert!(text.contains("students = 3000"));
    let path = dir.path().join("demo.toml");
    std::fs::write(&path, text.replace("students = 3000", "students = 200")).unwrap();

    let run = || async {
        let pipeline = Pipeline::load(&path, &LoadOptions::default())
            .await
            .unwrap();
        assert!(
            pipeline.sandbox.is_some(),
            "the embedded sandbox did not start"
        );
        engine::run(&pipeline, &RunOptions::default())
            .await
            .unwrap()
    };
    let first = run().await;
    assert_success(&first);
    assert!(first.report.counts.persons.created > 200);
    assert!(dir.path().join("state/demo.sqlite").exists());
    assert!(dir.path().join("reports/demo").is_dir());
    // A fresh embedded sandbox, the same generated data, the state of the
    // first run: nothing to send.
    let second = run().await;
    assert_success(&second);
    assert!(second.report.nothing_sent());
    assert!(second.terminal_summary().contains("0 changes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_stop_a_mass_deletion_before_anything_is_sent() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "educloud-to-skolverket.toml").await;
    let held = h.store().count(ObjectType::Person);

    // The source suddenly lacks most pupils (a broken export, a wrong scope).
    let provisioned: HashSet<Uuid> = h.store().persons().iter().map(|p| p.id).collect();
    let gone: Vec<SourceId> = {
        let data = h.sandbox.world().source.read().unwrap();
        data.persons
            .iter()
            .filter(|p| Uuid::parse_str(p.id.as_str()).is_ok_and(|id| provisioned.contains(&id)))
            .take(120)
            .map(|p| p.id.clone())
            .collect()
    };
    for id in &gone {
        assert!(h.sandbox.world().delete(EntityKind::Person, id));
    }
    h.store().clear_requests();
    let stopped = h.run(&path).await;
    assert_eq!(stopped.report.outcome, RunOutcome::Aborted);
    assert_eq!(stopped.exit_code(), 4);
    assert!(!stopped.violations.is_empty());
    let summary = stopped.terminal_summary();
    assert!(summary.contains("guards.max_deletes"), "{summary}");
    assert!(summary.contains("would have changed"), "{summary}");
    assert_eq!(h.bulk_sends(), 0, "a guarded run sent something");
    assert_eq!(h.store().count(ObjectType::Person), held);
    assert!(
        stopped
            .report
            .abort_reason
            .as_deref()
            .unwrap_or("")
            .contains("guards")
    );

    // Intended after all: the override sends the deletes.
    let forced = h.run_with(&path, true).await;
    assert_ne!(forced.report.outcome, RunOutcome::Aborted);
    assert_eq!(
        forced.report.counts.persons.deleted,
        gone.len() as u64,
        "{}",
        forced.terminal_summary()
    );
    assert_eq!(h.store().count(ObjectType::Person), held - gone.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_keeps_the_skolverket_ids_of_the_same_people() {
    let h = Harness::new().await;
    // First IST, then the other system's CSV export with new ids; both
    // files name the same state file.
    let educloud = first_run_lands_everything(&h, "educloud-to-skolverket.toml").await;
    let ids = |h: &support::Harness| -> [BTreeSet<Uuid>; 4] {
        let store = h.store();
        [
            store.persons().iter().map(|p| p.id).collect(),
            store.duties().iter().map(|d| d.id).collect(),
            store.groups().iter().map(|g| g.id).collect(),
            store.activities().iter().map(|a| a.id).collect(),
        ]
    };
    let before_ids = ids(&h);
    let persons_before = before_ids[0].clone();
    let migration = h.copy("migration-ist-to-other.toml");

    let before = h.store().changes().len();
    let result = h.run(&migration).await;
    assert_ne!(
        result.report.outcome,
        RunOutcome::Aborted,
        "{}",
        result.terminal_summary()
    );
    let changes = changes_since(&h.store(), before);
    // Every person, duty, group and activity keeps its Skolverket id (the
    // activities through their groups and national test: the new system
    // names them differently), and nothing is deleted or created anew.
    let after_ids = ids(&h);
    for (i, kind) in KINDS.into_iter().enumerate() {
        for change in [ChangeKind::Created, ChangeKind::Deleted] {
            assert_eq!(
                changes.get(&(kind, change)).map(Vec::len),
                None,
                "{kind}: {change:?} during the migration\n{}",
                result.terminal_summary()
            );
        }
        assert!(!before_ids[i].is_empty(), "no {kind} before the migration");
        assert_eq!(
            before_ids[i], after_ids[i],
            "{kind}s got new Skolverket ids"
        );
        assert_eq!(result.report.counts.get(kind).deleted, 0, "{kind}");
        assert_eq!(result.report.counts.get(kind).created, 0, "{kind}");
    }

    // The crosswalk finds the pupil of the new system's first row under
    // the id IST's run gave them.
    let first_row = std::fs::read_to_string(
        support::pipelines_dir().join("data/other-system/Elevinskrivningar.csv"),
    )
    .unwrap();
    let civic = first_row
        .lines()
        .nth(1)
        .unwrap()
        .split(';')
        .nth(2)
        .unwrap()
        .to_string();
    let store = StateStore::open(h.dir.path().join("state/exempelby.sqlite"))
        .await
        .unwrap();
    let sink = h.load(&educloud).await.sink_identity();
    let found = store
        .find_by_civic_no(&sink, &skolsync_model::CivicNo::parse(&civic).unwrap())
        .await
        .unwrap()
        .expect("the pupil is known by personnummer");
    assert!(persons_before.contains(&found.id));

    // And the next run from the new system sends nothing.
    h.store().clear_requests();
    let again = h.run(&migration).await;
    assert!(again.report.nothing_sent(), "{}", again.terminal_summary());
    assert_eq!(h.bulk_sends(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_mid_load_finishes_without_resending_what_was_confirmed() {
    // Slow jobs, so the load takes seconds and can be killed part-way.
    let h = Harness::with(Duration::from_millis(1500)).await;
    let path = h.copy("educloud-to-skolverket.toml");
    let state = h.dir.path().join("state/exempelby.sqlite");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("-q")
        .arg("run")
        .arg(&path)
        .arg("--sandbox-endpoints")
        .arg(h.endpoints_file())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(h.dir.path().join("stderr.txt")).unwrap())
        .spawn()
        .expect("start skolsync run");

    // Kill it once the persons are confirmed and recorded, before the rest.
    let sink = h.load(&path).await.sink_identity();
    let deadline = Instant::now() + Duration::from_secs(120);
    let confirmed = loop {
        assert!(Instant::now() < deadline, "the run never confirmed persons");
        if state.exists()
            && let Ok(store) = StateStore::open(&state).await
        {
            let previous = store.previous_state(&sink).await.unwrap();
            store.close().await;
            if previous
                .hashes
                .get(&ObjectType::Person)
                .is_some_and(|p| !p.is_empty())
            {
                break previous;
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was killed: {}",
            std::fs::read_to_string(h.dir.path().join("stderr.txt")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("kill the run");
    child.wait().unwrap();
    let activities = h.store().count(ObjectType::Activity);
    assert_eq!(activities, 0, "the run got to the end before it was killed");

    let at_kill = h.store().changes().len();
    let result = h.run(&path).await;
    assert_success(&result);
    let resent: Vec<(ObjectType, Uuid)> = h
        .store()
        .changes()
        .into_iter()
        .skip(at_kill)
        .filter(|c| c.change != ChangeKind::Deleted)
        .filter(|c| {
            confirmed
                .hashes
                .get(&c.kind)
                .is_some_and(|ids| ids.contains_key(&c.id))
        })
        .map(|c| (c.kind, c.id))
        .collect();
    assert!(
        resent.is_empty(),
        "confirmed entities were sent again: {resent:?}"
    );
    // Everything is there now, and a further run sends nothing.
    for kind in KINDS {
        assert_eq!(
            h.store().count(kind) as u64,
            result.report.counts.get(kind).in_scope,
            "{kind}"
        );
    }
    second_run_sends_nothing(&h, &path).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_at_the_same_time_is_refused() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    let pipeline = h.load(&path).await;
    let store = engine::open_store(&pipeline).await.unwrap();
    let _held = store
        .begin_run(pipeline.name(), &pipeline.sink_identity())
        .await
        .unwrap();
    let err = engine::run(&pipeline, &RunOptions::default())
        .await
        .expect_err("a second run must be refused");
    assert_eq!(err.exit_code(), 4);
    assert!(err.to_string().contains("already running"), "{err}");
    assert_eq!(h.bulk_sends(), 0);
}

/// Issue 10 item 8: one run per sink, not per state file. A pipeline with
/// another state file but the same provtjänst client waits its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_against_the_same_client_with_another_state_file_is_refused() {
    let h = Harness::new().await;
    let path = h.copy("educloud-to-skolverket.toml");
    let pipeline = h.load(&path).await;
    let held = skolsync::lock::SinkLock::acquire(&pipeline)
        .expect("the sink lock is free")
        .expect("a provtjänst sink takes a lock");
    let other_path = h.dir.path().join("other-state.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("state/exempelby.sqlite", "state/other.sqlite");
    std::fs::write(&other_path, text).unwrap();
    let other = h.load(&other_path).await;
    assert_eq!(other.sink_identity(), pipeline.sink_identity());

    let err = engine::run(&other, &RunOptions::default())
        .await
        .expect_err("a second run against the same client must be refused");
    assert_eq!(err.exit_code(), 4);
    let message = err.to_string();
    assert!(message.contains("already running"), "{message}");
    assert!(
        message.contains(&format!("process {}", std::process::id()))
            && message.contains("exempelby.sqlite"),
        "the message names the other run: {message}"
    );
    // Another process is refused just the same (the lock is the kernel's).
    let out = h.cli("run", &other_path).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("already running"), "{stderr}");
    assert_eq!(h.bulk_sends(), 0);
    // Refused before its state file was even opened.
    assert!(!h.dir.path().join("state/other.sqlite").exists());
    let other_path = h.dir.path().join("other-state.toml");

    // Once the first lets go, the other runs.
    drop(held);
    let result = h.run(&other_path).await;
    assert_success(&result);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_rebuilds_a_lost_state() {
    let h = Harness::new().await;
    let path = first_run_lands_everything(&h, "ss12000-to-skolverket.toml").await;
    // The state file is lost.
    std::fs::remove_dir_all(h.dir.path().join("state")).unwrap();
    let pipeline = h.load(&path).await;
    let result = engine::reconcile(&pipeline, true, &engine::Progress::hidden())
        .await
        .unwrap();
    assert_eq!(
        result.counts["person"].held,
        h.store().count(ObjectType::Person)
    );
    // What the service holds is what the source says: nothing to send.
    let plan = engine::plan(&pipeline, false, &engine::Progress::hidden())
        .await
        .unwrap();
    assert_eq!(plan.summary.changes(), 0, "{}", plan.summary.table());
}

/// Issue 10 item 9: `validate --online` with an invalid `[sink]` reports
/// the open-data check failed instead of pointing it at production.
#[test]
fn validate_online_never_falls_back_to_production_for_an_invalid_sink() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "name = \"invalid-sink\"\n\n[source]\nkind = \"csv\"\nlayout = \"skolverket-template\"\n\
         students = \"Elevinskrivningar.csv\"\n\n[sink]\nkind = \"skolverket\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("validate")
        .arg("--online")
        .arg(&path)
        .output()
        .expect("run skolsync validate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("FAILED  sink"),
        "the sink section is invalid: {stdout}{stderr}"
    );
    assert!(
        stdout.contains("FAILED  open-data  not checked"),
        "{stdout}{stderr}"
    );
    assert!(
        !stdout.contains("api.skolverket.se") && !stderr.contains("api.skolverket.se"),
        "production was used: {stdout}{stderr}"
    );
}

/// Issue 10 item 9: what `extract` writes holds personnummer in full, so
/// only its owner may read it.
#[cfg(unix)]
#[test]
fn extract_output_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("extract");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("extract")
        .arg(support::pipelines_dir().join("csv-template-to-skolverket.toml"))
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run skolsync extract");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files = 0;
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        files += 1;
    }
    assert_eq!(files, 9);
    let persons = std::fs::read_to_string(out_dir.join("persons.jsonl")).unwrap();
    assert!(persons.lines().count() > 100);
}

/// Issue 10 item 9: what the source says reaches the terminal escaped. A
/// source id with an escape sequence (which would clear the screen) is
/// listed by `plan --details` as visible text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_details_show_control_characters_escaped() {
    let h = Harness::new().await;
    // The CSV template's data, with one pupil's id made hostile.
    let data = h.dir.path().join("data/csv-template");
    std::fs::create_dir_all(&data).unwrap();
    for entry in std::fs::read_dir(support::pipelines_dir().join("data/csv-template")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    let students = data.join("Elevinskrivningar.csv");
    let text = std::fs::read_to_string(&students).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let first_id = lines[1].split(';').next().unwrap().to_string();
    lines[1] = lines[1].replacen(&first_id, "evil\u{1b}[2Jpupil", 1);
    std::fs::write(&students, lines.join("\n") + "\n").unwrap();
    let path = h.copy("csv-template-to-skolverket.toml");

    let endpoints = h.endpoints_file();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
            .arg("plan")
            .arg("--details")
            .arg(&path)
            .arg("--sandbox-endpoints")
            .arg(endpoints)
            .output()
            .expect("run skolsync plan")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("evil\\x1b[2Jpupil"),
        "the hostile id is listed, escaped: {stdout}"
    );
    assert!(!stdout.contains('\u{1b}'), "a raw escape reached stdout");
}

#[test]
fn committed_csv_data_is_what_the_generator_writes() {
    let data = support::pipelines_dir().join("data");
    if std::env::var_os("SKOLSYNC_WRITE_PIPELINE_DATA").is_some() {
        support::write_csv_data(&data);
    }
    let fresh = tempfile::tempdir().unwrap();
    support::write_csv_data(fresh.path());
    for set in [
        support::CSV_TEMPLATE_DIR,
        support::OTHER_SYSTEM_DIR,
        support::XLSX_TEMPLATE_DIR,
    ] {
        for entry in std::fs::read_dir(fresh.path().join(set)).unwrap() {
            let entry = entry.unwrap();
            let committed = data.join(set).join(entry.file_name());
            assert_eq!(
                std::fs::read(&committed).ok(),
                Some(std::fs::read(entry.path()).unwrap()),
                "{} differs from the generator's output; regenerate with \
                 SKOLSYNC_WRITE_PIPELINE_DATA=1 cargo test --test pipelines committed_csv_data",
                committed.display()
            );
        }
    }
}
