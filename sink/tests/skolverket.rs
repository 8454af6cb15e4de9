//! End-to-end tests of the `skolverket` sink against the in-process sandbox:
//! real mutual TLS, JWTs, limits, jobs and profile rules.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use skolsync_model::plan::{Action, Outcome, OutcomeStatus, Plan, TypePlan, content_hash};
use skolsync_model::provtjanst::{Payload, Person};
use skolsync_model::{ObjectType, Secret};
use skolsync_sandbox::provisioning::{ChangeKind, RateClass};
use skolsync_sandbox::{Faults, Limits, Sandbox, SandboxConfig};
use skolsync_sink::skolverket::apply::{MEMBER_LEFT_OUT, REFERENCE_LEFT_OUT};
use skolsync_sink::skolverket::config::{DEFAULT_MAX_BODY_BYTES, SkolverketConfig};
use skolsync_sink::{Resources, Sink, SinkConfig, SinkError, SinkStop, SkolverketSink, build};
use support::{
    Collected, assert_one_outcome_each, assert_store_equals_plan, assert_within_limits, bulk_calls,
    plan_for, sink, sink_config,
};
use uuid::Uuid;

/// The tests here measure call rates at the sandbox: they run one at a
/// time, so that on a busy 2-core machine one test's load does not delay
/// another's requests into the same second.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn sandbox(students: usize, faults: Faults) -> Sandbox {
    support::start(SandboxConfig {
        students,
        faults,
        ..SandboxConfig::default()
    })
    .await
}

/// Every id of the plan was created once and never updated: nothing that
/// was confirmed was sent (and accepted) again.
fn assert_created_once(sandbox: &Sandbox, plan: &Plan) {
    let changes = sandbox.provisioning_store().changes();
    let mut created: HashMap<(ObjectType, Uuid), usize> = HashMap::new();
    for c in &changes {
        assert_ne!(
            c.change,
            ChangeKind::Updated,
            "{} {} was accepted a second time",
            c.kind,
            c.id
        );
        *created.entry((c.kind, c.id)).or_default() += 1;
    }
    let planned = plan.persons.create.len()
        + plan.duties.create.len()
        + plan.groups.create.len()
        + plan.activities.create.len();
    assert_eq!(created.len(), planned);
    assert!(created.values().all(|n| *n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_municipality_lands_completely_within_the_limits() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(2500, Faults::default()).await;
    let plan = plan_for(&sandbox);
    assert!(plan.persons.create.len() > 2500);
    assert!(!plan.duties.create.is_empty() && !plan.activities.create.is_empty());
    let config = SinkConfig::Skolverket(sink_config(&sandbox));
    assert_eq!(
        config.open_data_url().as_deref(),
        Some(sandbox.endpoints().open_data_url.as_str())
    );
    let sink = build(
        &config,
        &skolsync_model::BuildContext::new("/"),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .expect("sink builds");

    let collected = Collected::default();
    let summary = sink.apply(&plan, &collected.callback()).await.unwrap();
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    let not_success: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status != OutcomeStatus::Success)
        .take(3)
        .collect();
    assert!(not_success.is_empty(), "{not_success:#?}");
    assert_eq!(summary.overall().success, outcomes.len());
    // Outcomes carry the hash that was sent and the job that carried them.
    let hashes: HashMap<Uuid, &str> = plan
        .persons
        .create
        .iter()
        .map(|d| (d.id, d.hash.as_str()))
        .collect();
    for o in outcomes.iter().filter(|o| o.kind == ObjectType::Person) {
        assert_eq!(o.hash.as_deref(), hashes.get(&o.id).copied());
        assert!(o.job_id.is_some());
        assert_eq!(o.attempts, 1);
        assert_eq!(o.action, Action::Create);
    }

    let store = sandbox.provisioning_store();
    assert_store_equals_plan(&store, &plan);
    assert_created_once(&sandbox, &plan);

    let requests = store.requests();
    assert_within_limits(&requests, RateClass::Bulk, 5, DEFAULT_MAX_BODY_BYTES);
    assert!(requests.iter().all(|r| r.status < 400), "no refused call");
    // Batches are packed full: all but the last of each type and action
    // above 95 % of the limit.
    let bulk = bulk_calls(&requests);
    let full = bulk
        .iter()
        .filter(|r| r.body_bytes * 100 >= DEFAULT_MAX_BODY_BYTES * 95)
        .count();
    assert!(
        full + 4 >= bulk.len(),
        "{full} of {} bulk calls full",
        bulk.len()
    );
    assert!(
        requests
            .iter()
            .all(|r| r.query.as_deref() != Some("showOnlyError=true"))
    );
    assert_eq!(summary.calls.bulk_calls as usize, bulk.len());
    // One status call per job, give or take the probing of the settle time.
    let status_calls = summary.calls.status_calls + summary.calls.is_completed_calls;
    assert!(
        status_calls <= summary.calls.bulk_calls + 8,
        "{:?}",
        summary.calls
    );
    assert_eq!(
        sandbox.token_issuer().tokens_issued(),
        1,
        "the token is reused"
    );

    // Types went in order, each after the previous had settled.
    let first_and_last = |segment: &str| {
        let times: Vec<_> = bulk
            .iter()
            .filter(|r| r.path.contains(segment))
            .map(|r| r.at)
            .collect();
        (
            times.iter().min().copied().unwrap(),
            times.iter().max().copied().unwrap(),
        )
    };
    let order = ["/persons/", "/duties/", "/groups/", "/activities/"].map(first_and_last);
    for pair in order.windows(2) {
        assert!(
            pair[0].1 < pair[1].0,
            "a type started before the previous finished"
        );
    }

    // Sending the same plan again changes nothing (creates are upserts).
    let again = Collected::default();
    sink.apply(&plan, &again.callback()).await.unwrap();
    assert!(
        again
            .all()
            .iter()
            .all(|o| o.status == OutcomeStatus::Success)
    );
    assert_store_equals_plan(&sandbox.provisioning_store(), &plan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_faults_the_result_is_the_same_and_nothing_is_sent_twice() {
    let _serial = SERIAL.lock().await;
    let faults = Faults {
        rate_limit_burst: 7,
        server_error_share: 0.08,
        temporary_error_share: 0.05,
        slow: Duration::from_millis(5),
        drop_share: 0.05,
        pending_extra: Duration::from_millis(700),
        token_early_expiry: Duration::from_secs(15),
    };
    let sandbox = Sandbox::start(SandboxConfig {
        students: 2000,
        faults,
        // Tokens are refused 15 s before their 20 s are up: the sink must
        // notice (LogEntry 5002) and fetch new ones.
        token_lifetime: Duration::from_secs(20),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let plan = plan_for(&sandbox);
    let sink = sink(SkolverketConfig {
        max_attempts: 8,
        // Small batches: more calls, so every fault is met.
        max_body_bytes: 40_000,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    let summary = sink.apply(&plan, &collected.callback()).await.unwrap();
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    let bad: Vec<_> = outcomes
        .iter()
        .filter(|o| o.status != OutcomeStatus::Success)
        .take(3)
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    assert_store_equals_plan(&sandbox.provisioning_store(), &plan);
    assert_created_once(&sandbox, &plan);

    // The faults did happen and were handled.
    let calls = summary.calls;
    assert!(calls.rate_limited >= 7, "{calls:?}");
    assert!(calls.retries > 0, "{calls:?}");
    assert!(calls.tokens_fetched > 1, "{calls:?}");
    assert!(
        outcomes.iter().any(|o| o.attempts > 1),
        "some entities were sent again"
    );
    let requests = sandbox.provisioning_store().requests();
    assert!(
        requests.iter().any(|r| r.status == 403),
        "an expired token was refused"
    );
    assert!(
        requests.iter().any(|r| r.path.ends_with("/isCompleted")),
        "slow jobs were polled"
    );
    assert_within_limits(&requests, RateClass::Bulk, 5, 40_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rate_headers_keep_a_too_eager_client_within_the_limit() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(300, Faults::default()).await;
    let plan = plan_for(&sandbox);
    // Configured for twice the service's limit: only the X-RateLimit
    // headers (Remaining 0, Reset) hold the client back.
    let sink = sink(SkolverketConfig {
        bulk_per_second: 10,
        max_body_bytes: 10_000,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    sink.apply(&plan, &collected.callback()).await.unwrap();
    assert!(
        collected
            .all()
            .iter()
            .all(|o| o.status == OutcomeStatus::Success)
    );
    let requests = sandbox.provisioning_store().requests();
    assert!(requests.len() > 40, "{} calls", requests.len());
    assert_within_limits(&requests, RateClass::Bulk, 5, 10_000);
    assert!(requests.iter().all(|r| r.status != 429));
}

/// A staff member and a pupil whose Person the service refuses.
fn break_people(plan: &mut Plan) -> (Uuid, Uuid) {
    let teacher_duty = plan.activities.create[0].payload.teachers[0].duty.id;
    let teacher = plan
        .duties
        .create
        .iter()
        .find(|d| d.id == teacher_duty)
        .unwrap()
        .payload
        .person
        .id;
    let member = plan
        .groups
        .create
        .iter()
        .find(|g| !g.payload.group_memberships.is_empty())
        .unwrap()
        .payload
        .group_memberships[0]
        .person
        .id;
    for d in &mut plan.persons.create {
        if d.id == teacher || d.id == member {
            // A check digit that does not match: rule 9110.
            let value = &mut d.payload.civic_no.value;
            let last = value.pop().and_then(|c| c.to_digit(10)).unwrap();
            value.push(char::from_digit((last + 1) % 10, 10).unwrap());
            d.hash = content_hash(&d.payload);
        }
    }
    (teacher, member)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_person_holds_back_its_duties_and_shows_up_in_its_groups() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(600, Faults::default()).await;
    let mut plan = plan_for(&sandbox);
    let (teacher, pupil) = break_people(&mut plan);
    let sink = sink(sink_config(&sandbox)).await;
    let collected = Collected::default();
    sink.apply(&plan, &collected.callback()).await.unwrap();
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    let by_id = collected.by_id();

    // Both persons refused, with Skolverket's (sandbox's) LogEntry.
    for person in [teacher, pupil] {
        let o = &by_id[&person];
        assert_eq!(o.status, OutcomeStatus::Error);
        assert_eq!(o.messages[0].id, "9110", "{o:#?}");
    }

    // The teacher's duties are held back, blocked by the person.
    let duties: Vec<_> = plan
        .duties
        .create
        .iter()
        .filter(|d| d.payload.person.id == teacher)
        .map(|d| d.id)
        .collect();
    assert!(!duties.is_empty());
    for duty in &duties {
        let o = &by_id[duty];
        assert_eq!(o.status, OutcomeStatus::HeldBack);
        let blocker = o.blocked_by.unwrap();
        assert_eq!((blocker.kind, blocker.id), (ObjectType::Person, teacher));
    }
    // The activities that teacher teaches go without them: the other
    // teachers and the groups keep their access.
    let store = sandbox.provisioning_store();
    let taught: Vec<_> = plan
        .activities
        .create
        .iter()
        .filter(|a| {
            a.payload
                .teachers
                .iter()
                .any(|t| duties.contains(&t.duty.id))
        })
        .collect();
    assert!(!taught.is_empty());
    for a in &taught {
        let o = &by_id[&a.id];
        assert_eq!(o.status, OutcomeStatus::Warning, "{o:#?}");
        let left_out: Vec<Uuid> = a
            .payload
            .teachers
            .iter()
            .map(|t| t.duty.id)
            .filter(|d| duties.contains(d))
            .collect();
        assert_eq!(o.left_out, left_out);
        assert!(o.messages.iter().any(|m| m.id == REFERENCE_LEFT_OUT));
        assert_eq!(o.hash.as_deref(), Some(a.hash.as_str()));
        let stored = store.activity(a.id).unwrap();
        assert!(stored.teachers.iter().all(|t| !duties.contains(&t.duty.id)));
        assert_eq!(
            stored.teachers.len(),
            a.payload.teachers.len() - left_out.len()
        );
        assert_eq!(stored.groups.len(), a.payload.groups.len());
    }

    // The pupil's groups went without the pupil, with a warning naming them.
    let groups: Vec<_> = plan
        .groups
        .create
        .iter()
        .filter(|g| {
            g.payload
                .group_memberships
                .iter()
                .any(|m| m.person.id == pupil)
        })
        .collect();
    assert!(!groups.is_empty());
    for g in &groups {
        let o = &by_id[&g.id];
        assert_eq!(o.status, OutcomeStatus::Warning);
        let warning = o.messages.iter().find(|m| m.id == MEMBER_LEFT_OUT).unwrap();
        assert_eq!(
            warning.resource_id.as_deref(),
            Some(pupil.to_string().as_str())
        );
        // The outcome names the member left out and carries the desired
        // hash; the engine decides what that confirms (the sink hashes nothing).
        assert_eq!(o.left_out, vec![pupil]);
        assert_eq!(o.hash.as_deref(), Some(g.hash.as_str()));
        let stored = store.group(g.id).unwrap();
        assert_eq!(
            stored.group_memberships.len(),
            g.payload.group_memberships.len() - 1
        );
        assert!(
            stored
                .group_memberships
                .iter()
                .all(|m| m.person.id != pupil)
        );
    }
    // Nothing else was held back or refused; nothing held back was sent.
    let held: HashSet<Uuid> = collected
        .with_status(OutcomeStatus::HeldBack)
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(held.len(), duties.len());
    assert_eq!(collected.with_status(OutcomeStatus::Error).len(), 2);
    for id in &held {
        assert!(store.duty(*id).is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_the_service_left_out_are_named_and_the_group_goes_whole_once_they_land() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(200, Faults::default()).await;
    let full = plan_for(&sandbox);
    let group = full
        .groups
        .create
        .iter()
        .find(|g| g.payload.group_memberships.len() >= 2)
        .unwrap()
        .clone();
    let members: Vec<Uuid> = group
        .payload
        .group_memberships
        .iter()
        .map(|m| m.person.id)
        .collect();
    // The group alone: its members are "unchanged" to the sink (believed
    // held), but the service holds none of them (CHANGELOG v1.3.2: the
    // group is taken with a warning per missing pupil).
    let only_group = Plan {
        groups: TypePlan {
            create: vec![group.clone()],
            ..TypePlan::default()
        },
        ..Plan::default()
    };
    let sink = sink(sink_config(&sandbox)).await;
    let collected = Collected::default();
    sink.apply(&only_group, &collected.callback())
        .await
        .unwrap();
    let o = &collected.by_id()[&group.id];
    assert_eq!(o.status, OutcomeStatus::Warning, "{o:#?}");
    // Every member is named as left out, so the engine confirms the hash
    // of the group without them and the next run sends it again.
    assert_eq!(o.left_out, members);
    assert_eq!(o.hash.as_deref(), Some(group.hash.as_str()));
    assert!(o.messages.iter().filter(|m| m.id == "9142").count() >= members.len());
    assert!(
        o.detail
            .as_deref()
            .is_some_and(|d| d.contains("left out") && d.contains("sent again")),
        "{o:#?}"
    );
    // Not sent again in this run: none of the members landed in it.
    let store = sandbox.provisioning_store();
    let sends = bulk_calls(&store.requests())
        .iter()
        .filter(|r| r.path == "/groups/bulk")
        .count();
    assert_eq!(sends, 1);
    assert!(store.group(group.id).unwrap().group_memberships.is_empty());

    // The members land, and the group goes again whole: no warning left.
    let persons: Vec<_> = full
        .persons
        .create
        .iter()
        .filter(|p| members.contains(&p.id))
        .cloned()
        .collect();
    let again = Plan {
        persons: TypePlan {
            create: persons,
            ..TypePlan::default()
        },
        groups: TypePlan {
            update: vec![group.clone()],
            ..TypePlan::default()
        },
        ..Plan::default()
    };
    let collected = Collected::default();
    sink.apply(&again, &collected.callback()).await.unwrap();
    let o = &collected.by_id()[&group.id];
    assert_eq!(o.status, OutcomeStatus::Success, "{o:#?}");
    assert!(o.left_out.is_empty());
    assert_eq!(
        store.group(group.id).unwrap().group_memberships.len(),
        members.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_and_deletes_go_in_order_and_what_is_gone_counts_as_deleted() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(300, Faults::default()).await;
    let plan = plan_for(&sandbox);
    let sink = sink(sink_config(&sandbox)).await;
    sink.apply(&plan, &|_| Ok(())).await.unwrap();

    // Rename a pupil, delete an activity with its group (groups only after
    // activities: the service refuses to delete a referenced group), delete
    // an id the service never had, and update one it does not have.
    let mut renamed = plan.persons.create[0].clone();
    renamed.payload.given_name = "Ny-Förnamn".to_string();
    renamed.hash = content_hash(&renamed.payload);
    let mut unknown = plan.persons.create[1].clone();
    let store = sandbox.provisioning_store();
    // Make the second person unknown to the service: a new id, civic number
    // and EPPN the service has not seen.
    unknown.id = Uuid::new_v4();
    unknown.payload.id = unknown.id;
    unknown.payload.civic_no.value = "20100101TF01".to_string();
    unknown.payload.edu_person_principal_names = vec![format!("{}@edu.example.se", unknown.id)];
    unknown.hash = content_hash(&unknown.payload);
    let activity = plan.activities.create[0].clone();
    let group = activity.payload.groups[0].id;
    let still_used = plan
        .activities
        .create
        .iter()
        .any(|a| a.id != activity.id && a.payload.groups.iter().any(|g| g.id == group));
    let never_existed = Uuid::new_v4();
    let second = Plan {
        persons: TypePlan {
            update: vec![renamed.clone(), unknown.clone()],
            ..TypePlan::default()
        },
        activities: TypePlan {
            delete: vec![activity.id],
            ..TypePlan::default()
        },
        groups: TypePlan {
            delete: if still_used {
                vec![never_existed]
            } else {
                vec![group, never_existed]
            },
            ..TypePlan::default()
        },
        ..Plan::default()
    };
    store.clear_requests();
    let collected = Collected::default();
    sink.apply(&second, &collected.callback()).await.unwrap();
    let by_id = collected.by_id();
    assert!(
        collected
            .all()
            .iter()
            .all(|o| o.status == OutcomeStatus::Success),
        "{:#?}",
        collected.all()
    );
    assert_eq!(by_id[&renamed.id].action, Action::Update);
    // An update of an entity the service does not hold creates it: the
    // upsert needs no fallback.
    assert_eq!(by_id[&unknown.id].action, Action::Update);
    assert_eq!(by_id[&unknown.id].attempts, 1);
    assert!(
        by_id[&never_existed]
            .detail
            .as_deref()
            .unwrap()
            .contains("already absent")
    );

    let mut person = store.person(renamed.id).unwrap();
    person.clear_read_only();
    assert_eq!(person, renamed.payload);
    assert!(store.person(unknown.id).is_some());
    assert!(store.activity(activity.id).is_none());
    if !still_used {
        assert!(store.group(group).is_none());
    }
    // Updates as upserts (never PUT), then deletes Activity before Group.
    let requests = store.requests();
    let bulk = bulk_calls(&requests);
    assert_eq!(bulk[0].method, "POST");
    assert_eq!(bulk[0].path, "/persons/bulk");
    assert_eq!(bulk[0].query.as_deref(), Some("updateIfExists=true"));
    assert!(bulk.iter().all(|r| r.method != "PUT"));
    let activity_delete = bulk
        .iter()
        .position(|r| r.path == "/activities/bulk/delete")
        .unwrap();
    let group_delete = bulk
        .iter()
        .position(|r| r.path == "/groups/bulk/delete")
        .unwrap();
    assert!(activity_delete < group_delete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lower_service_limit_is_learnt_from_413_and_an_oversized_entity_fails_alone() {
    let _serial = SERIAL.lock().await;
    let sandbox = Sandbox::start(SandboxConfig {
        students: 400,
        limits: Limits {
            max_body_bytes: 30_000,
            ..Limits::default()
        },
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let mut plan = plan_for(&sandbox);
    // One group whose name alone is bigger than the service's limit.
    let huge = &mut plan.groups.create[0];
    huge.payload.display_name = "x".repeat(40_000);
    huge.hash = content_hash(&huge.payload);
    let huge_id = huge.id;
    let sink = sink(sink_config(&sandbox)).await;
    let collected = Collected::default();
    let summary = sink.apply(&plan, &collected.callback()).await.unwrap();
    assert_one_outcome_each(&plan, &collected.all());
    let errors = collected.with_status(OutcomeStatus::Error);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].id, huge_id);
    assert!(
        errors[0].detail.as_deref().unwrap().contains("limit"),
        "{errors:#?}"
    );
    assert!(summary.calls.too_large >= 2, "{:?}", summary.calls);
    assert!(summary.calls.body_limit < 30_000, "{:?}", summary.calls);
    let store = sandbox.provisioning_store();
    assert_eq!(store.count(ObjectType::Person), plan.persons.create.len());
    assert_eq!(store.count(ObjectType::Group), plan.groups.create.len() - 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entity_over_our_own_limit_is_never_sent() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(100, Faults::default()).await;
    let mut plan = plan_for(&sandbox);
    plan.duties = TypePlan::default();
    plan.groups = TypePlan::default();
    plan.activities = TypePlan::default();
    let huge = &mut plan.persons.create[0];
    huge.payload.given_name = "x".repeat(5_000);
    let huge_id = huge.id;
    let sink = sink(SkolverketConfig {
        max_body_bytes: 4_096,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    sink.apply(&plan, &collected.callback()).await.unwrap();
    let o = &collected.by_id()[&huge_id];
    assert_eq!(o.status, OutcomeStatus::Error);
    assert_eq!(o.attempts, 0);
    assert!(
        o.detail
            .as_deref()
            .unwrap()
            .contains("over the 4096-byte limit")
    );
    assert_eq!(
        collected.with_status(OutcomeStatus::Success).len(),
        plan.persons.create.len() - 1
    );
    let requests = sandbox.provisioning_store().requests();
    assert!(requests.iter().all(|r| r.body_bytes <= 4_096));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_never_completes_ends_as_error_after_the_deadline() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(
        50,
        Faults {
            pending_extra: Duration::from_secs(30),
            ..Faults::default()
        },
    )
    .await;
    let mut plan = plan_for(&sandbox);
    plan.persons.create.truncate(20);
    plan.duties = TypePlan::default();
    plan.groups = TypePlan::default();
    plan.activities = TypePlan::default();
    let sink = sink(SkolverketConfig {
        job_deadline_secs: 2,
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    let started = std::time::Instant::now();
    sink.apply(&plan, &collected.callback()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let outcomes = collected.all();
    assert_eq!(outcomes.len(), 20);
    for o in &outcomes {
        assert_eq!(o.status, OutcomeStatus::Error);
        assert!(
            o.detail
                .as_deref()
                .unwrap()
                .contains("with a final status within 2 s"),
            "{o:?}"
        );
        assert!(o.job_id.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_nothing_is_sent_and_the_error_names_the_server() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(50, Faults::default()).await;
    let plan = plan_for(&sandbox);
    // A server pin that is not the sandbox's.
    let wrong_pin = format!("sha256//{}", "A".repeat(43) + "=");
    let sink = sink(SkolverketConfig {
        pinned_pubkey: Some(wrong_pin),
        ..sink_config(&sandbox)
    })
    .await;
    let collected = Collected::default();
    let started = std::time::Instant::now();
    let err = sink.apply(&plan, &collected.callback()).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SinkError::Auth { .. }), "{text}");
    assert!(text.contains("pinned_pubkey"), "{text}");
    // A certificate problem is permanent: named, not waited out.
    assert!(
        text.contains("the provtjänst's TLS certificate did not verify"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(collected.all().is_empty());
    assert!(sandbox.provisioning_store().requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkcs12_entity_id_and_pin_work_and_read_all_returns_what_landed() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(150, Faults::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let p12 = dir.path().join("client.p12");
    support::write_pkcs12(&sandbox, &p12, "hemligt");
    let config = SkolverketConfig {
        client_cert: None,
        client_key: None,
        client_pkcs12: Some("client.p12".into()),
        client_pkcs12_password: Some(Secret::new("hemligt")),
        client_key_id: Some("https://testhuvudman.se".to_string()),
        pinned_pubkey: Some(sandbox.server_pin().to_string()),
        ..sink_config(&sandbox)
    };
    let sink =
        SkolverketSink::new(&config, &skolsync_model::BuildContext::new(dir.path())).unwrap();
    let report = sink.check().await.unwrap();
    assert_eq!(report.checks.len(), 3, "{report:?}");

    let plan = plan_for(&sandbox);
    sink.apply(&plan, &|_| Ok(())).await.unwrap();
    // The service keyed the calls by the entity id the token carries.
    let requests = sandbox.provisioning_store().requests();
    assert!(
        requests
            .iter()
            .all(|r| r.client.as_deref() == Some("https://testhuvudman.se"))
    );

    let Resources::Persons(persons) = sink.read_all(ObjectType::Person).await.unwrap() else {
        panic!("not persons");
    };
    let mut read: HashMap<Uuid, Person> = persons
        .into_iter()
        .map(|mut p| {
            p.clear_read_only();
            (p.id, p)
        })
        .collect();
    assert_eq!(read.len(), plan.persons.create.len());
    for d in &plan.persons.create {
        assert_eq!(
            read.remove(&d.id).as_ref(),
            Some(&d.payload),
            "complete records"
        );
    }
    let groups = sink.read_all(ObjectType::Group).await.unwrap();
    assert_eq!(groups.len(), plan.groups.create.len());
    assert_within_limits(
        &sandbox.provisioning_store().requests(),
        RateClass::Read,
        10,
        usize::MAX,
    );

    // A wrong password is a configuration error naming the setting.
    let wrong = SkolverketConfig {
        client_pkcs12_password: Some(Secret::new("fel")),
        ..config
    };
    let err = build(
        &SinkConfig::Skolverket(wrong),
        &skolsync_model::BuildContext::new(dir.path()),
        skolsync_sink::SinkStores::default(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("client_pkcs12") && !err.contains("fel"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_the_engine_cannot_take_stops_the_sink_cleanly() {
    let _serial = SERIAL.lock().await;
    let sandbox = sandbox(150, Faults::default()).await;
    let plan = plan_for(&sandbox);
    let sink = sink(sink_config(&sandbox)).await;
    let collected = Collected::default();
    let record = collected.callback();
    // The engine takes the first outcome, then cannot store any more.
    let callback = move |o: Outcome| {
        record(o)?;
        Err(SinkStop("the state store failed: disk full".to_string()))
    };
    let err = sink.apply(&plan, &callback).await.unwrap_err();
    assert!(
        matches!(&err, SinkError::Aborted(reason) if reason.contains("disk full")),
        "{err}"
    );
    // Every entity still has its one outcome; nothing after the Persons
    // was sent.
    let outcomes = collected.all();
    assert_one_outcome_each(&plan, &outcomes);
    let changes = sandbox.provisioning_store().changes();
    assert!(!changes.is_empty(), "the first Person job landed");
    assert!(changes.iter().all(|c| c.kind == ObjectType::Person));
    for o in outcomes.iter().filter(|o| o.kind != ObjectType::Person) {
        assert!(
            matches!(o.status, OutcomeStatus::Error | OutcomeStatus::HeldBack),
            "{o:?}"
        );
        assert!(
            o.detail.as_deref().is_some_and(|d| d.contains("not sent")),
            "{o:?}"
        );
    }
}
