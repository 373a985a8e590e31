//! The `yiwang` command: serve the platform, migrate, load the demo city, administer accounts.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use yiwang::config::{Config, LogFormat, Overrides};
use yiwang::identity::{self, NewStaff, Role};

#[derive(Parser)]
#[command(name = "yiwang", version, about = "yiwang (一网): a digital-government platform for a city")]
struct Cli {
    #[command(flatten)]
    overrides: Overrides,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: HTTP server and background jobs.
    Serve {
        /// Load the demo city first, if the database has no city yet.
        #[arg(long)]
        demo: bool,
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "YIWANG_LISTEN")]
        listen: Option<SocketAddr>,
        /// Address for Prometheus metrics (a separate listener); none when not given.
        #[arg(long, env = "YIWANG_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo city into an empty database and exit.
    Demo,
    /// Back up the database and the data directory (keys, uploaded files) into a new folder,
    /// while the platform runs.
    Backup {
        /// The folder to create.
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Restore a backup into an empty data directory and an empty database.
    Restore {
        /// A folder made by `yiwang backup`.
        #[arg(long)]
        from: std::path::PathBuf,
    },
    /// Administer accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The evidence log.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// The service catalogue.
    Catalogue {
        #[command(subcommand)]
        command: CatalogueCommand,
    },
    /// Work orders: the classifier and the category tree.
    Workorders {
        #[command(subcommand)]
        command: WorkordersCommand,
    },
    /// Evidence-log receipts.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute the whole log from its stored leaves and check every node and checkpoint; exits
    /// non-zero naming the first bad index.
    Verify {
        /// Verifier key (`name+hash+key`, or a file holding it); default: the data directory's key.
        #[arg(long)]
        key: Option<String>,
    },
    /// Print the verifier key that checks this log's checkpoints.
    Key,
}

#[derive(Subcommand)]
enum ReceiptCommand {
    /// Check a receipt offline (no database needed).
    Verify {
        /// The receipt JSON file.
        receipt: std::path::PathBuf,
        /// Verifier key (`name+hash+key`, or a file holding it).
        #[arg(long)]
        key: String,
    },
}

#[derive(Subcommand)]
enum CatalogueCommand {
    /// Search the published guides as a resident would; prints the best items, one JSON object
    /// a line (`code`, `name`, `score`). An empty data directory searches the demo catalogue.
    Search {
        query: String,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=50))]
        limit: u16,
    },
}

#[derive(Subcommand)]
enum WorkordersCommand {
    /// Read a CSV with a `text` column and write it to standard output with a `predicted`
    /// column (the first-level category) added.
    Classify {
        #[arg(long)]
        input: std::path::PathBuf,
    },
    /// Train the classifier on DATA/train.csv (with DATA/categories.csv's sub-category names as
    /// hints) and the dispatchers' corrections in the database,
    /// print its figures on DATA/validation.csv as JSON lines, and save it (to --out, or to the
    /// data directory, where the server picks it up at its next start).
    Train {
        /// A folder with train.csv and validation.csv (`text`, `label`), e.g. ../shared/data/workorders.
        #[arg(long)]
        data: std::path::PathBuf,
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Train on the folder only, not on dispatchers' corrections (the shipped model).
        #[arg(long)]
        without_overrides: bool,
    },
    /// Print the figures of the model in use on DATA/validation.csv as JSON lines.
    Evaluate {
        #[arg(long)]
        data: std::path::PathBuf,
    },
    /// Number a `level1,level2,level3` category CSV and print it as `code,name,level,parent_code`.
    Categories { input: std::path::PathBuf },
    /// Load a `code,name,level,parent_code` category tree into the database: adds new categories
    /// and renames or moves existing ones (none is removed).
    LoadCategories { input: std::path::PathBuf },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a staff account; the password is read from the first line of standard input.
    CreateUser {
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        /// ROLE@DEPARTMENT_CODE, e.g. platform_admin@440400-ZSJ; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
}

/// mimalloc rather than glibc's malloc, whose arena locking and consolidation took about a tenth
/// of the CPU under load; the gateway answers about 15% more calls with it (README, the data
/// exchange benchmarks).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let (listen, metrics_listen) = match &cli.command {
        Command::Serve { listen, metrics_listen, .. } => (*listen, *metrics_listen),
        _ => (None, None),
    };
    let config = match Config::load(&cli.overrides, listen, metrics_listen) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("yiwang: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    match cli.command {
        Command::Receipt { command: ReceiptCommand::Verify { receipt, key } } => return verify_receipt(&receipt, &key),
        Command::Ledger { command: LedgerCommand::Verify { key } } => return verify_ledger(config, key).await,
        Command::Catalogue { command: CatalogueCommand::Search { query, limit } } => {
            return search_catalogue(config, &query, limit.into()).await;
        }
        Command::Workorders { command } => return workorders_command(config, command).await,
        Command::Backup { to } => return finished(yiwang::backup::backup(&config, &to).await, "backup written"),
        Command::Restore { from } => return finished(yiwang::backup::restore(&config, &from).await, "backup restored"),
        _ => {}
    }
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yiwang: {e}");
            ExitCode::FAILURE
        }
    }
}

fn finished(outcome: Result<(), yiwang::backup::BackupError>, done: &str) -> ExitCode {
    match outcome {
        Ok(()) => {
            println!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("yiwang: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    tracing::info!(data_dir = %config.data_dir.display(), "starting");
    let metrics_listen = config.metrics_listen;
    let state = yiwang::open(config).await?;
    tracing::info!(backend = state.store.backend().name(), "database ready");
    match command {
        Command::Serve { demo, .. } => {
            if demo && yiwang::demo::load(&state).await? {
                state.search.refresh(&state.store).await?;
                state.workorders.reload(&state.store).await?;
                tracing::info!(
                    password = yiwang::demo::DEMO_PASSWORD,
                    "demo city loaded; accounts are listed in the README"
                );
            }
            if let Some(addr) = metrics_listen {
                metrics_exporter_prometheus::PrometheusBuilder::new().with_http_listener(addr).install()?;
                tracing::info!(%addr, "metrics listening");
            }
            yiwang::start(state).await?.until_signal().await?;
        }
        Command::Migrate => println!("migrations applied ({})", state.store.backend().name()),
        Command::Demo => {
            let loaded = yiwang::demo::load(&state).await?;
            println!("{}", if loaded { "demo city loaded" } else { "the demo city is already there; nothing changed" });
        }
        Command::Admin { command: AdminCommand::CreateUser { login, name, roles } } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let hash = identity::new_password_hash(password.trim_end_matches(['\r', '\n'])).await?;
            let mut tx = state.store.begin_write().await?;
            let mut grants = Vec::new();
            for spec in roles {
                let (role, department) = spec.split_once('@').ok_or("--role must be ROLE@DEPARTMENT_CODE")?;
                let role: Role = role.parse()?;
                let department_id = identity::department_id(&mut tx, department)
                    .await?
                    .ok_or_else(|| format!("no department with code {department}"))?;
                grants.push((department_id, role));
            }
            let staff = NewStaff { login, display_name: name, roles: grants };
            let id = identity::create_staff(&mut tx, None, staff, &hash).await?;
            tx.commit().await?;
            println!("created staff account {id}");
        }
        Command::Ledger { command: LedgerCommand::Key } => println!("{}", state.signer.verifier_key()),
        Command::Ledger { command: LedgerCommand::Verify { .. } }
        | Command::Receipt { .. }
        | Command::Workorders { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::Catalogue { command: CatalogueCommand::Search { .. } } => {
            unreachable!("handled before the app is opened")
        }
    }
    Ok(())
}

async fn workorders_command(config: Config, command: WorkordersCommand) -> ExitCode {
    match run_workorders(config, command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yiwang workorders: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_workorders(config: Config, command: WorkordersCommand) -> Result<(), Box<dyn std::error::Error>> {
    use yiwang::workorders::classifier::{self, Classifier};
    match command {
        WorkordersCommand::Classify { input } => {
            let model = Classifier::load(&config.data_dir)?;
            let rows = classifier::classify_csv(&model, &input, std::io::stdout().lock())?;
            eprintln!("classified {rows} rows with the {} model", model.source);
        }
        WorkordersCommand::Evaluate { data } => {
            let model = Classifier::load(&config.data_dir)?;
            let validation = classifier::read_samples(&data.join("validation.csv"))?;
            print_metrics(&model.source, &classifier::evaluate(&model, &validation))?;
            print_threshold(model.model(), &validation, config.dispatch_threshold);
        }
        WorkordersCommand::Train { data, out, without_overrides } => {
            let mut samples = classifier::read_samples(&data.join("train.csv"))?;
            let validation = classifier::read_samples(&data.join("validation.csv"))?;
            if !without_overrides {
                let state = yiwang::open(config.clone()).await?;
                let corrections = yiwang::workorders::corrections(&state.store, &state.workorders).await?;
                eprintln!("adding {} dispatcher corrections", corrections.len());
                samples.extend(corrections);
            }
            let hints = classifier::read_hints(&data.join("categories.csv"), &samples)?;
            let started = std::time::Instant::now();
            let (model, metrics) = classifier::train(samples, &hints, &validation)?;
            let seconds = started.elapsed().as_secs_f64();
            let path = out.unwrap_or_else(|| config.data_dir.join(classifier::RETRAINED_FILE));
            std::fs::write(&path, model.to_bytes())?;
            eprintln!("trained in {seconds:.1} s; saved to {}", path.display());
            print_metrics("trained", &metrics)?;
            print_threshold(&model, &validation, config.dispatch_threshold);
        }
        WorkordersCommand::Categories { input } => {
            let text = std::fs::read_to_string(&input)?;
            let rows = yiwang::workorders::setup::number_tree(&text)?;
            print!("{}", yiwang::workorders::setup::tree_csv(&rows));
        }
        WorkordersCommand::LoadCategories { input } => {
            let text = std::fs::read_to_string(&input)?;
            let store = yiwang::store::Store::open(config.database_url()).await?;
            let loaded = yiwang::workorders::setup::load_categories(&store, &text).await?;
            println!("{loaded} categories loaded; running servers use them within a minute");
        }
    }
    Ok(())
}

fn print_threshold(model: &yiwang_classifier::Model, samples: &[yiwang_classifier::Sample], threshold: f64) {
    let (share, right) = yiwang::workorders::classifier::at_threshold(model, samples, threshold);
    let line = serde_json::json!({"dispatch_threshold": threshold, "dispatched_automatically": share,
        "right_when_dispatched": right});
    // A closed pipe (`| head`) ends the output quietly.
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn print_metrics(model: &str, metrics: &yiwang_classifier::Metrics) -> Result<(), Box<dyn std::error::Error>> {
    let summary = serde_json::json!({"model": model, "split": "validation", "count": metrics.count,
        "accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1});
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the output quietly.
    let _ = writeln!(out, "{summary}");
    for label in &metrics.per_label {
        let _ = writeln!(out, "{}", serde_json::to_string(label)?);
    }
    Ok(())
}

/// A verifier key given inline, or the path of a file holding one.
fn read_key(key: &str) -> Result<yiwang_ledger::VerifierKey, String> {
    let text = match std::fs::read_to_string(key) {
        Ok(text) => text,
        Err(_) => key.to_owned(),
    };
    text.trim().parse().map_err(|e| format!("invalid verifier key: {e}"))
}

fn verify_receipt(path: &std::path::Path, key: &str) -> ExitCode {
    let outcome = (|| -> Result<yiwang_ledger::LeafV1, String> {
        let key = read_key(key)?;
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let receipt: yiwang::ledger::Receipt =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        yiwang::ledger::verify_receipt(&receipt, &key.to_string()).map_err(|e| e.to_string())
    })();
    match outcome {
        Ok(leaf) => {
            println!(
                "receipt OK: {} {} by {} at {} (payload sha256 {})",
                leaf.kind,
                leaf.subject,
                leaf.actor,
                yiwang::store::from_ms(leaf.at_unix_ms).to_rfc3339(),
                leaf.payload_hash
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("receipt INVALID: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn verify_ledger(config: Config, key: Option<String>) -> ExitCode {
    let outcome = async {
        let key = match key {
            Some(k) => read_key(&k)?,
            None => {
                let path = config.data_dir.join("ledger.key");
                let text =
                    std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (give --key)", path.display()))?;
                text.trim().parse::<yiwang_ledger::SignerKey>().map_err(|e| e.to_string())?.verifier_key()
            }
        };
        let store = yiwang::store::Store::open(config.database_url()).await.map_err(|e| e.to_string())?;
        Ok::<_, String>(yiwang::ledger::verify(&store, &key).await)
    }
    .await;
    match outcome {
        Ok(Ok(report)) => {
            println!("ledger OK: {} leaves, {} checkpoints verified", report.leaves, report.checkpoints);
            ExitCode::SUCCESS
        }
        Ok(Err(failure)) => {
            let index = failure.first_bad_index().map_or_else(|| "unknown".to_owned(), |i| i.to_string());
            eprintln!("ledger TAMPERED: first bad index {index}: {failure}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("yiwang: {e}");
            ExitCode::from(2)
        }
    }
}

/// The published catalogue's index, or the demo catalogue's when the data directory holds none
/// (said on standard error), so a fresh checkout can try search without loading a city.
async fn catalogue_index(config: &Config) -> Result<yiwang::catalog::search::GuideSearch, Box<dyn std::error::Error>> {
    use yiwang::catalog::search::GuideSearch;
    let database_missing = config
        .database_url()
        .strip_prefix("sqlite://")
        .is_some_and(|path| !std::path::Path::new(path.split('?').next().unwrap_or(path)).exists());
    if !database_missing {
        let store = yiwang::store::Store::open(config.database_url()).await?;
        let search = GuideSearch::load(&store).await?;
        if !search.is_empty() {
            return Ok(search);
        }
    }
    eprintln!("yiwang: no published catalogue in {}; searching the demo catalogue", config.data_dir.display());
    Ok(GuideSearch::over(yiwang::demo::catalogue_with_departments()?).await?)
}

async fn search_catalogue(config: Config, query: &str, limit: usize) -> ExitCode {
    let outcome = async {
        let search = catalogue_index(&config).await?;
        let mut out = std::io::stdout().lock();
        for hit in search.search(query, limit)? {
            let line = serde_json::json!({"code": hit.code, "name": hit.name, "score": hit.score});
            writeln!(out, "{line}")?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("yiwang: {e}");
            ExitCode::FAILURE
        }
    }
}
