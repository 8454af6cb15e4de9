//! Skolverket's SS12000 client (the pull method), emulated: it registers a
//! subscription on a huvudman's SS 12000 API, fetches the DNP profile,
//! takes the huvudman's webhooks and posts LogEntries and StatisticsEntries
//! back, as `ss12000-client_README.md` and `checklist-ss12000-pull.md`
//! (steps 8–9) describe.
//!
//! - **Registration** (what Administration provtjänsten triggers):
//!   `POST {api}/subscriptions` with `name`, a `target` of
//!   `{base}/webhooks/{urlId}` (unique per registered API URL,
//!   `environments.md`) and all five resource types; `201` + `Subscription`
//!   or the registration fails. Then the full fetch, in the README's order
//!   ORGANISATION, PERSON, GROUP, DUTY, ACTIVITY, each paged by `limit`
//!   and `pageToken` until it is `null`; nothing for deletions on a first
//!   load.
//! - **Tokens**: every call carries a JWT of the sandbox's authorisation
//!   server shaped like the authentication README's example (Skolverket's
//!   `organization_id`, `requested_access` `ss12000-api` for the API URL).
//! - **Judging**: each entity is judged with the Provisioning API's own
//!   profile rules ([`crate::provisioning::profile`]), on the client's own
//!   reading of the JSON, never on skolsync's types. A refused entity is
//!   not held and gets a LogEntry (`messageType` = the rule's id); one
//!   without a readable id gets a random `resourceId` (README). After each
//!   resource type a StatisticsEntry (only `updatedCount` is used, README).
//! - **Webhooks** need a JWT of type `ss12000-client` for this client's
//!   base URL; they are answered at once and processed in the background,
//!   one at a time per registration in arrival order. The README warns
//!   that across *separate* webhooks order is not guaranteed by the real
//!   client (its race note); the emulator serialises them, the friendlier
//!   case, so tests see deterministic results.
//! - **Failures** of the API (non-JSON, wrong shapes, 4xx/5xx, slow) end
//!   the job with a recorded reason; each GET is tried three times
//!   (network errors and 5xx) before that.
//!
//! Interpretations where the spec is silent:
//! - Later pages send only `pageToken` (the reference API refuses filters
//!   with a token; the token carries the query), the first one `limit`
//!   and, after a webhook, `meta.modified.after`.
//! - A rule's warning (a group member not held, …) is posted as a LogEntry
//!   with `severityLevel: "Warning"`; the entity is held.
//! - Organisations are not judged by the profile rules (the Provisioning
//!   API has none); one is held when it has a UUID `id` and a
//!   `displayName`.
//! - Deletions drop the entity without the Provisioning API's "still
//!   referenced" check: the source is authoritative.
//! - A job stops at its first failure (a GET failed three times, an odd
//!   answer, a `/log` or `/statistics` POST not answered 2xx); what it
//!   held until then stays held.
//! - Deletions get a StatisticsEntry per type named in `deletedEntities`
//!   (`deletedCount`: how many of those ids were held).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use crate::auth::{AuthError, TokenIssuer};
use crate::config::FaultSwitch;
use crate::provisioning::profile::ProfileHolder;
use crate::world::Catalogue;

mod fetch;
mod resource;
mod webhook;

pub use resource::ResourceType;
pub use webhook::router;

/// Path of the client under its listener, as in production
/// (`https://api.skolverket.se/provtjanst/ss12000/klient/v1`).
pub const CLIENT_PATH: &str = "/provtjanst/ss12000/klient/v1";

/// Why the client could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The extra trusted root is not PEM, or the HTTP client failed to build.
    #[error("could not set up the HTTP client: {0}")]
    Http(String),
    /// No token could be minted.
    #[error(transparent)]
    Token(#[from] AuthError),
    /// The API URL is not an absolute http(s) URL.
    #[error("`{0}` is not an http(s) URL of an SS 12000 API")]
    ApiUrl(String),
    /// `POST /subscriptions` did not reach the API.
    #[error("POST {url} failed: {detail}")]
    Unreachable {
        /// The URL called.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// `POST /subscriptions` answered something else than `201` + a
    /// `Subscription`.
    #[error("POST {url} answered {status}: {detail}")]
    Refused {
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What was wrong with the answer (its body, shortened).
        detail: String,
    },
    /// No registration of that id.
    #[error("no registration {0}")]
    UnknownRegistration(RegistrationId),
    /// `wait_idle` ran out of time.
    #[error("registration {id} still had {pending} job(s) after {waited:?}")]
    Busy {
        /// The registration.
        id: RegistrationId,
        /// Jobs queued or running.
        pending: usize,
        /// How long it waited.
        waited: Duration,
    },
}

/// A registered API URL; also the `urlId` of its webhook target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegistrationId(pub Uuid);

impl std::fmt::Display for RegistrationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How the client fetches.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `limit` of every list GET (first page; later pages send only the
    /// `pageToken`, which carries the query).
    pub page_limit: usize,
    /// Timeout of one HTTP call.
    pub request_timeout: Duration,
    /// Pause before the second and third try of a GET (times the try).
    pub retry_delay: Duration,
    /// How far before a webhook's receipt the incremental fetch reaches
    /// (checklist step 9.5: five minutes).
    pub lookback: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            page_limit: 1000,
            request_timeout: Duration::from_secs(30),
            retry_delay: Duration::from_millis(200),
            lookback: Duration::from_secs(300),
        }
    }
}

/// What the client holds for one registration: per kind, id → the JSON as
/// received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Holdings {
    /// Organisations.
    pub organisations: BTreeMap<Uuid, Value>,
    /// Persons.
    pub persons: BTreeMap<Uuid, Value>,
    /// Groups.
    pub groups: BTreeMap<Uuid, Value>,
    /// Duties.
    pub duties: BTreeMap<Uuid, Value>,
    /// Activities.
    pub activities: BTreeMap<Uuid, Value>,
}

impl Holdings {
    /// The entities of one kind.
    pub fn of(&self, kind: ResourceType) -> &BTreeMap<Uuid, Value> {
        match kind {
            ResourceType::Organisation => &self.organisations,
            ResourceType::Person => &self.persons,
            ResourceType::Group => &self.groups,
            ResourceType::Duty => &self.duties,
            ResourceType::Activity => &self.activities,
        }
    }

    fn of_mut(&mut self, kind: ResourceType) -> &mut BTreeMap<Uuid, Value> {
        match kind {
            ResourceType::Organisation => &mut self.organisations,
            ResourceType::Person => &mut self.persons,
            ResourceType::Group => &mut self.groups,
            ResourceType::Duty => &mut self.duties,
            ResourceType::Activity => &mut self.activities,
        }
    }
}

/// One HTTP call the client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `GET` or `POST`.
    pub method: String,
    /// Path and query as sent (relative to the host).
    pub path_and_query: String,
    /// The answer's status; `None` when none came.
    pub status: Option<u16>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// One webhook received, accepted or not.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookReceipt {
    /// When it arrived (the time the incremental fetch counts back from).
    pub received_at: DateTime<Utc>,
    /// What the client answered.
    pub status: u16,
    /// Why it was refused.
    pub reason: Option<String>,
    /// Its body, when it was JSON.
    pub body: Option<Value>,
}

/// What started a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobTrigger {
    /// The full fetch after registration.
    Registration,
    /// A webhook received at that time.
    Webhook(DateTime<Utc>),
}

/// One finished job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// What started it.
    pub trigger: JobTrigger,
    /// `Ok` or why it failed.
    pub outcome: Result<(), String>,
}

/// The subscription the API created.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionInfo {
    /// The API URL registered.
    pub api_url: String,
    /// The webhook target sent.
    pub target: String,
    /// The body sent.
    pub request: Value,
    /// The API's `Subscription` answer.
    pub response: Value,
    /// Its `id`.
    pub id: String,
    /// Its `expires`.
    pub expires: String,
}

/// A job waiting for the registration's worker.
#[derive(Debug, Clone)]
enum Job {
    Full,
    Webhook {
        received_at: DateTime<Utc>,
        types: Vec<ResourceType>,
        deleted: bool,
    },
}

/// What one registration has seen and holds.
#[derive(Debug)]
struct State {
    subscription: Option<SubscriptionInfo>,
    holder: ProfileHolder,
    holdings: Holdings,
    log_entries: Vec<Value>,
    statistics: Vec<Value>,
    webhooks: Vec<WebhookReceipt>,
    calls: Vec<Call>,
    jobs: Vec<JobRecord>,
}

/// One registered API.
#[derive(Debug)]
struct Registration {
    id: RegistrationId,
    api_url: String,
    http: reqwest::Client,
    state: Mutex<State>,
    queue: mpsc::UnboundedSender<Job>,
    pending: watch::Sender<usize>,
}

impl Registration {
    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn enqueue(&self, job: Job) {
        self.pending.send_modify(|n| *n += 1);
        if self.queue.send(job).is_err() {
            // The worker is gone (runtime shutting down): nothing will run.
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

/// What every registration shares.
#[derive(Debug)]
struct Context {
    base_url: String,
    issuer: Arc<TokenIssuer>,
    ca_pem: String,
    catalogue: Arc<Catalogue>,
    faults: Arc<FaultSwitch>,
    organisation: Option<String>,
    options: Mutex<ClientOptions>,
}

impl Context {
    fn options(&self) -> ClientOptions {
        match self.options.lock() {
            Ok(o) => o.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Skolverket's SS12000 client, emulated. Built by the sandbox
/// ([`crate::Sandbox::ss12000_client`]); its webhook route is served on a
/// listener of its own.
#[derive(Debug)]
pub struct Ss12000Client {
    context: Arc<Context>,
    registrations: Mutex<HashMap<RegistrationId, Arc<Registration>>>,
}

/// What the sandbox hands the client.
#[derive(Debug)]
pub struct ClientSetup {
    /// `https://127.0.0.1:{port}/provtjanst/ss12000/klient/v1`.
    pub base_url: String,
    /// The authorisation server's issuer (mints and verifies tokens).
    pub issuer: Arc<TokenIssuer>,
    /// The sandbox CA, trusted for every API.
    pub ca_pem: String,
    /// Skolverket's register the profile rules judge against.
    pub catalogue: Arc<Catalogue>,
    /// The sandbox's faults (the rules read them).
    pub faults: Arc<FaultSwitch>,
    /// The huvudman whose API is registered (ten digits): its school units
    /// are the ones accepted.
    pub organisation: Option<String>,
}

impl Ss12000Client {
    /// A client with no registrations.
    pub fn new(setup: ClientSetup) -> Self {
        Ss12000Client {
            context: Arc::new(Context {
                base_url: setup.base_url.trim_end_matches('/').to_string(),
                issuer: setup.issuer,
                ca_pem: setup.ca_pem,
                catalogue: setup.catalogue,
                faults: setup.faults,
                // The rules compare digits only (`212000-0000` → `2120000000`).
                organisation: setup
                    .organisation
                    .map(|o| o.chars().filter(char::is_ascii_digit).collect()),
                options: Mutex::new(ClientOptions::default()),
            }),
            registrations: Mutex::new(HashMap::new()),
        }
    }

    /// Its base URL (what `ss12000-client` tokens must name).
    pub fn base_url(&self) -> &str {
        &self.context.base_url
    }

    /// Changes how later jobs fetch (page size, timeouts, retries).
    pub fn set_options(&self, options: ClientOptions) {
        match self.context.options.lock() {
            Ok(mut o) => *o = options,
            Err(poisoned) => *poisoned.into_inner() = options,
        }
    }

    fn registrations(&self) -> MutexGuard<'_, HashMap<RegistrationId, Arc<Registration>>> {
        match self.registrations.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn registration(&self, id: RegistrationId) -> Result<Arc<Registration>, ClientError> {
        self.registrations()
            .get(&id)
            .cloned()
            .ok_or(ClientError::UnknownRegistration(id))
    }

    /// Registers the SS 12000 API at `api_url` (checklist step 8): creates
    /// the subscription and queues the full fetch. `ca_pem` is a further
    /// root to trust for the API's server certificate (the sandbox CA is
    /// always trusted). Must be called inside a tokio runtime.
    pub async fn register(
        &self,
        api_url: &str,
        ca_pem: Option<&[u8]>,
    ) -> Result<RegistrationId, ClientError> {
        let api_url = api_url.trim().trim_end_matches('/').to_string();
        if reqwest::Url::parse(&api_url)
            .map(|u| !matches!(u.scheme(), "http" | "https"))
            .unwrap_or(true)
        {
            return Err(ClientError::ApiUrl(api_url));
        }
        let options = self.context.options();
        let http = http_client(&self.context.ca_pem, ca_pem, options.request_timeout)?;
        let id = RegistrationId(Uuid::new_v4());
        let (queue, jobs) = mpsc::unbounded_channel();
        let (pending, _) = watch::channel(0);
        let registration = Arc::new(Registration {
            id,
            api_url,
            http,
            state: Mutex::new(State {
                subscription: None,
                holder: ProfileHolder::new(
                    Arc::clone(&self.context.catalogue),
                    Arc::clone(&self.context.faults),
                    self.context.organisation.clone(),
                ),
                holdings: Holdings::default(),
                log_entries: Vec::new(),
                statistics: Vec::new(),
                webhooks: Vec::new(),
                calls: Vec::new(),
                jobs: Vec::new(),
            }),
            queue,
            pending,
        });
        let info = fetch::subscribe(&self.context, &registration).await?;
        registration.lock().subscription = Some(info);
        self.registrations().insert(id, Arc::clone(&registration));
        tokio::spawn(fetch::worker(
            Arc::clone(&self.context),
            Arc::clone(&registration),
            jobs,
        ));
        registration.enqueue(Job::Full);
        Ok(id)
    }

    /// Every registration, in no particular order.
    pub fn registration_ids(&self) -> Vec<RegistrationId> {
        self.registrations().keys().copied().collect()
    }

    /// What the client holds for `id`.
    pub fn holdings(&self, id: RegistrationId) -> Result<Holdings, ClientError> {
        Ok(self.registration(id)?.lock().holdings.clone())
    }

    /// The LogEntries posted to the API (bodies as sent), oldest first.
    pub fn log_entries_posted(&self, id: RegistrationId) -> Result<Vec<Value>, ClientError> {
        Ok(self.registration(id)?.lock().log_entries.clone())
    }

    /// The StatisticsEntries posted (bodies as sent), oldest first.
    pub fn statistics_posted(&self, id: RegistrationId) -> Result<Vec<Value>, ClientError> {
        Ok(self.registration(id)?.lock().statistics.clone())
    }

    /// The webhooks received for `id`, accepted or not, oldest first.
    pub fn webhooks(&self, id: RegistrationId) -> Result<Vec<WebhookReceipt>, ClientError> {
        Ok(self.registration(id)?.lock().webhooks.clone())
    }

    /// Every call made to the API for `id` (each try), oldest first.
    pub fn calls(&self, id: RegistrationId) -> Result<Vec<Call>, ClientError> {
        Ok(self.registration(id)?.lock().calls.clone())
    }

    /// The finished jobs (full fetch, webhooks) with their outcome.
    pub fn jobs(&self, id: RegistrationId) -> Result<Vec<JobRecord>, ClientError> {
        Ok(self.registration(id)?.lock().jobs.clone())
    }

    /// The subscription the API created for `id`.
    pub fn subscription(&self, id: RegistrationId) -> Result<SubscriptionInfo, ClientError> {
        self.registration(id)?
            .lock()
            .subscription
            .clone()
            .ok_or(ClientError::UnknownRegistration(id))
    }

    /// Waits until every queued job of `id` is done, at most `timeout`.
    pub async fn wait_idle(
        &self,
        id: RegistrationId,
        timeout: Duration,
    ) -> Result<(), ClientError> {
        let registration = self.registration(id)?;
        let mut pending = registration.pending.subscribe();
        let idle = tokio::time::timeout(timeout, pending.wait_for(|n| *n == 0))
            .await
            .is_ok_and(|r| r.is_ok());
        if idle {
            return Ok(());
        }
        let pending = *registration.pending.borrow();
        Err(ClientError::Busy {
            id,
            pending,
            waited: timeout,
        })
    }
}

/// An HTTP client trusting the sandbox CA and `extra` (PEM bundle).
fn http_client(
    sandbox_ca: &str,
    extra: Option<&[u8]>,
    timeout: Duration,
) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout);
    let mut roots = vec![sandbox_ca.as_bytes()];
    roots.extend(extra);
    for pem in roots {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| ClientError::Http(format!("a trusted root is not PEM: {e}")))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| ClientError::Http(e.to_string()))
}
