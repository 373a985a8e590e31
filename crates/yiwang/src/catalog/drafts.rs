//! Drafts (草稿): staff of the implementing department (事项管理员) or a platform admin over it
//! edit an item in a draft, which residents do not see, and publish it as the item's next version.
//! A draft remembers the version it started from; publishing a draft whose item was published
//! meanwhile by someone else is refused, so nobody overwrites a change unseen.

use std::collections::HashSet;

use serde::Serialize;

use super::model::{FieldProblem, ItemDocument};
use super::{CatalogError, PublishReport, parse_document, publish, store as sql};
use crate::identity::{self, Principal, Role};
use crate::store::{Store, from_ms, now_ms};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Draft {
    /// The item document being edited (every GB/T 39046 element).
    #[schema(value_type = Object)]
    pub item: ItemDocument,
    /// The published version the draft started from; none for a new item.
    pub based_on_version: Option<i64>,
    /// Login of the last editor.
    pub updated_by: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// What must be fixed before the draft can be published; empty when it is ready.
    pub problems: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl From<FieldProblem> for Problem {
    fn from(p: FieldProblem) -> Self {
        Problem { field: p.field, message: p.message }
    }
}

/// The department codes whose items `actor` may edit: their own department as catalogue
/// editor, and every department a platform-admin grant of theirs reaches.
pub async fn editable_departments(store: &Store, actor: &Principal) -> Result<HashSet<String>, CatalogError> {
    let mut departments = identity::departments_reached(store, actor, Role::PlatformAdmin).await?;
    departments.extend(identity::departments_held(store, actor, Role::CatalogEditor).await?);
    Ok(departments)
}

async fn known_departments(store: &Store) -> Result<HashSet<String>, CatalogError> {
    let mut conn = store.pool().acquire().await?;
    Ok(sql::department_names(&mut conn).await?.into_iter().map(|(code, _)| code).collect())
}

fn content<'a>(item: &'a ItemDocument, document: &'a str) -> sql::DraftContent<'a> {
    sql::DraftContent { name: &item.name, department_code: &item.department_code, document }
}

async fn problems(store: &Store, item: &ItemDocument) -> Result<Vec<Problem>, CatalogError> {
    let known = known_departments(store).await?;
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    Ok(item.validate(&known).into_iter().map(Problem::from).collect())
}

async fn load(store: &Store, code: &str) -> Result<Option<Draft>, CatalogError> {
    let row = sql::draft(&mut *store.pool().acquire().await?, code).await?;
    let Some(row) = row else { return Ok(None) };
    let item = parse_document(&row.document)?;
    let problems = problems(store, &item).await?;
    Ok(Some(Draft {
        item,
        based_on_version: row.based_on_version,
        updated_by: row.updated_by,
        updated_at: from_ms(row.updated_at),
        problems,
    }))
}

fn check_allowed(allowed: &HashSet<String>, department_code: &str) -> Result<(), CatalogError> {
    if allowed.contains(department_code) { Ok(()) } else { Err(CatalogError::Forbidden) }
}

/// A draft the actor may see: of a department they may edit. Others get `NotFound`, so drafts
/// of other departments do not show that they exist.
pub async fn get(store: &Store, actor: &Principal, code: &str) -> Result<Draft, CatalogError> {
    let allowed = editable_departments(store, actor).await?;
    match load(store, code).await? {
        Some(draft) if allowed.contains(&draft.item.department_code) => Ok(draft),
        _ => Err(CatalogError::NotFound),
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DraftSummary {
    pub implementation_code: String,
    pub name: String,
    pub department_code: String,
    pub based_on_version: Option<i64>,
    pub updated_by: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The drafts of the departments the actor may edit, most recently changed first.
pub async fn list(store: &Store, actor: &Principal) -> Result<Vec<DraftSummary>, CatalogError> {
    let allowed = editable_departments(store, actor).await?;
    let rows = sql::drafts(&mut *store.pool().acquire().await?).await?;
    Ok(rows
        .into_iter()
        .filter(|r| allowed.contains(&r.department_code))
        .map(|r| DraftSummary {
            implementation_code: r.implementation_code,
            name: r.name,
            department_code: r.department_code,
            based_on_version: r.based_on_version,
            updated_by: r.updated_by,
            updated_at: from_ms(r.updated_at),
        })
        .collect())
}

/// Opens a draft of a published item (its current document), or returns the draft already open.
pub async fn open(store: &Store, actor: &Principal, code: &str) -> Result<Draft, CatalogError> {
    let allowed = editable_departments(store, actor).await?;
    if let Some(draft) = load(store, code).await? {
        check_allowed(&allowed, &draft.item.department_code)?;
        return Ok(draft);
    }
    let (item, version) = super::published(store, code).await?;
    check_allowed(&allowed, &item.department_code)?;
    let mut tx = store.begin_write().await?;
    let document = serde_json::to_string(&item).map_err(|e| CatalogError::Malformed(e.to_string()))?;
    sql::insert_draft(&mut tx, code, content(&item, &document), Some(version), actor.account_id, now_ms()).await?;
    tx.commit().await?;
    load(store, code).await?.ok_or(CatalogError::NotFound)
}

/// Saves a draft: a new item's first draft, or the edited document of an open draft. The
/// document may still break rules (they are listed in the draft), but its code stays, and its
/// department must be one the actor may edit.
pub async fn save(store: &Store, actor: &Principal, code: &str, item: ItemDocument) -> Result<Draft, CatalogError> {
    if item.implementation_code != code {
        return Err(CatalogError::Invalid {
            index: 0,
            problem: FieldProblem {
                field: "implementation_code".into(),
                message: "草稿的实施编码不能修改 / a draft keeps its implementation code".into(),
            },
        });
    }
    let allowed = editable_departments(store, actor).await?;
    check_allowed(&allowed, &item.department_code)?;
    let document = serde_json::to_string(&item).map_err(|e| CatalogError::Malformed(e.to_string()))?;
    let mut tx = store.begin_write().await?;
    match sql::draft(&mut tx, code).await? {
        Some(existing) => {
            check_allowed(&allowed, &existing.department_code)?;
            sql::update_draft(&mut tx, code, content(&item, &document), actor.account_id, now_ms()).await?;
        }
        None => {
            if sql::current(&mut tx, code).await?.is_some() {
                // A published item is edited by opening a draft of it first, so the draft knows
                // the version it changes.
                return Err(CatalogError::Duplicate(code.to_owned()));
            }
            sql::insert_draft(&mut tx, code, content(&item, &document), None, actor.account_id, now_ms()).await?;
        }
    }
    tx.commit().await?;
    load(store, code).await?.ok_or(CatalogError::NotFound)
}

/// Discards a draft; the published item, if any, is unchanged.
pub async fn discard(store: &Store, actor: &Principal, code: &str) -> Result<(), CatalogError> {
    let draft = get(store, actor, code).await?;
    let mut tx = store.begin_write().await?;
    sql::delete_draft(&mut tx, &draft.item.implementation_code).await?;
    tx.commit().await?;
    Ok(())
}

/// Publishes a draft as the item's next version (or version 1) and closes it. Refused with
/// `Invalid` while a rule is broken, and with `Stale` when the item was published meanwhile.
pub async fn publish_draft(store: &Store, actor: &Principal, code: &str) -> Result<PublishReport, CatalogError> {
    let allowed = editable_departments(store, actor).await?;
    let (by, code) = (actor.account_id, code.to_owned());
    store
        .write(move |tx| {
            Box::pin(async move {
                let code = code.as_str();
                let row = sql::draft(tx, code).await?.ok_or(CatalogError::NotFound)?;
                if !allowed.contains(&row.department_code) {
                    return Err(CatalogError::NotFound);
                }
                let item = parse_document(&row.document)?;
                let published = sql::current(tx, code).await?.map(|(_, version, _)| version);
                if published != row.based_on_version {
                    return Err(CatalogError::Stale { draft_base: row.based_on_version, published });
                }
                let report = publish(tx, std::slice::from_ref(&item), Some(by), |d| allowed.contains(d)).await?;
                sql::delete_draft(tx, code).await?;
                Ok(report)
            })
        })
        .await
}
