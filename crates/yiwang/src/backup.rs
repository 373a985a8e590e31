//! Backup and restore of a whole installation: the database and the data directory (signing
//! keys, uploaded files). A backup is a folder: `database.sqlite` (SQLite's `VACUUM INTO`, taken
//! online in one read transaction) or `database.dump` (`pg_dump --format=custom`), plus
//! `data/`, a copy of the data directory without the live SQLite files. Restore goes into an
//! empty data directory (and, for PostgreSQL, an empty database) and refuses anything else, so it
//! never overwrites a running installation.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::Config;
use crate::store::{Backend, Store};

const SQLITE_FILE: &str = "database.sqlite";
const POSTGRES_FILE: &str = "database.dump";
const DATA: &str = "data";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; back up into a new folder")]
    TargetExists(PathBuf),
    #[error("{0} is not empty; restore into an empty data directory")]
    NotEmpty(PathBuf),
    #[error("{0} holds no backup (no {SQLITE_FILE} or {POSTGRES_FILE})")]
    NoBackup(PathBuf),
    #[error("the backup is of {found}, the target database is {target}")]
    WrongBackend { found: &'static str, target: &'static str },
    #[error("the target database already has tables; restore into an empty database")]
    DatabaseNotEmpty,
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io(path.to_owned(), e)
}

/// Backs the installation up into `to`, a folder that must not exist yet.
pub async fn backup(config: &Config, to: &Path) -> Result<(), BackupError> {
    if to.exists() {
        return Err(BackupError::TargetExists(to.to_owned()));
    }
    std::fs::create_dir_all(to).map_err(io(to))?;
    let url = config.database_url();
    match Backend::from_url(url)? {
        Backend::Sqlite => {
            let store = Store::open(url).await?;
            let file = to.join(SQLITE_FILE);
            // The path is bound as a value, never spliced into the SQL.
            sqlx::query("VACUUM INTO $1").bind(file.to_string_lossy().into_owned()).execute(store.pool()).await?;
        }
        Backend::Postgres => run(
            "pg_dump",
            Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--no-owner")
                .arg("--file")
                .arg(to.join(POSTGRES_FILE))
                .arg(url),
        )?,
    }
    copy_tree(&config.data_dir, &to.join(DATA), &live_database_name(config))
}

/// The file name the live SQLite database (and its `-wal` and `-shm`) starts with.
fn live_database_name(config: &Config) -> String {
    crate::config::sqlite_path(config.database_url())
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "yiwang.db".into())
}

/// Restores the backup in `from` into the configured data directory and database, both empty.
pub async fn restore(config: &Config, from: &Path) -> Result<(), BackupError> {
    let backend = Backend::from_url(config.database_url())?;
    let found = if from.join(SQLITE_FILE).is_file() {
        Backend::Sqlite
    } else if from.join(POSTGRES_FILE).is_file() {
        Backend::Postgres
    } else {
        return Err(BackupError::NoBackup(from.to_owned()));
    };
    if found != backend {
        return Err(BackupError::WrongBackend { found: found.name(), target: backend.name() });
    }
    let data_dir = &config.data_dir;
    if data_dir.exists() && std::fs::read_dir(data_dir).map_err(io(data_dir))?.next().is_some() {
        return Err(BackupError::NotEmpty(data_dir.clone()));
    }
    match backend {
        Backend::Sqlite => {
            copy_tree(&from.join(DATA), data_dir, &live_database_name(config))?;
            let database =
                crate::config::sqlite_path(config.database_url()).unwrap_or_else(|| data_dir.join("yiwang.db"));
            std::fs::copy(from.join(SQLITE_FILE), &database).map_err(io(&database))?;
        }
        Backend::Postgres => {
            let url = config.database_url();
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
            let tables: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'")
                    .fetch_one(&mut conn)
                    .await?;
            if tables > 0 {
                return Err(BackupError::DatabaseNotEmpty);
            }
            run(
                "pg_restore",
                Command::new("pg_restore")
                    .arg("--no-owner")
                    .arg("--exit-on-error")
                    .arg("--dbname")
                    .arg(url)
                    .arg(from.join(POSTGRES_FILE)),
            )?;
            copy_tree(&from.join(DATA), data_dir, &live_database_name(config))?;
        }
    }
    Ok(())
}

fn run(tool: &'static str, command: &mut Command) -> Result<(), BackupError> {
    let output = command.output().map_err(|e| BackupError::Tool { tool, message: e.to_string() })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool { tool, message: String::from_utf8_lossy(&output.stderr).trim().to_owned() })
    }
}

/// Copies a folder, leaving out the live SQLite files (`skip*`; the backup has its own
/// consistent copy).
fn copy_tree(from: &Path, to: &Path, skip: &str) -> Result<(), BackupError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (source, name) = (entry.path(), entry.file_name());
        if name.to_string_lossy().starts_with(skip) {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().map_err(io(&source))?.is_dir() {
            copy_tree(&source, &target, skip)?;
        } else {
            std::fs::copy(&source, &target).map_err(io(&source))?;
        }
    }
    Ok(())
}
