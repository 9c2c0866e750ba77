//! The NATS identities of a Postern deployment: one nkey per component.
//!
//! `nats-users.conf` gives each component a NATS user with only the permissions its work
//! needs, named by the user's public key through an environment variable
//! (`POSTERN_NKEY_INGEST`, …) that nats-server reads when it starts. [`ensure`] makes the
//! keys: a seed file per component (`<component>.nk`, mode 0600, the secret the component
//! connects with) and `public-keys.env` (the public keys, for the server). The server never
//! holds a secret: an nkey user is checked by a signature over a challenge.

use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The components with a NATS user of their own; `admin` is the operator's (the CLI's
/// policy and training commands, replays, tests): it may do anything.
pub const COMPONENTS: [&str; 5] = ["ingest", "scorer", "projector", "remediator", "admin"];

/// The file of public keys nats-server's environment is given.
pub const PUBLIC_KEYS_FILE: &str = "public-keys.env";

/// The environment variable `nats-users.conf` reads a component's public key from.
pub fn env_var(component: &str) -> String {
    format!("POSTERN_NKEY_{}", component.to_ascii_uppercase())
}

/// Where a component's seed is kept in `dir`.
pub fn seed_file(dir: &Path, component: &str) -> PathBuf {
    dir.join(format!("{component}.nk"))
}

#[derive(Debug, Error)]
pub enum KeysError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A seed file that holds something else (its content is never shown).
    #[error("{path} does not hold a NATS user nkey seed; move it away, or run with --renew to replace every key")]
    NotAUserSeed { path: PathBuf },
    #[error("no system randomness for a key")]
    NoRandomness,
}

/// What one component's key is, and whether [`ensure`] made it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentKey {
    pub component: &'static str,
    pub public_key: String,
    pub created: bool,
}

/// The keys of a deployment, kept in `dir`.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub dir: PathBuf,
    pub keys: Vec<ComponentKey>,
}

impl KeySet {
    pub fn seed_file(&self, component: &str) -> PathBuf {
        seed_file(&self.dir, component)
    }

    /// `(POSTERN_NKEY_<COMPONENT>, public key)` for each component: nats-server's
    /// environment.
    pub fn server_env(&self) -> Vec<(String, String)> {
        self.keys.iter().map(|k| (env_var(k.component), k.public_key.clone())).collect()
    }
}

/// Keeps the seeds already in `dir` (all of them replaced with `renew`), makes the missing
/// ones, and writes `public-keys.env`. The folder is made readable by its owner only;
/// each seed is written to a temporary file first, so a crash leaves no half a key.
pub fn ensure(dir: &Path, renew: bool) -> Result<KeySet, KeysError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| KeysError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    set_mode(dir, 0o700).map_err(io(dir))?;
    let mut keys = Vec::with_capacity(COMPONENTS.len());
    for component in COMPONENTS {
        let path = seed_file(dir, component);
        let existing = if renew { None } else { read_seed(&path)? };
        let (public_key, created) = match existing {
            Some(pair) => (pair.public_key(), false),
            None => {
                let pair = new_user()?;
                let seed = pair.seed().map_err(|_| KeysError::NoRandomness)?;
                write_private(&path, format!("{seed}\n").as_bytes()).map_err(io(&path))?;
                (pair.public_key(), true)
            }
        };
        keys.push(ComponentKey { component, public_key, created });
    }
    let set = KeySet { dir: dir.to_owned(), keys };
    let mut env = String::from(
        "# Public nkeys of Postern's components, for nats-server's environment (nats-users.conf\n\
         # reads them). Written by `postern nats-keys`; the seeds beside this file are secret.\n",
    );
    for (name, key) in set.server_env() {
        env.push_str(&format!("{name}={key}\n"));
    }
    let env_path = dir.join(PUBLIC_KEYS_FILE);
    write_private(&env_path, env.as_bytes()).map_err(io(&env_path))?;
    Ok(set)
}

/// The key pair of the seed in `path`, none when there is no file. What a user seed is,
/// is the components' own check (`proto::connect::read_user_seed`).
fn read_seed(path: &Path) -> Result<Option<nkeys::KeyPair>, KeysError> {
    use proto::connect::AccessError;
    let not_a_seed = || KeysError::NotAUserSeed { path: path.to_owned() };
    match proto::connect::read_user_seed(path) {
        Ok(seed) => nkeys::KeyPair::from_seed(&seed).map(Some).map_err(|_| not_a_seed()),
        Err(AccessError::ReadSeed { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(AccessError::ReadSeed { path, source }) => Err(KeysError::Io { path, source }),
        Err(_) => Err(not_a_seed()),
    }
}

fn new_user() -> Result<nkeys::KeyPair, KeysError> {
    // nkeys draws from the system's randomness; a failure there is a panic inside it.
    std::panic::catch_unwind(nkeys::KeyPair::new_user).map_err(|_| KeysError::NoRandomness)
}

/// Writes `bytes` to `path` through a temporary file of mode 0600 in the same folder.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_kept_after_and_renewed_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), false).unwrap();
        assert_eq!(first.keys.len(), COMPONENTS.len());
        assert!(first.keys.iter().all(|k| k.created && k.public_key.starts_with('U')));
        let distinct: std::collections::BTreeSet<_> = first.keys.iter().map(|k| &k.public_key).collect();
        assert_eq!(distinct.len(), COMPONENTS.len());

        let again = ensure(dir.path(), false).unwrap();
        assert!(again.keys.iter().all(|k| !k.created));
        assert_eq!(
            again.keys.iter().map(|k| &k.public_key).collect::<Vec<_>>(),
            first.keys.iter().map(|k| &k.public_key).collect::<Vec<_>>()
        );

        let env = std::fs::read_to_string(dir.path().join(PUBLIC_KEYS_FILE)).unwrap();
        for k in &first.keys {
            assert!(env.contains(&format!("{}={}\n", env_var(k.component), k.public_key)), "{env}");
        }
        let seed = std::fs::read_to_string(first.seed_file("scorer")).unwrap();
        assert!(!env.contains(seed.trim()), "the public file holds no seed");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(first.seed_file("scorer")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let renewed = ensure(dir.path(), true).unwrap();
        assert!(renewed.keys.iter().all(|k| k.created));
        assert_ne!(renewed.keys[0].public_key, first.keys[0].public_key);
    }

    #[test]
    fn a_seed_file_holding_something_else_is_refused_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(seed_file(dir.path(), "ingest"), "password=hunter2").unwrap();
        let e = ensure(dir.path(), false).unwrap_err();
        assert!(matches!(e, KeysError::NotAUserSeed { .. }));
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(env_var("remediator"), "POSTERN_NKEY_REMEDIATOR");
    }
}
