//! Starting and stopping a whole sandbox: generate the municipality, build
//! the PKI, bind the five listeners on 127.0.0.1 and serve the emulators.
//!
//! - the authorisation server speaks HTTPS and takes only client
//!   certificates of the sandbox CA, like the real one; `/transaction`
//!   refuses a connection without one, the JWKS is public;
//! - Skolverket's SS12000 client ([`crate::pull_client`]) speaks HTTPS at
//!   its production path (`/provtjanst/ss12000/klient/v1`) without client
//!   certificates (webhook callers authenticate with a JWT);
//! - the Provisioning API speaks HTTPS with a server certificate of the same
//!   CA and no client certificate (bearer tokens), as production does, so
//!   the client's TLS set-up for the API is exercised too
//!   ([`ProvisioningOptions::tls`](crate::config::ProvisioningOptions), on by
//!   default; clients trust `ca_cert`);
//! - the Open-data API and EduCloud (with the generic SS 12000 API) speak
//!   plain HTTP on loopback: TLS there would only make every client trust
//!   the sandbox CA for no gain in fidelity of what is being tested, and
//!   loopback traffic never leaves the host.
//!
//! The Provisioning API and Open-data API sit under the same paths as in
//! production (`/provtjanst/provisioning/v1`, `/provtjanst/open-data/v1`), so
//! clients are exercised with base URLs that carry a path.
//!
//! Connections are served by hyper directly (not `axum::serve`) so that the
//! listener can hand the TLS peer certificate to the handlers and can drop a
//! connection without an answer when the `drop_share` fault says so.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::{self, IssuerSettings, PeerCertificate, TokenIssuer};
use crate::change::{ChangeError, Changed, Changes};
use crate::config::{FaultSwitch, SandboxConfig};
use crate::educloud::{
    self, CallCounts, EduCloudSettings, SourceCalls, Subscription, Subscriptions, TokenStore,
};
use crate::generate::{self, DirtyRecord, GenerateConfig};
use crate::provisioning::{self, ProvisioningState, Store};
use crate::pull_client::{self, ClientSetup, Ss12000Client};
use crate::tls::{ClientSubject, Pki};
use crate::webhooks::{Delivery, Notifier};
use crate::world::{Catalogue, World};

/// Path of the Provisioning API under its listener, as in production.
pub const PROVISIONING_PATH: &str = "/provtjanst/provisioning/v1";
/// Path of the Open-data API under its listener, as in production.
pub const OPEN_DATA_PATH: &str = "/provtjanst/open-data/v1";

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections to finish their answers.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The certificates could not be made or written.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The token issuer could not be set up.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// A port was taken (or not allowed).
    #[error("could not listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port (0 = any).
        port: u16,
        /// The cause.
        source: std::io::Error,
    },
    /// `port_base` leaves no room for the five consecutive ports.
    #[error("port base {0} is too high: the sandbox needs five consecutive ports")]
    PortBase(u16),
    /// The municipality could not be generated.
    #[error("could not generate the municipality: {0}")]
    Generate(String),
    /// The source options are invalid (every problem, one per line).
    #[error("invalid source options:\n{}", .0.join("\n"))]
    Source(Vec<String>),
    /// The webhook client could not be set up.
    #[error(transparent)]
    Webhooks(#[from] crate::webhooks::WebhookError),
    /// `webhook_ca` could not be read.
    #[error("could not read webhook_ca {path}: {source}")]
    WebhookCa {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `students` is outside the documented range.
    #[error(
        "students: {0} is out of range; the sandbox generates {min} to {max} students",
        min = crate::config::STUDENTS_MIN,
        max = crate::config::STUDENTS_MAX
    )]
    Students(usize),
}

/// Where everything is: the URLs, credentials and certificate paths a
/// client needs (defined in `model`, where the components that point at the
/// sandbox can see it).
pub use skolsync_model::sandbox::Endpoints;

/// A running sandbox. Dropping it stops the listeners; [`Sandbox::shutdown`]
/// also waits for open connections to finish.
pub struct Sandbox {
    endpoints: Endpoints,
    world: World,
    dirty: Vec<DirtyRecord>,
    faults: Arc<FaultSwitch>,
    issuer: Arc<TokenIssuer>,
    services: Services,
    pki: Pki,
    config: SandboxConfig,
    notifier: Notifier,
    ss12000_client: Arc<Ss12000Client>,
    /// Change sets so far; each draws from its own seed.
    change_sets: AtomicU64,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("endpoints", &self.endpoints)
            .field("pki", &self.pki)
            .finish_non_exhaustive()
    }
}

/// The five bound listeners, before anything serves on them.
struct Listeners {
    auth: TcpListener,
    provisioning: TcpListener,
    open_data: TcpListener,
    educloud: TcpListener,
    ss12000_client: TcpListener,
}

impl Listeners {
    async fn bind(port_base: Option<u16>) -> Result<Listeners, SandboxError> {
        let ports: [u16; 5] = match port_base {
            Some(base) => {
                if base > u16::MAX - 4 || base == 0 {
                    return Err(SandboxError::PortBase(base));
                }
                [base, base + 1, base + 2, base + 3, base + 4]
            }
            None => [0; 5],
        };
        Ok(Listeners {
            auth: bind(ports[0]).await?,
            provisioning: bind(ports[1]).await?,
            open_data: bind(ports[2]).await?,
            educloud: bind(ports[3]).await?,
            ss12000_client: bind(ports[4]).await?,
        })
    }
}

async fn bind(port: u16) -> Result<TcpListener, SandboxError> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .map_err(|source| SandboxError::Bind { port, source })
}

fn local_port(listener: &TcpListener) -> Result<u16, SandboxError> {
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| SandboxError::Bind { port: 0, source })
}

impl Sandbox {
    /// Generates the world and the certificates and starts all services.
    /// Must be called inside a tokio runtime.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        if !(crate::config::STUDENTS_MIN..=crate::config::STUDENTS_MAX).contains(&config.students) {
            return Err(SandboxError::Students(config.students));
        }
        let problems = config.source.problems();
        if !problems.is_empty() {
            return Err(SandboxError::Source(problems));
        }
        // Ports first: a taken port should fail fast, before a large
        // municipality is generated.
        let listeners = Listeners::bind(config.port_base).await?;
        let faults = Arc::new(
            FaultSwitch::new(config.faults.clone(), config.seed)
                .with_source(config.source_faults.clone()),
        );
        let (world, subject, dirty) = generate_world(&config).await?;
        let pki = Pki::generate(config.cert_dir.as_deref(), &subject)?;

        let auth_port = local_port(&listeners.auth)?;
        let provisioning_port = local_port(&listeners.provisioning)?;
        let open_data_port = local_port(&listeners.open_data)?;
        let educloud_port = local_port(&listeners.educloud)?;
        let client_port = local_port(&listeners.ss12000_client)?;
        let ss12000_client_url = format!(
            "https://127.0.0.1:{client_port}{}",
            pull_client::CLIENT_PATH
        );

        let auth_url = format!("https://127.0.0.1:{auth_port}");
        let provisioning_scheme = if config.provisioning.tls {
            "https"
        } else {
            "http"
        };
        let provisioning_url =
            format!("{provisioning_scheme}://127.0.0.1:{provisioning_port}{PROVISIONING_PATH}");
        let open_data_url = format!("http://127.0.0.1:{open_data_port}{OPEN_DATA_PATH}");
        let educloud_base = format!("http://127.0.0.1:{educloud_port}");

        let issuer = Arc::new(TokenIssuer::new(
            IssuerSettings {
                issuer: auth_url.clone(),
                provisioning_url: provisioning_url.clone(),
                extra_locations: config.provisioning.token_locations.clone(),
                organisation_number: subject.organisation_number.clone(),
                common_name: subject.common_name.clone(),
                lifetime: config.token_lifetime,
                ss12000_client_url: ss12000_client_url.clone(),
            },
            Arc::clone(&faults),
        )?);

        let services = build_services(&config, &world, &faults, &issuer, &provisioning_url);
        let notifier = notifier(&config, &pki, &services.subscriptions)?;
        let ss12000_client = Arc::new(Ss12000Client::new(ClientSetup {
            base_url: ss12000_client_url.clone(),
            issuer: Arc::clone(&issuer),
            ca_pem: pki.ca_pem().to_string(),
            catalogue: Arc::clone(&world.catalogue),
            faults: Arc::clone(&faults),
            organisation: Some(subject.organisation_number.clone()),
        }));

        let endpoints = Endpoints {
            auth_url,
            provisioning_url,
            open_data_url,
            educloud_url: format!(
                "{educloud_base}{}",
                educloud::educloud_base(&config.educloud_customer_id)
            ),
            educloud_token_url: format!("{educloud_base}{}", educloud::TOKEN_PATH),
            client_id: config.educloud_client_id.clone(),
            client_secret: config.educloud_client_secret.clone(),
            ss12000_url: format!("{educloud_base}{}", educloud::GENERIC_BASE),
            ss12000_token: config.ss12000_token.clone(),
            client_cert: path_string(pki.client_cert_path()),
            client_key: path_string(pki.client_key_path()),
            ca_cert: path_string(pki.ca_cert_path()),
            ss12000_client_url,
        };

        let (shutdown, _) = watch::channel(false);
        let tls = TlsAcceptor::from(pki.auth_server_config());
        let api_tls = config
            .provisioning
            .tls
            .then(|| TlsAcceptor::from(pki.api_server_config()));
        let tasks = vec![
            tokio::spawn(serve(
                listeners.auth,
                auth::router(Arc::clone(&issuer)),
                Some(tls),
                None,
                shutdown.subscribe(),
            )),
            tokio::spawn(serve(
                listeners.provisioning,
                Router::new().nest(
                    PROVISIONING_PATH,
                    provisioning::router(services.provisioning.clone()),
                ),
                api_tls,
                Some(Arc::clone(&faults)),
                shutdown.subscribe(),
            )),
            tokio::spawn(serve(
                listeners.open_data,
                Router::new().nest(OPEN_DATA_PATH, services.open_data.clone()),
                None,
                None,
                shutdown.subscribe(),
            )),
            tokio::spawn(serve(
                listeners.educloud,
                services.educloud.clone(),
                None,
                None,
                shutdown.subscribe(),
            )),
            tokio::spawn(serve(
                listeners.ss12000_client,
                Router::new().nest(
                    pull_client::CLIENT_PATH,
                    pull_client::router(Arc::clone(&ss12000_client)),
                ),
                Some(TlsAcceptor::from(pki.api_server_config())),
                None,
                shutdown.subscribe(),
            )),
        ];
        tracing::info!(
            auth = %endpoints.auth_url,
            provisioning = %endpoints.provisioning_url,
            open_data = %endpoints.open_data_url,
            educloud = %endpoints.educloud_url,
            ss12000_client = %endpoints.ss12000_client_url,
            "sandbox started"
        );
        // Armed now that everything serves, so a 503 window counts from here.
        faults.set_outage(config.outage.clone());
        Ok(Sandbox {
            endpoints,
            world,
            dirty,
            faults,
            issuer,
            services,
            pki,
            config,
            notifier,
            ss12000_client,
            change_sets: AtomicU64::new(0),
            shutdown,
            tasks,
        })
    }

    /// The URLs, credentials and certificate paths.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The generated data the services serve (tests change the source side).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The records the generator broke on purpose (`dirt`), with their faults.
    pub fn dirty(&self) -> &[DirtyRecord] {
        &self.dirty
    }

    /// The live fault switch of every service.
    pub fn faults(&self) -> &Arc<FaultSwitch> {
        &self.faults
    }

    /// The authorisation server's token issuer (verify tokens, count them).
    pub fn token_issuer(&self) -> &Arc<TokenIssuer> {
        &self.issuer
    }

    /// What the Provisioning API emulator holds and every request it received.
    pub fn provisioning_store(&self) -> Store {
        self.services.provisioning.store()
    }

    /// The tokens EduCloud's token endpoint issued (expire them from tests).
    pub fn educloud_tokens(&self) -> &TokenStore {
        &self.services.educloud_tokens
    }

    /// The calls the source APIs (EduCloud and generic SS 12000, token
    /// endpoint included) received since the start or the last
    /// [`Sandbox::reset_source_calls`].
    pub fn source_calls(&self) -> CallCounts {
        self.services.educloud_calls.snapshot()
    }

    /// Starts counting source calls from zero; returns the counts so far.
    pub fn reset_source_calls(&self) -> CallCounts {
        self.services.educloud_calls.reset()
    }

    /// The subscriptions made at the source APIs, oldest first.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        self.services.subscriptions.list()
    }

    /// Skolverket's SS12000 client (pull method): register a huvudman's
    /// SS 12000 API on it, observe what it fetched, held and posted.
    pub fn ss12000_client(&self) -> Arc<Ss12000Client> {
        Arc::clone(&self.ss12000_client)
    }

    /// Every webhook delivery attempt so far, oldest first.
    pub fn webhook_deliveries(&self) -> Vec<Delivery> {
        self.notifier.deliveries()
    }

    /// Changes the municipality in one change set (see [`crate::change`])
    /// and notifies the live subscriptions once. Returns what was touched;
    /// on an edit's error the edits before it stay (and are notified).
    pub fn change<F>(&self, edit: F) -> Result<Changed, ChangeError>
    where
        F: FnOnce(&mut Changes<'_>) -> Result<(), ChangeError>,
    {
        let n = self.change_sets.fetch_add(1, Ordering::Relaxed);
        let seed = self.config.seed ^ (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let (changed, result) = self.world.change_set(seed, edit);
        if !changed.is_empty() {
            self.notifier
                .notify(&changed.modified_kinds(), &changed.deleted_kinds());
        }
        result.map(|()| changed)
    }

    /// Moves the source's clock `by` forward, as if that much time passed
    /// (see [`SourceData::advance_clock`](crate::world::SourceData::advance_clock)).
    pub fn advance_source_clock(&self, by: chrono::Duration) -> Result<(), ChangeError> {
        let mut data = self
            .world
            .source
            .write()
            .map_err(|_| ChangeError::Poisoned)?;
        data.advance_clock(by);
        Ok(())
    }

    /// Changes `share` (0–1) of the pupils in one change set: new family
    /// names or moves to a parallel class (see
    /// [`Changes::change_share_of_pupils`]).
    pub fn change_share_of_pupils(&self, share: f64) -> Result<Changed, ChangeError> {
        self.change(|changes| changes.change_share_of_pupils(share).map(|_| ()))
    }

    /// The client certificate's `cert#S256` fingerprint.
    pub fn client_fingerprint(&self) -> &str {
        self.pki.client_fingerprint()
    }

    /// The authorisation server's public-key pin (`sha256//…`).
    pub fn server_pin(&self) -> &str {
        self.pki.server_pin()
    }

    /// The generated certificates and their files.
    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The configuration the sandbox was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// Directory of the PEM files.
    pub fn cert_dir(&self) -> PathBuf {
        self.pki.dir().to_path_buf()
    }

    /// Stops accepting connections, lets open ones finish their current
    /// answer (a few seconds at most) and returns when all listeners are down.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // The listener tasks see the signal and wind down on their own.
        let _ = self.shutdown.send(true);
    }
}

fn path_string(path: PathBuf) -> String {
    path.to_string_lossy().into_owned()
}

/// Everything the four listeners serve, plus the handles tests use.
struct Services {
    provisioning: ProvisioningState,
    open_data: Router,
    educloud: Router,
    educloud_tokens: TokenStore,
    educloud_calls: SourceCalls,
    subscriptions: Subscriptions,
}

/// The webhook notifier, trusting the sandbox CA and `webhook_ca`.
fn notifier(
    config: &SandboxConfig,
    pki: &Pki,
    subscriptions: &Subscriptions,
) -> Result<Notifier, SandboxError> {
    let extra = match &config.source.webhook_ca {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read(path).map_err(|source| SandboxError::WebhookCa {
                path: path.clone(),
                source,
            })?,
        )),
        None => None,
    };
    let mut roots: Vec<(&str, &[u8])> = vec![("the sandbox CA", pki.ca_pem().as_bytes())];
    if let Some((name, pem)) = &extra {
        roots.push((name, pem));
    }
    Ok(Notifier::new(subscriptions.clone(), &roots)?)
}

/// Generates the municipality (off the async threads: a national-scale
/// one takes a while) and names its huvudman for the client certificate.
async fn generate_world(
    config: &SandboxConfig,
) -> Result<(World, ClientSubject, Vec<DirtyRecord>), SandboxError> {
    let generate_config = GenerateConfig {
        students: config.students,
        seed: config.seed,
        dirt: config.dirt,
        vux_students: config.vux_students,
        ..GenerateConfig::default()
    };
    let municipality = tokio::task::spawn_blocking(move || generate::generate(&generate_config))
        .await
        .map_err(|err| SandboxError::Generate(err.to_string()))?;
    let subject = ClientSubject {
        common_name: format!("{} (sandbox)", municipality.name),
        organisation_name: municipality.name.clone(),
        organisation_number: municipality.organisation_number.clone(),
    };
    let dirty = municipality.dirty.clone();
    Ok((municipality.into_world(), subject, dirty))
}

fn build_services(
    config: &SandboxConfig,
    world: &World,
    faults: &Arc<FaultSwitch>,
    issuer: &Arc<TokenIssuer>,
    provisioning_url: &str,
) -> Services {
    let provisioning = ProvisioningState::new(
        Arc::clone(&world.catalogue),
        Arc::clone(faults),
        config.limits,
        config.job_settle_delay,
        issuer.bearer_verifier(),
    )
    .with_settling(&config.provisioning)
    .with_base_url(provisioning_url);
    let educloud_settings = EduCloudSettings::from_config(config);
    let educloud_tokens = educloud_settings.tokens.clone();
    let educloud_calls = educloud_settings.calls.clone();
    let subscriptions = educloud_settings.subscriptions.clone();
    Services {
        provisioning,
        open_data: crate::opendata::router(Arc::clone(&world.catalogue), Arc::clone(faults)),
        educloud: crate::educloud::router(world.clone(), educloud_settings, Arc::clone(faults)),
        educloud_tokens,
        educloud_calls,
        subscriptions,
    }
}

/// A lone service started beside a sandbox ([`serve_open_data`]); it stops
/// when dropped.
pub struct StandIn {
    url: String,
    shutdown: watch::Sender<bool>,
}

impl StandIn {
    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// An Open-data API serving `catalogue` alone, on a free loopback port at
/// the production path (plain HTTP, no faults): for tests in which the
/// client's view of Skolverket's register differs from the service's, as
/// with a stale copy. Must be called inside a tokio runtime.
pub async fn serve_open_data(catalogue: Catalogue) -> Result<StandIn, SandboxError> {
    let listener = bind(0).await?;
    let port = local_port(&listener)?;
    let (shutdown, _) = watch::channel(false);
    let faults = Arc::new(FaultSwitch::new(crate::config::Faults::default(), 0));
    let app = Router::new().nest(
        OPEN_DATA_PATH,
        crate::opendata::router(Arc::new(catalogue), faults),
    );
    tokio::spawn(serve(listener, app, None, None, shutdown.subscribe()));
    Ok(StandIn {
        url: format!("http://127.0.0.1:{port}{OPEN_DATA_PATH}"),
        shutdown,
    })
}

/// The request was chosen by the `drop_share` fault: hyper closes the
/// connection without an answer when a service fails.
#[derive(Debug)]
struct DroppedByFault;

impl std::fmt::Display for DroppedByFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the drop_share fault")
    }
}

impl std::error::Error for DroppedByFault {}

/// Resolves once the shutdown signal is (or was already) given.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The returned guard must not live across an await of the caller.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Accepts connections on `listener` until shutdown, serving `app` on each
/// (after a TLS handshake when `tls` is set). With `drop_faults`, each
/// request may be answered by closing the connection instead.
async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    drop_faults: Option<Arc<FaultSwitch>>,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every connection task holds a sender; when all are gone the receiver
    // yields None, which is how shutdown knows the connections are done.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    loop {
        let accepted = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let tls = tls.clone();
        let faults = drop_faults.clone();
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            handle_connection(stream, app, tls, faults, shutdown).await;
            drop(alive);
        });
    }
    let addr = listener.local_addr().ok();
    drop(listener);
    drop(alive);
    if tokio::time::timeout(DRAIN_TIMEOUT, all_done.recv())
        .await
        .is_err()
    {
        tracing::debug!(?addr, "connections still open after the drain timeout");
    }
    tracing::debug!(?addr, "listener stopped");
}

async fn handle_connection(
    stream: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    faults: Option<Arc<FaultSwitch>>,
    shutdown: watch::Receiver<bool>,
) {
    match tls {
        None => serve_http(stream, app, None, faults, shutdown).await,
        Some(acceptor) => {
            let tls_stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(err)) => {
                        // A client without a certificate of the CA ends here.
                        tracing::info!(error = %err, "TLS handshake refused");
                        return;
                    }
                    Err(_) => return,
                };
            let peer = tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| PeerCertificate::from_der(cert.as_ref()));
            serve_http(tls_stream, app, peer, faults, shutdown).await;
        }
    }
}

async fn serve_http<I>(
    io: I,
    app: Router,
    peer: Option<PeerCertificate>,
    faults: Option<Arc<FaultSwitch>>,
    mut shutdown: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let app = app.clone();
        let peer = peer.clone();
        let faults = faults.clone();
        async move {
            if let Some(faults) = &faults
                && faults.chance(faults.get().drop_share)
            {
                return Err(DroppedByFault);
            }
            let mut request = request.map(axum::body::Body::new);
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer);
            }
            let response = app
                .oneshot(request)
                .await
                .unwrap_or_else(|never: Infallible| match never {});
            Ok(response)
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(err) = result {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        }
        _ = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
