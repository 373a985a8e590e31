//! Open data: resources whose open type is `open` are published as datasets — their public
//! fields only — through a CKAN-compatible Action API at `/api/3/action/{action}` and
//! `/api/action/{action}` (GET with a query string or POST with JSON, CKAN's envelope and error
//! types), a datastore-like rows endpoint (`datastore_search`), CSV and JSON downloads, and a
//! DCAT-AP export of the catalogue in JSON-LD and Turtle.
//!
//! Mapping: a dataset is a resource (id = its UUID, name = its code in lower case); its
//! organization is the owning department (name = the department code in lower case); groups are
//! the themes; each dataset has two CKAN resources, the CSV and the JSON download, both served by
//! the datastore.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{FieldType, Sensitivity, THEMES};
use super::store::{self, Column, RowQuery};
use super::{ExchangeError, Resource};
use crate::AppState;
use crate::http::extract::Path;
use crate::store::{Store, from_ms};

pub const CKAN_VERSION: &str = "2.10.4";
const LICENSE: (&str, &str, &str) =
    ("cc-by", "Creative Commons Attribution", "http://www.opendefinition.org/licenses/cc-by");

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(action3_get, action3_post))
        .routes(routes!(action_get, action_post))
        .routes(routes!(download_csv))
        .routes(routes!(download_json))
        .routes(routes!(dcat_jsonld))
        .routes(routes!(dcat_turtle))
}

/// A CKAN API failure, with CKAN's status and `__type`.
#[derive(Debug)]
pub enum CkanError {
    NotFound(String),
    /// Field → messages; CKAN answers 409.
    Validation(BTreeMap<String, Vec<String>>),
    SearchQuery(String),
    BadRequest(String),
    Internal(String),
}

impl CkanError {
    fn field(field: &str, message: impl Into<String>) -> CkanError {
        CkanError::Validation(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }

    fn status(&self) -> StatusCode {
        match self {
            CkanError::NotFound(_) => StatusCode::NOT_FOUND,
            CkanError::Validation(_) | CkanError::SearchQuery(_) => StatusCode::CONFLICT,
            CkanError::BadRequest(_) => StatusCode::BAD_REQUEST,
            CkanError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        match self {
            CkanError::NotFound(m) => json!({"__type": "Not Found Error", "message": format!("Not found: {m}")}),
            CkanError::Validation(fields) => {
                let mut error = json!({"__type": "Validation Error"});
                for (k, v) in fields {
                    error[k] = json!(v);
                }
                error
            }
            CkanError::SearchQuery(m) => {
                json!({"__type": "Search Query Error", "message": format!("Search Query is invalid: {m}")})
            }
            CkanError::BadRequest(m) => json!({"__type": "Bad request", "message": format!("Bad request - {m}")}),
            CkanError::Internal(_) => json!({"__type": "Internal Server Error", "message": "Internal Server Error"}),
        }
    }
}

impl From<ExchangeError> for CkanError {
    fn from(e: ExchangeError) -> Self {
        CkanError::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for CkanError {
    fn from(e: sqlx::Error) -> Self {
        CkanError::Internal(e.to_string())
    }
}

fn help_url(state: &AppState, action: &str) -> String {
    format!("{}/api/3/action/help_show?name={action}", state.config.public_url.trim_end_matches('/'))
}

/// The action's parameters: a query string's values are text, a JSON body's keep their types.
struct Params(Map<String, Value>);

impl Params {
    fn from_query(query: Option<&str>) -> Params {
        let mut map = Map::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.insert(k.into_owned(), Value::String(v.into_owned()));
        }
        Params(map)
    }

    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    fn required(&self, name: &str) -> Result<String, CkanError> {
        self.text(name).filter(|s| !s.trim().is_empty()).ok_or_else(|| CkanError::field(name, "Missing value"))
    }

    fn int(&self, name: &str, default: i64, max: i64) -> Result<i64, CkanError> {
        let n = match self.0.get(name) {
            None | Some(Value::Null) => return Ok(default),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(default),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n < 0 => Err(CkanError::field(name, "Must be a natural number")),
            Some(n) => Ok(n.min(max)),
            None => Err(CkanError::field(name, "Invalid integer")),
        }
    }

    fn flag(&self, name: &str) -> bool {
        match self.0.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"),
            Some(Value::Number(n)) => n.as_i64() == Some(1),
            _ => false,
        }
    }

    /// A list given as a JSON list, a JSON-encoded list in text, or comma-separated text.
    fn list(&self, name: &str) -> Result<Vec<String>, CkanError> {
        let strings = |items: &[Value]| {
            items.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect()
        };
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(strings(items)),
            Some(Value::String(s)) if s.trim_start().starts_with('[') => match serde_json::from_str::<Vec<Value>>(s) {
                Ok(items) => Ok(strings(&items)),
                Err(_) => Err(CkanError::field(name, "Invalid list")),
            },
            Some(Value::String(s)) => Ok(s.split(',').map(|x| x.trim().to_owned()).filter(|x| !x.is_empty()).collect()),
            Some(_) => Err(CkanError::field(name, "Invalid list")),
        }
    }
}

fn envelope(state: &AppState, action: &str, result: Result<Value, CkanError>) -> Response {
    match result {
        Ok(result) => {
            (StatusCode::OK, axum::Json(json!({"help": help_url(state, action), "success": true, "result": result})))
                .into_response()
        }
        Err(error) => {
            if let CkanError::Internal(cause) = &error {
                tracing::error!(%cause, action, "CKAN action failed");
            }
            let body = json!({"help": help_url(state, action), "success": false, "error": error.body()});
            (error.status(), axum::Json(body)).into_response()
        }
    }
}

async fn run(state: &AppState, action: &str, params: Params) -> Response {
    let result = dispatch(state, action, &params).await;
    envelope(state, action, result)
}

fn body_params(headers: &HeaderMap, body: &Bytes) -> Result<Params, CkanError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params(Map::new()));
    }
    let mime = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if mime.starts_with("application/x-www-form-urlencoded") {
        return Ok(Params::from_query(std::str::from_utf8(body).ok()));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(Params(map)),
        _ => Err(CkanError::BadRequest("JSON Error: Error decoding JSON data. Error: not a JSON object".into())),
    }
}

async fn post(state: AppState, action: String, headers: HeaderMap, body: Bytes) -> Response {
    match body_params(&headers, &body) {
        Ok(params) => run(&state, &action, params).await,
        Err(e) => envelope(&state, &action, Err(e)),
    }
}

/// CKAN Action API (GET): `package_search`, `package_show`, `package_list`, `organization_list`,
/// `organization_show`, `group_list`, `group_show`, `tag_list`, `resource_show`, `status_show`,
/// `datastore_search`, `help_show`. Answers are `{"help", "success", "result"}`; errors carry
/// CKAN's `__type` (`Not Found Error` 404, `Validation Error` 409, `Search Query Error` 409).
#[utoipa::path(get, path = "/api/3/action/{action}", operation_id = "ckan_action_get", tag = "opendata", params(("action" = String, Path)),
    responses((status = 200, description = "CKAN envelope with `result`", body = Object), (status = 404, description = "Not Found Error", body = Object),
              (status = 409, description = "Validation or Search Query Error", body = Object)))]
async fn action3_get(State(state): State<AppState>, Path(action): Path<String>, uri: axum::http::Uri) -> Response {
    run(&state, &action, Params::from_query(uri.query())).await
}

/// CKAN Action API (POST, JSON body), as `ckanapi` calls it.
#[utoipa::path(post, path = "/api/3/action/{action}", operation_id = "ckan_action_post", tag = "opendata", params(("action" = String, Path)),
    request_body(content = Object, description = "The action's parameters"),
    responses((status = 200, description = "CKAN envelope with `result`", body = Object), (status = 404, description = "Not Found Error", body = Object)))]
async fn action3_post(
    State(state): State<AppState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(state, action, headers, body).await
}

/// The same Action API without the version segment.
#[utoipa::path(get, path = "/api/action/{action}", operation_id = "ckan_action_get_unversioned", tag = "opendata", params(("action" = String, Path)),
    responses((status = 200, description = "CKAN envelope with `result`", body = Object)))]
async fn action_get(State(state): State<AppState>, Path(action): Path<String>, uri: axum::http::Uri) -> Response {
    run(&state, &action, Params::from_query(uri.query())).await
}

/// The same Action API without the version segment (POST).
#[utoipa::path(post, path = "/api/action/{action}", operation_id = "ckan_action_post_unversioned", tag = "opendata", params(("action" = String, Path)),
    request_body(content = Object, description = "The action's parameters"),
    responses((status = 200, description = "CKAN envelope with `result`", body = Object)))]
async fn action_post(
    State(state): State<AppState>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    post(state, action, headers, body).await
}

async fn dispatch(state: &AppState, action: &str, p: &Params) -> Result<Value, CkanError> {
    let store = &state.store;
    let base = state.config.public_url.trim_end_matches('/');
    match action {
        "status_show" => Ok(json!({
            "ckan_version": CKAN_VERSION, "site_title": "一网开放数据 · yiwang open data",
            "site_description": "政府开放数据：部门数据资源目录中可开放的数据集 / open datasets of the city's data catalogue",
            "site_url": base, "error_emails_to": null, "locale_default": "zh_Hans_CN",
            "extensions": ["datastore", "dcat"]
        })),
        "help_show" => {
            let name = p.required("name")?;
            HELP.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, h)| json!(h))
                .ok_or_else(|| CkanError::NotFound("Action function not found".into()))
        }
        "package_list" => {
            let (limit, offset) = (p.int("limit", 100_000, 100_000)?, p.int("offset", 0, i64::MAX)?);
            let names: Vec<Value> = open(store)
                .await?
                .iter()
                .skip(offset as usize)
                .take(limit as usize)
                .map(|r| json!(r.input.open_name()))
                .collect();
            Ok(Value::Array(names))
        }
        "package_show" => {
            let id = p.text("id").or_else(|| p.text("name_or_id")).filter(|s| !s.trim().is_empty());
            let id = id.ok_or_else(|| CkanError::field("id", "Missing value"))?;
            let found = one(store, &id).await?.ok_or_else(|| CkanError::NotFound("Dataset".into()))?;
            Ok(package(base, &found))
        }
        "package_search" => search(store, base, p).await,
        "organization_list" | "group_list" => {
            let all = open(store).await?;
            let groups = if action == "organization_list" { organizations(&all) } else { themes(&all) };
            let mut groups: Vec<Value> = groups.into_values().collect();
            let sort = p.text("sort").unwrap_or_else(|| "name asc".into());
            let key = if sort.starts_with("package_count") {
                "package_count"
            } else if sort.starts_with("title") {
                "title"
            } else {
                "name"
            };
            groups.sort_by(|a, b| {
                let ord = match key {
                    "package_count" => a[key].as_i64().cmp(&b[key].as_i64()),
                    _ => a[key].as_str().cmp(&b[key].as_str()),
                };
                if sort.ends_with("desc") { ord.reverse() } else { ord }
            });
            let (limit, offset) = (p.int("limit", 1000, 1000)?, p.int("offset", 0, i64::MAX)?);
            let page = groups.into_iter().skip(offset as usize).take(limit as usize);
            if p.flag("all_fields") {
                Ok(Value::Array(page.collect()))
            } else {
                Ok(Value::Array(page.map(|g| g["name"].clone()).collect()))
            }
        }
        "organization_show" | "group_show" => {
            let id = p.required("id")?;
            let all = open(store).await?;
            let groups = if action == "organization_show" { organizations(&all) } else { themes(&all) };
            let found = groups.into_values().find(|g| g["id"] == id.as_str() || g["name"] == id.as_str());
            let mut group = found.ok_or_else(|| {
                CkanError::NotFound(if action == "organization_show" { "Organization" } else { "Group" }.into())
            })?;
            if p.flag("include_datasets") {
                let name = group["name"].as_str().unwrap_or_default().to_owned();
                let key = if action == "organization_show" { "organization" } else { "groups" };
                group["packages"] = Value::Array(
                    all.iter().filter(|r| facet_values(r, key).contains(&name)).map(|r| package(base, r)).collect(),
                );
            }
            Ok(group)
        }
        "tag_list" => {
            let query = p.text("query").or_else(|| p.text("q")).unwrap_or_default();
            let mut tags: Vec<String> = open(store)
                .await?
                .iter()
                .flat_map(|r| r.input.tags.clone())
                .filter(|t| t.contains(query.as_str()))
                .collect();
            tags.sort();
            tags.dedup();
            if p.flag("all_fields") { Ok(Value::Array(tags.iter().map(|t| tag(t)).collect())) } else { Ok(json!(tags)) }
        }
        "resource_show" => {
            let id = p.required("id")?;
            let all = open(store).await?;
            all.iter()
                .flat_map(|r| resources(base, r))
                .find(|res| res["id"] == id.as_str())
                .ok_or_else(|| CkanError::NotFound("Resource was not found.".into()))
        }
        "datastore_search" => datastore_search(store, p).await,
        other => Err(CkanError::BadRequest(format!("Action name not known: {other}"))),
    }
}

const HELP: &[(&str, &str)] = &[
    (
        "package_search",
        "Searches for datasets. Parameters: q, fq (organization:, tags:, groups:, res_format:, name:, metadata_modified:[X TO Y]), rows, start, sort, facet.field, facet.limit, facet.mincount.",
    ),
    ("package_show", "Returns a dataset by id or name."),
    ("package_list", "Returns the names of every dataset (limit, offset)."),
    ("organization_list", "Returns the organizations (departments) with datasets (all_fields, sort, limit, offset)."),
    ("organization_show", "Returns an organization by id or name (include_datasets)."),
    ("group_list", "Returns the groups (themes) with datasets (all_fields, sort, limit, offset)."),
    ("group_show", "Returns a group by id or name (include_datasets)."),
    ("tag_list", "Returns the tags of datasets (query, all_fields)."),
    ("resource_show", "Returns a resource (a download of a dataset) by id."),
    ("status_show", "Returns the site's status."),
    (
        "datastore_search",
        "Returns rows of a resource: resource_id, q, filters, fields, limit, offset, sort (_id asc|desc), include_total.",
    ),
    ("help_show", "Returns the help text of an action (name)."),
];

async fn open(store: &Store) -> Result<Vec<Resource>, CkanError> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::resources(&mut conn, true).await?)
}

async fn one(store: &Store, id_or_name: &str) -> Result<Option<Resource>, CkanError> {
    let mut conn = store.pool().acquire().await?;
    Ok(store::open_resource(&mut conn, id_or_name).await?)
}

/// A UUID-shaped id derived from a name, for things yiwang does not give UUIDs (organizations,
/// groups, tags, downloads): stable across restarts and nodes.
fn derived_id(kind: &str, name: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("{kind}:{name}").as_bytes()));
    format!("{}-{}-5{}-a{}-{}", &h[..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

fn ckan_time(ms: i64) -> String {
    from_ms(ms).format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn organization(r: &Resource) -> Value {
    let code = r.input.department_code.to_ascii_lowercase();
    json!({
        "id": derived_id("organization", &code), "name": code, "title": r.department_name,
        "display_name": r.department_name, "type": "organization", "description": "", "image_url": "",
        "created": ckan_time(r.created_at), "is_organization": true, "approval_status": "approved", "state": "active"
    })
}

fn organizations(all: &[Resource]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for r in all {
        let org = organization(r);
        let name = org["name"].as_str().unwrap_or_default().to_owned();
        let entry = out.entry(name).or_insert_with(|| {
            let mut o = org;
            o["package_count"] = json!(0);
            o
        });
        entry["package_count"] = json!(entry["package_count"].as_i64().unwrap_or(0) + 1);
    }
    out
}

fn group(name: &str) -> Value {
    let (title_zh, title_en) =
        THEMES.iter().find(|(n, ..)| *n == name).map(|(_, zh, en)| (*zh, *en)).unwrap_or((name, name));
    json!({
        "id": derived_id("group", name), "name": name, "title": title_zh, "display_name": title_zh,
        "description": title_en, "image_display_url": "", "type": "group", "is_organization": false,
        "approval_status": "approved", "state": "active"
    })
}

fn themes(all: &[Resource]) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for r in all {
        for theme in &r.input.themes {
            let entry = out.entry(theme.clone()).or_insert_with(|| {
                let mut g = group(theme);
                g["package_count"] = json!(0);
                g
            });
            entry["package_count"] = json!(entry["package_count"].as_i64().unwrap_or(0) + 1);
        }
    }
    out
}

fn tag(name: &str) -> Value {
    json!({"id": derived_id("tag", name), "name": name, "display_name": name, "state": "active", "vocabulary_id": null})
}

/// The public fields of an open resource: what its datasets publish.
pub fn public_fields(r: &Resource) -> Vec<&super::model::FieldSpec> {
    r.input.fields.iter().filter(|f| f.sensitivity == Sensitivity::Public).collect()
}

pub fn csv_url(base: &str, r: &Resource) -> String {
    format!("{base}/api/opendata/datasets/{}/rows.csv", r.input.open_name())
}

pub fn json_url(base: &str, r: &Resource) -> String {
    format!("{base}/api/opendata/datasets/{}/rows.json", r.input.open_name())
}

fn resources(base: &str, r: &Resource) -> Vec<Value> {
    let modified = ckan_time(r.data_loaded_at.unwrap_or(r.updated_at));
    [("CSV", "text/csv", csv_url(base, r)), ("JSON", "application/json", json_url(base, r))]
        .into_iter()
        .enumerate()
        .map(|(position, (format, mimetype, url))| {
            json!({
                "id": derived_id(&format!("resource-{format}"), &r.uuid), "package_id": r.uuid,
                "name": format!("{}（{format}）", r.input.name), "description": format!("{} · {format}", r.input.name),
                "format": format, "mimetype": mimetype, "url": url, "url_type": null, "datastore_active": true,
                "state": "active", "position": position, "created": ckan_time(r.created_at), "last_modified": modified,
                "metadata_modified": modified, "size": null, "hash": ""
            })
        })
        .collect()
}

pub fn package(base: &str, r: &Resource) -> Value {
    let org = organization(r);
    let tags: Vec<Value> = r.input.tags.iter().map(|t| tag(t)).collect();
    let groups: Vec<Value> = r.input.themes.iter().map(|t| group(t)).collect();
    let res = resources(base, r);
    let fields: Vec<Value> = public_fields(r)
        .iter()
        .map(|f| json!({"name": f.name, "label": f.label, "type": f.field_type, "description": f.description}))
        .collect();
    json!({
        "id": r.uuid, "name": r.input.open_name(), "title": r.input.name, "notes": r.input.description,
        "type": "dataset", "state": "active", "private": false, "author": r.department_name, "author_email": null,
        "maintainer": r.department_name, "maintainer_email": null,
        "license_id": LICENSE.0, "license_title": LICENSE.1, "license_url": LICENSE.2,
        "metadata_created": ckan_time(r.created_at), "metadata_modified": ckan_time(r.updated_at),
        "version": r.version.to_string(), "url": format!("{base}/opendata/{}", r.input.open_name()),
        "owner_org": org["id"], "organization": org, "tags": tags, "num_tags": r.input.tags.len(),
        "groups": groups, "resources": res, "num_resources": 2, "relationships_as_object": [], "relationships_as_subject": [],
        "extras": [
            {"key": "identifier", "value": r.input.code},
            {"key": "update_cycle", "value": r.input.update_cycle.label_zh()},
            {"key": "data_grade", "value": r.input.data_grade.label_zh()},
            {"key": "row_count", "value": r.row_count.to_string()},
            {"key": "fields", "value": Value::Array(fields).to_string()}
        ]
    })
}

/// The values a dataset has for a facet field.
fn facet_values(r: &Resource, field: &str) -> Vec<String> {
    match field {
        "organization" => vec![r.input.department_code.to_ascii_lowercase()],
        "tags" => r.input.tags.clone(),
        "groups" => r.input.themes.clone(),
        "res_format" => vec!["CSV".into(), "JSON".into()],
        "license_id" => vec![LICENSE.0.into()],
        "name" => vec![r.input.open_name()],
        "id" => vec![r.uuid.clone()],
        "dataset_type" => vec!["dataset".into()],
        "state" => vec!["active".into()],
        _ => Vec::new(),
    }
}

fn display_name(field: &str, value: &str, all: &[Resource]) -> String {
    match field {
        "organization" => all
            .iter()
            .find(|r| r.input.department_code.eq_ignore_ascii_case(value))
            .map_or_else(|| value.to_owned(), |r| r.department_name.clone()),
        "groups" => {
            THEMES.iter().find(|(n, ..)| *n == value).map_or_else(|| value.to_owned(), |(_, zh, _)| (*zh).to_owned())
        }
        _ => value.to_owned(),
    }
}

enum Filter {
    Equals(String, String),
    /// metadata_modified:[FROM TO TO] with `*` open ends, as ISO texts compared in order.
    Modified(Option<String>, Option<String>),
}

/// Reads `fq`: space-separated `field:value` or `field:"quoted value"`, each optionally `+`.
fn parse_fq(fq: &str) -> Result<Vec<Filter>, CkanError> {
    let mut out = Vec::new();
    let mut rest = fq.trim();
    while !rest.is_empty() {
        rest = rest.trim_start_matches('+').trim_start();
        let Some((field, after)) = rest.split_once(':') else {
            return Err(CkanError::SearchQuery(format!("cannot read fq near {rest:?}")));
        };
        let field = field.trim().to_owned();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or_else(|| CkanError::SearchQuery("unclosed quote in fq".into()))?;
            (quoted[..end].to_owned(), &quoted[end + 1..])
        } else if let Some(range) = after.strip_prefix('[') {
            let end = range.find(']').ok_or_else(|| CkanError::SearchQuery("unclosed range in fq".into()))?;
            (format!("[{}]", &range[..end]), &range[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_owned(), &after[end..])
        };
        if field == "metadata_modified" {
            let inner = value.trim_start_matches('[').trim_end_matches(']');
            let parts: Vec<&str> = inner.split(" TO ").map(str::trim).collect();
            if parts.len() != 2 {
                return Err(CkanError::SearchQuery("metadata_modified takes [FROM TO TO]".into()));
            }
            let bound = |s: &str| (s != "*").then(|| s.trim_end_matches('Z').to_owned());
            out.push(Filter::Modified(bound(parts[0]), bound(parts[1])));
        } else if matches!(
            field.as_str(),
            "organization" | "tags" | "groups" | "res_format" | "license_id" | "name" | "id" | "dataset_type" | "state"
        ) {
            out.push(Filter::Equals(field, value));
        } else {
            return Err(CkanError::SearchQuery(format!("unknown field {field} in fq")));
        }
        rest = next.trim_start();
    }
    Ok(out)
}

fn keeps(r: &Resource, filter: &Filter) -> bool {
    match filter {
        Filter::Equals(field, value) => facet_values(r, field)
            .iter()
            .any(|v| if field == "res_format" { v.eq_ignore_ascii_case(value) } else { v == value }),
        Filter::Modified(from, to) => {
            let modified = ckan_time(r.updated_at);
            from.as_ref().is_none_or(|f| modified.as_str() >= f.as_str())
                && to.as_ref().is_none_or(|t| modified.as_str() <= t.as_str())
        }
    }
}

/// How well a dataset matches the free-text terms; `None` when a term is missing.
fn score(r: &Resource, terms: &[String]) -> Option<u32> {
    let title = r.input.name.to_lowercase();
    let notes = r.input.description.to_lowercase();
    let tags: Vec<String> = r.input.tags.iter().map(|t| t.to_lowercase()).collect();
    let others = format!(
        "{} {} {} {}",
        r.input.open_name(),
        r.department_name,
        r.input
            .themes
            .iter()
            .filter_map(|t| THEMES.iter().find(|(n, ..)| n == t))
            .map(|(_, zh, en)| format!("{zh} {en}"))
            .collect::<Vec<_>>()
            .join(" "),
        public_fields(r).iter().map(|f| f.label.as_str()).collect::<Vec<_>>().join(" ")
    )
    .to_lowercase();
    let mut total = 0;
    for term in terms {
        let mut s = 0;
        if title.contains(term.as_str()) {
            s += 4;
        }
        if tags.iter().any(|t| t.contains(term.as_str())) {
            s += 3;
        }
        if notes.contains(term.as_str()) {
            s += 2;
        }
        if others.contains(term.as_str()) {
            s += 1;
        }
        if s == 0 {
            return None;
        }
        total += s;
    }
    Some(total)
}

/// `package_search` over the open datasets.
async fn search(store: &Store, base: &str, p: &Params) -> Result<Value, CkanError> {
    let all = open(store).await?;
    let mut filters = parse_fq(&p.text("fq").unwrap_or_default())?;
    let q = p.text("q").unwrap_or_default();
    let mut terms = Vec::new();
    for word in q.split_whitespace() {
        if word == "*:*" {
            continue;
        }
        match word.split_once(':') {
            Some(_) => filters.extend(parse_fq(word)?),
            None => terms.push(word.to_lowercase()),
        }
    }
    let rows = p.int("rows", 10, 1000)?;
    let start = p.int("start", 0, i64::MAX)?;
    let sort =
        p.text("sort").filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "score desc, metadata_modified desc".into());
    let mut keys = Vec::new();
    for part in sort.split(',') {
        let mut words = part.split_whitespace();
        let (field, dir) = (words.next().unwrap_or_default(), words.next().unwrap_or("asc"));
        if !matches!(field, "score" | "metadata_modified" | "metadata_created" | "name" | "title_string" | "title")
            || !matches!(dir, "asc" | "desc")
        {
            return Err(CkanError::SearchQuery(format!("cannot sort by {part:?}")));
        }
        keys.push((field.to_owned(), dir == "desc"));
    }
    let mut hits: Vec<(u32, &Resource)> = all
        .iter()
        .filter(|r| filters.iter().all(|f| keeps(r, f)))
        .filter_map(|r| score(r, &terms).map(|s| (s, r)))
        .collect();
    hits.sort_by(|(sa, a), (sb, b)| {
        for (field, desc) in &keys {
            let ord = match field.as_str() {
                "score" => sa.cmp(sb),
                "metadata_modified" => a.updated_at.cmp(&b.updated_at),
                "metadata_created" => a.created_at.cmp(&b.created_at),
                "name" => a.input.open_name().cmp(&b.input.open_name()),
                _ => a.input.name.cmp(&b.input.name),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        a.input.code.cmp(&b.input.code)
    });
    let facet_fields = p.list("facet.field")?;
    let facet_limit = match p.int("facet.limit", 50, i64::MAX) {
        Ok(n) => n,
        // CKAN takes -1 for no limit.
        Err(_) if p.text("facet.limit").as_deref() == Some("-1") => i64::MAX,
        Err(e) => return Err(e),
    };
    let facet_mincount = p.int("facet.mincount", 1, i64::MAX)?;
    let mut facets = Map::new();
    let mut search_facets = Map::new();
    for field in &facet_fields {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for (_, r) in &hits {
            for v in facet_values(r, field) {
                *counts.entry(v).or_default() += 1;
            }
        }
        let mut items: Vec<(String, i64)> = counts.into_iter().filter(|(_, c)| *c >= facet_mincount).collect();
        items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        items.truncate(facet_limit.min(10_000) as usize);
        facets.insert(field.clone(), Value::Object(items.iter().map(|(n, c)| (n.clone(), json!(c))).collect()));
        let listed: Vec<Value> = items
            .iter()
            .map(|(n, c)| json!({"name": n, "display_name": display_name(field, n, &all), "count": c}))
            .collect();
        search_facets.insert(field.clone(), json!({"title": field, "items": listed}));
    }
    let results: Vec<Value> =
        hits.iter().skip(start as usize).take(rows as usize).map(|(_, r)| package(base, r)).collect();
    Ok(json!({"count": hits.len(), "sort": sort, "facets": facets, "results": results, "search_facets": search_facets}))
}

/// The open resource a CKAN resource id (either download) or a dataset id or name stands for.
async fn dataset_of(store: &Store, resource_id: &str) -> Result<Option<Resource>, CkanError> {
    let all = open(store).await?;
    Ok(all.into_iter().find(|r| {
        r.uuid == resource_id
            || r.input.open_name() == resource_id
            || ["CSV", "JSON"].iter().any(|f| derived_id(&format!("resource-{f}"), &r.uuid) == resource_id)
    }))
}

/// `datastore_search`: rows of a dataset (public fields only), CKAN's shape.
async fn datastore_search(store: &Store, p: &Params) -> Result<Value, CkanError> {
    let resource_id = p.required("resource_id")?;
    let r = dataset_of(store, &resource_id)
        .await?
        .ok_or_else(|| CkanError::NotFound(format!("Resource \"{resource_id}\" was not found.")))?;
    let public = public_fields(&r);
    let limit = p.int("limit", 100, 1000)?;
    let offset = p.int("offset", 0, i64::MAX)?;
    let filters: Map<String, Value> = match p.0.get("filters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match serde_json::from_str(s) {
            Ok(Value::Object(o)) => o,
            _ => return Err(CkanError::field("filters", "Not a json object")),
        },
        Some(_) => return Err(CkanError::field("filters", "Not a json object")),
    };
    let mut typed: Vec<(String, FieldType, String)> = Vec::new();
    for (name, value) in filters {
        let Some(field) = public.iter().find(|f| f.name == name) else {
            return Err(CkanError::field("filters", format!("field \"{name}\" not in resource")));
        };
        let value = match value {
            Value::String(s) => s,
            Value::Array(mut items) if items.len() == 1 => match items.remove(0) {
                Value::String(s) => s,
                other => other.to_string(),
            },
            Value::Array(_) => return Err(CkanError::field("filters", "one value per field is supported")),
            other => other.to_string(),
        };
        typed.push((field.name.clone(), field.field_type, value));
    }
    let wanted = p.list("fields")?;
    for f in &wanted {
        if f != "_id" && !public.iter().any(|p| &p.name == f) {
            return Err(CkanError::field("fields", format!("field \"{f}\" not in resource")));
        }
    }
    let sort = p.text("sort").unwrap_or_else(|| "_id asc".into());
    let descending = match sort.trim() {
        "_id" | "_id asc" | "" => false,
        "_id desc" => true,
        _ => return Err(CkanError::field("sort", "only _id asc or _id desc")),
    };
    let q = p.text("q");
    let query = RowQuery {
        row_set: r.row_set,
        column: Column::Open,
        filters: &typed,
        q: q.as_deref(),
        limit,
        offset,
        descending,
    };
    let mut conn = store.pool().acquire().await?;
    let (rows, total) = store::rows_page(&mut conn, store.backend(), &query).await?;
    let shown: Vec<&super::model::FieldSpec> =
        public.iter().copied().filter(|f| wanted.is_empty() || wanted.contains(&f.name)).collect();
    let records: Vec<Value> = rows
        .into_iter()
        .map(|(n, data)| {
            let data: Map<String, Value> = serde_json::from_str(&data).unwrap_or_default();
            let mut record = Map::new();
            if wanted.is_empty() || wanted.iter().any(|w| w == "_id") {
                record.insert("_id".into(), json!(n));
            }
            for f in &shown {
                record.insert(f.name.clone(), data.get(&f.name).cloned().unwrap_or(Value::Null));
            }
            Value::Object(record)
        })
        .collect();
    let mut fields = vec![json!({"id": "_id", "type": "int"})];
    fields.extend(
        shown.iter().map(|f| json!({"id": f.name, "type": f.field_type.datastore_type(), "info": {"label": f.label}})),
    );
    let link =
        |offset: i64| format!("/api/3/action/datastore_search?resource_id={resource_id}&offset={offset}&limit={limit}");
    Ok(json!({
        "resource_id": resource_id, "fields": fields, "records": records, "records_format": "objects",
        "limit": limit, "offset": offset, "total": total, "total_was_estimated": false, "include_total": true,
        "sort": sort, "_links": {"start": link(0), "next": link(offset + limit)}
    }))
}

/// Every row of an open dataset (public fields), for downloads.
async fn rows_of(state: &AppState, name: &str) -> Result<(Resource, Vec<Map<String, Value>>), Response> {
    let not_found = || crate::http::error::ApiError::NotFound.into_response();
    let found = one(&state.store, name).await.map_err(|_| crate::http::error::ApiError::Unavailable.into_response())?;
    let r = found.ok_or_else(not_found)?;
    let mut conn =
        state.store.pool().acquire().await.map_err(|e| crate::http::error::ApiError::from(e).into_response())?;
    let rows = store::all_open_rows(&mut conn, r.row_set)
        .await
        .map_err(|e| crate::http::error::ApiError::from(e).into_response())?;
    Ok((r, rows.into_iter().filter_map(|(_, d)| serde_json::from_str(&d).ok()).collect()))
}

/// An open dataset's rows as CSV (UTF-8 with a byte-order mark for spreadsheet programs; public
/// fields only, a header of field names).
#[utoipa::path(get, path = "/api/opendata/datasets/{name}/rows.csv", tag = "opendata", params(("name" = String, Path)),
    responses((status = 200, description = "CSV", body = String, content_type = "text/csv"), (status = 404, description = "No such open dataset")))]
async fn download_csv(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let (r, rows) = match rows_of(&state, &name).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let fields = public_fields(&r);
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let mut out = writer.write_record(fields.iter().map(|f| f.name.as_str()));
    for row in &rows {
        if out.is_ok() {
            out = writer.write_record(fields.iter().map(|f| cell(row.get(&f.name))));
        }
    }
    match out.map_err(|e| e.to_string()).and_then(|()| writer.into_inner().map_err(|e| e.to_string())) {
        Ok(bytes) => {
            let disposition = format!("attachment; filename=\"{}.csv\"", r.input.open_name());
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                bytes,
            )
                .into_response()
        }
        Err(e) => crate::http::error::ApiError::Internal(format!("csv: {e}")).into_response(),
    }
}

/// An open dataset's rows as a JSON array (public fields only).
#[utoipa::path(get, path = "/api/opendata/datasets/{name}/rows.json", tag = "opendata", params(("name" = String, Path)),
    responses((status = 200, description = "JSON array of rows", body = [Object]), (status = 404, description = "No such open dataset")))]
async fn download_json(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match rows_of(&state, &name).await {
        Ok((_, rows)) => axum::Json(rows).into_response(),
        Err(response) => response,
    }
}

/// The open-data catalogue as DCAT-AP in JSON-LD.
#[utoipa::path(get, path = "/api/opendata/catalog.jsonld", tag = "opendata",
    responses((status = 200, description = "DCAT-AP JSON-LD", body = Object, content_type = "application/ld+json")))]
async fn dcat_jsonld(State(state): State<AppState>) -> Response {
    match open(&state.store).await {
        Ok(all) => {
            let doc = super::dcat::jsonld(state.config.public_url.trim_end_matches('/'), &all);
            ([(header::CONTENT_TYPE, "application/ld+json")], doc.to_string()).into_response()
        }
        Err(e) => envelope(&state, "dcat", Err(e)),
    }
}

/// The open-data catalogue as DCAT-AP in Turtle.
#[utoipa::path(get, path = "/api/opendata/catalog.ttl", tag = "opendata",
    responses((status = 200, description = "DCAT-AP Turtle", body = String, content_type = "text/turtle")))]
async fn dcat_turtle(State(state): State<AppState>) -> Response {
    match open(&state.store).await {
        Ok(all) => {
            let doc = super::dcat::turtle(state.config.public_url.trim_end_matches('/'), &all);
            ([(header::CONTENT_TYPE, "text/turtle; charset=utf-8")], doc).into_response()
        }
        Err(e) => envelope(&state, "dcat", Err(e)),
    }
}

/// For the portal pages: a search with the page's filters.
pub async fn portal_search(store: &Store, base: &str, q: &str, fq: &str, start: i64) -> Result<Value, CkanError> {
    let mut map = Map::new();
    map.insert("q".into(), json!(q));
    map.insert("fq".into(), json!(fq));
    map.insert("rows".into(), json!(20));
    map.insert("start".into(), json!(start));
    map.insert("facet.field".into(), json!(["organization", "groups", "tags"]));
    search(store, base, &Params(map)).await
}

/// For the portal pages: a dataset and its first rows.
pub async fn portal_dataset(
    store: &Store,
    name: &str,
    preview: i64,
) -> Result<Option<(Resource, Vec<Map<String, Value>>)>, CkanError> {
    let Some(r) = one(store, name).await? else { return Ok(None) };
    let query = RowQuery {
        row_set: r.row_set,
        column: Column::Open,
        filters: &[],
        q: None,
        limit: preview,
        offset: 0,
        descending: false,
    };
    let mut conn = store.pool().acquire().await?;
    let (rows, _) = store::rows_page(&mut conn, store.backend(), &query).await?;
    Ok(Some((r, rows.into_iter().filter_map(|(_, d)| serde_json::from_str(&d).ok()).collect())))
}
