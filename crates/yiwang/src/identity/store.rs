//! SQL for the identity tables, and nothing else.

use crate::store::Conn;

use super::model::{RegionLevel, Role};

/// What signing in checks of an account.
pub struct AccountRow {
    pub id: i64,
    pub kind: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

pub async fn insert_region(
    conn: &mut Conn,
    code: &str,
    name: &str,
    level: RegionLevel,
    parent: Option<(&str, &str)>,
) -> Result<String, sqlx::Error> {
    let path = match parent {
        Some((_, parent_path)) => format!("{parent_path}{code}/"),
        None => format!("/{code}/"),
    };
    sqlx::query("INSERT INTO regions (code, name, level, parent_code, path) VALUES ($1, $2, $3, $4, $5)")
        .bind(code)
        .bind(name)
        .bind(level as i64)
        .bind(parent.map(|(c, _)| c))
        .bind(&path)
        .execute(conn)
        .await?;
    Ok(path)
}

pub async fn insert_department(conn: &mut Conn, code: &str, name: &str, region_code: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO departments (code, name, region_code) VALUES ($1, $2, $3) RETURNING id")
        .bind(code)
        .bind(name)
        .bind(region_code)
        .fetch_one(conn)
        .await
}

pub async fn insert_account(
    conn: &mut Conn,
    kind: &str,
    login: &str,
    display_name: &str,
    password_hash: Option<&str>,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO accounts (kind, login, display_name, password_hash, created_at)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(login)
    .bind(display_name)
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn insert_role(conn: &mut Conn, account_id: i64, department_id: i64, role: Role) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO staff_roles (account_id, department_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(account_id)
        .bind(department_id)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_resident(
    conn: &mut Conn,
    account_id: Option<i64>,
    id_number: &str,
    name: &str,
    phone: Option<&str>,
    region_code: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO residents (account_id, id_number, name, phone, region_code, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(account_id)
    .bind(id_number)
    .bind(name)
    .bind(phone)
    .bind(region_code)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub struct NewEnterpriseRow<'a> {
    pub account_id: Option<i64>,
    pub credit_code: &'a str,
    pub name: &'a str,
    pub legal_representative: &'a str,
    pub phone: Option<&'a str>,
    pub region_code: &'a str,
}

pub async fn insert_enterprise(conn: &mut Conn, e: NewEnterpriseRow<'_>, now: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO enterprises (account_id, credit_code, name, legal_representative, phone, region_code, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.account_id)
    .bind(e.credit_code)
    .bind(e.name)
    .bind(e.legal_representative)
    .bind(e.phone)
    .bind(e.region_code)
    .bind(now)
    .fetch_one(conn)
    .await
}

pub async fn account_by_login(conn: &mut Conn, login: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    let row: Option<(i64, String, Option<String>, i64)> =
        sqlx::query_as("SELECT id, kind, password_hash, disabled FROM accounts WHERE login = $1")
            .bind(login)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id, kind, password_hash, disabled)| AccountRow { id, kind, password_hash, disabled: disabled != 0 }))
}

/// (kind, display name, disabled, resident id, enterprise id) of an account, in one query: it is
/// read on every request.
/// An account and one role it holds (none: a row with no role), as [`principal_rows`] and
/// [`session_principal_rows`] return it: every signed-in request needs it, in one query.
#[derive(sqlx::FromRow)]
pub struct PrincipalRow {
    pub account_id: i64,
    pub kind: String,
    pub display_name: String,
    pub disabled: i64,
    pub resident_id: Option<i64>,
    pub enterprise_id: Option<i64>,
    /// The resident's ID number or the enterprise's credit code, and its registered name.
    pub identity_code: Option<String>,
    pub legal_name: Option<String>,
    pub role: Option<String>,
    pub department_id: Option<i64>,
    pub department_name: Option<String>,
    pub region_code: Option<String>,
    pub region_path: Option<String>,
    /// The session's CSRF token, when read through a session.
    pub csrf_token: Option<String>,
}

const PRINCIPAL_COLUMNS: &str = "SELECT a.id AS account_id, a.kind, a.display_name, a.disabled,
        p.id AS resident_id, e.id AS enterprise_id,
        COALESCE(p.id_number, e.credit_code) AS identity_code, COALESCE(p.name, e.name) AS legal_name,
        sr.role, d.id AS department_id, d.name AS department_name, r.code AS region_code, r.path AS region_path";
const PRINCIPAL_ROLES: &str =
    "LEFT JOIN residents p ON p.account_id = a.id LEFT JOIN enterprises e ON e.account_id = a.id
        LEFT JOIN staff_roles sr ON sr.account_id = a.id
        LEFT JOIN departments d ON d.id = sr.department_id LEFT JOIN regions r ON r.code = d.region_code";

pub async fn principal_rows(conn: &mut Conn, id: i64) -> Result<Vec<PrincipalRow>, sqlx::Error> {
    let sql = format!(
        "{PRINCIPAL_COLUMNS}, NULL AS csrf_token FROM accounts a {PRINCIPAL_ROLES} WHERE a.id = $1 ORDER BY d.id, sr.role"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(conn).await
}

/// The account of a live session, with its roles and the session's CSRF token.
pub async fn session_principal_rows(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> Result<Vec<PrincipalRow>, sqlx::Error> {
    let sql = format!(
        "{PRINCIPAL_COLUMNS}, s.csrf_token FROM sessions s JOIN accounts a ON a.id = s.account_id {PRINCIPAL_ROLES}
         WHERE s.token_hash = $1 AND s.expires_at > $2 ORDER BY d.id, sr.role"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(token_hash).bind(now).fetch_all(conn).await
}

pub async fn region_path(conn: &mut Conn, code: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT path FROM regions WHERE code = $1").bind(code).fetch_optional(conn).await
}

/// (id, id number, name, phone, region code, region name, region path)
pub type ResidentRow = (i64, String, String, Option<String>, String, String, String);

const RESIDENT_COLUMNS: &str = "SELECT p.id, p.id_number, p.name, p.phone, r.code, r.name, r.path
     FROM residents p JOIN regions r ON r.code = p.region_code";

pub async fn resident(conn: &mut Conn, id: i64) -> Result<Option<ResidentRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{RESIDENT_COLUMNS} WHERE p.id = $1")))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Residents registered in the region with `path` or below it.
pub async fn residents_under(
    conn: &mut Conn,
    path: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<ResidentRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{RESIDENT_COLUMNS} WHERE r.path LIKE $1 ORDER BY p.id LIMIT $2 OFFSET $3"
    )))
    .bind(format!("{path}%"))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await
}

/// (id, credit code, name, legal representative, phone, region code, region name, region path)
pub type EnterpriseRow = (i64, String, String, String, Option<String>, String, String, String);

pub async fn enterprise(conn: &mut Conn, id: i64) -> Result<Option<EnterpriseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, e.credit_code, e.name, e.legal_representative, e.phone, r.code, r.name, r.path
         FROM enterprises e JOIN regions r ON r.code = e.region_code WHERE e.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// (code, name, level, parent code, path)
pub async fn regions(conn: &mut Conn) -> Result<Vec<(String, String, i64, Option<String>, String)>, sqlx::Error> {
    sqlx::query_as("SELECT code, name, level, parent_code, path FROM regions ORDER BY path").fetch_all(conn).await
}

/// (id, code, name, region code)
pub async fn departments(conn: &mut Conn) -> Result<Vec<(i64, String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, code, name, region_code FROM departments ORDER BY id").fetch_all(conn).await
}

/// (department id, department region path)
pub async fn department_region_path(conn: &mut Conn, department_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT r.path FROM departments d JOIN regions r ON r.code = d.region_code WHERE d.id = $1")
        .bind(department_id)
        .fetch_optional(conn)
        .await
}

/// Staff accounts holding a role in a department of the region `path` or below: (id, login, name).
pub async fn staff_under(conn: &mut Conn, path: &str) -> Result<Vec<(i64, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT a.id, a.login, a.display_name
         FROM accounts a JOIN staff_roles sr ON sr.account_id = a.id
         JOIN departments d ON d.id = sr.department_id JOIN regions r ON r.code = d.region_code
         WHERE r.path LIKE $1 ORDER BY a.id",
    )
    .bind(format!("{path}%"))
    .fetch_all(conn)
    .await
}

pub async fn insert_session(
    conn: &mut Conn,
    token_hash: &str,
    account_id: i64,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(csrf)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// (account id, csrf token) of a live session.
pub async fn delete_session(conn: &mut Conn, token_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(conn).await?;
    Ok(())
}

pub async fn purge_expired(conn: &mut Conn, now: i64, failures_before: i64) -> Result<u64, sqlx::Error> {
    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(&mut *conn).await?;
    let failures =
        sqlx::query("DELETE FROM login_failures WHERE at < $1").bind(failures_before).execute(&mut *conn).await?;
    let oidc = sqlx::query("DELETE FROM oidc_logins WHERE expires_at <= $1").bind(now).execute(conn).await?;
    Ok(sessions.rows_affected() + failures.rows_affected() + oidc.rows_affected())
}

/// A sign-in started at the identity platform and not yet finished.
pub struct PendingOidcLogin {
    pub nonce: String,
    pub pkce_verifier: String,
    pub next_path: Option<String>,
    pub expires_at: i64,
}

pub async fn insert_oidc_login(
    conn: &mut Conn,
    state_hash: &str,
    pending: &PendingOidcLogin,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oidc_logins (state_hash, nonce, pkce_verifier, next_path, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(state_hash)
    .bind(&pending.nonce)
    .bind(&pending.pkce_verifier)
    .bind(pending.next_path.as_deref())
    .bind(now)
    .bind(pending.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Removes and returns the pending sign-in for this state, so that it is used at most once.
pub async fn take_oidc_login(conn: &mut Conn, state_hash: &str) -> Result<Option<PendingOidcLogin>, sqlx::Error> {
    let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
        "DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING nonce, pkce_verifier, next_path, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(nonce, pkce_verifier, next_path, expires_at)| PendingOidcLogin {
        nonce,
        pkce_verifier,
        next_path,
        expires_at,
    }))
}

pub async fn insert_api_token(
    conn: &mut Conn,
    account_id: i64,
    name: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_tokens (account_id, name, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(account_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await
}

pub async fn account_of_api_token(conn: &mut Conn, token_hash: &str, now: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT account_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// (id, name, created at, expires at, revoked at)
pub async fn api_tokens_of(
    conn: &mut Conn,
    account_id: i64,
) -> Result<Vec<(i64, String, i64, i64, Option<i64>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, created_at, expires_at, revoked_at FROM api_tokens WHERE account_id = $1 ORDER BY id",
    )
    .bind(account_id)
    .fetch_all(conn)
    .await
}

pub async fn revoke_api_token(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND account_id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .bind(account_id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_failures(conn: &mut Conn, subject: &str, since: i64) -> Result<(i64, Option<i64>), sqlx::Error> {
    sqlx::query_as("SELECT COUNT(*), MIN(at) FROM login_failures WHERE subject = $1 AND at > $2")
        .bind(subject)
        .bind(since)
        .fetch_one(conn)
        .await
}

pub async fn record_failure(conn: &mut Conn, subject: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)")
        .bind(subject)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn clear_failures(conn: &mut Conn, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE subject = $1").bind(subject).execute(conn).await?;
    Ok(())
}

pub async fn department_id(conn: &mut Conn, code: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM departments WHERE code = $1").bind(code).fetch_optional(conn).await
}

pub async fn department_region(conn: &mut Conn, code: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, region_code FROM departments WHERE code = $1").bind(code).fetch_optional(conn).await
}

pub async fn department_code(conn: &mut Conn, id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM departments WHERE id = $1").bind(id).fetch_optional(conn).await
}

/// (code, name, region path) of a department.
pub async fn department_by_id(conn: &mut Conn, id: i64) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.code, d.name, r.path FROM departments d JOIN regions r ON r.code = d.region_code WHERE d.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// (department code, region path) of every department.
pub async fn department_paths(conn: &mut Conn) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT d.code, r.path FROM departments d JOIN regions r ON r.code = d.region_code")
        .fetch_all(conn)
        .await
}

/// (name, phone) of a resident's or enterprise's account.
pub async fn contact(conn: &mut Conn, account_id: i64) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, phone FROM residents WHERE account_id = $1
         UNION ALL SELECT name, phone FROM enterprises WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(conn)
    .await
}
