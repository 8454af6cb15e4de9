//! Skolverket's SS12000 client emulator (pull method) against a small
//! fixture SS 12000 API ([`pull_fixture`]): subscription, full fetch in
//! order and by page, judging with LogEntries and StatisticsEntries,
//! webhooks with and without valid tokens, incremental fetch and
//! deletions, retries and failures, and the authorisation server's side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pull_fixture;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use pull_fixture::*;
use serde_json::{Value, json};
use skolsync_sandbox::auth::{ClientKey, RequestedAccess, SS12000_CLIENT_ACCESS_TYPE};
use skolsync_sandbox::pull_client::{ClientError, JobTrigger};
use skolsync_sandbox::{Sandbox, SandboxConfig};
use uuid::Uuid;

#[tokio::test]
async fn registration_subscribes_then_fetches_all_types_in_order_page_by_page_and_judges_them() {
    let (sandbox, fx) = start().await;
    let ids = fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;

    // The subscription: a target of this client with the urlId, all five types.
    let subscribe = fx.posted("/subscriptions");
    assert_eq!(subscribe.len(), 1);
    let target = format!("{}/webhooks/{id}", sandbox.endpoints().ss12000_client_url);
    assert_eq!(subscribe[0]["target"], json!(target));
    assert!(!subscribe[0]["name"].as_str().unwrap().is_empty());
    assert_eq!(
        subscribe[0]["resourceTypes"],
        json!([{"resource": "Organisation"}, {"resource": "Person"}, {"resource": "Group"},
               {"resource": "Duty"}, {"resource": "Activity"}])
    );
    assert_eq!(
        client.subscription(id).unwrap().expires,
        "2027-03-01T00:00:00Z"
    );

    // Every call carried a token that verifies for this API.
    let seen = fx.seen();
    assert!(seen.iter().all(|s| s.token_problem.is_none()), "{seen:#?}");

    // Order and paging: limit on first pages, the token alone after.
    let gets: Vec<(String, Option<String>, Option<String>)> = fx
        .gets()
        .into_iter()
        .map(|s| {
            (
                s.path,
                s.query.get("limit").cloned(),
                s.query.get("pageToken").cloned(),
            )
        })
        .collect();
    let two = Some("2".to_string());
    assert_eq!(
        gets,
        vec![
            ("/organisations".into(), two.clone(), None),
            ("/persons".into(), two.clone(), None),
            ("/persons".into(), None, Some("2||2".into())),
            ("/groups".into(), two.clone(), None),
            ("/duties".into(), two.clone(), None),
            ("/activities".into(), two.clone(), None),
        ]
    );
    // No deletions on a first load.
    assert!(fx.gets().iter().all(|s| s.path != "/deletedEntities"));

    // Holdings: the valid ones, as received.
    let held = client.holdings(id).unwrap();
    assert_eq!(
        held.organisations.keys().collect::<Vec<_>>(),
        vec![&ids.unit]
    );
    let mut persons: Vec<Uuid> = held.persons.keys().copied().collect();
    persons.sort();
    let mut want = vec![ids.persons[0], ids.persons[1]];
    want.sort();
    assert_eq!(persons, want);
    assert_eq!(
        held.persons[&ids.persons[0]]["enrolments"][0]["enroledAt"]["displayName"],
        "Skolan"
    );
    assert_eq!(held.groups.keys().collect::<Vec<_>>(), vec![&ids.group]);
    assert_eq!(
        held.activities.keys().collect::<Vec<_>>(),
        vec![&ids.activities[0]]
    );

    // LogEntries for the refused ones, with the rule's id.
    let logs = fx.posted("/log");
    let errors: Vec<(String, String, String)> = logs
        .iter()
        .filter(|l| l["severityLevel"] == "Error")
        .map(|l| {
            (
                l["resourceType"].as_str().unwrap().to_string(),
                l["resourceId"].as_str().unwrap().to_string(),
                l["messageType"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        vec![
            ("Person".into(), ids.persons[2].to_string(), "9000".into()),
            ("Person".into(), ids.persons[3].to_string(), "9120".into()),
            (
                "Activity".into(),
                ids.activities[1].to_string(),
                "9152".into()
            ),
        ]
    );
    for l in &logs {
        assert!(l["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(
            l["timeOfOccurance"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .is_ok()
        );
        assert!(l["resourceUrl"].as_str().unwrap().starts_with(&fx.api_url));
    }
    // Personnummer never in a LogEntry.
    let text = serde_json::to_string(&logs).unwrap();
    assert!(!text.contains(&pnr("20120315", 102)));
    assert_eq!(client.log_entries_posted(id).unwrap(), logs);

    // A StatisticsEntry per type, only updatedCount used.
    let stats: Vec<(String, u64, u64)> = fx
        .posted("/statistics")
        .iter()
        .map(|s| {
            assert_eq!(s["newCount"], 0);
            (
                s["resourceType"].as_str().unwrap().to_string(),
                s["updatedCount"].as_u64().unwrap(),
                s["deletedCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stats,
        vec![
            ("Organisation".into(), 1, 0),
            ("Person".into(), 2, 0),
            ("Group".into(), 1, 0),
            ("Duty".into(), 0, 0),
            ("Activity".into(), 1, 0),
        ]
    );
    let jobs = client.jobs(id).unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].trigger, JobTrigger::Registration);
    assert_eq!(jobs[0].outcome, Ok(()));
}

#[tokio::test]
async fn webhooks_without_a_valid_token_are_refused_and_fetch_nothing() {
    let (sandbox, fx) = start().await;
    fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;
    let before = fx.seen().len();
    let body = json!({"modifiedEntites": ["Person"]});
    let issuer = sandbox.token_issuer();

    assert_eq!(send_webhook(&sandbox, id, None, &body).await, 401);
    assert_eq!(
        send_webhook(&sandbox, id, Some("not.a.jwt"), &body).await,
        401
    );
    // Valid signature, but for another client location.
    let elsewhere = issuer
        .issue(
            &ClientKey::EntityId("https://kommun.se".into()),
            vec![RequestedAccess {
                access_type: SS12000_CLIENT_ACCESS_TYPE.into(),
                locations: vec!["https://api.skolverket.se/provtjanst/ss12000/klient/v1".into()],
            }],
        )
        .unwrap();
    assert_eq!(
        send_webhook(&sandbox, id, Some(&elsewhere), &body).await,
        403
    );
    // Expired.
    let good = webhook_token(&sandbox).await;
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let mut old: skolsync_sandbox::auth::TokenClaims = serde_json::from_value(claims).unwrap();
    old.iat -= 7200;
    old.nbf -= 7200;
    old.exp = old.iat + 60;
    let expired = issuer.sign(&old).unwrap();
    assert_eq!(send_webhook(&sandbox, id, Some(&expired), &body).await, 401);
    // Signed by another authorisation server.
    let other = Sandbox::start(SandboxConfig {
        students: 50,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let foreign = webhook_token(&other).await;
    assert_eq!(send_webhook(&sandbox, id, Some(&foreign), &body).await, 401);

    client.wait_idle(id, WAIT).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        fx.seen().len(),
        before,
        "a refused webhook fetched something"
    );
    let receipts = client.webhooks(id).unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![401, 401, 403, 401, 401]
    );
    assert!(receipts.iter().all(|r| r.reason.is_some()));
    assert!(
        receipts[3].reason.as_deref().unwrap().contains("expired"),
        "{receipts:?}"
    );
    assert_eq!(client.jobs(id).unwrap().len(), 1);
}

#[tokio::test]
async fn a_valid_webhook_refetches_from_five_minutes_before_then_removes_deletions() {
    let (sandbox, fx) = start().await;
    let ids = fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();
    let id = registered(&sandbox, &fx).await;
    let stats_before = fx.posted("/statistics").len();
    let gets_before = fx.gets().len();

    // Person 1 renamed just now; person 0 removed at the source.
    {
        let mut data = fx.data.lock().unwrap();
        let persons = data.get_mut("persons").unwrap();
        persons[1]["familyName"] = json!("Lind");
        persons[1]["meta"] = meta(0);
        persons.remove(0);
    }
    *fx.deleted.lock().unwrap() = json!({"persons": [ids.persons[0]], "activitites": []});

    let token = webhook_token(&sandbox).await;
    let body = json!({"modifiedEntites": ["Person", "Syllabus"], "deletedEntities": true});
    assert_eq!(send_webhook(&sandbox, id, Some(&token), &body).await, 200);
    client.wait_idle(id, WAIT).await.unwrap();

    let receipt = client.webhooks(id).unwrap().pop().unwrap();
    assert_eq!((receipt.status, receipt.reason), (200, None));
    let after = (receipt.received_at - chrono::Duration::minutes(5))
        .to_rfc3339_opts(SecondsFormat::Millis, true);
    let gets: Vec<Seen> = fx.gets().into_iter().skip(gets_before).collect();
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0].path, "/persons");
    assert_eq!(gets[0].query.get("meta.modified.after"), Some(&after));
    assert_eq!(gets[1].path, "/deletedEntities");
    assert_eq!(gets[1].query.get("after"), Some(&after));
    assert!(gets.iter().all(|s| s.token_problem.is_none()));

    let held = client.holdings(id).unwrap();
    assert!(!held.persons.contains_key(&ids.persons[0]));
    assert_eq!(held.persons[&ids.persons[1]]["familyName"], "Lind");

    let stats: Vec<Value> = fx
        .posted("/statistics")
        .into_iter()
        .skip(stats_before)
        .collect();
    assert_eq!(stats.len(), 2, "{stats:#?}");
    assert_eq!(
        (
            stats[0]["resourceType"].clone(),
            stats[0]["updatedCount"].clone()
        ),
        (json!("Person"), json!(1))
    );
    assert_eq!(
        (
            stats[1]["resourceType"].clone(),
            stats[1]["deletedCount"].clone()
        ),
        (json!("Person"), json!(1))
    );
    let jobs = client.jobs(id).unwrap();
    assert_eq!(
        jobs.last().unwrap().trigger,
        JobTrigger::Webhook(receipt.received_at)
    );
    assert_eq!(jobs.last().unwrap().outcome, Ok(()));
}

#[tokio::test]
async fn a_get_failing_twice_is_retried_and_a_third_failure_or_garbage_fails_the_job() {
    let (sandbox, fx) = start().await;
    fill(&fx, &sandbox);
    let client = sandbox.ss12000_client();

    fx.failures
        .lock()
        .unwrap()
        .insert("organisations".into(), 2);
    let id = registered(&sandbox, &fx).await;
    let statuses: Vec<Option<u16>> = client
        .calls(id)
        .unwrap()
        .into_iter()
        .filter(|c| c.path_and_query.starts_with("/ss12000/organisations"))
        .map(|c| c.status)
        .collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);
    assert_eq!(client.jobs(id).unwrap()[0].outcome, Ok(()));

    fx.failures
        .lock()
        .unwrap()
        .insert("organisations".into(), 3);
    let failed = registered(&sandbox, &fx).await;
    let outcome = client.jobs(failed).unwrap()[0].outcome.clone();
    let reason = outcome.unwrap_err();
    assert!(
        reason.contains("/organisations") && reason.contains("503"),
        "{reason}"
    );
    let paths: Vec<String> = client
        .calls(failed)
        .unwrap()
        .into_iter()
        .filter(|c| c.method == "GET")
        .map(|c| c.path_and_query)
        .collect();
    assert_eq!(paths.len(), 3, "{paths:?}: nothing after the failed type");

    fx.garbage.lock().unwrap().push("persons".into());
    let garbled = registered(&sandbox, &fx).await;
    let reason = client.jobs(garbled).unwrap()[0]
        .outcome
        .clone()
        .unwrap_err();
    assert!(
        reason.contains("/persons") && reason.contains("not JSON"),
        "{reason}"
    );
    assert!(client.holdings(garbled).unwrap().persons.is_empty());
}

#[tokio::test]
async fn a_registration_the_api_does_not_answer_201_fails_clearly() {
    let (sandbox, fx) = start().await;
    *fx.subscription_status.lock().unwrap() = 500;
    let err = sandbox
        .ss12000_client()
        .register(&fx.api_url, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { status: 500, .. }),
        "{err}"
    );
    assert!(fx.gets().is_empty());
}

#[tokio::test]
async fn transaction_grants_ss12000_client_to_the_sandbox_certificate_and_jwks_is_public() {
    let (sandbox, _fx) = start().await;
    let auth = &sandbox.endpoints().auth_url;
    let client_url = sandbox.endpoints().ss12000_client_url.clone();
    assert!(client_url.starts_with("https://127.0.0.1:"));
    assert!(client_url.ends_with("/provtjanst/ss12000/klient/v1"));

    let jwks: Value = plain_client(&sandbox)
        .get(format!("{auth}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], json!(sandbox.token_issuer().kid()));

    // Without a certificate: no token, an RFC 9635 error.
    let response = plain_client(&sandbox)
        .post(format!("{auth}/transaction"))
        .json(&client_access_request(&sandbox, &client_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_client");

    // With it: granted for the client's base URL.
    let token = webhook_token(&sandbox).await;
    let claims = sandbox
        .token_issuer()
        .verify_access(&token, SS12000_CLIENT_ACCESS_TYPE, |l| l == client_url)
        .unwrap();
    assert_eq!(
        claims.requested_access[0].locations,
        vec![client_url.clone()]
    );

    // Another location is not granted.
    let response = mtls_client(&sandbox)
        .post(format!("{auth}/transaction"))
        .json(&client_access_request(
            &sandbox,
            "https://elsewhere.example/klient",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}
