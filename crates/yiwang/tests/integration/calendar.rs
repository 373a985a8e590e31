//! The working-day calendar over HTTP, and its admin edits.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, expect_error};

async fn due_date(app: &TestApp, start: &str, days: u32) -> String {
    let body: Value = app
        .anonymous()
        .get(&format!("/api/calendar/deadline?start={start}&working_days={days}"))
        .await
        .json()
        .await
        .unwrap();
    body["due_date"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn deadlines_follow_holidays_and_make_up_days() {
    let app = TestApp::empty().await;
    // 2024 Spring Festival: 10–17 Feb off; Sunday 4 Feb and Sunday 18 Feb are working days.
    assert_eq!(due_date(&app, "2024-02-03", 1).await, "2024-02-04");
    assert_eq!(due_date(&app, "2024-02-09", 1).await, "2024-02-18");
    // 2020 National Day and Mid-Autumn: 1–8 Oct off; Saturday 10 Oct is a working day.
    assert_eq!(due_date(&app, "2020-09-30", 1).await, "2020-10-09");
    assert_eq!(due_date(&app, "2020-10-09", 1).await, "2020-10-10");
    // 2026: an ordinary week, Friday + 5 working days is next Friday.
    assert_eq!(due_date(&app, "2026-03-06", 5).await, "2026-03-13");

    let days: Value = app.anonymous().get("/api/calendar/days?year=2024").await.json().await.unwrap();
    let days = days.as_array().unwrap();
    assert!(days.iter().any(|d| d["date"] == "2024-02-04" && d["kind"] == "make_up_workday"));
    assert!(days.iter().any(|d| d["date"] == "2024-02-12" && d["kind"] == "holiday" && d["name"] == "春节"));

    let between: Value =
        app.anonymous().get("/api/calendar/working-days?from=2024-01-31&to=2024-12-31").await.json().await.unwrap();
    // 2024 has 251 working days; January 31 itself is not counted, so 251 - 22 = 229.
    assert_eq!(between["working_days"], 229);
    expect_error(
        app.anonymous().get("/api/calendar/working-days?from=2024-13-01&to=2024-12-31").await,
        422,
        "invalid_date",
        Some("from"),
    )
    .await;
    expect_error(app.anonymous().get("/api/calendar/days?year=99999").await, 422, "invalid_year", Some("year")).await;
    app.stop().await;
}

#[tokio::test]
async fn an_admin_adds_next_years_notice() {
    let app = TestApp::demo().await;
    let admin = app.login("admin").await;
    // Before the notice, 2027-02-08 (Monday) is an ordinary working day.
    assert_eq!(due_date(&app, "2027-02-05", 1).await, "2027-02-08");
    let set = admin
        .send(Method::PUT, "/api/calendar/days/2027-02-08", Some(&json!({"kind": "holiday", "name": "春节"})))
        .await;
    assert_eq!(set.status(), 200);
    assert_eq!(due_date(&app, "2027-02-05", 1).await, "2027-02-09");
    let set = admin
        .send(Method::PUT, "/api/calendar/days/2027-02-06", Some(&json!({"kind": "make_up_workday", "name": "春节"})))
        .await;
    assert_eq!(set.status(), 200);
    assert_eq!(due_date(&app, "2027-02-05", 1).await, "2027-02-06");

    expect_error(
        admin.send(Method::PUT, "/api/calendar/days/2027-02-30", Some(&json!({"kind": "holiday", "name": "x"}))).await,
        422,
        "invalid_date",
        Some("date"),
    )
    .await;
    expect_error(
        admin.send(Method::PUT, "/api/calendar/days/2027-02-10", Some(&json!({"kind": "party", "name": "x"}))).await,
        422,
        "invalid_day_kind",
        Some("kind"),
    )
    .await;

    assert_eq!(admin.send(Method::DELETE, "/api/calendar/days/2027-02-06", None).await.status(), 204);
    assert_eq!(due_date(&app, "2027-02-05", 1).await, "2027-02-09");
    expect_error(admin.send(Method::DELETE, "/api/calendar/days/2027-02-06", None).await, 404, "not_found", None).await;

    // A district admin may not change the national calendar.
    let district = app.login("doumen_admin").await;
    expect_error(district.send(Method::DELETE, "/api/calendar/days/2027-02-08", None).await, 403, "forbidden", None)
        .await;
    // The edit is in the table: a restart (a fresh load) sees it.
    let reloaded = yiwang::calendar::load(&app.state.store).await.unwrap();
    assert!(!reloaded.is_working_day(chrono::NaiveDate::from_ymd_opt(2027, 2, 8).unwrap()));
    app.stop().await;
}
