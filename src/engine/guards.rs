//! Guards: stop a run whose plan would change unexpectedly much, before
//! anything is sent.
//!
//! A source that suddenly returns half the pupils (a wrong scope, a broken
//! export, an API returning an empty page) would otherwise delete them from
//! the provtjänst days before a national test. The limits are
//! `max_deletes` and `max_changes_ratio` (creates + updates + deletes
//! against what the state holds), over all types and per type, and for
//! memberships: a group that stays may lose at most `max_member_loss_ratio`
//! of its members, and all groups together at most `max_changes_ratio` of
//! theirs. A pipeline's first load is exempt — an empty state, and until a
//! run has completed: everything is new then.
//!
//! **Resuming a load is not change.** What earlier runs already tried to
//! send but the service never confirmed (a first load cut short by a 429
//! storm, an interrupted run) counts as held, and sending it again is not
//! counted as a change: finishing a load never needs
//! `--allow-large-changes`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use skolsync_model::ObjectType;
use skolsync_model::by_type;
use skolsync_model::plan::{Plan, PreviousState, SEND_ORDER, TypePlan};
use uuid::Uuid;

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
    /// What it is about, when one entity: a group's name and source id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Some(kind) => kind.as_str().to_lowercase(),
            None => "all types".to_string(),
        };
        if let Some(subject) = &self.subject {
            write!(
                f,
                "{what} {subject}: would lose {:.0} % of its members, more than {} = {}",
                self.actual * 100.0,
                self.key,
                self.limit
            )
        } else if self.key.ends_with("max_memberships_ratio") {
            write!(
                f,
                "{what}: {:.1} % of all group memberships would be removed, more than guards.max_changes_ratio = {}",
                self.actual * 100.0,
                self.limit
            )
        } else if self.key.ends_with("max_deletes") {
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

/// What the state knows beyond the confirmed hashes, for the guards.
#[derive(Debug, Clone, Default)]
pub struct GuardBase {
    /// Per type: entities earlier runs tried to send that the service has
    /// not confirmed (resuming them is not change).
    pub attempted: BTreeMap<ObjectType, BTreeSet<Uuid>>,
    /// Per group id: its member count when last confirmed.
    pub members: BTreeMap<Uuid, u64>,
}

/// Changes (creates, updates, deletes) and deletes of one type; creates of
/// entities an earlier run already tried to send are not changes.
fn changes(plan: &Plan, kind: ObjectType, attempted: Option<&BTreeSet<Uuid>>) -> (u64, u64) {
    fn of<T>(p: &TypePlan<T>, attempted: Option<&BTreeSet<Uuid>>) -> (u64, u64) {
        let resumed =
            attempted.map_or(0, |a| p.create.iter().filter(|d| a.contains(&d.id)).count());
        (
            (p.create.len() - resumed + p.update.len() + p.delete.len()) as u64,
            p.delete.len() as u64,
        )
    }
    by_type!(kind, &plan, |p| of(p, attempted))
}

/// What the service holds of `kind`, plus what earlier runs tried to send.
fn held(previous: &PreviousState, base: &GuardBase, kind: ObjectType) -> u64 {
    let attempted = base.attempted.get(&kind).map_or(0, |a| {
        a.iter().filter(|id| !previous.holds(kind, id)).count()
    });
    (previous.count(kind) + attempted) as u64
}

/// Every limit `plan` exceeds given what the state held (`previous`, and
/// `base`: attempts and member counts); empty when the run may go ahead.
/// An empty previous state exceeds none.
pub fn check(
    config: &GuardsConfig,
    plan: &Plan,
    previous: &PreviousState,
    base: &GuardBase,
) -> Vec<Violation> {
    let mut found = Vec::new();
    let total_held: u64 = SEND_ORDER.iter().map(|k| held(previous, base, *k)).sum();
    if total_held == 0 {
        return found;
    }
    let (mut total_changes, mut total_deletes) = (0u64, 0u64);
    for kind in SEND_ORDER {
        let (changed, deleted) = changes(plan, kind, base.attempted.get(&kind));
        total_changes += changed;
        total_deletes += deleted;
        let Some(limits) = config.limits(kind) else {
            continue;
        };
        let name = kind.as_str().to_lowercase();
        if let Some(max) = limits.max_deletes
            && deleted > max
        {
            found.push(Violation {
                kind: Some(kind),
                key: format!("guards.{name}.max_deletes"),
                actual: deleted as f64,
                limit: max as f64,
                subject: None,
            });
        }
        let held_of_kind = held(previous, base, kind);
        if let Some(max) = limits.max_changes_ratio
            && held_of_kind > 0
        {
            let ratio = changed as f64 / held_of_kind as f64;
            if ratio > max {
                found.push(Violation {
                    kind: Some(kind),
                    key: format!("guards.{name}.max_changes_ratio"),
                    actual: ratio,
                    limit: max,
                    subject: None,
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
            subject: None,
        });
    }
    let ratio = total_changes as f64 / total_held as f64;
    if ratio > config.max_changes_ratio {
        found.push(Violation {
            kind: None,
            key: "guards.max_changes_ratio".into(),
            actual: ratio,
            limit: config.max_changes_ratio,
            subject: None,
        });
    }
    membership_losses(config, plan, base, &mut found);
    found
}

/// Groups that stay: fewer than this many members before are not judged
/// one by one.
const MEMBER_FLOOR: u64 = 4;

/// Groups losing more than `max_member_loss_ratio` of their members, and
/// all memberships together dropping more than `max_changes_ratio`.
fn membership_losses(
    config: &GuardsConfig,
    plan: &Plan,
    base: &GuardBase,
    found: &mut Vec<Violation>,
) {
    if base.members.is_empty() {
        return;
    }
    let mut before_total = 0u64;
    let mut lost_total = 0u64;
    for group in &plan.groups.update {
        let Some(&before) = base.members.get(&group.id) else {
            continue;
        };
        let now = group.payload.group_memberships.len() as u64;
        let lost = before.saturating_sub(now);
        before_total += before;
        lost_total += lost;
        if before >= MEMBER_FLOOR {
            let ratio = lost as f64 / before as f64;
            if ratio > config.max_member_loss_ratio {
                found.push(Violation {
                    kind: Some(ObjectType::Group),
                    key: "guards.max_member_loss_ratio".into(),
                    actual: ratio,
                    limit: config.max_member_loss_ratio,
                    subject: Some(format!(
                        "`{}` ({}, {before} → {now} members)",
                        group.payload.display_name, group.source_id
                    )),
                });
            }
        }
    }
    // Unchanged groups keep theirs: they count in the total held.
    before_total += plan
        .groups
        .unchanged
        .iter()
        .filter_map(|id| base.members.get(id))
        .sum::<u64>();
    if before_total > 0 {
        let ratio = lost_total as f64 / before_total as f64;
        if ratio > config.max_changes_ratio {
            found.push(Violation {
                kind: None,
                key: "guards.max_memberships_ratio".into(),
                actual: ratio,
                limit: config.max_changes_ratio,
                subject: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::TypeGuards;

    fn previous(n: u128) -> PreviousState {
        let mut hashes = BTreeMap::new();
        hashes.insert(
            ObjectType::Group,
            (0..n)
                .map(|i| (Uuid::from_u128(i), "h".to_string()))
                .collect(),
        );
        PreviousState {
            hashes,
            ..PreviousState::default()
        }
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
        assert!(
            check(
                &config,
                &deleting(10),
                &PreviousState::default(),
                &GuardBase::default()
            )
            .is_empty()
        );
        assert!(check(&config, &deleting(5), &previous(100), &GuardBase::default()).is_empty());
        let found = check(&config, &deleting(6), &previous(100), &GuardBase::default());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, "guards.max_deletes");
        let found = check(&config, &deleting(6), &previous(10), &GuardBase::default());
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
        let found = check(&config, &deleting(3), &previous(100), &GuardBase::default());
        let keys: Vec<&str> = found.iter().map(|v| v.key.as_str()).collect();
        assert_eq!(
            keys,
            ["guards.group.max_deletes", "guards.group.max_changes_ratio"]
        );
        assert!(found[0].to_string().contains("3 deletes exceed"));
    }

    fn creating(n: u128) -> Plan {
        use skolsync_model::plan::{Desired, content_hash};
        use skolsync_model::provtjanst::{Duty, ObjectReference};
        let mut plan = Plan::default();
        plan.duties.create = (0..n)
            .map(|i| {
                let payload = Duty {
                    id: Uuid::from_u128(i),
                    meta: None,
                    person: ObjectReference::new(Uuid::from_u128(1)),
                    duty_at: ObjectReference::new(Uuid::from_u128(2)),
                    duty_role: skolsync_model::DutyRole::Larare,
                    provisioning_status: None,
                };
                Desired {
                    id: payload.id,
                    source_id: i.to_string(),
                    hash: content_hash(&payload),
                    school_unit: None,
                    payload,
                }
            })
            .collect();
        plan
    }

    #[test]
    fn finishing_a_cut_short_load_is_not_change() {
        let config = GuardsConfig::default();
        // 10 duties landed, 90 were tried and never confirmed.
        let mut previous = PreviousState::default();
        previous.hashes.insert(
            ObjectType::Duty,
            (100..110)
                .map(|i| (Uuid::from_u128(i), "h".to_string()))
                .collect(),
        );
        let plan = creating(90);
        let found = check(&config, &plan, &previous, &GuardBase::default());
        assert!(
            !found.is_empty(),
            "without the attempts it looks like 900 % change"
        );
        let base = GuardBase {
            attempted: [(ObjectType::Duty, (0..90).map(Uuid::from_u128).collect())].into(),
            ..GuardBase::default()
        };
        assert!(check(&config, &plan, &previous, &base).is_empty());
    }

    #[test]
    fn a_class_losing_most_of_its_members_stops_the_run() {
        use skolsync_model::plan::Desired;
        use skolsync_model::provtjanst::{Group, GroupMembership, ObjectReference};
        let group = |members: u128| {
            let payload = Group {
                id: Uuid::from_u128(1),
                meta: None,
                display_name: "8B".into(),
                group_type: skolsync_model::GroupType::Klass,
                school_type: skolsync_model::SchoolType::Gr,
                organisation: ObjectReference::new(Uuid::from_u128(9)),
                provisioning_status: None,
                group_memberships: (0..members)
                    .map(|m| GroupMembership {
                        person: ObjectReference::new(Uuid::from_u128(100 + m)),
                    })
                    .collect(),
            };
            Desired {
                id: payload.id,
                source_id: "g-8b".into(),
                hash: String::new(),
                school_unit: None,
                payload,
            }
        };
        let base = GuardBase {
            members: [(Uuid::from_u128(1), 20)].into(),
            ..GuardBase::default()
        };
        let config = GuardsConfig {
            max_changes_ratio: 10.0,
            ..GuardsConfig::default()
        };
        let mut plan = Plan::default();
        plan.groups.update = vec![group(18)];
        assert!(check(&config, &plan, &previous(100), &base).is_empty());
        plan.groups.update = vec![group(0)];
        let found = check(&config, &plan, &previous(100), &base);
        assert_eq!(found.len(), 1, "{found:?}");
        let text = found[0].to_string();
        assert!(text.contains("8B") && text.contains("20 → 0"), "{text}");
    }
}
