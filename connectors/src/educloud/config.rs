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

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::Secret;
use skolsync_model::sandbox::{Endpoints, Redirect};

use crate::api::config::api_config;
use crate::ss12000::config::TokenAuthStyle;

/// EduCloud's OAuth2 token endpoint.
pub const DEFAULT_TOKEN_URL: &str = "https://skolid.se/connect/token";

api_config! {
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
    }
}

fn default_token_url() -> String {
    DEFAULT_TOKEN_URL.to_string()
}

/// Points an EduCloud `[source]` at the sandbox's EduCloud: its URLs and
/// OAuth2 client instead of the organisation's.
pub fn sandbox_redirect(e: &Endpoints) -> Option<Redirect> {
    Some(
        Redirect::removing(&["org_identifier", "ca_cert"])
            .set("base_url", &e.educloud_url)
            .set("token_url", &e.educloud_token_url)
            .set("client_id", &e.client_id)
            .set("client_secret", &e.client_secret),
    )
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

    #[test]
    fn an_unknown_key_names_the_shared_keys_too() {
        // The pipeline loader suggests the closest key from serde's list.
        let err = toml::from_str::<EduCloudConfig>(
            "org_identifier = \"SE00100\"\nclient_id = \"i\"\nclient_secret = \"s\"\npage_sise = 5",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("page_sise"), "{err}");
        assert!(
            err.contains("`page_size`") && err.contains("`ca_cert`"),
            "{err}"
        );
    }
}
