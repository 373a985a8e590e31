//! Public catalogue pages: search with suggestions, browsing by audience, theme and department,
//! the guide page of an item (办事指南), its QR code and a poster of it for the service hall.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use serde::Deserialize;

use super::api::{SUGGESTIONS, query_text};
use super::model::{Audience, ITEM_TYPES, ItemDocument, Material, Scope, Submission, THEMES};
use super::search::Browse;
use super::search::index::{Entry, Hit};
use crate::AppState;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/search", get(search))
        .route("/search/suggest", get(suggest))
        .route("/services", get(browse))
        .route("/items/{code}", get(guide))
        .route("/items/{code}/qr.svg", get(qr))
        .route("/items/{code}/poster", get(poster))
        .merge(super::editor::router())
}

/// The materials one situation needs, for its checklist.
pub struct Checklist<'a> {
    pub situation: &'a str,
    pub materials: Vec<&'a Material>,
}

/// Which text of an item a guide page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Showing {
    /// The published version residents see.
    Current { version: i64 },
    /// An earlier published version, for a reviewer.
    Earlier { version: i64, current: i64 },
    /// A draft, previewed by its editor.
    Draft,
}

#[derive(askama::Template)]
#[template(path = "guide.html")]
struct GuidePage<'a> {
    page: &'a PageContext,
    item: &'a ItemDocument,
    showing: Showing,
    type_name: &'a str,
    checklists: Vec<Checklist<'a>>,
}

impl GuidePage<'_> {
    fn fee_text(&self) -> String {
        if self.item.fees.is_empty() {
            return self.page.pick("免费", "Free").to_owned();
        }
        self.item
            .fees
            .iter()
            .map(|f| format!("{} ¥{}.{:02}", f.name, f.amount_fen / 100, f.amount_fen % 100))
            .collect::<Vec<_>>()
            .join("；")
    }

    fn shared(&self, m: &Material) -> bool {
        m.submission == Submission::SharedCheck || m.replaced_by.is_some()
    }

    fn audience_text(&self) -> String {
        let names: Vec<&str> = self
            .item
            .audiences
            .iter()
            .map(|a| match a {
                Audience::Person => self.page.pick("个人", "Residents"),
                Audience::LegalPerson => self.page.pick("法人（企业、单位）", "Enterprises and organisations"),
            })
            .collect();
        names.join(self.page.pick("、", ", "))
    }

    /// What can be done online, in words (网上办理深度 1-4).
    fn online_text(&self) -> &'static str {
        match self.item.online_depth {
            4 => self.page.pick("全程网办，无需到现场", "Fully online, no visit needed"),
            3 => self.page.pick("网上预审，现场核验", "Submit online for pre-review, then check on site"),
            2 => self.page.pick("可下载表格，现场办理", "Download the forms; apply on site"),
            _ => self.page.pick("网上查看指南，现场办理", "Read the guide online; apply on site"),
        }
    }

    fn scope_text(&self) -> &'static str {
        match self.item.scope {
            Scope::National => self.page.pick("全国通办", "Anywhere in the country"),
            Scope::CrossProvince => self.page.pick("跨省通办", "Across provinces"),
            Scope::CrossCity => self.page.pick("省内跨市通办", "Across cities in the province"),
            Scope::AnyDistrict => self.page.pick("全市通办（任一区可办）", "In any district of the city"),
            Scope::Local => self.page.pick("属地办理", "Where you are registered"),
        }
    }

    fn is_current(&self) -> bool {
        matches!(self.showing, Showing::Current { .. })
    }

    fn is_staff(&self) -> bool {
        self.page.actor.as_ref().is_some_and(|a| !a.principal.grants.is_empty())
    }
}

#[derive(Deserialize)]
struct GuideQuery {
    /// An earlier published version to show instead of the current one.
    version: Option<i64>,
}

async fn guide(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    Query(query): Query<GuideQuery>,
) -> Response {
    let (item, current) = match super::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    match query.version {
        Some(version) if version != current => match super::version(&state.store, &code, version).await {
            Ok(earlier) => guide_page(&page, &earlier, Showing::Earlier { version, current }),
            Err(e) => error_page(&page, &e.into()),
        },
        _ => {
            state.search.record_view(&code);
            guide_page(&page, &item, Showing::Current { version: current })
        }
    }
}

/// The guide of an item at a glance: who, what to bring per situation, how long, how much,
/// where, steps, and what can be done online.
pub fn guide_page(page: &PageContext, item: &ItemDocument, showing: Showing) -> Response {
    let type_name = ITEM_TYPES.iter().find(|(c, _)| *c == item.item_type).map_or("", |(_, n)| n);
    let checklists = item
        .situations
        .iter()
        .map(|s| Checklist {
            situation: &s.name,
            materials: item
                .materials
                .iter()
                .filter(|m| m.situations.is_empty() || m.situations.contains(&s.code))
                .collect(),
        })
        .collect();
    render(StatusCode::OK, &GuidePage { page, item, showing, type_name, checklists })
}

/// The address a guide's QR code carries.
pub fn guide_url(public_url: &str, code: &str) -> String {
    format!("{}/items/{code}", public_url.trim_end_matches('/'))
}

/// The guide's address as an SVG QR code, for posters at the window.
async fn qr(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    if let Err(e) = super::published(&state.store, &code).await {
        return crate::http::error::ApiError::from(e).into_response();
    }
    crate::http::pages::qr_svg(&guide_url(&state.config.public_url, &code))
}

#[derive(Deserialize)]
struct SearchForm {
    q: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    page: &'a PageContext,
    query: &'a str,
    hits: Vec<Hit>,
    problem: Option<String>,
}

/// The results page works without scripts; suggestions come on top with htmx.
async fn search(State(state): State<AppState>, page: PageContext, Query(form): Query<SearchForm>) -> Response {
    let typed = form.q.unwrap_or_default();
    let (hits, problem) = match (typed.trim(), query_text(&typed)) {
        ("", _) => (Vec::new(), None),
        (_, Ok(q)) => match state.search.search(q, 20) {
            Ok(hits) => (hits, None),
            Err(e) => return error_page(&page, &e.into()),
        },
        (_, Err(_)) => (Vec::new(), Some(page.pick("请输入1-100个字", "Please type 1-100 characters").to_owned())),
    };
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(status, &SearchPage { page: &page, query: typed.trim(), hits, problem })
}

#[derive(askama::Template)]
#[template(path = "suggestions.html")]
struct Suggestions {
    hits: Vec<Hit>,
}

/// The suggestion list under the search box, as an htmx fragment; empty for unusable input.
async fn suggest(State(state): State<AppState>, Query(form): Query<SearchForm>) -> Response {
    let typed = form.q.unwrap_or_default();
    let hits = query_text(&typed).ok().and_then(|q| state.search.search(q, SUGGESTIONS).ok()).unwrap_or_default();
    render(StatusCode::OK, &Suggestions { hits })
}

#[derive(Deserialize)]
struct BrowseForm {
    audience: Option<String>,
    theme: Option<String>,
    department: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "services.html")]
struct BrowsePage<'a> {
    page: &'a PageContext,
    audience: &'a str,
    theme: &'a str,
    department: &'a str,
    themes: Vec<(&'static str, &'static str, usize)>,
    departments: Vec<(String, String, usize)>,
    items: Vec<Entry>,
}

impl BrowsePage<'_> {
    /// This page's address with one filter changed (an empty value drops it).
    fn with(&self, key: &str, value: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, current) in [("audience", self.audience), ("theme", self.theme), ("department", self.department)] {
            let v = if k == key { value } else { current };
            if !v.is_empty() {
                query.append_pair(k, v);
            }
        }
        format!("/services?{}", query.finish())
    }
}

/// Browse the catalogue by audience (个人 / 法人), life event or theme, and department.
async fn browse(State(state): State<AppState>, page: PageContext, Query(form): Query<BrowseForm>) -> Response {
    let audience = match form.audience.as_deref().unwrap_or("") {
        "" => None,
        "person" => Some(Audience::Person),
        "legal_person" => Some(Audience::LegalPerson),
        _ => {
            let e = crate::http::error::ApiError::invalid("audience", "unknown_audience", "person 或 legal_person");
            return error_page(&page, &e);
        }
    };
    let theme = form.theme.filter(|t| !t.is_empty());
    if theme.as_ref().is_some_and(|t| !THEMES.iter().any(|(c, _)| c == t)) {
        return error_page(
            &page,
            &crate::http::error::ApiError::invalid("theme", "unknown_theme", "未知主题 / unknown theme"),
        );
    }
    let department = form.department.filter(|d| !d.is_empty());
    let for_audience = state.search.browse(&Browse { audience, ..Browse::default() });
    let themes = THEMES
        .iter()
        .map(|(code, name)| (*code, *name, for_audience.iter().filter(|e| e.themes.iter().any(|t| t == code)).count()))
        .filter(|(_, _, n)| *n > 0)
        .collect();
    let items = state.search.browse(&Browse { audience, theme: theme.clone(), department: department.clone() });
    let audience_code = match audience {
        Some(Audience::Person) => "person",
        Some(Audience::LegalPerson) => "legal_person",
        None => "",
    };
    render(
        StatusCode::OK,
        &BrowsePage {
            page: &page,
            audience: audience_code,
            theme: theme.as_deref().unwrap_or(""),
            department: department.as_deref().unwrap_or(""),
            themes,
            departments: state.search.departments(),
            items,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "poster.html")]
struct PosterPage<'a> {
    page: &'a PageContext,
    item: &'a ItemDocument,
    url: String,
}

/// An A4 poster of the guide's QR code for the service hall (扫码看指南), ready to print.
async fn poster(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    let (item, _) = match super::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    let url = guide_url(&state.config.public_url, &code);
    render(StatusCode::OK, &PosterPage { page: &page, item: &item, url })
}
