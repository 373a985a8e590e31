//! Review workflows (审批流程): an item's applications pass ordered steps (受理 → 审查 → 决定 …),
//! each decided by the reviewers of one or more departments; a step with `all` needs every one of
//! its departments to approve (会签), otherwise one approval moves it on. A reviewer may return an
//! application to an earlier step, which clears the sign-offs from there. An item without a
//! workflow has one step: its own department decides.

use serde::{Deserialize, Serialize};

use super::{ApplicationError, Result, invalid};
use crate::identity::{Principal, Role};
use crate::store::{Conn, Store, now_ms};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewStep {
    pub name: String,
    /// Codes of the departments whose reviewers decide this step.
    pub departments: Vec<String>,
    /// 会签: every department must approve (otherwise one approval is enough).
    #[serde(default)]
    pub all: bool,
}

/// Where an application stands in its workflow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Review {
    /// Index of the current step.
    pub current: usize,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StepView {
    pub name: String,
    pub departments: Vec<String>,
    pub all: bool,
    /// Departments that approved this step so far.
    pub signed: Vec<String>,
}

/// The steps of an item's workflow; one decision step by its department when it has none.
pub async fn steps(conn: &mut Conn, item_code: &str, department_code: &str) -> Result<Vec<ReviewStep>> {
    let stored: Option<String> = sqlx::query_scalar("SELECT steps FROM review_workflows WHERE item_code = $1")
        .bind(item_code)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match stored.and_then(|s| serde_json::from_str(&s).ok()) {
        Some(steps) => steps,
        None => vec![ReviewStep { name: "决定".into(), departments: vec![department_code.to_owned()], all: false }],
    })
}

/// Sets an item's workflow (a catalogue editor of its department, or a platform admin over it).
pub async fn set(
    store: &Store,
    items: &super::context::ItemContexts,
    actor: &Principal,
    item_code: &str,
    steps: Vec<ReviewStep>,
) -> Result<()> {
    let (item, _) = crate::catalog::published(store, item_code).await?;
    let allowed = crate::catalog::drafts::editable_departments(store, actor).await?;
    if !allowed.contains(&item.department_code) {
        return Err(ApplicationError::Forbidden);
    }
    if steps.is_empty() || steps.len() > 10 {
        return Err(invalid("steps", "1-10个环节 / 1 to 10 steps"));
    }
    let mut conn = store.pool().acquire().await?;
    for (i, step) in steps.iter().enumerate() {
        if step.name.trim().is_empty() || step.name.chars().count() > 50 {
            return Err(invalid(format!("steps[{i}].name"), "必填，不超过50字 / required, at most 50 characters"));
        }
        if step.departments.is_empty() {
            return Err(invalid(format!("steps[{i}].departments"), "至少一个部门 / at least one department"));
        }
        for (j, code) in step.departments.iter().enumerate() {
            if crate::identity::department_region(&mut conn, code).await?.is_none() {
                return Err(invalid(format!("steps[{i}].departments[{j}]"), "部门不存在 / no such department"));
            }
        }
    }
    let text = serde_json::to_string(&steps).map_err(|e| invalid("steps", e.to_string()))?;
    drop(conn);
    let mut tx = store.begin_write().await?;
    sqlx::query(
        "INSERT INTO review_workflows (item_code, steps, updated_by, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (item_code) DO UPDATE SET steps = $2, updated_by = $3, updated_at = $4",
    )
    .bind(item_code)
    .bind(&text)
    .bind(actor.account_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let change = serde_json::json!({"item": item_code, "steps": steps});
    crate::store::outbox::append(&mut tx, "workflow.set", &change)?;
    crate::ledger::record(
        &mut tx,
        "workflow.set",
        format!("workflow:{item_code}"),
        crate::ledger::actor(Some(actor.account_id)),
        &change,
    )?;
    tx.commit().await?;
    items.forget(item_code);
    Ok(())
}

/// The departments of `departments` in which the actor is a reviewer.
pub async fn reviewing_for(conn: &mut Conn, actor: &Principal, departments: &[String]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for code in departments {
        if let Some((id, _)) = crate::identity::department_region(conn, code).await?
            && actor.grants.iter().any(|g| g.role == Role::Reviewer && g.department_id == id)
        {
            found.push(code.clone());
        }
    }
    Ok(found)
}

pub async fn signed(conn: &mut Conn, application_id: i64, step: usize) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT department_code FROM sign_offs WHERE application_id = $1 AND step = $2 ORDER BY department_code",
    )
    .bind(application_id)
    .bind(step as i64)
    .fetch_all(conn)
    .await?)
}

pub async fn sign(conn: &mut Conn, application_id: i64, step: usize, department: &str, actor: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_offs (application_id, step, department_code, actor_id, at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (application_id, step, department_code) DO NOTHING",
    )
    .bind(application_id)
    .bind(step as i64)
    .bind(department)
    .bind(actor)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the application to `step`, forgetting the sign-offs from there on.
pub async fn go_to(conn: &mut Conn, application_id: i64, step: usize) -> Result<()> {
    sqlx::query("DELETE FROM sign_offs WHERE application_id = $1 AND step >= $2")
        .bind(application_id)
        .bind(step as i64)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE applications SET review_step = $1 WHERE id = $2")
        .bind(step as i64)
        .bind(application_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn review(conn: &mut Conn, application_id: i64, current: usize, steps: Vec<ReviewStep>) -> Result<Review> {
    let mut views = Vec::with_capacity(steps.len());
    for (i, step) in steps.into_iter().enumerate() {
        let signed = signed(conn, application_id, i).await?;
        views.push(StepView { name: step.name, departments: step.departments, all: step.all, signed });
    }
    Ok(Review { current, steps: views })
}
