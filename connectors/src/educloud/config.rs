//! The `[source]` section for `kind = "educloud"`: IST EduCloud.
//!
//! ```toml
//! [source]
//! kind = "educloud"
//! org_identifier = "SE00100"                 # or base_url = "https://…/v2.0"
//! client_id = "${env:EDUCLOUD_CLIENT_ID}"
//! client_secret = "${env:EDUCLOUD_CLIENT_SECRET}"
//! school_units = ["46165416"]                # optional
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::Secret;

use crate::ss12000::config::{
    Resource, TokenAuthStyle, default_concurrency, default_max_entities, default_max_pages,
    default_max_response_bytes, default_page_size, default_rate, default_retries,
    default_retry_budget, default_timeout, yes,
};

/// EduCloud's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://skolid.se/connect/token";

/// Reading IST EduCloud's SS 12000 v2 API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EduCloudConfig {
    /// The organisation's customer id (org identifier), e.g. `SE00100`; the
    /// API is then `https://api.ist.com/ss12000v2-api/source/{org}/v2.0`.
    /// Give this or `base_url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_identifier: Option<String>,
    /// The API's base URL, instead of `org_identifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret, e.g. `${env:EDUCLOUD_CLIENT_SECRET}`.
    #[schemars(with = "String")]
    pub client_secret: Secret,
    /// The token endpoint (default `https://skolid.se/connect/token`).
    #[serde(default = "default_token_url")]
    pub token_url: String,
    /// Scopes to ask for, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How the client authenticates at the token endpoint (default `form`).
    #[serde(default)]
    pub auth_style: TokenAuthStyle,
    /// Only read what belongs to these school units (school unit codes):
    /// the units (with their parents and sub-units), persons enrolled at or
    /// working at them, and their duties, groups and activities. Empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub school_units: Vec<String>,
    /// Entities per page (`limit`), 1–10 000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Which list endpoints to read; default all seven.
    #[serde(default = "Resource::all")]
    pub resources: Vec<Resource>,
    /// Read `/deletedEntities` on incremental reads (default true).
    #[serde(default = "yes")]
    pub deleted_entities: bool,
    /// `expand` values per resource, e.g. `activities = ["syllabus"]`.
    /// Default: activities are expanded with their syllabus when
    /// `syllabuses` is not among `resources`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expand: BTreeMap<String, Vec<String>>,
    /// Most requests per second (0: no limit).
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// Most retries of one request answered 429 or 5xx, or without an
    /// answer (default 50); `retry_budget_secs` usually ends retrying first.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// How long one request is retried after 429, 5xx or a dropped
    /// connection, in seconds, waiting as `Retry-After` asks (default 300).
    /// A permanent error (401, 403, a certificate that does not verify) is
    /// never retried.
    #[serde(default = "default_retry_budget")]
    pub retry_budget_secs: u64,
    /// Most pages read of one resource before the read ends with an error,
    /// a guard against a server that pages forever (default 100 000).
    #[serde(default = "default_max_pages")]
    pub max_pages: u64,
    /// Most entities read of one resource before the read ends with an
    /// error (default 5 000 000).
    #[serde(default = "default_max_entities")]
    pub max_entities: u64,
    /// Most response bytes read of one resource, all pages together, before
    /// the read ends with an error (default 2 GiB = 2147483648).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Allow credentials (a token, a client secret) to be sent over plain
    /// `http://` to a host that is not this machine (default false: only
    /// `https://`, or `http://` to 127.0.0.0/8, ::1 and localhost).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Seconds one request (including reading its answer) may take.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Resources read at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// An extra CA certificate (PEM) to trust, for test environments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

fn default_token_url() -> String {
    DEFAULT_TOKEN_URL.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_educloud() {
        let c: EduCloudConfig = toml::from_str(
            r#"
            org_identifier = "SE00100"
            client_id = "id"
            client_secret = "secret"
            "#,
        )
        .unwrap();
        assert_eq!(c.token_url, "https://skolid.se/connect/token");
        assert_eq!(c.auth_style, TokenAuthStyle::Form);
        assert!(!format!("{c:?}").contains("secret\""));
    }
}
