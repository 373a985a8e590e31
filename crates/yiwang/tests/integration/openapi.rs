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

#[test]
fn every_operation_has_its_own_id_and_every_reference_resolves() {
    let (_, doc) = yiwang::http::api();
    let json = serde_json::to_value(&doc).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, operations) in json["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} repeated at {method} {path}");
        }
    }
    let text = json.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(json["components"]["schemas"].get(name).is_some(), "schema {name} is referenced but not defined");
    }
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
