//! Running totals of work orders that the statistics read instead of counting orders: per region
//! (the order's own and every region above it), China day of intake, and channel, first-level
//! category or department (`workorder_tallies`, migration 0021); and the orders open now per
//! region, grid and map cell (`workorder_open_places`, migration 0023).
//!
//! Every insert or change of an order records what it adds and takes away ([`record`]); the
//! deltas wait in the write transaction and are written with the batch's others just before
//! `COMMIT` ([`flush`]), so the totals move exactly when the orders do. [`recount`] rebuilds them
//! from the orders (after a bulk load, or to check them).

use std::collections::BTreeMap;

use super::model::State;
use crate::store::{Backend, Conn, WriteTx, value_rows};

/// What one order adds to the totals of its group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub orders: i64,
    pub closed: i64,
    pub on_time: i64,
    pub timed: i64,
    pub handled_ms: i64,
    pub satisfied: i64,
    pub basically_satisfied: i64,
    pub dissatisfied: i64,
}

impl Counts {
    fn add(&mut self, other: &Counts, sign: i64) {
        self.orders += sign * other.orders;
        self.closed += sign * other.closed;
        self.on_time += sign * other.on_time;
        self.timed += sign * other.timed;
        self.handled_ms += sign * other.handled_ms;
        self.satisfied += sign * other.satisfied;
        self.basically_satisfied += sign * other.basically_satisfied;
        self.dissatisfied += sign * other.dissatisfied;
    }

    fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// The group an order is counted in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Group {
    pub region_code: String,
    /// China day of intake, in days since 1970-01-01.
    pub day: i64,
    pub channel: String,
    /// First-level category code; empty when unclassified.
    pub category: String,
    /// Department id as text; empty when not dispatched.
    pub department: String,
}

/// The columns of an order the totals depend on.
pub struct Tallied<'a> {
    pub region_code: &'a str,
    pub created_at: i64,
    pub emergency: Option<&'a str>,
    pub channel: &'a str,
    pub category_code: Option<&'a str>,
    pub department_id: Option<i64>,
    pub state: &'a str,
    pub closed_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub satisfaction: Option<&'a str>,
    pub grid_code: Option<&'a str>,
    pub lat_e6: Option<i64>,
    pub lon_e6: Option<i64>,
}

pub const DAY_MS: i64 = 86_400_000;
/// China time is UTC+8 all year.
pub const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

impl Tallied<'_> {
    /// The order's group and counts; none for a redirected emergency (not a work order of the
    /// statistics).
    fn counted(&self) -> Option<(Group, Counts)> {
        if self.emergency.is_some() {
            return None;
        }
        let group = Group {
            region_code: self.region_code.to_owned(),
            day: (self.created_at + CHINA_OFFSET_MS).div_euclid(DAY_MS),
            channel: self.channel.to_owned(),
            category: self.category_code.map(|c| c.chars().take(2).collect()).unwrap_or_default(),
            department: self.department_id.map(|d| d.to_string()).unwrap_or_default(),
        };
        let closed = self.state == "closed";
        let timed = closed && self.closed_at.is_some();
        let on_time = closed && matches!((self.closed_at, self.deadline_at), (Some(c), Some(d)) if c < d);
        let flag = |b: bool| i64::from(b);
        let counts = Counts {
            orders: 1,
            closed: flag(closed),
            on_time: flag(on_time),
            timed: flag(timed),
            handled_ms: if timed { self.closed_at.unwrap_or(self.created_at) - self.created_at } else { 0 },
            satisfied: flag(matches!(self.satisfaction, Some("very_satisfied" | "satisfied"))),
            basically_satisfied: flag(self.satisfaction == Some("basically_satisfied")),
            dissatisfied: flag(matches!(self.satisfaction, Some("dissatisfied" | "very_dissatisfied"))),
        };
        Some((group, counts))
    }
}

/// Where an open order shows on the map: its region, grid (empty when none) and cell of 0.001°
/// (about 100 m) as "latitude,longitude" in thousandths of a degree (empty without a point).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Place {
    pub region_code: String,
    pub grid: String,
    pub cell: String,
}

impl Tallied<'_> {
    /// The order's place on the map while it is open.
    fn open_place(&self) -> Option<Place> {
        if self.emergency.is_some() || !State::parse(self.state).is_some_and(State::is_open) {
            return None;
        }
        let cell = match (self.lat_e6, self.lon_e6) {
            // Truncating division, as SQL's integer division does in `recount`.
            (Some(lat), Some(lon)) => format!("{},{}", lat / 1000, lon / 1000),
            _ => String::new(),
        };
        let grid = self.grid_code.unwrap_or_default().to_owned();
        (!grid.is_empty() || !cell.is_empty()).then(|| Place { region_code: self.region_code.to_owned(), grid, cell })
    }
}

/// A change to the totals, waiting in its transaction: of one group of a day, or of the open
/// orders at one place.
pub enum Delta {
    Day(Group, Counts),
    Open(Place, i64),
}

/// Records that an order went from `before` (none when new) to `after`; [`flush`] sums what
/// cancels out.
pub fn record(tx: &mut WriteTx, before: Option<&Tallied<'_>>, after: &Tallied<'_>) {
    if let Some(before) = before {
        if let Some((group, was)) = before.counted() {
            let mut counts = Counts::default();
            counts.add(&was, -1);
            tx.push_tally(Delta::Day(group, counts));
        }
        if let Some(place) = before.open_place() {
            tx.push_tally(Delta::Open(place, -1));
        }
    }
    if let Some((group, counts)) = after.counted() {
        tx.push_tally(Delta::Day(group, counts));
    }
    if let Some(place) = after.open_place() {
        tx.push_tally(Delta::Open(place, 1));
    }
}

/// Groups (or places) per statement: thirteen parameters each at most, well under either
/// backend's limit.
const GROUPS_PER_STATEMENT: usize = 400;

/// The columns of a day's group after its region, as the SQL below names them.
const DAY_COLUMNS: [&str; 12] = [
    "day",
    "channel",
    "category",
    "department",
    "orders",
    "closed",
    "on_time",
    "timed",
    "handled_ms",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
];

/// The columns of a place after its region.
const PLACE_COLUMNS: [&str; 3] = ["grid", "cell", "orders"];

/// A CTE `rolled` holding each row of `source` (its region in `region_code`, then `columns`) once
/// for its own region and once for every region above it.
fn rolled_up(source: &str, columns: &[&str]) -> String {
    let columns: Vec<String> = columns.iter().map(|c| format!("o.{c}")).collect();
    format!(
        "rolled AS (SELECT a.code AS region_code, {} FROM {source} o
                    JOIN regions r ON r.code = o.region_code JOIN regions a ON r.path LIKE a.path || '%')",
        columns.join(", ")
    )
}

/// Writes a transaction's deltas: summed per group, each added to the group's region and every
/// region above it, by each of the three dimensions. Rows are written in key order, so
/// concurrent transactions lock shared rows in the same order.
pub(crate) async fn flush(conn: &mut Conn, deltas: &[Delta]) -> Result<(), sqlx::Error> {
    let mut summed: BTreeMap<&Group, Counts> = BTreeMap::new();
    let mut places: BTreeMap<&Place, i64> = BTreeMap::new();
    for delta in deltas {
        match delta {
            Delta::Day(group, counts) => summed.entry(group).or_default().add(counts, 1),
            Delta::Open(place, orders) => *places.entry(place).or_default() += orders,
        }
    }
    summed.retain(|_, c| !c.is_zero());
    places.retain(|_, n| *n != 0);
    flush_places(conn, places.into_iter().collect()).await?;
    let groups: Vec<(&Group, Counts)> = summed.into_iter().collect();
    for chunk in groups.chunks(GROUPS_PER_STATEMENT) {
        let sql = format!(
            "WITH v (region_code, {}) AS (VALUES {}), {}, keyed AS ({})
             INSERT INTO workorder_tallies (region_code, day, dimension, value, orders, closed, on_time, timed,
                                            handled_ms, satisfied, basically_satisfied, dissatisfied)
             SELECT * FROM keyed WHERE true ORDER BY region_code, day, dimension, value
             ON CONFLICT (region_code, day, dimension, value) DO UPDATE SET
                 orders = workorder_tallies.orders + excluded.orders,
                 closed = workorder_tallies.closed + excluded.closed,
                 on_time = workorder_tallies.on_time + excluded.on_time,
                 timed = workorder_tallies.timed + excluded.timed,
                 handled_ms = workorder_tallies.handled_ms + excluded.handled_ms,
                 satisfied = workorder_tallies.satisfied + excluded.satisfied,
                 basically_satisfied = workorder_tallies.basically_satisfied + excluded.basically_satisfied,
                 dissatisfied = workorder_tallies.dissatisfied + excluded.dissatisfied",
            DAY_COLUMNS.join(", "),
            value_rows(Backend::of(conn), chunk.len(), 1 + DAY_COLUMNS.len()),
            rolled_up("v", &DAY_COLUMNS),
            by_dimension("rolled"),
        );
        // Only placeholders and constants are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (group, c) in chunk {
            query = query
                .bind(&group.region_code)
                .bind(group.day)
                .bind(&group.channel)
                .bind(&group.category)
                .bind(&group.department)
                .bind(c.orders)
                .bind(c.closed)
                .bind(c.on_time)
                .bind(c.timed)
                .bind(c.handled_ms)
                .bind(c.satisfied)
                .bind(c.basically_satisfied)
                .bind(c.dissatisfied);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes the open orders' changes per place, to the place's region and every region above it,
/// per grid and per cell, in key order.
async fn flush_places(conn: &mut Conn, places: Vec<(&Place, i64)>) -> Result<(), sqlx::Error> {
    for chunk in places.chunks(GROUPS_PER_STATEMENT) {
        let sql = format!(
            "WITH v (region_code, {}) AS (VALUES {}), {}, keyed AS ({})
             INSERT INTO workorder_open_places (region_code, dimension, value, orders)
             SELECT * FROM keyed WHERE true ORDER BY region_code, dimension, value
             ON CONFLICT (region_code, dimension, value) DO UPDATE SET
                 orders = workorder_open_places.orders + excluded.orders",
            PLACE_COLUMNS.join(", "),
            value_rows(Backend::of(conn), chunk.len(), 1 + PLACE_COLUMNS.len()),
            rolled_up("v", &PLACE_COLUMNS),
            places_by_dimension("rolled"),
        );
        // Only placeholders and constants are spliced in; every value is bound.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (place, orders) in chunk {
            query = query.bind(&place.region_code).bind(&place.grid).bind(&place.cell).bind(*orders);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The grid and cell rows of `source` (region_code, grid, cell, orders), summed per key.
fn places_by_dimension(source: &str) -> String {
    ["grid", "cell"]
        .map(|d| {
            format!(
                "SELECT region_code, '{d}' AS dimension, {d} AS value, CAST(SUM(orders) AS BIGINT) AS orders
                 FROM {source} WHERE {d} <> '' GROUP BY region_code, {d}"
            )
        })
        .join(" UNION ALL ")
}

/// The three dimensions' rows of `source` (region_code, then [`DAY_COLUMNS`]), summed per key.
fn by_dimension(source: &str) -> String {
    let sums = "CAST(SUM(orders) AS BIGINT), CAST(SUM(closed) AS BIGINT), CAST(SUM(on_time) AS BIGINT),
                CAST(SUM(timed) AS BIGINT), CAST(SUM(handled_ms) AS BIGINT), CAST(SUM(satisfied) AS BIGINT),
                CAST(SUM(basically_satisfied) AS BIGINT), CAST(SUM(dissatisfied) AS BIGINT)";
    ["channel", "category", "department"]
        .map(|d| {
            format!(
                "SELECT region_code, day, '{d}' AS dimension, {d} AS value, {sums} FROM {source}
                 GROUP BY region_code, day, {d}"
            )
        })
        .join(" UNION ALL ")
}

/// Counts every stored order again, replacing the totals and the open orders' places (in the
/// caller's transaction).
pub async fn recount(conn: &mut Conn) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM workorder_tallies").execute(&mut *conn).await?;
    let sql = format!(
        "WITH own AS (
             SELECT region_code, (created_at + 28800000) / 86400000 AS day, channel,
                    COALESCE(substr(category_code, 1, 2), '') AS category,
                    COALESCE(CAST(department_id AS TEXT), '') AS department,
                    COUNT(*) AS orders,
                    SUM(CASE WHEN state = 'closed' THEN 1 ELSE 0 END) AS closed,
                    SUM(CASE WHEN state = 'closed' AND closed_at < deadline_at THEN 1 ELSE 0 END) AS on_time,
                    SUM(CASE WHEN state = 'closed' AND closed_at IS NOT NULL THEN 1 ELSE 0 END) AS timed,
                    SUM(CASE WHEN state = 'closed' AND closed_at IS NOT NULL THEN closed_at - created_at ELSE 0 END)
                        AS handled_ms,
                    SUM(CASE WHEN satisfaction IN ('very_satisfied', 'satisfied') THEN 1 ELSE 0 END) AS satisfied,
                    SUM(CASE WHEN satisfaction = 'basically_satisfied' THEN 1 ELSE 0 END) AS basically_satisfied,
                    SUM(CASE WHEN satisfaction IN ('dissatisfied', 'very_dissatisfied') THEN 1 ELSE 0 END)
                        AS dissatisfied
             FROM workorders WHERE emergency IS NULL
             GROUP BY region_code, (created_at + 28800000) / 86400000, channel,
                      COALESCE(substr(category_code, 1, 2), ''), COALESCE(CAST(department_id AS TEXT), '')),
         {}
         INSERT INTO workorder_tallies (region_code, day, dimension, value, orders, closed, on_time, timed,
                                        handled_ms, satisfied, basically_satisfied, dissatisfied)
         {}",
        rolled_up("own", &DAY_COLUMNS),
        by_dimension("rolled")
    );
    // Only constants are spliced in.
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM workorder_open_places").execute(&mut *conn).await?;
    let sql = format!(
        "WITH own AS (
             SELECT region_code, COALESCE(grid_code, '') AS grid,
                    CASE WHEN lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
                         THEN CAST(lat_e6 / 1000 AS TEXT) || ',' || CAST(lon_e6 / 1000 AS TEXT) ELSE '' END AS cell,
                    COUNT(*) AS orders
             FROM workorders
             WHERE state IN ('pending', 'dispatched', 'signed', 'replied') AND emergency IS NULL
             GROUP BY region_code, COALESCE(grid_code, ''),
                      CASE WHEN lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
                           THEN CAST(lat_e6 / 1000 AS TEXT) || ',' || CAST(lon_e6 / 1000 AS TEXT) ELSE '' END),
         {}
         INSERT INTO workorder_open_places (region_code, dimension, value, orders)
         {}",
        rolled_up("own", &PLACE_COLUMNS),
        places_by_dimension("rolled")
    );
    // Only constants are spliced in.
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

/// The open orders now in the regions `region_codes` (which must not nest), per grid and per
/// cell: (dimension, value, orders).
pub async fn read_open(conn: &mut Conn, region_codes: &[String]) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    let regions: Vec<String> = (1..=region_codes.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT dimension, value, CAST(SUM(orders) AS BIGINT) FROM workorder_open_places
         WHERE region_code IN ({}) AND orders > 0 GROUP BY dimension, value",
        regions.join(", ")
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for code in region_codes {
        query = query.bind(code);
    }
    query.fetch_all(conn).await
}

/// One summed line of the totals: (dimension, value, the eight counts in [`Counts`]' order).
pub type Line = (String, String, i64, i64, i64, i64, i64, i64, i64, i64);

/// The totals of `days` (inclusive) over the regions `region_codes`, which must not nest (a
/// region and one above it would count the same orders twice): a line per dimension and value,
/// and orders per day.
pub async fn read(
    conn: &mut Conn,
    region_codes: &[String],
    days: (i64, i64),
) -> Result<(Vec<Line>, Vec<(i64, i64)>), sqlx::Error> {
    let regions: Vec<String> = (0..region_codes.len()).map(|i| format!("${}", i + 3)).collect();
    let regions = regions.join(", ");
    let lines = format!(
        "SELECT dimension, value, CAST(SUM(orders) AS BIGINT), CAST(SUM(closed) AS BIGINT),
                CAST(SUM(on_time) AS BIGINT), CAST(SUM(timed) AS BIGINT), CAST(SUM(handled_ms) AS BIGINT),
                CAST(SUM(satisfied) AS BIGINT), CAST(SUM(basically_satisfied) AS BIGINT),
                CAST(SUM(dissatisfied) AS BIGINT)
         FROM workorder_tallies WHERE day >= $1 AND day <= $2 AND region_code IN ({regions})
         GROUP BY dimension, value"
    );
    let daily = format!(
        "SELECT day, CAST(SUM(orders) AS BIGINT) FROM workorder_tallies
         WHERE day >= $1 AND day <= $2 AND region_code IN ({regions}) AND dimension = 'channel'
         GROUP BY day"
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_as::<_, Line>(sqlx::AssertSqlSafe(lines)).bind(days.0).bind(days.1);
    for code in region_codes {
        query = query.bind(code);
    }
    let lines = query.fetch_all(&mut *conn).await?;
    let mut query = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(daily)).bind(days.0).bind(days.1);
    for code in region_codes {
        query = query.bind(code);
    }
    let daily = query.fetch_all(&mut *conn).await?;
    Ok((lines, daily))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order<'a>(state: &'a str, department_id: Option<i64>, satisfaction: Option<&'a str>) -> Tallied<'a> {
        Tallied {
            region_code: "440402001",
            // 2026-12-04 23:30 in China is 15:30 UTC.
            created_at: 1_796_398_200_000,
            emergency: None,
            channel: "hotline",
            category_code: Some("0101"),
            department_id,
            state,
            closed_at: (state == "closed").then_some(1_796_398_200_000 + 3_600_000),
            deadline_at: Some(1_796_398_200_000 + 7_200_000),
            satisfaction,
            grid_code: Some("440402001001-01"),
            lat_e6: Some(22_218_000),
            lon_e6: Some(113_547_000),
        }
    }

    #[test]
    fn an_order_is_counted_on_its_china_day_in_its_groups() {
        let (group, counts) = order("closed", Some(7), Some("satisfied")).counted().unwrap();
        assert_eq!(group.day, (1_796_398_200_000 + CHINA_OFFSET_MS) / DAY_MS);
        assert_eq!(
            chrono::DateTime::from_timestamp_millis(group.day * DAY_MS).unwrap().date_naive().to_string(),
            "2026-12-04"
        );
        assert_eq!((group.category.as_str(), group.department.as_str()), ("01", "7"));
        assert_eq!(
            counts,
            Counts {
                orders: 1,
                closed: 1,
                on_time: 1,
                timed: 1,
                handled_ms: 3_600_000,
                satisfied: 1,
                basically_satisfied: 0,
                dissatisfied: 0
            }
        );
        let open = order("signed", None, None).counted().unwrap();
        assert_eq!(open.0.department, "");
        assert_eq!(open.1, Counts { orders: 1, ..Counts::default() });
        let place = order("signed", None, None).open_place().unwrap();
        assert_eq!((place.grid.as_str(), place.cell.as_str()), ("440402001001-01", "22218,113547"));
        assert!(order("closed", Some(7), None).open_place().is_none(), "closed orders leave the map");
        let mut emergency = order("redirected", None, None);
        emergency.emergency = Some("110");
        assert!(emergency.counted().is_none());
    }
}
