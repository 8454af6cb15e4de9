//! Text from outside (source records, Skolverket's messages, file names,
//! lock notes) shown on a terminal.
//!
//! A value that carries control characters could rewrite what the operator
//! sees: `ESC [2J` clears the screen, `ESC ]8;;…` plants a link, a carriage
//! return overwrites the start of the line, bidirectional overrides reorder
//! it. [`escape`] shows every such character as a visible escape instead
//! (`\x1b`, `\r`, `\u{202e}`), so what is printed is what the data holds.
//! Use it for every value that did not come from skolsync itself; it is
//! applied once, where the value is printed (and [`scrubbed`] also masks
//! personnummer, see [`crate::report::mask::scrub`]).

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with control characters (C0, DEL, C1), bidirectional controls and
/// other invisible format characters escaped; borrowed when there are none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && needs_escape(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`escape`] after [`crate::report::mask::scrub`]: for values that may
/// hold a personnummer.
pub fn scrubbed(text: &str) -> String {
    escape(&crate::report::mask::scrub(text)).into_owned()
}

/// [`escape`] line by line: for messages that are meant to span lines
/// (an abort reason, an error with a list), whose other control
/// characters are still escaped.
pub fn escape_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| escape(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`escape`] of an optional value, `-` for none.
pub fn or_dash(text: Option<&str>) -> Cow<'_, str> {
    text.map_or(Cow::Borrowed("-"), escape)
}

/// Whether `c` must not reach a terminal as it is.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061c}'                 // Arabic letter mark
            | '\u{200b}'..='\u{200f}'  // zero-width and directional marks
            | '\u{2028}' | '\u{2029}'  // line and paragraph separators
            | '\u{202a}'..='\u{202e}'  // directional embeddings and overrides
            | '\u{2060}'..='\u{2064}'  // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'  // directional isolates
            | '\u{feff}'               // byte order mark
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_and_unchanged() {
        for text in ["Anna Berg", "Förskoleklass 8B", "", "a/b-c_d;e"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn control_and_bidi_characters_are_shown_escaped() {
        assert_eq!(escape("a\u{1b}[2Jb"), "a\\x1b[2Jb");
        assert_eq!(escape("line\r\nnext\tx"), "line\\r\\nnext\\tx");
        assert_eq!(escape("\u{7f}\u{0}"), "\\x7f\\x00");
        assert_eq!(escape("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(escape("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(escape("\u{feff}x\u{200b}"), "\\u{feff}x\\u{200b}");
        assert_eq!(or_dash(None), "-");
        assert_eq!(escape_lines("a\u{1b}\nb\rc"), "a\\x1b\nb\\rc");
        assert_eq!(or_dash(Some("\u{7}")), "\\x07");
    }

    #[test]
    fn scrubbed_masks_and_escapes() {
        let out = scrubbed("Anna 200901272385\u{1b}]8;;x");
        assert!(!out.contains("2385") && !out.contains('\u{1b}'), "{out}");
    }
}
