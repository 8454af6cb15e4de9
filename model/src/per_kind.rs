//! The seven SS 12000 kinds written once.
//!
//! A source yields seven kinds of entity ([`EntityKind`]). What exists once
//! per kind — counters, page sizes, the lists of a [`Snapshot`], the ids of
//! `/deletedEntities` — is either a [`PerKind`] (one value of the same type
//! per kind, indexed by [`EntityKind`]) or reached per kind with
//! [`by_kind!`], which writes the one seven-arm match for the caller.
//!
//! [`Snapshot`]: crate::ss12000::Snapshot

use serde::{Deserialize, Serialize};

use crate::ss12000::EntityKind;

/// One `T` per SS 12000 kind, serialised with the kinds' endpoint names
/// (`organisations`, `persons`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerKind<T> {
    /// Organisation elements.
    pub organisations: T,
    /// Persons.
    pub persons: T,
    /// Duties.
    pub duties: T,
    /// Groups.
    pub groups: T,
    /// Activities.
    pub activities: T,
    /// Syllabuses.
    pub syllabuses: T,
    /// Programmes.
    pub programmes: T,
}

impl<T> PerKind<T> {
    /// One value per kind, made by `make`.
    pub fn from_fn(mut make: impl FnMut(EntityKind) -> T) -> Self {
        PerKind {
            organisations: make(EntityKind::Organisation),
            persons: make(EntityKind::Person),
            duties: make(EntityKind::Duty),
            groups: make(EntityKind::Group),
            activities: make(EntityKind::Activity),
            syllabuses: make(EntityKind::Syllabus),
            programmes: make(EntityKind::Programme),
        }
    }

    /// The value of one kind.
    pub fn get(&self, kind: EntityKind) -> &T {
        crate::by_kind!(kind, &self, |value| value)
    }

    /// The value of one kind, to change.
    pub fn get_mut(&mut self, kind: EntityKind) -> &mut T {
        crate::by_kind!(kind, &mut self, |value| value)
    }
}

crate::per_type::keyed_impls!(
    PerKind,
    EntityKind,
    EntityKind::ALL,
    "the kinds in reading order"
);

/// Runs `$body` on the part of `$owner` that holds `$kind` — its field
/// `organisations`, `persons`, `duties`, `groups`, `activities`,
/// `syllabuses` or `programmes` (a [`PerKind`], a [`Snapshot`], the ids of
/// `/deletedEntities`) — bound to `$part` (`&` or `&mut`, as written). The
/// body is expanded once per kind, so it may be generic over the entity.
///
/// ```
/// use skolsync_model::{by_kind, ss12000::{EntityKind, Snapshot}};
/// let snapshot = Snapshot::default();
/// let total: usize = EntityKind::ALL
///     .iter()
///     .map(|kind| by_kind!(*kind, &snapshot, |list| list.len()))
///     .sum();
/// assert_eq!(total, 0);
/// ```
///
/// [`Snapshot`]: crate::ss12000::Snapshot
#[macro_export]
macro_rules! by_kind {
    ($kind:expr, &mut $owner:expr, |$part:ident| $body:expr) => {
        $crate::by_kind!(@arms $kind, |$part| $body, &mut $owner)
    };
    ($kind:expr, &$owner:expr, |$part:ident| $body:expr) => {
        $crate::by_kind!(@arms $kind, |$part| $body, &$owner)
    };
    (@arms $kind:expr, |$part:ident| $body:expr, $($borrow:tt)+) => {{
        use $crate::ss12000::EntityKind as Kind;
        match $kind {
            Kind::Organisation => {
                let $part = $($borrow)+.organisations;
                $body
            }
            Kind::Person => {
                let $part = $($borrow)+.persons;
                $body
            }
            Kind::Duty => {
                let $part = $($borrow)+.duties;
                $body
            }
            Kind::Group => {
                let $part = $($borrow)+.groups;
                $body
            }
            Kind::Activity => {
                let $part = $($borrow)+.activities;
                $body
            }
            Kind::Syllabus => {
                let $part = $($borrow)+.syllabuses;
                $body
            }
            Kind::Programme => {
                let $part = $($borrow)+.programmes;
                $body
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_kind_indexed_and_summed() {
        let mut counts = PerKind::from_fn(|kind| kind.endpoint().len());
        counts[EntityKind::Group] += 100;
        assert_eq!(counts.groups, 106);
        assert_eq!(counts[EntityKind::Programme], "programmes".len());
        let expected: usize = EntityKind::ALL.iter().map(|k| k.endpoint().len()).sum();
        assert_eq!(counts.sum(), expected + 100);
        let json = serde_json::to_value(counts).unwrap_or_default();
        for kind in EntityKind::ALL {
            assert!(
                json.get(kind.endpoint()).is_some(),
                "{kind} missing: {json}"
            );
        }
    }
}
