//! Data exchange over HTTP. `gateway`: lookups through the gateway (token, grant check, field
//! selection, masking, rate and quota, a durable call-log entry and evidence leaf per call)
//! against the same lookups served straight from the database by a plain HTTP handler in the
//! same run. `open-data`: CKAN `package_search` and `datastore_search` against Datasette (PyPI)
//! serving the same rows from an SQLite file, in the same run (facet suggestions off, which
//! Datasette computes on every table page by default and which is not part of the query).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::emit;

const POPULATION_ROWS: usize = 10_000;
const ENTITY_ROWS: usize = 10_000;
/// Department systems calling the gateway in the gateway benchmark.
const APPS: usize = 8;

struct Server {
    base: String,
    state: yiwang::AppState,
    running: yiwang::Running,
    _dir: tempfile::TempDir,
}

async fn start(database_url: Option<String>) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = crate::fresh_database(database_url).await;
    let mut config = yiwang::config::Config::for_tests(dir.path(), database_url);
    config.worker_idle_ms = 1000;
    let state = yiwang::open(config).await.expect("open");
    yiwang::demo::load(&state).await.expect("demo");
    let running = yiwang::start(state.clone()).await.expect("start");
    Server { base: format!("http://{}", running.addr), state, running, _dir: dir }
}

async fn login(base: &str, login: &str) -> (reqwest::Client, String) {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let answer: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"login": login, "password": yiwang::demo::DEMO_PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login answer");
    (client, answer["csrf_token"].as_str().expect("csrf").to_owned())
}

async fn send(client: &reqwest::Client, csrf: &str, url: String, body: Value) -> Value {
    let response = client.post(url).header("x-csrf-token", csrf).json(&body).send().await.expect("send");
    let status = response.status();
    let value: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{status}: {value}");
    value
}

async fn upload(base: &str, steward: &str, resource: &str, csv: String) {
    let (client, csrf) = login(base, steward).await;
    let response = client
        .post(format!("{base}/api/exchange/resources/{resource}/data"))
        .header("x-csrf-token", &csrf)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("upload");
    assert!(response.status().is_success(), "upload {resource}: {}", response.text().await.unwrap_or_default());
}

fn id_number(n: usize) -> String {
    format!("4404021990{:08}", n)
}

/// Runs `clients` loops for `seconds`, each GET-ting the URLs `urls(i)` gives with the headers
/// `headers(client)` gives; returns calls/s, the 99th-percentile latency in ms and the number of
/// calls, asserting every answer is 200.
async fn load(
    clients: usize,
    seconds: f64,
    headers: impl Fn(usize) -> Vec<(String, String)>,
    urls: impl Fn(usize) -> String + Clone + Send + 'static,
) -> (f64, f64, usize) {
    let pause = tokio::time::sleep(Duration::from_secs_f64(seconds));
    let (all, elapsed, ()) = latencies_until(clients, headers, urls, pause).await;
    (all.len() as f64 / elapsed, crate::percentile(&all, 0.99), all.len())
}

/// Runs `clients` loops as [`load`] does until `done` finishes; returns every call's latency in
/// ms, sorted, the seconds the loops ran, and what `done` gave.
async fn latencies_until<T>(
    clients: usize,
    headers: impl Fn(usize) -> Vec<(String, String)>,
    urls: impl Fn(usize) -> String + Clone + Send + 'static,
    done: impl std::future::Future<Output = T>,
) -> (Vec<f64>, f64, T) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build().expect("client");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    let started = Instant::now();
    for c in 0..clients {
        let (client, headers, urls, stop) = (client.clone(), headers(c), urls.clone(), stop.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c * 7919;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut request = client.get(urls(i));
                for (k, v) in &headers {
                    request = request.header(k, v);
                }
                let sent = Instant::now();
                let response = request.send().await.expect("request");
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
                response.bytes().await.expect("body");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                i += 1;
            }
            latencies
        });
    }
    let outcome = done.await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all = Vec::new();
    while let Some(finished) = tasks.join_next().await {
        all.extend(finished.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (all, elapsed, outcome)
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn population_csv(rows: usize) -> String {
    let mut csv = String::from("id_number,name,gender,phone,address,household_type,community\n");
    for n in 0..rows {
        csv.push_str(&format!(
            "{},陈{}明,男,139{:08},广东省珠海市香洲区拱北街道迎宾南路{}号,户籍,440402001001\n",
            id_number(n),
            n % 100,
            n,
            n % 2000
        ));
    }
    csv
}

/// Loads the population register with `POPULATION_ROWS` residents and registers `APPS` department
/// systems with the highest limits (an app may make 100,000 calls a minute), each granted five
/// fields of which three are masked; returns their ids and tokens. Clients take turns among the
/// apps, so the limits are never what is measured.
async fn population_and_apps(base: &str) -> Vec<(i64, String)> {
    upload(base, "police_steward", "GA-RK-0001", population_csv(POPULATION_ROWS)).await;
    let (hrss, hrss_csrf) = login(base, "hrss_steward").await;
    let (police, police_csrf) = login(base, "police_steward").await;
    let until = (std::time::SystemTime::now() + Duration::from_secs(30 * 86400))
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time");
    let valid_until = yiwang::store::from_ms(until.as_millis() as i64).date_naive().to_string();
    let mut apps = Vec::new();
    for n in 0..APPS {
        let app = send(
            &hrss,
            &hrss_csrf,
            format!("{base}/api/exchange/apps"),
            json!({"name": format!("压测系统{n}"), "department_code": "440400-RSJ", "rate_per_minute": 100000,
                   "daily_quota": 100000000}),
        )
        .await;
        let grant = send(
            &hrss,
            &hrss_csrf,
            format!("{base}/api/exchange/grants"),
            json!({
            "app_id": app["app"]["id"], "resource_code": "GA-RK-0001", "purpose": "社保业务核验（压测）",
            "fields": ["id_number", "name", "phone", "address", "household_type"], "clear_fields": ["id_number"],
            "valid_until": valid_until}),
        )
        .await;
        send(
            &police,
            &police_csrf,
            format!("{base}/api/exchange/grants/{}/decision", grant["id"]),
            json!({"verdict": "approve"}),
        )
        .await;
        let token = app["token"].as_str().expect("token").to_owned();
        apps.push((app["app"]["id"].as_i64().expect("app id"), token));
    }
    apps
}

fn gateway_lookup(base: &str, i: usize) -> String {
    format!(
        "{base}/api/exchange/gateway/GA-RK-0001/records/{}?reason=%E5%8E%8B%E6%B5%8B",
        id_number(i % POPULATION_ROWS)
    )
}

pub async fn gateway(clients: usize, seconds: f64, database_url: Option<String>) {
    let server = start(database_url).await;
    let base = server.base.clone();
    let backend = server.state.store.backend().name();
    let apps = population_and_apps(&base).await;

    // The direct path: the same row, by the same key, from the same database, over HTTP.
    let store = server.state.store.clone();
    let row_set: i64 = sqlx::query_scalar("SELECT row_set FROM exchange_resources WHERE code = 'GA-RK-0001'")
        .fetch_one(store.pool())
        .await
        .expect("resource");
    let direct = axum::Router::new().route(
        "/direct/{key}",
        axum::routing::get(move |axum::extract::Path(key): axum::extract::Path<String>| {
            let store = store.clone();
            async move {
                let row: Option<String> =
                    sqlx::query_scalar("SELECT data FROM exchange_rows WHERE row_set = $1 AND key_value = $2")
                        .bind(row_set)
                        .bind(key)
                        .fetch_optional(store.pool())
                        .await
                        .expect("select");
                let record: Value = row.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or(Value::Null);
                axum::Json(json!({"records": [record]}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let direct_base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, direct).await.expect("direct server") });

    let leaves_before = yiwang::ledger::size(&server.state.store).await.expect("size");
    let gateway_base = base.clone();
    let (gateway_rate, gateway_p99, made) = load(
        clients,
        seconds,
        |c| vec![("authorization".into(), format!("Bearer {}", apps[c % APPS].1))],
        move |i| gateway_lookup(&gateway_base, i),
    )
    .await;
    let mut logged = 0;
    for (app_id, _) in &apps {
        let calls: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM exchange_calls WHERE app_id = $1")
            .bind(app_id)
            .fetch_one(server.state.store.pool())
            .await
            .expect("count");
        logged += calls;
    }
    let leaves = yiwang::ledger::size(&server.state.store).await.expect("size") - leaves_before;
    assert_eq!((logged as usize, leaves as usize), (made, made), "every answered call is logged with its leaf");
    let (direct_rate, direct_p99, _) = load(
        clients,
        seconds,
        |_| Vec::new(),
        move |i| format!("{direct_base}/direct/{}", id_number(i % POPULATION_ROWS)),
    )
    .await;
    emit(json!({
        "scenario": "gateway", "backend": backend, "clients": clients, "seconds": seconds, "rows": POPULATION_ROWS,
        "gateway_lookups_per_second": round(gateway_rate), "gateway_p99_ms": round(gateway_p99),
        "direct_lookups_per_second": round(direct_rate), "direct_p99_ms": round(direct_p99),
        "ratio": round(gateway_rate / direct_rate), "calls_logged": logged, "evidence_leaves": leaves,
        "target": {"ratio": 0.8}
    }));
    server.running.stop().await.expect("stop");
}

/// Gateway lookups from `clients` loops while a steward uploads `rows` rows to another resource:
/// how long the upload takes and how long a lookup (whose call-log entry is a write) waits
/// meanwhile, against the same lookups before the upload.
pub async fn upload_stall(clients: usize, rows: usize, database_url: Option<String>) {
    let server = start(database_url).await;
    let base = server.base.clone();
    let backend = server.state.store.backend().name();
    let apps = population_and_apps(&base).await;
    let mut csv = String::from(
        "credit_code,name,legal_representative,entity_type,registered_capital,established,address,status,phone\n",
    );
    for n in 0..rows {
        csv.push_str(&format!(
            "91440400MA{n:08},珠海市第{n}号贸易有限公司,李四,有限责任公司,{},2020-01-01,珠海市香洲区景山路{}号,存续,13900000000\n",
            n % 5000,
            n % 3000
        ));
    }
    let headers = |c: usize| vec![("authorization".to_owned(), format!("Bearer {}", apps[c % APPS].1))];
    let lookups = {
        let base = base.clone();
        move |i| gateway_lookup(&base, i)
    };
    let summary = |all: Vec<f64>| {
        json!({"calls": all.len(), "p99_ms": round(crate::percentile(&all, 0.99)),
               "max_ms": round(all.last().copied().unwrap_or_default())})
    };
    let pause = tokio::time::sleep(Duration::from_secs(5));
    let (quiet, _, ()) = latencies_until(clients, headers, lookups.clone(), pause).await;
    let uploading = async {
        let started = Instant::now();
        upload(&base, "market_steward", "SCJ-FR-0001", csv).await;
        started.elapsed().as_secs_f64()
    };
    let (during, _, upload_seconds) = latencies_until(clients, headers, lookups, uploading).await;
    let (quiet, during) = (summary(quiet), summary(during));
    emit(json!({
        "scenario": "upload-stall", "backend": backend, "clients": clients, "rows": rows,
        "upload_seconds": round(upload_seconds), "lookups_before": quiet, "lookups_during_upload": during,
    }));
    server.running.stop().await.expect("stop");
}

pub async fn open_data(clients: usize, seconds: f64) {
    let server = start(None).await;
    let base = server.base.clone();
    let mut csv = String::from(
        "credit_code,name,legal_representative,entity_type,registered_capital,established,address,status,phone\n",
    );
    let statuses = ["存续", "存续", "存续", "注销", "吊销"];
    let mut rows = Vec::new();
    for n in 0..ENTITY_ROWS {
        let row = (
            format!("91440400MA{:08}", n),
            format!("珠海市第{n}号贸易有限公司"),
            "有限责任公司",
            (n % 5000) as f64,
            "2020-01-01",
            format!("广东省珠海市香洲区吉大街道景山路{}号", n % 500),
            statuses[n % statuses.len()],
        );
        csv.push_str(&format!(
            "{},{},李四,{},{},{},{},{},13900000000\n",
            row.0, row.1, row.2, row.3, row.4, row.5, row.6
        ));
        rows.push(row);
    }
    upload(&base, "market_steward", "SCJ-FR-0001", csv).await;

    // The same public rows and dataset list in an SQLite file for Datasette.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("opendata.db");
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&file).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("sqlite");
    sqlx::query("CREATE TABLE datasets (name TEXT PRIMARY KEY, title TEXT, notes TEXT, organization TEXT, tags TEXT)")
        .execute(&pool)
        .await
        .expect("create");
    let mut conn = server.state.store.pool().acquire().await.expect("conn");
    let open: Vec<(String, String)> =
        sqlx::query_as("SELECT code, document FROM exchange_resources WHERE open_type = 'open'")
            .fetch_all(&mut *conn)
            .await
            .expect("open");
    drop(conn);
    for (code, document) in open {
        let d: Value = serde_json::from_str(&document).expect("document");
        sqlx::query("INSERT INTO datasets VALUES (?, ?, ?, ?, ?)")
            .bind(code.to_lowercase())
            .bind(d["name"].as_str())
            .bind(d["description"].as_str())
            .bind(d["department_code"].as_str().map(str::to_lowercase))
            .bind(d["tags"].to_string())
            .execute(&pool)
            .await
            .expect("insert");
    }
    sqlx::query("CREATE TABLE legal_entities (credit_code TEXT, name TEXT, entity_type TEXT, registered_capital REAL, established TEXT, address TEXT, status TEXT)")
        .execute(&pool)
        .await
        .expect("create");
    let mut tx = pool.begin().await.expect("begin");
    for r in &rows {
        sqlx::query("INSERT INTO legal_entities VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&r.0)
            .bind(&r.1)
            .bind(r.2)
            .bind(r.3)
            .bind(r.4)
            .bind(&r.5)
            .bind(r.6)
            .execute(&mut *tx)
            .await
            .expect("insert");
    }
    tx.commit().await.expect("commit");
    pool.close().await;

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    };
    let mut datasette = match tokio::process::Command::new("python3")
        .args([
            "-m",
            "datasette",
            "serve",
            file.to_str().expect("path"),
            "--port",
            &port.to_string(),
            "--host",
            "127.0.0.1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => child,
        Err(_) => {
            emit(json!({"scenario": "open_data", "error": "cannot start datasette; pip install datasette"}));
            return;
        }
    };
    let ds = format!("http://127.0.0.1:{port}");
    let probe = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if probe.get(format!("{ds}/-/versions.json")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !up {
        emit(json!({"scenario": "open_data", "error": "datasette did not start; pip install datasette"}));
        return;
    }
    let filters: String = form_urlencoded::byte_serialize(r#"{"status":"存续"}"#.as_bytes()).collect();
    let term: String = form_urlencoded::byte_serialize("法人".as_bytes()).collect();
    let active: String = form_urlencoded::byte_serialize("存续".as_bytes()).collect();
    let queries: [(&str, String, String); 2] = [
        (
            "package_search",
            format!("{base}/api/3/action/package_search?q={term}&rows=10"),
            format!("{ds}/opendata/datasets.json?_shape=objects&title__contains={term}&_size=10"),
        ),
        (
            "rows",
            format!("{base}/api/3/action/datastore_search?resource_id=scj-fr-0001&filters={filters}&limit=100"),
            format!("{ds}/opendata/legal_entities.json?_shape=objects&status={active}&_size=100"),
        ),
    ];
    for (name, ours, theirs) in queries {
        let (our_rate, our_p99, _) = load(clients, seconds, |_| Vec::new(), move |_| ours.clone()).await;
        let (their_rate, their_p99, _) = load(clients, seconds, |_| Vec::new(), move |_| theirs.clone()).await;
        emit(json!({
            "scenario": "open_data", "query": name, "clients": clients, "seconds": seconds, "rows": ENTITY_ROWS,
            "yiwang_per_second": round(our_rate), "yiwang_p99_ms": round(our_p99),
            "datasette_per_second": round(their_rate), "datasette_p99_ms": round(their_p99),
            "ratio": round(our_rate / their_rate), "target": {"ratio": 3.0}
        }));
    }
    let _ = datasette.kill().await;
    server.running.stop().await.expect("stop");
}
