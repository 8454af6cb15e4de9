//! The API connectors against the sandbox's EduCloud and generic SS 12000
//! API: full reads, paging, token expiry and renewal, wrong credentials,
//! incremental reads with deletions, retries, mutual TLS, the school unit
//! filter and per-entity rejects.

// Tests stop at the first surprise; helpers outside `#[test]` too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use skolsync_connectors::{ReadOptions, ReadProgress, SourceError};
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{EntityKind, SourceId};
use skolsync_sandbox::SourceFaults;
use skolsync_sandbox::generate::DirtKind;

#[tokio::test]
async fn educloud_reads_everything_the_source_holds() {
    let sandbox = sandbox(300, |_| {}).await;
    let source = source(&educloud_toml(&sandbox, ""));
    let progress = ReadProgress::new();
    let (snap, rejects, summary) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    assert!(rejects.is_empty(), "{rejects:?}");
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(snap.organisations, world.organisations);
    assert_eq!(snap.persons.len(), world.persons.len());
    assert_eq!(
        ids(&snap.persons, |p| p.id.as_str()),
        ids(&world.persons, |p| p.id.as_str())
    );
    // Entities come back exactly as stored (paging does not reorder within a resource).
    assert_eq!(snap.persons, world.persons);
    assert_eq!(snap.duties, world.duties);
    assert_eq!(snap.groups, world.groups);
    assert_eq!(snap.syllabuses, world.syllabuses);
    assert_eq!(snap.programmes, world.programmes);
    assert_eq!(
        ids(&snap.activities, |a| a.id.as_str()),
        ids(&world.activities, |a| a.id.as_str())
    );
    assert!(snap.deleted.is_empty(), "a full read reports no deletions");
    assert_eq!(summary.count(EntityKind::Person), world.persons.len());
    assert_eq!(
        progress.entities(EntityKind::Group) as usize,
        world.groups.len()
    );
    let watermark = summary.watermark.expect("API reads have a watermark");
    let now = chrono::Utc::now().fixed_offset();
    assert!(watermark < now && watermark > now - chrono::Duration::minutes(5));
}

#[tokio::test]
async fn many_small_pages_are_followed_to_the_end_without_repeats() {
    let sandbox = sandbox(200, |_| {}).await;
    let source = source(&educloud_toml(&sandbox, "page_size = 7"));
    let progress = ReadProgress::new();
    let (snap, _, _) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    let world = sandbox.world().source.read().unwrap().clone();
    let persons = ids(&snap.persons, |p| p.id.as_str());
    let unique: HashSet<&String> = persons.iter().collect();
    assert_eq!(unique.len(), persons.len(), "no person twice");
    assert_eq!(persons, ids(&world.persons, |p| p.id.as_str()));
    let pages_needed: usize = [
        world.organisations.len(),
        world.persons.len(),
        world.duties.len(),
        world.groups.len(),
        world.activities.len(),
        world.syllabuses.len(),
        world.programmes.len(),
    ]
    .iter()
    .map(|n| n.div_ceil(7).max(1))
    .sum();
    // One token request plus one request per page.
    assert!(
        progress.requests() as usize > pages_needed,
        "{} requests for {pages_needed} pages",
        progress.requests()
    );
}

#[tokio::test]
async fn tokens_are_renewed_before_they_expire() {
    // Tokens live 1 s; slow answers make the read take several lifetimes.
    let sandbox = sandbox(200, |c| {
        c.educloud_token_lifetime = Duration::from_secs(1);
        c.source_faults.slow_ms = 30;
    })
    .await;
    let source = source(&educloud_toml(&sandbox, "page_size = 5\nconcurrency = 1"));
    let progress = ReadProgress::new();
    let started = std::time::Instant::now();
    let (snap, _, _) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    assert!(
        started.elapsed() > Duration::from_millis(1500),
        "the read must outlive a token ({:?})",
        started.elapsed()
    );
    assert_eq!(
        snap.persons.len(),
        sandbox.world().source.read().unwrap().persons.len()
    );
    // Renewed in time: the API never had to refuse a token.
    assert_eq!(progress.retries(), 0);
}

#[tokio::test]
async fn a_token_revoked_mid_read_is_renewed_once_and_the_read_goes_on() {
    let sandbox = sandbox(300, |c| c.source_faults.slow_ms = 5).await;
    let source = source(&educloud_toml(&sandbox, "page_size = 25\nconcurrency = 1"));
    let progress = ReadProgress::new();
    let tokens = sandbox.educloud_tokens().clone();
    let watcher = {
        let progress = progress.clone();
        tokio::spawn(async move {
            while progress.entities(EntityKind::Person) < 100 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokens.expire_all();
        })
    };
    let (snap, _, _) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    watcher.await.unwrap();
    assert_eq!(
        ids(&snap.persons, |p| p.id.as_str()),
        ids(&sandbox.world().source.read().unwrap().persons, |p| p
            .id
            .as_str())
    );
    assert!(
        progress.retries() >= 1,
        "the 401 was answered with a new token"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_a_clear_error_without_the_secret() {
    let sandbox = sandbox(50, |_| {}).await;
    let e = sandbox.endpoints();
    let toml_text = format!(
        "kind = \"educloud\"\nbase_url = \"{}\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"not-the-secret\"\n",
        e.educloud_url, e.educloud_token_url, e.client_id
    );
    let err = read_all(source(&toml_text).as_ref(), ReadOptions::default())
        .await
        .unwrap_err();
    let SourceError::Auth { url, status, .. } = &err else {
        panic!("expected an auth error, got {err:?}");
    };
    assert_eq!(url, &e.educloud_token_url);
    assert_eq!(*status, Some(401));
    let text = err.to_string();
    assert!(
        text.contains("client_secret") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"), "{text}");
}

#[tokio::test]
async fn incremental_reads_bring_changes_and_deletions() {
    let sandbox = sandbox(200, |_| {}).await;
    let source = source(&educloud_toml(&sandbox, ""));
    let (_, _, full) = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    let watermark = full.watermark.unwrap();

    let world = sandbox.world();
    let (mut changed, gone_person, gone_group, gone_activity) = {
        let data = world.source.read().unwrap();
        (
            data.persons[3].clone(),
            data.persons[10].id.clone(),
            data.groups[2].id.clone(),
            data.activities[1].id.clone(),
        )
    };
    changed.given_name = "Ändrad".to_string();
    world.upsert(changed.clone()).unwrap();
    assert!(world.delete(EntityKind::Person, &gone_person));
    assert!(world.delete(EntityKind::Group, &gone_group));
    assert!(world.delete(EntityKind::Activity, &gone_activity));

    let (snap, rejects, summary) = read_all(
        source.as_ref(),
        ReadOptions {
            modified_after: Some(watermark),
            progress: None,
        },
    )
    .await
    .unwrap();
    assert!(rejects.is_empty());
    assert_eq!(snap.persons.len(), 1, "only the changed person");
    assert_eq!(snap.persons[0].given_name, "Ändrad");
    assert!(snap.groups.is_empty() && snap.organisations.is_empty());
    assert_eq!(snap.deleted.persons, vec![gone_person]);
    assert_eq!(snap.deleted.groups, vec![gone_group]);
    // Served under the spec's key `activitites`.
    assert_eq!(snap.deleted.activities, vec![gone_activity]);
    assert!(summary.watermark.unwrap() >= watermark);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let sandbox = sandbox(150, |c| {
        c.source_faults = SourceFaults {
            rate_limit_burst: 2,
            retry_after_secs: 1,
            server_error_share: 0.2,
            ..SourceFaults::default()
        };
    })
    .await;
    let source = source(&educloud_toml(
        &sandbox,
        "page_size = 100\nmax_retries = 12",
    ));
    let progress = ReadProgress::new();
    let (snap, _, _) = read_all(source.as_ref(), watched(&progress)).await.unwrap();
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(snap.persons, world.persons);
    assert_eq!(snap.groups, world.groups);
    assert!(progress.retries() >= 2, "{} retries", progress.retries());
}

#[tokio::test]
async fn a_server_that_keeps_failing_ends_the_read_naming_url_and_status() {
    let sandbox = sandbox(50, |c| c.source_faults.server_error_share = 1.0).await;
    let e = sandbox.endpoints();
    let toml_text = format!(
        "kind = \"ss12000\"\nbase_url = \"{}\"\nmax_retries = 1\nresources = [\"persons\"]\n[auth]\ntype = \"bearer\"\ntoken = \"{}\"\n",
        e.ss12000_url, e.ss12000_token
    );
    let err = read_all(source(&toml_text).as_ref(), ReadOptions::default())
        .await
        .unwrap_err();
    let SourceError::Http {
        url,
        status,
        attempts,
        ..
    } = &err
    else {
        panic!("expected an HTTP error, got {err:?}");
    };
    assert!(
        url.starts_with(&format!("{}/persons", e.ss12000_url)),
        "{url}"
    );
    assert!(*status == 500 || *status == 503);
    assert_eq!(*attempts, 2);
    assert!(!err.to_string().contains(&e.ss12000_token));
}

#[tokio::test]
async fn the_generic_api_with_a_bearer_token() {
    let sandbox = sandbox(100, |_| {}).await;
    let e = sandbox.endpoints();
    let good = format!(
        "kind = \"ss12000\"\nbase_url = \"{}\"\n[auth]\ntype = \"bearer\"\ntoken = \"{}\"\n",
        e.ss12000_url, e.ss12000_token
    );
    let (snap, _, _) = read_all(source(&good).as_ref(), ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(
        snap.persons.len(),
        sandbox.world().source.read().unwrap().persons.len()
    );
    let bad = good.replace(&e.ss12000_token, "wrong-token");
    let err = read_all(source(&bad).as_ref(), ReadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Auth { status: Some(401), url, .. } if url.contains("/ss12000/v2.0/")),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-token"));
}

#[tokio::test]
async fn the_generic_api_with_oauth2_client_credentials_over_basic_auth() {
    let sandbox = sandbox(100, |_| {}).await;
    let e = sandbox.endpoints();
    let toml_text = format!(
        "kind = \"ss12000\"\nbase_url = \"{}\"\nresources = [\"organisations\", \"groups\"]\n\
         [auth]\ntype = \"oauth2\"\ntoken_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauth_style = \"basic\"\n",
        e.educloud_url, e.educloud_token_url, e.client_id, e.client_secret
    );
    let (snap, _, summary) = read_all(source(&toml_text).as_ref(), ReadOptions::default())
        .await
        .unwrap();
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(snap.groups, world.groups);
    assert!(snap.persons.is_empty(), "only the configured resources");
    assert_eq!(
        summary.count(EntityKind::Organisation),
        world.organisations.len()
    );
}

#[tokio::test]
async fn a_school_unit_filter_keeps_only_what_belongs_to_the_units() {
    let sandbox = sandbox(800, |_| {}).await;
    let world = sandbox.world().source.read().unwrap().clone();
    let units: Vec<_> = world
        .organisations
        .iter()
        .filter(|o| o.school_unit_code.is_some())
        .collect();
    assert!(units.len() >= 2, "the test needs two units");
    let unit = units[0];
    let code = unit.school_unit_code.clone().unwrap();
    let source = source(&educloud_toml(
        &sandbox,
        &format!("school_units = [\"{code}\"]\npage_size = 50"),
    ));
    let (snap, _, _) = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();

    let at_unit = |id: &SourceId| id == &unit.id;
    let expected_groups = world
        .groups
        .iter()
        .filter(|g| at_unit(&g.organisation.id))
        .count();
    assert!(expected_groups > 0);
    assert_eq!(snap.groups.len(), expected_groups);
    assert!(snap.activities.iter().all(|a| at_unit(&a.organisation.id)));
    assert!(snap.duties.iter().all(|d| at_unit(&d.duty_at.id)));
    let holders: HashSet<&SourceId> = snap
        .duties
        .iter()
        .filter_map(|d| d.person.as_ref().map(|p| &p.id))
        .collect();
    let expected_persons = world
        .persons
        .iter()
        .filter(|p| {
            p.enrolments.iter().any(|e| at_unit(&e.enroled_at.id))
                || world.duties.iter().any(|d| {
                    at_unit(&d.duty_at.id) && d.person.as_ref().is_some_and(|r| r.id == p.id)
                })
        })
        .count();
    assert_eq!(snap.persons.len(), expected_persons);
    assert!(snap.persons.len() < world.persons.len());
    assert!(
        snap.persons
            .iter()
            .all(|p| holders.contains(&p.id)
                || p.enrolments.iter().any(|e| at_unit(&e.enroled_at.id)))
    );
    // The unit and the organiser above it; no other unit.
    assert!(snap.organisations.iter().any(|o| o.id == unit.id));
    assert!(
        snap.organisations
            .iter()
            .all(|o| o.id == unit.id || o.school_unit_code.is_none())
    );

    let typo = source_with_units(&sandbox, "99999999");
    let err = read_all(typo.as_ref(), ReadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SourceError::Scope(m) if m.contains("99999999")),
        "{err:?}"
    );
}

fn source_with_units(
    sandbox: &skolsync_sandbox::Sandbox,
    code: &str,
) -> Box<dyn skolsync_connectors::Source> {
    source(&educloud_toml(
        sandbox,
        &format!("school_units = [\"{code}\"]"),
    ))
}

#[tokio::test]
async fn an_unreadable_entity_is_rejected_with_its_page_and_the_rest_is_read() {
    let sandbox = sandbox(400, |c| c.dirt = 0.02).await;
    let unknown_enum: Vec<_> = sandbox
        .dirty()
        .iter()
        .filter(|d| d.fault == DirtKind::UnknownEnumValue)
        .cloned()
        .collect();
    assert!(!unknown_enum.is_empty());
    let source = source(&educloud_toml(&sandbox, "page_size = 40"));
    let (snap, rejects, summary) = read_all(source.as_ref(), ReadOptions::default())
        .await
        .unwrap();
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(rejects.len(), unknown_enum.len(), "{rejects:#?}");
    for d in &unknown_enum {
        let r = rejects
            .iter()
            .find(|r| r.source_id.as_deref() == Some(d.id.as_str()))
            .expect("a reject per unreadable entity");
        assert_eq!(r.entity, d.kind);
        let location = r.location.as_deref().unwrap_or("");
        assert!(
            location.starts_with(&format!(
                "GET /ss12000v2-api/source/SE00100/v2.0/{}",
                d.kind.endpoint()
            )) && location.contains("(page "),
            "{location}"
        );
        assert!(r.field.as_deref().unwrap_or("").ends_with("Type"), "{r:?}");
    }
    let bad_groups = unknown_enum
        .iter()
        .filter(|d| d.kind == EntityKind::Group)
        .count();
    assert_eq!(snap.groups.len(), world.groups.len() - bad_groups);
    assert_eq!(summary.rejected, unknown_enum.len());
}

#[tokio::test]
async fn dropping_the_stream_stops_the_read() {
    let sandbox = sandbox(200, |c| c.source_faults.slow_ms = 20).await;
    let source = source(&educloud_toml(&sandbox, "page_size = 5\nconcurrency = 1"));
    let progress: Arc<ReadProgress> = ReadProgress::new();
    let stream = source.read(watched(&progress));
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after_drop = progress.requests();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        progress.requests(),
        after_drop,
        "no requests after the drop"
    );
}

// ---------------------------------------------------------------------------
// Servers with fewer resources (Skolverket's SS 12000 subset has no
// /syllabuses or /programmes).

#[tokio::test]
async fn a_server_without_syllabuses_and_programmes_is_read_with_a_warning_each() {
    let sandbox = sandbox(50, |c| {
        c.source_faults.unserved = vec!["syllabuses".to_string(), "programmes".to_string()];
    })
    .await;
    let (snap, rejects, _) = read_all(
        source(&educloud_toml(&sandbox, "")).as_ref(),
        ReadOptions::default(),
    )
    .await
    .expect("the read goes on without the optional resources");
    let world = sandbox.world().source.read().unwrap().clone();
    assert_eq!(snap.persons, world.persons);
    assert_eq!(snap.groups, world.groups);
    assert!(snap.syllabuses.is_empty() && snap.programmes.is_empty());
    let warnings: Vec<&Reject> = rejects
        .iter()
        .filter(|r| r.severity == Severity::Warning)
        .collect();
    assert_eq!(warnings.len(), 2, "{rejects:?}");
    for (kind, endpoint) in [
        (EntityKind::Syllabus, "/syllabuses"),
        (EntityKind::Programme, "/programmes"),
    ] {
        let w = warnings
            .iter()
            .find(|w| w.entity == kind)
            .unwrap_or_else(|| panic!("a warning about {endpoint}"));
        assert!(
            w.location.as_deref().unwrap().ends_with(endpoint),
            "{:?}",
            w.location
        );
        assert!(
            w.reason.contains("404") && w.reason.contains(endpoint),
            "{}",
            w.reason
        );
    }
    assert!(
        rejects.iter().all(|r| r.severity == Severity::Warning),
        "{rejects:?}"
    );
}

#[tokio::test]
async fn a_server_without_a_required_resource_is_an_error_naming_it() {
    let sandbox = sandbox(50, |c| {
        c.source_faults.unserved = vec!["groups".to_string()]
    })
    .await;
    let err = read_all(
        source(&educloud_toml(&sandbox, "")).as_ref(),
        ReadOptions::default(),
    )
    .await
    .unwrap_err();
    let SourceError::ResourceMissing { resource, url, .. } = &err else {
        panic!("expected a missing resource, got {err:?}");
    };
    assert_eq!(resource, "groups");
    assert!(url.contains("/groups"), "{url}");
    let text = err.to_string();
    assert!(text.contains("`/groups`") && text.contains("404"), "{text}");
}
