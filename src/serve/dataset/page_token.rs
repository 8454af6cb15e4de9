//! Page tokens: where a paged read stands, handed to the client as an
//! opaque `pageToken` and handed back for the next page.
//!
//! A token is base64url (no padding) of a small versioned JSON: the
//! resource, the filters of the call that began the read, the page size and
//! the last id (or tombstone) read, with a checksum of those. The server
//! keeps nothing per read, so a token outlives a restart and works on any
//! instance. The checksum is not a secret: it catches a damaged or
//! hand-edited token (which is refused, rather than read from the wrong
//! place), not a forged one — a forged token can only ask for what the
//! caller could ask for without one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use crate::serve::error::ApiError;
use crate::state::served::{ServedFilter, TombstoneCursor, served_kind};

/// The token format this version writes and reads.
const VERSION: u32 = 1;

/// The longest token read (a real one is a few hundred characters).
const MAX_TOKEN_LEN: usize = 2048;

/// Where a read of a list stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ListPosition {
    /// The resource read.
    pub kind: EntityKind,
    /// The filters of the call that began the read.
    pub filter: ServedFilter,
    /// The page size.
    pub limit: usize,
    /// The last id read.
    pub last: Uuid,
}

/// Where a read of `/deletedEntities` stands.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DeletedPosition {
    /// The `after` of the call that began the read.
    pub after: Option<DateTime<Utc>>,
    /// The types asked for.
    pub kinds: Vec<EntityKind>,
    /// The page size.
    pub limit: usize,
    /// The last tombstone read.
    pub last: TombstoneCursor,
}

/// A decoded token.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Position {
    /// Of a list.
    List(ListPosition),
    /// Of `/deletedEntities`.
    Deleted(DeletedPosition),
}

/// The token's JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    v: u32,
    at: WireAt,
    sum: String,
}

/// What the checksum covers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum WireAt {
    List {
        kind: String,
        filter: [Option<String>; 4],
        limit: usize,
        last: Uuid,
    },
    Deleted {
        after: Option<String>,
        kinds: Vec<String>,
        limit: usize,
        last: (String, String, Uuid),
    },
}

/// The token that continues after `position`.
pub(super) fn encode(position: &Position) -> String {
    let at = match position {
        Position::List(p) => WireAt::List {
            kind: p.kind.type_name().to_string(),
            filter: [
                p.filter.created_before,
                p.filter.created_after,
                p.filter.modified_before,
                p.filter.modified_after,
            ]
            .map(|t| t.map(time_text)),
            limit: p.limit,
            last: p.last,
        },
        Position::Deleted(p) => WireAt::Deleted {
            after: p.after.map(time_text),
            kinds: p.kinds.iter().map(|k| k.type_name().to_string()).collect(),
            limit: p.limit,
            last: (
                p.last.deleted_at.clone(),
                p.last.kind.type_name().to_string(),
                p.last.id,
            ),
        },
    };
    let wire = Wire {
        v: VERSION,
        sum: checksum(&at),
        at,
    };
    // A struct of strings, numbers and ids always serialises.
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Reads a token back; a token this server did not write, or that was
/// altered, is refused with a message saying so.
pub(super) fn decode(token: &str) -> Result<Position, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(
            "invalid_page_token",
            format!(
                "`pageToken` {why}; send back the token of the previous answer unchanged, \
                 or begin the read again without one"
            ),
        )
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad("is too long to be one of this server's"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("is not one of this server's (not base64url)"))?;
    let wire: Wire =
        serde_json::from_slice(&bytes).map_err(|_| bad("is not one of this server's"))?;
    if wire.v != VERSION {
        return Err(bad("comes from another version of this server"));
    }
    if wire.sum != checksum(&wire.at) {
        return Err(bad("has been altered (its checksum does not match)"));
    }
    let kind = |name: &str| served_kind(name).ok_or_else(|| bad("names an unknown type"));
    let time = |text: Option<String>| {
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| bad("holds an invalid time"))
        })
        .transpose()
    };
    Ok(match wire.at {
        WireAt::List {
            kind: name,
            filter:
                [
                    created_before,
                    created_after,
                    modified_before,
                    modified_after,
                ],
            limit,
            last,
        } => Position::List(ListPosition {
            kind: kind(&name)?,
            filter: ServedFilter {
                created_before: time(created_before)?,
                created_after: time(created_after)?,
                modified_before: time(modified_before)?,
                modified_after: time(modified_after)?,
            },
            limit,
            last,
        }),
        WireAt::Deleted {
            after,
            kinds,
            limit,
            last: (deleted_at, last_kind, id),
        } => Position::Deleted(DeletedPosition {
            after: time(after)?,
            kinds: kinds.iter().map(|k| kind(k)).collect::<Result<_, _>>()?,
            limit,
            last: TombstoneCursor {
                deleted_at,
                kind: kind(&last_kind)?,
                id,
            },
        }),
    })
}

impl Position {
    /// The list position of a token sent to `kind`'s list.
    pub(super) fn into_list(self, kind: EntityKind) -> Result<ListPosition, ApiError> {
        match self {
            Position::List(p) if p.kind == kind => Ok(p),
            Position::List(p) => Err(wrong_resource(p.kind.endpoint(), kind.endpoint())),
            Position::Deleted(_) => Err(wrong_resource("deletedEntities", kind.endpoint())),
        }
    }

    /// The position of a token sent to `/deletedEntities`.
    pub(super) fn into_deleted(self) -> Result<DeletedPosition, ApiError> {
        match self {
            Position::Deleted(p) => Ok(p),
            Position::List(p) => Err(wrong_resource(p.kind.endpoint(), "deletedEntities")),
        }
    }
}

/// A token of another resource's read.
fn wrong_resource(token_of: &str, sent_to: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_page_token",
        format!(
            "`pageToken` belongs to a read of /{token_of}, not /{sent_to}; send it to \
             /{token_of}, or begin this read without one"
        ),
    )
}

/// A time as a token holds it (nanoseconds kept: the bound stays exact).
fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The checksum of a position: the first 8 bytes of the SHA-256 of its
/// JSON, base64url.
fn checksum(at: &WireAt) -> String {
    let json = serde_json::to_vec(at).unwrap_or_default();
    let digest = Sha256::digest(&json);
    URL_SAFE_NO_PAD.encode(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_position() -> ListPosition {
        ListPosition {
            kind: EntityKind::Person,
            filter: ServedFilter {
                modified_after: Some(
                    DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789+01:00")
                        .unwrap()
                        .with_timezone(&Utc),
                ),
                ..ServedFilter::default()
            },
            limit: 1000,
            last: Uuid::from_u128(42),
        }
    }

    #[test]
    fn positions_round_trip() {
        let list = Position::List(list_position());
        assert_eq!(decode(&encode(&list)).unwrap(), list);
        let deleted = Position::Deleted(DeletedPosition {
            after: None,
            kinds: vec![EntityKind::Group, EntityKind::Person],
            limit: 3,
            last: TombstoneCursor {
                deleted_at: "2026-01-02T03:04:05.000001Z".into(),
                kind: EntityKind::Group,
                id: Uuid::from_u128(7),
            },
        });
        assert_eq!(decode(&encode(&deleted)).unwrap(), deleted);
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let token = encode(&Position::List(list_position()));
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(&token).unwrap()).unwrap();
        let moved = json.replace(
            &Uuid::from_u128(42).to_string(),
            &Uuid::from_u128(43).to_string(),
        );
        assert_ne!(moved, json);
        let e = decode(&URL_SAFE_NO_PAD.encode(moved)).unwrap_err();
        assert!(e.message.contains("altered"), "{}", e.message);
        for bad in ["", "not a token!", "eyJ2IjoxfQ", &"A".repeat(5000)] {
            let e = decode(bad).unwrap_err();
            assert_eq!(e.code, "invalid_page_token", "{bad}");
        }
        let e = decode(&token)
            .unwrap()
            .into_list(EntityKind::Group)
            .unwrap_err();
        assert!(e.message.contains("/persons"), "{}", e.message);
        assert!(decode(&token).unwrap().into_deleted().is_err());
    }
}
