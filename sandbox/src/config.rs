//! How a sandbox is shaped: size, seed, limits, timings and injected faults.

use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Everything that decides what a sandbox serves and how it behaves.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Number of students in the generated municipality.
    pub students: usize,
    /// Seed of the generator and of fault injection; same seed, same data.
    pub seed: u64,
    /// Share (0.0–1.0) of generated records that are deliberately invalid.
    pub dirt: f64,
    /// Adult pupils in municipal adult education at gymnasial level (VUXGY)
    /// on top of `students` (see [`crate::generate::GenerateConfig::vux_students`]).
    pub vux_students: usize,
    /// First port of a fixed range (auth, provisioning, open-data, educloud,
    /// SS12000 client in that order); `None` picks free ports.
    pub port_base: Option<u16>,
    /// Where the CA and client certificate/key PEMs are written; `None`
    /// uses a fresh temporary directory.
    pub cert_dir: Option<PathBuf>,
    /// Lifetime of provtjänst access tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Lifetime of EduCloud OAuth2 tokens.
    pub educloud_token_lifetime: Duration,
    /// How long a bulk job's first entity stays `Pending` before it settles
    /// (the rest follow [`ProvisioningOptions::entity_interval`] apart).
    pub job_settle_delay: Duration,
    /// The service limits.
    pub limits: Limits,
    /// Faults of the provtjänst (Provisioning API and its open-data and
    /// auth servers) switched on from the start (they can be changed while
    /// running). They never touch the source emulators.
    pub faults: Faults,
    /// Faults of the source emulators (EduCloud and the generic SS 12000
    /// API) switched on from the start; changed while running with
    /// [`FaultSwitch::set_source`].
    pub source_faults: SourceFaults,
    /// Outages of the Provisioning API switched on from the start: a 429
    /// burst with `Retry-After`, a 503 window (see [`Outage`]; they can be
    /// re-armed while running with [`FaultSwitch::set_outage`]).
    pub outage: Outage,
    /// EduCloud customer id (org identifier) served under `/ss12000v2-api/source/{id}/v2.0`.
    pub educloud_customer_id: String,
    /// EduCloud OAuth2 client id.
    pub educloud_client_id: String,
    /// EduCloud OAuth2 client secret.
    pub educloud_client_secret: String,
    /// Static bearer token of the generic SS 12000 API.
    pub ss12000_token: String,
    /// How the Provisioning API is served and how its jobs settle.
    pub provisioning: ProvisioningOptions,
    /// How realistically the source emulators behave: page size cap,
    /// latency, subscriptions and their webhooks.
    pub source: SourceOptions,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            students: 2000,
            seed: 1,
            dirt: 0.0,
            vux_students: 0,
            port_base: None,
            cert_dir: None,
            token_lifetime: Duration::from_secs(3600),
            educloud_token_lifetime: Duration::from_secs(3600),
            job_settle_delay: Duration::from_millis(200),
            limits: Limits::default(),
            faults: Faults::default(),
            source_faults: SourceFaults::default(),
            outage: Outage::default(),
            educloud_customer_id: "SE00100".to_string(),
            educloud_client_id: "skolsync-sandbox".to_string(),
            educloud_client_secret: "sandbox-secret".to_string(),
            ss12000_token: "sandbox-ss12000-token".to_string(),
            provisioning: ProvisioningOptions::default(),
            source: SourceOptions::default(),
        }
    }
}

/// How the source emulators (EduCloud and the generic SS 12000 API) behave
/// like real servers rather than like a local file: small pages, slow
/// pages, subscriptions that expire. Unlike [`SourceFaults`] these are not
/// faults but the normal behaviour a client must be built for.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceOptions {
    /// Largest page a list serves (clients of EduCloud use 50–200). A list
    /// request without `limit` gets this many.
    pub max_page_size: usize,
    /// What a `limit` over `max_page_size` gets.
    pub over_max_page_size: OverMaxPageSize,
    /// Time every list, lookup and by-id read waits before it answers (the
    /// token endpoint and subscriptions do not wait).
    pub latency: Duration,
    /// How long a subscription lives after it is created or renewed
    /// (`PATCH`); an expired one gets no more notifications.
    pub subscription_lifetime: Duration,
    /// An extra CA or root certificate (PEM file) webhook deliveries trust
    /// besides the sandbox's own CA, for a receiver with another
    /// certificate.
    pub webhook_ca: Option<PathBuf>,
}

/// Default of [`SourceOptions::max_page_size`].
pub const DEFAULT_MAX_PAGE_SIZE: usize = 100;
/// Default of [`SourceOptions::latency`], in milliseconds.
pub const DEFAULT_LATENCY_MS: u64 = 150;
/// Default of [`SourceOptions::subscription_lifetime`], in seconds (a day).
pub const DEFAULT_SUBSCRIPTION_LIFETIME_SECS: u64 = 24 * 3600;

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            max_page_size: DEFAULT_MAX_PAGE_SIZE,
            over_max_page_size: OverMaxPageSize::Clamp,
            latency: Duration::from_millis(DEFAULT_LATENCY_MS),
            subscription_lifetime: Duration::from_secs(DEFAULT_SUBSCRIPTION_LIFETIME_SECS),
            webhook_ca: None,
        }
    }
}

impl SourceOptions {
    /// Every problem of these options, each naming its setting (empty: fine).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_page_size == 0 {
            problems.push("max_page_size: must be at least 1".to_string());
        }
        if self.subscription_lifetime < Duration::from_secs(1) {
            problems.push("subscription_lifetime: must be at least one second".to_string());
        }
        if let Some(path) = &self.webhook_ca
            && !path.is_file()
        {
            problems.push(format!(
                "webhook_ca: {} is not a readable file",
                path.display()
            ));
        }
        problems
    }
}

/// What a list request whose `limit` is over the maximum page size gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OverMaxPageSize {
    /// The maximum, with a `pageToken` for the rest (what most servers do).
    #[default]
    Clamp,
    /// `400` with the spec's `Error` body naming `limit` and the maximum.
    Reject,
}

impl std::str::FromStr for OverMaxPageSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "clamp" => Ok(OverMaxPageSize::Clamp),
            "reject" => Ok(OverMaxPageSize::Reject),
            _ => Err(format!("`{text}` is neither `clamp` nor `reject`")),
        }
    }
}

/// The fewest students `students` may ask for (the municipality needs a
/// few of each school type and group kind).
pub const STUDENTS_MIN: usize = 50;
/// The most students `students` may ask for (what the generator is sized
/// and benchmarked for; the README's 1.2 million).
pub const STUDENTS_MAX: usize = 1_200_000;

/// The Provisioning API's published limits (CHANGELOG v1.3.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Bulk and job-status calls per second per client.
    pub bulk_per_second: u32,
    /// Read calls per second per client.
    pub read_per_second: u32,
    /// Largest request body in bytes (200 KB); larger gets `413`.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bulk_per_second: 5,
            read_per_second: 10,
            max_body_bytes: 200 * 1024,
        }
    }
}

/// Injected faults of the provtjänst's services (the Provisioning API; the
/// open-data API and the auth server share `slow` and `server_error_share`,
/// the auth server `token_early_expiry`). Shares are probabilities per call
/// (or per entity). The source emulators have their own: [`SourceFaults`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Answer this many consecutive calls with `429` (a burst), then recover.
    pub rate_limit_burst: u32,
    /// Share of calls answered with a 5xx (`503` with LogEntry 5022, or `500` 5004).
    pub server_error_share: f64,
    /// Share of entities whose first job outcome is `TemporaryError`.
    pub temporary_error_share: f64,
    /// Extra delay before every answer.
    pub slow: Duration,
    /// Share of connections closed without an answer.
    pub drop_share: f64,
    /// Extra time every job stays `Pending`.
    pub pending_extra: Duration,
    /// Tokens stop being accepted this long before their `expires_in`.
    pub token_early_expiry: Duration,
}

/// Faults of the source emulators (EduCloud, with its token endpoint, and
/// the generic SS 12000 API), apart from the provtjänst's, so a test can
/// fail the source and the sink independently. All default to off.
///
/// In a pipeline's `[sandbox.source_faults]` these would be the keys of the
/// same names.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceFaults {
    /// The next this-many source calls answer `429` with `Retry-After:
    /// retry_after_secs`, then the source recovers.
    pub rate_limit_burst: u32,
    /// The next this-many source calls answer `503` with `Retry-After:
    /// retry_after_secs`, then the source recovers.
    pub unavailable_calls: u32,
    /// Seconds a `429` or `503` asks the client to wait (`Retry-After`).
    pub retry_after_secs: u64,
    /// Share (0–1) of source calls answered `500` (the rest of the call is
    /// not served); 1 makes the source unusable.
    pub server_error_share: f64,
    /// Extra delay before every source answer, in milliseconds.
    pub slow_ms: u64,
    /// EduCloud tokens stop being accepted this many seconds before their
    /// `expires_in` runs out.
    pub token_early_expiry_secs: u64,
    /// Resources the source API does not serve at all (`"syllabuses"`,
    /// `"programmes"`, …): every path under them answers `404`, as on a
    /// server that implements only Skolverket's SS 12000 subset.
    pub unserved: Vec<String>,
}

/// Outages of the Provisioning API, as a gateway in front of it would show
/// them: what a client must wait out. Armed when the sandbox starts (or by
/// [`FaultSwitch::set_outage`]); counts and windows run from then.
///
/// In a pipeline's `[sandbox.faults]` these are the keys of the same names;
/// all default to 0 (off).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Outage {
    /// The next this-many Provisioning API calls (with a valid token or
    /// not) answer `429` (LogEntry 5021) with `Retry-After:
    /// retry_after_secs`, then the service recovers. Refused calls do not
    /// count against the rate limit.
    pub throttle_burst: u32,
    /// Seconds a `429` or `503` of an outage asks the client to wait
    /// (`Retry-After`, and `X-RateLimit-Reset` on the 429s); 0 sends
    /// `Retry-After: 0`.
    pub retry_after_secs: u64,
    /// Every Provisioning API call during the first this-many seconds after
    /// arming answers `503` (LogEntry 5022) with `Retry-After`.
    pub unavailable_secs: u64,
    /// The next this-many Provisioning API calls answer `503` (LogEntry
    /// 5022) with `Retry-After`, then the service recovers.
    pub unavailable_calls: u32,
    /// The next this-many Provisioning API calls are refused with
    /// `refuse_status` (LogEntry 9005), as a gateway that does not accept
    /// the client would: nothing a client should repeat.
    pub refuse_calls: u32,
    /// `401` or `403` (the default; any other value is taken as `403`).
    pub refuse_status: u16,
}

/// What the source faults make of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAnswer {
    /// `429` with `Retry-After` of these seconds.
    Throttled(u64),
    /// `503` with `Retry-After` of these seconds.
    Unavailable(u64),
    /// `500`.
    Internal,
}

/// What an outage makes of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageAnswer {
    /// `429` with `Retry-After` of these seconds.
    Throttled(u64),
    /// `503` with `Retry-After` of these seconds.
    Unavailable(u64),
    /// Refused with this status (`401` or `403`).
    Refused(u16),
}

#[derive(Debug)]
struct OutageState {
    outage: Outage,
    armed_at: Instant,
    throttle_left: u32,
    unavailable_left: u32,
    refuse_left: u32,
}

impl OutageState {
    fn new(outage: Outage) -> Self {
        OutageState {
            armed_at: Instant::now(),
            throttle_left: outage.throttle_burst,
            unavailable_left: outage.unavailable_calls,
            refuse_left: outage.refuse_calls,
            outage,
        }
    }
}

/// The live fault settings of a running sandbox, shared by every service.
///
/// Draws come from a seeded generator so a failing test can be rerun as it was.
#[derive(Debug)]
pub struct FaultSwitch {
    faults: RwLock<Faults>,
    source: RwLock<SourceFaults>,
    /// Calls left of the source's 429 burst and of its 503s.
    source_left: Mutex<(u32, u32)>,
    burst_left: Mutex<u32>,
    rng: Mutex<ChaCha8Rng>,
    outage: Mutex<OutageState>,
}

impl FaultSwitch {
    /// Starts with `faults`, drawing from `seed`.
    pub fn new(faults: Faults, seed: u64) -> Self {
        let burst = faults.rate_limit_burst;
        FaultSwitch {
            faults: RwLock::new(faults),
            source: RwLock::new(SourceFaults::default()),
            source_left: Mutex::new((0, 0)),
            burst_left: Mutex::new(burst),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_FA17)),
            outage: Mutex::new(OutageState::new(Outage::default())),
        }
    }

    /// The same switch with `outage` armed from now.
    pub fn with_outage(self, outage: Outage) -> Self {
        self.set_outage(outage);
        self
    }

    /// Arms `outage` from now, replacing any outage under way.
    pub fn set_outage(&self, outage: Outage) {
        let mut state = match self.outage.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        *state = OutageState::new(outage);
    }

    /// The outage as armed.
    pub fn outage(&self) -> Outage {
        self.outage
            .lock()
            .map(|s| s.outage.clone())
            .unwrap_or_default()
    }

    /// What the armed outage makes of the call arriving now (and uses up
    /// one call of a burst): refusals first, then the 503 window, counted
    /// 503s, the 429 burst. `None`: no outage, answer normally.
    pub fn take_outage(&self) -> Option<OutageAnswer> {
        let mut state = self.outage.lock().ok()?;
        if state.refuse_left > 0 {
            state.refuse_left -= 1;
            let status = if state.outage.refuse_status == 401 {
                401
            } else {
                403
            };
            return Some(OutageAnswer::Refused(status));
        }
        let wait = state.outage.retry_after_secs;
        let window = Duration::from_secs(state.outage.unavailable_secs);
        if !window.is_zero() && state.armed_at.elapsed() < window {
            return Some(OutageAnswer::Unavailable(wait));
        }
        if state.unavailable_left > 0 {
            state.unavailable_left -= 1;
            return Some(OutageAnswer::Unavailable(wait));
        }
        if state.throttle_left > 0 {
            state.throttle_left -= 1;
            return Some(OutageAnswer::Throttled(wait));
        }
        None
    }

    /// The same switch with the source emulators' faults set.
    pub fn with_source(self, source: SourceFaults) -> Self {
        self.set_source(source);
        self
    }

    /// Replaces the source emulators' faults (and restarts their 429 and
    /// 503 counts).
    pub fn set_source(&self, source: SourceFaults) {
        if let Ok(mut left) = self.source_left.lock() {
            *left = (source.rate_limit_burst, source.unavailable_calls);
        }
        if let Ok(mut current) = self.source.write() {
            *current = source;
        }
    }

    /// The source emulators' current faults.
    pub fn source(&self) -> SourceFaults {
        self.source.read().map(|f| f.clone()).unwrap_or_default()
    }

    /// What the source faults make of a call arriving now, after waiting
    /// out their slowness: `None` to answer normally.
    pub(crate) async fn take_source(&self) -> Option<SourceAnswer> {
        let current = self.source();
        if current.slow_ms > 0 {
            tokio::time::sleep(Duration::from_millis(current.slow_ms)).await;
        }
        if let Ok(mut left) = self.source_left.lock() {
            if left.0 > 0 {
                left.0 -= 1;
                return Some(SourceAnswer::Throttled(current.retry_after_secs));
            }
            if left.1 > 0 {
                left.1 -= 1;
                return Some(SourceAnswer::Unavailable(current.retry_after_secs));
            }
        }
        self.chance(current.server_error_share)
            .then_some(SourceAnswer::Internal)
    }

    /// The current settings.
    pub fn get(&self) -> Faults {
        self.faults.read().map(|f| f.clone()).unwrap_or_default()
    }

    /// Waits out the injected slowness; returns the settings this call is
    /// answered under.
    pub(crate) async fn wait_slow(&self) -> Faults {
        let current = self.get();
        if !current.slow.is_zero() {
            tokio::time::sleep(current.slow).await;
        }
        current
    }

    /// Replaces the settings (and restarts any 429 burst).
    pub fn set(&self, faults: Faults) {
        if let Ok(mut burst) = self.burst_left.lock() {
            *burst = faults.rate_limit_burst;
        }
        if let Ok(mut current) = self.faults.write() {
            *current = faults;
        }
    }

    /// True with probability `share`.
    pub fn chance(&self, share: f64) -> bool {
        if share <= 0.0 {
            return false;
        }
        self.rng
            .lock()
            .map(|mut rng| rng.random::<f64>() < share)
            .unwrap_or(false)
    }

    /// Whether this call belongs to an injected 429 burst (and uses it up).
    pub fn take_burst(&self) -> bool {
        match self.burst_left.lock() {
            Ok(mut left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        }
    }
}

/// How the emulated Provisioning API is served and how its bulk jobs
/// settle (the sandbox's own choices where the spec is silent; see each
/// field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisioningOptions {
    /// Serve the Provisioning API over HTTPS with a server certificate of
    /// the sandbox CA (the production service is HTTPS-only); clients trust
    /// the CA (`Endpoints::ca_cert`). `false` serves plain HTTP.
    pub tls: bool,
    /// Time between two entities of one job settling: the first settles
    /// after `job_settle_delay`, the n-th `n × entity_interval` later, so a
    /// job status read mid-way is partial. Zero settles a job at once.
    pub entity_interval: Duration,
    /// How a job status lists the entities not settled yet.
    pub unsettled: UnsettledListing,
    /// Further Provisioning API locations the authorisation server grants
    /// tokens for, besides the sandbox's own (a recording or validating
    /// proxy in front of it); the API accepts tokens for any of them.
    pub token_locations: Vec<String>,
    /// `isCompleted` answers `true` as soon as a job's first entity has
    /// settled, as an eventually consistent service might, so a client
    /// that trusts it reads partial job statuses and must wait for the
    /// rest. Not documented behaviour of the real service; off by default.
    pub completed_early: bool,
}

impl Default for ProvisioningOptions {
    fn default() -> Self {
        ProvisioningOptions {
            tls: true,
            // Small enough that the demo's jobs (a few hundred entities)
            // settle within a second, large enough that polls see partial
            // jobs.
            entity_interval: Duration::from_millis(1),
            unsettled: UnsettledListing::Pending,
            token_locations: Vec::new(),
            completed_early: false,
        }
    }
}

/// How a job status lists an entity that has not settled yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnsettledListing {
    /// Listed with status `Pending` (the spec's `default: "Pending"`: "Den
    /// asynkrona processen är inte klar ännu").
    #[default]
    Pending,
    /// Left out of `responses` until it settles. Not documented; offered
    /// because the spec does not promise every entity is listed, so a
    /// client must not take a short list for a finished job.
    Absent,
}
