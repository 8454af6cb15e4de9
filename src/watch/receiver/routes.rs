//! `POST /notifications/{pipeline}/{secret}`: a source's change
//! notification becomes a run request.
//!
//! The body is SS 12000's callback (`paths/subscriptions.yaml`):
//! `{"modifiedEntites": ["Person", …], "deletedEntities": true}`. The spec
//! spells `modifiedEntites`; `modifiedEntities` is accepted too, since
//! servers that fixed the typo exist or will. A notification only says
//! *that* something changed (the run reads the source anyway), so an empty
//! body or a JSON value of another shape still counts as "something
//! changed"; only a body that is not JSON at all is refused (`400`), as a
//! peer that is not speaking the protocol.
//!
//! Answers: `200` (the spec's answer to an accepted callback), `400` for a
//! body that is not JSON, `404` for an unknown pipeline or secret (the
//! same answer for both, so a guesser learns nothing), `413` for a body over
//! the limit.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;

use super::targets::Targets;
use crate::watch::queue::Trigger;

/// The route, relative to the receiver's root.
pub const NOTIFICATION_ROUTE: &str = "/notifications/{pipeline}/{secret}";

/// Entity type names kept from one notification; a longer list is not an
/// honest notification (SS 12000 has 18 types).
const MAX_NAMES: usize = 32;
/// The longest entity type name kept.
const MAX_NAME_LEN: usize = 40;

/// The receiver's routes, to serve alone ([`super::Receiver::start`]) or to
/// mount in a larger service.
pub fn router(targets: Targets, max_body_bytes: usize) -> Router {
    Router::new()
        .route(NOTIFICATION_ROUTE, post(notify))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(targets)
}

async fn notify(
    State(targets): State<Targets>,
    Path((pipeline, secret)): Path<(String, String)>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    const NOT_FOUND: (StatusCode, &str) = (StatusCode::NOT_FOUND, "not found\n");
    if !targets.accepts(&pipeline, &secret) {
        tracing::debug!(
            pipeline = %crate::terminal::escape(&pipeline),
            "a notification with an unknown pipeline or secret was refused"
        );
        return NOT_FOUND;
    }
    let trigger = match parse_notification(&body) {
        Ok(trigger) => trigger,
        Err(e) => {
            tracing::warn!(pipeline = %pipeline, "a change notification was refused: {e}");
            return (StatusCode::BAD_REQUEST, "the body is not JSON\n");
        }
    };
    tracing::info!(pipeline = %pipeline, "change notification: {trigger}");
    if targets.notify(&pipeline, &secret, trigger) {
        (StatusCode::OK, "")
    } else {
        // Revoked meanwhile, or shutting down: the source should not count
        // on this subscription any more.
        NOT_FOUND
    }
}

/// The trigger a notification body describes; `Err` only for a body that
/// is not JSON.
pub fn parse_notification(body: &[u8]) -> Result<Trigger, serde_json::Error> {
    let anything = Trigger::Change {
        modified: BTreeSet::new(),
        deleted: false,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(anything);
    }
    let value: Value = serde_json::from_slice(body)?;
    let Value::Object(fields) = value else {
        return Ok(anything);
    };
    let modified = ["modifiedEntites", "modifiedEntities"]
        .iter()
        .filter_map(|key| fields.get(*key).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| {
            !name.is_empty()
                && name.len() <= MAX_NAME_LEN
                && name.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .take(MAX_NAMES)
        .map(str::to_string)
        .collect();
    let deleted = fields
        .get("deletedEntities")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Trigger::Change { modified, deleted })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kinds: &[&str], deleted: bool) -> Trigger {
        Trigger::Change {
            modified: kinds.iter().map(|k| k.to_string()).collect(),
            deleted,
        }
    }

    #[test]
    fn the_spec_body_and_its_corrected_spelling() {
        let spec = br#"{"modifiedEntites": ["Person", "Group"], "deletedEntities": true}"#;
        assert_eq!(
            parse_notification(spec).unwrap(),
            change(&["Group", "Person"], true)
        );
        let fixed = br#"{"modifiedEntities": ["Duty"], "deletedEntities": false}"#;
        assert_eq!(parse_notification(fixed).unwrap(), change(&["Duty"], false));
    }

    #[test]
    fn empty_or_unexpected_json_means_something_changed() {
        for body in [
            &b""[..],
            b"  \n",
            b"{}",
            b"[]",
            b"null",
            b"{\"modifiedEntites\": \"Person\", \"deletedEntities\": \"yes\"}",
            b"{\"somethingElse\": 1}",
        ] {
            assert_eq!(
                parse_notification(body).unwrap(),
                change(&[], false),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn names_that_are_no_type_names_are_dropped() {
        let body = br#"{"modifiedEntites": ["Person", "", "\u001b[2J", 7, "Group"]}"#;
        assert_eq!(
            parse_notification(body).unwrap(),
            change(&["Group", "Person"], false)
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_an_error() {
        for body in [&b"modifiedEntites=Person"[..], b"{\"a\":", b"\xff\xfe"] {
            assert!(parse_notification(body).is_err());
        }
    }
}
