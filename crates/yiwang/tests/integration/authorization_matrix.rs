//! The authorisation matrix: every operation of the OpenAPI document called as every kind of user
//! and anonymously, on real records of the demo city made in the test's setup, with a valid body,
//! so that each call reaches the authorisation decision instead of stopping at input validation or
//! a made-up id. The outcome table is a reviewed snapshot (`snapshots/…authorization_matrix.snap`):
//! a new operation that takes a path parameter or a body and has no entry in [`ENTRIES`] fails the
//! test, a new one without either adds a row to the table (called as it is), an entry or a
//! [`NOT_CALLED`] line for an operation the document no longer has fails it, and a check removed or
//! loosened changes a cell — each fails until someone looks at the table and accepts it.
//!
//! Rows: one per operation, or one per record in a scope (香洲 vs 斗门, one department vs another)
//! where the scope decides; the label in parentheses names the record. Cells:
//! - `✓` let through: the operation's own answer (a result, or 409/422 because an earlier column
//!   already took the step or the record's state does not allow it — the role was not refused);
//! - `✗` refused (403);
//! - `-` not signed in (401);
//! - `·` the record is not visible to this user (404 on a real record);
//! - `m` the record is shown with its personal fields masked (the marker named for the row, e.g.
//!   an ID number or a phone, is not in the answer).
//!
//! Writes that only one column can take (deleting a draft, revoking an app, deciding a grant) get
//! a record of their own per column, so the order of the columns does not change a cell. Sign-in
//! is called without the column's cookies (it would replace the column's session); its row says
//! only that it is open to everyone.

use std::fmt::Write;

use reqwest::Method;
use serde_json::{Value, json};
use yiwang::demo::{DEMO_ENTERPRISES, DEMO_RESIDENTS};

use crate::exchange::enterprise_resource;
use crate::support::{Session, TestApp};

/// One account per kind of user: each staff role in its demo department, staff of the
/// departments that own the records below, a resident, an enterprise, and (last) nobody.
const USERS: &[(&str, &str)] = &[
    ("admin", "admin"),
    ("d.admin", "doumen_admin"),
    ("clerk", "clerk"),
    ("d.clerk", "doumen_clerk"),
    ("review", "reviewer"),
    ("p.rev", "police_reviewer"),
    ("oper", "operator"),
    ("disp", "dispatcher"),
    ("handl", "handler"),
    ("x.handl", "xiangzhou_handler"),
    ("g.handl", "gongbei_handler"),
    ("p.handl", "police_handler"),
    ("superv", "supervisor"),
    ("grid", "grid"),
    ("stew", "steward"),
    ("p.stew", "police_steward"),
    ("h.stew", "hrss_steward"),
    ("audit", "auditor"),
    ("editor", "police_editor"),
    ("iot", "iot"),
    ("resid", DEMO_RESIDENTS[0].0),
    ("enterp", DEMO_ENTERPRISES[0].0),
];

/// Columns: the users above and anonymous.
const COLUMNS: usize = USERS.len() + 1;

/// Operations not called, with the reason.
const NOT_CALLED: &[(&str, &str)] =
    &[("POST /api/auth/logout", "ends the caller's own session; sessions.rs covers it")];

/// A point inside the demo's 拱北社区第1网格 (香洲区).
const GONGBEI: (f64, f64) = (22.2180, 113.5470);

enum Body {
    None,
    Json(Value),
    Text(&'static str, String),
    Bytes(Vec<u8>),
}

/// One row: the path (one for all columns, or one per column), the body, and what a real record
/// shows.
struct Case {
    label: String,
    paths: Vec<String>,
    body: Body,
    /// A real record is named: a 404 means "not visible".
    record: bool,
    /// The personal value that shows only to those entitled to it.
    clear: Option<String>,
    /// Sent without the column's cookies: signing in would replace the column's session.
    cookieless: bool,
}

fn case(path: impl Into<String>, body: Body) -> Case {
    Case { label: String::new(), paths: vec![path.into()], body, record: false, clear: None, cookieless: false }
}

fn json_case(path: impl Into<String>, body: Value) -> Case {
    case(path, Body::Json(body))
}

/// A row on a real record in a scope, named by `label`.
fn record(label: &str, path: impl Into<String>, body: Body, clear: Option<&str>) -> Case {
    Case {
        label: label.into(),
        paths: vec![path.into()],
        body,
        record: true,
        clear: clear.map(str::to_owned),
        cookieless: false,
    }
}

/// A row whose every column acts on a record of its own.
fn per_column(label: &str, paths: Vec<String>, body: Body) -> Case {
    assert_eq!(paths.len(), COLUMNS, "{label}");
    Case { label: label.into(), paths, body, record: true, clear: None, cookieless: false }
}

/// The records made in the setup, whose ids and numbers the rows use.
struct Fixtures {
    /// A file the 香洲 resident uploaded.
    resident_upload: String,
    /// 斗门区政务服务数据管理局.
    doumen_department: i64,
    xiangzhou_resident: i64,
    doumen_resident: i64,
    xiangzhou_enterprise: i64,
    doumen_enterprise: i64,
    /// 临时救助 applications to 香洲区 (by a 香洲 resident) and to 斗门区 (by a 斗门 resident).
    xiangzhou_application: String,
    doumen_application: String,
    /// An ID card renewal taken to completion by the city's police, rated very dissatisfied.
    completed_application: String,
    rating: i64,
    rectification: i64,
    visit_token: String,
    xiangzhou_certificate: String,
    doumen_certificate: String,
    certificate_token: String,
    /// A complaint at 拱北 (香洲区, handled by the street) and a hotline call handled by a city
    /// department.
    gongbei_order: String,
    city_order: String,
    photo: String,
    /// An editor's draft of a police item and a new item's draft per column (to delete, to publish).
    police_item: String,
    police_draft: String,
    drafts_to_delete: Vec<String>,
    drafts_to_publish: Vec<String>,
    /// The police's population resource and the market's enterprise resource (made here).
    market_resource: String,
    /// A grant asked by the social-security bureau of the police's resource, pending.
    pending_grant: i64,
    /// An app of the social-security bureau to ask for grants.
    grant_app: i64,
    grants_to_decide: Vec<i64>,
    apps_to_revoke: Vec<i64>,
    own_tokens: Vec<String>,
    admin_token: i64,
    days_to_delete: Vec<String>,
    catalogue: Value,
    catalogue_csv: String,
    rule_item: String,
    rule: Value,
    workflow_item: String,
    workflow: Value,
    time_limits: Value,
    dispatch_category: String,
}

type Entry = (&'static str, fn(&Fixtures) -> Vec<Case>);

/// Every operation that takes a path parameter or a body, with the rows it gets. Operations with
/// neither are called as they are.
const ENTRIES: &[Entry] = &[
    ("GET /api/3/action/{action}", |_| vec![case("/api/3/action/package_list", Body::None)]),
    ("POST /api/3/action/{action}", |_| vec![json_case("/api/3/action/package_search", json!({"q": "企业"}))]),
    ("GET /api/action/{action}", |_| vec![case("/api/action/organization_list", Body::None)]),
    ("POST /api/action/{action}", |_| vec![json_case("/api/action/organization_list", json!({"all_fields": true}))]),
    ("GET /api/applications", |_| vec![case("/api/applications?department=440402-ZSJ", Body::None)]),
    ("POST /api/applications", |f| {
        vec![json_case("/api/applications", relief_application("440402-ZSJ", 0, &f.resident_upload))]
    }),
    ("GET /api/applications/{number}", |f| {
        vec![
            record("香洲 resident, 香洲区", format!("/api/applications/{}", f.xiangzhou_application), Body::None, None),
            record("斗门 resident, 斗门区", format!("/api/applications/{}", f.doumen_application), Body::None, None),
        ]
    }),
    ("POST /api/applications/{number}/actions/{action}", |f| {
        let accept = |n: &str| format!("/api/applications/{n}/actions/accept");
        let supplement = |n: &str| format!("/api/applications/{n}/actions/supplement");
        vec![
            record("accept, 香洲区", accept(&f.xiangzhou_application), Body::Json(json!({})), None),
            record("accept, 斗门区", accept(&f.doumen_application), Body::Json(json!({})), None),
            record(
                "supplement, 香洲区",
                supplement(&f.xiangzhou_application),
                Body::Json(json!({"materials": [{"material": "M4", "source": "shared_data"}]})),
                None,
            ),
        ]
    }),
    ("GET /api/applications/{number}/materials/{material}/file", |f| {
        vec![
            record(
                "香洲区",
                format!("/api/applications/{}/materials/M1/file", f.xiangzhou_application),
                Body::None,
                None,
            ),
            record("斗门区", format!("/api/applications/{}/materials/M1/file", f.doumen_application), Body::None, None),
        ]
    }),
    ("GET /api/applications/{number}/receipt", |f| {
        vec![
            record("香洲区", format!("/api/applications/{}/receipt", f.xiangzhou_application), Body::None, None),
            record("斗门区", format!("/api/applications/{}/receipt", f.doumen_application), Body::None, None),
        ]
    }),
    ("POST /api/auth/login", |_| {
        let body = json!({"login": "auditor", "password": yiwang::demo::DEMO_PASSWORD});
        vec![Case { cookieless: true, ..json_case("/api/auth/login", body) }]
    }),
    ("PUT /api/calendar/days/{date}", |_| {
        vec![json_case("/api/calendar/days/2030-06-03", json!({"kind": "holiday", "name": "测试假日"}))]
    }),
    ("DELETE /api/calendar/days/{date}", |f| {
        let paths = f.days_to_delete.iter().map(|d| format!("/api/calendar/days/{d}")).collect();
        vec![per_column("a day of its own", paths, Body::None)]
    }),
    ("POST /api/catalog/drafts", |f| {
        let mut item = draft_document(f);
        item["implementation_code"] = json!("11440400007027396L-1-000105990000-01");
        item["name"] = json!("矩阵测试事项");
        vec![json_case("/api/catalog/drafts", item)]
    }),
    ("GET /api/catalog/drafts/{code}", |f| {
        vec![record("police draft", format!("/api/catalog/drafts/{}", f.police_draft), Body::None, None)]
    }),
    ("PUT /api/catalog/drafts/{code}", |f| {
        let path = format!("/api/catalog/drafts/{}", f.police_draft);
        vec![record("police draft", path, Body::Json(draft_document(f)), None)]
    }),
    ("DELETE /api/catalog/drafts/{code}", |f| {
        let paths = f.drafts_to_delete.iter().map(|c| format!("/api/catalog/drafts/{c}")).collect();
        vec![per_column("police draft of its own", paths, Body::None)]
    }),
    ("POST /api/catalog/drafts/{code}/publish", |f| {
        let paths = f.drafts_to_publish.iter().map(|c| format!("/api/catalog/drafts/{c}/publish")).collect();
        vec![per_column("police draft of its own", paths, Body::Json(json!({})))]
    }),
    ("POST /api/catalog/import", |f| vec![json_case("/api/catalog/import", f.catalogue.clone())]),
    ("POST /api/catalog/import.csv", |f| {
        vec![case("/api/catalog/import.csv", Body::Text("text/csv", f.catalogue_csv.clone()))]
    }),
    ("GET /api/catalog/items/{code}", |f| vec![case(format!("/api/catalog/items/{}", f.police_item), Body::None)]),
    ("POST /api/catalog/items/{code}/draft", |f| {
        vec![record("police item", format!("/api/catalog/items/{}/draft", f.police_item), Body::Json(json!({})), None)]
    }),
    ("GET /api/catalog/items/{code}/versions", |f| {
        vec![case(format!("/api/catalog/items/{}/versions", f.police_item), Body::None)]
    }),
    ("GET /api/catalog/items/{code}/versions/{version}", |f| {
        vec![case(format!("/api/catalog/items/{}/versions/1", f.police_item), Body::None)]
    }),
    ("POST /api/certificates/verify", |f| {
        vec![json_case("/api/certificates/verify", json!({"token": f.certificate_token}))]
    }),
    ("GET /api/certificates/{id}", |f| {
        vec![
            record(
                "香洲 resident's",
                format!("/api/certificates/{}", f.xiangzhou_certificate),
                Body::None,
                Some(DEMO_RESIDENTS[0].0),
            ),
            record(
                "斗门 resident's",
                format!("/api/certificates/{}", f.doumen_certificate),
                Body::None,
                Some(DEMO_RESIDENTS[2].0),
            ),
        ]
    }),
    ("POST /api/certificates/{id}/revoke", |f| {
        let body = || Body::Json(json!({"reason": "矩阵测试"}));
        vec![
            record("香洲 resident's", format!("/api/certificates/{}/revoke", f.xiangzhou_certificate), body(), None),
            record("斗门 resident's", format!("/api/certificates/{}/revoke", f.doumen_certificate), body(), None),
        ]
    }),
    ("GET /api/certificates/{id}/uses", |f| {
        vec![
            record("香洲 resident's", format!("/api/certificates/{}/uses", f.xiangzhou_certificate), Body::None, None),
            record("斗门 resident's", format!("/api/certificates/{}/uses", f.doumen_certificate), Body::None, None),
        ]
    }),
    ("POST /api/enterprises", |_| {
        let (code, name, legal, phone, region) = DEMO_ENTERPRISES[1];
        vec![json_case(
            "/api/enterprises",
            json!({"credit_code": code, "name": name, "legal_representative": legal, "phone": phone,
                   "region_code": region, "password": "Matrix@2026"}),
        )]
    }),
    ("GET /api/enterprises/{id}", |f| {
        vec![
            record(
                "香洲 enterprise",
                format!("/api/enterprises/{}", f.xiangzhou_enterprise),
                Body::None,
                Some(DEMO_ENTERPRISES[0].3),
            ),
            record(
                "斗门 enterprise",
                format!("/api/enterprises/{}", f.doumen_enterprise),
                Body::None,
                Some(DEMO_ENTERPRISES[2].3),
            ),
        ]
    }),
    ("POST /api/evaluations/ratings/{id}/ruling", |f| {
        let body = json!({"ruling": "unfounded", "reason": "矩阵测试：评价与事实不符"});
        vec![record("police rating", format!("/api/evaluations/ratings/{}/ruling", f.rating), Body::Json(body), None)]
    }),
    ("GET /api/evaluations/tokens/{token}", |f| {
        vec![case(format!("/api/evaluations/tokens/{}", f.visit_token), Body::None)]
    }),
    ("POST /api/evaluations/tokens/{token}/ratings", |f| {
        vec![json_case(format!("/api/evaluations/tokens/{}/ratings", f.visit_token), json!({"level": "satisfied"}))]
    }),
    ("POST /api/evaluations/visits", |f| vec![json_case("/api/evaluations/visits", json!({"item": f.police_item}))]),
    ("GET /api/evaluations/{kind}/{reference}", |f| {
        let path = format!("/api/evaluations/application/{}", f.completed_application);
        vec![record("香洲 resident, police", path, Body::None, None)]
    }),
    ("POST /api/evaluations/{kind}/{reference}/ratings", |f| {
        let path = format!("/api/evaluations/application/{}/ratings", f.completed_application);
        vec![record("香洲 resident, police", path, Body::Json(json!({"level": "satisfied"})), None)]
    }),
    ("POST /api/exchange/apps", |_| {
        vec![json_case("/api/exchange/apps", json!({"name": "矩阵测试系统", "department_code": "440400-RSJ"}))]
    }),
    ("POST /api/exchange/apps/{id}/revoke", |f| {
        let paths = f.apps_to_revoke.iter().map(|id| format!("/api/exchange/apps/{id}/revoke")).collect();
        vec![per_column("social security app of its own", paths, Body::None)]
    }),
    ("POST /api/exchange/gateway/{code}/query", |_| {
        vec![json_case("/api/exchange/gateway/GA-RK-0001/query", json!({"reason": "核验"}))]
    }),
    ("GET /api/exchange/gateway/{code}/records/{key}", |_| {
        vec![case(format!("/api/exchange/gateway/GA-RK-0001/records/{}?reason=x", DEMO_RESIDENTS[0].0), Body::None)]
    }),
    ("POST /api/exchange/grants", |f| {
        let body = json!({"app_id": f.grant_app, "resource_code": "GA-RK-0001", "purpose": "矩阵测试",
                          "fields": ["name"], "clear_fields": [], "valid_until": valid_until()});
        vec![json_case("/api/exchange/grants", body)]
    }),
    ("GET /api/exchange/grants/{id}", |f| {
        vec![record("social security of police", format!("/api/exchange/grants/{}", f.pending_grant), Body::None, None)]
    }),
    ("POST /api/exchange/grants/{id}/decision", |f| {
        let paths = f.grants_to_decide.iter().map(|id| format!("/api/exchange/grants/{id}/decision")).collect();
        vec![per_column("social security of police, its own", paths, Body::Json(json!({"verdict": "approve"})))]
    }),
    ("POST /api/exchange/resources", |_| vec![json_case("/api/exchange/resources", enterprise_resource("T-MX-2"))]),
    ("GET /api/exchange/resources/{code}", |f| {
        vec![
            record("police", "/api/exchange/resources/GA-RK-0001", Body::None, None),
            record("market", format!("/api/exchange/resources/{}", f.market_resource), Body::None, None),
        ]
    }),
    ("PUT /api/exchange/resources/{code}", |f| {
        let path = format!("/api/exchange/resources/{}", f.market_resource);
        vec![record("market", path, Body::Json(enterprise_resource(&f.market_resource)), None)]
    }),
    ("GET /api/exchange/resources/{code}/calls", |f| {
        vec![
            record("police", "/api/exchange/resources/GA-RK-0001/calls", Body::None, None),
            record("market", format!("/api/exchange/resources/{}/calls", f.market_resource), Body::None, None),
        ]
    }),
    ("POST /api/exchange/resources/{code}/data", |f| {
        let csv = "credit_code,name,capital,contact\nC1,甲公司,120,张三\n".to_owned();
        let path = format!("/api/exchange/resources/{}/data", f.market_resource);
        vec![record("market", path, Body::Text("text/csv", csv), None)]
    }),
    ("POST /api/files", |_| vec![case("/api/files", Body::Bytes(b"%PDF-1.7\n% matrix\n".to_vec()))]),
    ("GET /api/ledger/leaves/{index}", |_| vec![case("/api/ledger/leaves/0", Body::None)]),
    ("GET /api/ledger/receipts/{index}", |_| vec![case("/api/ledger/receipts/0", Body::None)]),
    ("GET /api/opendata/datasets/{name}/rows.csv", |_| {
        vec![case("/api/opendata/datasets/scj-fr-0001/rows.csv", Body::None)]
    }),
    ("GET /api/opendata/datasets/{name}/rows.json", |_| {
        vec![case("/api/opendata/datasets/scj-fr-0001/rows.json", Body::None)]
    }),
    ("POST /api/rectifications/{id}/steps/{step}", |f| {
        let path = format!("/api/rectifications/{}/steps/verify", f.rectification);
        vec![record("verify, police", path, Body::Json(json!({"note": "已核实"})), None)]
    }),
    ("POST /api/residents", |_| {
        let (id_number, name, phone, region) = DEMO_RESIDENTS[1];
        vec![json_case(
            "/api/residents",
            json!({"id_number": id_number, "name": name, "phone": phone, "region_code": region,
                   "password": "Matrix@2026"}),
        )]
    }),
    ("GET /api/residents/{id}", |f| {
        vec![
            record(
                "香洲 resident",
                format!("/api/residents/{}", f.xiangzhou_resident),
                Body::None,
                Some(DEMO_RESIDENTS[0].0),
            ),
            record(
                "斗门 resident",
                format!("/api/residents/{}", f.doumen_resident),
                Body::None,
                Some(DEMO_RESIDENTS[2].0),
            ),
        ]
    }),
    ("GET /api/rules/{item}", |f| vec![record("police item", format!("/api/rules/{}", f.rule_item), Body::None, None)]),
    ("POST /api/rules/{item}", |f| {
        let body = json!({"situation": "S1", "table": f.rule["table"], "tests": f.rule["tests"]});
        vec![record("police item", format!("/api/rules/{}", f.rule_item), Body::Json(body), None)]
    }),
    ("POST /api/sensors/readings", |_| {
        vec![json_case(
            "/api/sensors/readings",
            json!({"device_id": "WL-XZ-0001", "type": "water_level", "value": 12.0}),
        )]
    }),
    ("POST /api/staff", |f| {
        let body = json!({"login": "matrix_clerk", "display_name": "矩阵 测试", "password": "Matrix@2026",
                          "roles": [{"department_id": f.doumen_department, "role": "window_clerk"}]});
        vec![record("a 斗门 window clerk", "/api/staff", Body::Json(body), None)]
    }),
    ("POST /api/tokens", |_| vec![json_case("/api/tokens", json!({"name": "矩阵测试"}))]),
    ("DELETE /api/tokens/{id}", |f| {
        vec![
            per_column("its own", f.own_tokens.iter().map(|id| format!("/api/tokens/{id}")).collect(), Body::None),
            record("admin's", format!("/api/tokens/{}", f.admin_token), Body::None, None),
        ]
    }),
    ("GET /api/workflows/{item}", |f| {
        vec![record("police item", format!("/api/workflows/{}", f.workflow_item), Body::None, None)]
    }),
    ("PUT /api/workflows/{item}", |f| {
        vec![record("police item", format!("/api/workflows/{}", f.workflow_item), Body::Json(f.workflow.clone()), None)]
    }),
    ("POST /api/workorders", |_| {
        vec![json_case("/api/workorders", json!({"request_type": "consult", "text": "请问办理居住证需要什么材料？"}))]
    }),
    ("PUT /api/workorders/settings/dispatch/{category}", |f| {
        let path = format!("/api/workorders/settings/dispatch/{}", f.dispatch_category);
        vec![json_case(path, json!({"department_code": "440400-CGJ", "territorial": true}))]
    }),
    ("PUT /api/workorders/settings/time-limits", |f| {
        vec![json_case("/api/workorders/settings/time-limits", f.time_limits.clone())]
    }),
    ("GET /api/workorders/{number}", |f| {
        vec![
            record("拱北 street", format!("/api/workorders/{}", f.gongbei_order), Body::None, Some("13800138001")),
            record("city housing", format!("/api/workorders/{}", f.city_order), Body::None, Some("13800138003")),
        ]
    }),
    ("POST /api/workorders/{number}/actions/{action}", |f| {
        let step = |n: &str, action: &str| format!("/api/workorders/{n}/actions/{action}");
        let note = || Body::Json(json!({"note": "请加快办理"}));
        vec![
            record("supervise, 拱北 street", step(&f.gongbei_order, "supervise"), note(), None),
            record("supervise, city housing", step(&f.city_order, "supervise"), note(), None),
            record("sign, 拱北 street", step(&f.gongbei_order, "sign"), Body::Json(json!({})), None),
            record("sign, city housing", step(&f.city_order, "sign"), Body::Json(json!({})), None),
            record(
                "dispatch, city housing",
                step(&f.city_order, "dispatch"),
                Body::Json(json!({"department": "440400-ZJJ"})),
                None,
            ),
        ]
    }),
    ("GET /api/workorders/{number}/photos/{sha256}", |f| {
        vec![record("拱北 street", format!("/api/workorders/{}/photos/{}", f.gongbei_order, f.photo), Body::None, None)]
    }),
    ("GET /ledger/tile/entries/{*index}", |_| vec![case("/ledger/tile/entries/000", Body::None)]),
    ("GET /ledger/tile/{level}/{*index}", |_| vec![case("/ledger/tile/0/000", Body::None)]),
];

fn valid_until() -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(30)).to_string()
}

fn catalogue_items() -> Vec<Value> {
    serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap()
}

fn item_code(department: &str, name: &str) -> String {
    let items = catalogue_items();
    let item = items.iter().find(|i| i["department_code"] == department && i["name"] == name).unwrap();
    item["implementation_code"].as_str().unwrap().to_owned()
}

fn draft_document(f: &Fixtures) -> Value {
    catalogue_items().into_iter().find(|i| i["implementation_code"] == f.police_draft.as_str()).unwrap()
}

/// An application for temporary relief (临时救助) to a district, by the demo resident `resident`.
fn relief_application(department: &str, resident: usize, sha256: &str) -> Value {
    let (id_number, name, phone, _) = DEMO_RESIDENTS[resident];
    let upload = json!({"source": "upload", "sha256": sha256});
    let material = |code: &str| {
        let mut m = upload.clone();
        m["material"] = json!(code);
        m
    };
    json!({
        "item": item_code(department, "临时救助申请"), "situation": "S1",
        "form": {"applicant_name": name, "id_number": id_number, "phone": phone, "difficulty": "突发疾病，医疗支出过大"},
        "materials": [material("M1"), material("M2"), material("M3"), {"material": "M4", "source": "shared_data"}]
    })
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

async fn upload(session: &Session, bytes: &[u8]) -> String {
    let response = send_raw(session, &Method::POST, "/api/files", "application/octet-stream", bytes.to_vec()).await;
    ok(response).await["sha256"].as_str().unwrap().to_owned()
}

async fn send_raw(
    session: &Session,
    method: &Method,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    session
        .client
        .request(method.clone(), format!("{}{path}", session.base))
        .header("x-csrf-token", &session.csrf)
        .header("content-type", content_type)
        .header("x-file-name", "scan")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn scalar(app: &TestApp, sql: &'static str, bind: &str) -> i64 {
    sqlx::query_scalar(sql).bind(bind).fetch_one(app.state.store.pool()).await.unwrap()
}

async fn certificate_of(app: &TestApp, id_number: &str) -> String {
    sqlx::query_scalar(
        "SELECT c.id FROM certificates c JOIN residents r ON r.account_id = c.holder_account_id \
         WHERE r.id_number = $1 ORDER BY c.id LIMIT 1",
    )
    .bind(id_number)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap()
}

/// Makes the records the rows use, through the API as the users who would make them.
async fn fixtures(app: &TestApp) -> Fixtures {
    let chen = app.login(DEMO_RESIDENTS[0].0).await;
    let huang = app.login(DEMO_RESIDENTS[2].0).await;
    let admin = app.login("admin").await;
    let police_editor = app.login("police_editor").await;

    // Applications for temporary relief, one to each district.
    let mut applications = Vec::new();
    for (session, department, resident) in [(&chen, "440402-ZSJ", 0), (&huang, "440403-ZSJ", 2)] {
        let sha256 = upload(session, format!("%PDF-1.7\n% {resident}\n").as_bytes()).await;
        let body = relief_application(department, resident, &sha256);
        applications
            .push(ok(session.post("/api/applications", &body).await).await["number"].as_str().unwrap().to_owned());
    }

    // An ID card renewal taken to completion by the city's police, then rated badly.
    let sha256 = upload(&chen, b"%PDF-1.7\n% old ID card\n").await;
    let (id_number, name, phone, _) = DEMO_RESIDENTS[0];
    let renewal = json!({
        "item": item_code("440400-GAJ", "居民身份证换领"), "situation": "S1",
        "form": {"applicant_name": name, "id_number": id_number, "phone": phone, "reason": "有效期满", "delivery": "邮政寄递"},
        "materials": [{"material": "M1", "source": "upload", "sha256": sha256},
                      {"material": "M2", "source": "shared_data"}, {"material": "M3", "source": "shared_data"}]
    });
    let completed = ok(chen.post("/api/applications", &renewal).await).await["number"].as_str().unwrap().to_owned();
    let city_clerk = app.login("city_clerk").await;
    for (who, action, body) in [
        (&city_clerk, "accept", json!({})),
        (&app.login("police_reviewer").await, "approve", json!({"reason": "符合条件"})),
        (&city_clerk, "complete", json!({"reason": "已寄出"})),
    ] {
        ok(who.post(&format!("/api/applications/{completed}/actions/{action}"), &body).await).await;
    }
    let bad = json!({"level": "very_dissatisfied", "text": "材料说明不清楚，跑了两次", "tags": ["materials"]});
    let rated = ok(chen.post(&format!("/api/evaluations/application/{completed}/ratings"), &bad).await).await;
    assert_eq!(rated["ratings"][0]["level"], "very_dissatisfied", "{rated}");
    let rating = scalar(
        app,
        "SELECT g.id FROM ratings g JOIN service_events e ON e.id = g.event_id \
                              WHERE e.reference = $1",
        &completed,
    )
    .await;
    let rectification = scalar(
        app,
        "SELECT r.id FROM rectifications r JOIN ratings g ON g.id = r.rating_id \
                                     JOIN service_events e ON e.id = g.event_id WHERE e.reference = $1",
        &completed,
    )
    .await;
    let visit = ok(app
        .login("clerk")
        .await
        .post("/api/evaluations/visits", &json!({"item": item_code("440400-GAJ", "居民身份证换领")}))
        .await)
    .await;
    let visit_token = visit["token"].as_str().unwrap_or_else(|| panic!("a token in {visit}")).to_owned();

    // Certificates held by a 香洲 and a 斗门 resident (from the demo), and one's verification token.
    let xiangzhou_certificate = certificate_of(app, DEMO_RESIDENTS[0].0).await;
    let doumen_certificate = certificate_of(app, DEMO_RESIDENTS[2].0).await;
    let certificate = ok(chen.get(&format!("/api/certificates/{xiangzhou_certificate}")).await).await;
    let certificate_token = certificate["token"].as_str().unwrap_or_default().to_owned();

    // Work orders: a complaint with a photo at 拱北 (the street handles it) and a hotline call the
    // city's housing bureau handles.
    let photo = upload(&chen, &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F', 0]).await;
    let categories = ok(chen.get("/api/workorders/categories").await).await;
    let enforcement = categories.as_array().unwrap().iter().find(|c| c["name"] == "城管执法").unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let complaint = json!({"request_type": "complaint", "text": "迎宾南路人行道上有流动摊贩占道经营，影响行人通行",
        "category": enforcement, "location": {"lat": GONGBEI.0, "lon": GONGBEI.1}, "address": "拱北迎宾南路",
        "photos": [photo]});
    let gongbei_order = ok(chen.post("/api/workorders", &complaint).await).await["number"].as_str().unwrap().to_owned();
    let call = json!({"request_type": "complaint",
        "text": "我们小区的物业公司未经业主同意，占用公共绿地改成停车位并收取停车费，业主多次反映物业都不理睬，请住建部门查处。",
        "caller": {"kind": "resident", "name": "黄建国", "phone": "13800138003"}, "address": "香洲区拱北迎宾南路某小区"});
    let operator = app.login("operator").await;
    let city_order = ok(operator.post("/api/workorders", &call).await).await["number"].as_str().unwrap().to_owned();

    // Catalogue drafts of police items: one to read and edit, and per column one new item to
    // delete and one to publish.
    let police_item = item_code("440400-GAJ", "居民身份证换领");
    let police_draft = item_code("440400-GAJ", "户籍证明出具");
    ok(police_editor.post(&format!("/api/catalog/items/{police_draft}/draft"), &json!({})).await).await;
    let template = catalogue_items().into_iter().find(|i| i["implementation_code"] == police_draft.as_str()).unwrap();
    let new_draft = async |n: usize| {
        let mut item = template.clone();
        let code = format!("11440400007027396L-1-0001059{n:02}000-01");
        item["implementation_code"] = json!(code);
        item["name"] = json!(format!("矩阵测试事项{n}"));
        ok(police_editor.post("/api/catalog/drafts", &item).await).await;
        code
    };
    let mut drafts_to_delete = Vec::new();
    let mut drafts_to_publish = Vec::new();
    for i in 0..COLUMNS {
        drafts_to_delete.push(new_draft(i).await);
        drafts_to_publish.push(new_draft(COLUMNS + i).await);
    }

    // Data exchange: the market's resource, the social-security bureau's apps and its grant
    // requests for the police's population resource.
    let market = app.login("market_steward").await;
    let market_resource = "T-MX-1".to_owned();
    ok(market.post("/api/exchange/resources", &enterprise_resource(&market_resource)).await).await;
    let hrss = app.login("hrss_steward").await;
    let new_app = async || {
        let body = json!({"name": "矩阵测试系统", "department_code": "440400-RSJ"});
        ok(hrss.post("/api/exchange/apps", &body).await).await["app"]["id"].as_i64().unwrap()
    };
    let mut apps_to_revoke = Vec::new();
    let mut grants_to_decide = Vec::new();
    for _ in 0..=COLUMNS {
        apps_to_revoke.push(new_app().await);
    }
    for _ in 0..=COLUMNS {
        let app_id = new_app().await;
        let request = json!({"app_id": app_id, "resource_code": "GA-RK-0001", "purpose": "社会保险参保登记核验身份",
            "fields": ["name"], "clear_fields": [], "valid_until": valid_until()});
        grants_to_decide.push(ok(hrss.post("/api/exchange/grants", &request).await).await["id"].as_i64().unwrap());
    }
    let pending_grant = grants_to_decide.pop().unwrap();
    let grant_app = new_app().await;
    apps_to_revoke.pop();

    // Tokens: one of each signed-in column's own, and the admin's.
    let mut own_tokens = Vec::new();
    for (_, login) in USERS {
        let session = app.login(login).await;
        let response = session.post("/api/tokens", &json!({"name": "矩阵"})).await;
        let created: Value = response.json().await.unwrap();
        own_tokens.push(created["token"]["id"].as_i64().map(|id| id.to_string()).unwrap_or_else(|| "0".into()));
    }
    own_tokens.push(own_tokens[0].clone());
    let admin_token =
        ok(admin.post("/api/tokens", &json!({"name": "管理"})).await).await["token"]["id"].as_i64().unwrap();

    // Calendar days to delete, one per column.
    let mut days_to_delete = Vec::new();
    for i in 0..COLUMNS {
        let day = chrono::NaiveDate::from_ymd_opt(2030, 3, 1).unwrap() + chrono::Duration::days(i as i64);
        let day = day.to_string();
        ok(admin
            .send(Method::PUT, &format!("/api/calendar/days/{day}"), Some(&json!({"kind": "holiday", "name": "测试"})))
            .await)
        .await;
        days_to_delete.push(day);
    }

    let catalogue = ok(admin.get("/api/catalog/export").await).await;
    let catalogue_csv = admin.get("/api/catalog/export.csv").await.text().await.unwrap();
    let rule: Value = serde_json::from_str(include_str!("../../demo/rules/vehicle_licence.json")).unwrap();
    let rule_item = rule["item"].as_str().unwrap().to_owned();
    let workflow_item = police_item.clone();
    let workflow = ok(police_editor.get(&format!("/api/workflows/{workflow_item}")).await).await;
    let time_limits = ok(admin.get("/api/workorders/settings/time-limits").await).await;

    Fixtures {
        resident_upload: upload(&chen, b"%PDF-1.7\n% relief\n").await,
        doumen_department: scalar(app, "SELECT id FROM departments WHERE code = $1", "440403-ZSJ").await,
        xiangzhou_resident: app.resident_id(DEMO_RESIDENTS[0].0).await,
        doumen_resident: app.resident_id(DEMO_RESIDENTS[2].0).await,
        xiangzhou_enterprise: scalar(app, "SELECT id FROM enterprises WHERE credit_code = $1", DEMO_ENTERPRISES[0].0)
            .await,
        doumen_enterprise: scalar(app, "SELECT id FROM enterprises WHERE credit_code = $1", DEMO_ENTERPRISES[2].0)
            .await,
        xiangzhou_application: applications[0].clone(),
        doumen_application: applications[1].clone(),
        completed_application: completed,
        rating,
        rectification,
        visit_token,
        xiangzhou_certificate,
        doumen_certificate,
        certificate_token,
        gongbei_order,
        city_order,
        photo,
        police_item,
        police_draft,
        drafts_to_delete,
        drafts_to_publish,
        market_resource,
        pending_grant,
        grant_app,
        grants_to_decide,
        apps_to_revoke,
        own_tokens,
        admin_token,
        days_to_delete,
        catalogue,
        catalogue_csv,
        rule_item,
        rule,
        workflow_item,
        workflow,
        time_limits,
        dispatch_category: enforcement,
    }
}

fn cell(status: u16, body: &str, case: &Case) -> &'static str {
    match (status, case.record, &case.clear) {
        (401, ..) => "-",
        (403, ..) => "✗",
        (404, true, _) => "·",
        (200..=299, _, Some(clear)) if !body.contains(clear.as_str()) => "m",
        _ => "✓",
    }
}

async fn call(session: &Session, method: &Method, path: &str, body: &Body) -> (u16, String) {
    let response = match body {
        Body::None => session.send(method.clone(), path, None).await,
        Body::Json(value) => session.send(method.clone(), path, Some(value)).await,
        Body::Text(content_type, text) => {
            send_raw(session, method, path, content_type, text.clone().into_bytes()).await
        }
        Body::Bytes(bytes) => send_raw(session, method, path, "application/octet-stream", bytes.clone()).await,
    };
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert!(status < 500, "{method} {path}: {status} {text}");
    (status, text)
}

#[tokio::test]
async fn every_operation_as_every_kind_of_user() {
    let app = TestApp::demo().await;
    let f = fixtures(&app).await;
    let mut sessions = Vec::new();
    for (_, login) in USERS {
        sessions.push(app.login(login).await);
    }
    sessions.push(app.anonymous());
    let mut table = format!("{:<78}", "operation");
    for (short, _) in USERS {
        write!(table, "{short:>8}").unwrap();
    }
    writeln!(table, "{:>8}", "anon").unwrap();

    let document: Value = app.anonymous().get("/api/openapi.json").await.json().await.unwrap();
    let mut seen = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            seen.push(name.clone());
            if NOT_CALLED.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let entry = ENTRIES.iter().find(|(n, _)| *n == name);
            let cases = match entry {
                Some((_, cases)) => cases(&f),
                None => {
                    assert!(
                        !path.contains('{') && operation.get("requestBody").is_none(),
                        "{name} takes a path parameter or a body: give it an entry in ENTRIES"
                    );
                    vec![case(path.clone(), Body::None)]
                }
            };
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for case in &cases {
                let label = if case.label.is_empty() { name.clone() } else { format!("{name} ({})", case.label) };
                write!(table, "{label:<78}").unwrap();
                for (i, session) in sessions.iter().enumerate() {
                    let path = &case.paths[if case.paths.len() == 1 { 0 } else { i }];
                    let fresh;
                    let session = if case.cookieless {
                        fresh = app.anonymous();
                        &fresh
                    } else {
                        session
                    };
                    let (status, text) = call(session, &method, path, &case.body).await;
                    write!(table, "{:>8}", cell(status, &text, case)).unwrap();
                }
                table.push('\n');
            }
        }
    }
    for name in ENTRIES.iter().map(|(n, _)| n).chain(NOT_CALLED.iter().map(|(n, _)| n)) {
        assert!(seen.contains(&(*name).to_owned()), "{name} is not an operation of the document any more");
    }
    insta::assert_snapshot!("authorization_matrix", table);
    app.stop().await;
}
