//! PostgreSQL stopped in the middle of load and started again: meanwhile the server answers clean
//! 503s (never a 500, never a dropped connection), and afterwards it serves again without a
//! restart of its own. The outage outlasts the pool's 10-second wait for a connection, so
//! requests cannot simply wait it out.
//!
//! Stopping the database disturbs every test that uses it, so this runs only when `YIWANG_PG_CTL`
//! holds the control command of the server of `YIWANG_TEST_POSTGRES`, to which `stop` and `start`
//! are appended (CI runs it alone, after the suite).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgresql_stopped_under_load_gets_503s_and_the_server_recovers_by_itself() {
    let Ok(control) = std::env::var("YIWANG_PG_CTL") else { return };
    let app = TestApp::demo().await;
    assert_eq!(app.state.store.backend().name(), "postgres", "YIWANG_TEST_POSTGRES names the server");
    let statuses = Arc::new(Mutex::new(Vec::<(Instant, u16, Option<String>)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..4 {
        let (operator, statuses, stop) = (app.login("operator").await, statuses.clone(), stop.clone());
        writers.spawn(async move {
            for n in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                let call = json!({"request_type": "help", "text": format!("迎宾南路{writer}-{n}号路灯损坏多日不亮，晚上行人出行很不安全"),
                    "caller": {"kind": "resident", "phone": "13800138002"}});
                let response = operator.post("/api/workorders", &call).await;
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("a JSON answer, also during the outage");
                let number = body["number"].as_str().map(str::to_owned);
                if status == 503 {
                    assert_eq!(body["error"]["code"], "unavailable", "{body}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                statuses.lock().unwrap().push((Instant::now(), status, number));
            }
        });
    }

    tokio::time::sleep(Duration::from_secs(1)).await;
    pg_ctl(&control, "stop").await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(12)).await;
    pg_ctl(&control, "start").await;
    let back = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(done) = writers.join_next().await {
        done.expect("a writer");
    }

    let statuses = Arc::into_inner(statuses).unwrap().into_inner().unwrap();
    let unexpected: Vec<u16> = statuses.iter().map(|s| s.1).filter(|s| *s != 201 && *s != 503).collect();
    assert!(unexpected.is_empty(), "only 201 or 503: {unexpected:?}");
    let unavailable = statuses.iter().filter(|s| s.1 == 503).count();
    assert!(statuses.iter().any(|s| s.0 > stopped && s.0 < back && s.1 == 503), "503s while the database is down");
    let recovered = statuses.iter().filter(|s| s.0 > back + Duration::from_secs(2) && s.1 == 201).count();
    assert!(recovered > 0, "writes succeed again after the restart");
    eprintln!("{} writes: {unavailable} answered 503 while the database was down; {recovered} after", statuses.len());

    // Every acknowledged order is there.
    let supervisor = app.login("supervisor").await;
    for number in statuses.iter().filter(|s| s.1 == 201).filter_map(|s| s.2.as_ref()) {
        assert_eq!(supervisor.get(&format!("/api/workorders/{number}")).await.status(), 200, "{number}");
    }
    app.stop().await;
}

async fn pg_ctl(control: &str, action: &str) {
    let command = format!("{control} {action}");
    let done = tokio::task::spawn_blocking(move || std::process::Command::new("sh").args(["-c", &command]).status());
    assert!(done.await.unwrap().expect("run YIWANG_PG_CTL").success(), "{control} {action} failed");
}
