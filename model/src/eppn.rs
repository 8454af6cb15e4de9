//! Skolverket's EPPN rule 3047: an EPPN must not resemble the person's name.
//!
//! One rule for the transform (which warns before sending) and the sandbox's
//! Provisioning API emulator (which answers with warning 3047). The sandbox
//! calls it on the fields it read from the request itself.
//!
//! The rule as the service's message states it: the local part of the EPPN
//! contains the first three letters of the family name, or the first two
//! letters of the family name together with the first two of the given
//! name (either order). Case is ignored and å/ä/ö and common accents are
//! folded (`Åberg` matches `aberg`), so a transliterated name still counts.

/// Whether `eppn` resembles the name `given_name` `family_name` (rule 3047).
/// Only the local part (before `@`) counts, not the domain.
pub fn resembles_name(eppn: &str, given_name: &str, family_name: &str) -> bool {
    let local = fold(eppn.split('@').next().unwrap_or_default());
    if first_letters(family_name, 3).is_some_and(|f3| local.contains(&f3)) {
        return true;
    }
    match (first_letters(family_name, 2), first_letters(given_name, 2)) {
        (Some(f2), Some(g2)) => {
            local.contains(&format!("{f2}{g2}")) || local.contains(&format!("{g2}{f2}"))
        }
        _ => false,
    }
}

/// Lowercase with å, ä, ö and common accents folded.
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'å' | 'ä' | 'à' | 'á' | 'â' => 'a',
            'ö' | 'ø' | 'ó' | 'ò' | 'ô' => 'o',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ü' | 'ú' | 'ù' => 'u',
            other => other,
        })
        .collect()
}

/// The first `n` letters of `name`, folded; `None` when it has fewer.
fn first_letters(name: &str, n: usize) -> Option<String> {
    let letters: String = fold(name)
        .chars()
        .filter(|c| c.is_alphabetic())
        .take(n)
        .collect();
    (letters.chars().count() == n).then_some(letters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_3047_message() {
        assert!(resembles_name(
            "efraimsdotter09@edu.huvudman.se",
            "Anna",
            "Efraimsdotter"
        ));
        assert!(resembles_name("xlapi7@edu.se", "Pippi", "Långstrump"));
        assert!(resembles_name("pila01@edu.se", "Pippi", "Långstrump"));
        assert!(resembles_name("LAN99@edu.se", "Pippi", "Långstrump"));
        assert!(!resembles_name(
            "fc79e369-18a3@edu.huvudman.se",
            "Pippi",
            "Långstrump"
        ));
        // The domain does not count, only the local part.
        assert!(!resembles_name("x1@langstrump.se", "Pippi", "Långstrump"));
        // Too short a name has no three (or two) first letters to match.
        assert!(!resembles_name("xy@edu.se", "P", "Li"));
    }
}
