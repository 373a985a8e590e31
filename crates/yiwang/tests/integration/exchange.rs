//! Data exchange (一网共享) end to end over HTTP: the catalogue and uploads, apps and grants, the
//! gateway's grant check, field selection, masking, limits and call log, alerts, a resident's
//! view of who looked them up, and the CKAN-compatible open-data API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Session, TestApp, expect_error};
use yiwang::exchange::gateway::CallRecord;
use yiwang::exchange::pseudonym::unkeyed;

const CHEN: &str = "440402198503120024";

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// A new app of a department, registered by its steward; (id, token).
async fn new_app(steward: &Session, department: &str, rate_per_minute: i64) -> (i64, String) {
    let body = json!({"name": "测试业务系统", "department_code": department, "rate_per_minute": rate_per_minute});
    let response = steward.post("/api/exchange/apps", &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let answer: Value = response.json().await.unwrap();
    (answer["app"]["id"].as_i64().unwrap(), answer["token"].as_str().unwrap().to_owned())
}

async fn call(app: &TestApp, token: &str, path_and_query: &str) -> reqwest::Response {
    reqwest::Client::new().get(app.url(path_and_query)).bearer_auth(token).send().await.unwrap()
}

fn lookup_path(resource: &str, key: &str, reason: &str, fields: Option<&str>) -> String {
    let reason: String = form_urlencoded::byte_serialize(reason.as_bytes()).collect();
    let fields = fields.map(|f| format!("&fields={f}")).unwrap_or_default();
    format!("/api/exchange/gateway/{resource}/records/{key}?reason={reason}{fields}")
}

fn valid_until(days: i64) -> String {
    (chrono::Utc::now().date_naive() + chrono::Duration::days(days)).to_string()
}

async fn grant(session: &Session, app_id: i64, resource: &str, fields: &[&str], clear: &[&str]) -> Value {
    let request = json!({"app_id": app_id, "resource_code": resource, "purpose": "社会保险参保登记核验身份",
        "fields": fields, "clear_fields": clear, "valid_until": valid_until(30)});
    let response = session.post("/api/exchange/grants", &request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn calls_logged(owner: &Session, resource: &str) -> Vec<Value> {
    ok(owner.get(&format!("/api/exchange/resources/{resource}/calls")).await).await.as_array().unwrap().clone()
}

#[tokio::test]
async fn without_a_grant_a_call_is_refused_and_logged_and_only_granted_fields_come_back_masked() {
    let app = TestApp::demo().await;
    let hrss = app.login("hrss_steward").await;
    let police = app.login("police_steward").await;
    let (app_id, token) = new_app(&hrss, "440400-RSJ", 600).await;
    let leaves_before = yiwang::ledger::leaves_about(&app.state.store, "resource:GA-RK-0001").await.unwrap().len();

    // No grant: 403, and the refusal is in the owner's call log and the evidence log.
    let refused = call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "参保登记核验", None)).await;
    expect_error(refused, 403, "no_grant", None).await;
    let log = calls_logged(&police, "GA-RK-0001").await;
    assert_eq!(log[0]["outcome"], "no_grant", "{log:?}");
    assert_eq!(log[0]["reason"], "参保登记核验");
    assert_eq!(log[0]["department_name"], "珠海市人力资源和社会保障局");
    let leaves = yiwang::ledger::leaves_about(&app.state.store, "resource:GA-RK-0001").await.unwrap();
    assert_eq!(leaves.len(), leaves_before + 1, "one evidence leaf for the refused call");
    let leaf = ok(app.anonymous().get(&format!("/api/ledger/leaves/{}", leaves.last().unwrap())).await).await;
    assert_eq!(leaf["kind"], "exchange.call");
    assert!(!leaf.to_string().contains(CHEN), "the key is not in the leaf: {leaf}");

    // A conditional resource: pending until the owner's steward approves; calls say so.
    let pending = grant(&hrss, app_id, "GA-RK-0001", &["name", "community"], &[]).await;
    assert_eq!(pending["state"], "pending");
    let waiting = call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "参保登记核验", None)).await;
    expect_error(waiting, 403, "grant_pending", None).await;
    let id = pending["id"].as_i64().unwrap();
    let approved =
        ok(police.post(&format!("/api/exchange/grants/{id}/decision"), &json!({"verdict": "approve"})).await).await;
    assert_eq!(approved["state"], "granted");
    assert_eq!(approved["decided_by"], "公安数据 罗晨");

    // Granted two fields: exactly those come back; the personal one not granted in clear is masked.
    let answer = ok(call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "参保登记核验", None)).await).await;
    let record = answer["records"][0].as_object().unwrap();
    let mut keys: Vec<&String> = record.keys().collect();
    keys.sort();
    assert_eq!(keys, ["community", "name"], "only the two granted fields");
    assert_eq!(record.len(), 2, "{record:?}");
    assert_eq!(record["name"], "陈**", "a personal field outside the clear grant comes back masked");
    assert_eq!(record["community"], "440402001001");
    assert_eq!(answer["masked_fields"], json!(["name"]));
    assert!(!answer.to_string().contains("陈晓红") && !answer.to_string().contains("13800138001"));

    // Asking for a field outside the grant is refused and names it; a call without reason is bad input.
    let phone = call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "参保登记核验", Some("name,phone"))).await;
    expect_error(phone, 403, "field_not_granted", Some("fields[1]")).await;
    let no_reason = call(&app, &token, &format!("/api/exchange/gateway/GA-RK-0001/records/{CHEN}?reason=")).await;
    expect_error(no_reason, 422, "invalid_exchange", Some("reason")).await;
    let unknown_token = call(&app, "yx_not-a-token", &lookup_path("GA-RK-0001", CHEN, "核验", None)).await;
    assert_eq!(unknown_token.status(), 401);

    // The owner sees every call with its outcome; the resident sees who looked them up and why.
    let outcomes: Vec<String> =
        calls_logged(&police, "GA-RK-0001").await.iter().map(|c| c["outcome"].as_str().unwrap().to_owned()).collect();
    for expected in ["no_grant", "grant_pending", "ok", "field_not_granted", "invalid"] {
        assert!(outcomes.iter().any(|o| o == expected), "{expected} logged in {outcomes:?}");
    }
    let hrss_view = app.login("hrss_editor").await;
    expect_error(hrss_view.get("/api/exchange/resources/GA-RK-0001/calls").await, 403, "forbidden", None).await;
    let resident = app.login(CHEN).await;
    let lookups = ok(resident.get("/api/exchange/my-lookups").await).await;
    let mine = lookups.as_array().unwrap();
    assert!(
        mine.iter().any(|l| l["department_name"] == "珠海市人力资源和社会保障局" && l["reason"] == "参保登记核验"),
        "{lookups}"
    );
    let other = app.login("440402199207180043").await;
    let theirs = ok(other.get("/api/exchange/my-lookups").await).await;
    assert!(theirs.as_array().unwrap().iter().all(|l| l["reason"] != "参保登记核验"), "only one's own lookups");
    let page = resident.get("/exchange/my-lookups").await.text().await.unwrap();
    assert!(page.contains("参保登记核验"));

    // The log keeps the resident and the key looked up as keyed pseudonyms, not as plain hashes
    // anyone could recompute from a guessed ID number.
    let pseudonyms = app.state.exchange.pseudonyms();
    yiwang::exchange::index_call_subjects(&app.state.store).await.unwrap();
    let logged: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT c.key_hash, s.subject_hash FROM exchange_calls c
         LEFT JOIN exchange_call_subjects s ON s.call_id = c.id WHERE c.app_id = $1",
    )
    .bind(app_id)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let key = pseudonyms.of("key", CHEN);
    assert!(logged.iter().all(|(k, _)| k.as_deref() == Some(key.as_str())), "{logged:?}");
    let subject = pseudonyms.of("subject", CHEN);
    assert!(logged.iter().any(|(_, s)| s.as_deref() == Some(subject.as_str())), "{logged:?}");
    for plain in [unkeyed("key", CHEN), unkeyed("subject", CHEN)] {
        assert!(!logged.iter().any(|(k, s)| k.as_ref() == Some(&plain) || s.as_ref() == Some(&plain)));
    }

    // An expired grant is refused.
    app.state.clock.set(Some(chrono::Utc::now() + chrono::Duration::days(40)));
    let expired = call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "参保登记核验", None)).await;
    expect_error(expired, 403, "grant_expired", None).await;
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn grants_follow_the_sharing_type_and_a_refusal_needs_reasons() {
    let app = TestApp::demo().await;
    let hrss = app.login("hrss_steward").await;
    let police = app.login("police_steward").await;
    let (app_id, token) = new_app(&hrss, "440400-RSJ", 600).await;

    let pending = grant(&hrss, app_id, "GA-RK-0001", &["id_number", "name"], &["id_number", "name"]).await;
    let calendar = app.state.calendar.get();
    let due = calendar.working_day_deadline(chrono::Utc::now(), 10);
    let due_at: chrono::DateTime<chrono::Utc> = pending["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due_at, due, "due in 10 working days on the app's calendar");
    let id = pending["id"].as_i64().unwrap();
    let decision = format!("/api/exchange/grants/{id}/decision");

    // Only the owner's steward decides, and a refusal gives its reasons.
    expect_error(hrss.post(&decision, &json!({"verdict": "approve"})).await, 403, "forbidden", None).await;
    expect_error(police.post(&decision, &json!({"verdict": "refuse"})).await, 422, "invalid_exchange", Some("reasons"))
        .await;
    let refused = ok(police
        .post(&decision, &json!({"verdict": "refuse", "reasons": "用途与所需明文信息项不相称，请缩小申请范围"}))
        .await)
    .await;
    assert_eq!(refused["state"], "refused");
    assert_eq!(refused["reasons"], "用途与所需明文信息项不相称，请缩小申请范围");
    expect_error(police.post(&decision, &json!({"verdict": "approve"})).await, 409, "wrong_state", None).await;
    let seen = ok(hrss.get("/api/exchange/grants").await).await;
    assert!(seen.as_array().unwrap().iter().any(|g| g["id"] == id && g["state"] == "refused"), "the consumer sees it");
    expect_error(call(&app, &token, &lookup_path("GA-RK-0001", CHEN, "核验", None)).await, 403, "no_grant", None).await;

    // Not shared: cannot be applied for. Unconditional: granted at once.
    let request = json!({"app_id": app_id, "resource_code": "GA-XZ-0001", "purpose": "案件协查", "fields": ["summary"],
        "valid_until": valid_until(10)});
    expect_error(hrss.post("/api/exchange/grants", &request).await, 422, "invalid_exchange", Some("resource_code"))
        .await;
    let request = json!({"app_id": app_id, "resource_code": "GA-RK-0001", "purpose": "参保核验", "fields": ["name"],
        "clear_fields": ["community"], "valid_until": valid_until(10)});
    expect_error(hrss.post("/api/exchange/grants", &request).await, 422, "invalid_exchange", Some("clear_fields[0]"))
        .await;
    let at_once = grant(&hrss, app_id, "SCJ-FR-0001", &["credit_code", "name", "legal_representative"], &[]).await;
    assert_eq!(at_once["state"], "granted");
    assert_eq!(at_once["decided_by"], Value::Null, "granted by the sharing type, not a person");
    let answer =
        ok(call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "单位参保登记核验", None)).await).await;
    assert_eq!(answer["records"][0]["name"], "珠海市海湾科技有限公司");
    assert_eq!(answer["records"][0]["legal_representative"], "陈*");

    // The owner revokes with reasons; calls stop.
    let revoke = format!("/api/exchange/grants/{}/decision", at_once["id"]);
    let market = app.login("market_steward").await;
    let revoked = ok(market.post(&revoke, &json!({"verdict": "revoke", "reasons": "业务系统已下线"})).await).await;
    assert_eq!(revoked["state"], "revoked");
    expect_error(
        call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "核验", None)).await,
        403,
        "no_grant",
        None,
    )
    .await;
    app.stop().await;
}

/// A company register for the tests (and the authorisation matrix) to register.
pub(crate) fn enterprise_resource(code: &str) -> Value {
    json!({
        "code": code, "name": "测试企业名录", "department_code": "440400-SCJ", "description": "测试",
        "fields": [
            {"name": "credit_code", "label": "统一社会信用代码", "type": "string", "sensitivity": "public", "required": true},
            {"name": "name", "label": "名称", "type": "string", "sensitivity": "public"},
            {"name": "capital", "label": "注册资本（万元）", "type": "number", "sensitivity": "public"},
            {"name": "contact", "label": "联系人", "type": "string", "sensitivity": "personal", "masking": "name"}
        ],
        "key_field": "credit_code", "data_grade": "general", "sharing_type": "unconditional", "open_type": "open",
        "update_cycle": "monthly", "source": {"kind": "dataset"}, "tags": ["测试"], "themes": ["economy"]
    })
}

#[tokio::test]
async fn a_csv_with_a_bad_row_is_rejected_naming_row_and_field_and_the_previous_data_stays_served() {
    let app = TestApp::demo().await;
    let market = app.login("market_steward").await;
    // Registering is for the owning department's stewards; a not-shared resource needs its basis.
    let police = app.login("police_steward").await;
    expect_error(police.post("/api/exchange/resources", &enterprise_resource("T-1")).await, 403, "forbidden", None)
        .await;
    let mut bad = enterprise_resource("T-1");
    bad["sharing_type"] = json!("not_shared");
    expect_error(market.post("/api/exchange/resources", &bad).await, 422, "invalid_exchange", Some("legal_basis"))
        .await;
    let created = market.post("/api/exchange/resources", &enterprise_resource("T-1")).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    expect_error(
        market.post("/api/exchange/resources", &enterprise_resource("T-1")).await,
        422,
        "invalid_exchange",
        Some("code"),
    )
    .await;

    let good = "credit_code,name,capital,contact\nC1,甲公司,100,张三\nC2,乙公司,250.5,欧阳娜娜\nC3,丙公司,,\n";
    let loaded = ok(market.post_text("/api/exchange/resources/T-1/data", "text/csv", good.into()).await).await;
    assert_eq!(loaded["row_count"], 3);

    let hrss = app.login("hrss_steward").await;
    let (app_id, token) = new_app(&hrss, "440400-RSJ", 600).await;
    grant(&hrss, app_id, "T-1", &["name", "capital", "contact"], &[]).await;
    let before = ok(call(&app, &token, &lookup_path("T-1", "C2", "核验", None)).await).await;
    assert_eq!(before["records"][0]["capital"], 250.5);
    assert_eq!(before["records"][0]["contact"], "欧阳**");

    let broken = "credit_code,name,capital,contact\nC1,甲公司,120,张三\nC2,乙公司,260,李四\nC3,丙公司,很多,王五\n";
    let rejected = market.post_text("/api/exchange/resources/T-1/data", "text/csv", broken.into()).await;
    let error = expect_error(rejected, 422, "invalid_exchange", Some("rows[3].capital")).await;
    assert!(error["message"].as_str().unwrap().contains("第3行"), "{error}");
    let after = ok(call(&app, &token, &lookup_path("T-1", "C2", "核验", None)).await).await;
    assert_eq!(after["records"][0]["capital"], 250.5, "the previous data is still served");
    assert_eq!(ok(market.get("/api/exchange/resources/T-1").await).await["row_count"], 3);
    let duplicate = "credit_code,name\nC1,甲\nC1,乙\n";
    expect_error(
        market.post_text("/api/exchange/resources/T-1/data", "text/csv", duplicate.into()).await,
        422,
        "invalid_exchange",
        Some("rows[2].credit_code"),
    )
    .await;

    // JSON loads the same way and replaces the rows whole.
    let json_rows = r#"[{"credit_code": "C9", "name": "丁公司", "capital": 9}]"#;
    let replaced =
        ok(market.post_text("/api/exchange/resources/T-1/data", "application/json", json_rows.into()).await).await;
    assert_eq!(replaced["row_count"], 1);
    let gone = ok(call(&app, &token, &lookup_path("T-1", "C2", "核验", None)).await).await;
    assert_eq!(gone["records"], json!([]));
    expect_error(
        market.post_text("/api/exchange/resources/T-1/data", "text/plain", "x".into()).await,
        415,
        "unsupported_media_type",
        None,
    )
    .await;

    // Queries filter and page; filtering on a masked personal field is refused.
    let query = json!({"reason": "核验", "filters": {"name": "丁公司"}, "limit": 10});
    let found = ok(reqwest::Client::new()
        .post(app.url("/api/exchange/gateway/T-1/query"))
        .bearer_auth(&token)
        .json(&query)
        .send()
        .await
        .unwrap())
    .await;
    assert_eq!(found["total"], 1);
    let query = json!({"reason": "核验", "filters": {"contact": "张三"}});
    let probing =
        reqwest::Client::new().post(app.url("/api/exchange/gateway/T-1/query")).bearer_auth(&token).json(&query).send();
    expect_error(probing.await.unwrap(), 403, "field_not_granted", Some("filters.contact")).await;
    app.stop().await;
}

/// A department's own system, as the gateway's HTTP source reaches it. `R-1` redirects to a
/// path outside the registered address.
async fn department_system() -> String {
    use axum::extract::Path as AxumPath;
    let app = axum::Router::new()
        .route(
            "/permits/{key}",
            axum::routing::get(|AxumPath(key): AxumPath<String>| async move {
                match key.as_str() {
                    "P-1" => {
                        axum::Json(json!({"permit_no": "P-1", "holder": "珠海拱北餐饮管理有限公司", "secret": "x"}))
                            .into_response()
                    }
                    "R-1" => axum::response::Redirect::temporary("/internal").into_response(),
                    _ => StatusCode::NOT_FOUND.into_response(),
                }
            }),
        )
        .route("/internal", axum::routing::get(|| async { axum::Json(json!({"permit_no": "R-1", "holder": "内部"})) }));
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/permits")
}

#[tokio::test]
async fn http_and_table_sources_serve_through_the_gateway_and_the_platform_calls_it_in_process() {
    let app = TestApp::demo().await;
    let market = app.login("market_steward").await;
    let url = department_system().await;
    let resource = json!({
        "code": "SCJ-XK-0001", "name": "食品经营许可", "department_code": "440400-SCJ",
        "fields": [
            {"name": "permit_no", "label": "许可证编号", "type": "string", "sensitivity": "public", "required": true},
            {"name": "holder", "label": "经营者", "type": "string", "sensitivity": "public"}
        ],
        "key_field": "permit_no", "data_grade": "general", "sharing_type": "unconditional", "open_type": "not_open",
        "update_cycle": "realtime", "source": {"kind": "http", "url": url}
    });
    assert_eq!(market.post("/api/exchange/resources", &resource).await.status(), StatusCode::CREATED);
    let hrss = app.login("hrss_steward").await;
    let (app_id, token) = new_app(&hrss, "440400-RSJ", 600).await;
    grant(&hrss, app_id, "SCJ-XK-0001", &["permit_no", "holder"], &[]).await;
    let found = ok(call(&app, &token, &lookup_path("SCJ-XK-0001", "P-1", "核验许可", None)).await).await;
    assert_eq!(found["records"], json!([{"permit_no": "P-1", "holder": "珠海拱北餐饮管理有限公司"}]));
    let missing = ok(call(&app, &token, &lookup_path("SCJ-XK-0001", "P-2", "核验许可", None)).await).await;
    assert_eq!(missing["records"], json!([]));
    // A redirect is not followed: the gateway reports the source's failure.
    let redirected = call(&app, &token, &lookup_path("SCJ-XK-0001", "R-1", "核验许可", None)).await;
    expect_error(redirected, 502, "source_failed", None).await;

    // Only department systems the operator listed (`exchange_source_hosts`; tests list 127.0.0.1)
    // can be attached, so an address cannot point the gateway at a metadata endpoint or an
    // internal service.
    let mut metadata = resource.clone();
    metadata["code"] = json!("SCJ-XK-0002");
    metadata["source"]["url"] = json!("http://169.254.169.254/latest/meta-data");
    let refused = market.post("/api/exchange/resources", &metadata).await;
    expect_error(refused, 422, "invalid_exchange", Some("source.url")).await;
    // One attached while allowed is not called once its host is no longer listed.
    let input: yiwang::exchange::model::ResourceInput = serde_json::from_value(metadata).unwrap();
    app.state
        .store
        .write(move |tx| Box::pin(async move { yiwang::exchange::insert_resource(tx, None, &input).await.map(|_| ()) }))
        .await
        .unwrap();
    grant(&hrss, app_id, "SCJ-XK-0002", &["permit_no"], &[]).await;
    let unlisted = call(&app, &token, &lookup_path("SCJ-XK-0002", "P-1", "核验许可", None)).await;
    expect_error(unlisted, 502, "source_failed", None).await;

    // The housing-fund register, attached as a table, through the demo's instant-approval app.
    let fund =
        ok(call(&app, "yx_demo_instant_approval", &lookup_path("ZJJ-GJJ-0001", CHEN, "租房提取秒批", None)).await)
            .await;
    assert_eq!(fund["records"][0]["fund_account_status"], "normal");
    assert_eq!(fund["records"][0]["fund_account_months_paid"], 24);
    assert!(fund["records"][0].get("fund_account_balance_fen").is_none(), "not granted");

    // In process, as instant approval calls it: same grant check and masking, and the call
    // records are written in the caller's transaction.
    let engine: i64 = sqlx::query_scalar("SELECT id FROM exchange_apps WHERE name = '政数局秒批引擎'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let exchange = &app.state.exchange;
    let (record, logged) =
        exchange.lookup_logged_by_caller(&app.state.store, engine, "GA-RK-0001", CHEN, "租房提取秒批核验身份").await;
    let record = record.unwrap().expect("a record");
    assert_eq!(record["id_number"], CHEN);
    assert_eq!(record["name"], "陈**", "the engine's grant has the name masked");
    assert!(record["address"].as_str().unwrap().ends_with("拱北街道****"), "{record:?}");
    let (refused, refusal) =
        exchange.lookup_logged_by_caller(&app.state.store, engine, "SCJ-FR-0001", "91440400MA4UKKKK14", "核验").await;
    assert!(matches!(refused, Err(yiwang::exchange::ExchangeError::Refused { code: "no_grant", .. })));
    let calls: Vec<_> = logged.into_iter().chain(refusal).collect();
    assert_eq!(calls.len(), 2, "the refused call is recorded too");
    app.state
        .store
        .write(move |tx| Box::pin(async move { yiwang::exchange::gateway::log_in(tx, &calls).await }))
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn bulk_enumeration_raises_an_alert_and_rates_are_limited() {
    let app = TestApp::demo().await;
    let hrss = app.login("hrss_steward").await;
    // The demo app holds a grant on the population register.
    for n in 0..60 {
        let key = format!("4404021990010{n:04}X");
        let response =
            call(&app, "yx_demo_hrss_social_insurance", &lookup_path("GA-RK-0001", &key, "批量核验", None)).await;
        assert_eq!(response.status(), 200);
    }
    // The worker's own `exchange.detect_alerts` job may have run meanwhile (it is due at every
    // minute's start) and raised the alert already; then this call finds it raised.
    let (calendar, limits) = (app.state.calendar.get(), app.state.config.exchange_alerts);
    yiwang::exchange::alerts::detect(&app.state.store, &calendar, chrono::Utc::now(), &limits).await.unwrap();
    let again =
        yiwang::exchange::alerts::detect(&app.state.store, &calendar, chrono::Utc::now(), &limits).await.unwrap();
    assert_eq!(again, 0, "raised once per window");
    let police = app.login("police_steward").await;
    let alerts = ok(police.get("/api/exchange/alerts").await).await;
    let alert = alerts.as_array().unwrap().iter().find(|a| a["kind"] == "bulk_enumeration").expect("an alert");
    assert_eq!(alert["app_name"], "人社局社保业务系统");
    assert_eq!(alert["resource_code"], "GA-RK-0001");
    assert!(alert["detail"]["distinct_keys"].as_i64().unwrap() >= 60);
    let page = police.get("/exchange/alerts").await.text().await.unwrap();
    assert!(page.contains("人社局社保业务系统"));
    let market = app.login("market_steward").await;
    assert!(ok(market.get("/api/exchange/alerts").await).await.as_array().unwrap().is_empty(), "not theirs");

    // An app limited to 3 calls a minute gets 429 with Retry-After on the fourth.
    let (app_id, token) = new_app(&hrss, "440400-RSJ", 3).await;
    grant(&hrss, app_id, "SCJ-FR-0001", &["name"], &[]).await;
    for _ in 0..3 {
        let response = call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "核验", None)).await;
        assert_eq!(response.status(), 200);
    }
    let limited = call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "核验", None)).await;
    let retry: i64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    expect_error(limited, 429, "rate_limited", None).await;
    app.stop().await;
}

async fn ckan(app: &TestApp, path: &str) -> (u16, Value) {
    let response = app.anonymous().get(path).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn the_ckan_action_api_answers_in_ckans_shapes() {
    let app = TestApp::demo().await;
    let (status, body) =
        ckan(&app, "/api/3/action/package_search?q=黑名单&facet.field=[\"organization\",\"tags\"]").await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert!(body["help"].as_str().unwrap().ends_with("/api/3/action/help_show?name=package_search"));
    let result = &body["result"];
    assert_eq!(result["count"], 1, "{result}");
    let dataset = &result["results"][0];
    assert_eq!(dataset["name"], "fgj-xy-0001");
    assert_eq!(dataset["organization"]["name"], "440400-fgj");
    assert_eq!(dataset["organization"]["title"], "珠海市发展和改革局");
    assert_eq!(dataset["num_resources"], 2);
    assert_eq!(result["search_facets"]["organization"]["items"][0]["display_name"], "珠海市发展和改革局");
    assert_eq!(result["facets"]["tags"]["黑名单"], 1);

    let (_, all) = ckan(&app, "/api/action/package_search?rows=2&sort=name asc&facet.field=[\"groups\"]").await;
    assert_eq!(all["result"]["count"], 3, "the three open demo datasets, not the others");
    assert_eq!(all["result"]["results"].as_array().unwrap().len(), 2, "rows pages");
    let (_, filtered) = ckan(&app, "/api/3/action/package_search?fq=organization:440400-scj%20tags:法人").await;
    assert_eq!(filtered["result"]["results"][0]["name"], "scj-fr-0001");
    assert_eq!(filtered["result"]["count"], 1);
    let (status, bad_sort) = ckan(&app, "/api/3/action/package_search?sort=colour%20desc").await;
    assert_eq!((status, bad_sort["error"]["__type"].as_str()), (409, Some("Search Query Error")));

    // Personal fields of an open resource never leave through open data.
    let (_, show) = ckan(&app, "/api/3/action/package_show?id=scj-fr-0001").await;
    assert_eq!(show["result"]["title"], "法人基本信息");
    let by_id = ckan(&app, &format!("/api/3/action/package_show?id={}", show["result"]["id"].as_str().unwrap())).await;
    assert_eq!(by_id.1["result"]["name"], "scj-fr-0001");
    let resource_id = show["result"]["resources"][0]["id"].as_str().unwrap().to_owned();
    let (_, rows) = ckan(
        &app,
        &format!("/api/3/action/datastore_search?resource_id={resource_id}&limit=5&filters={{\"status\":\"存续\"}}"),
    )
    .await;
    let rows = &rows["result"];
    assert!(rows["total"].as_i64().unwrap() >= 5);
    assert_eq!(rows["records"].as_array().unwrap().len(), 5);
    assert!(rows["records"].as_array().unwrap().iter().all(|r| r["status"] == "存续"));
    assert!(!rows.to_string().contains("legal_representative") && !rows.to_string().contains("陈海"), "{rows}");
    let download = app.anonymous().get("/api/opendata/datasets/scj-fr-0001/rows.csv").await.text().await.unwrap();
    assert!(
        download.contains("珠海市海湾科技有限公司") && !download.contains("陈海") && !download.contains("13900139001")
    );
    let (status, private) = ckan(&app, "/api/3/action/package_show?id=ga-rk-0001").await;
    assert_eq!(status, 404, "a resource that is not open is not a dataset");
    assert_eq!(private["success"], false);
    assert_eq!(private["error"]["__type"], "Not Found Error");
    let (status, missing) = ckan(&app, "/api/3/action/package_show").await;
    assert_eq!((status, &missing["error"]["__type"]), (409, &json!("Validation Error")));
    assert_eq!(missing["error"]["id"], json!(["Missing value"]));
    let (status, unknown) = ckan(&app, "/api/3/action/package_explode").await;
    assert_eq!((status, unknown["success"].as_bool()), (400, Some(false)));
    let (_, filter_error) =
        ckan(&app, &format!("/api/3/action/datastore_search?resource_id={resource_id}&filters={{\"phone\":\"1\"}}"))
            .await;
    assert_eq!(filter_error["error"]["__type"], "Validation Error");

    // POST with JSON, as ckanapi sends it.
    let posted: Value = reqwest::Client::new()
        .post(app.url("/api/action/organization_list"))
        .json(&json!({"all_fields": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let orgs = posted["result"].as_array().unwrap();
    assert!(orgs.iter().any(|o| o["name"] == "440400-scj" && o["package_count"] == 1), "{posted}");
    let (_, status_show) = ckan(&app, "/api/3/action/status_show").await;
    assert_eq!(status_show["result"]["ckan_version"], yiwang::exchange::ckan::CKAN_VERSION);
    let (_, tags) = ckan(&app, "/api/3/action/tag_list").await;
    assert!(tags["result"].as_array().unwrap().iter().any(|t| t == "红名单"));
    let (_, groups) = ckan(&app, "/api/3/action/group_list?all_fields=true").await;
    assert!(groups["result"].as_array().unwrap().iter().any(|g| g["name"] == "credit" && g["title"] == "信用服务"));
    let (_, resource) = ckan(&app, &format!("/api/3/action/resource_show?id={resource_id}")).await;
    assert_eq!(resource["result"]["format"], "CSV");

    // DCAT-AP in JSON-LD and Turtle.
    let jsonld: Value = app.anonymous().get("/api/opendata/catalog.jsonld").await.json().await.unwrap();
    assert_eq!(jsonld["@type"], "dcat:Catalog");
    assert_eq!(jsonld["dcat:dataset"].as_array().unwrap().len(), 3);
    let turtle = app.anonymous().get("/api/opendata/catalog.ttl").await.text().await.unwrap();
    assert!(turtle.contains("a dcat:Dataset") && turtle.contains("dct:title \"信用红黑名单\"@zh"), "{turtle}");

    // The portal pages.
    let portal = app.anonymous().get("/opendata?q=网格").await.text().await.unwrap();
    assert!(portal.contains("网格空间信息"));
    let page = app.anonymous().get("/opendata/zrj-kj-0001").await.text().await.unwrap();
    assert!(page.contains("拱北社区第1网格"), "a preview of the rows");
    app.stop().await;
}

#[tokio::test]
async fn staff_pages_list_register_and_upload() {
    let app = TestApp::demo().await;
    let market = app.login("market_steward").await;
    let list = market.get("/exchange").await.text().await.unwrap();
    assert!(list.contains("人口基本信息") && list.contains("法人基本信息"));
    let detail = market.get("/exchange/resources/SCJ-FR-0001").await.text().await.unwrap();
    assert!(detail.contains("统一社会信用代码") && detail.contains("upload"), "the owner may upload");
    let grants = app.login("police_steward").await.get("/exchange/grants").await.text().await.unwrap();
    assert!(grants.contains("人社局社保业务系统"));
    let form = market.get("/exchange/resources/new").await;
    assert_eq!(form.status(), 200);
    app.stop().await;
}

/// A call the gateway logged at `at`, as the log writer stores it.
fn logged_call(
    pseudonyms: &yiwang::exchange::pseudonym::Pseudonyms,
    n: usize,
    app_id: i64,
    department_id: i64,
    resource_id: i64,
    at: chrono::DateTime<chrono::Utc>,
) -> CallRecord {
    CallRecord {
        id: format!("{:016x}{n:016x}", at.timestamp_millis()),
        app_id,
        department_id,
        resource_id: Some(resource_id),
        resource_code: "SCJ-FR-0001".into(),
        kind: "lookup",
        key_hash: Some(pseudonyms.of("key", "91440400MA4UKKKK14")),
        fields: vec!["name".into()],
        rows: 1,
        reason: "核验".into(),
        outcome: "ok",
        at: at.timestamp_millis(),
        subjects: Vec::new(),
    }
}

#[tokio::test]
async fn spikes_late_calls_and_daily_quotas_are_counted_from_hourly_totals() {
    let app = TestApp::demo().await;
    let store = app.state.store.clone();
    let hrss = app.login("hrss_steward").await;
    let body = json!({"name": "限额系统", "department_code": "440400-RSJ", "rate_per_minute": 600, "daily_quota": 3});
    let created: Value = ok(hrss.post("/api/exchange/apps", &body).await).await;
    let (app_id, token) = (created["app"]["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_owned());
    grant(&hrss, app_id, "SCJ-FR-0001", &["name"], &[]).await;

    // The daily quota: the fourth successful call today is refused, and a second node, which has
    // counted nothing itself, starts from the calls logged today.
    for _ in 0..3 {
        let response = call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "核验", None)).await;
        assert_eq!(response.status(), 200);
    }
    let over = call(&app, &token, &lookup_path("SCJ-FR-0001", "91440400MA4UKKKK14", "核验", None)).await;
    expect_error(over, 429, "quota_exceeded", None).await;
    let pseudonyms = app.state.exchange.pseudonyms().clone();
    let second_node = yiwang::exchange::Exchange::new(store.clone(), Default::default(), pseudonyms.clone());
    let lookup = || yiwang::exchange::gateway::Call {
        ask: yiwang::exchange::gateway::Ask::Lookup("91440400MA4UKKKK14".into()),
        fields: None,
        reason: "核验".into(),
    };
    let refused = second_node.call(&store, chrono::Utc::now(), &token, "SCJ-FR-0001", lookup()).await;
    let over_quota = |result: &Result<_, yiwang::exchange::ExchangeError>| {
        matches!(result, Err(yiwang::exchange::ExchangeError::Throttled { code: "quota_exceeded", .. }))
    };
    assert!(over_quota(&refused), "{refused:?}");

    // Two nodes that both counted already: each reads again what every node logged once five
    // seconds have passed, so the calls another node answered meanwhile count too.
    let body = json!({"name": "双节点系统", "department_code": "440400-RSJ", "rate_per_minute": 600, "daily_quota": 3});
    let created: Value = ok(hrss.post("/api/exchange/apps", &body).await).await;
    let (two_nodes_app, two_nodes_token) =
        (created["app"]["id"].as_i64().unwrap(), created["token"].as_str().unwrap().to_owned());
    grant(&hrss, two_nodes_app, "SCJ-FR-0001", &["name"], &[]).await;
    let china_today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive();
    let noon = yiwang::exchange::gateway::start_of_china_day(china_today) + chrono::Duration::hours(12);
    let (node_a, node_b) =
        (second_node, yiwang::exchange::Exchange::new(store.clone(), Default::default(), pseudonyms.clone()));
    let (token, code) = (two_nodes_token.as_str(), "SCJ-FR-0001");
    assert!(node_a.call(&store, noon, token, code, lookup()).await.is_ok());
    assert!(node_b.call(&store, noon, token, code, lookup()).await.is_ok(), "B starts from A's logged call");
    assert!(node_b.call(&store, noon, token, code, lookup()).await.is_ok());
    assert!(over_quota(&node_b.call(&store, noon, token, code, lookup()).await));
    let later = node_a.call(&store, noon + chrono::Duration::seconds(6), token, code, lookup()).await;
    assert!(over_quota(&later), "node A has counted one call itself but reads all three again: {later:?}");

    // A quiet week, one call every six hours until a day before, then 250 calls in the hour and a
    // half before 23:30 on a night of the National Day holiday: a volume spike, and calls outside
    // working hours.
    let (resource_id, department_id): (i64, i64) = sqlx::query_as(
        "SELECT r.id, a.department_id FROM exchange_resources r, exchange_apps a WHERE r.code = 'SCJ-FR-0001' AND a.id = $1",
    )
    .bind(app_id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-10-04T23:30:00+08:00").unwrap().to_utc();
    let quiet = (0..24).map(|n| now - chrono::Duration::hours(26 + 6 * n as i64));
    let busy = (0..250).map(|n| now - chrono::Duration::seconds(20 * n as i64 + 1));
    let calls: Vec<CallRecord> = quiet
        .chain(busy)
        .enumerate()
        .map(|(n, at)| logged_call(&pseudonyms, n, app_id, department_id, resource_id, at))
        .collect();
    store.write(move |tx| Box::pin(async move { yiwang::exchange::gateway::log_in(tx, &calls).await })).await.unwrap();
    let calendar = app.state.calendar.get();
    // A city that sets its thresholds above these volumes (`[exchange_alerts]`) is not alerted.
    let higher =
        yiwang::exchange::alerts::Thresholds { spike_min_calls: 300, off_hours_calls: 300, ..Default::default() };
    assert_eq!(yiwang::exchange::alerts::detect(&store, &calendar, now, &higher).await.unwrap(), 0);
    let defaults = yiwang::exchange::alerts::Thresholds::default();
    assert_eq!(yiwang::exchange::alerts::detect(&store, &calendar, now, &defaults).await.unwrap(), 2);
    let market = app.login("market_steward").await;
    let alerts = ok(market.get("/api/exchange/alerts").await).await;
    let of_app = |kind: &str| {
        alerts.as_array().unwrap().iter().find(|a| a["kind"] == kind && a["app_name"] == "限额系统").cloned()
    };
    let spike = of_app("volume_spike").expect("a volume spike");
    assert_eq!(spike["detail"]["calls_last_two_hours"], 250);
    assert_eq!(spike["detail"]["two_hour_baseline"], 0.3, "24 calls in 84 two-hour spans");
    let late = of_app("off_hours").expect("calls outside working hours");
    assert_eq!(late["detail"]["off_hours_calls_24h"], 250, "{late}");
    app.stop().await;
}

#[tokio::test]
async fn calls_logged_with_plain_hashes_stay_visible_and_a_node_with_another_pseudonym_key_does_not_start() {
    let app = TestApp::demo().await;
    let hrss = app.login("hrss_steward").await;
    let (app_id, _) = new_app(&hrss, "440400-RSJ", 600).await;
    let (resource_id, department_id): (i64, i64) = sqlx::query_as(
        "SELECT r.id, a.department_id FROM exchange_resources r, exchange_apps a WHERE r.code = 'GA-RK-0001' AND a.id = $1",
    )
    .bind(app_id)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    // A call logged before pseudonyms were keyed: its subject is the plain hash.
    let mut before =
        logged_call(app.state.exchange.pseudonyms(), 0, app_id, department_id, resource_id, chrono::Utc::now());
    before.resource_code = "GA-RK-0001".into();
    before.reason = "旧版日志中的核验".into();
    before.subjects = vec![unkeyed("subject", CHEN)];
    let id = before.id.clone();
    let calls = vec![before];
    let store = app.state.store.clone();
    let resident = app.login(CHEN).await;
    store.write(move |tx| Box::pin(async move { yiwang::exchange::gateway::log_in(tx, &calls).await })).await.unwrap();
    // The call's residents wait in its row until the index job moves them (every 2 s); a
    // resident's lookups are read from both, and the move neither loses nor repeats one.
    let mine = ok(resident.get("/api/exchange/my-lookups").await).await;
    let pending: Option<String> = sqlx::query_scalar("SELECT pending_subjects FROM exchange_calls WHERE id = $1")
        .bind(&id)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    if pending.is_none() {
        eprintln!("the index job moved the call before the pending path was read");
    }
    let found =
        |lookups: &Value| lookups.as_array().unwrap().iter().filter(|l| l["reason"] == "旧版日志中的核验").count();
    assert_eq!(found(&mine), 1, "{mine}");
    yiwang::exchange::index_call_subjects(&app.state.store).await.unwrap();
    let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_calls WHERE pending_subjects IS NOT NULL")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(waiting, 0, "every call's residents are in the index");
    let indexed: Vec<String> = sqlx::query_scalar("SELECT subject_hash FROM exchange_call_subjects WHERE call_id = $1")
        .bind(&id)
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(indexed, [unkeyed("subject", CHEN)]);
    let mine = ok(resident.get("/api/exchange/my-lookups").await).await;
    assert_eq!(found(&mine), 1, "{mine}");

    // Another data directory holds another key: the node refuses to start and says which file.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut config = (*app.state.config).clone();
    config.data_dir = elsewhere.path().to_owned();
    let refused = yiwang::open(config).await.err().expect("a node with another pseudonym key does not start");
    assert!(matches!(refused, yiwang::StartError::Pseudonyms(_)), "{refused}");
    assert!(refused.to_string().contains("pseudonym.key"), "{refused}");
    // With the installation's key copied, it starts.
    std::fs::copy(app.state.config.data_dir.join("pseudonym.key"), elsewhere.path().join("pseudonym.key")).unwrap();
    let mut config = (*app.state.config).clone();
    config.data_dir = elsewhere.path().to_owned();
    let started = yiwang::open(config).await.expect("a node with the installation's key starts");
    assert_eq!(started.exchange.pseudonyms().of("subject", CHEN), app.state.exchange.pseudonyms().of("subject", CHEN));
    app.stop().await;
}

#[tokio::test]
async fn dataset_filters_are_answered_from_the_row_index_and_older_uploads_are_indexed_at_start() {
    let app = TestApp::demo().await;
    let steward = app.login("market_steward").await;
    let long_address = format!("广东省珠海市香洲区{}", "吉大街道景山路".repeat(40));
    let mut csv = String::from(
        "credit_code,name,legal_representative,entity_type,registered_capital,established,address,status,phone\n",
    );
    for n in 0..30 {
        let status = ["存续", "注销", "吊销"][n % 3];
        let address = if n == 7 { long_address.clone() } else { format!("珠海市香洲区景山路{n}号") };
        csv.push_str(&format!(
            "91440400MA{n:08},第{n}号公司,李四,有限责任公司,{},2020-01-0{},{address},{status},13900000000\n",
            (n % 4) * 500,
            n % 9 + 1
        ));
    }
    let uploaded = steward.post_text("/api/exchange/resources/SCJ-FR-0001/data", "text/csv", csv).await;
    assert_eq!(uploaded.status(), 200, "{}", uploaded.text().await.unwrap());
    let resource_id: String = ckan(&app, "/api/3/action/package_show?id=scj-fr-0001").await.1["result"]["resources"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let search = |filters: Value| {
        let filters: String = form_urlencoded::byte_serialize(filters.to_string().as_bytes()).collect();
        let path = format!("/api/3/action/datastore_search?resource_id={resource_id}&limit=100&filters={filters}");
        let app = &app;
        async move {
            let (status, body) = ckan(app, &path).await;
            assert_eq!(status, 200, "{body}");
            let names: Vec<String> = body["result"]["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(body["result"]["total"].as_u64().unwrap() as usize, names.len(), "{body}");
            names
        }
    };
    let expected = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        (0..30).filter(|n| keep(*n)).map(|n| format!("第{n}号公司")).collect()
    };
    // Text, numbers by value whatever their spelling, two filters together, dates.
    assert_eq!(search(json!({"status": "注销"})).await, expected(&|n| n % 3 == 1));
    assert_eq!(search(json!({"registered_capital": 1000})).await, expected(&|n| n % 4 == 2));
    assert_eq!(search(json!({"registered_capital": "1000.0"})).await, expected(&|n| n % 4 == 2));
    assert_eq!(search(json!({"registered_capital": "1000", "status": "存续"})).await, expected(&|n| n % 12 == 6));
    assert_eq!(search(json!({"established": "2020-01-03"})).await, expected(&|n| n % 9 == 2));
    // A value too long for the index is found by reading the rows; a value of the wrong type finds nothing.
    assert_eq!(search(json!({"address": long_address})).await, expected(&|n| n == 7));
    assert!(search(json!({"registered_capital": "很多"})).await.is_empty());
    assert_eq!(search(json!({"status": "注销", "address": long_address})).await, expected(&|n| n == 7));
    let filters: String = form_urlencoded::byte_serialize(r#"{"status":"吊销"}"#.as_bytes()).collect();
    let newest_first = ckan(
        &app,
        &format!("/api/3/action/datastore_search?resource_id={resource_id}&filters={filters}&sort=_id%20desc&limit=2"),
    )
    .await
    .1;
    assert_eq!(newest_first["result"]["records"][0]["name"], "第29号公司", "{newest_first}");
    assert_eq!(newest_first["result"]["records"][1]["name"], "第26号公司");
    assert_eq!(newest_first["result"]["total"], 10);

    // The gateway's queries read the same index.
    let (app_id, token) = new_app(&steward, "440400-SCJ", 600).await;
    grant(&steward, app_id, "SCJ-FR-0001", &["name", "status"], &[]).await;
    let query = json!({"reason": "核验", "filters": {"status": "吊销"}, "limit": 100});
    let answer = reqwest::Client::new()
        .post(app.url("/api/exchange/gateway/SCJ-FR-0001/query"))
        .bearer_auth(&token)
        .json(&query)
        .send()
        .await
        .unwrap();
    let answer = ok(answer).await;
    assert_eq!(answer["total"], 10, "{answer}");

    // Rows stored before the index existed: a node indexes them when it starts.
    let store = app.state.store.clone();
    sqlx::query("DELETE FROM exchange_row_values").execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE exchange_resources SET rows_indexed = 0").execute(store.pool()).await.unwrap();
    assert!(search(json!({"status": "注销"})).await.is_empty(), "an empty index answers nothing");
    let indexed = yiwang::exchange::index_rows_stored_before_the_index(&store).await.unwrap();
    assert!(indexed >= 1, "{indexed}");
    assert_eq!(search(json!({"status": "注销"})).await, expected(&|n| n % 3 == 1));
    assert_eq!(yiwang::exchange::index_rows_stored_before_the_index(&store).await.unwrap(), 0, "once");
    app.stop().await;
}

#[tokio::test]
async fn an_upload_is_written_beside_the_rows_served_and_replaced_rows_are_deleted_later() {
    let app = TestApp::demo().await;
    let steward = app.login("market_steward").await;
    let store = app.state.store.clone();
    let csv = |rows: usize, status: &str| {
        let mut csv = String::from(
            "credit_code,name,legal_representative,entity_type,registered_capital,established,address,status,phone\n",
        );
        for n in 0..rows {
            csv.push_str(&format!(
                "91440400MA{n:08},第{n}号公司,李四,有限责任公司,100,2020-01-01,珠海市香洲区景山路{n}号,{status},13900000000\n"
            ));
        }
        csv
    };
    let sets_of = |state: &'static str| {
        let store = store.clone();
        async move {
            let sets: Vec<i64> = sqlx::query_scalar(
                "SELECT s.id FROM exchange_row_sets s JOIN exchange_resources r ON r.id = s.resource_id
                 WHERE r.code = 'SCJ-FR-0001' AND s.state = $1 ORDER BY s.id",
            )
            .bind(state)
            .fetch_all(store.pool())
            .await
            .unwrap();
            sets
        }
    };
    let rows_in = |set: i64| {
        let store = store.clone();
        async move {
            let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_rows WHERE row_set = $1")
                .bind(set)
                .fetch_one(store.pool())
                .await
                .unwrap();
            let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_row_values WHERE row_set = $1")
                .bind(set)
                .fetch_one(store.pool())
                .await
                .unwrap();
            (rows, entries)
        }
    };
    let first = sets_of("live").await;
    assert_eq!(first.len(), 1, "the demo data is one live set");

    // More rows than one transaction of the upload writes: numbered on across its parts.
    let uploaded = steward.post_text("/api/exchange/resources/SCJ-FR-0001/data", "text/csv", csv(4_500, "存续")).await;
    assert_eq!(uploaded.status(), 200, "{}", uploaded.text().await.unwrap());
    let live = sets_of("live").await;
    assert_eq!((sets_of("retired").await, live.len()), (first.clone(), 1), "the demo set is replaced");
    assert_eq!(rows_in(live[0]).await.0, 4_500);
    let resource_id: String = ckan(&app, "/api/3/action/package_show?id=scj-fr-0001").await.1["result"]["resources"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let filters: String = form_urlencoded::byte_serialize(r#"{"name":"第4321号公司"}"#.as_bytes()).collect();
    let (status, found) =
        ckan(&app, &format!("/api/3/action/datastore_search?resource_id={resource_id}&filters={filters}")).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["result"]["total"], 1, "{found}");
    assert_eq!(found["result"]["records"][0]["_id"], 4_322, "{found}");

    // An upload that died while writing leaves a loading set; a bad upload writes no set at all.
    let now = chrono::Utc::now();
    let resource: i64 = sqlx::query_scalar("SELECT id FROM exchange_resources WHERE code = 'SCJ-FR-0001'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let dead: i64 = sqlx::query_scalar(
        "INSERT INTO exchange_row_sets (resource_id, state, created_at) VALUES ($1, 'loading', $2) RETURNING id",
    )
    .bind(resource)
    .bind(now.timestamp_millis())
    .fetch_one(store.pool())
    .await
    .unwrap();
    sqlx::query("INSERT INTO exchange_rows (row_set, row_no, key_value, data) VALUES ($1, 1, 'X', '{}')")
        .bind(dead)
        .execute(store.pool())
        .await
        .unwrap();
    let duplicate = "credit_code,name\nC1,甲\nC1,乙\n";
    let bad = steward.post_text("/api/exchange/resources/SCJ-FR-0001/data", "text/csv", duplicate.into()).await;
    expect_error(bad, 422, "invalid_exchange", Some("rows[2].credit_code")).await;
    assert_eq!(sets_of("loading").await, vec![dead]);

    // Replaced rows stay while a node may still read them; then they go, in parts.
    let drop = |at: chrono::DateTime<chrono::Utc>| yiwang::exchange::drop_row_sets(&store, at);
    assert_eq!(drop(now).await.unwrap(), 0);
    assert!(rows_in(first[0]).await.0 > 0);
    assert_eq!(drop(now + chrono::TimeDelta::minutes(11)).await.unwrap(), 1, "the replaced set");
    assert_eq!((rows_in(first[0]).await, sets_of("retired").await), ((0, 0), vec![]));
    assert_eq!(drop(now + chrono::TimeDelta::hours(7)).await.unwrap(), 1, "the dead upload's set");
    assert_eq!((rows_in(dead).await, sets_of("loading").await), ((0, 0), vec![]));
    let (rows, entries) = rows_in(live[0]).await;
    assert_eq!(rows, 4_500, "the live set is untouched");
    assert_eq!(entries, 4_500 * 9, "nine fields of each row in the index");
    let (_, again) =
        ckan(&app, &format!("/api/3/action/datastore_search?resource_id={resource_id}&filters={filters}")).await;
    assert_eq!(again["result"]["total"], 1, "{again}");
    app.stop().await;
}
