//! SQL for work orders, their events, photos and co-handlers, categories, the dispatch catalogue,
//! time limits and sequences.

use super::tallies::{self, Tallied};
use crate::store::{Conn, WriteTx};

pub async fn next_sequence(conn: &mut Conn, region_code: &str, day: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO workorder_numbers (region_code, day, last) VALUES ($1, $2, 1)
         ON CONFLICT (region_code, day) DO UPDATE SET last = workorder_numbers.last + 1 RETURNING last",
    )
    .bind(region_code)
    .bind(day)
    .fetch_one(conn)
    .await
}

/// Inserts an order built in memory; its number, and for a sensor alarm or an Open311 request
/// the alarm key or token, are given beside it.
pub async fn insert(
    tx: &mut WriteTx,
    r: &Row,
    number: &str,
    alarm_key: Option<&str>,
    open311_token: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let id = sqlx::query_scalar(
        "INSERT INTO workorders (number, request_type, channel, requester_kind, requester_account, requester_name,
                requester_phone, title, body, category_code, suggestions, attributes, address, lat_e6, lon_e6,
                grid_code, region_code, department_id, state, emergency, respond_by, deadline_at, reply, alarm_key,
                open311_token, closed_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22,
                 $23, $24, $25, $26, $27, $27)
         RETURNING id",
    )
    .bind(number)
    .bind(&r.request_type)
    .bind(&r.channel)
    .bind(&r.requester_kind)
    .bind(r.requester_account)
    .bind(&r.requester_name)
    .bind(&r.requester_phone)
    .bind(&r.title)
    .bind(&r.body)
    .bind(&r.category_code)
    .bind(&r.suggestions)
    .bind(&r.attributes)
    .bind(&r.address)
    .bind(r.lat_e6)
    .bind(r.lon_e6)
    .bind(&r.grid_code)
    .bind(&r.region_code)
    .bind(r.department_id)
    .bind(&r.state)
    .bind(&r.emergency)
    .bind(r.respond_by)
    .bind(r.deadline_at)
    .bind(&r.reply)
    .bind(alarm_key)
    .bind(open311_token)
    .bind(r.closed_at)
    .bind(r.created_at)
    .fetch_one(&mut **tx)
    .await?;
    tallies::record(tx, None, &r.tallied());
    Ok(id)
}

#[derive(sqlx::FromRow, Clone)]
pub struct Row {
    pub id: i64,
    pub number: String,
    pub request_type: String,
    pub channel: String,
    pub requester_kind: String,
    pub requester_account: Option<i64>,
    pub requester_name: Option<String>,
    pub requester_phone: Option<String>,
    pub title: String,
    pub body: String,
    pub category_code: Option<String>,
    pub suggestions: String,
    pub attributes: String,
    pub address: Option<String>,
    pub lat_e6: Option<i64>,
    pub lon_e6: Option<i64>,
    pub grid_code: Option<String>,
    pub region_code: String,
    pub region_path: String,
    pub department_id: Option<i64>,
    pub department_code: Option<String>,
    pub department_name: Option<String>,
    pub state: String,
    pub emergency: Option<String>,
    pub respond_by: Option<i64>,
    pub signed_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub alarm: String,
    pub returned: i64,
    pub reopened: i64,
    pub supervised: i64,
    pub escalated: i64,
    pub difficulty: Option<String>,
    pub extension_days: Option<i64>,
    pub extension_reason: Option<String>,
    pub reply: Option<String>,
    pub satisfaction: Option<String>,
    pub rated_via: Option<String>,
    pub duplicate_of: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

impl Row {
    fn tallied(&self) -> Tallied<'_> {
        Tallied {
            region_code: &self.region_code,
            created_at: self.created_at,
            emergency: self.emergency.as_deref(),
            channel: &self.channel,
            category_code: self.category_code.as_deref(),
            department_id: self.department_id,
            state: &self.state,
            closed_at: self.closed_at,
            deadline_at: self.deadline_at,
            satisfaction: self.satisfaction.as_deref(),
            grid_code: self.grid_code.as_deref(),
            lat_e6: self.lat_e6,
            lon_e6: self.lon_e6,
        }
    }
}

const SELECT: &str = "SELECT w.id, w.number, w.request_type, w.channel, w.requester_kind, w.requester_account,
        w.requester_name, w.requester_phone, w.title, w.body, w.category_code, w.suggestions, w.attributes, w.address,
        w.lat_e6, w.lon_e6, w.grid_code, w.region_code, r.path AS region_path, w.department_id,
        d.code AS department_code, d.name AS department_name, w.state, w.emergency, w.respond_by, w.signed_at,
        w.deadline_at, w.alarm, w.returned, w.reopened, w.supervised, w.escalated, w.difficulty, w.extension_days,
        w.extension_reason, w.reply, w.satisfaction, w.rated_via, w.duplicate_of, w.created_at, w.updated_at, w.closed_at
     FROM workorders w JOIN regions r ON r.code = w.region_code LEFT JOIN departments d ON d.id = w.department_id";

pub async fn by_number(conn: &mut Conn, number: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE w.number = $1"))).bind(number).fetch_optional(conn).await
}

pub async fn by_id(conn: &mut Conn, id: i64) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE w.id = $1"))).bind(id).fetch_optional(conn).await
}

pub async fn by_token(conn: &mut Conn, token: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE w.open311_token = $1")))
        .bind(token)
        .fetch_optional(conn)
        .await
}

pub async fn open_alarm(conn: &mut Conn, alarm_key: &str) -> Result<Option<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE w.alarm_key = $1 AND w.state NOT IN ('closed', 'redirected', 'merged')"
    )))
    .bind(alarm_key)
    .fetch_optional(conn)
    .await
}

// The supervisor board's sections, as `Filter::condition`s. The open states are written out as
// constants so that the planner can prove the open-orders partial indexes (migration 0020) apply.
const OPEN: &str = "w.state IN ('pending', 'dispatched', 'signed', 'replied')";
pub const BOARD_NEAR_DUE: &str = "w.state IN ('pending', 'dispatched', 'signed', 'replied') AND w.alarm = 'yellow'";
pub const BOARD_OVERDUE: &str = "w.state IN ('pending', 'dispatched', 'signed', 'replied') AND w.alarm = 'red'";
pub const BOARD_RETURNED: &str = "w.state = 'pending' AND w.returned = 1";
pub const BOARD_REOPENED: &str = "w.state IN ('pending', 'dispatched', 'signed', 'replied') AND w.reopened = 1";
pub const BOARD_EXTENSIONS: &str =
    "w.state IN ('pending', 'dispatched', 'signed', 'replied') AND w.extension_days IS NOT NULL";

/// The codes of the regions at or below the paths.
pub async fn regions_under(conn: &mut Conn, paths: &[String]) -> Result<Vec<String>, sqlx::Error> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let conditions: Vec<String> = (1..=paths.len()).map(|i| format!("path LIKE ${i}")).collect();
    let sql = format!("SELECT code FROM regions WHERE {} ORDER BY code", conditions.join(" OR "));
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for path in paths {
        query = query.bind(format!("{path}%"));
    }
    query.fetch_all(conn).await
}

/// Which work orders a list asks for. Every condition is optional; scope conditions are joined
/// with OR (an actor sees the union of what each of their roles reaches).
#[derive(Default)]
pub struct Filter<'a> {
    pub states: Vec<&'a str>,
    pub category_prefix: Option<&'a str>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub numbers: Vec<&'a str>,
    pub requester_account: Option<i64>,
    pub requester_phone: Option<&'a str>,
    pub alarm: Option<&'a str>,
    /// Orders updated at or after this instant (for change feeds).
    pub updated_since: Option<i64>,
    /// A constant condition of the caller's (never user input), e.g. one section of the board.
    pub condition: Option<&'static str>,
    pub scope: Scope<'a>,
}

#[derive(Default)]
pub struct Scope<'a> {
    /// No restriction (public lists, Open311 clients).
    pub everything: bool,
    /// Regions named one by one (their orders, not those of regions below; see
    /// [`regions_under`]): the planner estimates these from the column's statistics, where a
    /// path prefix defeats it and picks plans that read every open order.
    pub region_codes: Vec<&'a str>,
    pub departments: Vec<i64>,
    pub grids: Vec<&'a str>,
    pub requester_account: Option<i64>,
}

/// Builds the WHERE clause with `$n` placeholders and the values to bind, in order.
fn clause(filter: &Filter<'_>) -> (String, Vec<Bind>) {
    let mut parts: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    if !filter.states.is_empty() {
        let list: Vec<String> = filter.states.iter().map(|s| push(&mut binds, Bind::Text(s.to_string()))).collect();
        parts.push(format!("w.state IN ({})", list.join(", ")));
    }
    if let Some(prefix) = filter.category_prefix {
        parts.push(format!("w.category_code LIKE {}", push(&mut binds, Bind::Text(format!("{prefix}%")))));
    }
    if let Some(from) = filter.from_ms {
        parts.push(format!("w.created_at >= {}", push(&mut binds, Bind::Int(from))));
    }
    if let Some(to) = filter.to_ms {
        parts.push(format!("w.created_at < {}", push(&mut binds, Bind::Int(to))));
    }
    if let Some(since) = filter.updated_since {
        parts.push(format!("w.updated_at >= {}", push(&mut binds, Bind::Int(since))));
    }
    if !filter.numbers.is_empty() {
        let list: Vec<String> = filter.numbers.iter().map(|n| push(&mut binds, Bind::Text(n.to_string()))).collect();
        parts.push(format!("w.number IN ({})", list.join(", ")));
    }
    if let Some(account) = filter.requester_account {
        parts.push(format!("w.requester_account = {}", push(&mut binds, Bind::Int(account))));
    }
    if let Some(phone) = filter.requester_phone {
        parts.push(format!("w.requester_phone = {}", push(&mut binds, Bind::Text(phone.to_owned()))));
    }
    if let Some(alarm) = filter.alarm {
        parts.push(format!("w.alarm = {}", push(&mut binds, Bind::Text(alarm.to_owned()))));
    }
    if let Some(condition) = filter.condition {
        parts.push(format!("({condition})"));
    }
    let scope = &filter.scope;
    if !scope.everything {
        let mut any: Vec<String> = Vec::new();
        if !scope.region_codes.is_empty() {
            let list: Vec<String> =
                scope.region_codes.iter().map(|c| push(&mut binds, Bind::Text(c.to_string()))).collect();
            any.push(format!("w.region_code IN ({})", list.join(", ")));
        }
        for department in &scope.departments {
            let d = push(&mut binds, Bind::Int(*department));
            any.push(format!(
                "(w.department_id = {d} OR EXISTS (SELECT 1 FROM workorder_co_handlers c
                   WHERE c.workorder_id = w.id AND c.department_id = {d}))"
            ));
        }
        for grid in &scope.grids {
            any.push(format!("w.grid_code = {}", push(&mut binds, Bind::Text(grid.to_string()))));
        }
        if let Some(account) = scope.requester_account {
            any.push(format!("w.requester_account = {}", push(&mut binds, Bind::Int(account))));
        }
        if any.is_empty() {
            any.push("1 = 0".into());
        }
        parts.push(format!("({})", any.join(" OR ")));
    }
    let sql = if parts.is_empty() { String::new() } else { format!(" WHERE {}", parts.join(" AND ")) };
    (sql, binds)
}

fn push(binds: &mut Vec<Bind>, value: Bind) -> String {
    binds.push(value);
    format!("${}", binds.len())
}

enum Bind {
    Text(String),
    Int(i64),
}

/// Binds a clause's values, in order.
fn bound<'q, O>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

pub async fn select(conn: &mut Conn, filter: &Filter<'_>, limit: i64, offset: i64) -> Result<Vec<Row>, sqlx::Error> {
    let (where_sql, binds) = clause(filter);
    let n = binds.len();
    let sql = format!("{SELECT}{where_sql} ORDER BY w.created_at DESC, w.id DESC LIMIT ${} OFFSET ${}", n + 1, n + 2);
    // Only placeholders are spliced in; every value is bound.
    bound(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)), binds).bind(limit).bind(offset).fetch_all(conn).await
}

/// Most urgent first: the earliest deadline of the open orders in scope (open orders have one).
pub async fn select_urgent(conn: &mut Conn, filter: &Filter<'_>, limit: i64) -> Result<Vec<Row>, sqlx::Error> {
    let (where_sql, binds) = clause(filter);
    let sql = format!("{SELECT}{where_sql} ORDER BY w.deadline_at NULLS LAST, w.id LIMIT ${}", binds.len() + 1);
    // Only placeholders are spliced in; every value is bound.
    bound(sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)), binds).bind(limit).fetch_all(conn).await
}

/// How many orders each section of the board holds.
pub struct BoardTotals {
    pub near_due: i64,
    pub overdue: i64,
    pub returned: i64,
    pub reopened: i64,
    pub extensions: i64,
}

/// Counts the board's sections in one pass over the open orders in scope.
pub async fn board_totals(conn: &mut Conn, scope: Scope<'_>) -> Result<BoardTotals, sqlx::Error> {
    let filter = Filter { condition: Some(OPEN), scope, ..Default::default() };
    let (where_sql, binds) = clause(&filter);
    let count = |condition: &str| format!("CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)");
    let sql = format!(
        "SELECT {}, {}, {}, {}, {} FROM workorders w{where_sql}",
        count(BOARD_NEAR_DUE),
        count(BOARD_OVERDUE),
        count(BOARD_RETURNED),
        count(BOARD_REOPENED),
        count(BOARD_EXTENSIONS),
    );
    // Only placeholders and constants are spliced in; every value is bound.
    let query = sqlx::query_as::<_, (Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>)>(
        sqlx::AssertSqlSafe(sql),
    );
    let (near_due, overdue, returned, reopened, extensions) = bound(query, binds).fetch_one(conn).await?;
    Ok(BoardTotals {
        near_due: near_due.unwrap_or(0),
        overdue: overdue.unwrap_or(0),
        returned: returned.unwrap_or(0),
        reopened: reopened.unwrap_or(0),
        extensions: extensions.unwrap_or(0),
    })
}

pub struct Change<'a> {
    pub state: &'a str,
    pub department_id: Option<i64>,
    pub category_code: Option<&'a str>,
    pub respond_by: Option<i64>,
    pub signed_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub alarm: &'a str,
    pub returned: i64,
    pub reopened: i64,
    pub supervised: i64,
    pub escalated: i64,
    pub difficulty: Option<&'a str>,
    pub extension_days: Option<i64>,
    pub extension_reason: Option<&'a str>,
    pub reply: Option<&'a str>,
    pub satisfaction: Option<&'a str>,
    pub rated_via: Option<&'a str>,
    pub duplicate_of: Option<i64>,
    pub closed_at: Option<i64>,
}

/// Writes the changed order, only if nobody changed it since it was read (`updated_at` and
/// state unchanged): a concurrent step loses and is told so.
pub async fn update(tx: &mut WriteTx, row: &Row, c: Change<'_>, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workorders SET state = $1, department_id = $2, category_code = $3, respond_by = $4, signed_at = $5,
                deadline_at = $6, alarm = $7, returned = $8, reopened = $9, supervised = $10, escalated = $11,
                difficulty = $12, extension_days = $13, extension_reason = $14, reply = $15, satisfaction = $16,
                rated_via = $17, duplicate_of = $18, closed_at = $19, updated_at = $20
         WHERE id = $21 AND state = $22 AND updated_at = $23",
    )
    .bind(c.state)
    .bind(c.department_id)
    .bind(c.category_code)
    .bind(c.respond_by)
    .bind(c.signed_at)
    .bind(c.deadline_at)
    .bind(c.alarm)
    .bind(c.returned)
    .bind(c.reopened)
    .bind(c.supervised)
    .bind(c.escalated)
    .bind(c.difficulty)
    .bind(c.extension_days)
    .bind(c.extension_reason)
    .bind(c.reply)
    .bind(c.satisfaction)
    .bind(c.rated_via)
    .bind(c.duplicate_of)
    .bind(c.closed_at)
    .bind(now)
    .bind(row.id)
    .bind(&row.state)
    .bind(row.updated_at)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    let after = Tallied {
        state: c.state,
        category_code: c.category_code,
        department_id: c.department_id,
        closed_at: c.closed_at,
        deadline_at: c.deadline_at,
        satisfaction: c.satisfaction,
        ..row.tallied()
    };
    tallies::record(tx, Some(&row.tallied()), &after);
    Ok(true)
}

pub struct EventRow<'a> {
    pub workorder_id: i64,
    pub action: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: &'a str,
    pub actor_id: Option<i64>,
    pub department_id: Option<i64>,
    pub note: &'a str,
    pub details: &'a str,
}

pub async fn insert_event(conn: &mut Conn, e: EventRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO workorder_events (workorder_id, action, from_state, to_state, actor_id, department_id, note,
                                       details, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(e.workorder_id)
    .bind(e.action)
    .bind(e.from_state)
    .bind(e.to_state)
    .bind(e.actor_id)
    .bind(e.department_id)
    .bind(e.note)
    .bind(e.details)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Several events of one order in one statement (intake and automatic dispatch come together).
pub async fn insert_events(conn: &mut Conn, events: &[EventRow<'_>], now: i64) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let b = i * 8;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8,
                events.len() * 8 + 1
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO workorder_events (workorder_id, action, from_state, to_state, actor_id, department_id, note, details, at)
         VALUES {}",
        rows.join(", ")
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for e in events {
        query = query
            .bind(e.workorder_id)
            .bind(e.action)
            .bind(e.from_state)
            .bind(e.to_state)
            .bind(e.actor_id)
            .bind(e.department_id)
            .bind(e.note)
            .bind(e.details);
    }
    query.bind(now).execute(conn).await?;
    Ok(())
}

/// (action, from, to, actor display name, department name, note, details, at)
pub type EventLine = (String, Option<String>, String, Option<String>, Option<String>, String, String, i64);

pub async fn events(conn: &mut Conn, workorder_id: i64) -> Result<Vec<EventLine>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.action, e.from_state, e.to_state, a.display_name, d.name, e.note, e.details, e.at
         FROM workorder_events e LEFT JOIN accounts a ON a.id = e.actor_id LEFT JOIN departments d ON d.id = e.department_id
         WHERE e.workorder_id = $1 ORDER BY e.id",
    )
    .bind(workorder_id)
    .fetch_all(conn)
    .await
}

/// Events of all orders after an instant, for the Open311 update feed:
/// (event id, order number, to_state, note, at).
pub async fn events_between(
    conn: &mut Conn,
    from_ms: i64,
    to_ms: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, w.number, e.to_state, e.note, e.at FROM workorder_events e JOIN workorders w ON w.id = e.workorder_id
         WHERE e.at >= $1 AND e.at < $2 AND w.emergency IS NULL ORDER BY e.at, e.id LIMIT $3",
    )
    .bind(from_ms)
    .bind(to_ms)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Whether the account asked for an order that was merged into this one.
pub async fn merged_requester(conn: &mut Conn, workorder_id: i64, account_id: i64) -> Result<bool, sqlx::Error> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM workorders WHERE duplicate_of = $1 AND requester_account = $2 LIMIT 1")
            .bind(workorder_id)
            .bind(account_id)
            .fetch_optional(conn)
            .await?;
    Ok(found.is_some())
}

pub async fn add_photo(
    conn: &mut Conn,
    workorder_id: i64,
    sha256: &str,
    content_type: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workorder_photos (workorder_id, sha256, content_type) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(workorder_id)
    .bind(sha256)
    .bind(content_type)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn photos(conn: &mut Conn, workorder_id: i64) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT sha256, content_type FROM workorder_photos WHERE workorder_id = $1 ORDER BY sha256")
        .bind(workorder_id)
        .fetch_all(conn)
        .await
}

pub async fn add_co_handler(conn: &mut Conn, workorder_id: i64, department_id: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO workorder_co_handlers (workorder_id, department_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(workorder_id)
    .bind(department_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// (department id, code, name)
pub async fn co_handlers(conn: &mut Conn, workorder_id: i64) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.code, d.name FROM workorder_co_handlers c JOIN departments d ON d.id = c.department_id
         WHERE c.workorder_id = $1 ORDER BY d.code",
    )
    .bind(workorder_id)
    .fetch_all(conn)
    .await
}

/// Open orders whose alarm is not what their time says: (id, state, created, respond_by, deadline, alarm).
pub async fn running(
    conn: &mut Conn,
) -> Result<Vec<(i64, String, i64, Option<i64>, Option<i64>, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, state, created_at, respond_by, deadline_at, alarm FROM workorders
         WHERE state IN ('pending', 'dispatched', 'signed') AND deadline_at IS NOT NULL AND alarm <> 'red'",
    )
    .fetch_all(conn)
    .await
}

pub async fn set_alarm(conn: &mut Conn, id: i64, from: &str, to: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE workorders SET alarm = $1 WHERE id = $2 AND alarm = $3")
        .bind(to)
        .bind(id)
        .bind(from)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Open orders near a point within a time window, for duplicate suggestions:
/// rows inside the bounding box (the caller measures the true distance).
pub async fn near(
    conn: &mut Conn,
    lat_e6: (i64, i64),
    lon_e6: (i64, i64),
    since_ms: i64,
) -> Result<Vec<Row>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE w.lat_e6 BETWEEN $1 AND $2 AND w.lon_e6 BETWEEN $3 AND $4 AND w.created_at >= $5
           AND w.state IN ('pending', 'dispatched', 'signed', 'replied') ORDER BY w.created_at DESC LIMIT 50"
    )))
    .bind(lat_e6.0)
    .bind(lat_e6.1)
    .bind(lon_e6.0)
    .bind(lon_e6.1)
    .bind(since_ms)
    .fetch_all(conn)
    .await
}

pub async fn categories(conn: &mut Conn) -> Result<Vec<(String, String, i64, Option<String>, String)>, sqlx::Error> {
    sqlx::query_as("SELECT code, name, level, parent_code, attributes FROM workorder_categories ORDER BY code")
        .fetch_all(conn)
        .await
}

pub async fn insert_category(
    conn: &mut Conn,
    code: &str,
    name: &str,
    level: i64,
    parent: Option<&str>,
    attributes: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workorder_categories (code, name, level, parent_code, attributes) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, attributes = excluded.attributes",
    )
    .bind(code)
    .bind(name)
    .bind(level)
    .bind(parent)
    .bind(attributes)
    .execute(conn)
    .await?;
    Ok(())
}

/// Adds a category or renames or moves it, keeping its service attributes.
pub async fn upsert_category(
    conn: &mut Conn,
    code: &str,
    name: &str,
    level: i64,
    parent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workorder_categories (code, name, level, parent_code) VALUES ($1, $2, $3, $4)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, parent_code = excluded.parent_code",
    )
    .bind(code)
    .bind(name)
    .bind(level)
    .bind(parent)
    .execute(conn)
    .await?;
    Ok(())
}

/// (category, department code, territorial)
pub async fn dispatch_catalogue(conn: &mut Conn) -> Result<Vec<(String, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT category_code, department_code, territorial FROM dispatch_catalogue ORDER BY category_code")
        .fetch_all(conn)
        .await
}

pub async fn set_dispatch(
    conn: &mut Conn,
    category: &str,
    department_code: Option<&str>,
    territorial: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dispatch_catalogue (category_code, department_code, territorial) VALUES ($1, $2, $3)
         ON CONFLICT (category_code) DO UPDATE SET department_code = excluded.department_code,
                                                   territorial = excluded.territorial",
    )
    .bind(category)
    .bind(department_code)
    .bind(territorial as i64)
    .execute(conn)
    .await?;
    Ok(())
}

/// (request type, requester kind, respond hours, handle days)
pub async fn time_limits(conn: &mut Conn) -> Result<Vec<(String, String, Option<i64>, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT request_type, requester_kind, respond_hours, handle_days FROM workorder_time_limits")
        .fetch_all(conn)
        .await
}

pub async fn set_time_limit(
    conn: &mut Conn,
    request_type: &str,
    requester_kind: &str,
    respond_hours: Option<i64>,
    handle_days: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workorder_time_limits (request_type, requester_kind, respond_hours, handle_days)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (request_type, requester_kind) DO UPDATE SET respond_hours = excluded.respond_hours,
                                                                  handle_days = excluded.handle_days",
    )
    .bind(request_type)
    .bind(requester_kind)
    .bind(respond_hours)
    .bind(handle_days)
    .execute(conn)
    .await?;
    Ok(())
}

/// (id, code, name, region code) of every department.
pub async fn departments(conn: &mut Conn) -> Result<Vec<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, code, name, region_code FROM departments ORDER BY code").fetch_all(conn).await
}

/// Dispatcher overrides: the order text and the category a dispatcher chose instead of the
/// classifier's first suggestion, for retraining.
pub async fn overrides(conn: &mut Conn) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT w.title, w.body, w.category_code FROM workorders w
         WHERE w.category_code IS NOT NULL AND EXISTS (SELECT 1 FROM workorder_events e
               WHERE e.workorder_id = w.id AND e.action = 'dispatch' AND e.details LIKE '%\"override\":true%')",
    )
    .fetch_all(conn)
    .await
}
