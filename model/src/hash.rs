//! The content hash: the one function that says whether an entity changed.
//!
//! The hash is SHA-256 (hex) of the payload as a `serde_json::Value`
//! printed compactly, which sorts object keys, so field order never
//! matters. List order does: producers sort lists whose order carries no
//! meaning (group members, activity groups and teachers) before hashing
//! and sending. The transform computes it for every entity it produces;
//! the sink never does. State files in the field hold these hashes, so its
//! output must never change for the same payload.
//!
//! Building a `Value` allocates a tree per payload; for a municipality of a
//! million pupils that was the costliest step of the whole transform. The
//! serializer here writes the very same bytes without a tree: everything is
//! written into one reusable buffer, and when an object ends its fields
//! (already canonical themselves) are put in key order in place. Strings
//! and numbers go through serde_json, for identical escaping and
//! formatting. [`content_hash`] falls back to printing a `Value` if this
//! build's `serde_json` ever preserves insertion order instead of sorting
//! (or the fast path fails), and tests check byte-for-byte equality.

use std::cell::RefCell;
use std::fmt;
use std::sync::OnceLock;

use serde::ser::{self, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::provtjanst::{Activity, Group};

/// SHA-256 (hex) of the canonical JSON of `value`: the JSON of
/// `serde_json::to_value(value)`, printed compactly with object keys sorted.
pub fn content_hash<T: Serialize + ?Sized>(value: &T) -> String {
    thread_local! {
        static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
    }
    if !value_sorts_keys() {
        return value_hash(value);
    }
    let digest = SCRATCH.with(|cell| {
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            return None;
        };
        scratch.clear();
        value.serialize(&mut Canon { s: &mut scratch }).ok()?;
        Some(Sha256::digest(&scratch.out))
    });
    match digest {
        Some(digest) => hex(&digest),
        None => value_hash(value),
    }
}

/// The reference form: through a `serde_json::Value` (a value that cannot
/// be serialised hashes as the empty string, as it always has).
fn value_hash<T: Serialize + ?Sized>(value: &T) -> String {
    let canonical = serde_json::to_value(value)
        .map(|v| v.to_string())
        .unwrap_or_default();
    hex(&Sha256::digest(canonical.as_bytes()))
}

/// `group` as sent without the members whose Person is in `left_out`: what
/// the sink sends when some members' Persons were not accepted, and what
/// the engine hashes to know what the service holds.
pub fn group_without(group: &Group, left_out: &[Uuid]) -> Group {
    let mut reduced = group.clone();
    reduced
        .group_memberships
        .retain(|m| !left_out.contains(&m.person.id));
    reduced
}

/// `activity` as sent without the groups and teachers' duties whose ids
/// are in `left_out` (they were not accepted): what the sink sends when
/// some of them failed, and what the engine hashes to know what the
/// service holds.
pub fn activity_without(activity: &Activity, left_out: &[Uuid]) -> Activity {
    let mut reduced = activity.clone();
    reduced.groups.retain(|g| !left_out.contains(&g.id));
    reduced.teachers.retain(|t| !left_out.contains(&t.duty.id));
    reduced
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Whether `serde_json::Value` objects print their keys sorted (they do
/// unless some crate turns on serde_json's `preserve_order`).
fn value_sorts_keys() -> bool {
    static SORTED: OnceLock<bool> = OnceLock::new();
    *SORTED.get_or_init(|| {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap_or(serde_json::Value::Null);
        let printed = v.to_string();
        printed == r#"{"a":2,"b":1}"#
    })
}

/// The canonical JSON of `value`: what `serde_json::to_value(value)?.to_string()` prints.
#[cfg(test)]
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    let mut scratch = Scratch::default();
    value.serialize(&mut Canon { s: &mut scratch })?;
    Ok(scratch.out)
}

/// A value the canonical form cannot express.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

fn json_error(e: serde_json::Error) -> Error {
    Error(e.to_string())
}

/// An object field's key.
enum Key {
    Static(&'static str),
    Owned(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Owned(s) => s,
        }
    }
}

/// Buffers reused from payload to payload.
#[derive(Default)]
struct Scratch {
    /// The output; objects are reordered in place when they end.
    out: Vec<u8>,
    /// Fields of the objects being written: key and byte range in `out`.
    fields: Vec<(Key, usize, usize)>,
    /// Room to reorder one object.
    temp: Vec<u8>,
}

impl Scratch {
    fn clear(&mut self) {
        self.out.clear();
        self.fields.clear();
        self.temp.clear();
    }
}

struct Canon<'s> {
    s: &'s mut Scratch,
}

impl Canon<'_> {
    fn raw(&mut self, bytes: &[u8]) {
        self.s.out.extend_from_slice(bytes);
    }

    fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        serde_json::to_writer(&mut self.s.out, v).map_err(json_error)
    }

    /// Opens an enum variant with content, `{"Variant":`, as serde_json
    /// writes it; the caller writes the content and the closing `}`.
    fn open_variant(&mut self, variant: &'static str) -> Result<(), Error> {
        self.raw(b"{");
        self.json(variant)?;
        self.raw(b":");
        Ok(())
    }
}

impl<'s, 'c> ser::Serializer for &'c mut Canon<'s> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'s, 'c>;
    type SerializeTuple = Seq<'s, 'c>;
    type SerializeTupleStruct = Seq<'s, 'c>;
    type SerializeTupleVariant = Seq<'s, 'c>;
    type SerializeMap = Object<'s, 'c>;
    type SerializeStruct = Object<'s, 'c>;
    type SerializeStructVariant = Object<'s, 'c>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.raw(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // As `Value`: through f64.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        // As `Value`: a non-finite number becomes null.
        let value = serde_json::to_value(v).map_err(json_error)?;
        self.json(&value)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.json(&v)
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.json(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // `Value` holds bytes as an array of numbers.
        self.json(v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.raw(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.raw(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.json(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.raw(b"}");
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'s, 'c>, Error> {
        self.raw(b"[");
        Ok(Seq {
            canon: self,
            first: true,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'s, 'c>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq<'s, 'c>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq<'s, 'c>, Error> {
        self.open_variant(variant)?;
        let mut seq = self.serialize_seq(Some(len))?;
        seq.variant = true;
        Ok(seq)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'s, 'c>, Error> {
        let start = self.s.out.len();
        let first_field = self.s.fields.len();
        self.raw(b"{");
        Ok(Object {
            canon: self,
            start,
            first_field,
            key: None,
            variant: false,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Object<'s, 'c>, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Object<'s, 'c>, Error> {
        self.open_variant(variant)?;
        let mut object = self.serialize_map(Some(len))?;
        object.variant = true;
        Ok(object)
    }
}

/// An array being written.
struct Seq<'s, 'c> {
    canon: &'c mut Canon<'s>,
    first: bool,
    /// Inside `{"Variant": [` (close with `]}`).
    variant: bool,
}

impl Seq<'_, '_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !self.first {
            self.canon.raw(b",");
        }
        self.first = false;
        value.serialize(&mut *self.canon)
    }

    fn close(self) -> Result<(), Error> {
        self.canon.raw(if self.variant { b"]}" } else { b"]" });
        Ok(())
    }
}

/// The four sequence-like serializer traits differ only in their names:
/// each writes its items with [`Seq::item`] and ends with [`Seq::close`].
macro_rules! seq_like {
    ($($trait:ident::$method:ident),+ $(,)?) => {$(
        impl ser::$trait for Seq<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.item(value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )+};
}

seq_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

/// An object being written: its fields go to the output as they come, and
/// on `end` they are put in key order unless they already are.
struct Object<'s, 'c> {
    canon: &'c mut Canon<'s>,
    /// Where the object (its `{`) starts in the output.
    start: usize,
    /// Where its fields start in the field stack.
    first_field: usize,
    key: Option<String>,
    /// Inside `{"Variant":` (close with an extra `}`).
    variant: bool,
}

impl Object<'_, '_> {
    /// Writes `"key":value` (after a comma) and remembers where the value
    /// is, in case the object has to be put in key order at the end.
    fn field<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) -> Result<(), Error> {
        let s = &mut *self.canon.s;
        if s.fields.len() > self.first_field {
            s.out.push(b',');
        }
        write_key(&mut s.out, key.as_str())?;
        let from = s.out.len();
        value.serialize(&mut *self.canon)?;
        let to = self.canon.s.out.len();
        self.canon.s.fields.push((key, from, to));
        Ok(())
    }

    fn close(self) -> Result<(), Error> {
        let s = &mut *self.canon.s;
        let fields = &mut s.fields[self.first_field..];
        let in_order = fields.windows(2).all(|w| w[0].0.as_str() < w[1].0.as_str());
        if !in_order {
            // Sort by key, the later of equal keys first so that it is the
            // one kept (a map keeps the last value of a repeated key).
            fields.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()).then(b.1.cmp(&a.1)));
            s.temp.clear();
            s.temp.extend_from_slice(&s.out[self.start..]);
            s.out.truncate(self.start);
            s.out.push(b'{');
            let mut previous: Option<&str> = None;
            for (key, from, to) in s.fields[self.first_field..].iter() {
                if previous == Some(key.as_str()) {
                    continue;
                }
                if previous.is_some() {
                    s.out.push(b',');
                }
                previous = Some(key.as_str());
                write_key(&mut s.out, key.as_str())?;
                s.out
                    .extend_from_slice(&s.temp[from - self.start..to - self.start]);
            }
        }
        s.out.push(b'}');
        if self.variant {
            s.out.push(b'}');
        }
        s.fields.truncate(self.first_field);
        Ok(())
    }
}

/// `"key":`, escaped as serde_json escapes (plain identifiers need none).
fn write_key(out: &mut Vec<u8>, key: &str) -> Result<(), Error> {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, key).map_err(json_error)?;
    }
    out.push(b':');
    Ok(())
}

impl ser::SerializeMap for Object<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // `Value` keys are strings; others are converted as serde_json does.
        let key = match serde_json::to_value(key).map_err(json_error)? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("map value without a key".into()))?;
        self.field(Key::Owned(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.close()
    }
}

/// Struct and struct-variant fields differ only in the trait's name: each
/// is written with [`Object::field`] and the object ends with
/// [`Object::close`].
macro_rules! struct_like {
    ($($trait:ident),+ $(,)?) => {$(
        impl ser::$trait for Object<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.field(Key::Static(key), value)
            }
            fn end(self) -> Result<(), Error> {
                self.close()
            }
        }
    )+};
}

struct_like!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        zeta: u8,
        alpha: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
        nothing: Option<u8>,
        list: Vec<Inner>,
        kind: Kind,
        tuple: (i64, bool),
        #[serde(rename = "type")]
        typ: f64,
        variant: Kind,
    }

    #[derive(Serialize)]
    struct Inner {
        b: &'static str,
        a: char,
        ab: Vec<Inner>,
    }

    #[derive(Serialize)]
    enum Kind {
        Unit,
        New(u16),
        Struct { y: u8, x: u8 },
    }

    #[test]
    fn same_bytes_as_value_to_string() {
        let sample = Sample {
            zeta: 7,
            alpha: "\"Åsa\"\n\t\u{1}ö".into(),
            skipped: None,
            nothing: None,
            list: vec![
                Inner {
                    b: "x",
                    a: 'ä',
                    ab: vec![Inner {
                        b: "deep",
                        a: 'z',
                        ab: vec![],
                    }],
                },
                Inner {
                    b: "",
                    a: '"',
                    ab: vec![],
                },
            ],
            kind: Kind::New(3),
            tuple: (-5, true),
            typ: 1.5,
            variant: Kind::Struct { y: 1, x: 2 },
        };
        let expected = serde_json::to_value(&sample).unwrap().to_string();
        let got = String::from_utf8(canonical_json(&sample).unwrap()).unwrap();
        assert_eq!(got, expected);
        assert_eq!(content_hash(&sample), value_hash(&sample));
        let nested = json!({"b": [{"d": 1, "c": null}], "a": {"y": "é", "x": 1.25}, "": []});
        assert_eq!(
            String::from_utf8(canonical_json(&nested).unwrap()).unwrap(),
            nested.to_string()
        );
        assert_eq!(
            canonical_json(&Kind::Unit).unwrap(),
            serde_json::to_value(Kind::Unit)
                .unwrap()
                .to_string()
                .into_bytes()
        );
        // Repeated use of the thread's scratch buffers changes nothing.
        for _ in 0..3 {
            assert_eq!(content_hash(&nested), value_hash(&nested));
        }
    }

    #[test]
    fn a_group_without_members_keeps_the_rest_and_hashes_differently() {
        use crate::codes::{GroupType, SchoolType};
        use crate::provtjanst::{GroupMembership, ObjectReference};
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let group = Group {
            id: Uuid::from_u128(9),
            meta: None,
            display_name: "7A".into(),
            group_type: GroupType::Klass,
            school_type: SchoolType::Gr,
            organisation: ObjectReference::new(Uuid::from_u128(5)),
            provisioning_status: None,
            group_memberships: [a, b]
                .map(|id| GroupMembership {
                    person: ObjectReference::new(id),
                })
                .to_vec(),
        };
        let reduced = group_without(&group, &[b]);
        assert_eq!(reduced.group_memberships.len(), 1);
        assert_eq!(reduced.group_memberships[0].person.id, a);
        assert_ne!(content_hash(&reduced), content_hash(&group));
        assert_eq!(
            content_hash(&group_without(&group, &[])),
            content_hash(&group)
        );
        assert_eq!(content_hash(&group), value_hash(&group));
    }
}
