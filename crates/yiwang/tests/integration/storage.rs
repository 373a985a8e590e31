//! The store's shared machinery on the configured backend: transactions, the outbox and jobs.

use serde_json::json;
use yiwang::store::jobs::{self, NewJob};
use yiwang::store::outbox;

use crate::support::TestApp;

#[tokio::test]
async fn outbox_rows_exist_exactly_when_their_transaction_commits() {
    let app = TestApp::empty().await;
    let store = &app.state.store;
    {
        let mut tx = store.begin_write().await.unwrap();
        outbox::append(&mut tx, "test.rolled_back", &json!({"n": 1})).unwrap();
        // Dropped without commit.
    }
    let mut tx = store.begin_write().await.unwrap();
    outbox::append(&mut tx, "test.committed", &json!({"n": 2})).unwrap();
    tx.commit().await.unwrap();

    let mut conn = store.pool().acquire().await.unwrap();
    let pending = outbox::pending(&mut conn, 100).await.unwrap();
    let topics: Vec<&str> = pending.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(topics, ["test.committed"]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&pending[0].payload).unwrap(), json!({"n": 2}));
    app.stop().await;
}

async fn job_row(store: &yiwang::store::Store, key: &str) -> (String, i64, i64, Option<String>) {
    sqlx::query_as("SELECT state, attempts, run_at, last_error FROM jobs WHERE dedupe_key = $1")
        .bind(key)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn jobs_are_deduplicated_leased_and_retried_with_backoff() {
    let (store, _dir) = TestApp::store_only().await;
    let now = yiwang::store::now_ms();
    let job = |key: &str, run_at_ms: i64| NewJob {
        kind: "test.job",
        payload: json!({"k": key}),
        run_at_ms,
        dedupe_key: Some(key.into()),
        max_attempts: 2,
    };
    let mut tx = store.begin_write().await.unwrap();
    assert!(jobs::enqueue(&mut tx, job("a", now - 1000)).await.unwrap());
    assert!(!jobs::enqueue(&mut tx, job("a", now - 1000)).await.unwrap(), "same dedupe key: not enqueued twice");
    assert!(jobs::enqueue(&mut tx, job("later", now + 3_600_000)).await.unwrap());
    tx.commit().await.unwrap();

    let claimed = jobs::claim(&store, "w1").await.unwrap().expect("a due job");
    assert_eq!((claimed.payload.clone(), claimed.attempts), (json!({"k": "a"}), 1));
    assert!(jobs::claim(&store, "w2").await.unwrap().is_none(), "leased and future jobs are not claimed");

    jobs::fail(&store, &claimed, "boom").await.unwrap();
    let (state, attempts, run_at, error) = job_row(&store, "a").await;
    assert_eq!((state.as_str(), attempts, error.as_deref()), ("pending", 1, Some("boom")));
    assert!(run_at >= now + 9_000, "retried only after a back-off");
    assert!(jobs::claim(&store, "w1").await.unwrap().is_none());

    sqlx::query("UPDATE jobs SET run_at = $1 WHERE dedupe_key = 'a'")
        .bind(now - 1)
        .execute(store.pool())
        .await
        .unwrap();
    let again = jobs::claim(&store, "w1").await.unwrap().expect("due again");
    assert_eq!(again.attempts, 2);
    jobs::fail(&store, &again, "boom twice").await.unwrap();
    assert_eq!(job_row(&store, "a").await.0, "failed", "no attempts left: kept for an operator");

    // A lease that expires (its node died) makes the job claimable again.
    let mut tx = store.begin_write().await.unwrap();
    jobs::enqueue(&mut tx, job("orphan", now - 1000)).await.unwrap();
    tx.commit().await.unwrap();
    let orphan = jobs::claim(&store, "dying-node").await.unwrap().unwrap();
    sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2")
        .bind(now - 1)
        .bind(orphan.id)
        .execute(store.pool())
        .await
        .unwrap();
    let rescued = jobs::claim(&store, "w1").await.unwrap().expect("expired lease");
    assert_eq!((rescued.id, rescued.attempts), (orphan.id, 2));
    jobs::complete(&store, rescued.id, "rescuer").await.unwrap();
    assert_eq!(job_row(&store, "orphan").await.0, "done");
}

#[tokio::test]
async fn the_worker_runs_recurring_jobs() {
    let app = TestApp::empty().await;
    let mut done = 0i64;
    for _ in 0..50 {
        done = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'identity.purge_expired' AND state = 'done'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        if done > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(done, 1, "one purge job per period, run by the worker");
    app.stop().await;
}

/// The release before this one ended at migration 0012. A database it left, with rows in it, is
/// brought up to date when the current binary starts, keeps those rows, and the current code
/// works on them (a job queued by the old release is claimed and finished under the new schema).
#[tokio::test]
async fn a_database_of_the_previous_release_is_migrated_at_start_and_keeps_its_rows() {
    const PREVIOUS_RELEASE: i64 = 12;
    let dir = tempfile::tempdir().unwrap();
    let config = yiwang::config::Config::for_tests(dir.path(), crate::support::fresh_postgres().await);
    let backend = if config.database_url().starts_with("postgres") { "postgres" } else { "sqlite" };

    // The previous release's migrations only, from the shipped folder.
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(backend);
    let previous = dir.path().join("previous-migrations");
    std::fs::create_dir_all(&previous).unwrap();
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let version: i64 = name.split('_').next().unwrap().parse().unwrap();
        if version <= PREVIOUS_RELEASE {
            std::fs::copy(&path, previous.join(&name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let url = match backend {
        "sqlite" => format!("{}?mode=rwc", config.database_url()),
        _ => config.database_url().to_owned(),
    };
    let old = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(previous.as_path()).await.unwrap().run(&old).await.unwrap();
    sqlx::query(
        "INSERT INTO jobs (kind, dedupe_key, payload, state, run_at, max_attempts, created_at, updated_at)
         VALUES ('ledger.checkpoint', 'queued-by-the-previous-release', 'null', 'pending', 0, 3, 0, 0)",
    )
    .execute(&old)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO regions (code, name, level, parent_code, path) VALUES ('440400', '珠海市', 1, NULL, '/440400/')",
    )
    .execute(&old)
    .await
    .unwrap();
    old.close().await;

    let state = yiwang::open(config).await.expect("the current release opens the older database");
    let pool = state.store.pool();
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await.unwrap();
    let shipped_count = std::fs::read_dir(&shipped).unwrap().count();
    assert_eq!(applied.len(), shipped_count, "every shipped migration applied: {applied:?}");
    assert!(applied.last().unwrap() > &PREVIOUS_RELEASE);
    let region: String =
        sqlx::query_scalar("SELECT name FROM regions WHERE code = '440400'").fetch_one(pool).await.unwrap();
    assert_eq!(region, "珠海市");
    let job = jobs::claim(&state.store, "upgraded-node").await.unwrap().expect("the old release's job");
    jobs::complete(&state.store, job.id, "upgraded-node").await.unwrap();
    let finished: (String, Option<String>) =
        sqlx::query_as("SELECT state, finished_by FROM jobs WHERE dedupe_key = 'queued-by-the-previous-release'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(finished, ("done".to_owned(), Some("upgraded-node".to_owned())));
}

#[tokio::test]
async fn done_jobs_past_a_day_are_deleted_failed_and_pending_ones_stay() {
    let (store, _dir) = TestApp::store_only().await;
    let day = 24 * 3600 * 1000;
    let now = yiwang::store::now_ms();
    let mut tx = store.begin_write().await.unwrap();
    for (key, run_at) in
        [("old_done", now - 2 * day), ("old_failed", now - 2 * day), ("old_pending", now - 2 * day), ("new_done", now)]
    {
        let job = NewJob {
            kind: "test.job",
            payload: json!({}),
            run_at_ms: run_at,
            dedupe_key: Some(key.into()),
            max_attempts: 1,
        };
        jobs::enqueue(&mut tx, job).await.unwrap();
    }
    tx.commit().await.unwrap();
    for (key, state) in [("old_done", "done"), ("old_failed", "failed"), ("new_done", "done")] {
        sqlx::query("UPDATE jobs SET state = $1 WHERE dedupe_key = $2")
            .bind(state)
            .bind(key)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let mut conn = store.pool().acquire().await.unwrap();
    assert_eq!(jobs::purge_done(&mut conn, now - day).await.unwrap(), 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT dedupe_key FROM jobs WHERE kind = 'test.job' ORDER BY dedupe_key")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(left, ["new_done", "old_failed", "old_pending"]);
}

/// The workspace's `.cargo/config.toml` builds the bundled SQLite with a page cache per
/// connection and without memory statistics; built elsewhere, every connection would queue on
/// one global mutex again.
#[tokio::test]
async fn sqlite_is_built_without_global_mutexes_on_the_page_cache_and_malloc() {
    let (store, _dir) = TestApp::store_only().await;
    if store.backend() != yiwang::store::Backend::Sqlite {
        return;
    }
    let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options").fetch_all(store.pool()).await.unwrap();
    assert!(!options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"), "{options:?}");
    assert!(options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"), "{options:?}");
}
