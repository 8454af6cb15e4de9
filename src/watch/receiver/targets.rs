//! Who may notify: per pipeline, the run queue a notification feeds and
//! the secrets of its live subscriptions.
//!
//! SS 12000 defines no authentication for webhooks (the source just POSTs
//! to `target`), so the only credential is the URL itself: each
//! subscription gets a fresh random secret of 256 bits in its path,
//! `/notifications/{pipeline}/{secret}`. Only SHA-256 digests of the
//! secrets are kept and compared, so a comparison's timing says nothing
//! about a secret, and the secrets themselves are never logged (their
//! `Debug` is redacted).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::watch::queue::{RunRequester, Trigger};

/// The random bytes of a secret.
const SECRET_BYTES: usize = 32;

/// A subscription's secret: the last segment of its notification path.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A fresh secret from the operating system's generator (via the
    /// thread's cryptographically secure generator).
    fn generate() -> Secret {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Secret(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The secret as it goes into the URL. Only for building the target
    /// URL: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn digest(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug)]
struct Entry {
    requester: RunRequester,
    secrets: Vec<[u8; 32]>,
}

/// The pipelines the receiver serves and their subscriptions' secrets;
/// cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Targets {
    inner: Arc<RwLock<HashMap<String, Entry>>>,
}

impl Targets {
    /// None yet.
    pub fn new() -> Targets {
        Targets::default()
    }

    /// Serves `pipeline`: its notifications go to `requester`. A pipeline
    /// added again keeps its secrets and gets the new requester.
    pub fn add_pipeline(&self, pipeline: &str, requester: RunRequester) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        match map.get_mut(pipeline) {
            Some(entry) => entry.requester = requester,
            None => {
                map.insert(
                    pipeline.to_string(),
                    Entry {
                        requester,
                        secrets: Vec::new(),
                    },
                );
            }
        }
    }

    /// A fresh secret for a new subscription of `pipeline`, accepted from
    /// now on; `None` if the pipeline is not served.
    pub fn issue(&self, pipeline: &str) -> Option<Secret> {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let entry = map.get_mut(pipeline)?;
        let secret = Secret::generate();
        entry.secrets.push(Secret::digest(secret.expose()));
        Some(secret)
    }

    /// Stops accepting `secret` (its subscription was removed or replaced).
    pub fn revoke(&self, pipeline: &str, secret: &Secret) {
        let digest = Secret::digest(secret.expose());
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = map.get_mut(pipeline) {
            entry.secrets.retain(|d| *d != digest);
        }
    }

    /// Whether `secret` is a live secret of `pipeline`.
    pub fn accepts(&self, pipeline: &str, secret: &str) -> bool {
        let digest = Secret::digest(secret);
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.get(pipeline)
            .is_some_and(|entry| entry.secrets.contains(&digest))
    }

    /// Asks `pipeline` for a run if `secret` is one of its live secrets;
    /// `false` otherwise (or when its queue is closed).
    pub fn notify(&self, pipeline: &str, secret: &str, trigger: Trigger) -> bool {
        let requester = {
            let digest = Secret::digest(secret);
            let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
            match map.get(pipeline) {
                Some(entry) if entry.secrets.contains(&digest) => entry.requester.clone(),
                _ => return false,
            }
        };
        requester.request(trigger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::queue::RunQueue;

    #[test]
    fn secrets_are_fresh_per_subscription_and_revocable() {
        let queue = RunQueue::new(std::time::Duration::ZERO);
        let targets = Targets::new();
        assert!(targets.issue("demo").is_none(), "unknown pipeline");
        targets.add_pipeline("demo", queue.requester());
        let a = targets.issue("demo").unwrap();
        let b = targets.issue("demo").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
        assert!(a.expose().chars().all(|c| c.is_ascii_hexdigit()));
        assert!(targets.accepts("demo", a.expose()) && targets.accepts("demo", b.expose()));
        assert!(!targets.accepts("other", a.expose()));
        assert!(!targets.accepts("demo", &a.expose()[..63]));
        targets.revoke("demo", &a);
        assert!(!targets.accepts("demo", a.expose()));
        assert!(targets.accepts("demo", b.expose()));
        assert_eq!(format!("{a:?}"), "Secret(…)");
    }
}
