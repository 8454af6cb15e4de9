//! Runs: the history, and the lock that keeps two runs of one pipeline
//! apart.
//!
//! The lock is a row per pipeline, taken with an atomic insert and handed
//! over with a compare-and-swap on the holder's run id, so it works across
//! processes (and, later, hosts sharing a PostgreSQL store). A lock is
//! stale, and taken over with a warning, when its process is gone (same
//! host), when its [`RunGuard`] was dropped in this very process, or when
//! it is older than the store's `stale_after`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{StateError, StateStore, now_text, parse_time, time_text};

/// Run ids whose [`RunGuard`] is alive in this process: a lock held by this
/// process for a run not in here was left by a guard dropped unfinished.
static LIVE_RUNS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// How many times `begin_run` retries when the lock changes hands under it.
const LOCK_ATTEMPTS: usize = 5;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    /// Everything in scope landed (or was unchanged); nothing rejected.
    Success,
    /// The run completed, but some entities failed, were held back or were
    /// rejected.
    Partial,
    /// The run stopped before completing (guard, fatal error); see the reason.
    Aborted,
    /// The process died without finishing the run (found by a later run).
    Interrupted,
}

impl RunOutcome {
    /// The stored and serialised name.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Success => "success",
            RunOutcome::Partial => "partial",
            RunOutcome::Aborted => "aborted",
            RunOutcome::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Result<RunOutcome, StateError> {
        let all = [
            RunOutcome::Success,
            RunOutcome::Partial,
            RunOutcome::Aborted,
            RunOutcome::Interrupted,
        ];
        super::parse_stored(text, &all, RunOutcome::as_str, "run outcome")
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who holds a pipeline's run lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockHolder {
    /// The run.
    pub run_id: String,
    /// When it took the lock.
    pub since: DateTime<Utc>,
    /// Its process id.
    pub pid: u32,
    /// Its host name.
    pub host: String,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "run {} since {} UTC, process {} on host `{}`",
            self.run_id,
            self.since.format("%Y-%m-%d %H:%M:%S"),
            self.pid,
            self.host
        )
    }
}

/// One run in the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// The run id (also the report's file name).
    pub run_id: String,
    /// The pipeline name.
    pub pipeline: String,
    /// The sink identity.
    pub sink: String,
    /// When it began.
    pub started: DateTime<Utc>,
    /// When it finished; `None` while running or if it died.
    pub finished: Option<DateTime<Utc>>,
    /// How it ended; `None` while running.
    pub outcome: Option<RunOutcome>,
    /// Why it was aborted, if it was.
    pub reason: Option<String>,
    /// The report's counts.
    pub counts: Option<serde_json::Value>,
    /// The process that ran it.
    pub pid: u32,
    /// The host that ran it.
    pub host: String,
}

/// A run in progress. It holds the pipeline's lock until
/// [`finish`](RunGuard::finish) or drop; dropping it unfinished releases
/// the lock in the background and marks the run `interrupted`.
#[derive(Debug)]
pub struct RunGuard {
    store: StateStore,
    run_id: String,
    /// The key of the run lock it holds (the pipeline's name; see
    /// [`StateStore::begin_sink_run`]).
    lock: String,
    took_over: Option<LockHolder>,
    finished: bool,
}

impl RunGuard {
    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The key of the run lock it holds.
    pub fn lock(&self) -> &str {
        &self.lock
    }

    /// The stale lock this run took over, if any (already logged as a warning).
    pub fn took_over(&self) -> Option<&LockHolder> {
        self.took_over.as_ref()
    }

    /// Records how the run ended (with the report's counts) and releases
    /// the lock.
    pub async fn finish(
        mut self,
        outcome: RunOutcome,
        reason: Option<&str>,
        counts: &serde_json::Value,
    ) -> Result<(), StateError> {
        sqlx::query(
            "UPDATE runs SET finished_at = $1, outcome = $2, reason = $3, counts = $4 \
             WHERE run_id = $5",
        )
        .bind(now_text())
        .bind(outcome.as_str())
        .bind(reason)
        .bind(counts.to_string())
        .bind(&self.run_id)
        .execute(self.store.pool())
        .await
        .map_err(StateError::query("record the end of the run"))?;
        sqlx::query("DELETE FROM run_lock WHERE pipeline = $1 AND run_id = $2")
            .bind(&self.lock)
            .bind(&self.run_id)
            .execute(self.store.pool())
            .await
            .map_err(StateError::query("release the run lock"))?;
        self.finished = true;
        unregister(&self.run_id);
        Ok(())
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // First, so that this process can take the lock again at once even
        // if the release below never runs (runtime shutting down).
        unregister(&self.run_id);
        tracing::warn!(
            run_id = %self.run_id,
            lock = %self.lock,
            "run ended without finishing; releasing its lock"
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pool = self.store.pool().clone();
            let lock = self.lock.clone();
            let run_id = self.run_id.clone();
            runtime.spawn(async move {
                // Marked before the lock goes: a run that takes the lock
                // next must find this one already ended, never open.
                let _ = mark_interrupted(&pool, &run_id).await;
                let _ = sqlx::query("DELETE FROM run_lock WHERE pipeline = $1 AND run_id = $2")
                    .bind(&lock)
                    .bind(&run_id)
                    .execute(&pool)
                    .await;
            });
        }
    }
}

impl StateStore {
    /// Begins a run of `pipeline` into the sink `sink`: takes the
    /// pipeline's lock (refusing with [`StateError::Locked`], naming the
    /// holder, while another live run has it; taking over a stale one with a
    /// warning) and records the run in the history.
    pub async fn begin_run(&self, pipeline: &str, sink: &str) -> Result<RunGuard, StateError> {
        self.begin_sink_run(pipeline, sink, pipeline).await
    }

    /// [`begin_run`](Self::begin_run) under the run lock `lock` (one per
    /// sink of a pipeline with several: each sink's run holds its own, the
    /// first sink's being the pipeline's name).
    pub async fn begin_sink_run(
        &self,
        pipeline: &str,
        sink: &str,
        lock: &str,
    ) -> Result<RunGuard, StateError> {
        let me = LockHolder {
            run_id: new_run_id(),
            since: Utc::now(),
            pid: std::process::id(),
            host: hostname(),
        };
        let since = time_text(me.since);
        let mut took_over = None;
        let mut last_holder = None;
        let mut acquired = false;
        for _ in 0..LOCK_ATTEMPTS {
            let inserted = sqlx::query(
                "INSERT INTO run_lock (pipeline, run_id, since, pid, host) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pipeline) DO NOTHING",
            )
            .bind(lock)
            .bind(&me.run_id)
            .bind(&since)
            .bind(i64::from(me.pid))
            .bind(&me.host)
            .execute(self.pool())
            .await
            .map_err(StateError::query("take the run lock"))?
            .rows_affected();
            if inserted == 1 {
                acquired = true;
                break;
            }
            let Some(holder) = self.lock_holder(lock).await? else {
                continue; // released meanwhile: try again
            };
            let Some(why) = self.stale_reason(&holder, &me) else {
                return Err(self.locked(lock, holder));
            };
            let swapped = sqlx::query(
                "UPDATE run_lock SET run_id = $1, since = $2, pid = $3, host = $4 \
                 WHERE pipeline = $5 AND run_id = $6",
            )
            .bind(&me.run_id)
            .bind(&since)
            .bind(i64::from(me.pid))
            .bind(&me.host)
            .bind(lock)
            .bind(&holder.run_id)
            .execute(self.pool())
            .await
            .map_err(StateError::query("take over a stale run lock"))?
            .rows_affected();
            if swapped == 1 {
                tracing::warn!(
                    lock,
                    stale = %holder,
                    "taking over a stale run lock: {why}"
                );
                took_over = Some(holder);
                acquired = true;
                break;
            }
            last_holder = Some(holder);
        }
        if !acquired {
            return Err(match last_holder {
                Some(holder) => self.locked(lock, holder),
                None => StateError::Corrupt("the run lock keeps changing hands".into()),
            });
        }
        register(&me.run_id);
        let guard = RunGuard {
            store: self.clone(),
            run_id: me.run_id.clone(),
            lock: lock.to_string(),
            took_over,
            finished: false,
        };
        // If anything below fails, the guard's drop releases the lock again.
        if let Some(dead) = &guard.took_over {
            mark_interrupted(self.pool(), &dead.run_id).await?;
        }
        sqlx::query(
            "INSERT INTO runs (run_id, pipeline, sink, started_at, pid, host) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&me.run_id)
        .bind(pipeline)
        .bind(sink)
        .bind(&since)
        .bind(i64::from(me.pid))
        .bind(&me.host)
        .execute(self.pool())
        .await
        .map_err(StateError::query("record the start of the run"))?;
        Ok(guard)
    }

    /// Who holds `pipeline`'s run lock now, if anyone.
    pub async fn lock_holder(&self, pipeline: &str) -> Result<Option<LockHolder>, StateError> {
        let row = sqlx::query("SELECT run_id, since, pid, host FROM run_lock WHERE pipeline = $1")
            .bind(pipeline)
            .fetch_optional(self.pool())
            .await
            .map_err(StateError::query("read the run lock"))?;
        let Some(row) = row else { return Ok(None) };
        let err = StateError::query("read the run lock");
        let since: String = row.try_get("since").map_err(err)?;
        Ok(Some(LockHolder {
            run_id: row.try_get("run_id").map_err(err)?,
            since: parse_time(&since)?,
            pid: u32::try_from(row.try_get::<i64, _>("pid").map_err(err)?).unwrap_or(0),
            host: row.try_get("host").map_err(err)?,
        }))
    }

    /// The most recent runs, newest first.
    pub async fn history(&self, limit: u32) -> Result<Vec<RunRecord>, StateError> {
        let rows = sqlx::query(
            "SELECT run_id, pipeline, sink, started_at, finished_at, outcome, reason, counts, pid, host \
             FROM runs ORDER BY started_at DESC, run_id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(StateError::query("read the run history"))?;
        rows.iter().map(run_record).collect()
    }

    /// Why `holder`'s lock may be taken over by `me`, or `None` if it is live.
    fn stale_reason(&self, holder: &LockHolder, me: &LockHolder) -> Option<String> {
        if holder.host == me.host {
            if holder.pid == me.pid {
                if !is_registered(&holder.run_id) {
                    return Some("its run ended in this process without finishing".into());
                }
            } else if pid_alive(holder.pid) == Some(false) {
                return Some(format!("process {} is gone", holder.pid));
            }
        }
        let age = (Utc::now() - holder.since).to_std().unwrap_or_default();
        (age > self.stale_after).then(|| {
            format!(
                "it is older than {} minutes",
                self.stale_after.as_secs() / 60
            )
        })
    }

    fn locked(&self, pipeline: &str, holder: LockHolder) -> StateError {
        StateError::Locked {
            pipeline: pipeline.to_string(),
            holder,
            stale_hours: self.stale_after.as_secs().div_ceil(3600),
        }
    }
}

/// Marks a run that never finished as interrupted.
async fn mark_interrupted(pool: &sqlx::SqlitePool, run_id: &str) -> Result<(), StateError> {
    sqlx::query("UPDATE runs SET outcome = $1 WHERE run_id = $2 AND outcome IS NULL")
        .bind(RunOutcome::Interrupted.as_str())
        .bind(run_id)
        .execute(pool)
        .await
        .map_err(StateError::query("mark a dead run as interrupted"))?;
    Ok(())
}

fn run_record(row: &SqliteRow) -> Result<RunRecord, StateError> {
    let err = StateError::query("read the run history");
    let text = |column: &str| row.try_get::<String, _>(column).map_err(err);
    let optional = |column: &str| row.try_get::<Option<String>, _>(column).map_err(err);
    Ok(RunRecord {
        run_id: text("run_id")?,
        pipeline: text("pipeline")?,
        sink: text("sink")?,
        started: parse_time(&text("started_at")?)?,
        finished: optional("finished_at")?
            .as_deref()
            .map(parse_time)
            .transpose()?,
        outcome: optional("outcome")?
            .as_deref()
            .map(RunOutcome::parse)
            .transpose()?,
        reason: optional("reason")?,
        counts: optional("counts")?
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StateError::Corrupt(format!("run counts: {e}")))?,
        pid: u32::try_from(row.try_get::<i64, _>("pid").map_err(err)?).unwrap_or(0),
        host: text("host")?,
    })
}

/// A new run id: UTC start time plus a random suffix, sortable and safe as a
/// file name (`20261104T021500Z-3fa2c1`).
fn new_run_id() -> String {
    format!(
        "{}-{:06x}",
        Utc::now().format("%Y%m%dT%H%M%SZ"),
        rand::random::<u32>() & 0x00FF_FFFF
    )
}

/// This host's name, for lock holders.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Whether process `pid` exists on this host; `None` where that cannot be
/// told cheaply (then only the age decides).
fn pid_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") {
        Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
    } else {
        None
    }
}

fn register(run_id: &str) {
    if let Ok(mut live) = LIVE_RUNS.lock() {
        live.insert(run_id.to_string());
    }
}

fn unregister(run_id: &str) {
    if let Ok(mut live) = LIVE_RUNS.lock() {
        live.remove(run_id);
    }
}

fn is_registered(run_id: &str) -> bool {
    // A poisoned registry cannot tell; treat the run as live (refuse rather
    // than run twice).
    LIVE_RUNS.lock().map_or(true, |live| live.contains(run_id))
}
