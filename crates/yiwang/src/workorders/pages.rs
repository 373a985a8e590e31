//! Work-order pages: the hotline operator's console (keyboard first, caller history, knowledge
//! base), the public report page with a photo and a pin on the grid map, the grid worker's patrol,
//! the queues of dispatchers, departments and requesters, an order's page with the steps its
//! viewer may take, and the supervisor's board.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::knowledge::Article;
use super::model::{Action, RequestType, RequesterKind, Satisfaction};
use super::patrol::{ChecklistItem, Finding, PatrolRecord};
use super::routing::Category;
use super::{
    Board, BoardSection, CallerInput, Context, Intake, ListQuery, MAX_PHOTO_BYTES, NewWorkOrder, Step, Summary,
    WorkOrder,
};
use crate::AppState;
use crate::grid::{Grid, LatLon};
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, render};
use crate::identity::{AccountKind, Role};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hotline", get(hotline).post(take_call))
        .route("/hotline/history", get(history))
        .route("/hotline/knowledge", get(knowledge))
        .route("/report", get(report_form).post(report).layer(DefaultBodyLimit::max(MAX_PHOTO_BYTES + 64 * 1024)))
        .route("/patrol", get(patrol))
        .route("/patrol/start", post(patrol_start))
        .route("/patrol/check", post(patrol_check))
        .route("/patrol/finish", post(patrol_finish))
        .route("/workorders", get(list))
        .route("/workorders/board", get(board))
        .route("/workorders/stats", get(statistics))
        .route("/workorders/{number}", get(show))
        .route("/workorders/{number}/steps", post(step))
}

fn sign_in_first() -> Response {
    Redirect::to("/login").into_response()
}

fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn request_types() -> &'static [RequestType] {
    RequestType::ALL
}

#[derive(askama::Template)]
#[template(path = "hotline.html")]
struct HotlinePage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    types: &'static [RequestType],
    categories: Vec<Category>,
    recent: Vec<Summary>,
    problem: Option<String>,
    values: HashMap<String, String>,
}

impl HotlinePage<'_> {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }
}

async fn hotline_page(
    state: &AppState,
    page: &PageContext,
    problem: Option<String>,
    values: HashMap<String, String>,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    if !actor.principal.has_role(Role::HotlineOperator) {
        return error_page(page, &ApiError::Forbidden);
    }
    let query = ListQuery::default();
    let recent =
        super::list(&state.store, &state.workorders, &actor.principal, &query, 20, 0).await.unwrap_or_default();
    let categories = state.workorders.categories().into_iter().filter(|c| c.level == 1).collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(
        status,
        &HotlinePage {
            page,
            csrf_token: actor.csrf_token(),
            types: request_types(),
            categories,
            recent,
            problem,
            values,
        },
    )
}

async fn hotline(State(state): State<AppState>, page: PageContext) -> Response {
    hotline_page(&state, &page, None, HashMap::new()).await
}

async fn take_call(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let Some(request_type) = RequestType::parse(&get("request_type")) else {
        return hotline_page(&state, &page, Some("请选择诉求类型 / choose the request type".into()), fields).await;
    };
    let kind = RequesterKind::parse(&get("caller_kind")).unwrap_or(RequesterKind::Resident);
    let new = NewWorkOrder {
        request_type,
        title: None,
        text: get("text"),
        category: Some(get("category")).filter(|c| !c.is_empty()),
        address: Some(get("address")).filter(|a| !a.is_empty()),
        location: None,
        caller: Some(CallerInput {
            kind,
            name: Some(get("caller_name")).filter(|n| !n.is_empty()),
            phone: Some(get("phone")).filter(|p| !p.is_empty()),
        }),
        photos: Vec::new(),
        answer: Some(get("answer")).filter(|a| !a.is_empty()),
        attributes: serde_json::Map::new(),
    };
    let at = Context::now(&state);
    match super::intake(&state.store, &at, Some(&actor.principal), Intake::channel(super::model::Channel::Hotline), new)
        .await
    {
        Ok(order) => Redirect::to(&format!("/workorders/{}", order.number)).into_response(),
        Err(super::WorkOrderError::Invalid { field, message }) => {
            hotline_page(&state, &page, Some(format!("{field}: {message}")), fields).await
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(Deserialize)]
struct PhoneQuery {
    phone: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "hotline_history.html")]
struct HistoryFragment<'a> {
    page: &'a PageContext,
    orders: Vec<Summary>,
}

async fn history(State(state): State<AppState>, page: PageContext, Query(q): Query<PhoneQuery>) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let phone = q.phone.unwrap_or_default();
    let orders = if phone.trim().len() >= 7 {
        let query = ListQuery { phone: Some(phone), ..Default::default() };
        super::list(&state.store, &state.workorders, &actor.principal, &query, 20, 0).await.unwrap_or_default()
    } else {
        Vec::new()
    };
    render(StatusCode::OK, &HistoryFragment { page: &page, orders })
}

#[derive(Deserialize)]
struct QuestionQuery {
    q: Option<String>,
    /// The console sends the call's text as it is typed.
    text: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "knowledge.html")]
struct KnowledgeFragment<'a> {
    page: &'a PageContext,
    articles: Vec<Article>,
}

async fn knowledge(State(state): State<AppState>, page: PageContext, Query(q): Query<QuestionQuery>) -> Response {
    if page.actor.is_none() {
        return sign_in_first();
    }
    let question = q.q.or(q.text).unwrap_or_default();
    match super::knowledge::search(&state.store, &question, 5).await {
        Ok(articles) => render(StatusCode::OK, &KnowledgeFragment { page: &page, articles }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    types: &'static [RequestType],
    signed_in: bool,
    problem: Option<String>,
    done: Option<WorkOrder>,
}

async fn report_form(page: PageContext) -> Response {
    let csrf = page.actor.as_ref().map(|a| a.csrf_token().to_owned()).unwrap_or_default();
    let signed_in = page.actor.is_some();
    render(
        StatusCode::OK,
        &ReportPage { page: &page, csrf_token: &csrf, types: request_types(), signed_in, problem: None, done: None },
    )
}

/// A report from the public page: multipart, so that a phone can attach a photo.
async fn report(State(state): State<AppState>, page: PageContext, mut multipart: Multipart) -> Response {
    let csrf = page.actor.as_ref().map(|a| a.csrf_token().to_owned()).unwrap_or_default();
    let signed_in = page.actor.is_some();
    let answer = |problem: Option<String>, done: Option<WorkOrder>| {
        let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
        render(status, &ReportPage { page: &page, csrf_token: &csrf, types: request_types(), signed_in, problem, done })
    };
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut photo: Option<Vec<u8>> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => {
                return answer(
                    Some(
                        "照片过大或表单无法读取 / the photo is too large (5 MB at most) or the form is unreadable"
                            .into(),
                    ),
                    None,
                );
            }
        };
        let name = field.name().unwrap_or_default().to_owned();
        // The CSRF token comes first; nothing is stored before it is checked.
        if name != "csrf_token" && !fields.contains_key("csrf_token") && page.actor.is_some() {
            return error_page(&page, &crate::http::auth::csrf_error());
        }
        let Ok(bytes) = field.bytes().await else {
            return answer(Some("照片过大 / the photo is larger than 5 MB".into()), None);
        };
        if name == "photo" {
            if !bytes.is_empty() {
                photo = Some(bytes.to_vec());
            }
        } else {
            fields.insert(name, String::from_utf8_lossy(&bytes).trim().to_owned());
        }
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Some(actor) = &page.actor
        && let Err(e) = actor.check_form_csrf(&get("csrf_token"))
    {
        return error_page(&page, &e);
    }
    let Some(request_type) = RequestType::parse(&get("request_type")) else {
        return answer(Some("request_type: 请选择诉求类型 / choose the request type".into()), None);
    };
    let location = match (get("lat").parse::<f64>(), get("lon").parse::<f64>()) {
        (Ok(lat), Ok(lon)) => match LatLon::new(lat, lon) {
            Ok(point) => Some(point),
            Err(e) => return answer(Some(e.to_string()), None),
        },
        _ => None,
    };
    let mut photos = Vec::new();
    if let Some(bytes) = photo {
        let Some(actor) = &page.actor else {
            return answer(Some("photo: 登录后可上传照片 / sign in to attach a photo".into()), None);
        };
        if !matches!(crate::applications::files::sniff(&bytes), Some("image/jpeg" | "image/png")) {
            return answer(Some("photo: 照片应为JPEG或PNG / the photo must be JPEG or PNG".into()), None);
        }
        match crate::applications::upload(&state.store, &state.config.data_dir, &actor.principal, "photo", bytes).await
        {
            Ok((sha256, _)) => photos.push(sha256),
            Err(e) => return error_page(&page, &e.into()),
        }
    }
    let new = NewWorkOrder {
        request_type,
        title: None,
        text: get("text"),
        category: None,
        address: Some(get("address")).filter(|a| !a.is_empty()),
        location,
        caller: None,
        photos,
        answer: None,
        attributes: serde_json::Map::new(),
    };
    let principal = page.actor.as_ref().map(|a| &a.principal);
    let intake = Intake {
        contact: Some((Some(get("name")).filter(|n| !n.is_empty()), Some(get("phone")).filter(|p| !p.is_empty()))),
        ..Intake::channel(super::model::Channel::Web)
    };
    match super::intake(&state.store, &Context::now(&state), principal, intake, new).await {
        Ok(order) if principal.is_some() => Redirect::to(&format!("/workorders/{}", order.number)).into_response(),
        Ok(order) => answer(None, Some(order)),
        Err(super::WorkOrderError::Invalid { field, message }) => answer(Some(format!("{field}: {message}")), None),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "patrol.html")]
struct PatrolPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    grids: Vec<Grid>,
    items: Vec<ChecklistItem>,
    open: Option<PatrolRecord>,
    done: Vec<PatrolRecord>,
}

impl PatrolPage<'_> {
    fn checked(&self, item: &ChecklistItem) -> Option<&super::patrol::Check> {
        self.open.as_ref()?.checks.iter().find(|c| c.item == item.name)
    }
}

async fn patrol(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let records = match super::patrol::records(&state.store, &actor.principal, 10).await {
        Ok(r) => r,
        Err(e) => return error_page(&page, &e.into()),
    };
    let (open, done): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| r.finished_at.is_none());
    let mine = crate::grid::store::grids_of(
        &mut *match state.store.pool().acquire().await {
            Ok(c) => c,
            Err(e) => return error_page(&page, &e.into()),
        },
        actor.principal.account_id,
    )
    .await
    .unwrap_or_default();
    let grids = state.workorders.grids.grids().into_iter().filter(|g| mine.contains(&g.code)).collect();
    let items = super::patrol::checklist(&state.store).await.unwrap_or_default();
    render(
        StatusCode::OK,
        &PatrolPage { page: &page, csrf_token: actor.csrf_token(), grids, items, open: open.into_iter().next(), done },
    )
}

async fn patrol_start(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    match super::patrol::start(&state.store, &Context::now(&state), &actor.principal, &get("grid")).await {
        Ok(_) => Redirect::to("/patrol").into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn patrol_check(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let (Ok(patrol), Ok(item)) = (get("patrol").parse::<i64>(), get("item").parse::<i64>()) else {
        return error_page(&page, &ApiError::invalid("item", "invalid_workorder", "没有此巡查事项 / no such item"));
    };
    let finding = (get("result") == "finding").then(|| Finding {
        text: get("text"),
        location: match (get("lat").parse::<f64>(), get("lon").parse::<f64>()) {
            (Ok(lat), Ok(lon)) => LatLon::new(lat, lon).ok(),
            _ => None,
        },
        address: Some(get("address")).filter(|a| !a.is_empty()),
        photos: Vec::new(),
    });
    match super::patrol::check(&state.store, &Context::now(&state), &actor.principal, patrol, item, finding).await {
        Ok(_) => Redirect::to("/patrol").into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn patrol_finish(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let Ok(patrol) = get("patrol").parse::<i64>() else {
        return error_page(
            &page,
            &ApiError::invalid("patrol", "invalid_workorder", "没有进行中的巡查 / no open patrol"),
        );
    };
    match super::patrol::finish(&state.store, &Context::now(&state), &actor.principal, patrol, &get("note")).await {
        Ok(()) => Redirect::to("/patrol").into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "workorders.html")]
struct ListPage<'a> {
    page: &'a PageContext,
    title_zh: &'static str,
    title_en: &'static str,
    orders: Vec<Summary>,
    staff: bool,
}

async fn list(State(state): State<AppState>, page: PageContext, Query(query): Query<ListQuery>) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let principal = &actor.principal;
    let staff = principal.kind == AccountKind::Staff;
    let (title_zh, title_en, query) = if query.state.is_some() || query.alarm.is_some() {
        ("工单", "Work orders", query)
    } else if principal.has_role(Role::Dispatcher) {
        ("待派单", "Waiting for dispatch", ListQuery { state: Some(super::model::State::Pending), ..query })
    } else if staff {
        ("工单", "Work orders", query)
    } else {
        ("我的诉求", "My requests", query)
    };
    match super::list(&state.store, &state.workorders, principal, &query, 200, 0).await {
        Ok(orders) => render(StatusCode::OK, &ListPage { page: &page, title_zh, title_en, orders, staff }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "workorder_board.html")]
struct BoardPage<'a> {
    page: &'a PageContext,
    board: Board,
}

impl BoardPage<'_> {
    /// (element id, Chinese heading, English heading, the section, the list that pages through all
    /// its orders where there is one)
    fn sections(&self) -> [(&'static str, &'static str, &'static str, &BoardSection, Option<&'static str>); 5] {
        let b = &self.board;
        [
            ("overdue", "已超期", "Overdue", &b.overdue, Some("/workorders?alarm=red")),
            ("near-due", "临期预警", "Near due", &b.near_due, Some("/workorders?alarm=yellow")),
            ("returned", "退单待改派", "Returned", &b.returned, None),
            ("reopened", "重办", "Re-opened", &b.reopened, None),
            ("extensions", "延期申请", "Extension requests", &b.extension_requests, None),
        ]
    }
}

async fn board(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    match super::board(&state.store, &state.workorders, &actor.principal).await {
        Ok(board) => render(StatusCode::OK, &BoardPage { page: &page, board }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "workorder_stats.html")]
struct StatsPage<'a> {
    page: &'a PageContext,
    stats: super::stats::Stats,
}

impl StatsPage<'_> {
    fn percent(&self, share: &Option<f64>) -> String {
        share.map_or_else(|| "-".to_owned(), |s| format!("{:.1}%", s * 100.0))
    }

    fn hours(&self) -> String {
        self.stats.average_handling_hours.map_or_else(|| "-".to_owned(), |h| format!("{h:.1}"))
    }
}

async fn statistics(
    State(state): State<AppState>,
    page: PageContext,
    Query(q): Query<super::api::PeriodQuery>,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let (from, to) = q.days(yiwang_calendar::china_date(state.clock.now()));
    match super::stats::compute(&state.store, &state.workorders, &actor.principal, from, to).await {
        Ok(stats) => render(StatusCode::OK, &StatsPage { page: &page, stats }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "workorder.html")]
struct ShowPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    order: WorkOrder,
    /// The steps this viewer may take now, with their labels.
    steps: Vec<(Action, &'static str)>,
    departments: Vec<(String, String)>,
    categories: Vec<Category>,
    satisfactions: &'static [Satisfaction],
}

impl ShowPage<'_> {
    fn can(&self, action: &str) -> bool {
        self.steps.iter().any(|(a, _)| a.as_str() == action)
    }

    fn say_state(&self) -> &'static str {
        self.order.state.label_zh()
    }
}

/// The steps an order's viewer may try, by what they are to it; `act` checks again.
fn offered(order: &WorkOrder, principal: &crate::identity::Principal) -> Vec<(Action, &'static str)> {
    use super::model::State as S;
    let handles = order
        .department
        .as_ref()
        .is_some_and(|d| principal.grants.iter().any(|g| g.role == Role::DepartmentHandler && g.department_id == d.id));
    let dispatcher = principal.has_role(Role::Dispatcher);
    let operator = principal.has_role(Role::HotlineOperator);
    let supervisor = principal.has_role(Role::Supervisor);
    let requester = principal.kind != AccountKind::Staff;
    let mut steps = Vec::new();
    let mut offer = |ok: bool, action: Action| {
        if ok {
            steps.push((action, action.label_zh()));
        }
    };
    let s = order.state;
    offer(dispatcher && matches!(s, S::Pending | S::Dispatched), Action::Dispatch);
    offer(
        dispatcher && matches!(s, S::Pending | S::Dispatched) && !order.possible_duplicates.is_empty(),
        Action::Merge,
    );
    offer(handles && s == S::Dispatched, Action::Sign);
    offer(handles && matches!(s, S::Dispatched | S::Signed), Action::Return);
    offer(handles && s == S::Signed, Action::Progress);
    offer(handles && s == S::Signed, Action::Difficult);
    offer(
        handles && matches!(s, S::Dispatched | S::Signed) && order.extension_requested.is_none(),
        Action::RequestExtension,
    );
    offer(handles && s == S::Signed, Action::Reply);
    offer((handles || dispatcher || operator) && s == S::Replied, Action::Close);
    offer(
        (requester || operator) && s == S::Closed && order.satisfaction.is_none() && order.emergency.is_none(),
        Action::Rate,
    );
    offer(
        (requester || operator)
            && s == S::Closed
            && order.satisfaction == Some(Satisfaction::Dissatisfied)
            && !order.reopened,
        Action::Reopen,
    );
    offer(supervisor && order.extension_requested.is_some(), Action::ApproveExtension);
    offer(supervisor && order.extension_requested.is_some(), Action::RefuseExtension);
    offer(supervisor && s.is_open(), Action::Supervise);
    offer(supervisor && s.is_open() && !order.escalated, Action::Escalate);
    steps
}

async fn show(State(state): State<AppState>, page: PageContext, Path(number): Path<String>) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    match super::get(&state.store, &state.workorders, Some(&actor.principal), &number).await {
        Ok(order) => {
            let steps = offered(&order, &actor.principal);
            let departments = match crate::identity::departments(&state.store).await {
                Ok(list) => list.into_iter().map(|d| (d.code, d.name)).collect(),
                Err(e) => return error_page(&page, &e.into()),
            };
            let categories = state.workorders.categories().into_iter().filter(|c| c.level <= 2).collect();
            render(
                StatusCode::OK,
                &ShowPage {
                    page: &page,
                    csrf_token: actor.csrf_token(),
                    order,
                    steps,
                    departments,
                    categories,
                    satisfactions: Satisfaction::ALL,
                },
            )
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn step(
    State(state): State<AppState>,
    page: PageContext,
    Path(number): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields = form(&body);
    let get = |k: &str| fields.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let Some(action) = Action::parse(&get("action")) else {
        return error_page(&page, &ApiError::invalid("action", "unknown_action", "未知操作 / unknown action"));
    };
    let some = |k: &str| Some(get(k)).filter(|v| !v.is_empty());
    let step = Step {
        note: get("note"),
        department: some("department"),
        category: some("category"),
        satisfaction: Satisfaction::parse(&get("satisfaction")),
        days: get("days").parse().ok(),
        difficulty: some("difficulty"),
        into: some("into"),
    };
    match super::act(&state.store, &Context::now(&state), &actor.principal, &number, action, step).await {
        Ok(_) => Redirect::to(&format!("/workorders/{number}")).into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}
