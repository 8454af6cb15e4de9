//! What every handler of one pipeline's pull API shares.

use std::time::Duration;

use crate::state::StateStore;

/// The largest `limit` a list call may ask for; larger asks are clamped
/// (Skolverket's client asks for 1000).
pub const MAX_PAGE_LIMIT: usize = 5000;

/// The page size when a list call gives no `limit`.
pub const DEFAULT_PAGE_LIMIT: usize = 1000;

/// One pipeline's served dataset and how it is served.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The pipeline's state store.
    pub store: StateStore,
    /// The dataset key in the store: the pull sink's identity.
    pub dataset: String,
    /// The pipeline's name, for logs.
    pub pipeline: String,
    /// This API's public base URL (what the municipality registers in
    /// Administration provtjänsten, e.g. `https://skolsync.example.se/ss12000/linkoping`):
    /// tokens must grant `ss12000-api` access to it, and `resourceUrl`s are
    /// built on it.
    pub location: String,
    /// How long a subscription lives after it is created or renewed.
    pub subscription_lifetime: Duration,
}
