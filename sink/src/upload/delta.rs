//! What the next file holds: the rows that differ from the last confirmed
//! upload.
//!
//! Skolverket asks, after the first file, for a file of only what changed,
//! with `Ta bort` = "Ja" for what ended (checklist for the file method).
//! Rows are compared by their key ([`UploadRow::key`]): a key that is new
//! or whose cells changed is written as it is now; a key the last
//! confirmed upload had and the data no longer has is written as it was
//! then, marked for removal. A pupil who changes school is one of each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::rows::{SheetKind, UploadRow, by_key};

/// How a row of the file differs from the last confirmed upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowChange {
    /// Not in the last confirmed upload.
    New,
    /// In it with other values.
    Changed,
    /// In it and gone now: written with `Ta bort` = "Ja".
    Removed,
}

/// A row of the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaRow {
    /// The row (for a removal: as last confirmed).
    pub row: UploadRow,
    /// Why it is in the file.
    pub change: RowChange,
}

/// The rows of the next file: per sheet in the template's order, new and
/// changed rows by key, then removals by key.
pub fn delta(current: Vec<UploadRow>, confirmed: Vec<UploadRow>) -> Vec<DeltaRow> {
    let mut confirmed = by_key(confirmed);
    let mut out: BTreeMap<(SheetKind, RowChange, String), DeltaRow> = BTreeMap::new();
    for row in current {
        let key = (row.sheet, row.key.clone());
        let change = match confirmed.remove(&key) {
            None => RowChange::New,
            Some(before) if before.cells != row.cells => RowChange::Changed,
            Some(_) => continue,
        };
        // New and changed rows sort together, by key.
        out.insert(
            (row.sheet, RowChange::New, row.key.clone()),
            DeltaRow { row, change },
        );
    }
    for ((sheet, key), row) in confirmed {
        out.insert(
            (sheet, RowChange::Removed, key),
            DeltaRow {
                row,
                change: RowChange::Removed,
            },
        );
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sheet: SheetKind, key: &str, cells: &[&str]) -> UploadRow {
        UploadRow {
            sheet,
            key: key.to_string(),
            cells: cells.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn only_what_changed_with_removals_as_last_confirmed() {
        let d = delta(
            vec![
                row(SheetKind::Students, "p2|A|GR", &["p2", "7B"]),
                row(SheetKind::Students, "p4|A|GR", &["p4", "7A"]),
            ],
            vec![
                row(SheetKind::Students, "p2|A|GR", &["p2", "7A"]),
                row(SheetKind::Staff, "d1", &["d1", "Lärare"]),
            ],
        );
        let summary: Vec<(&str, RowChange, &str)> = d
            .iter()
            .map(|d| (d.row.key.as_str(), d.change, d.row.cells[1].as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("p2|A|GR", RowChange::Changed, "7B"),
                ("p4|A|GR", RowChange::New, "7A"),
                ("d1", RowChange::Removed, "Lärare"),
            ]
        );
    }

    #[test]
    fn nothing_changed_nothing_written() {
        let rows = vec![row(SheetKind::Classes, "c1", &["c1", "7A", "GR", "1"])];
        assert!(delta(rows.clone(), rows).is_empty());
    }
}
