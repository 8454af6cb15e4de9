//! The skolsync engine, shared by the `skolsync` binary and the end-to-end
//! tests.
//!
//! - [`state`]: the state store — run history and lock, what each sink holds
//!   (content hashes and last outcomes), the id crosswalk, watermarks.
//! - [`pipeline`]: pipeline files — their format, loading with clear
//!   errors, `${env:..}`/`${file:..}`, the embedded sandbox, the JSON Schema.
//! - [`engine`]: plan and run — the stages wired together, guards, identity
//!   continuity, reconcile, progress.
//! - [`report`]: the run report — counts that add up, every problem grouped
//!   for the people who fix the source; JSON, HTML and a terminal summary.
//! - [`listener`]: one HTTP(S) listener for the services (watch, serve).
//! - [`lock`]: one run at a time per provtjänst client, machine-wide.
//! - [`terminal`]: outside text made safe to print (control characters
//!   escaped).
//! - [`watch`]: continuous sync — run queues, cron times, the change
//!   receiver, SS 12000 subscriptions kept alive.

pub mod engine;
pub mod listener;
pub mod lock;
pub mod pipeline;
pub mod report;
pub mod serve;
pub mod state;
pub mod terminal;
pub mod watch;
