//! The shared vocabulary of skolsync.
//!
//! - [`ss12000`]: SS 12000 v2 entities as sources deliver them, read
//!   tolerantly (unknown fields ignored, common real-world variations accepted).
//! - [`provtjanst`]: the payloads of Skolverket's Provisioning API, exactly as
//!   its OpenAPI spec defines them.
//! - [`codes`]: the code lists both share, with the spec's exact values.
//! - [`ids`]: Skolverket's UUIDv5 identifiers for school units, test
//!   activities, programmes and organisations.
//! - [`civic_no`]: Swedish personal identity numbers, validated and masked.
//! - [`open_data`]: Skolverket's Open-data API (school units, test activities).
//! - [`reject`]: records left out, with where, what and why.
//! - [`plan`]: desired state, plan, per-entity outcomes.
//! - [`hash`]: the content hash, the one implementation.
//! - [`template`]: the column names of Skolverket's file-upload template.
//! - [`per_type`], [`per_kind`]: the four provtjänst types and the seven
//!   SS 12000 kinds written once ([`PerType`], [`PerKind`], `by_type!`,
//!   `by_kind!`).
//! - [`build_context`]: what every component is built with; the one path
//!   resolution.
//! - [`error_chain`]: an error and its causes on one line.
//! - [`config_problems`]: every problem of a config section at once.
//! - [`sandbox`]: where the sandbox is and how a component points at it.
//! - [`served`]: what a pull sink writes for `skolsync serve` to serve.
//!
//! Every other crate depends on this one; this one depends on no other stage.

pub mod build_context;
pub mod civic_no;
pub mod codes;
pub mod config_problems;
pub mod eppn;
pub mod error_chain;
pub mod hash;
pub mod ids;
pub mod open_data;
pub mod per_kind;
pub mod per_type;
pub mod plan;
pub mod provtjanst;
mod record;
pub mod reject;
pub mod retry;
pub mod sandbox;
pub mod secret;
pub mod served;
pub mod ss12000;
pub mod template;

pub use build_context::BuildContext;
pub use civic_no::{CivicNo, CivicNoError, CivicNoKind};
pub use codes::*;
pub use error_chain::error_chain;
pub use ids::*;
pub use per_kind::PerKind;
pub use per_type::PerType;
pub use secret::Secret;
