//! Back-office pages for the catalogue: the list of drafts, the draft editor (every element of an
//! item, with each broken rule shown beside its field and nothing typed lost), a preview, and the
//! history of an item's published versions.

use std::collections::{BTreeSet, HashMap};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value};

use super::drafts::{self, DraftSummary, Problem};
use super::model::{ITEM_TYPES, ItemDocument, THEMES};
use super::{CatalogError, VersionInfo};
use crate::AppState;
use crate::http::auth::Actor;
use crate::http::error::ApiError;
use crate::http::extract::Path;
use crate::http::pages::{PageContext, error_page, render};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/catalog/drafts", get(list))
        .route("/catalog/new", get(new_item).post(create))
        .route("/catalog/drafts/{code}", get(edit).post(submit))
        .route("/catalog/drafts/{code}/preview", get(preview))
        .route("/items/{code}/edit", post(open))
        .route("/items/{code}/history", get(history))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    LongText,
    Number,
    Choice,
    Checkboxes,
    /// A list of texts, one a line.
    Lines,
    /// Nested elements, as JSON.
    Json,
}

/// Every element of an item, in the order the editor shows them: (name, kind, 中文, English).
const FIELDS: [(&str, Kind, &str, &str); 25] = [
    ("implementation_code", Kind::Text, "实施编码", "Implementation code"),
    ("basic_code", Kind::Text, "基本编码", "Basic code"),
    ("name", Kind::Text, "事项名称", "Name"),
    ("item_type", Kind::Choice, "事项类型", "Type"),
    ("handling_kind", Kind::Choice, "办件类型", "Handling kind"),
    ("department_code", Kind::Choice, "实施部门", "Department"),
    ("level", Kind::Choice, "行使层级", "Level"),
    ("audiences", Kind::Checkboxes, "服务对象", "Audiences"),
    ("themes", Kind::Checkboxes, "主题", "Themes"),
    ("summary", Kind::LongText, "简介", "Summary"),
    ("legal_basis", Kind::Lines, "设定依据（每行一条）", "Legal basis (one a line)"),
    ("conditions", Kind::Lines, "受理条件（每行一条）", "Conditions (one a line)"),
    ("situations", Kind::Json, "办理情形（JSON）", "Situations (JSON)"),
    ("materials", Kind::Json, "申请材料（JSON）", "Materials (JSON)"),
    ("statutory_limit_days", Kind::Number, "法定时限（工作日）", "Statutory limit (working days)"),
    ("promised_limit_days", Kind::Number, "承诺时限（工作日）", "Promised limit (working days)"),
    ("fees", Kind::Json, "收费（JSON，单位：分）", "Fees (JSON, in fen)"),
    ("places", Kind::Json, "办理地点（JSON）", "Places (JSON)"),
    ("max_visits", Kind::Number, "最多跑动次数", "Visits at most"),
    ("online_depth", Kind::Number, "网办深度（1-4）", "Online depth (1-4)"),
    ("scope", Kind::Choice, "通办范围", "Scope"),
    ("steps", Kind::Json, "办理流程（JSON）", "Steps (JSON)"),
    ("faq", Kind::Json, "常见问题（JSON）", "FAQ (JSON)"),
    ("form", Kind::Json, "申请表字段（JSON）", "Form fields (JSON)"),
    ("keywords", Kind::Lines, "群众常用说法（每行一个）", "Residents' phrasings (one a line)"),
];

/// One field of the editor as the page shows it.
pub struct Row {
    pub name: &'static str,
    pub label: &'static str,
    kind: Kind,
    /// What the field holds: typed text, or for choices and checkboxes the chosen values.
    pub value: String,
    pub chosen: BTreeSet<String>,
    /// (value, label) of each choice.
    pub options: Vec<(String, String)>,
    pub problem: Option<String>,
    pub locked: bool,
}

impl Row {
    pub fn has(&self, value: &str) -> bool {
        self.chosen.contains(value)
    }

    pub fn is(&self, kind: &str) -> bool {
        let own = match self.kind {
            Kind::Text => "text",
            Kind::LongText => "long_text",
            Kind::Number => "number",
            Kind::Choice => "choice",
            Kind::Checkboxes => "checkboxes",
            Kind::Lines => "lines",
            Kind::Json => "json",
        };
        own == kind
    }
}

/// What a submitted editor form holds, field by field, exactly as typed.
#[derive(Default)]
struct Typed(HashMap<String, Vec<String>>);

impl Typed {
    fn parse(body: &[u8]) -> Typed {
        let mut fields: HashMap<String, Vec<String>> = HashMap::new();
        for (key, value) in form_urlencoded::parse(body) {
            fields.entry(key.into_owned()).or_default().push(value.into_owned());
        }
        Typed(fields)
    }

    fn one(&self, name: &str) -> &str {
        self.0.get(name).and_then(|v| v.first()).map_or("", String::as_str)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).cloned().unwrap_or_default()
    }

    /// The form as the page showed it for this item.
    fn of(item: &ItemDocument) -> Typed {
        let Ok(Value::Object(document)) = serde_json::to_value(item) else {
            return Typed::default();
        };
        let mut fields = HashMap::new();
        for (name, kind, _, _) in FIELDS {
            let value = &document[name];
            let texts = match (kind, value) {
                (Kind::Checkboxes, Value::Array(values)) => {
                    values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
                }
                (Kind::Lines, Value::Array(values)) => {
                    vec![values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("\n")]
                }
                (Kind::Json, value) => vec![serde_json::to_string_pretty(value).unwrap_or_default()],
                (_, Value::String(text)) => vec![text.clone()],
                (_, other) => vec![other.to_string()],
            };
            fields.insert(name.to_owned(), texts);
        }
        Typed(fields)
    }

    /// The item the form describes, or the first field that cannot be read.
    fn item(&self) -> Result<ItemDocument, Problem> {
        let mut document = Map::new();
        for (name, kind, _, _) in FIELDS {
            let problem = |message: &str| Problem { field: name.to_owned(), message: message.to_owned() };
            let text = self.one(name).replace("\r\n", "\n");
            let value = match kind {
                Kind::Text | Kind::LongText | Kind::Choice => Value::String(text.trim().to_owned()),
                Kind::Number => Value::from(
                    text.trim().parse::<u64>().map_err(|_| problem("应为非负整数 / a whole number, 0 or more"))?,
                ),
                Kind::Checkboxes => Value::from(self.all(name)),
                Kind::Lines => Value::from(text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>()),
                Kind::Json => serde_json::from_str(if text.trim().is_empty() { "[]" } else { &text })
                    .map_err(|e| problem(&format!("JSON 格式有误 / not valid JSON: {e}")))?,
            };
            document.insert(name.to_owned(), value);
        }
        serde_path_to_error::deserialize(Value::Object(document))
            .map_err(|e| Problem { field: e.path().to_string(), message: e.inner().to_string() })
    }
}

fn options(name: &str, page: &PageContext, departments: &[(String, String)]) -> Vec<(String, String)> {
    let pairs = |list: &[(&str, &str, &str)]| {
        list.iter().map(|(v, zh, en)| ((*v).to_owned(), page.pick(zh, en).to_owned())).collect()
    };
    match name {
        "item_type" => ITEM_TYPES.iter().map(|(c, n)| ((*c).to_owned(), format!("{c} {n}"))).collect(),
        "handling_kind" => pairs(&[("immediate", "即办件", "Immediate"), ("promised", "承诺件", "Promised")]),
        "level" => pairs(&[("city", "市级", "City"), ("district", "区级", "District")]),
        "scope" => pairs(&[
            ("national", "全国通办", "Nationwide"),
            ("cross_province", "跨省通办", "Across provinces"),
            ("cross_city", "跨市通办", "Across cities"),
            ("any_district", "全市通办", "Any district"),
            ("local", "属地办理", "Local"),
        ]),
        "audiences" => pairs(&[("person", "个人", "Residents"), ("legal_person", "法人", "Enterprises")]),
        "themes" => THEMES.iter().map(|(c, n)| ((*c).to_owned(), (*n).to_owned())).collect(),
        "department_code" => departments.iter().map(|(c, n)| (c.clone(), format!("{n}（{c}）"))).collect(),
        _ => Vec::new(),
    }
}

fn rows(
    typed: &Typed,
    problems: &[Problem],
    page: &PageContext,
    departments: &[(String, String)],
    new: bool,
) -> Vec<Row> {
    FIELDS
        .iter()
        .map(|(name, kind, zh, en)| {
            // A nested problem (`materials[2].copies`) shows at its top-level field.
            let problem = problems.iter().find(|p| {
                p.field == *name || p.field.strip_prefix(name).is_some_and(|rest| rest.starts_with(['[', '.']))
            });
            Row {
                name,
                label: page.pick(zh, en),
                kind: *kind,
                value: typed.one(name).to_owned(),
                chosen: typed.all(name).into_iter().collect(),
                options: options(name, page, departments),
                problem: problem.map(|p| format!("{}：{}", p.field, p.message)),
                locked: *name == "implementation_code" && !new,
            }
        })
        .collect()
}

#[derive(askama::Template)]
#[template(path = "editor.html")]
struct EditorPage<'a> {
    page: &'a PageContext,
    csrf_token: &'a str,
    /// None for a new item.
    code: Option<&'a str>,
    title: String,
    rows: Vec<Row>,
    problems: Vec<Problem>,
    based_on_version: Option<i64>,
    saved: bool,
    /// The form's own problem (unreadable field, refused publication), shown on top.
    alert: Option<String>,
}

/// Back-office pages need a signed-in user; others are sent to sign in.
fn sign_in_first() -> Response {
    Redirect::to("/login").into_response()
}

/// A draft the actor may see, with the departments they may move it to.
async fn draft_and_departments(
    state: &AppState,
    actor: &Actor,
    code: &str,
) -> Result<(drafts::Draft, Vec<(String, String)>), CatalogError> {
    Ok((drafts::get(&state.store, &actor.principal, code).await?, editable(state, actor).await?))
}

/// (code, name) of the departments whose items the actor may edit.
async fn editable(state: &AppState, actor: &Actor) -> Result<Vec<(String, String)>, CatalogError> {
    let allowed = drafts::editable_departments(&state.store, &actor.principal).await?;
    let mut departments = super::department_names(&state.store).await?;
    departments.retain(|(code, _)| allowed.contains(code));
    Ok(departments)
}

#[allow(clippy::too_many_arguments)]
fn editor(
    page: &PageContext,
    actor: &Actor,
    code: Option<&str>,
    typed: &Typed,
    problems: Vec<Problem>,
    departments: &[(String, String)],
    based_on_version: Option<i64>,
    saved: bool,
    alert: Option<String>,
) -> Response {
    let status = if alert.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let name = typed.one("name");
    let title = match code {
        Some(_) => format!("{}{}", page.pick("编辑：", "Edit: "), name),
        None => page.pick("新建事项", "New item").to_owned(),
    };
    let rows = rows(typed, &problems, page, departments, code.is_none());
    render(
        status,
        &EditorPage {
            page,
            csrf_token: actor.csrf_token(),
            code,
            title,
            rows,
            problems,
            based_on_version,
            saved,
            alert,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "drafts.html")]
struct DraftsPage<'a> {
    page: &'a PageContext,
    drafts: Vec<DraftSummary>,
}

async fn list(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    match drafts::list(&state.store, &actor.principal).await {
        Ok(drafts) => render(StatusCode::OK, &DraftsPage { page: &page, drafts }),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn new_item(State(state): State<AppState>, page: PageContext) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    match editable(&state, actor).await {
        Ok(departments) if departments.is_empty() => error_page(&page, &ApiError::Forbidden),
        Ok(departments) => editor(&page, actor, None, &Typed::default(), Vec::new(), &departments, None, false, None),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn create(State(state): State<AppState>, page: PageContext, body: Bytes) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    let typed = Typed::parse(&body);
    if let Err(e) = actor.check_form_csrf(typed.one("csrf_token")) {
        return error_page(&page, &e);
    }
    let departments = match editable(&state, actor).await {
        Ok(d) => d,
        Err(e) => return error_page(&page, &e.into()),
    };
    let refuse = |problem: Problem| {
        let alert = format!("{}：{}", problem.field, problem.message);
        editor(&page, actor, None, &typed, vec![problem], &departments, None, false, Some(alert))
    };
    let item = match typed.item() {
        Ok(item) => item,
        Err(problem) => return refuse(problem),
    };
    let code = item.implementation_code.clone();
    match drafts::save(&state.store, &actor.principal, &code, item).await {
        Ok(_) => Redirect::to(&format!("/catalog/drafts/{code}?saved=1")).into_response(),
        Err(CatalogError::Invalid { problem, .. }) => refuse(problem.into()),
        Err(CatalogError::Duplicate(_)) => refuse(Problem {
            field: "implementation_code".into(),
            message: page
                .pick("该编码的事项已存在，请从其指南页进入编辑", "already in the catalogue: edit it from its guide")
                .into(),
        }),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn open(State(state): State<AppState>, page: PageContext, Path(code): Path<String>, body: Bytes) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    if let Err(e) = actor.check_form_csrf(Typed::parse(&body).one("csrf_token")) {
        return error_page(&page, &e);
    }
    match drafts::open(&state.store, &actor.principal, &code).await {
        Ok(_) => Redirect::to(&format!("/catalog/drafts/{code}")).into_response(),
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn edit(
    State(state): State<AppState>,
    page: PageContext,
    Path(code): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    let (draft, departments) = match draft_and_departments(&state, actor, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    let saved = uri.query().is_some_and(|q| q.contains("saved=1"));
    let typed = Typed::of(&draft.item);
    editor(&page, actor, Some(&code), &typed, draft.problems, &departments, draft.based_on_version, saved, None)
}

/// Saves the form, then publishes or discards the draft when asked.
async fn submit(State(state): State<AppState>, page: PageContext, Path(code): Path<String>, body: Bytes) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    let typed = Typed::parse(&body);
    if let Err(e) = actor.check_form_csrf(typed.one("csrf_token")) {
        return error_page(&page, &e);
    }
    let (draft, departments) = match draft_and_departments(&state, actor, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    if typed.one("action") == "discard" {
        return match drafts::discard(&state.store, &actor.principal, &code).await {
            Ok(()) => Redirect::to("/catalog/drafts").into_response(),
            Err(e) => error_page(&page, &e.into()),
        };
    }
    let refuse = |problems: Vec<Problem>, alert: String| {
        editor(&page, actor, Some(&code), &typed, problems, &departments, draft.based_on_version, false, Some(alert))
    };
    let item = match typed.item() {
        Ok(item) => item,
        Err(problem) => {
            let alert = format!("{}：{}", problem.field, problem.message);
            return refuse(vec![problem], alert);
        }
    };
    let saved = match drafts::save(&state.store, &actor.principal, &code, item).await {
        Ok(saved) => saved,
        Err(CatalogError::Invalid { problem, .. }) => {
            let alert = format!("{}：{}", problem.field, problem.message);
            return refuse(vec![problem.into()], alert);
        }
        Err(e) => return error_page(&page, &e.into()),
    };
    if typed.one("action") != "publish" {
        return Redirect::to(&format!("/catalog/drafts/{code}?saved=1")).into_response();
    }
    if !saved.problems.is_empty() {
        let alert = page
            .pick("草稿已保存，但还有问题需要修改后才能发布", "Saved, but fix the problems below to publish")
            .to_owned();
        return refuse(saved.problems, alert);
    }
    match drafts::publish_draft(&state.store, &actor.principal, &code).await {
        Ok(_) => {
            state.catalogue_published().await;
            Redirect::to(&format!("/items/{code}")).into_response()
        }
        Err(CatalogError::Stale { .. }) => {
            let alert = page.pick(
                "该事项在您编辑期间已被他人发布新版本。请查看历史版本，放弃本草稿后重新编辑。",
                "Someone published this item while you edited it. See its history, discard this draft and edit again.",
            );
            refuse(Vec::new(), alert.to_owned())
        }
        Err(e) => error_page(&page, &e.into()),
    }
}

async fn preview(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    let Some(actor) = page.actor.as_ref() else {
        return sign_in_first();
    };
    match drafts::get(&state.store, &actor.principal, &code).await {
        Ok(draft) => super::pages::guide_page(&page, &draft.item, super::pages::Showing::Draft),
        Err(e) => error_page(&page, &e.into()),
    }
}

#[derive(askama::Template)]
#[template(path = "history.html")]
struct HistoryPage<'a> {
    page: &'a PageContext,
    code: &'a str,
    name: &'a str,
    versions: Vec<(VersionInfo, Vec<String>)>,
}

/// Every published version of an item with its author, time and the elements it changed.
async fn history(State(state): State<AppState>, page: PageContext, Path(code): Path<String>) -> Response {
    let (item, _) = match super::published(&state.store, &code).await {
        Ok(found) => found,
        Err(e) => return error_page(&page, &e.into()),
    };
    match super::history(&state.store, &code).await {
        Ok(versions) => render(StatusCode::OK, &HistoryPage { page: &page, code: &code, name: &item.name, versions }),
        Err(e) => error_page(&page, &e.into()),
    }
}
