//! Entities kept as last sent because their source record was rejected,
//! named so a person reading the report knows who they are.
//!
//! The transform's [`keep_stale`](skolsync_transform::keep_stale) decides
//! which entities stay; this module adds a name ("Anna Berg (8B)" for a
//! pupil, the display name for a group) taken from the source snapshot
//! before it is dropped. Persons with a security marking are never named:
//! their report line gives only the source id.

use std::collections::{HashMap, HashSet};

use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{EntityKind, Snapshot};
use skolsync_model::{GroupType, SecurityMarking};
use skolsync_transform::StaleEntity;

/// An entity kept stale, with a name for the report when one is known.
#[derive(Debug, Clone)]
pub struct KeptStale {
    /// The entity and the reject that keeps it.
    pub entity: StaleEntity,
    /// "Anna Berg (8B)", a group's display name; `None` when unknown or
    /// protected.
    pub name: Option<String>,
}

/// Names of the person, group and activity records in `snapshot` that
/// `rejects` are about (rejected or warned about), by (entity kind, source
/// id). Cheap: only those records are looked at.
pub fn rejected_names(
    snapshot: &Snapshot,
    rejects: &[Reject],
) -> HashMap<(EntityKind, String), String> {
    let wanted: HashSet<(EntityKind, &str)> = rejects
        .iter()
        .filter_map(|r| Some((r.entity, r.source_id.as_deref()?)))
        .collect();
    let mut names = HashMap::new();
    if wanted.is_empty() {
        return names;
    }
    let mut wanted_persons: HashMap<&str, String> = HashMap::new();
    let mut in_snapshot: HashSet<&str> = HashSet::new();
    for p in &snapshot.persons {
        let id = p.id.as_str();
        if !wanted.contains(&(EntityKind::Person, id)) {
            continue;
        }
        in_snapshot.insert(id);
        let protected = !matches!(p.security_marking, None | Some(SecurityMarking::Ingen));
        if protected {
            continue;
        }
        let name = format!("{} {}", p.given_name.trim(), p.family_name.trim());
        if !name.trim().is_empty() {
            wanted_persons.insert(id, name.trim().to_string());
        }
    }
    // A record rejected at extract never reached the snapshot: the
    // connector may have said who it is (never for a protected person).
    for r in rejects {
        if r.severity != Severity::Rejected || r.entity != EntityKind::Person {
            continue;
        }
        if let (Some(id), Some(subject)) = (r.source_id.as_deref(), r.subject.as_deref())
            && !in_snapshot.contains(id)
        {
            wanted_persons
                .entry(id)
                .or_insert_with(|| subject.to_string());
        }
    }
    // A pupil's classes, for "Anna Berg (8B)".
    let mut classes: HashMap<&str, Vec<&str>> = HashMap::new();
    if !wanted_persons.is_empty() {
        for g in &snapshot.groups {
            if g.group_type != GroupType::Klass {
                continue;
            }
            for m in &g.group_memberships {
                let person = m.person.id.as_str();
                if wanted_persons.contains_key(person) {
                    classes
                        .entry(person)
                        .or_default()
                        .push(g.display_name.trim());
                }
            }
        }
    }
    for (id, name) in wanted_persons {
        let text = match classes.get(id) {
            Some(list) if !list.is_empty() => format!("{name} ({})", list.join(", ")),
            _ => name,
        };
        names.insert((EntityKind::Person, id.to_string()), text);
    }
    for g in &snapshot.groups {
        let id = g.id.as_str();
        if wanted.contains(&(EntityKind::Group, id)) && !g.display_name.trim().is_empty() {
            names.insert(
                (EntityKind::Group, id.to_string()),
                g.display_name.trim().to_string(),
            );
        }
    }
    for a in &snapshot.activities {
        let id = a.id.as_str();
        if wanted.contains(&(EntityKind::Activity, id)) && !a.display_name.trim().is_empty() {
            names.insert(
                (EntityKind::Activity, id.to_string()),
                a.display_name.trim().to_string(),
            );
        }
    }
    names
}
