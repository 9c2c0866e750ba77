//! ingest's typed configuration: TOML file (`--config`) plus documented environment
//! overrides. Every field has a default that works locally.

use crate::error::ConfigError;
use crate::tenancy::Tenancy;
use proto::net::Network;
pub use runtime::config_file::Layered;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Environment variables that override the file, applied after it is read.
pub use proto::cluster::ENV_NATS_URL;
pub const ENV_LISTEN: &str = "POSTERN_INGEST_LISTEN";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the SMTP receiver listens on. Env: `POSTERN_INGEST_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Host name announced in the greeting and the EHLO reply.
    #[serde(default = "default_hostname")]
    pub hostname: String,
    /// NATS server URL, or the nodes of a cluster separated by commas. Env: `NATS_URL`.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// Where `/metrics`, `/health` and `/ready` are served (port 0: any free port, logged).
    /// Env: `POSTERN_OPS_LISTEN`.
    #[serde(default = "default_ops_listen")]
    pub ops_listen: std::net::SocketAddr,
    /// JetStream replicas of MAIL_RAW and the bodies bucket when ingest creates them: 1 on a
    /// single server, 3 in a three-node cluster (at most 5). A stream that exists with
    /// another count stops the start with that error. Env: `POSTERN_NATS_REPLICAS`.
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
    /// Journal addresses (lower-case) and the tenant each delivers to. Mail to any other
    /// address is refused with 550 5.1.1.
    #[serde(default = "default_journal_addresses")]
    pub journal_addresses: BTreeMap<String, String>,
    /// Each tenant's submission addresses (lower-case): users forward a suspicious message
    /// there (as an attachment or inline) to report it as `phish` or `spam`; the projector
    /// turns it into a USER reclassification of the reported message.
    #[serde(default)]
    pub submission_addresses: BTreeMap<String, SubmissionAddress>,
    /// Journal address patterns of the form `{tenant}@domain`: the local part names the
    /// tenant (for example `acme@journal.example.com` delivers to tenant `acme`).
    #[serde(default)]
    pub journal_patterns: Vec<String>,
    /// Client networks (CIDR) allowed to connect; others get 554 5.7.1. Set these to the
    /// journaling servers' addresses (Microsoft 365, Google, your Exchange).
    #[serde(default = "default_allowed_networks")]
    pub allowed_networks: Vec<String>,
    /// Largest message accepted, in bytes (advertised as SIZE, enforced at MAIL FROM and
    /// while receiving).
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
    /// Messages up to this size travel inside the raw event; larger ones go to the
    /// JetStream Object Store bucket MAIL_RAW_BODIES and the event holds the reference.
    /// Must stay below nats-server's `max_payload` (with ~64 KiB for the envelope).
    #[serde(default = "default_inline_limit")]
    pub inline_limit: usize,
    /// Longest command line accepted, in bytes (RFC 5321 asks for at least 512); a longer
    /// one gets 500 5.5.6 (and, when it never ends, the connection is closed).
    #[serde(default = "default_max_command_line")]
    pub max_command_line: usize,
    /// Recipients accepted per transaction; more get 452 4.5.3.
    #[serde(default = "default_max_recipients")]
    pub max_recipients: usize,
    /// Concurrent SMTP connections; more get 421 and are closed.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Concurrent SMTP connections from one client address; more get 421.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: usize,
    /// How long to wait for a command (RFC 5321 4.5.3.2.7: at least 5 minutes).
    #[serde(default = "default_command_timeout", with = "humantime_serde")]
    pub command_timeout: Duration,
    /// How long to wait for each block of message data (RFC 5321: 3 minutes).
    #[serde(default = "default_data_timeout", with = "humantime_serde")]
    pub data_timeout: Duration,
    /// How long to wait for JetStream's acknowledgement before answering 451.
    #[serde(default = "default_publish_timeout", with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// How long NATS may be unreachable before new SMTP sessions are answered 421 at once
    /// (until then, and for a transaction already under way, a message that cannot be
    /// stored gets 451; a cluster's failover takes well under this).
    #[serde(default = "default_not_ready_after", with = "humantime_serde")]
    pub not_ready_after: Duration,
    /// MAIL_RAW's duplicate window, set when ingest creates the stream: a copy stored again
    /// within it (same tenant, envelope and bytes) is dropped by JetStream. Make it longer
    /// than the sending servers' first retry interval.
    #[serde(default = "default_duplicate_window", with = "humantime_serde")]
    pub duplicate_window: Duration,
    /// Certificate for STARTTLS; without it STARTTLS is not offered.
    /// `ingest generate-cert` writes a self-signed pair for local use.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    /// How long shutdown waits for transactions in DATA to finish.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

/// PEM files of the STARTTLS certificate chain and its private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

fn default_replicas() -> usize {
    1
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 2525))
}
fn default_hostname() -> String {
    "postern.localhost".to_owned()
}
fn default_ops_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9181))
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}
/// Where a submission address delivers: the tenant and what users report there.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionAddress {
    pub tenant: String,
    pub kind: SubmissionKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionKind {
    Phish,
    Spam,
}

impl SubmissionKind {
    pub fn submitted_as(self) -> proto::SubmittedAs {
        match self {
            SubmissionKind::Phish => proto::SubmittedAs::Phish,
            SubmissionKind::Spam => proto::SubmittedAs::Spam,
        }
    }
}

fn default_journal_addresses() -> BTreeMap<String, String> {
    BTreeMap::from([("journal@postern.localhost".to_owned(), "default".to_owned())])
}
fn default_allowed_networks() -> Vec<String> {
    vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()]
}
fn default_max_connections_per_ip() -> usize {
    32
}
fn default_max_message_size() -> usize {
    50 * 1024 * 1024
}
fn default_inline_limit() -> usize {
    1024 * 1024
}
fn default_max_command_line() -> usize {
    4096
}
fn default_max_recipients() -> usize {
    100
}
fn default_max_connections() -> usize {
    256
}
fn default_command_timeout() -> Duration {
    Duration::from_secs(300)
}
fn default_data_timeout() -> Duration {
    Duration::from_secs(180)
}
fn default_not_ready_after() -> Duration {
    Duration::from_secs(5)
}
fn default_publish_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_duplicate_window() -> Duration {
    Duration::from_secs(15 * 60)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}

impl Default for Config {
    fn default() -> Self {
        Self::defaults()
    }
}

/// `Config::load(path)`: the file (or every default), the environment, the checks.
impl Layered for Config {
    type Error = ConfigError;

    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        proto::cluster::apply_nats_env(&mut self.nats_url, &mut self.replicas, var)?;
        proto::cluster::apply_nats_access_env(&mut self.nats_nkey_file, &mut self.nats_tls_ca_file, var);
        runtime::ops::apply_env(&mut self.ops_listen, var).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(listen) = var(ENV_LISTEN) {
            self.listen = listen
                .parse()
                .map_err(|_| ConfigError::Invalid(format!("{ENV_LISTEN}={listen:?} is not an address:port")))?;
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if self.journal_addresses.is_empty() && self.journal_patterns.is_empty() {
            return Err(ConfigError::Invalid(
                "journal_addresses and journal_patterns are empty: no mail could be accepted".into(),
            ));
        }
        let mut normalized = BTreeMap::new();
        for (address, tenant) in &self.journal_addresses {
            proto::TenantId::customer(tenant)
                .map_err(|e| ConfigError::Invalid(format!("journal address {address:?}: {e}")))?;
            if !address.contains('@') {
                return Err(ConfigError::Invalid(format!("journal address {address:?} has no '@'")));
            }
            normalized.insert(address.trim().to_lowercase(), tenant.clone());
        }
        self.journal_addresses = normalized;
        let mut submissions = BTreeMap::new();
        for (address, target) in &self.submission_addresses {
            proto::TenantId::customer(&target.tenant)
                .map_err(|e| ConfigError::Invalid(format!("submission address {address:?}: {e}")))?;
            let address = address.trim().to_lowercase();
            if !address.contains('@') {
                return Err(ConfigError::Invalid(format!("submission address {address:?} has no '@'")));
            }
            if self.journal_addresses.contains_key(&address) {
                return Err(ConfigError::Invalid(format!(
                    "{address:?} is both a journal and a submission address: give it one role"
                )));
            }
            submissions.insert(address, target.clone());
        }
        self.submission_addresses = submissions;
        proto::cluster::check_nats_settings(&self.nats_url, self.replicas)?;
        self.tenancy()?;
        self.networks()?;
        self.tls_acceptor()?;
        if self.max_message_size < 1024 {
            return Err(ConfigError::Invalid("max_message_size must be at least 1024 bytes".into()));
        }
        if !(512..=65536).contains(&self.max_command_line) {
            return Err(ConfigError::Invalid("max_command_line must be between 512 and 65536".into()));
        }
        if self.inline_limit == 0 || self.inline_limit > 7 * 1024 * 1024 {
            return Err(ConfigError::Invalid(
                "inline_limit must be between 1 byte and 7 MiB (nats-server's max_payload is 8 MB at most here)".into(),
            ));
        }
        if self.max_recipients == 0 || self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid(
                "max_recipients, max_connections and max_connections_per_ip must be at least 1".into(),
            ));
        }
        Ok(())
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

    /// The journal address lookup (validated by [`Layered::validate`]).
    pub fn tenancy(&self) -> Result<Tenancy, ConfigError> {
        let submissions = self
            .submission_addresses
            .iter()
            .map(|(address, target)| {
                (address.trim().to_lowercase(), (target.tenant.clone(), target.kind.submitted_as()))
            })
            .collect();
        Tenancy::new(self.journal_addresses.clone(), &self.journal_patterns)
            .map(|t| t.with_submissions(submissions))
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The STARTTLS acceptor, if a certificate is configured (validated at startup).
    pub fn tls_acceptor(&self) -> Result<Option<tokio_rustls::TlsAcceptor>, ConfigError> {
        self.tls.as_ref().map(|t| crate::tls::acceptor(&t.cert, &t.key)).transpose()
    }

    /// The allowed client networks (validated by [`Config::validate`]).
    pub fn networks(&self) -> Result<Vec<Network>, ConfigError> {
        self.allowed_networks
            .iter()
            .map(|n| n.parse::<Network>().map_err(|e| ConfigError::Invalid(format!("allowed_networks: {e}"))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_local_ones() {
        let c = Config::default();
        assert_eq!(c.listen.to_string(), "127.0.0.1:2525");
        assert_eq!(c.journal_addresses.get("journal@postern.localhost").map(String::as_str), Some("default"));
    }

    #[test]
    fn unknown_fields_and_bad_tenants_are_refused() {
        assert!(toml::from_str::<Config>("lissten = '1.2.3.4:25'").is_err());
        let mut c: Config = toml::from_str("[journal_addresses]\n'j@x' = 'Bad.Tenant'").unwrap();
        assert!(c.validate().is_err());
        let mut c: Config = toml::from_str("allowed_networks = ['10.0.0.0/33']").unwrap();
        assert!(c.validate().is_err());
        let mut c: Config = toml::from_str("journal_patterns = ['x@journal.example']").unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn env_overrides_apply() {
        let mut c = Config::default();
        c.apply_env(&|k| match k {
            ENV_NATS_URL => Some("nats://10.0.0.1:4333".into()),
            ENV_LISTEN => Some("127.0.0.1:2626".into()),
            proto::cluster::ENV_REPLICAS => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.nats_url, "nats://10.0.0.1:4333");
        assert_eq!(c.listen.port(), 2626);
        assert_eq!(c.replicas, 3);
        assert!(c.apply_env(&|k| (k == ENV_LISTEN).then(|| "nonsense".into())).is_err());
        assert!(c.apply_env(&|k| (k == proto::cluster::ENV_REPLICAS).then(|| "three".into())).is_err());
        c.replicas = 7;
        assert!(c.validate().unwrap_err().to_string().contains("replicas = 7"));
    }

    #[test]
    fn durations_are_humantime() {
        let c: Config = toml::from_str("publish_timeout = '2s'\ncommand_timeout = '5m'").unwrap();
        assert_eq!(c.publish_timeout, Duration::from_secs(2));
        assert_eq!(c.command_timeout, Duration::from_secs(300));
    }

    #[test]
    fn the_example_file_is_valid_and_states_the_defaults() {
        let example: Config = toml::from_str(include_str!("../ingest.example.toml")).expect("example parses");
        assert_eq!(format!("{example:?}"), format!("{:?}", Config::default()));
    }
}
