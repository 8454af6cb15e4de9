//! The SS 12000 GETs of the pull API: the lists (`/organisations`,
//! `/persons`, `/groups`, `/duties`, `/activities`) with the `meta.*`
//! filters, `limit` and `pageToken`; the single-object GETs; and
//! `/deletedEntities`. What Skolverket's SS12000 client calls, as its
//! subset (`expose-openapi.yml`) and SS 12000 v2 define it.
//!
//! Every page is one keyset read of the store (see
//! [`crate::state::served`]), so a page is never partial and a token stays
//! valid while runs write. Auth is a layer the host adds.
//!
//! Choices where the spec is silent or split:
//! - `/organisations` answers with the list under both `organisations`
//!   (Skolverket's subset) and `data` (SS 12000 v2), with `pageToken`.
//! - `/deletedEntities` answers the keys of the types asked for in
//!   `entities`, or all five when it is absent, each a list (possibly
//!   empty); activities under `activitites`, as the spec spells it.
//! - `limit` may accompany a token and sets that page's size; see
//!   [`params`] for the parameters refused or ignored.
//! - `pageToken` is `null` on the last page: the server reads one entity
//!   more than asked, so a read never ends with an empty page.

mod page_token;
mod params;

use axum::Json;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Map, Value, json};
use skolsync_model::ss12000::EntityKind;
use uuid::Uuid;

use self::page_token::{DeletedPosition, ListPosition, Position};
use self::params::{META_FILTERS, Params, echo};
use crate::serve::error::ApiError;
use crate::serve::state::{ApiState, DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT};
use crate::state::served::{SERVED_KINDS, ServedEntity};

/// The filters of `/deletedEntities` (refused with a page token; the
/// `meta.*` ones mean nothing there, but the spec names them).
const DELETED_FILTERS: [&str; 6] = [
    "after",
    "entities",
    META_FILTERS[0],
    META_FILTERS[1],
    META_FILTERS[2],
    META_FILTERS[3],
];

/// The list, single-object and `/deletedEntities` routes of one pull API.
pub fn routes() -> Router<ApiState> {
    let mut router = Router::new();
    for kind in SERVED_KINDS {
        let path = format!("/{}", kind.endpoint());
        router = router
            .route(
                &path,
                get(
                    move |State(state): State<ApiState>, RawQuery(query): RawQuery| async move {
                        list(kind, &state, query.as_deref()).await
                    },
                ),
            )
            .route(
                &format!("{path}/{{id}}"),
                get(
                    move |State(state): State<ApiState>, Path(id): Path<String>| async move {
                        one(kind, &state, &id).await
                    },
                ),
            );
    }
    router.route(
        "/deletedEntities",
        get(
            |State(state): State<ApiState>, RawQuery(query): RawQuery| async move {
                deleted(&state, query.as_deref()).await
            },
        ),
    )
}

/// `GET /{kind}`: one page of the list.
async fn list(
    kind: EntityKind,
    state: &ApiState,
    query: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(query);
    let limit = params.limit()?;
    let (filter, after_id, limit) = match params.one("pageToken")? {
        Some(token) => {
            params.refuse_filters_with_token(&META_FILTERS)?;
            let position = page_token::decode(token)?.into_list(kind)?;
            (
                position.filter,
                Some(position.last),
                limit.unwrap_or(page_size(position.limit)),
            )
        }
        None => (
            params.list_filter()?,
            None,
            limit.unwrap_or(DEFAULT_PAGE_LIMIT),
        ),
    };
    let mut page = state
        .store
        .served_page(
            &state.dataset,
            kind,
            &filter,
            after_id,
            limit.saturating_add(1),
        )
        .await
        .map_err(ApiError::internal)?;
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|last| {
            page_token::encode(&Position::List(ListPosition {
                kind,
                filter,
                limit,
                last: last.id,
            }))
        })
    } else {
        None
    };
    tracing::debug!(
        pipeline = %state.pipeline,
        resource = kind.endpoint(),
        entities = page.len(),
        more = next.is_some(),
        "pull API: list page"
    );
    let data = Value::Array(page.into_iter().map(ServedEntity::into_json).collect());
    let mut body = json!({ "pageToken": next });
    if kind == EntityKind::Organisation {
        body["organisations"] = data.clone();
    }
    body["data"] = data;
    Ok(Json(body))
}

/// `GET /{kind}/{id}`: one entity.
async fn one(kind: EntityKind, state: &ApiState, id: &str) -> Result<Json<Value>, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{}` is not a UUID: an id is a UUID", echo(id)),
        )
    })?;
    let entity = state
        .store
        .served_one(&state.dataset, kind, id)
        .await
        .map_err(ApiError::internal)?;
    match entity {
        Some(entity) => Ok(Json(entity.into_json())),
        None => Err(ApiError::not_found(format!(
            "no {} with id {id} is served",
            kind.type_name()
        ))),
    }
}

/// `GET /deletedEntities`: one page of the ids removed.
async fn deleted(state: &ApiState, query: Option<&str>) -> Result<Json<Value>, ApiError> {
    let params = Params::parse(query);
    let limit = params.limit()?;
    let (after, kinds, cursor, limit) = match params.one("pageToken")? {
        Some(token) => {
            params.refuse_filters_with_token(&DELETED_FILTERS)?;
            let position = page_token::decode(token)?.into_deleted()?;
            (
                position.after,
                position.kinds,
                Some(position.last),
                limit.unwrap_or(page_size(position.limit)),
            )
        }
        None => (
            params.date("after")?,
            params.entities()?.unwrap_or_else(|| SERVED_KINDS.to_vec()),
            None,
            limit.unwrap_or(DEFAULT_PAGE_LIMIT),
        ),
    };
    let mut page = state
        .store
        .deleted_page(
            &state.dataset,
            after,
            &kinds,
            cursor.as_ref(),
            limit.saturating_add(1),
        )
        .await
        .map_err(ApiError::internal)?;
    let next = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|last| {
            page_token::encode(&Position::Deleted(DeletedPosition {
                after,
                kinds: kinds.clone(),
                limit,
                last: last.cursor(),
            }))
        })
    } else {
        None
    };
    let mut data = Map::new();
    for kind in &kinds {
        data.insert(deleted_key(*kind).to_string(), json!([]));
    }
    for tombstone in &page {
        if let Some(Value::Array(ids)) = data.get_mut(deleted_key(tombstone.kind)) {
            ids.push(json!(tombstone.id));
        }
    }
    tracing::debug!(
        pipeline = %state.pipeline,
        ids = page.len(),
        more = next.is_some(),
        "pull API: deletedEntities page"
    );
    Ok(Json(json!({ "data": data, "pageToken": next })))
}

/// A token's page size, kept within what a call may ask for (a token is
/// not signed, so its size is not trusted).
fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_LIMIT)
}

/// A type's key in the `data` of `/deletedEntities`: its endpoint, but
/// `activitites` as the spec spells it.
fn deleted_key(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::Activity => "activitites",
        other => other.endpoint(),
    }
}

#[cfg(test)]
mod tests;
