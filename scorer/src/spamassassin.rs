//! SpamAssassin's published rules, read as data and run natively (as rspamd's
//! `spamassassin` module does): the Debian `spamassassin` package's
//! `/usr/share/spamassassin/*.cf` (Apache-2.0), or an `sa-update` folder.
//!
//! - [`cf`] reads the files (conditionals, templates, scores, descriptions, flags);
//! - [`perl_regex`] translates Perl patterns for `regex` or `fancy-regex`;
//! - [`views`] renders a message as the rules see it ([`html_render`] its HTML parts);
//! - [`evals`] holds the eval functions implemented natively;
//! - [`meta`] evaluates meta expressions;
//! - [`engine`] compiles the set and runs it over a message;
//! - [`prefilter`] puts Hyperscan in front of the patterns (`scorer rules compile`).
//!
//! Every rule the engine cannot run (network tests, pseudo-headers from SpamAssassin's relay
//! analysis, eval functions not implemented, patterns neither regex engine takes) is listed
//! by `scorer rules check`, never silently skipped.

pub mod cf;
pub mod dates;
pub mod engine;
pub mod evals;
pub mod html_render;
pub mod meta;
pub mod perl_regex;
pub mod prefilter;
pub mod relays;
pub mod views;

pub use engine::{RuleHit, RuleSet};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where Debian's `spamassassin` package puts the stock rules.
pub const DEFAULT_RULES_DIR: &str = "/usr/share/spamassassin";

/// Where `scorer rules compile` caches Hyperscan's databases by default.
pub const DEFAULT_HYPERSCAN_CACHE: &str = "/var/cache/postern/hyperscan";

#[derive(Debug, Error)]
pub enum RulesError {
    /// The folder is missing or unreadable: the scorer refuses to start (config error).
    #[error(
        "reading SpamAssassin rules from {dir}: {source} (install the Debian package spamassassin, or set rules_dir)"
    )]
    Read {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The folder holds no `.cf` file.
    #[error("{0}: no .cf rule files (install the Debian package spamassassin, or set rules_dir)")]
    Empty(PathBuf),
}

/// The files of a rule folder, sorted by name as SpamAssassin reads them.
pub fn rule_files(dir: &Path) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    let read_error = |source| RulesError::Read { dir: dir.to_path_buf(), source };
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_error)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "cf") && p.is_file())
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(RulesError::Empty(dir.to_path_buf()));
    }
    names
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).map_err(|source| RulesError::Read { dir: dir.to_path_buf(), source })?;
            Ok((p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), bytes))
        })
        .collect()
}

/// A loaded rule set with the digest of the files it came from.
#[derive(Debug)]
pub struct LoadedRules {
    pub rules: RuleSet,
    pub dir: PathBuf,
    pub files: usize,
    /// SHA-256 of the files' names and contents, in order (first 16 hex digits).
    pub digest: String,
}

/// Reads and compiles a rule folder.
pub fn load(dir: &Path) -> Result<LoadedRules, RulesError> {
    let files = rule_files(dir)?;
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    for (name, bytes) in &files {
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(bytes);
    }
    let digest: String = hasher.finish().as_ref().iter().take(8).map(|b| format!("{b:02x}")).collect();
    let parsed = cf::read_files(files.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
    Ok(LoadedRules { rules: RuleSet::compile(&parsed), dir: dir.to_path_buf(), files: files.len(), digest })
}

/// [`load`], then Hyperscan's databases from the cache folder when `scorer rules compile`
/// has made them for these rules (logged either way; a cache that cannot be read is logged
/// and left: the rules run with the literal prefilter alone).
pub fn load_prepared(dir: &Path, hyperscan_cache: &Path) -> Result<LoadedRules, RulesError> {
    let loaded = load(dir)?;
    match loaded.rules.prepare_prefilters(hyperscan_cache, false) {
        Ok(report) if loaded.rules.hyperscan_active() => tracing::info!(
            databases = report.databases,
            patterns = report.patterns,
            cache = %hyperscan_cache.display(),
            "Hyperscan databases loaded"
        ),
        Ok(report) => tracing::warn!(
            databases = report.databases,
            cached = report.loaded,
            cache = %hyperscan_cache.display(),
            "Hyperscan databases not compiled for these rules: run `scorer rules compile` once (the rules run meanwhile, slower)"
        ),
        Err(e) => tracing::warn!(error = %e, "Hyperscan databases not loaded (the rules run, slower)"),
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_a_clear_error() {
        let e = load(Path::new("/nonexistent/rules")).unwrap_err();
        assert!(e.to_string().contains("install the Debian package spamassassin"), "{e}");
        let empty = std::env::temp_dir().join(format!("postern-sa-empty-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(load(&empty), Err(RulesError::Empty(_))));
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
