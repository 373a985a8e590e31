//! The service catalogue (一网通办's front door): service items (事项) with the national standard
//! elements of GB/T 39046-2020, stored as published versions, each publication in the evidence log.
//!
//! Errors are [`CatalogError`]; `http::error` maps them.

pub mod api;
pub mod csv;
pub mod draft_api;
pub mod drafts;
pub mod editor;
pub mod model;
pub mod pages;
pub mod search;
mod store;

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::identity;
use crate::ledger;
use crate::store::{Store, WriteTx, now_ms, outbox, unique_violation};
use model::{FieldProblem, ItemDocument};

/// The demo catalogue shipped with the binary: 203 items across the demo departments.
pub const DEMO_CATALOGUE: &str = include_str!("../../demo/catalogue.json");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("item {index}: {problem:?}")]
    Invalid { index: usize, problem: FieldProblem },
    #[error("{0} is already in the catalogue")]
    Duplicate(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("malformed catalogue: {0}")]
    Malformed(String),
    #[error("{0}")]
    Search(String),
    #[error("the item was published (version {published:?}) after the draft was opened from {draft_base:?}")]
    Stale { draft_base: Option<i64>, published: Option<i64> },
    #[error(transparent)]
    Ledger(#[from] ledger::LedgerError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

#[derive(Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PublishReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

fn parse_document(document: &str) -> Result<ItemDocument, CatalogError> {
    serde_json::from_str(document).map_err(|e| CatalogError::Malformed(e.to_string()))
}

/// Publishes items in the caller's transaction: a new item gets version 1, a changed one its next
/// version, an identical one nothing. All items are checked first, so an invalid item (named by
/// its index and field) publishes none. `allowed` decides, by department code, whether `by` may
/// publish for that department. Each new version writes an outbox event and an evidence leaf.
pub async fn publish(
    tx: &mut WriteTx,
    items: &[ItemDocument],
    by: Option<i64>,
    allowed: impl Fn(&str) -> bool,
) -> Result<PublishReport, CatalogError> {
    let mut departments: HashMap<String, i64> = HashMap::new();
    for item in items {
        if !departments.contains_key(&item.department_code)
            && let Some(id) = identity::department_id(tx, &item.department_code).await?
        {
            departments.insert(item.department_code.clone(), id);
        }
    }
    let known: HashSet<&str> = departments.keys().map(String::as_str).collect();
    let mut codes = HashSet::new();
    for (index, item) in items.iter().enumerate() {
        if let Some(problem) = item.validate(&known).into_iter().next() {
            return Err(CatalogError::Invalid { index, problem });
        }
        if !codes.insert(item.implementation_code.as_str()) {
            let problem = FieldProblem {
                field: "implementation_code".into(),
                message: "文件中重复 / repeated in the file".into(),
            };
            return Err(CatalogError::Invalid { index, problem });
        }
        if !allowed(&item.department_code) {
            return Err(CatalogError::Forbidden);
        }
    }
    let now = now_ms();
    let mut report = PublishReport::default();
    for item in items {
        let row = || store::NewItemRow {
            implementation_code: &item.implementation_code,
            basic_code: &item.basic_code,
            name: &item.name,
            item_type: &item.item_type,
            department_id: departments[&item.department_code],
        };
        let version = match store::current(tx, &item.implementation_code).await? {
            Some((_, _, stored)) if parse_document(&stored)? == *item => {
                report.unchanged += 1;
                continue;
            }
            Some((id, version, _)) => {
                store::set_published(tx, id, row(), version + 1, now).await?;
                report.updated += 1;
                (id, version + 1)
            }
            None => {
                let id = store::insert_item(tx, row(), now).await.map_err(|e| match unique_violation(&e) {
                    Some(_) => CatalogError::Duplicate(item.implementation_code.clone()),
                    None => CatalogError::Db(e),
                })?;
                report.created += 1;
                (id, 1)
            }
        };
        let document = serde_json::to_string(item).map_err(|e| CatalogError::Malformed(e.to_string()))?;
        store::insert_version(tx, version.0, version.1, &document, by, now).await?;
        let event =
            serde_json::json!({"implementation_code": item.implementation_code, "version": version.1, "by": by});
        outbox::append(tx, "catalog.item_published", &event)?;
        ledger::append(
            tx,
            ledger::Entry {
                kind: "catalog.item_published",
                subject: format!("item:{}", item.implementation_code),
                actor: ledger::actor(by),
                payload: document.as_bytes(),
            },
        )?;
    }
    Ok(report)
}

/// The whole published catalogue, as import takes it back.
pub async fn export(store: &Store) -> Result<Vec<ItemDocument>, CatalogError> {
    let mut conn = store.pool().acquire().await?;
    store::all_published(&mut conn).await?.iter().map(|d| parse_document(d)).collect()
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    pub version: i64,
    /// Login of the publisher; none for the demo loader or the command line.
    pub published_by: Option<String>,
    pub published_at: chrono::DateTime<chrono::Utc>,
}

pub async fn versions(store: &Store, implementation_code: &str) -> Result<Vec<VersionInfo>, CatalogError> {
    let mut conn = store.pool().acquire().await?;
    let rows = store::versions(&mut conn, implementation_code).await?;
    if rows.is_empty() {
        return Err(CatalogError::NotFound);
    }
    Ok(rows
        .into_iter()
        .map(|(version, published_by, at)| VersionInfo {
            version,
            published_by,
            published_at: crate::store::from_ms(at),
        })
        .collect())
}

pub async fn version(store: &Store, implementation_code: &str, version: i64) -> Result<ItemDocument, CatalogError> {
    let mut conn = store.pool().acquire().await?;
    let document = store::version(&mut conn, implementation_code, version).await?.ok_or(CatalogError::NotFound)?;
    parse_document(&document)
}

/// Loads the demo catalogue into an empty catalogue; returns how many items it published.
pub async fn load_demo(tx: &mut WriteTx) -> Result<usize, CatalogError> {
    if store::count(tx).await? > 0 {
        return Ok(0);
    }
    let items: Vec<ItemDocument> =
        serde_json::from_str(DEMO_CATALOGUE).map_err(|e| CatalogError::Malformed(e.to_string()))?;
    Ok(publish(tx, &items, None, |_| true).await?.created)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemSummary {
    pub implementation_code: String,
    pub name: String,
    /// Standard type code (01 行政许可 … 20 公共服务).
    pub item_type: String,
    pub department_code: String,
    pub department_name: String,
}

pub async fn summaries(
    store: &Store,
    department: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ItemSummary>, CatalogError> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::summaries(&mut conn, department, limit, offset)
        .await?
        .into_iter()
        .map(|(implementation_code, name, item_type, department_code, department_name)| ItemSummary {
            implementation_code,
            name,
            item_type,
            department_code,
            department_name,
        })
        .collect())
}

/// The published version of an item: its document and version number.
pub async fn published(store: &Store, implementation_code: &str) -> Result<(ItemDocument, i64), CatalogError> {
    let mut conn = store.pool().acquire().await?;
    let (document, version) = store::published(&mut conn, implementation_code).await?.ok_or(CatalogError::NotFound)?;
    Ok((parse_document(&document)?, version))
}

/// (code, name) of every department, by code.
pub async fn department_names(store: &Store) -> Result<Vec<(String, String)>, CatalogError> {
    Ok(store::department_names(&mut *store.pool().acquire().await?).await?)
}

/// Every published version of an item, newest first, each with the elements it changed from
/// the version before (all of them for version 1).
pub async fn history(
    store: &Store,
    implementation_code: &str,
) -> Result<Vec<(VersionInfo, Vec<String>)>, CatalogError> {
    let rows = store::versions_with_documents(&mut *store.pool().acquire().await?, implementation_code).await?;
    if rows.is_empty() {
        return Err(CatalogError::NotFound);
    }
    let documents: Vec<serde_json::Value> = rows
        .iter()
        .map(|(_, _, _, d)| serde_json::from_str(d).map_err(|e| CatalogError::Malformed(e.to_string())))
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, (version, published_by, at, _))| {
            let changed = match (&documents[i], documents.get(i + 1)) {
                (serde_json::Value::Object(this), Some(serde_json::Value::Object(before))) => {
                    this.iter().filter(|(k, v)| before.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect()
                }
                (serde_json::Value::Object(this), _) => this.keys().cloned().collect(),
                _ => Vec::new(),
            };
            (VersionInfo { version, published_by, published_at: crate::store::from_ms(at) }, changed)
        })
        .collect())
}
