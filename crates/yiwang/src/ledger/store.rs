//! SQL for the evidence log's tables.

use yiwang_ledger::tree::{NodeSource, root_plan};
use yiwang_ledger::{Hash, NodeId};

use super::{Frontier, PendingLeaf};
use crate::store::{Backend, Conn, placeholder, value_rows};

/// Rows per multi-row INSERT; keeps the bound parameters under SQLite's limit.
const ROWS_PER_INSERT: usize = 500;

pub async fn size(conn: &mut Conn) -> Result<u64, sqlx::Error> {
    let size: i64 = sqlx::query_scalar("SELECT size FROM ledger_state WHERE id = 1").fetch_one(conn).await?;
    Ok(size as u64)
}

/// The log's size and the stored hashes of `ids`, read in one statement that returns one row:
/// a proof is then a single round trip to the database however many nodes it needs.
pub async fn size_and_nodes(
    conn: &mut Conn,
    backend: Backend,
    ids: &[NodeId],
) -> Result<(u64, std::collections::HashMap<NodeId, Hash>), sqlx::Error> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    let mut size = 0;
    // Chunks keep the parameter count bounded; plans are at most ~130 nodes, so one chunk.
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let pairs: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!("(level = {} AND idx = {})", placeholder(backend, 2 * i + 1), placeholder(backend, 2 * i + 2))
            })
            .collect();
        let filter = if pairs.is_empty() { "FALSE".to_owned() } else { pairs.join(" OR ") };
        let aggregate = match backend {
            Backend::Sqlite => "group_concat(level || ':' || idx || ':' || hex(hash), ',')",
            Backend::Postgres => "string_agg(level || ':' || idx || ':' || encode(hash, 'hex'), ',')",
        };
        let sql = format!(
            "SELECT (SELECT size FROM ledger_state WHERE id = 1), (SELECT {aggregate} FROM ledger_nodes WHERE {filter})"
        );
        let mut query = sqlx::query_as::<_, (i64, Option<String>)>(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(i64::from(id.level)).bind(id.index as i64);
        }
        let (stored_size, packed) = query.fetch_one(&mut *conn).await?;
        size = stored_size as u64;
        for item in packed.as_deref().unwrap_or_default().split(',').filter(|i| !i.is_empty()) {
            let (id, hash) = parse_packed(item).ok_or_else(|| sqlx::Error::Protocol(format!("bad node row {item}")))?;
            found.insert(id, hash);
        }
    }
    Ok((size, found))
}

fn parse_packed(item: &str) -> Option<(NodeId, Hash)> {
    let mut parts = item.splitn(3, ':');
    let level: u8 = parts.next()?.parse().ok()?;
    let index: u64 = parts.next()?.parse().ok()?;
    let hash: Hash = parts.next()?.to_ascii_lowercase().parse().ok()?;
    Some((NodeId::new(level, index), hash))
}

pub async fn frontier(conn: &mut Conn, backend: Backend, size: u64) -> Result<Frontier, sqlx::Error> {
    let ids = root_plan(size);
    let (_, found) = size_and_nodes(conn, backend, &ids).await?;
    let mut nodes = std::collections::BTreeMap::new();
    for id in ids {
        let hash = found.node(id).ok_or_else(|| missing(id))?;
        nodes.insert(id, hash);
    }
    Ok(Frontier::from_parts(size, nodes))
}

pub fn missing(id: NodeId) -> sqlx::Error {
    sqlx::Error::Protocol(format!("evidence log node {id} is missing"))
}

/// Writes the pending leaves at the end of the log, with every perfect subtree they complete,
/// and returns the new right edge. Runs inside the committing transaction; on PostgreSQL the
/// state row is locked so concurrent committers append one after another.
pub async fn flush(
    conn: &mut Conn,
    backend: Backend,
    cached: Option<Frontier>,
    leaves: &[PendingLeaf],
) -> Result<Frontier, sqlx::Error> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    let size: i64 =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT size FROM ledger_state WHERE id = 1{lock}")))
            .fetch_one(&mut *conn)
            .await?;
    let size = size as u64;
    let mut frontier = match cached {
        Some(f) if f.size() == size => f,
        _ => frontier(conn, backend, size).await?,
    };
    let first = size;
    let mut node_rows: Vec<(NodeId, Hash)> = Vec::with_capacity(leaves.len() * 2);
    for leaf in leaves {
        node_rows.extend(frontier.append(leaf.leaf_hash).map_err(|e| sqlx::Error::Protocol(e.to_string()))?);
    }
    for (n, chunk) in leaves.chunks(ROWS_PER_INSERT).enumerate() {
        let sql = format!(
            "INSERT INTO ledger_leaves (idx, kind, subject, at_ms, data) VALUES {}",
            value_rows(backend, chunk.len(), 5)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (i, leaf) in chunk.iter().enumerate() {
            let idx = first + (n * ROWS_PER_INSERT + i) as u64;
            query = query.bind(idx as i64).bind(&leaf.kind).bind(&leaf.subject).bind(leaf.at_ms).bind(&leaf.data);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in node_rows.chunks(ROWS_PER_INSERT) {
        let sql = format!("INSERT INTO ledger_nodes (level, idx, hash) VALUES {}", value_rows(backend, chunk.len(), 3));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, hash) in chunk {
            query = query.bind(i64::from(id.level)).bind(id.index as i64).bind(hash.as_bytes().to_vec());
        }
        query.execute(&mut *conn).await?;
    }
    sqlx::query("UPDATE ledger_state SET size = $1 WHERE id = 1")
        .bind(frontier.size() as i64)
        .execute(&mut *conn)
        .await?;
    Ok(frontier)
}

/// (kind, subject, at, data, stored leaf hash)
pub type LeafRow = (String, String, i64, Vec<u8>, Option<Vec<u8>>);

pub async fn leaf(conn: &mut Conn, index: u64) -> Result<Option<LeafRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.kind, l.subject, l.at_ms, l.data, n.hash
         FROM ledger_leaves l LEFT JOIN ledger_nodes n ON n.level = 0 AND n.idx = l.idx WHERE l.idx = $1",
    )
    .bind(index as i64)
    .fetch_optional(conn)
    .await
}

/// The stored hashes of nodes `range` at `level`, by index: one range scan of the primary key.
pub async fn nodes_in_range(
    conn: &mut Conn,
    level: u8,
    range: std::ops::Range<u64>,
) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT idx, hash FROM ledger_nodes WHERE level = $1 AND idx >= $2 AND idx < $3 ORDER BY idx")
        .bind(i64::from(level))
        .bind(range.start as i64)
        .bind(range.end as i64)
        .fetch_all(conn)
        .await
}

/// The encoded leaves `range`, by index.
pub async fn leaf_data(conn: &mut Conn, range: std::ops::Range<u64>) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as("SELECT idx, data FROM ledger_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx")
        .bind(range.start as i64)
        .bind(range.end as i64)
        .fetch_all(conn)
        .await
}

/// Indexes of the leaves about `subject`, oldest first.
pub async fn leaves_about(conn: &mut Conn, subject: &str, limit: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT idx FROM ledger_leaves WHERE subject = $1 ORDER BY idx LIMIT $2")
        .bind(subject)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// (size, root, note)
pub type CheckpointRow = (i64, Vec<u8>, String);

pub async fn latest_checkpoint(conn: &mut Conn) -> Result<Option<CheckpointRow>, sqlx::Error> {
    sqlx::query_as("SELECT size, root, note FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
        .fetch_optional(conn)
        .await
}

pub async fn all_checkpoints(conn: &mut Conn) -> Result<Vec<CheckpointRow>, sqlx::Error> {
    sqlx::query_as("SELECT size, root, note FROM ledger_checkpoints ORDER BY size").fetch_all(conn).await
}

pub async fn insert_checkpoint(
    conn: &mut Conn,
    size: u64,
    root: &Hash,
    note: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO ledger_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING",
    )
    .bind(size as i64)
    .bind(root.as_bytes().to_vec())
    .bind(note)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
