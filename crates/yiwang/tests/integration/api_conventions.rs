//! Health, error format, validation of identifiers, malformed input.

use serde_json::{Value, json};

use crate::support::{TestApp, expect_error};

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::empty().await;
    let anon = app.anonymous();
    let health: Value = anon.get("/healthz").await.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let expected =
        if std::env::var("YIWANG_TEST_POSTGRES").is_ok_and(|v| !v.is_empty()) { "postgres" } else { "sqlite" };
    assert_eq!(health["database"], expected, "the suite runs on the backend it was asked for");
    let ready = anon.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert!(ready.headers().contains_key("x-request-id"), "every response carries a request id");
    assert!(ready.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=(self)"),
    ] {
        assert_eq!(ready.headers()[name], value, "{name}");
    }
    assert!(!ready.headers().contains_key("strict-transport-security"), "no HSTS over plain HTTP");
    // A caller's request id comes back unchanged, also on an error and on a page.
    for path in ["/api/no-such-thing", "/"] {
        let answer =
            anon.client.get(format!("{}{path}", app.base)).header("x-request-id", "trace-4711").send().await.unwrap();
        assert_eq!(answer.headers()["x-request-id"], "trace-4711", "{path}");
        assert!(answer.headers().contains_key("content-security-policy"), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn invalid_identifiers_name_their_field() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    let resident = |id: &str, phone: &str| json!({"id_number": id, "name": "测试", "phone": phone, "region_code": "440402001001", "password": "abcd1234"});
    // Last digit changed from the valid 440402198503120024.
    expect_error(
        anon.post("/api/residents", &resident("440402198503120025", "13800138000")).await,
        422,
        "invalid_id_number",
        Some("id_number"),
    )
    .await;
    expect_error(
        anon.post("/api/residents", &resident("4404021985", "13800138000")).await,
        422,
        "invalid_id_number",
        Some("id_number"),
    )
    .await;
    expect_error(
        anon.post("/api/residents", &resident("44040219850230002X", "13800138000")).await,
        422,
        "invalid_id_number",
        Some("id_number"),
    )
    .await;
    expect_error(
        anon.post("/api/residents", &resident("11010519491231002X", "1234")).await,
        422,
        "invalid_phone",
        Some("phone"),
    )
    .await;

    let enterprise = |code: &str| json!({"credit_code": code, "name": "测试公司", "legal_representative": "张三", "region_code": "440402", "password": "abcd1234"});
    expect_error(
        anon.post("/api/enterprises", &enterprise("91440400MA4UKKKK15")).await,
        422,
        "invalid_credit_code",
        Some("credit_code"),
    )
    .await;
    expect_error(
        anon.post("/api/enterprises", &enterprise("91440400MA4UKKKKI4")).await,
        422,
        "invalid_credit_code",
        Some("credit_code"),
    )
    .await;

    // Valid, then the same again: the unique constraint becomes a 422 on its field.
    let ok = anon.post("/api/residents", &resident("11010519491231002X", "13800138000")).await;
    assert_eq!(ok.status(), 201);
    expect_error(
        anon.post("/api/residents", &resident("11010519491231002X", "13800138000")).await,
        422,
        "already_registered",
        Some("id_number"),
    )
    .await;
    expect_error(
        anon.post("/api/enterprises", &enterprise("91440400MA4UKKKK14")).await,
        422,
        "already_registered",
        Some("credit_code"),
    )
    .await;

    let weak = json!({"id_number": "440402198808080019", "name": "x", "region_code": "440402", "password": "short"});
    expect_error(anon.post("/api/residents", &weak).await, 422, "weak_password", Some("password")).await;
    let unknown_region =
        json!({"id_number": "440402199207180043", "name": "x", "region_code": "999999", "password": "abcd1234"});
    expect_error(anon.post("/api/residents", &unknown_region).await, 422, "unknown_region", Some("region_code")).await;
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_our_error_format() {
    let app = TestApp::demo().await;
    let client = reqwest::Client::new();
    let post = |body: &'static str, content_type: &'static str| {
        client.post(app.url("/api/auth/login")).header("content-type", content_type).body(body).send()
    };
    expect_error(post("{\"login\": ", "application/json").await.unwrap(), 400, "malformed_json", Some("login")).await;
    expect_error(post("not json", "application/json").await.unwrap(), 400, "malformed_json", None).await;
    expect_error(
        post("{\"login\": \"admin\"}", "application/json").await.unwrap(),
        422,
        "invalid_field",
        Some("password"),
    )
    .await;
    expect_error(
        post("{\"login\": 42, \"password\": \"x\"}", "application/json").await.unwrap(),
        422,
        "invalid_field",
        Some("login"),
    )
    .await;
    expect_error(post("login=admin", "text/plain").await.unwrap(), 415, "unsupported_media_type", None).await;

    let anon = app.anonymous();
    expect_error(anon.get("/api/no-such-thing").await, 404, "not_found", None).await;
    expect_error(anon.get("/api/calendar/days?year=abc").await, 400, "invalid_query", Some("year")).await;
    expect_error(anon.get("/api/calendar/days").await, 400, "invalid_query", Some("year")).await;
    let page = anon.get("/no-such-page").await;
    assert_eq!(page.status(), 404);
    assert!(page.text().await.unwrap().contains("页面不存在"), "pages get an HTML 404 in Chinese");

    let oversized = "x".repeat(yiwang::http::MAX_BODY_BYTES + 1);
    let response = client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "an oversized body is a 4xx, got {}", response.status());
    app.stop().await;
}
