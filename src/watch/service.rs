//! Continuous sync of several pipelines, composed from the parts next
//! door: per pipeline a [`RunQueue`] and its worker, a cron
//! [`ticker`](super::ticker), and — for sources that offer SS 12000
//! subscriptions — a [`SubscriptionKeeper`]; one change [`Receiver`] for
//! all of them.
//!
//! [`Watch::new`] checks what can be checked before anything starts (every
//! pipeline has something that will run it again; the receiver's settings
//! when a pipeline needs it) and reports every problem at once.
//! [`Watch::run`] starts it all, runs until `shutdown` resolves, then stops
//! in order: no new runs, running runs end (as the caller's interrupt
//! makes them), subscriptions are removed at their sources, the receiver
//! closes.

use std::future::Future;
use std::sync::Arc;

use futures::future::join_all;
use skolsync_connectors::Subscriptions;
use skolsync_model::ss12000::EntityKind;
use tokio::task::JoinHandle;

use super::queue::{RunQueue, RunRequester, Trigger};
use super::receiver::{
    Receiver, ReceiverConfig, ReceiverConfigErrors, ReceiverError, RunningReceiver, Targets, router,
};
use super::subscriptions::{KeeperSettings, SubscriptionKeeper, resource_types};
use super::ticker::tick;
use super::worker::{RunRecord, work};
use crate::engine::Interrupt;
use crate::pipeline::{Pipeline, Schedule};

/// Why watching cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// A pipeline's `[source]` cannot be built.
    #[error("pipeline `{pipeline}`: {error}")]
    Source {
        /// The pipeline.
        pipeline: String,
        /// Every problem of its `[source]`.
        error: skolsync_connectors::ConfigErrors,
    },
    /// A pipeline's `[schedule]` is wrong (normally caught at load).
    #[error("pipeline `{pipeline}`: {message}")]
    Schedule {
        /// The pipeline.
        pipeline: String,
        /// Every problem.
        message: String,
    },
    /// Pipelines that nothing would run again after the first run.
    #[error(
        "nothing would run {} after start: {}; add cron expressions to its [schedule] (e.g. \
         `cron = [\"0 2 * * *\"]`), or use a source that offers SS 12000 subscriptions with \
         `on_change = true`",
        if .0.len() == 1 { "this pipeline" } else { "these pipelines" },
        names(.0)
    )]
    NeverRuns(Vec<String>),
    /// Two pipelines of one name would share a queue and a notification path.
    #[error("two pipelines are named `{0}`: each watched pipeline needs its own name")]
    DuplicateName(String),
    /// The receiver's settings.
    #[error(
        "the change receiver, which {} need{} because {} offer{} change subscriptions (or set \
         [schedule] on_change = false): {error}",
        names(pipelines),
        if pipelines.len() == 1 { "s" } else { "" },
        if pipelines.len() == 1 { "its source" } else { "their sources" },
        if pipelines.len() == 1 { "s" } else { "" },
    )]
    Receiver {
        /// The pipelines that subscribe.
        pipelines: Vec<String>,
        /// Every problem of the settings.
        error: ReceiverConfigErrors,
    },
    /// The receiver could not listen.
    #[error(transparent)]
    Listen(#[from] ReceiverError),
}

/// Pipeline names as the messages quote them.
fn names(pipelines: &[String]) -> String {
    pipelines
        .iter()
        .map(|p| format!("`{p}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The change receiver (started only if a pipeline subscribes).
    pub receiver: ReceiverConfig,
    /// Run every pipeline once at start (default true): whatever changed
    /// while nothing was watching is sent now, not at the next trigger.
    pub initial_run: bool,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            receiver: ReceiverConfig::default(),
            initial_run: true,
        }
    }
}

/// One pipeline, with what runs it.
struct Watched {
    pipeline: Pipeline,
    schedule: Schedule,
    subscriptions: Option<(Arc<dyn Subscriptions>, Vec<EntityKind>)>,
}

/// Pipelines checked and ready to watch.
pub struct Watch {
    watched: Vec<Watched>,
    receiver: Option<Receiver>,
    initial_run: bool,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field(
                "pipelines",
                &self
                    .watched
                    .iter()
                    .map(|w| w.pipeline.name())
                    .collect::<Vec<_>>(),
            )
            .field("receiver", &self.receiver)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// Checks the pipelines and, if one subscribes at its source, the
    /// receiver's settings; every problem at once.
    pub fn new(pipelines: Vec<Pipeline>, options: &WatchOptions) -> Result<Watch, Vec<WatchError>> {
        let mut problems = Vec::new();
        let mut watched = Vec::new();
        let mut names = std::collections::HashSet::new();
        for pipeline in pipelines {
            if !names.insert(pipeline.name().to_string()) {
                problems.push(WatchError::DuplicateName(pipeline.name().to_string()));
                continue;
            }
            match watched_pipeline(pipeline) {
                Ok(w) => watched.push(w),
                Err(e) => problems.push(e),
            }
        }
        let never: Vec<String> = watched
            .iter()
            .filter(|w| !w.schedule.has_times() && w.subscriptions.is_none())
            .map(|w| w.pipeline.name().to_string())
            .collect();
        if !never.is_empty() {
            problems.push(WatchError::NeverRuns(never));
        }
        let subscribing: Vec<String> = watched
            .iter()
            .filter(|w| w.subscriptions.is_some())
            .map(|w| w.pipeline.name().to_string())
            .collect();
        let receiver = if subscribing.is_empty() {
            None
        } else {
            match Receiver::new(&options.receiver) {
                Ok(r) => Some(r),
                Err(error) => {
                    problems.push(WatchError::Receiver {
                        pipelines: subscribing,
                        error,
                    });
                    None
                }
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Watch {
            watched,
            receiver,
            initial_run: options.initial_run,
        })
    }

    /// Whether the change receiver will be started.
    pub fn uses_receiver(&self) -> bool {
        self.receiver.is_some()
    }

    /// Watches until `shutdown` resolves, then stops (see the module
    /// docs). `interrupt` makes what stops a running run early; `on_run`
    /// gets every run's record.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
        interrupt: impl Fn() -> Interrupt + Clone,
        on_run: impl Fn(RunRecord) + Clone,
    ) -> Result<(), WatchError> {
        let targets = Targets::new();
        let queues: Vec<RunQueue> = self
            .watched
            .iter()
            .map(|w| RunQueue::new(w.schedule.debounce()))
            .collect();
        let requesters: Vec<RunRequester> = queues.iter().map(RunQueue::requester).collect();
        let receiver = match &self.receiver {
            Some(r) => {
                for (w, requester) in self.watched.iter().zip(&requesters) {
                    if w.subscriptions.is_some() {
                        targets.add_pipeline(w.pipeline.name(), requester.clone());
                    }
                }
                Some(r.start(router(targets.clone(), r.max_body_bytes()))?)
            }
            None => None,
        };
        let keepers = start_keepers(&self.watched, receiver.as_ref(), &targets);
        let tickers = self.start_tickers(&requesters);

        let workers = join_all(
            self.watched
                .iter()
                .zip(queues)
                .map(|(w, queue)| work(&w.pipeline, queue, interrupt.clone(), on_run.clone())),
        );
        let stop = async {
            shutdown.await;
            tracing::info!("stopping: no new runs; running runs end, subscriptions are removed");
            for requester in &requesters {
                requester.close();
            }
        };
        futures::join!(workers, stop);

        for ticker in tickers {
            ticker.abort();
        }
        join_all(keepers.into_iter().map(SubscriptionKeeper::stop)).await;
        if let Some(receiver) = receiver {
            receiver.shutdown().await;
        }
        Ok(())
    }

    /// Starts the cron tickers and asks for the initial runs.
    fn start_tickers(&self, requesters: &[RunRequester]) -> Vec<JoinHandle<()>> {
        let mut tickers = Vec::new();
        for (w, requester) in self.watched.iter().zip(requesters) {
            let name = w.pipeline.name();
            if self.initial_run {
                requester.request(Trigger::Startup);
            }
            if w.schedule.has_times() {
                let times: Vec<&str> = w.schedule.expressions().collect();
                tracing::info!(
                    pipeline = name,
                    timezone = %w.schedule.timezone(),
                    "runs at the times of {}",
                    times.join(", ")
                );
                tickers.push(tokio::spawn(tick(w.schedule.clone(), requester.clone())));
            }
        }
        tickers
    }
}

/// Starts a keeper for every pipeline that subscribes.
fn start_keepers(
    watched: &[Watched],
    receiver: Option<&RunningReceiver>,
    targets: &Targets,
) -> Vec<SubscriptionKeeper> {
    let Some(receiver) = receiver else {
        return Vec::new();
    };
    watched
        .iter()
        .filter_map(|w| {
            let (source, kinds) = w.subscriptions.as_ref()?;
            let settings = KeeperSettings {
                pipeline: w.pipeline.name().to_string(),
                name: format!("skolsync {}", w.pipeline.name()),
                resource_types: kinds.clone(),
                urls: receiver.urls().clone(),
            };
            Some(SubscriptionKeeper::start(
                Arc::clone(source),
                settings,
                targets.clone(),
            ))
        })
        .collect()
}

/// What runs `pipeline`: its schedule and, if it runs on changes and its
/// source offers them, the source's subscriptions.
fn watched_pipeline(pipeline: Pipeline) -> Result<Watched, WatchError> {
    let name = pipeline.name().to_string();
    let schedule =
        Schedule::new(&pipeline.file.schedule).map_err(|problems| WatchError::Schedule {
            pipeline: name.clone(),
            message: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        })?;
    let subscriptions = if schedule.on_change() {
        let source = skolsync_connectors::build(&pipeline.file.source, &pipeline.build_context())
            .map_err(|error| WatchError::Source {
            pipeline: name.clone(),
            error,
        })?;
        match source.subscriptions() {
            Some(s) => Some((s, resource_types(&pipeline.file.source))),
            None => {
                tracing::info!(
                    pipeline = name,
                    source = %source.describe(),
                    "the source offers no change subscriptions: the pipeline runs on its \
                     [schedule] cron times only"
                );
                None
            }
        }
    } else {
        None
    };
    Ok(Watched {
        pipeline,
        schedule,
        subscriptions,
    })
}
