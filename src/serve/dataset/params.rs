//! The query parameters of the list calls and `/deletedEntities`.
//!
//! Read from the raw query rather than through serde so that a repeated
//! parameter (`entities=Person&entities=Group`) is seen, a value given
//! twice where one is expected is refused rather than silently picked, and
//! every refusal names the parameter and the value.
//!
//! Parameters SS 12000 defines but this API does not implement (`expand`,
//! `sortkey`, `relationship.*`, …) and unknown ones are ignored: the client
//! gets the whole unsorted, unexpanded answer, which is what Skolverket's
//! client asks for anyway. With a `pageToken` the filters are refused, as
//! the spec says ("kan inte kombineras med pageToken"); `limit` is not a
//! filter and may accompany a token (it sets that page's size).

use chrono::{DateTime, Utc};
use skolsync_model::ss12000::EntityKind;

use crate::serve::error::ApiError;
use crate::serve::state::MAX_PAGE_LIMIT;
use crate::state::served::{ServedFilter, served_kind};

/// The `meta.*` filters of the list calls, in the order of [`ServedFilter`].
pub(super) const META_FILTERS: [&str; 4] = [
    "meta.created.before",
    "meta.created.after",
    "meta.modified.before",
    "meta.modified.after",
];

/// Parameters that are ignored alone but refused with a page token (the
/// spec names `sortkey` among the filters a token excludes).
const IGNORED_FILTERS: [&str; 2] = ["sortkey", "expand"];

/// The prefix of SS 12000's relationship filters (ignored alone).
const RELATIONSHIP_PREFIX: &str = "relationship.";

/// The longest value echoed back in an error.
const ECHO_MAX: usize = 80;

/// A call's query parameters, decoded, in order.
#[derive(Debug, Default)]
pub(super) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Decodes a raw query string (`None`: no query).
    pub(super) fn parse(query: Option<&str>) -> Params {
        let pairs = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Params { pairs }
    }

    /// The value of `name`, which may be given once.
    pub(super) fn one(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!("`{name}` is given more than once; give it once"),
            ));
        }
        Ok(first)
    }

    /// Every value of `name`, in order.
    pub(super) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The page size asked for: `None` when not given; an integer ≥ 1,
    /// clamped to [`MAX_PAGE_LIMIT`].
    pub(super) fn limit(&self) -> Result<Option<usize>, ApiError> {
        let Some(text) = self.one("limit")? else {
            return Ok(None);
        };
        let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
        if !digits || text.bytes().all(|b| b == b'0') {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "`limit` must be an integer of at least 1, not `{}`",
                    echo(text)
                ),
            ));
        }
        // More digits than a usize holds is still "as many as allowed".
        let asked = text.parse::<usize>().unwrap_or(MAX_PAGE_LIMIT);
        Ok(Some(asked.min(MAX_PAGE_LIMIT)))
    }

    /// The RFC 3339 date-time `name`, if given.
    pub(super) fn date(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        self.one(name)?
            .map(|text| parse_date(name, text))
            .transpose()
    }

    /// The `meta.*` filters of a list call.
    pub(super) fn list_filter(&self) -> Result<ServedFilter, ApiError> {
        let [
            created_before,
            created_after,
            modified_before,
            modified_after,
        ] = META_FILTERS;
        Ok(ServedFilter {
            created_before: self.date(created_before)?,
            created_after: self.date(created_after)?,
            modified_before: self.date(modified_before)?,
            modified_after: self.date(modified_after)?,
        })
    }

    /// The types `entities` asks for (repeated, comma-separated or both),
    /// in the order first named; `None` when not given.
    pub(super) fn entities(&self) -> Result<Option<Vec<EntityKind>>, ApiError> {
        let mut given = false;
        let mut kinds = Vec::new();
        for value in self.all("entities") {
            given = true;
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let kind = served_kind(name).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!(
                            "`entities` names an unknown type `{}`; expected Organisation, \
                             Person, Group, Duty or Activity",
                            echo(name)
                        ),
                    )
                })?;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        if given && kinds.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                "`entities` is given but names no type; leave it out for all types",
            ));
        }
        Ok(given.then_some(kinds))
    }

    /// Refuses the call when a filter accompanies a page token: one of
    /// `filters`, `sortkey`, `expand` or a `relationship.*` parameter.
    pub(super) fn refuse_filters_with_token(&self, filters: &[&str]) -> Result<(), ApiError> {
        let is_filter = |name: &str| {
            filters.contains(&name)
                || IGNORED_FILTERS.contains(&name)
                || name.starts_with(RELATIONSHIP_PREFIX)
        };
        match self.pairs.iter().find(|(name, _)| is_filter(name)) {
            Some((name, _)) => Err(ApiError::bad_request(
                "invalid_filter",
                format!(
                    "`{}` cannot be combined with `pageToken` (kan inte kombineras med \
                     pageToken): the token carries the filters of the call that began the \
                     read; send the token alone, with `limit` at most",
                    echo(name)
                ),
            )),
            None => Ok(()),
        }
    }
}

/// Parses an RFC 3339 date-time with any offset. A `+` sent unencoded
/// arrives as a space (`…10:30:00 01:00`); that is read as the `+` meant.
fn parse_date(name: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    let parsed = DateTime::parse_from_rfc3339(text).or_else(|e| {
        // Only a space after the time can be a decoded `+`.
        match text.rfind(' ') {
            Some(at) if at >= "YYYY-MM-DDTHH:MM:SS".len() => {
                let mut mended = text.to_string();
                mended.replace_range(at..=at, "+");
                DateTime::parse_from_rfc3339(&mended)
            }
            _ => Err(e),
        }
    });
    parsed.map(|t| t.with_timezone(&Utc)).map_err(|e| {
        ApiError::bad_request(
            "invalid_filter",
            format!(
                "`{name}` is not an RFC 3339 date-time: `{}` ({e}); expected e.g. \
                 2015-12-12T10:30:00+01:00 (send `+` as %2B)",
                echo(text)
            ),
        )
    })
}

/// `text` as echoed back in an error: at most [`ECHO_MAX`] characters.
pub(super) fn echo(text: &str) -> String {
    match text.char_indices().nth(ECHO_MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> Params {
        Params::parse(Some(query))
    }

    #[test]
    fn dates_take_any_offset_and_an_unencoded_plus() {
        let p = params(
            "meta.modified.after=2015-12-12T10:30:00+01:00&a=2015-12-12T10:30:00%2B01:00&b=2015-12-12T09:30:00Z",
        );
        let expected = DateTime::parse_from_rfc3339("2015-12-12T09:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(p.date("meta.modified.after").unwrap(), Some(expected));
        assert_eq!(p.date("a").unwrap(), Some(expected));
        assert_eq!(p.date("b").unwrap(), Some(expected));
        assert_eq!(p.date("c").unwrap(), None);
    }

    #[test]
    fn a_bad_date_names_the_parameter_and_the_value() {
        let e = params("meta.created.before=yesterday")
            .list_filter()
            .unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(e.message.contains("`meta.created.before`"), "{}", e.message);
        assert!(e.message.contains("`yesterday`"), "{}", e.message);
    }

    #[test]
    fn limits_are_positive_integers_clamped_to_the_maximum() {
        assert_eq!(params("").limit().unwrap(), None);
        assert_eq!(params("limit=7").limit().unwrap(), Some(7));
        assert_eq!(
            params("limit=999999").limit().unwrap(),
            Some(MAX_PAGE_LIMIT)
        );
        assert_eq!(
            params("limit=99999999999999999999999").limit().unwrap(),
            Some(MAX_PAGE_LIMIT)
        );
        for bad in ["0", "-1", "1.5", "ten", "", "00"] {
            let e = params(&format!("limit={bad}")).limit().unwrap_err();
            assert!(e.message.contains("`limit`"), "{bad}: {}", e.message);
        }
        assert!(params("limit=1&limit=2").limit().is_err());
    }

    #[test]
    fn entities_are_repeated_or_comma_separated_and_known() {
        let p = params("entities=Person&entities=Group,Duty&entities=person");
        assert_eq!(
            p.entities().unwrap(),
            Some(vec![
                EntityKind::Person,
                EntityKind::Group,
                EntityKind::Duty
            ])
        );
        assert_eq!(params("").entities().unwrap(), None);
        let e = params("entities=Person,Syllabus").entities().unwrap_err();
        assert!(e.message.contains("`Syllabus`"), "{}", e.message);
        assert!(params("entities=").entities().is_err());
    }

    #[test]
    fn filters_with_a_token_are_named() {
        let names = &META_FILTERS;
        assert!(
            params("pageToken=x&limit=5")
                .refuse_filters_with_token(names)
                .is_ok()
        );
        assert!(
            params("pageToken=x&foo=1")
                .refuse_filters_with_token(names)
                .is_ok()
        );
        for filter in [
            "meta.modified.after=x",
            "sortkey=id",
            "expand=all",
            "relationship.x=1",
        ] {
            let e = params(&format!("pageToken=x&{filter}"))
                .refuse_filters_with_token(names)
                .unwrap_err();
            assert!(e.message.contains("pageToken"), "{}", e.message);
        }
    }
}
