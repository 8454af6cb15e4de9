//! A share of the pupils changing at once, as between two nightly runs:
//! for benchmarks and end-to-end tests of incremental reads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rand::Rng;
use rand::seq::index::sample;
use skolsync_model::codes::GroupType;
use skolsync_model::ss12000::{Person, SourceId};

use super::{ChangeError, Changes};
use crate::generate::REFERENCE_DATE;
use crate::generate::names;

/// Where a class stands: its unit, and the school type and year of its
/// pupils, so a pupil moves only between parallel classes.
type ClassKey = (SourceId, String, Option<u8>);

impl Changes<'_> {
    /// Changes `share` (0–1) of the pupils, drawn from the change set's
    /// seeded stream: about half get a new family name, the others move to
    /// a parallel class (same unit, school type and year; a new family name
    /// when there is none). Pupils are persons currently in a class.
    /// Returns how many pupils changed.
    pub fn change_share_of_pupils(&mut self, share: f64) -> Result<usize, ChangeError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(ChangeError::Share(share.to_string()));
        }
        let (pupils, parallels) = self.pupils_and_parallel_classes();
        let count = ((pupils.len() as f64) * share).ceil() as usize;
        let chosen = sample(&mut self.rng, pupils.len(), count.min(pupils.len()));
        for i in chosen {
            let (pupil, key, class) = &pupils[i];
            let others: Vec<&SourceId> = parallels
                .get(key)
                .into_iter()
                .flatten()
                .filter(|c| *c != class)
                .collect();
            if !others.is_empty() && self.rng.random_bool(0.5) {
                let to = others[self.rng.random_range(0..others.len())].clone();
                self.move_pupil(pupil, &to)?;
            } else {
                let p = self.person_pos(pupil)?;
                let given = self.data.persons[p].given_name.clone();
                let family = names::FAMILY[self.rng.random_range(0..names::FAMILY.len())];
                self.rename_person(pupil, &given, family)?;
            }
        }
        Ok(count)
    }

    /// Every pupil once (with its class's key and id), and the classes by key.
    #[allow(clippy::type_complexity)]
    fn pupils_and_parallel_classes(
        &self,
    ) -> (
        Vec<(SourceId, ClassKey, SourceId)>,
        BTreeMap<ClassKey, Vec<SourceId>>,
    ) {
        let mut seen = BTreeSet::new();
        let mut pupils = Vec::new();
        let mut classes: BTreeMap<ClassKey, Vec<SourceId>> = BTreeMap::new();
        let persons: HashMap<&SourceId, &Person> =
            self.data.persons.iter().map(|p| (&p.id, p)).collect();
        for group in &self.data.groups {
            if group.group_type != GroupType::Klass {
                continue;
            }
            let members: Vec<&SourceId> = group
                .group_memberships
                .iter()
                .filter(|m| m.end_date.is_none_or(|e| e >= REFERENCE_DATE))
                .map(|m| &m.person.id)
                .collect();
            let Some(key) = members.iter().find_map(|id| {
                let person = persons.get(id)?;
                let e = person
                    .enrolments
                    .iter()
                    .find(|e| e.end_date.is_none_or(|d| d >= REFERENCE_DATE))?;
                Some((
                    group.organisation.id.clone(),
                    e.school_type.as_str().to_string(),
                    e.school_year,
                ))
            }) else {
                continue;
            };
            classes
                .entry(key.clone())
                .or_default()
                .push(group.id.clone());
            for id in members {
                if seen.insert(id.clone()) {
                    pupils.push((id.clone(), key.clone(), group.id.clone()));
                }
            }
        }
        (pupils, classes)
    }
}
