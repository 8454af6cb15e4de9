//! Reading the source: in full, incrementally into the cached copy, or not
//! at all when a file source's files did not change.
//!
//! The plan compares everything the source holds with everything the
//! service holds, so it needs the whole source. An incremental read
//! (`meta.modified.after`, `meta.created.after`, `/deletedEntities`)
//! returns only what changed; merged into the copy of the source kept in
//! the state store ([`crate::state::CachedSource`]) it gives the whole
//! picture again, and the rest of the run — transform, guards, plan,
//! counts — works on that as on a full read.
//!
//! A full read runs when there is no copy (or it was filled with another
//! `[source]` section), when the source cannot read incrementally (files:
//! then an unchanged set of files skips the read), when the source refused
//! the filters (the connector says so; the refusal is remembered until the
//! next periodic full read), every `full_read_every_hours`, and with
//! `run --full`. The copy and the watermark are written together once the
//! read is merged, before anything is sent: they describe the source, not
//! the service, so a run that stops later resumes from the plan (the
//! unsent changes are still differences from the state) and not from the
//! read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use sha2::{Digest, Sha256};
use skolsync_connectors::{ReadOptions, ReadProgress, ReadSummary, Source, SourceError};
use skolsync_model::by_kind;
use skolsync_model::reject::Reject;
use skolsync_model::ss12000::{DeletedEntityIds, Entity, EntityKind, Snapshot};

use super::EngineError;
use super::progress::Progress;
use crate::pipeline::{IncrementalConfig, Pipeline};
use crate::report::ReadInfo;
use crate::state::{CacheInfo, CacheWrite, CachedSource, FileStamp, StateStore, cache_row};

/// A read, merged into the cached copy where it was incremental.
pub(crate) struct SourceRead {
    /// The whole source as the run sees it.
    pub snapshot: Snapshot,
    /// Extract rejects and warnings of every record in it.
    pub rejects: Vec<Reject>,
    /// What this read itself returned.
    pub summary: ReadSummary,
    /// The source, for logs (`describe()`).
    pub description: String,
    /// How it was read.
    pub info: ReadInfo,
}

/// Why a read is full when the cached copy is missing or unreadable.
const UNREADABLE: &str = "the cached copy of the source could not be read back";

/// What to do about the read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Read everything, for this reason.
    Full(String),
    /// Read what changed after this instant.
    Incremental(DateTime<FixedOffset>),
    /// The files did not change: use the cached copy.
    Unchanged,
}

/// What the read can be told and has been told.
pub(crate) struct ReadRequest<'a> {
    /// `run --full`.
    pub full: bool,
    /// Write the cached copy (a run; `plan` changes nothing).
    pub record: bool,
    /// The state store, if the command has one.
    pub store: Option<&'a StateStore>,
}

/// Reads the pipeline's source as [`Decision`] says and merges it into the
/// cached copy (module docs).
pub(crate) async fn read(
    pipeline: &Pipeline,
    request: ReadRequest<'_>,
    progress: &Progress,
) -> Result<SourceRead, EngineError> {
    let source = skolsync_connectors::build(&pipeline.file.source, &pipeline.build_context())?;
    let description = source.describe();
    let config = &pipeline.file.incremental;
    let Some(store) = request.store.filter(|_| config.enabled) else {
        let reason = "incremental reads are off ([incremental] enabled = false)";
        return full_read(source.as_ref(), &description, progress, reason).await;
    };
    let fingerprint = config_fingerprint(&pipeline.file.source);
    let info = store.source_cache_info(&description).await?;
    let watermark = match store.watermark(&description).await? {
        Some(text) => DateTime::parse_from_rfc3339(&text).ok(),
        None => None,
    };
    let files = source.input_files();
    let stamps = if files.is_empty() {
        None
    } else {
        let before = info
            .as_ref()
            .map(|i| i.files.as_slice())
            .unwrap_or_default();
        stamp_files(&files, before).ok()
    };
    let decision = decide(
        Utc::now(),
        config,
        &Ability {
            full_asked: request.full,
            incremental: source.reads_incrementally(),
            files_unchanged: stamps
                .as_ref()
                .zip(info.as_ref())
                .is_some_and(|(now, i)| same_content(now, &i.files)),
        },
        info.as_ref(),
        &fingerprint,
        watermark,
    );
    let mut new_info = CacheInfo {
        config: fingerprint,
        full_read_at: info
            .as_ref()
            .map(|i| i.full_read_at.clone())
            .unwrap_or_default(),
        files: stamps.unwrap_or_default(),
        refused: info.as_ref().and_then(|i| i.refused.clone()),
    };
    let (decision, cached, changes) = match decision {
        Decision::Full(reason) => (Decision::Full(reason), None, None),
        Decision::Incremental(since) => {
            // The copy loads while the source answers: one waits on the
            // disk and the processor, the other on the server. (A copy
            // that cannot be read back, written by another version, then
            // costs a read of the changes before the full read.)
            let load = async {
                let started = std::time::Instant::now();
                let cached = store.load_source_cache(&description).await;
                let seconds = started.elapsed().as_secs_f64();
                tracing::debug!(source = %description, seconds, "cached copy loaded");
                cached
            };
            let (cached, changes) = tokio::join!(
                load,
                incremental_read(source.as_ref(), &description, progress, since)
            );
            match cached? {
                Some(cached) => (Decision::Incremental(since), Some(cached), Some(changes)),
                None => (Decision::Full(UNREADABLE.to_string()), None, None),
            }
        }
        Decision::Unchanged => match store.load_source_cache(&description).await? {
            Some(cached) => (Decision::Unchanged, Some(cached), None),
            None => (Decision::Full(UNREADABLE.to_string()), None, None),
        },
    };
    let read = match (decision, cached, changes) {
        (Decision::Unchanged, Some(cached), _) => {
            if request.record && new_info.files != cached.info.files {
                // New times for the same bytes: remember them, so the next
                // run need not hash the files again.
                store.set_source_cache_info(&description, &new_info).await?;
            }
            unchanged(cached, &description)
        }
        (Decision::Incremental(since), Some(cached), Some(changes)) => match changes {
            Ok((changes, rejects, summary)) => {
                let started = std::time::Instant::now();
                let (read, rows) = merge(cached, changes, rejects, summary, &description, since);
                if request.record {
                    write_merged(store, &description, &read, rows, new_info).await?;
                }
                let seconds = started.elapsed().as_secs_f64();
                tracing::debug!(source = %description, seconds, "changes merged and recorded");
                tracing::info!(source = %description, "{}", read.info.line());
                return Ok(read);
            }
            Err(EngineError::Source { error, .. }) if refusal(&error).is_some() => {
                let reason = refusal(&error).unwrap_or_default();
                tracing::warn!(
                    source = %description,
                    "the source refused an incremental read ({reason}); reading in full"
                );
                new_info.refused = Some((reason.clone(), Utc::now().to_rfc3339()));
                let reason = format!("the source refused an incremental read: {reason}");
                full_read(source.as_ref(), &description, progress, &reason).await?
            }
            Err(e) => return Err(e),
        },
        (Decision::Full(reason), _, _) => {
            new_info.refused = None;
            full_read(source.as_ref(), &description, progress, &reason).await?
        }
        _ => full_read(source.as_ref(), &description, progress, UNREADABLE).await?,
    };
    if read.info.mode == "full" {
        new_info.full_read_at = Utc::now().to_rfc3339();
    }
    if request.record && read.info.mode == "full" {
        write_full(store, &description, &read, new_info).await?;
    }
    tracing::info!(source = %description, "{}", read.info.line());
    Ok(read)
}

/// What the source can do and what was asked.
struct Ability {
    full_asked: bool,
    incremental: bool,
    files_unchanged: bool,
}

/// Chooses how to read (module docs).
fn decide(
    now: DateTime<Utc>,
    config: &IncrementalConfig,
    ability: &Ability,
    info: Option<&CacheInfo>,
    fingerprint: &str,
    watermark: Option<DateTime<FixedOffset>>,
) -> Decision {
    let full = |reason: &str| Decision::Full(reason.to_string());
    if ability.full_asked {
        return full("asked for with --full");
    }
    let Some(info) = info else {
        return full("first read: no cached copy of the source yet");
    };
    if info.config != fingerprint {
        return full("the [source] section changed since the cached copy was read");
    }
    let period = chrono::Duration::hours(
        i64::try_from(config.full_read_every_hours).unwrap_or(i64::MAX / 7200),
    );
    let last_full = DateTime::parse_from_rfc3339(&info.full_read_at).ok();
    let due = last_full.is_none_or(|at| now.signed_duration_since(at) >= period);
    if ability.files_unchanged {
        return Decision::Unchanged;
    }
    if !ability.incremental {
        return full("the source has no change filters (files are read whole when they change)");
    }
    if due {
        return Decision::Full(format!(
            "the periodic full read is due (every {} h)",
            config.full_read_every_hours
        ));
    }
    if let Some((reason, _)) = &info.refused {
        return Decision::Full(format!(
            "the source refused incremental reads ({reason}); tried again after the next periodic full read"
        ));
    }
    let Some(watermark) = watermark else {
        return full("no watermark from a previous read");
    };
    let lookback =
        chrono::Duration::seconds(i64::try_from(config.lookback_secs).unwrap_or(i64::MAX / 1000));
    Decision::Incremental(watermark - lookback)
}

/// Why an error means the source cannot read incrementally (the engine
/// then reads in full), if it does.
fn refusal(error: &SourceError) -> Option<String> {
    match error {
        SourceError::IncrementalUnsupported { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

/// A fingerprint of the `[source]` section (SHA-256 of its JSON).
fn config_fingerprint(config: &skolsync_connectors::SourceConfig) -> String {
    let json = serde_json::to_string(config).unwrap_or_default();
    hex(&Sha256::digest(json.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stamps of `files` now; a file whose size and modification time
/// equal its stamp in `before` keeps that stamp's hash unread.
fn stamp_files(
    files: &[std::path::PathBuf],
    before: &[FileStamp],
) -> std::io::Result<Vec<FileStamp>> {
    let mut stamps = Vec::with_capacity(files.len());
    for path in files {
        let meta = std::fs::metadata(path)?;
        let modified_ns = meta
            .modified()?
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or_default();
        let shown = path.display().to_string();
        let known = before
            .iter()
            .find(|s| s.path == shown && s.size == meta.len() && s.modified_ns == modified_ns);
        let sha256 = match known {
            Some(stamp) => stamp.sha256.clone(),
            None => hash_file(path)?,
        };
        stamps.push(FileStamp {
            path: shown,
            size: meta.len(),
            modified_ns,
            sha256,
        });
    }
    Ok(stamps)
}

/// Whether two sets of stamps name the same files with the same content
/// (a file written again with the same bytes has a new time only).
fn same_content(now: &[FileStamp], before: &[FileStamp]) -> bool {
    !now.is_empty()
        && now.len() == before.len()
        && now
            .iter()
            .zip(before)
            .all(|(a, b)| a.path == b.path && a.size == b.size && a.sha256 == b.sha256)
}

/// SHA-256 of a file's content, hex.
fn hash_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Reads the whole source.
async fn full_read(
    source: &dyn Source,
    description: &str,
    progress: &Progress,
    reason: &str,
) -> Result<SourceRead, EngineError> {
    let (snapshot, rejects, summary) = stream(source, description, progress, None).await?;
    let info = ReadInfo {
        mode: "full".to_string(),
        reason: Some(reason.to_string()),
        watermark: summary.watermark.map(|w| w.to_rfc3339()),
        entities_read: summary.total(),
        deletions_reported: summary.deleted,
        entities_total: snapshot.total(),
        ..ReadInfo::default()
    };
    Ok(SourceRead {
        snapshot,
        rejects,
        summary,
        description: description.to_string(),
        info,
    })
}

/// Reads what changed after `since`.
async fn incremental_read(
    source: &dyn Source,
    description: &str,
    progress: &Progress,
    since: DateTime<FixedOffset>,
) -> Result<(Snapshot, Vec<Reject>, ReadSummary), EngineError> {
    tracing::info!(source = %description, since = %since.to_rfc3339(), "reading what changed");
    stream(source, description, progress, Some(since)).await
}

/// Runs one read of `source` to its end.
async fn stream(
    source: &dyn Source,
    description: &str,
    progress: &Progress,
    modified_after: Option<DateTime<FixedOffset>>,
) -> Result<(Snapshot, Vec<Reject>, ReadSummary), EngineError> {
    tracing::info!(source = %description, "reading the source");
    let counters = ReadProgress::new();
    let stage = progress.read(counters.clone());
    let stream = source.read(ReadOptions {
        modified_after,
        progress: Some(counters),
    });
    match skolsync_connectors::collect(stream).await {
        Ok(read) => {
            stage.done(true);
            Ok(read)
        }
        Err(error) => {
            stage.done(false);
            Err(EngineError::Source {
                source_name: description.to_string(),
                error,
            })
        }
    }
}

/// The cached copy standing in for files that did not change.
fn unchanged(cached: CachedSource, description: &str) -> SourceRead {
    let summary = ReadSummary {
        counts: EntityKind::ALL
            .into_iter()
            .map(|k| (k, cached.snapshot.count(k)))
            .filter(|(_, n)| *n > 0)
            .collect(),
        inputs: cached.inputs,
        ..ReadSummary::default()
    };
    let info = ReadInfo {
        mode: "unchanged".to_string(),
        reason: Some("the source files did not change (size, time and content)".to_string()),
        entities_total: cached.snapshot.total(),
        ..ReadInfo::default()
    };
    SourceRead {
        snapshot: cached.snapshot,
        rejects: cached.rejects,
        summary,
        description: description.to_string(),
        info,
    }
}

/// Merges an incremental read into the cached copy: per type, a type listed
/// in full replaces the cached one; otherwise each entity read replaces its
/// cached version (in place) or is added, and deleted or now rejected ids
/// leave. The extract rejects follow their records. Returns the merged
/// read and the rows that change in the cached copy.
fn merge(
    cached: CachedSource,
    changes: Snapshot,
    read_rejects: Vec<Reject>,
    summary: ReadSummary,
    description: &str,
    since: DateTime<FixedOffset>,
) -> (SourceRead, CacheRows) {
    let CachedSource {
        snapshot: mut merged,
        rejects: cached_rejects,
        inputs,
        ..
    } = cached;
    let Snapshot {
        organisations,
        persons,
        duties,
        groups,
        activities,
        syllabuses,
        programmes,
        deleted,
        origins: _,
    } = changes;
    let input = MergeInput {
        deleted: &deleted,
        rejected: read_rejects
            .iter()
            .filter_map(|r| Some((r.entity, r.source_id.clone()?)))
            .collect(),
        listed: &summary.listed_in_full,
    };
    let mut rows = CacheRows::default();
    merge_kind(&mut merged.organisations, organisations, &input, &mut rows);
    merge_kind(&mut merged.persons, persons, &input, &mut rows);
    merge_kind(&mut merged.duties, duties, &input, &mut rows);
    merge_kind(&mut merged.groups, groups, &input, &mut rows);
    merge_kind(&mut merged.activities, activities, &input, &mut rows);
    merge_kind(&mut merged.syllabuses, syllabuses, &input, &mut rows);
    merge_kind(&mut merged.programmes, programmes, &input, &mut rows);

    let mut rejects: Vec<Reject> = cached_rejects
        .into_iter()
        .filter(|r| !input.listed.contains_key(&r.entity))
        .filter(|r| match &r.source_id {
            Some(id) => !rows.touched.contains(&(r.entity, id.clone())),
            None => true,
        })
        .collect();
    for r in read_rejects {
        // A reject without an id cannot follow its record; the same one
        // read again is not kept twice.
        if r.source_id.is_none() && rejects.contains(&r) {
            continue;
        }
        rejects.push(r);
    }
    let info = ReadInfo {
        mode: "incremental".to_string(),
        since: Some(since.to_rfc3339()),
        watermark: summary.watermark.map(|w| w.to_rfc3339()),
        entities_read: summary.total(),
        deletions_reported: summary.deleted,
        listed_in_full: summary.listed_in_full.clone(),
        entities_total: merged.total(),
        reason: None,
    };
    let summary = ReadSummary { inputs, ..summary };
    let read = SourceRead {
        snapshot: merged,
        rejects,
        summary,
        description: description.to_string(),
        info,
    };
    (read, rows)
}

/// What the merge of one read needs to know beside the entities.
struct MergeInput<'a> {
    /// Ids the source reported deleted (or out of scope now).
    deleted: &'a DeletedEntityIds,
    /// Records the read rejected: their cached versions leave.
    rejected: HashSet<(EntityKind, String)>,
    /// Types listed in full.
    listed: &'a BTreeMap<EntityKind, String>,
}

/// The rows an incremental read changes in the cached copy.
#[derive(Debug, Default)]
struct CacheRows {
    replace_kinds: Vec<EntityKind>,
    upserts: Vec<(EntityKind, String, String)>,
    removes: Vec<(EntityKind, String)>,
    /// Ids read again, deleted or rejected: their cached rejects leave.
    touched: HashSet<(EntityKind, String)>,
    /// An entity could not be serialised for the copy (never expected).
    failed: Option<String>,
}

/// [`merge`] for one type.
fn merge_kind<T: Entity>(
    list: &mut Vec<T>,
    incoming: Vec<T>,
    input: &MergeInput<'_>,
    rows: &mut CacheRows,
) {
    let kind = T::KIND;
    for entity in &incoming {
        match cache_row(entity) {
            Ok(row) => rows.upserts.push(row),
            Err(e) => rows.failed = Some(e.to_string()),
        }
    }
    if input.listed.contains_key(&kind) {
        rows.replace_kinds.push(kind);
        *list = incoming;
        return;
    }
    let mut gone: HashSet<String> = by_kind!(kind, &input.deleted, |ids| ids
        .iter()
        .map(|id| id.as_str().to_string())
        .collect());
    gone.extend(
        input
            .rejected
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, id)| id.clone()),
    );
    let mut position: HashMap<String, usize> = list
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id().as_str().to_string(), i))
        .collect();
    for entity in incoming {
        let id = entity.id().as_str().to_string();
        rows.touched.insert((kind, id.clone()));
        match position.get(&id) {
            Some(&i) => list[i] = entity,
            None => {
                position.insert(id, list.len());
                list.push(entity);
            }
        }
    }
    for id in &gone {
        rows.touched.insert((kind, id.clone()));
        if position.contains_key(id) {
            rows.removes.push((kind, id.clone()));
        }
    }
    list.retain(|e| !gone.contains(e.id().as_str()));
}

/// Writes a merged incremental read into the cached copy.
async fn write_merged(
    store: &StateStore,
    description: &str,
    read: &SourceRead,
    rows: CacheRows,
    info: CacheInfo,
) -> Result<(), EngineError> {
    if let Some(reason) = rows.failed {
        return Err(EngineError::Internal(reason));
    }
    let write = CacheWrite {
        info,
        rejects: &read.rejects,
        origins: None,
        inputs: None,
        replace_all: false,
        replace_kinds: rows.replace_kinds,
        removes: rows.removes,
        watermark: read.info.watermark.clone(),
    };
    store
        .write_source_cache(description, &write, rows.upserts.into_iter().map(Ok))
        .await?;
    Ok(())
}

/// Writes a full read as the new cached copy.
async fn write_full(
    store: &StateStore,
    description: &str,
    read: &SourceRead,
    info: CacheInfo,
) -> Result<(), EngineError> {
    let s = &read.snapshot;
    let rows = s
        .organisations
        .iter()
        .map(cache_row)
        .chain(s.persons.iter().map(cache_row))
        .chain(s.duties.iter().map(cache_row))
        .chain(s.groups.iter().map(cache_row))
        .chain(s.activities.iter().map(cache_row))
        .chain(s.syllabuses.iter().map(cache_row))
        .chain(s.programmes.iter().map(cache_row));
    let write = CacheWrite {
        info,
        rejects: &read.rejects,
        origins: Some(&s.origins),
        inputs: Some(&read.summary.inputs),
        replace_all: true,
        replace_kinds: Vec::new(),
        removes: Vec::new(),
        watermark: read.info.watermark.clone(),
    };
    store.write_source_cache(description, &write, rows).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skolsync_model::reject::Stage;
    use skolsync_model::ss12000::{Group, Person};

    fn person(id: &str, name: &str) -> Person {
        serde_json::from_value(serde_json::json!({
            "id": id, "givenName": name, "familyName": "Test"
        }))
        .unwrap()
    }

    fn group(id: &str) -> Group {
        serde_json::from_value(serde_json::json!({
            "id": id, "groupType": "Klass", "organisation": {"id": "o"}
        }))
        .unwrap()
    }

    fn info(config: &str, full_read_at: DateTime<Utc>) -> CacheInfo {
        CacheInfo {
            config: config.to_string(),
            full_read_at: full_read_at.to_rfc3339(),
            ..CacheInfo::default()
        }
    }

    fn ability(incremental: bool, files_unchanged: bool) -> Ability {
        Ability {
            full_asked: false,
            incremental,
            files_unchanged,
        }
    }

    #[test]
    fn the_read_is_incremental_only_when_everything_allows_it() {
        let now = Utc::now();
        let config = IncrementalConfig::default();
        let watermark = (now - chrono::Duration::hours(1)).fixed_offset();
        let fresh = info("f", now - chrono::Duration::hours(2));
        let api = ability(true, false);
        let decide_with = |ability: &Ability, info: Option<&CacheInfo>, fp: &str| {
            decide(now, &config, ability, info, fp, Some(watermark))
        };
        assert_eq!(
            decide_with(&api, Some(&fresh), "f"),
            Decision::Incremental(watermark - chrono::Duration::minutes(5))
        );
        let full = |d: Decision, words: &str| match d {
            Decision::Full(reason) => assert!(reason.contains(words), "{reason}"),
            other => panic!("expected a full read ({words}), got {other:?}"),
        };
        full(decide_with(&api, None, "f"), "first read");
        full(
            decide_with(&api, Some(&fresh), "g"),
            "[source] section changed",
        );
        let asked = Ability {
            full_asked: true,
            ..ability(true, false)
        };
        full(decide_with(&asked, Some(&fresh), "f"), "--full");
        let old = info("f", now - chrono::Duration::days(8));
        full(decide_with(&api, Some(&old), "f"), "periodic full read");
        let refused = CacheInfo {
            refused: Some(("no deletedEntities".into(), now.to_rfc3339())),
            ..fresh.clone()
        };
        full(decide_with(&api, Some(&refused), "f"), "refused");
        full(
            decide(now, &config, &api, Some(&fresh), "f", None),
            "no watermark",
        );
        full(
            decide_with(&ability(false, false), Some(&fresh), "f"),
            "no change filters",
        );
        assert_eq!(
            decide_with(&ability(false, true), Some(&old), "f"),
            Decision::Unchanged
        );
    }

    fn cached(persons: Vec<Person>, groups: Vec<Group>, rejects: Vec<Reject>) -> CachedSource {
        CachedSource {
            snapshot: Snapshot {
                persons,
                groups,
                ..Snapshot::default()
            },
            rejects,
            ..CachedSource::default()
        }
    }

    fn names(snapshot: &Snapshot) -> Vec<String> {
        snapshot
            .persons
            .iter()
            .map(|p| format!("{}:{}", p.id.as_str(), p.given_name))
            .collect()
    }

    #[test]
    fn changes_replace_in_place_deletions_and_rejects_leave() {
        let old_reject = Reject::new(Stage::Extract, EntityKind::Person, "bad civicNo").id("p4");
        let copy = cached(
            vec![person("p1", "Ada"), person("p2", "Bo"), person("p3", "Cy")],
            vec![group("g1")],
            vec![old_reject],
        );
        let changes = Snapshot {
            persons: vec![
                person("p2", "Bosse"),
                person("p4", "Di"),
                person("p5", "Ed"),
            ],
            deleted: DeletedEntityIds {
                persons: vec!["p1".into()],
                ..DeletedEntityIds::default()
            },
            ..Snapshot::default()
        };
        let now_bad = Reject::new(Stage::Extract, EntityKind::Person, "no name").id("p3");
        let summary = ReadSummary::default();
        let since = Utc::now().fixed_offset();
        let (read, rows) = merge(copy, changes, vec![now_bad], summary, "src", since);
        assert_eq!(names(&read.snapshot), ["p2:Bosse", "p4:Di", "p5:Ed"]);
        assert_eq!(read.snapshot.groups.len(), 1, "untouched types stay");
        // p4 was fixed: its old reject goes; p3 broke: its new one stays.
        let rejected: Vec<_> = read.rejects.iter().map(|r| r.source_id.clone()).collect();
        assert_eq!(rejected, [Some("p3".to_string())]);
        let upserted: Vec<_> = rows.upserts.iter().map(|(_, id, _)| id.as_str()).collect();
        assert_eq!(upserted, ["p2", "p4", "p5"]);
        let mut removed: Vec<_> = rows.removes.iter().map(|(_, id)| id.as_str()).collect();
        removed.sort();
        assert_eq!(removed, ["p1", "p3"]);
        assert_eq!(read.info.mode, "incremental");
        assert_eq!(read.info.entities_total, 4);
    }

    #[test]
    fn a_type_listed_in_full_replaces_the_cached_one() {
        let copy = cached(
            vec![person("p1", "Ada")],
            vec![group("g1"), group("g2")],
            vec![Reject::new(Stage::Extract, EntityKind::Group, "x").id("g9")],
        );
        let changes = Snapshot {
            groups: vec![group("g3")],
            ..Snapshot::default()
        };
        let summary = ReadSummary {
            listed_in_full: BTreeMap::from([(EntityKind::Group, "ignored filter".to_string())]),
            ..ReadSummary::default()
        };
        let (read, rows) = merge(copy, changes, Vec::new(), summary, "src", Utc::now().into());
        let ids: Vec<_> = read.snapshot.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["g3"]);
        assert_eq!(names(&read.snapshot), ["p1:Ada"]);
        assert!(
            read.rejects.is_empty(),
            "the group's old rejects went with it"
        );
        assert_eq!(rows.replace_kinds, [EntityKind::Group]);
        assert!(read.info.line().contains("groups in full: ignored filter"));
    }
}
