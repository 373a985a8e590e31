//! `bench`: yiwang's benchmarks, one scenario per capability, one JSON line per result.
//! Loopback and local files only; every loop is bounded.
//!
//!     cargo run --release -p yiwang-bench -- ledger-append --writers 1,8,64 --appends 20000
//!     cargo run --release -p yiwang-bench -- ledger-proof --leaves 10000000 --data-dir /var/tmp/yiwang-bench
//!     cargo run --release -p yiwang-bench -- ledger-append --pymerkle   (adds pymerkle and the ratios)
//!     cargo run --release -p yiwang-bench -- catalogue-search --items 10000
//!     cargo run --release -p yiwang-bench -- instant-approval --applicants 32 --applications 10000
//!     cargo run --release -p yiwang-bench -- gateway --clients 16 --seconds 10 [--database-url URL]
//!     cargo run --release -p yiwang-bench -- open-data --clients 16 --seconds 10   (needs pip install datasette)
//!     cargo run --release -p yiwang-bench -- scale --database-url postgres://… --workorders 10000000 --applications 1000000

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// The allocator the `yiwang` server uses, so the scenarios run as the server does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod catalogue_search;
mod exchange;
mod instant_approval;
mod scale;
mod workorder_intake;

use clap::{Parser, Subcommand};
use rand::Rng;
use serde_json::{Value, json};
use yiwang::ledger::{self, Entry, LedgerError};
use yiwang::store::Store;

#[derive(Parser)]
#[command(name = "bench", about = "yiwang benchmarks; prints one JSON line per result")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Durable evidence-log appends per second, each its own acknowledged write, with N writers.
    LedgerAppend {
        #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
        writers: Vec<usize>,
        /// Appends per writer count.
        #[arg(long, default_value_t = 20_000)]
        appends: usize,
        /// Run against this database instead of a fresh SQLite file (e.g. a PostgreSQL database).
        #[arg(long)]
        database_url: Option<String>,
        /// Also run pymerkle (PyPI) on the same workload and print the ratios.
        #[arg(long)]
        pymerkle: bool,
    },
    /// Inclusion-proof latency in a log of N leaves (built, or grown, in `--data-dir`).
    LedgerProof {
        #[arg(long, default_value_t = 10_000_000)]
        leaves: u64,
        #[arg(long, default_value_t = 10_000)]
        samples: usize,
        /// Keep the log here between runs; a temporary directory when not given.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Also time pymerkle's proofs at this many leaves, and ours at the same size.
        #[arg(long)]
        pymerkle_leaves: Option<u64>,
    },
    /// Guide-search latency over a catalogue of N items: the demo catalogue plus items named
    /// after a real district's catalogue (shared/data/items), queried with the evaluation set.
    CatalogueSearch {
        #[arg(long, default_value_t = 10_000)]
        items: usize,
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// The shared data folder; without it the extra items reuse demo names.
        #[arg(long, default_value = "../shared/data")]
        shared_data: PathBuf,
    },
    /// Instant approvals per second over HTTP, submit to issued certificate, with N concurrent
    /// applicants, against a server started here (fresh SQLite, or `--database-url`).
    InstantApproval {
        #[arg(long, default_value_t = 32)]
        applicants: usize,
        #[arg(long, default_value_t = 10_000)]
        applications: usize,
        /// An empty PostgreSQL database to run against instead of SQLite.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Gateway lookups per second over HTTP (grant check, masking, call log and evidence leaf)
    /// against the same lookups straight from the database over HTTP, in the same run.
    Gateway {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// An empty PostgreSQL database to run against instead of SQLite.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// How long gateway lookups wait while a steward uploads a large dataset to another resource
    /// (every lookup's call-log entry is a write), against the same lookups before it.
    UploadStall {
        #[arg(long, default_value_t = 4)]
        clients: usize,
        #[arg(long, default_value_t = 200_000)]
        rows: usize,
        /// An empty PostgreSQL database to run against instead of SQLite.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// CKAN package_search and datastore_search per second against Datasette (PyPI) serving the
    /// same rows, in the same run.
    OpenData {
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Work orders taken in per second over HTTP (classification, routing, dispatch, evidence
    /// leaf included) from N concurrent hotline operators, against a server started here.
    WorkorderIntake {
        #[arg(long, default_value_t = 32)]
        operators: usize,
        #[arg(long, default_value_t = 20_000)]
        orders: usize,
        /// An empty PostgreSQL database to run against instead of SQLite.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Load at scale: a PostgreSQL database (`yiwang_scale` beside the one named) filled with N
    /// synthetic work orders and applications, then the latency of the supervisor's board, the
    /// statistics, the work-order lists and the applications' lists over HTTP.
    Scale {
        /// A PostgreSQL server (any database on it); the run makes and drops `yiwang_scale`.
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 10_000_000)]
        workorders: i64,
        #[arg(long, default_value_t = 1_000_000)]
        applications: i64,
        /// Timed requests per measurement (after a warm-up).
        #[arg(long, default_value_t = 200)]
        samples: usize,
        /// Keep the filled database afterwards.
        #[arg(long)]
        keep: bool,
        /// Measure a database kept by an earlier run instead of filling a new one.
        #[arg(long)]
        reuse: bool,
    },
}

fn emit(line: Value) {
    println!("{line}");
}

async fn open_sqlite(dir: &Path) -> Store {
    std::fs::create_dir_all(dir).expect("data dir");
    Store::open(&format!("sqlite://{}", dir.join("yiwang.db").display())).await.expect("open store")
}

/// Leaf `n` of every scenario: the shape of a real change's leaf.
fn append_item(tx: &mut yiwang::store::WriteTx, n: usize) -> Result<(), LedgerError> {
    let payload = n.to_string();
    let entry = Entry {
        kind: "bench.append",
        subject: format!("item:{n}"),
        actor: "system".into(),
        payload: payload.as_bytes(),
    };
    ledger::append(tx, entry)
}

async fn append_one(store: &Store, n: usize) -> Result<(), LedgerError> {
    store.write(move |tx| Box::pin(async move { append_item(tx, n) })).await
}

async fn ledger_append(store: &Store, backend: &str, writers: usize, appends: usize) -> f64 {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_writer = appends / writers;
    for w in 0..writers {
        let store = store.clone();
        tasks.spawn(async move {
            for i in 0..per_writer {
                append_one(&store, w * per_writer + i).await.expect("append");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer");
    }
    let seconds = started.elapsed().as_secs_f64();
    let total = per_writer * writers;
    let rate = total as f64 / seconds;
    emit(json!({"scenario": "ledger_append", "backend": backend, "durable": true, "writers": writers,
                "appends": total, "seconds": round(seconds), "appends_per_second": round(rate)}));
    rate
}

/// The value at share `p` of sorted latencies (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn pymerkle(args: &[String]) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/pymerkle_bench.py");
    let output = std::process::Command::new("python3").arg(script).args(args).stderr(Stdio::inherit()).output();
    let output = match output {
        Ok(o) if o.status.success() => o,
        _ => {
            emit(json!({"scenario": "pymerkle", "error": "pymerkle_bench.py failed; pip install pymerkle"}));
            return Vec::new();
        }
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .inspect(|v| emit(v.clone()))
        .collect()
}

/// Grows the log in `store` to `leaves`, in large transactions through the ordinary append path.
async fn grow(store: &Store, leaves: u64) {
    let started = Instant::now();
    let mut size = ledger::size(store).await.expect("size");
    let initial = size;
    while size < leaves {
        let batch = (leaves - size).min(100_000);
        let first = size as usize;
        store
            .write(move |tx| {
                Box::pin(async move {
                    for n in first..first + batch as usize {
                        append_item(tx, n)?;
                    }
                    Ok::<_, LedgerError>(())
                })
            })
            .await
            .expect("grow");
        size += batch;
    }
    if size > initial {
        emit(
            json!({"scenario": "ledger_build", "leaves": size, "added": size - initial, "seconds": round(started.elapsed().as_secs_f64())}),
        );
    }
}

async fn proof_latency(store: &Store, samples: usize) -> Value {
    let size = ledger::size(store).await.expect("size");
    let mut rng = rand::thread_rng();
    // Warm up: the first touches of a large file measure the disk, not the log.
    for _ in 0..samples / 10 {
        ledger::inclusion_proof(store, rng.gen_range(0..size), size).await.expect("proof");
    }
    let mut micros = Vec::with_capacity(samples);
    for _ in 0..samples {
        let index = rng.gen_range(0..size);
        let started = Instant::now();
        let proof = ledger::inclusion_proof(store, index, size).await.expect("proof");
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        assert!(!proof.is_empty() || size == 1);
    }
    micros.sort_by(f64::total_cmp);
    let at = |p: f64| micros[((micros.len() as f64 * p) as usize).min(micros.len() - 1)];
    let line = json!({"scenario": "ledger_inclusion_proof", "backend": "sqlite", "leaves": size, "samples": samples,
                      "p50_us": round(at(0.5)), "p99_us": round(at(0.99)), "max_us": round(micros[micros.len() - 1])});
    emit(line.clone());
    line
}

fn ratio(name: &str, ours: f64, theirs: f64) {
    if theirs > 0.0 {
        emit(
            json!({"scenario": "ratio", "what": name, "yiwang": round(ours), "pymerkle": round(theirs), "ratio": round(ours / theirs)}),
        );
    }
}

#[tokio::main]
async fn main() {
    match Cli::parse().scenario {
        Scenario::LedgerAppend { writers, appends, database_url, pymerkle: with_pymerkle } => {
            let mut rates = Vec::new();
            for w in writers {
                let dir = tempfile::tempdir().expect("temp dir");
                let (store, backend) = match &database_url {
                    Some(url) => (Store::open(url).await.expect("open"), store_backend(url)),
                    None => (open_sqlite(dir.path()).await, "sqlite"),
                };
                rates.push((w, ledger_append(&store, backend, w, appends).await));
            }
            if with_pymerkle {
                let theirs = pymerkle(&[
                    "--appends".into(),
                    appends.min(5000).to_string(),
                    "--proof-leaves".into(),
                    "1000".into(),
                    "--samples".into(),
                    "10".into(),
                ]);
                let pm = theirs
                    .iter()
                    .find(|v| v["scenario"] == "pymerkle_append")
                    .and_then(|v| v["appends_per_second"].as_f64())
                    .unwrap_or(0.0);
                for (w, rate) in rates {
                    ratio(
                        &format!("durable appends per second, yiwang with {w} writers vs pymerkle SqliteTree"),
                        rate,
                        pm,
                    );
                }
            }
        }
        Scenario::InstantApproval { applicants, applications, database_url } => {
            instant_approval::run(applicants, applications, database_url).await;
        }
        Scenario::Gateway { clients, seconds, database_url } => {
            exchange::gateway(clients, seconds, database_url).await;
        }
        Scenario::UploadStall { clients, rows, database_url } => {
            exchange::upload_stall(clients, rows, database_url).await;
        }
        Scenario::OpenData { clients, seconds } => {
            exchange::open_data(clients, seconds).await;
        }
        Scenario::WorkorderIntake { operators, orders, database_url } => {
            workorder_intake::run(operators, orders, database_url).await;
        }
        Scenario::Scale { database_url, workorders, applications, samples, keep, reuse } => {
            scale::run(scale::Options { database_url, workorders, applications, samples, keep, reuse }).await;
        }
        Scenario::CatalogueSearch { items, samples, shared_data } => {
            catalogue_search::run(items, samples, &shared_data).await;
        }
        Scenario::LedgerProof { leaves, samples, data_dir, pymerkle_leaves } => {
            let temp = tempfile::tempdir().expect("temp dir");
            let dir = data_dir.unwrap_or_else(|| temp.path().to_owned());
            let store = open_sqlite(&dir).await;
            grow(&store, leaves).await;
            proof_latency(&store, samples).await;
            if let Some(small) = pymerkle_leaves {
                let small_dir = tempfile::tempdir().expect("temp dir");
                let small_store = open_sqlite(small_dir.path()).await;
                grow(&small_store, small).await;
                let ours = proof_latency(&small_store, samples.min(1000)).await;
                let theirs = pymerkle(&[
                    "--appends".into(),
                    "10".into(),
                    "--proof-leaves".into(),
                    small.to_string(),
                    "--samples".into(),
                    samples.min(1000).to_string(),
                ]);
                if let Some(pm) = theirs.iter().find(|v| v["scenario"] == "pymerkle_inclusion_proof") {
                    let (ours, theirs) = (ours["p99_us"].as_f64().unwrap_or(0.0), pm["p99_us"].as_f64().unwrap_or(0.0));
                    if ours > 0.0 {
                        emit(
                            json!({"scenario": "ratio", "what": format!("p99 inclusion-proof latency at {small} leaves, pymerkle / yiwang"),
                                    "yiwang_us": ours, "pymerkle_us": theirs, "ratio": round(theirs / ours)}),
                        );
                    }
                }
            }
        }
    }
}

/// For a PostgreSQL URL, an empty database `yiwang_bench` beside the one named (made anew each
/// run, so a run never finds an earlier run's data); other URLs unchanged.
pub async fn fresh_database(url: Option<String>) -> Option<String> {
    use sqlx::Connection;
    let url = url?;
    if store_backend(&url) != "postgres" {
        return Some(url);
    }
    let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect to PostgreSQL");
    for statement in ["DROP DATABASE IF EXISTS yiwang_bench WITH (FORCE)", "CREATE DATABASE yiwang_bench"] {
        sqlx::raw_sql(statement).execute(&mut admin).await.expect("make the bench database");
    }
    let (server, _) = url.rsplit_once('/').expect("a database name in the URL");
    Some(format!("{server}/yiwang_bench"))
}

fn store_backend(url: &str) -> &'static str {
    if url.starts_with("postgres") { "postgres" } else { "sqlite" }
}
