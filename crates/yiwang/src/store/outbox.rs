//! The transactional outbox: a domain change writes its event here in the same transaction, so an
//! event exists exactly when its change does. A publisher (NATS JetStream, when configured) forwards
//! rows and stamps `published_at`.

use serde::Serialize;

use super::{Conn, now_ms};

pub async fn append(conn: &mut Conn, topic: &str, payload: &impl Serialize) -> Result<i64, sqlx::Error> {
    let payload = serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_scalar("INSERT INTO outbox (topic, payload, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(topic)
        .bind(payload)
        .bind(now_ms())
        .fetch_one(conn)
        .await
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: i64,
    pub topic: String,
    pub payload: serde_json::Value,
}

/// Events not yet published, oldest first.
pub async fn pending(conn: &mut Conn, limit: i64) -> Result<Vec<OutboxEvent>, sqlx::Error> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, topic, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(conn)
            .await?;
    rows.into_iter()
        .map(|(id, topic, payload)| {
            let payload = serde_json::from_str(&payload).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok(OutboxEvent { id, topic, payload })
        })
        .collect()
}
