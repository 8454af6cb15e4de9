//! `[sink]` with `kind = "ss12000-pull"`: Skolverket's pull method. The run
//! writes the DNP profile into the state store for `skolsync serve` to
//! serve, then notifies Skolverket's SS12000 client; the notification's
//! token comes from the authorisation server over mutual TLS, as the push
//! sink's does, so the certificate settings are the same.
//!
//! ```toml
//! [sink]
//! kind = "ss12000-pull"
//! environment = "verifieringstest"
//! client_cert = "/etc/skolsync/huvudman.crt"
//! client_key = "/etc/skolsync/huvudman.key"
//! ```

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::Secret;
use skolsync_model::sandbox::{Endpoints, Redirect};

use crate::skolverket::config::{Environment, SkolverketConfig};

/// The base URL of Skolverket's SS12000 client in an environment
/// (`environments.md`; a subscription's webhook target is
/// `{this}/webhooks/{urlId}`, and notification tokens are asked for it).
pub const fn ss12000_client_url(environment: Environment) -> &'static str {
    match environment {
        Environment::Production => "https://api.skolverket.se/provtjanst/ss12000/klient/v1",
        Environment::Verifieringstest => {
            "https://apigw-pre.skolverket.se/provtjanst/verifieringstest/ss12000/klient/v1"
        }
    }
}

/// Settings of the `ss12000-pull` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PullConfig {
    /// `production` or `verifieringstest`: sets `auth_url`, `client_url`
    /// and `open_data_url` to Skolverket's URLs; any of them given
    /// explicitly overrides the preset.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// Whether to notify subscribers (Skolverket's SS12000 client) after a
    /// run that changed the served data. Without notifications the client
    /// only sees changes when it fetches on its own. Default `true`; with
    /// `false` no certificate is needed.
    #[serde(default = "default_true")]
    pub notify: bool,
    /// The authorisation server (`https://nutid-auth.sunet.se/transaction`,
    /// or its base URL).
    #[serde(default)]
    pub auth_url: Option<String>,
    /// Where the authorisation server publishes its signing keys; default
    /// `/.well-known/jwks.json` at its base URL.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The base URL of Skolverket's SS12000 client: notification tokens are
    /// asked for this location (`ss12000-client` access). Subscriptions
    /// whose target is not under it are still notified (the target is the
    /// client's to choose), with a warning.
    #[serde(default)]
    pub client_url: Option<String>,
    /// The Open-data API base URL, handed to the transform when the
    /// pipeline names none.
    #[serde(default)]
    pub open_data_url: Option<String>,
    /// The huvudman's client certificate (PEM), with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The certificate and key as one PKCS#12 file instead.
    #[serde(default)]
    pub client_pkcs12: Option<PathBuf>,
    /// The PKCS#12 file's password (use `${env:NAME}` or `${file:PATH}`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client_pkcs12_password: Option<Secret>,
    /// The client's entity id in its TLS federation (`client.key`);
    /// default: the certificate's `cert#S256`.
    #[serde(default)]
    pub client_key_id: Option<String>,
    /// The huvudman's organisation number; when given, every access token
    /// must name it.
    #[serde(default)]
    pub organisation_number: Option<String>,
    /// An extra trusted root certificate (PEM), for a test environment or
    /// the sandbox. TLS verification is never switched off.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Pin of the authorisation server's public key (`sha256//…`).
    #[serde(default)]
    pub pinned_pubkey: Option<String>,
    /// Seconds a notification is retried (with backoff) before it is given
    /// up; every attempt is recorded. Skolverket's client does not say; the
    /// reference API tries four times. Default 300 (about five minutes).
    #[serde(default = "default_notify_retry_secs")]
    pub notify_retry_secs: u64,
    /// Seconds one HTTP call may take.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Seconds to establish a connection.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
}

impl Default for PullConfig {
    fn default() -> Self {
        PullConfig {
            environment: None,
            notify: true,
            auth_url: None,
            jwks_url: None,
            client_url: None,
            open_data_url: None,
            client_cert: None,
            client_key: None,
            client_pkcs12: None,
            client_pkcs12_password: None,
            client_key_id: None,
            organisation_number: None,
            ca_cert: None,
            pinned_pubkey: None,
            notify_retry_secs: default_notify_retry_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
        }
    }
}

impl PullConfig {
    /// The Open-data API this sink's environment implies, without a
    /// trailing `/`.
    pub fn open_data_url(&self) -> Option<String> {
        self.connection().open_data_url()
    }

    /// The SS12000 client's base URL: `client_url`, else the environment's.
    pub fn client_url(&self) -> Option<String> {
        SkolverketConfig::url_or_preset(
            self.client_url.as_deref(),
            ss12000_client_url,
            self.environment,
        )
        .map(|u| u.trim().trim_end_matches('/').to_string())
    }

    /// The connection settings as the push sink reads them: the same
    /// certificate and authorisation server, with the SS12000 client in
    /// place of the Provisioning API.
    pub(crate) fn connection(&self) -> SkolverketConfig {
        SkolverketConfig {
            environment: self.environment,
            auth_url: self.auth_url.clone(),
            jwks_url: self.jwks_url.clone(),
            provisioning_url: self.client_url(),
            open_data_url: self.open_data_url.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            client_pkcs12: self.client_pkcs12.clone(),
            client_pkcs12_password: self.client_pkcs12_password.clone(),
            client_key_id: self.client_key_id.clone(),
            organisation_number: self.organisation_number.clone(),
            ca_cert: self.ca_cert.clone(),
            pinned_pubkey: self.pinned_pubkey.clone(),
            request_timeout_secs: self.request_timeout_secs,
            connect_timeout_secs: self.connect_timeout_secs,
            ..SkolverketConfig::default()
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_notify_retry_secs() -> u64 {
    300
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_connect_timeout_secs() -> u64 {
    10
}

/// Points a pull `[sink]` at the sandbox: its authorisation server and
/// Open-data API, its emulated SS12000 client, the sandbox's client
/// certificate; every key naming a real environment, key or pin goes.
pub fn sandbox_redirect(e: &Endpoints) -> Redirect {
    Redirect::removing(&[
        "environment",
        "jwks_url",
        "client_pkcs12",
        "client_pkcs12_password",
        "client_key_id",
        "pinned_pubkey",
        "organisation_number",
    ])
    .set("auth_url", &e.auth_url)
    .set("client_url", &e.ss12000_client_url)
    .set("open_data_url", &e.open_data_url)
    .set("client_cert", &e.client_cert)
    .set("client_key", &e.client_key)
    .set("ca_cert", &e.ca_cert)
}
