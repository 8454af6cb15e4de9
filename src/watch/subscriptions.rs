//! Keeping a pipeline's SS 12000 subscription alive at its source.
//!
//! A [`SubscriptionKeeper`] registers one subscription when it starts
//! (`POST /subscriptions`: target = the receiver's public URL plus
//! `/notifications/{pipeline}/{secret}` with a fresh secret, resource
//! types = what the pipeline reads), renews it before it expires (`PATCH`
//! at two thirds of its remaining life, so a third is left for retries),
//! and deletes it when stopped (`DELETE`).
//!
//! What goes wrong is retried, never fatal: a source that is down keeps
//! the pipeline on its cron times until it answers again. A source that
//! answers `POST /subscriptions` with `404`, `405` or `501` has no
//! subscriptions (the endpoint is optional in SS 12000): the keeper says
//! so once and ends. Failed calls are
//! retried with exponential backoff (1 s doubling to 5 minutes). A renewal
//! the source answers `404`/`410` (it forgot the subscription), or one
//! still failing when the subscription has expired, re-creates it with a
//! fresh secret and revokes the old one. Stopping deletes the
//! subscription within a time limit, so a source that hangs cannot hold up
//! shutdown (the subscription then simply expires at the source).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use skolsync_connectors::{
    NewSubscription, SourceConfig, SourceError, Subscription, Subscriptions,
};
use skolsync_model::ss12000::EntityKind;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::receiver::{NotificationUrls, Secret, Targets};

/// The first wait after a failed call.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// The shortest wait before a renewal, whatever `expires` says (a source
/// that hands out subscriptions expiring at once is not renewed in a loop).
const RENEW_MIN: Duration = Duration::from_secs(1);
/// How long stopping waits for the source to delete the subscription.
const DELETE_TIMEOUT: Duration = Duration::from_secs(10);

/// The SS 12000 entity types a `[source]` reads, for `resourceTypes`.
/// Empty for sources without subscriptions (files).
pub fn resource_types(source: &SourceConfig) -> Vec<EntityKind> {
    let resources = match source {
        SourceConfig::Educloud(c) => &c.resources,
        SourceConfig::Ss12000(c) => &c.resources,
        SourceConfig::Csv(_) | SourceConfig::Xlsx(_) => return Vec::new(),
    };
    let mut kinds: Vec<EntityKind> = resources.iter().map(|r| r.kind()).collect();
    kinds.dedup();
    kinds
}

/// How long to wait before renewing a subscription that expires at
/// `expires`: two thirds of its remaining life, at least [`RENEW_MIN`].
pub fn renew_delay(now: DateTime<Utc>, expires: DateTime<FixedOffset>) -> Duration {
    let remaining = (expires.to_utc() - now).to_std().unwrap_or(Duration::ZERO);
    (remaining * 2 / 3).max(RENEW_MIN)
}

/// The wait before retry number `attempt` (0 for the first retry).
pub fn backoff(attempt: u32) -> Duration {
    BACKOFF_FIRST
        .saturating_mul(2u32.saturating_pow(attempt))
        .min(BACKOFF_MAX)
}

/// Whether a failed renewal means the source no longer knows the
/// subscription, so it must be created anew.
pub fn forgotten(error: &SourceError) -> bool {
    matches!(
        error,
        SourceError::Http {
            status: 404 | 410,
            ..
        }
    )
}

/// Whether a failed `POST /subscriptions` means the source has no
/// subscriptions at all (`404`, `405`, `501`): many SS 12000 servers leave
/// the optional endpoint out. Retrying would only fill the log.
pub fn unsupported(error: &SourceError) -> bool {
    matches!(
        error,
        SourceError::Http {
            status: 404 | 405 | 501,
            ..
        }
    )
}

/// What the keeper registers.
#[derive(Debug, Clone)]
pub struct KeeperSettings {
    /// The pipeline whose runs notifications ask for.
    pub pipeline: String,
    /// What the source calls the subscription (`name`).
    pub name: String,
    /// The entity types to hear about.
    pub resource_types: Vec<EntityKind>,
    /// Where the receiver is reached.
    pub urls: NotificationUrls,
}

/// Keeps one subscription alive until [`stop`](Self::stop)ped.
#[derive(Debug)]
pub struct SubscriptionKeeper {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SubscriptionKeeper {
    /// Starts keeping a subscription at `source`; notifications with its
    /// secret are accepted by `targets` (where `settings.pipeline` must be
    /// served). Must be called inside the tokio runtime.
    pub fn start(
        source: Arc<dyn Subscriptions>,
        settings: KeeperSettings,
        targets: Targets,
    ) -> SubscriptionKeeper {
        let (stop, stopped) = watch::channel(false);
        let keeper = Keeper {
            source,
            settings,
            targets,
            stopped,
        };
        SubscriptionKeeper {
            stop,
            task: tokio::spawn(keeper.run()),
        }
    }

    /// Deletes the subscription at the source (within a time limit) and
    /// stops.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!("the subscription keeper failed: {e}");
        }
    }
}

/// A subscription the keeper holds.
struct Held {
    subscription: Subscription,
    secret: Secret,
}

struct Keeper {
    source: Arc<dyn Subscriptions>,
    settings: KeeperSettings,
    targets: Targets,
    stopped: watch::Receiver<bool>,
}

impl Keeper {
    async fn run(mut self) {
        while let Some(held) = self.create().await {
            let still = self.keep(held).await;
            match still {
                Some(held) => {
                    self.delete(held).await;
                    return;
                }
                None => continue,
            }
        }
    }

    /// Creates the subscription, retrying until it works; `None` if
    /// stopped first.
    async fn create(&mut self) -> Option<Held> {
        let pipeline = self.settings.pipeline.clone();
        let mut attempt = 0;
        loop {
            let Some(secret) = self.targets.issue(&pipeline) else {
                tracing::error!(pipeline, "the receiver does not serve this pipeline");
                return None;
            };
            let request = NewSubscription {
                name: self.settings.name.clone(),
                target: self.settings.urls.target(&pipeline, &secret),
                resource_types: self.settings.resource_types.clone(),
            };
            match self.source.create(&request).await {
                Ok(subscription) => {
                    tracing::info!(
                        pipeline,
                        id = %subscription.id,
                        expires = %subscription.expires,
                        "subscribed to the source's changes"
                    );
                    return Some(Held {
                        subscription,
                        secret,
                    });
                }
                Err(e) if unsupported(&e) => {
                    self.targets.revoke(&pipeline, &secret);
                    tracing::warn!(
                        pipeline,
                        "the source has no change subscriptions after all: the pipeline runs \
                         on its [schedule] cron times only, if it has any: {e}"
                    );
                    return None;
                }
                Err(e) => {
                    self.targets.revoke(&pipeline, &secret);
                    let wait = backoff(attempt);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(
                        pipeline,
                        "could not subscribe to the source's changes (runs on the schedule \
                         meanwhile); trying again in {} s: {e}",
                        wait.as_secs()
                    );
                    if self.sleep_or_stop(wait).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Renews `held` before it expires until stopped (`Some`, to delete)
    /// or until it must be created anew (`None`, the old secret revoked).
    async fn keep(&mut self, mut held: Held) -> Option<Held> {
        let pipeline = self.settings.pipeline.clone();
        let mut attempt = 0;
        let mut wait = renew_delay(Utc::now(), held.subscription.expires);
        loop {
            if self.sleep_or_stop(wait).await {
                return Some(held);
            }
            match self.source.renew(&held.subscription.id).await {
                Ok(renewed) => {
                    tracing::debug!(pipeline, id = %renewed.id, expires = %renewed.expires, "subscription renewed");
                    held.subscription = renewed;
                    attempt = 0;
                    wait = renew_delay(Utc::now(), held.subscription.expires);
                }
                Err(e) if forgotten(&e) => {
                    tracing::warn!(
                        pipeline,
                        id = %held.subscription.id,
                        "the source no longer knows the subscription; subscribing again"
                    );
                    self.targets.revoke(&pipeline, &held.secret);
                    return None;
                }
                Err(e) if held.subscription.expires.to_utc() <= Utc::now() => {
                    tracing::warn!(
                        pipeline,
                        id = %held.subscription.id,
                        "the subscription expired before it could be renewed; subscribing \
                         again: {e}"
                    );
                    self.targets.revoke(&pipeline, &held.secret);
                    return None;
                }
                Err(e) => {
                    let left = renew_delay(Utc::now(), held.subscription.expires);
                    wait = backoff(attempt).min(left);
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(
                        pipeline,
                        id = %held.subscription.id,
                        "could not renew the subscription; trying again in {} s: {e}",
                        wait.as_secs()
                    );
                }
            }
        }
    }

    /// Deletes `held` at the source (best effort, time-limited) and stops
    /// accepting its secret.
    async fn delete(&self, held: Held) {
        let pipeline = &self.settings.pipeline;
        let id = &held.subscription.id;
        match tokio::time::timeout(DELETE_TIMEOUT, self.source.delete(id)).await {
            Ok(Ok(())) => tracing::info!(pipeline, id, "subscription removed at the source"),
            Ok(Err(e)) => tracing::warn!(
                pipeline,
                id,
                "could not remove the subscription (it expires at {}): {e}",
                held.subscription.expires
            ),
            Err(_) => tracing::warn!(
                pipeline,
                id,
                "the source did not answer the removal of the subscription in {} s (it expires \
                 at {})",
                DELETE_TIMEOUT.as_secs(),
                held.subscription.expires
            ),
        }
        self.targets.revoke(pipeline, &held.secret);
    }

    /// Sleeps `wait`; `true` if told to stop first (or already).
    async fn sleep_or_stop(&mut self, wait: Duration) -> bool {
        if *self.stopped.borrow() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => false,
            _ = self.stopped.changed() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    #[test]
    fn renewal_comes_at_two_thirds_of_the_remaining_life() {
        let now = at("2026-12-02T12:00:00Z").to_utc();
        assert_eq!(
            renew_delay(now, at("2026-12-02T15:00:00+01:00")),
            Duration::from_secs(2 * 3600 / 3 * 2)
        );
        assert_eq!(
            renew_delay(now, at("2026-12-03T12:00:00Z")),
            Duration::from_secs(16 * 3600)
        );
        // Expired, or expiring now: soon, but not in a loop.
        assert_eq!(renew_delay(now, at("2026-12-02T11:00:00Z")), RENEW_MIN);
    }

    #[test]
    fn retries_back_off_exponentially_to_five_minutes() {
        let waits: Vec<u64> = (0..12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn which_failures_mean_forgotten_or_unsupported() {
        let http = |status| SourceError::Http {
            method: "PATCH".into(),
            url: "https://source/subscriptions/x".into(),
            status,
            attempts: 1,
            message: String::new(),
        };
        assert!(forgotten(&http(404)) && forgotten(&http(410)));
        assert!(!forgotten(&http(500)) && !forgotten(&http(403)));
        assert!(unsupported(&http(404)) && unsupported(&http(405)) && unsupported(&http(501)));
        assert!(!unsupported(&http(503)) && !unsupported(&http(401)) && !unsupported(&http(429)));
        let unreachable = SourceError::Unreachable {
            url: "https://source".into(),
            attempts: 3,
            message: "refused".into(),
        };
        assert!(!forgotten(&unreachable));
    }

    #[test]
    fn resource_types_are_what_the_source_reads() {
        let config: SourceConfig = toml::from_str(
            "kind = \"ss12000\"\nbase_url = \"https://x/v2.0\"\nauth = { type = \"none\" }\n\
             resources = [\"organisations\", \"persons\", \"groups\"]",
        )
        .unwrap();
        assert_eq!(
            resource_types(&config),
            [
                EntityKind::Organisation,
                EntityKind::Person,
                EntityKind::Group
            ]
        );
        let csv: SourceConfig =
            toml::from_str("kind = \"csv\"\nlayout = \"flat\"\ndir = \"x\"").unwrap();
        assert!(resource_types(&csv).is_empty());
    }
}
