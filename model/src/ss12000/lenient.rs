//! Lenient deserialisers for what real systems send: numbers where strings
//! belong, dates with a time part, blank strings for absent values, `null`
//! for empty lists, one reference where a list belongs.
//!
//! Each accepts the standard form and the variations seen in the wild, and
//! names the value in its error when it can read neither.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::common::Reference;

/// A string that may arrive as a JSON number.
pub(super) struct StringOrNumber(pub(super) String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            S(String),
            U(u64),
            I(i64),
        }
        match Shape::deserialize(deserializer) {
            Ok(Shape::S(s)) => Ok(StringOrNumber(s)),
            Ok(Shape::U(n)) => Ok(StringOrNumber(n.to_string())),
            Ok(Shape::I(n)) => Ok(StringOrNumber(n.to_string())),
            Err(_) => Err(de::Error::custom("expected a string or a number")),
        }
    }
}

/// `null` and a missing list both mean "none".
pub(super) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// An optional string where numbers are accepted and blank means absent.
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let raw = Option::<StringOrNumber>::deserialize(deserializer)?;
    Ok(raw
        .map(|s| s.0.trim().to_string())
        .filter(|s| !s.is_empty()))
}

/// A required string where numbers are accepted.
pub(super) fn required_lenient_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    Ok(StringOrNumber::deserialize(deserializer)?
        .0
        .trim()
        .to_string())
}

/// A page token where `""` means "no more pages" (seen in the wild).
pub(super) fn empty_as_none<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|s| !s.trim().is_empty()))
}

/// A small unsigned number that may arrive as a string (`"6"`) or be blank.
pub(super) fn lenient_u8<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u8>, D::Error> {
    match Option::<StringOrNumber>::deserialize(deserializer)? {
        None => Ok(None),
        Some(StringOrNumber(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            s.parse::<u8>()
                .map(Some)
                .map_err(|_| de::Error::custom(format!("`{s}` is not a whole number 0–255")))
        }
    }
}

/// A boolean that may arrive as `"true"`/`"false"`.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        B(bool),
        S(String),
    }
    match Option::<Shape>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Shape::B(b)) => Ok(Some(b)),
        Some(Shape::S(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            other => Err(de::Error::custom(format!("`{other}` is not true or false"))),
        },
    }
}

/// A date as `YYYY-MM-DD`; a date-time is cut to its date, blank is absent.
pub(super) fn lenient_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<NaiveDate>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let date_part = s.get(..10).unwrap_or(s);
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| de::Error::custom(format!("`{s}` is not a date (expected YYYY-MM-DD)")))
}

/// An RFC 3339 date-time; one without an offset is taken as UTC.
pub(super) fn lenient_datetime<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    let Some(raw) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(Some(dt));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(Some(naive.and_utc().fixed_offset()));
        }
    }
    Err(de::Error::custom(format!(
        "`{s}` is not a date-time (expected RFC 3339, e.g. 2024-08-15T10:30:00+02:00)"
    )))
}

/// One reference or a list of them.
pub(super) fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Reference>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        One(Reference),
        Many(Vec<Reference>),
    }
    match Option::<Shape>::deserialize(deserializer) {
        Ok(None) => Ok(Vec::new()),
        Ok(Some(Shape::One(r))) => Ok(vec![r]),
        Ok(Some(Shape::Many(v))) => Ok(v),
        Err(_) => Err(de::Error::custom(
            "expected a reference `{\"id\": …}` or a list of them",
        )),
    }
}
