//! Sign-in, sign-out and the home page of each kind of user.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;

use super::model::Role;
use super::oidc;
use super::provider::Credentials;
use super::{AccountKind, Grant};
use crate::AppState;
use crate::http::auth::{SESSION_COOKIE, constant_time_eq};
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::http::pages::{PageContext, render};

const LOGIN_CSRF_COOKIE: &str = "yiwang_login_csrf";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", post(logout))
        .route("/auth/oidc/login", get(oidc_login))
        .route("/auth/oidc/callback", get(oidc_callback))
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    login: &'a str,
    error: Option<String>,
    /// The label of the button that signs in through the city's identity platform, if configured.
    oidc_button: Option<String>,
}

fn oidc_button(state: &AppState, page: &PageContext) -> Option<String> {
    let oidc = state.oidc.as_ref()?;
    Some(match page.lang {
        crate::http::pages::Lang::Zh => format!("使用{}登录", oidc.display_name()),
        crate::http::pages::Lang::En => "Sign in with the city identity platform".into(),
    })
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The login form. Before a session exists, CSRF is a double-submit token: a cookie and a hidden
/// field that must match, which a foreign site cannot read to copy.
async fn login_form(State(state): State<AppState>, page: PageContext, jar: CookieJar) -> Response {
    if page.actor.is_some() {
        return Redirect::to("/").into_response();
    }
    let oidc_button = oidc_button(&state, &page);
    let form = LoginPage { page: &page, csrf_token: &random_token(), login: "", error: None, oidc_button };
    login_page(jar, StatusCode::OK, form)
}

/// Renders the login form with a fresh double-submit CSRF cookie matching its hidden field.
fn login_page(jar: CookieJar, status: StatusCode, form: LoginPage<'_>) -> Response {
    let cookie = Cookie::build((LOGIN_CSRF_COOKIE, form.csrf_token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/login")
        .build();
    (jar.add(cookie), render(status, &form)).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    csrf_token: String,
}

async fn login_submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    page: PageContext,
    jar: CookieJar,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    let cookie_token = jar.get(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let failed = |error: ApiError, jar: CookieJar| {
        let message = error.detail().message;
        let retry = LoginPage {
            page: &page,
            csrf_token: &random_token(),
            login: form.login.trim(),
            error: Some(message),
            oidc_button: oidc_button(&state, &page),
        };
        login_page(jar, error.status(), retry)
    };
    if cookie_token.is_empty() || !constant_time_eq(&cookie_token, &form.csrf_token) {
        return failed(
            ApiError::BadRequest {
                code: "csrf_failed",
                message: page.pick("页面已过期，请重新登录", "The form expired, please sign in again").into(),
                field: None,
            },
            jar,
        );
    }
    let client = peer.ip().to_string();
    let credentials = Credentials { login: &form.login, password: &form.password, client: &client };
    let account_id = match state.identity.authenticate(&state.store, credentials).await {
        Ok(id) => id,
        Err(e) => return failed(e.into(), jar),
    };
    match super::start_session(&state.store, account_id).await {
        Ok(session) => {
            let jar = jar
                .add(super::api::session_cookie(&state, session.token))
                .remove(Cookie::build(LOGIN_CSRF_COOKIE).path("/login"));
            (jar, Redirect::to("/")).into_response()
        }
        Err(e) => failed(e.into(), jar),
    }
}

#[derive(Deserialize)]
struct OidcLoginQuery {
    /// Where to go after signing in: a local path only.
    next: Option<String>,
}

/// Starts a sign-in through the city's identity platform: the browser goes to the platform, with
/// the sign-in's `state` in a short-lived cookie that binds the answer to this browser.
async fn oidc_login(
    State(state): State<AppState>,
    page: PageContext,
    jar: CookieJar,
    Query(query): Query<OidcLoginQuery>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return crate::http::pages::error_page(&page, &ApiError::NotFound);
    };
    let next = query.next.filter(|n| crate::http::pages::is_local_path(n));
    if page.actor.is_some() {
        return Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    }
    match oidc.begin(&state.store, next).await {
        Ok(begun) => {
            let cookie = Cookie::build((oidc::STATE_COOKIE, begun.state))
                .http_only(true)
                // Lax: the platform sends the browser back with a top-level GET from its own site.
                .same_site(SameSite::Lax)
                .secure(state.config.secure_cookies)
                .path(oidc::COOKIE_PATH)
                .max_age(time::Duration::milliseconds(oidc::PENDING_TTL_MS))
                .build();
            (jar.add(cookie), Redirect::to(&begun.url)).into_response()
        }
        Err(e) => crate::http::pages::error_page(&page, &e.into()),
    }
}

/// The platform sends the browser back here; on success the session starts as for a password
/// sign-in (same cookie, same session table) and the browser goes home, or where it was going.
async fn oidc_callback(
    State(state): State<AppState>,
    page: PageContext,
    jar: CookieJar,
    Query(callback): Query<oidc::Callback>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return crate::http::pages::error_page(&page, &ApiError::NotFound);
    };
    let kept_state = jar.get(oidc::STATE_COOKIE).map(|c| c.value().to_owned());
    let jar = jar.remove(Cookie::build(oidc::STATE_COOKIE).path(oidc::COOKIE_PATH));
    let outcome = match oidc.finish(&state.store, callback, kept_state.as_deref()).await {
        Ok(signed_in) => super::start_session(&state.store, signed_in.account_id)
            .await
            .map(|session| (session, signed_in.next))
            .map_err(ApiError::from),
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok((session, next)) => {
            let jar = jar.add(super::api::session_cookie(&state, session.token));
            (jar, Redirect::to(next.as_deref().unwrap_or("/"))).into_response()
        }
        Err(e) => (jar, crate::http::pages::error_page(&page, &e)).into_response(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    page: PageContext,
    jar: CookieJar,
    axum::Form(form): axum::Form<LogoutForm>,
) -> Response {
    let Some(actor) = &page.actor else {
        return Redirect::to("/login").into_response();
    };
    if let Err(e) = actor.check_form_csrf(&form.csrf_token) {
        return crate::http::pages::error_page(&page, &e);
    }
    if let Some(cookie) = jar.get(SESSION_COOKIE)
        && let Err(e) = super::end_session(&state.store, cookie.value()).await
    {
        return crate::http::pages::error_page(&page, &e.into());
    }
    (jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/login")).into_response()
}

/// One card on a staff home: a role held in a department.
struct Workbench {
    role: &'static str,
    title: String,
    department: String,
    description: &'static str,
}

#[derive(askama::Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    page: &'a PageContext,
    kind: Option<AccountKind>,
    workbenches: Vec<Workbench>,
    /// The search box starts empty.
    query: &'a str,
}

fn describe(role: Role, page: &PageContext) -> &'static str {
    let (zh, en) = match role {
        Role::PlatformAdmin => (
            "管理区划、部门、人员与角色，维护工作日历。",
            "Manage regions, departments, staff and roles; keep the working-day calendar.",
        ),
        Role::WindowClerk => ("窗口受理、代办与现场评价。", "Accept applications at the window and record visits."),
        Role::Reviewer => ("审查与决定办件。", "Review and decide applications."),
        Role::HotlineOperator => (
            "12345热线受理、知识库答复与直接办结。",
            "Take 12345 calls, answer from the knowledge base, close on the call.",
        ),
        Role::Dispatcher => ("工单分类与派单、退单处理。", "Classify and dispatch work orders, handle returns."),
        Role::DepartmentHandler => {
            ("承办工单，限时办结并答复。", "Handle work orders within their time limits and reply.")
        }
        Role::Supervisor => ("督办超时与重点工单。", "Supervise overdue and sensitive cases."),
        Role::GridWorker => ("网格巡查、发现上报。", "Patrol the grid and report findings."),
        Role::DataSteward => ("数据资源编目、挂接与共享审批。", "Register data resources and decide grant requests."),
        Role::Auditor => ("查阅审计与存证记录。", "Read audit and evidence records."),
        Role::CatalogEditor => (
            "编辑本部门的事项与办事指南，发布新版本。",
            "Edit your department's service items and guides; publish new versions.",
        ),
        Role::SensorClient => ("上报物联感知设备读数。", "Report the readings of IoT devices."),
    };
    page.pick(zh, en)
}

fn workbenches(grants: &[Grant], page: &PageContext) -> Vec<Workbench> {
    grants
        .iter()
        .map(|g| Workbench {
            role: g.role.as_str(),
            title: match page.lang {
                crate::http::pages::Lang::Zh => format!("{}工作台", g.role.label_zh()),
                crate::http::pages::Lang::En => format!("{} workbench", g.role.label_en()),
            },
            department: g.department_name.clone(),
            description: describe(g.role, page),
        })
        .collect()
}

async fn home(page: PageContext) -> Response {
    let (kind, workbenches) = match &page.actor {
        Some(actor) => (Some(actor.principal.kind), workbenches(&actor.principal.grants, &page)),
        None => (None, Vec::new()),
    };
    render(StatusCode::OK, &HomePage { page: &page, kind, workbenches, query: "" })
}
