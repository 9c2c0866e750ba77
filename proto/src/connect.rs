//! How a component connects to NATS (feature `nats`): under its own name, with its own
//! reply inbox, as its own NATS user, and over TLS when asked.
//!
//! The server's configuration (`nats-users.conf`) gives each component a user with the
//! permissions of its work and nothing more; a component proves it is that user with an
//! nkey: the server holds only the public key, the component the seed, in a file of its own
//! (`nats_nkey_file`, or `POSTERN_NATS_NKEY_FILE`). Replies (PubAcks, pulled messages, API
//! answers) come to `_INBOX_<component>.…`, a prefix only that user may subscribe to, so
//! no other component can read them.
//!
//! A seed never appears in an error or a log line: errors name the file, not what it holds.

use async_nats::ConnectOptions;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What a component names to prove who it is and to check the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct NatsAccess<'a> {
    /// The file holding the component's nkey seed (one line, `SU…`); none connects without
    /// credentials (a server with `nats-users.conf` refuses that).
    pub nkey_file: Option<&'a Path>,
    /// A PEM file of the certificate authorities that may sign the server's certificate:
    /// the connection then requires TLS.
    pub tls_ca_file: Option<&'a Path>,
}

/// Why a component cannot use the credentials or the CA its configuration names.
#[derive(Debug, Error)]
pub enum AccessError {
    #[error("cannot read the NATS nkey seed file {path}")]
    ReadSeed {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} does not hold a NATS user nkey seed (one line starting with \"SU\", as `postern nats-keys` writes)"
    )]
    NotAUserSeed { path: PathBuf },
    #[error("cannot read the NATS TLS CA file {path}")]
    ReadCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (the NATS TLS CA file must)")]
    NotACertificate { path: PathBuf },
}

/// Why a server refused a component at connect, in the operator's terms.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refused {
    #[error(
        "the server refused a client without a key: give this component its NATS key (nats_nkey_file, \
         or POSTERN_NATS_NKEY_FILE; the operator's commands take the admin key, var/nats-keys/admin.nk under just up)"
    )]
    NoKey,
    #[error(
        "the server does not know the key in {0} (its public half must be in the server's environment: \
         postern nats-keys writes public-keys.env beside the seeds)"
    )]
    UnknownKey(PathBuf),
}

/// The operator's reading of a connect error that is an authorization refusal; None for
/// any other failure.
pub fn refused(error: &async_nats::ConnectError, nkey_file: Option<&Path>) -> Option<Refused> {
    (error.kind() == async_nats::ConnectErrorKind::AuthorizationViolation)
        .then(|| nkey_file.map_or(Refused::NoKey, |path| Refused::UnknownKey(path.to_owned())))
}

/// Ok while `client` is connected; otherwise the reason, as `/ready` gives it.
pub fn require_connected(client: &async_nats::Client) -> Result<(), String> {
    match client.connection_state() {
        async_nats::connection::State::Connected => Ok(()),
        _ => Err("not connected to NATS".to_owned()),
    }
}

/// The inbox prefix of a component's replies: `_INBOX_<component>`.
pub fn inbox_prefix(component: &str) -> String {
    format!("_INBOX_{component}")
}

/// Connection options for `component` (`ingest`, `scorer`, `projector`, `remediator`,
/// `admin`): client name `postern-<component>`, inbox [`inbox_prefix`], the nkey of
/// `access.nkey_file` and TLS with `access.tls_ca_file`, both checked now so that a bad file
/// is an error at start, naming the file.
pub fn options(component: &str, access: NatsAccess<'_>) -> Result<ConnectOptions, AccessError> {
    let mut options =
        ConnectOptions::new().name(format!("postern-{component}")).custom_inbox_prefix(inbox_prefix(component));
    if let Some(path) = access.nkey_file {
        options = options.nkey(read_user_seed(path)?);
    }
    if let Some(path) = access.tls_ca_file {
        let pem = std::fs::read_to_string(path).map_err(|source| AccessError::ReadCa { path: path.into(), source })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(AccessError::NotACertificate { path: path.into() });
        }
        options = options.add_root_certificates(path.to_owned()).require_tls(true);
    }
    Ok(options)
}

/// The user seed in `path` (surrounding blank space and blank lines ignored), checked to be
/// one. The error never quotes the file.
pub fn read_user_seed(path: &Path) -> Result<String, AccessError> {
    let text = std::fs::read_to_string(path).map_err(|source| AccessError::ReadSeed { path: path.into(), source })?;
    let seed = text.trim().to_owned();
    match nkeys::KeyPair::from_seed(&seed) {
        Ok(pair) if pair.key_pair_type() == nkeys::KeyPairType::User => Ok(seed),
        _ => Err(AccessError::NotAUserSeed { path: path.into() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("postern-proto-connect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_user_seed_is_read_and_anything_else_is_refused_without_quoting_it() {
        let pair = nkeys::KeyPair::new_user();
        let seed = pair.seed().unwrap();
        assert_eq!(read_user_seed(&file("user.nk", &format!("\n{seed}\n"))).unwrap(), seed);

        let account = nkeys::KeyPair::new_account().seed().unwrap();
        let path = file("account.nk", &account);
        let e = read_user_seed(&path).unwrap_err();
        assert!(matches!(e, AccessError::NotAUserSeed { .. }));
        assert!(!e.to_string().contains(&account), "{e}");

        let garbage = "SUnotreallyaseed-but-secret";
        let e = read_user_seed(&file("garbage.nk", garbage)).unwrap_err();
        assert!(!e.to_string().contains(garbage), "{e}");

        let e = read_user_seed(Path::new("/nonexistent/scorer.nk")).unwrap_err();
        assert_eq!(e.to_string(), "cannot read the NATS nkey seed file /nonexistent/scorer.nk");
    }

    #[test]
    fn an_authorization_refusal_says_which_key_to_give() {
        let denied = async_nats::ConnectError::new(async_nats::ConnectErrorKind::AuthorizationViolation);
        assert_eq!(refused(&denied, None), Some(Refused::NoKey));
        let path = Path::new("var/nats-keys/scorer.nk");
        let e = refused(&denied, Some(path)).unwrap();
        assert!(e.to_string().contains("var/nats-keys/scorer.nk"), "{e}");
        let other = async_nats::ConnectError::new(async_nats::ConnectErrorKind::TimedOut);
        assert_eq!(refused(&other, None), None);
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let e = options("ingest", NatsAccess { nkey_file: None, tls_ca_file: Some(&file("ca.pem", "not pem")) })
            .unwrap_err();
        assert!(matches!(e, AccessError::NotACertificate { .. }), "{e}");
        assert!(options("ingest", NatsAccess::default()).is_ok());
        assert_eq!(inbox_prefix("scorer"), "_INBOX_scorer");
    }
}
