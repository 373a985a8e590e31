//! Static assets compiled into the binary: a government intranet may have no internet, so nothing
//! is fetched from a CDN.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::extract::Path;

const FILES: &[(&str, &str, &[u8])] = &[
    ("yiwang.css", "text/css; charset=utf-8", include_bytes!("../../static/yiwang.css")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../static/htmx.min.js")),
    ("yiwang.js", "text/javascript; charset=utf-8", include_bytes!("../../static/yiwang.js")),
    ("map.js", "text/javascript; charset=utf-8", include_bytes!("../../static/map.js")),
    ("echarts.min.js", "text/javascript; charset=utf-8", include_bytes!("../../static/echarts.min.js")),
    ("stats.js", "text/javascript; charset=utf-8", include_bytes!("../../static/stats.js")),
    ("panorama.js", "text/javascript; charset=utf-8", include_bytes!("../../static/panorama.js")),
];

pub async fn serve(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(file, _, _)| *file == name) {
        Some((_, mime, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(mime)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            *body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
