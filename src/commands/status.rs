//! `skolsync status PIPELINE --id ID | --civic-no N`: the last known
//! outcome of one entity — what was sent and what Skolverket answered
//! (for a pull pipeline also the LogEntries Skolverket's SS12000 client
//! posted about it). A pull pipeline without `--id`/`--civic-no`: the
//! overview of what is served and what Skolverket reported
//! ([`super::status_pull`]).

use std::process::ExitCode;

use clap::Args;
use skolsync::engine;
use skolsync::state::EntityRecord;
use skolsync::terminal::{escape, or_dash, scrubbed};
use skolsync_model::CivicNo;
use skolsync_sink::SinkComponent;
use uuid::Uuid;

use super::common::{Failure, PipelineArgs, print_json};

/// Options of `skolsync status`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("which").required(false).args(["id", "civic_no"])))]
pub struct StatusArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// The entity's Skolverket id (UUID) or its id in the source. Without
    /// `--id` or `--civic-no`, a pull pipeline (`ss12000-pull`) shows what
    /// it serves and what Skolverket reported.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// A person's personnummer (any common form); looked up through the
    /// crosswalk, which stores it only hashed.
    #[arg(long, value_name = "N")]
    pub civic_no: Option<String>,

    /// Print the records as a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// Carries out `skolsync status`.
pub async fn execute(args: &StatusArgs) -> Result<ExitCode, Failure> {
    let mut options = args.pipeline.options().map_err(Failure::Usage)?;
    options.inspect_only = true;
    let pipeline = skolsync::pipeline::Pipeline::load(&args.pipeline.pipeline, &options)
        .await
        .map_err(|e| Failure::Engine(e.into()))?;
    let store = engine::open_store(&pipeline).await?;
    let state = |e: skolsync::state::StateError| Failure::Engine(e.into());
    let views = pipeline.views();
    if args.id.is_none() && args.civic_no.is_none() {
        // The overview of each sink that keeps its own record: what is
        // served (pull), what was written and uploaded (file).
        let mut overviews = Vec::new();
        for view in &views {
            if let Some(overview) = overview(&store, view).await.map_err(state)? {
                overviews.push((view.sink_label(), overview));
            }
        }
        store.close().await;
        if overviews.is_empty() {
            return Err(Failure::Usage(anyhow::anyhow!(
                "give --id or --civic-no (an overview is shown only for `ss12000-pull` and \
                 `skolverket-file` sinks)"
            )));
        }
        let several = pipeline.has_several_sinks();
        if args.json {
            let json: Result<Vec<serde_json::Value>, _> =
                overviews.into_iter().map(|(_, (json, _))| json).collect();
            match json {
                Ok(list) if !several => print_json(&list[0], "the status"),
                Ok(list) => print_json(&list, "the status"),
                Err(e) => eprintln!("skolsync: could not print the status: {e}"),
            }
        } else {
            for (label, (_, text)) in &overviews {
                if several {
                    println!("{}:", escape(label));
                }
                print!("{text}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut records: Vec<EntityRecord> = Vec::new();
    let mut reported = Vec::new();
    for view in &views {
        let found = records_of(&store, view, args).await?;
        let pull = matches!(view.sink().component(), SinkComponent::Pull(_));
        for r in found {
            // What Skolverket's client logged about it (pull).
            reported.push(if pull {
                store.log_entries_for(&r.sink, r.id).await.map_err(state)?
            } else {
                Vec::new()
            });
            records.push(r);
        }
    }
    store.close().await;
    if args.json {
        print_json(&records, "the status");
    } else if records.is_empty() {
        println!(
            "Nothing known about that entity in `{}`.",
            escape(pipeline.name())
        );
    } else {
        for (i, r) in records.iter().enumerate() {
            print!("{}", describe(r));
            for entry in reported.get(i).into_iter().flatten() {
                println!(
                    "  Skolverket      {} {} ({}): {}",
                    entry.received_at,
                    escape(&entry.severity),
                    escape(entry.message_type.as_deref().unwrap_or("-")),
                    scrubbed(&entry.message)
                );
            }
        }
    }
    Ok(if records.is_empty() {
        ExitCode::from(skolsync::engine::EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(r: &EntityRecord) -> String {
    let status = match r.last_status {
        skolsync_model::plan::OutcomeStatus::Success => "success",
        skolsync_model::plan::OutcomeStatus::Warning => "warning",
        skolsync_model::plan::OutcomeStatus::Error => "error",
        skolsync_model::plan::OutcomeStatus::HeldBack => "held back",
    };
    let action = match r.last_action {
        skolsync_model::plan::Action::Create => "create",
        skolsync_model::plan::Action::Update => "update",
        skolsync_model::plan::Action::Delete => "delete",
    };
    let mut out = format!(
        "{} {}\n  source id       {}\n  school unit     {}\n  last sent       {action} in run {} at {}\n  answer          {status}\n  service holds   {}\n  created by us   {}\n",
        r.kind,
        r.id,
        or_dash(r.source_id.as_deref()),
        or_dash(r.school_unit.as_deref()),
        r.run_id,
        r.updated.format("%Y-%m-%d %H:%M:%S UTC"),
        if r.sink.ends_with("#unconfirmed") {
            "not yet: in an upload file awaiting `skolsync confirm-upload`"
        } else if r.confirmed_hash.is_some() {
            "yes (the last accepted version)"
        } else {
            "nothing of ours"
        },
        if r.created_by_us { "yes" } else { "no" },
    );
    if let Some(detail) = &r.detail {
        out.push_str(&format!("  detail          {}\n", scrubbed(detail)));
    }
    for m in &r.messages {
        out.push_str(&format!(
            "  Skolverket      {} {}\n",
            escape(&m.id),
            scrubbed(&m.message)
        ));
    }
    out
}

/// The overview of a sink that keeps its own record (pull: what is
/// served; file: what was written and uploaded), as JSON and text.
async fn overview(
    store: &skolsync::state::StateStore,
    view: &skolsync::pipeline::Pipeline,
) -> Result<
    Option<(Result<serde_json::Value, serde_json::Error>, String)>,
    skolsync::state::StateError,
> {
    let sink = view.sink_identity();
    Ok(match view.sink().component() {
        SinkComponent::Pull(_) => {
            let o = super::status_pull::overview(store, &sink).await?;
            Some((serde_json::to_value(&o), super::status_pull::describe(&o)))
        }
        SinkComponent::Upload(_) => {
            let o = super::status_upload::overview(store, &sink).await?;
            Some((serde_json::to_value(&o), super::status_upload::describe(&o)))
        }
        SinkComponent::Skolverket(_) | SinkComponent::File(..) => None,
    })
}

/// What one sink's state knows of the entity `--id` or `--civic-no` names
/// (a file-method sink: what awaits upload in its unconfirmed layer first,
/// then what was confirmed).
async fn records_of(
    store: &skolsync::state::StateStore,
    view: &skolsync::pipeline::Pipeline,
    args: &StatusArgs,
) -> Result<Vec<EntityRecord>, Failure> {
    let state = |e: skolsync::state::StateError| Failure::Engine(e.into());
    let sink = view.sink_identity();
    let layers = if matches!(view.sink().component(), SinkComponent::Upload(_)) {
        vec![skolsync::state::unconfirmed_layer(&sink), sink.clone()]
    } else {
        vec![sink.clone()]
    };
    let mut records: Vec<EntityRecord> = Vec::new();
    if let Some(id) = &args.id {
        for layer in &layers {
            if let Ok(uuid) = Uuid::parse_str(id.trim()) {
                records.extend(store.entity_status(layer, uuid).await.map_err(state)?);
            }
            for r in store
                .find_by_source_id(layer, id.trim())
                .await
                .map_err(state)?
            {
                if !records
                    .iter()
                    .any(|k| k.kind == r.kind && k.id == r.id && k.sink == r.sink)
                {
                    records.push(r);
                }
            }
        }
    }
    if let Some(text) = &args.civic_no {
        let civic = CivicNo::parse(text.trim())
            .map_err(|e| Failure::Usage(anyhow::anyhow!("--civic-no: {e}")))?;
        records.extend(store.find_by_civic_no(&sink, &civic).await.map_err(state)?);
    }
    Ok(records)
}
