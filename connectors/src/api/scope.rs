//! The school unit filter of an API source: which organisations, persons,
//! duties, groups and activities belong to the configured school units.
//!
//! A unit is found by its school unit code among the organisations. What
//! lies under a unit (the unit itself and any sub-element) is *within* it;
//! the elements above a unit (school, organiser) are kept as organisations
//! too, so references up the tree still resolve, but nothing held at them
//! (a duty at the organiser) is in scope. A person is in scope through an
//! enrolment within a unit or a duty within one.

use std::collections::{HashMap, HashSet};

use skolsync_model::ss12000::{Duty, Organisation, Person, SourceId};

/// The computed filter.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scope {
    /// Ids of the units and everything below them.
    within: HashSet<String>,
    /// Ids of the elements above the units.
    above: HashSet<String>,
    /// Persons holding a duty within the units.
    duty_holders: HashSet<String>,
}

impl Scope {
    /// The filter for `codes` over `organisations`; an error names codes
    /// that match no organisation (a typo would otherwise read nothing for
    /// that unit, and the diff would delete it downstream).
    pub(crate) fn new(organisations: &[Organisation], codes: &[String]) -> Result<Scope, String> {
        let wanted: HashSet<&str> = codes.iter().map(|c| c.trim()).collect();
        let units: HashSet<&str> = organisations
            .iter()
            .filter(|o| {
                o.school_unit_code
                    .as_deref()
                    .is_some_and(|c| wanted.contains(c.trim()))
            })
            .map(|o| o.id.as_str())
            .collect();
        let found: HashSet<&str> = organisations
            .iter()
            .filter_map(|o| o.school_unit_code.as_deref().map(str::trim))
            .filter(|c| wanted.contains(c))
            .collect();
        let mut missing: Vec<&str> = wanted.difference(&found).copied().collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            return Err(format!(
                "school unit code(s) {} from `school_units` match no organisation of the source; \
                 check the codes (nothing was read)",
                missing.join(", ")
            ));
        }
        let parent: HashMap<&str, &str> = organisations
            .iter()
            .filter_map(|o| Some((o.id.as_str(), o.parent_organisation.as_ref()?.id.as_str())))
            .collect();
        // Walks up from `id` (itself included), guarding against cycles.
        let chain = |id: &str| -> Vec<String> {
            let mut seen = Vec::new();
            let mut current = Some(id);
            while let Some(c) = current {
                if seen.iter().any(|s: &String| s == c) {
                    break;
                }
                seen.push(c.to_string());
                current = parent.get(c).copied();
            }
            seen
        };
        let mut scope = Scope::default();
        for o in organisations {
            if chain(o.id.as_str())
                .iter()
                .any(|a| units.contains(a.as_str()))
            {
                scope.within.insert(o.id.as_str().to_string());
            }
        }
        for unit in &units {
            scope.above.extend(chain(unit).into_iter().skip(1));
        }
        Ok(scope)
    }

    /// Whether an organisation id lies within the units.
    pub(crate) fn is_within(&self, id: &SourceId) -> bool {
        self.within.contains(id.as_str())
    }

    pub(crate) fn keeps_organisation(&self, o: &Organisation) -> bool {
        self.is_within(&o.id) || self.above.contains(o.id.as_str())
    }

    pub(crate) fn keeps_duty(&self, d: &Duty) -> bool {
        self.is_within(&d.duty_at.id)
    }

    pub(crate) fn keeps_person(&self, p: &Person) -> bool {
        self.duty_holders.contains(p.id.as_str())
            || p.enrolments
                .iter()
                .any(|e| self.is_within(&e.enroled_at.id))
    }

    /// Records the holders of in-scope `duties`.
    pub(crate) fn add_duty_holders(&mut self, duties: &[Duty]) {
        self.duty_holders.extend(
            duties
                .iter()
                .filter_map(|d| d.person.as_ref().map(|p| p.id.as_str().to_string())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn org(id: &str, parent: Option<&str>, code: Option<&str>) -> Organisation {
        let mut v = json!({"id": id, "organisationType": if code.is_some() {"Skolenhet"} else {"Huvudman"}});
        if let Some(p) = parent {
            v["parentOrganisation"] = json!({"id": p});
        }
        if let Some(c) = code {
            v["schoolUnitCode"] = json!(c);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn units_keep_their_subtree_and_ancestors_and_unknown_codes_are_an_error() {
        let orgs = vec![
            org("top", None, None),
            org("u1", Some("top"), Some("111")),
            org("u1-sub", Some("u1"), None),
            org("u2", Some("top"), Some("222")),
        ];
        let scope = Scope::new(&orgs, &["111".into()]).unwrap();
        assert!(scope.keeps_organisation(&orgs[0]));
        assert!(scope.keeps_organisation(&orgs[1]));
        assert!(scope.keeps_organisation(&orgs[2]));
        assert!(!scope.keeps_organisation(&orgs[3]));
        assert!(scope.is_within(&"u1-sub".into()));
        assert!(!scope.is_within(&"top".into()));
        let err = Scope::new(&orgs, &["111".into(), "999".into()]).unwrap_err();
        assert!(err.contains("999") && !err.contains("111,"), "{err}");
    }
}
