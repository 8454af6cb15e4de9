//! The host of `skolsync serve`: one listener (HTTPS, or plain HTTP only
//! when the config says so on purpose), routers mounted under their paths,
//! named background tasks, and a graceful shutdown that stops both.
//!
//! It knows nothing of SS 12000: [`Host::mount`] takes any router, so later
//! work (a dashboard, metrics, workers) mounts beside the pull APIs, which
//! [`pull_host`] mounts from the config. Every answer goes through the same
//! layers: request log at debug (method, path, status, time — never a
//! body, a query or a header), a time limit per request (`503`), a body
//! limit (`413`), and JSON errors in the SS 12000 `Error` shape for unknown
//! routes (`404`) and wrong methods (`405`). `/healthz` answers without a
//! token and says nothing about the data.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::auth::{ApiGuard, AuthSetupError, Verifier, require_token};
use super::config::ServeConfig;
use super::error::ApiError;
use super::state::ApiState;
use crate::engine::{EngineError, open_store};

/// How long shutdown waits for answers and tasks in progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the service could not be set up or keep running.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be listened on (taken, not ours).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The listener stopped with an error.
    #[error("the listener stopped: {0}")]
    Serve(String),
    /// The token verifier could not be built.
    #[error(transparent)]
    Auth(#[from] AuthSetupError),
    /// The pipelines serve runs could not be set up.
    #[error("running the pipelines: {0}")]
    Runner(String),
    /// A pipeline's state store could not be opened.
    #[error("pipeline `{pipeline}`: {error}")]
    Store {
        /// The pipeline.
        pipeline: String,
        /// Why.
        error: Box<EngineError>,
    },
}

/// What a background task awaits to learn that the service stops.
#[derive(Debug, Clone)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    /// Returns once the service stops (at once if it already has).
    pub async fn wait(&mut self) {
        // An error means the host is gone: stop too.
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// How the host listens and what every request may take.
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// The address (port 0: any free port).
    pub listen: SocketAddr,
    /// TLS; `None` speaks plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The largest request body.
    pub max_body_bytes: usize,
    /// How long one request may take.
    pub request_timeout: Duration,
}

type TaskStart = Box<dyn FnOnce(ShutdownSignal) -> BoxFuture<'static, ()> + Send>;

/// The routes and tasks of a service, ready to start.
pub struct Host {
    settings: HostSettings,
    router: Router,
    tasks: Vec<(String, TaskStart)>,
    mounted: Vec<String>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("settings", &self.settings)
            .field("mounted", &self.mounted)
            .field(
                "tasks",
                &self.tasks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Host {
    /// A host with only `/healthz`.
    pub fn new(settings: HostSettings) -> Host {
        Host {
            settings,
            router: Router::new().route("/healthz", get(healthz)),
            tasks: Vec::new(),
            mounted: Vec::new(),
        }
    }

    /// Serves `router` under `path` (e.g. `/ss12000/linkoping`; `/` or an
    /// empty path merges it at the root).
    pub fn mount(&mut self, path: &str, router: Router) {
        let current = std::mem::take(&mut self.router);
        let path = path.trim_end_matches('/');
        self.router = if path.is_empty() {
            current.merge(router)
        } else if path.starts_with('/') {
            current.nest(path, router)
        } else {
            current.nest(&format!("/{path}"), router)
        };
        self.mounted.push(path.to_string());
    }

    /// Runs `task` while the service runs; it is handed the signal of the
    /// shutdown, after which it has a few seconds to finish.
    pub fn task<F, Fut>(&mut self, name: &str, task: F)
    where
        F: FnOnce(ShutdownSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let start: TaskStart = Box::new(move |signal| Box::pin(task(signal)));
        self.tasks.push((name.to_string(), start));
    }

    /// The finished router, with the host's layers (what [`start`](Self::start) serves).
    fn app(&self) -> Router {
        let timeout = self.settings.request_timeout;
        self.router
            .clone()
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(self.settings.max_body_bytes))
            .layer(middleware::from_fn(json_errors))
            .layer(middleware::from_fn_with_state(timeout, time_limit))
            .layer(middleware::from_fn(log_request))
    }

    /// Listens, serves and starts the tasks. Must be called inside the
    /// tokio runtime.
    pub fn start(self) -> Result<RunningHost, ServeError> {
        let listen = self.settings.listen;
        let bind_error = |source| ServeError::Bind {
            addr: listen,
            source,
        };
        let crate::listener::Listening {
            local_addr,
            handle,
            task: server,
        } = crate::listener::listen(listen, self.settings.tls.as_ref(), self.app())
            .map_err(bind_error)?;
        let (stop, signal) = watch::channel(false);
        let tasks = self
            .tasks
            .into_iter()
            .map(|(name, start)| {
                let task = tokio::spawn(start(ShutdownSignal(signal.clone())));
                (name, task)
            })
            .collect();
        let tls = self.settings.tls.is_some();
        if !tls {
            tracing::warn!(
                listen = %local_addr,
                "serving plain HTTP (plain_http = true): only behind a proxy that terminates TLS"
            );
        }
        tracing::info!(listen = %local_addr, tls, "listening");
        Ok(RunningHost {
            local_addr,
            tls,
            handle,
            server,
            stop,
            tasks,
        })
    }
}

/// A host that serves; stops with [`shutdown`](Self::shutdown) or when
/// dropped.
#[derive(Debug)]
pub struct RunningHost {
    local_addr: SocketAddr,
    tls: bool,
    handle: axum_server::Handle<SocketAddr>,
    server: JoinHandle<std::io::Result<()>>,
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl RunningHost {
    /// The address it listens on (the port chosen when `listen` said 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether it speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Serves until `stop` completes (a signal, say), then shuts down; an
    /// error if the listener failed first.
    pub async fn run_until(mut self, stop: impl Future<Output = ()>) -> Result<(), ServeError> {
        let failed = tokio::select! {
            () = stop => None,
            ended = &mut self.server => Some(match ended {
                Ok(Ok(())) => "the listener ended".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            }),
        };
        self.shutdown().await;
        match failed {
            Some(why) => Err(ServeError::Serve(why)),
            None => Ok(()),
        }
    }

    /// Stops listening, lets answers in progress finish and the tasks
    /// stop (a few seconds at most; then they are ended) and returns.
    pub async fn shutdown(mut self) {
        self.handle.graceful_shutdown(Some(DRAIN_TIMEOUT));
        let _ = self.stop.send(true);
        if !self.server.is_finished() {
            match tokio::time::timeout(DRAIN_TIMEOUT * 2, &mut self.server).await {
                Ok(Ok(Err(e))) => tracing::warn!("the listener stopped with an error: {e}"),
                Ok(Err(e)) => tracing::warn!("the listener's task failed: {e}"),
                Ok(Ok(Ok(()))) => {}
                Err(_) => self.server.abort(),
            }
        }
        for (name, mut task) in std::mem::take(&mut self.tasks) {
            match tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(task = %name, "background task failed: {e}"),
                Err(_) => {
                    tracing::warn!(task = %name, "background task did not stop in time; ended");
                    task.abort();
                }
            }
        }
        tracing::info!("stopped");
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        self.handle.shutdown();
        let _ = self.stop.send(true);
        for (_, task) in &self.tasks {
            task.abort();
        }
    }
}

/// One pipeline's pull API: the SS 12000 GETs, subscriptions, `/log` and
/// `/statistics`, everything behind the token check — an unknown resource
/// too, which then answers 400 naming what the API serves.
pub fn pull_api(state: ApiState, guard: ApiGuard) -> Router {
    super::dataset::routes()
        .merge(super::subscriptions::routes())
        .merge(super::feedback::routes())
        .fallback(unknown_resource)
        .layer(middleware::from_fn_with_state(guard, require_token))
        .with_state(state)
}

/// A path under a pull API that is none of its resources.
async fn unknown_resource(uri: axum::http::Uri) -> ApiError {
    let path: String = uri.path().chars().take(100).collect();
    ApiError::bad_request(
        "unknown_resource",
        format!(
            "`{path}` is not a resource of this API: it serves /organisations, /persons, /groups, /duties, /activities (each also by id), /deletedEntities, /subscriptions, /log and /statistics"
        ),
    )
}

/// The host `skolsync serve` runs for `config`: every pull API mounted
/// (stores opened), the JWKS refreshed in the background.
pub async fn pull_host(config: &ServeConfig) -> Result<Host, ServeError> {
    let verifier = Verifier::new(config.auth.clone())?;
    let mut host = Host::new(HostSettings {
        listen: config.listen,
        tls: config.tls.clone(),
        max_body_bytes: config.max_body_bytes,
        request_timeout: config.request_timeout,
    });
    for api in &config.apis {
        let name = api.pipeline.name().to_string();
        let store = open_store(&api.pipeline)
            .await
            .map_err(|error| ServeError::Store {
                pipeline: name.clone(),
                error: Box::new(error),
            })?;
        let state = ApiState {
            store,
            dataset: api.dataset.clone(),
            pipeline: name.clone(),
            location: api.location.clone(),
            subscription_lifetime: api.subscription_lifetime,
        };
        let guard = ApiGuard {
            verifier: verifier.clone(),
            location: api.location.clone(),
            pipeline: name,
        };
        host.mount(&api.path, pull_api(state, guard));
    }
    let refresher = verifier.clone();
    host.task("jwks-refresh", move |signal| refresher.refresher(signal));
    super::runner::add(&mut host, config).await?;
    Ok(host)
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "ok" }))).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("no such resource: {}", request.uri().path()))
}

/// Gives the bodiless `405` of the router the SS 12000 `Error` shape (the
/// `Allow` header stays).
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let error = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "method_not_allowed",
        message: "this resource does not take that method".to_string(),
    };
    let body = error.into_response();
    parts.headers.extend(body.headers().clone());
    Response::from_parts(parts, body.into_body())
}

async fn time_limit(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "timeout",
            message: format!("the answer took longer than {} s", limit.as_secs()),
        }
        .into_response(),
    }
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::debug!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
