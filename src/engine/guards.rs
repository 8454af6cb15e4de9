//! Guards: stop a run whose plan would change unexpectedly much, before
//! anything is sent.
//!
//! A source that suddenly returns half the pupils (a wrong scope, a broken
//! export, an API returning an empty page) would otherwise delete them from
//! the provtjänst days before a national test. The limits are
//! `max_deletes` and `max_changes_ratio` (creates + updates + deletes
//! against what the state holds), over all types and per type. A
//! pipeline's first load is exempt — an empty state, and until a run has
//! completed (a first run that was interrupted and is being resumed):
//! everything is new then.

use serde::Serialize;
use skolsync_model::ObjectType;
use skolsync_model::plan::{Plan, PreviousState, SEND_ORDER};

use crate::pipeline::GuardsConfig;

/// One limit a plan exceeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// The type, or `None` for all types together.
    pub kind: Option<ObjectType>,
    /// The key that set the limit, e.g. `guards.max_deletes`.
    pub key: String,
    /// What the plan would do.
    pub actual: f64,
    /// The limit.
    pub limit: f64,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Some(kind) => kind.as_str().to_lowercase(),
            None => "all types".to_string(),
        };
        if self.key.ends_with("max_deletes") {
            write!(
                f,
                "{what}: {} deletes exceed {} = {}",
                self.actual, self.key, self.limit
            )
        } else {
            write!(
                f,
                "{what}: {:.1} % changed exceeds {} = {} ({:.1} %)",
                self.actual * 100.0,
                self.key,
                self.limit,
                self.limit * 100.0
            )
        }
    }
}

/// Changes (creates, updates, deletes) and deletes of one type.
fn changes(plan: &Plan, kind: ObjectType) -> (u64, u64) {
    fn of<T>(p: &skolsync_model::plan::TypePlan<T>) -> (u64, u64) {
        (
            (p.create.len() + p.update.len() + p.delete.len()) as u64,
            p.delete.len() as u64,
        )
    }
    match kind {
        ObjectType::Person => of(&plan.persons),
        ObjectType::Duty => of(&plan.duties),
        ObjectType::Group => of(&plan.groups),
        ObjectType::Activity => of(&plan.activities),
    }
}

fn held(previous: &PreviousState, kind: ObjectType) -> u64 {
    previous.hashes.get(&kind).map_or(0, |m| m.len() as u64)
}

/// Every limit `plan` exceeds given what the state held (`previous`);
/// empty when the run may go ahead. An empty previous state exceeds none.
pub fn check(config: &GuardsConfig, plan: &Plan, previous: &PreviousState) -> Vec<Violation> {
    let mut found = Vec::new();
    let total_held: u64 = SEND_ORDER.iter().map(|k| held(previous, *k)).sum();
    if total_held == 0 {
        return found;
    }
    let (mut total_changes, mut total_deletes) = (0u64, 0u64);
    for kind in SEND_ORDER {
        let (changed, deleted) = changes(plan, kind);
        total_changes += changed;
        total_deletes += deleted;
        let limits = match kind {
            ObjectType::Person => &config.person,
            ObjectType::Duty => &config.duty,
            ObjectType::Group => &config.group,
            ObjectType::Activity => &config.activity,
        };
        let Some(limits) = limits else { continue };
        let name = kind.as_str().to_lowercase();
        if let Some(max) = limits.max_deletes
            && deleted > max
        {
            found.push(Violation {
                kind: Some(kind),
                key: format!("guards.{name}.max_deletes"),
                actual: deleted as f64,
                limit: max as f64,
            });
        }
        let base = held(previous, kind);
        if let Some(max) = limits.max_changes_ratio
            && base > 0
        {
            let ratio = changed as f64 / base as f64;
            if ratio > max {
                found.push(Violation {
                    kind: Some(kind),
                    key: format!("guards.{name}.max_changes_ratio"),
                    actual: ratio,
                    limit: max,
                });
            }
        }
    }
    if total_deletes > config.max_deletes {
        found.push(Violation {
            kind: None,
            key: "guards.max_deletes".into(),
            actual: total_deletes as f64,
            limit: config.max_deletes as f64,
        });
    }
    let ratio = total_changes as f64 / total_held as f64;
    if ratio > config.max_changes_ratio {
        found.push(Violation {
            kind: None,
            key: "guards.max_changes_ratio".into(),
            actual: ratio,
            limit: config.max_changes_ratio,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::TypeGuards;
    use std::collections::BTreeMap;
    use uuid::Uuid;

    fn previous(n: u128) -> PreviousState {
        let mut hashes = BTreeMap::new();
        hashes.insert(
            ObjectType::Group,
            (0..n)
                .map(|i| (Uuid::from_u128(i), "h".to_string()))
                .collect(),
        );
        PreviousState { hashes }
    }

    fn deleting(n: u128) -> Plan {
        let mut plan = Plan::default();
        plan.groups.delete = (0..n).map(Uuid::from_u128).collect();
        plan
    }

    #[test]
    fn first_run_is_exempt_and_limits_apply_after() {
        let config = GuardsConfig {
            max_deletes: 5,
            max_changes_ratio: 0.5,
            ..GuardsConfig::default()
        };
        assert!(check(&config, &deleting(10), &PreviousState::default()).is_empty());
        assert!(check(&config, &deleting(5), &previous(100)).is_empty());
        let found = check(&config, &deleting(6), &previous(100));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "guards.max_deletes");
        let found = check(&config, &deleting(6), &previous(10));
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn per_type_limits() {
        let config = GuardsConfig {
            max_deletes: 1000,
            max_changes_ratio: 10.0,
            group: Some(TypeGuards {
                max_deletes: Some(2),
                max_changes_ratio: Some(0.01),
            }),
            ..GuardsConfig::default()
        };
        let found = check(&config, &deleting(3), &previous(100));
        let keys: Vec<&str> = found.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(
            keys,
            ["guards.group.max_deletes", "guards.group.max_changes_ratio"]
        );
        assert!(found[0].to_string().contains("3 deletes exceed"));
    }
}
