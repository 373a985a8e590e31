//! SQLite's write-ahead log is copied back into the database file by a background task instead
//! of by the commit that happens to cross the size limit: with automatic checkpoints, one
//! commit in every thousand pages waited for the copy and its sync (up to 25 ms under load),
//! and every change queued behind it. Committed data is durable in the log either way.

use std::time::Duration;

use sqlx::AnyPool;

/// How often the log is copied back.
const INTERVAL: Duration = Duration::from_millis(100);
/// Log pages (4 KiB each) beyond which a checkpoint waits for readers so the log can start over.
const RESTART_PAGES: i64 = 65_536;

/// Runs until the pool closes.
pub fn spawn_checkpointer(pool: AnyPool) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !pool.is_closed() {
            ticks.tick().await;
            match checkpoint(&pool, "PRAGMA wal_checkpoint(PASSIVE)").await {
                Ok(pages) if pages >= RESTART_PAGES => {
                    if let Err(e) = checkpoint(&pool, "PRAGMA wal_checkpoint(RESTART)").await {
                        tracing::warn!(error = %e, "write-ahead log checkpoint (restart) failed");
                    }
                }
                Ok(_) => {}
                Err(_) if pool.is_closed() => break,
                Err(e) => tracing::warn!(error = %e, "write-ahead log checkpoint failed"),
            }
        }
    });
}

/// Runs a `wal_checkpoint` statement; returns the log's size in pages.
async fn checkpoint(pool: &AnyPool, statement: &'static str) -> Result<i64, sqlx::Error> {
    let (_busy, pages, _copied): (i64, i64, i64) = sqlx::query_as(statement).fetch_one(pool).await?;
    Ok(pages)
}
