//! People, enterprises, staff, departments and the region tree (市-区-镇街-村居); sign-in,
//! sessions, API tokens and who may see what.
//!
//! Errors are [`IdentityError`]; `http::error` turns each into its HTTP outcome.

pub mod api;
pub mod model;
pub mod oidc;
pub mod pages;
pub mod password;
pub mod provider;
mod store;

use std::collections::HashSet;

use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::ledger;
use crate::store::{Conn, Store, WriteTx, now_ms, outbox, unique_violation};
pub use model::{CreditCode, InvalidIdentifier, PhoneNumber, RegionLevel, ResidentIdNumber, Role};
pub use store::NewEnterpriseRow;

pub const SESSION_TTL_MS: i64 = 8 * 60 * 60 * 1000;
pub const API_TOKEN_TTL_MS: i64 = 365 * 24 * 60 * 60 * 1000;
/// Failed sign-ins allowed per login within [`FAILURE_WINDOW_MS`] before it is locked.
pub const MAX_FAILURES_PER_LOGIN: i64 = 5;
/// Failed sign-ins allowed per client address within the window (slows password spraying).
pub const MAX_FAILURES_PER_ADDRESS: i64 = 30;
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{field}: {source}")]
    Invalid { field: &'static str, source: InvalidIdentifier },
    #[error("{field}: {message}")]
    Rule { field: &'static str, code: &'static str, message: &'static str },
    #[error("wrong login or password")]
    BadCredentials,
    #[error("too many failed sign-ins")]
    Throttled { retry_after_secs: i64 },
    #[error("{field} is already registered")]
    Duplicate { field: &'static str },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("password hashing failed")]
    Hashing,
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Staff,
    Resident,
    Enterprise,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Staff => "staff",
            AccountKind::Resident => "resident",
            AccountKind::Enterprise => "enterprise",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "resident" => AccountKind::Resident,
            "enterprise" => AccountKind::Enterprise,
            _ => AccountKind::Staff,
        }
    }
}

/// A role held within a department, with the region that bounds what it reaches.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub role: Role,
    pub department_id: i64,
    pub department_name: String,
    pub region_code: String,
    #[serde(skip)]
    pub region_path: String,
}

/// Who is acting: the signed-in account with its roles.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Principal {
    pub account_id: i64,
    pub kind: AccountKind,
    pub display_name: String,
    pub grants: Vec<Grant>,
    pub resident_id: Option<i64>,
    pub enterprise_id: Option<i64>,
    /// A resident's ID number or an enterprise's credit code, with its registered name; kept for
    /// the operations that act in that identity (applying, holding certificates), not shown.
    #[serde(skip)]
    pub registered: Option<(String, String)>,
}

impl Principal {
    pub fn has_role(&self, role: Role) -> bool {
        self.grants.iter().any(|g| g.role == role)
    }

    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.grants.iter().map(|g| g.role).collect();
        roles.dedup();
        roles
    }

    /// The grants whose region contains the region at `path`.
    pub fn grants_over<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.iter().filter(move |g| path.starts_with(&g.region_path))
    }

    pub fn reaches(&self, path: &str) -> bool {
        self.grants_over(path).next().is_some()
    }

    /// A platform admin at the top of the tree (the city), who changes city-wide settings.
    pub fn is_city_admin(&self) -> bool {
        self.grants.iter().any(|g| g.role == Role::PlatformAdmin && g.region_path.matches('/').count() == 2)
    }

    pub fn reaches_with(&self, path: &str, role: Role) -> bool {
        self.grants_over(path).any(|g| g.role == role)
    }

    pub fn sees_personal_data_at(&self, path: &str) -> bool {
        self.grants_over(path).any(|g| g.role.sees_personal_data())
    }

    /// The widest region paths this principal reaches with `role` (none for a resident).
    pub fn scopes_for(&self, role: Option<Role>) -> Vec<String> {
        outermost(self.grants.iter().filter(|g| role.is_none_or(|r| g.role == r)).map(|g| g.region_path.clone()))
    }

    /// The widest region paths this principal reaches with any of `roles`; none contains another,
    /// so counting per path counts nothing twice.
    pub fn scopes_for_any(&self, roles: &[Role]) -> Vec<String> {
        outermost(self.grants.iter().filter(|g| roles.contains(&g.role)).map(|g| g.region_path.clone()))
    }
}

/// Keeps only the outermost paths: "/440400/" already covers "/440400/440402/".
fn outermost(paths: impl Iterator<Item = String>) -> Vec<String> {
    let mut paths: Vec<String> = paths.collect();
    paths.sort();
    paths.dedup();
    let mut outer: Vec<String> = Vec::new();
    for p in paths {
        if !outer.iter().any(|o| p.starts_with(o.as_str())) {
            outer.push(p);
        }
    }
    outer
}

pub async fn load_principal(conn: &mut Conn, account_id: i64) -> Result<Option<Principal>> {
    Ok(principal_of(store::principal_rows(conn, account_id).await?).map(|(principal, _)| principal))
}

/// The principal signed in with a session cookie, and the session's CSRF token.
pub async fn session_principal(conn: &mut Conn, token: &str) -> Result<Option<(Principal, String)>> {
    let rows = store::session_principal_rows(conn, &hash_secret(token), now_ms()).await?;
    Ok(principal_of(rows).map(|(principal, csrf)| (principal, csrf.unwrap_or_default())))
}

/// An enabled account's principal from its rows (one per role held).
fn principal_of(rows: Vec<store::PrincipalRow>) -> Option<(Principal, Option<String>)> {
    let first = rows.first()?;
    if first.disabled != 0 {
        return None;
    }
    let (account_id, kind, display_name) =
        (first.account_id, AccountKind::parse(&first.kind), first.display_name.clone());
    let (resident_id, enterprise_id, csrf) = (first.resident_id, first.enterprise_id, first.csrf_token.clone());
    let registered = first.identity_code.clone().zip(first.legal_name.clone());
    let grants = rows
        .into_iter()
        .filter_map(|row| {
            Some(Grant {
                role: row.role?.parse().ok()?,
                department_id: row.department_id?,
                department_name: row.department_name?,
                region_code: row.region_code?,
                region_path: row.region_path?,
            })
        })
        .collect();
    Some((Principal { account_id, kind, display_name, grants, resident_id, enterprise_id, registered }, csrf))
}

/// A random secret for a cookie or token, and the hash under which it is stored.
fn new_secret() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_secret(&secret);
    (secret, hash)
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Checks a login and password, with throttling per login and per client address.
/// Returns the account id.
pub async fn authenticate(store: &Store, login: &str, password: &str, client: &str) -> Result<i64> {
    let login = login.trim();
    let now = now_ms();
    let subjects = [
        (format!("login:{}", login.to_lowercase()), MAX_FAILURES_PER_LOGIN),
        (format!("addr:{client}"), MAX_FAILURES_PER_ADDRESS),
    ];
    let mut conn = store.pool().acquire().await?;
    for (subject, max) in &subjects {
        let (failures, oldest) = store::count_failures(&mut conn, subject, now - FAILURE_WINDOW_MS).await?;
        if failures >= *max {
            let retry_after_ms = oldest.unwrap_or(now) + FAILURE_WINDOW_MS - now;
            return Err(IdentityError::Throttled { retry_after_secs: (retry_after_ms / 1000).max(1) });
        }
    }
    let account = store::account_by_login(&mut conn, login).await?;
    drop(conn);
    let stored_hash = account.as_ref().and_then(|a| a.password_hash.clone());
    // Verify even when the login is unknown so timing does not reveal which logins exist.
    let verified = password::verify(password, stored_hash.as_deref()).await?;
    match account {
        Some(account) if verified && !account.disabled => {
            let mut tx = store.begin_write().await?;
            store::clear_failures(&mut tx, &subjects[0].0).await?;
            tx.commit().await?;
            Ok(account.id)
        }
        _ => {
            let mut tx = store.begin_write().await?;
            for (subject, _) in &subjects {
                store::record_failure(&mut tx, subject, now).await?;
            }
            tx.commit().await?;
            Err(IdentityError::BadCredentials)
        }
    }
}

pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

pub async fn start_session(store: &Store, account_id: i64) -> Result<NewSession> {
    let (token, token_hash) = new_secret();
    let (csrf_token, _) = new_secret();
    let now = now_ms();
    let expires_at = now + SESSION_TTL_MS;
    let mut tx = store.begin_write().await?;
    store::insert_session(&mut tx, &token_hash, account_id, &csrf_token, now, expires_at).await?;
    tx.commit().await?;
    Ok(NewSession { token, csrf_token, expires_at })
}

pub async fn end_session(store: &Store, token: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    store::delete_session(&mut tx, &hash_secret(token)).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn account_of_api_token(store: &Store, token: &str) -> Result<Option<i64>> {
    account_of_api_token_on(&mut *store.pool().acquire().await?, token).await
}

pub async fn account_of_api_token_on(conn: &mut Conn, token: &str) -> Result<Option<i64>> {
    Ok(store::account_of_api_token(conn, &hash_secret(token), now_ms()).await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub revoked: bool,
}

/// Issues an API token for a machine client acting as `actor`; the secret is returned once.
pub async fn issue_api_token(store: &Store, actor: &Principal, name: &str) -> Result<(ApiToken, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(IdentityError::Rule {
            field: "name",
            code: "invalid_name",
            message: "名称应为1-100个字符 / 1-100 characters",
        });
    }
    let (raw, _) = new_secret();
    // The prefix lets secret scanners recognise a leaked token.
    let secret = format!("yw_{raw}");
    let hash = hash_secret(&secret);
    let now = now_ms();
    let expires_at = now + API_TOKEN_TTL_MS;
    let mut tx = store.begin_write().await?;
    let id = store::insert_api_token(&mut tx, actor.account_id, name, &hash, now, expires_at).await?;
    let event =
        serde_json::json!({"account_id": actor.account_id, "token_id": id, "name": name, "expires_at": expires_at});
    outbox::append(&mut tx, "identity.api_token_issued", &event)?;
    ledger::record(
        &mut tx,
        "identity.api_token_issued",
        format!("api_token:{id}"),
        ledger::actor(Some(actor.account_id)),
        &event,
    )?;
    tx.commit().await?;
    let token = ApiToken {
        id,
        name: name.to_owned(),
        created_at: crate::store::from_ms(now),
        expires_at: crate::store::from_ms(expires_at),
        revoked: false,
    };
    Ok((token, secret))
}

pub async fn api_tokens(store: &Store, actor: &Principal) -> Result<Vec<ApiToken>> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::api_tokens_of(&mut conn, actor.account_id)
        .await?
        .into_iter()
        .map(|(id, name, created_at, expires_at, revoked_at)| ApiToken {
            id,
            name,
            created_at: crate::store::from_ms(created_at),
            expires_at: crate::store::from_ms(expires_at),
            revoked: revoked_at.is_some(),
        })
        .collect())
}

pub async fn revoke_api_token(store: &Store, actor: &Principal, id: i64) -> Result<()> {
    let mut tx = store.begin_write().await?;
    if !store::revoke_api_token(&mut tx, actor.account_id, id, now_ms()).await? {
        return Err(IdentityError::NotFound);
    }
    tx.commit().await?;
    Ok(())
}

/// Removes expired sessions and old sign-in failures; run by a recurring job.
pub async fn purge_expired(store: &Store) -> Result<u64> {
    let now = now_ms();
    let mut tx = store.begin_write().await?;
    let removed = store::purge_expired(&mut tx, now, now - FAILURE_WINDOW_MS).await?;
    tx.commit().await?;
    Ok(removed)
}

/// Checks a new password against the rule and hashes it. Callers do this before opening the write
/// transaction: Argon2 is slow on purpose, and SQLite has one writer.
pub async fn new_password_hash(password: &str) -> Result<String> {
    check_password_rule(password)?;
    password::hash(password).await
}

fn check_password_rule(password: &str) -> Result<()> {
    let long_enough = password.chars().count() >= 8;
    let mixed = password.chars().any(|c| c.is_ascii_digit()) && password.chars().any(|c| c.is_alphabetic());
    if long_enough && mixed && password.len() <= 256 {
        Ok(())
    } else {
        Err(IdentityError::Rule {
            field: "password",
            code: "weak_password",
            message: "密码至少8位，须含字母和数字 / at least 8 characters with letters and digits",
        })
    }
}

fn check_name(field: &'static str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(IdentityError::Rule {
            field, code: "invalid_name", message: "应为1-100个字符 / 1-100 characters"
        });
    }
    Ok(name.to_owned())
}

async fn region_exists(conn: &mut Conn, code: &str) -> Result<()> {
    match store::region_path(conn, code).await? {
        Some(_) => Ok(()),
        None => Err(IdentityError::Rule {
            field: "region_code",
            code: "unknown_region",
            message: "行政区划不存在 / no such region",
        }),
    }
}

fn duplicate(err: sqlx::Error) -> IdentityError {
    match unique_violation(&err).as_deref() {
        Some(c) if c.contains("id_number") => IdentityError::Duplicate { field: "id_number" },
        Some(c) if c.contains("credit_code") => IdentityError::Duplicate { field: "credit_code" },
        Some(c) if c.contains("login") => IdentityError::Duplicate { field: "login" },
        Some(c) if c.contains("departments") => IdentityError::Duplicate { field: "code" },
        _ => IdentityError::Db(err),
    }
}

/// Creates the sign-in account of a resident or enterprise, whose login is its identifier; a login
/// already taken is reported on `field`.
async fn insert_identified_account(
    tx: &mut WriteTx,
    kind: &str,
    (field, login): (&'static str, &str),
    name: &str,
    password_hash: Option<&str>,
    now: i64,
) -> Result<i64> {
    store::insert_account(tx, kind, login, name, password_hash, now).await.map_err(|e| match duplicate(e) {
        IdentityError::Duplicate { .. } => IdentityError::Duplicate { field },
        other => other,
    })
}

pub struct NewResident {
    pub id_number: ResidentIdNumber,
    pub name: String,
    pub phone: Option<PhoneNumber>,
    pub region_code: String,
}

/// Registers a resident with a sign-in account (the login is the ID number); `password_hash`
/// comes from [`new_password_hash`].
pub async fn register_resident(tx: &mut WriteTx, input: NewResident, password_hash: &str) -> Result<i64> {
    Ok(insert_resident_account(tx, input, Some(password_hash)).await?.0)
}

/// Registers a resident whose identity the city's identity platform (统一身份认证) has verified, on
/// their first sign-in through it. The account has no password: it signs in through the platform.
/// Returns (resident id, account id).
pub async fn register_verified_resident(tx: &mut WriteTx, input: NewResident) -> Result<(i64, i64)> {
    insert_resident_account(tx, input, None).await
}

async fn insert_resident_account(
    tx: &mut WriteTx,
    input: NewResident,
    password_hash: Option<&str>,
) -> Result<(i64, i64)> {
    let name = check_name("name", &input.name)?;
    region_exists(tx, &input.region_code).await?;
    let now = now_ms();
    let login = input.id_number.as_str();
    let account = insert_identified_account(tx, "resident", ("id_number", login), &name, password_hash, now).await?;
    let phone = input.phone.as_ref().map(PhoneNumber::as_str);
    let id = store::insert_resident(tx, Some(account), login, &name, phone, &input.region_code, now)
        .await
        .map_err(duplicate)?;
    let event = serde_json::json!({"resident_id": id, "region_code": input.region_code});
    outbox::append(tx, "identity.resident_registered", &event)?;
    // The ID number and name stay out of the log; the payload hash covers the full record.
    let record =
        serde_json::json!({"resident_id": id, "id_number": login, "name": name, "region_code": input.region_code});
    ledger::record(
        tx,
        "identity.resident_registered",
        format!("resident:{id}"),
        format!("account:{account}"),
        &record,
    )?;
    Ok((id, account))
}

pub struct NewEnterprise {
    pub credit_code: CreditCode,
    pub name: String,
    pub legal_representative: String,
    pub phone: Option<PhoneNumber>,
    pub region_code: String,
}

/// Registers an enterprise with a sign-in account (the login is the credit code).
pub async fn register_enterprise(tx: &mut WriteTx, input: NewEnterprise, password_hash: &str) -> Result<i64> {
    let name = check_name("name", &input.name)?;
    let legal = check_name("legal_representative", &input.legal_representative)?;
    region_exists(tx, &input.region_code).await?;
    let now = now_ms();
    let login = input.credit_code.as_str();
    let account =
        insert_identified_account(tx, "enterprise", ("credit_code", login), &name, Some(password_hash), now).await?;
    let row = NewEnterpriseRow {
        account_id: Some(account),
        credit_code: login,
        name: &name,
        legal_representative: &legal,
        phone: input.phone.as_ref().map(PhoneNumber::as_str),
        region_code: &input.region_code,
    };
    let id = store::insert_enterprise(tx, row, now).await.map_err(duplicate)?;
    let event = serde_json::json!({"enterprise_id": id, "credit_code": login, "region_code": input.region_code});
    outbox::append(tx, "identity.enterprise_registered", &event)?;
    ledger::record(
        tx,
        "identity.enterprise_registered",
        format!("enterprise:{id}"),
        format!("account:{account}"),
        &event,
    )?;
    Ok(id)
}

pub struct NewStaff {
    pub login: String,
    pub display_name: String,
    pub roles: Vec<(i64, Role)>,
}

fn check_login(login: &str) -> Result<String> {
    let ok = (3..=64).contains(&login.len())
        && login.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(login.to_owned())
    } else {
        Err(IdentityError::Rule {
            field: "login",
            code: "invalid_login",
            message: "登录名为3-64位字母、数字或 _ - . / 3-64 letters, digits, _ - .",
        })
    }
}

/// Creates a staff account; `password_hash` comes from [`new_password_hash`]. `actor` is None for
/// the command line (an operator on the host); otherwise the actor must be a platform admin whose
/// scope covers every department granted.
pub async fn create_staff(
    tx: &mut WriteTx,
    actor: Option<&Principal>,
    input: NewStaff,
    password_hash: &str,
) -> Result<i64> {
    let login = check_login(input.login.trim())?;
    let name = check_name("display_name", &input.display_name)?;
    if input.roles.is_empty() {
        return Err(IdentityError::Rule {
            field: "roles",
            code: "roles_required",
            message: "至少需要一个角色 / at least one role",
        });
    }
    for (department_id, _) in &input.roles {
        let Some(path) = store::department_region_path(tx, *department_id).await? else {
            return Err(IdentityError::Rule {
                field: "roles",
                code: "unknown_department",
                message: "部门不存在 / no such department",
            });
        };
        if let Some(actor) = actor
            && !actor.reaches_with(&path, Role::PlatformAdmin)
        {
            return Err(IdentityError::Forbidden);
        }
    }
    let id =
        store::insert_account(tx, "staff", &login, &name, Some(password_hash), now_ms()).await.map_err(duplicate)?;
    for (department_id, role) in &input.roles {
        store::insert_role(tx, id, *department_id, *role).await?;
    }
    let roles: Vec<_> = input.roles.iter().map(|(d, r)| serde_json::json!({"department_id": d, "role": r})).collect();
    let event =
        serde_json::json!({"account_id": id, "login": login, "roles": roles, "by": actor.map(|a| a.account_id)});
    outbox::append(tx, "identity.staff_created", &event)?;
    // Who may decide what is itself a decision worth proving.
    ledger::record(
        tx,
        "identity.staff_created",
        format!("account:{id}"),
        ledger::actor(actor.map(|a| a.account_id)),
        &event,
    )?;
    Ok(id)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResidentView {
    pub id: i64,
    /// Masked unless the viewer is the resident or holds a role that may see personal data.
    pub id_number: String,
    pub name: String,
    pub phone: Option<String>,
    pub region_code: String,
    pub region_name: String,
    pub masked: bool,
}

fn resident_view(row: store::ResidentRow, full: bool) -> ResidentView {
    let (id, id_number, name, phone, region_code, region_name, _) = row;
    let (id_number, phone) = if full {
        (id_number, phone)
    } else {
        let id_masked = id_number.parse::<ResidentIdNumber>().map(|i| i.masked()).unwrap_or_else(|_| "***".into());
        let phone_masked = phone.map(|p| p.parse::<PhoneNumber>().map(|p| p.masked()).unwrap_or_else(|_| "***".into()));
        (id_masked, phone_masked)
    };
    ResidentView { id, id_number, name, phone, region_code, region_name, masked: !full }
}

/// One resident's record: the resident themself, or staff whose scope covers the resident's
/// region. Anyone else gets `NotFound`, so the answer does not tell whether the record exists.
pub async fn resident(store: &Store, actor: &Principal, id: i64) -> Result<ResidentView> {
    let mut conn = store.pool().acquire().await?;
    let row = store::resident(&mut conn, id).await?.ok_or(IdentityError::NotFound)?;
    let own = actor.resident_id == Some(id);
    let path = row.6.clone();
    if !own && !actor.reaches(&path) {
        return Err(IdentityError::NotFound);
    }
    Ok(resident_view(row, own || actor.sees_personal_data_at(&path)))
}

/// Residents in the actor's scope; identity numbers and phones are always masked in lists.
pub async fn residents(store: &Store, actor: &Principal, limit: i64, offset: i64) -> Result<Vec<ResidentView>> {
    if actor.kind != AccountKind::Staff {
        return Err(IdentityError::Forbidden);
    }
    let mut conn = store.pool().acquire().await?;
    let mut out = Vec::new();
    for path in actor.scopes_for(None) {
        let rows = store::residents_under(&mut conn, &path, limit, offset).await?;
        out.extend(rows.into_iter().map(|r| resident_view(r, false)));
    }
    out.truncate(limit as usize);
    Ok(out)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnterpriseView {
    pub id: i64,
    pub credit_code: String,
    pub name: String,
    pub legal_representative: String,
    pub phone: Option<String>,
    pub region_code: String,
    pub region_name: String,
    pub masked: bool,
}

/// An enterprise's record: the enterprise itself or staff whose scope covers its region.
/// The credit code is public by law; the contact phone is personal data.
pub async fn enterprise(store: &Store, actor: &Principal, id: i64) -> Result<EnterpriseView> {
    let mut conn = store.pool().acquire().await?;
    let (id, credit_code, name, legal_representative, phone, region_code, region_name, path) =
        store::enterprise(&mut conn, id).await?.ok_or(IdentityError::NotFound)?;
    let own = actor.enterprise_id == Some(id);
    if !own && !actor.reaches(&path) {
        return Err(IdentityError::NotFound);
    }
    let full = own || actor.sees_personal_data_at(&path);
    let phone =
        if full { phone } else { phone.map(|p| p.parse::<PhoneNumber>().map(|p| p.masked()).unwrap_or_default()) };
    Ok(EnterpriseView { id, credit_code, name, legal_representative, phone, region_code, region_name, masked: !full })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
}

/// Staff accounts in the regions where the actor is a platform admin.
pub async fn staff(store: &Store, actor: &Principal) -> Result<Vec<StaffView>> {
    let scopes = actor.scopes_for(Some(Role::PlatformAdmin));
    if scopes.is_empty() {
        return Err(IdentityError::Forbidden);
    }
    let mut conn = store.pool().acquire().await?;
    let mut out: Vec<StaffView> = Vec::new();
    for path in scopes {
        for (id, login, display_name) in store::staff_under(&mut conn, &path).await? {
            if !out.iter().any(|s| s.id == id) {
                out.push(StaffView { id, login, display_name });
            }
        }
    }
    Ok(out)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Region {
    pub code: String,
    pub name: String,
    pub level: RegionLevel,
    pub parent_code: Option<String>,
}

pub async fn regions(store: &Store) -> Result<Vec<Region>> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::regions(&mut conn)
        .await?
        .into_iter()
        .filter_map(|(code, name, level, parent_code, _)| {
            Some(Region { code, name, level: RegionLevel::from_i64(level)?, parent_code })
        })
        .collect())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Department {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub region_code: String,
}

pub async fn departments(store: &Store) -> Result<Vec<Department>> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::departments(&mut conn)
        .await?
        .into_iter()
        .map(|(id, code, name, region_code)| Department { id, code, name, region_code })
        .collect())
}

/// Adds a region below `parent` (or the root city when `parent` is None). For the demo loader
/// and the command line.
pub async fn add_region(
    tx: &mut WriteTx,
    code: &str,
    name: &str,
    level: RegionLevel,
    parent: Option<&str>,
) -> Result<()> {
    let parent_path = match parent {
        Some(p) => Some(store::region_path(tx, p).await?.ok_or(IdentityError::NotFound)?),
        None => None,
    };
    store::insert_region(tx, code, name, level, parent.zip(parent_path.as_deref())).await?;
    Ok(())
}

pub async fn add_department(tx: &mut WriteTx, code: &str, name: &str, region_code: &str) -> Result<i64> {
    region_exists(tx, region_code).await?;
    store::insert_department(tx, code, name, region_code).await.map_err(duplicate)
}

/// The department id for a department code.
pub async fn department_id(conn: &mut Conn, code: &str) -> Result<Option<i64>> {
    Ok(store::department_id(conn, code).await?)
}

/// The account of `kind` with this login, if there is one: its id and whether it is disabled.
pub async fn account_of_kind(conn: &mut Conn, kind: AccountKind, login: &str) -> Result<Option<(i64, bool)>> {
    Ok(store::account_by_login(conn, login).await?.filter(|a| a.kind == kind.as_str()).map(|a| (a.id, a.disabled)))
}

/// The code of the city at the root of the region tree, if the tree has been set up.
pub async fn root_region(conn: &mut Conn) -> Result<Option<String>> {
    let regions = store::regions(conn).await?;
    Ok(regions.into_iter().find(|(_, _, _, parent, _)| parent.is_none()).map(|(code, ..)| code))
}

/// The id of the account with this login.
pub async fn account_id_by_login(conn: &mut Conn, login: &str) -> Result<Option<i64>> {
    Ok(store::account_by_login(conn, login).await?.map(|a| a.id))
}

/// The name and phone a resident or enterprise registered with, to reach them about a request.
pub async fn contact(conn: &mut Conn, account_id: i64) -> Result<Option<(String, Option<String>)>> {
    Ok(store::contact(conn, account_id).await?)
}

/// (id, region code) of a department.
pub async fn department_region(conn: &mut Conn, code: &str) -> Result<Option<(i64, String)>> {
    Ok(store::department_region(conn, code).await?)
}

/// (code, name, region path) of a department, by id.
pub async fn department_by_id(conn: &mut Conn, id: i64) -> Result<Option<(String, String, String)>> {
    Ok(store::department_by_id(conn, id).await?)
}

/// The department codes in which `actor` holds `role` itself (not through a region above).
pub async fn departments_held(store: &Store, actor: &Principal, role: Role) -> Result<HashSet<String>> {
    let mut conn = store.pool().acquire().await?;
    let mut codes = HashSet::new();
    for grant in actor.grants.iter().filter(|g| g.role == role) {
        if let Some(code) = store::department_code(&mut conn, grant.department_id).await? {
            codes.insert(code);
        }
    }
    Ok(codes)
}

/// The department codes in which `actor` holds `role` (directly or through a region above).
pub async fn departments_reached(store: &Store, actor: &Principal, role: Role) -> Result<HashSet<String>> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::department_paths(&mut conn)
        .await?
        .into_iter()
        .filter(|(_, path)| actor.reaches_with(path, role))
        .map(|(code, _)| code)
        .collect())
}
