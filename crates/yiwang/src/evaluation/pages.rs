//! Evaluation pages: the QR rating page a window visit's requester opens on a phone (no sign-in),
//! a requester's rating page for an application or visit, the clerk's window-visit page that
//! shows the QR code, the department's rectification tasks, and the public panorama (with texts
//! and references for staff: the leader view).

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::model::{EventKind, Level, RectificationStep, Tag};
use super::panorama::{Figures, Filter, ListedRating};
use super::{NewRating, NewVisit, RatedService, Rating, StepInput, Task, Visit};
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, qr_svg, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/rate/{token}", get(token_page).post(token_rate))
        .route("/rate/{token}/qr.svg", get(token_qr))
        .route("/evaluations/{kind}/{reference}", get(event_page).post(event_rate))
        .route("/window/visits", get(visit_form).post(visit_record))
        .route("/rectifications", get(tasks_page).post(task_step))
        .route("/panorama", get(panorama_page))
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn first<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.trim())
}

/// A rating from a submitted form: `level`, `text`, any number of `tag`.
fn rating_from(fields: &[(String, String)]) -> NewRating {
    NewRating {
        level: Level::parse(first(fields, "level")),
        text: first(fields, "text").to_owned(),
        tags: fields.iter().filter(|(k, _)| k == "tag").filter_map(|(_, v)| Tag::parse(v)).collect(),
        channel: first(fields, "channel").parse().ok(),
    }
}

#[derive(askama::Template)]
#[template(path = "rate.html")]
struct RatePage<'a> {
    page: &'a PageContext,
    event: RatedService,
    /// Where the form posts.
    action: String,
    csrf_token: &'a str,
    levels: &'static [Level],
    tags: &'static [Tag],
    problem: Option<String>,
    /// Just rated: say thanks.
    thanks: bool,
}

impl RatePage<'_> {
    fn is_bad(&self, level: &Level) -> bool {
        level.is_bad()
    }
}

fn rate_page(
    page: &PageContext,
    event: RatedService,
    action: String,
    problem: Option<String>,
    thanks: bool,
) -> Response {
    let csrf = page.actor.as_ref().map_or("", |a| a.csrf_token());
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(
        status,
        &RatePage { page, event, action, csrf_token: csrf, levels: Level::ALL, tags: Tag::ALL, problem, thanks },
    )
}

fn problem_of(e: &ApiError) -> String {
    e.detail().message
}

async fn token_page(State(state): State<AppState>, page: PageContext, Path(token): Path<String>) -> Response {
    match super::get_by_token(&state.store, &token).await {
        Ok(event) => rate_page(&page, event, format!("/rate/{token}"), None, false),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn token_rate(
    State(state): State<AppState>,
    page: PageContext,
    Path(token): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let fields = form(&body);
    let (settings, calendar, now) = (state.config.evaluation, state.calendar.get(), state.clock.now());
    let at = Rating { settings, calendar: &calendar, now };
    match super::rate_with_token(&state.store, &at, &token, rating_from(&fields)).await {
        Ok(event) => rate_page(&page, event, format!("/rate/{token}"), None, true),
        Err(e) => {
            let e: ApiError = e.into();
            match super::get_by_token(&state.store, &token).await {
                Ok(event) if e.status() != StatusCode::NOT_FOUND => {
                    rate_page(&page, event, format!("/rate/{token}"), Some(problem_of(&e)), false)
                }
                _ => error_page(&page, &e),
            }
        }
    }
}

async fn token_qr(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match super::event_for_token(&state.store, &token).await {
        Ok(_) => qr_svg(&format!("{}/rate/{token}", state.config.public_url.trim_end_matches('/'))),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn kind_of(kind: &str) -> Result<EventKind, ApiError> {
    EventKind::parse(kind).ok_or(ApiError::NotFound)
}

async fn event_page(
    State(state): State<AppState>,
    page: PageContext,
    Path((kind, reference)): Path<(String, String)>,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page(&page, &e),
    };
    match super::get(&state.store, &actor.principal, kind, &reference).await {
        Ok(event) => rate_page(&page, event, format!("/evaluations/{kind}/{reference}"), None, false),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn event_rate(
    State(state): State<AppState>,
    page: PageContext,
    Path((kind, reference)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let fields = form(&body);
    if let Err(e) = actor.check_form_csrf(first(&fields, "csrf_token")) {
        return error_page(&page, &e);
    }
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(e) => return error_page(&page, &e),
    };
    let (settings, calendar, now) = (state.config.evaluation, state.calendar.get(), state.clock.now());
    let at = Rating { settings, calendar: &calendar, now };
    let action = format!("/evaluations/{kind}/{reference}");
    match super::rate(&state.store, &at, &actor.principal, kind, &reference, rating_from(&fields)).await {
        Ok(event) => rate_page(&page, event, action, None, true),
        Err(e) => {
            let e: ApiError = e.into();
            match super::get(&state.store, &actor.principal, kind, &reference).await {
                Ok(event) if e.status() != StatusCode::NOT_FOUND => {
                    rate_page(&page, event, action, Some(problem_of(&e)), false)
                }
                _ => error_page(&page, &e),
            }
        }
    }
}

#[derive(askama::Template)]
#[template(path = "window_visit.html")]
struct VisitPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    visit: Option<Visit>,
    problem: Option<String>,
}

async fn visit_form(page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    render(StatusCode::OK, &VisitPage { page: &page, csrf_token: actor.csrf_token(), visit: None, problem: None })
}

async fn visit_record(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let fields = form(&body);
    if let Err(e) = actor.check_form_csrf(first(&fields, "csrf_token")) {
        return error_page(&page, &e);
    }
    let requester = Some(first(&fields, "requester").to_owned()).filter(|r| !r.is_empty());
    let visit = NewVisit { item: first(&fields, "item").to_owned(), requester };
    let csrf_token = actor.csrf_token();
    match super::record_visit(&state.store, &actor.principal, state.clock.now(), visit).await {
        Ok(visit) => render(StatusCode::OK, &VisitPage { page: &page, csrf_token, visit: Some(visit), problem: None }),
        Err(super::EvaluationError::Invalid { message, .. }) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &VisitPage { page: &page, csrf_token, visit: None, problem: Some(message) },
        ),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "rectifications.html")]
struct TasksPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    tasks: Vec<Task>,
    /// Whether the viewer handles tasks (and gets the step forms) or only watches them.
    handler: bool,
}

impl TasksPage<'_> {
    fn step_label(&self, step: &RectificationStep) -> &'static str {
        step.label_zh()
    }
}

async fn tasks_page(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let handler = actor.principal.has_role(crate::identity::Role::DepartmentHandler);
    match super::tasks(&state.store, &actor.principal).await {
        Ok(tasks) => render(StatusCode::OK, &TasksPage { page: &page, csrf_token: actor.csrf_token(), tasks, handler }),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn task_step(State(state): State<AppState>, page: PageContext, body: axum::body::Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let fields = form(&body);
    if let Err(e) = actor.check_form_csrf(first(&fields, "csrf_token")) {
        return error_page(&page, &e);
    }
    let Some(step) = RectificationStep::parse(first(&fields, "step")) else {
        return error_page(&page, &ApiError::invalid("step", "unknown_step", "未知步骤 / unknown step"));
    };
    let Ok(id) = first(&fields, "id").parse::<i64>() else {
        return error_page(&page, &ApiError::invalid("id", "invalid_evaluation", "未知整改 / unknown rectification"));
    };
    let input = StepInput { note: first(&fields, "note").to_owned() };
    match super::take_step(&state.store, &actor.principal, state.clock.now(), id, step, input).await {
        Ok(_) => Redirect::to("/rectifications").into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "panorama.html")]
struct PanoramaPage<'a> {
    page: &'a PageContext,
    figures: Figures,
    ratings: Vec<ListedRating>,
    /// The query string of the filter, for links and the CSV export.
    query: String,
    /// A staff member: the leader view, with texts, references and the rectification list link.
    leader: bool,
}

impl PanoramaPage<'_> {
    fn percent(&self, rate: &Option<f64>) -> String {
        rate.map_or_else(|| "—".into(), |r| format!("{:.2}%", r * 100.0))
    }

    /// This page's filter narrowed by one more key.
    fn narrowed(&self, key: &str, value: &str) -> String {
        let mut pairs: Vec<(String, String)> =
            form_urlencoded::parse(self.query.as_bytes()).into_owned().filter(|(k, _)| k != key).collect();
        pairs.push((key.to_owned(), value.to_owned()));
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            out.append_pair(k, v);
        }
        out.finish()
    }
}

async fn panorama_page(
    State(state): State<AppState>,
    page: PageContext,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    // Empty form fields mean «all».
    let some = |k: &str| q.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let date = |k: &str| some(k).and_then(|v| v.parse().ok());
    let filter = Filter {
        region: some("region"),
        department: some("department"),
        item: some("item"),
        from: date("from"),
        to: date("to"),
    };
    // Finished here: the serializer may not be held across an await.
    let query = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for key in ["region", "department", "item", "from", "to"] {
            if let Some(v) = some(key) {
                query.append_pair(key, &v);
            }
        }
        query.finish()
    };
    let viewer = page.actor.as_ref().map(|a| &a.principal);
    let leader = viewer.is_some_and(|v| v.kind == crate::identity::AccountKind::Staff);
    let figures = match super::panorama::figures(&state.store, &filter, state.clock.now()).await {
        Ok(f) => f,
        Err(e) => return error_page(&page, &e.into()),
    };
    let ratings = match super::panorama::ratings(&state.store, viewer, &filter, 50).await {
        Ok(r) => r,
        Err(e) => return error_page(&page, &e.into()),
    };
    render(StatusCode::OK, &PanoramaPage { page: &page, figures, ratings, query, leader })
}
