//! The public service catalogue over HTTP.

use serde_json::Value;

use crate::support::{TestApp, expect_error};

#[tokio::test]
async fn the_demo_catalogue_is_published_and_readable() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    let all: Value = anon.get("/api/catalog/items?limit=200&offset=0").await.json().await.unwrap();
    let rest: Value = anon.get("/api/catalog/items?limit=200&offset=200").await.json().await.unwrap();
    let total = all.as_array().unwrap().len() + rest.as_array().unwrap().len();
    let shipped: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    assert_eq!(total, shipped.len());

    let police: Value = anon.get("/api/catalog/items?department=440400-GAJ").await.json().await.unwrap();
    assert!(!police.as_array().unwrap().is_empty());
    assert!(police.as_array().unwrap().iter().all(|i| i["department_code"] == "440400-GAJ"));

    let birth = shipped.iter().find(|i| i["name"] == "出生医学证明签发").unwrap();
    let code = birth["implementation_code"].as_str().unwrap();
    let item: Value = anon.get(&format!("/api/catalog/items/{code}")).await.json().await.unwrap();
    assert_eq!(item["version"], 1);
    assert_eq!(&item["item"], birth, "the published document is the one loaded, field for field");

    // Its publication is in the evidence log.
    let leaves = yiwang::ledger::leaves_about(&app.state.store, &format!("item:{code}")).await.unwrap();
    assert_eq!(leaves.len(), 1);

    expect_error(anon.get("/api/catalog/items/NO-SUCH-ITEM").await, 404, "not_found", None).await;
    expect_error(anon.get("/api/catalog/items?limit=0").await, 422, "out_of_range", Some("limit")).await;
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_item_publishes_nothing() {
    let app = TestApp::demo().await;
    let mut items: Vec<yiwang::catalog::model::ItemDocument> =
        serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let mut fresh = items.remove(0);
    fresh.implementation_code = "11440400007027396L-1-000105004000-99".into();
    let mut broken = fresh.clone();
    broken.implementation_code = "11440400007027396L-1-000105004000-98".into();
    broken.promised_limit_days = broken.statutory_limit_days + 1;
    let before = yiwang::ledger::size(&app.state.store).await.unwrap();
    let mut tx = app.state.store.begin_write().await.unwrap();
    let err = yiwang::catalog::publish(&mut tx, &[fresh, broken], Some(1), |_| true).await.unwrap_err();
    drop(tx);
    let api: yiwang::http::error::ApiError = err.into();
    assert_eq!(api.detail().field.as_deref(), Some("items[1].promised_limit_days"));
    let anon = app.anonymous();
    expect_error(anon.get("/api/catalog/items/11440400007027396L-1-000105004000-99").await, 404, "not_found", None)
        .await;
    assert_eq!(yiwang::ledger::size(&app.state.store).await.unwrap(), before);
    app.stop().await;
}

/// Renders an SVG QR code as a real renderer would and reads it as a phone camera would.
pub fn decode_qr(svg: &str) -> String {
    let tree = resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("valid SVG");
    let size = tree.size().to_int_size();
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("pixmap");
    resvg::render(&tree, resvg::tiny_skia::Transform::default(), &mut pixmap.as_mut());
    let (width, pixels) = (size.width() as usize, pixmap.data());
    let mut image =
        rqrr::PreparedImage::prepare_from_greyscale(width, size.height() as usize, |x, y| pixels[(y * width + x) * 4]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().expect("decodable").1
}

#[tokio::test]
async fn every_demo_item_has_a_guide_page_and_a_qr_code() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    let shipped: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    for item in &shipped {
        let code = item["implementation_code"].as_str().unwrap();
        let page = anon.get(&format!("/items/{code}")).await;
        assert_eq!(page.status(), 200, "{code}");
        let html = page.text().await.unwrap();
        assert!(html.contains(item["name"].as_str().unwrap()), "{code} shows its name");
        let first_material = item["materials"][0]["name"].as_str().unwrap();
        assert!(
            html.contains(&first_material.replace('"', "&#34;")) || html.contains(first_material),
            "{code} lists its materials"
        );
        let qr = anon.get(&format!("/items/{code}/qr.svg")).await;
        assert_eq!(qr.headers()["content-type"], "image/svg+xml");
        let guide = format!("{}/items/{code}", app.state.config.public_url);
        assert_eq!(decode_qr(&qr.text().await.unwrap()), guide, "{code} QR leads to its guide");
    }
    assert_eq!(anon.get("/items/NO-SUCH-ITEM").await.status(), 404);
    assert_eq!(anon.get("/items/NO-SUCH-ITEM/qr.svg").await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn export_import_round_trip_and_history() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let exported: Value = admin.get("/api/catalog/export").await.json().await.unwrap();
    let shipped: Value = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    assert_eq!(exported, shipped, "export gives back exactly what was loaded");

    let report: Value = admin.post("/api/catalog/import", &exported).await.json().await.unwrap();
    assert_eq!(report["unchanged"].as_u64().unwrap() as usize, shipped.as_array().unwrap().len());
    assert_eq!((report["created"].as_u64(), report["updated"].as_u64()), (Some(0), Some(0)));

    // A changed item gets a new version; the previous one stays readable.
    let mut changed = exported.clone();
    let code = changed[0]["implementation_code"].as_str().unwrap().to_owned();
    let old_summary = changed[0]["summary"].clone();
    changed[0]["summary"] = Value::from("更新后的说明。");
    let report: Value = admin.post("/api/catalog/import", &changed).await.json().await.unwrap();
    assert_eq!(report["updated"], 1);
    let history: Value = admin.get(&format!("/api/catalog/items/{code}/versions")).await.json().await.unwrap();
    assert_eq!(history[0]["version"], 2);
    assert_eq!(history[0]["published_by"], "admin", "the author is recorded");
    assert!(history[0]["published_at"].as_str().is_some());
    assert_eq!(history[1]["published_by"], Value::Null, "version 1 came from the demo loader");
    let v1: Value = app.anonymous().get(&format!("/api/catalog/items/{code}/versions/1")).await.json().await.unwrap();
    assert_eq!(v1["item"]["summary"], old_summary);
    let current: Value = app.anonymous().get(&format!("/api/catalog/items/{code}")).await.json().await.unwrap();
    assert_eq!(current["item"]["summary"], "更新后的说明。");
    // Round trip again: export → import changes nothing.
    let again: Value = admin.get("/api/catalog/export").await.json().await.unwrap();
    assert_eq!(again, changed);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_import_names_row_and_field_and_changes_nothing() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let exported: Value = admin.get("/api/catalog/export").await.json().await.unwrap();
    let ledger_before = yiwang::ledger::size(&app.state.store).await.unwrap();

    let mut bad = exported.clone();
    bad[0]["summary"] = Value::from("这次改动不应生效");
    bad[5]["promised_limit_days"] = Value::from(999);
    expect_error(
        admin.post("/api/catalog/import", &bad).await,
        422,
        "invalid_item",
        Some("items[5].promised_limit_days"),
    )
    .await;

    let mut malformed = exported.clone();
    malformed[7]["materials"][0]["copies"] = Value::from("two");
    let error = expect_error(
        admin.post("/api/catalog/import", &malformed).await,
        422,
        "invalid_field",
        Some("[7].materials[0].copies"),
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("copies") || error["message"].as_str().unwrap().contains("invalid")
    );

    assert_eq!(
        admin.get("/api/catalog/export").await.json::<Value>().await.unwrap(),
        exported,
        "the catalogue is unchanged"
    );
    assert_eq!(yiwang::ledger::size(&app.state.store).await.unwrap(), ledger_before);

    // Only platform admins, and only for departments in their scope.
    let clerk = app.login("clerk").await;
    expect_error(clerk.post("/api/catalog/import", &exported).await, 403, "forbidden", None).await;
    let doumen = app.login("doumen_admin").await;
    expect_error(doumen.post("/api/catalog/import", &exported).await, 403, "forbidden", None).await;
    expect_error(app.anonymous().post("/api/catalog/import", &exported).await, 401, "unauthenticated", None).await;
    app.stop().await;
}

#[tokio::test]
async fn csv_export_import_round_trip_and_row_errors() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    let exported = admin.get("/api/catalog/export.csv").await;
    assert_eq!(exported.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = exported.text().await.unwrap();
    let shipped: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    assert_eq!(csv.lines().count(), shipped.len() + 1, "a header and one line an item");

    let report: Value = admin.post_text("/api/catalog/import.csv", "text/csv", csv.clone()).await.json().await.unwrap();
    assert_eq!(report, serde_json::json!({"created": 0, "updated": 0, "unchanged": shipped.len()}));

    let first_name = shipped[0]["name"].as_str().unwrap();
    let renamed = csv.replacen(first_name, "居民身份证换领（电子）", 1);
    let report: Value = admin.post_text("/api/catalog/import.csv", "text/csv", renamed).await.json().await.unwrap();
    assert_eq!(report["updated"], 1);
    let code = shipped[0]["implementation_code"].as_str().unwrap();
    let history: Value = admin.get(&format!("/api/catalog/items/{code}/versions")).await.json().await.unwrap();
    assert_eq!(history[0]["published_by"], "admin");

    // A broken cell on line 3 is named, and nothing of the file is published.
    let before = admin.get("/api/catalog/export").await.text().await.unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replacen(first_name, "新名字", 1);
    lines[2] = lines[2].replacen(",\"[\"\"", ",\"[\"\"broken", 1);
    let response = admin.post_text("/api/catalog/import.csv", "text/csv", lines.join("\n")).await;
    let error = expect_error(response, 422, "invalid_item", Some("items[1].audiences[0]")).await;
    assert!(error["message"].as_str().unwrap().contains("line 3"), "{error}");
    assert_eq!(admin.get("/api/catalog/export").await.text().await.unwrap(), before);

    expect_error(
        admin.post_text("/api/catalog/import.csv", "application/json", csv.clone()).await,
        415,
        "unsupported_media_type",
        None,
    )
    .await;
    let anon = app.anonymous();
    expect_error(anon.post_text("/api/catalog/import.csv", "text/csv", csv).await, 401, "unauthenticated", None).await;
    app.stop().await;
}
