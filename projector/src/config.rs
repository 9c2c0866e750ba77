//! projector's typed configuration: TOML file (`--config`) plus documented environment
//! overrides.

use crate::error::ConfigError;
pub use runtime::config_file::Layered;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use proto::cluster::ENV_NATS_URL;
pub const ENV_DB_PATH: &str = "POSTERN_PROJECTOR_DB";
pub const ENV_HTTP_LISTEN: &str = "POSTERN_HTTP_LISTEN";
pub const ENV_SHARD: &str = "POSTERN_PROJECTOR_SHARD";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS server URL, or the nodes of a cluster separated by commas. Env: `NATS_URL`.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// JetStream replicas of MAIL_TRAINING if the projector is the first to create it: 1 on
    /// a single server, 3 in a three-node cluster (at most 5). Env: `POSTERN_NATS_REPLICAS`.
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// The file holding this component's NATS nkey seed (`postern nats-keys` writes one per
    /// component); without one, no credentials are sent. The seed never appears in a log.
    /// Env: `POSTERN_NATS_NKEY_FILE`.
    #[serde(default)]
    pub nats_nkey_file: Option<std::path::PathBuf>,
    /// The CA certificates (PEM) that sign the NATS server's certificate; with one, the
    /// connection requires TLS. Env: `POSTERN_NATS_TLS_CA_FILE`.
    #[serde(default)]
    pub nats_tls_ca_file: Option<std::path::PathBuf>,
    /// RocksDB folder of the views. Env: `POSTERN_PROJECTOR_DB`.
    #[serde(default = "default_db_path")]
    pub db_path: PathBuf,
    /// Address of the HTTP API. Env: `POSTERN_HTTP_LISTEN`.
    #[serde(default = "default_http_listen")]
    pub http_listen: SocketAddr,
    /// Most events folded into one WriteBatch (a batch also ends at 32 MiB of events, or
    /// when the streams have nothing more: live, a batch is whatever has arrived).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// `/ready` answers 503 while a stream has more than this many events not yet folded.
    #[serde(default = "default_ready_max_lag")]
    pub ready_max_lag: u64,
    /// How long shutdown waits for the last batch and the HTTP requests in flight.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// This projector's part of the tenants, `"INDEX/COUNT"` (`"1/4"`: the first of four), by
    /// a stable hash of the tenant's name; it folds and serves only those tenants, and
    /// answers 421 for the others, naming the shard that holds them. None (the default):
    /// every tenant. Env: `POSTERN_PROJECTOR_SHARD`.
    #[serde(default)]
    pub shard: Option<crate::shard::Shard>,
    /// API bearer tokens, stored as SHA-256 hashes (`projector token new` makes one). With
    /// none, the API is open (for a local install on loopback) and takes `tenant=`; the
    /// projector refuses to start with none when `http_listen` is not a loopback address.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
    /// Requests a minute each token may make on average (bursts up to as many after a quiet
    /// minute); above it, 429 with `Retry-After`. 0: no limit. An open API has none.
    #[serde(default = "default_rate_limit_per_minute")]
    pub rate_limit_per_minute: u32,
    /// Mark the console's session cookie `Secure` (sent over HTTPS only): set it when the
    /// projector is reached through a TLS-terminating proxy, as any deployment beyond
    /// loopback should be. Off by default, since the projector itself speaks plain HTTP.
    #[serde(default)]
    pub console_secure_cookie: bool,
}

fn default_rate_limit_per_minute() -> u32 {
    600
}

/// One API token: the tenant it reads, what its holder may do, and the SHA-256 (hex) of the
/// token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    pub tenant: String,
    pub sha256: String,
    /// Who holds it: `requested_by` and `resolved_by` of what it asks.
    #[serde(default)]
    pub name: String,
    /// `viewer` (search, traces, reports, the reclassification queue), `analyst` (also raw
    /// mail, submitting and withdrawing reclassifications) or `admin` (also accepting and
    /// rejecting them). Required: a token's reach is never guessed.
    pub role: Role,
}

/// What a token's holder may do; each role may do what the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Analyst,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Admin => "admin",
        }
    }
}

fn default_ready_max_lag() -> u64 {
    10_000
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}
fn default_replicas() -> usize {
    1
}
fn default_db_path() -> PathBuf {
    PathBuf::from("var/projector")
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8025))
}
fn default_batch_size() -> usize {
    4096
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults()
    }
}

impl Config {
    /// The credentials and CA of the NATS connection.
    pub fn nats_access(&self) -> proto::connect::NatsAccess<'_> {
        proto::connect::NatsAccess {
            nkey_file: self.nats_nkey_file.as_deref(),
            tls_ca_file: self.nats_tls_ca_file.as_deref(),
        }
    }
}

/// `Config::load(path)`: the file (or every default), the environment, the checks.
impl Layered for Config {
    type Error = ConfigError;

    fn validate(&mut self) -> Result<(), ConfigError> {
        proto::cluster::check_nats_settings(&self.nats_url, self.replicas)?;
        // An API without tokens is open to whoever reaches it: a local convenience only.
        if self.tokens.is_empty() && !self.http_listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "http_listen {} is not a loopback address and no tokens are configured: the API would be open to \
                 the network (make one with `projector token new --tenant T`, or listen on 127.0.0.1)",
                self.http_listen
            )));
        }
        if self.batch_size == 0 {
            return Err(ConfigError::Invalid("batch_size must be at least 1".into()));
        }
        for (i, t) in self.tokens.iter().enumerate() {
            if let Err(e) = proto::TenantId::customer(&t.tenant) {
                return Err(ConfigError::Invalid(format!("tokens[{i}].tenant: {e}")));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ConfigError::Invalid(format!("tokens[{i}].sha256 is not 64 hex digits")));
            }
        }
        Ok(())
    }

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        proto::cluster::apply_nats_env(&mut self.nats_url, &mut self.replicas, var)?;
        proto::cluster::apply_nats_access_env(&mut self.nats_nkey_file, &mut self.nats_tls_ca_file, var);
        if let Some(v) = var(ENV_SHARD) {
            self.shard = if v.trim().is_empty() || v.trim() == "all" {
                None
            } else {
                Some(v.parse().map_err(|e: crate::shard::BadShard| ConfigError::Invalid(format!("{ENV_SHARD}: {e}")))?)
            };
        }
        if let Some(v) = var(ENV_DB_PATH) {
            self.db_path = PathBuf::from(v);
        }
        if let Some(v) = var(ENV_HTTP_LISTEN) {
            self.http_listen = v
                .parse()
                .map_err(|_| ConfigError::Invalid(format!("{ENV_HTTP_LISTEN}={v:?} is not an address:port")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let mut c = Config::default();
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8025");
        c.apply_env(&|k| (k == ENV_DB_PATH).then(|| "/tmp/x".to_owned())).unwrap();
        assert_eq!(c.db_path, PathBuf::from("/tmp/x"));
        assert!(c.apply_env(&|k| (k == ENV_HTTP_LISTEN).then(|| "nope".to_owned())).is_err());
        assert!(toml::from_str::<Config>("db = 'x'").is_err());
    }

    #[test]
    fn an_open_api_listens_on_loopback_only() {
        let mut c: Config = toml::from_str("http_listen = '0.0.0.0:8025'").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("not a loopback address and no tokens"), "{e}");
        let mut c: Config = toml::from_str("http_listen = '[::1]:8025'").unwrap();
        assert!(c.validate().is_ok());
        let token = format!("tokens = [{{ tenant = 'acme', sha256 = '{}', role = 'viewer' }}]\n", "a".repeat(64));
        let mut c: Config = toml::from_str(&format!("http_listen = '0.0.0.0:8025'\n{token}")).unwrap();
        assert!(c.validate().is_ok(), "with tokens it may listen anywhere");
        let mut c: Config = toml::from_str("tokens = [{ tenant = '_shared', sha256 = '', role = 'admin' }]").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("reserved"));
    }

    #[test]
    fn the_example_file_is_valid_and_states_the_defaults() {
        let example: Config = toml::from_str(include_str!("../projector.example.toml")).expect("example parses");
        assert_eq!(format!("{example:?}"), format!("{:?}", Config::default()));
    }
}
