//! Background jobs in an SQL table: any node may enqueue, one node claims each job.
//!
//! A claim is a lease (`locked_until`): a node that dies mid-job leaves the lease to expire and the
//! job is claimed again, so handlers must be idempotent. Failures are retried with exponential
//! back-off until `max_attempts`, then the job stays `failed` with its last error for an operator.
//! `dedupe_key` makes enqueueing idempotent: a second job with the same key is not created.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::{Backend, Conn, Store, now_ms};

const LEASE_MS: i64 = 5 * 60 * 1000;
const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: Value,
    pub attempts: i64,
    pub max_attempts: i64,
}

pub struct NewJob<'a> {
    pub kind: &'a str,
    pub payload: Value,
    pub run_at_ms: i64,
    pub dedupe_key: Option<String>,
    pub max_attempts: i64,
}

impl<'a> NewJob<'a> {
    pub fn now(kind: &'a str, payload: Value) -> Self {
        NewJob { kind, payload, run_at_ms: now_ms(), dedupe_key: None, max_attempts: 5 }
    }
}

/// Enqueues a job in the caller's transaction; returns false when a job with the same
/// `dedupe_key` already exists.
pub async fn enqueue(conn: &mut Conn, job: NewJob<'_>) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO jobs (kind, dedupe_key, payload, state, run_at, max_attempts, created_at, updated_at)
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $6)
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(job.kind)
    .bind(job.dedupe_key)
    .bind(job.payload.to_string())
    .bind(job.run_at_ms)
    .bind(job.max_attempts)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Claims the oldest due job (or one whose lease expired) for `worker`.
pub async fn claim(store: &Store, worker: &str) -> Result<Option<Job>, sqlx::Error> {
    let now = now_ms();
    let lock = match store.backend() {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE jobs SET state = 'running', locked_by = $1, locked_until = $2,
                attempts = attempts + 1, updated_at = $3
         WHERE id = (SELECT id FROM jobs
                     WHERE (state = 'pending' AND run_at <= $3)
                        OR (state = 'running' AND locked_until < $3)
                     ORDER BY run_at, id LIMIT 1 {lock})
         RETURNING id, kind, payload, attempts, max_attempts"
    );
    let mut tx = store.begin_write().await?;
    let row: Option<(i64, String, String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(worker)
        .bind(now + LEASE_MS)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row.map(|(id, kind, payload, attempts, max_attempts)| Job {
        id,
        kind,
        payload: serde_json::from_str(&payload).unwrap_or(Value::Null),
        attempts,
        max_attempts,
    }))
}

/// Marks the job done by `worker`, which is kept as `finished_by`.
pub async fn complete(store: &Store, id: i64, worker: &str) -> Result<(), sqlx::Error> {
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, finished_by = $1, updated_at = $2
         WHERE id = $3",
    )
    .bind(worker)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map(drop)
}

/// Records a failure: back to `pending` after a back-off, or `failed` after the last attempt.
pub async fn fail(store: &Store, job: &Job, error: &str) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let (state, run_at) =
        if job.attempts >= job.max_attempts { ("failed", now) } else { ("pending", now + backoff_ms(job.attempts)) };
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "UPDATE jobs SET state = $1, run_at = $2, last_error = $3, locked_by = NULL,
                locked_until = NULL, updated_at = $4 WHERE id = $5",
    )
    .bind(state)
    .bind(run_at)
    .bind(error)
    .bind(now)
    .bind(job.id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await.map(drop)
}

/// Deletes jobs done that were due before `before_ms`, so recurring work (the outbox is published
/// every second) does not grow the table forever. Failed jobs stay for an operator.
pub async fn purge_done(conn: &mut Conn, before_ms: i64) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND run_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted)
}

/// 10 s, 20 s, 40 s, … capped at an hour.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exponent = attempts.clamp(1, 20) - 1;
    (10_000i64 << exponent).min(MAX_BACKOFF_MS)
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub type Handler = Arc<dyn Fn(Store, Value) -> HandlerFuture + Send + Sync>;

/// Work that is due on a schedule: every `every`, the worker enqueues one job of `kind` with a
/// dedupe key naming the period, so N nodes still produce one job per period.
#[derive(Clone)]
pub struct Recurring {
    pub kind: &'static str,
    pub every: Duration,
}

/// Runs jobs until `shutdown` turns true.
pub struct Worker {
    pub store: Store,
    pub name: String,
    pub handlers: HashMap<&'static str, Handler>,
    pub recurring: Vec<Recurring>,
    pub idle_wait: Duration,
}

impl Worker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.schedule_recurring().await {
                tracing::warn!(error = %e, "could not schedule recurring jobs");
            }
            let worked = match claim(&self.store, &self.name).await {
                Ok(Some(job)) => {
                    self.run_one(job).await;
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim a job");
                    false
                }
            };
            if !worked {
                tokio::select! {
                    _ = tokio::time::sleep(self.idle_wait) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn schedule_recurring(&self) -> Result<(), sqlx::Error> {
        if self.recurring.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut tx = self.store.begin_write().await?;
        for task in &self.recurring {
            let period = task.every.as_millis().max(1) as i64;
            let slot = now / period;
            let job = NewJob {
                kind: task.kind,
                payload: Value::Null,
                run_at_ms: slot * period,
                dedupe_key: Some(format!("{}@{slot}", task.kind)),
                max_attempts: 3,
            };
            enqueue(&mut tx, job).await?;
        }
        tx.commit().await.map(drop)
    }

    async fn run_one(&self, job: Job) {
        let started = std::time::Instant::now();
        let outcome = match self.handlers.get(job.kind.as_str()) {
            Some(handler) => handler(self.store.clone(), job.payload.clone()).await,
            None => Err(format!("no handler for job kind {}", job.kind)),
        };
        metrics::histogram!("yiwang_job_seconds", "kind" => job.kind.clone()).record(started.elapsed().as_secs_f64());
        let recorded = match &outcome {
            Ok(()) => complete(&self.store, job.id, &self.name).await,
            Err(error) => {
                tracing::warn!(job = job.id, kind = %job.kind, attempt = job.attempts, %error, "job failed");
                fail(&self.store, &job, error).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(job = job.id, error = %e, "could not record a job outcome");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(2), 20_000);
        assert_eq!(backoff_ms(4), 80_000);
        assert_eq!(backoff_ms(30), 60 * 60 * 1000);
    }
}
