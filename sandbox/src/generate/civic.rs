//! Synthetic personal identity numbers: personnummer, samordningsnummer and
//! temporary numbers, unique by construction.
//!
//! Uniqueness comes from a counter per birth date and kind: the serial of
//! the `n`-th number of a day is a fixed permutation of `n`, so no number is
//! ever drawn twice and no set of used numbers has to be kept. A full day
//! spills into the next one, as a real population register never would, but
//! only at sizes far beyond a municipality.

use std::collections::HashMap;

use chrono::{Datelike, Days, NaiveDate};

/// Which kind of number to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// `YYYYMMDDNNNC`.
    Personnummer,
    /// `YYYYMMDDNNNC` with 60 added to the day.
    Samordningsnummer,
    /// `YYYYMMDDTFNN`, no check digit.
    Temporary,
}

/// A generated number with what it says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Generated {
    /// The 12 characters.
    pub value: String,
    /// Legal sex as the number encodes it (odd serial digit: male).
    pub male: bool,
}

/// Hands out unique numbers.
#[derive(Debug, Default)]
pub(crate) struct Allocator {
    used: HashMap<(NaiveDate, Kind), u16>,
    salt: u32,
}

/// Serials per day: three digits for the Luhn kinds, two for temporary ones.
const fn capacity(kind: Kind) -> u16 {
    match kind {
        Kind::Temporary => 100,
        _ => 1000,
    }
}

/// A multiplier coprime to the capacity, so `n * STEP mod capacity` is a
/// permutation.
const fn step(kind: Kind) -> u32 {
    match kind {
        Kind::Temporary => 37,
        _ => 389,
    }
}

impl Allocator {
    /// An allocator whose serial order depends on `salt` (the seed).
    pub fn new(salt: u64) -> Self {
        Allocator {
            used: HashMap::new(),
            // Folding the seed to 32 bits is enough to vary the offsets.
            salt: (salt ^ (salt >> 32)) as u32,
        }
    }

    /// The next unused number of `kind` for someone born on `birth` (or on
    /// the following days if that day is full).
    pub fn next(&mut self, mut birth: NaiveDate, kind: Kind) -> Generated {
        loop {
            let counter = self.used.entry((birth, kind)).or_insert(0);
            if *counter < capacity(kind) {
                let n = u32::from(*counter);
                *counter += 1;
                let day_offset = day_hash(birth, self.salt);
                let cap = u32::from(capacity(kind));
                let serial = (n * step(kind) + day_offset) % cap;
                return build(birth, kind, serial);
            }
            birth = birth.checked_add_days(Days::new(1)).unwrap_or(birth);
        }
    }
}

fn day_hash(day: NaiveDate, salt: u32) -> u32 {
    let x = (day.num_days_from_ce() as u32).wrapping_mul(2_654_435_761) ^ salt;
    x.rotate_left(13).wrapping_mul(40_503) >> 8
}

/// Builds the 12 characters for a serial (0–999, or 0–99 for temporary).
pub(crate) fn build(birth: NaiveDate, kind: Kind, serial: u32) -> Generated {
    let day = match kind {
        Kind::Samordningsnummer => birth.day() + 60,
        _ => birth.day(),
    };
    let date = format!("{:04}{:02}{:02}", birth.year(), birth.month(), day);
    match kind {
        Kind::Temporary => {
            // The second-to-last digit encodes sex: odd for men.
            Generated {
                value: format!("{date}TF{serial:02}"),
                male: (serial / 10) % 2 == 1,
            }
        }
        _ => {
            let serial = format!("{serial:03}");
            let check = luhn_digit(&format!("{}{serial}", &date[2..]));
            let male = serial.as_bytes()[2] % 2 == 1;
            Generated {
                value: format!("{date}{serial}{check}"),
                male,
            }
        }
    }
}

/// The Luhn check digit over the digits of `payload` (the nine digits
/// `YYMMDDNNN` of a personnummer). Non-digits are ignored.
pub(crate) fn luhn_digit(payload: &str) -> u8 {
    let sum: u32 = payload
        .bytes()
        .filter(u8::is_ascii_digit)
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A Luhn-valid 10-digit organisation number starting with `prefix`
/// (six digits, e.g. `212000` for municipalities), with `serial` (0–999).
pub(crate) fn organisation_number(prefix: &str, serial: u32) -> String {
    let body = format!("{prefix}{:03}", serial % 1000);
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

/// `value` with the Luhn digit changed, so the number is well formed but
/// fails the check (dirt).
pub(crate) fn break_luhn(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut()
        && last.is_ascii_digit()
    {
        *last = b'0' + (*last - b'0' + 1) % 10;
    }
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_string())
}

/// `value` with an impossible date (`month_day`, e.g. `0230` or `1301`) but
/// a correct Luhn digit for it, so only the date is wrong (dirt).
pub(crate) fn break_date(value: &str, month_day: &str) -> String {
    let century = &value[..2];
    let yy = &value[2..4];
    let serial = &value[8..11];
    let check = luhn_digit(&format!("{yy}{month_day}{serial}"));
    format!("{century}{yy}{month_day}{serial}{check}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_skolverkets_example() {
        // 200901272385 is the spec's example personnummer.
        assert_eq!(luhn_digit("090127238"), 5);
        // 212000-0142 is Stockholm's organisation number.
        assert_eq!(luhn_digit("212000014"), 2);
    }

    #[test]
    fn numbers_of_one_day_are_unique_and_spill_over() {
        let mut alloc = Allocator::new(7);
        let day = NaiveDate::from_ymd_opt(2014, 3, 9).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1500 {
            let g = alloc.next(day, Kind::Personnummer);
            assert!(seen.insert(g.value));
        }
        assert!(seen.iter().any(|v| v.starts_with("20140310")));
    }

    #[test]
    fn broken_numbers_differ_only_where_intended() {
        let ok = "200901272385";
        assert_eq!(break_luhn(ok), "200901272386");
        let bad_date = break_date(ok, "0230");
        assert_eq!(&bad_date[..8], "20090230");
        assert_eq!(luhn_digit(&bad_date[2..11]), bad_date.as_bytes()[11] - b'0');
    }
}
