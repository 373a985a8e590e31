//! Configuration: built-in defaults, then a TOML file, then `YIWANG_*` environment variables,
//! then command-line flags (clap reads the variables and flags; this module the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// Settings read from the TOML file; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<SecretString>,
    pub metrics_listen: Option<SocketAddr>,
    pub secure_cookies: Option<bool>,
    pub log_format: Option<LogFormat>,
    pub ledger_origin: Option<String>,
    pub certificate_issuer: Option<String>,
    pub public_url: Option<String>,
    pub dispatch_threshold: Option<f64>,
    pub instant_approval_app: Option<String>,
    /// Natural days after which an unrated service gets the default rating (default 7).
    pub rating_default_days: Option<u32>,
    /// Working days a department has to reply to a bad rating (default 7; cities use 5, 7 or 15).
    pub rectification_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The settings in force. `Debug` never shows the database URL, which may hold a password.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub database_url: SecretString,
    pub metrics_listen: Option<SocketAddr>,
    /// Mark cookies `Secure` and send HSTS: set when yiwang is served over TLS.
    pub secure_cookies: bool,
    pub log_format: LogFormat,
    /// How often the background worker looks for due jobs when idle.
    pub worker_idle_ms: u64,
    /// The address residents reach yiwang at; QR codes point here.
    pub public_url: String,
    /// The evidence log's origin line and signing-key name, e.g. `zhuhai.gov.cn/yiwang`.
    pub ledger_origin: String,
    /// The name of the key that signs e-certificates, as verifiers see it.
    pub certificate_issuer: String,
    /// The classifier's confidence from which a work order is dispatched without a dispatcher.
    pub dispatch_threshold: f64,
    /// The data-exchange app (by name) through whose grants instant approval looks up the facts
    /// its rules read in the base registers.
    pub instant_approval_app: String,
    /// 好差评 periods: the default rating's and the rectification's.
    pub evaluation: crate::evaluation::Settings,
}

pub const DEFAULT_LEDGER_ORIGIN: &str = "yiwang.local/ledger";
/// The demo city's instant-approval engine app.
pub const DEFAULT_INSTANT_APPROVAL_APP: &str = "政数局秒批引擎";
pub const DEFAULT_CERTIFICATE_ISSUER: &str = "yiwang.local/certificates";
/// On the validation split the shipped model dispatches 85% of messages by itself at this
/// threshold, 89% of them to the right first-level category (0.9: 58%, 98% right); the rest wait
/// for a dispatcher, and a misrouted order comes back by a return (退单).
pub const DEFAULT_DISPATCH_THRESHOLD: f64 = 0.6;

/// Values given on the command line or in `YIWANG_*` variables; `None` when not given.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// TOML configuration file.
    #[arg(long, env = "YIWANG_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for the SQLite database, keys and uploads [default: ./yiwang-data].
    #[arg(long, env = "YIWANG_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite:…` or `postgres://…` [default: SQLite in the data directory].
    #[arg(long, env = "YIWANG_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Log format.
    #[arg(long, env = "YIWANG_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration file {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
}

impl Config {
    pub fn load(
        overrides: &Overrides,
        listen: Option<SocketAddr>,
        metrics_listen: Option<SocketAddr>,
    ) -> Result<Self, ConfigError> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = overrides.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("yiwang-data"));
        let database_url =
            overrides.database_url.clone().or(file.database_url).unwrap_or_else(|| sqlite_url(&data_dir).into());
        let listen = listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        Ok(Config {
            listen,
            metrics_listen: metrics_listen.or(file.metrics_listen),
            secure_cookies: file.secure_cookies.unwrap_or(false),
            log_format: overrides.log_format.or(file.log_format).unwrap_or_default(),
            database_url,
            data_dir,
            worker_idle_ms: 1000,
            ledger_origin: file.ledger_origin.unwrap_or_else(|| DEFAULT_LEDGER_ORIGIN.into()),
            certificate_issuer: file.certificate_issuer.unwrap_or_else(|| DEFAULT_CERTIFICATE_ISSUER.into()),
            public_url: file.public_url.unwrap_or_else(|| format!("http://{listen}")),
            dispatch_threshold: file.dispatch_threshold.unwrap_or(DEFAULT_DISPATCH_THRESHOLD),
            instant_approval_app: file.instant_approval_app.unwrap_or_else(|| DEFAULT_INSTANT_APPROVAL_APP.into()),
            evaluation: crate::evaluation::Settings {
                // At least a day: a period of zero would rate every service before its requester could.
                default_after_days: file.rating_default_days.unwrap_or(7).max(1),
                rectification_days: file.rectification_days.unwrap_or(7).max(1),
            },
        })
    }

    /// For tests: everything in `data_dir`, listening on a free port.
    pub fn for_tests(data_dir: &Path, database_url: Option<String>) -> Self {
        Config {
            database_url: database_url.unwrap_or_else(|| sqlite_url(data_dir)).into(),
            data_dir: data_dir.to_owned(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: None,
            secure_cookies: false,
            log_format: LogFormat::Text,
            worker_idle_ms: 200,
            ledger_origin: DEFAULT_LEDGER_ORIGIN.into(),
            certificate_issuer: DEFAULT_CERTIFICATE_ISSUER.into(),
            public_url: "http://127.0.0.1".into(),
            dispatch_threshold: DEFAULT_DISPATCH_THRESHOLD,
            instant_approval_app: DEFAULT_INSTANT_APPROVAL_APP.into(),
            evaluation: crate::evaluation::Settings::default(),
        }
    }

    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }
}

/// The file of an SQLite URL (`sqlite://path` or `sqlite:path`, options after `?` left out).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("yiwang.db").display())
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_flags_and_secrets_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yiwang.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\ndatabase_url = \"postgres://u:hunter2@db/yiwang\"\n")
            .unwrap();
        let overrides = Overrides { config: Some(path.clone()), ..Default::default() };
        let config = Config::load(&overrides, None, None).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.database_url(), "postgres://u:hunter2@db/yiwang");
        assert!(!format!("{config:?}").contains("hunter2"), "the password must not appear in Debug");

        let config = Config::load(&overrides, Some("127.0.0.1:7000".parse().unwrap()), None).unwrap();
        assert_eq!(config.listen.port(), 7000, "a flag beats the file");

        std::fs::write(&path, "lisen = 1\n").unwrap();
        assert!(
            matches!(Config::load(&overrides, None, None), Err(ConfigError::Parse { .. })),
            "unknown keys are errors"
        );
    }

    #[test]
    fn defaults_to_sqlite_in_the_data_dir() {
        let config = Config::load(&Overrides::default(), None, None).unwrap();
        assert_eq!(config.database_url(), "sqlite://yiwang-data/yiwang.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }
}
