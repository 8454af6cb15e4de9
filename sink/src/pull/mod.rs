//! The `ss12000-pull` sink: Skolverket's pull method.
//!
//! Skolverket calls pull its main method: the huvudman serves an SS 12000
//! API, Skolverket's SS12000 client subscribes to it, is notified when data
//! changes and fetches what changed. This sink is the run's half of that:
//! it writes the plan — the same transformed, validated DNP profile the
//! push sink would send, with Skolverket's ids — into the state store as
//! the *served dataset* ([`ServedStore`]; the store keeps `meta.created` /
//! `meta.modified` and a tombstone per deletion), adds the school units the
//! data refers to as `Organisation`s, and then notifies every live
//! subscription ([`notify`]). `skolsync serve` serves the dataset.
//!
//! Every entity of the plan gets an outcome: `Success` once written (the
//! served dataset is what the sink "holds"), `Error` for all of them if
//! the store could not be written.
//!
//! - [`config`]: the `[sink]` section.
//! - [`notify`]: the webhooks to Skolverket's SS12000 client.

pub mod config;
pub mod notify;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};
use skolsync_model::plan::content_hash;
use skolsync_model::plan::{Desired, OutcomeStatus, Plan, SEND_ORDER, TypePlan};
use skolsync_model::served::{ServedUpsert, ServedWrite, ServedWritten};
use skolsync_model::ss12000::EntityKind;
use skolsync_model::{BuildContext, ObjectType, by_type};
use uuid::Uuid;

use self::config::PullConfig;
use self::notify::{Notifier, NotifyReport};
use crate::error::{ConfigErrors, SinkError};
use crate::settled::report_settled;
use crate::summary::{ApplySummary, CheckReport};
use crate::{OutcomeCallback, Sink};

/// A live subscription, as the notifier needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The subscription's id.
    pub id: Uuid,
    /// Where notifications go (Skolverket's `…/webhooks/{urlId}`).
    pub target: String,
    /// The types it asked to hear about (empty: all).
    pub resource_types: Vec<EntityKind>,
}

/// One try to deliver a notification, recorded by the store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationAttempt {
    /// The subscription notified.
    pub subscription: Uuid,
    /// Its target URL.
    pub target: String,
    /// The body sent.
    pub body: Value,
    /// 1 for the first try.
    pub attempt: u32,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether the target took it (2xx).
    pub delivered: bool,
    /// When the changes it tells of began to be written (RFC 3339): every
    /// entity they touched has `meta.modified` at or after it. If it is
    /// never taken, the next run re-stamps what changed since then.
    pub changes_since: String,
}

/// Where a pull sink keeps what it serves: the pipeline's state store,
/// seen from the sink. Errors are the store's messages.
#[async_trait]
pub trait ServedStore: Send + Sync + std::fmt::Debug {
    /// Applies one run's changes; the store keeps the `meta` stamps and
    /// the tombstones.
    async fn write(&self, write: &ServedWrite) -> Result<ServedWritten, String>;
    /// The ids of `kind` served now.
    async fn served_ids(&self, kind: EntityKind) -> Result<Vec<Uuid>, String>;
    /// The subscriptions that have not expired.
    async fn live_subscriptions(&self) -> Result<Vec<Subscriber>, String>;
    /// Records one notification attempt.
    async fn record_notification(&self, attempt: &NotificationAttempt) -> Result<(), String>;
    /// Changes a live subscription was never told of (its last
    /// notifications were not taken): re-stamped now — `meta.modified` and
    /// tombstones moved to now — so that the next notification, and the
    /// client's fetch from five minutes before it, cover them. Counts what
    /// was re-stamped (as `updated` and `deleted`); empty when nothing was
    /// missed.
    async fn restamp_missed(&self) -> Result<ServedWritten, String>;
}

/// The pull sink.
#[derive(Debug)]
pub struct PullSink {
    /// `None` only for a sink built to check its settings (`validate`
    /// before the pipeline has a state store): it can neither apply nor
    /// check.
    store: Option<Arc<dyn ServedStore>>,
    notifier: Option<Notifier>,
}

impl PullSink {
    /// Checks the settings (every problem at once); with `notify` on, reads
    /// the certificate and builds the notifier's clients.
    pub fn new(
        config: &PullConfig,
        ctx: &BuildContext,
        store: Option<Arc<dyn ServedStore>>,
    ) -> Result<Self, ConfigErrors> {
        let notifier = if config.notify {
            Some(Notifier::new(config, ctx)?)
        } else {
            None
        };
        Ok(PullSink { store, notifier })
    }

    /// The write a plan makes: its creates, updates and deletes, and the
    /// school units it refers to as `Organisation`s (those no longer
    /// referred to are removed).
    async fn served_write(store: &dyn ServedStore, plan: &Plan) -> Result<ServedWrite, String> {
        let mut write = ServedWrite::default();
        for kind in SEND_ORDER {
            by_type!(kind, &plan, |part| add_type(kind, part, &mut write))?;
        }
        let wanted: std::collections::HashSet<Uuid> =
            plan.school_units.iter().map(|u| u.id).collect();
        for unit in &plan.school_units {
            let body = json!({
                "id": unit.id,
                "displayName": unit.name,
                "schoolUnitCode": unit.code,
            });
            write.upserts.push(ServedUpsert {
                kind: EntityKind::Organisation,
                id: unit.id,
                hash: content_hash(&body),
                body,
            });
        }
        for id in store.served_ids(EntityKind::Organisation).await? {
            if !wanted.contains(&id) {
                write.deletes.push((EntityKind::Organisation, id));
            }
        }
        Ok(write)
    }
}

impl PullSink {
    /// The served dataset, or why there is none.
    fn store(&self) -> Result<&dyn ServedStore, SinkError> {
        self.store.as_deref().ok_or(SinkError::Unsupported {
            sink: "ss12000-pull",
            what: "running without the pipeline's state store (it holds the served dataset)",
        })
    }
}

/// Adds one type's creates, updates and deletes to `write`.
fn add_type<T: Serialize>(
    kind: ObjectType,
    part: &TypePlan<T>,
    write: &mut ServedWrite,
) -> Result<(), String> {
    let entity = EntityKind::of(kind);
    for desired in part.create.iter().chain(&part.update) {
        write.upserts.push(ServedUpsert {
            kind: entity,
            id: desired.id,
            body: served_body(desired)?,
            hash: desired.hash.clone(),
        });
    }
    write
        .deletes
        .extend(part.delete.iter().map(|id| (entity, *id)));
    Ok(())
}

/// An entity as served: the payload without the read-only fields the
/// store or the provtjänst own (`meta`, `provisioningStatus`).
fn served_body<T: Serialize>(desired: &Desired<T>) -> Result<Value, String> {
    let mut body = serde_json::to_value(&desired.payload)
        .map_err(|e| format!("{} could not be serialised: {e}", desired.id))?;
    if let Some(object) = body.as_object_mut() {
        object.remove("meta");
        object.remove("provisioningStatus");
    }
    Ok(body)
}

#[async_trait]
impl Sink for PullSink {
    fn kind(&self) -> &'static str {
        "ss12000-pull"
    }

    fn serves(&self) -> bool {
        true
    }

    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError> {
        let store = self.store()?;
        let started = Instant::now();
        // Every stamp this run sets is at or after this.
        let changes_since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let written = match Self::served_write(store, plan).await {
            Ok(write) => store.write(&write).await,
            Err(e) => Err(e),
        };
        let (status, detail) = match &written {
            Ok(_) => (OutcomeStatus::Success, None),
            Err(e) => (
                OutcomeStatus::Error,
                Some(format!("the served dataset could not be written: {e}")),
            ),
        };
        let (mut summary, stop) =
            report_settled(plan, |_, _, _| (status, detail.clone()), on_outcome);
        let written = written.map_err(|e| {
            SinkError::Aborted(format!("the served dataset could not be written: {e}"))
        })?;
        if let Some(stop) = stop {
            return Err(SinkError::Aborted(stop.to_string()));
        }
        summary.notifications = match &self.notifier {
            Some(notifier) => {
                let mut written = written;
                match store.restamp_missed().await {
                    Ok(missed) => {
                        if missed != ServedWritten::default() {
                            tracing::warn!(
                                "a notification was missed before: what it told of is stamped anew and notified with this run's changes"
                            );
                        }
                        written.merge(&missed);
                    }
                    Err(e) => tracing::error!("missed notifications could not be checked: {e}"),
                }
                notifier.notify(store, &written, &changes_since).await
            }
            None => NotifyReport::default(),
        };
        summary.set_elapsed(started.elapsed());
        Ok(summary)
    }

    async fn check(&self) -> Result<CheckReport, SinkError> {
        let mut checks = Vec::new();
        let subscribers = self
            .store()?
            .live_subscriptions()
            .await
            .map_err(SinkError::Aborted)?;
        checks.push(format!(
            "the state store is readable ({} live subscription(s))",
            subscribers.len()
        ));
        let target = match &self.notifier {
            Some(notifier) => {
                notifier.check().await?;
                checks.push(format!(
                    "got an access token for notifying {}",
                    notifier.client_url()
                ));
                notifier.client_url().to_string()
            }
            None => "notifications off".to_string(),
        };
        Ok(CheckReport {
            kind: self.kind(),
            target,
            checks,
        })
    }
}
