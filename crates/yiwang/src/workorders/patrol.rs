//! Grid patrols (网格巡查): a grid worker starts a patrol of one of their grids, goes through the
//! checklist (巡查事项, per department), marks each item fine or reports a finding — which opens
//! a work order at once, routed like any other — and finishes. The patrol record lists every item
//! looked at, when, and the orders its findings opened: it replaces the paper forms.

use serde::Serialize;

use super::model::{Channel, RequestType};
use super::{Context, Intake, NewWorkOrder, Result, WorkOrderError, invalid};
use crate::grid::LatLon;
use crate::identity::{Principal, Role};
use crate::store::{Store, from_ms};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistItem {
    pub id: i64,
    pub department: String,
    pub name: String,
    pub guidance: String,
    pub category_code: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Check {
    pub item: String,
    /// `ok` or `finding`.
    pub result: String,
    pub workorder: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PatrolRecord {
    pub id: i64,
    pub grid_code: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    pub note: String,
    pub checks: Vec<Check>,
}

fn worker(actor: &Principal) -> Result<()> {
    if actor.has_role(Role::GridWorker) { Ok(()) } else { Err(WorkOrderError::Forbidden) }
}

pub async fn checklist(store: &Store) -> Result<Vec<ChecklistItem>> {
    let rows: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT p.id, d.name, p.name, p.guidance, p.category_code FROM patrol_items p
         JOIN departments d ON d.code = p.department_code ORDER BY p.id",
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, department, name, guidance, category_code)| ChecklistItem {
            id,
            department,
            name,
            guidance,
            category_code,
        })
        .collect())
}

/// The worker's patrols, the open one first.
pub async fn records(store: &Store, actor: &Principal, limit: i64) -> Result<Vec<PatrolRecord>> {
    worker(actor)?;
    let rows: Vec<(i64, String, i64, Option<i64>, String)> = sqlx::query_as(
        "SELECT id, grid_code, started_at, finished_at, note FROM patrols WHERE account_id = $1
         ORDER BY CASE WHEN finished_at IS NULL THEN 0 ELSE 1 END, started_at DESC LIMIT $2",
    )
    .bind(actor.account_id)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let mut records = Vec::new();
    for (id, grid_code, started, finished, note) in rows {
        let checks: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT i.name, c.result, w.number, c.at FROM patrol_checks c JOIN patrol_items i ON i.id = c.item_id
             LEFT JOIN workorders w ON w.id = c.workorder_id WHERE c.patrol_id = $1 ORDER BY c.at",
        )
        .bind(id)
        .fetch_all(store.pool())
        .await?;
        let checks = checks
            .into_iter()
            .map(|(item, result, workorder, at)| Check { item, result, workorder, at: from_ms(at) })
            .collect();
        records.push(PatrolRecord {
            id,
            grid_code,
            started_at: from_ms(started),
            finished_at: finished.map(from_ms),
            note,
            checks,
        });
    }
    Ok(records)
}

/// Starts a patrol of one of the worker's grids; a patrol already open is returned instead.
pub async fn start(store: &Store, at: &Context<'_>, actor: &Principal, grid: &str) -> Result<i64> {
    worker(actor)?;
    let grids = crate::grid::store::grids_of(&mut *store.pool().acquire().await?, actor.account_id).await?;
    if !grids.iter().any(|g| g == grid) {
        return Err(invalid("grid", "不是您负责的网格 / not one of your grids"));
    }
    let mut tx = store.begin_write().await?;
    let open: Option<i64> = sqlx::query_scalar("SELECT id FROM patrols WHERE account_id = $1 AND finished_at IS NULL")
        .bind(actor.account_id)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(id) = open {
        return Ok(id);
    }
    let id: i64 =
        sqlx::query_scalar("INSERT INTO patrols (account_id, grid_code, started_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(actor.account_id)
            .bind(grid)
            .bind(at.now.timestamp_millis())
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    Ok(id)
}

/// What the worker found at a checklist item.
pub struct Finding {
    pub text: String,
    pub location: Option<LatLon>,
    pub address: Option<String>,
    pub photos: Vec<String>,
}

/// Marks a checklist item fine, or reports a finding (a work order); returns the order's number.
pub async fn check(
    store: &Store,
    at: &Context<'_>,
    actor: &Principal,
    patrol: i64,
    item: i64,
    finding: Option<Finding>,
) -> Result<Option<String>> {
    worker(actor)?;
    let open: Option<String> =
        sqlx::query_scalar("SELECT grid_code FROM patrols WHERE id = $1 AND account_id = $2 AND finished_at IS NULL")
            .bind(patrol)
            .bind(actor.account_id)
            .fetch_optional(store.pool())
            .await?;
    let grid_code = open.ok_or_else(|| invalid("patrol", "没有进行中的巡查 / no open patrol"))?;
    let items = checklist(store).await?;
    let item =
        items.into_iter().find(|i| i.id == item).ok_or_else(|| invalid("item", "没有此巡查事项 / no such item"))?;
    let number = match finding {
        Some(f) => {
            // Without a fix from the phone, the finding is placed in the middle of the grid.
            let location = f.location.or_else(|| at.routing.grids.grid(&grid_code).and_then(|g| centre(&g.geometry)));
            let new = NewWorkOrder {
                request_type: RequestType::Report,
                title: Some(format!("巡查发现：{}", item.name)),
                text: f.text,
                category: Some(item.category_code.clone()),
                address: f.address,
                location,
                caller: None,
                photos: f.photos,
                answer: None,
                attributes: serde_json::Map::from_iter([("patrol".to_owned(), patrol.into())]),
            };
            Some(super::intake(store, at, Some(actor), Intake::channel(Channel::Grid), new).await?.number)
        }
        None => None,
    };
    let mut tx = store.begin_write().await?;
    let workorder: Option<i64> = match &number {
        Some(n) => {
            sqlx::query_scalar("SELECT id FROM workorders WHERE number = $1").bind(n).fetch_optional(&mut *tx).await?
        }
        None => None,
    };
    sqlx::query(
        "INSERT INTO patrol_checks (patrol_id, item_id, result, workorder_id, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (patrol_id, item_id) DO UPDATE SET result = excluded.result,
             workorder_id = COALESCE(excluded.workorder_id, patrol_checks.workorder_id), at = excluded.at",
    )
    .bind(patrol)
    .bind(item.id)
    .bind(if number.is_some() { "finding" } else { "ok" })
    .bind(workorder)
    .bind(at.now.timestamp_millis())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(number)
}

pub async fn finish(store: &Store, at: &Context<'_>, actor: &Principal, patrol: i64, note: &str) -> Result<()> {
    worker(actor)?;
    let note = super::text("note", note, 1000, false)?;
    let mut tx = store.begin_write().await?;
    let done = sqlx::query(
        "UPDATE patrols SET finished_at = $1, note = $2 WHERE id = $3 AND account_id = $4 AND finished_at IS NULL",
    )
    .bind(at.now.timestamp_millis())
    .bind(&note)
    .bind(patrol)
    .bind(actor.account_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(invalid("patrol", "没有进行中的巡查 / no open patrol"));
    }
    crate::ledger::record(
        &mut tx,
        "patrol.finished",
        format!("patrol:{patrol}"),
        crate::ledger::actor(Some(actor.account_id)),
        &serde_json::json!({"patrol": patrol, "note": note}),
    )?;
    tx.commit().await?;
    Ok(())
}

/// The middle of a polygon's bounding box.
fn centre(geometry: &serde_json::Value) -> Option<LatLon> {
    use geo::BoundingRect;
    let rect = crate::grid::shape(geometry).ok()?.bounding_rect()?;
    let c = rect.center();
    Some(LatLon { lat: c.y, lon: c.x })
}
