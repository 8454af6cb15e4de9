//! The `/subscriptions` endpoints of an SS 12000 API ([`Subscriptions`]),
//! sent through the source's own HTTP client: the same credentials, TLS
//! settings, rate limit and retries as its reads.
//!
//! `POST /subscriptions` answers `201` with the subscription, `PATCH
//! /subscriptions/{id}` (no body: the spec defines none; the server picks
//! the new expiry) `200` with it, `DELETE /subscriptions/{id}` `204`, and
//! `404` for an id it does not know, which for a deletion means done. Any
//! 2xx is taken as success; an answer without a readable `id` and
//! `expires` is a [`SourceError::Protocol`] naming the request. The
//! `target` URL may carry a secret and is never logged or put in errors.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, FixedOffset};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::json;

use super::Reader;
use super::http::redact;
use crate::error::SourceError;
use crate::subscription::{NewSubscription, Subscription, Subscriptions};

/// Largest answer of a subscription endpoint.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// The `/subscriptions` endpoints of one API source.
pub(crate) struct ApiSubscriptions {
    reader: Arc<Reader>,
}

impl ApiSubscriptions {
    pub(super) fn new(reader: Arc<Reader>) -> ApiSubscriptions {
        ApiSubscriptions { reader }
    }

    /// `subscriptions`, or `subscriptions/{id}` with the id as one path
    /// segment (escaped, so an id cannot reach another path).
    fn url(&self, id: Option<&str>) -> Result<Url, SourceError> {
        let base = &self.reader.settings.base_url;
        let mut url = base
            .join("subscriptions")
            .map_err(|err| SourceError::Protocol {
                url: redact(base),
                message: format!("cannot build the URL of `subscriptions`: {err}"),
            })?;
        if let Some(id) = id
            && let Ok(mut segments) = url.path_segments_mut()
        {
            segments.push(id);
        }
        Ok(url)
    }

    /// Sends a request and reads the subscription it answers with.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Subscription, SourceError> {
        let answer = self
            .reader
            .client
            .send(method.clone(), url, body, None, MAX_ANSWER_BYTES)
            .await?;
        parse_subscription(&answer.body).map_err(|message| SourceError::Protocol {
            url: format!("{method} {}", redact(url)),
            message,
        })
    }
}

#[async_trait]
impl Subscriptions for ApiSubscriptions {
    async fn create(&self, request: &NewSubscription) -> Result<Subscription, SourceError> {
        let body = json!({
            "name": request.name,
            "target": request.target,
            "resourceTypes": request
                .resource_types
                .iter()
                .map(|kind| json!({ "resource": kind.type_name() }))
                .collect::<Vec<_>>(),
        });
        let url = self.url(None)?;
        self.exchange(Method::POST, &url, Some(&body)).await
    }

    async fn renew(&self, id: &str) -> Result<Subscription, SourceError> {
        let url = self.url(Some(id))?;
        self.exchange(Method::PATCH, &url, None).await
    }

    async fn delete(&self, id: &str) -> Result<(), SourceError> {
        let url = self.url(Some(id))?;
        match self
            .reader
            .client
            .send(Method::DELETE, &url, None, None, MAX_ANSWER_BYTES)
            .await
        {
            Ok(_) | Err(SourceError::Http { status: 404, .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// A subscription as the spec's `Subscription` has it; other fields
/// (`name`, `target`, `resourceTypes`) are not needed back.
#[derive(Deserialize)]
struct Answered {
    id: String,
    expires: String,
}

/// The `id` and `expires` of an answer, or what is wrong with it.
fn parse_subscription(body: &[u8]) -> Result<Subscription, String> {
    let answered: Answered = serde_json::from_slice(body).map_err(|err| {
        format!("the answer is not an SS 12000 Subscription (`id` and `expires`): {err}")
    })?;
    let id = answered.id.trim();
    if id.is_empty() {
        return Err("the answer's subscription `id` is empty".to_string());
    }
    let expires: DateTime<FixedOffset> = DateTime::parse_from_rfc3339(answered.expires.trim())
        .map_err(|err| {
            format!(
                "the answer's `expires` ({:?}) is not an RFC 3339 date-time: {err}",
                answered.expires.chars().take(40).collect::<String>()
            )
        })?;
    Ok(Subscription {
        id: id.to_string(),
        expires,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_needs_an_id_and_an_rfc3339_expiry() {
        let ok = parse_subscription(
            br#"{"id":"0b6f1f8e-1111-4c1e-9a55-1a2b3c4d5e6f","expires":"2026-01-01T10:00:00+01:00","name":"x"}"#,
        )
        .unwrap();
        assert_eq!(ok.id, "0b6f1f8e-1111-4c1e-9a55-1a2b3c4d5e6f");
        assert_eq!(ok.expires.to_rfc3339(), "2026-01-01T10:00:00+01:00");
        let err = parse_subscription(br#"{"id":"a"}"#).unwrap_err();
        assert!(err.contains("expires"), "{err}");
        let err =
            parse_subscription(br#"{"id":" ","expires":"2026-01-01T10:00:00Z"}"#).unwrap_err();
        assert!(err.contains("empty"), "{err}");
        let err = parse_subscription(br#"{"id":"a","expires":"tomorrow"}"#).unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
        assert!(parse_subscription(b"<html>").is_err());
    }
}
