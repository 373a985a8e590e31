//! Certificate pages: the holder's wallet, showing a certificate (亮证) with its QR code, and the
//! public verification page a QR code opens.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use super::{CertificateView, UseView, Verification};
use crate::AppState;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, qr_svg, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(wallet))
        .route("/certificates/{id}", get(show))
        .route("/certificates/{id}/qr.svg", get(qr))
        .route("/verify", get(verify))
}

/// The address a certificate's QR code opens: the public verification page with its token.
fn verify_url(public_url: &str, note: &str) -> String {
    format!("{}/verify?token={}", public_url.trim_end_matches('/'), super::token(note))
}

#[derive(askama::Template)]
#[template(path = "certificates.html")]
struct WalletPage<'a> {
    page: &'a PageContext,
    certificates: Vec<CertificateView>,
}

async fn wallet(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    match super::wallet(&state.store, &actor.principal).await {
        Ok(certificates) => render(StatusCode::OK, &WalletPage { page: &page, certificates }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "certificate.html")]
struct ShowPage<'a> {
    page: &'a PageContext,
    certificate: CertificateView,
    uses: Vec<UseView>,
}

/// 亮证: the certificate with a QR code a verifier scans; and, for the holder, every use of it.
async fn show(State(state): State<AppState>, page: PageContext, Path(id): Path<String>) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let found = async {
        let certificate = super::get(&state.store, &actor.principal, &id).await?;
        let uses = super::uses(&state.store, &actor.principal, &id).await?;
        Ok::<_, super::CertificateError>((certificate, uses))
    };
    match found.await {
        Ok((certificate, uses)) => render(StatusCode::OK, &ShowPage { page: &page, certificate, uses }),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn qr(State(state): State<AppState>, page: PageContext, Path(id): Path<String>) -> Response {
    let Some(actor) = &page.actor else { return StatusCode::UNAUTHORIZED.into_response() };
    match super::get(&state.store, &actor.principal, &id).await {
        Ok(certificate) => qr_svg(&verify_url(&state.config.public_url, &certificate.note)),
        Err(e) => crate::http::error::ApiError::from(e).into_response(),
    }
}

#[derive(Deserialize)]
struct VerifyQuery {
    token: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "verify.html")]
struct VerifyPage<'a> {
    page: &'a PageContext,
    verification: Option<Verification>,
}

/// Anyone may check a shown certificate here; nothing but the token is needed.
async fn verify(State(state): State<AppState>, page: PageContext, Query(query): Query<VerifyQuery>) -> Response {
    let verification = match query.token.as_deref().filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(token) => match super::verify(&state.store, &state.issuer, token).await {
            Ok(v) => Some(v),
            Err(e) => return error_page(&page, &e.into()),
        },
    };
    render(StatusCode::OK, &VerifyPage { page: &page, verification })
}
