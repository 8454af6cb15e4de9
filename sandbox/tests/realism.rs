//! The sandbox's source behaving like a real SS 12000 server: capped and
//! slow pages and counted calls, and a municipality that changes while it
//! is served, with incremental filters that see exactly the changes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use skolsync_model::codes::DutyRole;
use skolsync_model::ss12000::{EntityKind, Group, Person, SourceId};
use skolsync_sandbox::change::Changed;
use skolsync_sandbox::{OverMaxPageSize, SourceOptions};
use support::{Client, options, pupil_with_parallel_class, start};

#[tokio::test]
async fn a_limit_over_the_maximum_is_clamped_and_no_limit_gets_the_maximum() {
    let sandbox = start(SourceOptions {
        max_page_size: 7,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    for query in [&[("limit", "500")][..], &[]] {
        let page = client.json("/persons", query).await;
        assert_eq!(page["data"].as_array().unwrap().len(), 7, "{query:?}");
        let token = page["pageToken"].as_str().expect("a token for the rest");
        let next = client
            .json("/persons", &[("pageToken", token), ("limit", "500")])
            .await;
        assert_eq!(next["data"].as_array().unwrap().len(), 7);
    }
    let page = client.json("/persons", &[("limit", "3")]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let deleted = client.json("/deletedEntities", &[("limit", "500")]).await;
    assert!(deleted["data"].is_object());
}

#[tokio::test]
async fn a_limit_over_the_maximum_is_refused_with_400_when_configured() {
    let sandbox = start(SourceOptions {
        max_page_size: 20,
        over_max_page_size: OverMaxPageSize::Reject,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    for path in ["/persons", "/groups", "/deletedEntities", "/subscriptions"] {
        let response = client.get(path, &[("limit", "21")]).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["code"].is_string(), "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("`limit`") && message.contains("21") && message.contains("20"),
            "{message}"
        );
    }
    let page = client.json("/persons", &[("limit", "20")]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 20);
    // Without a limit the maximum applies, which is never refused.
    let page = client.json("/persons", &[]).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn every_data_read_waits_at_least_the_configured_latency() {
    let latency = Duration::from_millis(120);
    let sandbox = start(SourceOptions {
        latency,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let person = sandbox.world().source.read().unwrap().persons[0].id.clone();
    let started = Instant::now();
    client.json("/persons", &[("limit", "2")]).await;
    assert!(started.elapsed() >= latency, "list");
    let started = Instant::now();
    client
        .json(&format!("/persons/{}", person.as_str()), &[])
        .await;
    assert!(started.elapsed() >= latency, "by id");
    let started = Instant::now();
    let (status, _) = client
        .send(
            reqwest::Method::POST,
            "/persons/lookup",
            Some(json!({ "ids": [person.as_str()] })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= latency, "lookup");
    let started = Instant::now();
    client.json("/deletedEntities", &[]).await;
    assert!(started.elapsed() >= latency, "deletedEntities");
}

#[tokio::test]
async fn source_calls_are_counted_per_endpoint_and_query_kind_and_can_be_reset() {
    let sandbox = start(SourceOptions {
        max_page_size: 50,
        ..options()
    })
    .await;
    let client = Client::of(&sandbox);
    let persons = sandbox.world().source.read().unwrap().persons.len();
    let ids = client.ids("/persons", &[("limit", "50")]).await;
    assert_eq!(ids.len(), persons);
    let pages = persons.div_ceil(50) as u64;
    client
        .json(
            "/groups",
            &[("meta.modified.after", "2020-01-01T00:00:00Z")],
        )
        .await;
    let first = ids.iter().next().unwrap().as_str().to_string();
    client.json(&format!("/persons/{first}"), &[]).await;
    // Refused calls count too: the source received them.
    assert_eq!(
        client.get("/persons", &[("limit", "0")]).await.status(),
        400
    );

    let counts = sandbox.source_calls();
    assert_eq!(counts.endpoint("GET /persons"), pages + 1);
    assert_eq!(counts.by_query["GET /persons?pageToken"], pages - 1);
    assert_eq!(counts.by_query["GET /persons?limit"], 2);
    assert_eq!(counts.with_param("GET /groups", "meta.modified.after"), 1);
    assert_eq!(counts.endpoint("GET /persons/{id}"), 1);
    assert_eq!(counts.total, pages + 3);
    assert_eq!(counts.data_reads(), pages + 3);

    let before = sandbox.reset_source_calls();
    assert_eq!(before, counts);
    assert_eq!(sandbox.source_calls().total, 0);
    client.json("/duties", &[("limit", "1")]).await;
    assert_eq!(sandbox.source_calls().total, 1);
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Checks that the filters return exactly what `changed` touched.
async fn assert_filters_match(client: &Client, since: &str, changed: &Changed) {
    for kind in [
        EntityKind::Person,
        EntityKind::Group,
        EntityKind::Duty,
        EntityKind::Activity,
    ] {
        let path = format!("/{}", kind.endpoint());
        let modified = client.ids(&path, &[("meta.modified.after", since)]).await;
        assert_eq!(modified, changed.touched(kind), "{kind:?} modified");
        let created = client.ids(&path, &[("meta.created.after", since)]).await;
        let expected = changed.created.get(&kind).cloned().unwrap_or_default();
        assert_eq!(created, expected, "{kind:?} created");
    }
    let deleted = client
        .json("/deletedEntities", &[("after", since), ("limit", "100")])
        .await;
    for kind in [EntityKind::Person, EntityKind::Duty] {
        let ids: BTreeSet<SourceId> = deleted["data"][kind.endpoint()]
            .as_array()
            .unwrap()
            .iter()
            .map(|id| SourceId::new(id.as_str().unwrap()))
            .collect();
        assert_eq!(ids, changed.deleted(kind), "{kind:?} deleted");
    }
}

#[tokio::test]
async fn incremental_filters_return_exactly_the_entities_a_change_set_touched() {
    let sandbox = start(options()).await;
    let client = Client::of(&sandbox);
    let since = rfc3339(Utc::now());
    let shared = sandbox.change_share_of_pupils(0.05).unwrap();
    let persons = shared.touched(EntityKind::Person);
    assert!(!persons.is_empty());
    assert_filters_match(&client, &since, &shared).await;

    let since = rfc3339(Utc::now());
    let (pupil, class, _) = pupil_with_parallel_class(&sandbox);
    let unit = sandbox
        .world()
        .source
        .read()
        .unwrap()
        .groups
        .iter()
        .find(|g| g.id == class)
        .unwrap()
        .organisation
        .id
        .clone();
    let duty = sandbox.world().source.read().unwrap().duties[0].id.clone();
    let mut added = None;
    let changed = sandbox
        .change(|m| {
            added = Some(m.add_pupil(&class)?);
            m.add_staff(&unit, DutyRole::Larare)?;
            m.end_duty(&duty, chrono::NaiveDate::from_ymd_opt(2026, 9, 30).unwrap())?;
            m.remove_pupil(&pupil)
        })
        .unwrap();
    assert_eq!(changed.created[&EntityKind::Person].len(), 2);
    assert_eq!(changed.created[&EntityKind::Duty].len(), 1);
    assert_eq!(
        changed.deleted(EntityKind::Person),
        BTreeSet::from([pupil.clone()])
    );
    assert_filters_match(&client, &since, &changed).await;

    // The newcomer sits in the class with a valid, unique personnummer.
    let added = added.unwrap();
    let data = sandbox.world().source.read().unwrap();
    let class_group = data.get::<Group>(&class).unwrap();
    assert!(
        class_group
            .group_memberships
            .iter()
            .any(|m| m.person.id == added)
    );
    assert!(
        !class_group
            .group_memberships
            .iter()
            .any(|m| m.person.id == pupil)
    );
    let person = data.get::<Person>(&added).unwrap();
    let number = &person.civic_no.as_ref().unwrap().value;
    assert!(luhn_valid(number), "{number}");
    let holders = data
        .persons
        .iter()
        .filter(|p| p.civic_no.as_ref().is_some_and(|c| &c.value == number))
        .count();
    assert_eq!(holders, 1);
    assert!(!person.enrolments.is_empty());
    let eppn = &person.edu_person_principal_names[0].to_lowercase();
    assert!(!eppn.contains(&person.family_name.to_lowercase()));
}

#[tokio::test]
async fn a_move_touches_the_groups_left_and_joined_and_an_edit_error_names_the_id() {
    let sandbox = start(options()).await;
    let (pupil, from, to) = pupil_with_parallel_class(&sandbox);
    let changed = sandbox.change(|m| m.move_pupil(&pupil, &to)).unwrap();
    let groups = changed.touched(EntityKind::Group);
    assert!(groups.contains(&from) && groups.contains(&to), "{groups:?}");
    let data = sandbox.world().source.read().unwrap();
    let member = |id: &SourceId| {
        data.get::<Group>(id)
            .unwrap()
            .group_memberships
            .iter()
            .any(|m| m.person.id == pupil)
    };
    assert!(member(&to) && !member(&from));
    drop(data);

    let ghost = SourceId::new("00000000-0000-4000-8000-000000000000");
    let err = sandbox.change(|m| m.remove_pupil(&ghost)).unwrap_err();
    assert!(err.to_string().contains(ghost.as_str()), "{err}");
}

/// The Luhn check over the ten digits of a twelve-digit personnummer.
fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u32> = number[2..].chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let v = if i % 2 == 0 { d * 2 } else { *d };
            if v > 9 { v - 9 } else { v }
        })
        .sum();
    sum.is_multiple_of(10)
}
