//! Swedish names for persons and schools.
//!
//! Every name is representable in Windows-1252 (å, ä, ö, é, ü but no ć or
//! ş), so the CSV export can write any of them in that encoding.

/// Given names typical of girls and women in Sweden, old and new.
pub(crate) const FEMALE_GIVEN: &[&str] = &[
    "Alice",
    "Astrid",
    "Maja",
    "Elsa",
    "Ebba",
    "Wilma",
    "Alma",
    "Selma",
    "Saga",
    "Agnes",
    "Freja",
    "Olivia",
    "Vera",
    "Ella",
    "Stella",
    "Signe",
    "Ines",
    "Tyra",
    "Nora",
    "Klara",
    "Lova",
    "Elin",
    "Ida",
    "Linnéa",
    "Märta",
    "Åsa",
    "Birgitta",
    "Karin",
    "Margareta",
    "Ingrid",
    "Kerstin",
    "Eva",
    "Anna",
    "Maria",
    "Lena",
    "Sofia",
    "Emma",
    "Hanna",
    "Sara",
    "Malin",
    "Ulrika",
    "Görel",
    "Britt-Marie",
    "Anna-Karin",
    "Siv",
    "Solveig",
    "Ylva",
    "Gunnel",
    "Mirja",
    "Amira",
    "Leyla",
    "Noor",
    "Fatima",
    "Zeynep",
    "Aisha",
    "Jenny",
    "Frida",
    "Josefin",
    "Matilda",
    "Ronja",
    "Tindra",
    "Idun",
    "Märit",
    "Hélène",
];

/// Given names typical of boys and men in Sweden, old and new.
pub(crate) const MALE_GIVEN: &[&str] = &[
    "William",
    "Liam",
    "Noah",
    "Hugo",
    "Lucas",
    "Oliver",
    "Adam",
    "Elias",
    "Alexander",
    "Matteo",
    "Leo",
    "Oscar",
    "Viktor",
    "Axel",
    "Ludvig",
    "Nils",
    "Isak",
    "Vincent",
    "Filip",
    "Olle",
    "Måns",
    "Björn",
    "Göran",
    "Åke",
    "Örjan",
    "Sölve",
    "Jöns",
    "Pär",
    "Lars",
    "Anders",
    "Johan",
    "Per",
    "Karl",
    "Erik",
    "Mikael",
    "Stefan",
    "Mats",
    "Jonas",
    "Fredrik",
    "Magnus",
    "Henrik",
    "Ali",
    "Mohammed",
    "Omar",
    "Yusuf",
    "Hassan",
    "Emil",
    "Anton",
    "Melvin",
    "Sixten",
    "Algot",
    "Ture",
    "Harald",
    "Gösta",
    "Sten",
    "Tor",
    "Jan-Erik",
    "Karl-Johan",
    "Bengt",
    "Kjell",
    "Jörgen",
    "René",
];

/// Family names, the common -son names and a spread of others.
pub(crate) const FAMILY: &[&str] = &[
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jonsson",
    "Jansson",
    "Hansson",
    "Bengtsson",
    "Jönsson",
    "Lindberg",
    "Jakobsson",
    "Magnusson",
    "Olofsson",
    "Lindström",
    "Lindqvist",
    "Lindgren",
    "Berg",
    "Axelsson",
    "Bergström",
    "Lundberg",
    "Lind",
    "Lundgren",
    "Lundqvist",
    "Mattsson",
    "Berglund",
    "Fredriksson",
    "Sandberg",
    "Henriksson",
    "Forsberg",
    "Sjöberg",
    "Wallin",
    "Engström",
    "Eklund",
    "Danielsson",
    "Håkansson",
    "Lundin",
    "Björk",
    "Gunnarsson",
    "Holm",
    "Bergman",
    "Samuelsson",
    "Fransson",
    "Wikström",
    "Isaksson",
    "Åberg",
    "Öberg",
    "Sjögren",
    "Söderberg",
    "Nyström",
    "Bäckström",
    "Ångström",
    "Löfgren",
    "Strömberg",
    "Hägglund",
    "Åström",
    "Östlund",
    "Sundström",
    "Källström",
    "Blomqvist",
    "Nordström",
    "Ek",
    "Dahl",
    "Ahmed",
    "Ali",
    "Hassan",
    "Mohammadi",
    "Yilmaz",
    "Nguyen",
    "Kowalski",
    "Virtanen",
    "Korhonen",
    "Jovanovic",
    "Müller",
    "Abdi",
    "Rahimi",
    "Çelik",
];

/// Middle names (mellannamn) as Skatteverket registers them.
pub(crate) const MIDDLE: &[&str] = &[
    "Ekström",
    "Lind",
    "Holm",
    "Strand",
    "Wahlberg",
    "Sjöstrand",
    "Kvist",
    "Bergh",
    "Almqvist",
    "Ljung",
    "Åkesson",
    "Ödman",
    "Rosén",
    "Hedlund",
    "Norén",
    "Af Klint",
    "Grönvall",
    "Brändström",
];

/// First parts of school names (trees, fields, places).
pub(crate) const SCHOOL_PREFIX: &[&str] = &[
    "Björk",
    "Ek",
    "Lind",
    "Sol",
    "Ängs",
    "Åker",
    "Sjö",
    "Berg",
    "Hag",
    "Rosen",
    "Tall",
    "Gran",
    "Al",
    "Asp",
    "Löv",
    "Hassel",
    "Vide",
    "Furu",
    "Lärk",
    "Lönn",
    "Ask",
    "Bok",
    "Rönn",
    "Sälg",
    "Äppel",
    "Körsbär",
    "Häll",
    "Strand",
    "Mölle",
    "Kvarn",
    "Norr",
    "Söder",
    "Väster",
    "Öster",
];

/// Last parts of compulsory-school names.
pub(crate) const SCHOOL_SUFFIX: &[&str] = &[
    "skolan",
    "backeskolan",
    "dalsskolan",
    "gårdsskolan",
    "hagaskolan",
    "ängsskolan",
    "viksskolan",
    "lundsskolan",
];

/// Letters of parallel classes (6A, 6B …).
pub(crate) const CLASS_LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The letter of the `index`-th parallel class; past Z it wraps with a
/// number (`A2`), which only happens in implausibly large units.
pub(crate) fn class_letter(index: usize) -> String {
    let letters = CLASS_LETTERS.len();
    let letter = char::from(CLASS_LETTERS[index % letters]);
    if index < letters {
        letter.to_string()
    } else {
        format!("{letter}{}", index / letters + 1)
    }
}

/// Lower-case ASCII for e-mail local parts: `Åsa Öberg-Lind` → `asa`,
/// `oberg-lind`.
pub(crate) fn ascii_fold(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'å' | 'ä' | 'á' | 'à' => out.push('a'),
            'ö' | 'ø' | 'ó' => out.push('o'),
            'é' | 'è' | 'ë' => out.push('e'),
            'ü' | 'ú' => out.push('u'),
            'ç' => out.push('c'),
            'a'..='z' | '0'..='9' | '-' => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether an EPPN reveals the person's name the way Skolverket's check
/// (warning 3047) defines it: the rule the Provisioning API emulator judges
/// by ([`skolsync_model::eppn`]), so a generated EPPN never draws the warning.
pub(crate) fn eppn_reveals_name(eppn: &str, given: &str, family: &str) -> bool {
    skolsync_model::eppn::resembles_name(eppn, given, family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_keeps_only_ascii_letters_digits_and_hyphens() {
        assert_eq!(ascii_fold("Åsa"), "asa");
        assert_eq!(ascii_fold("Öberg-Lind"), "oberg-lind");
        assert_eq!(ascii_fold("Af Klint"), "afklint");
        assert_eq!(ascii_fold("Çelik"), "celik");
    }

    #[test]
    fn eppn_name_check_follows_skolverkets_rule() {
        assert!(eppn_reveals_name("abe123@edu.x.se", "Ola", "Abebe"));
        assert!(eppn_reveals_name("xx-deeb@edu.x.se", "Ebba", "Dexter"));
        assert!(!eppn_reveals_name("fc79e369@edu.x.se", "Ebba", "Dexter"));
    }

    #[test]
    fn names_fit_windows_1252() {
        for name in FEMALE_GIVEN
            .iter()
            .chain(MALE_GIVEN)
            .chain(FAMILY)
            .chain(MIDDLE)
        {
            for c in name.chars() {
                let latin1 = u32::from(c) <= 0xFF;
                assert!(latin1, "{name} has {c}, which Windows-1252 cannot hold");
            }
        }
    }
}
