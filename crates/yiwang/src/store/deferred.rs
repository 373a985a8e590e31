//! Deferred inserts: rows that cannot fail on their own (no key a caller chooses, every
//! reference already written) wait in the write transaction and are written with the batch's
//! others just before `COMMIT`, many rows per statement. Under group commit each statement is a
//! round trip to the database's thread, so a batch of N changes pays one per table instead of N.
//!
//! Counters ([`count`]) wait the same way and are summed per row first.
//!
//! Nothing in the same transaction may read a deferred row back before `COMMIT`.

use std::collections::BTreeMap;

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

/// A table of counters: rows keyed by integer columns whose count columns only ever grow by
/// what transactions add.
pub struct Counters {
    pub table: &'static str,
    pub keys: &'static [&'static str],
    pub counts: &'static [&'static str],
}

/// Counts waiting: `table` gains `counts` at `key` when the transaction commits.
pub struct Count {
    table: &'static Counters,
    key: Vec<i64>,
    counts: Vec<i64>,
}

/// Adds to a counter row in the transaction. The batch's additions are summed per row and written
/// in key order just before `COMMIT`, so a busy row is locked for the shortest time and always
/// after the same others (PostgreSQL).
pub fn count(tx: &mut WriteTx, table: &'static Counters, key: Vec<i64>, counts: Vec<i64>) {
    tx.push_count(Count { table, key, counts });
}

/// Counts by key, keys in order.
type Summed = BTreeMap<Vec<i64>, Vec<i64>>;

pub(super) async fn flush_counts(conn: &mut Conn, counts: Vec<Count>) -> Result<(), sqlx::Error> {
    let mut tables: Vec<(&'static Counters, Summed)> = Vec::new();
    for Count { table, key, counts } in counts {
        let summed = match tables.iter_mut().find(|(t, _)| std::ptr::eq(*t, table)) {
            Some((_, summed)) => summed,
            None => {
                tables.push((table, BTreeMap::new()));
                &mut tables.last_mut().expect("just pushed").1
            }
        };
        let total = summed.entry(key).or_insert_with(|| vec![0; counts.len()]);
        total.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
    }
    let backend = Backend::of(conn);
    for (table, rows) in tables {
        let width = table.keys.len() + table.counts.len();
        let rows: Vec<(Vec<i64>, Vec<i64>)> = rows.into_iter().collect();
        let added: Vec<String> =
            table.counts.iter().map(|c| format!("{c} = {t}.{c} + excluded.{c}", t = table.table)).collect();
        for chunk in rows.chunks((PARAMETERS_PER_STATEMENT / width).max(1)) {
            let sql = format!(
                "INSERT INTO {} ({}, {}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
                table.table,
                table.keys.join(", "),
                table.counts.join(", "),
                value_rows(backend, chunk.len(), width),
                table.keys.join(", "),
                added.join(", ")
            );
            // Only constant names and placeholders are spliced in; every value is bound.
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for value in chunk.iter().flat_map(|(key, counts)| key.iter().chain(counts)) {
                query = query.bind(*value);
            }
            query.execute(&mut *conn).await?;
        }
    }
    Ok(())
}
