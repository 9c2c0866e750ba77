//! ingest's errors, one enum per boundary.

use thiserror::Error;

/// Configuration problems: reported at startup, the process exits non-zero.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] runtime::config_file::ConfigFileError),
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("invalid config: {0}")]
    Nats(#[from] proto::cluster::NatsSettingsError),
}

/// Why a message could not be stored. Every variant becomes a 451 to the client, which
/// keeps the message and retries: nothing accepted is lost.
#[derive(Debug, Error)]
pub enum PublishError {
    #[error("JetStream publish failed: {0}")]
    Publish(String),
    #[error("JetStream did not acknowledge within {0:?}")]
    Timeout(std::time::Duration),
}

/// Why MAIL_RAW or the bodies bucket could not be made ready.
#[derive(Debug, Error)]
pub enum StreamSetupError {
    /// NATS did not answer or refused (not reachable, no JetStream leader yet): retried.
    #[error("{0}")]
    Nats(String),
    /// The stream exists, but not as ingest needs it (other subjects): not retried.
    #[error("{0}")]
    Unusable(String),
    /// The stream exists with another replica count than configured: not retried.
    #[error(transparent)]
    Mismatch(#[from] proto::cluster::StreamSettingMismatch),
}

/// Startup failures of the service.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot set up JetStream stream {stream}: {reason}")]
    Stream { stream: &'static str, reason: String },
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    #[error(transparent)]
    Ops(#[from] runtime::ops::OpsError),
}
