//! The serve config file: where `skolsync serve` listens, how it checks
//! the tokens of Skolverket's SS12000 client, and which pipelines it
//! serves as pull APIs.
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:8443"
//! public_url = "https://skolsync.example.se"  # what the municipality registers, less the API's path
//! tls_cert = "/etc/skolsync/server.crt"       # PEM chain, own certificate first
//! tls_key = "/etc/skolsync/server.key"
//! # plain_http = true                         # only behind a proxy that terminates TLS
//!
//! [auth]
//! environment = "production"                  # Skolverket's authorisation server's JWKS and issuer
//! # organization_id = "SE2021004185"          # Skolverket's, the default
//!
//! [[pull]]
//! pipeline = "pipelines/linkoping.toml"       # relative to this file
//! path = "/ss12000/linkoping"                 # default "/" + the pipeline's name
//! subscription_days = 90
//! ```
//!
//! [`ServeConfig::load`] reads the file, loads every pipeline (only to know
//! its name, state store and sink: no source or sink is contacted, so the
//! pipelines' `${env:..}` secrets need not be set) and reports every
//! problem at once, each naming its key. Relative paths start at the
//! config file's folder.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use skolsync_model::config_problems::ConfigProblems;
use skolsync_sink::skolverket::config::Environment;
use url::Url;

use super::auth::{AuthSettings, JWKS_REFETCH_MIN_INTERVAL};
use crate::pipeline::{LoadOptions, Pipeline, PipelineError, resolve};
use crate::watch::receiver::ReceiverConfigError;

/// The default address: every interface, port 8443.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8443);
/// Skolverket's organisation number as its tokens carry it.
pub const SKOLVERKET_ORGANIZATION_ID: &str = "SE2021004185";
/// The default largest request body: LogEntries and subscriptions are a
/// few hundred bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The default time one request may take.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 60;
/// The default lifetime of a subscription (the reference API's).
pub const DEFAULT_SUBSCRIPTION_DAYS: u32 = 90;
/// The default interval between scheduled JWKS fetches.
pub const DEFAULT_JWKS_REFRESH_SECS: u64 = 3600;
/// The kind of pipeline sink that is served.
pub const PULL_SINK_KIND: &str = "ss12000-pull";

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    /// How the service listens.
    pub server: ServerSection,
    /// How the client's tokens are checked.
    pub auth: AuthSection,
    /// The pull APIs, one per pipeline.
    #[serde(default)]
    pub pull: Vec<PullSection>,
    /// The change receiver of the pipelines serve runs.
    #[serde(default)]
    pub watch: Option<WatchSection>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Address and port to listen on (default `0.0.0.0:8443`).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The URL the service is reached at, e.g. `https://skolsync.example.se`;
    /// each API's location (what the municipality registers in
    /// Administration provtjänsten, and what tokens must grant) is this
    /// plus the API's `path`. `https://` (plain `http://` only for a
    /// loopback host, for local tests). A proxy that publishes the service
    /// under a prefix strips the prefix.
    pub public_url: String,
    /// The server certificate chain, PEM, own certificate first.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert`, PEM.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Speak plain HTTP instead of HTTPS: only behind a reverse proxy that
    /// terminates TLS (default false; logged as a warning).
    #[serde(default)]
    pub plain_http: bool,
    /// The largest request body, in bytes (default 1 MiB); larger: `413`.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// Seconds one request may take before it is answered `503` (default 60).
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `production` or `verifieringstest` (both take tokens from
    /// `https://nutid-auth.sunet.se`): sets `jwks_url` and `issuer`.
    #[serde(default)]
    pub environment: Option<Environment>,
    /// The authorisation server's JWKS; overrides the environment's.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// The tokens' required `iss`; overrides the environment's. Without
    /// either, `iss` is not checked.
    #[serde(default)]
    pub issuer: Option<String>,
    /// The `organization_id` tokens must carry (default Skolverket's,
    /// `SE2021004185`).
    #[serde(default = "default_organization_id")]
    pub organization_id: String,
    /// An extra root certificate (PEM) to trust when fetching the JWKS
    /// (a sandbox's or a test's authorisation server).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// Seconds between scheduled JWKS fetches (default 3600); a token
    /// signed by an unknown key also fetches it, at most every 30 s.
    #[serde(default = "default_jwks_refresh_secs")]
    pub jwks_refresh_secs: u64,
}

/// One `[[pull]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSection {
    /// The pipeline file; its `[sink]` must be `kind = "ss12000-pull"`.
    pub pipeline: PathBuf,
    /// Where the API is mounted, e.g. `/ss12000/linkoping` (default `/` and
    /// the pipeline's name). Not `/`, and not inside another API's path.
    #[serde(default)]
    pub path: Option<String>,
    /// Days a subscription lives after it is created or renewed (default 90).
    #[serde(default = "default_subscription_days")]
    pub subscription_days: u32,
    /// Also run the pipeline here, as `skolsync watch` does: at start, at
    /// its `[schedule]` cron times and when its source notifies a change
    /// (the change receiver is `[watch]`). The pipeline's secrets
    /// (`${env:..}`) must then be set. Default false: runs come from
    /// elsewhere (cron, `skolsync watch`).
    #[serde(default)]
    pub run: bool,
}

/// `[watch]`: the change receiver of the pipelines serve runs (`run =
/// true`), on a listener of its own; TLS as `[server]`'s.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchSection {
    /// Address and port of the change receiver (default `0.0.0.0:8444`).
    #[serde(default = "default_watch_listen")]
    pub listen: SocketAddr,
    /// The receiver's public URL, which sources post to (default
    /// `https://` + `listen`).
    #[serde(default)]
    pub public_url: Option<String>,
}

fn default_watch_listen() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8444)
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN
}
fn default_max_body_bytes() -> usize {
    DEFAULT_MAX_BODY_BYTES
}
fn default_request_timeout_secs() -> u64 {
    DEFAULT_REQUEST_TIMEOUT_SECS
}
fn default_organization_id() -> String {
    SKOLVERKET_ORGANIZATION_ID.to_string()
}
fn default_jwks_refresh_secs() -> u64 {
    DEFAULT_JWKS_REFRESH_SECS
}
fn default_subscription_days() -> u32 {
    DEFAULT_SUBSCRIPTION_DAYS
}

/// One thing wrong with the serve config.
#[derive(Debug, thiserror::Error)]
pub enum ServeConfigError {
    /// The file cannot be read.
    #[error("cannot read the serve config {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("{}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message (line, column, key).
        message: String,
    },
    /// A value is missing, malformed or contradicts another.
    #[error("{key}: {message}")]
    Invalid {
        /// The key, e.g. `server.public_url` or `pull[1].path`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A pipeline file cannot be loaded.
    #[error("{key}: {error}")]
    Pipeline {
        /// `pull[N].pipeline`.
        key: String,
        /// Why (names the file and the key in it).
        error: Box<PipelineError>,
    },
}

/// Every problem of the serve config, found at once.
pub type ServeConfigErrors = ConfigProblems<ServeConfigError>;

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ServeConfigError {
    ServeConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

/// One pipeline served as a pull API.
#[derive(Debug)]
pub struct PullApi {
    /// The pipeline, loaded for inspection (no sandbox started, secrets
    /// that cannot be expanded left empty).
    pub pipeline: Pipeline,
    /// Where the API is mounted (`/ss12000/linkoping`).
    pub path: String,
    /// Its public URL: `public_url` + `path`, no trailing `/`.
    pub location: String,
    /// The served dataset's key: the pipeline's sink identity.
    pub dataset: String,
    /// How long a subscription lives.
    pub subscription_lifetime: Duration,
    /// The pipeline file, to load it for running.
    pub file: PathBuf,
    /// Whether serve runs the pipeline (`run = true`).
    pub run: bool,
}

/// The serve config, checked, with its pipelines loaded and its TLS
/// certificate read.
#[derive(Debug)]
pub struct ServeConfig {
    /// The config file.
    pub path: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The public URL, without a trailing `/`.
    pub public_url: String,
    /// The TLS server configuration; `None` with `plain_http`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How tokens are checked.
    pub auth: AuthSettings,
    /// The pull APIs.
    pub apis: Vec<PullApi>,
    /// The change receiver of the pipelines serve runs.
    pub receiver: crate::watch::ReceiverConfig,
}

impl ServeConfig {
    /// Reads and checks the config file at `path` and loads its pipelines,
    /// reporting every problem.
    pub async fn load(path: &Path) -> Result<ServeConfig, ServeConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| ServeConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ServeFile = toml::from_str(&text).map_err(|e| ServeConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        ServeConfig::check(path, &base_dir, &file).await
    }

    /// Checks a parsed file whose relative paths start at `base_dir`.
    pub async fn check(
        path: &Path,
        base_dir: &Path,
        file: &ServeFile,
    ) -> Result<ServeConfig, ServeConfigErrors> {
        let mut problems = ServeConfigErrors::new();
        let server = &file.server;
        let public_url = problems.take(public_url(&server.public_url));
        if server.max_body_bytes == 0 {
            problems.push(invalid("server.max_body_bytes", "must be more than 0"));
        }
        if server.request_timeout_secs == 0 {
            problems.push(invalid(
                "server.request_timeout_secs",
                "must be more than 0",
            ));
        }
        let tls = problems.take(tls(base_dir, server)).flatten();
        let auth = problems.take(auth_settings(base_dir, &file.auth));
        let apis = problems.take(pull_apis(base_dir, public_url.as_deref(), &file.pull).await);
        let (Some(public_url), Some(auth), Some(apis)) = (public_url, auth, apis) else {
            return Err(problems);
        };
        let watch = file.watch.clone().unwrap_or(WatchSection {
            listen: default_watch_listen(),
            public_url: None,
        });
        let receiver = crate::watch::ReceiverConfig {
            listen: watch.listen,
            public_url: watch.public_url,
            tls_cert: server.tls_cert.as_ref().map(|p| resolve(base_dir, p)),
            tls_key: server.tls_key.as_ref().map(|p| resolve(base_dir, p)),
            insecure_http: server.plain_http,
            max_body_bytes: crate::watch::receiver::config::DEFAULT_MAX_BODY_BYTES,
        };
        problems.finish(ServeConfig {
            receiver,
            path: path.to_path_buf(),
            listen: server.listen,
            public_url,
            tls,
            max_body_bytes: server.max_body_bytes,
            request_timeout: Duration::from_secs(server.request_timeout_secs),
            auth,
            apis,
        })
    }
}

/// Whether `url`'s host is this machine (where plain `http://` is
/// acceptable: local tests and sandboxes).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn public_url(text: &str) -> Result<String, ServeConfigError> {
    let key = "server.public_url";
    let url =
        Url::parse(text.trim()).map_err(|e| invalid(key, format!("`{text}` is not a URL: {e}")))?;
    let problem = match url.scheme() {
        "https" => None,
        "http" if is_loopback(&url) => None,
        "http" => Some(
            "uses http://: Skolverket's client reaches the API over HTTPS only; give the https:// \
             address (TLS here, or at a proxy in front with plain_http)",
        ),
        _ => Some("must start with https://"),
    };
    let problem = problem.or_else(|| {
        (url.query().is_some() || url.fragment().is_some())
            .then_some("must have no query (`?…`) or fragment (`#…`)")
    });
    match problem {
        Some(p) => Err(invalid(key, format!("`{text}` {p}"))),
        None => Ok(url.as_str().trim_end_matches('/').to_string()),
    }
}

fn tls(
    base_dir: &Path,
    server: &ServerSection,
) -> Result<Option<Arc<rustls::ServerConfig>>, ServeConfigErrors> {
    if server.plain_http {
        return Ok(None);
    }
    let mut problems = ServeConfigErrors::new();
    let (Some(cert), Some(key)) = (&server.tls_cert, &server.tls_key) else {
        for (name, missing) in [
            ("server.tls_cert", server.tls_cert.is_none()),
            ("server.tls_key", server.tls_key.is_none()),
        ] {
            if missing {
                problems.push(invalid(
                    name,
                    "missing: the pull API speaks HTTPS, so it needs a server certificate and \
                     its key (PEM); plain HTTP only behind a proxy that terminates TLS, with \
                     plain_http = true",
                ));
            }
        }
        return Err(problems);
    };
    crate::watch::receiver::tls::server_config(&resolve(base_dir, cert), &resolve(base_dir, key))
        .map(Some)
        .map_err(|errors| {
            for error in errors.iter() {
                problems.push(match error {
                    ReceiverConfigError::Invalid { key, message } => {
                        invalid(format!("server.{key}"), message.clone())
                    }
                    ReceiverConfigError::File { key, path, message } => invalid(
                        format!("server.{key}"),
                        format!("{}: {message}", path.display()),
                    ),
                });
            }
            problems
        })
}

fn auth_settings(base_dir: &Path, auth: &AuthSection) -> Result<AuthSettings, ServeConfigErrors> {
    let mut problems = ServeConfigErrors::new();
    // Both environments take tokens from the production authorisation
    // server; its base URL is the transaction endpoint's.
    let server = auth
        .environment
        .map(|e| e.auth_url().trim_end_matches("/transaction").to_string());
    let jwks_url = auth.jwks_url.clone().or_else(|| {
        server
            .as_ref()
            .map(|s| format!("{s}/.well-known/jwks.json"))
    });
    let jwks_url = match jwks_url {
        None => {
            problems.push(invalid(
                "auth.jwks_url",
                "missing: set auth.environment = \"production\" (Skolverket's authorisation \
                 server) or jwks_url",
            ));
            None
        }
        Some(url) => match Url::parse(url.trim()) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && is_loopback(&u)) => {
                Some(url.trim().to_string())
            }
            Ok(_) => {
                problems.push(invalid(
                    "auth.jwks_url",
                    format!("`{url}` must be https://"),
                ));
                None
            }
            Err(e) => {
                problems.push(invalid(
                    "auth.jwks_url",
                    format!("`{url}` is not a URL: {e}"),
                ));
                None
            }
        },
    };
    let organization_id = auth.organization_id.trim().to_string();
    let well_formed = organization_id.len() == 12
        && organization_id.starts_with("SE")
        && organization_id[2..].chars().all(|c| c.is_ascii_digit());
    if !well_formed {
        problems.push(invalid(
            "auth.organization_id",
            format!(
                "`{organization_id}` is not `SE` and ten digits (Skolverket's is \
                 {SKOLVERKET_ORGANIZATION_ID})"
            ),
        ));
    }
    if auth.jwks_refresh_secs == 0 {
        problems.push(invalid("auth.jwks_refresh_secs", "must be more than 0"));
    }
    let extra_root_pem = match &auth.ca_cert {
        None => None,
        Some(path) => {
            let path = resolve(base_dir, path);
            match std::fs::read(&path) {
                Ok(pem)
                    if String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") =>
                {
                    Some(pem)
                }
                Ok(_) => {
                    problems.push(invalid(
                        "auth.ca_cert",
                        format!("{}: holds no PEM certificate", path.display()),
                    ));
                    None
                }
                Err(e) => {
                    problems.push(invalid("auth.ca_cert", format!("{}: {e}", path.display())));
                    None
                }
            }
        }
    };
    let issuer = auth.issuer.clone().or(server);
    let Some(jwks_url) = jwks_url else {
        return Err(problems);
    };
    problems.finish(AuthSettings {
        jwks_url,
        issuer,
        organization_id,
        extra_root_pem,
        refresh_every: Duration::from_secs(auth.jwks_refresh_secs),
        refetch_min_interval: JWKS_REFETCH_MIN_INTERVAL,
    })
}

/// Checks an API path: `/` and segments of URL-safe characters, no
/// trailing `/`, not the root, not the host's own `/healthz`.
fn check_path(path: &str) -> Result<(), String> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let safe = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    };
    if !path.starts_with('/') || path == "/" || !segments.iter().all(|s| safe(s)) {
        return Err(format!(
            "`{path}` is not an API path: `/` and one or more segments of letters, digits, \
             `-`, `_`, `.`, `~` (e.g. /ss12000/linkoping); not `/` itself, no trailing `/`"
        ));
    }
    if path == "/healthz" {
        return Err("`/healthz` is the service's health check".to_string());
    }
    Ok(())
}

/// Whether one API's path lies inside the other's (a token granted for
/// the inner location would also open the outer API, see `auth`).
fn nested(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"))
}

async fn pull_apis(
    base_dir: &Path,
    public_url: Option<&str>,
    sections: &[PullSection],
) -> Result<Vec<PullApi>, ServeConfigErrors> {
    let mut problems = ServeConfigErrors::new();
    if sections.is_empty() {
        problems.push(invalid(
            "pull",
            "no [[pull]] API: name at least one pipeline whose [sink] is `ss12000-pull`",
        ));
    }
    let mut apis: Vec<PullApi> = Vec::new();
    for (index, section) in sections.iter().enumerate() {
        let key = |name: &str| format!("pull[{index}].{name}");
        if section.subscription_days == 0 {
            problems.push(invalid(key("subscription_days"), "must be more than 0"));
        }
        let file = resolve(base_dir, &section.pipeline);
        let options = LoadOptions {
            inspect_only: true,
            ..LoadOptions::default()
        };
        let pipeline = match Pipeline::load(&file, &options).await {
            Ok(p) => p,
            Err(error) => {
                problems.push(ServeConfigError::Pipeline {
                    key: key("pipeline"),
                    error: Box::new(error),
                });
                continue;
            }
        };
        // Of a pipeline with several sinks, the pull sink's view (its
        // runs still deliver to every sink from one read).
        let pipeline = pipeline
            .view_where(|sink| sink.kind() == PULL_SINK_KIND)
            .unwrap_or(pipeline);
        let kind = pipeline.sink().kind();
        if kind != PULL_SINK_KIND {
            problems.push(invalid(
                key("pipeline"),
                format!(
                    "{}: pipeline `{}` has a `{kind}` sink; only pipelines with a \
                     sink of kind = \"{PULL_SINK_KIND}\" are served",
                    file.display(),
                    pipeline.name()
                ),
            ));
            continue;
        }
        let path = section
            .path
            .clone()
            .unwrap_or_else(|| format!("/{}", pipeline.name()));
        if let Err(message) = check_path(&path) {
            problems.push(invalid(key("path"), message));
            continue;
        }
        if let Some(other) = apis.iter().find(|a| nested(&a.path, &path)) {
            problems.push(invalid(
                key("path"),
                format!(
                    "`{path}` overlaps `{}`, where pipeline `{}` is served: give each API a \
                     path of its own, neither inside the other",
                    other.path,
                    other.pipeline.name()
                ),
            ));
            continue;
        }
        if let Some(other) = apis.iter().find(|a| a.pipeline.name() == pipeline.name()) {
            problems.push(invalid(
                key("pipeline"),
                format!(
                    "pipeline `{}` is already served at `{}`",
                    other.pipeline.name(),
                    other.path
                ),
            ));
            continue;
        }
        apis.push(PullApi {
            file,
            run: section.run,
            location: format!("{}{path}", public_url.unwrap_or_default()),
            path,
            dataset: pipeline.sink_identity(),
            pipeline,
            subscription_lifetime: Duration::from_secs(
                u64::from(section.subscription_days) * 24 * 3600,
            ),
        });
    }
    problems.finish(apis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_checked() {
        assert!(check_path("/ss12000/linkoping").is_ok());
        assert!(check_path("/a").is_ok());
        for bad in [
            "", "/", "a", "/a/", "/a//b", "/a/{id}", "/a/../b", "/healthz", "/a b",
        ] {
            assert!(check_path(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn nested_paths_overlap() {
        assert!(nested("/a", "/a/b"));
        assert!(nested("/a/b", "/a"));
        assert!(nested("/a", "/a"));
        assert!(!nested("/a", "/ab"));
    }

    #[test]
    fn the_public_url_is_https_or_loopback_http() {
        assert_eq!(public_url("https://x.se/").unwrap(), "https://x.se");
        assert_eq!(
            public_url("https://x.se/base/").unwrap(),
            "https://x.se/base"
        );
        assert!(public_url("http://127.0.0.1:8443").is_ok());
        assert!(public_url("http://x.se").is_err());
        assert!(public_url("https://x.se/?a=1").is_err());
        assert!(public_url("ftp://x.se").is_err());
    }

    #[test]
    fn the_environment_sets_jwks_and_issuer() {
        let section: AuthSection = toml::from_str("environment = \"production\"").unwrap();
        let auth = auth_settings(Path::new("."), &section).unwrap();
        assert_eq!(
            auth.jwks_url,
            "https://nutid-auth.sunet.se/.well-known/jwks.json"
        );
        assert_eq!(auth.issuer.as_deref(), Some("https://nutid-auth.sunet.se"));
        assert_eq!(auth.organization_id, SKOLVERKET_ORGANIZATION_ID);
    }

    #[test]
    fn auth_problems_are_reported_together() {
        let section: AuthSection =
            toml::from_str("organization_id = \"2021004185\"\njwks_refresh_secs = 0").unwrap();
        let text = auth_settings(Path::new("."), &section)
            .unwrap_err()
            .to_string();
        assert!(text.contains("auth.jwks_url"), "{text}");
        assert!(text.contains("auth.organization_id"), "{text}");
        assert!(text.contains("auth.jwks_refresh_secs"), "{text}");
    }
}
