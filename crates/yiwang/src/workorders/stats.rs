//! Work-order statistics for supervisors and leaders: volume by channel, category, department and
//! day; on-time rate; average handling time; satisfaction by department; orders open now by grid
//! and map cell (hot spots). Counted from the running totals that every change of an order moves
//! in its own transaction (`tallies.rs`), so they always agree with the lists.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;

use super::routing::Routing;
use super::tallies;
use super::{Result, WorkOrderError, invalid};
use crate::identity::Principal;
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
    /// Orders open now per grid (whatever the period).
    pub open_by_grid: BTreeMap<String, u64>,
    /// Orders open now on the map (whatever the period), counted per cell of 0.001° (about
    /// 100 m) and placed at the cell's centre: [longitude, latitude, orders], the busiest 2,000
    /// cells.
    pub open_points: Vec<[f64; 3]>,
}

/// Map cells sent at most (the busiest): a city's open orders would otherwise be tens of
/// thousands of points.
const MAP_CELLS: usize = 2000;

/// Figures for orders taken in from `from` to `to` (China days, inclusive), and the orders open
/// now on the map. Both come from running totals (`tallies.rs`): a few hundred lines per day and a
/// line per grid and map cell, however many orders there are.
pub async fn compute(
    store: &Store,
    routing: &Routing,
    actor: &Principal,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Stats> {
    let paths = actor.scopes_for_any(&super::REGION_ROLES);
    if paths.is_empty() {
        return Err(WorkOrderError::Forbidden);
    }
    if to < from {
        return Err(invalid("to", "结束日期早于开始日期 / ends before it starts"));
    }
    if (to - from).num_days() > 366 {
        return Err(invalid("to", "统计期不超过一年 / at most a year"));
    }
    let region_codes: Vec<String> =
        paths.iter().filter_map(|p| p.trim_end_matches('/').rsplit('/').next()).map(str::to_owned).collect();
    let days = (day_number(from), day_number(to));
    let mut conn = store.pool().acquire().await?;
    let (lines, daily) = tallies::read(&mut conn, &region_codes, days).await?;
    let open = tallies::read_open(&mut conn, &region_codes).await?;
    drop(conn);
    let departments: HashMap<String, String> =
        crate::identity::departments(store).await?.into_iter().map(|d| (d.id.to_string(), d.name)).collect();
    Ok(aggregate(routing, &departments, from, to, lines, daily, open))
}

/// Days since 1970-01-01, as the totals number China days.
fn day_number(day: NaiveDate) -> i64 {
    (day - NaiveDate::default()).num_days()
}

fn aggregate(
    routing: &Routing,
    departments: &HashMap<String, String>,
    from: NaiveDate,
    to: NaiveDate,
    lines: Vec<tallies::Line>,
    daily: Vec<(i64, i64)>,
    open: Vec<(String, String, i64)>,
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
    let n = |v: i64| v.max(0) as u64;
    for (day, orders) in daily {
        let day = NaiveDate::default().checked_add_signed(chrono::TimeDelta::days(day)).unwrap_or(from);
        *stats.by_day.entry(day).or_default() += n(orders);
    }
    let (mut closed, mut closed_in_time, mut handled_ms, mut handled) = (0u64, 0u64, 0i64, 0u64);
    let (mut rated, mut content) = (0u64, 0u64);
    for (dimension, value, orders, shut, on_time, timed, ms, satisfied, basically, dissatisfied) in lines {
        if orders <= 0 {
            continue;
        }
        match dimension.as_str() {
            "channel" => *stats.by_channel.entry(value).or_default() += n(orders),
            "category" => {
                let name = routing.category(&value).map_or_else(|| "未分类".to_owned(), |c| c.name);
                *stats.by_category.entry(name).or_default() += n(orders);
            }
            "department" => {
                let department = if value.is_empty() {
                    "待派单".to_owned()
                } else {
                    departments.get(&value).cloned().unwrap_or(value)
                };
                stats.by_department.push(DepartmentFigures {
                    department,
                    orders: n(orders),
                    closed: n(shut),
                    on_time: n(on_time),
                    satisfied: n(satisfied),
                    basically_satisfied: n(basically),
                    dissatisfied: n(dissatisfied),
                });
                stats.orders += n(orders);
                closed += n(shut);
                closed_in_time += n(on_time);
                handled += n(timed);
                handled_ms += ms;
                rated += n(satisfied) + n(basically) + n(dissatisfied);
                content += n(satisfied) + n(basically);
            }
            _ => {}
        }
    }
    let mut cells: Vec<((i64, i64), u64)> = Vec::new();
    for (dimension, value, orders) in open {
        match dimension.as_str() {
            "grid" => *stats.open_by_grid.entry(value).or_default() += n(orders),
            "cell" => {
                if let Some((lat, lon)) = value.split_once(',')
                    && let (Ok(lat), Ok(lon)) = (lat.parse::<i64>(), lon.parse::<i64>())
                {
                    cells.push(((lat, lon), n(orders)));
                }
            }
            _ => {}
        }
    }
    cells.sort_by_key(|&(cell, orders)| (std::cmp::Reverse(orders), cell));
    cells.truncate(MAP_CELLS);
    // A cell is shown at its centre.
    stats.open_points = cells
        .into_iter()
        .map(|((lat, lon), orders)| [(lon as f64 + 0.5) / 1e3, (lat as f64 + 0.5) / 1e3, orders as f64])
        .collect();
    stats.by_department.sort_by(|a, b| b.orders.cmp(&a.orders).then_with(|| a.department.cmp(&b.department)));
    stats.on_time_rate = (closed > 0).then(|| closed_in_time as f64 / closed as f64);
    stats.average_handling_hours = (handled > 0).then(|| handled_ms as f64 / handled as f64 / 3_600_000.0);
    stats.satisfaction_rate = (rated > 0).then(|| content as f64 / rated as f64);
    stats
}
