//! Duty roles: from whatever the source calls a role to `Code_DutyRole`.
//!
//! Lookup order, ignoring case and surrounding spaces: the pipeline's
//! `duty_role_map`, then the built-in [`DEFAULT_DUTY_ROLES`], then the
//! seventeen `Code_DutyRole` values themselves. A role found nowhere makes
//! the duty a reject naming the role, so a new vendor code is noticed rather
//! than guessed.

use std::collections::HashMap;

use skolsync_model::DutyRole;

/// Built-in mappings for roles outside `Code_DutyRole`: SS 12000's two extra
/// values, and names school systems and exports commonly use (Swedish
/// variants, abbreviations, English).
pub const DEFAULT_DUTY_ROLES: &[(&str, DutyRole)] = &[
    // SS 12000 v2's own code list has two values the profile lacks.
    ("Övrig pedagogisk personal", DutyRole::AnnanPersonal),
    // Förskolechef became rektor in 2019 (skollagen 2 kap. 9 §).
    ("Förskolechef", DutyRole::Rektor),
    // Swedish variants seen in exports and file templates.
    ("Biträdande rektor", DutyRole::OvrigArbetsledning),
    ("Bitr. rektor", DutyRole::OvrigArbetsledning),
    ("Specialpedagog", DutyRole::Speciallarare),
    ("Speciallärare", DutyRole::Speciallarare),
    ("SYV", DutyRole::StudieOchYrkesvagledare),
    ("Studievägledare", DutyRole::StudieOchYrkesvagledare),
    ("Skolsekreterare", DutyRole::Skoladministrator),
    ("Administratör", DutyRole::Skoladministrator),
    ("Elevassistent", DutyRole::AnnanPersonal),
    ("Resurs", DutyRole::AnnanPersonal),
    ("Fritidsledare", DutyRole::Fritidspedagog),
    ("Lärare i fritidshem", DutyRole::Fritidspedagog),
    ("Skolbibliotekarie", DutyRole::Bibliotekarie),
    ("Psykolog", DutyRole::Skolpsykolog),
    ("Skolkurator", DutyRole::Kurator),
    // English, as some international vendors send.
    ("Teacher", DutyRole::Larare),
    ("Principal", DutyRole::Rektor),
    ("Head teacher", DutyRole::Rektor),
    ("Deputy head", DutyRole::OvrigArbetsledning),
    ("Teaching assistant", DutyRole::Lararassistent),
    ("Librarian", DutyRole::Bibliotekarie),
    ("School nurse", DutyRole::Skolskoterska),
    ("School counsellor", DutyRole::Kurator),
    ("Special needs teacher", DutyRole::Speciallarare),
    ("Administrator", DutyRole::Skoladministrator),
];

/// Resolves source roles to `Code_DutyRole`.
#[derive(Debug, Clone, Default)]
pub struct RoleMap {
    /// Folded source text → role, configured entries over the defaults.
    table: HashMap<String, DutyRole>,
}

/// Case- and space-insensitive form of a role text.
fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl RoleMap {
    /// The defaults plus `configured` (already validated values).
    pub fn new(configured: impl IntoIterator<Item = (String, DutyRole)>) -> Self {
        let mut table: HashMap<String, DutyRole> = DEFAULT_DUTY_ROLES
            .iter()
            .map(|(k, v)| (fold(k), *v))
            .collect();
        for (k, v) in configured {
            table.insert(fold(&k), v);
        }
        RoleMap { table }
    }

    /// The role for a source text, if known.
    pub fn resolve(&self, source: &str) -> Option<DutyRole> {
        let key = fold(source);
        if key.is_empty() {
            return None;
        }
        self.table
            .get(&key)
            .copied()
            .or_else(|| key.parse::<DutyRole>().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_values_defaults_and_configured_entries_resolve() {
        let map = RoleMap::new([("LÄR".to_string(), DutyRole::Larare)]);
        assert_eq!(map.resolve("Lärare"), Some(DutyRole::Larare));
        assert_eq!(map.resolve("  lärare "), Some(DutyRole::Larare));
        assert_eq!(map.resolve("lär"), Some(DutyRole::Larare));
        assert_eq!(
            map.resolve("Övrig pedagogisk personal"),
            Some(DutyRole::AnnanPersonal)
        );
        assert_eq!(map.resolve("Teacher"), Some(DutyRole::Larare));
        assert_eq!(map.resolve("Vaktmästare"), None);
        assert_eq!(map.resolve(""), None);
    }

    #[test]
    fn configured_entries_win_over_defaults() {
        let map = RoleMap::new([("Elevassistent".to_string(), DutyRole::Lararassistent)]);
        assert_eq!(map.resolve("elevassistent"), Some(DutyRole::Lararassistent));
    }
}
