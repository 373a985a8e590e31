//! Sign-in, sessions, CSRF, throttling and API tokens.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestApp, expect_error};

#[tokio::test]
async fn every_demo_account_signs_in_and_sees_its_roles() {
    let app = TestApp::demo().await;
    for (login, _, role, _) in yiwang::demo::DEMO_STAFF {
        let session = app.login(login).await;
        let me: Value = session.get("/api/me").await.json().await.unwrap();
        assert_eq!(me["kind"], "staff");
        assert_eq!(me["grants"][0]["role"], role.as_str(), "{login}");
    }
    let resident = app.login(yiwang::demo::DEMO_RESIDENTS[0].0).await;
    let me: Value = resident.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["kind"], "resident");
    let enterprise = app.login(yiwang::demo::DEMO_ENTERPRISES[0].0).await;
    let me: Value = enterprise.get("/api/me").await.json().await.unwrap();
    assert_eq!(me["kind"], "enterprise");
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_then_throttled() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    for _ in 0..yiwang::identity::MAX_FAILURES_PER_LOGIN {
        let r = anon.post("/api/auth/login", &json!({"login": "clerk", "password": "wrong-password1"})).await;
        expect_error(r, 422, "bad_credentials", Some("password")).await;
    }
    // Locked now, even with the right password.
    let locked = anon.post("/api/auth/login", &json!({"login": "clerk", "password": PASSWORD})).await;
    assert!(locked.headers().contains_key("retry-after"));
    expect_error(locked, 429, "too_many_attempts", None).await;
    // Another account is not affected.
    app.login("reviewer").await;
    // An unknown login answers exactly like a wrong password.
    let r = anon.post("/api/auth/login", &json!({"login": "nobody", "password": PASSWORD})).await;
    expect_error(r, 422, "bad_credentials", Some("password")).await;
    app.stop().await;
}

#[tokio::test]
async fn session_cookie_and_csrf() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    let response = anon.post("/api/auth/login", &json!({"login": "admin", "password": PASSWORD})).await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");

    let mut session = app.login("admin").await;
    let body = json!({"name": "ci"});
    let csrf = std::mem::take(&mut session.csrf);
    expect_error(session.post("/api/tokens", &body).await, 400, "csrf_failed", Some("csrf_token")).await;
    session.csrf = "forged".into();
    expect_error(session.post("/api/tokens", &body).await, 400, "csrf_failed", Some("csrf_token")).await;
    session.csrf = csrf;
    assert_eq!(session.post("/api/tokens", &body).await.status(), 201);

    // Signing out ends the session on the server, not only in the browser.
    assert_eq!(session.post("/api/auth/logout", &json!({})).await.status(), 204);
    expect_error(session.get("/api/me").await, 401, "unauthenticated", None).await;
    app.stop().await;
}

#[tokio::test]
async fn api_tokens_act_as_their_owner_until_revoked() {
    let app = TestApp::demo().await;
    let session = app.login("dispatcher").await;
    let created: Value = session.post("/api/tokens", &json!({"name": "sensor gateway"})).await.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["token"]["id"].as_i64().unwrap();
    expect_error(session.post("/api/tokens", &json!({"name": "  "})).await, 422, "invalid_name", Some("name")).await;

    let machine = reqwest::Client::new();
    let me: Value = machine.get(app.url("/api/me")).bearer_auth(&secret).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["grants"][0]["role"], "dispatcher");
    // A bearer token needs no CSRF token: browsers never send it by themselves.
    let r = machine
        .post(app.url("/api/tokens"))
        .bearer_auth(&secret)
        .json(&json!({"name": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let listed: Value = session.get("/api/tokens").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains(&secret), "the secret is shown once only");

    assert_eq!(session.send(Method::DELETE, &format!("/api/tokens/{id}"), None).await.status(), 204);
    let r = machine.get(app.url("/api/me")).bearer_auth(&secret).send().await.unwrap();
    expect_error(r, 401, "unauthenticated", None).await;
    // Someone else's token cannot be revoked, and does not reveal itself.
    let other = app.login("operator").await;
    expect_error(other.send(Method::DELETE, &format!("/api/tokens/{}", id + 1), None).await, 404, "not_found", None)
        .await;
    app.stop().await;
}
