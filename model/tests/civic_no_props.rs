//! Property tests for `CivicNo`: every written form of a valid number parses
//! to the same normalised value, a wrong check digit is always caught, odd
//! input never panics and the masked forms never show the serial.
//!
//! The Luhn digit is computed here independently of the module so the tests
//! do not just agree with themselves.

// Tests assert by unwrapping; outside `#[test]` functions clippy.toml does not see that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Datelike, Days, NaiveDate};
use proptest::prelude::*;
use skolsync_model::civic_no::{CivicNo, CivicNoError, CivicNoKind, mask};

/// Luhn check digit of nine ASCII digits `YYMMDDNNN`.
fn luhn(nine: &str) -> u32 {
    let sum: u32 = nine
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            let p = if i % 2 == 0 { d * 2 } else { d };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

/// Birth dates 1900-01-01 ..= 2025-12-31.
fn birth_date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let span = u64::try_from((last - first).num_days()).unwrap();
    (0..=span).prop_map(move |d| first + Days::new(d))
}

/// A birth date and a reference date 0 to about 150 years later, so both
/// separators of the 10-digit form get exercised.
fn birth_and_today() -> impl Strategy<Value = (NaiveDate, NaiveDate)> {
    (birth_date(), 0u64..=150 * 366).prop_map(|(birth, later)| (birth, birth + Days::new(later)))
}

/// `YYMMDDNNNC` for a birth date (day + `day_offset`) and serial.
fn ten_digits(birth: NaiveDate, day_offset: u32, serial: u32) -> String {
    let nine = format!(
        "{:02}{:02}{:02}{:03}",
        birth.year() % 100,
        birth.month(),
        birth.day() + day_offset,
        serial
    );
    let check = luhn(&nine);
    format!("{nine}{check}")
}

/// Whether someone born on `birth` is 100 or older on `today`, which is what
/// the `+` separator says. Compared as numbers so 29 February needs no
/// special case.
fn is_centenarian(birth: NaiveDate, today: NaiveDate) -> bool {
    (birth.year() + 100, birth.month(), birth.day()) <= (today.year(), today.month(), today.day())
}

/// Every accepted written form of a number.
fn written_forms(birth: NaiveDate, today: NaiveDate, ten: &str) -> Vec<String> {
    let century = birth.year() / 100;
    let (date6, serial4) = ten.split_at(6);
    let sep = if is_centenarian(birth, today) {
        '+'
    } else {
        '-'
    };
    let mut forms = vec![
        format!("{date6}{sep}{serial4}"),
        format!("{century}{date6}-{serial4}"),
        format!("{century}{ten}"),
        format!("  {century}{ten}\t"),
    ];
    if sep == '-' {
        forms.push(ten.to_string());
    }
    forms
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// (1) All written forms of a valid number parse to the same 12 characters.
    #[test]
    fn every_form_parses_to_the_same_value((birth, today) in birth_and_today(), serial in 0u32..1000) {
        let ten = ten_digits(birth, 0, serial);
        let want = format!("{}{ten}", birth.year() / 100);
        for form in written_forms(birth, today, &ten) {
            let parsed = CivicNo::parse_at(&form, today);
            prop_assert!(parsed.is_ok(), "{form:?} on {today}: {parsed:?}");
            let c = parsed.unwrap();
            prop_assert_eq!(c.as_str(), want.as_str());
            prop_assert_eq!(c.normalized(), want.as_str());
            prop_assert_eq!(c.birth_date(), birth);
            prop_assert_eq!(c.kind(), CivicNoKind::Personnummer);
            prop_assert_eq!(c.is_female(), serial % 2 == 0);
        }
    }

    /// (2) Any other final digit is a Luhn error, in every form.
    #[test]
    fn wrong_check_digit_is_always_a_luhn_error(
        (birth, today) in birth_and_today(),
        serial in 0u32..1000,
        wrong in 0u32..10,
    ) {
        let good = ten_digits(birth, 0, serial);
        let right = good.chars().last().and_then(|c| c.to_digit(10)).unwrap();
        prop_assume!(wrong != right);
        let bad = format!("{}{wrong}", &good[..9]);
        for form in written_forms(birth, today, &bad) {
            let result = CivicNo::parse_at(&form, today);
            prop_assert!(
                matches!(result, Err(CivicNoError::Luhn { .. })),
                "{form:?}: {result:?}"
            );
        }
    }

    /// (3a) The parser and the masker never panic on arbitrary text.
    #[test]
    fn never_panics_on_any_string(s in ".*") {
        let _ = CivicNo::parse(&s);
        let _ = mask(&s);
    }

    /// (3b) Nor on text made of the characters a number is written with.
    #[test]
    fn never_panics_on_number_like_strings(s in "[0-9+\\-TF ]{0,16}") {
        let today = NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
        if let Err(err) = CivicNo::parse_at(&s, today) {
            // Errors carry the input only as `mask` shows it.
            if err != CivicNoError::Empty {
                prop_assert_eq!(err.masked_input(), mask(&s));
            }
        }
    }

    /// (4) Display and Debug show the date part and `-****`, never the last
    /// four characters. (A plain `contains` check would fail whenever the
    /// serial happens to occur in the date, e.g. 2009 in 20090127…, so the
    /// exact shape is checked instead.)
    #[test]
    fn display_never_shows_the_last_four((birth, today) in birth_and_today(), serial in 0u32..1000, coordination in any::<bool>()) {
        let offset = if coordination { 60 } else { 0 };
        let ten = ten_digits(birth, offset, serial);
        let c = CivicNo::parse_at(&format!("{}{ten}", birth.year() / 100), today).unwrap();
        let (date8, last4) = c.as_str().split_at(8);
        for shown in [c.to_string(), format!("{c:?}"), format!("{:?}", Some(&c))] {
            prop_assert!(shown.contains(&format!("{date8}-****")), "{shown}");
            prop_assert_eq!(shown.contains(last4), date8.contains(last4), "{}", shown);
        }
    }

    /// (5) Samordningsnummer (day + 60) parse with the real birth date.
    #[test]
    fn samordningsnummer_report_kind_and_birth_date((birth, today) in birth_and_today(), serial in 0u32..1000) {
        let ten = ten_digits(birth, 60, serial);
        let want = format!("{}{ten}", birth.year() / 100);
        for form in written_forms(birth, today, &ten) {
            let parsed = CivicNo::parse_at(&form, today);
            prop_assert!(parsed.is_ok(), "{form:?} on {today}: {parsed:?}");
            let c = parsed.unwrap();
            prop_assert_eq!(c.kind(), CivicNoKind::Samordningsnummer);
            prop_assert_eq!(c.birth_date(), birth);
            prop_assert_eq!(c.as_str(), want.as_str());
        }
    }

    /// Temporary numbers take any two letters and keep the date.
    #[test]
    fn temporary_numbers_parse(birth in birth_date(), letters in "[A-Za-z]{2}", digits in 0u32..100, dash in any::<bool>()) {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let sep = if dash { "-" } else { "" };
        let form = format!("{}{sep}{letters}{digits:02}", birth.format("%Y%m%d"));
        let c = CivicNo::parse_at(&form, today).unwrap();
        prop_assert_eq!(c.kind(), CivicNoKind::Temporary);
        prop_assert_eq!(c.birth_date(), birth);
        prop_assert_eq!(c.is_female(), (digits / 10) % 2 == 0);
        let want = format!("{}{}{digits:02}", birth.format("%Y%m%d"), letters.to_ascii_uppercase());
        prop_assert_eq!(c.as_str(), want.as_str());
    }
}
