//! The plan summary: a plan in numbers per type ([`PlanSummary`]), with
//! `--details` the entities behind the numbers, and `skolsync plan`
//! ([`plan`]), which prepares and summarises without sending.
//!
//! Apart from preparation because it is presentation: what `skolsync plan
//! --json` prints, what a stopped run shows, and what the run result holds.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use skolsync_connectors::ReadAnomaly;
use skolsync_model::civic_no::mask;
use skolsync_model::plan::{Desired, SEND_ORDER, TypePlan};
use skolsync_model::reject::Severity;
use skolsync_model::{PerType, by_type};
use skolsync_transform::CrosswalkReport;
use uuid::Uuid;

use super::EngineError;
use super::guards::Violation;
use super::prepare::{PrepareOptions, Prepared, checked_guards, open_store, plan_for, transform};
use super::progress::Progress;
use crate::pipeline::Pipeline;
use crate::state::StateStore;

/// Counts of one type in a plan, as `skolsync plan --json` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeSummary {
    /// New entities.
    pub create: usize,
    /// Changed entities.
    pub update: usize,
    /// Entities to remove (only ones this pipeline created).
    pub delete: usize,
    /// Entities already up to date.
    pub unchanged: usize,
    /// Source records left out (extract and transform); a record with
    /// several problems counts once.
    pub rejected: usize,
    /// Source records outside the pipeline's scope (not errors).
    pub out_of_scope: usize,
    /// Out-of-scope records per reason (they add up to `out_of_scope`).
    pub out_of_scope_reasons: BTreeMap<String, usize>,
    /// Entities the service holds whose source record was rejected: left
    /// as last sent, neither updated nor deleted.
    pub kept_stale: usize,
    /// Which, with `--details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<TypeDetails>,
}

/// The entities behind a [`TypeSummary`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TypeDetails {
    /// Creates.
    pub create: Vec<EntityRef>,
    /// Updates.
    pub update: Vec<EntityRef>,
    /// Deletes.
    pub delete: Vec<EntityRef>,
    /// Rejected source records.
    pub rejected: Vec<RejectRef>,
}

/// One entity of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityRef {
    /// Skolverket id.
    pub id: Uuid,
    /// Source id, when known.
    pub source_id: Option<String>,
    /// School unit code, when known.
    pub school_unit: Option<String>,
    /// Masked personnummer (persons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub civic_no: Option<String>,
}

/// One problem of a rejected record (a record with three problems has
/// three).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectRef {
    /// Source id.
    pub source_id: Option<String>,
    /// Who the record is: a person's name and class, a group's name
    /// (never for a person with a security marking).
    pub name: Option<String>,
    /// Where it came from (`elever.csv:17`, an endpoint).
    pub location: Option<String>,
    /// A person's personnummer, masked.
    pub civic_no: Option<String>,
    /// School unit code.
    pub school_unit: Option<String>,
    /// The school unit's name.
    pub school_unit_name: Option<String>,
    /// The field at fault.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

/// A plan in numbers, per type (keys `person`, `duty`, `group`, `activity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct PlanSummary(PerType<TypeSummary>);

impl std::ops::Deref for PlanSummary {
    type Target = PerType<TypeSummary>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for PlanSummary {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl PlanSummary {
    /// Creates + updates + deletes over all types.
    pub fn changes(&self) -> usize {
        self.iter()
            .map(|(_, t)| t.create + t.update + t.delete)
            .sum()
    }

    /// Whether nothing could be planned because every source record in
    /// scope was rejected (not "the service already matches the source").
    pub fn all_rejected(&self) -> bool {
        self.iter()
            .all(|(_, t)| t.create + t.update + t.delete + t.unchanged == 0)
            && self.iter().any(|(_, t)| t.rejected > 0)
    }

    /// Why a plan holds no change, honestly.
    pub fn no_changes_line(&self) -> String {
        let rejected: usize = self.iter().map(|(_, t)| t.rejected).sum();
        let out_of_scope: usize = self.iter().map(|(_, t)| t.out_of_scope).sum();
        let unchanged: usize = self.iter().map(|(_, t)| t.unchanged).sum();
        if self.all_rejected() {
            format!(
                "0 changes: nothing could be planned, because every source record in scope was \
                 rejected ({rejected} rejected; see them with --details)."
            )
        } else if unchanged == 0 && out_of_scope > 0 {
            format!(
                "0 changes: no source record is in scope ({out_of_scope} out of scope; see the reasons with --details)."
            )
        } else {
            "0 changes: the service already matches the source.".to_string()
        }
    }

    /// A table for people.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<10} {:>8} {:>8} {:>8} {:>10} {:>9} {:>11} {:>13}\n",
            "type",
            "create",
            "update",
            "delete",
            "unchanged",
            "rejected",
            "kept stale",
            "out of scope"
        );
        for (kind, t) in self.iter() {
            out.push_str(&format!(
                "{:<10} {:>8} {:>8} {:>8} {:>10} {:>9} {:>11} {:>13}\n",
                kind.as_str().to_lowercase(),
                t.create,
                t.update,
                t.delete,
                t.unchanged,
                t.rejected,
                t.kept_stale,
                t.out_of_scope
            ));
        }
        out
    }
}

impl Prepared {
    /// The plan in numbers (with `details`, which entities).
    pub async fn summary(
        &self,
        store: &StateStore,
        sink_identity: &str,
        details: bool,
    ) -> Result<PlanSummary, EngineError> {
        let mut summary = PlanSummary::default();
        fill(&mut summary.persons, &self.plan.persons, details, |p| {
            Some(mask(&p.civic_no.value))
        });
        fill(&mut summary.duties, &self.plan.duties, details, |_| None);
        fill(&mut summary.groups, &self.plan.groups, details, |_| None);
        fill(
            &mut summary.activities,
            &self.plan.activities,
            details,
            |_| None,
        );
        for (kind, counts) in self.counts.iter() {
            let t = summary.get_mut(kind);
            t.out_of_scope = counts.out_of_scope;
            t.out_of_scope_reasons = counts.out_of_scope_reasons.clone();
        }
        // Records, not rows: a person with three bad fields is one
        // rejected person; `--details` lists all three rows.
        let mut counted = HashSet::new();
        for reject in &self.rejects {
            if reject.severity != Severity::Rejected {
                continue;
            }
            let Some(kind) = reject.entity.object_type() else {
                continue;
            };
            let t = summary.get_mut(kind);
            if reject.record_key().is_none_or(|key| counted.insert(key)) {
                t.rejected += 1;
            }
            if let Some(d) = &mut t.details {
                let scrub = crate::report::mask::scrub;
                d.rejected.push(RejectRef {
                    source_id: reject.source_id.as_deref().map(scrub),
                    name: reject.subject.as_deref().map(scrub),
                    location: reject.location.as_deref().map(scrub),
                    civic_no: reject.civic_no.as_deref().map(mask),
                    school_unit: reject.school_unit.clone(),
                    school_unit_name: reject.school_unit_name.as_deref().map(scrub),
                    field: reject.field.clone(),
                    reason: scrub(&reject.reason),
                });
            }
        }
        if details {
            for kind in SEND_ORDER {
                let ids = by_type!(kind, &self.plan, |p| &p.delete);
                let mut refs = Vec::with_capacity(ids.len());
                for id in ids {
                    let known = store.entity_status(sink_identity, *id).await?;
                    refs.push(EntityRef {
                        id: *id,
                        source_id: known.as_ref().and_then(|k| k.source_id.clone()),
                        school_unit: known.and_then(|k| k.school_unit),
                        civic_no: None,
                    });
                }
                if let Some(d) = &mut summary.get_mut(kind).details {
                    d.delete = refs;
                }
            }
        }
        Ok(summary)
    }
}

fn fill<T>(
    t: &mut TypeSummary,
    plan: &TypePlan<T>,
    details: bool,
    civic: impl Fn(&T) -> Option<String>,
) {
    t.create = plan.create.len();
    t.update = plan.update.len();
    t.delete = plan.delete.len();
    t.unchanged = plan.unchanged.len();
    t.kept_stale = plan.kept_stale.len();
    if details {
        let refs = |list: &[Desired<T>]| -> Vec<EntityRef> {
            list.iter()
                .map(|d| EntityRef {
                    id: d.id,
                    source_id: Some(d.source_id.clone()),
                    school_unit: d.school_unit.clone(),
                    civic_no: civic(&d.payload),
                })
                .collect()
        };
        t.details = Some(TypeDetails {
            create: refs(&plan.create),
            update: refs(&plan.update),
            delete: Vec::new(),
            rejected: Vec::new(),
        });
    }
}

/// What `skolsync plan` found.
#[derive(Debug)]
pub struct PlanResult {
    /// The sink planned for, when the pipeline file lists several
    /// (`sink[2] (ss12000-pull): <where>`).
    pub sink: Option<String>,
    /// The plan in numbers.
    pub summary: PlanSummary,
    /// The limits the plan exceeds (a run would stop).
    pub violations: Vec<Violation>,
    /// What makes the read look broken (a run would stop).
    pub anomalies: Vec<ReadAnomaly>,
    /// Ids kept through the crosswalk.
    pub crosswalk: CrosswalkReport,
    /// The plans of the pipeline's other sinks (from the same read).
    pub other_sinks: Vec<PlanResult>,
}

impl PlanResult {
    /// This plan, then [`other_sinks`](Self::other_sinks).
    pub fn every_sink(&self) -> impl Iterator<Item = &PlanResult> {
        std::iter::once(self).chain(&self.other_sinks)
    }
}

/// Extract, transform and diff — the source read once, planned for each
/// sink; changes nothing.
pub async fn plan(
    pipeline: &Pipeline,
    details: bool,
    progress: &Progress,
) -> Result<PlanResult, EngineError> {
    let store = open_store(pipeline).await?;
    let views = pipeline.views();
    // Every sink built before the source is read: a mistake in any is
    // reported first.
    let mut sinks = Vec::with_capacity(views.len());
    for view in &views {
        let setup = super::SinkSetup {
            store: Some(&store),
            ..Default::default()
        };
        sinks.push(super::build_sink(view, setup).await?);
    }
    // A plan records nothing: no crosswalk keys, no cached copy.
    let options = PrepareOptions {
        record: false,
        full_read: false,
    };
    let mut shared = Some(transform(pipeline, &store, progress, options).await?);
    let count = views.len();
    let mut results = Vec::with_capacity(count);
    for (i, (view, sink)) in views.iter().zip(sinks).enumerate() {
        let transformed = if i + 1 == count {
            shared.take()
        } else {
            shared.clone()
        }
        .ok_or_else(|| EngineError::Internal("the shared read went missing".into()))?;
        let prepared = plan_for(view, &store, progress, transformed, sink, false).await?;
        let summary = prepared
            .summary(&store, &view.sink_identity(), details)
            .await?;
        let violations = checked_guards(view, &store, &prepared, None).await?;
        results.push(PlanResult {
            sink: view
                .has_several_sinks()
                .then(|| format!("{}: {}", view.sink_label(), view.sink_identity())),
            summary,
            violations,
            anomalies: prepared.anomalies,
            crosswalk: prepared.crosswalk,
            other_sinks: Vec::new(),
        });
    }
    store.close().await;
    super::run::first_with_others(results, |first, others| first.other_sinks = others)
}
