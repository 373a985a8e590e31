//! Crash safety: the real `yiwang` binary, killed with SIGKILL at random moments while hotline
//! operators, applicants and raters write concurrently, loses no write it acknowledged, keeps no
//! half-written record, and its evidence log verifies afterwards — on SQLite and on PostgreSQL.
//!
//! `YIWANG_CRASH_CYCLES` sets the number of kills (default 20).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::support::{PASSWORD, fresh_postgres};

const RESIDENT: &str = "440402198503120024";

/// What the server acknowledged during one life, to be found after the kill that ended it.
#[derive(Default)]
struct Acknowledged {
    workorders: Vec<(String, String)>,
    applications: Vec<String>,
    ratings: Vec<String>,
    files: Vec<String>,
}

struct Installation {
    data: PathBuf,
    database_url: Option<String>,
}

impl Installation {
    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yiwang"));
        command.arg("--data-dir").arg(&self.data).env_remove("YIWANG_CONFIG").env_remove("YIWANG_DATABASE_URL");
        if let Some(url) = &self.database_url {
            command.arg("--database-url").arg(url);
        }
        command
    }

    fn log_path(&self, life: usize) -> PathBuf {
        self.data.join(format!("serve-{life}.log"))
    }

    /// What the server of one life printed, for a failure's message.
    fn log(&self, life: usize) -> String {
        std::fs::read_to_string(self.log_path(life)).unwrap_or_default()
    }

    /// Starts a server on a port the system picks (a port chosen beforehand could be taken by
    /// another test's connection before the server binds it).
    fn serve(&self, life: usize) -> Child {
        let log = std::fs::File::create(self.log_path(life)).unwrap();
        self.command()
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start yiwang serve")
    }

    /// The address the server of one life says it listens on, once it has said so.
    fn listening(&self, life: usize) -> Option<String> {
        self.log(life).lines().find_map(|line| {
            let event: Value = serde_json::from_str(line).ok()?;
            (event["fields"]["message"] == "yiwang is listening")
                .then(|| event["fields"]["addr"].as_str())?
                .map(String::from)
        })
    }
}

fn client() -> Client {
    Client::builder().cookie_store(true).timeout(Duration::from_secs(30)).build().unwrap()
}

/// The base URL of the started server, once it answers ready.
async fn wait_ready(http: &Client, server: &mut Child, installation: &Installation, life: usize) -> String {
    let started = Instant::now();
    loop {
        if let Some(addr) = installation.listening(life) {
            let base = format!("http://{addr}");
            if let Ok(response) = http.get(format!("{base}/readyz")).send().await
                && response.status().is_success()
            {
                return base;
            }
        }
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the server exited while starting ({status}):\n{}", installation.log(life));
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A signed-in client and its CSRF token.
async fn sign_in(base: &str, login: &str) -> (Client, String) {
    try_sign_in(base, login).await.expect("signed in")
}

/// Signing in, which a writer may still be doing when the server is killed.
async fn try_sign_in(base: &str, login: &str) -> Option<(Client, String)> {
    let http = client();
    let request = http.post(format!("{base}/api/auth/login")).json(&json!({"login": login, "password": PASSWORD}));
    let body = acknowledged(request).await?;
    Some((http, body["csrf_token"].as_str().expect("a CSRF token").to_owned()))
}

/// The answer's body when the server acknowledged the request; `None` when the request died with
/// the server (never acknowledged, so it may or may not have been kept).
async fn acknowledged(request: reqwest::RequestBuilder) -> Option<Value> {
    let response = request.send().await.ok()?;
    let status = response.status();
    let body: Value = response.json().await.ok()?;
    assert!(status.is_success(), "a write refused while the server ran: {status} {body}");
    Some(body)
}

async fn hotline_operator(base: String, acks: Arc<Mutex<Acknowledged>>, writer: usize) {
    let Some((http, csrf)) = try_sign_in(&base, "operator").await else { return };
    for n in 0.. {
        let text = format!("迎宾南路{writer}号路段路灯损坏多日不亮（第{n}次来电），晚上行人出行很不安全");
        let call = json!({"request_type": "help", "text": text,
            "caller": {"kind": "resident", "phone": "13800138002"}});
        let request = http.post(format!("{base}/api/workorders")).header("x-csrf-token", &csrf).json(&call);
        let Some(order) = acknowledged(request).await else { return };
        let number = order["number"].as_str().unwrap().to_owned();
        acks.lock().unwrap().workorders.push((number, text));
    }
}

/// Applies for 租房提取住房公积金 (decided at once), then rates each completed application.
async fn applicant(base: String, acks: Arc<Mutex<Acknowledged>>, application: Value) {
    let Some((http, csrf)) = try_sign_in(&base, RESIDENT).await else { return };
    loop {
        let request = http.post(format!("{base}/api/applications")).header("x-csrf-token", &csrf).json(&application);
        let Some(decided) = acknowledged(request).await else { return };
        assert_eq!(decided["state"], "completed", "{decided}");
        let number = decided["number"].as_str().unwrap().to_owned();
        acks.lock().unwrap().applications.push(number.clone());
        let rating = json!({"level": "very_satisfied", "text": "秒批，很方便"});
        let request = http
            .post(format!("{base}/api/evaluations/application/{number}/ratings"))
            .header("x-csrf-token", &csrf)
            .json(&rating);
        if acknowledged(request).await.is_none() {
            return;
        }
        acks.lock().unwrap().ratings.push(number);
    }
}

async fn uploader(base: String, acks: Arc<Mutex<Acknowledged>>) {
    let Some((http, csrf)) = try_sign_in(&base, RESIDENT).await else { return };
    loop {
        let scan = format!("%PDF-1.7\n% scan {}\n", hex::encode(rand::random::<[u8; 16]>()));
        let request = http
            .post(format!("{base}/api/files"))
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/octet-stream")
            .header("x-file-name", "scan.pdf")
            .body(scan.into_bytes());
        let Some(file) = acknowledged(request).await else { return };
        acks.lock().unwrap().files.push(file["sha256"].as_str().unwrap().to_owned());
    }
}

/// The rent-withdrawal application with the resident's ID-card e-certificate instead of paper.
async fn rent_withdrawal(base: &str) -> Value {
    let (http, _) = sign_in(base, RESIDENT).await;
    let wallet: Value = http.get(format!("{base}/api/certificates")).send().await.unwrap().json().await.unwrap();
    let card = wallet.as_array().unwrap().iter().find(|c| c["type_name"] == "居民身份证").unwrap()["id"].clone();
    let items: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    let item = items.iter().find(|i| i["name"] == "租房提取住房公积金").unwrap()["implementation_code"].clone();
    json!({
        "item": item, "situation": "S1",
        "form": {"applicant_name": "陈晓红", "id_number": RESIDENT, "phone": "13800138001",
                 "extract_mode": "按月自动提取", "bank_card": "6222020200112233445"},
        "materials": [{"material": "M1", "source": "certificate", "id": card},
                      {"material": "M2", "source": "shared_data"}, {"material": "M3", "source": "shared_data"},
                      {"material": "M5", "source": "shared_data"}]
    })
}

/// Every acknowledged write of the life before the kill, read back from the restarted server.
async fn assert_kept(base: &str, acks: &Acknowledged, life: usize) {
    let (staff, _) = sign_in(base, "supervisor").await;
    let (resident, _) = sign_in(base, RESIDENT).await;
    for (number, text) in &acks.workorders {
        let response = staff.get(format!("{base}/api/workorders/{number}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "work order {number} acknowledged in life {life}");
        let order: Value = response.json().await.unwrap();
        assert_eq!(order["text"].as_str(), Some(text.as_str()), "work order {number}");
    }
    for number in &acks.applications {
        let response = resident.get(format!("{base}/api/applications/{number}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "application {number} acknowledged in life {life}");
        let application: Value = response.json().await.unwrap();
        assert_eq!(application["state"], "completed", "application {number}");
        assert!(application["certificates"][0].is_string(), "application {number} keeps its certificate");
    }
    for number in &acks.ratings {
        let path = format!("{base}/api/evaluations/application/{number}");
        let seen: Value = resident.get(path).send().await.unwrap().json().await.unwrap();
        assert_eq!(seen["ratings"][0]["level"], "very_satisfied", "rating of {number} acknowledged in life {life}");
    }
}

/// No record stands without the rows written with it in the same transaction, and every
/// acknowledged upload has its bytes on disk and its row.
async fn assert_whole(installation: &Installation, files: &[String]) {
    let config = yiwang::config::Config::for_tests(&installation.data, installation.database_url.clone());
    let state = yiwang::open(config).await.expect("open after the last kill");
    for sha256 in files {
        let bytes = yiwang::applications::files::read(&installation.data, sha256).expect("an acknowledged upload");
        assert!(bytes.starts_with(b"%PDF-1.7"), "file {sha256}");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE sha256 = $1")
            .bind(sha256)
            .fetch_one(state.store.pool())
            .await
            .unwrap();
        assert_eq!(rows, 1, "file {sha256} has its row");
    }
    for (what, sql) in [
        (
            "work orders without their intake step",
            "SELECT COUNT(*) FROM workorders w WHERE NOT EXISTS \
             (SELECT 1 FROM workorder_events e WHERE e.workorder_id = w.id)",
        ),
        (
            "applications without their events",
            "SELECT COUNT(*) FROM applications a WHERE NOT EXISTS \
             (SELECT 1 FROM application_events e WHERE e.application_id = a.id)",
        ),
        (
            "completed applications without their certificate",
            "SELECT COUNT(*) FROM applications a WHERE a.state = 'completed' AND NOT EXISTS \
             (SELECT 1 FROM certificates c WHERE c.application_number = a.number)",
        ),
    ] {
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(state.store.pool()).await.unwrap();
        assert_eq!(count, 0, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_at_random_moments_loses_no_acknowledged_write() {
    let cycles: usize = std::env::var("YIWANG_CRASH_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let installation = Installation { data: dir.path().join("data"), database_url: fresh_postgres().await };
    std::fs::create_dir_all(&installation.data).unwrap();
    let probe = client();
    let mut previous = Acknowledged::default();
    let mut totals = [0usize; 4];
    let mut files = Vec::new();
    for life in 0..=cycles {
        let mut server = installation.serve(life);
        let base = wait_ready(&probe, &mut server, &installation, life).await;
        assert_kept(&base, &previous, life.saturating_sub(1)).await;
        if life == cycles {
            server.kill().unwrap();
            server.wait().unwrap();
            break;
        }

        let acks = Arc::new(Mutex::new(Acknowledged::default()));
        let application = rent_withdrawal(&base).await;
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..3 {
            writers.spawn(hotline_operator(base.clone(), acks.clone(), writer));
        }
        for _ in 0..2 {
            writers.spawn(applicant(base.clone(), acks.clone(), application.clone()));
        }
        writers.spawn(uploader(base.clone(), acks.clone()));
        tokio::time::sleep(Duration::from_millis(200 + rand::random::<u64>() % 1300)).await;
        server.kill().unwrap();
        server.wait().unwrap();
        while let Some(done) = writers.join_next().await {
            done.expect("a writer");
        }
        previous = Arc::into_inner(acks).unwrap().into_inner().unwrap();
        files.extend(previous.files.iter().cloned());
        for (total, count) in totals.iter_mut().zip([
            previous.workorders.len(),
            previous.applications.len(),
            previous.ratings.len(),
            previous.files.len(),
        ]) {
            *total += count;
        }
    }
    assert!(totals.iter().all(|&t| t > 0), "every kind of write was acknowledged at least once: {totals:?}");
    eprintln!(
        "{cycles} kills; acknowledged and found again: {} work orders, {} applications, {} ratings, {} files",
        totals[0], totals[1], totals[2], totals[3]
    );

    assert_whole(&installation, &files).await;
    let verify = installation.command().args(["ledger", "verify"]).output().unwrap();
    assert!(
        verify.status.success(),
        "ledger verify after {cycles} kills: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}
