//! How a sandbox is shaped: size, seed, limits, timings and injected faults.

use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

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
    /// First port of a fixed range (auth, provisioning, open-data, educloud
    /// in that order); `None` picks free ports.
    pub port_base: Option<u16>,
    /// Where the CA and client certificate/key PEMs are written; `None`
    /// uses a fresh temporary directory.
    pub cert_dir: Option<PathBuf>,
    /// Lifetime of provtjänst access tokens (`expires_in`).
    pub token_lifetime: Duration,
    /// Lifetime of EduCloud OAuth2 tokens.
    pub educloud_token_lifetime: Duration,
    /// How long bulk-job entities stay `Pending` before they settle.
    pub job_settle_delay: Duration,
    /// The service limits.
    pub limits: Limits,
    /// Faults switched on from the start (they can be changed while running).
    pub faults: Faults,
    /// EduCloud customer id (org identifier) served under `/ss12000v2-api/source/{id}/v2.0`.
    pub educloud_customer_id: String,
    /// EduCloud OAuth2 client id.
    pub educloud_client_id: String,
    /// EduCloud OAuth2 client secret.
    pub educloud_client_secret: String,
    /// Static bearer token of the generic SS 12000 API.
    pub ss12000_token: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            students: 2000,
            seed: 1,
            dirt: 0.0,
            port_base: None,
            cert_dir: None,
            token_lifetime: Duration::from_secs(3600),
            educloud_token_lifetime: Duration::from_secs(3600),
            job_settle_delay: Duration::from_millis(200),
            limits: Limits::default(),
            faults: Faults::default(),
            educloud_customer_id: "SE00100".to_string(),
            educloud_client_id: "skolsync-sandbox".to_string(),
            educloud_client_secret: "sandbox-secret".to_string(),
            ss12000_token: "sandbox-ss12000-token".to_string(),
        }
    }
}

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

/// Injected faults. Shares are probabilities per call (or per entity).
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

/// The live fault settings of a running sandbox, shared by every service.
///
/// Draws come from a seeded generator so a failing test can be rerun as it was.
#[derive(Debug)]
pub struct FaultSwitch {
    faults: RwLock<Faults>,
    burst_left: Mutex<u32>,
    rng: Mutex<ChaCha8Rng>,
}

impl FaultSwitch {
    /// Starts with `faults`, drawing from `seed`.
    pub fn new(faults: Faults, seed: u64) -> Self {
        let burst = faults.rate_limit_burst;
        FaultSwitch {
            faults: RwLock::new(faults),
            burst_left: Mutex::new(burst),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_FA17)),
        }
    }

    /// The current settings.
    pub fn get(&self) -> Faults {
        self.faults.read().map(|f| f.clone()).unwrap_or_default()
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
