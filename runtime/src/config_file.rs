//! Reading a component's TOML configuration, the same way in every service: the file's
//! settings over the defaults (every default when no file is given), then the environment's
//! overrides, then the checks ([`Layered::load`]); a file that cannot be read or parsed is an
//! error naming it. Which overrides and which checks stay with each component's `Config`.

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

/// A component's configuration: its settings (serde, every one with a default or required
/// in the file), the environment variables that override them, and its checks.
pub trait Layered: DeserializeOwned {
    /// The component's configuration error (which takes a [`ConfigFileError`]).
    type Error: From<ConfigFileError>;

    /// Applies the environment's overrides, read through `var` (a test passes its own).
    fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), Self::Error>;

    /// Checks the settings (and may normalise them); the first problem is the error.
    fn validate(&mut self) -> Result<(), Self::Error>;

    /// The file's settings (or every default), the process environment's overrides, checked.
    fn load(path: Option<&Path>) -> Result<Self, Self::Error> {
        let mut config: Self = read(path)?;
        config.apply_env(&|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Every default, unchecked (what an empty file gives).
    ///
    /// # Panics
    /// When a setting has no default: a configuration type must give every setting one, or
    /// not offer this (its `Default`).
    fn defaults() -> Self {
        read(None).unwrap_or_else(|e| panic!("the defaults of a configuration: {e}"))
    }
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

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Component {
        #[serde(default = "ten")]
        batch: u32,
    }

    #[derive(Debug, thiserror::Error)]
    enum ComponentError {
        #[error(transparent)]
        File(#[from] ConfigFileError),
        #[error("batch must be at most 100")]
        TooLarge,
        #[error("POSTERN_TEST_BATCH is not a number")]
        NotANumber,
    }

    impl Layered for Component {
        type Error = ComponentError;
        fn apply_env(&mut self, var: &dyn Fn(&str) -> Option<String>) -> Result<(), ComponentError> {
            if let Some(v) = var("POSTERN_TEST_BATCH") {
                self.batch = v.parse().map_err(|_| ComponentError::NotANumber)?;
            }
            Ok(())
        }
        fn validate(&mut self) -> Result<(), ComponentError> {
            if self.batch > 100 { Err(ComponentError::TooLarge) } else { Ok(()) }
        }
    }

    #[test]
    fn load_takes_the_file_then_the_environment_then_checks() {
        assert_eq!(Component::defaults(), Component { batch: 10 });
        assert_eq!(Component::load(None).unwrap(), Component { batch: 10 });
        let dir = std::env::temp_dir().join(format!("postern-config-layered-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "batch = 500\n").unwrap();
        assert!(matches!(Component::load(Some(&file)), Err(ComponentError::TooLarge)));
        let mut c = Component::defaults();
        c.apply_env(&|k| (k == "POSTERN_TEST_BATCH").then(|| "20".to_owned())).unwrap();
        assert_eq!(c, Component { batch: 20 });
        assert!(matches!(c.apply_env(&|_| Some("x".to_owned())), Err(ComponentError::NotANumber)));
        std::fs::remove_dir_all(&dir).ok();
    }
}
