//! The back office changes items through drafts: edit, check, publish as a new version.

use serde_json::{Value, json};
use yiwang::catalog::model::ItemDocument;

use crate::support::{Session, TestApp, expect_error};

fn demo_item(department: &str) -> ItemDocument {
    let items: Vec<ItemDocument> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    items.into_iter().find(|i| i.department_code == department).expect("a demo item of the department")
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    response.json().await.unwrap()
}

async fn put(session: &Session, path: &str, body: &Value) -> reqwest::Response {
    session.send(reqwest::Method::PUT, path, Some(body)).await
}

#[tokio::test]
async fn a_draft_is_checked_then_published_as_the_next_version() {
    let app = TestApp::demo().await;
    let editor = app.login("police_editor").await;
    let item = demo_item("440400-GAJ");
    let code = &item.implementation_code;
    let leaves_before = yiwang::ledger::size(&app.state.store).await.unwrap();

    let draft = json_of(editor.post(&format!("/api/catalog/items/{code}/draft"), &json!({})).await, 200).await;
    assert_eq!(draft["based_on_version"], 1);
    assert_eq!(draft["problems"], json!([]));
    assert_eq!(draft["item"]["name"], item.name.as_str());

    // A draft may break rules while it is worked on; they are listed, and block publishing.
    let mut broken = item.clone();
    broken.name = format!("{}（新）", item.name);
    broken.promised_limit_days = broken.statutory_limit_days + 5;
    let saved = json_of(put(&editor, &format!("/api/catalog/drafts/{code}"), &json!(broken)).await, 200).await;
    assert_eq!(saved["updated_by"], "police_editor");
    assert_eq!(saved["problems"][0]["field"], "promised_limit_days", "{saved}");
    let refused = editor.post(&format!("/api/catalog/drafts/{code}/publish"), &json!({})).await;
    expect_error(refused, 422, "invalid_item", Some("promised_limit_days")).await;

    // Residents still see the published version.
    let anon = app.anonymous();
    let public = json_of(anon.get(&format!("/api/catalog/items/{code}")).await, 200).await;
    assert_eq!(public["item"]["name"], item.name.as_str());

    let mut fixed = broken.clone();
    fixed.promised_limit_days = item.promised_limit_days;
    json_of(put(&editor, &format!("/api/catalog/drafts/{code}"), &json!(fixed)).await, 200).await;
    let published = json_of(editor.post(&format!("/api/catalog/drafts/{code}/publish"), &json!({})).await, 200).await;
    assert_eq!(published["version"], 2);

    let public = json_of(anon.get(&format!("/api/catalog/items/{code}")).await, 200).await;
    assert_eq!(public["item"]["name"], fixed.name.as_str());
    let history = json_of(anon.get(&format!("/api/catalog/items/{code}/versions")).await, 200).await;
    assert_eq!(history[0]["version"], 2);
    assert_eq!(history[0]["published_by"], "police_editor");
    let previous = json_of(anon.get(&format!("/api/catalog/items/{code}/versions/1")).await, 200).await;
    assert_eq!(previous["item"]["name"], item.name.as_str(), "a reviewer can see the previous version");
    assert_eq!(
        yiwang::ledger::size(&app.state.store).await.unwrap(),
        leaves_before + 1,
        "one leaf for the publication"
    );

    expect_error(editor.get(&format!("/api/catalog/drafts/{code}")).await, 404, "not_found", None).await;
    let found = json_of(anon.get("/api/catalog/search?q=（新）").await, 200).await;
    assert!(found.as_array().unwrap().iter().any(|h| h["code"] == code.as_str()), "{found}");
    app.stop().await;
}

#[tokio::test]
async fn only_the_department_or_its_admin_edits_its_items() {
    let app = TestApp::demo().await;
    let police_item = demo_item("440400-GAJ");
    let code = &police_item.implementation_code;
    let path = format!("/api/catalog/items/{code}/draft");

    expect_error(app.anonymous().post(&path, &json!({})).await, 401, "unauthenticated", None).await;
    expect_error(app.login("hrss_editor").await.post(&path, &json!({})).await, 403, "forbidden", None).await;
    expect_error(app.login("clerk").await.post(&path, &json!({})).await, 403, "forbidden", None).await;
    expect_error(app.login("doumen_admin").await.post(&path, &json!({})).await, 403, "forbidden", None).await;

    let police = app.login("police_editor").await;
    json_of(police.post(&path, &json!({})).await, 200).await;
    // Another department's editor does not even learn that the draft exists.
    let hrss = app.login("hrss_editor").await;
    expect_error(hrss.get(&format!("/api/catalog/drafts/{code}")).await, 404, "not_found", None).await;
    assert_eq!(json_of(hrss.get("/api/catalog/drafts").await, 200).await, json!([]));
    // Moving an item to a department the editor does not hold is refused.
    let mut moved = police_item.clone();
    moved.department_code = "440400-RSJ".into();
    expect_error(put(&police, &format!("/api/catalog/drafts/{code}"), &json!(moved)).await, 403, "forbidden", None)
        .await;

    // The city's platform admin reaches every city department.
    let admin = app.login("admin").await;
    let drafts = json_of(admin.get("/api/catalog/drafts").await, 200).await;
    assert_eq!(drafts[0]["implementation_code"], code.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_draft_overtaken_by_another_publication_is_refused() {
    let app = TestApp::demo().await;
    let item = demo_item("440400-GAJ");
    let code = &item.implementation_code;
    let police = app.login("police_editor").await;
    json_of(police.post(&format!("/api/catalog/items/{code}/draft"), &json!({})).await, 200).await;

    let mut imported = item.clone();
    imported.summary = format!("{}（导入更新）", item.summary);
    let admin = app.login("admin").await;
    json_of(admin.post("/api/catalog/import", &json!([imported])).await, 200).await;

    let refused = police.post(&format!("/api/catalog/drafts/{code}/publish"), &json!({})).await;
    expect_error(refused, 409, "stale_draft", None).await;
    let public = json_of(app.anonymous().get(&format!("/api/catalog/items/{code}")).await, 200).await;
    assert_eq!(public["version"], 2, "the import stands");
    app.stop().await;
}

#[tokio::test]
async fn a_new_item_starts_as_a_draft() {
    let app = TestApp::demo().await;
    let police = app.login("police_editor").await;
    let mut item = demo_item("440400-GAJ");
    expect_error(
        police.post("/api/catalog/drafts", &json!(item)).await,
        422,
        "already_registered",
        Some("implementation_code"),
    )
    .await;

    item.implementation_code = "11440400007027396L-1-000105999000-01".into();
    item.name = "临时居民身份证申领".into();
    let draft = json_of(police.post("/api/catalog/drafts", &json!(item)).await, 201).await;
    assert_eq!(draft["based_on_version"], Value::Null);
    let anon = app.anonymous();
    assert_eq!(anon.get(&format!("/api/catalog/items/{}", item.implementation_code)).await.status(), 404);

    let published = json_of(
        police.post(&format!("/api/catalog/drafts/{}/publish", item.implementation_code), &json!({})).await,
        200,
    )
    .await;
    assert_eq!(published["version"], 1);
    let found = json_of(anon.get("/api/catalog/search?q=临时身份证").await, 200).await;
    assert_eq!(found[0]["code"], item.implementation_code.as_str(), "{found}");
    app.stop().await;
}

/// The value of a hidden or text input in a page.
fn input_value<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html.find(&format!("name=\"{name}\"")).expect("the input");
    let value = &html[at..];
    let start = value.find("value=\"").expect("a value") + 7;
    &value[start..start + value[start..].find('"').unwrap()]
}

#[tokio::test]
async fn the_editor_page_keeps_what_was_typed_and_publishes() {
    let app = TestApp::demo().await;
    let police = app.login("police_editor").await;
    let item = demo_item("440400-GAJ");
    let code = &item.implementation_code;

    let guide = police.get(&format!("/items/{code}")).await.text().await.unwrap();
    assert!(guide.contains("id=\"edit-form\""), "staff see the edit button");
    let csrf = input_value(&guide, "csrf_token").to_owned();
    let opened = police
        .client
        .post(app.url(&format!("/items/{code}/edit")))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), 303);
    assert_eq!(opened.headers()["location"], format!("/catalog/drafts/{code}"));

    let editor = police.get(&format!("/catalog/drafts/{code}")).await.text().await.unwrap();
    assert!(editor.contains(&item.name));
    let draft: Value = police.get(&format!("/api/catalog/drafts/{code}")).await.json().await.unwrap();
    let mut form: Vec<(String, String)> = vec![("csrf_token".into(), csrf.clone())];
    for (key, value) in draft["item"].as_object().unwrap() {
        match value {
            Value::String(text) => form.push((key.clone(), text.clone())),
            Value::Number(n) => form.push((key.clone(), n.to_string())),
            Value::Array(values) if ["audiences", "themes"].contains(&key.as_str()) => {
                form.extend(values.iter().map(|v| (key.clone(), v.as_str().unwrap().to_owned())));
            }
            Value::Array(values) if ["legal_basis", "conditions", "keywords"].contains(&key.as_str()) => {
                form.push((key.clone(), values.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>().join("\n")));
            }
            other => form.push((key.clone(), other.to_string())),
        }
    }
    let set = |form: &mut Vec<(String, String)>, key: &str, value: &str| {
        form.iter_mut().find(|(k, _)| k == key).unwrap().1 = value.to_owned();
    };
    set(&mut form, "name", "居民身份证换领（网上预约）");
    set(&mut form, "statutory_limit_days", "六十天");
    form.push(("action".into(), "save".into()));
    let refused = police.client.post(app.url(&format!("/catalog/drafts/{code}"))).form(&form).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(page.contains("六十天") && page.contains("居民身份证换领（网上预约）"), "nothing typed is lost");
    assert!(page.contains("statutory_limit_days"), "the field is named");

    set(&mut form, "statutory_limit_days", &item.statutory_limit_days.to_string());
    set(&mut form, "action", "publish");
    let published = police.client.post(app.url(&format!("/catalog/drafts/{code}"))).form(&form).send().await.unwrap();
    assert_eq!(published.status(), 303, "{}", published.text().await.unwrap_or_default());
    assert_eq!(published.headers()["location"], format!("/items/{code}"));

    let history = app.anonymous().get(&format!("/items/{code}/history")).await.text().await.unwrap();
    assert!(history.contains("police_editor") && history.contains("name"), "who changed what");
    let earlier = app.anonymous().get(&format!("/items/{code}?version=1")).await.text().await.unwrap();
    assert!(earlier.contains("id=\"earlier-notice\"") && earlier.contains(&item.name));
    app.stop().await;
}
