//! Every failure a client can see, as one enum whose variants are HTTP outcomes.
//!
//! Modules return their own error enums; the `From` impls below decide the status, the stable
//! machine-readable `code` (which the pages turn into Chinese or English text) and the `field`.
//! Internal errors are logged once here and never shown.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::applications::ApplicationError;
use crate::calendar::CalendarAdminError;
use crate::catalog::CatalogError;
use crate::certificates::CertificateError;
use crate::evaluation::EvaluationError;
use crate::exchange::ExchangeError;
use crate::identity::IdentityError;
use crate::identity::oidc::OidcError;
use crate::ledger::LedgerError;
use crate::workorders::WorkOrderError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request could not be read at all (malformed JSON, bad query string).
    BadRequest {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// 422: the request was read, but a field is invalid.
    Invalid {
        code: &'static str,
        message: String,
        field: String,
    },
    Unauthenticated,
    Forbidden,
    /// 403 with a reason the client can act on (e.g. the data gateway's `no_grant`).
    Refused {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    NotFound,
    /// 409: the change was made against a state that has moved on.
    Conflict {
        code: &'static str,
        message: String,
    },
    /// 415: the body is not of the media type the endpoint takes (named).
    UnsupportedMediaType(&'static str),
    TooManyRequests {
        retry_after_secs: i64,
    },
    /// 429 for a limit other than sign-in attempts (a rate or a quota), named by `code`.
    Limited {
        code: &'static str,
        retry_after_secs: i64,
    },
    /// 502: a system yiwang relies on (a department's data endpoint, the identity platform) failed.
    BadGateway {
        code: &'static str,
        message: String,
    },
    /// 503: the database cannot be reached; the client may retry.
    Unavailable,
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_id_number`.
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid { code, message: message.into(), field: field.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } | ApiError::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn detail(&self) -> ErrorDetail {
        let (code, message, field) = match self {
            ApiError::BadRequest { code, message, field } => (*code, message.clone(), field.clone()),
            ApiError::Invalid { code, message, field } => (*code, message.clone(), Some(field.clone())),
            ApiError::Unauthenticated => ("unauthenticated", "请先登录 / sign in first".into(), None),
            ApiError::Forbidden => ("forbidden", "无权执行此操作 / not allowed".into(), None),
            ApiError::Refused { code, message, field } => (*code, message.clone(), field.clone()),
            ApiError::NotFound => ("not_found", "记录不存在 / not found".into(), None),
            ApiError::Conflict { code, message } => (*code, message.clone(), None),
            ApiError::UnsupportedMediaType(expected) => {
                ("unsupported_media_type", format!("请求体应为 {expected} / the body must be {expected}"), None)
            }
            ApiError::TooManyRequests { retry_after_secs } => (
                "too_many_attempts",
                format!(
                    "尝试次数过多，请{retry_after_secs}秒后再试 / too many attempts, retry in {retry_after_secs} s"
                ),
                None,
            ),
            ApiError::Limited { code, retry_after_secs } => (
                *code,
                format!("超出调用限额，请{retry_after_secs}秒后再试 / limit reached, retry in {retry_after_secs} s"),
                None,
            ),
            ApiError::BadGateway { code, message } => (*code, message.clone(), None),
            ApiError::Unavailable => ("unavailable", "服务暂不可用，请稍后重试 / temporarily unavailable".into(), None),
            ApiError::Internal(_) => ("internal", "系统内部错误 / internal error".into(), None),
        };
        ErrorDetail { code: code.to_owned(), message, field }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut response = (self.status(), axum::Json(ErrorBody { error: self.detail() })).into_response();
        if let ApiError::TooManyRequests { retry_after_secs } | ApiError::Limited { retry_after_secs, .. } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(error = %err, "database unavailable");
                ApiError::Unavailable
            }
            sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => {
                tracing::warn!(error = %err, "database busy or restarting");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// SQLite busy/locked, PostgreSQL serialization failure, deadlock, shutdown, connection errors.
fn is_transient(code: Option<&str>) -> bool {
    matches!(code, Some("5" | "6" | "40001" | "40P01" | "57P01" | "57P02" | "57P03"))
        || code.is_some_and(|c| c.starts_with("08"))
}

impl From<IdentityError> for ApiError {
    fn from(err: IdentityError) -> Self {
        match err {
            IdentityError::Invalid { field, source } => ApiError::invalid(field, source.code, source.message),
            IdentityError::Rule { field, code, message } => ApiError::invalid(field, code, message),
            IdentityError::BadCredentials => ApiError::Invalid {
                code: "bad_credentials",
                message: "账号或密码错误 / wrong login or password".into(),
                field: "password".into(),
            },
            IdentityError::Throttled { retry_after_secs } => ApiError::TooManyRequests { retry_after_secs },
            IdentityError::Duplicate { field } => {
                ApiError::invalid(field, "already_registered", "已被注册 / already registered")
            }
            IdentityError::NotFound => ApiError::NotFound,
            IdentityError::Forbidden => ApiError::Forbidden,
            IdentityError::Hashing => ApiError::Internal("password hashing failed".into()),
            IdentityError::Ledger(e) => e.into(),
            IdentityError::Db(e) => e.into(),
        }
    }
}

impl From<OidcError> for ApiError {
    fn from(err: OidcError) -> Self {
        let bad_request = |code, message: &str| ApiError::BadRequest { code, message: message.into(), field: None };
        let refused = |code, message: String| ApiError::Refused { code, message, field: None };
        match err {
            OidcError::Provider { error } => ApiError::BadRequest {
                code: "oidc_provider_error",
                message: format!("统一身份认证平台未能完成登录（{error}） / the identity platform did not sign you in ({error})"),
                field: None,
            },
            OidcError::AccessDenied => refused(
                "oidc_access_denied",
                "统一身份认证平台拒绝了登录 / the identity platform denied the sign-in".into(),
            ),
            OidcError::StateMismatch => bad_request(
                "oidc_state_mismatch",
                "登录请求与本浏览器发起的不一致，请重新登录 / this sign-in was not started in this browser, please sign in again",
            ),
            OidcError::Expired => bad_request(
                "oidc_login_expired",
                "登录已过期或已使用，请重新登录 / the sign-in expired or was already used, please sign in again",
            ),
            OidcError::MissingCode => ApiError::BadRequest {
                code: "oidc_missing_code",
                message: "回调缺少授权码 / the callback carries no code".into(),
                field: Some("code".into()),
            },
            OidcError::CodeRejected(error) => ApiError::BadRequest {
                code: "oidc_code_rejected",
                message: format!("统一身份认证平台拒绝了授权码（{error}），请重新登录 / the identity platform refused the code ({error}), please sign in again"),
                field: Some("code".into()),
            },
            OidcError::InvalidToken { claim, .. } => ApiError::Refused {
                code: "oidc_invalid_token",
                message: match claim {
                    Some("exp") => "身份令牌已过期 / the ID token has expired".into(),
                    Some("aud") => "身份令牌不是签发给本平台的 / the ID token was issued to another client".into(),
                    Some("iss") => "身份令牌的签发方不符 / the ID token comes from another issuer".into(),
                    Some("nonce") => "身份令牌与本次登录不符 / the ID token belongs to another sign-in".into(),
                    _ => "身份令牌无效（签名校验失败） / the ID token is invalid (its signature does not verify)".into(),
                },
                field: claim.map(str::to_owned),
            },
            OidcError::MissingClaim { claim } => ApiError::Invalid {
                code: "oidc_missing_claim",
                message: format!("身份令牌缺少 {claim} / the ID token has no {claim} claim"),
                field: claim,
            },
            OidcError::InvalidClaim { claim, source } => ApiError::Invalid {
                code: source.code,
                message: format!("身份令牌中的 {claim} 无效 / the ID token's {claim} claim is invalid: {}", source.message),
                field: claim,
            },
            OidcError::NoIdentity => refused(
                "oidc_no_identity",
                "身份令牌中没有可识别的工作人员账号、身份证号或统一社会信用代码 / the ID token names no staff login, ID number or credit code".into(),
            ),
            OidcError::UnknownStaff { login } => refused(
                "oidc_unknown_staff",
                format!("本平台没有账号为 {login} 的工作人员，请联系管理员开通 / there is no staff account {login} here; ask your administrator"),
            ),
            OidcError::UnknownEnterprise => refused(
                "oidc_unknown_enterprise",
                "该企业尚未在本平台注册 / this enterprise is not registered here".into(),
            ),
            OidcError::Disabled => refused("account_disabled", "账号已停用 / the account is disabled".into()),
            OidcError::Unreachable(_) => ApiError::BadGateway {
                code: "oidc_unavailable",
                message: "统一身份认证平台暂时无法访问，请稍后重试或使用账号密码登录 / the identity platform cannot be reached; retry later or sign in with a password".into(),
            },
            OidcError::Identity(e) => e.into(),
            OidcError::Db(e) => e.into(),
        }
    }
}

impl From<CalendarAdminError> for ApiError {
    fn from(err: CalendarAdminError) -> Self {
        match err {
            CalendarAdminError::Invalid { field, code, message } => ApiError::invalid(field, code, message),
            CalendarAdminError::NotFound => ApiError::NotFound,
            CalendarAdminError::Forbidden => ApiError::Forbidden,
            CalendarAdminError::Ledger(e) => e.into(),
            CalendarAdminError::Db(e) => e.into(),
        }
    }
}

impl From<LedgerError> for ApiError {
    fn from(err: LedgerError) -> Self {
        match err {
            LedgerError::Invalid { field, message } => ApiError::invalid(field, "out_of_range", message),
            LedgerError::NotFound => ApiError::NotFound,
            LedgerError::Key(message) | LedgerError::Corrupt(message) => ApiError::Internal(message),
            LedgerError::Db(e) => e.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Invalid { index, problem } => {
                ApiError::invalid(format!("items[{index}].{}", problem.field), "invalid_item", problem.message)
            }
            CatalogError::Duplicate(code) => ApiError::invalid(
                "implementation_code",
                "already_registered",
                format!("{code} 已存在 / already exists"),
            ),
            CatalogError::NotFound => ApiError::NotFound,
            CatalogError::Forbidden => ApiError::Forbidden,
            CatalogError::Malformed(message) | CatalogError::Search(message) => ApiError::Internal(message),
            CatalogError::Stale { .. } => ApiError::Conflict {
                code: "stale_draft",
                message: "草稿打开后该事项已发布新版本，请放弃草稿后重新编辑 / the item was published after this draft was opened: discard it and edit again".into(),
            },
            CatalogError::Ledger(e) => e.into(),
            CatalogError::Identity(e) => e.into(),
            CatalogError::Db(e) => e.into(),
        }
    }
}

impl From<ApplicationError> for ApiError {
    fn from(err: ApplicationError) -> Self {
        match err {
            ApplicationError::Invalid { field, message } => ApiError::invalid(field, "invalid_application", message),
            ApplicationError::NotFound => ApiError::NotFound,
            ApplicationError::Forbidden => ApiError::Forbidden,
            ApplicationError::WrongState { action, state } => ApiError::Conflict {
                code: "wrong_state",
                message: format!(
                    "当前状态（{state}）不能执行此操作（{action}） / cannot {action} an application that is {state}"
                ),
            },
            ApplicationError::UnsupportedFile => {
                ApiError::UnsupportedMediaType("application/pdf, image/jpeg or image/png")
            }
            ApplicationError::Storage(e) => ApiError::Internal(format!("file storage: {e}")),
            ApplicationError::Catalog(e) => e.into(),
            ApplicationError::Ledger(e) => e.into(),
            ApplicationError::Identity(e) => e.into(),
            ApplicationError::Certificate(e) => e.into(),
            ApplicationError::Exchange(e) => (*e).into(),
            ApplicationError::Evaluation(e) => e.into(),
            ApplicationError::Db(e) => e.into(),
        }
    }
}

impl From<WorkOrderError> for ApiError {
    fn from(err: WorkOrderError) -> Self {
        match err {
            WorkOrderError::Invalid { field, message } => ApiError::invalid(field, "invalid_workorder", message),
            WorkOrderError::NotFound => ApiError::NotFound,
            WorkOrderError::Forbidden => ApiError::Forbidden,
            WorkOrderError::WrongState { action, state } => ApiError::Conflict {
                code: "wrong_state",
                message: format!(
                    "当前状态（{state}）不能执行此操作（{action}） / cannot {action} a work order that is {state}"
                ),
            },
            WorkOrderError::Conflict => ApiError::Conflict {
                code: "changed_meanwhile",
                message: "工单已被他人更新，请刷新后重试 / the order changed meanwhile; reload and retry".into(),
            },
            WorkOrderError::Ledger(e) => e.into(),
            WorkOrderError::Identity(e) => e.into(),
            WorkOrderError::Db(e) => e.into(),
        }
    }
}

impl From<EvaluationError> for ApiError {
    fn from(err: EvaluationError) -> Self {
        match err {
            EvaluationError::Invalid { field, message } => ApiError::invalid(field, "invalid_evaluation", message),
            EvaluationError::NotFound => ApiError::NotFound,
            EvaluationError::Forbidden => ApiError::Forbidden,
            EvaluationError::AlreadyRated => ApiError::Conflict {
                code: "already_rated",
                message: "已评价，评价不可修改 / already rated; a rating is never changed".into(),
            },
            EvaluationError::WrongState { action, state } => ApiError::Conflict {
                code: "wrong_state",
                message: format!(
                    "当前状态（{state}）不能执行此步骤（{action}） / cannot {action} a rectification that is {state}"
                ),
            },
            EvaluationError::Ledger(e) => e.into(),
            EvaluationError::Identity(e) => e.into(),
            EvaluationError::Db(e) => e.into(),
        }
    }
}

impl From<CertificateError> for ApiError {
    fn from(err: CertificateError) -> Self {
        match err {
            CertificateError::Invalid { field, message } => ApiError::invalid(field, "invalid_certificate", message),
            CertificateError::NotFound => ApiError::NotFound,
            CertificateError::Forbidden => ApiError::Forbidden,
            CertificateError::Key(message) => ApiError::Internal(message),
            CertificateError::Ledger(e) => e.into(),
            CertificateError::Identity(e) => e.into(),
            CertificateError::Db(e) => e.into(),
        }
    }
}

impl From<ExchangeError> for ApiError {
    fn from(err: ExchangeError) -> Self {
        match err {
            ExchangeError::Invalid { field, message } => ApiError::invalid(field, "invalid_exchange", message),
            ExchangeError::NotFound => ApiError::NotFound,
            ExchangeError::Forbidden => ApiError::Forbidden,
            ExchangeError::Refused { code, message, field } => ApiError::Refused { code, message, field },
            ExchangeError::UnknownApp => ApiError::Unauthenticated,
            ExchangeError::Throttled { code, retry_after_secs } => ApiError::Limited { code, retry_after_secs },
            ExchangeError::WrongState { action, state } => ApiError::Conflict {
                code: "wrong_state",
                message: format!(
                    "当前状态（{state}）不能执行此操作（{action}） / cannot {action} a grant that is {state}"
                ),
            },
            ExchangeError::Upstream(cause) => ApiError::BadGateway {
                code: "source_failed",
                message: format!("数据源系统调用失败 / the source system failed: {cause}"),
            },
            ExchangeError::Ledger(e) => e.into(),
            ExchangeError::Identity(e) => e.into(),
            ExchangeError::Db(e) => e.into(),
        }
    }
}
