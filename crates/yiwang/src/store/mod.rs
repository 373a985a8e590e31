//! Storage for both backends: an embedded SQLite file by default, PostgreSQL when the URL says so.
//!
//! Domain modules write through [`Store::begin_write`] and read through [`Store::pool`]. Both
//! backends run the same SQL text (`$1` placeholders, `RETURNING`, `ON CONFLICT`); where the
//! dialects differ a store function branches on [`Store::backend`]. Columns use only the types
//! sqlx's `Any` driver carries on both: BIGINT (also for flags and instants, as Unix milliseconds),
//! TEXT and BLOB. Errors here are `sqlx::Error`; modules wrap them in their own error enums.

pub mod deferred;
mod group_commit;
pub mod jobs;
pub mod outbox;
mod wal;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::ledger::{self, Frontier, PendingLeaf};
use crate::workorders;

/// The connection type every store function takes, so one function serves a pooled connection
/// and an open transaction alike.
pub type Conn = sqlx::AnyConnection;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, sqlx::Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(sqlx::Error::Configuration("database_url must start with sqlite: or postgres://".into()))
        }
    }

    /// The backend a connection talks to.
    pub fn of(conn: &Conn) -> Self {
        if conn.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; taking this lock before `BEGIN IMMEDIATE` queues writers
    /// in the process instead of letting them fail with `SQLITE_BUSY`.
    write_lock: Option<Arc<Mutex<()>>>,
    /// The evidence log's right edge after the last commit of this process, so an append need not
    /// read it back; checked against the stored size before use.
    ledger_frontier: Arc<std::sync::Mutex<Option<Frontier>>>,
    /// The task that runs [`Store::write`] closures in shared transactions.
    group: Option<group_commit::Committer>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// A write transaction. Dereferences to the connection; nothing is kept unless [`WriteTx::commit`]
/// is called, so an early return through `?` rolls back.
///
/// Evidence-log leaves, outbox events, work-order tallies, deferred rows and counters ([`deferred`]) appended
/// in it wait in memory and are written just before `COMMIT`, so the log's single row of state (and
/// the tallies' busiest rows) are locked for the shortest time and many of each go in one statement.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _writer: Option<OwnedMutexGuard<()>>,
    backend: Backend,
    pending_leaves: Vec<PendingLeaf>,
    pending_events: Vec<outbox::PendingEvent>,
    pending_tallies: Vec<workorders::tallies::Delta>,
    pending_rows: Vec<deferred::Row>,
    pending_counts: Vec<deferred::Count>,
    ledger_frontier: Arc<std::sync::Mutex<Option<Frontier>>>,
}

impl WriteTx {
    /// Commits; returns the indexes the evidence log gave this transaction's leaves.
    pub async fn commit(mut self) -> Result<std::ops::Range<u64>, sqlx::Error> {
        let rows = std::mem::take(&mut self.pending_rows);
        deferred::flush(&mut self.tx, rows).await?;
        let events = std::mem::take(&mut self.pending_events);
        outbox::insert(&mut self.tx, &events).await?;
        let tallies = std::mem::take(&mut self.pending_tallies);
        workorders::tallies::flush(&mut self.tx, &tallies).await?;
        let counts = std::mem::take(&mut self.pending_counts);
        deferred::flush_counts(&mut self.tx, counts).await?;
        if self.pending_leaves.is_empty() {
            self.tx.commit().await?;
            return Ok(0..0);
        }
        let cached = self.ledger_frontier.lock().map(|f| f.clone()).unwrap_or(None);
        let leaves = std::mem::take(&mut self.pending_leaves);
        let frontier = ledger::store::flush(&mut self.tx, self.backend, cached, &leaves).await?;
        let range = frontier.size() - leaves.len() as u64..frontier.size();
        self.tx.commit().await?;
        if let Ok(mut slot) = self.ledger_frontier.lock() {
            *slot = Some(frontier);
        }
        Ok(range)
    }

    pub(crate) fn push_leaf(&mut self, leaf: PendingLeaf) {
        self.pending_leaves.push(leaf);
    }

    pub(crate) fn push_event(&mut self, event: outbox::PendingEvent) {
        self.pending_events.push(event);
    }

    pub(crate) fn push_tally(&mut self, delta: workorders::tallies::Delta) {
        self.pending_tallies.push(delta);
    }

    fn push_deferred(&mut self, row: deferred::Row) {
        self.pending_rows.push(row);
    }

    fn push_count(&mut self, count: deferred::Count) {
        self.pending_counts.push(count);
    }

    /// How many leaves, events, tallies, deferred rows and counts wait, so a savepoint rolled back
    /// can drop those it added.
    fn pending_mark(&self) -> [usize; 5] {
        [
            self.pending_leaves.len(),
            self.pending_events.len(),
            self.pending_tallies.len(),
            self.pending_rows.len(),
            self.pending_counts.len(),
        ]
    }

    fn rollback_pending_to(&mut self, [leaves, events, tallies, rows, counts]: [usize; 5]) {
        self.pending_leaves.truncate(leaves);
        self.pending_events.truncate(events);
        self.pending_tallies.truncate(tallies);
        self.pending_rows.truncate(rows);
        self.pending_counts.truncate(counts);
    }
}

impl std::ops::Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}

impl Store {
    /// Connects and applies the backend's migrations.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = match backend {
            Backend::Sqlite => {
                let sqlite = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: an acknowledged commit survives power loss, not only a crash.
                    .synchronous(SqliteSynchronous::Full)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true);
                AnyConnectOptions::from_url(&sqlite.to_url_lossy())?
            }
            Backend::Postgres => AnyConnectOptions::from_str(url)?,
        };
        let options = options.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            // A file next to the process does not drop connections; a ping before every use
            // would cost a round trip to the connection's thread for nothing.
            .test_before_acquire(backend == Backend::Postgres)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // The URL form of the options does not carry every pragma.
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; \
                             PRAGMA synchronous = FULL; PRAGMA journal_mode = WAL; \
                             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 0;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let mut store = Store {
            pool,
            backend,
            write_lock: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            ledger_frontier: Arc::default(),
            group: None,
        };
        store.migrate().await?;
        // Both backends: every change appends to the evidence log, whose right edge is one row,
        // so changes commit one after another anyway; batching them shares the wait for disk.
        store.group = Some(group_commit::Committer::start(store.clone()));
        if backend == Backend::Sqlite {
            wal::spawn_checkpointer(store.pool.clone());
        }
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => inner,
            other => sqlx::Error::Migrate(Box::new(other)),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        let writer = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            _writer: writer,
            backend: self.backend,
            pending_leaves: Vec::new(),
            pending_events: Vec::new(),
            pending_tallies: Vec::new(),
            pending_rows: Vec::new(),
            pending_counts: Vec::new(),
            ledger_frontier: self.ledger_frontier.clone(),
        })
    }

    /// Runs `change` in a write transaction and commits it. Changes from concurrent callers share
    /// one transaction (group commit: one sync to disk for many writes), each inside its own
    /// savepoint so that one failing change does not undo the others; a caller gets its answer
    /// only after the commit is durable.
    pub async fn write<T, E, F>(&self, change: F) -> Result<T, E>
    where
        F: for<'t> FnOnce(&'t mut WriteTx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
    {
        match &self.group {
            Some(group) => group.submit(change).await,
            None => {
                let mut tx = self.begin_write().await?;
                let value = change(&mut tx).await?;
                tx.commit().await?;
                Ok(value)
            }
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// Placeholder number `n` of a generated statement. SQLite gets anonymous `?`: sqlx binds a named
/// `$n` by asking SQLite for each parameter's name, a linear scan, which makes binding a
/// multi-row insert of thousands of parameters quadratic (tens of milliseconds per statement).
pub fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_owned(),
        Backend::Postgres => format!("${n}"),
    }
}

/// `rows` rows of `width` placeholders for a multi-row `VALUES`: `($1, $2), ($3, $4)` for 2 × 2
/// on PostgreSQL, `(?, ?), (?, ?)` on SQLite. The statement must have no other placeholders.
pub fn value_rows(backend: Backend, rows: usize, width: usize) -> String {
    (0..rows)
        .map(|i| {
            let row: Vec<String> = (1..=width).map(|k| placeholder(backend, i * width + k)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Now as Unix milliseconds, the form every instant is stored in.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Turns a stored instant back into a time.
pub fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The name of the unique constraint a write violated, if that is why it failed; modules turn it
/// into a 422 on the matching field.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    let db = err.as_database_error()?;
    if !db.is_unique_violation() {
        return None;
    }
    // PostgreSQL names the constraint; SQLite names the columns ("UNIQUE constraint failed: t.c").
    db.constraint().map(str::to_owned).or_else(|| db.message().rsplit(": ").next().map(str::to_owned))
}
