//! The contract every connector fulfils: [`Source::read`] streams
//! [`Batch`]es through a bounded channel, so memory holds a few pages in
//! flight plus what the caller keeps; [`collect`] gathers a read into a
//! [`Snapshot`]; [`ReadProgress`] lets a progress bar watch.
//!
//! A read ends in one of two ways: [`Batch::Complete`] (everything was read;
//! it carries the watermark for the next incremental read) or an `Err` item
//! with a [`SourceError`]. A stream that ends with neither was cut short,
//! and [`collect`] says so instead of returning a partial snapshot.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use futures::{Stream, StreamExt};
use serde::Serialize;
use skolsync_model::PerKind;
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{
    Activity, DeletedEntityIds, Duty, EntityKind, Group, Organisation, Origins, Person, Programme,
    Snapshot, Syllabus,
};
use tokio::sync::mpsc;

use crate::error::SourceError;
use crate::shape::InputShape;

/// Batches in flight between a connector and its caller. Small: a batch is a
/// page (up to a few thousand entities), and a slow caller should slow the
/// reader down rather than let pages pile up.
const CHANNEL_CAPACITY: usize = 4;

/// A connector: something that can read SS 12000 entities.
pub trait Source: Send + Sync {
    /// What is read, for logs and reports (never with secrets), e.g.
    /// `educloud https://api.ist.com/ss12000v2-api/source/SE00100/v2.0`.
    fn describe(&self) -> String;

    /// Starts reading. The returned stream yields batches until
    /// [`Batch::Complete`] or an error; dropping it stops the read.
    /// Must be called within a Tokio runtime (the reader runs as a task).
    fn read(&self, options: ReadOptions) -> BatchStream;

    /// Local files the config names that are not there now, as the key that
    /// names each and its resolved path (`skolsync validate` reports them;
    /// a read would fail on them). Sources that read over the network have
    /// none.
    fn missing_files(&self) -> Vec<(String, PathBuf)> {
        Vec::new()
    }

    /// Whether [`ReadOptions::modified_after`] makes this source read only
    /// what changed (`meta.modified.after`, `meta.created.after` and
    /// `/deletedEntities`). Sources without modification times (files)
    /// always read everything and say `false`.
    fn reads_incrementally(&self) -> bool {
        false
    }

    /// The local files a read consumes, in a stable order (file sources),
    /// so the caller can tell an unchanged input (size, modification time,
    /// content hash) and skip the read. Network sources have none.
    fn input_files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    /// The source's SS 12000 subscription endpoints (`/subscriptions`), if
    /// it has any, for being notified of changes instead of polling.
    fn subscriptions(&self) -> Option<Arc<dyn crate::subscription::Subscriptions>> {
        None
    }
}

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Incremental read: only entities created or modified after this
    /// instant, plus the deletions since then. `None` reads everything.
    /// Pass the [`ReadSummary::watermark`] of the last successful run minus
    /// a lookback window (clock skew, same-second changes). Sources without
    /// modification times (CSV files) always read everything.
    pub modified_after: Option<DateTime<FixedOffset>>,
    /// Counters to update while reading, for a progress bar.
    pub progress: Option<Arc<ReadProgress>>,
}

/// Declares [`Batch`] with one variant per SS 12000 kind, in reading order,
/// and what follows from that list (its kind, its length, where it goes in
/// a [`Snapshot`], handing it on whatever its type), so that no code
/// matches the seven entity variants by hand.
macro_rules! batch_kinds {
    ($( $(#[$doc:meta])* $variant:ident($entity:ident) => $kind:ident, $field:ident; )+) => {
        /// One item of a read.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Batch {
            $( $(#[$doc])* $variant(Vec<$entity>), )+
        /// Ids the source reports as deleted (`/deletedEntities`, `Ta bort = Ja`),
        /// and, on an incremental read with a school unit filter, ids of
        /// entities that changed and no longer belong to the filter's scope
        /// (to the reader's cached copy of the source they are gone alike).
        Deleted(DeletedEntityIds),
        /// On an incremental read: every entity of `kind` (within the
        /// configured scope) has been sent in this read, not only the
        /// changed ones — the server ignored or refused the change filters
        /// for it, or the connector reads it in full on purpose (school
        /// units under a school unit filter). A cached copy of the source
        /// replaces this kind instead of merging into it. Sent after the
        /// last entity of `kind`. A full read sends none: everything in it
        /// is listed in full.
        ListedInFull {
            /// The entity type.
            kind: EntityKind,
            /// Why, for the log and the report (e.g. "the server ignores
            /// meta.modified.after on /persons").
            reason: String,
        },
        /// Records that could not be read, each with where and why.
        Rejects(Vec<Reject>),
        /// Where records sent (or about to be sent) came from: the file and
        /// line of the first row that made each. File sources send them so
        /// that a record the transform rejects later is located like one the
        /// reader rejected; API sources send none (their records are located
        /// by endpoint and id).
        Origins(Origins),
        /// What one input (file, resource) looked like once read in full; sent
        /// before [`Batch::Complete`], once per input.
        Input(InputShape),
        /// The last item of a successful read.
        Complete {
            /// Where the next incremental read starts: the moment this read
            /// started by the source's clock (the `Date` header of its first
            /// answer, else the local clock). The caller subtracts its
            /// lookback window before passing it as
            /// [`ReadOptions::modified_after`]. `None` for sources without
            /// modification times (CSV), which are always read in full.
            watermark: Option<DateTime<FixedOffset>>,
        },
        }

        impl Batch {
            /// The entity type of an entity batch.
            pub fn kind(&self) -> Option<EntityKind> {
                match self {
                    $( Batch::$variant(_) => Some(EntityKind::$kind), )+
                    _ => None,
                }
            }

            /// How many entities an entity batch carries.
            fn entity_count(&self) -> Option<usize> {
                match self {
                    $( Batch::$variant(v) => Some(v.len()), )+
                    _ => None,
                }
            }

            /// Moves an entity batch into `snapshot`; any other item comes
            /// back.
            fn add_to(self, snapshot: &mut Snapshot) -> Option<Batch> {
                match self {
                    $( Batch::$variant(v) => {
                        snapshot.$field.extend(v);
                        None
                    } )+
                    other => Some(other),
                }
            }

            /// Hands an entity batch's entities to `visitor` with their
            /// kind; `None` for any other item.
            pub fn visit_entities<V: EntityVisitor>(
                &self,
                visitor: &mut V,
            ) -> Option<Result<(), V::Error>> {
                match self {
                    $( Batch::$variant(v) => Some(visitor.visit(EntityKind::$kind, v)), )+
                    _ => None,
                }
            }
        }
    };
}

batch_kinds! {
    /// Organisation elements, including school units.
    Organisations(Organisation) => Organisation, organisations;
    /// Persons with enrolments.
    Persons(Person) => Person, persons;
    /// Staff duties.
    Duties(Duty) => Duty, duties;
    /// Groups with memberships.
    Groups(Group) => Group, groups;
    /// Activities.
    Activities(Activity) => Activity, activities;
    /// Syllabuses.
    Syllabuses(Syllabus) => Syllabus, syllabuses;
    /// Programmes.
    Programmes(Programme) => Programme, programmes;
}

/// Takes the entities of a batch whatever their type (the `extract`
/// command writes each kind to its own file).
pub trait EntityVisitor {
    /// What can go wrong with them.
    type Error;
    /// Takes `entities`, all of `kind`.
    fn visit<T: Serialize>(&mut self, kind: EntityKind, entities: &[T]) -> Result<(), Self::Error>;
}

impl Batch {
    /// Number of entities, ids or rejects it carries.
    pub fn len(&self) -> usize {
        if let Some(n) = self.entity_count() {
            return n;
        }
        match self {
            Batch::Deleted(d) => deleted_count(d),
            Batch::Rejects(v) => v.len(),
            Batch::Origins(o) => o.len(),
            Batch::Input(_) => 1,
            _ => 0,
        }
    }

    /// Whether it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn deleted_count(d: &DeletedEntityIds) -> usize {
    EntityKind::ALL
        .iter()
        .map(|kind| skolsync_model::by_kind!(*kind, &d, |ids| ids.len()))
        .sum()
}

/// What [`Source::read`] returns.
pub type BatchStream = Pin<Box<dyn Stream<Item = Result<Batch, SourceError>> + Send>>;

/// Live counters of a read, cheap to poll from another thread.
#[derive(Debug, Default)]
pub struct ReadProgress {
    entities: PerKind<AtomicU64>,
    deleted: AtomicU64,
    rejects: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

impl ReadProgress {
    /// Fresh counters, shareable.
    pub fn new() -> Arc<Self> {
        Arc::new(ReadProgress::default())
    }

    /// Entities of `kind` read so far (delivered to the stream).
    pub fn entities(&self, kind: EntityKind) -> u64 {
        self.entities[kind].load(Ordering::Relaxed)
    }

    /// Entities of every kind read so far.
    pub fn total_entities(&self) -> u64 {
        self.entities
            .iter()
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Deleted ids reported so far.
    pub fn deleted(&self) -> u64 {
        self.deleted.load(Ordering::Relaxed)
    }

    /// Rejects (and warnings) so far.
    pub fn rejects(&self) -> u64 {
        self.rejects.load(Ordering::Relaxed)
    }

    /// HTTP requests sent so far (API sources), retries included.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests that were retried (429, 5xx, timeouts, renewed tokens).
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub(crate) fn count_batch(&self, batch: &Batch) {
        let n = batch.len() as u64;
        match batch {
            Batch::Deleted(_) => self.deleted.fetch_add(n, Ordering::Relaxed),
            Batch::Rejects(_) => self.rejects.fetch_add(n, Ordering::Relaxed),
            Batch::Complete { .. }
            | Batch::Input(_)
            | Batch::Origins(_)
            | Batch::ListedInFull { .. } => 0,
            other => match other.kind() {
                Some(kind) => self.entities[kind].fetch_add(n, Ordering::Relaxed),
                None => 0,
            },
        };
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }
}

/// Totals of a finished read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadSummary {
    /// Entities read per type.
    pub counts: BTreeMap<EntityKind, usize>,
    /// Ids reported as deleted.
    pub deleted: usize,
    /// Records rejected (left out).
    pub rejected: usize,
    /// Records read with a warning (they are in the snapshot).
    pub warnings: usize,
    /// Store this after a successful run and pass it as
    /// [`ReadOptions::modified_after`] next time; see [`Batch::Complete`].
    /// `None`: the source has no modification times; read in full next time.
    pub watermark: Option<DateTime<FixedOffset>>,
    /// On an incremental read: the kinds sent in full anyway, each with
    /// why (see [`Batch::ListedInFull`]).
    pub listed_in_full: BTreeMap<EntityKind, String>,
    /// Every input read (files, resources), in order, with what it looked
    /// like and the anomalies found in it.
    pub inputs: Vec<InputShape>,
    /// How long the read took.
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

impl ReadSummary {
    /// Entities of `kind` read.
    pub fn count(&self, kind: EntityKind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    /// Entities of every kind read.
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }
}

mod seconds {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Reads a whole stream into a [`Snapshot`], the rejects and a summary.
///
/// Fails with the stream's error, or with [`SourceError::Incomplete`] if the
/// stream ended without [`Batch::Complete`]: a partial snapshot must never
/// pass for a whole one (the diff would delete what was not read).
pub async fn collect(
    mut stream: BatchStream,
) -> Result<(Snapshot, Vec<Reject>, ReadSummary), SourceError> {
    let started = Instant::now();
    let mut snapshot = Snapshot::default();
    let mut rejects = Vec::new();
    let mut summary = ReadSummary::default();
    let mut complete = false;
    while let Some(item) = stream.next().await {
        let batch = item?;
        if complete {
            return Err(SourceError::Incomplete(
                "the source sent data after saying it was complete".to_string(),
            ));
        }
        if let Some(kind) = batch.kind() {
            *summary.counts.entry(kind).or_default() += batch.len();
        }
        let Some(batch) = batch.add_to(&mut snapshot) else {
            continue;
        };
        match batch {
            Batch::Deleted(d) => {
                summary.deleted += deleted_count(&d);
                merge_deleted(&mut snapshot.deleted, d);
            }
            Batch::Rejects(v) => {
                for r in &v {
                    match r.severity {
                        Severity::Rejected => summary.rejected += 1,
                        Severity::Warning => summary.warnings += 1,
                    }
                }
                rejects.extend(v);
            }
            Batch::Origins(o) => snapshot.origins.extend(o),
            Batch::Input(shape) => summary.inputs.push(shape),
            Batch::ListedInFull { kind, reason } => {
                summary.listed_in_full.insert(kind, reason);
            }
            Batch::Complete { watermark } => {
                summary.watermark = watermark;
                complete = true;
            }
            // Entity batches went into the snapshot above.
            _ => {}
        }
    }
    if !complete {
        return Err(SourceError::Incomplete(
            "the stream ended without its completion marker".to_string(),
        ));
    }
    summary.elapsed = started.elapsed();
    Ok((snapshot, rejects, summary))
}

/// Appends the ids of `more` to `into`.
pub(crate) fn merge_deleted(into: &mut DeletedEntityIds, more: DeletedEntityIds) {
    into.organisations.extend(more.organisations);
    into.persons.extend(more.persons);
    into.duties.extend(more.duties);
    into.groups.extend(more.groups);
    into.activities.extend(more.activities);
    into.syllabuses.extend(more.syllabuses);
    into.programmes.extend(more.programmes);
}

// ---------------------------------------------------------------------------
// The channel between a reader task and the stream.

/// The reader's end of the channel: sends batches and counts them.
#[derive(Clone)]
pub(crate) struct Emitter {
    tx: mpsc::Sender<Result<Batch, SourceError>>,
    progress: Option<Arc<ReadProgress>>,
}

/// The caller dropped the stream; the reader should stop.
#[derive(Debug)]
pub(crate) struct Stopped;

impl From<Stopped> for SourceError {
    fn from(_: Stopped) -> Self {
        SourceError::Incomplete("the reader of the stream went away".to_string())
    }
}

impl Emitter {
    /// Sends a batch unless it is empty (a `Complete` is always sent).
    pub(crate) async fn emit(&self, batch: Batch) -> Result<(), Stopped> {
        if carries_nothing(&batch) {
            return Ok(());
        }
        if let Some(p) = &self.progress {
            p.count_batch(&batch);
        }
        self.tx.send(Ok(batch)).await.map_err(|_| Stopped)
    }

    /// [`Emitter::emit`] from a blocking thread (the CSV reader).
    pub(crate) fn emit_blocking(&self, batch: Batch) -> Result<(), Stopped> {
        if carries_nothing(&batch) {
            return Ok(());
        }
        if let Some(p) = &self.progress {
            p.count_batch(&batch);
        }
        self.tx.blocking_send(Ok(batch)).map_err(|_| Stopped)
    }

    pub(crate) fn progress(&self) -> Option<&Arc<ReadProgress>> {
        self.progress.as_ref()
    }
}

/// Whether a batch can be left out: an empty list. Markers
/// ([`Batch::Complete`], [`Batch::ListedInFull`]) always go out.
fn carries_nothing(batch: &Batch) -> bool {
    batch.is_empty() && !matches!(batch, Batch::Complete { .. } | Batch::ListedInFull { .. })
}

/// A stream fed by a spawned reader; dropping it aborts the reader.
struct ChannelStream {
    rx: mpsc::Receiver<Result<Batch, SourceError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream for ChannelStream {
    type Item = Result<Batch, SourceError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// [`spawn_reader`] for a reader that blocks (local files: CSV, workbooks):
/// `read` runs on a blocking thread and ends the read with
/// [`Batch::Complete`] (no watermark: files carry no modification times);
/// a panic in it (say, in a parsing crate) ends the read with an error
/// naming `what`, not the program.
pub(crate) fn spawn_blocking_reader<F>(
    progress: Option<Arc<ReadProgress>>,
    what: &'static str,
    read: F,
) -> BatchStream
where
    F: FnOnce(&Emitter) -> Result<(), SourceError> + Send + 'static,
{
    spawn_reader(progress, move |out| async move {
        let done = tokio::task::spawn_blocking(move || {
            read(&out)?;
            out.emit_blocking(Batch::Complete { watermark: None })?;
            Ok::<(), SourceError>(())
        })
        .await;
        done.unwrap_or_else(|err| {
            Err(SourceError::Incomplete(format!(
                "the {what} stopped unexpectedly: {err}"
            )))
        })
    })
}

/// Runs `reader` as a task feeding a bounded channel and returns the
/// stream of its batches. The reader sends [`Batch::Complete`] itself when
/// done; an error it returns becomes the stream's last item.
pub(crate) fn spawn_reader<F, Fut>(progress: Option<Arc<ReadProgress>>, reader: F) -> BatchStream
where
    F: FnOnce(Emitter) -> Fut,
    Fut: Future<Output = Result<(), SourceError>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let emitter = Emitter {
        tx: tx.clone(),
        progress,
    };
    let work = reader(emitter);
    let task = tokio::spawn(async move {
        if let Err(err) = work.await {
            // If the caller is gone nobody needs to hear about it.
            let _ = tx.send(Err(err)).await;
        }
    });
    Box::pin(ChannelStream { rx, task })
}

#[cfg(test)]
mod tests {
    use super::*;
    use skolsync_model::reject::Stage;

    fn org(id: &str) -> Organisation {
        serde_json::from_value(serde_json::json!({
            "id": id, "organisationType": "Skolenhet", "displayName": id
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn collect_gathers_batches_and_counts_them() {
        let progress = ReadProgress::new();
        let stream = spawn_reader(Some(progress.clone()), |out| async move {
            out.emit(Batch::Organisations(vec![org("a"), org("b")]))
                .await?;
            out.emit(Batch::Rejects(vec![
                Reject::new(Stage::Extract, EntityKind::Person, "bad"),
                Reject::new(Stage::Extract, EntityKind::Group, "meh").warning(),
            ]))
            .await?;
            out.emit(Batch::Deleted(DeletedEntityIds {
                persons: vec!["p".into()],
                ..Default::default()
            }))
            .await?;
            out.emit(Batch::Complete { watermark: None }).await?;
            Ok(())
        });
        let (snapshot, rejects, summary) = collect(stream).await.unwrap();
        assert_eq!(snapshot.organisations.len(), 2);
        assert_eq!(snapshot.deleted.persons, vec!["p".into()]);
        assert_eq!(rejects.len(), 2);
        assert_eq!(summary.count(EntityKind::Organisation), 2);
        assert_eq!(
            (summary.rejected, summary.warnings, summary.deleted),
            (1, 1, 1)
        );
        assert_eq!(progress.entities(EntityKind::Organisation), 2);
        assert_eq!(progress.rejects(), 2);
        assert_eq!(progress.deleted(), 1);
    }

    #[tokio::test]
    async fn a_stream_without_completion_is_an_error_not_a_partial_snapshot() {
        let stream = spawn_reader(None, |out| async move {
            out.emit(Batch::Organisations(vec![org("a")])).await?;
            Ok(())
        });
        assert!(matches!(
            collect(stream).await,
            Err(SourceError::Incomplete(_))
        ));
        let stream = spawn_reader(None, |out| async move {
            out.emit(Batch::Organisations(vec![org("a")])).await?;
            Err(SourceError::Scope("boom".into()))
        });
        assert_eq!(
            collect(stream).await.unwrap_err(),
            SourceError::Scope("boom".into())
        );
    }
}
