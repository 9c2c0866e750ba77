//! The scorer on arbitrary and mangled input: never a panic, always a verdict, within a
//! time bound per message.

use proptest::prelude::*;
use scorer::analysis::MessageFacts;
use scorer::score::{ANALYSIS_FAILED, score};
use std::time::{Duration, Instant};

/// A message with the structures the checks dig into: MIME parts, an attachment, HTML.
const SEED: &[u8] = b"From: \"ceo@bank.example\" <x@freemail.example>\r\nTo: b@corp.example\r\n\
Subject: =?utf-8?b?SW52b2ljZQ==?=\r\nList-Unsubscribe: <mailto:u@x.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<a href=\"http://192.0.2.1/x\">https://bank.example</a><form><input type=password></form>\r\n\
--b\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
UEsDBBQAAQAAAAAAAAAAAAAAAAAAAAAAAAAIAAAAYS5leGU=\r\n--b--\r\n";

const BOUND: Duration = Duration::from_secs(2);

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let facts = MessageFacts { envelope_sender: "a@b.example".into(), ..Default::default() };
    let started = Instant::now();
    let verdict = score(bytes, &facts);
    prop_assert!(started.elapsed() < BOUND, "took {:?}", started.elapsed());
    prop_assert!(!verdict.detections.iter().any(|d| d.name == ANALYSIS_FAILED), "{:?}", verdict.detections);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4000)) {
        check(&bytes)?;
    }

    #[test]
    fn mangled_messages(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24)) {
        let mut bytes = SEED.to_vec();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        check(&bytes)?;
    }

    #[test]
    fn truncated_messages(cut in 0..SEED.len()) {
        check(&SEED[..cut])?;
    }
}

#[test]
fn a_deeply_nested_message_is_scored_in_time() {
    let mut m = Vec::new();
    for i in 0..200 {
        m.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n").as_bytes());
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nx\r\n");
    check(&m).unwrap();
}
