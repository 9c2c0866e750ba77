//! mail-auth's own DKIM test vectors (in the corpus, `vectors/stalwart-mail-auth/dkim`):
//! each file carries its DNS records, a blank line, then the message; the last signature
//! must verify. Offline: only the file's records answer.

use scorer::auth::{Authenticator, Outcome, TxtRecords};
use std::path::PathBuf;

/// The files of `vectors/stalwart-mail-auth/<suite>`, sorted; None (said on stderr) when
/// this machine has no corpus.
fn vector_files(suite: &str) -> Option<Vec<PathBuf>> {
    let Some(dir) =
        testkit::corpus_dir().map(|d| d.join("vectors/stalwart-mail-auth").join(suite)).filter(|d| d.is_dir())
    else {
        eprintln!("SKIPPED: no corpus vectors (set POSTERN_CORPUS or put the corpus at ../shared/corpus)");
        return None;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    Some(files)
}

#[tokio::test]
async fn mail_auth_dkim_vectors_pass() {
    let Some(files) = vector_files("dkim") else { return };
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let (records, message) = text.split_once("\n\n").expect("records, blank line, message");
        let auth = Authenticator::offline(TxtRecords::parse(records).unwrap()).unwrap();
        let message = message.replace('\n', "\r\n");
        let checks = auth.dkim(message.as_bytes()).await;
        let last = checks.last().unwrap_or_else(|| panic!("{}: no DKIM result", file.display()));
        // mail-auth's tests verify at a fixed time (November 2022); a signature with an
        // `x=` expiry before today is, correctly, expired now rather than passing.
        let expiry =
            message.split("x=").nth(1).and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok());
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        match expiry {
            Some(x) if x < now => assert!(
                last.outcome == Outcome::Neutral && last.reason.as_deref() == Some("Signature expired"),
                "{}: {checks:?}",
                file.display()
            ),
            _ => assert_eq!(last.outcome, Outcome::Pass, "{}: {checks:?}", file.display()),
        }
    }
}

#[tokio::test]
async fn a_tampered_message_fails_and_missing_dns_is_a_temporary_error() {
    let Some(files) = vector_files("dkim") else { return };
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let (records, message) = text.split_once("\n\n").unwrap();
    let message = message.replace('\n', "\r\n");
    let tampered = message.replacen("Subject: ", "Subject: [changed] ", 1);
    let auth = Authenticator::offline(TxtRecords::parse(records).unwrap()).unwrap();
    let checks = auth.dkim(tampered.as_bytes()).await;
    assert!(checks.iter().all(|c| c.outcome == Outcome::Fail), "{checks:?}");
    let no_dns = Authenticator::offline(TxtRecords::default()).unwrap();
    let started = std::time::Instant::now();
    let checks = no_dns.dkim(message.as_bytes()).await;
    assert!(checks.iter().all(|c| c.outcome == Outcome::TempError), "{checks:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "offline lookups must fail fast");
}

/// mail-auth's ARC vectors: each chain validates offline from the file's own records, and
/// a message changed after sealing does not.
#[tokio::test]
async fn mail_auth_arc_vectors_pass() {
    let Some(files) = vector_files("arc") else { return };
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let (records, message) = text.split_once("\n\n").expect("records, blank line, message");
        let auth = Authenticator::offline(TxtRecords::parse(records).unwrap()).unwrap();
        let message = message.replace('\n', "\r\n");
        let results = auth.authenticate(message.as_bytes(), &Default::default()).await;
        let arc = results.arc.unwrap_or_else(|| panic!("{}: no ARC result", file.display()));
        assert_eq!(arc.outcome, Outcome::Pass, "{}: {arc:?}", file.display());
        assert!(arc.instances >= 1);
        // Changed after sealing: the chain no longer validates.
        let tampered = message.replacen("\r\n\r\n", "\r\n\r\nAppended by an attacker.\r\n", 1);
        let results = auth.authenticate(tampered.as_bytes(), &Default::default()).await;
        let arc = results.arc.unwrap();
        assert_ne!(arc.outcome, Outcome::Pass, "{}: tampered chain passed", file.display());
    }
}

/// A DNS zone from a test file, authoritative: names it does not hold do not exist.
struct Zone<K, V>(std::sync::Mutex<std::collections::HashMap<K, V>>);

impl<K, V> Default for Zone<K, V> {
    fn default() -> Self {
        Zone(Default::default())
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> mail_auth::ResolverCache<K, V> for Zone<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: K, value: V, _valid_until: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// A name server on loopback that knows no name: every query is answered NXDOMAIN, as an
/// authoritative server would answer for names outside a test's zone data, except names
/// under a `_dns_error` label, which fail (SERVFAIL), as the suites' convention for a DNS
/// failure has it. Returns its port.
fn nxdomain_server() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((len, peer)) = socket.recv_from(&mut buf) {
            let query = &buf[..len];
            if len < 12 {
                continue;
            }
            // The question: labels up to the root, then type and class.
            let mut at = 12;
            let mut name = String::new();
            while at < len && query[at] != 0 {
                let label = query.get(at + 1..at + 1 + usize::from(query[at])).unwrap_or(&[]);
                name.push_str(&String::from_utf8_lossy(label));
                name.push('.');
                at += 1 + usize::from(query[at]);
            }
            let end = at + 5;
            if end > len {
                continue;
            }
            let mut reply = query[..end].to_vec();
            reply[2] = 0x80 | (query[2] & 0x79) | 0x04; // response, opcode and RD kept, authoritative
            let rcode = if name.contains("_dns_error.") { 0x02 } else { 0x03 }; // SERVFAIL, NXDOMAIN
            reply[3] = 0x80 | rcode; // recursion available
            reply[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
            let _ = socket.send_to(&reply, peer);
        }
    });
    port
}

fn record_set<T>(items: Vec<T>) -> mail_auth::RecordSet<T> {
    mail_auth::RecordSet { rrset: items.into(), dnssec_status: Default::default() }
}

/// mail-auth's SPF suites (`vectors/stalwart-mail-auth/spf/*.yml`: zone data, then
/// HELO, sender, client address and the expected result), verified offline: the zone data
/// answers from the caches, and a name server on loopback answers NXDOMAIN for every other
/// name (mail-auth's own run of these suites lets such names go to the Internet).
#[tokio::test]
async fn mail_auth_spf_vectors_pass() {
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::spf::{Macro, Spf};
    use mail_auth::{MX, MessageAuthenticator, Parameters, SpfResult, Txt, spf::verify::SpfParameters};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let Some(files) = vector_files("spf") else { return };
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig};
    let mut server = NameServerConfig::udp(IpAddr::from([127, 0, 0, 1]));
    server.connections[0].port = nxdomain_server();
    let resolver =
        MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![server]), Default::default()).unwrap();
    let (mut checked, mut failures) = (0, Vec::new());
    for file in files {
        let suite = std::fs::read_to_string(&file).unwrap();
        for test in suite.split("---\n") {
            let txt: Zone<Box<str>, Txt> = Zone::default();
            let a: Zone<Box<str>, mail_auth::RecordSet<Ipv4Addr>> = Zone::default();
            let aaaa: Zone<Box<str>, mail_auth::RecordSet<Ipv6Addr>> = Zone::default();
            let mx: Zone<Box<str>, mail_auth::RecordSet<MX>> = Zone::default();
            let ptr: Zone<IpAddr, mail_auth::RecordSet<Box<str>>> = Zone::default();
            let fqdn = |n: &str| format!("{}.", n.trim().trim_end_matches('.')).into_boxed_str();
            let now = std::time::Instant::now();
            let (mut name, mut helo, mut sender, mut ip) = ("", "", "", "127.0.0.1".parse::<IpAddr>().unwrap());
            for line in test.lines() {
                let line = line.trim();
                let line = line.strip_prefix('-').map(str::trim).unwrap_or(line);
                let record = |prefix: &str| line.strip_prefix(prefix).and_then(|r| r.trim().split_once(' '));
                use mail_auth::ResolverCache;
                if let Some(n) = line.strip_prefix("name:") {
                    name = n.trim();
                } else if let Some((n, r)) = record("spf:") {
                    txt.insert(fqdn(n), Spf::parse(r.as_bytes()).into(), now);
                } else if let Some((n, r)) = record("exp:") {
                    txt.insert(fqdn(n), Macro::parse(r.as_bytes()).into(), now);
                } else if let Some((n, r)) = record("a:") {
                    a.insert(fqdn(n), record_set(r.split(',').map(|i| i.trim().parse().unwrap()).collect()), now);
                } else if let Some((n, r)) = record("aaaa:") {
                    aaaa.insert(fqdn(n), record_set(r.split(',').map(|i| i.trim().parse().unwrap()).collect()), now);
                } else if let Some((n, r)) = record("ptr:") {
                    ptr.insert(
                        n.trim().parse().unwrap(),
                        record_set(r.split(',').map(|i| Box::from(i.trim())).collect()),
                        now,
                    );
                } else if let Some((n, r)) = record("mx:") {
                    let mut exchanges = Vec::new();
                    for (pos, item) in r.split(',').enumerate() {
                        let address: IpAddr = item.trim().parse().unwrap();
                        let host = format!("mx.{address}.{pos}");
                        match address {
                            IpAddr::V4(v4) => a.insert(fqdn(&host), record_set(vec![v4]), now),
                            IpAddr::V6(v6) => aaaa.insert(fqdn(&host), record_set(vec![v6]), now),
                        }
                        exchanges.push(MX { exchanges: Box::new([host.into_boxed_str()]), preference: pos as u16 + 1 });
                    }
                    mx.insert(fqdn(n), record_set(exchanges), now);
                } else if let Some(v) = line.strip_prefix("domain:") {
                    helo = v.trim();
                } else if let Some(v) = line.strip_prefix("sender:") {
                    sender = v.trim();
                } else if let Some(v) = line.strip_prefix("ip:") {
                    ip = v.trim().parse().unwrap();
                } else if let Some(v) = line.strip_prefix("expect:") {
                    let (result, explanation) = v.trim().split_once(' ').unwrap_or((v.trim(), ""));
                    let expected = SpfResult::try_from(result.trim()).unwrap();
                    let params = Parameters::new(SpfParameters::verify(ip, helo, "localdomain.org", sender))
                        .with_txt_cache(&txt)
                        .with_ipv4_cache(&a)
                        .with_ipv6_cache(&aaaa)
                        .with_mx_cache(&mx)
                        .with_ptr_cache(&ptr);
                    let output = resolver.verify_spf(params).await;
                    checked += 1;
                    let explanation = explanation.trim();
                    if output.result() != expected
                        || (!explanation.is_empty() && output.explanation() != Some(explanation))
                    {
                        failures.push(format!(
                            "{} {name:?}: {ip} helo {helo} from {sender}: {:?} (expected {expected:?} {explanation:?})",
                            file.file_name().unwrap().to_string_lossy(),
                            output.result()
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{checked} SPF checks");
    assert!(checked > 150, "{checked} checks");
    assert!(failures.is_empty(), "{} of {checked} differ:\n{}", failures.len(), failures.join("\n"));
}
