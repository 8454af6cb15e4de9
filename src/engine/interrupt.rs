//! Stopping when told to: SIGINT (Ctrl-C) and SIGTERM, at any phase.
//!
//! A run listens from its first step to its last. While reading or
//! transforming, a signal drops the work in progress (nothing has been
//! sent); while sending, the load loop stops the sink, commits every
//! outcome received so far and ends. Either way the report is written with
//! outcome `interrupted`, the lock is released and the process exits 4. A
//! second signal while the run is winding down ends the process at once.

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The exit code of a second signal, which does not wait for the report.
const EXIT_FORCED: i32 = 130;

/// A signal received during a run, shared by its phases.
#[derive(Debug)]
pub struct Interrupt {
    rx: watch::Receiver<Option<&'static str>>,
    listener: Option<JoinHandle<()>>,
}

impl Interrupt {
    /// Starts listening for SIGINT and SIGTERM (on platforms without them,
    /// for Ctrl-C only). Must be called inside the tokio runtime.
    pub fn listen() -> Interrupt {
        let (tx, rx) = watch::channel(None);
        let Some(mut signals) = Signals::new() else {
            tracing::warn!("cannot listen for signals; a signal ends the process without a report");
            return Interrupt::never();
        };
        let listener = tokio::spawn(async move {
            let mut received = 0u32;
            loop {
                let name = signals.next().await;
                received += 1;
                if received > 1 {
                    eprintln!("skolsync: {name} again: stopping at once, without a report");
                    std::process::exit(EXIT_FORCED);
                }
                tracing::warn!(
                    "{name} received: stopping; recording what was confirmed and writing the report \
                     (send it again to stop at once)"
                );
                let _ = tx.send(Some(name));
            }
        });
        Interrupt {
            rx,
            listener: Some(listener),
        }
    }

    /// An interrupt that never fires (for runs driven by a caller that
    /// handles signals itself, and tests).
    pub fn never() -> Interrupt {
        // A closed channel never changes again.
        let (_, rx) = watch::channel(None);
        Interrupt { rx, listener: None }
    }

    /// The signal received so far, if any.
    pub fn received(&self) -> Option<&'static str> {
        *self.rx.borrow()
    }

    /// Resolves when a signal arrives (never, if none does).
    pub async fn wait(&self) -> &'static str {
        let mut rx = self.rx.clone();
        loop {
            if let Some(name) = *rx.borrow_and_update() {
                return name;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

/// The signals a run stops for, listened to for as long as it lives.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some(Signals { int, term }),
                _ => None,
            }
        }
        #[cfg(not(unix))]
        {
            Some(Signals {})
        }
    }

    async fn next(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
