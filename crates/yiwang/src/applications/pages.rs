//! Application pages: applying for an item (form, and each material as a file, an e-certificate
//! or consent to data sharing), the applicant's list and each application's page, and for staff a
//! department's queue with countdowns and one-click steps with a reason.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::model::{self, Action, SuppliedMaterial, Supply};
use super::{Application, ApplicationError, ApplicationLine, NewApplication, Step, SupplementItem};
use crate::AppState;
use crate::catalog::model::{FieldType, FormField, ItemDocument, Material};
use crate::certificates::CertificateView;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, render};
use crate::identity::AccountKind;

/// Room for a form with several material files.
const MAX_APPLY_BYTES: usize = 4 * super::files::MAX_FILE_BYTES;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/items/{code}/apply", get(apply_form).post(apply).layer(DefaultBodyLimit::max(MAX_APPLY_BYTES)))
        .route("/applications", get(list))
        .route("/applications/{number}", get(show))
        .route("/applications/{number}/steps", post(step))
}

fn sign_in_first() -> Response {
    Redirect::to("/login").into_response()
}

/// One material of the chosen situation, with the ways the applicant may supply it.
pub struct MaterialChoice<'a> {
    pub material: &'a Material,
    pub shareable: bool,
    /// The applicant's certificates that may stand in for it.
    pub certificates: Vec<&'a CertificateView>,
    /// What the applicant chose last time (`upload`, `certificate`, `shared_data`).
    pub chosen: String,
}

#[derive(askama::Template)]
#[template(path = "apply.html")]
struct ApplyPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    item: &'a ItemDocument,
    situation: &'a str,
    fields: &'a [FormField],
    values: &'a HashMap<String, String>,
    materials: Vec<MaterialChoice<'a>>,
    problem: Option<String>,
}

impl ApplyPage<'_> {
    fn value(&self, key: &str) -> &str {
        self.values.get(key).map_or("", String::as_str)
    }

    fn input_type(&self, field: &FormField) -> &'static str {
        match field.field_type {
            FieldType::Number => "number",
            FieldType::Date => "date",
            FieldType::Phone => "tel",
            _ => "text",
        }
    }

    fn is_select(&self, field: &FormField) -> bool {
        field.field_type == FieldType::Select
    }

    fn is_textarea(&self, field: &FormField) -> bool {
        field.field_type == FieldType::Textarea
    }
}

#[derive(Deserialize)]
struct SituationQuery {
    situation: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn apply_page(
    page: &PageContext,
    actor: &Actor,
    item: &ItemDocument,
    situation: &str,
    wallet: &[CertificateView],
    values: &HashMap<String, String>,
    problem: Option<String>,
) -> Response {
    let materials = model::materials_for(item, situation)
        .map(|m| {
            let certificates: Vec<&CertificateView> = match model::certificate_type(m) {
                Some(name) => wallet.iter().filter(|c| c.type_name == name && c.status == "valid").collect(),
                None => Vec::new(),
            };
            let shareable = model::shareable(m);
            let default = if !certificates.is_empty() {
                "certificate"
            } else if shareable {
                "shared_data"
            } else {
                "upload"
            };
            let chosen = values.get(&format!("material.{}.source", m.code)).cloned().unwrap_or_else(|| default.into());
            MaterialChoice { material: m, shareable, certificates, chosen }
        })
        .collect();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(
        status,
        &ApplyPage {
            page,
            csrf_token: actor.csrf_token(),
            item,
            situation,
            fields: &item.form,
            values,
            materials,
            problem,
        },
    )
}

async fn apply_form(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    Query(query): Query<SituationQuery>,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    if actor.principal.kind == AccountKind::Staff {
        return error_page(&page, &ApiError::Forbidden);
    }
    let (item, _) = match crate::catalog::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    let situation =
        query.situation.unwrap_or_else(|| item.situations.first().map(|s| s.code.clone()).unwrap_or_default());
    let wallet = crate::certificates::wallet(&state.store, &actor.principal).await.unwrap_or_default();
    let known = match known_about(&state, actor).await {
        Ok(known) => known,
        Err(e) => return error_page(&page, &e.into()),
    };
    apply_page(&page, actor, &item, &situation, &wallet, &known, None)
}

/// What the government already knows of the applicant fills the usual fields in advance
/// (name, ID number or credit code, phone); the applicant may change them.
async fn known_about(state: &AppState, actor: &Actor) -> Result<HashMap<String, String>, ApplicationError> {
    let mut conn = state.store.pool().acquire().await?;
    let mut known = HashMap::new();
    if let Some((_, code, name)) = crate::certificates::holder_identity(&mut conn, actor.principal.account_id).await? {
        known.insert("form.applicant_name".to_owned(), name);
        let key = if actor.principal.kind == AccountKind::Enterprise { "form.credit_code" } else { "form.id_number" };
        known.insert(key.to_owned(), code);
    }
    let phone: Option<String> = sqlx::query_scalar(
        "SELECT phone FROM residents WHERE account_id = $1 UNION ALL SELECT phone FROM enterprises WHERE account_id = $1",
    )
    .bind(actor.principal.account_id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    if let Some(phone) = phone {
        known.insert("form.phone".to_owned(), phone);
    }
    Ok(known)
}

/// Why a form was not read: it did not come from this session's page, or a field is bad.
enum Unread {
    Forged(ApiError),
    Invalid(ApplicationError),
}

impl From<ApplicationError> for Unread {
    fn from(e: ApplicationError) -> Self {
        Unread::Invalid(e)
    }
}

/// Reads the multipart form: text fields by name, and material files stored as uploads. The CSRF
/// token (the form's first field) is checked before any file is stored.
async fn read_form(
    state: &AppState,
    actor: &Actor,
    mut multipart: Multipart,
) -> Result<HashMap<String, String>, Unread> {
    let mut values = HashMap::new();
    let mut trusted = false;
    while let Some(field) = multipart.next_field().await.map_err(|e| super::invalid("form", e.body_text()))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "csrf_token" {
            let token = field.text().await.map_err(|e| super::invalid(&name, e.body_text()))?;
            actor.check_form_csrf(&token).map_err(Unread::Forged)?;
            trusted = true;
            continue;
        }
        if !trusted {
            return Err(Unread::Forged(crate::http::auth::csrf_error()));
        }
        if let Some(code) = name.strip_prefix("material.").and_then(|rest| rest.strip_suffix(".file")) {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| super::invalid(&name, e.body_text()))?;
            if bytes.is_empty() {
                continue;
            }
            if bytes.len() > super::files::MAX_FILE_BYTES {
                return Err(super::invalid(&name, "文件不超过10MB / at most 10 MiB").into());
            }
            let (sha256, _) =
                super::upload(&state.store, &state.config.data_dir, &actor.principal, &file_name, bytes.to_vec())
                    .await
                    .map_err(|e| match e {
                        ApplicationError::UnsupportedFile => {
                            super::invalid(&name, "仅支持 PDF、JPG、PNG / PDF, JPEG or PNG only")
                        }
                        other => other,
                    })?;
            values.insert(format!("material.{code}.sha256"), sha256);
        } else {
            let text = field.text().await.map_err(|e| super::invalid(&name, e.body_text()))?;
            values.insert(name, text);
        }
    }
    Ok(values)
}

fn application_from(item: &ItemDocument, values: &HashMap<String, String>) -> NewApplication {
    let situation = values.get("situation").cloned().unwrap_or_default();
    let form = item
        .form
        .iter()
        .filter_map(|f| {
            values.get(&format!("form.{}", f.key)).map(|v| (f.key.clone(), serde_json::Value::from(v.trim())))
        })
        .filter(|(_, v)| v.as_str() != Some(""))
        .collect();
    let materials = model::materials_for(item, &situation)
        .filter_map(|m| {
            let get = |part: &str| values.get(&format!("material.{}.{part}", m.code)).cloned().unwrap_or_default();
            let supply = match get("source").as_str() {
                "shared_data" => Supply::SharedData,
                "certificate" if !get("certificate").is_empty() => Supply::Certificate { id: get("certificate") },
                _ if !get("sha256").is_empty() => Supply::Upload { sha256: get("sha256") },
                _ => return None,
            };
            Some(SuppliedMaterial { material: m.code.clone(), supply })
        })
        .collect();
    NewApplication { item: item.implementation_code.clone(), situation, form, materials }
}

async fn apply(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    multipart: Multipart,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let (item, _) = match crate::catalog::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    let wallet = crate::certificates::wallet(&state.store, &actor.principal).await.unwrap_or_default();
    let values = match read_form(&state, actor, multipart).await {
        Ok(values) => values,
        Err(Unread::Forged(e)) => return error_page(&page, &e),
        Err(Unread::Invalid(e)) => {
            let situation = item.situations.first().map(|s| s.code.clone()).unwrap_or_default();
            return apply_page(&page, actor, &item, &situation, &wallet, &HashMap::new(), Some(e.to_string()));
        }
    };
    let new = application_from(&item, &values);
    let situation = new.situation.clone();
    match super::submit(&state.store, &super::Deciding::now(&state), &actor.principal, new).await {
        Ok(application) => Redirect::to(&format!("/applications/{}", application.number)).into_response(),
        Err(ApplicationError::Invalid { field, message }) => {
            let problem = format!("{field}：{message}");
            apply_page(&page, actor, &item, &situation, &wallet, &values, Some(problem))
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    department: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "applications.html")]
struct ListPage<'a> {
    page: &'a PageContext,
    staff: bool,
    department: &'a str,
    applications: Vec<ApplicationLine>,
    calendar: std::sync::Arc<yiwang_calendar::Calendar>,
    today: chrono::NaiveDate,
}

impl ListPage<'_> {
    fn say<'b>(&self, code: &'b str) -> &'b str {
        label(self.page, code)
    }

    /// Working days left to a deadline (negative when overdue), counted on the calendar.
    fn days_left(&self, deadline: &chrono::DateTime<chrono::Utc>) -> i64 {
        let last_day = (*deadline + chrono::TimeDelta::hours(8) - chrono::TimeDelta::milliseconds(1)).date_naive();
        self.calendar.working_days_between(self.today, last_day)
    }
}

fn lines(applications: Vec<Application>) -> Vec<ApplicationLine> {
    applications.into_iter().map(ApplicationLine::from).collect()
}

/// An applicant's own applications; for staff, a department's queue.
async fn list(State(state): State<AppState>, page: PageContext, Query(query): Query<ListQuery>) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let staff = actor.principal.kind == AccountKind::Staff;
    let department = query.department.unwrap_or_default();
    let found = match (staff, department.as_str()) {
        (true, "") => super::workbench(&state.store, &actor.principal).await,
        (true, code) => super::list(&state.store, &actor.principal, Some(code), 200, 0).await.map(lines),
        (false, _) => super::list(&state.store, &actor.principal, None, 200, 0).await.map(lines),
    };
    let today = (state.clock.now() + chrono::TimeDelta::hours(8)).date_naive();
    let calendar = state.calendar.get();
    match found {
        Ok(applications) => render(
            StatusCode::OK,
            &ListPage { page: &page, staff, department: &department, applications, calendar, today },
        ),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "application.html")]
struct ShowPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    application: Application,
    applicant: bool,
    staff: bool,
    /// (label, value) of each form field, in the form's order.
    form: Vec<(String, String)>,
    /// (code, name, how supplied, file link) of each material.
    materials: Vec<(String, String, String, Option<String>)>,
}

impl ShowPage<'_> {
    fn say<'b>(&self, code: &'b str) -> &'b str {
        label(self.page, code)
    }

    fn can(&self, action: &str) -> bool {
        let state = self.application.state;
        let Some(action) = Action::parse(action) else { return false };
        let party_ok = match action.party() {
            model::Party::Applicant => self.applicant,
            _ => self.staff,
        };
        party_ok && action != Action::Supplement && action.next(state, Some(state)).is_some()
    }
}

async fn show(State(state): State<AppState>, page: PageContext, Path(number): Path<String>) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    match super::get(&state.store, &actor.principal, &number).await {
        Ok(application) => {
            let item =
                match crate::catalog::version(&state.store, &application.item_code, application.item_version).await {
                    Ok(item) => item,
                    Err(e) => return error_page(&page, &e.into()),
                };
            let form = item
                .form
                .iter()
                .map(|f| {
                    let value = match application.form.get(&f.key) {
                        Some(serde_json::Value::String(s)) => s.clone(),
                        Some(serde_json::Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    (f.label.clone(), value)
                })
                .collect();
            let materials = application
                .materials
                .iter()
                .map(|m| {
                    let name = item
                        .materials
                        .iter()
                        .find(|x| x.code == m.material)
                        .map_or(m.material.clone(), |x| x.name.clone());
                    let how = match m.source.as_str() {
                        "certificate" => page.pick("电子证照（免提交）", "e-certificate"),
                        "shared_data" => page.pick("共享核验（免提交）", "checked by data sharing"),
                        _ => page.pick("上传文件", "uploaded file"),
                    };
                    let link = m
                        .sha256
                        .as_ref()
                        .map(|_| format!("/api/applications/{}/materials/{}/file", application.number, m.material));
                    (m.material.clone(), name, how.to_owned(), link)
                })
                .collect();
            let applicant = actor.principal.kind != AccountKind::Staff;
            let staff = !applicant;
            let csrf_token = actor.csrf_token();
            render(
                StatusCode::OK,
                &ShowPage { page: &page, csrf_token, application, applicant, staff, form, materials },
            )
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

/// One click: the step named by the button, with the reason typed beside it.
async fn step(
    State(state): State<AppState>,
    page: PageContext,
    Path(number): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(actor) = &page.actor else { return sign_in_first() };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(e) = actor.check_form_csrf(&get("csrf_token")) {
        return error_page(&page, &e);
    }
    let Some(action) = Action::parse(&get("action")) else {
        return error_page(&page, &ApiError::invalid("action", "unknown_action", "未知操作 / unknown action"));
    };
    let supplement = if action == Action::RequestSupplement {
        get("supplement_materials")
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(|m| SupplementItem { material: m.to_owned(), problem: get("reason") })
            .collect()
    } else {
        Vec::new()
    };
    let to_step = get("to_step").trim().parse().ok();
    let step = Step { reason: get("reason"), basis: get("basis"), supplement, materials: Vec::new(), to_step };
    match super::act(&state.store, &super::Deciding::now(&state), &actor.principal, &number, action, step).await {
        Ok(_) => Redirect::to(&format!("/applications/{number}")).into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

/// (中文, English) of a state, an action or an instant outcome stored as its code.
fn labels(code: &str) -> (&'static str, &'static str) {
    if let Some(state) = model::State::parse(code) {
        return state.labels();
    }
    match code {
        "submit" => ("提交申请", "Submitted"),
        "accept" => ("受理", "Accepted"),
        "refuse" => ("不予受理", "Refused"),
        "request_supplement" => ("一次性告知补正", "Asked for a supplement"),
        "supplement" => ("补正材料", "Supplemented"),
        "approve" => ("准予", "Approved"),
        "reject" => ("不予许可", "Rejected"),
        "complete" => ("办结", "Completed"),
        "withdraw" => ("撤回", "Withdrawn"),
        "sign_off" => ("会签同意", "Signed off"),
        "return" => ("退回", "Returned to an earlier step"),
        "manual" => ("转人工审核", "Sent to staff"),
        _ => ("", ""),
    }
}

/// A code in the page's language.
fn label<'a>(page: &PageContext, code: &'a str) -> &'a str {
    match labels(code) {
        ("", "") => code,
        (zh, en) => page.pick(zh, en),
    }
}
