//! Continuous sync: pipelines run on their `[schedule]` and when their
//! source says that something changed, without a person starting them.
//!
//! The parts are library components, so `skolsync watch` composes them and
//! a long-running service can mount the same ones:
//! - [`queue`]: a pipeline's run queue — one run at a time, requests during
//!   a run fold into exactly one more, change notifications debounced.
//! - [`ticker`]: asks for a run at every cron time of `[schedule]`
//!   ([`Schedule`](crate::pipeline::Schedule)).
//! - [`receiver`]: the HTTPS endpoint sources POST change notifications to
//!   (an axum router plus its TLS listener).
//! - [`subscriptions`]: registers, renews and removes a pipeline's SS 12000
//!   subscription at its source.
//! - [`worker`]: runs a pipeline whenever its queue has a run due, one
//!   summary record per run.
//! - [`service`]: all of them for a list of pipelines ([`Watch`]).

pub mod queue;
pub mod receiver;
pub mod service;
pub mod subscriptions;
pub mod ticker;
pub mod worker;

pub use queue::{Request, RunQueue, RunRequester, Trigger};
pub use receiver::{Receiver, ReceiverConfig, RunningReceiver, Targets};
pub use service::{Watch, WatchError, WatchOptions};
pub use subscriptions::SubscriptionKeeper;
pub use worker::{Ended, RunRecord};
