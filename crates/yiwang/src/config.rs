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
    /// Sign-in through the city's unified identity platform (统一身份认证); absent: off.
    pub oidc: Option<FileOidc>,
    /// Days a published outbox event is kept before it is deleted (default 7).
    pub outbox_retention_days: Option<u32>,
    /// Publishing the outbox to NATS JetStream; absent: events stay in the outbox.
    pub nats: Option<FileNats>,
    /// Hosts of department systems the gateway may call as HTTP sources (default: none).
    pub exchange_source_hosts: Option<Vec<String>>,
    /// What counts as unusual use of shared data (defaults in `exchange::alerts::Thresholds`).
    pub exchange_alerts: Option<crate::exchange::alerts::Thresholds>,
}

/// The `[nats]` section of the file; every field optional here, checked in [`NatsConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileNats {
    pub url: Option<String>,
    pub stream: Option<String>,
    pub subject_prefix: Option<String>,
    pub token: Option<SecretString>,
    pub credentials_file: Option<PathBuf>,
}

/// The `[oidc]` section of the file; every field optional here, checked in [`OidcConfig`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOidc {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub redirect_url: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub display_name: Option<String>,
    pub staff_login_claim: Option<String>,
    pub id_number_claim: Option<String>,
    pub name_claim: Option<String>,
    pub credit_code_claim: Option<String>,
    pub resident_region: Option<String>,
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
    /// Sign-in through the city's identity platform; `None`: only local accounts.
    pub oidc: Option<OidcConfig>,
    /// Days a published outbox event is kept; unpublished events are kept until published.
    pub outbox_retention_days: u32,
    /// The department systems the gateway may call.
    pub exchange_source_hosts: crate::exchange::SourceHosts,
    pub exchange_alerts: crate::exchange::alerts::Thresholds,
    /// Where the outbox is published; `None`: nowhere, events stay in the outbox.
    pub nats: Option<NatsConfig>,
}

/// Where and how the outbox is published to NATS JetStream. `Debug` never shows the token.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// One server URL (`nats://host:4222`, `tls://…`) or several separated by commas.
    pub url: String,
    /// The JetStream stream the events go to; created when missing.
    pub stream: String,
    /// Put before an event's topic to make its subject: `yiwang.` + `workorder.intake`.
    pub subject_prefix: String,
    /// A token the server requires (`authorization { token: … }`).
    pub token: Option<SecretString>,
    /// A `.creds` file (a user JWT and its NKey seed) for servers run in operator mode.
    pub credentials_file: Option<PathBuf>,
}

pub const DEFAULT_NATS_STREAM: &str = "YIWANG";
pub const DEFAULT_NATS_SUBJECT_PREFIX: &str = "yiwang.";

impl NatsConfig {
    /// The settings from the file's `[nats]` section and the `YIWANG_NATS_*` variables (`env`),
    /// which win. `None` when neither names a URL.
    fn resolve(file: Option<FileNats>, env: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let file = file.unwrap_or_default();
        let Some(url) = env("YIWANG_NATS_URL").or(file.url) else {
            return Ok(None);
        };
        let config = NatsConfig {
            url,
            stream: env("YIWANG_NATS_STREAM").or(file.stream).unwrap_or_else(|| DEFAULT_NATS_STREAM.into()),
            subject_prefix: env("YIWANG_NATS_SUBJECT_PREFIX")
                .or(file.subject_prefix)
                .unwrap_or_else(|| DEFAULT_NATS_SUBJECT_PREFIX.into()),
            token: env("YIWANG_NATS_TOKEN").map(SecretString::from).or(file.token),
            credentials_file: env("YIWANG_NATS_CREDENTIALS_FILE").map(PathBuf::from).or(file.credentials_file),
        };
        config.check()?;
        Ok(Some(config))
    }

    /// Settings for tests: a server at `url`, this stream and prefix, no credentials.
    pub fn for_tests(url: &str, stream: &str, subject_prefix: &str) -> Self {
        let config = NatsConfig {
            url: url.into(),
            stream: stream.into(),
            subject_prefix: subject_prefix.into(),
            token: None,
            credentials_file: None,
        };
        config.check().expect("valid test settings");
        config
    }

    /// Refuses what the server would refuse later, one event at a time.
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |message: String| Err(ConfigError::Nats(message));
        for server in self.url.split(',').map(str::trim) {
            if !["nats://", "tls://"].iter().any(|scheme| server.starts_with(scheme)) {
                return bad(format!("[nats] url must be nats:// or tls:// URLs, not {server:?}"));
            }
        }
        let special = |c: char| c.is_whitespace() || matches!(c, '*' | '>');
        if self.stream.is_empty() || self.stream.chars().any(|c| special(c) || matches!(c, '.' | '/' | '\\')) {
            return bad(format!(
                "[nats] stream must be a name without spaces, dots, slashes, * or >, not {:?}",
                self.stream
            ));
        }
        let prefix = &self.subject_prefix;
        let tokens_ok = prefix.strip_suffix('.').is_some_and(|p| p.split('.').all(|t| !t.is_empty()));
        if !tokens_ok || prefix.chars().any(special) {
            return bad(format!(
                "[nats] subject_prefix must be subject tokens ending with a dot, like \"yiwang.\", not {prefix:?}"
            ));
        }
        Ok(())
    }

    /// The subject an event of `topic` is published on.
    pub fn subject(&self, topic: &str) -> String {
        format!("{}{topic}", self.subject_prefix)
    }
}

/// How yiwang signs people in through the city's unified identity platform (统一身份认证), an
/// OpenID Connect provider. `Debug` never shows the client secret.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The provider's issuer URL; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The public URL of `/auth/oidc/callback`, as registered with the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The platform's name on the login button.
    pub display_name: String,
    /// The claim holding a staff member's login name, matched against local staff accounts.
    pub staff_login_claim: String,
    /// The claim holding a resident's 18-character ID number.
    pub id_number_claim: String,
    /// The claim holding a resident's real name, recorded when their account is created.
    pub name_claim: String,
    /// The claim holding an enterprise's unified social credit code; `None`: enterprises sign in
    /// with their password only.
    pub credit_code_claim: Option<String>,
    /// The region code a resident created on first sign-in is recorded under; `None`: the city at
    /// the root of the region tree.
    pub resident_region: Option<String>,
}

pub const DEFAULT_OIDC_DISPLAY_NAME: &str = "统一身份认证";

impl OidcConfig {
    /// The settings from the file's `[oidc]` section and the `YIWANG_OIDC_*` variables (`env`),
    /// which win. `None` when neither names an issuer.
    fn resolve(
        file: Option<FileOidc>,
        env: impl Fn(&str) -> Option<String>,
        public_url: &str,
    ) -> Result<Option<Self>, ConfigError> {
        let file = file.unwrap_or_default();
        let Some(issuer) = env("YIWANG_OIDC_ISSUER").or(file.issuer) else {
            return Ok(None);
        };
        let missing = |key: &str| ConfigError::Oidc(format!("[oidc] {key} is required when an issuer is set"));
        let client_id = env("YIWANG_OIDC_CLIENT_ID").or(file.client_id).ok_or_else(|| missing("client_id"))?;
        let client_secret = env("YIWANG_OIDC_CLIENT_SECRET")
            .map(SecretString::from)
            .or(file.client_secret)
            .ok_or_else(|| missing("client_secret"))?;
        let redirect_url = env("YIWANG_OIDC_REDIRECT_URL")
            .or(file.redirect_url)
            .unwrap_or_else(|| format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')));
        for (key, url) in [("issuer", &issuer), ("redirect_url", &redirect_url)] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Oidc(format!("[oidc] {key} must be an http(s) URL, not {url:?}")));
            }
        }
        Ok(Some(OidcConfig {
            issuer,
            client_id,
            client_secret,
            redirect_url,
            scopes: file.scopes.unwrap_or_else(|| vec!["profile".into()]),
            display_name: file.display_name.unwrap_or_else(|| DEFAULT_OIDC_DISPLAY_NAME.into()),
            staff_login_claim: file.staff_login_claim.unwrap_or_else(|| "preferred_username".into()),
            id_number_claim: file.id_number_claim.unwrap_or_else(|| "id_card_number".into()),
            name_claim: file.name_claim.unwrap_or_else(|| "name".into()),
            credit_code_claim: file.credit_code_claim,
            resident_region: file.resident_region,
        }))
    }

    /// Settings for tests: a provider at `issuer`, its callback on `public_url`, defaults otherwise.
    pub fn for_tests(issuer: &str, client_id: &str, client_secret: &str, public_url: &str) -> Self {
        let file = FileOidc {
            issuer: Some(issuer.into()),
            client_id: Some(client_id.into()),
            client_secret: Some(client_secret.into()),
            ..FileOidc::default()
        };
        Self::resolve(Some(file), |_| None, public_url).expect("valid test settings").expect("an issuer")
    }
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
    #[error("OIDC sign-in: {0}")]
    Oidc(String),
    #[error("NATS publishing: {0}")]
    Nats(String),
    #[error("{0}")]
    Setting(String),
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
        let public_url = file.public_url.unwrap_or_else(|| format!("http://{listen}"));
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let oidc = OidcConfig::resolve(file.oidc, env, &public_url)?;
        let nats = NatsConfig::resolve(file.nats, env)?;
        let exchange_source_hosts =
            crate::exchange::SourceHosts::parse(&file.exchange_source_hosts.unwrap_or_default())
                .map_err(ConfigError::Setting)?;
        let exchange_alerts = file.exchange_alerts.unwrap_or_default();
        exchange_alerts.check().map_err(ConfigError::Setting)?;
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
            public_url,
            dispatch_threshold: file.dispatch_threshold.unwrap_or(DEFAULT_DISPATCH_THRESHOLD),
            instant_approval_app: file.instant_approval_app.unwrap_or_else(|| DEFAULT_INSTANT_APPROVAL_APP.into()),
            evaluation: crate::evaluation::Settings {
                // At least a day: a period of zero would rate every service before its requester could.
                default_after_days: file.rating_default_days.unwrap_or(7).max(1),
                rectification_days: file.rectification_days.unwrap_or(7).max(1),
            },
            oidc,
            outbox_retention_days: file.outbox_retention_days.unwrap_or(7),
            nats,
            exchange_source_hosts,
            exchange_alerts,
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
            oidc: None,
            outbox_retention_days: 7,
            nats: None,
            // Tests stand in for department systems on this machine.
            exchange_source_hosts: crate::exchange::SourceHosts::parse(&["127.0.0.1".to_owned()])
                .expect("a valid host"),
            exchange_alerts: Default::default(),
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
    fn oidc_section_defaults_env_and_secret_hidden() {
        let file: FileConfig = toml::from_str(
            "[oidc]\nissuer = \"https://ids.example.gov.cn\"\nclient_id = \"yiwang\"\n\
             client_secret = \"s3cr3t-value\"\nid_number_claim = \"sfzh\"\n",
        )
        .unwrap();
        let oidc = OidcConfig::resolve(file.oidc, |_| None, "https://zwfw.example.gov.cn/").unwrap().unwrap();
        assert_eq!(oidc.redirect_url, "https://zwfw.example.gov.cn/auth/oidc/callback");
        assert_eq!(oidc.display_name, DEFAULT_OIDC_DISPLAY_NAME);
        assert_eq!(oidc.staff_login_claim, "preferred_username");
        assert_eq!(oidc.id_number_claim, "sfzh");
        assert_eq!(oidc.credit_code_claim, None);
        assert!(!format!("{oidc:?}").contains("s3cr3t-value"), "the client secret must not appear in Debug");

        let env = |key: &str| (key == "YIWANG_OIDC_CLIENT_SECRET").then(|| "from-env".to_owned());
        let file: FileConfig =
            toml::from_str("[oidc]\nissuer = \"https://ids.example.gov.cn\"\nclient_id = \"yiwang\"\n").unwrap();
        let oidc = OidcConfig::resolve(file.oidc, env, "http://127.0.0.1:8080").unwrap().unwrap();
        assert_eq!(oidc.client_secret.expose_secret(), "from-env", "the secret may come from the environment");

        let file: FileConfig = toml::from_str("[oidc]\nissuer = \"https://ids.example.gov.cn\"\n").unwrap();
        assert!(matches!(OidcConfig::resolve(file.oidc, |_| None, ""), Err(ConfigError::Oidc(_))), "client_id missing");
        assert!(OidcConfig::resolve(None, |_| None, "").unwrap().is_none(), "no section, no issuer: off");
    }

    #[test]
    fn nats_section_defaults_env_checks_and_token_hidden() {
        let file: FileConfig =
            toml::from_str("[nats]\nurl = \"nats://127.0.0.1:4222\"\ntoken = \"t0ken-value\"\n").unwrap();
        let nats = NatsConfig::resolve(file.nats, |_| None).unwrap().unwrap();
        assert_eq!(
            (nats.stream.as_str(), nats.subject_prefix.as_str()),
            (DEFAULT_NATS_STREAM, DEFAULT_NATS_SUBJECT_PREFIX)
        );
        assert_eq!(nats.subject("workorder.intake"), "yiwang.workorder.intake");
        assert!(!format!("{nats:?}").contains("t0ken-value"), "the token must not appear in Debug");

        let env = |key: &str| match key {
            "YIWANG_NATS_URL" => Some("nats://a:4222, nats://b:4222".to_owned()),
            "YIWANG_NATS_SUBJECT_PREFIX" => Some("city.zhuhai.".to_owned()),
            _ => None,
        };
        let nats = NatsConfig::resolve(None, env).unwrap().unwrap();
        assert_eq!(nats.subject("catalog.item_published"), "city.zhuhai.catalog.item_published");

        for (key, value) in
            [("url", "http://x:4222"), ("stream", "yi.wang"), ("subject_prefix", "yiwang"), ("subject_prefix", "a..")]
        {
            let env = |k: &str| match k {
                "YIWANG_NATS_URL" if key != "url" => Some("nats://127.0.0.1:4222".to_owned()),
                _ if k == format!("YIWANG_NATS_{}", key.to_uppercase()) => Some(value.to_owned()),
                _ => None,
            };
            assert!(
                matches!(NatsConfig::resolve(None, env), Err(ConfigError::Nats(_))),
                "{key} = {value:?} is refused"
            );
        }
        assert!(NatsConfig::resolve(None, |_| None).unwrap().is_none(), "no URL: no publishing");
    }

    #[test]
    fn exchange_settings_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("yiwang.toml");
        let load = |text: &str| {
            std::fs::write(&path, text).unwrap();
            Config::load(&Overrides { config: Some(path.clone()), ..Default::default() }, None, None)
        };
        let config =
            load("exchange_source_hosts = [\".gjj.zhuhai.gov.cn\"]\n[exchange_alerts]\nspike_min_calls = 5000\n")
                .unwrap();
        assert!(config.exchange_source_hosts.allows("https://api.gjj.zhuhai.gov.cn/x"));
        assert_eq!(config.exchange_alerts.spike_min_calls, 5000);
        assert_eq!(config.exchange_alerts.enumeration_keys, 50, "the others keep their defaults");
        let bad_host = load("exchange_source_hosts = [\"x.gov.cn/path\"]\n").unwrap_err().to_string();
        assert!(bad_host.contains("x.gov.cn/path"), "{bad_host}");
        let bad_factor = load("[exchange_alerts]\nspike_factor = 0.5\n").unwrap_err().to_string();
        assert!(bad_factor.contains("spike_factor"), "{bad_factor}");
    }

    #[test]
    fn defaults_to_sqlite_in_the_data_dir() {
        let config = Config::load(&Overrides::default(), None, None).unwrap();
        assert_eq!(config.database_url(), "sqlite://yiwang-data/yiwang.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    }
}
