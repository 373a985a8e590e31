//! A real browser: headless Chromium (Debian's chromium and chromium-driver) on a phone-sized
//! window. The demo admin signs in; a resident searches, reads a guide in large text and prints
//! it. Runs when `YIWANG_BROWSER_TESTS=1` (CI sets it); `CHROMEDRIVER` and `CHROMIUM` override
//! the paths.

use std::io::{BufRead, BufReader};
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

/// Starts chromedriver on a port it picks itself (a port chosen beforehand could be taken by
/// another test's connection first) and reads the port from its greeting.
fn start_driver() -> (Driver, u16) {
    let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let mut child = Command::new(driver_path)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let mut lines = BufReader::new(child.stdout.take().expect("chromedriver's output")).lines();
    let driver = Driver(child);
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("started successfully on port ").and_then(|(_, p)| p.trim_end_matches('.').parse().ok())
        })
        .expect("chromedriver says its port");
    // Keep reading, so chromedriver never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (driver, port)
}

fn enabled() -> bool {
    let on = std::env::var("YIWANG_BROWSER_TESTS").as_deref() == Ok("1");
    if !on {
        eprintln!("browser test not enabled (set YIWANG_BROWSER_TESTS=1)");
    }
    on
}

/// Headless Chromium on a phone-sized window, and the driver process that goes with it.
async fn browser() -> (Driver, fantoccini::Client) {
    let (driver, port) = start_driver();
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
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver, client),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("could not connect to chromedriver");
}

fn save_screenshot(name: &str, png: &[u8]) {
    std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).ok();
    std::fs::write(format!("{}/{name}.png", env!("CARGO_TARGET_TMPDIR")), png).unwrap();
}

#[tokio::test]
async fn admin_signs_in_with_a_real_browser() {
    if !enabled() {
        return;
    }
    let app = TestApp::demo().await;
    let (_driver, browser) = browser().await;

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

    save_screenshot("admin-home", &browser.screenshot().await.unwrap());

    browser.find(Locator::Css("form[action='/logout'] button")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("login-form")).await.unwrap();
    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn resident_searches_reads_a_guide_in_large_text_and_prints_it() {
    if !enabled() {
        return;
    }
    let app = TestApp::demo().await;
    let (_driver, browser) = browser().await;

    browser.goto(&app.url("/")).await.unwrap();
    browser.find(Locator::Id("q")).await.unwrap().send_keys("生孩子要办什么").await.unwrap();
    // Suggestions arrive as the resident types.
    let suggestion = browser.wait().for_element(Locator::Css("#suggestions li a")).await.unwrap();
    assert!(!suggestion.text().await.unwrap().is_empty());
    browser.find(Locator::Css("form[role=search] button[type=submit]")).await.unwrap().click().await.unwrap();
    let results = browser.wait().for_element(Locator::Id("search-results")).await.unwrap();
    assert!(results.text().await.unwrap().contains("出生医学证明签发"));
    save_screenshot("search-results", &browser.screenshot().await.unwrap());

    results.find(Locator::LinkText("出生医学证明签发")).await.unwrap().click().await.unwrap();
    let name = browser.wait().for_element(Locator::Id("item-name")).await.unwrap();
    assert_eq!(name.text().await.unwrap(), "出生医学证明签发");

    let font_size = || async {
        let size = browser.execute("return getComputedStyle(document.body).fontSize", vec![]).await.unwrap();
        size.as_str().unwrap().trim_end_matches("px").parse::<f64>().unwrap()
    };
    let normal = font_size().await;
    browser.find(Locator::Css("button[data-action=large-text]")).await.unwrap().click().await.unwrap();
    let large = font_size().await;
    assert!(large >= normal * 1.2, "large text: {normal}px -> {large}px");
    save_screenshot("guide-large-text", &browser.screenshot().await.unwrap());

    // The choice stays for the next guide.
    browser.refresh().await.unwrap();
    browser.wait().for_element(Locator::Id("item-name")).await.unwrap();
    assert_eq!(font_size().await, large);

    // The print button opens the print dialog; stand in for it, then print for real.
    browser
        .execute("window.printed = false; window.print = function () { window.printed = true; };", vec![])
        .await
        .unwrap();
    browser.find(Locator::Css("button[data-action=print]")).await.unwrap().click().await.unwrap();
    assert_eq!(browser.execute("return window.printed", vec![]).await.unwrap(), serde_json::json!(true));
    let pdf = browser.print(fantoccini::wd::PrintConfiguration::default()).await.unwrap();
    assert!(pdf.starts_with(b"%PDF"), "the guide prints as a PDF");

    browser.close().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn resident_gets_an_instant_approval_and_its_certificate_verifies() {
    if !enabled() {
        return;
    }
    let app = TestApp::demo().await;
    let (_driver, browser) = browser().await;
    let items: Vec<serde_json::Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let rent =
        items.iter().find(|i| i["name"] == "租房提取住房公积金").unwrap()["implementation_code"].as_str().unwrap();

    browser.goto(&app.url("/login")).await.unwrap();
    browser.find(Locator::Id("login")).await.unwrap().send_keys("440402198503120024").await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("resident-home")).await.unwrap();

    browser.goto(&app.url(&format!("/items/{rent}"))).await.unwrap();
    browser.find(Locator::Id("apply-link")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("apply-form")).await.unwrap();
    // What the government already knows is filled in.
    for (field, known) in
        [("form-applicant_name", "陈晓红"), ("form-id_number", "440402198503120024"), ("form-phone", "13800138001")]
    {
        let value = browser.find(Locator::Id(field)).await.unwrap().prop("value").await.unwrap();
        assert_eq!(value.as_deref(), Some(known), "{field}");
    }
    browser.find(Locator::Id("form-bank_card")).await.unwrap().send_keys("6222020200112233445").await.unwrap();
    browser.find(Locator::Css("#form-extract_mode option[value='按月自动提取']")).await.unwrap().click().await.unwrap();
    // The ID card is offered as an e-certificate instead of an upload (免证办).
    let id_card = browser.find(Locator::Css("#material-M1 input[value=certificate]")).await.unwrap();
    assert_eq!(id_card.prop("checked").await.unwrap().as_deref(), Some("true"));
    save_screenshot("apply-form", &browser.screenshot().await.unwrap());
    browser.find(Locator::Id("apply-submit")).await.unwrap().click().await.unwrap();

    let decision = browser.wait().for_element(Locator::Id("decision")).await.unwrap();
    let text = decision.text().await.unwrap();
    assert!(text.contains("准予") && text.contains("r08_approve"), "the rule that decided is shown: {text}");
    let state = browser.find(Locator::Id("application-state")).await.unwrap();
    assert_eq!(state.attr("data-state").await.unwrap().as_deref(), Some("completed"));
    assert_eq!(state.text().await.unwrap(), "已办结");
    save_screenshot("instant-decision", &browser.screenshot().await.unwrap());

    browser.find(Locator::Css("#results a")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("certificate-qr")).await.unwrap();
    assert!(
        browser
            .find(Locator::Id("certificate"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("住房公积金提取核准通知书")
    );
    // Read the QR code as a verifier's phone would, and open what it says.
    let qr_path = browser.find(Locator::Id("certificate-qr")).await.unwrap().attr("src").await.unwrap().unwrap();
    let svg = browser
        .execute("const r = await fetch(arguments[0]); return await r.text();", vec![serde_json::json!(qr_path)])
        .await
        .unwrap();
    let url = crate::catalog::decode_qr(svg.as_str().unwrap());
    let token = url.split("token=").nth(1).expect("a verification link").to_owned();
    browser.goto(&app.url(&format!("/verify?token={token}"))).await.unwrap();
    let verdict = browser.wait().for_element(Locator::Id("verify-result")).await.unwrap();
    assert_eq!(verdict.attr("data-valid").await.unwrap().as_deref(), Some("true"));

    // One byte of the payload changed: the signature fails.
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut note = engine.decode(&token).unwrap();
    let at = note.iter().position(|b| *b == b'2').unwrap();
    note[at] = b'3';
    browser.goto(&app.url(&format!("/verify?token={}", engine.encode(&note)))).await.unwrap();
    let verdict = browser.wait().for_element(Locator::Id("verify-result")).await.unwrap();
    assert_eq!(verdict.attr("data-valid").await.unwrap().as_deref(), Some("false"));
    save_screenshot("verify-tampered", &browser.screenshot().await.unwrap());
    browser.close().await.unwrap();
    app.stop().await;
}

async fn sign_in_as(browser: &fantoccini::Client, app: &TestApp, login: &str) {
    browser.delete_all_cookies().await.unwrap();
    browser.goto(&app.url("/login")).await.unwrap();
    browser.find(Locator::Id("login")).await.unwrap().send_keys(login).await.unwrap();
    browser.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("current-user")).await.unwrap();
}

async fn state_of(browser: &fantoccini::Client) -> (String, Option<String>) {
    let state = browser.wait().for_element(Locator::Id("workorder-state")).await.unwrap();
    let department = match browser.find(Locator::Id("workorder-department")).await {
        Ok(d) => d.attr("data-code").await.unwrap(),
        Err(_) => None,
    };
    (state.attr("data-state").await.unwrap().unwrap_or_default(), department)
}

async fn take_step(browser: &fantoccini::Client, action: &str, note: Option<&str>) {
    if let Some(note) = note {
        browser.find(Locator::Id("note")).await.unwrap().send_keys(note).await.unwrap();
    }
    let before = browser.find(Locator::Id("workorder-state")).await.ok();
    browser.find(Locator::Id(&format!("step-{action}"))).await.unwrap().click().await.unwrap();
    // The step answers with the order's page again: wait until the page it was taken on is gone
    // (its elements go stale), or the old page's state would be read.
    if let Some(before) = before {
        for _ in 0..200 {
            if before.text().await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }
    browser.wait().for_element(Locator::Id("workorder-state")).await.unwrap();
}

#[tokio::test]
async fn a_call_and_a_patrol_finding_are_dispatched_handled_rated_and_supervised() {
    if !enabled() {
        return;
    }
    let app = TestApp::demo().await;
    // Monday 23 Nov 2026, 10:00 in Zhuhai.
    let monday = chrono::DateTime::parse_from_rfc3339("2026-11-23T10:00:00+08:00").unwrap().to_utc();
    app.state.clock.set(Some(monday));
    let (_driver, browser) = browser().await;

    // The operator takes a call on the keyboard-first console.
    sign_in_as(&browser, &app, "operator").await;
    browser.goto(&app.url("/hotline")).await.unwrap();
    browser.find(Locator::Id("phone")).await.unwrap().send_keys("13800138001").await.unwrap();
    browser.find(Locator::Id("caller_name")).await.unwrap().send_keys("陈晓红").await.unwrap();
    browser.find(Locator::Css("#request_type option[value=complaint]")).await.unwrap().click().await.unwrap();
    browser
        .find(Locator::Id("text"))
        .await
        .unwrap()
        .send_keys("小区物业未经业主同意占用公共绿地改建停车位并收取停车费，业主多次反映无人理睬，请住建部门查处。")
        .await
        .unwrap();
    save_screenshot("hotline", &browser.screenshot().await.unwrap());
    browser.find(Locator::Id("take-call")).await.unwrap().click().await.unwrap();
    let (state, department) = state_of(&browser).await;
    assert_eq!((state.as_str(), department.as_deref()), ("dispatched", Some("440400-ZJJ")), "dispatched by itself");
    let call = browser.find(Locator::Id("workorder-number")).await.unwrap().text().await.unwrap();

    // A grid worker reports a finding from the patrol checklist on a phone.
    sign_in_as(&browser, &app, "grid").await;
    browser.goto(&app.url("/patrol")).await.unwrap();
    browser.find(Locator::Id("start")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("checklist")).await.unwrap();
    let item = browser.find(Locator::XPath("//li[strong[text()='占道经营']]")).await.unwrap();
    item.find(Locator::Css("summary")).await.unwrap().click().await.unwrap();
    item.find(Locator::Css("form.finding textarea"))
        .await
        .unwrap()
        .send_keys("迎宾南路人行道流动摊贩占道经营")
        .await
        .unwrap();
    save_screenshot("patrol", &browser.screenshot().await.unwrap());
    item.find(Locator::Css("form.finding button")).await.unwrap().click().await.unwrap();
    let reported = browser.wait().for_element(Locator::Css("li p.done[data-result=finding] a")).await.unwrap();
    let finding = reported.text().await.unwrap();
    reported.click().await.unwrap();
    let (state, department) = state_of(&browser).await;
    assert_eq!(
        (state.as_str(), department.as_deref()),
        ("dispatched", Some("440402001-JB")),
        "to the street of the grid"
    );
    assert_eq!(browser.find(Locator::Id("workorder-grid")).await.unwrap().text().await.unwrap(), "440402001001-01");

    // The department signs for the call, handles it and replies; the order is closed.
    sign_in_as(&browser, &app, "housing_handler").await;
    browser.goto(&app.url(&format!("/workorders/{call}"))).await.unwrap();
    take_step(&browser, "sign", None).await;
    take_step(&browser, "reply", Some("已责令物业恢复绿地并退还停车费")).await;
    take_step(&browser, "close", None).await;
    assert_eq!(state_of(&browser).await.0, "closed");

    // The caller rates the answer on the operator's callback.
    sign_in_as(&browser, &app, "operator").await;
    browser.goto(&app.url(&format!("/workorders/{call}"))).await.unwrap();
    browser.find(Locator::Css("#satisfaction option[value=satisfied]")).await.unwrap().click().await.unwrap();
    take_step(&browser, "rate", None).await;
    assert_eq!(browser.find(Locator::Id("workorder-rating")).await.unwrap().text().await.unwrap(), "满意");

    // Nobody handles the finding: a job raises it red, and the supervisor's board shows it.
    app.state.clock.set(Some(monday + chrono::TimeDelta::days(30)));
    yiwang::workorders::raise_alarms(&app.state.store, app.state.clock.now()).await.unwrap();
    sign_in_as(&browser, &app, "supervisor").await;
    browser.goto(&app.url("/workorders/board")).await.unwrap();
    let overdue = browser.wait().for_element(Locator::Id("overdue")).await.unwrap().text().await.unwrap();
    assert!(overdue.contains(&finding), "{overdue}");
    save_screenshot("board", &browser.screenshot().await.unwrap());

    // The statistics page counts both orders and draws its charts with the vendored ECharts.
    browser.goto(&app.url("/workorders/stats?from=2026-11-23&to=2026-12-23")).await.unwrap();
    assert_eq!(browser.find(Locator::Id("figure-orders")).await.unwrap().text().await.unwrap(), "2");
    browser.wait().for_element(Locator::Css("#chart-map canvas")).await.unwrap();
    browser.wait().for_element(Locator::Css("#chart-days canvas")).await.unwrap();
    save_screenshot("stats", &browser.screenshot().await.unwrap());
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn a_window_visit_is_rated_from_its_qr_page_on_a_phone_and_the_panorama_counts_it() {
    if !enabled() {
        return;
    }
    let app = TestApp::demo().await;
    let clerk = app.login("clerk").await;
    let items: Vec<serde_json::Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let item = items.iter().find(|i| i["name"] == "居民身份证换领").unwrap()["implementation_code"].clone();
    let visit: serde_json::Value =
        clerk.post("/api/evaluations/visits", &serde_json::json!({"item": item})).await.json().await.unwrap();
    let rate_path = visit["rate_path"].as_str().unwrap().to_owned();
    let before: serde_json::Value = app.anonymous().get("/api/panorama").await.json().await.unwrap();
    let before = before["ratings"].as_u64().unwrap();

    let (_driver, browser) = browser().await;
    browser.set_window_size(390, 844).await.unwrap();
    // Signed out, as the requester scanning the code at the window.
    browser.goto(&app.url(&rate_path)).await.unwrap();
    let item_name = browser.find(Locator::Id("rate-item")).await.unwrap().text().await.unwrap();
    assert_eq!(item_name, "居民身份证换领");
    let width = browser.execute("return document.documentElement.scrollWidth;", vec![]).await.unwrap();
    assert!(width.as_u64().unwrap() <= 390, "no sideways scrolling on a phone: {width}");
    browser.find(Locator::Id("level-very_satisfied")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("tag-attitude")).await.unwrap().click().await.unwrap();
    browser.find(Locator::Id("rate-text")).await.unwrap().send_keys("窗口人员耐心细致").await.unwrap();
    save_screenshot("rate-qr", &browser.screenshot().await.unwrap());
    browser.find(Locator::Id("rate-submit")).await.unwrap().click().await.unwrap();
    browser.wait().for_element(Locator::Id("rate-thanks")).await.unwrap();
    assert!(browser.find(Locator::Id("rate-done")).await.is_ok(), "rated: no second form");

    browser.goto(&app.url("/panorama")).await.unwrap();
    let shown = browser.find(Locator::Id("figure-ratings")).await.unwrap().text().await.unwrap();
    assert_eq!(shown, (before + 1).to_string(), "the panorama counts the new rating");
    save_screenshot("panorama", &browser.screenshot().await.unwrap());
    browser.close().await.unwrap();
    app.stop().await;
}
