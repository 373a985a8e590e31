//! Evaluation SQL: service events, ratings with their tags, rectifications. Only these tables.

use crate::store::Conn;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub reference: String,
    pub item_code: String,
    pub item_name: String,
    pub department_id: i64,
    pub department_code: String,
    pub department_name: String,
    pub region_path: String,
    pub staff_id: Option<i64>,
    pub requester_id: Option<i64>,
    pub served_at: i64,
    pub open_round: i64,
    pub round_opened_at: i64,
}

const EVENT_COLUMNS: &str =
    "id, kind, reference, item_code, item_name, department_id, department_code, department_name,
    region_path, staff_id, requester_id, served_at, open_round, round_opened_at";

pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub reference: &'a str,
    pub item_code: &'a str,
    pub item_name: &'a str,
    pub department_id: i64,
    pub department_code: &'a str,
    pub department_name: &'a str,
    pub region_path: &'a str,
    pub staff_id: Option<i64>,
    pub requester_id: Option<i64>,
    pub token_sha256: Option<&'a str>,
    pub at: i64,
}

/// Records a service event; when it was recorded before (a work order closed again after
/// re-handling), opens its second round instead. Returns the event's id.
pub async fn upsert_event(conn: &mut Conn, e: &NewEvent<'_>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO service_events (kind, reference, item_code, item_name, department_id, department_code,
             department_name, region_path, staff_id, requester_id, token_sha256, served_at, open_round, round_opened_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $12)
         ON CONFLICT (kind, reference) DO UPDATE SET open_round = 2, round_opened_at = $12, staff_id = $9
         RETURNING id",
    )
    .bind(e.kind)
    .bind(e.reference)
    .bind(e.item_code)
    .bind(e.item_name)
    .bind(e.department_id)
    .bind(e.department_code)
    .bind(e.department_name)
    .bind(e.region_path)
    .bind(e.staff_id)
    .bind(e.requester_id)
    .bind(e.token_sha256)
    .bind(e.at)
    .fetch_one(conn)
    .await
}

pub async fn event(conn: &mut Conn, kind: &str, reference: &str) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM service_events WHERE kind = $1 AND reference = $2"
    )))
    .bind(kind)
    .bind(reference)
    .fetch_optional(conn)
    .await
}

pub async fn event_by_id(conn: &mut Conn, id: i64) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM service_events WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn event_by_token(conn: &mut Conn, sha256: &str) -> Result<Option<EventRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {EVENT_COLUMNS} FROM service_events WHERE token_sha256 = $1")))
        .bind(sha256)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RatingRow {
    pub id: i64,
    pub event_id: i64,
    pub round: i64,
    pub level: String,
    pub channel: i64,
    pub body: String,
    pub is_default: i64,
    pub rated_at: i64,
    pub ruling: Option<String>,
    pub ruling_reason: Option<String>,
    pub ruled_at: Option<i64>,
}

const RATING_COLUMNS: &str =
    "id, event_id, round, level, channel, body, is_default, rated_at, ruling, ruling_reason, ruled_at";

pub struct NewRating<'a> {
    pub event_id: i64,
    pub round: i64,
    pub level: &'a str,
    pub channel: i64,
    pub body: &'a str,
    pub is_default: bool,
    pub rated_by: Option<i64>,
    pub at: i64,
}

/// Inserts a rating unless its event's round is rated already; returns its id, or None.
pub async fn insert_rating(conn: &mut Conn, r: &NewRating<'_>) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO ratings (event_id, round, level, channel, body, is_default, rated_by, rated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (event_id, round) DO NOTHING
         RETURNING id",
    )
    .bind(r.event_id)
    .bind(r.round)
    .bind(r.level)
    .bind(r.channel)
    .bind(r.body)
    .bind(i64::from(r.is_default))
    .bind(r.rated_by)
    .bind(r.at)
    .fetch_optional(conn)
    .await
}

pub async fn insert_tag(conn: &mut Conn, rating_id: i64, tag: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO rating_tags (rating_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(rating_id)
        .bind(tag)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn ratings_of(conn: &mut Conn, event_id: i64) -> Result<Vec<RatingRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RATING_COLUMNS} FROM ratings WHERE event_id = $1 ORDER BY round"
    )))
    .bind(event_id)
    .fetch_all(conn)
    .await
}

pub async fn rating(conn: &mut Conn, id: i64) -> Result<Option<RatingRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RATING_COLUMNS} FROM ratings WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn tags_of(conn: &mut Conn, rating_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT tag FROM rating_tags WHERE rating_id = $1 ORDER BY tag")
        .bind(rating_id)
        .fetch_all(conn)
        .await
}

/// Sets a ruling once; false when the rating was ruled already.
pub async fn rule(
    conn: &mut Conn,
    rating_id: i64,
    ruling: &str,
    reason: &str,
    by: i64,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE ratings SET ruling = $2, ruling_reason = $3, ruled_by = $4, ruled_at = $5
         WHERE id = $1 AND ruling IS NULL",
    )
    .bind(rating_id)
    .bind(ruling)
    .bind(reason)
    .bind(by)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Opens the second round of an event (after a rectification's reply), once.
pub async fn open_second_round(conn: &mut Conn, event_id: i64, at: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE service_events SET open_round = 2, round_opened_at = $2 WHERE id = $1 AND open_round = 1")
            .bind(event_id)
            .bind(at)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Events whose open round began before `before` and is still unrated: (event id, round).
pub async fn unrated_since(conn: &mut Conn, before: i64) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, e.open_round FROM service_events e
         WHERE e.round_opened_at <= $1
           AND NOT EXISTS (SELECT 1 FROM ratings r WHERE r.event_id = e.id AND r.round = e.open_round)
         ORDER BY e.id LIMIT 1000",
    )
    .bind(before)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RectificationRow {
    pub id: i64,
    pub event_id: i64,
    pub department_id: i64,
    pub state: String,
    pub opened_at: i64,
    pub deadline_at: i64,
    pub overdue: i64,
    pub replied_at: Option<i64>,
    pub steps: String,
}

const RECTIFICATION_COLUMNS: &str =
    "id, event_id, department_id, state, opened_at, deadline_at, overdue, replied_at, steps";

pub async fn insert_rectification(
    conn: &mut Conn,
    rating_id: i64,
    event_id: i64,
    department_id: i64,
    opened_at: i64,
    deadline_at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO rectifications (rating_id, event_id, department_id, state, opened_at, deadline_at)
         VALUES ($1, $2, $3, 'opened', $4, $5) RETURNING id",
    )
    .bind(rating_id)
    .bind(event_id)
    .bind(department_id)
    .bind(opened_at)
    .bind(deadline_at)
    .fetch_one(conn)
    .await
}

pub async fn rectification(conn: &mut Conn, id: i64) -> Result<Option<RectificationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn rectification_of(conn: &mut Conn, rating_id: i64) -> Result<Option<RectificationRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RECTIFICATION_COLUMNS} FROM rectifications WHERE rating_id = $1"
    )))
    .bind(rating_id)
    .fetch_optional(conn)
    .await
}

/// Moves a rectification one step, from the state read; false when it moved meanwhile.
pub async fn step_rectification(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: &str,
    steps: &str,
    replied_at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE rectifications SET state = $3, steps = $4, replied_at = COALESCE($5, replied_at)
         WHERE id = $1 AND state = $2",
    )
    .bind(id)
    .bind(from)
    .bind(to)
    .bind(steps)
    .bind(replied_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A line of a department's task list: the rectification with its event and rating.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub state: String,
    pub opened_at: i64,
    pub deadline_at: i64,
    pub overdue: i64,
    pub replied_at: Option<i64>,
    pub kind: String,
    pub reference: String,
    pub item_name: String,
    pub department_name: String,
    pub level: String,
    pub ruling: Option<String>,
}

/// Rectifications of the given departments or under the given region paths, open ones first.
pub async fn tasks(conn: &mut Conn, departments: &[i64], region_paths: &[String]) -> Result<Vec<TaskRow>, sqlx::Error> {
    let mut clauses = Vec::new();
    let mut n = 0;
    for _ in departments {
        n += 1;
        clauses.push(format!("x.department_id = ${n}"));
    }
    for _ in region_paths {
        n += 1;
        clauses.push(format!("e.region_path LIKE ${n}"));
    }
    if clauses.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT x.id, x.state, x.opened_at, x.deadline_at, x.overdue, x.replied_at, e.kind, e.reference, e.item_name,
                e.department_name, r.level, r.ruling
         FROM rectifications x JOIN service_events e ON e.id = x.event_id JOIN ratings r ON r.id = x.rating_id
         WHERE {}
         ORDER BY CASE WHEN x.state = 'replied' THEN 1 ELSE 0 END, x.deadline_at LIMIT 500",
        clauses.join(" OR ")
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for d in departments {
        query = query.bind(*d);
    }
    for p in region_paths {
        query = query.bind(format!("{p}%"));
    }
    query.fetch_all(conn).await
}

/// Marks unreplied rectifications past their deadline as overdue; returns their ids.
pub async fn mark_overdue(conn: &mut Conn, now: i64) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE rectifications SET overdue = 1
         WHERE state <> 'replied' AND deadline_at < $1 AND overdue = 0
         RETURNING id",
    )
    .bind(now)
    .fetch_all(conn)
    .await
}
