//! Work-order statistics for supervisors and leaders: volume by channel, category, department and
//! day; on-time rate; average handling time; satisfaction by department; open orders by grid and
//! their points (hot spots). Computed from the stored orders of the period in the caller's
//! region, so they always agree with the lists.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

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

/// One group of orders: (channel, first-level category code, department name, orders, closed, closed on time, closed with a closing time, their handling
/// milliseconds, rated satisfied or better, rated basically satisfied, rated dissatisfied or worse).
type Group = (String, Option<String>, Option<String>, i64, i64, i64, i64, i64, i64, i64, i64);

/// An open order: (grid, latitude, longitude) in micro-degrees.
type OpenLine = (Option<String>, Option<i64>, Option<i64>);

const OPEN_STATES: &str = "('pending', 'dispatched', 'signed', 'replied')";

/// Figures for orders taken in from `from` to `to` (China days, inclusive). The database does
/// the counting (one grouped pass over the period, and the period's open orders for the map),
/// so what travels to the app is a few hundred groups and a line per day, not every order of the period.
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
    let scope = scope.join(" OR ");
    let period = format!("w.created_at >= $1 AND w.created_at < $2 AND w.emergency IS NULL AND ({scope})");
    // China days: UTC milliseconds shifted by eight hours, in whole days (integer division on
    // both backends; every instant here is after 1970).
    let grouped = format!(
        "SELECT w.channel, substr(w.category_code, 1, 2), d.name, COUNT(*),
                SUM(CASE WHEN w.state = 'closed' THEN 1 ELSE 0 END),
                SUM(CASE WHEN w.state = 'closed' AND w.closed_at < w.deadline_at THEN 1 ELSE 0 END),
                SUM(CASE WHEN w.state = 'closed' AND w.closed_at IS NOT NULL THEN 1 ELSE 0 END),
                CAST(SUM(CASE WHEN w.state = 'closed' AND w.closed_at IS NOT NULL THEN w.closed_at - w.created_at ELSE 0 END) AS BIGINT),
                SUM(CASE WHEN w.satisfaction IN ('very_satisfied', 'satisfied') THEN 1 ELSE 0 END),
                SUM(CASE WHEN w.satisfaction = 'basically_satisfied' THEN 1 ELSE 0 END),
                SUM(CASE WHEN w.satisfaction IN ('dissatisfied', 'very_dissatisfied') THEN 1 ELSE 0 END)
         FROM workorders w JOIN regions r ON r.code = w.region_code LEFT JOIN departments d ON d.id = w.department_id
         WHERE {period}
         GROUP BY w.channel, substr(w.category_code, 1, 2), d.name"
    );
    let daily = format!(
        "SELECT (w.created_at + 28800000) / 86400000, COUNT(*) FROM workorders w JOIN regions r ON r.code = w.region_code
         WHERE {period} GROUP BY (w.created_at + 28800000) / 86400000"
    );
    let open = format!(
        "SELECT w.grid_code, w.lat_e6, w.lon_e6 FROM workorders w JOIN regions r ON r.code = w.region_code
         WHERE w.state IN {OPEN_STATES} AND {period}"
    );
    let mut conn = store.pool().acquire().await?;
    // Only placeholders and constants are spliced in; every value is bound.
    let mut query = sqlx::query_as::<_, Group>(sqlx::AssertSqlSafe(grouped)).bind(start).bind(end);
    for path in &paths {
        query = query.bind(format!("{path}%"));
    }
    let groups = query.fetch_all(&mut *conn).await?;
    let mut query = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(daily)).bind(start).bind(end);
    for path in &paths {
        query = query.bind(format!("{path}%"));
    }
    let days = query.fetch_all(&mut *conn).await?;
    let mut query = sqlx::query_as::<_, OpenLine>(sqlx::AssertSqlSafe(open)).bind(start).bind(end);
    for path in &paths {
        query = query.bind(format!("{path}%"));
    }
    let open = query.fetch_all(&mut *conn).await?;
    Ok(aggregate(routing, from, to, groups, days, open))
}

fn china_midnight(day: NaiveDate) -> i64 {
    (day.and_time(chrono::NaiveTime::MIN) - chrono::TimeDelta::hours(8)).and_utc().timestamp_millis()
}

fn aggregate(
    routing: &Routing,
    from: NaiveDate,
    to: NaiveDate,
    groups: Vec<Group>,
    days: Vec<(i64, i64)>,
    open: Vec<OpenLine>,
) -> Stats {
    let mut stats = Stats {
        from,
        to,
        orders: 0,
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
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(from);
    let mut departments: BTreeMap<String, DepartmentFigures> = BTreeMap::new();
    let (mut closed, mut closed_in_time, mut handled_ms, mut handled) = (0u64, 0u64, 0i64, 0u64);
    let (mut rated, mut content) = (0u64, 0u64);
    for (day, orders) in days {
        let day = epoch.checked_add_signed(chrono::TimeDelta::days(day)).unwrap_or(from);
        *stats.by_day.entry(day).or_default() += orders.max(0) as u64;
    }
    for (channel, level1, department, orders, shut, on_time, timed, ms, satisfied, basically, dissatisfied) in groups {
        let n = |v: i64| v.max(0) as u64;
        stats.orders += n(orders);
        *stats.by_channel.entry(channel).or_default() += n(orders);
        let level1 =
            level1.as_deref().and_then(|c| routing.category(c)).map_or_else(|| "未分类".to_owned(), |c| c.name);
        *stats.by_category.entry(level1).or_default() += n(orders);
        let figures = departments.entry(department.unwrap_or_else(|| "待派单".into())).or_default();
        figures.orders += n(orders);
        figures.closed += n(shut);
        figures.on_time += n(on_time);
        figures.satisfied += n(satisfied);
        figures.basically_satisfied += n(basically);
        figures.dissatisfied += n(dissatisfied);
        closed += n(shut);
        closed_in_time += n(on_time);
        handled += n(timed);
        handled_ms += ms;
        rated += n(satisfied) + n(basically) + n(dissatisfied);
        content += n(satisfied) + n(basically);
    }
    for (grid, lat, lon) in open {
        if let Some(grid) = grid {
            *stats.open_by_grid.entry(grid).or_default() += 1;
        }
        if let (Some(lat), Some(lon)) = (lat, lon) {
            stats.open_points.push([lon as f64 / 1e6, lat as f64 / 1e6]);
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
