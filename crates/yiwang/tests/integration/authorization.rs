//! Who may read and change what: residents see only themselves, staff only their region's
//! records, and personal fields are masked for roles without the grant.

use reqwest::Method;
use serde_json::{Value, json};
use yiwang::demo::{DEMO_ENTERPRISES, DEMO_RESIDENTS};

use crate::support::{TestApp, expect_error};

// 陈晓红 lives in 香洲区 (440402); 黄建国 in 斗门区 (440403).
const XIANGZHOU_RESIDENT: &str = DEMO_RESIDENTS[0].0;
const DOUMEN_RESIDENT: &str = DEMO_RESIDENTS[2].0;

#[tokio::test]
async fn a_resident_reads_only_their_own_record() {
    let app = TestApp::demo().await;
    let own = app.resident_id(XIANGZHOU_RESIDENT).await;
    let other = app.resident_id(DOUMEN_RESIDENT).await;
    let resident = app.login(XIANGZHOU_RESIDENT).await;

    let me: Value = resident.get(&format!("/api/residents/{own}")).await.json().await.unwrap();
    assert_eq!(me["id_number"], XIANGZHOU_RESIDENT, "a resident sees their own number in full");
    assert_eq!(me["masked"], false);

    let denied = resident.get(&format!("/api/residents/{other}")).await;
    let body = expect_error(denied, 404, "not_found", None).await;
    assert!(!body.to_string().contains(DOUMEN_RESIDENT) && !body.to_string().contains("黄建国"), "nothing leaks");
    // A record that does not exist answers the same, so existence is not revealed.
    expect_error(resident.get("/api/residents/999999").await, 404, "not_found", None).await;
    expect_error(resident.get("/api/residents").await, 403, "forbidden", None).await;
    expect_error(app.anonymous().get(&format!("/api/residents/{own}")).await, 401, "unauthenticated", None).await;
    app.stop().await;
}

#[tokio::test]
async fn district_staff_see_their_district_only() {
    let app = TestApp::demo().await;
    let xiangzhou = app.resident_id(XIANGZHOU_RESIDENT).await;
    let doumen = app.resident_id(DOUMEN_RESIDENT).await;
    let clerk = app.login("doumen_clerk").await;

    let record: Value = clerk.get(&format!("/api/residents/{doumen}")).await.json().await.unwrap();
    assert_eq!(record["id_number"], DOUMEN_RESIDENT, "a window clerk sees personal data in their district");
    let denied = clerk.get(&format!("/api/residents/{xiangzhou}")).await;
    let body = expect_error(denied, 404, "not_found", None).await;
    assert!(!body.to_string().contains("陈晓红"));

    let listed: Value = clerk.get("/api/residents").await.json().await.unwrap();
    let listed = listed.as_array().unwrap();
    assert!(!listed.is_empty());
    for r in listed {
        assert!(r["region_code"].as_str().unwrap().starts_with("440403"), "only 斗门区 residents: {r}");
        assert_eq!(r["masked"], true, "lists are always masked");
        assert!(r["id_number"].as_str().unwrap().contains('*'));
    }

    // Enterprises follow the same rule.
    let doumen_enterprise: i64 = sqlx::query_scalar("SELECT id FROM enterprises WHERE credit_code = $1")
        .bind(DEMO_ENTERPRISES[2].0)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(clerk.get(&format!("/api/enterprises/{doumen_enterprise}")).await.status(), 200);
    expect_error(clerk.get(&format!("/api/enterprises/{}", doumen_enterprise - 2)).await, 404, "not_found", None).await;
    app.stop().await;
}

#[tokio::test]
async fn roles_without_the_grant_see_personal_data_masked() {
    let app = TestApp::demo().await;
    let id = app.resident_id(XIANGZHOU_RESIDENT).await;
    // A city-level department handler reaches the whole city but may not see ID numbers in full.
    let handler = app.login("handler").await;
    let record: Value = handler.get(&format!("/api/residents/{id}")).await.json().await.unwrap();
    assert_eq!(record["masked"], true);
    assert_eq!(record["id_number"], "440***********0024");
    assert_eq!(record["phone"], "138****8001");
    app.stop().await;
}

#[tokio::test]
async fn an_enterprise_reads_only_itself() {
    let app = TestApp::demo().await;
    let enterprise = app.login(DEMO_ENTERPRISES[0].0).await;
    let me: Value = enterprise.get("/api/me").await.json().await.unwrap();
    let own = me["enterprise_id"].as_i64().unwrap();
    let record: Value = enterprise.get(&format!("/api/enterprises/{own}")).await.json().await.unwrap();
    assert_eq!(record["credit_code"], DEMO_ENTERPRISES[0].0);
    assert_eq!(record["phone"], DEMO_ENTERPRISES[0].3);
    expect_error(enterprise.get(&format!("/api/enterprises/{}", own + 1)).await, 404, "not_found", None).await;
    let resident = app.resident_id(XIANGZHOU_RESIDENT).await;
    expect_error(enterprise.get(&format!("/api/residents/{resident}")).await, 404, "not_found", None).await;
    app.stop().await;
}

#[tokio::test]
async fn admins_manage_staff_within_their_scope() {
    let app = TestApp::demo().await;
    let departments: Value = app.anonymous().get("/api/departments").await.json().await.unwrap();
    let department = |code: &str| {
        departments.as_array().unwrap().iter().find(|d| d["code"] == code).unwrap()["id"].as_i64().unwrap()
    };
    let doumen_admin = app.login("doumen_admin").await;
    let new_staff = |login: &str, dept: i64| json!({"login": login, "display_name": "新同事", "password": "abcd1234", "roles": [{"department_id": dept, "role": "window_clerk"}]});
    let created = doumen_admin.post("/api/staff", &new_staff("doumen_new", department("440403-CGJ"))).await;
    assert_eq!(created.status(), 201);
    expect_error(
        doumen_admin.post("/api/staff", &new_staff("city_new", department("440400-GAJ"))).await,
        403,
        "forbidden",
        None,
    )
    .await;
    expect_error(
        doumen_admin.post("/api/staff", &new_staff("doumen_new", department("440403-CGJ"))).await,
        422,
        "already_registered",
        Some("login"),
    )
    .await;
    expect_error(
        doumen_admin.post("/api/staff", &new_staff("x", department("440403-CGJ"))).await,
        422,
        "invalid_login",
        Some("login"),
    )
    .await;
    let bad_role = json!({"login": "abc", "display_name": "x", "password": "abcd1234", "roles": [{"department_id": 1, "role": "king"}]});
    expect_error(doumen_admin.post("/api/staff", &bad_role).await, 422, "invalid_field", Some("roles[0].role")).await;

    let listed: Value = doumen_admin.get("/api/staff").await.json().await.unwrap();
    let logins: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["login"].as_str().unwrap()).collect();
    assert!(logins.contains(&"doumen_clerk") && logins.contains(&"doumen_new"), "{logins:?}");
    assert!(!logins.contains(&"clerk") && !logins.contains(&"admin"), "no staff from other districts: {logins:?}");

    let city_admin = app.login("admin").await;
    let all: Value = city_admin.get("/api/staff").await.json().await.unwrap();
    assert!(all.as_array().unwrap().len() > listed.as_array().unwrap().len());

    let clerk = app.login("clerk").await;
    expect_error(clerk.get("/api/staff").await, 403, "forbidden", None).await;
    expect_error(
        clerk.post("/api/staff", &new_staff("sneaky", department("440402-ZSJ"))).await,
        403,
        "forbidden",
        None,
    )
    .await;
    expect_error(
        clerk
            .send(Method::PUT, "/api/calendar/days/2027-01-01", Some(&json!({"kind": "holiday", "name": "元旦"})))
            .await,
        403,
        "forbidden",
        None,
    )
    .await;
    app.stop().await;
}

/// Every operation of the OpenAPI document, called without signing in, answers as the document's
/// access list says: 401 where a signed-in user (or an exchange app's token) is needed, and never
/// 401 or 403 where everyone may call. A new operation is covered the moment it is registered;
/// an operation that forgets to ask for a user fails here.
#[tokio::test]
async fn every_operation_answers_anonymous_callers_as_its_access_says() {
    use yiwang::http::document::{Access, access};

    let app = TestApp::demo().await;
    let document: Value = app.anonymous().get("/api/openapi.json").await.json().await.unwrap();
    let anonymous = app.anonymous();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get(method) else { continue };
            let (kind, documented) = (access(method, path), operation["security"].is_array());
            assert_eq!(documented, kind != Access::Everyone, "{method} {path}: its security in the document");
            // Path parameters get plausible values; a body, where one is taken, is empty.
            let concrete = path
                .split('/')
                .map(|part| if part.starts_with('{') { "1" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = operation.get("requestBody").map(|_| json!({}));
            let status = anonymous.send(method.clone(), &concrete, body.as_ref()).await.status().as_u16();
            match kind {
                Access::SignedIn | Access::ExchangeApp => {
                    assert_eq!(status, 401, "{method} {concrete} without signing in")
                }
                Access::Everyone => {
                    assert!(status != 401 && status != 403, "{method} {concrete} is open to everyone: {status}")
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} operations");
    app.stop().await;
}
