//! The OpenAPI document is generated from the route registrations; this snapshot makes every
//! change to the public API visible in review.

use serde_json::Value;

use crate::support::TestApp;

#[test]
fn openapi_document_snapshot() {
    let (_, doc) = yiwang::http::api();
    let mut json = serde_json::to_value(&doc).unwrap();
    // The version changes with every release; the shape is what the snapshot guards.
    json["info"]["version"] = Value::from("[version]");
    insta::assert_json_snapshot!("openapi", json);
}

#[tokio::test]
async fn served_document_and_swagger_ui() {
    let app = TestApp::empty().await;
    let anon = app.anonymous();
    let doc: Value = anon.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/auth/login", "/api/residents/{id}", "/api/calendar/deadline", "/healthz"] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
    let ui = anon.get("/api/docs/").await;
    assert_eq!(ui.status(), 200);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "the vendored Swagger UI is served");
    assert!(!html.contains("://unpkg") && !html.contains("://cdn"), "nothing from a CDN");
    app.stop().await;
}
