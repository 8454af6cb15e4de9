//! Preparation: everything before anything is sent — read the source,
//! transform, apply the crosswalk, keep what was rejected as last sent,
//! diff, and keep deletes to this pipeline's own entities ([`prepare`],
//! [`Prepared`]); and the guards that judge the result.
//!
//! Kept apart from the run so that `skolsync plan` and `skolsync run` reach
//! the plan by one path, and so that this half reads without the sending
//! loop and the run's bookkeeping.
//!
//! # The whole source, read or merged
//!
//! The diff compares everything the source holds now with everything the
//! state says the service holds, so the plan needs the whole source: a
//! read of only what changed would make every unchanged pupil look
//! deleted. [`incremental`](super::incremental) gives the plan the whole
//! source either way — read in full, or read incrementally and merged into
//! the cached copy in the state store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use skolsync_connectors::open_data::{self as open_data_api, ClientOptions};
use skolsync_connectors::{ReadAnomaly, ReadSummary};
use skolsync_model::ObjectType;
use skolsync_model::plan::{
    DesiredState, Plan, PreviousState, SEND_ORDER, SchoolUnitRef, TestActivityRef,
};
use skolsync_model::reject::{Reject, Severity};
use skolsync_model::ss12000::{Origins, Snapshot};
use skolsync_model::{PerType, by_type};
use skolsync_sink::Sink;
use skolsync_transform::crosswalk::Crosswalk;
use skolsync_transform::{
    CrosswalkReport, OpenData, OpenDataError, PRODUCTION_OPEN_DATA_URL, Transformer,
};

use super::guards::{self, GuardBase, Violation};
use super::incremental::{self, ReadRequest, SourceRead};
use super::kept::{self, KeptStale};
use super::progress::Progress;
use super::read_checks;
use super::{EngineError, identity};
use crate::pipeline::{Pipeline, StateLocation, resolve};
use crate::report::ReadInfo;
use crate::report::RunOutcome;
use crate::state::StateStore;
use uuid::Uuid;

/// Opens the pipeline's state store.
pub async fn open_store(pipeline: &Pipeline) -> Result<StateStore, EngineError> {
    let store = match &pipeline.state {
        StateLocation::Path(path) => StateStore::open(path).await?,
        StateLocation::Url(url) => StateStore::open_url(url).await?,
    };
    Ok(store)
}

/// What the run needs of the desired state after the diff has moved its
/// payloads into the plan (so no payload is held twice during a load).
pub struct DesiredFacts {
    /// Entities per type (the transform's balance is checked against it).
    pub counts: PerType<usize>,
    /// Members per desired group, the baseline of the next run's guard.
    pub member_counts: HashMap<Uuid, u64>,
    /// The crosswalk keys of every desired entity (a run's; empty for a
    /// plan); those the service confirms are recorded after the load.
    pub keys: Crosswalk,
}

impl DesiredFacts {
    fn of(desired: &DesiredState, record_keys: bool) -> DesiredFacts {
        DesiredFacts {
            counts: PerType::from_fn(|kind| by_type!(kind, &desired, |list| list.len())),
            member_counts: desired
                .groups
                .iter()
                .map(|g| (g.id, g.payload.group_memberships.len() as u64))
                .collect(),
            keys: if record_keys {
                Crosswalk::record(desired)
            } else {
                Crosswalk::default()
            },
        }
    }
}

/// Everything up to the plan.
pub struct Prepared {
    /// What the source yielded.
    pub read: ReadSummary,
    /// Rejects of extract and transform.
    pub rejects: Vec<Reject>,
    /// Entities the service holds whose source record was rejected: left
    /// as last sent.
    pub kept_stale: Vec<KeptStale>,
    /// What makes the read look broken (the run stops before sending).
    pub anomalies: Vec<ReadAnomaly>,
    /// Where every record went in the transform.
    pub counts: skolsync_transform::Counts,
    /// What the run still needs of the desired state once its payloads
    /// moved into the plan.
    pub desired: DesiredFacts,
    /// What the state holds.
    pub previous: PreviousState,
    /// The changes (deletes only of entities this pipeline created).
    pub plan: Plan,
    /// Ids taken over from the crosswalk.
    pub crosswalk: CrosswalkReport,
    /// Per type: entities gone from the source that this pipeline did not
    /// create, left alone.
    pub not_ours: BTreeMap<ObjectType, usize>,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// The source, for logs.
    pub source: String,
    /// School unit names by code (the source's organisations), for the
    /// report's problems.
    pub unit_names: HashMap<String, String>,
    /// How the source was read (full, incremental, unchanged files).
    pub read_info: ReadInfo,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("source", &self.source)
            .field("read", &self.read)
            .finish_non_exhaustive()
    }
}

/// Reads the whole source, with no cached copy (a raw SS 12000 export).
pub(super) async fn read_source(
    pipeline: &Pipeline,
    progress: &Progress,
) -> Result<SourceRead, EngineError> {
    let request = ReadRequest {
        full: true,
        record: false,
        store: None,
    };
    incremental::read(pipeline, request, progress).await
}

/// School unit names by school unit code, from the source's organisations.
pub(crate) fn unit_names(snapshot: &Snapshot) -> HashMap<String, String> {
    snapshot
        .organisations
        .iter()
        .filter_map(|o| {
            let code = o.school_unit_code.as_deref()?.trim();
            let name = o.display_name.trim();
            (!code.is_empty() && !name.is_empty()).then(|| (code.to_string(), name.to_string()))
        })
        .collect()
}

/// For pupils `rejects` are about: the school unit code of their class
/// (the reader of a file row that it rejects may not say which unit the
/// pupil belongs to, but the class membership is still in the snapshot).
fn class_units(snapshot: &Snapshot, rejects: &[Reject]) -> HashMap<String, String> {
    let wanted: std::collections::HashSet<&str> = rejects
        .iter()
        .filter(|r| {
            r.entity == skolsync_model::ss12000::EntityKind::Person && r.school_unit.is_none()
        })
        .filter_map(|r| r.source_id.as_deref())
        .collect();
    let mut units = HashMap::new();
    if wanted.is_empty() {
        return units;
    }
    let codes: HashMap<&str, &str> = snapshot
        .organisations
        .iter()
        .filter_map(|o| Some((o.id.as_str(), o.school_unit_code.as_deref()?.trim())))
        .collect();
    for g in &snapshot.groups {
        if g.group_type != skolsync_model::GroupType::Klass {
            continue;
        }
        let Some(code) = codes.get(g.organisation.id.as_str()) else {
            continue;
        };
        for m in &g.group_memberships {
            let person = m.person.id.as_str();
            if wanted.contains(person) {
                units
                    .entry(person.to_string())
                    .or_insert_with(|| (*code).to_string());
            }
        }
    }
    units
}

/// The masked personnummer of every person `rejects` are about, by source
/// id (only masked forms leave this function).
fn masked_civic_numbers(snapshot: &Snapshot, rejects: &[Reject]) -> HashMap<String, String> {
    let wanted: std::collections::HashSet<&str> = rejects
        .iter()
        .filter(|r| r.entity == skolsync_model::ss12000::EntityKind::Person)
        .filter_map(|r| r.source_id.as_deref())
        .collect();
    if wanted.is_empty() {
        return HashMap::new();
    }
    snapshot
        .persons
        .iter()
        .filter(|p| wanted.contains(p.id.as_str()))
        .filter_map(|p| {
            let raw = p.civic_no.as_ref()?.value.trim();
            (!raw.is_empty()).then(|| {
                (
                    p.id.as_str().to_string(),
                    skolsync_model::civic_no::mask(raw),
                )
            })
        })
        .collect()
}

/// Makes every reject identify its record the way the people who fix the
/// source do: the name (a person's with class, a group's), the school
/// unit's name beside its code, and where it came from — the reader's file
/// and line or endpoint and page when it found the problem, else the file
/// and line the record was read from (`origins`: file sources), else the
/// source and the record's endpoint and id (`… persons/p-1`).
fn identify(
    rejects: &mut [Reject],
    names: &HashMap<(skolsync_model::ss12000::EntityKind, String), String>,
    units: &HashMap<String, String>,
    (origin, origins): (&str, &Origins),
) {
    for r in rejects {
        // The snapshot's name says more (a pupil's class) than the
        // reader's, which never names a protected person either.
        if let Some(id) = &r.source_id
            && let Some(name) = names.get(&(r.entity, id.clone()))
        {
            r.subject = Some(name.clone());
        }
        if r.school_unit_name.is_none()
            && let Some(code) = &r.school_unit
        {
            r.school_unit_name = units.get(code.trim()).cloned();
        }
        if r.location.is_none() {
            r.location = Some(match &r.source_id {
                Some(id) => origins
                    .get(r.entity, id)
                    .unwrap_or_else(|| format!("{origin}: {}/{id}", r.entity.endpoint())),
                None => format!("{origin}: {}", r.entity.endpoint()),
            });
        }
    }
}

/// Reads open-data as the transform config says, else from the sink's
/// environment, else production.
async fn open_data(pipeline: &Pipeline, snapshot: &Snapshot) -> Result<OpenData, EngineError> {
    let config = &pipeline.file.transform;
    if let Some(file) = &config.open_data_file {
        return Ok(OpenData::load(&resolve(&pipeline.base_dir, file))?);
    }
    let sink_url = pipeline.file.sink.open_data_url();
    let url = config
        .open_data_url
        .as_deref()
        .or(sink_url.as_deref())
        .unwrap_or(PRODUCTION_OPEN_DATA_URL);
    tracing::info!(url, "reading open-data");
    Ok(open_data_api::fetch(
        url,
        &skolsync_transform::fetch_scope(config, snapshot),
        &ClientOptions::default(),
    )
    .await
    .map_err(OpenDataError::from)?)
}

/// Read, transform, apply the crosswalk, diff, keep deletes to our own —
/// for the view's sink alone, built here (a mistake in `[sink]` is reported
/// before the source is read); records nothing.
pub async fn prepare(
    pipeline: &Pipeline,
    store: &StateStore,
    progress: &Progress,
) -> Result<Prepared, EngineError> {
    let setup = super::SinkSetup {
        store: Some(store),
        ..Default::default()
    };
    let sink = super::build_sink(pipeline, setup).await?;
    // A plan records nothing: no crosswalk keys, no cached copy.
    let options = PrepareOptions {
        record: false,
        full_read: false,
    };
    let transformed = transform(pipeline, store, progress, options).await?;
    plan_for(pipeline, store, progress, transformed, sink, options.record).await
}

/// How [`transform`] goes about it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepareOptions {
    /// A run: keep the desired entities' crosswalk keys (recorded for what
    /// the service confirms) and write the cached copy of the source.
    pub record: bool,
    /// Read the whole source whatever the cached copy (`run --full`).
    pub full_read: bool,
}

/// The read and the transform with the crosswalk applied: what every sink
/// of a pipeline plans from, done once however many sinks there are (and
/// cloned for each sink of a list but the last).
#[derive(Clone)]
pub struct Transformed {
    read: ReadSummary,
    rejects: Vec<Reject>,
    counts: skolsync_transform::Counts,
    left_out: Vec<skolsync_model::plan::LeftOutRef>,
    ids: skolsync_transform::IdScheme,
    desired: DesiredState,
    crosswalk: CrosswalkReport,
    stored_keys: Crosswalk,
    /// What each sink holds, by sink identity, loaded beside the read;
    /// each sink takes its own (shared by the copies of a list's sinks).
    previous: std::sync::Arc<std::sync::Mutex<HashMap<String, PreviousState>>>,
    names: HashMap<(skolsync_model::ss12000::EntityKind, String), String>,
    unit_names: HashMap<String, String>,
    unit_directory: HashMap<Uuid, (String, String)>,
    test_names: HashMap<Uuid, String>,
    source: String,
    read_info: ReadInfo,
}

/// Reads the source (in full or incrementally, see the module docs),
/// transforms it and applies the crosswalk.
pub async fn transform(
    pipeline: &Pipeline,
    store: &StateStore,
    progress: &Progress,
    options: PrepareOptions,
) -> Result<Transformed, EngineError> {
    // What the plan needs of the state store does not depend on the read:
    // loaded beside it (seconds at 100 000 pupils).
    let (mut transformed, (stored, previous)) = tokio::try_join!(
        read_and_map(pipeline, store, progress, options),
        prefetch(pipeline, store),
    )?;
    let (crosswalk, stored_keys) = identity::apply(&stored, &mut transformed.desired);
    log_crosswalk(&crosswalk);
    transformed.crosswalk = crosswalk;
    transformed.stored_keys = stored_keys;
    transformed.previous = std::sync::Arc::new(std::sync::Mutex::new(previous));
    Ok(transformed)
}

/// The crosswalk the store holds, and what each sink of the pipeline holds.
async fn prefetch(
    pipeline: &Pipeline,
    store: &StateStore,
) -> Result<(identity::StoredCrosswalk, HashMap<String, PreviousState>), EngineError> {
    let crosswalk = identity::StoredCrosswalk::load(store).await?;
    let mut previous = HashMap::new();
    for view in pipeline.views() {
        let sink = view.sink_identity();
        let held = store.previous_state(&sink).await?;
        previous.insert(sink, held);
    }
    Ok((crosswalk, previous))
}

/// Reads the source and maps it to the profile.
async fn read_and_map(
    pipeline: &Pipeline,
    store: &StateStore,
    progress: &Progress,
    options: PrepareOptions,
) -> Result<Transformed, EngineError> {
    let request = ReadRequest {
        full: options.full_read,
        record: options.record,
        store: Some(store),
    };
    let SourceRead {
        snapshot,
        rejects: rejects_so_far,
        summary: read,
        description: source,
        info: read_info,
    } = incremental::read(pipeline, request, progress).await?;

    let stage = progress.stage("transform");
    stage.message("reading open-data");
    let open_data = open_data(pipeline, &snapshot).await?;
    stage.message("mapping to the provtjänst profile");
    let transformer = Transformer::new(pipeline.file.transform.clone(), open_data)?;
    let ids = transformer.ids();
    let unit_directory = school_unit_directory(transformer.open_data());
    let test_names = test_activity_names(transformer.open_data());
    let origin = source.clone();
    let (output, names) = tokio::task::spawn_blocking(move || {
        let output = transformer.run(&snapshot)?;
        // Names for the report's kept-stale lines and problems, before the
        // snapshot goes.
        let mut all = rejects_so_far;
        all.extend(output.rejects.iter().cloned());
        let names = kept::rejected_names(&snapshot, &all);
        let units = unit_names(&snapshot);
        let civic = masked_civic_numbers(&snapshot, &all);
        let class_units = class_units(&snapshot, &all);
        for r in &mut all {
            if r.school_unit.is_none()
                && let Some(code) = r.source_id.as_ref().and_then(|id| class_units.get(id))
            {
                r.school_unit = Some(code.clone());
            }
        }
        identify(&mut all, &names, &units, (&origin, &snapshot.origins));
        for r in &mut all {
            if r.entity == skolsync_model::ss12000::EntityKind::Person
                && r.civic_no.is_none()
                && let Some(masked) = r.source_id.as_ref().and_then(|id| civic.get(id))
            {
                r.civic_no = Some(masked.clone());
            }
        }
        Ok::<_, skolsync_transform::TransformError>((output, (names, all, units)))
    })
    .await
    .map_err(|e| EngineError::Internal(format!("the transform stopped: {e}")))??;
    let (names, mut rejects, unit_names) = names;
    stage.done(format!(
        "{} persons, {} duties, {} groups, {} activities; {} rejected",
        output.desired.persons.len(),
        output.desired.duties.len(),
        output.desired.groups.len(),
        output.desired.activities.len(),
        output
            .rejects
            .iter()
            .filter(|r| r.severity == Severity::Rejected)
            .count()
    ));
    let desired = output.desired;
    rejects.shrink_to_fit();

    Ok(Transformed {
        read,
        rejects,
        counts: output.counts,
        left_out: output.left_out,
        ids,
        desired,
        crosswalk: CrosswalkReport::default(),
        stored_keys: Crosswalk::default(),
        previous: Default::default(),
        names,
        unit_names,
        unit_directory,
        test_names,
        source,
        read_info,
    })
}

/// What `pipeline`'s sink is to do with `transformed`: keep what was
/// rejected as last sent, diff against what the sink holds, keep deletes
/// to this pipeline's own entities, and check the read's shape.
pub async fn plan_for(
    pipeline: &Pipeline,
    store: &StateStore,
    progress: &Progress,
    transformed: Transformed,
    sink: Box<dyn Sink>,
    record_keys: bool,
) -> Result<Prepared, EngineError> {
    let Transformed {
        read,
        rejects,
        counts,
        left_out,
        ids,
        mut desired,
        crosswalk,
        stored_keys,
        previous,
        names,
        unit_names,
        unit_directory,
        test_names,
        source,
        read_info,
    } = transformed;
    let stage = progress.stage("plan");
    let sink_identity = pipeline.sink_identity();
    let prefetched = previous
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&sink_identity);
    let previous = match prefetched {
        Some(previous) => previous,
        None => store.previous_state(&sink_identity).await?,
    };
    // Rejected is not absent: what the service holds of a rejected record
    // stays as last sent (see `skolsync_transform::stale`).
    let stale = skolsync_transform::keep_stale(&mut desired, &previous, &rejects, &left_out, &ids);
    let mut facts = DesiredFacts::of(&desired, record_keys);
    facts.keys.without(&stored_keys);
    let school_units = referenced_school_units(&desired, &unit_directory);
    let test_activities = referenced_test_activities(&desired, &test_names);
    // Only a sink that renders the whole state gets (and pays for) a copy.
    let whole = (sink.wants_desired_state()).then(|| std::sync::Arc::new(desired.clone()));
    let mut plan = skolsync_transform::diff_keeping(desired, &previous, &stale);
    (plan.school_units, plan.test_activities, plan.desired) =
        (school_units, test_activities, whole);
    let kept_stale: Vec<KeptStale> = stale
        .into_iter()
        .map(|entity| {
            let name = names
                .get(&(entity.reject.entity, entity.source_id.clone()))
                .cloned();
            KeptStale { entity, name }
        })
        .collect();
    if !kept_stale.is_empty() {
        tracing::warn!(
            count = kept_stale.len(),
            "kept as last sent: entities whose source record was rejected (see the report)"
        );
    }

    // Deletes only of what this pipeline created: an entity another
    // system (or Skolverket's own file upload) put there is not ours.
    let mut not_ours = BTreeMap::new();
    for kind in SEND_ORDER {
        let deletes = by_type!(kind, &mut plan, |p| &mut p.delete);
        if deletes.is_empty() {
            continue;
        }
        let ours = store.deletable(&sink_identity, kind).await?;
        let before = deletes.len();
        deletes.retain(|id| ours.contains(id));
        if deletes.len() < before {
            not_ours.insert(kind, before - deletes.len());
            tracing::info!(
                kind = %kind,
                count = before - deletes.len(),
                "left alone: gone from the source, but not created by this pipeline"
            );
        }
    }
    stage.done(format!(
        "{} changes",
        SEND_ORDER
            .iter()
            .map(|k| super::progress::planned(&plan, *k))
            .sum::<usize>()
    ));
    let previous_shape = store.read_shape(&source).await?;
    let anomalies = read_checks::check(
        previous_shape.as_deref(),
        &read.inputs,
        &pipeline.file.guards,
    );
    for anomaly in &anomalies {
        tracing::warn!("the read looks broken: {anomaly}");
    }
    Ok(Prepared {
        read,
        rejects,
        kept_stale,
        anomalies,
        counts,
        desired: facts,
        previous,
        plan,
        crosswalk,
        not_ours,
        sink,
        source,
        unit_names,
        read_info,
    })
}

/// The limits the plan exceeds — none while the first load into the
/// pipeline's sink has not completed (an empty state, or a first run that was interrupted and
/// is being resumed: everything is new then).
pub(super) async fn checked_guards(
    pipeline: &Pipeline,
    store: &StateStore,
    prepared: &Prepared,
    current_run: Option<&str>,
) -> Result<Vec<Violation>, EngineError> {
    let sink = pipeline.sink_identity();
    // Of this sink: a sink added to a pipeline's list starts with a first load.
    let completed = store.history(u32::MAX).await?.iter().any(|r| {
        Some(r.run_id.as_str()) != current_run
            && r.sink == sink
            && matches!(r.outcome, Some(RunOutcome::Success | RunOutcome::Partial))
    });
    if !completed {
        return Ok(Vec::new());
    }
    let base = GuardBase {
        attempted: store.attempted(&sink).await?,
        members: store.member_counts(&sink).await?,
    };
    Ok(guards::check(
        &pipeline.file.guards,
        &prepared.plan,
        &prepared.previous,
        &base,
    ))
}

/// Open-data's school units by Skolverket's id: (code, name).
fn school_unit_directory(open_data: &OpenData) -> HashMap<Uuid, (String, String)> {
    open_data
        .school_units
        .iter()
        .map(|u| {
            let code = u.school_unit_code.trim().to_string();
            (u.id, (code, u.display_name.trim().to_string()))
        })
        .collect()
}

/// Every school unit the desired state refers to — enrolments, duties,
/// groups, activities — named as open-data names it (a unit open-data does
/// not know cannot be referred to: the transform rejects that first).
fn referenced_school_units(
    desired: &DesiredState,
    directory: &HashMap<Uuid, (String, String)>,
) -> Vec<SchoolUnitRef> {
    let mut ids: BTreeSet<Uuid> = BTreeSet::new();
    for person in &desired.persons {
        ids.extend(person.payload.enrolments.iter().map(|e| e.enroled_at.id));
    }
    ids.extend(desired.duties.iter().map(|d| d.payload.duty_at.id));
    ids.extend(desired.groups.iter().map(|g| g.payload.organisation.id));
    ids.extend(desired.activities.iter().map(|a| a.payload.organisation.id));
    ids.into_iter()
        .filter_map(|id| {
            let (code, name) = directory.get(&id)?;
            let name = if name.is_empty() { code } else { name };
            Some(SchoolUnitRef {
                id,
                code: code.clone(),
                name: name.clone(),
            })
        })
        .collect()
}

/// Open-data's test activities' names by Skolverket's id.
fn test_activity_names(open_data: &OpenData) -> HashMap<Uuid, String> {
    open_data
        .test_activities
        .iter()
        .map(|t| (t.id, t.display_name.trim().to_string()))
        .collect()
}

/// The national test activities the desired activities take, named as
/// open-data names them (an activity whose test open-data does not know is
/// rejected by the transform first).
fn referenced_test_activities(
    desired: &DesiredState,
    names: &HashMap<Uuid, String>,
) -> Vec<TestActivityRef> {
    let ids: BTreeSet<Uuid> = desired
        .activities
        .iter()
        .map(|a| a.payload.parent_activity.id)
        .collect();
    ids.into_iter()
        .filter_map(|id| {
            Some(TestActivityRef {
                id,
                name: names.get(&id)?.clone(),
            })
        })
        .collect()
}

/// Logs what the crosswalk did: ids kept across source ids, and conflicts.
fn log_crosswalk(crosswalk: &CrosswalkReport) {
    if crosswalk.persons + crosswalk.duties + crosswalk.groups + crosswalk.activities > 0 {
        tracing::info!(
            persons = crosswalk.persons,
            duties = crosswalk.duties,
            groups = crosswalk.groups,
            activities = crosswalk.activities,
            "kept the Skolverket ids of entities known under other source ids"
        );
    }
    for conflict in &crosswalk.conflicts {
        tracing::warn!("crosswalk: {conflict}");
    }
}
