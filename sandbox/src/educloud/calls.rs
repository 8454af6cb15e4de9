//! Counting the calls the source emulators receive, so a test can assert
//! how much of the source a run read ("the incremental run made only N
//! calls") without trusting the client's own account of it.
//!
//! Every request reaching the EduCloud listener is counted before anything
//! else looks at it (faults, authorisation), since a refused call still cost
//! the source a request. Calls are keyed by method and the path below the
//! API base, with ids replaced by `{id}` so both APIs and every entity add
//! up under one key (`GET /persons`, `GET /persons/{id}`,
//! `POST /persons/lookup`, `GET /deletedEntities`, `POST /connect/token`),
//! and again by the names (not values) of the query parameters, which tell
//! a first page from a follow-up page and a full from a filtered read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::query::parse_urlencoded;

/// The live counter; clones share it.
#[derive(Debug, Clone, Default)]
pub struct SourceCalls {
    counts: Arc<Mutex<CallCounts>>,
}

/// What the source received since the counter was last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallCounts {
    /// Calls per endpoint: method and path below the API base, ids as
    /// `{id}` (`"GET /persons"`, `"GET /persons/{id}"`).
    pub by_endpoint: BTreeMap<String, u64>,
    /// Calls per endpoint and query kind: the endpoint, `?`, and the sorted
    /// names of its query parameters joined by `&`
    /// (`"GET /persons?limit&meta.modified.after"`, `"GET /persons?pageToken"`);
    /// no `?` when there were none.
    pub by_query: BTreeMap<String, u64>,
    /// Every call.
    pub total: u64,
}

impl CallCounts {
    /// Calls of one endpoint (`"GET /persons"`); 0 if never called.
    pub fn endpoint(&self, key: &str) -> u64 {
        self.by_endpoint.get(key).copied().unwrap_or(0)
    }

    /// Calls of one endpoint whose query had the parameter `name`.
    pub fn with_param(&self, endpoint: &str, name: &str) -> u64 {
        self.by_query
            .iter()
            .filter(|(key, _)| {
                key.split_once('?').is_some_and(|(e, query)| {
                    e == endpoint && query.split('&').any(|param| param == name)
                })
            })
            .map(|(_, n)| n)
            .sum()
    }

    /// Calls that read data: lists, by-id reads, lookups and
    /// `/deletedEntities` (not the token endpoint, not subscriptions).
    pub fn data_reads(&self) -> u64 {
        self.by_endpoint
            .iter()
            .filter(|(key, _)| is_data_read(key))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Whether an endpoint key names a data read.
fn is_data_read(key: &str) -> bool {
    let path = key.split_once(' ').map_or(key, |(_, path)| path);
    !(path.starts_with("/connect/") || path.starts_with("/subscriptions"))
}

impl SourceCalls {
    /// A counter at zero.
    pub fn new() -> Self {
        SourceCalls::default()
    }

    /// What was counted so far.
    pub fn snapshot(&self) -> CallCounts {
        match self.counts.lock() {
            Ok(counts) => counts.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Starts again from zero; returns what was counted before.
    pub fn reset(&self) -> CallCounts {
        let mut counts = match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::mem::take(&mut *counts)
    }

    fn record(&self, method: &str, path: &str, query: Option<&str>) {
        let endpoint = format!("{method} {}", endpoint_path(path));
        let by_query = match query_kind(query) {
            Some(kind) => format!("{endpoint}?{kind}"),
            None => endpoint.clone(),
        };
        let mut counts = match self.counts.lock() {
            Ok(counts) => counts,
            Err(poisoned) => poisoned.into_inner(),
        };
        *counts.by_endpoint.entry(endpoint).or_insert(0) += 1;
        *counts.by_query.entry(by_query).or_insert(0) += 1;
        counts.total += 1;
    }
}

/// The path below the API base (`/persons/{id}`), or the whole path for
/// anything outside one (the token endpoint, unknown paths).
fn endpoint_path(path: &str) -> String {
    let Some((_, below)) = path.split_once("/v2.0/") else {
        return path.to_string();
    };
    let mut segments = below.split('/');
    let resource = segments.next().unwrap_or_default();
    match segments.next() {
        None | Some("") => format!("/{resource}"),
        Some("lookup") => format!("/{resource}/lookup"),
        Some(_) => format!("/{resource}/{{id}}"),
    }
}

/// The sorted, distinct names of the query's parameters; `None` without any.
fn query_kind(query: Option<&str>) -> Option<String> {
    let query = query.filter(|q| !q.is_empty())?;
    let names: BTreeSet<String> = match parse_urlencoded(query) {
        Ok(pairs) => pairs.into_iter().map(|(name, _)| name).collect(),
        Err(()) => return Some("<malformed>".to_string()),
    };
    Some(names.into_iter().collect::<Vec<_>>().join("&"))
}

/// Middleware counting every request before anything else answers it.
pub(super) async fn count(
    State(calls): State<SourceCalls>,
    request: Request,
    next: Next,
) -> Response {
    calls.record(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
    );
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_keyed_below_the_base_with_ids_folded() {
        let base = "/ss12000v2-api/source/SE00100/v2.0";
        assert_eq!(endpoint_path(&format!("{base}/persons")), "/persons");
        assert_eq!(
            endpoint_path(&format!("{base}/persons/abc")),
            "/persons/{id}"
        );
        assert_eq!(
            endpoint_path("/ss12000/v2.0/groups/lookup"),
            "/groups/lookup"
        );
        assert_eq!(endpoint_path("/connect/token"), "/connect/token");
    }

    #[test]
    fn calls_are_counted_by_endpoint_and_query_kind_and_reset() {
        let calls = SourceCalls::new();
        calls.record("GET", "/ss12000/v2.0/persons", Some("limit=5&limit=6"));
        calls.record(
            "GET",
            "/ss12000/v2.0/persons",
            Some("meta.modified.after=x&limit=5"),
        );
        calls.record("GET", "/ss12000/v2.0/persons", None);
        calls.record("POST", "/connect/token", None);
        let counts = calls.snapshot();
        assert_eq!(counts.total, 4);
        assert_eq!(counts.endpoint("GET /persons"), 3);
        assert_eq!(counts.by_query["GET /persons?limit"], 1);
        assert_eq!(counts.by_query["GET /persons?limit&meta.modified.after"], 1);
        assert_eq!(counts.by_query["GET /persons"], 1);
        assert_eq!(counts.with_param("GET /persons", "meta.modified.after"), 1);
        assert_eq!(counts.data_reads(), 3);
        assert_eq!(calls.reset().total, 4);
        assert_eq!(calls.snapshot(), CallCounts::default());
    }
}
