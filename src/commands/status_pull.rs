//! `skolsync status` for a pipeline whose sink is `ss12000-pull`: what is
//! served, who subscribes, how the last notifications went, and what
//! Skolverket's SS12000 client reported back — each LogEntry against the
//! entity and the source record it concerns, which is what to fix.

use std::fmt::Write;

use serde::Serialize;
use skolsync::engine::pull::feedback;
use skolsync::report::FeedbackLine;
use skolsync::state::StateStore;
use skolsync::state::served::{
    ReceivedStatistics, RecordedNotification, SERVED_KINDS, Subscription,
};
use skolsync::terminal::{escape, or_dash, scrubbed};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

/// LogEntries the overview lists.
const FEEDBACK_SHOWN: usize = 200;
/// Notification attempts and statistics the overview lists.
const RECENT: usize = 10;

/// The overview of a pull pipeline (also its `--json` form).
#[derive(Debug, Serialize)]
pub struct PullStatus {
    /// Entities served, per type.
    pub served: Vec<(EntityKind, u64)>,
    /// Live subscriptions (Skolverket's client, once registered).
    pub subscriptions: Vec<SubscriptionLine>,
    /// The latest notification attempts, newest first.
    pub notifications: Vec<NotificationLine>,
    /// The latest StatisticsEntries, newest first.
    pub statistics: Vec<StatisticsLine>,
    /// Skolverket's LogEntries, newest first, joined to entities.
    pub feedback: Vec<FeedbackLine>,
}

/// A live subscription.
#[derive(Debug, Serialize)]
pub struct SubscriptionLine {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Where notifications go.
    pub target: String,
    /// When it lapses unless renewed.
    pub expires: String,
}

/// One notification attempt.
#[derive(Debug, Serialize)]
pub struct NotificationLine {
    /// When.
    pub at: String,
    /// To which subscription's target.
    pub target: String,
    /// Try number.
    pub attempt: u32,
    /// Whether it was taken.
    pub delivered: bool,
    /// The answer's status, or why none came.
    pub result: String,
}

/// One StatisticsEntry.
#[derive(Debug, Serialize)]
pub struct StatisticsLine {
    /// When it arrived.
    pub received_at: String,
    /// The type counted.
    pub resource_type: String,
    /// What Skolverket counted (it counts creations as updates).
    pub updated: i64,
    /// Deletions counted.
    pub deleted: i64,
}

/// Reads the overview of `dataset`.
pub async fn overview(
    store: &StateStore,
    dataset: &str,
) -> Result<PullStatus, skolsync::state::StateError> {
    let counts = store.served_counts(dataset).await?;
    let served = SERVED_KINDS
        .iter()
        .map(|k| (*k, counts.get(k).copied().unwrap_or(0)))
        .collect();
    let subscriptions = store
        .live_subscriptions(dataset, chrono::Utc::now())
        .await?
        .into_iter()
        .map(subscription_line)
        .collect();
    let notifications = store
        .notifications(dataset, RECENT)
        .await?
        .into_iter()
        .map(notification_line)
        .collect();
    let statistics = store
        .statistics(dataset, RECENT)
        .await?
        .into_iter()
        .map(statistics_line)
        .collect();
    let feedback = feedback(store, dataset, None, FEEDBACK_SHOWN).await?;
    Ok(PullStatus {
        served,
        subscriptions,
        notifications,
        statistics,
        feedback,
    })
}

fn subscription_line(s: Subscription) -> SubscriptionLine {
    SubscriptionLine {
        id: s.id,
        name: s.name,
        target: s.target,
        expires: s.expires,
    }
}

fn notification_line(n: RecordedNotification) -> NotificationLine {
    let result = match (n.status, &n.error) {
        (Some(status), None) => status.to_string(),
        (_, Some(error)) => error.clone(),
        (None, None) => "no answer".to_string(),
    };
    NotificationLine {
        at: n.attempted_at,
        target: n.target,
        attempt: n.attempt,
        delivered: n.delivered,
        result,
    }
}

fn statistics_line(s: ReceivedStatistics) -> StatisticsLine {
    StatisticsLine {
        received_at: s.received_at,
        resource_type: s.resource_type,
        updated: s.updated_count,
        deleted: s.deleted_count,
    }
}

/// The overview as text.
pub fn describe(status: &PullStatus) -> String {
    let mut out = String::new();
    let served: Vec<String> = status
        .served
        .iter()
        .map(|(k, n)| format!("{n} {}", k.endpoint()))
        .collect();
    let _ = writeln!(out, "Served: {}", served.join(", "));
    if status.subscriptions.is_empty() {
        let _ = writeln!(
            out,
            "Subscriptions: none (register the API's URL in Administration provtjänsten; see the README)"
        );
    }
    for s in &status.subscriptions {
        let _ = writeln!(
            out,
            "Subscription {} ({}): {} — expires {}",
            s.id,
            escape(&s.name),
            escape(&s.target),
            s.expires
        );
    }
    for n in &status.notifications {
        let _ = writeln!(
            out,
            "Notified {} at {} (try {}): {}",
            escape(&n.target),
            n.at,
            n.attempt,
            if n.delivered {
                format!("taken ({})", n.result)
            } else {
                format!("NOT taken: {}", scrubbed(&n.result))
            }
        );
    }
    for s in &status.statistics {
        let _ = writeln!(
            out,
            "Skolverket took {} {} ({} deleted) — {}",
            s.updated,
            escape(&s.resource_type),
            s.deleted,
            s.received_at
        );
    }
    if status.feedback.is_empty() {
        let _ = writeln!(out, "Skolverket has reported no problems.");
    } else {
        let _ = writeln!(
            out,
            "Skolverket reported {} problem(s), newest first:",
            status.feedback.len()
        );
        for f in &status.feedback {
            out.push_str(&feedback_line(f));
        }
    }
    out
}

/// One LogEntry, against its source record.
pub fn feedback_line(f: &FeedbackLine) -> String {
    format!(
        "  {} {} {} {}: source record {}, school unit {} — {}{}\n",
        f.received_at,
        escape(&f.severity),
        escape(f.resource_type.as_deref().unwrap_or("?")),
        f.resource_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| "(no id)".into()),
        or_dash(f.source_id.as_deref()),
        or_dash(f.school_unit.as_deref()),
        scrubbed(&f.message),
        f.message_type
            .as_deref()
            .map(|t| format!(" ({})", escape(t)))
            .unwrap_or_default()
    )
}
