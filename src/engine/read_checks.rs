//! Read checks: a read that looks broken changes nothing it cannot vouch
//! for.
//!
//! Before anything is sent, each read is compared with the previous
//! successful one (stored in the state, see `state::shapes`): a column
//! present before and missing now, a header that changed, a file or
//! resource that shrank sharply. Together with what the connector saw on
//! its own (a truncated last row, a quote that swallowed rows, text not in
//! the file's encoding) any finding stops the run before sending, naming
//! the file, the line and what changed. `--allow-large-changes` lets every
//! check through; `[guards] allow_read = ["shrunk", …]` lets named ones
//! through for good.

use std::collections::HashMap;

use skolsync_connectors::{InputShape, ReadAnomaly, ReadCheck};

use crate::pipeline::GuardsConfig;

/// Below this many records before, a shrink is not judged: small test
/// sources go from 3 rows to 1 without anything being wrong.
const SHRINK_FLOOR: u64 = 20;

/// Everything that makes `current` look broken, given the previous
/// successful read (`None` for a first read) and the pipeline's guards.
/// Checks the pipeline allows are left out.
pub fn check(
    previous: Option<&[InputShape]>,
    current: &[InputShape],
    guards: &GuardsConfig,
) -> Vec<ReadAnomaly> {
    let mut found: Vec<ReadAnomaly> = current
        .iter()
        .flat_map(|input| input.anomalies.iter().cloned())
        .collect();
    if let Some(previous) = previous {
        let now: HashMap<&str, &InputShape> =
            current.iter().map(|i| (i.name.as_str(), i)).collect();
        for before in previous {
            match now.get(before.name.as_str()) {
                Some(after) => compare(before, after, guards.max_shrink_ratio, &mut found),
                None if before.records >= SHRINK_FLOOR => found.push(ReadAnomaly {
                    check: ReadCheck::Shrunk,
                    location: before.name.clone(),
                    message: format!(
                        "held {} records in the previous successful read and was not read at all now",
                        before.records
                    ),
                }),
                None => {}
            }
        }
    }
    found.retain(|a| !guards.allow_read.contains(&a.check));
    found
}

fn compare(before: &InputShape, after: &InputShape, max_shrink: f64, found: &mut Vec<ReadAnomaly>) {
    let missing: Vec<&str> = before
        .columns
        .iter()
        .filter(|c| !after.columns.contains(c))
        .map(String::as_str)
        .collect();
    let location = format!("{}:1", after.name);
    if !missing.is_empty() {
        let added: Vec<&str> = after
            .columns
            .iter()
            .filter(|c| !before.columns.contains(c))
            .map(String::as_str)
            .collect();
        let mut message = format!(
            "column{} {} present in the previous successful read {} missing",
            if missing.len() == 1 { "" } else { "s" },
            quoted(&missing),
            if missing.len() == 1 { "is" } else { "are" },
        );
        if !added.is_empty() {
            message.push_str(&format!(" (new: {})", quoted(&added)));
        }
        message.push_str("; read as empty, they would empty what they carry in the provtjänst");
        found.push(ReadAnomaly {
            check: ReadCheck::MissingColumn,
            location,
            message,
        });
    } else if !before.columns.is_empty() && before.columns != after.columns {
        found.push(ReadAnomaly {
            check: ReadCheck::HeaderChanged,
            location,
            message: format!(
                "the header changed from {} to {}",
                quoted_all(&before.columns),
                quoted_all(&after.columns)
            ),
        });
    }
    if before.records >= SHRINK_FLOOR {
        let lost = before.records.saturating_sub(after.records) as f64 / before.records as f64;
        if lost > max_shrink {
            found.push(ReadAnomaly {
                check: ReadCheck::Shrunk,
                location: after.name.clone(),
                message: format!(
                    "holds {} records, {:.0} % fewer than the {} of the previous successful read \
                     (guards.max_shrink_ratio = {max_shrink})",
                    after.records,
                    lost * 100.0,
                    before.records
                ),
            });
        }
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn quoted_all(names: &[String]) -> String {
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    quoted(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, columns: &[&str], records: u64) -> InputShape {
        InputShape {
            name: name.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            records,
            ..InputShape::default()
        }
    }

    #[test]
    fn a_renamed_column_is_named_and_stops() {
        let before = [shape("Elevinskrivningar.csv", &["Person-ID", "Klass"], 300)];
        let after = [shape(
            "Elevinskrivningar.csv",
            &["Person-ID", "Klassnamn"],
            300,
        )];
        let found = check(Some(&before), &after, &GuardsConfig::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].check, ReadCheck::MissingColumn);
        assert!(found[0].message.contains("`Klass`"), "{}", found[0].message);
        assert!(
            found[0].message.contains("`Klassnamn`"),
            "{}",
            found[0].message
        );
        assert_eq!(found[0].location, "Elevinskrivningar.csv:1");
    }

    #[test]
    fn a_sharp_shrink_stops_and_a_small_one_does_not() {
        let before = [shape("/persons", &[], 1000)];
        let guards = GuardsConfig::default();
        assert!(check(Some(&before), &[shape("/persons", &[], 900)], &guards).is_empty());
        let found = check(Some(&before), &[shape("/persons", &[], 100)], &guards);
        assert_eq!(found[0].check, ReadCheck::Shrunk);
        let found = check(Some(&before), &[], &guards);
        assert_eq!(
            found[0].check,
            ReadCheck::Shrunk,
            "a resource no longer read"
        );
    }

    #[test]
    fn a_first_read_is_judged_only_by_what_it_saw_itself_and_allowed_checks_pass() {
        let mut after = shape("Klasser.csv", &["Klass-ID"], 5);
        after.anomalies.push(ReadAnomaly {
            check: ReadCheck::Truncated,
            location: "Klasser.csv:6".into(),
            message: "the last row ends early".into(),
        });
        let found = check(None, std::slice::from_ref(&after), &GuardsConfig::default());
        assert_eq!(found.len(), 1);
        let guards = GuardsConfig {
            allow_read: vec![ReadCheck::Truncated],
            ..GuardsConfig::default()
        };
        assert!(check(None, &[after], &guards).is_empty());
    }
}
