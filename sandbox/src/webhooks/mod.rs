//! Webhook notifications of SS 12000 subscriptions: when the source data
//! changes, every live subscription that asked for a changed type gets one
//! POST to its `target` with the spec's callback body,
//! `{"modifiedEntites": ["Person", …], "deletedEntities": true}` (the spec
//! spells `modifiedEntites` so; `deletedEntities` is sent only when
//! something of a wanted type was deleted, and only wanted types are
//! listed).
//!
//! One notification per change set, not per entity, as the spec allows
//! ("kan välja att skicka en notis för multipla förändringar"). HTTPS
//! targets must present a certificate of the sandbox's CA or of the extra
//! root the configuration names (never the system's roots: nothing leaves
//! the machine); a plain `http` target is called in plain HTTP. Redirects
//! are not followed. A delivery that fails (an error or a status other than
//! 2xx) is retried [`ATTEMPTS`] times in all, waiting [`FIRST_BACKOFF`] and
//! then twice as long each time. Every attempt is logged ([`Delivery`]) for
//! tests to read.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use crate::educloud::{Subscription, Subscriptions};

/// Attempts per notification, the first included.
pub const ATTEMPTS: u32 = 4;
/// Wait before the first retry; each further retry waits twice as long.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the notifier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// A trusted root is not a PEM certificate.
    #[error("webhook trust: {what} is not a PEM certificate: {source}")]
    Root {
        /// Which root (the sandbox CA or the configured file).
        what: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The HTTP client could not be built.
    #[error("could not build the webhook HTTP client: {0}")]
    Client(reqwest::Error),
}

/// One attempt to deliver one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// When the attempt was made.
    pub at: DateTime<Utc>,
    /// The subscription notified.
    pub subscription: Uuid,
    /// Its target URL.
    pub target: String,
    /// The body sent.
    pub body: Value,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// What came back.
    pub outcome: Outcome,
}

/// What one delivery attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer: the connection, TLS or the timeout failed (with the causes).
    Error(String),
}

impl Outcome {
    /// Whether the target accepted the notification (2xx).
    pub fn delivered(&self) -> bool {
        matches!(self, Outcome::Status(status) if (200..300).contains(status))
    }
}

/// Sends the notifications of a running sandbox.
#[derive(Debug, Clone)]
pub struct Notifier {
    subscriptions: Subscriptions,
    client: reqwest::Client,
    log: Arc<Mutex<Vec<Delivery>>>,
    runtime: tokio::runtime::Handle,
}

impl Notifier {
    /// A notifier for `subscriptions` that trusts the PEM certificates of
    /// `roots` (named for errors). Must be called inside a tokio runtime,
    /// whose tasks will deliver.
    pub fn new(
        subscriptions: Subscriptions,
        roots: &[(&str, &[u8])],
    ) -> Result<Notifier, WebhookError> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(ATTEMPT_TIMEOUT);
        for (what, pem) in roots {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|source| {
                WebhookError::Root {
                    what: (*what).to_string(),
                    source,
                }
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Notifier {
            subscriptions,
            client: builder.build().map_err(WebhookError::Client)?,
            log: Arc::new(Mutex::new(Vec::new())),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Delivery>> {
        match self.log.lock() {
            Ok(log) => log,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Every delivery attempt so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().clone()
    }

    /// Notifies every live subscription that wants one of the types
    /// `modified` (created or changed) or `deleted`; returns how many
    /// notifications were started (they are delivered in the background).
    pub fn notify(&self, modified: &BTreeSet<EntityKind>, deleted: &BTreeSet<EntityKind>) -> usize {
        let mut started = 0;
        for subscription in self.subscriptions.live() {
            let Some(body) = notification(&subscription, modified, deleted) else {
                continue;
            };
            let notifier = self.clone();
            self.runtime
                .spawn(async move { notifier.deliver(subscription, body).await });
            started += 1;
        }
        started
    }

    async fn deliver(self, subscription: Subscription, body: Value) {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=ATTEMPTS {
            let outcome = match self
                .client
                .post(&subscription.target)
                .json(&body)
                .send()
                .await
            {
                Ok(response) => Outcome::Status(response.status().as_u16()),
                Err(err) => Outcome::Error(causes(&err)),
            };
            let delivered = outcome.delivered();
            tracing::debug!(
                subscription = %subscription.id,
                attempt,
                ?outcome,
                "webhook notification"
            );
            self.lock().push(Delivery {
                at: Utc::now(),
                subscription: subscription.id,
                target: subscription.target.clone(),
                body: body.clone(),
                attempt,
                outcome,
            });
            if delivered {
                return;
            }
            if attempt < ATTEMPTS {
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        tracing::warn!(
            subscription = %subscription.id,
            "webhook notification not delivered after {ATTEMPTS} attempts"
        );
    }
}

/// The callback body for `subscription`, or `None` when nothing it asked
/// for changed.
fn notification(
    subscription: &Subscription,
    modified: &BTreeSet<EntityKind>,
    deleted: &BTreeSet<EntityKind>,
) -> Option<Value> {
    let types: Vec<&str> = modified
        .iter()
        .map(|k| k.type_name())
        .filter(|t| subscription.wants(t))
        .collect();
    let any_deleted = deleted.iter().any(|k| subscription.wants(k.type_name()));
    if types.is_empty() && !any_deleted {
        return None;
    }
    let mut body = json!({ "modifiedEntites": types });
    if any_deleted && let Value::Object(map) = &mut body {
        map.insert("deletedEntities".to_string(), Value::Bool(true));
    }
    Some(body)
}

/// An error with its causes, outermost first (TLS failures hide in them).
fn causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::educloud::SourceApi;

    fn subscription(types: &[&str]) -> Subscription {
        Subscription {
            id: Uuid::nil(),
            api: SourceApi::Generic,
            name: "n".into(),
            target: "https://127.0.0.1:1/".into(),
            resource_types: types.iter().map(|t| t.to_string()).collect(),
            expires: Utc::now(),
        }
    }

    #[test]
    fn bodies_list_only_wanted_types_and_deletions_only_when_wanted() {
        let modified = BTreeSet::from([EntityKind::Person, EntityKind::Group]);
        let deleted = BTreeSet::from([EntityKind::Duty]);
        let body = notification(&subscription(&["Person"]), &modified, &deleted).unwrap();
        assert_eq!(body, json!({ "modifiedEntites": ["Person"] }));
        let body = notification(&subscription(&["Duty"]), &modified, &deleted).unwrap();
        assert_eq!(
            body,
            json!({ "modifiedEntites": [], "deletedEntities": true })
        );
        assert!(notification(&subscription(&["Activity"]), &modified, &deleted).is_none());
    }

    #[test]
    fn only_2xx_counts_as_delivered() {
        assert!(Outcome::Status(204).delivered());
        assert!(!Outcome::Status(500).delivered());
        assert!(!Outcome::Error("refused".into()).delivered());
    }
}
