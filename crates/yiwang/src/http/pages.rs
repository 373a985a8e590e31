//! What every page shares: the language (Simplified Chinese first, English second), the signed-in
//! user shown in the header, and rendering. Each domain module's `pages.rs` holds its own pages.

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use super::auth::{Actor, MaybeActor};
use super::error::ApiError;
use super::extract::Path;
use crate::AppState;

pub const LANG_COOKIE: &str = "yiwang_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh" | "zh-CN" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// The user shown in the header, with what the sign-out form needs.
pub struct PageUser {
    pub name: String,
    pub csrf_token: String,
}

/// What the base layout needs on every page.
pub struct PageContext {
    pub lang: Lang,
    pub user: Option<PageUser>,
    pub actor: Option<Actor>,
    pub path: String,
}

impl PageContext {
    /// The text for `key` in the page's language; an unknown key shows itself, so a missing
    /// translation is visible rather than blank.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, zh, en)) => match self.lang {
                Lang::Zh => zh,
                Lang::En => en,
            },
            None => key,
        }
    }

    /// Chinese or English, whichever the page speaks.
    pub fn pick<'a>(&self, zh: &'a str, en: &'a str) -> &'a str {
        match self.lang {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl FromRequestParts<AppState> for PageContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let lang = CookieJar::from_headers(&parts.headers)
            .get(LANG_COOKIE)
            .and_then(|c| Lang::parse(c.value()))
            .unwrap_or(Lang::Zh);
        let MaybeActor(actor) = MaybeActor::from_request_parts(parts, state).await?;
        let user = actor
            .as_ref()
            .map(|a| PageUser { name: a.principal.display_name.clone(), csrf_token: a.csrf_token().to_owned() });
        Ok(PageContext { lang, user, actor, path: parts.uri.path().to_owned() })
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/lang/{code}", get(switch_language))
        .merge(crate::identity::pages::router())
        .merge(crate::catalog::pages::router())
        .merge(crate::certificates::pages::router())
        .merge(crate::applications::pages::router())
        .merge(crate::applications::rules_pages::router())
        .merge(crate::applications::workflow_pages::router())
        .merge(crate::workorders::pages::router())
        .merge(crate::exchange::pages::router())
        .merge(crate::evaluation::pages::router())
}

/// Sets the language cookie and goes back where the user was (a local path only).
async fn switch_language(Path(code): Path<String>, jar: CookieJar, request: Request) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let back = request
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "back").map(|(_, v)| v.into_owned()))
        .filter(|b| is_local_path(b))
        .unwrap_or_else(|| "/".into());
    let cookie = Cookie::build((LANG_COOKIE, if lang == Lang::En { "en" } else { "zh" }))
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(time::Duration::days(365))
        .build();
    (jar.add(cookie), Redirect::to(&back)).into_response()
}

/// A path on this site, safe to redirect to: not another host (`//host`, `/\host`), no scheme,
/// nothing that cannot go into a `Location` header.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') && !path.chars().any(char::is_control)
}

pub fn render(status: StatusCode, template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => ApiError::Internal(format!("template: {e}")).into_response(),
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub page: &'a PageContext,
    pub title: &'a str,
    pub message: &'a str,
    /// The error's stable code, for the user to quote to the help desk.
    pub code: &'a str,
}

/// A page for a failed page request, in the page's language.
pub fn error_page(page: &PageContext, error: &ApiError) -> Response {
    let detail = error.detail();
    let title = page.t(error_title_key(error));
    render(error.status(), &ErrorPage { page, title, message: &detail.message, code: &detail.code })
}

fn error_title_key(error: &ApiError) -> &'static str {
    match error {
        ApiError::NotFound => "not_found",
        ApiError::Forbidden => "forbidden",
        ApiError::Unauthenticated => "sign_in_first",
        _ => "error",
    }
}

pub fn not_found_page(request: &Request) -> Response {
    let lang = CookieJar::from_headers(request.headers())
        .get(LANG_COOKIE)
        .and_then(|c| Lang::parse(c.value()))
        .unwrap_or(Lang::Zh);
    let page = PageContext { lang, user: None, actor: None, path: request.uri().path().to_owned() };
    error_page(&page, &ApiError::NotFound)
}

/// (key, Chinese, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("app_name", "一网 · 数字政府平台", "yiwang · digital government"),
    ("tagline", "一网通办 · 一网统管 · 一网共享", "Services · Governance · Data exchange"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("sign_in_first", "请先登录", "Please sign in"),
    ("login_label", "账号", "Account"),
    ("login_hint", "工作人员用户名、身份证号或统一社会信用代码", "Staff user name, ID number or credit code"),
    ("password", "密码", "Password"),
    ("home", "首页", "Home"),
    ("welcome", "欢迎", "Welcome"),
    ("workbench", "工作台", "workbench"),
    ("workbench_empty", "暂无待办事项", "Nothing to do yet"),
    ("not_found", "页面不存在", "Page not found"),
    ("forbidden", "无权访问", "Not allowed"),
    ("error", "出错了", "Something went wrong"),
    ("back_home", "返回首页", "Back to home"),
    ("error_code", "错误代码", "Error code"),
    ("or", "或", "or"),
    ("language_other", "English", "中文"),
    ("api_docs", "接口文档", "API documentation"),
    ("services", "一网通办", "Services"),
    (
        "services_intro",
        "查找办事指南，在线申请，电子证照免提交，秒批秒办。",
        "Find a service guide, apply online, reuse e-certificates, get instant approval.",
    ),
    ("governance", "一网统管", "Governance"),
    (
        "governance_intro",
        "12345热线、网上反映、网格巡查、物联感知，一个工单中心统一派单、限时办结。",
        "Hotline, web reports, grid patrols and sensors: one work-order centre, dispatched and handled on time.",
    ),
    ("exchange", "一网共享", "Data exchange"),
    (
        "exchange_intro",
        "部门数据编目共享，授权调用、脱敏留痕，开放数据服务公众。",
        "Departments share catalogued data by grant, masked and logged; open data for the public.",
    ),
    ("trust", "存证", "Evidence log"),
    (
        "trust_intro",
        "每个决定、每次数据调用都写入防篡改日志，任何人可离线验证。",
        "Every decision and data call goes into a tamper-evident log anyone can verify offline.",
    ),
    ("my_roles", "我的岗位", "My roles"),
    ("department", "部门", "Department"),
    ("resident_home", "个人办事", "My services"),
    ("enterprise_home", "企业办事", "Enterprise services"),
    ("my_applications", "我的办件", "My applications"),
    ("my_reports", "我的诉求", "My reports"),
    ("none_yet", "暂无记录", "Nothing yet"),
];

/// `text` as an SVG QR code response, cached for an hour.
pub fn qr_svg(text: &str) -> Response {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(qr) => {
            let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
            ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=3600")], svg)
                .into_response()
        }
        Err(e) => ApiError::Internal(format!("qr: {e}")).into_response(),
    }
}
