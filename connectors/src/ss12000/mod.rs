//! `kind = "ss12000"`: any SS 12000 v2 API (Tieto Edu, Vklass, Edlevo,
//! Skolverket's reference API, …). The reading itself (incremental reads
//! included) and the `/subscriptions` endpoints are shared with EduCloud
//! and live in `crate::api`; this component validates its config section
//! and chooses the authorisation.

pub mod config;

pub use config::{BearerAuth, OAuth2Auth, Resource, Ss12000Auth, Ss12000Config, TokenAuthStyle};

use crate::api::ApiSource;
use crate::api::http::AuthSettings;
use crate::error::{ConfigError, ConfigErrors};
use crate::resolve;
use std::sync::Arc;

use crate::source::{BatchStream, ReadOptions, Source};
use crate::subscription::Subscriptions;
use skolsync_model::BuildContext;

/// A built SS 12000 API source.
pub struct Ss12000Source {
    api: ApiSource,
}

impl Ss12000Source {
    /// Validates `config` and sets up the HTTP client (reading certificate
    /// files relative to `base_dir`).
    pub fn new(config: &Ss12000Config, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let base_dir = ctx.base_dir();
        let mut problems = ConfigErrors::new();
        let auth = match &config.auth {
            Ss12000Auth::None => AuthSettings::None,
            Ss12000Auth::Bearer(b) => {
                if b.token.expose().trim().is_empty() {
                    problems.push(ConfigError::invalid("auth.token", "is empty"));
                }
                AuthSettings::Bearer(b.token.clone())
            }
            Ss12000Auth::Oauth2(o) => {
                if o.client_id.trim().is_empty() {
                    problems.push(ConfigError::invalid("auth.client_id", "is empty"));
                }
                if o.client_secret.expose().is_empty() {
                    problems.push(ConfigError::invalid("auth.client_secret", "is empty"));
                }
                AuthSettings::OAuth2 {
                    token_url: o.token_url.clone(),
                    client_id: o.client_id.clone(),
                    client_secret: o.client_secret.clone(),
                    scope: o.scope.clone(),
                    basic_auth: o.auth_style == TokenAuthStyle::Basic,
                }
            }
        };
        let both = "missing: mutual TLS needs both client_cert and client_key";
        let client_cert = match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => Some((
                ("client_cert".to_string(), resolve(base_dir, cert)),
                ("client_key".to_string(), resolve(base_dir, key)),
            )),
            (None, None) => None,
            (Some(_), None) => {
                problems.push(ConfigError::invalid("client_key", both));
                None
            }
            (None, Some(_)) => {
                problems.push(ConfigError::invalid("client_cert", both));
                None
            }
        };
        let settings = problems.take(config.api_read().settings(
            "ss12000",
            &config.base_url,
            auth,
            client_cert,
            base_dir,
        ));
        Ok(Ss12000Source {
            api: ApiSource::checked(settings, problems)?,
        })
    }
}

impl Source for Ss12000Source {
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
