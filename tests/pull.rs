//! Skolverket's pull method end to end: EduCloud (sandbox) → a pipeline
//! with the `ss12000-pull` sink → `skolsync serve` over TLS with JWT
//! checks → the sandbox's emulator of Skolverket's SS12000 client, which
//! subscribes, fetches, takes webhooks, judges the data with the
//! Provisioning API's own profile rules and posts LogEntries and
//! StatisticsEntries back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use skolsync::engine::RunResult;
use skolsync::serve::config::ServeConfig;
use skolsync::serve::host::{RunningHost, pull_host};
use skolsync::state::StateStore;
use skolsync_model::GroupType;
use skolsync_model::ss12000::{EntityKind, Group, Person, SourceId};
use skolsync_sandbox::pull_client::{Holdings, RegistrationId};
use support::{Harness, assert_success};
use uuid::Uuid;

const API_PATH: &str = "/ss12000/exempelby";
const DATASET: &str = "ss12000-pull:exempelby-pull";

/// `skolsync serve` for `pipeline`, over TLS with a certificate of the
/// sandbox's CA, checking tokens against the sandbox's JWKS.
async fn serve(h: &Harness, pipeline: &Path) -> (RunningHost, String) {
    serve_with(h, pipeline, false).await
}

/// [`serve`], with serve running the pipeline itself when `run`.
async fn serve_with(h: &Harness, pipeline: &Path, run: bool) -> (RunningHost, String) {
    let identity = h.sandbox.pki().issue_server_identity("pull-api").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let receiver_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = h.sandbox.endpoints();
    let config = h.dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "https://127.0.0.1:{port}"
tls_cert = "{cert}"
tls_key = "{key}"

[auth]
jwks_url = "{auth}/.well-known/jwks.json"
issuer = "{auth}"
ca_cert = "{ca}"

[watch]
listen = "127.0.0.1:{receiver_port}"
public_url = "https://127.0.0.1:{receiver_port}"

[[pull]]
pipeline = "{pipeline}"
path = "{API_PATH}"
run = {run}
"#,
            cert = identity.cert_path.display(),
            key = identity.key_path.display(),
            auth = e.auth_url,
            ca = e.ca_cert,
            pipeline = pipeline.display(),
        ),
    )
    .unwrap();
    let config = ServeConfig::load(&config)
        .await
        .unwrap_or_else(|e| panic!("serve config: {e}"));
    let host = pull_host(&config).await.unwrap().start().unwrap();
    (host, format!("https://127.0.0.1:{port}{API_PATH}"))
}

/// Two classes of one school unit, a pupil of the first to move to the
/// second and another to remove.
struct Classes {
    class: SourceId,
    other: SourceId,
    moved: SourceId,
    removed: SourceId,
}

fn classes(h: &Harness) -> Classes {
    let data = h.sandbox.world().source.read().unwrap();
    let candidates: Vec<&Group> = data
        .groups
        .iter()
        .filter(|g| g.group_type == GroupType::Klass && g.group_memberships.len() >= 4)
        .collect();
    for a in &candidates {
        if let Some(b) = candidates.iter().find(|b| {
            b.id != a.id && b.organisation.id == a.organisation.id && b.school_type == a.school_type
        }) {
            return Classes {
                class: a.id.clone(),
                other: b.id.clone(),
                moved: a.group_memberships[0].person.id.clone(),
                removed: a.group_memberships[1].person.id.clone(),
            };
        }
    }
    panic!("no two classes at one school unit");
}

/// Gives a pupil of `class` an EPPN made of their name: skolsync warns and
/// serves it; Skolverket warns too (its message 3047), by LogEntry.
fn name_in_eppn(h: &Harness, class: &SourceId) -> SourceId {
    let world = h.sandbox.world();
    let mut person = {
        let data = world.source.read().unwrap();
        let group = data.get::<Group>(class).unwrap();
        let id = group.group_memberships[2].person.id.clone();
        data.get::<Person>(&id).cloned().unwrap()
    };
    let domain = person.edu_person_principal_names[0]
        .split('@')
        .nth(1)
        .unwrap()
        .to_string();
    person.edu_person_principal_names = vec![format!(
        "{}{}7@{domain}",
        fold(&person.family_name),
        fold(&person.given_name)
    )];
    let id = person.id.clone();
    world.upsert(person).unwrap();
    id
}

fn fold(name: &str) -> String {
    name.to_lowercase()
        .chars()
        .map(|c| match c {
            'å' | 'ä' => 'a',
            'ö' => 'o',
            'é' => 'e',
            c if c.is_ascii_alphabetic() => c,
            _ => 'x',
        })
        .collect()
}

async fn skolverket_id(store: &StateStore, source_id: &SourceId) -> Uuid {
    store
        .find_by_source_id(DATASET, source_id.as_str())
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == skolsync_model::ObjectType::Person)
        .unwrap_or_else(|| panic!("no person from {source_id:?}"))
        .id
}

fn members(holdings: &Holdings, group: Uuid) -> BTreeSet<String> {
    holdings.groups[&group]["groupMemberships"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["person"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The client holds exactly what the push method created in the sandbox's
/// provtjänst: the same ids per type, the same group members, and the
/// school units as organisations.
fn assert_same_as_push(h: &Harness, held: &Holdings) {
    let pushed = h.store();
    let set = |ids: Vec<Uuid>| ids.into_iter().collect::<BTreeSet<_>>();
    assert_eq!(
        keys(&held.persons),
        set(pushed.persons().iter().map(|p| p.id).collect())
    );
    assert_eq!(
        keys(&held.duties),
        set(pushed.duties().iter().map(|d| d.id).collect())
    );
    assert_eq!(
        keys(&held.groups),
        set(pushed.groups().iter().map(|g| g.id).collect())
    );
    assert_eq!(
        keys(&held.activities),
        set(pushed.activities().iter().map(|a| a.id).collect())
    );
    for g in pushed.groups() {
        let pushed_members: BTreeSet<String> = g
            .group_memberships
            .iter()
            .map(|m| m.person.id.to_string())
            .collect();
        assert_eq!(members(held, g.id), pushed_members, "group {}", g.id);
    }
    assert!(!held.organisations.is_empty());
    assert!(
        held.organisations
            .values()
            .all(|o| o["schoolUnitCode"].is_string() && o["displayName"].is_string())
    );
}

fn keys(map: &std::collections::BTreeMap<Uuid, Value>) -> BTreeSet<Uuid> {
    map.keys().copied().collect()
}

fn notified(result: &RunResult) -> usize {
    let pull = result.report.pull.as_ref().expect("a pull section");
    pull.notifications
        .subscriptions
        .iter()
        .filter(|s| s.delivered)
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn skolverket_pulls_what_push_would_create_and_follows_changes_through_webhooks() {
    let h = Harness::new().await;
    let pull = h.copy("educloud-to-pull.toml");
    let push = h.copy("educloud-to-skolverket.toml");
    let chosen = classes(&h);
    let named = name_in_eppn(&h, &chosen.class);

    // The first run serves everything; nobody has subscribed yet.
    let first = h.run(&pull).await;
    assert_success(&first);
    assert_eq!(notified(&first), 0);
    let (host, api) = serve(&h, &pull).await;

    // Administration provtjänsten registers the API: the client subscribes
    // and fetches everything.
    let client = h.sandbox.ss12000_client();
    let id: RegistrationId = client.register(&api, None).await.unwrap();
    client.wait_idle(id, Duration::from_secs(60)).await.unwrap();
    for job in client.jobs(id).unwrap() {
        assert_eq!(job.outcome, Ok(()), "{job:?}");
    }
    let held = client.holdings(id).unwrap();

    // It holds exactly what the push method creates from the same source.
    assert_success(&h.run(&push).await);
    assert_same_as_push(&h, &held);

    // The name in the EPPN came back as a LogEntry, stored against the
    // pupil's source record.
    let store = StateStore::open(h.dir.path().join("state/exempelby-pull.sqlite"))
        .await
        .unwrap();
    let named_id = skolverket_id(&store, &named).await;
    let posted = client.log_entries_posted(id).unwrap();
    assert!(
        posted
            .iter()
            .any(|e| e["resourceId"] == Value::String(named_id.to_string())),
        "{posted:?}"
    );
    let kept = store.log_entries_for(DATASET, named_id).await.unwrap();
    assert!(!kept.is_empty(), "the LogEntry is stored");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("status")
        .arg(&pull)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains(named.as_str()) && l.contains(&named_id.to_string())),
        "status shows the LogEntry against the source record:\n{text}"
    );
    assert!(!client.statistics_posted(id).unwrap().is_empty());

    // A new pupil, a moved pupil and a removed pupil reach the client
    // through a webhook and an incremental fetch.
    let class_id = {
        let rec = store
            .find_by_source_id(DATASET, chosen.class.as_str())
            .await
            .unwrap();
        rec[0].id
    };
    let other_id = store
        .find_by_source_id(DATASET, chosen.other.as_str())
        .await
        .unwrap()[0]
        .id;
    let moved_id = skolverket_id(&store, &chosen.moved).await;
    let removed_id = skolverket_id(&store, &chosen.removed).await;
    let mut added = None;
    h.sandbox
        .change(|m| {
            added = Some(m.add_pupil(&chosen.class)?);
            m.move_pupil(&chosen.moved, &chosen.other)?;
            m.remove_pupil(&chosen.removed)
        })
        .unwrap();
    let calls_before = client.calls(id).unwrap().len();
    let second = h.run(&pull).await;
    assert_success(&second);
    assert_eq!(notified(&second), 1, "{}", second.terminal_summary());
    client.wait_idle(id, Duration::from_secs(60)).await.unwrap();
    let added_id = skolverket_id(&store, added.as_ref().unwrap()).await;

    let hooks = client.webhooks(id).unwrap();
    let hook = hooks.last().expect("a webhook");
    assert_eq!(hook.status, 200, "{hook:?}");
    let body = hook.body.as_ref().unwrap();
    assert_eq!(body["deletedEntities"], Value::Bool(true), "{body}");
    let types: Vec<&str> = body["modifiedEntites"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        types.contains(&"Person") && types.contains(&"Group"),
        "{body}"
    );
    let calls = client.calls(id).unwrap();
    let incremental = &calls[calls_before..];
    assert!(
        incremental
            .iter()
            .any(|c| c.path_and_query.contains("/persons?")
                && c.path_and_query.contains("meta.modified.after=")),
        "{incremental:?}"
    );
    assert!(
        incremental
            .iter()
            .any(|c| c.path_and_query.contains("/deletedEntities")),
        "{incremental:?}"
    );

    let now = client.holdings(id).unwrap();
    assert!(now.persons.contains_key(&added_id), "the new pupil arrived");
    assert!(
        !now.persons.contains_key(&removed_id),
        "the removed pupil is gone"
    );
    assert!(members(&now, other_id).contains(&moved_id.to_string()));
    assert!(!members(&now, class_id).contains(&moved_id.to_string()));
    assert!(members(&now, class_id).contains(&added_id.to_string()));
    // And it holds exactly what is served.
    let served: BTreeSet<Uuid> = store
        .served_ids(DATASET, EntityKind::Person)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(keys(&now.persons), served);

    // The second run's report shows what Skolverket reported since the first.
    let feedback = &second.report.pull.as_ref().unwrap().feedback;
    assert!(
        feedback
            .iter()
            .any(|f| f.resource_id == Some(named_id)
                && f.source_id.as_deref() == Some(named.as_str())),
        "{feedback:?}"
    );
    store.close().await;
    host.shutdown().await;
}

/// An HTTPS endpoint standing in for a subscription's target, which takes
/// notifications only when told to.
struct Target {
    url: String,
    accept: std::sync::Arc<std::sync::atomic::AtomicBool>,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Target {
    async fn start(h: &Harness) -> Target {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let identity = h.sandbox.pki().issue_server_identity("target").unwrap();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        let accept = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, b) = (accept.clone(), bodies.clone());
        let app = axum::Router::new().route(
            "/webhooks/1",
            axum::routing::post(move |body: axum::Json<Value>| {
                let (a, b) = (a.clone(), b.clone());
                async move {
                    if a.load(std::sync::atomic::Ordering::SeqCst) {
                        b.lock().unwrap().push(body.0);
                        axum::http::StatusCode::OK
                    } else {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    }
                }
            }),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let config = axum_server::tls_rustls::RustlsConfig::from_config(std::sync::Arc::new(tls));
        tokio::spawn(
            axum_server::from_tcp_rustls(listener, config)
                .unwrap()
                .serve(app.into_make_service()),
        );
        Target {
            url: format!("https://127.0.0.1:{port}/webhooks/1"),
            accept,
            bodies,
        }
    }

    fn accept(&self, yes: bool) {
        self.accept.store(yes, std::sync::atomic::Ordering::SeqCst);
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_notification_not_taken_is_made_good_by_the_next_run() {
    let h = Harness::new().await;
    let pull = h.copy("educloud-to-pull.toml");
    // Give up on a notification after a second, not five minutes.
    let text = std::fs::read_to_string(&pull).unwrap().replace(
        "kind = \"ss12000-pull\"",
        "kind = \"ss12000-pull\"\nnotify_retry_secs = 1",
    );
    std::fs::write(&pull, text).unwrap();
    assert_success(&h.run(&pull).await);
    let target = Target::start(&h).await;
    let store = StateStore::open(h.dir.path().join("state/exempelby-pull.sqlite"))
        .await
        .unwrap();
    store
        .create_subscription(
            DATASET,
            "Webhook for test",
            &target.url,
            &[],
            chrono::Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();

    // A pupil is renamed while the client's end refuses notifications.
    let chosen = classes(&h);
    let world = h.sandbox.world();
    let mut person = world
        .source
        .read()
        .unwrap()
        .get::<Person>(&chosen.moved)
        .cloned()
        .unwrap();
    person.given_name = format!("{}a", person.given_name);
    world.upsert(person).unwrap();
    let missed = h.run(&pull).await;
    assert_eq!(
        missed.report.outcome,
        skolsync::state::RunOutcome::Partial,
        "{}",
        missed.terminal_summary()
    );
    assert_eq!(notified(&missed), 0);
    assert!(missed.terminal_summary().contains("NOT notified"));
    let id = skolverket_id(&store, &chosen.moved).await;
    let stamp = |e: Option<skolsync::state::served::ServedEntity>| e.unwrap().modified;
    let before = stamp(
        store
            .served_one(DATASET, EntityKind::Person, id)
            .await
            .unwrap(),
    );

    // The next run, with nothing new in the source, stamps the change anew
    // and tells the client of it.
    target.accept(true);
    let next = h.run(&pull).await;
    assert_success(&next);
    assert_eq!(notified(&next), 1, "{}", next.terminal_summary());
    let bodies = target.bodies();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0]["modifiedEntites"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Person")),
        "{bodies:?}"
    );
    let after = stamp(
        store
            .served_one(DATASET, EntityKind::Person, id)
            .await
            .unwrap(),
    );
    assert!(after > before, "{before} → {after}");

    // Then nothing is owed: a quiet run notifies nobody.
    let quiet = h.run(&pull).await;
    assert_success(&quiet);
    assert_eq!(target.bodies().len(), 1);
    store.close().await;
}

/// A pull pipeline naming the sandbox's services itself (serve loads it as
/// it is), with a one-second debounce.
fn sandbox_pull_pipeline(h: &Harness) -> std::path::PathBuf {
    let e = h.sandbox.endpoints();
    let path = h.dir.path().join("run-pull.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "exempelby-pull"

[source]
kind = "educloud"
base_url = "{educloud}"
token_url = "{token}"
client_id = "{id}"
client_secret = "{secret}"

[transform]
open_data_url = "{open_data}"
school_types = ["GR", "SP", "SAM", "GY", "VUXGY"]

[sink]
kind = "ss12000-pull"
auth_url = "{auth}"
client_url = "{client}"
client_cert = "{cert}"
client_key = "{key}"
ca_cert = "{ca}"

[state]
path = "state/exempelby-pull.sqlite"

[schedule]
debounce_secs = 1
"#,
            educloud = e.educloud_url,
            token = e.educloud_token_url,
            id = e.client_id,
            secret = e.client_secret,
            open_data = e.open_data_url,
            auth = e.auth_url,
            client = e.ss12000_client_url,
            cert = e.client_cert,
            key = e.client_key,
            ca = e.ca_cert,
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_the_pipeline_and_a_source_change_reaches_the_client_within_a_minute() {
    let h = Harness::new().await;
    let pipeline = sandbox_pull_pipeline(&h);
    let (host, api) = serve_with(&h, &pipeline, true).await;
    let store = StateStore::open(h.dir.path().join("state/exempelby-pull.sqlite"))
        .await
        .unwrap();
    // The run serve starts at once fills the served dataset.
    let waited = std::time::Instant::now();
    while store
        .served_counts(DATASET)
        .await
        .unwrap()
        .get(&EntityKind::Person)
        .copied()
        .unwrap_or(0)
        == 0
    {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "serve never ran the pipeline"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let client = h.sandbox.ss12000_client();
    let id = client.register(&api, None).await.unwrap();
    client.wait_idle(id, Duration::from_secs(60)).await.unwrap();
    assert!(!client.holdings(id).unwrap().persons.is_empty());

    // A pupil added in the school system: the source notifies serve's
    // receiver, serve runs the pipeline, notifies the client, the client
    // fetches — within a minute.
    let chosen = classes(&h);
    let changed = std::time::Instant::now();
    let mut added = None;
    h.sandbox
        .change(|m| {
            added = Some(m.add_pupil(&chosen.class)?);
            Ok(())
        })
        .unwrap();
    let added = added.unwrap();
    loop {
        let served = store
            .find_by_source_id(DATASET, added.as_str())
            .await
            .unwrap();
        if let Some(person) = served.first()
            && client
                .holdings(id)
                .unwrap()
                .persons
                .contains_key(&person.id)
        {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(60),
            "the new pupil did not reach Skolverket's client within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    println!(
        "source change → held by Skolverket's client in {:.1} s",
        changed.elapsed().as_secs_f64()
    );
    store.close().await;
    host.shutdown().await;
}

/// What each type's run did, as (created, updated, deleted).
fn changes(result: &RunResult) -> Vec<(u64, u64, u64)> {
    skolsync_model::plan::SEND_ORDER
        .iter()
        .map(|kind| {
            let c = result.report.counts.get(*kind);
            (c.created, c.updated, c.deleted)
        })
        .collect()
}

/// One pipeline file delivers both ways — pushed through the Provisioning
/// API and served for Skolverket's client — from one read of the source:
/// one run and report per sink, the same changes to each, and the client
/// holding exactly what was pushed, first and after a change.
#[tokio::test(flavor = "multi_thread")]
async fn one_pipeline_file_pushes_and_serves_from_one_read() {
    let h = Harness::new().await;
    let pull = h.copy("educloud-to-pull.toml");
    let both = h.copy("educloud-to-skolverket-and-pull.toml");

    // What one full read costs: the pull pipeline alone (its own state).
    h.sandbox.reset_source_calls();
    assert_success(&h.run(&pull).await);
    let one_read = h.sandbox.source_calls();
    assert!(one_read.total > 0);

    h.sandbox.reset_source_calls();
    let first = h.run(&both).await;
    assert_success(&first);
    assert_eq!(
        h.sandbox.source_calls().by_query,
        one_read.by_query,
        "the source is read once for both sinks"
    );
    assert_eq!(first.other_sinks.len(), 1, "one run per sink");
    let served_run = &first.other_sinks[0];
    let sink_of = |r: &RunResult| r.report.sink.clone().unwrap_or_default();
    assert!(
        sink_of(&first).starts_with("sink[1] (skolverket)"),
        "{}",
        sink_of(&first)
    );
    assert!(
        sink_of(served_run).starts_with("sink[2] (ss12000-pull): ss12000-pull:exempelby-both"),
        "{}",
        sink_of(served_run)
    );
    assert_ne!(first.report.run_id, served_run.report.run_id);
    assert!(first.paths.is_some() && served_run.paths.is_some());
    // Both sinks got everything, from the same transform.
    assert!(first.report.counts.persons.created > 0);
    assert_eq!(changes(&first), changes(served_run));
    assert_eq!(
        h.store().persons().len() as u64,
        first.report.counts.persons.created
    );
    let summary = first.terminal_summary();
    assert!(
        summary.contains("Sink: sink[1] (skolverket)")
            && summary.contains("Sink: sink[2] (ss12000-pull)"),
        "{summary}"
    );

    // Skolverket's client, subscribed to the served sink, holds exactly
    // what was pushed.
    let (host, api) = serve(&h, &both).await;
    let client = h.sandbox.ss12000_client();
    let id: RegistrationId = client.register(&api, None).await.unwrap();
    client.wait_idle(id, Duration::from_secs(60)).await.unwrap();
    assert_same_as_push(&h, &client.holdings(id).unwrap());

    // A moved pupil: one incremental read, the same change to both sinks,
    // the client notified and again holding what was pushed.
    let chosen = classes(&h);
    h.sandbox
        .change(|m| m.move_pupil(&chosen.moved, &chosen.other))
        .unwrap();
    h.sandbox.reset_source_calls();
    let second = h.run(&both).await;
    assert_success(&second);
    let calls = h.sandbox.source_calls();
    for resource in ["persons", "groups"] {
        let endpoint = format!("GET /{resource}");
        assert_eq!(
            calls.endpoint(&endpoint),
            2,
            "{endpoint}: each filter once, for both sinks: {calls:?}"
        );
    }
    let served_second = &second.other_sinks[0];
    assert_eq!(changes(&second), changes(served_second));
    assert!(
        second.report.counts.groups.updated >= 2,
        "{}",
        second.terminal_summary()
    );
    assert_eq!(notified(served_second), 1, "{}", second.terminal_summary());
    client.wait_idle(id, Duration::from_secs(60)).await.unwrap();
    assert_same_as_push(&h, &client.holdings(id).unwrap());

    // `plan` reads once and plans for each sink, named: nothing to do.
    let plan = h.cli("plan", &both).await;
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.status.success(), "{text}");
    for sink in ["sink[1] (skolverket)", "sink[2] (ss12000-pull)"] {
        assert!(
            text.contains(&format!("Plan for `exempelby-both` into {sink}")),
            "{text}"
        );
    }
    assert_eq!(text.matches("0 changes").count(), 2, "{text}");

    // `status` shows the served sink's overview, named.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_skolsync"))
        .arg("status")
        .arg(&both)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text}");
    assert!(text.contains("sink[2] (ss12000-pull):"), "{text}");
    host.shutdown().await;
}
