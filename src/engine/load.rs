//! The load: sending the plan to the sink (`load`) and recording every
//! outcome as it arrives — in the state store, the report and the progress
//! bars — then the baselines the next run is judged by.
//!
//! Apart from the run lifecycle because this is the one part that changes
//! the service: the loop that must never send what it cannot record.
//!
//! # Resuming
//!
//! Every outcome is written to the state store as it arrives (in batches of
//! at most a second, see [`crate::state::OutcomeWriter`]). The next plan is
//! made from what the store holds, so a run killed at any moment leaves a
//! store from which the next run sends exactly what was not confirmed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::pin::pin;
use std::sync::{Arc, OnceLock};

use skolsync_connectors::ReadSummary;
use skolsync_model::ObjectType;
use skolsync_model::hash::{activity_without, content_hash, group_without};
use skolsync_model::plan::{Action, Outcome, Plan};
use skolsync_model::provtjanst::{Activity, Group};
use skolsync_sink::{Sink, SinkError, SinkStop};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::EngineError;
use super::interrupt::Interrupt;
use super::kept::KeptStale;
use super::progress::Progress;
use super::run::Ended;
use crate::report::ReportBuilder;
use crate::state::StateStore;

/// Sends the plan, storing and reporting every outcome as it arrives.
/// Returns why it stopped early, if it did.
#[allow(clippy::too_many_arguments)]
pub(super) async fn load(
    plan: &Plan,
    sink: &dyn Sink,
    store: &StateStore,
    sink_identity: &str,
    run_id: &str,
    builder: &mut ReportBuilder,
    progress: &Progress,
    interrupt: &Interrupt,
    confirmed: &mut HashSet<(ObjectType, Uuid)>,
) -> Result<Option<Ended>, EngineError> {
    // The planned groups and activities by id, indexed when one is first
    // sent without some references.
    let mut reduced: Option<Reduced<'_>> = None;
    // Persons the state said the service holds, but a group's outcome says
    // it does not: forgotten once the outcomes are stored.
    let mut not_held = NotHeld::default();

    let bars = progress.load(plan);
    // What awaits a person's confirmation is recorded apart until then.
    let outcome_identity = if sink.awaits_confirmation() {
        crate::state::unconfirmed_layer(sink_identity)
    } else {
        sink_identity.to_string()
    };
    let mut writer = store.outcome_writer(run_id, &outcome_identity).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    // Set when an outcome could not be stored: from then on the callback
    // asks the sink to stop, and it sends nothing more.
    let store_failed: Arc<OnceLock<String>> = Arc::default();
    let apply = {
        let store_failed = Arc::clone(&store_failed);
        async move {
            let send = move |o: Outcome| {
                let taken = tx.send(o);
                if let Some(reason) = store_failed.get() {
                    return Err(SinkStop(reason.clone()));
                }
                taken.map_err(|_| SinkStop("the engine stopped taking outcomes".into()))
            };
            sink.apply(plan, &send).await
        }
    };
    let mut apply = pin!(apply);
    let mut applied: Option<Result<skolsync_sink::ApplySummary, SinkError>> = None;
    let mut stopped: Option<Ended> = None;
    loop {
        tokio::select! {
            result = &mut apply, if applied.is_none() => {
                applied = Some(result);
            }
            outcome = rx.recv() => {
                let Some(mut outcome) = outcome else { break };
                decide_hash(&mut outcome, plan, &mut reduced);
                not_held.note(&outcome, plan);
                // The report's index of the plan knows where it came from.
                let (source_id, school_unit) = builder.origin(outcome.kind, outcome.id);
                bars.inc(outcome.kind, !outcome.status.is_accepted());
                builder.add_outcome(&outcome);
                if stopped.is_some() {
                    // The store failed before: the rest is reported only,
                    // neither stored nor counted as confirmed.
                    continue;
                }
                if outcome.status.is_accepted() && outcome.action != Action::Delete {
                    confirmed.insert((outcome.kind, outcome.id));
                }
                if let Err(e) = writer.record(outcome, source_id, school_unit).await {
                    // Sending more without recording it would make the next
                    // run send it again: the callback now asks the sink to
                    // stop, and its remaining outcomes are still received.
                    let _ = store_failed.set(format!("the state store failed: {e}"));
                    stopped = Some(Ended::Stopped(format!(
                        "the state store failed, so the run stopped: {e}"
                    )));
                }
            }
            signal = interrupt.wait(), if !matches!(stopped, Some(Ended::Interrupted(_))) => {
                // Dropping `apply` below stops the sink: nothing more is sent.
                stopped = Some(Ended::Interrupted(format!(
                    "interrupted ({signal}) while sending; what was confirmed is recorded, run again to finish"
                )));
                break;
            }
        }
    }
    bars.finish();
    // Whatever happened, what was received is committed.
    if let Err(e) = writer.finish().await {
        stopped.get_or_insert_with(|| Ended::Stopped(format!("the state store failed: {e}")));
    }
    if !matches!(&stopped, Some(Ended::Stopped(_)))
        && let Err(e) = not_held.forget(store, sink_identity).await
    {
        stopped = Some(Ended::Stopped(format!("the state store failed: {e}")));
    }
    if stopped.is_some() {
        return Ok(stopped);
    }
    match applied {
        Some(Ok(summary)) => {
            if sink.serves() {
                let feedback = super::pull::feedback_since_last_run(store, sink_identity).await?;
                builder.set_pull(crate::report::PullReport {
                    notifications: summary.notifications.clone(),
                    feedback,
                });
            }
            super::upload::settle(store, sink_identity, &summary, builder).await?;
            let c = summary.calls;
            tracing::info!(
                bulk_calls = c.bulk_calls,
                status_calls = c.status_calls + c.is_completed_calls,
                retries = c.retries,
                rate_limited = c.rate_limited,
                elapsed_ms = summary.elapsed_ms,
                "sink done"
            );
            Ok(None)
        }
        Some(Err(e)) => Ok(Some(Ended::Stopped(format!("the sink stopped: {e}")))),
        None => Ok(Some(Ended::Stopped(
            "the sink ended without a result".into(),
        ))),
    }
}

/// Decides which hash an outcome confirms. The sink reports the desired
/// entity's hash; a group it sent without some members (their Person was
/// not accepted, or the service said it does not hold them), or an
/// activity it sent without some groups or teachers' duties (not
/// accepted), confirms the hash of what the service holds — the desired
/// entity without those references — so the next run sees it differs and
/// sends it whole again. The hash is the model's one function; the sink
/// computes none.
fn decide_hash<'p>(outcome: &mut Outcome, plan: &'p Plan, index: &mut Option<Reduced<'p>>) {
    if outcome.left_out.is_empty()
        || !matches!(outcome.kind, ObjectType::Group | ObjectType::Activity)
    {
        return;
    }
    let index = index.get_or_insert_with(|| Reduced::index(plan));
    let sent = match outcome.kind {
        ObjectType::Group => index
            .groups
            .get(&outcome.id)
            .map(|g| content_hash(&group_without(g, &outcome.left_out))),
        _ => index
            .activities
            .get(&outcome.id)
            .map(|a| content_hash(&activity_without(a, &outcome.left_out))),
    };
    // Not an entity of this plan: confirm nothing it could match.
    outcome.hash = sent;
}

/// The planned groups and activities by id, indexed when one is first sent
/// without some references.
struct Reduced<'p> {
    groups: HashMap<Uuid, &'p Group>,
    activities: HashMap<Uuid, &'p Activity>,
}

impl<'p> Reduced<'p> {
    fn index(plan: &'p Plan) -> Self {
        let (g, a) = (&plan.groups, &plan.activities);
        Reduced {
            groups: g
                .create
                .iter()
                .chain(&g.update)
                .map(|d| (d.id, &d.payload))
                .collect(),
            activities: a
                .create
                .iter()
                .chain(&a.update)
                .map(|d| (d.id, &d.payload))
                .collect(),
        }
    }
}

/// Members a group's outcome names as left out whose Person this plan
/// left alone as unchanged: the state said the service holds them, but the
/// service (CHANGELOG v1.3.2: the group is taken "även om vissa elever i
/// gruppen inte finns i provtjänsten", with a warning) says it does not —
/// Skolverket removes a person whose personnummer is not in the population
/// register after 10 days (CHANGELOG v1.3). They are forgotten, so the
/// next plan creates them again, and the group (confirmed without them)
/// is then sent whole. A member left out because its Person failed in this
/// run was in the plan's creates or updates, and is not touched.
#[derive(Default)]
struct NotHeld<'p> {
    /// The plan's unchanged persons, indexed when first needed.
    unchanged: Option<HashSet<&'p Uuid>>,
    found: BTreeSet<Uuid>,
}

impl<'p> NotHeld<'p> {
    fn note(&mut self, outcome: &Outcome, plan: &'p Plan) {
        if outcome.kind != ObjectType::Group
            || outcome.left_out.is_empty()
            || !outcome.status.is_accepted()
        {
            return;
        }
        let unchanged = self
            .unchanged
            .get_or_insert_with(|| plan.persons.unchanged.iter().collect());
        for member in &outcome.left_out {
            if unchanged.contains(member) {
                self.found.insert(*member);
            }
        }
    }

    async fn forget(&self, store: &StateStore, sink_identity: &str) -> Result<(), EngineError> {
        for id in &self.found {
            tracing::warn!(person = %id, "the service does not hold a person the state said it holds (a group was taken without them); the next run sends the person again");
            store
                .forget_entity(sink_identity, ObjectType::Person, *id)
                .await?;
        }
        Ok(())
    }
}

/// What counts as confirmed before anything is sent: the entities the plan
/// found already up to date.
pub(super) fn confirmed_unchanged(plan: &Plan) -> HashSet<(ObjectType, Uuid)> {
    let mut confirmed: HashSet<(ObjectType, Uuid)> = HashSet::new();
    for (kind, ids) in [
        (ObjectType::Person, &plan.persons.unchanged),
        (ObjectType::Duty, &plan.duties.unchanged),
        (ObjectType::Group, &plan.groups.unchanged),
        (ObjectType::Activity, &plan.activities.unchanged),
    ] {
        confirmed.extend(ids.iter().map(|id| (kind, *id)));
    }
    confirmed
}

/// The baselines the next run is judged by (the read's shape, each group's
/// member count): only from a run that went to the end.
pub(super) async fn record_baselines(
    store: &StateStore,
    sink_identity: &str,
    source: &str,
    read: &ReadSummary,
    kept_stale: &[KeptStale],
    desired_members: &HashMap<Uuid, u64>,
    confirmed: &HashSet<(ObjectType, Uuid)>,
) -> Result<(), EngineError> {
    store.set_read_shape(source, &read.inputs).await?;
    let before = store.member_counts(sink_identity).await?;
    let kept: HashSet<Uuid> = kept_stale
        .iter()
        .filter(|k| k.entity.kind == ObjectType::Group)
        .map(|k| k.entity.id)
        .collect();
    let mut counts = BTreeMap::new();
    for (id, members) in desired_members {
        if confirmed.contains(&(ObjectType::Group, *id)) {
            counts.insert(*id, *members);
        } else if let Some(n) = before.get(id) {
            counts.insert(*id, *n);
        }
    }
    for id in kept {
        if let Some(n) = before.get(&id) {
            counts.insert(id, *n);
        }
    }
    store.set_member_counts(sink_identity, &counts).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use skolsync_model::codes::{GroupType, SchoolType};
    use skolsync_model::plan::{Desired, OutcomeStatus};
    use skolsync_model::provtjanst::{GroupMembership, ObjectReference};

    use super::*;

    fn outcome(kind: ObjectType, id: Uuid, hash: &str, left_out: Vec<Uuid>) -> Outcome {
        Outcome {
            kind,
            id,
            action: Action::Create,
            status: OutcomeStatus::Warning,
            hash: Some(hash.to_string()),
            left_out,
            messages: Vec::new(),
            detail: None,
            blocked_by: None,
            job_id: None,
            attempts: 1,
        }
    }

    #[test]
    fn a_group_sent_without_members_confirms_the_hash_of_what_was_sent() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let group = Group {
            id: Uuid::from_u128(9),
            meta: None,
            display_name: "7A".into(),
            group_type: GroupType::Klass,
            school_type: SchoolType::Gr,
            organisation: ObjectReference::new(Uuid::from_u128(5)),
            provisioning_status: None,
            group_memberships: [a, b]
                .map(|id| GroupMembership {
                    person: ObjectReference::new(id),
                })
                .to_vec(),
        };
        let desired_hash = content_hash(&group);
        let mut plan = Plan::default();
        plan.groups.create.push(Desired {
            id: group.id,
            source_id: "7A".into(),
            hash: desired_hash.clone(),
            school_unit: None,
            payload: group.clone(),
        });
        let mut groups = None;

        // All members sent: the desired hash stands.
        let mut full = outcome(ObjectType::Group, group.id, &desired_hash, Vec::new());
        decide_hash(&mut full, &plan, &mut groups);
        assert_eq!(full.hash.as_deref(), Some(desired_hash.as_str()));

        // Sent without `b`: the hash of that, so the next run sends it again.
        let mut partial = outcome(ObjectType::Group, group.id, &desired_hash, vec![b]);
        decide_hash(&mut partial, &plan, &mut groups);
        let sent = content_hash(&group_without(&group, &[b]));
        assert_eq!(partial.hash.as_deref(), Some(sent.as_str()));
        assert_ne!(sent, desired_hash);

        // A group the plan does not hold confirms nothing.
        let mut unknown = outcome(
            ObjectType::Group,
            Uuid::from_u128(7),
            &desired_hash,
            vec![b],
        );
        decide_hash(&mut unknown, &plan, &mut groups);
        assert_eq!(unknown.hash, None);
    }

    #[test]
    fn an_activity_sent_without_a_teacher_confirms_the_hash_of_what_was_sent() {
        let (group, duty, other) = (
            Uuid::from_u128(20),
            Uuid::from_u128(10),
            Uuid::from_u128(11),
        );
        let activity: Activity = serde_json::from_value(serde_json::json!({
            "id": Uuid::from_u128(30), "displayName": "Ma 7A", "activityType": "Undervisning",
            "groups": [{"id": group}], "teachers": [{"duty": {"id": duty}}, {"duty": {"id": other}}],
            "organisation": {"id": Uuid::from_u128(5)}, "parentActivity": {"id": Uuid::from_u128(6)},
        }))
        .unwrap();
        let desired_hash = content_hash(&activity);
        let mut plan = Plan::default();
        plan.activities.update.push(Desired {
            id: activity.id,
            source_id: "ma7a".into(),
            hash: desired_hash.clone(),
            school_unit: None,
            payload: activity.clone(),
        });
        let mut index = None;
        let mut reduced = outcome(
            ObjectType::Activity,
            activity.id,
            &desired_hash,
            vec![other],
        );
        decide_hash(&mut reduced, &plan, &mut index);
        let sent = content_hash(&activity_without(&activity, &[other]));
        assert_eq!(reduced.hash.as_deref(), Some(sent.as_str()));
        assert_ne!(sent, desired_hash);
    }
}
