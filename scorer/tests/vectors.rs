//! mail-auth's own DKIM test vectors (in the corpus, `vectors/stalwart-mail-auth/dkim`):
//! each file carries its DNS records, a blank line, then the message; the last signature
//! must verify. Offline: only the file's records answer.

use scorer::auth::{Authenticator, Outcome, TxtRecords};
use std::path::PathBuf;

fn vectors() -> Option<PathBuf> {
    let dir = testkit::corpus_dir()?.join("vectors/stalwart-mail-auth/dkim");
    dir.is_dir().then_some(dir)
}

#[tokio::test]
async fn mail_auth_dkim_vectors_pass() {
    let Some(dir) = vectors() else {
        eprintln!("SKIPPED: no corpus vectors (set POSTERN_CORPUS or put the corpus at ../shared/corpus)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
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
    let Some(dir) = vectors() else {
        eprintln!("SKIPPED: no corpus vectors");
        return;
    };
    let text = std::fs::read_to_string(dir.join("001.txt")).unwrap();
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
    let Some(dir) = testkit::corpus_dir().map(|d| d.join("vectors/stalwart-mail-auth/arc")).filter(|d| d.is_dir())
    else {
        eprintln!("SKIPPED: no corpus vectors (set POSTERN_CORPUS or put the corpus at ../shared/corpus)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
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
