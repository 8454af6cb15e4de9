//! What the realism and subscription tests share: a sandbox with a fast
//! but capped source, a client of its generic SS 12000 API, and a pupil
//! who can move to a parallel class.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use skolsync_model::codes::GroupType;
use skolsync_model::ss12000::{Group, SourceId};
use skolsync_sandbox::{Sandbox, SandboxConfig, SourceOptions};

/// The default source options without latency (tests that time reads set it).
pub fn options() -> SourceOptions {
    SourceOptions {
        latency: Duration::ZERO,
        ..SourceOptions::default()
    }
}

/// A sandbox large enough to have parallel classes.
pub async fn start(source: SourceOptions) -> Sandbox {
    Sandbox::start(SandboxConfig {
        students: 1500,
        source,
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// A client of the generic SS 12000 API.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Client {
    pub fn of(sandbox: &Sandbox) -> Client {
        let e = sandbox.endpoints();
        Client {
            http: reqwest::Client::new(),
            base: e.ss12000_url.clone(),
            token: e.ss12000_token.clone(),
        }
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query)
            .send()
            .await
            .unwrap()
    }

    pub async fn json(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let response = self.get(path, query).await;
        assert_eq!(response.status(), 200, "{path} {query:?}");
        response.json().await.unwrap()
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Ids of every entity a list returns with `query`, page by page.
    pub async fn ids(&self, path: &str, query: &[(&str, &str)]) -> BTreeSet<SourceId> {
        let mut ids = BTreeSet::new();
        let mut page = self.json(path, query).await;
        loop {
            for entity in page["data"].as_array().unwrap() {
                ids.insert(SourceId::new(entity["id"].as_str().unwrap()));
            }
            match page["pageToken"].as_str() {
                Some(token) => page = self.json(path, &[("pageToken", token)]).await,
                None => return ids,
            }
        }
    }
}

/// A pupil, their class, and a parallel class of the same unit and year.
pub fn pupil_with_parallel_class(sandbox: &Sandbox) -> (SourceId, SourceId, SourceId) {
    let data = sandbox.world().source.read().unwrap();
    let classes: Vec<&Group> = data
        .groups
        .iter()
        .filter(|g| g.group_type == GroupType::Klass && !g.group_memberships.is_empty())
        .collect();
    for a in &classes {
        let year = |g: &Group| {
            g.display_name
                .trim_end_matches(char::is_alphabetic)
                .to_string()
        };
        if let Some(b) = classes
            .iter()
            .find(|b| b.id != a.id && b.organisation.id == a.organisation.id && year(b) == year(a))
        {
            let pupil = a
                .group_memberships
                .iter()
                .find(|m| m.end_date.is_none())
                .unwrap()
                .person
                .id
                .clone();
            return (pupil, a.id.clone(), b.id.clone());
        }
    }
    panic!("no two parallel classes in the municipality");
}
