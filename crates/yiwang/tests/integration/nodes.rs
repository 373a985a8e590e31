//! Scale-out: two nodes on one PostgreSQL database serve reads and writes alike and run each
//! background job once. (SQLite is one node's embedded file; this test needs PostgreSQL.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yiwang::config::Config;
use yiwang::store::jobs::{self, NewJob};

use crate::support::{PASSWORD, fresh_postgres};

struct Node {
    state: yiwang::AppState,
    running: yiwang::Running,
}

impl Node {
    async fn start(config: &Config) -> Node {
        let state = yiwang::open(config.clone()).await.expect("open a node");
        let running = yiwang::start(state.clone()).await.expect("start a node");
        Node { state, running }
    }

    fn base(&self) -> String {
        format!("http://{}", self.running.addr)
    }

    /// How its job worker's name ends (host, process, then port).
    fn worker_suffix(&self) -> String {
        format!("-{}", self.running.addr.port())
    }

    async fn sign_in(&self, login: &str) -> (reqwest::Client, String) {
        let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let response = http
            .post(format!("{}/api/auth/login", self.base()))
            .json(&json!({"login": login, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{login} signs in on {}", self.base());
        let body: Value = response.json().await.unwrap();
        (http, body["csrf_token"].as_str().unwrap().to_owned())
    }
}

/// A hotline call taken on `on`, found again through `read_on`.
async fn call_taken_on_one_node_is_read_on_the_other(on: &Node, read_on: &Node, n: usize) {
    let (operator, csrf) = on.sign_in("operator").await;
    let call = json!({"request_type": "help", "text": format!("迎宾南路第{n}盏路灯损坏多日不亮，晚上行人出行很不安全"),
        "caller": {"kind": "resident", "phone": "13800138002"}});
    let response =
        operator.post(format!("{}/api/workorders", on.base())).header("x-csrf-token", csrf).json(&call).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), 201);
    let order: Value = response.json().await.unwrap();
    let (supervisor, _) = read_on.sign_in("supervisor").await;
    let path = format!("{}/api/workorders/{}", read_on.base(), order["number"].as_str().unwrap());
    let read: Value = supervisor.get(path).send().await.unwrap().json().await.unwrap();
    assert_eq!(read["text"], order["text"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_serve_alike_and_run_each_job_once() {
    let Some(url) = fresh_postgres().await else {
        eprintln!("two nodes share a PostgreSQL database; set YIWANG_TEST_POSTGRES to run this test");
        return;
    };
    // Both nodes are given the same keys, as a deployment copies the data directory's keys to
    // every node; each listens on its own port.
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::for_tests(dir.path(), Some(url));
    config.worker_idle_ms = 20;
    let first = Node::start(&config).await;
    assert!(yiwang::demo::load(&first.state).await.unwrap());
    let second = Node::start(&config).await;
    for node in [&first, &second] {
        node.state.search.refresh(&node.state.store).await.unwrap();
        node.state.workorders.reload(&node.state.store).await.unwrap();
    }

    // Work for the workers while both nodes take calls: forty checkpoint jobs besides the
    // recurring ones, each to be claimed by exactly one node.
    let mut tx = first.state.store.begin_write().await.unwrap();
    for n in 0..40 {
        let job =
            NewJob { dedupe_key: Some(format!("two-nodes-{n}")), ..NewJob::now("ledger.checkpoint", json!(null)) };
        assert!(jobs::enqueue(&mut tx, job).await.unwrap());
    }
    tx.commit().await.unwrap();
    for n in 0..6 {
        let (on, read_on) = if n % 2 == 0 { (&first, &second) } else { (&second, &first) };
        call_taken_on_one_node_is_read_on_the_other(on, read_on, n).await;
    }

    let pool = first.state.store.pool();
    let started = Instant::now();
    loop {
        let waiting: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state <> 'done'").fetch_one(pool).await.unwrap();
        if waiting == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{waiting} jobs still waiting");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ran: Vec<(String, Option<String>, i64, Option<String>)> =
        sqlx::query_as("SELECT kind, dedupe_key, attempts, finished_by FROM jobs").fetch_all(pool).await.unwrap();
    let mut by_node = [0, 0];
    for (kind, key, attempts, finished_by) in &ran {
        assert_eq!(*attempts, 1, "{kind} {key:?} was claimed once");
        let finished_by = finished_by.as_deref().expect("a finished job names its node");
        let node = [&first, &second].iter().position(|n| finished_by.ends_with(&n.worker_suffix()));
        by_node[node.unwrap_or_else(|| panic!("{kind} finished by an unknown node {finished_by}"))] += 1;
    }
    assert!(by_node.iter().all(|&n| n > 0), "both nodes ran jobs: {by_node:?}");
    assert!(ran.iter().any(|(kind, key, ..)| kind == "workorders.raise_alarms" && key.is_some()));

    // Checkpoints signed by either node with the shared key verify as one log.
    let key = first.state.signer.verifier_key();
    yiwang::ledger::verify(&second.state.store, &key).await.expect("the log verifies");

    second.running.stop().await.unwrap();
    first.running.stop().await.unwrap();
}
