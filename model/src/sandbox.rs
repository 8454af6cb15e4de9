//! Where the sandbox is, and how a component points at it.
//!
//! The sandbox (its own crate) emulates every remote system. A pipeline
//! run against it keeps its own settings — scope, paging, mappings, guards
//! — but every key that addresses or authenticates a service must name the
//! sandbox instead. Which keys those are is each component's knowledge, so
//! each component's config module says it as a [`Redirect`] built from the
//! sandbox's [`Endpoints`]; the engine only applies the redirects to the
//! pipeline file's sections. Both types live here because the sandbox and
//! the components depend on `model` and not on each other.

use serde::{Deserialize, Serialize};

/// Where everything is in a running sandbox: the URLs, credentials and
/// certificate paths a client needs. Serialised as the first line of
/// `skolsync sandbox --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    /// The authorisation server's base URL (POST `{auth_url}/transaction`).
    pub auth_url: String,
    /// The Provisioning API base URL.
    pub provisioning_url: String,
    /// The Open-data API base URL.
    pub open_data_url: String,
    /// EduCloud's SS 12000 base URL (`…/ss12000v2-api/source/{customerId}/v2.0`).
    pub educloud_url: String,
    /// EduCloud's OAuth2 token endpoint.
    pub educloud_token_url: String,
    /// EduCloud OAuth2 client id.
    pub client_id: String,
    /// EduCloud OAuth2 client secret.
    pub client_secret: String,
    /// The generic SS 12000 API base URL.
    pub ss12000_url: String,
    /// Its static bearer token.
    pub ss12000_token: String,
    /// Path of the client certificate (PEM).
    pub client_cert: String,
    /// Path of the client private key (PEM).
    pub client_key: String,
    /// Path of the CA certificate that signed the server and client certificates.
    pub ca_cert: String,
    /// The base URL of the emulated SS12000 client of Skolverket (the pull
    /// method): tokens for its webhooks are requested for this location, and
    /// its webhook targets live under it (`…/webhooks/{urlId}`).
    #[serde(default)]
    pub ss12000_client_url: String,
}

/// How one section of a pipeline file is pointed at the sandbox: the keys
/// to drop (they would address or authenticate the real service), then
/// the keys to set. A key may be dotted (`auth.token`): it is set inside
/// that sub-table, which is created when missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirect {
    /// Keys removed first.
    pub remove: Vec<&'static str>,
    /// Keys then set, with their values.
    pub set: Vec<(&'static str, String)>,
}

impl Redirect {
    /// A redirect that removes `remove` and sets nothing yet.
    pub fn removing(remove: &[&'static str]) -> Redirect {
        Redirect {
            remove: remove.to_vec(),
            set: Vec::new(),
        }
    }

    /// Also sets `key` to `value`.
    pub fn set(mut self, key: &'static str, value: &str) -> Redirect {
        self.set.push((key, value.to_string()));
        self
    }
}
