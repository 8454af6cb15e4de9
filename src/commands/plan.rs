//! `skolsync plan PIPELINE`: what a run would change, without changing
//! anything.

use std::process::ExitCode;

use clap::Args;
use skolsync::engine::{self, Progress};
use skolsync::terminal::{escape, or_dash, scrubbed};
use skolsync_model::plan::SEND_ORDER;

use super::common::{Failure, PipelineArgs, print_json};

/// Options of `skolsync plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Also list which entities would be created, updated and deleted, and
    /// which records are rejected (personnummer masked).
    #[arg(long)]
    pub details: bool,

    /// Print one JSON document: `{"person": {"create": n, "update": n,
    /// "delete": n, "unchanged": n, "rejected": n, "kept_stale": n,
    /// "out_of_scope": n, "out_of_scope_reasons": {reason: n}}, "duty": …,
    /// "group": …, "activity": …}`, with a `details` object per type when
    /// asked. A pipeline with several `[[sink]]`s prints a list of
    /// `{"sink": …, "plan": …}`, one per sink.
    #[arg(long)]
    pub json: bool,
}

/// Carries out `skolsync plan`.
pub async fn execute(args: &PlanArgs) -> Result<ExitCode, Failure> {
    let pipeline = args.pipeline.load().await?;
    let progress = Progress::new(!args.json);
    let result = engine::plan(&pipeline, args.details, &progress).await?;
    if args.json {
        if result.other_sinks.is_empty() {
            print_json(&result.summary, "the plan");
        } else {
            let plans: Vec<_> = result
                .every_sink()
                .map(|p| serde_json::json!({"sink": p.sink, "plan": p.summary}))
                .collect();
            print_json(&plans, "the plans");
        }
        return Ok(ExitCode::SUCCESS);
    }
    for (i, plan) in result.every_sink().enumerate() {
        if i > 0 {
            println!();
        }
        print_plan(pipeline.name(), plan, args.details);
    }
    Ok(ExitCode::SUCCESS)
}

/// One sink's plan for the terminal.
fn print_plan(name: &str, result: &engine::PlanResult, details: bool) {
    match &result.sink {
        Some(sink) => println!(
            "Plan for `{}` into {} (nothing has been sent):\n",
            escape(name),
            escape(sink)
        ),
        None => println!("Plan for `{}` (nothing has been sent):\n", escape(name)),
    }
    print!("{}", result.summary.table());
    let changes = result.summary.changes();
    println!();
    if changes == 0 {
        println!("{}", result.summary.no_changes_line());
    } else {
        println!("{changes} changes would be sent.");
    }
    if !result.anomalies.is_empty() {
        println!("\nA run would stop here: the read looks broken:");
        for a in &result.anomalies {
            println!("  - {}", scrubbed(&a.to_string()));
        }
    }
    if !result.violations.is_empty() {
        println!("\nA run would stop here (guards):");
        for v in &result.violations {
            println!("  - {}", scrubbed(&v.to_string()));
        }
        println!("Use `skolsync run --allow-large-changes` if the change is intended.");
    }
    if details {
        for kind in SEND_ORDER {
            let Some(d) = &result.summary.get(kind).details else {
                continue;
            };
            let name = kind.as_str().to_lowercase();
            for (what, list) in [
                ("create", &d.create),
                ("update", &d.update),
                ("delete", &d.delete),
            ] {
                for e in list {
                    println!(
                        "{what:<7} {name:<9} {}  source {}  unit {}{}",
                        e.id,
                        or_dash(e.source_id.as_deref()),
                        or_dash(e.school_unit.as_deref()),
                        e.civic_no
                            .as_deref()
                            .map(|c| format!("  {}", escape(c)))
                            .unwrap_or_default()
                    );
                }
            }
            for r in &d.rejected {
                // Source values, shown escaped (a name with an escape
                // sequence must not rewrite the operator's terminal).
                println!(
                    "reject  {name:<9} source {}{}{}  unit {}{}  from {}  {}{}",
                    or_dash(r.source_id.as_deref()),
                    r.name
                        .as_deref()
                        .map(|n| format!(" ({})", scrubbed(n)))
                        .unwrap_or_default(),
                    r.civic_no
                        .as_deref()
                        .map(|c| format!("  {}", escape(c)))
                        .unwrap_or_default(),
                    or_dash(r.school_unit.as_deref()),
                    r.school_unit_name
                        .as_deref()
                        .map(|n| format!(" {}", scrubbed(n)))
                        .unwrap_or_default(),
                    or_dash(r.location.as_deref()),
                    r.field
                        .as_deref()
                        .map(|f| format!("{}: ", escape(f)))
                        .unwrap_or_default(),
                    scrubbed(&r.reason)
                );
            }
            let t = result.summary.get(kind);
            for (why, n) in &t.out_of_scope_reasons {
                println!("out of scope  {name:<9} {n:>7}  {}", escape(why));
            }
        }
    }
}
