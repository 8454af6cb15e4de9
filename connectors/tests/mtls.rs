//! The generic connector against an SS 12000 API that requires a client
//! certificate: the sandbox's SS 12000 routes served over HTTPS with the
//! sandbox PKI's server config (which demands a client certificate of its CA).

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use common::*;
use skolsync_connectors::{ReadOptions, SourceError};
use skolsync_sandbox::Sandbox;
use skolsync_sandbox::educloud::{self, EduCloudSettings};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Serves the sandbox's EduCloud/generic router over mutual TLS; returns its address.
async fn serve_mtls(sandbox: &Sandbox) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(sandbox.pki().server_config());
    let app = educloud::router(
        sandbox.world().clone(),
        EduCloudSettings::from_config(sandbox.config()),
        sandbox.faults().clone(),
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let app = app.clone();
            tokio::spawn(async move {
                // A client without a certificate of the CA fails here.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn mtls_toml(sandbox: &Sandbox, addr: SocketAddr, with_client_cert: bool) -> String {
    let e = sandbox.endpoints();
    let client = if with_client_cert {
        format!(
            "client_cert = \"{}\"\nclient_key = \"{}\"\n",
            e.client_cert, e.client_key
        )
    } else {
        String::new()
    };
    format!(
        "kind = \"ss12000\"\nbase_url = \"https://127.0.0.1:{}/ss12000/v2.0\"\nca_cert = \"{}\"\nmax_retries = 0\n{client}\
         [auth]\ntype = \"bearer\"\ntoken = \"{}\"\n",
        addr.port(),
        e.ca_cert,
        e.ss12000_token
    )
}

#[tokio::test]
async fn a_client_certificate_opens_an_mtls_api() {
    let sandbox = sandbox(100, |_| {}).await;
    let addr = serve_mtls(&sandbox).await;
    let (snap, rejects, _) = read_all(
        source(&mtls_toml(&sandbox, addr, true)).as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap();
    assert!(rejects.is_empty());
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(snap.persons, world.persons);
    assert_eq!(snap.groups, world.groups);
}

#[tokio::test]
async fn without_the_client_certificate_the_handshake_fails_clearly() {
    let sandbox = sandbox(50, |_| {}).await;
    let addr = serve_mtls(&sandbox).await;
    let err = read_all(
        source(&mtls_toml(&sandbox, addr, false)).as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap_err();
    let prefix = format!("https://127.0.0.1:{}/ss12000/v2.0/", addr.port());
    assert!(
        matches!(&err, SourceError::Unreachable { url, attempts: 1, .. } if url.starts_with(&prefix))
            || matches!(&err, SourceError::Tls { url, .. } if url.starts_with(&prefix)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_server_is_verified_a_foreign_ca_is_refused() {
    let sandbox = sandbox(50, |_| {}).await;
    let addr = serve_mtls(&sandbox).await;
    // Without ca_cert the sandbox's server certificate is not trusted:
    // a permanent error, named as such and not retried.
    let toml_text = mtls_toml(&sandbox, addr, true)
        .replace(
            &format!("ca_cert = \"{}\"\n", sandbox.endpoints().ca_cert),
            "",
        )
        .replace("max_retries = 0", "max_retries = 5\nconcurrency = 1");
    let progress = skolsync_connectors::ReadProgress::new();
    let err = read_all(source(&toml_text).as_ref(), watched(&progress))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Tls { message, .. } if message.contains("certificate")),
        "{err:?}"
    );
    assert!(err.to_string().contains("not retried"), "{err}");
    assert_eq!(progress.requests(), 1, "a certificate problem was retried");
}
