//! Data exchange (一网共享): the data catalogue (政务信息资源目录) where data stewards register
//! their department's resources (编目) and attach their data (挂接); apps, the department systems
//! that call shared data, and their grants (共享申请); the gateway that checks the grant, returns
//! only the granted fields, masks personal ones not granted in clear, limits each app's rate and
//! daily quota and logs every call in the evidence log; alerts on unusual use; and open data, the
//! open resources published through a CKAN-compatible API with a DCAT-AP export.
//!
//! Errors are [`ExchangeError`]; `http::error` maps them.

pub mod alerts;
pub mod api;
pub mod ckan;
pub mod dataset;
mod dcat;
pub mod demo;
pub mod gateway;
pub mod masking;
pub mod model;
pub mod pages;
pub mod pseudonym;
mod source_hosts;
mod sources;
mod store;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yiwang_calendar::Calendar;

use crate::identity::{self, AccountKind, Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Store, WriteTx, from_ms, now_ms, outbox};
pub use gateway::Exchange;
use model::{ResourceInput, SharingType, Source};
pub use source_hosts::SourceHosts;

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The gateway refused a call: no grant, an expired or pending one, a field not granted.
    #[error("{code}: {message}")]
    Refused { code: &'static str, message: String, field: Option<String> },
    /// An app's token is unknown or revoked.
    #[error("unknown app token")]
    UnknownApp,
    /// Rate limit or daily quota used up.
    #[error("{code}")]
    Throttled { code: &'static str, retry_after_secs: i64 },
    #[error("cannot {action} a grant that is {state}")]
    WrongState { action: &'static str, state: String },
    /// The department system a resource is attached to failed or answered nonsense.
    #[error("source system: {0}")]
    Upstream(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = ExchangeError> = std::result::Result<T, E>;

pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ExchangeError {
    ExchangeError::Invalid { field: field.into(), message: message.into() }
}

/// A registered resource as stored.
#[derive(Debug, Clone)]
pub struct Resource {
    pub id: i64,
    pub uuid: String,
    pub department_id: i64,
    pub department_name: String,
    pub input: ResourceInput,
    pub version: i64,
    pub row_count: i64,
    /// The set of uploaded rows it serves; none before the first upload.
    pub row_set: Option<i64>,
    pub data_loaded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the catalogue shows of a resource.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResourceView {
    #[serde(flatten)]
    #[schema(schema_with = resource_input_fields)]
    pub description: ResourceInput,
    pub department_name: String,
    /// The dataset id the open-data API shows.
    pub uuid: String,
    pub version: i64,
    /// Rows held for a dataset source.
    pub row_count: i64,
    pub data_loaded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the viewer may edit it, upload its data and decide its grants.
    pub manageable: bool,
}

/// `ResourceInput`'s fields without its refusal of other fields (it is strict as an input), so
/// that the view's own fields beside them are allowed in the document.
fn resource_input_fields() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let mut schema = <ResourceInput as utoipa::PartialSchema>::schema();
    if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = &mut schema {
        object.additional_properties = None;
    }
    schema
}

impl Resource {
    fn view(self, manageable: bool) -> ResourceView {
        ResourceView {
            department_name: self.department_name,
            uuid: self.uuid,
            version: self.version,
            row_count: self.row_count,
            data_loaded_at: self.data_loaded_at.map(from_ms),
            created_at: from_ms(self.created_at),
            updated_at: from_ms(self.updated_at),
            manageable,
            description: self.input,
        }
    }
}

/// The departments (codes) whose resources, apps and grants `actor` manages: those where they are
/// a data steward (数据管理员), and those a platform admin's region covers.
pub async fn managed_departments(store: &Store, actor: &Principal) -> Result<HashSet<String>> {
    let mut codes = identity::departments_held(store, actor, Role::DataSteward).await?;
    if actor.has_role(Role::PlatformAdmin) {
        codes.extend(identity::departments_reached(store, actor, Role::PlatformAdmin).await?);
    }
    Ok(codes)
}

fn staff_only(actor: &Principal) -> Result<()> {
    if actor.kind == AccountKind::Staff { Ok(()) } else { Err(ExchangeError::Forbidden) }
}

/// Registers a resource (编目) of a department the actor manages.
pub async fn register(
    store: &Store,
    exchange: &Exchange,
    actor: &Principal,
    input: ResourceInput,
) -> Result<ResourceView> {
    input.check()?;
    exchange.check_source(&input.source)?;
    if !managed_departments(store, actor).await?.contains(&input.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    let actor_id = actor.account_id;
    let code = input.code.clone();
    store
        .write(move |tx| Box::pin(async move { insert_resource(tx, Some(actor_id), &input).await.map(|_| ()) }))
        .await?;
    exchange.forget();
    get(store, actor, &code).await
}

async fn department_of(tx: &mut WriteTx, code: &str) -> Result<i64> {
    identity::department_region(tx, code)
        .await?
        .map(|(id, _)| id)
        .ok_or_else(|| invalid("department_code", "部门不存在 / no such department"))
}

/// Stores a new resource with its evidence leaf; for the API and the demo loader.
pub async fn insert_resource(tx: &mut WriteTx, by: Option<i64>, input: &ResourceInput) -> Result<i64> {
    let department_id = department_of(tx, &input.department_code).await?;
    let document = serde_json::to_string(input).map_err(|e| invalid("resource", e.to_string()))?;
    let uuid = new_uuid();
    let id = store::insert_resource(tx, input, &uuid, department_id, &document, by, now_ms()).await.map_err(|e| {
        match crate::store::unique_violation(&e) {
            Some(_) => invalid("code", "资源代码已存在 / the code is taken"),
            None => e.into(),
        }
    })?;
    let event = serde_json::json!({"resource": input.code, "department": input.department_code, "version": 1});
    outbox::append(tx, "exchange.resource_registered", &event)?;
    ledger::record(tx, "exchange.resource_registered", format!("resource:{}", input.code), ledger::actor(by), input)?;
    Ok(id)
}

/// A random (version 4) UUID, as CKAN shows dataset ids.
fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Edits a resource; its rows are checked again against the new fields and nothing changes
/// unless they all still fit.
pub async fn update(
    store: &Store,
    exchange: &Exchange,
    actor: &Principal,
    code: &str,
    input: ResourceInput,
) -> Result<ResourceView> {
    input.check()?;
    exchange.check_source(&input.source)?;
    if input.code != code {
        return Err(invalid("code", "资源代码不能修改 / the code cannot change"));
    }
    let existing = resource(store, code).await?.ok_or(ExchangeError::NotFound)?;
    let managed = managed_departments(store, actor).await?;
    if !managed.contains(&existing.input.department_code) || !managed.contains(&input.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    // A transaction of its own, as an upload's: the stored rows may be rewritten (see `upload`).
    let mut tx = store.begin_write().await?;
    let department_id = department_of(&mut tx, &input.department_code).await?;
    let stored = store::all_rows(&mut tx, existing.row_set).await?;
    let had_rows = !stored.is_empty();
    let rows = if stored.is_empty() || input.source != Source::Dataset {
        None
    } else {
        let maps = stored.into_iter().filter_map(|d| serde_json::from_str(&d).ok()).collect();
        Some(dataset::recheck(&input, maps).map_err(|e| match e {
            ExchangeError::Invalid { field, message } => {
                invalid("fields", format!("已有数据不符合新的信息项 / stored rows do not fit: {field} {message}"))
            }
            other => other,
        })?)
    };
    let document = serde_json::to_string(&input).map_err(|e| invalid("resource", e.to_string()))?;
    store::update_resource(&mut tx, existing.id, &input, department_id, &document, now_ms()).await?;
    if let Some(rows) = rows {
        store::replace_rows(&mut tx, existing.id, &input, &rows, now_ms()).await?;
    } else if had_rows {
        // Attached elsewhere now: uploaded rows would be stale copies.
        store::replace_rows(&mut tx, existing.id, &input, &[], now_ms()).await?;
    }
    let event = serde_json::json!({"resource": input.code, "version": existing.version + 1});
    outbox::append(&mut tx, "exchange.resource_updated", &event)?;
    let subject = format!("resource:{}", input.code);
    ledger::record(&mut tx, "exchange.resource_updated", subject, ledger::actor(Some(actor.account_id)), &input)?;
    tx.commit().await?;
    exchange.forget();
    get(store, actor, code).await
}

/// Loads a dataset (CSV or JSON) into a resource whose source is a dataset, replacing its rows: a
/// bad row is reported with its number and field before anything is written, and the rows served
/// before stay served until the new ones are all stored.
///
/// The rows go into a new row set in short transactions of [`ROWS_PER_LOAD`] rows (and
/// [`ENTRIES_PER_LOAD`] index entries) each; one last transaction switches the resource to it. On
/// SQLite, whose single write lock every change in the city takes, a large upload therefore delays
/// other writes by one short transaction at a time instead of by its whole length.
pub async fn upload(
    store: &Store,
    exchange: &Exchange,
    actor: &Principal,
    code: &str,
    format: DataFormat,
    bytes: axum::body::Bytes,
) -> Result<ResourceView> {
    let existing = resource(store, code).await?.ok_or(ExchangeError::NotFound)?;
    if !managed_departments(store, actor).await?.contains(&existing.input.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    if existing.input.source != Source::Dataset {
        return Err(invalid("source", "该资源未挂接数据集，不能上传 / the resource is not attached to a dataset"));
    }
    // Tens of megabytes take a few hundred milliseconds to parse: not on a thread serving requests.
    let input = existing.input.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let rows = match format {
            DataFormat::Csv => dataset::parse_csv(&input, &bytes)?,
            DataFormat::Json => dataset::parse_json(&input, &bytes)?,
        };
        Ok::<_, ExchangeError>((rows, hex::encode(Sha256::digest(&bytes))))
    })
    .await;
    let (rows, sha256) = parsed.map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))??;
    let rows = Arc::new(rows);
    let mut tx = store.begin_write().await?;
    let row_set = store::new_row_set(&mut tx, existing.id, now_ms()).await?;
    tx.commit().await?;
    if let Err(e) = load_row_set(store, row_set, &existing.input, &rows).await {
        // Best effort: a set left loading is deleted by the cleanup job anyway.
        if let Ok(mut tx) = store.begin_write().await
            && store::abandon_row_set(&mut tx, row_set, now_ms()).await.is_ok()
        {
            let _ = tx.commit().await;
        }
        return Err(e.into());
    }
    let record = serde_json::json!({"resource": code, "rows": rows.len(), "sha256": sha256});
    let mut tx = store.begin_write().await?;
    // The resource may have been attached elsewhere while the rows were written.
    let current = store::resource_by_code(&mut tx, code).await?.ok_or(ExchangeError::NotFound)?;
    if current.input.source != Source::Dataset {
        store::abandon_row_set(&mut tx, row_set, now_ms()).await?;
        tx.commit().await?;
        return Err(invalid("source", "该资源已改挂其他数据源 / the resource was attached elsewhere meanwhile"));
    }
    store::switch_row_set(&mut tx, existing.id, Some(row_set), rows.len() as i64, now_ms()).await?;
    outbox::append(&mut tx, "exchange.dataset_loaded", &record)?;
    let subject = format!("resource:{}", existing.input.code);
    ledger::record(&mut tx, "exchange.dataset_loaded", subject, ledger::actor(Some(actor.account_id)), &record)?;
    tx.commit().await?;
    exchange.forget();
    get(store, actor, code).await
}

/// Rows an upload writes per transaction.
const ROWS_PER_LOAD: usize = 1_000;
/// Row-index entries an upload writes per transaction.
const ENTRIES_PER_LOAD: usize = 5_000;

/// Writes rows and their index entries into a loading row set, each part in a transaction of its
/// own. Not through the group commit: inside its savepoints SQLite would first copy every page
/// the inserts touch to a sub-journal.
async fn load_row_set(
    store: &Store,
    row_set: i64,
    input: &ResourceInput,
    rows: &Arc<Vec<dataset::Row>>,
) -> sqlx::Result<()> {
    for (n, part) in rows.chunks(ROWS_PER_LOAD).enumerate() {
        let mut tx = store.begin_write().await?;
        store::insert_rows(&mut tx, row_set, input, part, (n * ROWS_PER_LOAD) as i64 + 1).await?;
        tx.commit().await?;
    }
    let fields: Vec<String> = store::indexed_fields(&store::numbered(rows)).into_iter().map(str::to_owned).collect();
    for field in fields {
        // Sorting a field's entries of 200,000 rows takes 30-70 ms: not on a thread serving requests.
        let (all, name) = (rows.clone(), field.clone());
        let entries = tokio::task::spawn_blocking(move || store::index_entries(&store::numbered(&all), &name))
            .await
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?;
        for part in entries.chunks(ENTRIES_PER_LOAD) {
            let mut tx = store.begin_write().await?;
            store::insert_index_entries(&mut tx, row_set, &field, part).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// How long a replaced row set is kept: longer than any node caches the resource that pointed to
/// it ([`gateway::CACHE_TTL`]) and than a download that started before the switch takes.
const RETIRED_ROWS_KEPT: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// After how long a row set still loading belongs to an upload that died.
const LOADING_ROWS_ABANDONED: chrono::TimeDelta = chrono::TimeDelta::hours(6);
/// Rows (and index entries) deleted per transaction.
const ROWS_PER_DROP: i64 = 5_000;

/// Deletes replaced and abandoned row sets, a part per transaction (the `exchange.drop_row_sets`
/// job); returns how many sets it deleted.
pub async fn drop_row_sets(store: &Store, now: DateTime<Utc>) -> sqlx::Result<usize> {
    let (retired_before, loading_before) =
        ((now - RETIRED_ROWS_KEPT).timestamp_millis(), (now - LOADING_ROWS_ABANDONED).timestamp_millis());
    let sets = store::row_sets_to_drop(&mut *store.pool().acquire().await?, retired_before, loading_before).await?;
    for &row_set in &sets {
        loop {
            let mut tx = store.begin_write().await?;
            let more = store::drop_row_set_part(&mut tx, row_set, ROWS_PER_DROP).await?;
            tx.commit().await?;
            if !more {
                break;
            }
        }
    }
    Ok(sets.len())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    Csv,
    Json,
}

/// A resource by its code, whoever asks (for the gateway and open data).
pub async fn resource(store: &Store, code: &str) -> Result<Option<Resource>> {
    let mut conn = store.pool().acquire().await?;
    store::resource_by_code(&mut conn, code).await
}

/// The codes of the base-register resources (attached to `register_records`) that declare any
/// of `fields`: where instant approval finds the facts a rule reads.
pub async fn register_resources_with(store: &Store, fields: &[String]) -> Result<Vec<String>> {
    let mut conn = store.pool().acquire().await?;
    let resources = store::resources(&mut conn, false).await?;
    Ok(resources
        .into_iter()
        .filter(|r| matches!(&r.input.source, Source::Table { table } if table.starts_with("register_records:")))
        .filter(|r| r.input.fields.iter().any(|f| fields.contains(&f.name)))
        .map(|r| r.input.code)
        .collect())
}

/// The id of the live app named `name` (the oldest, if several share it).
pub async fn app_named(store: &Store, name: &str) -> Result<Option<i64>> {
    let mut conn = store.pool().acquire().await?;
    let apps = store::apps(&mut conn).await?;
    Ok(apps.into_iter().filter(|a| a.name == name && a.revoked_at.is_none()).map(|a| a.id).min())
}

/// One resource of the catalogue, for staff.
pub async fn get(store: &Store, actor: &Principal, code: &str) -> Result<ResourceView> {
    staff_only(actor)?;
    let found = resource(store, code).await?.ok_or(ExchangeError::NotFound)?;
    let manageable = managed_departments(store, actor).await?.contains(&found.input.department_code);
    Ok(found.view(manageable))
}

/// The whole catalogue, for staff: every department sees what the others hold (the point of a
/// catalogue), not the data.
pub async fn list(store: &Store, actor: &Principal) -> Result<Vec<ResourceView>> {
    staff_only(actor)?;
    let managed = managed_departments(store, actor).await?;
    let mut conn = store.pool().acquire().await?;
    Ok(store::resources(&mut conn, false)
        .await?
        .into_iter()
        .map(|r| {
            let manageable = managed.contains(&r.input.department_code);
            r.view(manageable)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Apps

/// Calls per minute and per day an app gets unless its steward says otherwise.
pub const DEFAULT_RATE_PER_MINUTE: i64 = 600;
pub const DEFAULT_DAILY_QUOTA: i64 = 100_000;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApp {
    /// e.g. 人社局社保业务系统
    pub name: String,
    /// The department the app belongs to (the consumer).
    pub department_code: String,
    /// Calls per minute (1-100,000; default 600).
    pub rate_per_minute: Option<i64>,
    /// Successful calls per China day (1-100,000,000; default 100,000).
    pub daily_quota: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppView {
    pub id: i64,
    pub name: String,
    pub department_code: String,
    pub department_name: String,
    pub rate_per_minute: i64,
    pub daily_quota: i64,
    pub created_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Registers an app of a department the actor manages; the token is returned once.
pub async fn create_app(store: &Store, actor: &Principal, new: NewApp) -> Result<(AppView, String)> {
    if new.name.trim().is_empty() || new.name.chars().count() > 100 {
        return Err(invalid("name", "应为1-100个字符 / 1-100 characters"));
    }
    let rate = new.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE);
    if !(1..=100_000).contains(&rate) {
        return Err(invalid("rate_per_minute", "应在1-100000之间 / 1-100000"));
    }
    let quota = new.daily_quota.unwrap_or(DEFAULT_DAILY_QUOTA);
    if !(1..=100_000_000).contains(&quota) {
        return Err(invalid("daily_quota", "应在1-100000000之间 / 1-100000000"));
    }
    if !managed_departments(store, actor).await?.contains(&new.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    let secret = gateway::new_token();
    let hash = identity::hash_secret(&secret);
    let by = actor.account_id;
    let id = store
        .write(move |tx| {
            Box::pin(async move {
                let department_id = department_of(tx, &new.department_code).await?;
                insert_app(tx, Some(by), new.name.trim(), department_id, &hash, rate, quota).await
            })
        })
        .await?;
    let mut conn = store.pool().acquire().await?;
    let app = store::app_by_id(&mut conn, id).await?.ok_or(ExchangeError::NotFound)?;
    Ok((app.view(), secret))
}

/// Stores an app with its evidence leaf (the token only as its hash, which the leaf hashes again).
pub async fn insert_app(
    tx: &mut WriteTx,
    by: Option<i64>,
    name: &str,
    department_id: i64,
    token_hash: &str,
    rate: i64,
    quota: i64,
) -> Result<i64> {
    let id = store::insert_app(tx, name, department_id, token_hash, rate, quota, by, now_ms()).await?;
    let record = serde_json::json!({"app": id, "name": name, "department_id": department_id, "rate_per_minute": rate, "daily_quota": quota});
    ledger::record(tx, "exchange.app_registered", format!("exchange_app:{id}"), ledger::actor(by), &record)?;
    Ok(id)
}

/// The apps of the departments the actor manages.
pub async fn apps(store: &Store, actor: &Principal) -> Result<Vec<AppView>> {
    staff_only(actor)?;
    let managed = managed_departments(store, actor).await?;
    let mut conn = store.pool().acquire().await?;
    Ok(store::apps(&mut conn)
        .await?
        .into_iter()
        .filter(|a| managed.contains(&a.department_code))
        .map(|a| a.view())
        .collect())
}

/// Revokes an app: its token stops working (on other nodes within the gateway's cache time).
pub async fn revoke_app(store: &Store, exchange: &Exchange, actor: &Principal, id: i64) -> Result<AppView> {
    let mut conn = store.pool().acquire().await?;
    let app = store::app_by_id(&mut conn, id).await?.ok_or(ExchangeError::NotFound)?;
    drop(conn);
    if !managed_departments(store, actor).await?.contains(&app.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    let by = actor.account_id;
    store
        .write(move |tx| {
            Box::pin(async move {
                store::revoke_app(tx, id, now_ms()).await?;
                ledger::record(
                    tx,
                    "exchange.app_revoked",
                    format!("exchange_app:{id}"),
                    ledger::actor(Some(by)),
                    &serde_json::json!({"app": id}),
                )?;
                Ok::<_, ExchangeError>(())
            })
        })
        .await?;
    exchange.forget();
    let mut conn = store.pool().acquire().await?;
    Ok(store::app_by_id(&mut conn, id).await?.ok_or(ExchangeError::NotFound)?.view())
}

// ---------------------------------------------------------------------------------------------
// Grants

/// Working days the owner's steward has to decide a conditional request.
pub const DECISION_WORKING_DAYS: u32 = 10;
/// The longest a grant may run, from today.
pub const MAX_GRANT_DAYS: i64 = 3 * 366;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    pub app_id: i64,
    pub resource_code: String,
    /// 用途: what the data is for, and under which rule.
    pub purpose: String,
    /// The fields the app needs.
    pub fields: Vec<String>,
    /// The personal fields among them it needs unmasked; the rest come masked.
    #[serde(default)]
    pub clear_fields: Vec<String>,
    /// The last day (China time) the grant runs.
    pub valid_until: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Pending,
    Granted,
    Refused,
    Revoked,
}

impl GrantState {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Pending => "pending",
            GrantState::Granted => "granted",
            GrantState::Refused => "refused",
            GrantState::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> GrantState {
        match s {
            "granted" => GrantState::Granted,
            "refused" => GrantState::Refused,
            "revoked" => GrantState::Revoked,
            _ => GrantState::Pending,
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            GrantState::Pending => "待审核",
            GrantState::Granted => "已授权",
            GrantState::Refused => "不予共享",
            GrantState::Revoked => "已撤销",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub resource_code: String,
    pub resource_name: String,
    pub owner_department: String,
    pub app_id: i64,
    pub app_name: String,
    pub consumer_department: String,
    pub purpose: String,
    pub fields: Vec<String>,
    pub clear_fields: Vec<String>,
    pub state: GrantState,
    pub requested_at: DateTime<Utc>,
    /// The owner's steward decides a conditional request by then (10 working days).
    pub due_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    /// Who decided; none when granted on application (unconditional sharing).
    pub decided_by: Option<String>,
    pub reasons: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub expired: bool,
    /// Whether the viewer may decide or revoke it (the owner's steward).
    pub decidable: bool,
}

/// The instant a grant valid until `day` (China time) ends: the next China midnight.
fn end_of_china_day(day: NaiveDate) -> DateTime<Utc> {
    let next = day.succ_opt().unwrap_or(day).and_hms_opt(0, 0, 0).unwrap_or_default();
    DateTime::from_naive_utc_and_offset(next - chrono::Duration::hours(8), Utc)
}

/// Asks for a grant on behalf of an app of a department the actor manages. Unconditional
/// resources are granted at once; conditional ones wait for the owner's steward, who has 10
/// working days; resources not shared cannot be asked for.
pub async fn apply(
    store: &Store,
    exchange: &Exchange,
    calendar: &Calendar,
    now: DateTime<Utc>,
    actor: &Principal,
    request: GrantRequest,
) -> Result<GrantView> {
    let purpose = request.purpose.trim().to_owned();
    if !(4..=500).contains(&purpose.chars().count()) {
        return Err(invalid("purpose", "用途应为4-500个字符 / 4-500 characters"));
    }
    let mut conn = store.pool().acquire().await?;
    let app = store::app_by_id(&mut conn, request.app_id)
        .await?
        .ok_or_else(|| invalid("app_id", "应用不存在 / no such app"))?;
    drop(conn);
    if app.revoked_at.is_some() {
        return Err(invalid("app_id", "应用已注销 / the app is revoked"));
    }
    if !managed_departments(store, actor).await?.contains(&app.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    let resource = resource(store, &request.resource_code)
        .await?
        .ok_or_else(|| invalid("resource_code", "资源不存在 / no such resource"))?;
    if resource.input.sharing_type == SharingType::NotShared {
        return Err(invalid(
            "resource_code",
            format!("该资源不予共享（{}） / not shared", resource.input.legal_basis.clone().unwrap_or_default()),
        ));
    }
    if request.fields.is_empty() {
        return Err(invalid("fields", "至少申请一个信息项 / at least one field"));
    }
    for (i, f) in request.fields.iter().enumerate() {
        if resource.input.field(f).is_none() {
            return Err(invalid(format!("fields[{i}]"), format!("资源没有信息项 {f} / no such field")));
        }
        if request.fields[..i].contains(f) {
            return Err(invalid(format!("fields[{i}]"), "重复 / repeated"));
        }
    }
    for (i, f) in request.clear_fields.iter().enumerate() {
        match resource.input.field(f) {
            Some(spec) if spec.sensitivity.is_personal() && request.fields.contains(f) => {}
            _ => {
                return Err(invalid(
                    format!("clear_fields[{i}]"),
                    "只能是所申请的个人信息项 / must be a requested personal field",
                ));
            }
        }
    }
    let today = yiwang_calendar::china_date(now);
    if request.valid_until < today || (request.valid_until - today).num_days() > MAX_GRANT_DAYS {
        return Err(invalid("valid_until", "有效期应从今天起、不超过3年 / from today, at most 3 years"));
    }
    let unconditional = resource.input.sharing_type == SharingType::Unconditional;
    let row = store::NewGrant {
        resource_id: resource.id,
        app_id: app.id,
        purpose,
        fields: serde_json::to_string(&request.fields).unwrap_or_default(),
        clear_fields: serde_json::to_string(&request.clear_fields).unwrap_or_default(),
        state: if unconditional { GrantState::Granted } else { GrantState::Pending },
        requested_by: Some(actor.account_id),
        requested_at: now.timestamp_millis(),
        due_at: (!unconditional).then(|| calendar.working_day_deadline(now, DECISION_WORKING_DAYS).timestamp_millis()),
        expires_at: end_of_china_day(request.valid_until).timestamp_millis(),
    };
    let code = resource.input.code.clone();
    let id = store
        .write(move |tx| {
            Box::pin(async move {
                let id = store::insert_grant(tx, &row).await?;
                let record = serde_json::json!({"grant": id, "resource": code, "app": row.app_id, "purpose": row.purpose,
                    "fields": row.fields, "clear_fields": row.clear_fields, "state": row.state.as_str(), "expires_at": row.expires_at});
                outbox::append(tx, "exchange.grant_requested", &record)?;
                let actor = ledger::actor(row.requested_by);
                ledger::record(tx, "exchange.grant_requested", format!("grant:{id}"), actor.clone(), &record)?;
                if row.state == GrantState::Granted {
                    // Unconditional sharing: the catalogue's sharing type decided, on application.
                    ledger::record(tx, "exchange.grant_decided", format!("grant:{id}"), "system".into(), &record)?;
                }
                Ok::<_, ExchangeError>(id)
            })
        })
        .await?;
    exchange.forget();
    grant(store, actor, id, now).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    Refuse,
    /// Ends a granted grant before it expires.
    Revoke,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantDecision {
    pub verdict: Verdict,
    /// Required to refuse or revoke.
    #[serde(default)]
    pub reasons: Option<String>,
}

/// The owner's steward approves or refuses a pending request (a refusal gives its reasons), or
/// revokes a grant. Every decision is an evidence leaf.
pub async fn decide(
    store: &Store,
    exchange: &Exchange,
    now: DateTime<Utc>,
    actor: &Principal,
    id: i64,
    decision: GrantDecision,
) -> Result<GrantView> {
    let mut conn = store.pool().acquire().await?;
    let row = store::grant_by_id(&mut conn, id).await?.ok_or(ExchangeError::NotFound)?;
    drop(conn);
    let managed = managed_departments(store, actor).await?;
    if !managed.contains(&row.owner_department_code) {
        return Err(if managed.contains(&row.consumer_department_code) {
            ExchangeError::Forbidden
        } else {
            ExchangeError::NotFound
        });
    }
    let reasons = decision.reasons.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let (from, to, action) = match decision.verdict {
        Verdict::Approve => (GrantState::Pending, GrantState::Granted, "approve"),
        Verdict::Refuse => (GrantState::Pending, GrantState::Refused, "refuse"),
        Verdict::Revoke => (GrantState::Granted, GrantState::Revoked, "revoke"),
    };
    if to != GrantState::Granted && reasons.as_ref().is_none_or(|r| r.chars().count() < 4) {
        return Err(invalid(
            "reasons",
            "不予共享或撤销须说明理由（至少4个字） / give the reasons (4 characters or more)",
        ));
    }
    if reasons.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(invalid("reasons", "不超过1000字 / at most 1000 characters"));
    }
    if GrantState::parse(&row.state) != from {
        return Err(ExchangeError::WrongState { action, state: row.state.clone() });
    }
    let by = actor.account_id;
    let at = now.timestamp_millis();
    store
        .write(move |tx| {
            Box::pin(async move {
                if !store::decide_grant(tx, id, from.as_str(), to.as_str(), by, at, reasons.as_deref()).await? {
                    return Err(ExchangeError::WrongState { action, state: "changed".into() });
                }
                let record = serde_json::json!({"grant": id, "verdict": action, "state": to.as_str(), "reasons": reasons, "at": at});
                outbox::append(tx, "exchange.grant_decided", &record)?;
                ledger::record(tx, "exchange.grant_decided", format!("grant:{id}"), ledger::actor(Some(by)), &record)?;
                Ok(())
            })
        })
        .await?;
    exchange.forget();
    grant(store, actor, id, now).await
}

/// One grant, for the stewards of its owner and of its app's department.
pub async fn grant(store: &Store, actor: &Principal, id: i64, now: DateTime<Utc>) -> Result<GrantView> {
    let mut conn = store.pool().acquire().await?;
    let row = store::grant_by_id(&mut conn, id).await?.ok_or(ExchangeError::NotFound)?;
    drop(conn);
    let managed = managed_departments(store, actor).await?;
    if !managed.contains(&row.owner_department_code) && !managed.contains(&row.consumer_department_code) {
        return Err(ExchangeError::NotFound);
    }
    Ok(row.view(&managed, now))
}

/// The grants of the resources and apps of the departments the actor manages, newest first.
pub async fn grants(store: &Store, actor: &Principal, now: DateTime<Utc>) -> Result<Vec<GrantView>> {
    staff_only(actor)?;
    let managed = managed_departments(store, actor).await?;
    let mut conn = store.pool().acquire().await?;
    Ok(store::grants(&mut conn)
        .await?
        .into_iter()
        .filter(|g| managed.contains(&g.owner_department_code) || managed.contains(&g.consumer_department_code))
        .map(|g| g.view(&managed, now))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Call logs

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallView {
    pub id: String,
    pub at: DateTime<Utc>,
    pub app_name: String,
    pub department_name: String,
    /// `lookup` or `query`
    pub kind: String,
    pub fields: Vec<String>,
    pub rows: i64,
    /// 申请事由
    pub reason: String,
    /// `ok`, or why it was refused (`no_grant`, `grant_expired`, `rate_limited` …).
    pub outcome: String,
}

/// The call log of a resource, newest first, for its owner's stewards (and auditors).
pub async fn calls(store: &Store, actor: &Principal, code: &str, limit: i64, offset: i64) -> Result<Vec<CallView>> {
    let found = resource(store, code).await?.ok_or(ExchangeError::NotFound)?;
    let managed = managed_departments(store, actor).await?;
    let auditor = identity::departments_reached(store, actor, Role::Auditor).await?;
    if !managed.contains(&found.input.department_code) && !auditor.contains(&found.input.department_code) {
        return Err(ExchangeError::Forbidden);
    }
    let mut conn = store.pool().acquire().await?;
    Ok(store::calls_of_resource(&mut conn, found.id, limit, offset).await?)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LookupView {
    pub at: DateTime<Utc>,
    /// The department whose system looked.
    pub department_name: String,
    pub app_name: String,
    pub resource_name: String,
    pub fields: Vec<String>,
    pub reason: String,
}

/// Indexes the rows of datasets uploaded before the row index existed: once, when a node starts.
pub async fn index_rows_stored_before_the_index(store: &Store) -> Result<usize, sqlx::Error> {
    let pending = store::resources_not_indexed(&mut *store.pool().acquire().await?).await?;
    let mut indexed = 0;
    for resource_id in pending {
        let mut tx = store.begin_write().await?;
        if store::index_stored_rows(&mut tx, resource_id).await? {
            indexed += 1;
        }
        tx.commit().await?;
    }
    if indexed > 0 {
        tracing::info!(resources = indexed, "indexed the rows of datasets uploaded before the row index");
    }
    Ok(indexed)
}

/// Calls whose residents one run of [`index_call_subjects`] moves into the index at most.
const SUBJECT_BATCH: i64 = 5000;

/// Moves the residents of logged calls into the residents' index, a batch per transaction (the
/// `exchange.index_subjects` job, every few seconds); returns how many calls it took.
pub async fn index_call_subjects(store: &Store) -> Result<usize, sqlx::Error> {
    let mut indexed = 0;
    loop {
        let mut tx = store.begin_write().await?;
        let taken = store::index_pending_subjects(&mut tx, SUBJECT_BATCH).await?;
        tx.commit().await?;
        indexed += taken;
        if taken < SUBJECT_BATCH as usize {
            return Ok(indexed);
        }
    }
}

/// Which departments looked up the signed-in resident's record through the gateway, newest first.
pub async fn my_lookups(
    store: &Store,
    exchange: &Exchange,
    actor: &Principal,
    limit: i64,
    offset: i64,
) -> Result<Vec<LookupView>> {
    let Some(resident_id) = actor.resident_id else { return Err(ExchangeError::Forbidden) };
    let me = identity::resident(store, actor, resident_id).await?;
    let mut conn = store.pool().acquire().await?;
    let pseudonyms = [exchange.pseudonyms().of("subject", &me.id_number), pseudonym::unkeyed("subject", &me.id_number)];
    Ok(store::lookups_of_subject(&mut conn, [&pseudonyms[0], &pseudonyms[1]], limit, offset).await?)
}
