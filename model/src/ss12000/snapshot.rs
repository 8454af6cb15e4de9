//! Everything a source yielded in one read, and where each record of a
//! file-based read came from ([`Origins`]), so that a record the transform
//! rejects after the read is still located by file and line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::PerKind;

use super::envelope::DeletedEntityIds;
use super::kind::EntityKind;
use super::organisation::Organisation;
use super::person::Person;
use super::syllabus::{Programme, Syllabus};
use super::teaching::{Activity, Duty, Group};

/// Everything a source yielded in one read: the transform's input.
///
/// Connectors stream entities page by page; the engine collects them here.
/// `deleted` holds what the source reported as removed since the last read
/// (incremental reads); a full read leaves it empty and absent entities are
/// found by the diff instead.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
// Every part may be missing: a source without, say, programmes yields none.
#[serde(default)]
pub struct Snapshot {
    /// Organisation elements, including school units.
    pub organisations: Vec<Organisation>,
    /// Persons with enrolments.
    pub persons: Vec<Person>,
    /// Staff duties.
    pub duties: Vec<Duty>,
    /// Groups with memberships.
    pub groups: Vec<Group>,
    /// Activities.
    pub activities: Vec<Activity>,
    /// Syllabuses.
    pub syllabuses: Vec<Syllabus>,
    /// Programmes.
    pub programmes: Vec<Programme>,
    /// Ids the source reported as deleted.
    pub deleted: DeletedEntityIds,
    /// Where each record came from, for sources that read files (file and
    /// line); API sources leave it empty. Absent from snapshots written
    /// before it existed, and not written when empty.
    #[serde(skip_serializing_if = "Origins::is_empty")]
    pub origins: Origins,
}

impl Snapshot {
    /// How many entities of `kind` it holds.
    pub fn count(&self, kind: EntityKind) -> usize {
        crate::by_kind!(kind, &self, |list| list.len())
    }

    /// How many entities it holds, of every kind.
    pub fn total(&self) -> usize {
        EntityKind::ALL.into_iter().map(|k| self.count(k)).sum()
    }
}

/// Where the records of a file-based read came from: the file and line of
/// the first row that made each record (a person built from several
/// enrolment rows is located at the first).
///
/// A CSV export can hold a million pupils, so each file name is stored
/// once and a record holds only its index and line; the first location
/// recorded for a record wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Origins {
    /// The files the records came from, each once.
    files: Vec<String>,
    /// Per kind: source id → (index into `files`, line).
    records: PerKind<BTreeMap<String, (usize, u64)>>,
}

impl Origins {
    /// Records that the `kind` record `id` came from `file` at `line`,
    /// unless it has a location already.
    pub fn record(&mut self, kind: crate::ss12000::EntityKind, id: &str, file: &str, line: u64) {
        if self.records[kind].contains_key(id) {
            return;
        }
        let index = match self.files.iter().position(|f| f == file) {
            Some(i) => i,
            None => {
                self.files.push(file.to_string());
                self.files.len() - 1
            }
        };
        self.records[kind].insert(id.to_string(), (index, line));
    }

    /// Where the `kind` record `id` came from, as `file:line`.
    pub fn get(&self, kind: crate::ss12000::EntityKind, id: &str) -> Option<String> {
        let (index, line) = self.records[kind].get(id)?;
        let file = self.files.get(*index)?;
        Some(format!("{file}:{line}"))
    }

    /// Adds the locations of `more` that are not known yet.
    pub fn extend(&mut self, more: Origins) {
        let Origins { files, mut records } = more;
        for kind in crate::ss12000::EntityKind::ALL {
            for (id, (index, line)) in std::mem::take(&mut records[kind]) {
                if let Some(file) = files.get(index) {
                    self.record(kind, &id, file, line);
                }
            }
        }
    }

    /// How many records it locates.
    pub fn len(&self) -> usize {
        self.records.iter().map(|(_, ids)| ids.len()).sum()
    }

    /// Whether it locates none.
    pub fn is_empty(&self) -> bool {
        self.records.iter().all(|(_, ids)| ids.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ss12000::EntityKind;

    #[test]
    fn the_first_location_wins_and_files_are_stored_once() {
        let mut origins = Origins::default();
        origins.record(EntityKind::Person, "p1", "Elev.csv", 2);
        origins.record(EntityKind::Person, "p1", "Elev.csv", 9);
        origins.record(EntityKind::Duty, "p1", "Personal.csv", 4);
        let mut more = Origins::default();
        more.record(EntityKind::Person, "p2", "Elev.csv", 3);
        more.record(EntityKind::Person, "p1", "Other.csv", 1);
        origins.extend(more);
        assert_eq!(
            origins.get(EntityKind::Person, "p1").as_deref(),
            Some("Elev.csv:2")
        );
        assert_eq!(
            origins.get(EntityKind::Person, "p2").as_deref(),
            Some("Elev.csv:3")
        );
        assert_eq!(
            origins.get(EntityKind::Duty, "p1").as_deref(),
            Some("Personal.csv:4")
        );
        assert_eq!(origins.get(EntityKind::Group, "p1"), None);
        assert_eq!(
            origins.files,
            ["Elev.csv", "Personal.csv"],
            "each file once"
        );
        assert_eq!(origins.len(), 3);
    }

    #[test]
    fn a_snapshot_without_origins_reads_and_writes_as_before() {
        let snapshot: Snapshot = serde_json::from_str(r#"{"persons": []}"#).unwrap();
        assert!(snapshot.origins.is_empty());
        let written = serde_json::to_value(&snapshot).unwrap();
        assert!(written.get("origins").is_none(), "{written}");
        let mut located = Snapshot::default();
        located
            .origins
            .record(EntityKind::Group, "g", "Klasser.csv", 5);
        let text = serde_json::to_string(&located).unwrap();
        let back: Snapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, located);
    }
}
