//! Reading a resource's rows from its attached source (挂接): an uploaded dataset, a whitelisted
//! table of yiwang's own database, or the department's HTTP endpoint. Every row comes back with
//! exactly the declared fields (undeclared ones dropped, missing ones `null`).

use std::time::Duration;

use serde_json::{Map, Value};

use super::model::{FieldType, ResourceInput, Source};
use super::store::{self, Column, RowQuery};
use super::{ExchangeError, Resource, Result};
use crate::store::Store;

/// How long a department's system may take to answer.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Fetch<'a> {
    Lookup(&'a str),
    Query { filters: &'a [(String, FieldType, String)], limit: i64, offset: i64 },
}

/// The rows asked for, and how many match in all when the source says.
pub async fn fetch(
    store: &Store,
    http: &reqwest::Client,
    resource: &Resource,
    fetch: Fetch<'_>,
) -> Result<(Vec<Map<String, Value>>, Option<i64>)> {
    match &resource.input.source {
        Source::Dataset => {
            let mut conn = store.pool().acquire().await?;
            match fetch {
                Fetch::Lookup(key) => {
                    let row = store::row_by_key(&mut conn, resource.row_set, key).await?;
                    Ok((row.into_iter().filter_map(|d| parse_object(&d)).collect(), None))
                }
                Fetch::Query { filters, limit, offset } => {
                    let query = RowQuery {
                        row_set: resource.row_set,
                        column: Column::Data,
                        filters,
                        q: None,
                        limit,
                        offset,
                        descending: false,
                    };
                    let (rows, total) = store::rows_page(&mut conn, store.backend(), &query).await?;
                    Ok((rows.iter().filter_map(|(_, d)| parse_object(d)).collect(), Some(total)))
                }
            }
        }
        Source::Table { table } => {
            let register = table.split_once(':').map(|(_, r)| r).unwrap_or_default();
            let mut conn = store.pool().acquire().await?;
            match fetch {
                Fetch::Lookup(key) => {
                    let row = register_record(&mut conn, register, key).await?;
                    Ok((row.map(|facts| flatten(&resource.input, key, &facts)).into_iter().collect(), None))
                }
                Fetch::Query { filters, limit, offset } => {
                    // Whitelisted registers are small; filter and page here.
                    let all: Vec<Map<String, Value>> = register_records(&mut conn, register)
                        .await?
                        .into_iter()
                        .map(|(subject, facts)| flatten(&resource.input, &subject, &facts))
                        .filter(|row| matches(row, filters))
                        .collect();
                    let total = all.len() as i64;
                    Ok((all.into_iter().skip(offset as usize).take(limit as usize).collect(), Some(total)))
                }
            }
        }
        Source::Http { url } => {
            let url = url.trim_end_matches('/');
            let request = match fetch {
                Fetch::Lookup(key) => {
                    let key: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
                    http.get(format!("{url}/{key}"))
                }
                Fetch::Query { filters, limit, offset } => {
                    let mut params: Vec<(String, String)> =
                        vec![("limit".into(), limit.to_string()), ("offset".into(), offset.to_string())];
                    params.extend(filters.iter().map(|(f, _, v)| (f.clone(), v.clone())));
                    http.get(url).query(&params)
                }
            };
            let response = request
                .timeout(HTTP_TIMEOUT)
                .send()
                .await
                .map_err(|e| ExchangeError::Upstream(e.without_url().to_string()))?;
            if response.status() == reqwest::StatusCode::NOT_FOUND {
                return Ok((Vec::new(), Some(0)));
            }
            if !response.status().is_success() {
                return Err(ExchangeError::Upstream(format!("answered {}", response.status())));
            }
            let body: Value =
                response.json().await.map_err(|e| ExchangeError::Upstream(e.without_url().to_string()))?;
            let (items, total) = match body {
                Value::Array(items) => (items, None),
                Value::Object(mut object) if object.contains_key("records") => {
                    let total = object.get("total").and_then(Value::as_i64);
                    match object.remove("records") {
                        Some(Value::Array(items)) => (items, total),
                        _ => return Err(ExchangeError::Upstream("records is not an array".into())),
                    }
                }
                object @ Value::Object(_) => (vec![object], None),
                _ => return Err(ExchangeError::Upstream("not a JSON object or array".into())),
            };
            let rows = items
                .into_iter()
                .map(|item| match item {
                    Value::Object(o) => Ok(declared(&resource.input, o)),
                    _ => Err(ExchangeError::Upstream("a record is not an object".into())),
                })
                .collect::<Result<Vec<_>>>()?;
            Ok((rows, total))
        }
    }
}

fn parse_object(text: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(o)) => Some(o),
        _ => None,
    }
}

/// Keeps the declared fields, in declared order.
fn declared(resource: &ResourceInput, mut row: Map<String, Value>) -> Map<String, Value> {
    resource.fields.iter().map(|f| (f.name.clone(), row.remove(&f.name).unwrap_or(Value::Null))).collect()
}

fn matches(row: &Map<String, Value>, filters: &[(String, FieldType, String)]) -> bool {
    filters.iter().all(|(field, _, wanted)| match row.get(field) {
        Some(Value::String(s)) => s == wanted,
        Some(Value::Null) | None => false,
        Some(other) => wanted.as_str() == other.to_string().as_str(),
    })
}

/// A base-register record as a row: the subject under the key field, and the facts flattened
/// one level (`{"fund_account": {"status": …}}` gives `fund_account_status`).
fn flatten(resource: &ResourceInput, subject: &str, facts: &str) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert(resource.key_field.clone(), Value::String(subject.to_owned()));
    if let Ok(Value::Object(facts)) = serde_json::from_str::<Value>(facts) {
        for (k, v) in facts {
            match v {
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        row.insert(format!("{k}_{ik}"), iv);
                    }
                }
                other => {
                    row.insert(k, other);
                }
            }
        }
    }
    declared(resource, row)
}

// The base registers (`register_records`) belong to instant approval; this read-only access is
// the catalogue's whitelisted table attachment, the one place the exchange reads another
// module's table.

async fn register_record(conn: &mut crate::store::Conn, register: &str, subject: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT facts FROM register_records WHERE register = $1 AND subject = $2")
        .bind(register)
        .bind(subject)
        .fetch_optional(conn)
        .await?)
}

async fn register_records(conn: &mut crate::store::Conn, register: &str) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as("SELECT subject, facts FROM register_records WHERE register = $1 ORDER BY subject")
        .bind(register)
        .fetch_all(conn)
        .await?)
}
