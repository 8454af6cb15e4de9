//! The subcommands, one module each.

pub mod common;
pub mod confirm_upload;
pub mod extract;
pub mod history;
pub mod open_data;
pub mod plan;
pub mod reconcile;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod serve;
pub mod status;
pub mod status_pull;
pub mod status_upload;
pub mod validate;
pub mod watch;
