//! Property-based fuzzing (proptest) of the two parts that read untrusted bytes: the SMTP
//! session (driven through a whole connection over an in-memory stream) and journal
//! unwrapping. No input may panic, hang or lose the protocol's footing.

use ingest::connection::{ConnectionContext, serve};
use ingest::error::PublishError;
use ingest::journal::unwrap;
use ingest::publisher::RawMailSink;
use ingest::smtp::session::SessionConfig;
use ingest::tenancy::Tenancy;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct CountingSink;

impl RawMailSink for CountingSink {
    async fn store(
        &self,
        _s: String,
        _id: String,
        payload: Vec<u8>,
        _o: Option<(String, Vec<u8>)>,
    ) -> Result<(), PublishError> {
        // Whatever was accepted must be a decodable event.
        proto::decode(&payload).map_err(|e| PublishError::Publish(e.to_string()))?;
        Ok(())
    }
}

fn context() -> Arc<ConnectionContext<CountingSink>> {
    Arc::new(ConnectionContext {
        session: Arc::new(SessionConfig {
            hostname: "fuzz.test".into(),
            max_message_size: 4096,
            max_recipients: 3,
            tenancy: Tenancy::new(BTreeMap::from([("journal@postern.localhost".into(), "default".into())]), &[])
                .unwrap(),
            starttls: false,
        }),
        sink: CountingSink,
        command_timeout: Duration::from_millis(200),
        data_timeout: Duration::from_millis(200),
        shutdown: CancellationToken::new(),
        tls: None,
        inline_limit: 1024,
        max_command_line: 512,
    })
}

/// Pieces an SMTP client (or an attacker) sends: real commands, broken ones, data.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"EHLO fuzz\r\n".to_vec()),
        Just(b"HELO fuzz\r\n".to_vec()),
        Just(b"MAIL FROM:<a@b.example>\r\n".to_vec()),
        Just(b"MAIL FROM:<a@b.example> SIZE=999999\r\n".to_vec()),
        Just(b"RCPT TO:<journal@postern.localhost>\r\n".to_vec()),
        Just(b"RCPT TO:<x@y>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b"BDAT 5\r\nhello".to_vec()),
        Just(b"BDAT 3 LAST\r\nabc".to_vec()),
        Just(b"BDAT 99999999999\r\n".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"NOOP\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b".\r\n".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"..\r\n".to_vec()),
        Just(b"\n.\n".to_vec()),
        Just(b"\x00\x00\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..300),
        "[ -~]{0,80}\r\n".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn any_client_input_ends_cleanly(fragments in proptest::collection::vec(fragment(), 0..40)) {
        let input: Vec<u8> = fragments.concat();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let (client, server) = tokio::io::duplex(1 << 20);
            let task = tokio::spawn(serve(server, "127.0.0.1:1".into(), context()));
            let (mut rd, mut wr) = tokio::io::split(client);
            let _ = wr.write_all(&input).await;
            let _ = wr.write_all(b"\r\nQUIT\r\n").await;
            // End of input: a session still waiting for data or a chunk sees the end of
            // the stream (the silent-client timeout is tested against the real server).
            let _ = wr.shutdown().await;
            let mut out = Vec::new();
            // Bounded: the server's own timeouts (200 ms) end any stalled session.
            let read = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut out)).await;
            prop_assert!(read.is_ok(), "the session hung");
            let ended = tokio::time::timeout(Duration::from_secs(10), task).await;
            prop_assert!(ended.is_ok(), "the connection task hung");
            prop_assert!(ended.unwrap().is_ok(), "the connection task panicked");
            // Every reply line starts with a three-digit code.
            let text = String::from_utf8_lossy(&out);
            for line in text.lines() {
                prop_assert!(line.len() >= 3 && line.as_bytes()[..3].iter().all(u8::is_ascii_digit), "bad reply line {line:?}");
            }
            prop_assert!(text.starts_with("220 "));
            Ok(())
        })?;
    }

    #[test]
    fn journal_unwrapping_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let u = unwrap(&bytes);
        prop_assert!(u.original.len() <= bytes.len() * 2 + 16);
    }

    #[test]
    fn mutated_journal_reports_never_panic(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
        let mut report = b"X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=\"r\"\r\n\r\n--r\r\n\
Content-Type: text/plain\r\n\r\nSender: a@b.example\r\nTo: c@d.example, Expanded: l@d.example\r\n--r\r\n\
Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBiLmV4YW1wbGUNCg0KaGkNCg==\r\n--r--\r\n".to_vec();
        for (index, byte) in flips {
            let i = index.index(report.len());
            report[i] = byte;
        }
        let u = unwrap(&report);
        if u.format == proto::JournalFormat::UnwrapFailed {
            prop_assert_eq!(u.original.as_ref(), report.as_slice());
        }
    }
}
