//! Service evaluation (好差评): every completed application, closed work order and window visit
//! is a service event its requester may rate once on the five national levels, by web page, by
//! the QR code printed at the window, or through the hotline's callback. A bad rating (不满意,
//! 非常不满意) opens a rectification (整改) for the responsible department — verify, contact the
//! requester, rectify, reply — within working days; the reply opens a second rating. Events left
//! unrated get the default rating (基本满意) after the configured period, by a job, marked as
//! default. A supervisor may rule a rating malicious or unfounded, which takes it out of the
//! figures. [`panorama`] computes the figures from these records.
//!
//! Applications and work orders call [`served`] in the transaction that completes or closes them.
//! Every rating, ruling and rectification step writes an evidence leaf (texts only as hashes) and
//! an outbox event. Errors are [`EvaluationError`]; `http::error` maps them.

pub mod api;
pub mod model;
pub mod pages;
pub mod panorama;
mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yiwang_calendar::Calendar;

use crate::identity::{Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Conn, Store, WriteTx, from_ms, outbox};
use model::{EventKind, Level, RatingChannel, RectificationState, RectificationStep, Ruling, Tag};

#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    /// The event's open round has its rating; ratings are never changed.
    #[error("already rated")]
    AlreadyRated,
    #[error("cannot {action} a rectification that is {state}")]
    WrongState { action: &'static str, state: &'static str },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, EvaluationError>;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EvaluationError {
    EvaluationError::Invalid { field: field.into(), message: message.into() }
}

/// The configurable periods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Natural days after which an unrated event gets the default rating (Guangdong: 7).
    pub default_after_days: u32,
    /// Working days a department has to reply to a bad rating (cities use 5, 7 or 15).
    pub rectification_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { default_after_days: 7, rectification_days: 7 }
    }
}

/// The level an unrated event gets (Guangdong's rule).
pub const DEFAULT_LEVEL: Level = Level::BasicallySatisfied;
/// The channel recorded on a default rating: nobody used a terminal, the system gave it.
pub const DEFAULT_CHANNEL: RatingChannel = RatingChannel::OtherTerminal;

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A service that may now be rated, as the module completing it describes it.
pub struct Served<'a> {
    pub kind: EventKind,
    pub reference: &'a str,
    pub item_code: &'a str,
    pub item_name: &'a str,
    pub department_id: i64,
    /// The staff member who served.
    pub staff_id: Option<i64>,
    /// The requester's account; none for an anonymous work order or a walk-in without one.
    pub requester_id: Option<i64>,
    pub at: DateTime<Utc>,
}

/// Records a service event in the caller's transaction (an application completed, a work order
/// closed); a work order closed again after re-handling opens its second round.
pub async fn served(tx: &mut WriteTx, s: Served<'_>) -> Result<i64> {
    served_with_token(tx, s, None).await
}

/// The department that served, as the event keeps it: (code, name, region path).
pub type Department<'a> = (&'a str, &'a str, &'a str);

/// [`served`] for a caller that already knows the department (an instant approval, whose item's
/// department is at hand), saving the lookup.
pub async fn served_by(tx: &mut WriteTx, s: Served<'_>, department: Department<'_>) -> Result<i64> {
    record_served(tx, s, department, None).await
}

async fn served_with_token(tx: &mut WriteTx, s: Served<'_>, token_sha256: Option<&str>) -> Result<i64> {
    let (code, name, path) =
        crate::identity::department_by_id(tx, s.department_id).await?.ok_or(EvaluationError::NotFound)?;
    record_served(tx, s, (&code, &name, &path), token_sha256).await
}

async fn record_served(
    tx: &mut WriteTx,
    s: Served<'_>,
    (code, name, path): Department<'_>,
    token_sha256: Option<&str>,
) -> Result<i64> {
    let id = store::upsert_event(
        tx,
        &store::NewEvent {
            kind: s.kind.as_str(),
            reference: s.reference,
            item_code: s.item_code,
            item_name: s.item_name,
            department_id: s.department_id,
            department_code: code,
            department_name: name,
            region_path: path,
            staff_id: s.staff_id,
            requester_id: s.requester_id,
            token_sha256,
            at: s.at.timestamp_millis(),
        },
    )
    .await?;
    let payload = serde_json::json!({"kind": s.kind, "reference": s.reference, "item": s.item_code,
        "department": code, "staff": s.staff_id});
    ledger::record(
        tx,
        "evaluation.served",
        subject(s.kind.as_str(), s.reference),
        ledger::actor(s.staff_id),
        &payload,
    )?;
    Ok(id)
}

fn subject(kind: &str, reference: &str) -> String {
    format!("evaluation:{kind}:{reference}")
}

/// A rating as given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct NewRating {
    pub level: Option<Level>,
    /// What the requester says, optional.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The national channel code the requester used: 1 PC (default), 2 mobile, 4 hall tablet,
    /// 5 other terminal, 7 SMS. The QR page records 3 and an operator's callback 6 by themselves.
    #[serde(default)]
    pub channel: Option<u8>,
}

/// Who gives a rating.
pub enum Rater<'a> {
    /// A signed-in account: the requester, or a hotline operator recording a callback.
    Account(&'a Principal),
    /// Whoever holds a window visit's QR token (its hash).
    Token,
}

/// What a rating needs besides the database.
pub struct Rating<'a> {
    pub settings: Settings,
    pub calendar: &'a Calendar,
    pub now: DateTime<Utc>,
}

/// The checked parts of a rating.
struct Checked {
    level: Level,
    text: String,
    tags: Vec<Tag>,
    channel: RatingChannel,
}

fn check(input: &NewRating, channel: RatingChannel) -> Result<Checked> {
    let level = input.level.ok_or_else(|| invalid("level", "请选择评价等级 / choose a level"))?;
    let text = input.text.trim().to_owned();
    if text.chars().count() > 500 {
        return Err(invalid("text", "不超过500字 / at most 500 characters"));
    }
    let mut tags = input.tags.clone();
    tags.sort_by_key(|t| t.as_str());
    tags.dedup();
    Ok(Checked { level, text, tags, channel })
}

/// The channel a requester says they used; the QR code and phone belong to those paths.
fn requester_channel(code: Option<u8>) -> Result<RatingChannel> {
    match code.map(|c| (c, RatingChannel::from_code(c))) {
        None => Ok(RatingChannel::Pc),
        Some((_, Some(c))) if !matches!(c, RatingChannel::QrCode | RatingChannel::Phone) => Ok(c),
        Some(_) => Err(invalid("channel", "渠道应为1、2、4、5或7 / channel must be 1, 2, 4, 5 or 7")),
    }
}

/// Rates an application or a window visit by its kind and reference. Work orders are rated with
/// their own `rate` step, which calls [`rate_in`].
pub async fn rate(
    store: &Store,
    at: &Rating<'_>,
    actor: &Principal,
    kind: EventKind,
    reference: &str,
    input: NewRating,
) -> Result<RatedService> {
    if kind == EventKind::WorkOrder {
        return Err(invalid("kind", "工单请在工单页评价 / rate a work order with its rate step"));
    }
    let event = store::event(&mut *store.pool().acquire().await?, kind.as_str(), reference)
        .await?
        .ok_or(EvaluationError::NotFound)?;
    let operator = actor.reaches_with(&event.region_path, Role::HotlineOperator);
    let requester = event.requester_id == Some(actor.account_id);
    let channel = match (requester, operator) {
        (true, _) => requester_channel(input.channel)?,
        (false, true) => RatingChannel::Phone,
        // Another's service looks like no service at all.
        (false, false) if reaches(actor, &event) => return Err(EvaluationError::Forbidden),
        (false, false) => return Err(EvaluationError::NotFound),
    };
    let checked = check(&input, channel)?;
    let mut tx = store.begin_write().await?;
    rate_in(&mut tx, at, &event, Some(actor.account_id), checked).await?;
    tx.commit().await?;
    view(store, Some(actor), event.id).await
}

/// Rates a window visit with the token of its QR code (no sign-in).
pub async fn rate_with_token(store: &Store, at: &Rating<'_>, token: &str, input: NewRating) -> Result<RatedService> {
    let event = event_for_token(store, token).await?;
    let checked = check(&input, RatingChannel::QrCode)?;
    let mut tx = store.begin_write().await?;
    rate_in(&mut tx, at, &event, None, checked).await?;
    tx.commit().await?;
    view(store, None, event.id).await
}

/// The event a QR token rates.
pub async fn event_for_token(store: &Store, token: &str) -> Result<store::EventRow> {
    let token = token.trim();
    if token.is_empty() || token.len() > 100 {
        return Err(EvaluationError::NotFound);
    }
    store::event_by_token(&mut *store.pool().acquire().await?, &sha256_hex(token))
        .await?
        .ok_or(EvaluationError::NotFound)
}

/// A work order's rating, in the transaction of its `rate` step: the requester on the page
/// (PC), or an operator on the callback (phone).
pub async fn rate_work_order(
    tx: &mut WriteTx,
    at: &Rating<'_>,
    number: &str,
    by: i64,
    by_operator: bool,
    level: Level,
) -> Result<()> {
    let event = store::event(tx, EventKind::WorkOrder.as_str(), number).await?.ok_or(EvaluationError::NotFound)?;
    let channel = if by_operator { RatingChannel::Phone } else { RatingChannel::Pc };
    let checked = Checked { level, text: String::new(), tags: Vec::new(), channel };
    rate_in(tx, at, &event, Some(by), checked).await
}

/// Whether a rating's level was bad, for a work order deciding whether it may be re-handled.
pub async fn work_order_level(conn: &mut Conn, number: &str) -> Result<Option<Level>> {
    let Some(event) = store::event(conn, EventKind::WorkOrder.as_str(), number).await? else { return Ok(None) };
    let ratings = store::ratings_of(conn, event.id).await?;
    Ok(ratings.iter().rev().find(|r| r.is_default == 0).and_then(|r| Level::parse(&r.level)))
}

/// Writes a rating into the event's open round, with its tags, evidence leaf and outbox event;
/// a bad one opens a rectification.
async fn rate_in(
    tx: &mut WriteTx,
    at: &Rating<'_>,
    event: &store::EventRow,
    by: Option<i64>,
    c: Checked,
) -> Result<()> {
    let now_ms = at.now.timestamp_millis();
    let new = store::NewRating {
        event_id: event.id,
        round: event.open_round,
        level: c.level.as_str(),
        channel: c.channel.code().into(),
        body: &c.text,
        is_default: false,
        rated_by: by,
        at: now_ms,
    };
    let id = store::insert_rating(tx, &new).await?.ok_or(EvaluationError::AlreadyRated)?;
    for tag in &c.tags {
        store::insert_tag(tx, id, tag.as_str()).await?;
    }
    let payload = serde_json::json!({"rating": id, "round": event.open_round, "level": c.level,
        "gbt_code": c.level.gbt_code(), "channel": c.channel.code(), "tags": c.tags,
        "text_sha256": sha256_hex(&c.text), "department": event.department_code, "staff": event.staff_id});
    ledger::record(tx, "evaluation.rated", subject(&event.kind, &event.reference), ledger::actor(by), &payload)?;
    outbox::append(tx, "evaluation.rated", &serde_json::json!({"rating": id, "level": c.level}))?;
    if c.level.is_bad() {
        let deadline = at.calendar.working_day_deadline(at.now, at.settings.rectification_days);
        let task =
            store::insert_rectification(tx, id, event.id, event.department_id, now_ms, deadline.timestamp_millis())
                .await?;
        let payload = serde_json::json!({"rectification": task, "rating": id, "deadline": deadline,
            "department": event.department_code});
        ledger::record(
            tx,
            "evaluation.rectification_opened",
            subject(&event.kind, &event.reference),
            ledger::actor(by),
            &payload,
        )?;
        outbox::append(tx, "evaluation.rectification_opened", &payload)?;
    }
    Ok(())
}

/// Whether a staff member reaches an event's department region at all.
fn reaches(actor: &Principal, event: &store::EventRow) -> bool {
    actor.reaches(&event.region_path)
}

/// A window visit recorded by a clerk.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewVisit {
    /// The item's implementation code.
    pub item: String,
    /// The requester's login (ID number or credit code), when they have an account; a walk-in
    /// without one rates with the QR code.
    #[serde(default)]
    pub requester: Option<String>,
}

/// A recorded window visit with its one-time rating token (shown once, as a QR code).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Visit {
    pub reference: String,
    pub item_name: String,
    pub department: String,
    /// The token of the rating page; only its hash is stored.
    pub token: String,
    /// The page the QR code opens: `/rate/{token}`.
    pub rate_path: String,
}

/// Records a window visit by a window clerk, for the clerk's department.
pub async fn record_visit(store: &Store, actor: &Principal, now: DateTime<Utc>, visit: NewVisit) -> Result<Visit> {
    let grant = actor.grants.iter().find(|g| g.role == Role::WindowClerk).ok_or(EvaluationError::Forbidden)?;
    let (item, _) = crate::catalog::published(store, visit.item.trim())
        .await
        .map_err(|_| invalid("item", "没有此事项 / no such published item"))?;
    let requester = match visit.requester.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(login) => Some(
            crate::identity::account_id_by_login(&mut *store.pool().acquire().await?, login)
                .await?
                .ok_or_else(|| invalid("requester", "没有此账户 / no such account"))?,
        ),
        None => None,
    };
    let token = hex::encode(rand::random::<[u8; 16]>());
    let reference = format!(
        "CK{}-{}-{}",
        grant.region_code,
        yiwang_calendar::china_date(now).format("%Y%m%d"),
        &hex::encode(rand::random::<[u8; 4]>()).to_uppercase()
    );
    let mut tx = store.begin_write().await?;
    let served = Served {
        kind: EventKind::Window,
        reference: &reference,
        item_code: &item.implementation_code,
        item_name: &item.name,
        department_id: grant.department_id,
        staff_id: Some(actor.account_id),
        requester_id: requester,
        at: now,
    };
    served_with_token(&mut tx, served, Some(&sha256_hex(&token))).await?;
    outbox::append(&mut tx, "evaluation.window_visit", &serde_json::json!({"reference": reference}))?;
    tx.commit().await?;
    Ok(Visit {
        rate_path: format!("/rate/{token}"),
        reference,
        item_name: item.name,
        department: grant.department_name.clone(),
        token,
    })
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RectificationView {
    pub id: i64,
    pub state: RectificationState,
    pub opened_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    /// Raised by the job once the deadline passed without a reply.
    pub overdue: bool,
    pub replied_at: Option<DateTime<Utc>>,
    /// Whether the reply came by the deadline (none before the reply).
    pub on_time: Option<bool>,
    /// The notes of the steps taken: {"verify": {"note", "at", "by"}, …}.
    #[schema(value_type = Object)]
    pub steps: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatingView {
    pub id: i64,
    pub round: i64,
    pub level: Level,
    pub level_zh: &'static str,
    /// GB/T 39046 code (1 = 非常满意).
    pub gbt_code: u8,
    /// National rating interface code (1 = 非常不满意).
    pub interface_code: u8,
    pub channel: RatingChannel,
    pub channel_code: u8,
    /// The requester's text, for the requester and staff of the region only.
    pub text: Option<String>,
    pub tags: Vec<Tag>,
    /// Given by the job after the period, not by a person.
    pub is_default: bool,
    pub rated_at: DateTime<Utc>,
    pub ruling: Option<Ruling>,
    pub ruling_reason: Option<String>,
    pub ruled_at: Option<DateTime<Utc>>,
    pub rectification: Option<RectificationView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RatedService {
    pub kind: EventKind,
    pub reference: String,
    pub item_code: String,
    pub item_name: String,
    pub department_code: String,
    pub department: String,
    pub served_at: DateTime<Utc>,
    /// The round a rating may be given in now, if it is still open (1, or 2 after a rectification).
    pub open_round: Option<i64>,
    pub ratings: Vec<RatingView>,
}

fn rectification_view(row: store::RectificationRow) -> RectificationView {
    RectificationView {
        id: row.id,
        state: RectificationState::parse(&row.state).unwrap_or(RectificationState::Opened),
        opened_at: from_ms(row.opened_at),
        deadline: from_ms(row.deadline_at),
        overdue: row.overdue == 1,
        replied_at: row.replied_at.map(from_ms),
        on_time: row.replied_at.map(|r| r <= row.deadline_at),
        steps: serde_json::from_str(&row.steps).unwrap_or_default(),
    }
}

async fn view(store: &Store, viewer: Option<&Principal>, event_id: i64) -> Result<RatedService> {
    let mut conn = store.pool().acquire().await?;
    let event = store::event_by_id(&mut conn, event_id).await?.ok_or(EvaluationError::NotFound)?;
    let sees_text = viewer.is_some_and(|v| event.requester_id == Some(v.account_id) || reaches(v, &event));
    let rows = store::ratings_of(&mut conn, event.id).await?;
    let open = !rows.iter().any(|r| r.round == event.open_round);
    let mut ratings = Vec::with_capacity(rows.len());
    for r in rows {
        let level = Level::parse(&r.level).unwrap_or(DEFAULT_LEVEL);
        let channel = u8::try_from(r.channel).ok().and_then(RatingChannel::from_code).unwrap_or(DEFAULT_CHANNEL);
        let tags = store::tags_of(&mut conn, r.id).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        let rectification = store::rectification_of(&mut conn, r.id).await?.map(rectification_view);
        ratings.push(RatingView {
            id: r.id,
            round: r.round,
            level,
            level_zh: level.label_zh(),
            gbt_code: level.gbt_code(),
            interface_code: level.interface_code(),
            channel,
            channel_code: channel.code(),
            text: sees_text.then_some(r.body),
            tags,
            is_default: r.is_default == 1,
            rated_at: from_ms(r.rated_at),
            ruling: r.ruling.as_deref().and_then(Ruling::parse),
            ruling_reason: r.ruling_reason,
            ruled_at: r.ruled_at.map(from_ms),
            rectification,
        });
    }
    Ok(RatedService {
        kind: EventKind::parse(&event.kind).unwrap_or(EventKind::Window),
        reference: event.reference,
        item_code: event.item_code,
        item_name: event.item_name,
        department_code: event.department_code,
        department: event.department_name,
        served_at: from_ms(event.served_at),
        open_round: open.then_some(event.open_round),
        ratings,
    })
}

/// A service event with its ratings, for its requester and the staff of its region.
pub async fn get(store: &Store, actor: &Principal, kind: EventKind, reference: &str) -> Result<RatedService> {
    let event = store::event(&mut *store.pool().acquire().await?, kind.as_str(), reference)
        .await?
        .ok_or(EvaluationError::NotFound)?;
    if event.requester_id != Some(actor.account_id) && !reaches(actor, &event) {
        return Err(EvaluationError::NotFound);
    }
    view(store, Some(actor), event.id).await
}

/// A window visit as its QR page shows it (no texts).
pub async fn get_by_token(store: &Store, token: &str) -> Result<RatedService> {
    let event = event_for_token(store, token).await?;
    view(store, None, event.id).await
}

/// A supervisor's ruling on a rating.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewRuling {
    pub ruling: Option<Ruling>,
    #[serde(default)]
    pub reason: String,
}

/// Rules a rating malicious or unfounded (a supervisor of its region), with reasons; the rating
/// stays in the record and leaves the figures.
pub async fn rule(
    store: &Store,
    actor: &Principal,
    now: DateTime<Utc>,
    rating_id: i64,
    input: NewRuling,
) -> Result<RatedService> {
    let mut conn = store.pool().acquire().await?;
    let rating = store::rating(&mut conn, rating_id).await?.ok_or(EvaluationError::NotFound)?;
    let event = store::event_by_id(&mut conn, rating.event_id).await?.ok_or(EvaluationError::NotFound)?;
    drop(conn);
    if !actor.reaches_with(&event.region_path, Role::Supervisor) {
        return Err(if reaches(actor, &event) { EvaluationError::Forbidden } else { EvaluationError::NotFound });
    }
    let ruling =
        input.ruling.ok_or_else(|| invalid("ruling", "应为 malicious 或 unfounded / malicious or unfounded"))?;
    let reason = input.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(invalid("reason", "请说明理由（不超过1000字） / give reasons (at most 1000 characters)"));
    }
    let mut tx = store.begin_write().await?;
    if !store::rule(&mut tx, rating_id, ruling.as_str(), reason, actor.account_id, now.timestamp_millis()).await? {
        return Err(EvaluationError::AlreadyRated);
    }
    let payload = serde_json::json!({"rating": rating_id, "ruling": ruling, "reason_sha256": sha256_hex(reason)});
    ledger::record(
        &mut tx,
        "evaluation.ruled",
        subject(&event.kind, &event.reference),
        ledger::actor(Some(actor.account_id)),
        &payload,
    )?;
    outbox::append(&mut tx, "evaluation.ruled", &serde_json::json!({"rating": rating_id, "ruling": ruling}))?;
    tx.commit().await?;
    view(store, Some(actor), event.id).await
}

/// A step on a rectification.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct StepInput {
    /// What was found, said or done: required.
    #[serde(default)]
    pub note: String,
}

/// Takes a rectification's next step (a handler of its department). The reply opens the
/// event's second rating.
pub async fn take_step(
    store: &Store,
    actor: &Principal,
    now: DateTime<Utc>,
    id: i64,
    step: RectificationStep,
    input: StepInput,
) -> Result<Task> {
    let mut conn = store.pool().acquire().await?;
    let row = store::rectification(&mut conn, id).await?.ok_or(EvaluationError::NotFound)?;
    let event = store::event_by_id(&mut conn, row.event_id).await?.ok_or(EvaluationError::NotFound)?;
    drop(conn);
    let handles =
        actor.grants.iter().any(|g| g.role == Role::DepartmentHandler && g.department_id == row.department_id);
    if !handles {
        return Err(if reaches(actor, &event) { EvaluationError::Forbidden } else { EvaluationError::NotFound });
    }
    let state = RectificationState::parse(&row.state).unwrap_or(RectificationState::Opened);
    let (from, to) = step.moves();
    if state != from {
        return Err(EvaluationError::WrongState { action: step.as_str(), state: state.as_str() });
    }
    let note = input.note.trim();
    if note.is_empty() || note.chars().count() > 2000 {
        return Err(invalid("note", "请说明（不超过2000字） / required, at most 2000 characters"));
    }
    let now_ms = now.timestamp_millis();
    let mut steps: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&row.steps).unwrap_or_default();
    steps.insert(step.as_str().into(), serde_json::json!({"note": note, "at": now, "by": actor.display_name}));
    let steps = serde_json::Value::Object(steps).to_string();
    let replied = (step == RectificationStep::Reply).then_some(now_ms);
    let mut tx = store.begin_write().await?;
    if !store::step_rectification(&mut tx, id, from.as_str(), to.as_str(), &steps, replied).await? {
        return Err(EvaluationError::WrongState { action: step.as_str(), state: state.as_str() });
    }
    if step == RectificationStep::Reply {
        store::open_second_round(&mut tx, event.id, now_ms).await?;
    }
    let payload = serde_json::json!({"rectification": id, "step": step, "to": to, "note_sha256": sha256_hex(note),
        "on_time": replied.map(|r| r <= row.deadline_at)});
    ledger::record(
        &mut tx,
        "evaluation.rectification_step",
        subject(&event.kind, &event.reference),
        ledger::actor(Some(actor.account_id)),
        &payload,
    )?;
    outbox::append(&mut tx, "evaluation.rectification_step", &serde_json::json!({"rectification": id, "state": to}))?;
    tx.commit().await?;
    let mut conn = store.pool().acquire().await?;
    tasks_where(&mut conn, &[row.department_id], &[])
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or(EvaluationError::NotFound)
}

/// A line in a department's rectification list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    pub state: RectificationState,
    pub state_zh: &'static str,
    /// The next step, none when replied.
    pub next_step: Option<RectificationStep>,
    pub kind: EventKind,
    pub reference: String,
    pub item_name: String,
    pub department: String,
    pub level: Level,
    pub ruling: Option<Ruling>,
    pub opened_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub overdue: bool,
    pub replied_at: Option<DateTime<Utc>>,
}

async fn tasks_where(conn: &mut Conn, departments: &[i64], paths: &[String]) -> Result<Vec<Task>> {
    Ok(store::tasks(conn, departments, paths)
        .await?
        .into_iter()
        .map(|t| {
            let state = RectificationState::parse(&t.state).unwrap_or(RectificationState::Opened);
            Task {
                id: t.id,
                state,
                state_zh: state.label_zh(),
                next_step: RectificationStep::ALL.iter().copied().find(|s| s.moves().0 == state),
                kind: EventKind::parse(&t.kind).unwrap_or(EventKind::Window),
                reference: t.reference,
                item_name: t.item_name,
                department: t.department_name,
                level: Level::parse(&t.level).unwrap_or(DEFAULT_LEVEL),
                ruling: t.ruling.as_deref().and_then(Ruling::parse),
                opened_at: from_ms(t.opened_at),
                deadline: from_ms(t.deadline_at),
                overdue: t.overdue == 1,
                replied_at: t.replied_at.map(from_ms),
            }
        })
        .collect())
}

/// The rectifications a handler's departments work, and those a supervisor's region watches.
pub async fn tasks(store: &Store, actor: &Principal) -> Result<Vec<Task>> {
    let departments: Vec<i64> =
        actor.grants.iter().filter(|g| g.role == Role::DepartmentHandler).map(|g| g.department_id).collect();
    let paths = actor.scopes_for(Some(Role::Supervisor));
    if departments.is_empty() && paths.is_empty() {
        return Err(EvaluationError::Forbidden);
    }
    tasks_where(&mut *store.pool().acquire().await?, &departments, &paths).await
}

/// Gives the default rating to events whose open round stayed unrated for the period (a job);
/// returns how many.
pub async fn default_ratings(store: &Store, settings: Settings, now: DateTime<Utc>) -> Result<usize> {
    let before = now - chrono::TimeDelta::days(settings.default_after_days.into());
    let due = store::unrated_since(&mut *store.pool().acquire().await?, before.timestamp_millis()).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    let mut given = 0;
    for (event_id, round) in due {
        let new = store::NewRating {
            event_id,
            round,
            level: DEFAULT_LEVEL.as_str(),
            channel: DEFAULT_CHANNEL.code().into(),
            body: "",
            is_default: true,
            rated_by: None,
            at: now.timestamp_millis(),
        };
        // Rated meanwhile by its requester: theirs stands.
        let Some(id) = store::insert_rating(&mut tx, &new).await? else { continue };
        if let Some(event) = store::event_by_id(&mut tx, event_id).await? {
            let payload = serde_json::json!({"rating": id, "round": round, "level": DEFAULT_LEVEL,
                "gbt_code": DEFAULT_LEVEL.gbt_code(), "default": true});
            ledger::record(
                &mut tx,
                "evaluation.defaulted",
                subject(&event.kind, &event.reference),
                ledger::actor(None),
                &payload,
            )?;
        }
        given += 1;
    }
    tx.commit().await?;
    Ok(given)
}

/// Raises rectifications past their deadline without a reply as overdue (a job); returns how many.
pub async fn raise_overdue(store: &Store, now: DateTime<Utc>) -> Result<usize> {
    let mut tx = store.begin_write().await?;
    let raised = store::mark_overdue(&mut tx, now.timestamp_millis()).await?;
    for id in &raised {
        if let Some(row) = store::rectification(&mut tx, *id).await?
            && let Some(event) = store::event_by_id(&mut tx, row.event_id).await?
        {
            let payload = serde_json::json!({"rectification": id, "deadline": from_ms(row.deadline_at)});
            ledger::record(
                &mut tx,
                "evaluation.rectification_overdue",
                subject(&event.kind, &event.reference),
                ledger::actor(None),
                &payload,
            )?;
            outbox::append(&mut tx, "evaluation.rectification_overdue", &payload)?;
        }
    }
    tx.commit().await?;
    Ok(raised.len())
}

/// Demo ratings so the panorama has content: window visits to the demo catalogue's items over the
/// sixty days before `now`, rated mostly well, a few badly (those older than ten days rectified
/// in time, the rest open), some with tags and texts.
pub async fn load_demo(tx: &mut WriteTx, now: DateTime<Utc>) -> Result<usize> {
    let items: Vec<crate::catalog::model::ItemDocument> =
        serde_json::from_str(crate::catalog::DEMO_CATALOGUE).map_err(|e| invalid("catalogue", e.to_string()))?;
    let calendar = Calendar::builtin();
    let clerk = crate::identity::account_id_by_login(tx, "clerk").await?;
    // A fixed spread of levels: about 4 in 100 bad, as a real hall's figures look.
    const LEVELS: [Level; 25] = {
        use Level::*;
        [
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            VerySatisfied,
            BasicallySatisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            VerySatisfied,
            Satisfied,
            Dissatisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            BasicallySatisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
            Satisfied,
            VerySatisfied,
        ]
    };
    const CHANNELS: [RatingChannel; 6] = [
        RatingChannel::QrCode,
        RatingChannel::Pc,
        RatingChannel::Mobile,
        RatingChannel::QrCode,
        RatingChannel::HallTablet,
        RatingChannel::Phone,
    ];
    let mut rated = 0;
    for i in 0..150usize {
        let item = &items[(i * 7) % items.len()];
        let Some(department_id) = crate::identity::department_id(tx, &item.department_code).await? else { continue };
        let at = now
            - chrono::TimeDelta::days(((i * 37) % 60) as i64 + 1)
            - chrono::TimeDelta::minutes((i * 53 % 480) as i64);
        let mut level = LEVELS[i % LEVELS.len()];
        // One item fares worse, so the worst-rated list says something.
        if i % 11 == 3 && item.name.contains("居住") {
            level = Level::VeryDissatisfied;
        }
        let reference = format!("CKDEMO-{}-{i:04}", at.format("%Y%m%d"));
        let visit = Served {
            kind: EventKind::Window,
            reference: &reference,
            item_code: &item.implementation_code,
            item_name: &item.name,
            department_id,
            staff_id: clerk,
            requester_id: None,
            at,
        };
        let event_id = served(tx, visit).await?;
        let event = store::event_by_id(tx, event_id).await?.ok_or(EvaluationError::NotFound)?;
        let (tags, text) = match level {
            Level::Dissatisfied | Level::VeryDissatisfied => {
                (vec![Tag::Efficiency, Tag::Materials], "材料要求说明不清楚，来回跑了两次。".to_owned())
            }
            Level::BasicallySatisfied => (vec![Tag::Process], String::new()),
            _ => (if i % 4 == 0 { vec![Tag::Attitude] } else { Vec::new() }, String::new()),
        };
        let checked = Checked { level, text, tags, channel: CHANNELS[i % CHANNELS.len()] };
        let context = Rating { settings: Settings::default(), calendar: &calendar, now: at };
        rate_in(tx, &context, &event, None, checked).await?;
        rated += 1;
        if level.is_bad() && at < now - chrono::TimeDelta::days(10) {
            let ratings = store::ratings_of(tx, event_id).await?;
            if let Some(task) = match ratings.first() {
                Some(r) => store::rectification_of(tx, r.id).await?,
                None => None,
            } {
                let replied = at + chrono::TimeDelta::days(2);
                let steps = serde_json::json!({
                    "verify": {"note": "已核实：窗口未一次性告知材料要求。", "at": at + chrono::TimeDelta::hours(4), "by": "演示"},
                    "contact": {"note": "已电话回访办事人并致歉。", "at": at + chrono::TimeDelta::days(1), "by": "演示"},
                    "rectify": {"note": "已更新办事指南材料说明并培训窗口人员。", "at": replied, "by": "演示"},
                    "reply": {"note": "已答复办事人整改情况。", "at": replied, "by": "演示"}});
                store::step_rectification(
                    tx,
                    task.id,
                    "opened",
                    "replied",
                    &steps.to_string(),
                    Some(replied.timestamp_millis()),
                )
                .await?;
                store::open_second_round(tx, event_id, replied.timestamp_millis()).await?;
            }
        }
    }
    Ok(rated)
}
