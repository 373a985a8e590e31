//! Group commit: SQLite has a single writer and every change appends to the evidence log, whose
//! right edge is one row, so changes would otherwise commit (and sync to disk) one at a time.
//!
//! Callers hand [`Committer::submit`] a closure; one task runs queued closures back to back in one
//! transaction, each inside a savepoint, and commits once. Every caller learns its outcome only
//! after `COMMIT` returned, so an acknowledged change is durable.

use futures_util::future::BoxFuture;
use sqlx::Executor;
use tokio::sync::{mpsc, oneshot};

use super::{Store, WriteTx};

/// Changes run in one transaction at most; bounds the latency one batch adds.
const MAX_BATCH: usize = 512;

/// Tells a caller how the batch holding its change ended.
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
/// A submitted change: runs in the shared transaction and says whether it succeeded.
type Job = Box<dyn for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, (bool, Completion)> + Send>;

#[derive(Clone)]
pub struct Committer {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Committer {
    pub fn start(store: Store) -> Self {
        let (jobs, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(store, receiver));
        Committer { jobs }
    }

    pub async fn submit<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        let (answer, outcome) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |tx| {
            Box::pin(async move {
                match change(tx).await {
                    Ok(value) => {
                        let completion: Completion = Box::new(move |committed| {
                            let _ = answer.send(committed.map(|()| value).map_err(|e| E::from(batch_failed(e))));
                        });
                        (true, completion)
                    }
                    Err(error) => {
                        let completion: Completion = Box::new(move |_| {
                            let _ = answer.send(Err(error));
                        });
                        (false, completion)
                    }
                }
            })
        });
        if self.jobs.send(job).is_err() {
            return Err(E::from(sqlx::Error::PoolClosed));
        }
        // A dropped answer means the batch could not even begin; the caller may retry.
        outcome.await.unwrap_or_else(|_| Err(E::from(batch_failed("the write batch was abandoned".into()))))
    }
}

fn batch_failed(reason: String) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(format!("group commit failed: {reason}")))
}

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = receiver.recv().await {
        let mut tx = match store.begin_write().await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a write batch");
                continue;
            }
        };
        let mut completions: Vec<Completion> = Vec::new();
        let mut next = Some(first);
        let mut broken = None;
        // Each change runs in its own savepoint. The statement that ends one change's savepoint
        // also opens the next one, so a change costs one round trip to SQLite's thread, not two;
        // COMMIT releases the last.
        let mut boundary = "SAVEPOINT change";
        while let Some(job) = next.take() {
            if let Err(e) = (&mut *tx).execute(boundary).await {
                broken = Some(e.to_string());
                break;
            }
            let mark = tx.pending_mark();
            let (ok, completion) = job(&mut tx).await;
            if ok {
                completions.push(completion);
                boundary = "RELEASE change; SAVEPOINT change";
            } else {
                tx.rollback_pending_to(mark);
                if let Err(e) = (&mut *tx).execute("ROLLBACK TO change").await {
                    broken = Some(e.to_string());
                    break;
                }
                completion(Ok(()));
                boundary = "RELEASE change; SAVEPOINT change";
            }
            if completions.len() < MAX_BATCH {
                next = receiver.try_recv().ok();
            }
        }
        // The last savepoint is released before the commit writes the deferred rows and leaves:
        // inside a savepoint SQLite first copies every page it changes to the sub-journal.
        if broken.is_none()
            && let Err(e) = (&mut *tx).execute("RELEASE change").await
        {
            broken = Some(e.to_string());
        }
        let outcome = match broken {
            // Dropping the transaction rolls the whole batch back.
            Some(reason) => Err(reason),
            None => tx.commit().await.map(|_| ()).map_err(|e| e.to_string()),
        };
        if let Err(reason) = &outcome {
            tracing::error!(%reason, changes = completions.len(), "write batch rolled back");
        }
        for completion in completions {
            completion(outcome.clone());
        }
    }
}
