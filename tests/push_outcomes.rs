//! End to end: outcomes the real provtjänst may give, as the sandbox shows
//! them today, through the pipeline file, the engine and the report.
//!
//! - A pupil the service does not take leaves their class sent without
//!   them (a warning naming them); the next run, once the pupil lands,
//!   sends the class again whole. Creates and updates both go as the
//!   spec's upsert (`POST …/bulk?updateIfExists=true`), never `PUT`.
//! - A pupil the service no longer holds (though the state says it does)
//!   makes their class come back with a warning; the next run sends the
//!   pupil again, and the class whole.
//! - A teacher the service does not take leaves their activity sent
//!   without them (the other teachers and the groups keep their access);
//!   the next run, once the teacher lands, sends the activity whole.
//! - After a `429` whose reset says `0`, the next call still waits the
//!   client's own pacing interval.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines
)] // tests assert by unwrapping; long scenarios read top to bottom

mod support;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use skolsync::engine::RunResult;
use skolsync::state::RunOutcome;
use skolsync_model::ObjectType;
use skolsync_model::ss12000::{Activity, Duty, Group, Person, Reference, SourceId};
use skolsync_sandbox::{Faults, Outage};
use support::{Harness, assert_success, changes_since};
use uuid::Uuid;

const PIPELINE: &str = "educloud-to-skolverket.toml";

/// The pipeline copied with `settings` added to its `[sink]`.
fn with_sink_settings(h: &Harness, settings: &str) -> PathBuf {
    let path = h.copy(PIPELINE);
    let text = std::fs::read_to_string(&path).expect("read the pipeline file");
    let changed = text.replacen(
        "kind = \"skolverket\"\n",
        &format!("kind = \"skolverket\"\n{settings}\n"),
        1,
    );
    assert_ne!(changed, text, "no [sink] to change");
    std::fs::write(&path, changed).expect("write the pipeline file");
    path
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

/// A pupil the service holds in a class the service holds, as the source
/// has them.
fn pupil_in_a_class(h: &Harness) -> (Person, Group) {
    let world = h.sandbox.world();
    let provisioned: HashSet<Uuid> = h.store().persons().iter().map(|p| p.id).collect();
    let data = world.source.read().unwrap();
    let in_class = |p: &Person| {
        data.groups.iter().find(|g| {
            g.group_type == skolsync_model::GroupType::Klass
                && g.group_memberships.iter().any(|m| m.person.id == p.id)
                && Uuid::parse_str(g.id.as_str()).is_ok_and(|id| h.store().group(id).is_some())
        })
    };
    data.persons
        .iter()
        .filter(|p| {
            p.enrolments.len() == 1
                && Uuid::parse_str(p.id.as_str()).is_ok_and(|id| provisioned.contains(&id))
        })
        .find_map(|p| in_class(p).map(|g| (p.clone(), g.clone())))
        .expect("a provisioned pupil in a provisioned class")
}

/// A new pupil, a copy of one the service holds under a new id, name,
/// EPPN and personnummer, put into one class of theirs (and no other
/// group). Returns the newcomer's and the class's Skolverket ids.
fn newcomer_in_a_class(h: &Harness) -> (Uuid, Uuid) {
    let (original, mut class) = pupil_in_a_class(h);
    let world = h.sandbox.world();
    let newcomer = {
        let data = world.source.read().unwrap();
        let mut newcomer = copy_of(&original, &data.persons);
        newcomer.given_name = "Nyinflyttad".into();
        newcomer
    };
    let mut membership = class
        .group_memberships
        .iter()
        .find(|m| m.person.id == original.id)
        .unwrap()
        .clone();
    membership.person = Reference::to(newcomer.id.as_str());
    class.group_memberships.push(membership);
    let ids = (
        Uuid::parse_str(newcomer.id.as_str()).unwrap(),
        Uuid::parse_str(class.id.as_str()).unwrap(),
    );
    world.upsert(newcomer).unwrap();
    world.upsert(class).unwrap();
    ids
}

/// `person` under a new id, name, EPPN, e-mail and personnummer.
fn copy_of(person: &Person, persons: &[Person]) -> Person {
    let mut copy = person.clone();
    copy.id = SourceId::new(Uuid::new_v4().to_string());
    copy.given_name = "Nyanställd".into();
    let tag = copy.id.as_str()[..8].to_string();
    copy.edu_person_principal_names = vec![format!("ny.{tag}@edu.exempelby.se")];
    for e in &mut copy.emails {
        e.value = format!("ny.{tag}@exempelby.se");
    }
    let taken: HashSet<String> = persons
        .iter()
        .filter_map(|p| p.civic_no.as_ref().map(|c| c.value.clone()))
        .collect();
    if let Some(mut civic) = copy.civic_no.clone() {
        civic.value = fresh_civic_no(&civic.value, &taken);
        copy.civic_no = Some(civic);
    }
    copy
}

/// A new teacher — a copy of one the service holds, with a copy of their
/// duty — added to one activity that teacher teaches. Returns the new
/// person's, duty's and the activity's Skolverket ids.
fn new_teacher_on_an_activity(h: &Harness) -> (Uuid, Uuid, Uuid) {
    let world = h.sandbox.world();
    let uuid = |id: &SourceId| Uuid::parse_str(id.as_str()).unwrap();
    let (person, duty, activity) = {
        let data = world.source.read().unwrap();
        let (activity, assignment, duty): (&Activity, _, &Duty) = data
            .activities
            .iter()
            .filter(|a| h.store().activity(uuid(&a.id)).is_some())
            .find_map(|a| {
                a.teachers.iter().find_map(|t| {
                    let reference = t.duty.as_ref()?;
                    let duty = data.duties.iter().find(|d| d.id == reference.id)?;
                    h.store().duty(uuid(&duty.id))?;
                    Some((a, t.clone(), duty))
                })
            })
            .expect("a provisioned activity with a provisioned teacher");
        let teacher_ref = duty.person.as_ref().expect("the duty names its person");
        let teacher = data
            .persons
            .iter()
            .find(|p| p.id == teacher_ref.id)
            .expect("the teacher");
        let person = copy_of(teacher, &data.persons);
        let mut duty = duty.clone();
        duty.id = SourceId::new(Uuid::new_v4().to_string());
        duty.person = Some(Reference::to(person.id.as_str()));
        let mut activity = activity.clone();
        let mut assignment = assignment;
        assignment.duty = Some(Reference::to(duty.id.as_str()));
        if assignment.person.is_some() {
            assignment.person = Some(Reference::to(person.id.as_str()));
        }
        activity.teachers.push(assignment);
        (person, duty, activity)
    };
    let ids = (uuid(&person.id), uuid(&duty.id), uuid(&activity.id));
    world.upsert(person).unwrap();
    world.upsert(duty).unwrap();
    world.upsert(activity).unwrap();
    ids
}

/// Runs `path` with every entity's first outcome a `TemporaryError` until
/// the first bulk call to `until` (e.g. `/groups/bulk`), then without
/// faults. Jobs must settle slowly enough for the switch (300 ms). Clears
/// the request log first.
async fn run_failing_until(h: &Harness, path: &std::path::Path, until: &str) -> RunResult {
    h.store().clear_requests();
    h.sandbox.faults().set(Faults {
        temporary_error_share: 1.0,
        ..Faults::default()
    });
    let faults_off = async {
        for _ in 0..6000 {
            if h.store().requests().iter().any(|r| r.path == until) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.sandbox.faults().set(Faults::default());
    };
    let (result, ()) = tokio::join!(h.run(path), faults_off);
    result
}

/// Every create and update the service received since `from` went as
/// `POST …/bulk?updateIfExists=true`; none as `PUT`.
fn assert_upserts_only(h: &Harness, from: usize) {
    let requests = h.store().requests();
    let bulk: Vec<_> = requests
        .iter()
        .skip(from)
        .filter(|r| r.path.ends_with("/bulk"))
        .collect();
    assert!(!bulk.is_empty(), "nothing was sent");
    for r in bulk {
        assert_eq!(r.method, "POST", "{} {}", r.method, r.path);
        assert_eq!(
            r.query.as_deref(),
            Some("updateIfExists=true"),
            "{} {}",
            r.method,
            r.path
        );
    }
}

/// Members of a group as the service holds it.
fn members(h: &Harness, group: Uuid) -> HashSet<Uuid> {
    h.store()
        .group(group)
        .expect("the service holds the group")
        .group_memberships
        .iter()
        .map(|m| m.person.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_class_sent_without_a_refused_pupil_is_sent_whole_once_the_pupil_lands() {
    // Jobs settle slowly enough that the fault can be switched off between
    // the persons and the groups of the second run.
    let h = Harness::with(Duration::from_millis(300)).await;
    let path = with_sink_settings(&h, "max_attempts = 1");
    assert_success(&h.run(&path).await);

    let (newcomer, class) = newcomer_in_a_class(&h);
    assert!(!members(&h, class).contains(&newcomer));

    // Second run: the service fails the newcomer (TemporaryError, and one
    // attempt is all the pipeline allows); the fault ends as soon as the
    // groups are sent, so the class itself is taken.
    h.store().clear_requests();
    let before = h.store().changes().len();
    let second = run_failing_until(&h, &path, "/groups/bulk").await;
    assert_eq!(h.store().person(newcomer), None, "the newcomer was refused");
    assert_ne!(second.report.outcome, RunOutcome::Success);
    let c = &second.report.counts;
    assert_eq!((c.persons.error, c.groups.warning), (1, 1), "{c:?}");
    // The report says why the class went without the newcomer.
    let problem = second
        .report
        .problems
        .iter()
        .find(|p| p.skolverket_id == Some(class))
        .expect("the class is reported");
    assert!(
        problem.messages.iter().any(
            |m| m.id == "skolsync-member-left-out" && m.message.contains(&newcomer.to_string())
        ),
        "{problem:?}"
    );
    assert!(!members(&h, class).contains(&newcomer));
    assert_upserts_only(&h, 0);
    let changes = changes_since(&h.store(), before);
    assert!(
        changes.keys().all(|(kind, _)| *kind == ObjectType::Group),
        "only the class changed: {changes:?}"
    );

    // Third run: the newcomer lands, and the class is sent again whole —
    // the second run confirmed only what it sent.
    h.store().clear_requests();
    let before = h.store().changes().len();
    let third = h.run(&path).await;
    assert_success(&third);
    assert!(h.store().person(newcomer).is_some());
    assert!(members(&h, class).contains(&newcomer));
    let c = &third.report.counts;
    assert_eq!((c.persons.created, c.groups.updated), (1, 1), "{c:?}");
    assert_upserts_only(&h, 0);
    let changes = changes_since(&h.store(), before);
    assert_eq!(changes.len(), 2, "the newcomer and the class: {changes:?}");

    // Fourth: nothing left to send.
    h.store().clear_requests();
    let fourth = h.run(&path).await;
    assert_success(&fourth);
    assert_eq!(h.bulk_sends(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activity_goes_without_a_refused_teacher_and_whole_once_the_teacher_lands() {
    let h = Harness::with(Duration::from_millis(300)).await;
    let path = with_sink_settings(&h, "max_attempts = 1");
    assert_success(&h.run(&path).await);
    let (teacher, duty, activity) = new_teacher_on_an_activity(&h);
    let teachers_before = h.store().activity(activity).unwrap().teachers.len();

    // Second run: the new teacher's Person fails, so their Duty is held
    // back; the activity still goes, without that Duty, so the other
    // teachers and the groups keep their access.
    let second = run_failing_until(&h, &path, "/activities/bulk").await;
    assert_ne!(
        second.report.outcome,
        RunOutcome::Success,
        "{:?}\n{:#?}",
        second.report.counts,
        second.report.problems
    );
    assert!(h.store().person(teacher).is_none() && h.store().duty(duty).is_none());
    let c = &second.report.counts;
    assert_eq!(
        (c.persons.error, c.duties.held_back, c.activities.warning),
        (1, 1, 1),
        "{c:?}"
    );
    let problem = second
        .report
        .problems
        .iter()
        .find(|p| p.skolverket_id == Some(activity))
        .expect("the activity is reported");
    assert!(
        problem
            .messages
            .iter()
            .any(|m| m.id == "skolsync-reference-left-out" && m.message.contains(&duty.to_string())),
        "{problem:?}"
    );
    let held = h.store().activity(activity).unwrap();
    assert_eq!(held.teachers.len(), teachers_before);
    assert!(held.teachers.iter().all(|t| t.duty.id != duty));
    assert!(!held.groups.is_empty());

    // Third run: the teacher and the duty land, and the activity goes again
    // whole — the second run confirmed only what it sent.
    let third = h.run(&path).await;
    assert_success(&third);
    let c = &third.report.counts;
    assert_eq!(
        (c.persons.created, c.duties.created, c.activities.updated),
        (1, 1, 1),
        "{c:?}"
    );
    let whole = h.store().activity(activity).unwrap();
    assert!(whole.teachers.iter().any(|t| t.duty.id == duty));
    assert_eq!(whole.teachers.len(), teachers_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_the_service_no_longer_holds_is_sent_again_and_then_their_class_whole() {
    let h = Harness::new().await;
    let path = h.copy(PIPELINE);
    assert_success(&h.run(&path).await);
    let (pupil, mut class) = pupil_in_a_class(&h);
    let (pupil, class_id) = (
        Uuid::parse_str(pupil.id.as_str()).unwrap(),
        Uuid::parse_str(class.id.as_str()).unwrap(),
    );

    // Skolverket removes the pupil behind our back (as it does with a
    // personnummer not in the population register, CHANGELOG v1.3), and
    // the class is renamed in the source, so the next run sends it.
    let e = h.sandbox.endpoints();
    let outside = skolsync_sink::build(
        &skolsync_sink::SinkConfig::Skolverket(
            skolsync_sink::skolverket::config::SkolverketConfig {
                auth_url: Some(e.auth_url.clone()),
                provisioning_url: Some(e.provisioning_url.clone()),
                client_cert: Some(e.client_cert.clone().into()),
                client_key: Some(e.client_key.clone().into()),
                ca_cert: Some(e.ca_cert.clone().into()),
                ..Default::default()
            },
        ),
        &skolsync_model::BuildContext::new("/"),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .expect("a sink outside the pipeline");
    let removal = skolsync_model::plan::Plan {
        persons: skolsync_model::plan::TypePlan {
            delete: vec![pupil],
            ..Default::default()
        },
        ..Default::default()
    };
    outside.apply(&removal, &|_| Ok(())).await.unwrap();
    assert!(h.store().person(pupil).is_none());
    class.display_name = format!("{} (ny)", class.display_name);
    h.sandbox.world().upsert(class).unwrap();

    // Second run: the class is taken without the pupil, with the service's
    // warning; the run learns the service does not hold the pupil.
    let second = h.run(&path).await;
    let c = &second.report.counts;
    assert_eq!((c.groups.updated, c.groups.warning), (1, 1), "{c:?}");
    let problem = second
        .report
        .problems
        .iter()
        .find(|p| p.skolverket_id == Some(class_id))
        .expect("the class is reported");
    assert!(
        problem.messages.iter().any(|m| m.message.contains("Gruppmedlemmen")
            || m.message.contains(&pupil.to_string())),
        "{problem:?}"
    );
    assert!(!members(&h, class_id).contains(&pupil));

    // Third run: the pupil is sent again, and then the class, whole.
    let third = h.run(&path).await;
    assert_success(&third);
    let c = &third.report.counts;
    assert_eq!((c.persons.created, c.groups.updated), (1, 1), "{c:?}");
    assert!(h.store().person(pupil).is_some());
    assert!(members(&h, class_id).contains(&pupil));

    // Fourth: nothing left to send.
    h.store().clear_requests();
    assert_success(&h.run(&path).await);
    assert_eq!(h.bulk_sends(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_429_with_a_zero_reset_the_next_call_waits_the_pacing_interval() {
    let h = Harness::new().await;
    // One call at a time, each answered after 300 ms: longer than the
    // 210 ms pacing interval, so only the 429 rule can space the calls
    // after a refusal (the pacer alone would let the next go at once).
    let path = with_sink_settings(&h, "max_in_flight = 1");
    h.sandbox.faults().set(Faults {
        slow: Duration::from_millis(300),
        ..Faults::default()
    });
    h.sandbox.faults().set_outage(Outage {
        throttle_burst: 3,
        retry_after_secs: 0,
        ..Outage::default()
    });
    let result = h.run(&path).await;
    assert_success(&result);
    let requests = h.store().requests();
    let throttled: Vec<usize> = requests
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 429)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(throttled.len(), 3, "the burst happened");
    // 1.05 s / 5 calls per second, less a little for the clocks.
    let interval = Duration::from_millis(200);
    for i in throttled {
        let refused = &requests[i];
        let next = &requests[i + 1];
        let answered = refused.at + refused.elapsed;
        let gap = next.at.saturating_duration_since(answered);
        assert!(
            gap >= interval,
            "the call after a 429 (reset 0) came {gap:?} after it, under the pacing interval"
        );
    }
}
