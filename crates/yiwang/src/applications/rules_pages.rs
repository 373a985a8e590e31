//! The back-office page for an item's instant-approval rules: every version with its tests, and a
//! form to publish the next one (refused, with the failing case named, while any test fails).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::ApplicationError;
use super::instant::{NewRule, RuleVersion};
use crate::AppState;
use crate::http::extract::Path;
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/catalog/rules/{item}", get(show).post(publish))
}

#[derive(askama::Template)]
#[template(path = "rules.html")]
struct RulesPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    item_code: &'a str,
    item_name: &'a str,
    situations: Vec<(String, String)>,
    versions: Vec<RuleVersion>,
    /// What the form holds: situation, table JSON, tests JSON.
    typed: (String, String, String),
    problem: Option<String>,
    published: Option<i64>,
}

impl RulesPage<'_> {
    fn pretty(&self, value: &serde_json::Value) -> String {
        pretty(value)
    }
}

async fn render_page(
    state: &AppState,
    page: &PageContext,
    item_code: &str,
    typed: Option<(String, String, String)>,
    problem: Option<String>,
    published: Option<i64>,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let found = async {
        let (item, _) = crate::catalog::published(&state.store, item_code).await?;
        let versions = super::instant::versions(&state.store, item_code).await?;
        Ok::<_, ApplicationError>((item, versions))
    };
    let (item, versions) = match found.await {
        Ok(found) => found,
        Err(e) => return error_page(page, &e.into()),
    };
    // Start the form from the newest version, so an edit changes what is in force.
    let typed = typed.unwrap_or_else(|| match versions.first() {
        Some(v) => (v.situation.clone(), pretty(&v.table), pretty(&v.tests)),
        None => (String::new(), String::new(), "[]".into()),
    });
    let situations = item.situations.iter().map(|s| (s.code.clone(), s.name.clone())).collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(
        status,
        &RulesPage {
            page,
            csrf_token: actor.csrf_token(),
            item_code,
            item_name: &item.name,
            situations,
            versions,
            typed,
            problem,
            published,
        },
    )
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

async fn show(State(state): State<AppState>, page: PageContext, Path(item): Path<String>) -> Response {
    render_page(&state, &page, &item, None, None, None).await
}

async fn publish(State(state): State<AppState>, page: PageContext, Path(item): Path<String>, body: Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let fields: std::collections::HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let typed = (get("situation"), get("table"), get("tests"));
    let parsed =
        serde_json::from_str(&typed.1).map_err(|e| format!("table：JSON 格式有误 / not JSON: {e}")).and_then(|table| {
            let tests = serde_json::from_str(&typed.2).map_err(|e| format!("tests：JSON 格式有误 / not JSON: {e}"))?;
            Ok(NewRule { situation: Some(typed.0.clone()).filter(|s| !s.is_empty()), table, tests })
        });
    let rule = match parsed {
        Ok(rule) => rule,
        Err(problem) => return render_page(&state, &page, &item, Some(typed), Some(problem), None).await,
    };
    match super::instant::publish(&state.store, &state.items, &actor.principal, &item, rule).await {
        Ok(version) => render_page(&state, &page, &item, None, None, Some(version)).await,
        Err(ApplicationError::Invalid { field, message }) => {
            render_page(&state, &page, &item, Some(typed), Some(format!("{field}：{message}")), None).await
        }
        Err(e) => error_page(&page, &e.into()),
    }
}
