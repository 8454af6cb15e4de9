//! Sinks: Skolverket's Provisioning API and files.
//!
//! Filled by the sink issue; empty until then.
