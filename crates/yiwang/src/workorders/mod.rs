//! Work orders (工单, 一网统管): every non-emergency city event — a 12345 call, a web or app
//! report, a grid worker's patrol finding, a sensor alarm, an Open311 request — becomes one order.
//! Emergencies are redirected to 110/119/120/122 at intake. The rest are classified, routed to the
//! competent department and grid, and dispatched by themselves when the classifier is confident;
//! otherwise they wait for a dispatcher with its top suggestions. Departments sign for, return,
//! co-handle, reply and close within working-day limits that jobs watch; supervisors extend,
//! supervise and escalate; requesters rate and may have an order re-handled once.
//!
//! Every step records actor, time and note, writes an evidence leaf and an outbox event.
//! Errors are [`WorkOrderError`]; `http::error` maps them.

pub mod api;
pub mod classifier;
pub mod emergency;
pub mod knowledge;
pub mod limits;
pub mod model;
pub mod open311;
pub mod pages;
pub mod patrol;
pub mod routing;
pub mod sensors;
pub mod settings;
pub mod setup;
mod similar;
pub mod stats;
mod store;
pub mod tallies;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yiwang_calendar::Calendar;

use crate::grid::LatLon;
use crate::identity::{AccountKind, PhoneNumber, Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Store, WriteTx, from_ms, outbox};
use model::{Action, Channel, RequestType, RequesterKind, Satisfaction, State};
use routing::{Routing, Suggestion};

#[derive(Debug, thiserror::Error)]
pub enum WorkOrderError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("cannot {action} a work order that is {state}")]
    WrongState { action: &'static str, state: &'static str },
    /// Someone else changed the order between reading and writing it.
    #[error("the work order changed meanwhile")]
    Conflict,
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, WorkOrderError>;

/// Largest photo an order may carry.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> WorkOrderError {
    WorkOrderError::Invalid { field: field.into(), message: message.into() }
}

/// Who asked, as others may see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Requester {
    pub kind: RequesterKind,
    /// Masked (`陈**`) for those without the grant to see it.
    pub name: Option<String>,
    /// Masked (`138****8001`) for those without the grant to see it.
    pub phone: Option<String>,
    pub masked: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// Who acted; none for the system.
    pub actor: Option<String>,
    pub department: Option<String>,
    pub note: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkOrder {
    /// The human number: `GD` + region code + date + daily sequence.
    pub number: String,
    pub request_type: RequestType,
    pub channel: Channel,
    pub requester: Requester,
    pub title: String,
    pub text: String,
    pub category_code: Option<String>,
    /// The category's names from the first level down.
    pub category: Option<String>,
    /// What the classifier proposed, best first.
    pub suggestions: Vec<Suggestion>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    pub address: Option<String>,
    pub location: Option<LatLon>,
    pub grid_code: Option<String>,
    pub region_code: String,
    pub department: Option<routing::DepartmentRef>,
    pub co_handlers: Vec<routing::DepartmentRef>,
    pub state: State,
    /// 110, 119, 120 or 122 for an emergency redirected at intake.
    pub emergency: Option<String>,
    /// Sign for (签收) by then (enterprise requests).
    pub respond_by: Option<DateTime<Utc>>,
    pub deadline: Option<DateTime<Utc>>,
    /// `none`, `yellow` (80% of the time used) or `red` (overdue), raised by a job.
    pub alarm: String,
    pub returned: bool,
    pub reopened: bool,
    pub supervised: bool,
    pub escalated: bool,
    pub difficulty: Option<String>,
    /// A requested extension waiting for a supervisor: days and reason.
    pub extension_requested: Option<(i64, String)>,
    pub reply: Option<String>,
    pub satisfaction: Option<Satisfaction>,
    pub merged_into: Option<String>,
    /// Open orders within 50 m and 72 hours with similar text (for dispatchers, operators and
    /// supervisors): candidates to merge.
    pub possible_duplicates: Vec<String>,
    /// SHA-256 of each photo (fetch at `/api/workorders/{number}/photos/{sha256}`).
    pub photos: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub timeline: Vec<TimelineEntry>,
}

/// A line in a queue or list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub number: String,
    pub request_type: RequestType,
    pub channel: Channel,
    pub title: String,
    pub category: Option<String>,
    pub department: Option<String>,
    pub grid_code: Option<String>,
    pub address: Option<String>,
    pub location: Option<LatLon>,
    pub state: State,
    pub alarm: String,
    pub deadline: Option<DateTime<Utc>>,
    pub returned: bool,
    pub reopened: bool,
    pub extension_requested: bool,
    pub satisfaction: Option<Satisfaction>,
    pub created_at: DateTime<Utc>,
}

/// Who the requester is, when a hotline operator takes the call for them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CallerInput {
    pub kind: RequesterKind,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// A new work order.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewWorkOrder {
    pub request_type: RequestType,
    /// A short title; the start of the text when left out.
    #[serde(default)]
    pub title: Option<String>,
    /// What happened, in the requester's words.
    pub text: String,
    /// A category code, when the intake knows it (the operator, a patrol item); else the
    /// classifier reads the text.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub location: Option<LatLon>,
    /// Hotline operators: the caller.
    #[serde(default)]
    pub caller: Option<CallerInput>,
    /// SHA-256 of photos uploaded before (`POST /api/files`).
    #[serde(default)]
    pub photos: Vec<String>,
    /// Hotline operators: the answer given on the call to a consultation, which closes the order
    /// at once (直接办结).
    #[serde(default)]
    pub answer: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// How an order came in, set by the endpoint that took it.
pub struct Intake<'a> {
    pub channel: Channel,
    /// Open311's token for the request.
    pub open311_token: Option<&'a str>,
    /// A continuing sensor alarm's key.
    pub alarm_key: Option<&'a str>,
    /// Contact details an Open311 client passed on for an anonymous requester.
    pub contact: Option<(Option<String>, Option<String>)>,
}

impl Intake<'_> {
    pub fn channel(channel: Channel) -> Self {
        Intake { channel, open311_token: None, alarm_key: None, contact: None }
    }
}

/// A step on an existing order.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = WorkOrderStep)]
pub struct Step {
    /// Why, or what was done: required to return, reply, supervise, escalate, refuse an extension.
    #[serde(default)]
    pub note: String,
    /// To dispatch or add a co-handler: the department's code.
    #[serde(default)]
    pub department: Option<String>,
    /// To dispatch: the category, when the dispatcher corrects it.
    #[serde(default)]
    pub category: Option<String>,
    /// To rate.
    #[serde(default)]
    pub satisfaction: Option<Satisfaction>,
    /// To request an extension: how many more working days (1-30).
    #[serde(default)]
    pub days: Option<u32>,
    /// To mark as difficult: `on_site` (现场核查) or `joint_meeting` (联席会商).
    #[serde(default)]
    pub difficulty: Option<String>,
    /// To merge: the number of the order this one duplicates.
    #[serde(default)]
    pub into: Option<String>,
}

/// What steps need besides the database: routing, the calendar and the time.
pub struct Context<'a> {
    pub routing: &'a Routing,
    pub calendar: std::sync::Arc<Calendar>,
    pub now: DateTime<Utc>,
    /// The evaluation periods, for the rating a closed order gets.
    pub evaluation: crate::evaluation::Settings,
}

impl<'a> Context<'a> {
    pub fn now(state: &'a crate::AppState) -> Self {
        Context {
            routing: &state.workorders,
            calendar: state.calendar.get(),
            now: state.clock.now(),
            evaluation: state.config.evaluation,
        }
    }
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(invalid(field, "必填 / required"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("不超过{max}字 / at most {max} characters")));
    }
    Ok(value.to_owned())
}

fn optional(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>> {
    Ok(value.map(|v| text(field, v, max, false)).transpose()?.filter(|v| !v.is_empty()))
}

/// A phone number as the identity module writes it; none when left blank.
fn phone(field: &str, value: Option<&str>) -> Result<Option<String>> {
    match value.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => p
            .parse::<PhoneNumber>()
            .map(|number| Some(number.to_string()))
            .map_err(|_| invalid(field, "电话号码无效 / not a valid phone number")),
        None => Ok(None),
    }
}

/// The checked parts of a new order.
struct Checked {
    title: String,
    body: String,
    address: Option<String>,
    kind: RequesterKind,
    account: Option<i64>,
    name: Option<String>,
    phone: Option<String>,
    answer: Option<String>,
}

async fn check(store: &Store, actor: Option<&Principal>, intake: &Intake<'_>, new: &NewWorkOrder) -> Result<Checked> {
    let body = text("text", &new.text, 2000, true)?;
    let title = match optional("title", new.title.as_deref(), 100)? {
        Some(title) => title,
        None => body.chars().take(30).collect(),
    };
    let address = optional("address", new.address.as_deref(), 200)?;
    if let Some(at) = new.location {
        LatLon::new(at.lat, at.lon).map_err(|e| match e {
            crate::grid::GridError::Invalid { field, message } => invalid(format!("location.{field}"), message),
            crate::grid::GridError::Db(db) => WorkOrderError::Db(db),
        })?;
    }
    if new.photos.len() > 9 {
        return Err(invalid("photos", "最多9张照片 / at most 9 photos"));
    }
    let answer = optional("answer", new.answer.as_deref(), 2000)?;
    let operator = actor.is_some_and(|a| a.has_role(Role::HotlineOperator));
    if answer.is_some() && (!operator || new.request_type != RequestType::Consult) {
        return Err(invalid(
            "answer",
            "只有话务员可直接答复咨询 / only an operator answers a consultation on the call",
        ));
    }
    if new.caller.is_some() && !operator {
        return Err(invalid("caller", "只有话务员可代录来电人 / only a hotline operator records a caller"));
    }
    let (kind, account, name, phone) = match (actor, &new.caller) {
        (Some(_), Some(caller)) => {
            let phone = phone("caller.phone", caller.phone.as_deref())?;
            (caller.kind, None, optional("caller.name", caller.name.as_deref(), 50)?, phone)
        }
        (Some(a), None) if a.kind != AccountKind::Staff => {
            let kind =
                if a.kind == AccountKind::Enterprise { RequesterKind::Enterprise } else { RequesterKind::Resident };
            let contact = crate::identity::contact(&mut *store.pool().acquire().await?, a.account_id).await?;
            let (name, phone) = contact.map(|(n, p)| (Some(n), p)).unwrap_or((Some(a.display_name.clone()), None));
            (kind, Some(a.account_id), name, phone)
        }
        // Staff reporting what they found (a grid worker's patrol) or a device: no citizen asked.
        (Some(a), None) => (RequesterKind::Anonymous, Some(a.account_id), Some(a.display_name.clone()), None),
        (None, _) => {
            let (name, given) = intake.contact.clone().unwrap_or_default();
            (RequesterKind::Anonymous, None, optional("name", name.as_deref(), 50)?, phone("phone", given.as_deref())?)
        }
    };
    Ok(Checked { title, body, address, kind, account, name, phone, answer })
}

fn record(tx: &mut WriteTx, number: &str, kind: &str, actor: Option<i64>, payload: &serde_json::Value) -> Result<()> {
    ledger::record(tx, kind, format!("workorder:{number}"), ledger::actor(actor), payload)?;
    Ok(())
}

/// Takes in a new work order: recognises an emergency, classifies and routes the rest, and
/// dispatches it when the route is sure.
pub async fn intake(
    store: &Store,
    at: &Context<'_>,
    actor: Option<&Principal>,
    intake: Intake<'_>,
    new: NewWorkOrder,
) -> Result<WorkOrder> {
    let checked = check(store, actor, &intake, &new).await?;
    if let Some(code) = new.category.as_deref()
        && at.routing.category(code).is_none()
    {
        return Err(invalid("category", "没有此分类 / no such category"));
    }
    let full_text = format!("{}。{}", checked.title, checked.body);
    let emergency = emergency::detect(&full_text);
    let route = if emergency.is_some() {
        at.routing.place(new.location)
    } else {
        at.routing.route(new.category.as_deref(), &full_text, new.location)
    };
    let state = match (&emergency, &checked.answer) {
        (Some(_), _) => State::Redirected,
        (None, Some(_)) => State::Closed,
        (None, None) if route.automatic => State::Dispatched,
        (None, None) => State::Pending,
    };
    let now = at.now;
    let (respond_hours, days) = at.routing.limit(new.request_type, checked.kind);
    let running = state.is_open();
    let respond_by =
        respond_hours.filter(|_| running).map(|h| limits::add_working_hours(&at.calendar, now, h).timestamp_millis());
    let deadline = running.then(|| limits::handle_deadline(&at.calendar, now, days).timestamp_millis());
    let district = route.region_code.get(..6).unwrap_or(&route.region_code).to_owned();
    let department = route.department.clone().filter(|_| matches!(state, State::Dispatched | State::Closed));
    let category = route.category.as_ref().map(|c| c.code.clone());
    let now_ms = now.timestamp_millis();
    // The timeline as it is stored and answered: taken in, then dispatched when the route is sure.
    let mut timeline = vec![TimelineEntry {
        action: "intake".into(),
        from_state: None,
        to_state: if state == State::Dispatched { State::Pending.as_str() } else { state.as_str() }.into(),
        actor: actor.map(|a| a.display_name.clone()),
        department: None,
        note: checked.answer.clone().unwrap_or_default(),
        details: serde_json::json!({"channel": intake.channel, "emergency": emergency,
            "grid": route.grid.as_ref().map(|g| &g.code)}),
        at: now,
    }];
    if state == State::Dispatched
        && let (Some(department), Some(best)) = (&department, route.suggestions.first())
    {
        timeline.push(TimelineEntry {
            action: Action::Dispatch.as_str().into(),
            from_state: Some(State::Pending.as_str().into()),
            to_state: State::Dispatched.as_str().into(),
            actor: None,
            department: Some(department.name.clone()),
            note: "智能派单 / dispatched automatically".into(),
            details: serde_json::json!({"automatic": true, "category": best.category_code,
                "confidence": best.confidence, "department": department.code}),
            at: now,
        });
    }
    let mut row = store::Row {
        id: 0,
        number: String::new(),
        request_type: new.request_type.as_str().into(),
        channel: intake.channel.as_str().into(),
        requester_kind: checked.kind.as_str().into(),
        requester_account: checked.account,
        requester_name: checked.name.clone(),
        requester_phone: checked.phone.clone(),
        title: checked.title.clone(),
        body: checked.body.clone(),
        category_code: category.clone(),
        suggestions: serde_json::to_string(&route.suggestions).unwrap_or_else(|_| "[]".into()),
        attributes: serde_json::Value::Object(new.attributes.clone()).to_string(),
        address: checked.address.clone(),
        lat_e6: new.location.map(|l| l.to_e6().0),
        lon_e6: new.location.map(|l| l.to_e6().1),
        grid_code: route.grid.as_ref().map(|g| g.code.clone()),
        region_code: route.region_code.clone(),
        region_path: String::new(),
        department_id: department.as_ref().map(|d| d.id),
        department_code: department.as_ref().map(|d| d.code.clone()),
        department_name: department.as_ref().map(|d| d.name.clone()),
        state: state.as_str().into(),
        emergency: emergency.map(|e| e.number.to_owned()),
        respond_by,
        signed_at: None,
        deadline_at: deadline,
        alarm: "none".into(),
        returned: 0,
        reopened: 0,
        supervised: 0,
        escalated: 0,
        difficulty: None,
        extension_days: None,
        extension_reason: None,
        reply: checked.answer.clone(),
        satisfaction: None,
        rated_via: None,
        duplicate_of: None,
        created_at: now_ms,
        updated_at: now_ms,
        closed_at: (!state.is_open()).then_some(now_ms),
    };
    let written = (
        row.clone(),
        timeline
            .iter()
            .map(|e| (e.action.clone(), e.to_state.clone(), e.note.clone(), e.details.to_string()))
            .collect::<Vec<_>>(),
    );
    let photos = new.photos.clone();
    let owner = actor.map(|a| a.account_id);
    // A consultation answered on the call is a service its caller may rate at once.
    let answered_in = category.as_deref().map(|c| at.routing.category_path(c)).unwrap_or_else(|| checked.title.clone());
    let alarm_key = intake.alarm_key.map(str::to_owned);
    let token = intake.open311_token.map(str::to_owned);
    let (id, number, photos) = store
        .write(move |tx| {
            Box::pin(async move {
                let (row, events) = written;
                let photos = photo_types(tx, &photos, owner).await?;
                let today = yiwang_calendar::china_date(now);
                let sequence = store::next_sequence(tx, &district, &today.format("%Y%m%d").to_string()).await?;
                let number = model::number(&district, today, sequence);
                let id = store::insert(tx, &row, &number, alarm_key.as_deref(), token.as_deref()).await?;
                for (sha256, content_type) in &photos {
                    store::add_photo(tx, id, sha256, content_type).await?;
                }
                let mut from = None;
                let mut rows = Vec::with_capacity(events.len());
                for (action, to_state, note, details) in &events {
                    let system = action != "intake";
                    rows.push(store::EventRow {
                        workorder_id: id,
                        action,
                        from_state: from,
                        to_state,
                        actor_id: if system { None } else { owner },
                        department_id: if system { row.department_id } else { None },
                        note,
                        details,
                    });
                    from = Some(to_state.as_str());
                    let payload = if system {
                        serde_json::from_str(details).unwrap_or_default()
                    } else {
                        serde_json::json!({"number": number, "type": row.request_type, "channel": row.channel,
                            "category": row.category_code, "state": row.state, "emergency": row.emergency,
                            "text_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(row.body.as_bytes()))})
                    };
                    record(tx, &number, &format!("workorder.{action}"), if system { None } else { owner }, &payload)?;
                }
                store::insert_events(tx, &rows, row.created_at).await?;
                if row.state == State::Closed.as_str()
                    && let Some(department_id) = row.department_id
                {
                    let served = crate::evaluation::Served {
                        kind: crate::evaluation::model::EventKind::WorkOrder,
                        reference: &number,
                        item_code: row.category_code.as_deref().unwrap_or_default(),
                        item_name: &answered_in,
                        department_id,
                        staff_id: owner,
                        requester_id: row.requester_account,
                        at: now,
                    };
                    crate::evaluation::served(tx, served).await.map_err(evaluation_error)?;
                }
                outbox::append(tx, "workorder.intake", &serde_json::json!({"number": number, "state": row.state}))?;
                Ok::<_, WorkOrderError>((id, number, photos))
            })
        })
        .await?;
    row.id = id;
    row.number = number;
    // The one who just submitted it sees it, even without an account (an anonymous report).
    let parts = Parts { requester: true, ..Parts::default() };
    let seen = Seen { timeline, photos: photos.into_iter().map(|(sha, _)| sha).collect(), ..Seen::default() };
    Ok(assemble(at.routing, row, &parts, seen))
}

/// The type of each photo, which must be a JPEG or PNG the account uploaded.
async fn photo_types(tx: &mut WriteTx, photos: &[String], owner: Option<i64>) -> Result<Vec<(String, String)>> {
    let mut typed = Vec::new();
    for (i, sha256) in photos.iter().enumerate() {
        let file = match owner {
            Some(owner) => crate::applications::uploaded_file(tx, sha256, owner).await.map_err(|e| match e {
                crate::applications::ApplicationError::Db(db) => WorkOrderError::Db(db),
                other => WorkOrderError::Db(sqlx::Error::Protocol(other.to_string())),
            })?,
            None => None,
        };
        let Some((content_type, size)) = file else {
            return Err(invalid(format!("photos[{i}]"), "未找到您上传的该照片 / no such photo uploaded by you"));
        };
        if !matches!(content_type.as_str(), "image/jpeg" | "image/png") {
            return Err(invalid(format!("photos[{i}]"), "照片应为JPEG或PNG / photos must be JPEG or PNG"));
        }
        if size > MAX_PHOTO_BYTES as i64 {
            return Err(invalid(format!("photos[{i}]"), "照片不超过5MB / a photo is at most 5 MB"));
        }
        typed.push((sha256.clone(), content_type));
    }
    Ok(typed)
}

/// What an actor is to an order.
#[derive(Default)]
struct Parts {
    requester: bool,
    operator: bool,
    dispatcher: bool,
    supervisor: bool,
    lead_handler: bool,
    co_handler: bool,
    grid_worker: bool,
    reader: bool,
}

impl Parts {
    fn sees(&self) -> bool {
        self.requester
            || self.operator
            || self.dispatcher
            || self.supervisor
            || self.lead_handler
            || self.co_handler
            || self.grid_worker
            || self.reader
    }

    /// Whether the requester's name and phone show in full. A report (举报) keeps the
    /// whistle-blower's contact from the department handling it.
    fn sees_contact(&self, request_type: RequestType) -> bool {
        self.requester
            || self.operator
            || self.dispatcher
            || self.supervisor
            || ((self.lead_handler || self.co_handler) && request_type != RequestType::Report)
    }
}

async fn parts(store: &Store, actor: Option<&Principal>, row: &store::Row) -> Result<Parts> {
    let Some(actor) = actor else { return Ok(Parts::default()) };
    let path = row.region_path.as_str();
    let handles = |department: i64| {
        actor.grants.iter().any(|g| g.role == Role::DepartmentHandler && g.department_id == department)
    };
    let mut conn = store.pool().acquire().await?;
    let co = store::co_handlers(&mut conn, row.id).await?;
    let grid_worker = match (&row.grid_code, actor.has_role(Role::GridWorker)) {
        (Some(grid), true) => crate::grid::store::grids_of(&mut conn, actor.account_id).await?.contains(grid),
        _ => false,
    };
    // The requesters of orders merged into this one follow it too.
    let merged_requester = store::merged_requester(&mut conn, row.id, actor.account_id).await?;
    Ok(Parts {
        requester: row.requester_account == Some(actor.account_id) || merged_requester,
        operator: actor.reaches_with(path, Role::HotlineOperator),
        dispatcher: actor.reaches_with(path, Role::Dispatcher),
        supervisor: actor.reaches_with(path, Role::Supervisor),
        lead_handler: row.department_id.is_some_and(handles),
        co_handler: co.iter().any(|(id, _, _)| handles(*id)),
        grid_worker,
        reader: actor.reaches_with(path, Role::Auditor) || actor.reaches_with(path, Role::PlatformAdmin),
    })
}

fn summary(routing: &Routing, row: &store::Row) -> Summary {
    Summary {
        number: row.number.clone(),
        request_type: RequestType::parse(&row.request_type).unwrap_or(RequestType::Help),
        channel: Channel::parse(&row.channel).unwrap_or(Channel::Web),
        title: row.title.clone(),
        category: row.category_code.as_deref().map(|c| routing.category_path(c)),
        department: row.department_name.clone(),
        grid_code: row.grid_code.clone(),
        address: row.address.clone(),
        location: location(row),
        state: State::parse(&row.state).unwrap_or(State::Pending),
        alarm: row.alarm.clone(),
        deadline: row.deadline_at.map(from_ms),
        returned: row.returned == 1,
        reopened: row.reopened == 1,
        extension_requested: row.extension_days.is_some(),
        satisfaction: row.satisfaction.as_deref().and_then(Satisfaction::parse),
        created_at: from_ms(row.created_at),
    }
}

fn location(row: &store::Row) -> Option<LatLon> {
    Some(LatLon::from_e6(row.lat_e6?, row.lon_e6?))
}

/// What an order's view reads besides its row.
#[derive(Default)]
struct Seen {
    timeline: Vec<TimelineEntry>,
    photos: Vec<String>,
    co_handlers: Vec<routing::DepartmentRef>,
    possible_duplicates: Vec<String>,
    merged_into: Option<String>,
}

/// The order as `parts` may see it; callers check first that they may see it at all.
async fn view(store: &Store, routing: &Routing, row: store::Row, parts: &Parts) -> Result<WorkOrder> {
    let mut conn = store.pool().acquire().await?;
    let timeline = store::events(&mut conn, row.id)
        .await?
        .into_iter()
        .map(|(action, from_state, to_state, actor, department, note, details, at)| TimelineEntry {
            action,
            from_state,
            to_state,
            actor,
            department,
            note,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
            at: from_ms(at),
        })
        .collect();
    let photos = store::photos(&mut conn, row.id).await?.into_iter().map(|(sha, _)| sha).collect();
    let co_handlers = store::co_handlers(&mut conn, row.id)
        .await?
        .into_iter()
        .filter_map(|(_, code, _)| routing.department(&code))
        .collect();
    let possible_duplicates = if (parts.dispatcher || parts.operator || parts.supervisor) && state_open(&row) {
        duplicates(&mut conn, &row).await?
    } else {
        Vec::new()
    };
    let merged_into = match row.duplicate_of {
        Some(id) => store::by_id(&mut conn, id).await?.map(|r| r.number),
        None => None,
    };
    Ok(assemble(routing, row, parts, Seen { timeline, photos, co_handlers, possible_duplicates, merged_into }))
}

fn assemble(routing: &Routing, row: store::Row, parts: &Parts, seen: Seen) -> WorkOrder {
    let request_type = RequestType::parse(&row.request_type).unwrap_or(RequestType::Help);
    let full = parts.sees_contact(request_type);
    WorkOrder {
        request_type,
        channel: Channel::parse(&row.channel).unwrap_or(Channel::Web),
        requester: Requester {
            kind: RequesterKind::parse(&row.requester_kind).unwrap_or(RequesterKind::Anonymous),
            name: row.requester_name.as_deref().map(|n| if full { n.to_owned() } else { model::mask_name(n) }),
            phone: row.requester_phone.as_deref().map(|p| if full { p.to_owned() } else { model::mask_phone(p) }),
            masked: !full,
        },
        category: row.category_code.as_deref().map(|c| routing.category_path(c)),
        suggestions: serde_json::from_str(&row.suggestions).unwrap_or_default(),
        attributes: serde_json::from_str(&row.attributes).unwrap_or(serde_json::Value::Null),
        location: location(&row),
        department: row.department_code.as_deref().and_then(|c| routing.department(c)),
        co_handlers: seen.co_handlers,
        state: State::parse(&row.state).unwrap_or(State::Pending),
        respond_by: row.respond_by.map(from_ms),
        deadline: row.deadline_at.map(from_ms),
        returned: row.returned == 1,
        reopened: row.reopened == 1,
        supervised: row.supervised == 1,
        escalated: row.escalated == 1,
        extension_requested: row.extension_days.map(|d| (d, row.extension_reason.clone().unwrap_or_default())),
        satisfaction: row.satisfaction.as_deref().and_then(Satisfaction::parse),
        merged_into: seen.merged_into,
        possible_duplicates: seen.possible_duplicates,
        photos: seen.photos,
        created_at: from_ms(row.created_at),
        updated_at: from_ms(row.updated_at),
        closed_at: row.closed_at.map(from_ms),
        timeline: seen.timeline,
        number: row.number,
        title: row.title,
        text: row.body,
        category_code: row.category_code,
        address: row.address,
        grid_code: row.grid_code,
        region_code: row.region_code,
        emergency: row.emergency,
        alarm: row.alarm,
        difficulty: row.difficulty,
        reply: row.reply,
    }
}

fn state_open(row: &store::Row) -> bool {
    State::parse(&row.state).is_some_and(State::is_open)
}

/// Within this distance and time an order on a similar matter is likely the same matter.
const DUPLICATE_METRES: f64 = 50.0;
const DUPLICATE_HOURS: i64 = 72;
/// Share of character pairs two texts must have in common to count as similar.
const DUPLICATE_SIMILARITY: f64 = 0.3;

async fn duplicates(conn: &mut crate::store::Conn, row: &store::Row) -> Result<Vec<String>> {
    let Some(here) = location(row) else { return Ok(Vec::new()) };
    // About 50 m in micro-degrees, generously: the true distance is measured below.
    let (dlat, dlon) = (600, 700);
    let (lat, lon) = here.to_e6();
    let since = row.created_at - DUPLICATE_HOURS * 3_600_000;
    let nearby = store::near(conn, (lat - dlat, lat + dlat), (lon - dlon, lon + dlon), since).await?;
    let mine = similar::pairs(&format!("{}{}", row.title, row.body));
    Ok(nearby
        .into_iter()
        .filter(|other| other.id != row.id && other.created_at <= row.created_at + DUPLICATE_HOURS * 3_600_000)
        .filter(|other| location(other).is_some_and(|there| here.distance_m(there) <= DUPLICATE_METRES))
        .filter(|other| {
            similar::jaccard(&mine, &similar::pairs(&format!("{}{}", other.title, other.body))) >= DUPLICATE_SIMILARITY
        })
        .map(|other| other.number)
        .collect())
}

async fn row(store: &Store, number: &str) -> Result<store::Row> {
    store::by_number(&mut *store.pool().acquire().await?, number).await?.ok_or(WorkOrderError::NotFound)
}

pub async fn get(store: &Store, routing: &Routing, actor: Option<&Principal>, number: &str) -> Result<WorkOrder> {
    let row = row(store, number).await?;
    let parts = parts(store, actor, &row).await?;
    if !parts.sees() {
        return Err(WorkOrderError::NotFound);
    }
    view(store, routing, row, &parts).await
}

/// An Open311 client reads any request; contact details are never part of what it gets.
pub async fn public(store: &Store, routing: &Routing, number: &str) -> Result<WorkOrder> {
    let row = row(store, number).await?;
    if row.emergency.is_some() {
        return Err(WorkOrderError::NotFound);
    }
    let mut order = view(store, routing, row, &Parts::default()).await?;
    order.requester = Requester { kind: order.requester.kind, name: None, phone: None, masked: true };
    Ok(order)
}

/// The request an Open311 token stands for.
pub async fn by_token(store: &Store, token: &str) -> Result<String> {
    let row = store::by_token(&mut *store.pool().acquire().await?, token).await?.ok_or(WorkOrderError::NotFound)?;
    Ok(row.number)
}

/// The ids of the departments in which the actor handles orders.
fn handled_departments(actor: &Principal) -> Vec<i64> {
    actor.grants.iter().filter(|g| g.role == Role::DepartmentHandler).map(|g| g.department_id).collect()
}

/// The roles that see every order of their region (lists and statistics).
pub(crate) const REGION_ROLES: [Role; 5] =
    [Role::HotlineOperator, Role::Dispatcher, Role::Supervisor, Role::Auditor, Role::PlatformAdmin];

/// Every order the actor may see: their own, their department's, their grid's, their region's
/// (named region by region, which the planner estimates well).
async fn scope_of<'a>(
    store: &Store,
    actor: &'a Principal,
    regions: &'a mut Vec<String>,
    grids: &'a mut Vec<String>,
) -> Result<store::Scope<'a>> {
    let mut scope = store::Scope { requester_account: Some(actor.account_id), ..Default::default() };
    let paths = actor.scopes_for_any(&REGION_ROLES);
    *regions = store::regions_under(&mut *store.pool().acquire().await?, &paths).await?;
    scope.region_codes = regions.iter().map(String::as_str).collect();
    scope.departments = handled_departments(actor);
    if actor.has_role(Role::GridWorker) {
        *grids = crate::grid::store::grids_of(&mut *store.pool().acquire().await?, actor.account_id).await?;
        scope.grids = grids.iter().map(String::as_str).collect();
    }
    Ok(scope)
}

/// What a list of orders asks for.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// A state, e.g. `pending` (a dispatcher's queue) or `dispatched`.
    pub state: Option<State>,
    /// `yellow` or `red`.
    pub alarm: Option<String>,
    /// Orders of a caller, by phone (hotline operators).
    pub phone: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

pub async fn list(
    store: &Store,
    routing: &Routing,
    actor: &Principal,
    query: &ListQuery,
    limit: i64,
    offset: i64,
) -> Result<Vec<Summary>> {
    let (mut regions, mut grids) = (Vec::new(), Vec::new());
    let scope = scope_of(store, actor, &mut regions, &mut grids).await?;
    if query.phone.as_deref().is_some_and(|p| !p.trim().is_empty()) && !actor.has_role(Role::HotlineOperator) {
        return Err(WorkOrderError::Forbidden);
    }
    let phone = phone("phone", query.phone.as_deref())?;
    if let Some(alarm) = query.alarm.as_deref()
        && !matches!(alarm, "none" | "yellow" | "red")
    {
        return Err(invalid("alarm", "应为 none、yellow 或 red / none, yellow or red"));
    }
    let filter = store::Filter {
        states: query.state.map(|s| vec![s.as_str()]).unwrap_or_default(),
        requester_phone: phone.as_deref(),
        alarm: query.alarm.as_deref(),
        scope,
        ..Default::default()
    };
    let rows = store::select(&mut *store.pool().acquire().await?, &filter, limit, offset).await?;
    Ok(rows.iter().map(|r| summary(routing, r)).collect())
}

/// A supervisor's board (督办看板): near-due, overdue, returned and re-opened orders and
/// extension requests in their region.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub near_due: BoardSection,
    pub overdue: BoardSection,
    pub returned: BoardSection,
    pub reopened: BoardSection,
    pub extension_requests: BoardSection,
}

/// One section of the board: how many orders it holds, and the most urgent of them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BoardSection {
    pub total: u64,
    /// Earliest deadline first, at most 100; the lists (`?alarm=red`, …) page
    /// through the rest.
    pub orders: Vec<Summary>,
}

const BOARD_SECTION_ORDERS: i64 = 100;

pub async fn board(store: &Store, routing: &Routing, actor: &Principal) -> Result<Board> {
    let paths = actor.scopes_for(Some(Role::Supervisor));
    if paths.is_empty() {
        return Err(WorkOrderError::Forbidden);
    }
    let mut conn = store.pool().acquire().await?;
    let regions = store::regions_under(&mut conn, &paths).await?;
    let scope = || store::Scope { region_codes: regions.iter().map(String::as_str).collect(), ..Default::default() };
    // At city scale a section holds thousands of orders (tens of thousands are open); each
    // section is its own query of the most urgent, and one pass over the open orders counts them all.
    let totals = store::board_totals(&mut conn, scope()).await?;
    let mut section = async |condition: &'static str, total: i64| -> Result<BoardSection> {
        let filter = store::Filter { condition: Some(condition), scope: scope(), ..Default::default() };
        let orders = store::select_urgent(&mut conn, &filter, BOARD_SECTION_ORDERS).await?;
        Ok(BoardSection { total: total.max(0) as u64, orders: orders.iter().map(|r| summary(routing, r)).collect() })
    };
    Ok(Board {
        near_due: section(store::BOARD_NEAR_DUE, totals.near_due).await?,
        overdue: section(store::BOARD_OVERDUE, totals.overdue).await?,
        returned: section(store::BOARD_RETURNED, totals.returned).await?,
        reopened: section(store::BOARD_REOPENED, totals.reopened).await?,
        extension_requests: section(store::BOARD_EXTENSIONS, totals.extensions).await?,
    })
}

/// Takes a step on an order.
pub async fn act(
    store: &Store,
    at: &Context<'_>,
    actor: &Principal,
    number: &str,
    action: Action,
    step: Step,
) -> Result<WorkOrder> {
    let row = row(store, number).await?;
    let parts = parts(store, Some(actor), &row).await?;
    if !parts.sees() {
        return Err(WorkOrderError::NotFound);
    }
    let state = State::parse(&row.state).unwrap_or(State::Pending);
    let wrong = || WorkOrderError::WrongState { action: action.as_str(), state: state.as_str() };
    let allowed = |ok: bool| if ok { Ok(()) } else { Err(WorkOrderError::Forbidden) };
    let note = text("note", &step.note, 2000, false)?;
    let need_note = || if note.is_empty() { Err(invalid("note", "请说明 / required")) } else { Ok(()) };
    let now = at.now;
    let now_ms = now.timestamp_millis();
    let request_type = RequestType::parse(&row.request_type).unwrap_or(RequestType::Help);
    let kind = RequesterKind::parse(&row.requester_kind).unwrap_or(RequesterKind::Anonymous);
    let mut change = store::Change {
        state: state.as_str(),
        department_id: row.department_id,
        category_code: row.category_code.as_deref(),
        respond_by: row.respond_by,
        signed_at: row.signed_at,
        deadline_at: row.deadline_at,
        alarm: row.alarm.as_str(),
        returned: row.returned,
        reopened: row.reopened,
        supervised: row.supervised,
        escalated: row.escalated,
        difficulty: row.difficulty.as_deref(),
        extension_days: row.extension_days,
        extension_reason: row.extension_reason.as_deref(),
        reply: row.reply.as_deref(),
        satisfaction: row.satisfaction.as_deref(),
        rated_via: row.rated_via.as_deref(),
        duplicate_of: row.duplicate_of,
        closed_at: row.closed_at,
    };
    let mut details = serde_json::json!({});
    let mut event_department = row.department_id;
    let mut co_handler: Option<i64> = None;
    let department_input = || -> Result<routing::DepartmentRef> {
        let code = step.department.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let code = code.ok_or_else(|| invalid("department", "请选择部门 / name the department"))?;
        at.routing.department(code).ok_or_else(|| invalid("department", "没有此部门 / no such department"))
    };
    let chosen_category;
    match action {
        Action::Dispatch => {
            allowed(parts.dispatcher)?;
            if !matches!(state, State::Pending | State::Dispatched) {
                return Err(wrong());
            }
            let department = department_input()?;
            chosen_category = match step.category.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                Some(code) => {
                    at.routing.category(code).ok_or_else(|| invalid("category", "没有此分类 / no such category"))?;
                    Some(code.to_owned())
                }
                None => row.category_code.clone(),
            };
            let suggestions: Vec<Suggestion> = serde_json::from_str(&row.suggestions).unwrap_or_default();
            let first = suggestions.first();
            let overridden = first.is_some_and(|s| {
                Some(&s.category_code) != chosen_category.as_ref()
                    || s.department_code.as_deref() != Some(&department.code)
            });
            change.state = State::Dispatched.as_str();
            change.department_id = Some(department.id);
            change.category_code = chosen_category.as_deref();
            let (respond_hours, _) = at.routing.limit(request_type, kind);
            change.respond_by =
                respond_hours.map(|h| limits::add_working_hours(&at.calendar, now, h).timestamp_millis());
            event_department = Some(department.id);
            details = serde_json::json!({"department": department.code, "category": chosen_category,
                "override": overridden, "suggested": first});
        }
        Action::Sign => {
            allowed(parts.lead_handler)?;
            if state != State::Dispatched {
                return Err(wrong());
            }
            change.state = State::Signed.as_str();
            change.signed_at = Some(now_ms);
        }
        Action::Return => {
            allowed(parts.lead_handler)?;
            if !matches!(state, State::Dispatched | State::Signed) {
                return Err(wrong());
            }
            need_note()?;
            change.state = State::Pending.as_str();
            change.department_id = None;
            change.signed_at = None;
            change.returned = 1;
        }
        Action::CoHandle => {
            allowed(parts.lead_handler || parts.dispatcher)?;
            if !matches!(state, State::Dispatched | State::Signed) {
                return Err(wrong());
            }
            let department = department_input()?;
            if Some(department.id) == row.department_id {
                return Err(invalid("department", "已是主办部门 / already the lead department"));
            }
            co_handler = Some(department.id);
            details = serde_json::json!({"department": department.code});
            event_department = Some(department.id);
        }
        Action::Progress => {
            allowed(parts.lead_handler || parts.co_handler || parts.operator || parts.requester)?;
            if !state.is_open() {
                return Err(wrong());
            }
            need_note()?;
        }
        Action::Difficult => {
            allowed(parts.lead_handler || parts.supervisor)?;
            if !matches!(state, State::Dispatched | State::Signed) {
                return Err(wrong());
            }
            let difficulty = step.difficulty.as_deref().unwrap_or_default();
            if !matches!(difficulty, "on_site" | "joint_meeting") {
                return Err(invalid("difficulty", "应为 on_site 或 joint_meeting / on_site or joint_meeting"));
            }
            change.difficulty = step.difficulty.as_deref();
            details = serde_json::json!({"difficulty": difficulty});
        }
        Action::Reply => {
            allowed(parts.lead_handler)?;
            if state != State::Signed {
                return Err(wrong());
            }
            need_note()?;
            change.state = State::Replied.as_str();
            change.reply = Some(&note);
        }
        Action::Close => {
            allowed(parts.lead_handler || parts.dispatcher || parts.operator)?;
            if state != State::Replied {
                return Err(wrong());
            }
            change.state = State::Closed.as_str();
            change.closed_at = Some(now_ms);
        }
        Action::Rate => {
            allowed(parts.requester || parts.operator)?;
            if state != State::Closed || row.satisfaction.is_some() || row.emergency.is_some() {
                return Err(wrong());
            }
            let satisfaction = step.satisfaction.ok_or_else(|| invalid("satisfaction", "请评价 / required"))?;
            change.satisfaction = Some(satisfaction.as_str());
            change.rated_via = Some(if parts.requester { "page" } else { "callback" });
            details = serde_json::json!({"satisfaction": satisfaction, "via": change.rated_via});
        }
        Action::Reopen => {
            allowed(parts.requester || parts.operator)?;
            let bad = row.satisfaction.as_deref().and_then(Satisfaction::parse).is_some_and(Satisfaction::is_bad);
            if state != State::Closed || !bad {
                return Err(wrong());
            }
            if row.reopened == 1 {
                return Err(invalid("action", "每件工单只能重办一次 / an order is re-handled once only"));
            }
            if row.department_id.is_none() {
                return Err(wrong());
            }
            let (respond_hours, days) = at.routing.limit(request_type, kind);
            change.state = State::Dispatched.as_str();
            change.reopened = 1;
            change.satisfaction = None;
            change.rated_via = None;
            change.closed_at = None;
            change.signed_at = None;
            change.reply = None;
            change.respond_by =
                respond_hours.map(|h| limits::add_working_hours(&at.calendar, now, h).timestamp_millis());
            change.deadline_at = Some(limits::handle_deadline(&at.calendar, now, days).timestamp_millis());
            change.alarm = "none";
            details = serde_json::json!({"previous_satisfaction": row.satisfaction, "previous_reply": row.reply});
        }
        Action::RequestExtension => {
            allowed(parts.lead_handler)?;
            if !matches!(state, State::Dispatched | State::Signed) {
                return Err(wrong());
            }
            if row.extension_days.is_some() {
                return Err(invalid("action", "已有待审批的延期申请 / an extension is already waiting"));
            }
            let days = step.days.filter(|d| (1..=30).contains(d));
            let days = days.ok_or_else(|| invalid("days", "延期1-30个工作日 / 1-30 working days"))?;
            need_note()?;
            change.extension_days = Some(days.into());
            change.extension_reason = Some(&note);
            details = serde_json::json!({"days": days});
        }
        Action::ApproveExtension | Action::RefuseExtension => {
            allowed(parts.supervisor)?;
            let Some(days) = row.extension_days else { return Err(wrong()) };
            if action == Action::ApproveExtension {
                let deadline = row.deadline_at.map(from_ms).ok_or_else(wrong)?;
                let extended = limits::extend(&at.calendar, deadline, u32::try_from(days).unwrap_or(0));
                change.deadline_at = Some(extended.timestamp_millis());
                change.alarm =
                    limits::alarm(&row.state, row.created_at, row.respond_by, extended.timestamp_millis(), now_ms);
                details = serde_json::json!({"days": days, "deadline": extended});
            } else {
                need_note()?;
                details = serde_json::json!({"days": days});
            }
            change.extension_days = None;
            change.extension_reason = None;
        }
        Action::Supervise | Action::Escalate => {
            allowed(parts.supervisor)?;
            if !state.is_open() {
                return Err(wrong());
            }
            need_note()?;
            if action == Action::Supervise {
                change.supervised = 1;
            } else {
                change.escalated = 1;
            }
        }
        Action::Merge => {
            allowed(parts.dispatcher)?;
            if !matches!(state, State::Pending | State::Dispatched) {
                return Err(wrong());
            }
            let into = step.into.as_deref().map(str::trim).unwrap_or_default();
            let target = store::by_number(&mut *store.pool().acquire().await?, into)
                .await?
                .filter(|t| t.id != row.id && State::parse(&t.state).is_some_and(State::is_open))
                .ok_or_else(|| invalid("into", "没有可合并的在办工单 / no open order with that number"))?;
            change.state = State::Merged.as_str();
            change.duplicate_of = Some(target.id);
            change.closed_at = Some(now_ms);
            details = serde_json::json!({"into": target.number});
        }
    }
    let from = state.as_str();
    let to = change.state.to_owned();
    let event_details = details.to_string();
    let moved = {
        let mut tx = store.begin_write().await?;
        if !store::update(&mut tx, &row, change, now_ms).await? {
            return Err(WorkOrderError::Conflict);
        }
        if let Some(department) = co_handler
            && !store::add_co_handler(&mut tx, row.id, department).await?
        {
            return Err(invalid("department", "已是协办部门 / already co-handling"));
        }
        evaluate(&mut tx, at, actor, &row, action, &parts, step.satisfaction).await?;
        let event = store::EventRow {
            workorder_id: row.id,
            action: action.as_str(),
            from_state: Some(from),
            to_state: &to,
            actor_id: Some(actor.account_id),
            department_id: event_department,
            note: &note,
            details: &event_details,
        };
        store::insert_event(&mut tx, event, now_ms).await?;
        let payload = serde_json::json!({"number": row.number, "action": action, "from": from, "to": to,
            "note_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(note.as_bytes())), "details": details});
        record(&mut tx, &row.number, &format!("workorder.{action}"), Some(actor.account_id), &payload)?;
        outbox::append(
            &mut tx,
            &format!("workorder.{action}"),
            &serde_json::json!({"number": row.number, "state": to}),
        )?;
        tx.commit().await?;
        row.number.clone()
    };
    // The actor sees the result of their step even when it took the order out of their hands
    // (a return): with what they could see before it.
    let row = self::row(store, &moved).await?;
    view(store, at.routing, row, &parts).await
}

/// What a step means for evaluation, in its transaction: a closed order becomes a service event
/// its requester may rate; a rating becomes the event's rating (with its rectification when bad).
async fn evaluate(
    tx: &mut WriteTx,
    at: &Context<'_>,
    actor: &Principal,
    row: &store::Row,
    action: Action,
    parts: &Parts,
    satisfaction: Option<Satisfaction>,
) -> Result<()> {
    let rating = crate::evaluation::Rating { settings: at.evaluation, calendar: &at.calendar, now: at.now };
    match (action, row.department_id, satisfaction) {
        (Action::Close, Some(department_id), _) => {
            let category = row.category_code.as_deref().unwrap_or_default();
            let item_name = match row.category_code.as_deref() {
                Some(code) => at.routing.category_path(code),
                None => row.title.clone(),
            };
            let served = crate::evaluation::Served {
                kind: crate::evaluation::model::EventKind::WorkOrder,
                reference: &row.number,
                item_code: category,
                item_name: &item_name,
                department_id,
                staff_id: Some(actor.account_id),
                requester_id: row.requester_account,
                at: at.now,
            };
            crate::evaluation::served(tx, served).await.map_err(evaluation_error)?;
        }
        (Action::Rate, _, Some(level)) => {
            let by_operator = !parts.requester;
            crate::evaluation::rate_work_order(tx, &rating, &row.number, actor.account_id, by_operator, level)
                .await
                .map_err(evaluation_error)?;
        }
        _ => {}
    }
    Ok(())
}

fn evaluation_error(e: crate::evaluation::EvaluationError) -> WorkOrderError {
    use crate::evaluation::EvaluationError as E;
    match e {
        E::Invalid { field, message } => WorkOrderError::Invalid { field, message },
        E::NotFound => WorkOrderError::WrongState { action: "rate", state: "unserved" },
        E::Forbidden => WorkOrderError::Forbidden,
        E::AlreadyRated | E::WrongState { .. } => WorkOrderError::WrongState { action: "rate", state: "rated" },
        E::Ledger(e) => WorkOrderError::Ledger(e),
        E::Identity(e) => WorkOrderError::Identity(e),
        E::Db(e) => WorkOrderError::Db(e),
    }
}

/// The orders whose category a dispatcher corrected, as training samples labelled with the
/// corrected first-level category, for `yiwang workorders train`.
pub async fn corrections(store: &Store, routing: &Routing) -> Result<Vec<yiwang_classifier::Sample>> {
    let rows = store::overrides(&mut *store.pool().acquire().await?).await?;
    Ok(rows
        .into_iter()
        .filter_map(|(title, body, category)| {
            let path = routing.category_path(&category);
            let level1 = path.split(" / ").next().filter(|l| !l.is_empty())?.to_owned();
            Some(yiwang_classifier::Sample::new(format!("{title}。{body}"), level1))
        })
        .collect())
}

/// An update from the requester through an Open311 client (mySociety's
/// `servicerequestupdates`): added to the timeline; returns its id.
pub async fn add_update(store: &Store, at: &Context<'_>, client: i64, number: &str, note: &str) -> Result<i64> {
    let note = text("description", note, 2000, true)?;
    let row = row(store, number).await?;
    if row.emergency.is_some() {
        return Err(WorkOrderError::NotFound);
    }
    let mut tx = store.begin_write().await?;
    let event = store::EventRow {
        workorder_id: row.id,
        action: "comment",
        from_state: Some(&row.state),
        to_state: &row.state,
        actor_id: Some(client),
        department_id: None,
        note: &note,
        details: r#"{"via":"open311"}"#,
    };
    let id = store::insert_event(&mut tx, event, at.now.timestamp_millis()).await?;
    let payload = serde_json::json!({"number": row.number, "event": id});
    record(&mut tx, &row.number, "workorder.comment", Some(client), &payload)?;
    tx.commit().await?;
    Ok(id)
}

/// Raises yellow and red alarms on running orders; returns how many changed.
pub async fn raise_alarms(store: &Store, now: DateTime<Utc>) -> Result<usize> {
    let now_ms = now.timestamp_millis();
    let running = store::running(&mut *store.pool().acquire().await?).await?;
    let mut changed = 0;
    let due: Vec<_> = running
        .into_iter()
        .filter_map(|(id, state, created, respond_by, deadline, alarm)| {
            let next = limits::alarm(&state, created, respond_by, deadline?, now_ms);
            (next != alarm).then_some((id, alarm, next))
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    for (id, from, to) in due {
        if store::set_alarm(&mut tx, id, &from, to).await? {
            if let Some(row) = store::by_id(&mut tx, id).await? {
                let payload = serde_json::json!({"number": row.number, "alarm": to});
                record(&mut tx, &row.number, "workorder.alarm", None, &payload)?;
                outbox::append(&mut tx, "workorder.alarm", &payload)?;
            }
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}
