//! `kind = "educloud"`: IST EduCloud's SS 12000 v2 API with OAuth2 client
//! credentials at `skolid.se`. The API is built from the org identifier
//! (`https://api.ist.com/ss12000v2-api/source/{org}/v2.0`) unless a
//! `base_url` is given; the reading (incremental reads included) and the
//! `/subscriptions` endpoints are shared with `ss12000` (`crate::api`).

pub mod config;

pub use config::{DEFAULT_TOKEN_URL, EduCloudConfig};

use crate::api::ApiSource;
use crate::api::http::AuthSettings;
use crate::error::{ConfigError, ConfigErrors};
use std::sync::Arc;

use crate::source::{BatchStream, ReadOptions, Source};
use crate::ss12000::TokenAuthStyle;
use crate::subscription::Subscriptions;
use skolsync_model::BuildContext;

/// The EduCloud API of an organisation.
pub fn base_url_for(org_identifier: &str) -> String {
    format!("https://api.ist.com/ss12000v2-api/source/{org_identifier}/v2.0")
}

/// A built EduCloud source.
pub struct EduCloudSource {
    api: ApiSource,
}

impl EduCloudSource {
    /// Validates `config` and sets up the HTTP client.
    pub fn new(config: &EduCloudConfig, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let base_dir = ctx.base_dir();
        let mut problems = ConfigErrors::new();
        let base_url = problems.take(base_url(config));
        if config.client_id.trim().is_empty() {
            problems.push(ConfigError::invalid("client_id", "is empty"));
        }
        if config.client_secret.expose().is_empty() {
            problems.push(ConfigError::invalid("client_secret", "is empty"));
        }
        // Without a base URL the API settings cannot be checked.
        let settings = base_url.and_then(|base_url| {
            problems.take(config.api_read().settings(
                "educloud",
                &base_url,
                AuthSettings::OAuth2 {
                    token_url: config.token_url.clone(),
                    client_id: config.client_id.clone(),
                    client_secret: config.client_secret.clone(),
                    scope: config.scope.clone(),
                    basic_auth: config.auth_style == TokenAuthStyle::Basic,
                },
                None,
                base_dir,
            ))
        });
        Ok(EduCloudSource {
            api: ApiSource::checked(settings, problems)?,
        })
    }
}

/// The API's base URL: `base_url`, or the one `org_identifier` implies.
fn base_url(config: &EduCloudConfig) -> Result<String, ConfigError> {
    match (&config.base_url, &config.org_identifier) {
        (Some(url), None) => Ok(url.clone()),
        (None, Some(org)) => {
            let org = org.trim();
            if org.is_empty()
                || !org
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::invalid(
                    "org_identifier",
                    format!("`{org}` is not an org identifier such as SE00100"),
                ));
            }
            Ok(base_url_for(org))
        }
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            "org_identifier",
            "give either org_identifier or base_url, not both",
        )),
        (None, None) => Err(ConfigError::invalid(
            "org_identifier",
            "missing: give org_identifier (e.g. \"SE00100\") or base_url",
        )),
    }
}

impl Source for EduCloudSource {
    fn describe(&self) -> String {
        self.api.describe()
    }

    fn read(&self, options: ReadOptions) -> BatchStream {
        self.api.read(options)
    }

    fn reads_incrementally(&self) -> bool {
        self.api.reads_incrementally()
    }

    fn subscriptions(&self) -> Option<Arc<dyn Subscriptions>> {
        Some(self.api.subscriptions())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> EduCloudConfig {
        toml::from_str(&format!(
            "client_id = \"id\"\nclient_secret = \"s\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn the_url_is_built_from_the_org_identifier() {
        let source = EduCloudSource::new(
            &config("org_identifier = \"SE00100\""),
            &BuildContext::new("."),
        )
        .unwrap();
        assert_eq!(
            source.describe(),
            "educloud https://api.ist.com/ss12000v2-api/source/SE00100/v2.0"
        );
    }

    #[test]
    fn org_identifier_or_base_url_is_required_and_checked() {
        let err = |extra: &str| {
            EduCloudSource::new(&config(extra), &BuildContext::new("."))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err("").contains("org_identifier"));
        assert!(err("org_identifier = \"SE/../x\"").contains("not an org identifier"));
        assert!(
            err("org_identifier = \"SE1\"\nbase_url = \"https://x/v2.0\"").contains("not both")
        );
    }

    #[test]
    fn every_problem_of_the_section_is_reported_at_once() {
        let config: EduCloudConfig = toml::from_str(
            "org_identifier = \"SE00100\"\nclient_id = \" \"\nclient_secret = \"\"\npage_size = 0\nconcurrency = 0\n",
        )
        .unwrap();
        let text = EduCloudSource::new(&config, &BuildContext::new("."))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.starts_with("4 problems:"), "{text}");
        for key in ["client_id", "client_secret", "page_size", "concurrency"] {
            assert!(
                text.contains(&format!("source.{key}:")),
                "{key} missing: {text}"
            );
        }
    }
}
