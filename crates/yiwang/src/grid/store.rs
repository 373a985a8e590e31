//! SQL for grids and their workers.

use super::Grid;
use crate::store::Conn;

pub async fn all(conn: &mut Conn) -> Result<Vec<Grid>, sqlx::Error> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT g.code, g.name, g.community_code, r.path, g.geometry FROM grids g
         JOIN regions r ON r.code = g.community_code ORDER BY g.code",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(code, name, community_code, region_path, geometry)| Grid {
            code,
            name,
            community_code,
            region_path,
            geometry: serde_json::from_str(&geometry).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

pub async fn upsert(
    conn: &mut Conn,
    code: &str,
    name: &str,
    community: &str,
    geometry: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO grids (code, name, community_code, geometry) VALUES ($1, $2, $3, $4)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, community_code = excluded.community_code,
                                          geometry = excluded.geometry",
    )
    .bind(code)
    .bind(name)
    .bind(community)
    .bind(geometry)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_worker(conn: &mut Conn, grid: &str, account_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO grid_workers (grid_code, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(grid)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The grids a worker patrols.
pub async fn grids_of(conn: &mut Conn, account_id: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT grid_code FROM grid_workers WHERE account_id = $1 ORDER BY grid_code")
        .bind(account_id)
        .fetch_all(conn)
        .await
}
