//! Faithful local emulators of every remote system skolsync talks to, and a
//! synthetic municipality to fill them.
//!
//! - [`auth`]: Skolverket's authorisation server — mutual TLS, JSON access
//!   requests at `/transaction`, ES256 JWTs and a JWKS.
//! - [`provisioning`]: the Provisioning API — bulk jobs, profile rules with
//!   Skolverket's error ids, rate limits, the 200 KB body limit, read endpoints.
//! - [`opendata`]: the Open-data API — organisation, school units, programmes,
//!   test activities.
//! - [`educloud`]: IST EduCloud — OAuth2 client credentials and the SS 12000 v2
//!   read API; the same handlers serve a generic SS 12000 API.
//! - [`pull_client`]: Skolverket's SS12000 client (the pull method) —
//!   subscribes to a huvudman's SS 12000 API, fetches and judges the DNP
//!   profile, takes webhooks, posts LogEntries and StatisticsEntries.
//! - [`change`]: changing the municipality while it is served, with
//!   correct `meta` stamps, deletions logged and subscriptions notified
//!   ([`webhooks`]).
//! - [`generate`]: a deterministic municipality of any size, with optional dirt,
//!   exportable as the CSV layouts skolsync reads.
//!
//! Everything binds to loopback only. [`Sandbox::start`] runs all services
//! in-process (tests, the demo pipeline); `skolsync sandbox` serves them for
//! people. Fidelity to the specs is the point: what passes here must pass
//! against the real services.

pub mod auth;
pub mod change;
pub mod config;
pub mod educloud;
pub mod generate;
pub mod opendata;
pub mod provisioning;
pub mod pull_client;
mod server;
pub mod tls;
pub mod webhooks;
pub mod world;

pub use config::{
    FaultSwitch, Faults, Limits, Outage, OutageAnswer, OverMaxPageSize, STUDENTS_MAX, STUDENTS_MIN,
    SandboxConfig, SourceAnswer, SourceFaults, SourceOptions,
};
pub use config::{ProvisioningOptions, UnsettledListing};
pub use server::{Endpoints, Sandbox, SandboxError, StandIn, serve_open_data};
pub use world::{Catalogue, SourceData, World};
