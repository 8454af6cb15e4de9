//! The reading keys both API connectors (`educloud`, `ss12000`) share:
//! declared once here, with their docs and defaults, and turned into the
//! validated [`ApiSettings`] by one function.
//!
//! The keys sit directly in `[source]` (the pipeline format has no
//! sub-table for them), and every `[source]` struct refuses unknown keys
//! with serde's own message, which the pipeline loader turns into "unknown
//! key … did you mean …". `#[serde(flatten)]` cannot be combined with
//! `deny_unknown_fields` (serde then names no valid keys, so no suggestion),
//! so [`api_config!`] appends the shared fields to each connector's struct
//! instead: one declaration, the derives unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::http::{AuthSettings, HttpSettings, TlsSettings};
use super::{ApiSettings, ReadLimits, ReadSettings};
use crate::error::ConfigErrors;
use crate::resolve;
use crate::ss12000::Resource;

/// Declares a connector's config struct: its own fields as written, then
/// the shared reading keys (`school_units`, `page_size`, `resources`,
/// `deleted_entities`, `expand`, `requests_per_second`, `max_retries`,
/// `retry_budget_secs`, `max_pages`, `max_entities`, `max_response_bytes`,
/// `allow_insecure_http`, `timeout_secs`, `concurrency`, `ca_cert`), and
/// `api_read()`, the view [`ApiRead`] of them.
macro_rules! api_config {
    (
        $(#[$attr:meta])*
        pub struct $name:ident {
            $($(#[$fattr:meta])* pub $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$attr])*
        pub struct $name {
            $($(#[$fattr])* pub $field: $ty,)*
            /// Only read what belongs to these school units (school unit codes):
            /// the units (with their parents and sub-units), persons enrolled at or
            /// working at them, and their duties, groups and activities. Empty: all.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub school_units: Vec<String>,
            /// Entities per page (`limit`), 1–10 000 (default 100, what clients
            /// of EduCloud use). A server that refuses the page size with a
            /// `400` about `limit` is asked again with smaller pages (the
            /// maximum its message names, else half), with a warning.
            #[serde(default = "crate::api::config::default_page_size")]
            pub page_size: u32,
            /// Which list endpoints to read; default all seven.
            #[serde(default = "crate::ss12000::Resource::all")]
            pub resources: Vec<$crate::ss12000::Resource>,
            /// Read `/deletedEntities` on incremental reads, so removals in the
            /// source become deletes downstream (default true). Without it an
            /// incremental read could not see removals, so `false` makes every
            /// read a full read.
            #[serde(default = "crate::api::config::yes")]
            pub deleted_entities: bool,
            /// `expand` values per resource, e.g. `activities = ["syllabus"]`.
            /// Default: activities are expanded with their syllabus when
            /// `syllabuses` is not among `resources`.
            #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
            pub expand: ::std::collections::BTreeMap<String, Vec<String>>,
            /// Most requests per second (0: no limit).
            #[serde(default = "crate::api::config::default_rate")]
            pub requests_per_second: u32,
            /// Most retries of one request answered 429 or 5xx, or without an
            /// answer (default 50); `retry_budget_secs` usually ends retrying first.
            #[serde(default = "crate::api::config::default_retries")]
            pub max_retries: u32,
            /// How long one request is retried after 429, 5xx or a dropped
            /// connection, in seconds, waiting as `Retry-After` asks (default 300).
            /// A permanent error (401, 403, a certificate that does not verify) is
            /// never retried.
            #[serde(default = "crate::api::config::default_retry_budget")]
            pub retry_budget_secs: u64,
            /// Most pages read of one resource before the read ends with an error,
            /// a guard against a server that pages forever (default 100 000).
            #[serde(default = "crate::api::config::default_max_pages")]
            pub max_pages: u64,
            /// Most entities read of one resource before the read ends with an
            /// error (default 5 000 000).
            #[serde(default = "crate::api::config::default_max_entities")]
            pub max_entities: u64,
            /// Most response bytes read of one resource, all pages together, before
            /// the read ends with an error (default 2 GiB = 2147483648).
            #[serde(default = "crate::api::config::default_max_response_bytes")]
            pub max_response_bytes: u64,
            /// Allow credentials (a token, a client secret) to be sent over plain
            /// `http://` to a host that is not this machine (default false: only
            /// `https://`, or `http://` to 127.0.0.0/8, ::1 and localhost).
            #[serde(default)]
            pub allow_insecure_http: bool,
            /// Seconds one request (including reading its answer) may take.
            #[serde(default = "crate::api::config::default_timeout")]
            pub timeout_secs: u64,
            /// Listings read at the same time: a resource on a full read; on an
            /// incremental one each of a resource's two change filters and
            /// `/deletedEntities` count apart.
            #[serde(default = "crate::api::config::default_concurrency")]
            pub concurrency: usize,
            /// An extra CA certificate (PEM) to trust, for test environments with
            /// their own CA. Verification is never switched off.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub ca_cert: Option<::std::path::PathBuf>,
        }

        impl $name {
            /// The shared reading keys.
            pub(crate) fn api_read(&self) -> $crate::api::config::ApiRead<'_> {
                $crate::api::config::ApiRead {
                    school_units: &self.school_units,
                    page_size: self.page_size,
                    resources: &self.resources,
                    deleted_entities: self.deleted_entities,
                    expand: &self.expand,
                    requests_per_second: self.requests_per_second,
                    max_retries: self.max_retries,
                    retry_budget_secs: self.retry_budget_secs,
                    max_pages: self.max_pages,
                    max_entities: self.max_entities,
                    max_response_bytes: self.max_response_bytes,
                    allow_insecure_http: self.allow_insecure_http,
                    timeout_secs: self.timeout_secs,
                    concurrency: self.concurrency,
                    ca_cert: self.ca_cert.as_deref(),
                }
            }
        }
    };
}
pub(crate) use api_config;

/// The shared reading keys of one connector's config (see [`api_config!`]).
pub(crate) struct ApiRead<'a> {
    pub school_units: &'a [String],
    pub page_size: u32,
    pub resources: &'a [Resource],
    pub deleted_entities: bool,
    pub expand: &'a BTreeMap<String, Vec<String>>,
    pub requests_per_second: u32,
    pub max_retries: u32,
    pub retry_budget_secs: u64,
    pub max_pages: u64,
    pub max_entities: u64,
    pub max_response_bytes: u64,
    pub allow_insecure_http: bool,
    pub timeout_secs: u64,
    pub concurrency: usize,
    pub ca_cert: Option<&'a Path>,
}

/// A client certificate and its key, each with the key it was given under.
pub(crate) type ClientCert = ((String, PathBuf), (String, PathBuf));

impl ApiRead<'_> {
    /// Validates the shared keys together with the connector's own
    /// (`base_url`, authorisation, client certificate) and builds the
    /// settings the reader runs on; certificate files are resolved
    /// relative to `base_dir`.
    pub(crate) fn settings(
        &self,
        name: &'static str,
        base_url: &str,
        auth: AuthSettings,
        client_cert: Option<ClientCert>,
        base_dir: &Path,
    ) -> Result<ApiSettings, ConfigErrors> {
        ApiSettings::new(
            name,
            base_url,
            HttpSettings {
                auth,
                tls: TlsSettings {
                    ca_cert: self
                        .ca_cert
                        .map(|p| ("ca_cert".to_string(), resolve(base_dir, p))),
                    client_cert,
                },
                requests_per_second: Some(self.requests_per_second),
                max_retries: self.max_retries,
                retry_budget: Duration::from_secs(self.retry_budget_secs),
                timeout: Duration::from_secs(self.timeout_secs.max(1)),
                allow_insecure_http: self.allow_insecure_http,
            },
            ReadSettings {
                page_size: self.page_size,
                resources: self.resources,
                deleted_entities: self.deleted_entities,
                expand: self.expand,
                school_units: self.school_units,
                concurrency: self.concurrency,
                limits: ReadLimits {
                    max_pages: self.max_pages,
                    max_entities: self.max_entities,
                    max_response_bytes: self.max_response_bytes,
                },
            },
        )
    }
}

pub(crate) fn default_page_size() -> u32 {
    100
}
pub(crate) fn default_rate() -> u32 {
    20
}
pub(crate) fn default_retries() -> u32 {
    50
}
pub(crate) fn default_retry_budget() -> u64 {
    300
}
pub(crate) fn default_max_pages() -> u64 {
    100_000
}
pub(crate) fn default_max_entities() -> u64 {
    5_000_000
}
pub(crate) fn default_max_response_bytes() -> u64 {
    2 << 30
}
pub(crate) fn default_timeout() -> u64 {
    60
}
pub(crate) fn default_concurrency() -> usize {
    3
}
pub(crate) fn yes() -> bool {
    true
}
