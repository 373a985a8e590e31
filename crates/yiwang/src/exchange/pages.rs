//! Data-exchange pages: the catalogue for staff (list, detail with fields, grants and call log,
//! register and edit form, dataset upload), grants with the owner's decisions, alerts, a
//! resident's "who looked me up", and the public open-data portal (search with facets, dataset
//! page with preview and downloads).

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::alerts::Alert;
use super::model::{FieldSpec, ResourceInput, Source, THEMES};
use super::{
    CallView, DataFormat, ExchangeError, GrantDecision, GrantView, LookupView, Resource, ResourceView, Verdict,
};
use crate::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Path, Query};
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/exchange", get(catalogue))
        .route("/exchange/resources/new", get(new_form).post(create))
        .route("/exchange/resources/{code}", get(detail))
        .route("/exchange/resources/{code}/edit", get(edit_form).post(save))
        .route(
            "/exchange/resources/{code}/upload",
            post(upload).layer(DefaultBodyLimit::max(super::api::MAX_UPLOAD_BYTES)),
        )
        .route("/exchange/grants", get(grants))
        .route("/exchange/grants/{id}/decision", post(decide))
        .route("/exchange/alerts", get(alerts))
        .route("/exchange/my-lookups", get(my_lookups))
        .route("/opendata", get(portal))
        .route("/opendata/{name}", get(dataset))
}

#[derive(askama::Template)]
#[template(path = "exchange_catalogue.html")]
struct CataloguePage<'a> {
    page: &'a PageContext,
    resources: Vec<ResourceView>,
    can_register: bool,
}

async fn catalogue(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let found = async {
        let resources = super::list(&state.store, &actor.principal).await?;
        let can_register = !super::managed_departments(&state.store, &actor.principal).await?.is_empty();
        Ok::<_, ExchangeError>((resources, can_register))
    };
    match found.await {
        Ok((resources, can_register)) => {
            render(StatusCode::OK, &CataloguePage { page: &page, resources, can_register })
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "exchange_resource.html")]
struct DetailPage<'a> {
    page: &'a PageContext,
    resource: ResourceView,
    grants: Vec<GrantView>,
    calls: Vec<CallView>,
    notice: Option<String>,
    problem: Option<String>,
}

impl DetailPage<'_> {
    fn source_text(&self) -> String {
        match &self.resource.description.source {
            Source::Table { table } => format!("{}：{table}", self.page.pick("数据库表", "Table")),
            Source::Dataset => self.page.pick("上传的数据集", "Uploaded dataset").to_owned(),
            Source::Http { url } => format!("{}：{url}", self.page.pick("部门系统接口", "Department endpoint")),
        }
    }

    fn type_name(&self, t: &super::model::FieldType) -> String {
        text(t)
    }

    fn is_dataset(&self) -> bool {
        self.resource.description.source == Source::Dataset
    }
}

async fn render_detail(
    state: &AppState,
    page: &PageContext,
    code: &str,
    notice: Option<String>,
    problem: Option<String>,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let found = async {
        let resource = super::get(&state.store, &actor.principal, code).await?;
        let grants: Vec<GrantView> = super::grants(&state.store, &actor.principal, state.clock.now())
            .await?
            .into_iter()
            .filter(|g| g.resource_code == code)
            .collect();
        let calls = if resource.manageable {
            super::calls(&state.store, &actor.principal, code, 50, 0).await?
        } else {
            Vec::new()
        };
        Ok::<_, ExchangeError>((resource, grants, calls))
    };
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    match found.await {
        Ok((resource, grants, calls)) => render(status, &DetailPage { page, resource, grants, calls, notice, problem }),
        Err(e) => error_page(page, &e.into()),
    }
}

async fn detail(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    render_detail(&state, &page, &code, None, None).await
}

#[derive(askama::Template)]
#[template(path = "exchange_form.html")]
struct FormPage<'a> {
    page: &'a PageContext,
    /// The code being edited; none for a new resource.
    editing: Option<String>,
    form: HashMap<String, String>,
    themes_chosen: Vec<String>,
    departments: Vec<String>,
    problem: Option<String>,
}

impl FormPage<'_> {
    fn value(&self, key: &str) -> &str {
        self.form.get(key).map(String::as_str).unwrap_or_default()
    }

    fn chosen(&self, theme: &str) -> bool {
        self.themes_chosen.iter().any(|t| t == theme)
    }

    fn themes(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        THEMES
    }
}

const CHOICES: &[(&str, &[(&str, &str)])] = &[
    ("data_grade", &[("general", "一般数据"), ("important", "重要数据"), ("core", "核心数据")]),
    ("sharing_type", &[("unconditional", "无条件共享"), ("conditional", "有条件共享"), ("not_shared", "不予共享")]),
    ("open_type", &[("not_open", "不予开放"), ("conditional", "有条件开放"), ("open", "无条件开放")]),
    (
        "update_cycle",
        &[
            ("daily", "每日"),
            ("realtime", "实时"),
            ("weekly", "每周"),
            ("monthly", "每月"),
            ("quarterly", "每季度"),
            ("yearly", "每年"),
            ("irregular", "不定期"),
        ],
    ),
    ("source_kind", &[("dataset", "上传数据集"), ("table", "数据库表（白名单）"), ("http", "部门系统接口")]),
];

impl FormPage<'_> {
    fn choices(&self, key: &str) -> &'static [(&'static str, &'static str)] {
        CHOICES.iter().find(|(k, _)| *k == key).map(|(_, c)| *c).unwrap_or_default()
    }
}

fn form_of(r: &ResourceInput) -> (HashMap<String, String>, Vec<String>) {
    let mut form = HashMap::new();
    form.insert("code".into(), r.code.clone());
    form.insert("name".into(), r.name.clone());
    form.insert("department_code".into(), r.department_code.clone());
    form.insert("description".into(), r.description.clone());
    form.insert("key_field".into(), r.key_field.clone());
    form.insert("data_grade".into(), text(&r.data_grade));
    form.insert("sharing_type".into(), text(&r.sharing_type));
    form.insert("legal_basis".into(), r.legal_basis.clone().unwrap_or_default());
    form.insert("open_type".into(), text(&r.open_type));
    form.insert("update_cycle".into(), text(&r.update_cycle));
    let (kind, table, url) = match &r.source {
        Source::Table { table } => ("table", table.clone(), String::new()),
        Source::Dataset => ("dataset", String::new(), String::new()),
        Source::Http { url } => ("http", String::new(), url.clone()),
    };
    form.insert("source_kind".into(), kind.into());
    form.insert("source_table".into(), table);
    form.insert("source_url".into(), url);
    form.insert("tags".into(), r.tags.join("，"));
    form.insert("fields".into(), serde_json::to_string_pretty(&r.fields).unwrap_or_default());
    (form, r.themes.clone())
}

/// An enum's value as its JSON text, for the form's selects.
fn text(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Reads the form into a description; an unreadable element names its field.
fn input_of(form: &HashMap<String, String>, themes: Vec<String>) -> Result<ResourceInput, String> {
    let get = |k: &str| form.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
    let choice = |k: &str| -> Result<Value, String> {
        let v = get(k);
        if v.is_empty() { Err(format!("{k}：必选 / required")) } else { Ok(Value::String(v)) }
    };
    let fields: Vec<FieldSpec> =
        serde_json::from_str(&get("fields")).map_err(|e| format!("fields：JSON 格式有误 / not valid: {e}"))?;
    let source = match get("source_kind").as_str() {
        "table" => serde_json::json!({"kind": "table", "table": get("source_table")}),
        "http" => serde_json::json!({"kind": "http", "url": get("source_url")}),
        _ => serde_json::json!({"kind": "dataset"}),
    };
    let tags: Vec<String> =
        get("tags").split([',', '，', '、']).map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    let legal_basis = Some(get("legal_basis")).filter(|b| !b.is_empty());
    let document = serde_json::json!({
        "code": get("code"), "name": get("name"), "department_code": get("department_code"),
        "description": get("description"), "fields": fields, "key_field": get("key_field"),
        "data_grade": choice("data_grade")?, "sharing_type": choice("sharing_type")?, "legal_basis": legal_basis,
        "open_type": choice("open_type")?, "update_cycle": choice("update_cycle")?, "source": source,
        "tags": tags, "themes": themes
    });
    serde_json::from_value(document).map_err(|e| format!("表单有误 / invalid form: {e}"))
}

async fn render_form(
    state: &AppState,
    page: &PageContext,
    editing: Option<String>,
    (form, themes_chosen): (HashMap<String, String>, Vec<String>),
    problem: Option<String>,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let mut departments: Vec<String> = match super::managed_departments(&state.store, &actor.principal).await {
        Ok(d) if !d.is_empty() => d.into_iter().collect(),
        Ok(_) => return error_page(page, &ApiError::Forbidden),
        Err(e) => return error_page(page, &e.into()),
    };
    departments.sort();
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render(status, &FormPage { page, editing, form, themes_chosen, departments, problem })
}

async fn new_form(State(state): State<AppState>, page: PageContext) -> Response {
    let mut form = HashMap::new();
    let example = serde_json::json!([
        {"name": "credit_code", "label": "统一社会信用代码", "type": "string", "sensitivity": "public", "required": true},
        {"name": "contact_phone", "label": "联系电话", "type": "string", "sensitivity": "personal", "masking": "phone"}
    ]);
    form.insert("fields".into(), serde_json::to_string_pretty(&example).unwrap_or_default());
    form.insert("source_kind".into(), "dataset".into());
    render_form(&state, &page, None, (form, Vec::new()), None).await
}

async fn edit_form(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    match super::get(&state.store, &actor.principal, &code).await {
        Ok(view) if view.manageable => render_form(&state, &page, Some(code), form_of(&view.description), None).await,
        Ok(_) => error_page(&page, &ApiError::Forbidden),
        Err(e) => error_page(&page, &e.into()),
    }
}

fn read_form(body: &[u8]) -> (HashMap<String, String>, Vec<String>) {
    let mut form = HashMap::new();
    let mut themes = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        if k == "themes" {
            themes.push(v.into_owned());
        } else {
            form.insert(k.into_owned(), v.into_owned());
        }
    }
    (form, themes)
}

async fn submit(state: AppState, page: PageContext, editing: Option<String>, body: Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let (form, themes) = read_form(&body);
    if let Err(e) = actor.check_form_csrf(form.get("csrf_token").map(String::as_str).unwrap_or_default()) {
        return error_page(&page, &e);
    }
    let input = match input_of(&form, themes.clone()) {
        Ok(input) => input,
        Err(problem) => return render_form(&state, &page, editing, (form, themes), Some(problem)).await,
    };
    let code = input.code.clone();
    let saved = match &editing {
        Some(existing) => super::update(&state.store, &state.exchange, &actor.principal, existing, input).await,
        None => super::register(&state.store, &state.exchange, &actor.principal, input).await,
    };
    match saved {
        Ok(_) => Redirect::to(&format!("/exchange/resources/{code}")).into_response(),
        Err(ExchangeError::Invalid { field, message }) => {
            render_form(&state, &page, editing, (form, themes), Some(format!("{field}：{message}"))).await
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn create(State(state): State<AppState>, page: PageContext, body: Bytes) -> Response {
    submit(state, page, None, body).await
}

async fn save(State(state): State<AppState>, page: PageContext, Path(code): Path<String>, body: Bytes) -> Response {
    submit(state, page, Some(code), body).await
}

async fn upload(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    mut multipart: Multipart,
) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let mut file: Option<(String, Bytes)> = None;
    let mut csrf = String::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().unwrap_or_default().to_ascii_lowercase();
                match field.bytes().await {
                    Ok(bytes) if name == "csrf_token" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    Ok(bytes) if name == "file" => file = Some((file_name, bytes)),
                    Ok(_) => {}
                    Err(e) => return render_detail(&state, &page, &code, None, Some(e.body_text())).await,
                }
            }
            Ok(None) => break,
            Err(e) => return render_detail(&state, &page, &code, None, Some(e.body_text())).await,
        }
    }
    if let Err(e) = actor.check_form_csrf(&csrf) {
        return error_page(&page, &e);
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        let problem = page.pick("请选择 CSV 或 JSON 文件", "Choose a CSV or JSON file").to_owned();
        return render_detail(&state, &page, &code, None, Some(problem)).await;
    };
    let format = if name.ends_with(".json") { DataFormat::Json } else { DataFormat::Csv };
    match super::upload(&state.store, &state.exchange, &actor.principal, &code, format, bytes).await {
        Ok(view) => {
            let notice = format!("{} {} {}", page.pick("已载入", "Loaded"), view.row_count, page.pick("行", "rows"));
            render_detail(&state, &page, &code, Some(notice), None).await
        }
        Err(ExchangeError::Invalid { field, message }) => {
            render_detail(&state, &page, &code, None, Some(format!("{field}：{message}"))).await
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "exchange_grants.html")]
struct GrantsPage<'a> {
    page: &'a PageContext,
    grants: Vec<GrantView>,
}

async fn grants(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    match super::grants(&state.store, &actor.principal, state.clock.now()).await {
        Ok(grants) => render(StatusCode::OK, &GrantsPage { page: &page, grants }),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn decide(State(state): State<AppState>, page: PageContext, Path(id): Path<i64>, body: Bytes) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    let (form, _) = read_form(&body);
    if let Err(e) = actor.check_form_csrf(form.get("csrf_token").map(String::as_str).unwrap_or_default()) {
        return error_page(&page, &e);
    }
    let verdict = match form.get("verdict").map(String::as_str) {
        Some("approve") => Verdict::Approve,
        Some("refuse") => Verdict::Refuse,
        Some("revoke") => Verdict::Revoke,
        _ => return error_page(&page, &ApiError::invalid("verdict", "invalid_exchange", "未知操作 / unknown verdict")),
    };
    let decision = GrantDecision { verdict, reasons: form.get("reasons").cloned() };
    match super::decide(&state.store, &state.exchange, state.clock.now(), &actor.principal, id, decision).await {
        Ok(_) => Redirect::to("/exchange/grants").into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "exchange_alerts.html")]
struct AlertsPage<'a> {
    page: &'a PageContext,
    alerts: Vec<Alert>,
}

impl AlertsPage<'_> {
    fn kind_label(&self, kind: &str) -> &'static str {
        match kind {
            "bulk_enumeration" => self.page.pick("批量遍历", "Bulk enumeration"),
            "volume_spike" => self.page.pick("调用量突增", "Volume spike"),
            _ => self.page.pick("非工作时间调用", "Outside working hours"),
        }
    }
}

async fn alerts(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    match super::alerts::alerts(&state.store, &actor.principal).await {
        Ok(alerts) => render(StatusCode::OK, &AlertsPage { page: &page, alerts }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "exchange_lookups.html")]
struct LookupsPage<'a> {
    page: &'a PageContext,
    lookups: Vec<LookupView>,
}

async fn my_lookups(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = &page.actor else { return Redirect::to("/login").into_response() };
    match super::my_lookups(&state.store, &state.exchange, &actor.principal, 200, 0).await {
        Ok(lookups) => render(StatusCode::OK, &LookupsPage { page: &page, lookups }),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(Deserialize)]
struct PortalQuery {
    q: Option<String>,
    organization: Option<String>,
    groups: Option<String>,
    tags: Option<String>,
    start: Option<i64>,
}

/// One facet value as the portal shows it, with the link that filters by it.
struct FacetItem {
    name: String,
    display: String,
    count: i64,
    chosen: bool,
}

#[derive(askama::Template)]
#[template(path = "opendata.html")]
struct PortalPage<'a> {
    page: &'a PageContext,
    q: String,
    count: i64,
    results: Vec<Value>,
    facets: Vec<(&'static str, &'static str, Vec<FacetItem>)>,
    filters: Vec<(&'static str, String)>,
    start: i64,
}

impl PortalPage<'_> {
    /// The search address with the current filters, one facet value set or cleared.
    fn link(&self, key: &str, value: &str) -> String {
        let mut params: Vec<(String, String)> = vec![("q".into(), self.q.clone())];
        for (k, v) in &self.filters {
            if *k != key {
                params.push(((*k).into(), v.clone()));
            }
        }
        if !value.is_empty() {
            params.push((key.into(), value.into()));
        }
        let query: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        format!("/opendata?{query}")
    }

    fn next(&self) -> Option<String> {
        (self.start + 20 < self.count).then(|| format!("{}&start={}", self.link("", ""), self.start + 20))
    }

    fn text<'v>(&self, v: &'v Value, key: &str) -> &'v str {
        v[key].as_str().unwrap_or_default()
    }

    fn organization<'v>(&self, v: &'v Value) -> &'v str {
        v["organization"]["title"].as_str().unwrap_or_default()
    }

    fn tags(&self, v: &Value) -> Vec<String> {
        v["tags"]
            .as_array()
            .map(|t| t.iter().filter_map(|x| x["name"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

async fn portal(State(state): State<AppState>, page: PageContext, Query(query): Query<PortalQuery>) -> Response {
    let q = query.q.unwrap_or_default();
    let mut filters: Vec<(&'static str, String)> = Vec::new();
    for (key, value) in [("organization", query.organization), ("groups", query.groups), ("tags", query.tags)] {
        if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
            filters.push((key, v));
        }
    }
    let fq = filters.iter().map(|(k, v)| format!("{k}:\"{}\"", v.replace('"', ""))).collect::<Vec<_>>().join(" ");
    let start = query.start.unwrap_or(0).max(0);
    let base = state.config.public_url.trim_end_matches('/');
    let result = match super::ckan::portal_search(&state.store, base, &q, &fq, start).await {
        Ok(r) => r,
        Err(e) => return error_page(&page, &ApiError::Internal(format!("{e:?}"))),
    };
    let chosen = |key: &str, name: &str| filters.iter().any(|(k, v)| *k == key && v == name);
    let facets = [("organization", "数源部门 / Organisation"), ("groups", "主题 / Theme"), ("tags", "标签 / Tags")]
        .into_iter()
        .map(|(key, title)| {
            let items = result["search_facets"][key]["items"]
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .map(|i| {
                            let name = i["name"].as_str().unwrap_or_default().to_owned();
                            FacetItem {
                                chosen: chosen(key, &name),
                                display: i["display_name"].as_str().unwrap_or_default().to_owned(),
                                count: i["count"].as_i64().unwrap_or(0),
                                name,
                            }
                        })
                        .collect()
                })
                .unwrap_or_default();
            (key, title, items)
        })
        .collect();
    let results = result["results"].as_array().cloned().unwrap_or_default();
    let count = result["count"].as_i64().unwrap_or(0);
    render(StatusCode::OK, &PortalPage { page: &page, q, count, results, facets, filters, start })
}

#[derive(askama::Template)]
#[template(path = "opendata_dataset.html")]
struct DatasetPage<'a> {
    page: &'a PageContext,
    resource: Resource,
    columns: Vec<FieldSpec>,
    rows: Vec<Map<String, Value>>,
    csv_url: String,
    json_url: String,
}

impl DatasetPage<'_> {
    fn cell(&self, row: &Map<String, Value>, field: &str) -> String {
        match row.get(field) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        }
    }
}

async fn dataset(State(state): State<AppState>, page: PageContext, Path(name): Path<String>) -> Response {
    let base = state.config.public_url.trim_end_matches('/');
    match super::ckan::portal_dataset(&state.store, &name, 20).await {
        Ok(Some((resource, rows))) => {
            let columns = super::ckan::public_fields(&resource).into_iter().cloned().collect();
            let (csv_url, json_url) = (super::ckan::csv_url(base, &resource), super::ckan::json_url(base, &resource));
            render(StatusCode::OK, &DatasetPage { page: &page, resource, columns, rows, csv_url, json_url })
        }
        Ok(None) => error_page(&page, &ApiError::NotFound),
        Err(e) => error_page(&page, &ApiError::Internal(format!("{e:?}"))),
    }
}
