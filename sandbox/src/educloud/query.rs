//! Query strings of the SS 12000 list endpoints: filters, `limit`, `expand`,
//! and the opaque `pageToken` that carries a listing's filters and position.

use std::collections::{BTreeSet, HashSet};
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};
use skolsync_model::ss12000::Meta;

use super::ApiError;

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
pub(crate) fn decode_component(raw: &str) -> Result<String, ()> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(())?;
                let text = std::str::from_utf8(hex).map_err(|_| ())?;
                out.push(u8::from_str_radix(text, 16).map_err(|_| ())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

/// Splits a query string or form body into decoded pairs, keeping repeats.
pub(crate) fn parse_urlencoded(raw: &str) -> Result<Vec<(String, String)>, ()> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_component(key)?, decode_component(value)?))
        })
        .collect()
}

/// An RFC 3339 date-time from a query. A `+` offset sent unencoded arrives
/// as a space; that is read as the `+` the client meant.
pub(crate) fn parse_datetime(name: &str, raw: &str) -> Result<DateTime<FixedOffset>, ApiError> {
    let trimmed = raw.trim();
    let repaired = trimmed.replace(' ', "+");
    for candidate in [trimmed, repaired.as_str()] {
        if let Ok(dt) = DateTime::parse_from_rfc3339(candidate) {
            return Ok(dt);
        }
    }
    // Without an offset the time is taken as UTC, as lenient servers do.
    if let Ok(naive) = NaiveDateTime::parse_from_str(trimmed, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(naive.and_utc().fixed_offset());
    }
    Err(ApiError::InvalidFilter(format!(
        "`{name}` must be an RFC 3339 date-time (e.g. 2015-12-12T10:30:00+01:00), got `{raw}`"
    )))
}

/// The filter parameters of one request, by name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params<'q> {
    pairs: &'q [(String, String)],
}

impl<'q> Params<'q> {
    pub(crate) fn new(pairs: &'q [(String, String)]) -> Self {
        Params { pairs }
    }

    /// The last value given for `name`.
    pub(crate) fn one(&self, name: &str) -> Option<&'q str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The values of an array parameter as a set (empty: no filter).
    pub(crate) fn set(&self, name: &str) -> HashSet<String> {
        self.many(name).into_iter().map(str::to_string).collect()
    }

    /// Every value of an array parameter: repeated (`a=1&a=2`, OpenAPI's
    /// default) or comma separated (`a=1,2`).
    pub(crate) fn many(&self, name: &str) -> Vec<&'q str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// An array parameter whose values belong to a code list.
    pub(crate) fn codes<E: FromStr>(&self, name: &str) -> Result<Vec<E>, ApiError> {
        self.many(name)
            .into_iter()
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::InvalidFilter(format!("`{name}`: unknown value `{v}`")))
            })
            .collect()
    }

    /// A date parameter (`YYYY-MM-DD`).
    pub(crate) fn date(&self, name: &str) -> Result<Option<NaiveDate>, ApiError> {
        self.one(name)
            .map(|v| {
                NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ApiError::InvalidFilter(format!(
                        "`{name}` must be a date (YYYY-MM-DD), got `{v}`"
                    ))
                })
            })
            .transpose()
    }

    /// `{prefix}startDate.onOrBefore` and its three siblings.
    pub(crate) fn date_range(&self, prefix: &str) -> Result<DateRange, ApiError> {
        Ok(DateRange {
            start_on_or_before: self.date(&format!("{prefix}startDate.onOrBefore"))?,
            start_on_or_after: self.date(&format!("{prefix}startDate.onOrAfter"))?,
            end_on_or_before: self.date(&format!("{prefix}endDate.onOrBefore"))?,
            end_on_or_after: self.date(&format!("{prefix}endDate.onOrAfter"))?,
        })
    }
}

/// Limits on an entity's start and end dates; an unset date always passes,
/// as the spec says of `endDate` ("Poster med ett endDate som ej är satt,
/// tas alltid med").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DateRange {
    pub start_on_or_before: Option<NaiveDate>,
    pub start_on_or_after: Option<NaiveDate>,
    pub end_on_or_before: Option<NaiveDate>,
    pub end_on_or_after: Option<NaiveDate>,
}

impl DateRange {
    pub(crate) fn is_empty(&self) -> bool {
        *self == DateRange::default()
    }

    pub(crate) fn matches(&self, start: Option<NaiveDate>, end: Option<NaiveDate>) -> bool {
        let start_ok = |limit: Option<NaiveDate>, ok: fn(NaiveDate, NaiveDate) -> bool| {
            limit.is_none_or(|l| start.is_none_or(|s| ok(s, l)))
        };
        let end_ok = |limit: Option<NaiveDate>, ok: fn(NaiveDate, NaiveDate) -> bool| {
            limit.is_none_or(|l| end.is_none_or(|e| ok(e, l)))
        };
        start_ok(self.start_on_or_before, |s, l| s <= l)
            && start_ok(self.start_on_or_after, |s, l| s >= l)
            && end_ok(self.end_on_or_before, |e, l| e <= l)
            && end_ok(self.end_on_or_after, |e, l| e >= l)
    }
}

/// `meta.created.*` and `meta.modified.*`: `after` is exclusive, `before`
/// inclusive, as the spec says.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MetaFilter {
    created_after: Option<DateTime<FixedOffset>>,
    created_before: Option<DateTime<FixedOffset>>,
    modified_after: Option<DateTime<FixedOffset>>,
    modified_before: Option<DateTime<FixedOffset>>,
}

impl MetaFilter {
    pub(crate) fn parse(params: Params<'_>) -> Result<MetaFilter, ApiError> {
        let get = |name: &str| {
            params
                .one(name)
                .map(|v| parse_datetime(name, v))
                .transpose()
        };
        Ok(MetaFilter {
            created_after: get("meta.created.after")?,
            created_before: get("meta.created.before")?,
            modified_after: get("meta.modified.after")?,
            modified_before: get("meta.modified.before")?,
        })
    }

    /// Whether an entity with `meta` passes. An entity never modified counts
    /// as modified when it was created; one without the timestamp a bound
    /// needs cannot be shown to pass it.
    pub(crate) fn matches(&self, meta: &Meta) -> bool {
        let modified = meta.modified.or(meta.created);
        self.created_after
            .is_none_or(|t| meta.created.is_some_and(|c| c > t))
            && self
                .created_before
                .is_none_or(|t| meta.created.is_some_and(|c| c <= t))
            && self
                .modified_after
                .is_none_or(|t| modified.is_some_and(|m| m > t))
            && self
                .modified_before
                .is_none_or(|t| modified.is_some_and(|m| m <= t))
    }
}

/// The parameters every list endpoint shares.
pub(crate) const META_PARAMS: [&str; 4] = [
    "meta.created.before",
    "meta.created.after",
    "meta.modified.before",
    "meta.modified.after",
];

/// Where a listing stands, carried (base64url JSON) in `pageToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cursor {
    /// The endpoint the token belongs to.
    #[serde(rename = "r")]
    pub resource: String,
    /// Position in the stored list of the next entity to consider.
    #[serde(rename = "o")]
    pub offset: usize,
    /// Id of the entity just before `offset`, to find the place again if
    /// entities before it were deleted meanwhile.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub last_id: Option<String>,
    /// The filters of the first request.
    #[serde(rename = "f", default)]
    pub filters: Vec<(String, String)>,
    /// `expand` of the first request.
    #[serde(rename = "e", default)]
    pub expand: Vec<String>,
    /// `expandReferenceNames` of the first request.
    #[serde(rename = "n", default)]
    pub names: bool,
}

impl Cursor {
    pub(crate) fn encode(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    pub(crate) fn decode(token: &str, resource: &str) -> Result<Cursor, ApiError> {
        let invalid = || ApiError::InvalidFilter("invalid pageToken".to_string());
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| invalid())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        if cursor.resource != resource {
            return Err(invalid());
        }
        Ok(cursor)
    }
}

/// A list request, with the filters of its first page.
#[derive(Debug, Clone)]
pub(crate) struct ListRequest {
    /// Requested page size, at least 1.
    pub limit: Option<usize>,
    /// Where to resume, for a follow-up page.
    pub offset: usize,
    /// See [`Cursor::last_id`].
    pub last_id: Option<String>,
    /// Filters in effect (from the query, or carried by the token).
    pub filters: Vec<(String, String)>,
    /// `expand` values.
    pub expand: BTreeSet<String>,
    /// `expandReferenceNames`.
    pub names: bool,
}

impl ListRequest {
    /// Reads a list query. `filter_names` are the spec's filter parameters
    /// of the endpoint (they cannot be combined with `pageToken`); names the
    /// spec does not list are ignored, as servers do.
    pub(crate) fn parse(
        query: Option<&str>,
        resource: &str,
        filter_names: &[&str],
    ) -> Result<ListRequest, ApiError> {
        let pairs = parse_urlencoded(query.unwrap_or(""))
            .map_err(|_| ApiError::InvalidFilter("malformed query string".to_string()))?;
        let mut limit = None;
        let mut token = None;
        let mut expand: Option<BTreeSet<String>> = None;
        let mut names = None;
        let mut filters = Vec::new();
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => limit = Some(parse_limit(&value)?),
                "pageToken" => token = Some(value),
                "expand" => expand.get_or_insert_with(BTreeSet::new).extend(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string),
                ),
                "expandReferenceNames" => names = Some(parse_bool("expandReferenceNames", &value)?),
                name if filter_names.contains(&name) || META_PARAMS.contains(&name) => {
                    filters.push((key, value))
                }
                _ => {}
            }
        }
        match token.filter(|t| !t.trim().is_empty()) {
            Some(token) => {
                if !filters.is_empty() {
                    return Err(ApiError::InvalidFilter(
                        "filters cannot be combined with pageToken (only limit can)".to_string(),
                    ));
                }
                let cursor = Cursor::decode(&token, resource)?;
                Ok(ListRequest {
                    limit,
                    offset: cursor.offset,
                    last_id: cursor.last_id,
                    filters: cursor.filters,
                    expand: expand.unwrap_or_else(|| cursor.expand.into_iter().collect()),
                    names: names.unwrap_or(cursor.names),
                })
            }
            None => Ok(ListRequest {
                limit,
                offset: 0,
                last_id: None,
                filters,
                expand: expand.unwrap_or_default(),
                names: names.unwrap_or(false),
            }),
        }
    }

    /// The token of the page starting at `offset`, just after `last_id`.
    pub(crate) fn next_token(
        &self,
        resource: &str,
        offset: usize,
        last_id: Option<String>,
    ) -> String {
        Cursor {
            resource: resource.to_string(),
            offset,
            last_id,
            filters: self.filters.clone(),
            expand: self.expand.iter().cloned().collect(),
            names: self.names,
        }
        .encode()
    }
}

/// `limit`: a whole number of at least 1 (the spec's `minimum: 1`).
pub(crate) fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    match raw.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(ApiError::InvalidFilter(format!(
            "`limit` must be a whole number of at least 1, got `{raw}`"
        ))),
    }
}

/// A boolean query parameter.
pub(crate) fn parse_bool(name: &str, raw: &str) -> Result<bool, ApiError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::InvalidFilter(format!(
            "`{name}` must be true or false, got `{raw}`"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_pairs_are_decoded_and_repeats_kept() {
        let pairs = parse_urlencoded("a=1&a=2&b=x%20y+z&c").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("a".into(), "2".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into())
            ]
        );
        assert!(parse_urlencoded("a=%zz").is_err());
        assert!(parse_urlencoded("a=%4").is_err());
    }

    #[test]
    fn datetimes_survive_an_unencoded_plus() {
        let a = parse_datetime("t", "2024-08-15T10:30:00+02:00").unwrap();
        let b = parse_datetime("t", "2024-08-15T10:30:00 02:00").unwrap();
        assert_eq!(a, b);
        assert!(parse_datetime("t", "yesterday").is_err());
    }

    #[test]
    fn limit_must_be_positive() {
        assert_eq!(parse_limit("5").unwrap(), 5);
        for bad in ["0", "-1", "ten", "1.5", ""] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_token_carries_filters_and_refuses_new_ones() {
        let first = ListRequest::parse(
            Some("meta.modified.after=2024-01-01T00:00:00Z&limit=2&expand=syllabus&unknown=1"),
            "activities",
            &[],
        )
        .unwrap();
        assert_eq!(first.filters.len(), 1);
        let token = first.next_token("activities", 2, Some("x".into()));
        let next = ListRequest::parse(
            Some(&format!("pageToken={token}&limit=3")),
            "activities",
            &[],
        )
        .unwrap();
        assert_eq!(next.offset, 2);
        assert_eq!(next.filters, first.filters);
        assert!(next.expand.contains("syllabus"));
        assert_eq!(next.limit, Some(3));
        let mixed = format!("pageToken={token}&meta.modified.after=2024-01-01T00:00:00Z");
        assert!(ListRequest::parse(Some(&mixed), "activities", &[]).is_err());
        // A token of another endpoint is refused.
        assert!(ListRequest::parse(Some(&format!("pageToken={token}")), "persons", &[]).is_err());
        assert!(ListRequest::parse(Some("pageToken=garbage!"), "persons", &[]).is_err());
    }

    #[test]
    fn date_ranges_let_unset_dates_pass() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let range = DateRange {
            end_on_or_after: Some(d("2024-06-01")),
            ..DateRange::default()
        };
        assert!(range.matches(Some(d("2020-01-01")), None));
        assert!(range.matches(None, Some(d("2024-06-01"))));
        assert!(!range.matches(None, Some(d("2024-05-31"))));
    }
}
