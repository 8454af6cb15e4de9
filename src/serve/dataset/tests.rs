//! The routes through `oneshot`, on a real store in a temp dir.

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use skolsync_model::served::{ServedUpsert, ServedWrite};
use skolsync_model::ss12000::EntityKind;
use tower::ServiceExt;
use uuid::Uuid;

use super::routes;
use crate::serve::state::ApiState;
use crate::state::StateStore;

const DATASET: &str = "https://pull.example/ss12000";

async fn state() -> (tempfile::TempDir, ApiState) {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(dir.path().join("s.sqlite")).await.unwrap();
    let state = ApiState {
        store,
        dataset: DATASET.into(),
        pipeline: "test".into(),
        location: "https://skolsync.example/ss12000/test".into(),
        subscription_lifetime: Duration::from_secs(90 * 86_400),
    };
    (dir, state)
}

fn upsert(kind: EntityKind, n: u128, name: &str) -> ServedUpsert {
    let id = Uuid::from_u128(n);
    ServedUpsert {
        kind,
        id,
        body: json!({ "id": id, "displayName": name }),
        hash: format!("hash-{name}"),
    }
}

async fn write(state: &ApiState, upserts: Vec<ServedUpsert>, deletes: Vec<(EntityKind, Uuid)>) {
    let write = ServedWrite { upserts, deletes };
    state.store.write_served(DATASET, &write).await.unwrap();
}

async fn call(state: &ApiState, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri).body(Body::empty()).unwrap();
    let response = routes()
        .with_state(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Follows `pageToken`s from `first`, returning every page's `data`.
async fn read_all(state: &ApiState, path: &str, first: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let (status, mut body) = call(state, &format!("{path}?{first}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    loop {
        pages.push(body["data"].as_array().unwrap().clone());
        let Some(token) = body["pageToken"].as_str() else {
            return pages;
        };
        let (status, next) = call(state, &format!("{path}?pageToken={token}")).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        body = next;
    }
}

fn ids(page: &[Value]) -> Vec<String> {
    page.iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

fn encode(time: chrono::DateTime<Utc>) -> String {
    // `+00:00` as a client would send it, `+` percent-encoded.
    time.to_rfc3339_opts(SecondsFormat::Micros, false)
        .replace('+', "%2B")
}

#[tokio::test]
async fn paging_2500_entities_at_1000_yields_each_once() {
    let (_dir, state) = state().await;
    let all: Vec<_> = (1..=2500)
        .map(|n| upsert(EntityKind::Person, n * 7919, &format!("p{n}")))
        .collect();
    write(&state, all, vec![]).await;
    let pages = read_all(&state, "/persons", "limit=1000").await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1000, 1000, 500]);
    let read: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    let distinct: BTreeSet<&String> = read.iter().collect();
    assert_eq!(distinct.len(), 2500);
    let first = &pages[0][0];
    assert!(first["meta"]["created"].is_string(), "{first}");
    assert!(first["meta"]["modified"].is_string(), "{first}");
    assert!(first["displayName"].is_string(), "{first}");
    // The default page size applies without `limit`.
    let (_, body) = call(&state, "/persons").await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1000);
}

#[tokio::test]
async fn modified_after_returns_only_what_changed_and_the_token_keeps_the_filter() {
    let (_dir, state) = state().await;
    write(
        &state,
        (1..=10)
            .map(|n| upsert(EntityKind::Group, n, "old"))
            .collect(),
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let since = Utc::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    let mut changed: Vec<_> = [2, 5, 9]
        .into_iter()
        .map(|n| upsert(EntityKind::Group, n, "new"))
        .collect();
    changed.push(upsert(EntityKind::Group, 11, "added"));
    changed.push(upsert(EntityKind::Group, 3, "old")); // unchanged
    write(&state, changed, vec![]).await;
    let first = format!("meta.modified.after={}&limit=2", encode(since));
    let pages = read_all(&state, "/groups", &first).await;
    let read: Vec<String> = pages.iter().flat_map(|p| ids(p)).collect();
    let expected: Vec<String> = [2, 5, 9, 11]
        .map(|n| Uuid::from_u128(n).to_string())
        .to_vec();
    assert_eq!(read, expected);
    assert_eq!(pages.len(), 2);
    // `before` excludes them.
    let (_, body) = call(
        &state,
        &format!("/groups?meta.modified.before={}", encode(since)),
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 7);
    // Created stamps did not move for the updated ones.
    let (_, body) = call(
        &state,
        &format!("/groups?meta.created.after={}", encode(since)),
    )
    .await;
    assert_eq!(
        ids(body["data"].as_array().unwrap()),
        [Uuid::from_u128(11).to_string()]
    );
}

#[tokio::test]
async fn a_token_stays_valid_across_writes() {
    let (_dir, state) = state().await;
    write(
        &state,
        (1..=6).map(|n| upsert(EntityKind::Duty, n, "v1")).collect(),
        vec![],
    )
    .await;
    let (_, body) = call(&state, "/duties?limit=3").await;
    let token = body["pageToken"].as_str().unwrap().to_string();
    // A run changes one read and one not yet read, and adds one.
    write(
        &state,
        vec![
            upsert(EntityKind::Duty, 2, "v2"),
            upsert(EntityKind::Duty, 5, "v2"),
            upsert(EntityKind::Duty, 7, "v2"),
        ],
        vec![],
    )
    .await;
    let (status, body) = call(&state, &format!("/duties?pageToken={token}&limit=10")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = body["data"].as_array().unwrap();
    assert_eq!(
        ids(page),
        [4, 5, 6, 7].map(|n| Uuid::from_u128(n).to_string())
    );
    assert_eq!(page[1]["displayName"], "v2");
    assert!(body["pageToken"].is_null());
}

#[tokio::test]
async fn filters_with_a_token_bad_tokens_and_bad_dates_are_400() {
    let (_dir, state) = state().await;
    write(
        &state,
        (1..=3)
            .map(|n| upsert(EntityKind::Person, n, "p"))
            .collect(),
        vec![],
    )
    .await;
    let (_, body) = call(&state, "/persons?limit=1").await;
    let token = body["pageToken"].as_str().unwrap().to_string();
    let (status, body) = call(
        &state,
        &format!("/persons?pageToken={token}&meta.modified.after=2020-01-01T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("meta.modified.after")
    );
    // `limit` may accompany a token.
    let (status, body) = call(&state, &format!("/persons?pageToken={token}&limit=5")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    // A token of another resource, or garbage.
    let (status, body) = call(&state, &format!("/groups?pageToken={token}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_page_token");
    let (status, body) = call(&state, "/persons?pageToken=garbage").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "invalid_page_token");
    // A bad date names the parameter and the value.
    let (status, body) = call(&state, "/persons?meta.created.after=2020-13-01").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("`meta.created.after`") && message.contains("2020-13-01"));
    let (status, _) = call(&state, "/persons?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Unimplemented SS 12000 parameters are ignored without a token.
    let (status, body) = call(&state, "/persons?expand=duties&sortkey=ModifiedDesc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn single_gets_and_organisations() {
    let (_dir, state) = state().await;
    write(
        &state,
        vec![
            upsert(EntityKind::Organisation, 1, "Skola"),
            upsert(EntityKind::Activity, 2, "Matematik"),
        ],
        vec![],
    )
    .await;
    let id = Uuid::from_u128(2);
    let (status, body) = call(&state, &format!("/activities/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["displayName"], "Matematik");
    assert!(body["meta"]["modified"].is_string());
    // The same id under another type is not there.
    let (status, body) = call(&state, &format!("/persons/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
    let (status, body) = call(&state, "/persons/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("not-a-uuid"));
    let (_, body) = call(&state, "/organisations").await;
    assert_eq!(body["organisations"], body["data"]);
    assert_eq!(body["organisations"][0]["displayName"], "Skola");
    assert!(body["pageToken"].is_null());
}

#[tokio::test]
async fn deleted_entities_page_and_filter_by_type() {
    let (_dir, state) = state().await;
    let mut all: Vec<_> = (1..=4)
        .map(|n| upsert(EntityKind::Person, n, "p"))
        .collect();
    all.extend((11..=13).map(|n| upsert(EntityKind::Group, n, "g")));
    all.push(upsert(EntityKind::Activity, 21, "a"));
    write(&state, all, vec![]).await;
    let gone = [
        (EntityKind::Person, 1),
        (EntityKind::Person, 3),
        (EntityKind::Group, 12),
        (EntityKind::Activity, 21),
        (EntityKind::Duty, 99), // never served: no tombstone
    ];
    write(
        &state,
        vec![],
        gone.iter()
            .map(|(k, n)| (*k, Uuid::from_u128(*n)))
            .collect(),
    )
    .await;
    let (status, body) = call(&state, "/deletedEntities?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: BTreeSet<&str> = body["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "activitites",
            "duties",
            "groups",
            "organisations",
            "persons"
        ])
    );
    let mut seen = Vec::new();
    let mut body = body;
    loop {
        for (key, list) in body["data"].as_object().unwrap() {
            for id in list.as_array().unwrap() {
                seen.push((key.clone(), id.as_str().unwrap().to_string()));
            }
        }
        let Some(token) = body["pageToken"].as_str() else {
            break;
        };
        body = call(&state, &format!("/deletedEntities?pageToken={token}"))
            .await
            .1;
    }
    seen.sort();
    let expected = vec![
        ("activitites".to_string(), Uuid::from_u128(21).to_string()),
        ("groups".to_string(), Uuid::from_u128(12).to_string()),
        ("persons".to_string(), Uuid::from_u128(1).to_string()),
        ("persons".to_string(), Uuid::from_u128(3).to_string()),
    ];
    assert_eq!(seen, expected);
    let (_, body) = call(&state, "/deletedEntities?entities=Group&entities=Activity").await;
    assert_eq!(
        body["data"],
        json!({ "groups": [Uuid::from_u128(12)], "activitites": [Uuid::from_u128(21)] })
    );
    let (_, body) = call(&state, "/deletedEntities?entities=Person,Duty").await;
    assert_eq!(body["data"]["persons"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"]["duties"], json!([]));
    let future = encode(Utc::now() + chrono::Duration::hours(1));
    let (_, body) = call(&state, &format!("/deletedEntities?after={future}")).await;
    assert_eq!(body["data"]["persons"], json!([]));
    let (status, body) = call(&state, "/deletedEntities?entities=Syllabus").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("Syllabus"));
    let (status, _) = call(&state, "/deletedEntities?after=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_token_cannot_ask_for_an_empty_or_oversized_page() {
    use super::page_token::{ListPosition, Position, encode};
    let (_dir, state) = state().await;
    write(
        &state,
        (1..=3)
            .map(|n| upsert(EntityKind::Person, n, "p"))
            .collect(),
        vec![],
    )
    .await;
    let token = encode(&Position::List(ListPosition {
        kind: EntityKind::Person,
        filter: crate::state::served::ServedFilter::default(),
        limit: 0,
        last: Uuid::from_u128(1),
    }));
    let (status, body) = call(&state, &format!("/persons?pageToken={token}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ids(body["data"].as_array().unwrap()),
        [Uuid::from_u128(2).to_string()]
    );
    assert!(body["pageToken"].is_string());
}
