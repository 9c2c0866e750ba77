//! projector's errors.

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

/// Database problems. Any of these stops folding (nothing is acked past a failed write);
/// the process exits non-zero and an operator must look.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("RocksDB: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("column family {0} is missing")]
    MissingColumnFamily(&'static str),
    #[error("corrupt value in {cf}: {reason}")]
    Corrupt { cf: &'static str, reason: String },
    /// The database was written by a build with another view layout.
    #[error(
        "view format {found} on disk, this build writes {expected}: rebuild the views from the streams (projector serve --rebuild)"
    )]
    FormatMismatch { found: u32, expected: u32 },
    /// The views hold another part of the tenants than the configured `shard`.
    #[error(
        "the views hold the tenants of shard {found}, the configuration says {wanted}: rebuild them (projector serve --rebuild) or fix the shard"
    )]
    ShardMismatch { found: String, wanted: String },
    /// Closing and opening the database again (after a failed write) did not work.
    #[error("reopening the views: {0}")]
    Reopen(String),
}

/// Why a stream the projector creates could not be made ready.
#[derive(Debug, Error)]
pub enum StreamSetupError {
    /// NATS did not answer, or refused (not reachable, no JetStream leader yet): retried.
    #[error("stream {stream}: {reason}")]
    Nats { stream: &'static str, reason: String },
    /// The stream exists with other settings: reported, not used as it is.
    #[error(transparent)]
    Mismatch(#[from] proto::cluster::StreamSettingMismatch),
}

/// Failures of the service as a whole.
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("JetStream: {0}")]
    Nats(String),
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    /// The views' folder could not be prepared (created, or deleted for --rebuild).
    #[error("views folder: {0}")]
    ViewsFolder(String),
    /// Folding stopped: a store error inside the fold task, or it did not finish in time.
    #[error("fold: {0}")]
    Fold(String),
    /// The views are an as-of rebuild: folding newer events into them would make them
    /// neither what was known then nor what is known now.
    #[error(
        "{db} was rebuilt as of {as_of}: it is not folded further; serve it read-only with `projector serve --db {db}`"
    )]
    AsOfViews { db: String, as_of: proto::Timestamp },
}
