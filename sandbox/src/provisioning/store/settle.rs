//! Settling a job: each entity is checked against the rules and, if
//! accepted, stored (or deleted), and gets its outcome in the job status;
//! faults configured for the service inject TemporaryErrors here.

use std::collections::HashSet;
use std::time::Instant;

use chrono::Local;
use skolsync_model::provtjanst::{
    Activity, Duty, EntityOutcome, EntityResponse, Group, LogEntry, Meta, Person, path_segment,
};
use skolsync_model::{JobEntityStatus, ObjectType};
use uuid::Uuid;

use super::{Change, ChangeKind, Mode, Row, StoreInner, Tables, Work, stamped};
use crate::provisioning::messages::{self as msg, Entry};
use crate::provisioning::rules::{Resource, Rules};

impl StoreInner {
    pub(super) fn settle_due(&mut self, rules: &Rules, now: Instant) {
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let job_id = entry.remove();
            self.settle(rules, job_id, now);
        }
    }

    fn settle(&mut self, rules: &Rules, job_id: Uuid, now: Instant) {
        let StoreInner {
            tables,
            jobs,
            changes,
            temporary_last,
            ..
        } = self;
        let Some(job) = jobs.get_mut(&job_id) else {
            return;
        };
        // Timestamps as of the settle time, not of this (lazy) moment.
        let late = now.saturating_duration_since(job.settle_at);
        let at = chrono::Duration::from_std(late)
            .ok()
            .and_then(|late| Local::now().checked_sub_signed(late))
            .unwrap_or_else(Local::now)
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string();
        let mut cx = Settle {
            tables,
            changes,
            temporary_last,
            rules,
            temporary_share: rules.faults.get().temporary_error_share,
            job_id,
            kind: job.kind,
            base_url: &job.base_url,
            submitted: &job.submitted,
            at,
        };
        let outcomes: Vec<EntityResponse> = match std::mem::replace(&mut job.work, Work::Done) {
            Work::Persons(items, mode) => items.into_iter().map(|e| cx.upsert(e, mode)).collect(),
            Work::Duties(items, mode) => items.into_iter().map(|e| cx.upsert(e, mode)).collect(),
            Work::Groups(items, mode) => items.into_iter().map(|e| cx.upsert(e, mode)).collect(),
            Work::Activities(items, mode) => {
                items.into_iter().map(|e| cx.upsert(e, mode)).collect()
            }
            Work::Delete(ids) => ids
                .into_iter()
                .map(|id| match cx.kind {
                    ObjectType::Person => cx.delete::<Person>(id),
                    ObjectType::Duty => cx.delete::<Duty>(id),
                    ObjectType::Group => cx.delete::<Group>(id),
                    ObjectType::Activity => cx.delete::<Activity>(id),
                })
                .collect(),
            Work::Done => return,
        };
        job.responses = outcomes;
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
        meta: Some(meta),
    }
}

/// Everything one job's settling needs.
struct Settle<'a> {
    tables: &'a mut Tables,
    changes: &'a mut Vec<Change>,
    temporary_last: &'a mut HashSet<(ObjectType, Uuid)>,
    rules: &'a Rules,
    temporary_share: f64,
    job_id: Uuid,
    kind: ObjectType,
    base_url: &'a str,
    submitted: &'a str,
    at: String,
}

impl Settle<'_> {
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
        if !self.rules.faults.chance(self.temporary_share) {
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

    fn upsert<T: Resource>(&mut self, mut entity: T, mode: Mode) -> EntityResponse {
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
        entity.clear_read_only();
        let verdict = T::check(entity, self.tables, self.rules);
        if !verdict.errors.is_empty() {
            return self.refused(id, verdict.errors);
        }
        let status = if verdict.warnings.is_empty() {
            JobEntityStatus::Success
        } else {
            JobEntityStatus::Warning
        };
        let entity = verdict.entity;
        let (seq, created, modified, code, location, change) =
            match T::table_mut(self.tables).remove(&id) {
                Some(old) => {
                    T::unlink(self.tables, &old.entity);
                    let modified = if old.entity == entity {
                        old.modified
                    } else {
                        self.at.clone()
                    };
                    (
                        old.seq,
                        old.created,
                        modified,
                        200,
                        None,
                        ChangeKind::Updated,
                    )
                }
                None => {
                    let location = format!(
                        "{}/{}/{}",
                        self.base_url.trim_end_matches('/'),
                        path_segment(self.kind),
                        id
                    );
                    let seq = self.tables.next_seq();
                    (
                        seq,
                        self.at.clone(),
                        self.at.clone(),
                        201,
                        Some(location),
                        ChangeKind::Created,
                    )
                }
            };
        T::link(self.tables, &entity);
        let meta = stamped(created.clone(), modified.clone());
        T::table_mut(self.tables).insert(
            id,
            Row {
                seq,
                entity,
                created,
                modified,
            },
        );
        self.change(id, change);
        entity_response(
            id,
            status,
            code,
            location,
            Vec::new(),
            verdict.warnings,
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
        let Some(row) = T::table_mut(self.tables).remove(&id) else {
            return self.refused(id, vec![self.missing(id)]);
        };
        T::unlink(self.tables, &row.entity);
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
