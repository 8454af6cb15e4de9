//! Emulator of Skolverket's provtjänst Open-data API (`provisioning-data-api`, v1.0.0).
//!
//! Serves the [`Catalogue`]: organisers (with `expandSchoolUnits`), school
//! units, programmes and the national test activities, by Skolverket id and by
//! code, exactly at the spec's paths (`/alive`, `/organisations/{id}`,
//! `/organisations/code/{code}`, `/schoolUnits/{id}`, `/schoolUnits/code/{code}`,
//! `/programmes`, `/programmes/{id}`, `/programmes/code/{code}`, `/activities`,
//! `/activities/{id}`). The routes sit at the root; mount the router under
//! `/provtjanst/open-data/v1` to mirror the production URL.
//!
//! Open data needs no authentication. Errors carry the spec's `Error` body
//! (`code`, `message`, `timeStamp`) with its messages: `400` "Invalid parameter:
//! id" for an id that is not a UUID, `404` "School unit not found" and kin.
//! The `slow` and `server_error_share` faults of the provtjänst
//! ([`crate::config::Faults`]) apply to every call: open-data is one of the
//! provtjänst's APIs (`…/provtjanst/open-data/v1`). The source emulators'
//! faults ([`crate::config::SourceFaults`]) do not.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Local, SecondsFormat};
use serde::Serialize;
use skolsync_model::open_data::{self, Organisation, Programme, SchoolUnit, TestActivity};
use uuid::Uuid;

use crate::config::FaultSwitch;
use crate::world::Catalogue;

/// Shared state of the open-data routes.
#[derive(Debug, Clone)]
struct OpenData {
    catalogue: Arc<Catalogue>,
}

/// The Open-data API over `catalogue`, with `faults` applied to every call.
pub fn router(catalogue: Arc<Catalogue>, faults: Arc<FaultSwitch>) -> Router {
    Router::new()
        .route("/alive", get(alive))
        .route("/organisations/{id}", get(organisation_by_id))
        .route("/organisations/code/{code}", get(organisation_by_code))
        .route("/schoolUnits/{id}", get(by_id::<SchoolUnit>))
        .route("/schoolUnits/code/{code}", get(by_code::<SchoolUnit>))
        .route("/programmes", get(list::<Programme>))
        .route("/programmes/{id}", get(by_id::<Programme>))
        .route("/programmes/code/{code}", get(by_code::<Programme>))
        .route("/activities", get(list::<TestActivity>))
        .route("/activities/{id}", get(by_id::<TestActivity>))
        .fallback(not_found)
        .with_state(OpenData { catalogue })
        .layer(middleware::from_fn_with_state(faults, apply_faults))
}

/// What can go wrong, each with the status and message the spec shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum OpenDataError {
    #[error("Invalid parameter: {0}")]
    InvalidParameter(&'static str),
    #[error("Organisation not found")]
    OrganisationNotFound,
    #[error("School unit not found")]
    SchoolUnitNotFound,
    #[error("Programme not found")]
    ProgrammeNotFound,
    #[error("Activity not found")]
    ActivityNotFound,
    #[error("Not found")]
    UnknownPath,
    #[error("Internal server error")]
    Internal,
    #[error("Service unavailable")]
    Unavailable,
}

impl OpenDataError {
    fn status(&self) -> StatusCode {
        match self {
            OpenDataError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            OpenDataError::OrganisationNotFound
            | OpenDataError::SchoolUnitNotFound
            | OpenDataError::ProgrammeNotFound
            | OpenDataError::ActivityNotFound
            | OpenDataError::UnknownPath => StatusCode::NOT_FOUND,
            OpenDataError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            OpenDataError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for OpenDataError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = open_data::Error {
            code: status.as_u16(),
            message: self.to_string(),
            // The spec's examples carry local time with its offset.
            time_stamp: Local::now().to_rfc3339_opts(SecondsFormat::Secs, false),
        };
        (status, json(&body)).into_response()
    }
}

/// A JSON body; serialising our own types cannot fail, but if it ever did the
/// caller gets a 500 rather than a panic.
fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Slow answers and injected 5xx, as configured at the moment of the call.
async fn apply_faults(
    State(faults): State<Arc<FaultSwitch>>,
    request: Request,
    next: Next,
) -> Response {
    let current = faults.wait_slow().await;
    if faults.chance(current.server_error_share) {
        return if faults.chance(0.5) {
            OpenDataError::Internal.into_response()
        } else {
            OpenDataError::Unavailable.into_response()
        };
    }
    next.run(request).await
}

async fn alive() -> StatusCode {
    StatusCode::OK
}

async fn not_found() -> OpenDataError {
    OpenDataError::UnknownPath
}

/// Parses a path id; the spec answers `400 Invalid parameter: id` for non-UUIDs.
fn parse_id(raw: &str) -> Result<Uuid, OpenDataError> {
    Uuid::parse_str(raw.trim()).map_err(|_| OpenDataError::InvalidParameter("id"))
}

/// Reads `expandSchoolUnits` (default false) from the raw query string.
fn expand_school_units(query: Option<&str>) -> Result<bool, OpenDataError> {
    let mut expand = false;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "expandSchoolUnits" {
            expand = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => return Err(OpenDataError::InvalidParameter("expandSchoolUnits")),
            };
        }
    }
    Ok(expand)
}

/// The organisation as served: school units only when asked for, taken from
/// the catalogue's units whose `parentOrganisation` is this organisation.
fn present_organisation(catalogue: &Catalogue, org: &Organisation, expand: bool) -> Organisation {
    let mut served = org.clone();
    served.school_units = if expand {
        let units: Vec<SchoolUnit> = catalogue
            .school_units
            .iter()
            .filter(|u| {
                u.parent_organisation
                    .as_ref()
                    .is_some_and(|p| p.id == org.id)
            })
            .cloned()
            .collect();
        if units.is_empty() {
            Some(org.school_units.clone().unwrap_or_default())
        } else {
            Some(units)
        }
    } else {
        None
    };
    served
}

/// The organisation `selected` picks, as served for `query`.
fn serve_organisation(
    state: &OpenData,
    query: Option<&str>,
    selected: impl Fn(&Organisation) -> bool,
) -> Result<Response, OpenDataError> {
    let expand = expand_school_units(query)?;
    let catalogue = &state.catalogue;
    let org = catalogue
        .organisations
        .iter()
        .find(|o| selected(o))
        .ok_or(OpenDataError::OrganisationNotFound)?;
    Ok(json(&present_organisation(catalogue, org, expand)))
}

async fn organisation_by_id(
    State(state): State<OpenData>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, OpenDataError> {
    let id = parse_id(&id)?;
    serve_organisation(&state, query.as_deref(), |o| o.id == id)
}

async fn organisation_by_code(
    State(state): State<OpenData>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, OpenDataError> {
    serve_organisation(&state, query.as_deref(), |o| o.organisation_number == code)
}

/// A kind of catalogue entry served by id (and listed, where the spec
/// has a list route).
trait Served: Serialize + Sized + Send + Sync + 'static {
    /// The answer when no entry has the id or code asked for.
    const MISSING: OpenDataError;
    /// Every entry of the kind.
    fn all(catalogue: &Catalogue) -> &[Self];
    /// The entry with Skolverket id `id`.
    fn find<'c>(catalogue: &'c Catalogue, id: &Uuid) -> Option<&'c Self> {
        Self::all(catalogue).iter().find(|e| e.id() == *id)
    }
    /// Its Skolverket id.
    fn id(&self) -> Uuid;
}

/// A [`Served`] kind that also has a `/code/{code}` route.
trait Coded: Served {
    /// The code the route takes.
    fn code(&self) -> &str;
}

impl Served for SchoolUnit {
    const MISSING: OpenDataError = OpenDataError::SchoolUnitNotFound;
    fn all(catalogue: &Catalogue) -> &[Self] {
        &catalogue.school_units
    }
    fn find<'c>(catalogue: &'c Catalogue, id: &Uuid) -> Option<&'c Self> {
        catalogue.school_unit(id)
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

impl Coded for SchoolUnit {
    fn code(&self) -> &str {
        &self.school_unit_code
    }
}

impl Served for Programme {
    const MISSING: OpenDataError = OpenDataError::ProgrammeNotFound;
    fn all(catalogue: &Catalogue) -> &[Self] {
        &catalogue.programmes
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

impl Coded for Programme {
    fn code(&self) -> &str {
        &self.education_code
    }
}

impl Served for TestActivity {
    const MISSING: OpenDataError = OpenDataError::ActivityNotFound;
    fn all(catalogue: &Catalogue) -> &[Self] {
        &catalogue.test_activities
    }
    fn find<'c>(catalogue: &'c Catalogue, id: &Uuid) -> Option<&'c Self> {
        catalogue.test_activity(id)
    }
    fn id(&self) -> Uuid {
        self.id
    }
}

async fn list<T: Served>(State(state): State<OpenData>) -> Response {
    json(&T::all(&state.catalogue))
}

async fn by_id<T: Served>(
    State(state): State<OpenData>,
    Path(id): Path<String>,
) -> Result<Response, OpenDataError> {
    let id = parse_id(&id)?;
    T::find(&state.catalogue, &id).map(json).ok_or(T::MISSING)
}

async fn by_code<T: Coded>(
    State(state): State<OpenData>,
    Path(code): Path<String>,
) -> Result<Response, OpenDataError> {
    let all = T::all(&state.catalogue);
    all.iter()
        .find(|e| e.code() == code)
        .map(json)
        .ok_or(T::MISSING)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_school_units_is_a_strict_boolean() {
        assert_eq!(expand_school_units(None), Ok(false));
        assert_eq!(
            expand_school_units(Some("expandSchoolUnits=true")),
            Ok(true)
        );
        assert_eq!(
            expand_school_units(Some("x=1&expandSchoolUnits=FALSE")),
            Ok(false)
        );
        assert_eq!(
            expand_school_units(Some("expandSchoolUnits=yes")),
            Err(OpenDataError::InvalidParameter("expandSchoolUnits"))
        );
    }

    #[test]
    fn error_messages_are_the_specs() {
        assert_eq!(
            OpenDataError::InvalidParameter("id").to_string(),
            "Invalid parameter: id"
        );
        assert_eq!(
            OpenDataError::SchoolUnitNotFound.to_string(),
            "School unit not found"
        );
        assert_eq!(
            OpenDataError::OrganisationNotFound.to_string(),
            "Organisation not found"
        );
        assert_eq!(
            OpenDataError::ProgrammeNotFound.to_string(),
            "Programme not found"
        );
        assert_eq!(
            OpenDataError::ActivityNotFound.to_string(),
            "Activity not found"
        );
    }
}
