//! Work-order intake end to end over HTTP: concurrent hotline operators take calls (a complaint,
//! a request for help, a consultation…) at places across the demo city's grids; each answer is
//! the classified, routed and (when sure) dispatched order with its evidence leaf written.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::percentile;

/// Calls as residents describe them, with a point in one of the demo grids.
const CALLS: &[(&str, &str, f64, f64)] = &[
    ("complaint", "小区物业占用公共绿地改建停车位并收取停车费，业主多次反映无人处理", 22.2180, 113.5470),
    ("help", "迎宾南路路灯损坏多日不亮，晚上行人出行很不安全，请尽快维修", 22.2170, 113.5360),
    ("complaint", "公司拖欠员工三个月工资，老板一直推脱不发，请劳动监察部门处理", 22.2570, 113.5700),
    ("consult", "孩子明年上小学，非户籍积分入学需要准备哪些材料，什么时候报名", 22.2100, 113.5000),
    ("complaint", "工业区工厂夜间排放刺鼻废气，附近居民晚上无法开窗睡觉", 22.2000, 113.2900),
    ("suggestion", "建议在白蕉镇增加一条公交线路，方便居民到城区上班", 22.2300, 113.3100),
    ("report", "有人在红旗镇农田里倾倒建筑垃圾，污染耕地", 22.1450, 113.4150),
    ("complaint", "医院挂号排队时间太长，自助机经常故障，希望改进", 22.0550, 113.3650),
];

pub async fn run(operators: usize, orders: usize, database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = crate::fresh_database(database_url).await;
    let mut config = yiwang::config::Config::for_tests(dir.path(), database_url);
    config.worker_idle_ms = 1000;
    let state = yiwang::open(config).await.expect("open");
    yiwang::demo::load(&state).await.expect("demo");
    state.workorders.reload(&state.store).await.expect("routing");
    let backend = state.store.backend().name();
    let store = state.store.clone();
    let running = yiwang::start(state).await.expect("start");
    let base = format!("http://{}", running.addr);

    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"login": "operator", "password": yiwang::demo::DEMO_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    let csrf = login["csrf_token"].as_str().expect("csrf token").to_owned();

    let per_operator = orders / operators;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for operator in 0..operators {
        let (client, csrf, base) = (client.clone(), csrf.clone(), base.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_operator);
            let mut dispatched = 0usize;
            for n in 0..per_operator {
                let (kind, text, lat, lon) = CALLS[(operator + n) % CALLS.len()];
                let call = json!({"request_type": kind, "text": text, "location": {"lat": lat, "lon": lon},
                    "caller": {"kind": "resident", "phone": format!("138{:08}", operator * per_operator + n)}});
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/workorders"))
                    .header("x-csrf-token", &csrf)
                    .json(&call)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .expect("intake");
                assert_eq!(response.status(), 201, "taken in");
                let order: Value = response.json().await.expect("answer");
                dispatched += usize::from(order["state"] == "dispatched");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, dispatched)
        });
    }
    let (mut latencies, mut dispatched) = (Vec::new(), 0);
    while let Some(done) = tasks.join_next().await {
        let (l, d) = done.expect("operator");
        latencies.extend(l);
        dispatched += d;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let stored: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM workorders").fetch_one(store.pool()).await.expect("count");
    assert_eq!(stored as usize, latencies.len(), "every acknowledged order is stored");
    println!(
        "{}",
        json!({
            "scenario": "workorder_intake", "backend": backend, "operators": operators,
            "orders": latencies.len(), "dispatched_automatically": dispatched,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "orders_per_second": (latencies.len() as f64 / seconds).round(),
            "p50_ms": (percentile(&latencies, 0.5) * 100.0).round() / 100.0,
            "p99_ms": (percentile(&latencies, 0.99) * 100.0).round() / 100.0,
            "max_ms": (latencies.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0,
            "target": {"orders_per_second": 2000}
        })
    );
    running.stop().await.expect("stop");
}
