//! SQL for certificate types, certificates and their uses.

use crate::store::Conn;

/// (code, name, department code, holder type, fields JSON, validity days)
pub type TypeRow = (String, String, String, String, String, Option<i64>);

pub async fn insert_type(conn: &mut Conn, t: &TypeRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO certificate_types (code, name, department_code, holder_type, fields, validity_days)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&t.0)
    .bind(&t.1)
    .bind(&t.2)
    .bind(&t.3)
    .bind(&t.4)
    .bind(t.5)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn types(conn: &mut Conn) -> Result<Vec<TypeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name, department_code, holder_type, fields, validity_days FROM certificate_types ORDER BY code",
    )
    .fetch_all(conn)
    .await
}

pub async fn type_by_code(conn: &mut Conn, code: &str) -> Result<Option<TypeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT code, name, department_code, holder_type, fields, validity_days FROM certificate_types WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(conn)
    .await
}

pub async fn insert_result(conn: &mut Conn, item_basic_code: &str, type_code: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO certificate_results (item_basic_code, type_code) VALUES ($1, $2)")
        .bind(item_basic_code)
        .bind(type_code)
        .execute(conn)
        .await?;
    Ok(())
}

/// The certificate type an item's approval issues, if any.
pub async fn result_type(conn: &mut Conn, item_basic_code: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT type_code FROM certificate_results WHERE item_basic_code = $1")
        .bind(item_basic_code)
        .fetch_optional(conn)
        .await
}

pub async fn next_serial(conn: &mut Conn, type_code: &str, issuer_code: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO certificate_serials (type_code, issuer_code, last) VALUES ($1, $2, 1)
         ON CONFLICT (type_code, issuer_code) DO UPDATE SET last = certificate_serials.last + 1 RETURNING last",
    )
    .bind(type_code)
    .bind(issuer_code)
    .fetch_one(conn)
    .await
}

/// Reserves `count` serials at once; returns the last of them.
pub async fn reserve_serials(
    conn: &mut Conn,
    type_code: &str,
    issuer_code: &str,
    count: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO certificate_serials (type_code, issuer_code, last) VALUES ($1, $2, $3)
         ON CONFLICT (type_code, issuer_code) DO UPDATE SET last = certificate_serials.last + $3 RETURNING last",
    )
    .bind(type_code)
    .bind(issuer_code)
    .bind(count)
    .fetch_one(conn)
    .await
}

pub struct NewCertificate<'a> {
    pub id: &'a str,
    pub type_code: &'a str,
    pub holder_account_id: i64,
    pub note: &'a str,
    pub sm2_signature: &'a str,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub application_number: Option<&'a str>,
}

pub async fn insert(conn: &mut Conn, c: NewCertificate<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO certificates (id, type_code, holder_account_id, note, sm2_signature, issued_at, expires_at,
                application_number)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(c.id)
    .bind(c.type_code)
    .bind(c.holder_account_id)
    .bind(c.note)
    .bind(c.sm2_signature)
    .bind(c.issued_at)
    .bind(c.expires_at)
    .bind(c.application_number)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
pub struct CertificateRow {
    pub id: String,
    pub type_code: String,
    pub type_name: String,
    pub department_code: String,
    pub holder_account_id: i64,
    pub note: String,
    pub sm2_signature: String,
    pub issued_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
    pub application_number: Option<String>,
}

/// One certificate by id, or (id `None`) a holder's, newest first.
pub async fn select(
    conn: &mut Conn,
    id: Option<&str>,
    holder: Option<i64>,
) -> Result<Vec<CertificateRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.id, c.type_code, t.name AS type_name, t.department_code, c.holder_account_id, c.note, c.sm2_signature, c.issued_at,
                c.expires_at, c.revoked_at, c.revoked_reason, c.application_number
         FROM certificates c JOIN certificate_types t ON t.code = c.type_code
         WHERE ($1 IS NULL OR c.id = $1) AND ($2 IS NULL OR c.holder_account_id = $2)
         ORDER BY c.issued_at DESC, c.id",
    )
    .bind(id)
    .bind(holder)
    .fetch_all(conn)
    .await
}

pub async fn revoke(conn: &mut Conn, id: &str, reason: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE certificates SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub struct NewUse<'a> {
    pub certificate_id: &'a str,
    /// The holder, who alone may use it.
    pub holder_account_id: i64,
    /// The name of the only certificate type the use allows.
    pub type_name: &'a str,
    pub department_code: &'a str,
    pub application_number: Option<&'a str>,
    pub reason: &'a str,
}

/// Records a use, only of the holder's own certificate, of the type allowed, unrevoked and
/// unexpired at `now`; false if any of that does not hold.
pub async fn insert_use(conn: &mut Conn, u: NewUse<'_>, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO certificate_uses (certificate_id, department_code, application_number, reason, used_by, at)
         SELECT c.id, $2, $3, $4, $5, $6 FROM certificates c JOIN certificate_types t ON t.code = c.type_code
         WHERE c.id = $1 AND c.holder_account_id = $5 AND t.name = $7
           AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > $6)",
    )
    .bind(u.certificate_id)
    .bind(u.department_code)
    .bind(u.application_number)
    .bind(u.reason)
    .bind(u.holder_account_id)
    .bind(now)
    .bind(u.type_name)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// (department name, application number, reason, at) of a certificate's uses, newest first.
pub async fn uses(
    conn: &mut Conn,
    certificate_id: &str,
) -> Result<Vec<(String, Option<String>, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.name, u.application_number, u.reason, u.at FROM certificate_uses u
         JOIN departments d ON d.code = u.department_code WHERE u.certificate_id = $1 ORDER BY u.at DESC",
    )
    .bind(certificate_id)
    .fetch_all(conn)
    .await
}

/// The holder's resident ID number or enterprise credit code, and name.
pub async fn holder_identity(
    conn: &mut Conn,
    account_id: i64,
) -> Result<Option<(String, String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT '111', id_number, name FROM residents WHERE account_id = $1
         UNION ALL SELECT '001', credit_code, name FROM enterprises WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(conn)
    .await
}

pub async fn department_name(conn: &mut Conn, code: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM departments WHERE code = $1").bind(code).fetch_optional(conn).await
}
