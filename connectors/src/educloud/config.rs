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
    Resource, TokenAuthStyle, default_concurrency, default_page_size, default_rate,
    default_retries, default_timeout, yes,
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
    /// Retries of a request answered 429 or 5xx, or without an answer.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
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
