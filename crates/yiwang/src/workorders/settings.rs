//! The city's work-order settings: time limits per request type and requester kind, and the
//! dispatch catalogue (派单目录). Supervisors and admins read them; a platform admin at the top of
//! the tree changes them, each change with an evidence leaf, and routing reads them again at once
//! (other nodes within a minute, when their routing reloads).

use serde::{Deserialize, Serialize};

use super::model::{RequestType, RequesterKind};
use super::routing::Routing;
use super::{Result, WorkOrderError, invalid, store};
use crate::identity::{Principal, Role};
use crate::ledger;
use crate::store::{Store, outbox};

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimeLimit {
    pub request_type: RequestType,
    pub requester_kind: RequesterKind,
    /// Working hours to sign for (签收) the order; none for no such limit.
    pub respond_hours: Option<i64>,
    /// Working days to close it.
    pub handle_days: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DispatchEntry {
    pub category_code: String,
    pub category_name: String,
    /// The competent department; none for a matter of the place.
    pub department_code: Option<String>,
    /// 属地: the town or street government of the grid where it happened handles it.
    pub territorial: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewDispatchEntry {
    /// The competent department; leave out for a matter of the place.
    pub department_code: Option<String>,
    #[serde(default)]
    pub territorial: bool,
}

fn may_read(actor: &Principal) -> bool {
    [Role::Supervisor, Role::Dispatcher, Role::Auditor, Role::PlatformAdmin].iter().any(|r| actor.has_role(*r))
}

fn may_change(actor: &Principal) -> Result<()> {
    if actor.is_city_admin() { Ok(()) } else { Err(WorkOrderError::Forbidden) }
}

pub async fn time_limits(store: &Store, actor: &Principal) -> Result<Vec<TimeLimit>> {
    if !may_read(actor) {
        return Err(WorkOrderError::Forbidden);
    }
    let mut limits: Vec<TimeLimit> = store::time_limits(&mut *store.pool().acquire().await?)
        .await?
        .into_iter()
        .filter_map(|(request_type, kind, respond_hours, handle_days)| {
            Some(TimeLimit {
                request_type: RequestType::parse(&request_type)?,
                requester_kind: RequesterKind::parse(&kind)?,
                respond_hours,
                handle_days,
            })
        })
        .collect();
    limits.sort_by_key(|l| (l.requester_kind.as_str(), l.request_type.as_str()));
    Ok(limits)
}

/// Sets the limits given (others stay as they are).
pub async fn set_time_limits(
    store: &Store,
    routing: &Routing,
    actor: &Principal,
    limits: Vec<TimeLimit>,
) -> Result<Vec<TimeLimit>> {
    may_change(actor)?;
    if limits.is_empty() {
        return Err(invalid("limits", "至少一项 / at least one limit"));
    }
    for (i, limit) in limits.iter().enumerate() {
        if !(1..=365).contains(&limit.handle_days) {
            return Err(invalid(format!("[{i}].handle_days"), "1-365个工作日 / 1 to 365 working days"));
        }
        if limit.respond_hours.is_some_and(|h| !(1..=240).contains(&h)) {
            return Err(invalid(format!("[{i}].respond_hours"), "1-240个工作小时 / 1 to 240 working hours"));
        }
    }
    let by = actor.account_id;
    let changed = limits.clone();
    store
        .write(move |tx| {
            Box::pin(async move {
                for l in &changed {
                    let (request_type, kind) = (l.request_type.as_str(), l.requester_kind.as_str());
                    store::set_time_limit(tx, request_type, kind, l.respond_hours, l.handle_days).await?;
                }
                let payload = serde_json::json!({"limits": changed});
                let subject = "workorder-settings:time-limits".to_owned();
                ledger::record(tx, "workorder.time_limits_set", subject, ledger::actor(Some(by)), &payload)?;
                outbox::append(tx, "workorder.time_limits_set", &payload)?;
                Ok::<_, WorkOrderError>(())
            })
        })
        .await?;
    routing.reload_tables(store).await?;
    time_limits(store, actor).await
}

pub async fn dispatch_catalogue(store: &Store, routing: &Routing, actor: &Principal) -> Result<Vec<DispatchEntry>> {
    if !may_read(actor) {
        return Err(WorkOrderError::Forbidden);
    }
    let rows = store::dispatch_catalogue(&mut *store.pool().acquire().await?).await?;
    Ok(rows
        .into_iter()
        .map(|(category_code, department_code, territorial)| DispatchEntry {
            category_name: routing.category(&category_code).map(|c| c.name).unwrap_or_default(),
            category_code,
            department_code,
            territorial: territorial != 0,
        })
        .collect())
}

/// Names the competent department of a category (and so of its sub-categories without an entry
/// of their own), or makes it a matter of the place.
pub async fn set_dispatch(
    store: &Store,
    routing: &Routing,
    actor: &Principal,
    category_code: &str,
    entry: NewDispatchEntry,
) -> Result<DispatchEntry> {
    may_change(actor)?;
    let category = routing.category(category_code).ok_or(WorkOrderError::NotFound)?;
    let department = match (&entry.department_code, entry.territorial) {
        (Some(_), true) => {
            return Err(invalid("territorial", "属地事项不指定部门 / a matter of the place names no department"));
        }
        (None, false) => return Err(invalid("department_code", "必填 / required")),
        (Some(code), false) => {
            routing.department(code).ok_or_else(|| invalid("department_code", "没有此部门 / no such department"))?;
            Some(code.clone())
        }
        (None, true) => None,
    };
    let (code, by, territorial) = (category_code.to_owned(), actor.account_id, entry.territorial);
    let written = department.clone();
    store
        .write(move |tx| {
            Box::pin(async move {
                store::set_dispatch(tx, &code, written.as_deref(), territorial).await?;
                let payload = serde_json::json!({"category": code, "department": written, "territorial": territorial});
                let subject = format!("workorder-category:{code}");
                ledger::record(tx, "workorder.dispatch_set", subject, ledger::actor(Some(by)), &payload)?;
                outbox::append(tx, "workorder.dispatch_set", &payload)?;
                Ok::<_, WorkOrderError>(())
            })
        })
        .await?;
    routing.reload_tables(store).await?;
    Ok(DispatchEntry {
        category_code: category.code,
        category_name: category.name,
        department_code: department,
        territorial: entry.territorial,
    })
}
