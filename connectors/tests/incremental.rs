//! Incremental reads of the API connectors: what a cached copy of the
//! source needs to stay equal to the source (changes from both change
//! filters, each once; deletions; kinds listed in full when a server
//! ignores a filter; pupils and staff moving in and out of a school unit
//! filter), servers that cannot serve an incremental read, page sizes a
//! server refuses, and the `/subscriptions` endpoints.
//!
//! The sandbox serves the filters as the spec says; the misbehaving servers
//! are small axum apps in this file.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use chrono::{DateTime, FixedOffset};
use common::*;
use serde_json::{Value, json};
use skolsync_connectors::{NewSubscription, ReadOptions, SourceError};
use skolsync_model::ss12000::{Entity, EntityKind, Reference, Snapshot, SourceId};

fn since(after: DateTime<FixedOffset>) -> ReadOptions {
    ReadOptions {
        modified_after: Some(after),
        progress: None,
    }
}

// ---------------------------------------------------------------------------
// A cached copy of the source, kept up to date the way the engine does it.

/// Upserts what `read` sent, removes its deletions and replaces the kinds
/// it listed in full.
fn apply(cache: &mut Snapshot, read: &Read) {
    let (snap, _, summary) = read;
    let full = |k: EntityKind| summary.listed_in_full.contains_key(&k);
    merge(
        &mut cache.organisations,
        &snap.organisations,
        &snap.deleted.organisations,
        full(EntityKind::Organisation),
    );
    merge(
        &mut cache.persons,
        &snap.persons,
        &snap.deleted.persons,
        full(EntityKind::Person),
    );
    merge(
        &mut cache.duties,
        &snap.duties,
        &snap.deleted.duties,
        full(EntityKind::Duty),
    );
    merge(
        &mut cache.groups,
        &snap.groups,
        &snap.deleted.groups,
        full(EntityKind::Group),
    );
    merge(
        &mut cache.activities,
        &snap.activities,
        &snap.deleted.activities,
        full(EntityKind::Activity),
    );
}

fn merge<T: Entity + Clone>(cache: &mut Vec<T>, got: &[T], deleted: &[SourceId], in_full: bool) {
    if in_full {
        *cache = got.to_vec();
    } else {
        for e in got {
            match cache.iter_mut().find(|c| c.id() == e.id()) {
                Some(c) => *c = e.clone(),
                None => cache.push(e.clone()),
            }
        }
    }
    cache.retain(|c| !deleted.contains(c.id()));
}

fn sorted_ids<T: Entity>(list: &[T]) -> Vec<String> {
    ids(list, |e| e.id().as_str())
}

/// The cache holds exactly what a full read holds now.
fn assert_same(cache: &Snapshot, fresh: &Snapshot) {
    assert_eq!(
        sorted_ids(&cache.organisations),
        sorted_ids(&fresh.organisations)
    );
    assert_eq!(
        sorted_ids(&cache.persons),
        sorted_ids(&fresh.persons),
        "persons"
    );
    assert_eq!(
        sorted_ids(&cache.duties),
        sorted_ids(&fresh.duties),
        "duties"
    );
    assert_eq!(
        sorted_ids(&cache.groups),
        sorted_ids(&fresh.groups),
        "groups"
    );
    assert_eq!(sorted_ids(&cache.activities), sorted_ids(&fresh.activities));
    for p in &fresh.persons {
        let cached = cache.persons.iter().find(|c| c.id == p.id).unwrap();
        assert_eq!(cached, p, "person {} is as the source has it", p.id);
    }
}

fn unique<T: Entity>(list: &[T]) -> bool {
    let set: HashSet<&str> = list.iter().map(|e| e.id().as_str()).collect();
    set.len() == list.len()
}

// ---------------------------------------------------------------------------
// Against the sandbox.

#[tokio::test]
async fn an_incremental_read_keeps_a_cached_copy_equal_to_the_source() {
    let sandbox = sandbox(200, |_| {}).await;
    let source = source(&educloud_toml(&sandbox, ""));
    assert!(source.reads_incrementally());
    let first = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert!(
        first.2.listed_in_full.is_empty(),
        "a full read announces nothing"
    );
    let mut cache = first.0.clone();
    let watermark = first.2.watermark.unwrap();

    let world = sandbox.world();
    let (mut changed, mut born, gone) = {
        let data = world.source.read().unwrap();
        (
            data.persons[3].clone(),
            data.persons[4].clone(),
            data.persons[9].id.clone(),
        )
    };
    changed.given_name = "Ändrad".to_string();
    world.upsert(changed.clone()).unwrap();
    // A new person: returned by both meta.created.after and meta.modified.after.
    born.id = SourceId::new("new-person-1");
    born.meta = Default::default();
    world.upsert(born.clone()).unwrap();
    assert!(world.delete(EntityKind::Person, &gone));

    let read = read_all(source.as_ref(), since(watermark)).await.unwrap();
    let (snap, rejects, summary) = &read;
    assert!(rejects.is_empty(), "{rejects:?}");
    assert_eq!(
        sorted_ids(&snap.persons),
        ids(&["new-person-1", changed.id.as_str()], |s| s),
        "the changed and the new person, each once"
    );
    assert!(snap.groups.is_empty() && snap.organisations.is_empty());
    assert_eq!(snap.deleted.persons, vec![gone]);
    assert!(
        summary.listed_in_full.is_empty(),
        "{:?}",
        summary.listed_in_full
    );
    assert!(summary.watermark.unwrap() >= watermark);

    apply(&mut cache, &read);
    let fresh = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert_same(&cache, &fresh.0);
}

/// A school unit's organisation id and code, and another unit's id.
fn two_units(sandbox: &skolsync_sandbox::Sandbox) -> (SourceId, String, SourceId) {
    let data = sandbox.world().source.read().unwrap();
    let units: Vec<_> = data
        .organisations
        .iter()
        .filter(|o| o.school_unit_code.is_some())
        .collect();
    assert!(units.len() >= 2, "the test needs two units");
    (
        units[0].id.clone(),
        units[0].school_unit_code.clone().unwrap(),
        units[1].id.clone(),
    )
}

#[tokio::test]
async fn pupils_and_staff_moving_across_a_school_unit_filter_leave_or_enter_the_cache() {
    let sandbox = sandbox(800, |_| {}).await;
    let (a, code, b) = two_units(&sandbox);
    let source = source(&educloud_toml(
        &sandbox,
        &format!("school_units = [\"{code}\"]\npage_size = 50"),
    ));
    let first = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert!(first.2.listed_in_full.is_empty());
    let mut cache = first.0.clone();

    let world = sandbox.world();
    let data = world.source.read().unwrap().clone();
    let only_at = |p: &skolsync_model::ss12000::Person, unit: &SourceId| {
        !p.enrolments.is_empty() && p.enrolments.iter().all(|e| &e.enroled_at.id == unit)
    };
    let holds_duty = |p: &SourceId| {
        data.duties
            .iter()
            .any(|d| d.person.as_ref().is_some_and(|r| &r.id == p))
    };
    let mut leaving = data
        .persons
        .iter()
        .find(|p| only_at(p, &a) && !holds_duty(&p.id))
        .unwrap()
        .clone();
    let mut arriving = data
        .persons
        .iter()
        .find(|p| only_at(p, &b) && !holds_duty(&p.id))
        .unwrap()
        .clone();
    assert!(cache.persons.iter().any(|p| p.id == leaving.id));
    assert!(!cache.persons.iter().any(|p| p.id == arriving.id));
    for e in &mut leaving.enrolments {
        e.enroled_at = Reference::to(b.as_str());
    }
    for e in &mut arriving.enrolments {
        e.enroled_at = Reference::to(a.as_str());
    }
    world.upsert(leaving.clone()).unwrap();
    world.upsert(arriving.clone()).unwrap();

    // Staff: one duty moves in, one moves out; the persons do not change.
    let duties_of = |p: &SourceId| {
        data.duties
            .iter()
            .filter(|d| d.person.as_ref().is_some_and(|r| &r.id == p))
            .count()
    };
    let not_enrolled = |p: &SourceId| {
        data.persons
            .iter()
            .any(|x| &x.id == p && x.enrolments.is_empty())
    };
    let mut duty_in = data
        .duties
        .iter()
        .find(|d| {
            d.duty_at.id == b
                && d.person
                    .as_ref()
                    .is_some_and(|r| duties_of(&r.id) == 1 && not_enrolled(&r.id))
        })
        .unwrap()
        .clone();
    let mut duty_out = data
        .duties
        .iter()
        .find(|d| {
            d.duty_at.id == a
                && d.person
                    .as_ref()
                    .is_some_and(|r| duties_of(&r.id) == 1 && not_enrolled(&r.id))
        })
        .unwrap()
        .clone();
    let staff_in = duty_in.person.clone().unwrap().id;
    let staff_out = duty_out.person.clone().unwrap().id;
    assert!(!cache.persons.iter().any(|p| p.id == staff_in));
    assert!(cache.persons.iter().any(|p| p.id == staff_out));
    duty_in.duty_at = Reference::to(a.as_str());
    duty_out.duty_at = Reference::to(b.as_str());
    world.upsert(duty_in).unwrap();
    world.upsert(duty_out).unwrap();

    let read = read_all(source.as_ref(), since(first.2.watermark.unwrap()))
        .await
        .unwrap();
    let (snap, rejects, summary) = &read;
    assert!(rejects.is_empty(), "{rejects:?}");
    assert!(
        summary
            .listed_in_full
            .contains_key(&EntityKind::Organisation)
    );
    assert!(summary.listed_in_full.contains_key(&EntityKind::Duty));
    assert!(!summary.listed_in_full.contains_key(&EntityKind::Person));
    assert!(snap.persons.iter().any(|p| p.id == arriving.id));
    assert!(snap.persons.iter().any(|p| p.id == staff_in));
    assert!(snap.deleted.persons.contains(&leaving.id));
    assert!(snap.deleted.persons.contains(&staff_out));
    assert!(
        snap.persons.len() < 10,
        "only what changed: {} persons",
        snap.persons.len()
    );

    apply(&mut cache, &read);
    let fresh = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert_same(&cache, &fresh.0);
}

#[tokio::test]
async fn when_many_duties_changed_the_persons_in_scope_are_listed_in_full() {
    let sandbox = sandbox(1500, |_| {}).await;
    let (_, code, _) = two_units(&sandbox);
    let source = source(&educloud_toml(
        &sandbox,
        &format!("school_units = [\"{code}\"]"),
    ));
    let first = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    let mut cache = first.0.clone();
    let world = sandbox.world();
    let duties = world.source.read().unwrap().duties.clone();
    let holders: HashSet<&SourceId> = duties
        .iter()
        .filter_map(|d| d.person.as_ref().map(|p| &p.id))
        .collect();
    assert!(
        holders.len() > 100,
        "the test needs over 100 staff: {}",
        holders.len()
    );
    // An edit that touches every duty (say, a new role code set).
    for duty in &duties {
        world.upsert(duty.clone()).unwrap();
    }
    let read = read_all(source.as_ref(), since(first.2.watermark.unwrap()))
        .await
        .unwrap();
    let reason = &read.2.listed_in_full[&EntityKind::Person];
    assert!(reason.contains("duties"), "{reason}");
    apply(&mut cache, &read);
    let fresh = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert_same(&cache, &fresh.0);
}

// ---------------------------------------------------------------------------
// Small servers that serve the filters their own way.

/// How a fake SS 12000 server treats the filters.
#[derive(Clone, Copy, Default)]
struct Behaviour {
    honours_modified: bool,
    honours_created: bool,
    /// `400` for `meta.created.after`.
    refuses_created: bool,
    /// Serves `/deletedEntities`.
    deleted_entities: bool,
    /// `400` for a `limit` above this.
    max_limit: Option<usize>,
    /// Pages of at most this many, whatever `limit` asks.
    clamp: Option<usize>,
}

const HONEST: Behaviour = Behaviour {
    honours_modified: true,
    honours_created: true,
    refuses_created: false,
    deleted_entities: true,
    max_limit: None,
    clamp: None,
};

const TOKEN: &str = "fake-bearer-token";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

struct Fake {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn toml(&self, extra: &str) -> String {
        format!(
            "kind = \"ss12000\"\nbase_url = \"{}\"\nrequests_per_second = 0\n{extra}\n[auth]\ntype = \"bearer\"\ntoken = \"{TOKEN}\"\n",
            self.base
        )
    }
}

/// Serves `answer(request) -> (status, body)` under `/v2.0`, refusing
/// requests without the bearer token.
async fn fake(answer: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> Fake {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let log = Arc::clone(&seen);
    let app = Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let answer = Arc::clone(&answer);
            let log = Arc::clone(&log);
            async move {
                let authorised = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    == Some(&format!("Bearer {TOKEN}"));
                let query = reqwest::Url::parse(&format!("http://fake{uri}"))
                    .map(|u| u.query_pairs().into_owned().collect())
                    .unwrap_or_default();
                let request = Seen {
                    method: method.to_string(),
                    path: uri.path().trim_start_matches("/v2.0").to_string(),
                    query,
                    body,
                };
                log.lock().unwrap().push(request.clone());
                let (status, body) = if authorised {
                    answer(&request)
                } else {
                    (
                        401,
                        json!({"code": "Unauthorized", "message": "no token"}).to_string(),
                    )
                };
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake {
        base: format!("http://127.0.0.1:{port}/v2.0"),
        seen,
    }
}

/// What the fake servers hold: 20 persons stamped in 2024, one changed in
/// 2025 (`p20`) and one created in 2025 (`p21`).
fn persons() -> Vec<Value> {
    (0..22)
        .map(|i| {
            let (created, modified) = match i {
                20 => ("2024-01-01T08:00:00Z", "2025-06-01T08:00:00Z"),
                21 => ("2025-06-01T08:00:00Z", "2025-06-01T08:00:00Z"),
                _ => ("2024-01-01T08:00:00Z", "2024-03-01T08:00:00Z"),
            };
            json!({"id": format!("p{i}"), "givenName": "Test", "familyName": format!("Person {i}"),
                   "meta": {"created": created, "modified": modified}})
        })
        .collect()
}

fn organisations() -> Vec<Value> {
    (0..3)
        .map(|i| json!({"id": format!("o{i}"), "organisationType": "Skolenhet", "displayName": format!("Skola {i}"),
                        "meta": {"created": "2024-01-01T08:00:00Z", "modified": "2024-01-01T08:00:00Z"}}))
        .collect()
}

fn error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        json!({"code": code, "message": message}).to_string(),
    )
}

/// A list endpoint over `all`, filtered and paged (`pageToken` = offset).
fn list(all: &[Value], request: &Seen, behaviour: Behaviour) -> (u16, String) {
    let asked: usize = request
        .param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(1000);
    let limit = behaviour.clamp.map_or(asked, |c| asked.min(c));
    if let Some(max) = behaviour.max_limit
        && asked > max
    {
        return error(
            400,
            "InvalidParameter",
            &format!("limit must be at most {max}"),
        );
    }
    if behaviour.refuses_created && request.param("meta.created.after").is_some() {
        return error(400, "InvalidFilter", "meta.created.after is not supported");
    }
    let stamp = |v: &Value, key: &str| {
        DateTime::parse_from_rfc3339(v["meta"][key].as_str().unwrap()).unwrap()
    };
    let after = |key: &str| {
        request
            .param(key)
            .map(|t| DateTime::parse_from_rfc3339(t).unwrap())
    };
    let modified_after = after("meta.modified.after").filter(|_| behaviour.honours_modified);
    let created_after = after("meta.created.after").filter(|_| behaviour.honours_created);
    let matching: Vec<&Value> = all
        .iter()
        .filter(|v| modified_after.is_none_or(|t| stamp(v, "modified") > t))
        .filter(|v| created_after.is_none_or(|t| stamp(v, "created") > t))
        .collect();
    let from: usize = request
        .param("pageToken")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let page: Vec<&Value> = matching.iter().skip(from).take(limit).copied().collect();
    let next = (from + limit < matching.len()).then(|| (from + limit).to_string());
    (200, json!({"data": page, "pageToken": next}).to_string())
}

async fn api(behaviour: Behaviour) -> Fake {
    let persons = persons();
    let organisations = organisations();
    fake(move |request| match request.path.as_str() {
        "/persons" => list(&persons, request, behaviour),
        "/organisations" => list(&organisations, request, behaviour),
        "/deletedEntities" if behaviour.deleted_entities => {
            (200, json!({"data": {"persons": ["p99"]}}).to_string())
        }
        _ => error(404, "NotFound", "no such resource"),
    })
    .await
}

fn after_2025() -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap()
}

async fn read_persons(fake: &Fake, options: ReadOptions) -> Result<Read, SourceError> {
    let source = source(&fake.toml("resources = [\"persons\"]"));
    read_all(source.as_ref(), options).await
}

#[tokio::test]
async fn both_change_filters_are_asked_and_an_entity_returned_by_both_goes_out_once() {
    let fake = api(HONEST).await;
    let (snap, _, summary) = read_persons(&fake, since(after_2025())).await.unwrap();
    assert_eq!(sorted_ids(&snap.persons), vec!["p20", "p21"]);
    assert!(summary.listed_in_full.is_empty());
    assert_eq!(snap.deleted.persons, vec![SourceId::new("p99")]);
    let seen = fake.seen();
    for filter in ["meta.modified.after", "meta.created.after"] {
        assert!(
            seen.iter()
                .any(|s| s.path == "/persons" && s.param(filter) == Some("2025-01-01T00:00:00Z")),
            "{filter} was asked: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_server_that_ignores_the_filters_has_the_kind_sent_in_full_once() {
    let fake = api(Behaviour {
        deleted_entities: true,
        ..Behaviour::default()
    })
    .await;
    let (snap, _, summary) = read_persons(&fake, since(after_2025())).await.unwrap();
    assert_eq!(snap.persons.len(), 22, "everything");
    assert!(unique(&snap.persons));
    let reason = &summary.listed_in_full[&EntityKind::Person];
    assert!(
        reason.contains("meta.modified.after") && reason.contains("/persons"),
        "{reason}"
    );
    assert!(
        !fake
            .seen()
            .iter()
            .any(|s| s.param("meta.created.after").is_some()),
        "the second listing is skipped"
    );
}

#[tokio::test]
async fn a_server_that_honours_only_modified_after_is_caught_on_the_created_listing() {
    let fake = api(Behaviour {
        honours_modified: true,
        deleted_entities: true,
        ..Behaviour::default()
    })
    .await;
    let (snap, _, summary) = read_persons(&fake, since(after_2025())).await.unwrap();
    assert_eq!(snap.persons.len(), 22);
    assert!(unique(&snap.persons), "p20 and p21 came in both listings");
    assert!(summary.listed_in_full[&EntityKind::Person].contains("meta.created.after"));
}

#[tokio::test]
async fn a_refused_filter_fails_an_incremental_read_and_a_full_read_never_asks_it() {
    let fake = api(Behaviour {
        refuses_created: true,
        ..HONEST
    })
    .await;
    let err = read_persons(&fake, since(after_2025())).await.unwrap_err();
    let SourceError::IncrementalUnsupported { url, reason } = &err else {
        panic!("expected IncrementalUnsupported, got {err:?}");
    };
    assert!(
        url.contains("/persons") && url.contains("meta.created.after"),
        "{url}"
    );
    assert!(
        reason.contains("meta.created.after") && reason.contains("400"),
        "{reason}"
    );
    assert!(
        err.to_string().contains("cannot be read incrementally"),
        "{err}"
    );

    let before = fake.seen().len();
    let (snap, _, _) = read_persons(&fake, ReadOptions::default()).await.unwrap();
    assert_eq!(snap.persons.len(), 22);
    assert!(
        fake.seen()[before..]
            .iter()
            .all(|s| s.query.iter().all(|(k, _)| !k.starts_with("meta."))),
        "a full read sends no change filter"
    );
}

#[tokio::test]
async fn a_server_without_deleted_entities_fails_an_incremental_read() {
    let fake = api(Behaviour {
        deleted_entities: false,
        ..HONEST
    })
    .await;
    let err = read_persons(&fake, since(after_2025())).await.unwrap_err();
    assert!(
        matches!(&err, SourceError::IncrementalUnsupported { reason, .. } if reason.contains("/deletedEntities") && reason.contains("404")),
        "{err:?}"
    );
    read_persons(&fake, ReadOptions::default())
        .await
        .expect("a full read has no use for /deletedEntities");
    // Without /deletedEntities configured the source is read in full.
    let source = source(&fake.toml("resources = [\"persons\"]\ndeleted_entities = false"));
    assert!(!source.reads_incrementally());
    let (snap, _, _) = read_all(source.as_ref(), since(after_2025()))
        .await
        .unwrap();
    assert_eq!(snap.persons.len(), 22);
}

#[tokio::test]
async fn a_page_size_the_server_refuses_is_lowered_once_for_the_whole_read() {
    let fake = api(Behaviour {
        max_limit: Some(5),
        ..HONEST
    })
    .await;
    let source =
        source(&fake.toml("resources = [\"organisations\", \"persons\"]\nconcurrency = 1"));
    let (snap, _, _) = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(snap.persons.len(), 22);
    assert_eq!(snap.organisations.len(), 3);
    let limits: Vec<usize> = fake
        .seen()
        .iter()
        .filter_map(|s| s.param("limit").and_then(|l| l.parse().ok()))
        .collect();
    assert_eq!(limits[0], 100, "the default page size comes first");
    assert_eq!(
        limits.iter().filter(|l| **l > 5).count(),
        1,
        "refused once, then the named maximum: {limits:?}"
    );

    // On an incremental read the 400 about `limit` is not taken for a refused filter.
    let (snap, _, summary) = read_all(source.as_ref(), since(after_2025()))
        .await
        .unwrap();
    assert_eq!(sorted_ids(&snap.persons), vec!["p20", "p21"]);
    assert!(summary.listed_in_full.is_empty());
}

#[tokio::test]
async fn a_server_that_clamps_the_page_size_is_followed_page_by_page() {
    let fake = api(Behaviour {
        clamp: Some(4),
        ..HONEST
    })
    .await;
    let (snap, _, _) = read_persons(&fake, ReadOptions::default()).await.unwrap();
    assert_eq!(snap.persons.len(), 22);
    assert!(unique(&snap.persons));
    let pages = fake.seen().iter().filter(|s| s.path == "/persons").count();
    assert_eq!(pages, 6, "22 persons in pages of 4");
    assert!(
        fake.seen().iter().all(|s| s.param("limit") == Some("100")),
        "a clamping server is not asked for smaller pages"
    );
}

// ---------------------------------------------------------------------------
// Subscriptions.

#[tokio::test]
async fn subscriptions_are_created_renewed_and_deleted_with_the_sources_credentials() {
    let fake = fake(|request| match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/subscriptions") => {
            let body: Value = serde_json::from_str(&request.body).unwrap();
            let well_formed = body["name"] == "skolsync test"
                && body["target"] == "https://skolsync.example/notify/s3cret"
                && body["resourceTypes"] == json!([{"resource": "Person"}, {"resource": "Group"}]);
            if well_formed {
                (201, json!({"id": "sub-1", "expires": "2030-01-01T00:00:00Z", "name": "skolsync test"}).to_string())
            } else {
                error(400, "BadRequest", "malformed subscription")
            }
        }
        ("PATCH", "/subscriptions/sub-1") => {
            (200, json!({"id": "sub-1", "expires": "2030-02-01T00:00:00+01:00"}).to_string())
        }
        ("DELETE", "/subscriptions/sub-1") => (204, String::new()),
        ("DELETE", _) => error(404, "NotFound", "no such subscription"),
        ("PATCH", "/subscriptions/broken") => (200, json!({"id": "broken"}).to_string()),
        _ => error(404, "NotFound", "no such resource"),
    })
    .await;
    let source = source(&fake.toml(""));
    let subscriptions = source
        .subscriptions()
        .expect("API sources have subscriptions");
    let created = subscriptions
        .create(&NewSubscription {
            name: "skolsync test".to_string(),
            target: "https://skolsync.example/notify/s3cret".to_string(),
            resource_types: vec![EntityKind::Person, EntityKind::Group],
        })
        .await
        .unwrap();
    assert_eq!(created.id, "sub-1");
    assert_eq!(
        created.expires,
        DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap()
    );
    let renewed = subscriptions.renew("sub-1").await.unwrap();
    assert!(renewed.expires > created.expires);
    subscriptions.delete("sub-1").await.unwrap();
    subscriptions
        .delete("unknown")
        .await
        .expect("one the source does not know counts as deleted");

    let err = subscriptions.renew("broken").await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Protocol { url, message } if url.starts_with("PATCH ") && message.contains("expires")),
        "{err:?}"
    );
    let err = subscriptions.renew("gone").await.unwrap_err();
    assert!(
        matches!(&err, SourceError::Http { method, status: 404, .. } if method == "PATCH"),
        "{err:?}"
    );
    // The id is one path segment, never a way to another path.
    let _ = subscriptions.delete("../persons").await;
    assert!(
        fake.seen().iter().all(|s| s.path != "/persons"),
        "{:?}",
        fake.seen()
    );
}

#[tokio::test]
async fn subscriptions_without_credentials_are_refused_clearly() {
    let fake = fake(|_| {
        (
            201,
            json!({"id": "x", "expires": "2030-01-01T00:00:00Z"}).to_string(),
        )
    })
    .await;
    let text = fake.toml("").replace(TOKEN, "wrong");
    let source = source(&text);
    let err = source
        .subscriptions()
        .unwrap()
        .create(&NewSubscription {
            name: "n".to_string(),
            target: "https://t.example/x".to_string(),
            resource_types: vec![EntityKind::Person],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Auth { status: Some(401), url, .. } if url.ends_with("/subscriptions")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong"));
}
