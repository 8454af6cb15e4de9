//! Reconcile: rebuild the state from what the provtjänst holds.
//!
//! For a lost or damaged state file, or after someone changed data by hand
//! (Skolverket's own file upload), the sink's read endpoints list every
//! person, duty, group and activity the service holds for this client. Each
//! is recorded with the content hash of what the service holds, so the next
//! plan sends exactly what differs from the source; entities the state
//! knows but the service no longer holds are forgotten (the next plan
//! creates them again).
//!
//! Who created an entity cannot be read back. Entities the state already
//! knew keep that mark; new ones count as not created by this pipeline and
//! are never deleted by it — unless `adopt` says the service holds only
//! this pipeline's data.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use skolsync_model::plan::{SEND_ORDER, content_hash};
use skolsync_model::provtjanst::Payload;
use skolsync_sink::{Resources, SinkConfig, SinkError, SkolverketSink};
use uuid::Uuid;

use super::progress::Progress;
use super::{EngineError, open_store};
use crate::pipeline::Pipeline;
use crate::state::RunOutcome;

/// What reconcile did to one type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileCounts {
    /// Entities the service holds.
    pub held: usize,
    /// Of those, entities the state did not know.
    pub new: usize,
    /// Of those, entities whose content differs from what the state recorded.
    pub changed: usize,
    /// Entities the state knew that the service no longer holds (forgotten).
    pub forgotten: usize,
}

/// What reconcile did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReconcileResult {
    /// The run id in the history.
    pub run_id: String,
    /// Per type.
    pub counts: BTreeMap<String, ReconcileCounts>,
}

fn hashes<T: Payload>(items: Vec<T>) -> Vec<(Uuid, String)> {
    items
        .into_iter()
        .map(|mut item| {
            item.clear_read_only();
            (item.id(), content_hash(&item))
        })
        .collect()
}

/// Rebuilds the state of `pipeline`'s sink from the sink's read endpoints.
/// With `adopt`, every entity the service holds counts as created by this
/// pipeline (so it may be deleted when it leaves the source).
pub async fn reconcile(
    pipeline: &Pipeline,
    adopt: bool,
    progress: &Progress,
) -> Result<ReconcileResult, EngineError> {
    // One run per provtjänst client on this machine, whatever the state
    // file (held until this function returns; see `crate::lock`).
    let _sink_lock = crate::lock::SinkLock::acquire(pipeline)?;
    let store = open_store(pipeline).await?;
    let sink_identity = pipeline.sink_identity();
    let guard = store.begin_run(pipeline.name(), &sink_identity).await?;
    let run_id = guard.run_id().to_string();
    // Only the Skolverket sink can say what the service holds; any other
    // fails its first read below, as a run that cannot finish.
    let sink = match pipeline.sink() {
        SinkConfig::Skolverket(config) => {
            Some(SkolverketSink::new(config, &pipeline.build_context())?)
        }
        _ => None,
    };
    let previous = store.previous_state(&sink_identity).await?;

    let mut counts = BTreeMap::new();
    for kind in SEND_ORDER {
        let stage = progress.stage(&kind.as_str().to_lowercase());
        stage.message("reading what the service holds");
        let read = match &sink {
            Some(sink) => sink.read_all(kind).await,
            None => Err(SinkError::Unsupported {
                sink: pipeline.sink().kind(),
                what: "reading back what the service holds",
            }),
        };
        let held = match read {
            Ok(Resources::Persons(v)) => hashes(v),
            Ok(Resources::Duties(v)) => hashes(v),
            Ok(Resources::Groups(v)) => hashes(v),
            Ok(Resources::Activities(v)) => hashes(v),
            Err(e) => {
                stage.failed("failed");
                let reason = format!("reading {kind} from the sink: {e}");
                let _ = guard
                    .finish(RunOutcome::Aborted, Some(&reason), &serde_json::json!({}))
                    .await;
                store.close().await;
                return Err(e.into());
            }
        };
        let known = previous.hashes.get(&kind);
        let mut c = ReconcileCounts {
            held: held.len(),
            ..ReconcileCounts::default()
        };
        let mut seen = BTreeSet::new();
        for (id, hash) in &held {
            seen.insert(*id);
            match known.and_then(|k| k.get(id)) {
                None => c.new += 1,
                Some(h) if h != hash => c.changed += 1,
                Some(_) => {}
            }
            store
                .record_reconciled(&run_id, &sink_identity, kind, *id, hash, adopt)
                .await?;
        }
        if let Some(known) = known {
            for id in known.keys().filter(|id| !seen.contains(id)) {
                store.forget_entity(&sink_identity, kind, *id).await?;
                c.forgotten += 1;
            }
        }
        stage.done(format!(
            "{} held, {} new to the state, {} changed, {} forgotten",
            c.held, c.new, c.changed, c.forgotten
        ));
        counts.insert(kind.as_str().to_lowercase(), c);
    }
    let json = serde_json::to_value(&counts).unwrap_or_default();
    guard.finish(RunOutcome::Success, None, &json).await?;
    store.close().await;
    Ok(ReconcileResult { run_id, counts })
}
