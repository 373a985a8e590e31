//! JSON handlers for instant-approval rules (秒批规则): versions per item, published only when
//! their test cases pass.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::instant::{NewRule, RuleVersion};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::{Json, Path};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(versions, publish))
}

/// Every version of an item's instant-approval rules, newest first per situation.
#[utoipa::path(get, path = "/api/rules/{item}", operation_id = "list_rule_versions", tag = "applications", params(("item" = String, Path, description = "implementation code")),
    responses((status = 200, description = "OK", body = [RuleVersion]), (status = 401, description = "Not signed in", body = ErrorBody)))]
async fn versions(
    State(state): State<AppState>,
    _actor: Actor,
    Path(item): Path<String>,
) -> Result<axum::Json<Vec<RuleVersion>>, ApiError> {
    Ok(axum::Json(super::instant::versions(&state.store, &item).await?))
}

#[derive(Serialize, ToSchema)]
pub struct PublishedRule {
    pub version: i64,
}

/// Publishes the next version of an item's rule (a catalogue editor of the item's department or a
/// platform admin over it). Refused with the failing case named while any test case fails.
#[utoipa::path(post, path = "/api/rules/{item}", operation_id = "publish_rule", tag = "applications", params(("item" = String, Path, description = "implementation code")),
    request_body = NewRule,
    responses((status = 201, description = "Published", body = PublishedRule), (status = 403, description = "Not allowed", body = ErrorBody),
              (status = 404, description = "No such item", body = ErrorBody), (status = 422, description = "Invalid table or a failing test case", body = ErrorBody)))]
async fn publish(
    State(state): State<AppState>,
    actor: Actor,
    Path(item): Path<String>,
    Json(rule): Json<NewRule>,
) -> Result<(StatusCode, axum::Json<PublishedRule>), ApiError> {
    let version = super::instant::publish(&state.store, &state.items, &actor.principal, &item, rule).await?;
    Ok((StatusCode::CREATED, axum::Json(PublishedRule { version })))
}
