//! Reading a component's TOML configuration file, the same way in every
//! service: the file's settings over the defaults, or every default when no file is given;
//! a file that cannot be read or parsed is an error naming it. Environment overrides and
//! checks stay with each component's own `Config`.

use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read config {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot parse config {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
}

/// The settings of `path`, or of an empty document (every default) without one.
pub fn read<T: DeserializeOwned>(path: Option<&Path>) -> Result<T, ConfigFileError> {
    let Some(path) = path else {
        return toml::from_str("").map_err(|source| ConfigFileError::Parse { path: PathBuf::new(), source });
    };
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read { path: path.to_owned(), source })?;
    toml::from_str(&text).map_err(|source| ConfigFileError::Parse { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Settings {
        #[serde(default = "ten")]
        batch: u32,
        name: Option<String>,
    }

    fn ten() -> u32 {
        10
    }

    #[test]
    fn defaults_without_a_file_the_file_over_them_and_errors_name_the_file() {
        assert_eq!(read::<Settings>(None).unwrap(), Settings { batch: 10, name: None });
        let dir = std::env::temp_dir().join(format!("postern-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(&good, "name = \"x\"\n").unwrap();
        assert_eq!(read::<Settings>(Some(&good)).unwrap(), Settings { batch: 10, name: Some("x".into()) });
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "batch = \"many\"\n").unwrap();
        let e = read::<Settings>(Some(&bad)).unwrap_err();
        assert!(matches!(&e, ConfigFileError::Parse { path, .. } if path == &bad), "{e:?}");
        let missing = dir.join("missing.toml");
        assert!(matches!(read::<Settings>(Some(&missing)), Err(ConfigFileError::Read { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
