//! The gateway (共享交换网关): department apps call shared data with their token, by resource and
//! key (lookup) or filters (paged query), and state the reason of every call (申请事由). The
//! gateway checks the app's grant, returns only the granted fields, masks the personal ones not
//! granted in clear, enforces the app's rate limit and daily quota, and logs every call —
//! granted or refused — in the call log and as an evidence leaf.
//!
//! Logging does not throttle calls: calls queue in memory and one task writes whatever has
//! queued in one transaction (through `Store::write`, so with the group commit too) while the
//! previous batch commits. A call is answered only after its log entry is durable, so no answer
//! leaves the gateway unlogged, even if the process dies a moment later.
//!
//! Apps, resources and grants are cached for [`CACHE_TTL`]; a change on this node clears the
//! cache at once, a change on another node shows within that time. Rate limits are counted per
//! node; daily quotas count the calls every node logged, read again every [`QUOTA_REFRESH`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::masking;
use super::model::{FieldType, Masking, Source};
use super::pseudonym::Pseudonyms;
use super::source_hosts::SourceHosts;
use super::sources::{self, Fetch};
use super::store::{self, AppRow, GrantRow};
use super::{ExchangeError, GrantState, Resource, Result, invalid};
use crate::ledger;
use crate::store::{Store, WriteTx};

/// How long apps, resources and grants stay cached.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// How often a node reads again the calls every node logged against an app's daily quota.
const QUOTA_REFRESH: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// Calls written in one transaction at most.
const MAX_BATCH: usize = 2000;
/// Rows one query returns at most.
pub const MAX_QUERY_ROWS: i64 = 200;

/// A token for an app: shown once, stored as its SHA-256. The prefix lets secret scanners
/// recognise a leaked one.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("yx_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// 32 hex digits: the milliseconds since 1970, then random. Ids made later sort later, so the
/// call log's primary key grows at its end instead of touching a random page per call.
fn new_call_id(at: DateTime<Utc>) -> String {
    let mut id = [0u8; 16];
    id[..6].copy_from_slice(&at.timestamp_millis().to_be_bytes()[2..]);
    id[6..].copy_from_slice(&rand::random::<[u8; 10]>());
    hex::encode(id)
}

/// One call as the log keeps it; personal values only as pseudonyms.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub id: String,
    pub app_id: i64,
    pub department_id: i64,
    pub resource_id: Option<i64>,
    pub resource_code: String,
    pub kind: &'static str,
    /// The key looked up, as a pseudonym.
    pub key_hash: Option<String>,
    pub fields: Vec<String>,
    pub rows: i64,
    pub reason: String,
    pub outcome: &'static str,
    pub at: i64,
    /// The pseudonym of the ID number of each resident whose record the call returned.
    pub subjects: Vec<String>,
}

/// What an app asks.
#[derive(Debug, Clone)]
pub enum Ask {
    /// The record whose key field equals this.
    Lookup(String),
    /// Records whose fields equal these values, a page at a time.
    Query { filters: BTreeMap<String, String>, limit: i64, offset: i64 },
}

#[derive(Debug, Clone)]
pub struct Call {
    pub ask: Ask,
    /// The fields wanted; all granted ones when none.
    pub fields: Option<Vec<String>>,
    /// 申请事由
    pub reason: String,
}

/// What the gateway answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Answer {
    /// The call's id in the log.
    pub call_id: String,
    pub resource_code: String,
    pub fields: Vec<String>,
    /// The fields shown masked (personal fields not granted in clear).
    pub masked_fields: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<Map<String, Value>>,
    /// How many records match in all (queries, when the source tells).
    pub total: Option<i64>,
}

struct Cached<T> {
    at: Instant,
    value: T,
}

impl<T: Clone> Cached<T> {
    fn fresh(&self) -> Option<T> {
        (self.at.elapsed() < CACHE_TTL).then(|| self.value.clone())
    }
}

/// An app's grants on one resource, newest first.
type GrantList = Arc<Vec<GrantRow>>;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The gateway's shared state: the call log writer, caches, limits, the HTTP client for
/// department systems.
#[derive(Clone)]
pub struct Exchange {
    inner: Arc<Inner>,
}

struct Inner {
    log: mpsc::UnboundedSender<Pending>,
    apps: Mutex<HashMap<String, Cached<Option<Arc<AppRow>>>>>,
    /// Apps by id, for yiwang's own lookups.
    apps_by_id: Mutex<HashMap<i64, Cached<Option<Arc<AppRow>>>>>,
    resources: Mutex<HashMap<String, Cached<Option<Arc<Resource>>>>>,
    grants: Mutex<HashMap<(i64, i64), Cached<GrantList>>>,
    buckets: Mutex<HashMap<i64, Bucket>>,
    quotas: Mutex<HashMap<i64, QuotaCount>>,
    http: reqwest::Client,
    source_hosts: SourceHosts,
    pseudonyms: Pseudonyms,
}

/// An app's successful calls on one China day, as this node knows them.
struct QuotaCount {
    day: chrono::NaiveDate,
    /// Logged by every node, when last read.
    logged: i64,
    /// Taken on this node since that read.
    own: i64,
    read_at: DateTime<Utc>,
}

impl QuotaCount {
    fn stale(&self, today: chrono::NaiveDate, now: DateTime<Utc>) -> bool {
        self.day != today || now < self.read_at || now - self.read_at >= QUOTA_REFRESH
    }
}

struct Pending {
    call: CallRecord,
    done: oneshot::Sender<std::result::Result<(), String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Exchange {
    /// Starts the call-log writer on the current runtime; the gateway calls department systems
    /// at `source_hosts` only, and logs personal values as `pseudonyms`.
    pub fn new(store: Store, source_hosts: SourceHosts, pseudonyms: Pseudonyms) -> Exchange {
        let (log, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_log(store, receiver));
        Exchange {
            inner: Arc::new(Inner {
                log,
                apps: Mutex::default(),
                apps_by_id: Mutex::default(),
                resources: Mutex::default(),
                grants: Mutex::default(),
                buckets: Mutex::default(),
                quotas: Mutex::default(),
                // A department's system answers at the address registered for it: a redirect
                // elsewhere (another host, an internal service) is refused, not followed.
                http: reqwest::Client::builder()
                    .timeout(sources::HTTP_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default(),
                source_hosts,
                pseudonyms,
            }),
        }
    }

    /// Drops every cached app, resource and grant: called after a change on this node.
    pub fn forget(&self) {
        lock(&self.inner.apps).clear();
        lock(&self.inner.apps_by_id).clear();
        lock(&self.inner.resources).clear();
        lock(&self.inner.grants).clear();
    }

    pub fn pseudonyms(&self) -> &Pseudonyms {
        &self.inner.pseudonyms
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Refuses an HTTP source whose host is not among the department systems the operator
    /// listed (`exchange_source_hosts`).
    pub fn check_source(&self, source: &Source) -> Result<()> {
        match source {
            Source::Http { url } if !self.inner.source_hosts.allows(url) => Err(invalid(
                "source.url",
                "该主机不在允许调用的部门系统之列（exchange_source_hosts）/ the host is not among the department \
                 systems the gateway may call (exchange_source_hosts)",
            )),
            _ => Ok(()),
        }
    }

    async fn app_by_token(&self, store: &Store, token: &str) -> Result<Arc<AppRow>> {
        let hash = crate::identity::hash_secret(token);
        let cached = lock(&self.inner.apps).get(&hash).and_then(Cached::fresh);
        let app = match cached {
            Some(app) => app,
            None => {
                let mut conn = store.pool().acquire().await?;
                let app = store::app_by_token_hash(&mut conn, &hash).await?.map(Arc::new);
                lock(&self.inner.apps).insert(hash, Cached { at: Instant::now(), value: app.clone() });
                app
            }
        };
        app.filter(|a| a.revoked_at.is_none()).ok_or(ExchangeError::UnknownApp)
    }

    /// A live app by id.
    async fn app_by_id(&self, store: &Store, id: i64) -> Result<Option<Arc<AppRow>>> {
        let cached = lock(&self.inner.apps_by_id).get(&id).and_then(Cached::fresh);
        let app = match cached {
            Some(app) => app,
            None => {
                let mut conn = store.pool().acquire().await?;
                let app = store::app_by_id(&mut conn, id).await?.map(Arc::new);
                lock(&self.inner.apps_by_id).insert(id, Cached { at: Instant::now(), value: app.clone() });
                app
            }
        };
        Ok(app.filter(|a| a.revoked_at.is_none()))
    }

    async fn resource(&self, store: &Store, code: &str) -> Result<Option<Arc<Resource>>> {
        if let Some(found) = lock(&self.inner.resources).get(code).and_then(Cached::fresh) {
            return Ok(found);
        }
        let found = super::resource(store, code).await?.map(Arc::new);
        lock(&self.inner.resources).insert(code.to_owned(), Cached { at: Instant::now(), value: found.clone() });
        Ok(found)
    }

    async fn grants(&self, store: &Store, app_id: i64, resource_id: i64) -> Result<Arc<Vec<GrantRow>>> {
        if let Some(found) = lock(&self.inner.grants).get(&(app_id, resource_id)).and_then(Cached::fresh) {
            return Ok(found);
        }
        let mut conn = store.pool().acquire().await?;
        let found = Arc::new(store::grants_of(&mut conn, app_id, resource_id).await?);
        lock(&self.inner.grants).insert((app_id, resource_id), Cached { at: Instant::now(), value: found.clone() });
        Ok(found)
    }

    /// Takes one call from the app's bucket (its rate per minute, refilled continuously).
    fn take_rate(&self, app: &AppRow) -> Result<()> {
        let per_second = app.rate_per_minute as f64 / 60.0;
        let mut buckets = lock(&self.inner.buckets);
        let bucket =
            buckets.entry(app.id).or_insert_with(|| Bucket { tokens: app.rate_per_minute as f64, at: Instant::now() });
        let now = Instant::now();
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_second).min(app.rate_per_minute as f64);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / per_second).ceil().max(1.0) as i64;
            Err(ExchangeError::Throttled { code: "rate_limited", retry_after_secs: wait })
        }
    }

    /// Counts a successful call against the app's daily quota (China days). The count is the
    /// day's successful calls logged by every node, read again once [`QUOTA_REFRESH`] has passed,
    /// plus this node's calls since that read; so on several nodes an app overshoots its quota by
    /// at most what the other nodes answered within that time.
    async fn take_quota(&self, store: &Store, app: &AppRow, now: DateTime<Utc>) -> Result<()> {
        let today = yiwang_calendar::china_date(now);
        let stale = lock(&self.inner.quotas).get(&app.id).is_none_or(|count| count.stale(today, now));
        if stale {
            let own_before = lock(&self.inner.quotas).get(&app.id).filter(|c| c.day == today).map_or(0, |c| c.own);
            let mut conn = store.pool().acquire().await?;
            let logged = store::ok_calls_since(&mut conn, app.id, start_of_china_day(today).timestamp_millis()).await?;
            let mut quotas = lock(&self.inner.quotas);
            // Calls this node counted while the read ran may not be in it; earlier ones are.
            let own = quotas.get(&app.id).filter(|c| c.day == today).map_or(0, |c| (c.own - own_before).max(0));
            quotas.insert(app.id, QuotaCount { day: today, logged, own, read_at: now });
        }
        let mut quotas = lock(&self.inner.quotas);
        let count = quotas.entry(app.id).or_insert(QuotaCount { day: today, logged: 0, own: 0, read_at: now });
        if count.logged + count.own >= app.daily_quota {
            let tomorrow = start_of_china_day(today.succ_opt().unwrap_or(today));
            let wait = (tomorrow - now).num_seconds().max(1);
            return Err(ExchangeError::Throttled { code: "quota_exceeded", retry_after_secs: wait });
        }
        count.own += 1;
        Ok(())
    }

    /// A call by an app's token (the HTTP gateway).
    pub async fn call(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        token: &str,
        resource_code: &str,
        call: Call,
    ) -> Result<Answer> {
        let app = self.app_by_token(store, token).await?;
        self.serve(store, now, &app, resource_code, call).await
    }

    /// A lookup by yiwang itself (instant approval's base-register facts) whose call record the
    /// caller writes with [`log_in`] in the same transaction as what the lookup decided, so the
    /// decision and the record of the data it used commit together (nothing is waited for here).
    /// No record when the app is unknown or revoked: then nothing was asked of any resource.
    pub async fn lookup_logged_by_caller(
        &self,
        store: &Store,
        app_id: i64,
        resource_code: &str,
        key: &str,
        reason: &str,
    ) -> (Result<Option<Map<String, Value>>>, Option<CallRecord>) {
        let call = Call { ask: Ask::Lookup(key.to_owned()), fields: None, reason: reason.to_owned() };
        let now = Utc::now();
        match self.app_by_id(store, app_id).await {
            Ok(Some(app)) => {
                let (result, record) = self.serve_unlogged(store, now, &app, resource_code, call).await;
                (result.map(|answer| answer.records.into_iter().next()), Some(record))
            }
            // No app, no call: nothing was asked of any resource.
            Ok(None) => (Err(ExchangeError::UnknownApp), None),
            Err(e) => (Err(e), None),
        }
    }

    async fn serve(&self, store: &Store, now: DateTime<Utc>, app: &AppRow, code: &str, call: Call) -> Result<Answer> {
        let (result, record) = self.serve_unlogged(store, now, app, code, call).await;
        let (done, logged) = oneshot::channel();
        self.inner.log.send(Pending { call: record, done }).map_err(|_| sqlx::Error::PoolClosed)?;
        match logged.await {
            Ok(Ok(())) => result,
            // No answer leaves unlogged: a call whose log entry failed is an error.
            Ok(Err(reason)) => Err(ExchangeError::Db(sqlx::Error::Io(std::io::Error::other(reason)))),
            Err(_) => Err(ExchangeError::Db(sqlx::Error::PoolClosed)),
        }
    }

    /// Answers a call and says how the log must record it.
    async fn serve_unlogged(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        app: &AppRow,
        code: &str,
        call: Call,
    ) -> (Result<Answer>, CallRecord) {
        let mut record = new_record(&self.inner.pseudonyms, app.id, app.department_id, code, &call, now);
        let result = self.answer(store, now, app, code, &call, &mut record).await;
        record.outcome = match &result {
            Ok(_) => "ok",
            Err(e) => outcome_of(e),
        };
        (result, record)
    }

    async fn answer(
        &self,
        store: &Store,
        now: DateTime<Utc>,
        app: &AppRow,
        code: &str,
        call: &Call,
        record: &mut CallRecord,
    ) -> Result<Answer> {
        self.take_rate(app)?;
        let resource = self.resource(store, code).await?.ok_or(ExchangeError::NotFound)?;
        record.resource_id = Some(resource.id);
        if !(2..=200).contains(&call.reason.trim().chars().count()) {
            return Err(invalid(
                "reason",
                "须说明申请事由（2-200字） / state the reason for the call (2-200 characters)",
            ));
        }
        let grants = self.grants(store, app.id, resource.id).await?;
        let now_ms = now.timestamp_millis();
        let live = grants.iter().find(|g| g.state == GrantState::Granted.as_str() && g.expires_at > now_ms);
        let Some(grant) = live else {
            let (code, message) = if grants.iter().any(|g| g.state == GrantState::Granted.as_str()) {
                ("grant_expired", "授权已过期 / the grant has expired")
            } else if grants.iter().any(|g| g.state == GrantState::Pending.as_str()) {
                ("grant_pending", "共享申请尚待审核 / the grant request awaits a decision")
            } else {
                ("no_grant", "未获授权使用该资源 / no grant for this resource")
            };
            return Err(ExchangeError::Refused { code, message: message.into(), field: None });
        };
        let granted = grant.field_list();
        let clear = grant.clear_list();
        let fields = match &call.fields {
            Some(asked) if !asked.is_empty() => {
                for (i, f) in asked.iter().enumerate() {
                    if !granted.contains(f) {
                        return Err(ExchangeError::Refused {
                            code: "field_not_granted",
                            message: format!("未授权的信息项 {f} / field not granted"),
                            field: Some(format!("fields[{i}]")),
                        });
                    }
                }
                asked.clone()
            }
            _ => granted.clone(),
        };
        record.fields = fields.clone();
        let spec = &resource.input;
        let filters: Vec<(String, FieldType, String)> = match &call.ask {
            Ask::Lookup(_) => Vec::new(),
            Ask::Query { filters, limit, offset } => {
                if !(1..=MAX_QUERY_ROWS).contains(limit) {
                    return Err(invalid("limit", format!("应在1-{MAX_QUERY_ROWS}之间 / 1-{MAX_QUERY_ROWS}")));
                }
                if *offset < 0 {
                    return Err(invalid("offset", "不能为负 / must not be negative"));
                }
                let mut out = Vec::new();
                for (name, value) in filters {
                    // Filtering on a value one may not see would reveal it one guess at a time.
                    let visible = spec.field(name).filter(|f| {
                        granted.contains(&f.name) && (!f.sensitivity.is_personal() || clear.contains(&f.name))
                    });
                    let Some(field) = visible else {
                        return Err(ExchangeError::Refused {
                            code: "field_not_granted",
                            message: format!(
                                "不能按未授权（或未授权明文）的信息项 {name} 筛选 / cannot filter on {name}"
                            ),
                            field: Some(format!("filters.{name}")),
                        });
                    };
                    out.push((field.name.clone(), field.field_type, value.clone()));
                }
                out
            }
        };
        // Attached while allowed, perhaps no longer listed.
        if self.check_source(&resource.input.source).is_err() {
            return Err(ExchangeError::Upstream("the source's host is not allowed".into()));
        }
        self.take_quota(store, app, now).await?;
        let fetch = match &call.ask {
            Ask::Lookup(key) => Fetch::Lookup(key),
            Ask::Query { limit, offset, .. } => Fetch::Query { filters: &filters, limit: *limit, offset: *offset },
        };
        let (rows, total) = sources::fetch(store, &self.inner.http, &resource, fetch).await?;
        let masked_fields: Vec<String> = fields
            .iter()
            .filter(|f| spec.field(f).is_some_and(|s| s.sensitivity.is_personal()) && !clear.contains(f))
            .cloned()
            .collect();
        let id_fields: Vec<&str> =
            spec.fields.iter().filter(|f| f.masking == Masking::IdNumber).map(|f| f.name.as_str()).collect();
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            for f in &id_fields {
                if let Some(Value::String(id)) = row.get(*f) {
                    record.subjects.push(self.inner.pseudonyms.of("subject", &id.to_ascii_uppercase()));
                }
            }
            let shown: Map<String, Value> = fields
                .iter()
                .map(|f| {
                    let value = row.get(f).cloned().unwrap_or(Value::Null);
                    let rule = spec.field(f).map(|s| s.masking).unwrap_or_default();
                    let value = if masked_fields.contains(f) { masking::mask(rule, &value) } else { value };
                    (f.clone(), value)
                })
                .collect();
            records.push(shown);
        }
        record.subjects.sort();
        record.subjects.dedup();
        record.rows = records.len() as i64;
        Ok(Answer {
            call_id: record.id.clone(),
            resource_code: spec.code.clone(),
            fields,
            masked_fields,
            records,
            total,
        })
    }
}

/// A call's log entry before it is answered.
fn new_record(
    pseudonyms: &Pseudonyms,
    app_id: i64,
    department_id: i64,
    code: &str,
    call: &Call,
    now: DateTime<Utc>,
) -> CallRecord {
    CallRecord {
        id: new_call_id(now),
        app_id,
        department_id,
        resource_id: None,
        resource_code: code.chars().take(64).collect(),
        kind: match call.ask {
            Ask::Lookup(_) => "lookup",
            Ask::Query { .. } => "query",
        },
        key_hash: match &call.ask {
            Ask::Lookup(key) => Some(pseudonyms.of("key", key)),
            Ask::Query { .. } => None,
        },
        fields: Vec::new(),
        rows: 0,
        reason: call.reason.trim().chars().take(200).collect(),
        outcome: "ok",
        at: now.timestamp_millis(),
        subjects: Vec::new(),
    }
}

/// The outcome the log records for a refused or failed call.
fn outcome_of(error: &ExchangeError) -> &'static str {
    match error {
        ExchangeError::Refused { code, .. } | ExchangeError::Throttled { code, .. } => code,
        ExchangeError::NotFound => "no_such_resource",
        ExchangeError::Invalid { .. } => "invalid",
        ExchangeError::Upstream(_) => "source_failed",
        _ => "error",
    }
}

pub fn start_of_china_day(day: chrono::NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    DateTime::from_naive_utc_and_offset(midnight - chrono::Duration::hours(8), Utc)
}

async fn write_log(store: Store, mut receiver: mpsc::UnboundedReceiver<Pending>) {
    while let Some(first) = receiver.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (calls, waiting): (Vec<CallRecord>, Vec<_>) = batch.into_iter().map(|p| (p.call, p.done)).unzip();
        let outcome = store
            .write(move |tx| Box::pin(async move { log_in(tx, &calls).await }))
            .await
            .map_err(|e: ExchangeError| e.to_string());
        if let Err(reason) = &outcome {
            tracing::error!(%reason, calls = waiting.len(), "could not log gateway calls");
        }
        for done in waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

/// Writes calls to the log, each with its evidence leaf, in the caller's transaction.
pub async fn log_in(tx: &mut WriteTx, calls: &[CallRecord]) -> Result<()> {
    store::insert_calls(tx, calls);
    for call in calls {
        ledger::record(
            tx,
            "exchange.call",
            format!("resource:{}", if call.resource_code.is_empty() { "-" } else { &call.resource_code }),
            format!("exchange_app:{}", call.app_id),
            call,
        )?;
    }
    Ok(())
}
