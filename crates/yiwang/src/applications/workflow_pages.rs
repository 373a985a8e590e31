//! The back-office page for an item's review workflow: its steps, edited as JSON, with each
//! problem named.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::ApplicationError;
use crate::AppState;
use crate::http::extract::Path;
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/catalog/workflows/{item}", get(show).post(save))
}

#[derive(askama::Template)]
#[template(path = "workflow.html")]
struct WorkflowPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    item_code: &'a str,
    item_name: &'a str,
    steps: String,
    problem: Option<String>,
}

async fn render_page(
    state: &AppState,
    page: &PageContext,
    item_code: &str,
    typed: Option<String>,
    problem: Option<String>,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let found = async {
        let (item, _) = crate::catalog::published(&state.store, item_code).await?;
        let mut conn = state.store.pool().acquire().await?;
        let steps = super::workflow::steps(&mut conn, item_code, &item.department_code).await?;
        Ok::<_, ApplicationError>((item, steps))
    };
    let (item, steps) = match found.await {
        Ok(found) => found,
        Err(e) => return error_page(page, &e.into()),
    };
    let steps = typed.unwrap_or_else(|| serde_json::to_string_pretty(&steps).unwrap_or_default());
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let csrf_token = actor.csrf_token();
    render(status, &WorkflowPage { page, csrf_token, item_code, item_name: &item.name, steps, problem })
}

async fn show(State(state): State<AppState>, page: PageContext, Path(item): Path<String>) -> Response {
    render_page(&state, &page, &item, None, None).await
}

async fn save(State(state): State<AppState>, page: PageContext, Path(item): Path<String>, body: Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let fields: std::collections::HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let typed = get("steps");
    let steps = match serde_json::from_str(&typed) {
        Ok(steps) => steps,
        Err(e) => {
            let problem = format!("steps：JSON 格式有误 / not valid steps: {e}");
            return render_page(&state, &page, &item, Some(typed), Some(problem)).await;
        }
    };
    match super::workflow::set(&state.store, &state.items, &actor.principal, &item, steps).await {
        Ok(()) => Redirect::to(&format!("/catalog/workflows/{item}")).into_response(),
        Err(ApplicationError::Invalid { field, message }) => {
            render_page(&state, &page, &item, Some(typed), Some(format!("{field}：{message}"))).await
        }
        Err(e) => error_page(&page, &e.into()),
    }
}
