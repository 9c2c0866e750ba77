//! Message authentication with mail-auth: DKIM signatures verified against DNS.
//!
//! In production the resolver is the system's (hickory, with its own cache and bounded
//! timeouts). Offline (tests, `scorer eval`) it has no name server at all: every lookup
//! that a DNS fixture does not answer fails at once as a temporary error, never a hang.
//! A DNS fixture is a text file of `name value` lines (the layout of mail-auth's own test
//! vectors), e.g. `sel._domainkey.example.com v=DKIM1; k=rsa; p=...`.

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The outcome of one DKIM signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// The signature does not verify (body or headers changed, wrong key).
    Fail,
    /// DNS could not be asked (no answer, timeout): nothing is known.
    TempError,
    /// The signature or the key record is broken.
    PermError,
    Neutral,
}

/// One DKIM signature's verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimCheck {
    /// The signing domain (`d=`), lower-case.
    pub domain: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

/// TXT records: from a fixture, and whatever live lookups put in (mail-auth caches them).
#[derive(Default)]
pub struct TxtRecords(Mutex<HashMap<Box<str>, Txt>>);

impl TxtRecords {
    /// Reads `name value` lines; blank lines and `#` comments are skipped. DKIM key records
    /// (`._domainkey.` names) are parsed as such.
    pub fn parse(text: &str) -> Result<Self, String> {
        let records = TxtRecords::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(' ').ok_or_else(|| format!("line {}: expected `name value`", n + 1))?;
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            if name.contains("._domainkey.") {
                let key =
                    DomainKey::parse(value.trim().as_bytes()).map_err(|e| format!("line {}: {name}: {e}", n + 1))?;
                records.put(&name, Txt::from(key));
            }
        }
        Ok(records)
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn put(&self, name: &str, txt: Txt) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(format!("{name}.").into_boxed_str(), txt);
    }
}

impl ResolverCache<Box<str>, Txt> for TxtRecords {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(name)
    }

    fn insert(&self, key: Box<str>, value: Txt, _valid_until: std::time::Instant) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, value);
    }
}

pub struct Authenticator {
    resolver: MessageAuthenticator,
    records: Arc<TxtRecords>,
}

impl Authenticator {
    /// No network: only `records` answer; every other lookup is a temporary error.
    pub fn offline(records: TxtRecords) -> Result<Self, String> {
        let resolver =
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![]), ResolverOpts::default())
                .map_err(|e| e.to_string())?;
        Ok(Authenticator { resolver, records: Arc::new(records) })
    }

    /// The system's resolver (/etc/resolv.conf) with short timeouts.
    pub fn system() -> Result<Self, String> {
        let (config, mut options) =
            mail_auth::hickory_resolver::system_conf::read_system_conf().map_err(|e| e.to_string())?;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        let resolver = MessageAuthenticator::new(config, options).map_err(|e| e.to_string())?;
        Ok(Authenticator { resolver, records: Arc::new(TxtRecords::default()) })
    }

    /// Verifies every DKIM signature of the message. Bytes that are not a message give
    /// no checks.
    pub async fn dkim(&self, raw: &[u8]) -> Vec<DkimCheck> {
        let Some(message) = AuthenticatedMessage::parse(raw) else { return Vec::new() };
        let outputs = self.resolver.verify_dkim(Parameters::new(&message).with_txt_cache(self.records.as_ref())).await;
        outputs
            .iter()
            .filter_map(|o| {
                let domain = o.signature()?.d.to_ascii_lowercase();
                let (outcome, reason) = match o.result() {
                    DkimResult::Pass => (Outcome::Pass, None),
                    DkimResult::Fail(e) => (Outcome::Fail, Some(e.to_string())),
                    DkimResult::TempError(e) => (Outcome::TempError, Some(e.to_string())),
                    DkimResult::PermError(e) => (Outcome::PermError, Some(e.to_string())),
                    DkimResult::Neutral(e) => (Outcome::Neutral, Some(e.to_string())),
                    DkimResult::None => return None,
                };
                Some(DkimCheck { domain, outcome, reason })
            })
            .collect()
    }
}
