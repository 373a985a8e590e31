//! Instant approvals end to end over HTTP: concurrent residents submit 租房提取住房公积金 with their
//! ID-card e-certificate against a running server; each answer is the decided application with
//! its signed certificate issued.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::percentile;

const RESIDENT: (&str, &str) = ("440402198503120024", "陈晓红");

struct Session {
    client: reqwest::Client,
    csrf: String,
}

async fn sign_in(base: &str) -> Session {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let body: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"login": RESIDENT.0, "password": yiwang::demo::DEMO_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    Session { client, csrf: body["csrf_token"].as_str().expect("csrf token").to_owned() }
}

pub async fn run(applicants: usize, applications: usize, database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = crate::fresh_database(database_url).await;
    let mut config = yiwang::config::Config::for_tests(dir.path(), database_url.clone());
    config.worker_idle_ms = 1000;
    let state = yiwang::open(config).await.expect("open");
    yiwang::demo::load(&state).await.expect("demo");
    state.search.refresh(&state.store).await.expect("index");
    let backend = state.store.backend().name();
    let running = yiwang::start(state).await.expect("start");
    let base = format!("http://{}", running.addr);

    let session = sign_in(&base).await;
    let wallet: Value =
        session.client.get(format!("{base}/api/certificates")).send().await.unwrap().json().await.unwrap();
    let card = wallet.as_array().unwrap().iter().find(|c| c["type_name"] == "居民身份证").unwrap()["id"].clone();
    let items: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let rent = items.iter().find(|i| i["name"] == "租房提取住房公积金").unwrap()["implementation_code"].clone();
    let application = json!({
        "item": rent, "situation": "S1",
        "form": {"applicant_name": RESIDENT.1, "id_number": RESIDENT.0, "phone": "13800138001",
                 "extract_mode": "按月自动提取", "bank_card": "6222020200112233445"},
        "materials": [{"material": "M1", "source": "certificate", "id": card},
                      {"material": "M2", "source": "shared_data"}, {"material": "M3", "source": "shared_data"},
                      {"material": "M5", "source": "shared_data"}]
    });

    let per_applicant = applications / applicants;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..applicants {
        let (client, csrf, base, body) =
            (session.client.clone(), session.csrf.clone(), base.clone(), application.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(per_applicant);
            for _ in 0..per_applicant {
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/api/applications"))
                    .header("x-csrf-token", &csrf)
                    .json(&body)
                    .timeout(Duration::from_secs(30))
                    .send()
                    .await
                    .expect("submit");
                assert_eq!(response.status(), 201, "submitted");
                let decided: Value = response.json().await.expect("answer");
                assert_eq!(decided["state"], "completed", "approved at once");
                assert!(decided["certificates"][0].is_string(), "a certificate issued");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        });
    }
    let mut latencies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done.expect("applicant"));
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "scenario": "instant_approval", "backend": backend, "applicants": applicants,
            "decisions": latencies.len(), "seconds": (seconds * 1000.0).round() / 1000.0,
            "decisions_per_second": (latencies.len() as f64 / seconds).round(),
            "p50_ms": (percentile(&latencies, 0.5) * 100.0).round() / 100.0,
            "p99_ms": (percentile(&latencies, 0.99) * 100.0).round() / 100.0,
            "max_ms": (latencies.last().copied().unwrap_or(0.0) * 100.0).round() / 100.0,
            "target": {"decisions_per_second": 1000, "p99_ms": 50}
        })
    );
    running.stop().await.expect("stop");
}
