//! Keeping personnummer out of reports.
//!
//! Stages already mask the values they put in rejects; a report masks again
//! anything that still looks like a personal identity number — in values,
//! reasons, locations, source ids and Skolverket's messages — because one
//! slip would put thousands of numbers into files that get mailed around.

use skolsync_model::civic_no::mask;

/// Whether a field name is a personal identity number field (`civicNo`,
/// `Personnummer`, `civic_no.value`, …): its values are always masked.
pub fn is_civic_field(field: &str) -> bool {
    let field = field.to_lowercase();
    field.contains("civic") || field.contains("personnummer") || field.contains("personal_identity")
}

/// A field's value as it may appear in a report: masked entirely for a
/// personnummer field, else with any embedded personnummer masked.
pub fn value_for_report(field: Option<&str>, value: &str) -> String {
    if field.is_some_and(is_civic_field) {
        mask(value)
    } else {
        scrub(value)
    }
}

/// `text` with every run that looks like a personal identity number
/// (`YYYYMMDDNNNC`, `YYMMDDNNNC`, `YYYYMMDD-NNNC`, `YYMMDD-NNNC`, `+` for
/// age 100+, temporary `YYYYMMDDTFNN`) replaced by its masked form
/// (`20090127-****`). Runs inside longer words or numbers (UUIDs, longer
/// digit strings) are left alone.
pub fn scrub(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let starts_word = i == 0 || !is_joined(bytes[i - 1]);
        if bytes[i].is_ascii_digit()
            && starts_word
            && let Some(len) = civic_len(&bytes[i..])
        {
            let ends_word = bytes.get(i + len).is_none_or(|&b| !is_joined(b));
            if ends_word {
                // The match is ASCII, so these are char boundaries.
                out.push_str(&text[copied..i]);
                out.push_str(&mask(&text[i..i + len]));
                i += len;
                copied = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// Characters that make a digit run part of a larger token.
fn is_joined(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// The length of the personal-identity-number form `s` starts with, if any.
fn civic_len(s: &[u8]) -> Option<usize> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = &s[digits..];
    // The last four: digits, or two letters and two digits (temporary numbers).
    let tail = |r: &[u8]| {
        r.len() >= 4
            && r[2..4].iter().all(u8::is_ascii_digit)
            && (r[..2].iter().all(u8::is_ascii_digit) || r[..2].iter().all(u8::is_ascii_alphabetic))
    };
    match digits {
        10 | 12 => Some(digits),
        6 | 8 => {
            if matches!(rest.first(), Some(b'-' | b'+')) && tail(&rest[1..]) {
                Some(digits + 5)
            } else if digits == 8 && tail(rest) && rest[..2].iter().all(u8::is_ascii_alphabetic) {
                Some(12)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_masks_every_written_form_and_nothing_else() {
        let text = "a 200901272385, b 090127-2385; c 20090127-2385 d 0901272385 \
                    e 20090127TF20 f 121212+1212";
        assert_eq!(
            scrub(text),
            "a 20090127-****, b 090127-****; c 20090127-**** d 090127-**** \
             e 20090127-**** f 121212+****"
        );
        for keep in [
            "school unit 46165416",
            "fb22448b-b724-5e53-8a2c-d8b339206901",
            "31279295-1234-5e53-8a2c-d8b339206901",
            "1234567890123456",
            "år 2026",
            "åäö 46165416 ö",
        ] {
            assert_eq!(scrub(keep), keep);
        }
    }

    #[test]
    fn civic_fields_are_masked_whatever_their_form() {
        assert!(is_civic_field("civicNo"));
        assert!(is_civic_field("Personnummer"));
        assert_eq!(
            value_for_report(Some("civicNo.value"), "garbage!"),
            "********"
        );
        assert_eq!(value_for_report(Some("givenName"), "Anna"), "Anna");
    }
}
