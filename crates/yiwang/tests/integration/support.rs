//! Starting the app for a test and talking to it.

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, Executor};
use yiwang::config::Config;
use yiwang::{AppState, Running};

pub const PASSWORD: &str = yiwang::demo::DEMO_PASSWORD;

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database on the server named by `YIWANG_TEST_POSTGRES`, if set.
pub async fn fresh_postgres() -> Option<String> {
    let server = std::env::var("YIWANG_TEST_POSTGRES").ok().filter(|s| !s.is_empty())?;
    let name = format!("yiwang_t_{}", hex::encode(rand::random::<[u8; 8]>()));
    let mut conn = sqlx::PgConnection::connect(&server).await.expect("connect to YIWANG_TEST_POSTGRES");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create test database");
    let (base, _) = server.rsplit_once('/').expect("a URL with a database name");
    Some(format!("{base}/{name}"))
}

impl TestApp {
    /// An empty platform (no demo city).
    pub async fn empty() -> TestApp {
        TestApp::empty_with(|_| {}).await
    }

    /// An empty platform with settings changed by `configure`.
    pub async fn empty_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests(dir.path(), fresh_postgres().await);
        configure(&mut config);
        let state = yiwang::open(config).await.expect("open the app");
        let running = yiwang::start(state.clone()).await.expect("start the app");
        TestApp { base: format!("http://{}", running.addr), state, running: Some(running), _dir: dir }
    }

    /// The store alone, with no server and no worker competing for jobs.
    pub async fn store_only() -> (yiwang::store::Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_tests(dir.path(), fresh_postgres().await);
        let state = yiwang::open(config).await.expect("open the app");
        (state.store.clone(), dir)
    }

    /// The platform with the demo city loaded.
    pub async fn demo() -> TestApp {
        TestApp::demo_with(|_| {}).await
    }

    /// The demo city with settings changed by `configure`.
    pub async fn demo_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let app = TestApp::empty_with(configure).await;
        assert!(yiwang::demo::load(&app.state).await.expect("load demo"));
        app.state.search.refresh(&app.state.store).await.expect("index the demo catalogue");
        app.state.workorders.reload(&app.state.store).await.expect("load the demo work-order routing");
        app
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn anonymous(&self) -> Session {
        Session { client: client(), base: self.base.clone(), csrf: String::new() }
    }

    /// Signs in over the API; the returned session carries the cookie and CSRF token.
    pub async fn login(&self, login: &str) -> Session {
        let mut session = self.anonymous();
        let response = session.post("/api/auth/login", &json!({"login": login, "password": PASSWORD})).await;
        assert_eq!(response.status(), StatusCode::OK, "login {login}");
        let body: Value = response.json().await.unwrap();
        session.csrf = body["csrf_token"].as_str().unwrap().to_owned();
        session
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean shutdown");
        }
    }

    /// The id of the demo resident with this ID number.
    pub async fn resident_id(&self, id_number: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM residents WHERE id_number = $1")
            .bind(id_number)
            .fetch_one(self.state.store.pool())
            .await
            .unwrap()
    }
}

fn client() -> Client {
    Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub struct Session {
    pub client: Client,
    pub base: String,
    pub csrf: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.client.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn post_text(&self, path: &str, content_type: &str, body: String) -> Response {
        let request = self.client.post(format!("{}{path}", self.base)).header("x-csrf-token", &self.csrf);
        request.header("content-type", content_type).body(body).send().await.unwrap()
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Response {
        let mut request =
            self.client.request(method, format!("{}{path}", self.base)).header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }
}

/// Asserts the status and our error shape; returns the error object.
pub async fn expect_error(response: Response, status: u16, code: &str, field: Option<&str>) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("a JSON error body");
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "code in {body}");
    assert_eq!(error["field"].as_str(), field, "field in {body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    error
}
