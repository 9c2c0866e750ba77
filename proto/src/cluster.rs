//! What every component shares about reaching NATS, on one server or a cluster: the server
//! list of a `nats_url` setting, the replica count of the streams and buckets it creates,
//! and the check that a stream made earlier has the settings the configuration asks for.
//!
//! JetStream stores each stream on `replicas` nodes and elects one leader per stream; a
//! write is acknowledged once a majority of them has it, so with 3 replicas one node can be
//! lost without losing anything that was acknowledged.

use thiserror::Error;

/// Environment variable that overrides every component's `nats_url` setting.
pub const ENV_NATS_URL: &str = "NATS_URL";

/// Environment variable that overrides every component's `replicas` setting.
pub const ENV_REPLICAS: &str = "POSTERN_NATS_REPLICAS";

/// Environment variable that overrides every component's `nats_nkey_file` setting: the file
/// holding the component's NATS nkey seed (`postern nats-keys` writes one per component). Set
/// to an empty value, no credentials are sent.
pub const ENV_NKEY_FILE: &str = "POSTERN_NATS_NKEY_FILE";

/// Environment variable that overrides every component's `nats_tls_ca_file` setting: the CA
/// certificates (PEM) that sign the NATS server's certificate; with one the connection
/// requires TLS. Set to an empty value, TLS is not required.
pub const ENV_TLS_CA_FILE: &str = "POSTERN_NATS_TLS_CA_FILE";

/// JetStream's own limit on a stream's replicas.
pub const MAX_REPLICAS: usize = 5;

/// The servers of a `nats_url` setting: one URL, or the nodes of a cluster separated by
/// commas (`nats://127.0.0.1:4222,nats://127.0.0.1:4223`). The client connects to one of
/// them and moves to another when it goes away; it also learns the cluster's other nodes
/// from the server.
pub fn server_urls(setting: &str) -> Vec<&str> {
    setting.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// A `replicas` setting JetStream can honour.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("replicas = {0}: must be between 1 (a single server) and {MAX_REPLICAS} (3 in a three-node cluster)")]
pub struct ReplicasOutOfRange(pub usize);

/// A `POSTERN_NATS_REPLICAS` value that is not a number.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{ENV_REPLICAS}={0:?} is not a number")]
pub struct ReplicasNotANumber(pub String);

/// Reads the `POSTERN_NATS_REPLICAS` override (its range is checked with the rest of the
/// configuration, by [`check_replica_count`]).
pub fn parse_replicas(value: &str) -> Result<usize, ReplicasNotANumber> {
    value.trim().parse().map_err(|_| ReplicasNotANumber(value.to_owned()))
}

pub fn check_replica_count(replicas: usize) -> Result<usize, ReplicasOutOfRange> {
    if (1..=MAX_REPLICAS).contains(&replicas) { Ok(replicas) } else { Err(ReplicasOutOfRange(replicas)) }
}

/// The NATS settings every component has (`nats_url`, `replicas`), when they do not hold.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum NatsSettingsError {
    #[error(transparent)]
    NotANumber(#[from] ReplicasNotANumber),
    #[error(transparent)]
    OutOfRange(#[from] ReplicasOutOfRange),
    #[error("nats_url is empty")]
    NoServer,
}

/// The environment's `NATS_URL` and `POSTERN_NATS_REPLICAS` (read through `var`) over a
/// component's `nats_url` and `replicas`.
pub fn apply_nats_env(
    nats_url: &mut String,
    replicas: &mut usize,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(), NatsSettingsError> {
    if let Some(url) = var(ENV_NATS_URL) {
        *nats_url = url;
    }
    if let Some(value) = var(ENV_REPLICAS) {
        *replicas = parse_replicas(&value)?;
    }
    Ok(())
}

/// The environment's `POSTERN_NATS_NKEY_FILE` and `POSTERN_NATS_TLS_CA_FILE` (read through
/// `var`) over a component's `nats_nkey_file` and `nats_tls_ca_file`.
pub fn apply_nats_access_env(
    nkey_file: &mut Option<std::path::PathBuf>,
    tls_ca_file: &mut Option<std::path::PathBuf>,
    var: &dyn Fn(&str) -> Option<String>,
) {
    for (name, setting) in [(ENV_NKEY_FILE, nkey_file), (ENV_TLS_CA_FILE, tls_ca_file)] {
        if let Some(value) = var(name) {
            *setting = (!value.trim().is_empty()).then(|| value.trim().into());
        }
    }
}

/// A component's `nats_url` names at least one server, and `replicas` is a count JetStream
/// can honour.
pub fn check_nats_settings(nats_url: &str, replicas: usize) -> Result<(), NatsSettingsError> {
    check_replica_count(replicas)?;
    if server_urls(nats_url).is_empty() {
        return Err(NatsSettingsError::NoServer);
    }
    Ok(())
}

/// A stream (or the stream behind a KV or object store bucket) that already exists with
/// settings other than the configuration's. A component reports it and stops rather than
/// use a stream that does not keep what the operator asked for.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "stream {stream} exists with {setting} = {found}, the configuration asks for {wanted}: \
     change the stream (`nats stream edit {stream} --{setting} {wanted}`) or the configuration"
)]
pub struct StreamSettingMismatch {
    pub stream: String,
    pub setting: &'static str,
    pub found: String,
    pub wanted: String,
}

/// Compares the replica count of an existing stream with the configured one.
pub fn check_stream_replicas(stream: &str, found: usize, wanted: usize) -> Result<(), StreamSettingMismatch> {
    // JetStream reports 0 for a stream made without a count: it has one replica.
    let found = found.max(1);
    if found == wanted {
        Ok(())
    } else {
        Err(StreamSettingMismatch {
            stream: stream.to_owned(),
            setting: "replicas",
            found: found.to_string(),
            wanted: wanted.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_lists_one_server_or_several() {
        assert_eq!(server_urls("nats://127.0.0.1:4222"), ["nats://127.0.0.1:4222"]);
        assert_eq!(
            server_urls("nats://127.0.0.1:4222, nats://127.0.0.1:4223,,"),
            ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
        );
        assert!(server_urls(" , ").is_empty());
    }

    #[test]
    fn the_override_is_a_number() {
        assert_eq!(parse_replicas(" 3 "), Ok(3));
        assert_eq!(parse_replicas("three").unwrap_err().to_string(), "POSTERN_NATS_REPLICAS=\"three\" is not a number");
    }

    #[test]
    fn replica_counts_are_between_one_and_five() {
        assert_eq!(check_replica_count(1), Ok(1));
        assert_eq!(check_replica_count(3), Ok(3));
        assert_eq!(check_replica_count(0), Err(ReplicasOutOfRange(0)));
        assert!(check_replica_count(6).unwrap_err().to_string().contains("between 1"));
    }

    #[test]
    fn the_environment_overrides_the_nats_settings_which_are_then_checked() {
        let (mut url, mut replicas) = ("nats://127.0.0.1:4222".to_owned(), 1);
        apply_nats_env(&mut url, &mut replicas, &|_| None).unwrap();
        assert_eq!((url.as_str(), replicas), ("nats://127.0.0.1:4222", 1));
        let env = |k: &str| match k {
            ENV_NATS_URL => Some("nats://10.0.0.1:4333".to_owned()),
            ENV_REPLICAS => Some("3".to_owned()),
            _ => None,
        };
        apply_nats_env(&mut url, &mut replicas, &env).unwrap();
        assert_eq!((url.as_str(), replicas), ("nats://10.0.0.1:4333", 3));
        let bad = apply_nats_env(&mut url, &mut replicas, &|k| (k == ENV_REPLICAS).then(|| "x".to_owned()));
        assert_eq!(bad, Err(NatsSettingsError::NotANumber(ReplicasNotANumber("x".into()))));

        assert_eq!(check_nats_settings(&url, 3), Ok(()));
        assert_eq!(check_nats_settings(&url, 9), Err(NatsSettingsError::OutOfRange(ReplicasOutOfRange(9))));
        assert_eq!(check_nats_settings(" , ", 1).unwrap_err().to_string(), "nats_url is empty");
    }

    #[test]
    fn the_environment_names_the_credentials_and_the_ca() {
        let (mut nkey, mut ca) = (Some("etc/scorer.nk".into()), None);
        apply_nats_access_env(&mut nkey, &mut ca, &|_| None);
        assert_eq!((nkey.as_deref(), ca.as_deref()), (Some(std::path::Path::new("etc/scorer.nk")), None));
        let env = |k: &str| match k {
            ENV_NKEY_FILE => Some(String::new()),
            ENV_TLS_CA_FILE => Some("/etc/postern/ca.pem".to_owned()),
            _ => None,
        };
        apply_nats_access_env(&mut nkey, &mut ca, &env);
        assert_eq!((nkey, ca), (None, Some("/etc/postern/ca.pem".into())));
    }

    #[test]
    fn an_existing_stream_with_other_replicas_is_reported() {
        assert_eq!(check_stream_replicas("MAIL_RAW", 3, 3), Ok(()));
        assert_eq!(check_stream_replicas("MAIL_RAW", 0, 1), Ok(()));
        let e = check_stream_replicas("MAIL_RAW", 1, 3).unwrap_err();
        assert_eq!(e.found, "1");
        assert_eq!(
            e.to_string(),
            "stream MAIL_RAW exists with replicas = 1, the configuration asks for 3: change the stream \
             (`nats stream edit MAIL_RAW --replicas 3`) or the configuration"
        );
    }
}
