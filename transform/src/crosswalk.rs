//! Identity continuity: keep the ids Skolverket already knows when the
//! source system changes.
//!
//! A municipality moving from school system A to B gets new source ids for
//! everyone, hence new provtjänst ids, and the service would see every pupil
//! as a new person (and refuse them: a personnummer belongs to one person id,
//! error 9112). The [`Crosswalk`] remembers, from the runs that succeeded,
//! which provtjänst id each real-world thing had, under keys that survive a
//! change of system:
//!
//! | entity   | key |
//! |----------|-----|
//! | person   | normalised personnummer (12 characters); else EPPN (case-folded) |
//! | duty     | the person's personnummer, school unit code, duty role |
//! | group    | school unit code, group type, display name (case- and space-folded) |
//! | activity | school unit code, test activity id, display name (folded); else the test activity id and the keys of its groups |
//!
//! Activities have two keys because their display names are the least
//! stable thing about them: IST names an activity after its course and
//! group ("Matematik 3A"), Skolverket's CSV template after the group
//! ("3A MA"). What survives a change of system is *what is tested* (the
//! national test activity) and *who is tested* (the groups, by their own
//! system-independent keys), so an activity whose name changed is still
//! found through its groups.
//!
//! [`Crosswalk::apply`] rewrites a desired state to those ids, and every
//! reference to them (duty → person, group → members, activity → groups and
//! teachers), then recomputes the content hashes. The engine stores the
//! crosswalk next to its state ([`Crosswalk::record`] after each run) — it
//! holds personnummer, so it is personal data: `Debug` shows counts only.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use skolsync_model::ObjectType;
use skolsync_model::plan::{Desired, DesiredState};
use uuid::Uuid;

/// Known provtjänst ids under system-independent keys.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crosswalk {
    /// Normalised personnummer → person id.
    #[serde(default)]
    pub persons_by_civic_no: BTreeMap<String, Uuid>,
    /// Lowercased EPPN → person id (for persons whose personnummer changed,
    /// e.g. a temporary number replaced by a real one).
    #[serde(default)]
    pub persons_by_eppn: BTreeMap<String, Uuid>,
    /// `personnummer|school unit code|duty role` → duty id.
    #[serde(default)]
    pub duties: BTreeMap<String, Uuid>,
    /// `school unit code|group type|display name` → group id.
    #[serde(default)]
    pub groups: BTreeMap<String, Uuid>,
    /// `school unit code|test activity id|display name` → activity id, and
    /// `groups:test activity id|group key;group key…` (the keys of its
    /// groups, sorted) → activity id.
    #[serde(default)]
    pub activities: BTreeMap<String, Uuid>,
}

impl fmt::Debug for Crosswalk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crosswalk")
            .field("persons_by_civic_no", &self.persons_by_civic_no.len())
            .field("persons_by_eppn", &self.persons_by_eppn.len())
            .field("duties", &self.duties.len())
            .field("groups", &self.groups.len())
            .field("activities", &self.activities.len())
            .finish()
    }
}

/// What [`Crosswalk::apply`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrosswalkReport {
    /// Persons that took a previously known id.
    pub persons: usize,
    /// Duties that did.
    pub duties: usize,
    /// Groups that did.
    pub groups: usize,
    /// Activities that did.
    pub activities: usize,
    /// Ids that could not be taken over (two entities claiming one id),
    /// as `kind source-id: why`. Personnummer are never shown.
    pub conflicts: Vec<String>,
}

/// Lowercase with runs of whitespace made one space.
fn fold(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn duty_key(civic: &str, unit: &str, role: &str) -> String {
    format!("{civic}|{unit}|{role}")
}

fn group_key(d: &Desired<skolsync_model::provtjanst::Group>) -> String {
    format!(
        "{}|{}|{}",
        d.school_unit.as_deref().unwrap_or(""),
        d.payload.group_type.as_str(),
        fold(&d.payload.display_name)
    )
}

fn activity_key(d: &Desired<skolsync_model::provtjanst::Activity>) -> String {
    format!(
        "{}|{}|{}",
        d.school_unit.as_deref().unwrap_or(""),
        d.payload.parent_activity.id,
        fold(&d.payload.display_name)
    )
}

/// The second key of an activity: its national test activity and the keys
/// of the groups it tests (`group_keys`: group id → group key), sorted.
/// `None` when it tests no group or a group the desired state lacks.
fn activity_group_key(
    d: &Desired<skolsync_model::provtjanst::Activity>,
    group_keys: &HashMap<Uuid, String>,
) -> Option<String> {
    if d.payload.groups.is_empty() {
        return None;
    }
    let mut keys = d
        .payload
        .groups
        .iter()
        .map(|g| group_keys.get(&g.id).map(String::as_str))
        .collect::<Option<Vec<&str>>>()?;
    keys.sort_unstable();
    keys.dedup();
    Some(format!(
        "groups:{}|{}",
        d.payload.parent_activity.id,
        keys.join(";")
    ))
}

fn group_keys(desired: &DesiredState) -> HashMap<Uuid, String> {
    desired
        .groups
        .iter()
        .map(|g| (g.id, group_key(g)))
        .collect()
}

impl Crosswalk {
    /// The crosswalk of a desired state (after it was provisioned).
    pub fn record(desired: &DesiredState) -> Crosswalk {
        let mut cw = Crosswalk::default();
        cw.merge_from(desired);
        cw
    }

    /// Keeps only the keys of entities `keep` says yes to (the engine
    /// records the keys of what the service confirmed).
    pub fn retain(&mut self, keep: impl Fn(ObjectType, Uuid) -> bool) {
        self.persons_by_civic_no
            .retain(|_, id| keep(ObjectType::Person, *id));
        self.persons_by_eppn
            .retain(|_, id| keep(ObjectType::Person, *id));
        self.duties.retain(|_, id| keep(ObjectType::Duty, *id));
        self.groups.retain(|_, id| keep(ObjectType::Group, *id));
        self.activities
            .retain(|_, id| keep(ObjectType::Activity, *id));
    }

    /// Drops every key `stored` maps to the same id: what the store holds
    /// already need not be written again.
    pub fn without(&mut self, stored: &Crosswalk) {
        let pairs = [
            (&mut self.persons_by_civic_no, &stored.persons_by_civic_no),
            (&mut self.persons_by_eppn, &stored.persons_by_eppn),
            (&mut self.duties, &stored.duties),
            (&mut self.groups, &stored.groups),
            (&mut self.activities, &stored.activities),
        ];
        for (mine, theirs) in pairs {
            mine.retain(|key, id| theirs.get(key) != Some(id));
        }
    }

    /// Adds (or updates) the keys of `desired`.
    pub fn merge_from(&mut self, desired: &DesiredState) {
        let mut civic_of: HashMap<Uuid, &str> = HashMap::new();
        for p in &desired.persons {
            let civic = p.payload.civic_no.value.as_str();
            civic_of.insert(p.id, civic);
            self.persons_by_civic_no.insert(civic.to_string(), p.id);
            for e in &p.payload.edu_person_principal_names {
                self.persons_by_eppn.insert(e.to_lowercase(), p.id);
            }
        }
        for d in &desired.duties {
            if let Some(civic) = civic_of.get(&d.payload.person.id) {
                self.duties.insert(
                    duty_key(
                        civic,
                        d.school_unit.as_deref().unwrap_or(""),
                        d.payload.duty_role.as_str(),
                    ),
                    d.id,
                );
            }
        }
        for g in &desired.groups {
            self.groups.insert(group_key(g), g.id);
        }
        let by_group = group_keys(desired);
        for a in &desired.activities {
            self.activities.insert(activity_key(a), a.id);
            if let Some(key) = activity_group_key(a, &by_group) {
                self.activities.insert(key, a.id);
            }
        }
    }

    /// Gives the entities of `desired` the ids the crosswalk knows for
    /// them and rewrites every reference accordingly (the content hashes
    /// are computed afterwards, once, by the diff). An id is only taken
    /// over when no other entity of the desired state has or takes it.
    pub fn apply(&self, desired: &mut DesiredState) -> CrosswalkReport {
        let mut report = CrosswalkReport::default();

        // Persons.
        let wanted: Vec<Option<Uuid>> = desired
            .persons
            .iter()
            .map(|p| {
                self.persons_by_civic_no
                    .get(&p.payload.civic_no.value)
                    .or_else(|| {
                        p.payload
                            .edu_person_principal_names
                            .iter()
                            .find_map(|e| self.persons_by_eppn.get(&e.to_lowercase()))
                    })
                    .copied()
            })
            .collect();
        let person_map = remap(
            &mut desired.persons,
            &wanted,
            "Person",
            &mut report.conflicts,
        );
        report.persons = person_map.len();

        // Duties: their person first, then their own id.
        let civic_of: HashMap<Uuid, String> = desired
            .persons
            .iter()
            .map(|p| (p.id, p.payload.civic_no.value.clone()))
            .collect();
        for d in &mut desired.duties {
            if let Some(new) = person_map.get(&d.payload.person.id) {
                d.payload.person.id = *new;
            }
        }
        let wanted: Vec<Option<Uuid>> = desired
            .duties
            .iter()
            .map(|d| {
                let civic = civic_of.get(&d.payload.person.id)?;
                self.duties
                    .get(&duty_key(
                        civic,
                        d.school_unit.as_deref().unwrap_or(""),
                        d.payload.duty_role.as_str(),
                    ))
                    .copied()
            })
            .collect();
        let duty_map = remap(&mut desired.duties, &wanted, "Duty", &mut report.conflicts);
        report.duties = duty_map.len();

        // Groups: members first, then their own id.
        for g in &mut desired.groups {
            let mut changed = false;
            for m in &mut g.payload.group_memberships {
                if let Some(new) = person_map.get(&m.person.id) {
                    m.person.id = *new;
                    changed = true;
                }
            }
            if changed {
                g.payload.group_memberships.sort_by_key(|m| m.person);
            }
        }
        let wanted: Vec<Option<Uuid>> = desired
            .groups
            .iter()
            .map(|g| self.groups.get(&group_key(g)).copied())
            .collect();
        let group_map = remap(&mut desired.groups, &wanted, "Group", &mut report.conflicts);
        report.groups = group_map.len();

        // Activities: groups and teachers first, then their own id.
        for a in &mut desired.activities {
            let mut changed = false;
            for g in &mut a.payload.groups {
                if let Some(new) = group_map.get(&g.id) {
                    g.id = *new;
                    changed = true;
                }
            }
            for t in &mut a.payload.teachers {
                if let Some(new) = duty_map.get(&t.duty.id) {
                    t.duty.id = *new;
                    changed = true;
                }
            }
            if changed {
                a.payload.groups.sort();
                a.payload.teachers.sort_by_key(|t| t.duty);
            }
        }
        // By name first; else by what it tests and whom (its groups'
        // references were rewritten above, and group keys do not depend on
        // ids, so the keys match those recorded under the old system).
        let by_group = group_keys(desired);
        let wanted: Vec<Option<Uuid>> = desired
            .activities
            .iter()
            .map(|a| {
                self.activities
                    .get(&activity_key(a))
                    .or_else(|| {
                        activity_group_key(a, &by_group).and_then(|k| self.activities.get(&k))
                    })
                    .copied()
            })
            .collect();
        let activity_map = remap(
            &mut desired.activities,
            &wanted,
            "Activity",
            &mut report.conflicts,
        );
        report.activities = activity_map.len();

        report
    }
}

/// Entities of one type whose payload carries its own id.
trait HasId {
    fn set_id(&mut self, id: Uuid);
}

macro_rules! has_id {
    ($($t:ty),+) => {$(
        impl HasId for $t {
            fn set_id(&mut self, id: Uuid) {
                self.id = id;
            }
        }
    )+};
}
has_id!(
    skolsync_model::provtjanst::Person,
    skolsync_model::provtjanst::Duty,
    skolsync_model::provtjanst::Group,
    skolsync_model::provtjanst::Activity
);

/// Moves entities to the ids in `wanted` where that is safe; returns
/// old id → new id for those that moved.
fn remap<T: HasId>(
    items: &mut [Desired<T>],
    wanted: &[Option<Uuid>],
    kind: &str,
    conflicts: &mut Vec<String>,
) -> HashMap<Uuid, Uuid> {
    let current: HashSet<Uuid> = items.iter().map(|d| d.id).collect();
    let mut claimed: HashSet<Uuid> = HashSet::new();
    let mut map = HashMap::new();
    for (d, want) in items.iter_mut().zip(wanted) {
        let Some(want) = *want else { continue };
        if want == d.id {
            claimed.insert(want);
            continue;
        }
        // Another entity of this run already is, or already took, that id.
        if current.contains(&want) || !claimed.insert(want) {
            conflicts.push(format!(
                "{kind} {}: the known id {want} belongs to another {kind} of this run; keeping {}",
                d.source_id, d.id
            ));
            continue;
        }
        map.insert(d.id, want);
        d.id = want;
        d.payload.set_id(want);
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_the_store_holds_with_the_same_id_are_not_written_again() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut current = Crosswalk::default();
        current.persons_by_civic_no.insert("200501012384".into(), a);
        current.persons_by_eppn.insert("x@y".into(), a);
        current.groups.insert("1|Klass|6a".into(), b);
        current.duties.insert("d".into(), c);
        let mut stored = Crosswalk::default();
        stored.persons_by_civic_no.insert("200501012384".into(), a);
        // The same key, another id (a conflict the run resolved): written.
        stored.groups.insert("1|Klass|6a".into(), c);
        current.without(&stored);
        assert!(current.persons_by_civic_no.is_empty());
        assert_eq!(current.persons_by_eppn.len(), 1, "not stored yet");
        assert_eq!(current.groups.get("1|Klass|6a"), Some(&b));
        assert_eq!(current.duties.len(), 1);
    }
}
