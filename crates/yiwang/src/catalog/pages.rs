//! The public guide page of an item (办事指南) and its QR code.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::model::{ITEM_TYPES, ItemDocument, Material, Submission};
use crate::AppState;
use crate::http::extract::Path;
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new().route("/items/{code}", get(guide)).route("/items/{code}/qr.svg", get(qr))
}

/// The materials one situation needs, for its checklist.
pub struct Checklist<'a> {
    pub situation: &'a str,
    pub materials: Vec<&'a Material>,
}

#[derive(askama::Template)]
#[template(path = "guide.html")]
struct GuidePage<'a> {
    page: &'a PageContext,
    item: &'a ItemDocument,
    version: i64,
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
}

async fn guide(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    let (item, version) = match super::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
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
    render(StatusCode::OK, &GuidePage { page: &page, item: &item, version, type_name, checklists })
}

/// The guide's address as an SVG QR code, for posters at the window.
async fn qr(State(state): State<AppState>, Path(code): Path<String>) -> Response {
    if let Err(e) = super::published(&state.store, &code).await {
        return crate::http::error::ApiError::from(e).into_response();
    }
    let url = format!("{}/items/{code}", state.config.public_url.trim_end_matches('/'));
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(qr) => {
            let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(200, 200).build();
            ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=3600")], svg)
                .into_response()
        }
        Err(e) => crate::http::error::ApiError::Internal(format!("qr: {e}")).into_response(),
    }
}
