//! What the emulated service holds: the four resource tables with their
//! indexes, the bulk jobs, a history of changes and a log of every request.
//!
//! Jobs settle lazily, entity by entity: every access first settles the
//! entities whose time has come (a job's first after the settle delay, each
//! next one [`Settling::interval`] later), earliest first, so the outcome is
//! the same as if a background worker had processed them at their settle
//! time. Entities of jobs running side by side interleave: a Duty job sent
//! before the Person job finished may meet persons not there yet, which is
//! why the README's order ("Kontrollera att 'Person' objekt är inskickad och
//! fått lyckad status innan 'Duty' skickas") matters here as it does in
//! production. A job status read mid-way lists the settled entities with
//! their outcome and the rest as `Pending` (or not at all,
//! [`UnsettledListing::Absent`]). One mutex guards everything; it is never
//! held across an `await`.
//!
//! This file holds the store's handle and what it answers; [`tables`] the
//! stored rows and their indexes, [`settle`] how a due job is processed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use skolsync_model::ObjectType;
use skolsync_model::provtjanst as model;
use uuid::Uuid;

use super::envelope::{
    AsynchronousResponse, EntityOutcome, EntityResponse, JobStatus as JobEntityStatus,
};
use super::limiter::RateClass;
use super::messages::timestamp;
use super::payload::{self, Activity, Duty, Group, Person};
use super::rules::{Resource, Rules};
use crate::config::UnsettledListing;

mod settle;
mod tables;

pub use tables::{Row, Table, Tables};

/// How a bulk create/update treats ids that exist or do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POST /x/bulk`: an existing id is an Error.
    Create,
    /// `POST /x/bulk?updateIfExists=true`: create or update.
    Upsert,
    /// `PUT /x/bulk`: an unknown id is an Error.
    Update,
}

/// How a job's entities settle over time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settling {
    /// Time between two entities of one job (zero: all at once).
    pub interval: Duration,
    /// How the job status lists entities not settled yet.
    pub unsettled: UnsettledListing,
    /// `isCompleted` is `true` once the first entity has settled
    /// ([`crate::config::ProvisioningOptions::completed_early`]).
    pub completed_early: bool,
}

/// The entities of a job waiting to be processed, *last first* (the next
/// one to settle is popped from the end).
#[derive(Debug)]
pub enum Work {
    /// Persons to create/update.
    Persons(Vec<Person>, Mode),
    /// Duties to create/update.
    Duties(Vec<Duty>, Mode),
    /// Groups to create/update.
    Groups(Vec<Group>, Mode),
    /// Activities to create/update.
    Activities(Vec<Activity>, Mode),
    /// Ids to delete (of the job's kind).
    Delete(Vec<Uuid>),
    /// Processed.
    Done,
}

/// What happened to a stored resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// It was created.
    Created,
    /// An accepted update (also when nothing changed; `meta.modified` then
    /// stays as it was).
    Updated,
    /// It was deleted.
    Deleted,
}

/// One entry of the change history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Kind of resource.
    pub kind: ObjectType,
    /// Its id.
    pub id: Uuid,
    /// What happened.
    pub change: ChangeKind,
    /// The job that did it (`None` for [`Store::insert_person`] and friends).
    pub job_id: Option<Uuid>,
    /// When (RFC 3339, the service's clock).
    pub at: String,
}

/// One request the service received, whatever its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path, e.g. `/persons/bulk`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Client identity from the bearer token; `None` when it was missing or
    /// invalid.
    pub client: Option<String>,
    /// Which rate limit the call counts against.
    pub class: RateClass,
    /// Body size in bytes (all of it, also when it was too large).
    pub body_bytes: usize,
    /// When the request arrived (monotonic; compare calls with this).
    pub at: Instant,
    /// When the request arrived (wall clock).
    pub received_at: SystemTime,
    /// HTTP status of the answer.
    pub status: u16,
    /// Time spent answering (including injected slowness).
    pub elapsed: Duration,
}

impl Work {
    /// The same work with its items reversed, so that popping from the end
    /// takes them in submission order.
    fn queued(self) -> Work {
        fn rev<T>(mut items: Vec<T>) -> Vec<T> {
            items.reverse();
            items
        }
        match self {
            Work::Persons(v, m) => Work::Persons(rev(v), m),
            Work::Duties(v, m) => Work::Duties(rev(v), m),
            Work::Groups(v, m) => Work::Groups(rev(v), m),
            Work::Activities(v, m) => Work::Activities(rev(v), m),
            Work::Delete(v) => Work::Delete(rev(v)),
            Work::Done => Work::Done,
        }
    }
}

/// What a job was submitted with, besides its entities.
#[derive(Debug, Clone)]
pub(crate) struct Submission {
    /// Resource type.
    pub kind: ObjectType,
    /// Base URL for `location`s.
    pub base_url: String,
    /// The caller's organisation number (digits), for the huvudman check.
    pub organisation: Option<String>,
    /// When the first entity settles.
    pub settle_in: Duration,
    /// How the rest follow.
    pub settling: Settling,
}

#[derive(Debug)]
struct Job {
    kind: ObjectType,
    base_url: String,
    organisation: Option<String>,
    submitted: String,
    settle_at: Instant,
    settling: Settling,
    responses: Vec<EntityResponse>,
    /// How many entities have settled (the first `settled` responses).
    settled: usize,
    work: Work,
}

#[derive(Debug, Default)]
struct StoreInner {
    tables: Tables,
    jobs: HashMap<Uuid, Job>,
    /// Unsettled jobs by (settle time, submission number).
    due: BTreeMap<(Instant, u64), Uuid>,
    job_seq: u64,
    changes: Vec<Change>,
    requests: Vec<RequestRecord>,
    /// Entities whose last outcome was an injected TemporaryError; their
    /// next attempt is processed normally, so retries always converge.
    temporary_last: HashSet<(ObjectType, Uuid)>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<StoreInner>,
    rules: Rules,
}

/// A handle on the emulator's state; cheap to clone, shared with the router.
///
/// Every query first settles the jobs that are due, so what tests see here
/// is what the API would answer at the same moment.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl Store {
    pub(crate) fn new(rules: Rules) -> Self {
        Store {
            shared: Arc::new(Shared {
                inner: Mutex::new(StoreInner::default()),
                rules,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, StoreInner> {
        // A poisoned lock means a request panicked mid-way; the data is still
        // the best we have, so keep serving it.
        self.shared.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn settled(&self) -> MutexGuard<'_, StoreInner> {
        let mut inner = self.lock();
        inner.settle_due(&self.shared.rules, Instant::now());
        inner
    }

    // ---- queries for tests and the server -------------------------------

    /// Current persons, in creation order, with `meta` and `provisioningStatus`.
    pub fn persons(&self) -> Vec<model::Person> {
        self.all::<Person>()
            .iter()
            .filter_map(payload::convert)
            .collect()
    }

    /// Current duties, in creation order.
    pub fn duties(&self) -> Vec<model::Duty> {
        self.all::<Duty>()
            .iter()
            .filter_map(payload::convert)
            .collect()
    }

    /// Current groups, in creation order.
    pub fn groups(&self) -> Vec<model::Group> {
        self.all::<Group>()
            .iter()
            .filter_map(payload::convert)
            .collect()
    }

    /// Current activities, in creation order.
    pub fn activities(&self) -> Vec<model::Activity> {
        self.all::<Activity>()
            .iter()
            .filter_map(payload::convert)
            .collect()
    }

    /// A person by id.
    pub fn person(&self, id: Uuid) -> Option<model::Person> {
        self.get::<Person>(id).as_ref().and_then(payload::convert)
    }

    /// A duty by id.
    pub fn duty(&self, id: Uuid) -> Option<model::Duty> {
        self.get::<Duty>(id).as_ref().and_then(payload::convert)
    }

    /// A group by id.
    pub fn group(&self, id: Uuid) -> Option<model::Group> {
        self.get::<Group>(id).as_ref().and_then(payload::convert)
    }

    /// An activity by id.
    pub fn activity(&self, id: Uuid) -> Option<model::Activity> {
        self.get::<Activity>(id).as_ref().and_then(payload::convert)
    }

    /// Number of stored resources of a kind.
    pub fn count(&self, kind: ObjectType) -> usize {
        let inner = self.settled();
        match kind {
            ObjectType::Person => inner.tables.persons.rows.len(),
            ObjectType::Duty => inner.tables.duties.rows.len(),
            ObjectType::Group => inner.tables.groups.rows.len(),
            ObjectType::Activity => inner.tables.activities.rows.len(),
        }
    }

    /// Every create, update and delete so far, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        self.settled().changes.clone()
    }

    /// Ids of `kind` that had a change of `change`, oldest first (an id
    /// appears once per change).
    pub fn changed(&self, kind: ObjectType, change: ChangeKind) -> Vec<Uuid> {
        self.settled()
            .changes
            .iter()
            .filter(|c| c.kind == kind && c.change == change)
            .map(|c| c.id)
            .collect()
    }

    /// Ids of `kind` created so far.
    pub fn created(&self, kind: ObjectType) -> Vec<Uuid> {
        self.changed(kind, ChangeKind::Created)
    }

    /// Ids of `kind` updated so far.
    pub fn updated(&self, kind: ObjectType) -> Vec<Uuid> {
        self.changed(kind, ChangeKind::Updated)
    }

    /// Ids of `kind` deleted so far.
    pub fn deleted(&self, kind: ObjectType) -> Vec<Uuid> {
        self.changed(kind, ChangeKind::Deleted)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// Forgets the request log (e.g. between phases of a test).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// A job's status as `GET /x/bulk/jobs/{id}` would show it.
    pub fn job(&self, id: Uuid) -> Option<AsynchronousResponse> {
        self.job_status(None, id, false)
    }

    /// Number of jobs with entities still `Pending`.
    pub fn pending_jobs(&self) -> usize {
        self.settled().due.len()
    }

    // ---- preloading (a service that already holds data) -----------------

    /// Stores a person as if an earlier run had provisioned it, bypassing
    /// the rules (but keeping the indexes right).
    pub fn insert_person(&self, person: model::Person) {
        if let Some(own) = payload::convert::<_, Person>(&person) {
            self.insert(own);
        }
    }

    /// Stores a duty, bypassing the rules.
    pub fn insert_duty(&self, duty: model::Duty) {
        if let Some(own) = payload::convert::<_, Duty>(&duty) {
            self.insert(own);
        }
    }

    /// Stores a group, bypassing the rules.
    pub fn insert_group(&self, group: model::Group) {
        if let Some(own) = payload::convert::<_, Group>(&group) {
            self.insert(own);
        }
    }

    /// Stores an activity, bypassing the rules.
    pub fn insert_activity(&self, activity: model::Activity) {
        if let Some(own) = payload::convert::<_, Activity>(&activity) {
            self.insert(own);
        }
    }

    fn insert<T: Resource>(&self, mut entity: T) {
        entity.clear_read_only();
        let mut inner = self.settled();
        let now = timestamp();
        let id = entity.id();
        let tables = &mut inner.tables;
        let (seq, created) = match T::table_mut(tables).remove(&id) {
            Some(old) => {
                T::unlink(tables, &old.entity);
                (old.seq, old.created)
            }
            None => (tables.next_seq(), now.clone()),
        };
        T::link(tables, &entity);
        T::table_mut(tables).insert(
            id,
            Row {
                seq,
                entity,
                created,
                modified: now,
            },
        );
    }

    // ---- what the handlers use -------------------------------------------

    fn all<T: Resource>(&self) -> Vec<T> {
        let inner = self.settled();
        let table = T::table(&inner.tables);
        table
            .order
            .values()
            .filter_map(|id| table.rows.get(id))
            .map(|row| inner.tables.render(row))
            .collect()
    }

    pub(crate) fn get<T: Resource>(&self, id: Uuid) -> Option<T> {
        let inner = self.settled();
        T::table(&inner.tables)
            .rows
            .get(&id)
            .map(|row| inner.tables.render(row))
    }

    /// Up to `limit` resources created after position `after`, and the
    /// position of the last one if more follow it.
    pub(crate) fn page<T: Resource>(&self, after: u64, limit: usize) -> (Vec<T>, Option<u64>) {
        let inner = self.settled();
        let table = T::table(&inner.tables);
        let mut range = table.order.range(after.saturating_add(1)..);
        let mut data = Vec::with_capacity(limit);
        let mut last = after;
        for (seq, id) in range.by_ref().take(limit) {
            if let Some(row) = table.rows.get(id) {
                data.push(inner.tables.render(row).list_form());
                last = *seq;
            }
        }
        let more = range.next().is_some();
        (data, more.then_some(last))
    }

    /// The resources among `ids` that exist, in creation order.
    pub(crate) fn lookup<T: Resource>(&self, ids: &[Uuid]) -> Vec<T> {
        let inner = self.settled();
        let table = T::table(&inner.tables);
        let wanted: BTreeSet<u64> = ids
            .iter()
            .filter_map(|id| table.rows.get(id).map(|r| r.seq))
            .collect();
        wanted
            .iter()
            .filter_map(|seq| table.order.get(seq))
            .filter_map(|id| table.rows.get(id))
            .map(|row| inner.tables.render(row))
            .collect()
    }

    /// Persons matching any of the ids, civic numbers or EPPNs.
    pub(crate) fn lookup_persons(
        &self,
        ids: &[Uuid],
        civic_nos: &[String],
        eppns: &[String],
    ) -> Vec<Person> {
        let mut wanted: Vec<Uuid> = ids.to_vec();
        {
            let inner = self.settled();
            let t = &inner.tables;
            wanted.extend(
                civic_nos
                    .iter()
                    .filter_map(|c| t.person_by_civic_no.get(c.trim()).copied()),
            );
            wanted.extend(
                eppns
                    .iter()
                    .filter_map(|e| t.person_by_eppn.get(&e.trim().to_lowercase()).copied()),
            );
        }
        self.lookup::<Person>(&wanted)
    }

    /// Registers a job; its entities are `Pending` until they settle, the
    /// first when `settle_in` passed.
    pub(crate) fn submit(&self, submission: Submission, work: Work, ids: Vec<Uuid>) -> Uuid {
        let Submission {
            kind,
            base_url,
            organisation,
            settle_in,
            settling,
        } = submission;
        let id = Uuid::new_v4();
        let submitted = timestamp();
        let responses = ids
            .into_iter()
            .map(|entity| EntityResponse {
                id: entity,
                response: EntityOutcome {
                    status: JobEntityStatus::Pending,
                    status_code: None,
                    location: None,
                    errors: Vec::new(),
                    warnings: Vec::new(),
                },
                meta: stamped(submitted.clone(), submitted.clone()),
            })
            .collect();
        let mut inner = self.lock();
        inner.job_seq += 1;
        let settle_at = Instant::now() + settle_in;
        let seq = inner.job_seq;
        inner.due.insert((settle_at, seq), id);
        inner.jobs.insert(
            id,
            Job {
                kind,
                base_url,
                organisation,
                submitted,
                settle_at,
                settling,
                responses,
                settled: 0,
                work: work.queued(),
            },
        );
        id
    }

    /// A job's status; `kind` restricts it to one resource's jobs.
    pub(crate) fn job_status(
        &self,
        kind: Option<ObjectType>,
        id: Uuid,
        only_errors: bool,
    ) -> Option<AsynchronousResponse> {
        let inner = self.settled();
        let job = inner.jobs.get(&id)?;
        if kind.is_some_and(|k| k != job.kind) {
            return None;
        }
        let absent = job.settling.unsettled == UnsettledListing::Absent;
        let responses = job
            .responses
            .iter()
            .enumerate()
            .filter(|(i, _)| !(absent && *i >= job.settled))
            .map(|(_, r)| r)
            .filter(|r| !only_errors || r.response.status == JobEntityStatus::Error)
            .cloned()
            .collect();
        Some(AsynchronousResponse {
            job_id: id,
            responses,
        })
    }

    /// Whether a job has settled; `None` for an unknown job.
    pub(crate) fn job_completed(&self, kind: ObjectType, id: Uuid) -> Option<bool> {
        let inner = self.settled();
        let job = inner.jobs.get(&id)?;
        let done =
            matches!(job.work, Work::Done) || (job.settling.completed_early && job.settled > 0);
        (job.kind == kind).then_some(done)
    }

    pub(crate) fn record(&self, request: RequestRecord) {
        self.lock().requests.push(request);
    }
}

/// A job response's `meta` with both timestamps set.
fn stamped(created: String, modified: String) -> payload::Meta {
    payload::Meta {
        created: Some(created),
        modified: Some(modified),
    }
}
