//! Outcomes of a sink that settles a whole plan at once: the file sinks,
//! the pull method's served dataset and the upload workbook deliver
//! everything in one write, so every entity's outcome is decided by what
//! became of that write (and of the entity in it), not by a service's
//! answer per entity.

use skolsync_model::ObjectType;
use skolsync_model::by_type;
use skolsync_model::plan::{Action, Desired, Outcome, OutcomeStatus, Plan, SEND_ORDER, TypePlan};
use uuid::Uuid;

use crate::summary::ApplySummary;
use crate::{OutcomeCallback, SinkStop};

/// How one entity ended: its status and the sink's message.
pub(crate) type Verdict = (OutcomeStatus, Option<String>);

/// Reports one outcome per create, update and delete of `plan`, in send
/// order, each as `verdict` decides, counting them into a summary. Every
/// entity is reported even when `on_outcome` asks to stop (everything is
/// delivered already); the first such request is returned with the summary.
pub(crate) fn report_settled(
    plan: &Plan,
    verdict: impl Fn(ObjectType, Uuid, Action) -> Verdict,
    on_outcome: OutcomeCallback<'_>,
) -> (ApplySummary, Option<SinkStop>) {
    let mut summary = ApplySummary::default();
    let mut stop = None;
    let mut emit = |kind: ObjectType, id: Uuid, action: Action, hash: Option<String>| {
        let (status, detail) = verdict(kind, id, action);
        let outcome = Outcome {
            kind,
            id,
            action,
            status,
            hash,
            left_out: Vec::new(),
            messages: Vec::new(),
            detail,
            blocked_by: None,
            job_id: None,
            attempts: 1,
        };
        summary.count(&outcome);
        if let Err(e) = on_outcome(outcome) {
            stop.get_or_insert(e);
        }
    };
    for kind in SEND_ORDER {
        by_type!(kind, &plan, |part| each(kind, part, &mut emit));
    }
    (summary, stop)
}

/// Calls `emit` for every create, update (with its hash) and delete.
fn each<T>(
    kind: ObjectType,
    part: &TypePlan<T>,
    emit: &mut impl FnMut(ObjectType, Uuid, Action, Option<String>),
) {
    let desired = |d: &Desired<T>| (d.id, Some(d.hash.clone()));
    for (id, hash) in part.create.iter().map(desired) {
        emit(kind, id, Action::Create, hash);
    }
    for (id, hash) in part.update.iter().map(desired) {
        emit(kind, id, Action::Update, hash);
    }
    for id in &part.delete {
        emit(kind, *id, Action::Delete, None);
    }
}
