//! scorer's typed configuration: TOML file (`--config`) plus documented environment
//! overrides.

use crate::error::ConfigError;
pub use runtime::config_file::Layered;
use serde::Deserialize;
use std::time::Duration;

/// Environment variable that overrides `nats_url`.
pub use proto::cluster::ENV_NATS_URL;
/// Environment variable that overrides `dns` (`system` or `offline`).
pub const ENV_DNS: &str = "POSTERN_DNS";

/// Where authentication looks DNS up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsMode {
    /// The system's resolver (/etc/resolv.conf), 2 s timeouts, 2 attempts.
    System,
    /// No network: only `dns_fixture` answers; every other lookup is a temporary error.
    Offline,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// NATS server URL, or the nodes of a cluster separated by commas. Env: `NATS_URL`.
    #[serde(default = "default_nats_url")]
    pub nats_url: String,
    /// Where `/metrics`, `/health` and `/ready` are served (port 0: any free port, logged).
    /// Env: `POSTERN_OPS_LISTEN`.
    #[serde(default = "default_ops_listen")]
    pub ops_listen: std::net::SocketAddr,
    /// JetStream replicas of the streams and the bucket the scorer creates (MAIL_EVENTS,
    /// MAIL_TRAINING, POSTERN_POLICIES): 1 on a single server, 3 in a three-node cluster (at
    /// most 5). One that exists with another count stops the start with that error.
    /// Env: `POSTERN_NATS_REPLICAS`.
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
    /// Test builds only: honour the failpoint headers of `score::failpoint` (a message that
    /// makes scoring panic or abort). A release build refuses to start with it.
    #[serde(default)]
    pub failpoints: bool,
    /// Messages this process has in hand at once (fetched, authenticated, scored or being
    /// published).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Of those, how many are scored on the CPU at once (the rules and the classifier);
    /// unset: all of them. On a machine shared with ingest, the machine's core count keeps
    /// the scorer from starving ingest's SMTP answers (`just bench-e2e` on 2 cores: 2 to 4
    /// times the accept rate under load) at some end-to-end throughput (10 to 25% less in
    /// `fast` mode, about the same in `durable`).
    #[serde(default)]
    pub scoring_threads: Option<usize>,
    /// How long JetStream waits for an ack before redelivering to another scorer
    /// (the shared consumer's setting: the first scorer to create it sets it).
    #[serde(default = "default_ack_wait", with = "humantime_serde")]
    pub ack_wait: Duration,
    /// Deliveries of one raw event before it is dead-lettered.
    #[serde(default = "default_max_deliver")]
    pub max_deliver: i64,
    /// How long to wait for the acknowledgement of a disposition event.
    #[serde(default = "default_publish_timeout", with = "humantime_serde")]
    pub publish_timeout: Duration,
    /// Where SPF, DKIM and DMARC look DNS up: `system` or `offline`. Env: `POSTERN_DNS`.
    #[serde(default = "default_dns")]
    pub dns: DnsMode,
    /// With `dns = "offline"`: a file of `name value` TXT records that answer (and are the
    /// only names that exist).
    #[serde(default)]
    pub dns_fixture: Option<std::path::PathBuf>,
    /// The operator's domain registration table (`domain,YYYY-MM-DD` lines) for
    /// NEW_DOMAIN_SENDER / NEW_DOMAIN_LINK; without it those detections are off.
    #[serde(default)]
    pub domain_ages: Option<std::path::PathBuf>,
    /// The tenants' own mail servers and trusted relays (CIDR). SPF is checked for the
    /// first hop outside them in the Received chain (private addresses are skipped too),
    /// and SpamAssassin's relay analysis trusts them as its `trusted_networks`.
    #[serde(default)]
    pub trusted_relays: Vec<String>,
    /// How long shutdown waits for messages in progress.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// SpamAssassin's rule files (`*.cf`): the Debian package's folder, or an `sa-update`
    /// folder. Missing or empty: the scorer refuses to start. Env: `POSTERN_SA_RULES`.
    #[serde(default = "default_spamassassin_rules")]
    pub spamassassin_rules: std::path::PathBuf,
    /// Run SpamAssassin's rules at all.
    #[serde(default = "default_true")]
    pub spamassassin: bool,
    /// Where `scorer rules compile` caches Hyperscan's databases of the rules' patterns,
    /// and where the scorer reads them at start (without them: the same hits, slower).
    /// Env: `POSTERN_HYPERSCAN_CACHE`.
    #[serde(default = "default_hyperscan_cache")]
    pub hyperscan_cache: std::path::PathBuf,
    /// The learned combination model (JSON, made by `scorer model train`). Default: the
    /// model shipped in the binary (`scorer/model/combination.json`).
    #[serde(default)]
    pub combination_model: Option<std::path::PathBuf>,
    /// Teach the tenant's token classifier the spam the scorer is sure of
    /// ([`crate::autolearn`]: SpamAssassin's autolearn threshold, 12 points with 3 from
    /// header and 3 from body rules, and a threat or spam verdict), as SpamAssassin's
    /// `bayes_auto_learn` does; the threshold is the rule files' own
    /// (`bayes_auto_learn_threshold_spam`, `bayes_auto_learn 0` turns it off there too).
    /// Env: `POSTERN_AUTOLEARN` (`true` / `false`).
    #[serde(default = "default_true")]
    pub autolearn: bool,
    /// How long the scorer remembers the text of a tenant's mail to find snowshoe campaigns,
    /// the same text from other sender domains ([`crate::campaign`]; they run for days).
    /// `0s` turns the memory off. Every scorer remembers what all of them scored
    /// (MAIL_FINGERPRINTS keeps each fingerprint this long).
    #[serde(default = "default_campaign_window", with = "humantime_serde")]
    pub campaign_window: Duration,
    /// The most messages remembered a tenant (the oldest forgotten first; about 400 bytes
    /// each).
    #[serde(default = "default_campaign_messages")]
    pub campaign_messages: usize,
}

/// Environment variable that overrides `autolearn`.
pub const ENV_AUTOLEARN: &str = "POSTERN_AUTOLEARN";

/// Environment variable that overrides `spamassassin_rules`.
pub const ENV_SA_RULES: &str = "POSTERN_SA_RULES";
/// Environment variable that overrides `hyperscan_cache`.
pub const ENV_HYPERSCAN_CACHE: &str = "POSTERN_HYPERSCAN_CACHE";

fn default_hyperscan_cache() -> std::path::PathBuf {
    crate::spamassassin::DEFAULT_HYPERSCAN_CACHE.into()
}

fn default_spamassassin_rules() -> std::path::PathBuf {
    crate::spamassassin::DEFAULT_RULES_DIR.into()
}
fn default_true() -> bool {
    true
}

fn default_dns() -> DnsMode {
    DnsMode::System
}
fn default_ops_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 9182))
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}
fn default_concurrency() -> usize {
    16
}

fn default_ack_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_max_deliver() -> i64 {
    5
}
fn default_publish_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_campaign_window() -> Duration {
    Duration::from_secs(7 * 86_400)
}
fn default_campaign_messages() -> usize {
    100_000
}
fn default_replicas() -> usize {
    1
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
        if let Some(dir) = var(ENV_SA_RULES) {
            self.spamassassin_rules = dir.into();
        }
        if let Some(dir) = var(ENV_HYPERSCAN_CACHE) {
            self.hyperscan_cache = dir.into();
        }
        if let Some(value) = var(ENV_AUTOLEARN) {
            self.autolearn = match value.as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ConfigError::Invalid(format!("{ENV_AUTOLEARN}={other:?}: expected true or false")));
                }
            };
        }
        if let Some(mode) = var(ENV_DNS) {
            self.dns = match mode.as_str() {
                "system" => DnsMode::System,
                "offline" => DnsMode::Offline,
                other => return Err(ConfigError::Invalid(format!("{ENV_DNS}={other:?}: expected system or offline"))),
            };
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::Invalid("concurrency must be at least 1".into()));
        }
        if self.scoring_threads == Some(0) {
            return Err(ConfigError::Invalid("scoring_threads must be at least 1".into()));
        }
        if self.max_deliver < 1 {
            return Err(ConfigError::Invalid("max_deliver must be at least 1".into()));
        }
        if self.failpoints && !cfg!(debug_assertions) {
            return Err(ConfigError::Invalid(
                "failpoints = true is for test builds (with debug assertions); this is a release build".into(),
            ));
        }
        proto::cluster::check_nats_settings(&self.nats_url, self.replicas)?;
        self.trusted_relays()?;
        Ok(())
    }
}

impl Config {
    /// How many messages are scored on the CPU at once.
    pub fn scoring_threads(&self) -> usize {
        self.scoring_threads.unwrap_or(self.concurrency)
    }

    /// The credentials and CA of the NATS connection.
    pub fn nats_access(&self) -> proto::connect::NatsAccess<'_> {
        proto::connect::NatsAccess {
            nkey_file: self.nats_nkey_file.as_deref(),
            tls_ca_file: self.nats_tls_ca_file.as_deref(),
        }
    }

    /// Loads SpamAssassin's rules and the combination model as configured.
    pub fn detection(&self) -> Result<Detection, ConfigError> {
        let spamassassin = if self.spamassassin {
            Some(crate::spamassassin::load_prepared(&self.spamassassin_rules, &self.hyperscan_cache)?)
        } else {
            None
        };
        let combination = match &self.combination_model {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::Model { path: path.clone(), source: Box::new(e) })?;
                crate::combine::CombinationModel::from_json(&text)
                    .map_err(|e| ConfigError::Model { path: path.clone(), source: Box::new(e) })?
            }
            None => crate::combine::CombinationModel::shipped()
                .map_err(|e| ConfigError::Model { path: "(shipped)".into(), source: Box::new(e) })?,
        };
        Ok(Detection::new(spamassassin, Some(combination)))
    }

    pub fn trusted_relays(&self) -> Result<Vec<crate::auth::Network>, ConfigError> {
        self.trusted_relays
            .iter()
            .map(|n| n.parse().map_err(|e| ConfigError::Invalid(format!("trusted_relays: {e}"))))
            .collect()
    }
}

/// The loaded detection assets: SpamAssassin's rules and the learned combination, and the
/// rules version that names them (part of every disposition's event id).
#[derive(Debug, Clone)]
pub struct Detection {
    pub spamassassin: Option<std::sync::Arc<crate::spamassassin::RuleSet>>,
    pub combination: Option<std::sync::Arc<crate::combine::CombinationModel>>,
    /// `postern-rules/N`, then `+<model version>` and `+sa-<digest of the rule files>`.
    pub rules_version: String,
}

impl Detection {
    pub fn new(
        spamassassin: Option<crate::spamassassin::LoadedRules>,
        combination: Option<crate::combine::CombinationModel>,
    ) -> Detection {
        let mut rules_version = crate::verdict::RULES_VERSION.to_owned();
        if let Some(model) = &combination {
            rules_version.push('+');
            rules_version.push_str(&model.version);
        }
        if let Some(rules) = &spamassassin {
            rules_version.push_str("+sa-");
            rules_version.push_str(&rules.digest);
        }
        Detection {
            spamassassin: spamassassin.map(|r| std::sync::Arc::new(r.rules)),
            combination: combination.map(std::sync::Arc::new),
            rules_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_validation() {
        let c = Config::default();
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert!(toml::from_str::<Config>("concurency = 3").is_err());
        let mut c: Config = toml::from_str("concurrency = 0").unwrap();
        assert!(c.validate().is_err());
        assert_eq!(Config::default().scoring_threads, None, "every message in hand may be scored at once");
        let mut c: Config = toml::from_str("scoring_threads = 0").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("scoring_threads"));
        let c: Config = toml::from_str("ack_wait = '45s'").unwrap();
        assert_eq!(c.ack_wait, Duration::from_secs(45));
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let mut c = Config::default();
        c.apply_env(&|k| match k {
            ENV_NATS_URL => Some("nats://10.0.0.1:4333".into()),
            ENV_DNS => Some("offline".into()),
            ENV_SA_RULES => Some("/srv/rules".into()),
            proto::cluster::ENV_REPLICAS => Some("3".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!((c.nats_url.as_str(), c.dns, c.replicas), ("nats://10.0.0.1:4333", DnsMode::Offline, 3));
        assert_eq!(c.spamassassin_rules, std::path::PathBuf::from("/srv/rules"));
        assert!(c.autolearn, "autolearning is on by default, as SpamAssassin's");
        c.apply_env(&|k| (k == ENV_AUTOLEARN).then(|| "false".into())).unwrap();
        assert!(!c.autolearn);
        let e = c.apply_env(&|k| (k == ENV_AUTOLEARN).then(|| "maybe".into())).unwrap_err();
        assert!(e.to_string().contains("POSTERN_AUTOLEARN=\"maybe\""), "{e}");
        let e = c.apply_env(&|k| (k == ENV_DNS).then(|| "google".into())).unwrap_err();
        assert_eq!(e.to_string(), "invalid config: POSTERN_DNS=\"google\": expected system or offline");
        c.replicas = 7;
        assert!(c.validate().unwrap_err().to_string().starts_with("invalid config: replicas = 7"));
    }

    #[test]
    fn the_example_file_is_valid_and_states_the_defaults() {
        let example: Config = toml::from_str(include_str!("../scorer.example.toml")).expect("example parses");
        assert_eq!(format!("{example:?}"), format!("{:?}", Config::default()));
    }
}
