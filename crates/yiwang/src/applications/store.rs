//! SQL for applications, their materials, events and uploaded files.

use crate::store::{Conn, WriteTx, deferred};

pub async fn insert_file(
    conn: &mut Conn,
    sha256: &str,
    account_id: i64,
    content_type: &str,
    size_bytes: i64,
    file_name: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO files (sha256, account_id, content_type, size_bytes, file_name, uploaded_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256, account_id) DO NOTHING",
    )
    .bind(sha256)
    .bind(account_id)
    .bind(content_type)
    .bind(size_bytes)
    .bind(file_name)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// (content type, file name) of a file the account uploaded.
pub async fn file_of(conn: &mut Conn, sha256: &str, account_id: i64) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT content_type, file_name FROM files WHERE sha256 = $1 AND account_id = $2")
        .bind(sha256)
        .bind(account_id)
        .fetch_optional(conn)
        .await
}

/// (content type, size in bytes) of a file the account uploaded.
pub async fn file_type_and_size(
    conn: &mut Conn,
    sha256: &str,
    account_id: i64,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT content_type, size_bytes FROM files WHERE sha256 = $1 AND account_id = $2")
        .bind(sha256)
        .bind(account_id)
        .fetch_optional(conn)
        .await
}

/// (id, region code, name, region path) of a department.
pub async fn department(conn: &mut Conn, code: &str) -> Result<Option<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.region_code, d.name, r.path FROM departments d JOIN regions r ON r.code = d.region_code
         WHERE d.code = $1",
    )
    .bind(code)
    .fetch_optional(conn)
    .await
}

/// (situation, version, decision table) of the newest rule of each situation of an item.
pub async fn current_rules(conn: &mut Conn, item_code: &str) -> Result<Vec<(String, i64, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.situation, r.version, r.decision_table FROM approval_rules r
         WHERE r.item_code = $1
           AND r.version = (SELECT MAX(x.version) FROM approval_rules x WHERE x.item_code = $1 AND x.situation = r.situation)",
    )
    .bind(item_code)
    .fetch_all(conn)
    .await
}

/// The next number of the day in a region.
pub async fn next_sequence(conn: &mut Conn, region_code: &str, day: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO application_numbers (region_code, day, last) VALUES ($1, $2, 1)
         ON CONFLICT (region_code, day) DO UPDATE SET last = application_numbers.last + 1 RETURNING last",
    )
    .bind(region_code)
    .bind(day)
    .fetch_one(conn)
    .await
}

pub struct NewApplication<'a> {
    pub number: &'a str,
    pub item_code: &'a str,
    pub item_version: i64,
    pub item_name: &'a str,
    pub situation_code: &'a str,
    pub department_id: i64,
    pub applicant_id: i64,
    pub form: &'a str,
}

/// Stores a new application as its first steps left it (an instant decision takes them at once).
pub async fn insert(conn: &mut Conn, a: &NewApplication<'_>, at: Transition<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO applications (number, item_code, item_version, item_name, situation_code, department_id,
                applicant_id, state, resume_state, clock, deadline_at, alarm, form, submitted_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
    )
    .bind(a.number)
    .bind(a.item_code)
    .bind(a.item_version)
    .bind(a.item_name)
    .bind(a.situation_code)
    .bind(a.department_id)
    .bind(a.applicant_id)
    .bind(at.state)
    .bind(at.resume_state)
    .bind(at.clock)
    .bind(at.deadline_at)
    .bind(at.alarm)
    .bind(a.form)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// How one material was supplied: its source and the file or certificate.
pub struct MaterialRow<'a> {
    pub code: &'a str,
    pub source: &'a str,
    pub sha256: Option<&'a str>,
    pub certificate_id: Option<&'a str>,
}

/// Saves how materials were supplied, replacing what an earlier supply of the same material said.
/// At most one row per material code (PostgreSQL refuses to update a row twice in one statement).
pub async fn set_materials(conn: &mut Conn, application_id: i64, rows: &[MaterialRow<'_>]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..rows.len())
        .map(|i| format!("($1, ${}, ${}, ${}, ${})", 4 * i + 2, 4 * i + 3, 4 * i + 4, 4 * i + 5))
        .collect();
    let sql = format!(
        "INSERT INTO application_materials (application_id, material_code, source, sha256, certificate_id) VALUES {}
         ON CONFLICT (application_id, material_code)
         DO UPDATE SET source = excluded.source, sha256 = excluded.sha256, certificate_id = excluded.certificate_id",
        values.join(", ")
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(application_id);
    for m in rows {
        query = query.bind(m.code).bind(m.source).bind(m.sha256).bind(m.certificate_id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// (material code, source, sha256, certificate id) of an application's materials.
pub type MaterialListRow = (String, String, Option<String>, Option<String>);

pub async fn materials(conn: &mut Conn, application_id: i64) -> Result<Vec<MaterialListRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT material_code, source, sha256, certificate_id FROM application_materials WHERE application_id = $1
         ORDER BY material_code",
    )
    .bind(application_id)
    .fetch_all(conn)
    .await
}

#[derive(sqlx::FromRow)]
pub struct ApplicationRow {
    pub id: i64,
    pub number: String,
    pub item_code: String,
    pub item_version: i64,
    pub item_name: String,
    pub situation_code: String,
    pub department_id: i64,
    pub department_code: String,
    pub department_name: String,
    pub region_path: String,
    pub applicant_id: i64,
    pub state: String,
    pub resume_state: Option<String>,
    pub form: String,
    pub clock: Option<String>,
    pub deadline_at: Option<i64>,
    pub alarm: String,
    pub review_step: i64,
    pub submitted_at: i64,
    pub updated_at: i64,
}

const SELECT: &str = "SELECT a.id, a.number, a.item_code, a.item_version, a.item_name, a.situation_code,
        a.department_id, d.code AS department_code, d.name AS department_name, r.path AS region_path, a.applicant_id,
        a.state, a.resume_state, a.form, a.clock, a.deadline_at, a.alarm, a.review_step, a.submitted_at, a.updated_at
     FROM applications a JOIN departments d ON d.id = a.department_id JOIN regions r ON r.code = d.region_code";

/// One application by number, or (number `None`) a page of them filtered by applicant and
/// department codes, newest first. Only the conditions given are in the SQL, and a department is
/// matched by its id, so that the planner walks the (department, submitted) index in order.
pub async fn select(
    conn: &mut Conn,
    number: Option<&str>,
    applicant_id: Option<i64>,
    department_code: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    let mut conditions = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if number.is_some() {
        conditions.push(format!("a.number = {}", next()));
    }
    if applicant_id.is_some() {
        conditions.push(format!("a.applicant_id = {}", next()));
    }
    if department_code.is_some() {
        conditions.push(format!("a.department_id = (SELECT id FROM departments WHERE code = {})", next()));
    }
    let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    let sql = format!("{SELECT}{filter} ORDER BY a.submitted_at DESC, a.id DESC LIMIT {} OFFSET {}", next(), next());
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    if let Some(number) = number {
        query = query.bind(number);
    }
    if let Some(applicant) = applicant_id {
        query = query.bind(applicant);
    }
    if let Some(code) = department_code {
        query = query.bind(code);
    }
    query.bind(limit).bind(offset).fetch_all(conn).await
}

/// A department's open applications (not yet decided and delivered), those whose time runs
/// out first at the top.
/// The open applications of the departments `department_codes`, the earliest deadline first
/// (those without one, paused for a supplement, last).
pub async fn select_open(
    conn: &mut Conn,
    department_codes: &[String],
    limit: i64,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    if department_codes.is_empty() {
        return Ok(Vec::new());
    }
    let codes: Vec<String> = (0..department_codes.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "{SELECT} WHERE a.department_id IN (SELECT id FROM departments WHERE code IN ({}))
           AND a.state IN ('submitted', 'accepted', 'supplement_requested', 'approved')
         ORDER BY a.deadline_at NULLS LAST, a.submitted_at, a.id LIMIT $1",
        codes.join(", ")
    );
    // Only placeholders are spliced in; every value is bound.
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit);
    for code in department_codes {
        query = query.bind(code);
    }
    query.fetch_all(conn).await
}

pub struct Transition<'a> {
    pub state: &'a str,
    pub resume_state: Option<&'a str>,
    pub clock: Option<&'a str>,
    pub deadline_at: Option<i64>,
    pub alarm: &'a str,
}

/// Moves an application, only if it is still in `from` (a concurrent step loses).
pub async fn transition(
    conn: &mut Conn,
    id: i64,
    from: &str,
    to: Transition<'_>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query(
        "UPDATE applications SET state = $1, resume_state = $2, clock = $3, deadline_at = $4, alarm = $5, updated_at = $6
         WHERE id = $7 AND state = $8",
    )
    .bind(to.state)
    .bind(to.resume_state)
    .bind(to.clock)
    .bind(to.deadline_at)
    .bind(to.alarm)
    .bind(now)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(moved.rows_affected() == 1)
}

pub struct NewEvent<'a> {
    pub action: &'a str,
    pub from_state: Option<&'a str>,
    pub to_state: &'a str,
    pub actor_id: Option<i64>,
    pub reason: &'a str,
    pub details: &'a str,
}

/// Appends events to an application's history in one statement, numbered after those it has.
/// The first events of an application written in this transaction, numbered from 1, deferred
/// to `COMMIT` with the batch's others (nothing reads them back before).
pub fn defer_first_events(tx: &mut WriteTx, application_id: i64, events: &[NewEvent<'_>], now: i64) {
    for (seq, e) in (1i64..).zip(events) {
        deferred::insert(
            tx,
            "INSERT INTO application_events (application_id, seq, action, from_state, to_state, actor_id, at, reason,
                    details) VALUES",
            vec![
                application_id.into(),
                seq.into(),
                e.action.into(),
                e.from_state.into(),
                e.to_state.into(),
                e.actor_id.into(),
                now.into(),
                e.reason.into(),
                e.details.into(),
            ],
        );
    }
}

pub async fn insert_events(
    conn: &mut Conn,
    application_id: i64,
    events: &[NewEvent<'_>],
    now: i64,
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = (0..events.len())
        .map(|i| {
            let b = 6 * i + 2;
            format!("({}, ${}, ${}, ${}, ${}, ${}, ${})", i + 1, b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
        })
        .collect();
    // `VALUES` columns are named column1… on both backends; the numbering reads the history once.
    let sql = format!(
        "INSERT INTO application_events (application_id, seq, action, from_state, to_state, actor_id, at, reason, details)
         SELECT $1, base.last + v.column1, v.column2, v.column3, v.column4, v.column5, $2, v.column6, v.column7
         FROM (SELECT COALESCE(MAX(seq), 0) AS last FROM application_events WHERE application_id = $1) base
         CROSS JOIN (VALUES {}) v",
        values.join(", ")
    );
    // Only placeholders and row numbers are spliced in; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(application_id).bind(now);
    for e in events {
        query =
            query.bind(e.action).bind(e.from_state).bind(e.to_state).bind(e.actor_id).bind(e.reason).bind(e.details);
    }
    query.execute(conn).await?;
    Ok(())
}

/// (action, from, to, actor display name, at, reason, details) of an application, in order.
pub type EventRow = (String, Option<String>, String, Option<String>, i64, String, String);

pub async fn events(conn: &mut Conn, application_id: i64) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.action, e.from_state, e.to_state, ac.display_name, e.at, e.reason, e.details
         FROM application_events e LEFT JOIN accounts ac ON ac.id = e.actor_id
         WHERE e.application_id = $1 ORDER BY e.seq",
    )
    .bind(application_id)
    .fetch_all(conn)
    .await
}

/// (id, clock, alarm) of every application whose time limit runs.
pub async fn running(conn: &mut Conn) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, clock, alarm FROM applications WHERE state = 'accepted' AND clock IS NOT NULL")
        .fetch_all(conn)
        .await
}

pub async fn set_alarm(conn: &mut Conn, id: i64, alarm: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE applications SET alarm = $1 WHERE id = $2 AND state = 'accepted'")
        .bind(alarm)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The certificates an application's approval issued.
pub async fn issued_certificates(conn: &mut Conn, number: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM certificates WHERE application_number = $1 ORDER BY id")
        .bind(number)
        .fetch_all(conn)
        .await
}
