//! `[sink]` with `kind = "skolverket"`: which environment, the client
//! certificate, and how hard to push the service.
//!
//! ```toml
//! [sink]
//! kind = "skolverket"
//! environment = "verifieringstest"
//! client_cert = "/etc/skolsync/huvudman.crt"
//! client_key = "/etc/skolsync/huvudman.key"
//! client_key_id = "https://testhuvudman.se"   # default: the certificate's cert#S256
//! ```

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skolsync_model::Secret;
use skolsync_model::sandbox::{Endpoints, Redirect};

/// The default request-body limit: 200 000 bytes. CHANGELOG v1.3.1: "sänks
/// den maximala datamängden som kan överföras per anrop via
/// provisionerings-API från 1 MB till 200 KB per anrop". Not documented
/// whether a KB is 1000 or 1024 bytes, nor whether headers count; chosen:
/// 1000, the smaller reading, so a full batch is never refused either way
/// (a `413` below the limit still lowers it for the rest of the run).
pub const DEFAULT_MAX_BODY_BYTES: usize = 200_000;

/// Skolverket's environments (`environments.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Real data only.
    Production,
    /// Skolverket's verification environment for testing transfers; it
    /// takes tokens from the production authorisation server.
    Verifieringstest,
}

impl Environment {
    /// The authorisation server's transaction endpoint (the same for both).
    pub const fn auth_url(self) -> &'static str {
        "https://nutid-auth.sunet.se/transaction"
    }

    /// The Provisioning API base URL.
    pub const fn provisioning_url(self) -> &'static str {
        match self {
            Environment::Production => "https://api.skolverket.se/provtjanst/provisioning/v1",
            Environment::Verifieringstest => {
                "https://apigw-pre.skolverket.se/provtjanst/verifieringstest/provisioning/v1"
            }
        }
    }

    /// The Open-data API base URL.
    pub const fn open_data_url(self) -> &'static str {
        match self {
            Environment::Production => "https://api.skolverket.se/provtjanst/open-data/v1",
            Environment::Verifieringstest => {
                "https://apigw-pre.skolverket.se/provtjanst/verifieringstest/open-data/v1"
            }
        }
    }
}

/// Settings of the `skolverket` sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SkolverketConfig {
    /// `production` or `verifieringstest`: sets `auth_url`,
    /// `provisioning_url` and `open_data_url` to Skolverket's URLs. Any of
    /// the three given explicitly overrides the preset; without an
    /// environment all three are needed (`open_data_url` is optional).
    #[serde(default)]
    pub environment: Option<Environment>,
    /// The authorisation server: its transaction endpoint
    /// (`https://nutid-auth.sunet.se/transaction`) or its base URL, to which
    /// `/transaction` is added. Must be `https` (mutual TLS).
    #[serde(default)]
    pub auth_url: Option<String>,
    /// Where the authorisation server publishes its signing keys; default
    /// `/.well-known/jwks.json` at the authorisation server's base URL.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The Provisioning API base URL, e.g.
    /// `https://api.skolverket.se/provtjanst/provisioning/v1`. `http` is
    /// accepted only for loopback addresses (the sandbox).
    #[serde(default)]
    pub provisioning_url: Option<String>,
    /// The Open-data API base URL, handed to the transform when the pipeline
    /// names none.
    #[serde(default)]
    pub open_data_url: Option<String>,
    /// The huvudman's client certificate (PEM; the chain may follow the
    /// certificate in the same file). Goes with `client_key`.
    #[serde(default)]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key: Option<PathBuf>,
    /// The client certificate and key as one PKCS#12 file (`.p12`/`.pfx`),
    /// instead of `client_cert` + `client_key`.
    #[serde(default)]
    pub client_pkcs12: Option<PathBuf>,
    /// The PKCS#12 file's password (use `${env:NAME}` or `${file:PATH}`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub client_pkcs12_password: Option<Secret>,
    /// The client's entity id in its TLS federation's metadata, sent as
    /// `client.key` (e.g. `https://testhuvudman.se`). Without it the access
    /// request names the certificate itself:
    /// `{"proof": "mtls", "cert#S256": <fingerprint>}`, the fingerprint being
    /// computed from the certificate (base64 of SHA-256 over its DER).
    #[serde(default)]
    pub client_key_id: Option<String>,
    /// The huvudman's organisation number (`212000-0000`, `2120000000` or
    /// `SE2120000000`). When given, every access token must name it as its
    /// `organization_id`, so a certificate of another huvudman is caught
    /// before anything is sent. Default: not checked.
    #[serde(default)]
    pub organisation_number: Option<String>,
    /// An extra trusted root certificate (PEM) beside the built-in public
    /// roots, for a test environment or the sandbox. TLS verification is
    /// never switched off.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Pin of the authorisation server's public key, as curl's
    /// `--pinnedpubkey`: `sha256//<base64 of SHA-256 over the
    /// SubjectPublicKeyInfo>`; several may be given separated by `;`. Checked
    /// in addition to normal certificate verification.
    #[serde(default)]
    pub pinned_pubkey: Option<String>,
    /// Largest request body to send, in bytes. The service refuses bodies
    /// over 200 KB with `413`; the default is 200 000. A `413` below this
    /// limit lowers it for the rest of the run.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Bulk and job-status calls per second allowed per client (the
    /// service's limit is 5). Calls are spaced slightly wider than this so
    /// network jitter never bunches six into one second.
    #[serde(default = "default_bulk_per_second")]
    pub bulk_per_second: u32,
    /// Read calls per second allowed per client (the service's limit is 10).
    #[serde(default = "default_read_per_second")]
    pub read_per_second: u32,
    /// Calls that may be under way at once (the rate limit still applies);
    /// more hides network latency.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// How many times an entity is sent before it ends as `Error` when the
    /// service's job answers `TemporaryError` for it. An entity the job's
    /// status does not list yet is waited for (`job_deadline_secs`), never
    /// sent again. Failed calls are governed by `retry_budget_secs` instead.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Seconds of transient trouble a call waits out before the run stops:
    /// `429`, `408`, 5xx answers, timeouts and dropped connections, at the
    /// Provisioning API or the authorisation server, are repeated after the
    /// server's `Retry-After` (or a backoff) for as long as that call's
    /// trouble has lasted less than this. Past it the run stops cleanly:
    /// what was confirmed is kept, every other entity ends `Error` with
    /// "retry budget exhausted". A TLS certificate that does not verify,
    /// `401` and `403` are never repeated.
    #[serde(default = "default_retry_budget_secs")]
    pub retry_budget_secs: u64,
    /// Seconds a bulk job may stay incomplete — some entity it carried not
    /// yet listed with a final status — before those entities end as
    /// `Error` (a later run sends them again).
    #[serde(default = "default_job_deadline_secs")]
    pub job_deadline_secs: u64,
    /// Seconds one HTTP call may take, answer included.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Seconds to establish a connection.
    #[serde(default = "default_connect_timeout_secs")]
    pub connect_timeout_secs: u64,
}

impl Default for SkolverketConfig {
    fn default() -> Self {
        SkolverketConfig {
            environment: None,
            auth_url: None,
            jwks_url: None,
            provisioning_url: None,
            open_data_url: None,
            client_cert: None,
            client_key: None,
            client_pkcs12: None,
            client_pkcs12_password: None,
            client_key_id: None,
            organisation_number: None,
            ca_cert: None,
            pinned_pubkey: None,
            max_body_bytes: default_max_body_bytes(),
            bulk_per_second: default_bulk_per_second(),
            read_per_second: default_read_per_second(),
            max_in_flight: default_max_in_flight(),
            max_attempts: default_max_attempts(),
            retry_budget_secs: default_retry_budget_secs(),
            job_deadline_secs: default_job_deadline_secs(),
            request_timeout_secs: default_request_timeout_secs(),
            connect_timeout_secs: default_connect_timeout_secs(),
        }
    }
}

impl SkolverketConfig {
    /// A URL setting as given, else the environment's preset; blank counts
    /// as not given.
    pub(crate) fn url_or_preset(
        explicit: Option<&str>,
        preset: impl FnOnce(Environment) -> &'static str,
        environment: Option<Environment>,
    ) -> Option<String> {
        explicit
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
            .or_else(|| environment.map(preset).map(str::to_string))
    }

    /// The Open-data API this sink's environment implies (`open_data_url`,
    /// else the environment's), without a trailing `/`; for a transform that
    /// names none. Checked when the sink is built.
    pub fn open_data_url(&self) -> Option<String> {
        Self::url_or_preset(
            self.open_data_url.as_deref(),
            Environment::open_data_url,
            self.environment,
        )
        .map(|u| u.trim().trim_end_matches('/').to_string())
    }
}

fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}

fn default_bulk_per_second() -> u32 {
    5
}

fn default_read_per_second() -> u32 {
    10
}

fn default_max_in_flight() -> usize {
    4
}

fn default_max_attempts() -> u32 {
    5
}

/// Five minutes: a gateway restart or a 429 storm, not an outage of hours.
pub const DEFAULT_RETRY_BUDGET_SECS: u64 = 300;

fn default_retry_budget_secs() -> u64 {
    DEFAULT_RETRY_BUDGET_SECS
}

fn default_job_deadline_secs() -> u64 {
    30 * 60
}

fn default_request_timeout_secs() -> u64 {
    60
}

fn default_connect_timeout_secs() -> u64 {
    10
}

/// Points a Skolverket `[sink]` at the sandbox's authorisation server,
/// Provisioning and Open-data APIs, with the sandbox's client certificate;
/// every key naming a real environment, key or pin goes.
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
    .set("provisioning_url", &e.provisioning_url)
    .set("open_data_url", &e.open_data_url)
    .set("client_cert", &e.client_cert)
    .set("client_key", &e.client_key)
    .set("ca_cert", &e.ca_cert)
}
