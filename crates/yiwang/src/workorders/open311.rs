//! Open311 GeoReport v2 under `/open311/v2/`, with mySociety's `servicerequestupdates`, so that
//! existing Open311 clients and FixMyStreet-style front ends work unchanged. Every resource is
//! served as `.json` or `.xml`. Services are the leaf categories of the work-order tree, grouped
//! by their first level. Errors take GeoReport's shape: `[{"code": 400, "description": "…"}]`.
//!
//! Lists are public, as GeoReport intends, but never show who asked; hotline calls show no text
//! and reports (举报) and emergencies are left out altogether.

use axum::Router;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, FixedOffset, Utc};

use super::model::{Channel, RequestType, State as OrderState};
use super::{Context, Intake, NewWorkOrder, WorkOrder, WorkOrderError, store};
use crate::AppState;
use crate::grid::LatLon;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{resource}", get(collection).post(create))
        .route("/open311/v2/services/{file}", get(service_definition))
        .route("/open311/v2/requests/{file}", get(one_request))
        .route("/open311/v2/tokens/{file}", get(token))
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    Xml,
}

/// Splits `requests.json` into (`requests`, JSON).
fn split(file: &str) -> Result<(&str, Format), Open311Error> {
    if let Some(stem) = file.strip_suffix(".json") {
        Ok((stem, Format::Json))
    } else if let Some(stem) = file.strip_suffix(".xml") {
        Ok((stem, Format::Xml))
    } else {
        Err(Open311Error::new(StatusCode::NOT_FOUND, "use .json or .xml", Format::Json))
    }
}

struct Open311Error {
    status: StatusCode,
    description: String,
    format: Format,
}

impl Open311Error {
    fn new(status: StatusCode, description: impl Into<String>, format: Format) -> Self {
        Open311Error { status, description: description.into(), format }
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let error = Node::object("error")
            .field("code", Node::Int(self.status.as_u16().into()))
            .field("description", self.description.clone());
        let mut response = render(self.format, "errors", vec![error]);
        *response.status_mut() = self.status;
        response
    }
}

fn from_workorder_error(e: WorkOrderError, format: Format) -> Open311Error {
    match e {
        WorkOrderError::Invalid { field, message } => {
            Open311Error::new(StatusCode::BAD_REQUEST, format!("{field}: {message}"), format)
        }
        WorkOrderError::NotFound => Open311Error::new(StatusCode::NOT_FOUND, "no such service request", format),
        WorkOrderError::Forbidden => Open311Error::new(StatusCode::FORBIDDEN, "not allowed", format),
        other => {
            tracing::error!(error = %other, "open311 request failed");
            Open311Error::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error", format)
        }
    }
}

/// A value to render as JSON or XML: a string, or an element with ordered children.
enum Node {
    Text(String),
    Int(i64),
    Object(&'static str, Vec<(&'static str, Node)>),
    List(&'static str, Vec<Node>),
    Null,
}

impl Node {
    fn object(element: &'static str) -> Self {
        Node::Object(element, Vec::new())
    }

    fn field(mut self, name: &'static str, value: impl Into<Node>) -> Self {
        if let Node::Object(_, fields) = &mut self {
            fields.push((name, value.into()));
        }
        self
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Node::Text(t) => serde_json::Value::String(t.clone()),
            Node::Int(n) => serde_json::Value::from(*n),
            Node::Null => serde_json::Value::Null,
            Node::List(_, items) => serde_json::Value::Array(items.iter().map(Node::json).collect()),
            Node::Object(_, fields) => {
                serde_json::Value::Object(fields.iter().map(|(k, v)| ((*k).to_owned(), v.json())).collect())
            }
        }
    }

    fn xml(&self, name: &str, out: &mut String) {
        match self {
            Node::Null => out.push_str(&format!("<{name}/>")),
            Node::Text(t) => out.push_str(&format!("<{name}>{}</{name}>", escape(t))),
            Node::Int(n) => out.push_str(&format!("<{name}>{n}</{name}>")),
            Node::List(element, items) => {
                out.push_str(&format!("<{name}>"));
                for item in items {
                    item.xml(element, out);
                }
                out.push_str(&format!("</{name}>"));
            }
            Node::Object(_, fields) => {
                out.push_str(&format!("<{name}>"));
                for (k, v) in fields {
                    v.xml(k, out);
                }
                out.push_str(&format!("</{name}>"));
            }
        }
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Node::Text(s)
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Node::Text(s.to_owned())
    }
}

impl From<Option<String>> for Node {
    fn from(s: Option<String>) -> Self {
        s.map_or(Node::Null, Node::Text)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

/// A list of elements: a JSON array, or `<root><element>…</element></root>`.
fn render(format: Format, root: &str, items: Vec<Node>) -> Response {
    match format {
        Format::Json => {
            let body = serde_json::Value::Array(items.iter().map(Node::json).collect()).to_string();
            ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], body).into_response()
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            out.push_str(&format!("<{root}>"));
            for item in &items {
                let element = match item {
                    Node::Object(e, _) | Node::List(e, _) => *e,
                    _ => "item",
                };
                item.xml(element, &mut out);
            }
            out.push_str(&format!("</{root}>"));
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    }
}

fn w3c(at: DateTime<Utc>) -> String {
    let china = FixedOffset::east_opt(8 * 3600).unwrap_or(FixedOffset::east_opt(0).expect("zero offset"));
    at.with_timezone(&china).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

fn parse_query(raw: Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.trim().is_empty())
}

async fn collection(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Open311Error> {
    let (name, format) = split(&resource)?;
    let params = parse_query(query);
    match name {
        "services" => Ok(services(&state, format)),
        "requests" => requests(&state, format, &params).await,
        "servicerequestupdates" => updates(&state, format, &params).await,
        "discovery" => Ok(discovery(format)),
        _ => Err(Open311Error::new(StatusCode::NOT_FOUND, "no such resource", format)),
    }
}

fn discovery(format: Format) -> Response {
    let endpoint = Node::object("endpoint")
        .field("specification", "http://wiki.open311.org/GeoReport_v2")
        .field("url", "/open311/v2")
        .field("type", "production")
        .field("formats", Node::List("format", vec!["application/json".into(), "text/xml".into()]));
    render(format, "discovery", vec![endpoint])
}

fn services(state: &AppState, format: Format) -> Response {
    let routing = &state.workorders;
    let categories = routing.categories();
    let leaves = categories.iter().filter(|c| !categories.iter().any(|x| x.parent_code.as_deref() == Some(&c.code)));
    let items = leaves
        .map(|c| {
            let group = routing.category_path(&c.code).split(" / ").next().unwrap_or_default().to_owned();
            let has_attributes = c.attributes.as_array().is_some_and(|a| !a.is_empty());
            Node::object("service")
                .field("service_code", c.code.clone())
                .field("service_name", c.name.clone())
                .field("description", routing.category_path(&c.code))
                .field("metadata", if has_attributes { "true" } else { "false" })
                .field("type", "realtime")
                .field("keywords", c.name.clone())
                .field("group", group)
        })
        .collect();
    render(format, "services", items)
}

async fn service_definition(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, Open311Error> {
    let (code, format) = split(&file)?;
    let category = state
        .workorders
        .category(code)
        .ok_or_else(|| Open311Error::new(StatusCode::NOT_FOUND, "no such service_code", format))?;
    let attributes: Vec<Node> = category
        .attributes
        .as_array()
        .map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, a)| {
                    let text = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
                    let values = a["values"]
                        .as_array()
                        .map(|vs| {
                            vs.iter()
                                .map(|v| {
                                    Node::object("value")
                                        .field("key", v["key"].as_str().unwrap_or_default())
                                        .field("name", v["name"].as_str().unwrap_or_default())
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    Node::object("attribute")
                        .field("variable", "true")
                        .field("code", text("code"))
                        .field("datatype", a["datatype"].as_str().unwrap_or("string"))
                        .field("required", if a["required"].as_bool().unwrap_or(false) { "true" } else { "false" })
                        .field("datatype_description", text("datatype_description"))
                        .field("order", (i + 1).to_string())
                        .field("description", text("description"))
                        .field("values", Node::List("value", values))
                })
                .collect()
        })
        .unwrap_or_default();
    let definition = Node::object("service_definition")
        .field("service_code", category.code.clone())
        .field("attributes", Node::List("attribute", attributes));
    Ok(match format {
        Format::Json => {
            ([(header::CONTENT_TYPE, "application/json; charset=utf-8")], definition.json().to_string()).into_response()
        }
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            definition.xml("service_definition", &mut out);
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], out).into_response()
        }
    })
}

fn request_node(order: &WorkOrder, routing: &super::routing::Routing) -> Node {
    let status_notes =
        order.reply.clone().or_else(|| order.timeline.last().map(|t| t.note.clone()).filter(|n| !n.is_empty()));
    let description = if order.channel == Channel::Hotline { String::new() } else { order.text.clone() };
    let service_name = order.category_code.as_deref().and_then(|c| routing.category(c)).map(|c| c.name);
    let expected = order.deadline.filter(|_| order.state.is_open()).map(w3c);
    Node::object("request")
        .field("service_request_id", order.number.clone())
        .field("status", order.state.open311_status())
        .field("status_notes", status_notes)
        .field("service_name", service_name)
        .field("service_code", order.category_code.clone())
        .field("description", description)
        .field("agency_responsible", order.department.as_ref().map(|d| d.name.clone()))
        .field("service_notice", Node::Null)
        .field("requested_datetime", w3c(order.created_at))
        .field("updated_datetime", w3c(order.updated_at))
        .field("expected_datetime", expected)
        .field("address", order.address.clone())
        .field("address_id", Node::Null)
        .field("zipcode", Node::Null)
        .field("lat", order.location.map(|l| l.lat.to_string()))
        .field("long", order.location.map(|l| l.lon.to_string()))
        .field("media_url", order.attributes.get("media_url").and_then(|v| v.as_str()).map(str::to_owned))
}

fn parse_time(value: Option<&str>, field: &str, format: Format) -> Result<Option<i64>, Open311Error> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim()).map(|t| t.timestamp_millis()).map_err(|_| {
                Open311Error::new(StatusCode::BAD_REQUEST, format!("{field}: not a W3C date-time"), format)
            })
        })
        .transpose()
}

async fn requests(state: &AppState, format: Format, params: &[(String, String)]) -> Result<Response, Open311Error> {
    let bad = |m: &str| Open311Error::new(StatusCode::BAD_REQUEST, m, format);
    let ids: Vec<&str> =
        param(params, "service_request_id").map(|v| v.split(',').map(str::trim).collect()).unwrap_or_default();
    let from = parse_time(param(params, "start_date"), "start_date", format)?;
    let to = parse_time(param(params, "end_date"), "end_date", format)?;
    let mut states = Vec::new();
    for status in param(params, "status").map(|v| v.split(',').collect::<Vec<_>>()).unwrap_or_default() {
        match status.trim() {
            "open" => states.extend(["pending", "dispatched", "signed", "replied"]),
            "closed" => states.extend(["closed", "merged"]),
            _ => return Err(bad("status: open or closed")),
        }
    }
    let page_size = match param(params, "page_size") {
        Some(v) => v.parse::<i64>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| bad("page_size: 1-1000"))?,
        None => 1000,
    };
    let page = match param(params, "page") {
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| bad("page: 1 or more"))?,
        None => 1,
    };
    // Without ids or dates GeoReport lists the last 90 days.
    let from = from.or_else(|| {
        (ids.is_empty() && to.is_none()).then(|| (state.clock.now() - chrono::TimeDelta::days(90)).timestamp_millis())
    });
    let filter = store::Filter {
        states: if states.is_empty() {
            vec!["pending", "dispatched", "signed", "replied", "closed", "merged"]
        } else {
            states
        },
        category_prefix: param(params, "service_code"),
        from_ms: from,
        to_ms: to,
        numbers: ids,
        scope: store::Scope { everything: true, ..Default::default() },
        ..Default::default()
    };
    let routing = &state.workorders;
    let rows = store::select(
        &mut *state.store.pool().acquire().await.map_err(|e| from_workorder_error(e.into(), format))?,
        &filter,
        page_size,
        (page - 1) * page_size,
    )
    .await
    .map_err(|e| from_workorder_error(e.into(), format))?;
    let mut items = Vec::new();
    for row in rows.into_iter().filter(|r| r.emergency.is_none() && r.request_type != RequestType::Report.as_str()) {
        let order =
            super::public(&state.store, routing, &row.number).await.map_err(|e| from_workorder_error(e, format))?;
        items.push(request_node(&order, routing));
    }
    Ok(render(format, "service_requests", items))
}

async fn one_request(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, Open311Error> {
    let (number, format) = split(&file)?;
    let order =
        super::public(&state.store, &state.workorders, number).await.map_err(|e| from_workorder_error(e, format))?;
    if order.request_type == RequestType::Report {
        return Err(Open311Error::new(StatusCode::NOT_FOUND, "no such service request", format));
    }
    Ok(render(format, "service_requests", vec![request_node(&order, &state.workorders)]))
}

async fn token(State(state): State<AppState>, Path(file): Path<String>) -> Result<Response, Open311Error> {
    let (token, format) = split(&file)?;
    let number = super::by_token(&state.store, token).await.map_err(|e| from_workorder_error(e, format))?;
    let item = Node::object("request").field("service_request_id", number).field("token", token);
    Ok(render(format, "service_requests", vec![item]))
}

/// The client's account, from `api_key` (an API token issued in yiwang).
async fn client(state: &AppState, form: &[(String, String)], format: Format) -> Result<i64, Open311Error> {
    let key = param(form, "api_key")
        .ok_or_else(|| Open311Error::new(StatusCode::FORBIDDEN, "api_key is required", format))?;
    crate::identity::account_of_api_token(&state.store, key)
        .await
        .map_err(|e| Open311Error::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), format))?
        .ok_or_else(|| Open311Error::new(StatusCode::FORBIDDEN, "api_key is not valid", format))
}

async fn create(
    State(state): State<AppState>,
    Path(resource): Path<String>,
    RawForm(body): RawForm,
) -> Result<Response, Open311Error> {
    let (name, format) = split(&resource)?;
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    match name {
        "requests" => post_request(&state, format, &form).await,
        "servicerequestupdates" => post_update(&state, format, &form).await,
        _ => Err(Open311Error::new(StatusCode::NOT_FOUND, "no such resource", format)),
    }
}

async fn post_request(state: &AppState, format: Format, form: &[(String, String)]) -> Result<Response, Open311Error> {
    client(state, form, format).await?;
    let bad = |m: String| Open311Error::new(StatusCode::BAD_REQUEST, m, format);
    let code = param(form, "service_code").ok_or_else(|| bad("service_code is required".into()))?;
    let category = state
        .workorders
        .category(code)
        .ok_or_else(|| Open311Error::new(StatusCode::NOT_FOUND, format!("service_code {code} not found"), format))?;
    let number = |name: &str| -> Result<Option<f64>, Open311Error> {
        param(form, name).map(|v| v.trim().parse::<f64>().map_err(|_| bad(format!("{name}: not a number")))).transpose()
    };
    let location = match (number("lat")?, number("long")?) {
        (Some(lat), Some(lon)) => Some(LatLon::new(lat, lon).map_err(|e| bad(e.to_string()))?),
        (None, None) => None,
        _ => return Err(bad("lat and long go together".into())),
    };
    let address = param(form, "address_string").map(str::to_owned);
    if location.is_none() && address.is_none() && param(form, "address_id").is_none() {
        return Err(bad("a location is required: lat and long, address_string or address_id".into()));
    }
    let mut attributes = serde_json::Map::new();
    for (key, value) in form {
        if let Some(code) = key.strip_prefix("attribute[").and_then(|k| k.strip_suffix(']')) {
            attributes.insert(code.to_owned(), value.clone().into());
        }
    }
    for required in
        category.attributes.as_array().into_iter().flatten().filter(|a| a["required"].as_bool() == Some(true))
    {
        let code = required["code"].as_str().unwrap_or_default();
        if !attributes.contains_key(code) {
            return Err(bad(format!("attribute[{code}] is required")));
        }
    }
    for name in ["media_url", "email", "device_id", "address_id"] {
        if let Some(value) = param(form, name) {
            attributes.insert(name.to_owned(), value.into());
        }
    }
    let description = param(form, "description").unwrap_or(&category.name).to_owned();
    let full_name = [param(form, "last_name"), param(form, "first_name")].into_iter().flatten().collect::<String>();
    let token = uuid_like();
    let new = NewWorkOrder {
        request_type: RequestType::Help,
        title: Some(category.name.clone()),
        text: description,
        category: Some(category.code.clone()),
        address,
        location,
        caller: None,
        photos: Vec::new(),
        answer: None,
        attributes,
    };
    let intake = Intake {
        open311_token: Some(&token),
        contact: Some(((!full_name.is_empty()).then_some(full_name), param(form, "phone").map(str::to_owned))),
        ..Intake::channel(Channel::Open311)
    };
    let order = super::intake(&state.store, &Context::now(state), None, intake, new)
        .await
        .map_err(|e| from_workorder_error(e, format))?;
    let notice = match order.emergency.as_deref() {
        Some(number) => format!("紧急情况请立即拨打{number} / an emergency: call {number} now"),
        None => String::new(),
    };
    let item = Node::object("request")
        .field("service_request_id", order.number)
        .field("token", token)
        .field("service_notice", notice)
        .field("account_id", Node::Null);
    let mut response = render(format, "service_requests", vec![item]);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn uuid_like() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn updates(state: &AppState, format: Format, params: &[(String, String)]) -> Result<Response, Open311Error> {
    let now = state.clock.now();
    let from = parse_time(param(params, "start_date"), "start_date", format)?
        .unwrap_or((now - chrono::TimeDelta::days(1)).timestamp_millis());
    let to = parse_time(param(params, "end_date"), "end_date", format)?.unwrap_or(now.timestamp_millis() + 1);
    let mut conn = state.store.pool().acquire().await.map_err(|e| from_workorder_error(e.into(), format))?;
    let events =
        store::events_between(&mut conn, from, to, 1000).await.map_err(|e| from_workorder_error(e.into(), format))?;
    let items = events
        .into_iter()
        .map(|(id, number, to_state, note, at)| {
            let status = OrderState::parse(&to_state).map_or("open", OrderState::open311_status);
            Node::object("request_update")
                .field("update_id", id.to_string())
                .field("service_request_id", number)
                .field("status", status)
                .field("updated_datetime", w3c(crate::store::from_ms(at)))
                .field("description", note)
                .field("media_url", Node::Null)
        })
        .collect();
    Ok(render(format, "service_request_updates", items))
}

async fn post_update(state: &AppState, format: Format, form: &[(String, String)]) -> Result<Response, Open311Error> {
    let account = client(state, form, format).await?;
    let bad = |m: &str| Open311Error::new(StatusCode::BAD_REQUEST, m, format);
    let number = param(form, "service_request_id").ok_or_else(|| bad("service_request_id is required"))?;
    let description = param(form, "description").ok_or_else(|| bad("description is required"))?;
    let id = super::add_update(&state.store, &Context::now(state), account, number, description)
        .await
        .map_err(|e| from_workorder_error(e, format))?;
    let item = Node::object("request_update").field("update_id", id.to_string());
    Ok(render(format, "service_request_updates", vec![item]))
}
