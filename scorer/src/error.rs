//! scorer's errors.

use std::path::PathBuf;
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
    /// The SpamAssassin rule folder cannot be read.
    #[error(transparent)]
    Rules(#[from] crate::spamassassin::RulesError),
    /// The combination model file cannot be read or does not fit this build.
    #[error("combination model {path}: {source}")]
    Model { path: PathBuf, source: Box<dyn std::error::Error + Send + Sync> },
}

/// A start-up step against JetStream (a stream, a bucket, a consumer) that did not succeed.
#[derive(Debug, Error)]
pub enum SetupError {
    /// A stream or bucket exists with other settings: trying again cannot help.
    #[error(transparent)]
    Settings(#[from] proto::cluster::StreamSettingMismatch),
    /// JetStream did not do it now (a cluster electing a leader or without a majority, a
    /// timeout, a server restarting): worth trying again.
    #[error("{what}: {reason}")]
    Unavailable { what: String, reason: String },
}

impl SetupError {
    pub fn unavailable(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        SetupError::Unavailable { what: what.into(), reason: reason.to_string() }
    }

    /// Whether trying again could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SetupError::Unavailable { .. })
    }
}

/// Failures of the worker as a whole (not of one message: those map to an [`Outcome`]).
#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A start-up step failed for good, or for longer than the scorer waits.
    #[error("JetStream setup failed: {0}")]
    JetStream(#[from] SetupError),
    /// NATS could not be reached or a stream/consumer could not be set up: exit non-zero.
    #[error("JetStream setup failed: {0}")]
    Setup(String),
    #[error(transparent)]
    DataFile(#[from] DataFileError),
    #[error(transparent)]
    Resolver(#[from] ResolverError),
    #[error(transparent)]
    NatsAccess(#[from] proto::connect::AccessError),
    #[error(transparent)]
    Ops(#[from] runtime::ops::OpsError),
}

/// A data file the configuration names (a DNS fixture, a table of domain ages) that
/// cannot be used.
#[derive(Debug, Error)]
pub enum DataFileError {
    #[error("{path}: {error}")]
    Read { path: std::path::PathBuf, error: std::io::Error },
    /// `path` is empty when the text did not come from a file.
    #[error("{path}line {line}: {reason}", path = if path.is_empty() { String::new() } else { format!("{path}: ") })]
    Line { path: String, line: usize, reason: String },
}

impl DataFileError {
    /// The same problem, named with the file it is in.
    pub fn in_file(self, file: &std::path::Path) -> DataFileError {
        match self {
            DataFileError::Line { line, reason, .. } => {
                DataFileError::Line { path: file.display().to_string(), line, reason }
            }
            other => other,
        }
    }

    /// Reads a data file and parses it with `parse`.
    pub fn load<T>(
        path: &std::path::Path,
        parse: impl FnOnce(&str) -> Result<T, DataFileError>,
    ) -> Result<T, DataFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| DataFileError::Read { path: path.to_owned(), error })?;
        parse(&text).map_err(|e| e.in_file(path))
    }
}

/// The DNS resolver could not be set up.
#[derive(Debug, Error)]
#[error("DNS resolver: {0}")]
pub struct ResolverError(pub Box<dyn std::error::Error + Send + Sync>);

/// What happens to one raw event after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The disposition is stored: ack the raw event.
    Ack,
    /// Storing the disposition failed: nak with a delay; JetStream redelivers.
    Retry(std::time::Duration),
    /// The input can never be scored (not a Postern event): dead-letter it and Term.
    Reject(RejectKind, String),
}

/// Why a raw event is dead-lettered, in a word (the `reason` label of
/// `postern_scorer_dead_letters_total`; the dead letter itself carries the whole reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    /// Not a Postern event, or not one this build can read.
    Undecodable,
    /// Its envelope names another tenant than its subject.
    WrongTenant,
    /// A Postern event, but not a raw message.
    UnexpectedEvent,
    /// Every delivery crashed, stalled or failed (a poison message).
    NeverScored,
}

impl RejectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Undecodable => "undecodable",
            RejectKind::WrongTenant => "wrong_tenant",
            RejectKind::UnexpectedEvent => "unexpected_event",
            RejectKind::NeverScored => "never_scored",
        }
    }
}
