//! The served dataset of a pull sink (`kind = "ss12000-pull"`): what
//! `skolsync serve` hands Skolverket's SS12000 client.
//!
//! A pull run writes the transformed, validated DNP profile here instead of
//! sending it: one row per entity with server-kept `meta.created` /
//! `meta.modified` stamps ([`entities`]), a tombstone per deletion for
//! `/deletedEntities`, the subscriptions the client registers
//! ([`subscriptions`]), the LogEntries and StatisticsEntries it posts back
//! ([`feedback`]) and every notification attempt ([`notifications`]).
//!
//! Rows are keyed by *dataset*, the pull sink's identity, so one state file
//! can hold what several sinks serve without mixing them.

mod entities;
mod feedback;
mod notifications;
mod subscriptions;

pub use entities::*;
pub use feedback::*;
pub use notifications::*;
pub use subscriptions::*;

use skolsync_model::ss12000::EntityKind;

/// The resource types the pull API serves, in the order Skolverket's client
/// fetches them (ORGANISATION, PERSON, GROUP, DUTY, ACTIVITY).
pub const SERVED_KINDS: [EntityKind; 5] = [
    EntityKind::Organisation,
    EntityKind::Person,
    EntityKind::Group,
    EntityKind::Duty,
    EntityKind::Activity,
];

/// The served kind named `type_name` (`Person`, as in `EndPointsEnum`).
pub fn served_kind(type_name: &str) -> Option<EntityKind> {
    SERVED_KINDS
        .into_iter()
        .find(|k| k.type_name().eq_ignore_ascii_case(type_name))
}
