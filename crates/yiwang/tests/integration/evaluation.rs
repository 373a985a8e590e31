//! Service evaluation (好差评): ratings of completed applications, window visits and work orders;
//! rectification of bad ratings within working days; default ratings; rulings; the panorama's
//! figures checked against a count of the records done here.

use serde_json::{Value, json};

use crate::support::{Session, TestApp, expect_error};

const RESIDENT: &str = "440402198503120024";
const OTHER_RESIDENT: &str = "440402199207180043";

fn item_code(name: &str) -> String {
    let items: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let item = items.iter().find(|i| i["name"] == name).unwrap();
    item["implementation_code"].as_str().unwrap().to_owned()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
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

/// A resident's application for an ID card renewal, taken to completion by the police.
async fn completed_application(app: &TestApp, resident: &Session) -> String {
    let upload = resident
        .client
        .post(format!("{}/api/files", resident.base))
        .header("x-csrf-token", &resident.csrf)
        .header("content-type", "application/octet-stream")
        .header("x-file-name", "scan.pdf")
        .body(b"%PDF-1.7\n% scan\n".to_vec())
        .send()
        .await
        .unwrap();
    let sha256 = ok(upload).await["sha256"].as_str().unwrap().to_owned();
    let new = json!({
        "item": item_code("居民身份证换领"), "situation": "S1",
        "form": {"applicant_name": "陈晓红", "id_number": RESIDENT, "phone": "13800138001", "reason": "有效期满",
                 "delivery": "邮政寄递"},
        "materials": [{"material": "M1", "source": "upload", "sha256": sha256},
                      {"material": "M2", "source": "shared_data"}, {"material": "M3", "source": "shared_data"}]
    });
    let number = ok(resident.post("/api/applications", &new).await).await["number"].as_str().unwrap().to_owned();
    let clerk = app.login("city_clerk").await;
    for (who, action, body) in [
        (&clerk, "accept", json!({})),
        (&app.login("police_reviewer").await, "approve", json!({"reason": "符合条件"})),
        (&clerk, "complete", json!({"reason": "已寄出"})),
    ] {
        ok(who.post(&format!("/api/applications/{number}/actions/{action}"), &body).await).await;
    }
    number
}

/// The figures counted here from the stored rows, without the panorama's SQL: (counted ratings,
/// positive ones, rectifications due, on time) for the events whose department code starts with
/// `department_prefix`.
async fn count_independently(app: &TestApp, department_prefix: &str, now_ms: i64) -> (u64, u64, u64, u64) {
    let pool = app.state.store.pool();
    let events: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, department_code FROM service_events").fetch_all(pool).await.unwrap();
    let ratings: Vec<(i64, i64, i64, String, i64, Option<String>)> =
        sqlx::query_as("SELECT id, event_id, round, level, is_default, ruling FROM ratings")
            .fetch_all(pool)
            .await
            .unwrap();
    let tasks: Vec<(i64, i64, i64, Option<i64>)> =
        sqlx::query_as("SELECT rating_id, event_id, deadline_at, replied_at FROM rectifications")
            .fetch_all(pool)
            .await
            .unwrap();
    let chosen: std::collections::HashSet<i64> =
        events.iter().filter(|(_, code)| code.starts_with(department_prefix)).map(|(id, _)| *id).collect();
    let (mut counted, mut positive) = (0, 0);
    for event in &chosen {
        // The latest rating by a person that was not ruled out.
        let latest = ratings.iter().filter(|r| r.1 == *event && r.4 == 0 && r.5.is_none()).max_by_key(|r| r.2);
        if let Some(r) = latest {
            counted += 1;
            positive += u64::from(!matches!(r.3.as_str(), "dissatisfied" | "very_dissatisfied"));
        }
    }
    let (mut due, mut on_time) = (0, 0);
    for (rating, event, deadline, replied) in &tasks {
        let ruled = ratings.iter().any(|r| r.0 == *rating && r.5.is_some());
        if !chosen.contains(event) || ruled {
            continue;
        }
        if replied.is_some() || *deadline < now_ms {
            due += 1;
        }
        if replied.is_some_and(|r| r <= *deadline) {
            on_time += 1;
        }
    }
    (counted, positive, due, on_time)
}

fn rate_of(part: u64, whole: u64) -> Value {
    if whole == 0 { Value::Null } else { json!(part as f64 / whole as f64) }
}

#[tokio::test]
async fn a_bad_rating_of_an_application_is_rectified_within_working_days_and_rated_again() {
    let app = TestApp::demo().await;
    let resident = app.login(RESIDENT).await;
    app.state.clock.set(Some(china("2026-09-28")));
    let number = completed_application(&app, &resident).await;
    let path = format!("/api/evaluations/application/{number}/ratings");

    // Another resident cannot rate it (nor see it); staff cannot rate it; a level is required.
    let other = app.login(OTHER_RESIDENT).await;
    expect_error(other.post(&path, &json!({"level": "very_satisfied"})).await, 404, "not_found", None).await;
    let clerk = app.login("city_clerk").await;
    expect_error(clerk.post(&path, &json!({"level": "very_satisfied"})).await, 403, "forbidden", None).await;
    expect_error(resident.post(&path, &json!({"text": "?"})).await, 422, "invalid_evaluation", Some("level")).await;
    expect_error(
        resident.post(&path, &json!({"level": "satisfied", "channel": 6})).await,
        422,
        "invalid_evaluation",
        Some("channel"),
    )
    .await;

    // Rated very dissatisfied on Wednesday 30 September: the 7 working days skip National Day
    // (1-7 October) and count the make-up Saturday, 10 October: the last day is 15 October.
    app.state.clock.set(Some(china("2026-09-30")));
    let bad = json!({"level": "very_dissatisfied", "text": "材料说明不清楚，跑了两次", "tags": ["efficiency", "materials"], "channel": 2});
    let rated = ok(resident.post(&path, &bad).await).await;
    let rating = &rated["ratings"][0];
    assert_eq!(rating["gbt_code"], 5);
    assert_eq!(rating["interface_code"], 1);
    assert_eq!(rating["channel_code"], 2);
    assert_eq!(rating["tags"], json!(["efficiency", "materials"]));
    let task = &rating["rectification"];
    assert_eq!(task["state"], "opened");
    assert_eq!(last_day(&task["deadline"]), "2026-10-15");
    let expected = app.state.calendar.get().working_day_deadline(china("2026-09-30"), 7);
    assert_eq!(task["deadline"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(), expected);
    assert_eq!(rated["open_round"], Value::Null, "rated: nothing open");

    // Once only; and there is no way to change a rating.
    expect_error(resident.post(&path, &json!({"level": "very_satisfied"})).await, 409, "already_rated", None).await;
    let rating_id = rating["id"].as_i64().unwrap();
    for method in [reqwest::Method::PUT, reqwest::Method::PATCH, reqwest::Method::DELETE] {
        let response =
            clerk.send(method.clone(), &format!("{path}/{rating_id}"), Some(&json!({"level": "satisfied"}))).await;
        assert_eq!(response.status(), 404, "{method}: no route changes a rating");
        let response = clerk.send(method.clone(), &path, Some(&json!({"level": "satisfied"}))).await;
        assert_eq!(response.status(), 405, "{method} on the ratings");
    }

    // The police's handler works the task: steps in order, each with a note.
    let handler = app.login("police_handler").await;
    let tasks = ok(handler.get("/api/rectifications").await).await;
    let id =
        tasks.as_array().unwrap().iter().find(|t| t["reference"] == number.as_str()).unwrap()["id"].as_i64().unwrap();
    let step = |s: &str| format!("/api/rectifications/{id}/steps/{s}");
    expect_error(handler.post(&step("reply"), &json!({"note": "已答复"})).await, 409, "wrong_state", None).await;
    expect_error(handler.post(&step("verify"), &json!({})).await, 422, "invalid_evaluation", Some("note")).await;
    expect_error(app.login("handler").await.post(&step("verify"), &json!({"note": "x"})).await, 403, "forbidden", None)
        .await;
    app.state.clock.set(Some(china("2026-10-09")));
    for (s, note) in
        [("verify", "已核实"), ("contact", "已电话回访办事人"), ("rectify", "已修订材料说明"), ("reply", "已答复")]
    {
        ok(handler.post(&step(s), &json!({"note": note})).await).await;
    }
    let seen = ok(resident.get(&format!("/api/evaluations/application/{number}")).await).await;
    let task = &seen["ratings"][0]["rectification"];
    assert_eq!(task["state"], "replied");
    assert_eq!(task["on_time"], true);
    assert_eq!(task["steps"]["contact"]["note"], "已电话回访办事人");
    assert_eq!(seen["open_round"], 2, "the reply opens a second rating");

    // The second rating, once.
    let again = ok(resident.post(&path, &json!({"level": "satisfied"})).await).await;
    assert_eq!(again["ratings"][1]["round"], 2);
    expect_error(resident.post(&path, &json!({"level": "satisfied"})).await, 409, "already_rated", None).await;

    // Evidence: the rating, the rectification and its steps; the text only as a hash.
    let leaves =
        yiwang::ledger::leaves_about(&app.state.store, &format!("evaluation:application:{number}")).await.unwrap();
    assert_eq!(leaves.len(), 1 + 1 + 1 + 4 + 1, "served, rated, opened, four steps, rated again");
    for index in leaves {
        let leaf = app.anonymous().get(&format!("/api/ledger/leaves/{index}")).await.text().await.unwrap();
        assert!(!leaf.contains("材料说明不清楚") && !leaf.contains("陈晓红"), "{leaf}");
    }
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn a_window_visit_is_rated_by_its_qr_code_and_an_unreplied_bad_rating_is_raised_overdue() {
    let app = TestApp::demo().await;
    let clerk = app.login("clerk").await;
    expect_error(
        app.login(RESIDENT).await.post("/api/evaluations/visits", &json!({"item": item_code("居民身份证换领")})).await,
        403,
        "forbidden",
        None,
    )
    .await;
    expect_error(
        clerk.post("/api/evaluations/visits", &json!({"item": "nope"})).await,
        422,
        "invalid_evaluation",
        Some("item"),
    )
    .await;
    app.state.clock.set(Some(china("2026-11-20")));
    let visit = ok(clerk.post("/api/evaluations/visits", &json!({"item": item_code("居民身份证换领")})).await).await;
    let token = visit["token"].as_str().unwrap();
    let reference = visit["reference"].as_str().unwrap().to_owned();

    // Signed out, with the token of the QR code: rated once (channel 3).
    let anonymous = app.anonymous();
    let seen = ok(anonymous.get(&format!("/api/evaluations/tokens/{token}")).await).await;
    assert_eq!(seen["open_round"], 1);
    let rated = ok(anonymous
        .post(
            &format!("/api/evaluations/tokens/{token}/ratings"),
            &json!({"level": "dissatisfied", "tags": ["attitude"]}),
        )
        .await)
    .await;
    assert_eq!(rated["ratings"][0]["channel_code"], 3);
    assert_eq!(rated["ratings"][0]["text"], Value::Null, "the QR page shows no texts");
    expect_error(
        anonymous.post(&format!("/api/evaluations/tokens/{token}/ratings"), &json!({"level": "satisfied"})).await,
        409,
        "already_rated",
        None,
    )
    .await;
    expect_error(anonymous.get("/api/evaluations/tokens/0000").await, 404, "not_found", None).await;
    assert!(app.anonymous().get(&format!("/rate/{token}")).await.text().await.unwrap().contains("已评价"));

    // Friday 20 November + 7 working days = Tuesday 1 December. Not overdue on that day; raised
    // by the job the day after.
    let deadline = last_day(&rated["ratings"][0]["rectification"]["deadline"]);
    assert_eq!(deadline, "2026-12-01");
    let store = &app.state.store;
    yiwang::evaluation::raise_overdue(store, china("2026-12-01")).await.unwrap();
    let supervisor = app.login("supervisor").await;
    let line = |tasks: &Value| {
        tasks.as_array().unwrap().iter().find(|t| t["reference"] == reference.as_str()).cloned().unwrap()
    };
    assert_eq!(line(&ok(supervisor.get("/api/rectifications").await).await)["overdue"], false);
    let raised = yiwang::evaluation::raise_overdue(store, china("2026-12-02")).await.unwrap();
    assert!(raised >= 1);
    let task = line(&ok(supervisor.get("/api/rectifications").await).await);
    assert_eq!(task["overdue"], true);
    assert_eq!(yiwang::evaluation::raise_overdue(store, china("2026-12-03")).await.unwrap(), 0, "raised once");
    // The supervisor watches; the steps are the department's.
    expect_error(
        supervisor.post(&format!("/api/rectifications/{}/steps/verify", task["id"]), &json!({"note": "x"})).await,
        403,
        "forbidden",
        None,
    )
    .await;
    app.state.clock.set(None);
    app.stop().await;
}

#[tokio::test]
async fn an_unrated_service_gets_the_default_rating_after_seven_days_counted_apart() {
    let app = TestApp::demo().await;
    let clerk = app.login("clerk").await;
    let visit = ok(clerk.post("/api/evaluations/visits", &json!({"item": item_code("居民身份证换领")})).await).await;
    let reference = visit["reference"].as_str().unwrap().to_owned();
    let before = ok(app.anonymous().get("/api/panorama").await).await;
    let settings = app.state.config.evaluation;
    let now = chrono::Utc::now();
    yiwang::evaluation::default_ratings(&app.state.store, settings, now + chrono::TimeDelta::days(6)).await.unwrap();
    let seen = ok(clerk.get(&format!("/api/evaluations/window/{reference}")).await).await;
    assert_eq!(seen["ratings"], json!([]), "not yet after six days");
    yiwang::evaluation::default_ratings(
        &app.state.store,
        settings,
        now + chrono::TimeDelta::days(7) + chrono::TimeDelta::minutes(1),
    )
    .await
    .unwrap();
    let seen = ok(clerk.get(&format!("/api/evaluations/window/{reference}")).await).await;
    assert_eq!(seen["ratings"][0]["level"], "basically_satisfied");
    assert_eq!(seen["ratings"][0]["is_default"], true);
    let after = ok(app.anonymous().get("/api/panorama").await).await;
    assert!(after["default_ratings"].as_u64().unwrap() > before["default_ratings"].as_u64().unwrap());
    assert_eq!(after["ratings"], before["ratings"], "default ratings are counted apart");
    // The requester can no longer rate that round.
    expect_error(
        app.anonymous()
            .post(
                &format!("/api/evaluations/tokens/{}/ratings", visit["token"].as_str().unwrap()),
                &json!({"level": "satisfied"}),
            )
            .await,
        409,
        "already_rated",
        None,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_panorama_agrees_with_a_count_of_the_records_and_a_ruling_takes_a_rating_out() {
    let app = TestApp::demo().await;
    let clerk = app.login("clerk").await;
    let item = item_code("居民身份证换领");
    let mut tokens = Vec::new();
    for level in ["very_satisfied", "dissatisfied", "very_dissatisfied", "basically_satisfied"] {
        let visit = ok(clerk.post("/api/evaluations/visits", &json!({"item": item})).await).await;
        let token = visit["token"].as_str().unwrap().to_owned();
        ok(app
            .anonymous()
            .post(&format!("/api/evaluations/tokens/{token}/ratings"), &json!({"level": level, "tags": ["process"]}))
            .await)
        .await;
        tokens.push((token, visit["reference"].as_str().unwrap().to_owned()));
    }
    let check = |figures: Value, counted: (u64, u64, u64, u64)| {
        assert_eq!(figures["ratings"], counted.0, "{figures}");
        assert_eq!(figures["positive"], counted.1);
        assert_eq!(figures["positive_rate"], rate_of(counted.1, counted.0));
        assert_eq!(figures["rectifications"]["due"], counted.2);
        assert_eq!(figures["rectifications"]["on_time_rate"], rate_of(counted.3, counted.2));
    };
    let now = chrono::Utc::now().timestamp_millis();
    let city = ok(app.anonymous().get("/api/panorama").await).await;
    assert!(city["ratings"].as_u64().unwrap() > 100, "the demo's ratings are there");
    check(city.clone(), count_independently(&app, "", now).await);
    let department = ok(app.anonymous().get("/api/panorama?department=440402-ZSJ").await).await;
    check(department.clone(), count_independently(&app, "440402-ZSJ", now).await);
    assert!(department["worst_items"].as_array().unwrap().iter().any(|w| w["code"] == item.as_str()));
    // Drill-down: the city's districts, then the district's own departments.
    assert!(city["by_region"].as_array().unwrap().iter().any(|r| r["code"] == "440402"));
    let district = ok(app.anonymous().get("/api/panorama?region=440402").await).await;
    assert!(
        district["by_department"].as_array().unwrap().iter().all(|d| d["code"].as_str().unwrap().starts_with("440402"))
    );
    let listed = ok(app.anonymous().get("/api/panorama/ratings?department=440402-ZSJ&limit=500").await).await;
    assert_eq!(
        listed.as_array().unwrap().iter().filter(|r| r["counted"] == true).count() as u64,
        department["ratings"].as_u64().unwrap()
    );
    assert!(listed[0]["text"].is_null() && listed[0]["reference"].is_null(), "the public sees no texts or numbers");

    // A supervisor rules the very dissatisfied one malicious, with reasons: out of the figures,
    // visible in the record.
    let (_, reference) = &tokens[2];
    let seen = ok(clerk.get(&format!("/api/evaluations/window/{reference}")).await).await;
    let rating = seen["ratings"][0]["id"].as_i64().unwrap();
    let ruling = format!("/api/evaluations/ratings/{rating}/ruling");
    expect_error(clerk.post(&ruling, &json!({"ruling": "malicious", "reason": "x"})).await, 403, "forbidden", None)
        .await;
    let supervisor = app.login("supervisor").await;
    expect_error(
        supervisor.post(&ruling, &json!({"ruling": "malicious"})).await,
        422,
        "invalid_evaluation",
        Some("reason"),
    )
    .await;
    let ruled = ok(supervisor
        .post(&ruling, &json!({"ruling": "malicious", "reason": "同一号码一小时内重复差评且与事实不符"}))
        .await)
    .await;
    assert_eq!(ruled["ratings"][0]["ruling"], "malicious");
    assert_eq!(ruled["ratings"][0]["ruling_reason"], "同一号码一小时内重复差评且与事实不符");
    expect_error(
        supervisor.post(&ruling, &json!({"ruling": "unfounded", "reason": "再次"})).await,
        409,
        "already_rated",
        None,
    )
    .await;
    let after = ok(app.anonymous().get("/api/panorama?department=440402-ZSJ").await).await;
    assert_eq!(after["ratings"].as_u64().unwrap(), department["ratings"].as_u64().unwrap() - 1);
    assert_eq!(after["ruled_out"].as_u64().unwrap(), department["ruled_out"].as_u64().unwrap() + 1);
    check(after, count_independently(&app, "440402-ZSJ", now).await);

    // The same figures as CSV.
    let csv = app.anonymous().get("/api/panorama/export.csv?department=440402-ZSJ").await.text().await.unwrap();
    let total = csv.lines().find(|l| l.starts_with("total,")).unwrap().to_owned();
    let (counted, positive, ..) = count_independently(&app, "440402-ZSJ", now).await;
    assert!(total.contains(&format!(",{counted},{positive},")), "{total}");
    // A bad filter is named.
    expect_error(app.anonymous().get("/api/panorama?region=999").await, 422, "invalid_evaluation", Some("region"))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_closed_work_orders_callback_rating_is_an_evaluation() {
    let app = TestApp::demo().await;
    let operator = app.login("operator").await;
    let new = json!({"request_type": "consult", "text": "请问居住证怎么办理？", "answer": "携带身份证到派出所办理。",
                     "caller": {"kind": "resident", "name": "李明", "phone": "13800138002"}});
    let order = ok(operator.post("/api/workorders", &new).await).await;
    let number = order["number"].as_str().unwrap().to_owned();
    assert_eq!(order["state"], "closed");
    let rated = operator
        .post(&format!("/api/workorders/{number}/actions/rate"), &json!({"satisfaction": "very_dissatisfied"}))
        .await;
    ok(rated).await;
    let seen = ok(app.login("supervisor").await.get(&format!("/api/evaluations/workorder/{number}")).await).await;
    assert_eq!(seen["ratings"][0]["level"], "very_dissatisfied");
    assert_eq!(seen["ratings"][0]["channel_code"], 6, "the hotline's callback");
    assert_eq!(seen["ratings"][0]["rectification"]["state"], "opened");
    // Work orders are rated with their own step, which keeps re-handling working.
    expect_error(
        operator.post(&format!("/api/evaluations/workorder/{number}/ratings"), &json!({"level": "satisfied"})).await,
        422,
        "invalid_evaluation",
        Some("kind"),
    )
    .await;
    app.stop().await;
}
