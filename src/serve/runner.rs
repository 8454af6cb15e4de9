//! The pipelines `skolsync serve` runs itself (`[[pull]] run = true`), so
//! one process keeps the served dataset current and serves it: each runs
//! once at start, at its `[schedule]` cron times and when its source
//! notifies a change — [`crate::watch::Watch`], the same service as
//! `skolsync watch`, as one of the host's background tasks. Its change
//! receiver listens on `[watch] listen` with `[server]`'s certificate.

use crate::engine::Interrupt;
use crate::pipeline::{LoadOptions, Pipeline};
use crate::watch::{RunRecord, Watch, WatchOptions};

use super::config::ServeConfig;
use super::host::{Host, ServeError};

/// Adds the runner of the pipelines marked `run` to `host` (nothing when
/// none is). The pipelines are loaded again for running: their secrets
/// must be set now.
pub async fn add(host: &mut Host, config: &ServeConfig) -> Result<(), ServeError> {
    let mut pipelines = Vec::new();
    for api in config.apis.iter().filter(|a| a.run) {
        let pipeline = Pipeline::load(&api.file, &LoadOptions::default())
            .await
            .map_err(|e| ServeError::Runner(format!("{}: {e}", api.file.display())))?;
        pipelines.push(pipeline);
    }
    if pipelines.is_empty() {
        return Ok(());
    }
    let options = WatchOptions {
        receiver: config.receiver.clone(),
        initial_run: true,
    };
    let watch = Watch::new(pipelines, &options).map_err(|problems| {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        ServeError::Runner(text.join("; "))
    })?;
    host.task("pipelines", move |mut signal| async move {
        let stop = async move { signal.wait().await };
        // A signal to the process stops the host and interrupts a run
        // under way, as `skolsync run` is interrupted.
        if let Err(e) = watch
            .run(stop, Interrupt::listen, |r: RunRecord| r.log())
            .await
        {
            tracing::error!("the pipelines stopped running: {e}");
        }
    });
    Ok(())
}
