//! `expandReferenceNames`: which referenced entities a page needs names
//! for, and those names, found with one scan of each list needed.

use std::collections::{HashMap, HashSet};

use skolsync_model::ss12000::{EntityKind, Person, Reference, Syllabus};

use crate::world::{Catalogue, SourceData};

/// Ids whose display names a page needs, per kind.
#[derive(Debug, Default)]
pub(crate) struct Wanted {
    ids: HashMap<EntityKind, HashSet<String>>,
}

impl Wanted {
    pub(super) fn add(&mut self, kind: EntityKind, reference: &Reference) {
        self.ids
            .entry(kind)
            .or_default()
            .insert(reference.id.as_str().to_string());
    }

    pub(super) fn add_opt(&mut self, kind: EntityKind, reference: Option<&Reference>) {
        if let Some(r) = reference {
            self.add(kind, r);
        }
    }
}

/// Display names of referenced entities.
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: HashMap<EntityKind, HashMap<String, String>>,
}

impl Names {
    /// Looks up the names `wanted` asks for, scanning each needed list once.
    pub(crate) fn resolve(data: &SourceData, catalogue: &Catalogue, mut wanted: Wanted) -> Names {
        let mut names = Names::default();
        // A duty is named after its holder, so duties are resolved first and
        // add their persons to what is wanted.
        let mut duty_person: HashMap<String, String> = HashMap::new();
        if let Some(ids) = wanted.ids.remove(&EntityKind::Duty) {
            for duty in data.duties.iter().filter(|d| ids.contains(d.id.as_str())) {
                if let Some(person) = &duty.person {
                    duty_person
                        .insert(duty.id.as_str().to_string(), person.id.as_str().to_string());
                    wanted.add(EntityKind::Person, person);
                }
            }
        }
        for (kind, ids) in &wanted.ids {
            let found = names.names.entry(*kind).or_default();
            let mut note = |id: &str, name: String| {
                if ids.contains(id) {
                    found.insert(id.to_string(), name);
                }
            };
            match kind {
                EntityKind::Organisation => {
                    for o in &data.organisations {
                        note(o.id.as_str(), o.display_name.clone());
                    }
                }
                EntityKind::Person => {
                    for p in &data.persons {
                        if ids.contains(p.id.as_str()) {
                            note(p.id.as_str(), person_name(p));
                        }
                    }
                }
                EntityKind::Group => {
                    for g in &data.groups {
                        note(g.id.as_str(), g.display_name.clone());
                    }
                }
                EntityKind::Activity => {
                    // Parent activities are mostly Skolverket's test activities.
                    for a in &catalogue.test_activities {
                        note(&a.id.to_string(), a.display_name.clone());
                    }
                    for a in &data.activities {
                        note(a.id.as_str(), a.display_name.clone());
                    }
                }
                EntityKind::Syllabus => {
                    for s in &data.syllabuses {
                        if let Some(name) = syllabus_name(s) {
                            note(s.id.as_str(), name);
                        }
                    }
                }
                EntityKind::Programme => {
                    for p in &data.programmes {
                        note(p.id.as_str(), p.name.clone());
                    }
                }
                EntityKind::Duty => {}
            }
        }
        let persons = names
            .names
            .get(&EntityKind::Person)
            .cloned()
            .unwrap_or_default();
        let duties = names.names.entry(EntityKind::Duty).or_default();
        for (duty, person) in duty_person {
            if let Some(name) = persons.get(&person) {
                duties.insert(duty, name.clone());
            }
        }
        names
    }

    pub(super) fn set(&self, kind: EntityKind, reference: &mut Reference) {
        if let Some(name) = self
            .names
            .get(&kind)
            .and_then(|m| m.get(reference.id.as_str()))
        {
            reference.display_name = Some(name.clone());
        }
    }

    pub(super) fn set_opt(&self, kind: EntityKind, reference: Option<&mut Reference>) {
        if let Some(r) = reference {
            self.set(kind, r);
        }
    }
}

fn person_name(p: &Person) -> String {
    [
        Some(p.given_name.as_str()),
        p.middle_name.as_deref(),
        Some(p.family_name.as_str()),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
}

fn syllabus_name(s: &Syllabus) -> Option<String> {
    s.course_name
        .clone()
        .or_else(|| s.subject_name.clone())
        .or_else(|| s.course_code.clone())
        .or_else(|| s.subject_code.clone())
}
