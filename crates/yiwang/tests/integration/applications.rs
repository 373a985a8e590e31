//! Applications (办件): submit, accept, supplement with the clock paused, decide, complete.

use serde_json::{Value, json};

use crate::support::{Session, TestApp, expect_error};

const RESIDENT: &str = "440402198503120024";
const OTHER_RESIDENT: &str = "440402199207180043";

fn id_card_renewal() -> String {
    let items: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let item = items.iter().find(|i| i["name"] == "居民身份证换领").unwrap();
    item["implementation_code"].as_str().unwrap().to_owned()
}

async fn upload(session: &Session, bytes: &[u8]) -> reqwest::Response {
    session
        .client
        .post(format!("{}/api/files", session.base))
        .header("x-csrf-token", &session.csrf)
        .header("content-type", "application/octet-stream")
        .header("x-file-name", "%E6%97%A7%E8%BA%AB%E4%BB%BD%E8%AF%81.pdf")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

async fn uploaded(session: &Session, bytes: &[u8]) -> String {
    let response = upload(session, bytes).await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["sha256"].as_str().unwrap().to_owned()
}

fn application(item: &str, sha256: &str) -> Value {
    json!({
        "item": item,
        "situation": "S1",
        "form": {"applicant_name": "陈晓红", "id_number": RESIDENT, "phone": "13800138001",
                 "reason": "有效期满", "delivery": "邮政寄递"},
        "materials": [
            {"material": "M1", "source": "upload", "sha256": sha256},
            {"material": "M2", "source": "shared_data"},
            {"material": "M3", "source": "shared_data"}
        ]
    })
}

async fn step(session: &Session, number: &str, action: &str, body: Value) -> reqwest::Response {
    session.post(&format!("/api/applications/{number}/actions/{action}"), &body).await
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn an_application_goes_from_submission_to_completion() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let item = id_card_renewal();
    let pdf = b"%PDF-1.7\n% old ID card scan\n";
    let sha256 = uploaded(&resident, pdf).await;

    let submitted = resident.post("/api/applications", &application(&item, &sha256)).await;
    assert_eq!(submitted.status(), 201);
    let submitted: Value = submitted.json().await.unwrap();
    let number = submitted["number"].as_str().unwrap().to_owned();
    assert!(number.starts_with("440400-") && number.len() == "440400-20261123-000001".len(), "{number}");
    assert_eq!(submitted["state"], "submitted");
    assert_eq!(submitted["deadline"], Value::Null, "the clock starts at acceptance");

    // Nobody else sees it: another resident, or a window of another district.
    let other = app.login(OTHER_RESIDENT).await;
    expect_error(other.get(&format!("/api/applications/{number}")).await, 404, "not_found", None).await;
    expect_error(app.login("clerk").await.get(&format!("/api/applications/{number}")).await, 404, "not_found", None)
        .await;

    let clerk = app.login("city_clerk").await;
    let queue = ok(clerk.get("/api/applications?department=440400-GAJ").await).await;
    assert_eq!(queue[0]["number"], number.as_str());
    let accepted = ok(step(&clerk, &number, "accept", json!({})).await).await;
    assert_eq!(accepted["state"], "accepted");
    let deadline = accepted["deadline"].as_str().expect("a deadline once accepted").to_owned();
    let accepted_at: chrono::DateTime<chrono::Utc> = accepted["updated_at"].as_str().unwrap().parse().unwrap();
    let expected = app.state.calendar.get().working_day_deadline(accepted_at, 15);
    assert_eq!(deadline.parse::<chrono::DateTime<chrono::Utc>>().unwrap(), expected, "15 working days on the calendar");

    // A supplement request lists every material at once and stops the clock.
    expect_error(
        step(&clerk, &number, "request_supplement", json!({"reason": "材料不清晰"})).await,
        422,
        "invalid_application",
        Some("supplement"),
    )
    .await;
    let supplement = json!({"reason": "身份证扫描件不清晰", "supplement": [{"material": "M1", "problem": "扫描件模糊，请重新上传"}]});
    let paused = ok(step(&clerk, &number, "request_supplement", supplement).await).await;
    assert_eq!(paused["state"], "supplement_requested");
    assert_eq!(paused["clock_paused"], true);
    assert_eq!(paused["deadline"], Value::Null);

    // Only the applicant supplements; the window cannot decide.
    let rescan = uploaded(&resident, b"%PDF-1.7\n% clear scan\n").await;
    let again = json!({"materials": [{"material": "M1", "source": "upload", "sha256": rescan}]});
    expect_error(step(&clerk, &number, "supplement", again.clone()).await, 403, "forbidden", None).await;
    let resumed = ok(step(&resident, &number, "supplement", again).await).await;
    assert_eq!(resumed["state"], "accepted");
    assert_eq!(resumed["clock_paused"], false);
    let resumed_deadline: chrono::DateTime<chrono::Utc> = resumed["deadline"].as_str().unwrap().parse().unwrap();
    assert!(resumed_deadline >= expected, "the pause never shortens the limit");
    expect_error(step(&clerk, &number, "approve", json!({})).await, 403, "forbidden", None).await;

    let reviewer = app.login("police_reviewer").await;
    expect_error(
        step(&reviewer, &number, "reject", json!({"reason": "不符合条件"})).await,
        422,
        "invalid_application",
        Some("basis"),
    )
    .await;
    let approved = ok(step(&reviewer, &number, "approve", json!({"reason": "材料齐全，符合法定条件"})).await).await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["deadline"], Value::Null, "a decision stops the clock");
    let completed = ok(step(&clerk, &number, "complete", json!({"reason": "新证已邮寄"})).await).await;
    assert_eq!(completed["state"], "completed");
    expect_error(step(&resident, &number, "withdraw", json!({})).await, 409, "wrong_state", None).await;

    let actions: Vec<&str> =
        completed["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "accept", "request_supplement", "supplement", "approve", "complete"]);
    assert_eq!(completed["events"][4]["actor"], "公安审批 钱进");
    assert_eq!(completed["materials"][0]["sha256"], rescan.as_str());

    // Every step is in the evidence log, and the applicant can take away a receipt.
    let leaves = yiwang::ledger::leaves_about(&app.state.store, &format!("application:{number}")).await.unwrap();
    assert_eq!(leaves.len(), 6);
    let receipt: yiwang::ledger::Receipt = ok(resident.get(&format!("/api/applications/{number}/receipt")).await)
        .await
        .as_object()
        .map(|o| serde_json::from_value(Value::Object(o.clone())).unwrap())
        .unwrap();
    let key = app.state.signer.verifier_key().to_string();
    let leaf = yiwang::ledger::verify_receipt(&receipt, &key).expect("the receipt verifies");
    assert_eq!(leaf.kind, "application.completed");

    // The reviewer reads the file; a stranger cannot.
    let file = reviewer.get(&format!("/api/applications/{number}/materials/M1/file")).await;
    assert_eq!(file.headers()["content-type"], "application/pdf");
    assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.7\n% clear scan\n");
    assert_eq!(other.get(&format!("/api/applications/{number}/materials/M1/file")).await.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn bad_applications_are_refused_with_the_field_named() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let item = id_card_renewal();
    let sha256 = uploaded(&resident, b"\x89PNG\r\n\x1a\nimage").await;

    let response = upload(&resident, b"<html><script>alert(1)</script>").await;
    expect_error(response, 415, "unsupported_media_type", None).await;
    let too_big = vec![b'%'; yiwang::applications::files::MAX_FILE_BYTES + 1];
    assert_eq!(upload(&resident, &too_big).await.status(), 413);

    let mut unknown = application(&item, &sha256);
    unknown["item"] = json!("NO-SUCH-ITEM");
    expect_error(resident.post("/api/applications", &unknown).await, 422, "invalid_application", Some("item")).await;
    let mut bad_id = application(&item, &sha256);
    bad_id["form"]["id_number"] = json!("440402198503120025");
    expect_error(resident.post("/api/applications", &bad_id).await, 422, "invalid_application", Some("form.id_number"))
        .await;
    let mut missing = application(&item, &sha256);
    missing["materials"].as_array_mut().unwrap().remove(1);
    expect_error(resident.post("/api/applications", &missing).await, 422, "invalid_application", Some("materials.M2"))
        .await;
    let mut shared = application(&item, &sha256);
    shared["materials"][0] = json!({"material": "M1", "source": "shared_data"});
    expect_error(
        resident.post("/api/applications", &shared).await,
        422,
        "invalid_application",
        Some("materials[0].source"),
    )
    .await;

    // A file uploaded by someone else cannot be used.
    let other = app.login(OTHER_RESIDENT).await;
    expect_error(
        other.post("/api/applications", &application(&item, &sha256)).await,
        422,
        "invalid_application",
        Some("materials[0].sha256"),
    )
    .await;
    // Staff do not apply; a missing body field is named.
    expect_error(
        app.login("city_clerk").await.post("/api/applications", &application(&item, &sha256)).await,
        403,
        "forbidden",
        None,
    )
    .await;
    let no_situation = json!({"item": item, "form": {}, "materials": []});
    let response = resident.post("/api/applications", &no_situation).await;
    assert_eq!(response.status(), 422);

    let submitted = ok(resident.post("/api/applications", &application(&item, &sha256)).await).await;
    let number = submitted["number"].as_str().unwrap();
    expect_error(step(&resident, number, "fly", json!({})).await, 422, "unknown_action", Some("action")).await;
    let withdrawn = ok(step(&resident, number, "withdraw", json!({"reason": "不需要了"})).await).await;
    assert_eq!(withdrawn["state"], "withdrawn");
    app.stop().await;
}

#[tokio::test]
async fn alarms_turn_yellow_then_red_by_the_job() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let item = id_card_renewal();
    let sha256 = uploaded(&resident, b"%PDF-1.4 scan").await;
    let number = ok(resident.post("/api/applications", &application(&item, &sha256)).await).await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    let clerk = app.login("city_clerk").await;
    let accepted = ok(step(&clerk, &number, "accept", json!({})).await).await;
    let deadline: chrono::DateTime<chrono::Utc> = accepted["deadline"].as_str().unwrap().parse().unwrap();
    let calendar = app.state.calendar.get();
    let store = &app.state.store;
    let alarm = |a: Value| a["alarm"].as_str().unwrap().to_owned();

    assert_eq!(yiwang::applications::raise_alarms(store, &calendar, chrono::Utc::now()).await.unwrap(), 0);
    let late = deadline - chrono::TimeDelta::days(2);
    yiwang::applications::raise_alarms(store, &calendar, late).await.unwrap();
    assert_eq!(alarm(ok(clerk.get(&format!("/api/applications/{number}")).await).await), "yellow");
    yiwang::applications::raise_alarms(store, &calendar, deadline + chrono::TimeDelta::hours(1)).await.unwrap();
    assert_eq!(alarm(ok(clerk.get(&format!("/api/applications/{number}")).await).await), "red");
    app.stop().await;
}

#[tokio::test]
async fn staff_take_steps_from_the_application_page() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let sha256 = uploaded(&resident, b"%PDF-1.7 scan").await;
    let number =
        ok(resident.post("/api/applications", &application(&id_card_renewal(), &sha256)).await).await["number"]
            .as_str()
            .unwrap()
            .to_owned();

    let clerk = app.login("city_clerk").await;
    let queue = clerk.get("/applications?department=440400-GAJ").await.text().await.unwrap();
    assert!(queue.contains(&number) && queue.contains("已提交，待受理"));
    let page = clerk.get(&format!("/applications/{number}")).await.text().await.unwrap();
    assert!(
        page.contains("value=\"accept\"") && !page.contains("value=\"approve\""),
        "the window accepts, it does not decide"
    );
    assert!(page.contains("换领原因") && page.contains("有效期满"), "the form, labelled, beside the materials");
    assert!(page.contains("原居民身份证") && page.contains("共享核验"), "materials by name and how they came");

    let form = [("csrf_token", clerk.csrf.as_str()), ("action", "accept"), ("reason", "材料齐全")];
    let accepted =
        clerk.client.post(app.url(&format!("/applications/{number}/steps"))).form(&form).send().await.unwrap();
    assert_eq!(accepted.status(), 303);
    let forged = [("csrf_token", "forged"), ("action", "refuse"), ("reason", "x")];
    let refused =
        clerk.client.post(app.url(&format!("/applications/{number}/steps"))).form(&forged).send().await.unwrap();
    assert_eq!(refused.status(), 400, "a form without the session's token does nothing");
    let still = ok(clerk.get(&format!("/api/applications/{number}")).await).await;
    assert_eq!(still["state"], "accepted");

    let reviewer = app.login("police_reviewer").await;
    let form = [("csrf_token", reviewer.csrf.as_str()), ("action", "approve"), ("reason", "符合条件")];
    let approved =
        reviewer.client.post(app.url(&format!("/applications/{number}/steps"))).form(&form).send().await.unwrap();
    assert_eq!(approved.status(), 303);
    let page = resident.get(&format!("/applications/{number}")).await.text().await.unwrap();
    assert!(page.contains("data-state=\"approved\"") && page.contains("符合条件"));
    // An approved ID-card renewal issues the electronic ID card.
    assert!(page.contains("1.2.156.3005.2.11100000000013338W001."), "the result certificate is linked");
    assert_eq!(app.anonymous().get("/items/NO-SUCH/apply").await.status(), 303, "sign in first");
    app.stop().await;
}

#[tokio::test]
async fn a_joint_review_needs_every_department_and_can_go_back() {
    let app = TestApp::demo().await;
    let item = id_card_renewal();
    let editor = app.login("police_editor").await;
    let path = format!("/api/workflows/{item}");
    let put = |session: &Session, body: Value| {
        let (client, url, csrf) = (session.client.clone(), app.url(&path), session.csrf.clone());
        async move { client.put(url).header("x-csrf-token", csrf).json(&body).send().await.unwrap() }
    };
    expect_error(put(&editor, json!([])).await, 422, "invalid_application", Some("steps")).await;
    let unknown = json!([{"name": "审查", "departments": ["NOWHERE"]}]);
    expect_error(put(&editor, unknown).await, 422, "invalid_application", Some("steps[0].departments[0]")).await;
    let steps = json!([{"name": "审查", "departments": ["440400-GAJ"]},
                       {"name": "会签", "departments": ["440400-GAJ", "440400-ZJJ"], "all": true}]);
    expect_error(put(&app.login("hrss_editor").await, steps.clone()).await, 403, "forbidden", None).await;
    assert_eq!(put(&editor, steps.clone()).await.status(), 204);
    let stored = ok(editor.get(&path).await).await;
    assert_eq!(stored[1], steps[1]);
    assert_eq!(stored[0]["all"], false, "one approval moves an ordinary step on");
    let logged: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ledger_leaves WHERE kind = 'workflow.set' AND subject = $1")
            .bind(format!("workflow:{item}"))
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(logged, 1, "the change is in the evidence log, the refused ones are not");

    let resident = app.login(RESIDENT).await;
    let sha256 = uploaded(&resident, b"%PDF-1.7 scan").await;
    let number = ok(resident.post("/api/applications", &application(&item, &sha256)).await).await["number"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(step(&app.login("city_clerk").await, &number, "accept", json!({})).await).await;

    let police = app.login("police_reviewer").await;
    let housing = app.login("housing_reviewer").await;
    expect_error(step(&housing, &number, "approve", json!({})).await, 403, "forbidden", None).await;
    let reviewed = ok(step(&police, &number, "approve", json!({"reason": "审查通过"})).await).await;
    assert_eq!(reviewed["state"], "accepted");
    assert_eq!(reviewed["review"]["current"], 1, "on to the joint sign-off");

    let one = ok(step(&housing, &number, "approve", json!({"reason": "住建同意"})).await).await;
    assert_eq!(one["state"], "accepted", "one department is not enough");
    assert_eq!(one["review"]["steps"][1]["signed"], json!(["440400-ZJJ"]));

    // Back to the first step: the sign-offs from there on are forgotten.
    expect_error(
        step(&police, &number, "return", json!({"reason": "需重新审查", "to_step": 1})).await,
        422,
        "invalid_application",
        Some("to_step"),
    )
    .await;
    let back = ok(step(&police, &number, "return", json!({"reason": "需重新审查", "to_step": 0})).await).await;
    assert_eq!(back["review"]["current"], 0);
    assert_eq!(back["review"]["steps"][1]["signed"], json!([]));

    ok(step(&police, &number, "approve", json!({"reason": "复审通过"})).await).await;
    ok(step(&housing, &number, "approve", json!({"reason": "住建同意"})).await).await;
    let approved = ok(step(&police, &number, "approve", json!({"reason": "公安同意"})).await).await;
    assert_eq!(approved["state"], "approved", "every department of the joint step approved");
    let actions: Vec<&str> =
        approved["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "accept", "sign_off", "sign_off", "return", "sign_off", "sign_off", "approve"]);
    app.stop().await;
}

/// 10:00 China time on a date.
fn china(date: &str) -> chrono::DateTime<chrono::Utc> {
    let day: chrono::NaiveDate = date.parse().unwrap();
    day.and_hms_opt(2, 0, 0).unwrap().and_utc()
}

/// The last day a deadline allows: it falls at midnight China time at the end of that day.
fn last_day(deadline: &Value) -> String {
    let at: chrono::DateTime<chrono::Utc> = deadline.as_str().unwrap().parse().unwrap();
    (at + chrono::TimeDelta::hours(8) - chrono::TimeDelta::milliseconds(1)).date_naive().to_string()
}

#[tokio::test]
async fn the_deadline_counts_working_days_across_national_day_and_a_supplement() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let sha256 = uploaded(&resident, b"%PDF-1.7 scan").await;
    app.state.clock.set(Some(china("2026-09-28")));
    let number =
        ok(resident.post("/api/applications", &application(&id_card_renewal(), &sha256)).await).await["number"]
            .as_str()
            .unwrap()
            .to_owned();
    assert!(number.contains("-20260928-"), "numbered by the day it arrived: {number}");

    // Accepted on Tuesday 29 September: 15 working days skip the National Day holiday (1-7
    // October) and count the make-up Saturday (10 October), ending on 26 October — a count of
    // weekdays alone would say 20 October.
    let clerk = app.login("city_clerk").await;
    app.state.clock.set(Some(china("2026-09-29")));
    let accepted = ok(step(&clerk, &number, "accept", json!({})).await).await;
    assert_eq!(last_day(&accepted["deadline"]), "2026-10-26");
    // The workbenches of the window and of the deciding department count down in working days.
    for staff in [&clerk, &app.login("police_reviewer").await] {
        let workbench = staff.get("/applications").await.text().await.unwrap();
        assert!(workbench.contains(&number) && workbench.contains("剩15个工作日"), "{workbench}");
    }
    let elsewhere = app.login("doumen_clerk").await.get("/applications").await.text().await.unwrap();
    assert!(!elsewhere.contains(&number), "another district's window does not see it");

    // A supplement asked on Friday 9 October and answered on Tuesday 13 October stops the clock
    // for three working days (the make-up Saturday, Monday and Tuesday).
    app.state.clock.set(Some(china("2026-10-09")));
    let supplement = json!({"reason": "扫描件不清晰", "supplement": [{"material": "M1", "problem": "请重新上传"}]});
    ok(step(&clerk, &number, "request_supplement", supplement).await).await;
    app.state.clock.set(Some(china("2026-10-13")));
    let rescan = uploaded(&resident, b"%PDF-1.7 clear").await;
    let resumed = ok(step(
        &resident,
        &number,
        "supplement",
        json!({"materials": [{"material": "M1", "source": "upload", "sha256": rescan}]}),
    )
    .await)
    .await;
    assert_eq!(last_day(&resumed["deadline"]), "2026-10-29");

    // The job sees it overdue the next working day.
    let calendar = app.state.calendar.get();
    yiwang::applications::raise_alarms(&app.state.store, &calendar, china("2026-10-30")).await.unwrap();
    assert_eq!(ok(clerk.get(&format!("/api/applications/{number}")).await).await["alarm"], "red");
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_apply_form_stores_no_file() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    let item = id_card_renewal();
    let boundary = "yiwangboundary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"material.M1.file\"; filename=\"scan.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 forged\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{}\r\n--{boundary}--\r\n",
        resident.csrf
    );
    let response = resident
        .client
        .post(app.url(&format!("/items/{item}/apply")))
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "a file before the token is refused");
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(stored, 0, "and nothing was stored");
    app.stop().await;
}

#[tokio::test]
async fn editors_set_the_workflow_from_its_page() {
    let app = TestApp::demo().await;
    let item = id_card_renewal();
    let editor = app.login("police_editor").await;
    let page = editor.get(&format!("/catalog/workflows/{item}")).await.text().await.unwrap();
    assert!(page.contains("440400-GAJ"), "the default: the item's department decides");
    let url = app.url(&format!("/catalog/workflows/{item}"));
    let post = |steps: &str| {
        let form = [("csrf_token", editor.csrf.clone()), ("steps", steps.to_owned())];
        editor.client.post(&url).form(&form).send()
    };
    let refused = post(r#"[{"name": "会签", "departments": ["440400-GAJ", "NOWHERE"], "all": true}]"#).await.unwrap();
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("steps[0].departments[1]") && text.contains("NOWHERE"), "named, and what was typed kept");
    let saved = post(r#"[{"name": "审查", "departments": ["440400-GAJ"]}, {"name": "会签", "departments": ["440400-GAJ", "440400-ZJJ"], "all": true}]"#).await.unwrap();
    assert_eq!(saved.status(), 303);
    let steps = ok(editor.get(&format!("/api/workflows/{item}")).await).await;
    assert_eq!(steps[1]["departments"], json!(["440400-GAJ", "440400-ZJJ"]));
    app.stop().await;
}
