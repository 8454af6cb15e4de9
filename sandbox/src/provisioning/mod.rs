//! The Provisioning API of Skolverket's provtjänst (v1.3.x), emulated.
//!
//! Every path of `dnp-provisioning-api.yaml`, relative to the API base:
//! `POST|PUT /{persons,duties,groups,activities}/bulk` (create, with
//! `updateIfExists`; update), `POST /x/bulk/delete`, `GET /x/bulk/jobs/{id}`
//! (with `showOnlyError`), `GET /x/bulk/jobs/{id}/isCompleted`, `GET /x`
//! (`limit` 1–100, default 50; opaque `pageToken`, `null` at the end),
//! `GET /x/{id}`, `POST /x/lookup` and the open `GET /alive`. Build it with
//! [`router`] over a [`ProvisioningState`]; query what it holds and every
//! request it received through [`Store`].
//!
//! **Bodies** are read by the sandbox's own reading of the spec's schemas
//! ([`schema`]), not by `skolsync_model`'s payload types, so a client type
//! that drifts from the spec fails here: unknown or missing properties,
//! wrong JSON types, inexact code-list values and malformed UUIDs are a
//! `400` (9000) naming every place. Accepted entities are held, and
//! answered in reads, in the sandbox's own types ([`payload`]); job
//! statuses and LogEntries likewise ([`envelope`]). `skolsync_model` is
//! used for ids, `ObjectType`, the civic number and EPPN rules, and by the
//! store's test-facing queries, which hand resources out in the model's
//! types (converted through JSON).
//!
//! **Jobs** are asynchronous: a bulk call checks the body and answers `202`
//! with `jobId`, `message` and a `Location` header; its entities settle one
//! by one in submission order (the first after the settle delay plus the
//! `pending_extra` fault, each next one the settle interval later), each
//! against the store as it is at that moment. Until an entity settles the
//! job status lists it as `Pending` (or leaves it out, as configured), and
//! `isCompleted` is `false` until all have settled.
//!
//! **The register**: entities are judged against the open-data catalogue
//! the sandbox serves (unit status, `dnpStatus`, school types and years
//! offered, programmes, and that the unit belongs to the huvudman of the
//! token's `organization_id`); see the 912x ids below.
//!
//! **Limits**: per client identity (the bearer token's), 5 calls/s on bulk
//! and job calls and 10/s on reads, counted in a *sliding* one-second window
//! (any second holds at most that many accepted calls; refused calls do not
//! count). Every answer carries `X-RateLimit-Limit`, `X-RateLimit-Remaining`
//! and `X-RateLimit-Reset` (seconds until the oldest counted call leaves the
//! window, fractional as the spec's `0.5`). Bodies above
//! [`Limits::max_body_bytes`] get `413`. Calls without a valid token count in
//! one shared "anonymous" bucket.
//!
//! **Interpretations** where the spec leaves room:
//! - One Person carries one EPPN, and the profile wants different EPPNs for
//!   the student and the staff role, so a Person cannot be both: a Duty for
//!   an enrolled person, or enrolments for a person holding a Duty, is an
//!   Error (9117). An EPPN another person id holds is an Error (9115).
//! - "E-mail required for staff" is checked when a Duty is created for the
//!   person, and when a person holding a Duty is updated (9118).
//! - Group members that do not exist give a Warning each (9142) and are left
//!   out of the stored group (CHANGELOG v1.3.2: send the group again later).
//! - Deleting a Person that still has Duties, or a Duty/Group an Activity
//!   still references, is an Error (9103): delete in the reverse order.
//! - An injected `TemporaryError` never hits the same entity twice in a row,
//!   so a retry always gets a real outcome.
//! - `showOnlyError=true` keeps only entities with status `Error`.
//! - Bulk/`lookup` bodies need `Content-Type: application/json` (415).
//! - The store is one tenant: every client sees the same resources and jobs.
//! - Structure is judged per request (400), values per entity in the job
//!   (see [`schema`] for where the line is drawn and why).
//! - Unknown properties are refused although the yaml leaves its schemas
//!   open: a misspelt optional name would otherwise drop data silently.
//! - `externalIdentifiers` "only for staff": refused for a person with an
//!   active enrolment (a new staff member holds no Duty yet when the Person
//!   arrives, so a Duty cannot be required).
//! - E-mail of an unsupported type: a Warning, and not counted for the
//!   staff e-mail rule; an untyped address counts.
//! - A unit with status `New` is accepted; only `Expired` is refused. A
//!   unit that lists no school types is not judged for type and year.
//! - A token without `organization_id` digits is not judged for the
//!   huvudman of its units.
//! - `provisioningStatus`: a Person with an active enrolment or a Duty; every
//!   Duty; a `Klass`, or an `Undervisning` group used by an Activity; an
//!   Activity with at least one existing group.
//!
//! **LogEntry ids.** Skolverket's, where the spec shows them:
//!
//! | id   | HTTP | when |
//! |------|------|------|
//! | 2010 | 400 | malformed lookup body (`ids` not UUIDs, lists not lists) |
//! | 2011 | 400 | path id not a UUID |
//! | 2025 | 400 | `updateIfExists` (or `showOnlyError`) not `true`/`false` |
//! | 3047 | Warning | EPPN contains the first 3 letters of the family name, or its first 2 + the given name's first 2 |
//! | 3085 | 400 | `limit` not 1–100 |
//! | 4001 | 404 | `GET /x/{id}` or a job that does not exist |
//! | 5002 | 403 | bearer token missing or invalid |
//! | 5004 | 500 | injected server error |
//! | 5020 | 413 | body above the limit |
//! | 5021 | 429 | rate limit (or injected burst) |
//! | 5022 | 503 | injected unavailability |
//!
//! The sandbox's own (request level 90xx, entity outcomes 91xx):
//!
//! | id   | HTTP | when |
//! |------|------|------|
//! | 9000 | 400 | body is not JSON of the resource's schema as the sandbox reads it ([`schema`]): unknown or missing properties, wrong types, inexact code-list values, malformed UUIDs; every place named |
//! | 9001 | 415 | body without `Content-Type: application/json` |
//! | 9002 | 400 | `pageToken` the service never gave out |
//! | 9003 | 404 | unknown path |
//! | 9004 | 405 | method not allowed on the path |
//! | 9005 | 401/403 | injected refusal of the client (`Outage::refuse_calls`) |
//! | 9101 | 409 | create of an existing id without `updateIfExists=true` |
//! | 9102 | 404 | update or delete of an id that does not exist |
//! | 9103 | 409 | delete of a resource that is still referenced |
//! | 9110 | 400 | civicNo not a 12-character personnummer/samordningsnummer/`ÅÅÅÅMMDDTFxx` with valid date and check digit |
//! | 9111 | 400 | civicNo nationality other than `SE` |
//! | 9112 | 409 | civicNo held by another person id |
//! | 9113 | 400 | not exactly one eduPersonPrincipalName |
//! | 9114 | 400 | EPPN not `local@domain` |
//! | 9115 | 409 | EPPN held by another person id |
//! | 9116 | 400 | more than one externalIdentifier, or context not `https://eduid.se` |
//! | 9117 | 400 | a person both enrolled and holding a Duty |
//! | 9118 | 400 | staff without e-mail of a supported type |
//! | 9119 | Warning | e-mail of a type other than `Skola elev`/`Skola personal` (not counted for 9118) |
//! | 9120 | 400 | enrolment at an unknown school unit id |
//! | 9121 | 400 | schoolYear missing or not 1–10 for GR/SP/SAM |
//! | 9122 | 400 | educationCode missing for GY |
//! | 9123 | 400 | educationCode not one of open-data's programmes |
//! | 9124 | 400 | school unit (enrolment, dutyAt, organisation) with open-data status `Expired` |
//! | 9125 | 400 | school unit with `dnpStatus` false |
//! | 9126 | 400 | school unit of another huvudman than the token's (`organization_id`) |
//! | 9127 | 400 | school type the unit does not offer in the provtjänst (enrolment, group) |
//! | 9128 | 400 | school year the unit does not offer for that school type |
//! | 9129 | 400 | externalIdentifiers for an enrolled person (staff only) |
//! | 9130 | 400 | Duty for a person that does not exist |
//! | 9131 | 400 | `dutyAt` an unknown school unit id |
//! | 9140 | 400 | group type other than `Klass`/`Undervisning` |
//! | 9141 | 400 | group/activity `organisation` an unknown school unit id |
//! | 9142 | Warning | group member that does not exist (left out) |
//! | 9150 | 400 | activity type other than `Undervisning` |
//! | 9151 | 400 | `parentActivity` not a known test activity |
//! | 9152 | 400 | activity without groups, or with a group that does not exist |
//! | 9153 | 400 | activity teacher whose duty does not exist |
//! | 9190 | 503 | injected TemporaryError for one entity |

pub mod envelope;
mod gate;
mod handlers;
mod limiter;
pub mod messages;
pub mod payload;
pub mod profile;
mod rules;
pub mod schema;
mod store;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

pub use handlers::ACCEPTED_MESSAGE;
pub use limiter::{Quota, RateClass};
/// Rule 3047, shared with the transform ([`skolsync_model::eppn`]).
pub use skolsync_model::eppn::resembles_name as eppn_resembles_name;
use store::Settling;
pub use store::{Change, ChangeKind, RequestRecord, Store};

use crate::config::{FaultSwitch, Limits};
use crate::world::Catalogue;

/// Checks a bearer token: the client identity, or why it is refused.
pub type TokenCheck = Arc<dyn Fn(&str) -> Result<ClientIdentity, String> + Send + Sync>;

/// Who a valid bearer token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The identity rate limits are kept by (the token's `sub`).
    pub client: String,
    /// The huvudman's organisation number, digits only (from the token's
    /// `organization_id`, `SE` + ten digits); `None`: school units are not
    /// checked for ownership (9126).
    pub organisation: Option<String>,
}

impl ClientIdentity {
    /// A client of no particular huvudman.
    pub fn client(client: impl Into<String>) -> Self {
        ClientIdentity {
            client: client.into(),
            organisation: None,
        }
    }
}

/// Everything the emulator shares between requests; cheap to clone.
#[derive(Clone)]
pub struct ProvisioningState {
    inner: Arc<Inner>,
    base_url: Option<Arc<str>>,
}

struct Inner {
    store: Store,
    limiter: limiter::Limiter,
    faults: Arc<FaultSwitch>,
    limits: Limits,
    settle_delay: Duration,
    settling: Settling,
    token_check: TokenCheck,
}

impl ProvisioningState {
    /// An empty service that knows the school units and test activities of
    /// `catalogue`, lets jobs settle after `settle_delay`, and accepts the
    /// bearer tokens `token_check` accepts.
    pub fn new(
        catalogue: Arc<Catalogue>,
        faults: Arc<FaultSwitch>,
        limits: Limits,
        settle_delay: Duration,
        token_check: TokenCheck,
    ) -> Self {
        let store = Store::new(rules::Rules::new(catalogue, Arc::clone(&faults)));
        ProvisioningState {
            inner: Arc::new(Inner {
                store,
                limiter: limiter::Limiter::new(limits.bulk_per_second, limits.read_per_second),
                faults,
                limits,
                settle_delay,
                settling: Settling::default(),
                token_check,
            }),
            base_url: None,
        }
    }

    /// The absolute base URL (`https://127.0.0.1:8443`) used in `Location`
    /// headers and job `location`s. Without it they are built from the
    /// request's `Host` header with `http://`.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = Some(Arc::from(base_url.into().trim_end_matches('/')));
        self
    }

    /// Jobs settle entity by entity as `options` say (see
    /// [`ProvisioningOptions`](crate::config::ProvisioningOptions)); without
    /// this a job settles at once. Call before the state is shared.
    pub fn with_settling(mut self, options: &crate::config::ProvisioningOptions) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.settling = Settling {
                interval: options.entity_interval,
                unsettled: options.unsettled,
                completed_early: options.completed_early,
            };
        }
        self
    }

    /// The stored state and request log.
    pub fn store(&self) -> Store {
        self.inner.store.clone()
    }

    /// The injected faults (shared with the other services).
    pub fn faults(&self) -> Arc<FaultSwitch> {
        Arc::clone(&self.inner.faults)
    }
}

impl fmt::Debug for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvisioningState")
            .field("limits", &self.inner.limits)
            .field("settle_delay", &self.inner.settle_delay)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The Provisioning API's routes, to be served at the root of a listener.
pub fn router(state: ProvisioningState) -> Router {
    handlers::routes()
        // The gate enforces the service's own body limit with the spec's answer.
        .layer(DefaultBodyLimit::disable())
        .layer(from_fn_with_state(state.clone(), gate::gate))
        .with_state(state)
}
