//! Settling a job: each entity is checked against the rules and, if
//! accepted, stored (or deleted), and gets its outcome in the job status;
//! faults configured for the service inject TemporaryErrors here.

use std::collections::HashSet;
use std::time::Instant;

use chrono::Local;
use skolsync_model::ObjectType;
use uuid::Uuid;

use super::{Change, ChangeKind, Job, Mode, StoreInner, Tables, Work, stamped};
use crate::provisioning::envelope::{
    EntityOutcome, EntityResponse, JobStatus as JobEntityStatus, LogEntry,
};
use crate::provisioning::messages::{self as msg, Entry};
use crate::provisioning::payload::{Activity, Duty, Group, Meta, Person, path_segment};
use crate::provisioning::rules::{Judge, Resource, Rules};

impl StoreInner {
    pub(super) fn settle_due(&mut self, rules: &Rules, now: Instant) {
        while let Some(entry) = self.due.first_entry() {
            let (due_at, seq) = *entry.key();
            if due_at > now {
                break;
            }
            let job_id = entry.remove();
            if let Some(next_at) = self.settle(rules, job_id, due_at, now) {
                self.due.insert((next_at, seq), job_id);
            }
        }
    }

    /// Settles the job's next entity (all of them when it has no interval);
    /// returns when its next entity is due, if any is left.
    fn settle(
        &mut self,
        rules: &Rules,
        job_id: Uuid,
        due_at: Instant,
        now: Instant,
    ) -> Option<Instant> {
        let StoreInner {
            tables,
            jobs,
            changes,
            temporary_last,
            ..
        } = self;
        let job = jobs.get_mut(&job_id)?;
        // Timestamps as of the settle time, not of this (lazy) moment.
        let late = now.saturating_duration_since(due_at);
        let at = chrono::Duration::from_std(late)
            .ok()
            .and_then(|late| Local::now().checked_sub_signed(late))
            .unwrap_or_else(Local::now)
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string();
        let Job {
            kind,
            base_url,
            organisation,
            submitted,
            settle_at,
            settling,
            responses,
            settled,
            work,
        } = job;
        let mut cx = Settle {
            tables,
            changes,
            temporary_last,
            judge: Judge {
                rules,
                organisation: organisation.as_deref(),
            },
            temporary_share: rules.faults.get().temporary_error_share,
            job_id,
            kind: *kind,
            base_url,
            submitted,
            at,
        };
        let all_at_once = settling.interval.is_zero();
        while let Some(outcome) = cx.next(work) {
            if let Some(slot) = responses.get_mut(*settled) {
                *slot = outcome;
            }
            *settled += 1;
            if !all_at_once {
                break;
            }
        }
        if work.is_empty() {
            *work = Work::Done;
            return None;
        }
        let n = u32::try_from(*settled).unwrap_or(u32::MAX);
        Some(*settle_at + settling.interval.saturating_mul(n))
    }
}

impl Work {
    fn is_empty(&self) -> bool {
        match self {
            Work::Persons(v, _) => v.is_empty(),
            Work::Duties(v, _) => v.is_empty(),
            Work::Groups(v, _) => v.is_empty(),
            Work::Activities(v, _) => v.is_empty(),
            Work::Delete(v) => v.is_empty(),
            Work::Done => true,
        }
    }
}

/// One entity's outcome in a job status.
fn entity_response(
    id: Uuid,
    status: JobEntityStatus,
    code: u16,
    location: Option<String>,
    errors: Vec<LogEntry>,
    warnings: Vec<LogEntry>,
    meta: Meta,
) -> EntityResponse {
    EntityResponse {
        id,
        response: EntityOutcome {
            status,
            status_code: Some(code),
            location,
            errors,
            warnings,
        },
        meta,
    }
}

/// Everything one job's settling needs.
struct Settle<'a> {
    tables: &'a mut Tables,
    changes: &'a mut Vec<Change>,
    temporary_last: &'a mut HashSet<(ObjectType, Uuid)>,
    judge: Judge<'a>,
    temporary_share: f64,
    job_id: Uuid,
    kind: ObjectType,
    base_url: &'a str,
    submitted: &'a str,
    at: String,
}

impl Settle<'_> {
    /// Settles the next entity of `work` (submission order), if any is left.
    fn next(&mut self, work: &mut Work) -> Option<EntityResponse> {
        Some(match work {
            Work::Persons(items, mode) => {
                let mode = *mode;
                self.upsert(items.pop()?, mode)
            }
            Work::Duties(items, mode) => {
                let mode = *mode;
                self.upsert(items.pop()?, mode)
            }
            Work::Groups(items, mode) => {
                let mode = *mode;
                self.upsert(items.pop()?, mode)
            }
            Work::Activities(items, mode) => {
                let mode = *mode;
                self.upsert(items.pop()?, mode)
            }
            Work::Delete(ids) => {
                let id = ids.pop()?;
                match self.kind {
                    ObjectType::Person => self.delete::<Person>(id),
                    ObjectType::Duty => self.delete::<Duty>(id),
                    ObjectType::Group => self.delete::<Group>(id),
                    ObjectType::Activity => self.delete::<Activity>(id),
                }
            }
            Work::Done => return None,
        })
    }

    /// An outcome without a stored entity: created when submitted, last
    /// touched now.
    fn failed(
        &self,
        id: Uuid,
        status: JobEntityStatus,
        code: u16,
        errors: Vec<LogEntry>,
    ) -> EntityResponse {
        let meta = stamped(self.submitted.to_string(), self.at.clone());
        entity_response(id, status, code, None, errors, Vec::new(), meta)
    }

    fn refused(&self, id: Uuid, errors: Vec<LogEntry>) -> EntityResponse {
        let code = errors.first().map_or(400, |e| e.status_code);
        self.failed(id, JobEntityStatus::Error, code, errors)
    }

    /// An injected TemporaryError, never twice in a row for one entity.
    fn temporary(&mut self, id: Uuid) -> Option<EntityResponse> {
        let key = (self.kind, id);
        if self.temporary_last.remove(&key) {
            return None;
        }
        if !self.judge.rules.faults.chance(self.temporary_share) {
            return None;
        }
        self.temporary_last.insert(key);
        let entry = Entry::new(
            msg::TEMPORARY_ERROR,
            503,
            "Tillfälligt fel",
            "Ett tillfälligt fel inträffade vid behandling av uppgiften. Försök igen senare.",
        )
        .resource(self.kind, id)
        .build();
        Some(self.failed(id, JobEntityStatus::TemporaryError, 503, vec![entry]))
    }

    fn change(&mut self, id: Uuid, change: ChangeKind) {
        self.changes.push(Change {
            kind: self.kind,
            id,
            change,
            job_id: Some(self.job_id),
            at: self.at.clone(),
        });
    }

    fn upsert<T: Resource>(&mut self, entity: T, mode: Mode) -> EntityResponse {
        let id = entity.id();
        if let Some(temporary) = self.temporary(id) {
            return temporary;
        }
        let exists = T::table(self.tables).rows.contains_key(&id);
        match (mode, exists) {
            (Mode::Create, true) => {
                let entry = Entry::new(
                    msg::ALREADY_EXISTS,
                    409,
                    "Ogiltigt värde",
                    format!(
                        "{} med angivet id finns redan. Skicka updateIfExists=true eller använd PUT för att uppdatera.",
                        self.kind
                    ),
                )
                .resource(self.kind, id)
                .attribute("id", id.to_string());
                return self.refused(id, vec![entry.build()]);
            }
            (Mode::Update, false) => {
                return self.refused(id, vec![self.missing(id)]);
            }
            _ => {}
        }
        let stored = match self.tables.judge_and_store(entity, &self.judge, &self.at) {
            Ok(stored) => stored,
            Err(errors) => return self.refused(id, errors),
        };
        let status = if stored.warnings.is_empty() {
            JobEntityStatus::Success
        } else {
            JobEntityStatus::Warning
        };
        let (code, location, change) = if stored.new {
            let location = format!(
                "{}/{}/{}",
                self.base_url.trim_end_matches('/'),
                path_segment(self.kind),
                id
            );
            (201, Some(location), ChangeKind::Created)
        } else {
            (200, None, ChangeKind::Updated)
        };
        let meta = stamped(stored.created, stored.modified);
        self.change(id, change);
        entity_response(
            id,
            status,
            code,
            location,
            Vec::new(),
            stored.warnings,
            meta,
        )
    }

    fn missing(&self, id: Uuid) -> LogEntry {
        Entry::new(
            msg::DOES_NOT_EXIST,
            404,
            "Ogiltigt värde",
            format!("{} med angivet id finns inte i provtjänsten.", self.kind),
        )
        .resource(self.kind, id)
        .attribute("id", id.to_string())
        .build()
    }

    fn delete<T: Resource>(&mut self, id: Uuid) -> EntityResponse {
        if let Some(temporary) = self.temporary(id) {
            return temporary;
        }
        if !T::table(self.tables).rows.contains_key(&id) {
            return self.refused(id, vec![self.missing(id)]);
        }
        let blockers = T::blockers(self.tables, id);
        if !blockers.is_empty() {
            return self.refused(id, blockers);
        }
        let Some(row) = self.tables.forget::<T>(id) else {
            return self.refused(id, vec![self.missing(id)]);
        };
        self.change(id, ChangeKind::Deleted);
        let meta = stamped(row.created, self.at.clone());
        entity_response(
            id,
            JobEntityStatus::Success,
            200,
            None,
            Vec::new(),
            Vec::new(),
            meta,
        )
    }
}
