//! `skolsync serve`: the long-running service.
//!
//! Today it serves, per pipeline whose `[sink]` is `ss12000-pull`, the DNP
//! profile as an SS 12000 API for Skolverket's SS12000 client (the pull
//! method): the list and single-object GETs with `meta.*` filters and page
//! tokens, `/deletedEntities`, subscriptions, `/log` and `/statistics`.
//! Every call carries Skolverket's JWT, verified against the authorisation
//! server's JWKS; TLS is terminated here.
//!
//! It is a general host ([`host`]): one config file, routes mounted per
//! pipeline, background tasks started and stopped with the process, so
//! later work (scheduled workers, a dashboard, metrics) mounts beside the
//! pull API.
//!
//! - [`config`]: the serve config file.
//! - [`host`]: listeners (TLS or, with an explicit flag, plain HTTP), routes,
//!   background tasks, graceful shutdown.
//! - [`auth`]: inbound JWT verification (JWKS cached, refreshed on an
//!   unknown `kid`).
//! - [`dataset`]: the SS 12000 GETs and `/deletedEntities`, with page tokens.
//! - [`runner`]: the pipelines serve runs itself (`run = true`), as
//!   `skolsync watch` does: at start, on `[schedule]`, on source changes.
//! - [`subscriptions`]: `POST/PATCH/DELETE /subscriptions`.
//! - [`feedback`]: `POST /log` and `POST /statistics`.
//! - [`state`]: what every handler of one pipeline's API shares.
//! - [`error`]: the SS 12000 `Error` answers.

pub mod auth;
pub mod config;
pub mod dataset;
pub mod error;
pub mod feedback;
pub mod host;
pub mod runner;
pub mod state;
pub mod subscriptions;
