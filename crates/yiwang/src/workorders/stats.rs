//! Work-order statistics for supervisors and leaders: volume by channel, category, department and
//! day; on-time rate; average handling time; satisfaction by department; open orders by grid and
//! their points (hot spots). Computed from the stored orders of the period in the caller's
//! region, so they always agree with the lists.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::model::{Satisfaction, State};
use super::routing::Routing;
use super::{Result, WorkOrderError, invalid};
use crate::identity::{Principal, Role};
use crate::store::Store;

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct DepartmentFigures {
    pub department: String,
    pub orders: u64,
    pub closed: u64,
    /// Closed within the time limit.
    pub on_time: u64,
    pub satisfied: u64,
    pub basically_satisfied: u64,
    pub dissatisfied: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Stats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub orders: u64,
    pub by_channel: BTreeMap<String, u64>,
    /// First-level category name → orders.
    pub by_category: BTreeMap<String, u64>,
    pub by_day: BTreeMap<NaiveDate, u64>,
    pub by_department: Vec<DepartmentFigures>,
    /// Closed orders with a time limit closed within it, out of those closed; none when none closed.
    pub on_time_rate: Option<f64>,
    /// Mean hours from intake to closing.
    pub average_handling_hours: Option<f64>,
    /// Share of rated orders rated 满意 or 基本满意.
    pub satisfaction_rate: Option<f64>,
    /// Open orders per grid.
    pub open_by_grid: BTreeMap<String, u64>,
    /// Points of open orders: [longitude, latitude].
    pub open_points: Vec<[f64; 2]>,
}

type Line = (
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// Figures for orders taken in from `from` to `to` (China days, inclusive).
pub async fn compute(
    store: &Store,
    routing: &Routing,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Stats> {
    let paths: Vec<String> =
        [Role::Supervisor, Role::Dispatcher, Role::HotlineOperator, Role::Auditor, Role::PlatformAdmin]
            .into_iter()
            .flat_map(|r| actor.scopes_for(Some(r)))
            .collect();
    if paths.is_empty() {
        return Err(WorkOrderError::Forbidden);
    }
    if to < from {
        return Err(invalid("to", "结束日期早于开始日期 / ends before it starts"));
    }
    if (to - from).num_days() > 366 {
        return Err(invalid("to", "统计期不超过一年 / at most a year"));
    }
    let start = china_midnight(from);
    let end = china_midnight(to + chrono::TimeDelta::days(1));
    let scope: Vec<String> = (0..paths.len()).map(|i| format!("r.path LIKE ${}", i + 3)).collect();
    let sql = format!(
        "SELECT w.channel, w.category_code, d.name, w.created_at, w.closed_at, w.deadline_at, w.state, w.satisfaction,
                w.grid_code, w.lat_e6, w.lon_e6
         FROM workorders w JOIN regions r ON r.code = w.region_code LEFT JOIN departments d ON d.id = w.department_id
         WHERE w.created_at >= $1 AND w.created_at < $2 AND w.emergency IS NULL AND ({})",
        scope.join(" OR ")
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_as::<_, Line>(sqlx::AssertSqlSafe(sql)).bind(start).bind(end);
    for path in &paths {
        query = query.bind(format!("{path}%"));
    }
    let lines = query.fetch_all(store.pool()).await?;
    Ok(aggregate(routing, from, to, lines))
}

fn china_midnight(day: NaiveDate) -> i64 {
    (day.and_time(chrono::NaiveTime::MIN) - chrono::TimeDelta::hours(8)).and_utc().timestamp_millis()
}

fn aggregate(routing: &Routing, from: NaiveDate, to: NaiveDate, lines: Vec<Line>) -> Stats {
    let mut stats = Stats {
        from,
        to,
        orders: lines.len() as u64,
        by_channel: BTreeMap::new(),
        by_category: BTreeMap::new(),
        by_day: BTreeMap::new(),
        by_department: Vec::new(),
        on_time_rate: None,
        average_handling_hours: None,
        satisfaction_rate: None,
        open_by_grid: BTreeMap::new(),
        open_points: Vec::new(),
    };
    let mut departments: BTreeMap<String, DepartmentFigures> = BTreeMap::new();
    let (mut closed, mut closed_in_time, mut handled_ms, mut handled) = (0u64, 0u64, 0i64, 0u64);
    let (mut rated, mut content) = (0u64, 0u64);
    for (channel, category, department, created, closed_at, deadline, state, satisfaction, grid, lat, lon) in lines {
        *stats.by_channel.entry(channel).or_default() += 1;
        let level1 = category
            .as_deref()
            .and_then(|c| c.get(..2))
            .and_then(|c| routing.category(c))
            .map_or_else(|| "未分类".to_owned(), |c| c.name);
        *stats.by_category.entry(level1).or_default() += 1;
        let day = DateTime::<Utc>::from_timestamp_millis(created).map(yiwang_calendar::china_date).unwrap_or(from);
        *stats.by_day.entry(day).or_default() += 1;
        let state = State::parse(&state).unwrap_or(State::Pending);
        let figures = departments.entry(department.clone().unwrap_or_else(|| "待派单".into())).or_default();
        figures.orders += 1;
        if state == State::Closed {
            figures.closed += 1;
            closed += 1;
            if let (Some(done), Some(limit)) = (closed_at, deadline)
                && done < limit
            {
                figures.on_time += 1;
                closed_in_time += 1;
            }
            if let Some(done) = closed_at {
                handled_ms += done - created;
                handled += 1;
            }
        }
        if let Some(level) = satisfaction.as_deref().and_then(Satisfaction::parse) {
            rated += 1;
            match level {
                Satisfaction::VerySatisfied | Satisfaction::Satisfied => figures.satisfied += 1,
                Satisfaction::BasicallySatisfied => figures.basically_satisfied += 1,
                Satisfaction::Dissatisfied | Satisfaction::VeryDissatisfied => figures.dissatisfied += 1,
            }
            content += u64::from(level.is_positive());
        }
        if state.is_open() {
            if let Some(grid) = grid {
                *stats.open_by_grid.entry(grid).or_default() += 1;
            }
            if let (Some(lat), Some(lon)) = (lat, lon) {
                stats.open_points.push([lon as f64 / 1e6, lat as f64 / 1e6]);
            }
        }
    }
    stats.by_department =
        departments.into_iter().map(|(department, f)| DepartmentFigures { department, ..f }).collect();
    stats.by_department.sort_by_key(|d| std::cmp::Reverse(d.orders));
    stats.on_time_rate = (closed > 0).then(|| closed_in_time as f64 / closed as f64);
    stats.average_handling_hours = (handled > 0).then(|| handled_ms as f64 / handled as f64 / 3_600_000.0);
    stats.satisfaction_rate = (rated > 0).then(|| content as f64 / rated as f64);
    stats
}
