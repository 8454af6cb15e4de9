//! SS 12000 subscriptions (`/subscriptions`): asking a source to notify a
//! URL when its data changes, so a pipeline runs when something changed
//! instead of on a timer alone.
//!
//! The spec (`paths/subscriptions.yaml`, `Subscription.yaml`): `POST
//! /subscriptions` with `name`, `target` and `resourceTypes` (`[{"resource":
//! "Person"}, …]`) answers `201` with the subscription's `id` and
//! `expires`; `PATCH /subscriptions/{id}` moves `expires` on (renewal);
//! `DELETE /subscriptions/{id}` answers `204`. On a change the source POSTs
//! `{"modifiedEntites": ["Person", …], "deletedEntities": true}` to the
//! target (the spec spells `modifiedEntites`).
//!
//! [`Subscriptions`] is what a source that has the endpoints offers
//! ([`crate::Source::subscriptions`]); who keeps a subscription alive
//! (renews it before it expires, removes it on shutdown) is the caller's
//! business.

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use skolsync_model::ss12000::EntityKind;

use crate::error::SourceError;

/// What to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// A descriptive name (`name`), e.g. `skolsync demo`.
    pub name: String,
    /// The URL the source POSTs notifications to (`target`).
    pub target: String,
    /// The entity types whose changes to hear about (`resourceTypes`).
    pub resource_types: Vec<EntityKind>,
}

/// A subscription the source holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id at the source.
    pub id: String,
    /// When the source drops it unless renewed.
    pub expires: DateTime<FixedOffset>,
}

/// A source's `/subscriptions` endpoints.
#[async_trait]
pub trait Subscriptions: Send + Sync {
    /// `POST /subscriptions`.
    async fn create(&self, request: &NewSubscription) -> Result<Subscription, SourceError>;
    /// `PATCH /subscriptions/{id}`: the source moves `expires` on and says
    /// to when.
    async fn renew(&self, id: &str) -> Result<Subscription, SourceError>;
    /// `DELETE /subscriptions/{id}`; one the source no longer knows (`404`)
    /// counts as deleted.
    async fn delete(&self, id: &str) -> Result<(), SourceError>;
}
