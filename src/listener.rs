//! One HTTP(S) listener for the services skolsync runs (the change
//! receiver of `watch`, the host of `serve`): bind, TLS with rustls or
//! plain HTTP, a time limit for the first request, a handle for graceful
//! shutdown — written once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use tokio::task::JoinHandle;

/// How long a connection may take to send its first request.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A listener that serves.
#[derive(Debug)]
pub struct Listening {
    /// The address it listens on (the port chosen when asked for 0).
    pub local_addr: SocketAddr,
    /// For shutting it down.
    pub handle: axum_server::Handle<SocketAddr>,
    /// The serving task.
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Binds `addr` and serves `router` on it, over TLS when `tls` is given.
/// Must be called inside the tokio runtime.
pub fn listen(
    addr: SocketAddr,
    tls: Option<&Arc<rustls::ServerConfig>>,
    router: Router,
) -> std::io::Result<Listening> {
    let listener = std::net::TcpListener::bind(addr)?;
    let local_addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let service = router.into_make_service();
    let task = match tls {
        Some(tls) => {
            let server =
                axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(Arc::clone(tls)))?
                    .first_request_timeout(FIRST_REQUEST_TIMEOUT)
                    .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::from_tcp(listener)?
                .first_request_timeout(FIRST_REQUEST_TIMEOUT)
                .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    Ok(Listening {
        local_addr,
        handle,
        task,
    })
}
