//! The four provtjänst types written once.
//!
//! Counts, limits and summaries exist once per type (Person, Duty, Group,
//! Activity). [`PerType`] holds one value per type, indexed by
//! [`ObjectType`], iterated in send order, serialised with the keys
//! `person`, `duty`, `group`, `activity`, so adding a field to every type's
//! counts is one edit and no caller writes a four-arm match.
//!
//! Structures whose four parts have different payload types ([`Plan`],
//! [`DesiredState`]) are reached per type with [`by_type!`], which writes
//! the one match on the caller's behalf: its body is expanded once per type,
//! so it may use the payload type generically.
//!
//! [`Plan`]: crate::plan::Plan
//! [`DesiredState`]: crate::plan::DesiredState

use serde::{Deserialize, Serialize};

use crate::codes::ObjectType;
use crate::plan::SEND_ORDER;

/// One `T` per provtjänst type, serialised with the keys `person`, `duty`,
/// `group` and `activity`. The fields are named as [`Plan`]'s, so
/// [`by_type!`] reaches them too.
///
/// [`Plan`]: crate::plan::Plan
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerType<T> {
    /// Persons.
    #[serde(rename = "person")]
    pub persons: T,
    /// Duties.
    #[serde(rename = "duty")]
    pub duties: T,
    /// Groups.
    #[serde(rename = "group")]
    pub groups: T,
    /// Activities.
    #[serde(rename = "activity")]
    pub activities: T,
}

impl<T> PerType<T> {
    /// One value per type, made by `make`, called in send order.
    pub fn from_fn(mut make: impl FnMut(ObjectType) -> T) -> Self {
        let persons = make(ObjectType::Person);
        let duties = make(ObjectType::Duty);
        let groups = make(ObjectType::Group);
        let activities = make(ObjectType::Activity);
        PerType {
            persons,
            duties,
            groups,
            activities,
        }
    }

    /// The value of one type.
    pub fn get(&self, kind: ObjectType) -> &T {
        crate::by_type!(kind, &self, |value| value)
    }

    /// The value of one type, to change.
    pub fn get_mut(&mut self, kind: ObjectType) -> &mut T {
        crate::by_type!(kind, &mut self, |value| value)
    }

    /// A value per type made from this one's.
    pub fn map<U>(&self, mut f: impl FnMut(ObjectType, &T) -> U) -> PerType<U> {
        PerType::from_fn(|kind| f(kind, self.get(kind)))
    }
}

crate::per_type::keyed_impls!(PerType, ObjectType, SEND_ORDER, "the types in send order");

/// What [`PerType`] and [`PerKind`](crate::PerKind) share once their
/// `get` and `get_mut` exist: iteration in the key order, the sum over all
/// keys, and indexing by key.
macro_rules! keyed_impls {
    ($name:ident, $key:ty, $order:expr, $order_doc:literal) => {
        impl<T> $name<T> {
            #[doc = concat!("Iterates ", $order_doc, " with their values.")]
            pub fn iter(&self) -> impl Iterator<Item = ($key, &T)> {
                $order.into_iter().map(move |key| (key, self.get(key)))
            }
        }

        impl<T: Clone + Default + std::ops::Add<Output = T>> $name<T> {
            /// The sum over all keys.
            pub fn sum(&self) -> T {
                self.iter()
                    .fold(T::default(), |sum, (_, value)| sum + value.clone())
            }
        }

        impl<T> std::ops::Index<$key> for $name<T> {
            type Output = T;

            fn index(&self, key: $key) -> &T {
                self.get(key)
            }
        }

        impl<T> std::ops::IndexMut<$key> for $name<T> {
            fn index_mut(&mut self, key: $key) -> &mut T {
                self.get_mut(key)
            }
        }
    };
}
pub(crate) use keyed_impls;

/// Runs `$body` on the part of `$owner` that holds `$kind` — the field
/// `persons`, `duties`, `groups` or `activities` of a [`PerType`], a [`Plan`] or a
/// [`DesiredState`] — bound to `$part` (`&` or `&mut`, as written). The
/// body is expanded once per type, so it may be generic over the payload.
///
/// ```
/// use skolsync_model::{by_type, ObjectType, plan::Plan};
/// let mut plan = Plan::default();
/// by_type!(ObjectType::Group, &mut plan, |p| p.delete.push(uuid::Uuid::nil()));
/// assert_eq!(by_type!(ObjectType::Group, &plan, |p| p.delete.len()), 1);
/// ```
///
/// [`Plan`]: crate::plan::Plan
/// [`DesiredState`]: crate::plan::DesiredState
#[macro_export]
macro_rules! by_type {
    ($kind:expr, &mut $owner:expr, |$part:ident| $body:expr) => {
        $crate::by_type!(@arms $kind, |$part| $body, &mut $owner)
    };
    ($kind:expr, &$owner:expr, |$part:ident| $body:expr) => {
        $crate::by_type!(@arms $kind, |$part| $body, &$owner)
    };
    (@arms $kind:expr, |$part:ident| $body:expr, $($borrow:tt)+) => {
        match $kind {
            $crate::ObjectType::Person => {
                let $part = $($borrow)+.persons;
                $body
            }
            $crate::ObjectType::Duty => {
                let $part = $($borrow)+.duties;
                $body
            }
            $crate::ObjectType::Group => {
                let $part = $($borrow)+.groups;
                $body
            }
            $crate::ObjectType::Activity => {
                let $part = $($borrow)+.activities;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_iterates_in_send_order_and_sums() {
        let mut counts = PerType::from_fn(|kind| kind.as_str().len());
        counts[ObjectType::Group] += 10;
        assert_eq!(counts.groups, 15);
        assert_eq!(counts.sum(), 6 + 4 + 15 + 8);
        let order: Vec<ObjectType> = counts.iter().map(|(k, _)| k).collect();
        assert_eq!(order, SEND_ORDER);
        let doubled = counts.map(|_, n| n * 2);
        assert_eq!(doubled.persons, 12);
    }

    #[test]
    fn serialises_with_one_key_per_type() {
        let counts = PerType::from_fn(|kind| kind.as_str());
        let json = serde_json::to_value(counts).unwrap_or_default();
        let keys: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 4);
        for key in ["person", "duty", "group", "activity"] {
            assert!(keys.contains(&key), "{key} missing from {json}");
        }
    }
}
