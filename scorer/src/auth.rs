//! Message authentication with mail-auth: DKIM signatures, SPF for the first hop outside
//! the tenant's own servers, and DMARC on top of both.
//!
//! In production the resolver is the system's (hickory, with its own cache and bounded
//! timeouts). Offline (tests, `scorer eval`) it has no name server at all: every lookup
//! that a DNS fixture does not answer fails at once as a temporary error, never a hang.
//! A DNS fixture is a text file of `name value` lines (the layout of mail-auth's own test
//! vectors), e.g. `sel._domainkey.example.com v=DKIM1; k=rsa; p=...`.

use crate::error::{DataFileError, ResolverError};
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::spf::Spf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, Parameters, ResolverCache, SpfOutput,
    SpfResult, Txt,
};
pub use proto::net::Network;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
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

/// An SPF or DMARC outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Result3 {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    TempError,
    PermError,
    /// No record, or nothing to check.
    None,
}

/// What DMARC asks of a failing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfCheck {
    pub ip: IpAddr,
    pub domain: String,
    pub outcome: Result3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcCheck {
    /// The RFC 5322 From domain.
    pub domain: String,
    pub outcome: Result3,
    pub policy: DmarcPolicy,
}

/// Everything authentication found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthResults {
    pub dkim: Vec<DkimCheck>,
    pub spf: Option<SpfCheck>,
    pub dmarc: Option<DmarcCheck>,
    /// The ARC chain (RFC 8617), when the message carries one.
    pub arc: Option<ArcCheck>,
}

impl AuthResults {
    /// Whether DMARC passed, or a DKIM signature verified for a domain aligned with
    /// `from_domain` (the From's organization vouches for it). SPF is not among them: it
    /// speaks for the envelope, not for From.
    pub fn vouches_for(&self, from_domain: &str) -> bool {
        self.dmarc.as_ref().is_some_and(|d| d.outcome == Result3::Pass)
            || self
                .dkim
                .iter()
                .any(|d| d.outcome == Outcome::Pass && crate::analysis::domain::aligned(&d.domain, from_domain))
    }
}

/// The ARC chain's validation: every seal and the newest message signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcCheck {
    pub outcome: Outcome,
    /// How many forwarders sealed the message.
    pub instances: usize,
    pub reason: Option<String>,
}

/// The delivery facts authentication needs besides the message.
#[derive(Debug, Clone, Default)]
pub struct Delivery<'a> {
    /// The original's envelope sender (empty: null sender or unknown).
    pub mail_from: &'a str,
    /// Servers of the tenant's own (and trusted relays): their hops are skipped when
    /// looking for the first external one in the Received chain.
    pub trusted: &'a [Network],
}

/// The first hop outside the tenant's servers: walking the Received headers from the
/// newest, the first `from` clause whose address is public and not trusted. Returns the
/// address and the name the client gave (HELO).
pub fn first_external_hop(raw: &[u8], trusted: &[Network]) -> Option<(IpAddr, String)> {
    let message = mail_parser::MessageParser::new().parse_headers(raw)?;
    for header in message.headers().iter().filter(|h| h.name().eq_ignore_ascii_case("Received")) {
        let text = crate::raw_header::raw_value(raw, header)?;
        let text = String::from_utf8_lossy(text).replace(['\r', '\n', '\t'], " ");
        let from = text.trim_start().strip_prefix("from ")?;
        let from = from.split(" by ").next().unwrap_or(from);
        let helo = from.split_whitespace().next().unwrap_or("").to_owned();
        let ip = from
            .split(['[', ']', '(', ')', ' '])
            .filter_map(|t| t.trim_start_matches("IPv6:").parse::<IpAddr>().ok())
            .next();
        let Some(ip) = ip else { continue };
        if is_internal(ip) || proto::net::any_contains(trusted, ip) {
            continue;
        }
        return Some((ip, helo));
    }
    None
}

/// Not on the public internet: RFC 1918, loopback, link local, unspecified, IPv6 unique
/// local (SpamAssassin's relay analysis adds a few ranges: [`crate::spamassassin::relays::is_private`]).
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn spf3(r: SpfResult) -> Result3 {
    match r {
        SpfResult::Pass => Result3::Pass,
        SpfResult::Fail => Result3::Fail,
        SpfResult::SoftFail => Result3::SoftFail,
        SpfResult::Neutral => Result3::Neutral,
        SpfResult::TempError => Result3::TempError,
        SpfResult::PermError => Result3::PermError,
        SpfResult::None => Result3::None,
    }
}

fn dmarc3(r: &DmarcResult) -> Result3 {
    match r {
        DmarcResult::Pass => Result3::Pass,
        DmarcResult::Fail(_) => Result3::Fail,
        DmarcResult::TempError(_) => Result3::TempError,
        DmarcResult::PermError(_) => Result3::PermError,
        DmarcResult::None => Result3::None,
    }
}

/// TXT records: from a fixture, and the answers of live lookups, kept until their TTL runs
/// out (at most [`TxtRecords::MAX_CACHED`] of them). A fixture read with
/// [`TxtRecords::parse`] is authoritative: a name it does not hold does not exist
/// (NXDOMAIN), as DMARC's tree walk up to the top-level domain needs. Empty records
/// (`default`) answer nothing, and lookups go to the resolver.
/// A record and, for a live answer, when it expires.
type CachedTxt = (Txt, Option<std::time::Instant>);

#[derive(Default)]
pub struct TxtRecords {
    /// name -> record and, for a live answer, when it expires (fixture records never do).
    records: Mutex<HashMap<Box<str>, CachedTxt>>,
    authoritative: bool,
}

impl TxtRecords {
    /// Reads `name value` lines; blank lines and `#` comments are skipped. DKIM keys
    /// (`._domainkey.` names), DMARC (`_dmarc.` names) and SPF (`v=spf1` values) records are
    /// understood; other lines are passed over.
    pub fn parse(text: &str) -> Result<Self, DataFileError> {
        let records = TxtRecords { authoritative: true, ..Default::default() };
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(' ').ok_or_else(|| DataFileError::Line {
                path: String::new(),
                line: n + 1,
                reason: "expected `name value`".to_owned(),
            })?;
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            let value = value.trim().as_bytes();
            let bad = |e: mail_auth::Error| DataFileError::Line {
                path: String::new(),
                line: n + 1,
                reason: format!("{name}: {e}"),
            };
            let txt = if name.contains("._domainkey.") {
                Txt::from(DomainKey::parse(value).map_err(bad)?)
            } else if name.starts_with("_dmarc.") {
                Txt::from(Dmarc::parse(value).map_err(bad)?)
            } else if value.starts_with(b"v=spf1") {
                Txt::from(Spf::parse(value).map_err(bad)?)
            } else {
                continue;
            };
            records.put(&name, txt);
        }
        Ok(records)
    }

    pub fn load(path: &Path) -> Result<Self, DataFileError> {
        DataFileError::load(path, Self::parse)
    }

    /// Live answers cached at most (a bound on memory; beyond it, answers are not kept).
    pub const MAX_CACHED: usize = 100_000;

    fn put(&self, name: &str, txt: Txt) {
        let mut map = self.records.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(format!("{name}.").into_boxed_str(), (txt, None));
    }

    pub fn len(&self) -> usize {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ResolverCache<Box<str>, Txt> for TxtRecords {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let found = match map.get(name) {
            Some((_, Some(until))) if *until <= std::time::Instant::now() => {
                map.remove(name);
                None
            }
            Some((txt, _)) => Some(txt.clone()),
            None => None,
        };
        drop(map);
        found.or_else(|| {
            self.authoritative.then(|| {
                Txt::Error(mail_auth::Error::Dns(mail_auth::DnsError::RecordNotFound(
                    mail_auth::hickory_resolver::proto::op::ResponseCode::NXDomain,
                )))
            })
        })
    }

    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.records.lock().unwrap_or_else(|p| p.into_inner()).remove(name).map(|(txt, _)| txt)
    }

    fn insert(&self, key: Box<str>, value: Txt, valid_until: std::time::Instant) {
        let mut map = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= Self::MAX_CACHED {
            let now = std::time::Instant::now();
            map.retain(|_, (_, until)| until.is_none_or(|u| u > now));
            if map.len() >= Self::MAX_CACHED {
                return;
            }
        }
        // A fixture's record is never replaced by a live answer.
        if map.get(&key).is_some_and(|(_, until)| until.is_none()) {
            return;
        }
        map.insert(key, (value, Some(valid_until)));
    }
}

pub struct Authenticator {
    resolver: MessageAuthenticator,
    records: Arc<TxtRecords>,
}

impl Authenticator {
    /// No network: only `records` answer; every other lookup is a temporary error.
    pub fn offline(records: TxtRecords) -> Result<Self, ResolverError> {
        let resolver =
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![]), ResolverOpts::default())
                .map_err(|e| ResolverError(Box::new(e)))?;
        Ok(Authenticator { resolver, records: Arc::new(records) })
    }

    /// The system's resolver (/etc/resolv.conf) with short timeouts.
    pub fn system() -> Result<Self, ResolverError> {
        let (config, mut options) =
            mail_auth::hickory_resolver::system_conf::read_system_conf().map_err(|e| ResolverError(Box::new(e)))?;
        options.timeout = Duration::from_secs(2);
        options.attempts = 2;
        let resolver = MessageAuthenticator::new(config, options).map_err(|e| ResolverError(Box::new(e)))?;
        Ok(Authenticator { resolver, records: Arc::new(TxtRecords::default()) })
    }

    /// Verifies every DKIM signature of the message. Bytes that are not a message give
    /// no checks.
    pub async fn dkim(&self, raw: &[u8]) -> Vec<DkimCheck> {
        self.authenticate(raw, &Delivery::default()).await.dkim
    }

    /// DKIM, SPF for the first external hop (when the Received chain names one and there
    /// is an envelope sender), and DMARC for the From domain.
    pub async fn authenticate(&self, raw: &[u8], delivery: &Delivery<'_>) -> AuthResults {
        let Some(message) = AuthenticatedMessage::parse(raw) else { return AuthResults::default() };
        let cache = self.records.as_ref();
        let outputs = self.resolver.verify_dkim(Parameters::new(&message).with_txt_cache(cache)).await;
        let dkim = Self::dkim_checks(&outputs);
        let arc = if message.ams_headers.is_empty() && message.as_headers.is_empty() {
            None
        } else {
            let output = self.resolver.verify_arc(Parameters::new(&message).with_txt_cache(cache)).await;
            let instances = message.as_headers.len().max(message.ams_headers.len());
            let (outcome, reason) = outcome_of(output.result());
            Some(ArcCheck { outcome, instances, reason })
        };
        let mail_from = delivery.mail_from.trim();
        let mail_from_domain = mail_from.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let hop = first_external_hop(raw, delivery.trusted);
        let spf_output = match (&hop, mail_from_domain.is_empty()) {
            (Some((ip, helo)), false) => {
                let params = SpfParameters::verify_mail_from(*ip, helo, "postern.localhost", mail_from);
                Some(self.resolver.verify_spf(Parameters::new(params).with_txt_cache(cache)).await)
            }
            _ => None,
        };
        let spf = match (&hop, &spf_output) {
            (Some((ip, _)), Some(out)) => {
                Some(SpfCheck { ip: *ip, domain: mail_from_domain.clone(), outcome: spf3(out.result()) })
            }
            _ => None,
        };
        let no_spf = SpfOutput::new(mail_from_domain.clone()).with_result(SpfResult::None);
        let dmarc_output = self
            .resolver
            .verify_dmarc(
                Parameters::new(DmarcParameters {
                    message: &message,
                    dkim_output: &outputs,
                    dkim2_output: None,
                    rfc5321_mail_from_domain: &mail_from_domain,
                    spf_output: spf_output.as_ref().unwrap_or(&no_spf),
                })
                .with_txt_cache(cache),
            )
            .await;
        let (spf_r, dkim_r) = (dmarc3(dmarc_output.spf_result()), dmarc3(dmarc_output.dkim_result()));
        // With a record, DMARC passes when SPF or DKIM passes aligned; a DNS failure leaves
        // it undecided; anything else fails. Without a record there is no DMARC result.
        let outcome = if spf_r == Result3::Pass || dkim_r == Result3::Pass {
            Result3::Pass
        } else if spf_r == Result3::TempError || dkim_r == Result3::TempError {
            Result3::TempError
        } else if dmarc_output.dmarc_record().is_none() {
            Result3::None
        } else if spf_r == Result3::PermError || dkim_r == Result3::PermError {
            Result3::PermError
        } else {
            Result3::Fail
        };
        let dmarc = (!dmarc_output.domain().is_empty()).then(|| DmarcCheck {
            domain: dmarc_output.domain().to_ascii_lowercase(),
            outcome,
            policy: match dmarc_output.policy() {
                mail_auth::dmarc::Policy::Reject => DmarcPolicy::Reject,
                mail_auth::dmarc::Policy::Quarantine => DmarcPolicy::Quarantine,
                _ => DmarcPolicy::None,
            },
        });
        AuthResults { dkim, spf, dmarc, arc }
    }

    fn dkim_checks(outputs: &[mail_auth::DkimOutput<'_>]) -> Vec<DkimCheck> {
        outputs
            .iter()
            .filter_map(|o| {
                let domain = o.signature()?.d.to_ascii_lowercase();
                if *o.result() == DkimResult::None {
                    return None;
                }
                let (outcome, reason) = outcome_of(o.result());
                Some(DkimCheck { domain, outcome, reason })
            })
            .collect()
    }
}

fn outcome_of(result: &DkimResult) -> (Outcome, Option<String>) {
    match result {
        DkimResult::Pass => (Outcome::Pass, None),
        DkimResult::Fail(e) => (Outcome::Fail, Some(e.to_string())),
        DkimResult::TempError(e) => (Outcome::TempError, Some(e.to_string())),
        DkimResult::PermError(e) => (Outcome::PermError, Some(e.to_string())),
        DkimResult::Neutral(e) => (Outcome::Neutral, Some(e.to_string())),
        DkimResult::None => (Outcome::Neutral, Some("no signature".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_answers_expire_and_fixtures_stay() {
        let records = TxtRecords::parse("example.org v=spf1 -all\n").unwrap();
        let now = std::time::Instant::now();
        let spf = || Txt::from(Spf::parse(b"v=spf1 +all").unwrap());
        records.insert("fresh.example.".into(), spf(), now + std::time::Duration::from_secs(60));
        records.insert("stale.example.".into(), spf(), now);
        records.insert("example.org.".into(), spf(), now + std::time::Duration::from_secs(60));
        assert!(matches!(ResolverCache::get(&records, "fresh.example."), Some(Txt::Spf(_))));
        // Expired: gone, and (the records being authoritative) the name does not exist.
        assert!(matches!(ResolverCache::get(&records, "stale.example."), Some(Txt::Error(_))));
        assert_eq!(records.len(), 2);
        // The fixture's own record was not replaced by the live answer.
        let Some(Txt::Spf(fixture)) = ResolverCache::get(&records, "example.org.") else { panic!() };
        assert_eq!(*fixture, Spf::parse(b"v=spf1 -all").unwrap());
    }

    const RECORDS: &str = "example.org v=spf1 ip4:192.0.2.0/24 -all\n_dmarc.example.org v=DMARC1; p=quarantine\n";

    fn message(received_ip: &str) -> Vec<u8> {
        format!(
            "Received: from relay.corp.test (relay.corp.test [10.1.2.3]) by mx.corp.test; Sun, 22 Nov 2026 10:00:00 +0000\r\n\
Received: from out.example.org (out.example.org [{received_ip}]) by relay.corp.test; Sun, 22 Nov 2026 09:59:59 +0000\r\n\
From: Alice <alice@example.org>\r\nTo: bob@corp.test\r\nSubject: hi\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn the_first_external_hop_skips_internal_and_trusted_servers() {
        let m = message("192.0.2.7");
        assert_eq!(first_external_hop(&m, &[]), Some(("192.0.2.7".parse().unwrap(), "out.example.org".into())));
        let trusted: Vec<Network> = vec!["192.0.2.0/24".parse().unwrap()];
        assert_eq!(first_external_hop(&m, &trusted), None);
        assert_eq!(first_external_hop(b"From: a@b\r\n\r\nx", &[]), None);
        assert!("10.0.0.0/33".parse::<Network>().is_err());
    }

    #[tokio::test]
    async fn spf_and_dmarc_from_a_fixture() {
        let auth = Authenticator::offline(TxtRecords::parse(RECORDS).unwrap()).unwrap();
        let delivery = Delivery { mail_from: "alice@example.org", trusted: &[] };
        // From the domain's own servers: SPF passes, aligned: DMARC passes.
        let ok = auth.authenticate(&message("192.0.2.7"), &delivery).await;
        assert_eq!(ok.spf.as_ref().map(|s| s.outcome), Some(Result3::Pass), "{ok:?}");
        assert_eq!(ok.dmarc.as_ref().map(|d| d.outcome), Some(Result3::Pass), "{ok:?}");
        // From elsewhere, unsigned: SPF fails, DMARC fails with the quarantine policy.
        let forged = auth.authenticate(&message("203.0.113.9"), &delivery).await;
        assert_eq!(forged.spf.as_ref().map(|s| s.outcome), Some(Result3::Fail), "{forged:?}");
        let dmarc = forged.dmarc.expect("a DMARC result");
        assert_eq!((dmarc.outcome, dmarc.policy), (Result3::Fail, DmarcPolicy::Quarantine));
        // No DNS at all: temporary errors, never a hang or a failure verdict.
        let blind = Authenticator::offline(TxtRecords::default()).unwrap();
        let started = std::time::Instant::now();
        let r = blind.authenticate(&message("203.0.113.9"), &delivery).await;
        assert_ne!(r.dmarc.as_ref().map(|d| d.outcome), Some(Result3::Fail), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
