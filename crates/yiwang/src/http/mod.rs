//! The HTTP face: one router for the JSON API (documented in OpenAPI), the pages, static assets,
//! health checks; and what every request passes (`frame`: request id, trace, metrics, security
//! headers; a body limit).

pub mod auth;
pub mod document;
pub mod error;
pub mod extract;
mod frame;
mod health;
pub mod pages;
mod static_files;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;

pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "yiwang (一网) API", description = "Digital-government platform: services, governance, data exchange, evidence log. Errors are `{\"error\":{\"code\",\"message\",\"field\"}}`."),
    tags(
        (name = "identity", description = "Sign-in, accounts, residents, enterprises, staff, regions and departments"),
        (name = "calendar", description = "Working days, holidays and make-up working days (调休)"),
        (name = "catalog", description = "Service items (事项) and their guides"),
        (name = "applications", description = "Applications (办件) and their materials"),
        (name = "certificates", description = "E-certificates (电子证照): wallet, uses, revocation, verification"),
        (name = "workorders", description = "Work orders (工单): intake, dispatch, handling, supervision, callback; grids and sensors"),
        (name = "exchange", description = "Data exchange (一网共享): data catalogue, apps, grants, the gateway, call logs, alerts"),
        (name = "opendata", description = "Open data: a CKAN-compatible Action API and a DCAT-AP export"),
        (name = "evaluation", description = "Service evaluation (好差评): ratings, window visits, rulings, rectifications (整改) and the service panorama"),
        (name = "ledger", description = "The evidence log (存证): checkpoints, leaves, proofs, receipts"),
        (name = "health", description = "Liveness and readiness")
    ),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// The API routes and their OpenAPI document, built from the same `routes!` registrations.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(crate::identity::api::router())
        .merge(crate::calendar::api::router())
        .merge(crate::ledger::api::router())
        .merge(crate::catalog::api::router())
        .merge(crate::applications::api::router())
        .merge(crate::certificates::api::router())
        .merge(crate::workorders::api::router())
        .merge(crate::exchange::api::router())
        .merge(crate::exchange::ckan::router())
        .merge(crate::evaluation::api::router())
        .split_for_parts();
    document::complete(&mut openapi);
    (router, openapi)
}

pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let secure = state.config.secure_cookies;
    Router::new()
        .merge(api)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
        .merge(pages::router())
        .merge(crate::workorders::open311::router())
        .route("/static/{file}", get(static_files::serve))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(frame::Frame { hsts: secure }, frame::frame))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    // The JSON API and the evidence log's tlog-tiles API answer in the JSON error format.
    if request.uri().path().starts_with("/api/") || request.uri().path().starts_with("/ledger/") {
        error::ApiError::NotFound.into_response()
    } else {
        pages::not_found_page(&request).into_response()
    }
}
