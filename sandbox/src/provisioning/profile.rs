//! The DNP profile's rules as a holder of entities outside this API uses
//! them: Skolverket's SS12000 client emulator ([`crate::pull_client`])
//! judges every entity it fetches with the very checks the Provisioning
//! API's jobs apply — the schema reading of [`super::schema`], then the
//! per-entity rules (civic numbers, EPPNs, school units of the huvudman in
//! Skolverket's register, test activities) and the dependency rules
//! against what it already holds (a duty's person, a group's members, an
//! activity's groups and teachers) — through the same
//! [`Tables::judge_and_store`].
//!
//! Input is the provisioning profile's JSON of one entity; the caller
//! strips what its own API adds (read-only properties).

use std::sync::Arc;

use serde_json::Value;
use skolsync_model::ObjectType;
use uuid::Uuid;

use super::envelope::LogEntry;
use super::messages::{self as msg, timestamp};
use super::payload::{Activity, Duty, Group, Person};
use super::rules::{Judge, Resource, Rules};
use super::schema;
use super::store::Tables;
use crate::config::FaultSwitch;
use crate::world::Catalogue;

/// What became of one entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Judged {
    /// Held (created or replaced); with the warnings it passed with.
    Held {
        /// Its id.
        id: Uuid,
        /// Problems that did not stop it.
        warnings: Vec<LogEntry>,
    },
    /// Refused and not held; a previous version of it stays as it was.
    Refused {
        /// Its id, when it had a readable one.
        id: Option<Uuid>,
        /// Why (one LogEntry per reason, with the rule's id).
        errors: Vec<LogEntry>,
    },
}

/// The persons, duties, groups and activities one holder keeps, judged by
/// the profile rules for one huvudman.
#[derive(Debug)]
pub struct ProfileHolder {
    tables: Tables,
    rules: Rules,
    organisation: Option<String>,
}

impl ProfileHolder {
    /// An empty holder judging against `catalogue` (Skolverket's register)
    /// for the huvudman of `organisation` (ten digits; `None`: units are
    /// not checked for ownership).
    pub fn new(
        catalogue: Arc<Catalogue>,
        faults: Arc<FaultSwitch>,
        organisation: Option<String>,
    ) -> Self {
        ProfileHolder {
            tables: Tables::default(),
            rules: Rules::new(catalogue, faults),
            organisation,
        }
    }

    /// Judges one entity of `kind` given as profile JSON and holds it when
    /// it passes.
    pub fn judge(&mut self, kind: ObjectType, value: &Value) -> Judged {
        match kind {
            ObjectType::Person => self.judge_as::<Person>(value),
            ObjectType::Duty => self.judge_as::<Duty>(value),
            ObjectType::Group => self.judge_as::<Group>(value),
            ObjectType::Activity => self.judge_as::<Activity>(value),
        }
    }

    /// Stops holding the entity of `kind` and `id`; whether it was held.
    pub fn forget(&mut self, kind: ObjectType, id: Uuid) -> bool {
        let t = &mut self.tables;
        match kind {
            ObjectType::Person => t.forget::<Person>(id).is_some(),
            ObjectType::Duty => t.forget::<Duty>(id).is_some(),
            ObjectType::Group => t.forget::<Group>(id).is_some(),
            ObjectType::Activity => t.forget::<Activity>(id).is_some(),
        }
    }

    /// Whether the entity of `kind` and `id` is held.
    pub fn holds(&self, kind: ObjectType, id: Uuid) -> bool {
        let t = &self.tables;
        match kind {
            ObjectType::Person => t.persons.rows.contains_key(&id),
            ObjectType::Duty => t.duties.rows.contains_key(&id),
            ObjectType::Group => t.groups.rows.contains_key(&id),
            ObjectType::Activity => t.activities.rows.contains_key(&id),
        }
    }

    fn judge_as<T: Resource>(&mut self, value: &Value) -> Judged {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok());
        let problems = schema::problems(value, T::SCHEMA, "");
        let entity = if problems.is_empty() {
            serde_json::from_value::<T>(value.clone()).map_err(|e| e.to_string())
        } else {
            Err(problems.join("; "))
        };
        let entity = match entity {
            Ok(entity) => entity,
            Err(detail) => {
                let mut entry = msg::invalid_body(Some(T::KIND), &detail);
                if let Some(id) = id {
                    entry = entry.resource(T::KIND, id);
                }
                return Judged::Refused {
                    id,
                    errors: vec![entry.build()],
                };
            }
        };
        let id = entity.id();
        let judge = Judge {
            rules: &self.rules,
            organisation: self.organisation.as_deref(),
        };
        match self.tables.judge_and_store(entity, &judge, &timestamp()) {
            Ok(stored) => Judged::Held {
                id,
                warnings: stored.warnings,
            },
            Err(errors) => Judged::Refused {
                id: Some(id),
                errors,
            },
        }
    }
}
