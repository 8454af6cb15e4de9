//! Serde records written once: [`record!`] declares a struct whose optional
//! fields read as empty when missing and are left out when empty.
//!
//! Most fields of the SS 12000, provtjänst and open-data types that may be
//! missing carry the same serde settings: absent reads as `None` or an empty
//! list (`default`), sometimes through a lenient reader (`deserialize_with`),
//! and an empty value is not written (`skip_serializing_if`), so what is sent
//! never holds `null` or `[]` for an optional field. Spelt out per field those
//! settings were most of the text of the types; `record!` writes them from a
//! short marker after the field's type, so the rule lives in one place.

/// A value that may be empty: `None`, or an empty list.
pub(crate) trait Absent {
    /// Whether the value is empty (and so is not written).
    fn is_absent(&self) -> bool;
}

impl<T> Absent for Option<T> {
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl<T> Absent for Vec<T> {
    fn is_absent(&self) -> bool {
        self.is_empty()
    }
}

/// For `skip_serializing_if`: whether `value` is empty ([`Absent`]).
pub(crate) fn absent<T: Absent>(value: &T) -> bool {
    value.is_absent()
}

/// Declares a struct as written, except that a field whose type is followed
/// by a marker gets its serde settings from the marker:
///
/// - `name: Option<T> [optional]`: missing reads as `None` (or an empty list
///   for a `Vec`), and `None` (or an empty list) is not written.
/// - `name: Option<T> [optional, via "reader"]`: the same, read by the
///   function `reader` (a path as serde's `deserialize_with` takes it).
///
/// Attributes (docs, derives, other serde settings) pass through unchanged.
/// Every field ends with a comma; type parameters may not carry bounds.
macro_rules! record {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$($param:ident),+>)? { $($fields:tt)* }
    ) => {
        $crate::record::record!(
            @fields [$(#[$meta])* $vis struct $name $(<$($param),+>)?] [] $($fields)*
        );
    };
    (@fields [$($head:tt)*] [$($done:tt)*]) => {
        $($head)* { $($done)* }
    };
    (@fields $head:tt [$($done:tt)*]
        $(#[$attr:meta])* $fvis:vis $field:ident : $ty:ty [optional, via $reader:tt],
        $($rest:tt)*
    ) => {
        $crate::record::record!(@fields $head [
            $($done)*
            $(#[$attr])*
            #[serde(
                default,
                deserialize_with = $reader,
                skip_serializing_if = "crate::record::absent"
            )]
            $fvis $field: $ty,
        ] $($rest)*);
    };
    (@fields $head:tt [$($done:tt)*]
        $(#[$attr:meta])* $fvis:vis $field:ident : $ty:ty [optional],
        $($rest:tt)*
    ) => {
        $crate::record::record!(@fields $head [
            $($done)*
            $(#[$attr])*
            #[serde(default, skip_serializing_if = "crate::record::absent")]
            $fvis $field: $ty,
        ] $($rest)*);
    };
    (@fields $head:tt [$($done:tt)*]
        $(#[$attr:meta])* $fvis:vis $field:ident : $ty:ty,
        $($rest:tt)*
    ) => {
        $crate::record::record!(@fields $head [
            $($done)*
            $(#[$attr])*
            $fvis $field: $ty,
        ] $($rest)*);
    };
}

pub(crate) use record;
