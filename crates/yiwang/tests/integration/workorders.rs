//! Work orders (工单): intake by every channel, automatic dispatch by category and grid,
//! department handling, callback and re-handling, time limits, supervision, sensors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, expect_error};

/// A point inside the demo's 拱北社区第1网格.
const GONGBEI: (f64, f64) = (22.2180, 113.5470);

async fn created(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn step(number: &str, action: &str) -> String {
    format!("/api/workorders/{number}/actions/{action}")
}

#[tokio::test]
async fn a_call_is_dispatched_by_itself_handled_replied_rated_and_rehandled_once() {
    let app = TestApp::demo().await;
    let operator = app.login("operator").await;
    let call = json!({
        "request_type": "complaint",
        "text": "我们小区的物业公司未经业主同意，占用公共绿地改成停车位并收取停车费，业主多次反映物业都不理睬，请住建部门查处。",
        "caller": {"kind": "resident", "name": "陈晓红", "phone": "13800138001"},
        "address": "香洲区拱北迎宾南路某小区",
    });
    let order = created(operator.post("/api/workorders", &call).await).await;
    let number = order["number"].as_str().unwrap();
    assert!(number.starts_with("GD440400-"), "{number}");
    assert_eq!(order["channel"], "hotline");
    assert_eq!(order["state"], "dispatched", "{order}");
    assert_eq!(order["department"]["code"], "440400-ZJJ");
    assert_eq!(order["category"], "城乡建设");
    assert!(order["suggestions"][0]["confidence"].as_f64().unwrap() >= 0.6);
    assert_eq!(order["timeline"][1]["action"], "dispatch");
    assert_eq!(order["timeline"][1]["actor"], Value::Null, "the system dispatched it");
    assert!(order["deadline"].is_string(), "a complaint runs 15 working days");

    // The operator sees the caller's history by phone.
    let history = ok(operator.get("/api/workorders?phone=13800138001").await).await;
    assert!(history.as_array().unwrap().iter().any(|o| o["number"] == number));

    // Another department's handler does not see it; the competent one signs for it and replies.
    let other = app.login("handler").await;
    expect_error(other.get(&format!("/api/workorders/{number}")).await, 404, "not_found", None).await;
    let handler = app.login("housing_handler").await;
    let seen = ok(handler.get(&format!("/api/workorders/{number}")).await).await;
    assert_eq!(seen["requester"]["phone"], "13800138001", "the handling department may call back");
    expect_error(handler.post(&step(number, "reply"), &json!({"note": "已处理"})).await, 409, "wrong_state", None)
        .await;
    ok(handler.post(&step(number, "sign"), &json!({})).await).await;
    ok(handler.post(&step(number, "progress"), &json!({"note": "已约谈物业公司"})).await).await;
    expect_error(handler.post(&step(number, "reply"), &json!({})).await, 422, "invalid_workorder", Some("note")).await;
    ok(handler.post(&step(number, "reply"), &json!({"note": "已责令物业恢复绿地并退还停车费"})).await).await;
    let closed = ok(handler.post(&step(number, "close"), &json!({})).await).await;
    assert_eq!(closed["state"], "closed");

    // Callback: dissatisfied, re-handled once, and not twice.
    ok(operator.post(&step(number, "rate"), &json!({"satisfaction": "dissatisfied"})).await).await;
    let reopened = ok(operator.post(&step(number, "reopen"), &json!({"note": "停车费未退"})).await).await;
    assert_eq!(reopened["state"], "dispatched");
    assert_eq!(reopened["reopened"], true);
    ok(handler.post(&step(number, "sign"), &json!({})).await).await;
    ok(handler.post(&step(number, "reply"), &json!({"note": "停车费已全部退还"})).await).await;
    ok(handler.post(&step(number, "close"), &json!({})).await).await;
    ok(operator.post(&step(number, "rate"), &json!({"satisfaction": "dissatisfied"})).await).await;
    expect_error(operator.post(&step(number, "reopen"), &json!({})).await, 422, "invalid_workorder", Some("action"))
        .await;
    let last = ok(operator.get(&format!("/api/workorders/{number}")).await).await;
    let actions: Vec<&str> =
        last["timeline"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "intake", "dispatch", "sign", "progress", "reply", "close", "rate", "reopen", "sign", "reply", "close",
            "rate"
        ]
    );
    // The statistics count it from the records.
    let supervisor = app.login("supervisor").await;
    let stats = ok(supervisor.get("/api/workorders/stats").await).await;
    assert_eq!(stats["orders"], 1);
    assert_eq!(stats["by_channel"]["hotline"], 1);
    assert_eq!(stats["by_category"]["城乡建设"], 1);
    assert_eq!(stats["on_time_rate"], 1.0);
    assert_eq!(stats["satisfaction_rate"], 0.0, "the last rating is dissatisfied");
    assert_eq!(stats["by_department"][0]["department"], "珠海市住房和城乡建设局");
    assert_eq!(stats["by_department"][0]["closed"], 1);
    expect_error(
        supervisor.get("/api/workorders/stats?from=2026-12-01&to=2026-11-01").await,
        422,
        "invalid_workorder",
        Some("to"),
    )
    .await;
    let resident = app.login("440402198503120024").await;
    expect_error(resident.get("/api/workorders/stats").await, 403, "forbidden", None).await;

    // Every step left an evidence leaf.
    let leaves: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_leaves WHERE subject = $1")
        .bind(format!("workorder:{number}"))
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(leaves, actions.len() as i64);
    app.stop().await;
}

#[tokio::test]
async fn a_grid_finding_goes_to_the_street_of_its_grid_and_a_report_hides_its_source() {
    let app = TestApp::demo().await;
    let grid = app.login("grid").await;
    let categories = ok(grid.get("/api/workorders/categories").await).await;
    let enforcement = categories
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "城管执法")
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .unwrap();
    let finding = json!({
        "request_type": "report",
        "text": "迎宾南路人行道上有流动摊贩占道经营，影响行人通行",
        "category": enforcement,
        "location": {"lat": GONGBEI.0, "lon": GONGBEI.1},
        "address": "拱北迎宾南路",
    });
    let order = created(grid.post("/api/workorders", &finding).await).await;
    let number = order["number"].as_str().unwrap();
    assert!(number.starts_with("GD440402-"), "numbered in the district of the place: {number}");
    assert_eq!(order["channel"], "grid");
    assert_eq!(order["state"], "dispatched");
    assert_eq!(order["grid_code"], "440402001001-01");
    assert_eq!(order["region_code"], "440402001001");
    assert_eq!(order["department"]["code"], "440402001-JB", "a matter of the place goes to its street");

    // The district's enforcement bureau does not see the street's order; the street's handler
    // does, without the reporter's name (举报).
    let district = app.login("xiangzhou_handler").await;
    expect_error(district.get(&format!("/api/workorders/{number}")).await, 404, "not_found", None).await;
    let street = app.login("gongbei_handler").await;
    let seen = ok(street.get(&format!("/api/workorders/{number}")).await).await;
    assert_eq!(seen["requester"]["masked"], true);
    assert_eq!(seen["requester"]["name"], "网*****", "the grid worker's name, masked: {}", seen["requester"]);

    // The same stall reported again nearby by a resident is suggested as a duplicate, merged, and
    // its requester follows the first order.
    let resident = app.login("440402198503120024").await;
    let again = json!({"request_type": "complaint", "text": "迎宾南路人行道上有摊贩占道经营，行人无法通行",
        "location": {"lat": GONGBEI.0 + 0.0002, "lon": GONGBEI.1}});
    let second = created(resident.post("/api/workorders", &again).await).await;
    let second_number = second["number"].as_str().unwrap();
    let dispatcher = app.login("dispatcher").await;
    let seen = ok(dispatcher.get(&format!("/api/workorders/{second_number}")).await).await;
    assert_eq!(seen["possible_duplicates"], json!([number]), "{seen}");
    let far = json!({"request_type": "complaint", "text": "迎宾南路人行道上有摊贩占道经营，行人无法通行",
        "location": {"lat": GONGBEI.0 + 0.003, "lon": GONGBEI.1}});
    let third = created(resident.post("/api/workorders", &far).await).await;
    let third_seen = ok(dispatcher.get(&format!("/api/workorders/{}", third["number"].as_str().unwrap())).await).await;
    assert!(
        !third_seen["possible_duplicates"].as_array().unwrap().iter().any(|n| n == number),
        "300 m away is another place"
    );
    let merged = ok(dispatcher.post(&step(second_number, "merge"), &json!({"into": number})).await).await;
    assert_eq!(merged["state"], "merged");
    assert_eq!(merged["merged_into"], number);
    let followed = ok(resident.get(&format!("/api/workorders/{number}")).await).await;
    assert_eq!(followed["state"], "dispatched", "the first requester's order, followed by the second requester");

    // An emergency is never queued.
    let fire = created(
        grid.post("/api/workorders", &json!({"request_type": "help", "text": "拱北商业街一间铺面着火了，冒出浓烟"}))
            .await,
    )
    .await;
    assert_eq!(fire["state"], "redirected");
    assert_eq!(fire["emergency"], "119");
    assert_eq!(fire["department"], Value::Null);
    assert_eq!(fire["deadline"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn an_unsure_order_waits_for_a_dispatcher_who_corrects_it_and_a_return_is_redispatched() {
    let app = TestApp::demo().await;
    let resident = app.login("440402198503120024").await;
    let order =
        created(resident.post("/api/workorders", &json!({"request_type": "suggestion", "text": "建议多一些"})).await)
            .await;
    let number = order["number"].as_str().unwrap();
    assert_eq!(order["state"], "pending", "too vague to dispatch: {order}");
    assert_eq!(order["channel"], "web");
    assert!(!order["suggestions"].as_array().unwrap().is_empty());

    let dispatcher = app.login("dispatcher").await;
    let queue = ok(dispatcher.get("/api/workorders?state=pending").await).await;
    assert!(queue.as_array().unwrap().iter().any(|o| o["number"] == number));
    let categories = ok(dispatcher.get("/api/workorders/categories").await).await;
    let environment = categories.as_array().unwrap().iter().find(|c| c["name"] == "环境保护").unwrap()["code"].clone();
    expect_error(
        dispatcher.post(&step(number, "dispatch"), &json!({"department": "nope"})).await,
        422,
        "invalid_workorder",
        Some("department"),
    )
    .await;
    let dispatched = ok(dispatcher
        .post(&step(number, "dispatch"), &json!({"department": "440400-CGJ", "category": environment}))
        .await)
    .await;
    assert_eq!(dispatched["state"], "dispatched");
    assert_eq!(dispatched["timeline"][1]["details"]["override"], true);

    let handler = app.login("handler").await;
    expect_error(handler.post(&step(number, "return"), &json!({})).await, 422, "invalid_workorder", Some("note")).await;
    let returned = ok(handler.post(&step(number, "return"), &json!({"note": "不属于城管职责"})).await).await;
    assert_eq!(returned["state"], "pending");
    assert_eq!(returned["returned"], true);
    let supervisor = app.login("supervisor").await;
    let board = ok(supervisor.get("/api/workorders/board").await).await;
    assert!(board["returned"]["orders"].as_array().unwrap().iter().any(|o| o["number"] == number));
    let again = ok(dispatcher.post(&step(number, "dispatch"), &json!({"department": "440400-SHJ"})).await).await;
    assert_eq!(again["department"]["code"], "440400-SHJ");

    // Overrides are kept for retraining.
    let corrections = yiwang::workorders::corrections(&app.state.store, &app.state.workorders).await.unwrap();
    assert_eq!(corrections.len(), 1);
    assert_eq!(corrections[0].label, "环境保护");
    app.stop().await;
}

fn china(datetime: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(&format!("{datetime}+08:00")).unwrap().to_utc()
}

#[tokio::test]
async fn enterprise_limits_alarms_extension_and_supervision() {
    let app = TestApp::demo().await;
    // Monday 23 Nov 2026, 10:00.
    app.state.clock.set(Some(china("2026-11-23T10:00:00")));
    let enterprise = app.login("91440400MA4UKKKK14").await;
    let request = json!({"request_type": "help", "text": "公司门前市政道路路灯损坏多日不亮，夜间员工出行不安全，请尽快维修",
        "category": null, "location": {"lat": GONGBEI.0, "lon": GONGBEI.1}});
    let order = created(enterprise.post("/api/workorders", &request).await).await;
    let number = order["number"].as_str().unwrap().to_owned();
    assert_eq!(order["requester"]["kind"], "enterprise");
    // "124": sign for within 1 working hour, done within 4 working days (Fri 27 Nov).
    assert_eq!(order["respond_by"], "2026-11-23T03:00:00Z");
    assert_eq!(order["deadline"], "2026-11-27T16:00:00Z");
    let dispatcher = app.login("dispatcher").await;
    if order["state"] == "pending" {
        ok(dispatcher.post(&step(&number, "dispatch"), &json!({"department": "440400-ZJJ"})).await).await;
    }

    // Not signed for by 11:00: the job raises red.
    app.state.clock.set(Some(china("2026-11-23T11:30:00")));
    let changed = yiwang::workorders::raise_alarms(&app.state.store, app.state.clock.now()).await.unwrap();
    assert!(changed >= 1);
    let supervisor = app.login("supervisor").await;
    let board = ok(supervisor.get("/api/workorders/board").await).await;
    assert!(board["overdue"]["orders"].as_array().unwrap().iter().any(|o| o["number"] == number), "{board}");

    // An extension is asked with a reason and approved by a supervisor: 3 more working days.
    let department = order["department"]["code"].as_str().unwrap_or("440400-ZJJ").to_owned();
    let handler_login = if department == "440400-CGJ" { "handler" } else { "housing_handler" };
    let handler = app.login(handler_login).await;
    ok(handler.post(&step(&number, "sign"), &json!({})).await).await;
    expect_error(
        handler.post(&step(&number, "request_extension"), &json!({"days": 40, "note": "x"})).await,
        422,
        "invalid_workorder",
        Some("days"),
    )
    .await;
    ok(handler.post(&step(&number, "request_extension"), &json!({"days": 3, "note": "需更换灯杆，等待配件"})).await)
        .await;
    let board = ok(supervisor.get("/api/workorders/board").await).await;
    assert!(board["extension_requests"]["orders"].as_array().unwrap().iter().any(|o| o["number"] == number));
    expect_error(handler.post(&step(&number, "approve_extension"), &json!({})).await, 403, "forbidden", None).await;
    let extended = ok(supervisor.post(&step(&number, "approve_extension"), &json!({})).await).await;
    assert_eq!(extended["deadline"], "2026-12-02T16:00:00Z");
    assert_eq!(extended["extension_requested"], Value::Null);
    let supervised = ok(supervisor.post(&step(&number, "supervise"), &json!({"note": "请加快办理"})).await).await;
    assert_eq!(supervised["supervised"], true);
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn sensor_alarms_open_one_order_per_continuing_alarm() {
    let app = TestApp::demo().await;
    let iot = app.login("iot").await;
    let below = ok(iot
        .post("/api/sensors/readings", &json!({"device_id": "WL-XZ-0001", "type": "water_level", "value": 12.0}))
        .await)
    .await;
    assert_eq!(below["outcome"], "below_threshold");
    let opened = ok(iot
        .post("/api/sensors/readings", &json!({"device_id": "WL-XZ-0001", "type": "water_level", "value": 42.5}))
        .await)
    .await;
    assert_eq!(opened["outcome"], "opened");
    let again = ok(iot
        .post("/api/sensors/readings", &json!({"device_id": "WL-XZ-0001", "type": "water_level", "value": 48.0}))
        .await)
    .await;
    assert_eq!(again["outcome"], "continuing");
    assert_eq!(again["workorder"], opened["workorder"]);
    expect_error(
        iot.post("/api/sensors/readings", &json!({"device_id": "WL-XZ-0001", "type": "noise", "value": 90.0})).await,
        422,
        "invalid_workorder",
        Some("type"),
    )
    .await;
    let someone = app.login("operator").await;
    expect_error(
        someone
            .post("/api/sensors/readings", &json!({"device_id": "WL-XZ-0001", "type": "water_level", "value": 50.0}))
            .await,
        403,
        "forbidden",
        None,
    )
    .await;
    let dispatcher = app.login("dispatcher").await;
    let order = ok(dispatcher.get(&format!("/api/workorders/{}", opened["workorder"].as_str().unwrap())).await).await;
    assert_eq!(order["channel"], "sensor");
    assert_eq!(order["grid_code"], "440402001001-01");
    assert_eq!(order["state"], "dispatched");
    assert_eq!(order["timeline"].as_array().unwrap().iter().filter(|e| e["action"] == "reading").count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_with_the_field_named() {
    let app = TestApp::demo().await;
    let resident = app.login("440402198503120024").await;
    let cases = [
        (json!({"request_type": "complaint"}), "text"),
        (json!({"request_type": "gossip", "text": "x"}), "request_type"),
        (json!({"request_type": "help", "text": " "}), "text"),
        (json!({"request_type": "help", "text": "x", "location": {"lat": 95.0, "lon": 113.0}}), "location.lat"),
        (json!({"request_type": "help", "text": "x", "category": "99"}), "category"),
        (json!({"request_type": "help", "text": "x", "photos": ["ab"]}), "photos[0]"),
        (json!({"request_type": "consult", "text": "x", "answer": "y"}), "answer"),
        (json!({"request_type": "help", "text": "x", "caller": {"kind": "resident"}}), "caller"),
    ];
    for (body, field) in cases {
        let response = resident.post("/api/workorders", &body).await;
        let status = response.status().as_u16();
        let error: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{body} -> {error}");
        assert_eq!(error["error"]["field"], field, "{body} -> {error}");
    }
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workorders").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(count, 0, "nothing half-written");
    app.stop().await;
}

#[tokio::test]
async fn open311_clients_list_services_post_requests_and_read_them_back() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let token = created(admin.post("/api/tokens", &json!({"name": "fixmystreet"})).await).await;
    let api_key = token["secret"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let services: Value = http.get(app.url("/open311/v2/services.json")).send().await.unwrap().json().await.unwrap();
    let facility = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_name"] == "城市公共设施" && s["metadata"] == "true")
        .expect("a service with attributes")
        .clone();
    let code = facility["service_code"].as_str().unwrap();
    let definition: Value =
        http.get(app.url(&format!("/open311/v2/services/{code}.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(definition["attributes"][0]["code"], "facility");

    let url = app.url("/open311/v2/requests.json");
    let post = async |form: Vec<(&'static str, String)>| http.post(&url).form(&form).send().await.unwrap();
    let base = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("api_key", api_key.clone()),
            ("service_code", code.to_owned()),
            ("description", "路灯不亮".to_owned()),
        ];
        form.extend(extra);
        form
    };
    let missing = post(base(vec![("attribute[facility]", "streetlight".into())])).await;
    assert_eq!(missing.status(), 400);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error[0]["code"], 400);
    assert!(error[0]["description"].as_str().unwrap().contains("location"));
    let unknown = post(vec![
        ("api_key", api_key.clone()),
        ("service_code", "9999".into()),
        ("lat", "22.2".into()),
        ("long", "113.5".into()),
    ])
    .await;
    assert_eq!(unknown.status(), 404);
    let no_key = post(vec![("service_code", code.to_owned()), ("lat", "22.2".into()), ("long", "113.5".into())]).await;
    assert_eq!(no_key.status(), 403);

    let response = post(base(vec![
        ("lat", GONGBEI.0.to_string()),
        ("long", GONGBEI.1.to_string()),
        ("attribute[facility]", "streetlight".into()),
        ("first_name", "小明".into()),
        ("phone", "13800138009".into()),
    ]))
    .await;
    assert_eq!(response.status(), 201);
    let posted: Value = response.json().await.unwrap();
    let id = posted[0]["service_request_id"].as_str().unwrap().to_owned();
    let token = posted[0]["token"].as_str().unwrap();
    let by_token: Value =
        http.get(app.url(&format!("/open311/v2/tokens/{token}.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_token[0]["service_request_id"], id);
    let read: Value =
        http.get(app.url(&format!("/open311/v2/requests/{id}.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(read[0]["status"], "open");
    assert_eq!(read[0]["service_code"], code);
    assert_eq!(read[0]["agency_responsible"], "珠海市城市管理和综合执法局");
    assert!(!read.to_string().contains("13800138009"), "no contact in public data");
    let xml = http.get(app.url(&format!("/open311/v2/requests/{id}.xml"))).send().await.unwrap().text().await.unwrap();
    assert!(xml.contains(&format!("<service_request_id>{id}</service_request_id>")), "{xml}");
    let open: Value = http
        .get(app.url("/open311/v2/requests.json?status=open&page_size=10"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(open.as_array().unwrap().iter().any(|r| r["service_request_id"] == id));
    let closed: Value =
        http.get(app.url("/open311/v2/requests.json?status=closed")).send().await.unwrap().json().await.unwrap();
    assert!(!closed.as_array().unwrap().iter().any(|r| r["service_request_id"] == id));
    let bad = http.get(app.url("/open311/v2/requests.json?start_date=yesterday")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    let update = http
        .post(app.url("/open311/v2/servicerequestupdates.json"))
        .form(&[("api_key", api_key.as_str()), ("service_request_id", id.as_str()), ("description", "还是不亮")])
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 200);
    let updates: Value =
        http.get(app.url("/open311/v2/servicerequestupdates.json")).send().await.unwrap().json().await.unwrap();
    assert!(
        updates.as_array().unwrap().iter().any(|u| u["service_request_id"] == id && u["description"] == "还是不亮")
    );
    app.stop().await;
}

/// A PNG of about `bytes` bytes: the signature, then padding (the type is read from the first bytes).
fn png(bytes: usize) -> Vec<u8> {
    let mut data = b"\x89PNG\r\n\x1a\n".to_vec();
    data.resize(bytes, 0);
    data
}

#[tokio::test]
async fn photos_are_kept_with_the_order_and_oversize_ones_refused() {
    let app = TestApp::demo().await;
    let resident = app.login("440402198503120024").await;
    let upload = async |bytes: Vec<u8>| -> Value {
        let response = resident
            .client
            .post(app.url("/api/files"))
            .header("x-csrf-token", &resident.csrf)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .unwrap();
        created(response).await
    };
    let small = upload(png(20_000)).await["sha256"].as_str().unwrap().to_owned();
    let large = upload(png(6 * 1024 * 1024)).await["sha256"].as_str().unwrap().to_owned();
    let report = |photo: &str| json!({"request_type": "help", "text": "路边井盖破损", "photos": [photo]});
    expect_error(resident.post("/api/workorders", &report(&large)).await, 422, "invalid_workorder", Some("photos[0]"))
        .await;
    let order = created(resident.post("/api/workorders", &report(&small)).await).await;
    assert_eq!(order["photos"], json!([small]));
    let photo = resident.get(&format!("/api/workorders/{}/photos/{small}", order["number"].as_str().unwrap())).await;
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/png");

    // The report page refuses a photo over 5 MB and stores nothing.
    let boundary = "yiwangboundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"request_type\"\r\n\r\nhelp\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n路灯不亮\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"big.png\"\r\nContent-Type: image/png\r\n\r\n",
        resident.csrf
    )
    .into_bytes();
    body.extend(png(6 * 1024 * 1024));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let refused = resident
        .client
        .post(app.url("/report"))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workorders").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(count, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_city_admin_sets_time_limits_and_the_dispatch_catalogue() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let supervisor = app.login("supervisor").await;
    let put = reqwest::Method::PUT;

    // Supervisors read the settings but do not change them.
    let limits = ok(supervisor.get("/api/workorders/settings/time-limits").await).await;
    let complaint = |limits: &Value| {
        let all = limits.as_array().unwrap();
        all.iter().find(|l| l["request_type"] == "complaint" && l["requester_kind"] == "resident").cloned().unwrap()
    };
    assert_eq!(complaint(&limits)["handle_days"], 15, "Guangdong's default");
    let shorter =
        json!([{"request_type": "complaint", "requester_kind": "resident", "respond_hours": null, "handle_days": 5}]);
    let path = "/api/workorders/settings/time-limits";
    expect_error(supervisor.send(put.clone(), path, Some(&shorter)).await, 403, "forbidden", None).await;
    let zero = json!([{"request_type": "complaint", "requester_kind": "resident", "handle_days": 0}]);
    expect_error(admin.send(put.clone(), path, Some(&zero)).await, 422, "invalid_workorder", Some("[0].handle_days"))
        .await;

    // A complaint taken in after the change runs 5 working days instead of 15.
    let operator = app.login("operator").await;
    let call = json!({"request_type": "complaint", "text": "小区物业占用公共绿地改建停车位并收取停车费",
        "caller": {"kind": "resident", "phone": "13800138009"}});
    let before = created(operator.post("/api/workorders", &call).await).await;
    let set = ok(admin.send(put.clone(), path, Some(&shorter)).await).await;
    assert_eq!(complaint(&set)["handle_days"], 5);
    let after = created(operator.post("/api/workorders", &call).await).await;
    let deadline = |o: &Value| chrono::DateTime::parse_from_rfc3339(o["deadline"].as_str().unwrap()).unwrap();
    let days = (deadline(&before) - deadline(&after)).num_days();
    assert!((10..=16).contains(&days), "ten working days sooner: {days} calendar days");

    // 城管执法 is a matter of the place in the demo; the admin gives it to the city's bureau.
    let categories = ok(admin.get("/api/workorders/categories").await).await;
    let enforcement = categories.as_array().unwrap().iter().find(|c| c["name"] == "城管执法").unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let entry = format!("/api/workorders/settings/dispatch/{enforcement}");
    let both = json!({"department_code": "440400-CGJ", "territorial": true});
    expect_error(admin.send(put.clone(), &entry, Some(&both)).await, 422, "invalid_workorder", Some("territorial"))
        .await;
    let unknown = json!({"department_code": "NO-SUCH"});
    expect_error(
        admin.send(put.clone(), &entry, Some(&unknown)).await,
        422,
        "invalid_workorder",
        Some("department_code"),
    )
    .await;
    let city = json!({"department_code": "440400-CGJ"});
    expect_error(
        admin.send(put.clone(), "/api/workorders/settings/dispatch/99", Some(&city)).await,
        404,
        "not_found",
        None,
    )
    .await;
    let set = ok(admin.send(put.clone(), &entry, Some(&city)).await).await;
    assert_eq!(set["territorial"], false);
    let catalogue = ok(supervisor.get("/api/workorders/settings/dispatch").await).await;
    assert!(
        catalogue
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["category_code"] == enforcement.as_str() && e["department_code"] == "440400-CGJ")
    );
    let finding = json!({"request_type": "report", "text": "迎宾南路人行道上有流动摊贩占道经营，影响行人通行",
        "category": enforcement, "location": {"lat": GONGBEI.0, "lon": GONGBEI.1}});
    let order = created(app.login("grid").await.post("/api/workorders", &finding).await).await;
    assert_eq!(order["department"]["code"], "440400-CGJ", "dispatched by the new entry");

    // Each change is on the evidence log.
    let kinds: Vec<String> = sqlx::query_scalar("SELECT kind FROM ledger_leaves WHERE kind LIKE 'workorder.%_set'")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(kinds, ["workorder.time_limits_set", "workorder.dispatch_set"]);
    app.stop().await;
}

#[tokio::test]
async fn a_city_loads_its_own_category_tree() {
    let app = TestApp::demo().await;
    let tree = "code,name,level,parent_code\n01,城乡建设与管理,1,\n0199,智慧城市,2,01\n019901,城市大脑,3,0199\n";
    let loaded = yiwang::workorders::setup::load_categories(&app.state.store, tree).await.unwrap();
    assert_eq!(loaded, 3);
    app.state.workorders.reload(&app.state.store).await.unwrap();
    let categories = ok(app.anonymous().get("/api/workorders/categories").await).await;
    let find = |categories: &Value, code: &str| {
        categories.as_array().unwrap().iter().find(|c| c["code"] == code).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(find(&categories, "01")["name"], "城乡建设与管理", "renamed");
    assert_eq!(find(&categories, "019901")["parent_code"], "0199", "added under its parent");
    assert_eq!(find(&categories, "0101")["name"], "安全生产", "categories not in the file stay");

    // A tree with an orphan is refused, naming the line, and changes nothing.
    let orphan = "code,name,level,parent_code\n01,改名,1,\n029901,孤儿,3,0299\n";
    let refused = yiwang::workorders::setup::load_categories(&app.state.store, orphan).await.unwrap_err();
    assert!(refused.contains("line 3 (029901)"), "{refused}");
    app.state.workorders.reload(&app.state.store).await.unwrap();
    let categories = ok(app.anonymous().get("/api/workorders/categories").await).await;
    assert_eq!(find(&categories, "01")["name"], "城乡建设与管理");
    app.stop().await;
}

/// A row of `workorder_tallies`: region, day, dimension, value and the eight counts.
type TallyRow = (String, i64, String, String, i64, i64, i64, i64, i64, i64, i64, i64);

/// The statistics read running totals that every change of an order moves; after intake by
/// several channels, dispatch, return and redispatch to another department, closing, rating,
/// re-opening, merging and an emergency, they (and the open orders' places on the map) equal a
/// recount of the orders, row for row.
#[tokio::test]
async fn running_totals_agree_with_a_recount_of_the_orders() {
    let app = TestApp::demo().await;
    let operator = app.login("operator").await;
    let handler = app.login("housing_handler").await;
    let dispatcher = app.login("dispatcher").await;
    let resident = app.login("440402198503120024").await;
    let grid = app.login("grid").await;
    let call = json!({"request_type": "complaint",
        "text": "我们小区的物业公司未经业主同意，占用公共绿地改成停车位并收取停车费，请住建部门查处。",
        "caller": {"kind": "resident", "name": "陈晓红", "phone": "13800138001"}});
    let complaint = created(operator.post("/api/workorders", &call).await).await;
    let complaint = complaint["number"].as_str().unwrap();
    for (who, action, body) in [
        (&handler, "sign", json!({})),
        (&handler, "reply", json!({"note": "已责令恢复绿地"})),
        (&handler, "close", json!({})),
        (&operator, "rate", json!({"satisfaction": "dissatisfied"})),
        (&operator, "reopen", json!({"note": "未退费"})),
        (&handler, "sign", json!({})),
        (&handler, "reply", json!({"note": "已退费"})),
        (&handler, "close", json!({})),
        (&operator, "rate", json!({"satisfaction": "satisfied"})),
    ] {
        ok(who.post(&step(complaint, action), &body).await).await;
    }
    let vague =
        created(resident.post("/api/workorders", &json!({"request_type": "suggestion", "text": "建议多一些"})).await)
            .await;
    let vague = vague["number"].as_str().unwrap();
    ok(dispatcher.post(&step(vague, "dispatch"), &json!({"department": "440400-CGJ"})).await).await;
    ok(app.login("handler").await.post(&step(vague, "return"), &json!({"note": "不属于城管职责"})).await).await;
    let supervisor = app.login("supervisor").await;
    let board = ok(supervisor.get("/api/workorders/board").await).await;
    assert_eq!(board["returned"]["total"], 1, "{board}");
    ok(dispatcher.post(&step(vague, "dispatch"), &json!({"department": "440400-SHJ"})).await).await;
    let stall = json!({"request_type": "complaint", "text": "迎宾南路人行道上有摊贩占道经营，行人无法通行",
        "location": {"lat": GONGBEI.0, "lon": GONGBEI.1}});
    let first = created(grid.post("/api/workorders", &stall).await).await;
    let second = created(resident.post("/api/workorders", &stall).await).await;
    ok(dispatcher.post(&step(second["number"].as_str().unwrap(), "merge"), &json!({"into": first["number"]})).await)
        .await;
    let fire = json!({"request_type": "help", "text": "拱北商业街一间铺面着火了，冒出浓烟"});
    assert_eq!(created(grid.post("/api/workorders", &fire).await).await["state"], "redirected");

    let stats = ok(supervisor.get("/api/workorders/stats").await).await;
    assert_eq!(stats["orders"], 4, "the emergency is not counted: {stats}");
    assert_eq!(stats["by_channel"]["hotline"], 1);
    assert_eq!(stats["by_channel"]["web"], 2);
    assert_eq!(stats["by_channel"]["grid"], 1);
    assert_eq!(stats["satisfaction_rate"], 1.0, "only the last rating counts");
    let departments: Vec<(String, u64)> = stats["by_department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["department"].as_str().unwrap().to_owned(), d["orders"].as_u64().unwrap()))
        .collect();
    assert!(departments.contains(&("珠海市生态环境局".to_owned(), 1)), "moved with its redispatch: {departments:?}");
    assert_eq!(stats["open_by_grid"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 1);
    let point = &stats["open_points"][0];
    assert_eq!(point[2], 1.0, "one open order in its cell: {stats}");
    assert!(
        (point[0].as_f64().unwrap() - GONGBEI.1).abs() < 0.001
            && (point[1].as_f64().unwrap() - GONGBEI.0).abs() < 0.001
    );
    // A district's own figures are its share.
    let district = ok(app.login("doumen_admin").await.get("/api/workorders/stats").await).await;
    assert_eq!(district["orders"], 0, "{district}");

    let rows = || async {
        let rows: Vec<TallyRow> = sqlx::query_as(
            "SELECT region_code, day, dimension, value, orders, closed, on_time, timed, handled_ms, satisfied,
                    basically_satisfied, dissatisfied FROM workorder_tallies
             WHERE orders <> 0 OR closed <> 0 OR timed <> 0 OR satisfied <> 0 OR basically_satisfied <> 0
                OR dissatisfied <> 0
             ORDER BY region_code, day, dimension, value",
        )
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
        rows
    };
    let places = || async {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT region_code, dimension, value, orders FROM workorder_open_places WHERE orders <> 0
             ORDER BY region_code, dimension, value",
        )
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
        rows
    };
    let running = rows().await;
    assert!(running.iter().any(|r| r.0 == "440400" && r.2 == "channel" && r.3 == "web" && r.4 == 2), "{running:?}");
    let open = places().await;
    assert!(open.iter().any(|p| p.0 == "440402001001" && p.1 == "grid" && p.3 == 1), "{open:?}");
    let mut tx = app.state.store.begin_write().await.unwrap();
    yiwang::workorders::tallies::recount(&mut tx).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(running, rows().await);
    assert_eq!(open, places().await);
    assert_eq!(stats, ok(supervisor.get("/api/workorders/stats").await).await);
    app.stop().await;
}
