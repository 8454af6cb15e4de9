//! The outcome writer: records a run's outcomes as they arrive, in batches.
//!
//! One SQLite transaction per outcome costs a journal commit each; one per
//! batch makes thousands of outcomes a second cheap. The trade-off is what a
//! crash loses: outcomes still in the buffer. So a batch is committed when
//! it reaches `max_batch` outcomes or when its oldest outcome has waited
//! `max_delay` (default 256 / 1 s), whichever comes first, and on
//! [`flush`](OutcomeWriter::flush), [`finish`](OutcomeWriter::finish) and
//! drop. Killing the process loses at most the outcomes of the last
//! second; the next run re-sends those entities (their hash was not
//! confirmed), which the provtjänst handles idempotently (`updateIfExists`),
//! and never re-sends anything already committed.

use std::time::Duration;

use skolsync_model::plan::Outcome;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::entities::{PendingOutcome, write_outcome};
use super::{StateError, StateStore, now_text};

/// When the writer commits a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterConfig {
    /// Commit once this many outcomes are buffered.
    pub max_batch: usize,
    /// Commit once the oldest buffered outcome has waited this long.
    pub max_delay: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 256,
            max_delay: Duration::from_secs(1),
        }
    }
}

enum Message {
    Outcome(Box<PendingOutcome>),
    Flush(oneshot::Sender<()>),
}

/// Writes one run's outcomes for one sink into the store, in the background.
///
/// A write error stops the writer: the next [`record`](OutcomeWriter::record)
/// or [`flush`](OutcomeWriter::flush) returns it, and the run should stop
/// (sending more without recording it would re-send it next time).
#[derive(Debug)]
pub struct OutcomeWriter {
    sender: mpsc::Sender<Message>,
    task: Option<JoinHandle<Result<u64, StateError>>>,
}

impl StateStore {
    /// A batching writer of `run_id`'s outcomes for `sink`, with the default
    /// [`WriterConfig`].
    pub async fn outcome_writer(&self, run_id: &str, sink: &str) -> OutcomeWriter {
        self.outcome_writer_with(run_id, sink, WriterConfig::default())
            .await
    }

    /// A batching writer with the given batch limits.
    pub async fn outcome_writer_with(
        &self,
        run_id: &str,
        sink: &str,
        config: WriterConfig,
    ) -> OutcomeWriter {
        let config = WriterConfig {
            max_batch: config.max_batch.max(1),
            ..config
        };
        let (sender, receiver) = mpsc::channel(config.max_batch.saturating_mul(4).max(64));
        let task = tokio::spawn(write_loop(
            self.pool().clone(),
            run_id.to_string(),
            sink.to_string(),
            config,
            receiver,
        ));
        OutcomeWriter {
            sender,
            task: Some(task),
        }
    }
}

impl OutcomeWriter {
    /// Queues one outcome, with the source id and school unit the sink's
    /// outcome does not carry (`None` keeps what the store has).
    pub async fn record(
        &mut self,
        outcome: Outcome,
        source_id: Option<String>,
        school_unit: Option<String>,
    ) -> Result<(), StateError> {
        let pending = PendingOutcome {
            outcome,
            source_id,
            school_unit,
            at: now_text(),
        };
        if self
            .sender
            .send(Message::Outcome(Box::new(pending)))
            .await
            .is_err()
        {
            return Err(self.stopped().await);
        }
        Ok(())
    }

    /// Commits everything queued so far, and waits for it.
    pub async fn flush(&mut self) -> Result<(), StateError> {
        let (ack, done) = oneshot::channel();
        if self.sender.send(Message::Flush(ack)).await.is_err() || done.await.is_err() {
            return Err(self.stopped().await);
        }
        Ok(())
    }

    /// Commits everything queued and stops; returns how many outcomes were
    /// written in all.
    pub async fn finish(mut self) -> Result<u64, StateError> {
        let Some(task) = self.task.take() else {
            return Err(StateError::WriterStopped);
        };
        drop(self.sender);
        task.await.unwrap_or(Err(StateError::WriterStopped))
    }

    /// The error that stopped the background task.
    async fn stopped(&mut self) -> StateError {
        match self.task.take() {
            Some(task) => match task.await {
                Ok(Err(error)) => error,
                _ => StateError::WriterStopped,
            },
            None => StateError::WriterStopped,
        }
    }
}

/// Buffers outcomes and commits them per batch until the sender is gone.
async fn write_loop(
    pool: SqlitePool,
    run_id: String,
    sink: String,
    config: WriterConfig,
    mut receiver: mpsc::Receiver<Message>,
) -> Result<u64, StateError> {
    let mut batch: Vec<PendingOutcome> = Vec::with_capacity(config.max_batch);
    let mut deadline: Option<Instant> = None;
    let mut written = 0;
    loop {
        let message = match deadline {
            Some(at) => match tokio::time::timeout_at(at, receiver.recv()).await {
                Ok(message) => message,
                Err(_elapsed) => {
                    written += commit(&pool, &run_id, &sink, &mut batch).await?;
                    deadline = None;
                    continue;
                }
            },
            None => receiver.recv().await,
        };
        match message {
            Some(Message::Outcome(pending)) => {
                if batch.is_empty() {
                    deadline = Some(Instant::now() + config.max_delay);
                }
                batch.push(*pending);
                if batch.len() >= config.max_batch {
                    written += commit(&pool, &run_id, &sink, &mut batch).await?;
                    deadline = None;
                }
            }
            Some(Message::Flush(ack)) => {
                written += commit(&pool, &run_id, &sink, &mut batch).await?;
                deadline = None;
                let _ = ack.send(());
            }
            None => {
                written += commit(&pool, &run_id, &sink, &mut batch).await?;
                return Ok(written);
            }
        }
    }
}

/// Writes `batch` in one transaction and empties it.
async fn commit(
    pool: &SqlitePool,
    run_id: &str,
    sink: &str,
    batch: &mut Vec<PendingOutcome>,
) -> Result<u64, StateError> {
    if batch.is_empty() {
        return Ok(0);
    }
    let err = StateError::query("record outcomes");
    let mut tx = pool.begin().await.map_err(err)?;
    for pending in batch.iter() {
        write_outcome(&mut *tx, run_id, sink, pending)
            .await
            .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    let count = batch.len() as u64;
    batch.clear();
    Ok(count)
}
