//! A real browser: headless Chromium (Debian's chromium and chromium-driver) opens the login
//! page, signs in as the demo admin and sees the admin home. Runs when `YIWANG_BROWSER_TESTS=1`
//! (CI sets it); `CHROMEDRIVER` overrides the driver path.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

use crate::support::{PASSWORD, TestApp};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn admin_signs_in_with_a_real_browser() {
    if std::env::var("YIWANG_BROWSER_TESTS").as_deref() != Ok("1") {
        eprintln!("browser test not enabled (set YIWANG_BROWSER_TESTS=1)");
        return;
    }
    let app = TestApp::demo().await;
    let port = free_port();
    let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let _driver = Driver(
        Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=412,915"]
        }),
    );
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let browser = client.expect("connect to chromedriver");

    browser.goto(&app.url("/login")).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "登录 · 一网 · 数字政府平台");
    browser.find(Locator::Id("login")).await.unwrap().send_keys("admin").await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys("wrong-password1").await.unwrap();
    browser.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    let error = browser.wait().for_element(Locator::Id("login-error")).await.unwrap();
    assert!(error.text().await.unwrap().contains("账号或密码错误"));

    browser.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    let workbench = browser.wait().for_element(Locator::Id("workbench-platform_admin")).await.unwrap();
    assert!(workbench.text().await.unwrap().contains("平台管理员工作台"));
    assert_eq!(browser.find(Locator::Id("current-user")).await.unwrap().text().await.unwrap(), "管理员 王敏");

    // The language switch keeps the user where they were.
    browser.find(Locator::Css("a.lang")).await.unwrap().click().await.unwrap();
    let workbench = browser.wait().for_element(Locator::Id("workbench-platform_admin")).await.unwrap();
    assert!(workbench.text().await.unwrap().contains("Platform admin workbench"));

    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).ok();
    let png = browser.screenshot().await.unwrap();
    std::fs::write(format!("{}/admin-home.png", env!("CARGO_TARGET_TMPDIR")), png).unwrap();

    browser.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("login-form")).await.unwrap();
    browser.close().await.unwrap();
    app.stop().await;
}
