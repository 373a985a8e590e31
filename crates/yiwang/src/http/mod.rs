//! The HTTP face: one router for the JSON API (documented in OpenAPI), the pages, static assets,
//! health checks; and the layers every request passes (request id, trace, metrics, security
//! headers, body limit).

pub mod auth;
pub mod document;
pub mod error;
pub mod extract;
mod health;
pub mod pages;
mod static_files;

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
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
        .layer(axum::middleware::from_fn(record_metrics))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(self)"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            // HSTS only when served over TLS, or a plain-HTTP intranet install would lock itself out.
            secure.then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains")),
        ))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let path =
                        request.extensions().get::<MatchedPath>().map(MatchedPath::as_str).unwrap_or("unmatched");
                    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("request", method = %request.method(), path, request_id = id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
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

async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path =
        request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("yiwang_http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status).increment(1);
    metrics::histogram!("yiwang_http_request_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
