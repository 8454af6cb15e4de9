//! `skolsync validate PIPELINE [--online]`: is the pipeline file right, and
//! (online) can skolsync reach and use every service it names?

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use futures::StreamExt;
use skolsync::engine::{EXIT_ABORTED, EXIT_USAGE};
use skolsync::pipeline::{StateLocation, resolve};
use skolsync::terminal::{escape, scrubbed};
use skolsync_connectors::ReadOptions;
use skolsync_connectors::open_data::{self, ClientOptions};
use skolsync_transform::{FetchScope, OpenData, PRODUCTION_OPEN_DATA_URL, Transformer};

use super::common::{Failure, PipelineArgs, chain};

/// Options of `skolsync validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Also get tokens and call the services: the source's first page, the
    /// sink's authorisation and `/alive`, open-data (and the `[transform]`
    /// scope and mappings against it).
    #[arg(long)]
    pub online: bool,
}

/// The open-data URL `--online` checks: `[transform] open_data_url`, else
/// the sink's (`sink`: `None` when the `[sink]` section is invalid, else
/// the URL its environment implies, if any), else production's — but never
/// production's in place of an invalid sink's: which environment the
/// pipeline meant is unknown then, so that check fails instead.
fn open_data_url(transform: Option<&str>, sink: Option<Option<String>>) -> Result<String, String> {
    if let Some(url) = transform {
        return Ok(url.to_string());
    }
    match sink {
        None => Err(
            "not checked: the [sink] section is invalid, so which open-data it means is unknown \
             (set [transform] open_data_url, or fix [sink])"
                .to_string(),
        ),
        Some(Some(url)) => Ok(url),
        Some(None) => Ok(PRODUCTION_OPEN_DATA_URL.to_string()),
    }
}

struct Checks {
    failed_offline: bool,
    failed_online: bool,
}

impl Checks {
    fn ok(&self, what: &str, detail: &str) {
        println!("ok      {what:<10} {}", escape(detail));
    }

    /// Details quote the file, the source or a service: shown escaped, with
    /// any personnummer masked.
    fn fail(&mut self, what: &str, detail: &str, online: bool) {
        println!("FAILED  {what:<10} {}", scrubbed(detail));
        if online {
            self.failed_online = true;
        } else {
            self.failed_offline = true;
        }
    }
}

/// Carries out `skolsync validate`.
pub async fn execute(args: &ValidateArgs) -> Result<ExitCode, Failure> {
    let pipeline = args.pipeline.load().await?;
    let mut checks = Checks {
        failed_offline: false,
        failed_online: false,
    };
    checks.ok(
        "file",
        &format!(
            "{} (pipeline `{}`)",
            pipeline.path.display(),
            pipeline.name()
        ),
    );
    if let Some(sandbox) = &pipeline.sandbox {
        checks.ok(
            "sandbox",
            &format!(
                "running, provisioning at {}",
                sandbox.endpoints().provisioning_url
            ),
        );
    }

    let source = match skolsync_connectors::build(&pipeline.file.source, &pipeline.build_context())
    {
        Ok(source) => {
            let missing = source.missing_files();
            if missing.is_empty() {
                checks.ok("source", &source.describe());
            }
            for (key, path) in missing {
                let what = format!("source.{key}: {} is not there", path.display());
                checks.fail("source", &what, false);
            }
            Some(source)
        }
        Err(e) => {
            checks.fail("source", &chain(&e), false);
            None
        }
    };
    let sinks = built_sinks(&pipeline, &mut checks).await;
    match &pipeline.state {
        StateLocation::Path(p) => checks.ok("state", &p.display().to_string()),
        StateLocation::Url(u) => checks.ok(
            "state",
            u.split_once("://")
                .map_or("database URL", |(scheme, _)| scheme),
        ),
    }
    checks.ok("reports", &pipeline.reports_dir.display().to_string());

    let transform = &pipeline.file.transform;
    if let Some(file) = &transform.open_data_file {
        match OpenData::load(&resolve(&pipeline.base_dir, file)) {
            Ok(data) => match Transformer::new(transform.clone(), data) {
                Ok(_) => checks.ok("transform", "checked against the open-data snapshot"),
                Err(e) => checks.fail("transform", &chain(&e), false),
            },
            Err(e) => checks.fail("transform", &chain(&e), false),
        }
    } else if !args.online {
        println!(
            "-       transform  scope and mappings are checked against open-data with --online"
        );
    }

    if args.online {
        // An invalid section is not checked online, and says so.
        if source.is_none() {
            checks.fail(
                "source",
                "not checked online: the [source] section is invalid",
                true,
            );
        }
        for (label, sink) in &sinks {
            if sink.is_none() {
                checks.fail(
                    label,
                    "not checked online: the [sink] section is invalid",
                    true,
                );
            }
        }
        if let Some(source) = &source {
            let mut stream = source.read(ReadOptions::default());
            match tokio::time::timeout(Duration::from_secs(120), stream.next()).await {
                Ok(Some(Ok(_))) => checks.ok("source", "answered (token and first page)"),
                Ok(Some(Err(e))) => checks.fail("source", &chain(&e), true),
                Ok(None) => checks.fail("source", "ended without data", true),
                Err(_) => checks.fail("source", "no answer within 120 s", true),
            }
        }
        for (label, sink) in &sinks {
            if let Some(sink) = sink {
                match sink.check().await {
                    Ok(report) => checks.ok(label, &report.checks.join("; ")),
                    Err(e) => checks.fail(label, &chain(&e), true),
                }
            }
        }
        if transform.open_data_file.is_none() {
            let sink_url = sinks
                .iter()
                .all(|(_, sink)| sink.is_some())
                .then(|| pipeline.file.sink.open_data_url());
            match open_data_url(transform.open_data_url.as_deref(), sink_url) {
                Err(why) => checks.fail("open-data", &why, true),
                Ok(url) => {
                    let scope = FetchScope {
                        organisation_numbers: transform.organisation_numbers.clone(),
                        school_unit_codes: transform.school_units.clone(),
                    };
                    match open_data::fetch(&url, &scope, &ClientOptions::default()).await {
                        Ok(data) => {
                            let tests = data.test_activities.len();
                            match Transformer::new(transform.clone(), data) {
                                Ok(_) => checks.ok(
                                    "open-data",
                                    &format!("{url}: {tests} test activities; [transform] fits"),
                                ),
                                Err(e) => checks.fail("transform", &chain(&e), false),
                            }
                        }
                        Err(e) => checks.fail("open-data", &chain(&e), true),
                    }
                }
            }
        }
    }

    Ok(if checks.failed_offline {
        ExitCode::from(EXIT_USAGE)
    } else if checks.failed_online {
        ExitCode::from(EXIT_ABORTED)
    } else {
        println!("\nThe pipeline is valid.");
        ExitCode::SUCCESS
    })
}

/// Each sink of the file (one `[sink]`, or several `[[sink]]`s) built, with
/// its label; `None` for one whose section is invalid (reported).
async fn built_sinks(
    pipeline: &skolsync::pipeline::Pipeline,
    checks: &mut Checks,
) -> Vec<(String, Option<Box<dyn skolsync_sink::Sink>>)> {
    let mut sinks = Vec::new();
    for view in pipeline.views() {
        let store = pull_store(&view).await;
        let setup = skolsync::engine::SinkSetup {
            store: store.as_ref(),
            ..Default::default()
        };
        let label = view.sink_label();
        let sink = match skolsync::engine::build_sink(&view, setup).await {
            Ok(sink) => {
                checks.ok(
                    &label,
                    &format!("{} ({})", sink.kind(), view.sink_identity()),
                );
                Some(sink)
            }
            Err(e) => {
                checks.fail(&label, &chain(&e), false);
                None
            }
        };
        sinks.push((label, sink));
    }
    sinks
}

/// A pull sink keeps its dataset in the state store: the store if it
/// exists (validate creates no state file; without one the sink's settings
/// are still checked, and its online check says there is no store).
async fn pull_store(
    pipeline: &skolsync::pipeline::Pipeline,
) -> Option<skolsync::state::StateStore> {
    let state_exists = match &pipeline.state {
        StateLocation::Path(path) => path.exists(),
        StateLocation::Url(_) => true,
    };
    match pipeline.sink().component() {
        skolsync_sink::SinkComponent::Pull(_) | skolsync_sink::SinkComponent::Upload(_)
            if state_exists =>
        {
            skolsync::engine::open_store(pipeline).await.ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_sink_never_means_production_open_data() {
        let err = open_data_url(None, None).unwrap_err();
        assert!(err.contains("[sink] section is invalid"), "{err}");
        // What the file says wins; a valid sink's environment next;
        // production only for a valid sink that implies none.
        assert_eq!(
            open_data_url(Some("http://127.0.0.1:9/od"), None).unwrap(),
            "http://127.0.0.1:9/od"
        );
        assert_eq!(
            open_data_url(None, Some(Some("https://test.example/od".into()))).unwrap(),
            "https://test.example/od"
        );
        assert_eq!(
            open_data_url(None, Some(None)).unwrap(),
            PRODUCTION_OPEN_DATA_URL
        );
    }
}
