//! The transactional outbox: a domain change writes its event here in the same transaction, so an
//! event exists exactly when its change does. A publisher (NATS JetStream, when configured; see
//! `crate::events`) forwards rows and stamps `published_at`; published rows are deleted after a
//! retention period, unpublished ones never.

use serde::Serialize;

use super::{Backend, Conn, WriteTx, now_ms, value_rows};

/// An event waiting in its transaction; written with the others just before `COMMIT`.
pub struct PendingEvent {
    topic: String,
    payload: String,
    at_ms: i64,
}

/// Adds an event to the transaction; it is stored if and when the transaction commits.
pub fn append(tx: &mut WriteTx, topic: &str, payload: &impl Serialize) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    tx.push_event(PendingEvent { topic: topic.to_owned(), payload, at_ms: now_ms() });
    Ok(())
}

/// Rows per statement: three parameters each, well under either backend's limit.
const ROWS_PER_INSERT: usize = 1000;

/// Writes a transaction's events, many rows per statement.
pub(super) async fn insert(conn: &mut Conn, events: &[PendingEvent]) -> Result<(), sqlx::Error> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO outbox (topic, payload, created_at) VALUES {}",
            value_rows(Backend::of(conn), chunk.len(), 3)
        );
        // Only placeholders are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for event in chunk {
            query = query.bind(&event.topic).bind(&event.payload).bind(event.at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// An event as stored: its payload is the JSON text written by [`append`], forwarded as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub topic: String,
    pub payload: String,
}

/// Events not yet published, oldest first.
pub async fn pending(conn: &mut Conn, limit: i64) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id, topic, payload)| OutboxEvent { id, topic, payload }).collect())
}

/// Stamps these events published at `at_ms`. Called only after the broker acknowledged them.
pub async fn mark_published(conn: &mut Conn, ids: &[i64], at_ms: i64) -> Result<(), sqlx::Error> {
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!("UPDATE outbox SET published_at = $1 WHERE id IN ({})", placeholders.join(", "));
        // Only placeholders are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at_ms);
        for id in chunk {
            query = query.bind(id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// How many events wait to be published.
pub async fn backlog(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").fetch_one(conn).await
}

/// Deletes events published before `before_ms`; unpublished events are never deleted.
pub async fn purge_published(conn: &mut Conn, before_ms: i64) -> Result<u64, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < $1")
        .bind(before_ms)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(deleted)
}
