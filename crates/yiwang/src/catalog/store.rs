//! SQL for the catalogue tables.

use crate::store::Conn;

pub struct NewItemRow<'a> {
    pub implementation_code: &'a str,
    pub basic_code: &'a str,
    pub name: &'a str,
    pub item_type: &'a str,
    pub department_id: i64,
}

pub async fn insert_item(conn: &mut Conn, item: NewItemRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO catalog_items (implementation_code, basic_code, name, item_type, department_id, published_version, updated_at)
         VALUES ($1, $2, $3, $4, $5, 1, $6) RETURNING id",
    )
    .bind(item.implementation_code)
    .bind(item.basic_code)
    .bind(item.name)
    .bind(item.item_type)
    .bind(item.department_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn insert_version(
    conn: &mut Conn,
    item_id: i64,
    version: i64,
    document: &str,
    by: Option<i64>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO catalog_versions (item_id, version, document, published_by, published_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(item_id)
    .bind(version)
    .bind(document)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// (implementation code, name, item type, department code, department name)
pub type SummaryRow = (String, String, String, String, String);

pub async fn summaries(
    conn: &mut Conn,
    department: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<SummaryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.implementation_code, i.name, i.item_type, d.code, d.name
         FROM catalog_items i JOIN departments d ON d.id = i.department_id
         WHERE $1 IS NULL OR d.code = $1 ORDER BY i.id LIMIT $2 OFFSET $3",
    )
    .bind(department)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

/// The published document of an item, with its version.
pub async fn published(conn: &mut Conn, implementation_code: &str) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.document, v.version FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id AND v.version = i.published_version
         WHERE i.implementation_code = $1",
    )
    .bind(implementation_code)
    .fetch_optional(conn)
    .await
}

pub async fn count(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM catalog_items").fetch_one(conn).await
}

/// (id, published version, published document) of an item.
pub async fn current(conn: &mut Conn, implementation_code: &str) -> Result<Option<(i64, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.published_version, v.document FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id AND v.version = i.published_version
         WHERE i.implementation_code = $1",
    )
    .bind(implementation_code)
    .fetch_optional(conn)
    .await
}

pub async fn set_published(
    conn: &mut Conn,
    id: i64,
    item: NewItemRow<'_>,
    version: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE catalog_items SET basic_code = $1, name = $2, item_type = $3, department_id = $4,
                published_version = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(item.basic_code)
    .bind(item.name)
    .bind(item.item_type)
    .bind(item.department_id)
    .bind(version)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Every published document, in catalogue order.
pub async fn all_published(conn: &mut Conn) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT v.document FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id AND v.version = i.published_version ORDER BY i.id",
    )
    .fetch_all(conn)
    .await
}

/// (version, published by (login), published at) of an item, newest first.
pub async fn versions(
    conn: &mut Conn,
    implementation_code: &str,
) -> Result<Vec<(i64, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.version, a.login, v.published_at FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id LEFT JOIN accounts a ON a.id = v.published_by
         WHERE i.implementation_code = $1 ORDER BY v.version DESC",
    )
    .bind(implementation_code)
    .fetch_all(conn)
    .await
}

pub async fn version(conn: &mut Conn, implementation_code: &str, version: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT v.document FROM catalog_items i JOIN catalog_versions v ON v.item_id = i.id
         WHERE i.implementation_code = $1 AND v.version = $2",
    )
    .bind(implementation_code)
    .bind(version)
    .fetch_optional(conn)
    .await
}

/// Changes whenever anything is published: the count of versions.
pub async fn generation(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM catalog_versions").fetch_one(conn).await
}

/// (published document, department name) of every item, in catalogue order.
pub async fn published_with_department(conn: &mut Conn) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.document, d.name FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id AND v.version = i.published_version
         JOIN departments d ON d.id = i.department_id ORDER BY i.id",
    )
    .fetch_all(conn)
    .await
}

/// (implementation code, guide views) of every viewed item.
pub async fn views(conn: &mut Conn) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT implementation_code, views FROM catalog_items WHERE views > 0").fetch_all(conn).await
}

pub async fn add_views(conn: &mut Conn, implementation_code: &str, count: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE catalog_items SET views = views + $1 WHERE implementation_code = $2")
        .bind(count)
        .bind(implementation_code)
        .execute(conn)
        .await?;
    Ok(())
}

/// (code, name) of every department, by code.
pub async fn department_names(conn: &mut Conn) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT code, name FROM departments ORDER BY code").fetch_all(conn).await
}

/// What a draft row holds (the last editor by login).
#[derive(sqlx::FromRow)]
pub struct DraftRow {
    pub implementation_code: String,
    pub name: String,
    pub department_code: String,
    pub document: String,
    pub based_on_version: Option<i64>,
    pub updated_by: Option<String>,
    pub updated_at: i64,
}

/// The draft of one item, or (`None`) every draft, most recently changed first.
async fn select_drafts(conn: &mut Conn, implementation_code: Option<&str>) -> Result<Vec<DraftRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.implementation_code, d.name, d.department_code, d.document, d.based_on_version,
                a.login AS updated_by, d.updated_at
         FROM catalog_drafts d LEFT JOIN accounts a ON a.id = d.updated_by
         WHERE $1 IS NULL OR d.implementation_code = $1
         ORDER BY d.updated_at DESC, d.implementation_code",
    )
    .bind(implementation_code)
    .fetch_all(conn)
    .await
}

pub async fn draft(conn: &mut Conn, implementation_code: &str) -> Result<Option<DraftRow>, sqlx::Error> {
    Ok(select_drafts(conn, Some(implementation_code)).await?.into_iter().next())
}

pub async fn drafts(conn: &mut Conn) -> Result<Vec<DraftRow>, sqlx::Error> {
    select_drafts(conn, None).await
}

/// The parts of a draft a save writes.
pub struct DraftContent<'a> {
    pub name: &'a str,
    pub department_code: &'a str,
    pub document: &'a str,
}

pub async fn insert_draft(
    conn: &mut Conn,
    implementation_code: &str,
    content: DraftContent<'_>,
    based_on_version: Option<i64>,
    by: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO catalog_drafts (implementation_code, name, department_code, document, based_on_version,
                created_by, updated_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $7)",
    )
    .bind(implementation_code)
    .bind(content.name)
    .bind(content.department_code)
    .bind(content.document)
    .bind(based_on_version)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn update_draft(
    conn: &mut Conn,
    implementation_code: &str,
    content: DraftContent<'_>,
    by: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE catalog_drafts SET name = $1, department_code = $2, document = $3, updated_by = $4, updated_at = $5
         WHERE implementation_code = $6",
    )
    .bind(content.name)
    .bind(content.department_code)
    .bind(content.document)
    .bind(by)
    .bind(now)
    .bind(implementation_code)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete_draft(conn: &mut Conn, implementation_code: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM catalog_drafts WHERE implementation_code = $1")
        .bind(implementation_code)
        .execute(conn)
        .await?;
    Ok(())
}

/// (version, published by (login), published at, document) of an item, newest first.
pub async fn versions_with_documents(
    conn: &mut Conn,
    implementation_code: &str,
) -> Result<Vec<(i64, Option<String>, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.version, a.login, v.published_at, v.document FROM catalog_items i
         JOIN catalog_versions v ON v.item_id = i.id LEFT JOIN accounts a ON a.id = v.published_by
         WHERE i.implementation_code = $1 ORDER BY v.version DESC",
    )
    .bind(implementation_code)
    .fetch_all(conn)
    .await
}
