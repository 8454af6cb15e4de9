//! The `[source]` section for `kind = "ss12000"`: any SS 12000 v2 API.
//!
//! ```toml
//! [source]
//! kind = "ss12000"
//! base_url = "https://skolsystem.example/ss12000/v2.0"
//! page_size = 500
//! [source.auth]
//! type = "oauth2"            # none | bearer | oauth2
//! token_url = "https://skolsystem.example/oauth/token"
//! client_id = "${env:SS12000_CLIENT_ID}"
//! client_secret = "${env:SS12000_CLIENT_SECRET}"
//! ```
//!
//! Mutual TLS is `client_cert` + `client_key`, alone (`auth.type = "none"`)
//! or together with a token, as vendors require.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::Secret;
use skolsync_model::sandbox::{Endpoints, Redirect};
use skolsync_model::ss12000::EntityKind;

use crate::api::config::api_config;

api_config! {
    /// Reading any SS 12000 v2 API.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Ss12000Config {
        /// The API's base URL, up to and including the version, e.g.
        /// `https://skolsystem.example/ss12000/v2.0`.
        pub base_url: String,
        /// How requests are authorised (default: none).
        #[serde(default)]
        pub auth: Ss12000Auth,
        /// Client certificate (PEM) for mutual TLS; needs `client_key`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client_cert: Option<PathBuf>,
        /// Private key (PEM) of `client_cert`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub client_key: Option<PathBuf>,
    }
}

/// How requests to an SS 12000 API are authorised.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Ss12000Auth {
    /// No token (an open API, or mutual TLS alone).
    #[default]
    None,
    /// A static bearer token.
    Bearer(BearerAuth),
    /// OAuth2 client credentials.
    Oauth2(OAuth2Auth),
}

/// A static bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BearerAuth {
    /// The token, e.g. `${env:SS12000_TOKEN}`.
    #[schemars(with = "String")]
    pub token: Secret,
}

/// OAuth2 client credentials grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Auth {
    /// The token endpoint.
    pub token_url: String,
    /// The client id.
    pub client_id: String,
    /// The client secret, e.g. `${env:SS12000_CLIENT_SECRET}`.
    #[schemars(with = "String")]
    pub client_secret: Secret,
    /// Scopes to ask for, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// How the client authenticates at the token endpoint.
    #[serde(default)]
    pub auth_style: TokenAuthStyle,
}

/// Where the client credentials go in a token request (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuthStyle {
    /// `client_id` and `client_secret` as form fields.
    #[default]
    Form,
    /// HTTP Basic authentication.
    Basic,
}

/// An SS 12000 list endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// `/organisations`.
    Organisations,
    /// `/persons`.
    Persons,
    /// `/duties`.
    Duties,
    /// `/groups`.
    Groups,
    /// `/activities`.
    Activities,
    /// `/syllabuses`.
    Syllabuses,
    /// `/programmes`.
    Programmes,
}

impl Resource {
    /// Every resource.
    pub fn all() -> Vec<Resource> {
        vec![
            Resource::Organisations,
            Resource::Persons,
            Resource::Duties,
            Resource::Groups,
            Resource::Activities,
            Resource::Syllabuses,
            Resource::Programmes,
        ]
    }

    /// The entity type it lists.
    pub fn kind(self) -> EntityKind {
        match self {
            Resource::Organisations => EntityKind::Organisation,
            Resource::Persons => EntityKind::Person,
            Resource::Duties => EntityKind::Duty,
            Resource::Groups => EntityKind::Group,
            Resource::Activities => EntityKind::Activity,
            Resource::Syllabuses => EntityKind::Syllabus,
            Resource::Programmes => EntityKind::Programme,
        }
    }
}

/// Points an SS 12000 `[source]` at the sandbox's generic SS 12000 API:
/// its URL and static bearer token; the client certificate goes.
pub fn sandbox_redirect(e: &Endpoints) -> Option<Redirect> {
    Some(
        Redirect::removing(&["client_cert", "client_key", "ca_cert", "auth"])
            .set("base_url", &e.ss12000_url)
            .set("auth.type", "bearer")
            .set("auth.token", &e.ss12000_token),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_minimal_and_a_full_section() {
        let c: Ss12000Config = toml::from_str(r#"base_url = "https://x/v2.0""#).unwrap();
        assert_eq!(c.auth, Ss12000Auth::None);
        assert_eq!(c.page_size, 100);
        assert_eq!(c.resources.len(), 7);
        assert_eq!(
            (c.retry_budget_secs, c.max_pages, c.max_entities),
            (300, 100_000, 5_000_000)
        );
        assert_eq!(c.max_response_bytes, 2_147_483_648);
        assert!(!c.allow_insecure_http);
        let c: Ss12000Config = toml::from_str(
            r#"
            base_url = "https://x/v2.0"
            resources = ["persons", "groups"]
            client_cert = "c.pem"
            client_key = "k.pem"
            [auth]
            type = "oauth2"
            token_url = "https://x/token"
            client_id = "id"
            client_secret = "s"
            auth_style = "basic"
            "#,
        )
        .unwrap();
        assert!(matches!(&c.auth, Ss12000Auth::Oauth2(o) if o.auth_style == TokenAuthStyle::Basic));
        assert_eq!(c.resources, vec![Resource::Persons, Resource::Groups]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Ss12000Config>("base_url = \"x\"\npagesize = 5")
            .unwrap_err()
            .to_string();
        assert!(err.contains("pagesize"), "{err}");
        let err = toml::from_str::<Ss12000Config>(
            "base_url = \"x\"\n[auth]\ntype = \"bearer\"\ntoken = \"t\"\nextra = 1",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("extra"), "{err}");
    }
}
