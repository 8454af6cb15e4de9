//! The `skolverket` sink: Skolverket's Provisioning API (provtjänst).
//!
//! - [`config`]: the `[sink]` settings and the environments' URLs.
//! - [`tls`]: client certificate (PEM or PKCS#12), `cert#S256`, roots, pin.
//! - [`auth`]: access tokens from the authorisation server, verified.
//! - [`rate`]: pacing under the per-client call limits.
//! - [`retry`]: waiting out transient trouble within a time budget.
//! - [`api`]: one reliable call (429, token renewal, retries).
//! - [`batch`]: packing entities by bytes.
//! - [`readback`]: job statuses and LogEntries, read entity by entity.
//! - [`apply`]: order, gating, jobs and outcomes.
//!
//! [`SkolverketSink::new`] checks the settings and reads the certificates;
//! nothing goes over the network until [`crate::Sink::apply`],
//! [`crate::Sink::check`] or [`SkolverketSink::read_all`].

pub mod api;
pub mod apply;
pub mod auth;
pub mod batch;
pub mod config;
pub mod rate;
pub mod readback;
pub mod retry;
pub mod tls;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;
use serde::Serialize;
use serde::de::DeserializeOwned;
use skolsync_model::ObjectType;
use skolsync_model::plan::Plan;
use skolsync_model::provtjanst::{
    Activity, Duty, Group, IdLookup, PAGE_LIMIT_MAX, Page, Payload, Person, PersonLookup,
    from_json, path_segment,
};
use uuid::Uuid;

use self::api::{Api, Call, CallError, CallKind};
use self::apply::{RunSettings, Runner};
use self::auth::{AuthSettings, ClientKey, TokenProvider};
use self::config::{Environment, SkolverketConfig};
use self::tls::{ClientIdentity, Pins};
use crate::error::{ConfigError, ConfigErrors, SinkError};
use crate::summary::{ApplySummary, CheckReport};
use crate::{OutcomeCallback, Sink};
use skolsync_model::BuildContext;

/// Ids per `POST /x/lookup` call.
const LOOKUP_CHUNK: usize = 100;

/// What the service holds of one type ([`SkolverketSink::read_all`]), as read
/// (with the read-only `meta` and `provisioningStatus`; clear them with
/// [`Payload::clear_read_only`] before hashing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Resources {
    /// Persons, complete (listed, then fetched by id).
    Persons(Vec<Person>),
    /// Duties.
    Duties(Vec<Duty>),
    /// Groups.
    Groups(Vec<Group>),
    /// Activities.
    Activities(Vec<Activity>),
}

impl Resources {
    /// How many resources.
    pub fn len(&self) -> usize {
        match self {
            Resources::Persons(v) => v.len(),
            Resources::Duties(v) => v.len(),
            Resources::Groups(v) => v.len(),
            Resources::Activities(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The resolved URLs.
#[derive(Debug, Clone)]
pub(crate) struct Urls {
    pub(crate) transaction: String,
    pub(crate) jwks: String,
    pub(crate) issuer: String,
    /// The API the tokens are for (the Provisioning API, or the SS12000
    /// client for the pull sink's notifications).
    pub(crate) provisioning: String,
}

/// A sink that provisions into Skolverket's provtjänst.
#[derive(Debug)]
pub struct SkolverketSink {
    api: Api,
    urls: Urls,
    settings: RunSettings,
    client_identity: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// Parses a URL setting: `https`, or `http` on loopback when allowed.
fn parse_url(field: &'static str, text: &str, http_on_loopback: bool) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim())
        .map_err(|e| invalid(field, format!("`{text}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if http_on_loopback && is_loopback(&url) => Ok(url),
        "http" if http_on_loopback => Err(invalid(
            field,
            format!("`{text}`: plain http is only allowed on this machine (loopback); use https"),
        )),
        other => Err(invalid(
            field,
            format!("`{text}`: scheme `{other}` is not allowed; use https"),
        )),
    }
}

impl Urls {
    /// The URLs `config` names or its environment implies, checked.
    fn resolve(config: &SkolverketConfig) -> Result<Urls, ConfigError> {
        let env = config.environment;
        let auth =
            SkolverketConfig::url_or_preset(config.auth_url.as_deref(), Environment::auth_url, env)
                .ok_or_else(|| {
                    invalid(
                        "auth_url",
                        "set `environment` (production or verifieringstest) or `auth_url`",
                    )
                })?;
        let provisioning = SkolverketConfig::url_or_preset(
            config.provisioning_url.as_deref(),
            Environment::provisioning_url,
            env,
        )
        .ok_or_else(|| {
            invalid(
                "provisioning_url",
                "set `environment` (production or verifieringstest) or `provisioning_url`",
            )
        })?;
        let open_data = config.open_data_url();

        // The authorisation server is always TLS: the client certificate is
        // how the huvudman proves who it is.
        let auth = parse_url("auth_url", &auth, false)?;
        let provisioning = parse_url("provisioning_url", &provisioning, true)?;
        if let Some(url) = &open_data {
            parse_url("open_data_url", url, true)?;
        }
        let auth_text = trimmed(&auth);
        let (issuer, transaction) = match auth_text.strip_suffix("/transaction") {
            Some(base) => (base.to_string(), auth_text.clone()),
            None => (auth_text.clone(), format!("{auth_text}/transaction")),
        };
        let jwks = match &config.jwks_url {
            Some(url) => trimmed(&parse_url("jwks_url", url, false)?),
            None => format!("{issuer}/.well-known/jwks.json"),
        };
        Ok(Urls {
            transaction,
            jwks,
            issuer,
            provisioning: trimmed(&provisioning),
        })
    }
}

fn trimmed(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// The numeric settings are within their bounds.
fn check_limits(config: &SkolverketConfig, problems: &mut ConfigErrors) {
    if config.max_body_bytes < 1024 {
        problems.push(invalid("max_body_bytes", "must be at least 1024"));
    }
    for (field, value) in [
        ("bulk_per_second", config.bulk_per_second),
        ("read_per_second", config.read_per_second),
        ("max_attempts", config.max_attempts),
    ] {
        if value == 0 {
            problems.push(invalid(field, "must be at least 1"));
        }
    }
    if config.max_in_flight == 0 {
        problems.push(invalid("max_in_flight", "must be at least 1"));
    }
    for (field, value) in [
        ("job_deadline_secs", config.job_deadline_secs),
        ("request_timeout_secs", config.request_timeout_secs),
        ("connect_timeout_secs", config.connect_timeout_secs),
        ("retry_budget_secs", config.retry_budget_secs),
    ] {
        if value == 0 {
            problems.push(invalid(field, "must be at least 1 second"));
        }
    }
}

/// The huvudman's client certificate: PEM certificate and key, or PKCS#12.
fn client_identity(
    config: &SkolverketConfig,
    ctx: &BuildContext,
) -> Result<ClientIdentity, ConfigError> {
    let resolve = |p: &std::path::PathBuf| ctx.resolve(p);
    match (
        &config.client_cert,
        &config.client_key,
        &config.client_pkcs12,
    ) {
        (Some(cert), Some(key), None) => {
            ClientIdentity::from_pem_files(&resolve(cert), &resolve(key))
        }
        (None, None, Some(p12)) => {
            ClientIdentity::from_pkcs12(&resolve(p12), config.client_pkcs12_password.as_ref())
        }
        (None, None, None) => Err(invalid(
            "client_cert",
            "the huvudman's client certificate is required: set `client_cert` and `client_key` (PEM) or `client_pkcs12`",
        )),
        (Some(_), None, None) => Err(invalid("client_key", "`client_cert` needs `client_key`")),
        (None, Some(_), None) => Err(invalid("client_cert", "`client_key` needs `client_cert`")),
        _ => Err(invalid(
            "client_pkcs12",
            "give either `client_cert` + `client_key` or `client_pkcs12`, not both",
        )),
    }
}

/// What talking to Skolverket takes, built from a `[sink]` section: the
/// checked URLs, the client certificate, a token provider for one access
/// type, and an HTTP client for the API the tokens are for. The push sink
/// builds one for `provisioning-api`; the pull sink's notifier one for
/// `ss12000-client` (its `provisioning_url` is then the SS12000 client's
/// base URL).
#[derive(Debug)]
pub(crate) struct Connection {
    /// The checked URLs.
    pub urls: Urls,
    /// Access tokens, fetched over mutual TLS and verified.
    pub tokens: Arc<TokenProvider>,
    /// For calls to the API the tokens are for (server-verified TLS only).
    pub api_http: reqwest::Client,
    /// The identity the access request names (entity id or `cert#S256`).
    pub client_identity: String,
}

impl Connection {
    /// Checks the connection settings of `config` (every problem at once,
    /// `problems` also receiving the caller's own), reads the certificates
    /// and builds the clients.
    pub(crate) fn new(
        config: &SkolverketConfig,
        ctx: &BuildContext,
        access_type: &'static str,
        mut problems: ConfigErrors,
    ) -> Result<Connection, ConfigErrors> {
        let urls = problems.take(Urls::resolve(config));
        let identity = problems.take(client_identity(config, ctx));
        if config.client_pkcs12_password.is_some() && config.client_pkcs12.is_none() {
            problems.push(invalid(
                "client_pkcs12_password",
                "is only used with `client_pkcs12`",
            ));
        }
        let extra_roots = problems.take(match &config.ca_cert {
            Some(path) => tls::load_certificates("ca_cert", &ctx.resolve(path)),
            None => Ok(Vec::new()),
        });
        let pins = problems.take(config.pinned_pubkey.as_deref().map(Pins::parse).transpose());
        if config
            .client_key_id
            .as_ref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problems.push(invalid("client_key_id", "is empty"));
        }
        let organisation_number = match config.organisation_number.as_deref() {
            None => None,
            Some(text) => {
                let digits = auth::organisation_digits(text);
                if digits.is_none() {
                    problems.push(invalid(
                        "organisation_number",
                        format!(
                            "`{text}` is not an organisation number: ten digits, as `212000-0000`, `2120000000` or `SE2120000000`"
                        ),
                    ));
                }
                digits
            }
        };
        let (Some(urls), Some(identity), Some(extra_roots), Some(pins)) =
            (urls, identity, extra_roots, pins)
        else {
            return Err(problems);
        };
        problems.check()?;
        let client_key = match &config.client_key_id {
            Some(id) => ClientKey::EntityId(id.trim().to_string()),
            None => ClientKey::Certificate(identity.fingerprint.clone()),
        };
        let timeout = Duration::from_secs(config.request_timeout_secs);
        let connect_timeout = Duration::from_secs(config.connect_timeout_secs);
        let http = |tls: rustls::ClientConfig| {
            reqwest::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(timeout)
                .connect_timeout(connect_timeout)
                .user_agent(concat!("skolsync/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| ConfigError::Tls(e.to_string()))
        };
        let auth_http = http(tls::client_config(
            Some(&identity),
            &extra_roots,
            pins.as_ref(),
        )?)?;
        let api_http = http(tls::client_config(None, &extra_roots, None)?)?;

        let client_identity = client_key.identity().to_string();
        let tokens = Arc::new(TokenProvider::new(
            auth_http,
            AuthSettings {
                transaction_url: urls.transaction.clone(),
                jwks_url: urls.jwks.clone(),
                issuer: urls.issuer.clone(),
                provisioning_url: urls.provisioning.clone(),
                access_type,
                client_key,
                organisation_number,
            },
        ));
        Ok(Connection {
            urls,
            tokens,
            api_http,
            client_identity,
        })
    }
}

impl SkolverketSink {
    /// Checks the settings (reporting every problem at once), reads the
    /// certificates and builds the clients. Relative paths are taken from
    /// the context's folder.
    pub fn new(config: &SkolverketConfig, ctx: &BuildContext) -> Result<Self, ConfigErrors> {
        let mut problems = ConfigErrors::new();
        check_limits(config, &mut problems);
        let Connection {
            urls,
            tokens,
            api_http,
            client_identity,
        } = Connection::new(config, ctx, auth::PROVISIONING_ACCESS_TYPE, problems)?;
        let pacers = rate::pacers_for(
            &client_identity,
            &urls.provisioning,
            config.bulk_per_second,
            config.read_per_second,
        );
        let api = Api::new(
            api_http,
            urls.provisioning.clone(),
            tokens,
            pacers,
            Duration::from_secs(config.retry_budget_secs),
        );
        Ok(SkolverketSink {
            api,
            urls,
            settings: RunSettings {
                max_in_flight: config.max_in_flight,
                max_attempts: config.max_attempts,
                job_deadline: Duration::from_secs(config.job_deadline_secs),
                body_limit: config.max_body_bytes,
            },
            client_identity,
        })
    }

    /// The Provisioning API base URL.
    pub fn provisioning_url(&self) -> &str {
        &self.urls.provisioning
    }

    /// The identity the access request names (entity id or `cert#S256`).
    pub fn client_identity(&self) -> &str {
        &self.client_identity
    }

    fn http_error(&self, method: &str, path: &str, error: CallError) -> SinkError {
        let status = match &error {
            CallError::TooLarge { .. } => Some(413),
            CallError::Refused { status, .. } => Some(*status),
            CallError::Fatal { status, .. } => *status,
            CallError::Exhausted { .. } => None,
        };
        self.http(method, path, status, error.message())
    }

    fn http(&self, method: &str, path: &str, status: Option<u16>, message: String) -> SinkError {
        SinkError::Http {
            method: method.to_string(),
            url: format!("{}{path}", self.urls.provisioning),
            status,
            message,
        }
    }

    /// One read call and its JSON answer.
    async fn read<R: DeserializeOwned>(&self, call: &Call) -> Result<R, SinkError> {
        let method = call.method.as_str();
        let reply = self
            .api
            .call(call)
            .await
            .map_err(|e| self.http_error(method, &call.path, e))?;
        from_json(&String::from_utf8_lossy(&reply.body))
            .map_err(|e| self.http(method, &call.path, Some(reply.status), e.to_string()))
    }

    /// Every resource of `T` the service holds: the list endpoint page by
    /// page (`limit` 100, `pageToken` until `null`), at the read limit.
    pub async fn list<T: Payload>(&self) -> Result<Vec<T>, SinkError> {
        let path = format!("/{}", path_segment(T::KIND));
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut call = Call::get(path.clone(), CallKind::Read);
            call.query.push(("limit", PAGE_LIMIT_MAX.to_string()));
            if let Some(t) = &token {
                call.query.push(("pageToken", t.clone()));
            }
            let page: Page<T> = self.read(&call).await?;
            out.extend(page.data);
            match page.page_token {
                Some(next) if !next.is_empty() && token.as_deref() != Some(next.as_str()) => {
                    token = Some(next);
                }
                _ => return Ok(out),
            }
        }
    }

    /// The resources of `T` with these ids (`POST /x/lookup`, 100 ids a call).
    pub async fn lookup<T: Payload>(&self, ids: &[Uuid]) -> Result<Vec<T>, SinkError> {
        let path = format!("/{}/lookup", path_segment(T::KIND));
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(LOOKUP_CHUNK) {
            let body = if T::KIND == ObjectType::Person {
                serde_json::to_vec(&PersonLookup {
                    ids: chunk.to_vec(),
                    ..PersonLookup::default()
                })
            } else {
                serde_json::to_vec(&IdLookup {
                    ids: chunk.to_vec(),
                })
            }
            .map_err(|e| self.http("POST", &path, None, e.to_string()))?;
            let call = Call {
                method: reqwest::Method::POST,
                path: path.clone(),
                query: Vec::new(),
                body: Some(Arc::new(body)),
                kind: CallKind::Read,
            };
            let found: Vec<T> = self.read(&call).await?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Everything the service holds of one type, for reconciliation.
    pub async fn read_all(&self, kind: ObjectType) -> Result<Resources, SinkError> {
        Ok(match kind {
            ObjectType::Person => {
                // GET /persons lists only a few attributes of each person;
                // the complete records come from /persons/lookup.
                let listed: Vec<Person> = self.list().await?;
                let ids: Vec<Uuid> = listed.iter().map(|p| p.id).collect();
                Resources::Persons(self.lookup(&ids).await?)
            }
            ObjectType::Duty => Resources::Duties(self.list().await?),
            ObjectType::Group => Resources::Groups(self.list().await?),
            ObjectType::Activity => Resources::Activities(self.list().await?),
        })
    }
}

#[async_trait]
impl Sink for SkolverketSink {
    fn kind(&self) -> &'static str {
        "skolverket"
    }

    async fn apply(
        &self,
        plan: &Plan,
        on_outcome: OutcomeCallback<'_>,
    ) -> Result<ApplySummary, SinkError> {
        Runner::new(&self.api, self.settings.clone(), on_outcome)
            .run(plan)
            .await
    }

    async fn check(&self) -> Result<CheckReport, SinkError> {
        let mut checks = Vec::new();
        let token = self.api.token().await?;
        checks.push(format!(
            "access token from {} verified, valid for {} s",
            self.urls.transaction,
            token.lifetime.as_secs()
        ));
        self.api
            .call(&Call::get("/alive", CallKind::Read))
            .await
            .map_err(|e| self.http_error("GET", "/alive", e))?;
        checks.push(format!("{}/alive answered", self.urls.provisioning));
        let mut probe = Call::get("/persons", CallKind::Read);
        probe.query.push(("limit", "1".to_string()));
        self.api
            .call(&probe)
            .await
            .map_err(|e| self.http_error("GET", "/persons?limit=1", e))?;
        checks.push("the Provisioning API accepted the token (GET /persons?limit=1)".to_string());
        Ok(CheckReport {
            kind: "skolverket",
            target: self.urls.provisioning.clone(),
            checks,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        assert!(parse_url("x", "https://api.skolverket.se/v1", true).is_ok());
        assert!(parse_url("x", "http://127.0.0.1:8080/v1", true).is_ok());
        assert!(parse_url("x", "http://[::1]:8080/v1", true).is_ok());
        assert!(parse_url("x", "http://localhost/v1", true).is_ok());
        assert!(parse_url("x", "http://api.skolverket.se/v1", true).is_err());
        assert!(parse_url("x", "http://127.0.0.1/transaction", false).is_err());
        assert!(parse_url("x", "ftp://127.0.0.1/", true).is_err());
        assert!(parse_url("x", "not a url", true).is_err());
    }

    #[test]
    fn every_problem_of_the_section_is_reported_at_once() {
        let config = SkolverketConfig {
            environment: Some(config::Environment::Verifieringstest),
            max_body_bytes: 10,
            bulk_per_second: 0,
            client_key_id: Some(" ".into()),
            ..SkolverketConfig::default()
        };
        let text = SkolverketSink::new(&config, &BuildContext::new("/"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.starts_with("4 problems:"), "{text}");
        for key in [
            "client_cert",
            "max_body_bytes",
            "bulk_per_second",
            "client_key_id",
        ] {
            assert!(text.contains(&format!("] {key}:")), "{key} missing: {text}");
        }
    }
}
