//! Deferred inserts: rows that cannot fail on their own (no key a caller chooses, every
//! reference already written) wait in the write transaction and are written with the batch's
//! others just before `COMMIT`, many rows per statement. Under group commit each statement is a
//! round trip to the database's thread, so a batch of N changes pays one per table instead of N.
//!
//! Nothing in the same transaction may read a deferred row back before `COMMIT`.

use super::{Backend, Conn, WriteTx, value_rows};

/// A value of a deferred row.
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}

/// A row waiting: `insert` is the statement up to `VALUES` (`INSERT INTO t (a, b) VALUES`), a
/// constant whose columns the values follow.
pub struct Row {
    insert: &'static str,
    values: Vec<Value>,
}

/// Adds a row to the transaction; it is stored if and when the transaction commits.
pub fn insert(tx: &mut WriteTx, insert: &'static str, values: Vec<Value>) {
    tx.push_deferred(Row { insert, values });
}

/// Parameters per statement, well under either backend's limit.
const PARAMETERS_PER_STATEMENT: usize = 8000;

/// Writes the rows, one statement per table (per chunk), tables in the order first used.
pub(super) async fn flush(conn: &mut Conn, rows: Vec<Row>) -> Result<(), sqlx::Error> {
    let mut tables: Vec<(&'static str, Vec<Vec<Value>>)> = Vec::new();
    for row in rows {
        match tables.iter_mut().find(|(insert, _)| *insert == row.insert) {
            Some((_, pending)) => pending.push(row.values),
            None => tables.push((row.insert, vec![row.values])),
        }
    }
    let backend = Backend::of(conn);
    for (insert, rows) in tables {
        let width = rows.first().map_or(1, Vec::len).max(1);
        for chunk in rows.chunks((PARAMETERS_PER_STATEMENT / width).max(1)) {
            let sql = format!("{insert} {}", value_rows(backend, chunk.len(), width));
            // Only placeholders are spliced in after the constant statement; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for value in chunk.iter().flatten() {
                query = match value {
                    Value::Int(v) => query.bind(*v),
                    Value::Text(v) => query.bind(v.as_deref()),
                };
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(())
}
