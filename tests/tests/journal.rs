//! Journal formats through the whole pipeline: Exchange reports in every transfer
//! encoding and split across several reports, Google copies, tenant patterns, refusals.

use anyhow::{Context, Result, ensure};
use std::time::Duration;
use testkit::jetstream::read_stream;
use testkit::journal::{ENCODINGS, exchange_report};
use testkit::pipeline::{JOURNAL, Pipeline};
use testkit::smtp::{Outgoing, message, send_with_smtplib, send_with_swaks};

fn to_journal(data: Vec<u8>) -> Outgoing {
    Outgoing::to_journal("postmaster@corp.example", data)
}

#[test]
fn reports_of_one_message_merge_with_the_union_of_recipients() -> Result<()> {
    let p = Pipeline::start()?;
    let original = message("split-1@example.com", "Alice <alice@example.com>", "team@corp.example", "Plans", "");
    // Bifurcation and list expansion: one message, four reports, each naming some recipients.
    let reports: Vec<Outgoing> = [
        ("7bit", vec!["To: bob@corp.example", "Cc: carol@corp.example"]),
        ("8bit", vec!["To: dave@corp.example, Expanded: team@corp.example"]),
        ("binary", vec!["Recipient: erin@corp.example, Forwarded: bob@corp.example"]),
        ("base64", vec!["Bcc: frank@corp.example", "To: bob@corp.example"]),
    ]
    .into_iter()
    .map(|(enc, lines)| to_journal(exchange_report(&original, enc, "alice@example.com", &lines)))
    .collect();
    for o in send_with_smtplib(p.smtp, &reports)? {
        ensure!(o.code == 250, "{o:?}");
    }
    p.wait_for_checkpoints(4, 4, Duration::from_secs(60))?;
    let traces = p.traces("split-1@example.com")?;
    ensure!(traces.len() == 1, "{} records", traces.len());
    let t = &traces[0];
    ensure!(t["copies"] == 4, "copies {}", t["copies"]);
    ensure!(
        t["recipients"]
            == serde_json::json!([
                "bob@corp.example",
                "carol@corp.example",
                "dave@corp.example",
                "erin@corp.example",
                "frank@corp.example"
            ]),
        "recipients {}",
        t["recipients"]
    );
    ensure!(t["envelope_sender"] == "alice@example.com", "sender {}", t["envelope_sender"]);
    ensure!(t["disposition"] == "NONE", "{t}");
    ensure!(t["subject"] == "Plans", "{t}");

    // Every raw event holds the original byte for byte, whatever the report's encoding.
    let raw = read_stream(&p.nats.url(), "MAIL_RAW")?;
    ensure!(raw.len() == 4);
    for m in &raw {
        ensure!(contains(&m.payload, &original), "seq {}: the original is not in the raw event as it was", m.seq);
    }
    Ok(())
}

#[test]
fn corpus_messages_wrapped_in_every_encoding_come_out_byte_for_byte() -> Result<()> {
    let Some(corpus) = testkit::corpus_dir() else {
        eprintln!("SKIPPED: no corpus (set POSTERN_CORPUS or put it at ../shared/corpus)");
        return Ok(());
    };
    let p = Pipeline::start()?;
    // The first messages of each label folder that have a Message-ID, wrapped four ways.
    let mut originals = Vec::new();
    for label in ["clean", "spam", "phish", "bulk", "encrypted", "malformed"] {
        let mut files: Vec<_> =
            std::fs::read_dir(corpus.join(label))?.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        files.sort();
        let picked = files
            .into_iter()
            .filter_map(|f| std::fs::read(&f).ok().map(|b| (f, b)))
            .filter(|(_, b)| message_id(b).is_some())
            .take(3);
        originals.extend(picked);
    }
    ensure!(originals.len() >= 12, "too few corpus messages with a Message-ID: {}", originals.len());
    let mut reports = Vec::new();
    for (_, bytes) in &originals {
        for enc in ENCODINGS {
            reports.push(to_journal(exchange_report(
                bytes,
                enc,
                "sender@example.com",
                &[&format!("To: user-{enc}@corp.example")],
            )));
        }
    }
    for (n, o) in send_with_smtplib(p.smtp, &reports)?.iter().enumerate() {
        ensure!(o.code == 250, "report {n}: {o:?}");
    }
    let n = reports.len() as u64;
    p.wait_for_checkpoints(n, n, Duration::from_secs(120))?;
    let raw = read_stream(&p.nats.url(), "MAIL_RAW")?;
    ensure!(raw.len() == reports.len(), "{} raw events for {} reports", raw.len(), reports.len());
    for (i, m) in raw.iter().enumerate() {
        let (path, bytes) = &originals[i / ENCODINGS.len()];
        let encoding = ENCODINGS[i % ENCODINGS.len()];
        // smtplib sends bytes as they are (bare LF included): the original must come out
        // of every report exactly as the corpus file has it.
        let expected = bytes;
        ensure!(contains(&m.payload, expected), "{} ({encoding}): not byte for byte", path.display());
    }
    for (path, bytes) in &originals {
        let id = message_id(bytes).context("message id")?;
        let traces = p.traces(&id)?;
        ensure!(traces.len() == 1, "{}: {} records", path.display(), traces.len());
        ensure!(traces[0]["copies"] == 4, "{}: {} copies", path.display(), traces[0]["copies"]);
        ensure!(traces[0]["recipients"].as_array().map(Vec::len) == Some(4), "{}", path.display());
    }
    Ok(())
}

#[test]
fn google_copies_patterns_and_refusals() -> Result<()> {
    let p = Pipeline::start_with("journal_patterns = [\"{tenant}@journal.example.com\"]\n")?;
    let google = b"X-Gm-Original-To: carol@corp.example\r\nX-Gm-Spam: 0\r\nX-Gm-Phishy: 0\r\n"
        .iter()
        .copied()
        .chain(message("gm-1@example.com", "a@example.com", "list@corp.example", "G", ""))
        .collect();
    let acme = message("acme-1@example.com", "a@example.com", "x@acme.example", "A", "");
    let outcomes = send_with_smtplib(
        p.smtp,
        &[
            Outgoing { mail_from: "a@example.com".into(), rcpt_to: vec![JOURNAL.into()], data: google },
            Outgoing {
                mail_from: "a@example.com".into(),
                rcpt_to: vec!["acme@journal.example.com".into()],
                data: acme,
            },
            Outgoing {
                mail_from: "a@example.com".into(),
                rcpt_to: vec!["nobody@elsewhere.example".into()],
                data: message("no-1@example.com", "a@example.com", "b@example.com", "N", ""),
            },
        ],
    )?;
    ensure!(outcomes[0].code == 250 && outcomes[1].code == 250, "{outcomes:?}");
    ensure!(outcomes[2].code == 550, "unknown journal address: {:?}", outcomes[2]);

    // swaks, pipelining everything in one go.
    let pipelined = message("pipelined-1@example.com", "a@example.com", "z@corp.example", "P", "");
    let swaks = send_with_swaks(p.smtp, &Outgoing::to_journal("a@example.com", pipelined), &["--pipeline"])?;
    ensure!(swaks.contains("250 2.0.0 OK: queued as"), "{swaks}");

    p.wait_for_checkpoints(3, 3, Duration::from_secs(60))?;
    let g = p.traces("gm-1@example.com")?;
    ensure!(g.len() == 1 && g[0]["recipients"] == serde_json::json!(["carol@corp.example"]), "{g:?}");
    ensure!(p.traces("pipelined-1@example.com")?.len() == 1);
    // The pattern's tenant: visible to tenant acme, not to default.
    ensure!(p.traces("acme-1@example.com")?.is_empty(), "acme's mail must not show in tenant default");
    let (status, body) =
        testkit::http::get_json(p.http, "/api/v1/messages?tenant=acme&message_id=acme-1%40example.com")?;
    ensure!(status == 200 && body["messages"].as_array().map(Vec::len) == Some(1), "{status} {body}");
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The Message-ID header's value, without brackets (first occurrence, unfolded).
fn message_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next().unwrap_or(&text);
    let head = head.split("\n\n").next().unwrap_or(head);
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ").replace("\n ", " ").replace("\n\t", " ");
    unfolded
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("message-id")
                .then(|| value.trim().trim_matches(['<', '>']).trim().to_owned())
        })
        .filter(|v| !v.is_empty() && !v.contains(' '))
}
