//! Swedish personal identity numbers, validated and masked.
//!
//! Skolverket's provtjänst identifies every pupil and staff member by a
//! 12-character personal identity number (`YYYYMMDDNNNC`), while school
//! systems deliver them in whatever form their users typed. [`CivicNo`]
//! accepts the common forms of personnummer, samordningsnummer and
//! temporary numbers (tillfälligt personnummer, `YYYYMMDDTFNN`), checks the
//! date and the Luhn check digit, and normalises to the 12 characters the
//! Provisioning API expects.
//!
//! A personal identity number is sensitive personal data, so `Display`,
//! `Debug` and every error only ever show the date part (`20090127-****`).
//! The full number is reachable through [`CivicNo::as_str`] alone, which is
//! meant for building API payloads, never for logs. [`mask`] does the same
//! for raw text that did not parse.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Local, NaiveDate};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Samordningsnummer add this to the day of month, so 27 becomes 87.
const COORDINATION_DAY_OFFSET: u32 = 60;

/// Earliest birth year accepted. Personnummer were introduced in 1947 and
/// nobody alive was born before 1900, so an earlier year is a typo in the
/// century (`09090127…`) that the Luhn digit, computed over the last ten
/// digits only, would not catch.
const MIN_YEAR: i32 = 1800;

/// Latest year that still fits the 4-digit year of the normalised form.
const MAX_YEAR: i32 = 9999;

/// At most this many `*` are shown when masking text that does not look like
/// a personal identity number: enough to hint at its length, no more.
const MAX_MASK_STARS: usize = 16;

/// Which kind of number a [`CivicNo`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CivicNoKind {
    /// An ordinary personnummer from the population register.
    Personnummer,
    /// A samordningsnummer (coordination number) for people not registered
    /// in Sweden: the day of month has 60 added.
    Samordningsnummer,
    /// A temporary number (tillfälligt personnummer) issued by the school or
    /// region, `YYYYMMDDTFNN`: two letters where the serial starts and no
    /// check digit.
    Temporary,
}

/// A validated Swedish personal identity number.
///
/// Construct it with [`CivicNo::parse`], [`CivicNo::parse_at`], `FromStr`,
/// `TryFrom<&str>` or serde. Two numbers written in different forms
/// (`090127-2385`, `200901272385`) are equal because only the normalised
/// form is kept; ordering is by that form (year, month, day as written).
///
/// `Display` and `Debug` print the masked form `YYYYMMDD-****`.
/// `Serialize` writes the full 12 characters because the Provisioning API
/// needs them; serialise it only into payloads, never into logs or reports.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CivicNo {
    // Field order matters for the derived `Ord`: the normalised value decides
    // and the other two fields are functions of it.
    /// `YYYYMMDDNNNC` or `YYYYMMDDLLNN`: always 12 ASCII characters.
    value: String,
    kind: CivicNoKind,
    birth_date: NaiveDate,
}

/// Why a text is not a valid personal identity number.
///
/// Every variant carries the input only in masked form (see [`mask`]), and
/// the messages are written for the school administrator who has to correct
/// the number in the source system.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CivicNoError {
    /// The input was empty or only whitespace.
    #[error("personnummer is missing (empty)")]
    Empty,
    /// The text is not written in any accepted form.
    #[error("personnummer {masked} is not written in a recognised form: {reason}")]
    Format {
        /// The input, masked.
        masked: String,
        /// What is wrong with the form.
        reason: String,
    },
    /// The date part is not a real calendar date (or not a plausible birth year).
    #[error("personnummer {masked} does not contain a real date: {reason}")]
    InvalidDate {
        /// The input, masked.
        masked: String,
        /// Which part of the date is wrong.
        reason: String,
    },
    /// The last digit does not match the Luhn check digit of the other nine.
    #[error("personnummer {masked} has an invalid check digit (Luhn); it is probably mistyped")]
    Luhn {
        /// The input, masked.
        masked: String,
    },
    /// The birth date lies after the reference date.
    #[error("personnummer {masked} has a birth date in the future ({birth_date})")]
    FutureDate {
        /// The input, masked.
        masked: String,
        /// The birth date the number states.
        birth_date: NaiveDate,
    },
}

impl CivicNoError {
    /// The masked input the error is about (empty for [`CivicNoError::Empty`]).
    pub fn masked_input(&self) -> &str {
        match self {
            CivicNoError::Empty => "",
            CivicNoError::Format { masked, .. }
            | CivicNoError::InvalidDate { masked, .. }
            | CivicNoError::Luhn { masked }
            | CivicNoError::FutureDate { masked, .. } => masked,
        }
    }
}

/// The separator of a written number, which for the 10-digit form also
/// carries the century.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Separator {
    /// No separator, or `-`: younger than 100.
    Dash,
    /// `+`: 100 years or older.
    Plus,
}

impl CivicNo {
    /// Parses and validates `input`, inferring the century of 10-digit forms
    /// relative to today's local date.
    ///
    /// See [`CivicNo::parse_at`] for the accepted forms and rules.
    pub fn parse(input: &str) -> Result<Self, CivicNoError> {
        Self::parse_at(input, Local::now().date_naive())
    }

    /// Parses and validates `input` relative to the reference date `today`.
    ///
    /// Accepted forms (surrounding whitespace is ignored):
    /// - `YYMMDD-NNNC`, `YYMMDDNNNC`: the most recent century in which the
    ///   birth date is not after `today`;
    /// - `YYMMDD+NNNC`: as above minus 100 years (the `+` marks age 100+);
    /// - `YYYYMMDD-NNNC`, `YYYYMMDDNNNC`;
    /// - `YYYYMMDDTFNN`, `YYYYMMDD-TFNN`: a temporary number; any two ASCII
    ///   letters are accepted in place of `TF` and stored uppercase.
    ///
    /// A day of month from 61 to 91 makes it a samordningsnummer. The date
    /// must exist, must not be after `today`, and for all but temporary
    /// numbers the Luhn check digit over `YYMMDDNNN` must match.
    pub fn parse_at(input: &str, today: NaiveDate) -> Result<Self, CivicNoError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(CivicNoError::Empty);
        }
        let format_error = |reason: &str| CivicNoError::Format {
            masked: mask(text),
            reason: reason.to_string(),
        };
        // Everything below slices by byte index, which is only sound on ASCII.
        if !text.is_ascii() {
            return Err(format_error(
                "it contains characters other than digits, letters, '-' or '+'",
            ));
        }
        let bytes = text.as_bytes();
        let (body, separator) = split_separator(bytes).map_err(format_error)?;

        let (year, rest) = match body.len() {
            10 => {
                if !body.iter().all(u8::is_ascii_digit) {
                    let reason = if body
                        .get(6..8)
                        .is_some_and(|b| b.iter().all(u8::is_ascii_alphabetic))
                    {
                        "a temporary number must be written with a 4-digit year (YYYYMMDDTFNN)"
                    } else {
                        "a 10-digit personnummer may only contain digits (YYMMDD-NNNN)"
                    };
                    return Err(format_error(reason));
                }
                let (yy, rest) = body.split_at(2);
                (Year::TwoDigit(digits_value(yy), separator), rest)
            }
            12 => {
                if separator == Separator::Plus {
                    return Err(format_error(
                        "'+' is only used with a 2-digit year (YYMMDD+NNNN); write a 4-digit year with '-' or no separator",
                    ));
                }
                let (yyyy, rest) = body.split_at(4);
                if !yyyy.iter().all(u8::is_ascii_digit) {
                    return Err(format_error("the year may only contain digits"));
                }
                (Year::FourDigit(digits_value(yyyy)), rest)
            }
            _ => {
                return Err(format_error(
                    "expected 10 or 12 digits, e.g. YYMMDD-NNNN or YYYYMMDDNNNN",
                ));
            }
        };

        // `rest` is MMDD + four serial characters.
        let (month_day, serial) = rest.split_at(4);
        let (month, day_raw) = month_day.split_at(2);
        if !month_day.iter().all(u8::is_ascii_digit) {
            return Err(format_error("the date part may only contain digits"));
        }
        let (serial_head, serial_tail) = serial.split_at(2);
        let temporary = serial_head.iter().all(u8::is_ascii_alphabetic);
        if !serial_tail.iter().all(u8::is_ascii_digit)
            || !(temporary || serial_head.iter().all(u8::is_ascii_digit))
        {
            return Err(format_error(
                "the last four characters must be digits, or two letters and two digits for a temporary number (YYYYMMDDTFNN)",
            ));
        }

        let month = digits_value(month);
        let day_raw = digits_value(day_raw);
        let kind = if temporary {
            CivicNoKind::Temporary
        } else if day_raw > COORDINATION_DAY_OFFSET {
            CivicNoKind::Samordningsnummer
        } else {
            CivicNoKind::Personnummer
        };
        let day = if kind == CivicNoKind::Samordningsnummer {
            day_raw - COORDINATION_DAY_OFFSET
        } else {
            day_raw
        };
        let year = match year {
            Year::FourDigit(y) => i32::try_from(y).unwrap_or(i32::MAX),
            Year::TwoDigit(yy, sep) => infer_year(yy, month, day, sep, today),
        };

        let date_error = |reason: String| CivicNoError::InvalidDate {
            masked: mask(text),
            reason,
        };
        if !(1..=12).contains(&month) {
            return Err(date_error(format!("there is no month {month:02}")));
        }
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(date_error(format!("{year} is not a plausible birth year")));
        }
        let Some(birth_date) = NaiveDate::from_ymd_opt(year, month, day) else {
            let month_name = MONTH_NAMES
                .get(usize::try_from(month).unwrap_or(0).saturating_sub(1))
                .copied()
                .unwrap_or("?");
            let reason = if kind == CivicNoKind::Samordningsnummer {
                format!(
                    "{month_name} {year} has no day {day} (samordningsnummer day {day_raw} minus 60)"
                )
            } else {
                format!("{month_name} {year} has no day {day_raw}")
            };
            return Err(date_error(reason));
        };
        if birth_date > today {
            return Err(CivicNoError::FutureDate {
                masked: mask(text),
                birth_date,
            });
        }

        let mut value = format!("{year:04}");
        value.extend(rest.iter().map(|b| char::from(b.to_ascii_uppercase())));

        if kind != CivicNoKind::Temporary
            && !luhn_valid(value.as_bytes().get(2..).unwrap_or_default())
        {
            return Err(CivicNoError::Luhn { masked: mask(text) });
        }

        Ok(CivicNo {
            value,
            kind,
            birth_date,
        })
    }

    /// The normalised 12 characters Skolverket wants: `YYYYMMDDNNNC`, or
    /// `YYYYMMDDTFNN` for a temporary number, without separator.
    ///
    /// This (with `Serialize`) is the only way to get the unmasked number.
    /// Use it to build API payloads; never log it, put it in an error or
    /// write it to a report.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Same as [`CivicNo::as_str`]; the same warning applies: never log it.
    pub fn normalized(&self) -> &str {
        &self.value
    }

    /// The masked form `YYYYMMDD-****`, as `Display` prints it.
    pub fn masked(&self) -> String {
        // `value` is ASCII by construction, so `get` never misses; the
        // fallback only keeps this free of panics.
        format!("{}-****", self.value.get(..8).unwrap_or_default())
    }

    /// Whether this is a personnummer, samordningsnummer or temporary number.
    pub fn kind(&self) -> CivicNoKind {
        self.kind
    }

    /// The real birth date (for a samordningsnummer the day without the +60).
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Whether the number is a woman's: the second-to-last digit is even.
    pub fn is_female(&self) -> bool {
        self.value
            .as_bytes()
            .get(10)
            .is_some_and(|b| (b.wrapping_sub(b'0')) % 2 == 0)
    }

    /// Whether the number is a man's: the second-to-last digit is odd.
    pub fn is_male(&self) -> bool {
        !self.is_female()
    }
}

/// Year digits as written, before century inference.
enum Year {
    FourDigit(u32),
    TwoDigit(u32, Separator),
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Splits a trimmed ASCII input into its 10 or 12 characters without the
/// separator, and which separator it had. A separator may only stand right
/// before the last four characters.
fn split_separator(bytes: &[u8]) -> Result<(Vec<u8>, Separator), &'static str> {
    let misplaced =
        "the separator must be '-' or '+' and stand right before the last four characters";
    match bytes.len() {
        10 | 12 => {
            if bytes.iter().any(|b| matches!(b, b'-' | b'+')) {
                return Err(misplaced);
            }
            Ok((bytes.to_vec(), Separator::Dash))
        }
        11 | 13 => {
            let at = bytes.len() - 5;
            let (head, tail) = bytes.split_at(at);
            let separator = match tail.first() {
                Some(b'-') => Separator::Dash,
                Some(b'+') => Separator::Plus,
                _ => return Err(misplaced),
            };
            let tail = tail.get(1..).unwrap_or_default();
            let mut body = Vec::with_capacity(bytes.len() - 1);
            body.extend_from_slice(head);
            body.extend_from_slice(tail);
            if body.iter().any(|b| matches!(b, b'-' | b'+')) {
                return Err(misplaced);
            }
            Ok((body, separator))
        }
        n if n < 10 => {
            Err("it is too short; expected 10 or 12 digits, e.g. YYMMDD-NNNN or YYYYMMDDNNNN")
        }
        _ => Err("it is too long; expected 10 or 12 digits, e.g. YYMMDD-NNNN or YYYYMMDDNNNN"),
    }
}

/// The value of a run of ASCII digits (validated by the caller; at most 4).
fn digits_value(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |acc, d| acc * 10 + u32::from(d.wrapping_sub(b'0')))
}

/// The full year of a 2-digit year: the most recent century in which
/// (month, day) of that year is not after `today`, minus 100 for `+`.
///
/// Compares (year, month, day) as numbers rather than building a date so the
/// century is chosen even for an impossible date, which is then reported as
/// such instead of as a century problem.
fn infer_year(yy: u32, month: u32, day: u32, separator: Separator, today: NaiveDate) -> i32 {
    let yy = i32::try_from(yy).unwrap_or(0);
    let century = today.year() - today.year().rem_euclid(100);
    let mut year = century + yy;
    if (year, month, day) > (today.year(), today.month(), today.day()) {
        year -= 100;
    }
    if separator == Separator::Plus {
        year -= 100;
    }
    year
}

/// The Luhn check digit for the given ASCII digits (`YYMMDDNNN`): weights
/// 2, 1, 2, 1, … from the left, digits of products summed.
fn luhn_check_digit(digits: &[u8]) -> u8 {
    let sum: u32 = digits
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.wrapping_sub(b'0'));
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    // `sum % 10` is below 10, so the result fits in a digit.
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// Whether ten ASCII digits `YYMMDDNNNC` end in their Luhn check digit.
fn luhn_valid(ten: &[u8]) -> bool {
    match ten.split_last() {
        Some((last, nine)) if ten.len() == 10 && ten.iter().all(u8::is_ascii_digit) => {
            luhn_check_digit(nine) == last.wrapping_sub(b'0')
        }
        _ => false,
    }
}

/// Masks text that may be a personal identity number, valid or not, so it
/// can appear in an error message or a log.
///
/// The rule never reveals the last four characters:
/// - text starting with 8 digits and at least 12 characters long (the
///   12-digit forms) keeps those 8 digits: `200901272385` → `20090127-****`;
/// - otherwise text starting with 6 digits and at least 10 characters long
///   (the 10-digit forms) keeps those 6: `090127-2385` → `090127-****`;
/// - the kept part is followed by `+****` if a `+` follows it, else `-****`;
/// - anything else becomes one `*` per character, at most 16: `garbage` →
///   `*******`.
///
/// Surrounding whitespace is trimmed first; empty text masks to `""`.
pub fn mask(raw: &str) -> String {
    let text = raw.trim();
    let leading_digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let chars = text.chars().count();
    let keep = if leading_digits >= 8 && chars >= 12 {
        8
    } else if leading_digits >= 6 && chars >= 10 {
        6
    } else {
        return "*".repeat(chars.min(MAX_MASK_STARS));
    };
    // The first `keep` bytes are ASCII digits, so these slices cannot split
    // a character.
    let head = text.get(..keep).unwrap_or_default();
    let separator = if text.as_bytes().get(keep) == Some(&b'+') {
        '+'
    } else {
        '-'
    };
    format!("{head}{separator}****")
}

impl fmt::Display for CivicNo {
    /// Prints the masked form `YYYYMMDD-****`, honouring width and alignment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.masked())
    }
}

impl fmt::Debug for CivicNo {
    /// Prints the masked form, exactly like `Display`, so a `{:?}` of any
    /// struct holding a `CivicNo` is safe to log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for CivicNo {
    type Err = CivicNoError;

    /// Same as [`CivicNo::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CivicNo::parse(s)
    }
}

impl TryFrom<&str> for CivicNo {
    type Error = CivicNoError;

    /// Same as [`CivicNo::parse`].
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        CivicNo::parse(s)
    }
}

impl Serialize for CivicNo {
    /// Writes the normalised 12 characters, as the Provisioning API's
    /// `civicNo.value` requires.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> Deserialize<'de> for CivicNo {
    /// Reads a string with [`CivicNo::parse`].
    ///
    /// An integer is accepted too, because spreadsheets and CSV readers turn
    /// `200901272385` into a number. Below 10^10 it is zero-padded to ten
    /// digits, since a 10-digit form such as `0901272385` loses its leading
    /// zero that way and no 12-digit form is that small.
    ///
    /// Errors name the problem with the value masked. serde's own "invalid
    /// type" messages would quote a number, so decimals are refused here
    /// with a message of our own.
    ///
    /// Uses `deserialize_any` so integers reach us; formats that are not
    /// self-describing cannot deserialize a `CivicNo` (none is used here).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CivicNoVisitor)
    }
}

struct CivicNoVisitor;

impl Visitor<'_> for CivicNoVisitor {
    type Value = CivicNo;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Swedish personal identity number as a string, e.g. \"YYYYMMDDNNNN\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CivicNo, E> {
        CivicNo::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CivicNo, E> {
        if v < 10_000_000_000 {
            self.visit_str(&format!("{v:010}"))
        } else {
            self.visit_str(&v.to_string())
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CivicNo, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom("personnummer cannot be a negative number")),
        }
    }

    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<CivicNo, E> {
        Err(E::custom(
            "personnummer must be a string, not a decimal number",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("test date")
    }

    /// A fixed "today" so century inference is deterministic.
    fn today() -> NaiveDate {
        date(2025, 6, 15)
    }

    /// `YYMMDDNNN` plus its Luhn digit.
    fn with_check(nine: &str) -> String {
        format!("{nine}{}", luhn_check_digit(nine.as_bytes()))
    }

    fn parse(s: &str) -> Result<CivicNo, CivicNoError> {
        CivicNo::parse_at(s, today())
    }

    #[test]
    fn luhn_of_known_example() {
        // 0 9 0 1 2 7 2 3 8 weighted 2,1,…: 0+9+0+1+4+7+4+3+(1+6) = 35 → 5.
        assert_eq!(luhn_check_digit(b"090127238"), 5);
        assert!(luhn_valid(b"0901272385"));
        assert!(!luhn_valid(b"0901272384"));
        assert!(!luhn_valid(b"090127238"));
        assert!(!luhn_valid(b"09012723X5"));
    }

    #[test]
    fn accepts_every_written_form() {
        for form in [
            "090127-2385",
            "0901272385",
            "20090127-2385",
            "200901272385",
            "  200901272385\n",
            "\t090127-2385 ",
        ] {
            let c = parse(form).unwrap_or_else(|e| panic!("{form:?}: {e}"));
            assert_eq!(c.as_str(), "200901272385", "{form:?}");
            assert_eq!(c.normalized(), "200901272385");
            assert_eq!(c.kind(), CivicNoKind::Personnummer);
            assert_eq!(c.birth_date(), date(2009, 1, 27));
        }
    }

    #[test]
    fn sex_comes_from_second_to_last_digit() {
        // 200901272385: second-to-last digit 8 → female.
        let c = parse("200901272385").unwrap();
        assert!(c.is_female());
        assert!(!c.is_male());
        let male = with_check("090127237");
        let c = parse(&male).unwrap();
        assert!(c.is_male());
        assert!(!c.is_female());
    }

    #[test]
    fn dash_picks_most_recent_century_not_in_future() {
        // Today is 2025-06-15.
        let on_today = with_check("250615123");
        assert_eq!(parse(&on_today).unwrap().birth_date(), date(2025, 6, 15));
        let tomorrow = with_check("250616123");
        assert_eq!(parse(&tomorrow).unwrap().birth_date(), date(1925, 6, 16));
        let old = with_check("300101123");
        assert_eq!(parse(&old).unwrap().birth_date(), date(1930, 1, 1));
        // No separator behaves like '-'.
        assert_eq!(
            parse(&tomorrow).unwrap(),
            parse(&format!("{}-{}", &tomorrow[..6], &tomorrow[6..])).unwrap()
        );
    }

    #[test]
    fn plus_means_a_hundred_years_older() {
        let ten = with_check("090127238");
        let plus = format!("{}+{}", &ten[..6], &ten[6..]);
        let c = parse(&plus).unwrap();
        assert_eq!(c.birth_date(), date(1909, 1, 27));
        assert_eq!(c.as_str(), format!("19{ten}"));
        // Born 1925-06-16: 99 years old on 2025-06-15, so '-' would give 1925
        // and '+' gives 1825.
        let ten = with_check("250616123");
        let plus = format!("{}+{}", &ten[..6], &ten[6..]);
        assert_eq!(parse(&plus).unwrap().birth_date(), date(1825, 6, 16));
    }

    #[test]
    fn plus_is_rejected_with_four_digit_year() {
        let err = parse("20090127+2385").unwrap_err();
        assert!(matches!(err, CivicNoError::Format { .. }), "{err:?}");
    }

    #[test]
    fn samordningsnummer_has_day_plus_sixty() {
        let ten = with_check("090187238");
        for form in [
            ten.clone(),
            format!("20{ten}"),
            format!("{}-{}", &ten[..6], &ten[6..]),
        ] {
            let c = parse(&form).unwrap();
            assert_eq!(c.kind(), CivicNoKind::Samordningsnummer);
            assert_eq!(c.birth_date(), date(2009, 1, 27));
            assert_eq!(c.as_str(), format!("20{ten}"));
            assert_eq!(c.to_string(), "20090187-****");
        }
    }

    #[test]
    fn samordningsnummer_with_impossible_day_is_invalid_date() {
        // 30 February + 60 = day 90.
        let ten = with_check("090290123");
        let err = parse(&ten).unwrap_err();
        assert!(matches!(err, CivicNoError::InvalidDate { .. }), "{err:?}");
        assert!(err.to_string().contains("samordningsnummer"), "{err}");
        // Day 92 would be the 32nd.
        let err = parse(&with_check("090192123")).unwrap_err();
        assert!(matches!(err, CivicNoError::InvalidDate { .. }), "{err:?}");
    }

    #[test]
    fn temporary_numbers_female_and_male() {
        let female = parse("20090127TF20").unwrap();
        assert_eq!(female.kind(), CivicNoKind::Temporary);
        assert_eq!(female.as_str(), "20090127TF20");
        assert_eq!(female.birth_date(), date(2009, 1, 27));
        assert!(female.is_female());

        let male = parse("20090127-TF12").unwrap();
        assert_eq!(male.kind(), CivicNoKind::Temporary);
        assert_eq!(male.as_str(), "20090127TF12");
        assert!(male.is_male());
        assert_eq!(male.to_string(), "20090127-****");
    }

    #[test]
    fn temporary_letters_are_uppercased_and_any_letters_accepted() {
        assert_eq!(parse("20090127tf20").unwrap().as_str(), "20090127TF20");
        assert_eq!(parse("20090127Ab33").unwrap().as_str(), "20090127AB33");
    }

    #[test]
    fn temporary_numbers_need_a_real_past_date() {
        assert!(matches!(
            parse("20090230TF20"),
            Err(CivicNoError::InvalidDate { .. })
        ));
        assert!(matches!(
            parse("20300101TF20"),
            Err(CivicNoError::FutureDate { .. })
        ));
    }

    #[test]
    fn temporary_number_with_two_digit_year_is_rejected() {
        let err = parse("090127TF20").unwrap_err();
        assert!(matches!(err, CivicNoError::Format { .. }), "{err:?}");
        assert!(err.to_string().contains("4-digit year"), "{err}");
    }

    #[test]
    fn leap_day_valid_only_in_leap_years() {
        let leap = with_check("080229123");
        assert_eq!(parse(&leap).unwrap().birth_date(), date(2008, 2, 29));
        let not_leap = with_check("090229123");
        assert!(matches!(
            parse(&not_leap),
            Err(CivicNoError::InvalidDate { .. })
        ));
        // 2000 was a leap year, 1900 was not: the separator decides.
        let y2k = with_check("000229123");
        assert_eq!(parse(&y2k).unwrap().birth_date(), date(2000, 2, 29));
        let y1900 = format!("{}+{}", &y2k[..6], &y2k[6..]);
        assert!(matches!(
            parse(&y1900),
            Err(CivicNoError::InvalidDate { .. })
        ));
        assert!(matches!(
            parse(&format!("19{y2k}")),
            Err(CivicNoError::InvalidDate { .. })
        ));
        // Samordningsnummer on a leap day: 29 + 60 = 89.
        let c = parse(&with_check("080289123")).unwrap();
        assert_eq!(c.birth_date(), date(2008, 2, 29));
    }

    #[test]
    fn wrong_check_digit_is_a_luhn_error() {
        let err = parse("200901272384").unwrap_err();
        assert_eq!(
            err,
            CivicNoError::Luhn {
                masked: "20090127-****".into()
            }
        );
        assert_eq!(
            parse("090127-2384").unwrap_err().to_string(),
            "personnummer 090127-**** has an invalid check digit (Luhn); it is probably mistyped"
        );
    }

    #[test]
    fn bad_month_and_day_are_invalid_dates() {
        for nine in [
            "091327123",
            "090027123",
            "090132123",
            "090100123",
            "090431123",
        ] {
            let err = parse(&with_check(nine)).unwrap_err();
            assert!(
                matches!(err, CivicNoError::InvalidDate { .. }),
                "{nine}: {err:?}"
            );
        }
        let err = parse(&with_check("090431123")).unwrap_err();
        assert!(
            err.to_string().contains("April 2009 has no day 31"),
            "{err}"
        );
    }

    #[test]
    fn implausible_year_is_invalid_date() {
        let err = parse("09090127-2385").unwrap_err();
        assert!(matches!(err, CivicNoError::InvalidDate { .. }), "{err:?}");
    }

    #[test]
    fn future_date_is_rejected_for_twelve_digit_forms() {
        let ten = with_check("260101123");
        let err = parse(&format!("20{ten}")).unwrap_err();
        assert_eq!(
            err,
            CivicNoError::FutureDate {
                masked: "20260101-****".into(),
                birth_date: date(2026, 1, 1)
            }
        );
        // Today itself is fine.
        assert!(parse(&format!("20{}", with_check("250615123"))).is_ok());
    }

    #[test]
    fn wrong_lengths_are_format_errors() {
        for s in [
            "09012-2385",
            "090127238",
            "2009012723850",
            "20090127238",
            "200901272385000",
            "1",
        ] {
            let err = parse(s).unwrap_err();
            assert!(matches!(err, CivicNoError::Format { .. }), "{s}: {err:?}");
        }
        assert_eq!(parse("").unwrap_err(), CivicNoError::Empty);
        assert_eq!(parse("   ").unwrap_err(), CivicNoError::Empty);
    }

    #[test]
    fn letters_and_separators_in_wrong_places_are_format_errors() {
        for s in [
            "0901A7-2385",
            "090127-23A5",
            "2009O127-2385",
            "20090127T120",
            "200901271F20",
            "20090127TF2O",
            "TF0901272385",
            "0901-272385",
            "090127--2385",
            "0901272-385",
            "2009-01272385",
            "090127 2385",
            "090127_2385",
            "20090127-TF-2",
        ] {
            let err = parse(s).unwrap_err();
            assert!(matches!(err, CivicNoError::Format { .. }), "{s}: {err:?}");
        }
    }

    #[test]
    fn odd_input_never_panics() {
        for s in [
            "åäö",
            "20090127ÅÄ20",
            "2009012€2385",
            "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
            "++++++++++++",
            "------------",
            "99999999-9999",
            "000000000000",
            "999999+9999",
            "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
            let _ = mask(s);
        }
        // Extreme reference dates must not overflow.
        for today in [NaiveDate::MIN, NaiveDate::MAX] {
            let _ = CivicNo::parse_at("090127-2385", today);
            let _ = CivicNo::parse_at("090127+2385", today);
        }
    }

    #[test]
    fn errors_never_contain_the_last_four_digits() {
        for s in [
            "200901272384",
            "090127-2384",
            "20990127-2385",
            "20090230-2385",
            "2009012-2385x",
        ] {
            let err = parse(s).unwrap_err();
            let shown = format!("{err} {err:?}");
            let last4 = &s[s.len() - 4..];
            assert!(!shown.contains(last4), "{s}: {shown}");
        }
    }

    #[test]
    fn display_and_debug_are_masked() {
        let c = parse("200901272385").unwrap();
        assert_eq!(c.to_string(), "20090127-****");
        assert_eq!(format!("{c:?}"), "20090127-****");
        assert_eq!(format!("{c:#?}"), "20090127-****");
        assert_eq!(format!("[{c:>15}]"), "[  20090127-****]");
        assert_eq!(c.masked(), "20090127-****");

        #[derive(Debug)]
        #[allow(dead_code)]
        struct Pupil {
            name: &'static str,
            civic_no: CivicNo,
        }
        let pupil = Pupil {
            name: "Test",
            civic_no: c,
        };
        for shown in [format!("{pupil:?}"), format!("{pupil:#?}")] {
            assert!(shown.contains("20090127-****"), "{shown}");
            assert!(!shown.contains("2385"), "{shown}");
        }
    }

    #[test]
    fn mask_examples() {
        assert_eq!(mask("090127-2385"), "090127-****");
        assert_eq!(mask("090127+2385"), "090127+****");
        assert_eq!(mask("0901272385"), "090127-****");
        assert_eq!(mask("200901272385"), "20090127-****");
        assert_eq!(mask("20090127-2385"), "20090127-****");
        assert_eq!(mask("20090127TF20"), "20090127-****");
        assert_eq!(mask(" 200901272385 "), "20090127-****");
        assert_eq!(mask("garbage"), "*******");
        assert_eq!(mask("12345"), "*****");
        assert_eq!(mask("åäö"), "***");
        assert_eq!(mask(""), "");
        assert_eq!(mask(&"x".repeat(100)), "*".repeat(16));
    }

    #[test]
    fn serde_round_trip_uses_twelve_characters() {
        let c = parse("090127-2385").unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"200901272385\"");
        let back: CivicNo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let from_short: CivicNo = serde_json::from_str("\"090127-2385\"").unwrap();
        assert_eq!(from_short, c);
        let from_number: CivicNo = serde_json::from_str("200901272385").unwrap();
        assert_eq!(from_number, c);
        // 0901272385 as a number has lost its leading zero.
        let from_short_number: CivicNo = serde_json::from_str("901272385").unwrap();
        assert_eq!(from_short_number, c);
    }

    #[test]
    fn deserialize_errors_are_masked() {
        for json in [
            "\"200901272384\"",
            "\"20090127-2384\"",
            "200901272384",
            "2009012723.84",
            "-200901272384",
            "\"x2009012723840\"",
        ] {
            let err = serde_json::from_str::<CivicNo>(json)
                .unwrap_err()
                .to_string();
            assert!(!err.contains("2384"), "{json}: {err}");
            assert!(!err.contains("23.84"), "{json}: {err}");
        }
        let err = serde_json::from_str::<CivicNo>("\"200901272384\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("20090127-****"), "{err}");
        assert!(err.contains("check digit"), "{err}");
    }

    #[test]
    fn from_str_and_try_from_agree_with_parse() {
        // 2009 is in the past whatever day the tests run.
        let a: CivicNo = "200901272385".parse().unwrap();
        let b = CivicNo::try_from("090127-2385").unwrap();
        let c = CivicNo::parse("20090127-2385").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert!("nonsense".parse::<CivicNo>().is_err());
    }

    #[test]
    fn equality_hash_and_order_follow_the_normalised_value() {
        use std::collections::HashSet;
        let a = parse("090127-2385").unwrap();
        let b = parse("200901272385").unwrap();
        let older = parse(&format!("19{}", with_check("900101123"))).unwrap();
        assert_eq!(a, b);
        let set: HashSet<CivicNo> = [a.clone(), b].into_iter().collect();
        assert_eq!(set.len(), 1);
        assert!(older < a);
    }

    #[test]
    fn error_messages_read_well() {
        assert_eq!(
            parse(&with_check("090230123")).unwrap_err().to_string(),
            "personnummer 090230-**** does not contain a real date: February 2009 has no day 30"
        );
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "personnummer is missing (empty)"
        );
        let err = parse("abc").unwrap_err();
        assert_eq!(err.masked_input(), "***");
        assert!(
            err.to_string()
                .starts_with("personnummer *** is not written in a recognised form"),
            "{err}"
        );
    }
}
