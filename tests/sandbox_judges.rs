//! End to end: the sandbox judges what a pipeline sends by its own reading
//! of the spec and of Skolverket's register, over HTTPS, with jobs that
//! settle entity by entity — and the run reports what it judged.
//!
//! The client checks its records against open-data before it sends them,
//! so to see the service's own judgement the client is given a stale copy
//! of open-data (a stand-in that still lists a unit as being in the
//! provtjänst) while the service judges by the current register.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use skolsync::engine::{self, EXIT_PARTIAL, RunOptions};
use skolsync::pipeline::{LoadOptions, Pipeline, SandboxChoice};
use skolsync::state::RunOutcome;
use skolsync_model::ObjectType;
use skolsync_model::open_data::Status;
use skolsync_model::ss12000::{Person, Reference};
use std::time::Duration;

use skolsync_sandbox::{
    ProvisioningOptions, Sandbox, SandboxConfig, UnsettledListing, serve_open_data,
};
use support::Harness;
use uuid::Uuid;

const KINDS: [ObjectType; 4] = [
    ObjectType::Person,
    ObjectType::Duty,
    ObjectType::Group,
    ObjectType::Activity,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pupil_at_a_unit_outside_the_provtjanst_is_rejected_by_the_service_with_its_message() {
    let h = Harness::new().await;
    let endpoints = h.sandbox.endpoints().clone();
    assert!(
        endpoints.provisioning_url.starts_with("https://"),
        "the Provisioning API is served over TLS: {}",
        endpoints.provisioning_url
    );
    let world = h.sandbox.world().clone();

    // The register: one active unit is not (yet) in the provtjänst.
    let outside = world
        .catalogue
        .school_units
        .iter()
        .find(|u| u.dnp_status == Some(false) && u.status == Some(Status::Active))
        .expect("the generator makes a unit outside the provtjänst")
        .clone();
    let year = outside
        .school_types
        .iter()
        .find(|t| t.school_type == "GR")
        .and_then(|t| t.school_years.first())
        .map(|y| y.school_year)
        .expect("the unit lists GR years");

    // The school system enrols one pupil there.
    let moved: Person = {
        let data = world.source.read().unwrap();
        let unit = data
            .organisations
            .iter()
            .find(|o| o.school_unit_code.as_deref() == Some(outside.school_unit_code.as_str()))
            .expect("the source has the unit")
            .id
            .clone();
        let mut pupil = data
            .persons
            .iter()
            .find(|p| {
                p.enrolments.len() == 1
                    && p.enrolments[0].school_year == Some(year)
                    && Uuid::parse_str(p.id.as_str()).is_ok()
            })
            .expect("a pupil in that year")
            .clone();
        pupil.enrolments[0].enroled_at = Reference::to(unit.as_str());
        pupil
    };
    world.upsert(moved.clone()).unwrap();
    let moved_id = Uuid::parse_str(moved.id.as_str()).unwrap();

    // The client's copy of open-data is stale: it still says the unit is in.
    let mut stale = (*world.catalogue).clone();
    for unit in stale.school_units.iter_mut().filter(|u| u.id == outside.id) {
        unit.dnp_status = Some(true);
        for t in &mut unit.school_types {
            t.dnp_status = Some(true);
            for y in &mut t.school_years {
                y.dnp_status = Some(true);
            }
        }
    }
    let open_data = serve_open_data(stale).await.unwrap();
    let mut attached = endpoints.clone();
    attached.open_data_url = open_data.url().to_string();

    let path = h.copy("demo.toml");
    let pipeline = Pipeline::load(
        &path,
        &LoadOptions {
            sandbox: SandboxChoice::Attach(Box::new(attached)),
            ..LoadOptions::default()
        },
    )
    .await
    .expect("the pipeline loads");
    let result = engine::run(&pipeline, &RunOptions::default())
        .await
        .expect("the run runs");

    // The service refused the pupil, with its reason, and the run says so.
    assert_eq!(result.report.outcome, RunOutcome::Partial);
    assert_eq!(result.exit_code(), EXIT_PARTIAL);
    assert!(h.store().person(moved_id).is_none());
    let problem = result
        .report
        .problems
        .iter()
        .find(|p| p.skolverket_id == Some(moved_id))
        .unwrap_or_else(|| panic!("no problem for the pupil: {:#?}", result.report.problems));
    let message = problem
        .messages
        .iter()
        .find(|m| m.id == "9125")
        .unwrap_or_else(|| panic!("not the service's 9125: {problem:#?}"));
    assert!(
        message.message.contains(&outside.school_unit_code)
            && message.message.contains("finns inte i provtjänsten"),
        "{}",
        message.message
    );

    // Every record ends counted, and the service holds what was delivered.
    assert!(
        result.inconsistencies.is_empty(),
        "{:?}",
        result.inconsistencies
    );
    let counts = &result.report.counts;
    assert_eq!(counts.persons.error, 1, "{counts:#?}");
    for kind in KINDS {
        let c = counts.get(kind);
        assert_eq!(
            h.store().count(kind) as u64,
            c.created,
            "{kind}: the service holds what was created"
        );
        assert_eq!(
            c.created + c.error + c.held_back + c.rejected,
            c.in_scope,
            "{kind}: {c:#?}"
        );
    }
}

/// Runs the demo pipeline against a sandbox whose jobs settle as
/// `provisioning` says; returns the bulk jobs started and the full job
/// statuses read, after checking that everything in scope landed and that
/// no entity was created twice (none re-sent for being absent from a
/// status).
async fn demo_against(provisioning: ProvisioningOptions) -> (usize, usize) {
    let sandbox = Sandbox::start(SandboxConfig {
        students: support::STUDENTS,
        seed: support::SEED,
        job_settle_delay: Duration::from_millis(20),
        source: support::quick_source(),
        provisioning,
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts");
    let h = Harness {
        sandbox,
        dir: tempfile::tempdir().unwrap(),
    };
    let path = h.copy("demo.toml");
    let result = h.run(&path).await;
    support::assert_success(&result);
    for kind in KINDS {
        let c = result.report.counts.get(kind);
        assert!(c.in_scope > 0, "{kind}");
        assert_eq!(c.created, c.in_scope, "{kind}: {c:#?}");
        assert_eq!(h.store().count(kind) as u64, c.created, "{kind}");
        assert_eq!(h.store().created(kind).len() as u64, c.created, "{kind}");
    }
    let requests = h.store().requests();
    let jobs = requests
        .iter()
        .filter(|r| r.method != "GET" && r.path.contains("/bulk") && r.status == 202)
        .count();
    let full_reads = requests
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.contains("/bulk/jobs/") && !r.path.ends_with("/isCompleted")
        })
        .count();
    (jobs, full_reads)
}

/// Jobs whose status lists only the entities settled so far (the rest left
/// out, as the spec allows) are waited out: everything lands, nothing is
/// sent twice, and the run adds up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_job_statuses_are_waited_out() {
    let (jobs, full_reads) = demo_against(ProvisioningOptions {
        entity_interval: Duration::from_millis(4),
        unsettled: UnsettledListing::Absent,
        ..ProvisioningOptions::default()
    })
    .await;
    // Every job's outcome was read in full (the client may poll the cheap
    // `isCompleted` first; a full read before that would see a short list).
    assert!(
        jobs > 0 && full_reads >= jobs,
        "{jobs} jobs, {full_reads} reads"
    );
}

/// A service whose `isCompleted` says `true` before every entity is listed
/// (the sandbox's `completed_early`): the client reads short job statuses,
/// waits for the rest without sending anything again, and everything lands
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_reported_complete_too_early_is_waited_out_without_resending() {
    let (jobs, full_reads) = demo_against(ProvisioningOptions {
        entity_interval: Duration::from_millis(3),
        unsettled: UnsettledListing::Absent,
        completed_early: true,
        ..ProvisioningOptions::default()
    })
    .await;
    // Some statuses were read short and read again.
    assert!(full_reads > jobs, "{jobs} jobs, {full_reads} full reads");
}
