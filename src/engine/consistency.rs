//! Consistency checks: numbers that must add up and, if they do not, are
//! errors — the transform's own balance against the desired state and the
//! plan (`transform_inconsistencies`), and the mark a report gets when
//! something does not add up (`mark_inconsistent`).
//!
//! Apart from the run because these are audits of the run, not steps of
//! it: they never change what is sent, only what the run is called.

use skolsync_model::by_type;

use super::prepare::Prepared;
use crate::report::ReportPaths;

/// Adds the list of inconsistencies to the JSON report as
/// `"inconsistencies": [...]`, so a script reading the report sees them.
pub(super) fn mark_inconsistent(paths: &ReportPaths, inconsistencies: &[String]) {
    let marked = std::fs::read_to_string(&paths.json)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|mut json| {
            json.as_object_mut()?.insert(
                "inconsistencies".into(),
                serde_json::Value::from(inconsistencies.to_vec()),
            );
            serde_json::to_string_pretty(&json).ok()
        });
    match marked {
        Some(text) => {
            if let Err(e) = std::fs::write(&paths.json, text + "\n") {
                tracing::error!("could not mark the report as inconsistent: {e}");
            }
        }
        None => tracing::error!("could not mark the report as inconsistent"),
    }
}

/// Checks the transform's own balance: per type, every record read is out
/// of scope or in scope, and every record in scope is in the desired state
/// or rejected.
pub(super) fn transform_inconsistencies(prepared: &Prepared) -> Vec<String> {
    let c = &prepared.counts;
    let mut found = Vec::new();
    for (kind, t) in c.iter() {
        let desired = prepared.desired.counts[kind];
        let name = kind.as_str().to_lowercase();
        if t.read != t.out_of_scope + t.in_scope {
            found.push(format!(
                "{name}: transform read {} ≠ out of scope {} + in scope {}",
                t.read, t.out_of_scope, t.in_scope
            ));
        }
        if t.in_scope != t.out + t.rejected {
            found.push(format!(
                "{name}: transform in scope {} ≠ out {} + rejected {}",
                t.in_scope, t.out, t.rejected
            ));
        }
        if t.out != desired {
            found.push(format!(
                "{name}: the transform counted {} out but the desired state holds {desired}",
                t.out
            ));
        }
        let planned = {
            let s = super::progress::planned(&prepared.plan, kind);
            let (unchanged, deletes) = by_type!(kind, &prepared.plan, |p| (
                p.unchanged.len(),
                p.delete.len()
            ));
            s - deletes + unchanged
        };
        if planned != desired {
            found.push(format!(
                "{name}: the plan covers {planned} entities but the desired state holds {desired} (duplicate ids?)"
            ));
        }
    }
    found
}
