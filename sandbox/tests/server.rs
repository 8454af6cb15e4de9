//! A whole sandbox as tests and scripts use it: start, endpoints, ports,
//! certificate files, faults at the listener, shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use skolsync_sandbox::SandboxError;
use skolsync_sandbox::{Faults, Sandbox, SandboxConfig};

fn small() -> SandboxConfig {
    SandboxConfig {
        students: 50,
        ..SandboxConfig::default()
    }
}

/// Starts on some free block of five ports from a base derived from the
/// process id, moving on when a port is taken (tests run in parallel).
async fn start_on_port_base(mut config: SandboxConfig) -> (Sandbox, u16) {
    let mut base = 20_000 + (std::process::id() % 2000) as u16 * 16;
    for _ in 0..50 {
        config.port_base = Some(base);
        match Sandbox::start(config.clone()).await {
            Ok(sandbox) => return (sandbox, base),
            Err(SandboxError::Bind { .. }) => base += 5,
            Err(other) => panic!("{other}"),
        }
    }
    panic!("no free block of five ports found");
}

fn port_of(url: &str) -> u16 {
    let rest = url.split("://").nth(1).unwrap();
    let authority = rest.split('/').next().unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn endpoints_have_exactly_the_documented_keys_and_lead_to_live_services() {
    let sandbox = Sandbox::start(small()).await.unwrap();
    let e = sandbox.endpoints();
    let json = serde_json::to_value(e).unwrap();
    let keys: BTreeSet<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: BTreeSet<&str> = [
        "auth_url",
        "provisioning_url",
        "open_data_url",
        "educloud_url",
        "educloud_token_url",
        "client_id",
        "client_secret",
        "ss12000_url",
        "ss12000_token",
        "client_cert",
        "client_key",
        "ca_cert",
        "ss12000_client_url",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);

    // Everything is on loopback; auth is HTTPS, the base URLs carry the
    // production paths.
    for url in [
        &e.auth_url,
        &e.provisioning_url,
        &e.open_data_url,
        &e.educloud_url,
        &e.ss12000_client_url,
    ] {
        assert!(url.contains("://127.0.0.1:"), "{url}");
    }
    assert!(e.auth_url.starts_with("https://"));
    assert!(e.ss12000_client_url.starts_with("https://"));
    assert!(
        e.ss12000_client_url
            .ends_with("/provtjanst/ss12000/klient/v1")
    );
    assert!(e.provisioning_url.ends_with("/provtjanst/provisioning/v1"));
    assert!(e.open_data_url.ends_with("/provtjanst/open-data/v1"));
    assert!(
        e.educloud_url.ends_with(&format!(
            "/ss12000v2-api/source/{}/v2.0",
            sandbox.config().educloud_customer_id
        )),
        "{}",
        e.educloud_url
    );

    // The PEM files are where the endpoints say.
    for path in [&e.ca_cert, &e.client_cert] {
        let pem = std::fs::read_to_string(path).unwrap();
        assert!(pem.contains("BEGIN CERTIFICATE"), "{path}");
    }
    assert!(
        std::fs::read_to_string(&e.client_key)
            .unwrap()
            .contains("PRIVATE KEY")
    );

    // Open data answers without credentials.
    let alive = reqwest::get(format!("{}/alive", e.open_data_url))
        .await
        .unwrap();
    assert_eq!(alive.status().as_u16(), 200);
}

#[tokio::test]
async fn the_token_names_the_generated_huvudman() {
    let sandbox = Sandbox::start(small()).await.unwrap();
    let organisation = sandbox
        .world()
        .catalogue
        .organisations
        .first()
        .cloned()
        .expect("an organiser");
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(
            reqwest::Identity::from_pem(sandbox.pki().client_identity_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let answer: Value = client
        .post(format!("{}/transaction", sandbox.endpoints().auth_url))
        .json(&json!({
            "access_token": [{
                "access": [{ "type": "provisioning-api", "locations": [sandbox.endpoints().provisioning_url] }],
                "flags": ["bearer"]
            }],
            "client": { "key": { "proof": "mtls", "cert#S256": sandbox.client_fingerprint() } }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = sandbox
        .token_issuer()
        .verify(answer["access_token"]["value"].as_str().unwrap())
        .unwrap();
    let digits: String = organisation
        .organisation_number
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert_eq!(claims.organization_id, format!("SE{digits}"));
}

#[tokio::test]
async fn port_base_fixes_five_consecutive_ports_and_shutdown_frees_them() {
    let (sandbox, base) = start_on_port_base(small()).await;
    let e = sandbox.endpoints().clone();
    assert_eq!(port_of(&e.auth_url), base);
    assert_eq!(port_of(&e.provisioning_url), base + 1);
    assert_eq!(port_of(&e.open_data_url), base + 2);
    assert_eq!(port_of(&e.educloud_url), base + 3);
    assert_eq!(port_of(&e.educloud_token_url), base + 3);
    assert_eq!(port_of(&e.ss12000_client_url), base + 4);
    let cert_dir = sandbox.cert_dir();
    assert!(cert_dir.is_dir());

    // While it runs, the ports are taken: a second sandbox gets a clear error.
    let clash = Sandbox::start(SandboxConfig {
        port_base: Some(base),
        ..small()
    })
    .await;
    match clash {
        Err(err @ SandboxError::Bind { .. }) => {
            assert!(
                err.to_string().contains(&format!("127.0.0.1:{base}")),
                "{err}"
            )
        }
        other => panic!("expected a bind error, got {other:?}"),
    }

    sandbox.shutdown().await;
    // The temporary certificate directory went with it…
    assert!(!cert_dir.exists());
    // …and the same ports serve again.
    let again = Sandbox::start(SandboxConfig {
        port_base: Some(base),
        ..small()
    })
    .await
    .expect("ports are free after shutdown");
    assert_eq!(again.endpoints().open_data_url, e.open_data_url);
    let alive = reqwest::get(format!("{}/alive", e.open_data_url))
        .await
        .unwrap();
    assert_eq!(alive.status().as_u16(), 200);
}

#[tokio::test]
async fn a_chosen_cert_dir_gets_the_pem_files_and_keeps_them() {
    let dir = std::env::temp_dir().join(format!("skolsync-server-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sandbox = Sandbox::start(SandboxConfig {
        cert_dir: Some(dir.clone()),
        ..small()
    })
    .await
    .unwrap();
    assert_eq!(
        sandbox.endpoints().client_key,
        dir.join("client.key").to_string_lossy()
    );
    assert_eq!(
        sandbox.endpoints().client_cert,
        dir.join("client.crt").to_string_lossy()
    );
    assert_eq!(
        sandbox.endpoints().ca_cert,
        dir.join("ca.pem").to_string_lossy()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("client.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is private");
    }
    sandbox.shutdown().await;
    assert!(
        dir.join("client.crt").is_file(),
        "a chosen directory is kept"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_drop_fault_closes_provisioning_connections_without_an_answer() {
    let sandbox = Sandbox::start(small()).await.unwrap();
    let url = format!("{}/alive", sandbox.endpoints().provisioning_url);
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    sandbox.faults().set(Faults {
        drop_share: 1.0,
        ..Faults::default()
    });
    let dropped = client.get(&url).send().await;
    assert!(dropped.is_err(), "expected no answer, got {dropped:?}");
    sandbox.faults().set(Faults::default());
    let answered = client.get(&url).send().await;
    assert!(answered.is_ok(), "{answered:?}");
}

#[tokio::test]
async fn dropping_the_sandbox_stops_its_listeners() {
    let sandbox = Sandbox::start(small()).await.unwrap();
    let url = format!("{}/alive", sandbox.endpoints().open_data_url);
    drop(sandbox);
    // The listener task notices the signal at its next turn.
    let mut refused = false;
    for _ in 0..50 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        if client.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the open-data listener still answers after drop");
}

#[tokio::test]
async fn a_token_from_the_auth_server_opens_the_provisioning_api_and_educloud_serves_the_world() {
    let sandbox = Sandbox::start(small()).await.unwrap();
    let e = sandbox.endpoints().clone();
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let mtls = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .identity(
            reqwest::Identity::from_pem(sandbox.pki().client_identity_pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let answer: Value = mtls
        .post(format!("{}/transaction", e.auth_url))
        .json(&json!({
            "access_token": [{
                "access": [{ "type": "provisioning-api", "locations": [e.provisioning_url] }],
                "flags": ["bearer"]
            }],
            "client": { "key": "https://testhuvudman.se" }
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"]["value"].as_str().unwrap();

    // HTTPS with the sandbox CA's certificate, no client certificate: a
    // client that does not trust the CA cannot connect at all.
    assert!(
        e.provisioning_url.starts_with("https://"),
        "{}",
        e.provisioning_url
    );
    let untrusting = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .build()
        .unwrap();
    let persons = format!("{}/persons?limit=10", e.provisioning_url);
    assert!(untrusting.get(&persons).send().await.is_err());
    let ca = reqwest::Certificate::from_pem(sandbox.pki().ca_pem().as_bytes()).unwrap();
    let plain = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let without = plain.get(&persons).send().await.unwrap();
    assert_eq!(without.status().as_u16(), 403);
    let with = plain.get(&persons).bearer_auth(token).send().await.unwrap();
    assert_eq!(with.status().as_u16(), 200);
    // The call was counted under the client's identity (the entity id).
    let requests = sandbox.provisioning_store().requests();
    assert!(
        requests
            .iter()
            .any(|r| r.status == 200 && r.client.as_deref() == Some("https://testhuvudman.se")),
        "{requests:?}"
    );

    // EduCloud: client credentials, then the generated persons.
    let token: Value = plain
        .post(&e.educloud_token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", e.client_id.as_str()),
            ("client_secret", e.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page: Value = plain
        .get(format!("{}/persons?limit=2", e.educloud_url))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2, "{page}");
    let generic: Value = plain
        .get(format!("{}/organisations?limit=1", e.ss12000_url))
        .bearer_auth(&e.ss12000_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(generic["data"].as_array().unwrap().len(), 1, "{generic}");
}
