//! Events out: the outbox forwarded to NATS JetStream, so other systems (a city's data platform,
//! a district's own yiwang, cross-city 通办 partners) learn of every domain change.
//!
//! A recurring job takes the oldest unpublished outbox rows in id order, publishes each on
//! `<prefix><topic>` with `Nats-Msg-Id` = the row id, waits for every acknowledgement and only then
//! stamps the rows published. A crash between the acknowledgement and the stamp publishes the rows
//! again on the next run; JetStream drops a message whose id it saw within the stream's duplicate
//! window, so the stream holds each event once (at-least-once delivery made exactly-once into the
//! stream). When the server is down the job fails and is retried; rows wait in the outbox.
//!
//! On PostgreSQL one node publishes at a time (a transaction-scoped advisory lock), so nodes do not
//! interleave batches; on SQLite a single writer runs the jobs. A transaction that commits after a
//! later-numbered one was published is published in the next run, after it: the stream is in outbox
//! order per run, not across runs.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, message::PublishMessage, stream};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::config::NatsConfig;
use crate::store::outbox::{self, OutboxEvent};
use crate::store::{Backend, Conn, Store, now_ms};

/// Rows read, published and stamped together.
const BATCH: i64 = 500;
/// A run stops taking new batches after this long, well inside the job lease and the duplicate
/// window, and the next run goes on.
const RUN_BUDGET: Duration = Duration::from_secs(20);
/// How long JetStream remembers a message id: a re-publish after a crash within it is dropped.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Connecting, stream requests and each acknowledgement give up after this long.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The PostgreSQL advisory-lock key held by the node that is publishing ("yiwang" + 1).
const PUBLISH_LOCK: i64 = 0x7969_7761_6e67_0001;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("cannot read the NATS credentials file: {0}")]
    Credentials(std::io::Error),
    #[error("cannot find or create the JetStream stream {stream}: {message}")]
    Stream { stream: String, message: String },
    #[error("publishing outbox event {id} failed: {message}")]
    Publish { id: i64, message: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// Publishes the outbox of one node; keeps its connection between runs.
pub struct Publisher {
    settings: NatsConfig,
    /// The JetStream context once connected and the stream is known to exist; cleared after a
    /// failed publish so the next run checks the stream again.
    context: Mutex<Option<jetstream::Context>>,
}

impl Publisher {
    pub fn new(settings: NatsConfig) -> Self {
        Publisher { settings, context: Mutex::new(None) }
    }

    /// Publishes unpublished events until none is left or the run's time is up; returns how many
    /// were acknowledged (0 when another node holds the publishing lock).
    pub async fn publish_pending(&self, store: &Store) -> Result<usize, PublishError> {
        let context = self.context().await?;
        let started = Instant::now();
        let mut published = 0;
        let outcome = match store.backend() {
            Backend::Postgres => {
                let mut tx = store.begin_write().await?;
                let locked: i64 =
                    sqlx::query_scalar("SELECT CASE WHEN pg_try_advisory_xact_lock($1) THEN 1 ELSE 0 END")
                        .bind(PUBLISH_LOCK)
                        .fetch_one(&mut *tx)
                        .await?;
                if locked == 0 {
                    return Ok(0);
                }
                let outcome = self.run_batches(&context, &mut tx, started, &mut published).await;
                // Rows acknowledged before a failure are stamped all the same.
                tx.commit().await?;
                outcome
            }
            Backend::Sqlite => {
                let mut conn = store.pool().acquire().await?;
                loop {
                    let events = outbox::pending(&mut conn, BATCH).await?;
                    let (acked, outcome) = self.send(&context, &events).await;
                    if !acked.is_empty() {
                        let mut tx = store.begin_write().await?;
                        outbox::mark_published(&mut tx, &acked, now_ms()).await?;
                        tx.commit().await?;
                        published += acked.len();
                    }
                    if outcome.is_err() || (events.len() as i64) < BATCH || started.elapsed() > RUN_BUDGET {
                        break outcome;
                    }
                }
            }
        };
        if outcome.is_err() {
            *self.context.lock().await = None;
        }
        outcome?;
        let mut conn = store.pool().acquire().await?;
        metrics::gauge!("yiwang_outbox_backlog").set(outbox::backlog(&mut conn).await? as f64);
        Ok(published)
    }

    /// PostgreSQL: batches in the transaction that holds the publishing lock.
    async fn run_batches(
        &self,
        context: &jetstream::Context,
        tx: &mut Conn,
        started: Instant,
        published: &mut usize,
    ) -> Result<(), PublishError> {
        loop {
            let events = outbox::pending(tx, BATCH).await?;
            let (acked, outcome) = self.send(context, &events).await;
            outbox::mark_published(tx, &acked, now_ms()).await?;
            *published += acked.len();
            if outcome.is_err() || (events.len() as i64) < BATCH || started.elapsed() > RUN_BUDGET {
                return outcome;
            }
        }
    }

    /// Sends the batch in order, then awaits the acknowledgements; returns the ids acknowledged,
    /// in order up to the first failure, and that failure.
    async fn send(&self, context: &jetstream::Context, events: &[OutboxEvent]) -> (Vec<i64>, Result<(), PublishError>) {
        let mut pending_acks = Vec::with_capacity(events.len());
        let mut outcome = Ok(());
        for event in events {
            let message =
                PublishMessage::build().payload(event.payload.clone().into()).message_id(event.id.to_string());
            match context.send_publish(self.settings.subject(&event.topic), message).await {
                Ok(ack) => pending_acks.push((event.id, ack)),
                Err(e) => {
                    outcome = Err(PublishError::Publish { id: event.id, message: e.to_string() });
                    break;
                }
            }
        }
        let mut acked = Vec::with_capacity(pending_acks.len());
        let mut duplicates = 0u64;
        for (id, ack) in pending_acks {
            match ack.await {
                Ok(ack) => {
                    duplicates += u64::from(ack.duplicate);
                    acked.push(id);
                }
                Err(e) => {
                    outcome = Err(PublishError::Publish { id, message: e.to_string() });
                    break;
                }
            }
        }
        if duplicates > 0 {
            tracing::info!(
                duplicates,
                "JetStream dropped outbox events it already had (published again after a crash)"
            );
        }
        metrics::counter!("yiwang_outbox_published_total").increment(acked.len() as u64 - duplicates);
        (acked, outcome)
    }

    /// The connected context, connecting and creating the stream when needed.
    async fn context(&self) -> Result<jetstream::Context, PublishError> {
        let mut slot = self.context.lock().await;
        if let Some(context) = slot.as_ref() {
            return Ok(context.clone());
        }
        let settings = &self.settings;
        let mut options = async_nats::ConnectOptions::new().name("yiwang").connection_timeout(TIMEOUT);
        if let Some(token) = &settings.token {
            options = options.token(token.expose_secret().to_owned());
        }
        if let Some(path) = &settings.credentials_file {
            options = options.credentials_file(path).await.map_err(PublishError::Credentials)?;
        }
        let servers: Vec<&str> = settings.url.split(',').map(str::trim).collect();
        let client = options
            .connect(servers.as_slice())
            .await
            .map_err(|e| PublishError::Connect { url: settings.url.clone(), message: e.to_string() })?;
        let context = jetstream::ContextBuilder::new().timeout(TIMEOUT).build(client);
        let config = stream::Config {
            name: settings.stream.clone(),
            subjects: vec![format!("{}>", settings.subject_prefix)],
            storage: stream::StorageType::File,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        };
        context
            .get_or_create_stream(config)
            .await
            .map_err(|e| PublishError::Stream { stream: settings.stream.clone(), message: e.to_string() })?;
        *slot = Some(context.clone());
        Ok(context)
    }
}
