//! Completes the OpenAPI document with what operations share instead of repeating it in every
//! `#[utoipa::path]`: who may call an operation (its security) and the error answers the
//! extractors and [`super::error::ApiError`] give to any operation of its kind — malformed input,
//! not signed in, not allowed, invalid input, database unavailable. A client (and schemathesis, in
//! CI) then finds every status the server can answer described.
//!
//! [`ACCESS`] is the one list of operations that do not need a signed-in user; the authorisation
//! test calls every operation of the document anonymously and checks it against this list.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};

use super::auth::SESSION_COOKIE;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not; what they see may still depend on who they are.
    Everyone,
    /// A signed-in user: a session cookie (with the CSRF header on changes) or an API token.
    SignedIn,
    /// A data-exchange app with its gateway token.
    ExchangeApp,
}

/// Operations open to everyone, as `METHOD path` of the document. Everything else under `/api/`
/// needs a signed-in user, except the data-exchange gateway, which takes an app's token.
const OPEN_TO_EVERYONE: &[&str] = &[
    "GET /healthz",
    "GET /readyz",
    "POST /api/auth/login",
    "POST /api/auth/logout",
    "POST /api/residents",
    "POST /api/enterprises",
    "GET /api/regions",
    "GET /api/departments",
    "GET /api/grids",
    "GET /api/calendar/days",
    "GET /api/calendar/deadline",
    "GET /api/calendar/working-days",
    "GET /api/catalog/items",
    "GET /api/catalog/items/{code}",
    "GET /api/catalog/items/{code}/versions",
    "GET /api/catalog/items/{code}/versions/{version}",
    "GET /api/catalog/search",
    "GET /api/catalog/suggest",
    "GET /api/catalog/export",
    "GET /api/catalog/export.csv",
    "GET /api/certificates/key",
    "GET /api/certificates/sm2-key",
    "GET /api/certificates/types",
    "POST /api/certificates/verify",
    "POST /api/workorders",
    "GET /api/workorders/categories",
    "GET /api/evaluations/tokens/{token}",
    "POST /api/evaluations/tokens/{token}/ratings",
    "GET /api/panorama",
    "GET /api/panorama/ratings",
    "GET /api/panorama/export.csv",
    "GET /api/ledger/checkpoint",
    "GET /api/ledger/key",
    "GET /api/ledger/leaves/{index}",
    "GET /api/ledger/proofs/inclusion",
    "GET /api/ledger/proofs/consistency",
    "GET /api/ledger/receipts/{index}",
    "GET /ledger/checkpoint",
    "GET /ledger/tile/{level}/{*index}",
    "GET /ledger/tile/entries/{*index}",
    "GET /api/opendata/catalog.jsonld",
    "GET /api/opendata/catalog.ttl",
    "GET /api/opendata/datasets/{name}/rows.csv",
    "GET /api/opendata/datasets/{name}/rows.json",
    "GET /api/3/action/{action}",
    "POST /api/3/action/{action}",
    "GET /api/action/{action}",
    "POST /api/action/{action}",
];

/// Who may call `method path` (a path as the document writes it, e.g. `/api/workorders/{number}`).
pub fn access(method: &str, path: &str) -> Access {
    let operation = format!("{} {path}", method.to_ascii_uppercase());
    if OPEN_TO_EVERYONE.contains(&operation.as_str()) {
        Access::Everyone
    } else if path.starts_with("/api/exchange/gateway/") {
        Access::ExchangeApp
    } else {
        Access::SignedIn
    }
}

const SESSION: &str = "session";
const TOKEN: &str = "token";

pub fn complete(document: &mut OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        SESSION.into(),
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            SESSION_COOKIE,
            "The session cookie set by sign-in; changes also send its CSRF token as `x-csrf-token`.",
        )))),
    );
    components.security_schemes.insert(TOKEN.into(), RefOr::T(SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))));
    for (path, item) in document.paths.paths.iter_mut() {
        // The CKAN-compatible Action API answers errors in CKAN's own envelope.
        let ckan = path.starts_with("/api/3/action/") || path.starts_with("/api/action/");
        for (method, operation) in operations(item) {
            complete_operation(operation, access(method, path), path.contains('{'), ckan);
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    let PathItem { get, put, post, delete, patch, .. } = item;
    [("GET", get), ("PUT", put), ("POST", post), ("DELETE", delete), ("PATCH", patch)]
        .into_iter()
        .filter_map(|(method, operation)| operation.as_mut().map(|o| (method, o)))
        .collect()
}

fn complete_operation(operation: &mut Operation, access: Access, has_path_parameters: bool, ckan: bool) {
    let has_body = operation.request_body.is_some();
    let has_parameters = operation.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let mut answers = vec![("503", "服务暂不可用 / the database is unavailable; retry later")];
    if has_body || has_parameters {
        answers.push(("400", "请求格式错误 / malformed path, query or body"));
        answers.push(("422", "输入无效，`field` 指明字段 / invalid input; `field` names it"));
    }
    if has_body {
        answers.push(("413", "请求体过大 / the body is too large"));
        answers.push(("415", "请求体类型错误 / wrong content type"));
    }
    if has_path_parameters {
        answers.push(("404", "记录不存在 / not found"));
    }
    match access {
        Access::Everyone => {
            answers.push(("401", "所带会话或令牌无效或已过期 / the session or token sent is invalid or expired"));
        }
        Access::SignedIn => {
            answers.push(("401", "请先登录 / sign in first"));
            answers.push(("403", "无权执行此操作 / not allowed, or a change without its CSRF token"));
            operation.security = Some(vec![
                SecurityRequirement::new(SESSION, Vec::<String>::new()),
                SecurityRequirement::new(TOKEN, Vec::<String>::new()),
            ]);
        }
        Access::ExchangeApp => {
            answers.push(("401", "缺少或无效的应用令牌 / missing or invalid app token"));
            answers.push(("403", "未获授权 / no grant covers this call"));
            operation.security = Some(vec![SecurityRequirement::new(TOKEN, Vec::<String>::new())]);
        }
    }
    for (status, description) in answers {
        operation.responses.responses.entry(status.to_owned()).or_insert_with(|| {
            let body: RefOr<Schema> = if ckan {
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("CKAN's envelope: `success: false` and its `error` (`__type`, `message`)"))
                    .into()
            } else {
                Ref::from_schema_name("ErrorBody").into()
            };
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", Content::new(Some(body)))
                    .build(),
            )
        });
    }
}
