//! Notifying Skolverket's SS12000 client after a run that changed the
//! served dataset (`checklist-ss12000-pull.md` step 9).
//!
//! The body is the SS 12000 webhook callback: `{"modifiedEntites": [types]}`
//! — the spec's own spelling, which the reference API sends — plus
//! `"deletedEntities": true` when anything was removed. Each live
//! subscription gets the types it subscribed to, with a JWT for access type
//! `ss12000-client` from the authorisation server over mutual TLS (the
//! push sink's token provider, asked for another access type). A failed
//! delivery is tried again with backoff for `notify_retry_secs` (about five
//! minutes); every attempt is recorded in the state store. A `401`/`403`
//! fetches a new token once; `404`/`410` mean the target is gone and are
//! not repeated.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use skolsync_model::BuildContext;
use skolsync_model::retry::{Backoff, Jitter};
use skolsync_model::served::ServedWritten;
use skolsync_model::ss12000::EntityKind;
use tokio::time::Instant;

use super::config::PullConfig;
use super::{NotificationAttempt, ServedStore, Subscriber};
use crate::error::{ConfigError, ConfigErrors, SinkError};
use crate::skolverket::Connection;
use crate::skolverket::auth::{SS12000_CLIENT_ACCESS_TYPE, describe_reqwest};

/// The order of `modifiedEntites`: the order the client fetches in.
const NOTIFY_ORDER: [EntityKind; 5] = [
    EntityKind::Organisation,
    EntityKind::Person,
    EntityKind::Group,
    EntityKind::Duty,
    EntityKind::Activity,
];

/// The backoff between tries of one notification.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(2),
    max: Duration::from_secs(60),
    jitter: Jitter::UpToNominal,
};

/// How the notifications of one run went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyReport {
    /// Per subscription notified.
    pub subscriptions: Vec<SubscriberResult>,
    /// Why nobody could be notified (the subscriptions could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Live subscriptions when the run ended.
    #[serde(default)]
    pub live: usize,
}

impl NotifyReport {
    /// Subscriptions that did not take their notification.
    pub fn failed(&self) -> usize {
        self.subscriptions.iter().filter(|s| !s.delivered).count()
    }
}

/// How one subscription's notification went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriberResult {
    /// The subscription.
    pub subscription: uuid::Uuid,
    /// Its target.
    pub target: String,
    /// The body sent.
    pub body: Value,
    /// Whether the target took it.
    pub delivered: bool,
    /// How many tries it took (or were made).
    pub attempts: u32,
    /// The last failure, if it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Sends the notifications.
#[derive(Debug)]
pub struct Notifier {
    connection: Connection,
    retry_window: Duration,
}

/// How one try ended.
enum Try {
    Delivered(u16),
    /// Worth another try (network, 408, 429, 5xx, a token refused once).
    Again {
        status: Option<u16>,
        error: String,
    },
    /// Not worth another (404, 410, other 4xx, no token for good).
    GiveUp {
        status: Option<u16>,
        error: String,
    },
}

impl Notifier {
    /// Reads the certificate and checks the URLs; problems name the pull
    /// sink's own keys.
    pub fn new(config: &PullConfig, ctx: &BuildContext) -> Result<Notifier, ConfigErrors> {
        let mut problems = ConfigErrors::new();
        if config.notify_retry_secs == 0 {
            problems.push(ConfigError::Invalid {
                field: "notify_retry_secs",
                message: "must be at least 1 second".to_string(),
            });
        }
        let connection = Connection::new(
            &config.connection(),
            ctx,
            SS12000_CLIENT_ACCESS_TYPE,
            problems,
        )
        .map_err(|errors| errors.map(|e| e.renamed("provisioning_url", "client_url")))?;
        Ok(Notifier {
            connection,
            retry_window: Duration::from_secs(config.notify_retry_secs),
        })
    }

    /// The SS12000 client's base URL the tokens are for.
    pub fn client_url(&self) -> &str {
        &self.connection.urls.provisioning
    }

    /// Gets a token (`validate --online`).
    pub async fn check(&self) -> Result<(), SinkError> {
        self.connection
            .tokens
            .token()
            .await
            .map(|_| ())
            .map_err(SinkError::from)
    }

    /// Notifies every live subscription of what `written` changed that it
    /// subscribed to; nothing when nothing changed.
    pub async fn notify(
        &self,
        store: &dyn ServedStore,
        written: &ServedWritten,
        changes_since: &str,
    ) -> NotifyReport {
        let modified = written.modified_kinds(&NOTIFY_ORDER);
        let subscribers = match store.live_subscriptions().await {
            Ok(list) => list,
            Err(e) => {
                tracing::error!("the subscriptions to notify could not be read: {e}");
                return NotifyReport {
                    subscriptions: Vec::new(),
                    error: Some(format!("the subscriptions could not be read: {e}")),
                    live: 0,
                };
            }
        };
        if modified.is_empty() && !written.any_deleted() {
            return NotifyReport {
                live: subscribers.len(),
                ..NotifyReport::default()
            };
        }
        let deliveries = subscribers.iter().filter_map(|s| {
            let body = body_for(s, &modified, written)?;
            Some(self.deliver(store, s, body, changes_since))
        });
        let results = futures::future::join_all(deliveries).await;
        for r in results.iter().filter(|r| !r.delivered) {
            tracing::error!(
                subscription = %r.subscription,
                attempts = r.attempts,
                "Skolverket's SS12000 client was not notified: {}",
                r.error.as_deref().unwrap_or("unknown")
            );
        }
        NotifyReport {
            subscriptions: results,
            error: None,
            live: subscribers.len(),
        }
    }

    /// Tries one subscription until it takes the notification, it cannot,
    /// or the retry window is over; records every try.
    async fn deliver(
        &self,
        store: &dyn ServedStore,
        sub: &Subscriber,
        body: Value,
        changes_since: &str,
    ) -> SubscriberResult {
        let started = Instant::now();
        let mut attempt = 0;
        let mut refreshed_token = false;
        loop {
            attempt += 1;
            let outcome = self
                .try_once(&sub.target, &body, &mut refreshed_token)
                .await;
            let (status, error, delivered, again) = match outcome {
                Try::Delivered(status) => (Some(status), None, true, false),
                Try::Again { status, error } => (status, Some(error), false, true),
                Try::GiveUp { status, error } => (status, Some(error), false, false),
            };
            let record = NotificationAttempt {
                subscription: sub.id,
                target: sub.target.clone(),
                body: body.clone(),
                attempt,
                status,
                error: error.clone(),
                delivered,
                changes_since: changes_since.to_string(),
            };
            if let Err(e) = store.record_notification(&record).await {
                tracing::warn!("a notification attempt could not be recorded: {e}");
            }
            let wait = BACKOFF.delay(attempt);
            if delivered || !again || started.elapsed() + wait > self.retry_window {
                if delivered {
                    tracing::info!(subscription = %sub.id, attempt, "notified Skolverket's SS12000 client");
                }
                return SubscriberResult {
                    subscription: sub.id,
                    target: sub.target.clone(),
                    body,
                    delivered,
                    attempts: attempt,
                    error,
                };
            }
            tracing::warn!(
                subscription = %sub.id,
                attempt,
                "notification not taken ({}); trying again in {:.0?}",
                error.as_deref().unwrap_or(""),
                wait
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn try_once(&self, target: &str, body: &Value, refreshed: &mut bool) -> Try {
        let tokens = &self.connection.tokens;
        let token = match tokens.token().await {
            Ok(token) => token,
            Err(failure) => {
                let error = format!("no access token: {}", failure.error);
                return if failure.transient {
                    Try::Again {
                        status: None,
                        error,
                    }
                } else {
                    Try::GiveUp {
                        status: None,
                        error,
                    }
                };
            }
        };
        let sent = self
            .connection
            .api_http
            .post(target)
            .bearer_auth(token.value())
            .json(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                return Try::Again {
                    status: None,
                    error: describe_reqwest(&e),
                };
            }
        };
        let status = response.status().as_u16();
        match status {
            200..=299 => Try::Delivered(status),
            401 | 403 if !*refreshed => {
                *refreshed = true;
                tokens.invalidate(token.generation).await;
                Try::Again {
                    status: Some(status),
                    error: format!("{status}: the client refused the token; fetching a new one"),
                }
            }
            408 | 429 | 500..=599 => Try::Again {
                status: Some(status),
                error: format!("the client answered {status}"),
            },
            _ => Try::GiveUp {
                status: Some(status),
                error: format!("the client answered {status}; not tried again"),
            },
        }
    }
}

/// The body for `sub`: the changed types it subscribed to, and
/// `deletedEntities` when one of its types lost entities; `None` when
/// nothing it subscribed to changed.
fn body_for(sub: &Subscriber, modified: &[EntityKind], written: &ServedWritten) -> Option<Value> {
    let wants =
        |kind: &EntityKind| sub.resource_types.is_empty() || sub.resource_types.contains(kind);
    let types: Vec<&str> = modified
        .iter()
        .filter(|k| wants(k))
        .map(|k| k.type_name())
        .collect();
    let deleted = written
        .deleted
        .iter()
        .any(|(kind, n)| *n > 0 && wants(kind));
    if types.is_empty() && !deleted {
        return None;
    }
    let mut body = json!({ "modifiedEntites": types });
    if deleted {
        body["deletedEntities"] = Value::Bool(true);
    }
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn written(created: &[EntityKind], deleted: &[EntityKind]) -> ServedWritten {
        let count =
            |kinds: &[EntityKind]| kinds.iter().map(|k| (*k, 1)).collect::<BTreeMap<_, _>>();
        ServedWritten {
            created: count(created),
            deleted: count(deleted),
            ..ServedWritten::default()
        }
    }

    fn subscriber(types: &[EntityKind]) -> Subscriber {
        Subscriber {
            id: uuid::Uuid::nil(),
            target: "https://client.example/webhooks/1".into(),
            resource_types: types.to_vec(),
        }
    }

    #[test]
    fn bodies_name_what_changed_in_the_clients_order_and_spelling() {
        let w = written(
            &[EntityKind::Activity, EntityKind::Person],
            &[EntityKind::Group],
        );
        let modified = w.modified_kinds(&NOTIFY_ORDER);
        let all = body_for(&subscriber(&[]), &modified, &w).unwrap();
        assert_eq!(
            all,
            json!({"modifiedEntites": ["Person", "Activity"], "deletedEntities": true})
        );
        let persons_only = body_for(&subscriber(&[EntityKind::Person]), &modified, &w).unwrap();
        assert_eq!(persons_only, json!({"modifiedEntites": ["Person"]}));
        assert_eq!(
            body_for(&subscriber(&[EntityKind::Duty]), &modified, &w),
            None
        );
    }
}
