//! The client's side of the wire: creating the subscription, and the jobs
//! (full fetch, webhook-triggered incremental fetch) with their paging,
//! retries, judging, LogEntries and StatisticsEntries.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use reqwest::Url;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    Call, ClientError, ClientOptions, Context, Job, JobRecord, JobTrigger, Registration,
    ResourceType, SubscriptionInfo,
};
use crate::provisioning::envelope::LogEntry;
use crate::provisioning::messages::mask_digit_runs;
use crate::provisioning::profile::Judged;

/// Tries of one GET before the job fails (README: "tre gånger").
const GET_TRIES: u32 = 3;
/// A bound on pages of one list, against a server that never ends.
const MAX_PAGES: usize = 100_000;
/// How much of an odd answer goes into a reason.
const SNIPPET: usize = 300;

/// `POST {api}/subscriptions` for `reg`; the API's `Subscription`.
pub(super) async fn subscribe(
    ctx: &Context,
    reg: &Registration,
) -> Result<SubscriptionInfo, ClientError> {
    let url = format!("{}/subscriptions", reg.api_url);
    let target = format!("{}/webhooks/{}", ctx.base_url, reg.id);
    let resource_types: Vec<Value> = ResourceType::ORDER
        .iter()
        .map(|t| json!({ "resource": t.name() }))
        .collect();
    let request = json!({
        "name": format!("Skolverket SS12000-klient {}", reg.id),
        "target": target,
        "resourceTypes": resource_types,
    });
    let token = ctx
        .issuer
        .issue_ss12000_api_token(&ctx.base_url, &reg.api_url)?;
    let path = path_of(&url);
    let sent = reg
        .http
        .post(&url)
        .bearer_auth(token)
        .json(&request)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let detail = describe(&e);
            record(reg, "POST", &path, None, Some(detail.clone()));
            return Err(ClientError::Unreachable { url, detail });
        }
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let refused = |detail: String| ClientError::Refused {
        url: url.clone(),
        status,
        detail,
    };
    if status != 201 {
        record(reg, "POST", &path, Some(status), Some("not 201".into()));
        return Err(refused(format!(
            "expected 201 Created; body: {}",
            snippet(&text)
        )));
    }
    let answer: Value = serde_json::from_str(&text).map_err(|e| {
        record(reg, "POST", &path, Some(status), Some("not JSON".into()));
        refused(format!("the body is not JSON ({e}): {}", snippet(&text)))
    })?;
    let field = |name: &str| {
        answer
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let (Some(id), Some(expires)) = (field("id"), field("expires")) else {
        record(
            reg,
            "POST",
            &path,
            Some(status),
            Some("not a Subscription".into()),
        );
        return Err(refused(format!(
            "the body is not a Subscription with string `id` and `expires`: {}",
            snippet(&text)
        )));
    };
    record(reg, "POST", &path, Some(status), None);
    Ok(SubscriptionInfo {
        api_url: reg.api_url.clone(),
        target,
        request,
        response: answer,
        id,
        expires,
    })
}

/// Runs the jobs of one registration, one at a time in arrival order.
pub(super) async fn worker(
    ctx: Arc<Context>,
    reg: Arc<Registration>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        let trigger = match &job {
            Job::Full => JobTrigger::Registration,
            Job::Webhook { received_at, .. } => JobTrigger::Webhook(*received_at),
        };
        let outcome = run(&ctx, &reg, &job).await;
        if let Err(reason) = &outcome {
            tracing::warn!(registration = %reg.id, "SS12000 client job failed: {reason}");
        }
        reg.lock().jobs.push(JobRecord { trigger, outcome });
        reg.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

async fn run(ctx: &Context, reg: &Registration, job: &Job) -> Result<(), String> {
    let options = ctx.options();
    // Checklist 8.3 / 9.4: a token from the authorisation server per job.
    let token = ctx
        .issuer
        .issue_ss12000_api_token(&ctx.base_url, &reg.api_url)
        .map_err(|e| format!("no token: {e}"))?;
    let api = Api {
        reg,
        token,
        options,
    };
    match job {
        Job::Full => {
            for kind in ResourceType::ORDER {
                api.fetch_type(kind, None).await?;
            }
            Ok(())
        }
        Job::Webhook {
            received_at,
            types,
            deleted,
        } => {
            let lookback = chrono::Duration::from_std(api.options.lookback)
                .map_err(|e| format!("lookback out of range: {e}"))?;
            let after = (*received_at - lookback).to_rfc3339_opts(SecondsFormat::Millis, true);
            for kind in ResourceType::ORDER
                .into_iter()
                .filter(|k| types.contains(k))
            {
                api.fetch_type(kind, Some(&after)).await?;
            }
            if *deleted {
                api.fetch_deleted(&after).await?;
            }
            Ok(())
        }
    }
}

/// One job's view of the API.
struct Api<'a> {
    reg: &'a Registration,
    token: String,
    options: ClientOptions,
}

impl Api<'_> {
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, String> {
        let mut url = Url::parse(&format!("{}{path}", self.reg.api_url))
            .map_err(|e| format!("bad URL {}{path}: {e}", self.reg.api_url))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// All pages of `kind` (modified after `after`, if given), each entity
    /// judged and held or logged; then its StatisticsEntry.
    async fn fetch_type(&self, kind: ResourceType, after: Option<&str>) -> Result<(), String> {
        let limit = self.options.page_limit.to_string();
        let mut query = vec![("limit", limit.as_str())];
        if let Some(after) = after {
            query.push(("meta.modified.after", after));
        }
        let mut url = self.url(kind.path(), &query)?;
        let resource_url = url.to_string();
        let mut held = 0u64;
        let mut tokens = HashSet::new();
        for _ in 0..MAX_PAGES {
            let page = self.get(&url).await?;
            let (items, next) = read_page(kind, &page)
                .map_err(|e| format!("GET {}: {e}", path_of(url.as_str())))?;
            for item in items {
                if self.take(kind, item).await? {
                    held += 1;
                }
            }
            let Some(token) = next else {
                return self.post_statistics(kind, held, 0, &resource_url).await;
            };
            if !tokens.insert(token.clone()) {
                return Err(format!(
                    "GET {}: the pageToken `{}` came back a second time",
                    kind.path(),
                    snippet(&token)
                ));
            }
            // The token carries the query (reference API: filters and a
            // token together are a 400).
            url = self.url(kind.path(), &[("pageToken", &token)])?;
        }
        Err(format!("GET {}: more than {MAX_PAGES} pages", kind.path()))
    }

    /// Judges one entity; holds it or posts its LogEntries. Whether held.
    async fn take(&self, kind: ResourceType, item: &Value) -> Result<bool, String> {
        let (held, logs) = self.judge(kind, item);
        for body in logs {
            self.post("/log", &body).await?;
            self.reg.lock().log_entries.push(body);
        }
        Ok(held)
    }

    fn judge(&self, kind: ResourceType, item: &Value) -> (bool, Vec<Value>) {
        let mut state = self.reg.lock();
        let Some(profile_type) = kind.profile_type() else {
            return match organisation_id(item) {
                Ok(id) => {
                    state.holdings.organisations.insert(id, item.clone());
                    (true, Vec::new())
                }
                Err((id, problem)) => {
                    let body = self.log_body(kind, id, &problem, "9000", "Error");
                    (false, vec![body])
                }
            };
        };
        let mut profile = item.clone();
        strip_reference_names(&mut profile, true);
        match state.holder.judge(profile_type, &profile) {
            Judged::Held { id, warnings } => {
                state.holdings.of_mut(kind).insert(id, item.clone());
                let logs = warnings
                    .iter()
                    .map(|w| self.entry_body(kind, Some(id), w, "Warning"))
                    .collect();
                (true, logs)
            }
            Judged::Refused { id, errors } => {
                let logs = errors
                    .iter()
                    .map(|e| self.entry_body(kind, id, e, "Error"))
                    .collect();
                (false, logs)
            }
        }
    }

    fn entry_body(
        &self,
        kind: ResourceType,
        id: Option<Uuid>,
        entry: &LogEntry,
        severity: &str,
    ) -> Value {
        self.log_body(kind, id, &entry.message, &entry.id, severity)
    }

    /// A LogEntry of the expose API; an entity without a readable id gets
    /// a random `resourceId` (README: "Random generated resource ID").
    fn log_body(
        &self,
        kind: ResourceType,
        id: Option<Uuid>,
        message: &str,
        message_type: &str,
        severity: &str,
    ) -> Value {
        let id = id.unwrap_or_else(Uuid::new_v4);
        json!({
            "message": message,
            "messageType": message_type,
            "resourceType": kind.name(),
            "resourceId": id,
            "resourceUrl": format!("{}{}/{id}", self.reg.api_url, kind.path()),
            "severityLevel": severity,
            "timeOfOccurance": now(),
        })
    }

    /// `GET /deletedEntities?after=…`, all pages; drops the ids it names and
    /// posts a StatisticsEntry (`deletedCount`) per type that named any.
    async fn fetch_deleted(&self, after: &str) -> Result<(), String> {
        let limit = self.options.page_limit.to_string();
        let mut url = self.url(
            "/deletedEntities",
            &[("after", after), ("limit", limit.as_str())],
        )?;
        let resource_url = url.to_string();
        let mut dropped: BTreeMap<ResourceType, u64> = BTreeMap::new();
        let mut tokens = HashSet::new();
        for _ in 0..MAX_PAGES {
            let page = self.get(&url).await?;
            let (ids, next) =
                read_deleted(&page).map_err(|e| format!("GET /deletedEntities: {e}"))?;
            self.drop_ids(&ids, &mut dropped);
            let Some(token) = next else {
                for (kind, count) in dropped {
                    self.post_statistics(kind, 0, count, &resource_url).await?;
                }
                return Ok(());
            };
            if !tokens.insert(token.clone()) {
                return Err("GET /deletedEntities: a pageToken came back a second time".into());
            }
            url = self.url("/deletedEntities", &[("pageToken", &token)])?;
        }
        Err(format!("GET /deletedEntities: more than {MAX_PAGES} pages"))
    }

    /// Stops holding `ids`; counts per type those that were held.
    fn drop_ids(&self, ids: &[(ResourceType, Uuid)], dropped: &mut BTreeMap<ResourceType, u64>) {
        let mut state = self.reg.lock();
        for (kind, id) in ids {
            let count = dropped.entry(*kind).or_insert(0);
            if let Some(t) = kind.profile_type() {
                state.holder.forget(t, *id);
            }
            if state.holdings.of_mut(*kind).remove(id).is_some() {
                *count += 1;
            }
        }
    }

    /// README: the client does not tell created from updated; only
    /// `updatedCount` is used, `newCount` is 0.
    async fn post_statistics(
        &self,
        kind: ResourceType,
        updated: u64,
        deleted: u64,
        resource_url: &str,
    ) -> Result<(), String> {
        let body = json!({
            "resourceType": kind.name(),
            "newCount": 0,
            "updatedCount": updated,
            "deletedCount": deleted,
            "resourceUrl": resource_url,
            "timeOfOccurance": now(),
        });
        self.post("/statistics", &body).await?;
        self.reg.lock().statistics.push(body);
        Ok(())
    }

    /// One try of a POST; anything but 2xx fails the job.
    async fn post(&self, path: &str, body: &Value) -> Result<(), String> {
        let url = self.url(path, &[])?;
        let shown = path_of(url.as_str());
        let sent = self
            .reg
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await;
        match sent {
            Err(e) => {
                let detail = describe(&e);
                record(self.reg, "POST", &shown, None, Some(detail.clone()));
                Err(format!("POST {shown} failed: {detail}"))
            }
            Ok(r) if r.status().is_success() => {
                record(self.reg, "POST", &shown, Some(r.status().as_u16()), None);
                Ok(())
            }
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().await.unwrap_or_default();
                let reason = format!("POST {shown} answered {status}: {}", snippet(&text));
                record(self.reg, "POST", &shown, Some(status), Some(reason.clone()));
                Err(reason)
            }
        }
    }

    /// A GET of JSON, tried up to three times on network errors and 5xx.
    async fn get(&self, url: &Url) -> Result<Value, String> {
        let shown = path_of(url.as_str());
        let mut last = String::new();
        for attempt in 1..=GET_TRIES {
            if attempt > 1 {
                tokio::time::sleep(self.options.retry_delay * (attempt - 1)).await;
            }
            let sent = self
                .reg
                .http
                .get(url.clone())
                .bearer_auth(&self.token)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = describe(&e);
                    record(self.reg, "GET", &shown, None, Some(last.clone()));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = match response.text().await {
                Ok(text) => text,
                Err(e) => {
                    last = format!("the body could not be read: {}", describe(&e));
                    record(self.reg, "GET", &shown, Some(status), Some(last.clone()));
                    continue;
                }
            };
            if status >= 500 {
                last = format!("answered {status}: {}", snippet(&text));
                record(self.reg, "GET", &shown, Some(status), Some(last.clone()));
                continue;
            }
            if !(200..300).contains(&status) {
                let reason = format!("GET {shown} answered {status}: {}", snippet(&text));
                record(self.reg, "GET", &shown, Some(status), Some(reason.clone()));
                return Err(reason);
            }
            return match serde_json::from_str(&text) {
                Ok(value) => {
                    record(self.reg, "GET", &shown, Some(status), None);
                    Ok(value)
                }
                Err(e) => {
                    let reason = format!(
                        "GET {shown} answered {status} with a body that is not JSON ({e}): {}",
                        snippet(&text)
                    );
                    record(self.reg, "GET", &shown, Some(status), Some(reason.clone()));
                    Err(reason)
                }
            };
        }
        Err(format!(
            "GET {shown} failed {GET_TRIES} times; the last: {last}"
        ))
    }
}

/// The entities and next `pageToken` of a list page: `{data: [...],
/// pageToken}` (organisations also as the expose schema's
/// `{organisations: [...]}`).
fn read_page(kind: ResourceType, page: &Value) -> Result<(&[Value], Option<String>), String> {
    let Some(object) = page.as_object() else {
        return Err(format!(
            "the answer is not a JSON object: {}",
            snippet(&page.to_string())
        ));
    };
    let list = object.get("data").or_else(|| {
        (kind == ResourceType::Organisation)
            .then(|| object.get("organisations"))
            .flatten()
    });
    let Some(Value::Array(items)) = list else {
        return Err("the answer has no `data` list".to_string());
    };
    Ok((items.as_slice(), page_token(object.get("pageToken"))?))
}

/// `pageToken`: absent, `null` or empty means the end.
fn page_token(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("`pageToken` is not a string or null: {other}")),
    }
}

/// Ids named in `deletedEntities`, with their type.
type DeletedIds = Vec<(ResourceType, Uuid)>;

/// The ids of a `deletedEntities` page, by type, and its next token.
fn read_deleted(page: &Value) -> Result<(DeletedIds, Option<String>), String> {
    let Some(Value::Object(data)) = page.get("data") else {
        return Err("the answer has no `data` object".to_string());
    };
    let mut ids = Vec::new();
    for kind in ResourceType::ORDER {
        for key in kind.deleted_keys() {
            let Some(list) = data.get(*key) else { continue };
            let Some(list) = list.as_array() else {
                return Err(format!("`data.{key}` is not a list"));
            };
            for item in list {
                let id = item
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| format!("`data.{key}` holds a non-UUID: {item}"))?;
                ids.push((kind, id));
            }
        }
    }
    Ok((ids, page_token(page.get("pageToken"))?))
}

/// An organisation is held when it is an object with a UUID `id` and a
/// string `displayName` (expose schema; the profile rules do not cover
/// organisations, and `schoolUnitCode` is not asked for: a huvudman has
/// none). Otherwise its id if readable and the problem.
fn organisation_id(item: &Value) -> Result<Uuid, (Option<Uuid>, String)> {
    let id = item
        .get("id")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok());
    let Some(id) = id else {
        return Err((
            None,
            "Organisation saknar ett giltigt <id> (UUID).".to_string(),
        ));
    };
    if !item.get("displayName").is_some_and(Value::is_string) {
        return Err((Some(id), "Organisation saknar <displayName>.".to_string()));
    }
    Ok(id)
}

/// Drops `displayName` from the references inside an entity: the expose
/// schema's `ObjectReference.displayName` is read-only and not part of the
/// provisioning profile the rules read. A reference is a nested object
/// with an `id`.
fn strip_reference_names(value: &mut Value, top: bool) {
    match value {
        Value::Object(map) => {
            if !top && map.contains_key("id") {
                map.remove("displayName");
            }
            for v in map.values_mut() {
                strip_reference_names(v, false);
            }
        }
        Value::Array(items) => {
            for v in items {
                strip_reference_names(v, false);
            }
        }
        _ => {}
    }
}

fn record(
    reg: &Registration,
    method: &str,
    path: &str,
    status: Option<u16>,
    error: Option<String>,
) {
    reg.lock().calls.push(Call {
        method: method.to_string(),
        path_and_query: path.to_string(),
        status,
        error,
    });
}

/// Path and query of a URL (what `calls` shows).
fn path_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        },
        Err(_) => url.to_string(),
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The start of an odd answer, for a reason; digit runs masked, since an
/// answer may carry a personnummer and reasons reach the log.
fn snippet(text: &str) -> String {
    let text = mask_digit_runs(text);
    let mut cut: String = text.chars().take(SNIPPET).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_names_go_but_the_entitys_own_stays() {
        let mut v = json!({
            "id": "x", "displayName": "7A",
            "organisation": {"id": "u", "displayName": "Skola"},
            "groupMemberships": [{"person": {"id": "p", "displayName": "Anna"}}]
        });
        strip_reference_names(&mut v, true);
        assert_eq!(
            v,
            json!({"id": "x", "displayName": "7A", "organisation": {"id": "u"},
                   "groupMemberships": [{"person": {"id": "p"}}]})
        );
    }

    #[test]
    fn pages_and_deleted_lists_are_read_with_the_specs_spellings() {
        let page = json!({"organisations": [{"id": "a"}]});
        let (items, next) = read_page(ResourceType::Organisation, &page).unwrap();
        assert_eq!((items.len(), next), (1, None));
        assert!(read_page(ResourceType::Person, &page).is_err());
        assert!(read_page(ResourceType::Person, &json!({"data": [], "pageToken": 3})).is_err());
        let id = Uuid::new_v4();
        let deleted = json!({"data": {"activitites": [id], "persons": []}, "pageToken": "t"});
        let (ids, next) = read_deleted(&deleted).unwrap();
        assert_eq!(ids, vec![(ResourceType::Activity, id)]);
        assert_eq!(next.as_deref(), Some("t"));
        assert!(read_deleted(&json!({"data": {"groups": ["nope"]}})).is_err());
    }
}
