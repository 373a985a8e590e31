//! Extractors that answer bad input in our error format, naming the field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// Like `axum::Json`, but a body that cannot be read becomes `{"error":{…,"field":"a.b"}}`.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| ApiError::BadRequest {
            code: "unreadable_body",
            message: format!("无法读取请求体 / cannot read the body: {e}"),
            field: None,
        })?;
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = missing_field(&message)
                    .map(|name| if path == "." { name.to_owned() } else { format!("{path}.{name}") })
                    .unwrap_or(path);
                ApiError::invalid(field, "invalid_field", format!("字段无效 / invalid field: {message}"))
            }
            _ => ApiError::BadRequest {
                code: "malformed_json",
                message: format!("JSON 格式错误 / malformed JSON: {message}"),
                field: (path != "." && path != "?").then_some(path),
            },
        }
    })
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// `limit` (1-200, default 50) and `offset` (not negative, default 0) of a paged list.
pub fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64), ApiError> {
    let limit = limit.unwrap_or(50);
    let offset = offset.unwrap_or(0);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "out_of_range", "limit 应在1-200之间 / 1-200"));
    }
    if offset < 0 {
        return Err(ApiError::invalid("offset", "out_of_range", "offset 不能为负 / must not be negative"));
    }
    Ok((limit, offset))
}

/// Like `axum::extract::Query`, with our error format.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Query).map_err(|err| {
            let field = err.path().to_string();
            let message = err.into_inner().to_string();
            let field = missing_field(&message).map(str::to_owned).unwrap_or(field);
            ApiError::BadRequest {
                code: "invalid_query",
                message: format!("查询参数无效 / invalid query: {message}"),
                field: Some(field),
            }
        })
    }
}

/// Like `axum::extract::Path`, with our error format.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|axum::extract::Path(v)| Path(v)).map_err(
            |e| {
                use axum::extract::path::ErrorKind;
                let field = match &e {
                    axum::extract::rejection::PathRejection::FailedToDeserializePathParams(inner) => match inner.kind()
                    {
                        ErrorKind::ParseErrorAtKey { key, .. }
                        | ErrorKind::DeserializeError { key, .. }
                        | ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                        _ => None,
                    },
                    _ => None,
                };
                ApiError::BadRequest {
                    code: "invalid_path",
                    message: format!("路径参数无效 / invalid path: {e}"),
                    field,
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        login: String,
        nested: Option<Inner>,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    fn field_of(json: &str) -> (u16, Option<String>, String) {
        let err = parse_json::<Body>(json.as_bytes()).unwrap_err();
        let d = err.detail();
        (err.status().as_u16(), d.field, d.code)
    }

    #[test]
    fn names_the_field() {
        assert_eq!(field_of("{}"), (422, Some("login".into()), "invalid_field".into()));
        assert_eq!(field_of(r#"{"login": 5}"#), (422, Some("login".into()), "invalid_field".into()));
        assert_eq!(field_of(r#"{"login": "a", "nested": {"n": "x"}}"#).1, Some("nested.n".into()));
        assert_eq!(field_of(r#"{"login": "a", "nested": {}}"#).1, Some("nested.n".into()));
        assert_eq!(field_of("{\"login\": ").0, 400);
        assert_eq!(field_of("not json").2, "malformed_json");
    }
}
