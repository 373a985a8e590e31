//! SQL for the holiday table.

use chrono::NaiveDate;
use yiwang_calendar::{DayKind, SpecialDay};

use crate::store::Conn;

fn kind_str(kind: &DayKind) -> &'static str {
    match kind {
        DayKind::Holiday => "holiday",
        DayKind::MakeUpWorkday => "make_up_workday",
    }
}

pub async fn count(conn: &mut Conn) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM holidays").fetch_one(conn).await
}

pub async fn upsert(conn: &mut Conn, day: &SpecialDay, by: Option<i64>, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO holidays (day, kind, name, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, name = excluded.name,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(day.date.format("%Y-%m-%d").to_string())
    .bind(kind_str(&day.kind))
    .bind(day.name.trim())
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, date: NaiveDate) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM holidays WHERE day = $1")
        .bind(date.format("%Y-%m-%d").to_string())
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn all(conn: &mut Conn) -> Result<Vec<SpecialDay>, sqlx::Error> {
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT day, kind, name FROM holidays ORDER BY day").fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(day, kind, name)| {
            let date = NaiveDate::parse_from_str(&day, "%Y-%m-%d").ok()?;
            let kind = if kind == "holiday" { DayKind::Holiday } else { DayKind::MakeUpWorkday };
            Some(SpecialDay { date, kind, name })
        })
        .collect())
}
